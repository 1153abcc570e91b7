"""Grab each refill wizard step for the user guide: ``python -m ui.refill.screenshots``.

Runs the demo clinic against a simulated pump (offscreen Qt works) and saves
``docs/images/refill-<n>-<step>.png``. Why a script: the user guide's pictures must show
the wizard as it is, so they are regenerated, not drawn.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def main(out: Path = OUT) -> int:
    from zoneinfo import ZoneInfo

    from itbconsole.demo import DEMO_NURSE
    from itbconsole.services.refill import Step
    from ui.refill import open_refill_wizard
    from ui.screenshots import close_demo, connect_simulated_pump, demo_window, wait_until

    app, clinic, window = demo_window(DEMO_NURSE, ZoneInfo("Europe/London"))
    connect_simulated_pump(app, window)
    okafor = next(r.patient.id for r in clinic.patient_rows("Okafor") if r.patient.id)
    window.open_patient(okafor)
    wizard = open_refill_wizard(window)
    assert wizard is not None
    wait_until(app, lambda: wizard.session.identification is not None and not wizard.busy)
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
    page.added.setText("3.35")  # a slipped decimal point: stopped here, with its own tick
    wizard.next()
    shot("3-volume-check")
    page.added.setText("33.5")  # about 6 mL may still be in the reservoir after that shortfall
    shot("3-new-drug")
    wizard.next()
    shot("4-concentration")
    wizard.next()
    shot("5-review")
    wizard.next()
    wizard.send_update()
    wait_until(app, lambda: wizard.session.outcome is not None and not wizard.busy)
    wizard._show(Step.UPDATE)
    shot("6-update")
    wizard._show(Step.RECORD)
    shot("7-record")
    _render_printout(wizard, out)
    wizard.finish()
    close_demo(window, clinic)
    return 0


def _render_printout(wizard: object, out: Path) -> None:
    """The refill record as printed (PDF), rendered to PNG for the guide with pdftoppm."""
    import shutil
    import subprocess
    import tempfile

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        print("pdftoppm not found: the printed record was not rendered")
        return
    with tempfile.TemporaryDirectory() as tmp:
        pdf = wizard.export_pdf(Path(tmp) / "record.pdf")  # type: ignore[attr-defined]
        subprocess.run(
            [pdftoppm, "-r", "70", "-png", "-singlefile", str(pdf), str(out / "refill-printout")],
            check=True,
        )
    print(out / "refill-printout.png")


if __name__ == "__main__":
    raise SystemExit(main())
