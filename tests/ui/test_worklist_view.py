"""View > Worklist on the demo clinic: reached by the keyboard, the same lines as the clinic
service, filtered and sorted, a patient opened with Enter, the CSV read back and the printed
list's text checked (pdftotext when installed, else the document's own text)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument

from itbconsole.display import fmt_day
from itbconsole.services import worklist as wl
from tests.ui.conftest import LONDON, Console
from tests.ui.test_refill_wizard import save_dialog_starts
from ui import worklist_view
from ui.worklist_print import TRAINING_MARK, worklist_html


def open_worklist(console: Console) -> worklist_view.WorklistView:
    window = console.window
    window.activateWindow()
    console.qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5_000)
    console.qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    view = window.worklist_view
    console.qtbot.waitUntil(lambda: window.pages.currentWidget() is view, timeout=5_000)
    return view


def pdf_text(path: Path, html: str) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        doc = QTextDocument()
        doc.setHtml(html)
        return doc.toPlainText()
    out = subprocess.run(
        [tool, "-raw", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return unicodedata.normalize("NFKC", out)  # the PDF's "fi" ligatures as two letters


def test_ctrl_l_shows_the_clinic_services_lines(console: Console) -> None:
    window = console.window
    assert window.worklist_action.shortcut().toString() == "Ctrl+L"
    view = open_worklist(console)
    assert view.table.hasFocus()
    expected = console.clinic.clinic_worklist(now=window.now())
    assert view.shown == expected.items
    assert view.model.rowCount() == len(expected.items) > 0
    first = expected.items[0]
    assert view.model.text(first, 0) == first.category.label
    assert view.model.text(first, worklist_view.DATE_COLUMN) == (
        f"{fmt_day(first.day)} · {first.day_is}" if first.day else "-"
    )
    assert f"({len(expected.items)})" in view.category.itemText(0)
    assert view.days.value() == console.clinic.settings.due_soon_days
    assert view.details.text().endswith(first.reason)
    assert "Clinic day worklist" in view.title.text()


def test_the_date_column_says_what_each_date_is_and_fits_at_1366x768(console: Console) -> None:
    """A bare date means End of Service on one line and refill by on the next: the cell
    says which, in full, beside a Why column still wide enough to read."""
    window = console.window
    window.resize(1366, 768)
    view = open_worklist(console)
    console.qtbot.waitUntil(lambda: view.table.isVisible(), timeout=5_000)
    dated = [i for i in view.shown if i.day is not None]
    assert {i.day_is for i in dated} >= {"refill by", "alarm"}
    metrics = view.table.fontMetrics()
    width = view.table.columnWidth(worklist_view.DATE_COLUMN)
    for item in dated:
        assert item.day is not None
        cell = view.model.text(item, worklist_view.DATE_COLUMN)
        assert cell == f"{fmt_day(item.day)} · {item.day_is}"
        assert metrics.horizontalAdvance(cell) <= width - 8, cell
    longest = f"{fmt_day(date(2026, 11, 28))} · End of Service (projected)"
    assert metrics.horizontalAdvance(longest) <= width - 8
    why = view.table.columnWidth(len(worklist_view.COLUMNS) - 1)
    assert why >= 400


def test_a_category_filter_and_a_sort_by_date(console: Console) -> None:
    view = open_worklist(console)
    counts = view.worklist.counts()  # type: ignore[union-attr]
    view.category.setFocus()
    view.set_category(wl.Category.REFILL_DUE)
    assert {i.category for i in view.shown} == {wl.Category.REFILL_DUE}
    assert len(view.shown) == counts[wl.Category.REFILL_DUE] > 1
    view.set_category(None)
    assert len(view.shown) == sum(counts.values())
    view.table.sortByColumn(worklist_view.DATE_COLUMN, Qt.SortOrder.AscendingOrder)
    days = [i.day or date.max for i in view.shown]
    assert days == sorted(days)
    view.table.sortByColumn(worklist_view.DATE_COLUMN, Qt.SortOrder.DescendingOrder)
    assert [i.day or date.max for i in view.shown] == sorted(days, reverse=True)


def test_enter_opens_the_patient_and_ctrl_f_goes_back(console: Console) -> None:
    window = console.window
    view = open_worklist(console)
    walsh = console.patient_id("Walsh")
    row = next(n for n, i in enumerate(view.shown) if i.patient_id == walsh)
    view.table.selectRow(row)
    console.qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert window.current_patient_id == walsh
    assert window.pages.currentWidget() is window.splitter
    assert window.patient_view.header.isVisible()
    open_worklist(console)
    console.qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.splitter


def test_double_click_opens_the_patient(console: Console) -> None:
    window = console.window
    view = open_worklist(console)
    item = view.shown[-1]
    rect = view.table.visualRect(view.model.index(len(view.shown) - 1, 2))
    console.qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_patient_id is None  # one click only selects
    console.qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_patient_id == item.patient_id


def test_the_days_control_reads_the_list_again(console: Console) -> None:
    view = open_worklist(console)
    due = len([i for i in view.shown if i.category is wl.Category.REFILL_DUE])
    view.days.setValue(0)
    console.qtbot.waitUntil(lambda: view.worklist.days == 0, timeout=5_000)  # type: ignore[union-attr]
    assert len([i for i in view.shown if i.category is wl.Category.REFILL_DUE]) < due
    assert "within 0 days" in view.summary.text()


def test_export_csv_through_its_seam(console: Console, tmp_path: Path) -> None:
    view = open_worklist(console)
    view.set_category(wl.Category.LOW_RESERVOIR_ALARM)
    asked: list[str] = []

    def ask_csv_path(suggested: str) -> str:
        asked.append(suggested)
        return str(tmp_path / "day")

    view.ask_csv_path = ask_csv_path
    console.qtbot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)
    today = console.clinic.today(console.window.now())
    assert asked == [f"worklist-{today.isoformat()}.csv"]
    with (tmp_path / "day.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["Patient"] for r in rows] == [i.patient for i in view.shown]
    assert {r["Category"] for r in rows} == {"Low-reservoir alarm"}
    assert [r["Date"] for r in rows] == [i.day.isoformat() for i in view.shown if i.day]
    view.ask_csv_path = lambda _s: None  # cancelled: nothing written, nothing said
    assert view.export_clicked() is None and console.prompts.errors == []


def test_the_save_dialogs_open_in_documents(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = open_worklist(console)
    starts = save_dialog_starts(monkeypatch, tmp_path / "Documents")
    assert view.export_clicked() is None and view.print_clicked() is None  # both cancelled
    today = console.clinic.today(console.window.now())
    assert starts == [
        str(tmp_path / "Documents" / f"worklist-{today.isoformat()}.csv"),
        str(tmp_path / "Documents" / f"worklist-{today.isoformat()}.pdf"),
    ]
    assert console.prompts.errors == []


def test_an_export_that_cannot_be_written_says_so(console: Console, tmp_path: Path) -> None:
    view = open_worklist(console)
    view.ask_csv_path = lambda _s: str(tmp_path / "no such folder" / "w.csv")
    assert view.export_clicked() is None
    (title, message), *_ = console.prompts.errors
    assert title == "Export CSV failed" and "Choose a folder you can save to" in message


def test_ctrl_p_prints_the_clinic_day_list(console: Console, tmp_path: Path) -> None:
    view = open_worklist(console)
    view.ask_pdf_path = lambda _s: str(tmp_path / "list.pdf")
    console.qtbot.keyClick(view.table, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    pdf = tmp_path / "list.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    worklist = view.worklist
    assert worklist is not None and worklist.training
    html = worklist_html(
        worklist, view.shown, showing="all categories", printed_by="x", printed_at=datetime.now(UTC)
    )
    text = " ".join(pdf_text(pdf, html).split())
    assert f"Clinic day worklist, {worklist.title.split(', ', 1)[1]}" in text
    for item in view.shown:
        assert item.patient in text and item.category.label in text
    if shutil.which("pdftotext"):
        assert TRAINING_MARK in text and "page 1 of" in text
        # When it was printed, as every moment is written: the clinic's time and zone.
        printed = re.search(r"Printed (\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d [A-Z]{3,4}) by", text)
        assert printed is not None, text
        assert printed[1].endswith(view.now().astimezone(LONDON).tzname() or "?")


def test_the_printed_time_is_the_clinics_with_its_zone(console: Console) -> None:
    view = open_worklist(console)
    assert view.worklist is not None
    # 23:30 UTC on 14 July is 00:30 BST on 15 July in a London clinic.
    html = worklist_html(
        view.worklist, view.shown, showing="all categories", printed_by="Nurse",
        printed_at=datetime(2026, 7, 14, 23, 30, tzinfo=UTC), tz=LONDON,
    )  # fmt: skip
    assert "Printed 15 Jul 2026 00:30 BST\nby Nurse." in html
    winter = worklist_html(
        view.worklist, view.shown, showing="all categories", printed_by="Nurse",
        printed_at=datetime(2026, 11, 30, 9, 5, tzinfo=LONDON),
    )  # fmt: skip
    assert "Printed 30 Nov 2026 09:05 GMT\nby Nurse." in winter  # printed_at's own zone


def test_a_clinic_list_has_no_training_mark(console: Console, tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed: the painted page heading cannot be read")
    from dataclasses import replace

    from ui.worklist_print import print_worklist

    view = open_worklist(console)
    assert view.worklist is not None
    clinic_day = replace(view.worklist, training=False)
    pdf = print_worklist(
        clinic_day,
        view.shown,
        tmp_path / "clinic.pdf",
        showing="all categories",
        printed_by="Nurse",
        printed_at=datetime.now(UTC),
    )
    text = pdf_text(pdf, "")
    assert "TRAINING" not in text and "Clinic day worklist" in text


def test_drift_lines_follow_when_worked_out_in_steps(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worklist_view, "DRIFT_STEP", 1)
    console.clinic._drift_memo = None  # as on the first opening after a start
    view = open_worklist(console)
    assert view.worklist is not None and view.worklist.drift_unchecked > 0
    console.qtbot.waitUntil(
        lambda: view.worklist is not None and view.worklist.drift_unchecked == 0, timeout=10_000
    )
    drift = [i for i in view.shown if i.category is wl.Category.DELIVERY_DRIFT]
    assert [i.patient for i in drift] == ["BRENNAN, Thomas"]


def test_the_lines_made_ahead_after_the_list_arrives_are_the_worklists(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the list has arrived the window makes the worklist's lines and drift ahead, a
    short step at a time; the worklist then opened has made no line itself, and its lines
    are those a service that made nothing ahead gives."""
    from itbconsole.services.clinic import ClinicService

    window = console.window
    console.qtbot.waitUntil(lambda: window.patient_list.loaded, timeout=5_000)
    console.qtbot.waitUntil(
        lambda: window._ahead is not None and not window._ahead.isActive(), timeout=10_000
    )
    made: list[object] = []
    real = wl._items
    monkeypatch.setattr(wl, "_items", lambda *a: made.append(a) or real(*a))
    view = open_worklist(console)
    assert made == []  # every line was made ahead
    fresh = ClinicService(console.clinic.store, console.clinic.library, console.clinic.user)
    fresh.settings = console.clinic.settings
    expected = fresh.clinic_worklist(now=window.now())
    assert view.worklist is not None
    assert view.worklist.items == expected.items


def test_once_the_drift_is_known_the_list_marks_the_drifting_pump(console: Console) -> None:
    """After the window's work ahead, Brennan (delivery falling towards withdrawal) is
    marked in the list's status, not just on his Overview."""
    window = console.window
    console.qtbot.waitUntil(lambda: window.patient_list.loaded, timeout=5_000)
    console.qtbot.waitUntil(
        lambda: window._ahead is not None and not window._ahead.isActive(), timeout=10_000
    )
    model = window.patient_list.model
    brennan = console.patient_id("Brennan")
    row = next(r for r in range(model.rowCount()) if model.patient_id_at(r) == brennan)
    status = model.data(model.index(row, 3))
    assert "drift" in str(status)
