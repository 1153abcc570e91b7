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
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, overload

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


class StoredEvents(Sequence[PumpEvent]):
    """A patient's stored pump events, read from the database the first time they are
    looked at (in time order).

    Why lazily: a pump's log holds thousands of entries that opening a patient, saving an
    interrogation or finding a pump's owner never show, and decoding them all held up the
    window for up to 100 ms (issue 14). The few readers that need them (settling a pending
    refill, the History tab, Trends) pay for them when they iterate."""

    def __init__(self, db: Database, patient_id: int) -> None:
        self._db = db
        self._patient_id = patient_id
        self._events: tuple[PumpEvent, ...] | None = None

    def _loaded(self) -> tuple[PumpEvent, ...]:
        if self._events is None:
            rows = self._db.query(
                "SELECT * FROM pump_events WHERE patient_id = ? ORDER BY at, event_index",
                [self._patient_id],
            )
            self._events = tuple(rec.event_from_row(r) for r in rows)
        return self._events

    @overload
    def __getitem__(self, index: int) -> PumpEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PumpEvent]: ...
    def __getitem__(self, index: int | slice) -> PumpEvent | Sequence[PumpEvent]:
        return self._loaded()[index]

    def __len__(self) -> int:
        return len(self._loaded())

    def __iter__(self) -> Iterator[PumpEvent]:
        return iter(self._loaded())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same events (a tuple of them, as built in tests)."""
        if isinstance(other, StoredEvents):
            return self._loaded() == other._loaded()
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._loaded() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._loaded())

    def __repr__(self) -> str:
        state = "not read yet" if self._events is None else f"{len(self._events)} events"
        return f"StoredEvents(patient {self._patient_id}, {state})"


@dataclass(frozen=True)
class PatientHistory:
    """Everything stored for one patient, effective versions, oldest first. ``events`` is
    read when first used (:class:`StoredEvents`)."""

    patient: Patient
    versions: tuple[rec.Recorded[Patient], ...]
    registrations: tuple[rec.Registration, ...]
    pumps: tuple[Pump, ...]
    readings: tuple[Reading, ...]
    events: Sequence[PumpEvent]
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
    cursor = db.execute(sql, params)
    names = tuple(d[0] for d in cursor.description)
    return [_kept_overview_row(names, values, today) for values in cursor]


@functools.lru_cache(maxsize=50_000)
def _kept_overview_row(
    names: tuple[str, ...], values: tuple[Any, ...], today: date
) -> PatientOverview:
    """One list row, made once for the same stored values on the same day: after a write
    only the rows it changed are made again, and the others stay the very same objects, so
    the worklist can keep the lines it made from them (``services.worklist.LinesKept``)."""
    return _overview_row(dict(zip(names, values, strict=True)), today)


def patient_pump_serials(db: Database) -> dict[int, tuple[str, ...]]:
    """Every pump ever registered to each patient (explanted ones too), by patient id: the
    patient list's search finds a patient by any of them."""
    sql = (
        "SELECT r.patient_id, r.pump_serial FROM pump_registrations r"
        f" WHERE r.patient_id IS NOT NULL AND {effective('pump_registrations', 'r')}"
        " ORDER BY r.effective_at, r.id"
    )
    serials: dict[int, list[str]] = {}
    for patient_id, serial in db.execute(sql).fetchall():
        found = serials.setdefault(int(patient_id), [])
        if serial not in found:
            found.append(serial)
    return {pid: tuple(found) for pid, found in serials.items()}


@dataclass(frozen=True)
class PatientList:
    """The whole patient list as the window keeps it: a row per current patient and the
    serials of every pump each one ever had (for the search)."""

    rows: tuple[PatientOverview, ...]
    serials: dict[int, tuple[str, ...]]
    stale: tuple[str, ...] = ()
    """Pumps whose stored forecast was missing or out of date when the list was read (their
    rows carry no dates until it is worked out)."""


def read_patient_list(path: Path, today: date, inputs_key: str) -> PatientList:
    """The patient list read through a read-only connection of its own to the database
    file, so it can be read on a worker thread while the window keeps answering (a
    connection never moves between threads; WAL lets it read beside the window's)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        db = Database(conn, execute_plugins=False)
        conn.execute("BEGIN")  # one snapshot for the three reads
        return PatientList(
            tuple(patients_overview(db, today, inputs_key)),
            patient_pump_serials(db),
            tuple(stale_forecast_pumps(db, inputs_key)),
        )
    finally:
        conn.close()


def forecast_stamp(db: Database, serial: str, inputs_key: str) -> str | None:
    """When the pump's stored forecast under ``inputs_key`` was computed (None: there is
    none, or it was dropped because a record it rests on was written). Equal stamps mean
    the very same stored forecast, so a forecast kept in memory with it is still valid."""
    row = db.execute(
        "SELECT computed_at FROM pump_forecast WHERE pump_serial = ? AND inputs_key = ?",
        [serial, inputs_key],
    ).fetchone()
    return None if row is None else str(row[0])


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
    return PatientHistory(
        patient=versions[-1].record,
        versions=tuple(versions),
        registrations=tuple(registrations),
        pumps=tuple(pumps),
        readings=tuple(rec.reading_from_row(r) for r in rows("readings")),
        events=StoredEvents(db, patient_id),
        refills=tuple(rec.refill_from_row(r) for r in rows("refills")),
        program_changes=tuple(rec.program_change_from_row(r) for r in rows("program_changes")),
    )


# --------------------------------------------------------------------------- every version


#: Audited actions on a pump that create no clinical row but belong in its patient's
#: history: the pump clock set (or not) with the user's agreement, and a program whose
#: read-back differed from what was sent.
PUMP_ACTIONS = ("pump_clock_set", "pump_clock_set_failed", "program_readback_differs")


@dataclass(frozen=True)
class PatientRecords:
    """Every stored version of one patient's records, each with its stamp (who, role, when,
    what it corrects), oldest first within each table: corrected and withdrawn versions
    too, so a history can show each correction next to what it corrects.
    :class:`PatientHistory` holds only the effective versions, without stamps."""

    patient_versions: tuple[rec.Recorded[Patient], ...]
    registrations: tuple[rec.Recorded[rec.Registration], ...]
    """Registrations of a pump to this patient (not the rows ending them)."""
    pump_versions: tuple[rec.Recorded[Pump], ...]
    """Every version of the details of each pump ever registered to the patient."""
    readings: tuple[rec.Recorded[Reading], ...]
    refills: tuple[rec.Recorded[Refill], ...]
    program_changes: tuple[rec.Recorded[ProgramChange], ...]
    bridges: dict[int, tuple[int, int, int]]
    """Bridge boluses by the id of the refill row that started them: (volume µL,
    concentration in the line before, minutes)."""
    explants: tuple[dict[str, Any], ...]
    catheter_revisions: tuple[dict[str, Any], ...]
    screening_trials: tuple[dict[str, Any], ...]
    statuses: tuple[dict[str, Any], ...]
    """patient_status rows (candidate, active, inactive, deceased), oldest first."""
    pump_actions: tuple[dict[str, Any], ...]
    """Audit entries of :data:`PUMP_ACTIONS` on a pump while it was this patient's."""


def patient_records(db: Database, patient_id: int) -> PatientRecords:
    """Every version of every record of one patient, with stamps (see
    :class:`PatientRecords`). Index reads by patient, pump serial and audit action."""

    def rows(table: str, where: str, params: list[Any], order: str = "id") -> list[dict[str, Any]]:
        return list(db.query(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", params))

    def recorded(table: str, build: Any) -> tuple[rec.Recorded[Any], ...]:
        return tuple(
            rec.Recorded(build(r), rec.stamp_from_row(r))
            for r in rows(table, "patient_id = ?", [patient_id])
        )

    registrations = recorded("pump_registrations", rec.registration_from_row)
    serials = sorted({r.record.pump_serial for r in registrations})
    marks = ", ".join("?" * len(serials))
    pump_versions = tuple(
        rec.Recorded(rec.pump_from_row(r, patient_id), rec.stamp_from_row(r))
        for r in rows("pump_versions", f"pump_serial IN ({marks})", list(serials))
    )
    refills = recorded("refills", rec.refill_from_row)
    refill_ids = [r.stamp.record_id for r in refills]
    bridges = {
        int(r["refill_id"]): (
            int(r["volume_ul"]),
            int(r["from_concentration_mcg_ml"]),
            int(r["duration_min"]),
        )
        for r in rows(
            "refill_bridges", f"refill_id IN ({', '.join('?' * len(refill_ids))})", refill_ids
        )
    }
    # Actions with no clinical row have no table_name (an indexed condition); each is kept
    # when its pump was registered to this patient at the time.
    actions = rows(
        "audit_log a",
        "a.table_name IS NULL AND a.action IN ({}) AND json_valid(a.payload)"
        " AND (SELECT r.patient_id FROM pump_registrations r"
        "      WHERE r.pump_serial = json_extract(a.payload, '$.pump_serial')"
        "      AND r.effective_at <= a.at AND {}"
        "      ORDER BY r.effective_at DESC, r.id DESC LIMIT 1) = ?".format(
            ", ".join("?" * len(PUMP_ACTIONS)), effective("pump_registrations", "r")
        ),
        [*PUMP_ACTIONS, patient_id],
        order="a.seq",
    )
    return PatientRecords(
        patient_versions=recorded("patient_versions", rec.patient_from_row),
        registrations=registrations,
        pump_versions=pump_versions,
        readings=recorded("readings", rec.reading_from_row),
        refills=refills,
        program_changes=recorded("program_changes", rec.program_change_from_row),
        bridges=bridges,
        explants=tuple(rows("pump_explants", "patient_id = ?", [patient_id])),
        catheter_revisions=tuple(rows("catheter_revisions", "patient_id = ?", [patient_id])),
        screening_trials=tuple(rows("screening_trials", "patient_id = ?", [patient_id])),
        statuses=tuple(rows("patient_status", "patient_id = ?", [patient_id])),
        pump_actions=tuple(actions),
    )


# --------------------------------------------------------------------------- the refill log


@dataclass(frozen=True)
class RefillRecord:
    """One refill as it stands (the latest version of its record, any status), with the
    patient it was recorded for and who did it: a line of the clinic's refill log, which a
    drug recall searches by lot."""

    refill: Refill
    patient: Patient
    """The patient's current details."""
    pump_model: str | None
    recorded: rec.Stamp
    """Who recorded the refill, and when (the first version of the record)."""
    latest: rec.Stamp
    """The latest version: a status settled later, a correction, or withdrawal (its
    ``entered_in_error``) is stamped here; the same as ``recorded`` when never corrected."""

    @property
    def entered_in_error(self) -> bool:
        return self.latest.entered_in_error


_REFILL_LOG_SQL = """
SELECT t.*, cpu.model AS pump_model,
  v.patient_id AS p_patient_id, v.family_name AS p_family_name, v.given_name AS p_given_name,
  v.date_of_birth AS p_date_of_birth, v.hospital_number AS p_hospital_number,
  v.nhs_number AS p_nhs_number, v.origin AS p_origin
FROM refills t
JOIN current_patient cp ON cp.patient_id = t.patient_id
JOIN patient_versions v ON v.id = cp.version_id
LEFT JOIN current_pump cpu ON cpu.pump_serial = t.pump_serial
WHERE NOT EXISTS (SELECT 1 FROM refills c WHERE c.corrects_id = t.id) {where}
ORDER BY t.at, t.id
"""


def refill_log(
    db: Database,
    *,
    lot: str | None = None,
    product: str | None = None,
    since: datetime | None = None,
    patient_id: int | None = None,
) -> list[RefillRecord]:
    """Refills across the clinic, oldest first: every status (confirmed, pending, failed)
    and records withdrawn as entered in error too (marked, never hidden from a recall).
    ``lot`` and ``product`` match whole values, ignoring case and surrounding spaces;
    ``since`` keeps refills at or after that instant; ``patient_id`` one patient's."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if lot is not None:
        where.append("upper(trim(t.lot)) = upper(trim(:lot))")
        params["lot"] = lot
    if product is not None:
        where.append("upper(trim(t.product)) = upper(trim(:product))")
        params["product"] = product
    if since is not None:
        where.append("t.at >= :since")
        params["since"] = rec.utc_iso(since)
    if patient_id is not None:
        where.append("t.patient_id = :patient")
        params["patient"] = patient_id
    sql = _REFILL_LOG_SQL.format(where="".join(f" AND {w}" for w in where))
    out: list[RefillRecord] = []
    for row in db.query(sql, params):
        patient = rec.patient_from_row({k[2:]: v for k, v in row.items() if k.startswith("p_")})
        latest = rec.stamp_from_row(row)
        out.append(
            RefillRecord(
                refill=rec.refill_from_row(row),
                patient=patient,
                pump_model=row["pump_model"],
                recorded=_first_stamp(db, "refills", row) if row["corrects_id"] else latest,
                latest=latest,
            )
        )
    return out


def _first_stamp(db: Database, table: str, row: dict[str, Any]) -> rec.Stamp:
    """The stamp of the first version of ``row``'s record (corrections are few and short,
    so a walk by primary key)."""
    while row.get("corrects_id"):
        row = next(db.query(f"SELECT * FROM {table} WHERE id = ?", [row["corrects_id"]]))
    return rec.stamp_from_row(row)


# --------------------------------------------------------------------------- the worklist
# Batch reads for the clinic-day worklist (itbconsole.services.worklist): one query each for
# every pump on the list, never one per patient.


@dataclass(frozen=True)
class OpenPreparedProgram:
    """A program prepared for review and not yet sent or withdrawn, as the worklist lists
    it (the program itself is read when the editor opens it)."""

    id: int
    pump_serial: str
    patient_id: int
    prepared_at: datetime
    concentration_mcg_ml: int
    reason: str
    prepared_by: str
    prepared_role: str


def open_prepared_programs(db: Database) -> dict[str, OpenPreparedProgram]:
    """Every pump's open prepared program (the latest neither sent nor withdrawn, as
    ``Store.prepared_program`` picks it), by pump serial."""
    sql = (
        "SELECT p.id, p.pump_serial, p.patient_id, p.prepared_at, p.concentration_mcg_ml,"
        " p.reason, p.prepared_by, p.prepared_role FROM prepared_programs p"
        f" WHERE p.status = 'prepared' AND {effective('prepared_programs', 'p')}"
        " ORDER BY p.pump_serial, p.prepared_at DESC, p.id DESC"
    )
    out: dict[str, OpenPreparedProgram] = {}
    for row in db.query(sql):
        if row["pump_serial"] not in out:
            out[row["pump_serial"]] = OpenPreparedProgram(
                id=int(row["id"]),
                pump_serial=row["pump_serial"],
                patient_id=int(row["patient_id"]),
                prepared_at=rec.parse_time(row["prepared_at"]),
                concentration_mcg_ml=int(row["concentration_mcg_ml"]),
                reason=row["reason"],
                prepared_by=row["prepared_by"],
                prepared_role=row["prepared_role"],
            )
    return out


def confirmed_refills(db: Database, serials: Sequence[str]) -> dict[str, list[Refill]]:
    """The effective confirmed refills of each of ``serials``, oldest first, by serial
    (what delivery accuracy and drift are computed from). One indexed query for all."""
    sql = (
        "SELECT t.* FROM refills t WHERE t.pump_serial IN (SELECT value FROM json_each(:s))"
        f" AND t.status = 'confirmed' AND {effective('refills', 't')}"
        " ORDER BY t.pump_serial, t.at, t.id"
    )
    out: dict[str, list[Refill]] = {s: [] for s in serials}
    for row in db.query(sql, {"s": json.dumps(list(serials))}):
        out[row["pump_serial"]].append(rec.refill_from_row(row))
    return out


def latest_fill_products(db: Database, serials: Sequence[str]) -> dict[str, tuple[str, int]]:
    """(product, concentration) of each pump's latest effective confirmed refill: the fill
    the forecast counts from, whose product's maximum time in the pump applies. Pumps
    never refilled are left out."""
    sql = (
        "SELECT s.value AS serial, t.product, t.concentration_mcg_ml FROM json_each(:s) s"
        " JOIN refills t ON t.id = (SELECT r.id FROM refills r WHERE r.pump_serial = s.value"
        f" AND r.status = 'confirmed' AND {effective('refills', 'r')}"
        " ORDER BY r.at DESC, r.id DESC LIMIT 1)"
    )
    return {
        row["serial"]: (row["product"], int(row["concentration_mcg_ml"]))
        for row in db.query(sql, {"s": json.dumps(list(serials))})
    }


def forecast_versions(db: Database, inputs_key: str) -> dict[str, str]:
    """When each pump's stored forecast (computed under ``inputs_key``) was computed, by
    serial. A stored forecast is deleted by a trigger whenever a record of its pump is
    written, so an unchanged value means the pump's records are unchanged: figures derived
    from the same records (delivery drift) can be kept while it stays the same."""
    return {
        row["pump_serial"]: row["computed_at"]
        for row in db.query(
            "SELECT pump_serial, computed_at FROM pump_forecast WHERE inputs_key = :key",
            {"key": inputs_key},
        )
    }
