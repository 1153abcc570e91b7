"""The simulated pump's saved state: everything needed to resume it later, as JSON.

A served pump saves after every write and on close, and resumes where it was: a real pump
keeps pumping while the console is away, so simulated time resumes at the later of the
saved time and now. Fractions are written as "numerator/denominator" so nothing is rounded.
Separate because the file format is versioned (:data:`STATE_VERSION`) and must keep
reading older files whatever the rest of the pump becomes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

from drivers.simulator.battery import BatteryModel
from drivers.simulator.clock import Clock, PumpClock, Timeline, system_clock
from drivers.simulator.program_arithmetic import default_checksum
from drivers.simulator.pump_state import ActiveAlarm, GivenBolus, PumpState, StagedProgram
from itbconsole.model import Program, PumpEvent

#: 2: adds ``pending_mcg`` (dose accrued in the tick in progress). Version 1 still loads.
STATE_VERSION = 2
_READABLE_STATE_VERSIONS = (1, 2)


class SavedState(PumpState):
    """Writes the pump's state to a dict or file and builds a pump from one."""

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume this pump later, JSON-safe."""
        with self._lock:
            self._sync()

            def frac(x: Fraction) -> str:
                return f"{x.numerator}/{x.denominator}"

            return {
                "version": STATE_VERSION,
                "model": self.model,
                "reservoir_capacity_ul": self.reservoir_capacity_ul,
                "serial": self.serial,
                "firmware": self.firmware,
                "drug": self.drug,
                "concentration_mcg_ml": self.concentration_mcg_ml,
                "alarm_volume_ul": self.alarm_volume_ul,
                "battery": {
                    "eri_threshold_mv": self.battery.eri_threshold_mv,
                    "mv_per_day": frac(self.battery.mv_per_day),
                    "mv_per_ml": frac(self.battery.mv_per_ml),
                },
                "pump_dead_volume_ul": self.pump_dead_volume_ul,
                "catheter_length_cm": str(self.catheter_length_cm),
                "catheter_ul_per_cm": str(self.catheter_ul_per_cm),
                "clock_zone": self.zone.key,
                "delivery_error": frac(self.delivery_error),
                "alarm_date_early_days": self.alarm_date_early_days,
                "speed": frac(self._timeline.speed),
                "now": self._now.isoformat(),
                "drift_ppm": frac(self._pump_clock.drift_ppm),
                "clock_base_true": self._pump_clock.base_true.isoformat(),
                "clock_base_pump": self._pump_clock.base_pump.isoformat(),
                "estimate_ul": frac(self._estimate),
                "actual_ul": frac(self._actual),
                "battery_mv": frac(self._battery_mv),
                "eri_at": None if self._eri_at is None else self._eri_at.isoformat(),
                "program": self._program.to_dict(),
                "program_start_pump": self._program_start_pump.isoformat(),
                "bridge_remaining_ul": frac(self._bridge_remaining_ul),
                "bridge_concentration": self._bridge_concentration,
                "staged": None
                if self._staged is None
                else {"program": self._staged.program.to_dict(), "checksum": self._staged.checksum},
                "motor_stalled": self._motor_stalled,
                "stop_cause": self._stop_cause,
                "physical_refill": self._physical_refill,
                "alarms": {
                    k: {"raised_at": a.raised_at.isoformat(), "acknowledged": a.acknowledged}
                    for k, a in self._alarms.items()
                },
                "events": [
                    {"index": e.index, "at": e.at.isoformat(), "kind": e.kind, "detail": e.detail}
                    for e in self._events
                ],
                "boluses": [
                    {"at": b.at.isoformat(), "dose_mcg": str(b.dose_mcg), "kind": b.kind}
                    for b in self._boluses
                ],
                "delivered_ul_total": frac(self.delivered_ul_total),
                "pending_mcg": frac(self._pending_mcg),
            }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        *,
        clock: Clock = system_clock,
        checksum: Callable[[Program], int] = default_checksum,
    ) -> Self:
        """Resume a saved pump. Simulated time resumes at the later of the saved time and
        the clock's now: a real pump keeps pumping while the console is away. Reads the
        current state version and version 1 (saved before motor ticks: nothing carried)."""
        if state.get("version") not in _READABLE_STATE_VERSIONS:
            raise ValueError(f"unsupported simulator state version {state.get('version')!r}")

        def frac(text: str) -> Fraction:
            return Fraction(text)

        def when(text: str) -> datetime:
            return datetime.fromisoformat(text)

        saved_now = when(state["now"])
        pump = cls(
            model=state["model"],
            reservoir_capacity_ul=state["reservoir_capacity_ul"],
            serial=state["serial"],
            firmware=state["firmware"],
            drug=state["drug"],
            concentration_mcg_ml=state["concentration_mcg_ml"],
            reservoir_ul=frac(state["estimate_ul"]),
            alarm_volume_ul=state["alarm_volume_ul"],
            program=Program.from_dict(state["program"]),
            battery_mv=frac(state["battery_mv"]),
            battery=BatteryModel(
                eri_threshold_mv=state["battery"]["eri_threshold_mv"],
                mv_per_day=frac(state["battery"]["mv_per_day"]),
                mv_per_ml=frac(state["battery"]["mv_per_ml"]),
            ),
            clock=clock,
            speed=frac(state["speed"]),
            clock_zone=state["clock_zone"],
            delivery_error=frac(state["delivery_error"]),
            alarm_date_early_days=int(state.get("alarm_date_early_days", 0)),
            pump_dead_volume_ul=state["pump_dead_volume_ul"],
            catheter_length_cm=Decimal(state["catheter_length_cm"]),
            catheter_ul_per_cm=Decimal(state["catheter_ul_per_cm"]),
            checksum=checksum,
            start=saved_now,
        )
        with pump._lock:
            pump._events = [
                PumpEvent(pump.serial, e["index"], when(e["at"]), e["kind"], e["detail"])
                for e in state["events"]
            ]
            pump._alarms = {
                k: ActiveAlarm(when(a["raised_at"]), a["acknowledged"])
                for k, a in state["alarms"].items()
            }
            pump._actual = frac(state["actual_ul"])
            pump._pump_clock = PumpClock(
                when(state["clock_base_true"]),
                when(state["clock_base_pump"]),
                frac(state["drift_ppm"]),
            )
            pump._eri_at = None if state["eri_at"] is None else when(state["eri_at"])
            pump._program_start_pump = when(state["program_start_pump"])
            pump._bridge_remaining_ul = frac(state["bridge_remaining_ul"])
            pump._bridge_concentration = state["bridge_concentration"]
            staged = state["staged"]
            pump._staged = (
                None
                if staged is None
                else StagedProgram(Program.from_dict(staged["program"]), staged["checksum"])
            )
            pump._motor_stalled = state["motor_stalled"]
            pump._stop_cause = state["stop_cause"]
            pump._physical_refill = state["physical_refill"]
            pump._boluses = [
                GivenBolus(when(b["at"]), Decimal(b["dose_mcg"]), b["kind"])
                for b in state["boluses"]
            ]
            pump.delivered_ul_total = frac(state["delivered_ul_total"])
            # Version 1 pumped continuously and carried nothing between ticks.
            pump._pending_mcg = frac(state.get("pending_mcg", "0"))
            real_now = clock()
            resume = max(saved_now, real_now.astimezone(UTC))
            pump._timeline = Timeline(real_now, resume, pump._timeline.speed)
            pump._sync()
        return pump

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically (a crash never leaves half a file)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_state(), indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock = system_clock,
        checksum: Callable[[Program], int] = default_checksum,
    ) -> Self:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_state(data, clock=clock, checksum=checksum)
