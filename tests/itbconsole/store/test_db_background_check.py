"""The integrity check that runs beside the starting window (``integrity_check_after_open``).

What a user relies on: the window no longer waits for ``quick_check``, yet a damaged
database is still found and nothing is written to it, and an open that would write (a
switch to WAL, a migration) still checks the file first.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from itbconsole.store import DamagedDatabaseError, Store
from itbconsole.store.db import (
    BackgroundIntegrityCheck,
    integrity_check_after_open,
    pending_integrity_check,
)
from tests.itbconsole.store.storefixtures import NURSE, make_patient


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damage_page(path: Path, table: str = "pump_events") -> None:
    """Overwrite one b-tree page (the pump events' root) with garbage: the header, the tables
    read on open and those a new patient is written to stay whole, so only an integrity
    check sees it (and a write would otherwise succeed)."""
    conn = sqlite3.connect(path)
    try:
        page = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", [table]
        ).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with open(path, "r+b") as handle:
        handle.seek(page_size * (page - 1))
        handle.write(bytes(range(256)) * (page_size // 256))


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        for i in range(60):
            store.add_patient(make_patient(hospital=f"H{i:06d}", nhs_number=None), NURSE)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def open_checking_later(path: Path) -> tuple[Store, BackgroundIntegrityCheck]:
    with integrity_check_after_open():
        store = Store.open(path)
    check = pending_integrity_check(store.db)
    assert check is not None, "the open waited for the check"
    return store, check


def test_a_damaged_database_opens_for_the_window_but_no_write_reaches_it(clinic: Path) -> None:
    damage_page(clinic)
    content = digest(clinic)
    store, check = open_checking_later(clinic)
    try:
        with pytest.raises(DamagedDatabaseError, match="damaged"):
            store.add_patient(make_patient(hospital="H999999", nhs_number=None), NURSE)
        assert check.wait(0) and isinstance(check.error, DamagedDatabaseError)
        assert "not tampering" in str(check.error)
        with pytest.raises(DamagedDatabaseError):  # and every later write too
            store.add_patient(make_patient(hospital="H999998", nhs_number=None), NURSE)
    finally:
        store.close()
    assert digest(clinic) == content


def test_a_whole_database_opened_this_way_saves_as_usual(clinic: Path) -> None:
    store, check = open_checking_later(clinic)
    with store:
        saved = store.add_patient(make_patient(hospital="H999999", nhs_number=None), NURSE)
        assert check.wait(0) and check.error is None and check.checked == "whole file"
        assert saved.id is not None
        assert store.get_patient(saved.id).hospital_number == "H999999"


def test_the_result_is_handed_on_once_found_even_to_a_late_listener(clinic: Path) -> None:
    damage_page(clinic)
    store, check = open_checking_later(clinic)
    with store:
        assert check.wait(10)
        heard: list[BackgroundIntegrityCheck] = []
        check.when_done(heard.append)
        assert heard == [check] and check.error is not None


def test_an_open_that_must_write_checks_first_even_when_asked_to_check_later(
    clinic: Path,
) -> None:
    # A database in rollback-journal mode: the open would switch it to WAL (a write).
    conn = sqlite3.connect(clinic)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    damage_page(clinic)
    content = digest(clinic)
    with integrity_check_after_open(), pytest.raises(DamagedDatabaseError, match="damaged"):
        Store.open(clinic)
    assert digest(clinic) == content


def test_outside_the_block_the_open_still_waits_for_the_check(clinic: Path) -> None:
    damage_page(clinic)
    with pytest.raises(DamagedDatabaseError, match="damaged"):
        Store.open(clinic)


def test_a_check_started_later_is_started_by_the_first_write_and_still_refuses_it(
    clinic: Path,
) -> None:
    """With ``start_later`` (no sign-in: the window starts the check once it shows) the
    check is made but not run; a write that comes first starts it and waits for it, so a
    damaged file is still never written to."""
    damage_page(clinic)
    before = digest(clinic)
    with integrity_check_after_open(start_later=True):
        store = Store.open(clinic)
    try:
        check = pending_integrity_check(store.db)
        assert check is not None and not check.done
        assert not check.wait(0)  # a look does not start it
        with pytest.raises(DamagedDatabaseError):
            store.add_patient(make_patient(hospital="H999999", nhs_number=None), NURSE)
        assert check.done and check.error is not None
    finally:
        store.close()
    assert digest(clinic) == before


def test_a_check_started_later_runs_once_when_started(clinic: Path) -> None:
    with integrity_check_after_open(start_later=True):
        store = Store.open(clinic)
    try:
        check = pending_integrity_check(store.db)
        assert check is not None
        check.start()
        check.start()  # a second start does nothing
        assert check.wait(10) and check.error is None
        store.add_patient(make_patient(hospital="H999998", nhs_number=None), NURSE)
    finally:
        store.close()
