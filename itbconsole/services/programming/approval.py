"""Approving a checked change: the reasons it needs (the change's own, a category and note
for each soft-limit override, a second clinician for a severe one), the record built from
them (:func:`build_change`, :class:`ApprovedChange`), who may send it (:func:`send_refusal`),
and a program saved for a clinician's review (:func:`build_prepared`).

The second clinician: a sender signed in with an account (``User.account_id``) needs a
:class:`~itbconsole.model.SecondCheck`, the confirmation another clinician gave with their
own account and password for exactly this program (:func:`second_check_subject`; made by
:meth:`itbconsole.services.accounts.AccountService.confirm_second_check`). A typed name is
accepted only from a user no account stands behind (demo mode, scripts)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from itbconsole.model import (
    Action,
    ChangeOutcome,
    PreparedProgram,
    ProgramChange,
    SecondCheck,
    User,
)
from itbconsole.services.programming.check import ProgramCheck
from itbconsole.services.programming.findings import Finding, ProgrammingError, Severity

#: A typed override reason must say something real: at least this many letters or digits,
#: in at least two words ("abcd" is not a reason).
MIN_REASON_CHARS = 12
MIN_REASON_WORDS = 2


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
#: (their own account and password; a recorded name for a user without an account).
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


def second_check_subject(check: ProgramCheck) -> str:
    """What a second clinician confirms: this pump, going from this program to that one at
    this concentration (the serial and a digest). Another program needs a new confirmation."""
    text = json.dumps(
        {
            "serial": check.state.pump_serial,
            "old": check.state.program.to_dict(),
            "new": check.new.to_dict(),
            "concentration_mcg_ml": check.concentration_mcg_ml,
        },
        sort_keys=True,
        default=str,
    )
    return f"{check.state.pump_serial}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def second_check_problem(check: ProgramCheck, second: str | SecondCheck) -> str:
    """Why ``second`` does not confirm ``check``'s severe override ('' when it does)."""
    sender = check.user
    if isinstance(second, SecondCheck):
        if second.account_id == sender.account_id or (
            second.name.strip().casefold() == sender.name.strip().casefold()
        ):
            return "The second clinician must be someone else than the clinician sending."
        if not User(second.name, second.role).may(Action.SEND_PROGRAM):
            return (
                f"{second.name} is a {second.role.value}: a second check needs a clinician or "
                "an administrator."
            )
        if second.subject != second_check_subject(check):
            return (
                f"{second.name} confirmed another program: ask them to confirm this one "
                "(their password again)."
            )
        return ""
    if sender.account_id is not None:
        return "A second clinician must confirm this override with their own account and password."
    name = " ".join(second.split())
    if len(name) < 3 or name.casefold() == sender.name.casefold():
        return "A second clinician must confirm this override: enter their name (not yours)."
    return ""


def missing_reasons(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    second_clinician: str | SecondCheck = "",
) -> list[str]:
    """What still has to be given before the change can go ahead (empty: nothing): the
    change's reason, a category and note for each soft-limit override, and for a severe
    override a second clinician's confirmation (:func:`second_check_problem`)."""
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
        problem = second_check_problem(check, second_clinician)
        if problem:
            missing.append(problem)
    return missing


def override_records(
    check: ProgramCheck,
    override_reasons: Mapping[str, str],
    second_clinician: str | SecondCheck = "",
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
    rules = ", ".join(sorted({f.rule for f in severe}))
    if severe and isinstance(second_clinician, SecondCheck):
        s = second_clinician
        out.append(
            # Names, not this console's account numbers: the text travels to other rooms
            # and into exports, where those numbers mean another account or none.
            f"second clinician {s.name} ({s.role.value}) confirmed the override of {rules} "
            f"with their own password at {s.at.isoformat()} (program {s.subject})"
        )
    elif severe and isinstance(second_clinician, str):
        out.append(
            f"second clinician {' '.join(second_clinician.split())} confirmed the override of "
            + rules
        )
    return tuple(out)


def build_change(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    *,
    at: datetime | None = None,
    second_clinician: str | SecondCheck = "",
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
    second_clinician: str | SecondCheck = ""


def approve(
    check: ProgramCheck,
    reason: str,
    override_reasons: Mapping[str, str],
    *,
    at: datetime | None = None,
    second_clinician: str | SecondCheck = "",
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
