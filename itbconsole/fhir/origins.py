"""Where each stored row was first recorded: the identity of the room (database) that made
it, and its id there.

Why: in a clinic with several rooms (itbconsole/sync, docs/sync-rules.md) a record made in
room A is applied in room C under C's own id, noted in ``sync_ids``. The hospital must
receive one resource for it whichever room exports it, so its key names the room that made
it and that room's id, never the exporting room's id for it.
"""

from __future__ import annotations

from itbconsole.store import Store


class RecordOrigins:
    """``(room identity, id there)`` of this database's rows; a row made here is its own
    origin. Read only, one indexed look-up per row (``sync_ids_local``)."""

    def __init__(self, store: Store, here: str) -> None:
        self.here = here
        self._db = store.db
        self._synced = "sync_ids" in store.db.table_names()
        self._known: dict[tuple[str, int], tuple[str, int]] = {}

    def of(self, table: str, record_id: int) -> tuple[str, int]:
        found = self._known.get((table, record_id))
        if found is None:
            found = (self.here, record_id)
            if self._synced:
                row = self._db.conn.execute(
                    "SELECT origin_room, origin_id FROM sync_ids"
                    " WHERE table_name = ? AND local_id = ? LIMIT 1",
                    [table, record_id],
                ).fetchone()
                if row is not None:
                    found = (str(row[0]), int(row[1]))
            self._known[(table, record_id)] = found
        return found

    def of_pump(self, serial: str) -> tuple[str, int]:
        """The origin of the pump's own row (``pumps``, one per serial)."""
        row = self._db.conn.execute("SELECT id FROM pumps WHERE serial = ?", [serial]).fetchone()
        if row is None:
            raise LookupError(f"pump {serial} has no record")
        return self.of("pumps", int(row[0]))
