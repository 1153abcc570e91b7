"""Grab the main window's screens for the user guide: ``python -m ui.screenshots``.

Opens the demo clinic at 1366 x 768 (offscreen Qt works) and saves, in ``docs/images``:
``main-window.png`` (the list by status, a patient due soon), ``overview.png`` (a pump past
ERI whose End of Service sets the refill date), ``overview-drift.png`` (a pump drifting
towards withdrawal, its reading weeks old) and ``clinic-settings.png``.
The refill wizard has its own script (``python -m ui.refill.screenshots``).

``--size 1920x1080 --out DIR`` takes the same pictures at another screen size (to check
that nothing is cut off on a large screen) into another folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable
from datetime import UTC, datetime
from datetime import tzinfo as TzInfo
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService
    from ui.main_window import MainWindow

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def wait_until(app: QApplication, done: Callable[[], bool], timeout_ms: int = 20_000) -> None:
    """Run the event loop until ``done()`` (the screenshot scripts' only wait)."""
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if done() else None)
    timer.start()
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    timer.stop()
    if not done():
        raise SystemExit("timed out waiting for the window")


#: The smallest screen the console is made for; the user guide's pictures are taken at it.
SMALL_SCREEN = (1366, 768)


def settle(app: QApplication, rounds: int = 3) -> None:
    """Let the layout finish: a wrapped label that grows asks for another layout pass,
    which a real window gets from its event loop before anyone sees it."""
    for _ in range(rounds):
        app.processEvents()


def demo_window(
    user: Any,
    tz: TzInfo | None = None,
    *,
    size: tuple[int, int] = SMALL_SCREEN,
    **window_options: Any,
) -> tuple[QApplication, ClinicService, MainWindow]:
    """The demo clinic's main window at ``size`` (1366 x 768 unless told), shown, on a
    throwaway database."""
    from itbconsole.demo import open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from ui.app import stylesheet
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    tmp = Path(tempfile.mkdtemp())
    store = open_demo_store(tmp / "demo.sqlite")
    clinic = ClinicService(store, load_drug_library(), user, tz)
    window = MainWindow(
        clinic,
        log_path=tmp / "log.txt",
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        discover_ports=lambda: [],
        **window_options,
    )
    window.resize(*size)
    window.show()
    app.processEvents()
    return app, clinic, window


def connect_simulated_pump(
    app: QApplication, window: MainWindow, scenario: str = "healthy"
) -> None:
    """Connect the window to a simulated pump running ``scenario`` on today's clock."""
    from drivers import protocol_simpump
    from drivers.simulator.pump import ManualClock
    from drivers.simulator.scenarios import build_scenario

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    protocol_simpump.register_pump("shots", build_scenario(scenario, clock=clock))
    window.connect_port("simpump://shots")
    wait_until(app, lambda: window.connected_identity is not None and not window.link.busy)


def close_demo(window: MainWindow, clinic: ClinicService) -> None:
    """Close the window, forget the simulated pump and close the throwaway database."""
    from drivers import protocol_simpump

    window.close()
    protocol_simpump.forget_pump("shots")
    clinic.store.close()


def main(out: Path = OUT, size: tuple[int, int] = SMALL_SCREEN) -> int:
    from itbconsole.demo import DEMO_USER
    from ui.settings_dialog import ClinicSettingsDialog

    app, clinic, window = demo_window(DEMO_USER, extra_ports=[], size=size)

    def patient(family: str) -> int:
        return next(
            r.patient.id
            for r in clinic.patient_rows(family)
            if r.patient.family_name == family and r.patient.id is not None
        )

    def show(patient_id: int) -> None:
        """Open the patient as a click on the list does: its row highlighted."""
        window.patient_list.select_patient(patient_id, quiet=True)
        window.open_patient(patient_id)
        settle(app)

    out.mkdir(parents=True, exist_ok=True)
    # As a nurse sees it a moment after the start: the list read and the worklist's lines
    # and drift made ahead (the list then marks the drifting pump).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        window.patient_list.loaded and window._ahead is not None and not window._ahead.isActive()
    ):
        app.processEvents()
    show(patient("Murphy"))
    window.grab().save(str(out / "main-window.png"))
    show(patient("Patel"))
    window.grab().save(str(out / "overview.png"))
    show(patient("Brennan"))
    window.grab().save(str(out / "overview-drift.png"))
    show(patient("Patel"))
    view = window.patient_view
    dialog = ClinicSettingsDialog(clinic.settings, editable=True, parent=window)
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(out / "clinic-settings.png"))
    dialog.close()
    from datetime import date

    from itbconsole.model import Origin, Patient
    from ui.records_dialogs import ScreeningTrialDialog

    candidate = clinic.add_patient(
        Patient("Quinn", "Ava", date(2015, 5, 5), "H990011", Origin.CEREBRAL)
    )
    assert candidate.id is not None
    window.open_patient(candidate.id)
    window.refresh_patients()  # the open patient's row joins the list
    show(candidate.id)
    view.tabs.setCurrentWidget(view.overview)
    screening = ScreeningTrialDialog(
        candidate.id,
        clinic.library.screening_products(),
        clinic.record_screening_trial,
        window,
        now=window.now(),
        tz=clinic.tz,
    )
    screening.dose.setText("500")
    screening.lot.setText("LT4471")
    screening.scores[0].setCurrentText("3")
    screening.scores[60].setCurrentText("2")
    screening.outcome.setCurrentIndex(screening.outcome.findData("positive"))
    screening.answer()  # refused: the message is shown in the dialog
    screening.show()
    app.processEvents()
    screening.grab().save(str(out / "screening-refused.png"))
    screening.close()
    screening.dose.setText("50")
    assert screening.answer()  # recorded
    window._show_current_patient()
    app.processEvents()
    window.grab().save(str(out / "candidate.png"))
    close_demo(window, clinic)
    print(
        "Saved main-window, overview, overview-drift, clinic-settings, "
        f"screening-refused and candidate in {out}"
    )
    return 0


def parse_arguments(argv: list[str]) -> tuple[Path, tuple[int, int]]:
    """``[--size WIDTHxHEIGHT] [--out DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ui.screenshots", description=__doc__)
    parser.add_argument("--size", default="1366x768", help="window size, e.g. 1920x1080")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size}: write it as WIDTHxHEIGHT, e.g. 1920x1080")
    return args.out, (width, height)


if __name__ == "__main__":
    sys.exit(main(*parse_arguments(sys.argv[1:])))
