"""A writer process for the crash-safety and live-backup tests (run as a script).

It saves batches in a loop. One batch is one multi-row record saved atomically: a refill,
a reading and EVENTS_PER_BATCH pump events, each with its audit entry. After each commit it
prints ``committed <batch> <refill id>`` and flushes, so the parent knows exactly what was
committed before it kills this process.

Usage: python crash_writer.py DB_PATH
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from itbconsole.model import (  # noqa: E402
    Origin,
    Patient,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
    simple_continuous,
)
from itbconsole.store import Store  # noqa: E402

SERIAL = "CRASH0001"
EVENTS_PER_BATCH = 20
USER = User("Writer Nurse", Role.NURSE)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main(path: str) -> None:
    store = Store.open(path)
    if store.find_pump_owner(SERIAL) is None:
        with store.atomic():
            patient = store.add_patient(
                Patient("Crash", "Test", date(1970, 1, 1), "HCRASH", Origin.SPINAL), USER
            )
            store.register_pump(
                Pump(SERIAL, "Test pump", 40_000, 2_000), patient.id or 0, USER, at=T0
            )
    row = store.db.execute("SELECT COUNT(*) FROM refills").fetchone()
    batch = int(row[0])
    print("ready", flush=True)
    while True:
        at = T0 + timedelta(hours=batch)
        with store.atomic():
            refill = store.add_refill(
                Refill(
                    SERIAL,
                    at,
                    withdrawn_ul=1_000,
                    expected_residual_ul=1_000,
                    added_ul=30_000,
                    product="Test",
                    concentration_mcg_ml=2000,
                    lot=f"L{batch}",
                    expiry=date(2030, 1, 1),
                    note=f"batch {batch}",
                ),
                USER,
            )
            store.add_reading(
                Reading(
                    SERIAL,
                    at,
                    at,
                    31_000,
                    2_000,
                    3_000,
                    False,
                    False,
                    2000,
                    simple_continuous(500),
                    alarms=(f"batch {batch}",),
                ),
                USER,
            )
            store.add_events(
                [
                    PumpEvent(SERIAL, batch * EVENTS_PER_BATCH + i, at, "refill", {"batch": batch})
                    for i in range(EVENTS_PER_BATCH)
                ],
                USER,
            )
        print(f"committed {batch} {refill.id}", flush=True)
        batch += 1


if __name__ == "__main__":
    main(sys.argv[1])
