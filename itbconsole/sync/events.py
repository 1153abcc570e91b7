"""One sync event: an audit-log entry of one room, as it travels to the clinic's server.

Why the audit entry itself: every clinical write already appends one, in the same
transaction, hash-chained to the room's previous entry. Sending that entry (plus the event
id migration 12 gives it) lets the server check the room's whole chain on upload and lets
every other room check each event's hash before applying it, with no second record of the
same write to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from itbconsole.store.audit import GENESIS_HASH, entry_hash

__all__ = ["ECHO_PREFIX", "EVENT_FIELDS", "GENESIS_HASH", "SyncEvent"]

#: The action of an entry a room wrote when applying another room's event starts with this.
ECHO_PREFIX = "sync:"


@dataclass(frozen=True)
class SyncEvent:
    """An audit entry of room ``room_id`` (``room_seq`` is its ``seq`` there)."""

    event_id: str
    room_id: str
    room_seq: int
    at: str
    user_name: str
    user_role: str
    action: str
    table_name: str | None
    record_id: int | None
    payload: str
    prev_hash: str
    hash: str
    #: Where the server received it among all rooms' events (download fills it in; None for
    #: an event not yet uploaded). Not hashed: the room did not write it. Concurrent edits
    #: are decided by it, never by the rooms' own clocks (docs/sync-rules.md).
    server_order: int | None = field(default=None, compare=False)
    #: When the server received it (ISO text; None when not yet uploaded). Neither is part
    #: of the event's content (not compared).
    received_at: str | None = field(default=None, compare=False)

    def is_echo(self) -> bool:
        """Written when applying another room's event: uploaded for the chain, never applied
        elsewhere (the other rooms get the original from its own room)."""
        return self.action.startswith(ECHO_PREFIX)

    def entry(self) -> dict[str, Any]:
        """The entry's hashed fields, as :func:`itbconsole.store.audit.entry_hash` reads them."""
        return {
            "seq": self.room_seq,
            "at": self.at,
            "user_name": self.user_name,
            "user_role": self.user_role,
            "action": self.action,
            "table_name": self.table_name,
            "record_id": self.record_id,
            "payload": self.payload,
        }

    def hash_ok(self) -> bool:
        """The stored hash is the one its fields and ``prev_hash`` give (not tampered with)."""
        return entry_hash(self.prev_hash, self.entry()) == self.hash


#: What an event is, in order: the fields that make its content (the server's columns for
#: it; where the server put it is not part of it).
EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SyncEvent) if f.compare)
