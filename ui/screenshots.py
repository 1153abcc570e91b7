"""Grab the main window's screens for the user guide: ``python -m ui.screenshots``.

Opens the demo clinic at 1366 x 768 (offscreen Qt works) and saves, in ``docs/images``:
``main-window.png`` (the list by status, a patient due soon), ``overview.png`` (a pump past
ERI whose End of Service sets the refill date), ``trends.png`` and ``clinic-settings.png``.
The refill wizard has its own script (``python -m ui.refill.screenshots``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main(out: Path = OUT) -> int:
    from itbconsole.demo import DEMO_USER, open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from ui.app import stylesheet
    from ui.main_window import MainWindow
    from ui.settings_dialog import ClinicSettingsDialog

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    tmp = Path(tempfile.mkdtemp())
    store = open_demo_store(tmp / "demo.sqlite")
    clinic = ClinicService(store, load_drug_library(), DEMO_USER)
    window = MainWindow(
        clinic,
        log_path=tmp / "log.txt",
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        extra_ports=[],
        discover_ports=lambda: [],
    )
    window.resize(1366, 768)
    window.show()
    app.processEvents()

    def patient(family: str) -> int:
        return next(
            r.patient.id
            for r in clinic.patient_rows(family)
            if r.patient.family_name == family and r.patient.id is not None
        )

    out.mkdir(parents=True, exist_ok=True)
    window.open_patient(patient("Murphy"))
    app.processEvents()
    window.grab().save(str(out / "main-window.png"))
    window.open_patient(patient("Patel"))
    app.processEvents()
    window.grab().save(str(out / "overview.png"))
    view = window.patient_view
    view.tabs.setCurrentWidget(view.trends)
    app.processEvents()
    view.trends.show_patient(clinic, patient("Patel"), window.now())
    app.processEvents()
    window.grab().save(str(out / "trends.png"))
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
    window.refresh_patients()
    view.tabs.setCurrentWidget(view.overview)
    screening = ScreeningTrialDialog(
        candidate.id,
        [
            (p.product, p.concentration_mcg_ml)
            for p in clinic.library.products
            if p.use == "screening"
        ],
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
    window.close()
    store.close()
    print(f"Saved main-window, overview, trends, clinic-settings, screening-refused and candidate in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
