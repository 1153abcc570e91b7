"""The one base for the window's list tables (patients, worklist, history).

Why a base: each table is a list of Python rows under fixed column titles, sorted in Python
with one key per row (a sort proxy would call ``data()`` n log n times through Qt, which
costs most of a second for a 5,000-patient clinic). What they share, the row and column
counts and the header, lives here once; each table keeps its own rows, text and sort keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

ModelIndex = QModelIndex | QPersistentModelIndex


class ListTableModel(QAbstractTableModel):
    """A flat table: ``columns`` are the titles, :meth:`shown_count` the rows shown."""

    columns: ClassVar[tuple[str, ...]] = ()

    def shown_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.shown_count()

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None
