"""Sync conflicts: what another room sent that this room set aside, for an administrator.

Why a window of its own: a conflict (two rooms registered one hospital number, changed one
record at once...) is decided by a person who looks at both versions, and the status bar
only counts them ("2 to review"). This window lists the open ones, oldest first, from the
clinic's own store (:func:`itbconsole.sync.conflicts.open_conflicts`, read only), shows the
plain sentence and both versions side by side, and records an administrator's resolution
with a note (:func:`itbconsole.sync.conflicts.resolve_conflict`: a row of
``sync_resolutions`` and an audit entry naming who and why).

Who may resolve: the rule is the store's (an administrator only). A nurse or clinician
still sees the list, read only: they are the ones who were in the room when the record was
made and can tell the administrator what happened, and a list that hid itself would look
like no problem at all. The Resolve button is then disabled and says why. The note is asked
through a seam (:attr:`SyncConflictsDialog.ask_note`), so tests never open a modal dialog.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from itbconsole.cli.args import MAX_NOTE_CHARS
from itbconsole.display import fmt_moment
from itbconsole.model import Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store, StoreError
from itbconsole.store.db import integrity_check_after_open
from itbconsole.sync.conflicts import Conflict, open_conflicts, resolve_conflict, room_label
from ui.table_model import ListTableModel, ModelIndex

if TYPE_CHECKING:
    from datetime import tzinfo

#: The mark of a field whose value the two versions do not share.
DIFFERS = "≠ "
#: The refusal a nurse or clinician reads (the store refuses them too, in its own words).
ADMINISTRATORS_ONLY = (
    "Only an administrator can resolve a sync conflict; you are signed in as {role}. "
    "The list is shown so you can tell the administrator what happened."
)


def _moment(text: str | None, tz: tzinfo) -> str:
    """An ISO time stamp of the store, in the clinic's zone (as written elsewhere on screen)."""
    if not text:
        return ""
    try:
        return fmt_moment(datetime.fromisoformat(text), tz)
    except ValueError:
        return text


def _table_text(table: str | None) -> str:
    return (table or "").replace("_", " ")


def _fields(content: str | None) -> dict[str, Any] | None:
    """A version's fields, or None when there is none or it is not a JSON object."""
    if content is None:
        return None
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def version_text(content: str | None, other: str | None = None) -> str:
    """A version's content, one field a line (``name: value``), the fields that differ from
    ``other`` marked ``≠``; the stored text as it is when it is not a JSON object (an
    unreadable event is shown, never hidden)."""
    if content is None:
        return "(none: there is no record here it met)"
    fields = _fields(content)
    if fields is None:
        return content
    compared = _fields(other)
    lines = []
    for name in sorted(fields):
        value = fields[name]
        differs = compared is not None and compared.get(name) != value
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        lines.append(f"{DIFFERS if differs else '  '}{name}: {shown}")
    return "\n".join(lines)


class ConflictsModel(ListTableModel):
    """The open conflicts, oldest first."""

    columns = ("Found here", "Made", "Room", "By", "Table", "Kind", "What happened")

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.conflicts: list[Conflict] = []

    def set_conflicts(self, conflicts: Sequence[Conflict]) -> None:
        self.beginResetModel()
        self.conflicts = list(conflicts)
        self.endResetModel()

    def shown_count(self) -> int:
        return len(self.conflicts)

    def cells(self, conflict: Conflict) -> tuple[str, ...]:
        return (
            _moment(conflict.detected_at, self.tz),
            _moment(conflict.origin_at, self.tz),
            f"{room_label(conflict.origin_room)}, event #{conflict.origin_seq}",
            f"{conflict.user_name} ({conflict.user_role})",
            _table_text(conflict.table_name),
            conflict.kind_text,
            conflict.message,
        )

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        conflict = self.conflicts[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(conflict)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return conflict.message
        return None


class ResolveNoteDialog(QDialog):
    """How the conflict was dealt with: a note, required (it is the audit's 'why')."""

    def __init__(self, conflict: Conflict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Resolve sync conflict {conflict.id}")
        self.note: str | None = None
        intro = QLabel(
            f"{conflict.message}\n\nSay how it was dealt with (for example: the two "
            "patients are one person; the record was corrected by hand). Your name and this "
            "note are recorded."
        )
        intro.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("How the conflict was resolved")
        self.error = QLabel("")
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Record resolution")
        box.accepted.connect(self.accept_if_valid)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.error)
        layout.addWidget(box)
        self.resize(560, 320)

    def accept_if_valid(self) -> None:
        note = self.text.toPlainText().strip()
        if not note:
            self.error.setText("Say how the conflict was resolved: the note is required.")
            return
        if len(note) > MAX_NOTE_CHARS:
            self.error.setText(f"The note is too long (at most {MAX_NOTE_CHARS} characters).")
            return
        self.note = note
        self.accept()

    def ask(self) -> str | None:
        return self.note if self.exec() == QDialog.DialogCode.Accepted else None


class SyncConflictsDialog(QDialog):
    """The open sync conflicts: the list, both versions of the one selected, Resolve..."""

    #: A conflict was resolved (its id): the status bar's count is out of date.
    resolved = Signal(int)

    def __init__(self, clinic: ClinicService, user: User, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncConflicts")
        self.setWindowTitle("Sync conflicts to review")
        self.clinic = clinic
        self.user = user
        self._store: Store | None = None  # opened on first use, closed with the window
        self.ask_note: Callable[[Conflict], str | None] = self._ask_note
        self.may_resolve = user.role is Role.ADMINISTRATOR
        self.model = ConflictsModel(clinic.tz, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Open sync conflicts")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_selected())
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Conflicts summary")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("What happened")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.remote = self._version_pane("The other room's version")
        self.local = self._version_pane("This room's version")
        self.resolve_button = QPushButton("&Resolve...")
        self.resolve_button.setAccessibleName("Resolve the selected conflict")
        self.resolve_button.clicked.connect(self.resolve_selected)
        self.resolve_button.setEnabled(False)
        if not self.may_resolve:
            self.resolve_button.setToolTip(ADMINISTRATORS_ONLY.format(role=user.role.value))
        close = QPushButton("&Close")
        close.clicked.connect(self.close)
        self.role_note = QLabel(
            "" if self.may_resolve else ADMINISTRATORS_ONLY.format(role=user.role.value)
        )
        self.role_note.setWordWrap(True)
        self.role_note.setVisible(not self.may_resolve)
        self.status = QLabel("")
        self.status.setObjectName("formError")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Result")

        versions = QWidget()
        sides = QHBoxLayout(versions)
        sides.setContentsMargins(0, 0, 0, 0)
        for title, pane in (
            ("The other room's version", self.remote),
            ("This room's version", self.local),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>{title}</b>"))
            column.addWidget(pane, 1)
            sides.addLayout(column, 1)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.message)
        details_layout.addWidget(versions, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.resolve_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.role_note)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.resize(1200, 640)
        self.refresh()

    @staticmethod
    def _version_pane(name: str) -> QPlainTextEdit:
        pane = QPlainTextEdit()
        pane.setReadOnly(True)
        pane.setAccessibleName(name)
        pane.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        return pane

    # ------------------------------------------------------------------ list

    def _records(self) -> Any:
        """The clinic's file through a connection of this window's own, as the sync itself
        reads and writes it (the sync layer applies its rules: an administrator, a note,
        an audit entry); the clinic service's own connection is not reached around. Opened
        once, when first needed, and closed when the window closes."""
        if self._store is None:
            with integrity_check_after_open():
                self._store = Store.open(Path(self.clinic.database_path), create=False)
        return self._store.db

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().closeEvent(event)

    def refresh(self) -> list[Conflict]:
        """Read the open conflicts afresh (another pass may have added or settled some);
        keep the selection on the same conflict when it is still open."""
        kept = self.selected()
        conflicts = open_conflicts(self._records())
        self.model.set_conflicts(conflicts)
        self.table.resizeColumnsToContents()
        count = len(conflicts)
        self.summary.setText(
            "No sync conflict waits for an administrator."
            if not count
            else f"{count} sync conflict{'s' if count != 1 else ''} wait"
            f"{'s' if count == 1 else ''} for an administrator, oldest first. Put the records "
            "right first (correct or merge the patient, rename the account...), then record "
            "how with Resolve."
        )
        ids = [c.id for c in conflicts]
        row = ids.index(kept.id) if kept is not None and kept.id in ids else 0
        if conflicts:
            self.table.selectRow(row)
        self._show_selected()
        return conflicts

    def selected(self) -> Conflict | None:
        index = self.table.currentIndex()
        if not index.isValid() or index.row() >= len(self.model.conflicts):
            return None
        return self.model.conflicts[index.row()]

    def select(self, conflict_id: int) -> None:
        for row, conflict in enumerate(self.model.conflicts):
            if conflict.id == conflict_id:
                self.table.selectRow(row)
                return
        raise LookupError(f"no open conflict {conflict_id}")

    def _show_selected(self) -> None:
        conflict = self.selected()
        self.resolve_button.setEnabled(conflict is not None and self.may_resolve)
        if conflict is None:
            self.message.setText("")
            self.remote.setPlainText("")
            self.local.setPlainText("")
            return
        where = (
            f" ({_table_text(conflict.local_table)}, record {conflict.local_id})"
            if conflict.local_table
            else ""
        )
        self.message.setText(
            f"<b>Conflict {conflict.id}: {conflict.kind_text}.</b> "
            f"{_escape(conflict.message)}<br>Made in {room_label(conflict.origin_room)} "
            f"(event #{conflict.origin_seq}) by {_escape(conflict.user_name)} "
            f"({conflict.user_role}): {conflict.action}, {_table_text(conflict.table_name)};"
            f" this room's record it met{where} is on the right ({DIFFERS.strip()} marks what "
            "differs)."
        )
        self.remote.setPlainText(version_text(conflict.remote_json, conflict.local_json))
        self.local.setPlainText(version_text(conflict.local_json, conflict.remote_json))

    # ------------------------------------------------------------------ resolve

    def _ask_note(self, conflict: Conflict) -> str | None:
        return ResolveNoteDialog(conflict, self).ask()

    def resolve_selected(self) -> bool:
        """Resolve...: ask how the selected conflict was dealt with, then record it."""
        conflict = self.selected()
        if conflict is None:
            self.status.setText("Choose a conflict in the list first.")
            return False
        if not self.may_resolve:
            self.status.setText(ADMINISTRATORS_ONLY.format(role=self.user.role.value))
            return False
        note = self.ask_note(conflict)
        if note is None:
            return False
        return self.resolve(conflict.id, note)

    def resolve(self, conflict_id: int, note: str) -> bool:
        """Record that conflict ``conflict_id`` was dealt with, as the signed-in user (the
        store refuses anyone but an administrator, and an empty note); the refusal is shown
        and nothing changes. Refreshes the list."""
        try:
            resolve_conflict(self._records(), conflict_id, self.user, note)
        except StoreError as exc:
            self.status.setText(str(exc))
            return False
        self.refresh()
        self.status.setText(f"Conflict {conflict_id} resolved by {self.user.name}.")
        self.resolved.emit(conflict_id)
        return True


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def open_sync_conflicts(window: Any) -> SyncConflictsDialog:
    """Tools > Sync conflicts... (and a click on "N to review" in the status bar): the list
    beside the main window, not modal, so the records can be put right while it is open.
    Asked again while it is open, the same list is read afresh and brought to the front."""
    host = window.host_widget() if hasattr(window, "host_widget") else window
    user = window.clinic.user
    for shown in host.findChildren(SyncConflictsDialog):
        if shown.isVisible() and shown.user == user:  # one list, brought to the front
            shown.refresh()
            shown.raise_()
            shown.activateWindow()
            return shown
    dialog = SyncConflictsDialog(window.clinic, user, host)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


__all__ = [
    "ConflictsModel",
    "ResolveNoteDialog",
    "SyncConflictsDialog",
    "open_sync_conflicts",
    "version_text",
]
