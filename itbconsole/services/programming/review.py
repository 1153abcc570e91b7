"""How a pending program is shown beside the current one: the side-by-side review rows,
the dose change in words, and the 24-hour dose profile the editor plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.display import fmt_day, fmt_local_day
from itbconsole.forecast import Forecast
from itbconsole.model import MINUTES_PER_DAY, FlexStep, Mode, Program
from itbconsole.services.programming.check import ProgramCheck
from itbconsole.services.programming.findings import fmt_amount
from itbconsole.services.programming.flex_times import hhmm


def profile(program: Program, weekday: int | None = None) -> tuple[list[float], list[float]]:
    """A 24-hour dose profile for a step plot: edges in hours (n + 1) and mcg/h (n).
    Simple continuous and single bolus show their continuous rate; patient boluses and
    the single bolus itself are not a rate and are left out."""
    if program.mode is Mode.FLEX:
        steps = program.flex_steps if weekday is None else program.steps_for_weekday(weekday)
        edges = [s.start_minute / 60 for s in steps] + [MINUTES_PER_DAY / 60]
        return edges, [float(s.rate_mcg_per_hour) for s in steps]
    rate = float(dosing.program_daily_dose_mcg(program) / 24)
    return [0.0, 24.0], [rate]


@dataclass(frozen=True)
class ReviewRow:
    """One line of the side-by-side review: what it is, current, pending, changed?"""

    label: str
    current: str
    pending: str

    @property
    def changed(self) -> bool:
        return self.current != self.pending


MODE_TEXT = {
    Mode.STOPPED: "Stopped",
    Mode.SIMPLE_CONTINUOUS: "Simple continuous",
    Mode.FLEX: "Flex",
    Mode.SINGLE_BOLUS: "Single bolus",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _steps_text(steps: Sequence[FlexStep]) -> str:
    parts = []
    for i, s in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        parts.append(
            f"{hhmm(s.start_minute)}-{hhmm(end)} {fmt_amount(Fraction(s.rate_mcg_per_hour), 3)} mcg/h"
        )
    return "\n".join(parts)


def program_rows(program: Program, concentration: int) -> dict[str, str]:
    """Each line of the review table for ``program`` at ``concentration`` (the review and
    the read-back on the result page use the same lines)."""
    pb = program.patient_bolus
    rows = {
        "Mode": MODE_TEXT[program.mode],
        "Concentration": f"{concentration} mcg/mL",
        "Total per 24 h": f"{fmt_amount(dosing.program_daily_dose_mcg(program))} mcg/24 h",
        "Flex steps (pump clock, UTC)": _steps_text(program.flex_steps)
        if program.mode is Mode.FLEX
        else "-",
        "Weekday schedules": "\n".join(
            f"{WEEKDAYS[d]}: {fmt_amount(dosing.flex_daily_total_mcg(st))} mcg/24 h"
            for d, st in sorted(program.flex_weekday_steps)
        )
        or "-",
        "Single bolus": f"{program.bolus_dose_mcg} mcg over {program.bolus_duration_minutes} min"
        if program.mode is Mode.SINGLE_BOLUS
        else "-",
        "Patient bolus dose": f"{pb.dose_mcg} mcg over {pb.duration_minutes} min" if pb else "none",
        "Patient bolus lockout": f"{pb.lockout_minutes} min" if pb else "-",
        "Patient boluses per day": f"{pb.max_per_day} a day" if pb else "-",
        "Maximum 24 h dose (every allowed bolus)": f"{fmt_amount(dosing.max_24h_dose_mcg(program))} mcg",
    }
    return rows


def review_rows(check: ProgramCheck, tz: tzinfo) -> list[ReviewRow]:
    """Current vs pending, field by field, for the last screen before sending."""
    cur = program_rows(check.state.program, check.state.concentration_mcg_ml)
    new = program_rows(check.new, check.concentration_mcg_ml)
    rows = [ReviewRow(k, cur[k], new[k]) for k in cur]

    def alarm(f: Forecast) -> str:
        return "none (not delivering)" if f.alarm_at is None else fmt_local_day(f.alarm_at, tz)

    def refill(f: Forecast) -> str:
        return "-" if f.refill_by is None else fmt_day(f.refill_by)

    rows.append(
        ReviewRow("Low-reservoir alarm", alarm(check.current_forecast), alarm(check.new_forecast))
    )
    rows.append(ReviewRow("Refill by", refill(check.current_forecast), refill(check.new_forecast)))
    return rows


def change_text(change: dosing.DoseChange) -> str:
    """``"+50.0 mcg/24 h (+10.0 %)"``; the percentage is left out when undefined."""
    sign = "+" if change.change_mcg >= 0 else "-"
    text = f"{sign}{fmt_amount(abs(change.change_mcg))} mcg/24 h"
    if change.change_pct is not None:
        psign = "+" if change.change_pct >= 0 else "-"
        text += f" ({psign}{fmt_amount(abs(change.change_pct))} %)"
    return text
