"""What a history row is: its kind and what it shows.

Why its own module: the timeline builder, the History tab, its CSV and the kind filter all
speak of :class:`TimelineRow` and :class:`Kind`; they meet here, below everything that
makes rows or reads them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Kind(enum.StrEnum):
    """What a timeline row is about (stored in CSVs as its value)."""

    PATIENT = "patient"
    SCREENING = "screening"
    IMPLANT = "implant"
    READING = "reading"
    REFILL = "refill"
    PROGRAM_CHANGE = "program_change"
    ALARM = "alarm"
    CLOCK = "clock"
    CATHETER_REVISION = "catheter_revision"
    EXPLANT = "explant"
    CORRECTION = "correction"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    Kind.PATIENT: "Patient record",
    Kind.SCREENING: "Screening test dose",
    Kind.IMPLANT: "Pump implant",
    Kind.READING: "Reading",
    Kind.REFILL: "Refill",
    Kind.PROGRAM_CHANGE: "Program change",
    Kind.ALARM: "Pump alarm",
    Kind.CLOCK: "Pump clock",
    Kind.CATHETER_REVISION: "Catheter revision",
    Kind.EXPLANT: "Pump explant",
    Kind.CORRECTION: "Correction",
}


@dataclass(frozen=True)
class TimelineRow:
    """One entry of a patient's history, ready to show: every text carries its unit."""

    kind: Kind
    at: datetime
    """When it happened (UTC). A record kept by date only (an explant, a catheter revision,
    a status) is placed at the start of that day in the clinic's zone (``day_only``)."""
    when: str
    """``at`` as shown: the clinic's local date and time with its zone (date only when
    ``day_only``)."""
    summary: str
    details: dict[str, str]
    """Every figure of the entry, label to text, in reading order."""
    who: str
    role: str
    figures: dict[str, Any] = field(default_factory=dict)
    """Exact values for the CSV's figure columns (keys of :data:`HISTORY_COLUMNS`)."""
    about: Kind | None = None
    """For a correction: the kind of record it corrects (a kind filter keeps them together)."""
    record: str = ""
    """The stored record the entry comes from: ``refills 12``, ``audit 301``, ``pump log 7``."""
    day_only: bool = False

    def matches(self, kind: Kind | None) -> bool:
        """Shown under a kind filter (None: all). Corrections go with what they correct."""
        return kind is None or self.kind is kind or self.about is kind

    @property
    def details_text(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.details.items())
