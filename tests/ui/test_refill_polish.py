"""Refill wizard polish, as a nurse meets it: Escape asks before discarding the refill;
Enter moves on (but a scanner's Enter in the product field does not); "Confirm and update
pump" updates the pump with no second Send; a likely decimal slip is confirmed where it is
typed with its own tick; expiry typed as vials print it; a brand switch is said and kept."""

from __future__ import annotations

from PySide6.QtCore import Qt

from itbconsole.services.refill import Step
from tests.ui.conftest import Console
from tests.ui.test_refill_wizard import GTIN, expected_ml, identified, start, to_review
from ui.refill.wizard import RefillWizard


def at_new_drug(console: Console, wizard: RefillWizard) -> None:
    identified(console, wizard)
    assert wizard.next()
    wizard.withdraw_page.withdrawn.setText(expected_ml(wizard))
    assert wizard.next()
    assert wizard.current is Step.NEW_DRUG


def fill_drug(wizard: RefillWizard, product: str, added: str, expiry: str = "2030-06-30") -> None:
    page = wizard.new_drug_page
    page.product.setCurrentIndex(page.product.findText(product))
    page.lot.setText("LZ77")
    page.expiry.setText(expiry)
    page.added.setText(added)


# --------------------------------------------------------------------------- Escape, Enter


def test_escape_asks_before_discarding_the_refill(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next()
    wizard.withdraw_page.withdrawn.setText(expected_ml(wizard))
    console.prompts.answer = False  # "No, go on with the refill"
    console.qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert [t for t, _ in console.prompts.confirms] == ["Cancel the refill?"]
    assert wizard.isVisible() and wizard.current is Step.WITHDRAW
    assert wizard.session.step is not Step.CANCELLED
    assert wizard.withdraw_page.withdrawn.text() == expected_ml(wizard)  # nothing lost
    console.prompts.answer = True
    console.qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert len(console.prompts.confirms) == 2
    assert wizard.session.step is Step.CANCELLED and not wizard.isVisible()


def test_closing_the_window_asks_too(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    console.prompts.answer = False
    wizard.close()
    assert wizard.isVisible() and wizard.session.step is not Step.CANCELLED
    console.prompts.answer = True
    wizard.close()
    assert not wizard.isVisible() and wizard.session.step is Step.CANCELLED


def test_enter_moves_on_and_a_scanners_enter_does_not(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next_button.isDefault()
    assert wizard.next()
    page = wizard.withdraw_page
    page.withdrawn.setText(expected_ml(wizard))
    page.withdrawn.setFocus()
    console.qtbot.keyClick(page.withdrawn, Qt.Key.Key_Return)
    assert wizard.current is Step.NEW_DRUG
    line = wizard.new_drug_page.product.lineEdit()
    assert line is not None
    line.setFocus()
    line.setText(f"]d201{GTIN}17301200\x1d10LX2044")
    console.qtbot.keyClick(line, Qt.Key.Key_Return)  # the scanner's Enter
    assert wizard.new_drug_page.lot.text() == "LX2044"  # the barcode was read...
    assert wizard.current is Step.NEW_DRUG  # ...and the wizard stayed to let the nurse check


def test_confirm_and_update_pump_updates_it_with_no_second_send(console: Console) -> None:
    wizard, _ = start(console)
    to_review(console, wizard)
    assert wizard.next_button.text().replace("&", "") == "Confirm and update pump"
    assert wizard.next()
    assert wizard.session.update_sent  # on the wire already: no "Send to pump" to press
    assert not wizard.update_page.send_button.isVisibleTo(wizard.update_page)
    console.qtbot.waitUntil(lambda: wizard.session.outcome is not None, timeout=30_000)
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    assert wizard.current is Step.RECORD
    outcome = wizard.session.outcome
    assert outcome is not None and outcome.status == "confirmed"
    console.qtbot.keyClick(wizard, Qt.Key.Key_Escape)  # on the record page Escape finishes
    assert wizard.session.step is Step.DONE and console.prompts.confirms == []


# --------------------------------------------------------------------------- decimal slips


def test_an_added_volume_slip_is_confirmed_at_step_3_with_its_own_tick(console: Console) -> None:
    wizard, _ = start(console)
    at_new_drug(console, wizard)
    page = wizard.new_drug_page
    assert not page.volume_ok.isVisibleTo(page)
    fill_drug(wizard, "Lioresal Intrathecal 2000 mcg/mL", "4,0")  # 4.0 typed for 40
    assert not wizard.next()
    assert wizard.current is Step.NEW_DRUG
    assert page.volume_ok.isVisibleTo(page)
    assert "40.00 mL meant" in page.errors["added_check"].text()
    page.volume_ok.setChecked(True)
    page.added.setText("4.0")  # a new volume needs a new tick
    assert not page.volume_ok.isChecked()
    assert not wizard.next()
    page.volume_ok.setChecked(True)
    assert wizard.next()
    assert wizard.next()  # same concentration
    assert wizard.current is Step.REVIEW
    review = wizard.review_page
    assert "confirmed at step 3" in review.warnings.text()
    assert not review.acknowledge.isVisibleTo(review)  # not asked a second time


def test_a_withdrawn_volume_slip_needs_its_own_tick_besides_the_note(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next()
    page = wizard.withdraw_page
    ident = wizard.session.identification
    assert ident is not None
    slipped = f"{ident.residual.expected_residual_ul / 10_000:.3f}"  # 2.93 typed for 29.3
    page.withdrawn.setText(slipped)
    assert page.slip_ok.isVisibleTo(page)
    page.note.setPlainText("Aspirated twice; Dr Shah informed")
    assert not wizard.next()
    assert "decimal point" in page.errors["slip"].text()
    page.slip_ok.setChecked(True)
    assert wizard.next()
    assert wizard.current is Step.NEW_DRUG
    assert "confirmed at step 2" in wizard.session.withdrawn_checked


# --------------------------------------------------------------------------- expiry, brand


def test_expiry_typed_as_the_vial_prints_it(console: Console) -> None:
    wizard, _ = start(console)
    at_new_drug(console, wizard)
    page = wizard.new_drug_page
    fill_drug(wizard, "Lioresal Intrathecal 2000 mcg/mL", "40", expiry="06/31/2030")
    assert not wizard.next()
    assert "end of that month" in page.errors["expiry"].text()
    page.expiry.setText("2030-06")  # month only: the end of June
    assert wizard.next()
    check = wizard.session.new_drug_check
    assert check is not None and check.new_drug.expiry.isoformat() == "2030-06-30"


def test_a_brand_switch_at_the_same_strength_is_said_and_recorded(console: Console) -> None:
    wizard, _ = start(console)
    at_new_drug(console, wizard)
    fill_drug(wizard, "Gablofen 2000 mcg/mL", "40")
    assert wizard.next()
    assert wizard.current is Step.CONCENTRATION
    assert wizard.next()
    notes = wizard.review_page.notes.text()
    assert "Brand change: Lioresal Intrathecal to Gablofen at the same strength" in notes
    assert wizard.next()
    console.qtbot.waitUntil(lambda: wizard.session.outcome is not None, timeout=30_000)
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    assert wizard.session.outcome is not None
    stored = wizard.session.outcome.refill
    assert "Brand change: Lioresal Intrathecal to Gablofen" in stored.note
    assert "Brand change" in wizard.record_page.summary.toPlainText()


def test_the_same_brand_says_nothing(console: Console) -> None:
    wizard, _ = start(console)
    at_new_drug(console, wizard)
    fill_drug(wizard, "Lioresal Intrathecal 2000 mcg/mL", "40")
    assert wizard.next() and wizard.next()
    assert "Brand change" not in wizard.review_page.notes.text()


# --------------------------------------------------------------------------- delivery drift


def test_the_withdraw_step_warns_of_a_pump_drifting_towards_withdrawal(
    console: Console,
) -> None:
    """Brennan's pump has delivered less than programmed at refill after refill: the step
    where the residual is withdrawn says so, with the Overview's words."""
    from datetime import UTC, datetime

    from drivers import protocol_simpump
    from drivers.simulator.pump import ManualClock
    from drivers.simulator.scenarios import build_scenario
    from ui.refill import open_refill_wizard

    name = "polishdrift"
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    protocol_simpump.register_pump(name, build_scenario("under-delivery", clock=clock))
    console.sim_names.append(name)
    console.connect(f"simpump://{name}")
    console.window.open_patient(console.patient_id("Brennan"))
    overview_drift = console.window.patient_view.overview.drift_value.text()
    wizard = open_refill_wizard(console.window)
    assert wizard is not None
    console.qtbot.addWidget(wizard)
    identified(console, wizard)
    assert wizard.next()
    page = wizard.withdraw_page
    assert wizard.current is Step.WITHDRAW and not page.drift.isHidden()
    assert "lower than programmed" in page.drift.text() and "withdrawal risk" in page.drift.text()
    assert overview_drift in page.drift.text()


def test_no_drift_no_warning_at_the_withdraw_step(console: Console) -> None:
    wizard, _ = start(console)
    identified(console, wizard)
    assert wizard.next()
    assert wizard.current is Step.WITHDRAW and wizard.withdraw_page.drift.isHidden()
