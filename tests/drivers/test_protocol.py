"""Codec: every message round-trips exactly; programs are carried without loss."""

from __future__ import annotations

import decimal
import struct
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import protocol as p
from drivers.protocol import program_block
from itbconsole.model import FlexStep, Mode, ModelError, PatientBolus, Program

# --------------------------------------------------------------------------- strategies

doses = st.integers(0, 2**32 - 1).map(lambda ng: Decimal(ng).scaleb(-3))
positive_doses = st.integers(1, 2**32 - 1).map(lambda ng: Decimal(ng).scaleb(-3))
minutes = st.integers(0, 2**32 - 1)


@st.composite
def flex_schedules(draw: st.DrawFn) -> tuple[FlexStep, ...]:
    starts = draw(st.sets(st.integers(1, 1439), max_size=12))
    return tuple(FlexStep(m, draw(doses)) for m in [0, *sorted(starts)])


@st.composite
def programs(draw: st.DrawFn) -> Program:
    mode = draw(st.sampled_from(list(Mode)))
    pb = None
    if mode is not Mode.STOPPED and draw(st.booleans()):
        pb = PatientBolus(
            draw(positive_doses), draw(minutes), draw(minutes), draw(st.integers(0, 65535))
        )
    if mode is Mode.FLEX:
        days = draw(st.sets(st.integers(0, 6), max_size=7))
        return Program(
            mode,
            daily_dose_mcg=draw(doses),
            flex_steps=draw(flex_schedules()),
            flex_weekday_steps=tuple((d, draw(flex_schedules())) for d in sorted(days)),
            patient_bolus=pb,
        )
    if mode is Mode.SINGLE_BOLUS:
        return Program(
            mode,
            daily_dose_mcg=draw(doses),
            bolus_dose_mcg=draw(positive_doses),
            bolus_duration_minutes=draw(st.integers(1, 2**32 - 1)),
            patient_bolus=pb,
        )
    return Program(mode, daily_dose_mcg=draw(doses), patient_bolus=pb)


_FIELD = {
    "u8": st.integers(0, 0xFF),
    "u16": st.integers(0, 0xFFFF),
    "u32": st.integers(0, 0xFFFFFFFF),
    "i32": st.integers(-(2**31), 2**31 - 1),
    "str8": st.text(max_size=60),
    "date?": st.none() | st.dates(date(2000, 1, 1), date(2000, 1, 1) + timedelta(days=0xFFFE)),
    "program": programs(),
    "events": st.lists(
        st.builds(
            p.EventRecord,
            st.integers(0, 255),
            st.integers(0, 2**32 - 1),
            st.integers(-(2**31), 2**31 - 1),
            st.integers(-(2**31), 2**31 - 1),
        ),
        max_size=p.MAX_EVENTS_PER_PAGE,
    ).map(tuple),
}


def message_strategy(cls: type[p.Message]) -> st.SearchStrategy[p.Message]:
    return st.builds(cls, **{f.name: _FIELD[f.metadata["wire"]] for f in fields(cls)})


ALL_MESSAGES = sorted(p.MESSAGE_TYPES.values(), key=lambda c: c.TYPE)
messages = st.one_of([message_strategy(c) for c in ALL_MESSAGES])


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_round_trips_through_a_frame(
    cls: type[p.Message], data: st.DataObject
) -> None:
    message = data.draw(message_strategy(cls))
    seq = data.draw(st.integers(0, 255))
    wire = p.encode_frame(message, seq)
    frame = p.decode_frame(wire)
    assert (frame.seq, frame.type, frame.version) == (seq, cls.TYPE, p.PROTOCOL_VERSION)
    assert frame.message() == message
    assert p.encode_frame(frame.message(), seq) == wire  # canonical: one encoding per message


@settings(max_examples=300, deadline=None)
@given(programs())
def test_program_round_trips_exactly(program: Program) -> None:
    block = p.encode_program(program)
    back = p.decode_program(block)
    assert back == program
    assert p.encode_program(back) == block
    assert p.program_checksum(back) == p.program_checksum(program)
    for a, b in (
        (back.daily_dose_mcg, program.daily_dose_mcg),
        (back.bolus_dose_mcg, program.bolus_dose_mcg),
    ):
        assert a == b and a.as_tuple().exponent <= 0


def test_flex_program_with_weekdays_keeps_every_field() -> None:
    program = Program(
        Mode.FLEX,
        flex_steps=(FlexStep(0, Decimal("20.833")), FlexStep(420, Decimal("25.5"))),
        flex_weekday_steps=(
            (5, (FlexStep(0, Decimal("10")),)),
            (6, (FlexStep(0, Decimal("0.001")),)),
        ),
        patient_bolus=PatientBolus(Decimal("50.125"), 15, 180, 4),
    )
    assert p.decode_program(p.encode_program(program)) == program
    assert p.decode_program(p.encode_program(program)).to_dict() == program.to_dict()


def test_whole_microgram_doses_decode_without_exponent_form() -> None:
    back = p.decode_program(p.encode_program(Program(Mode.SIMPLE_CONTINUOUS, Decimal("500"))))
    assert str(back.daily_dose_mcg) == "500"


@pytest.mark.parametrize("dose", ["0.0005", "1E-4", "123.4567"])
def test_dose_finer_than_a_nanogram_is_refused_not_rounded(dose: str) -> None:
    with pytest.raises(p.EncodeError, match="more precise"):
        p.encode_program(Program(Mode.SIMPLE_CONTINUOUS, Decimal(dose)))


@pytest.mark.parametrize(
    "message",
    [
        p.SingleBolus(2**32, 1),
        p.SetClock(-1),
        p.ReadEvents(0, 256),
        p.Identity(1, 0, 0, "x" * 256, "", ""),
    ],
)
def test_values_outside_the_wire_range_are_refused(message: p.Message) -> None:
    with pytest.raises(p.EncodeError):
        p.encode_frame(message, 1)


def test_invalid_program_block_is_a_payload_error() -> None:
    block = bytearray(p.encode_program(Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal(1)),))))
    block[14] = 5  # first flex step no longer starts at 00:00
    with pytest.raises(p.PayloadError, match="00:00"):
        p.decode_program(bytes(block))


# A flex program whose bytes the regression cases below patch: two daily steps (0 and 480)
# and a Saturday schedule. Block offsets: step starts at 14 and 20, Saturday's step at 29.
FLEX_WITH_SATURDAY = Program(
    Mode.FLEX,
    flex_steps=(FlexStep(0, Decimal("20")), FlexStep(480, Decimal("30"))),
    flex_weekday_steps=((5, (FlexStep(0, Decimal("10")),)),),
)


def patched_block(offset: int, start_minute: int) -> bytes:
    block = bytearray(p.encode_program(FLEX_WITH_SATURDAY))
    block[offset : offset + 2] = start_minute.to_bytes(2, "little")
    return bytes(block)


def crc_valid_frame(type_code: int, payload: bytes) -> p.Frame:
    """A frame whose CRC is right for ``payload``: only the payload can be wrong."""
    return p.decode_frame(p.stuff(p.encode_raw(p.PROTOCOL_VERSION, 0x21, type_code, payload)))


@pytest.mark.parametrize(
    ("offset", "minute"),
    [(20, 1440), (20, 0xFFFF), (14, 1440), (29, 1440), (29, 0xFFFF)],
    ids=[
        "second-step-1440",
        "second-step-ffff",
        "first-step-1440",
        "saturday-1440",
        "saturday-ffff",
    ],
)
@pytest.mark.parametrize("type_code", [p.StageProgram.TYPE, p.ProgramReply.TYPE])
def test_flex_step_starting_at_or_after_midnight_is_a_payload_error(
    type_code: int, offset: int, minute: int
) -> None:
    """A step at minute 1440 or later used to escape as the model's own error: the pump's
    reader thread died and the console printed a traceback instead of retrying."""
    clock = b"" if type_code == p.StageProgram.TYPE else (826_000_000).to_bytes(4, "little")
    frame = crc_valid_frame(type_code, clock + patched_block(offset, minute))
    with pytest.raises(p.PayloadError, match="00:00 and 23:59"):
        frame.message()
    with pytest.raises(p.PayloadError):
        p.decode_program(patched_block(offset, minute))


@pytest.mark.parametrize(
    ("type_code", "payload_hex"),
    [
        # found by fuzzing CRC-valid frames: a simple-continuous block carrying 13 flex
        # steps (the mode does not use them), the second starting at minute 0xFFFF
        (
            p.StageProgram.TYPE,
            "01010000000000000001921c730d0000f4c944adffff847a1a8f00006ce58ecbb400f307477ea105"
            "e08f277df8e790dd653e9f050c73e53a7d01f9840316e00127677c159f05a6099b650000a33bb8"
            "23000050f82d55d0026ed4ec4d0000",
        ),
        # found by fuzzing: a PROGRAM reply with a flex block whose sixth step starts at
        # minute 1440 (and a weekday schedule for day 7)
        (
            p.ProgramReply.TYPE,
            "91f7dad802fdfe7035941cd22b000000000d00001194aec99f052f4d6d2f780055de00305001a65"
            "26d81f000b36cf986a005ec7533f3a105457243d89f0525e14e8900008ddc9aaca1050a04bfd0c0"
            "0094f971ee3a4c31315c98d0027d3f09d801070e1f045f3fc10a4705659fae289f0570f50aeeffff"
            "4380d97c0495dbe19af1a0057e63255d9f05a05a0213ffff385e3288a10316f394119f0542d63732"
            "a105c43f32849f05c2adfa536703861c4de70c0338d26e5200",
        ),
    ],
    ids=["stage-program", "program-reply"],
)
def test_fuzz_found_program_payloads_are_payload_errors(type_code: int, payload_hex: str) -> None:
    with pytest.raises(p.PayloadError):
        crc_valid_frame(type_code, bytes.fromhex(payload_hex)).message()


@pytest.mark.parametrize(
    "failure",
    [
        OverflowError("int too large"),
        struct.error("unpack requires a buffer"),
        IndexError("index out of range"),
        decimal.InvalidOperation(),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        ModelError("A flex step's rate cannot be negative."),
    ],
    ids=["overflow", "struct", "index", "decimal", "unicode", "model"],
)
def test_any_failure_while_parsing_a_payload_is_a_payload_error(
    monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """Whatever a later change lets parsing raise, the receiver still gets the one typed
    error it handles (NAK BAD_PAYLOAD, or a damaged reply to retry), never a crash."""

    def broken(ng: int) -> Decimal:
        raise failure

    # Break the dose conversion where the program block parser looks it up.
    monkeypatch.setattr(program_block, "ng_to_mcg", broken)
    frame = crc_valid_frame(p.StageProgram.TYPE, p.encode_program(FLEX_WITH_SATURDAY))
    with pytest.raises(p.PayloadError, match="StageProgram") as caught:
        frame.message()
    assert caught.value.__cause__ is failure
    with pytest.raises(p.PayloadError) as caught:
        p.decode_program(p.encode_program(FLEX_WITH_SATURDAY))
    assert caught.value.__cause__ is failure


def test_trailing_or_missing_payload_bytes_are_rejected() -> None:
    payload = p.Clock(5).encode_payload()
    with pytest.raises(p.PayloadError):
        p.decode_message(p.Clock.TYPE, payload + b"\x00")
    with pytest.raises(p.PayloadError):
        p.decode_message(p.Clock.TYPE, payload[:-1])


def test_unknown_type_and_version_are_typed_errors() -> None:
    with pytest.raises(p.UnknownMessageType):
        p.decode_message(0x42, b"")
    with pytest.raises(p.VersionMismatch):
        p.decode_message(p.Identify.TYPE, b"", version=3)
    # NAK parses in any version, so a pump of another version can always say so
    assert p.decode_message(p.Nak.TYPE, bytes([4, 3, 4]), version=3) == p.Nak(4, 3, 4)


# --------------------------------------------------------------------------- framing


def test_crc32_check_value() -> None:
    assert p.crc32(b"123456789") == 0xCBF43926


@given(st.binary(max_size=300))
def test_stuffing_round_trips_and_hides_the_flag(raw: bytes) -> None:
    stuffed = p.stuff(raw)
    assert b"\x7e" not in stuffed
    assert p.unstuff(stuffed) == raw


@pytest.mark.parametrize("bad", [b"\x7d", b"ab\x7d", b"\x7d\x00", b"\x7d\x7d\x5e"])
def test_invalid_escapes_are_framing_errors(bad: bytes) -> None:
    with pytest.raises(p.FramingError):
        p.unstuff(bad)


def test_reply_type_rule_and_unique_codes() -> None:
    codes = [c.TYPE for c in (*p.REQUESTS, *p.REPLIES, *p.ERROR_REPLIES)]
    assert len(codes) == len(set(codes))
    for req in p.REQUESTS:
        assert p.REPLY_FOR[req.TYPE].TYPE == req.TYPE | 0x80
        assert req.TYPE < 0x80


def test_frame_overhead_is_eleven_bytes() -> None:
    assert len(p.encode_frame(p.Identify(), 0x10)) == 11


def test_a_full_event_page_fits_one_frame() -> None:
    page = p.Events(0, 64, 64, tuple(p.EventRecord(1, 0, 0, 0) for _ in range(64)))
    assert len(page.encode_payload()) <= p.MAX_PAYLOAD
    assert p.reply_max_size(p.ReadEvents(0, 64)) == len(page.encode_payload())


# --------------------------------------------------------------------------- time and names


def test_pump_clock_epoch_and_round_trip() -> None:
    assert p.pump_seconds(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    moment = datetime(2026, 3, 29, 1, 30, 15, tzinfo=UTC)
    assert p.pump_datetime(p.pump_seconds(moment)) == moment
    with pytest.raises(p.EncodeError):
        p.pump_seconds(datetime(2026, 1, 1))  # naive: refuse to guess the zone
    assert p.pump_date(p.pump_days(date(2026, 5, 14))) == date(2026, 5, 14)


def test_pump_seconds_use_utc_not_local_offsets() -> None:
    from zoneinfo import ZoneInfo

    london = datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    assert p.pump_datetime(p.pump_seconds(london)) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def test_alarm_names_and_masks_agree() -> None:
    names = ("low_reservoir", "motor_stall")
    assert p.alarm_names(p.alarm_mask(names)) == names
    assert p.alarm_names(1 << 12) == ("alarm_bit_12",)
    with pytest.raises(p.EncodeError):
        p.alarm_mask(["no_such_alarm"])


def test_reply_timeout_scales_with_baud() -> None:
    slow = p.reply_timeout_s(11, 540, 9600)
    fast = p.reply_timeout_s(11, 540, 115_200)
    assert slow > fast > p.PUMP_TURNAROUND_S
    assert slow > p.wire_time_s(11 + 540, 9600)
