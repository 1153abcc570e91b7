"""GS1 barcode data as printed on drug vials and cartons: GTIN, expiry, lot and serial.

Why here, in the core: a keyboard-wedge scanner "types" the barcode into whatever field has
the focus, so the refill workflow receives it as plain text. Parsing that text is a rule
(check digit, expiry day 00, the variable-length fields) that must be tested without a
screen, and typing a lot or an expiry by hand is where transcription errors happen.

Accepted forms of the same data (GS1 General Specifications, section 3 and 7.8):

* human-readable, with parentheses: ``(01)09506000134352(17)270331(10)AB12345``;
* the raw element string a scanner sends: ``0109506000134352172703311 0AB12345`` where a
  variable-length field (10, 21) that is not last ends with the group separator FNC1
  (ASCII 29, ``\\x1d``). Keyboard wedges that cannot type ASCII 29 are often set to send
  ``<GS>``, ``{GS}``, ``^]`` or ``|`` instead; those are accepted too;
* an optional symbology identifier in front (``]d2`` DataMatrix, ``]C1`` GS1-128,
  ``]Q3`` QR, ``]e0`` DataBar) and a trailing Enter or Tab from the scanner.

Application identifiers read: 01 GTIN (14 digits, mod-10 check digit), 17 expiry date
(YYMMDD; day 00 means the last day of the month; century by the GS1 sliding window),
10 batch or lot, 21 serial number. Other common identifiers are recognised so that the
string can be walked past them; unknown ones are refused with a message.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

GS = "\x1d"
#: What keyboard-wedge scanners are commonly configured to send for FNC1 / ASCII 29.
GS_SUBSTITUTES = ("<GS>", "{GS}", "^]", "\u241d", "|")
SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3", "]e0", "]J1")

#: AI -> (fixed length or None for variable, maximum length, what it is).
AI_TABLE: dict[str, tuple[int | None, int, str]] = {
    "00": (18, 18, "SSCC"),
    "01": (14, 14, "GTIN"),
    "02": (14, 14, "GTIN of contained items"),
    "10": (None, 20, "batch or lot"),
    "11": (6, 6, "production date"),
    "12": (6, 6, "due date"),
    "13": (6, 6, "packaging date"),
    "15": (6, 6, "best before date"),
    "16": (6, 6, "sell by date"),
    "17": (6, 6, "expiry date"),
    "20": (2, 2, "variant"),
    "21": (None, 20, "serial number"),
    "22": (None, 20, "consumer product variant"),
    "30": (None, 8, "count of items"),
    "240": (None, 30, "additional product identification"),
    "710": (None, 20, "national healthcare reimbursement number (Germany)"),
    "711": (None, 20, "national healthcare reimbursement number (France)"),
    "712": (None, 20, "national healthcare reimbursement number (Spain)"),
    "713": (None, 20, "national healthcare reimbursement number (Brazil)"),
    "714": (None, 20, "national healthcare reimbursement number (Portugal)"),
}

#: GS1 AI encodable character set 82 (the characters a lot or serial may contain).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*")


class GS1Error(ValueError):
    """The text is not valid GS1 data. The message says what is wrong, for the user."""


@dataclass(frozen=True)
class GS1Data:
    """What a scan said. Fields the barcode did not carry are None."""

    gtin: str | None = None
    expiry: date | None = None
    lot: str | None = None
    serial: str | None = None
    other: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def expiry_text(self) -> str:
        return "" if self.expiry is None else self.expiry.isoformat()


def gtin_check_digit(body: str) -> int:
    """The mod-10 check digit for the digits before it (GS1 General Specifications 7.9.1):
    weights 3, 1, 3, ... from the rightmost digit, check = (10 - sum mod 10) mod 10."""
    if not body.isdigit():
        raise GS1Error("A GTIN has digits only.")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_is_valid(gtin: str) -> bool:
    """True for a 14-digit GTIN whose last digit is the right check digit."""
    return len(gtin) == 14 and gtin.isdigit() and gtin_check_digit(gtin[:-1]) == int(gtin[-1])


def parse_gs1_date(text: str, *, today: date | None = None) -> date:
    """YYMMDD as GS1 defines it: day ``00`` is the last day of the month; the century is
    chosen by the sliding window of GS1 General Specifications 7.12 (a year more than 49
    years ahead of this one is in the past century, more than 50 behind in the next)."""
    if len(text) != 6 or not text.isdigit():
        raise GS1Error(f"'{text}' is not a date in the form YYMMDD.")
    yy, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    current = (today or date.today()).year
    century = current // 100 * 100
    diff = yy - current % 100
    if diff >= 51:
        century -= 100
    elif diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= month <= 12:
        raise GS1Error(f"'{text}' has no month {month:02d}.")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        day = last
    if not 1 <= day <= last:
        raise GS1Error(f"'{text}' is not a real date ({year}-{month:02d} has {last} days).")
    return date(year, month, day)


_MONTHS = {name: n for n, name in enumerate(calendar.month_abbr) if name}
_EXPIRY_FORMS = (
    # year first, as GS1 and ISO 8601 write it: 2027-03-31, 2027-03 (the whole month)
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?"),
    # day first, as UK and European labels print it: 31/03/2027, 31.03.2027, 31-03-2027,
    # and the month alone: 03/2027
    re.compile(r"(?:(?P<d>\d{1,2})[/.-])?(?P<m>\d{1,2})[/.-](?P<y>\d{4})"),
    # a month name: 31 MAR 2027, MAR 2027, MAR-2027
    re.compile(r"(?:(?P<d>\d{1,2})[\s/.-]*)?(?P<mon>[A-Za-z]{3})[A-Za-z]*[\s/.-]*(?P<y>\d{4})"),
)
EXPIRY_FORMS_TEXT = (
    "31/03/2027, 31.03.2027, 2027-03-31 or 31 MAR 2027; a month alone (03/2027, 2027-03, "
    "MAR 2027) means the end of that month"
)


def parse_expiry(text: str) -> date:
    """A vial's expiry as the label prints it, typed by hand: the one reading of an expiry
    in the console (a scanned barcode's is :func:`parse_gs1_date`).

    A month without a day means the last day of that month, as GS1's day ``00`` does; so
    does day ``00`` itself. Day-first forms are read as the UK and European labels print
    them (31/03/2027); a US month-first date such as 03/31/2027 has no month 31 and is
    refused, never guessed. Two-digit years are refused (is 27 the year or the day?).
    Raises :class:`GS1Error` with one message that lists what is accepted."""
    stripped = " ".join(str(text).split())
    for pattern in _EXPIRY_FORMS:
        match = pattern.fullmatch(stripped)
        if match is None:
            continue
        parts = match.groupdict()
        if parts.get("mon") is not None:
            month = _MONTHS.get(parts["mon"][:3].title(), 0)
        else:
            month = int(parts["m"])
        year = int(parts["y"])
        if not 1 <= month <= 12 or year < 1900:
            break
        last = calendar.monthrange(year, month)[1]
        day = last if parts["d"] is None or int(parts["d"]) == 0 else int(parts["d"])
        if not 1 <= day <= last:
            break
        return date(year, month, day)
    if not stripped:
        raise GS1Error(f"Enter the expiry date from the vial: {EXPIRY_FORMS_TEXT}.")
    raise GS1Error(
        f"'{stripped}' is not an expiry date the console can read. Type it as on the vial: "
        f"{EXPIRY_FORMS_TEXT}."
    )


def normalise_scan(text: str) -> str:
    """Strip the scanner's extras (symbology identifier, Enter, Tab, spaces at the ends)
    and turn each configured stand-in for ASCII 29 into ASCII 29."""
    cleaned = text.strip(" \r\n\t")
    for prefix in SYMBOLOGY_PREFIXES:
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
            break
    for stand_in in GS_SUBSTITUTES:
        cleaned = cleaned.replace(stand_in, GS)
    return cleaned.strip(GS)


def looks_like_gs1(text: str) -> bool:
    """A cheap test for "this was scanned, not typed": a product field gets a product
    name by hand, and a GS1 string by a scanner. Parentheses form or an element string
    that starts with AI 01 followed by at least the 14 GTIN digits."""
    cleaned = normalise_scan(text)
    if cleaned.startswith("(01)"):
        return True
    return len(cleaned) >= 16 and cleaned.startswith("01") and cleaned[2:16].isdigit()


def _split_bracketed(text: str) -> list[tuple[str, str]]:
    parts = re.findall(r"\((\d{2,4})\)([^(]*)", text)
    if not parts or "".join(f"({ai}){value}" for ai, value in parts) != text:
        raise GS1Error(
            "The barcode text is not in the form (AI)value(AI)value, for example "
            "(01)09506000134352(17)270331(10)AB12345."
        )
    return [(ai, value.replace(GS, "")) for ai, value in parts]


def _split_element_string(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos] == GS:
            pos += 1
            continue
        ai = next((a for a in (text[pos : pos + n] for n in (2, 3, 4)) if a in AI_TABLE), None)
        if ai is None:
            raise GS1Error(
                f"Unknown application identifier at '{text[pos : pos + 4]}...': this console "
                "reads GTIN (01), expiry (17), lot (10) and serial (21)."
            )
        pos += len(ai)
        fixed, longest, what = AI_TABLE[ai]
        if fixed is not None:
            value = text[pos : pos + fixed]
            if len(value) != fixed or GS in value:
                raise GS1Error(f"The {what} ({ai}) needs {fixed} characters.")
            pos += fixed
        else:
            end = text.find(GS, pos)
            end = len(text) if end == -1 else end
            value = text[pos:end]
            if len(value) > longest:
                raise GS1Error(
                    f"The {what} ({ai}) is longer than {longest} characters: the scanner may "
                    "not be sending the group separator (FNC1) between fields."
                )
            pos = end
        out.append((ai, value))
    return out


def parse_gs1(text: str, *, today: date | None = None) -> GS1Data:
    """Parse scanned or typed GS1 data into GTIN, expiry, lot and serial.

    Raises :class:`GS1Error` when the text is not GS1 data, a GTIN's check digit is wrong
    (a misread or a mistyped digit), a date is not a real date, or a lot or serial holds
    characters GS1 does not allow.
    """
    cleaned = normalise_scan(text)
    if not cleaned:
        raise GS1Error("The barcode is empty.")
    pairs = _split_bracketed(cleaned) if cleaned.startswith("(") else _split_element_string(cleaned)
    values: dict[str, str] = {}
    for ai, value in pairs:
        if ai not in AI_TABLE:
            raise GS1Error(f"Unknown application identifier ({ai}).")
        fixed, longest, what = AI_TABLE[ai]
        if (fixed is not None and len(value) != fixed) or not value or len(value) > longest:
            raise GS1Error(f"The {what} ({ai}) has the wrong length: '{value}'.")
        if ai in values and values[ai] != value:
            raise GS1Error(f"The barcode gives two different values for ({ai}).")
        if not _CSET82.fullmatch(value):
            raise GS1Error(f"The {what} ({ai}) contains characters a GS1 barcode cannot hold.")
        values[ai] = value
    gtin = values.pop("01", None)
    if gtin is not None and not gtin_is_valid(gtin):
        raise GS1Error(
            f"GTIN {gtin} has a wrong check digit (expected {gtin_check_digit(gtin[:-1])}): "
            "scan again or enter the details by hand."
        )
    expiry_text = values.pop("17", None)
    expiry = None if expiry_text is None else parse_gs1_date(expiry_text, today=today)
    return GS1Data(
        gtin=gtin,
        expiry=expiry,
        lot=values.pop("10", None),
        serial=values.pop("21", None),
        other=values,
        raw=text,
    )


__all__ = [
    "GS",
    "GS1Data",
    "GS1Error",
    "gtin_check_digit",
    "gtin_is_valid",
    "looks_like_gs1",
    "normalise_scan",
    "parse_gs1",
    "parse_gs1_date",
]
