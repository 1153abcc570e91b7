"""Starting the console: what is loaded before the window is usable, and a damaged database
found by the integrity check that now runs beside the window (not before it).

The window waits for neither the plotting library (Trends, the program editor and the refill
wizard load it when first opened) nor ``quick_check``; a damaged file is still reported to
the user and nothing is written to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import ui.app
from itbconsole.model import Role, User
from itbconsole.store import Store
from tests.itbconsole.store.storefixtures import NURSE, make_patient
from tests.itbconsole.store.test_db_background_check import damage_page, digest
from tests.ui.conftest import RecordedPrompts

ROOT = Path(__file__).resolve().parents[2]
BENCH_NURSE = User("Test Nurse", Role.NURSE)


def clinic(path: Path, patients: int = 60) -> Path:
    with Store.open(path) as store:
        for i in range(patients):
            store.add_patient(make_patient(hospital=f"H{i:06d}", nhs_number=None), NURSE)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_the_window_starts_without_the_plotting_library(tmp_path: Path) -> None:
    db = clinic(tmp_path / "clinic.sqlite", patients=5)
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QTimer
        from itbconsole.model import Role, User
        from ui.app import build_window, make_application
        app = make_application()
        w = build_window(sys.argv[1], user=User("Test Nurse", Role.NURSE))
        w.show()
        def usable():
            loaded = [m for m in ("pyqtgraph", "ui.refill.wizard", "ui.program.editor")
                      if m in sys.modules]
            print("loaded:", ",".join(loaded), flush=True)
            w.close()
            app.quit()
        QTimer.singleShot(0, usable)
        app.exec()
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(db)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert said == ["loaded: "], done.stdout


def test_a_damaged_database_is_reported_in_the_window_which_closes_having_saved_nothing(
    qtbot: QtBot, tmp_path: Path
) -> None:
    db = clinic(tmp_path / "clinic.sqlite")
    damage_page(db)
    content = digest(db)
    window = ui.app.build_window(str(db), user=BENCH_NURSE)
    assert window is not None, "the window no longer waits for the integrity check"
    prompts = RecordedPrompts()
    window.prompts = prompts  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: bool(prompts.criticals), timeout=10_000)
    title, message = prompts.criticals[0]
    assert title == "Database damaged"
    assert "damaged" in message and "not tampering" in message and "backup" in message
    assert "Nothing was saved" in message
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    window.clinic.store.close()
    assert digest(db) == content


def test_a_whole_database_raises_no_alarm(qtbot: QtBot, tmp_path: Path) -> None:
    db = clinic(tmp_path / "clinic.sqlite")
    window = ui.app.build_window(str(db), user=BENCH_NURSE)
    assert window is not None
    prompts = RecordedPrompts()
    window.prompts = prompts  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.show()
    from itbconsole.store.db import pending_integrity_check

    check = pending_integrity_check(window.clinic.store.db)
    assert check is not None
    qtbot.waitUntil(lambda: check.wait(0), timeout=10_000)
    qtbot.wait(50)  # the finished signal's delivery
    assert prompts.criticals == [] and window.isVisible()
    window.close()
    window.clinic.store.close()


def test_damage_found_during_sign_in_ends_the_start_with_the_message(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = clinic(tmp_path / "clinic.sqlite")
    damage_page(db)
    content = digest(db)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        ui.app, "show_error", lambda _p, title, text, *_a: shown.append((title, text))
    )

    def slow_sign_in(accounts: object, demo_users: object = ()) -> User | None:
        from itbconsole.store.db import pending_integrity_check

        check = pending_integrity_check(accounts.store.db)  # type: ignore[attr-defined]
        assert check is not None
        qtbot.waitUntil(lambda: check.wait(0), timeout=10_000)  # someone typing a password
        return BENCH_NURSE

    monkeypatch.setattr(ui.app, "sign_in", slow_sign_in)
    assert ui.app.build_window(str(db)) is None
    assert shown and shown[0][0] == "Database not available" and "damaged" in shown[0][1]
    assert digest(db) == content


def run_python(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_drift_rule_and_trend_settings_load_without_numpy_and_the_trends_with_it() -> None:
    said = run_python(
        """
        import sys
        from itbconsole.trends import DriftRule, TrendSettings, detect_drift, battery_outlook
        print("numpy" in sys.modules)
        from itbconsole.trends import build_trends
        print("numpy" in sys.modules, TrendSettings().drift == DriftRule())
        """
    )
    assert said == ["False", "True", "True"]


def test_the_command_imports_sqlite_utils_without_numpy_which_still_loads_later() -> None:
    said = run_python(
        """
        import sys
        from ui.launcher import import_sqlite_utils_without_numpy
        import_sqlite_utils_without_numpy()
        print("sqlite_utils" in sys.modules, "numpy" in sys.modules)
        import numpy
        from sqlite_utils import Database
        db = Database(memory=True)
        db.execute("CREATE TABLE t (x INTEGER)")
        db.execute("INSERT INTO t VALUES (?)", [int(numpy.int64(7))])
        print(db.execute("SELECT x FROM t").fetchone()[0])
        """
    )
    assert said == ["True", "False", "7"]
