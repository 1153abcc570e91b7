"""Property test of the one forecast over random pump histories (FDA Z-1338-2012).

For a random patient (clinic zone, programs, a confirmed refill with or without a bridge,
readings, program changes, ERI / End of Service, alarms) at a random moment, every surface
gives the same dates and status: the patient list row, the Overview, the clinic-wide due
query, ``itbconsole worklist --json``, the Trends tab and the refill review's "current"
column. Refill-by is checked against bounds computed here from the generated inputs (never
from the forecast's own ``bounds``), the alarm instant against tests/oracle.py, and a pump
that says it is not delivering is "not delivering" everywhere.

Histories hit by a known bug are still checked for agreement between surfaces and for
refill-by against the other bounds; each bug it found has its own test at the end.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from itbconsole.cli import main
from itbconsole.druglib import default_library_path, load_drug_library
from itbconsole.forecast import Status
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
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import RefillSession
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.trends import TrendSettings, load_trends
from tests import oracle

NURSE = User("Nia Nurse", Role.NURSE)
CLINICIAN = User("Dr Cal Clinician", Role.CLINICIAN)
ADMIN = User("Ada Admin", Role.ADMINISTRATOR)
SERIAL = "NGP200001"
PRODUCT = "Lioresal Intrathecal"
ZONES = ("Europe/London", "America/New_York")
#: Daylight-saving changes of both zones (local dates).
DST_DAYS = (
    date(2025, 3, 9),
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2025, 11, 2),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2027, 3, 14),
    date(2027, 3, 28),
)
STOPS_DELIVERY = ("reservoir_empty", "motor_stall")


def _max_interval_days(product: str, concentration: int) -> int:
    """The product's maximum days in the pump, read straight from the library file."""
    data = json.loads(default_library_path().read_text(encoding="utf-8"))
    for p in data["products"]:
        if p["product"] == product and p["concentration_mcg_ml"] == concentration:
            return int(p["max_refill_interval_days"])
    raise AssertionError(f"{product} {concentration} mcg/mL is not in the library")


# --------------------------------------------------------------------------- strategies


def _local(d: date, t: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, t, tzinfo=zone).astimezone(UTC)


local_times = st.one_of(
    # near local midnight: the clinic's date and the UTC date differ
    st.builds(time, st.sampled_from([23, 0]), st.integers(0, 59), st.integers(0, 59)),
    st.builds(time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
)

anchor_days = st.one_of(
    st.dates(date(2025, 5, 1), date(2027, 6, 30)),
    st.builds(lambda d, k: d + timedelta(days=k), st.sampled_from(DST_DAYS), st.integers(-3, 3)),
)


@st.composite
def patient_boluses(draw: st.DrawFn) -> PatientBolus | None:
    if not draw(st.booleans()):
        return None
    return PatientBolus(
        dose_mcg=Decimal(draw(st.integers(10, 100))),
        duration_minutes=draw(st.integers(0, 30)),
        lockout_minutes=draw(st.integers(60, 180)),
        max_per_day=draw(st.integers(0, 6)),
    )


@st.composite
def flex_steps(draw: st.DrawFn) -> tuple[FlexStep, ...]:
    n = draw(st.integers(1, 5))
    starts = sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))
    rates = draw(
        st.lists(st.integers(10, 600), min_size=n, max_size=n)  # tenths of mcg/h: 1-60
    )
    return tuple(FlexStep(m, Decimal(r) / 10) for m, r in zip([0, *starts], rates, strict=True))


@st.composite
def programs(draw: st.DrawFn, single_bolus: bool = False) -> Program:
    pb = draw(patient_boluses())
    kind = draw(
        st.sampled_from(["simple", "flex", "bolus"] if single_bolus else ["simple", "flex"])
    )
    if kind == "simple":
        return Program(
            Mode.SIMPLE_CONTINUOUS,
            daily_dose_mcg=Decimal(draw(st.integers(50, 1000))),
            patient_bolus=pb,
        )
    if kind == "flex":
        weekdays = draw(st.sets(st.integers(0, 6), max_size=2))
        return Program(
            Mode.FLEX,
            flex_steps=draw(flex_steps()),
            flex_weekday_steps=tuple((d, draw(flex_steps())) for d in sorted(weekdays)),
            patient_bolus=pb,
        )
    return Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(draw(st.integers(50, 1000))),
        bolus_dose_mcg=Decimal(draw(st.integers(20, 500))),
        bolus_duration_minutes=draw(st.integers(1, 120)),
        patient_bolus=pb,
    )


@dataclass(frozen=True)
class Scenario:
    zone: str
    settings: ClinicSettings
    capacity_ul: int
    alarm_ul: int
    readings: tuple[Reading, ...]
    """Oldest first; the first one is before the fill when ``pre_fill``."""
    pre_fill: bool
    refill: Refill
    """The latest confirmed refill."""
    others: tuple[Refill, ...]
    """An earlier confirmed refill and a later pending one, sometimes: neither counts."""
    bridge: tuple[int, int, int] | None
    changes: tuple[ProgramChange, ...]
    """Succeeded changes, oldest first."""
    unsettled: tuple[ProgramChange, ...]
    """A failed program change, or one of unknown outcome (the forecast takes the worse case)."""
    insert_order: tuple[int, ...]
    """The order the readings are stored in (an older reading may be stored later)."""
    now: datetime
    latest_flag: str
    """"", "eos" or a stops-delivery alarm code on the latest reading."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    clinic_settings = ClinicSettings(
        zone=zone_name,
        refill_margin_days=draw(st.integers(0, 21)),
        due_soon_days=draw(st.integers(0, 30)),
        eri_to_eos_days=draw(st.sampled_from([90, 90, 60, 120])),
    )
    capacity = draw(st.sampled_from([20_000, 40_000]))
    alarm_ul = draw(st.sampled_from([2_000, 3_000]))
    fill_day = draw(anchor_days)
    fill_at = _local(fill_day, draw(local_times), zone)
    conc = draw(st.sampled_from([500, 2000]))
    old_conc = draw(st.sampled_from([500, 2000]))
    pre_fill = draw(st.integers(0, 6)) > 0

    # The interrogation at the refill (before it, or at its very instant).
    pre_gap = 0 if draw(st.integers(0, 9)) == 0 else draw(st.integers(5, 4320))
    pre_at = fill_at - timedelta(minutes=pre_gap)

    # Instants of everything after the fill: readings and program changes.
    n_after = draw(st.integers(0, 3)) if pre_fill else draw(st.integers(1, 3))
    if pre_fill and draw(st.integers(0, 3)) == 0:
        n_after = 0  # the refill itself is the anchor
    reading_times: list[datetime] = []
    day, last = fill_day, fill_at
    for _ in range(n_after):
        day = day + timedelta(days=draw(st.integers(0, 100)))
        at = _local(day, draw(local_times), zone)
        if at <= last:
            at = last + timedelta(minutes=draw(st.integers(1, 600)))
            day = at.astimezone(zone).date()
        reading_times.append(at)
        last = at
    span_min = max(60, int((last - fill_at).total_seconds() // 60) + 20 * 1440)
    n_changes = draw(st.integers(0, 2))
    change_times = {
        fill_at + timedelta(minutes=m)
        for m in draw(st.lists(st.integers(1, span_min), min_size=n_changes, max_size=n_changes))
    } - set(reading_times)
    if reading_times and draw(st.integers(0, 5)) == 0:
        # A review sends its program at the read time of the interrogation it reviewed.
        change_times.add(draw(st.sampled_from(reading_times)))
    if pre_fill and draw(st.integers(0, 3)) == 0:
        # A program sent at the refill, or between its interrogation and the fill.
        change_times.add(fill_at - timedelta(minutes=draw(st.integers(0, max(0, pre_gap - 1)))))

    # Programs: one before the fill, then each verified change's (a reading taken at the
    # instant of a change was read before it was sent).
    program = draw(programs())
    timeline = sorted(
        [(t, 0, "reading") for t in reading_times] + [(t, 1, "change") for t in change_times]
    )
    eri_from = draw(st.one_of(st.none(), st.integers(0, 3)))
    report_kind = draw(st.sampled_from(["none", "eri", "eos", "both"]))
    reading_at_list = ([pre_at] if pre_fill else []) + reading_times
    n_readings = len(reading_at_list)
    first_eri_local = None
    if eri_from is not None and eri_from < n_readings:
        first_eri_local = reading_at_list[eri_from].astimezone(zone).date()
    base_eri = None
    if first_eri_local is not None and report_kind != "none":
        # usually on or before the first reading showing ERI, sometimes (wrongly) after it
        base_eri = first_eri_local - timedelta(days=draw(st.integers(-10, 30)))
    latest_flag = draw(st.sampled_from(["", "", "", "", "eos", "reservoir_empty", "motor_stall"]))
    extra_alarm = draw(
        st.sampled_from([(), (), (), ("low_reservoir",), ("clock_lost",), ("pump_reset",)])
    )

    readings: list[Reading] = []

    def make_reading(at: datetime, reservoir: int, prog: Program, c: int) -> Reading:
        i = len(readings)
        is_eri = eri_from is not None and i >= eri_from
        latest = i == n_readings - 1
        eos = latest and latest_flag == "eos"
        alarms: tuple[str, ...] = extra_alarm if latest else ()
        if latest and latest_flag in STOPS_DELIVERY:
            alarms = (*alarms, latest_flag)
        if is_eri or eos:
            alarms = (*alarms, "eri")
        eri_date = eos_date = None
        if is_eri and base_eri is not None and draw(st.integers(0, 3)) > 0:
            # the pump's own dates; a later report may refine End of Service
            eri_date = base_eri if report_kind != "eos" else None
            if report_kind != "eri":
                eos_date = base_eri + timedelta(days=draw(st.integers(20, 120)))
        return Reading(
            pump_serial=SERIAL,
            at=at,
            pump_clock=at + timedelta(seconds=draw(st.integers(-30, 30))),
            reservoir_ul=reservoir,
            alarm_volume_ul=alarm_ul,
            # Falling a little at each reading, as a battery does (a flat voltage trips the
            # Trends battery fit: see test_trends_survive_a_flat_battery_voltage below).
            battery_mv=(2_880 if (is_eri or eos) else 3_100) - 5 * i,
            eri=is_eri or eos,
            eos=eos,
            concentration_mcg_ml=c,
            program=prog,
            alarms=alarms,
            eri_date=eri_date,
            eos_date=eos_date,
        )

    if pre_fill:
        readings.append(
            make_reading(reading_at_list[0], draw(st.integers(0, 6_000)), program, old_conc)
        )
    added = draw(st.integers(10_000, capacity))
    volume = added
    changes: list[ProgramChange] = []
    for at, _order, kind in timeline:
        if kind == "reading":
            volume = max(0, volume - draw(st.integers(0, 12_000)))
            readings.append(make_reading(at, volume, program, conc))
        else:
            new = draw(programs(single_bolus=True))
            c = conc if at >= fill_at else old_conc
            changes.append(ProgramChange(SERIAL, at, program, new, c, "titration"))
            program = new
    unsettled = ()
    if draw(st.integers(0, 3)) == 0:  # a send that failed, or whose outcome is unknown
        at = fill_at + timedelta(minutes=draw(st.integers(1, span_min)), seconds=7)
        outcome = draw(st.sampled_from(["failed", "uncertain"]))
        new = draw(programs(single_bolus=True))
        unsettled = (ProgramChange(SERIAL, at, program, new, conc, "x", outcome=outcome),)

    early = draw(st.booleans()) and draw(st.booleans())
    expiry = fill_at.astimezone(zone).date() + timedelta(
        days=draw(st.integers(5, 200) if early else st.integers(400, 900))
    )
    refill = Refill(
        pump_serial=SERIAL,
        at=fill_at,
        withdrawn_ul=readings[0].reservoir_ul if pre_fill else 0,
        expected_residual_ul=readings[0].reservoir_ul if pre_fill else 0,
        added_ul=added,
        product=PRODUCT,
        concentration_mcg_ml=conc,
        lot="L1",
        expiry=expiry,
    )
    others: list[Refill] = []
    if draw(st.integers(0, 3)) == 0:  # the previous cycle's fill: its vial no longer counts
        first = readings[0].at if pre_fill else fill_at
        prev_at = first - timedelta(days=draw(st.integers(30, 200)), minutes=1)
        others.append(
            replace(
                refill,
                at=prev_at,
                concentration_mcg_ml=old_conc,
                expiry=prev_at.date() + timedelta(days=draw(st.integers(1, 400))),
            )
        )
    if draw(st.integers(0, 5)) == 0:  # a refill whose pump update is still uncertain
        others.append(
            replace(
                refill,
                at=fill_at + timedelta(minutes=draw(st.integers(1, span_min))),
                expiry=fill_at.date() + timedelta(days=3),
                status="pending",
            )
        )
    bridge = None
    if pre_fill and old_conc != conc and draw(st.booleans()):
        bridge = (draw(st.integers(100, 600)), old_conc, draw(st.integers(10, 3000)))
    last_record = max(
        [fill_at, *reading_times, *sorted(change_times), *(c.at for c in unsettled)]
        + [r.at for r in others]
    )
    now = last_record + timedelta(
        days=draw(st.integers(0, 60)), seconds=draw(st.integers(0, 86_399))
    )
    order = list(range(len(readings)))
    if draw(st.integers(0, 3)) == 0:
        order = draw(st.permutations(order))
    return Scenario(
        zone=zone_name,
        settings=clinic_settings,
        capacity_ul=capacity,
        alarm_ul=alarm_ul,
        readings=tuple(readings),
        pre_fill=pre_fill,
        refill=refill,
        others=tuple(others),
        bridge=bridge,
        changes=tuple(changes),
        unsettled=unsettled,
        insert_order=tuple(order),
        now=now,
        latest_flag=latest_flag,
    )


# --------------------------------------------------------------------------- the world


def _build(path: Path, sc: Scenario) -> tuple[Store, int]:
    store = Store.open(path)
    store.save_clinic_settings(sc.settings, ADMIN, "property test")
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H200001", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(
        Pump(
            serial=SERIAL,
            model="SynchroMed II 8637-40",
            reservoir_capacity_ul=sc.capacity_ul,
            alarm_volume_ul=sc.alarm_ul,
            implant_date=date(2024, 1, 10),
            pump_dead_volume_ul=250,
            catheter_length_cm=Decimal("60"),
            catheter_ul_per_cm=Decimal("1.5"),
        ),
        patient.id,
        NURSE,
    )
    for i in sc.insert_order:
        store.add_reading(sc.readings[i], NURSE)
    store.add_refill(sc.refill, NURSE, bridge=sc.bridge)
    for other in sc.others:
        store.add_refill(other, NURSE)
    for c in (*sc.changes, *sc.unsettled):
        store.add_program_change(c, CLINICIAN)
    return store, patient.id


@dataclass(frozen=True)
class _Battery:
    """What the generated readings say about the battery."""

    reported_eri: date | None
    reported_eos: date | None
    seen: date | None
    """Local date of the first reading showing ERI."""
    before: datetime | None
    """The last reading without ERI before it."""
    observed_wins: bool
    """No ERI date from the pump, or a reading showed ERI before the pump's date."""


def _pump_day(day: date | None, zone: ZoneInfo) -> date | None:
    """A day the pump reports is a day of its clock (UTC): the clinic's date on which it
    may begin, the earlier of the two (west of UTC, the evening before)."""
    if day is None:
        return None
    start = datetime.fromtimestamp((day - date(1970, 1, 1)).days * 86_400, zone).date()
    return min(day, start)


def _battery(sc: Scenario, zone: ZoneInfo) -> _Battery:
    reports = [r for r in sc.readings if r.eri_date is not None or r.eos_date is not None]
    latest = reports[-1] if reports else None  # readings are oldest first
    first = next((i for i, r in enumerate(sc.readings) if r.eri), None)
    seen = None if first is None else sc.readings[first].at.astimezone(zone).date()
    before = [r.at for r in sc.readings[: first or 0] if not r.eri]
    rep_eri = _pump_day(latest.eri_date, zone) if latest else None
    return _Battery(
        reported_eri=rep_eri,
        reported_eos=_pump_day(latest.eos_date, zone) if latest else None,
        seen=seen,
        before=before[-1] if before else None,
        observed_wins=seen is not None and (rep_eri is None or seen < rep_eri),
    )


def _expected_end_of_service(sc: Scenario, zone: ZoneInfo) -> date | None:
    """End of Service by the documented rule (domain.md, docs/dosing.md, user guide): the
    pump's own date; else its ERI date + the clinic's days; else, once a reading shows ERI
    (or shows it before the pump's ERI date), the local date of the last reading without
    it + the clinic's days; none when ERI was already on at the first reading."""
    b = _battery(sc, zone)
    days = timedelta(days=sc.settings.eri_to_eos_days)
    if b.reported_eos is not None:
        return b.reported_eos
    if not b.observed_wins:
        return None if b.reported_eri is None else b.reported_eri + days
    if b.before is None:
        return None
    # The earlier of calendar days from the local date and 24 h days from the instant
    # (POSIX seconds: a clock change moves the local date of the second one).
    by_instant = datetime.fromtimestamp(b.before.timestamp() + days.days * 86_400, zone).date()
    return min(b.before.astimezone(zone).date() + days, by_instant)


def _anchor(sc: Scenario) -> tuple[datetime, int, Program | None, int, str]:
    """(instant, volume, program, concentration, kind) the alarm is counted from."""
    latest = sc.readings[-1]
    if latest.at > sc.refill.at:
        return (
            latest.at,
            latest.reservoir_ul,
            latest.program,
            latest.concentration_mcg_ml,
            "reading",
        )
    known = [(r.at, 0, r.program) for r in sc.readings if r.at <= sc.refill.at]
    known += [(c.at, 1, c.new) for c in sc.changes if c.at <= sc.refill.at]
    program = max(known, key=lambda k: (k[0], k[1]))[2] if known else None
    return sc.refill.at, sc.refill.added_ul, program, sc.refill.concentration_mcg_ml, "refill"


def _stops(r: Reading, cleared_by_fill: bool) -> bool:
    if r.eos:
        return True
    codes = [a for a in r.alarms if a in STOPS_DELIVERY]
    if cleared_by_fill:
        codes = [a for a in codes if a != "reservoir_empty"]
    return bool(codes)


def _worklist_json(db: Path, now: datetime, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    capsys.readouterr()
    assert main(["worklist", "--db", str(db), "--json", "--now", now.isoformat()]) == 0
    return json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------- the property


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(sc=scenarios())
def test_every_surface_gives_the_same_dates_and_refill_by_is_the_earliest_bound(
    sc: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = ZoneInfo(sc.zone)
    now = sc.now
    today = now.astimezone(zone).date()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "p.sqlite"
        store, pid = _build(db, sc)
        try:
            # The worklist first, in its own process state: it computes and keeps the forecast.
            work = _worklist_json(db, now, capsys)
            clinic = ClinicService(store, load_drug_library(), NURSE)
            assert str(clinic.tz) == sc.zone  # the stored settings, as the worklist reads them
            row = clinic.patient_row(pid, now=now)
            ov = clinic.overview(pid, now=now)
            due = [r for r in clinic.refill_due(date(9999, 12, 31), now=now) if r.patient.id == pid]
            history = clinic.store.patient_history(pid)
            trends = load_trends(
                history,
                clinic.store.find_pump_owner,
                clinic.tz,
                now,
                TrendSettings(thresholds=clinic.settings.thresholds, clinic=clinic.settings),
                forecast_of=clinic.forecast_for,
                bridges_of=clinic.store.bridges,
            )
            latest = clinic.latest_reading(pid, SERIAL)
            assert latest is not None
            session = RefillSession(clinic, pid, now=lambda: now)
            current = session.identify(latest).forecast_now
        finally:
            store.close()

    # ---- 1. the same refill-by, alarm, End of Service and status everywhere
    assert row is not None and row.forecast is not None and row.status is not None
    assert ov is not None
    assert len(due) == 1 and due[0].forecast is not None and due[0].status is not None
    assert len(work) == 1 and work[0]["pump_serial"] == SERIAL
    assert trends.reservoir is not None and trends.reservoir.forecast is not None
    tf = trends.reservoir.forecast
    w = work[0]

    def day(text: str | None) -> date | None:
        return None if text is None else date.fromisoformat(text)

    refill_by = row.refill_by
    alarm_at = row.alarm_at
    alarm_day = row.forecast.alarm_day
    eos_day = row.forecast.eos_day
    status = row.status.status
    assert refill_by is not None
    surfaces = {
        "overview": (
            ov.refill_by,
            ov.alarm_at,
            ov.forecast.alarm_day,
            ov.forecast.end_of_service.day if ov.forecast.end_of_service else None,
            ov.status.status,
        ),
        "due query": (
            due[0].refill_by,
            due[0].alarm_at,
            due[0].forecast.alarm_day,
            due[0].forecast.eos_day,
            due[0].status.status,
        ),
        "worklist": (
            day(w["refill_by"]),
            None if w["alarm_at"] is None else datetime.fromisoformat(w["alarm_at"]),
            day(w["alarm_date"]),
            day(w["end_of_service_date"]),
            Status(w["status"]),
        ),
        "trends": (
            tf.refill_by,
            tf.alarm_at,
            tf.alarm_day,
            tf.end_of_service.day if tf.end_of_service else None,
            tf.status_on(today).status,
        ),
        "refill review": (
            current.refill_by,
            current.alarm_at,
            current.alarm_day,
            current.end_of_service.day if current.end_of_service else None,
            current.status_on(today).status,
        ),
    }
    for name, got in surfaces.items():
        assert got == (refill_by, alarm_at, alarm_day, eos_day, status), name
    if eos_day is not None:  # the battery plot marks the same End of Service
        assert trends.battery is not None and trends.battery.outlook.eos_at is not None
        assert trends.battery.outlook.eos_at.astimezone(zone).date() == eos_day
    if alarm_at is not None:
        assert alarm_day == alarm_at.astimezone(zone).date()
        assert trends.reservoir.projection_x[-1] == alarm_at.timestamp()

    # ---- 2. refill-by is the earliest bound, each computed here from the inputs
    fill_day = sc.refill.at.astimezone(zone).date()
    bounds = {
        "interval": fill_day
        + timedelta(days=_max_interval_days(PRODUCT, sc.refill.concentration_mcg_ml)),
        "expiry": sc.refill.expiry,
    }
    if alarm_at is not None:
        bounds["alarm"] = alarm_at.astimezone(zone).date() - timedelta(
            days=sc.settings.refill_margin_days
        )
    eos = _expected_end_of_service(sc, zone)
    assert eos_day == eos, "End of Service"
    if eos is not None:
        bounds["end of service"] = eos - timedelta(days=1)  # the pump may stop that day
    for name, bound in bounds.items():
        assert refill_by <= bound, (name, bound, refill_by)
    assert refill_by == min(bounds.values()), bounds
    event(f"governs: {min(bounds, key=lambda k: bounds[k])}")

    # ---- 4. a pump that says it is not delivering is not delivering everywhere
    latest_reading = sc.readings[-1]
    if latest_reading.at > sc.refill.at and _stops(latest_reading, cleared_by_fill=False):
        event("not delivering: latest reading says so")
        assert status is Status.NOT_DELIVERING
        assert alarm_at is None and alarm_day is None
    if eos is not None and eos <= today:
        assert status is Status.NOT_DELIVERING  # End of Service has passed
    if status not in (Status.NOT_DELIVERING, Status.ATTENTION) and refill_by < today:
        assert status is Status.OVERDUE
    event(f"status: {status.value}")

    # ---- 3. the alarm instant against the independent oracle
    at, volume, program, conc, kind = _anchor(sc)
    later = [c for c in sc.changes if c.at > at or (c.at == at and kind == "reading")]
    stopped = _stops(latest_reading, cleared_by_fill=kind == "refill")
    if (
        program is not None
        and program.mode is Mode.SIMPLE_CONTINUOUS
        and not later
        and sc.bridge is None
        and not any(c.outcome == "uncertain" for c in sc.unsettled)
        and not stopped
    ):
        event(f"oracle checked ({kind} anchor)")
        pb = program.patient_bolus
        expected = oracle.alarm_instant(
            at,
            volume,
            latest_reading.alarm_volume_ul,
            program.daily_dose_mcg,
            pb.dose_mcg if pb else 0,
            pb.max_per_day if pb else 0,
            conc,
        )
        assert alarm_at == expected, (kind, at, volume, program)
        # The projected empty date is never later than the oracle's walk to nothing.
        empty = oracle.alarm_instant(
            at,
            volume,
            0,
            program.daily_dose_mcg,
            pb.dose_mcg if pb else 0,
            pb.max_per_day if pb else 0,
            conc,
        )
        assert ov.forecast.empty_at is not None and ov.forecast.empty_at <= empty


def test_the_generator_reaches_every_kind_of_history() -> None:
    """The property above is only as good as its histories: check they vary."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(sc=scenarios())
    def collect(sc: Scenario) -> None:
        seen.add(sc.zone)
        seen.add("bridge" if sc.bridge else "no bridge")
        seen.add(f"flag:{sc.latest_flag}")
        seen.add("eri" if any(r.eri for r in sc.readings) else "no eri")
        seen.add("refill anchor" if sc.readings[-1].at < sc.refill.at else "reading anchor")
        for c in sc.changes:
            seen.add(c.new.mode.value)

    collect()
    assert {
        *ZONES,
        "bridge",
        "no bridge",
        "flag:eos",
        "flag:motor_stall",
        "eri",
        "refill anchor",
        "reading anchor",
        "single_bolus",
        "flex",
    } <= seen, seen


# --------------------------------------------------------------------------- known bugs


def _clinic_with(
    path: Path,
    zone: str,
    readings: list[Reading],
    fill_at: datetime,
    **settings_kw: Any,
) -> tuple[ClinicService, int]:
    """A clinic (settings stored, as the worklist reads them) with one patient whose pump
    was filled with 40 mL of 2000 mcg/mL at ``fill_at`` and read as ``readings``."""
    sc = Scenario(
        zone=zone,
        settings=ClinicSettings(zone=zone, **settings_kw),
        capacity_ul=40_000,
        alarm_ul=2_000,
        readings=tuple(readings),
        pre_fill=False,
        refill=Refill(SERIAL, fill_at, 0, 0, 40_000, PRODUCT, 2000, "L1", date(2030, 1, 1)),
        others=(),
        bridge=None,
        changes=(),
        unsettled=(),
        insert_order=tuple(range(len(readings))),
        now=readings[-1].at,
        latest_flag="",
    )
    store, pid = _build(path, sc)
    return ClinicService(store, load_drug_library(), NURSE), pid


def _reading(at: datetime, reservoir_ul: int = 39_000, **kw: Any) -> Reading:
    fields: dict[str, Any] = {
        "pump_serial": SERIAL,
        "at": at,
        "pump_clock": at,
        "reservoir_ul": reservoir_ul,
        "alarm_volume_ul": 2_000,
        "battery_mv": 3_050,
        "eri": False,
        "eos": False,
        "concentration_mcg_ml": 2000,
        "program": Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(50)),
    }
    fields.update(kw)
    return Reading(**fields)


def test_trends_survive_a_flat_battery_voltage(tmp_path: Path) -> None:
    readings = [
        _reading(datetime(2025, 5, 1, 21, 55, tzinfo=UTC)),
        _reading(datetime(2025, 5, 6, 22, 0, tzinfo=UTC), 38_000),
        _reading(datetime(2025, 5, 31, 22, 0, tzinfo=UTC), 37_000),
    ]
    clinic, pid = _clinic_with(
        tmp_path / "t.sqlite", "Europe/London", readings, datetime(2025, 5, 1, 22, tzinfo=UTC)
    )
    now = datetime(2025, 5, 31, 22, 0, tzinfo=UTC)
    trends = load_trends(
        clinic.store.patient_history(pid),
        clinic.store.find_pump_owner,
        clinic.tz,
        now,
        TrendSettings(thresholds=clinic.settings.thresholds, clinic=clinic.settings),
        forecast_of=clinic.forecast_for,
        bridges_of=clinic.store.bridges,
    )
    assert trends.battery is not None and trends.battery.outlook.eri_at is None


def test_projected_end_of_service_counts_calendar_days(tmp_path: Path) -> None:
    """Read at 23:00:01 GMT on 29 Dec 2025 without ERI, then with ERI (no dates from the
    pump): End of Service is "the reading of 29 Dec 2025 + 90 days" = 29 Mar 2026. Counted
    as 90 x 24 h it lands at 00:00:01 BST on 30 Mar, a day late."""
    readings = [
        _reading(datetime(2025, 12, 29, 23, 0, 1, tzinfo=UTC)),
        _reading(datetime(2026, 1, 5, 10, tzinfo=UTC), 38_000, eri=True, alarms=("eri",)),
    ]
    clinic, pid = _clinic_with(
        tmp_path / "c.sqlite", "Europe/London", readings, datetime(2025, 12, 1, 10, tzinfo=UTC)
    )
    ov = clinic.overview(pid, now=readings[-1].at)
    assert ov is not None and ov.forecast.end_of_service is not None
    assert "reading of 29 Dec 2025" in ov.forecast.end_of_service.note
    assert ov.forecast.end_of_service.day == date(2026, 3, 29)
    assert ov.refill_by == date(2026, 3, 28)  # the day before: the pump may stop that day


def test_projected_end_of_service_counts_whole_days_when_they_come_sooner(
    tmp_path: Path,
) -> None:
    """Read at 23:30 UTC on 14 Sep 2026 (00:30 BST on 15 Sep) without ERI, then with ERI:
    "the reading's local date + 90 days" is 14 Dec, but ERI may have come right after the
    reading, and 90 x 24 h from that instant is 23:30 GMT on 13 Dec (the clocks went back
    in October): the earlier, 13 Dec, is shown, and the pump's last safe day is 12 Dec."""
    readings = [
        _reading(datetime(2026, 9, 14, 23, 30, tzinfo=UTC)),
        _reading(datetime(2026, 10, 20, 10, tzinfo=UTC), 38_000, eri=True, alarms=("eri",)),
    ]
    clinic, pid = _clinic_with(
        tmp_path / "d.sqlite", "Europe/London", readings, datetime(2026, 9, 1, 10, tzinfo=UTC)
    )
    ov = clinic.overview(pid, now=readings[-1].at)
    assert ov is not None and ov.forecast.end_of_service is not None
    assert ov.forecast.end_of_service.day == date(2026, 12, 13)
    row = clinic.patient_row(pid, now=datetime(2026, 12, 13, 9, tzinfo=UTC))
    assert row is not None and row.status is not None
    assert row.status.status is Status.NOT_DELIVERING


def test_the_pumps_own_end_of_service_date_is_shown(tmp_path: Path) -> None:
    readings = [
        _reading(datetime(2026, 2, 1, 10, tzinfo=UTC)),
        _reading(
            datetime(2026, 3, 1, 10, tzinfo=UTC),
            38_000,
            eri=True,
            alarms=("eri",),
            eos_date=date(2026, 6, 30),
        ),
    ]
    clinic, pid = _clinic_with(
        tmp_path / "o.sqlite", "Europe/London", readings, datetime(2026, 1, 20, 10, tzinfo=UTC)
    )
    row = clinic.patient_row(pid, now=readings[-1].at)
    assert row is not None and row.forecast is not None
    assert row.forecast.eos_day == date(2026, 6, 30)
    assert row.refill_by == date(2026, 6, 29)  # the day before: the pump may stop that day
