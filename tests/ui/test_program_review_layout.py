"""The program editor's Review page at the smallest screen the console is made for
(1366 x 768): everything a clinician acts on is in view without scrolling, and a disabled
*Send to pump* says what it waits for.

A -90 % cut (the withdrawal finding, which needs a second clinician) is the fullest review:
its table is as tall as its rows, its two overrides' reasons show without scrolling, and the
second clinician's name, password, Confirm and the answer ("Checking…", a wrong password)
are never inside the scrolled warnings. The line beside *Send to pump* says, in turn, each
thing the button still waits for: the overrides' reasons, the second clinician, the tick."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea, QWidget

from tests.ui import test_accounts_ui
from tests.ui.conftest import Console
from tests.ui.test_accounts_ui import PASSWORDS, Staffed
from tests.ui.test_password_checks_worker import review_with_a_severe_override
from tests.ui.test_program_editor import connect_okafor, open_editor
from tests.ui.test_sign_in_worker import gated
from ui.dialogs import CHECKING
from ui.program import ProgramEditorDialog

staffed = test_accounts_ui.staffed  # the demo clinic whose staff have accounts (the fixture)

SMALL_SCREEN = (1366, 768)
#: The dialog filling the smallest screen the console is made for, and at the size it opens at.
SIZES = [SMALL_SCREEN, (1260, 700)]

SECOND_MISSING = (
    "A second clinician must confirm this override with their own account and password."
)
TICK_MISSING = "Tick the box to confirm you checked the pending program."


def at_small_screen(
    dialog: ProgramEditorDialog, console: Console, size: tuple[int, int] = SMALL_SCREEN
) -> None:
    dialog.resize(*size)
    console.qtbot.waitUntil(lambda: dialog.size().toTuple() == size)
    app = QApplication.instance()
    assert app is not None
    for _ in range(3):  # wrapped labels that grow ask for another layout pass
        app.processEvents()


def in_a_scroll_area(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def shown_whole(widget: QWidget) -> bool:
    """The whole widget is on screen: not clipped by any parent (a scroll area's viewport
    included) and inside the dialog, and a wrapped label as tall as its words."""
    if not widget.isVisible():
        return False
    if widget.visibleRegion().boundingRect() != widget.rect():
        return False
    window = widget.window()
    top_left = widget.mapTo(window, QPoint(0, 0))
    if not window.rect().contains(QRect(top_left, widget.size())):
        return False
    if isinstance(widget, QLabel) and widget.wordWrap():
        return widget.height() >= widget.heightForWidth(widget.width())
    return True


def second_clinician_widgets(dialog: ProgramEditorDialog) -> list[QWidget]:
    return [
        dialog.second_checker_name,
        dialog.second_checker_password,
        dialog.second_checker_button,
        dialog.second_checker_status,
    ]


def waiting(dialog: ProgramEditorDialog) -> str:
    """The line beside Send to pump, as plain words (empty: nothing waited for)."""
    return dialog.send_waiting.text().replace("<b>Before sending:</b> ", "")


@pytest.mark.parametrize("size", SIZES, ids=["1366x768", "opened"])
def test_a_severe_review_shows_everything_to_act_on_without_scrolling(
    staffed: Staffed, size: tuple[int, int]
) -> None:
    console = staffed.console
    dialog = review_with_a_severe_override(staffed)
    at_small_screen(dialog, console, size)
    # The table is as tall as its rows: no empty space under them, no scrolling in it.
    table = dialog.review_table
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    assert table.verticalScrollBar().maximum() == 0
    assert table.viewport().height() - rows < min(table.rowHeight(r) for r in range(3))
    # The overrides' reasons: every Why and Note in view, the warnings unscrolled.
    assert dialog.overrides_scroll.verticalScrollBar().maximum() == 0
    for key, edit in dialog.override_edits.items():
        assert shown_whole(edit) and shown_whole(dialog.override_categories[key])
    # The second clinician: outside the scrolled warnings, every field and Confirm in view.
    for widget in second_clinician_widgets(dialog):
        assert not in_a_scroll_area(widget)
    assert all(shown_whole(w) for w in second_clinician_widgets(dialog)[:3])
    assert shown_whole(dialog.confirm_box) and shown_whole(dialog.send_button)
    assert not dialog.send_button.isEnabled()
    assert waiting(dialog) == SECOND_MISSING and shown_whole(dialog.send_waiting)

    # "Checking…" while the password is checked, then the answer: in view, the line says so.
    hasher = gated(staffed)
    dialog.second_checker_password.setText("wrong-pass-0")
    dialog.confirm_second_checker()
    assert dialog.second_checker_status.text() == CHECKING
    console.qtbot.waitUntil(lambda: shown_whole(dialog.second_checker_status))
    assert waiting(dialog) == "The second clinician's password is being checked."
    hasher.gate.set()
    console.qtbot.waitUntil(lambda: not dialog.second_checking, timeout=10_000)
    assert "Wrong password" in dialog.second_checker_status.text()
    console.qtbot.waitUntil(lambda: shown_whole(dialog.second_checker_status))
    assert not dialog.send_button.isEnabled() and waiting(dialog) == SECOND_MISSING

    dialog.second_checker_password.setText(PASSWORDS["Dr Ben Second"])
    dialog.confirm_second_checker()
    console.qtbot.waitUntil(lambda: dialog.second_check is not None, timeout=10_000)
    assert dialog.second_checker_status.text().startswith("Confirmed by Dr Ben Second")
    console.qtbot.waitUntil(lambda: shown_whole(dialog.second_checker_status))
    assert dialog.send_button.isEnabled() and waiting(dialog) == ""
    dialog.close()


def test_the_line_beside_send_says_each_thing_it_waits_for(staffed: Staffed) -> None:
    dialog = review_with_a_severe_override(staffed)
    at_small_screen(dialog, staffed.console)
    first, second = list(dialog.override_edits)
    # The reasons: a note cleared, then a category unchosen, each one named as missing.
    dialog.override_edits[first].setText("")
    assert not dialog.send_button.isEnabled()
    assert waiting(dialog) == (
        "Choose why and add a note for each limit overridden (1 of 2 still to give). "
        + SECOND_MISSING
    )
    dialog.override_categories[second].setCurrentIndex(0)  # "Choose why..."
    assert "(2 of 2 still to give)" in waiting(dialog)
    # The tick: unticked, said last, as the page reads top to bottom.
    dialog.confirm_box.setChecked(False)
    assert waiting(dialog).endswith(SECOND_MISSING + " " + TICK_MISSING)
    # Everything given but the tick: only the tick is waited for.
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg tds, GP told")
    dialog.second_checker_password.setText(PASSWORDS["Dr Ben Second"])
    dialog.confirm_second_checker()
    staffed.console.qtbot.waitUntil(lambda: dialog.second_check is not None, timeout=10_000)
    assert not dialog.send_button.isEnabled() and waiting(dialog) == TICK_MISSING
    dialog.confirm_box.setChecked(True)
    assert dialog.send_button.isEnabled() and waiting(dialog) == ""
    # Another second clinician chosen: the confirmation is gone and waited for again.
    name = dialog.second_checker_name
    name.setCurrentIndex(0)
    assert not dialog.send_button.isEnabled() and waiting(dialog) == SECOND_MISSING
    dialog.close()


def test_a_small_change_waits_only_for_the_tick(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("520")
    dialog.reason.setText("a little more relief at night")
    dialog.go_review()
    at_small_screen(dialog, console)
    assert not dialog.second_box.isVisible()  # no severe override: no second clinician
    assert not dialog.send_button.isEnabled() and waiting(dialog) == TICK_MISSING
    assert shown_whole(dialog.send_waiting)
    dialog.confirm_box.setChecked(True)
    assert dialog.send_button.isEnabled() and waiting(dialog) == ""
    dialog.close()


def test_demo_mode_waits_for_the_second_clinicians_name(console: Console) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("50")  # -90 %: the withdrawal finding
    dialog.reason.setText("patient asked to stop the pump")
    dialog.go_review()
    at_small_screen(dialog, console)
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg tds, GP told")
    dialog.confirm_box.setChecked(True)
    assert not in_a_scroll_area(dialog.second_clinician)
    assert shown_whole(dialog.second_clinician)
    named = "A second clinician must confirm this override: enter their name (not yours)."
    assert not dialog.send_button.isEnabled() and waiting(dialog) == named
    dialog.second_clinician.setText(dialog.ctx.user.name)  # not the sender
    assert waiting(dialog) == named
    dialog.second_clinician.setText("Dr Ben Second")
    assert dialog.send_button.isEnabled() and waiting(dialog) == ""
    dialog.close()
