"""The codec's exceptions: everything it rejects is a ``ProtocolError``.

Separate so that every part of the codec (framing, field values, program block, messages)
raises from one family without importing the others; callers catch ``ProtocolError`` or one
of its subclasses and never anything else from decoding.
"""

from __future__ import annotations

from drivers.protocol.version import SUPPORTED_VERSIONS


class ProtocolError(Exception):
    """Anything the codec rejects. Subclasses say what; none is ever raised for a valid frame."""


class FrameError(ProtocolError):
    """A run of bytes between flags is not a valid frame. ``data`` is the stuffed segment."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class CrcError(FrameError):
    """The frame's CRC-32 does not match: bytes were corrupted on the way."""


class FramingError(FrameError):
    """Bad escape, too short, too long, or a length field that disagrees with the frame."""


class PayloadError(ProtocolError):
    """The frame is intact but its payload does not parse as the message its type names."""


class UnknownMessageType(ProtocolError):
    def __init__(self, type_code: int) -> None:
        super().__init__(f"unknown message type 0x{type_code:02X}")
        self.type_code = type_code


class VersionMismatch(ProtocolError):
    def __init__(self, version: int) -> None:
        super().__init__(
            f"frame is protocol version {version}; this side speaks {sorted(SUPPORTED_VERSIONS)}"
        )
        self.version = version


class EncodeError(ProtocolError, ValueError):
    """A value cannot be carried exactly by the wire format (out of range, too precise)."""
