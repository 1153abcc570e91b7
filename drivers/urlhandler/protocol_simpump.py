"""pyserial URL handler ``simpump://``: a simulated pump inside this process.

After ``import drivers`` (which adds :mod:`drivers.urlhandler` to
``serial.protocol_handler_packages``),
``serial.serial_for_url("simpump://demo?scenario=eri&baud=9600")`` returns a port whose
writes go to a simulated pump's protocol responder and whose reads return its replies.
Modelled on pyserial's ``serial/urlhandler/protocol_loop.py``, and kept where pyserial
looks for handlers; ``drivers.protocol_simpump`` re-exports it under its older name.

URL: ``simpump://[NAME][?option=value&...]``

* ``NAME`` — a named pump lives in a registry for the life of the process, so closing and
  reopening the port (a reconnect) finds the same pump, and tests or the UI can reach it with
  :func:`get_pump` / :func:`get_responder`. Without a name every open makes a private pump.
* ``scenario=NAME`` — starting state (default ``healthy``; see
  :mod:`drivers.simulator.scenarios`).
* ``baud=N`` — emulate wire time at N baud in both directions; ``baud=port`` follows the
  port's ``baudrate`` setting. Without it replies come at once (fast tests).
* ``turnaround=MS`` — the pump starts each reply MS milliseconds after the request has
  arrived (0 to 10000; default 0), as a real pump takes time to answer.
* ``faults=SPEC`` and ``seed=N`` — wire faults (:mod:`drivers.simulator.faults`).
* ``speed=X`` — simulated time runs X times faster than real time.
* ``state=FILE`` — resume from FILE if it exists and save to it after every write and on
  close.
* ``zone=ZONE`` — the zone flex minutes count in (default UTC, as the protocol keeps the
  pump clock).
* ``alarm_early=N`` — the pump reports its low-reservoir alarm date N days earlier than its
  own projection (0 to 3650; default 0), as a pump that projects more cautiously than the
  console would: the console must then show the pump's date.
* ``logging=debug|info|warning|error`` — as pyserial's own handlers.

Reads behave like pyserial's: block up to ``timeout`` (None: until ``size`` bytes; 0: return
at once) and return what has arrived. Waiting uses a condition variable, never a spin.
"""

from __future__ import annotations

import logging
import numbers
import os
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, Timeout, to_bytes

from drivers.simulator.faults import FaultInjector, FaultSpec, FaultSpecError
from drivers.simulator.pump import SimPump
from drivers.simulator.scenarios import SCENARIOS, build_scenario
from drivers.simulator.server import PumpResponder, WirePacer

LOGGER_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_OPTIONS = (
    "scenario",
    "baud",
    "turnaround",
    "faults",
    "seed",
    "speed",
    "state",
    "zone",
    "alarm_early",
    "logging",
)


@dataclass
class SimInstance:
    """One simulated pump and its responder (reply cache and counters live with the pump,
    so they survive the port being closed and reopened)."""

    pump: SimPump
    responder: PumpResponder
    state_file: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def save(self) -> None:
        if self.state_file:
            self.pump.save(self.state_file)


_registry: dict[str, SimInstance] = {}
_registry_lock = threading.Lock()


def register_pump(name: str, pump: SimPump, faults: FaultInjector | None = None) -> SimInstance:
    """Put ``pump`` behind ``simpump://NAME`` (tests inject a pump on a manual clock)."""
    instance = SimInstance(pump, PumpResponder(pump, faults))
    with _registry_lock:
        _registry[name] = instance
    return instance


def get_instance(name: str) -> SimInstance:
    with _registry_lock:
        try:
            return _registry[name]
        except KeyError:
            raise KeyError(
                f"no simulated pump named '{name}' (open simpump://{name} first)"
            ) from None


def get_pump(name: str) -> SimPump:
    """The simulated pump behind ``simpump://NAME``."""
    return get_instance(name).pump


def get_responder(name: str) -> PumpResponder:
    """Its responder: ``.faults`` to inject wire faults, ``.counters`` for what it saw."""
    return get_instance(name).responder


def forget_pump(name: str) -> None:
    """Drop a named pump from the registry (the next open starts a new one)."""
    with _registry_lock:
        _registry.pop(name, None)


@dataclass(frozen=True)
class _UrlConfig:
    name: str
    scenario: str = "healthy"
    baud: int | str | None = None
    turnaround_s: float = 0.0
    faults: FaultSpec | None = None
    seed: int | None = None
    speed: Fraction = Fraction(1)
    state: str | None = None
    zone: str | None = None
    alarm_early: int = 0
    logging: str | None = None


def parse_url(url: str) -> _UrlConfig:
    """``simpump://NAME?opts`` -> settings; raises SerialException naming what is wrong."""
    parts = urllib.parse.urlsplit(url)
    usage = (
        'expected "simpump://[NAME][?scenario=...&baud=...&turnaround=MS&faults=...&seed=...'
        '&speed=...&state=FILE&zone=...&alarm_early=N]"'
    )
    if parts.scheme != "simpump":
        raise SerialException(f"{usage}: not starting with simpump:// ({parts.scheme!r})")
    values: dict[str, Any] = {"name": parts.netloc + parts.path.rstrip("/")}
    try:
        for option, given in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
            value = given[-1]
            if option not in _OPTIONS:
                raise ValueError(f"unknown option {option!r}")
            if option == "scenario":
                if value not in SCENARIOS:
                    raise ValueError(f"unknown scenario {value!r} (known: {', '.join(SCENARIOS)})")
                values[option] = value
            elif option == "baud":
                values[option] = "port" if value == "port" else int(value)
            elif option == "turnaround":
                ms = float(value)
                if not 0 <= ms <= 10_000:
                    raise ValueError("turnaround must be 0 to 10000 ms")
                values["turnaround_s"] = ms / 1000
            elif option == "faults":
                values[option] = FaultSpec.parse(value)
            elif option == "seed":
                values[option] = int(value)
            elif option == "speed":
                values[option] = Fraction(value)
                if values[option] <= 0:
                    raise ValueError("speed must be more than 0")
            elif option == "alarm_early":
                values[option] = int(value)
                if not 0 <= values[option] <= 3650:
                    raise ValueError("alarm_early must be 0 to 3650 days")
            elif option == "logging":
                if value not in LOGGER_LEVELS:
                    raise ValueError(f"unknown logging level {value!r}")
                values[option] = value
            else:
                values[option] = value
    except (ValueError, FaultSpecError) as exc:
        raise SerialException(f"{usage}: {exc}") from None
    return _UrlConfig(**values)


def _instance_for(config: _UrlConfig) -> SimInstance:
    """The registered pump for a named URL, or a new one built from the options."""
    with _registry_lock:
        if config.name and config.name in _registry:
            return _registry[config.name]
        faults = FaultInjector(config.faults or FaultSpec(), config.seed)
        overrides: dict[str, Any] = {}
        if config.zone:
            overrides["clock_zone"] = config.zone
        if config.alarm_early:
            overrides["alarm_date_early_days"] = config.alarm_early
        if config.state and os.path.exists(config.state):
            pump = SimPump.load(config.state)
            pump.speed = config.speed
        else:
            pump = build_scenario(config.scenario, speed=config.speed, **overrides)
        instance = SimInstance(pump, PumpResponder(pump, faults), config.state)
        instance.responder.on_change = instance.save
        instance.save()
        if config.name:
            _registry[config.name] = instance
        return instance


@dataclass
class _Transmission:
    start: float  # monotonic time the first byte starts
    data: bytes
    pos: int = 0  # bytes already read


class Serial(SerialBase):
    """Serial port whose other end is a simulated pump in this process."""

    BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
    is_open: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._instance: SimInstance | None = None
        self._pacer = WirePacer(None)
        self._follow_port_baud = False
        self._turnaround_s = 0.0
        self._pending: deque[_Transmission] = deque()
        self._cond = threading.Condition()
        self._cancel = False
        self.logger: logging.Logger | None = None
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ open / close

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        config = parse_url(self._port)
        self.logger = None
        if config.logging:
            logging.basicConfig()
            self.logger = logging.getLogger("pySerial.simpump")
            self.logger.setLevel(LOGGER_LEVELS[config.logging])
        self._instance = _instance_for(config)
        self._follow_port_baud = config.baud == "port"
        self._turnaround_s = config.turnaround_s
        self._pacer = WirePacer(
            config.baud if isinstance(config.baud, int) else None, config.turnaround_s
        )
        self._reconfigure_port()
        with self._cond:
            self._pending.clear()
            self._cancel = False
        self.is_open = True

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            with self._cond:
                self._cond.notify_all()
            if self._instance is not None:
                self._instance.save()
        super().close()

    def _reconfigure_port(self) -> None:
        baud = self._baudrate
        if not isinstance(baud, numbers.Integral) or not 0 < int(baud) < 2**32:
            raise ValueError(f"invalid baudrate: {self._baudrate!r}")
        if self._follow_port_baud:
            self._pacer = WirePacer(int(self._baudrate), self._turnaround_s)
        if self.logger:
            self.logger.info("_reconfigure_port()")

    def from_url(self, url: str) -> _UrlConfig:
        return parse_url(url)

    # ------------------------------------------------------------------ access for tests

    @property
    def pump(self) -> SimPump:
        if self._instance is None:
            raise PortNotOpenError()
        return self._instance.pump

    @property
    def responder(self) -> PumpResponder:
        if self._instance is None:
            raise PortNotOpenError()
        return self._instance.responder

    # ------------------------------------------------------------------ data

    def _released(self, now: float) -> int:
        """Bytes that have fully arrived by ``now`` and are not read yet (lock held)."""
        char_s = self._pacer.char_s
        total = 0
        for t in self._pending:
            if char_s:
                out = min(len(t.data), int((now - t.start) / char_s + 1e-9)) if now > t.start else 0
            else:
                out = len(t.data) if now >= t.start else 0
            total += max(0, out - t.pos)
            if out < len(t.data):
                break  # later transmissions start after this one ends
        return total

    def _next_release(self, now: float) -> float | None:
        """When the next unread byte arrives, or None when nothing more is coming."""
        char_s = self._pacer.char_s
        for t in self._pending:
            if t.pos < len(t.data):
                return max(t.start + (t.pos + 1) * char_s, now)
        return None

    def _take(self, n: int) -> bytes:
        out = bytearray()
        while n > 0 and self._pending:
            t = self._pending[0]
            k = min(n, len(t.data) - t.pos)
            out += t.data[t.pos : t.pos + k]
            t.pos += k
            n -= k
            if t.pos == len(t.data):
                self._pending.popleft()
        return bytes(out)

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        with self._cond:
            return self._released(time.monotonic())

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes: blocks until they are all here or the timeout ends."""
        if not self.is_open:
            raise PortNotOpenError()
        timeout = Timeout(self._timeout)
        data = bytearray()
        with self._cond:
            while len(data) < size and self.is_open:
                now = time.monotonic()
                ready = self._released(now)
                if ready:
                    data += self._take(min(ready, size - len(data)))
                    continue
                if self._cancel:
                    self._cancel = False
                    break
                if timeout.expired():
                    break
                wait: float | None = None
                if not timeout.is_infinite:
                    wait = timeout.time_left()
                nxt = self._next_release(now)
                if nxt is not None:
                    wait = nxt - now if wait is None else min(wait, nxt - now)
                if self._inter_byte_timeout is not None and data:
                    wait = (
                        self._inter_byte_timeout
                        if wait is None
                        else min(wait, self._inter_byte_timeout)
                    )
                    if not self._cond.wait(wait) and self._released(time.monotonic()) == 0:
                        break
                    continue
                self._cond.wait(wait)
        return bytes(data)

    def cancel_read(self) -> None:
        with self._cond:
            self._cancel = True
            self._cond.notify_all()

    def cancel_write(self) -> None:
        """Writes never block here: nothing to cancel."""

    def write(self, data: Any) -> int:
        """Hand the bytes to the pump; its replies are scheduled by wire time."""
        if not self.is_open or self._instance is None:
            raise PortNotOpenError()
        raw = to_bytes(data)
        now = time.monotonic()
        arrived = self._pacer.answered(len(raw), now)
        replies = self._instance.responder.receive(raw)
        with self._cond:
            for item in replies:
                if item.disconnect_s is not None or not item.data:
                    continue
                start = self._pacer.schedule(len(item.data), arrived + item.delay_s)
                self._pending.append(_Transmission(start, item.data))
            self._cond.notify_all()
        if self.logger:
            self.logger.debug("write %d bytes, %d replies", len(raw), len(replies))
        return len(raw)

    def flush(self) -> None:
        """Writes are complete when :meth:`write` returns."""

    def reset_input_buffer(self) -> None:
        """Discard bytes that have arrived; bytes still on the line arrive later, as on a
        real port."""
        if not self.is_open:
            raise PortNotOpenError()
        with self._cond:
            ready = self._released(time.monotonic())
            self._take(ready)

    def reset_output_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def out_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return 0

    # ------------------------------------------------------------------ modem lines

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
