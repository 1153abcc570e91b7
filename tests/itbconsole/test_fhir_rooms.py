"""A clinic with several rooms: a record exported from any room is the same resource with
the same key and conditional request, so the hospital's server holds it once.

Room A holds the demo clinic and a clinic day; room B receives it through the sync engine
(``pending_events`` from A, ``apply_events`` into B, as a sync pass moves them), records a
reading of its own, and A receives that. Both rooms' exports must then be the same bundle,
though each room numbers its rows itself."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from itbconsole.cli import main
from itbconsole.demo import DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from itbconsole.sync.apply import apply_events
from itbconsole.sync.outbox import pending_events
from tests.itbconsole.test_history import LONDON, NOW, add_clinic_day


def originals(room: Store) -> list[Any]:
    """What the server hands the other rooms: the room's own events, no echoes."""
    return [e for e in pending_events(room.db, 0, limit=10_000_000) if not e.is_echo()]


def entries(path: Path) -> list[dict[str, Any]]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return list(document["entry"])


def test_the_same_record_from_two_rooms_is_one_resource(tmp_path: Path) -> None:
    room_a, room_b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    a = open_demo_store(room_a, now=NOW)
    day = add_clinic_day(ClinicService(a, load_drug_library(), DEMO_USER, LONDON))
    b = Store.open(room_b)
    try:
        assert apply_events(b, originals(a)).conflicts == []
        hospital_number = a.get_patient(day.patient_id).hospital_number
        (in_b,) = [p for p in b.search_patients(hospital_number)]
        assert in_b.id is not None
        reading = b.patient_history(in_b.id).readings[-1]
        b.add_reading(
            replace(
                reading,
                pump_serial=day.new_serial,  # the pump implanted on the clinic day
                at=NOW + timedelta(days=2),
                pump_clock=NOW + timedelta(days=2),
                id=None,
            ),
            DEMO_NURSE,
            patient_id=in_b.id,
        )
        assert apply_events(a, originals(b)).conflicts == []
        ids_differ = a.counts()["audit_log"] != b.counts()["audit_log"] or in_b.id != day.patient_id
    finally:
        a.close()
        b.close()

    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["export", "fhir", "--db", str(room_a), "--all", "--out", str(out_a)]) == 0
    assert main(["export", "fhir", "--db", str(room_b), "--all", "--out", str(out_b)]) == 0
    from_a, from_b = entries(out_a), entries(out_b)
    assert ids_differ  # the rooms number their rows differently...
    assert [e["request"] for e in from_a] == [
        e["request"] for e in from_b
    ]  # ...yet every record has one key
    assert from_a == from_b
    readings_from_b = [
        e
        for e in from_a
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["effectiveDateTime"] == (NOW + timedelta(days=2)).isoformat()
    ]
    assert len(readings_from_b) == 2  # room B's reading, reservoir and battery, in A's export
