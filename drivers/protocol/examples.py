"""The example frames docs/protocol.md shows; a test checks the document shows exactly
these encodings.

Separate because it is documentation data, not codec: nothing on the link uses it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from drivers.protocol.codes import NakCode, RefusalCode
from drivers.protocol.event_records import EventRecord
from drivers.protocol.fields import Message
from drivers.protocol.messages import (
    AcknowledgeAlarms,
    Busy,
    CommitProgram,
    Committed,
    Events,
    GetStatus,
    Identify,
    Identity,
    Nak,
    ProgramReply,
    ReadEvents,
    ReadProgram,
    Refused,
    SetClock,
    SingleBolus,
    Staged,
    StageProgram,
    Status,
    UpdateReservoir,
)
from drivers.protocol.program_block import program_checksum
from drivers.protocol.pump_time import pump_seconds
from itbconsole.model import FlexStep, Mode, PatientBolus, Program


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
        ("IDENTITY", 0x10, Identity(2, 0xFF, 40_000, "SIM-40", "NGP123456H", "1.4.2")),
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
                2,
                "NGP123456H",
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
        ("READ_EVENTS", 0x19, ReadEvents(0, 64)),
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
        ("NAK (frame error)", 0x1A, Nak(NakCode.FRAME_ERROR, 1, 2)),
    ]
