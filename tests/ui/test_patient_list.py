"""The patient list as a nurse searches it: the order the list shows ("okafor grace"), part
of an NHS number with or without its spaces, part of a hospital number or pump serial, a
message when nobody matches, no re-read of the database, and whole names at 1366 px."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import Console


def shown(console: Console) -> list[str]:
    model = console.window.patient_list.model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def search(console: Console, text: str) -> list[str]:
    panel = console.window.patient_list
    console.qtbot.waitUntil(lambda: panel.loaded, timeout=5_000)
    panel.search.setText(text)
    panel.apply_search()  # what the box does a moment after the last key
    return shown(console)


@pytest.mark.parametrize(
    "text",
    [
        "okafor grace",  # as the list shows it: family, given
        "OKAFOR, Grace",  # copied from the list
        "grace okafor",
        "oka gr",
        "943 476 5919",  # the NHS number as written
        "9434765919",
        "943 476",  # part of it, with or without spaces
        "4765919",
        "476 59",
        "SIM0000001",
        "sim0000001",
    ],
)
def test_search_finds_okafor(console: Console, text: str) -> None:
    assert search(console, text) == ["OKAFOR, Grace"]


def test_part_of_a_hospital_number_or_a_serial_finds_the_patient(console: Console) -> None:
    assert search(console, "H100388") == ["BRENNAN, Thomas"]
    assert search(console, "100388") == ["BRENNAN, Thomas"]
    assert search(console, "h10038") == ["BRENNAN, Thomas"]
    assert len(search(console, "SIM000000")) > 1  # every simulated pump's patient
    assert search(console, "SIM0000003") == ["PATEL, Ravi"]


def test_a_word_must_start_a_name(console: Console) -> None:
    assert search(console, "kafor") == []  # inside a name: not a match
    assert search(console, "okafor ravi") == []  # both words must match the same patient


def test_nobody_found_says_so_in_the_list(console: Console) -> None:
    panel = console.window.patient_list
    assert search(console, "zzzz") == []
    assert panel.empty_message.isVisible()
    assert "No patient matches \u201czzzz\u201d" in panel.empty_message.text()
    assert "NHS number" in panel.empty_message.text()
    assert panel.count_label.text() == "0 of 12 patients"
    assert len(search(console, "")) == 12
    assert not panel.empty_message.isVisible()
    assert panel.count_label.text() == "12 patients"


def test_searching_and_clearing_read_nothing_from_the_database(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    search(console, "")  # the list has arrived

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the list was read again")

    for name in ("patient_list", "patient_rows", "patient_rows_of", "patient_list_reader"):
        monkeypatch.setattr(console.clinic, name, refuse)
    assert search(console, "okafor") == ["OKAFOR, Grace"]
    assert search(console, "okafor g") == ["OKAFOR, Grace"]
    assert len(search(console, "")) == 12


def test_the_open_patient_stays_selected_through_a_search(console: Console) -> None:
    panel = console.window.patient_list
    okafor = console.patient_id("Okafor")
    search(console, "")
    assert panel.select_patient(okafor)
    search(console, "oka")
    search(console, "")
    rows = panel.table.selectionModel().selectedRows()
    assert [panel.model.patient_id_at(i.row()) for i in rows] == [okafor]
    assert console.window.current_patient_id == okafor


def test_whole_names_at_1366_by_768(console: Console) -> None:
    window = console.window
    window.resize(1366, 768)
    console.qtbot.waitUntil(lambda: window.patient_list.loaded, timeout=5_000)
    console.qtbot.waitExposed(window)
    table = window.patient_list.table
    assert len(shown(console)) == 12
    # Room for each name with the cell's margins, as the view itself measures what a cell
    # needs: nothing is cut ("BRENNAN, ...").
    assert table.columnWidth(0) >= table.sizeHintForColumn(0), (
        table.columnWidth(0),
        table.sizeHintForColumn(0),
    )
    # Every column is in view: no horizontal scrolling to find the status.
    assert not table.horizontalScrollBar().isVisible()
    status = window.patient_list.model.index(0, 3).data(Qt.ItemDataRole.DisplayRole)
    assert status


def test_the_list_is_read_after_the_window_shows(console: Console) -> None:
    """The window appears first; the rows arrive from a worker a moment later."""
    panel = console.window.patient_list
    assert not panel.loaded and panel.empty_message.text() == "Reading the patient list..."
    console.qtbot.waitUntil(lambda: panel.loaded, timeout=5_000)
    assert len(shown(console)) == 12
