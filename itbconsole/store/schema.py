"""The schema, as an ordered list of migrations. Never edit a released migration: add one.

Design of the clinical tables (why they look the way they do):

* Every clinical row carries ``created_at`` (UTC ISO 8601), ``created_by`` and
  ``created_role``: who made it and when (21 CFR 11.10(e)).
* Rows are never changed or deleted; triggers abort any UPDATE or DELETE. A correction is a
  new row whose ``corrects_id`` names the row it replaces (``UNIQUE``, so history is a single
  line, never a branch). The *effective* row is the one nothing corrects; a row marked
  ``entered_in_error`` withdraws the record while keeping it visible in history.
* Patients and pumps have a stable identity row (``patients``, ``pumps``) and versioned
  details (``patient_versions``, ``pump_versions``), so foreign keys point at something that
  never changes while names, numbers and catheter details can be corrected.
* Amounts are exact: integer microlitres (``*_ul``), integer mcg/mL, Decimal mcg as TEXT
  inside program JSON. No column holds a binary float.
* ``audit_log`` is append-only and hash-chained (see :mod:`itbconsole.store.audit`).
"""

from __future__ import annotations

from dataclasses import dataclass

STAMP = (
    "created_at TEXT NOT NULL, created_by TEXT NOT NULL, "
    "created_role TEXT NOT NULL CHECK (created_role IN ('nurse', 'clinician', 'administrator'))"
)


def _correctable(table: str) -> str:
    return (
        f"corrects_id INTEGER UNIQUE REFERENCES {table}(id), "
        "entered_in_error INTEGER NOT NULL DEFAULT 0 CHECK (entered_in_error IN (0, 1)), "
        "correction_note TEXT NOT NULL DEFAULT ''"
    )


#: The clinical tables migration 1 created. Frozen: migration 1 must build the same
#: schema on a new database however many tables later migrations add.
_V1_CLINICAL_TABLES = (
    "patients",
    "patient_versions",
    "pumps",
    "pump_versions",
    "pump_registrations",
    "readings",
    "pump_events",
    "refills",
    "program_changes",
)
_V1_PROTECTED_TABLES = (*_V1_CLINICAL_TABLES, "audit_log")

#: Tables whose rows are clinical records (audited, never updated or deleted).
CLINICAL_TABLES = (
    *_V1_CLINICAL_TABLES,
    "prepared_programs",
    "battery_reports",
    "refill_bridges",
    "clinic_settings",
    "pump_explants",
    "catheter_revisions",
    "patient_status",
    "screening_trials",
    # The people who sign in (migration 11): audited and append-only like the records.
    "accounts",
    "account_versions",
    "account_events",
    # The pump's own projected low-reservoir alarm date (migration 14).
    "pump_alarm_reports",
)

#: Tables that use ``corrects_id`` corrections.
CORRECTABLE_TABLES = (
    "patient_versions",
    "pump_versions",
    "pump_registrations",
    "readings",
    "refills",
    "program_changes",
    "prepared_programs",
)

PROTECTED_TABLES = (*CLINICAL_TABLES, "audit_log")


def _no_change_triggers(table: str) -> list[str]:
    message = (
        f"{table} rows are never changed or deleted; record a correction instead"
        if table != "audit_log"
        else "the audit log is append-only"
    )
    return [
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for op in ("UPDATE", "DELETE")
    ]


@dataclass(frozen=True)
class Migration:
    id: int
    name: str
    statements: tuple[str, ...]


_INITIAL = [
    f"CREATE TABLE patients (id INTEGER PRIMARY KEY AUTOINCREMENT, {STAMP})",
    "CREATE TABLE patient_versions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " family_name TEXT NOT NULL, given_name TEXT NOT NULL, date_of_birth TEXT NOT NULL,"
    " hospital_number TEXT NOT NULL, nhs_number TEXT,"
    " origin TEXT NOT NULL CHECK (origin IN ('spinal', 'cerebral')),"
    f" {_correctable('patient_versions')}, {STAMP})",
    "CREATE INDEX patient_versions_patient ON patient_versions (patient_id)",
    "CREATE INDEX patient_versions_hospital ON patient_versions (hospital_number)",
    "CREATE INDEX patient_versions_nhs ON patient_versions (nhs_number)",
    "CREATE INDEX patient_versions_family ON patient_versions (family_name COLLATE NOCASE)",
    f"CREATE TABLE pumps (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    f" serial TEXT NOT NULL UNIQUE, {STAMP})",
    "CREATE TABLE pump_versions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " model TEXT NOT NULL,"
    " reservoir_capacity_ul INTEGER NOT NULL CHECK (reservoir_capacity_ul > 0),"
    " alarm_volume_ul INTEGER NOT NULL CHECK (alarm_volume_ul >= 0),"
    " implant_date TEXT, pump_dead_volume_ul INTEGER NOT NULL DEFAULT 0,"
    " catheter_length_cm TEXT NOT NULL DEFAULT '0',"
    " catheter_ul_per_cm TEXT NOT NULL DEFAULT '0',"
    f" {_correctable('pump_versions')}, {STAMP})",
    "CREATE INDEX pump_versions_serial ON pump_versions (pump_serial)",
    "CREATE TABLE pump_registrations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER REFERENCES patients(id),"
    " effective_at TEXT NOT NULL,"
    f" {_correctable('pump_registrations')}, {STAMP})",
    "CREATE INDEX pump_registrations_pump ON pump_registrations (pump_serial, effective_at)",
    "CREATE INDEX pump_registrations_patient ON pump_registrations (patient_id)",
    "CREATE TABLE readings ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " at TEXT NOT NULL, pump_clock TEXT NOT NULL, clock_offset_ms INTEGER NOT NULL,"
    " reservoir_ul INTEGER NOT NULL CHECK (reservoir_ul >= 0),"
    " alarm_volume_ul INTEGER NOT NULL CHECK (alarm_volume_ul >= 0),"
    " battery_mv INTEGER NOT NULL,"
    " eri INTEGER NOT NULL CHECK (eri IN (0, 1)), eos INTEGER NOT NULL CHECK (eos IN (0, 1)),"
    " concentration_mcg_ml INTEGER NOT NULL CHECK (concentration_mcg_ml > 0),"
    " program_json TEXT NOT NULL, alarms_json TEXT NOT NULL,"
    " alarm_at TEXT,"
    f" {_correctable('readings')}, {STAMP})",
    "CREATE INDEX readings_patient ON readings (patient_id, at)",
    "CREATE INDEX readings_pump ON readings (pump_serial, at)",
    "CREATE TABLE pump_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " event_index INTEGER NOT NULL,"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " at TEXT NOT NULL, kind TEXT NOT NULL, detail_json TEXT NOT NULL,"
    f" {STAMP},"
    " UNIQUE (pump_serial, event_index))",
    "CREATE INDEX pump_events_patient ON pump_events (patient_id, at)",
    "CREATE TABLE refills ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " at TEXT NOT NULL,"
    " withdrawn_ul INTEGER NOT NULL CHECK (withdrawn_ul >= 0),"
    " expected_residual_ul INTEGER NOT NULL,"
    " added_ul INTEGER NOT NULL CHECK (added_ul >= 0),"
    " product TEXT NOT NULL,"
    " concentration_mcg_ml INTEGER NOT NULL CHECK (concentration_mcg_ml > 0),"
    " lot TEXT NOT NULL, expiry TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('confirmed', 'pending', 'failed')),"
    " note TEXT NOT NULL DEFAULT '',"
    f" {_correctable('refills')}, {STAMP})",
    "CREATE INDEX refills_patient ON refills (patient_id, at)",
    "CREATE INDEX refills_pump ON refills (pump_serial, at)",
    "CREATE INDEX refills_pending ON refills (patient_id) WHERE status = 'pending'",
    "CREATE TABLE program_changes ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " at TEXT NOT NULL,"
    " old_program_json TEXT NOT NULL, new_program_json TEXT NOT NULL,"
    " concentration_mcg_ml INTEGER NOT NULL CHECK (concentration_mcg_ml > 0),"
    " reason TEXT NOT NULL, overrides_json TEXT NOT NULL,"
    " outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'uncertain')),"
    " readback_json TEXT,"
    f" {_correctable('program_changes')}, {STAMP})",
    "CREATE INDEX program_changes_patient ON program_changes (patient_id, at)",
    "CREATE INDEX program_changes_pump ON program_changes (pump_serial, at)",
    "CREATE INDEX program_changes_uncertain ON program_changes (patient_id)"
    " WHERE outcome = 'uncertain'",
    "CREATE TABLE audit_log ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at TEXT NOT NULL, user_name TEXT NOT NULL, user_role TEXT NOT NULL,"
    " action TEXT NOT NULL, table_name TEXT, record_id INTEGER,"
    " payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE INDEX audit_log_record ON audit_log (table_name, record_id)",
    *[t for table in _V1_PROTECTED_TABLES for t in _no_change_triggers(table)],
]


def _effective(table: str, alias: str) -> str:
    return (
        f"{alias}.entered_in_error = 0 AND NOT EXISTS "
        f"(SELECT 1 FROM {table} c WHERE c.corrects_id = {alias}.id)"
    )


_OWNER_REFRESH = (
    "DELETE FROM pump_owner WHERE pump_serial = {serial};"
    " INSERT INTO pump_owner (pump_serial, patient_id, effective_at, registration_id)"
    " SELECT r.pump_serial, r.patient_id, r.effective_at, r.id FROM pump_registrations r"
    f" WHERE r.pump_serial = {{serial}} AND {_effective('pump_registrations', 'r')}"
    " ORDER BY r.effective_at DESC, r.id DESC LIMIT 1;"
)
_LATEST_COLUMNS = (
    "pump_serial, reading_id, at, alarm_at, reservoir_ul, alarm_volume_ul, battery_mv, eri, eos"
)
_READING_REFRESH = (
    "DELETE FROM latest_reading WHERE pump_serial = {serial};"
    f" INSERT INTO latest_reading ({_LATEST_COLUMNS})"
    f" SELECT {_LATEST_COLUMNS.replace('reading_id', 'id')} FROM readings r"
    f" WHERE r.pump_serial = {{serial}} AND {_effective('readings', 'r')}"
    " ORDER BY r.at DESC, r.id DESC LIMIT 1;"
)

#: What each current-state table must hold, computed from the clinical tables alone. Used
#: to fill them on migration and by ``verify`` to prove they still match the records.
CURRENT_STATE_QUERIES = {
    "current_patient": "SELECT patient_id, MAX(id) FROM patient_versions GROUP BY patient_id",
    "current_pump": "SELECT p.pump_serial, p.id, p.model, p.reservoir_capacity_ul"
    " FROM pump_versions p WHERE p.id IN (SELECT MAX(id) FROM pump_versions"
    " GROUP BY pump_serial)",
    "pump_owner": "SELECT pump_serial, patient_id, effective_at, id FROM (SELECT r.*,"
    " ROW_NUMBER() OVER (PARTITION BY r.pump_serial ORDER BY r.effective_at DESC, r.id DESC)"
    f" AS rn FROM pump_registrations r WHERE {_effective('pump_registrations', 'r')})"
    " WHERE rn = 1",
    "latest_reading": f"SELECT {_LATEST_COLUMNS.replace('reading_id', 'id')} FROM"
    " (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.pump_serial ORDER BY r.at DESC,"
    f" r.id DESC) AS rn FROM readings r WHERE {_effective('readings', 'r')}) WHERE rn = 1",
}

#: Derived "current state" tables, one row per patient or pump, kept by triggers in the
#: same transaction as the clinical insert. They hold nothing that is not in the clinical
#: tables (so they are not audited and may be rebuilt), and they turn the clinic-wide
#: queries into index lookups instead of a search through ten years of rows per patient.
_CURRENT_STATE = [
    "CREATE TABLE current_patient (patient_id INTEGER PRIMARY KEY REFERENCES patients(id),"
    " version_id INTEGER NOT NULL REFERENCES patient_versions(id))",
    "CREATE TABLE current_pump (pump_serial TEXT PRIMARY KEY REFERENCES pumps(serial),"
    " version_id INTEGER NOT NULL REFERENCES pump_versions(id),"
    " model TEXT NOT NULL, reservoir_capacity_ul INTEGER NOT NULL)",
    "CREATE TABLE pump_owner (pump_serial TEXT PRIMARY KEY REFERENCES pumps(serial),"
    " patient_id INTEGER REFERENCES patients(id), effective_at TEXT NOT NULL,"
    " registration_id INTEGER NOT NULL REFERENCES pump_registrations(id))",
    "CREATE INDEX pump_owner_patient ON pump_owner (patient_id, effective_at)",
    "CREATE TABLE latest_reading (pump_serial TEXT PRIMARY KEY REFERENCES pumps(serial),"
    " reading_id INTEGER NOT NULL REFERENCES readings(id), at TEXT NOT NULL, alarm_at TEXT,"
    " reservoir_ul INTEGER NOT NULL, alarm_volume_ul INTEGER NOT NULL,"
    " battery_mv INTEGER NOT NULL, eri INTEGER NOT NULL, eos INTEGER NOT NULL)",
    "CREATE INDEX latest_reading_alarm ON latest_reading (alarm_at)",
    # Corrections always extend the latest version, so the newest row is the current one.
    "CREATE TRIGGER patient_versions_current AFTER INSERT ON patient_versions BEGIN"
    " INSERT OR REPLACE INTO current_patient VALUES (NEW.patient_id, NEW.id); END",
    "CREATE TRIGGER pump_versions_current AFTER INSERT ON pump_versions BEGIN"
    " INSERT OR REPLACE INTO current_pump VALUES"
    " (NEW.pump_serial, NEW.id, NEW.model, NEW.reservoir_capacity_ul); END",
    "CREATE TRIGGER pump_registrations_owner AFTER INSERT ON pump_registrations BEGIN "
    + _OWNER_REFRESH.format(serial="NEW.pump_serial")
    + " END",
    "CREATE TRIGGER readings_latest AFTER INSERT ON readings BEGIN "
    + _READING_REFRESH.format(serial="NEW.pump_serial")
    + " END",
    # Backfill for databases that already hold records.
    *[f"INSERT INTO {table} {select}" for table, select in CURRENT_STATE_QUERIES.items()],
]

#: Programs prepared for review and not yet sent (a nurse prepares, a clinician sends).
#: Append-only like every clinical table: withdrawing one, or marking it sent, is a
#: correction row with the new ``status`` (and, when sent, the program change it became).
#: ``prepared_by`` and ``prepared_role`` are copied forward into each correction, so the
#: effective row always says who prepared the program even when someone else withdrew it.
_PREPARED_PROGRAMS = [
    "CREATE TABLE prepared_programs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " prepared_at TEXT NOT NULL,"
    " program_json TEXT NOT NULL,"
    " concentration_mcg_ml INTEGER NOT NULL CHECK (concentration_mcg_ml > 0),"
    " reason TEXT NOT NULL,"
    " prepared_by TEXT NOT NULL,"
    " prepared_role TEXT NOT NULL"
    "  CHECK (prepared_role IN ('nurse', 'clinician', 'administrator')),"
    " status TEXT NOT NULL DEFAULT 'prepared'"
    "  CHECK (status IN ('prepared', 'sent', 'withdrawn')),"
    " program_change_id INTEGER REFERENCES program_changes(id),"
    f" {_correctable('prepared_programs')}, {STAMP})",
    "CREATE INDEX prepared_programs_pump ON prepared_programs (pump_serial, prepared_at)",
    *_no_change_triggers("prepared_programs"),
]

#: The pump's own ERI and End of Service dates as it reported them with a reading. Kept
#: beside the reading (not in it) so that readings stored before this migration keep
#: exactly the content their audit entries recorded.
_BATTERY_REPORTS = [
    "CREATE TABLE battery_reports ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " reading_id INTEGER NOT NULL UNIQUE REFERENCES readings(id),"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " eri_date TEXT, eos_date TEXT,"
    f" {STAMP})",
    "CREATE INDEX battery_reports_pump ON battery_reports (pump_serial, reading_id)",
    *_no_change_triggers("battery_reports"),
]

#: Migration 5, the one forecast (docs/dosing.md, "The forecast"):
#:
#: * ``refill_bridges``: the bridge bolus a refill started (volume and the concentration in
#:   the line before it), beside the refill like ``battery_reports``, so the next alarm date
#:   and the next expected residual count it once, when it happens;
#: * ``clinic_settings``: the clinic's numbers (itbconsole.settings), one JSON version per
#:   row; the newest row is in force; an administrator adds a row, never edits one;
#: * ``pump_forecast``: each pump's forecast as :func:`itbconsole.forecast.forecast` last
#:   computed it, so the clinic-wide list and worklist are an index read. It is derived (not
#:   audited, rebuildable): triggers delete a pump's row whenever anything it rests on is
#:   written, and ``inputs_key`` (settings and drug library digest) makes rows computed
#:   with other settings count as missing. ClinicService computes missing rows before any
#:   read.
_FORECAST = [
    "CREATE TABLE refill_bridges ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " refill_id INTEGER NOT NULL UNIQUE REFERENCES refills(id),"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " at TEXT NOT NULL,"
    " volume_ul INTEGER NOT NULL CHECK (volume_ul > 0),"
    " from_concentration_mcg_ml INTEGER NOT NULL CHECK (from_concentration_mcg_ml > 0),"
    " duration_min INTEGER NOT NULL CHECK (duration_min >= 0),"
    f" {STAMP})",
    "CREATE INDEX refill_bridges_pump ON refill_bridges (pump_serial, at)",
    *_no_change_triggers("refill_bridges"),
    "CREATE TABLE clinic_settings ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " settings_json TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    *_no_change_triggers("clinic_settings"),
    "CREATE TABLE pump_forecast ("
    " pump_serial TEXT PRIMARY KEY REFERENCES pumps(serial),"
    " inputs_key TEXT NOT NULL,"
    " computed_at TEXT NOT NULL,"
    " refill_by TEXT, alarm_at TEXT,"
    " summary_json TEXT NOT NULL)",
    "CREATE INDEX pump_forecast_refill_by ON pump_forecast (refill_by)",
    *[
        f"CREATE TRIGGER {table}_forecast_stale AFTER INSERT ON {table} BEGIN"
        " DELETE FROM pump_forecast WHERE pump_serial = NEW.pump_serial; END"
        for table in (
            "readings",
            "refills",
            "program_changes",
            "battery_reports",
            "refill_bridges",
            "pump_versions",
            "pump_registrations",
        )
    ],
    "CREATE TRIGGER clinic_settings_forecast_stale AFTER INSERT ON clinic_settings BEGIN"
    " DELETE FROM pump_forecast; END",
]

#: Migration 6: a hospital number (and an NHS number, when given) identifies one patient.
#: A trigger refuses a new patient version that would share either with another current
#: patient. Duplicates already in a database are not touched (nothing is ever deleted):
#: ``Store.duplicate_identities`` lists them for an administrator to resolve.
_IDENTITY = [
    "CREATE INDEX patient_versions_hospital_upper ON patient_versions"
    " (upper(trim(hospital_number)))",
    "CREATE TRIGGER patient_identity_unique BEFORE INSERT ON patient_versions"
    " WHEN NEW.entered_in_error = 0 AND EXISTS ("
    " SELECT 1 FROM current_patient cp JOIN patient_versions v ON v.id = cp.version_id"
    " WHERE v.patient_id != NEW.patient_id AND v.entered_in_error = 0 AND ("
    " upper(trim(v.hospital_number)) = upper(trim(NEW.hospital_number))"
    " OR (NEW.nhs_number IS NOT NULL AND v.nhs_number = NEW.nhs_number)))"
    " BEGIN SELECT RAISE(ABORT, 'duplicate patient identity: the hospital or NHS number"
    " belongs to another patient'); END",
]

#: Migration 7, the pump's life: an explant record when a pump leaves a patient (replaced,
#: End of Service, failure, infection, revision, other) and catheter revisions (date, new
#: length and volume per cm, tip level), which feed the dead volume and the priming rule.
EXPLANT_REASONS = ("end_of_service", "failure", "infection", "revision", "other")
_LIFECYCLE = [
    "CREATE TABLE pump_explants ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " explanted_on TEXT NOT NULL,"
    " reason TEXT NOT NULL CHECK (reason IN ("
    + ", ".join(f"'{r}'" for r in EXPLANT_REASONS)
    + ")),"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    "CREATE INDEX pump_explants_patient ON pump_explants (patient_id, explanted_on)",
    *_no_change_triggers("pump_explants"),
    "CREATE TABLE catheter_revisions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " revised_on TEXT NOT NULL,"
    " catheter_length_cm TEXT NOT NULL, catheter_ul_per_cm TEXT NOT NULL,"
    " tip_level TEXT NOT NULL DEFAULT '',"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    "CREATE INDEX catheter_revisions_pump ON catheter_revisions (pump_serial, revised_on)",
    *_no_change_triggers("catheter_revisions"),
]

#: Migration 8: a patient's status over time. Nothing is ever deleted: a patient who moves
#: away, is explanted or dies keeps their record, with the status saying so. No row means
#: active (every patient recorded before this migration).
PATIENT_STATUSES = ("candidate", "active", "inactive", "deceased")
_PATIENT_STATUS = [
    "CREATE TABLE patient_status ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " status TEXT NOT NULL CHECK (status IN ("
    + ", ".join(f"'{s}'" for s in PATIENT_STATUSES)
    + ")),"
    " effective_on TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    "CREATE INDEX patient_status_patient ON patient_status (patient_id, id)",
    *_no_change_triggers("patient_status"),
]

#: Migration 9: screening test doses (the trial by lumbar puncture before an implant).
SCREENING_OUTCOMES = ("positive", "negative", "inconclusive")
_SCREENING = [
    "CREATE TABLE screening_trials ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " patient_id INTEGER NOT NULL REFERENCES patients(id),"
    " given_at TEXT NOT NULL,"
    " dose_mcg TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " product TEXT NOT NULL, concentration_mcg_ml INTEGER NOT NULL, lot TEXT NOT NULL,"
    " scale TEXT NOT NULL,"
    " scores_json TEXT NOT NULL,"
    " vitals TEXT NOT NULL DEFAULT '',"
    " adverse_events TEXT NOT NULL DEFAULT '',"
    " outcome TEXT NOT NULL CHECK (outcome IN ("
    + ", ".join(f"'{o}'" for o in SCREENING_OUTCOMES)
    + ")),"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    "CREATE INDEX screening_trials_patient ON screening_trials (patient_id, given_at)",
    *_no_change_triggers("screening_trials"),
]

#: Migration 10: the audit log's keyed seals. ``store_identity`` names this database (its
#: keys are kept outside it, under that name); ``audit_seals`` holds, for every audit entry,
#: HMAC-SHA-256(key, entry hash) and which key made it (itbconsole.store.audit).
_AUDIT_SEALS = [
    "CREATE TABLE store_identity (id TEXT NOT NULL, created_at TEXT NOT NULL)",
    "INSERT INTO store_identity (id, created_at) VALUES (lower(hex(randomblob(16))),"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    "CREATE TRIGGER store_identity_no_insert BEFORE INSERT ON store_identity"
    " WHEN (SELECT COUNT(*) FROM store_identity) > 0"
    " BEGIN SELECT RAISE(ABORT, 'a database has one identity'); END",
    *_no_change_triggers("store_identity"),
    "CREATE TABLE audit_seals ("
    " seq INTEGER PRIMARY KEY REFERENCES audit_log(seq),"
    " key_id TEXT NOT NULL, mac TEXT NOT NULL)",
    *_no_change_triggers("audit_seals"),
]

#: Migration 11, accounts (itbconsole.store.accounts, itbconsole.services.accounts):
#:
#: * ``accounts``: one identity row per person who signs in; never deleted, so every
#:   record's author stays known;
#: * ``account_versions``: the account's details over time (name, role, professional
#:   registration number, active or disabled, argon2id password hash, must change the
#:   password at the next sign-in), one row per change with what changed; the newest row
#:   is in force. A name belongs to one account for good (a trigger refuses another
#:   account's name, case and spaces ignored, disabled accounts included);
#: * ``account_events``: sign-in, failed sign-in, sign-out, lock, unlock, switch of user
#:   and second-clinician confirmations, with the time the service's clock gave (the
#:   sign-in backoff counts failures from it). A failure is stamped by no one (the person
#:   was not verified): ``created_by`` is ``(not signed in)``, the account tried is in
#:   ``account_id`` and ``name``.
ACCOUNT_ROLES = ("nurse", "clinician", "administrator")
ACCOUNT_CHANGES = (
    "created",
    "disabled",
    "enabled",
    "role_changed",
    "details_changed",
    "password_reset",
    "password_changed",
    "password_rehashed",
)
ACCOUNT_EVENTS = (
    "signed_in",
    "sign_in_failed",
    "signed_out",
    "locked",
    "unlocked",
    "switched_user",
    "second_check",
    "second_check_failed",
    "work_paused",
    "work_resumed",
    "work_discarded",
)
_CURRENT_ACCOUNT = (
    "SELECT v.* FROM account_versions v WHERE v.id ="
    " (SELECT MAX(w.id) FROM account_versions w WHERE w.account_id = v.account_id)"
)
_ACCOUNTS = [
    f"CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, {STAMP})",
    *_no_change_triggers("accounts"),
    "CREATE TABLE account_versions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " name TEXT NOT NULL CHECK (length(trim(name)) >= 2),"
    " role TEXT NOT NULL CHECK (role IN (" + ", ".join(f"'{r}'" for r in ACCOUNT_ROLES) + ")),"
    " registration TEXT NOT NULL DEFAULT '',"
    " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    " password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),"
    " must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),"
    " change TEXT NOT NULL CHECK (change IN ("
    + ", ".join(f"'{c}'" for c in ACCOUNT_CHANGES)
    + ")),"
    " note TEXT NOT NULL DEFAULT '',"
    f" {STAMP})",
    "CREATE INDEX account_versions_account ON account_versions (account_id, id)",
    "CREATE INDEX account_versions_name ON account_versions (lower(trim(name)))",
    *_no_change_triggers("account_versions"),
    "CREATE TRIGGER account_name_unique BEFORE INSERT ON account_versions"
    f" WHEN EXISTS (SELECT 1 FROM ({_CURRENT_ACCOUNT}) c WHERE c.account_id != NEW.account_id"
    " AND lower(trim(c.name)) = lower(trim(NEW.name)))"
    " BEGIN SELECT RAISE(ABORT, 'duplicate account name: another account has this name'); END",
    "CREATE TABLE account_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER REFERENCES accounts(id),"
    " name TEXT NOT NULL,"
    " event TEXT NOT NULL CHECK (event IN (" + ", ".join(f"'{e}'" for e in ACCOUNT_EVENTS) + ")),"
    " at TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '{}',"
    f" {STAMP})",
    "CREATE INDEX account_events_account ON account_events (account_id, id)",
    "CREATE INDEX account_events_name ON account_events (lower(trim(name)), id)",
    *_no_change_triggers("account_events"),
]

#: A random UUID version 4 as text, made in SQL (each evaluation draws new random bytes).
_UUID4_SQL = (
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||"
    " substr(lower(hex(randomblob(2))), 2) || '-' ||"
    " substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) ||"
    " '-' || lower(hex(randomblob(6)))"
)

#: Migration 12, multi-room sync (docs/sync-rules.md, itbconsole.sync):
#:
#: * ``sync_outbox``: the room's outbox is its audit log; every entry gets an immutable
#:   event id (a UUID) in the same transaction, from a trigger, so no write path can forget
#:   it; entries already in the log get theirs here;
#: * ``sync_applied``: each event of another room this room has handled (applied, or set
#:   aside as a conflict), so applying is idempotent and the download cursors are known;
#: * ``sync_ids``: which local row is the copy of another room's row (ids are per room);
#:   ``sync_same``: another room's row taken as one already here (the same pump log entry,
#:   or an older concurrent version set aside for the version in force here);
#:   ``sync_aliases``: another room's row that itself stands for a row of a third room
#:   (``noted_seq``: from which of that room's entries on it knew the row);
#: * ``sync_conflicts``: an event this room could not apply as it is, with both versions,
#:   for an administrator; ``sync_blocked`` the records that then wait on it;
#:   ``sync_resolutions`` an administrator's answer, ``sync_reapplied`` a waiting event
#:   applied later after all (conflicts themselves never change);
#: * ``sync_state``: upload bookkeeping per server (mutable, not clinical).
_SYNC = [
    "CREATE TABLE sync_outbox ("
    " seq INTEGER PRIMARY KEY REFERENCES audit_log(seq),"
    " event_id TEXT NOT NULL)",
    *_no_change_triggers("sync_outbox"),
    # OR IGNORE: a seq that already has an id keeps it (seqs never repeat; only a forger
    # renumbering the log makes one repeat, and db verify reports that).
    "CREATE TRIGGER audit_log_outbox AFTER INSERT ON audit_log BEGIN"
    f" INSERT OR IGNORE INTO sync_outbox (seq, event_id) VALUES (NEW.seq, {_UUID4_SQL}); END",
    f"INSERT INTO sync_outbox (seq, event_id) SELECT seq, {_UUID4_SQL} FROM audit_log",
    # Unique from here on; built after the backfill, which is then twice as fast (about
    # 3.5 s per million entries already in the log).
    "CREATE UNIQUE INDEX sync_outbox_event ON sync_outbox (event_id)",
    "CREATE TABLE sync_applied ("
    " event_id TEXT PRIMARY KEY,"
    " origin_room TEXT NOT NULL, origin_seq INTEGER NOT NULL,"
    " local_seq INTEGER REFERENCES audit_log(seq),"
    " conflict_id INTEGER REFERENCES sync_conflicts(id),"
    " handled_at TEXT NOT NULL)",
    "CREATE INDEX sync_applied_room ON sync_applied (origin_room, origin_seq)",
    *_no_change_triggers("sync_applied"),
    "CREATE TABLE sync_ids ("
    " origin_room TEXT NOT NULL, table_name TEXT NOT NULL, origin_id INTEGER NOT NULL,"
    " local_id INTEGER NOT NULL,"
    " PRIMARY KEY (origin_room, table_name, origin_id)) WITHOUT ROWID",
    "CREATE INDEX sync_ids_local ON sync_ids (table_name, local_id)",
    *_no_change_triggers("sync_ids"),
    "CREATE TABLE sync_same ("
    " origin_room TEXT NOT NULL, table_name TEXT NOT NULL, origin_id INTEGER NOT NULL,"
    " local_id INTEGER NOT NULL,"
    " PRIMARY KEY (origin_room, table_name, origin_id)) WITHOUT ROWID",
    *_no_change_triggers("sync_same"),
    "CREATE TABLE sync_aliases ("
    " via_room TEXT NOT NULL, table_name TEXT NOT NULL, via_id INTEGER NOT NULL,"
    " origin_room TEXT NOT NULL, origin_id INTEGER NOT NULL, noted_seq INTEGER NOT NULL,"
    " PRIMARY KEY (via_room, table_name, via_id)) WITHOUT ROWID",
    "CREATE INDEX sync_aliases_origin ON sync_aliases"
    " (via_room, table_name, origin_room, origin_id)",
    *_no_change_triggers("sync_aliases"),
    "CREATE TABLE sync_conflicts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " event_id TEXT NOT NULL, origin_room TEXT NOT NULL, origin_seq INTEGER NOT NULL,"
    " origin_at TEXT NOT NULL, user_name TEXT NOT NULL, user_role TEXT NOT NULL,"
    " action TEXT NOT NULL, table_name TEXT, origin_id INTEGER,"
    " kind TEXT NOT NULL, message TEXT NOT NULL,"
    " remote_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
    " local_table TEXT, local_id INTEGER, local_json TEXT,"
    " detected_at TEXT NOT NULL)",
    "CREATE INDEX sync_conflicts_event ON sync_conflicts (event_id)",
    *_no_change_triggers("sync_conflicts"),
    "CREATE TABLE sync_blocked ("
    " origin_room TEXT NOT NULL, table_name TEXT NOT NULL, key_column TEXT NOT NULL,"
    " key_value TEXT NOT NULL, conflict_id INTEGER NOT NULL REFERENCES sync_conflicts(id),"
    " PRIMARY KEY (origin_room, table_name, key_column, key_value)) WITHOUT ROWID",
    *_no_change_triggers("sync_blocked"),
    "CREATE TABLE sync_reapplied ("
    " conflict_id INTEGER PRIMARY KEY REFERENCES sync_conflicts(id),"
    " event_id TEXT NOT NULL, local_seq INTEGER REFERENCES audit_log(seq),"
    " new_conflict_id INTEGER REFERENCES sync_conflicts(id), reapplied_at TEXT NOT NULL)",
    *_no_change_triggers("sync_reapplied"),
    "CREATE TABLE sync_resolutions ("
    " conflict_id INTEGER PRIMARY KEY REFERENCES sync_conflicts(id),"
    " resolved_at TEXT NOT NULL, resolved_by TEXT NOT NULL, note TEXT NOT NULL)",
    *_no_change_triggers("sync_resolutions"),
    "CREATE TABLE sync_state ("
    " server TEXT PRIMARY KEY, uploaded_through INTEGER NOT NULL,"
    " last_sync_at TEXT, last_error TEXT, last_error_at TEXT)",
]

#: Migration 13, concurrent edits decided by the server's order, never by a room's clock
#: (docs/sync-rules.md): ``sync_applied.server_order`` is where the server put another
#: room's event; ``sync_own_order`` where it put this room's own entries (learnt after each
#: upload). A version whose order is not known yet (not uploaded) counts as after every
#: version downloaded, so all rooms reach the same winner once everything is uploaded.
_SERVER_ORDER = [
    "ALTER TABLE sync_applied ADD COLUMN server_order INTEGER",
    "CREATE TABLE sync_own_order ("
    " seq INTEGER PRIMARY KEY REFERENCES audit_log(seq),"
    " server_order INTEGER NOT NULL)",
    *_no_change_triggers("sync_own_order"),
]

#: Migration 14: the pump's own projected low-reservoir alarm date as it reported it with a
#: reading (protocol status field 12), beside the reading like ``battery_reports`` (readings
#: stored before keep the content their audit entries recorded). The forecast takes the
#: earlier of it and the console's own alarm while that reading is the anchor
#: (docs/dosing.md, "The forecast"); writing one drops the pump's stored forecast.
_PUMP_ALARM_REPORTS = [
    "CREATE TABLE pump_alarm_reports ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " reading_id INTEGER NOT NULL UNIQUE REFERENCES readings(id),"
    " pump_serial TEXT NOT NULL REFERENCES pumps(serial),"
    " alarm_date TEXT NOT NULL,"
    f" {STAMP})",
    "CREATE INDEX pump_alarm_reports_pump ON pump_alarm_reports (pump_serial, reading_id)",
    *_no_change_triggers("pump_alarm_reports"),
    "CREATE TRIGGER pump_alarm_reports_forecast_stale AFTER INSERT ON pump_alarm_reports BEGIN"
    " DELETE FROM pump_forecast WHERE pump_serial = NEW.pump_serial; END",
]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "clinical records and hash-chained audit log", tuple(_INITIAL)),
    Migration(2, "current-state tables for the patient list", tuple(_CURRENT_STATE)),
    Migration(3, "programs prepared for review", tuple(_PREPARED_PROGRAMS)),
    Migration(4, "the pump's own ERI and End of Service dates", tuple(_BATTERY_REPORTS)),
    Migration(5, "one forecast: refill bridges, clinic settings, forecast cache", tuple(_FORECAST)),
    Migration(6, "one patient per hospital and NHS number", tuple(_IDENTITY)),
    Migration(7, "pump explants and catheter revisions", tuple(_LIFECYCLE)),
    Migration(8, "patient status: candidate, active, inactive, deceased", tuple(_PATIENT_STATUS)),
    Migration(9, "screening test doses", tuple(_SCREENING)),
    Migration(10, "keyed seals on the audit log", tuple(_AUDIT_SEALS)),
    Migration(
        11, "accounts: who signs in, their changes and their sign-in events", tuple(_ACCOUNTS)
    ),
    Migration(12, "multi-room sync: event ids, applied events, id map, conflicts", tuple(_SYNC)),
    Migration(13, "sync: the server's order of each event", tuple(_SERVER_ORDER)),
    Migration(14, "the pump's own projected low-reservoir alarm date", tuple(_PUMP_ALARM_REPORTS)),
)


def expected_triggers(migrations: tuple[Migration, ...] = MIGRATIONS) -> frozenset[str]:
    """The name of every trigger the migrations create (``db verify`` checks each is still
    there: a dropped append-only trigger is how records get changed behind the program)."""
    names = set()
    for migration in migrations:
        for statement in migration.statements:
            words = statement.split()
            if words[:2] == ["CREATE", "TRIGGER"]:
                names.add(words[2])
    return frozenset(names)
