"""The clinic's refill log as CSV cells: who received which drug, lot and expiry (a drug
recall's question), for ``itbconsole export csv --what refills`` and ``--what lot``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from itbconsole.exports import Column
from itbconsole.store.queries import RefillRecord
from itbconsole.units import ul_to_ml

#: The refill log CSV (lot search, refills since a date): who received which drug.
REFILL_LOG_COLUMNS: tuple[Column, ...] = (
    Column("Time (UTC)"),
    Column("Date (clinic's zone)"),
    Column("Patient"),
    Column("Hospital number"),
    Column("NHS number"),
    Column("Date of birth"),
    Column("Pump"),
    Column("Pump model"),
    Column("Drug"),
    Column("Concentration", "mcg/mL"),
    Column("Lot"),
    Column("Expiry"),
    Column("Volume added", "mL"),
    Column("Withdrawn", "mL"),
    Column("Expected residual", "mL"),
    Column("Status"),
    Column("Recorded by"),
    Column("Role"),
    Column("Record"),
    Column("Refill record"),
)
"""``Refill record`` is the number of the refill's first version, as the History tab and
its CSV name it (``refills 12``); ``Record`` says when it was corrected or withdrawn."""


def refill_log_rows(records: Iterable[RefillRecord], tz: tzinfo) -> list[list[Any]]:
    out: list[list[Any]] = []
    for item in records:
        r, p = item.refill, item.patient
        state = ""
        if item.entered_in_error:
            note = item.latest.correction_note.strip()
            state = "entered in error" + (f": {note}" if note else "")
        elif item.latest.corrects_id is not None:
            state = f"corrected by {item.latest.by} on {item.latest.at.date().isoformat()}"
        out.append(
            [
                r.at,
                r.at.astimezone(tz).date(),
                p.display_name,
                p.hospital_number,
                p.nhs_number,
                p.date_of_birth,
                r.pump_serial,
                item.pump_model,
                r.product,
                r.concentration_mcg_ml,
                r.lot,
                r.expiry,
                ul_to_ml(r.added_ul),
                ul_to_ml(r.withdrawn_ul),
                ul_to_ml(r.expected_residual_ul),
                r.status.value,
                item.recorded.by,
                item.recorded.role.value,
                state,
                item.recorded.record_id,
            ]
        )
    return out
