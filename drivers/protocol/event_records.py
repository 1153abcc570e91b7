"""Event log records as they travel in an Events page: 13 bytes each, at most 64 a page.

Separate because the record layout and the page limit are shared by the Events reply, the
reply-size rule that sizes timeouts, and the simulated pump that fills the pages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.protocol.errors import EncodeError, PayloadError
from drivers.protocol.wire_values import PayloadReader

MAX_EVENTS_PER_PAGE = 64
EVENT_RECORD_SIZE = 13


@dataclass(frozen=True)
class EventRecord:
    """One pump log entry as on the wire (index implied by its position in the page)."""

    kind: int
    clock_s: int
    a: int = 0
    b: int = 0


_EVENT = struct.Struct("<BIii")


def pack_events(events: tuple[EventRecord, ...]) -> bytes:
    if len(events) > MAX_EVENTS_PER_PAGE:
        raise EncodeError(f"at most {MAX_EVENTS_PER_PAGE} events per page")
    out = bytearray([len(events)])
    for ev in events:
        try:
            out += _EVENT.pack(ev.kind, ev.clock_s, ev.a, ev.b)
        except struct.error:
            raise EncodeError(f"event {ev} does not fit its record") from None
    return bytes(out)


def read_events(r: PayloadReader) -> tuple[EventRecord, ...]:
    n = r.int("u8")
    if n > MAX_EVENTS_PER_PAGE:
        raise PayloadError(f"page of {n} events exceeds {MAX_EVENTS_PER_PAGE}")
    raw = r.take(n * EVENT_RECORD_SIZE)
    return tuple(EventRecord(*t) for t in _EVENT.iter_unpack(raw))
