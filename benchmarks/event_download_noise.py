"""Event downloads on a noisy link: how many complete, against the fixed-page baseline.

A pump with 1,000 logged events is read from index 0 through a port that flips each byte
on the line with probability P (both directions, seeded), as a programmer head held
slightly off the pump does. Each run is a whole download as the console makes it (the link's
own retries included); it either returns every event, in order and exact, or raises.
Baseline, measured in the same run: 40-event pages with no page-level retry (how the
console read the log before). Target: at P = 0.3 %, at least 45 of 50 downloads complete
(the baseline completed 3 of 50 in an independent trial). Ends with JSON lines.

Run: .venv/bin/python benchmarks/event_download_noise.py [--runs N] [--p 0.003]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake pump of the tests

from drivers import pump_client
from drivers.link import Link, LinkError, RetryPolicy
from drivers.pump_client import PumpClient
from tests.drivers.conftest import FakePort, FakePump, FakeTime, make_events

N_EVENTS = 1_000


class NoisyPort(FakePort):
    """The in-memory port to a fake pump, flipping each byte with probability ``p``."""

    def __init__(self, pump: FakePump, time: FakeTime, p: float, rng: random.Random) -> None:
        super().__init__(pump, time)
        self.p, self.rng = p, rng

    def _noise(self, data: bytes) -> bytes:
        out = bytearray(data)
        for i in range(len(out)):
            if self.rng.random() < self.p:
                out[i] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    def write(self, data: bytes) -> int:
        super().write(self._noise(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        return self._noise(super().read(size))


def download(p: float, seed: int, *, baseline: bool) -> tuple[bool, int]:
    pump = FakePump(events=make_events(N_EVENTS))
    time = FakeTime()
    port = NoisyPort(pump, time, p, random.Random(seed))
    link = Link(port, baud=115_200, timebase=time, policy=RetryPolicy())  # type: ignore[arg-type]
    client = PumpClient(link)
    saved: dict[str, Any] = {}
    if baseline:
        saved = {"PAGE_ATTEMPTS": pump_client.PAGE_ATTEMPTS}
        pump_client.PAGE_ATTEMPTS = 1
    try:
        batch = client.read_events(0, page_size=40 if baseline else pump_client.DEFAULT_PAGE)
        ok = [e.index for e in batch.events] == list(range(N_EVENTS))
    except LinkError:
        ok = False
    finally:
        for name, value in saved.items():
            setattr(pump_client, name, value)
    return ok, link.counters.frames_sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--p", type=float, default=0.003)
    args = parser.parse_args()
    results = {}
    for name, baseline in (("baseline 40-event pages", True), ("console", False)):
        done = [download(args.p, seed, baseline=baseline) for seed in range(args.runs)]
        complete = sum(ok for ok, _ in done)
        frames = sum(n for _, n in done) / len(done)
        results[name] = complete
        print(f"{name:<24} {complete:>3} of {args.runs} complete, {frames:.0f} requests each")
    base = max(1, results["baseline 40-event pages"])
    limit = int(args.runs * 0.9)
    print(
        json.dumps(
            {
                "name": "event_download_noise",
                "value": results["console"],
                "unit": f"complete downloads of {args.runs} at {args.p:.1%} flipped bytes",
                "baseline": results["baseline 40-event pages"],
                "ratio": round(results["console"] / base, 2),
                "limit": limit,
                "ok": results["console"] >= limit,
            }
        )
    )


if __name__ == "__main__":
    main()
