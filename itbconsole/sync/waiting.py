"""Events waiting in a conflict, tried again once what stood in their way is put right.

Why they wait and are not dropped: an event refused here (a hospital number that clashes,
an account name taken, a pump registered to someone else), one that points at a record this
room has not received, or one that belongs to a record waiting in a conflict, may apply once
an administrator corrects a record here or resolves the conflict. Every sync pass ends by
trying them again (:func:`retry_waiting`), in each room's order, until nothing more
applies; this room's rules still decide each. A tampered event never becomes right, and a
concurrent edit was already decided, so neither is tried again.
"""

from __future__ import annotations

from itbconsole.store import Store
from itbconsole.store.db import transaction
from itbconsole.sync.applier import Applier, ApplyReport
from itbconsole.sync.conflicts import get_conflict

#: Conflicts whose event may apply later (a concurrent edit was decided; a tampered event
#: never becomes right).
RETRIED_KINDS = ("refused", "depends", "missing", "unreadable")


def apply_waiting(store: Store) -> ApplyReport:
    """Try again every event waiting in a conflict (after an administrator changed what
    stood in its way: corrected a hospital number, renamed an account, set a pump's
    registration right), in each room's order, until nothing more applies. An event that
    applies now is recorded in ``sync_reapplied`` and its conflict leaves the open list;
    one that still cannot stays as it is (no new conflict is written for it). A conflict
    an administrator resolved no longer holds back the records that waited on it: they
    are tried like the others (and this room's rules still apply to each)."""
    report = ApplyReport()
    with transaction(store.db):
        applier = Applier(store.db, report)
        while True:
            waiting = [
                get_conflict(store.db, int(r[0]))
                for r in store.db.conn.execute(
                    "SELECT c.id FROM sync_conflicts c WHERE c.kind IN"
                    f" ({', '.join('?' for _ in RETRIED_KINDS)}) AND NOT EXISTS"
                    " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id)"
                    " ORDER BY c.origin_room, c.origin_seq, c.id",
                    list(RETRIED_KINDS),
                ).fetchall()
            ]
            before = report.applied
            for conflict in waiting:
                applier.retry(conflict.id, conflict.event())
            if report.applied == before:
                report.still_waiting = len(waiting)
                break
        applier.ids.announce()
    return report


def retry_waiting(store: Store) -> ApplyReport:
    """:func:`apply_waiting`, for the end of every sync pass: what an administrator put
    right (a record corrected here, a conflict resolved) lets the records that waited on
    it apply without anyone asking. Nothing is written when nothing waits."""
    waiting = store.db.conn.execute(
        "SELECT 1 FROM sync_conflicts c WHERE c.kind IN"
        f" ({', '.join('?' for _ in RETRIED_KINDS)}) AND NOT EXISTS"
        " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id) LIMIT 1",
        list(RETRIED_KINDS),
    ).fetchone()
    if waiting is None:
        return ApplyReport()
    return apply_waiting(store)
