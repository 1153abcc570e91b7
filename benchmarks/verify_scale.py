"""``itbconsole db verify`` at clinic scale: time and peak memory, streaming against the
implementation it replaced, both measured in the same run on the same file.

Builds clinics of 5,000 and 20,000 patients with ``store_scale``'s builder (10 years of
history each, a real sealed audit chain), then verifies each file twice, each time in a
fresh process (so one run's memory cannot flatter the other's): once with
``itbconsole.store.audit.verify_audit`` and once with the baseline below, a copy of the
function as it was before it streamed (every entry loaded into a list of dicts). Peak
memory is the process's peak resident set (``VmHWM``), so SQLite's own buffers count too.

Targets (issue 14): the streaming verify under 200 MB at 20,000 patients and at least
twice as fast as the baseline (ratio = new time / baseline time, limit 0.5); both report
the same findings.

Usage: python benchmarks/verify_scale.py [--patients 5000 20000] [--keep DIR]
       [--baseline-max N]   (skip the baseline above N patients; it is also skipped when
       the machine has not 1.5 x the ~0.5 MB a patient it needs)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MEMORY_LIMIT_MB = 200.0
SPEED_LIMIT = 0.5  # new time / baseline time


# --------------------------------------------------------------------------- baseline
# The verification as it was before it streamed, kept verbatim where it differs (list of
# every entry; json.dumps per entry for the hash; a dict of every recorded row; a dict of
# every seal). Reports are compared finding by finding with the streaming one.


def baseline_verify(db: Any, keys: Any, anchors: tuple[str, ...] = ()) -> Any:
    from itbconsole.store import audit as a

    report = a.AuditReport()
    cursor = db.conn.execute(
        "SELECT seq, at, user_name, user_role, action, table_name, record_id, payload,"
        " prev_hash, hash FROM audit_log ORDER BY seq"
    )
    names = [d[0] for d in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor]
    report.entries_checked = len(entries)
    problems = report.problems
    _baseline_chain(entries, problems)
    if entries:
        report.head_seq, report.head_hash = int(entries[-1]["seq"]), str(entries[-1]["hash"])
    report.records_checked = _baseline_cross_check(db, entries, problems)
    a._check_current_state(db, problems)
    a._check_triggers(db, problems)
    if "audit_seals" in db.table_names():
        _baseline_seals(db, entries, keys, report)
    return report


def _baseline_chain(entries: list[dict[str, Any]], problems: list[Any]) -> None:
    from itbconsole.store.audit import GENESIS_HASH, AuditProblem, entry_hash

    for i, entry in enumerate(entries):
        seq = int(entry["seq"])
        if entry_hash(str(entry["prev_hash"]), entry) != entry["hash"]:
            problems.append(AuditProblem("edited", "audit entry", f"#{seq} edited", seq=seq))
        expected = entries[i - 1]["hash"] if i else GENESIS_HASH
        if entry["prev_hash"] != expected:
            problems.append(AuditProblem("deleted", "audit entry", f"#{seq} link", seq=seq))


def _baseline_cross_check(db: Any, entries: list[dict[str, Any]], problems: list[Any]) -> int:
    from itbconsole.store.audit import AuditProblem, canonical_json
    from itbconsole.store.schema import CLINICAL_TABLES

    recorded: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in entries:
        if entry["table_name"] is None or entry["record_id"] is None:
            continue
        key = (str(entry["table_name"]), int(entry["record_id"]))
        if key in recorded:
            problems.append(AuditProblem("inserted", "audit entry", "again", seq=entry["seq"]))
            continue
        recorded[key] = entry
    checked = 0
    for table in CLINICAL_TABLES:
        cursor = db.conn.execute(f"SELECT * FROM [{table}] ORDER BY id")
        names = [d[0] for d in cursor.description]
        for row in cursor:
            checked += 1
            data = dict(zip(names, row, strict=True))
            found = recorded.pop((table, int(data["id"])), None)
            if found is None:
                problems.append(AuditProblem("inserted", "record", "no entry", table=table))
            elif canonical_json(data) != found["payload"]:
                problems.append(AuditProblem("edited", "record", "edited", table=table))
    for (table, _record_id), _entry in sorted(recorded.items()):
        problems.append(AuditProblem("deleted", "record", "gone", table=table))
    return checked


def _baseline_seals(db: Any, entries: list[dict[str, Any]], keys: Any, report: Any) -> None:
    from itbconsole.store.audit import AuditProblem

    seals = {
        int(seq): (str(name), str(mac))
        for seq, name, mac in db.conn.execute("SELECT seq, key_id, mac FROM audit_seals")
    }
    known = keys.keys if keys is not None else {}
    for entry in entries:
        seq = int(entry["seq"])
        found = seals.pop(seq, None)
        if found is None:
            report.problems.append(AuditProblem("inserted", "audit entry", "no seal", seq=seq))
            continue
        name, mac = found
        key = known.get(name)
        if key is None:
            report.unverified += 1
            continue
        digest = hmac.new(key, str(entry["hash"]).encode("ascii"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(digest, mac):
            report.problems.append(AuditProblem("edited", "audit entry", "seal", seq=seq))
            continue
        report.seals_checked[name] = report.seals_checked.get(name, 0) + 1


# --------------------------------------------------------------------------- one run


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(which: str, path: Path) -> None:
    """In a fresh process: open the file as ``db verify`` does, verify, print one JSON."""
    from itbconsole.store import Store, audit

    with Store.open(path, create=False, read_only=True) as store:
        before = _rss_mb("VmRSS")
        t0 = time.perf_counter()
        if which == "baseline":
            report = baseline_verify(store.db, store.audit_keys)
        else:
            report = audit.verify_audit(store.db, store.audit_keys)
        elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "peak_mb": _rss_mb("VmHWM"),
                "before_mb": before,
                "entries": report.entries_checked,
                "records": report.records_checked,
                "problems": len(report.problems),
                "seals": sum(report.seals_checked.values()),
                "unverified": report.unverified,
            }
        )
    )


#: What the baseline's memory grows by, per patient of the clinic built here (measured).
BASELINE_MB_PER_PATIENT = 0.5


def available_mb() -> float:
    """Memory the system can give without swapping (the baseline is skipped without room)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(which: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--run-one", which, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- build


def build(path: Path, patients: int) -> None:
    import store_scale  # the clinic builder: rows and audit entries as the app writes them

    from itbconsole.store import Store, audit
    from itbconsole.store.db import transaction

    rng = random.Random(7)
    store = Store.open(path)
    writer = store_scale.BulkWriter(store)
    for n in range(1, patients + 1):
        store_scale.build_patient(writer, rng, n)
        if n % 250 == 0:
            writer.flush()
    writer.flush()
    with transaction(store.db):  # the bulk-built log sealed as a first open seals a backlog
        audit.seal_backlog(store.db)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--keep", type=Path, help="build (or reuse) the files in DIR")
    parser.add_argument("--baseline-max", type=int, default=20000)
    parser.add_argument("--run-one", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        run_one(args.run_one[0], Path(args.run_one[1]))
        return 0
    figures: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for patients in args.patients:
            path = folder / f"verify-{patients}.sqlite"
            if not path.exists():
                t0 = time.perf_counter()
                build(path, patients)
                print(
                    f"Built {patients:,} patients in {time.perf_counter() - t0:.0f} s "
                    f"({path.stat().st_size / 1e6:.0f} MB)",
                    file=sys.stderr,
                )
            new = measure("streaming", path)
            need_mb = BASELINE_MB_PER_PATIENT * patients
            room = patients <= args.baseline_max and available_mb() > 1.5 * need_mb
            base = measure("baseline", path) if room else None
            print(
                f"{patients:>6} patients, {new['entries']:,} entries, {new['records']:,} "
                f"records: streaming {new['seconds']:.1f} s, peak {new['peak_mb']:.0f} MB"
                + (
                    f"; baseline {base['seconds']:.1f} s, peak {base['peak_mb']:.0f} MB"
                    if base
                    else "; baseline skipped"
                )
            )
            if base is not None:
                same = all(
                    new[k] == base[k]
                    for k in ("entries", "records", "problems", "seals", "unverified")
                )
                speed = new["seconds"] / base["seconds"]
                ok = ok and same and speed <= SPEED_LIMIT
                figures.append(
                    {
                        "metric": f"verify_{patients}_patients_s",
                        "value": round(new["seconds"], 2),
                        "unit": "s",
                        "ratio": round(speed, 3),
                        "limit": SPEED_LIMIT,
                        "baseline_s": round(base["seconds"], 2),
                        "same_findings": same,
                    }
                )
            figures.append(
                {
                    "metric": f"verify_{patients}_patients_peak_mb",
                    "value": round(new["peak_mb"], 1),
                    "unit": "MB",
                    "ratio": round(new["peak_mb"] / base["peak_mb"], 3) if base else None,
                    "limit": MEMORY_LIMIT_MB,
                    "baseline_mb": round(base["peak_mb"], 1) if base else None,
                    "before_verify_mb": round(new["before_mb"], 1),
                }
            )
            ok = ok and new["peak_mb"] < MEMORY_LIMIT_MB
    for figure in figures:
        print(json.dumps(figure))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
