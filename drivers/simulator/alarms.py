"""The simulated pump's alarms: their names, when they are raised and cleared, and how they
are acknowledged or tested.

Condition alarms (low reservoir, empty, ERI, End of Service, motor stall) follow the state:
raised at the moment their condition holds, cleared when it stops; acknowledging only
silences them. A latched alarm (reset) stays until acknowledged. Delivery stops while End
of Service, a stalled motor or an empty reservoir is active, and the log says so. Separate
because these rules are what a clinician sees first, and the motor, the commands and the
faults all end by asking them to look at the state again.
"""

from __future__ import annotations

from drivers.simulator.battery import EOS_AFTER_ERI
from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind, EventLog
from drivers.simulator.pump_state import ActiveAlarm


class Alarm:
    """Alarm names, as the pump reports them (the protocol's alarm-bit names)."""

    LOW_RESERVOIR = "low_reservoir"
    EMPTY = "reservoir_empty"
    ERI = "eri"
    EOS = "end_of_service"
    MOTOR_STALL = "motor_stall"
    RESET = "pump_reset"

    #: Alarms that stay until their condition clears; acknowledging only silences them.
    CONDITIONS = frozenset({LOW_RESERVOIR, EMPTY, ERI, EOS, MOTOR_STALL})


class PumpAlarms(EventLog):
    """Raises, clears, acknowledges and tests the pump's alarms."""

    def _evaluate(self) -> None:
        """Raise and clear condition alarms from the current state."""
        self._set_alarm(Alarm.EMPTY, self._estimate <= 0)
        self._set_alarm(Alarm.LOW_RESERVOIR, self._estimate <= self.alarm_volume_ul)
        self._set_alarm(Alarm.MOTOR_STALL, self._motor_stalled)
        if self._eri_at is None and self._battery_mv <= self.battery.eri_threshold_mv:
            self._eri_at = self._now
        self._set_alarm(Alarm.ERI, self._eri_at is not None)
        self._set_alarm(
            Alarm.EOS, self._eri_at is not None and self._now >= self._eri_at + EOS_AFTER_ERI
        )
        cause = next(
            (a for a in (Alarm.EOS, Alarm.MOTOR_STALL, Alarm.EMPTY) if a in self._alarms), None
        )
        if cause != self._stop_cause:
            if cause is not None:
                self._log(EventKind.DELIVERY_STOPPED, {"alarm": cause})
            else:
                self._log(EventKind.DELIVERY_RESUMED, {})
            self._stop_cause = cause

    def _set_alarm(self, name: str, active: bool) -> None:
        if active and name not in self._alarms:
            self._alarms[name] = ActiveAlarm(self.pump_clock_at(self._now))
            self._log(EventKind.ALARM_RAISED, {"alarm": name})
        elif not active and name in self._alarms and name in Alarm.CONDITIONS:
            del self._alarms[name]
            self._log(EventKind.ALARM_CLEARED, {"alarm": name})

    def alarms(self) -> tuple[str, ...]:
        with self._lock:
            self._sync()
            return tuple(sorted(self._alarms))

    def acknowledge_alarm(self, name: str | None = None) -> tuple[str, ...]:
        """Silence one alarm (or all). Condition alarms stay active until their cause
        clears; latched ones (reset) are cleared. Returns the names acknowledged."""
        with self._lock:
            self._sync()
            names = [name] if name is not None else list(self._alarms)
            if name is not None and name not in self._alarms:
                raise PumpCommandError("invalid_state", f"Alarm '{name}' is not active.")
            for n in names:
                self._log(EventKind.ALARM_ACKNOWLEDGED, {"alarm": n})
                if n in Alarm.CONDITIONS:
                    self._alarms[n].acknowledged = True
                else:
                    del self._alarms[n]
                    self._log(EventKind.ALARM_CLEARED, {"alarm": n})
            return tuple(names)

    def alarm_test(self) -> None:
        """Sound the alarm tones so the patient knows them; logged, no state change."""
        with self._lock:
            self._sync()
            self._log(EventKind.ALARM_TEST, {})
