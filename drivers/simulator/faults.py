"""Wire fault injection for the simulated pump.

Why on the wire only: the console must survive a bad link (corrupted bytes, lost frames,
slow replies, a programmer head lifted off the pump, a pump too busy to answer) without the
fault ever changing what the pump really did. The injector decides, per frame, what the
wire does to it; :class:`~drivers.simulator.server.PumpResponder` applies the decision and
the pump's state is touched only by requests that arrived intact.

Spec syntax (``--faults`` and the ``faults=`` URL option), comma-separated ``KIND=P`` with
``P`` a probability per frame, optionally ``@SECONDS``::

    corrupt=0.05          flip one bit of a frame (requests and replies, independently)
    drop=0.02             lose a frame (requests and replies, independently)
    delay=0.1@0.5         hold a reply back 0.5 s (default 0.5 s)
    busy=0.05             answer "busy" instead of acting on a request
    disconnect=0.01@2     go silent for 2 s (TCP: close the connection); default 2 s
    noise=0.05            put 1-8 random bytes on the line before a reply
    split=0.05            a stray flag byte inside a request: the pump sees two damaged
                          fragments and answers each with a NAK (the second a moment later)

The random source is seeded (``seed=N``) so a failing run can be replayed exactly. Tests
that need one particular fault at one particular frame use :meth:`FaultInjector.force`.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field

KINDS = ("corrupt", "drop", "delay", "busy", "disconnect", "noise", "split")
DEFAULT_SECONDS = {"delay": 0.5, "disconnect": 2.0}

#: What :meth:`FaultInjector.force` accepts: a direction-specific name for each fault.
FORCEABLE = (
    "corrupt_request",
    "corrupt_reply",
    "drop_request",
    "drop_reply",
    "delay",
    "busy",
    "disconnect",
    "noise",
    "split_request",
)


class FaultSpecError(ValueError):
    """The fault spec text is not valid; the message says which part and why."""


@dataclass(frozen=True)
class FaultSpec:
    """Probabilities (0..1) per frame for each wire fault, and durations in seconds."""

    corrupt: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    busy: float = 0.0
    disconnect: float = 0.0
    noise: float = 0.0
    split: float = 0.0
    delay_s: float = DEFAULT_SECONDS["delay"]
    disconnect_s: float = DEFAULT_SECONDS["disconnect"]

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``"corrupt=0.05,delay=0.1@0.5"`` -> FaultSpec. Empty text means no faults."""
        values: dict[str, float] = {}
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            kind, sep, rest = part.partition("=")
            kind = kind.strip().lower()
            if not sep or kind not in KINDS:
                raise FaultSpecError(
                    f"fault '{part}': expected KIND=PROBABILITY with KIND one of {', '.join(KINDS)}"
                )
            prob_text, at, seconds_text = rest.partition("@")
            try:
                prob = float(prob_text)
                seconds = float(seconds_text) if at else None
            except ValueError:
                raise FaultSpecError(f"fault '{part}': not a number") from None
            if not 0.0 <= prob <= 1.0:
                raise FaultSpecError(f"fault '{part}': probability must be between 0 and 1")
            values[kind] = prob
            if seconds is not None:
                if kind not in DEFAULT_SECONDS or seconds < 0:
                    raise FaultSpecError(
                        f"fault '{part}': only delay and disconnect take @SECONDS (>= 0)"
                    )
                values[f"{kind}_s"] = seconds
        return cls(**values)

    def __str__(self) -> str:
        parts = []
        for kind in KINDS:
            prob = getattr(self, kind)
            if prob:
                text = f"{kind}={prob:g}"
                if kind in DEFAULT_SECONDS:
                    text += f"@{getattr(self, kind + '_s'):g}"
                parts.append(text)
        return ",".join(parts)


@dataclass(frozen=True)
class RequestFate:
    """What the wire does to one incoming request frame."""

    drop: bool = False
    corrupt: bool = False
    split: bool = False
    busy: bool = False
    disconnect_s: float | None = None


@dataclass(frozen=True)
class ReplyFate:
    """What the wire does to one outgoing reply frame."""

    drop: bool = False
    corrupt: bool = False
    delay_s: float = 0.0
    noise: bytes = b""


@dataclass
class FaultInjector:
    """Seeded per-frame fault decisions. Thread-safe; ``counts`` records what was injected."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    seed: int | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._forced: deque[tuple[str, float | None, int | None]] = deque()

    def force(
        self, kind: str, seconds: float | None = None, *, request_type: int | None = None
    ) -> None:
        """Inject ``kind`` (one of :data:`FORCEABLE`) at the next frame it can apply to;
        with ``request_type``, at the next request of that message type only."""
        if kind not in FORCEABLE:
            raise ValueError(f"cannot force '{kind}': one of {', '.join(FORCEABLE)}")
        with self._lock:
            self._forced.append((kind, seconds, request_type))

    def _take_forced(
        self, kinds: tuple[str, ...], request_type: int | None = None
    ) -> tuple[str, float | None] | None:
        for item in self._forced:
            if item[0] in kinds and item[2] in (None, request_type):
                self._forced.remove(item)
                return item[0], item[1]
        return None

    def _roll(self, prob: float) -> bool:
        return prob > 0 and self._rng.random() < prob

    def request_fate(self, request_type: int | None = None) -> RequestFate:
        with self._lock:
            forced = self._take_forced(
                ("drop_request", "corrupt_request", "split_request", "busy", "disconnect"),
                request_type,
            )
            if forced is not None:
                kind, seconds = forced
                fate = RequestFate(
                    drop=kind == "drop_request",
                    corrupt=kind == "corrupt_request",
                    split=kind == "split_request",
                    busy=kind == "busy",
                    disconnect_s=(seconds if seconds is not None else self.spec.disconnect_s)
                    if kind == "disconnect"
                    else None,
                )
            else:
                s = self.spec
                if self._roll(s.disconnect):
                    fate = RequestFate(disconnect_s=s.disconnect_s)
                elif self._roll(s.drop):
                    fate = RequestFate(drop=True)
                elif self._roll(s.corrupt):
                    fate = RequestFate(corrupt=True)
                elif self._roll(s.split):
                    fate = RequestFate(split=True)
                else:
                    fate = RequestFate(busy=self._roll(s.busy))
            self._count_request(fate)
            return fate

    def _count_request(self, fate: RequestFate) -> None:
        if fate.drop:
            self.counts["drop_request"] += 1
        if fate.corrupt:
            self.counts["corrupt_request"] += 1
        if fate.split:
            self.counts["split_request"] += 1
        if fate.busy:
            self.counts["busy"] += 1
        if fate.disconnect_s is not None:
            self.counts["disconnect"] += 1

    def reply_fate(self) -> ReplyFate:
        with self._lock:
            forced = self._take_forced(("drop_reply", "corrupt_reply", "delay", "noise"))
            s = self.spec
            if forced is not None:
                kind, seconds = forced
                fate = ReplyFate(
                    drop=kind == "drop_reply",
                    corrupt=kind == "corrupt_reply",
                    delay_s=(seconds if seconds is not None else s.delay_s)
                    if kind == "delay"
                    else 0.0,
                    noise=self._noise() if kind == "noise" else b"",
                )
            else:
                fate = ReplyFate(
                    drop=self._roll(s.drop),
                    corrupt=self._roll(s.corrupt),
                    delay_s=s.delay_s if self._roll(s.delay) else 0.0,
                    noise=self._noise() if self._roll(s.noise) else b"",
                )
            for name, hit in (
                ("drop_reply", fate.drop),
                ("corrupt_reply", fate.corrupt),
                ("delay", fate.delay_s > 0),
                ("noise", bool(fate.noise)),
            ):
                if hit:
                    self.counts[name] += 1
            return fate

    def _noise(self) -> bytes:
        return bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 8)))

    def corrupt(self, frame: bytes) -> bytes:
        """Flip one bit of one byte: the smallest error a CRC must catch."""
        if not frame:
            return frame
        with self._lock:
            pos = self._rng.randrange(len(frame))
            bit = 1 << self._rng.randrange(8)
        data = bytearray(frame)
        data[pos] ^= bit
        return bytes(data)
