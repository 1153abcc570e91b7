"""A request/response session with a pump over any pyserial port.

Why this layer exists: the programmer head is an unreliable wire. Everything that makes a
request safe to send lives here and nowhere else: every read has a timeout, a request is
retried a bounded number of times with backoff and **the same sequence number** (so the
pump's reply cache makes a retried write take effect at most once), every request has an
overall deadline, and another thread can cancel at any moment. Failures are typed errors
whose text tells the user what to do. Counters and an optional hex traffic log support
diagnostics.

The session never sleeps on a fixed delay: it reads with short timeouts (so Cancel is
noticed within ``read_slice_s``) and asks the port for as many bytes as the frame in
progress still needs, so it wakes as soon as a reply is complete.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import serial

from drivers.protocol import (
    DEFAULT_BAUD,
    PROTOCOL_VERSION,
    REPLY_FOR,
    SUPPORTED_VERSIONS,
    Busy,
    CrcError,
    Frame,
    FrameDecoder,
    FrameError,
    Identify,
    Identity,
    Message,
    Nak,
    NakCode,
    ProtocolError,
    RefusalCode,
    Refused,
    encode_frame,
    reply_max_size,
    reply_timeout_s,
)

log = logging.getLogger(__name__)
traffic_log = logging.getLogger("drivers.link.traffic")

TrafficCallback = Callable[[str, bytes], None]


# =========================================================================== errors


class LinkError(Exception):
    """A link operation failed. ``str(error)`` is a plain message saying what to do.

    ``may_have_arrived`` is True when the request may have reached the pump and been
    executed although no reply confirmed it: a write that fails this way has an
    *uncertain* outcome.
    """

    def __init__(self, message: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


class PumpNotAnswering(LinkError):
    def __init__(self, detail: str = "", *, may_have_arrived: bool = False) -> None:
        super().__init__(
            "The pump is not answering. Place the programmer head over the pump, hold it "
            "still and try again." + (f" ({detail})" if detail else ""),
            may_have_arrived=may_have_arrived,
        )


class PortUnavailable(LinkError):
    """The port cannot be opened (missing, in use, no permission) or went away."""


class LinkLost(PortUnavailable):
    """The port failed during a session (cable or adapter unplugged, connection closed)."""


class LinkCorrupted(LinkError):
    def __init__(self, bad_frames: int, *, may_have_arrived: bool = False) -> None:
        super().__init__(
            f"The link to the pump is too noisy: {bad_frames} damaged replies were discarded. "
            "Centre the programmer head over the pump, move away from other equipment and "
            "try again.",
            may_have_arrived=may_have_arrived,
        )
        self.bad_frames = bad_frames


class PumpBusy(LinkError):
    def __init__(self, *, may_have_arrived: bool = False) -> None:
        super().__init__(
            "The pump is busy and did not take the command. Wait a minute and try again.",
            may_have_arrived=may_have_arrived,
        )


class PumpRefused(LinkError):
    """The pump understood and declined. Definitive: the request was not carried out."""

    def __init__(self, code: int, reason: str) -> None:
        try:
            name = RefusalCode(code).name.lower().replace("_", " ")
        except ValueError:
            name = f"code {code}"
        super().__init__(f"The pump refused the command ({name}): {reason}")
        self.code = code
        self.reason = reason


class ProtocolMismatch(LinkError):
    def __init__(self, detail: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(
            f"The pump speaks a different link protocol ({detail}). Update the console "
            "software or contact support; no change was made by this command.",
            may_have_arrived=may_have_arrived,
        )


class Cancelled(LinkError):
    def __init__(self, *, may_have_arrived: bool = False) -> None:
        super().__init__("Cancelled.", may_have_arrived=may_have_arrived)


# =========================================================================== plumbing


class SerialPort(Protocol):
    """The part of ``serial.Serial`` the session uses (any URL handler provides it)."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    @property
    def in_waiting(self) -> int: ...
    def close(self) -> None: ...


class Timebase:
    """The session's notion of time: a monotonic clock and an interruptible wait.

    Production uses the real clock; tests substitute one whose time advances only when the
    fake port reports a read timeout, so fault scenarios run instantly and never sleep."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as ``event`` is set (Cancel)."""
        return event.wait(seconds)


REAL_TIME = Timebase()


@dataclass
class LinkCounters:
    """Running totals for the diagnostics screen. Never reset by the session itself."""

    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    naks: int = 0
    busy: int = 0
    refusals: int = 0
    retries: int = 0
    timeouts: int = 0
    stale_frames: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. ``attempts`` counts sends of one request (first + retries)."""

    attempts: int = 4
    backoff_s: float = 0.02
    backoff_factor: float = 2.0
    backoff_max_s: float = 0.5
    busy_attempts: int = 8
    busy_wait_max_s: float = 2.0


@dataclass
class _Attempts:
    """What one request's attempts established. Only a NAK other than FRAME_ERROR proves a
    transmission was not executed: it comes from an intact frame carrying the request's
    ``seq``, and the same bytes always draw the same refusal. Nothing else does: a NAK
    FRAME_ERROR may be the spare answer to a fragment of an earlier transmission (a request
    split by a stray flag byte draws one NAK per fragment), and a BUSY may be a duplicate of
    the answer to an earlier transmission while the retry it is read for was executed. Any
    such doubt leaves the outcome to be settled by reading the pump back."""

    in_flight: bool = False
    unknown: int = 0
    bad_frames: int = 0
    timeouts: int = 0

    @property
    def may_have_arrived(self) -> bool:
        return self.in_flight or self.unknown > 0

    def settle(self, executed_unknown: bool) -> None:
        if self.in_flight and executed_unknown:
            self.unknown += 1
        self.in_flight = False


def _proves_not_executed(reply: Message | None) -> bool:
    """Whether ``reply`` proves the transmission it answers was not executed (see
    :class:`_Attempts`)."""
    return isinstance(reply, Nak) and reply.code != NakCode.FRAME_ERROR


def _classify_open_error(url: str, exc: Exception) -> PortUnavailable:
    text = str(exc)
    errno_ = getattr(exc, "errno", None)
    lowered = text.lower()
    if errno_ in (11, 16) or "busy" in lowered or "lock" in lowered or "in use" in lowered:
        return PortUnavailable(
            f"Port {url} is in use by another program. Close the other program (or the "
            "other console window) and try again."
        )
    if errno_ == 13 or "permission" in lowered or "access is denied" in lowered:
        return PortUnavailable(
            f"No permission to open port {url}. Ask your IT support to give this user "
            "access to serial ports."
        )
    return PortUnavailable(
        f"Port {url} was not found or could not be opened ({text}). Check that the "
        "programmer is plugged in and choose its port again."
    )


# =========================================================================== session


class Link:
    """One session with one pump. One thread sends requests; any thread may :meth:`cancel`.

    ``request`` sends a message and returns the pump's reply of the matching type, or
    raises a :class:`LinkError`. It is not re-entrant: callers serialise access (the UI's
    link worker owns the session).
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        baud: int | None = None,
        policy: RetryPolicy | None = None,
        cancel: threading.Event | None = None,
        traffic: TrafficCallback | None = None,
        first_seq: int | None = None,
        read_slice_s: float = 0.05,
        name: str = "",
        timebase: Timebase = REAL_TIME,
    ) -> None:
        self.port = port
        self.baud = int(baud or getattr(port, "baudrate", None) or DEFAULT_BAUD)
        self.policy = policy or RetryPolicy()
        self.cancel_event = cancel or threading.Event()
        self.traffic = traffic
        self.counters = LinkCounters()
        self.name = name or str(getattr(port, "portstr", "") or getattr(port, "port", ""))
        self._seq = secrets.randbelow(256) if first_seq is None else first_seq & 0xFF
        self._decoder = FrameDecoder()
        self._slice = read_slice_s
        self._closed = False
        self._identified = False
        #: The protocol version this session speaks: the newest, unless the pump's answer
        #: to IDENTIFY says it speaks only an older one this console also speaks.
        self.version = PROTOCOL_VERSION
        self._time = timebase
        port.timeout = read_slice_s

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, url: str, *, baud: int = DEFAULT_BAUD, **kwargs: Any) -> Link:
        """Open ``url`` with ``serial.serial_for_url`` (device path, COM port,
        ``socket://host:port``, ``loop://``, ``simpump://``...) exclusively, 8N1."""
        slice_s = float(kwargs.get("read_slice_s", 0.05))
        try:
            port = serial.serial_for_url(
                url,
                baudrate=baud,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=slice_s,
                write_timeout=5.0,
                do_not_open=True,
            )
            port.exclusive = True
            port.open()
        except ValueError as exc:
            raise PortUnavailable(
                f"'{url}' is not a port this console can open ({exc}). Choose a port from "
                "the list, for example /dev/ttyUSB0, COM3 or socket://host:port."
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise _classify_open_error(url, exc) from exc
        return cls(port, baud=baud, name=url, **kwargs)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.port.close()
            except (serial.SerialException, OSError):  # closing a dead port is not news
                pass

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ cancel

    def cancel(self) -> None:
        """Ask the operation in progress to stop as soon as it safely can (any thread)."""
        self.cancel_event.set()
        cancel_read = getattr(self.port, "cancel_read", None)
        if cancel_read is not None:
            try:
                cancel_read()
            except (serial.SerialException, OSError, NotImplementedError):
                pass

    def _check_cancel(self, state: _Attempts) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(may_have_arrived=state.may_have_arrived)

    def _wait(self, seconds: float, state: _Attempts) -> None:
        """Back off without sleeping through a Cancel."""
        if seconds > 0 and self._time.wait(self.cancel_event, seconds):
            raise Cancelled(may_have_arrived=state.may_have_arrived)
        self._check_cancel(state)

    # ------------------------------------------------------------------ request

    def now(self) -> float:
        """The session's monotonic clock (deadlines passed to :meth:`request` use it)."""
        return self._time.now()

    @property
    def identified(self) -> bool:
        """Whether this session has opened with IDENTIFY (it does so once, by itself)."""
        return self._identified

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def reply_timeout(self, message: Message) -> float:
        wire = len(encode_frame(message, 0, self.version))
        return reply_timeout_s(wire, reply_max_size(message), self.baud)

    def request(self, message: Message, *, deadline: float | None = None) -> Message:
        """Send ``message`` and return its reply.

        ``deadline`` is a ``time.monotonic()`` instant after which no attempt starts and no
        wait continues; by default it allows every attempt its full reply timeout.
        Retries reuse the sequence number. NAK (frame error) and timeouts are retried;
        BUSY waits as the pump asks; REFUSED raises at once.
        """
        if self._closed:
            raise LinkLost("The link to the pump is closed. Connect again.")
        if not self._identified and not isinstance(message, Identify):
            # Protocol rule: a session opens with IDENTIFY, which replaces the pump's reply
            # cache, so a request of an earlier session can never be mistaken for a retry.
            try:
                self.request(Identify(), deadline=deadline)
            except LinkError as exc:
                exc.may_have_arrived = False  # ``message`` itself was never sent
                raise
        expected = REPLY_FOR[message.TYPE]
        seq = self.next_seq()
        wire = encode_frame(message, seq, self.version)
        timeout = reply_timeout_s(len(wire), reply_max_size(message), self.baud)
        policy = self.policy
        if deadline is None:
            deadline = (
                self._time.now()
                + policy.attempts * (timeout + policy.backoff_max_s)
                + policy.busy_attempts * policy.busy_wait_max_s
            )
        state = _Attempts()
        backoff = policy.backoff_s
        attempts = busy = 0
        while attempts < policy.attempts:
            self._check_cancel(state)
            if self._time.now() >= deadline:
                break
            if attempts:
                self.counters.retries += 1
            attempts += 1
            self._send(wire, state)
            frame = self._await_reply(seq, min(deadline, self._time.now() + timeout), state)
            if frame is None:
                self.counters.timeouts += 1
                state.timeouts += 1
                state.settle(executed_unknown=True)
            else:
                reply = self._decode(frame, state)
                state.settle(executed_unknown=not _proves_not_executed(reply))
                if reply is None:
                    pass  # undecodable; counted as a bad frame, retried
                elif isinstance(reply, expected):
                    if isinstance(reply, Identity):
                        self._identified = True
                    return reply
                elif isinstance(reply, Busy):
                    self.counters.busy += 1
                    busy += 1
                    attempts -= 1  # the pump asked to wait; not a failed attempt
                    if busy > policy.busy_attempts:
                        raise PumpBusy(may_have_arrived=state.may_have_arrived)
                    wait = min(reply.retry_after_ms / 1000, policy.busy_wait_max_s)
                    self._wait(min(wait, max(0.0, deadline - self._time.now())), state)
                    continue
                elif isinstance(reply, Refused):
                    self.counters.refusals += 1
                    raise PumpRefused(reply.code, reply.reason)
                elif isinstance(reply, Nak):
                    self.counters.naks += 1
                    state.bad_frames += 1  # the pump saw our request damaged
                    older = self._older_version(message, reply)
                    if older is not None:
                        # An older pump: IDENTIFY was not executed (an intact frame's NAK),
                        # so it is asked again, as a new request, in a version both speak.
                        self.version = older
                        return self.request(message, deadline=deadline)
                    if reply.code != NakCode.FRAME_ERROR:
                        raise self._nak_error(reply, state)
                else:
                    raise ProtocolMismatch(
                        f"answered {type(reply).__name__} to {type(message).__name__}",
                        may_have_arrived=state.may_have_arrived,
                    )
            if attempts < policy.attempts:
                self._wait(min(backoff, max(0.0, deadline - self._time.now())), state)
                backoff = min(backoff * policy.backoff_factor, policy.backoff_max_s)
        if state.bad_frames and state.bad_frames >= state.timeouts:
            raise LinkCorrupted(state.bad_frames, may_have_arrived=state.may_have_arrived)
        detail = f"{attempts} attempts" if attempts else "deadline passed"
        raise PumpNotAnswering(detail, may_have_arrived=state.may_have_arrived)

    def _older_version(self, message: Message, nak: Nak) -> int | None:
        """The version to open the session in when the pump refused IDENTIFY's version and
        speaks an older one this console speaks too; None otherwise."""
        if not isinstance(message, Identify) or nak.code != NakCode.UNSUPPORTED_VERSION:
            return None
        shared = [
            v
            for v in SUPPORTED_VERSIONS
            if nak.min_version <= v <= nak.max_version and v < self.version
        ]
        return max(shared) if shared else None

    def _nak_error(self, nak: Nak, state: _Attempts) -> LinkError:
        arrived = state.may_have_arrived
        if nak.code == NakCode.UNSUPPORTED_VERSION:
            return ProtocolMismatch(
                f"pump speaks versions {nak.min_version}..{nak.max_version}, "
                f"console speaks {min(SUPPORTED_VERSIONS)}..{max(SUPPORTED_VERSIONS)}",
                may_have_arrived=arrived,
            )
        try:
            what = NakCode(nak.code).name.lower().replace("_", " ")
        except ValueError:
            what = f"NAK code {nak.code}"
        return ProtocolMismatch(
            f"pump could not read the request: {what}", may_have_arrived=arrived
        )

    # ------------------------------------------------------------------ wire

    def _send(self, wire: bytes, state: _Attempts) -> None:
        written = False
        try:
            self.port.write(wire)
            written = True  # the bytes may be on the wire even if the flush below fails
            flush = getattr(self.port, "flush", None)
            if flush is not None:
                flush()
        except serial.SerialTimeoutException as exc:
            state.in_flight = True
            raise LinkLost(
                "The programmer stopped accepting data. Unplug and reconnect it, then try again.",
                may_have_arrived=True,
            ) from exc
        except (serial.SerialException, OSError) as exc:
            if written:
                state.in_flight = True
            raise LinkLost(
                f"The connection to the programmer was lost ({exc}). Reconnect it and try again.",
                may_have_arrived=state.may_have_arrived,
            ) from exc
        state.in_flight = True
        self.counters.frames_sent += 1
        self.counters.bytes_sent += len(wire)
        self._log("tx", wire)

    def _log(self, direction: str, data: bytes) -> None:
        if self.traffic is not None:
            self.traffic(direction, data)
        if traffic_log.isEnabledFor(logging.DEBUG):
            traffic_log.debug("%s %s %s", self.name, direction, data.hex(" "))

    def _await_reply(self, seq: int, until: float, state: _Attempts) -> Frame | None:
        """Read until a frame carrying ``seq`` arrives, or ``until`` passes. Frames with
        another ``seq`` (a late reply, a NAK for a fragment of garbage) are stale."""
        port = self.port
        decoder = self._decoder
        while True:
            self._check_cancel(state)
            if self._time.now() >= until:
                return None
            try:
                n = max(decoder.bytes_hint(), port.in_waiting)
                data = port.read(n)
            except (serial.SerialException, OSError) as exc:
                raise LinkLost(
                    f"The connection to the programmer was lost ({exc}). Reconnect it and "
                    "try again.",
                    may_have_arrived=state.may_have_arrived,
                ) from exc
            if not data:
                continue
            self.counters.bytes_received += len(data)
            self._log("rx", data)
            found: Frame | None = None
            for item in decoder.feed(data):
                if isinstance(item, FrameError):
                    state.bad_frames += 1
                    if isinstance(item, CrcError):
                        self.counters.crc_errors += 1
                    else:
                        self.counters.framing_errors += 1
                    continue
                self.counters.frames_received += 1
                if found is None and item.seq == seq:
                    found = item
                else:
                    self.counters.stale_frames += 1
            if found is not None:
                return found

    def _decode(self, frame: Frame, state: _Attempts) -> Message | None:
        if frame.version != self.version and frame.type != Nak.TYPE:
            raise ProtocolMismatch(
                f"pump answered in version {frame.version}, console speaks {self.version}",
                may_have_arrived=state.may_have_arrived,
            )
        try:
            return frame.message()
        except ProtocolError as exc:
            # CRC-valid but unparseable: treat as damage (the retry gets the cached reply).
            log.warning("discarding undecodable reply type 0x%02X: %s", frame.type, exc)
            state.bad_frames += 1
            self.counters.framing_errors += 1
            return None
