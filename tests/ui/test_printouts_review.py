"""The emergency card and the travel letter as the patient carries them, and the
program-change record of a change that did not (or may not) take: rendered to PDF and read
back with pdftotext (words and where they lie on the page, ``-bbox``).

What they must never do: print a dose the forecast cannot vouch for, leave out the weekday
doses or the patient boluses, print a last safe day that has passed, tell a patient whose
pump reaches End of Service to get a refill, leave out the trip check asked for, draw the
24 h number over other text or off the page, print with nobody to call, lose the TRAINING
mark, read a failed change as applied, or hide the date of birth under a long name."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate

import ui.printing
from itbconsole import dosing
from itbconsole.display import fmt_day
from itbconsole.model import ChangeOutcome, FlexStep, Mode, PatientBolus, Program
from itbconsole.services.overview import summarise_program
from tests.ui.test_printouts import SmallHost, paper, pdf_info, pdf_text
from ui.emergency_card import print_emergency_card, write_card_pdf
from ui.printing import PrintRefused, save_pdf
from ui.printouts_screenshots import DEMO_CONTACT, demo_clinic, sample_change_record
from ui.program.record import program_change_printout
from ui.travel_letter import (
    ReturnDateDialog,
    _last_safe_html,
    print_travel_letter,
    trip_check_for,
    write_letter_pdf,
)

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) not installed",
)

PHONE = DEMO_CONTACT["clinic_phone_24h"]


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


Box = tuple[float, float, float, float]


def pdf_words(path: Path) -> list[tuple[tuple[float, float], list[tuple[str, Box]]]]:
    """Each page's size and its words with their boxes (x0, y0, x1, y1 in points)."""
    raw = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', raw, re.S):
        words = [
            (html.unescape(m.group(5)), (float(m[1]), float(m[2]), float(m[3]), float(m[4])))
            for m in re.finditer(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                r"(.*?)</word>",
                page.group(3),
            )
        ]
        pages.append(((float(page.group(1)), float(page.group(2))), words))
    return pages


def overlaps(a: Box, b: Box) -> bool:
    """Two boxes share more than a hairline (glyph boxes of one line may touch)."""
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx > 0.3 and dy > 0.3


def phrase_boxes(words: list[tuple[str, Box]], phrase: str, *, last: bool = False) -> list[int]:
    """Indices of the words that spell ``phrase`` in order (the first match, or the last)."""
    parts = phrase.split()
    starts = range(len(words) - len(parts) + 1)
    for i in reversed(starts) if last else starts:
        if [w for w, _ in words[i : i + len(parts)]] == parts:
            return list(range(i, i + len(parts)))
    raise AssertionError(f"{phrase!r} not found in {[w for w, _ in words]}")


def ink_share(path: Path, page: int, box: Box, dpi: int = 200) -> float:
    """The share of dark pixels inside ``box`` on ``page`` as printed (a text clipped away
    is still in the PDF's text, but leaves no ink)."""
    from PySide6.QtGui import QImage

    stem = path.with_name(f"{path.stem}-ink-{page}")
    pages = ["-f", str(page), "-l", str(page), "-singlefile"]
    subprocess.run(["pdftoppm", "-r", str(dpi), *pages, "-png", str(path), str(stem)], check=True)
    image = QImage(str(stem.with_suffix(".png")))
    k = dpi / 72
    x0, y0, x1, y1 = (int(v * k) for v in box)
    dark = sum(
        1 for x in range(x0, x1) for y in range(y0, y1) if image.pixelColor(x, y).lightness() < 128
    )
    return dark / max(1, (x1 - x0) * (y1 - y0))


def assert_whole_and_clear(path: Path, phrase: str) -> None:
    """On every page ``phrase`` (``{n}``: the page's number) is printed whole, inside the
    page, over no other word."""
    for n, ((width, height), words) in enumerate(pdf_words(path), 1):
        found = phrase_boxes(words, phrase.format(n=n))
        for i in found:
            box = words[i][1]
            assert 0 <= box[0] and box[2] <= width and 0 <= box[1] and box[3] <= height, box
            for j, (other, obox) in enumerate(words):
                if j not in found:
                    assert not overlaps(box, obox), (words[i][0], other)


class ClinicShowing:
    """The clinic as the entry functions see it, with one Overview replaced (a state the
    demo clinic has no patient in)."""

    def __init__(self, clinic: Any, overview: Any) -> None:
        self._clinic, self._overview = clinic, overview

    def overview(self, patient_id: int, now: Any = None) -> Any:
        return self._overview

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clinic, name)


def host_for(clinic: Any, qtbot: Any, patient_id: int, overview: Any = None) -> SmallHost:
    host = SmallHost(clinic if overview is None else ClinicShowing(clinic, overview), patient_id)
    qtbot.addWidget(host.widget)
    return host


def patient(clinic: Any, family: str) -> int:
    return int(next(r.patient.id for r in clinic.patient_rows(family)))


def no_trip(parent: Any, today: date) -> tuple[bool, date | None]:
    return True, None


# ---------------------------------------------------------------------- M1 unconfirmed dose


def test_no_card_or_letter_while_the_dose_in_force_is_not_confirmed(
    tmp_path: Path, clinic: Any, okafor: int, qtbot: Any
) -> None:
    overview = clinic.overview(okafor)
    fc = overview.forecast
    note = (
        "A program change sent on 29 Nov 2026 has an unknown outcome: the dates shown are the "
        "worse of with and without it. Interrogate the pump to settle it."
    )
    mismatch = (
        "The pump says 2000 mcg/mL; the records say 500 mcg/mL. The patient may be getting "
        "4 times the prescribed dose."
    )
    for changed, words in (
        (replace(fc, uncertain=True, notes=(note, *fc.notes)), "unknown outcome"),
        (replace(fc, attention=(mismatch,)), "2000 mcg/mL"),
    ):
        unconfirmed = replace(overview, forecast=changed)
        for write in (write_card_pdf, write_letter_pdf):
            target = tmp_path / f"{write.__name__}.pdf"
            with pytest.raises(PrintRefused, match="Interrogate the pump first") as refused:
                write(unconfirmed, target, clinic.settings)
            assert words in str(refused.value)
            assert not target.exists()  # nothing written
        for entry in (print_emergency_card, print_travel_letter):
            host = host_for(clinic, qtbot, okafor, unconfirmed)
            assert entry(host) is None  # type: ignore[arg-type]
            assert "not confirmed" in host.prompts.errors[-1][1]
            assert "Interrogate the pump first" in host.prompts.errors[-1][1]
    # The same patient with the dose confirmed prints.
    assert pdf_info(write_card_pdf(overview, tmp_path / "ok.pdf", clinic.settings))[0] == 2


# ---------------------------------------------------------------------- M2 weekdays, boluses


def with_program(overview: Any, program: Program) -> Any:
    summary = summarise_program(program, overview.program.concentration_mcg_ml, None)
    summary = replace(summary, drug_label=overview.program.drug_label)
    return replace(overview, forecast=replace(overview.forecast, program=program), program=summary)


def test_card_and_letter_print_each_days_dose_and_the_maximum_with_boluses(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    overview = clinic.overview(okafor)
    flex = Program(
        Mode.FLEX,
        flex_steps=(FlexStep(0, Decimal(10)),),  # 240 mcg a day
        flex_weekday_steps=((0, (FlexStep(0, Decimal(40)),)),),  # Mondays 960
    )
    boluses = Program(
        Mode.SIMPLE_CONTINUOUS,
        daily_dose_mcg=Decimal(500),
        patient_bolus=PatientBolus(Decimal(25), 5, 120, 4),  # up to 100 mcg more a day
    )
    expected = {
        "flex": (flex, "240.0 mcg per 24 h; Mon 960.0 mcg per 24 h", None),
        "boluses": (
            boluses,
            "500.0 mcg per 24 h",
            "Maximum up to 600.0 mcg per 24 h with patient boluses",
        ),
    }
    for name, (program, dose, maximum) in expected.items():
        assert dosing.max_24h_dose_mcg(program) == (960 if name == "flex" else 600)
        shown = with_program(overview, program)
        front = pdf_text(write_card_pdf(shown, tmp_path / f"card-{name}.pdf", clinic.settings))[0]
        (letter,) = pdf_text(write_letter_pdf(shown, tmp_path / f"l-{name}.pdf", clinic.settings))
        for text in (front, letter):
            assert dose in text, (name, text)
            if maximum:
                assert maximum in text
            else:
                assert "Maximum" not in text  # no boluses: the highest day is the maximum


# ---------------------------------------------------------------------- M3 overdue


def test_no_travel_letter_with_a_last_safe_day_that_has_passed(
    tmp_path: Path, clinic: Any, qtbot: Any
) -> None:
    walsh = patient(clinic, "Walsh")
    overview = clinic.overview(walsh)
    assert overview.status.status.name == "OVERDUE"
    refill_by = fmt_day(overview.forecast.refill_by)
    with pytest.raises(PrintRefused, match=f"Overdue: Refill was due by {refill_by}"):
        write_letter_pdf(overview, tmp_path / "l.pdf", clinic.settings)
    host = host_for(clinic, qtbot, walsh)
    assert print_travel_letter(host, ask_return=no_trip) is None  # type: ignore[arg-type]
    assert (
        "Refill the pump (or replace it) before the patient travels" in host.prompts.errors[-1][1]
    )
    # The card is what an overdue patient needs most: it still prints.
    assert pdf_info(write_card_pdf(overview, tmp_path / "card.pdf", clinic.settings))[0] == 2


# ---------------------------------------------------------------------- M4 End of Service


def test_when_end_of_service_governs_the_letter_says_replace_the_day_before(
    tmp_path: Path, clinic: Any
) -> None:
    patel = patient(clinic, "Patel")
    overview = clinic.overview(patel)
    fc = overview.forecast
    assert fc.governing is not None and fc.governing.kind.name == "END_OF_SERVICE"
    (text,) = pdf_text(write_letter_pdf(overview, tmp_path / "l.pdf", clinic.settings))
    assert fc.end_of_service is not None
    # The forecast's own last safe day is already the day before End of Service.
    assert fc.refill_by == fc.end_of_service.day - timedelta(days=1)
    eos = fmt_day(fc.end_of_service.day)
    last = fmt_day(fc.refill_by)
    assert f"{last}: the pump must be replaced by this day. End of Service on {eos}" in text
    assert "for the replacement by the last safe day" in text and "before the last" not in text
    said = " ".join(_last_safe_html(overview).split())
    assert said.count(eos) == 1 and said.count("End of Service") == 1, said
    assert "refilled by then" not in text and "another pump clinic" not in text
    # A trip back after it: replace first (on the shorter US Letter, still one page).
    back = fc.governing.day + timedelta(days=20)
    trip = trip_check_for(overview, back, clinic.settings)
    path = write_letter_pdf(overview, tmp_path / "t.pdf", paper(clinic, "Letter"), trip=trip)
    assert pdf_info(path)[0] == 1
    (text,) = pdf_text(path)
    assert (
        "The pump must be replaced before travelling: the return and its margin end after the last"
        f" safe day, {last}" in text
    )
    # A refill-governed letter keeps the refill remedy.
    (okafor_text,) = pdf_text(
        write_letter_pdf(clinic.overview(patient(clinic, "Okafor")), tmp_path / "o.pdf")
    )
    assert "the pump must be refilled by then" in okafor_text and "replaced" not in okafor_text


# ---------------------------------------------------------------------- M5 trip check


def save_preview(preview: Any, target: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(ui.printing, "ask_pdf_path", lambda parent, name: str(target))
    (save,) = [a for a in preview.actions() if a.objectName() == "savePdf"]
    save.trigger()
    preview.close()
    return pdf_text(target)


def test_the_letter_prints_the_trip_check_for_the_return_date_asked(
    tmp_path: Path, clinic: Any, okafor: int, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    overview = clinic.overview(okafor)
    last = overview.forecast.refill_by
    today = overview.now.astimezone(clinic.tz).date()
    asked: list[date] = []

    def back_on(day: date) -> Any:
        def answer(parent: Any, shown_today: date) -> tuple[bool, date | None]:
            asked.append(shown_today)
            return True, day

        return answer

    short = today + timedelta(days=10)
    host = host_for(clinic, qtbot, okafor)
    preview = print_travel_letter(host, ask_return=back_on(short))  # type: ignore[arg-type]
    assert preview is not None and asked == [today]
    (text,) = save_preview(preview, tmp_path / "short.pdf", monkeypatch)
    margin = clinic.settings.trip_margin_days
    assert "Trip check" in text and f"Return on {fmt_day(short)}" in text
    assert f"to the end of {fmt_day(short + timedelta(days=margin))}" in text
    assert "The drug in the pump lasts through the trip." in text
    assert "must be refilled before travelling" not in text

    # Back after the drug runs out: the check fails and the letter says to refill first.
    long = last + timedelta(days=30)
    check = trip_check_for(overview, long, clinic.settings)
    assert check is not None and not check.ok and check.governing
    preview = print_travel_letter(host, ask_return=back_on(long))  # type: ignore[arg-type]
    assert preview is not None
    (text,) = save_preview(preview, tmp_path / "long.pdf", monkeypatch)
    assert f"The pump must be refilled before travelling: the {check.governing} comes" in text
    assert "lasts through the trip" not in text

    # A return date given by the caller: no question asked.
    preview = print_travel_letter(host, return_date=short, ask_return=back_on(long))  # type: ignore[arg-type]
    assert preview is not None and asked == [today, today]
    assert (
        f"Return on {fmt_day(short)}" in save_preview(preview, tmp_path / "g.pdf", monkeypatch)[0]
    )

    # No trip date: the letter without a trip check; Cancel: nothing printed.
    preview = print_travel_letter(host, ask_return=no_trip)  # type: ignore[arg-type]
    assert preview is not None
    assert "Trip check" not in save_preview(preview, tmp_path / "none.pdf", monkeypatch)[0]
    cancelled = print_travel_letter(host, ask_return=lambda p, d: (False, None))  # type: ignore[arg-type]
    assert cancelled is None and host.prompts.errors == []


def test_the_return_date_dialog_gives_a_date_from_today_or_no_trip(qtbot: Any) -> None:
    today = date(2026, 11, 30)
    dialog = ReturnDateDialog(None, today)
    qtbot.addWidget(dialog)
    dialog.return_date.setDate(QDate(2026, 11, 1))  # before today: held at today
    assert dialog.return_date.date().toPython() == today
    dialog.return_date.setDate(QDate(2026, 12, 20))
    dialog.accept()
    assert dialog.answer() == (True, date(2026, 12, 20))
    dialog.no_trip.setChecked(True)
    assert not dialog.return_date.isEnabled() and dialog.answer() == (True, None)
    dialog.reject()
    assert dialog.answer() == (False, None)


def test_the_trip_check_uses_the_forecasts_inputs(clinic: Any, okafor: int) -> None:
    overview = clinic.overview(okafor)
    fc = overview.forecast
    today = overview.now.astimezone(clinic.tz).date()
    check = trip_check_for(overview, today + timedelta(days=3), clinic.settings)
    assert check is not None
    rf = check.forecast
    assert (rf.start, rf.reservoir_ul, rf.alarm_volume_ul) == (
        fc.anchor_at,
        fc.anchor_volume_ul,
        fc.alarm_volume_ul,
    )
    assert rf.program == fc.program and rf.concentration_mcg_ml == fc.concentration_mcg_ml
    assert rf.alarm_at is not None and rf.alarm_at.astimezone(clinic.tz).date() == fc.alarm_day
    assert check.margin_days == clinic.settings.trip_margin_days
    interval = next(b for b in fc.bounds if b.kind.name == "INTERVAL")
    assert rf.max_refill_interval_days is not None
    assert (
        rf.start.astimezone(clinic.tz).date() + timedelta(days=rf.max_refill_interval_days)
        == interval.day
    )


# ---------------------------------------------------------------------- M8 the 24 h number


def test_the_24h_number_is_whole_in_the_page_and_clear_under_a_long_address(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    address = ("Neurorehabilitation Unit, Level 4, St Elsewhere Hospital, 1 Long Lane, " * 3)[
        :150
    ].strip()
    assert len(address) <= 150
    settings = paper(clinic, "A4", clinic_address=address)
    overview = clinic.overview(okafor)
    card = write_card_pdf(overview, tmp_path / "card.pdf", settings)
    assert pdf_info(card)[0] == 2  # still front and back
    sheet = write_card_pdf(overview, tmp_path / "sheet.pdf", settings, on_sheet=True)
    letter = write_letter_pdf(overview, tmp_path / "letter.pdf", settings)
    contact = set(f"24 h contact: {DEMO_CONTACT['clinic_name']} \u00b7 {address}".split())
    for path in (card, sheet, letter):
        assert_whole_and_clear(path, PHONE)
        assert all("24 h contact: " + PHONE in page for page in pdf_text(path))
    for path in (card, letter):  # one card side or one letter per page
        for n, (_size, words) in enumerate(pdf_words(path), 1):
            phone = phrase_boxes(words, PHONE, last=True)  # the foot's
            for i in phone:  # printed, not clipped away
                assert ink_share(path, n, words[i][1]) > 0.05, words[i][0]
            tops = {round(words[i][1][1]) for i in phone}
            assert len(tops) == 1, "the number is split over lines"
            # The number heads the foot: nothing of the page's content is level with or
            # below it, only the rest of the clinic's contact.
            below = [w for j, (w, box) in enumerate(words) if box[3] > min(tops) and j not in phone]
            assert set(below) <= contact, set(below) - contact
    front, back = pdf_text(card)
    assert "Long Lane" in back and "Do not stop baclofen suddenly" in front


# ---------------------------------------------------------------------- M9 nobody to call


def test_no_card_or_letter_without_the_24h_telephone(
    tmp_path: Path, clinic: Any, okafor: int, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    overview = clinic.overview(okafor)
    unset = paper(clinic, "A4", clinic_phone_24h="")
    for write in (write_card_pdf, write_letter_pdf):
        with pytest.raises(PrintRefused, match="Tools > Clinic settings"):
            write(overview, tmp_path / "x.pdf", unset)
    monkeypatch.setattr(clinic, "settings", unset)
    for entry in (print_emergency_card, print_travel_letter):
        host = host_for(clinic, qtbot, okafor)
        assert entry(host) is None  # type: ignore[arg-type]
        message = host.prompts.errors[-1][1]
        assert "24 h telephone is not set" in message and "Tools > Clinic settings" in message


# ---------------------------------------------------------------------- m2 TRAINING


def test_the_training_mark_does_not_depend_on_passing_the_clinic(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    overview = clinic.overview(okafor)
    assert overview.forecast.settings.training
    card = pdf_text(write_card_pdf(overview, tmp_path / "card.pdf"))
    (letter,) = pdf_text(write_letter_pdf(overview, tmp_path / "letter.pdf"))
    for text in (*card, letter):
        assert "TRAINING" in text and PHONE in text


# ---------------------------------------------------------------------- m3 failed change


def test_a_failed_or_uncertain_change_leads_with_its_outcome_not_the_new_dose(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    record = sample_change_record(clinic, okafor)
    for outcome, title, attempted in (
        (ChangeOutcome.FAILED, "Program NOT changed", "Attempted (not applied): 500.0"),
        (ChangeOutcome.UNCERTAIN, "UNCERTAIN:", "Attempted (outcome unknown): 500.0"),
    ):
        failed = replace(record, outcome=outcome, readback=None, message="No answer.")
        path = save_pdf(program_change_printout(failed, clinic.settings), tmp_path / "f.pdf")
        (text,) = pdf_text(path)
        assert attempted in text and "625.0 mcg/24 h" in text
        assert text.index(title) < text.index(attempted)
    (text,) = pdf_text(save_pdf(program_change_printout(record), tmp_path / "ok.pdf"))
    assert "Attempted" not in text and text.index("500.0 mcg/24 h") < text.index("verified")


def test_the_record_title_has_the_clinics_local_time(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    zone = ZoneInfo("America/New_York")
    record = replace(sample_change_record(clinic, okafor), tz=zone)
    path = save_pdf(program_change_printout(record), tmp_path / "t.pdf")
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    at = record.approved.change.at
    assert f"Program change {at.astimezone(zone):%Y-%m-%d %H:%M}" in info
    assert f"{at.astimezone(ZoneInfo('UTC')):%H:%M}" not in info.split("Title:")[1].split("\n")[0]


# ---------------------------------------------------------------------- m4 MRI, long names


def test_the_mri_point_fits_every_pump_model(tmp_path: Path, clinic: Any, okafor: int) -> None:
    (text,) = pdf_text(write_letter_pdf(clinic.overview(okafor), tmp_path / "l.pdf"))
    assert "MRI only after the pump clinic below has been told" in text
    assert "some pumps must be checked or emptied before and after a scan" in text
    assert "strong magnet can stop the pump" not in text


def test_a_long_name_never_hides_the_date_of_birth_or_the_page_number(
    tmp_path: Path, clinic: Any, okafor: int
) -> None:
    overview = clinic.overview(okafor)
    p = overview.patient
    long = replace(
        overview,
        patient=replace(
            p,
            family_name="Montgomery-Featherstonehaugh-Cholmondeley-Worthington",
            given_name="Alexandra Bartholomew Constantine",
        ),
    )
    dob = fmt_day(p.date_of_birth)
    for path, last in (
        (write_letter_pdf(long, tmp_path / "l.pdf"), f"hospital no. {p.hospital_number}"),
        (write_card_pdf(long, tmp_path / "c.pdf"), f"born {dob}"),
    ):
        pages = pdf_words(path)
        for phrase in (last, "page {n} of"):
            assert_whole_and_clear(path, phrase)
        for n, (_size, words) in enumerate(pages, 1):
            number = words[phrase_boxes(words, f"page {n} of")[0]][1]
            head = " ".join(w for w, box in words if box[1] < number[3])
            assert f"born {dob}" in head and "\u2026" in head, head  # the name is shortened
            assert "MONTGOMERY" in head


def test_a_trip_whose_margin_reaches_end_of_service_needs_the_replacement_first(
    tmp_path: Path, clinic: Any
) -> None:
    """The letter says the pump must last to the return plus the clinic's trip margin: a
    return on or before the last safe day whose margin reaches past it (End of Service
    governing, the drug itself lasting) still needs the replacement before travelling."""
    overview = clinic.overview(patient(clinic, "Patel"))
    fc = overview.forecast
    assert fc.governing is not None and fc.governing.kind.name == "END_OF_SERVICE"
    margin = clinic.settings.trip_margin_days
    assert margin > 0
    back = fc.refill_by - timedelta(days=margin - 1)  # return + margin: one day too late
    trip = trip_check_for(overview, back, clinic.settings)
    assert trip is not None and trip.ok  # the drug lasts: only End of Service stops it
    (text,) = pdf_text(write_letter_pdf(overview, tmp_path / "t.pdf", trip=trip))
    assert "The pump must be replaced before travelling" in text
    assert "lasts through the trip" not in text
    # A return whose margin ends on the last safe day is fine.
    ok = trip_check_for(overview, fc.refill_by - timedelta(days=margin), clinic.settings)
    assert ok is not None
    (text,) = pdf_text(write_letter_pdf(overview, tmp_path / "ok.pdf", trip=ok))
    assert "lasts through the trip" in text
