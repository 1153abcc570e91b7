"""CSV exports that a spreadsheet reads correctly and cannot be tricked by.

Why these rules (one home for every export: the worklist, a patient's history, refills, a
lot search):

* UTF-8 with a byte-order mark, so a spreadsheet opened by double-click reads accents and
  "µL" right instead of guessing a legacy code page;
* a header per column with its unit in it (``Reservoir (mL)``), so a number is never read in
  the wrong unit;
* dates and times in ISO 8601 (``2026-11-30``, ``2026-11-30T09:15:00+00:00``), which every
  spreadsheet and script parses the same way;
* numbers written as plain numbers (exact decimals, never a float's ``0.30000000000000004``)
  so they stay numbers;
* text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
  prefixed with an apostrophe, so a patient name or note can never run as a formula when
  the file is opened (CSV or formula injection, OWASP).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from itbconsole.paths import write_private_file
from itbconsole.units import round_decimal

#: A text cell starting with one of these would be read as a formula by a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column: its title and the unit its numbers are in ('' for none)."""

    title: str
    unit: str = ""

    @property
    def header(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


def cell(value: Any) -> str | int:
    """One value as the CSV cell: ISO dates, exact numbers, guarded text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Fraction):
        return format(round_decimal(value, 3).normalize(), "f")
    if isinstance(value, float):
        raise TypeError("exports write exact numbers: pass a Decimal, Fraction or int")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> str:
    """The whole file's text (without the byte-order mark)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in columns])
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns")
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def write_csv(
    path: str | os.PathLike[str], columns: Sequence[Column], rows: Iterable[Sequence[Any]]
) -> int:
    """Write the file (UTF-8 with BOM, CRLF rows, owner-only on POSIX: it holds patient data)
    through a temporary name, so a failure never leaves half a file. Returns the rows written."""
    materialised = list(rows)
    text = csv_text(columns, materialised)
    # UTF-8 with a byte-order mark; the rows already end in CRLF
    write_private_file(Path(path), text.encode("utf-8-sig"))
    return len(materialised)


__all__ = ["FORMULA_STARTS", "Column", "cell", "csv_text", "write_csv"]
