"""ITB link protocol, version 1: frames, CRC, messages. Pure codec; no I/O, no Qt.

The wire format is specified in docs/protocol.md; this module is its only implementation,
shared by the console's driver (:mod:`drivers.link`) and by the simulated pump.

API summary (names are stable)
------------------------------
Constants
    ``PROTOCOL_VERSION`` (1), ``FLAG`` (0x7E), ``ESC`` (0x7D), ``MAX_PAYLOAD`` (1024),
    ``MAX_EVENTS_PER_PAGE`` (64), ``DEFAULT_BAUD`` (115200), ``PUMP_EPOCH`` (2000-01-01 UTC).
Frames
    ``encode_frame(message, seq, version=PROTOCOL_VERSION) -> bytes``   wire bytes, flags included
    ``decode_frame(wire) -> Frame``            exactly one frame (flags optional); raises FrameError
    ``Frame(version, seq, type, payload, crc)``; ``frame.message() -> Message``
    ``FrameDecoder().feed(data) -> list[Frame | FrameError]``   incremental, resynchronising;
        ``.bytes_hint()`` lower bound of bytes still to come for the frame in progress.
Messages (frozen dataclasses; ``Message.TYPE`` is the type code; replies are request | 0x80)
    requests : Identify, GetStatus, ReadProgram, StageProgram, CommitProgram, UpdateReservoir,
               SingleBolus, AcknowledgeAlarms, AlarmTest, ReadClock, SetClock, ReadEvents,
               GetDiagnostics
    replies  : Identity, Status, ProgramReply, Staged, Committed, ReservoirUpdated,
               BolusAccepted, Alarms, AlarmTestDone, Clock, ClockSet, Events, Diagnostics
    errors   : Refused(code, reason), Busy(retry_after_ms), Nak(code, min_version, max_version)
    ``REPLY_FOR[request_type] -> reply class``; ``MESSAGE_TYPES[type] -> class``
    ``decode_message(type, payload, version=PROTOCOL_VERSION) -> Message``
Program
    ``encode_program(Program) -> bytes``, ``decode_program(bytes) -> Program``,
    ``program_checksum(Program) -> int`` (CRC-32 of the encoding; echoed by Staged).
Codes and names
    ``ALARM_BITS`` name -> bit, ``alarm_names(mask)``, ``alarm_mask(names)``;
    ``EVENT_KINDS`` code -> EventKind(name, a, b); ``CAPABILITY_BITS``; ``NakCode``,
    ``RefusalCode``, ``Mode`` <-> ``MODE_CODES``.
Time
    ``pump_seconds(datetime) -> int``, ``pump_datetime(int) -> datetime`` (see docs: the pump clock
    is kept on UTC), ``pump_days(date) -> int``, ``pump_date(int) -> date``.
Timing
    ``wire_time_s(nbytes, baud)``, ``reply_timeout_s(request_bytes, reply_bytes, baud)``.
Errors (all ``ProtocolError``)
    FrameError > CrcError, FramingError;  PayloadError, UnknownMessageType, VersionMismatch,
    EncodeError (a value the wire format cannot carry exactly). Decoding raises nothing else,
    whatever the bytes: a payload that fails to parse for any reason is a PayloadError.

Why a CRC-32 and byte stuffing: the link runs over an inductive programmer head where bytes
are lost or flipped; a flag byte lets the receiver resynchronise on the next frame after
garbage, and CRC-32 (with the length and strict payload checks) makes accepting a corrupted
frame vanishingly unlikely. Doses travel as integer nanograms (0.001 mcg) so a program
round-trips exactly.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from itbconsole.model import FlexStep, Mode, ModelError, PatientBolus, Program

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
FLAG = 0x7E
ESC = 0x7D
ESC_XOR = 0x20
HEADER_SIZE = 5  # version, seq, type, length (u16 LE)
CRC_SIZE = 4
MAX_PAYLOAD = 1024
MAX_RAW_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_EVENTS_PER_PAGE = 64
EVENT_RECORD_SIZE = 13
DEFAULT_BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
#: The pump must start its reply within this time after the request's closing flag.
PUMP_TURNAROUND_S = 0.1


def inter_byte_timeout_s(baud: int) -> float:
    """Longest silence allowed inside a frame: 20 character times, but never under 20 ms
    (USB serial adapters deliver in bursts)."""
    return max(0.02, 20 * BITS_PER_BYTE / baud)


PUMP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NO_DATE = 0xFFFF


# =========================================================================== errors


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


# =========================================================================== CRC and stuffing


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


# =========================================================================== frames


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
    raw = encode_raw(version, seq, message.TYPE, message.encode_payload())
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


# =========================================================================== time


def pump_seconds(moment: datetime) -> int:
    """Pump clock value (whole seconds since 2000-01-01 00:00:00 on the pump's clock, which
    the console keeps on UTC) for an aware datetime."""
    if moment.tzinfo is None:
        raise EncodeError("pump clock conversion needs a timezone-aware time")
    delta = moment.astimezone(UTC) - PUMP_EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise EncodeError(f"{moment.isoformat()} is outside the pump clock range")
    return seconds


def pump_datetime(seconds: int) -> datetime:
    """Inverse of :func:`pump_seconds`: the pump's clock reading as an aware UTC datetime."""
    return PUMP_EPOCH + timedelta(seconds=seconds)


def pump_days(day: date) -> int:
    n = (day - PUMP_EPOCH.date()).days
    if not 0 <= n < NO_DATE:
        raise EncodeError(f"{day.isoformat()} is outside the pump date range")
    return n


def pump_date(days: int) -> date:
    return PUMP_EPOCH.date() + timedelta(days=days)


# =========================================================================== timing


def wire_time_s(nbytes: int, baud: int) -> float:
    """Seconds to send ``nbytes`` at ``baud`` with 8N1 (10 bits per byte)."""
    return nbytes * BITS_PER_BYTE / baud


def max_wire_size(payload_len: int) -> int:
    """Worst-case wire bytes of a frame with this payload (every byte escaped)."""
    return 2 + 2 * (HEADER_SIZE + payload_len + CRC_SIZE)


def reply_timeout_s(request_bytes: int, reply_payload_max: int, baud: int) -> float:
    """How long to wait for a complete reply after starting to send a request: request wire
    time + pump turnaround + worst-case reply wire time, with 50 % margin on the wire parts
    and 50 ms for OS and USB-adapter latency."""
    wire = wire_time_s(request_bytes + max_wire_size(reply_payload_max), baud)
    return 1.5 * wire + PUMP_TURNAROUND_S + 0.05


# =========================================================================== codes


class NakCode(enum.IntEnum):
    """Why the pump could not even read a request. A NAKed request was NOT executed."""

    FRAME_ERROR = 1  # CRC, escape or length error; seq of the NAK may not be the request's
    UNKNOWN_TYPE = 2
    BAD_PAYLOAD = 3
    UNSUPPORTED_VERSION = 4


class RefusalCode(enum.IntEnum):
    """Why the pump declined a request it understood. Definitive; cached like a reply."""

    NOT_STAGED = 1
    CHECKSUM_MISMATCH = 2
    OUT_OF_RANGE = 3
    END_OF_SERVICE = 4
    MOTOR_STALL = 5
    RESERVOIR_EMPTY = 6
    NOT_SUPPORTED = 7
    INVALID_STATE = 8
    BAD_PROGRAM = 9
    OTHER = 255


ALARM_BITS: dict[str, int] = {
    "low_reservoir": 0,
    "reservoir_empty": 1,
    "eri": 2,
    "end_of_service": 3,
    "motor_stall": 4,
    "memory_fault": 5,
    "pump_reset": 6,
    "clock_lost": 7,
}


def alarm_names(mask: int) -> tuple[str, ...]:
    """Names of the set bits, in bit order; unknown bits become ``"alarm_bit_N"``."""
    by_bit = {bit: name for name, bit in ALARM_BITS.items()}
    return tuple(by_bit.get(b, f"alarm_bit_{b}") for b in range(16) if mask >> b & 1)


def alarm_mask(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        if name not in ALARM_BITS:
            raise EncodeError(f"unknown alarm '{name}'")
        mask |= 1 << ALARM_BITS[name]
    return mask


CAPABILITY_BITS: dict[str, int] = {
    "flex": 0,
    "weekday_flex": 1,
    "patient_bolus": 2,
    "single_bolus": 3,
    "bridge_bolus": 4,
    "alarm_test": 5,
    "set_clock": 6,
    "diagnostics": 7,
    # A simulated (training) pump: never a patient's. A clinic database refuses its data.
    "simulated": 31,
}

POWER_ERI = 0x01
POWER_EOS = 0x02

MODE_CODES: dict[Mode, int] = {
    Mode.STOPPED: 0,
    Mode.SIMPLE_CONTINUOUS: 1,
    Mode.FLEX: 2,
    Mode.SINGLE_BOLUS: 3,
}
_MODES_BY_CODE = {code: mode for mode, code in MODE_CODES.items()}

DRUG_CODES: dict[int, str] = {0: "unspecified", 1: "baclofen"}


@dataclass(frozen=True)
class EventKind:
    """An event code's name and what its two integer arguments mean (with units)."""

    name: str
    a: str = ""
    b: str = ""


EVENT_KINDS: dict[int, EventKind] = {
    1: EventKind("refill", "reservoir_ul", "concentration_mcg_ml"),
    2: EventKind("program_change", "daily_dose_ng", "mode"),
    3: EventKind("patient_bolus", "dose_ng", "duration_min"),
    4: EventKind("single_bolus", "dose_ng", "duration_min"),
    5: EventKind("bridge_bolus", "volume_ul", "duration_min"),
    6: EventKind("priming_bolus", "volume_ul", "duration_min"),
    7: EventKind("alarm_raised", "alarm_bit"),
    8: EventKind("alarm_cleared", "alarm_bit"),
    9: EventKind("alarm_acknowledged", "alarm_mask"),
    10: EventKind("alarm_test"),
    11: EventKind("clock_set", "old_clock_s", "new_clock_s"),
    12: EventKind("reset", "reason"),
    13: EventKind("delivery_stopped", "alarm_bit"),
    14: EventKind("delivery_resumed"),
    15: EventKind("patient_bolus_denied", "dose_ng"),
}
EVENT_CODES: dict[str, int] = {kind.name: code for code, kind in EVENT_KINDS.items()}


# =========================================================================== field codecs
#
# Every message field declares its wire form in its metadata; one generic encoder and
# decoder walk the fields in order, so the byte layout is exactly the field order below.

_INT_FORMATS = {"u8": "<B", "u16": "<H", "u32": "<I", "i32": "<i"}


def _m(kind: str, unit: str = "", doc: str = "") -> dict[str, str]:
    """Field metadata: wire form, unit and meaning (the doc tables list the same)."""
    return {"wire": kind, "unit": unit, "doc": doc}


class _Reader:
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
        fmt = _INT_FORMATS[kind]
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise PayloadError(f"{len(self.data) - self.pos} unexpected bytes after the message")


def _pack_int(kind: str, value: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{name} must be an integer, not {value!r}")
    try:
        return struct.pack(_INT_FORMATS[kind], value)
    except struct.error:
        raise EncodeError(f"{name}={value} does not fit {kind}") from None


def _pack_str(value: str, name: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise EncodeError(f"{name} is longer than 255 bytes")
    return bytes([len(raw)]) + raw


def _read_str(r: _Reader) -> str:
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


# --------------------------------------------------------------------------- program


def _pack_steps(steps: tuple[FlexStep, ...], out: bytearray) -> None:
    if len(steps) > 255:
        raise EncodeError("too many flex steps")
    out += bytes([len(steps)])
    for step in steps:
        out += _pack_int("u16", step.start_minute, "flex step start")
        out += _pack_int("u32", mcg_to_ng(step.rate_mcg_per_hour, "flex rate"), "flex rate ng/h")


def _read_steps(r: _Reader) -> tuple[FlexStep, ...]:
    n = r.int("u8")
    return tuple(FlexStep(r.int("u16"), ng_to_mcg(r.int("u32"))) for _ in range(n))


def encode_program(program: Program) -> bytes:
    """Canonical bytes of a program (layout in docs/protocol.md, "Program block")."""
    out = bytearray()
    out += bytes([MODE_CODES[program.mode]])
    out += _pack_int("u32", mcg_to_ng(program.daily_dose_mcg, "daily dose"), "daily dose ng")
    out += _pack_int("u32", mcg_to_ng(program.bolus_dose_mcg, "bolus dose"), "bolus dose ng")
    out += _pack_int("u32", program.bolus_duration_minutes, "bolus duration")
    _pack_steps(program.flex_steps, out)
    if len(program.flex_weekday_steps) > 7:
        raise EncodeError("more than 7 weekday schedules")
    out += bytes([len(program.flex_weekday_steps)])
    for day, steps in program.flex_weekday_steps:
        out += _pack_int("u8", day, "weekday")
        _pack_steps(steps, out)
    pb = program.patient_bolus
    if pb is None:
        out += b"\x00"
    else:
        out += b"\x01"
        out += _pack_int("u32", mcg_to_ng(pb.dose_mcg, "patient bolus dose"), "patient bolus ng")
        out += _pack_int("u32", pb.duration_minutes, "patient bolus duration")
        out += _pack_int("u32", pb.lockout_minutes, "patient bolus lockout")
        out += _pack_int("u16", pb.max_per_day, "patient boluses per day")
    return bytes(out)


def _read_program(r: _Reader) -> Program:
    """Parse a program block. The model's own rules run while the block is read (a flex step
    starting at minute 1440 or later fails as it is built, before the program is), so the
    whole read sits inside the one place that turns a broken rule into a PayloadError."""
    code = r.int("u8")
    if code not in _MODES_BY_CODE:
        raise PayloadError(f"unknown program mode {code}")
    daily = ng_to_mcg(r.int("u32"))
    bolus = ng_to_mcg(r.int("u32"))
    bolus_minutes = r.int("u32")
    try:
        steps = _read_steps(r)
        weekday = tuple((r.int("u8"), _read_steps(r)) for _ in range(r.int("u8")))
        flag = r.int("u8")
        if flag not in (0, 1):
            raise PayloadError("patient bolus flag must be 0 or 1")
        pb = (
            PatientBolus(ng_to_mcg(r.int("u32")), r.int("u32"), r.int("u32"), r.int("u16"))
            if flag
            else None
        )
        return Program(_MODES_BY_CODE[code], daily, steps, weekday, bolus, bolus_minutes, pb)
    except ModelError as exc:
        raise PayloadError(f"program is not valid: {exc}") from None


def _malformed(what: str, exc: Exception) -> PayloadError:
    """The PayloadError for a payload whose parsing failed in an unforeseen way. Parsing is a
    pure function of bytes that already passed their CRC, so whatever it raised means these
    bytes are not a valid ``what``; the original exception stays chained for the log."""
    if isinstance(exc, ValueError):  # a model rule (ModelError) or a value out of range
        return PayloadError(f"{what}: {exc}")
    return PayloadError(f"{what} does not parse ({type(exc).__name__}: {exc})")


def decode_program(data: bytes) -> Program:
    """Parse a whole program block. Raises only PayloadError (see :func:`_malformed`), so a
    caller holding bytes from the wire never has to guess what else could escape."""
    try:
        r = _Reader(data)
        program = _read_program(r)
        r.end()
    except ProtocolError:
        raise
    except Exception as exc:
        raise _malformed("program block", exc) from exc
    return program


def program_checksum(program: Program) -> int:
    """The checksum the pump echoes after staging and the console sends with commit."""
    return crc32(encode_program(program))


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class EventRecord:
    """One pump log entry as on the wire (index implied by its position in the page)."""

    kind: int
    clock_s: int
    a: int = 0
    b: int = 0


_EVENT = struct.Struct("<BIii")


def _pack_events(events: tuple[EventRecord, ...]) -> bytes:
    if len(events) > MAX_EVENTS_PER_PAGE:
        raise EncodeError(f"at most {MAX_EVENTS_PER_PAGE} events per page")
    out = bytearray([len(events)])
    for ev in events:
        try:
            out += _EVENT.pack(ev.kind, ev.clock_s, ev.a, ev.b)
        except struct.error:
            raise EncodeError(f"event {ev} does not fit its record") from None
    return bytes(out)


def _read_events(r: _Reader) -> tuple[EventRecord, ...]:
    n = r.int("u8")
    if n > MAX_EVENTS_PER_PAGE:
        raise PayloadError(f"page of {n} events exceeds {MAX_EVENTS_PER_PAGE}")
    raw = r.take(n * EVENT_RECORD_SIZE)
    return tuple(EventRecord(*t) for t in _EVENT.iter_unpack(raw))


# --------------------------------------------------------------------------- generic


def _encode_field(kind: str, value: Any, name: str) -> bytes:
    if kind in _INT_FORMATS:
        return _pack_int(kind, value, name)
    if kind == "str8":
        if not isinstance(value, str):
            raise EncodeError(f"{name} must be text")
        return _pack_str(value, name)
    if kind == "date?":
        return _pack_int("u16", NO_DATE if value is None else pump_days(value), name)
    if kind == "program":
        return encode_program(value)
    if kind == "events":
        return _pack_events(tuple(value))
    raise AssertionError(kind)


def _decode_field(kind: str, r: _Reader) -> Any:
    if kind in _INT_FORMATS:
        return r.int(kind)
    if kind == "str8":
        return _read_str(r)
    if kind == "date?":
        days = r.int("u16")
        return None if days == NO_DATE else pump_date(days)
    if kind == "program":
        return _read_program(r)
    if kind == "events":
        return _read_events(r)
    raise AssertionError(kind)


# =========================================================================== messages


@dataclass(frozen=True)
class Message:
    """Base of every message. Subclasses set ``TYPE`` and declare fields in wire order."""

    TYPE: ClassVar[int] = -1
    #: Largest payload this message can have (used to size reply timeouts).
    MAX_SIZE: ClassVar[int] = MAX_PAYLOAD

    def encode_payload(self) -> bytes:
        return b"".join(
            _encode_field(f.metadata["wire"], getattr(self, f.name), f.name) for f in fields(self)
        )

    @classmethod
    def decode_payload(cls, payload: bytes) -> Message:
        """Parse ``payload`` as this message; raises only ProtocolError subclasses.

        A CRC-valid frame whose payload does not parse is damage the receiver must answer
        (NAK BAD_PAYLOAD) or discard; an untyped exception escaping here would instead kill
        the thread reading the line. So every failure on the way, whatever raised it (a
        model rule, struct, Decimal, text decoding), becomes a PayloadError."""
        try:
            r = _Reader(payload)
            values = {f.name: _decode_field(f.metadata["wire"], r) for f in fields(cls)}
            r.end()
            return cls(**values)
        except ProtocolError:
            raise
        except Exception as exc:
            raise _malformed(cls.__name__, exc) from exc

    @property
    def is_request(self) -> bool:
        return self.TYPE < 0x80


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Identify(Message):
    """Opens every session (this also resets the pump's reply cache to a harmless entry)."""

    TYPE: ClassVar[int] = 0x01


@dataclass(frozen=True)
class GetStatus(Message):
    TYPE: ClassVar[int] = 0x02


@dataclass(frozen=True)
class ReadProgram(Message):
    TYPE: ClassVar[int] = 0x03


@dataclass(frozen=True)
class StageProgram(Message):
    """Phase 1 of a program write: the pump stores it aside and echoes its checksum."""

    TYPE: ClassVar[int] = 0x04
    program: Program = field(metadata=_m("program", doc="program block"))


@dataclass(frozen=True)
class CommitProgram(Message):
    """Phase 2: make the staged program active if its checksum is ``checksum``."""

    TYPE: ClassVar[int] = 0x05
    checksum: int = field(metadata=_m("u32", doc="CRC-32 of the staged program block"))


@dataclass(frozen=True)
class UpdateReservoir(Message):
    """After a refill: new volume, drug, concentration, optional bridge bolus."""

    TYPE: ClassVar[int] = 0x06
    volume_ul: int = field(metadata=_m("u32", "µL", "reservoir volume after the refill"))
    alarm_volume_ul: int = field(metadata=_m("u32", "µL", "low-reservoir alarm volume"))
    concentration_mcg_ml: int = field(metadata=_m("u32", "mcg/mL", "concentration of the new drug"))
    drug_code: int = field(metadata=_m("u16", "", "drug code (1 = baclofen)"))
    bridge_volume_ul: int = field(metadata=_m("u32", "µL", "bridge bolus volume (0 = none)"))
    bridge_duration_min: int = field(metadata=_m("u32", "min", "bridge bolus duration"))
    drug_name: str = field(metadata=_m("str8", "", "drug product name, UTF-8"))


@dataclass(frozen=True)
class SingleBolus(Message):
    TYPE: ClassVar[int] = 0x07
    dose_ng: int = field(metadata=_m("u32", "ng (0.001 mcg)", "bolus dose"))
    duration_min: int = field(metadata=_m("u32", "min", "bolus duration"))


@dataclass(frozen=True)
class AcknowledgeAlarms(Message):
    TYPE: ClassVar[int] = 0x08
    alarm_mask: int = field(metadata=_m("u16", "bitmask", "alarms to acknowledge (silence)"))


@dataclass(frozen=True)
class AlarmTest(Message):
    TYPE: ClassVar[int] = 0x09


@dataclass(frozen=True)
class ReadClock(Message):
    TYPE: ClassVar[int] = 0x0A


@dataclass(frozen=True)
class SetClock(Message):
    TYPE: ClassVar[int] = 0x0B
    clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "new pump clock value"))


@dataclass(frozen=True)
class ReadEvents(Message):
    TYPE: ClassVar[int] = 0x0C
    start_index: int = field(metadata=_m("u32", "", "first event index wanted"))
    max_count: int = field(
        metadata=_m("u8", "", f"at most this many events (1..{MAX_EVENTS_PER_PAGE})")
    )


@dataclass(frozen=True)
class GetDiagnostics(Message):
    TYPE: ClassVar[int] = 0x0D


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Identity(Message):
    TYPE: ClassVar[int] = 0x81
    MAX_SIZE: ClassVar[int] = 9 + 3 * 256
    protocol_version: int = field(metadata=_m("u8", "", "protocol version the pump speaks"))
    capabilities: int = field(metadata=_m("u32", "bitmask", "see Capabilities"))
    reservoir_capacity_ul: int = field(metadata=_m("u32", "µL", "reservoir capacity"))
    model: str = field(metadata=_m("str8", "", "model, UTF-8"))
    serial: str = field(metadata=_m("str8", "", "serial number, UTF-8"))
    firmware: str = field(metadata=_m("str8", "", "firmware version, UTF-8"))


@dataclass(frozen=True)
class Status(Message):
    TYPE: ClassVar[int] = 0x82
    MAX_SIZE: ClassVar[int] = 31 + 256
    clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "pump clock now"))
    reservoir_ul: int = field(metadata=_m("u32", "µL", "estimated reservoir volume"))
    alarm_volume_ul: int = field(metadata=_m("u32", "µL", "low-reservoir alarm volume"))
    alarm_date: date | None = field(
        metadata=_m(
            "date?", "days since 2000-01-01", "projected low-reservoir alarm date, 0xFFFF none"
        )
    )
    battery_mv: int = field(metadata=_m("u16", "mV", "battery voltage"))
    power_flags: int = field(
        metadata=_m("u8", "bits", "bit 0 ERI reached, bit 1 End of Service reached")
    )
    eri_date: date | None = field(
        metadata=_m(
            "date?", "days since 2000-01-01", "ERI date (reached or projected), 0xFFFF unknown"
        )
    )
    eos_date: date | None = field(
        metadata=_m("date?", "days since 2000-01-01", "End of Service date, 0xFFFF unknown")
    )
    active_alarms: int = field(metadata=_m("u16", "bitmask", "see Alarm bits"))
    concentration_mcg_ml: int = field(metadata=_m("u32", "mcg/mL", "drug concentration"))
    drug_code: int = field(metadata=_m("u16", "", "drug code"))
    drug_name: str = field(metadata=_m("str8", "", "drug product name, UTF-8"))


@dataclass(frozen=True)
class ProgramReply(Message):
    TYPE: ClassVar[int] = 0x83
    started_clock_s: int = field(
        metadata=_m("u32", "s since 2000-01-01", "when the active program started")
    )
    program: Program = field(metadata=_m("program", doc="program block"))


@dataclass(frozen=True)
class Staged(Message):
    TYPE: ClassVar[int] = 0x84
    MAX_SIZE: ClassVar[int] = 4
    checksum: int = field(metadata=_m("u32", "", "CRC-32 of the staged program block"))


@dataclass(frozen=True)
class Committed(Message):
    TYPE: ClassVar[int] = 0x85
    MAX_SIZE: ClassVar[int] = 8
    checksum: int = field(metadata=_m("u32", "", "checksum of the program now active"))
    started_clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "when it became active"))


@dataclass(frozen=True)
class ReservoirUpdated(Message):
    """Echo of what the pump stored (the console compares it with what it sent)."""

    TYPE: ClassVar[int] = 0x86
    volume_ul: int = field(metadata=_m("u32", "µL", "reservoir volume stored"))
    alarm_volume_ul: int = field(metadata=_m("u32", "µL", "alarm volume stored"))
    concentration_mcg_ml: int = field(metadata=_m("u32", "mcg/mL", "concentration stored"))
    drug_code: int = field(metadata=_m("u16", "", "drug code stored"))
    bridge_volume_ul: int = field(metadata=_m("u32", "µL", "bridge bolus volume started (0 none)"))
    bridge_duration_min: int = field(metadata=_m("u32", "min", "bridge bolus duration"))
    drug_name: str = field(metadata=_m("str8", "", "drug name stored"))


@dataclass(frozen=True)
class BolusAccepted(Message):
    TYPE: ClassVar[int] = 0x87
    MAX_SIZE: ClassVar[int] = 12
    dose_ng: int = field(metadata=_m("u32", "ng", "dose being delivered"))
    duration_min: int = field(metadata=_m("u32", "min", "duration"))
    ends_clock_s: int = field(
        metadata=_m("u32", "s since 2000-01-01", "pump clock when it will end")
    )


@dataclass(frozen=True)
class Alarms(Message):
    TYPE: ClassVar[int] = 0x88
    MAX_SIZE: ClassVar[int] = 4
    active_alarms: int = field(metadata=_m("u16", "bitmask", "alarms active"))
    acknowledged: int = field(metadata=_m("u16", "bitmask", "alarms acknowledged (silenced)"))


@dataclass(frozen=True)
class AlarmTestDone(Message):
    TYPE: ClassVar[int] = 0x89
    MAX_SIZE: ClassVar[int] = 0


@dataclass(frozen=True)
class Clock(Message):
    TYPE: ClassVar[int] = 0x8A
    MAX_SIZE: ClassVar[int] = 4
    clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "pump clock now"))


@dataclass(frozen=True)
class ClockSet(Message):
    TYPE: ClassVar[int] = 0x8B
    MAX_SIZE: ClassVar[int] = 8
    old_clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "clock before the change"))
    clock_s: int = field(metadata=_m("u32", "s since 2000-01-01", "clock after the change"))


@dataclass(frozen=True)
class Events(Message):
    TYPE: ClassVar[int] = 0x8C
    first_index: int = field(
        metadata=_m(
            "u32",
            "",
            "first index in this page (> start_index if older ones were overwritten)",
        )
    )
    next_index: int = field(metadata=_m("u32", "", "index to ask for next"))
    total: int = field(
        metadata=_m("u32", "", "events ever logged (index of the next event to be logged)")
    )
    events: tuple[EventRecord, ...] = field(
        metadata=_m("events", doc="u8 count, then count × 13-byte records")
    )


@dataclass(frozen=True)
class Diagnostics(Message):
    TYPE: ClassVar[int] = 0x8D
    MAX_SIZE: ClassVar[int] = 40
    uptime_s: int = field(metadata=_m("u32", "s", "time since the last reset"))
    frames_received: int = field(metadata=_m("u32", "", "frames received"))
    frames_sent: int = field(metadata=_m("u32", "", "frames sent"))
    crc_errors: int = field(metadata=_m("u32", "", "frames dropped for CRC or framing errors"))
    naks_sent: int = field(metadata=_m("u32", "", "NAKs sent"))
    busy_sent: int = field(metadata=_m("u32", "", "BUSY replies sent"))
    resets: int = field(metadata=_m("u16", "", "resets since manufacture"))
    battery_mv: int = field(metadata=_m("u16", "mV", "battery voltage"))
    motor_steps: int = field(metadata=_m("u32", "", "motor steps since manufacture"))
    motor_current_ua: int = field(metadata=_m("u32", "µA", "last motor current"))
    motor_stalls: int = field(metadata=_m("u16", "", "motor stalls detected"))


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Refused(Message):
    """The pump understood and declines; ``reason`` is plain text for the user."""

    TYPE: ClassVar[int] = 0xFD
    MAX_SIZE: ClassVar[int] = 2 + 255
    code: int = field(metadata=_m("u8", "", "RefusalCode"))
    reason: str = field(metadata=_m("str8", "", "reason, UTF-8"))


@dataclass(frozen=True)
class Busy(Message):
    """The pump cannot take the request now and did not execute it; ask again later."""

    TYPE: ClassVar[int] = 0xFE
    MAX_SIZE: ClassVar[int] = 2
    retry_after_ms: int = field(metadata=_m("u16", "ms", "ask again after this long"))


@dataclass(frozen=True)
class Nak(Message):
    """The pump could not read the request and did not execute it. Layout frozen across
    versions so a version mismatch can always be reported."""

    TYPE: ClassVar[int] = 0xFF
    MAX_SIZE: ClassVar[int] = 3
    code: int = field(metadata=_m("u8", "", "NakCode"))
    min_version: int = field(metadata=_m("u8", "", "lowest protocol version the pump speaks"))
    max_version: int = field(metadata=_m("u8", "", "highest protocol version the pump speaks"))


REQUESTS: tuple[type[Message], ...] = (
    Identify,
    GetStatus,
    ReadProgram,
    StageProgram,
    CommitProgram,
    UpdateReservoir,
    SingleBolus,
    AcknowledgeAlarms,
    AlarmTest,
    ReadClock,
    SetClock,
    ReadEvents,
    GetDiagnostics,
)
REPLIES: tuple[type[Message], ...] = (
    Identity,
    Status,
    ProgramReply,
    Staged,
    Committed,
    ReservoirUpdated,
    BolusAccepted,
    Alarms,
    AlarmTestDone,
    Clock,
    ClockSet,
    Events,
    Diagnostics,
)
ERROR_REPLIES: tuple[type[Message], ...] = (Refused, Busy, Nak)
MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls for cls in (*REQUESTS, *REPLIES, *ERROR_REPLIES)
}
REPLY_FOR: dict[int, type[Message]] = {req.TYPE: MESSAGE_TYPES[req.TYPE | 0x80] for req in REQUESTS}

for _req in REQUESTS:  # the reply-type rule is part of the spec; keep it true
    assert _req.TYPE | 0x80 in MESSAGE_TYPES, _req


def reply_max_size(request: Message) -> int:
    """Largest payload the reply to ``request`` can have (sizes the reply timeout)."""
    if isinstance(request, ReadEvents):
        return 13 + EVENT_RECORD_SIZE * min(request.max_count, MAX_EVENTS_PER_PAGE)
    return max(REPLY_FOR[request.TYPE].MAX_SIZE, Refused.MAX_SIZE)


def decode_message(type_code: int, payload: bytes, version: int = PROTOCOL_VERSION) -> Message:
    """Parse a payload as the message its type code names. NAK parses in every version."""
    cls = MESSAGE_TYPES.get(type_code)
    if cls is None:
        raise UnknownMessageType(type_code)
    if version not in SUPPORTED_VERSIONS and cls is not Nak:
        raise VersionMismatch(version)
    return cls.decode_payload(payload)


# =========================================================================== doc examples


def example_frames() -> list[tuple[str, int, Message]]:
    """(title, seq, message) for every example frame in docs/protocol.md; a test checks
    that the document shows exactly these encodings."""
    from itbconsole.model import simple_continuous

    flex = Program(
        Mode.FLEX,
        flex_steps=(FlexStep(0, Decimal("20.833")), FlexStep(420, Decimal("25"))),
        patient_bolus=PatientBolus(Decimal("50"), 15, 180, 4),
    )
    return [
        ("IDENTIFY", 0x10, Identify()),
        ("IDENTITY", 0x10, Identity(1, 0xFF, 40_000, "SIM-40", "NGP123456H", "1.4.2")),
        ("GET_STATUS", 0x11, GetStatus()),
        (
            "STATUS",
            0x11,
            Status(
                pump_seconds(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
                18_250,
                2_000,
                date(2026, 5, 14),
                2_950,
                0,
                date(2031, 1, 1),
                date(2031, 4, 1),
                0x0001,
                2_000,
                1,
                "Lioresal Intrathecal",
            ),
        ),
        ("READ_PROGRAM", 0x12, ReadProgram()),
        (
            "PROGRAM (simple continuous 500 mcg/day)",
            0x12,
            ProgramReply(826_000_000, simple_continuous(500)),
        ),
        ("STAGE_PROGRAM (flex, patient bolus)", 0x13, StageProgram(flex)),
        ("STAGED", 0x13, Staged(program_checksum(flex))),
        ("COMMIT_PROGRAM", 0x14, CommitProgram(program_checksum(flex))),
        ("COMMITTED", 0x14, Committed(program_checksum(flex), 826_000_100)),
        (
            "UPDATE_RESERVOIR (no bridge)",
            0x15,
            UpdateReservoir(40_000, 2_000, 2_000, 1, 0, 0, "Gablofen"),
        ),
        ("SINGLE_BOLUS (50 mcg over 60 min)", 0x16, SingleBolus(50_000_000, 60)),
        ("ACKNOWLEDGE_ALARMS (low reservoir)", 0x17, AcknowledgeAlarms(0x0001)),
        ("SET_CLOCK", 0x18, SetClock(826_000_000)),
        ("READ_EVENTS", 0x19, ReadEvents(0, 40)),
        (
            "EVENTS (two events)",
            0x19,
            Events(
                0,
                2,
                2,
                (EventRecord(1, 825_990_000, 40_000, 2_000), EventRecord(7, 825_999_000, 0, 0)),
            ),
        ),
        (
            "REFUSED",
            0x14,
            Refused(RefusalCode.CHECKSUM_MISMATCH, "Staged program checksum differs"),
        ),
        ("BUSY", 0x1A, Busy(200)),
        ("NAK (frame error)", 0x1A, Nak(NakCode.FRAME_ERROR, 1, 1)),
    ]
