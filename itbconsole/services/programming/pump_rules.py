"""The rules on what surrounds the dose: a drug-library product at the concentration, the
reservoir's and the records' concentration, the pump's precision, the priming bolus, the
alarm date, the sender's role, and a program that changes nothing. Each rule takes a
:class:`~itbconsole.services.programming.rule_input.CheckInput` and returns its findings."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from itbconsole.display import fmt_day
from itbconsole.model import Mode
from itbconsole.services.programming.findings import Finding, Severity, fmt_amount
from itbconsole.services.programming.rule_input import CheckInput, all_steps


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
    amounts += [s.rate_mcg_per_hour for s in all_steps(c.new)]
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
                f"volumes recorded on pump {c.pump.serial} ({fmt_amount(plan.volume_ul)} µL, "
                f"{plan.dose_mcg} mcg at {c.concentration_mcg_ml} mcg/mL). Start the priming "
                "bolus again.",
                "bolus",
            )
        ]
    message = (
        f"Priming bolus {fmt_amount(plan.volume_ul)} µL ({plan.dose_mcg} mcg at "
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
            f"The catheter was revised on {fmt_day(revision)} (on record). Type the reason "
            "(the revision and who did it) to go ahead."
        )
        return [Finding("priming", Severity.SOFT, message, "bolus")]
    if not recent(implant):
        when = (
            "has no implant date recorded"
            if implant is None
            else f"was implanted on {fmt_day(implant)}, {(today - implant).days} days ago"
        )
        after = (
            f" The catheter was revised on {fmt_day(revision)}: prime the catheter only."
            if revision is not None and recent(revision)
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
        f"The pump was implanted on {fmt_day(implant)}. Type the reason (the implant or "
        "catheter revision and who did it) to go ahead."
    )
    return [Finding("priming", Severity.SOFT, message, "bolus")]


def rule_alarm_date(c: CheckInput) -> list[Finding]:
    """Warn when the new program's alarm date comes before the refill date that the
    current program set, or when its own refill-by date is earlier than the current one
    (there is no booking calendar; the recommended refill date is what the patient was
    told).

    A program at another concentration than the reservoir's is for after a refill with that
    concentration (it cannot be sent before, :func:`rule_concentration`): the refill resets
    the reservoir, so the current reservoir says nothing about its alarm date and no warning
    is raised from it."""
    if c.concentration_mcg_ml != c.state.concentration_mcg_ml:
        return []
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
                f"With the new program the low-reservoir alarm comes on {fmt_day(alarm_day)}, "
                f"before the planned refill date {fmt_day(refill_by)}. Book an earlier refill.",
                "",
            )
        ]
    new_refill = c.new_forecast.refill_by
    if new_refill is not None and new_refill < refill_by:
        return [
            Finding(
                "alarm_date",
                Severity.WARNING,
                f"With the new program the pump must be refilled by {fmt_day(new_refill)}, "
                f"earlier than the planned refill date {fmt_day(refill_by)} (low-reservoir "
                f"alarm on {fmt_day(alarm_day)}). Move the refill appointment forward.",
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
