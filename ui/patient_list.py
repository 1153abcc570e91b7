"""Patient list: search and the columns that matter at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from itbconsole.forecast import Status
from itbconsole.store.queries import PatientOverview
from ui.table_model import ListTableModel, ModelIndex

COLUMNS = ("Patient", "Hosp. no.", "Pump", "Status", "Refill by", "Battery")
#: The widest text each column usually shows; widths come from these, not from the rows.
COLUMN_SAMPLES = (
    "KOWALCZYK, Anna",
    "H100644",
    "SIM0000001",
    "Not delivering",
    "28 Nov 2026",
    "ERI",
)
URGENT_BG = QColor("#f8d7da")
SOON_BG = QColor("#fff3cd")
#: Background per status: the forecast decides the status (itbconsole.forecast), the list
#: only colours it.
STATUS_BG = {
    Status.NOT_DELIVERING: URGENT_BG,
    Status.ATTENTION: URGENT_BG,
    Status.OVERDUE: URGENT_BG,
    Status.DUE_SOON: SOON_BG,
}


class PatientTableModel(ListTableModel):
    columns = COLUMNS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[PatientOverview] = []
        self._sort_column = 3
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_rows(self, rows: Sequence[PatientOverview]) -> None:
        self.beginResetModel()
        self.rows = sorted(
            rows,
            key=lambda r: self._sort_key(r, self._sort_column),
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )
        self.endResetModel()

    def update_row(self, row: PatientOverview) -> None:
        """Replace (or add) one patient's row in place: after a save only that patient
        changed, and re-reading a 5,000-patient list would hold up the window."""
        for i, existing in enumerate(self.rows):
            if existing.patient.id == row.patient.id:
                self.rows[i] = row
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))
                return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append(row)
        self.endInsertRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python with one key per row: a proxy model would call data() n log n
        times through Qt, which costs most of a second for a 5,000-patient clinic."""
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        self.rows.sort(
            key=lambda r: self._sort_key(r, column), reverse=order == Qt.SortOrder.DescendingOrder
        )
        self.layoutChanged.emit()

    def shown_count(self) -> int:
        return len(self.rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return self._sort_key(row, col)
        status = (
            row.status.status if row.status is not None and row.patient_status == "active" else None
        )
        if role == Qt.ItemDataRole.BackgroundRole and col in (3, 4) and status in STATUS_BG:
            return QBrush(STATUS_BG[status])
        if role == Qt.ItemDataRole.BackgroundRole and col == 5 and (row.eri or row.eos):
            return QBrush(URGENT_BG)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (3, 4) and row.status is not None:
                return row.status.reason
            if col == 5 and (row.eri or row.eos):
                f = row.forecast
                eos = f"; End of Service {f.eos_day:%d %b %Y}" if f and f.eos_day else ""
                state = "End of Service: the pump has stopped" if row.eos else "Past ERI"
                return f"{state}{eos}"
            p = row.patient
            return f"{p.display_name}\nBorn {p.date_of_birth:%d %b %Y}\nNHS {p.nhs_number or '-'}"
        return None

    @staticmethod
    def _text(row: PatientOverview, col: int) -> str:
        p = row.patient
        if col == 0:
            return p.display_name
        if col == 1:
            return p.hospital_number
        if col == 2:
            return row.pump_serial or "no pump"
        if col == 3:
            if row.patient_status != "active":
                return row.patient_status.capitalize()  # candidate, inactive, deceased
            return row.status.status.label if row.status is not None else "-"
        if col == 4:
            return row.refill_by.strftime("%d %b %Y") if row.refill_by else "-"
        if col == 5:  # EOS: End of Service (spelt out in the tooltip and the Overview)
            return "EOS" if row.eos else "ERI" if row.eri else ("OK" if row.battery_mv else "-")
        return ""

    @staticmethod
    def _sort_key(row: PatientOverview, col: int) -> Any:
        if col == 3:
            # Most urgent first (not delivering, overdue, due soon, on track, no reading),
            # then the earliest refill-by date; patients not active last.
            if row.patient_status != "active":
                return (len(Status) + 1, date.max.toordinal())
            if row.status is None:
                return (len(Status), date.max.toordinal())
            return (row.status.status.rank, (row.refill_by or date.max).toordinal())
        if col == 4:
            return (row.refill_by or date.max).toordinal()
        if col == 5:
            return 0 if row.eos else 1 if row.eri else 2
        return PatientTableModel._text(row, col).casefold()

    def patient_id_at(self, row: int) -> int | None:
        return self.rows[row].patient.id if 0 <= row < len(self.rows) else None


class PatientListPanel(QWidget):
    """Search box, table, New patient button. Emits the chosen patient's id."""

    patient_selected = Signal(int)
    search_changed = Signal(str)
    new_patient_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, hospital or NHS number, pump serial  (Ctrl+F)")
        self.search.setAccessibleName("Search patients")
        self.search.setClearButtonEnabled(True)
        self._quiet = False  # selecting for a caller that shows the patient itself
        self.model = PatientTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Patients")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # Fixed, font-based widths: sizing columns to their contents would read every row
        # (5,000 patients) before the window can show.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        metrics = self.table.fontMetrics()
        bold = header.font()
        bold.setBold(True)
        header_metrics = QFontMetrics(bold)
        for col, sample in enumerate(COLUMN_SAMPLES):
            width = max(
                metrics.horizontalAdvance(sample), header_metrics.horizontalAdvance(COLUMNS[col])
            )
            self.table.setColumnWidth(col, width + 14)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.count_label = QLabel()
        self.count_label.setObjectName("detail")
        self.new_button = QPushButton("&New patient...")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        layout.addWidget(self.new_button)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(lambda: self.search_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._select_first)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.new_button.clicked.connect(self.new_patient_requested)

    def set_rows(self, rows: Sequence[PatientOverview], keep_id: int | None = None) -> None:
        self.model.set_rows(rows)
        n = len(rows)
        self.count_label.setText(f"{n} patient{'s' if n != 1 else ''}")
        if keep_id is not None:
            self.select_patient(keep_id)

    def update_row(self, row: PatientOverview) -> None:
        self.model.update_row(row)
        n = self.model.rowCount()
        self.count_label.setText(f"{n} patient{'s' if n != 1 else ''}")
        if row.patient.id is not None:
            self.select_patient(row.patient.id, quiet=True)  # the caller shows the patient

    def select_patient(self, patient_id: int, *, quiet: bool = False) -> bool:
        """Highlight the patient's row; ``quiet`` when the caller shows the patient itself
        (no ``patient_selected``, so the patient view is not built twice)."""
        for r in range(self.model.rowCount()):
            if self.model.patient_id_at(r) == patient_id:
                self._quiet = quiet
                try:
                    self.table.selectRow(r)
                finally:
                    self._quiet = False
                self.table.scrollTo(self.model.index(r, 0))
                return True
        return False

    def _select_first(self) -> None:
        if self.model.rowCount() > 0:
            self.table.selectRow(0)
            self.table.setFocus()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid() or self._quiet:
            return
        pid = self.model.patient_id_at(current.row())
        if pid is not None:
            self.patient_selected.emit(pid)
