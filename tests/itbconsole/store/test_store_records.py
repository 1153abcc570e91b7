"""The repository API: patients, pumps, readings, events, refills, program changes."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole.model import Patient, Role
from itbconsole.store import Store, StoreError, UnknownPumpError, WrongPatientError
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_change,
    make_events,
    make_patient,
    make_pump,
    make_reading,
    make_refill,
)


def test_patient_round_trip_and_stamp(store: Store) -> None:
    saved = store.add_patient(make_patient(), NURSE)
    assert saved.id is not None
    assert store.get_patient(saved.id) == saved
    (version,) = store.patient_versions(saved.id)
    assert (version.stamp.by, version.stamp.role) == ("Nia Nurse", Role.NURSE)
    assert version.stamp.at.utcoffset() == timedelta(0)


def test_correction_keeps_history(store: Store) -> None:
    saved = store.add_patient(make_patient(), NURSE)
    assert saved.id is not None
    store.correct_patient(replace(saved, family_name="Jones-Smith"), CLINICIAN, "married")
    store.correct_patient(replace(saved, family_name="Smith"), NURSE, "typo")
    assert store.get_patient(saved.id).family_name == "Smith"
    versions = store.patient_versions(saved.id)
    assert [v.record.family_name for v in versions] == ["Jones", "Jones-Smith", "Smith"]
    assert [v.stamp.corrects_id for v in versions] == [
        None,
        versions[0].stamp.record_id,
        versions[1].stamp.record_id,
    ]
    assert versions[1].stamp.correction_note == "married"
    assert versions[1].stamp.by == CLINICIAN.name
    assert [p.family_name for p in store.search_patients("jones")] == []
    assert store.verify().ok


def test_a_corrected_row_cannot_be_corrected_again(store: Store, patient: Patient) -> None:
    refill = store.add_refill(make_refill(status="pending"), NURSE)
    assert refill.id is not None
    store.resolve_refill(refill.id, "confirmed", NURSE)
    with pytest.raises(StoreError, match="already corrected"):
        store.resolve_refill(refill.id, "failed", NURSE)
    confirmed = store.add_refill(make_refill(), NURSE)
    with pytest.raises(StoreError, match="nothing to resolve"):
        store.resolve_refill(confirmed.id or 0, "failed", NURSE)


def test_pending_refill_is_resolved_by_a_new_row(store: Store, patient: Patient) -> None:
    assert patient.id is not None
    pending = store.add_refill(make_refill(status="pending"), NURSE)
    assert pending.id is not None
    assert store.patients_overview(date(2026, 3, 2))[0].pending_refills == 1
    resolved = store.resolve_refill(pending.id, "confirmed", NURSE, "next read shows 40 mL")
    assert resolved.status == "confirmed" and resolved.id != pending.id
    history = store.patient_history(patient.id)
    assert [r.status for r in history.refills] == ["confirmed"]
    assert store.patients_overview(date(2026, 3, 2))[0].pending_refills == 0
    chain = store.versions("refills", pending.id)
    assert [s.record_id for s in chain] == [pending.id, resolved.id]
    assert store.counts()["refills"] == 2


def test_events_are_stored_once(store: Store, patient: Patient) -> None:
    assert store.add_events(make_events(n=5), NURSE) == 5
    assert store.add_events(make_events(start=3, n=5), NURSE) == 3  # 3, 4 already stored
    assert store.add_events(make_events(n=8), NURSE) == 0
    assert patient.id is not None
    assert [e.index for e in store.patient_history(patient.id).events] == list(range(8))
    assert store.counts()["pump_events"] == 8
    assert store.verify().ok


def test_reading_round_trip_keeps_both_clocks(store: Store, patient: Patient) -> None:
    reading = store.add_reading(make_reading(alarms=("low reservoir",)), NURSE)
    assert patient.id is not None
    (stored,) = store.patient_history(patient.id).readings
    assert stored == reading
    assert stored.clock_offset_s == 42
    row = store.db.execute("SELECT clock_offset_ms FROM readings").fetchone()
    assert row[0] == 42_000


def test_unknown_pump_is_refused(store: Store) -> None:
    with pytest.raises(UnknownPumpError, match="not registered"):
        store.add_reading(make_reading(serial="OTHER1"), NURSE)
    assert store.counts()["readings"] == 0


def test_wrong_patient_is_refused(store: Store, patient: Patient) -> None:
    other = store.add_patient(make_patient("Brown", "H200002", nhs_number=None), NURSE)
    before = store.counts()
    with pytest.raises(WrongPatientError, match="belongs to another patient"):
        store.add_reading(make_reading(), NURSE, patient_id=other.id)
    with pytest.raises(WrongPatientError):
        store.add_events(make_events(), NURSE, patient_id=other.id)
    with pytest.raises(WrongPatientError):
        store.register_pump(make_pump(), other.id or 0, NURSE)
    assert store.counts() == before


def test_pump_registration_history(store: Store, patient: Patient) -> None:
    other = store.add_patient(make_patient("Brown", "H200002", nhs_number=None), NURSE)
    assert store.find_pump_owner("NGP123456") == patient.id
    store.unregister_pump("NGP123456", NURSE, at=T0, note="explanted")
    assert store.find_pump_owner("NGP123456") is None
    store.register_pump(make_pump(), other.id or 0, NURSE, at=T0 + timedelta(days=1))
    assert store.find_pump_owner("NGP123456") == other.id
    assert patient.id is not None
    history = store.patient_history(patient.id)
    assert [r.patient_id for r in history.registrations] == [patient.id]
    # Search by serial finds everyone the pump was ever registered to.
    assert {p.id for p in store.search_patients("NGP123456")} == {patient.id, other.id}


def test_wrong_registration_withdrawn_keeps_history(store: Store, patient: Patient) -> None:
    reg = store.db.execute("SELECT id FROM pump_registrations").fetchone()[0]
    store.mark_entered_in_error("pump_registrations", reg, NURSE, "registered to wrong patient")
    assert store.find_pump_owner("NGP123456") is None
    assert store.counts()["pump_registrations"] == 2
    with pytest.raises(StoreError, match="why"):
        store.mark_entered_in_error("readings", 1, NURSE, " ")


def test_program_change_needs_a_clinician(store: Store, patient: Patient) -> None:
    with pytest.raises(StoreError, match="only a clinician"):
        store.add_program_change(make_change(), NURSE)
    sent = store.add_program_change(make_change(), CLINICIAN)
    with pytest.raises(StoreError, match="nothing to resolve"):
        store.resolve_program_change(sent.id or 0, "failed", CLINICIAN)
    change = store.add_program_change(make_change(outcome="uncertain"), CLINICIAN)
    assert change.id is not None
    overview = store.patients_overview(date(2026, 3, 2))[0]
    assert overview.uncertain_program_changes == 1
    done = store.resolve_program_change(
        change.id, "succeeded", CLINICIAN, readback=change.new, note="read back matches"
    )
    assert done.readback == change.new and done.overrides == change.overrides
    assert patient.id is not None
    assert store.patient_history(patient.id).program_changes == (sent, done)
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 0


def test_overview_has_no_dates_without_the_forecast(store: Store, patient: Patient) -> None:
    """The store computes no date itself: list rows carry the pump's stored forecast,
    which only the clinic service computes (tests/itbconsole/test_forecast.py)."""
    store.add_reading(make_reading(), NURSE)
    (row,) = store.patients_overview(T0.date())
    assert row.forecast is None and row.alarm_at is None and row.refill_by is None
    assert (row.reservoir_ul, row.pump_serial, row.eri) == (40_000, "NGP123456", False)


def test_overview_uses_latest_effective_reading(store: Store, patient: Patient) -> None:
    store.add_reading(make_reading(reservoir_ul=30_000), NURSE)
    later = store.add_reading(make_reading(at=T0 + timedelta(days=1), reservoir_ul=9_000), NURSE)
    assert store.patients_overview(T0.date())[0].reservoir_ul == 9_000
    store.mark_entered_in_error("readings", later.id or 0, NURSE, "wrong pump read")
    assert store.patients_overview(T0.date())[0].reservoir_ul == 30_000


def test_search_by_name_numbers_and_serial(store: Store, patient: Patient) -> None:
    store.add_patient(make_patient("Brown", "H200002", nhs_number=None), NURSE)
    assert [p.family_name for p in store.search_patients("jon")] == ["Jones"]
    assert [p.family_name for p in store.search_patients("Ann J")] == ["Jones"]
    assert [p.family_name for p in store.search_patients("H2000")] == ["Brown"]
    assert [p.family_name for p in store.search_patients("943 476 5919")] == ["Jones"]
    assert [p.family_name for p in store.search_patients("ngp123456")] == ["Jones"]
    assert store.search_patients("%") == []
    assert store.search_patients("") == []


def test_history_gathers_everything(store: Store, patient: Patient) -> None:
    store.add_reading(make_reading(), NURSE)
    store.add_refill(make_refill(), NURSE)
    store.add_program_change(make_change(), CLINICIAN)
    store.add_events(make_events(n=3), NURSE)
    assert patient.id is not None
    h = store.patient_history(patient.id)
    assert (len(h.readings), len(h.refills), len(h.program_changes), len(h.events)) == (1, 1, 1, 3)
    assert [p.serial for p in h.pumps] == ["NGP123456"]
    assert h.pumps[0].catheter_ul_per_cm == make_pump().catheter_ul_per_cm
    with pytest.raises(LookupError):
        store.patient_history(999)
    alone = store.add_patient(make_patient("Brown", "H200002", nhs_number=None), NURSE)
    empty = store.patient_history(alone.id or 0)
    assert (empty.pumps, empty.readings, empty.events) == ((), (), ())


def test_record_action_is_audited(store: Store) -> None:
    seq = store.record_action("pump_clock_set", {"serial": "NGP1", "drift_s": 95}, CLINICIAN)
    entries = list(store.audit_entries())
    assert entries[-1]["seq"] == seq and entries[-1]["action"] == "pump_clock_set"
    assert store.verify().ok


def test_times_are_stored_as_utc_instants(store: Store, patient: Patient) -> None:
    london = ZoneInfo("Europe/London")
    # 01:30 on the night the clocks go back happens twice; fold picks the second (GMT).
    ambiguous = datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=london)
    store.add_reading(make_reading(at=ambiguous), NURSE)
    row = store.db.execute("SELECT at FROM readings").fetchone()
    assert row[0] == "2026-10-25T01:30:00.000000+00:00"
    assert patient.id is not None
    # (PEP 495: ambiguous times never compare equal across zones, so compare instants.)
    assert store.patient_history(patient.id).readings[0].at.timestamp() == ambiguous.timestamp()
    with pytest.raises(StoreError, match="timezone"):
        store.add_reading(make_reading(at=datetime(2026, 3, 2, 9, 30)), NURSE)


def test_two_connections_writing_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Store.open(path) as first:
        p = first.add_patient(make_patient(), NURSE)
        first.register_pump(make_pump(), p.id or 0, NURSE, at=T0)

    def write(n: int) -> None:
        with Store.open(path) as own:
            for i in range(n):
                own.add_refill(make_refill(at=T0 + timedelta(hours=i)), NURSE)

    threads = [threading.Thread(target=write, args=(40,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Store.open(path) as store:
        assert store.counts()["refills"] == 120
        assert store.verify().ok


def test_interrogation_is_saved_whole_or_not_at_all(store: Store, patient: Patient) -> None:
    assert store.last_event_index("NGP123456") == -1
    saved, new = store.add_interrogation(
        make_reading(), make_events(n=4), NURSE, patient_id=patient.id
    )
    assert (saved.id, new) == (1, 4) and store.last_event_index("NGP123456") == 3
    before = store.counts()
    broken = [*make_events(start=4, n=2), make_events(serial="OTHER1", n=1)[0]]
    with pytest.raises(UnknownPumpError):
        store.add_interrogation(make_reading(at=T0 + timedelta(days=1)), broken, NURSE)
    assert store.counts() == before  # the reading and the first events were rolled back


def test_overview_for_chosen_patients(store: Store, patient: Patient) -> None:
    other = store.add_patient(make_patient("Brown", "H200002", nhs_number=None), NURSE)
    rows = store.patients_overview(T0.date(), patient_ids=[other.id or 0])
    assert [r.patient.family_name for r in rows] == ["Brown"]
    assert rows[0].pump_serial is None and rows[0].days_to_alarm is None
