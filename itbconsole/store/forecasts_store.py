"""The forecast cache: :class:`ForecastRecords`, the forecast part of the :class:`Store`.

Each pump's computed forecast is kept (derived data, dropped by triggers whenever a record
it rests on is written) so the clinic-wide list and the due list are an index read; and the
records one pump's forecast rests on are read here with a few indexed queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from itbconsole.forecast import ForecastSummary
from itbconsole.model import ProgramChange, Reading, Refill
from itbconsole.store import queries
from itbconsole.store import records as rec
from itbconsole.store.audit import canonical_json
from itbconsole.store.db import transaction, utc_iso, utc_now
from itbconsole.store.store_base import StoreBase


class ForecastRecords(StoreBase):
    """Stored forecasts, the list of pumps due, and the records a forecast rests on."""

    if TYPE_CHECKING:
        # Defined by RefillRecords (refills_store); a forecast counts the bridge boluses.
        def bridges(self, serial: str) -> dict[datetime, tuple[int, int]]: ...
        # Defined by ReadingRecords (readings_store): the pump's own alarm dates.
        def pump_alarm_dates(self, reading_ids: Iterable[int]) -> dict[int, date]: ...

    def refill_due(
        self, before: date, *, today: date, inputs_key: str
    ) -> list[queries.PatientOverview]:
        return queries.refill_due(self.db, before, today, inputs_key)

    def stale_forecasts(
        self, inputs_key: str, patient_ids: Sequence[int] | None = None
    ) -> list[str]:
        return queries.stale_forecast_pumps(self.db, inputs_key, patient_ids)

    def save_forecast(self, inputs_key: str, summary: ForecastSummary) -> None:
        """Keep a pump's forecast (derived data: not audited; triggers delete it whenever a
        record it rests on is written)."""
        with transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO pump_forecast (pump_serial, inputs_key, computed_at,"
                " refill_by, alarm_at, summary_json) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    summary.serial,
                    inputs_key,
                    utc_iso(utc_now()),
                    summary.refill_by.isoformat() if summary.refill_by else None,
                    utc_iso(summary.alarm_at) if summary.alarm_at else None,
                    canonical_json(summary.to_json()),
                ],
            )

    def stored_forecast_stamped(
        self, serial: str, inputs_key: str
    ) -> tuple[str, ForecastSummary] | None:
        """The pump's stored forecast with its stamp (when it was computed), in one read."""
        row = self.db.execute(
            "SELECT computed_at, summary_json FROM pump_forecast"
            " WHERE pump_serial = ? AND inputs_key = ?",
            [serial, inputs_key],
        ).fetchone()
        return None if row is None else (str(row[0]), ForecastSummary.from_json(json.loads(row[1])))

    def stored_forecast(self, serial: str, inputs_key: str) -> ForecastSummary | None:
        row = self.db.execute(
            "SELECT summary_json FROM pump_forecast WHERE pump_serial = ? AND inputs_key = ?",
            [serial, inputs_key],
        ).fetchone()
        return ForecastSummary.from_json(json.loads(row[0])) if row else None

    def forecast_records(
        self, serial: str
    ) -> tuple[
        list[Reading],
        list[Refill],
        list[ProgramChange],
        dict[datetime, tuple[int, int]],
        tuple[datetime | None, datetime] | None,
    ]:
        """What the forecast of one pump rests on, read with a few indexed queries: the
        latest reading and the latest at or before the last fill, confirmed refills,
        verified and uncertain program changes, bridges (by refill time) and the ERI
        window. Each reading carries the pump's own alarm date when it reported one."""
        eff = queries.effective
        fills = [
            rec.refill_from_row(r)
            for r in self.db.query(
                f"SELECT * FROM refills t WHERE t.pump_serial = ? AND t.status = 'confirmed'"
                f" AND {eff('refills', 't')} ORDER BY t.at, t.id",
                [serial],
            )
        ]
        changes = [
            rec.program_change_from_row(r)
            for r in self.db.query(
                f"SELECT * FROM program_changes t WHERE t.pump_serial = ?"
                f" AND t.outcome IN ('succeeded', 'uncertain') AND {eff('program_changes', 't')}"
                " ORDER BY t.at, t.id",
                [serial],
            )
        ]
        reading_sql = (
            f"SELECT * FROM readings t WHERE t.pump_serial = ? AND {eff('readings', 't')}"
            " {cond} ORDER BY t.at DESC, t.id DESC LIMIT 1"
        )
        readings: dict[int, Reading] = {}
        latest = next(self.db.query(reading_sql.format(cond=""), [serial]), None)
        if latest is not None:
            readings[int(latest["id"])] = rec.reading_from_row(latest)
        if fills:
            at_fill = next(
                self.db.query(
                    reading_sql.format(cond="AND t.at <= ?"), [serial, utc_iso(fills[-1].at)]
                ),
                None,
            )
            if at_fill is not None:
                readings[int(at_fill["id"])] = rec.reading_from_row(at_fill)
        bridges = self.bridges(serial)
        window: tuple[datetime | None, datetime] | None = None
        first = self.db.execute(
            f"SELECT at FROM readings t WHERE t.pump_serial = ? AND t.eri = 1"
            f" AND {eff('readings', 't')} ORDER BY t.at, t.id LIMIT 1",
            [serial],
        ).fetchone()
        if first is not None:
            before = self.db.execute(
                f"SELECT MAX(at) FROM readings t WHERE t.pump_serial = ? AND t.eri = 0"
                f" AND t.at < ? AND {eff('readings', 't')}",
                [serial, first[0]],
            ).fetchone()
            window = (rec.parse_time(before[0]) if before[0] else None, rec.parse_time(first[0]))
        # The pump's own alarm date, with the readings that reported it.
        reported = self.pump_alarm_dates(readings)
        ordered = sorted(
            (replace(r, pump_alarm_date=reported.get(i)) for i, r in readings.items()),
            key=lambda r: (r.at, r.id or 0),
        )
        return ordered, fills, changes, bridges, window
