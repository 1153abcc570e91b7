"""Migrations, connection settings and the append-only triggers."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from itbconsole.store import Store, StoreError, connect, migrate, schema_version
from itbconsole.store.schema import MIGRATIONS, PROTECTED_TABLES, Migration
from tests.itbconsole.store.storefixtures import (
    NURSE,
    T0,
    make_patient,
    make_pump,
    make_reading,
    make_refill,
)


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    db = connect(path)
    recorded = [(r["id"], r["name"]) for r in db.query("SELECT id, name FROM migrations")]
    assert recorded == [(m.id, m.name) for m in MIGRATIONS]
    assert migrate(db) == []  # second run applies nothing
    db.close()
    db = connect(path)  # reopening applies nothing either
    assert db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    assert schema_version(db) == MIGRATIONS[-1].id


def test_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    db = connect(tmp_path / "clinic.sqlite")
    bad = Migration(99, "half a migration", ("CREATE TABLE extra (id INTEGER)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, (*MIGRATIONS, bad))
    assert "extra" not in db.table_names()
    assert schema_version(db) == MIGRATIONS[-1].id


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    db = connect(path)
    db.execute("INSERT INTO migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        connect(path)


def test_connection_settings(tmp_path: Path) -> None:
    db = connect(tmp_path / "clinic.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_every_protected_table_has_its_triggers(store: Store) -> None:
    triggers = {t.name for t in store.db.triggers}
    for table in PROTECTED_TABLES:
        assert {f"{table}_no_update", f"{table}_no_delete"} <= triggers


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE refills SET added_ul = 1",
        "DELETE FROM refills",
        "UPDATE audit_log SET payload = '{}'",
        "DELETE FROM audit_log",
        "UPDATE patient_versions SET family_name = 'X'",
        "DELETE FROM pump_registrations",
    ],
)
def test_triggers_block_update_and_delete(store: Store, patient: object, sql: str) -> None:
    store.add_refill(make_refill(), NURSE)
    before = store.counts()
    with pytest.raises(sqlite3.IntegrityError, match=r"never changed|append-only"):
        store.db.execute(sql)
    assert store.counts() == before
    assert store.verify().ok


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.db.execute(
            "INSERT INTO pump_events (pump_serial, event_index, patient_id, at, kind,"
            " detail_json, created_at, created_by, created_role)"
            " VALUES ('nope', 1, 1, 'x', 'k', '{}', 'x', 'n', 'nurse')"
        )


def test_current_state_backfill_matches_the_triggers(tmp_path: Path) -> None:
    """Migration 2 on a database that already holds records builds the same current-state
    tables that its triggers keep afterwards."""
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        p = store.add_patient(make_patient(), NURSE)
        store.correct_patient(replace(p, given_name="Anne"), NURSE, "spelling")
        store.register_pump(make_pump(), p.id or 0, NURSE, at=T0)
        store.add_reading(make_reading(), NURSE)
        bad = store.add_reading(make_reading(at=T0 + timedelta(days=1), reservoir_ul=5), NURSE)
        store.mark_entered_in_error("readings", bad.id or 0, NURSE, "wrong pump")
        expected = store.patients_overview(T0.date())
        tables = ("current_patient", "current_pump", "pump_owner", "latest_reading")
        before = {t: store.db.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
        conn = store.db.conn
        conn.execute("BEGIN")
        for t in tables:
            conn.execute(f"DROP TABLE {t}")
        for trigger in (
            "patient_versions_current",
            "pump_versions_current",
            "pump_registrations_owner",
            "readings_latest",
        ):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DELETE FROM migrations WHERE id = 2")
        conn.execute("COMMIT")
    with Store.open(path) as store:
        assert {t: store.db.execute(f"SELECT * FROM {t}").fetchall() for t in tables} == before
        assert store.patients_overview(T0.date()) == expected
        assert expected[0].patient.given_name == "Anne" and expected[0].reservoir_ul == 40_000
