"""The refill rules without Qt: one test per rule, each failing when its rule is removed.

Figures are checked against values counted here by hand from the stored records (not by
calling the same dosing helper the service calls), because a wrong next date or residual
is the hazard these rules exist for.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole import dosing
from itbconsole.demo import DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.display import fmt_day
from itbconsole.druglib import default_library_path, load_drug_library, parse_drug_library
from itbconsole.forecast import Bound
from itbconsole.model import (
    FlexStep,
    Mode,
    PreparedProgram,
    Program,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
)
from itbconsole.services.clinic import ClinicService, UnknownPump, WrongPatient
from itbconsole.services.refill import (
    RefillError,
    RefillSession,
    Step,
    resolve_pending_refills,
)
from tests import oracle

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SERIAL = "SIM0000001"  # Okafor, 40 mL, 2000 mcg/mL, patient bolus 25 mcg x 3 a day
GTIN = "09506000134352"


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    return ClinicService(store, load_drug_library(), DEMO_NURSE, LONDON)


def pid(clinic: ClinicService, family: str) -> int:
    return next(
        r.patient.id for r in clinic.patient_rows(family, now=NOW) if r.patient.id is not None
    )


def last_refill(clinic: ClinicService, serial: str = SERIAL) -> Refill:
    owner = clinic.store.find_pump_owner(serial)
    assert owner is not None
    refills = [r for r in clinic.store.patient_history(owner).refills if r.pump_serial == serial]
    return max(refills, key=lambda r: r.at)


def pump_reading(clinic: ClinicService, serial: str = SERIAL, **changes: object) -> Reading:
    """What an interrogation now would return: the latest stored program and concentration."""
    owner = clinic.store.find_pump_owner(serial)
    assert owner is not None
    latest = max(
        (r for r in clinic.store.patient_history(owner).readings if r.pump_serial == serial),
        key=lambda r: r.at,
    )
    reading = replace(latest, at=NOW, pump_clock=NOW, id=None, reservoir_ul=29_000, alarms=())
    return replace(reading, **changes)  # type: ignore[arg-type]


def counts(clinic: ClinicService) -> dict[str, int]:
    return clinic.store.counts()


def session(clinic: ClinicService, family: str = "Okafor") -> RefillSession:
    return RefillSession(clinic, pid(clinic, family), now=lambda: NOW)


def hand_expected_residual(clinic: ClinicService) -> int:
    """Okafor's programs are simple continuous: residual = added - dose x days / conc."""
    fill = last_refill(clinic)
    owner = pid(clinic, "Okafor")
    changes = [c for c in clinic.store.patient_history(owner).program_changes if c.at <= NOW]
    dose = max(changes, key=lambda c: c.at).new.daily_dose_mcg  # last change is before the fill
    assert max(c.at for c in changes) < fill.at
    seconds = int((NOW - fill.at).total_seconds())
    delivered_ul = Fraction(dose) * seconds / 86_400 * 1000 / fill.concentration_mcg_ml
    return round(fill.added_ul - delivered_ul)


def at_new_drug(clinic: ClinicService, withdrawn: str | None = None) -> RefillSession:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = s.identification.residual.expected_residual_ul  # type: ignore[union-attr]
    check = s.enter_withdrawn(withdrawn or f"{expected / 1000:.3f}")
    assert not check.needs_acknowledgement
    return s


def at_review(clinic: ClinicService, product: str = "lioresal-2000", **kw: object) -> RefillSession:
    s = at_new_drug(clinic)
    s.enter_new_drug(product, "ab12345", date(2028, 1, 31), "40.0")
    s.check_concentration(**kw)  # type: ignore[arg-type]
    s.review()
    return s


@dataclass
class Status:
    """A pump status read-back (the shape of drivers.pump_client.PumpStatus)."""

    reservoir_ul: int
    concentration_mcg_ml: int
    drug_name: str
    alarm_volume_ul: int = 2000
    read_at: datetime = NOW
    pump_clock: datetime = NOW
    battery_mv: int = 3100
    eri: bool = False
    eos: bool = False
    alarms: tuple[str, ...] = ()
    alarm_date: date | None = None
    eri_date: date | None = None
    eos_date: date | None = None


# --------------------------------------------------------------------------- step 1: identify


def test_pump_of_another_patient_is_refused_before_anything_is_written(
    clinic: ClinicService,
) -> None:
    before = counts(clinic)
    s = session(clinic, "Walsh")
    with pytest.raises(WrongPatient):
        s.identify(pump_reading(clinic))  # Okafor's pump
    assert s.identification is None and s.step is Step.IDENTIFY
    with pytest.raises(RefillError):
        s.enter_withdrawn("10")
    assert counts(clinic) == before


def test_unregistered_pump_is_refused(clinic: ClinicService) -> None:
    reading = replace(pump_reading(clinic), pump_serial="SIM0000007")
    with pytest.raises(UnknownPump):
        session(clinic).identify(reading)


def test_expected_residual_comes_from_the_last_fill_and_the_program_since(
    clinic: ClinicService,
) -> None:
    ident = session(clinic).identify(pump_reading(clinic))
    fill = last_refill(clinic)
    res = ident.residual
    assert res.basis == "last refill" and res.last_refill == fill
    assert res.fill_ul == fill.added_ul and res.filled_at == fill.at
    assert res.expected_residual_ul == hand_expected_residual(clinic)
    assert res.pump_estimate_ul == 29_000
    text = "\n".join(res.explanation())
    assert "Last fill: 40.00 mL" in text and "Expected residual = 40.00 mL -" in text
    # Each moment as every screen writes one: UTC unless given the clinic's zone.
    utc, local = fill.at.astimezone(UTC), fill.at.astimezone(LONDON)
    assert f"Last fill: 40.00 mL on {fmt_day(utc.date())} {utc:%H:%M} UTC." in text
    in_london = "\n".join(res.explanation(LONDON))
    assert f"on {fmt_day(local.date())} {local:%H:%M} {local.tzname()}." in in_london


def test_boluses_in_the_pump_log_count_in_the_expected_residual(clinic: ClinicService) -> None:
    fill = last_refill(clinic)
    boluses = [
        PumpEvent(
            SERIAL,
            100 + i,
            fill.at + timedelta(days=i + 1),
            "patient_bolus",
            {"dose_ng": 25_000, "duration_min": 10},
        )
        for i in range(4)
    ]
    ident = session(clinic).identify(pump_reading(clinic), boluses)
    # 4 x 25 mcg at 2000 mcg/mL = 50 uL more delivered
    assert ident.residual.expected_residual_ul == hand_expected_residual(clinic) - 50


def test_program_changes_since_the_fill_are_integrated_piecewise(clinic: ClinicService) -> None:
    fill = last_refill(clinic)
    reading = pump_reading(clinic)
    old_dose = Fraction(reading.program.daily_dose_mcg)
    changed = replace(reading.program, daily_dose_mcg=Decimal(1000))
    # A reading five days ago, after every other one, shows a higher dose (changed elsewhere).
    mid = replace(reading, at=NOW - timedelta(days=5), program=changed)
    owner = pid(clinic, "Okafor")
    clinic.store.add_reading(mid, DEMO_USER, patient_id=owner)
    ident = session(clinic).identify(replace(reading, program=changed))
    seconds_old = int((mid.at - fill.at).total_seconds())
    seconds_new = 5 * 86_400
    delivered = (old_dose * seconds_old + 1000 * seconds_new) / 86_400 * 1000 / 2000
    assert ident.residual.expected_residual_ul == round(fill.added_ul - delivered)
    assert len(ident.residual.segments) == 2


def test_identify_shows_the_pumps_alarms_and_a_concentration_that_disagrees_with_records(
    clinic: ClinicService,
) -> None:
    reading = pump_reading(clinic, concentration_mcg_ml=500, alarms=("low_reservoir",))
    ident = session(clinic).identify(reading)
    joined = " ".join(ident.warnings)
    assert "Active alarms: Low reservoir." in joined
    assert "500 mcg/mL" in joined and "2000 mcg/mL" in joined


# --------------------------------------------------------------------------- step 2: withdraw


def test_withdrawal_within_limits_goes_straight_on(clinic: ClinicService) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{(expected - 500) / 1000:.3f}")
    assert check.discrepancy.discrepancy_ul == -500
    assert not check.needs_acknowledgement and s.step is Step.NEW_DRUG
    assert check.discrepancy_text == "-0.50 mL"


def test_pocket_fill_style_shortfall_must_be_acknowledged_with_a_note(
    clinic: ClinicService,
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{(expected - 6000) / 1000:.3f}")  # 6 mL short on a 40 mL pump
    assert check.needs_acknowledgement
    assert check.discrepancy.direction == dosing.LESS_THAN_EXPECTED
    assert "over-delivered" in check.discrepancy.meaning
    assert "aspiration" in check.discrepancy.meaning
    # Fixed accuracy from the figures: delivered = fill - withdrawn; expected = fill - residual
    fill = last_refill(clinic).added_ul
    assert check.discrepancy.accuracy == Fraction(fill - (expected - 6000), fill - expected)
    assert s.step is Step.WITHDRAW
    with pytest.raises(RefillError):
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError) as err:
        s.acknowledge_discrepancy("   ")
    assert err.value.field == "note"
    s.acknowledge_discrepancy("Aspirated again, no more fluid; Dr Shah informed")
    assert s.step is Step.NEW_DRUG


def test_more_than_expected_is_explained_as_under_delivery_and_withdrawal_risk(
    clinic: ClinicService,
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{min(expected + 5000, 40_000) / 1000:.3f}")
    assert check.needs_acknowledgement
    assert "under-delivered" in check.discrepancy.meaning
    assert "withdrawal" in check.discrepancy.meaning.lower()


def test_small_pump_uses_the_one_ml_threshold(clinic: ClinicService) -> None:
    s = session(clinic, "Hughes")
    s.identify(pump_reading(clinic, "SIM0000002", reservoir_ul=10_000))
    expected = s.identification.residual.expected_residual_ul  # type: ignore[union-attr]
    assert s.enter_withdrawn(f"{(expected - 1100) / 1000:.3f}").needs_acknowledgement


def test_decimal_slip_above_capacity_is_refused_next_to_the_field(clinic: ClinicService) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    with pytest.raises(RefillError) as err:
        s.enter_withdrawn("41.7")
    assert err.value.field == "withdrawn" and "decimal point" in str(err.value)
    for bad in ("4,17x", "", "1e3", "1,000", "-2", "4.1234"):
        with pytest.raises(RefillError) as err:
            s.enter_withdrawn(bad)
        assert err.value.field == "withdrawn"


def test_decimal_slip_ten_times_too_small_gets_a_hint(clinic: ClinicService) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{expected / 10_000:.3f}")  # 2.93 typed for 29.3
    assert check.needs_acknowledgement
    assert "decimal point" in check.slip_hint


# --------------------------------------------------------------------------- step 3: new drug


def test_only_refill_products_of_the_library_are_offered_and_accepted(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    offered = {p.id for p in s.refill_products()}
    assert "lioresal-50" not in offered and "lioresal-2000" in offered
    for product_id in ("lioresal-50", "baclofen-3000", ""):
        with pytest.raises(RefillError) as err:
            s.enter_new_drug(product_id, "A1", date(2028, 1, 1), "40")
        assert err.value.field == "product"


def test_expired_drug_is_refused(clinic: ClinicService) -> None:
    s = at_new_drug(clinic)
    with pytest.raises(RefillError) as err:
        s.enter_new_drug("lioresal-2000", "A1", NOW.date() - timedelta(days=1), "40")
    assert err.value.field == "expiry" and "expired" in str(err.value)
    s.enter_new_drug("lioresal-2000", "A1", NOW.date(), "40")  # usable to the end of its day


def test_drug_expiring_before_the_new_alarm_date_is_flagged_and_must_be_acknowledged(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    check = s.enter_new_drug("lioresal-2000", "A1", NOW.date() + timedelta(days=30), "40")
    assert check.warnings and "expires" in check.warnings[0]
    s.check_concentration()
    s.review()
    with pytest.raises(RefillError):
        s.confirm()
    s.confirm(warnings_acknowledged=True)


def test_overfill_and_empty_volumes_are_refused(clinic: ClinicService) -> None:
    s = at_new_drug(clinic)
    for text in ("40.001", "400", "0", "2.0", "1.5"):
        with pytest.raises(RefillError) as err:
            s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), text)
        assert err.value.field == "added", text
    assert (
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "40").new_drug.added_ul == 40_000
    )


def test_lot_is_required(clinic: ClinicService) -> None:
    s = at_new_drug(clinic)
    with pytest.raises(RefillError) as err:
        s.enter_new_drug("lioresal-2000", "  ", date(2028, 1, 1), "40")
    assert err.value.field == "lot"


def gtin_library() -> object:
    data = json.loads(default_library_path().read_text(encoding="utf-8"))
    for product in data["products"]:
        if product["id"] == "lioresal-2000":
            product["gtins"] = [GTIN]
    return parse_drug_library(json.dumps(data), "gtin library")


def test_scanned_barcode_matches_the_product_by_gtin_when_the_library_has_it(
    tmp_path: Path,
) -> None:
    store = open_demo_store(tmp_path / "g.sqlite", now=NOW)
    clinic = ClinicService(store, gtin_library(), DEMO_NURSE, LONDON)  # type: ignore[arg-type]
    s = at_new_drug(clinic)
    data, product = s.read_barcode(f"]d201{GTIN}17270300\x1d10AB12345\x1d21SN42")
    assert product is not None and product.id == "lioresal-2000"
    assert data.lot == "AB12345" and data.expiry == date(2027, 3, 31) and data.serial == "SN42"


def test_scanned_barcode_without_library_gtins_leaves_the_choice_and_records_the_gtin(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    data, product = s.read_barcode(f"(01){GTIN}(17)280131(10)AB12345")
    assert product is None and data.gtin == GTIN
    s.enter_new_drug("lioresal-2000", data.lot or "", data.expiry or date.min, "40", gtin=data.gtin)
    s.check_concentration()
    s.review()
    s.confirm()
    s.mark_sent()
    outcome = s.record_update("succeeded", "ok", Status(40_000, 2000, "Lioresal Intrathecal"))
    assert GTIN in outcome.refill.note


def test_barcode_with_a_wrong_check_digit_is_refused(clinic: ClinicService) -> None:
    s = at_new_drug(clinic)
    with pytest.raises(RefillError) as err:
        s.read_barcode("(01)09506000134353(17)270331(10)AB12345")
    assert err.value.field == "product" and "check digit" in str(err.value)


# --------------------------------------------------------------------------- step 4: concentration


def prepared(
    role: Role = Role.CLINICIAN,
    conc: int = 500,
    serial: str = SERIAL,
    program: object = None,
    clinic: ClinicService | None = None,
) -> PreparedProgram:
    """A program prepared and stored, as the refill reads it from the store (the stamp of
    who prepared it is the signed-in user's)."""
    assert clinic is not None
    who = User("Dr Shah" if role is Role.CLINICIAN else "Nurse Jones", role)
    return clinic.store.add_prepared_program(
        PreparedProgram(
            pump_serial=serial,
            prepared_at=NOW - timedelta(hours=1),
            program=program or pump_reading(clinic).program,  # type: ignore[arg-type]
            concentration_mcg_ml=conc,
            reason="Lower concentration for finer steps",
        ),
        who,
    )


def test_a_different_concentration_without_a_prepared_program_is_refused(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError) as err:
        s.check_concentration()
    assert "prescription" in str(err.value) and s.step is Step.CONCENTRATION
    with pytest.raises(RefillError):
        s.review()


def test_a_program_prepared_by_a_nurse_does_not_allow_a_concentration_change(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError) as err:
        s.check_concentration(prepared(Role.NURSE, clinic=clinic))
    assert "clinician" in str(err.value)


def test_a_program_prepared_for_another_concentration_or_pump_is_refused(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError):
        s.check_concentration(prepared(conc=1000, clinic=clinic))
    other = prepared(serial="NG2H41877", clinic=clinic)
    with pytest.raises(RefillError):
        s.check_concentration(other)


def test_the_refill_reads_the_prepared_program_from_the_store(clinic: ClinicService) -> None:
    """Issue 11, item 8: a withdrawn, stale or unstored program cannot carry a change."""
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    good = prepared(clinic=clinic)
    forged = replace(good, id=None, prepared_by="Dr Claims", prepared_role=Role.CLINICIAN)
    with pytest.raises(RefillError, match="not the open one on record"):
        s.check_concentration(forged)
    assert good.id is not None
    clinic.store.withdraw_prepared_program(good.id, DEMO_NURSE, "patient declined the change")
    with pytest.raises(RefillError, match="not the open one on record"):
        s.check_concentration(good)
    old = prepared(clinic=clinic)
    stale = RefillSession(clinic, pid(clinic, "Okafor"), now=lambda: NOW + timedelta(days=45))
    assert old.prepared_at == NOW - timedelta(hours=1)
    with pytest.raises(RefillError, match="older than 30 days"):
        stale._open_prepared(s._ident(), old)


def test_concentration_change_with_a_clinicians_program_computes_and_sends_the_bridge(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    prep = prepared(clinic=clinic)
    check = s.check_concentration(prep)
    pump = clinic.store.get_pump(SERIAL)
    assert pump is not None
    dead = Decimal(pump.pump_dead_volume_ul) + pump.catheter_length_cm * pump.catheter_ul_per_cm
    dose = Fraction(prep.program.daily_dose_mcg)
    # bridge: dead volume at the old concentration's rate (dose / 2000 mL a day)
    hours = Fraction(dead) / 1000 / (dose / 2000) * 24
    assert check.changed and check.bridge is not None
    assert check.bridge_volume_ul == math.ceil(dead)
    assert check.bridge_duration_min == math.ceil(hours * 60)
    assert "Bridge bolus" in check.message
    s.review()
    update = s.confirm()
    assert (update.bridge_volume_ul, update.bridge_duration_min) == (
        math.ceil(dead),
        math.ceil(hours * 60),
    )
    assert update.concentration_mcg_ml == 500


def test_same_concentration_needs_no_bridge(clinic: ClinicService) -> None:
    s = at_review(clinic)
    update = s.confirm()
    assert update.bridge_volume_ul == 0 and update.concentration_mcg_ml == 2000


# --------------------------------------------------------------------------- step 5: review


def test_review_shows_current_against_new_with_an_independently_counted_refill_date(
    clinic: ClinicService,
) -> None:
    s = at_review(clinic)
    review = s.review()
    rows = {r.label: r for r in review.rows}
    assert rows["Reservoir volume"].current == "29.00 mL"
    assert rows["Reservoir volume"].new == "40.00 mL"
    assert rows["Concentration"].current == rows["Concentration"].new == "2000 mcg/mL"
    assert rows["Drug"].new == "Lioresal Intrathecal"
    # By hand: dose + every allowed patient bolus a day at 2000 mcg/mL, 38 mL to the alarm.
    program = pump_reading(clinic).program
    assert program.patient_bolus is not None
    bolus = program.patient_bolus
    alarm = oracle.alarm_instant(
        NOW, 40_000, 2_000, program.daily_dose_mcg, bolus.dose_mcg, bolus.max_per_day, 2000
    )
    alarm_day = alarm.astimezone(LONDON).date()
    refill_by = oracle.refill_by(
        alarm, LONDON, 7, NOW.astimezone(LONDON).date(), 180, expiry=date(2028, 1, 31)
    )
    assert rows["Low-reservoir alarm"].new == fmt_day(alarm_day)
    assert rows["Refill by"].new == fmt_day(refill_by)
    assert review.forecast_after.refill_by == refill_by


def test_going_back_discards_the_confirmation(clinic: ClinicService) -> None:
    s = at_review(clinic)
    s.confirm()
    s.enter_new_drug("lioresal-2000", "B2", date(2028, 1, 1), "39")
    with pytest.raises(RefillError):
        s.reservoir_update()


# --------------------------------------------------------------------------- cancel


def test_cancel_before_the_update_changes_no_record(clinic: ClinicService) -> None:
    before = counts(clinic)
    s = at_review(clinic)
    s.confirm()
    s.cancel()
    assert counts(clinic) == before
    with pytest.raises(RefillError):
        s.reservoir_update()
    with pytest.raises(RefillError):
        s.record_update("succeeded", "ok", Status(40_000, 2000, "Lioresal Intrathecal"))
    assert counts(clinic) == before


def test_update_is_not_available_before_confirmation(clinic: ClinicService) -> None:
    s = at_review(clinic)
    with pytest.raises(RefillError):
        s.reservoir_update()
    with pytest.raises(RefillError):
        s.mark_sent()


def test_once_sent_the_refill_cannot_be_cancelled(clinic: ClinicService) -> None:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    with pytest.raises(RefillError):
        s.cancel()


# --------------------------------------------------------------------------- steps 6 and 7


def test_confirmed_refill_is_stored_whole_with_who_and_when(clinic: ClinicService) -> None:
    before = counts(clinic)
    expected = hand_expected_residual(clinic)
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    outcome = s.record_update(
        "succeeded",
        "The pump recorded the refill.",
        Status(39_990, 2000, "Lioresal Intrathecal", read_at=NOW + timedelta(minutes=2)),
    )
    assert outcome.status == "confirmed" and outcome.stored_by == DEMO_NURSE.name
    after = counts(clinic)
    assert after["refills"] == before["refills"] + 1
    assert after["readings"] == before["readings"] + 2  # the identify reading and the read-back
    assert after["audit_log"] > before["audit_log"]
    stored = last_refill(clinic)
    assert (stored.added_ul, stored.lot, stored.status) == (40_000, "AB12345", "confirmed")
    assert stored.expected_residual_ul == expected
    latest = clinic.latest_reading(pid(clinic, "Okafor"), SERIAL)
    assert latest is not None and latest.reservoir_ul == 39_990
    printed = s.printable()
    assert printed.performed_by.startswith(DEMO_NURSE.name) and printed.lot == "AB12345"
    assert printed.added == "40.00 mL" and printed.patient_name == "OKAFOR, Grace"


def test_read_back_that_differs_keeps_the_refill_pending(clinic: ClinicService) -> None:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    outcome = s.record_update("succeeded", "ok", Status(30_000, 2000, "Lioresal Intrathecal"))
    assert outcome.status == "pending"


def test_uncertain_update_is_kept_pending_with_all_its_data(clinic: ClinicService) -> None:
    expected = hand_expected_residual(clinic)
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    outcome = s.record_update("uncertain", "The refill was sent but could not be read back.")
    stored = last_refill(clinic)
    assert outcome.status == stored.status == "pending"
    assert (stored.withdrawn_ul, stored.added_ul, stored.lot) == (expected, 40_000, "AB12345")
    assert "could not be read back" in stored.note


def test_failed_update_is_stored_as_failed_so_the_drug_given_is_not_lost(
    clinic: ClinicService,
) -> None:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    assert s.record_update("failed", "Nothing was changed.").status == "failed"
    assert last_refill(clinic).status == "failed"


def test_refill_and_its_reading_are_saved_all_or_nothing(
    clinic: ClinicService, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = counts(clinic)
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(clinic.store, "add_refill", broken)
    with pytest.raises(RuntimeError):
        s.record_update("succeeded", "ok", Status(40_000, 2000, "Lioresal Intrathecal"))
    assert counts(clinic) == before


# --------------------------------------------------------------------------- pending refills


def pending_refill(clinic: ClinicService) -> Refill:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    return s.record_update("uncertain", "link lost").refill


def test_pending_refill_confirmed_by_the_pumps_log(clinic: ClinicService) -> None:
    refill = pending_refill(clinic)
    later = NOW + timedelta(hours=1)
    reading = pump_reading(clinic, at=later, pump_clock=later, reservoir_ul=20_000)
    event = PumpEvent(
        SERIAL,
        500,
        NOW + timedelta(minutes=1),
        "refill",
        {"reservoir_ul": 40_000, "concentration_mcg_ml": 2000},
    )
    [res] = resolve_pending_refills(
        clinic.store, DEMO_NURSE, reading, [event], patient_id=pid(clinic, "Okafor"), tz=LONDON
    )
    assert res.status == "confirmed" and res.before.id == refill.id
    local = event.at.astimezone(LONDON)  # the log's time as every screen writes a moment
    assert f"at {fmt_day(local.date())} {local:%H:%M} {local.tzname()}." in res.reason
    assert last_refill(clinic).status == "confirmed"


def test_pending_refill_confirmed_by_the_reservoir_estimate(clinic: ClinicService) -> None:
    pending_refill(clinic)
    later = NOW + timedelta(days=2)
    reading = pump_reading(clinic, at=later, pump_clock=later, reservoir_ul=39_400)
    [res] = resolve_pending_refills(
        clinic.store, DEMO_NURSE, reading, patient_id=pid(clinic, "Okafor")
    )
    assert res.status == "confirmed"


def test_pending_refill_failed_when_the_pump_kept_its_old_estimate(clinic: ClinicService) -> None:
    pending_refill(clinic)
    later = NOW + timedelta(hours=1)
    reading = pump_reading(clinic, at=later, pump_clock=later, reservoir_ul=28_990)
    [res] = resolve_pending_refills(
        clinic.store, DEMO_NURSE, reading, patient_id=pid(clinic, "Okafor")
    )
    assert res.status == "failed" and "Update the pump again" in res.reason
    # The pending row stays in history; the effective record is the resolution.
    history = clinic.store.patient_history(pid(clinic, "Okafor"))
    assert not [r for r in history.refills if r.status == "pending"]


def test_pending_refill_failed_when_the_pump_has_another_concentration(
    clinic: ClinicService,
) -> None:
    pending_refill(clinic)
    later = NOW + timedelta(hours=1)
    reading = pump_reading(
        clinic, at=later, pump_clock=later, reservoir_ul=40_000, concentration_mcg_ml=500
    )
    [res] = resolve_pending_refills(
        clinic.store, DEMO_NURSE, reading, patient_id=pid(clinic, "Okafor")
    )
    assert res.status == "failed"


def test_next_refill_session_resolves_a_pending_refill_at_identify(clinic: ClinicService) -> None:
    pending_refill(clinic)
    later = NOW + timedelta(days=1)
    s = RefillSession(clinic, pid(clinic, "Okafor"), now=lambda: later)
    ident = s.identify(pump_reading(clinic, at=later, pump_clock=later, reservoir_ul=39_700))
    assert len(ident.pending) == 1
    [res] = s.resolve_pending()
    assert res.status == "confirmed"
    assert s.reading_saved


def test_refill_by_is_capped_by_the_new_products_maximum_interval(tmp_path: Path) -> None:
    data = json.loads(default_library_path().read_text(encoding="utf-8"))
    intervals = {"lioresal-2000": 60, "lioresal-500": 30}
    for product in data["products"]:
        product["max_refill_interval_days"] = intervals.get(product["id"], 180)
    library = parse_drug_library(json.dumps(data), "short intervals")
    store = open_demo_store(tmp_path / "i.sqlite", now=NOW)
    clinic = ClinicService(store, library, DEMO_NURSE, LONDON)
    s = at_review(clinic)
    review = s.review()
    assert review.forecast_after.refill_by == NOW.astimezone(LONDON).date() + timedelta(days=60)
    assert review.forecast_after.governing is not None
    assert review.forecast_after.governing.kind is Bound.INTERVAL
    assert "60 days from the fill on 21 Nov 2026" in review.forecast_after.refill_by_reason


# --------------------------------------------------------------------------- safety review fixes


def test_concentration_change_forecasts_from_the_running_program_not_the_prepared_one(
    clinic: ClinicService,
) -> None:
    """The refill never sends the prepared program: the pump keeps its current one, so the
    daily dose, the dates and the bridge come from that program."""
    running = pump_reading(clinic).program
    assert running.patient_bolus is not None
    doubled = replace(running, daily_dose_mcg=running.daily_dose_mcg * 2)
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    check = s.check_concentration(prepared(program=doubled, clinic=clinic))
    # Bridge at the running program's rate: dead volume / (running dose / 2000) a day.
    pump = clinic.store.get_pump(SERIAL)
    assert pump is not None
    dead = Decimal(pump.pump_dead_volume_ul) + pump.catheter_length_cm * pump.catheter_ul_per_cm
    hours = Fraction(dead) / 1000 / (Fraction(running.daily_dose_mcg) / 2000) * 24
    assert check.bridge_duration_min == math.ceil(hours * 60)
    assert check.program_after == running
    review = s.review()
    rows = {r.label: r for r in review.rows}
    dose_text = f"{running.daily_dose_mcg.normalize():f}"
    assert rows["Daily dose"].new == rows["Daily dose"].current
    assert dose_text in rows["Daily dose"].new
    prepared_row = rows["Prepared program (not sent)"]
    assert "to be sent next by a clinician from Change program" in prepared_row.new
    assert f"{(running.daily_dose_mcg * 2).normalize():f}" in prepared_row.new
    assert any("does not send the prepared program" in n for n in review.notes)
    # By hand: the running dose + every allowed bolus a day, at 500 mcg/mL, 38 mL to alarm;
    # the bridge then pushes the dead volume at the old (2000 mcg/mL) drug's rate, a quarter
    # of the volume per mcg, so the alarm comes later by up to 3 x dead volume's worth of
    # days, never earlier (checked exactly in tests/itbconsole/test_forecast.py).
    bolus = running.patient_bolus
    unbridged = oracle.alarm_instant(
        NOW, 40_000, 2_000, running.daily_dose_mcg, bolus.dose_mcg, bolus.max_per_day, 500
    )
    per_day_ul = (
        Fraction(running.daily_dose_mcg) + Fraction(bolus.dose_mcg) * bolus.max_per_day
    ) * 2
    delay = timedelta(days=float(3 * Fraction(dead) / per_day_ul) + 1)
    after = review.forecast_after
    assert after.alarm_at is not None
    assert unbridged <= after.alarm_at <= unbridged + delay
    alarm_day = after.alarm_at.astimezone(LONDON).date()
    assert rows["Low-reservoir alarm"].new == fmt_day(alarm_day)
    assert after.refill_by == alarm_day - timedelta(days=7)


def test_not_sent_note_is_shown_whenever_a_prepared_program_is_involved(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    s.check_concentration(prepared(clinic=clinic))  # same program as the pump's
    review = s.review()
    assert any("does not send the prepared program" in n for n in review.notes)
    assert any(r.label == "Prepared program (not sent)" for r in review.rows)


def test_concentration_change_is_refused_without_a_recorded_dead_volume(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    ident = s.identification
    assert ident is not None
    no_dead = replace(ident.pump, pump_dead_volume_ul=0, catheter_length_cm=Decimal(0))
    s.identification = replace(ident, pump=no_dead)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError) as err:
        s.check_concentration(prepared(clinic=clinic))
    assert "Record the pump's dead volume" in str(err.value)
    assert s.concentration is None and s.step is Step.CONCENTRATION


def test_concentration_mismatch_at_identify_blocks_until_explained_and_is_acknowledged(
    clinic: ClinicService,
) -> None:
    s = session(clinic)
    ident = s.identify(pump_reading(clinic, concentration_mcg_ml=500))  # records say 2000
    assert ident.concentration_mismatch
    expected = ident.residual.expected_residual_ul
    with pytest.raises(RefillError):
        s.enter_withdrawn(f"{expected / 1000:.3f}")
    with pytest.raises(RefillError) as err:
        s.explain_concentration_mismatch("  ")
    assert err.value.field == "mismatch_note"
    s.explain_concentration_mismatch("Vial log checked: 500 mcg/mL since clinic 2 Oct; Dr Shah")
    s.enter_withdrawn(f"{expected / 1000:.3f}")
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    s.check_concentration()
    review = s.review()
    assert any("2000 mcg/mL" in w for w in review.to_acknowledge)
    with pytest.raises(RefillError) as err:
        s.confirm()
    assert err.value.field == "warnings"
    s.confirm(warnings_acknowledged=True)
    s.mark_sent()
    outcome = s.record_update("succeeded", "ok", Status(40_000, 500, "Lioresal Intrathecal"))
    assert "Vial log checked" in outcome.refill.note


def test_flex_delivery_is_counted_on_the_pump_clock_utc_across_the_clock_change(
    clinic: ClinicService,
) -> None:
    """UK clocks go forward at 01:00 UTC on 29 March 2026. The pump's clock stays on UTC, so
    its 00:00-06:00 high-rate step runs 00:00-06:00 UTC on both days: 12 h high, 36 h low."""
    flex = Program(
        Mode.FLEX,
        flex_steps=(FlexStep(0, Decimal(100)), FlexStep(360, Decimal(10))),
    )
    fill_at = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    at = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
    owner = pid(clinic, "Okafor")
    clinic.store.add_refill(
        Refill(
            SERIAL,
            fill_at,
            5000,
            5000,
            20_000,
            "Lioresal Intrathecal",
            2000,
            "F1",
            date(2028, 1, 1),
        ),
        DEMO_USER,
        patient_id=owner,
    )
    clinic.store.add_reading(
        pump_reading(clinic, at=fill_at, pump_clock=fill_at, program=flex),
        DEMO_USER,
        patient_id=owner,
    )
    ident = session(clinic).identify(pump_reading(clinic, at=at, pump_clock=at, program=flex))
    delivered_mcg = 12 * 100 + 36 * 10  # on the clinic's wall clock it would be 11 h + 37 h
    assert ident.residual.expected_residual_ul == 20_000 - delivered_mcg * 1000 // 2000


def test_added_volume_far_below_the_usual_fill_is_confirmed_where_it_is_typed(
    clinic: ClinicService,
) -> None:
    """4.0 typed for 40.0: refused at step 3 next to its own tick box, not left to the
    review's shared acknowledgement; once confirmed it is said at the review and recorded."""
    s = at_new_drug(clinic)
    with pytest.raises(RefillError) as err:
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "4.0")  # for 40.0
    assert err.value.field == "added_check" and "40.00 mL meant" in str(err.value)
    assert s.step is Step.NEW_DRUG
    check = s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "4.0", volume_checked=True)
    assert not any("decimal point" in w for w in check.warnings)
    assert any("decimal point" in c for c in check.checked)
    s.check_concentration()
    review = s.review()
    assert not any("decimal point" in w for w in review.to_acknowledge)
    assert any("confirmed at step 3" in w for w in review.warnings)
    s.confirm()  # nothing left to acknowledge at the review
    assert (
        not at_new_drug(clinic)
        .enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "20.0")
        .checked
    )


def test_added_volume_plus_fluid_left_after_an_incomplete_aspiration_cannot_overfill(
    clinic: ClinicService,
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    s.enter_withdrawn(f"{(expected - 6000) / 1000:.3f}")  # 6 mL may still be in the pump
    s.acknowledge_discrepancy("Aspiration difficult; Dr Shah informed")
    with pytest.raises(RefillError) as err:
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "40")
    assert err.value.field == "added" and "34.00 mL" in str(err.value)
    with pytest.raises(RefillError):
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "34.001")
    assert s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "34").new_drug.added_ul == (
        34_000
    )


def test_a_shortfall_within_the_clinics_limits_still_allows_a_full_fill(
    clinic: ClinicService,
) -> None:
    """Scatter within the limits is not fluid left behind: a routine full fill goes ahead."""
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{(expected - 300) / 1000:.3f}")  # 0.3 mL short: within limits
    assert not check.discrepancy.flag
    assert (
        s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "40").new_drug.added_ul == 40_000
    )


def test_less_than_expected_mentions_a_possible_pocket_fill_of_the_previous_refill(
    clinic: ClinicService,
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    expected = hand_expected_residual(clinic)
    check = s.enter_withdrawn(f"{(expected - 6000) / 1000:.3f}")
    assert "pocket fill" in check.meaning and "previous refill" in check.meaning
    s.acknowledge_discrepancy("Aspiration checked; Dr Shah informed")
    s.enter_new_drug("lioresal-2000", "A1", date(2028, 1, 1), "30")
    s.check_concentration()
    s.review()
    s.confirm()
    s.mark_sent()
    s.record_update("succeeded", "ok", Status(30_000, 2000, "Lioresal Intrathecal"))
    assert "pocket fill" in s.printable().discrepancy_meaning


def test_not_sent_is_refused_once_the_write_may_have_started(clinic: ClinicService) -> None:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    s.not_sent()  # failed before the write: may try again
    assert not s.update_sent
    s.mark_sent()
    s.begin_write()
    with pytest.raises(RefillError):
        s.not_sent()
    assert s.update_sent
    with pytest.raises(RefillError):
        s.cancel()


def test_a_bridge_needs_the_catheter_recorded_not_only_the_pump(clinic: ClinicService) -> None:
    """Issue 17: the catheter's length and volume per cm must be entered before a bridge is
    computed; the pump's internal volume alone is not the dead volume."""
    s = at_new_drug(clinic)
    ident = s.identification
    assert ident is not None
    pump_only = replace(ident.pump, catheter_length_cm=Decimal(0))
    assert pump_only.dead_volume_ul > 0  # the internal volume is still there
    s.identification = replace(ident, pump=pump_only)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    with pytest.raises(RefillError, match="catheter details"):
        s.check_concentration(prepared(clinic=clinic))


# --------------------------------------------------------------------------- the pump write


class _RecordingClient:
    """Counts what would go on the wire; answers the reservoir write like a pump."""

    def __init__(self) -> None:
        self.writes: list[tuple[object, ...]] = []

    def update_reservoir(self, *args: object, **kw: object) -> object:
        from drivers.pump_client import WriteOutcome, WriteResult

        self.writes.append(args)
        volume, conc, name = args[0], args[1], args[2]
        return WriteResult(
            WriteOutcome.SUCCEEDED,
            "recorded",
            Status(volume, conc, name),  # type: ignore[arg-type]
        )


def test_the_pump_write_is_refused_unless_confirmed_sent_and_by_the_refills_nurse(
    clinic: ClinicService,
) -> None:
    client = _RecordingClient()
    s = at_review(clinic)
    with pytest.raises(RefillError):  # not confirmed
        s.write_update(client, clinic.user)  # type: ignore[arg-type]
    s.confirm()
    with pytest.raises(RefillError, match="not marked as sent"):
        s.write_update(client, clinic.user)  # type: ignore[arg-type]
    s.mark_sent()
    other = User("Noor Other", Role.NURSE)
    with pytest.raises(RefillError, match="started by"):
        s.write_update(client, other)  # type: ignore[arg-type]
    assert client.writes == [] and not s.write_started
    outcome, _message, read_back = s.write_update(client, clinic.user)  # type: ignore[arg-type]
    assert outcome == "succeeded" and len(client.writes) == 1 and s.write_started
    assert read_back is not None and s.compare_read_back(read_back)


def test_an_interrogation_with_a_broken_event_download_is_not_identified(
    clinic: ClinicService,
) -> None:
    """The expected residual counts the boluses in the pump's log: half a log would make
    the comparison with the withdrawn volume wrong."""
    s = session(clinic)
    with pytest.raises(RefillError, match="Interrogate again"):
        s.identify(pump_reading(clinic), events_missing=40, events_error="too noisy")
    assert s.identification is None and s.step is Step.IDENTIFY
    assert s.identify(pump_reading(clinic)) is not None


def recorded(clinic: ClinicService) -> RefillSession:
    s = at_review(clinic)
    s.confirm()
    s.mark_sent()
    s.record_update(
        "succeeded",
        "The pump recorded the refill.",
        Status(40_000, 2000, "Lioresal Intrathecal", read_at=NOW + timedelta(minutes=2)),
    )
    return s


PATEL = "SIM0000003"  # past ERI: End of Service, reported by the pump, sets the date


def patel_recorded(clinic: ClinicService) -> RefillSession:
    """Patel's refill with the pump's ERI alarm on, recorded and confirmed."""
    s = session(clinic, "Patel")
    ident = s.identify(pump_reading(clinic, PATEL, alarms=("eri",)))
    s.enter_withdrawn(f"{ident.residual.expected_residual_ul / 1000:.3f}")
    s.enter_new_drug("lioresal-2000", "ab12345", date(2028, 1, 31), "40.0")
    s.check_concentration()
    s.review()
    s.confirm(warnings_acknowledged=True)
    s.mark_sent()
    s.record_update(
        "succeeded",
        "The pump recorded the refill.",
        Status(40_000, 2000, "Lioresal Intrathecal", read_at=NOW + timedelta(minutes=2), eri=True),
    )
    return s


def test_when_end_of_service_sets_the_date_review_and_record_say_replace_the_pump_by(
    clinic: ClinicService,
) -> None:
    """No refill moves End of Service: the date's row says what it asks for."""
    s = patel_recorded(clinic)
    review = s.review_result
    assert review is not None and review.forecast_after.governing is not None
    assert review.forecast_after.governing.kind is Bound.END_OF_SERVICE
    labels = [row.label for row in review.rows]
    assert "Replace the pump by" in labels and "Refill by" not in labels
    row = next(r for r in review.rows if r.label == "Replace the pump by")
    assert row.new == fmt_day(review.forecast_after.governing.day)
    printed = s.printable()
    assert printed.refill_by_label == "Replace the pump by"
    assert printed.refill_by == row.new


def test_the_pumps_alarms_are_named_by_the_alarm_catalogue_in_review_and_record(
    clinic: ClinicService,
) -> None:
    s = patel_recorded(clinic)
    assert s.review_result is not None
    expected = "Active alarms: Elective Replacement Indicator."
    assert expected in s.review_result.warnings
    assert expected in s.printable().warnings
    assert not any("eri." in w for w in s.printable().warnings)


def test_the_printed_record_has_the_volume_program_doses_and_dates_after_the_refill(
    clinic: ClinicService,
) -> None:
    s = recorded(clinic)
    printed = s.printable()
    after = clinic.forecast_for(SERIAL)  # the stored records' forecast, with this refill
    assert after.alarm_at is not None and after.refill_by is not None
    assert printed.alarm_date == fmt_day(after.alarm_at.astimezone(LONDON).date())
    assert printed.refill_by == fmt_day(after.refill_by)
    assert printed.refill_by_rule == after.refill_by_reason != ""
    assert printed.refill_by_label == "Refill by"  # the reservoir, not the battery, sets it
    assert printed.new_volume == "40.00 mL"  # the reservoir holds what was added
    # Okafor's program, counted by hand: its continuous dose, then every allowed bolus.
    program = pump_reading(clinic).program
    assert program.patient_bolus is not None
    pb = program.patient_bolus
    daily = Fraction(program.daily_dose_mcg)
    boluses = min(pb.max_per_day, 1 + 1439 // pb.lockout_minutes if pb.lockout_minutes else 99)
    maximum = daily + Fraction(pb.dose_mcg) * boluses
    assert printed.program == "Simple continuous, 2000 mcg/mL"
    assert printed.daily_dose == f"{float(daily):.1f} mcg per 24 h"
    assert printed.max_dose == (
        f"{float(maximum):.1f} mcg per 24 h with {boluses} patient boluses of {pb.dose_mcg} mcg"
    )
    assert printed.bridge == "none"


@pytest.mark.parametrize(("user", "role"), [(DEMO_NURSE, "nurse"), (DEMO_USER, "clinician")])
def test_the_record_names_who_performed_the_refill_with_their_own_role(
    tmp_path: Path, user: User, role: str
) -> None:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    clinic = ClinicService(store, load_drug_library(), user, LONDON)
    assert user.role.value == role
    assert recorded(clinic).printable().performed_by == f"{user.name} ({role})"


def test_a_concentration_change_prints_its_bridge_and_the_new_concentration(
    clinic: ClinicService,
) -> None:
    s = at_new_drug(clinic)
    s.enter_new_drug("lioresal-500", "A1", date(2028, 1, 1), "40")
    check = s.check_concentration(prepared(clinic=clinic))
    s.review()
    s.confirm()
    s.mark_sent()
    s.record_update("succeeded", "ok", Status(40_000, 500, "Lioresal Intrathecal"))
    printed = s.printable()
    assert printed.bridge == (
        f"{check.bridge_volume_ul / 1000:.3f} mL over {check.bridge_duration_min} min"
    )
    assert printed.program.endswith(", 500 mcg/mL")


@pytest.mark.parametrize("outcome", ["uncertain", "failed"])
def test_an_unconfirmed_refill_prints_the_dates_the_pump_still_follows(
    clinic: ClinicService, outcome: str
) -> None:
    s = at_review(clinic)
    as_if_confirmed = s.new_drug_check.forecast  # type: ignore[union-attr]
    s.confirm()
    s.mark_sent()
    s.record_update(outcome, "link lost")
    printed = s.printable()
    stored = clinic.forecast_for(SERIAL)  # what the worklist and the Overview show
    assert stored.refill_by is not None and stored.refill_by != as_if_confirmed.refill_by
    assert printed.refill_by == fmt_day(stored.refill_by)
    assert printed.new_volume == (
        "not confirmed: the pump counts 29.00 mL until the update is confirmed"
    )
