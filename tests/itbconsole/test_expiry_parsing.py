"""A vial's expiry typed as the label prints it: one reader (gs1.parse_expiry) for every
hand-typed expiry. A month alone is the end of that month (as GS1's day 00); day-first forms
are read as UK labels print them; anything else gets one message listing what is accepted."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from itbconsole.demo import DEMO_NURSE, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.gs1 import GS1Error, parse_expiry, parse_gs1_date
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import RefillError
from tests.itbconsole.test_refill_service import LONDON, NOW, at_new_drug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-31", date(2027, 3, 31)),
        ("2027-03", date(2027, 3, 31)),  # month only: the end of the month
        ("2028-02", date(2028, 2, 29)),  # a leap February ends on the 29th
        ("2027-02", date(2027, 2, 28)),
        ("2027-02-00", date(2027, 2, 28)),  # GS1's day 00, written with dashes
        ("31/03/2027", date(2027, 3, 31)),
        ("31.03.2027", date(2027, 3, 31)),
        ("31-03-2027", date(2027, 3, 31)),
        ("01/04/2027", date(2027, 4, 1)),  # day first: 1 April, never 4 January
        ("03/2027", date(2027, 3, 31)),
        ("3.2027", date(2027, 3, 31)),
        ("31 MAR 2027", date(2027, 3, 31)),
        ("Mar 2027", date(2027, 3, 31)),
        ("  2027-03-31 ", date(2027, 3, 31)),
    ],
)
def test_what_vials_print_is_read(text: str, expected: date) -> None:
    assert parse_expiry(text) == expected


def test_a_month_alone_agrees_with_the_barcodes_day_00() -> None:
    for month in range(1, 13):
        typed = parse_expiry(f"2028-{month:02d}")
        scanned = parse_gs1_date(f"28{month:02d}00", today=date(2026, 1, 1))
        assert typed == scanned


@pytest.mark.parametrize(
    "text",
    ["03/31/2027", "31/04/2027", "2027-13", "31/03/27", "270331", "soon", "Foo 2027", "0/2027"],
)
def test_anything_else_gets_one_clear_message(text: str) -> None:
    with pytest.raises(GS1Error) as err:
        parse_expiry(text)
    message = str(err.value)
    assert "31/03/2027" in message and "end of that month" in message


def test_an_empty_expiry_asks_for_it() -> None:
    with pytest.raises(GS1Error, match="Enter the expiry"):
        parse_expiry("  ")


def test_the_refill_reads_the_expiry_with_the_same_reader(tmp_path: Path) -> None:
    """The new-drug step takes "2030-03" as 31 March 2030 and refuses a US-order date next
    to the expiry field, with the same message."""
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    clinic = ClinicService(store, load_drug_library(), DEMO_NURSE, LONDON)
    s = at_new_drug(clinic)
    check = s.enter_new_drug("lioresal-2000", "A1", "2030-03", "40")
    assert check.new_drug.expiry == date(2030, 3, 31)
    with pytest.raises(RefillError) as err:
        s.enter_new_drug("lioresal-2000", "A1", "03/31/2030", "40")
    assert err.value.field == "expiry" and "end of that month" in str(err.value)
    assert s.enter_new_drug("lioresal-2000", "A1", "31.03.2030", "40").new_drug.expiry == date(
        2030, 3, 31
    )
