"""Program editor polish: a decimal comma typed as in the refill ("20,5") is read the same
way (units.parse_decimal), the Result page shows the whole program read back from the
pump (every flex step, the patient bolus, the maximum 24 h dose), not one line, and says
what the patient's Overview shows after each outcome (verified, failed, uncertain, not
saved)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from drivers import protocol_simpump
from itbconsole.model import ChangeOutcome, FlexStep, Mode
from tests.ui.conftest import Console
from tests.ui.test_program_editor import (
    connect_okafor,
    open_editor,
    send_with_the_commit_reply_lost,
)


def test_a_decimal_comma_is_read_as_in_the_refill(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("510,5")
    assert dialog.total_label.text() == "Total: 510.5 mcg/24 h"
    assert dialog.daily.error.text() == ""
    dialog.mode.setCurrentIndex(dialog.mode.findData("flex"))
    dialog.flex.set_cell(0, dialog.flex.RATE, "20,5")
    assert dialog.total_label.text() == "Total: 492.0 mcg/24 h"  # 20.5 mcg/h x 24 h
    dialog.patient_bolus.setChecked(True)
    dialog.pb_dose.set_text("25,5")
    program, _plan, _conc = dialog.pending()
    assert program is not None and program.patient_bolus is not None
    assert program.patient_bolus.dose_mcg == Decimal("25.5")
    assert program.flex_steps[0].rate_mcg_per_hour == Decimal("20.5")
    dialog.pb_dose.set_text("1,000")  # thousands or decimal? refused, as in the refill
    assert dialog.pending()[0] is None and "ambiguous" in dialog.pb_dose.error.text()
    dialog.close()


def test_the_result_shows_the_whole_program_read_back(console: Console) -> None:
    name = connect_okafor(console)
    dialog = open_editor(console)
    dialog.mode.setCurrentIndex(dialog.mode.findData("flex"))
    table = dialog.flex
    table.set_cell(0, table.RATE, "18")
    table.add_step()
    table.set_cell(1, table.START, "06:00")
    table.set_cell(1, table.RATE, "25")
    table.add_step()
    table.set_cell(2, table.START, "22:00")
    table.set_cell(2, table.RATE, "18")
    dialog.reason.setText("tone worse by day")
    dialog.go_review()
    assert dialog.pages.currentIndex() == dialog.REVIEW
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.result_title.text() == "Program sent and verified"
    pump = protocol_simpump.get_pump(name)
    assert pump.program.mode is Mode.FLEX and pump.program.flex_steps[1].start_minute == 360
    assert pump.program.flex_steps[1] == FlexStep(360, pump.program.flex_steps[1].rate_mcg_per_hour)
    shown = dialog.result_text.text()
    assert "Read back from the pump" in shown
    # every flex step, the patient bolus the pump keeps, and the maximum 24 h dose
    for text in ("00:00-06:00 18", "06:00-22:00 25", "22:00-24:00 18"):
        assert text in shown, text
    assert "Patient bolus dose" in shown and "25 mcg over" in shown
    assert "Maximum 24 h dose" in shown
    assert "(differs)" not in shown
    dialog.close_button.click()


def test_a_read_back_that_differs_shows_which_field(console: Console) -> None:
    name = connect_okafor(console)
    protocol_simpump.get_pump(name).alter_committed_programs()  # read-back will differ
    dialog = open_editor(console)
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.result_title.text().startswith("UNCERTAIN")
    shown = dialog.result_text.text()
    assert "Read back from the pump" in shown and "(differs)" in shown
    dialog.close()


def send_550(console: Console) -> Any:
    """Open the editor on Okafor's pump (500 mcg/24 h) and send 550 mcg/24 h."""
    dialog = open_editor(console)
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=30_000)
    return dialog


def shown_program(console: Console) -> str:
    return console.window.patient_view.overview.program_value.text()


def test_after_a_verified_change_the_overview_already_shows_it(console: Console) -> None:
    """No interrogation is asked for: the Overview shows the new program the moment the
    pump confirms it, and the result page says so."""
    connect_okafor(console)
    dialog = send_550(console)
    assert dialog.result_title.text() == "Program sent and verified"
    shown = dialog.result_text.text()
    assert "The Overview already shows it" in shown and "no interrogation is needed" in shown
    assert "Interrogate to update" not in shown
    assert "Simple continuous: 550.0 mcg per 24 h" in shown_program(console)
    assert not dialog.recheck_button.isVisibleTo(dialog)
    dialog.close_button.click()


def test_a_failed_change_leaves_the_overview_as_it_was(console: Console) -> None:
    name = connect_okafor(console)
    dialog = open_editor(console)
    pump = protocol_simpump.get_pump(name)
    # Someone changes the pump after the editor read it: nothing is sent.
    pump._program = replace(pump.program, daily_dose_mcg=Decimal(480))
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.result_outcome == ChangeOutcome.FAILED
    shown = dialog.result_text.text()
    assert "Overview shows the previous program and its dates, as before" in shown
    assert "Simple continuous: 500.0 mcg per 24 h" in shown_program(console)
    dialog.close()


def test_an_uncertain_change_shows_the_worse_case_until_the_pump_settles_it(
    console: Console,
) -> None:
    """The result page says the Overview shows the worse of the dates until the change is
    settled; once Check the pump again settles it, the Overview shows the program the pump
    runs, without an interrogation."""
    dialog, _pump, commit = send_with_the_commit_reply_lost(console)
    overview = console.window.patient_view.overview
    assert dialog.result_title.text().startswith("UNCERTAIN")
    assert "the Overview shows the worse of the dates with and without it" in (
        dialog.result_text.text()
    )
    assert "unknown outcome" in overview.status_reason.text()
    _pump.commit_program = commit
    dialog.recheck_button.click()
    console.qtbot.waitUntil(
        lambda: dialog.result_title.text() == "Program sent and verified", timeout=15_000
    )
    assert "The Overview already shows it" in dialog.result_text.text()
    assert "Simple continuous: 550.0 mcg per 24 h" in shown_program(console)
    assert "unknown outcome" not in overview.status_reason.text()
    dialog.close()


def test_a_verified_change_whose_record_is_not_saved_says_it_stays_uncertain(
    console: Console,
) -> None:
    """The database refuses the record and the user does not retry: the pump runs the new
    program, but the records still hold the change as uncertain, and the page says so."""
    from itbconsole.store.errors import StoreError

    connect_okafor(console)
    console.prompts.answer = False  # no retry
    clinic = console.clinic

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise StoreError("The database is locked by another program.")

    clinic.finish_program_send = refuse  # type: ignore[method-assign, assignment]
    dialog = send_550(console)
    assert dialog.result_title.text() == "Program sent and verified"
    shown = dialog.result_text.text()
    assert "its record could not be saved" in shown and "stays stored as UNCERTAIN" in shown
    assert "already shows it" not in shown
    assert dialog.recheck_button.isVisibleTo(dialog)
    assert console.prompts.confirms[-1][0] == "Record not saved"
    dialog.close()
