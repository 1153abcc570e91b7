"""The list's search rule on its own (itbconsole.services.patients.PatientQuery): what a
nurse types against the names and numbers of one patient, without Qt or a database."""

from __future__ import annotations

from datetime import date

import pytest

from itbconsole.model import Origin, Patient
from itbconsole.services.patients import PatientQuery, search_key

OBRIEN = Patient(
    "O'Brien-Smith", "Mary Anne", date(1970, 1, 1), "H0012345", Origin.SPINAL, "9434765919"
)
KEY = search_key(OBRIEN, ("NGP123456", "SIM0000001"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "o'brien",
        "obrien",
        "O'BRIEN-SMITH, Mary",
        "smith mary",
        "anne o'brien",
        "mary anne",
        "943 476 5919",
        "943-476-5919",
        "4765919",
        "h0012345",
        "12345",
        "ngp1234",
        "sim000000",
        "obri 5919",  # a name and part of a number together
    ],
)
def test_what_finds_the_patient(text: str) -> None:
    assert PatientQuery(text).matches(KEY)


@pytest.mark.parametrize("text", ["brien", "mary jones", "999", "h9", "ngp9", "anne x"])
def test_what_does_not(text: str) -> None:
    assert not PatientQuery(text).matches(KEY)


def test_typing_on_only_narrows() -> None:
    earlier, later = PatientQuery("obr"), PatientQuery("obri")
    assert later.narrows(earlier)
    assert not earlier.narrows(later)
    assert not later.narrows(PatientQuery(""))  # from nothing: every row is looked at
