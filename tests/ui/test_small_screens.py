"""Nothing in the patient view is cut off on the screens the console is made for, and the
tables that hold long texts (History, lot search) fit their width without scrolling sideways.

Every demo patient (long alarm texts, a drift panel, stale-reading headlines, flex steps) is
opened at 1366 x 768 and 1920 x 1080. Every time a label of the patient header or the
Overview paints, it must be as tall as its words need at its width (``heightForWidth`` for
a wrapped label, ``sizeHint`` otherwise) and no parent may cut it: a frame painted with the
last line of a label missing is what a nurse sees as clipped text. Once the window has
settled, every label shown (scrolled into view or not) must fit the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea, QStyle, QTableView, QWidget
from pytestqt.qtbot import QtBot

from itbconsole.demo import DEMO_PATIENTS
from tests.ui.conftest import Console
from ui.history_view import WIDTH_SAMPLES
from ui.lot_search_view import ANY_PRODUCT, SHOWN, STRETCHED, LotSearchDialog
from ui.printouts_screenshots import demo_clinic

SCREENS = [(1366, 768), (1920, 1080)]


def required_height(label: QLabel) -> int:
    """The height the label's words need at its present width."""
    if label.wordWrap():
        needed = label.heightForWidth(label.width())
        if needed >= 0:
            return needed
    return label.sizeHint().height()


def visible_rect(label: QLabel) -> QRect:
    """The part of the label its parents leave visible, in the label's coordinates. A scroll
    area's viewport does not count: what it hides is a scroll away."""
    rect = QRect(QPoint(0, 0), label.size())
    widget: QWidget = label
    offset = QPoint(0, 0)
    while (parent := widget.parentWidget()) is not None and not widget.isWindow():
        offset += widget.pos()
        area = parent.parentWidget()
        if isinstance(area, QScrollArea) and parent is area.viewport():
            break
        rect = rect.intersected(QRect(QPoint(0, 0), parent.size()).translated(-offset))
        widget = parent
    return rect


def clipping(label: QLabel) -> str | None:
    """Why the label's text is cut off, or None when it all shows."""
    rect = visible_rect(label)
    name = label.accessibleName() or label.objectName()
    needed = required_height(label)
    if rect.height() < needed:
        return f"{name!r} shows {rect.height()} px of the {needed} px its text needs"
    if not label.wordWrap() and rect.width() < label.sizeHint().width():
        return f"{name!r} shows {rect.width()} px of the {label.sizeHint().width()} px wide text"
    return None


def labels_shown(root: QWidget) -> list[QLabel]:
    return [
        label
        for label in root.findChildren(QLabel)
        if label.isVisibleTo(root.window()) and label.text()
    ]


class PaintWatch(QObject):
    """Notes every label under ``root`` that paints while its text is cut off."""

    def __init__(self, root: QWidget) -> None:
        super().__init__()
        self.root = root
        self.clipped: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Paint
            and isinstance(watched, QLabel)
            and watched.text()
            and self.root.isAncestorOf(watched)
        ):
            why = clipping(watched)
            if why is not None:
                self.clipped.append(why)
        return False


def cut_off_while_shown(console: Console, screen: tuple[int, int], *, from_tab: str) -> list[str]:
    """Open every demo patient at ``screen`` with the ``from_tab`` tab in front, then bring
    the Overview to the front: every label painted cut off, per patient."""
    window = console.window
    view = window.patient_view
    window.resize(*screen)
    console.qtbot.waitUntil(lambda: window.size().toTuple() == screen)
    app = QApplication.instance()
    assert app is not None
    watch = PaintWatch(view)
    app.installEventFilter(watch)
    failures: list[str] = []
    try:
        for spec in DEMO_PATIENTS:
            view.tabs.setCurrentWidget(getattr(view, from_tab))
            watch.clipped.clear()
            window.open_patient(console.patient_id(spec.family))
            view.tabs.setCurrentWidget(view.overview)
            # Settled: every label shown is as tall as its words (a scroll away or not).
            console.qtbot.waitUntil(
                lambda: all(clipping(label) is None for label in labels_shown(view))
            )
            window.grab()  # paints every label in view once more, as the screen shows it
            failures += [f"{spec.family}: {why}" for why in dict.fromkeys(watch.clipped)]
    finally:
        app.removeEventFilter(watch)
    return failures


@pytest.mark.parametrize("screen", SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def test_no_label_is_cut_off_for_any_demo_patient(
    console: Console, screen: tuple[int, int]
) -> None:
    assert cut_off_while_shown(console, screen, from_tab="overview") == []


def test_the_overview_shown_after_another_tab_is_not_cut_off(console: Console) -> None:
    """The patient filled in while History was in front: the Overview lays out when shown."""
    assert cut_off_while_shown(console, (1366, 768), from_tab="history") == []


def test_the_check_sees_a_label_cut_off(console: Console) -> None:
    """The check itself: a label squeezed below its words' height is reported."""
    console.window.resize(1366, 768)
    console.window.open_patient(console.patient_id("Brennan"))
    drift = console.window.patient_view.overview.drift_value
    console.qtbot.waitUntil(lambda: clipping(drift) is None)
    drift.setFixedHeight(required_height(drift) - 10)
    assert "Delivery drift" in (clipping(drift) or "")


def test_the_refill_button_that_updates_the_pump_is_never_cut_short(console: Console) -> None:
    """The review step's "Confirm and update pump" keeps its whole label at the wizard's
    opening size, whatever the footer says beside it."""
    from ui.refill import open_refill_wizard

    console.window.open_patient(console.patient_id("Okafor"))
    wizard = open_refill_wizard(console.window)
    assert wizard is not None
    console.qtbot.addWidget(wizard)
    wizard.resize(960, 640)
    console.qtbot.waitUntil(lambda: wizard.isVisible(), timeout=3_000)
    # The label changes as the review step is reached: whatever is drawn next (before or
    # after the layout catches up) shows it whole.
    wizard.next_button.setText("&Confirm and update pump")
    assert wizard.next_button.width() >= wizard.next_button.sizeHint().width()
    wizard.cancel()


# ---------------------------------------------------------------------- tables


@pytest.fixture
def styled(qapp: QApplication) -> Iterator[None]:
    """The window's own style sheet (its 10 pt font), as the console runs."""
    from ui.app import stylesheet

    before = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet())
    yield
    qapp.setStyleSheet(before)


def cell_margin(table: QTableView) -> int:
    """The room a cell keeps either side of its text."""
    style = table.style()
    return 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)


def cut_cells(table: QTableView, *, eliding: Sequence[int] = ()) -> list[str]:
    """Cells and headings shown cut short. A column in ``eliding`` may cut its text
    (ending in "..."), provided the cell's tooltip is its whole text."""
    model = table.model()
    metrics = table.fontMetrics()
    margin = cell_margin(table)
    cut: list[str] = []
    for col in range(model.columnCount()):
        if table.isColumnHidden(col):
            continue
        width = table.columnWidth(col)
        heading = str(model.headerData(col, Qt.Orientation.Horizontal) or "")
        if metrics.horizontalAdvance(heading) + margin > width:
            cut.append(f"heading {heading!r} in {width} px")
        for row in range(model.rowCount()):
            index = model.index(row, col)
            text = str(index.data() or "")
            if metrics.horizontalAdvance(text) + margin <= width:
                continue
            if col in eliding and index.data(Qt.ItemDataRole.ToolTipRole) == text:
                continue
            cut.append(f"{heading} row {row}: {text!r} in {width} px")
    return cut


def test_the_history_table_gives_what_the_room_at_1366(console: Console, styled: None) -> None:
    """At 1366 x 768 the When, Kind and By columns show every entry whole and no wider than
    needed; What takes the rest, and a text cut short keeps its whole in its tooltip. The
    table never scrolls sideways."""
    window = console.window
    window.resize(1366, 768)
    console.qtbot.waitUntil(lambda: window.size().toTuple() == (1366, 768))
    view = window.patient_view
    window.open_patient(console.patient_id("Patel"))  # the longest history of the demo
    view.tabs.setCurrentWidget(view.history)
    table = view.history.table
    console.qtbot.waitUntil(lambda: table.isVisible() and table.model().rowCount() > 20)
    assert cut_cells(table, eliding=[2]) == []
    widths = [table.columnWidth(c) for c in range(4)]
    assert widths[2] > max(widths[0], widths[1], widths[3])
    assert sum(widths) <= table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0
    metrics = table.fontMetrics()
    for col, text in WIDTH_SAMPLES.items():  # compact: the usual text and its margins
        assert widths[col] <= metrics.horizontalAdvance(text) + 2 * cell_margin(table)


def test_the_lot_search_fits_its_window_at_1100(qtbot: QtBot, tmp_path: Path, styled: None) -> None:
    """Every column of the lot search shows at its opening width (1,100 px) without
    scrolling sideways: short headings (the CSV's full header in their tooltips), dates,
    numbers, lot and status whole; only a long name or drug may end in "..." with its
    whole text in the tooltip."""
    from PySide6.QtWidgets import QApplication as App

    clinic = demo_clinic(tmp_path)
    try:
        dialog = LotSearchDialog(clinic)
        qtbot.addWidget(dialog)
        dialog.show()
        assert dialog.width() == 1100
        dialog.lot.setText(clinic.refill_records()[0].refill.lot)
        dialog.product.setCurrentText(ANY_PRODUCT)
        assert dialog.search()
        App.processEvents()
        table = dialog.table
        assert table.horizontalScrollBar().maximum() == 0
        stretched = [SHOWN.index(title) for title in STRETCHED]
        assert cut_cells(table, eliding=stretched) == []
        # The long names still show whole in the demo clinic.
        assert cut_cells(table) == []
        model = dialog.model
        tips = [model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
                for c in range(model.columnCount())]  # fmt: skip
        assert "Concentration (mcg/mL)" in tips and "Date (clinic's zone)" in tips
        # "Record" shows only when a refill found was corrected or withdrawn: it is then
        # there, whole, and the window still does not scroll sideways.
        record = SHOWN.index("Record")
        assert table.isColumnHidden(record)
        found = clinic.refill_records()[0]
        clinic.store.mark_entered_in_error("refills", found.refill.id, clinic.user, "wrong lot")
        dialog.search()
        App.processEvents()
        assert not table.isColumnHidden(record)
        assert "entered in error" in str(model.index(0, record).data())
        assert table.horizontalScrollBar().maximum() == 0
        assert cut_cells(table, eliding=stretched) == []
    finally:
        clinic.store.close()
