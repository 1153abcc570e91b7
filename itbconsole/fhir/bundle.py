"""The FHIR transaction Bundle of one patient or of the whole clinic, read from the store.

Why a transaction of conditional updates: the hospital's server applies the whole bundle
or nothing, and each entry names the resource it replaces by an identifier derived from
the stored record (:mod:`itbconsole.fhir.keys`), so a repeated export creates nothing
twice and the server's copy follows the record: a program replaced becomes ``stopped``, a
pending refill settled is the same resource ``completed``, a withdrawn record is
``entered-in-error``, a corrected number or an explanted pump is updated. What never
changes (a drug batch, who stored one version) is a conditional create. References
between entries use the entries' ``urn:uuid`` addresses; the server resolves them.

Read only: this module reads the latest version of each record (withdrawn ones too, to
withdraw them at the hospital) through the store's typed API and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from itbconsole.dosing.instants import local_midnight
from itbconsole.fhir.matching import ExportError as ExportError
from itbconsole.fhir.matching import unmatched_message
from itbconsole.fhir.origins import RecordOrigins
from itbconsole.fhir.resources import Builder, Entry, Version, training_label
from itbconsole.model import ChangeOutcome
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.store.queries import PatientRecords, patient_records
from itbconsole.store.records import Recorded, Stamp

#: The identity a ``--demo`` export's keys name instead of the in-memory demo database's
#: own (new at every run), so exporting the demo twice gives the same keys.
DEMO_IDENTITY = "itbconsole-demo"


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


def hospital_system(store: Store) -> str:
    """The hospital's MRN identifier system the clinic set ('' when not set)."""
    settings = store.clinic_settings() or ClinicSettings()
    return settings.hospital_number_system


def check_matchable(store: Store, patient_ids: Sequence[int]) -> None:
    """Refuse (:class:`ExportError`, naming the setting to set) a clinic export with a
    patient the hospital could not match: no NHS number and no hospital number system
    set (:mod:`itbconsole.fhir.matching`). A training export matches on its own keys."""
    if is_training(store) or hospital_system(store):
        return
    missing = []
    for patient_id in patient_ids:
        try:
            if not store.get_patient(patient_id).nhs_number:
                missing.append(patient_id)
        except LookupError:
            raise ExportError(f"there is no patient with record number {patient_id}") from None
    if missing:
        raise ExportError(unmatched_message(missing))


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
    store: Store,
    patient_ids: Sequence[int],
    since: datetime | None = None,
    identity: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The Bundle's entries, one patient after another, so a whole clinic is never held in
    memory (raises :class:`ExportError` naming a record number that has no patient). With
    ``since``, only readings, refills and program changes from that instant on; each
    patient and their pumps are always there, so every reference resolves (the server finds
    the ones it already holds). An entry shared by patients (a drug batch) comes once.
    ``identity``: the name keys give the database instead of its own (the demo's)."""
    store_id = identity or store.store_id()
    if store_id is None:
        raise ExportError(
            "This database has no identity yet (it is from an older version): run "
            "'itbconsole db init' to bring it up to date, then export again."
        )
    builder = Builder(RecordOrigins(store, store_id), is_training(store), hospital_system(store))
    written: set[str] = set()
    for patient_id in patient_ids:
        entries = _Entries()
        _PatientExport(store, builder, entries, patient_id, since).add()
        for key, entry in entries.by_key.items():
            if key not in written:
                written.add(key)
                yield _bundle_entry(entry)


def export_bundle(
    store: Store,
    patient_ids: Sequence[int],
    now: datetime,
    since: datetime | None = None,
    identity: str | None = None,
) -> dict[str, Any]:
    """The whole transaction Bundle as one document (for a few patients; the command
    streams :func:`bundle_entries` instead)."""
    check_matchable(store, patient_ids)
    entries = list(bundle_entries(store, patient_ids, since, identity))
    return {**bundle_head(store, now), "entry": entries}


def _bundle_entry(entry: Entry) -> dict[str, Any]:
    return {"fullUrl": entry.full_url, "resource": entry.resource, "request": entry.request}


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


@dataclass(frozen=True)
class _Latest:
    """The latest version of one record (effective, or withdrawing it) and its chain."""

    recorded: Recorded[Any]
    version: Version
    first: Stamp
    """Who stored the first version (who did the refill or the program change)."""

    @property
    def record(self) -> Any:
        return self.recorded.record

    @property
    def stamp(self) -> Stamp:
        return self.recorded.stamp


def _latest_versions(
    store: Store, table: str, versions: Sequence[Recorded[Any]], effective: set[int]
) -> list[_Latest]:
    """The latest version of each record of ``table`` (``versions``: every version, from
    :func:`~itbconsole.store.queries.patient_records`), with its root, in time order.
    ``effective``: the ids of the effective versions (nothing corrects or withdraws them)."""
    by_id = {v.stamp.record_id: v for v in versions}
    corrected = {v.stamp.corrects_id for v in versions if v.stamp.corrects_id is not None}
    found = []
    for latest in versions:
        stamp = latest.stamp
        if stamp.record_id in corrected:
            continue
        if stamp.entered_in_error:
            if store.versions(table, stamp.record_id)[-1].record_id != stamp.record_id:
                continue  # corrected again under another patient
        elif stamp.record_id not in effective:
            continue
        first = stamp
        while first.corrects_id is not None:
            earlier = by_id.get(first.corrects_id)
            if earlier is None:  # the chain began under another patient
                first = store.versions(table, first.record_id)[0]
                break
            first = earlier.stamp
        version = Version(
            root_id=first.record_id,
            withdrawn=stamp.entered_in_error,
            reason=stamp.correction_note if stamp.entered_in_error else "",
            corrected=stamp.corrects_id is not None and not stamp.entered_in_error,
        )
        found.append(_Latest(latest, version, first))
    found.sort(key=lambda v: (v.record.at, v.stamp.record_id))
    return found


class _PatientExport:
    """One patient's records added to the bundle: the patient, each pump, then readings,
    refills and program changes (from ``since``), each followed by the Provenance of its
    latest version. Each record is its latest version under its first version's key;
    a withdrawn one is sent as ``entered-in-error``."""

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
        self.records = patient_records(store.db, patient_id)
        self.stamps = _stamps(self.records)
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
        version_key = self.builder.key(table, stamp.record_id)
        self.entries.add(self.builder.provenance(targets, stamp, version_key, corrects))

    def _latest(
        self, table: str, versions: Sequence[Recorded[Any]], effective: Any
    ) -> list[_Latest]:
        ids = {r.id for r in effective}
        return _latest_versions(self.store, table, versions, ids)

    def _wanted(self, latest: _Latest) -> bool:
        """From ``since`` on: the record's time, or a new version since (a correction, a
        settlement or a withdrawal the hospital has not had yet). A withdrawn record of a
        pump no longer registered to the patient (its registration withdrawn too) has no
        Device here to refer to and is left out (a limit, docs/fhir.md)."""
        if latest.version.withdrawn and latest.record.pump_serial not in self.devices:
            return False
        if self.since is None or latest.record.at >= self.since:
            return True
        return latest.stamp.corrects_id is not None and latest.stamp.at >= self.since

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
        for latest in self._latest("readings", self.records.readings, self.history.readings):
            if not self._wanted(latest):
                continue
            reading = latest.record
            device = self._device(reading.pump_serial)
            observations = [
                self.entries.add(o)
                for o in self.builder.observations(reading, latest.version, device, self.patient)
            ]
            self._provenance(observations, "readings", latest.stamp)

    def _add_refills(self) -> None:
        for latest in self._latest("refills", self.records.refills, self.history.refills):
            if not self._wanted(latest):
                continue
            refill = latest.record
            medication = self.entries.add(self.builder.medication(refill, latest.version.root_id))
            device = self._device(refill.pump_serial)
            administration = self.entries.add(
                self.builder.administration(
                    refill, latest.version, medication, device, self.patient, latest.first
                )
            )
            self._provenance([administration], "refills", latest.stamp)

    def _add_program_changes(self) -> None:
        changes = self._latest(
            "program_changes", self.records.program_changes, self.history.program_changes
        )
        in_force: dict[str, int] = {}  # each pump's latest succeeded change
        in_force_at_since: dict[str, int] = {}  # and the one before ``since``
        for latest in changes:
            change = latest.record
            if change.outcome is ChangeOutcome.SUCCEEDED and not latest.version.withdrawn:
                in_force[change.pump_serial] = latest.version.root_id
                if self.since is not None and change.at < self.since:
                    in_force_at_since[change.pump_serial] = latest.version.root_id
        for latest in changes:
            change, root = latest.record, latest.version.root_id
            # The change in force when ``since`` began may have been replaced since: sent
            # again, so the hospital's copy is no longer 'active'.
            if not self._wanted(latest) and in_force_at_since.get(change.pump_serial) != root:
                continue
            replaced = not (
                self.active.get(change.pump_serial, False)
                and in_force.get(change.pump_serial) == root
            )
            request = self.entries.add(
                self.builder.request(
                    change,
                    latest.version,
                    self._device(change.pump_serial),
                    self.patient,
                    latest.first,
                    replaced=replaced,
                )
            )
            self._provenance([request], "program_changes", latest.stamp)
