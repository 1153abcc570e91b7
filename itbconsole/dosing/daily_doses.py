"""A program's doses per day: programmed, with every allowed patient bolus, and the
maximum 24-hour dose that dose limits apply to.

Separate because the alarm arithmetic and the programming rules both read these figures,
and each must count patient boluses the same way.
"""

from __future__ import annotations

from fractions import Fraction

from itbconsole.dosing.checks import checked_concentration
from itbconsole.dosing.instants import MINUTES_PER_DAY
from itbconsole.dosing.rates import flex_daily_total_mcg
from itbconsole.model import Mode, Program
from itbconsole.units import Number, to_fraction


def program_daily_dose_mcg(program: Program, weekday: int | None = None) -> Fraction:
    """The programmed dose per 24 h (mcg/day), excluding patient boluses.

    For flex, the default schedule's total, or the given weekday's (0 = Monday). For a single
    bolus program, the continuous rate that follows the bolus.
    """
    if program.mode is Mode.STOPPED:
        return Fraction(0)
    if program.mode is Mode.FLEX:
        steps = program.flex_steps if weekday is None else program.steps_for_weekday(weekday)
        return flex_daily_total_mcg(steps)
    return to_fraction(program.daily_dose_mcg)


def patient_bolus_mcg_per_day(program: Program) -> Fraction:
    """Most patient-bolus drug a day can add: dose per bolus (mcg) x boluses allowed per
    day. 0 without patient bolus settings."""
    if program.patient_bolus is None:
        return Fraction(0)
    return to_fraction(program.patient_bolus.dose_mcg) * program.patient_bolus.max_per_day


def max_daily_dose_mcg(program: Program) -> Fraction:
    """Largest possible mcg in a day: the highest-dose day of the schedule plus every
    patient bolus allowed that day (dose x maximum per day).

    Source: the Prometra clinician programmer's reservoir calculation counts all allowed
    boluses (domain.md). Counting them makes the alarm date conservative: it can only come
    later than forecast, never earlier.
    """
    if program.mode is Mode.FLEX:
        base = max(program_daily_dose_mcg(program, wd) for wd in range(7))
    else:
        base = program_daily_dose_mcg(program)
    return base + patient_bolus_mcg_per_day(program)


def patient_boluses_in_24h(program: Program) -> int:
    """How many patient boluses can be given in 24 hours: the maximum per day, bounded by
    the lockout (a bolus, then one every ``lockout`` minutes: 1 + floor(1439 / lockout)).
    A lockout of 0 bounds nothing. Source: domain.md ("dose x maximum per day, bounded by
    the lockout")."""
    pb = program.patient_bolus
    if pb is None or pb.max_per_day <= 0:
        return 0
    if pb.lockout_minutes <= 0:
        return pb.max_per_day
    return min(pb.max_per_day, 1 + (MINUTES_PER_DAY - 1) // pb.lockout_minutes)


def max_24h_dose_mcg(program: Program) -> Fraction:
    """The maximum 24-hour dose a program can give, the figure dose limits apply to:
    the highest-dose day of the schedule, plus every patient bolus allowed in 24 hours
    (dose x :func:`patient_boluses_in_24h`), plus a single bolus the program starts with.

    Source: domain.md ("Dates the console promises": the maximum 24 h dose counts the
    continuous program plus every patient bolus allowed in 24 h and any clinician boluses;
    limits on the daily dose and on the % change apply to it). Example: 400 mcg/day with
    100 mcg x 4 a day, lockout 60 min: 800 mcg in 24 h."""
    if program.mode is Mode.FLEX:
        base = max(program_daily_dose_mcg(program, wd) for wd in range(7))
    else:
        base = program_daily_dose_mcg(program)
    boluses = Fraction(0)
    if program.patient_bolus is not None:
        boluses = to_fraction(program.patient_bolus.dose_mcg) * patient_boluses_in_24h(program)
    single = to_fraction(program.bolus_dose_mcg) if program.mode is Mode.SINGLE_BOLUS else 0
    return base + boluses + single


def max_daily_volume_ml(program: Program, concentration_mcg_ml: Number) -> Fraction:
    """Maximum daily volume (mL/day) = maximum daily dose (mcg/day, every allowed patient
    bolus included) / concentration (mcg/mL). Source: domain.md; Prometra."""
    return max_daily_dose_mcg(program) / checked_concentration(concentration_mcg_ml)
