"""Which identifier the hospital's server matches each exported Patient on.

Why a rule of its own: a Patient matched only on this program's record key arrives at the
hospital as a second patient beside the one its patient index already holds. A clinic's
export therefore matches the hospital's own identifiers: the NHS number when the patient
has one, else the hospital (MRN) number under the system the clinic configured
(``ClinicSettings.hospital_number_system``, docs/fhir.md). A training database's NHS
numbers are invented, so a training export matches on the record key alone and can never
attach its records to a real patient.
"""

from __future__ import annotations

from itbconsole.fhir import codes
from itbconsole.model import Patient


class ExportError(ValueError):
    """The records cannot be exported as asked. The message is for the user."""


#: The setting a clinic sets for its hospital's MRN system (itbconsole/settings.py).
SETTING = "hospital_number_system"
SETTING_ADVICE = (
    "set the hospital's patient-number (MRN) identifier system: Tools > Clinic settings > "
    "'Hospital number system (FHIR)', or 'itbconsole settings set hospital_number_system "
    "URI' (an administrator; the URI the hospital's FHIR server uses for its numbers)"
)


def hospital_number_system(configured: str) -> str:
    """The system written beside the hospital number: the clinic's setting, else this
    program's own (urn:itbconsole:hospital-number), for the hospital to map."""
    return configured or codes.HOSPITAL_NUMBER


def patient_match(
    patient: Patient, record_key: str, *, training: bool, configured_system: str
) -> tuple[str, str]:
    """``(system, value)`` of the identifier the server matches the Patient on. Raises
    :class:`ExportError` for a clinic patient with neither an NHS number nor a configured
    hospital number system."""
    if training:
        return codes.RECORD_KEY, record_key
    if patient.nhs_number:
        return codes.NHS_NUMBER, patient.nhs_number
    if configured_system:
        return configured_system, patient.hospital_number
    raise ExportError(unmatched_message([patient.id or 0]))


def unmatched_message(patient_ids: list[int]) -> str:
    """Why patients without an NHS number cannot be exported yet, and what to set."""
    shown = ", ".join(str(i) for i in patient_ids[:10])
    more = f" and {len(patient_ids) - 10} more" if len(patient_ids) > 10 else ""
    return (
        f"patient(s) with record number {shown}{more} have no NHS number, and the clinic "
        "has not said which system the hospital's numbers belong to, so the hospital could "
        f"not match them to its own patients: {SETTING_ADVICE}; or record their NHS numbers"
    )
