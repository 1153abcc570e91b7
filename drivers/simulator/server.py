"""The simulated pump's protocol responder, wire pacing, and its pty and TCP servers.

Layers, each small enough to test on its own:

* :class:`PumpResponder` — bytes in, reply frames out. Decodes requests with the codec in
  :mod:`drivers.protocol`, applies them to a :class:`~drivers.simulator.pump.SimPump`, and
  keeps the reply cache of docs/protocol.md (last reply, keyed by the request's ``seq`` and
  ``crc``) so a retried write is never applied twice. Wire faults from
  :class:`~drivers.simulator.faults.FaultInjector` are applied here, to frames, never to the
  pump.
* :class:`WirePacer` — emulates serial wire time (10 bits a byte at ``baud``) in both
  directions: a reply cannot start before the request has fully arrived, and its bytes are
  released no faster than the line could carry them.
* :class:`PtyServer` and :class:`TcpServer` — serve a responder on a new pseudo-terminal
  (a real serial path for the console to open) or on a TCP port (``socket://host:port``).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from drivers import protocol as p
from drivers.simulator.alarms import Alarm
from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind
from drivers.simulator.faults import FaultInjector
from drivers.simulator.program_arithmetic import programmed_day_mcg
from drivers.simulator.pump import SimPump
from itbconsole.model import Program, PumpEvent

log = logging.getLogger(__name__)

#: Every capability the simulated pump has.
CAPABILITIES = sum(1 << bit for bit in p.CAPABILITY_BITS.values())
#: The protocol versions the simulated pump speaks, lowest and highest.
SPOKEN = (min(p.SUPPORTED_VERSIONS), max(p.SUPPORTED_VERSIONS))
BUSY_RETRY_MS = 50
#: How much later the NAK for the second fragment of a split request leaves the pump.
SPLIT_LAG_S = 0.005
#: Motor steps per microlitre pushed (a diagnostics figure, not physics).
MOTOR_STEPS_PER_UL = 20

_WRITES = (
    p.StageProgram,
    p.CommitProgram,
    p.UpdateReservoir,
    p.SingleBolus,
    p.AcknowledgeAlarms,
    p.AlarmTest,
    p.SetClock,
)


@dataclass(frozen=True)
class Outgoing:
    """One transmission from the pump: ``data`` after ``delay_s`` of extra silence. With
    ``disconnect_s`` set the link drops for that long (TCP: the connection closes)."""

    data: bytes
    delay_s: float = 0.0
    disconnect_s: float | None = None


@dataclass
class _Cached:
    seq: int
    crc: int
    reply: bytes


@dataclass
class LinkCounters:
    frames_received: int = 0
    frames_sent: int = 0
    crc_errors: int = 0
    naks_sent: int = 0
    busy_sent: int = 0
    cache_hits: int = 0


def _ng(mcg: Decimal) -> int:
    return int((mcg * 1000).to_integral_value())


class PumpResponder:
    """Decodes request frames, applies them to the pump, encodes replies (thread-safe).

    ``on_change`` runs after every request that changed the pump (for example to save the
    state file). ``monotonic`` is the time source for link silences (injectable)."""

    def __init__(
        self,
        pump: SimPump,
        faults: FaultInjector | None = None,
        *,
        on_change: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pump = pump
        self.faults = faults or FaultInjector()
        self.on_change = on_change
        self.counters = LinkCounters()
        self._monotonic = monotonic
        self._started = monotonic()
        self._decoder = p.FrameDecoder()
        self._cache: _Cached | None = None
        self._silent_until = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ bytes in, frames out

    def receive(self, data: bytes) -> list[Outgoing]:
        """Feed bytes from the line; returns what the pump sends back, in order.

        Never raises for what arrives: a request that fails in an unforeseen way is logged
        and goes unanswered (it may have changed the pump half way, so a NAK, which says
        "not executed", could be false), and the frames behind it are still served. One bad
        request must not silence the pump for every later one."""
        out: list[Outgoing] = []
        with self._lock:
            for item in self._decoder.feed(data):
                if self._monotonic() < self._silent_until:
                    continue  # the link is down: nothing arrives
                if isinstance(item, p.FrameError):
                    self.counters.crc_errors += 1
                    seq = item.data[1] if len(item.data) > 1 else 0
                    out += self._send(p.Nak(p.NakCode.FRAME_ERROR, 1, 1), seq)
                    continue
                try:
                    out += self._on_frame(item)
                except Exception:
                    log.exception(
                        "request type 0x%02X seq %d failed; left unanswered", item.type, item.seq
                    )
        return out

    def _on_frame(self, frame: p.Frame) -> list[Outgoing]:
        fate = self.faults.request_fate(frame.type)
        if fate.disconnect_s is not None:
            self._silent_until = self._monotonic() + fate.disconnect_s
            self._decoder.reset()
            return [Outgoing(b"", disconnect_s=fate.disconnect_s)]
        if fate.drop:
            return []
        if fate.corrupt:  # what the pump sees of a corrupted frame: a CRC failure
            self.counters.crc_errors += 1
            return self._send(p.Nak(p.NakCode.FRAME_ERROR, 1, 1), frame.seq)
        if fate.split:
            return self._split(frame)
        self.counters.frames_received += 1
        if frame.version not in p.SUPPORTED_VERSIONS:
            nak = p.Nak(p.NakCode.UNSUPPORTED_VERSION, *SPOKEN)
            return self._send(nak, frame.seq)
        cached = self._cache
        if cached is not None and (cached.seq, cached.crc) == (frame.seq, frame.crc):
            self.counters.cache_hits += 1
            return self._transmit(cached.reply)
        try:
            request = frame.message()
        except p.UnknownMessageType:
            return self._send(p.Nak(p.NakCode.UNKNOWN_TYPE, 1, 1), frame.seq)
        except p.ProtocolError:
            return self._send(p.Nak(p.NakCode.BAD_PAYLOAD, 1, 1), frame.seq)
        except Exception:  # the codec promises ProtocolError; nothing ran either way
            log.exception("request type 0x%02X did not decode", frame.type)
            return self._send(p.Nak(p.NakCode.BAD_PAYLOAD, 1, 1), frame.seq)
        if not request.is_request:
            return self._send(p.Nak(p.NakCode.UNKNOWN_TYPE, 1, 1), frame.seq)
        if fate.busy:
            return self._send(p.Busy(BUSY_RETRY_MS), frame.seq)
        try:
            reply = self.execute(request)
        except PumpCommandError as exc:
            code = p.RefusalCode.__members__.get(exc.reason.upper(), p.RefusalCode.OTHER)
            reply = p.Refused(code, str(exc)[:200])
        wire = p.encode_frame(reply, frame.seq, frame.version)
        self._cache = _Cached(frame.seq, frame.crc, wire)
        if isinstance(request, _WRITES) and self.on_change is not None:
            self.on_change()
        return self._transmit(wire)

    def _split(self, frame: p.Frame) -> list[Outgoing]:
        """A flag byte inside the request: two damaged fragments, each answered with NAK
        FRAME_ERROR carrying its own second byte as ``seq``. The second fragment ends only
        when the rest of the request has arrived, so its NAK follows a moment later."""
        raw = p.encode_raw(frame.version, frame.seq, frame.type, frame.payload)
        mid = len(raw) // 2
        out: list[Outgoing] = []
        for n, fragment in enumerate((raw[:mid], raw[mid:])):
            self.counters.crc_errors += 1
            seq = fragment[1] if len(fragment) > 1 else 0
            for sent in self._send(p.Nak(p.NakCode.FRAME_ERROR, 1, 1), seq):
                out.append(Outgoing(sent.data, sent.delay_s + SPLIT_LAG_S * n, sent.disconnect_s))
        return out

    def _send(self, message: p.Message, seq: int) -> list[Outgoing]:
        """Send an uncached reply (NAK, BUSY)."""
        if isinstance(message, p.Nak):
            self.counters.naks_sent += 1
        elif isinstance(message, p.Busy):
            self.counters.busy_sent += 1
        return self._transmit(p.encode_frame(message, seq))

    def _transmit(self, wire: bytes) -> list[Outgoing]:
        fate = self.faults.reply_fate()
        self.counters.frames_sent += 1
        if fate.drop:
            return [Outgoing(fate.noise, fate.delay_s)] if fate.noise else []
        if fate.corrupt:
            wire = self.faults.corrupt(wire)
        return [Outgoing(fate.noise + wire, fate.delay_s)]

    # ------------------------------------------------------------------ requests

    def execute(self, request: p.Message) -> p.Message:
        """Apply one decoded request to the pump and build its reply."""
        pump = self.pump
        if isinstance(request, p.Identify):
            return p.Identity(
                p.PROTOCOL_VERSION,
                CAPABILITIES,
                pump.reservoir_capacity_ul,
                pump.model,
                pump.serial,
                pump.firmware,
            )
        if isinstance(request, p.GetStatus):
            return self._status()
        if isinstance(request, p.ReadProgram):
            return p.ProgramReply(p.pump_seconds(pump.program_started), pump.program)
        if isinstance(request, p.StageProgram):
            return p.Staged(pump.stage_program(request.program))
        if isinstance(request, p.CommitProgram):
            pump.commit_program(request.checksum)
            # The pump reports what it believes it stored: an altered program (a commit
            # fault) is caught only by reading the program back.
            return p.Committed(request.checksum, p.pump_seconds(pump.program_started))
        if isinstance(request, p.UpdateReservoir):
            pump.update_reservoir(
                request.volume_ul,
                drug=request.drug_name,
                drug_code=request.drug_code,
                concentration_mcg_ml=request.concentration_mcg_ml,
                alarm_volume_ul=request.alarm_volume_ul,
                bridge_volume_ul=request.bridge_volume_ul,
                bridge_duration_min=request.bridge_duration_min,
            )
            return p.ReservoirUpdated(
                request.volume_ul,  # the volume stored (docs/protocol.md), not the live estimate
                pump.alarm_volume_ul,
                pump.concentration_mcg_ml,
                pump.drug_code,
                request.bridge_volume_ul,
                request.bridge_duration_min,
                pump.drug,
            )
        if isinstance(request, p.SingleBolus):
            ends = self._bolus_end_clock_s(request.duration_min)
            pump.give_bolus(p.ng_to_mcg(request.dose_ng), request.duration_min)
            return p.BolusAccepted(request.dose_ng, request.duration_min, ends)
        if isinstance(request, p.AcknowledgeAlarms):
            active = set(pump.alarms())
            for name in p.alarm_names(request.alarm_mask):
                if name in active:
                    pump.acknowledge_alarm(name)
            status = pump.status()
            acknowledged = set(status.alarms) - set(status.unacknowledged_alarms)
            return p.Alarms(self._mask(status.alarms), self._mask(acknowledged))
        if isinstance(request, p.AlarmTest):
            pump.alarm_test()
            return p.AlarmTestDone()
        if isinstance(request, p.ReadClock):
            return p.Clock(p.pump_seconds(pump.pump_clock()))
        if isinstance(request, p.SetClock):
            old = p.pump_seconds(pump.pump_clock())
            pump.set_clock(p.pump_datetime(request.clock_s))
            return p.ClockSet(old, request.clock_s)
        if isinstance(request, p.ReadEvents):
            return self._events(request)
        if isinstance(request, p.GetDiagnostics):
            c = self.counters
            return p.Diagnostics(
                uptime_s=int(self._monotonic() - self._started),
                frames_received=c.frames_received,
                frames_sent=c.frames_sent,
                crc_errors=c.crc_errors,
                naks_sent=c.naks_sent,
                busy_sent=c.busy_sent,
                resets=pump.resets,
                battery_mv=pump.battery_mv,
                motor_steps=int(pump.delivered_ul_total * MOTOR_STEPS_PER_UL) & 0xFFFFFFFF,
                motor_current_ua=850 if pump.delivering() else 0,
                motor_stalls=pump.motor_stalls,
            )
        raise PumpCommandError("not_supported", f"{type(request).__name__} is not supported.")

    def _bolus_end_clock_s(self, duration_min: int) -> int:
        """The pump clock value when a bolus of ``duration_min`` would end, worked out before
        the bolus starts: a duration whose end the reply cannot carry (beyond the pump
        clock's range) is refused rather than delivered without an answer."""
        try:
            return p.pump_seconds(self.pump.pump_clock() + timedelta(minutes=duration_min))
        except (OverflowError, p.EncodeError):
            raise PumpCommandError(
                "out_of_range", "A bolus cannot end beyond the pump clock's range."
            ) from None

    @staticmethod
    def _mask(names: object) -> int:
        assert isinstance(names, (set, tuple, frozenset, list))
        return p.alarm_mask(n for n in names if n in p.ALARM_BITS)

    def _status(self) -> p.Status:
        pump = self.pump
        s = pump.status()
        flags = (p.POWER_ERI if s.eri else 0) | (p.POWER_EOS if s.eos else 0)
        return p.Status(
            clock_s=p.pump_seconds(s.pump_clock),
            reservoir_ul=s.reservoir_ul,
            alarm_volume_ul=s.alarm_volume_ul,
            alarm_date=_wire_date(s.alarm_date),
            battery_mv=s.battery_mv,
            power_flags=flags,
            eri_date=_wire_date(s.eri_date),
            eos_date=_wire_date(s.eos_date),
            active_alarms=self._mask(s.alarms),
            concentration_mcg_ml=s.concentration_mcg_ml,
            drug_code=pump.drug_code,
            drug_name=s.drug,
            event_total=pump.event_count,
            serial=pump.serial,
        )

    def _events(self, request: p.ReadEvents) -> p.Events:
        if request.max_count < 1:
            raise PumpCommandError("out_of_range", "Ask for at least one event.")
        count = min(request.max_count, p.MAX_EVENTS_PER_PAGE)
        total = self.pump.event_count
        first = min(request.start_index, total)
        page = self.pump.events(first, count)
        records = tuple(event_record(e) for e in page)
        return p.Events(first, first + len(records), total, records)


def _wire_date(day: date | None) -> date | None:
    """``day`` if the protocol's date field can carry it, else None (sent as 0xFFFF,
    unknown). A pump clock set back to near 2000 puts a date already reached (ERI) before
    the pump epoch; the status must still be answered rather than fail to encode."""
    if day is None:
        return None
    try:
        p.pump_days(day)
    except p.EncodeError:
        return None
    return day


def event_record(event: PumpEvent) -> p.EventRecord:
    """A pump log entry in the protocol's 13-byte form (arguments per docs/protocol.md)."""
    d = event.detail
    kind = event.kind
    a = b = 0
    if kind == EventKind.REFILL:
        a, b = d["reservoir_ul"], d["concentration_mcg_ml"]
    elif kind == EventKind.PROGRAM_CHANGE:
        new = Program.from_dict(d["new"])
        a = round(programmed_day_mcg(new) * 1000)  # ng/day (flex: the default day)
        b = p.MODE_CODES[new.mode]
    elif kind in (EventKind.PATIENT_BOLUS, EventKind.SINGLE_BOLUS):
        a, b = _ng(Decimal(d["dose_mcg"])), d["duration_min"]
    elif kind == EventKind.PATIENT_BOLUS_DENIED:
        a = _ng(Decimal(d["dose_mcg"]))
    elif kind == EventKind.BRIDGE_BOLUS:
        a, b = d["volume_ul"], d["duration_min"]
    elif kind in (EventKind.ALARM_RAISED, EventKind.ALARM_CLEARED, EventKind.DELIVERY_STOPPED):
        a = p.ALARM_BITS.get(d["alarm"], 15)
    elif kind == EventKind.ALARM_ACKNOWLEDGED:
        a = 1 << p.ALARM_BITS.get(d["alarm"], 15)
    elif kind == EventKind.CLOCK_SET:
        a = p.pump_seconds(datetime.fromisoformat(d["old"]))
        b = p.pump_seconds(datetime.fromisoformat(d["new"]))
    elif kind == EventKind.RESET:
        a = d.get("reason", 0)
    return p.EventRecord(p.EVENT_CODES[kind], p.pump_seconds(event.at), a, b)


# =========================================================================== wire time


class WirePacer:
    """Serial wire time for one link (8N1: 10 bits a byte). ``baud`` None: no pacing.

    ``arrived(n, now)`` says when ``n`` bytes written at ``now`` have fully reached the
    pump; ``schedule(n, earliest)`` reserves the pump's transmit line and returns when the
    first of ``n`` reply bytes starts; byte ``i`` is out at ``start + (i + 1) * char_s``.

    ``turnaround_s`` is the pump's thinking time: how long after a request has arrived its
    reply starts (a real pump takes up to 100 ms, docs/protocol.md "Timing"). Zero by
    default, so tests run fast; a benchmark sets it so a link that asks more often than it
    must is seen to be slower."""

    def __init__(self, baud: int | None, turnaround_s: float = 0.0) -> None:
        if baud is not None and baud <= 0:
            raise ValueError("baud must be positive")
        if not 0 <= turnaround_s <= 10:
            raise ValueError("turnaround must be 0 to 10 s")
        self.baud = baud
        self.turnaround_s = turnaround_s
        self.char_s = 0.0 if baud is None else p.BITS_PER_BYTE / baud
        self._rx_free = 0.0
        self._tx_free = 0.0
        self._lock = threading.Lock()

    def arrived(self, nbytes: int, now: float) -> float:
        with self._lock:
            self._rx_free = max(now, self._rx_free) + nbytes * self.char_s
            return self._rx_free

    def answered(self, nbytes: int, now: float) -> float:
        """When the pump can start answering ``nbytes`` written at ``now``: once they have
        arrived and the turnaround has passed."""
        return self.arrived(nbytes, now) + self.turnaround_s

    def schedule(self, nbytes: int, earliest: float) -> float:
        with self._lock:
            start = max(earliest, self._tx_free)
            self._tx_free = start + nbytes * self.char_s
            return start

    def reset(self) -> None:
        with self._lock:
            self._rx_free = self._tx_free = 0.0


# =========================================================================== stream servers


class _StreamLink:
    """Runs a responder over one byte stream (a pty master or a TCP connection): a reader
    thread feeds it, a writer thread sends replies at their paced release times."""

    def __init__(
        self,
        responder: PumpResponder,
        pacer: WirePacer,
        recv: Callable[[float], bytes | None],
        send: Callable[[bytes], None],
        on_disconnect: Callable[[float], bool],
        stop: threading.Event,
    ) -> None:
        self.responder = responder
        self.pacer = pacer
        self._recv = recv
        self._send = send
        self._on_disconnect = on_disconnect
        self._stop = stop
        self._closed = threading.Event()
        self._queue: deque[tuple[float, bytes]] = deque()
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read_loop, name="simpump-rx", daemon=True),
            threading.Thread(target=self._write_loop, name="simpump-tx", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()

    def _running(self) -> bool:
        return not (self._stop.is_set() or self._closed.is_set())

    def _read_loop(self) -> None:
        """Read until the stream ends or the server stops. Whatever one chunk of bytes
        causes is logged and the loop reads on: a dead reader would leave the pump "not
        answering" for this and, on TCP, every later connection. On the way out the link is
        closed, so the writer ends too and the server can take the next connection."""
        try:
            while self._running():
                try:
                    data = self._recv(0.1)
                except OSError:
                    break
                if data is None:
                    continue
                if not data:
                    break  # end of stream
                try:
                    if self._handle(data):
                        break
                except Exception:
                    log.exception(
                        "simulated pump: %d bytes received could not be served", len(data)
                    )
        finally:
            self.close()

    def _handle(self, data: bytes) -> bool:
        """Pass bytes to the responder and queue its replies at their wire times; True when
        a disconnect fault ends this link."""
        done = self.pacer.answered(len(data), time.monotonic())
        for item in self.responder.receive(data):
            if item.disconnect_s is not None:
                if self._on_disconnect(item.disconnect_s):
                    return True
                continue
            start = self.pacer.schedule(len(item.data), done + item.delay_s)
            with self._cond:
                self._queue.append((start, item.data))
                self._cond.notify()
        return False

    def _write_loop(self) -> None:
        """Send queued replies when due; if sending fails the link closes (so the reader
        stops too) rather than leaving a reader whose replies go nowhere."""
        try:
            self._write_queue()
        except OSError:
            pass  # the peer has gone: an ordinary end of the link
        except Exception:
            log.exception("simulated pump: sending a reply failed; closing the link")
        finally:
            self.close()

    def _write_queue(self) -> None:
        char_s = self.pacer.char_s
        # Write in chunks of about 5 ms of wire time, each when its last byte is due.
        chunk = max(1, int(0.005 / char_s)) if char_s else 1 << 16
        while True:
            with self._cond:
                while not self._queue and self._running():
                    self._cond.wait()
                if not self._running():
                    return
                start, data = self._queue.popleft()
            for i in range(0, len(data), chunk):
                piece = data[i : i + chunk]
                due = start + (i + len(piece)) * char_s
                while (wait := due - time.monotonic()) > 0 and self._running():
                    self._stop.wait(wait)
                if not self._running():
                    return
                self._send(piece)


class PtyServer:
    """Serves a responder on a new pseudo-terminal; :attr:`device` is the path to open
    (as a real serial port) from the console."""

    def __init__(
        self, responder: PumpResponder, baud: int | None = None, turnaround_s: float = 0.0
    ) -> None:
        self.responder = responder
        self.pacer = WirePacer(baud, turnaround_s)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a clean 8-bit line
        self.device = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._link = _StreamLink(
            responder, self.pacer, self._recv, self._write, self._silence, self._stop
        )

    def _recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return None
        try:
            return os.read(self._master, 4096)
        except OSError:
            return None  # no reader on the other side right now (EIO): keep serving

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._master, view)
            view = view[n:]

    def _silence(self, seconds: float) -> bool:
        return False  # a serial line cannot be unplugged from here: the pump goes quiet

    def start(self) -> PtyServer:
        self._link.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._link.close()
        self._link.join(1.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpServer:
    """Serves a responder on TCP, one connection at a time (one programmer head on one
    pump). A disconnect fault closes the connection; the console reconnects."""

    def __init__(
        self,
        responder: PumpResponder,
        host: str = "127.0.0.1",
        port: int = 0,
        baud: int | None = None,
        turnaround_s: float = 0.0,
    ) -> None:
        self.responder = responder
        self.pacer = WirePacer(baud, turnaround_s)
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(0.1)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="simpump-tcp", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"socket://{host}:{port}"

    def start(self) -> TcpServer:
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pacer.reset()
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        def recv(timeout: float) -> bytes | None:
            ready, _, _ = select.select([conn], [], [], timeout)
            return conn.recv(4096) if ready else None

        link = _StreamLink(
            self.responder, self.pacer, recv, conn.sendall, lambda _s: True, self._stop
        )
        link.start()
        link.join()
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(1.0)

    def __enter__(self) -> TcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "CAPABILITIES",
    "Alarm",
    "LinkCounters",
    "Outgoing",
    "PtyServer",
    "PumpResponder",
    "TcpServer",
    "WirePacer",
    "event_record",
]
