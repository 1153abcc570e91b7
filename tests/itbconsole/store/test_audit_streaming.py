"""``db verify`` streams the audit log: the same findings as ever, in the same order, with
memory that does not grow with the log, and progress for the person waiting."""

from __future__ import annotations

import sqlite3
import tracemalloc
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.store import Store, audit
from itbconsole.store.audit import (
    ENTRY_FIELDS,
    _entry_hash_of_row,
    canonical_json,
    entry_hash,
)
from itbconsole.store.audit_keys import seal
from itbconsole.store.db import transaction
from itbconsole.store.schema import PROTECTED_TABLES, _no_change_triggers
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    make_change,
    make_patient,
    make_pump,
    make_refill,
)

TRICKY_TEXT = [
    "",
    "plain",
    'quote " and backslash \\',
    "tab\tnewline\ncontrol\x01\x1f",
    "Zoë Ångström",
    "emoji 💊 and astral 𝄞",
    "\u2028 line separators \u2029",
    '{"k":1,"nested":["a",null]}',
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_the_direct_hash_is_the_canonical_hash(text: str) -> None:
    for table, record_id in ((None, None), ("refills", 0), (text or "t", 2**62)):
        row = (2**40, text, text, "nurse", text, table, record_id, text, "ab" * 32)
        entry = dict(zip(ENTRY_FIELDS, row[:8], strict=True))
        assert _entry_hash_of_row(row) == entry_hash(row[8], entry)


def test_a_forged_column_type_takes_the_general_way() -> None:
    for row in (
        (7, "2026-03-02T09:30:00Z", "Nia", "nurse", "x", "refills", 1.5, "{}", "0" * 64),
        (7, 20260302, "Nia", "nurse", "x", "refills", 1, "{}", "0" * 64),
        (7, "2026-03-02T09:30:00Z", "Nia", "nurse", "x", 12, None, "{}", "0" * 64),
    ):
        entry = dict(zip(ENTRY_FIELDS, row[:8], strict=True))
        assert _entry_hash_of_row(row) == entry_hash("0" * 64, entry)


def test_a_seal_is_checked_as_the_keys_make_it(clinic: Path) -> None:
    """The verifier keys each HMAC once and copies it per entry: the same seal as
    :func:`itbconsole.store.audit_keys.seal`, which wrote it."""
    with Store.open(clinic) as store:
        keys = store.audit_keys
        assert keys is not None
        report = audit.AuditReport()
        check = audit._SealCheck(store.db, keys, report)
        for name, key in keys.keys.items():
            for digest in ("0" * 64, "ab" * 32):
                copy = check.known[name].copy()
                copy.update(digest.encode("ascii"))
                assert copy.hexdigest() == seal(key, digest)


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        for n in range(3):
            p = store.add_patient(
                make_patient(family=f"F{n}", hospital=f"H10000{n}", nhs_number=None), NURSE
            )
            store.register_pump(make_pump(f"NGP00000{n}"), p.id or 0, NURSE)
            store.add_refill(make_refill(serial=f"NGP00000{n}"), NURSE)
            store.add_program_change(make_change(serial=f"NGP00000{n}"), CLINICIAN)
        assert store.verify().ok
    return path


def _tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for table in PROTECTED_TABLES:
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    for statement in statements:
        conn.execute(statement)
    for table in PROTECTED_TABLES:
        for statement in _no_change_triggers(table):
            conn.execute(statement)
    conn.close()


def test_many_tamperings_at_once_are_listed_in_the_usual_order(clinic: Path) -> None:
    """Second entries (seq order), then each table's rows (table order, id order), then
    rows recorded but gone (by table and id): as the report has always listed them."""
    with Store.open(clinic) as store:
        entries = list(store.audit_entries())
    refill_1 = next(e for e in entries if e["table_name"] == "refills" and e["record_id"] == 1)
    patient_2 = next(e for e in entries if e["table_name"] == "patients" and e["record_id"] == 2)
    _tamper(
        clinic,
        "DELETE FROM refills WHERE id = 3",
        "DELETE FROM patients WHERE id = 3",
        "UPDATE refills SET lot = 'FORGED' WHERE id = 2",
        "UPDATE patients SET created_by = 'Eve' WHERE id = 1",
        # the same rows recorded again, by entries re-pointed at them
        f"UPDATE audit_log SET table_name = 'refills', record_id = 1 WHERE seq = {patient_2['seq']}",
        f"UPDATE audit_log SET record_id = 2 WHERE seq = {refill_1['seq']}",
    )
    with Store.open(clinic) as store:
        report = store.verify()
    found = [(p.kind, p.subject, p.table, p.record_id) for p in report.problems]
    assert found == [
        ("edited", "audit entry", None, None),  # the two re-pointed entries, by the chain
        ("edited", "audit entry", None, None),
        ("inserted", "audit entry", "refills", 2),  # refill 1's entry named refill 2 first
        ("edited", "record", "patients", 1),
        ("inserted", "record", "patients", 2),  # its entry now names refill 1
        ("edited", "record", "refills", 1),
        ("edited", "record", "refills", 2),
        ("deleted", "record", "patients", 3),
        ("deleted", "record", "refills", 3),
    ]


@pytest.mark.parametrize(
    ("stored", "now", "edited"),
    [
        (0.1, 0.1, False),
        (0.1, 0.10000000000000002, True),  # SQLite writes both as 0.1: still found
        (b"\x00\x01", b"\x00\x01", None),  # a blob: canonical JSON cannot hold it
        ("tab\there", "tab\there", False),
        ("tab\there", "tab\u2028here", True),
    ],
)
def test_a_row_is_compared_exactly_whatever_it_holds(
    clinic: Path, stored: object, now: object, edited: bool | None
) -> None:
    """A row whose entry recorded a value SQLite's JSON writes inexactly (a real) is
    compared as canonical JSON writes it, so the smallest edit is found."""
    conn = sqlite3.connect(clinic, isolation_level=None)
    names = [d[0] for d in conn.execute("SELECT * FROM refills").description]
    first = conn.execute("SELECT * FROM refills WHERE id = 1").fetchone()
    row = dict(zip(names, first, strict=True))
    payload = "{}" if isinstance(stored, bytes) else canonical_json({**row, "withdrawn_ul": stored})
    for table in ("refills", "audit_log"):
        conn.execute(f"DROP TRIGGER {table}_no_update")
    conn.execute("UPDATE refills SET withdrawn_ul = ? WHERE id = 1", [now])
    conn.execute(
        "UPDATE audit_log SET payload = ? WHERE table_name = 'refills' AND record_id = 1",
        [payload],
    )
    for table in ("refills", "audit_log"):
        conn.execute(_no_change_triggers(table)[0])
    conn.close()
    with Store.open(clinic) as store:
        if edited is None:
            with pytest.raises(TypeError):
                store.verify()  # as before: a blob was never a value the records hold
            return
        report = store.verify()
    found = [(p.kind, p.table, p.record_id) for p in report.problems if p.subject == "record"]
    assert found == ([("edited", "refills", 1)] if edited else [])


def test_progress_reaches_the_end_of_each_pass(clinic: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    with Store.open(clinic) as store:
        report = audit.verify_audit(store.db, store.audit_keys, progress=lambda *a: seen.append(a))
    assert report.proven
    assert ("audit entries", report.entries_checked, report.entries_checked) in seen
    assert ("records", report.records_checked, report.records_checked) in seen


def test_db_verify_shows_progress_on_stderr_only(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(clinic), "db", "verify"]) == 0
    out = capsys.readouterr()
    assert "Checking audit entries: 100%" in out.err and "Checking records: 100%" in out.err
    assert "Checking" not in out.out and "The audit trail is intact" in out.out


def _peak_of_verify(path: Path, entries: int, payload: str) -> int:
    with Store.open(path) as store:
        with transaction(store.db):
            for _ in range(entries):
                audit.append(store.db, NURSE, "note", payload=payload)
        tracemalloc.start()
        try:
            report = store.verify()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.proven
    return peak


def test_verify_memory_does_not_grow_with_the_log(tmp_path: Path) -> None:
    """Logs of 200 and 600 entries of 50 kB (10 and 30 MB): the same few MB to check
    either (before it streamed, verify held every entry at once)."""
    payload = '"' + "x" * 50_000 + '"'
    small = _peak_of_verify(tmp_path / "small.sqlite", 200, payload)
    large = _peak_of_verify(tmp_path / "large.sqlite", 600, payload)
    assert large < 8_000_000, large
    assert large < small * 1.5, (small, large)
