"""What the user waits for after File > Back up database, on a 5,000-patient clinic.

Two waits, from the click: until the window responds again (the GUI thread's next event),
and until the backup is done (copied, checked, its key file written). The backup as it is
now (ui/backup_job.py: a worker thread with its own connection, in steps, with a progress
dialog) is compared with the backup as it was (one step on the GUI thread's connection,
``ClinicService.backup`` without steps) measured in the same run, in the same window.

A 5 ms heartbeat timer on the GUI thread gives the worst stall: the longest gap between two
ticks from the click to the backup done. Target: the window responds, and never stalls,
within 50 ms; the backup itself may take a little longer than the old one (ratio limit 1.5).

    python benchmarks/backup_wait.py                       # builds the clinic (about 2 minutes)
    python benchmarks/backup_wait.py --db clinic.sqlite    # reuse a clinic built earlier
    python benchmarks/backup_wait.py --patients 500 --runs 3   # quick look

Ends with JSON lines (value in ms; ratio = now / before; limit in ms for the two waits the
GUI thread must keep under 50 ms, a ratio for the time to done).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

LIMIT_MS = 50.0
LIMIT_DONE_RATIO = 1.5
BEAT_MS = 5


class Recorder:
    """Stands in for the window's modal messages, so an error ends the run instead of
    waiting for a click."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def critical(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def confirm(self, title: str, message: str) -> bool:
        return True


def measure(
    click: Callable[[], Callable[[], bool]],
    *,
    poll_ms: int = BEAT_MS,
    delay_ms: int = 100,
    timeout_s: float | None = None,
) -> tuple[float, float, float]:
    """Run the event loop, "click" (``click`` starts an action, a backup here, and returns
    whether it is done; checked every ``poll_ms``, given up after ``timeout_s``), and return
    (click to responding, worst stall, click to done) in ms. gui_stalls.py times with it
    too."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    ticks: list[float] = []
    state: dict[str, object] = {}
    loop = QEventLoop()
    beat = QTimer()
    beat.setInterval(BEAT_MS)
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    poll = QTimer()
    poll.setInterval(poll_ms)

    def check() -> None:
        done = state["done"]
        assert callable(done)
        late = timeout_s is not None and time.perf_counter() - float(state["t0"]) > timeout_s  # type: ignore[arg-type]
        if done() or late:
            state["t_done"] = time.perf_counter()
            poll.stop()
            loop.quit()

    def do_click() -> None:
        state["t0"] = time.perf_counter()
        state["done"] = click()
        poll.start()

    poll.timeout.connect(check)
    beat.start()
    QTimer.singleShot(delay_ms, do_click)
    loop.exec()
    beat.stop()
    t0, t_done = float(state["t0"]), float(state["t_done"])  # type: ignore[arg-type]
    after = [t for t in ticks if t > t0]
    responding = (after[0] - t0) if after else t_done - t0
    window = [t0, *(t for t in ticks if t0 < t <= t_done), t_done]
    worst = max(b - a for a, b in itertools.pairwise(window))
    return responding * 1000, worst * 1000, (t_done - t0) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--db", type=Path, help="an existing clinic database (else one is built)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ["ITBCONSOLE_DATA_DIR"] = tmp
        db = args.db
        if db is None:
            import startup  # the same clinic as the start-up benchmark

            db = Path(tmp) / "clinic.sqlite"
            t = time.perf_counter()
            startup.build_clinic(db, args.patients)
            print(f"Built a {args.patients:,}-patient clinic in {time.perf_counter() - t:.0f} s")
        print(f"Database {db.stat().st_size / 1e6:.1f} MB")

        from itbconsole.model import Role, User
        from ui.app import build_window, make_application

        app = make_application()
        window = build_window(str(db), user=User("Benchmark Nurse", Role.NURSE))
        assert window is not None
        prompts = Recorder()
        window.prompts = prompts  # type: ignore[assignment]
        window.show()
        app.processEvents()
        out = Path(tmp) / "backups"
        out.mkdir()

        def before() -> Callable[[], bool]:
            window.clinic.backup(out / "before.sqlite")  # one step, on the GUI thread
            return lambda: True

        def now() -> Callable[[], bool]:
            run = window.start_backup(str(out / "now.sqlite"))
            return lambda: not run.running

        old: list[tuple[float, float, float]] = []
        new: list[tuple[float, float, float]] = []
        for _ in range(args.runs):  # alternate, so both see the same cache and load
            old.append(measure(before))
            new.append(measure(now))
            if prompts.errors:
                raise SystemExit(f"the backup failed: {prompts.errors[-1]}")
        window.close()

    def med(rows: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    names = ("click to window responding", "worst GUI stall", "click to backup done")
    print(f"Median over {args.runs} runs of each, alternating:")
    print(f"  {'':<28}{'before (GUI thread)':>22}{'now (worker)':>16}")
    for i, name in enumerate(names):
        print(f"  {name:<28}{med(old, i):>19.0f} ms{med(new, i):>13.0f} ms")
    lines = [
        ("backup_click_to_done_ms", 2, LIMIT_DONE_RATIO),
        ("backup_worst_gui_stall_ms", 1, LIMIT_MS),
        ("backup_click_to_responding_ms", 0, LIMIT_MS),
    ]
    ok = True
    for metric, i, limit in lines:
        value, base = med(new, i), med(old, i)
        ratio = value / base if base else 0.0
        ok &= (ratio if i == 2 else value) <= limit
        print(
            json.dumps(
                {
                    "metric": metric,
                    "value": round(value, 1),
                    "unit": "ms",
                    "ratio": round(ratio, 4),
                    "limit": limit,
                }
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
