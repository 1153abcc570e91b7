"""Read-side queries: one patient's history, the patient list, refills due, search.

Why these are SQL and not Python loops: the clinic list and the "refill due" view must stay
fast with thousands of patients and decades of records (benchmarks/store_scale.py), so the
database does the picking with its indexes and Python only builds the rows it returns.

"Effective" everywhere means: the latest version of a record (nothing corrects it) that is
not marked entered-in-error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from itbconsole.forecast import ForecastSummary, StatusOn
from itbconsole.model import Patient, ProgramChange, Pump, PumpEvent, Reading, Refill
from itbconsole.store import records as rec


def effective(table: str, alias: str) -> str:
    """SQL condition: ``alias`` is the effective version of a row of ``table``."""
    return (
        f"{alias}.entered_in_error = 0 AND NOT EXISTS "
        f"(SELECT 1 FROM {table} c WHERE c.corrects_id = {alias}.id)"
    )


CURRENT_PATIENTS = (
    "SELECT v.* FROM current_patient cp JOIN patient_versions v ON v.id = cp.version_id"
    " WHERE v.entered_in_error = 0"
)

#: One patient-list row. It reads the current-state tables (see schema migration 2), which
#: triggers keep in step with the clinical tables, so each patient costs a few index
#: lookups however long their history. Dates and status come from the pump's stored
#: forecast (``pump_forecast``, migration 5) computed by itbconsole.forecast; a row whose
#: forecast is missing or was computed with other settings (``inputs_key``) has none, and
#: the clinic service computes it before it reads the list.
_COLUMNS = """
SELECT v.*, po.pump_serial AS current_pump,
  cpu.model AS pump_model, cpu.reservoir_capacity_ul,
  lr.at AS reading_at, lr.reservoir_ul, lr.alarm_volume_ul, lr.eri, lr.eos,
  lr.battery_mv, pf.summary_json AS forecast_json,
  (SELECT ps.status FROM patient_status ps WHERE ps.patient_id = v.patient_id
     ORDER BY ps.id DESC LIMIT 1) AS patient_status,
  (SELECT COUNT(*) FROM refills f WHERE f.patient_id = v.patient_id
     AND f.status = 'pending' AND {pending}) AS pending_refills,
  (SELECT COUNT(*) FROM program_changes g WHERE g.patient_id = v.patient_id
     AND g.outcome = 'uncertain' AND {uncertain}) AS uncertain_changes
""".format(pending=effective("refills", "f"), uncertain=effective("program_changes", "g"))

#: A patient's pump now: the one most recently registered to them and still theirs.
_PATIENT_PUMP = (
    "(SELECT o.pump_serial FROM pump_owner o WHERE o.patient_id = cp.patient_id"
    " ORDER BY o.effective_at DESC LIMIT 1)"
)

_PUMP_DETAILS = (
    "LEFT JOIN current_pump cpu ON cpu.pump_serial = po.pump_serial"
    " LEFT JOIN pump_forecast pf ON pf.pump_serial = po.pump_serial AND pf.inputs_key = :key"
)

OVERVIEW_SQL = f"""{_COLUMNS}
FROM current_patient cp
JOIN patient_versions v ON v.id = cp.version_id AND v.entered_in_error = 0
LEFT JOIN pump_owner po ON po.pump_serial = {_PATIENT_PUMP}
LEFT JOIN latest_reading lr ON lr.pump_serial = po.pump_serial
{_PUMP_DETAILS}
{{where}}
ORDER BY v.family_name COLLATE NOCASE, v.given_name COLLATE NOCASE, v.patient_id
"""

#: The same rows, driven from the forecast's refill-by index so only the patients due are
#: visited.
REFILL_DUE_SQL = f"""{_COLUMNS}
FROM pump_forecast pf
CROSS JOIN pump_owner po ON po.pump_serial = pf.pump_serial
CROSS JOIN current_patient cp ON cp.patient_id = po.patient_id
JOIN patient_versions v ON v.id = cp.version_id AND v.entered_in_error = 0
LEFT JOIN latest_reading lr ON lr.pump_serial = po.pump_serial
LEFT JOIN current_pump cpu ON cpu.pump_serial = po.pump_serial
WHERE pf.inputs_key = :key AND pf.refill_by <= :before AND po.pump_serial = {_PATIENT_PUMP}
ORDER BY pf.refill_by, v.patient_id
"""

#: Pumps registered to a current patient whose forecast is missing or out of date.
STALE_FORECASTS_SQL = """
SELECT po.pump_serial FROM pump_owner po
JOIN current_patient cp ON cp.patient_id = po.patient_id
LEFT JOIN pump_forecast pf ON pf.pump_serial = po.pump_serial AND pf.inputs_key = :key
WHERE pf.pump_serial IS NULL {and_where}
"""


@dataclass(frozen=True)
class PatientOverview:
    """One line of the patient list: the figures a nurse scans at the start of a clinic.
    Every date and the status come from the pump's forecast (itbconsole.forecast)."""

    patient: Patient
    pump_serial: str | None
    pump_model: str | None
    reservoir_capacity_ul: int | None
    last_reading_at: datetime | None
    reservoir_ul: int | None
    alarm_volume_ul: int | None
    eri: bool
    eos: bool
    battery_mv: int | None
    pending_refills: int
    uncertain_program_changes: int
    forecast: ForecastSummary | None = None
    status: StatusOn | None = None
    """The forecast's status on the clinic's ``today``."""
    patient_status: str = "active"
    """candidate, active, inactive or deceased (itbconsole.store.schema, migration 8)."""

    @property
    def alarm_at(self) -> datetime | None:
        return self.forecast.alarm_at if self.forecast else None

    @property
    def refill_by(self) -> date | None:
        return self.forecast.refill_by if self.forecast else None

    @property
    def refill_by_reason(self) -> str:
        return self.forecast.governing_text if self.forecast else ""

    @property
    def days_to_alarm(self) -> int | None:
        """Calendar days from the clinic's today to the alarm date (negative: passed)."""
        return self.status.days_to_alarm if self.status else None

    @property
    def days_to_refill(self) -> int | None:
        return self.status.days_to_refill if self.status else None


@dataclass(frozen=True)
class PatientHistory:
    """Everything stored for one patient, effective versions, oldest first."""

    patient: Patient
    versions: tuple[rec.Recorded[Patient], ...]
    registrations: tuple[rec.Registration, ...]
    pumps: tuple[Pump, ...]
    readings: tuple[Reading, ...]
    events: tuple[PumpEvent, ...]
    refills: tuple[Refill, ...]
    program_changes: tuple[ProgramChange, ...]


@functools.lru_cache(maxsize=50_000)
def _summary(text: str) -> ForecastSummary:
    """A stored forecast, parsed once: the list is read again after every search, and an
    unchanged row's text gives the same (immutable) summary."""
    return ForecastSummary.from_json(json.loads(text))


@functools.lru_cache(maxsize=50_000)
def _status(summary: ForecastSummary, today: date) -> StatusOn:
    return summary.status_on(today)


def _overview_row(row: dict[str, Any], today: date) -> PatientOverview:
    reading_at = rec.parse_time(row["reading_at"]) if row["reading_at"] else None
    summary = _summary(row["forecast_json"]) if row.get("forecast_json") else None
    return PatientOverview(
        patient=rec.patient_from_row(row),
        pump_serial=row["current_pump"],
        pump_model=row["pump_model"],
        reservoir_capacity_ul=row["reservoir_capacity_ul"],
        last_reading_at=reading_at,
        reservoir_ul=row["reservoir_ul"],
        alarm_volume_ul=row["alarm_volume_ul"],
        eri=bool(row["eri"]),
        eos=bool(row["eos"]),
        battery_mv=row["battery_mv"],
        pending_refills=int(row["pending_refills"]),
        uncertain_program_changes=int(row["uncertain_changes"]),
        forecast=summary,
        status=_status(summary, today) if summary else None,
        patient_status=row["patient_status"] or "active",
    )


def patients_overview(
    db: Database,
    today: date,
    inputs_key: str,
    patient_ids: Sequence[int] | None = None,
) -> list[PatientOverview]:
    """The patient list (all current patients, or ``patient_ids``), sorted by name, with
    each pump's stored forecast computed under ``inputs_key`` and its status on ``today``
    (the clinic's date)."""
    where = ""
    params: dict[str, Any] = {"key": inputs_key}
    if patient_ids is not None:
        where = f"WHERE cp.patient_id IN ({_in_params(patient_ids, params)})"
    sql = OVERVIEW_SQL.format(where=where)
    return [_overview_row(row, today) for row in db.query(sql, params)]


def _in_params(ids: Sequence[int], params: dict[str, Any]) -> str:
    """The placeholders of an ``IN (...)`` list of ``ids``, their values added to ``params``."""
    params.update({f"p{i}": pid for i, pid in enumerate(ids)})
    return ", ".join(f":p{i}" for i in range(len(ids)))


def refill_due(db: Database, before: date, today: date, inputs_key: str) -> list[PatientOverview]:
    """Patients whose refill-by date (the forecast's, every bound counted) is on or before
    ``before``, soonest first: the clinic's "who needs booking" list. An indexed read of
    the stored forecasts; the clinic service brings them up to date first."""
    rows = db.query(REFILL_DUE_SQL, {"key": inputs_key, "before": before.isoformat()})
    return [_overview_row(row, today) for row in rows]


def stale_forecast_pumps(
    db: Database, inputs_key: str, patient_ids: Sequence[int] | None = None
) -> list[str]:
    """Serials of current patients' pumps whose stored forecast is missing or stale."""
    and_where = ""
    params: dict[str, Any] = {"key": inputs_key}
    if patient_ids is not None:
        and_where = f"AND po.patient_id IN ({_in_params(patient_ids, params)})"
    return [
        r["pump_serial"] for r in db.query(STALE_FORECASTS_SQL.format(and_where=and_where), params)
    ]


def search_patients(db: Database, text: str, limit: int = 200) -> list[Patient]:
    """Current patients matching a name, hospital or NHS number, or a pump serial (any
    pump ever registered to them). Case-insensitive; names and numbers match by prefix."""
    needle = text.strip()
    if not needle:
        return []
    prefix = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    digits = needle.replace(" ", "").replace("-", "")
    sql = f"""
      SELECT v.* FROM ({CURRENT_PATIENTS}) v
      WHERE v.family_name LIKE :p ESCAPE '\\' OR v.given_name LIKE :p ESCAPE '\\'
         OR (v.family_name || ', ' || v.given_name) LIKE :p ESCAPE '\\'
         OR (v.given_name || ' ' || v.family_name) LIKE :p ESCAPE '\\'
         OR v.hospital_number LIKE :p ESCAPE '\\' OR v.nhs_number = :digits
         OR v.patient_id IN (SELECT r.patient_id FROM pump_registrations r
                             WHERE r.pump_serial = :exact COLLATE NOCASE
                             AND {effective("pump_registrations", "r")})
      ORDER BY v.family_name COLLATE NOCASE, v.given_name COLLATE NOCASE LIMIT :limit
    """
    params = {"p": prefix, "digits": digits, "exact": needle, "limit": limit}
    return [rec.patient_from_row(row) for row in db.query(sql, params)]


def patient_history(db: Database, patient_id: int) -> PatientHistory:
    """All effective records of one patient (raises LookupError when there is none)."""
    versions = [
        rec.Recorded(rec.patient_from_row(row), rec.stamp_from_row(row))
        for row in db.query(
            "SELECT * FROM patient_versions WHERE patient_id = ? ORDER BY id", [patient_id]
        )
    ]
    if not versions:
        raise LookupError(f"There is no patient with id {patient_id}.")

    def rows(table: str, order: str = "at, id") -> list[dict[str, Any]]:
        return list(
            db.query(
                f"SELECT * FROM {table} t WHERE t.patient_id = ? AND {effective(table, 't')}"
                f" ORDER BY {order}",
                [patient_id],
            )
        )

    registrations = [
        rec.registration_from_row(r) for r in rows("pump_registrations", "effective_at, id")
    ]
    serials = sorted({r.pump_serial for r in registrations})
    pumps = [
        rec.pump_from_row(row, patient_id)
        for row in db.query(
            f"SELECT * FROM pump_versions p WHERE p.pump_serial IN "
            f"({', '.join('?' * len(serials))}) AND NOT EXISTS "
            "(SELECT 1 FROM pump_versions c WHERE c.corrects_id = p.id) ORDER BY p.id",
            serials,
        )
    ]
    events = db.query(
        "SELECT * FROM pump_events WHERE patient_id = ? ORDER BY at, event_index", [patient_id]
    )
    return PatientHistory(
        patient=versions[-1].record,
        versions=tuple(versions),
        registrations=tuple(registrations),
        pumps=tuple(pumps),
        readings=tuple(rec.reading_from_row(r) for r in rows("readings")),
        events=tuple(rec.event_from_row(r) for r in events),
        refills=tuple(rec.refill_from_row(r) for r in rows("refills")),
        program_changes=tuple(rec.program_change_from_row(r) for r in rows("program_changes")),
    )
