"""Multi-room sync on a real PostgreSQL server: upload and download rates, and the catch-up of
a room that was offline for 30 days in a 5,000-patient clinic.

Two rooms, each its own SQLite store, and a throwaway PostgreSQL cluster (as the sync tests
start it; or ``--dsn`` for a server of your own, whose database must be empty):

1. Room A registers the clinic (N patients, each with a pump and a first reading) and
   uploads it: **events uploaded per second**.
2. Room B, empty, downloads and applies the whole clinic: **events downloaded and applied
   per second**.
3. Room B goes offline; room A works 30 clinic days (every pump refilled on its 90-day cycle,
   with the reading taken at the refill: about N/90 refills a day), syncing as it goes. Then
   room B comes back: **catch-up time** for the 30 days.

The fair baseline, measured in the same run: the time room A took to write the same records
locally, one transaction per record as the app writes them. Ratios are sync rate / local
write rate (upload, download) and catch-up time / local write time (catch-up).

    python benchmarks/sync.py                     # 5,000 patients (several minutes)
    python benchmarks/sync.py --patients 500      # a quick look (scaled; say so with figures)

Ends with JSON lines {"metric", "value", "unit", "ratio", "limit", "patients"}; the limits
are floors for the rates (events/s) and a ceiling for the catch-up (s); "patients" says
when a run was scaled down from 5,000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from itbconsole.model import (  # noqa: E402
    Origin,
    Patient,
    Pump,
    Reading,
    Refill,
    Role,
    User,
    simple_continuous,
)
from itbconsole.store import Store  # noqa: E402
from itbconsole.sync import server  # noqa: E402
from itbconsole.sync.engine import sync_once  # noqa: E402

NURSE = User("Nia Nurse", Role.NURSE)
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
OFFLINE_DAYS = 30
REFILL_INTERVAL_DAYS = 90
#: Floors (events/s) and the catch-up ceiling (s).
UPLOAD_LIMIT = 500.0
DOWNLOAD_LIMIT = 200.0
CATCH_UP_LIMIT_S = 120.0


def serial(n: int) -> str:
    return f"NGP{n:06d}"


def reading(n: int, at: datetime, reservoir_ul: int) -> Reading:
    return Reading(
        pump_serial=serial(n),
        at=at,
        pump_clock=at + timedelta(seconds=30),
        reservoir_ul=reservoir_ul,
        alarm_volume_ul=2_000,
        battery_mv=3_050,
        eri=False,
        eos=False,
        concentration_mcg_ml=2000,
        program=simple_continuous("300"),
        alarms=(),
    )


def register_clinic(store: Store, patients: int) -> None:
    """N patients, each with a pump and a first reading (one transaction per patient)."""
    for n in range(1, patients + 1):
        with store.atomic():
            saved = store.add_patient(
                Patient(
                    family_name=f"Family{n}",
                    given_name="Ann",
                    date_of_birth=date(1950, 1, 1) + timedelta(days=n % 20_000),
                    hospital_number=f"H{n:07d}",
                    origin=Origin.SPINAL,
                ),
                NURSE,
            )
            assert saved.id is not None
            store.register_pump(
                Pump(
                    serial=serial(n),
                    model="SynchroMed II 8637-40",
                    reservoir_capacity_ul=40_000,
                    alarm_volume_ul=2_000,
                    implant_date=date(2022, 1, 10),
                    pump_dead_volume_ul=250,
                    catheter_length_cm=Decimal("60"),
                    catheter_ul_per_cm=Decimal("1.5"),
                ),
                saved.id,
                NURSE,
                at=START - timedelta(days=400),
            )
            store.add_reading(reading(n, START - timedelta(days=n % 90), 20_000), NURSE)


def clinic_day(store: Store, patients: int, day: int) -> int:
    """One clinic day in room A: each pump due today refilled, its reading taken first.
    Returns the records written."""
    written = 0
    at = START + timedelta(days=day, hours=1)
    for n in range(1 + day % REFILL_INTERVAL_DAYS, patients + 1, REFILL_INTERVAL_DAYS):
        store.add_reading(reading(n, at, 4_100), NURSE)
        store.add_refill(
            Refill(
                pump_serial=serial(n),
                at=at + timedelta(minutes=20),
                withdrawn_ul=4_100,
                expected_residual_ul=4_000,
                added_ul=36_000,
                product="Lioresal Intrathecal",
                concentration_mcg_ml=2000,
                lot=f"LOT{day}",
                expiry=date(2027, 6, 30),
            ),
            NURSE,
        )
        written += 2
    return written


def entries(store: Store) -> int:
    return int(store.db.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


@contextmanager
def clinic_server(dsn: str | None) -> Iterator[str]:
    if dsn is not None:
        server.init_server(dsn)
        yield dsn
        return
    import psycopg

    from tests.itbconsole.sync.conftest import _make_cluster

    clusters = _make_cluster()
    cluster = next(clusters)
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE clinic")
        server.init_server(cluster.dsn("clinic"))
        yield cluster.dsn("clinic")
    finally:
        clusters.close()


def room_login(admin_dsn: str, store: Store, own_cluster: bool) -> str:
    """The DSN a room's console uses: its own role (``server add-room``), as deployed, on
    the benchmark's own cluster (trust authentication); the given DSN on a server of
    your own (its role must then be the schema's owner)."""
    if not own_cluster:
        return admin_dsn
    from psycopg.conninfo import make_conninfo

    room = store.store_id() or ""
    server.add_room(admin_dsn, room, f"Benchmark room {room[:8]}")
    return make_conninfo(admin_dsn, user=server.room_role_name(room))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--dsn", help="an existing server with an empty database")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="itbconsole-sync-bench-"))
    os.environ.setdefault("ITBCONSOLE_DATA_DIR", str(folder / "data"))
    results: list[dict[str, object]] = []
    try:
        with (
            clinic_server(args.dsn) as admin_dsn,
            Store.open(folder / "room-a.db") as room_a,
            Store.open(folder / "room-b.db") as room_b,
        ):
            dsn_a = room_login(admin_dsn, room_a, args.dsn is None)
            dsn_b = room_login(admin_dsn, room_b, args.dsn is None)
            t = time.perf_counter()
            register_clinic(room_a, args.patients)
            build_s = time.perf_counter() - t
            built = entries(room_a)
            local_rate = built / build_s
            print(f"Room A wrote {built:,} entries for {args.patients:,} patients in "
                  f"{build_s:.1f} s ({local_rate:,.0f} entries/s, one transaction each patient)")  # fmt: skip

            t = time.perf_counter()
            up = sync_once(room_a, dsn_a)
            upload_s = time.perf_counter() - t
            upload_rate = up.uploaded / upload_s
            print(f"Upload: {up.uploaded:,} events in {upload_s:.1f} s ({upload_rate:,.0f}/s)")

            t = time.perf_counter()
            down = sync_once(room_b, dsn_b)
            download_s = time.perf_counter() - t
            download_rate = down.downloaded / download_s
            print(f"Download and apply: {down.downloaded:,} events, {down.applied:,} applied, "
                  f"{down.conflicts} conflicts, in {download_s:.1f} s ({download_rate:,.0f}/s)")  # fmt: skip
            sync_once(room_a, dsn_a)  # room B's id map, so A and B agree from here

            before = entries(room_a)
            writing_s = 0.0
            for day in range(OFFLINE_DAYS):
                t = time.perf_counter()
                clinic_day(room_a, args.patients, day)
                writing_s += time.perf_counter() - t
                sync_once(room_a, dsn_a)
            month = entries(room_a) - before
            t = time.perf_counter()
            caught = sync_once(room_b, dsn_b)
            catch_up_s = time.perf_counter() - t
            print(f"30 days of room A ({month:,} entries, written locally in {writing_s:.1f} s):"
                  f" room B caught up in {catch_up_s:.1f} s ({caught.applied:,} applied, "
                  f"{caught.conflicts} conflicts, {caught.pending} pending)")  # fmt: skip
            results = [
                {"metric": "sync_upload_events_per_s",
                 "value": round(upload_rate, 1), "unit": "events/s",
                 "ratio": round(upload_rate / local_rate, 2), "limit": UPLOAD_LIMIT, "patients": args.patients},
                {"metric": "sync_download_apply_events_per_s",
                 "value": round(download_rate, 1), "unit": "events/s",
                 "ratio": round(download_rate / local_rate, 2), "limit": DOWNLOAD_LIMIT, "patients": args.patients},
                {"metric": "sync_catch_up_30_days_s",
                 "value": round(catch_up_s, 2), "unit": "s",
                 "ratio": round(catch_up_s / writing_s, 2), "limit": CATCH_UP_LIMIT_S, "patients": args.patients},
            ]  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for line in results:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
