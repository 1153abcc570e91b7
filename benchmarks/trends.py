"""Trends tab drawing speed with years of hourly readings.

A pump read every hour for 10 years (87,600 readings, refilled every 90 days, the dose
changed twice a year, battery falling towards ERI) and the same for 1 year. The history is
built in memory as a :class:`PatientHistory` and goes through the same code as the tab:
:func:`itbconsole.trends.build_trends` then :meth:`ui.trends.TrendsTab.show_trends`.

Figures (offscreen platform, widget 1100 x 650 px):

* series build: history to arrays (reported, not limited: it runs once per patient opened);
* first draw: from ``show_trends`` with the series ready to a finished image of the tab
  (``QWidget.grab``), fresh tab; target at most 150 ms;
* pan/zoom frame: ``setXRange`` on the shared axis then a render of the plots, for a walk of
  pans and zooms across the history; median and 95th percentile, target at most 16 ms.

    python benchmarks/trends.py            # 1 and 10 years
    python benchmarks/trends.py --frames 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itbconsole.model import (
    Origin,
    Patient,
    ProgramChange,
    Pump,
    Reading,
    Refill,
    simple_continuous,
)
from itbconsole.store.queries import PatientHistory
from itbconsole.trends import build_trends

LONDON = ZoneInfo("Europe/London")
FIRST_DRAW_LIMIT_MS = 150.0
FRAME_LIMIT_MS = 16.0


def synthetic_history(years: int, end: datetime) -> PatientHistory:
    """Hourly readings for ``years`` years ending at ``end``, a refill every 90 days."""
    hours = years * 365 * 24
    start = end - timedelta(hours=hours)
    serial = "BENCH0001"
    pump = Pump(serial, "Bench pump 40 mL", 40_000, 2_000, implant_date=start.date(), id=1)
    patient = Patient("Bench", "Mark", date(1970, 1, 1), "B000001", Origin.SPINAL, id=1)
    readings: list[Reading] = []
    refills: list[Refill] = []
    changes: list[ProgramChange] = []
    dose = 400
    program = simple_continuous(dose)
    fill_at, fill_ul = start, 40_000
    per_hour = dose / 2000 * 1000 / 24  # µL an hour at 2000 mcg/mL
    for h in range(hours):
        at = start + timedelta(hours=h)
        if h and h % (90 * 24) == 0:
            residual = int(fill_ul - per_hour * (at - fill_at).total_seconds() / 3600)
            refills.append(
                Refill(
                    serial,
                    at,
                    residual + 150,
                    residual,
                    40_000,
                    "Gablofen",
                    2000,
                    "L1",
                    (at + timedelta(days=400)).date(),
                )
            )
            fill_at, fill_ul = at, 40_000
        if h and h % (182 * 24) == 0:
            new = simple_continuous(dose + 10)
            changes.append(ProgramChange(serial, at, program, new, 2000, "Titration +10 mcg"))
            dose, program = dose + 10, new
            per_hour = dose / 2000 * 1000 / 24
        volume = max(int(fill_ul - per_hour * (at - fill_at).total_seconds() / 3600), 0)
        mv = int(3200 - 0.12 * h / 24 + (h * 7919) % 5)
        readings.append(
            Reading(serial, at, at, volume, 2_000, mv, mv <= 2900, False, 2000, program)
        )
    return PatientHistory(
        patient, (), (), (pump,), tuple(readings), (), tuple(refills), tuple(changes)
    )


def measure(years: int, frames: int) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from ui.trends import TrendsTab

    app = QApplication.instance() or QApplication(sys.argv)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    history = synthetic_history(years, now)
    t0 = time.perf_counter()
    trends = build_trends(history, LONDON, now)
    build_ms = (time.perf_counter() - t0) * 1000

    warm = TrendsTab()  # first widget of the process pays one-off font and style set-up
    warm.resize(1100, 650)
    warm.show()
    warm.show_trends(build_trends(synthetic_history(1, now), LONDON, now), "Warm up")
    warm.grab()
    warm.close()

    tab = TrendsTab()
    tab.resize(1100, 650)
    tab.show()
    app.processEvents()  # benchmark script: let the empty window map before timing
    t0 = time.perf_counter()
    tab.show_trends(trends, "Bench, Mark")
    tab.grab()
    first_ms = (time.perf_counter() - t0) * 1000

    lo, hi = trends.x_range
    span = hi - lo
    times: list[float] = []
    for i in range(frames):
        width = span * (0.05 + 0.95 * ((i * 37) % frames) / frames)  # zooms in and out
        left = lo + (span - width) * ((i * 53) % frames) / frames  # pans across the years
        t0 = time.perf_counter()
        tab.plots["reservoir"].setXRange(left, left + width, padding=0)
        tab.graphics.grab()
        times.append((time.perf_counter() - t0) * 1000)
    tab.close()
    times.sort()
    return {
        "points": float(len(history.readings)),
        "build_ms": build_ms,
        "first_ms": first_ms,
        "frame_median_ms": statistics.median(times),
        "frame_p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    results = {years: measure(years, args.frames) for years in (1, 10)}
    for years, r in results.items():
        print(
            f"{years:>2} year(s), {int(r['points']):,} hourly readings: series built in "
            f"{r['build_ms']:.0f} ms; first draw {r['first_ms']:.1f} ms (limit "
            f"{FIRST_DRAW_LIMIT_MS:.0f}); pan/zoom frame median {r['frame_median_ms']:.1f} ms, "
            f"p95 {r['frame_p95_ms']:.1f} ms (limit {FRAME_LIMIT_MS:.0f})"
        )
    for years, r in results.items():
        for metric, key, limit in (
            ("first_draw", "first_ms", FIRST_DRAW_LIMIT_MS),
            ("pan_zoom_frame_median", "frame_median_ms", FRAME_LIMIT_MS),
            ("pan_zoom_frame_p95", "frame_p95_ms", FRAME_LIMIT_MS),
        ):
            print(
                json.dumps(
                    {
                        "metric": f"trends_{metric}_{years}y",
                        "value": round(r[key], 2),
                        "unit": "ms",
                        "limit": limit,
                    }
                )
            )
        print(
            json.dumps(
                {
                    "metric": f"trends_series_build_{years}y",
                    "value": round(r["build_ms"], 1),
                    "unit": "ms",
                }
            )
        )


if __name__ == "__main__":
    main()
