"""A minimal fake pump and in-memory ports for driver tests.

``FakePump`` answers every request of the protocol from a little honest state and keeps the
reply cache the protocol requires, so tests can prove a retried write is applied once.
``FakePort`` connects a Link to it in memory with scripted wire faults; its time advances
only when the Link waits (``FakeTime``), so fault scenarios take no real time.
``tcp_pump`` serves the same fake pump on a localhost socket for ``socket://`` tests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from drivers import protocol as p
from drivers.link import Link, RetryPolicy
from itbconsole.model import Program, simple_continuous

SERIAL = "NGP123456H"


@dataclass
class FakePump:
    program: Program = field(default_factory=lambda: simple_continuous(500))
    reservoir_ul: int = 18_250
    alarm_volume_ul: int = 2_000
    concentration_mcg_ml: int = 2_000
    drug_name: str = "Lioresal Intrathecal"
    drug_code: int = 1
    clock_s: int = 826_000_000
    alarms: int = 0x0001
    events: list[p.EventRecord] = field(default_factory=list)
    staged: Program | None = None
    commits: int = 0
    boluses: int = 0
    refills: int = 0
    executed: int = 0
    busy_next: int = 0
    version: int = p.PROTOCOL_VERSION
    _cache: tuple[int, int, bytes] | None = None

    def handle(self, frame: p.Frame) -> bytes:
        """Wire bytes of the reply to one decoded frame (cache rule as in docs)."""
        if self._cache and self._cache[:2] == (frame.seq, frame.crc):
            return self._cache[2]
        if frame.version != self.version:
            return p.encode_frame(
                p.Nak(p.NakCode.UNSUPPORTED_VERSION, self.version, self.version),
                frame.seq,
                self.version,
            )
        if self.busy_next:
            self.busy_next -= 1
            return p.encode_frame(p.Busy(10), frame.seq, frame.version)
        try:
            request = frame.message()
        except p.ProtocolError:
            return p.encode_frame(p.Nak(p.NakCode.BAD_PAYLOAD, 1, 1), frame.seq)
        self.executed += 1
        reply = self.answer(request)
        wire = p.encode_frame(reply, frame.seq, frame.version)  # replies in the request's
        self._cache = (frame.seq, frame.crc, wire)
        return wire

    def answer(self, r: p.Message) -> p.Message:
        if isinstance(r, p.Identify):
            return p.Identity(self.version, 0xFF, 40_000, "SIM-40", SERIAL, "1.0.0")
        if isinstance(r, p.GetStatus):
            return p.Status(
                self.clock_s, self.reservoir_ul, self.alarm_volume_ul, None, 2_950, 0, None,
                None, self.alarms, self.concentration_mcg_ml, self.drug_code, self.drug_name,
                len(self.events), SERIAL,
            )  # fmt: skip
        if isinstance(r, p.ReadProgram):
            return p.ProgramReply(self.clock_s - 3600, self.program)
        if isinstance(r, p.StageProgram):
            self.staged = r.program
            return p.Staged(p.program_checksum(r.program))
        if isinstance(r, p.CommitProgram):
            if self.staged is None:
                return p.Refused(p.RefusalCode.NOT_STAGED, "Nothing is staged")
            if p.program_checksum(self.staged) != r.checksum:
                return p.Refused(p.RefusalCode.CHECKSUM_MISMATCH, "Checksum differs")
            self.program, self.staged = self.staged, None
            self.commits += 1
            return p.Committed(r.checksum, self.clock_s)
        if isinstance(r, p.UpdateReservoir):
            self.reservoir_ul, self.alarm_volume_ul = r.volume_ul, r.alarm_volume_ul
            self.concentration_mcg_ml, self.drug_code = r.concentration_mcg_ml, r.drug_code
            self.drug_name = r.drug_name
            self.refills += 1
            return p.ReservoirUpdated.decode_payload(r.encode_payload())
        if isinstance(r, p.SingleBolus):
            self.boluses += 1
            self.events.append(p.EventRecord(4, self.clock_s, r.dose_ng, r.duration_min))
            return p.BolusAccepted(r.dose_ng, r.duration_min, self.clock_s + 60 * r.duration_min)
        if isinstance(r, p.AcknowledgeAlarms):
            return p.Alarms(self.alarms, r.alarm_mask & self.alarms)
        if isinstance(r, p.AlarmTest):
            return p.AlarmTestDone()
        if isinstance(r, p.ReadClock):
            return p.Clock(self.clock_s)
        if isinstance(r, p.SetClock):
            old, self.clock_s = self.clock_s, r.clock_s
            return p.ClockSet(old, r.clock_s)
        if isinstance(r, p.ReadEvents):
            total = len(self.events)
            start = min(r.start_index, total)
            page = tuple(self.events[start : start + min(r.max_count, p.MAX_EVENTS_PER_PAGE)])
            return p.Events(start, start + len(page), total, page)
        if isinstance(r, p.GetDiagnostics):
            return p.Diagnostics(100, 5, 5, 0, 0, 0, 1, 2_950, 10_000, 120, 0)
        return p.Nak(p.NakCode.UNKNOWN_TYPE, 1, 1)


def make_events(n: int) -> list[p.EventRecord]:
    return [p.EventRecord(1 + i % 14, 825_000_000 + 60 * i, i, -i) for i in range(n)]


class FakeTime:
    """Monotonic time that moves only when the link waits or a read times out."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.t += seconds
        return False


class Disconnected(Exception):
    pass


class FakePort:
    """In-memory port to a FakePump with a script of faults, one per request frame.

    Faults: ``drop_request`` (pump never sees it), ``drop_reply`` (pump executes, reply lost),
    ``corrupt_request`` (one bit flipped on the way in: the pump NAKs), ``split_request`` (a
    flag byte inside the request: the pump NAKs each fragment), ``corrupt_reply``,
    ``late_reply`` (reply arrives only after the link gave up waiting), ``garbage`` (noise
    before the reply), ``disconnect_before`` (write fails), ``disconnect_after`` (pump
    executes, then the port dies), ``busy``.
    """

    def __init__(self, pump: FakePump, time: FakeTime, faults: list[str | None] | None = None):
        import serial

        self._serial = serial
        self.pump = pump
        self.time = time
        self.faults = list(faults or [])
        self.timeout: float | None = 0.05
        self.baudrate = 115_200
        self.rx = bytearray()
        self.late = bytearray()
        self.dead = False
        self.decoder = p.FrameDecoder()
        self.seqs: list[int] = []
        self.requests: list[p.Message] = []  # every intact request the pump saw
        self.on_write: threading.Event | None = None

    @property
    def in_waiting(self) -> int:
        if self.dead:
            raise self._serial.SerialException("device disconnected")
        return len(self.rx)

    def write(self, data: bytes) -> int:
        if self.dead:
            raise self._serial.SerialException("device disconnected")
        fault = self.faults.pop(0) if self.faults else None
        if fault == "disconnect_before":
            self.dead = True
            raise self._serial.SerialException("device disconnected")
        if self.late:  # a late reply from the previous attempt arrives now
            self.rx += self.late
            self.late.clear()
        if fault == "corrupt_request":
            data = bytes(data[:4]) + bytes([data[4] ^ 0x01]) + bytes(data[5:])
        if fault == "split_request":  # a stray flag byte: two damaged fragments, two NAKs
            mid = len(data) // 2
            data = bytes(data[:mid]) + b"\x7e" + bytes(data[mid:])
        naks = 0
        for item in self.decoder.feed(data):
            if isinstance(item, p.FrameError):
                # as the protocol says: the seq is the damaged frame's second byte
                seq = item.data[1] if len(item.data) > 1 else 0
                nak = p.encode_frame(p.Nak(p.NakCode.FRAME_ERROR, 1, 1), seq)
                # the pump answers the first fragment while the second is still arriving,
                # so the link may be done reading before the spare NAK is on the line
                (self.late if naks else self.rx).extend(nak)
                naks += 1
                continue
            self.seqs.append(item.seq)
            self.requests.append(item.message())
            if fault == "drop_request":
                continue
            if fault in ("busy", "busy_dup"):
                self.rx += p.encode_frame(p.Busy(20), item.seq)
                if fault == "busy_dup":  # the line repeats it: the copy comes after the retry
                    self.late += p.encode_frame(p.Busy(20), item.seq)
                continue
            reply = self.pump.handle(item)
            if fault == "drop_reply":
                continue
            if fault == "disconnect_after":
                self.dead = True
                continue
            if fault == "corrupt_reply":
                i = len(reply) // 2
                reply = reply[:i] + bytes([reply[i] ^ 0x10 or 1]) + reply[i + 1 :]
            if fault == "late_reply":
                self.late += reply
                continue
            if fault == "garbage":
                self.rx += b"\x01\x7d\xff garbage \x00"
            self.rx += reply
        if self.on_write is not None:
            self.on_write.set()
        return len(data)

    def flush(self) -> None:
        pass

    def read(self, size: int = 1) -> bytes:
        if self.dead:
            raise self._serial.SerialException("device disconnected")
        if not self.rx:
            self.time.t += self.timeout or 0.0  # a real port would have waited this long
            return b""
        out = bytes(self.rx[:size])
        del self.rx[:size]
        return out

    def close(self) -> None:
        self.dead = True


@pytest.fixture
def pump() -> FakePump:
    return FakePump(events=make_events(150))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


FAST = RetryPolicy(attempts=4, backoff_s=0.02, backoff_max_s=0.2)


def fake_link(
    pump: FakePump, faults: list[str | None] | None = None, **kw: object
) -> tuple[Link, FakePort]:
    """A Link to ``pump`` whose session is already open (IDENTIFY sent with seq 0x10), so
    the scripted faults and the counters start with the test's own first request (0x11)."""
    time = FakeTime()
    port = FakePort(pump, time)
    kw.setdefault("policy", FAST)
    link = Link(port, baud=115_200, timebase=time, first_seq=0x0F, **kw)  # type: ignore[arg-type]
    link.request(p.Identify())
    link.counters = type(link.counters)()
    port.seqs.clear()
    port.faults = list(faults or [])
    return link, port


# --------------------------------------------------------------------------- TCP


def _serve(server: socket.socket, pump: FakePump, stop: threading.Event) -> None:
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        decoder = p.FrameDecoder()
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                for item in decoder.feed(data):
                    if isinstance(item, p.Frame):
                        conn.sendall(pump.handle(item))


@pytest.fixture
def tcp_pump(pump: FakePump) -> Iterator[tuple[str, FakePump]]:
    """``socket://127.0.0.1:PORT`` serving a FakePump; the thread ends with the test."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(server, pump, stop), daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{server.getsockname()[1]}", pump
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The fake classes for tests that build their own (e.g. one per hypothesis example)."""
    return SimpleNamespace(
        FakePump=FakePump, FakePort=FakePort, FakeTime=FakeTime, make_events=make_events,
        fake_link=fake_link,
    )  # fmt: skip


@pytest.fixture
def make_link() -> object:
    """``make_link(pump, faults, **link_kwargs) -> (Link, FakePort)``."""
    return fake_link
