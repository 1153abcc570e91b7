"""Link session: retries reuse the sequence number, faults never yield a wrong value,
errors are typed and tell the user what to do, Cancel works, counters count."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import protocol as p
from drivers.link import (
    Cancelled,
    Link,
    LinkCorrupted,
    LinkError,
    LinkLost,
    PortUnavailable,
    ProtocolMismatch,
    PumpBusy,
    PumpNotAnswering,
    PumpRefused,
    RetryPolicy,
)

BOLUS = p.SingleBolus(50_000_000, 60)


def test_request_returns_the_matching_reply_and_counts(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    reply = link.request(p.Identify())
    assert isinstance(reply, p.Identity) and reply.serial == "NGP123456H"
    c = link.counters
    assert (c.frames_sent, c.frames_received, c.retries, c.timeouts) == (1, 1, 0, 0)
    assert c.bytes_sent == 11 and c.bytes_received == len(p.encode_frame(reply, 0x11))
    assert port.seqs == [0x11]


def test_each_new_request_gets_a_new_sequence_number(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    for _ in range(300):
        link.request(p.ReadClock())
    assert all(b == (a + 1) & 0xFF for a, b in zip(port.seqs, port.seqs[1:], strict=False))


@pytest.mark.parametrize("fault", ["drop_reply", "corrupt_reply", "late_reply", "drop_request"])
def test_a_retried_write_reuses_its_seq_and_is_applied_once(
    pump: Any, make_link: Any, fault: str
) -> None:
    link, port = make_link(pump, [fault])
    reply = link.request(BOLUS)
    assert reply == p.BolusAccepted(BOLUS.dose_ng, 60, pump.clock_s + 3600)
    assert port.seqs[0] == port.seqs[1] and len(port.seqs) == 2
    assert pump.boluses == 1
    assert link.counters.retries == 1


def test_corrupt_reply_counts_a_crc_error(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["corrupt_reply"])
    link.request(p.GetStatus())
    assert link.counters.crc_errors + link.counters.framing_errors == 1


def test_nak_is_retried_and_counted(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump, ["corrupt_request"])
    assert isinstance(link.request(p.GetStatus()), p.Status)
    assert link.counters.naks == 1 and link.counters.retries == 1
    assert len(port.seqs) == 1  # the damaged copy never reached the pump as a request


def test_busy_waits_and_retries_without_using_an_attempt(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["busy", "busy", "busy", "busy", "busy"])
    assert isinstance(link.request(BOLUS), p.BolusAccepted)
    assert link.counters.busy == 5 and pump.boluses == 1


def test_garbage_before_a_reply_is_skipped(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["garbage"])
    assert isinstance(link.request(p.Identify()), p.Identity)
    assert link.counters.framing_errors >= 1


def test_a_late_reply_is_never_taken_for_the_next_request(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["late_reply"])
    link.request(p.ReadClock())
    status = link.request(p.GetStatus())  # the duplicate clock reply is still in the buffer
    assert isinstance(status, p.Status) and status.reservoir_ul == pump.reservoir_ul
    assert link.counters.stale_frames == 1


def test_no_answer_raises_pump_not_answering_with_advice(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump, ["drop_reply"] * 4)
    with pytest.raises(PumpNotAnswering, match="Place the programmer head over the pump") as err:
        link.request(BOLUS)
    assert err.value.may_have_arrived  # the pump did execute it; only the reply was lost
    assert pump.boluses == 1 and len(set(port.seqs)) == 1 and len(port.seqs) == 4
    assert link.counters.timeouts == 4 and link.counters.retries == 3


def test_persistent_corruption_raises_link_corrupted(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["corrupt_reply"] * 4)
    with pytest.raises(LinkCorrupted, match="noisy") as err:
        link.request(p.GetStatus())
    assert err.value.may_have_arrived


def test_a_frame_error_nak_does_not_prove_a_write_was_not_executed(
    pump: Any, make_link: Any
) -> None:
    """Its seq may belong to a fragment of an earlier transmission, so only a read-back may
    settle the outcome."""
    link, _ = make_link(pump, ["corrupt_request"] * 4)
    with pytest.raises(LinkCorrupted) as err:
        link.request(BOLUS)
    assert err.value.may_have_arrived and pump.boluses == 0


def test_a_request_split_by_a_flag_byte_is_not_reported_as_refused(
    pump: Any, make_link: Any
) -> None:
    """A flag byte inside the first two transmissions: four NAKs for three transmissions.
    The spare NAKs must not be taken for the answer to the third, which the pump executed."""
    link, port = make_link(pump, ["split_request", "split_request"])
    reply = link.request(BOLUS)
    assert isinstance(reply, p.BolusAccepted) and pump.boluses == 1
    assert len(set(port.seqs)) == 1  # every transmission was the same request


def test_spare_naks_after_the_last_attempt_leave_the_outcome_open(
    pump: Any, make_link: Any
) -> None:
    link, _ = make_link(pump, ["split_request"] * 3 + [None])
    try:
        link.request(BOLUS)
    except LinkError as exc:  # whatever the link reports, it never claims "not executed"
        assert exc.may_have_arrived or pump.boluses == 0
    else:
        assert pump.boluses == 1


def test_a_nak_for_another_sequence_number_is_stale(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    port.rx += p.encode_frame(p.Nak(p.NakCode.FRAME_ERROR, 1, 1), 0x42)
    assert isinstance(link.request(BOLUS), p.BolusAccepted)
    assert link.counters.stale_frames == 1 and link.counters.naks == 0


def test_a_duplicated_busy_never_reports_an_executed_write_as_not_sent(
    pump: Any, make_link: Any
) -> None:
    """The line repeats a BUSY; its copy is read as the answer to the retry, which the pump
    executed. A cancel during the wait that follows must not say "nothing was sent"."""
    link, port = make_link(pump, ["busy_dup"])
    waits = 0
    original = port.time.wait

    def wait(event: threading.Event, seconds: float) -> bool:
        nonlocal waits
        waits += 1
        if waits == 2:  # the wait after the duplicated BUSY
            link.cancel()
            return True
        return original(event, seconds)

    port.time.wait = wait
    with pytest.raises(LinkError) as err:
        link.request(BOLUS)
    assert pump.boluses == 1 and err.value.may_have_arrived


def test_endless_busy_raises_pump_busy(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump, ["busy"] * 50)
    with pytest.raises(PumpBusy, match="busy"):
        link.request(BOLUS)
    assert pump.boluses == 0


def test_refusal_is_reported_with_its_reason_and_not_retried(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    with pytest.raises(PumpRefused, match="Nothing is staged") as err:
        link.request(p.CommitProgram(123))
    assert err.value.code == p.RefusalCode.NOT_STAGED and not err.value.may_have_arrived
    assert len(port.seqs) == 1


def test_pump_of_another_version_is_a_protocol_mismatch(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    pump.version = 3  # e.g. the pump's firmware was updated
    with pytest.raises(ProtocolMismatch, match=r"versions 3\.\.3") as err:
        link.request(p.Identify())
    assert "Update the console software" in str(err.value) and len(port.seqs) == 1


def test_unexpected_reply_type_is_a_protocol_mismatch(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump)
    pump.answer = lambda r: p.Clock(1)
    with pytest.raises(ProtocolMismatch):
        link.request(p.GetStatus())


@pytest.mark.parametrize("fault", ["disconnect_before", "disconnect_after"])
def test_disconnect_raises_link_lost(pump: Any, make_link: Any, fault: str) -> None:
    link, _ = make_link(pump, [fault])
    with pytest.raises(LinkLost, match="Reconnect") as err:
        link.request(BOLUS)
    assert isinstance(err.value, PortUnavailable)
    assert err.value.may_have_arrived is (fault == "disconnect_after")


def test_deadline_bounds_an_operation(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump, ["drop_reply"] * 10, policy=RetryPolicy(attempts=10))
    start = link.now()
    with pytest.raises(PumpNotAnswering):
        link.request(p.GetStatus(), deadline=start + 0.5)
    assert link.now() - start <= 0.5 + 0.1  # one read slice past the deadline at most
    assert len(port.seqs) < 10


def test_traffic_callback_sees_every_byte(pump: Any, make_link: Any) -> None:
    seen: list[tuple[str, bytes]] = []
    link, _ = make_link(pump, traffic=lambda d, b: seen.append((d, b)))
    seen.clear()  # drop the session's opening IDENTIFY
    link.request(p.Identify())
    assert seen[0] == ("tx", p.encode_frame(p.Identify(), 0x11))
    assert b"".join(b for d, b in seen if d == "rx") == p.encode_frame(
        pump.answer(p.Identify()), 0x11
    )


# --------------------------------------------------------------------------- fault property


FAULTS = st.sampled_from(
    [None, None, "drop_request", "drop_reply", "corrupt_request", "split_request",
     "corrupt_reply", "late_reply", "garbage", "busy", "disconnect_after"]
)  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(FAULTS, max_size=12))
def test_under_any_faults_a_read_is_right_or_an_error(fakes: Any, faults: list[str | None]) -> None:
    FakePump, fake_link, make_events = fakes.FakePump, fakes.fake_link, fakes.make_events

    pump = FakePump(events=make_events(3))
    link, _ = fake_link(pump, faults)
    truth = pump.answer(p.GetStatus())
    for request in (p.GetStatus(), p.ReadEvents(0, 10), p.GetStatus()):
        try:
            reply = link.request(request)
        except LinkError:
            continue
        assert reply == pump.answer(request)
    assert pump.answer(p.GetStatus()) == truth


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(FAULTS, max_size=8))
def test_under_any_faults_a_bolus_is_applied_at_most_once(
    fakes: Any, faults: list[str | None]
) -> None:
    FakePump, fake_link = fakes.FakePump, fakes.fake_link

    pump = FakePump()
    link, _ = fake_link(pump, faults)
    try:
        link.request(BOLUS)
    except LinkError as exc:
        assert pump.boluses <= 1
        if not exc.may_have_arrived:
            assert pump.boluses == 0
    else:
        assert pump.boluses == 1


# --------------------------------------------------------------------------- cancel


class SilentPort:
    """A port that blocks like a real one and never answers."""

    def __init__(self) -> None:
        self.timeout: float | None = 0.05
        self.baudrate = 9600
        self.written = threading.Event()
        self._never = threading.Event()

    @property
    def in_waiting(self) -> int:
        return 0

    def write(self, data: bytes) -> int:
        self.written.set()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self._never.wait(self.timeout)  # a real port's read timeout, not a test sleep
        return b""

    def close(self) -> None:
        pass


def test_cancel_from_another_thread_stops_a_waiting_request() -> None:
    port = SilentPort()
    cancel = threading.Event()
    link = Link(port, cancel=cancel, policy=RetryPolicy(attempts=1000))  # type: ignore[arg-type]
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            link.request(p.Identify())
        except LinkError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert port.written.wait(timeout=5)
    cancel.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert isinstance(outcome[0], Cancelled) and outcome[0].may_have_arrived


def test_a_new_session_opens_with_identify_so_a_repeat_is_not_mistaken_for_a_retry(
    fakes: Any,
) -> None:
    FakePort, FakePump, FakeTime = fakes.FakePort, fakes.FakePump, fakes.FakeTime

    pump = FakePump()
    for _ in range(2):  # two sessions, same first seq, same bolus: both must be delivered
        time = FakeTime()
        port = FakePort(pump, time)
        link = Link(port, timebase=time, first_seq=0x20)  # type: ignore[arg-type]
        link.request(BOLUS)
        assert port.seqs == [0x21, 0x22]
    assert pump.boluses == 2


def test_cancel_before_start_sends_nothing(pump: Any, make_link: Any) -> None:
    link, port = make_link(pump)
    link.cancel()
    with pytest.raises(Cancelled) as err:
        link.request(BOLUS)
    assert not err.value.may_have_arrived and port.seqs == [] and pump.boluses == 0


# --------------------------------------------------------------------------- opening ports


def test_missing_port_is_reported_plainly() -> None:
    with pytest.raises(PortUnavailable, match="not found") as err:
        Link.open("/dev/does-not-exist-itb")
    assert "plugged in" in str(err.value)


def test_unknown_url_scheme_is_reported_plainly() -> None:
    with pytest.raises(PortUnavailable, match="not a port"):
        Link.open("nosuchscheme://x")


@pytest.mark.skipif(os.name != "posix", reason="pty and flock are POSIX")
def test_port_in_use_is_reported_plainly() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    first = Link.open(path, baud=9600)
    try:
        with pytest.raises(PortUnavailable, match="in use"):
            Link.open(path, baud=9600)
    finally:
        first.close()
        os.close(master)
        os.close(slave)


def test_closed_link_refuses_requests(pump: Any, make_link: Any) -> None:
    link, _ = make_link(pump)
    link.close()
    with pytest.raises(LinkLost):
        link.request(p.Identify())


def test_loop_url_opens_through_serial_for_url() -> None:
    link = Link.open("loop://", baud=9600)
    try:
        assert isinstance(link.port, serial.SerialBase) and link.baud == 9600
    finally:
        link.close()
