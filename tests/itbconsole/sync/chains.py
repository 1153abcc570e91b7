"""Room event chains for the sync tests, hashed exactly as the audit log hashes its entries."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from itbconsole.store import audit
from itbconsole.sync.events import SyncEvent


def chain(
    room_id: str,
    count: int,
    *,
    start_seq: int = 1,
    prev_hash: str = audit.GENESIS_HASH,
    action: str = "patient added",
    payload: str | None = None,
    **overrides: Any,
) -> list[SyncEvent]:
    """``count`` events of one room continuing from ``prev_hash`` at ``start_seq``."""
    events: list[SyncEvent] = []
    for seq in range(start_seq, start_seq + count):
        entry: dict[str, Any] = {
            "seq": seq,
            "at": f"2026-11-30T09:{seq % 60:02d}:00.000000Z",
            "user_name": "Nurse Adeyemi",
            "user_role": "nurse",
            "action": action,
            "table_name": "patients",
            "record_id": seq,
            "payload": payload if payload is not None else f'{{"id":{seq},"name":"P{seq}"}}',
        }
        entry.update(overrides)
        digest = audit.entry_hash(prev_hash, entry)
        events.append(
            SyncEvent(
                event_id=str(uuid.uuid4()),
                room_id=room_id,
                room_seq=seq,
                at=entry["at"],
                user_name=entry["user_name"],
                user_role=entry["user_role"],
                action=entry["action"],
                table_name=entry["table_name"],
                record_id=entry["record_id"],
                payload=entry["payload"],
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest
    return events


def rehashed(event: SyncEvent, **changes: Any) -> SyncEvent:
    """``event`` with fields changed and its hash recomputed (a careful forger's copy)."""
    changed = dataclasses.replace(event, **changes)
    entry = {
        "seq": changed.room_seq,
        "at": changed.at,
        "user_name": changed.user_name,
        "user_role": changed.user_role,
        "action": changed.action,
        "table_name": changed.table_name,
        "record_id": changed.record_id,
        "payload": changed.payload,
    }
    return dataclasses.replace(changed, hash=audit.entry_hash(changed.prev_hash, entry))


def rewrite_and_rehash(path: Path, old: str, new: str, *, from_seq: int = 1) -> None:
    """What someone with the file does: change a record and its audit payload, recompute
    every hash from ``from_seq`` on (the seals, keyed outside the file, cannot be redone)."""
    con = sqlite3.connect(path)
    triggers = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%no_update'"
    ).fetchall()
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER [{name}]")
    con.execute(
        "UPDATE patient_versions SET hospital_number = ? WHERE hospital_number = ?", [new, old]
    )
    rows = con.execute(
        "SELECT seq, at, user_name, user_role, action, table_name, record_id, payload, prev_hash"
        " FROM audit_log WHERE seq >= ? ORDER BY seq",
        [from_seq],
    ).fetchall()
    prev = rows[0][8]
    for seq, at, user, role, action, table, rid, payload, _ in rows:
        payload = payload.replace(old, new)
        entry = dict(seq=seq, at=at, user_name=user, user_role=role, action=action,
                     table_name=table, record_id=rid, payload=payload)  # fmt: skip
        digest = audit.entry_hash(prev, entry)
        con.execute(
            "UPDATE audit_log SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [payload, prev, digest, seq],
        )
        prev = digest
    for _, text in triggers:
        con.execute(text)
    con.commit()
    con.close()
