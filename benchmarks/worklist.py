"""The clinic-day worklist at clinic scale: from the user's click to a filled table.

Builds (or reuses) the synthetic clinic of ``benchmarks/store_scale.py`` (N patients, default
5,000, ten years of records each), brings every pump's stored forecast up to date, then
times, in the same run and interleaved:

* the baseline: the patient list's refresh as the main window does it (stale forecasts
  checked, every row read through the clinic service, the list model filled);
* the worklist's refresh as View > Worklist does it (``ClinicService.clinic_worklist`` and
  the table model filled), once delivery drift is known for every pump;
* the first opening after a start, when no drift is known yet: the list shows with the
  first batch of pumps' drift and the rest is worked out in steps between events; the
  step time is what the window waits for at most.

At the synthetic clinic's last day every pump is past End of Service (the builder puts
each pump's last 90 days past ERI), so every patient is on the list with three or four
lines: the worst case for the worklist. Target: under 100 ms from the click.

Usage: python benchmarks/worklist.py [--patients N] [--db PATH] [--runs N]
(``--db``: a clinic file built before is reused, a new name is built and kept.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.store_scale import END, BulkWriter, build_patient
from itbconsole.druglib import load_drug_library
from itbconsole.model import Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store

LIMIT_MS = 100.0
#: The longest the window may stop answering (docs/architecture.md, "Threads").
STEP_LIMIT_MS = 50.0


def build(path: Path, patients: int) -> None:
    import random

    rng = random.Random(7)
    store = Store.open(path)
    writer = BulkWriter(store)
    t = time.perf_counter()
    for n in range(1, patients + 1):
        build_patient(writer, rng, n)
        if n % 250 == 0:
            writer.flush()
    writer.flush()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    print(f"Built {patients:,} patients x 10 years in {time.perf_counter() - t:.1f} s")


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(path: Path, runs: int) -> int:
    from PySide6.QtWidgets import QApplication

    from ui.worklist_view import DRIFT_STEP, WorklistView

    app = QApplication.instance() or QApplication(sys.argv)
    library = load_drug_library()
    user = User("Bench Nurse", Role.NURSE)
    store = Store.open(path)
    clinic = ClinicService(store, library, user, UTC)
    t = time.perf_counter()
    computed = clinic.ensure_forecasts()
    print(f"Forecasts brought up to date: {computed:,} computed in {time.perf_counter() - t:.1f} s")

    # First opening after a start: nothing known about drift yet. The view shows the list,
    # then works out the rest of the drift a step at a time between events; each step is
    # timed as the view runs it.
    steps: list[float] = []
    check_drifts = clinic.check_drifts

    def timed_step(limit: int) -> int:
        t = time.perf_counter()
        left = check_drifts(limit)
        steps.append((time.perf_counter() - t) * 1000)
        return left

    clinic.check_drifts = timed_step  # type: ignore[method-assign]
    first_view = WorklistView(clinic, now=lambda: END)
    first_ms = timed(first_view.refresh)
    t = time.perf_counter()
    while first_view.worklist is not None and first_view.worklist.drift_unchecked:
        app.processEvents()
    settle_s = time.perf_counter() - t
    clinic.check_drifts = check_drifts  # type: ignore[method-assign]
    first_view.deleteLater()
    print(
        f"First opening (no drift known): {first_ms:.0f} ms to the table; the drift of the "
        f"other pumps followed in {len(steps)} steps of {DRIFT_STEP} pumps (median "
        f"{statistics.median(steps) if steps else 0:.0f} ms, longest {max(steps, default=0):.0f}"
        f" ms), the list complete after {settle_s:.1f} s"
    )
    cold_clinic = ClinicService(store, library, user, UTC)
    all_at_once_ms = timed(lambda: cold_clinic.clinic_worklist(now=END))
    print(f"The same, every drift worked out at once (no steps): {all_at_once_ms:.0f} ms")

    # As the app starts: the patient list read on its worker, then the worklist's lines and
    # drift made ahead a step per turn of the event loop (MainWindow._work_ahead), then the
    # first View > Worklist, in a service that has made no worklist before.
    from itbconsole.store.queries import read_patient_list

    app_clinic = ClinicService(store, library, user, UTC)
    assert store.path is not None
    listed = read_patient_list(Path(store.path), app_clinic.today(END), app_clinic.inputs_key)
    ahead_steps: list[float] = []
    steps_ahead = app_clinic.worklist_ahead(listed.rows, END)
    while True:
        t = time.perf_counter()
        try:
            next(steps_ahead)
        except StopIteration:
            break
        finally:
            ahead_steps.append((time.perf_counter() - t) * 1000)
    app_view = WorklistView(app_clinic, now=lambda: END)
    app_first_ms = timed(app_view.refresh)
    app_view.deleteLater()
    print(
        f"As the app starts: the lines and drift made ahead in {len(ahead_steps)} steps "
        f"(longest {max(ahead_steps):.0f} ms), then the first opening {app_first_ms:.0f} ms"
    )

    view = WorklistView(clinic, now=lambda: END)
    view.refresh()
    from dataclasses import replace as dc_replace
    from datetime import timedelta

    from itbconsole.store.queries import read_patient_list

    assert store.path is not None
    path_ = Path(store.path)

    def patient_list() -> None:  # the window's list: read whole on its own connection
        read_patient_list(path_, clinic.today(END), clinic.inputs_key)

    # Pumps whose latest reading is copied a minute later, one per run: an interrogation
    # saved just before the worklist is opened (its forecast is worked out again).
    writes = [r for r in clinic.worklist(None, END) if r.pump_serial][:runs]
    base, again, after = [], [], []
    for k in range(runs):
        base.append(timed(patient_list))
        again.append(timed(view.refresh))  # nothing written since the last opening
        row = writes[k]
        assert row.patient.id is not None and row.pump_serial is not None
        reading = clinic.latest_reading(row.patient.id, row.pump_serial)
        assert reading is not None
        store.add_reading(dc_replace(reading, at=reading.at + timedelta(minutes=1)), user)
        after.append(timed(view.refresh))  # one pump's records changed
        app.processEvents()
    base_ms = statistics.median(base)
    again_ms, after_ms = statistics.median(again), statistics.median(after)
    worklist = view.worklist
    assert worklist is not None
    counts = {c.label: n for c, n in worklist.counts().items() if n}
    print(
        f"Worklist: {len(worklist.items):,} lines for {worklist.patients():,} patients "
        f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})"
    )
    print(
        f"Patient list read whole on its own connection (baseline): median {base_ms:.0f} ms; "
        f"worklist opened again with nothing written: median {again_ms:.0f} ms; "
        f"opened after one pump's interrogation was saved: median {after_ms:.0f} ms "
        f"(longest {max(after):.0f}) over {runs} interleaved runs"
    )
    store.close()
    figures = [
        {"metric": "patient_list_read_ms", "value": round(base_ms, 1), "unit": "ms"},
        {
            "metric": "worklist_first_open_ms",
            "value": round(first_ms, 1),
            "unit": "ms",
            "ratio": round(first_ms / base_ms, 2),
            "limit": LIMIT_MS,
        },
        {
            "metric": "worklist_first_open_after_start_ms",
            "value": round(app_first_ms, 1),
            "unit": "ms",
            "ratio": round(app_first_ms / base_ms, 2),
            "limit": LIMIT_MS,
        },
        {
            "metric": "worklist_ahead_step_max_ms",
            "value": round(max(ahead_steps), 1),
            "unit": "ms",
            "limit": STEP_LIMIT_MS,
        },
        {
            "metric": "worklist_drift_step_max_ms",
            "value": round(max(steps, default=0.0), 1),
            "unit": "ms",
            "limit": STEP_LIMIT_MS,
        },
        {
            "metric": "worklist_reopen_ms",
            "value": round(again_ms, 1),
            "unit": "ms",
            "ratio": round(again_ms / base_ms, 2),
            "limit": LIMIT_MS,
        },
        {
            "metric": "worklist_open_after_a_write_ms",
            "value": round(after_ms, 1),
            "unit": "ms",
            "ratio": round(after_ms / base_ms, 2),
            "limit": LIMIT_MS,
        },
    ]
    for figure in figures:
        print(json.dumps(figure))
    return 0 if max(after_ms, app_first_ms) < LIMIT_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--db", type=Path, help="clinic file: reused if it exists, else kept")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "clinic.sqlite"
        if not path.exists():
            build(path, args.patients)
        return run(path, args.runs)


if __name__ == "__main__":
    sys.exit(main())
