"""Applying another room's events: its records appear here exactly as a local write would
make them (patient list, worklist, current state, forecast cache), with their authors and
times, under ids of this room, idempotently, and passing ``db verify``; whatever cannot be
applied is kept as a conflict for an administrator, never dropped and never stopping the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher

from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.model import Role, User
from itbconsole.services.accounts import AccountService
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from itbconsole.sync.apply import (
    apply_events,
    apply_waiting,
    download_cursors,
    open_conflict_count,
    open_conflicts,
)
from itbconsole.sync.outbox import pending_events
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
from tests.itbconsole.sync.local_fixtures import (
    RoomFactory,
    events_of,
    originals_of,
    room_factory,
    rows,
    sync,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def open_room(tmp_path: Path) -> Iterator[RoomFactory]:
    yield from room_factory(tmp_path)


def _clinic(store: Store) -> ClinicService:
    return ClinicService(store, load_drug_library(), DEMO_USER, LONDON)


def _worklist(store: Store) -> list[tuple[object, ...]]:
    clinic = _clinic(store)
    return [
        (r.patient.hospital_number, r.patient.family_name, r.pump_serial, r.reservoir_ul,
         r.refill_by, r.status.status if r.status else None)
        for r in clinic.worklist(days=60, now=NOW)
    ]  # fmt: skip


def _patient_list(store: Store) -> list[tuple[object, ...]]:
    clinic = _clinic(store)
    return [
        (r.patient.hospital_number, r.patient.family_name, r.pump_serial, r.last_reading_at,
         r.reservoir_ul, r.pending_refills, r.refill_by)
        for r in clinic.patient_rows(now=NOW)
    ]  # fmt: skip


def _names(store: Store) -> list[str]:
    """Every current patient's family name, sorted."""
    return sorted(
        str(r["family_name"])
        for r in rows(
            store,
            "SELECT v.family_name FROM current_patient c"
            " JOIN patient_versions v ON v.id = c.version_id",
        )
    )


def _stamps(store: Store, table: str) -> list[tuple[object, ...]]:
    return [
        (r["created_at"], r["created_by"], r["created_role"])
        for r in rows(store, f"SELECT * FROM [{table}] ORDER BY created_at, id")
    ]


def test_a_whole_clinic_appears_in_another_room_as_it_is_there(tmp_path: Path) -> None:
    """The demo clinic written in room A, applied to an empty room B: B's patient list and
    worklist are A's, every row keeps its author and time, B's trail verifies."""
    a = open_demo_store(tmp_path / "a.sqlite", now=NOW)
    b = Store.open(tmp_path / "b.sqlite")
    try:
        report = apply_events(b, originals_of(a))
        assert report.conflicts == [] and report.applied == len(originals_of(a))
        assert _patient_list(b) == _patient_list(a) != []
        assert _worklist(b) == _worklist(a) != []
        for table in ("patient_versions", "readings", "refills", "program_changes"):
            assert _stamps(b, table) == _stamps(a, table)
        actions = {r["action"] for r in rows(b, "SELECT action FROM audit_log")}
        assert actions <= {"sync:create", "sync:correct", "sync:entered_in_error", "ids_mapped"}
        assert b.verify().ok, b.verify().summary()
        assert download_cursors(b.db) == {a.store_id(): events_of(a)[-1].room_seq}
    finally:
        a.close()
        b.close()


def test_applying_the_same_events_again_changes_nothing(open_room: RoomFactory) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    a.add_reading(make_reading(), NURSE)
    first = sync(a, b)
    counts = b.counts()
    again = sync(a, b)
    assert (first.applied, again.applied, again.skipped_known) == (6, 0, 6)
    assert b.counts() == counts
    assert b.verify().ok


def test_ids_are_this_rooms_and_corrections_point_at_the_local_row(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    # B has records of its own first, so A's ids mean other rows here.
    mine = b.add_patient(make_patient("Local", hospital="H900001", nhs_number=None), NURSE)
    b.register_pump(make_pump("NGP000001"), mine.id or 0, NURSE, at=T0 - timedelta(days=10))
    b.add_refill(make_refill("NGP000001"), NURSE)

    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    a.add_reading(make_reading(), NURSE)
    refill = a.add_refill(make_refill(at=T0 + timedelta(hours=1), status="pending"), NURSE)
    change = a.add_program_change(make_change(at=T0 + timedelta(hours=2)), CLINICIAN)
    a.correct_patient(replace(patient, family_name="Jones-Smith"), NURSE, "married name")
    a.resolve_refill(refill.id or 0, "confirmed", NURSE, "pump read back the volume")
    a.mark_entered_in_error("program_changes", change.id or 0, CLINICIAN, "wrong patient file")
    assert sync(a, b).conflicts == []

    (local_patient,) = [p for p in b.search_patients("Jones-Smith")]
    assert local_patient.id != patient.id
    history = b.patient_versions(local_patient.id or 0)
    assert [v.record.family_name for v in history] == ["Jones", "Jones-Smith"]
    assert history[1].stamp.corrects_id == history[0].stamp.record_id
    assert history[1].stamp.correction_note == "married name"
    assert b.find_pump_owner("NGP123456") == local_patient.id
    refills = rows(b, "SELECT * FROM refills WHERE pump_serial = 'NGP123456' ORDER BY id")
    assert [(r["status"], r["patient_id"]) for r in refills] == [
        ("pending", local_patient.id),
        ("confirmed", local_patient.id),
    ]
    assert refills[1]["corrects_id"] == refills[0]["id"]
    changes = rows(b, "SELECT * FROM program_changes ORDER BY id")
    assert changes[1]["corrects_id"] == changes[0]["id"] and changes[1]["entered_in_error"] == 1
    assert b.verify().ok
    # Each of A's rows stands for one row here, recorded in sync_ids.
    mapped = rows(b, "SELECT * FROM sync_ids WHERE table_name = 'patients'")
    assert [(m["origin_id"], m["local_id"]) for m in mapped] == [(patient.id, local_patient.id)]


def test_the_forecast_is_worked_out_again_when_a_rooms_reading_arrives(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=NOW - timedelta(days=400))
    a.add_reading(make_reading(at=NOW - timedelta(days=20), reservoir_ul=30_000), NURSE)
    sync(a, b)
    before = _patient_list(b)
    assert rows(b, "SELECT pump_serial FROM pump_forecast") == [{"pump_serial": "NGP123456"}]
    a.add_reading(make_reading(at=NOW - timedelta(days=1), reservoir_ul=9_000), NURSE)
    sync(a, b)
    assert rows(b, "SELECT * FROM pump_forecast") == []  # the cached forecast is stale
    after = _patient_list(b)
    assert after == _patient_list(a) and after != before
    assert after[0][4] == 9_000


def test_an_account_made_in_one_room_signs_in_in_another(open_room: RoomFactory) -> None:
    a, b = open_room("a"), open_room("b")
    accounts_a = AccountService(a, hasher=CHEAP)
    admin = accounts_a.create_first_administrator("Ada Admin", "correct horse 7")
    accounts_a.create_account(admin, "Nell Nurse", Role.NURSE, "battery staple 9")
    assert sync(a, b).conflicts == []
    accounts_b = AccountService(b, hasher=CHEAP)
    assert accounts_b.sign_in_names() == ["Ada Admin", "Nell Nurse"]
    assert accounts_b.sign_in("Ada Admin", "correct horse 7").role is Role.ADMINISTRATOR
    assert b.verify().ok


def test_a_tampered_event_is_refused_reported_and_the_rest_applied(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    a.add_patient(make_patient(), NURSE)
    a.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)
    events = originals_of(a)
    forged = replace(events[1], payload=events[1].payload.replace("H100001", "H666666"))
    report = apply_events(b, [events[0], forged, *events[2:]])
    assert report.applied == 3
    (conflict,) = report.conflicts
    assert conflict.kind == "tampered" and "does not match its own hash" in conflict.message
    assert conflict.remote_json == forged.payload
    assert open_conflicts(b.db) == [conflict]
    assert _names(b) == ["Brown"]
    assert "H666666" not in json.dumps(rows(b, "SELECT * FROM patient_versions"))
    assert b.verify().ok
    # The cursor moved on: the forged event is not asked for again, and not applied again.
    assert download_cursors(b.db)[a.store_id() or ""] == events[-1].room_seq
    assert apply_events(b, [forged]).skipped_known == 1


def test_a_patient_whose_details_were_tampered_with_waits_with_all_her_records(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    a.add_refill(make_refill(), NURSE)
    events = originals_of(a)
    details = next(i for i, e in enumerate(events) if e.table_name == "patient_versions")
    events[details] = replace(
        events[details], payload=events[details].payload.replace("Ann", "Eve")
    )
    report = apply_events(b, events)
    assert [(c.table_name, c.kind) for c in report.conflicts] == [
        ("patient_versions", "tampered"),
        ("pump_registrations", "depends"),
        ("refills", "depends"),
    ]
    assert _names(b) == [] and rows(b, "SELECT * FROM refills") == []
    assert b.verify().ok


def test_one_hospital_number_in_two_rooms_is_a_conflict_and_nothing_is_lost(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    local = b.add_patient(make_patient("Jones", hospital="H100001"), NURSE)
    patient = a.add_patient(make_patient("Jonas", hospital="h100001 ", nhs_number=None), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    a.add_refill(make_refill(), NURSE)
    a.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)
    events = originals_of(a)

    report = sync(a, b)
    # Every event is accounted for: applied, or kept as a conflict.
    assert report.applied + len(report.conflicts) == len(events)
    first, *waiting = report.conflicts
    assert first.kind == "refused" and first.table_name == "patient_versions"
    assert "H100001" in first.message.upper() and "Jones, Ann" in first.message
    assert json.loads(first.remote_json)["family_name"] == "Jonas"
    assert json.loads(first.local_json or "{}")["patient_id"] == local.id
    # The pump's registration and the refill belong to the patient in conflict: they wait
    # (the pump itself is known here, registered to nobody).
    assert [c.table_name for c in waiting] == ["pump_registrations", "refills"]
    assert {c.kind for c in waiting} == {"depends"}
    assert open_conflicts(b.db) == report.conflicts
    assert open_conflict_count(b.db) == 3
    assert _names(b) == ["Brown", "Jones"]
    assert [row[1] for row in _patient_list(b)] == ["Brown", "Jones"]
    assert b.get_pump("NGP123456") is not None and b.find_pump_owner("NGP123456") is None
    assert rows(b, "SELECT * FROM refills") == []
    assert b.verify().ok
    assert sync(a, b).skipped_known == len(events)


def test_an_account_name_taken_in_both_rooms_is_a_conflict(open_room: RoomFactory) -> None:
    a, b = open_room("a"), open_room("b")
    AccountService(a, hasher=CHEAP).create_first_administrator("Ada Admin", "correct horse 7")
    AccountService(b, hasher=CHEAP).create_first_administrator("ada  admin", "other words 8")
    report = sync(a, b)
    kinds = [(c.table_name, c.kind) for c in report.conflicts]
    assert kinds == [("account_versions", "refused"), ("account_events", "depends")]
    assert "name of an account of this room" in report.conflicts[0].message
    assert AccountService(b, hasher=CHEAP).sign_in_names() == ["ada admin"]
    assert b.verify().ok


def test_details_changed_in_two_rooms_at_once_keep_both_and_agree(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    sync(a, b)
    (in_b,) = b.search_patients("Jones")
    a.correct_patient(replace(patient, given_name="Anne"), NURSE, "spelling")
    b.correct_patient(replace(in_b, given_name="Annie"), User("Bea", Role.NURSE), "as she asked")
    to_b = sync(a, b)
    to_a = sync(b, a)
    # The newer change (B's) is in force in both rooms; each room lists the clash.
    assert [p.given_name for p in a.search_patients("Jones")] == ["Annie"]
    assert [p.given_name for p in b.search_patients("Jones")] == ["Annie"]
    for report in (to_b, to_a):
        (conflict,) = report.conflicts
        assert conflict.kind == "concurrent_edit"
        assert "neither seeing the other" in conflict.message
        versions = {json.loads(conflict.remote_json)["given_name"],
                    json.loads(conflict.local_json or "{}")["given_name"]}  # fmt: skip
        assert versions == {"Anne", "Annie"}
    assert "Anne" in [v.record.given_name for v in a.patient_versions(patient.id or 0)]
    assert a.verify().ok and b.verify().ok
    # Later changes carry on from the version in force.
    a.correct_patient(replace(patient, given_name="Ann"), NURSE, "agreed with B")
    assert sync(a, b).conflicts == []
    assert [p.given_name for p in b.search_patients("Jones")] == ["Ann"]


def test_a_third_room_places_records_made_on_records_from_elsewhere(
    open_room: RoomFactory,
) -> None:
    """B adds a reading for a patient it got from A (B's own id for her); C, given A's and
    B's events, attaches it to C's record of the same patient."""
    a, b, c = open_room("a"), open_room("b"), open_room("c")
    c.add_patient(make_patient("Local", hospital="H900001", nhs_number=None), NURSE)
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(a, b)
    (in_b,) = b.search_patients("Jones")
    b.add_reading(make_reading(reservoir_ul=12_345), NURSE, patient_id=in_b.id)
    b.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)

    report = apply_events(c, [*originals_of(a), *originals_of(b)])
    assert report.conflicts == []
    (in_c,) = c.search_patients("Jones")
    (reading,) = rows(c, "SELECT * FROM readings")
    assert (reading["patient_id"], reading["reservoir_ul"]) == (in_c.id, 12_345)
    assert c.verify().ok
    # A, given B's events, finds the reading on its own record of the patient.
    assert sync(b, a).conflicts == []
    assert rows(a, "SELECT patient_id FROM readings") == [{"patient_id": patient.id}]


def test_echoes_are_never_applied_and_notes_are_kept(open_room: RoomFactory) -> None:
    a, b, c = open_room("a"), open_room("b"), open_room("c")
    a.add_patient(make_patient(), NURSE)
    a.record_action("pump_clock_set", {"serial": "NGP123456", "offset_s": -42}, NURSE)
    sync(a, b)
    echoes = [e for e in events_of(b) if e.is_echo()]
    assert [e.action for e in echoes] == ["sync:create", "sync:create", "sync:pump_clock_set"]
    report = apply_events(c, echoes)
    assert (report.applied, report.skipped_echo) == (0, 3)
    assert _names(c) == []
    (note,) = rows(b, "SELECT * FROM audit_log WHERE action = 'sync:pump_clock_set'")
    assert (note["user_name"], note["user_role"]) == (NURSE.name, "nurse")
    assert json.loads(str(note["payload"])) == {"offset_s": -42, "serial": "NGP123456"}


def test_a_rooms_events_are_applied_in_its_order(open_room: RoomFactory) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.correct_patient(replace(patient, family_name="Jonas"), NURSE, "typo")
    events = originals_of(a)
    assert apply_events(b, list(reversed(events))).conflicts == []
    assert _names(b) == ["Jonas"]


def test_settings_saved_in_two_rooms_at_once_keep_the_newer_and_list_both(
    open_room: RoomFactory,
) -> None:
    from itbconsole.settings import ClinicSettings

    admin = User("Ada Admin", Role.ADMINISTRATOR)
    a, b = open_room("a"), open_room("b")
    a.save_clinic_settings(ClinicSettings(training=1), admin, "room A's")
    b.save_clinic_settings(ClinicSettings(training=0), admin, "room B's, later")
    to_b = sync(a, b)
    (conflict,) = to_b.conflicts
    assert conflict.kind == "concurrent_edit" and to_b.applied == 0
    assert rows(b, "SELECT note FROM clinic_settings") == [{"note": "room B's, later"}]
    # In A, B's is newer: applied (in force in both rooms), and the clash is listed too.
    to_a = sync(b, a)
    assert to_a.applied == 1 and [c.kind for c in to_a.conflicts] == ["concurrent_edit"]
    for room in (a, b):
        assert room.clinic_settings() == ClinicSettings(training=0)
    # A change made after seeing the other room's is no conflict.
    a.save_clinic_settings(ClinicSettings(training=1), admin, "agreed")
    assert sync(a, b).conflicts == []
    assert b.clinic_settings() == ClinicSettings(training=1)


def test_pending_events_of_a_room_that_applied_include_its_id_map(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    a.add_patient(make_patient(), NURSE)
    sync(a, b)
    (note,) = [e for e in pending_events(b.db, 0) if e.action == "ids_mapped"]
    assert not note.is_echo() and note.table_name is None
    ids = json.loads(note.payload)["ids"]
    assert [(room, table) for room, table, _, _ in ids] == [
        (a.store_id(), "patients"),
        (a.store_id(), "patient_versions"),
    ]


def test_a_pumps_data_never_goes_to_the_wrong_patient(open_room: RoomFactory) -> None:
    """The pump was explanted in B while A, not yet knowing, saved a reading and a refill
    for it: neither is filed in B under the patient; both wait for an administrator."""
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(a, b)
    (in_b,) = b.search_patients("Jones")
    b.record_explant(in_b.id or 0, "NGP123456", NURSE, explanted_on=T0.date(), reason="failure")
    a.add_reading(make_reading(at=T0 + timedelta(days=1)), NURSE)
    a.add_refill(make_refill(at=T0 + timedelta(days=2)), NURSE)
    report = sync(a, b)
    assert [(c.table_name, c.kind) for c in report.conflicts] == [
        ("readings", "refused"),
        ("refills", "depends"),
    ]
    assert "not registered to any patient in this room" in report.conflicts[0].message
    assert rows(b, "SELECT * FROM readings") == rows(b, "SELECT * FROM refills") == []
    assert b.verify().ok


def test_a_pump_log_entry_read_in_two_rooms_is_stored_once(open_room: RoomFactory) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(a, b)
    a.add_events(make_events(n=5), NURSE)
    b.add_events(make_events(start=2, n=5), NURSE)  # the same pump read again in room B
    report = sync(a, b)
    assert report.conflicts == []
    assert (report.applied, report.skipped_known) == (2, 3 + 5)
    indices = rows(b, "SELECT event_index FROM pump_events ORDER BY event_index")
    assert [r["event_index"] for r in indices] == [0, 1, 2, 3, 4, 5, 6]
    assert b.verify().ok


def test_waiting_records_apply_once_what_stood_in_their_way_is_corrected(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    local = b.add_patient(make_patient("Jones", hospital="H100001", nhs_number=None), NURSE)
    patient = a.add_patient(make_patient("Jonas", hospital="H100001", nhs_number=None), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    a.add_refill(make_refill(), NURSE)
    assert len(sync(a, b).conflicts) == 3
    # Nothing has changed yet: trying again applies nothing and writes no new conflict.
    unchanged = apply_waiting(b)
    assert (unchanged.applied, unchanged.still_waiting) == (0, 3)
    assert len(open_conflicts(b.db)) == 3
    # The administrator finds B's number was mistyped and corrects it.
    b.correct_patient(replace(local, hospital_number="H100009"), NURSE, "typo")
    report = apply_waiting(b)
    assert (report.applied, report.still_waiting, report.conflicts) == (3, 0, [])
    assert open_conflicts(b.db) == []
    assert _names(b) == ["Jonas", "Jones"]
    (jonas,) = b.search_patients("Jonas")
    assert b.find_pump_owner("NGP123456") == jonas.id
    assert [r["patient_id"] for r in rows(b, "SELECT * FROM refills")] == [jonas.id]
    assert b.verify().ok
    # Later events of that room apply as usual; nothing is applied twice.
    a.add_reading(make_reading(), NURSE)
    assert sync(a, b).conflicts == []
    assert apply_waiting(b).applied == 0
    assert len(rows(b, "SELECT * FROM refills")) == 1


def test_only_an_administrator_resolves_a_conflict(open_room: RoomFactory) -> None:
    from itbconsole.store import StoreError
    from itbconsole.sync.apply import resolve_conflict

    a, b = open_room("a"), open_room("b")
    b.add_patient(make_patient(hospital="H100001"), NURSE)
    a.add_patient(make_patient("Jonas", hospital="H100001"), NURSE)
    (conflict,) = sync(a, b).conflicts
    with pytest.raises(StoreError, match="only an administrator"):
        resolve_conflict(b.db, conflict.id, NURSE, "same person")
    admin = User("Ada Admin", Role.ADMINISTRATOR)
    with pytest.raises(StoreError, match="Say how"):
        resolve_conflict(b.db, conflict.id, admin, "  ")
    resolve_conflict(b.db, conflict.id, admin, "same person: merged by hand")
    assert open_conflicts(b.db) == []
    (entry,) = rows(b, "SELECT * FROM audit_log WHERE action = 'sync_conflict_resolved'")
    assert entry["user_name"] == "Ada Admin"
    assert b.verify().ok


def test_an_account_changed_in_two_rooms_keeps_the_newer_and_lists_the_other(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    in_a = AccountService(a, hasher=CHEAP)
    admin_a = in_a.create_first_administrator("Ada Admin", "correct horse 7")
    nurse = in_a.create_account(admin_a, "Nell Nurse", Role.NURSE, "battery staple 9")
    sync(a, b)
    in_b = AccountService(b, hasher=CHEAP)
    admin_b = in_b.sign_in("Ada Admin", "correct horse 7")
    nurse_b = in_b.find("Nell Nurse")
    assert nurse_b is not None
    in_b.change_role(admin_b, nurse_b.id, Role.CLINICIAN, "qualified")  # first, in B
    in_a.disable(admin_a, nurse.id, "left the clinic")  # later, in A, not knowing
    to_b, to_a = sync(a, b), sync(b, a)
    # Both rooms list the clash with both versions; A's change, the newer, is in force.
    for report, remote_role in ((to_b, "nurse"), (to_a, "clinician")):
        (conflict,) = [c for c in report.conflicts if c.table_name == "account_versions"]
        assert conflict.kind == "concurrent_edit"
        assert json.loads(conflict.remote_json)["role"] == remote_role
        versions = [json.loads(conflict.remote_json), json.loads(conflict.local_json or "{}")]
        assert sorted((v["role"], v["active"]) for v in versions) == [
            ("clinician", 1),
            ("nurse", 0),
        ]
    for accounts in (in_a, in_b):
        found = accounts.find("Nell Nurse")
        assert found is not None and (found.active, found.role) == (False, Role.NURSE)
    assert a.verify().ok and b.verify().ok


def test_a_pump_moved_in_two_rooms_at_once_is_moved_in_neither(open_room: RoomFactory) -> None:
    """B moved the pump from Jones to a patient of its own; A, not knowing, explanted it
    and registered it to another. Neither room files the other's move: both ask."""
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(a, b)
    (jones_b,) = b.search_patients("Jones")
    other_b = b.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)
    b.record_explant(jones_b.id or 0, "NGP123456", NURSE, explanted_on=T0.date(), reason="other")
    b.register_pump(make_pump(), other_b.id or 0, NURSE)
    other_a = a.add_patient(make_patient("Green", hospital="H100003", nhs_number=None), NURSE)
    a.record_explant(patient.id or 0, "NGP123456", NURSE, explanted_on=T0.date(), reason="other")
    a.register_pump(make_pump(), other_a.id or 0, NURSE)

    to_b = sync(a, b)
    assert b.find_pump_owner("NGP123456") == other_b.id
    refused = [c for c in to_b.conflicts if c.table_name == "pump_registrations"]
    assert [c.kind for c in refused] == ["refused", "depends"]
    assert "had not seen" in refused[0].message
    to_a = sync(b, a)
    assert a.find_pump_owner("NGP123456") == other_a.id
    assert [c.kind for c in to_a.conflicts if c.table_name == "pump_registrations"] == [
        "refused",
        "depends",
    ]
    assert a.verify().ok and b.verify().ok


def test_a_pump_explanted_after_seeing_its_registration_moves_everywhere(
    open_room: RoomFactory,
) -> None:
    a, b = open_room("a"), open_room("b")
    patient = a.add_patient(make_patient(), NURSE)
    a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(a, b)
    (jones_b,) = b.search_patients("Jones")
    b.record_explant(jones_b.id or 0, "NGP123456", NURSE, explanted_on=T0.date(), reason="other")
    assert sync(b, a).conflicts == []
    assert a.find_pump_owner("NGP123456") is None


def test_a_save_cut_in_two_by_an_upload_completes_with_the_next_pass(
    open_room: RoomFactory,
) -> None:
    """Events carry no transaction marks: when a room's upload stops inside one save (a
    patient with her pump), another room shows the part it got, and the rest completes it
    at the next pass with nothing refused."""
    a, b = open_room("a"), open_room("b")
    with a.atomic():
        patient = a.add_patient(make_patient(), NURSE)
        a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    events = originals_of(a)
    first = apply_events(b, events[:4])  # the patient and the pump, not yet its registration
    assert first.conflicts == [] and _names(b) == ["Jones"]
    assert b.find_pump_owner("NGP123456") is None
    rest = apply_events(b, events)
    assert (rest.applied, rest.skipped_known, rest.conflicts) == (len(events) - 4, 4, [])
    (jones,) = b.search_patients("Jones")
    assert b.find_pump_owner("NGP123456") == jones.id
