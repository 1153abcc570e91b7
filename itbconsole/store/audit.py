"""Append-only, hash-chained audit log, and its verification.

Why a hash chain: triggers stop the application (and careless tools) from changing records,
but anyone with the database file can drop a trigger. Each entry's hash covers its own
content and the previous entry's hash, so editing, inserting or deleting an entry breaks the
chain at that point, and ``itbconsole db verify`` says where. Each clinical row is also
compared with the payload its audit entry recorded, so a record changed behind the
application's back is found even when the log itself is untouched.

Entry hash = sha256(prev_hash + canonical JSON of {seq, at, user, role, action, table,
record_id, payload}); the first entry's prev_hash is 64 zeros.

A plain hash chain can be recomputed by anyone who edits the file, so every entry is also
**sealed**: ``audit_seals`` holds HMAC-SHA-256(key, entry hash) and the id of the key, a key
kept outside the database (:mod:`itbconsole.store.audit_keys`). :func:`verify_audit` checks
the chain, every seal it has the key for, that the newest entry this computer sealed is
still there (and any anchor given, e.g. from a printout), and that every append-only
trigger is still in place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlite_utils import Database

from itbconsole.model import User
from itbconsole.store.audit_keys import AuditKeys, seal
from itbconsole.store.db import utc_iso, utc_now
from itbconsole.store.schema import (
    CLINICAL_TABLES,
    CURRENT_STATE_QUERIES,
    MIGRATIONS,
    expected_triggers,
)

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

ProblemKind = Literal["edited", "inserted", "deleted"]


def canonical_json(value: Any) -> str:
    """One exact text for a JSON value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """sha256 of the previous hash followed by the entry's canonical JSON."""
    fields = {k: entry[k] for k in ENTRY_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


ENTRY_FIELDS = (
    "seq",
    "at",
    "user_name",
    "user_role",
    "action",
    "table_name",
    "record_id",
    "payload",
)


def row_payload(db: Database, table: str, record_id: int) -> str:
    """The canonical JSON of one stored row, read back exactly as SQLite holds it."""
    cursor = db.conn.execute(f"SELECT * FROM [{table}] WHERE id = ?", [record_id])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"{table} {record_id} does not exist")
    return canonical_json(dict(zip(names, row, strict=True)))


def append(
    db: Database,
    user: User,
    action: str,
    *,
    table: str | None = None,
    record_id: int | None = None,
    payload: str | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its seq.

    For a clinical row, pass ``table`` and ``record_id``; the payload is then the row as
    stored. For an action without a row (a pump clock set, for example) pass ``payload``.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("audit entries are written inside the record's transaction")
    if table is not None and record_id is not None:
        payload = row_payload(db, table, record_id)
    head = db.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev_seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    entry: dict[str, Any] = {
        "seq": prev_seq + 1,
        "at": utc_iso(utc_now()),
        "user_name": user.name,
        "user_role": user.role.value,
        "action": action,
        "table_name": table,
        "record_id": record_id,
        "payload": payload if payload is not None else canonical_json({}),
    }
    entry["prev_hash"] = prev_hash
    entry["hash"] = entry_hash(prev_hash, entry)
    db.conn.execute(
        "INSERT INTO audit_log (seq, at, user_name, user_role, action, table_name, record_id,"
        " payload, prev_hash, hash) VALUES (:seq, :at, :user_name, :user_role, :action,"
        " :table_name, :record_id, :payload, :prev_hash, :hash)",
        entry,
    )
    seal_entry(db, int(entry["seq"]), str(entry["hash"]))
    return int(entry["seq"])


def keys_of(db: Database) -> AuditKeys | None:
    """The audit keys the store attached to this connection (None: opened without)."""
    keys = getattr(db, "audit_keys", None)
    return keys if isinstance(keys, AuditKeys) else None


def seal_entry(db: Database, seq: int, digest: str) -> None:
    """Seal one entry inside the caller's transaction; the head is recorded after commit
    (:func:`itbconsole.store.db.transaction` calls ``db.after_commit``)."""
    keys = keys_of(db)
    if keys is None:
        if "audit_seals" not in db.table_names():
            return  # a database from before seals (it is sealed when opened by the store)
        raise RuntimeError("audit entries are sealed: open the store with its audit keys")
    name, mac = keys.seal_with_current(digest)
    db.conn.execute("INSERT INTO audit_seals (seq, key_id, mac) VALUES (?, ?, ?)", [seq, name, mac])
    db.audit_pending_head = (seq, digest)  # type: ignore[attr-defined]


def record_sealed_head(db: Database) -> None:
    """Called after a commit: note the newest entry sealed, outside the database."""
    pending = getattr(db, "audit_pending_head", None)
    keys = keys_of(db)
    db.audit_pending_head = None  # type: ignore[attr-defined]
    if pending is not None and keys is not None:
        seq, digest = pending
        try:
            keys.record_head(seq, digest, getattr(db, "audit_path", None))
        except OSError:
            # The record is committed; a head not noted only makes the anchor older.
            log.warning("audit head #%d not noted beside the keys", seq, exc_info=True)


def seal_backlog(db: Database) -> int:
    """Seal every entry of a database that has none sealed yet (a new database, or one
    made before entries were sealed). Never used when any seal exists: an unsealed entry
    among sealed ones is a forgery, not a backlog. Returns the entries sealed."""
    if db.conn.execute("SELECT 1 FROM audit_seals LIMIT 1").fetchone() is not None:
        return 0
    rows = db.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq").fetchall()
    for seq, digest in rows:
        seal_entry(db, int(seq), str(digest))
    return len(rows)


def head(db: Database) -> tuple[int, str] | None:
    """(seq, hash) of the newest audit entry: the short form printed on records."""
    row = db.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def head_text(db: Database) -> str:
    """``#1234 3f2a9c1d0b7e`` (the anchor form ``db verify --anchor`` accepts as 1234:3f2a9c1d0b7e)."""
    found = head(db)
    return "no entries" if found is None else f"#{found[0]} {found[1][:12]}"


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class AuditProblem:
    """One finding. ``kind`` is what happened; ``subject`` is an audit entry, a record, or
    the schema (an append-only trigger)."""

    kind: ProblemKind
    subject: Literal["audit entry", "record", "schema"]
    message: str
    seq: int | None = None
    table: str | None = None
    record_id: int | None = None


@dataclass
class AuditReport:
    entries_checked: int = 0
    records_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[AuditProblem] = field(default_factory=list)
    #: Seals checked with a key on this computer, by key id.
    seals_checked: dict[str, int] = field(default_factory=dict)
    #: Entries sealed with a key that is not on this computer (they cannot be checked here).
    unverified: int = 0
    keys_where: str = ""
    anchors_checked: list[str] = field(default_factory=list)
    #: Entries sealed together when the database was first opened on this computer.
    backlog: str = ""

    @property
    def ok(self) -> bool:
        """Nothing found wrong."""
        return not self.problems

    @property
    def proven(self) -> bool:
        """Nothing found wrong and every entry's seal checked."""
        return self.ok and self.unverified == 0

    def of_kind(self, kind: ProblemKind) -> list[AuditProblem]:
        return [p for p in self.problems if p.kind == kind]

    def summary(self) -> str:
        """Plain words for the person running ``itbconsole db verify``."""
        lines = [
            f"Checked {self.entries_checked} audit entries and {self.records_checked} records.",
            f"Last entry: #{self.head_seq}, hash {self.head_hash}",
        ]
        if self.seals_checked:
            used = ", ".join(f"{k} ({n} entries)" for k, n in sorted(self.seals_checked.items()))
            lines.append(f"Seals checked with key {used}, from {self.keys_where}.")
        if self.backlog:
            lines.append(self.backlog)
        lines += [f"Anchor {a}: found in the chain." for a in self.anchors_checked]
        if self.ok and self.unverified:
            lines.append(
                f"NOT PROVEN: {self.unverified} entries are sealed with a key that is not on "
                f"this computer ({self.keys_where}), so they could not be checked. Copy the "
                "key file kept with the backups into that folder (itbconsole db import-keys), "
                "then verify again."
            )
            return "\n".join(lines)
        if self.ok:
            lines.append(
                "The audit trail is intact: no entry or record was edited, inserted or deleted."
            )
            return "\n".join(lines)
        counts = {k: len(self.of_kind(k)) for k in ("edited", "inserted", "deleted")}
        lines.append(
            "THE AUDIT TRAIL HAS BEEN TAMPERED WITH: "
            + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            + "."
        )
        lines += [f"  - {p.message}" for p in self.problems]
        lines.append(
            "Keep this database as it is (do not use it for care) and report it to the "
            "system administrator; restore the last good backup to continue."
        )
        return "\n".join(lines)


def verify_audit(
    db: Database, keys: AuditKeys | None = None, anchors: tuple[str, ...] = ()
) -> AuditReport:
    """Walk the chain, check the seals (with ``keys``: this database's keys on this
    computer), the newest head this computer sealed and any ``anchors`` ("SEQ:HASH" with at
    least 8 hex digits, e.g. from a printout), the append-only triggers, then cross-check
    every clinical row against its audit entry."""
    report = AuditReport()
    cursor = db.conn.execute(
        "SELECT seq, at, user_name, user_role, action, table_name, record_id, payload,"
        " prev_hash, hash FROM audit_log ORDER BY seq"
    )
    names = [d[0] for d in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor]
    report.entries_checked = len(entries)
    problems = report.problems
    _check_chain(entries, problems)
    if entries:
        report.head_seq, report.head_hash = int(entries[-1]["seq"]), str(entries[-1]["hash"])
    issued = db.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if issued is not None and int(issued[0]) > report.head_seq:
        problems.append(
            AuditProblem(
                "deleted",
                "audit entry",
                f"Audit entries #{report.head_seq + 1} to #{issued[0]} were issued but are "
                "missing from the end of the log.",
                seq=report.head_seq + 1,
            )
        )
    report.records_checked = _cross_check(db, entries, problems)
    _check_current_state(db, problems)
    _check_triggers(db, problems)
    if "audit_seals" in db.table_names():
        _check_seals(db, entries, keys, report)
    for anchor in anchors:
        _check_anchor(entries, anchor, "the anchor given", report)
    return report


def _check_triggers(db: Database, problems: list[AuditProblem]) -> None:
    """Every append-only trigger the migrations made must still be there."""
    present = {
        str(r[0]) for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    applied = (
        {int(r[0]) for r in db.conn.execute("SELECT id FROM migrations").fetchall()}
        if "migrations" in db.table_names()
        else set()
    )
    wanted = expected_triggers(tuple(m for m in MIGRATIONS if m.id in applied))
    missing = sorted(wanted - present)
    if missing:
        problems.append(
            AuditProblem(
                "edited",
                "schema",
                f"{len(missing)} of the database's protective triggers were removed "
                f"({', '.join(missing[:6])}{'...' if len(missing) > 6 else ''}): records could "
                "have been changed or deleted behind the program.",
            )
        )


def _check_seals(
    db: Database, entries: list[dict[str, Any]], keys: AuditKeys | None, report: AuditReport
) -> None:
    """Every entry needs a seal; each seal made with a key on this computer must match."""
    seals = {
        int(seq): (str(name), str(mac))
        for seq, name, mac in db.conn.execute("SELECT seq, key_id, mac FROM audit_seals")
    }
    known = keys.keys if keys is not None else {}
    report.keys_where = keys.where if keys is not None else "no keys given"
    problems = report.problems
    if keys is not None and keys.identity_changed_from is not None:
        problems.append(
            AuditProblem(
                "edited",
                "schema",
                f"This database file's identity was changed: this computer sealed the file at "
                f"{keys.database} as database {keys.identity_changed_from}, and it now says "
                f"{keys.store_id}. Changing it is how a forger gets fresh keys to seal forged "
                "entries with; if a different database was put here on purpose, confirm it "
                "with 'itbconsole db import-keys' and its backup's key file.",
            )
        )
    for entry in entries:
        seq = int(entry["seq"])
        found = seals.pop(seq, None)
        if found is None:
            problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{seq} has no seal: it was written outside ITB Console.",
                    seq=seq,
                )
            )
            continue
        name, mac = found
        key = known.get(name)
        if key is None:
            report.unverified += 1
            continue
        if not hmac.compare_digest(seal(key, str(entry["hash"])), mac):
            problems.append(
                AuditProblem(
                    "edited",
                    "audit entry",
                    f"Audit entry #{seq}'s seal does not match: the entry was changed or the "
                    "chain recomputed outside ITB Console.",
                    seq=seq,
                )
            )
            continue
        report.seals_checked[name] = report.seals_checked.get(name, 0) + 1
    for seq in sorted(seals):
        problems.append(
            AuditProblem(
                "deleted",
                "audit entry",
                f"Audit entry #{seq} was deleted: its seal is still there.",
                seq=seq,
            )
        )
    if keys is not None:
        noted = keys.backlog()
        if noted is not None:
            report.backlog = (
                f"Entries #1 to #{noted[0]} were sealed together when this computer first "
                f"opened the database ({noted[1]}): before then they rest on the chain alone."
            )
        recorded = keys.head(getattr(db, "audit_path", None))
        if recorded is not None:
            _check_anchor(
                entries,
                f"{recorded[0]}:{recorded[1]}",
                "the newest entry this computer sealed",
                report,
                listed=False,
            )


def parse_anchor(text: str) -> tuple[int, str]:
    """An audit head taken earlier, as printed on records (``#1234 3f2a9c1d``) or typed
    (``1234:3f2a9c1d``): (seq, hash prefix of 8 to 64 hex digits). Raises ValueError."""
    seq_text, _, prefix = text.strip().lstrip("#").replace(" ", ":").partition(":")
    prefix = prefix.strip().lower()
    if (
        len(text) > 200
        or not (seq_text.isascii() and seq_text.isdigit())
        or not 8 <= len(prefix) <= 64
        or any(c not in "0123456789abcdef" for c in prefix)
    ):
        raise ValueError(
            f"'{text[:80]}' is not an anchor: write SEQ:HASH with at least 8 hex digits, "
            "e.g. 1234:3f2a9c1d (as printed on records)."
        )
    return int(seq_text), prefix


def _check_anchor(
    entries: list[dict[str, Any]],
    anchor: str,
    what: str,
    report: AuditReport,
    *,
    listed: bool = True,
) -> None:
    """The entry ``anchor`` names ("SEQ:HASH-PREFIX") must be in the chain, unchanged."""
    seq, prefix = parse_anchor(anchor)
    entry = next((e for e in entries if int(e["seq"]) == seq), None)
    if entry is None:
        report.problems.append(
            AuditProblem(
                "deleted",
                "audit entry",
                f"Audit entry #{seq} ({what}) is missing: entries up to it were removed.",
                seq=seq,
            )
        )
    elif not str(entry["hash"]).startswith(prefix):
        report.problems.append(
            AuditProblem(
                "edited",
                "audit entry",
                f"Audit entry #{seq} is not the one {what} names: the chain was rewritten.",
                seq=seq,
            )
        )
    elif listed:
        report.anchors_checked.append(f"#{seq} {prefix}")


def _check_current_state(db: Database, problems: list[AuditProblem]) -> None:
    """The patient list reads derived tables; they must equal what the records say."""
    for table, select in CURRENT_STATE_QUERIES.items():
        stored = set(db.conn.execute(f"SELECT * FROM {table}").fetchall())
        expected = set(db.conn.execute(select).fetchall())
        if stored != expected:
            problems.append(
                AuditProblem(
                    "edited",
                    "record",
                    f"The derived table {table} no longer matches the records "
                    f"({len(stored - expected)} rows differ): the patient list may show wrong "
                    "figures.",
                    table=table,
                )
            )


def _check_chain(entries: list[dict[str, Any]], problems: list[AuditProblem]) -> None:
    """Each entry must hash to its stored hash and link to the entry before it.

    A broken link is read as: the previous entry was inserted (this entry links to the one
    before it), entries were deleted (a gap in the numbering, or nothing else explains it),
    or, for the last entry, this entry was appended without linking to the chain.
    """
    for i, entry in enumerate(entries):
        seq = int(entry["seq"])
        if entry_hash(str(entry["prev_hash"]), entry) != entry["hash"]:
            problems.append(
                AuditProblem(
                    "edited",
                    "audit entry",
                    f"Audit entry #{seq} was edited: its contents no longer match its hash.",
                    seq=seq,
                )
            )
        expected = entries[i - 1]["hash"] if i else GENESIS_HASH
        if entry["prev_hash"] == expected:
            continue
        prev_seq = int(entries[i - 1]["seq"]) if i else 0
        before_prev = entries[i - 2]["hash"] if i >= 2 else GENESIS_HASH
        if i and entry["prev_hash"] == before_prev:
            problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{prev_seq} was inserted: the chain runs around it.",
                    seq=prev_seq,
                )
            )
        elif seq > prev_seq + 1:
            problems.append(
                AuditProblem(
                    "deleted",
                    "audit entry",
                    f"Audit entries between #{prev_seq} and #{seq} were deleted "
                    f"({seq - prev_seq - 1} missing).",
                    seq=prev_seq + 1,
                )
            )
        elif i == len(entries) - 1:
            problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{seq} was inserted: it does not link to entry #{prev_seq}.",
                    seq=seq,
                )
            )
        else:
            problems.append(
                AuditProblem(
                    "deleted",
                    "audit entry",
                    f"The chain is broken before entry #{seq}: an earlier entry was deleted or "
                    "replaced.",
                    seq=seq,
                )
            )


def _cross_check(db: Database, entries: list[dict[str, Any]], problems: list[AuditProblem]) -> int:
    """Each clinical row needs exactly the audit entry that recorded it, with equal content."""
    recorded: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in entries:
        if entry["table_name"] is None or entry["record_id"] is None:
            continue
        key = (str(entry["table_name"]), int(entry["record_id"]))
        if key in recorded:
            problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{entry['seq']} records {key[0]} {key[1]} a second time.",
                    seq=int(entry["seq"]),
                    table=key[0],
                    record_id=key[1],
                )
            )
            continue
        recorded[key] = entry
    checked = 0
    for table in CLINICAL_TABLES:
        cursor = db.conn.execute(f"SELECT * FROM [{table}] ORDER BY id")
        names = [d[0] for d in cursor.description]
        for row in cursor:
            checked += 1
            data = dict(zip(names, row, strict=True))
            found = recorded.pop((table, int(data["id"])), None)
            if found is None:
                problems.append(
                    AuditProblem(
                        "inserted",
                        "record",
                        f"{table} {data['id']} has no audit entry: it was added outside ITB "
                        "Console (or its audit entry was deleted).",
                        table=table,
                        record_id=int(data["id"]),
                    )
                )
            elif canonical_json(data) != found["payload"]:
                problems.append(
                    AuditProblem(
                        "edited",
                        "record",
                        f"{table} {data['id']} was edited in place: it differs from what audit "
                        f"entry #{found['seq']} recorded.",
                        seq=int(found["seq"]),
                        table=table,
                        record_id=int(data["id"]),
                    )
                )
    for (table, record_id), entry in sorted(recorded.items()):
        problems.append(
            AuditProblem(
                "deleted",
                "record",
                f"{table} {record_id} was deleted: audit entry #{entry['seq']} recorded it.",
                seq=int(entry["seq"]),
                table=table,
                record_id=record_id,
            )
        )
    return checked
