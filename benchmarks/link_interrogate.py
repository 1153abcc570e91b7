"""Link efficiency against the physical limit: the wire and the pump's thinking time.

An interrogation (status, program, the last 100 events; once in a session already open
and once as the first thing of a new session, IDENTIFY included) and a download of 5,000
events, against the simulated pump at emulated 9600 and 115200 baud, with an injected
pump turnaround of 0, 20 and 100 ms per request (``simpump://NAME?baud=N&turnaround=MS``:
the simulator delivers bytes no faster than the wire would and starts each reply MS after
the request has arrived).

Ideal = wire time of the bytes exchanged (x 10 / baud, 8N1) + the minimal number of
request turns x the turnaround, where the minimal turns are what the protocol needs:
interrogation 2 + ceil(100 / 64) (status, program, full event pages; + 1 IDENTIFY in a new
session), download ceil(events / 64). Target: every operation within 1.1x its ideal. A
link that asks more often than it must (repeated IDENTIFY, an event-count probe, short
pages) pays the turnaround for each extra turn and shows here; the frame counts are
reported beside the ratio.

Prints a table, then one JSON line per figure; the last line is the worst ratio against
its limit. Exit status 1 when a figure is over its limit.

Run: .venv/bin/python benchmarks/link_interrogate.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import drivers  # noqa: F401  (registers simpump://)
from drivers.link import Link
from drivers.protocol import MAX_EVENTS_PER_PAGE, wire_time_s
from drivers.protocol_simpump import forget_pump, register_pump
from drivers.pump_client import PumpClient
from drivers.simulator import build_scenario

LIMIT = 1.1
RECENT = 100
DOWNLOAD = 5_000
TURNAROUNDS_MS = (0, 20, 100)


def make_pump(n_events: int) -> int:
    pump = build_scenario("healthy")
    while pump.event_count < n_events:
        pump.alarm_test()
    register_pump("bench", pump)
    return int(pump.event_count)


@dataclass(frozen=True)
class Operation:
    name: str
    #: Whether the session is opened (IDENTIFY) before the clock starts.
    session_open: bool
    run: Callable[[PumpClient], int]
    #: The fewest request turns the protocol needs for it, given the items it returned.
    minimal_turns: Callable[[int], int]


def interrogate(client: PumpClient) -> int:
    result = client.interrogate(recent_events=RECENT)
    assert len(result.events) == RECENT, len(result.events)
    return len(result.events)


def download(client: PumpClient) -> int:
    batch = client.read_events(0)
    assert len(batch.events) >= DOWNLOAD and batch.complete
    return len(batch.events)


def pages(n: int) -> int:
    return math.ceil(n / MAX_EVENTS_PER_PAGE)


OPERATIONS = (
    Operation("interrogate", True, interrogate, lambda n: 2 + pages(n)),
    Operation("interrogate_new_session", False, interrogate, lambda n: 3 + pages(n)),
    Operation(f"events_{DOWNLOAD}", True, download, pages),
)


def measure(baud: int, turnaround_ms: int, op: Operation) -> dict[str, float | int | str]:
    link = Link.open(f"simpump://bench?baud={baud}&turnaround={turnaround_ms}", baud=baud)
    with PumpClient(link) as client:
        if op.session_open:
            client.identify()  # the connection's handshake, before the user's action
        before = dict(link.counters.as_dict())
        t0 = time.perf_counter()
        items = op.run(client)
        elapsed = time.perf_counter() - t0
        after = link.counters.as_dict()
    nbytes = (after["bytes_sent"] - before["bytes_sent"]) + (
        after["bytes_received"] - before["bytes_received"]
    )
    frames = after["frames_sent"] - before["frames_sent"]
    wire = wire_time_s(nbytes, baud)
    turns = op.minimal_turns(items)
    ideal = wire + turns * turnaround_ms / 1000
    return {
        "op": op.name,
        "baud": baud,
        "turnaround_ms": turnaround_ms,
        "elapsed_s": round(elapsed, 4),
        "wire_s": round(wire, 4),
        "ideal_s": round(ideal, 4),
        "ratio": round(elapsed / ideal, 3),
        "bytes": nbytes,
        "frames": frames,
        "frames_minimal": turns,
        "items": items,
        "retries": after["retries"] - before["retries"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="115200 baud only (for a smoke run)")
    args = parser.parse_args()
    make_pump(DOWNLOAD)
    rows = []
    try:
        for baud in (115_200,) if args.quick else (9600, 115_200):
            for turnaround in TURNAROUNDS_MS:
                for op in OPERATIONS:
                    rows.append(measure(baud, turnaround, op))
    finally:
        forget_pump("bench")
    print(
        f"{'operation':<24} {'baud':>6} {'turn ms':>7} {'elapsed s':>9} {'ideal s':>8} "
        f"{'ratio':>6} {'bytes':>7} {'frames':>6} {'minimal':>7}"
    )
    for r in rows:
        print(
            f"{r['op']:<24} {r['baud']:>6} {r['turnaround_ms']:>7} {r['elapsed_s']:>9} "
            f"{r['ideal_s']:>8} {r['ratio']:>6} {r['bytes']:>7} {r['frames']:>6} "
            f"{r['frames_minimal']:>7}"
        )
    for r in rows:
        print(
            json.dumps(
                {
                    "metric": f"link_{r['op']}_{r['baud']}_baud_{r['turnaround_ms']}ms_turnaround",
                    "value": r["elapsed_s"],
                    "unit": "s",
                    "ratio": r["ratio"],
                    "limit": LIMIT,
                    "ideal_s": r["ideal_s"],
                    "wire_s": r["wire_s"],
                    "bytes": r["bytes"],
                    "frames": r["frames"],
                    "frames_minimal": r["frames_minimal"],
                }
            )
        )
    worst = max(rows, key=lambda r: float(r["ratio"]))
    print(
        json.dumps(
            {
                "metric": "link_worst_ratio_to_ideal",
                "value": worst["ratio"],
                "unit": "x (wire time + minimal turns x turnaround)",
                "ratio": worst["ratio"],
                "limit": LIMIT,
                "operation": f"{worst['op']} {worst['baud']} baud {worst['turnaround_ms']} ms",
            }
        )
    )
    return 0 if float(worst["ratio"]) <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
