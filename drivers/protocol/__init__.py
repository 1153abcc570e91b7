"""ITB link protocol, version 1: frames, CRC, messages. Pure codec; no I/O, no Qt.

The wire format is specified in docs/protocol.md; this package is its only implementation,
shared by the console's driver (:mod:`drivers.link`) and by the simulated pump. Every name
below is importable from the package itself (``from drivers import protocol as p; p.Frame``),
whichever module holds it.

Where each concept lives
------------------------
``version``         the protocol versions this side speaks
``errors``          ``ProtocolError`` and its subclasses
``framing``         flags, byte stuffing, CRC-32, ``Frame``, ``FrameDecoder``
``pump_time``       the pump clock and dates (seconds and days since 2000-01-01, UTC)
``timing``          wire time, pump turnaround, reply and inter-byte timeouts
``codes``           NAK and refusal codes, alarm/capability bits, modes, drugs, event kinds
``wire_values``     integers, text and nanogram doses on the wire
``program_block``   the program block, its parsing and its checksum
``event_records``   event log records and the page limit
``fields``          ``Message``, the generic field codec every message uses
``messages``        the message catalogue, the type tables and ``decode_message``
``examples``        the example frames docs/protocol.md shows

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

Why a CRC-32 and byte stuffing: see :mod:`drivers.protocol.framing`. Doses travel as integer
nanograms (0.001 mcg) so a program round-trips exactly.
"""

from __future__ import annotations

from drivers.protocol.codes import (
    ALARM_BITS,
    CAPABILITY_BITS,
    DRUG_CODES,
    EVENT_CODES,
    EVENT_KINDS,
    MODE_CODES,
    POWER_EOS,
    POWER_ERI,
    EventKind,
    NakCode,
    RefusalCode,
    alarm_mask,
    alarm_names,
)
from drivers.protocol.errors import (
    CrcError,
    EncodeError,
    FrameError,
    FramingError,
    PayloadError,
    ProtocolError,
    UnknownMessageType,
    VersionMismatch,
)
from drivers.protocol.event_records import (
    EVENT_RECORD_SIZE,
    MAX_EVENTS_PER_PAGE,
    EventRecord,
)
from drivers.protocol.examples import (
    example_frames,
)
from drivers.protocol.fields import (
    Message,
)
from drivers.protocol.framing import (
    CRC_SIZE,
    ESC,
    ESC_XOR,
    FLAG,
    HEADER_SIZE,
    MAX_PAYLOAD,
    MAX_RAW_FRAME,
    Frame,
    FrameDecoder,
    crc32,
    decode_frame,
    encode_frame,
    encode_raw,
    stuff,
    unstuff,
)
from drivers.protocol.messages import (
    ERROR_REPLIES,
    MESSAGE_TYPES,
    REPLIES,
    REPLY_FOR,
    REQUESTS,
    AcknowledgeAlarms,
    Alarms,
    AlarmTest,
    AlarmTestDone,
    BolusAccepted,
    Busy,
    Clock,
    ClockSet,
    CommitProgram,
    Committed,
    Diagnostics,
    Events,
    GetDiagnostics,
    GetStatus,
    Identify,
    Identity,
    Nak,
    ProgramReply,
    ReadClock,
    ReadEvents,
    ReadProgram,
    Refused,
    ReservoirUpdated,
    SetClock,
    SingleBolus,
    Staged,
    StageProgram,
    Status,
    UpdateReservoir,
    decode_message,
    reply_max_size,
)
from drivers.protocol.program_block import (
    decode_program,
    encode_program,
    program_checksum,
)
from drivers.protocol.pump_time import (
    NO_DATE,
    PUMP_EPOCH,
    pump_date,
    pump_datetime,
    pump_days,
    pump_seconds,
)
from drivers.protocol.timing import (
    BITS_PER_BYTE,
    DEFAULT_BAUD,
    PUMP_TURNAROUND_S,
    inter_byte_timeout_s,
    max_wire_size,
    reply_timeout_s,
    wire_time_s,
)
from drivers.protocol.version import (
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
)
from drivers.protocol.wire_values import (
    mcg_to_ng,
    ng_to_mcg,
)

__all__ = [
    "ALARM_BITS",
    "BITS_PER_BYTE",
    "CAPABILITY_BITS",
    "CRC_SIZE",
    "DEFAULT_BAUD",
    "DRUG_CODES",
    "ERROR_REPLIES",
    "ESC",
    "ESC_XOR",
    "EVENT_CODES",
    "EVENT_KINDS",
    "EVENT_RECORD_SIZE",
    "FLAG",
    "HEADER_SIZE",
    "MAX_EVENTS_PER_PAGE",
    "MAX_PAYLOAD",
    "MAX_RAW_FRAME",
    "MESSAGE_TYPES",
    "MODE_CODES",
    "NO_DATE",
    "POWER_EOS",
    "POWER_ERI",
    "PROTOCOL_VERSION",
    "PUMP_EPOCH",
    "PUMP_TURNAROUND_S",
    "REPLIES",
    "REPLY_FOR",
    "REQUESTS",
    "SUPPORTED_VERSIONS",
    "AcknowledgeAlarms",
    "AlarmTest",
    "AlarmTestDone",
    "Alarms",
    "BolusAccepted",
    "Busy",
    "Clock",
    "ClockSet",
    "CommitProgram",
    "Committed",
    "CrcError",
    "Diagnostics",
    "EncodeError",
    "EventKind",
    "EventRecord",
    "Events",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "FramingError",
    "GetDiagnostics",
    "GetStatus",
    "Identify",
    "Identity",
    "Message",
    "Nak",
    "NakCode",
    "PayloadError",
    "ProgramReply",
    "ProtocolError",
    "ReadClock",
    "ReadEvents",
    "ReadProgram",
    "RefusalCode",
    "Refused",
    "ReservoirUpdated",
    "SetClock",
    "SingleBolus",
    "StageProgram",
    "Staged",
    "Status",
    "UnknownMessageType",
    "UpdateReservoir",
    "VersionMismatch",
    "alarm_mask",
    "alarm_names",
    "crc32",
    "decode_frame",
    "decode_message",
    "decode_program",
    "encode_frame",
    "encode_program",
    "encode_raw",
    "example_frames",
    "inter_byte_timeout_s",
    "max_wire_size",
    "mcg_to_ng",
    "ng_to_mcg",
    "program_checksum",
    "pump_date",
    "pump_datetime",
    "pump_days",
    "pump_seconds",
    "reply_max_size",
    "reply_timeout_s",
    "stuff",
    "unstuff",
    "wire_time_s",
]
