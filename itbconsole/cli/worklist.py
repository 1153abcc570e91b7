"""``itbconsole worklist``: who needs what, the clinic day's list the app shows.

The text is View > Worklist's list (``ClinicService.clinic_worklist``, the one home of its
lines, delivery drift included and all worked out): each line's category, date, patient,
pump, status and reason, most urgent first, written with :mod:`itbconsole.display` and the
app's status labels. ``--days N`` is the list's "due within" window (default: the clinic's).

``--json`` prints one JSON array for scripts: one object per current patient with a pump
(only those due within N days, or with a line on the list, with ``--days``), most urgent
first, with the forecast's dates in ISO 8601 and the patient's ``lines`` on the list.
``--demo`` reads a demo clinic built in memory. Exit status: 0 success, 1 failure (no
database), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from itbconsole.cli import args as argtypes
from itbconsole.display import fmt_day

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
            "The clinic day's worklist the desktop app shows (View > Worklist): refills and "
            "alarms due, pumps to check or replace, unknown outcomes, programs to review, "
            "delivery drift and pumps not interrogated for too long, most urgent first (the "
            "clinic's settings and zone from the database). 'itbconsole --demo worklist' "
            "lists a demo clinic."
        ),
    )
    argtypes.add_db_argument(parser)
    parser.add_argument(
        "--days",
        type=_days,
        metavar="N",
        help="refills and alarms due within N days (default: the clinic's due-soon days)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--now",
        type=_instant,
        metavar="WHEN",
        help="count from this moment instead of now (ISO 8601 with zone; for audits and tests)",
    )
    parser.set_defaults(handler=cmd_worklist, reads_demo=True)  # export.open_records


def _line_json(item: Any) -> dict[str, Any]:
    """One worklist line for scripts: the category's key and the app's words for it."""
    return {
        "category": item.category.value,
        "category_label": item.category.label,
        "date": item.day.isoformat() if item.day else None,
        "date_is": item.day_is,
        "status": item.status.value if item.status is not None else None,
        "status_label": item.status.label if item.status is not None else None,
        "reason": item.reason,
    }


def _row_json(row: Any, lines: list[Any] | None = None) -> dict[str, Any]:
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
        "status_label": st.status.label if st else None,
        "lines": [_line_json(i) for i in lines or ()],
    }


def _line_text(item: Any) -> str:
    """A line as View > Worklist shows it: what, date, who, pump, status, then why."""
    day = fmt_day(item.day) if item.day else "-"
    status = f"  {item.status.label}" if item.status is not None else ""
    # The date's meaning where the reason does not already say it ("drifting since ...").
    said = not item.day or not item.day_is or day in item.reason
    when = "" if said else f"{item.day_is[:1].upper()}{item.day_is[1:]} {day}. "
    return (
        f"{item.category.label:<24} {day:<11}  {item.patient:<28} {item.hospital_number:<9} "
        f"pump {item.pump_serial}{status}\n    {when}{item.reason}"
    )


def cmd_worklist(args: argparse.Namespace) -> int:
    from itbconsole.cli.export import DEMO_WITH_DB, open_records
    from itbconsole.druglib import DrugLibraryError, load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.paths import default_db_path
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import StoreError

    if args.demo and getattr(args, "db", None) is not None:
        print(f"itbconsole worklist: error: {DEMO_WITH_DB}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.demo and argtypes.existing_database(args) is None:
        return EXIT_FAILED
    now = args.now or datetime.now(UTC)
    try:
        library = load_drug_library()
        with open_records(args, default_db_path(getattr(args, "db", None)), now) as store:
            clinic = ClinicService(store, library, User("itbconsole worklist", Role.NURSE))
            # The app's list, every pump's delivery drift worked out (drift_limit None).
            listed = clinic.clinic_worklist(args.days, now=now, drift_limit=None)
            rows = clinic.worklist(None, now=now)
            due = (
                None
                if args.days is None
                else {r.patient.id for r in clinic.worklist(args.days, now=now)}
            )
    except (StoreError, DrugLibraryError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        lines: dict[int, list[Any]] = {}
        for item in listed.items:
            lines.setdefault(item.patient_id, []).append(item)
        print(
            json.dumps(
                [
                    _row_json(r, lines.get(r.patient.id or 0))
                    for r in rows
                    if due is None or r.patient.id in due or r.patient.id in lines
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if listed.training:
        print("TRAINING: a training database (demo clinic), not patient records.")
    print(f"{listed.title}: {len(listed.items)} line(s) for {listed.patients()} patient(s).")
    print(listed.window_text)
    for item in listed.items:
        print(_line_text(item))
    return EXIT_OK
