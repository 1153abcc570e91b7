"""Dose programming: the rules a program change must pass, its record, and the pump write.

Why a Qt-free service: the field's worst pump errors happen while a dose is being changed
(60 mcg per hour typed for 60 mcg per day; a lower concentration than the reservoir holds;
41.7 typed for 4.17). Every rule that guards against them lives in this package, once, where a test can
reach it without a window or a pump; the editor only shows what :func:`check_program` finds.

The rules (each a small function in :data:`RULES`, each with a test that fails without it;
``dose_rules`` and ``pump_rules``):

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

One concept per module; everything public is re-exported here, so callers import from
``itbconsole.services.programming`` and need not know the layout:

* ``findings``: :class:`Finding`, :class:`Severity`, :class:`ProgrammingError`;
* ``state``: :class:`PumpState` (what a change starts from), :func:`find_product`;
* ``priming``: :class:`PrimingPlan`, :func:`priming_plan`, :func:`priming_program`;
* ``rule_input``: :class:`CheckInput` (what a rule looks at) and the measures rules share;
* ``dose_rules``, ``pump_rules``: the rules; ``rules``: :data:`RULES` in their order;
* ``check``: :func:`check_program`, :class:`ProgramCheck`, :func:`recheck`;
* ``approval``: reasons, overrides, :func:`approve`, :func:`send_refusal`,
  :func:`build_prepared`;
* ``send``: :func:`send_program`, :class:`ProgramSend`, :func:`record_intent`,
  :func:`record_result`;
* ``flex_times``: pump-clock step times and their local equivalents;
* ``review``: the side-by-side review rows, :func:`change_text`, :func:`profile`.
"""

from __future__ import annotations

from itbconsole.services.programming.approval import (
    MIN_REASON_CHARS,
    MIN_REASON_WORDS,
    OVERRIDE_CATEGORIES,
    REASON_HINT,
    SECOND_CHECK_RULES,
    ApprovedChange,
    approve,
    build_change,
    build_prepared,
    missing_reasons,
    override_is_enough,
    override_records,
    override_text,
    reason_is_enough,
    second_check_findings,
    send_refusal,
)
from itbconsole.services.programming.check import (
    CHANGE_WINDOW,
    CheckContext,
    ProgramCheck,
    change_baseline,
    check_program,
    last_delivering_program,
    recheck,
)
from itbconsole.services.programming.dose_rules import (
    FIRST_PROGRAM_SOFT_MAX_MCG,
    WITHDRAWAL_CUT_PCT,
    rule_bolus_dose,
    rule_boluses_per_day,
    rule_change_pct,
    rule_daily_dose,
    rule_starting_dose,
    rule_unit_slip,
    rule_withdrawal,
)
from itbconsole.services.programming.findings import Finding, ProgrammingError, Severity
from itbconsole.services.programming.flex_times import (
    CLOCK_WARN_S,
    ZoneChange,
    hhmm,
    local_equivalent,
    local_equivalents,
    next_zone_change,
    parse_hhmm,
)
from itbconsole.services.programming.priming import PrimingPlan, priming_plan, priming_program
from itbconsole.services.programming.pump_rules import (
    PRIMING_NEW_IMPLANT_DAYS,
    rule_alarm_date,
    rule_concentration,
    rule_no_change,
    rule_precision,
    rule_priming,
    rule_product,
    rule_records_concentration,
    rule_role,
)
from itbconsole.services.programming.review import (
    MODE_TEXT,
    WEEKDAYS,
    ReviewRow,
    change_text,
    profile,
    program_rows,
    review_rows,
)
from itbconsole.services.programming.rule_input import CheckInput
from itbconsole.services.programming.rules import RULES, SEND_ONLY_RULES, Rule
from itbconsole.services.programming.send import (
    ProgramSend,
    SendResult,
    record_intent,
    record_result,
    send_program,
)
from itbconsole.services.programming.state import PumpState, find_product
from itbconsole.services.settlement import SettlementError, resolve_uncertain

__all__ = [
    "CHANGE_WINDOW",
    "CLOCK_WARN_S",
    "FIRST_PROGRAM_SOFT_MAX_MCG",
    "MIN_REASON_CHARS",
    "MIN_REASON_WORDS",
    "MODE_TEXT",
    "OVERRIDE_CATEGORIES",
    "PRIMING_NEW_IMPLANT_DAYS",
    "REASON_HINT",
    "RULES",
    "SECOND_CHECK_RULES",
    "SEND_ONLY_RULES",
    "WEEKDAYS",
    "WITHDRAWAL_CUT_PCT",
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
    "Rule",
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
    "override_is_enough",
    "override_records",
    "override_text",
    "parse_hhmm",
    "priming_plan",
    "priming_program",
    "profile",
    "program_rows",
    "reason_is_enough",
    "recheck",
    "record_intent",
    "record_result",
    "resolve_uncertain",
    "review_rows",
    "rule_alarm_date",
    "rule_bolus_dose",
    "rule_boluses_per_day",
    "rule_change_pct",
    "rule_concentration",
    "rule_daily_dose",
    "rule_no_change",
    "rule_precision",
    "rule_priming",
    "rule_product",
    "rule_records_concentration",
    "rule_role",
    "rule_starting_dose",
    "rule_unit_slip",
    "rule_withdrawal",
    "second_check_findings",
    "send_program",
    "send_refusal",
]
