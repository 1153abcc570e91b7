"""A forger with the database file, sqlite3 and this program's source (so the chain's hash
rule), but not the key kept in the user's data folder: every forgery of the independent
trial is found by ``db verify``.

Each case drops the protective triggers, forges, re-hashes the chain as anyone can, fixes
``sqlite_sequence`` where it would give the forgery away, and puts the triggers back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from itbconsole.paths import data_dir
from itbconsole.store import Store
from itbconsole.store.audit import GENESIS_HASH, canonical_json, entry_hash
from itbconsole.store.schema import PROTECTED_TABLES, _no_change_triggers
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_change,
    make_patient,
    make_pump,
    make_reading,
    make_refill,
)


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        p = store.add_patient(make_patient(), NURSE)
        store.register_pump(make_pump(), p.id or 0, NURSE, at=T0)
        store.add_reading(make_reading(), NURSE)
        store.add_refill(make_refill(), NURSE)
        store.add_program_change(make_change(), CLINICIAN)
        store.add_refill(make_refill(), NURSE)
        store.add_program_change(make_change(), CLINICIAN)
        assert store.verify().proven
    return path


@contextmanager
def forger(path: Path, *, restore_triggers: bool = True) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    for table in (*PROTECTED_TABLES, "audit_seals"):
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    try:
        yield conn
    finally:
        if restore_triggers:
            for table in (*PROTECTED_TABLES, "audit_seals"):
                for statement in _no_change_triggers(table):
                    conn.execute(statement)
        conn.close()


def entries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT * FROM audit_log ORDER BY seq")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def rehash(conn: sqlite3.Connection) -> None:
    """Recompute the whole chain the way the program does (anyone can)."""
    prev = GENESIS_HASH
    for entry in entries(conn):
        entry["prev_hash"] = prev
        digest = entry_hash(prev, entry)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?",
            [prev, digest, entry["seq"]],
        )
        prev = digest
    top = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0] or 0
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", [top])


def row_payload(conn: sqlite3.Connection, table: str, record_id: int) -> str:
    cur = conn.execute(f"SELECT * FROM [{table}] WHERE id = ?", [record_id])
    names = [d[0] for d in cur.description]
    return canonical_json(dict(zip(names, cur.fetchone(), strict=True)))


def append_forged(conn: sqlite3.Connection, **fields: Any) -> None:
    last = entries(conn)[-1]
    entry = {**last, "seq": last["seq"] + 1, "payload": "{}", "table_name": None,
             "record_id": None, **fields}  # fmt: skip
    entry["prev_hash"] = last["hash"]
    entry["hash"] = entry_hash(last["hash"], entry)
    cols = [c for c in entry if c != "id"]
    conn.execute(
        f"INSERT INTO audit_log ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [entry[c] for c in cols],
    )
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", [entry["seq"]])


def append_forged_entry(conn: sqlite3.Connection) -> None:
    append_forged(conn, action="pump_clock_set", user_name="Dr Ada Clinician")


def reorder_and_rehash(conn: sqlite3.Connection) -> None:
    a, b = 3, 4
    conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", [a])
    conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", [a, b])
    conn.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", [b])
    rehash(conn)


def edit_refill_volume_and_rehash(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE refills SET withdrawn_ul = withdrawn_ul + 5000 WHERE id = 1")
    conn.execute(
        "UPDATE audit_log SET payload = ? WHERE table_name = 'refills' AND record_id = 1",
        [row_payload(conn, "refills", 1)],
    )
    rehash(conn)


def change_who_sent_a_program(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE program_changes SET created_by = 'Dr Someone Else' WHERE id = 1")
    conn.execute(
        "UPDATE audit_log SET user_name = 'Dr Someone Else', payload = ? "
        "WHERE table_name = 'program_changes' AND record_id = 1",
        [row_payload(conn, "program_changes", 1)],
    )
    rehash(conn)


def remove_the_last_program_change_with_its_tail(conn: sqlite3.Connection) -> None:
    seq = conn.execute(
        "SELECT seq FROM audit_log WHERE table_name = 'program_changes' ORDER BY seq DESC"
    ).fetchone()[0]
    conn.execute("DELETE FROM program_changes WHERE id = (SELECT MAX(id) FROM program_changes)")
    conn.execute("DELETE FROM audit_log WHERE seq >= ?", [seq])
    conn.execute("DELETE FROM audit_seals WHERE seq >= ?", [seq])
    rehash(conn)
    top = conn.execute("SELECT MAX(id) FROM program_changes").fetchone()[0]
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'program_changes'", [top])


def delete_a_refill_and_renumber(conn: sqlite3.Connection) -> None:
    seq = conn.execute(
        "SELECT seq FROM audit_log WHERE table_name = 'refills' AND record_id = 1"
    ).fetchone()[0]
    conn.execute("DELETE FROM refills WHERE id = 1")
    conn.execute("DELETE FROM audit_log WHERE seq = ?", [seq])
    conn.execute("DELETE FROM audit_seals WHERE seq = ?", [seq])
    for later in [r[0] for r in conn.execute(
        "SELECT seq FROM audit_log WHERE seq > ? ORDER BY seq", [seq]
    )]:  # fmt: skip
        conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq = ?", [later])
        conn.execute("UPDATE audit_seals SET seq = seq - 1 WHERE seq = ?", [later])
    rehash(conn)


def add_a_forged_refill(conn: sqlite3.Connection) -> None:
    cur = conn.execute("SELECT * FROM refills WHERE id = 1")
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone(), strict=True))
    row["id"] = 99
    row["lot"] = "FORGED1"
    conn.execute(
        f"INSERT INTO refills ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )
    append_forged(conn, action="create", table_name="refills", record_id=99,
                  payload=row_payload(conn, "refills", 99), user_name="Nia Nurse")  # fmt: skip


def copy_a_seal_onto_a_forged_entry(conn: sqlite3.Connection) -> None:
    append_forged_entry(conn)
    top = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    key_id, mac = conn.execute("SELECT key_id, mac FROM audit_seals WHERE seq = 1").fetchone()
    conn.execute("INSERT INTO audit_seals (seq, key_id, mac) VALUES (?, ?, ?)", [top, key_id, mac])


FORGERIES: dict[str, Callable[[sqlite3.Connection], None]] = {
    "append a forged entry with a correct hash": append_forged_entry,
    "reorder entries and re-hash the chain": reorder_and_rehash,
    "edit a refill volume with its audit payload and re-hash": edit_refill_volume_and_rehash,
    "change who sent a program and re-hash": change_who_sent_a_program,
    "remove the last program change with its tail entries": remove_the_last_program_change_with_its_tail,
    "delete a refill and renumber": delete_a_refill_and_renumber,
    "add a forged refill with a correctly hashed entry": add_a_forged_refill,
    "copy a genuine seal onto a forged entry": copy_a_seal_onto_a_forged_entry,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_every_forgery_without_the_key_is_found(clinic: Path, forgery: str) -> None:
    with forger(clinic) as conn:
        FORGERIES[forgery](conn)
    with Store.open(clinic, read_only=True) as store:
        report = store.verify()
    assert not report.ok, report.summary()
    assert "TAMPERED" in report.summary()


def test_dropping_the_append_only_triggers_is_reported(clinic: Path) -> None:
    with forger(clinic, restore_triggers=False):
        pass
    with Store.open(clinic, read_only=True) as store:
        report = store.verify()
    assert [p.subject for p in report.problems] == ["schema"]
    assert "protective triggers were removed" in report.problems[0].message


def test_the_key_is_not_in_the_database_and_verify_says_which_it_used(clinic: Path) -> None:
    with Store.open(clinic) as store:
        keys = store.audit_keys
        assert keys is not None and keys.current is not None
        key = keys.keys[keys.current]
        report = store.verify()
    assert key not in clinic.read_bytes() and key.hex() not in clinic.read_text("latin-1")
    folder = data_dir() / "audit-keys"
    assert str(folder) in report.summary() and keys.current in report.summary()
    assert report.proven and "intact" in report.summary()


def test_a_copy_without_its_key_is_not_proven_and_says_how_to_fix_it(
    clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened on another computer (another data folder): nothing is called tampered, the
    old seals are reported as unchecked, and new entries are sealed with a new key."""
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path / "elsewhere"))
    with Store.open(clinic) as store:
        store.add_patient(make_patient(family="Smith", hospital="H100002", nhs_number=None), NURSE)
        report = store.verify()
    assert report.ok and not report.proven and report.unverified > 0
    assert "NOT PROVEN" in report.summary() and "import-keys" in report.summary()


def test_an_anchor_from_a_printout_is_checked(clinic: Path) -> None:
    with Store.open(clinic) as store:
        seq_text, digest = store.audit_head().lstrip("#").split()
        good = store.verify((f"{seq_text}:{digest[:8]}",))
        bad = store.verify((f"{seq_text}:{'0' * 8}",))
        gone = store.verify((f"{int(seq_text) + 5}:{digest[:8]}",))
    assert good.proven and good.anchors_checked
    assert not bad.ok and not gone.ok
    with pytest.raises(ValueError, match="not an anchor"):
        Store.open(clinic).verify(("12:xyz",))


def test_a_new_identity_does_not_get_forged_entries_sealed(clinic: Path) -> None:
    """The forger removes a program change with its entries and every seal, and gives the
    file a new identity so this computer has no key for it. The program opens it (as it
    would the next morning): nothing old is sealed, and verify says what happened."""
    with forger(clinic) as conn:
        remove_the_last_program_change_with_its_tail(conn)
        conn.execute("DROP TRIGGER store_identity_no_update")
        conn.execute("DELETE FROM audit_seals")
        conn.execute("UPDATE store_identity SET id = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0'")
        for statement in _no_change_triggers("store_identity"):
            if "no_update" in statement:
                conn.execute(statement)
    with Store.open(clinic) as store:  # the app, writable
        store.add_patient(make_patient(family="Lee", hospital="H100002", nhs_number=None), NURSE)
    with Store.open(clinic, read_only=True) as store:
        report = store.verify()
    assert not report.ok
    messages = " ".join(p.message for p in report.problems)
    assert "identity was changed" in messages and "has no seal" in messages
