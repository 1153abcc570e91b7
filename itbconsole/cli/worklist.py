"""``itbconsole worklist``: who needs what, from the same forecast every screen reads.

Lists every current patient with a pump, most urgent first: status and its reason, the
refill-by date and what governs it, the low-reservoir alarm date, ERI and End of Service
with their source. ``--days N`` keeps only those not delivering, overdue, or due within N
days. ``--json`` prints one JSON array for scripts. Exit status: 0 success, 1 failure (no
database), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from itbconsole.cli import args as argtypes
from itbconsole.display import fmt_weekday

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: The widest ``--days`` window: ten years.
MAX_DAYS = 3660

_days = argtypes.whole_number(0, MAX_DAYS, unit=" days")
_instant = argtypes.moment(zone_required=True, example="2026-11-30T09:00+00:00")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worklist",
        help="who is due: every patient's status, refill-by date and reason (headless)",
        description=(
            "Every current patient with a pump, most urgent first, with the dates and status "
            "the desktop app shows (the clinic's settings and zone from the database)."
        ),
    )
    argtypes.add_db_argument(parser)
    parser.add_argument(
        "--days",
        type=_days,
        metavar="N",
        help="only patients not delivering, overdue, or due within N days",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--now",
        type=_instant,
        metavar="WHEN",
        help="count from this moment instead of now (ISO 8601 with zone; for audits and tests)",
    )
    parser.set_defaults(handler=cmd_worklist)


def _row_json(row: Any) -> dict[str, Any]:
    f = row.forecast
    st = row.status
    return {
        "patient_id": row.patient.id,
        "patient": row.patient.display_name,
        "hospital_number": row.patient.hospital_number,
        "pump_serial": row.pump_serial,
        "status": st.status.value if st else None,
        "status_reason": st.reason if st else None,
        "refill_by": f.refill_by.isoformat() if f and f.refill_by else None,
        "refill_by_reason": f.governing_text if f else None,
        "refill_by_bound": f.governing.value if f and f.governing else None,
        "days_to_refill": st.days_to_refill if st else None,
        "alarm_at": f.alarm_at.isoformat() if f and f.alarm_at else None,
        "alarm_date": f.alarm_day.isoformat() if f and f.alarm_day else None,
        "eri_date": f.eri_day.isoformat() if f and f.eri_day else None,
        "eri_source": f.eri_source.value if f and f.eri_source else None,
        "end_of_service_date": f.eos_day.isoformat() if f and f.eos_day else None,
        "end_of_service_source": f.eos_source.value if f and f.eos_source else None,
        "pending_refills": row.pending_refills,
        "uncertain_program_changes": row.uncertain_program_changes,
    }


def cmd_worklist(args: argparse.Namespace) -> int:
    from itbconsole.druglib import DrugLibraryError, load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import Store, StoreError

    path = argtypes.existing_database(args)
    if path is None:
        return EXIT_FAILED
    try:
        library = load_drug_library()
        with Store.open(path) as store:
            clinic = ClinicService(store, library, User("itbconsole worklist", Role.NURSE))
            now = args.now or datetime.now(UTC)
            rows = clinic.worklist(args.days, now=now)
            today = clinic.today(now)
    except (StoreError, DrugLibraryError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps([_row_json(r) for r in rows], indent=2, ensure_ascii=False))
        return EXIT_OK
    window = f", due within {args.days} days" if args.days is not None else ""
    print(f"Worklist for {fmt_weekday(today)}{window}: {len(rows)} patient(s).")
    for r in rows:
        d = _row_json(r)
        print(
            f"{(d['status'] or '-').upper():<15} {d['patient']:<28} {d['hospital_number']:<9} "
            f"pump {d['pump_serial']}"
        )
        print(f"    {d['status_reason'] or 'no forecast'}")
        if d["alarm_date"]:
            print(f"    low-reservoir alarm {d['alarm_date']}")
        if d["end_of_service_date"]:
            print(f"    End of Service {d['end_of_service_date']} ({d['end_of_service_source']})")
        if r.pending_refills or r.uncertain_program_changes:
            print(
                f"    {r.pending_refills} pending refill(s), {r.uncertain_program_changes} "
                "uncertain program change(s): interrogate the pump"
            )
    return EXIT_OK
