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
trigger is still in place. A database sealed once must keep its seal tables: dropping them
would otherwise switch the seal checks off (:func:`seal_tables_missing`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from itbconsole.model import User
from itbconsole.store.audit_keys import AuditKeys, identity_recorded_for, keys_root
from itbconsole.store.db import schema_version, utc_iso, utc_now
from itbconsole.store.schema import (
    CLINICAL_TABLES,
    CURRENT_STATE_QUERIES,
    MIGRATIONS,
    expected_triggers,
)

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

#: "removed": a table the trail's proof rests on (the seals, the database's identity) is gone.
ProblemKind = Literal["edited", "inserted", "deleted", "removed"]


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
            if _seals_expected_because(db, None) is None:
                return  # a database from before seals (it is sealed when opened by the store)
            raise RuntimeError(
                "the table of audit seals is missing (someone removed it): nothing is recorded "
                "until the database is restored from a good backup"
            )
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

#: The tables the seals rest on: without them nothing in the trail can be proven.
SEAL_TABLES = ("audit_seals", "store_identity")


def _created_tables(statements: tuple[str, ...]) -> set[str]:
    return {s.split()[2] for s in statements if s.split()[:2] == ["CREATE", "TABLE"]}


#: The migration that made the seal tables, and the tables made by it or after it: any of
#: them in a database means that migration ran (they run in order), whatever the
#: ``migrations`` table (a row anyone can delete) says.
SEALS_MIGRATION = next(m.id for m in MIGRATIONS if "audit_seals" in _created_tables(m.statements))
_TABLES_SINCE_SEALS = frozenset(
    name for m in MIGRATIONS if m.id >= SEALS_MIGRATION for name in _created_tables(m.statements)
) - set(SEAL_TABLES)


def _database_file(db: Database) -> str | None:
    """The file of the connection's main database (None in memory)."""
    for row in db.conn.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return str(row[2]) or None
    return None


def _seals_expected_because(db: Database, keys: AuditKeys | None) -> str | None:
    """Why this database must have its seal tables (None: it is from before seals)."""
    if schema_version(db) >= SEALS_MIGRATION:
        return f"its schema says migration {SEALS_MIGRATION} (keyed seals) was applied"
    if _TABLES_SINCE_SEALS & set(db.table_names()):
        return f"it has tables made by migration {SEALS_MIGRATION} (keyed seals) or later"
    if keys is not None and (keys.sealed_before or keys.head(getattr(db, "audit_path", None))):
        return "this computer's audit keys have sealed it before"
    file = _database_file(db)
    if file:
        try:
            if identity_recorded_for(keys_root(), Path(file)) is not None:
                return "this computer has sealed this database file before"
        except OSError:
            return None
    return None


def seal_tables_missing(db: Database, keys: AuditKeys | None) -> list[AuditProblem]:
    """A database sealed once (by its schema, or by what this computer noted) must still
    have its seal tables: a forger who drops them would otherwise turn every seal check
    off and have forged entries pass as a database from before seals."""
    names = set(db.table_names())
    missing = [table for table in SEAL_TABLES if table not in names]
    if not missing:
        return []
    why = _seals_expected_because(db, keys)
    if why is None:
        return []
    words = {
        "audit_seals": "The table of seals (audit_seals) is missing",
        "store_identity": "The database's identity (store_identity) is missing, so its keys "
        "cannot be found",
    }
    return [
        AuditProblem(
            "removed",
            "schema",
            f"{words[table]} although {why}: the audit trail cannot be proven; someone removed it.",
            table=table,
        )
        for table in missing
    ]


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
        counts = {k: len(self.of_kind(k)) for k in ("edited", "inserted", "deleted", "removed")}
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


#: ``progress(stage, done, total)`` during :func:`verify_audit`: ``stage`` is "audit entries"
#: while the log is walked (``total``: the newest seq, an upper bound), then "records" once
#: every clinical row has been checked against its entry.
VerifyProgress = Callable[[str, int, int], None]

#: Items between two progress calls (a call costs little; a call per item would not).
PROGRESS_EVERY = 2000

_ENTRY_COLUMNS = (
    "a.seq, a.at, a.user_name, a.user_role, a.action, a.table_name, a.record_id, a.payload,"
    " a.prev_hash, a.hash"
)
_encode_text = json.encoder.encode_basestring  # what canonical_json writes a string as


def _entry_hash_of_row(row: tuple[Any, ...]) -> str:
    """:func:`entry_hash` of an audit row (seq, at, user_name, user_role, action,
    table_name, record_id, payload, prev_hash, ...), writing the canonical JSON directly:
    the same bytes as :func:`canonical_json` for the column types SQLite returns here, at a
    fraction of the cost. Any other type (only a forged row has one) takes the general way."""
    seq, at, user_name, user_role, action, table_name, record_id, payload, prev_hash = row[:9]
    if (
        type(seq) is int
        and (record_id is None or type(record_id) is int)
        and type(prev_hash) is str
    ):
        e = _encode_text  # raises TypeError for anything but a string
        try:
            text = (
                f'{prev_hash}{{"action":{e(action)},"at":{e(at)},"payload":{e(payload)},'
                f'"record_id":{"null" if record_id is None else record_id},"seq":{seq},'
                f'"table_name":{"null" if table_name is None else e(table_name)},'
                f'"user_name":{e(user_name)},"user_role":{e(user_role)}}}'
            )
        except TypeError:
            pass
        else:
            return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return entry_hash(str(prev_hash), dict(zip(ENTRY_FIELDS, row[:8], strict=True)))


#: Rows fetched from SQLite at a time while verifying (tens of kB with the usual entries).
_BATCH = 64


def _rows(cursor: Any) -> Iterator[tuple[Any, ...]]:
    """A cursor's rows, fetched a batch at a time (the store's cursor checks each fetch
    for errors; once a batch is cheaper than once a row)."""
    while batch := cursor.fetchmany(_BATCH):
        yield from batch


def _quote_name(name: str) -> str:
    """An SQL identifier, quoted whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def _quote_text(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def verify_audit(
    db: Database,
    keys: AuditKeys | None = None,
    anchors: tuple[str, ...] = (),
    *,
    progress: VerifyProgress | None = None,
) -> AuditReport:
    """Walk the chain, check the seals (with ``keys``: this database's keys on this
    computer), the newest head this computer sealed and any ``anchors`` ("SEQ:HASH" with at
    least 8 hex digits, e.g. from a printout), the append-only triggers, then cross-check
    every clinical row against its audit entry.

    Everything streams: one pass over the log in seq order checks the chain, the seals
    (read beside it in the same order) and the clinical rows (each table read beside it in
    id order), so memory stays flat however large the database grows; only findings are
    kept, and each entry's JSON is written once (for its hash). ``progress`` (see
    :data:`VerifyProgress`) is told how far the walk has gone."""
    report = AuditReport()
    report.problems += seal_tables_missing(db, keys)
    sealed = "audit_seals" in db.table_names()
    chain = _ChainCheck()
    seals = _SealCheck(db, keys, report) if sealed else None
    cross = _CrossCheck(db)
    _walk_entries(db, chain, seals, cross, report, progress)
    problems = report.problems
    problems += chain.problems
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
    report.records_checked = cross.finish(problems, progress)
    _check_current_state(db, problems)
    _check_triggers(db, problems)
    if seals is not None:
        seals.finish(db)
    for anchor in anchors:
        _check_anchor(db, anchor, "the anchor given", report)
    return report


def _walk_entries(
    db: Database,
    chain: _ChainCheck,
    seals: _SealCheck | None,
    cross: _CrossCheck,
    report: AuditReport,
    progress: VerifyProgress | None,
) -> None:
    """One pass over the log in seq order, each entry with its seal (if any) and the
    clinical row it records."""
    top = db.conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    total = int(top) if isinstance(top, int) else 0
    sql = f"SELECT {_ENTRY_COLUMNS} FROM audit_log a ORDER BY a.seq"
    count = 0
    last: tuple[Any, ...] | None = None
    feeds = [chain.feed, cross.feed] + ([seals.feed] if seals is not None else [])
    cursor = db.conn.execute(sql)
    while batch := cursor.fetchmany(_BATCH):
        for feed in feeds:
            for row in batch:
                feed(row)
        count += len(batch)
        last = batch[-1]
        if progress is not None and count % PROGRESS_EVERY < len(batch):
            progress("audit entries", count, max(count, total))
    chain.end()
    report.entries_checked = count
    if last is not None:
        report.head_seq, report.head_hash = int(last[0]), str(last[9])
    if progress is not None:
        progress("audit entries", count, count)


class _ChainCheck:
    """Each entry must hash to its stored hash and link to the entry before it; O(1) state
    (the two previous hashes and the previous seq).

    A broken link is read as: the previous entry was inserted (this entry links to the one
    before it), entries were deleted (a gap in the numbering, or nothing else explains it),
    or, for the last entry, this entry was appended without linking to the chain (decided
    when the next entry arrives, or the log ends).
    """

    def __init__(self) -> None:
        self.problems: list[AuditProblem] = []
        self._index = 0
        self._prev_seq = 0
        self._prev_hash: Any = GENESIS_HASH
        self._before_prev: Any = GENESIS_HASH
        self._unexplained: tuple[int, int] | None = None  # (seq, prev_seq) of a broken link

    def feed(self, row: tuple[Any, ...]) -> None:
        if self._unexplained is not None:
            self._settle(last=False)
        seq = int(row[0])
        prev_hash, stored = row[8], row[9]
        if _entry_hash_of_row(row) != stored:
            self.problems.append(
                AuditProblem(
                    "edited",
                    "audit entry",
                    f"Audit entry #{seq} was edited: its contents no longer match its hash.",
                    seq=seq,
                )
            )
        i, prev_seq = self._index, self._prev_seq
        if prev_hash != self._prev_hash:
            if i and prev_hash == self._before_prev:
                self.problems.append(
                    AuditProblem(
                        "inserted",
                        "audit entry",
                        f"Audit entry #{prev_seq} was inserted: the chain runs around it.",
                        seq=prev_seq,
                    )
                )
            elif seq > prev_seq + 1:
                self.problems.append(
                    AuditProblem(
                        "deleted",
                        "audit entry",
                        f"Audit entries between #{prev_seq} and #{seq} were deleted "
                        f"({seq - prev_seq - 1} missing).",
                        seq=prev_seq + 1,
                    )
                )
            else:
                self._unexplained = (seq, prev_seq)
        self._index = i + 1
        self._prev_seq = seq
        self._before_prev, self._prev_hash = self._prev_hash, stored

    def end(self) -> None:
        self._settle(last=True)

    def _settle(self, *, last: bool) -> None:
        if self._unexplained is None:
            return
        seq, prev_seq = self._unexplained
        self._unexplained = None
        if last:
            self.problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{seq} was inserted: it does not link to entry #{prev_seq}.",
                    seq=seq,
                )
            )
        else:
            self.problems.append(
                AuditProblem(
                    "deleted",
                    "audit entry",
                    f"The chain is broken before entry #{seq}: an earlier entry was deleted or "
                    "replaced.",
                    seq=seq,
                )
            )


class _SealCheck:
    """Every entry needs a seal; each seal made with a key on this computer must match.
    Fed each entry during the walk, while the seals are read beside it in the same (seq)
    order; a seal left between two entries belongs to one that was deleted. :meth:`finish`
    adds the findings to the report after the cross-check (where they have always been
    listed)."""

    def __init__(self, db: Database, keys: AuditKeys | None, report: AuditReport) -> None:
        self.keys = keys
        self.report = report
        #: HMAC-SHA-256 of each key on this computer, keyed once: a copy per entry gives
        #: :func:`~itbconsole.store.audit_keys.seal` without keying again.
        self.known = {
            name: hmac.new(key, digestmod=hashlib.sha256)
            for name, key in (keys.keys if keys is not None else {}).items()
        }
        self.problems: list[AuditProblem] = []
        self.orphans: list[int] = []
        self.checked: dict[str, int] = {}
        self._seals = _rows(
            db.conn.execute("SELECT seq, key_id, mac FROM audit_seals ORDER BY seq")
        )
        self._next: tuple[Any, ...] | None = next(self._seals, None)

    def _seal_of(self, seq: int) -> tuple[Any, Any] | None:
        """(key id, mac) of entry ``seq``; seals of missing entries before it are orphans."""
        while self._next is not None and int(self._next[0]) < seq:
            self.orphans.append(int(self._next[0]))
            self._next = next(self._seals, None)
        if self._next is None or int(self._next[0]) != seq:
            return None
        found = self._next
        self._next = next(self._seals, None)
        return found[1], found[2]

    def feed(self, row: tuple[Any, ...]) -> None:
        seq = int(row[0])
        ahead = self._next
        if ahead is not None and ahead[0] == seq and type(ahead[1]) is str:
            keyed = self.known.get(ahead[1])  # the usual case: this entry's seal is next
            if keyed is not None:
                self._next = next(self._seals, None)
                sealed = keyed.copy()
                sealed.update(str(row[9]).encode("ascii"))
                if hmac.compare_digest(sealed.hexdigest(), str(ahead[2])):
                    self.checked[ahead[1]] = self.checked.get(ahead[1], 0) + 1
                    return
                self._mismatch(seq)
                return
        found = self._seal_of(seq)
        if found is None:
            self.problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{seq} has no seal: it was written outside ITB Console.",
                    seq=seq,
                )
            )
            return
        name, mac = found
        keyed = self.known.get(str(name))
        if keyed is None:
            self.report.unverified += 1
            return
        sealed = keyed.copy()
        sealed.update(str(row[9]).encode("ascii"))
        if not hmac.compare_digest(sealed.hexdigest(), str(mac)):
            self._mismatch(seq)
            return
        self.checked[str(name)] = self.checked.get(str(name), 0) + 1

    def _mismatch(self, seq: int) -> None:
        self.problems.append(
            AuditProblem(
                "edited",
                "audit entry",
                f"Audit entry #{seq}'s seal does not match: the entry was changed or the "
                "chain recomputed outside ITB Console.",
                seq=seq,
            )
        )

    def finish(self, db: Database) -> None:
        keys, report = self.keys, self.report
        report.keys_where = keys.where if keys is not None else "no keys given"
        problems = report.problems
        if keys is not None and keys.identity_changed_from is not None:
            problems.append(
                AuditProblem(
                    "edited",
                    "schema",
                    f"This database file's identity was changed: this computer sealed the file "
                    f"at {keys.database} as database {keys.identity_changed_from}, and it now "
                    f"says {keys.store_id}. Changing it is how a forger gets fresh keys to seal "
                    "forged entries with; if a different database was put here on purpose, "
                    "confirm it with 'itbconsole db import-keys' and its backup's key file.",
                )
            )
        problems += self.problems
        for name, n in self.checked.items():
            report.seals_checked[name] = report.seals_checked.get(name, 0) + n
        while self._next is not None:
            self.orphans.append(int(self._next[0]))
            self._next = next(self._seals, None)
        for seq in self.orphans:
            problems.append(
                AuditProblem(
                    "deleted",
                    "audit entry",
                    f"Audit entry #{seq} was deleted: its seal is still there.",
                    seq=int(seq),
                )
            )
        if keys is not None:
            noted = keys.backlog()
            if noted is not None:
                report.backlog = (
                    f"Entries #1 to #{noted[0]} were sealed together when this computer first "
                    f"opened the database ({noted[1]}): before then they rest on the chain alone."
                )
            _check_sealed_head(db, keys, report)


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


def _check_current_state(db: Database, problems: list[AuditProblem]) -> None:
    """The patient list reads derived tables; they must equal what the records say.

    Compared inside SQLite (``EXCEPT`` both ways, every value compared as stored: binary
    collation whatever a table declares), so no table is held in memory; a table whose
    width no longer matches is compared here, row by row, as sets."""
    for table, select in CURRENT_STATE_QUERIES.items():
        width = len(db.conn.execute(f"SELECT * FROM {table} LIMIT 0").description)
        if width != len(db.conn.execute(f"SELECT * FROM ({select}) LIMIT 0").description):
            stored = set(db.conn.execute(f"SELECT * FROM {table}").fetchall())
            expected = set(db.conn.execute(select).fetchall())
            extra, differs = len(stored - expected), stored != expected
        else:
            names = ", ".join(f"c{n}" for n in range(width))
            exact = ", ".join(f"c{n} COLLATE BINARY" for n in range(width))
            extra, missing = db.conn.execute(
                f"WITH s({names}) AS MATERIALIZED (SELECT * FROM {table}),"
                f" e({names}) AS MATERIALIZED ({select})"
                f" SELECT (SELECT COUNT(*) FROM (SELECT {exact} FROM s EXCEPT"
                f" SELECT {exact} FROM e)), (SELECT COUNT(*) FROM (SELECT {exact} FROM e"
                f" EXCEPT SELECT {exact} FROM s))"
            ).fetchone()
            differs = bool(extra or missing)
        if differs:
            problems.append(
                AuditProblem(
                    "edited",
                    "record",
                    f"The derived table {table} no longer matches the records "
                    f"({extra} rows differ): the patient list may show wrong figures.",
                    table=table,
                )
            )


def _check_anchor(
    db: Database,
    anchor: str,
    what: str,
    report: AuditReport,
    *,
    listed: bool = True,
) -> None:
    """The entry ``anchor`` names ("SEQ:HASH-PREFIX") must be in the chain, unchanged."""
    seq, prefix = parse_anchor(anchor)
    found = db.conn.execute("SELECT hash FROM audit_log WHERE seq = ?", [seq]).fetchone()
    if found is None:
        report.problems.append(
            AuditProblem(
                "deleted",
                "audit entry",
                f"Audit entry #{seq} ({what}) is missing: entries up to it were removed.",
                seq=seq,
            )
        )
    elif not str(found[0]).startswith(prefix):
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


class _CrossCheck:
    """Each clinical row needs exactly the audit entry that recorded it, with equal content.

    Fed every entry in seq order during the walk of the log, while each clinical table is
    read once, in id order, beside it: the application writes a table's rows in the order
    of the entries that record them, so a row's entry normally arrives just as the table's
    cursor reaches the row. What comes out of that order (only tampering does) is kept
    aside: rows passed before their entry came, rows recorded but gone. Memory grows with
    findings, never with the database. The findings are listed as they always were: second
    entries in seq order, then each table's rows in id order, then rows recorded but gone."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tables = {table: _TableCursor(db, table) for table in CLINICAL_TABLES}
        self.again: list[AuditProblem] = []
        #: (table, record_id) -> seq of the first entry recording a row no longer there.
        self.gone: dict[tuple[str, int], int] = {}

    def feed(self, row: tuple[Any, ...]) -> None:
        """One entry, as :func:`_walk_entries` reads it (seq, ..., table_name, record_id,
        payload, ...)."""
        seq, table_name, record_id, payload = row[0], row[5], row[6], row[7]
        if table_name is None or record_id is None:
            return
        table, rid = str(table_name), int(record_id)
        cursor = self.tables.get(table)
        if cursor is not None and cursor.take_next(seq, rid, payload):
            return  # the usual case
        if cursor is None:  # not a clinical table: nothing can be there
            if (table, rid) in self.gone:
                self.recorded_again(seq, table, rid)
            else:
                self.gone[(table, rid)] = seq
            return
        cursor.entry(seq, rid, payload, self)

    def recorded_again(self, seq: int, table: str, rid: int) -> None:
        self.again.append(
            AuditProblem(
                "inserted",
                "audit entry",
                f"Audit entry #{seq} records {table} {rid} a second time.",
                seq=seq,
                table=table,
                record_id=rid,
            )
        )

    def finish(self, problems: list[AuditProblem], progress: VerifyProgress | None) -> int:
        """Read each table to its end (rows no entry reached) and list the findings;
        returns the number of records checked."""
        checked = 0
        for cursor in self.tables.values():
            cursor.drain()
            checked += cursor.count
        if progress is not None:
            progress("records", checked, checked)
        problems += self.again
        for table in CLINICAL_TABLES:
            problems += self.tables[table].findings()
        for (table, rid), seq in sorted(self.gone.items()):
            problems.append(
                AuditProblem(
                    "deleted",
                    "record",
                    f"{table} {rid} was deleted: audit entry #{seq} recorded it.",
                    seq=seq,
                    table=table,
                    record_id=rid,
                )
            )
        return checked


class _TableCursor:
    """One clinical table read in id order, at the pace of the entries naming it.

    Each row comes as its JSON made by SQLite (``json_object``, keys in sorted order): one
    string a row instead of a Python object per column. That text is only ever trusted to
    say "equal": SQLite's JSON encoding is a JSON encoding, so text equal to the payload
    means the row holds exactly the values the payload recorded (a real or a blob, which
    SQLite writes less exactly, is never sent that way). Whenever the texts differ, or the
    row holds a real or a blob, the row is read again and written by :func:`canonical_json`,
    so every verdict is the one canonical JSON gives."""

    def __init__(self, db: Database, table: str) -> None:
        self.db = db
        self.table = table
        self.count = 0
        #: The highest id read so far (every row up to it has been read).
        self.position = 0
        #: Rows read before any entry named them: id -> SQLite's JSON of the row (or None).
        self.passed: dict[int, str | None] = {}
        self.problems: list[tuple[int, AuditProblem]] = []
        self._cursor: Any = None
        self._batch: list[tuple[Any, ...]] = []
        self._at = 0

    def _open(self) -> Any:
        probe = self.db.conn.execute(f"SELECT * FROM {_quote_name(self.table)} LIMIT 0")
        names = sorted(d[0] for d in probe.description)
        columns = [_quote_name(n) for n in names]
        inexact = " OR ".join(f"typeof({c}) IN ('real', 'blob')" for c in columns)
        pairs = ", ".join(f"{_quote_text(n)}, {c}" for n, c in zip(names, columns, strict=True))
        return self.db.conn.execute(
            f"SELECT id, CASE WHEN {inexact} THEN NULL ELSE json_object({pairs}) END"
            f" FROM {_quote_name(self.table)} ORDER BY id"
        )

    def _next(self) -> tuple[int, str | None] | None:
        """The next row: (id, SQLite's JSON of it or None), or None at the end."""
        if self._at == len(self._batch):
            if self._cursor is None:
                self._cursor = self._open()
            self._batch, self._at = self._cursor.fetchmany(_BATCH), 0
            if not self._batch:
                return None
        rid, text = self._batch[self._at]
        self._at += 1
        self.count += 1
        self.position = rid = int(rid)  # rows come in id order
        return rid, text

    def take_next(self, seq: int, rid: int, payload: Any) -> bool:
        """The usual case, done at once: the table's next row is the one this entry
        records. False (nothing read) for any other case."""
        if rid <= self.position:
            return False
        if self._at == len(self._batch):
            if self._cursor is None:
                self._cursor = self._open()
            self._batch, self._at = self._cursor.fetchmany(_BATCH), 0
            if not self._batch:
                return False
        row_id, text = self._batch[self._at]
        if row_id != rid:
            return False
        self._at += 1
        self.count += 1
        self.position = rid
        if text is None or text != payload:
            self._compare(seq, rid, text, payload)
        return True

    def entry(self, seq: int, rid: int, payload: Any, check: _CrossCheck) -> None:
        if rid > self.position:
            while (found := self._next()) is not None:
                row_id, text = found
                if row_id == rid:
                    self._compare(seq, rid, text, payload)
                    return
                self.passed[row_id] = text
                if row_id > rid:
                    break
            check.gone[(self.table, rid)] = seq
            return
        if rid in self.passed:
            self._compare(seq, rid, self.passed.pop(rid), payload)
        elif (self.table, rid) in check.gone or self._exists(rid):
            check.recorded_again(seq, self.table, rid)
        else:
            check.gone[(self.table, rid)] = seq

    def _exists(self, rid: int) -> bool:
        query = f"SELECT 1 FROM {_quote_name(self.table)} WHERE id = ?"
        return self.db.conn.execute(query, [rid]).fetchone() is not None

    def _exact(self, rid: int) -> str:
        """The row's :func:`canonical_json`, as the application wrote it in its entry."""
        cursor = self.db.conn.execute(
            f"SELECT * FROM {_quote_name(self.table)} WHERE id = ?", [rid]
        )
        names = [d[0] for d in cursor.description]
        return canonical_json(dict(zip(names, cursor.fetchone(), strict=True)))

    def _compare(self, seq: int, rid: int, text: str | None, payload: Any) -> None:
        if (text is None or text != payload) and self._exact(rid) != payload:
            self.problems.append(
                (
                    rid,
                    AuditProblem(
                        "edited",
                        "record",
                        f"{self.table} {rid} was edited in place: it differs from what audit "
                        f"entry #{seq} recorded.",
                        seq=seq,
                        table=self.table,
                        record_id=rid,
                    ),
                )
            )

    def drain(self) -> None:
        while (found := self._next()) is not None:
            self.passed[found[0]] = found[1]

    def findings(self) -> list[AuditProblem]:
        unrecorded = [
            (
                rid,
                AuditProblem(
                    "inserted",
                    "record",
                    f"{self.table} {rid} has no audit entry: it was added outside ITB "
                    "Console (or its audit entry was deleted).",
                    table=self.table,
                    record_id=rid,
                ),
            )
            for rid in self.passed
        ]
        return [problem for _, problem in sorted(self.problems + unrecorded, key=lambda p: p[0])]


def verify_entries_after(db: Database, keys: AuditKeys | None, after_seq: int) -> AuditReport:
    """The chain and seals of the entries after ``after_seq`` only, and the newest entry
    this computer sealed: what must hold before those entries leave the database (a sync
    upload), without walking the whole log or the clinical rows.

    Entry ``after_seq`` itself is trusted as the start (the caller has checked it, e.g.
    against the server's copy). Problems are reported as :func:`verify_audit` words them;
    entries sealed with a key not on this computer are counted in ``unverified``."""
    report = AuditReport()
    start = db.conn.execute("SELECT hash FROM audit_log WHERE seq = ?", [after_seq]).fetchone()
    chain = _ChainCheck()
    if after_seq > 0 and start is not None:
        chain._prev_seq, chain._prev_hash = after_seq, str(start[0])
    sealed = "audit_seals" in db.table_names()
    known = {
        name: hmac.new(key, digestmod=hashlib.sha256)
        for name, key in (keys.keys if keys is not None else {}).items()
    }
    cursor = db.conn.execute(
        f"SELECT {_ENTRY_COLUMNS}, s.key_id, s.mac FROM audit_log a"
        " LEFT JOIN audit_seals s ON s.seq = a.seq WHERE a.seq > ? ORDER BY a.seq"
        if sealed
        else f"SELECT {_ENTRY_COLUMNS}, NULL, NULL FROM audit_log a WHERE a.seq > ? ORDER BY a.seq",
        [after_seq],
    )
    for row in _rows(cursor):
        chain.feed(row[:10])
        report.entries_checked += 1
        report.head_seq, report.head_hash = int(row[0]), str(row[9])
        if not sealed:
            continue
        seq, name, mac = int(row[0]), row[10], row[11]
        if name is None:
            report.problems.append(
                AuditProblem(
                    "inserted",
                    "audit entry",
                    f"Audit entry #{seq} has no seal: it was written outside ITB Console.",
                    seq=seq,
                )
            )
            continue
        keyed = known.get(str(name))
        if keyed is None:
            report.unverified += 1
            continue
        sealed_mac = keyed.copy()
        sealed_mac.update(str(row[9]).encode("ascii"))
        if hmac.compare_digest(sealed_mac.hexdigest(), str(mac)):
            report.seals_checked[str(name)] = report.seals_checked.get(str(name), 0) + 1
        else:
            report.problems.append(
                AuditProblem(
                    "edited",
                    "audit entry",
                    f"Audit entry #{seq}'s seal does not match: the entry was changed or the "
                    "chain recomputed outside ITB Console.",
                    seq=seq,
                )
            )
    chain.end()
    report.problems[:0] = seal_tables_missing(db, keys) + chain.problems
    if keys is not None:
        report.keys_where = keys.where
        _check_sealed_head(db, keys, report)
    return report


def _check_sealed_head(db: Database, keys: AuditKeys, report: AuditReport) -> None:
    """The newest entry this computer sealed in this file must still be there, unchanged
    (a tail removed with its seals leaves a chain that checks out otherwise)."""
    recorded = keys.head(getattr(db, "audit_path", None))
    if recorded is not None:
        _check_anchor(
            db,
            f"{recorded[0]}:{recorded[1]}",
            "the newest entry this computer sealed",
            report,
            listed=False,
        )
