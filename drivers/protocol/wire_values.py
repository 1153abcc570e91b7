"""Field values on the wire: little-endian integers, length-prefixed UTF-8 text, and doses
as exact integer nanograms.

Separate because the program block, the event records and every message field are built
from these same few primitives. Doses travel as integer nanograms (0.001 mcg) so a program
round-trips exactly.
"""

from __future__ import annotations

import struct
from decimal import Decimal

from drivers.protocol.errors import EncodeError, PayloadError

INT_FORMATS = {"u8": "<B", "u16": "<H", "u32": "<I", "i32": "<i"}


class PayloadReader:
    """Reads a payload front to back; running short is a PayloadError, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PayloadError("payload is shorter than its message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self, kind: str) -> int:
        fmt = INT_FORMATS[kind]
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise PayloadError(f"{len(self.data) - self.pos} unexpected bytes after the message")


def pack_int(kind: str, value: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{name} must be an integer, not {value!r}")
    try:
        return struct.pack(INT_FORMATS[kind], value)
    except struct.error:
        raise EncodeError(f"{name}={value} does not fit {kind}") from None


def pack_str(value: str, name: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise EncodeError(f"{name} is longer than 255 bytes")
    return bytes([len(raw)]) + raw


def read_str(r: PayloadReader) -> str:
    n = r.int("u8")
    try:
        return r.take(n).decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("text is not UTF-8") from None


def mcg_to_ng(dose: Decimal, name: str = "dose") -> int:
    """Exact Decimal micrograms -> integer nanograms; refuses anything finer than 0.001 mcg."""
    if not isinstance(dose, Decimal) or not dose.is_finite():
        raise EncodeError(f"{name} must be a finite Decimal, not {dose!r}")
    scaled = dose.scaleb(3)
    if scaled != scaled.to_integral_value():
        raise EncodeError(f"{name} {dose} mcg is more precise than 0.001 mcg")
    return int(scaled)


def ng_to_mcg(ng: int) -> Decimal:
    """Integer nanograms -> Decimal micrograms, without a positive exponent (500000 -> 500)."""
    if ng % 1000 == 0:
        return Decimal(ng // 1000)
    return Decimal(ng).scaleb(-3).normalize()


def malformed(what: str, exc: Exception) -> PayloadError:
    """The PayloadError for a payload whose parsing failed in an unforeseen way. Parsing is a
    pure function of bytes that already passed their CRC, so whatever it raised means these
    bytes are not a valid ``what``; the original exception stays chained for the log."""
    if isinstance(exc, ValueError):  # a model rule (ModelError) or a value out of range
        return PayloadError(f"{what}: {exc}")
    return PayloadError(f"{what} does not parse ({type(exc).__name__}: {exc})")
