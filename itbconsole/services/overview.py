"""The pump overview a nurse reads at the start of an appointment, computed without Qt.

Everything on the Overview tab comes from here, with the inputs kept next to each result so
the screen can say how a date was derived. The UI only formats.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.alarms import AlarmInfo, sorted_alarms
from itbconsole.druglib import DrugLibrary, DrugProduct
from itbconsole.model import Mode, Patient, Program, Pump, Reading
from itbconsole.units import UL_PER_ML

#: Battery voltages of the simulated pump family (documented in docs/protocol.md).
ERI_TO_EOS = timedelta(days=90)
DEFAULT_CLOCK_DRIFT_WARN_S = 120
DEFAULT_REFILL_MARGIN_DAYS = 7


class Urgency(enum.IntEnum):
    OK = 0
    SOON = 1  # alarm within 30 days
    URGENT = 2  # alarm within 7 days, or past
    STOPPED = 3  # not delivering


@dataclass(frozen=True)
class ProgramSummary:
    mode: Mode
    mode_text: str
    daily_dose_mcg: Fraction
    max_daily_dose_mcg: Fraction
    daily_volume_ul: Fraction
    concentration_mcg_ml: int
    drug_label: str
    steps: tuple[tuple[str, str, Fraction], ...]  # (start hh:mm, end hh:mm, mcg/h)
    patient_bolus_text: str


@dataclass(frozen=True)
class PumpOverview:
    patient: Patient
    pump: Pump
    reading: Reading
    now: datetime
    reservoir_ul: int
    capacity_ul: int
    alarm_volume_ul: int
    alarm_at: datetime | None  # None: not delivering, no alarm will come
    days_to_alarm: Fraction | None
    refill_by: date | None
    refill_by_reason: str
    urgency: Urgency
    program: ProgramSummary
    alarms: tuple[AlarmInfo, ...]
    battery_mv: int
    eri: bool
    eos: bool
    eri_since: datetime | None  # first stored reading that showed ERI
    eos_projected: datetime | None  # upper bound: first ERI reading + 90 days
    clock_offset_s: float
    clock_warning: bool
    derivation: str
    pump_eri_date: date | None = None  # the pump's own dates, when it reported them
    pump_eos_date: date | None = None


MODE_TEXT = {
    Mode.STOPPED: "Stopped",
    Mode.SIMPLE_CONTINUOUS: "Simple continuous",
    Mode.FLEX: "Flex",
    Mode.SINGLE_BOLUS: "Single bolus",
}


def _hhmm(minute: int) -> str:
    """Minutes after midnight as HH:MM; the end of the day (1440) is 24:00."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def summarise_program(
    program: Program, concentration_mcg_ml: int, product: DrugProduct | None
) -> ProgramSummary:
    daily = dosing.program_daily_dose_mcg(program)
    maximum = dosing.max_daily_dose_mcg(program)
    steps: list[tuple[str, str, Fraction]] = []
    if program.mode is Mode.FLEX:
        steps = [
            (_hhmm(r.start_minute), _hhmm(r.end_minute), r.rate_mcg_per_hour)
            for r in dosing.flex_step_rates(program.flex_steps, concentration_mcg_ml)
        ]
    pb = program.patient_bolus
    pb_text = (
        "none"
        if pb is None
        else f"{pb.dose_mcg} mcg over {pb.duration_minutes} min, lockout {pb.lockout_minutes} min, "
        f"up to {pb.max_per_day} a day"
    )
    return ProgramSummary(
        mode=program.mode,
        mode_text=MODE_TEXT[program.mode],
        daily_dose_mcg=daily,
        max_daily_dose_mcg=maximum,
        daily_volume_ul=maximum * UL_PER_ML / concentration_mcg_ml,
        concentration_mcg_ml=concentration_mcg_ml,
        drug_label=product.label
        if product
        else f"Baclofen {concentration_mcg_ml} mcg/mL (not in the drug library)",
        steps=tuple(steps),
        patient_bolus_text=pb_text,
    )


def build_overview(
    patient: Patient,
    pump: Pump,
    reading: Reading,
    library: DrugLibrary,
    now: datetime,
    tz: tzinfo,
    *,
    product_name: str | None = None,
    eri_since: datetime | None = None,
    pump_battery_dates: tuple[date | None, date | None] | None = None,
    margin_days: int = DEFAULT_REFILL_MARGIN_DAYS,
    max_refill_interval_days: int | None = None,
    clock_drift_warn_s: float = DEFAULT_CLOCK_DRIFT_WARN_S,
) -> PumpOverview:
    """Project the latest reading forward to ``now`` and summarise the pump for display.

    The reservoir shown is the pump's own estimate at the reading. Days to alarm are counted
    from the reading with the maximum daily volume (every allowed patient bolus counted),
    exactly as :mod:`itbconsole.dosing` defines them.
    """
    product = library.find(product_name, reading.concentration_mcg_ml) if product_name else None
    if product is None:
        product = next(
            (
                p
                for p in library.refill_products()
                if p.concentration_mcg_ml == reading.concentration_mcg_ml
            ),
            None,
        )
    program = summarise_program(reading.program, reading.concentration_mcg_ml, product)
    alarms = tuple(sorted_alarms(reading.alarms))
    stopped = reading.program.mode is Mode.STOPPED or any(a.stops_delivery for a in alarms)
    forecast = dosing.refill_forecast(
        reservoir_ul=reading.reservoir_ul,
        alarm_volume_ul=reading.alarm_volume_ul,
        program=reading.program,
        concentration_mcg_ml=reading.concentration_mcg_ml,
        start=reading.at,
        tz=tz,
        margin_days=margin_days,
        max_refill_interval_days=max_refill_interval_days,
    )
    alarm_at = None if stopped else forecast.alarm_at
    refill_by = None if stopped else forecast.refill_by
    reason = forecast.refill_by_rule
    if alarm_at is not None and forecast.days_to_alarm is not None:
        derivation = (
            f"({reading.reservoir_ul / UL_PER_ML:.2f} mL - {reading.alarm_volume_ul / UL_PER_ML:.2f} mL alarm) "
            f"/ {float(forecast.max_daily_volume_ml):.3f} mL/day maximum = "
            f"{float(forecast.days_to_alarm):.1f} days from the reading"
        )
    else:
        derivation = "The pump is not delivering, so no alarm date can be projected."
    if stopped:
        urgency = Urgency.STOPPED
    elif alarm_at is None:
        urgency = Urgency.OK
    else:
        # Calendar days in the clinic's zone, exactly as the patient list counts them.
        left = (alarm_at.astimezone(tz).date() - now.astimezone(tz).date()).days
        urgency = Urgency.URGENT if left <= 7 else Urgency.SOON if left <= 30 else Urgency.OK
    offset = reading.clock_offset_s
    eos_projected = eri_since + ERI_TO_EOS if (reading.eri and eri_since is not None) else None
    return PumpOverview(
        patient=patient,
        pump=pump,
        reading=reading,
        now=now,
        reservoir_ul=reading.reservoir_ul,
        capacity_ul=pump.reservoir_capacity_ul,
        alarm_volume_ul=reading.alarm_volume_ul,
        alarm_at=alarm_at,
        days_to_alarm=None if alarm_at is None else Fraction(left),
        refill_by=refill_by,
        refill_by_reason=reason,
        urgency=urgency,
        program=program,
        alarms=alarms,
        battery_mv=reading.battery_mv,
        eri=reading.eri,
        eos=reading.eos,
        eri_since=eri_since,
        eos_projected=eos_projected,
        pump_eri_date=pump_battery_dates[0] if pump_battery_dates else None,
        pump_eos_date=pump_battery_dates[1] if pump_battery_dates else None,
        clock_offset_s=offset,
        clock_warning=abs(offset) > clock_drift_warn_s,
        derivation=derivation,
    )
