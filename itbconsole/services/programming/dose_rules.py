"""The rules on the dose itself: the drug library's daily-dose, % change, bolus and
boluses-per-day limits (on the maximum 24 h dose), the starting dose after a stop or with
no dose on record, a cut that risks withdrawal, and the per-hour unit slip. Each rule takes
a :class:`~itbconsole.services.programming.rule_input.CheckInput` and returns its findings."""

from __future__ import annotations

from fractions import Fraction

from itbconsole import dosing
from itbconsole.model import Mode, Program
from itbconsole.services.programming.findings import Finding, Severity, fmt_amount
from itbconsole.services.programming.rule_input import (
    CheckInput,
    all_steps,
    daily_totals,
    limit_finding,
    max_24h,
)


def rule_daily_dose(c: CheckInput) -> list[Finding]:
    """Daily-dose limits. The upper limits apply to the **maximum 24 h dose**: the highest
    day of the schedule plus every patient bolus allowed in 24 hours plus a single bolus
    (:func:`itbconsole.dosing.max_24h_dose_mcg`), so boluses cannot carry a dose past a
    limit the continuous dose alone would meet. The lower limits apply to the lowest day's
    programmed dose. The most severe finding is kept."""
    if c.product is None:
        return []
    limit = c.product.limits.daily_dose_mcg
    max24 = max_24h(c, c.new)
    highest = max(daily_totals(c.new))
    what = (
        "The maximum 24 h dose (programmed "
        f"{fmt_amount(highest)} mcg + every allowed bolus {fmt_amount(max24 - highest)} mcg)"
        if max24 != highest
        else "The daily dose"
    )
    worst: Finding | None = None
    for value, text in ((max24, what), (min(daily_totals(c.new)), "The daily dose")):
        found = limit_finding(limit, value, text, "mcg/24 h", "daily_dose", "daily_dose_mcg")
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
    new = daily_totals(c.new)
    bases: list[tuple[Program, str]] = [(c.state.program, "The change from the current dose")]
    if c.baseline is not None and c.baseline != c.state.program:
        base_total = fmt_amount(max(daily_totals(c.baseline)))
        bases.append(
            (
                c.baseline,
                "The change from the dose in force 24 hours ago "
                f"({base_total} mcg/24 h, before the changes sent since)",
            )
        )
    worst: Finding | None = None
    for program, what in bases:
        pairs = list(zip(daily_totals(program), new, strict=True))
        pairs.append((max_24h(c, program), max_24h(c, c.new)))
        for before, after in pairs:
            change = dosing.dose_change(before, after)
            if change.change_pct is None:
                continue
            found = limit_finding(limit, change.change_pct, what, "%", "daily_dose", "change_pct")
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
    if max(daily_totals(c.state.program)) > 0 or max(daily_totals(c.new)) <= 0:
        return []
    new24 = max_24h(c, c.new)
    if c.last_nonzero is not None and c.product is not None:
        ref = max_24h(c, c.last_nonzero)
        change = dosing.dose_change(ref, new24)
        limit = c.product.limits.change_pct
        if change.change_pct is not None:
            pct = change.change_pct
            shown = f"{fmt_amount(new24)} mcg in 24 h, {'+' if pct >= 0 else ''}{fmt_amount(pct)} %"
            if pct > Fraction(limit.hard_max):
                return [
                    Finding(
                        "starting_dose",
                        Severity.BLOCK,
                        f"Restarting at {shown} from the last dose in force "
                        f"({fmt_amount(ref)} mcg in 24 h) is more than the hard limit of "
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
                    f"dose in force ({fmt_amount(ref)} mcg in 24 h). Check it against the "
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
                f"A first program of {fmt_amount(new24)} mcg in 24 h with no dose on record is "
                f"above the usual maximum daily dose ({fmt_amount(usual_max)} mcg): almost "
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
            f"No dose is on record for this pump: {fmt_amount(new24)} mcg in 24 h is a starting "
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
            (max(daily_totals(c.state.program)), max(daily_totals(c.new))),
            (max_24h(c, c.state.program), max_24h(c, c.new)),
        )
        if before > 0 and after < before
    ]
    if not cuts:
        return []
    before, after = min(cuts, key=lambda ba: ba[1] / ba[0])
    change = dosing.dose_change(before, after)
    stop = max(daily_totals(c.new)) <= 0
    if not stop and change.change_pct is not None and change.change_pct >= WITHDRAWAL_CUT_PCT:
        return []
    what = (
        "stops continuous delivery"
        if stop
        else f"cuts the dose by {fmt_amount(-change.change_pct if change.change_pct else 0)} %"
    )
    return [
        Finding(
            "withdrawal",
            Severity.SOFT,
            f"This program {what} (from {fmt_amount(before)} to {fmt_amount(after)} mcg in 24 h): risk "
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
        found = limit_finding(
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
        found = limit_finding(
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
        found = limit_finding(
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
        found = limit_finding(
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
        found = limit_finding(
            c.product.limits.single_boluses_per_day,
            Fraction(count),
            f"This would be single bolus {count} in 24 hours ({fmt_amount(total)} mcg in all):",
            "boluses",
            "bolus",
            "bolus_count",
        )
        if total > hard:
            found = Finding(
                "bolus_count",
                Severity.BLOCK,
                f"Single boluses in 24 hours would total {fmt_amount(total)} mcg, more than the "
                f"bolus hard limit ({fmt_amount(hard)} mcg). Wait, and assess the patient.",
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
    previous = max(daily_totals(c.state.program))
    basis = "the whole current daily dose"
    if previous <= 0 and c.last_nonzero is not None:
        previous = max(daily_totals(c.last_nonzero))
        basis = "the whole daily dose of the last program before the pump was stopped"
    if previous <= 0 and c.product is not None:
        # No dose on record: a rate that, held for a day, would be above the usual maximum
        # daily dose reads as a daily dose typed per hour (60 mcg/h is 1,440 mcg a day).
        usual = Fraction(c.product.limits.daily_dose_mcg.soft_max)
        for step in all_steps(c.new):
            if Fraction(step.rate_mcg_per_hour) * 24 > usual:
                return [
                    Finding(
                        "unit_slip",
                        Severity.BLOCK,
                        f"A flex step of {fmt_amount(Fraction(step.rate_mcg_per_hour), 2)} mcg per "
                        f"HOUR is {fmt_amount(Fraction(step.rate_mcg_per_hour) * 24)} mcg per DAY, "
                        f"above the usual maximum daily dose ({fmt_amount(usual)} mcg), and no dose is "
                        "on "
                        "record for this pump. This looks like a daily dose typed as an "
                        "hourly rate. Enter the rate in mcg/h.",
                        "flex",
                    )
                ]
        return []
    if previous <= 0:
        return []
    for step in all_steps(c.new):
        if Fraction(step.rate_mcg_per_hour) >= previous:
            return [
                Finding(
                    "unit_slip",
                    Severity.BLOCK,
                    f"A flex step of {fmt_amount(Fraction(step.rate_mcg_per_hour), 2)} mcg per HOUR "
                    f"would give in one hour {basis} "
                    f"({fmt_amount(previous)} mcg per DAY). This looks like a daily dose typed as an "
                    "hourly rate. Enter the rate in mcg/h.",
                    "flex",
                )
            ]
    return []
