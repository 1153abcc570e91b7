"""The status vocabulary: a patient's refill status on a day, most urgent first, its label
on screen, and the status with its reason (:class:`StatusOn`).

Separate because the list, the Overview, the worklist and their colours all speak these
words, while the rule that picks one lives with the summary it reads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    """A patient's refill status on a given day, most urgent first."""

    NOT_DELIVERING = "not_delivering"
    ATTENTION = "attention"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    NO_DATA = "no_data"
    OK = "ok"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


_RANK = {status: n for n, status in enumerate(Status)}

STATUS_LABELS = {
    Status.NOT_DELIVERING: "Not delivering",
    Status.ATTENTION: "Check the pump",
    Status.OVERDUE: "Overdue",
    Status.DUE_SOON: "Due soon",
    Status.OK: "On track",
    Status.NO_DATA: "No reading",
}


@dataclass(frozen=True)
class StatusOn:
    status: Status
    reason: str
    days_to_refill: int | None
    days_to_alarm: int | None
