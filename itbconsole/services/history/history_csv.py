"""The History CSV: the timeline's rows as exact values, one line each.

Why here and not in the tab: the History tab's export and
``itbconsole export csv --what history`` write the same cells; :mod:`itbconsole.exports`
writes them (BOM, units in headers, the formula-injection guard).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from itbconsole.exports import Column
from itbconsole.services.history.row import TimelineRow

#: The History CSV: one line per timeline row; figure columns hold exact numbers where the
#: row has them (a refill's volumes, a program change's doses) and are empty otherwise.
HISTORY_COLUMNS: tuple[tuple[str, Column], ...] = (
    ("at", Column("Time (UTC)")),
    ("local_date", Column("Date (clinic's zone)")),
    ("when", Column("When (clinic's zone)")),
    ("kind", Column("Kind")),
    ("about", Column("Corrects a")),
    ("summary", Column("Summary")),
    ("who", Column("By")),
    ("role", Column("Role")),
    ("pump", Column("Pump")),
    ("expected_residual_ml", Column("Expected residual", "mL")),
    ("withdrawn_ml", Column("Withdrawn", "mL")),
    ("discrepancy_ml", Column("Discrepancy", "mL")),
    ("accuracy_pct", Column("Delivery accuracy", "%")),
    ("added_ml", Column("Volume added", "mL")),
    ("product", Column("Drug")),
    ("concentration", Column("Concentration", "mcg/mL")),
    ("lot", Column("Lot")),
    ("expiry", Column("Expiry")),
    ("status", Column("Status or outcome")),
    ("old_dose", Column("Dose before", "mcg/24 h")),
    ("new_dose", Column("Dose after", "mcg/24 h")),
    ("change_mcg", Column("Dose change", "mcg/24 h")),
    ("change_pct", Column("Dose change", "%")),
    ("reservoir_ml", Column("Reservoir", "mL")),
    ("battery_mv", Column("Battery", "mV")),
    ("details", Column("Details")),
    ("record", Column("Record")),
)


def history_columns() -> list[Column]:
    return [c for _, c in HISTORY_COLUMNS]


def history_csv_rows(rows: Iterable[TimelineRow], tz: tzinfo) -> list[list[Any]]:
    """The cells of :data:`HISTORY_COLUMNS` for each row (exact values; exports.py writes
    them)."""
    out = []
    for row in rows:
        values = {
            **row.figures,
            "at": None if row.day_only else row.at,
            "local_date": row.at.astimezone(tz).date(),
            "when": row.when,
            "kind": row.kind.label,
            "about": row.about.label if row.about else "",
            "summary": row.summary,
            "who": row.who,
            "role": row.role,
            "details": row.details_text,
            "record": row.record,
        }
        out.append([values.get(key) for key, _ in HISTORY_COLUMNS])
    return out
