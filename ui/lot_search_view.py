"""Lot search: who received lot X of product Y, across the clinic (a drug recall).

Why a window of its own: a recall notice names a product and a lot, and the pharmacist or
nurse must find every patient who received it, today, whatever their status (a refill
withdrawn as entered in error is still listed, marked). The search is the clinic service's
(:meth:`itbconsole.services.clinic.ClinicService.lot_recipients`); the table shows the
refill log's own cells and its CSV is the refill log's
(:data:`itbconsole.services.history.REFILL_LOG_COLUMNS`, written by
:func:`itbconsole.exports.write_csv`), so the file is the one ``itbconsole export csv --what
lot`` writes. The save dialog is a seam (:attr:`LotSearchDialog.ask_export_path`), so tests
never open a modal dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day
from itbconsole.exports import write_csv
from itbconsole.services.clinic import ClinicService
from itbconsole.services.history import REFILL_LOG_COLUMNS, refill_log_rows
from itbconsole.store.queries import RefillRecord
from ui.dialogs import ask_save_path
from ui.table_model import ListTableModel, ModelIndex

if TYPE_CHECKING:
    from ui.host import Host

ANY_PRODUCT = "(any product)"
#: The refill log's columns shown on screen (the CSV has every one of them).
SHOWN = (
    "Date (clinic's zone)",
    "Patient",
    "Hospital number",
    "Date of birth",
    "Pump",
    "Drug",
    "Concentration",
    "Lot",
    "Expiry",
    "Volume added",
    "Status",
    "Recorded by",
    "Record",
)
_INDEX = {c.title: i for i, c in enumerate(REFILL_LOG_COLUMNS)}
#: Shorter headings where the refill log's own would make the window scroll sideways at
#: 1,100 px; each heading's tooltip is the CSV's full column header.
SHORT = {
    "Date (clinic's zone)": "Date",
    "Hospital number": "Hosp. no.",
    "Date of birth": "Born",
    "Concentration": "mcg/mL",
    "Volume added": "Added mL",
    "Recorded by": "By",
}
#: The columns that take the room left over (their text is cut short with "..." rather
#: than the window scrolling sideways; a cell's tooltip is its whole text).
STRETCHED = ("Patient", "Drug")


def _text(value: Any) -> str:
    """A refill-log cell as the screen writes it (dates as everywhere on screen)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{fmt_day(value.date())} {value:%H:%M}"
    if isinstance(value, date):
        return fmt_day(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 40.000 mL reads 40
    return str(value)


class LotRecipientsModel(ListTableModel):
    """The recipients found, oldest first, in the refill log's cells."""

    columns = tuple(REFILL_LOG_COLUMNS[_INDEX[t]].header for t in SHOWN)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[RefillRecord] = []
        self.cells: list[list[Any]] = []

    def set_records(self, records: Sequence[RefillRecord], cells: list[list[Any]]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.cells = cells
        self.endResetModel()

    def shown_count(self) -> int:
        return len(self.records)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(SHOWN):
            return None
        title = SHOWN[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return SHORT.get(title, title)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.columns[section]  # the CSV's header, with its unit
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.cells[index.row()]
        value = row[_INDEX[SHOWN[index.column()]]]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _text(value)
        if role == Qt.ItemDataRole.ForegroundRole and self.records[index.row()].entered_in_error:
            from PySide6.QtGui import QColor

            return QColor("#8a1020")
        return None


class LotSearchDialog(QDialog):
    """Product and lot in, recipients out, CSV of them."""

    def __init__(
        self,
        clinic: ClinicService,
        parent: QWidget | None = None,
        *,
        open_patient: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("lotSearch")
        self.setWindowTitle("Lot search: who received a lot")
        self.clinic = clinic
        self.open_patient = open_patient
        self.ask_export_path: Callable[[str], str | None] = self._ask_export_path
        self.last_export: Path | None = None
        self.searched: tuple[str, str | None] | None = None
        self.product = QComboBox()
        self.product.setEditable(True)
        self.product.setAccessibleName("Product")
        self.product.addItem(ANY_PRODUCT)
        self.product.addItems(sorted({p.product for p in clinic.library}))
        self.lot = QLineEdit()
        self.lot.setAccessibleName("Lot (batch) number")
        self.lot.setPlaceholderText("Lot (batch) number as printed on the vial")
        self.lot.returnPressed.connect(self.search)
        self.search_button = QPushButton("&Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.export_button = QPushButton("E&xport CSV...")
        self.export_button.setAccessibleName("Export the recipients as CSV")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_clicked)
        self.message = QLabel("Enter the lot from the recall notice, and its product.")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Search result")
        self.model = LotRecipientsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Recipients of the lot")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(40)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for title in STRETCHED:
            header.setSectionResizeMode(SHOWN.index(title), QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_row)
        top = QHBoxLayout()
        for label, widget in (("&Product", self.product), ("&Lot", self.lot)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            top.addWidget(caption)
            top.addWidget(widget, 1)
        top.addWidget(self.search_button)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.resize(1100, 520)
        self.lot.setFocus()

    # ------------------------------------------------------------------ search

    def product_name(self) -> str | None:
        text = " ".join(self.product.currentText().split())
        return None if text in ("", ANY_PRODUCT) else text

    def search(self) -> list[RefillRecord]:
        """Find the recipients of the lot typed (of the product chosen); show them, or say
        why nothing is shown. Returns the records found."""
        lot, product = self.lot.text().strip(), self.product_name()
        try:
            found = self.clinic.lot_recipients(lot, product)
        except ValueError as exc:
            self.message.setText(str(exc))
            self.lot.setFocus()
            return []
        self.searched = (lot, product)
        self.model.set_records(found, refill_log_rows(found, self.clinic.tz))
        self.export_button.setEnabled(bool(found))
        # "Record" says when a refill was corrected or withdrawn: shown when one was.
        record = SHOWN.index("Record")
        self.table.setColumnHidden(
            record, not any(_text(row[_INDEX["Record"]]) for row in self.model.cells)
        )
        what = f"lot {lot}" + (f" of {product}" if product else " (any product)")
        if not found:
            self.message.setText(f"No refill on record used {what}.")
        else:
            patients = len({r.patient.id for r in found})
            withdrawn = sum(r.entered_in_error for r in found)
            note = f"; {withdrawn} withdrawn as entered in error (in red)" if withdrawn else ""
            self.message.setText(
                f"{len(found)} refill{'s' if len(found) != 1 else ''} with {what}, for "
                f"{patients} patient{'s' if patients != 1 else ''}{note}. Double-click a row "
                "to open the patient."
            )
        return found

    def _open_row(self, index: QModelIndex) -> None:
        if self.open_patient is None or not index.isValid():
            return
        patient_id = self.model.records[index.row()].patient.id
        if patient_id is not None:
            self.open_patient(patient_id)

    # ------------------------------------------------------------------ export

    def suggested_file_name(self) -> str:
        lot = self.searched[0] if self.searched else "lot"
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in lot)
        return f"lot-{safe}.csv"

    def export_csv(self, path: str | Path) -> Path:
        """Write the recipients shown as CSV (the refill log's columns, as ``itbconsole
        export csv --what lot``) and record the export; returns the file. Raises OSError
        when it cannot be written."""
        target = Path(path)
        if target.suffix.lower() != ".csv":
            target = target.with_name(target.name + ".csv")
        records = self.model.records
        count = write_csv(target, REFILL_LOG_COLUMNS, refill_log_rows(records, self.clinic.tz))
        lot, product = self.searched or ("", None)
        self.clinic.record_action(
            "csv_exported",
            {"what": "lot", "path": str(target.resolve()), "rows": count, "lot": lot,
             **({"product": product} if product else {})},
        )  # fmt: skip
        self.last_export = target
        return target

    def _ask_export_path(self, suggested: str) -> str | None:
        return ask_save_path(
            self, "Export the lot's recipients as CSV", suggested, "CSV file (*.csv)"
        )

    def _export_clicked(self) -> None:
        path = self.ask_export_path(self.suggested_file_name())
        if not path:
            return
        try:
            saved = self.export_csv(path)
        except OSError as exc:
            self.message.setText(f"Not exported: {exc.strerror or exc}")
            return
        self.message.setText(f"Exported {len(self.model.records)} row(s) to {saved}.")


def open_lot_search(window: Host) -> LotSearchDialog:
    """View > Lot search... (Ctrl+Shift+F): the lot search window, beside the main window
    (not modal, so a patient opened from it can be looked at)."""
    dialog = LotSearchDialog(window.clinic, window.host_widget(), open_patient=window.open_patient)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


__all__ = ["LotRecipientsModel", "LotSearchDialog", "open_lot_search"]
