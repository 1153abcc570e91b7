"""The FHIR export's own checks (itbconsole.fhir.checks), each shown to catch its own
mistake on a real exported bundle. fhir.resources accepts every one of them but the
malformed dates (a wrong unit, a dangling reference, a duplicate key all validate)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from fhir.resources.R4B.bundle import Bundle

from itbconsole.demo import open_demo_store
from itbconsole.fhir import checks, json_text, keys
from itbconsole.fhir.bundle import clinic_patient_ids, export_bundle

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
Resource = dict[str, Any]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Resource:
    path = tmp_path_factory.mktemp("fhir-checks") / "demo.sqlite"
    with open_demo_store(path, now=NOW) as store:
        return export_bundle(store, clinic_patient_ids(store, NOW)[:2], NOW)


def first(bundle: Resource, kind: str) -> Resource:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def test_the_exported_bundle_passes_every_check(bundle: Resource) -> None:
    assert checks.bundle_problems(bundle) == []


def wrong_unit_code(b: Resource) -> None:
    first(b, "Observation")["valueQuantity"]["code"] = "mg"


def wrong_unit_system(b: Resource) -> None:
    first(b, "MedicationRequest")["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"][
        "system"
    ] = "http://snomed.info/sct"


def ratio_unit(b: Resource) -> None:
    first(b, "Medication")["ingredient"][0]["strength"]["denominator"]["code"] = "L"


def dangling_reference(b: Resource) -> None:
    first(b, "Observation")["device"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"


def duplicate_identifier(b: Resource) -> None:
    observations = [
        e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    observations[1]["identifier"].append(copy.deepcopy(observations[0]["identifier"][0]))


def entries_of(b: Resource, kind: str) -> list[Resource]:
    return [e for e in b["entry"] if e["resource"]["resourceType"] == kind]


def duplicate_key(b: Resource) -> None:
    provenances = entries_of(b, "Provenance")
    provenances[1]["request"]["ifNoneExist"] = provenances[0]["request"]["ifNoneExist"]


def not_conditional(b: Resource) -> None:
    del entries_of(b, "Provenance")[0]["request"]["ifNoneExist"]


def created_not_updated(b: Resource) -> None:
    """A plain create of a record whose state can change: the server's copy goes stale."""
    entry = entries_of(b, "MedicationRequest")[0]
    entry["request"] = {"method": "POST", "url": "MedicationRequest"}


def updated_by_another_identifier(b: Resource) -> None:
    first_two = entries_of(b, "Observation")[:2]
    first_two[0]["request"]["url"] = "Observation?identifier=urn:itbconsole:record|elsewhere"


def time_without_zone(b: Resource) -> None:
    first(b, "Observation")["effectiveDateTime"] = "2026-11-02T09:30:00"


def not_a_date(b: Resource) -> None:
    first(b, "Patient")["birthDate"] = "02/11/1980"


def impossible_date(b: Resource) -> None:
    first(b, "Medication")["batch"]["expirationDate"] = "2027-02-30"


def unlabelled_training_resource(b: Resource) -> None:
    del first(b, "Provenance")["meta"]


@pytest.mark.parametrize(
    ("mistake", "words"),
    [
        (wrong_unit_code, "unit code 'mg' is not one of"),
        (wrong_unit_system, "system is not UCUM"),
        (ratio_unit, "unit code 'L'"),
        (dangling_reference, "is not an entry of the bundle"),
        (duplicate_identifier, "identifier urn:itbconsole:record|"),
        (duplicate_key, "conditional request POST _tag="),
        (not_conditional, "not a conditional create"),
        (created_not_updated, "not a conditional update (PUT)"),
        (updated_by_another_identifier, "names none of the Observation's identifiers"),
        (time_without_zone, "with seconds and a zone"),
        (not_a_date, "is not a date (YYYY-MM-DD)"),
        (impossible_date, "is not a real date"),
        (unlabelled_training_resource, "without the training label"),
    ],
)
def test_each_mistake_is_caught_though_fhir_resources_accepts_it(
    bundle: Resource, mistake: Callable[[Resource], None], words: str
) -> None:
    broken = copy.deepcopy(bundle)
    mistake(broken)
    if mistake not in (not_a_date, impossible_date, time_without_zone):
        Bundle.model_validate(json.loads(json_text.dumps(broken)))  # the library lets it by
    problems = checks.bundle_problems(broken)
    assert len(problems) == 1, problems
    assert words in problems[0]


def test_decimals_are_written_exactly() -> None:
    text = json_text.dumps({"value": Decimal("4.170"), "big": Decimal("1E+1"), "n": 3})
    assert json.loads(text, parse_float=Decimal) == {
        "value": Decimal("4.170"),
        "big": 10,
        "n": 3,
    }
    assert '"value": 4.170' in text


def test_a_note_that_looks_like_a_number_stays_text() -> None:
    text = json_text.dumps({"note": "decimal-0000000000000000:1.5", "v": Decimal("1.5")})
    assert json.loads(text) == {"note": "decimal-0000000000000000:1.5", "v": 1.5}


def test_a_key_with_commas_and_bars_is_one_search_value() -> None:
    """FHIR search splits a token at an unescaped ``|`` or ``,``: a lot named so must be
    escaped, or the server would look for something else and create a duplicate."""
    query = unquote(keys.if_none_exist("db/lots/Gablofen/2000/A,1|2/2027-01-31"))
    assert query == r"identifier=urn:itbconsole:record|db/lots/Gablofen/2000/A\,1\|2/2027-01-31"
