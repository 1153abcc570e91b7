"""The patient header at 1366 px: it wraps between items, never inside a number or a date,
and writes dates as every screen does."""

from __future__ import annotations

from tests.ui.conftest import Console
from ui.patient_view import SEPARATOR, format_nhs


def test_the_nhs_number_never_wraps_apart() -> None:
    assert format_nhs("9434765919") == "NHS\u00a0943\u00a0476\u00a05919"
    assert " " not in format_nhs("9434765919") and " " not in format_nhs(None)


def test_the_header_wraps_between_items_only(console: Console) -> None:
    console.window.open_patient(console.patient_id("Brennan"))
    header = console.window.patient_view.header
    details = header.details.text()
    items = details.split(SEPARATOR)
    assert items == [
        f"Born\u00a030\u00a0Sep\u00a01958\u00a0({items[0].split('(')[1][:2]}\u00a0y)",
        "Hospital\u00a0no.\u00a0H100388",
        "NHS\u00a0401\u00a0023\u00a02137",
        "Spinal\u00a0origin",
    ]
    assert all(" " not in item for item in items)  # no place to wrap inside an item
    assert not SEPARATOR.startswith(" ")  # a wrapped line never starts with the dot
    assert "implanted 19 Sep 2023" in header.pump.text()


def test_the_nhs_number_shows_on_one_line_at_1366_px(console: Console) -> None:
    """The header's words at the window's narrowest: the NHS number's line holds all of it."""
    console.window.resize(1366, 768)
    console.window.open_patient(console.patient_id("Brennan"))
    header = console.window.patient_view.header
    console.qtbot.waitUntil(lambda: header.details.width() > 0)
    metrics = header.details.fontMetrics()
    assert metrics.horizontalAdvance("NHS\u00a0401\u00a0023\u00a02137") < header.details.width()
    label = header.details
    console.qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()))
