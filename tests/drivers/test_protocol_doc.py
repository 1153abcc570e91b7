"""docs/protocol.md tells the truth: its hex examples and field tables match the codec."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from drivers import protocol as p

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def doc_hex_blocks() -> list[bytes]:
    blocks = re.findall(r"```hex\n(.*?)\n```", doc_text(), flags=re.S)
    return [bytes.fromhex(b.replace("\n", " ")) for b in blocks]


def test_every_hex_example_in_the_doc_is_a_valid_frame() -> None:
    blocks = doc_hex_blocks()
    assert len(blocks) >= 15
    for wire in blocks:
        frame = p.decode_frame(wire)
        message = frame.message()
        assert p.encode_frame(message, frame.seq) == wire


def test_the_doc_shows_exactly_the_encoder_output_of_each_example() -> None:
    shown = doc_hex_blocks()
    expected = [p.encode_frame(msg, seq) for _, seq, msg in p.example_frames()]
    assert shown == expected


@pytest.mark.parametrize(
    "cls", sorted(p.MESSAGE_TYPES.values(), key=lambda c: c.TYPE), ids=lambda c: c.__name__
)
def test_every_message_has_a_table_listing_its_fields_in_order(cls: type[p.Message]) -> None:
    text = doc_text()
    heading = f"### 0x{cls.TYPE:02X} {cls.__name__}"
    assert heading in text
    section = text.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    documented = re.findall(r"^\| [^|]* \| `(\w+)` \|", section, flags=re.M)
    assert documented == [f.name for f in fields(cls)]


def test_the_doc_lists_every_alarm_event_and_capability_code() -> None:
    text = doc_text()
    for name in [*p.ALARM_BITS, *p.CAPABILITY_BITS, *(k.name for k in p.EVENT_KINDS.values())]:
        assert f"`{name}`" in text, name
