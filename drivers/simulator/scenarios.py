"""Named starting states for the simulated pump (``itbconsole sim --scenario NAME``).

Why presets: each one puts the console in front of a situation a clinician must recognise
(low drug, battery at ERI, a stalled motor, a pump that under-delivers, a drifting clock)
without anyone having to wait months of simulated time for it to happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from drivers.simulator.clock import Clock, system_clock
from drivers.simulator.pump import SimPump
from itbconsole.model import FlexStep, Mode, PatientBolus, Program

HEALTHY_PROGRAM = Program(
    Mode.SIMPLE_CONTINUOUS,
    daily_dose_mcg=Decimal(500),
    patient_bolus=PatientBolus(
        dose_mcg=Decimal(25), duration_minutes=10, lockout_minutes=120, max_per_day=4
    ),
)

FLEX_PROGRAM = Program(
    Mode.FLEX,
    flex_steps=(
        FlexStep(0, Decimal(15)),
        FlexStep(6 * 60, Decimal(25)),
        FlexStep(22 * 60, Decimal(15)),
    ),
)


def _healthy(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "SIM-40",
        "reservoir_capacity_ul": 40_000,
        "serial": "SIM0000001",
        "concentration_mcg_ml": 2000,
        "reservoir_ul": 30_000,
        "alarm_volume_ul": 2_000,
        "program": HEALTHY_PROGRAM,
        "battery_mv": 3200,
    }
    base.update(overrides)
    return base


#: name -> (one-line description, constructor keywords, optional action on the new pump)
SCENARIOS: dict[str, tuple[str, dict[str, Any], Callable[[SimPump], None] | None]] = {
    "healthy": (
        "40 mL pump, 30 mL of 2000 mcg/mL, 500 mcg/day, patient bolus 25 mcg",
        _healthy(),
        None,
    ),
    "flex": (
        "healthy pump on a three-step flex day (more by day)",
        _healthy(program=FLEX_PROGRAM),
        None,
    ),
    "low-reservoir": (
        "1.8 mL left, under the 2 mL low-reservoir alarm",
        _healthy(reservoir_ul=1_800),
        None,
    ),
    "empty": ("reservoir empty: delivery has stopped", _healthy(reservoir_ul=0), None),
    "eri": (
        "battery at ERI for 60 days: End of Service in 30 days",
        _healthy(battery_mv=2890, serial="SIM0000003"),
        lambda p: p.set_eri_at(p.now() - timedelta(days=60)),
    ),
    "eos": (
        "battery past End of Service: delivery has stopped",
        _healthy(battery_mv=2700, serial="SIM0000004"),
        lambda p: p.set_eri_at(p.now() - timedelta(days=91)),
    ),
    "motor-stall": (
        "motor stalled: delivery has stopped",
        _healthy(serial="SIM0000005"),
        lambda p: p.stall_motor(),
    ),
    "under-delivery": (
        "delivers 8 % less than programmed (refill discrepancy)",
        _healthy(delivery_error=Fraction(-8, 100), serial="SIM0000006"),
        None,
    ),
    "clock-drift": (
        "pump clock 7 minutes fast and gaining 30 s a day",
        _healthy(
            clock_offset=timedelta(minutes=7),
            clock_drift_ppm=Fraction(30 * 1_000_000, 86_400),
            serial="SIM0000007",
        ),
        None,
    ),
    "program-fault": (
        "every committed program is silently stored at a tenth of its rates",
        _healthy(serial="SIM0000008"),
        lambda p: p.alter_committed_programs(once=False),
    ),
    "small-pump": (
        "20 mL pump, 15 mL of 500 mcg/mL, 150 mcg/day",
        _healthy(
            model="SIM-20",
            reservoir_capacity_ul=20_000,
            reservoir_ul=15_000,
            concentration_mcg_ml=500,
            program=Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(150)),
            serial="SIM0000002",
        ),
        None,
    ),
}


def build_scenario(
    name: str,
    *,
    clock: Clock = system_clock,
    speed: float | Fraction = 1,
    start: datetime | None = None,
    **overrides: Any,
) -> SimPump:
    """A new pump in the named state; ``overrides`` replace constructor keywords."""
    try:
        _, kwargs, action = SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario '{name}' (known: {known})") from None
    pump = SimPump(**{**kwargs, **overrides}, clock=clock, speed=speed, start=start)
    if action is not None:
        action(pump)
    return pump
