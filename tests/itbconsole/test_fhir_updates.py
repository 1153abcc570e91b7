"""The hospital's copy follows the records: five exports, sent one after another to a FHIR
server while the records change, leave the server holding each record once in its latest
state (one active program, one administration per refill, corrected numbers, withdrawn
records entered in error, an explanted pump inactive, a death).

The server is a small dict applying a transaction as FHIR defines it for the requests the
export uses: a conditional create (``POST`` with ``ifNoneExist``: nothing when one
matches) and a conditional update (``PUT Kind?identifier=system|value``: replace the one
that matches, create when none does), ``urn:uuid`` references rewritten to the resource
each entry became."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from itbconsole.demo import DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.fhir import codes, json_text
from itbconsole.fhir.bundle import export_bundle
from itbconsole.model import ChangeOutcome, Pump, Refill, RefillStatus, simple_continuous
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from tests.itbconsole.test_history import LONDON, NOW

Resource = dict[str, Any]


def split_token(text: str) -> tuple[str, str]:
    """``system|value`` with FHIR search escapes (``\\|``, ``\\,``, ``\\$``, ``\\\\``)."""
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    assert len(parts) == 2, text
    return parts[0], parts[1]


def has_identifier(resource: Resource, token: str) -> bool:
    system, value = split_token(token)
    return any(
        i.get("system") == system and i.get("value") == value
        for i in resource.get("identifier", [])
    )


class FhirServer:
    """Resources by type and id, changed only by :meth:`transaction`."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Resource]] = {}
        self._next = 0

    def all(self, kind: str) -> list[Resource]:
        return list(self.stored.get(kind, {}).values())

    def _matches(self, resource: Resource, name: str, value: str) -> bool:
        if name == "identifier":
            return has_identifier(resource, value)
        if name == "_tag":
            system, code = split_token(value)
            return {"system": system, "code": code} in [
                {"system": t.get("system"), "code": t.get("code")}
                for t in resource.get("meta", {}).get("tag", [])
            ]
        raise AssertionError(f"a search this server does not know: {name}")

    def search(self, kind: str, query: str) -> list[str]:
        terms = [term.split("=", 1) for term in query.split("&")]
        return [
            rid
            for rid, resource in self.stored.get(kind, {}).items()
            if all(self._matches(resource, name, unquote(value)) for name, value in terms)
        ]

    def transaction(self, bundle: Resource) -> None:
        """All or nothing: a search matching more than one resource fails the bundle
        (412, as a server answers a conditional request it cannot resolve)."""
        bundle = json.loads(json_text.dumps(bundle), parse_float=Decimal)
        writes: list[tuple[str, str, Resource]] = []
        addresses: dict[str, str] = {}
        for entry in bundle["entry"]:
            request, resource = entry["request"], entry["resource"]
            kind = resource["resourceType"]
            if request["method"] == "POST":
                found = self.search(kind, request["ifNoneExist"])
            else:
                assert request["method"] == "PUT"
                path, _, query = request["url"].partition("?")
                assert path == kind and query
                found = self.search(kind, query)
            assert len(found) <= 1, f"412: {len(found)} {kind} match {request}"
            if found:
                rid = found[0]
            else:
                self._next += 1
                rid = str(self._next)
            addresses[entry["fullUrl"]] = f"{kind}/{rid}"
            if request["method"] == "PUT" or not found:
                writes.append((kind, rid, resource))

        def rewritten(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: addresses.get(v, v) if k == "reference" else rewritten(v)
                    for k, v in node.items()
                }
            if isinstance(node, list):
                return [rewritten(v) for v in node]
            return node

        for kind, rid, resource in writes:
            self.stored.setdefault(kind, {})[rid] = {**rewritten(resource), "id": rid}


def unused_nhs_number(store: Store) -> str:
    """A valid NHS number (mod-11 check digit) no patient of the clinic has."""
    used = {r[0] for r in store.db.conn.execute("SELECT nhs_number FROM patient_versions")}
    for first_nine in range(999_000_001, 999_999_999):
        digits = str(first_nine)
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10 and digits + str(check) not in used:
            return digits + str(check)
    raise AssertionError("no NHS number left")


def record_key(resource: Resource) -> str:
    return next(i["value"] for i in resource["identifier"] if i["system"] == codes.RECORD_KEY)


def daily_dose(request: Resource) -> Decimal:
    rate = request["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]
    assert rate["code"] == "ug/d"
    return Decimal(rate["value"])


@pytest.fixture
def clinic(tmp_path: Path) -> Any:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    yield ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
    store.close()


def test_five_exports_leave_the_hospital_one_current_copy_of_each_record(
    clinic: ClinicService,
) -> None:
    store: Store = clinic.store
    row = next(r for r in clinic.patient_rows("Walsh") if r.patient.family_name == "Walsh")
    pid = row.patient.id
    assert pid is not None
    server = FhirServer()
    history = store.patient_history(pid)
    serial = history.pumps[-1].serial
    last_change, last_reading = history.program_changes[-1], history.readings[-1]
    day = NOW

    def send() -> None:
        server.transaction(export_bundle(store, [pid], NOW, None))

    def program(dose: int, outcome: ChangeOutcome, on: str = serial) -> int:
        change = store.add_program_change(
            replace(
                last_change,
                pump_serial=on,
                at=day,
                old=last_reading.program,
                new=simple_continuous(dose),
                outcome=outcome,
                readback=None,
                overrides=(),
                id=None,
            ),
            DEMO_USER,
            patient_id=pid,
        )
        assert change.id is not None
        return change.id

    def refill(status: RefillStatus, lot: str) -> int:
        added = store.add_refill(
            Refill(
                serial,
                day,
                withdrawn_ul=3_000,
                expected_residual_ul=3_100,
                added_ul=20_000,
                product="Lioresal Intrathecal",
                concentration_mcg_ml=2000,
                lot=lot,
                expiry=(NOW + timedelta(days=400)).date(),
                status=status,
            ),
            DEMO_NURSE,
            patient_id=pid,
        )
        assert added.id is not None
        return added.id

    send()  # 1: the patient as the demo holds them
    day += timedelta(days=1)
    first = program(380, ChangeOutcome.SUCCEEDED)
    pending = refill(RefillStatus.PENDING, "LOT-A")
    send()  # 2: 380 mcg/d active, the refill's outcome unknown
    day += timedelta(days=1)
    uncertain = program(420, ChangeOutcome.UNCERTAIN)
    store.resolve_refill(pending, RefillStatus.CONFIRMED, DEMO_NURSE, "confirmed by the pump")
    wrong = store.add_reading(
        replace(last_reading, at=day, pump_clock=day, reservoir_ul=3_500, id=None),
        DEMO_NURSE,
        patient_id=pid,
    )
    assert wrong.id is not None
    send()  # 3: 380 still active, 420 unknown, the refill completed, a reading
    day += timedelta(days=1)
    store.resolve_program_change(
        uncertain,
        ChangeOutcome.SUCCEEDED,
        DEMO_USER,
        readback=simple_continuous(420),
        note="read back equal",
    )
    third = program(460, ChangeOutcome.SUCCEEDED)
    store.mark_entered_in_error("readings", wrong.id, DEMO_NURSE, "another pump's printout")
    mistaken = refill(RefillStatus.CONFIRMED, "LOT-B")
    store.mark_entered_in_error("refills", mistaken, DEMO_NURSE, "recorded for the wrong patient")
    nhs = unused_nhs_number(store)
    clinic.correct_patient(
        replace(store.get_patient(pid), hospital_number="H777001", nhs_number=nhs), "typing slip"
    )
    send()  # 4: 460 active, corrections and withdrawals
    day += timedelta(days=1)
    new_serial = "NG2H99777"
    clinic.replace_pump(
        pid,
        Pump(
            new_serial,
            "SynchroMed II 8637-40",
            40_000,
            2_000,
            implant_date=day.date(),
            pump_dead_volume_ul=240,
            catheter_length_cm=Decimal(48),
            catheter_ul_per_cm=Decimal("2.2"),
        ),
        explanted_on=day.date(),
        reason="failure",
        note="motor stall",
    )
    fourth = program(500, ChangeOutcome.SUCCEEDED, on=new_serial)
    died = (day + timedelta(days=1)).astimezone(LONDON).date()
    store.set_patient_status(pid, "deceased", DEMO_NURSE, effective_on=died)
    send()  # 5: a new pump running 500 mcg/d, the old one explanted, the patient's death

    (patient,) = server.all("Patient")
    numbers = {i["system"]: i["value"] for i in patient["identifier"]}
    assert numbers[codes.HOSPITAL_NUMBER] == "H777001"
    assert numbers[codes.NHS_NUMBER] == nhs
    assert patient["deceasedDateTime"] == died.isoformat()

    devices = {d["serialNumber"]: d["status"] for d in server.all("Device")}
    assert devices == {serial: "inactive", new_serial: "active"}

    requests = server.all("MedicationRequest")
    active = [r for r in requests if r["status"] == "active"]
    assert [daily_dose(r) for r in active] == [Decimal(500)]
    assert len({record_key(r) for r in requests}) == len(requests)
    mine = {
        record_key(r): (daily_dose(r), r["status"])
        for r in requests
        if record_key(r).rsplit("/", 1)[1] in {str(first), str(uncertain), str(third), str(fourth)}
    }
    assert sorted(mine.values()) == [
        (380, "stopped"),
        (420, "stopped"),  # uncertain, then succeeded, then replaced: one resource
        (460, "stopped"),
        (500, "active"),
    ]

    refill_chains = store.db.conn.execute(
        "SELECT COUNT(*) FROM refills WHERE patient_id = ? AND corrects_id IS NULL", [pid]
    ).fetchone()[0]
    administrations = server.all("MedicationAdministration")
    assert len(administrations) == refill_chains  # one per refill, settled or not
    by_lot = {
        server.stored["Medication"][a["medicationReference"]["reference"].split("/")[1]]["batch"][
            "lotNumber"
        ]: a
        for a in administrations
    }
    assert by_lot["LOT-A"]["status"] == "completed"  # the pending refill, settled
    assert by_lot["LOT-B"]["status"] == "entered-in-error"

    withdrawn = [
        o
        for o in server.all("Observation")
        if record_key(o).startswith(f"{store.store_id()}/readings/{wrong.id}/")
    ]
    assert [o["status"] for o in withdrawn] == ["entered-in-error"] * 2

    # Who stored each version is kept, each once; sending the last export again changes
    # nothing on the server.
    provenances = server.all("Provenance")
    recorded = [(p["target"][0]["reference"], p["recorded"]) for p in provenances]
    assert len(recorded) == len(set(recorded))
    settled_id = next(
        rid for rid, a in server.stored["MedicationAdministration"].items() if a is by_lot["LOT-A"]
    )
    settled_versions = [
        p
        for p in provenances
        if p["target"][0]["reference"] == f"MedicationAdministration/{settled_id}"
    ]
    assert len(settled_versions) == 2  # the pending refill, then its settlement
    before = copy.deepcopy(server.stored)
    send()
    assert server.stored == before


def test_a_feed_since_a_day_still_updates_what_changed_before_it(
    clinic: ClinicService,
) -> None:
    """A regular feed (``since``): the program in force when the day began is sent again
    once replaced, and an older record withdrawn since is withdrawn at the hospital."""
    store: Store = clinic.store
    row = next(r for r in clinic.patient_rows("Walsh") if r.patient.family_name == "Walsh")
    pid = row.patient.id
    assert pid is not None
    server = FhirServer()
    server.transaction(export_bundle(store, [pid], NOW))  # the whole history first
    history = store.patient_history(pid)
    old_reading = history.readings[0]
    assert old_reading.id is not None
    later = NOW + timedelta(days=3)
    store.add_program_change(
        replace(
            history.program_changes[-1],
            at=later,
            old=history.readings[-1].program,
            new=simple_continuous(610),
            outcome=ChangeOutcome.SUCCEEDED,
            readback=None,
            overrides=(),
            id=None,
        ),
        DEMO_USER,
        patient_id=pid,
    )
    store.mark_entered_in_error("readings", old_reading.id, DEMO_NURSE, "wrong patient")
    feed = export_bundle(store, [pid], later, since=NOW)
    sent = {e["resource"]["resourceType"] for e in feed["entry"]}
    assert "Observation" in sent and "MedicationRequest" in sent
    server.transaction(feed)

    active = [r for r in server.all("MedicationRequest") if r["status"] == "active"]
    assert [daily_dose(r) for r in active] == [Decimal(610)]
    withdrawn = [
        o
        for o in server.all("Observation")
        if record_key(o).startswith(f"{store.store_id()}/readings/{old_reading.id}/")
    ]
    assert [o["status"] for o in withdrawn] == ["entered-in-error"] * 2
