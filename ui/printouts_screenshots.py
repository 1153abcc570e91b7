"""Render the printouts for the user guide: ``python -m ui.printouts_screenshots``.

On a throwaway demo clinic (offscreen Qt works) with a demo clinic contact, writes each
printout as a PDF and its pages as PNG (``pdftoppm``, when installed) into ``docs/images``:
``printout-program-change.png`` (a +25 % change with an override, sent and read back),
``printout-emergency-card-1.png`` and ``-2.png`` (front and back, the PDF's two card-size
pages), ``printout-emergency-card-sheet.png`` (both on A4, as printed),
``printout-travel-letter.png`` (on US Letter, the clinic's paper setting, with the trip
check for a return in two weeks), ``printout-travel-letter-eos.png`` (a pump whose End of
Service sets the last safe day, with a trip that ends after it) and
``lot-search.png`` (View > Lot search on a lot the demo clinic used).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
#: A fictional clinic (a drama number range) for the pictures.
DEMO_CONTACT = {
    "clinic_name": "Demo Neurorehabilitation ITB Service",
    "clinic_phone_24h": "+44 20 7946 0000",
    "clinic_address": "St Elsewhere Hospital, London",
}


def demo_clinic(tmp: Path, **settings: Any) -> Any:
    """A demo clinic on a throwaway database, its settings with the demo contact."""
    from itbconsole.demo import DEMO_ADMIN, DEMO_USER, open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService

    store = open_demo_store(tmp / "demo.sqlite")
    clinic = ClinicService(store, load_drug_library(), DEMO_USER)
    user = clinic.user
    clinic.user = DEMO_ADMIN
    clinic.update_settings(
        replace(clinic.settings, **{**DEMO_CONTACT, **settings}), "demo clinic contact"
    )
    clinic.user = user
    return clinic


def sample_change_record(clinic: Any, patient_id: int) -> Any:
    """A +25 % change of the patient's program with its override, as the program editor
    approves it, sent and read back identical (the record is not stored)."""
    from itbconsole import dosing
    from itbconsole.model import ChangeOutcome
    from itbconsole.services import programming as svc
    from ui.program.record import ProgramChangeRecord

    pump = clinic.pump_of(patient_id)
    reading = clinic.latest_reading(patient_id, pump.serial)
    state = svc.PumpState.from_reading(reading, "")
    now = reading.at + timedelta(minutes=5)
    daily = int(dosing.program_daily_dose_mcg(state.program) * 5 / 4)
    new = replace(state.program, daily_dose_mcg=Decimal(daily))
    check = svc.check_program(
        state, new, state.concentration_mcg_ml, clinic.user, clinic.library, clinic.tz,
        pump=pump, now=now, facts=clinic.pump_facts(pump.serial), settings=clinic.settings,
    )  # fmt: skip
    reasons = {
        f.key: svc.override_text(svc.OVERRIDE_CATEGORIES[1], "agreed at the spasticity review")
        for f in check.soft
    }
    approved = svc.approve(check, "Tone worse since the autumn", reasons, at=now)
    return ProgramChangeRecord(
        patient=clinic.patient(patient_id),
        approved=approved,
        sender=clinic.user,
        outcome=ChangeOutcome.SUCCEEDED,
        message="The pump runs the new program; it was read back and matches.",
        readback=new,
        tz=clinic.tz,
        training=clinic.training,
    )


def to_png(pdf: Path, stem: Path, dpi: int = 80) -> list[Path]:
    """Each page of ``pdf`` as ``stem.png`` (one page) or ``stem-N.png``."""
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not installed: no PNG of", pdf, file=sys.stderr)
        return []
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(stem)], check=True, timeout=60
    )
    pages = sorted(stem.parent.glob(stem.name + "-[0-9]*.png"))
    if len(pages) == 1:
        single = stem.with_suffix(".png")
        pages[0].replace(single)
        return [single]
    return pages


def main(out: Path = OUT) -> int:
    from PySide6.QtWidgets import QApplication

    from ui.app import stylesheet
    from ui.emergency_card import write_card_pdf
    from ui.lot_search_view import LotSearchDialog
    from ui.program.record import write_program_change_pdf
    from ui.travel_letter import trip_check_for, write_letter_pdf

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    tmp = Path(tempfile.mkdtemp())
    clinic = demo_clinic(tmp)
    out.mkdir(parents=True, exist_ok=True)
    okafor = next(r.patient.id for r in clinic.patient_rows("Okafor"))
    written: list[Path] = []
    pdf = write_program_change_pdf(
        sample_change_record(clinic, okafor), tmp / "program.pdf", clinic.settings
    )
    written += to_png(pdf, out / "printout-program-change", 70)
    overview = clinic.overview(okafor)
    pdf = write_card_pdf(overview, tmp / "card.pdf", clinic.settings)
    written += to_png(pdf, out / "printout-emergency-card", 200)
    pdf = write_card_pdf(overview, tmp / "card-sheet.pdf", clinic.settings, on_sheet=True)
    written += to_png(pdf, out / "printout-emergency-card-sheet", 70)
    letter = replace(clinic.settings, paper_size="Letter")
    today = overview.now.astimezone(clinic.tz).date()
    trip = trip_check_for(overview, today + timedelta(days=14), letter)
    pdf = write_letter_pdf(
        overview, tmp / "letter.pdf", letter, printed_by=clinic.user.name, trip=trip
    )
    written += to_png(pdf, out / "printout-travel-letter", 70)
    patel = clinic.overview(next(r.patient.id for r in clinic.patient_rows("Patel")))
    trip = trip_check_for(patel, today + timedelta(days=60), clinic.settings)
    pdf = write_letter_pdf(
        patel, tmp / "letter-eos.pdf", clinic.settings, printed_by=clinic.user.name, trip=trip
    )
    written += to_png(pdf, out / "printout-travel-letter-eos", 70)
    # The lot the demo clinic used most (a recall's worst case).
    used = Counter((r.refill.product, r.refill.lot) for r in clinic.refill_records())
    (product, lot_number), _count = used.most_common(1)[0]
    dialog = LotSearchDialog(clinic)
    dialog.resize(1100, 420)  # the window's own width
    dialog.product.setCurrentText(product)
    dialog.lot.setText(lot_number)
    dialog.show()
    dialog.search()
    app.processEvents()
    png = out / "lot-search.png"
    dialog.grab().save(str(png))
    written.append(png)
    dialog.close()
    shutil.rmtree(tmp, ignore_errors=True)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
