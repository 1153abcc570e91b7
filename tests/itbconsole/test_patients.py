"""Patient identity and the patient form's rules (issue 17): one patient per hospital
number and NHS number, in the service and in the database; no defaulted date of birth; a
given name required. Checked without Qt."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlite_utils import Database

from itbconsole.druglib import load_drug_library
from itbconsole.model import ModelError, Origin, Patient, Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.services.patients import DuplicatePatient, PatientForm, patient_from_form
from itbconsole.store import Store
from itbconsole.store.db import configure, migrate
from itbconsole.store.schema import MIGRATIONS

NURSE = User("Nia Nurse", Role.NURSE)
TODAY = date(2026, 11, 30)


def form(**kw: object) -> PatientForm:
    fields: dict[str, object] = {
        "family_name": "Doe",
        "given_name": "Jane",
        "date_of_birth": date(1975, 4, 2),
        "hospital_number": "h999",
        "nhs_number": "",
        "origin": "spinal",
    }
    fields.update(kw)
    return PatientForm(**fields)  # type: ignore[arg-type]


def patient(hospital: str = "H1", nhs: str | None = None, family: str = "Doe") -> Patient:
    return Patient(family, "Jane", date(1975, 4, 2), hospital, Origin.SPINAL, nhs_number=nhs)


def test_the_form_defaults_nothing_and_names_each_wrong_field() -> None:
    made, errors = patient_from_form(form(date_of_birth=None, given_name=" "), TODAY)
    assert made is None and set(errors) == {"dob", "given"}
    made, errors = patient_from_form(form(date_of_birth=date(2027, 1, 1)), TODAY)
    assert made is None and "future" in errors["dob"]
    made, errors = patient_from_form(form(nhs_number="943 476 5918"), TODAY)
    assert made is None and "NHS number" in errors["nhs"]
    made, errors = patient_from_form(form(patient_id=5, reason=""), TODAY)
    assert made is None and "why" in errors["reason"]
    made, errors = patient_from_form(form(nhs_number="943 476 5919"), TODAY)
    assert errors == {} and made is not None
    assert (made.hospital_number, made.nhs_number) == ("H999", "9434765919")


def test_a_given_name_is_required_by_the_model_too() -> None:
    with pytest.raises(ModelError, match="Given name"):
        Patient("Doe", "", date(1975, 4, 2), "H1", Origin.SPINAL)


def test_the_service_refuses_a_hospital_or_nhs_number_in_use(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "p.sqlite")
    clinic = ClinicService(store, load_drug_library(), NURSE)
    first = clinic.add_patient(patient("H100388", "9434765919", "Brennan"))
    with pytest.raises(DuplicatePatient, match="already belongs to BRENNAN, Jane") as err:
        clinic.add_patient(patient(" h100388"))
    assert err.value.field == "hospital"
    with pytest.raises(DuplicatePatient) as err:
        clinic.add_patient(patient("H2", "9434765919"))
    assert err.value.field == "nhs"
    other = clinic.add_patient(patient("H2"))
    with pytest.raises(DuplicatePatient):  # a correction cannot take another's number
        clinic.correct_patient(
            Patient("Doe", "Jane", date(1975, 4, 2), "H100388", Origin.SPINAL, id=other.id),
            "typo fixed",
        )
    assert first.id is not None  # correcting a patient keeps their own number
    clinic.correct_patient(
        Patient("Brennan", "Tom", date(1975, 4, 2), "H100388", Origin.SPINAL, "9434765919",
                first.id),
        "known as Tom",
    )  # fmt: skip


def test_the_database_refuses_a_duplicate_written_behind_the_service(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "d.sqlite")
    store.add_patient(patient("H1"), NURSE)
    with pytest.raises(sqlite3.IntegrityError, match="duplicate patient identity"):
        store.add_patient(patient("h1 "), NURSE)


def test_duplicates_made_before_the_rule_are_reported_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    configure(db)
    migrate(db, MIGRATIONS[:5])  # a database from before migration 6
    old = Store(db, path)
    a = old.add_patient(patient("H100388", family="Brennan"), NURSE)
    b = old.add_patient(patient("H100388", family="Byrne"), NURSE)
    db.close()
    store = Store.open(path)  # migration 6 applies despite the duplicate
    assert store.schema_version() == 6
    assert store.duplicate_identities() == [("hospital number", "H100388", [a.id, b.id])]
    assert store.counts()["patients"] == 2
