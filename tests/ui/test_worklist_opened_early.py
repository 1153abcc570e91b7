"""View > Worklist chosen while the window is still making the clinic day's lines ahead
(the first seconds after the list arrives): the page says it is preparing them and fills
once the steps have made them, instead of making them all at once on the GUI thread (a
fifth of a second at 5,000 patients)."""

from __future__ import annotations

from tests.ui.conftest import Console


def test_the_worklist_chosen_while_its_lines_are_made_fills_when_they_are(
    console: Console,
) -> None:
    w = console.window
    console.qtbot.waitUntil(lambda: w.patient_list.loaded, timeout=10_000)
    w._work_ahead(w.patient_list.model.all_rows)  # as right after the list arrived
    assert not console.clinic.lines_made_ahead
    w.show_worklist()
    view = w.worklist_view
    assert w.pages.currentWidget() is view
    assert view.summary.text() == "Preparing the clinic day's lines..."
    assert view.model.rowCount() == 0  # nothing made on the GUI thread at the click
    console.qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=10_000)
    assert console.clinic.lines_made_ahead
    assert "Preparing" not in view.summary.text()


def test_the_worklist_opens_at_once_when_its_lines_are_made(console: Console) -> None:
    w = console.window
    console.qtbot.waitUntil(lambda: w.patient_list.loaded, timeout=10_000)
    console.qtbot.waitUntil(lambda: console.clinic.lines_made_ahead, timeout=10_000)
    w.show_worklist()
    assert w.worklist_view.model.rowCount() > 0
