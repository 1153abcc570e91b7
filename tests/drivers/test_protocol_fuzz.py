"""Decoder under hostile input: only typed errors, bounded memory, no corrupted frame accepted."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import protocol as p
from tests.drivers.test_protocol import messages


def feed_in_chunks(
    decoder: p.FrameDecoder, data: bytes, cuts: list[int]
) -> list[p.Frame | p.FrameError]:
    out: list[p.Frame | p.FrameError] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        out += decoder.feed(data[a:b])
    return out


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 5000), max_size=20))
def test_random_bytes_give_only_frames_or_typed_errors(data: bytes, cuts: list[int]) -> None:
    decoder = p.FrameDecoder()
    for item in feed_in_chunks(decoder, data, cuts):
        assert isinstance(item, p.Frame | p.FrameError)
        if isinstance(item, p.Frame):  # only possible by a 1-in-2**32 CRC accident
            assert len(item.payload) <= p.MAX_PAYLOAD
    assert decoder.buffered <= 2 * p.MAX_RAW_FRAME


@settings(max_examples=200, deadline=None)
@given(messages, st.integers(0, 255), st.lists(st.integers(0, 10_000), max_size=30))
def test_split_and_merged_delivery_yields_the_same_frames(
    msg: p.Message, seq: int, cuts: list[int]
) -> None:
    wire = p.encode_frame(msg, seq)
    stream = b"\x00noise" + wire + wire + b"\x7e\x7e" + wire
    frames = [i for i in feed_in_chunks(p.FrameDecoder(), stream, cuts) if isinstance(i, p.Frame)]
    assert [f.message() for f in frames] == [msg, msg, msg]


@st.composite
def mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    data = bytearray(wire)
    kind = draw(st.sampled_from(["flip", "flips", "replace", "insert", "delete", "truncate"]))
    if kind == "flip":
        i = draw(st.integers(1, len(data) - 2))
        data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "flips":
        for _ in range(draw(st.integers(2, 8))):
            i = draw(st.integers(1, len(data) - 2))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "replace":
        i = draw(st.integers(1, len(data) - 2))
        data[i] = draw(st.integers(0, 255).filter(lambda b: b != data[i]))
    elif kind == "insert":
        i = draw(st.integers(1, len(data) - 1))
        data[i:i] = draw(st.binary(min_size=1, max_size=5))
    elif kind == "delete":
        i = draw(st.integers(1, len(data) - 2))
        del data[i : i + draw(st.integers(1, 4))]
    else:
        data = data[: draw(st.integers(1, len(data) - 1))]
    return bytes(data)


@settings(max_examples=1500, deadline=None)
@given(st.data(), messages, st.integers(0, 255), messages)
def test_a_mutated_frame_is_never_accepted(
    data: st.DataObject, msg: p.Message, seq: int, after: p.Message
) -> None:
    wire = p.encode_frame(msg, seq)
    bad = data.draw(mutations(wire))
    if bad == wire:
        return
    good = p.encode_frame(after, (seq + 1) & 0xFF)
    items = p.FrameDecoder().feed(bad + good)
    frames = [i for i in items if isinstance(i, p.Frame)]
    # the intact frame behind is always recovered; the damaged one is either rejected or,
    # when only a flag was lost, accepted as exactly what was sent: never as anything else
    assert frames and frames[-1].message() == after
    sent = {(seq, msg), ((seq + 1) & 0xFF, after)}
    assert all((f.seq, f.message()) in sent for f in frames)
    # an insertion may put a flag before an untouched copy of the frame, which is then
    # rightly accepted as sent; any other mutation must cost the damaged frame
    if wire.strip(b"\x7e") not in bad:
        assert len(frames) == 1


@given(messages, st.integers(0, 255))
@settings(max_examples=200, deadline=None)
def test_bytes_hint_never_asks_for_more_than_the_frame_still_sends(
    msg: p.Message, seq: int
) -> None:
    wire = p.encode_frame(msg, seq)
    decoder = p.FrameDecoder()
    i = 0
    while i < len(wire):
        hint = decoder.bytes_hint()
        assert 1 <= hint <= len(wire) - i
        out = decoder.feed(wire[i : i + hint])
        i += hint
        if out:
            assert i == len(wire) and out[0].message() == msg  # type: ignore[union-attr]


def test_endless_garbage_without_flags_is_not_buffered() -> None:
    decoder = p.FrameDecoder()
    for _ in range(50):
        assert decoder.feed(b"\x55" * 1000) == []
    assert decoder.buffered == 0
    items = decoder.feed(b"\x7e" + p.encode_frame(p.Identify(), 1))
    assert isinstance(items[0], p.FramingError)
    assert isinstance(items[-1], p.Frame)


def test_crc_error_and_framing_error_are_distinguished() -> None:
    wire = bytearray(p.encode_frame(p.Clock(123), 7))
    wire[6] ^= 0x01
    (item,) = p.FrameDecoder().feed(bytes(wire))
    assert isinstance(item, p.CrcError)
    (item,) = p.FrameDecoder().feed(b"\x7e\x01\x02\x7e")
    assert isinstance(item, p.FramingError)


# --------------------------------------------------------------------------- CRC-valid frames
#
# A frame whose CRC checks can still carry a payload no honest sender would build (a sender's
# bug, another firmware, or damage the CRC missed). Decoding it must give a Message or a
# ProtocolError, so the pump answers NAK BAD_PAYLOAD and the console treats it as damage.

_STEP_STARTS = st.sampled_from([0, 1, 479, 1439, 1440, 1441, 0xFFFF]) | st.integers(0, 0xFFFF)
_U32_EDGES = st.sampled_from([0, 1, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)


@st.composite
def raw_steps(draw: st.DrawFn) -> bytes:
    n = draw(st.sampled_from([0, 1, 2, 13, 14, 255]) | st.integers(0, 16))
    out = bytearray([n])
    for _ in range(min(n, draw(st.integers(0, 16)))):  # a count may promise more than follows
        out += struct.pack("<HI", draw(_STEP_STARTS), draw(_U32_EDGES))
    return bytes(out)


@st.composite
def raw_program_blocks(draw: st.DrawFn) -> bytes:
    """A program block with every field drawn from its whole wire range, biased to the
    edges the model checks: modes, minute 1440, step and weekday counts, bolus fields."""
    out = bytearray([draw(st.sampled_from([0, 1, 2, 3, 4, 255]))])
    out += struct.pack("<III", draw(_U32_EDGES), draw(_U32_EDGES), draw(_U32_EDGES))
    out += draw(raw_steps())
    n_days = draw(st.sampled_from([0, 1, 7, 8, 255]) | st.integers(0, 9))
    out.append(n_days)
    for _ in range(min(n_days, draw(st.integers(0, 8)))):
        out.append(draw(st.sampled_from([0, 5, 6, 7, 255])))
        out += draw(raw_steps())
    flag = draw(st.sampled_from([0, 1, 1, 2]))
    out.append(flag)
    if flag:
        out += struct.pack(
            "<IIIH",
            draw(_U32_EDGES),
            draw(_U32_EDGES),
            draw(_U32_EDGES),
            draw(st.integers(0, 0xFFFF)),
        )
    return bytes(out)


@st.composite
def payload_mutations(draw: st.DrawFn, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "u16", "insert", "delete", "truncate", "append"]))
        if kind == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif kind == "u16" and len(data) >= 2:
            i = draw(st.integers(0, len(data) - 2))
            data[i : i + 2] = struct.pack("<H", draw(_STEP_STARTS))
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
        elif kind == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i : i + draw(st.integers(1, 6))]
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        else:
            data += draw(st.binary(min_size=1, max_size=6))
    return bytes(data[: p.MAX_PAYLOAD])


_PROGRAM_TYPES = st.sampled_from([p.StageProgram.TYPE, p.ProgramReply.TYPE])


@st.composite
def crc_valid_frames(draw: st.DrawFn) -> bytes:
    """Wire bytes of one frame with a correct CRC around a random, structured or mutated
    payload of any message type (program blocks most of all)."""
    source = draw(st.sampled_from(["random", "program", "program", "mutated"]))
    if source == "random":
        type_code = draw(st.sampled_from(sorted(p.MESSAGE_TYPES)) | st.integers(0, 255))
        payload = draw(st.binary(max_size=80))
    elif source == "program":
        type_code = draw(_PROGRAM_TYPES)
        block = draw(raw_program_blocks())
        clock = struct.pack("<I", draw(_U32_EDGES)) if type_code == p.ProgramReply.TYPE else b""
        payload = clock + block
    else:
        message = draw(messages)
        type_code = message.TYPE
        payload = draw(payload_mutations(message.encode_payload()))
    version = draw(st.sampled_from([p.PROTOCOL_VERSION] * 6 + [1, 0, 3]))
    raw = p.encode_raw(version, draw(st.integers(0, 255)), type_code, payload)
    return b"\x7e" + p.stuff(raw) + b"\x7e"


@settings(max_examples=700, deadline=None)
@given(crc_valid_frames())
def test_a_crc_valid_frame_decodes_to_a_message_or_a_protocol_error(wire: bytes) -> None:
    (frame,) = p.FrameDecoder().feed(wire)
    assert isinstance(frame, p.Frame)
    try:
        message = frame.message()
    except p.ProtocolError:
        return
    assert isinstance(message, p.Message) and message.TYPE == frame.type
