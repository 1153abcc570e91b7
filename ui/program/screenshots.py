"""Grab the program editor for the user guide: ``python -m ui.program.screenshots``.

The demo clinic against a simulated pump (offscreen Qt works), at 1366 x 768: a cut to a
tenth of the dose (the withdrawal finding), ``docs/images/program-withdrawal.png``, and its
review page with the override's reason, note and second clinician,
``docs/images/program-override.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication

from ui.refill.screenshots import _wait

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def main(out: Path = OUT) -> int:
    from drivers import protocol_simpump
    from drivers.simulator.pump import ManualClock
    from drivers.simulator.scenarios import build_scenario
    from itbconsole.demo import DEMO_USER, open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from ui.app import stylesheet
    from ui.main_window import MainWindow
    from ui.program import ProgramEditorDialog

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
        discover_ports=lambda: [],
    )
    window.resize(1366, 768)
    window.show()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    protocol_simpump.register_pump("shots", build_scenario("healthy", clock=clock))
    window.connect_port("simpump://shots")
    _wait(app, lambda: window.connected_identity is not None and not window.link.busy)
    window.interrogate()
    _wait(app, lambda: window.last_interrogation is not None and not window.link.busy)
    out.mkdir(parents=True, exist_ok=True)

    def editor() -> ProgramEditorDialog:
        window.edit_program()
        _wait(app, lambda: window.findChild(ProgramEditorDialog, "programEditor") is not None)
        dialog = window.findChild(ProgramEditorDialog, "programEditor")
        assert dialog is not None
        dialog.resize(1300, 740)
        return dialog

    dialog = editor()
    dialog.daily.set_text("50")
    dialog.reason.setText("patient asked to stop the pump")
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-withdrawal.png"))
    print(out / "program-withdrawal.png")
    dialog.go_review()
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg three times a day from today; GP and family told")
    dialog.second_clinician.setText("Dr Ben Okoro")
    dialog.confirm_box.setChecked(True)
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-override.png"))
    print(out / "program-override.png")
    dialog.close()
    dialog.deleteLater()
    QCoreApplication.processEvents()
    window.close()
    protocol_simpump.forget_pump("shots")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
