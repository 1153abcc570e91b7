"""Rooms for the local sync tests: SQLite stores in the test's folder, and moving events
between them exactly as the engine does (``pending_events`` from one, ``apply_events`` into
the other), without a server: the server's side has tests of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from itbconsole.store import Store
from itbconsole.sync.apply import ApplyReport, apply_events
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.outbox import pending_events

RoomFactory = Callable[[str], Store]


def room_factory(tmp_path: Path) -> Iterator[RoomFactory]:
    """For a test file's ``open_room`` fixture: ``open_room("a")`` opens a new room (its
    own database file and identity in ``tmp_path``); every room is closed afterwards."""
    opened: list[Store] = []

    def make(name: str) -> Store:
        store = Store.open(tmp_path / f"room_{name}.sqlite")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def events_of(room: Store, after_seq: int = 0) -> list[SyncEvent]:
    """Everything ``room`` has written after ``after_seq`` (echoes included, as uploaded)."""
    return pending_events(room.db, after_seq, limit=10_000_000)


def originals_of(room: Store) -> list[SyncEvent]:
    """What the server would hand the other rooms: ``room``'s events without its echoes."""
    return [e for e in events_of(room) if not e.is_echo()]


def sync(source: Store, target: Store) -> ApplyReport:
    """Bring ``source``'s own events into ``target``."""
    return apply_events(target, originals_of(source))


def rows(store: Store, sql: str, args: list[object] | None = None) -> list[dict[str, object]]:
    return list(store.db.query(sql, args or []))
