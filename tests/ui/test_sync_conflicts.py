"""The sync conflicts window: a real conflict (two rooms registered one hospital number, the
events moved with ``apply_events`` as a sync pass does, no server needed) is listed with its
sentence and both versions; an administrator resolves it with a note (it leaves the list, an
audit entry says who and why); a nurse sees it but cannot; an empty note is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot

from itbconsole.druglib import load_drug_library
from itbconsole.model import Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store, StoreError
from itbconsole.sync.conflicts import open_conflict_count, open_conflicts
from tests.itbconsole.store.storefixtures import NURSE, T0, make_patient, make_pump
from tests.itbconsole.sync.local_fixtures import rows, sync
from tests.ui.conftest import Console
from ui.sync_conflicts_view import ResolveNoteDialog, SyncConflictsDialog, open_sync_conflicts
from ui.sync_worker import SyncStatus, install_sync_status

LONDON = ZoneInfo("Europe/London")
#: A port nothing listens on: the connection is refused at once.
DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room"
HOUR = 3_600_000
ADMIN = User("Ada Administrator", Role.ADMINISTRATOR)
CLINICIAN = User("Dr Cal Clinician", Role.CLINICIAN)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Store]:
    """This room, where patient Jones has hospital number H100001; the other room registered
    Jonas under the same number (with a pump), and its events were applied here."""
    here = Store.open(tmp_path / "room_b.sqlite")
    other = Store.open(tmp_path / "room_a.sqlite")
    try:
        here.add_patient(make_patient("Jones", hospital="H100001"), NURSE)
        jonas = other.add_patient(make_patient("Jonas", hospital="h100001", nhs_number=None), NURSE)
        other.register_pump(make_pump(), jonas.id or 0, NURSE, at=T0 - timedelta(days=400))
        report = sync(other, here)
        assert [c.kind for c in report.conflicts] == ["refused", "depends"]
        yield here
    finally:
        other.close()
        here.close()


def _dialog(qtbot: QtBot, store: Store, user: User) -> SyncConflictsDialog:
    clinic = ClinicService(store, load_drug_library(), user, LONDON)
    dialog = SyncConflictsDialog(clinic, user)
    qtbot.addWidget(dialog)
    return dialog


def _audit(store: Store) -> list[dict[str, object]]:
    return rows(
        store,
        "SELECT user_name, user_role, payload FROM audit_log"
        " WHERE action = 'sync_conflict_resolved' ORDER BY seq",
    )


def test_the_dialog_lists_the_conflict_with_its_message_and_both_versions(
    qtbot: QtBot, room: Store
) -> None:
    dialog = _dialog(qtbot, room, ADMIN)
    first, second = open_conflicts(room.db)

    assert dialog.model.rowCount() == 2
    shown = [dialog.model.cells(c) for c in dialog.model.conflicts]
    assert shown[0][-1] == first.message and "Jones, Ann" in first.message
    assert shown[0][4] == "patient versions" and shown[1][4] == "pump registrations"
    assert shown[0][5] == "refused by a rule of this room"
    assert shown[0][2].startswith(f"room {first.origin_room[:8]}, event #")
    assert "2 sync conflicts wait" in dialog.summary.text()
    # The first is selected: both versions side by side.
    assert dialog.selected() == first
    assert "≠ family_name: Jonas" in dialog.remote.toPlainText().splitlines()
    assert "≠ family_name: Jones" in dialog.local.toPlainText().splitlines()
    assert "  given_name: Ann" in dialog.local.toPlainText().splitlines()
    assert "≠ hospital_number: H100001" in dialog.local.toPlainText().splitlines()
    assert "Jones, Ann" in dialog.message.text()
    dialog.select(second.id)
    assert "(none" in dialog.local.toPlainText()
    assert dialog.resolve_button.isEnabled()


def test_an_administrator_resolves_with_a_note_and_the_audit_says_who_and_why(
    qtbot: QtBot, room: Store
) -> None:
    dialog = _dialog(qtbot, room, ADMIN)
    first = dialog.selected()
    assert first is not None
    asked: list[int] = []

    def answer(conflict: object) -> str:
        asked.append(getattr(conflict, "id", 0))
        return "  Two different patients; Jonas's number corrected in room A.  "

    dialog.ask_note = answer
    with qtbot.waitSignal(dialog.resolved) as done:
        assert dialog.resolve_selected()

    assert asked == [first.id] and done.args == [first.id]
    assert [c.id for c in open_conflicts(room.db)] == [c.id for c in dialog.model.conflicts]
    assert first.id not in [c.id for c in dialog.model.conflicts]
    assert dialog.model.rowCount() == 1 and open_conflict_count(room.db) == 1
    (entry,) = _audit(room)
    assert entry["user_name"] == "Ada Administrator" and entry["user_role"] == "administrator"
    payload = json.loads(str(entry["payload"]))
    assert payload["conflict_id"] == first.id
    assert payload["note"] == "Two different patients; Jonas's number corrected in room A."
    assert f"Conflict {first.id} resolved by Ada Administrator" in dialog.status.text()


@pytest.mark.parametrize("user", [NURSE, CLINICIAN], ids=["nurse", "clinician"])
def test_a_nurse_or_clinician_sees_the_list_but_cannot_resolve(
    qtbot: QtBot, room: Store, user: User
) -> None:
    dialog = _dialog(qtbot, room, user)

    assert dialog.model.rowCount() == 2
    assert not dialog.resolve_button.isEnabled()
    assert "Only an administrator" in dialog.role_note.text()
    dialog.ask_note = lambda _c: pytest.fail("no note is asked of a nurse")
    assert not dialog.resolve_selected()
    assert "Only an administrator can resolve" in dialog.status.text()
    # Even past the button, the store refuses, and the refusal is shown.
    first = open_conflicts(room.db)[0]
    assert not dialog.resolve(first.id, "looked fine to me")
    assert f"signed in as {user.role.value}" in dialog.status.text()
    assert open_conflict_count(room.db) == 2 and _audit(room) == []


def test_an_empty_note_is_refused_with_a_message_and_nothing_changes(
    qtbot: QtBot, room: Store
) -> None:
    dialog = _dialog(qtbot, room, ADMIN)
    first = dialog.selected()
    assert first is not None

    assert not dialog.resolve(first.id, "   ")
    assert "Say how the conflict was resolved" in dialog.status.text()
    note = ResolveNoteDialog(first, dialog)
    qtbot.addWidget(note)
    note.text.setPlainText("  \n ")
    note.accept_if_valid()
    assert note.note is None and "note is required" in note.error.text()
    assert open_conflict_count(room.db) == 2 and _audit(room) == []


def test_open_sync_conflicts_uses_the_windows_clinic_and_signed_in_user(
    qtbot: QtBot, room: Store
) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.clinic = ClinicService(room, load_drug_library(), ADMIN, LONDON)  # type: ignore[attr-defined]
    dialog = open_sync_conflicts(window)
    assert dialog.isVisible() and dialog.user == ADMIN and dialog.model.rowCount() == 2
    assert open_sync_conflicts(window) is dialog  # asked again: the same list, in front
    assert len(window.findChildren(SyncConflictsDialog)) == 1
    dialog.close()


def test_a_click_on_the_label_opens_the_list_while_conflicts_wait(qtbot: QtBot) -> None:
    """The label's click: the list when conflicts wait (and the window listens), a pass
    otherwise. The worker's signals are fed directly: no server, no thread pass."""

    def no_database() -> Store:
        raise StoreError("no database in this test")

    status = SyncStatus(no_database, "host=none", interval_ms=3_600_000)
    status.shutdown()  # before its first pass: the label is driven by hand below
    qtbot.addWidget(status.label)
    opened: list[bool] = []
    passes: list[bool] = []
    status.requested.connect(lambda: passes.append(True))
    status.review_requested.connect(lambda: opened.append(True))

    status._count_to_review(0)
    status._show("Last sync 14:05, 0 waiting", "")
    qtbot.mouseClick(status.label, Qt.MouseButton.LeftButton)
    assert passes == [True] and opened == []
    assert "Click to sync now" in status.label.toolTip()

    status._count_to_review(2)
    status._show("Last sync 14:06, 0 waiting, 2 to review", "")
    qtbot.mouseClick(status.label, Qt.MouseButton.LeftButton)
    assert opened == [True] and passes == [True]
    assert "Click to review them" in status.label.toolTip()
    status._count_to_review(-1)  # not counted this time: the last count stands
    assert status.conflicts_to_review == 2


def test_in_the_window_a_click_on_to_review_opens_the_list_and_a_resolution_recounts(
    qtbot: QtBot, room: Store, tmp_path: Path
) -> None:
    """The real worker against a server that is down: the label counts the conflicts, a
    click opens the list, and resolving one there asks for a pass that counts one less."""
    window = QMainWindow()
    qtbot.addWidget(window)
    window.clinic = ClinicService(room, load_drug_library(), ADMIN, LONDON)  # type: ignore[attr-defined]
    status = install_sync_status(window, tmp_path / "room_b.sqlite", DOWN_DSN, interval_ms=HOUR)
    assert status is not None
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        assert shown.args[0].endswith(", 2 to review")
        with qtbot.waitSignal(status.review_requested, timeout=5_000):
            qtbot.mouseClick(status.label, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(status.label, Qt.MouseButton.LeftButton)  # a second click
        (dialog,) = window.findChildren(SyncConflictsDialog)
        assert dialog.isVisible() and dialog.model.rowCount() == 2
        first = dialog.selected()
        assert first is not None
        with qtbot.waitSignal(status.changed, timeout=20_000) as recounted:
            assert dialog.resolve(first.id, "Two patients; number corrected in room A.")
        assert recounted.args[0].endswith(", 1 to review")
    finally:
        status.shutdown()


def test_on_the_console_window_the_list_opens_empty_for_a_clinic_without_conflicts(
    console: Console,
) -> None:
    dialog = open_sync_conflicts(console.window)
    assert dialog.parent() is console.window.host_widget()
    assert dialog.model.rowCount() == 0
    assert dialog.summary.text() == "No sync conflict waits for an administrator."
    assert not dialog.resolve_button.isEnabled()
    dialog.close()
