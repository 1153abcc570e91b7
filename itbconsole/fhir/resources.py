"""One stored record as FHIR R4 resources (plain JSON-ready dicts).

Why plain dicts: the export runs wherever the console runs, and fhir.resources (pydantic
models) is a test dependency that validates these dicts (tests/itbconsole/test_fhir_*.py).
Every figure comes from its home: volumes through :func:`itbconsole.units.ul_to_ml`, doses
per day through :func:`itbconsole.dosing.program_daily_dose_mcg`, text through
:mod:`itbconsole.display`; nothing here computes a clinical figure. Numbers stay
:class:`~decimal.Decimal` until :mod:`itbconsole.fhir.json_text` writes them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

from itbconsole import display
from itbconsole.dosing import program_daily_dose_mcg
from itbconsole.fhir import codes, keys, status
from itbconsole.fhir.matching import hospital_number_system, patient_match
from itbconsole.fhir.origins import RecordOrigins
from itbconsole.model import Mode, Patient, Program, ProgramChange, Pump, Reading, Refill
from itbconsole.store.records import Stamp
from itbconsole.units import round_decimal, ul_to_ml

Resource = dict[str, Any]

#: Decimal places kept for a dose (doses are stored to 0.001 mcg, model.py).
DOSE_PLACES = 3
#: Volts to three places: the pump reports whole millivolts.
VOLT_PLACES = 3


@dataclass(frozen=True)
class Entry:
    """A resource with its stable key (its identifier) and its transaction request: a
    conditional update for what can change, a conditional create for what cannot."""

    key: str
    resource: Resource
    request: dict[str, str]

    @cached_property
    def full_url(self) -> str:
        return keys.full_url(self.key)

    @property
    def reference(self) -> dict[str, str]:
        return {"reference": self.full_url}


def update(kind: str, system: str, value: str) -> dict[str, str]:
    """A conditional update: the server replaces the resource carrying ``system|value``,
    or creates it (what it holds follows the record: a status changed, a value corrected,
    a record withdrawn)."""
    return {"method": "PUT", "url": keys.update_url(kind, system, value)}


def create(kind: str, if_none_exist: str) -> dict[str, str]:
    """A conditional create, for what never changes once made (a drug batch, who stored
    one version of a record)."""
    return {"method": "POST", "url": kind, "ifNoneExist": if_none_exist}


@dataclass(frozen=True)
class Version:
    """Where a record's correction chain stands: ``root_id`` its first version's row (the
    resource's key, kept through corrections, settlements and withdrawal), whether the
    latest version withdraws it (and why), and whether a later version corrected it."""

    root_id: int
    withdrawn: bool = False
    reason: str = ""
    corrected: bool = False


@dataclass(frozen=True)
class Builder:
    """Builds the resources of one database: each key names the room that made the record
    (:class:`~itbconsole.fhir.origins.RecordOrigins`), and a training database marks every
    resource as test data. ``hospital_system``: the hospital's MRN identifier system
    (:mod:`itbconsole.fhir.matching`)."""

    origins: RecordOrigins
    training: bool
    hospital_system: str = ""

    def key(self, table: str, record_id: int, part: str = "") -> str:
        room, origin_id = self.origins.of(table, record_id)
        return keys.record_key(room, table, origin_id, part)

    def pump_key(self, serial: str, part: str = "") -> str:
        room, origin_id = self.origins.of_pump(serial)
        return keys.record_key(room, "pumps", origin_id, part)

    def _resource(self, kind: str, key: str | None, **fields: Any) -> Resource:
        resource: Resource = {"resourceType": kind}
        if self.training:
            resource["meta"] = {"security": [training_label()]}
        if key is not None:
            resource["identifier"] = [keys.identifier(key)]
        resource.update({k: v for k, v in fields.items() if v is not None})
        return resource

    def _entry(self, kind: str, key: str, **fields: Any) -> Entry:
        return Entry(key, self._resource(kind, key, **fields), update(kind, codes.RECORD_KEY, key))

    # ------------------------------------------------------------------ people and pumps

    def patient(self, patient: Patient, died_on: date | None = None) -> Entry:
        """``died_on``: the day of a deceased status (the console records a day)."""
        key = self.key("patients", _id(patient.id))
        resource = self._resource(
            "Patient",
            key,
            name=[
                {"use": "official", "family": patient.family_name, "given": [patient.given_name]}
            ],
            birthDate=patient.date_of_birth.isoformat(),
            deceasedDateTime=died_on.isoformat() if died_on is not None else None,
        )
        resource["identifier"] = [
            *resource["identifier"],
            {
                "system": hospital_number_system(self.hospital_system),
                "value": patient.hospital_number,
            },
        ]
        if patient.nhs_number:
            resource["identifier"].append({"system": codes.NHS_NUMBER, "value": patient.nhs_number})
        match = patient_match(
            patient, key, training=self.training, configured_system=self.hospital_system
        )
        return Entry(key, resource, update("Patient", *match))

    def device(self, pump: Pump, patient: Entry, *, active: bool) -> Entry:
        key = self.pump_key(pump.serial)
        resource = self._resource(
            "Device",
            key,
            status="active" if active else "inactive",
            manufacturer=codes.pump_manufacturer(pump.model),
            serialNumber=pump.serial,
            deviceName=[{"name": pump.model, "type": codes.DEVICE_NAME_TYPE}],
            modelNumber=pump.model,
            patient=patient.reference,
        )
        resource["identifier"].append({"system": codes.PUMP_SERIAL, "value": pump.serial})
        return Entry(key, resource, update("Device", codes.RECORD_KEY, key))

    def implant(self, pump: Pump, device: Entry, patient: Entry) -> Entry | None:
        """The implant as a Procedure (R4's Device has no implant date)."""
        if pump.implant_date is None:
            return None
        return self._entry(
            "Procedure",
            self.pump_key(pump.serial, "implant"),
            status="completed",
            code={"text": codes.IMPLANT_TEXT},
            subject=patient.reference,
            performedDateTime=pump.implant_date.isoformat(),
            focalDevice=[{"action": {"text": "implanted"}, "manipulated": device.reference}],
        )

    # ------------------------------------------------------------------ readings

    def observations(
        self, reading: Reading, version: Version, device: Entry, patient: Entry
    ) -> list[Entry]:
        """The reservoir volume and battery voltage the pump reported at one reading
        (``corrected`` once a later version changed it, ``entered-in-error`` once
        withdrawn)."""
        rid = version.root_id
        state = status.OBSERVATION_CORRECTED if version.corrected else status.OBSERVATION_FINAL
        figures = (
            (codes.RESERVOIR_VOLUME, ul_to_ml(reading.reservoir_ul)),
            (codes.BATTERY_VOLTAGE, round_decimal(Fraction(reading.battery_mv, 1000), VOLT_PLACES)),
        )
        return [
            self._entry(
                "Observation",
                self.key("readings", rid, code.code),
                status=status.ENTERED_IN_ERROR if version.withdrawn else state,
                code={
                    "coding": [
                        {
                            "system": codes.OBSERVATION_CODES,
                            "code": code.code,
                            "display": code.display,
                        }
                    ],
                    "text": code.display,
                },
                subject=patient.reference,
                effectiveDateTime=_instant(reading.at),
                valueQuantity=quantity(value, code.unit),
                device=device.reference,
                note=_withdrawn(version),
            )
            for code, value in figures
        ]

    # ------------------------------------------------------------------ refills

    def medication(self, refill: Refill, root_id: int) -> Entry:
        """The drug of a refill: product, concentration, lot and expiry (one resource per
        batch, shared by every refill from it; a lot recorded with two expiry dates is two
        batches, so neither date is lost). A batch is the maker's, the same in every room
        and clinic, so its key names no database, except a training database's."""
        batch = "/".join(
            (refill.product, str(refill.concentration_mcg_ml), refill.lot, str(refill.expiry))
        )
        if self.training:  # a training database's batches are its own, never a real one
            room, _ = self.origins.of("refills", root_id)
            batch = f"training/{room}/{batch}"
        key = keys.batch_key(batch)
        resource = self._resource(
            "Medication",
            None,
            identifier=[{"system": codes.DRUG_BATCH, "value": batch}],
            code={"text": f"{refill.product} {refill.concentration_mcg_ml} mcg/mL"},
            ingredient=[
                {
                    "itemCodeableConcept": {"text": codes.DRUG_TEXT},
                    "isActive": True,
                    "strength": concentration(refill.concentration_mcg_ml),
                }
            ],
            batch={"lotNumber": refill.lot, "expirationDate": refill.expiry.isoformat()},
        )
        return Entry(key, resource, create("Medication", keys.batch_if_none_exist(batch)))

    def administration(
        self,
        refill: Refill,
        version: Version,
        medication: Entry,
        device: Entry,
        patient: Entry,
        stamp: Stamp,
    ) -> Entry:
        """A refill: the drug put into the implanted pump's reservoir, not a dose given.
        No ``dosage`` (R4 requires a dose or a rate there, and either would read as drug
        given to the patient): the volume added is the extension
        :data:`~itbconsole.fhir.status.RESERVOIR_VOLUME_ADDED`, and the words say what
        happened. The patient's dose is the program's (MedicationRequest)."""
        drug = f"{refill.product} {refill.concentration_mcg_ml} mcg/mL"
        return self._entry(
            "MedicationAdministration",
            self.key("refills", version.root_id),
            extension=[
                {
                    "url": status.RESERVOIR_VOLUME_ADDED,
                    "valueQuantity": quantity(ul_to_ml(refill.added_ul), codes.MILLILITRE),
                }
            ],
            status=status.ENTERED_IN_ERROR
            if version.withdrawn
            else codes.REFILL_STATUS[refill.status],
            category={"text": status.REFILL_CATEGORY},
            medicationReference=medication.reference,
            subject=patient.reference,
            effectiveDateTime=_instant(refill.at),
            performer=[{"actor": {"display": _who(stamp)}}],
            device=[device.reference],
            note=[
                *(_withdrawn(version) or []),
                {"text": codes.REFILL_STATUS_TEXT[refill.status]},
                {"text": status.refill_words(display.fmt_ml(refill.added_ul), drug)},
                *([{"text": refill.note}] if refill.note else []),
            ],
        )

    # ------------------------------------------------------------------ programs

    def request(
        self,
        change: ProgramChange,
        version: Version,
        device: Entry,
        patient: Entry,
        stamp: Stamp,
        *,
        replaced: bool,
    ) -> Entry:
        state = codes.PROGRAM_STATUS[change.outcome]
        if replaced and state == codes.PROGRAM_STATUS[change.outcome.SUCCEEDED]:
            state = codes.REPLACED_PROGRAM_STATUS
        if version.withdrawn:
            state = status.ENTERED_IN_ERROR
        notes = [
            *(_withdrawn(version) or []),
            *({"text": f"Override: {o}"} for o in change.overrides),
        ]
        return self._entry(
            "MedicationRequest",
            self.key("program_changes", version.root_id),
            status=state,
            intent="order",
            medicationCodeableConcept={
                "text": f"{codes.DRUG_TEXT} {change.concentration_mcg_ml} mcg/mL"
            },
            subject=patient.reference,
            authoredOn=_instant(change.at),
            requester={"display": _who(stamp)},
            reasonCode=[{"text": change.reason}] if change.reason else None,
            supportingInformation=[device.reference],
            note=notes or None,
            dosageInstruction=[dosage(change.new)],
        )

    # ------------------------------------------------------------------ who did it

    def provenance(
        self, targets: list[Entry], stamp: Stamp, version_key: str, corrects: str | None
    ) -> Entry:
        """Who stored this version of the record (``version_key``, its row) and when; one
        per version, never replaced. ``corrects``: the key of the version this one
        corrects (or settles, or withdraws), named as the revised entity."""
        resource = self._resource(
            "Provenance",
            None,
            target=[t.reference for t in targets],
            recorded=_instant(stamp.at),
            agent=[
                {
                    "type": {
                        "coding": [
                            {
                                "system": codes.PROVENANCE_AGENT_TYPES,
                                "code": "author",
                                "display": "Author",
                            }
                        ]
                    },
                    "who": {"display": _who(stamp)},
                }
            ],
            entity=[{"role": "revision", "what": {"identifier": keys.identifier(corrects)}}]
            if corrects
            else None,
        )
        resource["meta"] = {**resource.get("meta", {}), "tag": [keys.version_tag(version_key)]}
        query = keys.provenance_if_none_exist(version_key)
        return Entry(f"{version_key}/provenance", resource, create("Provenance", query))


# ---------------------------------------------------------------------- small parts


def training_label() -> dict[str, str]:
    return {
        "system": codes.TRAINING_SYSTEM,
        "code": codes.TRAINING_CODE,
        "display": "test health data",
    }


def quantity(value: Decimal | int, unit: codes.Unit) -> dict[str, Any]:
    return {"value": value, "unit": unit.unit, "system": codes.UCUM, "code": unit.code}


def concentration(mcg_ml: int) -> dict[str, Any]:
    """mcg per mL as a FHIR Ratio."""
    return {
        "numerator": quantity(mcg_ml, codes.MICROGRAM),
        "denominator": quantity(1, codes.MILLILITRE),
    }


def dosage(program: Program) -> dict[str, Any]:
    """A program as a Dosage: its dose per 24 h (the default schedule's for flex), a
    single bolus's dose, and the program in words."""
    daily = round_decimal(program_daily_dose_mcg(program), DOSE_PLACES)
    dose_and_rate: dict[str, Any] = {"rateQuantity": quantity(daily, codes.MICROGRAM_PER_DAY)}
    if program.mode is Mode.SINGLE_BOLUS:
        dose_and_rate["doseQuantity"] = quantity(program.bolus_dose_mcg, codes.MICROGRAM)
    return {
        "text": program_text(program),
        "route": {"text": codes.ROUTE_TEXT},
        "doseAndRate": [dose_and_rate],
    }


def program_text(program: Program) -> str:
    daily = program_daily_dose_mcg(program)
    if program.mode is Mode.STOPPED:
        text = "Stopped"
    elif program.mode is Mode.FLEX:
        rates = ", ".join(display.fmt_rate(s.rate_mcg_per_hour) for s in program.flex_steps)
        text = (
            f"Flex, {display.fmt_dose_per_day(daily)} in {len(program.flex_steps)} steps ({rates})"
        )
        if program.flex_weekday_steps:
            text += "; other schedules on some weekdays"
    elif program.mode is Mode.SINGLE_BOLUS:
        text = (
            f"Single bolus {display.fmt_mcg(program.bolus_dose_mcg)} over "
            f"{program.bolus_duration_minutes} min, then {display.fmt_dose_per_day(daily)}"
        )
    else:
        text = f"Simple continuous, {display.fmt_dose_per_day(daily)}"
    if program.patient_bolus is not None:
        pb = program.patient_bolus
        text += (
            f"; patient bolus {display.fmt_mcg(pb.dose_mcg)} over {pb.duration_minutes} min, "
            f"lockout {pb.lockout_minutes} min, at most {pb.max_per_day} a day"
        )
    return text


def _withdrawn(version: Version) -> list[dict[str, str]] | None:
    """The note of a withdrawn record: that it was, and why."""
    if not version.withdrawn:
        return None
    return [{"text": status.withdrawn_note(version.reason)}]


def _who(stamp: Stamp) -> str:
    return f"{stamp.by} ({stamp.role.value})"


def _instant(moment: datetime) -> str:
    """A stored time (UTC, aware) as an ISO 8601 dateTime with its offset."""
    if moment.tzinfo is None:
        raise ValueError("a stored time without a time zone")
    return moment.isoformat()


def _id(record_id: int | None) -> int:
    if record_id is None:
        raise ValueError("a record that was never stored has no key")
    return record_id
