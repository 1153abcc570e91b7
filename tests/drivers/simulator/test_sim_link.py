"""The simulated pump on the wire: protocol responder, reply cache, wire faults, and the
three ways it is served (simpump:// in-process, a pty, TCP)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import serial

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol as p
from drivers import protocol_simpump
from drivers.simulator import ManualClock, SimPump, build_scenario
from drivers.simulator.faults import FaultInjector, FaultSpec, FaultSpecError
from drivers.simulator.pump import Alarm
from drivers.simulator.server import Outgoing, PtyServer, PumpResponder, TcpServer
from itbconsole.model import FlexStep, Mode, Program

FLEX = Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal("20")), FlexStep(480, Decimal("30"))))


def make_pump(scenario: str = "healthy") -> SimPump:
    return build_scenario(scenario, clock=ManualClock())


def decode_all(outgoing: list[bytes]) -> list[p.Frame | p.FrameError]:
    decoder = p.FrameDecoder()
    out: list[p.Frame | p.FrameError] = []
    for data in outgoing:
        out += decoder.feed(data)
    return out


def ask(responder: PumpResponder, message: p.Message, seq: int) -> p.Message:
    """One request through the responder; exactly one intact reply is expected."""
    replies = decode_all([o.data for o in responder.receive(p.encode_frame(message, seq))])
    assert len(replies) == 1
    frame = replies[0]
    assert isinstance(frame, p.Frame)
    assert frame.seq == seq
    return frame.message()


def exchange(
    port: serial.SerialBase, message: p.Message, seq: int, limit_s: float = 5.0
) -> p.Message:
    """Send a request on a pyserial port and read its reply with timeouts (no sleeps)."""
    return exchange_wire(port, p.encode_frame(message, seq), seq, limit_s)


def exchange_wire(
    port: serial.SerialBase, wire: bytes, seq: int, limit_s: float = 5.0
) -> p.Message:
    """Send ready-made request bytes and read the one reply with timeouts (no sleeps)."""
    port.write(wire)
    decoder = p.FrameDecoder()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for item in decoder.feed(port.read(decoder.bytes_hint())):
            assert isinstance(item, p.Frame), item
            assert item.seq == seq
            return item.message()
    raise AssertionError("no reply before the deadline")


def stage_with_step_at_midnight(seq: int) -> bytes:
    """A STAGE_PROGRAM whose CRC is right but whose second flex step starts at minute 1440
    (24:00): the codec must call it a bad payload, never let the model's error escape."""
    block = bytearray(p.encode_program(FLEX))
    block[20:22] = (1440).to_bytes(2, "little")  # FLEX's second step, minute 480 before
    raw = p.encode_raw(p.PROTOCOL_VERSION, seq, p.StageProgram.TYPE, bytes(block))
    return b"\x7e" + p.stuff(raw) + b"\x7e"


BAD_PAYLOAD = p.Nak(p.NakCode.BAD_PAYLOAD, 1, 1)


def answers(responder: PumpResponder, wire: bytes) -> list[tuple[int, p.Message]]:
    """(seq, message) of every reply the responder sends to ``wire``; all must be intact."""
    frames = decode_all([o.data for o in responder.receive(wire)])
    assert all(isinstance(f, p.Frame) for f in frames)
    return [(f.seq, f.message()) for f in frames if isinstance(f, p.Frame)]


# --------------------------------------------------------------------------- responder


def test_identify_and_status_report_the_pump() -> None:
    pump = make_pump("eri")
    responder = PumpResponder(pump)
    identity = ask(responder, p.Identify(), 1)
    assert identity == p.Identity(
        p.PROTOCOL_VERSION, 0xFF | 1 << 31, 40_000, "SIM-40", pump.serial, pump.firmware
    )
    status = ask(responder, p.GetStatus(), 2)
    assert isinstance(status, p.Status)
    assert status.reservoir_ul == pump.reservoir_ul == 30_000
    assert status.power_flags == p.POWER_ERI
    assert p.alarm_names(status.active_alarms) == ("eri",)
    assert status.eos_date == status.eri_date + timedelta(days=90)  # type: ignore[operator]
    assert p.pump_datetime(status.clock_s) == pump.pump_clock().replace(microsecond=0)


def test_repeated_sequence_number_gets_the_cached_reply_and_applies_once() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    bolus = p.encode_frame(p.SingleBolus(50_000, 10), 42)  # 50 mcg
    first = responder.receive(bolus)
    again = responder.receive(bolus)  # the console's retry after a lost reply
    assert [o.data for o in again] == [o.data for o in first]
    assert len(pump.boluses()) == 1
    assert pump.reservoir_exact_ul == 30_000 - 25
    assert responder.counters.cache_hits == 1
    # Same seq but a different request (different CRC) is new work.
    ask(responder, p.SingleBolus(20_000, 10), 42)
    assert len(pump.boluses()) == 2


def test_retried_commit_after_a_lost_reply_is_not_refused_or_applied_twice() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    staged = ask(responder, p.StageProgram(FLEX), 7)
    assert staged == p.Staged(p.program_checksum(FLEX))
    responder.faults.force("drop_reply")
    assert responder.receive(p.encode_frame(p.CommitProgram(p.program_checksum(FLEX)), 8)) == []
    committed = ask(responder, p.CommitProgram(p.program_checksum(FLEX)), 8)
    assert isinstance(committed, p.Committed)
    changes = [e for e in pump.events() if e.kind == "program_change"]
    assert len(changes) == 1
    assert ask(responder, p.ReadProgram(), 9).program == FLEX  # type: ignore[attr-defined]


def test_commit_with_a_wrong_checksum_is_refused_over_the_wire() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    before = pump.program
    checksum = ask(responder, p.StageProgram(FLEX), 1).checksum  # type: ignore[attr-defined]
    refused = ask(responder, p.CommitProgram(checksum ^ 0xFFFF), 2)
    assert isinstance(refused, p.Refused)
    assert refused.code == p.RefusalCode.CHECKSUM_MISMATCH
    assert pump.program == before
    nothing = ask(responder, p.CommitProgram(checksum), 3)
    assert isinstance(nothing, p.Committed)
    assert isinstance(ask(responder, p.CommitProgram(checksum), 4), p.Refused)  # not staged


def test_commit_fault_is_visible_only_on_read_back() -> None:
    pump = make_pump("program-fault")
    responder = PumpResponder(pump)
    checksum = ask(responder, p.StageProgram(FLEX), 1).checksum  # type: ignore[attr-defined]
    assert isinstance(ask(responder, p.CommitProgram(checksum), 2), p.Committed)
    read_back = ask(responder, p.ReadProgram(), 3)
    assert isinstance(read_back, p.ProgramReply)
    assert read_back.program != FLEX
    assert p.program_checksum(read_back.program) != checksum


def test_busy_is_not_cached_so_the_retry_executes() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    responder.faults.force("busy")
    request = p.SingleBolus(10_000, 5)
    assert ask(responder, request, 3) == p.Busy(50)
    assert pump.boluses() == []
    assert isinstance(ask(responder, request, 3), p.BolusAccepted)
    assert len(pump.boluses()) == 1


def test_a_corrupted_request_is_naked_and_never_applied() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    wire = bytearray(p.encode_frame(p.SetClock(800_000_000), 5))
    wire[6] ^= 0x01
    reply = ask(responder, p.GetStatus(), 4)  # a good exchange first
    assert isinstance(reply, p.Status)
    frames = decode_all([o.data for o in responder.receive(bytes(wire))])
    assert [f.message() for f in frames if isinstance(f, p.Frame)] == [
        p.Nak(p.NakCode.FRAME_ERROR, 1, 1)
    ]
    responder.faults.force("corrupt_request")
    nak = ask(responder, p.SetClock(800_000_000), 6)
    assert nak == p.Nak(p.NakCode.FRAME_ERROR, 1, 1)
    assert not [e for e in pump.events() if e.kind == "clock_set"]
    assert responder.counters.crc_errors == 2


def test_wire_corruption_never_touches_the_pump_truth() -> None:
    pump = make_pump()
    responder = PumpResponder(pump, FaultInjector(FaultSpec(corrupt=0.3, noise=0.2), seed=7))
    truth = pump.to_state()
    clean = PumpResponder(make_pump())
    bad = good = 0
    for seq in range(200):
        request = (p.Identify(), p.GetStatus(), p.ReadProgram(), p.ReadEvents(0, 10))[seq % 4]
        expected = p.encode_frame(clean.execute(request), seq)
        for item in decode_all([o.data for o in responder.receive(p.encode_frame(request, seq))]):
            if isinstance(item, p.FrameError):
                bad += 1
            elif item.type != p.Nak.TYPE:
                good += 1
                assert p.encode_frame(item.message(), item.seq) == expected
    assert bad > 20 and good > 60
    assert responder.faults.counts["corrupt_reply"] > 0
    assert responder.faults.counts["corrupt_request"] > 0
    assert pump.to_state() == truth


def test_a_step_at_minute_1440_is_naked_bad_payload_and_the_pump_answers_on() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    assert answers(responder, stage_with_step_at_midnight(3)) == [(3, BAD_PAYLOAD)]
    assert pump.staged_program is None
    assert isinstance(ask(responder, p.Identify(), 4), p.Identity)


def test_an_unforeseen_failure_of_one_request_leaves_it_unanswered_not_the_pump(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No NAK (it would claim 'not executed' for a request that may have run half way): the
    console sees no answer, an uncertain outcome, and the pump still serves what follows."""
    pump = make_pump()
    responder = PumpResponder(pump)
    execute = responder.execute

    def fails_once(request: p.Message) -> p.Message:
        responder.execute = execute  # type: ignore[method-assign]
        raise RuntimeError("simulated fault in the pump")

    responder.execute = fails_once  # type: ignore[method-assign]
    both = p.encode_frame(p.GetStatus(), 5) + p.encode_frame(p.Identify(), 6)
    assert [(seq, type(reply)) for seq, reply in answers(responder, both)] == [(6, p.Identity)]
    assert "left unanswered" in caplog.text and "simulated fault" in caplog.text


def test_a_bolus_ending_beyond_the_pump_clock_range_is_refused_before_it_starts() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    refused = ask(responder, p.SingleBolus(50_000, 2**32 - 1), 1)  # 8,000 years
    assert isinstance(refused, p.Refused) and refused.code == p.RefusalCode.OUT_OF_RANGE
    assert pump.boluses() == [] and pump.reservoir_ul == 30_000


def test_status_is_answered_when_the_clock_is_set_back_before_a_reached_eri() -> None:
    """ERI reached 60 days ago; with the pump clock set to 5 January 2000 its date falls
    before the pump epoch, which the date field cannot carry: sent as unknown."""
    pump = make_pump("eri")
    responder = PumpResponder(pump)
    ask(responder, p.SetClock(5 * 86_400), 1)
    status = ask(responder, p.GetStatus(), 2)
    assert isinstance(status, p.Status)
    assert status.power_flags & p.POWER_ERI and status.eri_date is None


def test_events_page_through_the_log() -> None:
    pump = make_pump()
    for _ in range(5):
        pump.alarm_test()
    pump.update_reservoir(1_500)  # raises the low-reservoir alarm
    responder = PumpResponder(pump)
    start, records = 0, []
    while True:
        page = ask(responder, p.ReadEvents(start, 3), start + 1)
        assert isinstance(page, p.Events)
        assert page.first_index == start and len(page.events) <= 3
        records += page.events
        start = page.next_index
        if start == page.total:
            break
    assert len(records) == pump.event_count == 7
    names = [p.EVENT_KINDS[r.kind].name for r in records]
    assert names == ["alarm_test"] * 5 + ["refill", "alarm_raised"]
    assert (records[5].a, records[5].b) == (1_500, 2000)
    assert records[6].a == p.ALARM_BITS["low_reservoir"]


def test_acknowledging_alarms_over_the_wire() -> None:
    pump = make_pump("low-reservoir")
    responder = PumpResponder(pump)
    reply = ask(responder, p.AcknowledgeAlarms(p.alarm_mask(["low_reservoir"])), 1)
    assert reply == p.Alarms(0x0001, 0x0001)
    assert Alarm.LOW_RESERVOIR in pump.alarms()


# --------------------------------------------------------------------------- faults spec


def test_fault_spec_syntax() -> None:
    spec = FaultSpec.parse("corrupt=0.05, drop=0.02,delay=0.1@0.3,busy=0.5,disconnect=0.01")
    assert spec == FaultSpec(
        corrupt=0.05, drop=0.02, delay=0.1, busy=0.5, disconnect=0.01, delay_s=0.3
    )
    assert FaultSpec.parse(str(spec)) == spec
    assert FaultSpec.parse("") == FaultSpec()
    for bad in ("corrupt", "melt=0.1", "drop=2", "busy=0.1@3", "delay=x"):
        with pytest.raises(FaultSpecError):
            FaultSpec.parse(bad)


def test_seeded_faults_replay_exactly() -> None:
    def run() -> list[bytes]:
        responder = PumpResponder(make_pump(), FaultInjector(FaultSpec(corrupt=0.5), seed=3))
        return [
            b"".join(o.data for o in responder.receive(p.encode_frame(p.Identify(), s)))
            for s in range(30)
        ]

    assert run() == run()


# --------------------------------------------------------------------------- simpump://


@pytest.fixture
def named_pump() -> Iterator[tuple[str, SimPump]]:
    name = f"t{os.getpid()}x{time.monotonic_ns()}"
    pump = make_pump()
    protocol_simpump.register_pump(name, pump)
    yield name, pump
    protocol_simpump.forget_pump(name)


def test_simpump_url_opens_with_serial_for_url_and_answers(
    named_pump: tuple[str, SimPump],
) -> None:
    name, pump = named_pump
    port = serial.serial_for_url(f"simpump://{name}", timeout=1.0)
    try:
        identity = exchange(port, p.Identify(), 0x10)
        assert isinstance(identity, p.Identity) and identity.serial == pump.serial
        assert protocol_simpump.get_pump(name) is pump
        exchange(port, p.SingleBolus(30_000, 5), 0x11)
    finally:
        port.close()
    # Reopening (a reconnect) finds the same pump.
    with serial.serial_for_url(f"simpump://{name}", timeout=1.0) as again:
        status = exchange(again, p.GetStatus(), 0x12)
        assert status.reservoir_ul == 30_000 - 15  # type: ignore[attr-defined]


def test_simpump_naks_a_step_at_minute_1440_and_still_answers_identify(
    named_pump: tuple[str, SimPump],
) -> None:
    name, pump = named_pump
    with serial.serial_for_url(f"simpump://{name}", timeout=1.0) as port:
        assert exchange_wire(port, stage_with_step_at_midnight(0x10), 0x10) == BAD_PAYLOAD
        identity = exchange(port, p.Identify(), 0x11)
        assert isinstance(identity, p.Identity) and identity.serial == pump.serial
    with serial.serial_for_url(f"simpump://{name}", timeout=1.0) as again:
        assert isinstance(exchange(again, p.Identify(), 0x12), p.Identity)


def test_simpump_url_options_and_errors() -> None:
    port = serial.serial_for_url("simpump://?scenario=motor-stall&speed=60&seed=1", timeout=1)
    with port:
        status = exchange(port, p.GetStatus(), 1)
        assert "motor_stall" in p.alarm_names(status.active_alarms)  # type: ignore[attr-defined]
        assert port.pump.speed == 60  # type: ignore[attr-defined]
    for bad in ("simpump://?scenario=nope", "simpump://?colour=red", "simpump://?faults=x=1"):
        with pytest.raises(serial.SerialException):
            serial.serial_for_url(bad)


def test_simpump_baud_emulation_paces_the_reply() -> None:
    with serial.serial_for_url("simpump://?baud=9600", timeout=0) as port:
        request = p.encode_frame(p.Identify(), 1)
        started = time.monotonic()
        port.write(request)
        assert port.read(100) == b""  # nothing can have crossed the line yet
        port.timeout = 2.0
        reply = port.read(len(p.encode_frame(make_reply_identity(), 1)))
        elapsed = time.monotonic() - started
    assert p.decode_frame(reply).message() == make_reply_identity()
    assert elapsed >= p.wire_time_s(len(request) + len(reply), 9600)


def make_reply_identity() -> p.Identity:
    return PumpResponder(make_pump()).execute(p.Identify())  # type: ignore[return-value]


def test_simpump_read_returns_what_arrived_when_the_timeout_ends() -> None:
    with serial.serial_for_url("simpump://", timeout=0.05) as port:
        port.write(p.encode_frame(p.Identify(), 1))
        started = time.monotonic()
        data = port.read(10_000)  # far more than will come
        assert time.monotonic() - started >= 0.05
        assert p.decode_frame(data).message() == make_reply_identity()
        assert port.read(10) == b""


def test_simpump_cancel_read_releases_a_blocked_reader() -> None:
    with serial.serial_for_url("simpump://", timeout=None) as port:
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(port.read(1)))
        reader.start()
        port.cancel_read()
        reader.join(5.0)
        assert not reader.is_alive()
        assert result == [b""]


def test_simpump_state_file_keeps_a_refill_between_runs(tmp_path: Path) -> None:
    state = tmp_path / "pump.json"
    url = f"simpump://?scenario=low-reservoir&state={state}"
    with serial.serial_for_url(url, timeout=1) as port:
        update = p.UpdateReservoir(35_000, 2_000, 2_000, 1, 0, 0, "Gablofen")
        assert isinstance(exchange(port, update, 1), p.ReservoirUpdated)
    assert state.exists()
    with serial.serial_for_url(url, timeout=1) as port:
        status = exchange(port, p.GetStatus(), 1)
    assert isinstance(status, p.Status)
    assert 34_990 < status.reservoir_ul <= 35_000
    assert status.drug_name == "Gablofen"


# --------------------------------------------------------------------------- pty and TCP


def test_pty_server_answers_identify() -> None:
    pump = make_pump()
    with PtyServer(PumpResponder(pump), baud=115_200) as server:
        assert os.path.exists(server.device)
        with serial.serial_for_url(server.device, baudrate=115_200, timeout=0.5) as port:
            identity = exchange(port, p.Identify(), 0x21)
            assert isinstance(identity, p.Identity) and identity.serial == pump.serial
            status = exchange(port, p.GetStatus(), 0x22)
            assert status.reservoir_ul == 30_000  # type: ignore[attr-defined]


def test_tcp_server_answers_identify_and_survives_a_disconnect() -> None:
    pump = make_pump()
    responder = PumpResponder(pump)
    with TcpServer(responder) as server:
        with serial.serial_for_url(server.url, timeout=0.5) as port:
            identity = exchange(port, p.Identify(), 0x31)
            assert isinstance(identity, p.Identity) and identity.model == "SIM-40"
            responder.faults.force("disconnect", 0.0)
            port.write(p.encode_frame(p.GetStatus(), 0x32))
            port.timeout = 5.0
            with pytest.raises(serial.SerialException, match="disconnected"):
                port.read(1)  # the server closed the connection
        with serial.serial_for_url(server.url, timeout=0.5) as port:
            assert isinstance(exchange(port, p.Identify(), 0x33), p.Identity)


def test_tcp_server_survives_a_step_at_minute_1440_and_answers_every_later_connection() -> None:
    pump = make_pump()
    with TcpServer(PumpResponder(pump)) as server:
        with serial.serial_for_url(server.url, timeout=0.5) as port:
            assert exchange_wire(port, stage_with_step_at_midnight(0x41), 0x41) == BAD_PAYLOAD
            assert isinstance(exchange(port, p.Identify(), 0x42), p.Identity)
        with serial.serial_for_url(server.url, timeout=0.5) as port:
            assert isinstance(exchange(port, p.Identify(), 0x43), p.Identity)


def test_tcp_reader_logs_a_failure_and_keeps_serving(caplog: pytest.LogCaptureFixture) -> None:
    """Whatever serving one chunk of bytes raises, the reader thread lives on: the next
    request on the same connection is answered."""
    responder = PumpResponder(make_pump())
    receive = responder.receive
    failed = threading.Event()

    def fails_once(data: bytes) -> list[Outgoing]:
        responder.receive = receive  # type: ignore[method-assign]
        failed.set()
        raise RuntimeError("simulated fault in the responder")

    responder.receive = fails_once  # type: ignore[method-assign]
    with TcpServer(responder) as server:
        with serial.serial_for_url(server.url, timeout=0.2) as port:
            port.write(p.encode_frame(p.GetStatus(), 0x51))  # lost with the failure
            assert failed.wait(5.0)
            # replies keep their order on the stream: the first frame to come back is
            # IDENTIFY's (exchange checks its seq), so the failed request got no answer
            assert isinstance(exchange(port, p.Identify(), 0x52), p.Identity)
    assert "could not be served" in caplog.text and "simulated fault" in caplog.text
