"""Record store at clinic scale: open one patient's history and list the refills due.

Builds a clinic of N patients (default 5,000) with 10 years of history each: monthly
readings, a refill about every 90 days, a few program changes a year, pump events, a pump
replacement at about year six, and some corrected records. Then it times the two reads a
clinic does all day: opening one patient's full history (median over random patients) and
the clinic-wide "refill due" list. Target: under 50 ms each.

The build writes rows with the store's own row mappings and a real audit chain, but in
bulk (executemany, large transactions) instead of one audited transaction per record, so
that building takes a minute rather than hours. Row shapes, indexes and audit entries are
those the application writes.

Usage: python benchmarks/store_scale.py [--patients N] [--db PATH] [--verify]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from itbconsole.store import records as rec
from itbconsole.store.audit import GENESIS_HASH, canonical_json, entry_hash
from itbconsole.store.db import utc_iso
from itbconsole.store.schema import PROTECTED_TABLES

YEARS = 10
END = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
START = END - timedelta(days=365 * YEARS)
LIMIT_MS = 50.0
NURSE = User("Bench Nurse", Role.NURSE)
CLINICIAN = User("Bench Clinician", Role.CLINICIAN)


class BulkWriter:
    """Buffers complete rows and their audit entries; flushes with executemany."""

    def __init__(self, store: Store) -> None:
        self.conn = store.db.conn
        self.columns = {
            t: [r[1] for r in self.conn.execute(f"PRAGMA table_info({t})")]
            for t in PROTECTED_TABLES
        }
        self.next_id = dict.fromkeys(self.columns, 1)
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.columns}
        self.seq, self.head = 0, GENESIS_HASH
        self.defaults = {
            "corrects_id": None,
            "entered_in_error": 0,
            "correction_note": "",
            "note": "",
            "readback_json": None,
            "implant_date": None,
        }

    def add(
        self, table: str, values: dict[str, Any], user: User, at: datetime, action: str = "create"
    ) -> int:
        new_id = self.next_id[table]
        self.next_id[table] += 1
        row = {**values, "id": new_id, **rec.stamp_columns(user, at)}
        full = {c: row[c] if c in row else self.defaults[c] for c in self.columns[table]}
        self.rows[table].append(tuple(full.values()))
        self.seq += 1
        entry = {
            "seq": self.seq,
            "at": full["created_at"],
            "user_name": user.name,
            "user_role": user.role.value,
            "action": action,
            "table_name": table,
            "record_id": new_id,
            "payload": canonical_json(full),
        }
        entry["prev_hash"] = self.head
        entry["hash"] = self.head = entry_hash(self.head, entry)
        self.rows["audit_log"].append(tuple(entry[c] for c in self.columns["audit_log"]))
        return new_id

    def flush(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for table, rows in self.rows.items():
            if rows:
                cols = self.columns[table]
                self.conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})",
                    rows,
                )
                rows.clear()
        self.conn.execute("COMMIT")


def program_for(rng: random.Random, dose: int) -> Program:
    bolus = PatientBolus(Decimal(25), 10, 240, 3) if rng.random() < 0.3 else None
    if rng.random() < 0.2:
        share = Decimal(dose) / 24
        steps = tuple(
            FlexStep(m, (share * f).quantize(Decimal("0.001")))
            for m, f in (
                (0, Decimal("0.8")),
                (360, Decimal("1.2")),
                (720, Decimal(1)),
                (1080, Decimal("1.1")),
                (1320, Decimal("0.9")),
            )
        )
        return Program(Mode.FLEX, flex_steps=steps, patient_bolus=bolus)
    return Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(dose), patient_bolus=bolus)


def build_patient(w: BulkWriter, rng: random.Random, n: int) -> None:
    origin = Origin.CEREBRAL if rng.random() < 0.4 else Origin.SPINAL
    patient = Patient(
        f"Family{n:05d}", f"Given{n % 97}", date(1950 + n % 60, 1 + n % 12, 1), f"H{n:07d}", origin
    )
    pid = w.add("patients", {}, NURSE, START)
    version = w.add(
        "patient_versions", {**rec.patient_row(patient), "patient_id": pid}, NURSE, START
    )
    if rng.random() < 0.1:
        w.add(
            "patient_versions",
            {
                **rec.patient_row(patient),
                "patient_id": pid,
                "given_name": "Corrected",
                "corrects_id": version,
                "correction_note": "spelling",
            },
            NURSE,
            START,
            "correct",
        )
    replaced = START + timedelta(days=rng.randint(5 * 365, 7 * 365))
    pumps = [(f"P{n:06d}A", START, replaced), (f"P{n:06d}B", replaced, END)]
    dose = rng.randint(90, 800)
    program = program_for(rng, dose)
    conc = 2000 if dose > 300 else 500
    event_index = 0
    for serial, begin, finish in pumps:
        pump = Pump(
            serial,
            "SynchroMed II 8637-40",
            40_000,
            2_000,
            begin.date(),
            250,
            Decimal(60),
            Decimal("1.5"),
        )
        w.add("pumps", {"serial": serial}, NURSE, begin)
        w.add("pump_versions", rec.pump_row(pump), NURSE, begin)
        w.add(
            "pump_registrations",
            {"pump_serial": serial, "patient_id": pid, "effective_at": utc_iso(begin)},
            NURSE,
            begin,
        )
        day, reservoir, last_fill = begin, 40_000, begin
        next_refill = begin + timedelta(days=rng.randint(80, 100))
        next_change = begin + timedelta(days=rng.randint(60, 150))
        while day < finish:
            daily_ul = max(int(Decimal(dose) * 1000 / conc), 1)
            reservoir = max(40_000 - daily_ul * (day - last_fill).days, 2_000)
            if day >= next_refill:
                refill = Refill(
                    serial,
                    day,
                    reservoir + rng.randint(-300, 300),
                    reservoir,
                    36_000,
                    "Lioresal Intrathecal",
                    conc,
                    f"L{rng.randint(1, 9999)}",
                    (day + timedelta(days=400)).date(),
                )
                w.add("refills", {**rec.refill_row(refill), "patient_id": pid}, NURSE, day)
                for _ in range(2):
                    event = PumpEvent(serial, event_index, day, "refill", {"added_ul": 36_000})
                    w.add("pump_events", {**rec.event_row(event), "patient_id": pid}, NURSE, day)
                    event_index += 1
                last_fill, reservoir = day, 40_000
                next_refill = day + timedelta(days=rng.randint(80, 100))
            if day >= next_change:
                new_dose = max(50, int(dose * rng.uniform(0.85, 1.2)))
                new_program = program_for(rng, new_dose)
                change = ProgramChange(
                    serial, day, program, new_program, conc, "titration", readback=new_program
                )
                w.add(
                    "program_changes",
                    {**rec.program_change_row(change), "patient_id": pid},
                    CLINICIAN,
                    day,
                )
                dose, program = new_dose, new_program
                next_change = day + timedelta(days=rng.randint(90, 150))
            reading = Reading(
                serial,
                day,
                day + timedelta(seconds=rng.randint(-90, 90)),
                reservoir,
                2_000,
                3_100 - (day - begin).days // 10,
                (finish - day).days < 90,
                False,
                conc,
                program,
            )
            w.add("readings", {**rec.reading_row(reading), "patient_id": pid}, NURSE, day)
            day += timedelta(days=30)
        if finish < END:
            w.add(
                "pump_registrations",
                {
                    "pump_serial": serial,
                    "patient_id": None,
                    "effective_at": utc_iso(finish),
                    "correction_note": "replaced at ERI",
                },
                NURSE,
                finish,
            )


def timed(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    parser.add_argument("--verify", action="store_true", help="also verify the audit chain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "clinic.sqlite"
        if path.exists():
            sys.exit(f"{path} exists; give a new file name.")
        rng = random.Random(7)
        store = Store.open(path)
        writer = BulkWriter(store)
        t0 = time.perf_counter()
        for n in range(1, args.patients + 1):
            build_patient(writer, rng, n)
            if n % 250 == 0:
                writer.flush()
        writer.flush()
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        build_s = time.perf_counter() - t0
        counts = store.counts()
        size = path.stat().st_size
        print(
            f"Built {args.patients:,} patients x {YEARS} years in {build_s:.1f} s "
            "(bulk inserts in large transactions, audit chain computed in bulk)."
        )
        for table, count in counts.items():
            print(f"  {table:<20} {count:>12,}")
        per_py = size / (args.patients * YEARS)
        print(f"Database size {size / 1e6:.1f} MB: {per_py / 1024:.1f} KiB per patient-year")

        ids = rng.sample(range(1, args.patients + 1), min(25, args.patients))
        first = timed(store.patient_history, ids[0])
        history_ms = statistics.median(timed(store.patient_history, i) for i in ids)
        h = store.patient_history(ids[0])
        print(
            f"Open one patient's history ({len(h.readings)} readings, {len(h.refills)} "
            f"refills, {len(h.program_changes)} program changes, {len(h.events)} events): "
            f"median {history_ms:.1f} ms over {len(ids)} patients (first {first:.1f} ms)"
        )
        # Every date comes from the forecast (itbconsole.forecast). After an upgrade or a
        # change of the clinic's settings every pump's forecast is computed once and kept;
        # after that a save recomputes only that pump's.
        clinic = ClinicService(store, load_drug_library(), User("Bench", Role.NURSE), UTC)
        t = time.perf_counter()
        computed = clinic.ensure_forecasts()
        forecast_all_s = time.perf_counter() - t
        print(
            f"Forecast of every pump from cold (after an upgrade or new settings): "
            f"{computed:,} pumps in {forecast_all_s:.1f} s "
            f"({forecast_all_s * 1000 / max(computed, 1):.2f} ms a pump)"
        )
        first_row = clinic.patient_row(ids[0], now=END)
        serial = first_row.pump_serial if first_row is not None else None
        one_ms = 0.0
        if serial is not None:
            one_ms = statistics.median(timed(lambda: clinic.forecast_for(serial)) for _ in range(7))
            print(f"Recompute one pump's forecast (after a save): median {one_ms:.1f} ms")
        before = END.date() + timedelta(days=14)
        due = clinic.refill_due(before, now=END)
        due_ms = statistics.median(
            timed(lambda: clinic.refill_due(before, now=END)) for _ in range(7)
        )
        print(
            f"Refill due by {before} (clinic-wide, every bound counted): {len(due):,} patients, "
            f"median {due_ms:.1f} ms over 7 runs"
        )
        overview_ms = statistics.median(
            timed(lambda: clinic.patient_rows(now=END)) for _ in range(3)
        )
        print(f"Whole patient list with status and refill-by: median {overview_ms:.1f} ms")
        search_ms = statistics.median(timed(store.search_patients, f"H{i:07d}") for i in ids[:10])
        print(f"Search by hospital number: median {search_ms:.1f} ms")
        if args.verify:
            t = time.perf_counter()
            report = store.verify()
            print(
                f"Audit verification: {'intact' if report.ok else 'FAILED'} "
                f"({report.entries_checked:,} entries, {time.perf_counter() - t:.1f} s)"
            )
        store.close()
        figures = [
            {
                "metric": "open_patient_history_ms",
                "value": round(history_ms, 2),
                "unit": "ms",
                "limit": LIMIT_MS,
            },
            {
                "metric": "refill_due_query_ms",
                "value": round(due_ms, 2),
                "unit": "ms",
                "limit": LIMIT_MS,
            },
            {"metric": "patient_list_ms", "value": round(overview_ms, 2), "unit": "ms"},
            {
                "metric": "forecast_every_pump_cold_s",
                "value": round(forecast_all_s, 2),
                "unit": "s",
            },
            {"metric": "forecast_one_pump_ms", "value": round(one_ms, 2), "unit": "ms"},
            {
                "metric": "db_size_per_patient_year_kib",
                "value": round(per_py / 1024, 2),
                "unit": "KiB",
            },
        ]
        for figure in figures:
            print(json.dumps(figure))
    return 0 if history_ms < LIMIT_MS and due_ms < LIMIT_MS else 1


if __name__ == "__main__":
    sys.exit(main())
