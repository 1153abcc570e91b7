"""Start-up time: launch to main window shown, on a 5,000-patient database.

Compared with a bare PySide6 + pyqtgraph window measured in the same run, so the figure is a
ratio that means the same on a fast or a slow machine. Target: at most 1.5x.

Each launch is a fresh process (interpreter start, imports, database open, first patient
list) on the offscreen platform; the clock runs from just before the process is started to
the moment the child reports its window shown from inside its event loop. Median of N runs.

    python benchmarks/startup.py                 # builds the clinic (about 2 minutes)
    python benchmarks/startup.py --db clinic.sqlite   # reuse a clinic built earlier
    python benchmarks/startup.py --patients 500 --runs 3   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_RATIO = 1.5

BASELINE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
import pyqtgraph as pg
app = QApplication(sys.argv)
w = QMainWindow()
w.setCentralWidget(pg.PlotWidget())
w.resize(1280, 760)
w.show()
QTimer.singleShot(0, lambda: (print("shown", flush=True), app.quit()))
app.exec()
"""

CONSOLE = """
import sys
from PySide6.QtCore import QTimer
from itbconsole.model import Role, User
from ui.app import build_window, make_application
app = make_application()
w = build_window(sys.argv[1], user=User("Benchmark Nurse", Role.NURSE))
w.show()
rows = w.patient_list.model.rowCount()
QTimer.singleShot(0, lambda: (print("shown", rows, flush=True), app.quit()))
app.exec()
"""


def launch(code: str, *args: str, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.wait(timeout=60)
    if not line.startswith("shown"):
        raise SystemExit(f"the window never showed (exit {proc.returncode})")
    return elapsed, line.strip()


def build_clinic(path: Path, patients: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import store_scale  # the same clinic generator as the store benchmark

    from itbconsole.store import Store

    store = Store.open(path)
    writer = store_scale.BulkWriter(store)
    rng = random.Random(7)
    for n in range(1, patients + 1):
        store_scale.build_patient(writer, rng, n)
        if n % 250 == 0:
            writer.flush()
    writer.flush()
    # A clinic in use has every pump's forecast stored (the first start after an update
    # works them out once, behind a progress bar: store_scale.py times that).

    from itbconsole.druglib import load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.services.clinic import ClinicService

    ClinicService(store, load_drug_library(), User("Bench", Role.NURSE)).ensure_forecasts()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--db", type=Path, help="an existing clinic database (else one is built)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ITBCONSOLE_DATA_DIR": tmp}
        db = args.db
        if db is None:
            db = Path(tmp) / "clinic.sqlite"
            t = time.perf_counter()
            build_clinic(db, args.patients)
            print(f"Built a {args.patients:,}-patient clinic in {time.perf_counter() - t:.0f} s")
        # Warm the file cache and Python's bytecode cache once for both, then alternate.
        launch(BASELINE, env=env)
        launch(CONSOLE, str(db), env=env)
        base, app = [], []
        rows = ""
        for _ in range(args.runs):
            base.append(launch(BASELINE, env=env)[0])
            seconds, line = launch(CONSOLE, str(db), env=env)
            app.append(seconds)
            rows = line.split()[1]
        b, a = statistics.median(base), statistics.median(app)
        ratio = a / b
        print(f"Bare PySide6 + pyqtgraph window: median {b * 1000:.0f} ms over {args.runs} runs")
        print(f"ITB Console main window ({rows} patients listed): median {a * 1000:.0f} ms")
        print(f"Ratio {ratio:.2f} (limit {LIMIT_RATIO})")
        print(
            json.dumps(
                {
                    "metric": "startup_to_main_window_ms",
                    "value": round(a * 1000),
                    "unit": "ms",
                    "ratio": round(ratio, 3),
                    "limit": LIMIT_RATIO,
                }
            )
        )
    return 0 if ratio <= LIMIT_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
