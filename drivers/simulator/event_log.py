"""The simulated pump's event log: what kinds of event it records and how they are kept.

Indices start at 0 and are gapless (the log is never truncated), so the console can page
through it and resume where it stopped. Separate because every other part of the pump
writes to the log and the protocol responder reads it page by page.
"""

from __future__ import annotations

from typing import Any

from drivers.simulator.pump_state import PumpState
from itbconsole.model import PumpEvent


class EventKind:
    """Event log entry kinds (the protocol's event names)."""

    REFILL = "refill"
    PROGRAM_CHANGE = "program_change"
    PATIENT_BOLUS = "patient_bolus"
    PATIENT_BOLUS_DENIED = "patient_bolus_denied"
    SINGLE_BOLUS = "single_bolus"
    BRIDGE_BOLUS = "bridge_bolus"
    DELIVERY_STOPPED = "delivery_stopped"
    DELIVERY_RESUMED = "delivery_resumed"
    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_TEST = "alarm_test"
    CLOCK_SET = "clock_set"
    RESET = "reset"


class EventLog(PumpState):
    """Writes and pages the pump's event log."""

    def _log(self, kind: str, detail: dict[str, Any]) -> None:
        index = len(self._events)  # 0-based and gapless: the log is never truncated
        self._events.append(
            PumpEvent(self.serial, index, self.pump_clock_at(self._now), kind, detail)
        )

    def events(self, start: int = 0, limit: int | None = None) -> list[PumpEvent]:
        """Event log entries with index >= ``start``, oldest first (resumable paging).
        Indices start at 0 and each new event takes the next one."""
        with self._lock:
            self._sync()
            out = self._events[max(0, start) :]
            return out if limit is None else out[:limit]

    @property
    def event_count(self) -> int:
        """Events ever logged: also the index the next event will get."""
        with self._lock:
            self._sync()
            return len(self._events)
