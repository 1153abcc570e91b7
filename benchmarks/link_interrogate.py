"""Link efficiency against the physical limit of the wire.

A full interrogation (identify, status, program, the last 100 events) and a download of
5,000 events, against the simulated pump at emulated 9600 and 115200 baud
(``simpump://NAME?baud=N``: the simulator delivers bytes no faster than the wire would).
Wire time = bytes exchanged x 10 / baud (8N1). Targets: interrogation <= 1.25x wire time,
download <= 1.3x. Prints a table, then one JSON line per figure; the last line is the
worst ratio against its limit.

Run: .venv/bin/python benchmarks/link_interrogate.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import drivers  # noqa: F401  (registers simpump://)
from drivers.link import Link
from drivers.protocol import wire_time_s
from drivers.protocol_simpump import forget_pump, register_pump
from drivers.pump_client import PumpClient
from drivers.simulator import build_scenario

LIMITS = {"interrogate": 1.25, "events_5000": 1.3}


def make_pump(n_events: int) -> None:
    pump = build_scenario("healthy")
    while pump.event_count < n_events:
        pump.alarm_test()
    register_pump("bench", pump)


def measure(baud: int, name: str, op: Callable[[PumpClient], int]) -> dict[str, float | int | str]:
    link = Link.open(f"simpump://bench?baud={baud}", baud=baud)
    with PumpClient(link) as client:
        client.identify()  # the session opening is not part of the figure
        before = dict(link.counters.as_dict())
        t0 = time.perf_counter()
        items = op(client)
        elapsed = time.perf_counter() - t0
        after = link.counters.as_dict()
    nbytes = (after["bytes_sent"] - before["bytes_sent"]) + (
        after["bytes_received"] - before["bytes_received"]
    )
    frames = after["frames_sent"] - before["frames_sent"]
    wire = wire_time_s(nbytes, baud)
    return {
        "op": name,
        "baud": baud,
        "elapsed_s": round(elapsed, 4),
        "wire_s": round(wire, 4),
        "ratio": round(elapsed / wire, 3),
        "bytes": nbytes,
        "frames": frames,
        "items": items,
        "bytes_per_event": round((after["bytes_received"] - before["bytes_received"]) / items, 2)
        if name == "events_5000"
        else 0,
        "retries": after["retries"] - before["retries"],
    }


def interrogate(client: PumpClient) -> int:
    result = client.interrogate(recent_events=100)
    assert len(result.events) == 100, len(result.events)
    return len(result.events)


def download(client: PumpClient) -> int:
    batch = client.read_events(0)
    assert len(batch.events) >= 5000 and batch.complete
    return len(batch.events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="115200 baud only (for a smoke run)")
    args = parser.parse_args()
    make_pump(5000)
    rows = []
    try:
        for baud in (115_200,) if args.quick else (9600, 115_200):
            rows.append(measure(baud, "interrogate", interrogate))
            rows.append(measure(baud, "events_5000", download))
    finally:
        forget_pump("bench")
    print(f"{'operation':<12} {'baud':>6} {'elapsed s':>10} {'wire s':>8} {'ratio':>6} "
          f"{'bytes':>7} {'frames':>6} {'B/event':>7}")  # fmt: skip
    for r in rows:
        print(
            f"{r['op']:<12} {r['baud']:>6} {r['elapsed_s']:>10} {r['wire_s']:>8} {r['ratio']:>6} "
            f"{r['bytes']:>7} {r['frames']:>6} {r['bytes_per_event'] or '':>7}"
        )
    for r in rows:
        print(json.dumps({
            "metric": f"link_{r['op']}_{r['baud']}_wire_ratio",
            "value": r["elapsed_s"], "unit": "s",
            "ratio": r["ratio"], "limit": LIMITS[str(r["op"])], "bytes": r["bytes"],
            "frames": r["frames"], "bytes_per_event": r["bytes_per_event"],
        }))  # fmt: skip
    worst = max(rows, key=lambda r: float(r["ratio"]) / LIMITS[str(r["op"])])
    ok = all(float(r["ratio"]) <= LIMITS[str(r["op"])] for r in rows)
    print(json.dumps({
        "metric": "link_worst_wire_ratio", "value": worst["ratio"], "unit": "x wire time",
        "ratio": worst["ratio"], "limit": LIMITS[str(worst["op"])],
    }))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
