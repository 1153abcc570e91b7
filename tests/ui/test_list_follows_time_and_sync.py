"""The patient list never keeps dates or statuses that have stopped being true: records that
arrive from another room (the sync writes them on its own connection) and a new day (a
window left open overnight) both bring the affected rows, and the open patient, up to date.

Both were found showing "On track" for a pump that was overdue: the list re-read only the
open patient's row after a sync, and read statuses for the day the list was first read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from itbconsole.druglib import load_drug_library
from itbconsole.forecast import Status
from itbconsole.model import Origin, Patient
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from tests.itbconsole.test_forecast import LONDON, NURSE, pump, reading, refill
from tests.ui.conftest import RecordedPrompts
from ui.main_window import MainWindow

FILLED = datetime(2026, 11, 1, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _two_patients(db: Path) -> tuple[int, int]:
    store = Store.open(db)
    ids = []
    for family, hosp, serial in (("Alpha", "H1", "NGP1"), ("Bravo", "H2", "NGP2")):
        p = store.add_patient(Patient(family, "Ann", date(1980, 5, 17), hosp, Origin.SPINAL), NURSE)
        assert p.id is not None
        store.register_pump(pump(serial=serial), p.id, NURSE)
        store.add_refill(refill(FILLED, pump_serial=serial), NURSE)
        store.add_reading(reading(FILLED + timedelta(minutes=5), 40_000, pump_serial=serial), NURSE)
        ids.append(p.id)
    store.close()
    return ids[0], ids[1]


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, Clock, Path, int, int]]:
    db = tmp_path / "c.sqlite"
    alpha, bravo = _two_patients(db)
    store = Store.open(db)
    clinic = ClinicService(store, load_drug_library(), NURSE, LONDON)
    clock = Clock(NOW)
    w = MainWindow(
        clinic,
        log_path=tmp_path / "log",
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        discover_ports=lambda: [],
        now=clock,
    )
    w.prompts = RecordedPrompts()  # type: ignore[assignment]
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.patient_list.loaded, timeout=10_000)
    yield w, clock, db, alpha, bravo
    w.close()
    store.close()


def _row(w: MainWindow, pid: int) -> tuple[date | None, Status | None]:
    model = w.patient_list.model
    row = next(r for r in model.all_rows if r.patient.id == pid)
    return row.refill_by, row.status.status if row.status else None


def test_records_from_another_room_update_their_rows_not_only_the_open_one(
    qtbot: QtBot, window: tuple[MainWindow, Clock, Path, int, int]
) -> None:
    w, _clock, db, alpha, bravo = window
    w.open_patient(alpha)
    assert _row(w, bravo) == (date(2027, 4, 30), Status.OK)  # 180 days from the fill
    # Another room's reading for Bravo, written as the sync writes it: its own connection.
    other = Store.open(db)
    other.add_reading(
        reading(NOW - timedelta(hours=1), 2_100, pump_serial="NGP2"), NURSE
    )  # 2.1 mL: the alarm is days away
    other.close()
    w.refresh_patients()  # what the sync's "records arrived" calls
    refill_by, status = _row(w, bravo)
    assert status is Status.OVERDUE and refill_by is not None and refill_by < NOW.date()
    assert _row(w, alpha) == (date(2027, 4, 30), Status.OK)


def test_the_open_patient_is_shown_again_when_another_room_changes_its_dates(
    qtbot: QtBot, window: tuple[MainWindow, Clock, Path, int, int]
) -> None:
    w, _clock, db, _alpha, bravo = window
    w.open_patient(bravo)
    overview = w.patient_view.overview
    assert "30 Apr 2027" in overview.refill_value.text()
    other = Store.open(db)
    other.add_reading(reading(NOW - timedelta(hours=1), 2_100, pump_serial="NGP2"), NURSE)
    other.close()
    w.refresh_patients()
    assert "30 Apr 2027" not in overview.refill_value.text()
    assert "25 Nov 2026" in overview.refill_value.text()


def test_a_new_day_reads_every_status_again(
    qtbot: QtBot, window: tuple[MainWindow, Clock, Path, int, int]
) -> None:
    w, clock, _db, alpha, bravo = window
    w.open_patient(bravo)
    assert _row(w, alpha) == (date(2027, 4, 30), Status.OK)
    clock.at = datetime(2027, 5, 2, 9, tzinfo=UTC)  # Alpha's refill-by has passed
    w.refresh_patients()  # any save, or the timer set for the clinic's next midnight
    qtbot.waitUntil(lambda: _row(w, alpha)[1] is Status.OVERDUE, timeout=10_000)
    assert _row(w, bravo)[1] is Status.OVERDUE


def test_the_new_day_timer_is_set_for_the_clinics_next_midnight(
    window: tuple[MainWindow, Clock, Path, int, int],
) -> None:
    w, _clock, _db, _alpha, _bravo = window
    # 09:00 UTC on 30 Nov = 09:00 GMT: the next London midnight is 15 h away (+ 1 s).
    assert w._new_day_timer.isActive()
    assert abs(w._new_day_timer.interval() - (15 * 3600 + 1) * 1000) < 5_000
    w._new_day_timer.timeout.emit()  # the timer firing on the same day changes nothing
    assert w.patient_list.loaded
