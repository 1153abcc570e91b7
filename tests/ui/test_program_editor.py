"""The program editor as a clinician and a nurse use it, over a simulated pump: edit a flex
program, review side by side, send, read back, interrogate and see it on the Overview;
limits and typing errors shown where they were typed; a nurse's prepared program loaded by
a clinician; an uncertain write shown plainly and flagged."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Qt

from drivers import protocol_simpump
from itbconsole.demo import DEMO_NURSE, DEMO_USER
from itbconsole.display import fmt_day
from itbconsole.model import FlexStep, Mode, Program
from tests.ui.conftest import Console
from ui.program import ProgramEditorDialog, open_program_editor


def open_editor(console: Console) -> ProgramEditorDialog:
    console.window.edit_program()
    console.qtbot.waitUntil(
        lambda: (
            console.window.findChild(ProgramEditorDialog, "programEditor") is not None
            or bool(console.prompts.errors)
        ),
        timeout=10_000,
    )
    assert console.prompts.errors == []
    dialog = console.window.findChild(ProgramEditorDialog, "programEditor")
    assert dialog is not None and dialog.isVisible()
    return dialog


def connect_okafor(console: Console) -> str:
    console.connect(console.sim_url("healthy"))  # pump SIM0000001, Okafor's in the demo
    console.interrogate_and_wait()
    assert console.window.patient_view.header.name.text() == "OKAFOR, Grace"
    return console.sim_names[-1]


def type_flex_day(dialog: ProgramEditorDialog) -> None:
    """18 mcg/h at night, 25 mcg/h 06:00-22:00 (pump clock): 544 mcg/24 h (+8.8 %)."""
    dialog.mode.setCurrentIndex(dialog.mode.findData("flex"))
    table = dialog.flex
    table.set_cell(0, table.RATE, "18")
    table.add_step()
    table.set_cell(1, table.START, "06:00")
    table.set_cell(1, table.RATE, "25")
    table.add_step()
    table.set_cell(2, table.START, "22:00")
    table.set_cell(2, table.RATE, "18")


def test_edit_a_flex_program_send_it_and_see_it_after_interrogation(console: Console) -> None:
    name = connect_okafor(console)
    dialog = open_editor(console)
    assert dialog.ctx.state.live and dialog.ctx.state.program.mode is Mode.SIMPLE_CONTINUOUS
    assert dialog.total_label.text() == "Total: 500.0 mcg/24 h"
    type_flex_day(dialog)
    assert dialog.total_label.text() == "Total: 544.0 mcg/24 h"
    assert "+44.0 mcg/24 h (+8.8 %)" in dialog.change_label.text()
    assert dialog.flex.cell(1, dialog.flex.UNTIL) == "22:00"
    assert dialog.flex.cell(1, dialog.flex.DOSE) == "400.00"  # 16 h x 25 mcg/h
    assert dialog.flex.cell(1, dialog.flex.VOLUME) == "0.0125"  # mL/h at 2000 mcg/mL
    findings = dialog.findings_label.text()
    assert "Blocked" not in findings and "Needs a reason" not in findings  # within the limits
    assert "refilled by" in findings  # more a day: the refill date comes forward (a warning)
    # Without the change's reason, Review stays on the editor and says what is missing.
    assert dialog.reason.text() == ""
    dialog.review_button.click()
    assert dialog.pages.currentIndex() == dialog.EDIT
    assert "Type the reason for this change" in dialog.reason_error.text()
    dialog.reason.setText("tone worse by day")
    dialog.review_button.click()
    assert dialog.pages.currentIndex() == dialog.REVIEW

    def cell(row: int, column: int) -> str:
        item = dialog.review_table.item(row, column)
        assert item is not None
        return item.text()

    rows = {cell(r, 0).strip("\u25b6 "): r for r in range(dialog.review_table.rowCount())}
    mode_row = rows["Mode"]
    assert cell(mode_row, 0).startswith("\u25b6")  # marked changed
    assert cell(mode_row, 2) == "Flex"
    assert not cell(rows["Concentration"], 0).startswith("\u25b6")
    assert not dialog.send_button.isEnabled()  # until the clinician confirms
    dialog.confirm_box.setChecked(True)
    assert dialog.send_button.isEnabled()
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.result_title.text() == "Program sent and verified"
    pump = protocol_simpump.get_pump(name)
    assert pump.program.mode is Mode.FLEX
    assert pump.program.flex_steps[1] == FlexStep(360, pump.program.flex_steps[1].rate_mcg_per_hour)
    # The record: who, why, old, new, read-back; succeeded.
    pid = console.patient_id("Okafor")
    change = console.clinic.store.patient_history(pid).program_changes[-1]
    assert change.outcome == "succeeded" and change.reason == "tone worse by day"
    assert change.old.mode is Mode.SIMPLE_CONTINUOUS and change.readback == change.new
    dialog.close_button.click()
    console.interrogate_and_wait()
    overview = console.window.patient_view.overview
    assert "Flex: 544.0 mcg per 24 h" in overview.program_value.text()
    assert "06:00-22:00  25.00 mcg/h" in overview.program_detail.text()


def test_typing_errors_are_refused_next_to_the_field(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("5OO")
    assert dialog.daily.error.isVisibleTo(dialog)
    assert "is not a number" in dialog.daily.error.text()
    assert dialog.total_label.text().startswith("Total: -")
    assert not dialog.review_button.isEnabled()
    dialog.daily.set_text("5000")  # a slipped zero: outside the hard limit
    assert "Blocked" in dialog.daily.error.text() and "hard limit" in dialog.daily.error.text()
    assert not dialog.review_button.isEnabled()
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    assert dialog.review_button.isEnabled()
    dialog.mode.setCurrentIndex(dialog.mode.findData("flex"))
    dialog.flex.add_step()
    dialog.flex.set_cell(1, dialog.flex.START, "25:00")
    assert "not a time of day" in dialog.flex.error.text()
    assert not dialog.review_button.isEnabled()


def test_a_per_hour_rate_equal_to_the_daily_dose_is_blocked(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    type_flex_day(dialog)
    dialog.flex.set_cell(1, dialog.flex.RATE, "500")  # the daily dose typed as mcg/h
    dialog.reason.setText("typed in the wrong field")
    assert "per HOUR" in dialog.flex.error.text()
    assert "Blocked" in dialog.findings_label.text()
    assert not dialog.review_button.isEnabled()
    dialog.go_review()
    assert dialog.pages.currentIndex() == dialog.EDIT


def test_a_soft_limit_needs_a_reason_on_the_review_screen(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("625")  # +25 %: outside the usual -20..+20 %
    dialog.reason.setText("severe tone after infection")
    assert "Needs a reason" in dialog.findings_label.text()
    dialog.go_review()
    assert dialog.pages.currentIndex() == dialog.REVIEW
    (edit,) = dialog.override_edits.values()
    (category,) = dialog.override_categories.values()
    dialog.confirm_box.setChecked(True)
    assert not dialog.send_button.isEnabled()
    edit.setText("agreed with consultant, daily review")
    assert not dialog.send_button.isEnabled()  # a note alone is not enough: why, from the list
    category.setCurrentIndex(category.findData("Prescribed by the consultant"))
    assert dialog.send_button.isEnabled()
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    change = console.clinic.store.patient_history(console.patient_id("Okafor")).program_changes[-1]
    assert change.outcome == "succeeded"
    assert any(
        "Prescribed by the consultant: agreed with consultant" in o for o in change.overrides
    )


def test_a_severe_override_needs_a_second_clinician(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("50")  # -90 %: the withdrawal finding
    dialog.reason.setText("patient asked to stop the pump")
    dialog.go_review()
    assert dialog.second_clinician.isVisibleTo(dialog)  # only for a severe override
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg tds, GP told")
    dialog.confirm_box.setChecked(True)
    assert not dialog.send_button.isEnabled()
    dialog.second_clinician.setText(dialog.ctx.user.name)  # not the sender
    assert not dialog.send_button.isEnabled()
    dialog.second_clinician.setText("Dr Ben Second")
    assert dialog.send_button.isEnabled()
    dialog.close()


def test_an_uncertain_write_is_shown_plainly_and_flags_the_patient(console: Console) -> None:
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
    assert "DIFFERENT program" in dialog.result_text.text()
    assert dialog.recheck_button.isVisibleTo(dialog)
    today = date.today()
    row = next(
        r
        for r in console.clinic.store.patients_overview(today)
        if r.patient.family_name == "Okafor"
    )
    assert row.uncertain_program_changes == 1


def send_with_the_commit_reply_lost(console: Console) -> tuple[Any, Any, Any]:
    """Open the editor on Okafor's pump and send 550 mcg/24 h; the pump applies the commit
    but every reply after it is lost, so the result is UNCERTAIN. Returns (dialog, pump,
    the pump's own commit method) so a test can restore it."""
    name = connect_okafor(console)
    responder = protocol_simpump.get_responder(name)
    pump = protocol_simpump.get_pump(name)
    commit = pump.commit_program

    def commit_then_lose_the_reply(checksum: int) -> Program:
        applied = commit(checksum)
        for _ in range(8):  # the reply to the commit and to every retry and read-back is lost
            responder.faults.force("drop_reply")
        return applied

    pump.commit_program = commit_then_lose_the_reply  # type: ignore[method-assign]
    dialog = open_editor(console)
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=30_000)
    return dialog, pump, commit


def test_uncertain_is_settled_by_checking_the_pump_again(console: Console) -> None:
    dialog, pump, commit = send_with_the_commit_reply_lost(console)
    assert dialog.result_title.text().startswith("UNCERTAIN")
    pump.commit_program = commit
    dialog.recheck_button.click()
    console.qtbot.waitUntil(
        lambda: dialog.result_title.text() == "Program sent and verified", timeout=15_000
    )
    change = console.clinic.store.patient_history(console.patient_id("Okafor")).program_changes[-1]
    assert change.outcome == "succeeded"


def test_a_nurse_prepares_a_program_and_a_clinician_loads_it(console: Console) -> None:
    connect_okafor(console)
    console.clinic.user = DEMO_NURSE
    dialog = open_editor(console)
    assert not dialog.review_button.isVisibleTo(dialog)
    assert "nurse" in dialog.send_hint.text()
    dialog.daily.set_text("550")
    dialog.reason.setText("spasms at night, for review")
    dialog.prepare_button.click()
    console.qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5_000)
    prepared = console.clinic.store.prepared_program("SIM0000001")
    assert prepared is not None and prepared.prepared_by == DEMO_NURSE.name
    assert prepared.program.daily_dose_mcg == 550 and not prepared.by_clinician

    console.clinic.user = DEMO_USER
    dialog = open_editor(console)
    assert dialog.prepared_box.isVisibleTo(dialog)
    assert DEMO_NURSE.name in dialog.prepared_label.text()
    dialog.load_prepared_button.click()
    assert dialog.daily.text() == "550" and dialog.reason.text() == "spasms at night, for review"
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.result_title.text() == "Program sent and verified"
    assert console.clinic.store.prepared_program("SIM0000001") is None


def test_a_nurse_on_the_review_screen_can_save_for_a_clinician_but_not_send(
    console: Console,
) -> None:
    connect_okafor(console)
    console.clinic.user = DEMO_NURSE
    dialog = open_editor(console)
    dialog.daily.set_text("550")
    dialog.reason.setText("spasms at night, for review")
    dialog.go_review()  # e.g. by the keyboard: the review screen itself must not send
    assert dialog.pages.currentIndex() == dialog.REVIEW
    dialog.confirm_box.setChecked(True)
    assert not dialog.send_button.isVisibleTo(dialog) and not dialog.send_button.isEnabled()
    assert dialog.review_prepare_button.isVisibleTo(dialog)
    sent: list[object] = []
    dialog.send_requested.connect(sent.append)
    dialog.send()
    assert sent == [] and "clinician" in dialog.review_error.text()
    dialog.review_prepare_button.click()
    console.qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5_000)
    prepared = console.clinic.store.prepared_program("SIM0000001")
    assert prepared is not None and prepared.prepared_by == DEMO_NURSE.name


def test_check_the_pump_again_settles_nothing_from_another_pump(console: Console) -> None:
    dialog, pump, commit = send_with_the_commit_reply_lost(console)
    assert dialog.result_title.text().startswith("UNCERTAIN")
    pump.commit_program = commit
    pump.serial = "SIM0000099"  # another pump now under the programmer head
    dialog.recheck_button.click()
    console.qtbot.waitUntil(lambda: "Not settled" in dialog.result_text.text(), timeout=15_000)
    assert "SIM0000099" in dialog.result_text.text()
    assert dialog.result_title.text().startswith("UNCERTAIN")
    change = console.clinic.store.patient_history(console.patient_id("Okafor")).program_changes[-1]
    assert change.outcome == "uncertain"


def test_without_a_pump_a_program_can_be_prepared_but_not_sent(console: Console) -> None:
    pid = console.patient_id("Okafor")
    console.window.open_patient(pid)
    controller = open_program_editor(console.window)
    dialog = controller.dialog
    assert dialog is not None and not dialog.ctx.state.live
    assert "not connected" in dialog.source_label.text()
    # The reading's date and time in the one form every screen uses, with its zone.
    read_at = dialog.ctx.state.read_at.astimezone(dialog.ctx.tz)
    when = f"{fmt_day(read_at.date())} {read_at:%H:%M} {read_at.tzname()}"
    assert f"from the reading of {when} (not connected" in dialog.source_label.text()
    dialog.daily.set_text(str(int(dialog.ctx.state.program.daily_dose_mcg) + 20))
    dialog.reason.setText("for the clinic on Friday")
    assert not dialog.review_button.isEnabled()
    assert dialog.prepare_button.isEnabled()
    dialog.close()


def test_the_editor_is_keyboard_reachable_and_named(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    for widget in (dialog.mode, dialog.daily.edit, dialog.reason, dialog.flex.table,
                   dialog.pb_dose.edit, dialog.concentration.edit):  # fmt: skip
        assert widget.accessibleName()
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert dialog.width() <= 1366 and dialog.height() <= 768


def test_a_clinician_can_prepare_a_program_for_a_new_concentration(console: Console) -> None:
    """Issue 11, item 7: sending is blocked (the pump still holds 2000 mcg/mL), but saving
    the program for the coming refill at 500 mcg/mL must stay possible for a clinician."""
    connect_okafor(console)
    dialog = open_editor(console)
    assert dialog.ctx.user.can_send_program()
    dialog.concentration.set_text("500")
    dialog.reason.setText("weaker drug from the next refill")
    assert dialog.check is not None and "concentration" in {f.rule for f in dialog.check.blocks}
    assert not dialog.review_button.isEnabled()
    assert dialog.prepare_button.isEnabled()
    prepared: list[Any] = []
    dialog.prepare_requested.connect(prepared.append)
    dialog.prepare()
    assert len(prepared) == 1 and prepared[0].concentration_mcg_ml == 500
    dialog.close()


def test_a_locked_database_after_the_send_still_shows_the_result_and_saves_on_retry(
    console: Console, tmp_path: Any
) -> None:
    """Another program holds the database's write lock while the sent program is being
    recorded: the clinician still sees what the pump did, is told the record is not saved,
    and a retry saves it once the lock is gone."""
    import sqlite3

    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("550")
    dialog.reason.setText("titration agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    path = console.clinic.database_path
    other = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    store = console.clinic.store
    store.db.conn.execute("PRAGMA busy_timeout = 0")
    answers: list[bool] = []

    def confirm(title: str, message: str) -> bool:
        console.prompts.confirms.append((title, message))
        other.execute("COMMIT")  # the other program lets go before the retry
        answers.append(True)
        return True

    console.prompts.confirm = confirm  # type: ignore[method-assign]
    window = console.window
    original_submit = window.link.submit

    def submit_then_lock(name: str, job: Any, done: Any, failed: Any) -> int:
        def locked_done(result: Any) -> None:
            other.execute("BEGIN IMMEDIATE")  # the write lock, taken just as the pump answers
            done(result)

        return original_submit(name, job, locked_done, failed)

    window.link.submit = submit_then_lock  # type: ignore[method-assign, assignment]
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    console.qtbot.waitUntil(lambda: bool(answers), timeout=15_000)
    window.link.submit = original_submit  # type: ignore[method-assign]
    other.close()
    assert dialog.result_title.text() == "Program sent and verified"
    title, message = console.prompts.confirms[-1]
    assert title == "Record not saved" and "SUCCEEDED" in message
    changes = [
        c
        for c in console.clinic.store.patient_history(console.patient_id("Okafor")).program_changes
    ]
    assert changes[-1].outcome == "succeeded" and changes[-1].new.daily_dose_mcg == 550
