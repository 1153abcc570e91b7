"""What the console's start leaves for later: the window shows, and answers, before the pump
link, the command line's parser, the program rules, the worklist, the history, the patient's
record and the records' dialogs are loaded; each is there when first used.

These are guarantees about what loads, not timings (benchmarks/startup.py times the start).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtWidgets import QLabel

from tests.ui.conftest import Console
from tests.ui.test_startup import clinic
from ui.main_window import NO_PATIENT_TEXT
from ui.patient_view import PatientView

ROOT = Path(__file__).resolve().parents[2]

#: Loaded by nothing the window needs before it is usable.
LEFT_FOR_LATER = (
    "drivers.link",
    "drivers.protocol",
    "drivers.pump_client",
    "itbconsole.cli",
    "itbconsole.services.programming",
    "itbconsole.services.settlement",
    "itbconsole.services.worklist",
    "itbconsole.services.history",
    "itbconsole.services.overview",
    "itbconsole.trends",
    "ui.patient_view",
    "ui.worklist_view",
    "ui.records_dialogs",
    "ui.printing",
    "numpy",
    "pyqtgraph",
)


def run_python(code: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_usable_window_has_loaded_nothing_it_leaves_for_later(tmp_path: Path) -> None:
    db = clinic(tmp_path / "clinic.sqlite", patients=5)
    said = run_python(
        f"""
        import gc, sys
        from ui.launcher import prepare_desktop_start
        prepare_desktop_start()  # as the itbconsole command starts the window
        from PySide6.QtCore import QTimer
        from itbconsole.model import Role, User
        from ui.app import build_window, make_application
        app = make_application()
        w = build_window(sys.argv[1], user=User("Test Nurse", Role.NURSE))
        print("collector:", gc.isenabled())  # paused for the imports only
        w.show()
        def usable():
            print("record:", w.splitter.widget(1).text())  # its place, until the list is in
            print("loaded:", ",".join(m for m in {LEFT_FOR_LATER!r} if m in sys.modules))
            # Listing the serial ports (the window does it on a thread of its own) needs
            # pyserial's list only, not the link.
            from ui.pump_jobs import discover_ports
            discover_ports()
            print("after listing ports:", "drivers.link" in sys.modules)
            w.close()
            app.quit()
        QTimer.singleShot(0, usable)
        app.exec()
        """,
        str(db),
    )
    assert said == [
        "collector: True",
        f"record: {NO_PATIENT_TEXT}",
        "loaded: ",
        "after listing ports: False",
    ]


def test_the_plain_start_reads_its_arguments_without_the_command_line_parser() -> None:
    said = run_python(
        """
        import sys
        import ui.app
        from ui.launcher import main
        ui.app.run_app = lambda db_path, demo: print("start", db_path, demo) or 0
        main([])
        main(["--demo"])
        print("parser:", "itbconsole.cli" in sys.modules)
        main(["--db", "clinic.sqlite"])
        print("parser:", "itbconsole.cli" in sys.modules)
        """
    )
    assert said == [
        "start None False",
        "start None True",
        "parser: False",
        "start clinic.sqlite False",
        "parser: True",
    ]


def test_sqlite_utils_date_recipes_still_parse_after_the_quick_import() -> None:
    said = run_python(
        """
        import sys
        from ui.launcher import import_sqlite_utils_without_numpy
        import_sqlite_utils_without_numpy()
        print("dateutil.parser" in sys.modules)
        from sqlite_utils import recipes
        print(recipes.parsedate("3rd March 2024"), recipes.parsedatetime("2024-03-03 10:20"))
        from dateutil import parser
        print(type(parser).__name__, parser.parse("2024-03-03").year)
        """
    )
    assert said == ["False", "2024-03-03 2024-03-03T10:20:00", "module 2024"]


def test_the_record_takes_the_place_the_start_left_once_a_patient_is_opened(
    console: Console,
) -> None:
    # The words the start shows in the record's place are the record's own with nobody
    # chosen.
    assert PatientView(console.clinic.tz).placeholder.text() == NO_PATIENT_TEXT
    window = console.window
    if window._patient_view is None:  # not made ahead yet
        placeholder = window.splitter.widget(1)
        assert isinstance(placeholder, QLabel) and placeholder.text() == NO_PATIENT_TEXT
    sizes = window.splitter.sizes()
    window.open_patient(console.patient_id("Okafor"))
    assert window.splitter.widget(1) is window.patient_view
    assert window.splitter.sizes() == sizes
    assert window.patient_view.isVisibleTo(window)
    assert window.patient_view.header.name.text() == "OKAFOR, Grace"
    window.show_worklist()
    assert window.pages.currentWidget() is window.worklist_view


def test_once_the_list_is_in_the_record_is_made_ahead_of_the_first_click(
    console: Console,
) -> None:
    window = console.window
    console.qtbot.waitUntil(lambda: window.patient_list.loaded, timeout=5_000)
    console.qtbot.waitUntil(lambda: window._patient_view is not None, timeout=5_000)
    assert window.splitter.widget(1) is window.patient_view
    assert window.patient_view.isVisibleTo(window)
    assert window.patient_view.placeholder.isVisibleTo(window)  # nobody chosen yet
