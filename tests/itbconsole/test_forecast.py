"""The one forecast (itbconsole.forecast): every finding of the forecast review as a test,
through the clinic service where a screen reads it, each date checked by hand or by the
independent oracle (tests/oracle.py), never by the forecast itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole import forecast as fc
from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramChange,
    Pump,
    Reading,
    Refill,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import expected_residual_for
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.trends import build_trends, load_trends
from tests import oracle

LONDON = ZoneInfo("Europe/London")
NURSE = User("Nia Nurse", Role.NURSE)
CLINICIAN = User("Dr Cal Clinician", Role.CLINICIAN)
ADMIN = User("Ada Admin", Role.ADMINISTRATOR)
SERIAL = "NGP100001"
PRODUCT = "Lioresal Intrathecal"  # 2000 mcg/mL, 180 days in the default library


# --------------------------------------------------------------------------- builders


def pump(**kw: object) -> Pump:
    fields: dict[str, object] = {
        "serial": SERIAL,
        "model": "SynchroMed II 8637-40",
        "reservoir_capacity_ul": 40_000,
        "alarm_volume_ul": 2_000,
        "implant_date": date(2024, 1, 10),
        "pump_dead_volume_ul": 250,
        "catheter_length_cm": Decimal("60"),
        "catheter_ul_per_cm": Decimal("1.5"),
    }
    fields.update(kw)
    return Pump(**fields)  # type: ignore[arg-type]


def reading(
    at: datetime, reservoir_ul: int, program: Program | None = None, **kw: object
) -> Reading:
    fields: dict[str, object] = {
        "pump_serial": SERIAL,
        "at": at,
        "pump_clock": at,
        "reservoir_ul": reservoir_ul,
        "alarm_volume_ul": 2_000,
        "battery_mv": 3_050,
        "eri": False,
        "eos": False,
        "concentration_mcg_ml": 2000,
        "program": program or simple_continuous(100),
    }
    fields.update(kw)
    return Reading(**fields)  # type: ignore[arg-type]


def refill(at: datetime, added_ul: int = 40_000, **kw: object) -> Refill:
    fields: dict[str, object] = {
        "pump_serial": SERIAL,
        "at": at,
        "withdrawn_ul": 2_000,
        "expected_residual_ul": 2_000,
        "added_ul": added_ul,
        "product": PRODUCT,
        "concentration_mcg_ml": 2000,
        "lot": "L1",
        "expiry": date(2028, 1, 1),
        "status": "confirmed",
    }
    fields.update(kw)
    return Refill(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = Store.open(tmp_path / "f.sqlite")
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H100001", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(pump(), patient.id, NURSE)
    return ClinicService(store, load_drug_library(), NURSE, LONDON)


def pid(clinic: ClinicService) -> int:
    return clinic.store.patients_overview(date(2026, 1, 1))[0].patient.id or 0


def surfaces(clinic: ClinicService, now: datetime) -> tuple[date | None, date | None, date | None]:
    """Refill-by on the list, the Overview and the clinic-wide due query."""
    row = clinic.patient_row(pid(clinic), now=now)
    ov = clinic.overview(pid(clinic), now=now)
    assert row is not None and ov is not None
    due = clinic.refill_due(date(2100, 1, 1), now=now)
    return row.refill_by, ov.refill_by, due[0].refill_by if due else None


# --------------------------------------------------------------------------- finding 1


@pytest.mark.parametrize("days_later", [100, 170])
def test_maximum_interval_counts_from_the_fill_not_the_interrogation(
    clinic: ClinicService, days_later: int
) -> None:
    fill_at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(fill_at), NURSE)
    at = fill_at + timedelta(days=days_later)
    clinic.store.add_reading(reading(at, 40_000 - days_later * 50), NURSE)
    truth = date(2026, 1, 5) + timedelta(days=180)
    assert truth == date(2026, 7, 4)
    assert surfaces(clinic, at) == (truth, truth, truth)
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.forecast is not None
    assert row.forecast.governing is fc.Bound.INTERVAL
    assert "180 days from the fill on 05 Jan 2026" in row.forecast.governing_text


# --------------------------------------------------------------------------- finding 2


def test_trends_show_the_pumps_own_eri_and_end_of_service_dates(clinic: ClinicService) -> None:
    at = datetime(2026, 2, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=30)), NURSE)
    clinic.store.add_reading(
        reading(
            at,
            30_000,
            eri=True,
            alarms=("eri",),
            eri_date=date(2026, 1, 20),
            eos_date=date(2026, 4, 20),
        ),
        NURSE,
    )
    f = clinic.forecast_for(SERIAL)
    assert f.end_of_service is not None and f.end_of_service.day == date(2026, 4, 20)
    assert f.end_of_service.source is fc.DateSource.REPORTED
    history = clinic.store.patient_history(pid(clinic))
    trends = build_trends(history, LONDON, at, forecast=f)
    assert trends.battery is not None
    out = trends.battery.outlook
    assert out.eos_at is not None and out.eos_at.astimezone(LONDON).date() == date(2026, 4, 20)
    assert out.eri_at is not None and out.eri_at.astimezone(LONDON).date() == date(2026, 1, 20)
    assert not out.eos_projected
    # The Trends tab loads through the clinic service's forecast, as every screen does.
    loaded = load_trends(
        history, clinic.store.find_pump_owner, LONDON, at, forecast_of=clinic.forecast_for
    )
    assert loaded.battery is not None and loaded.battery.outlook.eos_at == out.eos_at


def test_end_of_service_projected_from_the_last_reading_before_eri(clinic: ClinicService) -> None:
    """ERI came between two readings: End of Service is projected from the earlier one,
    so the date shown can only be early, and it is labelled as a projection."""
    t = datetime(2026, 1, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(t - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(t, 39_000), NURSE)
    clinic.store.add_reading(reading(t + timedelta(days=40), 35_000, eri=True), NURSE)
    f = clinic.forecast_for(SERIAL)
    assert f.end_of_service is not None
    assert f.end_of_service.day == date(2026, 1, 1) + timedelta(days=90)
    assert f.end_of_service.projected and "last without it" in f.end_of_service.note


# --------------------------------------------------------------------------- finding 3


def test_alarm_after_a_refill_with_a_bridge_counts_the_bridge() -> None:
    """500 -> 2000 mcg/mL at 500 mcg/day with a 340 µL dead volume: the bridge pushes the
    dead volume at 1 mL/day (the old drug's rate) before 0.25 mL/day."""
    t = datetime(2026, 3, 10, 12, tzinfo=UTC)
    facts = fc.PumpFacts(
        SERIAL,
        2_000,
        readings=(
            reading(
                t - timedelta(hours=1), 2_500, simple_continuous(500), concentration_mcg_ml=500
            ),
        ),
        fills=(
            fc.Fill(
                t,
                40_000,
                2000,
                PRODUCT,
                date(2028, 1, 1),
                180,
                bridge_ul=340,
                bridge_from_mcg_ml=500,
            ),
        ),
    )
    f = fc.forecast(facts, ClinicSettings().with_tz(LONDON))
    # By hand: 0.34 days for the bridge, then (40 - 0.34 - 2) mL at 0.25 mL/day.
    seconds = Fraction(340, 1000) * 86_400 + Fraction(40_000 - 340 - 2_000, 250) * 86_400
    assert f.alarm_at == t + timedelta(seconds=int(seconds))
    no_bridge = fc.forecast(
        replace(facts, fills=(replace(facts.fills[0], bridge_ul=0, bridge_from_mcg_ml=0),)),
        ClinicSettings().with_tz(LONDON),
    )
    assert no_bridge.alarm_at is not None and f.alarm_at is not None
    # The bridge brings the alarm 0.34 x (1 - 0.25) / 0.25 days = 24.5 h earlier.
    assert no_bridge.alarm_at - f.alarm_at == timedelta(hours=24, minutes=28, seconds=48)


# --------------------------------------------------------------------------- finding 4


def test_vial_expiry_sets_the_refill_date_everywhere(clinic: ClinicService) -> None:
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at, expiry=date(2027, 1, 15)), NURSE)
    clinic.store.add_reading(
        reading(at + timedelta(minutes=5), 40_000, simple_continuous(500)), NURSE
    )
    assert surfaces(clinic, at) == (date(2027, 1, 15),) * 3
    ov = clinic.overview(pid(clinic), now=at)
    assert ov is not None and ov.refill_by_reason == "vial expires 15 Jan 2027"


# --------------------------------------------------------------------------- finding 5


def test_end_of_service_bounds_the_refill_date_and_the_status(clinic: ClinicService) -> None:
    at = datetime(2026, 12, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=5)), NURSE)
    clinic.store.add_reading(
        reading(
            at,
            39_000,
            simple_continuous(500),
            eri=True,
            eri_date=date(2026, 9, 30),
            eos_date=date(2026, 12, 29),
        ),
        NURSE,
    )
    # The pump may stop on its End of Service day: the last safe day is the day before.
    assert surfaces(clinic, at) == (date(2026, 12, 28),) * 3
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.status is not None
    # 27 days away, not yet within 14: due soon all the same, the pump is past ERI.
    assert row.status.status is fc.Status.DUE_SOON
    assert "Past ERI: book the pump replacement before End of Service on 29 Dec 2026" in (
        row.status.reason
    )
    # No refill moves End of Service: the words say to replace the pump, not to refill it.
    assert "Replace the pump by 28 Dec 2026 (End of Service on 29 Dec 2026" in row.status.reason
    soon = clinic.patient_row(pid(clinic), now=datetime(2026, 12, 28, 9, tzinfo=UTC))
    assert soon is not None and soon.status is not None
    assert soon.status.status is fc.Status.DUE_SOON
    assert "Replace the pump by 28 Dec 2026, today" in soon.status.reason
    on_the_day = clinic.patient_row(pid(clinic), now=datetime(2026, 12, 29, 9, tzinfo=UTC))
    assert on_the_day is not None and on_the_day.status is not None
    assert on_the_day.status.status is fc.Status.NOT_DELIVERING
    assert "End of Service date 29 Dec 2026 has come" in on_the_day.status.reason


def test_a_forecast_stored_under_older_rules_is_not_used(clinic: ClinicService) -> None:
    """Stored forecasts carry the rules' version in their key: after an update that changes
    a rule, the dates made by the old rule (here a refill-by on the End of Service day
    itself, one day later than the truth) are never shown, they are made again."""
    at = datetime(2026, 12, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=5)), NURSE)
    clinic.store.add_reading(
        reading(
            at,
            39_000,
            simple_continuous(500),
            eri=True,
            eri_date=date(2026, 9, 30),
            eos_date=date(2026, 12, 29),
        ),
        NURSE,
    )
    assert clinic.inputs_key.startswith(f"r{fc.RULES_VERSION}-")
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.refill_by == date(2026, 12, 28)
    # What the previous version stored: the same inputs, the old rule's date, the old key.
    fresh = clinic.store.db.execute(
        "SELECT summary_json FROM pump_forecast WHERE inputs_key = ?", [clinic.inputs_key]
    ).fetchone()[0]
    old_key = clinic.inputs_key.split("-", 1)[1]
    stale = fresh.replace('"2026-12-28"', '"2026-12-29"')
    assert stale != fresh
    with clinic.store.db.conn:
        clinic.store.db.execute(
            "UPDATE pump_forecast SET inputs_key = ?, summary_json = ?, refill_by = ?",
            [old_key, stale, "2026-12-29"],
        )
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.refill_by == date(2026, 12, 28)


# --------------------------------------------------------------------------- finding 6


def test_a_verified_program_change_moves_the_dates_at_once(clinic: ClinicService) -> None:
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 40_000, simple_continuous(500)), NURSE)
    before = clinic.patient_row(pid(clinic), now=at)
    assert before is not None and before.alarm_at is not None
    sent = at + timedelta(minutes=10)
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL, sent, simple_continuous(500), simple_continuous(550), 2000, "up 10 %"
        ),
        CLINICIAN,
    )
    after = clinic.patient_row(pid(clinic), now=sent)
    ov = clinic.overview(pid(clinic), now=sent)
    assert after is not None and ov is not None and after.alarm_at is not None
    # By hand: 10 min at 0.25 mL/day, then the rest at 0.275 mL/day.
    used = Fraction(250, 86_400) * 600
    expected = sent + timedelta(seconds=int((Fraction(38_000) - used) / Fraction(275, 86_400)))
    assert after.alarm_at == expected == ov.alarm_at
    assert after.refill_by == ov.refill_by == expected.astimezone(LONDON).date() - timedelta(days=7)
    assert ov.program.daily_dose_mcg == 550
    steps = (FlexStep(0, Decimal("20")), FlexStep(480, Decimal("25")))
    flex = Program(Mode.FLEX, flex_steps=steps)
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL, sent + timedelta(hours=1), simple_continuous(550), flex, 2000, "flex"
        ),
        CLINICIAN,
    )
    ov = clinic.overview(pid(clinic), now=sent + timedelta(hours=1))
    assert ov is not None and ov.program.mode_text == "Flex"
    # A failed or uncertain send changes nothing.
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL,
            sent + timedelta(hours=2),
            flex,
            simple_continuous(900),
            2000,
            "x",
            outcome="failed",
        ),
        CLINICIAN,
    )
    again = clinic.overview(pid(clinic), now=sent + timedelta(hours=2))
    assert again is not None and again.program.mode_text == "Flex"


# --------------------------------------------------------------------------- finding 7


def test_end_of_service_flag_without_an_alarm_code_is_not_delivering_everywhere(
    clinic: ClinicService,
) -> None:
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 39_000, simple_continuous(500), eos=True, eri=True), NURSE)
    row = clinic.patient_row(pid(clinic), now=at)
    ov = clinic.overview(pid(clinic), now=at)
    assert row is not None and ov is not None and row.status is not None
    assert row.status.status is ov.status.status is fc.Status.NOT_DELIVERING
    assert row.alarm_at is None and ov.alarm_at is None
    assert "End of Service" in ov.status.reason


# --------------------------------------------------------------------------- finding 8


def test_expected_residual_counts_the_bridge_once(clinic: ClinicService) -> None:
    """2000 -> 500 mcg/mL at 500 mcg/day with a 340 µL bridge: a perfect pump's residual."""
    fill_at = datetime(2026, 6, 1, 9, tzinfo=UTC)
    p = clinic.store.get_pump(SERIAL)
    assert p is not None
    clinic.store.add_reading(
        reading(fill_at - timedelta(minutes=20), 3_000, simple_continuous(500)), NURSE
    )
    clinic.store.add_refill(
        refill(fill_at, 40_000, concentration_mcg_ml=500, product=PRODUCT),
        NURSE,
        bridge=(340, 2000, 979),
    )
    at = fill_at + timedelta(days=30)
    r = reading(at, 0, simple_continuous(500), concentration_mcg_ml=500)
    history = clinic.store.patient_history(pid(clinic))
    res = expected_residual_for(history, p, r, (), LONDON, clinic.store.bridges(SERIAL))
    # By hand: the bridge pushes 340 µL at 0.25 mL/day (1.36 days), then 1 mL/day.
    bridge_days = Fraction(340, 250)
    delivered = 340 + (30 - bridge_days) * 1000
    assert res.expected_residual_ul == round(40_000 - delivered)
    assert any("bridge" in n for n in res.notes)


def test_a_single_bolus_counts_once_not_again_at_every_later_refill(clinic: ClinicService) -> None:
    t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
    bolus = Program(
        Mode.SINGLE_BOLUS, Decimal(500), bolus_dose_mcg=Decimal(584), bolus_duration_minutes=60
    )
    clinic.store.add_reading(reading(t0, 30_000, simple_continuous(500)), NURSE)
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL, t0 + timedelta(hours=1), simple_continuous(500), bolus, 2000, "bolus"
        ),
        CLINICIAN,
    )
    p = clinic.store.get_pump(SERIAL)
    assert p is not None
    for n, day in enumerate((30, 60, 90)):
        fill_at = t0 + timedelta(days=day)
        r = reading(fill_at - timedelta(minutes=5), 10_000, bolus)
        clinic.store.add_reading(r, NURSE)
        history = clinic.store.patient_history(pid(clinic))
        res = expected_residual_for(history, p, r, (), LONDON)
        if n > 0:  # from the previous fill: 30 days at 0.25 mL/day less 5 minutes, no bolus
            expected = 40_000 - (Fraction(30 * 86_400 - 300, 86_400) * 250)
            assert res.expected_residual_ul == round(expected), day
        clinic.store.add_refill(refill(fill_at), NURSE)


# --------------------------------------------------------------------------- finding 9


def test_the_clinics_margin_and_zone_come_from_the_stored_settings(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite")
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H100001", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(pump(), patient.id, NURSE)
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    store.add_refill(refill(at - timedelta(days=1)), NURSE)
    store.add_reading(reading(at, 40_000, simple_continuous(500)), NURSE)
    admin = ClinicService(store, load_drug_library(), ADMIN)
    with pytest.raises(Exception, match="only an administrator"):
        ClinicService(store, load_drug_library(), NURSE).update_settings(
            ClinicSettings(zone="Europe/London", refill_margin_days=10)
        )
    admin.update_settings(ClinicSettings(zone="America/New_York", refill_margin_days=10))
    nurse = ClinicService(store, load_drug_library(), NURSE)
    assert nurse.settings.refill_margin_days == 10 and str(nurse.tz) == "America/New_York"
    row = nurse.patient_row(patient.id, now=at)
    assert row is not None and row.alarm_at is not None
    alarm_day = row.alarm_at.astimezone(ZoneInfo("America/New_York")).date()
    assert row.refill_by == alarm_day - timedelta(days=10)
    # "today" is the clinic's date: 02:00 UTC on 2 Nov is still 1 Nov in New York.
    assert nurse.today(datetime(2026, 11, 2, 2, tzinfo=UTC)) == date(2026, 11, 1)
    assert [s.refill_margin_days for _, s, _ in store.settings_history()] == [10]


def test_refill_due_query_reads_the_forecast(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at), NURSE)
    clinic.store.add_reading(reading(at + timedelta(days=100), 35_000), NURSE)
    assert clinic.refill_due(date(2026, 7, 3), now=at) == []
    assert [r.refill_by for r in clinic.refill_due(date(2026, 7, 4), now=at)] == [date(2026, 7, 4)]


# --------------------------------------------------------------------------- finding 10


def test_trends_and_the_refill_residual_integrate_flex_on_the_same_clock(
    clinic: ClinicService,
) -> None:
    """A flex program across the October clock change: the Trends curve at the reading and
    the refill's expected residual are the same figure (both on the pump clock, UTC)."""
    steps = (FlexStep(0, Decimal("10")), FlexStep(60, Decimal("40")), FlexStep(120, Decimal("10")))
    flex = Program(Mode.FLEX, flex_steps=steps)
    fill_at = datetime(2026, 10, 1, 9, tzinfo=UTC)
    clinic.store.add_reading(reading(fill_at - timedelta(minutes=5), 5_000, flex), NURSE)
    clinic.store.add_refill(refill(fill_at), NURSE)
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    r = reading(at, 30_000, flex)
    clinic.store.add_reading(r, NURSE)
    history = clinic.store.patient_history(pid(clinic))
    p = clinic.store.get_pump(SERIAL)
    assert p is not None
    res = expected_residual_for(history, p, r, (), LONDON)
    trends = build_trends(history, LONDON, at)
    assert trends.reservoir is not None
    ex, ey = trends.reservoir.expected_x, trends.reservoir.expected_y
    i = max(k for k in range(len(ex)) if ex[k] == at.timestamp())
    assert round(float(ey[i]) * 1000) == res.expected_residual_ul
    # By hand on UTC: 32 days x (1 x 10 + 1 x 40 + 22 x 10) mcg = 8640 mcg = 4320 µL (on
    # the clinic's wall clock the 25-hour day of 25 Oct would add 10 mcg).
    assert res.expected_residual_ul == 40_000 - 4_320


# --------------------------------------------------------------------------- the oracle


def test_the_formula_and_schedule_walks_agree_with_the_oracle_with_boluses() -> None:
    t = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    program = replace(simple_continuous(500), patient_bolus=PatientBolus(Decimal(50), 10, 60, 4))
    facts = fc.PumpFacts(SERIAL, 2_000, readings=(reading(t, 10_000, program),))
    f = fc.forecast(facts, ClinicSettings().with_tz(LONDON))
    assert f.alarm_at == oracle.alarm_instant(t, 10_000, 2_000, 500, 50, 4, 2000)
    assert f.alarm_at == datetime(2026, 3, 25, tzinfo=UTC)  # a midnight allowance tips it
    assert "schedule" in f.alarm_rule


def test_the_forecast_is_kept_and_dropped_when_its_records_change(clinic: ClinicService) -> None:
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 40_000), NURSE)
    assert clinic.ensure_forecasts() == 1
    assert clinic.ensure_forecasts() == 0  # kept
    assert clinic.store.stored_forecast(SERIAL, clinic.inputs_key) is not None
    clinic.store.add_reading(reading(at + timedelta(days=1), 39_000), NURSE)
    assert clinic.store.stored_forecast(SERIAL, clinic.inputs_key) is None  # trigger dropped it
    assert clinic.ensure_forecasts() == 1
    other = ClinicService(clinic.store, clinic.library, NURSE, LONDON, margin_days=3)
    assert other.inputs_key != clinic.inputs_key
    assert other.store.stored_forecast(SERIAL, other.inputs_key) is None  # other settings


# --------------------------------------------------------------------------- independent review


def _base(clinic: ClinicService, at: datetime, program: Program | None = None) -> None:
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 40_000, program or simple_continuous(400)), NURSE)


def test_an_uncertain_program_change_counts_for_the_worse_case(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    _base(clinic, at)
    calm = clinic.patient_row(pid(clinic), now=at)
    assert calm is not None and calm.alarm_at is not None
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL,
            at + timedelta(minutes=5),
            simple_continuous(400),
            simple_continuous(1000),
            2000,
            "up",
            outcome="uncertain",
        ),
        CLINICIAN,
    )
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.alarm_at is not None and row.forecast is not None
    assert row.alarm_at < calm.alarm_at - timedelta(days=50)  # 1000 mcg/day, not 400
    assert row.forecast.uncertain and "unknown outcome" in row.forecast.note
    clinic.store.add_program_change(
        ProgramChange(
            SERIAL,
            at + timedelta(minutes=9),
            simple_continuous(400),
            Program(Mode.STOPPED),
            2000,
            "stop",
            outcome="uncertain",
        ),
        CLINICIAN,
    )
    stopped = clinic.patient_row(pid(clinic), now=at)
    assert stopped is not None and stopped.status is not None
    assert stopped.status.status is fc.Status.NOT_DELIVERING
    assert "may have stopped delivery" in stopped.status.reason


@pytest.mark.parametrize(
    "program",
    [
        Program(
            Mode.SINGLE_BOLUS, Decimal(0), bolus_dose_mcg=Decimal(50), bolus_duration_minutes=30
        ),
        replace(simple_continuous(0), patient_bolus=PatientBolus(Decimal(25), 10, 60, 4)),
    ],
    ids=["single bolus then nothing", "patient boluses only"],
)
def test_a_program_with_no_continuous_dose_is_not_delivering(
    clinic: ClinicService, program: Program
) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    _base(clinic, at, program)
    row = clinic.patient_row(pid(clinic), now=at + timedelta(days=7))
    assert row is not None and row.status is not None
    assert row.status.status is fc.Status.NOT_DELIVERING


@pytest.mark.parametrize("code", ["pump_reset", "memory_fault", "catheter_occlusion"])
def test_an_urgent_alarm_that_does_not_stop_delivery_still_raises_the_status(
    clinic: ClinicService, code: str
) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 39_000, alarms=(code,)), NURSE)
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.status is not None
    assert row.status.status is fc.Status.ATTENTION, code


def test_the_pumps_low_reservoir_alarm_on_is_overdue(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 37_000, alarms=("low_reservoir",)), NURSE)
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.status is not None
    assert (
        row.status.status is fc.Status.OVERDUE and "low-reservoir alarm is on" in row.status.reason
    )


def test_eri_at_the_first_reading_leaves_end_of_service_unknown_and_due(
    clinic: ClinicService,
) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 39_000, eri=True), NURSE)
    f = clinic.forecast_for(SERIAL)
    assert f.eri is not None and f.end_of_service is None  # could be any day: no made-up date
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.status is not None
    assert row.status.status is fc.Status.DUE_SOON
    assert "End of Service date is not known" in row.status.reason


def test_a_reading_entered_in_error_no_longer_gives_battery_dates(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(
        reading(at, 39_000, eri=True, eri_date=date(2026, 1, 1), eos_date=date(2026, 4, 1)), NURSE
    )
    wrong = clinic.store.add_reading(
        reading(at + timedelta(days=1), 38_000, eri=True, eos_date=date(2027, 3, 1)), NURSE
    )
    clinic.store.mark_entered_in_error("readings", wrong.id or 0, NURSE, "another pump's read")
    f = clinic.forecast_for(SERIAL)
    assert f.end_of_service is not None and f.end_of_service.day == date(2026, 4, 1)


def test_an_earlier_observed_eri_wins_over_a_later_reported_one(clinic: ClinicService) -> None:
    t = datetime(2026, 1, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(t - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(t, 39_000), NURSE)
    clinic.store.add_reading(reading(t + timedelta(days=31), 37_000, eri=True), NURSE)
    clinic.store.add_reading(
        reading(t + timedelta(days=40), 36_000, eri=True, eri_date=date(2026, 4, 11)), NURSE
    )
    f = clinic.forecast_for(SERIAL)
    assert f.eri is not None and f.eri.day == date(2026, 2, 1)
    assert f.end_of_service is not None and f.end_of_service.day == date(2026, 4, 1)


def test_a_reservoir_projected_empty_is_not_delivering(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at - timedelta(days=1)), NURSE)
    clinic.store.add_reading(reading(at, 4_000, simple_continuous(500)), NURSE)
    # 2 mL to the alarm at 0.25 mL/day: alarm 13 Jan, empty 8 days later, 21 Jan.
    row = clinic.patient_row(pid(clinic), now=datetime(2026, 1, 21, 12, tzinfo=UTC))
    assert row is not None and row.status is not None
    assert (
        row.status.status is fc.Status.NOT_DELIVERING and "empty since 21 Jan" in row.status.reason
    )
    before = clinic.patient_row(pid(clinic), now=datetime(2026, 1, 20, 12, tzinfo=UTC))
    assert before is not None and before.status is not None
    assert before.status.status is fc.Status.OVERDUE


def test_settings_changed_by_another_program_are_followed(clinic: ClinicService) -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    _base(clinic, at, simple_continuous(500))
    row = clinic.patient_row(pid(clinic), now=at)
    assert row is not None and row.refill_by is not None
    other = ClinicService(clinic.store, clinic.library, ADMIN)  # e.g. `itbconsole settings set`
    other.update_settings(replace(other.settings, refill_margin_days=21, zone="Europe/London"))
    again = clinic.patient_row(pid(clinic), now=at)
    assert again is not None and again.refill_by == row.refill_by - timedelta(days=14)


def test_the_refill_wizard_uses_the_clinics_discrepancy_limits(clinic: ClinicService) -> None:
    from itbconsole.services.refill import RefillSession

    admin = ClinicService(clinic.store, clinic.library, ADMIN, LONDON)
    admin.update_settings(replace(admin.settings, large_reservoir_limit_ul=500))
    nurse = ClinicService(clinic.store, clinic.library, NURSE, LONDON)
    assert RefillSession(nurse, pid(clinic)).thresholds.volume_limit_ul(40_000) == 500


def test_a_late_hand_over_never_keeps_an_older_forecast(clinic: ClinicService) -> None:
    """A worker's forecast handed over after another program (the sync, a second window)
    stored a newer one must not be kept under the newer row's stamp: the next read shows
    the newer dates."""
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    clinic.store.add_refill(refill(at), NURSE)
    clinic.store.add_reading(reading(at + timedelta(minutes=5), 40_000), NURSE)
    older = clinic.forecast_for(SERIAL)
    assert older.refill_by == date(2027, 4, 30)  # 180 days from the fill
    path = clinic.store.path
    assert path is not None
    other_store = Store.open(path)
    try:
        other = ClinicService(other_store, load_drug_library(), NURSE, LONDON)
        other_store.add_reading(reading(datetime(2026, 11, 30, 8, tzinfo=UTC), 2_100), NURSE)
        newer = other.forecast_for(SERIAL)
    finally:
        other_store.close()
    assert newer.refill_by is not None and newer.refill_by < date(2026, 11, 30)
    clinic.keep_forecast(SERIAL, older)  # the late hand-over
    assert clinic.forecast_for(SERIAL).refill_by == newer.refill_by


def test_the_projected_empty_date_is_never_later_than_the_schedule_walk_to_empty() -> None:
    """3.5 mL left (alarm at 3 mL) of 500 mcg/mL at 50 mcg/day with ten 100 mcg boluses a
    day (2 mL a day of boluses), read at 20:23 UTC: a patient who takes the day's boluses
    at once empties the reservoir at the next pump-clock midnight, 3 Mar 00:00 UTC (the
    independent oracle's walk to nothing). Spreading what is left at the alarm over the
    maximum daily volume said 4 Mar 06:40, 30 hours later."""
    at = datetime(2026, 3, 2, 20, 23, tzinfo=UTC)
    program = replace(simple_continuous(50), patient_bolus=PatientBolus(Decimal(100), 10, 20, 10))
    read = reading(at, 3_500, program, alarm_volume_ul=3_000, concentration_mcg_ml=500)
    facts = fc.PumpFacts(SERIAL, 3_000, readings=(read,))
    f = fc.forecast(facts, ClinicSettings().with_tz(LONDON))
    expected = oracle.alarm_instant(at, 3_500, 0, 50, 100, 10, 500)
    assert expected == datetime(2026, 3, 3, tzinfo=UTC)
    assert f.empty_at == expected
