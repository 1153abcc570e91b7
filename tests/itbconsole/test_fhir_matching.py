"""How the hospital's server matches what the export sends: a clinic's patients on the NHS
number, else on the hospital number under the system the clinic set (never as a second
patient beside the hospital's own); a clinic export that could not match a patient is
refused before anything is written; a training export matches on its own keys, the same
at every run of ``--demo``; a refill reads as drug put into the pump, never as a dose."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from itbconsole.cli import main
from itbconsole.demo import DEMO_ADMIN, DEMO_NURSE, open_demo_store
from itbconsole.fhir import codes, status
from itbconsole.model import Origin, Patient
from itbconsole.settings import ClinicSettings, SettingsError, parse_setting
from itbconsole.store import Store

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
MRN_SYSTEM = "https://fhir.example-hospital.nhs.uk/Id/mrn"
Resource = dict[str, Any]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fhir-matching") / "demo.sqlite"
    open_demo_store(path, now=NOW).close()
    return path


@pytest.fixture
def clinic_db(demo_db: Path, tmp_path: Path) -> tuple[Path, int]:
    """The demo's records as a clinic database (not training), with one patient more who
    has no NHS number; returns the path and that patient's record number."""
    path = tmp_path / "clinic.sqlite"
    with Store.open(demo_db) as store:
        store.backup(path, force=True)
    with Store.open(path) as store:
        settings = store.clinic_settings()
        assert settings is not None
        store.save_clinic_settings(replace(settings, training=0), DEMO_ADMIN, "a clinic now")
        added = store.add_patient(
            Patient("Okafor", "Ada", date(1990, 5, 17), "H200001", Origin.CEREBRAL), DEMO_NURSE
        )
    assert added.id is not None
    return path, added.id


def set_system(path: Path, system: str) -> None:
    with Store.open(path) as store:
        settings = store.clinic_settings()
        assert settings is not None
        store.save_clinic_settings(
            replace(settings, hospital_number_system=system), DEMO_ADMIN, "the hospital's MRNs"
        )


def export(path: Path, out: Path, *args: str) -> int:
    return main(["export", "fhir", "--db", str(path), *args, "--out", str(out)])


def patient_entries(out: Path) -> list[Resource]:
    bundle = json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]


def audit_count(path: Path) -> int:
    with Store.open(path) as store:
        return len(list(store.audit_entries()))


def test_a_clinic_patient_the_hospital_could_not_match_is_refused(
    clinic_db: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, no_nhs = clinic_db
    before = audit_count(path)
    for args in (["--all"], ["--patient", str(no_nhs)]):
        out = tmp_path / "refused.json"
        assert export(path, out, *args) == 2
        err = capsys.readouterr().err
        listed = err.split("record number ", 1)[1].split(" have no NHS number")[0]
        assert str(no_nhs) in listed.split(", ")
        assert "hospital_number_system" in err and "Clinic settings" in err
        assert not out.exists()
        assert [p for p in tmp_path.iterdir() if ".partial-" in p.name] == []
    assert audit_count(path) == before  # nothing recorded either


def test_a_clinic_patient_is_matched_on_the_nhs_number(
    clinic_db: tuple[Path, int], tmp_path: Path
) -> None:
    path, _ = clinic_db
    with Store.open(path) as store:
        walsh = next(p for p in store.search_patients("Walsh") if p.family_name == "Walsh")
    assert walsh.nhs_number and walsh.id is not None
    out = tmp_path / "walsh.json"
    assert export(path, out, "--patient", str(walsh.id)) == 0
    (entry,) = patient_entries(out)
    assert entry["request"] == {
        "method": "PUT",
        "url": f"Patient?identifier={codes.NHS_NUMBER}|{walsh.nhs_number}",
    }
    numbers = {i["system"]: i["value"] for i in entry["resource"]["identifier"]}
    assert numbers[codes.NHS_NUMBER] == walsh.nhs_number
    assert numbers[codes.HOSPITAL_NUMBER] == walsh.hospital_number  # no system set yet


def test_without_an_nhs_number_the_hospital_number_under_the_clinic_system(
    clinic_db: tuple[Path, int], tmp_path: Path
) -> None:
    path, no_nhs = clinic_db
    set_system(path, MRN_SYSTEM)
    out = tmp_path / "all.json"
    assert export(path, out, "--all") == 0
    entries = patient_entries(out)
    okafor = next(e for e in entries if e["resource"]["name"][0]["family"] == "Okafor")
    assert unquote(okafor["request"]["url"]) == f"Patient?identifier={MRN_SYSTEM}|H200001"
    assert {"system": MRN_SYSTEM, "value": "H200001"} in okafor["resource"]["identifier"]
    for entry in entries:
        numbers = {i["system"]: i["value"] for i in entry["resource"]["identifier"]}
        match = (
            (codes.NHS_NUMBER, numbers[codes.NHS_NUMBER])
            if codes.NHS_NUMBER in numbers
            else (MRN_SYSTEM, numbers[MRN_SYSTEM])
        )
        assert unquote(entry["request"]["url"]) == "Patient?identifier={}|{}".format(*match)
    assert any(codes.NHS_NUMBER in e["request"]["url"] for e in entries)
    assert not any(codes.RECORD_KEY in e["request"]["url"] for e in entries)
    with Store.open(path) as store:
        assert store.get_patient(no_nhs).nhs_number is None


def test_a_training_database_matches_only_on_its_own_keys(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    path = tmp_path / "copy.sqlite"
    with Store.open(demo_db) as store:
        store.backup(path, force=True)
    assert export(path, out, "--all") == 0
    entries = patient_entries(out)
    assert entries and all(
        e["request"]["url"].startswith(f"Patient?identifier={codes.RECORD_KEY}|") for e in entries
    )


def test_the_demo_export_has_the_same_keys_every_run(tmp_path: Path) -> None:
    """Each run builds a new demo database in memory (a new identity); its keys name a
    fixed demo identity, so sending the demo twice duplicates nothing."""
    runs = []
    for name in ("first.json", "second.json"):
        out = tmp_path / name
        assert main(["--demo", "export", "fhir", "--all", "--out", str(out)]) == 0
        bundle = json.loads(out.read_text(encoding="utf-8"))
        runs.append([(e["fullUrl"], e["request"]) for e in bundle["entry"]])
    assert runs[0] == runs[1]
    assert all("itbconsole-demo/" in unquote(json.dumps(r)) for _, r in runs[0][:1])


def test_a_refill_is_drug_put_into_the_pump_never_a_dose_given(
    demo_db: Path, tmp_path: Path
) -> None:
    """20 mL of 2000 mcg/mL into the reservoir is not 40 mg given: no dose, no route; the
    volume is our extension in mL, and the dose the patient gets is the program's."""
    path = tmp_path / "copy.sqlite"
    with Store.open(demo_db) as store:
        store.backup(path, force=True)
    out = tmp_path / "all.json"
    assert export(path, out, "--all") == 0
    bundle = json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)
    kinds: dict[str, list[Resource]] = {}
    for entry in bundle["entry"]:
        kinds.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    administrations = kinds["MedicationAdministration"]
    assert administrations
    for given in administrations:
        assert "dosage" not in given
        assert "route" not in json.dumps(given, default=str)
        (volume,) = given["extension"]
        assert volume["url"] == status.RESERVOIR_VOLUME_ADDED
        assert volume["valueQuantity"]["code"] == "mL"
        assert any(
            "instilled into the implanted pump's reservoir" in n["text"] for n in given["note"]
        )
        assert given["category"]["text"] == status.REFILL_CATEGORY
    for request in kinds["MedicationRequest"]:
        rate = request["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]
        assert rate["code"] == "ug/d"


@pytest.mark.parametrize(
    "system",
    ["MRN", "mrn:", "https://", "urn:x", "https://hospital.example/Id/mrn|x", " urn:oid:1.2.3"],
)
def test_a_hospital_number_system_that_is_not_a_uri_is_refused(system: str) -> None:
    with pytest.raises(SettingsError, match="hospital_number_system"):
        ClinicSettings(hospital_number_system=system)


def test_a_hospital_number_system_is_a_uri_or_a_urn_and_changes_no_forecast() -> None:
    for system in (MRN_SYSTEM, "urn:oid:2.16.840.1.113883.2.1.3.2", ""):
        assert ClinicSettings(hospital_number_system=system).hospital_number_system == system
    assert parse_setting("hospital_number_system", " urn:oid:1.2.3 ") == "urn:oid:1.2.3"
    assert (
        ClinicSettings(hospital_number_system=MRN_SYSTEM).fingerprint()
        == ClinicSettings().fingerprint()
    )
