"""Conflicts stay in view until dealt with, and events waiting in one are tried again at the
end of every pass: a mistyped hospital number corrected here lets the other room's patient,
and the records that waited with her, in at the next pass. From a terminal,
``itbconsole sync conflicts`` lists them and ``itbconsole sync resolve`` records the
administrator's decision."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.cli import main
from itbconsole.model import Patient, Role
from itbconsole.services.accounts import AccountService
from itbconsole.store import Store
from itbconsole.sync import server
from itbconsole.sync.conflicts import open_conflict_count
from itbconsole.sync.engine import sync_once
from tests.itbconsole.store.storefixtures import (
    NURSE,
    make_patient,
    make_pump,
    make_refill,
)
from tests.itbconsole.store.storefixtures import T0 as ST0

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024)


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


def refills(store: Store) -> int:
    return int(store.db.conn.execute("SELECT count(*) FROM refills").fetchone()[0])


def clash(tmp_path: Path, dsn: str) -> tuple[Store, Store, Patient]:
    """Room A registers Jones (H100001) with a pump and a refill; room B mistyped H100001
    for Brown: A's patient, pump and refill wait in B as conflicts."""
    a = Store.open(tmp_path / "a.db")
    b = Store.open(tmp_path / "b.db")
    jones = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), jones.id or 0, NURSE, at=ST0 - timedelta(days=400))
    a.add_refill(make_refill(), NURSE)
    brown = b.add_patient(make_patient("Brown", nhs_number=None), NURSE)
    sync_once(a, dsn)
    first = sync_once(b, dsn)
    assert first.conflicts > 0 and first.open_conflicts > 0 and refills(b) == 0
    return a, b, brown


def test_open_conflicts_are_reported_by_every_pass_until_dealt_with(
    dsn: str, tmp_path: Path
) -> None:
    a, b, _ = clash(tmp_path, dsn)
    with a, b:
        again = sync_once(b, dsn)
        assert again.conflicts == 0  # nothing new found...
        assert again.open_conflicts == open_conflict_count(b.db) > 0  # ...still to review
        assert f"open conflicts: {again.open_conflicts}" in again.summary()


def test_waiting_events_apply_at_the_next_pass_once_the_clash_is_put_right(
    dsn: str, tmp_path: Path
) -> None:
    a, b, brown = clash(tmp_path, dsn)
    with a, b:
        b.correct_patient(replace(brown, hospital_number="H200002", nhs_number=None), NURSE, "typo")
        report = sync_once(b, dsn)
        assert report.reapplied > 0 and report.open_conflicts == 0
        assert refills(b) == refills(a) == 1
        assert report.pending == 0  # what applied on retry is on the server too
        assert b.verify().ok


def test_the_cli_lists_open_conflicts_and_an_administrator_resolves_one(
    dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, _ = clash(tmp_path, dsn)
    accounts = AccountService(b, hasher=CHEAP)
    ada = accounts.create_first_administrator("Ada Admin", "correct horse 7")
    accounts.create_account(ada, "Nell Nurse", Role.NURSE, "battery staple 9")
    waiting = open_conflict_count(b.db)
    a.close()
    b.close()
    db = str(tmp_path / "b.db")

    assert main(["sync", "conflicts", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{waiting} open conflict(s).")
    first = listed.splitlines()[1]
    conflict_id = first.split()[0].lstrip("#")
    assert "patient" in first and "H100001" in listed

    resolve = ["sync", "resolve", "--db", db, "--note", "Brown's number was mistyped"]
    monkeypatch.setattr("sys.stdin", io.StringIO("battery staple 9\n"))
    assert main([*resolve, "--admin", "Nell Nurse", "--", conflict_id]) == 1
    assert "only an administrator" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse 7\n"))
    assert main([*resolve, "--admin", "Ada Admin", "--", conflict_id]) == 0
    assert f"Conflict #{conflict_id} resolved by Ada Admin" in capsys.readouterr().out

    with Store.open(tmp_path / "b.db") as store:
        assert open_conflict_count(store.db) == waiting - 1
        row = store.db.conn.execute(
            "SELECT user_name FROM audit_log WHERE action = 'sync_conflict_resolved'"
        ).fetchone()
        assert row == ("Ada Admin",)
        assert store.verify().ok
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse 7\n"))
    assert main([*resolve, "--admin", "Ada Admin", "--", conflict_id]) == 1
    assert "already resolved" in capsys.readouterr().err
