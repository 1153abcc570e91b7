"""The clinic service without Qt: demo clinic, dates that agree everywhere, wrong-patient and
unknown-pump rules, and the overview's arithmetic checked independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole.demo import DEMO_PATIENTS, DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.forecast import Status
from itbconsole.model import Reading, simple_continuous
from itbconsole.services.clinic import ClinicService, UnknownPump, WrongPatient
from itbconsole.store import Store
from tests import oracle

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    return ClinicService(store, load_drug_library(), DEMO_USER, LONDON)


def pid(clinic: ClinicService, family: str) -> int:
    return next(
        r.patient.id for r in clinic.patient_rows(family, now=NOW) if r.patient.id is not None
    )


def test_demo_clinic_is_deterministic(tmp_path: Path) -> None:
    a = open_demo_store(tmp_path / "a.sqlite", now=NOW)
    b = open_demo_store(tmp_path / "b.sqlite", now=NOW)
    assert a.counts() == b.counts()

    def rows(store: Store) -> list[tuple[str, int | None, datetime | None]]:
        clinic = ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
        return [
            (r.patient.display_name, r.reservoir_ul, r.alarm_at)
            for r in clinic.patient_rows(now=NOW)
        ]

    assert rows(a) == rows(b)
    assert a.verify().ok


def test_demo_clinic_has_the_promised_patients(clinic: ClinicService) -> None:
    rows = {r.patient.family_name: r for r in clinic.patient_rows(now=NOW)}
    assert len(rows) == len(DEMO_PATIENTS) == 12
    assert 0 <= rows["Walsh"].days_to_alarm <= 7  # type: ignore[operator]  # alarm days away
    assert rows["Patel"].eri  # past ERI
    child = rows["Hughes"].patient
    assert child.age_on(NOW.date()) < 12  # pediatric
    # Under-delivery: the last refills withdrew more than expected, increasingly.
    history = clinic.store.patient_history(pid(clinic, "Brennan"))
    last = sorted(history.refills, key=lambda r: r.at)[-3:]
    excess = [r.withdrawn_ul - r.expected_residual_ul for r in last]
    assert all(e > 0 for e in excess) and excess == sorted(excess)


def test_list_and_overview_show_the_same_dates_for_every_patient(clinic: ClinicService) -> None:
    """One refill date per patient, wherever it is shown (FDA Z-1338-2012)."""
    for row in clinic.patient_rows(now=NOW):
        assert row.patient.id is not None
        ov = clinic.overview(row.patient.id, now=NOW)
        if ov is None or ov.alarm_at is None:
            continue
        assert ov.refill_by == row.refill_by, row.patient.display_name
        assert ov.days_to_alarm == row.days_to_alarm, row.patient.display_name
        assert ov.status == row.status, row.patient.display_name


def test_overview_alarm_date_checked_by_hand(clinic: ClinicService) -> None:
    okafor = pid(clinic, "Okafor")
    ov = clinic.overview(okafor, now=NOW)
    assert ov is not None
    r = ov.reading
    # Independent count (tests/oracle.py): the formula and the day-by-day schedule walk.
    program = r.program
    pb = program.patient_bolus
    assert pb is not None
    expected = oracle.alarm_instant(
        r.at,
        r.reservoir_ul,
        r.alarm_volume_ul,
        program.daily_dose_mcg,
        pb.dose_mcg,
        pb.max_per_day,
        r.concentration_mcg_ml,
    )
    assert ov.alarm_at == expected
    # The drug's maximum interval counts from the fill (the last confirmed refill), never
    # from the interrogation; the vial's expiry is a bound too.
    history = clinic.store.patient_history(okafor)
    fill = max((f for f in history.refills if f.status == "confirmed"), key=lambda f: f.at)
    assert ov.refill_by == min(
        expected.astimezone(LONDON).date() - timedelta(days=7),
        fill.at.astimezone(LONDON).date() + timedelta(days=180),
        fill.expiry,
    )


def _reading(serial: str, **kw: object) -> Reading:
    base: dict[str, object] = dict(
        pump_serial=serial,
        at=NOW,
        pump_clock=NOW + timedelta(seconds=3),
        reservoir_ul=20_000,
        alarm_volume_ul=2_000,
        battery_mv=3100,
        eri=False,
        eos=False,
        concentration_mcg_ml=2000,
        program=simple_continuous(500),
    )
    base.update(kw)
    return Reading(**base)  # type: ignore[arg-type]


def test_wrong_patient_writes_nothing(clinic: ClinicService) -> None:
    walsh = pid(clinic, "Walsh")
    before = clinic.store.counts()
    with pytest.raises(WrongPatient) as err:
        clinic.save_interrogation(_reading("SIM0000001"), (), open_patient_id=walsh)
    assert err.value.owner.family_name == "Okafor"
    assert clinic.store.counts() == before


def test_unknown_pump_writes_nothing(clinic: ClinicService) -> None:
    before = clinic.store.counts()
    with pytest.raises(UnknownPump):
        clinic.save_interrogation(_reading("NEVERSEEN1"), (), open_patient_id=None)
    assert clinic.store.counts() == before


def test_saved_interrogation_goes_to_the_pumps_owner(clinic: ClinicService) -> None:
    saved = clinic.save_interrogation(_reading("SIM0000001"), (), open_patient_id=None)
    assert saved.patient.family_name == "Okafor"
    assert clinic.latest_reading(pid(clinic, "Okafor"), "SIM0000001") == saved.reading


def test_stopped_pump_overview_is_urgent(clinic: ClinicService) -> None:
    clinic.save_interrogation(
        _reading("SIM0000001", alarms=("motor_stall",)), (), open_patient_id=None
    )
    ov = clinic.overview(pid(clinic, "Okafor"), now=NOW)
    assert ov is not None
    assert ov.status.status is Status.NOT_DELIVERING and ov.alarm_at is None
    assert ov.alarms[0].stops_delivery


def test_clock_drift_warning_threshold(clinic: ClinicService) -> None:
    okafor = pid(clinic, "Okafor")
    clinic.save_interrogation(
        _reading("SIM0000001", pump_clock=NOW + timedelta(seconds=60)), (), None
    )
    assert not clinic.overview(okafor, now=NOW).clock_warning  # type: ignore[union-attr]
    later = NOW + timedelta(minutes=1)
    clinic.save_interrogation(
        _reading("SIM0000001", at=later, pump_clock=later + timedelta(minutes=5)), (), None
    )
    assert clinic.overview(okafor, now=later).clock_warning  # type: ignore[union-attr]


def test_interrogation_settles_an_uncertain_program_change(clinic: ClinicService) -> None:
    from itbconsole.model import ChangeOutcome, ProgramChange

    okafor = pid(clinic, "Okafor")
    old = clinic.latest_reading(okafor, "SIM0000001").program  # type: ignore[union-attr]
    new = simple_continuous(550)
    change = clinic.store.add_program_change(
        ProgramChange(
            "SIM0000001",
            NOW - timedelta(minutes=5),
            old,
            new,
            2000,
            reason="increase 10 %",
            outcome=ChangeOutcome.UNCERTAIN,
        ),
        clinic.user,
        patient_id=okafor,
    )
    saved = clinic.save_interrogation(_reading("SIM0000001", program=new), (), None)
    assert saved.settled_changes == 1 and saved.still_uncertain == 0
    changes = clinic.store.patient_history(okafor).program_changes
    settled = [c for c in changes if c.pump_serial == "SIM0000001" and c.new == new]
    assert [c.outcome for c in settled] == ["succeeded"]
    assert change.id is not None


def test_settling_a_program_change_alone_never_reads_the_pump_log(
    clinic: ClinicService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a pending refill needs the pump's stored log (thousands of entries to decode on
    every save); an uncertain program change is settled from the program read."""
    from itbconsole.model import ChangeOutcome, ProgramChange
    from itbconsole.store.queries import StoredEvents

    okafor = pid(clinic, "Okafor")
    old = clinic.latest_reading(okafor, "SIM0000001").program  # type: ignore[union-attr]
    new = simple_continuous(550)
    clinic.store.add_program_change(
        ProgramChange(
            "SIM0000001",
            NOW - timedelta(minutes=5),
            old,
            new,
            2000,
            "up",
            (),
            ChangeOutcome.UNCERTAIN,
        ),
        clinic.user,
        patient_id=okafor,
    )
    read: list[int] = []
    real = StoredEvents._loaded

    def spy(self: StoredEvents) -> object:
        read.append(1)
        return real(self)

    monkeypatch.setattr(StoredEvents, "_loaded", spy)
    saved = clinic.save_interrogation(_reading("SIM0000001", program=new), (), None)
    assert saved.settled_changes == 1 and saved.refill_resolutions == ()
    assert read == []


def test_interrogation_keeps_a_change_uncertain_when_the_pump_runs_something_else(
    clinic: ClinicService,
) -> None:
    from itbconsole.model import ChangeOutcome, ProgramChange

    okafor = pid(clinic, "Okafor")
    old = clinic.latest_reading(okafor, "SIM0000001").program  # type: ignore[union-attr]
    clinic.store.add_program_change(
        ProgramChange(
            "SIM0000001",
            NOW - timedelta(minutes=5),
            old,
            simple_continuous(550),
            2000,
            reason="increase 10 %",
            outcome=ChangeOutcome.UNCERTAIN,
        ),
        clinic.user,
        patient_id=okafor,
    )
    saved = clinic.save_interrogation(
        _reading("SIM0000001", program=simple_continuous(55)), (), None
    )
    assert saved.settled_changes == 0 and saved.still_uncertain == 1


def test_a_stopped_pump_is_not_on_track_in_the_list(clinic: ClinicService) -> None:
    """The list and the overview agree that a pump that stopped delivering has no alarm date."""
    for code in ("motor_stall", "reservoir_empty", "end_of_service"):
        clinic.save_interrogation(_reading("SIM0000001", alarms=(code,)), (), None)
        row = next(r for r in clinic.patient_rows("Okafor", now=NOW))
        assert row.days_to_alarm is None and row.alarm_at is None, code
        assert row.status is not None and row.status.status is Status.NOT_DELIVERING, code
        assert row.last_reading_at is not None
        ov = clinic.overview(pid(clinic, "Okafor"), now=NOW)
        assert ov is not None and ov.status.status is Status.NOT_DELIVERING


def test_the_product_in_the_pump_ignores_a_refill_the_pump_did_not_take(
    clinic: ClinicService,
) -> None:
    """Issue 12: "which product is in the pump" had several rules; the program editor kept
    its own copy. One rule now, and a failed refill (the pump certainly did not take it)
    does not name the product."""
    from datetime import date
    from types import SimpleNamespace

    from itbconsole.model import Refill, RefillStatus

    at = datetime(2026, 10, 1, 9, tzinfo=UTC)

    def refill(days: int, product: str, status: RefillStatus) -> Refill:
        return Refill(
            "SER1", at + timedelta(days=days), 1_000, 1_000, 20_000, product, 2000, "L1",
            date(2027, 6, 1), status,
        )  # fmt: skip

    history = SimpleNamespace(
        refills=(
            refill(0, "Lioresal Intrathecal", RefillStatus.CONFIRMED),
            refill(30, "Gablofen", RefillStatus.FAILED),
        )
    )
    found = clinic.product_in_pump(history, "SER1", 2000)  # type: ignore[arg-type]
    assert found == "Lioresal Intrathecal"
    assert clinic.product_in_pump(history, "SER1", 500) is None  # type: ignore[arg-type]
