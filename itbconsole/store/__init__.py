"""The local record store: SQLite through sqlite-utils, append-only records, audit chain.

Open it with :meth:`Store.open`; see :mod:`itbconsole.store.schema` for the tables and
:mod:`itbconsole.store.audit` for the hash chain.
"""

from itbconsole.store.audit import AuditProblem, AuditReport, verify_audit
from itbconsole.store.backup import BackupResult, backup_database
from itbconsole.store.db import StoreError, connect, migrate, schema_version, transaction
from itbconsole.store.queries import PatientHistory, PatientOverview
from itbconsole.store.records import Recorded, Registration, Stamp
from itbconsole.store.repository import Store, UnknownPumpError, WrongPatientError

__all__ = [
    "AuditProblem",
    "AuditReport",
    "BackupResult",
    "PatientHistory",
    "PatientOverview",
    "Recorded",
    "Registration",
    "Stamp",
    "Store",
    "StoreError",
    "UnknownPumpError",
    "WrongPatientError",
    "backup_database",
    "connect",
    "migrate",
    "schema_version",
    "transaction",
    "verify_audit",
]
