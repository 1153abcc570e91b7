"""Grab the worklist for the user guide: ``python -m ui.worklist_screenshots``.

Opens the demo clinic at 1366 x 768 (offscreen Qt works) as the demo nurse, adds what the
demo's records do not show by themselves (a program a nurse prepared for a clinician, an
interrogation whose concentration differs from the records), and saves in ``docs/images``:
``worklist.png`` (View > Worklist) and ``worklist-print.png`` (the first page of the printed
clinic-day list, rendered from its PDF with ``pdftoppm`` when it is installed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def stage_demo_outcomes(clinic: object, now_fn: object) -> None:
    """A prepared program awaiting a clinician (Nowak) and an interrogation that reports
    another concentration than the records (Fischer): lines the demo clinic lacks."""
    from itbconsole.model import PreparedProgram
    from itbconsole.services.clinic import ClinicService

    assert isinstance(clinic, ClinicService) and callable(now_fn)
    now = now_fn()

    def patient(family: str) -> int:
        return next(
            r.patient.id
            for r in clinic.patient_rows(family)
            if r.patient.family_name == family and r.patient.id is not None
        )

    nowak = patient("Nowak")
    pump = clinic.pump_of(nowak)
    reading = clinic.latest_reading(nowak, pump.serial) if pump else None
    if pump is not None and reading is not None:
        clinic.prepare_program(
            PreparedProgram(
                pump.serial,
                now - timedelta(hours=3),
                reading.program,
                reading.concentration_mcg_ml,
                "More by day for physiotherapy, as agreed at the last review",
            ),
            nowak,
        )
    fischer = patient("Fischer")
    pump = clinic.pump_of(fischer)
    reading = clinic.latest_reading(fischer, pump.serial) if pump else None
    if pump is not None and reading is not None:
        mismatch = replace(
            reading,
            at=now - timedelta(hours=1),
            pump_clock=now - timedelta(hours=1),
            concentration_mcg_ml=500,
            id=None,
        )
        clinic.save_interrogation(mismatch, [], fischer)


def main(out: Path = OUT) -> int:
    from PySide6.QtCore import QCoreApplication

    from itbconsole.demo import DEMO_NURSE
    from ui.screenshots import close_demo, demo_window

    _app, clinic, window = demo_window(DEMO_NURSE, extra_ports=[])
    stage_demo_outcomes(clinic, window.now)
    window.refresh_patients()
    out.mkdir(parents=True, exist_ok=True)
    window.show_worklist()
    QCoreApplication.processEvents()
    view = window.worklist_view
    view.table.selectRow(0)
    QCoreApplication.processEvents()
    window.grab().save(str(out / "worklist.png"))
    print(out / "worklist.png")
    with tempfile.TemporaryDirectory() as tmp:
        pdf = view.print_pdf(Path(tmp) / "worklist.pdf")
        pdftoppm = shutil.which("pdftoppm")
        if pdftoppm is None:
            print("pdftoppm is not installed: the printed list was not rendered")
        else:
            subprocess.run(
                [
                    pdftoppm,
                    "-png",
                    "-r",
                    "70",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-singlefile",
                    str(pdf),
                    str(out / "worklist-print"),
                ],
                check=True,
            )
            print(out / "worklist-print.png")
    close_demo(window, clinic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
