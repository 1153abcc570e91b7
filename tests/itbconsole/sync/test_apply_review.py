"""What a room does with events that try to go around its rules: a payload naming columns
the table does not have (SQL written into a column name), a record older than an explant
that arrives after it, concurrent corrections decided the same way in every room, account
changes that would leave no administrator or undo a disabling, and conflicts an
administrator resolved."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.model import Role, User
from itbconsole.services.accounts import AccountService, SignInRefused
from itbconsole.store import Store, audit
from itbconsole.store.schema import EXPLANT_REASONS
from itbconsole.sync.apply import apply_events, open_conflicts, resolve_conflict, retry_waiting
from itbconsole.sync.events import GENESIS_HASH, SyncEvent
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_patient,
    make_pump,
    make_refill,
)
from tests.itbconsole.sync.local_fixtures import RoomFactory, room_factory, rows, sync


@pytest.fixture
def open_room(tmp_path: Path) -> Iterator[RoomFactory]:
    yield from room_factory(tmp_path)


def _forged(table: str, row: dict[str, object]) -> SyncEvent:
    """A well-hashed first event of an unknown room that creates ``row`` in ``table``."""
    payload = audit.canonical_json(row)
    at = "2026-01-01T00:00:00+00:00"
    entry = dict(seq=1, at=at, user_name="Nobody", user_role="nurse", action="create",
                 table_name=table, record_id=row["id"], payload=payload)  # fmt: skip
    return SyncEvent(
        str(uuid.uuid4()), "f" * 32, 1, at, "Nobody", "nurse", "create", table,
        int(str(row["id"])), payload, GENESIS_HASH, audit.entry_hash(GENESIS_HASH, entry),
    )  # fmt: skip


def test_a_payload_naming_columns_the_table_lacks_is_unreadable_and_adds_nothing(
    open_room: RoomFactory,
) -> None:
    room = open_room("b")
    room.add_patient(make_patient(), NURSE)
    brown = room.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)
    room.register_pump(make_pump(), brown.id or 0, NURSE, at=T0 - timedelta(days=400))
    # SQL in a column name: it would file a catheter revision for Brown's pump with a
    # patient id that is never translated.
    key = (
        "pump_serial], [patient_id], [revised_on], [catheter_length_cm],"
        " [catheter_ul_per_cm], [created_at], [created_by], [created_role]) VALUES"
        " ('NGP123456', ?, '2026-01-01', '90', '9.9', '2026-01-01T00:00:00+00:00',"
        " 'Nobody', 'nurse') --"
    )
    report = apply_events(room, [_forged("catheter_revisions", {"id": 1, key: 2})])

    assert report.applied == 0
    assert [c.kind for c in report.conflicts] == ["unreadable"]
    assert "does not have" in report.conflicts[0].message
    assert rows(room, "SELECT * FROM catheter_revisions") == []
    assert [c.kind for c in open_conflicts(room.db)] == ["unreadable"]
    assert room.verify().ok


def _refills(store: Store) -> list[dict[str, object]]:
    return rows(store, "SELECT pump_serial, at, status, created_by FROM refills ORDER BY at")


def test_a_refill_made_before_an_explant_recorded_elsewhere_is_filed_in_both_rooms(
    open_room: RoomFactory,
) -> None:
    room_a, room_b = open_room("a"), open_room("b")
    patient = room_a.add_patient(make_patient(), NURSE)
    room_a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(room_a, room_b)
    # Room A, offline, refills the pump; later room B records its explant.
    room_a.add_refill(make_refill(), NURSE)
    patient_b = int(str(rows(room_b, "SELECT id FROM patients")[0]["id"]))
    room_b.record_explant(
        patient_b, make_pump().serial, CLINICIAN, explanted_on=date(2026, 3, 10),
        reason=EXPLANT_REASONS[0],
    )  # fmt: skip

    into_b = sync(room_a, room_b)
    sync(room_b, room_a)

    assert into_b.conflicts == []
    assert len(_refills(room_b)) == 1
    assert _refills(room_b) == _refills(room_a)
    assert rows(room_b, "SELECT patient_id FROM refills") == [{"patient_id": patient_b}]
    assert room_b.find_pump_owner(make_pump().serial) is None
    assert room_b.verify().ok


def test_a_refill_dated_after_the_explant_still_waits(open_room: RoomFactory) -> None:
    room_a, room_b = open_room("a"), open_room("b")
    patient = room_a.add_patient(make_patient(), NURSE)
    room_a.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    sync(room_a, room_b)
    patient_b = int(str(rows(room_b, "SELECT id FROM patients")[0]["id"]))
    room_b.record_explant(
        patient_b, make_pump().serial, CLINICIAN, explanted_on=date(2026, 3, 10),
        reason=EXPLANT_REASONS[0],
    )  # fmt: skip
    explanted_at = str(
        rows(room_b, "SELECT MAX(effective_at) AS t FROM pump_registrations")[0]["t"]
    )
    later = datetime.fromisoformat(explanted_at) + timedelta(days=1)
    room_a.add_refill(make_refill(at=later), NURSE)

    into_b = sync(room_a, room_b)

    assert [c.kind for c in into_b.conflicts] == ["refused"]
    assert _refills(room_b) == []


CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _accounts(store: Store) -> list[tuple[object, ...]]:
    service = AccountService(store, hasher=CHEAP)
    return [(a.name, a.role.value, a.active, a.password_hash) for a in service.accounts()]


def _exchange(room_a: Store, room_b: Store) -> None:
    for _ in range(2):
        sync(room_b, room_a)
        sync(room_a, room_b)


def test_two_rooms_each_disabling_an_administrator_keep_the_same_one_active(
    open_room: RoomFactory,
) -> None:
    room_a, room_b = open_room("a"), open_room("b")
    in_a = AccountService(room_a, hasher=CHEAP)
    xena = in_a.create_first_administrator("Xena Admin", "correct horse 7")
    in_a.create_account(xena, "Yann Admin", Role.ADMINISTRATOR, "battery staple 9")
    sync(room_a, room_b)
    in_b = AccountService(room_b, hasher=CHEAP)
    # A: Xena disables Yann. B, a moment later, not having seen it: Yann disables Xena.
    in_a.disable(xena, in_a.find("Yann Admin").id)  # type: ignore[union-attr]
    yann_b = in_b.find("Yann Admin")
    assert yann_b is not None
    in_b.disable(yann_b.user(), in_b.find("Xena Admin").id)  # type: ignore[union-attr]

    into_a = sync(room_b, room_a)
    into_b = sync(room_a, room_b)
    _exchange(room_a, room_b)

    # The later disabling (Xena's) does not take effect, in either room.
    for room in (room_a, room_b):
        assert [(n, r, on) for n, r, on, _ in _accounts(room)] == [
            ("Xena Admin", "administrator", True),
            ("Yann Admin", "administrator", False),
        ]
        assert AccountService(room, hasher=CHEAP).sign_in("Xena Admin", "correct horse 7")
        assert room.verify().ok
    assert _accounts(room_a) == _accounts(room_b)
    assert [c.kind for c in into_a.conflicts] == ["concurrent_edit"]
    assert [c.kind for c in into_b.conflicts] == ["concurrent_edit"]
    assert "no active administrator" in into_b.conflicts[0].message


def test_a_disabling_is_not_undone_by_a_password_change_made_without_seeing_it(
    open_room: RoomFactory,
) -> None:
    room_a, room_b = open_room("a"), open_room("b")
    in_a = AccountService(room_a, hasher=CHEAP)
    xena = in_a.create_first_administrator("Xena Admin", "correct horse 7")
    in_a.create_account(xena, "Nell Nurse", Role.NURSE, "battery staple 9")
    sync(room_a, room_b)
    in_b = AccountService(room_b, hasher=CHEAP)
    # A: Nell is disabled (she left). B, later, not having seen it: Nell changes her password.
    in_a.disable(xena, in_a.find("Nell Nurse").id, "left the clinic")  # type: ignore[union-attr]
    nell = in_b.sign_in("Nell Nurse", "battery staple 9")
    in_b.change_own_password(nell, "battery staple 9", "new secret 12345")

    into_a = sync(room_b, room_a)
    into_b = sync(room_a, room_b)
    _exchange(room_a, room_b)

    assert _accounts(room_a) == _accounts(room_b)
    for room in (room_a, room_b):
        nell_now = AccountService(room, hasher=CHEAP).find("Nell Nurse")
        assert nell_now is not None and not nell_now.active
        with pytest.raises(SignInRefused, match="disabled"):
            AccountService(room, hasher=CHEAP).sign_in("Nell Nurse", "new secret 12345")
        assert room.verify().ok
    assert [c.kind for c in into_a.conflicts] == ["concurrent_edit"]
    assert [c.kind for c in into_b.conflicts] == ["concurrent_edit"]
    assert "stays disabled" in into_a.conflicts[0].message


def test_resolving_a_conflict_releases_the_records_it_held_back(open_room: RoomFactory) -> None:
    """B registered pump NGP123456 on its own; A's pump record is refused and A's
    registration and refill of it wait. The administrator gives the pump to A's patient
    here and resolves the conflict: the next pass files A's records."""
    room_a, room_b = open_room("a"), open_room("b")
    brown = room_b.add_patient(make_patient("Brown", hospital="H100002", nhs_number=None), NURSE)
    room_b.register_pump(make_pump(), brown.id or 0, NURSE, at=T0 - timedelta(days=500))
    jones = room_a.add_patient(make_patient(), NURSE)
    room_a.register_pump(make_pump(), jones.id or 0, NURSE, at=T0 - timedelta(days=400))
    room_a.add_refill(make_refill(), NURSE)
    first = sync(room_a, room_b)
    assert [(c.table_name, c.kind) for c in first.conflicts] == [
        ("pumps", "refused"),
        ("pump_versions", "depends"),
        ("pump_registrations", "depends"),
        ("refills", "depends"),
    ]
    assert retry_waiting(room_b).applied == 0  # nothing put right yet

    (jones_b,) = room_b.search_patients("Jones")
    room_b.record_explant(
        brown.id or 0, "NGP123456", CLINICIAN, explanted_on=T0.date(), reason=EXPLANT_REASONS[0]
    )
    room_b.register_pump(make_pump(), jones_b.id or 0, CLINICIAN)
    resolve_conflict(
        room_b.db, first.conflicts[0].id, User("Ada Admin", Role.ADMINISTRATOR),
        "one pump: it is Jones's, registered here",
    )  # fmt: skip
    report = retry_waiting(room_b)

    assert report.applied == 3
    assert report.still_waiting == 1  # A's pump record itself: the serial is B's record
    assert [r["patient_id"] for r in rows(room_b, "SELECT * FROM refills")] == [jones_b.id]
    assert room_b.find_pump_owner("NGP123456") == jones_b.id
    assert open_conflicts(room_b.db) == []
    assert room_b.verify().ok
    assert retry_waiting(room_b).applied == 0
