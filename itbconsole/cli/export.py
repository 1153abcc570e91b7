"""``itbconsole export csv``: the clinic's records as CSV files, headless.

``--what history --patient ID``  everything recorded for one patient (the History tab);
``--what refills [--since DATE]`` refills across the clinic (or ``--patient``'s), any status;
``--what lot --lot X [--product Y]`` every refill with drug from a lot (a drug recall);
``--what worklist``               the clinic day's worklist, as View > Worklist exports it.

``--lot``, ``--product``, ``--since`` and ``--patient`` narrow the refill exports; each
other combination that would be ignored is refused. Files follow itbconsole/exports.py
(UTF-8 with BOM, units in headers, ISO dates, exact numbers, no formulas), are owner-only,
are never written over the database, and each export is recorded in the audit log.

``itbconsole export fhir (--patient ID | --all) [--since DATE] --out FILE``: the records
as a FHIR R4 transaction Bundle for the hospital (itbconsole/fhir/, docs/fhir.md), checked
by itbconsole.fhir.checks as it is written, owner-only, recorded in the audit log. A clinic
database refuses a patient the hospital could not match (no NHS number, and no
``hospital_number_system`` setting). ``itbconsole --demo export fhir ...`` exports a demo
clinic built in memory instead, under a fixed identity so its keys are the same each run.

Exit status: 0 success, 1 failure (no database, cannot write), 2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itbconsole.cli import args as argtypes

if TYPE_CHECKING:
    from itbconsole.exports import Column
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import Store

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: What can be exported. ``worklist`` is the app's clinic-day worklist (its own CSV).
WHAT = ("history", "refills", "lot", "worklist")

#: The options each export reads (the others are refused rather than silently ignored).
USES: dict[str, frozenset[str]] = {
    "history": frozenset({"patient"}),
    "refills": frozenset({"patient", "since", "lot", "product"}),
    "lot": frozenset({"patient", "since", "lot", "product"}),
    "worklist": frozenset(),
}
REQUIRED = {"history": ("patient",), "lot": ("lot",)}
OPTIONS = ("patient", "since", "lot", "product")

#: A lot as printed on a vial (GS1 allows 20 characters; room for local labels).
MAX_LOT_CHARS = 40
#: Record numbers are SQLite row ids: a signed 64-bit integer.
MAX_RECORD_NUMBER = 2**63 - 1
_patient = argtypes.whole_number(1, MAX_RECORD_NUMBER, why="the largest record number")
_lot = argtypes.Text("a lot number", max_chars=MAX_LOT_CHARS)
_product = argtypes.Text("a product name", max_chars=argtypes.MAX_NAME_CHARS)

#: The database's own files: an export is never written over one of them.
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write records to a file: CSV for a spreadsheet, FHIR for the hospital",
        description=(
            "Write the clinic's records to a file: CSV for a spreadsheet or a report, FHIR "
            "R4 for the hospital's record."
        ),
    )
    formats = parser.add_subparsers(
        dest="format", metavar="FORMAT", parser_class=type(parser), required=True
    )
    csv = formats.add_parser(
        "csv",
        help="CSV for a spreadsheet (UTF-8, units in the headers, ISO dates)",
        description=(
            "A CSV file of: a patient's history (--what history --patient ID), refills "
            "(--what refills [--since DATE]), the recipients of a lot (--what lot --lot X "
            "[--product Y]) or the worklist (--what worklist)."
        ),
    )
    argtypes.add_db_argument(csv)
    csv.add_argument("--what", required=True, choices=WHAT, help="what to export")
    csv.add_argument(
        "--patient", type=_patient, metavar="ID", help="the patient's record number (history)"
    )
    csv.add_argument(
        "--since",
        type=argtypes.calendar_date,
        metavar="DATE",
        help="refills from this date on (YYYY-MM-DD, the clinic's calendar)",
    )
    csv.add_argument("--lot", type=_lot, metavar="LOT", help="the lot (batch) number to find")
    csv.add_argument(
        "--product", type=_product, metavar="NAME", help="only refills of this product"
    )
    csv.add_argument(
        "--out", required=True, type=argtypes.PATH, metavar="FILE", help="file to write"
    )
    csv.add_argument("--force", action="store_true", help="replace FILE if it exists")
    csv.set_defaults(handler=cmd_export_csv)
    _register_fhir(formats)


def _register_fhir(formats: Any) -> None:
    fhir = formats.add_parser(
        "fhir",
        help="FHIR R4 for the hospital: a transaction Bundle of conditional updates (JSON)",
        description=(
            "A FHIR R4 transaction Bundle (JSON) of one patient's records (--patient ID) or "
            "the whole clinic's (--all): Patient, Device and its implant, Observations of "
            "reservoir volume and battery voltage, a MedicationAdministration per refill, a "
            "MedicationRequest per program change, and a Provenance for who recorded each. "
            "Every entry is a conditional update keyed by the stored record, so sending the "
            "same export twice creates nothing twice and a later export updates what the "
            "hospital holds (a program replaced, a refill settled, a record withdrawn). "
            "Patients are matched on the NHS number, else on the hospital number under the "
            "clinic setting hospital_number_system. 'itbconsole --demo export fhir' exports "
            "a demo clinic, marked as training data. See docs/fhir.md."
        ),
    )
    argtypes.add_db_argument(fhir)
    which = fhir.add_mutually_exclusive_group(required=True)
    which.add_argument("--patient", type=_patient, metavar="ID", help="the patient's record number")
    which.add_argument("--all", action="store_true", help="every current patient of the clinic")
    fhir.add_argument(
        "--since",
        type=argtypes.calendar_date,
        metavar="DATE",
        help="only readings, refills and program changes from this date on (YYYY-MM-DD, "
        "the clinic's calendar); patients and pumps are always included",
    )
    fhir.add_argument(
        "--out", required=True, type=argtypes.PATH, metavar="FILE", help="file to write (JSON)"
    )
    fhir.add_argument("--force", action="store_true", help="replace FILE if it exists")
    fhir.set_defaults(handler=cmd_export_fhir, reads_demo=True)  # open_records


def _refuse(message: str, fmt: str = "csv") -> int:
    print(f"itbconsole export {fmt}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _combination_error(args: argparse.Namespace) -> str:
    given = [o for o in OPTIONS if getattr(args, o) is not None]
    for option in REQUIRED.get(args.what, ()):
        if option not in given:
            return f"--what {args.what} needs --{option}"
    unused = [f"--{o}" for o in given if o not in USES[args.what]]
    if unused:
        return f"{' and '.join(unused)} cannot be used with --what {args.what}"
    return ""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _out_error(out: Path, db: Path, force: bool) -> str:
    """Why ``out`` cannot be written ('' when it can)."""
    for suffix in _DB_SUFFIXES:
        side = Path(str(db) + suffix)
        if out.resolve() == side.resolve() or _same_file(out, side):
            return f"{out} is the database's own file: choose another file name"
    if out.is_dir():
        return f"{out} is a folder: give a file name"
    if not out.parent.is_dir():
        return f"the folder {out.parent} does not exist"
    if out.exists() and not force:
        return f"{out} exists: choose another name, or add --force to replace it"
    return ""


def _user() -> Any:
    from itbconsole.model import Role, User

    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        who = "unknown user"
    return User(f"itbconsole export ({who})", Role.NURSE)


def _worklist(clinic: ClinicService) -> tuple[list[Column], list[list[Any]]]:
    """The clinic day's worklist, the same lines and columns as View > Worklist exports
    (itbconsole.services.worklist, the one home of the worklist's CSV)."""
    from itbconsole.services import worklist

    listed = clinic.clinic_worklist(now=datetime.now(UTC))
    return list(worklist.CSV_COLUMNS), [list(worklist.csv_row(i)) for i in listed.items]


def _export(
    clinic: ClinicService, args: argparse.Namespace
) -> tuple[list[Column], list[list[Any]]]:
    from itbconsole.services import history

    if args.what == "history":
        timeline = clinic.patient_timeline(args.patient)
        return history.history_columns(), history.history_csv_rows(timeline, clinic.tz)
    if args.what == "worklist":
        return _worklist(clinic)
    found = clinic.refill_records(args.since, args.patient, lot=args.lot, product=args.product)
    return list(history.REFILL_LOG_COLUMNS), history.refill_log_rows(found, clinic.tz)


def cmd_export_csv(args: argparse.Namespace) -> int:
    from itbconsole.druglib import DrugLibraryError, load_drug_library
    from itbconsole.exports import write_csv
    from itbconsole.paths import default_db_path
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import Store, StoreError

    problem = _combination_error(args)
    if problem:
        return _refuse(problem)
    path = default_db_path(getattr(args, "db", None))
    out = Path(args.out).expanduser()
    problem = _out_error(out, path, args.force)
    if problem:
        return _refuse(problem)
    if argtypes.existing_database(args) is None:
        return EXIT_FAILED
    try:
        library = load_drug_library()
        with Store.open(path) as store:
            clinic = ClinicService(store, library, _user())
            if args.patient is not None:
                try:
                    clinic.patient(args.patient)
                except LookupError:
                    return _refuse(f"there is no patient with record number {args.patient}")
            columns, rows = _export(clinic, args)
            count = write_csv(out, columns, rows)
            clinic.record_action(
                "csv_exported",
                {
                    "what": args.what,
                    "path": str(out.resolve()),
                    "rows": count,
                    **{o: str(getattr(args, o)) for o in OPTIONS if getattr(args, o) is not None},
                },
            )
    except (StoreError, DrugLibraryError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"Could not write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Wrote {count} row(s) to {out}.")
    return EXIT_OK


def open_records(args: argparse.Namespace, path: Path, now: datetime | None = None) -> Store:
    """The database a headless command reads: the clinic's, or with ``--demo`` a demo clinic
    built in memory (dated from ``now``; a training database: exports mark every resource as
    test data), so a command can be tried without a clinic's records and without touching
    the app's demo file. The one home of ``--demo`` for headless commands that read; each
    such command says so with ``reads_demo=True`` among its parser's defaults."""
    from itbconsole.store import Store

    if args.demo:
        from itbconsole.demo import open_demo_store

        return open_demo_store(Path(":memory:"), now=now)  # no file, no audit keys on disk
    return Store.open(path)


DEMO_WITH_DB = "--demo reads the demo clinic: leave out --db"


def cmd_export_fhir(args: argparse.Namespace) -> int:
    from itbconsole.paths import default_db_path
    from itbconsole.store import StoreError

    if args.demo and getattr(args, "db", None) is not None:
        return _refuse(DEMO_WITH_DB, "fhir")
    path = default_db_path(getattr(args, "db", None))
    out = Path(args.out).expanduser()
    problem = _out_error(out, path, args.force)
    if problem:
        return _refuse(problem, "fhir")
    if not args.demo and argtypes.existing_database(args) is None:
        return EXIT_FAILED
    try:
        with open_records(args, path) as store:
            return _export_fhir(store, args, out)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"Could not write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED


def _export_fhir(store: Store, args: argparse.Namespace, out: Path) -> int:
    """Build, check, write and audit the bundle, one entry at a time (nothing is written
    when a check fails)."""
    from itbconsole.fhir.bundle import (
        DEMO_IDENTITY,
        ExportError,
        bundle_entries,
        bundle_head,
        check_matchable,
        clinic_patient_ids,
        start_of_day,
    )
    from itbconsole.fhir.output import BundleCheckFailed, write_bundle

    now = datetime.now(UTC)
    ids = clinic_patient_ids(store, now) if args.all else [args.patient]
    if args.patient is not None:
        try:
            store.get_patient(args.patient)
        except LookupError:
            return _refuse(f"there is no patient with record number {args.patient}", "fhir")
    since = start_of_day(store, args.since) if args.since is not None else None
    identity = DEMO_IDENTITY if args.demo else None
    try:
        check_matchable(store, ids)
        entries = write_bundle(
            out, bundle_head(store, now), bundle_entries(store, ids, since, identity)
        )
    except ExportError as exc:
        return _refuse(str(exc), "fhir")
    except BundleCheckFailed as exc:  # a fault of the export itself: nothing leaves
        print(
            "itbconsole export fhir: the bundle failed its checks, nothing was written:\n  "
            + "\n  ".join(exc.problems[:20]),
            file=sys.stderr,
        )
        return EXIT_FAILED
    store.record_action(
        "fhir_exported",
        {
            "path": str(out.resolve()),
            "patients": "all" if args.all else str(args.patient),
            **({"since": args.since.isoformat()} if args.since is not None else {}),
            "patient_count": len(ids),
            "entries": entries,
        },
        _user(),
    )
    print(f"Wrote a FHIR bundle of {entries} entries for {len(ids)} patient(s) to {out}.")
    return EXIT_OK
