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
    assert store.schema_version() >= 6
    assert store.duplicate_identities() == [("hospital number", "H100388", [a.id, b.id])]
    assert store.counts()["patients"] == 2


# --------------------------------------------------------------------------- pump lifecycle


def _clinic_with_pump(tmp_path: Path) -> tuple[ClinicService, int]:
    from itbconsole.model import Pump

    store = Store.open(tmp_path / "l.sqlite")
    clinic = ClinicService(store, load_drug_library(), NURSE)
    p = clinic.add_patient(patient("H1"))
    assert p.id is not None
    clinic.register_pump(Pump("OLD0000001", "SIM-40", 40_000, 2_000), p.id)
    return clinic, p.id


def test_a_pump_is_replaced_only_with_an_explant_record(tmp_path: Path) -> None:
    from itbconsole.model import Pump
    from itbconsole.services.clinic import PumpReplacementNeeded

    clinic, pid = _clinic_with_pump(tmp_path)
    new = Pump("NEW0000001", "SIM-40", 40_000, 2_000)
    with pytest.raises(PumpReplacementNeeded, match="already has pump OLD0000001"):
        clinic.register_pump(new, pid)
    assert clinic.owner_of("NEW0000001") is None  # nothing changed
    with pytest.raises(Exception, match="explant reason"):
        clinic.replace_pump(pid, new, explanted_on=date(2026, 11, 1), reason="lost")
    assert clinic.owner_of("NEW0000001") is None and clinic.owner_of("OLD0000001") is not None
    with pytest.raises(ValueError, match="Say what the reason was"):  # the service's rule
        clinic.replace_pump(pid, new, explanted_on=date(2026, 11, 1), reason="other", note="")
    assert clinic.owner_of("NEW0000001") is None
    clinic.replace_pump(pid, new, explanted_on=date(2026, 11, 1), reason="end_of_service")
    assert clinic.pump_of(pid).serial == "NEW0000001"  # type: ignore[union-attr]
    assert clinic.owner_of("OLD0000001") is None
    assert clinic.store.explants(pid) == [("OLD0000001", date(2026, 11, 1), "end_of_service", "")]
    history = clinic.store.patient_history(pid)
    assert {p.serial for p in history.pumps} == {"OLD0000001", "NEW0000001"}  # history kept


def test_a_catheter_revision_is_a_record_that_feeds_the_dead_volume(tmp_path: Path) -> None:
    from decimal import Decimal

    clinic, _pid = _clinic_with_pump(tmp_path)
    with pytest.raises(ValueError, match="length"):
        clinic.record_catheter_revision(
            "OLD0000001",
            revised_on=date(2026, 11, 20),
            catheter_length_cm=Decimal(0),
            catheter_ul_per_cm=Decimal("2.2"),
        )
    pump = clinic.record_catheter_revision(
        "OLD0000001",
        revised_on=date(2026, 11, 20),
        catheter_length_cm=Decimal(45),
        catheter_ul_per_cm=Decimal("2.2"),
        tip_level="T10",
    )
    assert pump.dead_volume_ul == Decimal(99)  # 45 cm x 2.2 µL/cm, no internal volume recorded
    assert clinic.store.last_catheter_revision("OLD0000001") == date(2026, 11, 20)
    assert clinic.store.counts()["catheter_revisions"] == 1


def test_only_a_training_database_takes_a_simulated_pump(tmp_path: Path) -> None:
    from dataclasses import replace as dc_replace

    from itbconsole.services.clinic import TrainingPump

    clinic, pid = _clinic_with_pump(tmp_path)
    with pytest.raises(TrainingPump, match="simulated training pump"):
        clinic.check_pump_for("OLD0000001", pid, simulated=True)
    assert clinic.check_pump_for("OLD0000001", pid).id == pid  # a real pump is fine
    clinic.user = User("Ada Admin", Role.ADMINISTRATOR)
    clinic.update_settings(dc_replace(clinic.settings, training=1), "training room")
    assert clinic.check_pump_for("OLD0000001", pid, simulated=True).id == pid


# --------------------------------------------------------------------------- pump models


def test_a_pump_whose_reservoir_contradicts_its_model_is_refused(tmp_path: Path) -> None:
    from itbconsole.model import Pump
    from itbconsole.pump_models import check_pump_model, find_model

    store = Store.open(tmp_path / "m.sqlite")
    clinic = ClinicService(store, load_drug_library(), NURSE)
    p = clinic.add_patient(patient("H1"))
    assert p.id is not None
    wrong = Pump("NGP999", "SynchroMed II 8637-20", 40_000, 2_000)
    with pytest.raises(ModelError, match="8637-20 has a 20 mL reservoir, not 40 mL"):
        clinic.register_pump(wrong, p.id)
    assert clinic.pump_of(p.id) is None
    right = Pump("NGP999", "SynchroMed II 8637-20", 20_000, 2_000)
    with pytest.raises(ModelError, match="reports a 40 mL reservoir"):
        check_pump_model(right, reported_capacity_ul=40_000)
    clinic.register_pump(right, p.id)
    model = find_model("synchromed ii 8637-40")
    assert model is not None and model.reservoir_ul == 40_000 and model.source


def test_register_pump_prefills_nothing_that_feeds_the_arithmetic(qtbot: object) -> None:
    from ui.records_dialogs import NO_DATE, PumpDialog

    dialog = PumpDialog(serial="NGP1", model="SynchroMed II 8637-40", capacity_ul=None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.catheter_length.text() == "" and dialog.catheter_per_cm.text() == ""
    assert dialog.implant.date() == NO_DATE  # not known until typed
    assert dialog.capacity.currentData() == 40 and not dialog.capacity.isEnabled()
    assert dialog.pump_dead.text() == "" and "manual" in dialog.pump_dead_source.text()
    pump = dialog.pump()
    assert pump is not None and pump.implant_date is None and pump.dead_volume_ul == 0
    dialog.model_combo.setEditText("SIM-40")
    assert dialog.pump_dead.text() == "0.25" and "catalogue" in dialog.pump_dead_source.text()


def test_a_reported_capacity_is_compared_exactly_not_truncated_to_whole_ml(qtbot: object) -> None:
    """Issue 12: the interrogation carried the capacity as ``// 1000``, so a pump reporting
    40,500 µL passed as a 40 mL pump. The exact figure reaches the model check."""
    from ui.records_dialogs import PumpDialog

    dialog = PumpDialog(
        serial="NGP2", model="SynchroMed II 8637-40", capacity_ul=40_500, lock_serial=True
    )
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.pump() is None and "40" in dialog.general_error.text()
    exact = PumpDialog(
        serial="NGP3", model="SynchroMed II 8637-40", capacity_ul=40_000, lock_serial=True
    )
    qtbot.addWidget(exact)  # type: ignore[attr-defined]
    exact.catheter_length.setText("50")
    exact.catheter_per_cm.setText("2.2")
    assert exact.pump() is not None, exact.general_error.text()


def test_only_active_patients_are_on_the_worklist_and_nothing_is_deleted(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from itbconsole.demo import DEMO_USER, open_demo_store

    store = open_demo_store(tmp_path / "d.sqlite", now=datetime(2026, 11, 30, 9, tzinfo=UTC))
    clinic = ClinicService(store, load_drug_library(), DEMO_USER)
    walsh = next(r for r in clinic.patient_rows("Walsh") if r.patient.family_name == "Walsh")
    assert walsh.patient.id is not None and walsh.patient_status == "active"
    assert any(r.patient.id == walsh.patient.id for r in clinic.worklist())
    with pytest.raises(ValueError, match="why"):
        clinic.set_patient_status(walsh.patient.id, "deceased", effective_on=date(2026, 11, 29))
    clinic.set_patient_status(
        walsh.patient.id, "inactive", effective_on=date(2026, 11, 29), note="moved to Leeds"
    )
    assert all(r.patient.id != walsh.patient.id for r in clinic.worklist())
    row = clinic.patient_row(walsh.patient.id)
    assert row is not None and row.patient_status == "inactive"  # still on the list
    assert store.patient_status(walsh.patient.id) == ("inactive", date(2026, 11, 29))
    assert len(store.patient_history(walsh.patient.id).refills) > 0  # history kept


def test_implausible_pump_fields_are_refused_by_the_service_not_only_the_form(
    tmp_path: Path,
) -> None:
    """Issue 12: the alarm, dead-volume and catheter bounds lived only in the pump dialog,
    so a script or another screen could record a 22 cm catheter typed as 220, or an alarm of
    0.2 mL. They are the pump record's rules now."""
    from decimal import Decimal

    from itbconsole.model import Pump
    from itbconsole.pump_models import pump_field_errors

    clinic, pid = _clinic_with_pump(tmp_path)
    slip = Pump("NEW0000002", "SIM-40", 40_000, 200, catheter_length_cm=Decimal(220))
    assert set(pump_field_errors(slip)) == {"alarm", "catheter_length"}
    other = clinic.add_patient(patient("H2", family="Other"))
    assert other.id is not None
    with pytest.raises(ModelError, match=r"Alarm volume must be between 0\.5 and 20 mL"):
        clinic.register_pump(slip, other.id)
    assert clinic.pump_of(other.id) is None
    with pytest.raises(ModelError, match="Catheter volume per cm must be between 0 and 10"):
        clinic.record_catheter_revision(
            "OLD0000001",
            revised_on=TODAY,
            catheter_length_cm=Decimal(45),
            catheter_ul_per_cm=Decimal(22),  # 2.2 typed without its point
        )
    pump = clinic.pump_of(pid)
    assert pump is not None and pump.catheter_ul_per_cm != Decimal(22)


def test_the_pump_form_shows_the_records_ranges_next_to_each_field(qtbot: object) -> None:
    from ui.records_dialogs import PumpDialog

    dialog = PumpDialog(serial="NGP4", model="SIM-40", capacity_ul=None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.alarm.setText("0.2")
    dialog.catheter_length.setText("220")
    assert dialog.pump() is None
    assert "between 0.5 and 20 mL" in dialog.errors["alarm"].text()
    assert "between 0 and 150 cm" in dialog.errors["catheter_length"].text()
    dialog.alarm.setText("2")
    dialog.catheter_length.setText("22")
    dialog.catheter_per_cm.setText("2.2")
    assert dialog.pump() is not None
