"""Printouts as a reader gets them: rendered to PDF, read back with pdftotext and pdfinfo.

Every printout carries the patient on every page, the clinic's name and 24 h telephone at
every page's foot (or "Clinic contact not set - ask the clinic"), the TRAINING mark in
training, and lies on the clinic's paper (A4 or US Letter); the one-page ones stay on one
page on either paper. The same renderer paints the PDF and the printer behind Qt's print
preview."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtPrintSupport import QPrinter

from itbconsole.display import fmt_day, fmt_dose_per_day
from itbconsole.model import ChangeOutcome
from itbconsole.settings import ClinicSettings
from ui.emergency_card import OVERDOSE_SIGNS, WITHDRAWAL_SIGNS, card_html, write_card_pdf
from ui.printing import CONTACT_NOT_SET, Printout, PrintRefused, save_pdf, show_print_preview
from ui.printouts_screenshots import DEMO_CONTACT, demo_clinic, sample_change_record
from ui.program.record import ProgramChangeRecord, program_change_printout
from ui.travel_letter import letter_printout, write_letter_pdf

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) not installed",
)

A4_PTS, LETTER_PTS = (595, 842), (612, 792)


def pdf_text(path: Path, *, layout: bool = True) -> list[str]:
    """The text of each page, whitespace folded (``layout=False``: in reading order, for
    blocks side by side)."""
    mode = ["-layout"] if layout else []
    raw = subprocess.run(
        ["pdftotext", *mode, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # NFKC: the PDF's ligatures ("ﬁ") read as the letters they join.
    raw = unicodedata.normalize("NFKC", raw)
    return [" ".join(page.split()) for page in raw.split("\f") if page.strip()]


def pdf_info(path: Path) -> tuple[int, tuple[int, int]]:
    """Pages, and the first page's size in points (rounded)."""
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    pages = re.search(r"Pages:\s+(\d+)", info.stdout)
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info.stdout)
    assert pages is not None and size is not None, info.stdout
    w, h = size.groups()
    return int(pages.group(1)), (round(float(w)), round(float(h)))


@pytest.fixture(scope="module")
def clinic(qapp: Any) -> Iterator[Any]:
    tmp = Path(tempfile.mkdtemp())
    service = demo_clinic(tmp)
    yield service
    service.store.close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def okafor(clinic: Any) -> int:
    return int(next(r.patient.id for r in clinic.patient_rows("Okafor")))


def paper(clinic: Any, size: str, **contact: str) -> ClinicSettings:
    return replace(clinic.settings, paper_size=size, **contact)


IDENTITY = ("OKAFOR, Grace", "hospital no.")


# ---------------------------------------------------------------------- the page writer


def test_the_same_renderer_paints_a_printer_in_letter_and_a4(tmp_path: Path, clinic: Any) -> None:
    for size, pts in (("A4", A4_PTS), ("Letter", LETTER_PTS)):
        printout = Printout("<p>Body text</p>", "T", "Head", clinic=paper(clinic, size))
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        target = tmp_path / f"printer-{size}.pdf"
        printer.setOutputFileName(str(target))
        printout.prepare(printer)
        assert printout.render(printer) == 1
        assert pdf_info(target) == (1, pts)
        text = pdf_text(target)[0]
        assert "Head" in text and "page 1 of 1" in text and "Body text" in text
        assert DEMO_CONTACT["clinic_phone_24h"] in text
        # ... and the PDF writer behind "Save as PDF" gives the same paper.
        assert pdf_info(save_pdf(printout, tmp_path / f"writer-{size}"))[1] == pts


def test_the_print_preview_is_on_the_clinics_paper_and_saves_the_same_pages(
    tmp_path: Path, clinic: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.printing

    printout = Printout("<p>Preview body</p>", "Preview", "Head", clinic=paper(clinic, "Letter"))
    dialog = show_print_preview(None, printout, suggested_name="x.pdf", open_now=False)
    qtbot.addWidget(dialog)
    size = dialog.printer().pageLayout().pageSize()
    assert size.id() == ui.printing.PAGE_SIZES["Letter"]
    target = tmp_path / "saved.pdf"
    monkeypatch.setattr(ui.printing, "ask_pdf_path", lambda parent, name: str(target))
    (save,) = [a for a in dialog.actions() if a.objectName() == "savePdf"]
    save.trigger()
    assert pdf_info(target) == (1, LETTER_PTS)
    assert "Preview body" in pdf_text(target)[0]


def test_every_page_says_whom_to_call_or_that_the_contact_is_not_set(
    tmp_path: Path, clinic: Any
) -> None:
    long_html = "".join(f"<p>Line {n}</p>" for n in range(200))
    unset = Printout(long_html, "T", "Head", clinic=paper(clinic, "A4", clinic_phone_24h=""))
    pages = pdf_text(save_pdf(unset, tmp_path / "unset.pdf"))
    assert len(pages) > 1
    assert all(CONTACT_NOT_SET in page for page in pages)
    assert all(DEMO_CONTACT["clinic_name"] in page for page in pages)
    pages = pdf_text(save_pdf(replace(unset, clinic=clinic.settings), tmp_path / "set.pdf"))
    for page in pages:
        assert DEMO_CONTACT["clinic_phone_24h"] in page and CONTACT_NOT_SET not in page
        assert "24 h contact" in page and DEMO_CONTACT["clinic_address"] in page
    # No settings at all (a caller that passes none): still never a blank.
    assert CONTACT_NOT_SET in pdf_text(save_pdf(Printout("<p>x</p>", "T", "H"), tmp_path / "n"))[0]


# ---------------------------------------------------------------------- program change


def change_pdf(clinic: Any, okafor: int, path: Path, size: str = "A4", **kw: Any) -> Path:
    record: ProgramChangeRecord = replace(sample_change_record(clinic, okafor), **kw)
    return save_pdf(program_change_printout(record, paper(clinic, size)), path)


@pytest.mark.parametrize(("size", "pts"), [("A4", A4_PTS), ("Letter", LETTER_PTS)])
def test_the_program_change_record_has_every_field_on_one_page(
    tmp_path: Path, clinic: Any, okafor: int, size: str, pts: tuple[int, int]
) -> None:
    record = sample_change_record(clinic, okafor)
    path = change_pdf(clinic, okafor, tmp_path / "change.pdf", size)
    assert pdf_info(path) == (1, pts)
    (text,) = pdf_text(path)
    check = record.approved.check
    for needed in (
        *IDENTITY,
        fmt_day(record.patient.date_of_birth),
        "Current", "New (sent)", "Read back from the pump",
        "500.0 mcg/24 h", "625.0 mcg/24 h",  # current and new, side by side
        "+125.0 mcg/24 h (+25.0 %)",  # the change in mcg and %, the review's own words
        "Program sent and verified", "identical to the program sent",
        "Overridden:", "Prescribed by the consultant: agreed at the spasticity review",
        "Second clinician:", "Tone worse since the autumn",
        f"sent by {record.sender.name} ({record.sender.role.value})",
        check.state.pump_serial, "TRAINING", DEMO_CONTACT["clinic_phone_24h"],
    ):  # fmt: skip
        assert needed in text, needed
    assert "Within every drug-library limit" not in text  # a limit was overridden
    assert "differs" not in text and "NOT changed" not in text and "UNCERTAIN" not in text


def test_a_read_back_that_differs_and_an_uncertain_outcome_are_printed_as_such(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    record = sample_change_record(clinic, okafor)
    old = record.approved.check.state.program
    (text,) = pdf_text(
        change_pdf(
            clinic, okafor, tmp_path / "u.pdf", outcome=ChangeOutcome.UNCERTAIN,
            message="The link was lost after the commit.", readback=old,
        )
    )  # fmt: skip
    assert "UNCERTAIN: the pump may or may not run the new program" in text
    assert "(differs)" in text and "Not confirmed" in text
    assert "verified" not in text and "identical" not in text


# ---------------------------------------------------------------------- emergency card


def test_the_emergency_card_is_wallet_size_front_and_back(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    overview = clinic.overview(okafor)
    for size in ("A4", "Letter"):  # the clinic's paper does not change a card's size
        path = write_card_pdf(overview, tmp_path / f"card-{size}.pdf", paper(clinic, size))
        assert pdf_info(path) == (2, (243, 153))  # 85.6 x 54 mm
    front, back = pdf_text(path)
    for needed in (
        "OKAFOR, Grace",
        overview.pump.model, overview.pump.serial,
        "Make ITB Console simulated pump",  # the maker from the pump models catalogue
        overview.program.drug_label,
        f"{overview.program.concentration_mcg_ml} mcg/mL",
        fmt_dose_per_day(overview.program.daily_dose_mcg),
        "Do not stop baclofen suddenly",
    ):  # fmt: skip
        assert needed in front, needed
    assert "WITHDRAWAL" in back and "OVERDOSE" in back
    assert " ".join(WITHDRAWAL_SIGNS.split()[:4]) in back and "oral baclofen" in back
    assert " ".join(OVERDOSE_SIGNS.split()[:3]) in back and "emergency services" in back
    for side in (front, back):
        assert "OKAFOR, Grace" in side and "TRAINING" in side  # a demo clinic's card
        assert DEMO_CONTACT["clinic_phone_24h"] in side


@pytest.mark.parametrize(("size", "pts"), [("A4", A4_PTS), ("Letter", LETTER_PTS)])
def test_the_card_prints_on_the_clinics_paper_front_and_back_on_one_sheet(
    tmp_path: Path, clinic: Any, okafor: int, size: str, pts: tuple[int, int]
) -> None:
    overview = clinic.overview(okafor)
    path = write_card_pdf(overview, tmp_path / "sheet.pdf", paper(clinic, size), on_sheet=True)
    assert pdf_info(path) == (1, pts)
    (text,) = pdf_text(path, layout=False)
    assert "Do not stop baclofen suddenly" in text and "OVERDOSE" in text
    assert "Cut along the dashed line" in text and "actual size" in text
    assert text.count(DEMO_CONTACT["clinic_phone_24h"]) == 2  # on both sides


def test_a_card_without_the_clinic_contact_is_not_printed(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    unset = paper(clinic, "A4", clinic_name="", clinic_phone_24h="", clinic_address="")
    with pytest.raises(PrintRefused, match="24 h telephone is not set"):
        write_card_pdf(clinic.overview(okafor), tmp_path / "card.pdf", unset)
    assert not (tmp_path / "card.pdf").exists()


# ---------------------------------------------------------------------- travel letter


@pytest.mark.parametrize(("size", "pts"), [("A4", A4_PTS), ("Letter", LETTER_PTS)])
def test_the_travel_letter_has_the_pump_security_points_last_safe_day_on_one_page(
    tmp_path: Path, clinic: Any, okafor: int, size: str, pts: tuple[int, int]
) -> None:
    overview = clinic.overview(okafor)
    forecast = clinic.forecast_for(overview.pump.serial)
    assert forecast.refill_by is not None
    path = write_letter_pdf(overview, tmp_path / "l.pdf", paper(clinic, size), printed_by="Dr A")
    assert pdf_info(path) == (1, pts)
    (text,) = pdf_text(path)
    for needed in (
        *IDENTITY,
        overview.pump.model, overview.pump.serial, fmt_day(overview.pump.implant_date),
        "Make ITB Console simulated pump",
        "metal detectors", "body scanners", "MRI only after the pump clinic below has been told",
        "do not press on, handle",
        f"{fmt_day(forecast.refill_by)}: the pump must be refilled by then",  # the forecast's
        fmt_day(forecast.alarm_day),
        "does not change time zone",
        DEMO_CONTACT["clinic_name"], DEMO_CONTACT["clinic_phone_24h"],
    ):  # fmt: skip
        assert needed.casefold() in text.casefold(), needed


def test_the_card_and_letter_name_the_pumps_maker_from_the_catalogue(
    tmp_path: Path, clinic: Any
) -> None:
    fischer = int(next(r.patient.id for r in clinic.patient_rows("Fischer")))
    overview = clinic.overview(fischer)
    assert overview.pump.model == "SynchroMed II 8637-40"
    card = write_card_pdf(overview, tmp_path / "card.pdf", paper(clinic, "A4"))
    front = pdf_text(card)[0]
    assert "Pump SynchroMed II 8637-40" in front and "Make Medtronic" in front
    letter = write_letter_pdf(overview, tmp_path / "l.pdf", paper(clinic, "A4"), printed_by="A")
    (text,) = pdf_text(letter)
    assert "Make Medtronic" in text
    # A model typed by hand, not in the catalogue: no maker is guessed from its name.
    typed = replace(overview, pump=replace(overview.pump, model="SynchroMed III"))
    assert "class='k'>Make<" not in card_html(typed)
    assert "class='k'>Make<" not in letter_printout(typed, paper(clinic, "A4")).html


def test_the_travel_letter_without_a_contact_is_not_printed(clinic: Any, okafor: int) -> None:
    unset = paper(clinic, "A4", clinic_phone_24h="")
    with pytest.raises(PrintRefused, match="Tools > Clinic settings"):
        letter_printout(clinic.overview(okafor), unset)


# ---------------------------------------------------------------------- refill record and list


def test_the_refill_record_and_the_clinic_day_list_follow_the_paper_and_contact(
    tmp_path: Path, clinic: Any
) -> None:
    from dataclasses import fields
    from datetime import UTC, datetime

    from itbconsole.services.refill import PrintableRefill
    from ui.refill.record import write_refill_pdf
    from ui.worklist_print import print_worklist

    values: dict[str, Any] = {f.name: "a value of typical length" for f in fields(PrintableRefill)}
    values.update(  # the longest texts a real record carries
        warnings=(
            "The concentration changed from 500 to 2000 mcg/mL: the bridge bolus was given "
            "and the program was prepared by a clinician for the new concentration.",
            "Delivery accuracy 84 % is below the clinic's 85 %: check the catheter.",
        ),
        training=True,
        patient_name="OKAFOR, Grace",
        discrepancy_meaning="The volume withdrawn is 1.20 mL less than expected: more drug "
        "was delivered than programmed. Check for signs of overdose (drowsiness, slow "
        "breathing) and review the pump's accuracy.",
        discrepancy_note="Reservoir aspirated twice; second aspiration gave 0.3 mL more.",
        brand_change="Brand changed: Lioresal Intrathecal to Gablofen at the same strength.",
        audit_head="#1234 9f2c4e1d0a7b",
    )
    record = PrintableRefill(**values)
    for size, pts in (("A4", A4_PTS), ("Letter", LETTER_PTS)):
        path = write_refill_pdf(record, tmp_path / f"r-{size}.pdf", paper(clinic, size))
        assert pdf_info(path) == (1, pts)  # one page on either paper
        assert DEMO_CONTACT["clinic_phone_24h"] in pdf_text(path)[0]
    worklist = clinic.clinic_worklist(now=datetime.now(UTC))
    path = print_worklist(
        worklist, worklist.items, tmp_path / "w.pdf", showing="all", printed_by="Dr A",
        printed_at=datetime.now(UTC), clinic=paper(clinic, "Letter"),
    )  # fmt: skip
    assert pdf_info(path)[1] == LETTER_PTS
    assert all(DEMO_CONTACT["clinic_phone_24h"] in p for p in pdf_text(path))


# ---------------------------------------------------------------------- entry functions


class SmallHost:
    """What the entry functions use of the window: the clinic, the open patient, the
    prompts, the clock, the status bar and a parent widget."""

    def __init__(self, clinic: Any, patient_id: int | None) -> None:
        from PySide6.QtWidgets import QWidget

        from tests.ui.conftest import RecordedPrompts

        self.clinic = clinic
        self.current_patient_id = patient_id
        self.prompts = RecordedPrompts()
        self.widget = QWidget()
        self.opened: list[int] = []
        self.status: list[str] = []

    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC)

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        self.status.append(text)

    def host_widget(self) -> Any:
        return self.widget

    def open_patient(self, patient_id: int) -> None:
        self.opened.append(patient_id)


def test_the_menu_entries_open_the_preview_or_say_why_not(
    clinic: Any, okafor: int, qtbot: Any
) -> None:
    from ui.emergency_card import print_emergency_card
    from ui.lot_search_view import open_lot_search
    from ui.travel_letter import print_travel_letter

    def letter(window: Any) -> Any:  # no trip date asked (the dialog's seam)
        return print_travel_letter(window, ask_return=lambda parent, today: (True, None))

    # Both on the clinic's paper (the card's two sides side by side on one sheet).
    for entry, size in ((print_emergency_card, "A4"), (letter, "A4")):
        nobody = SmallHost(clinic, None)
        qtbot.addWidget(nobody.widget)
        assert entry(nobody) is None  # type: ignore[arg-type]
        assert "Open the patient's record first" in nobody.prompts.errors[-1][1]
        host = SmallHost(clinic, okafor)
        qtbot.addWidget(host.widget)
        preview = entry(host)  # type: ignore[arg-type]
        assert preview is not None and preview.isVisible() and host.prompts.errors == []
        assert preview.printer().pageLayout().pageSize().name() == size
        preview.close()
    no_reading = clinic.add_patient(
        replace(clinic.patient(okafor), family_name="Unread", hospital_number="H999991",
                nhs_number=None, id=None)
    )  # fmt: skip
    host = SmallHost(clinic, no_reading.id)
    qtbot.addWidget(host.widget)
    assert print_travel_letter(host) is None  # type: ignore[arg-type]
    assert "Interrogate the pump first" in host.prompts.errors[-1][1]
    lots = open_lot_search(host)  # type: ignore[arg-type]
    assert lots.isVisible() and lots.open_patient == host.open_patient
    lots.close()


def test_the_refill_record_says_replace_the_pump_by_when_end_of_service_sets_the_date() -> None:
    from dataclasses import fields

    from itbconsole.services.refill import PrintableRefill
    from ui.refill.record import refill_record_html

    values: dict[str, Any] = {f.name: "-" for f in fields(PrintableRefill)}
    values.update(
        warnings=(), training=False, refill_by="29 Dec 2026", refill_by_label="Replace the pump by"
    )
    html = refill_record_html(PrintableRefill(**values))
    assert "Replace the pump by</td><td>29 Dec 2026" in html
    assert "Refill by" not in html
