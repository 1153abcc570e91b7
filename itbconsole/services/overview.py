"""The pump overview a nurse reads at the start of an appointment, computed without Qt.

Everything on the Overview tab comes from here: the latest reading as the pump reported it,
and the forecast (itbconsole.forecast) for every date and the status, so the Overview can
never disagree with the list, the worklist or a printout. The UI only formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from itbconsole import dosing
from itbconsole.alarms import AlarmInfo, sorted_alarms
from itbconsole.druglib import DrugLibrary, DrugProduct
from itbconsole.forecast import Forecast, StatusOn
from itbconsole.model import Mode, Patient, Program, Pump, Reading
from itbconsole.trends import Drift
from itbconsole.units import UL_PER_ML


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
    """The Overview tab's content. Dates and the status are the forecast's; the reading
    is what the pump said at the last interrogation."""

    patient: Patient
    pump: Pump
    reading: Reading
    forecast: Forecast
    status: StatusOn
    now: datetime
    program: ProgramSummary
    """The program in force now (after any verified change since the reading)."""
    alarms: tuple[AlarmInfo, ...]
    clock_offset_s: float
    clock_warning: bool
    reading_age_days: int = 0
    """Calendar days (the clinic's) from the reading to today."""
    reading_stale: bool = False
    """The reading is older than the clinic's ``reading_stale_days``: its volume is not
    today's, and the Overview says so in the headline."""
    drift: Drift | None = None
    """The pump's delivery-accuracy drift over its last refills (the Trends tab's and the
    worklist's rule, :func:`itbconsole.services.worklist.drift_of`), when the screen has
    worked it out; None when there is none."""

    @property
    def reservoir_ul(self) -> int:
        return self.reading.reservoir_ul

    @property
    def capacity_ul(self) -> int:
        return self.pump.reservoir_capacity_ul

    @property
    def alarm_volume_ul(self) -> int:
        return self.reading.alarm_volume_ul

    @property
    def alarm_at(self) -> datetime | None:
        return self.forecast.alarm_at

    @property
    def days_to_alarm(self) -> int | None:
        return self.status.days_to_alarm

    @property
    def refill_by(self) -> date | None:
        return self.forecast.refill_by

    @property
    def refill_by_reason(self) -> str:
        return self.forecast.refill_by_reason

    @property
    def derivation(self) -> str:
        return self.forecast.derivation

    @property
    def battery_mv(self) -> int:
        return self.reading.battery_mv

    @property
    def eri(self) -> bool:
        """ERI reached: the pump says so, or the ERI date (reported by the pump or first
        seen) is today or past. A date the pump projects for later is not ERI yet: the
        battery is OK, its replacement date is known ahead."""
        if self.reading.eri:
            return True
        eri = self.forecast.eri
        return eri is not None and eri.day <= self.now.astimezone(self.forecast.settings.tz).date()

    @property
    def eos(self) -> bool:
        return self.reading.eos


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
    fc: Forecast,
    library: DrugLibrary,
    now: datetime,
    *,
    product_name: str | None = None,
    reading_stale_days: int,
) -> PumpOverview:
    """The Overview of one pump: the latest reading as the pump reported it, and the
    forecast (dates, status, program in force) exactly as every other screen shows it.
    ``reading_stale_days``: the clinic's setting now (it does not change the forecast, so
    the forecast's own copy of the settings may be older)."""
    settings = fc.settings
    program = fc.program or reading.program
    conc = fc.concentration_mcg_ml or reading.concentration_mcg_ml
    product = library.find(product_name, conc) if product_name else None
    if product is None:
        product = next(
            (p for p in library.refill_products() if p.concentration_mcg_ml == conc), None
        )
    offset = reading.clock_offset_s
    today = now.astimezone(settings.tz).date()
    age = (today - reading.at.astimezone(settings.tz).date()).days
    return PumpOverview(
        patient=patient,
        pump=pump,
        reading=reading,
        forecast=fc,
        status=fc.status_on(today),
        now=now,
        program=summarise_program(program, conc, product),
        alarms=tuple(sorted_alarms(reading.alarms)),
        clock_offset_s=offset,
        clock_warning=abs(offset) > settings.clock_warning_s,
        reading_age_days=age,
        reading_stale=age > reading_stale_days,
    )
