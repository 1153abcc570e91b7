"""Start-up time: launch to a usable main window, with 5,000 and 20,000 patients.

Compared with a bare PySide6 window (a QMainWindow with a table, no pyqtgraph: the console
loads pyqtgraph only when the Trends tab is first shown) measured in the same run, so the
figure is a ratio that means the same on a fast or a slow machine. Target: at most 3x.

Each launch is a fresh process (interpreter start, imports, database open, sign-in skipped)
on the offscreen platform, starting as the ``itbconsole`` command does
(``ui.launcher.prepare_desktop_start``: the garbage collector paused for the imports,
sqlite-utils without its optional numpy). Both programs run from compiled bytecode, as an
installed console does: it is written once into ``--cache`` whatever the caller's
PYTHONDONTWRITEBYTECODE says (timing Python compiling the console's source measured the
compiler, not the start). The database's integrity check runs beside the
window (``integrity_check_after_open``), so the window does not wait for it. "Usable" is the moment the shown window answers its first event
(a zero-delay timer fired from inside its event loop): from then on the window takes clicks
and keys while the patient list is read on a worker thread. The moment the list is on
screen is reported too, with the same baseline. Median of N runs, alternating.

    python benchmarks/startup.py                         # 5,000 and 20,000 patients
    python benchmarks/startup.py --sizes 2000 --runs 3   # quick look

The clinics are gui_stalls.py's (built once into ``--cache``).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

import gui_stalls  # noqa: E402  (the clinic the window's benchmarks share)

LIMIT_RATIO = 3.0

BASELINE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QTableWidget
app = QApplication(sys.argv)
w = QMainWindow()
w.setCentralWidget(QTableWidget(20, 6))
w.resize(1366, 768)
w.show()
QTimer.singleShot(0, lambda: (print("shown", flush=True), app.quit()))
app.exec()
"""

CONSOLE = """
import sys
from ui.launcher import prepare_desktop_start
prepare_desktop_start()
from PySide6.QtCore import QTimer
from itbconsole.model import Role, User
from ui.app import build_window, make_application
app = make_application()
w = build_window(sys.argv[1], user=User("Benchmark Nurse", Role.NURSE))
w.show()
def usable():
    loaded = [m in sys.modules for m in ("pyqtgraph", "numpy", "drivers.link")]
    print("shown", *loaded, flush=True)
    poll()
def poll():
    if w.patient_list.loaded:
        print("listed", w.patient_list.model.rowCount(), flush=True)
        app.quit()
    else:
        QTimer.singleShot(2, poll)
QTimer.singleShot(0, usable)
app.exec()
"""


def launch(code: str, *args: str, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds to usable, seconds to the list on screen, what the child said)."""
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
    shown = time.perf_counter() - t0
    if not line.startswith("shown"):
        proc.kill()
        raise SystemExit(f"the window never showed (exit {proc.wait()})")
    listed_line = proc.stdout.readline() if args else ""
    listed = time.perf_counter() - t0
    proc.wait(timeout=120)
    return shown, listed, (line + listed_line).strip()


def build_clinic(path: Path, patients: int) -> None:
    """store_scale.py's clinic (ten years per patient), every pump's forecast stored: the
    database benchmarks/backup_wait.py copies."""
    import store_scale

    from itbconsole.druglib import load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import Store

    store = Store.open(path)
    writer = store_scale.BulkWriter(store)
    rng = random.Random(7)
    for n in range(1, patients + 1):
        store_scale.build_patient(writer, rng, n)
        if n % 250 == 0:
            writer.flush()
    writer.flush()
    ClinicService(store, load_drug_library(), User("Bench", Role.NURSE)).ensure_forecasts()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "itb-bench")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    ok = True
    lines: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Both programs run from compiled bytecode, as an installed console does (pip
        # compiles it on install): kept in the cache folder, whatever the caller's
        # PYTHONDONTWRITEBYTECODE says, so neither side is timed compiling its source.
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "ITBCONSOLE_DATA_DIR": tmp,
            "PYTHONPYCACHEPREFIX": str(args.cache / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for size in args.sizes:
            db = args.cache / f"gui-clinic-{size}.sqlite"
            if not db.exists():
                t = time.perf_counter()
                gui_stalls.build_clinic(db, size)
                print(f"Built a {size:,}-patient clinic in {time.perf_counter() - t:.0f} s")
            # Warm the file cache and write the bytecode cache once for both, then alternate.
            launch(BASELINE, env=env)
            launch(CONSOLE, str(db), env=env)
            base, usable, listed = [], [], []
            said = ""
            for _ in range(args.runs):
                base.append(launch(BASELINE, env=env)[0])
                shown, filled, said = launch(CONSOLE, str(db), env=env)
                usable.append(shown)
                listed.append(filled)
            b = statistics.median(base)
            u, f = statistics.median(usable), statistics.median(listed)
            words = said.split()
            print(f"{size:,} patients (median of {args.runs} launches):")
            print(f"  bare PySide6 window            {b * 1000:6.0f} ms")
            print(f"  ITB Console window usable      {u * 1000:6.0f} ms  ratio {u / b:.2f}")
            print(f"  patient list on screen         {f * 1000:6.0f} ms  ratio {f / b:.2f}")
            print(
                f"  when usable: pyqtgraph imported {words[1]}, numpy imported {words[2]}, "
                f"pump link imported {words[3]}; {words[-1]} patients listed"
            )
            ok &= u / b <= LIMIT_RATIO
            for metric, value in (("usable", u), ("list_shown", f)):
                lines.append(
                    {
                        "metric": f"startup_{metric}_{size}_patients_ms",
                        "value": round(value * 1000),
                        "unit": "ms",
                        "ratio": round(value / b, 3),
                        "limit": LIMIT_RATIO if metric == "usable" else None,
                    }
                )
    for line in lines:
        print(json.dumps(line))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
