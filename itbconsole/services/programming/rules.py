"""The rule set: every dose-programming rule in the order its findings are shown
(:data:`RULES`, which ``make safety-check`` removes one at a time), and the rules that
block a send but not a program saved for review."""

from __future__ import annotations

from collections.abc import Callable

from itbconsole.services.programming.dose_rules import (
    rule_bolus_dose,
    rule_boluses_per_day,
    rule_change_pct,
    rule_daily_dose,
    rule_starting_dose,
    rule_unit_slip,
    rule_withdrawal,
)
from itbconsole.services.programming.findings import Finding
from itbconsole.services.programming.pump_rules import (
    rule_alarm_date,
    rule_concentration,
    rule_no_change,
    rule_precision,
    rule_priming,
    rule_product,
    rule_records_concentration,
    rule_role,
)
from itbconsole.services.programming.rule_input import CheckInput

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
