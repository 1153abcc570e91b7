"""The systems, codes and units the FHIR export writes: one table, read by the builders
and by the checks.

Why one module: a hospital maps each of these once (docs/fhir.md lists them), and the
export's own checks (:mod:`itbconsole.fhir.checks`) must refuse any unit or system the
builders do not mean to write. fhir.resources validates structure, not codes: it would
accept ``"mg"`` where ``"ug"`` is meant.

Units are UCUM (https://ucum.org), the only unit system FHIR quantities here use; each
``unit`` is the text the console shows beside the number (itbconsole/display.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from itbconsole.model import ChangeOutcome, RefillStatus
from itbconsole.pump_models import manufacturer_of

UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"

#: This program's own systems. A hospital maps them to its own (docs/fhir.md).
LOCAL = "urn:itbconsole"
HOSPITAL_NUMBER = f"{LOCAL}:hospital-number"
"""The hospital (MRN) number as the clinic records it."""
RECORD_KEY = f"{LOCAL}:record"
"""One stored record: ``<database identity>/<table>/<record id>`` (itbconsole.fhir.keys)."""
PUMP_SERIAL = f"{LOCAL}:pump-serial"
DRUG_BATCH = f"{LOCAL}:drug-batch"
"""A drug batch: ``<product>/<concentration mcg/mL>/<lot>/<expiry>``."""
OBSERVATION_CODES = f"{LOCAL}:observation"
TRAINING_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
TRAINING_CODE = "HTEST"
"""Security label on every resource of a training (demo) database: test health data."""
PROVENANCE_AGENT_TYPES = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DEVICE_NAME_TYPE = "model-name"


@dataclass(frozen=True)
class Unit:
    """A UCUM code and the text written beside the number."""

    code: str
    unit: str


MILLILITRE = Unit("mL", "mL")
VOLT = Unit("V", "V")
MICROGRAM = Unit("ug", "mcg")
MICROGRAM_PER_DAY = Unit("ug/d", "mcg per 24 h")

#: Every UCUM code a quantity in the export may carry; anything else is a mistake.
ALLOWED_UNITS: frozenset[str] = frozenset(
    u.code for u in (MILLILITRE, VOLT, MICROGRAM, MICROGRAM_PER_DAY)
)


@dataclass(frozen=True)
class ObservationCode:
    code: str
    display: str
    unit: Unit


RESERVOIR_VOLUME = ObservationCode("reservoir-volume", "Pump reservoir volume", MILLILITRE)
BATTERY_VOLTAGE = ObservationCode("battery-voltage", "Pump battery voltage", VOLT)

ROUTE_TEXT = "Intrathecal"
DRUG_TEXT = "Baclofen intrathecal"
IMPLANT_TEXT = "Implantation of intrathecal drug delivery pump"

#: MedicationAdministration.status for a refill's record. The drug and lot went into the
#: reservoir whatever became of the pump update, so none is ``not-done`` (a recall must
#: find it); only a confirmed refill is known complete. The console's own status is
#: written beside it in words (:data:`REFILL_STATUS_TEXT`).
REFILL_STATUS: dict[RefillStatus, str] = {
    RefillStatus.CONFIRMED: "completed",
    RefillStatus.PENDING: "unknown",
    RefillStatus.FAILED: "unknown",
}
REFILL_STATUS_TEXT: dict[RefillStatus, str] = {
    RefillStatus.CONFIRMED: "Refill confirmed: the pump holds the new drug's figures.",
    RefillStatus.PENDING: "Refill pending: the pump update's outcome is not known yet.",
    RefillStatus.FAILED: "Refill recorded, but the pump update did not reach the pump.",
}

#: MedicationRequest.status for a program change: a failed send never applied, an
#: uncertain one is not known; a succeeded one is ``active`` while in force, ``stopped``
#: once a later program replaced it.
PROGRAM_STATUS: dict[ChangeOutcome, str] = {
    ChangeOutcome.SUCCEEDED: "active",
    ChangeOutcome.FAILED: "cancelled",
    ChangeOutcome.UNCERTAIN: "unknown",
}
REPLACED_PROGRAM_STATUS = "stopped"


def pump_manufacturer(model: str) -> str | None:
    """The pump's maker from the pump models catalogue (resources/pump_models.json), None
    for a model not in it: such a pump is exported without a maker, never with a guess."""
    return manufacturer_of(model)
