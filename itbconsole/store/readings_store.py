"""Interrogation records: :class:`ReadingRecords`, the readings part of the :class:`Store`.

What an interrogation brings back: the pump's reading (with the battery dates and the
low-reservoir alarm date it reports) and its log of events, saved together or not at all. Read back for the Trends tab as
columns (:meth:`ReadingRecords.trend_records`, :mod:`itbconsole.store.columns`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from itbconsole.model import Patient, Pump, PumpEvent, Reading, User
from itbconsole.store import audit, queries
from itbconsole.store import records as rec
from itbconsole.store.db import transaction, utc_iso, utc_now
from itbconsole.store.store_base import StoreBase

if TYPE_CHECKING:
    from itbconsole.store.columns import TrendRecords


class ReadingRecords(StoreBase):
    """Readings, battery and alarm-date reports and pump events from interrogations."""

    if TYPE_CHECKING:
        # Defined by PumpRecords and RefillRecords.
        def get_pump(self, serial: str) -> Pump | None: ...
        def bridges(self, serial: str) -> dict[datetime, tuple[int, int]]: ...

    def trend_records(self, patient_id: int) -> tuple[Patient, TrendRecords | None]:
        """The patient, and what the Trends tab draws for the pump registered to them now
        (None without one): its readings as numpy columns, without a ``Reading`` object or
        a JSON parse per row (:mod:`itbconsole.store.columns`), and its other records.
        numpy comes with it, loaded here on first use rather than at startup."""
        from itbconsole.store import columns

        patient = columns.patient_details(self.db, patient_id)
        serial = columns.current_pump_serial(self.db, patient_id)
        pump = self.get_pump(serial) if serial is not None else None
        if pump is None:
            return patient, None
        refills, changes = columns.pump_refills_and_changes(self.db, patient_id, pump.serial)
        readings = columns.reading_columns(
            self.db, patient_id, pump.serial, [c.at for c in changes]
        )
        events = columns.event_rows(self.db, patient_id, pump.serial)
        return patient, columns.TrendRecords(
            patient, pump, readings, refills, changes, tuple(events), self.bridges(pump.serial)
        )

    def add_reading(
        self, reading: Reading, user: User, *, patient_id: int | None = None
    ) -> Reading:
        """Store one interrogation for the pump's owner (must equal ``patient_id`` if given)."""
        with transaction(self.db):
            owner = self._owner_for_write(reading.pump_serial, patient_id)
            new_id = self._insert(
                "readings", {**rec.reading_row(reading), "patient_id": owner}, user, "create"
            )
            if reading.eri_date is not None or reading.eos_date is not None:
                self._insert(
                    "battery_reports",
                    {
                        "reading_id": new_id,
                        "pump_serial": reading.pump_serial,
                        "eri_date": reading.eri_date.isoformat() if reading.eri_date else None,
                        "eos_date": reading.eos_date.isoformat() if reading.eos_date else None,
                    },
                    user,
                    "create",
                )
            if reading.pump_alarm_date is not None:
                self._insert(
                    "pump_alarm_reports",
                    {
                        "reading_id": new_id,
                        "pump_serial": reading.pump_serial,
                        "alarm_date": reading.pump_alarm_date.isoformat(),
                    },
                    user,
                    "create",
                )
        return replace(reading, id=new_id)

    def pump_alarm_dates(self, reading_ids: Iterable[int]) -> dict[int, date]:
        """The pump's own projected low-reservoir alarm date reported with each of these
        readings (by reading id; readings without one are left out). The caller reads only
        readings that still stand (not corrected, not entered in error): a correction is a
        new reading row with no report, so correcting a reading withdraws the pump's date."""
        ids = sorted(set(reading_ids))
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT reading_id, alarm_date FROM pump_alarm_reports"
            f" WHERE reading_id IN ({', '.join('?' * len(ids))})",
            ids,
        ).fetchall()
        return {int(r[0]): date.fromisoformat(r[1]) for r in rows}

    def latest_battery_report(self, serial: str) -> tuple[date | None, date | None] | None:
        """The pump's own (ERI date, End of Service date) from its latest reading that
        reported them and still stands (not corrected, not entered in error), or None."""
        row = self.db.execute(
            "SELECT b.eri_date, b.eos_date FROM battery_reports b"
            " JOIN readings t ON t.id = b.reading_id"
            f" WHERE b.pump_serial = ? AND {queries.effective('readings', 't')}"
            " ORDER BY t.at DESC, b.reading_id DESC LIMIT 1",
            [serial],
        ).fetchone()
        if row is None:
            return None
        return (
            date.fromisoformat(row[0]) if row[0] else None,
            date.fromisoformat(row[1]) if row[1] else None,
        )

    def add_events(
        self, events: Iterable[PumpEvent], user: User, *, patient_id: int | None = None
    ) -> int:
        """Store pump log entries not stored before (by serial and index); returns how many
        were new. All or none are written."""
        new = 0
        with transaction(self.db):
            owners: dict[str, int] = {}
            for event in events:
                if event.pump_serial not in owners:
                    owners[event.pump_serial] = self._owner_for_write(event.pump_serial, patient_id)
                row = {
                    **rec.event_row(event),
                    "patient_id": owners[event.pump_serial],
                    **rec.stamp_columns(user, utc_now()),
                }
                cursor = self.db.execute(
                    f"INSERT INTO pump_events ({', '.join(row)}) VALUES "
                    f"({', '.join(':' + c for c in row)}) "
                    "ON CONFLICT (pump_serial, event_index) DO NOTHING",
                    row,
                )
                if cursor.rowcount == 1:
                    audit.append(
                        self.db,
                        user,
                        "create",
                        table="pump_events",
                        record_id=int(cursor.lastrowid or 0),
                    )
                    new += 1
        return new

    def add_interrogation(
        self,
        reading: Reading,
        events: Iterable[PumpEvent],
        user: User,
        *,
        patient_id: int | None = None,
    ) -> tuple[Reading, int]:
        """Store one interrogation's reading and its new pump events as one record (all or
        none). Returns the stored reading and how many events were new."""
        with self.atomic():
            saved = self.add_reading(reading, user, patient_id=patient_id)
            new = self.add_events(events, user, patient_id=patient_id)
        return saved, new

    def last_event_index(self, serial: str) -> int:
        """The highest pump-log index stored for this pump (-1 when none), so the next
        interrogation need only read the log from the index after it."""
        row = self.db.execute(
            "SELECT MAX(event_index) FROM pump_events WHERE pump_serial = ?", [serial]
        ).fetchone()
        return -1 if row[0] is None else int(row[0])

    def pump_events_between(
        self, patient_id: int, serial: str, since: datetime, until: datetime
    ) -> list[PumpEvent]:
        """Pump ``serial``'s log entries on patient ``patient_id``'s record from ``since`` to
        ``until`` (both included), in time order: what happened since a refill, without
        decoding the thousands of entries before it. One range read of the
        ``pump_events_patient`` index (patient, time); stored times are fixed-width UTC text,
        so text order is time order."""
        rows = self.db.query(
            "SELECT * FROM pump_events WHERE patient_id = ? AND at >= ? AND at <= ?"
            " AND pump_serial = ? ORDER BY at, event_index",
            [patient_id, utc_iso(since), utc_iso(until), serial],
        )
        return [rec.event_from_row(r) for r in rows]
