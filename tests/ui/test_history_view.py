"""The History tab on the demo clinic: the patient's records in one table, filtered by kind
(mouse or keyboard), sorted, the selected entry's details, CSV export through the
``ask_export_path`` seam (no modal dialog), and a reload after a new record."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from itbconsole.demo import DEMO_NURSE
from itbconsole.model import RefillStatus
from itbconsole.services.history import Kind
from tests.itbconsole.test_history import add_clinic_day
from tests.ui.conftest import Console
from tests.ui.test_refill_wizard import save_dialog_starts
from ui.history_view import HistoryTab


def open_history(console: Console, family: str) -> HistoryTab:
    view = console.window.patient_view
    console.window.open_patient(console.patient_id(family))
    view.tabs.setCurrentWidget(view.history)
    tab = view.history
    console.qtbot.waitUntil(lambda: tab.model.rowCount() > 0, timeout=5_000)
    return tab


def refill_count(console: Console, patient_id: int) -> int:
    """Refill records (first versions) stored for the patient."""
    return int(
        console.clinic.store.db.execute(
            "SELECT COUNT(*) FROM refills WHERE patient_id = ? AND corrects_id IS NULL",
            [patient_id],
        ).fetchone()[0]
    )


def test_the_tab_shows_the_whole_timeline_newest_first(console: Console) -> None:
    day = add_clinic_day(console.clinic)
    tab = open_history(console, "Walsh")
    timeline = console.clinic.patient_timeline(day.patient_id)
    assert tab.model.rowCount() == len(timeline)
    assert tab.kind_filter.currentText() == f"All entries ({len(timeline)})"
    # Newest first: the timeline reversed, each correction still beside its record.
    assert [r.summary for r in tab.model.shown()] == [r.summary for r in reversed(timeline)]
    first = tab.model.index(0, 0)
    assert tab.table.currentIndex().row() == 0
    assert tab.model.data(first) == timeline[-1].when
    assert timeline[-1].summary in tab.details.toPlainText()
    assert (
        f"{len(timeline)} of {len(timeline)} entries, by when, newest first" == tab.heading.text()
    )

    tab.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [r.summary for r in tab.model.shown()] == [r.summary for r in timeline]
    assert "oldest first" in tab.heading.text()


def test_the_kind_filter_keeps_a_kind_and_its_corrections(console: Console) -> None:
    day = add_clinic_day(console.clinic)
    tab = open_history(console, "Walsh")
    tab.set_kind(Kind.REFILL)
    shown = tab.model.shown()
    refills = [r for r in shown if r.kind is Kind.REFILL]
    assert len(refills) == refill_count(console, day.patient_id)
    assert {r.kind for r in shown} == {Kind.REFILL, Kind.CORRECTION}
    assert all(r.about is Kind.REFILL for r in shown if r.kind is Kind.CORRECTION)
    assert tab.kind_filter.currentText() == f"Refill ({len(shown)})"
    # Each correction sits next to the refill it settles, whichever way the table is sorted.
    settle = next(n for n, r in enumerate(shown) if r.kind is Kind.CORRECTION)
    assert shown[settle + 1].record == f"refills {day.refill_id}"

    tab.set_kind(None)
    assert tab.model.rowCount() == len(console.clinic.patient_timeline(day.patient_id))


def test_keyboard_reaches_the_filter_the_export_the_table_and_the_details(
    console: Console,
) -> None:
    add_clinic_day(console.clinic)
    tab = open_history(console, "Walsh")
    for widget in (tab.kind_filter, tab.export_button, tab.table, tab.details):
        assert widget.accessibleName(), widget
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus, widget
    assert tab.filter_label.buddy() is tab.kind_filter and "&" in tab.filter_label.text()
    assert tab.kind_filter.nextInFocusChain() is tab.export_button
    assert tab.export_button.nextInFocusChain() is tab.table
    assert "&" in tab.export_button.text()
    view = console.window.patient_view
    assert "&" in view.tabs.tabText(view.tabs.indexOf(tab))

    # Down on the focused filter moves to the next kind; the table follows.
    tab.kind_filter.setFocus()
    console.qtbot.keyClick(tab.kind_filter, Qt.Key.Key_Down)
    kind = tab.current_kind()
    assert kind is Kind.PATIENT  # the first kind after "All entries"
    assert all(r.matches(kind) for r in tab.model.shown())

    # Moving through the table with the keys shows each entry's details.
    tab.set_kind(None)
    tab.table.setFocus()
    row, before = tab.table.currentIndex().row(), tab.details.toPlainText()
    console.qtbot.keyClick(tab.table, Qt.Key.Key_Down)
    assert tab.table.currentIndex().row() == row + 1
    assert tab.details.toPlainText() != before
    assert tab.model.shown()[row + 1].summary in tab.details.toPlainText()


def test_export_writes_the_rows_shown_through_the_seam(console: Console, tmp_path: Path) -> None:
    day = add_clinic_day(console.clinic)
    tab = open_history(console, "Walsh")
    tab.set_kind(Kind.REFILL)
    asked: list[str] = []

    def ask(suggested: str) -> str:
        asked.append(suggested)
        return str(tmp_path / "walsh")

    tab.ask_export_path = ask
    tab.export_button.click()
    assert asked == ["history-H100645-refill.csv"]
    saved = tmp_path / "walsh.csv"
    with saved.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["Summary"] for r in rows] == [r.summary for r in tab.model.shown()]
    assert {r["Kind"] for r in rows} == {"Refill", "Correction"}
    today = next(r for r in rows if r["Record"] == f"refills {day.refill_id}")
    assert today["Withdrawn (mL)"] == "3.100" and today["Discrepancy (mL)"] == "-0.300"
    assert str(saved) in tab.message.text()
    entry = list(console.clinic.store.audit_entries())[-1]
    assert entry["action"] == "patient_history_exported" and str(saved) in entry["payload"]

    # Cancelled: nothing happens. A folder that does not exist: said in the tab.
    tab.ask_export_path = lambda suggested: None
    tab.export_button.click()
    tab.ask_export_path = lambda suggested: str(tmp_path / "missing" / "x.csv")
    tab.export_button.click()
    assert "History not saved" in tab.message.text()
    assert not console.prompts.errors


def test_the_export_dialog_opens_in_documents(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = open_history(console, "Walsh")
    starts = save_dialog_starts(monkeypatch, tmp_path / "Documents")
    tab.export_button.click()  # cancelled: nothing written, nothing said
    assert starts == [str(tmp_path / "Documents" / tab.suggested_file_name())]
    assert not console.prompts.errors


def test_the_tab_follows_the_patient_and_new_records(console: Console) -> None:
    tab = open_history(console, "Okafor")
    assert tab.patient_name == "OKAFOR, Grace"
    pid = console.patient_id("Walsh")
    console.window.open_patient(pid)
    console.qtbot.waitUntil(lambda: tab.patient_name == "WALSH, Siobhan", timeout=5_000)
    count = tab.model.rowCount()
    history = console.clinic.patient_history(pid)
    last = history.refills[-1]
    console.clinic.store.add_refill(
        replace(last, at=last.at + timedelta(days=90), status=RefillStatus.PENDING, id=None),
        DEMO_NURSE,
        patient_id=pid,
    )
    console.window.open_patient(pid)  # what the window does after a save
    console.qtbot.waitUntil(lambda: tab.model.rowCount() == count + 1, timeout=5_000)
    assert sum(r.summary.endswith("; pending") for r in tab.model.shown()) == 1


def test_no_patient_no_rows(console: Console) -> None:
    view = console.window.patient_view
    view.tabs.setCurrentWidget(view.history)
    assert view.history.model.rowCount() == 0
    assert not view.history.export_button.isEnabled()
