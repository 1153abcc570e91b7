"""``itbconsole export fhir``: the demo clinic with a clinic day of real store writes
(corrections, a withdrawn reading, a settled refill and program change, a replaced pump),
exported for one patient and for all, parsed with fhir.resources' R4B models and compared
with the store; repeated exports keep their keys (conditional updates, each record under
its first version's key); bad input is refused with exit 2 and nothing written; the
clinical records are never written."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from itbconsole import paths
from itbconsole.cli import main
from itbconsole.demo import DEMO_ADMIN, DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.dosing import program_daily_dose_mcg
from itbconsole.druglib import load_drug_library
from itbconsole.fhir import codes, json_text, status
from itbconsole.fhir.bundle import clinic_patient_ids, export_bundle
from itbconsole.model import ChangeOutcome, Origin, Patient, Refill, RefillStatus
from itbconsole.pump_models import pump_models
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from itbconsole.store.schema import CLINICAL_TABLES
from tests.itbconsole.test_history import LONDON, LOT, NOW, ClinicDay, add_clinic_day

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ClinicDay]:
    path = tmp_path_factory.mktemp("fhir") / "demo.sqlite"
    store = open_demo_store(path, now=NOW)
    day = add_clinic_day(ClinicService(store, load_drug_library(), DEMO_USER, LONDON))
    store.close()
    return path, day


@pytest.fixture
def db(clinic_db: tuple[Path, ClinicDay], tmp_path: Path) -> tuple[Path, ClinicDay]:
    """A copy of the clinic for each test (exports add audit entries)."""
    path, day = clinic_db
    with Store.open(path) as store:
        store.backup(tmp_path / "clinic.sqlite", force=True)
    return tmp_path / "clinic.sqlite", day


def export(db: Path, out: Path, *args: str) -> int:
    return main(["export", "fhir", "--db", str(db), *args, "--out", str(out)])


def read(path: Path) -> Resource:
    """The file as JSON with exact decimals, and validated as an R4B Bundle."""
    text = path.read_text(encoding="utf-8")
    Bundle.model_validate(json.loads(text))
    document: Resource = json.loads(text, parse_float=Decimal)
    return document


def resources(bundle: Resource, kind: str) -> list[Resource]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def key_of(resource: Resource) -> str:
    return next(i["value"] for i in resource["identifier"] if i["system"] == codes.RECORD_KEY)


def by_key(bundle: Resource, kind: str) -> dict[str, Resource]:
    return {key_of(r): r for r in resources(bundle, kind)}


def root_id(store: Store, table: str, record_id: int | None) -> int:
    """The first version of a record's correction chain: the row its key names."""
    assert record_id is not None
    return store.versions(table, record_id)[0].record_id


def added_ml(administration: Resource) -> Any:
    """The volume a refill put into the reservoir (our extension, never a dose)."""
    (extension,) = administration["extension"]
    assert extension["url"] == status.RESERVOIR_VOLUME_ADDED
    assert extension["valueQuantity"]["code"] == "mL"
    return extension["valueQuantity"]["value"]


def conditional(entry: Resource) -> str:
    request = entry["request"]
    return f"{request['method']} {request.get('ifNoneExist') or request['url']}"


def table_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    with Store.open(path) as store:
        return {
            t: list(store.db.query(f"SELECT * FROM [{t}] ORDER BY id")) for t in CLINICAL_TABLES
        }


def recorded(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Every clinical row and every audit entry."""
    with Store.open(path) as store:
        return table_rows(path), list(store.audit_entries())


# --------------------------------------------------------------------------- one patient


def test_one_patient_bundle_is_valid_r4b_and_every_resource_parses(
    db: tuple[Path, ClinicDay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, day = db
    out = tmp_path / "walsh.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    assert "Wrote a FHIR bundle" in capsys.readouterr().out
    bundle = read(out)
    assert bundle["type"] == "transaction"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {
        "Patient",
        "Device",
        "Procedure",
        "Observation",
        "Medication",
        "MedicationAdministration",
        "MedicationRequest",
        "Provenance",
    }
    for entry in json.loads(out.read_text(encoding="utf-8"))["entry"]:
        model = get_fhir_model_class(entry["resource"]["resourceType"])
        model.model_validate(entry["resource"])  # each one on its own, too
        kind = entry["resource"]["resourceType"]
        if kind in ("Medication", "Provenance"):  # never change: conditional creates
            assert entry["request"]["method"] == "POST"
            assert entry["request"]["url"] == kind
            assert entry["request"]["ifNoneExist"]
        else:  # can change: conditional updates by identifier
            assert entry["request"]["method"] == "PUT"
            assert entry["request"]["url"].startswith(f"{kind}?identifier=")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_pumps_maker_is_the_catalogues_never_guessed_from_its_name() -> None:
    makers = {m.model: m.manufacturer for m in pump_models()}
    assert makers["SynchroMed II 8637-20"] == makers["SynchroMed II 8637-40"] == "Medtronic"
    assert makers["Prometra II"] == "Flowonix" and makers["MedStream 40"] == "Codman"
    assert makers["SIM-40"] == makers["Simulated pump 20 mL"] == "ITB Console simulated pump"
    assert codes.pump_manufacturer(" prometra  II ") == "Flowonix"  # spacing and case
    assert codes.pump_manufacturer("SynchroMed III") is None  # typed, not in the catalogue


def test_values_are_the_stored_records(db: tuple[Path, ClinicDay], tmp_path: Path) -> None:
    path, day = db
    out = tmp_path / "walsh.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    bundle = read(out)
    with Store.open(path) as store:
        history = store.patient_history(day.patient_id)
        store_id = store.store_id()
        owner_now = {p.serial: store.find_pump_owner(p.serial) for p in history.pumps}
        roots = {
            (table, r.id): root_id(store, table, r.id)
            for table, records in (
                ("readings", history.readings),
                ("refills", history.refills),
                ("program_changes", history.program_changes),
            )
            for r in records
        }

    (patient,) = resources(bundle, "Patient")
    ids = {i["system"]: i["value"] for i in patient["identifier"]}
    assert ids[codes.NHS_NUMBER] == history.patient.nhs_number
    assert ids["https://fhir.nhs.uk/Id/nhs-number"] == history.patient.nhs_number
    assert ids[codes.HOSPITAL_NUMBER] == "H100645"  # the corrected number
    assert patient["birthDate"] == history.patient.date_of_birth.isoformat()
    assert patient["name"][0]["family"] == history.patient.family_name
    assert "deceasedDateTime" not in patient

    devices = {d["serialNumber"]: d for d in resources(bundle, "Device")}
    assert set(devices) == {day.serial, day.new_serial}
    assert devices[day.serial]["status"] == "inactive"  # explanted on the clinic day
    assert devices[day.new_serial]["status"] == "active"
    assert owner_now[day.new_serial] == day.patient_id
    assert devices[day.new_serial]["deviceName"][0]["name"] == "SynchroMed II 8637-40"
    assert devices[day.new_serial]["manufacturer"] == "Medtronic"
    implants = {
        p["focalDevice"][0]["manipulated"]["reference"]: p["performedDateTime"]
        for p in resources(bundle, "Procedure")
    }
    urls = {e["resource"].get("serialNumber"): e["fullUrl"] for e in bundle["entry"]}
    for pump in history.pumps:
        assert pump.implant_date is not None
        assert implants[urls[pump.serial]] == pump.implant_date.isoformat()

    observations = by_key(bundle, "Observation")
    assert len(observations) == 2 * (len(history.readings) + 1)  # and the withdrawn one
    for reading in history.readings:
        key = f"{store_id}/readings/{roots['readings', reading.id]}"
        volume = observations[f"{key}/reservoir-volume"]
        battery = observations[f"{key}/battery-voltage"]
        assert volume["status"] == battery["status"] == "final"
        assert volume["valueQuantity"]["value"] == Decimal(reading.reservoir_ul) / 1000
        assert volume["valueQuantity"]["code"] == "mL"
        assert battery["valueQuantity"]["value"] == Decimal(reading.battery_mv) / 1000
        assert battery["valueQuantity"]["code"] == "V"
        assert volume["effectiveDateTime"] == reading.at.isoformat()
        assert volume["device"]["reference"] == urls[reading.pump_serial]
    withdrawn = observations[f"{store_id}/readings/{day.reading_id}/reservoir-volume"]
    assert withdrawn["status"] == "entered-in-error"  # withdrawn at the hospital too
    assert withdrawn["note"] == [{"text": "Withdrawn as entered in error: another pump's printout"}]

    administrations = by_key(bundle, "MedicationAdministration")
    medications = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert len(administrations) == len(history.refills)
    for refill in history.refills:
        given = administrations[f"{store_id}/refills/{roots['refills', refill.id]}"]
        drug = medications[given["medicationReference"]["reference"]]
        assert added_ml(given) == Decimal(refill.added_ul) / 1000
        assert "dosage" not in given  # a reservoir refill is not a dose given
        assert drug["batch"] == {
            "lotNumber": refill.lot,
            "expirationDate": refill.expiry.isoformat(),
        }
        strength = drug["ingredient"][0]["strength"]
        assert strength["numerator"]["value"] == refill.concentration_mcg_ml
        assert (strength["numerator"]["code"], strength["denominator"]["code"]) == ("ug", "mL")
        assert drug["code"]["text"].startswith(refill.product)
    settled = next(r for r in history.refills if r.lot == LOT)
    assert settled.id != day.refill_id
    # The settled refill keeps the pending one's key: the hospital's copy is updated.
    assert administrations[f"{store_id}/refills/{day.refill_id}"]["status"] == "completed"
    assert f"{store_id}/refills/{settled.id}" not in administrations

    requests = by_key(bundle, "MedicationRequest")
    assert len(requests) == len(history.program_changes)
    for change in history.program_changes:
        request = requests[f"{store_id}/program_changes/{roots['program_changes', change.id]}"]
        rate = request["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]
        assert rate["value"] == program_daily_dose_mcg(change.new)
        assert (rate["system"], rate["code"]) == (codes.UCUM, "ug/d")
    in_force = [r for r in requests.values() if r["status"] == "active"]
    assert in_force == []  # the pump that ran the last change was replaced
    last = history.program_changes[-1]
    assert last.outcome is ChangeOutcome.SUCCEEDED and last.pump_serial == day.serial
    assert requests[f"{store_id}/program_changes/{day.change_id}"]["status"] == "stopped"


def test_provenance_names_who_recorded_each_record(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, day = db
    out = tmp_path / "walsh.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    bundle = read(out)
    with Store.open(path) as store:
        store_id = store.store_id()
        refill_stamp = store.stamp(
            "refills",
            next(r.id for r in store.patient_history(day.patient_id).refills if r.lot == LOT) or 0,
        )
    targets: dict[str, Resource] = {}
    for provenance in resources(bundle, "Provenance"):
        for target in provenance["target"]:
            assert target["reference"] not in targets, "one Provenance per record"
            targets[target["reference"]] = provenance
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] not in ("Provenance", "Medication"):
            assert entry["fullUrl"] in targets, entry["resource"]["resourceType"]
    settled = next(
        e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
        and key_of(e["resource"]) == f"{store_id}/refills/{day.refill_id}"
    )
    provenance = targets[settled["fullUrl"]]
    assert provenance["agent"][0]["who"]["display"] == "Demo Nurse (nurse)"
    assert provenance["recorded"] == refill_stamp.at.isoformat()
    assert provenance["entity"][0]["role"] == "revision"  # it settles the pending record
    assert provenance["entity"][0]["what"]["identifier"]["value"] == (
        f"{store_id}/refills/{day.refill_id}"
    )


# --------------------------------------------------------------------------- the clinic


def test_all_patients_twice_same_keys_no_duplicates_records_untouched(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, _ = db
    before = table_rows(path)
    with Store.open(path) as store:
        audit_before = len(list(store.audit_entries()))
        patients = store.patients_overview(NOW.date())
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert export(path, first, "--all") == 0
    assert export(path, second, "--all") == 0
    one, two = read(first), read(second)
    assert len(resources(one, "Patient")) == len(patients) > 1

    def keys(bundle: Resource) -> list[tuple[str, str]]:
        return [(e["fullUrl"], conditional(e)) for e in bundle["entry"]]

    assert keys(one) == keys(two)
    assert len(set(keys(one))) == len(keys(one))
    assert len({k for _, k in keys(one)}) == len(keys(one))
    assert [e["resource"] for e in one["entry"]] == [e["resource"] for e in two["entry"]]
    identifiers = [
        (i["system"], i["value"]) for e in one["entry"] for i in e["resource"].get("identifier", [])
    ]
    assert len(identifiers) == len(set(identifiers))
    lots = [(m["batch"]["lotNumber"], m["code"]["text"]) for m in resources(one, "Medication")]
    assert len(lots) == len(set(lots))  # a lot shared by refills is one Medication

    assert table_rows(path) == before  # read only: not a clinical row written
    with Store.open(path) as store:
        entries = list(store.audit_entries())
    assert len(entries) == audit_before + 2
    assert [e["action"] for e in entries[-2:]] == ["fhir_exported", "fhir_exported"]
    assert str(second.resolve()) in entries[-1]["payload"]
    assert entries[-1]["user_name"].startswith("itbconsole export")


def test_a_training_database_marks_every_resource_and_a_clinic_one_does_not(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, day = db
    training = tmp_path / "training.json"
    assert export(path, training, "--patient", str(day.patient_id)) == 0
    label = {"system": codes.TRAINING_SYSTEM, "code": "HTEST", "display": "test health data"}
    bundle = read(training)
    assert label in bundle["meta"]["security"]
    assert all(label in e["resource"]["meta"]["security"] for e in bundle["entry"])

    def batches(document: Resource) -> list[str]:
        return [m["identifier"][0]["value"] for m in resources(document, "Medication")]

    # A training batch never matches a real one on the server (a batch names no database).
    assert batches(bundle) and all(b.startswith("training/") for b in batches(bundle))

    with Store.open(path) as store:
        settings = store.clinic_settings()
        assert settings is not None and settings.training
        store.save_clinic_settings(replace(settings, training=0), DEMO_ADMIN, "a clinic now")
    clinic = tmp_path / "clinic.json"
    assert export(path, clinic, "--patient", str(day.patient_id)) == 0
    text = clinic.read_text(encoding="utf-8")
    assert "HTEST" not in text and '"security"' not in text
    assert batches(read(clinic)) and not any(
        b.startswith("training/") for b in batches(read(clinic))
    )


def test_numbers_are_written_exactly(db: tuple[Path, ClinicDay], tmp_path: Path) -> None:
    path, day = db
    out = tmp_path / "walsh.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    text = out.read_text(encoding="utf-8")
    assert '"value": 3.500' in text  # the withdrawn reading, sent as entered in error
    assert '"value": 40.000,' in text  # the settled refill's 40 mL, as stored (µL to mL)
    assert "E+" not in text and "e+" not in text


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient", "99999"], "no patient with record number 99999"),
        (["--patient", "0"], "must be between 1 and"),
        (["--patient", "x"], "not a whole number"),
        (["--patient", "1", "--all"], "not allowed with"),
        ([], "one of the arguments --patient --all is required"),
        (["--all", "--since", "01/10/2026"], "not a date"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    db: tuple[Path, ClinicDay],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    path, _ = db
    before = recorded(path)
    out = tmp_path / "out.json"
    try:
        code = export(path, out, *args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert recorded(path) == before  # not even an audit entry


def test_the_output_file_is_checked_first(
    db: tuple[Path, ClinicDay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = db
    before = path.read_bytes()
    assert export(path, path, "--all") == 2
    assert "the database's own file" in capsys.readouterr().err
    kept = tmp_path / "kept.json"
    kept.write_text("keep me", encoding="utf-8")
    assert export(path, kept, "--all") == 2
    assert "--force" in capsys.readouterr().err and kept.read_text() == "keep me"
    assert path.read_bytes() == before
    assert export(path, kept, "--all", "--force") == 0
    assert read(kept)["type"] == "transaction"


def test_without_a_database_it_says_so_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert export(missing, tmp_path / "x.json", "--all") == 1
    assert "There is no database" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "x.json").exists()


def test_help_describes_the_export(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "fhir", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--patient ID" in text and "--all" in text and "transaction Bundle" in text


def test_a_bundle_failing_its_checks_is_not_written(
    db: tuple[Path, ClinicDay],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slip in the unit table (``ml`` is not UCUM's millilitre) stops the export."""
    path, day = db
    monkeypatch.setattr(codes, "MILLILITRE", codes.Unit("ml", "mL"))
    before = recorded(path)
    out = tmp_path / "out.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 1
    err = capsys.readouterr().err
    assert "failed its checks" in err and "unit code 'ml'" in err
    assert not out.exists()
    kept = tmp_path / "kept.json"
    kept.write_text("an earlier export", encoding="utf-8")
    assert export(path, kept, "--patient", str(day.patient_id), "--force") == 1
    assert kept.read_text(encoding="utf-8") == "an earlier export"
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []
    assert recorded(path) == before


def test_a_patient_without_a_pump_is_a_patient_and_who_recorded_them(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, _ = db
    with Store.open(path) as store:
        added = store.add_patient(
            Patient("Okafor", "Ada", date(1990, 5, 17), "H200001", Origin.CEREBRAL), DEMO_NURSE
        )
    out = tmp_path / "new.json"
    assert export(path, out, "--patient", str(added.id)) == 0
    bundle = read(out)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "Provenance"]
    (patient,) = resources(bundle, "Patient")
    assert codes.NHS_NUMBER not in {i["system"] for i in patient["identifier"]}


def test_demo_exports_a_demo_clinic_built_in_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.json"
    assert main(["--demo", "export", "fhir", "--all", "--out", str(out)]) == 0
    bundle = read(out)
    assert len(resources(bundle, "Patient")) > 1
    assert bundle["meta"]["security"][0]["code"] == "HTEST"
    assert not paths.demo_db_path().exists()  # the app's demo file is not touched
    assert (
        main(
            [
                "--demo",
                "export",
                "fhir",
                "--db",
                str(tmp_path / "x"),
                "--all",
                "--out",
                str(tmp_path / "y.json"),
            ]
        )
        == 2
    )
    assert "leave out --db" in capsys.readouterr().err


def test_since_keeps_the_records_from_that_day_and_every_reference(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, day = db
    with Store.open(path) as store:
        history = store.patient_history(day.patient_id)
        store_id = store.store_id()
    latest = max(r.at for r in history.refills)
    since = latest.astimezone(LONDON).date()
    out = tmp_path / "since.json"
    assert export(path, out, "--patient", str(day.patient_id), "--since", since.isoformat()) == 0
    bundle = read(out)  # the checks passed: every reference resolves
    kept = set(by_key(bundle, "MedicationAdministration"))
    with Store.open(path) as store:
        assert kept == {
            f"{store_id}/refills/{root_id(store, 'refills', r.id)}"
            for r in history.refills
            if r.at.astimezone(LONDON).date() >= since
        }
    assert 0 < len(kept) < len(history.refills)
    assert len(resources(bundle, "Patient")) == 1
    assert len(resources(bundle, "Device")) == len(history.pumps)
    observations = by_key(bundle, "Observation")
    assert all(
        r.at.astimezone(LONDON).date() >= since
        for r in history.readings
        if f"{store_id}/readings/{r.id}/reservoir-volume" in observations
    )
    # The program in force when that day began, replaced since, is sent again: stopped.
    requests = by_key(bundle, "MedicationRequest")
    before = [c for c in history.program_changes if c.at.astimezone(LONDON).date() < since]
    if before:
        assert all(r["status"] != "active" for r in requests.values())
    with Store.open(path) as store:
        assert json.loads(list(store.audit_entries())[-1]["payload"])["since"] == since.isoformat()


def test_a_deceased_patient_has_the_day_of_death(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    path, day = db
    died = NOW.astimezone(LONDON).date()
    with Store.open(path) as store:
        store.set_patient_status(day.patient_id, "deceased", DEMO_NURSE, effective_on=died)
    out = tmp_path / "deceased.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    (patient,) = resources(read(out), "Patient")
    assert patient["deceasedDateTime"] == died.isoformat()


def test_a_failed_pump_update_still_exports_the_drug_given(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    """The drug and lot went into the reservoir: a recall must find them, so the refill
    is never 'not-done'; its status is said in words."""
    path, day = db
    with Store.open(path) as store:
        refill = store.add_refill(
            Refill(
                day.new_serial,
                NOW,
                withdrawn_ul=2_500,
                expected_residual_ul=2_600,
                added_ul=39_750,
                product="Gablofen",
                concentration_mcg_ml=2000,
                lot="GB-55,1",
                expiry=date(2028, 1, 31),
                status=RefillStatus.FAILED,
                note="Update the pump again.",
            ),
            DEMO_NURSE,
            patient_id=day.patient_id,
        )
        store_id = store.store_id()
    out = tmp_path / "failed.json"
    assert export(path, out, "--patient", str(day.patient_id)) == 0
    bundle = read(out)
    given = by_key(bundle, "MedicationAdministration")[f"{store_id}/refills/{refill.id}"]
    assert given["status"] == "unknown"
    assert [n["text"] for n in given["note"]] == [
        codes.REFILL_STATUS_TEXT[RefillStatus.FAILED],
        status.refill_words("39.75 mL", "Gablofen 2000 mcg/mL"),
        "Update the pump again.",
    ]
    assert added_ml(given) == Decimal("39.750")
    drug = next(
        e["resource"]
        for e in bundle["entry"]
        if e["fullUrl"] == given["medicationReference"]["reference"]
    )
    assert drug["batch"] == {"lotNumber": "GB-55,1", "expirationDate": "2028-01-31"}


def test_the_streamed_file_is_the_bundle_built_whole(
    db: tuple[Path, ClinicDay], tmp_path: Path
) -> None:
    """The command writes entry by entry; the file is the same document as the bundle
    built in memory (itbconsole.fhir.bundle.export_bundle), numbers and all."""
    path, _ = db
    out = tmp_path / "all.json"
    assert export(path, out, "--all") == 0
    written = json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)
    with Store.open(path) as store:
        built = export_bundle(store, clinic_patient_ids(store, NOW), NOW)
    whole = json.loads(json_text.dumps(built), parse_float=Decimal)
    assert written["entry"] == whole["entry"]
    assert {k: v for k, v in written.items() if k not in ("entry", "timestamp")} == {
        k: v for k, v in whole.items() if k not in ("entry", "timestamp")
    }
