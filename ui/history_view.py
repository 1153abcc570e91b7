"""The History tab: everything recorded for the patient in one table, in time order.

Shows the rows :meth:`itbconsole.services.clinic.ClinicService.patient_timeline` builds
(itbconsole/services/history/); computes nothing. A kind filter, sorting by any column
(by time, a correction stays next to what it corrects), the selected entry's every figure
below the table, and "Export CSV..." for the rows shown. The save dialog is a replaceable
seam (:attr:`HistoryTab.ask_export_path`), so tests never open a modal dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QItemSelectionModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from itbconsole.exports import write_csv
from itbconsole.services.history import (
    Kind,
    TimelineRow,
    history_columns,
    history_csv_rows,
    kinds_in,
)
from ui.dialogs import ask_save_path
from ui.table_model import ListTableModel, ModelIndex

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService

COLUMNS = ("When", "Kind", "What", "By")
ALARM_BG = QColor("#f8d7da")
CORRECTION_BG = QColor("#eef1f5")


#: The usual longest text of the fixed columns: a date with its time and zone, a kind, a name.
WIDTH_SAMPLES = {0: "30 Nov 2026 10:20 GMT", 1: "Screening test dose", 3: "Demo Clinician"}
#: Room for the sort arrow beside a heading.
SORT_ARROW = 12


def column_widths(table: QTableView, rows: Sequence[TimelineRow] = ()) -> dict[int, int]:
    """When as wide as a date with its time and zone; Kind and By as wide as the longest
    kind and name of ``rows``, never wider than their usual longest text (a longer name ends
    in "..." with the whole in its tooltip). With the cell's margins."""
    metrics = table.fontMetrics()
    margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    texts: dict[int, set[str]] = {1: set(), 3: set()}
    for row in rows:
        texts[1].add(f"↳ {row.kind.label}" if row.kind is Kind.CORRECTION else row.kind.label)
        texts[3].add(row.who)
    widths = {}
    for col, sample in WIDTH_SAMPLES.items():
        usual = metrics.horizontalAdvance(sample)
        found = [metrics.horizontalAdvance(t) for t in texts.get(col, ())]
        heading = metrics.horizontalAdvance(COLUMNS[col]) + 2 * SORT_ARROW
        widths[col] = max(min(max(found), usual) if found else usual, heading) + 2 * margin + 4
    return widths


class HistoryTableModel(ListTableModel):
    """The timeline's rows, filtered by kind and sorted in Python with one key per row."""

    columns = COLUMNS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.all_rows: list[TimelineRow] = []
        self.rows: list[tuple[int, TimelineRow]] = []
        self.kind: Kind | None = None
        self.sort_column = 0
        self.sort_order = Qt.SortOrder.DescendingOrder

    def set_rows(self, rows: Sequence[TimelineRow]) -> None:
        self.beginResetModel()
        self.all_rows = list(rows)
        self._select()
        self.endResetModel()

    def set_kind(self, kind: Kind | None) -> None:
        self.beginResetModel()
        self.kind = kind
        self._select()
        self.endResetModel()

    def _select(self) -> None:
        self.rows = [(i, r) for i, r in enumerate(self.all_rows) if r.matches(self.kind)]
        self.rows.sort(
            key=lambda ir: self._key(ir, self.sort_column),
            reverse=self.sort_order == Qt.SortOrder.DescendingOrder,
        )

    @staticmethod
    def _key(item: tuple[int, TimelineRow], column: int) -> tuple[Any, ...]:
        # The timeline's own order is time order with each correction after what it
        # corrects: sorting by time keeps it; other columns keep it within equal values.
        index, row = item
        if column == 1:
            return ((row.about or row.kind).label, index)
        if column == 2:
            return (row.summary.casefold(), index)
        if column == 3:
            return (row.who.casefold(), index)
        return (index,)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        self._select()
        self.layoutChanged.emit()

    def row_at(self, index: ModelIndex) -> TimelineRow | None:
        return self.rows[index.row()][1] if index.isValid() else None

    def shown(self) -> list[TimelineRow]:
        return [r for _, r in self.rows]

    def shown_count(self) -> int:
        return len(self.rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        col = index.column()
        correction = row.kind is Kind.CORRECTION
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return row.when
            if col == 1:
                return f"↳ {row.kind.label}" if correction else row.kind.label
            if col == 2:
                return row.summary
            return row.who
        if role == Qt.ItemDataRole.ToolTipRole:
            # The whole text of a cell its column may cut short.
            if col == 3:
                return f"{row.who} ({row.role})" if row.role else row.who
            if col == 1 and correction and row.about is not None:
                return f"Correction of a {row.about.label.lower()} record"
            return (row.when, row.kind.label, row.summary)[col]
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{row.when}, {row.kind.label}: {row.summary}, by {row.who} {row.role}".strip()
        if role == Qt.ItemDataRole.BackgroundRole:
            if row.kind is Kind.ALARM:
                return QBrush(ALARM_BG)
            if correction:
                return QBrush(CORRECTION_BG)
        if role == Qt.ItemDataRole.FontRole and correction:
            font = QFont()
            font.setItalic(True)
            return font
        return None


class HistoryTab(QWidget):
    """One patient's history: filter, table, the selected entry's details, export."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The clinic service to read through; when None, the one of the window this tab
        #: is in (ui.host.Host.clinic).
        self.clinic: ClinicService | None = None
        self.patient_id: int | None = None
        self.patient_name = ""
        self.hospital_number = ""
        #: Where to save the CSV, asked with a suggested file name (None: cancelled). Tests
        #: replace it so no modal dialog opens.
        self.ask_export_path: Callable[[str], str | None] = self._ask_export_path
        self.last_export: Path | None = None

        self.heading = QLabel()
        self.heading.setAccessibleName("Number of entries shown")
        self.kind_filter = QComboBox()
        self.kind_filter.setAccessibleName("Show entries of kind")
        self.kind_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter_label = QLabel("Sho&w:")
        self.filter_label.setBuddy(self.kind_filter)
        self.export_button = QPushButton("E&xport CSV...")
        self.export_button.setAccessibleName("Export the entries shown as CSV")
        self.export_button.setToolTip("Save the entries shown, in this order, as a CSV file")
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.filter_label)
        top.addWidget(self.kind_filter)
        top.addWidget(self.export_button)

        self.model = HistoryTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Patient history")
        self.table.setAccessibleDescription(
            "Every record of the patient, one per row; the details of the selected row are "
            "shown below the table."
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the details
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().setVisible(False)
        # What takes every pixel the others leave (at 1366 x 768 the tab is about 700 px
        # wide): When, Kind and By are as wide as their usual text and no wider, and a text
        # longer than its column ends in "..." with the whole of it in its tooltip (and the
        # details below).
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(40)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._columns_sized = False
        self.size_columns()

        self.details = QTextBrowser()
        self.details.setAccessibleName("Details of the selected entry")
        self.details.setOpenLinks(False)
        self.message = QLabel()
        self.message.setAccessibleName("History message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 170])
        # Take the room the patient header leaves, never the header's own (its wrapped
        # lines would be cut at 1366 x 768).
        splitter.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        splitter.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        QWidget.setTabOrder(self.kind_filter, self.export_button)
        QWidget.setTabOrder(self.export_button, self.table)
        QWidget.setTabOrder(self.table, self.details)

        header.sortIndicatorChanged.connect(lambda *_: self._count())
        self.kind_filter.currentIndexChanged.connect(self._kind_changed)
        self.export_button.clicked.connect(self._export_clicked)
        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(lambda current, _prev: self._show_details(current))
        self.show_rows([])

    def size_columns(self) -> None:
        """When, Kind and By as wide as their usual text in the font the table is shown in
        (the window's style sheet sets it when the table is first polished)."""
        self.table.ensurePolished()
        for col, width in column_widths(self.table, self.model.all_rows).items():
            self.table.setColumnWidth(col, width)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._columns_sized:  # once: a width the user drags stays
            self._columns_sized = True
            self.size_columns()

    # ------------------------------------------------------------------ loading

    def clinic_service(self) -> ClinicService | None:
        return self.clinic or getattr(self.window(), "clinic", None)

    def show_patient(self, patient_id: int | None, clinic: ClinicService | None = None) -> None:
        """Load ``patient_id``'s history (None clears the tab). Keeps the kind filter and,
        when it is still there, the selected entry."""
        clinic = clinic or self.clinic_service()
        self.patient_id = patient_id
        if patient_id is None or clinic is None:
            self.patient_name = self.hospital_number = ""
            self.show_rows([])
            return
        try:
            rows = clinic.patient_timeline(patient_id)
            patient = clinic.patient(patient_id)
        except LookupError as exc:
            self.show_rows([])
            self._set_message(str(exc))
            return
        self.patient_name = patient.display_name
        self.hospital_number = patient.hospital_number
        self.show_rows(rows)

    def show_rows(self, rows: Sequence[TimelineRow]) -> None:
        selected = self.selected()
        kind = self.model.kind
        self.kind_filter.blockSignals(True)
        self.kind_filter.clear()
        self.kind_filter.addItem(f"All entries ({len(rows)})", None)
        for k, n in kinds_in(rows):
            self.kind_filter.addItem(f"{k.label} ({n})", k)
        found = self.kind_filter.findData(kind) if kind is not None else 0
        self.kind_filter.setCurrentIndex(max(found, 0))
        self.kind_filter.blockSignals(False)
        self.model.kind = self.current_kind()
        self.model.set_rows(rows)
        if self._columns_sized:  # Kind and By as wide as this patient's need
            self.size_columns()
        self._set_message(
            ""
            if rows
            else "Choose a patient to see their history."
            if self.patient_id is None
            else "Nothing is recorded for this patient yet."
        )
        self.export_button.setEnabled(bool(rows))
        self._reselect(selected)
        self._count()

    def _count(self) -> None:
        shown, total = self.model.rowCount(), len(self.model.all_rows)
        order = (
            "newest first"
            if self.model.sort_order == Qt.SortOrder.DescendingOrder
            else ("oldest first")
        )
        by = COLUMNS[self.model.sort_column].lower()
        self.heading.setText(f"{shown} of {total} entries, by {by}, {order}" if total else "")

    def _set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _reselect(self, row: TimelineRow | None) -> None:
        target = 0
        if row is not None:
            for n, shown in enumerate(self.model.shown()):
                if shown.record == row.record and shown.kind is row.kind:
                    target = n
                    break
        if self.model.rowCount():
            index = self.model.index(target, 0)
            self.table.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.scrollTo(index)
        self._show_details(self.table.currentIndex())

    # ------------------------------------------------------------------ filter and details

    def set_kind(self, kind: Kind | None) -> None:
        """Show only ``kind`` (with the corrections of such records), or everything."""
        index = self.kind_filter.findData(kind) if kind is not None else 0
        if index < 0:
            raise ValueError(f"No {kind} entries are shown for this patient.")
        self.kind_filter.setCurrentIndex(index)

    def current_kind(self) -> Kind | None:
        """The kind the filter shows (None: every entry). Qt hands the item's data back
        as plain text."""
        data = self.kind_filter.currentData()
        return Kind(data) if data else None

    def _kind_changed(self, _index: int) -> None:
        selected = self.selected()
        self.model.set_kind(self.current_kind())
        self._reselect(selected)
        self._count()

    def selected(self) -> TimelineRow | None:
        return self.model.row_at(self.table.currentIndex())

    def _show_details(self, index: ModelIndex) -> None:
        row = self.model.row_at(index)
        if row is None:
            self.details.clear()
            return
        lines = "".join(
            f"<tr><td style='padding-right:12px'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
            for k, v in row.details.items()
        )
        by = f"{row.who} ({row.role})" if row.role else row.who
        self.details.setHtml(
            f"<p><b>{escape(row.kind.label)}</b>, {escape(row.when)}, {escape(by)}<br>"
            f"{escape(row.summary)}</p><table>{lines}</table>"
        )

    # ------------------------------------------------------------------ export

    def suggested_file_name(self) -> str:
        who = "".join(c for c in self.hospital_number if c.isalnum()) or "patient"
        kind = self.model.kind
        return f"history-{who}{f'-{kind.value}' if kind else ''}.csv"

    def export_csv(self, path: str | Path) -> Path:
        """Write the entries shown, in the order shown, as CSV (itbconsole/exports.py rules)
        and record the export; returns the file written. Raises OSError when it cannot be."""
        target = Path(path)
        if target.suffix.lower() != ".csv":
            target = target.with_name(target.name + ".csv")
        clinic = self.clinic_service()
        if clinic is None:
            raise OSError("The history is not loaded: open a patient first.")
        rows = self.model.shown()
        count = write_csv(target, history_columns(), history_csv_rows(rows, clinic.tz))
        clinic.record_action(
            "patient_history_exported",
            {
                "patient_id": self.patient_id,
                "path": str(target),
                "rows": count,
                "kind": self.model.kind.value if self.model.kind else "all",
            },
        )
        self.last_export = target
        return target

    def _ask_export_path(self, suggested: str) -> str | None:
        return ask_save_path(self, "Export history as CSV", suggested, "CSV file (*.csv)")

    def _export_clicked(self) -> None:
        path = self.ask_export_path(self.suggested_file_name())
        if not path:
            return
        try:
            saved = self.export_csv(path)
        except OSError as exc:
            self._set_message(f"History not saved: {exc}")
            return
        self._set_message(f"Saved {self.model.rowCount()} entries to {saved}")
        bar = getattr(self.window(), "statusBar", None)
        if callable(bar):
            bar().showMessage(f"History saved to {saved}", 6000)
