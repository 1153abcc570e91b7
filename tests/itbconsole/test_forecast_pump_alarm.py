"""The pump's own projected low-reservoir alarm date (protocol status field 12): kept beside
the reading that reported it, and a third bound on the alarm while that reading is the
anchor (docs/dosing.md, "The forecast"). Every date here is worked out by hand.

40 mL at 500 mcg/day of 2000 mcg/mL (0.25 mL/day), 2 mL alarm, read 2 Mar 2026 09:00 UTC:
the console's walks reach the alarm volume 152 days later, 1 Aug 2026 09:00 UTC.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole import forecast as fc
from itbconsole.druglib import load_drug_library
from itbconsole.forecast import ForecastSummary
from itbconsole.forecast.compute import PUMP_ALARM_RULE, PUMP_LEAD_RULE
from itbconsole.model import Origin, Patient, ProgramChange, Reading, simple_continuous
from itbconsole.services.clinic import ClinicService
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.store.db import transaction
from itbconsole.sync.apply import apply_events
from tests.itbconsole.sync.local_fixtures import originals_of
from tests.itbconsole.test_forecast import (
    CLINICIAN,
    LONDON,
    NURSE,
    SERIAL,
    pid,
    pump,
    reading,
    refill,
)

READ = datetime(2026, 3, 2, 9, tzinfo=UTC)
CONSOLE_ALARM = datetime(2026, 8, 1, 9, tzinfo=UTC)  # 38 mL / 0.25 mL/day = 152 days
PROGRAM = simple_continuous(500)
SETTINGS = ClinicSettings().with_tz(LONDON)  # 7-day margin
EARLIER = date(2026, 7, 20)  # the pump's own date, earlier than the console's
LATER = date(2026, 8, 10)


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = Store.open(tmp_path / "f.sqlite")
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H100001", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(pump(), patient.id, NURSE)
    return ClinicService(store, load_drug_library(), NURSE, LONDON)


def facts(
    *readings: Reading,
    fills: tuple[fc.Fill, ...] = (),
    changes: tuple[ProgramChange, ...] = (),
) -> fc.PumpFacts:
    return fc.PumpFacts(SERIAL, 2_000, readings=readings, fills=fills, changes=changes)


def read(pump_date: date | None, at: datetime = READ, **kw: object) -> Reading:
    return reading(at, 40_000, PROGRAM, pump_alarm_date=pump_date, **kw)


def test_without_a_pump_date_the_console_walks_give_the_alarm() -> None:
    f = fc.forecast(facts(read(None)), SETTINGS)
    assert f.alarm_at == f.console_alarm_at == CONSOLE_ALARM
    assert f.alarm_day == date(2026, 8, 1) and f.refill_by == date(2026, 7, 25)


def test_an_earlier_pump_date_governs_from_the_start_of_its_day() -> None:
    """The pump says 20 Jul on its clock (UTC): the alarm is 20 Jul 00:00 UTC (01:00 BST),
    the earliest moment of that day, and the refill-by date follows (minus the margin)."""
    f = fc.forecast(facts(read(EARLIER)), SETTINGS)
    assert f.alarm_at == datetime(2026, 7, 20, tzinfo=UTC)
    assert f.alarm_day == date(2026, 7, 20) == f.alarm_at.astimezone(LONDON).date()
    assert f.refill_by == date(2026, 7, 13) and f.governing is not None
    assert f.governing.kind is fc.Bound.ALARM
    assert f.console_alarm_at == CONSOLE_ALARM
    assert (
        f.alarm_rule == PUMP_ALARM_RULE == "the pump's own projection, earlier than the console's"
    )
    assert (
        "the date shown is the pump's own projection (low-reservoir alarm on 20 Jul 2026 by its "
        "clock), earlier than the console's (01 Aug 2026)." in f.derivation
    )
    # The empty date moves with the alarm (2 mL at 0.25 mL/day after it).
    assert f.empty_at == datetime(2026, 7, 28, tzinfo=UTC)


def test_a_later_pump_date_is_not_used() -> None:
    f = fc.forecast(facts(read(LATER)), SETTINGS)
    assert f.alarm_at == CONSOLE_ALARM and f.alarm_rule != PUMP_ALARM_RULE
    assert "pump's own projection" not in f.derivation


LEAD = CONSOLE_ALARM - datetime(2026, 7, 20, tzinfo=UTC)  # 12 days 9 h at the reading


def test_after_a_refill_the_pumps_lead_is_kept_until_it_says_its_new_date() -> None:
    """A refill recorded after the reading is the anchor: the pump projected from the old
    volume, so its date says nothing about the new fill; but it projected 12 days 9 h
    sooner than the console, and until it is interrogated again the console keeps that
    lead rather than jump to its own later date."""
    fill = fc.fill_from_refill(refill(READ + timedelta(days=8), 40_000), 180)
    f = fc.forecast(facts(read(EARLIER), fills=(fill,)), SETTINGS)
    assert f.anchor_kind == "refill"
    assert f.console_alarm_at == datetime(2026, 8, 9, 9, tzinfo=UTC)
    assert (
        f.alarm_at
        == datetime(2026, 8, 9, 9, tzinfo=UTC) - LEAD
        == datetime(2026, 7, 28, tzinfo=UTC)
    )
    assert f.alarm_rule == PUMP_LEAD_RULE
    assert (
        "the date shown is 12.4 days sooner: the pump's own projection at its reading of "
        "02 Mar 2026 was that much earlier than the console's, and the lead is kept after the "
        "refill or program change until the pump is interrogated again." in f.derivation
    )


def test_no_lead_is_kept_when_the_pump_agreed_with_the_console() -> None:
    fill = fc.fill_from_refill(refill(READ + timedelta(days=8), 40_000), 180)
    f = fc.forecast(facts(read(LATER), fills=(fill,)), SETTINGS)
    assert f.alarm_at == f.console_alarm_at == datetime(2026, 8, 9, 9, tzinfo=UTC)
    assert f.alarm_rule != PUMP_LEAD_RULE


def test_after_a_program_change_the_pumps_lead_is_kept() -> None:
    """A verified change to 400 mcg/day (0.2 mL/day) a day after the reading: the pump
    projected from the old program, so its date no longer applies as such; the console's
    walks less the pump's lead at the reading do."""
    change = ProgramChange(
        SERIAL, READ + timedelta(days=1), PROGRAM, simple_continuous(400), 2000, reason="less"
    )
    f = fc.forecast(facts(read(EARLIER), changes=(change,)), SETTINGS)
    # 0.25 mL the first day, then 37.75 mL at 0.2 mL/day = 188.75 days.
    assert f.console_alarm_at == datetime(2026, 9, 8, 3, tzinfo=UTC)
    assert f.alarm_at == datetime(2026, 9, 8, 3, tzinfo=UTC) - LEAD
    assert f.alarm_rule == PUMP_LEAD_RULE


def test_a_pump_clock_running_ahead_starts_its_day_sooner() -> None:
    """In winter (GMT) a pump 7 minutes fast begins its 1 Dec at 23:53 on 30 Nov: that is
    the alarm shown, a day earlier on the clinic's calendar."""
    at = datetime(2026, 9, 1, 9, tzinfo=UTC)
    pump_day = date(2026, 12, 1)
    ahead = read(pump_day, at=at, pump_clock=at + timedelta(minutes=7))
    f = fc.forecast(facts(ahead), SETTINGS)
    assert f.alarm_at == datetime(2026, 11, 30, 23, 53, tzinfo=UTC)
    assert f.alarm_day == date(2026, 11, 30)


def test_a_pump_clock_running_behind_still_starts_its_day_at_midnight_utc() -> None:
    at = datetime(2026, 9, 1, 9, tzinfo=UTC)
    behind = read(date(2026, 12, 1), at=at, pump_clock=at - timedelta(minutes=7))
    f = fc.forecast(facts(behind), SETTINGS)
    assert f.alarm_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_the_pump_date_counts_when_the_console_never_reaches_the_alarm() -> None:
    """A dose so small the console's walks stop at their horizon: the pump's date is the
    only date, and the explanation says so."""
    tiny = reading(READ, 40_000, simple_continuous("0.1"), pump_alarm_date=EARLIER)
    f = fc.forecast(facts(tiny), SETTINGS)
    assert f.console_alarm_at is None
    assert f.alarm_at == datetime(2026, 7, 20, tzinfo=UTC)
    assert (
        "the date shown is the pump's own projection (low-reservoir alarm on 20 Jul 2026 by "
        "its clock): the console's never reaches the alarm volume." in f.derivation
    )


def test_a_pump_date_on_the_consoles_own_day_agrees_and_the_console_instant_stays() -> None:
    """The pump projects 1 Aug, the console 1 Aug 09:00 UTC: a pump's date says only the day,
    and the console's instant is on it, so the two agree: the console's instant stays (to the
    minute), and nothing is said of the pump's date. One day earlier, and the pump's governs."""
    f = fc.forecast(facts(read(date(2026, 8, 1))), SETTINGS)
    assert f.alarm_at == datetime(2026, 8, 1, 9, tzinfo=UTC) and f.alarm_day == date(2026, 8, 1)
    assert f.alarm_rule != PUMP_ALARM_RULE and "pump's own projection" not in f.derivation
    day_before = fc.forecast(facts(read(date(2026, 7, 31))), SETTINGS)
    assert day_before.alarm_at == datetime(2026, 7, 31, tzinfo=UTC)
    assert day_before.alarm_rule == PUMP_ALARM_RULE


def test_a_stopped_pump_has_no_alarm_date_even_with_the_pumps() -> None:
    stopped = reading(READ, 40_000, simple_continuous(0), pump_alarm_date=EARLIER)
    f = fc.forecast(facts(stopped), SETTINGS)
    assert not f.delivering and f.alarm_at is None and f.alarm_day is None


# --------------------------------------------------------------------------- the store


def test_the_pump_date_is_kept_beside_the_reading_and_read_back(clinic: ClinicService) -> None:
    store = clinic.store
    saved = store.add_reading(read(EARLIER), NURSE)
    assert saved.id is not None
    (row,) = store.db.query("SELECT * FROM pump_alarm_reports")
    assert (row["reading_id"], row["pump_serial"], row["alarm_date"]) == (
        saved.id,
        SERIAL,
        "2026-07-20",
    )
    assert row["created_by"] == NURSE.name
    # The reading's own row and audit entry are as before: the date is beside it.
    (reading_row,) = store.db.query("SELECT * FROM readings")
    assert "2026-07-20" not in str(dict(reading_row))
    latest = clinic.pump_facts(SERIAL).latest_reading
    assert latest is not None and latest.pump_alarm_date == EARLIER
    f = clinic.forecast_for(SERIAL)
    assert f.alarm_at == datetime(2026, 7, 20, tzinfo=UTC)
    list_row = clinic.patient_row(pid(clinic), now=READ)
    assert list_row is not None and list_row.refill_by == date(2026, 7, 13)
    assert store.verify().ok, store.verify().summary()


def test_a_reading_without_a_date_stores_no_report(clinic: ClinicService) -> None:
    clinic.store.add_reading(read(None), NURSE)
    assert clinic.store.db.execute("SELECT COUNT(*) FROM pump_alarm_reports").fetchone()[0] == 0


def test_withdrawing_the_reading_withdraws_the_pumps_date(clinic: ClinicService) -> None:
    store = clinic.store
    store.add_reading(read(None, at=READ - timedelta(hours=1)), NURSE)
    wrong = store.add_reading(read(EARLIER), NURSE)
    assert clinic.forecast_for(SERIAL).alarm_rule == PUMP_ALARM_RULE
    store.mark_entered_in_error("readings", wrong.id or 0, NURSE, "another patient's pump")
    f = clinic.forecast_for(SERIAL)
    assert f.alarm_rule != PUMP_ALARM_RULE
    assert f.alarm_at == CONSOLE_ALARM - timedelta(hours=1)


def test_correcting_the_reading_withdraws_the_pumps_date(clinic: ClinicService) -> None:
    """A corrected reading is a new row: the pump reported its date with the old one."""
    store = clinic.store
    saved = store.add_reading(read(EARLIER), NURSE)
    with transaction(store.db):
        store._correct("readings", saved.id or 0, {"reservoir_ul": 39_000}, NURSE, "typo")
    f = clinic.forecast_for(SERIAL)
    assert f.anchor_volume_ul == 39_000 and f.alarm_rule != PUMP_ALARM_RULE
    assert f.alarm_at == CONSOLE_ALARM - timedelta(days=4)


def test_a_pump_alarm_report_drops_the_stored_forecast(clinic: ClinicService) -> None:
    """A report written on its own (as the sync may apply it after its reading) makes the
    pump's stored forecast stale, like every record a forecast rests on."""
    store = clinic.store
    saved = store.add_reading(read(None), NURSE)
    summary = ForecastSummary.from_json(clinic.forecast_for(SERIAL).summary().to_json())
    store.save_forecast("key", summary)
    assert store.stored_forecast(SERIAL, "key") is not None
    store.db.execute(
        "INSERT INTO pump_alarm_reports (reading_id, pump_serial, alarm_date, created_at,"
        " created_by, created_role) VALUES (?, ?, '2026-07-20', '2026-03-02T09:00:00Z',"
        " 'x', 'nurse')",
        [saved.id, SERIAL],
    )
    assert store.stored_forecast(SERIAL, "key") is None
    # Written behind the program's back (no audit entry): db verify says so.
    assert not store.verify().ok


def test_a_pump_alarm_report_is_never_changed_or_deleted(clinic: ClinicService) -> None:
    clinic.store.add_reading(read(EARLIER), NURSE)
    for sql in (
        "UPDATE pump_alarm_reports SET alarm_date = '2026-09-01'",
        "DELETE FROM pump_alarm_reports",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="never changed or deleted"):
            clinic.store.db.execute(sql)


def test_another_room_receives_the_pumps_date_with_its_reading(
    clinic: ClinicService, tmp_path: Path
) -> None:
    """The sync is generic over clinical tables: the report arrives pointing at this room's
    copy of the reading, and this room's forecast uses it."""
    clinic.store.add_reading(read(EARLIER), NURSE)
    other = Store.open(tmp_path / "other.sqlite")
    try:
        report = apply_events(other, originals_of(clinic.store))
        assert report.conflicts == []
        (row,) = other.db.query(
            "SELECT a.alarm_date, r.at FROM pump_alarm_reports a"
            " JOIN readings r ON r.id = a.reading_id"
        )
        assert row["alarm_date"] == "2026-07-20" and row["at"].startswith("2026-03-02T09:00")
        there = ClinicService(other, clinic.library, CLINICIAN, LONDON)
        assert there.forecast_for(SERIAL).alarm_at == datetime(2026, 7, 20, tzinfo=UTC)
        assert other.verify().ok, other.verify().summary()
    finally:
        other.close()


def test_a_pump_status_becomes_a_reading_with_its_alarm_date() -> None:
    """The interrogation's reading carries the pump's date (what the store then keeps)."""
    from drivers.pump_client import Interrogation, PumpIdentity, PumpStatus

    status = PumpStatus(
        read_at=READ,
        pump_clock=READ,
        reservoir_ul=40_000,
        alarm_volume_ul=2_000,
        alarm_date=EARLIER,
        battery_mv=3_050,
        eri=False,
        eos=False,
        eri_date=None,
        eos_date=None,
        alarms=(),
        concentration_mcg_ml=2000,
        drug_code=1,
        drug_name="Lioresal Intrathecal",
    )
    ident = PumpIdentity(SERIAL, "SIM-40", "2.4.1", 2, frozenset(), 40_000)
    got = Interrogation(ident, status, PROGRAM, READ).reading
    assert got.pump_alarm_date == EARLIER
    assert replace(got, pump_alarm_date=None) == read(None, battery_mv=3_050)


def test_a_change_at_the_readings_very_instant_keeps_the_pumps_lead() -> None:
    """A review with no clock of its own sends at the state's read time: the change is dated
    at the reading's instant, after that read. The lead is kept exactly as for a change a
    second later (it was lost, and the alarm shown 12.4 days later)."""
    new = simple_continuous(400)
    at_once = ProgramChange(SERIAL, READ, PROGRAM, new, 2000, reason="less")
    a_second_later = replace(at_once, at=READ + timedelta(seconds=1))
    f0 = fc.forecast(facts(read(EARLIER), changes=(at_once,)), SETTINGS)
    f1 = fc.forecast(facts(read(EARLIER), changes=(a_second_later,)), SETTINGS)
    assert f0.alarm_rule == f1.alarm_rule == PUMP_LEAD_RULE
    assert f0.console_alarm_at is not None and f0.alarm_at == f0.console_alarm_at - LEAD
    assert abs((f0.alarm_at - f1.alarm_at).total_seconds()) <= 2


def test_the_lead_never_puts_the_alarm_before_the_anchor() -> None:
    """At 2 mL/day the console's walks reach the alarm on 21 Mar and the pump said 5 Mar
    (about 16 days sooner). 6 mL refilled on 10 Mar reach the alarm in 2 days: the lead
    would put it 14 days before the refill. The alarm is the refill itself (due now), never
    a date before it, and the reservoir is not projected empty before it either."""
    fast = simple_continuous(4000)
    read_fast = reading(READ, 40_000, fast, pump_alarm_date=date(2026, 3, 5))
    at = READ + timedelta(days=8)
    fill = fc.fill_from_refill(refill(at, 6_000), 180)
    f = fc.forecast(facts(read_fast, fills=(fill,)), SETTINGS)
    assert f.alarm_rule == PUMP_LEAD_RULE
    assert f.alarm_at == at
    assert f.empty_at is not None and f.empty_at >= f.alarm_at


def test_the_pumps_own_end_of_service_day_is_a_day_of_its_clock() -> None:
    """The pump's dates are days of its clock (UTC): in New York its 31 Dec begins at 19:00
    on 30 Dec, when it may stop. End of Service is 30 Dec there, and the last safe day the
    29th; in London nothing moves."""
    report = (date(2026, 10, 1), date(2026, 12, 31))
    eri = reading(READ, 40_000, PROGRAM, eri=True)
    for zone, eos_day in (
        ("America/New_York", date(2026, 12, 30)),
        ("Europe/London", date(2026, 12, 31)),
    ):
        settings = ClinicSettings().with_tz(ZoneInfo(zone))
        f = fc.forecast(
            fc.PumpFacts(SERIAL, 2_000, readings=(eri,), battery_report=report), settings
        )
        assert f.end_of_service is not None and f.end_of_service.day == eos_day, zone
        assert f.refill_by is not None and f.refill_by <= eos_day - timedelta(days=1)
