"""What every kind of row is built with: one row, a record's correction chain, its
correction rows, and the group that keeps a record's rows together when sorted.

Why apart from the kinds: a correction is told the same way whichever record it corrects
(a pending refill settled, a program change resolved, a reading withdrawn as entered in
error), so each ``*_rows`` module only says what its records are and leaves the chains to
:class:`BuilderBase`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from itertools import pairwise
from typing import Any

from itbconsole import dosing
from itbconsole.services.history.row import Kind, TimelineRow
from itbconsole.services.history.text import _changes, _stamp_text, when_text
from itbconsole.store import records as rec
from itbconsole.store.queries import PatientHistory, PatientRecords


@dataclass
class _Group:
    """A record's row and the rows of its later versions, kept together when sorted."""

    at: datetime
    order: int
    rows: list[TimelineRow]


_ORDER = {kind: n for n, kind in enumerate(Kind)}

#: Changes that settle an outcome rather than correct a mistake.
_SETTLING = ("status", "outcome", "read-back")


class BuilderBase:
    """The records being told, the clinic's zone and thresholds, and the groups built so
    far; the kinds of row are mixins over it (:class:`~itbconsole.services.history.timeline
    ._Builder`)."""

    def __init__(
        self,
        history: PatientHistory,
        records: PatientRecords,
        tz: tzinfo,
        thresholds: dosing.DiscrepancyThresholds,
    ) -> None:
        self.history = history
        self.records = records
        self.tz = tz
        self.thresholds = thresholds
        self.groups: list[_Group] = []

    # ------------------------------------------------------------------ helpers

    def row(
        self,
        kind: Kind,
        at: datetime,
        summary: str,
        details: Mapping[str, str],
        who: str,
        role: str,
        *,
        figures: Mapping[str, Any] | None = None,
        record: str = "",
        day_only: bool = False,
        about: Kind | None = None,
    ) -> TimelineRow:
        return TimelineRow(
            kind=kind,
            at=at,
            when=when_text(at, self.tz, day_only=day_only),
            summary=summary,
            details=dict(details),
            who=who,
            role=role,
            figures=dict(figures or {}),
            about=about,
            record=record,
            day_only=day_only,
        )

    def add(self, row: TimelineRow, corrections: Iterable[TimelineRow] = ()) -> _Group:
        group = _Group(row.at, _ORDER[row.kind], [row, *corrections])
        self.groups.append(group)
        return group

    def stamped(self, row: TimelineRow, stamp: rec.Stamp) -> TimelineRow:
        return TimelineRow(
            **{
                **{f.name: getattr(row, f.name) for f in fields(row)},
                "who": stamp.by,
                "role": stamp.role.value,
            }
        )

    def chains(self, versions: Sequence[rec.Recorded[Any]]) -> list[list[rec.Recorded[Any]]]:
        """Versions grouped into correction chains (first version first), oldest chain
        first."""
        by_id = {v.stamp.record_id: v for v in versions}
        later = {v.stamp.corrects_id: v for v in versions if v.stamp.corrects_id is not None}
        out = []
        for v in versions:
            if v.stamp.corrects_id is not None and v.stamp.corrects_id in by_id:
                continue
            chain = [v]
            while chain[-1].stamp.record_id in later:
                chain.append(later[chain[-1].stamp.record_id])
            out.append(chain)
        return out

    def corrections(
        self, chain: Sequence[rec.Recorded[Any]], what: str, about: Kind, table: str
    ) -> list[TimelineRow]:
        """A correction row for each version after the first."""
        out = []
        for before, after in pairwise(chain):
            stamp = after.stamp
            note = stamp.correction_note.strip()
            if stamp.entered_in_error:
                summary = f"{what} withdrawn as entered in error" + (f": {note}" if note else "")
                changes: list[str] = []
            else:
                changes = _changes(before.record, after.record, self.tz)
                settled = bool(changes) and all(c.startswith(_SETTLING) for c in changes)
                verb = "settled" if settled else "corrected"
                summary = f"{what} {verb}: " + ("; ".join(changes) or "note added")
                if note:
                    summary += f" ({note})"
            details = {
                "Corrects": f"{what} ({table} {before.stamp.record_id})",
                "Changes": "; ".join(changes) or "none",
                "Entered in error": "yes" if stamp.entered_in_error else "no",
                "Reason": note or "none given",
                "Recorded": _stamp_text(stamp, self.tz),
            }
            out.append(
                self.row(
                    Kind.CORRECTION,
                    stamp.at,
                    summary,
                    details,
                    stamp.by,
                    stamp.role.value,
                    record=f"{table} {stamp.record_id}",
                    about=about,
                )
            )
        return out

    @staticmethod
    def withdrawn_note(chain: Sequence[rec.Recorded[Any]]) -> str:
        last = chain[-1].stamp
        return " [entered in error]" if last.entered_in_error else ""
