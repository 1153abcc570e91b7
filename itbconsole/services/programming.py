"""Dose programming: the rules a program change must pass, its record, and the pump write.

Why a Qt-free service: the field's worst pump errors happen while a dose is being changed
(60 mcg per hour typed for 60 mcg per day; a lower concentration than the reservoir holds;
41.7 typed for 4.17). Every rule that guards against them lives here, once, where a test can
reach it without a window or a pump; the editor only shows what :func:`check_program` finds.

The rules (each a small function in :data:`RULES`, each with a test that fails without it):

* **limits** from the drug library for the product in the reservoir: daily dose and %
  change per session, both on the **maximum 24 h dose** (the highest day plus every patient
  bolus allowed in 24 h, bounded by the lockout, plus a single bolus), bolus dose, boluses
  per day. Outside the hard range: blocked. Outside the soft range: allowed only with a
  reason of a few real words, and recorded. The % change counts from the program in force
  24 hours earlier as well as from the current one, so repeated sends add up;
* **starting dose**: a restart of a stopped pump is measured from the last dose in force
  (more than the hard % above it is blocked); a first program with no dose on record above
  the usual maximum daily dose is blocked;
* **withdrawal**: a cut of more than 20 % or a stop names the withdrawal hazard and takes
  the cover plan as its reason;
* **lockout and single boluses** (drug library): a patient-bolus lockout under the library's
  minimum (15 min by default), and more single boluses in 24 h than it allows (2), or more
  than the bolus hard limit in all, are blocked;
* **records concentration**: a pump whose concentration differs from the records (the last
  refill) cannot be programmed until a refill records it;
* **unit slip**: a flex step whose rate per *hour* equals or exceeds the whole previous
  daily dose is blocked (the ISMP 60 mcg/h for 60 mcg/day error); from a stopped pump the
  previous dose is the last delivering program on record; with none, a rate that held for
  a day is above the usual maximum daily dose is blocked;
* **concentration**: a program is sent only at the concentration the pump reports in its
  reservoir;
* **precision**: the pump takes doses in whole nanograms (0.001 mcg);
* **priming**: a priming bolus is exactly the dead volume recorded on the pump (worked out
  again from the pump's record), only on a pump whose recorded implant date is within 30
  days (a hard stop otherwise), and needs a reason;
* **alarm date**: a warning when the new program's low-reservoir alarm comes before the
  refill date the current program was planned around, or its refill-by date is earlier;
* **role**: only a clinician or an administrator sends; anyone may prepare one for review.

Sending (:func:`send_program`) is a plain function over an open
:class:`~drivers.pump_client.PumpClient`, so the desktop app runs it on its link thread and a
script can run it directly. It takes an :class:`ApprovedChange` (the record with the check
it passed and the reasons given) and the signed-in user, and refuses before a byte is sent
unless that user may send it and the check still passes; it checks that the pump is the
one, with the program and the concentration, the change was made against, and runs every
rule again on the state the pump reports then; then writes in two phases and reads back.
Success is reported only when the read-back equals the program sent. :class:`ProgramSend`
keeps the one order of a send (store the intent, send, settle the record).

Flex step times are **pump-clock times**. The console keeps the pump clock on UTC
(docs/protocol.md), so a step typed as 07:00 starts when the pump clock reads 07:00, which
is 08:00 in London in summer and 07:00 in winter. :func:`local_equivalents` gives the local
time next to each step and :func:`next_zone_change` says when that correspondence shifts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from itbconsole import dosing
from itbconsole.druglib import DrugLibrary, DrugProduct, Limit, LimitCheck
from itbconsole.forecast import Forecast, PumpFacts, forecast, with_change, with_reading
from itbconsole.model import (
    MINUTES_PER_DAY,
    Action,
    ChangeOutcome,
    FlexStep,
    Mode,
    PreparedProgram,
    Program,
    ProgramChange,
    Pump,
    Reading,
    User,
)
from itbconsole.services.settlement import SettlementError, resolve_uncertain
from itbconsole.settings import ClinicSettings
from itbconsole.units import UL_PER_ML, round_decimal

if TYPE_CHECKING:
    from drivers.pump_client import Interrogation, PumpClient
    from itbconsole.store import Store

#: A typed override reason must say something real: at least this many letters or digits,
#: in at least two words ("abcd" is not a reason).
MIN_REASON_CHARS = 12
MIN_REASON_WORDS = 2
#: Pump-clock drift beyond which the editor warns that flex steps run at other times.
CLOCK_WARN_S = 120


class ProgrammingError(ValueError):
    """A program change cannot go ahead. The message says why and what to do."""


class Severity(enum.Enum):
    """How a finding weighs on the change."""

    BLOCK = "block"  # cannot be sent (hard limit, unit slip, wrong concentration, role)
    SOFT = "soft"  # may be sent with a typed reason; recorded
    WARNING = "warning"  # shown and recorded; no reason needed


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on the pending program. ``field`` names the input it concerns
    (``daily_dose``, ``flex``, ``bolus``, ``patient_bolus``, ``concentration``...) so the
    editor can show it next to that input."""

    rule: str
    severity: Severity
    message: str
    field: str = ""

    @property
    def key(self) -> str:
        """Identifies the finding among others, for the override reason typed for it."""
        return f"{self.rule}:{self.field}"


# =========================================================================== starting point


@dataclass(frozen=True)
class PumpState:
    """What a program change starts from: the pump's program and reservoir, as the pump
    reported them (``live``) or as the latest stored reading recorded them."""

    pump_serial: str
    program: Program
    concentration_mcg_ml: int
    drug_name: str
    reservoir_ul: int
    alarm_volume_ul: int
    read_at: datetime
    clock_offset_s: float = 0.0
    live: bool = True
    eri: bool = False
    eos: bool = False
    alarms: tuple[str, ...] = ()
    battery_mv: int = 0

    def as_reading(self) -> Reading:
        """The state as a reading, for the forecast (itbconsole.forecast)."""
        return Reading(
            pump_serial=self.pump_serial,
            at=self.read_at,
            pump_clock=self.read_at + timedelta(seconds=self.clock_offset_s),
            reservoir_ul=self.reservoir_ul,
            alarm_volume_ul=self.alarm_volume_ul,
            battery_mv=self.battery_mv,
            eri=self.eri,
            eos=self.eos,
            concentration_mcg_ml=self.concentration_mcg_ml,
            program=self.program,
            alarms=self.alarms,
        )

    @classmethod
    def from_interrogation(cls, interrogation: Interrogation) -> PumpState:
        s = interrogation.status
        return cls(
            pump_serial=interrogation.identity.serial,
            program=interrogation.program,
            concentration_mcg_ml=s.concentration_mcg_ml,
            drug_name=s.drug_name,
            reservoir_ul=s.reservoir_ul,
            alarm_volume_ul=s.alarm_volume_ul,
            read_at=s.read_at,
            clock_offset_s=s.clock_offset_s,
            live=True,
            eri=s.eri,
            eos=s.eos,
            alarms=tuple(s.alarms),
            battery_mv=s.battery_mv,
        )

    @classmethod
    def from_reading(cls, reading: Reading, drug_name: str = "") -> PumpState:
        """From a stored reading: good for preparing a change; sending reads the pump."""
        return cls(
            pump_serial=reading.pump_serial,
            program=reading.program,
            concentration_mcg_ml=reading.concentration_mcg_ml,
            drug_name=drug_name,
            reservoir_ul=reading.reservoir_ul,
            alarm_volume_ul=reading.alarm_volume_ul,
            read_at=reading.at,
            clock_offset_s=reading.clock_offset_s,
            live=False,
            eri=reading.eri,
            eos=reading.eos,
            alarms=reading.alarms,
            battery_mv=reading.battery_mv,
        )


def find_product(
    library: DrugLibrary, drug_name: str, concentration_mcg_ml: int
) -> DrugProduct | None:
    """The library entry whose limits apply: the named product at that concentration, or
    else the first maintenance product at that concentration (the limits are per
    concentration in practice), or else any product at it. None: not in the library."""
    if drug_name:
        found = library.find(drug_name, concentration_mcg_ml)
        if found is not None:
            return found
    same = [p for p in library if p.concentration_mcg_ml == concentration_mcg_ml]
    refill = [p for p in same if p.refill_allowed]
    candidates = refill or same
    return candidates[0] if candidates else None


# =========================================================================== the check


@dataclass(frozen=True)
class PrimingPlan:
    """A priming bolus after implant (pump and catheter) or after a catheter revision
    (catheter only): its volume from the recorded dead volumes, and its dose at the
    reservoir's concentration."""

    priming: dosing.PrimingBolus
    concentration_mcg_ml: int
    dose_mcg: Decimal
    duration_minutes: int

    @property
    def volume_ul(self) -> Fraction:
        return self.priming.volume_ul


def priming_plan(
    pump: Pump, concentration_mcg_ml: int, duration_minutes: int, *, catheter_only: bool = False
) -> PrimingPlan:
    """Dose (mcg) = priming volume (µL) x concentration (mcg/mL) / 1000, rounded down to
    the 0.001 mcg the pump can take (never more than the dead volume holds)."""
    priming = dosing.priming_bolus(pump, catheter_only=catheter_only)
    exact = priming.volume_ul * concentration_mcg_ml / UL_PER_ML
    dose = Decimal(int(exact * 1000)).scaleb(-3)
    return PrimingPlan(priming, concentration_mcg_ml, dose, duration_minutes)


def priming_program(
    plan: PrimingPlan, daily_dose_after_mcg: Decimal, patient_bolus: Any = None
) -> Program:
    """The program that delivers ``plan`` as a single bolus, then ``daily_dose_after_mcg``
    continuous. Refused when the dead volume is not recorded (nothing to prime with)."""
    if plan.dose_mcg <= 0:
        raise ProgrammingError(
            "The pump's dead volume and catheter are not recorded, so the priming volume "
            "cannot be worked out. Record them on the pump first."
        )
    return Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=daily_dose_after_mcg,
        bolus_dose_mcg=plan.dose_mcg,
        bolus_duration_minutes=plan.duration_minutes,
        patient_bolus=patient_bolus,
    )


@dataclass(frozen=True)
class CheckInput:
    """Everything a rule may look at."""

    state: PumpState
    new: Program
    concentration_mcg_ml: int
    product: DrugProduct | None
    user: User
    purpose: str  # "send" or "prepare"
    priming: PrimingPlan | None
    current_forecast: Forecast
    new_forecast: Forecast
    tz: tzinfo
    pump: Pump | None = None
    supplied_priming: PrimingPlan | None = None
    baseline: Program | None = None  # the program in force 24 h ago (see change_baseline)
    last_nonzero: Program | None = None  # the last program on record that delivered a dose
    recent_single_boluses_mcg: tuple[Fraction, ...] = ()
    """Single boluses sent to this pump in the 24 hours before this change."""
    records_concentration_mcg_ml: int | None = None
    """The concentration of the last confirmed refill on record (None: no refill)."""
    catheter_revised_on: date | None = None
    """The last catheter revision on record for this pump."""


def _max24(c: CheckInput, program: Program) -> Fraction:
    """The maximum 24 h dose of ``program`` (every allowed bolus counted); a priming bolus
    fills the pump and catheter, it is checked against the dead volume instead."""
    total = dosing.max_24h_dose_mcg(program)
    if program is c.new and (c.priming is not None or c.supplied_priming is not None):
        total -= Fraction(program.bolus_dose_mcg) if program.mode is Mode.SINGLE_BOLUS else 0
    return total


def _daily_totals(program: Program) -> list[Fraction]:
    """The programmed dose of each weekday (0 = Monday), patient boluses excluded."""
    return [dosing.program_daily_dose_mcg(program, wd) for wd in range(7)]


def _all_steps(program: Program) -> list[FlexStep]:
    if program.mode is not Mode.FLEX:
        return []
    steps = list(program.flex_steps)
    for _day, day_steps in program.flex_weekday_steps:
        steps.extend(day_steps)
    return steps


def _fmt(value: Fraction | Decimal | int, places: int = 1) -> str:
    return str(round_decimal(Fraction(value), places))


def _limit_finding(
    limit: Limit, value: Fraction, what: str, unit: str, field_name: str, rule: str
) -> Finding | None:
    """HARD or SOFT finding for ``value`` against ``limit``; None when within."""
    verdict = limit.check(Decimal(value.numerator) / Decimal(value.denominator))
    if verdict is LimitCheck.WITHIN:
        return None
    sign = "+" if unit == "%" and value > 0 else ""
    shown = f"{sign}{_fmt(value)} {unit}"
    if verdict is LimitCheck.HARD:
        return Finding(
            rule,
            Severity.BLOCK,
            f"{what} {shown} is outside the hard limit {limit.hard_min} to {limit.hard_max} "
            f"{unit}. It cannot be programmed; check the number and its unit.",
            field_name,
        )
    return Finding(
        rule,
        Severity.SOFT,
        f"{what} {shown} is outside the usual range {limit.soft_min} to {limit.soft_max} "
        f"{unit}. Check it; to go ahead, type the clinical reason.",
        field_name,
    )


def rule_product(c: CheckInput) -> list[Finding]:
    """No drug-library entry at this concentration: nothing to check the dose against."""
    if c.product is not None:
        return []
    return [
        Finding(
            "no_product",
            Severity.BLOCK,
            f"The drug library has no product at {c.concentration_mcg_ml} mcg/mL, so the dose "
            "cannot be checked against its limits. Check the concentration.",
            "concentration",
        )
    ]


def rule_daily_dose(c: CheckInput) -> list[Finding]:
    """Daily-dose limits. The upper limits apply to the **maximum 24 h dose**: the highest
    day of the schedule plus every patient bolus allowed in 24 hours plus a single bolus
    (:func:`itbconsole.dosing.max_24h_dose_mcg`), so boluses cannot carry a dose past a
    limit the continuous dose alone would meet. The lower limits apply to the lowest day's
    programmed dose. The most severe finding is kept."""
    if c.product is None:
        return []
    limit = c.product.limits.daily_dose_mcg
    max24 = _max24(c, c.new)
    highest = max(_daily_totals(c.new))
    what = (
        "The maximum 24 h dose (programmed "
        f"{_fmt(highest)} mcg + every allowed bolus {_fmt(max24 - highest)} mcg)"
        if max24 != highest
        else "The daily dose"
    )
    worst: Finding | None = None
    for value, text in ((max24, what), (min(_daily_totals(c.new)), "The daily dose")):
        found = _limit_finding(limit, value, text, "mcg/24 h", "daily_dose", "daily_dose_mcg")
        if found is not None and (
            worst is None
            or (found.severity is Severity.BLOCK and worst.severity is not Severity.BLOCK)
        ):
            worst = found
    return [worst] if worst is not None else []


def rule_change_pct(c: CheckInput) -> list[Finding]:
    """Limits on the change per session, in %, for each weekday's dose (a weekday
    schedule raised by 50 % is as much a change as the whole week raised by 50 %) and for
    the maximum 24 h dose with every allowed bolus (bolus allowances count).

    The change is measured from the program running now AND from the program in force
    24 hours earlier (``c.baseline``), and the most severe finding is kept: sending
    +20 % three times in a row is +72.8 %, not three changes of +20 %. A restart of a
    stopped pump, or a first program, is checked by :func:`rule_starting_dose`."""
    if c.product is None:
        return []
    limit = c.product.limits.change_pct
    new = _daily_totals(c.new)
    bases: list[tuple[Program, str]] = [(c.state.program, "The change from the current dose")]
    if c.baseline is not None and c.baseline != c.state.program:
        base_total = _fmt(max(_daily_totals(c.baseline)))
        bases.append(
            (
                c.baseline,
                "The change from the dose in force 24 hours ago "
                f"({base_total} mcg/24 h, before the changes sent since)",
            )
        )
    worst: Finding | None = None
    for program, what in bases:
        pairs = list(zip(_daily_totals(program), new, strict=True))
        pairs.append((_max24(c, program), _max24(c, c.new)))
        for before, after in pairs:
            change = dosing.dose_change(before, after)
            if change.change_pct is None:
                continue
            found = _limit_finding(limit, change.change_pct, what, "%", "daily_dose", "change_pct")
            if found is not None and (
                worst is None
                or (found.severity is Severity.BLOCK and worst.severity is not Severity.BLOCK)
            ):
                worst = found
    return [worst] if worst is not None else []


#: A first program (no dose on record) above twice the largest screening test dose
#: (100 mcg, domain.md) needs a reason; above the drug library's usual maximum daily dose
#: it is a slip (a per-hour rate read as a daily dose, an extra zero) and is blocked.
FIRST_PROGRAM_SOFT_MAX_MCG = 200


def rule_starting_dose(c: CheckInput) -> list[Finding]:
    """A restart of a stopped pump, or a first program, has no current dose to measure a
    % change from, so it is measured from the patient's own history: the last program on
    record that delivered a dose. Its maximum 24 h dose more than the library's hard %
    increase above that dose is blocked (a restart at 1,400 mcg/day after 500 mcg/day is
    +180 %); more than the soft % needs a reason, and so does any restart. With no dose on
    record at all, above the usual maximum daily dose is blocked and above twice the
    largest screening dose needs a reason."""
    if max(_daily_totals(c.state.program)) > 0 or max(_daily_totals(c.new)) <= 0:
        return []
    new24 = _max24(c, c.new)
    if c.last_nonzero is not None and c.product is not None:
        ref = _max24(c, c.last_nonzero)
        change = dosing.dose_change(ref, new24)
        limit = c.product.limits.change_pct
        if change.change_pct is not None:
            pct = change.change_pct
            shown = f"{_fmt(new24)} mcg in 24 h, {'+' if pct >= 0 else ''}{_fmt(pct)} %"
            if pct > Fraction(limit.hard_max):
                return [
                    Finding(
                        "starting_dose",
                        Severity.BLOCK,
                        f"Restarting at {shown} from the last dose in force "
                        f"({_fmt(ref)} mcg in 24 h) is more than the hard limit of "
                        f"+{limit.hard_max} %. After a stop, restart at or near the last "
                        "dose and titrate up; check the number and its unit.",
                        "daily_dose",
                    )
                ]
            return [
                Finding(
                    "starting_dose",
                    Severity.SOFT,
                    f"The pump delivers nothing now: restarting at {shown} from the last "
                    f"dose in force ({_fmt(ref)} mcg in 24 h). Check it against the "
                    "prescription; to go ahead, type the clinical reason.",
                    "daily_dose",
                )
            ]
    usual_max = Fraction(c.product.limits.daily_dose_mcg.soft_max) if c.product else None
    if usual_max is not None and new24 > usual_max:
        return [
            Finding(
                "starting_dose",
                Severity.BLOCK,
                f"A first program of {_fmt(new24)} mcg in 24 h with no dose on record is "
                f"above the usual maximum daily dose ({_fmt(usual_max)} mcg): almost "
                "certainly a slip (an hourly rate read as a daily dose, or an extra zero). "
                "Start low and titrate.",
                "daily_dose",
            )
        ]
    extra = (
        f" It is more than twice the largest screening dose ({FIRST_PROGRAM_SOFT_MAX_MCG} mcg)."
        if new24 > FIRST_PROGRAM_SOFT_MAX_MCG
        else ""
    )
    return [
        Finding(
            "starting_dose",
            Severity.SOFT,
            f"No dose is on record for this pump: {_fmt(new24)} mcg in 24 h is a starting "
            f"dose.{extra} Check it against the screening result and the prescription; to go "
            "ahead, type the clinical reason.",
            "daily_dose",
        )
    ]


#: A cut of more than this in the maximum 24 h dose, or a stop, is a withdrawal risk.
WITHDRAWAL_CUT_PCT = Fraction(-20)


def rule_withdrawal(c: CheckInput) -> list[Finding]:
    """A large cut or a stop risks abrupt baclofen withdrawal (boxed warning): high fever,
    altered mental state, rebound spasticity, rigidity, progressing over 24-72 hours to
    rhabdomyolysis and death. The finding says so in those words and asks for the cover
    plan (for example oral baclofen) as its reason, which is recorded with the change."""
    # The continuous dose is what the patient surely gets: boluses are taken or not, so a
    # cut is measured on it (and on the 24 h maximum), whichever is the larger cut.
    cuts = [
        (before, after)
        for before, after in (
            (max(_daily_totals(c.state.program)), max(_daily_totals(c.new))),
            (_max24(c, c.state.program), _max24(c, c.new)),
        )
        if before > 0 and after < before
    ]
    if not cuts:
        return []
    before, after = min(cuts, key=lambda ba: ba[1] / ba[0])
    change = dosing.dose_change(before, after)
    stop = max(_daily_totals(c.new)) <= 0
    if not stop and change.change_pct is not None and change.change_pct >= WITHDRAWAL_CUT_PCT:
        return []
    what = (
        "stops continuous delivery"
        if stop
        else f"cuts the dose by {_fmt(-change.change_pct if change.change_pct else 0)} %"
    )
    return [
        Finding(
            "withdrawal",
            Severity.SOFT,
            f"This program {what} (from {_fmt(before)} to {_fmt(after)} mcg in 24 h): risk "
            "of ABRUPT BACLOFEN WITHDRAWAL. Watch for itching without rash, fever, altered "
            "mental state, rebound spasticity and rigidity; it can become life-threatening "
            "within 24-72 hours. As the reason, record the cover plan (for example oral "
            "baclofen, dose and who gives it) and who will watch the patient.",
            "daily_dose",
        )
    ]


def rule_bolus_dose(c: CheckInput) -> list[Finding]:
    """Bolus-dose limits on a single bolus (a priming bolus is checked by
    :func:`rule_priming` instead) and on the patient bolus dose."""
    if c.product is None:
        return []
    limit = c.product.limits.bolus_dose_mcg
    out: list[Finding] = []
    if c.new.mode is Mode.SINGLE_BOLUS and c.priming is None and c.supplied_priming is None:
        found = _limit_finding(
            limit,
            Fraction(c.new.bolus_dose_mcg),
            "The single bolus dose",
            "mcg",
            "bolus",
            "bolus_dose_mcg",
        )
        if found is not None:
            out.append(found)
    if c.new.patient_bolus is not None:
        found = _limit_finding(
            limit,
            Fraction(c.new.patient_bolus.dose_mcg),
            "The patient bolus dose",
            "mcg",
            "patient_bolus",
            "bolus_dose_mcg",
        )
        if found is not None:
            out.append(found)
    return out


def rule_boluses_per_day(c: CheckInput) -> list[Finding]:
    """Limits on the patient boluses allowed per day, the lockout between them
    (``lockout_minutes``), and clinician single boluses in 24 hours
    (``single_boluses_per_day``, and their total against the bolus hard limit): a third
    bolus within half an hour is a slip, not a titration. All from the drug library."""
    out: list[Finding] = []
    pb = c.new.patient_bolus
    if c.product is not None and pb is not None:
        found = _limit_finding(
            c.product.limits.boluses_per_day,
            Fraction(pb.max_per_day),
            "Patient boluses allowed per day",
            "a day",
            "patient_bolus",
            "boluses_per_day",
        )
        if found is not None:
            out.append(found)
    if c.product is not None and pb is not None and pb.max_per_day > 0:
        found = _limit_finding(
            c.product.limits.lockout_minutes,
            Fraction(pb.lockout_minutes),
            "A patient-bolus lockout of",
            "min",
            "patient_bolus",
            "lockout",
        )
        if found is not None:
            out.append(found)
    if (
        c.product is not None
        and c.new.mode is Mode.SINGLE_BOLUS
        and c.priming is None
        and c.supplied_priming is None
    ):
        earlier = c.recent_single_boluses_mcg
        count = len(earlier) + 1
        total = sum(earlier, Fraction(0)) + Fraction(c.new.bolus_dose_mcg)
        hard = Fraction(c.product.limits.bolus_dose_mcg.hard_max)
        found = _limit_finding(
            c.product.limits.single_boluses_per_day,
            Fraction(count),
            f"This would be single bolus {count} in 24 hours ({_fmt(total)} mcg in all):",
            "boluses",
            "bolus",
            "bolus_count",
        )
        if total > hard:
            found = Finding(
                "bolus_count",
                Severity.BLOCK,
                f"Single boluses in 24 hours would total {_fmt(total)} mcg, more than the "
                f"bolus hard limit ({_fmt(hard)} mcg). Wait, and assess the patient.",
                "bolus",
            )
        if found is not None:
            out.append(found)
    return out


def rule_unit_slip(c: CheckInput) -> list[Finding]:
    """A flex step whose rate per hour equals or exceeds the whole previous daily dose is
    blocked: almost certainly a daily dose typed into a per-hour field (ISMP: 60 mcg/h
    for 60 mcg/day). From a stopped pump the previous daily dose is that of the last
    program on record that delivered a dose (``c.last_nonzero``), or with none on record
    the drug library's usual maximum daily dose."""
    previous = max(_daily_totals(c.state.program))
    basis = "the whole current daily dose"
    if previous <= 0 and c.last_nonzero is not None:
        previous = max(_daily_totals(c.last_nonzero))
        basis = "the whole daily dose of the last program before the pump was stopped"
    if previous <= 0 and c.product is not None:
        # No dose on record: a rate that, held for a day, would be above the usual maximum
        # daily dose reads as a daily dose typed per hour (60 mcg/h is 1,440 mcg a day).
        usual = Fraction(c.product.limits.daily_dose_mcg.soft_max)
        for step in _all_steps(c.new):
            if Fraction(step.rate_mcg_per_hour) * 24 > usual:
                return [
                    Finding(
                        "unit_slip",
                        Severity.BLOCK,
                        f"A flex step of {_fmt(Fraction(step.rate_mcg_per_hour), 2)} mcg per "
                        f"HOUR is {_fmt(Fraction(step.rate_mcg_per_hour) * 24)} mcg per DAY, "
                        f"above the usual maximum daily dose ({_fmt(usual)} mcg), and no dose is "
                        "on "
                        "record for this pump. This looks like a daily dose typed as an "
                        "hourly rate. Enter the rate in mcg/h.",
                        "flex",
                    )
                ]
        return []
    if previous <= 0:
        return []
    for step in _all_steps(c.new):
        if Fraction(step.rate_mcg_per_hour) >= previous:
            return [
                Finding(
                    "unit_slip",
                    Severity.BLOCK,
                    f"A flex step of {_fmt(Fraction(step.rate_mcg_per_hour), 2)} mcg per HOUR "
                    f"would give in one hour {basis} "
                    f"({_fmt(previous)} mcg per DAY). This looks like a daily dose typed as an "
                    "hourly rate. Enter the rate in mcg/h.",
                    "flex",
                )
            ]
    return []


def rule_concentration(c: CheckInput) -> list[Finding]:
    """The program's concentration must be the reservoir's: a lower one programmed than is
    in the pump makes it deliver an overdose (ISMP). A program prepared for a coming refill
    with another concentration is allowed, but cannot be sent until the pump holds it."""
    if c.concentration_mcg_ml == c.state.concentration_mcg_ml:
        return []
    text = (
        f"The program is for {c.concentration_mcg_ml} mcg/mL but the pump reports "
        f"{c.state.concentration_mcg_ml} mcg/mL in its reservoir."
    )
    if c.purpose == "prepare":
        return [
            Finding(
                "concentration",
                Severity.WARNING,
                text + f" It can be sent only after a refill with {c.concentration_mcg_ml} mcg/mL.",
                "concentration",
            )
        ]
    return [
        Finding(
            "concentration",
            Severity.BLOCK,
            text + " Program at the reservoir's concentration.",
            "concentration",
        )
    ]


def rule_records_concentration(c: CheckInput) -> list[Finding]:
    """The pump's concentration must match the records (the last confirmed refill): the
    pump delivers volume, so a stronger drug than recorded is an overdose by the ratio
    (500 -> 2000 mcg/mL is four times). Programming is blocked until a refill records the
    concentration, with a clinician's explanation of the difference."""
    rec = c.records_concentration_mcg_ml
    pump = c.state.concentration_mcg_ml
    if rec is None or rec == pump:
        return []
    ratio = Fraction(pump, rec)
    effect = (
        f"{float(ratio):g} times the prescribed dose"
        if ratio > 1
        else f"only {float(ratio * 100):g} % of the prescribed dose (withdrawal risk)"
    )
    return [
        Finding(
            "records_concentration",
            Severity.BLOCK,
            f"The pump says {pump} mcg/mL; the records say {rec} mcg/mL. The patient may be "
            f"getting {effect}. Do not program until a clinician has found which is right; "
            "the difference is resolved by a refill that records the concentration (step 1 "
            "asks for the explanation).",
            "concentration",
        )
    ]


def rule_precision(c: CheckInput) -> list[Finding]:
    """The pump takes doses in whole nanograms: 0.001 mcg is the finest step."""
    amounts = [c.new.daily_dose_mcg, c.new.bolus_dose_mcg]
    amounts += [s.rate_mcg_per_hour for s in _all_steps(c.new)]
    if c.new.patient_bolus is not None:
        amounts.append(c.new.patient_bolus.dose_mcg)
    if any((Fraction(a) * 1000).denominator != 1 for a in amounts):
        return [
            Finding(
                "precision",
                Severity.BLOCK,
                "A dose is more precise than 0.001 mcg, which the pump cannot take. "
                "Round it to three decimals.",
                "",
            )
        ]
    return []


#: A priming bolus on a pump implanted longer ago than this is questioned in the finding.
PRIMING_NEW_IMPLANT_DAYS = 30


def rule_priming(c: CheckInput) -> list[Finding]:
    """A priming bolus must be exactly the dead volume recorded on the pump at this
    concentration (worked out here from the :class:`Pump`, never taken from the caller);
    with no dead volume recorded it cannot be worked out at all. It escapes the bolus-dose
    limit, so it is a SOFT finding: a clinician types why (implant or catheter revision
    and its date)."""
    if c.supplied_priming is None:
        return []
    if c.pump is None or c.priming is None:
        return [
            Finding(
                "priming",
                Severity.BLOCK,
                "A priming bolus can be checked only against the pump's record (its dead "
                "volume and catheter). Open the change from the patient's pump.",
                "bolus",
            )
        ]
    plan, given = c.priming, c.supplied_priming
    if plan.volume_ul <= 0 or c.pump.catheter_length_cm <= 0 or c.pump.catheter_ul_per_cm <= 0:
        return [
            Finding(
                "priming",
                Severity.BLOCK,
                "The pump's dead volume and catheter (length and volume per cm) are not all "
                "recorded, so the priming volume cannot be worked out. Record them on the "
                "pump first.",
                "bolus",
            )
        ]
    if (
        given.volume_ul != plan.volume_ul
        or given.dose_mcg != plan.dose_mcg
        or given.concentration_mcg_ml != plan.concentration_mcg_ml
        or c.new.mode is not Mode.SINGLE_BOLUS
        or c.new.bolus_dose_mcg != plan.dose_mcg
        or c.new.bolus_duration_minutes != plan.duration_minutes
    ):
        return [
            Finding(
                "priming",
                Severity.BLOCK,
                f"The bolus differs from the priming volume worked out from the dead "
                f"volumes recorded on pump {c.pump.serial} ({_fmt(plan.volume_ul)} µL, "
                f"{plan.dose_mcg} mcg at {c.concentration_mcg_ml} mcg/mL). Start the priming "
                "bolus again.",
                "bolus",
            )
        ]
    message = (
        f"Priming bolus {_fmt(plan.volume_ul)} µL ({plan.dose_mcg} mcg at "
        f"{plan.concentration_mcg_ml} mcg/mL) fills "
        + ("the catheter" if plan.priming.catheter_only else "the pump and catheter")
        + "; it is checked against the dead volume, not the bolus-dose limit. "
    )
    implant = c.pump.implant_date
    today = c.state.read_at.astimezone(c.tz).date()

    def recent(day: date | None) -> bool:
        return day is not None and 0 <= (today - day).days <= PRIMING_NEW_IMPLANT_DAYS

    revision = c.catheter_revised_on
    if recent(revision) and not recent(implant) and plan.priming.catheter_only:
        assert revision is not None
        message += (
            f"The catheter was revised on {revision:%d %b %Y} (on record). Type the reason "
            "(the revision and who did it) to go ahead."
        )
        return [Finding("priming", Severity.SOFT, message, "bolus")]
    if not recent(implant):
        when = (
            "has no implant date recorded"
            if implant is None
            else f"was implanted on {implant:%d %b %Y}, {(today - implant).days} days ago"
        )
        after = (
            f" The catheter was revised on {revision:%d %b %Y}: prime the catheter only."
            if recent(revision)
            else ""
        )
        return [
            Finding(
                "priming",
                Severity.BLOCK,
                f"The pump {when}. A priming bolus is only for a pump implanted (or a catheter "
                f"revised) in the last {PRIMING_NEW_IMPLANT_DAYS} days, as recorded on the "
                "pump; on a primed system this bolus is an overdose. Record the implant or "
                f"the catheter revision first.{after}",
                "bolus",
            )
        ]
    assert implant is not None
    message += (
        f"The pump was implanted on {implant:%d %b %Y}. Type the reason (the implant or "
        "catheter revision and who did it) to go ahead."
    )
    return [Finding("priming", Severity.SOFT, message, "bolus")]


def rule_alarm_date(c: CheckInput) -> list[Finding]:
    """Warn when the new program's alarm date comes before the refill date that the
    current program set, or when its own refill-by date is earlier than the current one
    (there is no booking calendar; the recommended refill date is what the patient was
    told)."""
    refill_by = c.current_forecast.refill_by
    alarm_at = c.new_forecast.alarm_at
    if refill_by is None or alarm_at is None or c.current_forecast.alarm_at is None:
        return []
    alarm_day = alarm_at.astimezone(c.tz).date()
    if alarm_day < refill_by:
        return [
            Finding(
                "alarm_date",
                Severity.WARNING,
                f"With the new program the low-reservoir alarm comes on {alarm_day:%d %b %Y}, "
                f"before the planned refill date {refill_by:%d %b %Y}. Book an earlier refill.",
                "",
            )
        ]
    new_refill = c.new_forecast.refill_by
    if new_refill is not None and new_refill < refill_by:
        return [
            Finding(
                "alarm_date",
                Severity.WARNING,
                f"With the new program the pump must be refilled by {new_refill:%d %b %Y}, "
                f"earlier than the planned refill date {refill_by:%d %b %Y} (low-reservoir "
                f"alarm on {alarm_day:%d %b %Y}). Move the refill appointment forward.",
                "",
            )
        ]
    return []


def rule_role(c: CheckInput) -> list[Finding]:
    """Only a clinician or an administrator sends; a nurse prepares for review."""
    if c.purpose == "prepare" or c.user.can_send_program():
        return []
    return [
        Finding(
            "role",
            Severity.BLOCK,
            f"{c.user.name} is signed in as {c.user.role.value}: only a clinician or an "
            "administrator can send a program. Save it for review instead.",
            "",
        )
    ]


def rule_no_change(c: CheckInput) -> list[Finding]:
    if c.new == c.state.program and c.purpose == "send":
        return [
            Finding(
                "no_change",
                Severity.BLOCK,
                "The pending program is the same as the current one: nothing to send.",
                "",
            )
        ]
    return []


Rule = Callable[[CheckInput], list[Finding]]

#: Rules that block sending a program but not saving it for review: the same program, a
#: concentration the pump will hold after a refill, a nurse's role.
SEND_ONLY_RULES = frozenset({"no_change", "concentration", "role"})

#: Every rule, in the order its findings are shown.
RULES: tuple[Rule, ...] = (
    rule_role,
    rule_concentration,
    rule_records_concentration,
    rule_product,
    rule_no_change,
    rule_precision,
    rule_unit_slip,
    rule_daily_dose,
    rule_change_pct,
    rule_starting_dose,
    rule_withdrawal,
    rule_bolus_dose,
    rule_boluses_per_day,
    rule_priming,
    rule_alarm_date,
)


@dataclass(frozen=True)
class CheckContext:
    """What a check reads besides the pump's state and the pending program: the clinic's
    drug library and settings and the patient's records. Kept with the check, so the same
    check can run again at the point of action on the state the pump reports then."""

    library: DrugLibrary
    tz: tzinfo
    priming: PrimingPlan | None = None
    pump: Pump | None = None
    history: tuple[ProgramChange, ...] = ()
    facts: PumpFacts | None = None
    settings: ClinicSettings | None = None
    catheter_revised_on: date | None = None


@dataclass(frozen=True)
class ProgramCheck:
    """The verdict on a pending program, with everything the editor shows beside it."""

    state: PumpState
    new: Program
    concentration_mcg_ml: int
    product: DrugProduct | None
    user: User
    purpose: str
    findings: tuple[Finding, ...]
    change: dosing.DoseChange
    current_forecast: Forecast
    new_forecast: Forecast
    step_rates: tuple[dosing.FlexStepRate, ...]
    priming: PrimingPlan | None = None
    context: CheckContext | None = None

    @property
    def blocks(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCK)

    @property
    def soft(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.SOFT)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def blocked(self) -> bool:
        return bool(self.blocks)


#: The window over which the % change per session is counted (repeated sends add up).
CHANGE_WINDOW = timedelta(hours=24)
_IN_FORCE = (ChangeOutcome.SUCCEEDED, ChangeOutcome.UNCERTAIN)


def change_baseline(
    history: Sequence[ProgramChange], now: datetime, window: timedelta = CHANGE_WINDOW
) -> Program | None:
    """The program in force ``window`` before ``now``: the ``old`` program of the earliest
    change (succeeded or uncertain) made within the window, or None when there was none
    (then the program running now is the baseline)."""
    recent = [ch for ch in history if ch.outcome in _IN_FORCE and now - window <= ch.at]
    if not recent:
        return None
    return min(recent, key=lambda ch: (ch.at, ch.id or 0)).old


def last_delivering_program(history: Sequence[ProgramChange]) -> Program | None:
    """The most recent program on record that delivered a dose: the new program of a
    succeeded change, or the old program of any change sent (the one it replaced)."""
    for ch in sorted(history, key=lambda ch: (ch.at, ch.id or 0), reverse=True):
        candidates = [ch.new] if ch.outcome == ChangeOutcome.SUCCEEDED else []
        if ch.outcome in _IN_FORCE:
            candidates.append(ch.old)
        for program in candidates:
            if max(_daily_totals(program)) > 0:
                return program
    return None


def check_program(
    state: PumpState,
    new: Program,
    concentration_mcg_ml: int,
    user: User,
    library: DrugLibrary,
    tz: tzinfo,
    *,
    purpose: str = "send",
    priming: PrimingPlan | None = None,
    pump: Pump | None = None,
    history: Sequence[ProgramChange] = (),
    now: datetime | None = None,
    facts: PumpFacts | None = None,
    settings: ClinicSettings | None = None,
    rules: Sequence[Rule] | None = None,
    catheter_revised_on: date | None = None,
) -> ProgramCheck:
    """Run every rule on ``new`` against the pump's ``state``.

    ``purpose`` is "send" (all rules) or "prepare" (a program saved for review: the role
    rule does not apply and another concentration is a warning, not a block).

    ``priming`` says a priming bolus is meant (implant or catheter revision, and its
    duration); its volume and dose are worked out again here from ``pump`` (the pump's
    record), never trusted from the caller. ``history`` is the stored program changes of
    the patient (any pump; only ``state.pump_serial``'s count): the % change is measured
    from the program in force 24 hours before ``now`` (default: the time now) as well
    as from the current one, and a restart of a stopped pump is checked against the last
    program that delivered a dose.

    The current and the new alarm and refill-by dates are the forecast's
    (:mod:`itbconsole.forecast`): ``facts`` are the pump's records (the clinic service's
    ``pump_facts``; without them only this state is known), ``settings`` the clinic's.
    """
    if purpose not in ("send", "prepare"):
        raise ValueError("purpose is 'send' or 'prepare'")
    if concentration_mcg_ml <= 0:
        raise ProgrammingError("Enter the concentration in the reservoir (mcg/mL).")
    product = find_product(library, state.drug_name, concentration_mcg_ml)

    settings = settings or ClinicSettings().with_tz(tz)
    base = facts or PumpFacts(state.pump_serial, state.alarm_volume_ul)
    if state.live or not base.readings:
        base = with_reading(base, state.as_reading())
    # The new program runs from the send (``now``), or from the reading when no time is given.
    sent_at = max(now, state.read_at) if now is not None else state.read_at
    current_forecast = forecast(base, settings)
    new_forecast = forecast(
        with_change(base, sent_at, state.program, new, concentration_mcg_ml), settings
    )
    checked_plan: PrimingPlan | None = None
    if priming is not None and pump is not None and pump.serial == state.pump_serial:
        checked_plan = priming_plan(
            pump,
            concentration_mcg_ml,
            priming.duration_minutes,
            catheter_only=priming.priming.catheter_only,
        )
    mine = [ch for ch in history if ch.pump_serial == state.pump_serial]
    c = CheckInput(
        state,
        new,
        concentration_mcg_ml,
        product,
        user,
        purpose,
        checked_plan,
        current_forecast,
        new_forecast,
        tz,
        pump=pump,
        supplied_priming=priming,
        baseline=change_baseline(mine, now or datetime.now(UTC)),
        last_nonzero=last_delivering_program(mine),
        recent_single_boluses_mcg=tuple(
            Fraction(ch.new.bolus_dose_mcg)
            for ch in mine
            if ch.new.mode is Mode.SINGLE_BOLUS
            and ch.outcome in _IN_FORCE
            and sent_at - CHANGE_WINDOW < ch.at <= sent_at
        ),
        records_concentration_mcg_ml=(
            facts.latest_fill.concentration_mcg_ml
            if facts is not None and facts.latest_fill is not None
            else None
        ),
        catheter_revised_on=catheter_revised_on,
    )
    findings = tuple(f for rule in (RULES if rules is None else rules) for f in rule(c))
    return ProgramCheck(
        state=state,
        new=new,
        concentration_mcg_ml=concentration_mcg_ml,
        product=product,
        user=user,
        purpose=purpose,
        findings=findings,
        change=dosing.dose_change(
            dosing.program_daily_dose_mcg(state.program), dosing.program_daily_dose_mcg(new)
        ),
        current_forecast=current_forecast,
        new_forecast=new_forecast,
        step_rates=dosing.flex_step_rates(new.flex_steps, concentration_mcg_ml)
        if new.mode is Mode.FLEX
        else (),
        priming=checked_plan,
        context=CheckContext(
            library, tz, priming, pump, tuple(history), facts, settings, catheter_revised_on
        ),
    )


def recheck(check: ProgramCheck, state: PumpState, now: datetime) -> ProgramCheck:
    """The same check (program, concentration, user, purpose, records) run again on
    ``state``: the pump as it is when the change is about to be sent."""
    if check.context is None:
        raise ProgrammingError("This check cannot be repeated: check the program again.")
    ctx = check.context
    return check_program(
        state, check.new, check.concentration_mcg_ml, check.user, ctx.library, ctx.tz,
        purpose=check.purpose, priming=ctx.priming, pump=ctx.pump, history=ctx.history,
        now=now, facts=ctx.facts, settings=ctx.settings,
        catheter_revised_on=ctx.catheter_revised_on,
    )  # fmt: skip


def reason_is_enough(text: str) -> bool:
    """A reason a clinician would write: at least :data:`MIN_REASON_CHARS` letters or
    digits in at least :data:`MIN_REASON_WORDS` words. "abcd" is not a reason."""
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    return sum(ch.isalnum() for ch in text) >= MIN_REASON_CHARS and len(words) >= MIN_REASON_WORDS


REASON_HINT = f"a few words, at least {MIN_REASON_CHARS} letters"


#: Why a soft limit may be overridden: the category is chosen from this list and a note
#: of real words says the specifics (a typed reason alone is not a safety mechanism).
OVERRIDE_CATEGORIES = (
    "Titration agreed with the patient",
    "Prescribed by the consultant",
    "Restart after a pump or catheter problem",
    "Withdrawal cover plan in place",
    "New implant or catheter revision",
    "Clinical trial protocol",
)
#: Overrides of these rules are severe enough to need a second clinician's confirmation
#: (a recorded second name; a second sign-in once accounts exist).
SECOND_CHECK_RULES = frozenset({"withdrawal", "starting_dose", "priming", "daily_dose_mcg"})


def override_text(category: str, note: str) -> str:
    """The stored form of an override: the category chosen, then the note."""
    return f"{category}: {' '.join(note.split())}"


def override_is_enough(text: str) -> bool:
    """A category from :data:`OVERRIDE_CATEGORIES` followed by a note of real words."""
    for category in OVERRIDE_CATEGORIES:
        if text.startswith(category + ":"):
            return reason_is_enough(text[len(category) + 1 :])
    return False


def second_check_findings(check: ProgramCheck) -> tuple[Finding, ...]:
    """The soft findings whose override needs a second clinician."""
    return tuple(f for f in check.soft if f.rule in SECOND_CHECK_RULES)


def missing_reasons(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    second_clinician: str = "",
) -> list[str]:
    """What still has to be given before the change can go ahead (empty: nothing): the
    change's reason, a category and note for each soft-limit override, and for a severe
    override a second clinician's name (not the sender's)."""
    missing = []
    if not reason_is_enough(reason):
        missing.append(f"Type the reason for this change ({REASON_HINT}).")
    for finding in check.soft:
        if not override_is_enough(override_reasons.get(finding.key, "")):
            missing.append(
                f"Choose why the limit is overridden and add a note ({REASON_HINT}): "
                f"{finding.message}"
            )
    if second_check_findings(check):
        second = " ".join(second_clinician.split())
        if len(second) < 3 or second.casefold() == check.user.name.casefold():
            missing.append(
                "A second clinician must confirm this override: enter their name (not yours)."
            )
    return missing


def override_records(
    check: ProgramCheck, override_reasons: Mapping[str, str], second_clinician: str = ""
) -> tuple[str, ...]:
    """The text stored with the change for every soft-limit override and every warning,
    and the second clinician who confirmed a severe override."""
    out = []
    for finding in check.findings:
        if finding.severity is Severity.SOFT:
            out.append(
                f"soft limit {finding.rule} overridden: {finding.message} "
                f"Reason: {override_reasons[finding.key].strip()}"
            )
        elif finding.severity is Severity.WARNING:
            out.append(f"warning {finding.rule} shown: {finding.message}")
    severe = second_check_findings(check)
    if severe:
        out.append(
            f"second clinician {' '.join(second_clinician.split())} confirmed the override of "
            + ", ".join(sorted({f.rule for f in severe}))
        )
    return tuple(out)


def build_change(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    *,
    at: datetime | None = None,
    second_clinician: str = "",
) -> ProgramChange:
    """The record of a change about to be sent: who (the store stamps the user), when, why,
    old and new program, concentration, every override and the second clinician who
    confirmed a severe one. Refuses a change that a rule blocks or whose reasons, or
    confirmation, are missing."""
    if check.purpose != "send":
        raise ProgrammingError("This check was for preparing a program, not for sending one.")
    if check.blocked:
        raise ProgrammingError(" ".join(f.message for f in check.blocks))
    missing = missing_reasons(check, reason, override_reasons, second_clinician)
    if missing:
        raise ProgrammingError(" ".join(missing))
    return ProgramChange(
        pump_serial=check.state.pump_serial,
        at=at or datetime.now(UTC),
        old=check.state.program,
        new=check.new,
        concentration_mcg_ml=check.concentration_mcg_ml,
        reason=reason.strip(),
        overrides=override_records(check, override_reasons, second_clinician),
        outcome=ChangeOutcome.UNCERTAIN,
    )


@dataclass(frozen=True)
class ApprovedChange:
    """A change its sender approved: the record to store, the check it passed, and the
    reasons and confirmation given for its soft limits. Sending takes this, never a bare
    record, so the role and the checks can be asked again before a byte is sent."""

    change: ProgramChange
    check: ProgramCheck
    override_reasons: Mapping[str, str]
    second_clinician: str = ""


def approve(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    *,
    at: datetime | None = None,
    second_clinician: str = "",
) -> ApprovedChange:
    """:func:`build_change`, kept together with what it was built from."""
    change = build_change(check, reason, override_reasons, at=at, second_clinician=second_clinician)
    return ApprovedChange(change, check, dict(override_reasons), second_clinician)


def send_refusal(approved: ApprovedChange, user: User, check: ProgramCheck | None = None) -> str:
    """Why ``user`` may not send ``approved`` ('' when they may): the role, the author,
    and every rule of ``check`` (default: the check it was approved on) with the reasons
    and confirmation given."""
    check = check or approved.check
    change = approved.change
    if not user.may(Action.SEND_PROGRAM):
        return user.refusal(Action.SEND_PROGRAM)
    if user != check.user:
        return (
            f"This change was checked for {check.user.name}; {user.name} must check it "
            "again before sending it."
        )
    if check.purpose != "send":
        return "This program was checked for preparing, not for sending: check it again."
    if (change.pump_serial, change.old, change.new, change.concentration_mcg_ml) != (
        check.state.pump_serial, check.state.program, check.new, check.concentration_mcg_ml,
    ):  # fmt: skip
        return "The change differs from the program that was checked: check it again."
    if check.blocked:
        return " ".join(f.message for f in check.blocks)
    missing = missing_reasons(
        check, change.reason, approved.override_reasons, approved.second_clinician
    )
    return " ".join(missing)


def build_prepared(
    check: ProgramCheck, reason: str, user: User, *, at: datetime | None = None
) -> PreparedProgram:
    """A program saved for a clinician to review and send. Hard limits still apply: a
    program that could never be sent is not worth preparing."""
    blocks = [f for f in check.blocks if f.rule != "no_change"]
    if blocks:
        raise ProgrammingError(" ".join(f.message for f in blocks))
    if not reason_is_enough(reason):
        raise ProgrammingError(f"Type the reason for this change ({REASON_HINT}).")
    return PreparedProgram(
        pump_serial=check.state.pump_serial,
        prepared_at=at or datetime.now(UTC),
        program=check.new,
        concentration_mcg_ml=check.concentration_mcg_ml,
        reason=reason.strip(),
        prepared_by=user.name,
        prepared_role=user.role,
    )


# =========================================================================== sending


@dataclass(frozen=True)
class SendResult:
    """What happened at the pump. ``sent`` is False when the pre-send check stopped it
    (nothing was written)."""

    outcome: ChangeOutcome
    message: str
    readback: Program | None = None
    sent: bool = True

    @property
    def succeeded(self) -> bool:
        return self.outcome == ChangeOutcome.SUCCEEDED


def send_program(
    client: PumpClient,
    approved: ApprovedChange,
    user: User,
    *,
    deadline_s: float | None = 60.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendResult:
    """Authorise, check the pump is still as the change assumed, check again, then write,
    read back and compare. Runs on the link thread; touches no records.

    Before a byte is sent: ``user`` must be allowed to send and be the one who approved
    the change, and the approved check must still pass with the reasons given
    (:func:`send_refusal`). Then the pump must be ``change.pump_serial``, report
    ``change.concentration_mcg_ml`` and run ``change.old``; and every rule is run again on
    the state the pump reports now (:func:`recheck`). Otherwise nothing is written
    (``sent`` False, outcome failed). Then the two-phase write of
    :meth:`PumpClient.write_program`; success only when the program read back equals the
    one sent. An unanswered commit whose read-back is impossible is uncertain.
    """
    from drivers.link import LinkError
    from drivers.pump_client import Interrogation, WriteOutcome

    change = approved.change
    refusal = send_refusal(approved, user)
    if refusal:
        return SendResult(ChangeOutcome.FAILED, f"{refusal} Nothing was sent.", sent=False)
    try:
        identity = client.identify(deadline_s=deadline_s)
        status = client.read_status(deadline_s=deadline_s)
        active, started = client.read_program(deadline_s=deadline_s)
    except LinkError as exc:
        return SendResult(
            ChangeOutcome.FAILED, f"{exc} Nothing was sent; the pump keeps its program.", sent=False
        )
    problem = ""
    if identity.serial != change.pump_serial:
        problem = (
            f"The pump under the programmer head is {identity.serial}, not {change.pump_serial}."
        )
    elif status.concentration_mcg_ml != change.concentration_mcg_ml:
        problem = (
            f"The pump reports {status.concentration_mcg_ml} mcg/mL in its reservoir, "
            f"not {change.concentration_mcg_ml} mcg/mL as programmed."
        )
    elif active != change.old:
        problem = (
            "The pump's program has changed since the editor read it. Interrogate "
            "again and start the change from the program the pump runs now."
        )
    elif approved.check.context is not None:
        live = PumpState.from_interrogation(Interrogation(identity, status, active, started))
        again = send_refusal(approved, user, recheck(approved.check, live, now()))
        if again:
            problem = f"Checked again on the pump's state now: {again}"
    if problem:
        return SendResult(ChangeOutcome.FAILED, problem + " Nothing was sent.", active, sent=False)
    result = client.write_program(change.new, current=change.old, deadline_s=deadline_s)
    readback = result.read_back if isinstance(result.read_back, Program) else None
    if result.outcome is WriteOutcome.SUCCEEDED and readback == change.new:
        return SendResult(
            ChangeOutcome.SUCCEEDED,
            "The pump runs the new program: read back and identical to the program sent.",
            readback,
        )
    if result.outcome is WriteOutcome.FAILED:
        return SendResult(ChangeOutcome.FAILED, result.message, readback)
    message = result.message
    if readback is not None and readback != change.new:
        message = (
            "The pump reports a DIFFERENT program from the one sent: it delivers "
            f"{_fmt(dosing.program_daily_dose_mcg(readback))} mcg/24 h, the program sent "
            f"{_fmt(dosing.program_daily_dose_mcg(change.new))} mcg/24 h. Interrogate the "
            "pump again now and correct the program before the patient leaves."
        )
    return SendResult(ChangeOutcome.UNCERTAIN, message, readback)


@dataclass(frozen=True)
class ProgramSend:
    """One send of an approved change, in its only order. :meth:`ClinicService.begin_program_send`
    authorises it and stores the change as *uncertain* before the first byte goes to the
    pump (a crash mid-write leaves the patient flagged, not the change unrecorded);
    :meth:`run` (link thread) checks and writes; :meth:`ClinicService.finish_program_send`
    settles the record with what the pump said."""

    approved: ApprovedChange
    user: User
    prepared_id: int | None = None

    @property
    def intent(self) -> ProgramChange:
        return self.approved.change

    def run(self, client: PumpClient, *, deadline_s: float | None = 60.0) -> SendResult:
        return send_program(client, self.approved, self.user, deadline_s=deadline_s)


def record_intent(
    store: Store, change: ProgramChange, user: User, *, patient_id: int | None = None
) -> ProgramChange:
    """Store the change as *uncertain* before anything is sent. If the console stops
    mid-write (crash, power cut) the patient stays flagged until an interrogation settles
    it, instead of the change vanishing from the record."""
    return store.add_program_change(
        replace(change, outcome=ChangeOutcome.UNCERTAIN), user, patient_id=patient_id
    )


def record_result(
    store: Store,
    intent: ProgramChange,
    result: SendResult,
    user: User,
    *,
    prepared_id: int | None = None,
) -> ProgramChange:
    """Settle the stored intent with what the pump said: succeeded or failed rows correct
    it (with the read-back); an uncertain outcome stays uncertain (a read-back that differs
    is kept in the audit log) until :func:`resolve_uncertain` settles it. A prepared program
    it came from is closed as sent only when the change succeeded; after an uncertain
    outcome it stays open until :func:`resolve_uncertain` settles it as succeeded."""
    assert intent.id is not None
    settled = intent
    if result.outcome in (ChangeOutcome.SUCCEEDED, ChangeOutcome.FAILED):
        note = result.message if result.sent else f"Not sent: {result.message}"
        settled = store.resolve_program_change(
            intent.id, result.outcome, user, readback=result.readback, note=note
        )
    elif result.readback is not None:
        store.record_action(
            "program_readback_differs",
            {
                "program_change_id": intent.id,
                "pump_serial": intent.pump_serial,
                "readback": result.readback.to_dict(),
                "message": result.message,
            },
            user,
        )
    if prepared_id is not None and result.outcome == ChangeOutcome.SUCCEEDED:
        store.mark_prepared_program_sent(prepared_id, settled.id or intent.id, user)
    return settled


# =========================================================================== flex times


def hhmm(minute: int) -> str:
    """Minutes after midnight as HH:MM (1440 as 24:00, the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_hhmm(text: str) -> int:
    """``"07:30"`` (or ``"7:30"``, ``"0730"``) -> 450. Refuses anything else with a
    message for the user: a step time is never guessed."""
    raw = text.strip()
    if ":" in raw:
        hours_text, _, minutes_text = raw.partition(":")
    elif raw.isdigit() and len(raw) in (3, 4):
        hours_text, minutes_text = raw[:-2], raw[-2:]
    else:
        hours_text, minutes_text = "", ""
    if not (hours_text.isdigit() and minutes_text.isdigit() and len(minutes_text) == 2):
        raise ProgrammingError(f"'{text}' is not a time: write it as HH:MM, e.g. 07:30.")
    hours, minutes = int(hours_text), int(minutes_text)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ProgrammingError(f"'{text}' is not a time of day (00:00 to 23:59).")
    return hours * 60 + minutes


def local_equivalent(minute: int, day: date, tz: tzinfo, clock_offset_s: float = 0.0) -> datetime:
    """The local time at which the pump clock (UTC, running ``clock_offset_s`` ahead)
    reads ``minute`` on ``day``."""
    pump_time = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minute)
    return (pump_time - timedelta(seconds=clock_offset_s)).astimezone(tz)


def local_equivalents(
    steps: Sequence[FlexStep], day: date, tz: tzinfo, clock_offset_s: float = 0.0
) -> list[str]:
    """Each step's start as local time on ``day`` (HH:MM, "+1 d"/"-1 d" when the local
    time falls on another calendar day)."""
    out = []
    for step in steps:
        local = local_equivalent(step.start_minute, day, tz, clock_offset_s)
        shift = (local.date() - day).days
        suffix = "" if shift == 0 else f" ({'+' if shift > 0 else ''}{shift} d)"
        out.append(f"{local:%H:%M}{suffix}")
    return out


@dataclass(frozen=True)
class ZoneChange:
    """The next change of the local zone's offset from UTC."""

    day: date
    shift_minutes: int


def next_zone_change(start: datetime, tz: tzinfo, days: int = 370) -> ZoneChange | None:
    """The first local day after ``start`` whose UTC offset differs (a clock change), or
    None within ``days``. From that day the local time of every flex step moves by the
    shift, because the pump keeps UTC."""

    def offset(moment: datetime) -> timedelta:
        off = moment.astimezone(tz).utcoffset()
        return off if off is not None else timedelta(0)

    base = start.astimezone(UTC)
    first = offset(base)
    for n in range(1, days + 1):
        probe = base + timedelta(days=n)
        if offset(probe) != first:
            return ZoneChange(
                probe.astimezone(tz).date(), int((offset(probe) - first).total_seconds() // 60)
            )
    return None


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
            f"{hhmm(s.start_minute)}-{hhmm(end)} {_fmt(Fraction(s.rate_mcg_per_hour), 3)} mcg/h"
        )
    return "\n".join(parts)


def _program_rows(program: Program, concentration: int) -> dict[str, str]:
    pb = program.patient_bolus
    rows = {
        "Mode": MODE_TEXT[program.mode],
        "Concentration": f"{concentration} mcg/mL",
        "Total per 24 h": f"{_fmt(dosing.program_daily_dose_mcg(program))} mcg/24 h",
        "Flex steps (pump clock, UTC)": _steps_text(program.flex_steps)
        if program.mode is Mode.FLEX
        else "-",
        "Weekday schedules": "\n".join(
            f"{WEEKDAYS[d]}: {_fmt(dosing.flex_daily_total_mcg(st))} mcg/24 h"
            for d, st in sorted(program.flex_weekday_steps)
        )
        or "-",
        "Single bolus": f"{program.bolus_dose_mcg} mcg over {program.bolus_duration_minutes} min"
        if program.mode is Mode.SINGLE_BOLUS
        else "-",
        "Patient bolus dose": f"{pb.dose_mcg} mcg over {pb.duration_minutes} min" if pb else "none",
        "Patient bolus lockout": f"{pb.lockout_minutes} min" if pb else "-",
        "Patient boluses per day": f"{pb.max_per_day} a day" if pb else "-",
        "Maximum 24 h dose (every allowed bolus)": f"{_fmt(dosing.max_24h_dose_mcg(program))} mcg",
    }
    return rows


def review_rows(check: ProgramCheck, tz: tzinfo) -> list[ReviewRow]:
    """Current vs pending, field by field, for the last screen before sending."""
    cur = _program_rows(check.state.program, check.state.concentration_mcg_ml)
    new = _program_rows(check.new, check.concentration_mcg_ml)
    rows = [ReviewRow(k, cur[k], new[k]) for k in cur]

    def alarm(f: Forecast) -> str:
        return (
            "none (not delivering)"
            if f.alarm_at is None
            else f"{f.alarm_at.astimezone(tz):%d %b %Y}"
        )

    def refill(f: Forecast) -> str:
        return "-" if f.refill_by is None else f"{f.refill_by:%d %b %Y}"

    rows.append(
        ReviewRow("Low-reservoir alarm", alarm(check.current_forecast), alarm(check.new_forecast))
    )
    rows.append(ReviewRow("Refill by", refill(check.current_forecast), refill(check.new_forecast)))
    return rows


def change_text(change: dosing.DoseChange) -> str:
    """``"+50.0 mcg/24 h (+10.0 %)"``; the percentage is left out when undefined."""
    sign = "+" if change.change_mcg >= 0 else "-"
    text = f"{sign}{_fmt(abs(change.change_mcg))} mcg/24 h"
    if change.change_pct is not None:
        psign = "+" if change.change_pct >= 0 else "-"
        text += f" ({psign}{_fmt(abs(change.change_pct))} %)"
    return text


__all__ = [
    "CLOCK_WARN_S",
    "RULES",
    "ApprovedChange",
    "CheckContext",
    "CheckInput",
    "Finding",
    "PrimingPlan",
    "ProgramCheck",
    "ProgramSend",
    "ProgrammingError",
    "PumpState",
    "ReviewRow",
    "SendResult",
    "SettlementError",
    "Severity",
    "ZoneChange",
    "approve",
    "build_change",
    "build_prepared",
    "change_baseline",
    "change_text",
    "check_program",
    "find_product",
    "hhmm",
    "last_delivering_program",
    "local_equivalent",
    "local_equivalents",
    "missing_reasons",
    "next_zone_change",
    "override_records",
    "parse_hhmm",
    "priming_plan",
    "priming_program",
    "profile",
    "recheck",
    "record_intent",
    "record_result",
    "resolve_uncertain",
    "review_rows",
    "send_refusal",
]
