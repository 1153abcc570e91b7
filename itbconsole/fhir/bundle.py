"""The FHIR transaction Bundle of one patient or of the whole clinic, read from the store.

Why a transaction of conditional creates: the hospital's server applies the whole bundle
or nothing, and each entry's ``ifNoneExist`` (a key derived from the stored record,
:mod:`itbconsole.fhir.keys`) makes a repeated export create nothing twice. References
between entries use the entries' ``urn:uuid`` addresses; the server resolves them to the
resources it creates or finds.

Read only: this module reads effective records (the latest version of each, nothing
withdrawn as entered in error) through the store's typed API and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from itbconsole.dosing.instants import local_midnight
from itbconsole.fhir.origins import RecordOrigins
from itbconsole.fhir.resources import Builder, Entry, training_label
from itbconsole.model import ChangeOutcome
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.store.queries import PatientRecords, patient_records
from itbconsole.store.records import Stamp


class ExportError(ValueError):
    """The records cannot be exported as asked. The message is for the user."""


@dataclass
class _Entries:
    """Entries in bundle order, each key once (a lot's Medication is shared)."""

    by_key: dict[str, Entry] = field(default_factory=dict)

    def add(self, entry: Entry) -> Entry:
        return self.by_key.setdefault(entry.key, entry)


def clinic_patient_ids(store: Store, today: datetime) -> list[int]:
    """Every current patient of the clinic (the patient list's, by name)."""
    return [
        row.patient.id
        for row in store.patients_overview(today.date())
        if row.patient.id is not None
    ]


def is_training(store: Store) -> bool:
    settings = store.clinic_settings()
    return bool(settings is not None and settings.training)


def start_of_day(store: Store, day: date) -> datetime:
    """The first instant of ``day`` in the clinic's calendar (its zone, or this
    computer's), as ``--since`` means it for every export."""
    return local_midnight(day, (store.clinic_settings() or ClinicSettings()).tz)


def bundle_head(store: Store, now: datetime) -> dict[str, Any]:
    """The Bundle's own fields (everything but its entries)."""
    head: dict[str, Any] = {"resourceType": "Bundle"}
    if is_training(store):
        head["meta"] = {"security": [training_label()]}
    head.update({"type": "transaction", "timestamp": now.isoformat()})
    return head


def bundle_entries(
    store: Store, patient_ids: Sequence[int], since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The Bundle's entries, one patient after another, so a whole clinic is never held in
    memory (raises :class:`ExportError` naming a record number that has no patient). With
    ``since``, only readings, refills and program changes from that instant on; each
    patient and their pumps are always there, so every reference resolves (the server finds
    the ones it already holds). An entry shared by patients (a drug batch) comes once."""
    store_id = store.store_id()
    if store_id is None:
        raise ExportError(
            "This database has no identity yet (it is from an older version): run "
            "'itbconsole db init' to bring it up to date, then export again."
        )
    builder = Builder(RecordOrigins(store, store_id), is_training(store))
    written: set[str] = set()
    for patient_id in patient_ids:
        entries = _Entries()
        _PatientExport(store, builder, entries, patient_id, since).add()
        for key, entry in entries.by_key.items():
            if key not in written:
                written.add(key)
                yield _bundle_entry(entry)


def export_bundle(
    store: Store, patient_ids: Sequence[int], now: datetime, since: datetime | None = None
) -> dict[str, Any]:
    """The whole transaction Bundle as one document (for a few patients; the command
    streams :func:`bundle_entries` instead)."""
    return {**bundle_head(store, now), "entry": list(bundle_entries(store, patient_ids, since))}


def _bundle_entry(entry: Entry) -> dict[str, Any]:
    kind = str(entry.resource["resourceType"])
    return {
        "fullUrl": entry.full_url,
        "resource": entry.resource,
        "request": {"method": "POST", "url": kind, "ifNoneExist": entry.if_none_exist},
    }


def _stamps(records: PatientRecords) -> dict[str, dict[int, Stamp]]:
    """Who stored each version, by table and row id."""
    return {
        "patient_versions": {r.stamp.record_id: r.stamp for r in records.patient_versions},
        "pump_versions": {r.stamp.record_id: r.stamp for r in records.pump_versions},
        "readings": {r.stamp.record_id: r.stamp for r in records.readings},
        "refills": {r.stamp.record_id: r.stamp for r in records.refills},
        "program_changes": {r.stamp.record_id: r.stamp for r in records.program_changes},
    }


#: Tables whose correction keeps the resource's key (a patient's or a pump's details):
#: their Provenance names no revised record.
_SAME_KEY_WHEN_CORRECTED = ("patient_versions", "pump_versions")


class _PatientExport:
    """One patient's records added to the bundle: the patient, each pump, then readings,
    refills and program changes (from ``since``), each followed by its Provenance."""

    def __init__(
        self,
        store: Store,
        builder: Builder,
        entries: _Entries,
        patient_id: int,
        since: datetime | None,
    ) -> None:
        try:
            self.history = store.patient_history(patient_id)
        except LookupError:
            raise ExportError(f"there is no patient with record number {patient_id}") from None
        self.store, self.builder, self.entries = store, builder, entries
        self.patient_id, self.since = patient_id, since
        self.stamps = _stamps(patient_records(store.db, patient_id))
        self.devices: dict[str, Entry] = {}
        self.active: dict[str, bool] = {}

    def add(self) -> None:
        status, status_since = self.store.patient_status(self.patient_id)
        died_on = status_since if status == "deceased" else None
        self.patient = self.entries.add(self.builder.patient(self.history.patient, died_on))
        self._provenance([self.patient], "patient_versions", self.history.versions[-1].stamp)
        self._add_pumps()
        self._add_readings()
        self._add_refills()
        self._add_program_changes()

    def _stamp(self, table: str, record_id: int | None) -> Stamp:
        return self.stamps[table][record_id or 0]

    def _provenance(self, targets: list[Entry], table: str, stamp: Stamp) -> None:
        corrects = None
        if stamp.corrects_id is not None and table not in _SAME_KEY_WHEN_CORRECTED:
            corrects = self.builder.key(table, stamp.corrects_id)
        self.entries.add(self.builder.provenance(targets, stamp, corrects))

    def _wanted(self, at: datetime) -> bool:
        return self.since is None or at >= self.since

    def _device(self, serial: str) -> Entry:
        if serial not in self.devices:
            raise ExportError(
                f"patient {self.patient_id} has records of pump {serial}, which is not "
                "registered to them: check the pump's registration before exporting"
            )
        return self.devices[serial]

    def _add_pumps(self) -> None:
        for pump in self.history.pumps:
            active = self.store.find_pump_owner(pump.serial) == self.patient_id
            self.active[pump.serial] = active
            device = self.entries.add(self.builder.device(pump, self.patient, active=active))
            self.devices[pump.serial] = device
            targets = [device]
            implant = self.builder.implant(pump, device, self.patient)
            if implant is not None:
                targets.append(self.entries.add(implant))
            self._provenance(targets, "pump_versions", self._stamp("pump_versions", pump.id))

    def _add_readings(self) -> None:
        for reading in self.history.readings:
            if not self._wanted(reading.at):
                continue
            device = self._device(reading.pump_serial)
            observations = [
                self.entries.add(o)
                for o in self.builder.observations(reading, device, self.patient)
            ]
            self._provenance(observations, "readings", self._stamp("readings", reading.id))

    def _add_refills(self) -> None:
        for refill in self.history.refills:
            if not self._wanted(refill.at):
                continue
            stamp = self._stamp("refills", refill.id)
            medication = self.entries.add(self.builder.medication(refill))
            device = self._device(refill.pump_serial)
            administration = self.entries.add(
                self.builder.administration(refill, medication, device, self.patient, stamp)
            )
            self._provenance([administration], "refills", stamp)

    def _add_program_changes(self) -> None:
        changes = self.history.program_changes
        in_force: dict[str, int | None] = {}  # each pump's latest succeeded change
        for change in changes:
            if change.outcome is ChangeOutcome.SUCCEEDED:
                in_force[change.pump_serial] = change.id
        for change in changes:
            if not self._wanted(change.at):
                continue
            stamp = self._stamp("program_changes", change.id)
            replaced = not (
                self.active.get(change.pump_serial, False)
                and in_force.get(change.pump_serial) == change.id
            )
            request = self.entries.add(
                self.builder.request(
                    change, self._device(change.pump_serial), self.patient, stamp, replaced=replaced
                )
            )
            self._provenance([request], "program_changes", stamp)
