"""Audit chain: every write is audited in its transaction, and tampering is found.

Each tampering test first drops the protective triggers through a raw sqlite3 connection
(as someone with the file could), changes the database, then runs verification.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from itbconsole.store import AuditReport, Store
from itbconsole.store.audit import GENESIS_HASH, entry_hash
from itbconsole.store.schema import CLINICAL_TABLES, PROTECTED_TABLES, _no_change_triggers
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_change,
    make_events,
    make_patient,
    make_pump,
    make_reading,
    make_refill,
)


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    """A small file database with one of every record; returns its path."""
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        p = store.add_patient(make_patient(), NURSE)
        store.register_pump(make_pump(), p.id or 0, NURSE, at=T0)
        store.add_reading(make_reading(), NURSE)
        store.add_refill(make_refill(), NURSE)
        store.add_refill(make_refill(status="pending"), NURSE)
        store.add_program_change(make_change(), CLINICIAN)
        store.add_events(make_events(n=3), NURSE)
        assert store.verify().ok
    return path


@contextmanager
def tamper(path: Path) -> Iterator[sqlite3.Connection]:
    """Someone with the file and sqlite3: drops the protective triggers, edits, and puts
    the triggers back (so only the edit itself is left to find)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for table in PROTECTED_TABLES:
        conn.execute(f"DROP TRIGGER {table}_no_update")
        conn.execute(f"DROP TRIGGER {table}_no_delete")
    try:
        yield conn
    finally:
        for table in PROTECTED_TABLES:
            for statement in _no_change_triggers(table):
                conn.execute(statement)
        conn.close()


def verify(path: Path) -> AuditReport:
    with Store.open(path) as store:
        return store.verify()


def test_every_clinical_row_has_its_audit_entry(clinic: Path) -> None:
    with Store.open(clinic) as store:
        counts = store.counts()
        entries = list(store.audit_entries())
    assert counts["audit_log"] == sum(counts[t] for t in CLINICAL_TABLES)
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for prev, entry in itertools.pairwise(entries):
        assert entry["prev_hash"] == prev["hash"]
        assert entry["hash"] == entry_hash(prev["hash"], entry)
        assert entry["seq"] == prev["seq"] + 1


def test_failed_write_leaves_no_audit_entry(clinic: Path) -> None:
    with Store.open(clinic) as store:
        before = store.counts()
        with pytest.raises(sqlite3.IntegrityError):  # CHECK: negative volume
            store.add_reading(make_reading(reservoir_ul=-1), NURSE)
        assert store.counts() == before


def test_verify_detects_an_edited_audit_entry(clinic: Path) -> None:
    with tamper(clinic) as conn:
        conn.execute("UPDATE audit_log SET user_name = 'Someone Else' WHERE seq = 5")
    report = verify(clinic)
    assert not report.ok
    assert [(p.subject, p.seq) for p in report.of_kind("edited")] == [("audit entry", 5)]
    assert "edited" in report.summary() and "TAMPERED" in report.summary()


def test_verify_detects_an_edited_record(clinic: Path) -> None:
    with tamper(clinic) as conn:
        conn.execute("UPDATE refills SET added_ul = 20000 WHERE id = 1")
    report = verify(clinic)
    assert [(p.subject, p.table, p.record_id) for p in report.problems] == [
        ("record", "refills", 1)
    ]
    assert report.problems[0].kind == "edited"


def test_verify_detects_a_deleted_audit_entry(clinic: Path) -> None:
    with tamper(clinic) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 6")
    report = verify(clinic)
    deleted = [p for p in report.of_kind("deleted") if p.subject == "audit entry"]
    assert {p.seq for p in deleted} == {6}  # the chain's gap, and the seal left without its entry
    assert all("deleted" in p.message for p in deleted)


def test_verify_detects_entries_deleted_from_the_end(clinic: Path) -> None:
    with tamper(clinic) as conn:
        last = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE seq >= ?", [last - 1])
        conn.execute("DELETE FROM pump_events WHERE event_index >= 1")  # their records too
    report = verify(clinic)
    # the chain's numbering, the seals left behind, and the head this computer sealed
    assert min(p.seq or 0 for p in report.of_kind("deleted")) == last - 1
    assert {p.seq for p in report.of_kind("deleted")} <= {last - 1, last}


def test_verify_detects_a_deleted_record(clinic: Path) -> None:
    with tamper(clinic) as conn:
        conn.execute("DELETE FROM refills WHERE id = 2")
    report = verify(clinic)
    assert [(p.kind, p.table, p.record_id) for p in report.problems] == [("deleted", "refills", 2)]


def test_verify_detects_an_inserted_audit_entry(clinic: Path) -> None:
    """A forged entry slipped into the chain after entry 3 (later entries renumbered)."""
    with tamper(clinic) as conn:
        rows = conn.execute("SELECT * FROM audit_log WHERE seq = 3").fetchone()
        names = [d[0] for d in conn.execute("SELECT * FROM audit_log").description]
        third = dict(zip(names, rows, strict=True))
        for seq in [
            r[0] for r in conn.execute("SELECT seq FROM audit_log WHERE seq > 3 ORDER BY seq DESC")
        ]:
            conn.execute("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", [seq])
        forged = {
            **third,
            "seq": 4,
            "action": "pump_clock_set",
            "table_name": None,
            "record_id": None,
            "payload": "{}",
            "prev_hash": third["hash"],
        }
        forged["hash"] = entry_hash(third["hash"], forged)
        conn.execute(
            f"INSERT INTO audit_log ({', '.join(forged)}) VALUES ({', '.join('?' * len(forged))})",
            list(forged.values()),
        )
    report = verify(clinic)
    inserted = [(p.subject, p.seq) for p in report.of_kind("inserted")]
    assert inserted[0] == ("audit entry", 4)  # found by the chain
    assert ("audit entry", max(s for _, s in inserted)) in inserted  # and by the seals


def test_verify_detects_an_inserted_record(clinic: Path) -> None:
    with tamper(clinic) as conn:
        conn.execute(
            "INSERT INTO refills (pump_serial, patient_id, at, withdrawn_ul,"
            " expected_residual_ul, added_ul, product, concentration_mcg_ml, lot, expiry,"
            " status, created_at, created_by, created_role) SELECT pump_serial, patient_id,"
            " at, withdrawn_ul, expected_residual_ul, added_ul, product, concentration_mcg_ml,"
            " lot, expiry, status, created_at, created_by, created_role FROM refills"
            " WHERE id = 1"
        )
    report = verify(clinic)
    assert [(p.kind, p.subject, p.table) for p in report.problems] == [
        ("inserted", "record", "refills")
    ]


def test_verify_detects_an_edited_current_state_table(clinic: Path) -> None:
    """The patient list reads derived tables that triggers do not protect; a change there
    would show a wrong reservoir volume, so verification compares them with the records."""
    with tamper(clinic) as conn:
        conn.execute("UPDATE latest_reading SET reservoir_ul = 39000")
    report = verify(clinic)
    assert [(p.kind, p.table) for p in report.problems] == [("edited", "latest_reading")]
