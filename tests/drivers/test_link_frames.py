"""How many frames each operation puts on the wire: as few as the protocol allows.

Counted from the bytes the console writes (decoded frame by frame), so a request that is
repeated, a page asked for in halves or a probe nobody needs shows up here."""

from __future__ import annotations

import math
from typing import Any

import pytest
from serial import SerialException

from drivers import protocol as p
from drivers.link import Link, ProtocolMismatch
from drivers.protocol_simpump import parse_url
from drivers.pump_client import PumpClient
from drivers.simulator.server import WirePacer
from tests.drivers.conftest import SERIAL, FakePort, FakePump, FakeTime, make_events

FAST_LINK: dict[str, Any] = {"baud": 115_200, "first_seq": 0x40}


class Wire:
    """Every frame the console sent, decoded from the bytes it wrote."""

    def __init__(self) -> None:
        self.decoder = p.FrameDecoder()
        self.frames: list[p.Frame] = []

    def __call__(self, direction: str, data: bytes) -> None:
        if direction == "tx":
            self.frames += [f for f in self.decoder.feed(data) if isinstance(f, p.Frame)]

    def names(self) -> list[str]:
        return [type(f.message()).__name__ for f in self.frames]

    def clear(self) -> None:
        self.frames.clear()


def session(pump: FakePump) -> tuple[PumpClient, Wire, FakePort]:
    wire = Wire()
    time = FakeTime()
    port = FakePort(pump, time)
    link = Link(port, timebase=time, traffic=wire, **FAST_LINK)  # type: ignore[arg-type]
    return PumpClient(link), wire, port


@pytest.fixture
def pump_with_events() -> FakePump:
    pump = FakePump()
    pump.events = make_events(5_000)
    return pump


def test_the_first_interrogation_of_a_session_identifies_once(pump_with_events: FakePump) -> None:
    client, wire, _ = session(pump_with_events)
    result = client.interrogate(recent_events=100)
    assert wire.names() == ["Identify", "GetStatus", "ReadProgram", "ReadEvents", "ReadEvents"]
    assert [e.index for e in result.events] == list(range(4_900, 5_000))


def test_a_later_interrogation_sends_no_identify_and_no_event_count_probe(
    pump_with_events: FakePump,
) -> None:
    client, wire, _ = session(pump_with_events)
    client.identify()  # the connection's handshake
    wire.clear()
    result = client.interrogate(recent_events=100)
    assert wire.names() == ["GetStatus", "ReadProgram", "ReadEvents", "ReadEvents"]
    pages = [f.message() for f in wire.frames[2:]]
    assert pages == [p.ReadEvents(4_900, 64), p.ReadEvents(4_964, 64)]
    assert result.identity.serial == SERIAL and len(result.events) == 100


def test_a_download_asks_for_full_pages(pump_with_events: FakePump) -> None:
    client, wire, _ = session(pump_with_events)
    client.identify()
    wire.clear()
    batch = client.read_events(0)
    assert len(batch.events) == 5_000 and batch.complete
    asked = [f.message() for f in wire.frames]
    assert len(asked) == math.ceil(5_000 / p.MAX_EVENTS_PER_PAGE) == 79
    assert all(isinstance(m, p.ReadEvents) and m.max_count == 64 for m in asked)
    assert [m.start_index for m in asked] == list(range(0, 5_000, 64))  # type: ignore[attr-defined]


def test_another_pump_under_the_head_is_identified_again(pump_with_events: FakePump) -> None:
    """IDENTIFY once per session must not let one pump's reading pass for another's: the
    status names the pump, and a different name opens the session again."""
    client, wire, _ = session(pump_with_events)
    first = client.interrogate()
    assert first.identity.serial == SERIAL
    other = "NGP999999H"
    answer = pump_with_events.answer

    def swapped(request: p.Message) -> p.Message:
        reply = answer(request)
        if isinstance(reply, (p.Identity, p.Status)):
            from dataclasses import replace

            return replace(reply, serial=other)
        return reply

    pump_with_events.answer = swapped  # type: ignore[method-assign]
    wire.clear()
    second = client.interrogate()
    assert second.identity.serial == other and second.status.pump_serial == other
    assert wire.names() == ["GetStatus", "Identify", "GetStatus", "ReadProgram"]


def test_a_status_that_contradicts_the_identity_is_refused(pump_with_events: FakePump) -> None:
    client, _, _ = session(pump_with_events)
    client.interrogate()
    answer = pump_with_events.answer

    def confused(request: p.Message) -> p.Message:
        from dataclasses import replace

        reply = answer(request)
        return replace(reply, serial="NGP000000X") if isinstance(reply, p.Status) else reply

    pump_with_events.answer = confused  # type: ignore[method-assign]
    with pytest.raises(ProtocolMismatch, match="status names pump NGP000000X"):
        client.interrogate()


def test_a_version_1_pump_is_still_read_the_version_1_way(pump_with_events: FakePump) -> None:
    """An older pump NAKs version 2: IDENTIFY is asked again in version 1, and each
    interrogation identifies and probes the event count as before (its status says
    neither)."""
    pump_with_events.version = 1
    client, wire, port = session(pump_with_events)
    client.identify()
    assert [f.version for f in wire.frames] == [2, 1]
    assert client.link.version == 1 and port.pump.executed == 1
    wire.clear()
    result = client.interrogate(recent_events=10)
    assert wire.names() == ["Identify", "GetStatus", "ReadProgram", "ReadEvents", "ReadEvents"]
    assert {f.version for f in wire.frames} == {1}
    assert wire.frames[3].message() == p.ReadEvents(0xFFFFFFFF, 1)
    assert result.status.event_total is None and len(result.events) == 10


def test_only_identify_falls_back_to_an_older_version(pump_with_events: FakePump) -> None:
    """A version NAK to any other request is a mismatch, never a resend."""
    client, wire, _ = session(pump_with_events)
    client.identify()
    pump_with_events.version = 1  # (a pump changing its mind mid-session)
    wire.clear()
    with pytest.raises(ProtocolMismatch, match=r"versions 1\.\.1"):
        client.read_status()
    assert wire.names() == ["GetStatus"]


def test_the_simulated_pump_turnaround_delays_each_reply() -> None:
    assert parse_url("simpump://x?turnaround=20").turnaround_s == pytest.approx(0.02)
    assert parse_url("simpump://x").turnaround_s == 0
    for bad in ("-1", "20000", "fast"):
        with pytest.raises(SerialException, match=r"turnaround|could not convert"):
            parse_url(f"simpump://x?turnaround={bad}")
    pacer = WirePacer(9_600, turnaround_s=0.1)
    assert pacer.answered(96, 10.0) == pytest.approx(10.0 + 0.1 + 0.1)
