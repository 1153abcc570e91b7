"""Prepared programs (migration 3): append-only, audited, one open program per pump, and the
read the refill wizard relies on (:meth:`Store.prepared_program`)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database

from itbconsole.model import Patient, PreparedProgram, Role, simple_continuous
from itbconsole.store import Store, StoreError, UnknownPumpError, WrongPatientError, migrate
from itbconsole.store.schema import MIGRATIONS
from tests.itbconsole.store.storefixtures import (
    CLINICIAN,
    NURSE,
    T0,
    make_change,
    make_patient,
    make_pump,
)


def prepared(dose: str = "550", conc: int = 2000, **kw: object) -> PreparedProgram:
    fields: dict[str, object] = {
        "pump_serial": "NGP123456",
        "prepared_at": T0,
        "program": simple_continuous(dose),
        "concentration_mcg_ml": conc,
        "reason": "worse at night",
    }
    fields.update(kw)
    return PreparedProgram(**fields)  # type: ignore[arg-type]


def test_a_nurse_prepares_and_the_pump_then_has_that_open_program(
    store: Store, patient: Patient
) -> None:
    saved = store.add_prepared_program(prepared(), NURSE)
    assert saved.id is not None
    assert saved.prepared_by == "Nia Nurse" and saved.prepared_role is Role.NURSE
    assert not saved.by_clinician
    found = store.prepared_program("NGP123456")
    assert found == saved
    assert found is not None and found.program.daily_dose_mcg == Decimal(550)
    assert store.prepared_program("NGP999999") is None


def test_the_preparer_is_the_signed_in_user_not_what_the_record_claims(
    store: Store, patient: Patient
) -> None:
    saved = store.add_prepared_program(
        prepared(prepared_by="Dr Somebody", prepared_role=Role.CLINICIAN), NURSE
    )
    assert saved.prepared_by == NURSE.name and not saved.by_clinician


def test_a_clinicians_program_for_a_new_concentration(store: Store, patient: Patient) -> None:
    store.add_prepared_program(prepared("400", conc=1000), CLINICIAN)
    found = store.prepared_program("NGP123456")
    assert found is not None and found.by_clinician and found.concentration_mcg_ml == 1000


def test_a_newer_prepared_program_replaces_the_open_one(store: Store, patient: Patient) -> None:
    first = store.add_prepared_program(prepared("550"), NURSE)
    second = store.add_prepared_program(
        prepared("560", prepared_at=T0 + timedelta(hours=1)), CLINICIAN
    )
    assert store.prepared_program("NGP123456") == second
    assert store.prepared_program_status(first.id or 0) == "withdrawn"
    history = store.prepared_program_history("NGP123456")
    assert [h.record.program.daily_dose_mcg for h in history] == [550, 560, 550]
    assert history[-1].stamp.corrects_id == first.id
    assert f"replaced by prepared program {second.id}" in history[-1].stamp.correction_note


def test_withdrawing_needs_a_reason_and_keeps_the_history(store: Store, patient: Patient) -> None:
    saved = store.add_prepared_program(prepared(), NURSE)
    with pytest.raises(StoreError, match="why"):
        store.withdraw_prepared_program(saved.id or 0, NURSE, " ")
    store.withdraw_prepared_program(saved.id or 0, NURSE, "patient declined")
    assert store.prepared_program("NGP123456") is None
    assert store.prepared_program_status(saved.id or 0) == "withdrawn"
    assert len(store.prepared_program_history("NGP123456")) == 2
    with pytest.raises(StoreError):
        store.withdraw_prepared_program(saved.id or 0, NURSE, "again")


def test_marking_sent_names_the_program_change_and_needs_a_clinician(
    store: Store, patient: Patient
) -> None:
    saved = store.add_prepared_program(prepared(), NURSE)
    change = store.add_program_change(make_change(), CLINICIAN)
    with pytest.raises(StoreError, match="only a clinician"):
        store.mark_prepared_program_sent(saved.id or 0, change.id or 0, NURSE)
    with pytest.raises(StoreError, match="no program change"):
        store.mark_prepared_program_sent(saved.id or 0, 999, CLINICIAN)
    store.mark_prepared_program_sent(saved.id or 0, change.id or 0, CLINICIAN)
    assert store.prepared_program("NGP123456") is None
    assert store.prepared_program_status(saved.id or 0) == "sent"
    row = store.db.execute(
        "SELECT program_change_id, created_by FROM prepared_programs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert row == (change.id, CLINICIAN.name)


def test_prepared_programs_are_append_only(store: Store, patient: Patient) -> None:
    store.add_prepared_program(prepared(), NURSE)
    for sql in ("UPDATE prepared_programs SET status = 'sent'", "DELETE FROM prepared_programs"):
        with pytest.raises(sqlite3.IntegrityError, match="never changed or deleted"):
            store.db.execute(sql)


def test_every_prepared_program_row_is_audited(store: Store, patient: Patient) -> None:
    first = store.add_prepared_program(prepared(), NURSE)
    store.add_prepared_program(prepared("560"), NURSE)  # withdraws the first: two rows
    entries = [e for e in store.audit_entries() if e["table_name"] == "prepared_programs"]
    assert [(e["action"], e["user_name"]) for e in entries] == [
        ("create", NURSE.name),
        ("create", NURSE.name),
        ("correct", NURSE.name),
    ]
    assert entries[0]["record_id"] == first.id
    assert store.verify().ok
    assert store.counts()["prepared_programs"] == 3


def test_tampering_with_a_prepared_program_is_found(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        p = store.add_patient(make_patient(), NURSE)
        store.register_pump(make_pump(), p.id or 0, NURSE)
        store.add_prepared_program(prepared(), NURSE)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER prepared_programs_no_update")
    conn.execute("UPDATE prepared_programs SET concentration_mcg_ml = 500")
    conn.close()
    with Store.open(path) as store:
        report = store.verify()
    assert not report.ok
    assert any(pr.table == "prepared_programs" for pr in report.problems)


def test_only_the_pumps_owner_gets_a_prepared_program(store: Store, patient: Patient) -> None:
    other = store.add_patient(make_patient("Smith", "H100002", nhs_number=None), NURSE)
    with pytest.raises(WrongPatientError):
        store.add_prepared_program(prepared(), NURSE, patient_id=other.id)
    with pytest.raises(UnknownPumpError):
        store.add_prepared_program(prepared(pump_serial="UNKNOWN1"), NURSE)
    assert store.prepared_program("NGP123456") is None


def test_migration_3_adds_the_table_to_a_version_2_database(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    legacy = Database(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
    assert migrate(legacy, MIGRATIONS[:2]) == [1, 2]
    assert "prepared_programs" not in legacy.table_names()
    legacy.close()
    with Store.open(path) as store:
        assert store.schema_version() == len(MIGRATIONS)  # 3 and every later one
        assert "prepared_programs" in store.db.table_names()
        assert store.verify().ok
