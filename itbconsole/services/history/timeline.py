"""A patient's history as one table, oldest first.

What a row is: one thing that happened (a refill, a program change, a reading, a pump
alarm, the pump clock set, a pump registered or explanted, a catheter revision, a
screening test dose, a patient record or status), with who recorded it. Records are never
changed in place: a correction is a later version of the record (a pending refill
settled, an uncertain program change resolved, a reading withdrawn as entered in error).
Each version after the first is a ``correction`` row placed right after the row of the
record it corrects, with its own time and author, so nothing is hidden and the row shows
the record as it stands now.

Each kind of row is built by its own mixin (``patient_rows``, ``pump_life_rows``,
``pump_record_rows``, ``refill_rows``, ``program_change_rows``); this module puts them
together and sorts the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from itbconsole import dosing
from itbconsole.services.history.patient_rows import PatientRows
from itbconsole.services.history.program_change_rows import ProgramChangeRows
from itbconsole.services.history.pump_life_rows import PumpLifeRows
from itbconsole.services.history.pump_record_rows import PumpRecordRows
from itbconsole.services.history.refill_rows import RefillRows
from itbconsole.services.history.row import Kind, TimelineRow
from itbconsole.store.queries import PatientHistory, PatientRecords


class _Builder(PatientRows, PumpLifeRows, PumpRecordRows, RefillRows, ProgramChangeRows):
    """Every kind of row, in one sorted list."""

    def rows(self) -> list[TimelineRow]:
        self.patient()
        self.screening()
        self.pumps()
        self.readings()
        self.refills()
        self.program_changes()
        self.alarms()
        self.clock()
        self.catheter_revisions()
        self.explants()
        self.groups.sort(key=lambda g: (g.at, g.order, g.rows[0].record))
        return [row for group in self.groups for row in group.rows]


def build_timeline(
    history: PatientHistory,
    records: PatientRecords,
    tz: tzinfo,
    thresholds: dosing.DiscrepancyThresholds | None = None,
) -> list[TimelineRow]:
    """Everything recorded for one patient, oldest first, each correction right after the
    record it corrects (see the module docstring); times shown in ``tz`` (the clinic's)."""
    return _Builder(history, records, tz, thresholds or dosing.DiscrepancyThresholds()).rows()


def kinds_in(rows: Iterable[TimelineRow]) -> list[tuple[Kind, int]]:
    """The kinds present, in :class:`Kind` order, with how many rows each filter shows."""
    rows = list(rows)
    return [(k, n) for k in Kind if (n := sum(1 for r in rows if r.matches(k)))]
