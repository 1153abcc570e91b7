"""View > Worklist (Ctrl+L): the clinic day's lines in a sortable table.

A thin view over :meth:`itbconsole.services.clinic.ClinicService.clinic_worklist`: every
line, date and reason comes from the service (and so from the forecast); the view filters
by category, asks for another window of days, opens a patient (Enter or double-click),
exports the lines shown as CSV and prints them as a PDF. Where a file goes is asked through
replaceable seams (``ask_csv_path``, ``ask_pdf_path``) and errors go to ``report_error``,
so tests never open a modal dialog.

Delivery drift takes a while to work out for thousands of pumps the first time (it reads
every refill); the list shows at once and the drift lines follow, a batch of pumps at a
time between events, so the window keeps answering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFontMetrics,
    QHideEvent,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day, fmt_weekday
from itbconsole.services.clinic import ClinicService
from itbconsole.services.worklist import Category, WorkItem, Worklist, write_worklist_csv
from itbconsole.store import StoreError
from ui.dialogs import ask_save_path
from ui.table_model import ListTableModel, ModelIndex
from ui.worklist_print import URGENT, print_worklist

COLUMNS = ("What", "Date", "Patient", "Hosp. no.", "Pump", "Why")
COLUMN_SAMPLES = (
    "No recent interrogation",
    "28 Nov 2026 · End of Service (projected)",  # the longest "date is"
    "KOWALCZYK, Anna",
    "H100644",
    "SIM0000001",
    "",
)
DATE_COLUMN = 1
URGENT_BG = QColor("#f8d7da")
SOON_BG = QColor("#fff3cd")
#: The longest window of days the control offers (the clinic's due-soon setting allows 180).
MAX_DAYS = 365
#: Pumps whose delivery drift is worked out per step (about 0.4 ms each: a step stays well
#: under the 50 ms the window may stop answering).
DRIFT_STEP = 50


def _sort_key(item: WorkItem, column: int) -> Any:
    if column == 0:
        return item.sort_key
    if column == DATE_COLUMN:
        return (item.day or date.max, item.category.rank, item.patient)
    if column == 2:
        return (item.patient.casefold(), item.category.rank)
    if column == 3:
        return (item.hospital_number, item.category.rank)
    if column == 4:
        return (item.pump_serial, item.category.rank)
    return (item.reason.casefold(), item.category.rank)


class WorklistModel(ListTableModel):
    """The lines of one category (or all), sorted in Python with one key per line (a proxy
    model would call data() n log n times through Qt)."""

    columns = COLUMNS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worklist: Worklist | None = None
        self.items: list[WorkItem] = []
        self.category: Category | None = None
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_worklist(self, worklist: Worklist) -> None:
        self.worklist = worklist
        self._fill()

    def set_category(self, category: Category | None) -> None:
        self.category = category
        self._fill()

    def _fill(self) -> None:
        self.beginResetModel()
        items = self.worklist.items if self.worklist is not None else ()
        shown = [i for i in items if self.category is None or i.category is self.category]
        if self._sort_column != 0 or self._sort_order != Qt.SortOrder.AscendingOrder:
            # The service's order is the category order: sort only for another column.
            shown.sort(
                key=lambda i: _sort_key(i, self._sort_column),
                reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
            )
        self.items = shown
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        self.items.sort(
            key=lambda i: _sort_key(i, column), reverse=order == Qt.SortOrder.DescendingOrder
        )
        self.layoutChanged.emit()

    def shown_count(self) -> int:
        return len(self.items)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(item, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            when = f"{item.day_is}: {fmt_day(item.day)}\n" if item.day else ""
            status = f"Status: {item.status.label}\n" if item.status is not None else ""
            return f"{item.category.label}\n{when}{status}\n{item.reason}"
        if role == Qt.ItemDataRole.BackgroundRole and col in (0, DATE_COLUMN):
            return QBrush(URGENT_BG if item.category in URGENT else SOON_BG)
        return None

    @staticmethod
    def text(item: WorkItem, col: int) -> str:
        if col == 0:
            return item.category.label
        if col == DATE_COLUMN:
            # What the date is differs per line (End of Service, refill by, drifting
            # since...): said beside it, as the printed list does.
            if not item.day:
                return "-"
            return f"{fmt_day(item.day)} · {item.day_is}" if item.day_is else fmt_day(item.day)
        if col == 2:
            return item.patient
        if col == 3:
            return item.hospital_number
        if col == 4:
            return item.pump_serial
        return item.reason

    def item_at(self, row: int) -> WorkItem | None:
        return self.items[row] if 0 <= row < len(self.items) else None


class WorklistTable(QTableView):
    """Enter or Return opens the current line's patient (on every platform)."""

    open_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_requested.emit()
            return
        super().keyPressEvent(event)


class WorklistView(QWidget):
    """The clinic day's worklist; emits the chosen line's patient id."""

    patient_requested = Signal(int)
    back_requested = Signal()

    def __init__(
        self,
        clinic: ClinicService,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.clinic = clinic
        self.now = now
        #: Seams: where to write files (None: the user cancelled), and how to tell of an error.
        self.ask_csv_path: Callable[[str], str | None] = self._ask_csv_path
        self.ask_pdf_path: Callable[[str], str | None] = self._ask_pdf_path
        self.report_error: Callable[[str, str], None] = self._report_error
        self.last_export: Path | None = None

        self.title = QLabel()
        self.title.setObjectName("patientName")
        self.title.setAccessibleName("Clinic day")

        self.category = QComboBox()
        self.category.setAccessibleName("Show category")
        self.category.addItem("All categories", None)
        for category in Category:
            self.category.addItem(category.label, category)
        show_label = QLabel("&Show:")
        show_label.setBuddy(self.category)
        self.days = QSpinBox()
        self.days.setRange(0, MAX_DAYS)
        self.days.setValue(clinic.settings.due_soon_days)
        self.days.setSuffix(" days")
        self.days.setAccessibleName("Refills and alarms due within days")
        self.days.setToolTip(
            "Refills and low-reservoir alarms due within this many days of the clinic day "
            f"(the clinic's setting is {clinic.settings.due_soon_days})."
        )
        days_label = QLabel("Due &within:")
        days_label.setBuddy(self.days)
        self.refresh_button = QPushButton("&Refresh")
        self.export_button = QPushButton("&Export CSV...")
        self.print_button = QPushButton("Pri&nt...")
        self.print_button.setToolTip("Save the lines shown as an A4 PDF to print (Ctrl+P)")
        print_action = QAction(self)
        print_action.setShortcut(QKeySequence.StandardKey.Print)
        print_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        print_action.triggered.connect(lambda _checked=False: self.print_clicked())
        self.addAction(print_action)
        self.open_button = QPushButton("&Open patient")
        self.open_button.setObjectName("primary")
        self.back_button = QPushButton("&Back to patients")

        controls = QHBoxLayout()
        controls.addWidget(show_label)
        controls.addWidget(self.category)
        controls.addSpacing(12)
        controls.addWidget(days_label)
        controls.addWidget(self.days)
        controls.addWidget(self.refresh_button)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        controls.addWidget(self.print_button)

        self.model = WorklistModel(self)
        self.table = WorklistTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Worklist")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics = self.table.fontMetrics()
        bold = header.font()
        bold.setBold(True)
        header_metrics = QFontMetrics(bold)
        for col, sample in enumerate(COLUMN_SAMPLES[:-1]):
            width = max(
                metrics.horizontalAdvance(sample), header_metrics.horizontalAdvance(COLUMNS[col])
            )
            self.table.setColumnWidth(col, width + 18)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(metrics.height() + 8)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

        self.details = QLabel()
        self.details.setObjectName("detail")
        self.details.setAccessibleName("Current line")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel()
        self.summary.setObjectName("detail")
        self.summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.open_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self._drift_timer = QTimer(self)
        self._drift_timer.setInterval(0)
        self._drift_timer.timeout.connect(self._check_drifts)

        self.days.valueChanged.connect(lambda _v: self._debounce.start())
        self.category.currentIndexChanged.connect(self._category_changed)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self.export_clicked)
        self.print_button.clicked.connect(self.print_clicked)
        self.open_button.clicked.connect(self.open_current)
        self.back_button.clicked.connect(self.back_requested)
        self.table.open_requested.connect(self.open_current)
        self.table.doubleClicked.connect(lambda _i: self.open_current())
        self.table.selectionModel().currentRowChanged.connect(lambda _c, _p: self._show_details())
        self.model.modelReset.connect(self._show_details)
        self.setTabOrder(self.category, self.days)
        self.setTabOrder(self.days, self.table)

    # ------------------------------------------------------------------ content

    @property
    def worklist(self) -> Worklist | None:
        return self.model.worklist

    @property
    def shown(self) -> Sequence[WorkItem]:
        """The lines shown, in the order shown (the filter and sort applied)."""
        return tuple(self.model.items)

    def show_preparing(self) -> None:
        """Say the lines are being made (the window makes them in short steps after the
        patient list arrives; the list fills when they are made)."""
        self.title.setText("Clinic day worklist")
        self.summary.setText("Preparing the clinic day's lines...")

    def refresh(self) -> None:
        """Read the list again from the clinic service (the clinic's today and the window
        chosen); the current line stays current when it is still on the list."""
        self._debounce.stop()
        current = self.current_item()
        worklist = self.clinic.clinic_worklist(
            self.days.value(), now=self.now(), drift_limit=DRIFT_STEP
        )
        self.model.set_worklist(worklist)
        self._show_counts(worklist)
        self._select(current)
        if worklist.drift_unchecked:
            self._drift_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        """Stop working out drift while the list is not shown; showing it starts again."""
        self._drift_timer.stop()
        super().hideEvent(event)

    def _check_drifts(self) -> None:
        left = self.clinic.check_drifts(DRIFT_STEP)
        self._show_summary(drift_left=left)
        if left == 0:
            self._drift_timer.stop()
            self.refresh()

    def _show_counts(self, worklist: Worklist) -> None:
        self.title.setText(f"Clinic day worklist: {fmt_weekday(worklist.today)}")
        counts = worklist.counts()
        self.category.setItemText(0, f"All categories ({len(worklist.items)})")
        for n, category in enumerate(Category, start=1):
            self.category.setItemText(n, f"{category.label} ({counts[category]})")
        self._show_summary(drift_left=worklist.drift_unchecked)

    def _show_summary(self, drift_left: int = 0) -> None:
        worklist = self.model.worklist
        if worklist is None:
            return
        shown = len(self.model.items)
        patients = len({i.patient_id for i in self.model.items})
        text = (
            f"{shown} line{'s' if shown != 1 else ''} for {patients} "
            f"patient{'s' if patients != 1 else ''}. {worklist.window_text}"
        )
        if drift_left:
            text += f" Checking delivery drift: {drift_left:,} pumps to go."
        self.summary.setText(text)

    def _show_details(self) -> None:
        """The current line in full under the table (the Why column is cut short)."""
        item = self.current_item()
        if item is None:
            self.details.setText("")
            return
        when = f"{item.day_is} {fmt_day(item.day)}" if item.day else "no date"
        self.details.setText(
            f"{item.category.label}, {when}: {item.patient} ({item.hospital_number}, pump "
            f"{item.pump_serial}). {item.reason}"
        )

    def _category_changed(self, _index: int) -> None:
        current = self.current_item()
        self.model.set_category(self.category.currentData())
        self._show_summary()
        self._select(current)

    def set_category(self, category: Category | None) -> None:
        self.category.setCurrentIndex(max(self.category.findData(category), 0))

    def current_item(self) -> WorkItem | None:
        index = self.table.currentIndex()
        return self.model.item_at(index.row()) if index.isValid() else None

    def _select(self, item: WorkItem | None) -> None:
        row = 0
        if item is not None:
            same = (item.category, item.patient_id, item.pump_serial)
            row = next(
                (
                    n
                    for n, i in enumerate(self.model.items)
                    if (i.category, i.patient_id, i.pump_serial) == same
                ),
                0,
            )
        if self.model.rowCount():
            self.table.selectRow(row)

    def open_current(self) -> None:
        item = self.current_item()
        if item is not None:
            self.patient_requested.emit(item.patient_id)

    def focus_table(self) -> None:
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------------ export and print

    def _file_name(self, suffix: str) -> str:
        worklist = self.model.worklist
        day = worklist.today if worklist is not None else self.clinic.today(self.now())
        return f"worklist-{day.isoformat()}.{suffix}"

    def _showing(self) -> str:
        category = self.model.category
        return category.label if category is not None else "all categories"

    def export_csv(self, path: str | Path) -> Path:
        """Write the lines shown as CSV at ``path`` (itbconsole.exports rules); returns it."""
        target = Path(path)
        if target.suffix.lower() != ".csv":
            target = target.with_suffix(".csv")
        write_worklist_csv(target, self.shown)
        self.clinic.record_action(
            "worklist_exported",
            {"file": target.name, "lines": len(self.shown), "showing": self._showing()},
        )
        self.last_export = target
        return target

    def print_pdf(self, path: str | Path) -> Path:
        """Write the lines shown as the clinic-day list at ``path``, on the clinic's paper with
        its contact at the foot; returns it."""
        worklist = self.model.worklist
        if worklist is None:
            raise OSError("There is no worklist to print yet.")
        target = print_worklist(
            worklist,
            self.shown,
            path,
            showing=self._showing(),
            printed_by=self.clinic.user.name,
            printed_at=self.now().astimezone(self.clinic.tz),
            clinic=self.clinic.settings,
        )
        self.clinic.record_action(
            "worklist_printed",
            {"file": target.name, "lines": len(self.shown), "showing": self._showing()},
        )
        self.last_export = target
        return target

    def export_clicked(self) -> Path | None:
        return self._write("Export CSV", self.ask_csv_path(self._file_name("csv")), self.export_csv)

    def print_clicked(self) -> Path | None:
        return self._write(
            "Print worklist", self.ask_pdf_path(self._file_name("pdf")), self.print_pdf
        )

    def _write(self, title: str, path: str | None, write: Callable[[str], Path]) -> Path | None:
        if not path:
            return None
        try:
            saved = write(path)
        except OSError as exc:
            self.report_error(f"{title} failed", f"{exc} Choose a folder you can save to.")
            return None
        except StoreError as exc:  # the file is written; recording that it was failed
            self.report_error(f"{title}: not recorded", str(exc))
            return None
        window = self.window()
        bar = getattr(window, "statusBar", None)
        if callable(bar):
            bar().showMessage(f"Worklist saved to {saved}", 8000)
        return saved

    def _ask_csv_path(self, suggested: str) -> str | None:
        return ask_save_path(self, "Export worklist as CSV", suggested, "CSV (*.csv)")

    def _ask_pdf_path(self, suggested: str) -> str | None:
        return ask_save_path(self, "Save the clinic-day list to print", suggested, "PDF (*.pdf)")

    def _report_error(self, title: str, message: str) -> None:
        from ui.dialogs import show_error

        show_error(self, title, message)


__all__ = ["COLUMNS", "DRIFT_STEP", "WorklistModel", "WorklistView"]
