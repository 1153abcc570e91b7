"""The message catalogue: every request, reply and error reply, the type tables, and
:func:`decode_message`.

Each class declares its fields in wire order (the generic codec in
:mod:`drivers.protocol.fields` does the bytes); docs/protocol.md has one table per class and a
test keeps them equal. Replies are the request's type | 0x80.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from drivers.protocol.errors import UnknownMessageType, VersionMismatch
from drivers.protocol.event_records import EVENT_RECORD_SIZE, MAX_EVENTS_PER_PAGE, EventRecord
from drivers.protocol.fields import Message
from drivers.protocol.fields import field_meta as _m
from drivers.protocol.version import PROTOCOL_VERSION, SUPPORTED_VERSIONS
from itbconsole.model import Program


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
    MAX_SIZE: ClassVar[int] = 31 + 256 + 4 + 256
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
    event_total: int | None = field(
        default=None,
        metadata=_m(
            "u32", "", "events ever logged, as READ_EVENTS `total` (version 2 on)", since=2
        ),
    )
    serial: str | None = field(
        default=None,
        metadata=_m("str8", "", "serial number, as in IDENTITY (version 2 on)", since=2),
    )


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
    return cls.decode_payload(payload, version)
