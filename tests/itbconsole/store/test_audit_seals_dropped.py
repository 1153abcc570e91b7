"""A forger who drops the table of seals (and the database's identity) must not turn every
seal check off: a database sealed once needs its seal tables, and their absence is a finding
of its own that makes ``db verify`` fail. The forger here also puts stand-in triggers under
the dropped tables' trigger names, so only the missing tables give the forgery away."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from itbconsole.cli import main
from itbconsole.store import Store, audit
from itbconsole.store.db import migrate, transaction
from itbconsole.store.schema import MIGRATIONS
from tests.itbconsole.store.storefixtures import NURSE, make_patient
from tests.itbconsole.store.test_audit_forgery import append_forged

MISSING_SEALS = "The table of seals (audit_seals) is missing"


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        store.add_patient(make_patient(), NURSE)
        assert store.verify().proven
    return path


def drop_and_forge(path: Path, *tables: str, forget_migrations: bool = False) -> None:
    """Drop ``tables`` (their triggers go with them), put stand-in triggers of the same
    names on a table of the forger's, and append a correctly chained entry."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE forger_scratch (x)")
        for table in tables:
            conn.execute(f"DROP TABLE {table}")
            for suffix in ("no_update", "no_delete", "no_insert"):
                conn.execute(
                    f"CREATE TRIGGER {table}_{suffix} BEFORE DELETE ON forger_scratch"
                    " BEGIN SELECT 1; END"
                )
        if forget_migrations:
            conn.execute("DELETE FROM migrations WHERE id >= 10")
        append_forged(conn, action="note", user_name="Dr Forge", payload='{"forged":true}')
    finally:
        conn.close()


def test_dropping_the_seals_and_appending_an_entry_is_reported(clinic: Path) -> None:
    drop_and_forge(clinic, "audit_seals")
    with Store.open(clinic, read_only=True) as store:
        report = store.verify()
    assert not report.ok and not report.proven
    removed = report.of_kind("removed")
    assert [(p.subject, p.table) for p in removed] == [("schema", "audit_seals")]
    assert removed[0].message.startswith(MISSING_SEALS)
    assert "migration 10 (keyed seals) was applied" in removed[0].message
    assert "the audit trail cannot be proven; someone removed it" in removed[0].message
    assert "TAMPERED" in report.summary() and "1 removed" in report.summary()


def test_dropping_the_identity_too_and_the_migration_rows_is_reported(clinic: Path) -> None:
    drop_and_forge(clinic, "audit_seals", "store_identity", forget_migrations=True)
    with Store.open(clinic, read_only=True) as store:
        assert store.audit_keys is None  # no identity: no keys to check anything with
        report = store.verify()
    assert not report.ok
    assert sorted(p.table or "" for p in report.of_kind("removed")) == [
        "audit_seals",
        "store_identity",
    ]
    assert "tables made by migration 10 (keyed seals) or later" in report.problems[0].message


def test_nothing_is_recorded_unsealed_once_the_seals_are_gone(clinic: Path) -> None:
    drop_and_forge(clinic, "audit_seals", "store_identity")
    with Store.open(clinic) as store:
        before = store.db.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        with pytest.raises(RuntimeError, match="table of audit seals is missing"):
            store.add_patient(make_patient(hospital="H7654321"), NURSE)
        after = store.db.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    assert after == before


def test_db_verify_fails_when_the_seals_are_dropped(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(clinic), "db", "verify"]) == 0
    capsys.readouterr()
    drop_and_forge(clinic, "audit_seals")
    code = main(["--db", str(clinic), "db", "verify"])
    out = capsys.readouterr()
    assert code == 1
    assert MISSING_SEALS in out.out and "someone removed it" in out.out


def legacy_database(path: Path) -> None:
    """A database as made before seals (migrations 1 to 9), with one entry."""
    legacy = Database(sqlite3.connect(path, isolation_level=None))
    migrate(legacy, tuple(m for m in MIGRATIONS if m.id < audit.SEALS_MIGRATION))
    with transaction(legacy):
        audit.append(legacy, NURSE, "note", payload='{"before":"seals"}')
    legacy.close()


def test_a_database_from_before_seals_is_not_reported(tmp_path: Path) -> None:
    """Only a database sealed once needs the tables: one from before seals, never sealed on
    this computer, is no finding (and its entries are written as before, to be sealed when
    the store migrates it)."""
    path = tmp_path / "old.sqlite"
    legacy_database(path)
    legacy = Database(sqlite3.connect(path))
    assert audit.seal_tables_missing(legacy, None) == []
    legacy.close()


def test_a_file_this_computer_sealed_is_not_taken_for_one_from_before_seals(
    clinic: Path, tmp_path: Path
) -> None:
    """Everything since migration 10 gone, the migration rows too: what this computer noted
    about the file (it sealed a database there) still says seals were made."""
    legacy_database(tmp_path / "old.sqlite")
    (tmp_path / "old.sqlite").replace(clinic)
    legacy = Database(sqlite3.connect(clinic))
    found = audit.seal_tables_missing(legacy, None)
    legacy.close()
    assert [(p.kind, p.table) for p in found] == [
        ("removed", "audit_seals"),
        ("removed", "store_identity"),
    ]
    assert "this computer has sealed this database file before" in found[0].message
