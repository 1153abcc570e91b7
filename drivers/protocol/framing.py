"""Frames on the wire: flags, byte stuffing, CRC-32, the header, and the incremental decoder.

The byte layer of the protocol (docs/protocol.md, "Frame"). It knows nothing about what a
payload means: :meth:`Frame.message` hands the payload to the message catalogue, imported
when it is called because the catalogue itself builds on the limits defined here.

Why a CRC-32 and byte stuffing: the link runs over an inductive programmer head where bytes
are lost or flipped; a flag byte lets the receiver resynchronise on the next frame after
garbage, and CRC-32 (with the length and strict payload checks) makes accepting a corrupted
frame vanishingly unlikely.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drivers.protocol.errors import CrcError, EncodeError, FrameError, FramingError
from drivers.protocol.version import PROTOCOL_VERSION

if TYPE_CHECKING:
    from drivers.protocol.fields import Message

FLAG = 0x7E
ESC = 0x7D
ESC_XOR = 0x20
HEADER_SIZE = 5  # version, seq, type, length (u16 LE)
CRC_SIZE = 4
MAX_PAYLOAD = 1024
MAX_RAW_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected, init and xorout 0xFFFFFFFF); check value for
    b"123456789" is 0xCBF43926. zlib's C implementation keeps the codec fast."""
    return zlib.crc32(data) & 0xFFFFFFFF


def stuff(raw: bytes) -> bytes:
    """Escape FLAG and ESC: each becomes ESC, byte ^ 0x20 (as in HDLC/PPP)."""
    return raw.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


def unstuff(stuffed: bytes) -> bytes:
    """Inverse of :func:`stuff`; raises FramingError on a lone or invalid escape."""
    n_esc = stuffed.count(b"\x7d")
    if n_esc:
        if n_esc != stuffed.count(b"\x7d\x5d") + stuffed.count(b"\x7d\x5e"):
            raise FramingError("invalid escape sequence", stuffed)
        return stuffed.replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")
    return stuffed


@dataclass(frozen=True)
class Frame:
    """One checked frame. ``crc`` identifies the request exactly (used by the pump's
    reply cache together with ``seq``)."""

    version: int
    seq: int
    type: int
    payload: bytes
    crc: int = 0

    def message(self) -> Message:
        # Imported here: the message catalogue builds on this module's limits and CRC.
        from drivers.protocol.messages import decode_message

        return decode_message(self.type, self.payload, self.version)


def encode_raw(version: int, seq: int, type_code: int, payload: bytes) -> bytes:
    """Header + payload + CRC, before stuffing."""
    if not 0 <= seq <= 0xFF:
        raise EncodeError(f"sequence number {seq} is not 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise EncodeError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<BBBH", version, seq, type_code, len(payload)) + payload
    return body + struct.pack("<I", crc32(body))


def encode_frame(message: Message, seq: int, version: int = PROTOCOL_VERSION) -> bytes:
    """Wire bytes of ``message`` with sequence number ``seq``: FLAG, stuffed frame, FLAG."""
    raw = encode_raw(version, seq, message.TYPE, message.encode_payload(version))
    return b"\x7e" + stuff(raw) + b"\x7e"


def _check_raw(raw: bytes, stuffed: bytes) -> Frame:
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise FramingError(f"frame of {len(raw)} bytes is too short", stuffed)
    if len(raw) > MAX_RAW_FRAME:
        raise FramingError(f"frame of {len(raw)} bytes is too long", stuffed)
    (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_SIZE)
    if crc32(raw[:-CRC_SIZE]) != crc:
        raise CrcError("CRC mismatch", stuffed)
    version, seq, type_code, length = struct.unpack_from("<BBBH", raw)
    if length != len(raw) - HEADER_SIZE - CRC_SIZE:
        raise FramingError("length field disagrees with the frame", stuffed)
    return Frame(version, seq, type_code, bytes(raw[HEADER_SIZE:-CRC_SIZE]), crc)


def decode_frame(wire: bytes) -> Frame:
    """Decode exactly one frame; leading/trailing flags are optional."""
    stuffed = bytes(wire).strip(b"\x7e")
    if b"\x7e" in stuffed:
        raise FramingError("more than one frame", stuffed)
    return _check_raw(unstuff(stuffed), stuffed)


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive (split or merged arbitrarily).

    Returns each complete segment as a :class:`Frame` or as a :class:`FrameError`
    *value* (not raised, so one bad frame never hides the good one behind it). Garbage is
    discarded up to the next flag; a segment that grows past the longest legal frame is
    dropped without buffering it. Empty segments (back-to-back flags) are ignored.
    """

    _MAX_STUFFED = 2 * MAX_RAW_FRAME

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self._started = False

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False
        self._started = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        parts = bytes(data).split(b"\x7e")
        self._append(parts[0])
        for part in parts[1:]:
            self._finish(out)
            self._started = True
            self._append(part)
        return out

    def _append(self, part: bytes) -> None:
        if self._overflow or not part:
            return
        self._buf += part
        if len(self._buf) > self._MAX_STUFFED:
            self._buf.clear()
            self._overflow = True

    def _finish(self, out: list[Frame | FrameError]) -> None:
        if self._overflow:
            out.append(FramingError("frame too long; discarded"))
        elif self._buf:
            stuffed = bytes(self._buf)
            try:
                out.append(_check_raw(unstuff(stuffed), stuffed))
            except FrameError as exc:
                out.append(exc)
        self._buf.clear()
        self._overflow = False

    def bytes_hint(self) -> int:
        """A lower bound on the wire bytes still needed to complete the frame in progress
        (1 when idle). A reader may block for exactly this many bytes without ever
        waiting for bytes a well-formed frame would not send."""
        if self._overflow or not self._started or not self._buf:
            return 1
        raw_len = len(self._buf) - self._buf.count(0x7D)
        if raw_len < HEADER_SIZE:
            return 1
        head = bytes(self._buf[: 2 * HEADER_SIZE])
        if head.endswith(b"\x7d"):
            head = head[:-1]
        try:
            header = unstuff(head)
        except FramingError:
            return 1
        if len(header) < HEADER_SIZE:
            return 1
        (length,) = struct.unpack_from("<H", header, 3)
        if length > MAX_PAYLOAD:
            return 1
        return max(1, HEADER_SIZE + length + CRC_SIZE - raw_len + 1)
