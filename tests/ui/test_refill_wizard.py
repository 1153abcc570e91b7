"""The refill wizard end to end over simpump://, as a nurse drives it: Okafor's healthy pump
(SIM0000001), a scanned vial, the update read back, the refill stored, the PDF written; a
pocket-fill-style discrepancy; the link lost during the update; cancel; wrong patient."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog

from drivers import protocol as p
from drivers import protocol_simpump
from drivers.simulator.pump import ManualClock
from drivers.simulator.scenarios import build_scenario
from itbconsole.display import fmt_day
from itbconsole.services.refill import Step
from itbconsole.store import StoreError
from tests.ui.conftest import Console
from ui import dialogs
from ui.refill import open_refill_wizard
from ui.refill.wizard import SAVING_TEXT, RefillWizard

GTIN = "09506000134352"
_names = itertools.count(1)


def healthy_pump(console: Console) -> str:
    """Okafor's healthy pump on a clock that stands still, so what the pump echoes is
    exactly what was sent (the simulated pump echoes its live estimate, which a moving
    clock has already lowered by a fraction of a microlitre)."""
    name = f"refillwizard{next(_names)}"
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    protocol_simpump.register_pump(name, build_scenario("healthy", clock=clock))
    console.sim_names.append(name)
    return name


def start(console: Console, family: str = "Okafor") -> tuple[RefillWizard, str]:
    name = healthy_pump(console)
    console.connect(f"simpump://{name}")
    console.window.open_patient(console.patient_id(family))
    wizard = open_refill_wizard(console.window)
    assert wizard is not None
    console.qtbot.addWidget(wizard)
    return wizard, name


def identified(console: Console, wizard: RefillWizard) -> None:
    console.qtbot.waitUntil(
        lambda: (
            wizard.session.identification is not None
            or bool(console.prompts.errors or console.prompts.criticals)
        ),
        timeout=20_000,
    )
    console.qtbot.waitUntil(lambda: not wizard.busy, timeout=5_000)
    assert wizard.session.identification is not None, console.prompts.errors


def save_dialog_starts(monkeypatch: pytest.MonkeyPatch, documents: Path) -> list[str]:
    """Where each save dialog opens (the dialog itself cancelled), with ``documents`` as
    the user's Documents folder."""
    starts: list[str] = []

    def dialog(_parent: object, _caption: str, start: str, _filter: str) -> tuple[str, str]:
        starts.append(start)
        return "", ""

    monkeypatch.setattr(dialogs, "documents_dir", lambda: documents)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    return starts


def expected_ml(wizard: RefillWizard) -> str:
    ident = wizard.session.identification
    assert ident is not None
    return f"{ident.residual.expected_residual_ul / 1000:.3f}"


def to_review(console: Console, wizard: RefillWizard, withdrawn: str | None = None) -> None:
    identified(console, wizard)
    assert wizard.next(), "identify -> withdraw"
    wizard.withdraw_page.withdrawn.setText(withdrawn or expected_ml(wizard))
    assert wizard.next(), wizard.withdraw_page.errors
    page = wizard.new_drug_page
    line = page.product.lineEdit()
    assert line is not None
    line.setText(f"]d201{GTIN}17301200\x1d10LX2044")  # as a keyboard-wedge scanner types it
    assert wizard.read_product_field()
    assert (page.lot.text(), page.expiry.text(), page.gtin) == ("LX2044", "2030-12-31", GTIN)
    page.product.setCurrentIndex(page.product.findText("Lioresal Intrathecal 2000 mcg/mL"))
    page.added.setText("40.0")
    assert wizard.next(), {k: v.text() for k, v in page.errors.items()}
    assert wizard.current is Step.CONCENTRATION
    assert "Same concentration" in wizard.concentration_page.result.text()
    assert wizard.next()
    assert wizard.current is Step.REVIEW


def sent(console: Console, wizard: RefillWizard) -> None:
    assert wizard.next(), wizard.review_page.errors
    assert wizard.current is Step.UPDATE
    wizard.send_update()
    console.qtbot.waitUntil(lambda: wizard.session.outcome is not None, timeout=30_000)
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)


def test_whole_refill_over_simpump_ends_with_the_new_volume_read_back_and_stored(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wizard, name = start(console)
    refills_before = console.count("refills")
    to_review(console, wizard)
    rows = {
        wizard.review_page.table.item(r, 0).text(): wizard.review_page.table.item(r, 2).text()  # type: ignore[union-attr]
        for r in range(wizard.review_page.table.rowCount())
    }
    assert rows["Reservoir volume"] == "40.00 mL" and rows["Concentration"] == "2000 mcg/mL"
    # Dates in the one display form (no weekday, no ISO 8601), moments with their zone.
    tz = console.window.clinic.tz
    read = wizard.session.identification.reading.at.astimezone(tz)  # type: ignore[union-attr]
    assert wizard.identify_page.status.text() == (
        f"Interrogated at {fmt_day(read.date())} {read:%H:%M:%S} {read.tzname()}."
    )
    assert re.fullmatch(r"\d\d [A-Z][a-z]{2} \d{4}", rows["Refill by"]), rows["Refill by"]
    assert rows["Lot / expiry"] == "LX2044 / 31 Dec 2030"
    derivation = wizard.withdraw_page.derivation.text()  # the withdraw step's inputs
    assert re.search(
        r"Last fill: [\d.]+ mL on \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d [A-Z]+\.", derivation
    )
    assert wizard.back_button.isEnabled()
    sent(console, wizard)
    assert wizard.current is Step.RECORD
    assert wizard.session.outcome is not None and wizard.session.outcome.status == "confirmed"
    pump = protocol_simpump.get_pump(name)
    assert 40_000 - 50 <= pump.reservoir_ul <= 40_000
    assert pump.concentration_mcg_ml == 2000 and pump.drug == "Lioresal Intrathecal"
    assert console.count("refills") == refills_before + 1
    stored = wizard.session.outcome.refill
    assert (stored.added_ul, stored.lot, stored.status) == (40_000, "LX2044", "confirmed")
    assert GTIN in stored.note
    stamp = console.clinic.store.stamp("refills", stored.id or 0)
    assert stamp.by == console.clinic.user.name
    # The patient's latest reading is the read-back, so lists show the new refill date.
    latest = console.clinic.latest_reading(console.patient_id("Okafor"), "SIM0000001")
    assert latest is not None and latest.reservoir_ul >= 40_000 - 50
    assert "LX2044" in wizard.record_page.summary.toPlainText()
    # the audit chain's head at printing, on paper: an anchor db verify --anchor checks
    head = console.clinic.audit_head()
    assert f"Audit trail at printing: {head}" in wizard.record_page.summary.toPlainText()
    pdf = wizard.export_pdf(tmp_path / "refill.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    # Save PDF... asks through its seam; the real one opens the dialog in Documents.
    asked: list[str] = []
    chosen = tmp_path / "chosen.pdf"

    def ask(suggested: str) -> str:
        asked.append(suggested)
        return str(chosen)

    wizard.ask_pdf_path = ask
    wizard.record_page.pdf_button.click()
    at = wizard.session.outcome.stored_at.astimezone(UTC)
    assert asked == [f"refill-SIM0000001-{at:%Y%m%d-%H%M}.pdf"]  # ISO order in file names
    assert chosen.read_bytes().startswith(b"%PDF") and wizard.last_pdf == chosen
    starts = save_dialog_starts(monkeypatch, tmp_path / "Documents")
    wizard.ask_pdf_path = wizard._ask_pdf_path
    wizard.record_page.pdf_button.click()  # cancelled: nothing else written
    assert starts == [str(tmp_path / "Documents" / asked[0])] and wizard.last_pdf == chosen
    tool = shutil.which("pdftotext")
    if tool is not None:  # installed by .ci/run: every page says whose record it is
        text = subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True).stdout
        text = text.replace("\ufb01", "fi")  # the fi ligature the PDF font draws
        assert "Refill record: OKAFOR, Grace, born" in text and "hospital no. H100231" in text
        assert "page 1 of 1" in text and text.count("TRAINING") == 1
        assert "Second check (drug, concentration, volume and pump update)" in text
        assert "Make ITB Console simulated pump" in " ".join(text.split())  # the catalogue's
        flat = " ".join(text.split())
        # after the refill: the forecast's volume and dates, the program's doses, who
        after = console.clinic.forecast_for("SIM0000001")
        assert after.alarm_at is not None and after.refill_by is not None
        assert "New reservoir volume 40.00 mL" in flat
        assert f"Low-reservoir alarm {fmt_day(after.alarm_at.astimezone(tz).date())}" in flat
        assert f"Refill by {fmt_day(after.refill_by)} ({after.refill_by_reason})" in flat
        assert "Program Simple continuous, 2000 mcg/mL" in flat
        assert "Performed by: Demo Clinician (clinician)" in flat and "Nurse:" not in flat
    assert wizard.next()  # Finish
    assert wizard.session.step is Step.DONE
    assert console.prompts.errors == [] and console.prompts.criticals == []


def test_pocket_fill_style_discrepancy_must_be_acknowledged(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next()
    expected = float(expected_ml(wizard))
    wizard.withdraw_page.withdrawn.setText(f"{expected - 8:.2f}")  # 8 mL short
    page = wizard.withdraw_page
    assert page.flag.isVisibleTo(page)
    assert "aspiration" in page.flag_text.text()
    assert "less than expected" in page.discrepancy.text()
    assert not wizard.next()
    assert page.errors["note"].isVisibleTo(page)
    assert wizard.current is Step.WITHDRAW
    page.note.setPlainText("Re-aspirated: no more fluid. Dr Shah informed, plan agreed.")
    assert wizard.next()
    assert wizard.current is Step.NEW_DRUG
    assert "Dr Shah" in wizard.session.discrepancy_note


def test_unparseable_and_slipped_numbers_are_refused_next_to_the_field(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next()
    page = wizard.withdraw_page
    for text in ("4,17x", "41.7"):
        page.withdrawn.setText(text)
        assert page.errors["withdrawn"].isVisibleTo(page)
        assert not wizard.next()
    assert "decimal point" in page.errors["withdrawn"].text()
    page.withdrawn.setText(expected_ml(wizard))
    assert not page.errors["withdrawn"].isVisibleTo(page)
    assert wizard.next()
    drug = wizard.new_drug_page
    drug.product.setCurrentIndex(drug.product.findText("Lioresal Intrathecal 500 mcg/mL"))
    drug.lot.setText("A1")
    drug.expiry.setText("2020-01-31")
    drug.added.setText("40")
    assert not wizard.next()
    assert "expired" in drug.errors["expiry"].text()
    drug.expiry.setText("2030-01-31")
    drug.added.setText("400")
    assert not wizard.next() and "overfill" in drug.errors["added"].text()
    drug.added.setText("40")
    assert wizard.next()
    # 500 mcg/mL against 2000 in the pump, no program prepared: refused, cannot go on.
    assert wizard.current is Step.CONCENTRATION
    assert "prescription" in wizard.concentration_page.errors["page"].text()
    assert not wizard.next_button.isEnabled()


def test_link_lost_during_the_update_leaves_a_pending_record_and_no_lost_data(
    console: Console,
) -> None:
    wizard, name = start(console)
    to_review(console, wizard)
    withdrawn = wizard.session.withdrawal.withdrawn_ul  # type: ignore[union-attr]
    refills_before = console.count("refills")
    wizard.before_update = lambda: protocol_simpump.get_responder(name).faults.force(
        "disconnect", 60.0, request_type=p.UpdateReservoir.TYPE
    )  # the link goes just as the update itself arrives
    sent(console, wizard)
    outcome = wizard.session.outcome
    assert outcome is not None and outcome.status == "pending"
    assert console.count("refills") == refills_before + 1
    stored = outcome.refill
    assert (stored.withdrawn_ul, stored.added_ul, stored.lot, stored.status) == (
        withdrawn,
        40_000,
        "LX2044",
        "pending",
    )
    assert any("not confirmed" in title for title, _ in console.prompts.errors)
    assert "PENDING" in wizard.update_page.detail.text()
    history = console.clinic.store.patient_history(console.patient_id("Okafor"))
    assert [r.id for r in history.refills if r.status == "pending"] == [stored.id]


def test_cancel_before_the_update_changes_neither_pump_nor_records(console: Console) -> None:
    wizard, name = start(console)
    to_review(console, wizard)
    pump = protocol_simpump.get_pump(name)
    events_before = pump.event_count
    before = console.clinic.store.counts()
    assert wizard.cancel()
    assert wizard.session.step is Step.CANCELLED
    assert console.clinic.store.counts() == before
    assert pump.event_count == events_before
    assert pump.reservoir_ul < 40_000 - 50  # the refill never reached the pump


def test_refill_of_another_patients_pump_is_blocked(console: Console) -> None:
    before = console.clinic.store.counts()
    wizard, _ = start(console, "Walsh")  # Okafor's pump under the head
    console.qtbot.waitUntil(lambda: bool(console.prompts.criticals), timeout=20_000)
    console.qtbot.waitUntil(lambda: not wizard.busy, timeout=5_000)
    title, message = console.prompts.criticals[-1]
    assert "Wrong patient" in title and "OKAFOR" in message
    assert wizard.session.identification is None
    assert not wizard.next()
    assert console.clinic.store.counts() == before


def test_concentration_change_with_a_clinicians_prepared_program_sends_the_bridge(
    console: Console,
) -> None:
    from datetime import timedelta

    from itbconsole.demo import DEMO_USER
    from itbconsole.model import PreparedProgram

    okafor = console.patient_id("Okafor")
    latest = console.clinic.latest_reading(okafor, "SIM0000001")
    assert latest is not None
    console.clinic.store.add_prepared_program(
        PreparedProgram(
            "SIM0000001",
            datetime.now(UTC) - timedelta(hours=1),
            latest.program,
            500,
            "Weaker drug for finer titration",
        ),
        DEMO_USER,
        patient_id=okafor,
    )
    wizard, name = start(console)
    identified(console, wizard)
    assert wizard.next()
    wizard.withdraw_page.withdrawn.setText(expected_ml(wizard))
    assert wizard.next()
    page = wizard.new_drug_page
    page.product.setCurrentIndex(page.product.findText("Lioresal Intrathecal 500 mcg/mL"))
    page.lot.setText("LZ77")
    page.expiry.setText("2030-06-30")
    page.added.setText("40")
    assert wizard.next()
    assert wizard.current is Step.CONCENTRATION
    bridge_text = wizard.concentration_page.bridge.text()
    assert "dead volume" in bridge_text and "duration" in bridge_text
    assert "dose meanwhile" in bridge_text
    check = wizard.session.concentration
    assert check is not None and check.bridge_volume_ul > 0
    assert wizard.next()
    sent(console, wizard)
    assert wizard.session.outcome is not None
    assert wizard.session.outcome.status == "confirmed"
    pump = protocol_simpump.get_pump(name)
    assert pump.concentration_mcg_ml == 500
    assert pump.bridge_remaining_ul == check.bridge_volume_ul


def test_store_failure_after_the_pump_took_the_refill_keeps_the_outcome_and_saves_it_later(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump read back the new volume but saving failed: the wizard says the pump WAS
    updated, offers Retry saving with the same outcome, and Cancel never records "failed"."""
    wizard, name = start(console)
    to_review(console, wizard)
    refills_before = console.count("refills")
    store = console.clinic.store
    real_add_refill = store.add_refill

    def broken(*_a: object, **_k: object) -> None:
        raise StoreError("The database is locked.")

    monkeypatch.setattr(store, "add_refill", broken)
    assert wizard.next()
    wizard.send_update()
    console.qtbot.waitUntil(
        lambda: any(t == "Refill not saved" for t, _ in console.prompts.errors), timeout=30_000
    )
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    pump = protocol_simpump.get_pump(name)
    assert 40_000 - 50 <= pump.reservoir_ul <= 40_000  # the pump has the refill
    _, message = console.prompts.errors[-1]
    assert "WAS updated" in message and "did not take" not in message
    assert wizard.session.outcome is None and wizard.unsaved is not None
    page = wizard.update_page
    assert page.retry_save_button.isVisibleTo(page)
    assert not page.record_failed_button.isVisibleTo(page)
    assert not wizard.retry_save()  # still failing: still kept, nothing stored
    assert not wizard.cancel()  # Cancel cannot drop it or turn it into "failed"
    assert console.count("refills") == refills_before
    monkeypatch.setattr(store, "add_refill", real_add_refill)
    assert not wizard.cancel()  # the store is back: Cancel saves the same outcome
    outcome = wizard.session.outcome
    assert outcome is not None and outcome.status == "confirmed"
    assert console.count("refills") == refills_before + 1
    assert wizard.current is Step.RECORD


def test_cancel_after_an_interrogation_that_was_saved_says_so(console: Console) -> None:
    """Identify saves the interrogation when it settles an earlier pending refill."""
    pending_refill_of_okafor(console)
    wizard, _ = start(console)
    identified(console, wizard)
    console.qtbot.waitUntil(lambda: wizard.session.reading_saved, timeout=5_000)
    assert wizard.cancel()
    text = console.window.statusBar().currentMessage()
    assert "the interrogation reading was saved" in text
    assert "the pump and the refill records are unchanged" in text


def pending_refill_of_okafor(console: Console) -> int:
    """An earlier refill of Okafor's pump whose outcome is unknown; its id."""
    from datetime import date, timedelta

    from itbconsole.demo import DEMO_USER
    from itbconsole.model import Refill, RefillStatus

    stored = console.clinic.store.add_refill(
        Refill(
            "SIM0000001",
            datetime.now(UTC) - timedelta(days=1),
            1000,
            1000,
            40_000,
            "Lioresal Intrathecal",
            2000,
            "P1",
            date(2030, 1, 1),
            status=RefillStatus.PENDING,
        ),
        DEMO_USER,
        patient_id=console.patient_id("Okafor"),
    )
    assert stored.id is not None
    return stored.id


def held_saver(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, list[threading.Thread]]:
    """The clinic's interrogation saver, held at its start until the returned event is set;
    the threads it ran on."""
    from itbconsole.services.clinic import ClinicService

    release = threading.Event()
    threads: list[threading.Thread] = []
    real = ClinicService.interrogation_saver

    def saver(self: ClinicService, *args: Any, **kwargs: Any) -> Callable[[], Any] | None:
        save = real(self, *args, **kwargs)
        assert save is not None

        def held() -> Any:
            threads.append(threading.current_thread())
            assert release.wait(20)
            return save()

        return held

    monkeypatch.setattr(ClinicService, "interrogation_saver", saver)
    return release, threads


def test_the_interrogation_settling_a_pending_refill_is_saved_off_the_gui_thread(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save runs on a worker while the window keeps answering; until it ends the
    wizard neither moves on nor cancels (the reading may be half way to the disk), and then
    it shows the earlier refill settled: the pump's reservoir estimate (30 mL) does not
    follow on from the 40 mL refill, so it failed, and the nurse is told."""
    pending_id = pending_refill_of_okafor(console)
    release, threads = held_saver(console, monkeypatch)
    wizard, _ = start(console)
    console.qtbot.waitUntil(lambda: wizard.saving is not None, timeout=20_000)
    readings_before = console.count("readings")
    assert wizard.busy and not wizard.next_button.isEnabled() and not wizard.next()
    assert not wizard.cancel()
    assert console.prompts.errors[-1] == ("Refill", SAVING_TEXT)
    assert wizard.identify_page.pending.text() == SAVING_TEXT
    assert console.count("readings") == readings_before  # held before it writes
    release.set()
    console.qtbot.waitUntil(lambda: wizard.saving is None, timeout=20_000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert wizard.session.reading_saved and not wizard.busy
    assert console.count("readings") == readings_before + 1
    [resolution] = wizard.session.resolutions
    assert resolution.before.id == pending_id and resolution.status == "failed"
    assert "was pending: now failed" in wizard.identify_page.pending.text()
    assert console.prompts.errors[-1][0] == "Earlier refill not in the pump"
    history = console.clinic.store.patient_history(console.patient_id("Okafor"))
    assert [r.status for r in history.refills if r.lot == "P1"] == ["failed"]
    assert wizard.next(), "identify -> withdraw"


def test_a_pump_registered_elsewhere_while_its_reading_is_saved_blocks_the_refill(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saver checks the owner again as it writes: a pump re-registered to another
    patient between the identification and the save gets nothing saved and the refill is
    blocked, as if the pump had been another patient's from the start."""
    from itbconsole.services.clinic import ClinicService, WrongPatient

    pending_refill_of_okafor(console)
    walsh = console.clinic.patient(console.patient_id("Walsh"))
    okafor = console.clinic.patient(console.patient_id("Okafor"))

    def refused(self: ClinicService, *args: Any, **kwargs: Any) -> Callable[[], Any]:
        def save() -> Any:
            raise WrongPatient("SIM0000001", walsh, okafor)

        return save

    monkeypatch.setattr(ClinicService, "interrogation_saver", refused)
    before = console.clinic.store.counts()
    wizard, _ = start(console)
    console.qtbot.waitUntil(lambda: bool(console.prompts.criticals), timeout=20_000)
    console.qtbot.waitUntil(lambda: not wizard.busy, timeout=5_000)
    title, message = console.prompts.criticals[-1]
    assert title == "Wrong patient - refill blocked" and "WALSH" in message
    assert wizard.session.identification is None and not wizard.session.reading_saved
    assert not wizard.next()
    assert console.clinic.store.counts() == before


def test_another_pump_under_the_head_at_the_update_gets_nothing(console: Console) -> None:
    """The pump is identified again just before the refill is written: if the head was moved
    to another pump since step 1, nothing is sent and nothing is recorded (the one
    right-pump check, ui/pump_jobs.require_pump)."""
    wizard, name = start(console)
    to_review(console, wizard)
    pump = protocol_simpump.get_pump(name)
    reservoir_before, events_before = pump.reservoir_ul, pump.event_count
    refills_before = console.count("refills")
    pump.serial = "SIM0000099"  # another patient's pump now answers
    assert wizard.next(), wizard.review_page.errors
    wizard.send_update()
    console.qtbot.waitUntil(lambda: bool(console.prompts.errors), timeout=20_000)
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    title, message = console.prompts.errors[-1]
    assert title == "Pump not updated" and "SIM0000099" in message and "Nothing" in message
    assert wizard.session.outcome is None
    assert console.count("refills") == refills_before
    assert (pump.reservoir_ul, pump.event_count) == (reservoir_before, events_before)


# ------------------------------------------------------------------ the printed record's fields


def recorded_session(tmp_path: Path, user: Any) -> Any:
    """A refill recorded as ``user`` on the demo clinic (no link: the pump's read-back is
    given as the pump returns it), Okafor's pump, same drug, 40 mL added."""
    from dataclasses import replace
    from datetime import date, timedelta
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from itbconsole.demo import open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from itbconsole.services.refill import RefillSession

    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    clinic = ClinicService(
        open_demo_store(tmp_path / f"{user.role.value}.sqlite", now=now),
        load_drug_library(),
        user,
        ZoneInfo("Europe/London"),
    )
    okafor = next(r.patient.id for r in clinic.patient_rows("Okafor", now=now) if r.patient.id)
    history = clinic.store.patient_history(okafor)
    latest = max((r for r in history.readings if r.pump_serial == "SIM0000001"), key=lambda r: r.at)
    session = RefillSession(clinic, okafor, now=lambda: now)
    session.identify(
        replace(latest, at=now, pump_clock=now, id=None, reservoir_ul=29_000, alarms=())
    )
    assert session.identification is not None
    expected = session.identification.residual.expected_residual_ul
    session.enter_withdrawn(f"{expected / 1000:.3f}")
    session.enter_new_drug("lioresal-2000", "LX2044", date(2030, 12, 31), "40.0")
    session.check_concentration()
    session.review()
    session.confirm()
    session.mark_sent()
    read_back = SimpleNamespace(
        reservoir_ul=40_000, concentration_mcg_ml=2000, drug_name="Lioresal Intrathecal",
        alarm_volume_ul=latest.alarm_volume_ul, read_at=now + timedelta(minutes=2),
        pump_clock=now + timedelta(minutes=2), battery_mv=3100, eri=False, eos=False, alarms=(),
        alarm_date=None, eri_date=None, eos_date=None,
    )  # fmt: skip
    assert session.record_update("succeeded", "ok", read_back).status == "confirmed"
    return session


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
@pytest.mark.parametrize("role", ["nurse", "clinician"])
def test_the_printed_record_shows_what_follows_the_refill_and_who_did_it_on_one_page(
    tmp_path: Path, qapp: Any, role: str
) -> None:
    from fractions import Fraction

    from itbconsole import dosing
    from itbconsole.demo import DEMO_NURSE, DEMO_USER
    from tests.ui.test_printouts import A4_PTS, LETTER_PTS, pdf_info, pdf_text
    from ui.refill.record import write_refill_pdf

    user = DEMO_NURSE if role == "nurse" else DEMO_USER
    session = recorded_session(tmp_path, user)
    clinic = session.clinic
    after = clinic.forecast_for("SIM0000001")  # the forecast with this refill stored
    assert after.alarm_at is not None and after.refill_by is not None and after.program
    program = after.program
    pb = program.patient_bolus
    assert pb is not None
    daily = Fraction(program.daily_dose_mcg)
    most = dosing.patient_boluses_in_24h(program)
    for size, pts in (("A4", A4_PTS), ("Letter", LETTER_PTS)):
        settings = replace_paper(clinic.settings, size)
        path = write_refill_pdf(session.printable(), tmp_path / f"{role}-{size}.pdf", settings)
        assert pdf_info(path) == (1, pts)  # one page on either paper
        text = pdf_text(path, layout=False)[0]  # in reading order: sections side by side
        assert f"Performed by: {user.name} ({role})" in text and "Nurse:" not in text
        assert f"performed by {user.name} ({role})" in text
        assert "Second check (drug, concentration, volume and pump update)" in text
        assert "New reservoir volume 40.00 mL" in text
        assert "Program Simple continuous, 2000 mcg/mL" in text
        assert f"Dose per 24 h {float(daily):.1f} mcg per 24 h" in text
        maximum = daily + Fraction(pb.dose_mcg) * most
        assert (
            f"Maximum 24 h dose {float(maximum):.1f} mcg per 24 h with {most} patient "
            f"boluses of {pb.dose_mcg} mcg"
        ) in text
        assert "Bridge bolus none" in text
        alarm = fmt_day(after.alarm_at.astimezone(clinic.tz).date())
        assert f"Low-reservoir alarm {alarm}" in text
        assert f"Refill by {fmt_day(after.refill_by)} ({after.refill_by_reason})" in text


def replace_paper(settings: Any, size: str) -> Any:
    from dataclasses import replace

    return replace(settings, paper_size=size)
