"""Grab each refill wizard step for the user guide: ``python -m ui.refill.screenshots``.

Runs the demo clinic against a simulated pump (offscreen Qt works) and saves
``docs/images/refill-<n>-<step>.png``. Why a script: the user guide's pictures must show
the wizard as it is, so they are regenerated, not drawn.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def _wait(app: QApplication, done: Callable[[], bool], timeout_ms: int = 20_000) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if done() else None)
    timer.start()
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    timer.stop()
    if not done():
        raise SystemExit("timed out waiting for the wizard")


def main(out: Path = OUT) -> int:
    from drivers import protocol_simpump
    from drivers.simulator.pump import ManualClock
    from drivers.simulator.scenarios import build_scenario
    from itbconsole.demo import DEMO_NURSE, open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from itbconsole.services.refill import Step
    from ui.app import stylesheet
    from ui.main_window import MainWindow
    from ui.refill import open_refill_wizard

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    tmp = Path(tempfile.mkdtemp())
    store = open_demo_store(tmp / "demo.sqlite")
    from zoneinfo import ZoneInfo

    clinic = ClinicService(store, load_drug_library(), DEMO_NURSE, ZoneInfo("Europe/London"))
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
    okafor = next(r.patient.id for r in clinic.patient_rows("Okafor") if r.patient.id)
    window.open_patient(okafor)
    wizard = open_refill_wizard(window)
    assert wizard is not None
    _wait(app, lambda: wizard.session.identification is not None and not wizard.busy)
    out.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        QCoreApplication.processEvents()
        wizard.grab().save(str(out / f"refill-{name}.png"))
        print(out / f"refill-{name}.png")

    shot("1-identify")
    wizard.next()
    ident = wizard.session.identification
    assert ident is not None
    expected = ident.residual.expected_residual_ul
    wizard.withdraw_page.withdrawn.setText(f"{(expected - 6000) / 1000:.2f}")
    wizard.withdraw_page.note.setPlainText(
        "Re-aspirated twice, no more fluid. Dr Shah informed; patient well."
    )
    shot("2-withdraw")
    wizard.next()
    page = wizard.new_drug_page
    line = page.product.lineEdit()
    assert line is not None
    line.setText("]d20109506000134352173012001" + "0LX2044")
    wizard.read_product_field()
    page.product.setCurrentIndex(page.product.findText("Lioresal Intrathecal 2000 mcg/mL"))
    page.added.setText("33.5")  # about 6 mL may still be in the reservoir after that shortfall
    shot("3-new-drug")
    wizard.next()
    shot("4-concentration")
    wizard.next()
    shot("5-review")
    wizard.next()
    wizard.send_update()
    _wait(app, lambda: wizard.session.outcome is not None and not wizard.busy)
    wizard._show(Step.UPDATE)
    shot("6-update")
    wizard._show(Step.RECORD)
    shot("7-record")
    wizard.finish()
    window.close()
    protocol_simpump.forget_pump("shots")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
