"""Issue 15: a program prepared for a coming refill at a new concentration raised a false
"book an earlier refill" warning, worked out from the reservoir now in the pump, which the
refill empties before the program can run."""

from __future__ import annotations

from itbconsole.display import fmt_day
from itbconsole.model import simple_continuous
from itbconsole.services.programming import Severity
from tests.itbconsole.test_programming import NO_FILL, NURSE, check, rules
from tests.ui.conftest import Console
from tests.ui.test_program_editor import connect_okafor, open_editor


def test_a_program_for_a_refill_at_a_new_concentration_gets_no_alarm_date_warning() -> None:
    # 10 mL at 2000 mcg/mL in the pump; 550 mcg/day prepared for a refill with 1000 mcg/mL.
    # On the current reservoir that strength would alarm within days: not this program's date.
    prepared = check(
        simple_continuous(550), concentration=1000, purpose="prepare", user=NURSE, facts=NO_FILL
    )
    assert rules(prepared, Severity.WARNING) == {"concentration"}
    assert not any(
        "earlier refill" in f.message or "forward" in f.message for f in prepared.findings
    )
    assert not prepared.blocked


def test_the_same_change_at_the_reservoirs_concentration_is_still_warned() -> None:
    # The rule itself stays: at 2000 mcg/mL the refill date moves forward (27 -> 24 Mar).
    same = check(simple_continuous(550), purpose="prepare", user=NURSE, facts=NO_FILL)
    assert rules(same, Severity.WARNING) == {"alarm_date"}


def test_the_editor_says_the_refill_sets_the_dates_of_a_program_at_a_new_concentration(
    console: Console,
) -> None:
    connect_okafor(console)  # 2000 mcg/mL in the pump
    dialog = open_editor(console)
    dialog.daily.set_text("500")
    dialog.concentration.set_text("500")  # a quarter of the strength: on the current
    dialog.reason.setText("weaker drug from the next refill")  # reservoir, an alarm in days
    assert dialog.check is not None
    assert "alarm_date" not in {f.rule for f in dialog.check.findings}
    assert "earlier" not in dialog.findings_label.text()
    assert "forward" not in dialog.findings_label.text()
    text = dialog.forecast_label.text()
    assert "This program is for after a refill with 500 mcg/mL" in text
    assert "Low-reservoir alarm with the new program" not in text
    read_at = dialog.ctx.state.read_at.astimezone(dialog.ctx.tz)  # with its year and zone
    assert f"at {fmt_day(read_at.date())} {read_at:%H:%M} {read_at.tzname()}." in text
    dialog.close()
