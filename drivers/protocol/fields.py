"""The generic message codec: every message field declares its wire form in its metadata,
and one encoder and one decoder walk the fields in order, so a message's byte layout is
exactly its field order.

Separate from the catalogue (:mod:`drivers.protocol.messages`) because this is the one
place where a payload becomes values and back; the catalogue only declares fields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from drivers.protocol.errors import EncodeError, ProtocolError
from drivers.protocol.event_records import pack_events, read_events
from drivers.protocol.framing import MAX_PAYLOAD
from drivers.protocol.program_block import encode_program, read_program
from drivers.protocol.pump_time import NO_DATE, pump_date, pump_days
from drivers.protocol.version import PROTOCOL_VERSION
from drivers.protocol.wire_values import (
    INT_FORMATS,
    PayloadReader,
    malformed,
    pack_int,
    pack_str,
    read_str,
)


def field_meta(kind: str, unit: str = "", doc: str = "", since: int = 1) -> dict[str, Any]:
    """Field metadata: wire form, unit and meaning (the doc tables list the same), and the
    protocol version that added the field (it is on the wire from that version on; decoded
    from an older version it takes its default, None)."""
    return {"wire": kind, "unit": unit, "doc": doc, "since": since}


def _in_version(f: Any, version: int) -> bool:
    return int(f.metadata.get("since", 1)) <= version


def _encode_field(kind: str, value: Any, name: str) -> bytes:
    if kind in INT_FORMATS:
        return pack_int(kind, value, name)
    if kind == "str8":
        if not isinstance(value, str):
            raise EncodeError(f"{name} must be text")
        return pack_str(value, name)
    if kind == "date?":
        return pack_int("u16", NO_DATE if value is None else pump_days(value), name)
    if kind == "program":
        return encode_program(value)
    if kind == "events":
        return pack_events(tuple(value))
    raise AssertionError(kind)


def _decode_field(kind: str, r: PayloadReader) -> Any:
    if kind in INT_FORMATS:
        return r.int(kind)
    if kind == "str8":
        return read_str(r)
    if kind == "date?":
        days = r.int("u16")
        return None if days == NO_DATE else pump_date(days)
    if kind == "program":
        return read_program(r)
    if kind == "events":
        return read_events(r)
    raise AssertionError(kind)


@dataclass(frozen=True)
class Message:
    """Base of every message. Subclasses set ``TYPE`` and declare fields in wire order."""

    TYPE: ClassVar[int] = -1
    #: Largest payload this message can have (used to size reply timeouts).
    MAX_SIZE: ClassVar[int] = MAX_PAYLOAD

    def encode_payload(self, version: int = PROTOCOL_VERSION) -> bytes:
        """The payload as ``version`` lays it out (fields added later are left out)."""
        return b"".join(
            _encode_field(f.metadata["wire"], getattr(self, f.name), f.name)
            for f in fields(self)
            if _in_version(f, version)
        )

    @classmethod
    def decode_payload(cls, payload: bytes, version: int = PROTOCOL_VERSION) -> Message:
        """Parse ``payload`` as this message in ``version``'s layout; raises only
        ProtocolError subclasses.

        A CRC-valid frame whose payload does not parse is damage the receiver must answer
        (NAK BAD_PAYLOAD) or discard; an untyped exception escaping here would instead kill
        the thread reading the line. So every failure on the way, whatever raised it (a
        model rule, struct, Decimal, text decoding), becomes a PayloadError."""
        try:
            r = PayloadReader(payload)
            values = {
                f.name: _decode_field(f.metadata["wire"], r)
                for f in fields(cls)
                if _in_version(f, version)
            }
            r.end()
            return cls(**values)
        except ProtocolError:
            raise
        except Exception as exc:
            raise malformed(cls.__name__, exc) from exc

    @property
    def is_request(self) -> bool:
        return self.TYPE < 0x80
