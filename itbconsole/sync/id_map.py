"""Which row of this room stands for which row of another room, and who had seen what.

Why: every room numbers its rows itself, so another room's ``patient_id`` 7 is some other
number here. ``sync_ids`` notes, for each row applied, the room that made it, its number
there and its number here; the columns to translate are read from the schema's foreign
keys, so a new table needs no list kept by hand, and natural keys (a pump's serial) are
kept as they are.

Why ``ids_mapped``: room C's rows may point at a record C received from room A, by C's own
number for it. Rooms never receive each other's echo entries, so a room that applies rows
also appends one ordinary (uploaded and downloaded) entry, action ``ids_mapped``, saying
which of its numbers stand for which room's records. The other rooms note them as aliases
(``sync_aliases``), with the entry's seq: that also tells them which rows that room had
seen by the time it wrote anything later, which is how a change made without seeing
another room's newer one (a concurrent edit) is recognised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from itbconsole.model import Role, User
from itbconsole.store import audit
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.outbox import room_id

#: The action of the entry that tells other rooms which local ids stand for which records.
IDS_MAPPED = "ids_mapped"

#: Who writes the ``ids_mapped`` entries (bookkeeping of the sync itself, not a person).
SYNC_USER = User("ITB Console sync", Role.ADMINISTRATOR)


@dataclass(frozen=True)
class Reference:
    """A column of a table that points at a row of ``table`` by its ``key`` column."""

    column: str
    table: str
    key: str


class IdMap:
    """This room's id map (read and written inside the caller's transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.here = room_id(db)
        self._references: dict[str, list[Reference]] = {}
        #: (origin room, table, origin id, local id) applied since the last ``ids_mapped``.
        self.mapped: list[tuple[str, str, int, int]] = []

    def references(self, table: str) -> list[Reference]:
        """The table's columns that point at another row (from its foreign keys)."""
        found = self._references.get(table)
        if found is None:
            found = [
                Reference(str(r[3]), str(r[2]), str(r[4] or "id"))
                for r in self.db.conn.execute(f"PRAGMA foreign_key_list([{table}])")
            ]
            self._references[table] = found
        return found

    def add(
        self, origin_room: str, table: str, origin_id: int, local_id: int, *, inserted: bool
    ) -> None:
        """Note that ``local_id`` stands for ``origin_room``'s row ``origin_id``:
        ``inserted``, the copy of it made here (``sync_ids``, announced in the next
        ``ids_mapped``); otherwise a row that was already here (``sync_same``), so
        ``sync_ids`` always names the room that made a row."""
        self.db.conn.execute(
            f"INSERT INTO {'sync_ids' if inserted else 'sync_same'}"
            " (origin_room, table_name, origin_id, local_id) VALUES (?, ?, ?, ?)",
            [origin_room, table, origin_id, local_id],
        )
        if inserted:
            self.mapped.append((origin_room, table, origin_id, local_id))

    def resolve(self, from_room: str, table: str, origin_id: int, hops: int = 0) -> int | None:
        """This room's id for ``from_room``'s row ``origin_id`` of ``table`` (None: not here).
        An alias names the room that made the record, so one hop is all it takes; more
        (only a forged map could ask for them) are refused rather than followed."""
        if from_room == self.here:
            return origin_id
        for known in ("sync_ids", "sync_same"):
            row = self.db.conn.execute(
                f"SELECT local_id FROM {known} WHERE origin_room = ? AND table_name = ?"
                " AND origin_id = ?",
                [from_room, table, origin_id],
            ).fetchone()
            if row is not None:
                return int(row[0])
        alias = self.db.conn.execute(
            "SELECT origin_room, origin_id FROM sync_aliases WHERE via_room = ?"
            " AND table_name = ? AND via_id = ?",
            [from_room, table, origin_id],
        ).fetchone()
        if alias is None or str(alias[0]) == from_room or hops >= 2:
            return None
        return self.resolve(str(alias[0]), table, int(alias[1]), hops + 1)

    def maker(self, table: str, local_id: int) -> tuple[str, int]:
        """(room, its id) of the room that made this room's row ``local_id``."""
        made = self.db.conn.execute(
            "SELECT origin_room, origin_id FROM sync_ids WHERE table_name = ? AND local_id = ?"
            " LIMIT 1",
            [table, local_id],
        ).fetchone()
        return (self.here, local_id) if made is None else (str(made[0]), int(made[1]))

    def seen_by(self, event: SyncEvent, table: str, local_id: int) -> bool:
        """Had the room that wrote ``event`` seen this room's row ``local_id`` by then? Its
        own rows, yes; another room's row only if it had applied that row before writing
        the event (its ``ids_mapped`` entries say which rows it applied, and when)."""
        maker, maker_id = self.maker(table, local_id)
        if maker == event.room_id:
            return True
        found = self.db.conn.execute(
            "SELECT 1 FROM sync_aliases WHERE via_room = ? AND table_name = ?"
            " AND origin_room = ? AND origin_id = ? AND noted_seq < ? LIMIT 1",
            [event.room_id, table, maker, maker_id, event.room_seq],
        ).fetchone()
        return found is not None

    def note_aliases(self, event: SyncEvent) -> None:
        """Another room's ``ids_mapped``: its ids that stand for records of other rooms."""
        detail = json.loads(event.payload)
        for origin_room, table, origin_id, via_id in detail.get("ids", []):
            self.db.conn.execute(
                "INSERT OR IGNORE INTO sync_aliases (via_room, table_name, via_id,"
                " origin_room, origin_id, noted_seq) VALUES (?, ?, ?, ?, ?, ?)",
                [event.room_id, str(table), int(via_id), str(origin_room), int(origin_id),
                 event.room_seq],
            )  # fmt: skip

    def forget_since(self, count: int) -> None:
        """Rolled back: the rows mapped after the first ``count`` were not kept."""
        del self.mapped[count:]

    def announce(self) -> None:
        """Tell the other rooms (one ordinary entry) which ids here stand for what."""
        if not self.mapped:
            return
        ids = [[room, table, origin, local] for room, table, origin, local in self.mapped]
        audit.append(self.db, SYNC_USER, IDS_MAPPED, payload=audit.canonical_json({"ids": ids}))
        self.mapped.clear()
