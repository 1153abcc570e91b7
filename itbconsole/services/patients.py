"""Patient records: the rules of the patient form and of a patient's identity.

Why here and not in the dialog: the same rules hold for every way a patient is recorded
(the window, a script, a future import), and a test reaches them without Qt. The dialog only
shows what :func:`patient_from_form` says next to each field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from itbconsole.model import ModelError, Origin, Patient, nhs_number_is_valid
from itbconsole.store.queries import PatientOverview


class DuplicatePatient(ValueError):
    """The hospital or NHS number already identifies another patient. The message names
    that patient; ``field`` is the form field it is about."""

    def __init__(self, field: str, existing: Patient, number: str) -> None:
        what = "Hospital number" if field == "hospital" else "NHS number"
        super().__init__(
            f"{what} {number} already belongs to {existing.display_name} (born "
            f"{existing.date_of_birth:%d %b %Y}). Check the number; if this is the same "
            "person, open their record instead of making a new one."
        )
        self.field = field
        self.existing = existing


@dataclass(frozen=True)
class PatientForm:
    """What was typed in the patient form, as text (``date_of_birth`` None: not given)."""

    family_name: str
    given_name: str
    date_of_birth: date | None
    hospital_number: str
    nhs_number: str
    origin: str
    reason: str = ""
    patient_id: int | None = None
    """Set when correcting an existing patient (the reason is then required)."""


def patient_from_form(form: PatientForm, today: date) -> tuple[Patient | None, dict[str, str]]:
    """The patient the form describes, or None with a message for each field that is wrong
    (``family``, ``given``, ``dob``, ``hospital``, ``nhs``, ``reason``, ``general``)."""
    errors: dict[str, str] = {}
    family = " ".join(form.family_name.split())
    given = " ".join(form.given_name.split())
    if not family:
        errors["family"] = "Enter the family name."
    if not given:
        errors["given"] = "Enter the given name."
    if form.date_of_birth is None:
        errors["dob"] = "Enter the date of birth (there is no default: type it from the notes)."
    elif form.date_of_birth > today:
        errors["dob"] = "The date of birth cannot be in the future."
    elif form.date_of_birth.year < 1900:
        errors["dob"] = "Check the date of birth: it is before 1900."
    hospital = form.hospital_number.strip().upper()
    if not hospital:
        errors["hospital"] = "Enter the hospital number."
    nhs = form.nhs_number.replace(" ", "").replace("-", "")
    if nhs and not nhs_number_is_valid(nhs):
        errors["nhs"] = "This is not a valid NHS number (10 digits with a correct check digit)."
    if form.patient_id is not None and len(" ".join(form.reason.split())) < 5:
        errors["reason"] = "Say why the record is being changed; the earlier version is kept."
    if errors:
        return None, errors
    assert form.date_of_birth is not None
    try:
        patient = Patient(
            family_name=family,
            given_name=given,
            date_of_birth=form.date_of_birth,
            hospital_number=hospital,
            origin=Origin(form.origin),
            nhs_number=nhs or None,
            id=form.patient_id,
        )
    except (ModelError, ValueError) as exc:
        return None, {"general": str(exc)}
    return patient, {}


__all__ = ["DuplicatePatient", "PatientForm", "patient_from_form"]


# --------------------------------------------------------------------------- record rules

#: A note that says why (a status change, an explant for "other") has at least this many
#: characters once spaces are collapsed.
MIN_NOTE_CHARS = 5


def _said(note: str) -> bool:
    return len(" ".join(note.split())) >= MIN_NOTE_CHARS


def status_change_errors(status: str, note: str) -> dict[str, str]:
    """A patient leaving the active list (candidate, inactive, deceased) needs a note."""
    if status != "active" and not _said(note):
        return {"note": "Say why the status changes (transferred to..., date of death...)."}
    return {}


def explant_errors(reason: str, note: str) -> dict[str, str]:
    """An explant for a reason not in the list needs a note saying what it was."""
    if reason == "other" and not _said(note):
        return {"note": "Say what the reason was."}
    return {}


def catheter_revision_errors(
    length_cm: Decimal | None, ul_per_cm: Decimal | None
) -> dict[str, str]:
    """The new catheter's length and volume per cm, both more than 0 (their plausible
    ranges are the pump record's, :func:`itbconsole.pump_models.pump_field_errors`)."""
    errors = {}
    if length_cm is None or length_cm <= 0:
        errors["length"] = "Enter the catheter length in cm (more than 0)."
    if ul_per_cm is None or ul_per_cm <= 0:
        errors["per_cm"] = "Enter the volume per cm in µL (more than 0)."
    return errors


# --------------------------------------------------------------------------- finding a patient

_NAME_MARK = "\x01"  # before each word of a name: a token must start a word
_ID_MARK = "\x02"  # between identifiers: a query never matches across two of them
_DROPPED = str.maketrans("", "", "'\u2019.")  # O'Brien is found as obrien or o'brien


def _name_words(name: str) -> list[str]:
    text = name.casefold().translate(_DROPPED)
    words = text.replace("-", " ").split()
    return [*words, *(w for w in text.split() if "-" in w)]


def row_serials(row: PatientOverview, serials: Mapping[int, tuple[str, ...]]) -> tuple[str, ...]:
    """Every pump serial the patient of ``row`` is found by: the current one and those
    registered to them before (``serials``, by patient id)."""
    found = serials.get(row.patient.id or 0, ())
    if row.pump_serial and row.pump_serial not in found:
        return (*found, row.pump_serial)
    return found


def search_key(patient: Patient, serials: Sequence[str] = ()) -> tuple[str, str]:
    """What the patient list's search looks at for one patient, worked out once when the
    list is read: the words of the names, and the hospital number, NHS number and the
    serial of every pump they ever had (each without spaces, case-folded)."""
    words = _name_words(patient.family_name) + _name_words(patient.given_name)
    names = "".join(_NAME_MARK + w for w in words)
    ids = [patient.hospital_number, patient.nhs_number or "", *serials]
    compact = ("".join(i.split()).replace("-", "").casefold() for i in ids if i)
    return names, _ID_MARK.join(compact)


class PatientQuery:
    """What was typed in the search box, ready to test a patient's :func:`search_key`.

    A patient matches when the whole text, without spaces or hyphens, is part of their
    hospital number, NHS number or a pump serial ("943 476", "943476", "100388",
    "SIM00"), or when every word typed starts one of their names or is part of one of
    those numbers, in any order ("okafor grace" as the list shows it, "grace okafor",
    "okaf"). Case and punctuation in names do not matter; an empty text matches everyone.
    """

    def __init__(self, text: str) -> None:
        folded = text.casefold().translate(_DROPPED).replace(",", " ")
        self.text = text
        self.tokens = tuple(folded.split())
        self.compact = "".join(self.tokens).replace("-", "")
        self._name_tokens = tuple(_NAME_MARK + t for t in self.tokens)

    @property
    def empty(self) -> bool:
        return not self.tokens

    def narrows(self, earlier: PatientQuery) -> bool:
        """True when every patient this query matches also matched ``earlier`` (more was
        typed after it), so only the rows shown need testing again."""
        return not earlier.empty and self.text.startswith(earlier.text)

    def matches(self, key: tuple[str, str]) -> bool:
        names, ids = key
        if not self.tokens or self.compact in ids:
            return True
        return all(
            n in names or t in ids for n, t in zip(self._name_tokens, self.tokens, strict=True)
        )
