"""CSV exports: read back with the csv module, every rule a spreadsheet relies on."""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from itbconsole.exports import Column, cell, write_csv


def test_a_file_reads_back_with_units_iso_dates_exact_numbers_and_no_formulas(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.csv"
    columns = [Column("Patient"), Column("Refill by"), Column("Reservoir", "mL"), Column("At")]
    rows = [
        (
            '=HYPERLINK("http://x")',
            date(2026, 12, 1),
            Decimal("18.250"),
            datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        ),
        ("Ørsted, Åse", None, Fraction(1, 3), datetime(2026, 11, 30, 9, 16, tzinfo=UTC)),
        ("-2+3", date(2027, 1, 5), 20, None),
    ]
    assert write_csv(path, columns, rows) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.reader(handle))
    assert read[0] == ["Patient", "Refill by", "Reservoir (mL)", "At"]
    assert read[1] == [
        '\'=HYPERLINK("http://x")',
        "2026-12-01",
        "18.250",
        "2026-11-30T09:15:00+00:00",
    ]
    assert read[2] == ["Ørsted, Åse", "", "0.333", "2026-11-30T09:16:00+00:00"]
    assert read[3][0] == "'-2+3" and read[3][2] == "20"
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no work file left behind


def test_floats_are_refused_and_a_bad_row_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        cell(0.1)
    path = tmp_path / "bad.csv"
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        write_csv(path, [Column("a"), Column("b"), Column("c")], [(1, 2)])
    assert not path.exists() and list(tmp_path.iterdir()) == []
