"""Applying other rooms' events to this room's store (the rules: docs/sync-rules.md).

Why rows are re-inserted and not copied: every room numbers its rows itself, so each
applied row gets an id of this room, and every column that points at an ``id`` is
translated (:mod:`itbconsole.sync.id_map`). The row keeps its author and time stamps, and is
written with its own audit entry (action ``sync:`` + the original action) in the same
transaction, so it passes ``itbconsole db verify`` here like any local write, and the
current-state and forecast-cache triggers run as they do for a local write.

Why conflicts are rows: an event a rule of this room refuses
(:mod:`itbconsole.sync.refusals`) is kept whole in ``sync_conflicts`` with the local record
it met (:mod:`itbconsole.sync.conflicts`), the records that depend on it wait there too
(:mod:`itbconsole.sync.waiting`), and the pass goes on. Nothing is dropped, and one bad
event never stops the clinic's other records from arriving. Two rooms changing one record
without seeing each other's change end with the newer version in force in both, and both
versions listed (:mod:`itbconsole.sync.concurrent`, decided by
:mod:`itbconsole.sync.server_order`).

This module holds the pass over new events; each event is applied by
:class:`itbconsole.sync.applier.Applier`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from itbconsole.store import Store
from itbconsole.store.db import transaction
from itbconsole.sync.applier import Applier, ApplyReport
from itbconsole.sync.conflicts import (
    Conflict,
    open_conflict_count,
    open_conflicts,
    resolve_conflict,
)
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.id_map import IDS_MAPPED
from itbconsole.sync.waiting import apply_waiting, retry_waiting

__all__ = [
    "IDS_MAPPED",
    "ApplyReport",
    "Conflict",
    "apply_events",
    "apply_waiting",
    "download_cursors",
    "open_conflict_count",
    "open_conflicts",
    "resolve_conflict",
    "retry_waiting",
]

#: Events applied per transaction: each event is all-or-nothing inside it (a savepoint),
#: and a batch commits as one, so catching up on days of events is not one disk flush each,
#: while the write lock is never held long (a refill saved meanwhile waits a moment at most).
BATCH_SIZE = 200


def download_cursors(db: Database) -> dict[str, int]:
    """Per origin room, the highest of its seqs this room has handled (applied or set aside)."""
    return {
        str(room): int(seq)
        for room, seq in db.conn.execute(
            "SELECT origin_room, MAX(origin_seq) FROM sync_applied GROUP BY origin_room"
        )
    }


def _in_room_order(events: Sequence[SyncEvent]) -> list[SyncEvent]:
    """The events as given, except that each room's events come in its seq order."""
    by_room: dict[str, list[SyncEvent]] = {}
    for event in events:
        by_room.setdefault(event.room_id, []).append(event)
    queues = {
        room: iter(sorted(found, key=lambda e: e.room_seq)) for room, found in by_room.items()
    }
    return [next(queues[event.room_id]) for event in events]


def apply_events(store: Store, events: Sequence[SyncEvent]) -> ApplyReport:
    """Apply other rooms' ``events`` to ``store`` (see the module's docstring).

    Idempotent: an event already handled is skipped. Only a store that cannot be written
    (:class:`StoreUnavailableError`: disk full, read only...) raises; the batch being
    written is then rolled back whole and applied again by the next pass."""
    report = ApplyReport()
    applier = Applier(store.db, report)
    ordered = _in_room_order(events)
    for start in range(0, len(ordered), BATCH_SIZE):
        batch = ordered[start : start + BATCH_SIZE]
        with transaction(store.db):
            # A batch's id maps first: they only note aliases (with their seq), and a room's
            # rows may come in the same batch as the map another room made of the records
            # they point at. Within the batch's transaction, so the cursors never pass an
            # event that was not kept.
            for event in [e for e in batch if e.action == IDS_MAPPED]:
                applier.handle(event)
            for event in [e for e in batch if e.action != IDS_MAPPED]:
                applier.handle(event)
            applier.ids.announce()
    return report
