"""Statuses and words of records whose state changed after they were first sent.

Why beside :mod:`itbconsole.fhir.codes`: the hospital's copy is kept current by
conditional updates (docs/fhir.md), so a record withdrawn as entered in error, a corrected
reading and a refill put into a pump's reservoir each need a status or wording a receiving
system cannot misread. The refill's volume travels in an extension of this program's own,
never as a dose: 20 mL of 2000 mcg/mL put into the reservoir is not 40 mg given.
"""

from __future__ import annotations

from itbconsole.fhir import codes

#: Observation, MedicationAdministration and MedicationRequest of a withdrawn record.
ENTERED_IN_ERROR = "entered-in-error"
#: An Observation whose value was corrected after it was first recorded.
OBSERVATION_FINAL = "final"
OBSERVATION_CORRECTED = "corrected"

WITHDRAWN_NOTE = "Withdrawn as entered in error"

#: The refill's volume put into the pump's reservoir (a Quantity in mL). An extension,
#: not ``dosage.dose``: the patient's dose is the MedicationRequest's mcg per 24 h.
RESERVOIR_VOLUME_ADDED = f"{codes.LOCAL}:fhir:extension:reservoir-volume-added"
REFILL_METHOD = "Instilled into the implanted pump's reservoir"
REFILL_CATEGORY = "Implanted pump reservoir refill"


def withdrawn_note(reason: str) -> str:
    return f"{WITHDRAWN_NOTE}: {reason}" if reason else WITHDRAWN_NOTE


def refill_words(volume: str, drug: str) -> str:
    """The refill said in words: what went where, and that it is not a dose given."""
    return (
        f"{volume} of {drug} instilled into the implanted pump's reservoir. Not a dose "
        "given: the patient receives the pump's programmed dose (the MedicationRequest's "
        "dose per 24 h)."
    )
