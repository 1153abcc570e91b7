"""The clinic session: who is signed in, which records they see, and the rules for saving
what a pump reports. The desktop app drives this; it holds no SQL and no protocol.

Wrong-patient rule: the pump's serial decides the patient. If a patient is open and the
pump belongs to someone else, nothing is written and the caller gets :class:`WrongPatient`.
An unknown pump is never saved until it is registered, with confirmation, to a patient.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itbconsole.druglib import DrugLibrary
from itbconsole.forecast import RULES_VERSION, Forecast, PumpFacts, Status, facts_from, forecast
from itbconsole.model import (
    Patient,
    PreparedProgram,
    Program,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    RefillStatus,
    User,
)
from itbconsole.pump_models import check_pump_model, require_plausible
from itbconsole.services.accounts import AccountService
from itbconsole.services.patients import (
    DuplicatePatient,
    PatientQuery,
    catheter_revision_errors,
    explant_errors,
    row_serials,
    search_key,
    status_change_errors,
)
from itbconsole.settings import ClinicSettings
from itbconsole.store import PatientOverview, Store, StoreError, UnknownPumpError, WrongPatientError
from itbconsole.store import queries as store_queries
from itbconsole.store.backup import BackupResult, BackupSteps
from itbconsole.store.queries import PatientHistory, RefillRecord, patient_records, refill_log

# Program changes, settlement, screening, history, the worklist, the Overview and trends are
# imported by the methods that use them: the window's start needs none of them.
if TYPE_CHECKING:
    from itbconsole.services import programming
    from itbconsole.services import worklist as clinic_day
    from itbconsole.services.history import TimelineRow
    from itbconsole.services.overview import PumpOverview
    from itbconsole.services.screening import ScreeningTrial
    from itbconsole.trends import PatientTrends


class WrongPatient(Exception):
    """The interrogated pump belongs to another patient than the open one."""

    def __init__(self, serial: str, owner: Patient, open_patient: Patient) -> None:
        super().__init__(
            f"Pump {serial} belongs to {owner.display_name}, not to {open_patient.display_name}. "
            "Nothing was saved."
        )
        self.serial = serial
        self.owner = owner
        self.open_patient = open_patient


class TrainingPump(Exception):
    """A simulated (training) pump in a clinic database: its data would be a wrong record."""

    def __init__(self, serial: str) -> None:
        super().__init__(
            f"Pump {serial} is a simulated training pump. This database holds real patients' "
            "records, so nothing was saved. For training, start ITB Console in demo mode "
            "(itbconsole --demo), which has its own database."
        )
        self.serial = serial


class PumpReplacementNeeded(Exception):
    """The patient already has a pump: replacing it needs an explant record first."""


class UnknownPump(Exception):
    """The interrogated pump is not registered to anyone: register it first."""

    def __init__(self, serial: str) -> None:
        super().__init__(
            f"Pump {serial} is not registered to any patient. Register it before saving its data."
        )
        self.serial = serial


@dataclass(frozen=True)
class SavedInterrogation:
    patient: Patient
    reading: Reading
    new_events: int
    #: pending refills this interrogation confirmed or failed (settlement.PendingResolution)
    refill_resolutions: tuple[Any, ...] = ()
    settled_changes: int = 0  # uncertain program changes it settled
    still_uncertain: int = 0  # uncertain program changes it could not settle

    @property
    def settled_refills(self) -> int:
        return len(self.refill_resolutions)


#: How many computed forecasts the service keeps in memory (the patients opened lately).
KEPT_FORECASTS = 64


def worklist_key(row: PatientOverview) -> tuple[int, int, str]:
    """Most urgent first: status (not delivering, overdue, due soon, on track, no reading),
    then the earliest refill-by date, then the name."""
    rank = row.status.status.rank if row.status is not None else len(Status)
    day = (row.refill_by or date.max).toordinal()
    return rank, day, row.patient.display_name.casefold()


def library_key(library: DrugLibrary) -> str:
    """A digest of what the forecast reads from the drug library (products, concentrations,
    maximum intervals): a stored forecast made with another library is out of date."""
    text = repr(
        sorted(
            (p.id, p.product, p.concentration_mcg_ml, p.max_refill_interval_days, p.refill_allowed)
            for p in library.products
        )
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class ClinicService:
    """Facade over the store for the desktop app (and for scripts).

    The clinic's numbers come from ``settings`` (default: the ones stored in the database,
    else the documented defaults); ``tz`` and ``margin_days`` override them (tests, demo).
    Every date and status it hands out comes from :mod:`itbconsole.forecast`."""

    def __init__(
        self,
        store: Store,
        library: DrugLibrary,
        user: User,
        tz: tzinfo | None = None,
        margin_days: int | None = None,
        *,
        settings: ClinicSettings | None = None,
    ) -> None:
        self.store = store
        self.library = library
        self.user = user
        self._tz_override = tz
        self._margin_override = margin_days
        self._fixed = settings is not None
        self._settings_version = store.settings_version()
        self.settings = self._effective(settings or store.clinic_settings() or ClinicSettings())
        self._kept_forecasts: OrderedDict[str, tuple[str, Forecast]] = OrderedDict()
        #: :meth:`worklist_ahead` has made every listed row's worklist lines (not yet when
        #: it is under way or has not run: a worklist opened then makes them itself).
        self.lines_made_ahead = False
        #: The worklist's facts with the stamp, day and row count they were read for.
        self._facts_kept: tuple[tuple[object, ...], clinic_day.WorklistFacts] | None = None

    def _refresh_settings(self) -> None:
        """Follow a settings change made by another program on the same database (an
        administrator's ``itbconsole settings set`` while the app is open)."""
        if self._fixed:
            return
        version = self.store.settings_version()
        if version != self._settings_version:
            self._settings_version = version
            self.settings = self._effective(self.store.clinic_settings() or ClinicSettings())

    def _effective(self, settings: ClinicSettings) -> ClinicSettings:
        if self._margin_override is not None:
            settings = replace(settings, refill_margin_days=self._margin_override)
        return settings.with_tz(self._tz_override) if self._tz_override is not None else settings

    @property
    def tz(self) -> tzinfo:
        return self.settings.tz

    @property
    def margin_days(self) -> int:
        return self.settings.refill_margin_days

    @property
    def inputs_key(self) -> str:
        """What every stored forecast must have been computed with to be used: the
        forecast's rules, the clinic's settings and the drug library."""
        return f"r{RULES_VERSION}-{self.settings.fingerprint()}-{library_key(self.library)}"

    def update_settings(self, settings: ClinicSettings, note: str = "") -> ClinicSettings:
        """Store a new version of the clinic's settings (administrators only); every
        forecast is recomputed from them."""
        self.store.save_clinic_settings(settings, self.user, note)
        self._settings_version = self.store.settings_version()
        self.settings = self._effective(settings)
        return self.settings

    # ------------------------------------------------------------------ forecasts

    def interval_of(self, product: str, concentration_mcg_ml: int) -> int | None:
        """The drug library's maximum days in the pump for a product (None if unknown)."""
        found = self.library.find(product, concentration_mcg_ml)
        return found.max_refill_interval_days if found is not None else None

    def max_refill_interval_days(self) -> int | None:
        """The shortest time any refill product may stay in a pump: the bound used when the
        product in the pump is not in the library."""
        days = [p.max_refill_interval_days for p in self.library.refill_products()]
        return min(days) if days else None

    def pump_facts(self, serial: str) -> PumpFacts:
        """What the forecast of pump ``serial`` rests on, read from the store."""
        pump = self.store.get_pump(serial)
        if pump is None:
            raise UnknownPump(serial)
        readings, refills, changes, bridges, window = self.store.forecast_records(serial)
        facts = facts_from(
            serial,
            pump.alarm_volume_ul,
            readings,
            refills,
            changes,
            interval_of=self.interval_of,
            bridge_of=lambda r: bridges.get(r.at, (0, 0)),
            battery_report=self.store.latest_battery_report(serial),
            fallback_max_interval_days=self.max_refill_interval_days(),
        )
        return replace(facts, eri_window=window)

    def forecast_for(self, serial: str, facts: PumpFacts | None = None) -> Forecast:
        """The pump's forecast from its records (``facts`` to add what is not stored yet:
        a new reading, a refill or program under review). A forecast of the stored records
        is kept, so the list and the worklist read the very same dates.

        The last few computed are also kept in memory with the stamp of the stored row:
        while that row stands (no record it rests on was written, the settings are the
        same) opening the patient again does not compute it again (a flex program's walk
        takes tens of milliseconds)."""
        if facts is not None:
            return forecast(facts, self.settings)
        self._refresh_settings()
        kept = self._kept_forecasts.get(serial)
        if kept is not None and kept[0] == self._forecast_stamp(serial):
            self._kept_forecasts.move_to_end(serial)
            return kept[1]
        # Read, compute and keep in one write transaction: a record written meanwhile by
        # another program waits, so a kept forecast never misses it.
        with self.store.atomic():
            fc = forecast(self.pump_facts(serial), self.settings)
            self.store.save_forecast(self.inputs_key, fc.summary())
        self.keep_forecast(serial, fc)
        return fc

    def keep_forecast(self, serial: str, fc: Forecast) -> None:
        """Keep ``fc``, the forecast stored for the pump just now (by this service or by
        one on a worker thread over the same file), for the next :meth:`forecast_for`.

        Kept only while the stored row says what ``fc`` says: another write (the sync, a
        second window) may have replaced it between the worker's save and this call, and
        the stamp of that newer row must never vouch for an older forecast."""
        stored = self.store.stored_forecast_stamped(serial, self.inputs_key)
        if stored is None:
            return
        stamp, summary = stored
        if summary != fc.summary():
            return  # not the forecast stored now: the next forecast_for reads the row
        self._kept_forecasts[serial] = (stamp, fc)
        self._kept_forecasts.move_to_end(serial)
        while len(self._kept_forecasts) > KEPT_FORECASTS:
            self._kept_forecasts.popitem(last=False)

    def _forecast_stamp(self, serial: str) -> str | None:
        return store_queries.forecast_stamp(self.store.db, serial, self.inputs_key)

    def current_inputs_key(self) -> str:
        """:attr:`inputs_key` after following a settings change made by another program:
        when it differs from the key a list was read with, every row's dates may differ."""
        self._refresh_settings()
        return self.inputs_key

    def stale_pumps(self, patient_ids: Sequence[int] | None = None) -> list[str]:
        """Serials whose stored forecast is missing or out of date (settings followed)."""
        self._refresh_settings()
        return self.store.stale_forecasts(self.inputs_key, patient_ids)

    def ensure_forecasts(self, patient_ids: Sequence[int] | None = None) -> int:
        """Compute the forecasts that are missing or out of date (after any write, or new
        settings); returns how many were computed."""
        stale = self.stale_pumps(patient_ids)
        for serial in stale:
            self.forecast_for(serial)
        return len(stale)

    # ------------------------------------------------------------------ reading records

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(UTC)).astimezone(self.tz).date()

    def patient_rows(
        self, search: str = "", now: datetime | None = None, *, ensure: bool = True
    ) -> list[PatientOverview]:
        """Rows for the patient list; filtered by name, hospital/NHS number or pump serial
        with the list's own rule (:class:`itbconsole.services.patients.PatientQuery`).
        ``ensure=False`` when the caller has just brought the forecasts up to date."""
        if ensure:
            self.ensure_forecasts()
        rows = self.store.patients_overview(self.today(now), self.inputs_key)
        query = PatientQuery(search)
        if query.empty:
            return rows
        serials = store_queries.patient_pump_serials(self.store.db)
        return [r for r in rows if query.matches(search_key(r.patient, row_serials(r, serials)))]

    def patient_rows_of(
        self, patient_ids: Sequence[int], now: datetime | None = None
    ) -> list[PatientOverview]:
        """These patients' list rows, their forecasts brought up to date first (after a
        save only the rows it touched need reading again, not the whole list)."""
        ids = list(patient_ids)
        if not ids:
            return []
        self.ensure_forecasts(ids)
        return self.store.patients_overview(self.today(now), self.inputs_key, ids)

    def patient_row(self, patient_id: int, now: datetime | None = None) -> PatientOverview | None:
        """One patient's list row (after a save only that row needs reading again)."""
        rows = self.patient_rows_of([patient_id], now)
        return rows[0] if rows else None

    def patient_list_reader(
        self, now: datetime | None = None
    ) -> Callable[[], store_queries.PatientList] | None:
        """A function that reads the whole patient list through a read-only connection of
        its own, for a worker thread (the window stays usable while 20,000 rows are read);
        None for an in-memory database, which only its own connection can see. The list
        says which pumps' forecasts were missing or out of date (``stale``): the caller
        works them out (:meth:`forecast_for`) and reads those rows again."""
        path = self.store.path
        if path is None:
            return None
        today, key = self.today(now), self.inputs_key
        return lambda: store_queries.read_patient_list(Path(path), today, key)

    def patient_list(self, now: datetime | None = None) -> store_queries.PatientList:
        """The whole patient list, read here (see :meth:`patient_list_reader`)."""
        return store_queries.PatientList(
            tuple(self.store.patients_overview(self.today(now), self.inputs_key)),
            store_queries.patient_pump_serials(self.store.db),
        )

    def refill_due(self, before: date, now: datetime | None = None) -> list[PatientOverview]:
        """Patients whose refill-by date is on or before ``before``, soonest first."""
        self.ensure_forecasts()
        return self.store.refill_due(before, today=self.today(now), inputs_key=self.inputs_key)

    def worklist(
        self, days: int | None = None, now: datetime | None = None
    ) -> list[PatientOverview]:
        """Every active patient with a pump, most urgent first (status, then refill-by),
        from the same forecasts as the list; with ``days``, only those needing something:
        not delivering, a pump to check, overdue, never interrogated, a write whose outcome
        is unknown, or a refill-by date within ``days`` of the clinic's today."""
        rows = [
            r
            for r in self.patient_rows(now=now)
            if r.pump_serial is not None and r.patient_status == "active"
        ]
        if days is not None:
            if days < 0:
                raise ValueError("The number of days must be 0 or more.")
            rows = [
                r
                for r in rows
                if r.status is not None
                and (
                    r.status.status
                    in (Status.NOT_DELIVERING, Status.ATTENTION, Status.OVERDUE, Status.NO_DATA)
                    or r.pending_refills
                    or r.uncertain_program_changes
                    or (r.status.days_to_refill is not None and r.status.days_to_refill <= days)
                )
            ]
        return sorted(rows, key=worklist_key)

    def patient(self, patient_id: int) -> Patient:
        return self.store.get_patient(patient_id)

    def set_patient_status(
        self, patient_id: int, status: str, *, effective_on: date, note: str = ""
    ) -> None:
        """Candidate (before implant), active, inactive (transferred, explanted) or deceased;
        only active patients are on the worklist. A change away from active needs a note."""
        for message in status_change_errors(status, note).values():
            raise ValueError(message)
        self.store.set_patient_status(
            patient_id, status, self.user, effective_on=effective_on, note=note
        )

    def record_screening_trial(self, trial: ScreeningTrial, reason: str = "") -> int:
        """A screening test dose, checked (dose limits from the drug library, 24 hours
        after any earlier trial, baseline score, patient without a pump) and recorded."""
        from itbconsole.services.screening import check_trial, trial_row

        earlier = [t.given_at for t in self.screening_trials(trial.patient_id)]
        checked = check_trial(
            trial,
            self.library,
            earlier,
            has_pump=self.pump_of(trial.patient_id) is not None,
            reason=reason,
            tz=self.tz,
        )
        return self.store.add_screening_trial(trial_row(checked), self.user)

    def screening_trials(self, patient_id: int) -> list[ScreeningTrial]:
        """The patient's screening test doses, oldest first."""
        from itbconsole.services.screening import trial_from_row

        return [trial_from_row(r) for r in self.store.screening_trials(patient_id)]

    def device_history(self, patient_id: int) -> list[tuple[date, str]]:
        """The patient's implant-related events, oldest first, each as (date, text):
        screening test doses, explanted pumps and catheter revisions."""
        events: list[tuple[date, str]] = []
        for t in self.screening_trials(patient_id):
            events.append(
                (
                    t.given_at.astimezone(self.tz).date(),
                    f"screening test dose {t.dose_mcg} mcg: {t.outcome}",
                )
            )
        for serial, on, reason, _note in self.store.explants(patient_id):
            events.append((on, f"pump {serial} explanted ({reason.replace('_', ' ')})"))
        for serial, on, tip, _note in self.store.catheter_revisions(patient_id):
            events.append(
                (on, f"catheter revised on pump {serial}" + (f", tip {tip}" if tip else ""))
            )
        return sorted(events, key=lambda e: e[0])

    # ------------------------------------------------------------------ reads for the UI
    # The UI reads and writes through this service only, never through ``store``.

    def patient_status(self, patient_id: int) -> tuple[str, date | None]:
        """(status, since): "active" with no date when none was ever set."""
        return self.store.patient_status(patient_id)

    def next_event_index(self, serial: str | None) -> int:
        """Where the next interrogation's event download starts for this pump (0 if new)."""
        return self.store.last_event_index(serial) + 1 if serial else 0

    def patient_history(self, patient_id: int) -> PatientHistory:
        return self.store.patient_history(patient_id)

    def prepared_program(self, serial: str) -> PreparedProgram | None:
        """The open program prepared for this pump, if any."""
        return self.store.prepared_program(serial)

    def last_catheter_revision(self, serial: str) -> date | None:
        return self.store.last_catheter_revision(serial)

    def trends(self, patient_id: int, now: datetime) -> PatientTrends:
        from itbconsole.trends import TrendSettings, load_patient_trends  # numpy, on first use

        """The Trends tab's series for the patient's current pump, dated by the forecast."""
        # The Trends tab's own path: a columnar read of only the columns it draws.
        return load_patient_trends(
            self.store,
            patient_id,
            self.tz,
            now,
            TrendSettings(thresholds=self.settings.thresholds, clinic=self.settings),
            self.forecast_for,
        )

    # ------------------------------------------------------------------ program changes
    # The steps of a program change, in this order: record the intent (uncertain), send on
    # the link, record the result; an uncertain one is settled by reading the pump again.

    def prepare_program(self, prepared: PreparedProgram, patient_id: int | None) -> PreparedProgram:
        """A program saved for a clinician to review (no pump needed)."""
        return self.store.add_prepared_program(prepared, self.user, patient_id=patient_id)

    def begin_program_send(
        self,
        approved: programming.ApprovedChange,
        patient_id: int | None,
        prepared_id: int | None = None,
    ) -> programming.ProgramSend:
        """Authorise a send for the signed-in user and store the change as *uncertain*
        before anything is sent. Raises ProgrammingError (nothing stored) when the user
        may not send it or its check no longer passes."""
        from itbconsole.services import programming

        if self.user.account_id is not None:  # the account as it is now, not at sign-in
            now_as = self.accounts.current_user(self.user)
            if now_as is None or now_as.role is not self.user.role:
                raise programming.ProgrammingError(
                    f"{self.user.name}'s account was disabled or its role changed since "
                    "signing in: sign in again. Nothing was sent."
                )
        refusal = programming.send_refusal(approved, self.user)
        if refusal:
            raise programming.ProgrammingError(f"{refusal} Nothing was sent.")
        intent = programming.record_intent(
            self.store, approved.change, self.user, patient_id=patient_id
        )
        return programming.ProgramSend(replace(approved, change=intent), self.user, prepared_id)

    def finish_program_send(
        self, send: programming.ProgramSend, result: programming.SendResult
    ) -> ProgramChange:
        """Settle the stored intent with what the pump said."""
        from itbconsole.services import programming

        return programming.record_result(
            self.store, send.intent, result, send.user, prepared_id=send.prepared_id
        )

    def resolve_uncertain_change(
        self,
        change: ProgramChange,
        pump_program: Program,
        *,
        pump_serial: str,
        concentration_mcg_ml: int,
        prepared_id: int | None = None,
    ) -> ProgramChange | None:
        from itbconsole.services import settlement

        return settlement.resolve_uncertain(
            self.store,
            change,
            pump_program,
            self.user,
            pump_serial=pump_serial,
            concentration_mcg_ml=concentration_mcg_ml,
            prepared_id=prepared_id,
        )

    def backup(self, destination: str | Path, *, steps: BackupSteps | None = None) -> BackupResult:
        """A consistent copy of the database at ``destination`` (overwritten). With
        ``steps`` it is made in steps through its own connection, so it may run on a worker
        thread and be cancelled (see :meth:`Store.backup`)."""
        return self.store.backup(destination, force=True, steps=steps)

    def audit_head(self) -> str:
        """The audit chain's newest entry, short form: printed on records as an anchor."""
        return self.store.audit_head()

    @property
    def database_path(self) -> str:
        return str(self.store.path or ":memory:")

    def all_patients(self) -> list[Patient]:
        return [row.patient for row in self.store.patients_overview(self.today(), self.inputs_key)]

    def pump_of(self, patient_id: int) -> Pump | None:
        """The pump registered to the patient now, if any."""
        return self._current_pump(self.store.patient_history(patient_id), patient_id)

    def _current_pump(self, history: PatientHistory, patient_id: int) -> Pump | None:
        for pump in reversed(history.pumps):
            if self.store.find_pump_owner(pump.serial) == patient_id:
                return pump
        return None

    def latest_reading(self, patient_id: int, serial: str) -> Reading | None:
        readings = [
            r for r in self.store.patient_history(patient_id).readings if r.pump_serial == serial
        ]
        return max(readings, key=lambda r: r.at) if readings else None

    def patient_screen(
        self, patient_id: int, now: datetime | None = None
    ) -> tuple[Patient, Pump | None, PumpOverview | None]:
        """Everything the patient view shows (patient, current pump, overview) from one read
        of the patient's history."""
        history = self.store.patient_history(patient_id)
        pump = self._current_pump(history, patient_id)
        return history.patient, pump, self._overview(history, pump, now)

    def overview(self, patient_id: int, now: datetime | None = None) -> PumpOverview | None:
        """The Overview tab's content, from the latest reading of the patient's pump."""
        history = self.store.patient_history(patient_id)
        return self._overview(history, self._current_pump(history, patient_id), now)

    def product_in_pump(
        self, history: PatientHistory, serial: str, concentration: int
    ) -> str | None:
        """The product in the pump: that of the latest refill of this pump at the
        concentration the pump reports, leaving out refills the pump certainly did not take
        (failed). The one rule for the overview and the program editor."""
        return next(
            (
                r.product
                for r in sorted(history.refills, key=lambda r: r.at, reverse=True)
                if r.pump_serial == serial
                and r.concentration_mcg_ml == concentration
                and r.status != RefillStatus.FAILED
            ),
            None,
        )

    def _overview(
        self, history: PatientHistory, pump: Pump | None, now: datetime | None
    ) -> PumpOverview | None:
        from itbconsole.services.overview import build_overview

        if pump is None:
            return None
        readings = sorted(
            (r for r in history.readings if r.pump_serial == pump.serial), key=lambda r: r.at
        )
        if not readings:
            return None
        fc = self.forecast_for(pump.serial)
        conc = fc.concentration_mcg_ml or readings[-1].concentration_mcg_ml
        return build_overview(
            history.patient,
            pump,
            readings[-1],
            fc,
            self.library,
            now or datetime.now(UTC),
            product_name=self.product_in_pump(history, pump.serial, conc),
            reading_stale_days=self.settings.reading_stale_days,
        )

    # ------------------------------------------------------------------ writing records

    def check_identity(self, patient: Patient) -> None:
        """Raise DuplicatePatient when the patient's hospital or NHS number identifies
        another current patient (the form calls it before saving)."""
        clash = self.store.identity_clash(patient.hospital_number, patient.nhs_number, patient.id)
        if clash is not None:
            field, existing = clash
            number = patient.hospital_number if field == "hospital" else patient.nhs_number or ""
            raise DuplicatePatient(field, existing, number)

    def add_patient(self, patient: Patient) -> Patient:
        """Record a new patient; refused (DuplicatePatient, naming the other patient) when
        the hospital or NHS number already identifies someone (the database refuses it
        too)."""
        self.check_identity(patient)
        return self.store.add_patient(patient, self.user)

    def add_patient_with_pump(self, patient: Patient, pump: Pump) -> Patient:
        """A new patient and their pump as one record: both saved, or neither."""
        self.check_identity(patient)
        check_pump_model(pump)
        with self.store.atomic():
            saved = self.store.add_patient(patient, self.user)
            assert saved.id is not None
            self.store.register_pump(pump, saved.id, self.user)
        return saved

    def correct_patient(self, patient: Patient, reason: str) -> Patient:
        self.check_identity(patient)
        return self.store.correct_patient(patient, self.user, note=reason)

    def register_pump(self, pump: Pump, patient_id: int) -> Pump:
        """Register a pump to a patient who has none now. A patient with a pump has it
        replaced with :meth:`replace_pump` (an explant record for the old one), never
        silently."""
        check_pump_model(pump)
        current = self.pump_of(patient_id)
        if current is not None and current.serial != pump.serial:
            patient = self.store.get_patient(patient_id)
            raise PumpReplacementNeeded(
                f"{patient.display_name} already has pump {current.serial} ({current.model}). "
                "Replacing a pump is its own step: record the old pump's explant (date and "
                "reason), then the new pump is registered. Nothing was changed."
            )
        return self.store.register_pump(pump, patient_id, self.user)

    def replace_pump(
        self,
        patient_id: int,
        new_pump: Pump,
        *,
        explanted_on: date,
        reason: str,
        note: str = "",
    ) -> Pump:
        """Replace the patient's pump: the old pump's explant record (its history stays
        with the patient) and the new registration, as one record."""
        check_pump_model(new_pump)
        errors = explant_errors(reason, note)
        if errors:
            raise ValueError(" ".join(errors.values()))
        current = self.pump_of(patient_id)
        if current is None:
            return self.store.register_pump(new_pump, patient_id, self.user)
        if current.serial == new_pump.serial:
            raise PumpReplacementNeeded(f"Pump {new_pump.serial} is already this patient's pump.")
        return self.store.replace_pump(
            patient_id,
            current.serial,
            new_pump,
            self.user,
            explanted_on=explanted_on,
            reason=reason,
            note=note,
        )

    def record_catheter_revision(
        self,
        serial: str,
        *,
        revised_on: date,
        catheter_length_cm: Decimal,
        catheter_ul_per_cm: Decimal,
        tip_level: str = "",
        note: str = "",
    ) -> Pump:
        """A catheter revision with the new catheter's length and volume per cm: recorded,
        and the pump's dead volume follows it (bridge and priming use it)."""
        pump = self.store.get_pump(serial)
        if pump is None:
            raise UnknownPump(serial)
        errors = catheter_revision_errors(catheter_length_cm, catheter_ul_per_cm)
        if errors:
            raise ValueError(" ".join(errors.values()))
        revised = replace(
            pump, catheter_length_cm=catheter_length_cm, catheter_ul_per_cm=catheter_ul_per_cm
        )
        require_plausible(revised)
        return self.store.record_catheter_revision(
            revised, self.user, revised_on=revised_on, tip_level=tip_level, note=note
        )

    def owner_of(self, serial: str) -> Patient | None:
        owner = self.store.find_pump_owner(serial)
        return None if owner is None else self.store.get_patient(owner)

    @property
    def training(self) -> bool:
        """A training database (demo mode): simulated pumps accepted, TRAINING marks."""
        return bool(self.settings.training)

    def check_pump_for(
        self, serial: str, open_patient_id: int | None, *, simulated: bool = False
    ) -> Patient:
        """The patient this pump's data belongs to, or raise TrainingPump / WrongPatient /
        UnknownPump. ``simulated``: the pump says it is a simulator (its identity).

        Called before anything is written, so a refusal changes nothing."""
        if simulated and not self.training:
            raise TrainingPump(serial)
        owner = self.owner_of(serial)
        if owner is None:
            raise UnknownPump(serial)
        if open_patient_id is not None and owner.id != open_patient_id:
            raise WrongPatient(serial, owner, self.store.get_patient(open_patient_id))
        return owner

    def save_interrogation(
        self,
        reading: Reading,
        events: Sequence[PumpEvent],
        open_patient_id: int | None,
        *,
        simulated: bool = False,
    ) -> SavedInterrogation:
        """Store the reading and the pump events not stored before, for the pump's owner.

        All or nothing: the reading and its events are one transaction, and the owner is
        checked again inside it (the store refuses a wrong patient at write time too)."""
        from itbconsole.services import settlement

        owner = self.check_pump_for(reading.pump_serial, open_patient_id, simulated=simulated)
        assert owner.id is not None
        try:
            saved, new = self.store.add_interrogation(
                reading, events, self.user, patient_id=owner.id
            )
        except WrongPatientError as exc:  # registration changed between check and write
            raise StoreError(str(exc)) from exc
        except UnknownPumpError as exc:
            raise UnknownPump(reading.pump_serial) from exc
        refills, changes, open_changes = settlement.settle_open_outcomes(
            self.store, self.user, saved, events, owner.id, self.tz
        )
        return SavedInterrogation(
            patient=owner,
            reading=saved,
            new_events=new,
            refill_resolutions=refills,
            settled_changes=changes,
            still_uncertain=open_changes,
        )

    def interrogation_saver(
        self,
        reading: Reading,
        events: Sequence[PumpEvent],
        open_patient_id: int | None,
        *,
        simulated: bool = False,
    ) -> Callable[[], tuple[SavedInterrogation, Forecast]] | None:
        """:meth:`save_interrogation` as a function for a worker thread, or None for an
        in-memory database (only its own connection sees it).

        Why: a pump's log can bring thousands of new events, each written with its audit
        entry (over a second for 5,000), and the window must keep answering. The function
        opens the database file through a store of its own (a connection never moves
        between threads; SQLite's lock orders its write with the window's), saves with the
        same rules, user and settings, works out the pump's new forecast and returns both;
        hand the forecast to :meth:`keep_forecast` so the window does not compute it
        again. Check the pump first here (:meth:`check_pump_for`): the save checks again."""
        path = self.store.path
        if path is None:
            return None
        library, user, settings = self.library, self.user, self.settings

        def save() -> tuple[SavedInterrogation, Forecast]:
            store = Store.open(path, create=False)
            try:
                worker = ClinicService(store, library, user, settings=settings)
                saved = worker.save_interrogation(
                    reading, events, open_patient_id, simulated=simulated
                )
                return saved, worker.forecast_for(reading.pump_serial)
            finally:
                store.close()

        return save

    def record_action(self, action: str, detail: Mapping[str, object]) -> None:
        """Audit something that is not itself a clinical record (clock set, export...)."""
        self.store.record_action(action, dict(detail), self.user)

    # ------------------------------------------------------------------ history and lot search

    def patient_timeline(self, patient_id: int) -> list[TimelineRow]:
        """Everything recorded for the patient in time order, each correction next to the
        record it corrects (the History tab and its CSV; itbconsole.services.history).
        Raises LookupError when there is no such patient."""
        from itbconsole.services.history import build_timeline

        history = self.store.patient_history(patient_id)
        # Every version with its stamp. To move behind a Store method
        # (Store.patient_records(patient_id) -> queries.PatientRecords); read here meanwhile.
        records = patient_records(self.store.db, patient_id)
        return build_timeline(history, records, self.tz, self.settings.thresholds)

    def lot_recipients(self, lot: str, product: str | None = None) -> list[RefillRecord]:
        """Every refill with drug from ``lot`` (of ``product`` when given), across the clinic,
        oldest first: any status, and records withdrawn as entered in error too (marked), so
        a recall misses no one. Lot and product match whole values, case and surrounding
        spaces ignored."""
        if not lot.strip():
            raise ValueError("Enter the lot (batch) number to search for.")
        return self.refill_records(lot=lot, product=product)

    def refill_records(
        self,
        since: date | None = None,
        patient_id: int | None = None,
        *,
        lot: str | None = None,
        product: str | None = None,
    ) -> list[RefillRecord]:
        """Refills across the clinic, oldest first, any status: from the start of ``since``
        in the clinic's calendar, of one patient, of a lot or a product (each optional)."""
        start = datetime.combine(since, time(0), tzinfo=self.tz) if since is not None else None
        # To move behind a Store method (Store.refill_log(...)); read here meanwhile.
        return refill_log(
            self.store.db,
            lot=lot,
            product=product if product and product.strip() else None,
            since=start,
            patient_id=patient_id,
        )

    # ------------------------------------------------------------------ the clinic-day worklist

    #: Delivery drift per pump, kept while the pump's records are unchanged (see
    #: clinic_day.DriftMemo); made on first use.
    _drift_memo: clinic_day.DriftMemo | None = None
    _drifts_kept: tuple[tuple[object, ...], dict[str, clinic_day.Drift]] | None = None
    _worklist_kept: (
        tuple[clinic_day.Worklist, dict[str, clinic_day.Drift], clinic_day.Worklist] | None
    ) = None

    @functools.cached_property
    def _lines_kept(self) -> clinic_day.LinesKept:
        """The worklist's lines kept with the rows they were made from."""
        from itbconsole.services import worklist as clinic_day

        return clinic_day.LinesKept()

    def clinic_worklist(
        self,
        days: int | None = None,
        now: datetime | None = None,
        *,
        replacement_days: int | None = None,
        drift_limit: int | None = None,
    ) -> clinic_day.Worklist:
        """The clinic day's lines (itbconsole.services.worklist): refills and low-reservoir
        alarms within ``days`` (default: the clinic's due-soon days), pumps to check or not
        delivering, replacements to book, unknown outcomes, prepared programs, delivery
        drift and pumps not interrogated for too long; every date from the forecast.

        Delivery drift is worked out for every active pump (a drifting pump is a withdrawal
        risk whether or not its refill is due) and kept until its records change; with
        ``drift_limit`` at most that many pumps are worked out now, the rest by
        :meth:`check_drifts` (``Worklist.drift_unchecked`` says how many are left)."""
        from itbconsole.services import worklist as clinic_day

        days = self.settings.due_soon_days if days is None else days
        if days < 0:
            raise ValueError("The number of days must be 0 or more.")
        if replacement_days is None:
            replacement_days = clinic_day.REPLACEMENT_WINDOW_DAYS
        today = self.today(now)
        rows = self.worklist(None, now)
        listed = clinic_day.build_worklist(
            rows,
            today,
            days,
            self.worklist_facts(rows, today),
            tz=self.tz,
            replacement_days=replacement_days,
            training=self.training,
            kept=self._lines_kept,
        )
        drifts, unchecked = self.delivery_drifts(rows, limit=drift_limit)
        last = self._worklist_kept
        if last is not None and last[0] is listed and last[1] == drifts and not unchecked:
            return last[2]  # the same lines and the same drift: the list already made
        worklist = replace(
            clinic_day.with_drifts(listed, rows, drifts, self.tz), drift_unchecked=unchecked
        )
        # Kept only once complete: a list still working out drift must not come back later.
        self._worklist_kept = (listed, drifts, worklist) if not unchecked else None
        return worklist

    def worklist_ahead(
        self,
        rows: Sequence[PatientOverview],
        now: datetime | None = None,
        *,
        rows_a_step: int = 500,
        drifts_a_step: int = 10,
    ) -> Iterator[None]:
        """Make the worklist's lines ahead, a step at a time (each a few milliseconds: the
        window runs one step per turn of its event loop once the patient list has arrived),
        so that the first View > Worklist only gathers and sorts lines already made.

        ``rows``: the patient list as read on the worker; they are the very row objects the
        store gives for the same stored values on the same day, so the lines kept for them
        are found again by :meth:`clinic_worklist`. Then the delivery drift of every pump,
        ``drifts_a_step`` pumps a step. Nothing is written; what changes meanwhile is read
        afresh when the worklist opens. :attr:`lines_made_ahead` is False from this call
        until the steps have made every row's lines."""
        self.lines_made_ahead = False
        return self._worklist_ahead_steps(rows, now, rows_a_step, drifts_a_step)

    def _worklist_ahead_steps(
        self,
        rows: Sequence[PatientOverview],
        now: datetime | None,
        rows_a_step: int,
        drifts_a_step: int,
    ) -> Iterator[None]:
        from itbconsole.services import worklist as clinic_day

        today = self.today(now)
        days = self.settings.due_soon_days
        active = [r for r in rows if r.pump_serial is not None and r.patient_status == "active"]
        yield from self._worklist_facts_steps(active, today)
        facts = self.worklist_facts(active, today)  # kept by the steps: no read
        yield
        for start in range(0, len(active), rows_a_step):
            for row in active[start : start + rows_a_step]:
                clinic_day.row_lines(row, today, days, facts, self.tz, kept=self._lines_kept)
            yield
        # The lines are made: a worklist opened now only gathers them (its drift it works
        # out in steps of its own), so a window waiting to open it may go ahead.
        self.lines_made_ahead = True
        stamp = self.store.change_stamp()
        versions: dict[str, str] | None = store_queries.forecast_versions(
            self.store.db, self.inputs_key
        )
        yield
        if self.store.change_stamp() != stamp:
            versions = None  # written meanwhile: read again
        self.delivery_drifts(active, limit=0, stored=versions)
        yield
        while self.check_drifts(drifts_a_step):
            yield

    def worklist_facts(
        self, rows: Sequence[PatientOverview], today: date
    ) -> clinic_day.WorklistFacts:
        """Open prepared programs, and the maximum time without an interrogation of the
        pumps last interrogated longer ago than the shortest-lived product allows. Kept
        while nothing is written (the worklist made ahead and the worklist opened share
        them)."""
        for _step in self._worklist_facts_steps(rows, today):
            pass
        assert self._facts_kept is not None
        return self._facts_kept[1]

    def _worklist_facts_steps(
        self, rows: Sequence[PatientOverview], today: date, chunk: int = 250
    ) -> Iterator[None]:
        """:meth:`worklist_facts` a step at a time: each pump's latest fill is read for
        ``chunk`` pumps a step (20,000 pumps last interrogated long ago took 0.2 s read
        at once)."""
        from itbconsole.services import worklist as clinic_day

        key = (self.store.change_stamp(), today, len(rows))
        if self._facts_kept is not None and self._facts_kept[0] == key:
            return
        # Read here meanwhile; to move behind Store methods (Store.open_prepared_programs(),
        # Store.latest_fill_products(serials)).
        prepared = store_queries.open_prepared_programs(self.store.db)
        shortest = self.max_refill_interval_days()
        yield
        limits: dict[str, clinic_day.InterrogationLimit] = {}
        if shortest is not None:
            old = [
                r.pump_serial
                for r in rows
                if r.pump_serial is not None
                and (ago := clinic_day.interrogated_days_ago(r, today, self.tz)) is not None
                and ago > shortest
            ]
            products: dict[str, tuple[str, int]] = {}
            yield
            for start in range(0, len(old), chunk):
                part = old[start : start + chunk]
                products.update(store_queries.latest_fill_products(self.store.db, part))
                yield
            for serial in old:
                product, concentration = products.get(serial, ("", 0))
                allowed = self.interval_of(product, concentration) if product else None
                limits[serial] = (
                    clinic_day.InterrogationLimit(allowed, product)
                    if allowed is not None
                    else clinic_day.InterrogationLimit(shortest, "the shortest-lived product")
                )
        self._facts_kept = (
            key,
            clinic_day.WorklistFacts(prepared=prepared, interrogation_limits=limits),
        )

    def delivery_drifts(
        self,
        rows: Sequence[PatientOverview],
        *,
        limit: int | None = None,
        stored: dict[str, str] | None = None,
    ) -> tuple[dict[str, clinic_day.Drift], int]:
        """The delivery-accuracy drift (itbconsole.trends.accuracy) of each row's pump that
        has one, by serial, and how many pumps are still to be worked out (``limit``: work
        out at most that many now; :meth:`check_drifts` does the rest)."""
        from itbconsole.services import worklist as clinic_day

        memo = self._drift_memo
        if memo is None:
            memo = self._drift_memo = clinic_day.DriftMemo()
        # Nothing written and nothing worked out since the last complete list: it stands.
        key = (self.store.change_stamp(), memo.generation, tuple(id(r) for r in rows))
        if not memo.pending and self._drifts_kept is not None and self._drifts_kept[0] == key:
            return dict(self._drifts_kept[1]), 0
        # Read here meanwhile; to move behind a Store method (Store.forecast_versions(key)).
        # ``stored``: read a step before by the caller (the work made ahead).
        if stored is None:
            stored = store_queries.forecast_versions(self.store.db, self.inputs_key)
        pumps = {
            r.pump_serial: (stored.get(r.pump_serial), r.reservoir_capacity_ul or 0)
            for r in rows
            if r.pump_serial is not None
        }
        missing = memo.missing({s: v for s, (v, _c) in pumps.items()})
        memo.pending = [(s, *pumps[s]) for s in missing]
        fresh = self._work_out_drifts(len(missing) if limit is None else limit)
        out: dict[str, clinic_day.Drift] = {}
        for serial, (version, _capacity) in pumps.items():
            drift = fresh[serial] if serial in fresh else memo.drift(serial, version)
            if drift is not None:
                out[serial] = drift
        if not memo.pending:  # the rows are the same objects while the database is unchanged
            self._drifts_kept = (
                (self.store.change_stamp(), memo.generation, tuple(id(r) for r in rows)),
                dict(out),
            )
        return out, len(memo.pending)

    def check_drifts(self, limit: int) -> int:
        """Work out up to ``limit`` more of the drifts the last worklist left unchecked;
        returns how many are still unchecked (the next worklist shows what was found)."""
        self._work_out_drifts(limit)
        return len(self._drift_memo.pending) if self._drift_memo is not None else 0

    def _work_out_drifts(self, limit: int) -> dict[str, clinic_day.Drift | None]:
        from itbconsole.services import worklist as clinic_day

        memo = self._drift_memo
        if memo is None or not memo.pending or limit <= 0:
            return {}
        batch, memo.pending = memo.pending[:limit], memo.pending[limit:]
        # Read here meanwhile; to move behind a Store method (Store.confirmed_refills(serials)).
        refills = store_queries.confirmed_refills(self.store.db, [s for s, _v, _c in batch])
        fresh: dict[str, clinic_day.Drift | None] = {}
        for serial, version, capacity in batch:
            drift = clinic_day.drift_of(refills[serial], capacity, self.settings.thresholds)
            memo.keep(serial, version, drift)
            fresh[serial] = drift
        return fresh

    # ------------------------------------------------------------------ accounts (issue 18)

    _accounts: AccountService | None = None

    @property
    def accounts(self) -> AccountService:
        """Accounts, sign-in, lock and second checks on this clinic's records
        (:mod:`itbconsole.services.accounts`); ``user`` is whoever signed in through it."""
        if self._accounts is None:
            self._accounts = AccountService(self.store)
        return self._accounts

    @accounts.setter
    def accounts(self, service: AccountService) -> None:
        self._accounts = service

    # ------------------------------------------------------------------ drift already known

    def known_drifts(self) -> dict[str, clinic_day.Drift]:
        """The delivery drifts already worked out (by the worklist, :meth:`worklist_ahead`
        or :meth:`check_drifts`) of pumps whose records are unchanged since, by serial.

        Why: the patient list marks a drifting pump as the worklist and Overview do, but
        working drift out costs about 0.4 ms a pump; this only reads the memo (one query
        of the stored forecasts' versions), so a screen can ask again as more is known.
        A pump not yet worked out, or written since, is absent."""
        memo = self._drift_memo
        if memo is None:
            return {}
        versions = store_queries.forecast_versions(self.store.db, self.inputs_key)
        return {s: d for s, v in versions.items() if (d := memo.drift(s, v)) is not None}
