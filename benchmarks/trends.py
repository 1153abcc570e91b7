"""Trends tab with ten years of hourly readings: what the nurse waits for after the click.

Builds a database file with one patient whose pump was read every hour for 10 years
(87,600 readings; refilled every 90 days, the dose changed twice a year, the battery falling,
the pump logging each refill and 5,000 other entries, alarm tests and acknowledgements, for
the events plot), in bulk as ``store_scale.py`` does (the application's own row
mappings, executemany). Then, in the same run:

* click to plot: ``TrendsTab.show_patient`` as the main window calls it, until the tab has
  drawn the plots and a finished image of the tab has been grabbed; the database read, the
  series, the forecast and the drawing all included (median, and the worst, of 5 clicks,
  each after another patient was shown, so the tab starts from someone else's plots), and
  the process's CPU time for it (both threads: wall time on a busy machine grows with the
  load average, printed beside it). Limit 300 ms;
* the worst GUI stall during that wait, under a 5 ms heartbeat timer on the GUI thread (the
  read and the series run on the worker thread; the drawing is one plot per event-loop turn).
  Limit 50 ms. Beside it, the full (generation 2) garbage collections during the clicks, on
  either thread, and the longest: the collector holds the GIL, so one that walks pyqtgraph
  and the plots stalls the window (the tab freezes them after its first drawing);
* baselines: the history path (``itbconsole.trends.load_trends`` over the patient's whole
  history: every reading and pump event turned into objects before the series, on the GUI
  thread, the tab's way before this build) and a
  bare read of the same rows (``SELECT`` of the five columns a plot needs, ``fetchall``: the
  least any row-by-row read could cost);
* pan/zoom frame: ``setXRange`` on the shared axis and a render of the plots, for a walk of
  pans and zooms across the years; median and 95th percentile, limit 16 ms.

    python benchmarks/trends.py [--clicks 5] [--frames 40] [--db PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from store_scale import CLINICIAN, NURSE, BulkWriter  # noqa: E402 (after the path set-up)

from itbconsole.model import (  # noqa: E402
    Origin,
    Patient,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    simple_continuous,
)
from itbconsole.store import Store  # noqa: E402
from itbconsole.store import records as rec  # noqa: E402
from itbconsole.store.db import utc_iso  # noqa: E402

CLICK_LIMIT_MS = 300.0
STALL_LIMIT_MS = 50.0
FRAME_LIMIT_MS = 16.0
HEARTBEAT_MS = 5
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
YEARS = 10
#: Pump log entries besides the refills, spread over the years (the events plot draws each).
LOG_EVENTS = 5_000
LOG_KINDS = ("alarm_test", "alarm_acknowledged", "clock_set")


def _patient(w: BulkWriter, n: int, start: datetime) -> int:
    patient = Patient(f"Bench{n}", "Mark", date(1970, 1, 1), f"B{n:06d}", Origin.SPINAL)
    pid = w.add("patients", {}, NURSE, start)
    w.add("patient_versions", {**rec.patient_row(patient), "patient_id": pid}, NURSE, start)
    return pid


def build_database(path: Path, years: int = YEARS) -> tuple[int, int]:
    """The hourly patient and a small one to switch from; returns their ids."""
    store = Store.open(path)
    w = BulkWriter(store)
    hours = years * 365 * 24
    start = NOW - timedelta(hours=hours)
    pid = _patient(w, 1, start)
    serial = "BENCH0001"
    pump = Pump(serial, "SynchroMed II 8637-40", 40_000, 2_000, implant_date=start.date())
    w.add("pumps", {"serial": serial}, NURSE, start)
    w.add("pump_versions", rec.pump_row(pump), NURSE, start)
    w.add(
        "pump_registrations",
        {"pump_serial": serial, "patient_id": pid, "effective_at": utc_iso(start)},
        NURSE,
        start,
    )
    dose, event = 400, 0
    log_every = max(hours // LOG_EVENTS, 1)
    program = simple_continuous(dose)
    fill_at = start
    per_hour = dose / 2000 * 1000 / 24  # µL an hour at 2000 mcg/mL
    for h in range(hours):
        at = start + timedelta(hours=h)
        if h and h % (90 * 24) == 0:
            residual = int(40_000 - per_hour * (at - fill_at).total_seconds() / 3600)
            refill = Refill(
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
            w.add("refills", {**rec.refill_row(refill), "patient_id": pid}, NURSE, at)
            logged = PumpEvent(serial, event, at, "refill", {"added_ul": 40_000})
            w.add("pump_events", {**rec.event_row(logged), "patient_id": pid}, NURSE, at)
            event += 1
            fill_at = at
        if h and h % (182 * 24) == 0:
            new = simple_continuous(dose + 10)
            change = ProgramChange(serial, at, program, new, 2000, "Titration", readback=new)
            w.add(
                "program_changes",
                {**rec.program_change_row(change), "patient_id": pid},
                CLINICIAN,
                at,
            )
            dose, program = dose + 10, new
            per_hour = dose / 2000 * 1000 / 24
        if h % log_every == 0 and h // log_every < LOG_EVENTS:
            kind = LOG_KINDS[(h // log_every) % len(LOG_KINDS)]
            logged = PumpEvent(serial, event, at, kind, {})
            w.add("pump_events", {**rec.event_row(logged), "patient_id": pid}, NURSE, at)
            event += 1
        volume = max(int(40_000 - per_hour * (at - fill_at).total_seconds() / 3600), 0)
        mv = int(3200 - 0.12 * h / 24 + (h * 7919) % 5)
        reading = Reading(serial, at, at, volume, 2_000, mv, mv <= 2900, False, 2000, program)
        w.add("readings", {**rec.reading_row(reading), "patient_id": pid}, NURSE, at)
        if h % 20_000 == 0:
            w.flush()
    # A small patient: monthly readings for a year.
    other = _patient(w, 2, start)
    serial = "BENCH0002"
    w.add("pumps", {"serial": serial}, NURSE, start)
    w.add("pump_versions", rec.pump_row(Pump(serial, "SynchroMed II", 40_000, 2_000)), NURSE, start)
    w.add(
        "pump_registrations",
        {"pump_serial": serial, "patient_id": other, "effective_at": utc_iso(start)},
        NURSE,
        start,
    )
    for month in range(12):
        at = NOW - timedelta(days=30 * (12 - month))
        reading = Reading(
            serial, at, at, 40_000 - 2_000 * month, 2_000, 3_100, False, False, 2000, program
        )
        w.add("readings", {**rec.reading_row(reading), "patient_id": other}, NURSE, at)
    w.flush()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return pid, other


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def measure(path: Path, pid: int, other: int, clicks: int, frames: int) -> dict[str, float]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from itbconsole.druglib import load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.services.clinic import ClinicService
    from ui.trends import TrendsTab

    app = QApplication.instance() or QApplication(sys.argv)
    store = Store.open(path)
    clinic = ClinicService(store, load_drug_library(), User("Bench", Role.NURSE), UTC)
    tab = TrendsTab()
    tab.resize(1366, 700)
    tab.show()
    view = tab.view()

    def wait_drawn(patient_id: int) -> None:
        loop = QEventLoop()
        view.drawn.connect(loop.quit)
        QTimer.singleShot(30_000, loop.quit)
        tab.show_patient(clinic, patient_id, NOW)
        loop.exec()
        view.drawn.disconnect(loop.quit)

    wait_drawn(other)  # first use: plots built, the worker's connection opened
    wait_drawn(pid)
    tab.grab()

    last_beat = [0.0]
    worst_gap = [0.0]

    def beat() -> None:
        t = time.perf_counter()
        worst_gap[0] = max(worst_gap[0], (t - last_beat[0]) * 1000)
        last_beat[0] = t

    collections: list[float] = []
    started: dict[int, float] = {}

    def collection(phase: str, info: dict[str, int]) -> None:
        """Times each full collection, on whichever thread set it off."""
        if info["generation"] < 2:
            return
        if phase == "start":
            started[threading.get_ident()] = time.perf_counter()
        elif (t := started.pop(threading.get_ident(), None)) is not None:
            collections.append((time.perf_counter() - t) * 1000)

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    click_ms: list[float] = []
    cpu_ms: list[float] = []
    stall_ms: list[float] = []
    gc.callbacks.append(collection)
    for _ in range(clicks):
        wait_drawn(other)
        tab.grab()
        app.processEvents()
        cpu0 = time.process_time()
        t0 = last_beat[0] = time.perf_counter()
        worst_gap[0] = 0.0
        wait_drawn(pid)
        stall_ms.append(max(worst_gap[0], (time.perf_counter() - last_beat[0]) * 1000))
        tab.grab()  # the finished image the nurse sees
        click_ms.append((time.perf_counter() - t0) * 1000)
        cpu_ms.append((time.process_time() - cpu0) * 1000)
    heartbeat.stop()
    gc.callbacks.remove(collection)
    assert view.trends is not None and view.trends.reservoir is not None
    points = len(view.trends.reservoir.readings_x)
    events = len(view.trends.markers)

    from itbconsole.trends import TrendSettings, load_trends

    def history_path() -> object:
        return load_trends(
            store.patient_history(pid),
            store.find_pump_owner,
            clinic.tz,
            NOW,
            TrendSettings(thresholds=clinic.settings.thresholds, clinic=clinic.settings),
            forecast_of=clinic.forecast_for,
            bridges_of=store.bridges,
        )

    history_ms = statistics.median(timed(history_path) for _ in range(2))
    bare_sql = (
        "SELECT at, reservoir_ul, battery_mv, eri, eos FROM readings t WHERE t.patient_id = ?"
        " AND t.entered_in_error = 0 AND NOT EXISTS (SELECT 1 FROM readings c"
        " WHERE c.corrects_id = t.id) ORDER BY t.at, t.id"
    )
    bare_ms = statistics.median(
        timed(lambda: store.db.execute(bare_sql, [pid]).fetchall()) for _ in range(5)
    )

    trends = view.trends
    lo, hi = trends.x_range
    span = hi - lo
    times: list[float] = []
    view.choose_plots(view.PLOTS)
    for i in range(frames):
        width = span * (0.05 + 0.95 * ((i * 37) % frames) / frames)  # zooms in and out
        left = lo + (span - width) * ((i * 53) % frames) / frames  # pans across the years
        t0 = time.perf_counter()
        view.plots["reservoir"].setXRange(left, left + width, padding=0)
        view.graphics.grab()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    tab.close()
    store.close()
    return {
        "points": float(points),
        "events": float(events),
        "click_median_ms": statistics.median(click_ms),
        "click_worst_ms": max(click_ms),
        "click_cpu_ms": statistics.median(cpu_ms),
        "stall_worst_ms": max(stall_ms),
        "full_collections": float(len(collections)),
        "full_collection_worst_ms": max(collections, default=0.0),
        "history_ms": history_ms,
        "bare_ms": bare_ms,
        "frame_median_ms": statistics.median(times),
        "frame_p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "trends.sqlite"
        if path.exists():
            sys.exit(f"{path} exists; give a new file name.")
        t0 = time.perf_counter()
        pid, other = build_database(path)
        print(f"Built {YEARS} years of hourly readings in {time.perf_counter() - t0:.1f} s")
        r = measure(path, pid, other, args.clicks, args.frames)
    print(
        f"{int(r['points']):,} hourly readings and {int(r['events']):,} pump log entries: click to"
        f" plot median {r['click_median_ms']:.0f} ms,"
        f" worst {r['click_worst_ms']:.0f} ms (limit {CLICK_LIMIT_MS:.0f}), database read"
        f" included; worst GUI stall meanwhile {r['stall_worst_ms']:.1f} ms (limit"
        f" {STALL_LIMIT_MS:.0f}, {HEARTBEAT_MS} ms heartbeat)"
    )
    print(
        f"  CPU time of the process for one click (both threads, the heartbeat's ticks"
        f" included): median {r['click_cpu_ms']:.0f} ms; load average while measuring"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it)"
    )
    print(
        f"  Full garbage collections during the clicks: {int(r['full_collections'])}, the"
        f" longest {r['full_collection_worst_ms']:.1f} ms"
    )
    print(
        f"Baselines: the history path (every row an object, on the GUI thread)"
        f" {r['history_ms']:.0f} ms; a bare read of the same rows {r['bare_ms']:.0f} ms"
    )
    print(
        f"Pan/zoom frame median {r['frame_median_ms']:.1f} ms, p95 {r['frame_p95_ms']:.1f} ms"
        f" (limit {FRAME_LIMIT_MS:.0f})"
    )
    lines = [
        {
            "metric": "trends_click_to_plot_10y",
            "value": round(r["click_median_ms"], 1),
            "worst": round(r["click_worst_ms"], 1),
            "unit": "ms",
            "ratio": round(r["click_median_ms"] / r["history_ms"], 3),
            "baseline": "history path (load_trends over the whole history), same run",
            "limit": CLICK_LIMIT_MS,
        },
        {
            "metric": "trends_click_to_plot_vs_bare_read_10y",
            "value": round(r["click_median_ms"], 1),
            "unit": "ms",
            "ratio": round(r["click_median_ms"] / r["bare_ms"], 3),
            "baseline": "bare fetchall of the same rows, same run",
            "limit": CLICK_LIMIT_MS,
        },
        {
            "metric": "trends_click_to_plot_cpu_10y",
            "value": round(r["click_cpu_ms"], 1),
            "unit": "ms",
            "ratio": round(r["click_cpu_ms"] / r["history_ms"], 3),
            "baseline": "history path wall time, same run",
            "limit": CLICK_LIMIT_MS,
        },
        {
            "metric": "trends_gui_stall_worst_10y",
            "value": round(r["stall_worst_ms"], 1),
            "unit": "ms",
            "ratio": round(r["stall_worst_ms"] / r["history_ms"], 3),
            "baseline": "history path, all of it on the GUI thread",
            "limit": STALL_LIMIT_MS,
        },
        {
            "metric": "trends_pan_zoom_frame_p95_10y",
            "value": round(r["frame_p95_ms"], 2),
            "unit": "ms",
            "ratio": round(r["frame_p95_ms"] / FRAME_LIMIT_MS, 3),
            "limit": FRAME_LIMIT_MS,
        },
    ]
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
