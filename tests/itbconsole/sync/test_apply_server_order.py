"""Concurrent edits are decided by the order the clinic server received them, never by a
room's clock; two rooms settling one refill differently leave its outcome unknown for an
administrator; a console whose clock is ahead is reported; and a "first administrator" made
by a room that had not received the clinic's accounts is refused (docs/sync-rules.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.model import Role
from itbconsole.services.accounts import AccountService, SignInRefused
from itbconsole.store import Store
from itbconsole.store import db as store_db
from itbconsole.sync import server
from itbconsole.sync.apply import open_conflicts
from itbconsole.sync.engine import sync_once
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_change,
    make_patient,
    make_pump,
    make_refill,
)
from tests.itbconsole.sync.local_fixtures import sync

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024)
_REAL_NOW = store_db.utc_now


@contextmanager
def clock_ahead(days: int) -> Iterator[None]:
    """This console's clock set ``days`` ahead (every module's ``utc_now``)."""
    ahead: Callable[[], datetime] = lambda: _REAL_NOW() + timedelta(days=days)  # noqa: E731
    patched = [m for m in list(sys.modules.values()) if getattr(m, "utc_now", None) is _REAL_NOW]
    for module in patched:
        module.utc_now = ahead  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.utc_now = _REAL_NOW  # type: ignore[attr-defined]


@pytest.fixture
def login(pg_dsn: str, room_dsn: Callable[[str], str]) -> Callable[[Store], str]:
    server.init_server(pg_dsn)
    logins: dict[str, str] = {}

    def dsn_of(store: Store) -> str:
        room = str(store.store_id())
        if room not in logins:
            logins[room] = room_dsn(room)
        return logins[room]

    return dsn_of


def _given_name_in_force(store: Store) -> str:
    found = store.db.conn.execute(
        "SELECT v.given_name FROM current_patient c JOIN patient_versions v ON v.id = c.version_id"
    ).fetchone()
    return str(found[0])


def _refills_in_force(store: Store) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in store.db.conn.execute(
            "SELECT f.status, f.created_by FROM refills f WHERE NOT EXISTS"
            " (SELECT 1 FROM refills c WHERE c.corrects_id = f.id)"
        )
    ]


def _head_refill(store: Store) -> int:
    return int(
        store.db.conn.execute(
            "SELECT f.id FROM refills f WHERE NOT EXISTS"
            " (SELECT 1 FROM refills c WHERE c.corrects_id = f.id)"
        ).fetchone()[0]
    )


def _patient_id(store: Store) -> int:
    return int(store.db.conn.execute("SELECT id FROM patients").fetchone()[0])


def _two_rooms(tmp_path: Path, login: Callable[[Store], str]) -> tuple[Store, Store]:
    """Room A with a patient, her pump and a pending refill; room B has received them."""
    room_a, room_b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    patient = room_a.add_patient(make_patient(), NURSE)
    room_a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    room_a.add_refill(make_refill(status="pending"), NURSE)
    sync_once(room_a, login(room_a))
    sync_once(room_b, login(room_b))
    return room_a, room_b


def test_the_version_the_server_received_last_wins_whatever_the_clocks_say(
    tmp_path: Path, login: Callable[[Store], str]
) -> None:
    room_a, room_b = _two_rooms(tmp_path, login)
    # B's clock is two years ahead; B corrects the name and sends it first. A corrects it
    # later (by the server's order), without having seen B's.
    with clock_ahead(730):
        room_b.correct_patient(
            replace(make_patient(), id=_patient_id(room_b), given_name="Bea"), NURSE, "spelling"
        )
        sync_once(room_b, login(room_b))
    room_a.correct_patient(
        replace(make_patient(), id=_patient_id(room_a), given_name="Ada"), NURSE, "spelling"
    )
    into_a = sync_once(room_a, login(room_a))
    sync_once(room_b, login(room_b))
    sync_once(room_a, login(room_a))

    assert _given_name_in_force(room_a) == _given_name_in_force(room_b) == "Ada"
    # The clock ahead is reported to A's administrators (once).
    kinds = [c.kind for c in open_conflicts(room_a.db)]
    assert kinds.count("clock_ahead") == 1
    assert into_a.conflicts >= 2
    assert room_a.verify().ok and room_b.verify().ok


def test_a_refill_settled_differently_in_two_rooms_stays_unknown_until_settled_again(
    tmp_path: Path, login: Callable[[Store], str]
) -> None:
    room_a, room_b = _two_rooms(tmp_path, login)
    serial = make_pump().serial
    # B (clock two years ahead, never at the pump) marks the refill failed first; A, which
    # did the refill, confirms it.
    with clock_ahead(730):
        room_b.resolve_refill(_head_refill(room_b), "failed", NURSE, "assumed failed")
        sync_once(room_b, login(room_b))
    room_a.resolve_refill(_head_refill(room_a), "confirmed", NURSE, "read back ok")
    for _ in range(2):
        sync_once(room_a, login(room_a))
        sync_once(room_b, login(room_b))

    for room in (room_a, room_b):
        assert _refills_in_force(room) == [("pending", "ITB Console sync")]
        assert room.open_outcomes(serial) == 1  # the worklist: "outcome unknown"
        assert "outcome_unknown" in [c.kind for c in open_conflicts(room.db)]
        assert room.verify().ok

    # An administrator settles it again, with what the pump shows: every room agrees.
    room_a.resolve_refill(_head_refill(room_a), "confirmed", NURSE, "checked with the pump")
    sync_once(room_a, login(room_a))
    sync_once(room_b, login(room_b))
    for room in (room_a, room_b):
        assert [s for s, _ in _refills_in_force(room)] == ["confirmed"]
        assert room.open_outcomes(serial) == 0


def test_a_first_administrator_made_without_the_clinics_accounts_is_refused(
    tmp_path: Path, login: Callable[[Store], str]
) -> None:
    room_a = Store.open(tmp_path / "a.db")
    accounts_a = AccountService(room_a, hasher=CHEAP)
    ada = accounts_a.create_first_administrator("Ada Admin", "correct horse 7")
    accounts_a.create_account(ada, "Nell Nurse", Role.NURSE, "battery staple 9")
    sync_once(room_a, login(room_a))
    # A new database file, its console never given the clinic's accounts: its "first
    # administrator" must not become an administrator of the clinic.
    rogue = Store.open(tmp_path / "rogue.db")
    AccountService(rogue, hasher=CHEAP).create_first_administrator("Mal Admin", "rogue pass 99x")
    AccountService(rogue, hasher=CHEAP).sign_in("Mal Admin", "rogue pass 99x")
    sync_once(rogue, login(rogue))

    report = sync_once(room_a, login(room_a))

    with pytest.raises(SignInRefused):
        AccountService(room_a, hasher=CHEAP).sign_in("Mal Admin", "rogue pass 99x")
    refused = [c for c in open_conflicts(room_a.db) if c.kind == "refused"]
    assert len(refused) == 1 and "Mal Admin" in refused[0].message
    assert "first administrator" in refused[0].message
    assert report.conflicts >= 1
    # The clinic's own accounts are untouched, and the room's record still verifies.
    assert AccountService(room_a, hasher=CHEAP).sign_in("Ada Admin", "correct horse 7").role is (
        Role.ADMINISTRATOR
    )
    assert room_a.verify().ok


def test_a_second_room_that_received_the_accounts_first_is_not_refused(
    tmp_path: Path, login: Callable[[Store], str]
) -> None:
    room_a, room_b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    accounts_a = AccountService(room_a, hasher=CHEAP)
    ada = accounts_a.create_first_administrator("Ada Admin", "correct horse 7")
    sync_once(room_a, login(room_a))
    sync_once(room_b, login(room_b))
    admin_b = AccountService(room_b, hasher=CHEAP).sign_in("Ada Admin", "correct horse 7")
    AccountService(room_b, hasher=CHEAP).create_account(
        admin_b, "Bob Admin", Role.ADMINISTRATOR, "battery staple 9"
    )
    sync_once(room_b, login(room_b))
    sync_once(room_a, login(room_a))
    assert ada.role is Role.ADMINISTRATOR
    assert [c.kind for c in open_conflicts(room_a.db)] == []
    assert AccountService(room_a, hasher=CHEAP).find("Bob Admin") is not None


def test_a_program_change_settled_differently_in_two_rooms_stays_uncertain(
    tmp_path: Path,
) -> None:
    room_a, room_b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    patient = room_a.add_patient(make_patient(), NURSE)
    room_a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    room_a.add_program_change(make_change(outcome="uncertain"), CLINICIAN)
    sync(room_a, room_b)
    change_b = int(room_b.db.conn.execute("SELECT id FROM program_changes").fetchone()[0])
    room_b.resolve_program_change(change_b, "failed", CLINICIAN, note="pump kept the old one")
    room_a.resolve_program_change(1, "succeeded", CLINICIAN, note="read back ok")
    for _ in range(2):
        sync(room_b, room_a)
        sync(room_a, room_b)

    for room in (room_a, room_b):
        in_force = room.db.conn.execute(
            "SELECT g.outcome FROM program_changes g WHERE NOT EXISTS"
            " (SELECT 1 FROM program_changes c WHERE c.corrects_id = g.id)"
        ).fetchall()
        assert [r[0] for r in in_force] == ["uncertain"]
        assert room.open_outcomes(make_pump().serial) == 1
        assert "outcome_unknown" in [c.kind for c in open_conflicts(room.db)]
        assert room.verify().ok
