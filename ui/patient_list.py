"""Patient list: search and the columns that matter at a glance.

The Status cell is the forecast's status; a pump whose delivery drifts (a withdrawal or
overdose risk the worklist and the Overview show) adds "· drift" in the warning colour, from
the drift the clinic service has already worked out (:meth:`PatientListPanel.show_drifts`):
working it out for thousands of pumps takes seconds, so the mark appears when it is known."""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
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

from itbconsole.display import fmt_day
from itbconsole.forecast import Status
from itbconsole.services.patients import PatientQuery, row_serials, search_key
from itbconsole.store.queries import PatientList, PatientOverview
from ui.link_worker import BackgroundCall
from ui.table_model import ListTableModel, ModelIndex

if TYPE_CHECKING:  # the worklist's drift arrives after the list: imported when it is shown
    from itbconsole.services.worklist import Drift

COLUMNS = ("Patient", "Hosp. no.", "Pump", "Status", "Refill by", "Battery")
#: The widest text each column usually shows; widths come from these, not from the rows.
COLUMN_SAMPLES = (
    "KOWALCZYK, Anna",
    "H100644",
    "SIM0000001",
    "On track \u00b7 drift",  # wider than "Not delivering"
    "28 Nov 2026",
    "ERI",
)
#: A long name the name column always has room for (longer ones are cut at the end, and
#: shown whole in the row's tooltip and the patient's record).
LONG_NAME = "FITZGERALD, Alexandra"
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
#: After the status in its cell when the pump's delivery drifts.
DRIFT_MARK = " \u00b7 drift"


SearchKey = tuple[str, str]


def sorted_rows(
    rows: Sequence[PatientOverview], column: int, order: Qt.SortOrder
) -> list[PatientOverview]:
    """The rows in the list's order (pure Python, so the worker that reads the list can sort
    it before the window takes it)."""
    return sorted(
        rows,
        key=lambda r: PatientTableModel._sort_key(r, column),
        reverse=order == Qt.SortOrder.DescendingOrder,
    )


def search_keys(
    rows: Sequence[PatientOverview], serials: Mapping[int, tuple[str, ...]]
) -> dict[int, SearchKey]:
    """Each row's search key by patient id (itbconsole.services.patients.search_key)."""
    return {
        r.patient.id: search_key(r.patient, row_serials(r, serials))
        for r in rows
        if r.patient.id is not None
    }


class PatientTableModel(ListTableModel):
    """Every patient, kept in memory (``all_rows``), and those the search shows (``rows``).

    Why in memory: re-reading 20,000 rows at each keystroke, or when the search box is
    cleared, held up the window for 400 ms (issue 14); filtering them here takes a few
    milliseconds. After a save only the rows it touched change (:meth:`update_row`)."""

    columns = COLUMNS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.all_rows: list[PatientOverview] = []
        self.rows: list[PatientOverview] = []
        self.keys: dict[int, SearchKey] = {}
        self.serials: dict[int, tuple[str, ...]] = {}
        self.query = PatientQuery("")
        # Where each patient is, worked out when first asked after a change: a scan of
        # 20,000 rows per save took tens of milliseconds.
        self._all_index: dict[int, int] | None = None
        self._shown_index: dict[int, int] | None = None
        self._serial_index: dict[str, int] | None = None
        self._sort_column = 3
        self._sort_order = Qt.SortOrder.AscendingOrder
        #: Delivery drift by pump serial, as far as it is known (:meth:`set_drifts`).
        self.drifts: dict[str, Drift] = {}

    @property
    def sort_order(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def set_rows(
        self,
        rows: Sequence[PatientOverview],
        serials: Mapping[int, tuple[str, ...]] | None = None,
        *,
        keys: dict[int, SearchKey] | None = None,
        presorted: bool = False,
        positions: dict[int, int] | None = None,
    ) -> None:
        """Take the whole list (``presorted``, ``keys`` and the rows' ``positions`` by
        patient id when a worker did that work)."""
        if serials is not None:
            self.serials = dict(serials)
        self.all_rows = (
            list(rows) if presorted else sorted_rows(rows, self._sort_column, self._sort_order)
        )
        self.keys = keys if keys is not None else search_keys(self.all_rows, self.serials)
        self._serial_index = None
        self._all_index = positions
        self._show(self._matching(self.all_rows))
        if positions is not None:
            if self.query.empty:
                self._shown_index = dict(positions)

    def set_query(self, text: str) -> None:
        """Show the patients matching ``text``; typing more only looks at the rows shown."""
        query = PatientQuery(text)
        pool = self.rows if query.narrows(self.query) else self.all_rows
        self.query = query
        self._show(self._matching(pool))

    def _matching(self, rows: list[PatientOverview]) -> list[PatientOverview]:
        query = self.query
        if query.empty:
            return list(rows)
        keys = self.keys
        return [r for r in rows if query.matches(keys.get(r.patient.id or 0, ("", "")))]

    def _show(self, rows: list[PatientOverview]) -> None:
        self.beginResetModel()
        self.rows = rows
        self._shown_index = None
        self.endResetModel()

    def update_row(self, row: PatientOverview) -> None:
        """Replace (or add) one patient's row in place: after a save only that patient
        changed, and re-reading a 20,000-patient list would hold up the window."""
        pid = row.patient.id
        if pid is None:
            return
        self.keys[pid] = search_key(row.patient, row_serials(row, self.serials))
        if self._serial_index is not None and row.pump_serial:
            self._serial_index[row.pump_serial] = pid
        all_index = self._positions_in_all()
        index = all_index.get(pid)
        if index is None:
            all_index[pid] = len(self.all_rows)
            self.all_rows.append(row)
        else:
            self.all_rows[index] = row
        shown = self.row_of(pid)
        if shown is not None:
            self.rows[shown] = row
            self.dataChanged.emit(self.index(shown, 0), self.index(shown, len(COLUMNS) - 1))
        elif self.query.matches(self.keys[pid]):
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            self._positions_shown()[pid] = len(self.rows)
            self.rows.append(row)
            self.endInsertRows()

    def set_drifts(self, drifts: Mapping[str, Drift]) -> None:
        """Take the delivery drift known now (ClinicService.known_drifts); only the Status
        cells of the pumps whose drift changed are redrawn, in one signal."""
        old, self.drifts = self.drifts, dict(drifts)
        changed = {s for s in old.keys() | self.drifts.keys() if old.get(s) != self.drifts.get(s)}
        shown = [
            r
            for s in changed
            if (pid := self.patient_of_serial(s)) is not None
            and (r := self.row_of(pid)) is not None
        ]
        if shown:
            self.dataChanged.emit(self.index(min(shown), 3), self.index(max(shown), 3))

    def drift_of(self, row: PatientOverview) -> Drift | None:
        """The row's pump's delivery drift, if known and the patient is active."""
        if row.pump_serial is None or row.patient_status != "active":
            return None
        return self.drifts.get(row.pump_serial)

    def _positions_in_all(self) -> dict[int, int]:
        if self._all_index is None:
            self._all_index = {r.patient.id or 0: i for i, r in enumerate(self.all_rows)}
        return self._all_index

    def _positions_shown(self) -> dict[int, int]:
        if self._shown_index is None:
            self._shown_index = {r.patient.id or 0: i for i, r in enumerate(self.rows)}
        return self._shown_index

    def row_of(self, patient_id: int) -> int | None:
        """Where the patient's row is shown (None: not shown)."""
        return self._positions_shown().get(patient_id)

    def patient_of_serial(self, serial: str) -> int | None:
        """The listed patient whose pump now is ``serial``."""
        if self._serial_index is None:
            self._serial_index = {
                r.pump_serial: r.patient.id or 0 for r in self.all_rows if r.pump_serial
            }
        return self._serial_index.get(serial)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python with one key per row: a proxy model would call data() n log n
        times through Qt, which costs most of a second for a 5,000-patient clinic."""
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        reverse = order == Qt.SortOrder.DescendingOrder
        self.all_rows.sort(key=lambda r: self._sort_key(r, column), reverse=reverse)
        self.rows.sort(key=lambda r: self._sort_key(r, column), reverse=reverse)
        self._all_index = self._shown_index = None
        self.layoutChanged.emit()

    def shown_count(self) -> int:
        return len(self.rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 3 and (drift := self.drift_of(row)) is not None:
                return self._text(row, col) + DRIFT_MARK
            return self._text(row, col)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return self._sort_key(row, col)
        status = (
            row.status.status if row.status is not None and row.patient_status == "active" else None
        )
        if role == Qt.ItemDataRole.BackgroundRole and col in (3, 4) and status in STATUS_BG:
            return QBrush(STATUS_BG[status])
        if role == Qt.ItemDataRole.BackgroundRole and col == 3 and self.drift_of(row):
            return QBrush(SOON_BG)  # the warning colour; an urgent status keeps its own
        if role == Qt.ItemDataRole.BackgroundRole and col == 5 and (row.eri or row.eos):
            return QBrush(URGENT_BG)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3 and (drift := self.drift_of(row)) is not None:
                # The worklist's drift line, word for word (itbconsole.services.worklist).
                from itbconsole.services.worklist import Category

                why = f"{row.status.reason}\n\n" if row.status is not None else ""
                return f"{why}{Category.DELIVERY_DRIFT.label}: {drift.message}"
            if col in (3, 4) and row.status is not None:
                return row.status.reason
            if col == 5 and (row.eri or row.eos):
                f = row.forecast
                eos = f"; End of Service {fmt_day(f.eos_day)}" if f and f.eos_day else ""
                state = "End of Service: the pump has stopped" if row.eos else "Past ERI"
                return f"{state}{eos}"
            p = row.patient
            return f"{p.display_name}\nBorn {fmt_day(p.date_of_birth)}\nNHS {p.nhs_number or '-'}"
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
            return fmt_day(row.refill_by) if row.refill_by else "-"
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
    """Search box, table, New patient button. Emits the chosen patient's id.

    The list arrives after the window shows (:meth:`set_rows`); until then, and when a
    search finds nobody, a message in the list says so."""

    patient_selected = Signal(int)
    search_changed = Signal(str)
    new_patient_requested = Signal()

    #: Wait this long after the last key before filtering (filtering 20,000 rows takes a
    #: few milliseconds, so this only spares work while a word is typed).
    SEARCH_DELAY_MS = 80

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, hospital or NHS number, pump serial  (Ctrl+F)")
        self.search.setAccessibleName("Search patients")
        self.search.setClearButtonEnabled(True)
        self._quiet = False  # selecting for a caller that shows the patient itself
        self.loaded = False
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
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Fixed, font-based widths: sizing columns to their contents would read every row
        # (20,000 patients) before the window can show. The name column takes what is left
        # and never goes below the width of a long name, so "BRENNAN, Thomas" is shown
        # whole at 1366 px; the narrow columns give way first (the pump column elides).
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        metrics = self.table.fontMetrics()
        bold = header.font()
        bold.setBold(True)
        header_metrics = QFontMetrics(bold)
        for col, sample in enumerate(COLUMN_SAMPLES):
            width = max(
                metrics.horizontalAdvance(sample), header_metrics.horizontalAdvance(COLUMNS[col])
            )
            self.table.setColumnWidth(col, width + 20)  # text, cell margins, focus frame
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.name_width = metrics.horizontalAdvance(LONG_NAME) + 24  # text, margins, focus
        self.table.setMinimumWidth(
            self.name_width + sum(self.table.columnWidth(c) for c in range(1, len(COLUMNS))) + 4
        )
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        # The message shown in the list when it has no row to show.
        self.empty_message = QLabel("Reading the patient list...")
        self.empty_message.setObjectName("emptyMessage")
        self.empty_message.setAccessibleName("Patient list message")
        self.empty_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_message.setWordWrap(True)
        overlay = QVBoxLayout(self.table.viewport())
        overlay.addWidget(self.empty_message)
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
        self._debounce.setInterval(self.SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._select_first)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.new_button.clicked.connect(self.new_patient_requested)
        self._selected_id: int | None = None
        #: Reads the list at once when something needs a row before the list has arrived
        #: (the window sets it).
        self.load_now: Callable[[], None] | None = None

    def set_rows(
        self,
        rows: Sequence[PatientOverview],
        keep_id: int | None = None,
        *,
        serials: Mapping[int, tuple[str, ...]] | None = None,
        keys: dict[int, SearchKey] | None = None,
        presorted: bool = False,
        positions: dict[int, int] | None = None,
    ) -> None:
        """Take the whole list; the search box's text filters it at once."""
        self.model.query = PatientQuery(self.search.text())
        self.model.set_rows(rows, serials, keys=keys, presorted=presorted, positions=positions)
        self.loaded = True
        self._after_change()
        if keep_id is not None:
            self.select_patient(keep_id, quiet=True)

    def show_drifts(self, drifts: Mapping[str, Drift]) -> None:
        """Mark the pumps whose delivery drifts (ClinicService.known_drifts: only what is
        already worked out, so the window can call it as the worklist's drift is made)."""
        self.model.set_drifts(drifts)

    def apply_search(self) -> None:
        """Filter the list kept in memory by the search box's text (nothing is read)."""
        self._debounce.stop()
        keep = self._selected_id
        self.model.set_query(self.search.text())
        self._after_change()
        if keep is not None:
            self.select_patient(keep, quiet=True)
        self.search_changed.emit(self.search.text())

    def update_row(self, row: PatientOverview, *, select: bool = True) -> None:
        """One patient's row after a save; ``select`` also highlights it (quietly: the
        caller shows the patient)."""
        self.model.update_row(row)
        self._after_change()
        if select and row.patient.id is not None:
            self.select_patient(row.patient.id, quiet=True)

    def _after_change(self) -> None:
        shown, total = self.model.rowCount(), len(self.model.all_rows)
        noun = "patient" if total == 1 else "patients"
        self.count_label.setText(
            f"{total} {noun}" if shown == total else f"{shown} of {total} {noun}"
        )
        if shown:
            self.empty_message.setVisible(False)
            return
        text = self.search.text().strip()
        if not self.loaded:
            message = "Reading the patient list..."
        elif text:
            message = (
                f"No patient matches \u201c{text}\u201d.\n\nSearch by family and given name "
                "(in either order), hospital number, NHS number (or part of it) or pump serial."
            )
        else:
            message = "No patients yet.\n\nAdd one with New patient, or interrogate a pump."
        self.empty_message.setText(message)
        self.empty_message.setVisible(True)

    def select_patient(self, patient_id: int, *, quiet: bool = False) -> bool:
        """Highlight the patient's row; ``quiet`` when the caller shows the patient itself
        (no ``patient_selected``, so the patient view is not built twice)."""
        if not self.loaded and self.load_now is not None:
            self.load_now()
        r = self.model.row_of(patient_id)
        if r is None:
            return False
        self._quiet = quiet
        try:
            self.table.selectRow(r)
        finally:
            self._quiet = False
        self._selected_id = patient_id
        self.table.scrollTo(self.model.index(r, 0))
        return True

    def _select_first(self) -> None:
        self.apply_search()
        if self.model.rowCount() > 0:
            self.table.selectRow(0)
            self.table.setFocus()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        pid = self.model.patient_id_at(current.row())
        self._selected_id = pid
        if pid is not None and not self._quiet:
            self.patient_selected.emit(pid)


def list_read(
    reader: Callable[[], PatientList], sort: tuple[int, Qt.SortOrder], parent: QObject
) -> BackgroundCall:
    """One read of the whole patient list on a worker thread, sorted and with its search
    keys worked out there too, so the window only swaps the rows in (issue 14: 20,000 rows
    took 300 ms to read). ``reader`` opens its own read-only connection."""

    def read() -> ListReadResult:
        # Tens of thousands of new objects would set off Python's full garbage collection
        # here, which holds every thread (the window's too) for a quarter of a second at
        # 20,000 patients; the window freezes the rows once it has them (gc.freeze).
        gc.disable()
        try:
            found = reader()
            rows = sorted_rows(found.rows, *sort)
            positions = {r.patient.id or 0: i for i, r in enumerate(rows)}
            keys = search_keys(rows, found.serials)
            return ListReadResult(rows, found.serials, keys, positions, found.stale)
        finally:
            # Set the new rows out of the collector's reach before it runs again: between
            # here and the window taking them, any allocation (the window's own steps)
            # could set off a full collection walking every new row (0.1 s at 20,000).
            gc.freeze()
            gc.enable()

    return BackgroundCall(read, "patient-list", parent)


@dataclass(frozen=True)
class ListReadResult:
    rows: list[PatientOverview]
    serials: dict[int, tuple[str, ...]]
    keys: dict[int, SearchKey]
    positions: dict[int, int]
    stale: tuple[str, ...] = ()
