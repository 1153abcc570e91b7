"""Columnar reads for plots: one pump's readings as numpy arrays, without a Python object,
a JSON parse or a ``datetime`` per row.

Why: ten years of hourly readings are 87,600 rows. Turning each into a
:class:`~itbconsole.model.Reading` (two timestamps and two JSON documents parsed per row)
took over a second, most of the Trends tab's wait. A plot needs only the time, the volume,
the battery voltage and the ERI and End of Service flags of every row, and the full record
of the few rows where something changes (the program, the alarms shown). So SQLite formats
each row as one fixed-width text record (the stored ISO time, then the numbers in
hexadecimal), joins them into one string, and numpy cuts that string into columns. A value
too wide for its field (which no real pump reports) makes the string the wrong length, and
the read then falls back to ordinary rows: slower, never wrong.

Rows are the *effective* versions (not entered in error, not corrected), as every other read
of the store (:func:`itbconsole.store.queries.effective`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlite_utils import Database

from itbconsole.model import Patient, ProgramChange, Pump, Reading, Refill
from itbconsole.store import records as rec
from itbconsole.store.db import utc_iso
from itbconsole.store.errors import BUSY_TIMEOUT_MS, StoreConnection

if TYPE_CHECKING:
    from itbconsole.store.repository import Store

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The stored time's fixed width (``utc_iso``: ``2026-03-29T01:30:00.000000+00:00``).
_AT_WIDTH = 32
#: The separators of that time (``-``, ``T``, ``:``, ``.``, ``+00:00``) and its digits, where
#: every record must have them: a row stored any other way sends the read to the row-by-row
#: fallback.
_AT_PATTERN = "0000-00-00T00:00:00.000000+00:00"
_AT_SEPARATORS = [k for k, c in enumerate(_AT_PATTERN) if c != "0" or k >= 26]
_AT_SEPARATOR_CHARS = np.frombuffer(
    "".join(_AT_PATTERN[k] for k in _AT_SEPARATORS).encode("ascii"), dtype=np.uint8
)
_AT_DIGITS = [k for k, c in enumerate(_AT_PATTERN) if c == "0" and k < 26]
_IS_DIGIT = np.zeros(256, dtype=np.bool_)
_IS_DIGIT[ord("0") : ord("9") + 1] = True
_IS_HEX_DIGIT = _IS_DIGIT.copy()
_IS_HEX_DIGIT[ord("A") : ord("F") + 1] = True
#: (name, hexadecimal digits) after the time: id, volume, battery, flags (eri + 2 x eos).
_FIELDS = (("id", 8), ("reservoir_ul", 6), ("battery_mv", 5), ("flags", 1))
#: flags: 1 ERI, 2 End of Service, 4 an alarm shown.
_RECORD_WIDTH = _AT_WIDTH + sum(width for _, width in _FIELDS)
_PRINTF = "'%s" + "".join(f"%0{width}X" for _, width in _FIELDS) + "'"

#: Effective readings of one pump on one patient's record.
_EFFECTIVE_READINGS = (
    "FROM readings t WHERE t.patient_id = :patient AND t.pump_serial = :serial"
    " AND t.entered_in_error = 0 AND t.id NOT IN"
    " (SELECT c.corrects_id FROM readings c WHERE c.corrects_id IS NOT NULL)"
)
_RECORDS_SQL = (
    "SELECT group_concat(record, '') FROM (SELECT printf("
    + _PRINTF
    + ", t.at, t.id, t.reservoir_ul, t.battery_mv,"
    " t.eri + 2 * t.eos + 4 * (t.alarms_json != '[]')) AS record "
    + _EFFECTIVE_READINGS
    + " ORDER BY t.at, t.id)"
)
_ROWS_SQL = (
    "SELECT t.at, t.id, t.reservoir_ul, t.battery_mv,"
    " t.eri + 2 * t.eos + 4 * (t.alarms_json != '[]') "
    + _EFFECTIVE_READINGS
    + " ORDER BY t.at, t.id"
)


@dataclass(frozen=True, eq=False)
class ReadingColumns:
    """One pump's effective readings, oldest first, as columns, with the full record of the
    rows where the program or the alarms shown change."""

    at_s: FloatArray
    """Epoch seconds (UTC), exact to the microsecond stored."""
    ids: IntArray
    reservoir_ul: FloatArray
    battery_mv: FloatArray
    eri: npt.NDArray[np.bool_]
    eos: npt.NDArray[np.bool_]
    program_readings: tuple[Reading, ...]
    """The readings where the program or concentration shown differs from the reading
    before (and the first after each given change time): with the program changes they
    make the same :class:`~itbconsole.forecast.ProgramTimeline` as every reading would."""
    alarm_readings: tuple[tuple[int, tuple[str, ...]], ...]
    """(row index, alarm codes) of every reading that showed an alarm."""
    last: Reading | None
    """The latest reading in full (its alarm volume is the plot's alarm line)."""

    def __len__(self) -> int:
        return len(self.at_s)

    @classmethod
    def from_readings(cls, readings: Sequence[Reading]) -> ReadingColumns:
        """The same columns from readings already in memory (oldest first)."""
        n = len(readings)
        return cls(
            at_s=np.fromiter((r.at.timestamp() for r in readings), np.float64, n),
            ids=np.fromiter((r.id or 0 for r in readings), np.int64, n),
            reservoir_ul=np.fromiter((r.reservoir_ul for r in readings), np.float64, n),
            battery_mv=np.fromiter((r.battery_mv for r in readings), np.float64, n),
            eri=np.fromiter((r.eri for r in readings), np.bool_, n),
            eos=np.fromiter((r.eos for r in readings), np.bool_, n),
            program_readings=tuple(readings),
            alarm_readings=tuple((k, tuple(r.alarms)) for k, r in enumerate(readings) if r.alarms),
            last=readings[-1] if readings else None,
        )


def _number(chars: npt.NDArray[np.uint8], first: int, width: int, base: int) -> IntArray:
    """The whole number written in columns ``first`` to ``first + width`` of each row."""
    out = np.zeros(len(chars), dtype=np.int64)
    for column in range(first, first + width):
        digit = chars[:, column].astype(np.int64)
        if base == 16:
            digit = np.where(digit >= ord("A"), digit - (ord("A") - 10), digit - ord("0"))
        else:
            digit -= ord("0")
        out *= base
        out += digit
    return out


def _epoch_seconds(chars: npt.NDArray[np.uint8]) -> FloatArray:
    """Epoch seconds from ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (days from the civil date by
    the proleptic Gregorian calendar, as ``datetime`` counts them)."""
    year, month, day = _number(chars, 0, 4, 10), _number(chars, 5, 2, 10), _number(chars, 8, 2, 10)
    clock = _number(chars, 11, 2, 10) * 3_600 + _number(chars, 14, 2, 10) * 60
    clock += _number(chars, 17, 2, 10)
    micro = _number(chars, 20, 6, 10)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    whole = days * 86_400 + clock
    return whole.astype(np.float64) + micro.astype(np.float64) / 1e6


def _parse_records(text: str) -> tuple[FloatArray, IntArray, IntArray, IntArray, IntArray] | None:
    """The columns of the joined fixed-width records; None when a field overflowed."""
    raw = text.encode("ascii")
    if len(raw) % _RECORD_WIDTH:
        return None
    chars = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD_WIDTH)
    if not (chars[:, _AT_SEPARATORS] == _AT_SEPARATOR_CHARS).all():
        return None  # not the fixed-width UTC time every row is stored with
    if not _IS_DIGIT[chars[:, :_AT_WIDTH][:, _AT_DIGITS]].all():
        return None
    if not _IS_HEX_DIGIT[chars[:, _AT_WIDTH:]].all():
        return None
    out: list[IntArray] = []
    start = _AT_WIDTH
    for _, width in _FIELDS:
        out.append(_number(chars, start, width, 16))
        start += width
    return _epoch_seconds(chars), out[0], out[1], out[2], out[3]


def _parse_rows(
    rows: Sequence[tuple[Any, ...]],
) -> tuple[FloatArray, IntArray, IntArray, IntArray, IntArray]:
    at_s = np.fromiter((rec.parse_time(r[0]).timestamp() for r in rows), np.float64, len(rows))
    ints = np.array([r[1:] for r in rows], dtype=np.int64).reshape(len(rows), 4)
    return at_s, ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3]


def _program_readings(
    db: Database, params: dict[str, Any], after: Sequence[datetime]
) -> tuple[Reading, ...]:
    """Readings where the program or concentration changes, walked with one indexed query
    per run (a run is usually months long), plus the first reading after each of ``after``."""
    select = f"SELECT t.* {_EFFECTIVE_READINGS}"
    order = " ORDER BY t.at, t.id LIMIT 1"
    found: dict[int, dict[str, Any]] = {}
    row = next(db.query(select + order, params), None)
    while row is not None:
        found[int(row["id"])] = row
        row = next(
            db.query(
                select + " AND (t.at > :at OR (t.at = :at AND t.id > :id))"
                " AND (t.program_json != :program OR t.concentration_mcg_ml != :conc)" + order,
                {
                    **params,
                    "at": row["at"],
                    "id": row["id"],
                    "program": row["program_json"],
                    "conc": row["concentration_mcg_ml"],
                },
            ),
            None,
        )
    for moment in after:
        row = next(
            db.query(select + " AND t.at > :at" + order, {**params, "at": utc_iso(moment)}), None
        )
        if row is not None:
            found[int(row["id"])] = row
    readings = (rec.reading_from_row(r) for r in found.values())
    return tuple(sorted(readings, key=lambda r: (r.at, r.id or 0)))


def reading_columns(
    db: Database, patient_id: int, serial: str, change_times: Sequence[datetime] = ()
) -> ReadingColumns:
    """Pump ``serial``'s effective readings on patient ``patient_id``'s record as columns
    (see the module docstring). ``change_times``: the pump's program changes, after each of
    which the first reading is kept in full (it may show the change did not take)."""
    params: dict[str, Any] = {"patient": patient_id, "serial": serial}
    text = db.execute(_RECORDS_SQL, params).fetchone()[0] or ""
    parsed = _parse_records(text)
    if parsed is None:
        parsed = _parse_rows(db.execute(_ROWS_SQL, params).fetchall())
    at_s, ids, reservoir, battery, flags = parsed
    shown = np.flatnonzero(flags & 4)  # the rows that showed an alarm: usually few
    position = {int(ids[k]): int(k) for k in shown}
    with_alarms = list(position)
    alarm_rows = [
        row
        for chunk in range(0, len(with_alarms), 500)
        for row in db.execute(
            "SELECT id, alarms_json FROM readings WHERE id IN "
            f"({', '.join('?' * len(with_alarms[chunk : chunk + 500]))})",
            with_alarms[chunk : chunk + 500],
        ).fetchall()
    ]
    alarms = sorted(
        (position[int(i)], tuple(json.loads(text))) for i, text in alarm_rows if int(i) in position
    )
    last_row = next(
        db.query(f"SELECT t.* {_EFFECTIVE_READINGS} ORDER BY t.at DESC, t.id DESC LIMIT 1", params),
        None,
    )
    return ReadingColumns(
        at_s=at_s,
        ids=ids,
        reservoir_ul=reservoir.astype(np.float64),
        battery_mv=battery.astype(np.float64),
        eri=(flags & 1).astype(np.bool_),
        eos=(flags & 2).astype(np.bool_),
        program_readings=_program_readings(db, params, change_times) if len(ids) else (),
        alarm_readings=tuple(alarms),
        last=None if last_row is None else rec.reading_from_row(last_row),
    )


@dataclass(frozen=True)
class EventRow:
    """A pump log entry as a plot marker needs it (the alarm code, not the whole detail)."""

    at: datetime
    kind: str
    alarm: str


def event_rows(db: Database, patient_id: int, serial: str) -> list[EventRow]:
    """Pump ``serial``'s log entries on patient ``patient_id``'s record, in time order."""
    rows = db.execute(
        "SELECT at, kind, coalesce(json_extract(detail_json, '$.alarm'),"
        " json_extract(detail_json, '$.code'), '') FROM pump_events"
        " WHERE patient_id = ? AND pump_serial = ? ORDER BY at, event_index",
        [patient_id, serial],
    ).fetchall()
    return [EventRow(rec.parse_time(at), str(kind), str(code)) for at, kind, code in rows]


def pump_refills_and_changes(
    db: Database, patient_id: int, serial: str
) -> tuple[tuple[Refill, ...], tuple[ProgramChange, ...]]:
    """Pump ``serial``'s effective refills and program changes (every status and outcome)
    on patient ``patient_id``'s record, oldest first."""
    from itbconsole.store.queries import effective

    def rows(table: str) -> list[dict[str, Any]]:
        return list(
            db.query(
                f"SELECT * FROM {table} t WHERE t.patient_id = ? AND t.pump_serial = ?"
                f" AND {effective(table, 't')} ORDER BY t.at, t.id",
                [patient_id, serial],
            )
        )

    return (
        tuple(rec.refill_from_row(r) for r in rows("refills")),
        tuple(rec.program_change_from_row(r) for r in rows("program_changes")),
    )


@dataclass(frozen=True, eq=False)
class TrendRecords:
    """What one pump's trends are drawn from: its readings as columns and its few other
    records in full."""

    patient: Patient | None
    pump: Pump
    readings: ReadingColumns
    refills: tuple[Refill, ...]
    """This pump's refills, oldest first."""
    changes: tuple[ProgramChange, ...]
    """This pump's program changes (every outcome), oldest first."""
    events: tuple[EventRow, ...]
    bridges: dict[datetime, tuple[int, int]]


def patient_details(db: Database, patient_id: int) -> Patient:
    """The patient's latest details (as :func:`itbconsole.store.queries.patient_history`
    gives them) without reading their records; LookupError when there is none."""
    row = next(
        db.query(
            "SELECT * FROM patient_versions WHERE patient_id = ? ORDER BY id DESC LIMIT 1",
            [patient_id],
        ),
        None,
    )
    if row is None:
        raise LookupError(f"There is no patient with id {patient_id}.")
    return rec.patient_from_row(row)


def current_pump_serial(db: Database, patient_id: int) -> str | None:
    """The pump registered to the patient now (the latest registration still theirs)."""
    row = db.execute(
        "SELECT pump_serial FROM pump_owner WHERE patient_id = ?"
        " ORDER BY effective_at DESC LIMIT 1",
        [patient_id],
    ).fetchone()
    return None if row is None else str(row[0])


def open_reader(path: str | Path) -> Store:
    """A read-only :class:`Store` on its own connection to the database file, for one worker
    thread (a connection never moves between threads). No integrity check and no migration:
    the window's own store did both when it opened this file."""
    from itbconsole.store.repository import Store

    uri = Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=True,
        factory=StoreConnection,
    )
    conn.store_path = str(path)
    db = Database(conn, execute_plugins=False)
    db.execute("PRAGMA query_only = ON")
    return Store(db, Path(path), read_only=True)


__all__ = [
    "EventRow",
    "ReadingColumns",
    "TrendRecords",
    "current_pump_serial",
    "event_rows",
    "open_reader",
    "patient_details",
    "pump_refills_and_changes",
    "reading_columns",
]
