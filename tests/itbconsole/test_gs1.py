"""GS1 barcode text as scanners deliver it: parentheses, FNC1 separators, wedge stand-ins."""

from __future__ import annotations

from datetime import date

import pytest

from itbconsole.gs1 import (
    GS1Error,
    gtin_check_digit,
    gtin_is_valid,
    looks_like_gs1,
    parse_gs1,
    parse_gs1_date,
)

TODAY = date(2026, 11, 21)
GTIN = "09506000134352"  # GS1's own example GTIN, check digit 2


@pytest.mark.parametrize(
    "text",
    [
        "(01)09506000134352(17)270331(10)AB12345",
        "0109506000134352172703311" + "0AB12345",  # lot last: no separator needed
        "01095060001343521727033110AB12345\r\n",  # the scanner's Enter
        "]d201095060001343521727033110AB12345",  # DataMatrix symbology identifier
        "10AB12345\x1d0109506000134352172703 31".replace(" ", ""),  # lot first, FNC1 after it
        "10AB12345<GS>01095060001343521727033" + "1",  # wedge stand-in for ASCII 29
    ],
)
def test_the_same_data_in_every_form_a_scanner_sends(text: str) -> None:
    data = parse_gs1(text, today=TODAY)
    assert data.gtin == GTIN
    assert data.expiry == date(2027, 3, 31)
    assert data.lot == "AB12345"
    assert data.serial is None


def test_serial_after_lot_needs_the_group_separator() -> None:
    data = parse_gs1("0109506000134352172703311" + "0AB12345\x1d21SN0042", today=TODAY)
    assert (data.lot, data.serial) == ("AB12345", "SN0042")
    bracketed = parse_gs1("(01)09506000134352(21)SN0042(10)AB12345(17)270331", today=TODAY)
    assert (bracketed.lot, bracketed.serial) == ("AB12345", "SN0042")


def test_missing_separator_makes_an_overlong_lot_that_is_refused() -> None:
    with pytest.raises(GS1Error, match="separator"):
        parse_gs1("0109506000134352" + "10AB12345678901234567821SN0042", today=TODAY)


def test_invalid_gtin_check_digit_is_refused() -> None:
    with pytest.raises(GS1Error, match="check digit"):
        parse_gs1("(01)09506000134353(17)270331(10)AB12345", today=TODAY)
    with pytest.raises(GS1Error, match="check digit"):
        parse_gs1("01095060001343531727033110AB12345", today=TODAY)


def test_gtin_check_digit_worked_examples() -> None:
    assert gtin_check_digit("0950600013435") == 2
    assert gtin_is_valid("00012345600012")  # GTIN-12 012345600012 padded to 14 digits
    assert not gtin_is_valid("0950600013435")  # 13 digits
    assert not gtin_is_valid("0950600013435X")


def test_expiry_day_00_means_the_last_day_of_the_month() -> None:
    assert parse_gs1_date("270300", today=TODAY) == date(2027, 3, 31)
    assert parse_gs1_date("280200", today=TODAY) == date(2028, 2, 29)  # leap year
    assert parse_gs1_date("270200", today=TODAY) == date(2027, 2, 28)
    assert parse_gs1("(01)09506000134352(17)270400", today=TODAY).expiry == date(2027, 4, 30)


def test_expiry_century_follows_the_gs1_sliding_window() -> None:
    assert parse_gs1_date("991231", today=TODAY) == date(1999, 12, 31)
    assert parse_gs1_date("751231", today=TODAY) == date(2075, 12, 31)
    assert parse_gs1_date("771231", today=TODAY) == date(1977, 12, 31)


@pytest.mark.parametrize("bad", ["271331", "270231", "2703", "27033A"])
def test_impossible_expiry_dates_are_refused(bad: str) -> None:
    with pytest.raises(GS1Error):
        parse_gs1_date(bad, today=TODAY)


@pytest.mark.parametrize(
    "bad",
    ["", "hello", "(01)0950600013435(17)270331", "(99)123", "99123456", "(10)AB 123"],
)
def test_what_is_not_gs1_is_refused_with_a_message(bad: str) -> None:
    with pytest.raises(GS1Error) as err:
        parse_gs1(bad, today=TODAY)
    assert str(err.value)


def test_a_typed_product_name_is_not_taken_for_a_barcode() -> None:
    assert not looks_like_gs1("Lioresal Intrathecal")
    assert not looks_like_gs1("2000")
    assert looks_like_gs1("(01)09506000134352(17)270331")
    assert looks_like_gs1("]d2010950600013435217270331")
