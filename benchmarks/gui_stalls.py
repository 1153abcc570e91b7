"""Where people wait: the worst GUI stall of each thing a user starts, at 5,000 and 20,000
patients (issue 14).

Each action is "clicked" in a real main window (offscreen) on a clinic of N patients while a
5 ms heartbeat timer runs on the GUI thread; the worst gap between two beats from the click
until the action is done (rows on screen, patient shown, plots drawn) is its stall. Limit:
50 ms for every action. Beside each, the same action done the way it was before issue 14
(whole-list re-read, patient opened twice, list filled on the GUI thread, events decoded on
open, the refill's interrogation saved on the GUI thread) is timed in the same run and
window, so the ratio says what changed on this machine. The Trends click and the flex
patient have no old way left in the code (the events drawn a brush per point, the forecast
walked in Fractions throughout): their ratio is null, and the README gives the figures of
the old code measured just before.

Actions: the list read when the window opens; opening a patient whose pump has stored 5,000
events; finishing a refill (the record written, the list brought up to date, the patient
shown again); saving an interrogation with 5,000 new events; the refill wizard's step 1
for an interrogation with 5,000 new events that settles an earlier pending refill (the
interrogation saved); step 1 for a pump with 15,000 stored log entries (its expected
residual reads only those since the last refill; before, every stored entry); clearing the search box; the Trends tab clicked for that patient
(drawn on a worker); opening a patient on a flex program, its forecast worked out for the
first time; unlocking the lock screen and signing in, each with the right password (the
argon2 check with the library's default parameters, now on a worker thread; before, on the
GUI thread); 200 writes in a row on the GUI thread (account events, what a sign-in, a lock
or a sign-out writes), the write-ahead log checkpointed on a worker (ui/checkpoint.py;
before, by SQLite inside whichever commit took the log past 1,000 pages). The backup is
timed in benchmarks/backup_wait.py. Changing one's own password (the present password
checked and the new one hashed, on a worker thread; before, on the GUI thread).

The clinic (built once into ``--cache``, about 30 s for 5,000 patients and 4 minutes for
20,000) gives each patient two years of monthly readings and quarterly refills, a real NHS
number, hospital number and pump serial: what the window waits for depends on how many
patients the list holds, not on how deep each history is (store_scale.py times that).
Each run works on a copy, so the cached clinic is never changed; the copy is flushed to
disk before the window opens (otherwise the first fsync of the database, a checkpoint's,
writes the whole fresh 1 GB copy and every commit waits behind it: a stall of the
benchmark, not of a clinic's database).

    python benchmarks/gui_stalls.py                      # 5,000 and 20,000 patients
    python benchmarks/gui_stalls.py --sizes 2000 --runs 3   # quick look
    python benchmarks/gui_stalls.py --only refill_identify_long_log   # one action

Ends with JSON lines, one per action and size: worst stall in ms (median over runs),
ratio = now / before (null without a before), limit 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import backup_wait  # noqa: E402  (its heartbeat measure)
import store_scale  # noqa: E402  (the bulk writer and programs of the store benchmark)
from backup_wait import Recorder  # noqa: E402  (the window's prompts, recorded)

from itbconsole.model import Origin, Patient, Pump, PumpEvent, Reading, Refill  # noqa: E402
from itbconsole.store import records as rec  # noqa: E402
from itbconsole.store.db import utc_iso  # noqa: E402

END = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
YEARS = 2
HEAVY_HOSPITAL_NUMBER = "H0000001"
HEAVY_EVENTS = 5000
GUI_WRITES = 200
LONG_LOG = 15_000
BENCH_ADMIN = "Bench Admin"
BENCH_PASSWORD = "bench-pass-1"
#: The bench administrator's password is changed back and forth between these two.
BENCH_PASSWORDS = (BENCH_PASSWORD, "bench-pass-2")
FAMILY = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips Mason "
    "Mitchell Rose Davis Rodriguez Cox Alexander Okafor Brennan Murphy Kowalczyk Walsh Nowak "
    "Byrne Ahmed Ali Singh Kaur Hughes Edwards Turner Hill Moore Scott"
).split()
GIVEN = (
    "Oliver Amelia George Isla Harry Ava Noah Mia Jack Ivy Leo Lily Arthur Grace Muhammad "
    "Freya Oscar Emily Charlie Sophia Thomas Ella Jacob Evie Alfie Poppy Henry Rosie Joshua "
    "Florence"
).split()


def nhs_number(n: int) -> str:
    """A valid NHS number (mod-11 check digit) made from ``n``."""
    while True:
        body = f"{(400_000_000 + n * 7) % 1_000_000_000:09d}"
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            return body + str(check)
        n += 1_000_003


def build_patient(w: store_scale.BulkWriter, rng: random.Random, n: int, events: int) -> None:
    start = END - timedelta(days=365 * YEARS)
    patient = Patient(
        FAMILY[n % len(FAMILY)],
        GIVEN[(n * 7) % len(GIVEN)],
        date(1940 + n % 65, 1 + n % 12, 1 + n % 28),
        f"H{n:07d}",
        Origin.CEREBRAL if rng.random() < 0.4 else Origin.SPINAL,
        nhs_number(n),
    )
    nurse = store_scale.NURSE
    pid = w.add("patients", {}, nurse, start)
    w.add("patient_versions", {**rec.patient_row(patient), "patient_id": pid}, nurse, start)
    serial = f"NGP{n:07d}"
    pump = Pump(
        serial, "SynchroMed II 8637-40", 40_000, 2_000, start.date(), 250, Decimal(60), Decimal(1)
    )
    w.add("pumps", {"serial": serial}, nurse, start)
    w.add("pump_versions", rec.pump_row(pump), nurse, start)
    w.add(
        "pump_registrations",
        {"pump_serial": serial, "patient_id": pid, "effective_at": utc_iso(start)},
        nurse,
        start,
    )
    dose = rng.randint(90, 800)
    program = store_scale.program_for(rng, dose)
    conc = 2000 if dose > 300 else 500
    daily_ul = max(dose * 1000 // conc, 1)
    day, last_fill, index = start, start, 0
    next_refill = start + timedelta(days=rng.randint(60, 100))
    while day < END - timedelta(days=rng.randint(0, 60)):
        reservoir = max(40_000 - daily_ul * (day - last_fill).days, 2_000)
        if day >= next_refill:
            refill = Refill(
                serial,
                day,
                reservoir,
                reservoir,
                40_000 - reservoir,
                "Lioresal Intrathecal",
                conc,
                f"L{rng.randint(1, 9999)}",
                (day + timedelta(days=400)).date(),
            )
            w.add("refills", {**rec.refill_row(refill), "patient_id": pid}, nurse, day)
            last_fill, reservoir = day, 40_000
            next_refill = day + timedelta(days=rng.randint(80, 100))
        reading = Reading(serial, day, day, reservoir, 2_000, 3_100, False, False, conc, program)
        w.add("readings", {**rec.reading_row(reading), "patient_id": pid}, nurse, day)
        day += timedelta(days=30)
    for i in range(events):
        at = start + timedelta(minutes=137 * i)
        event = PumpEvent(serial, index, at, "alarm_test", {"n": i})
        w.add("pump_events", {**rec.event_row(event), "patient_id": pid}, nurse, at)
        index += 1


def build_clinic(path: Path, patients: int) -> None:
    """Write the clinic to ``path`` (a new file), every pump's forecast stored."""
    from itbconsole.druglib import load_drug_library
    from itbconsole.model import Role, User
    from itbconsole.services.clinic import ClinicService
    from itbconsole.store import Store

    store = Store.open(path)
    writer = store_scale.BulkWriter(store)
    rng = random.Random(7)
    for n in range(1, patients + 1):
        build_patient(writer, rng, n, HEAVY_EVENTS if n == 1 else 0)
        if n % 500 == 0:
            writer.flush()
    writer.flush()
    ClinicService(store, load_drug_library(), User("Bench", Role.NURSE)).ensure_forecasts()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


# --------------------------------------------------------------------------- the benchmark

LIMIT_MS = 50.0


def measure(click: Callable[[], Callable[[], bool]], timeout_s: float = 60.0) -> float:
    """Run the event loop, "click" (``click`` starts the action and returns whether it is
    done), and return the worst gap between heartbeats from the click to done, in ms
    (backup_wait.py's heartbeat, the click's end checked every millisecond)."""
    return backup_wait.measure(click, poll_ms=1, delay_ms=50, timeout_s=timeout_s)[1]


def done_now() -> Callable[[], bool]:
    return lambda: True


class Bench:
    """One clinic, one window, the actions as a user starts them (now and before)."""

    def __init__(self, db: Path) -> None:
        from itbconsole.model import Role, User
        from ui.app import build_window
        from ui.checkpoint import install_checkpoints

        window = build_window(str(db), user=User("Benchmark Nurse", Role.NURSE))
        assert window is not None
        self.window = window
        checkpointer = install_checkpoints(window, db)  # the one build_window installed
        assert checkpointer is not None
        self.checkpointer = checkpointer
        self.prompts = Recorder()
        window.prompts = self.prompts  # type: ignore[assignment]
        window.resize(1366, 768)
        window.show()
        self.clinic = window.clinic
        self.wait(lambda: window.patient_list.loaded)
        # The database's integrity check runs while a user signs in; with the sign-in
        # skipped here it starts when the window shows, and the first write waits for it.
        # Timed actions start once it is done, as after a sign-in.
        from itbconsole.store.db import pending_integrity_check

        check = pending_integrity_check(self.clinic.store.db)
        if check is not None:
            check.start()
            self.wait(lambda: check.done)
        heavy = self.clinic.patient_rows(HEAVY_HOSPITAL_NUMBER)
        assert heavy and heavy[0].patient.id is not None and heavy[0].pump_serial
        self.heavy_id, self.heavy_serial = heavy[0].patient.id, heavy[0].pump_serial
        self.patients = len(window.patient_list.model.all_rows)
        self.flex_ids = self._flex_patients(12)
        self.refill_patients = [
            (row.patient.id, row.pump_serial)
            for row in window.patient_list.model.all_rows[1:40]
            if row.patient.id is not None
            and row.pump_serial
            and row.patient.id not in self.flex_ids
        ]

    def wait(self, done: Callable[[], bool]) -> None:
        from PySide6.QtWidgets import QApplication

        deadline = time.perf_counter() + 60
        while not done() and time.perf_counter() < deadline:
            QApplication.processEvents()
            time.sleep(0.002)

    # ---------------------------------------------------------------- actions, now

    def empty_list(self) -> None:
        """The window as it shows, before its list is read."""
        panel = self.window.patient_list
        panel.set_rows([])
        panel.loaded = False

    def list_read(self) -> Callable[[], bool]:
        """The list as the window reads it after it shows (a worker thread)."""
        panel = self.window.patient_list
        self.window.load_patients()
        return lambda: panel.loaded

    def open_patient(self) -> Callable[[], bool]:
        """The first time in the session (no forecast kept in memory yet)."""
        self.clinic._kept_forecasts.clear()
        self.window.open_patient(self.heavy_id)
        return done_now()

    def finish_refill(self) -> Callable[[], bool]:
        """What the refill wizard does when the refill is stored: the record written, the
        host's list refreshed, the patient shown again (ui/refill/wizard.py)."""
        self.clinic._kept_forecasts.clear()
        self._write_refill()
        self.window.refresh_patients()
        self.window.open_patient(self.heavy_id)
        return done_now()

    def save_interrogation(self) -> Callable[[], bool]:
        """What the window does when the link thread hands over an interrogation."""
        window = self.window
        before = window.last_interrogation
        window.save_interrogation_in_background(self._interrogation(HEAVY_EVENTS))
        return lambda: not window.saving and window.last_interrogation != before

    def refill_identify(self) -> Callable[[], bool]:
        """The wizard's step 1 as the pump's answer arrives: the pump checked, what it says
        shown, and the interrogation saved on a worker thread, settling the pending refill."""
        wizard, result = self._refill
        wizard._identified(result)
        return lambda: wizard.saving is None and wizard.session.reading_saved

    def refill_identify_long_log(self) -> Callable[[], bool]:
        """Step 1 for the pump with 15,000 stored log entries: the expected residual reads
        only the entries since the last refill (an indexed read)."""
        wizard, result = self._refill
        wizard._identified(result)
        return done_now()

    def unlock(self) -> Callable[[], bool]:
        """The lock screen's Sign in pressed with the right password: the argon2 check (the
        library's default parameters, as the app stores them) runs on a worker thread."""
        session = self._session
        session.overlay.form.submit()
        return lambda: not session.locked

    def sign_in(self) -> Callable[[], bool]:
        """The sign-in dialog's Sign in pressed with the right password."""
        dialog = self._dialog
        dialog.form.submit()
        return lambda: dialog.user is not None

    def gui_writes(self) -> Callable[[], bool]:
        """GUI_WRITES account events recorded one after another on the GUI thread (what a
        sign-in, a lock or a sign-out writes), one per turn of the event loop; the log's
        checkpoints on the window's worker."""
        from PySide6.QtCore import QTimer

        accounts, user = self.clinic.accounts, self.clinic.user
        left = [GUI_WRITES]
        timer = self._writes = QTimer()
        timer.setInterval(0)

        def write() -> None:
            accounts.record_lock(user, "benchmark")
            left[0] -= 1
            if not left[0]:
                timer.stop()

        timer.timeout.connect(write)
        timer.start()
        return lambda: left[0] == 0

    def gui_writes_before(self) -> Callable[[], bool]:
        """The same writes with SQLite's automatic checkpoint on the window's connection
        (every 1,000 pages, inside the commit that crosses them), as before issue 14."""
        from itbconsole.store.db import WINDOW_AUTOCHECKPOINT_PAGES

        db = self.clinic.store.db
        self.checkpointer.timer.stop()
        db.execute("PRAGMA wal_autocheckpoint = 1000")
        done = self.gui_writes()

        def finished() -> bool:
            if not done():
                return False
            db.execute(f"PRAGMA wal_autocheckpoint = {WINDOW_AUTOCHECKPOINT_PAGES}")
            self.checkpointer.timer.start()
            return True

        return finished

    def change_password(self) -> Callable[[], bool]:
        """Session > Change my password, Change password pressed: the present password
        checked and the new one hashed (argon2, the library's default parameters) on a
        worker thread."""
        dialog = self._change
        dialog.accept_if_valid()
        return lambda: dialog.changed

    def change_password_before(self) -> Callable[[], bool]:
        """The argon2 work on the GUI thread (as before issue 14)."""
        dialog = self._change
        dialog.change(dialog.current.text(), dialog.new.text())
        assert dialog.changed, dialog.message.text()
        return done_now()

    def open_flex_patient(self) -> Callable[[], bool]:
        """A patient on a flex program, its forecast not kept in memory yet (the first time
        in the session); a different patient each run."""
        self.clinic._kept_forecasts.clear()
        self.window.open_patient(self.flex_ids.pop())
        return done_now()

    def clear_search(self) -> Callable[[], bool]:
        panel = self.window.patient_list
        panel.search.setText("")
        panel.apply_search()
        return done_now()

    def trends_click(self) -> Callable[[], bool]:
        view = self.window.patient_view
        view.tabs.setCurrentWidget(view.trends)
        trends = view.trends.view()
        return lambda: not trends.loading and trends.export_button.isEnabled()

    # ---------------------------------------------------------------- actions, before

    def list_read_before(self) -> Callable[[], bool]:
        """The list filled on the GUI thread (as before issue 14)."""
        self._fill_list_here()
        return done_now()

    def open_patient_before(self) -> Callable[[], bool]:
        """Opening with every stored event decoded, as patient_history did."""
        self.window.open_patient(self.heavy_id)
        list(self.clinic.patient_history(self.heavy_id).events)
        return done_now()

    def finish_refill_before(self) -> Callable[[], bool]:
        """A full list re-read and the patient opened twice (as before issue 14)."""
        self.clinic._kept_forecasts.clear()
        self._write_refill()
        self._fill_list_here()
        self.window.open_patient(self.heavy_id)
        self.window.open_patient(self.heavy_id)
        return done_now()

    def save_interrogation_before(self) -> Callable[[], bool]:
        """The save on the GUI thread, plus the owner's and the screen's full event reads
        of before."""
        self.window._save_interrogation(self._interrogation(HEAVY_EVENTS))
        for _ in range(2):
            list(self.clinic.patient_history(self.heavy_id).events)
        return done_now()

    def refill_identify_before(self) -> Callable[[], bool]:
        """Step 1 with the interrogation saved on the GUI thread (as before issue 14)."""
        wizard, result = self._refill
        session = wizard.session
        ident = session.identify(result.reading, result.events, simulated=result.simulated)
        wizard.identify_page.show_identification(ident, self.clinic.tz)
        session.resolve_pending()
        self.window.refresh_patients()
        return done_now()

    def refill_identify_long_log_before(self) -> Callable[[], bool]:
        """Step 1 with the patient's whole stored log read and decoded for the residual's
        boluses, as before issue 14 (the same entries handed over, every one of them)."""
        wizard, result = self._refill
        store = self.clinic.store

        def whole_log(patient_id: int, serial: str, *_: object) -> list[PumpEvent]:
            return [e for e in store.patient_history(patient_id).events if e.pump_serial == serial]

        store.pump_events_between = whole_log  # type: ignore[method-assign,assignment]
        try:
            wizard._identified(result)
        finally:
            del store.pump_events_between
        return done_now()

    def unlock_before(self) -> Callable[[], bool]:
        """The password checked on the GUI thread (as before issue 14)."""
        self._session.submit(BENCH_ADMIN, self.password)
        return done_now()

    def sign_in_before(self) -> Callable[[], bool]:
        """The password checked on the GUI thread (as before issue 14)."""
        self._dialog.sign_in(BENCH_ADMIN, self.password)
        return done_now()

    def clear_search_before(self) -> Callable[[], bool]:
        """Clearing re-read the whole list from the database."""
        self.window.patient_list.search.setText("")
        self._fill_list_here()
        return done_now()

    def forget_old_rows(self) -> None:
        """After the old ways: the window's list as the window itself keeps it."""
        import gc

        gc.collect()
        gc.freeze()

    def _fill_list_here(self) -> None:
        found = self.clinic.patient_list()
        self.window.patient_list.set_rows(found.rows, serials=found.serials)

    # ---------------------------------------------------------------- helpers

    def prepare_refill(self) -> None:
        """A refill wizard open (the last one closed) for a patient not refilled in this run
        (the stored history is the two years every patient has: the patient with thousands
        of stored events is timed on opening), an earlier refill of the pump left pending
        (one the pump took), and the pump's answer ready: a reading and 5,000 new events."""
        from itbconsole.model import Refill, RefillStatus
        from ui.refill.wizard import RefillWizard

        self._close_refill()
        patient_id, serial = self.refill_patients.pop()
        self.window.current_patient_id = patient_id
        result = self._interrogation(HEAVY_EVENTS, patient_id, serial)
        at = result.reading.at - timedelta(minutes=30)
        reading = result.reading  # the pump took it: its estimate follows on from it
        pending = Refill(
            serial,
            at,
            5_000,
            5_000,
            reading.reservoir_ul,
            "Lioresal Intrathecal",
            reading.concentration_mcg_ml,
            "LPENDING",
            (at + timedelta(days=400)).date(),
            status=RefillStatus.PENDING,
        )
        self.clinic.store.add_refill(pending, self.clinic.user, patient_id=patient_id)
        self._refill = (RefillWizard(self.window), result)

    def prepare_refill_long_log(self) -> None:
        """A refill wizard open for the patient whose pump has logged 15,000 entries (its
        stored log topped up once, entries before its last refill), nothing pending, and the
        pump's answer ready: a reading and 10 new entries."""
        from ui.refill.wizard import RefillWizard

        self._close_refill()
        serial = self.heavy_serial
        stored = self.clinic.next_event_index(serial)
        if stored < LONG_LOG:
            start = END - timedelta(days=365 * YEARS)
            more = [
                PumpEvent(serial, i, start + timedelta(minutes=61 * i), "alarm_test", {"n": i})
                for i in range(stored, LONG_LOG)
            ]
            self.clinic.store.add_events(more, self.clinic.user, patient_id=self.heavy_id)
            self.forget_old_rows()
        self.window.current_patient_id = self.heavy_id
        self._refill = (RefillWizard(self.window), self._interrogation(10))

    def prepare_unlock(self) -> None:
        """The window locked, its user's name chosen and password typed on the lock screen
        (an administrator account made once on this copy of the clinic)."""
        session = getattr(self, "_session", None)
        if session is None:
            session = self._session = self._install_accounts()
        session.lock("locked by the user")
        form = session.overlay.form
        form.choose(BENCH_ADMIN)
        form.password.setText(self.password)

    def prepare_sign_in(self) -> None:
        """A sign-in dialog on screen, the name chosen and the password typed."""
        from ui.dialogs import SignInDialog

        if getattr(self, "_session", None) is None:
            self._session = self._install_accounts()
        old = getattr(self, "_dialog", None)
        if old is not None:
            old.close()
            old.deleteLater()
        dialog = self._dialog = SignInDialog(self.clinic.accounts)
        dialog.show()
        dialog.form.choose(BENCH_ADMIN)
        dialog.form.password.setText(self.password)

    @property
    def password(self) -> str:
        """The bench administrator's password now (changed by ``change_password``)."""
        return str(getattr(self, "_password", BENCH_PASSWORD))

    def prepare_change_password(self) -> None:
        """The change-password dialog on screen for the bench administrator, the present
        password and a new one (the other of two) typed."""
        from ui.accounts_dialogs import ChangePasswordDialog

        if getattr(self, "_session", None) is None:
            self._session = self._install_accounts()
        old = getattr(self, "_change", None)
        if old is not None:
            if old.changed:
                self._password = old.new.text()
            old.close()
            old.deleteLater()
        user = self.clinic.accounts.find(BENCH_ADMIN)
        assert user is not None
        dialog = self._change = ChangePasswordDialog(self.clinic.accounts, user.user())
        dialog.show()
        new = next(p for p in BENCH_PASSWORDS if p != self.password)
        dialog.current.setText(self.password)
        dialog.new.setText(new)
        dialog.again.setText(new)

    def _install_accounts(self) -> Any:
        accounts = self.clinic.accounts
        if not accounts.has_accounts():
            self.clinic.user = accounts.create_first_administrator(BENCH_ADMIN, BENCH_PASSWORD)
        return self.window.install_session(ask_new_password=lambda _user: True)

    def _close_refill(self) -> None:
        old = getattr(self, "_refill", None)
        if old is not None:
            old[0].session.cancel()
            old[0].close()
            old[0].deleteLater()

    def _flex_patients(self, count: int) -> list[int]:
        """Patients whose pump runs a flex program (about one in five)."""
        from itbconsole.model import Mode

        found: list[int] = []
        for row in self.window.patient_list.model.all_rows:
            serial = row.pump_serial
            if row.patient.id is None or not serial or row.patient.id == self.heavy_id:
                continue
            latest = self.clinic.pump_facts(serial).latest_reading
            if latest is not None and latest.program.mode is Mode.FLEX:
                found.append(row.patient.id)
                if len(found) == count:
                    break
        return found

    def type_search(self) -> None:
        panel = self.window.patient_list
        panel.search.setText("smith ol")
        panel.apply_search()

    def leave_trends(self) -> None:
        view = self.window.patient_view
        view.tabs.setCurrentWidget(view.overview)

    def _write_refill(self) -> None:
        from itbconsole.model import Refill

        at = self._next_time()
        refill = Refill(
            self.heavy_serial,
            at,
            5_000,
            5_000,
            35_000,
            "Lioresal Intrathecal",
            500,
            "LBENCH",
            (at + timedelta(days=400)).date(),
        )
        self.clinic.store.add_refill(refill, self.clinic.user, patient_id=self.heavy_id)

    def _next_time(self) -> datetime:
        self._clock = getattr(self, "_clock", END) + timedelta(hours=1)
        return self._clock

    def _interrogation(
        self, count: int, patient_id: int | None = None, serial: str | None = None
    ) -> Any:
        from ui.pump_jobs import InterrogationResult

        patient_id, serial = patient_id or self.heavy_id, serial or self.heavy_serial
        latest = self.clinic.latest_reading(patient_id, serial)
        assert latest is not None
        at = self._next_time()
        reading = replace(latest, at=at, pump_clock=at, id=None)
        first = self.clinic.next_event_index(serial)
        events = tuple(
            PumpEvent(
                serial,
                first + i,
                at - timedelta(seconds=count - i),
                "alarm_test",
                {"n": i},
            )
            for i in range(count)
        )
        identity = type("Identity", (), {"serial": serial, "capabilities": ()})()
        return InterrogationResult(identity, reading, events, 40_000)


ACTIONS = (
    ("list read after the window shows", "list_read", "empty_list"),
    ("open a patient with 5,000 stored events", "open_patient", None),
    (
        "refill step 1, pump with 15,000 stored log entries",
        "refill_identify_long_log",
        "prepare_refill_long_log",
    ),
    ("finish a refill", "finish_refill", None),
    ("save an interrogation with 5,000 new events", "save_interrogation", None),
    (
        "refill step 1 settling a pending refill, 5,000 new events",
        "refill_identify",
        "prepare_refill",
    ),
    ("clear the search box", "clear_search", "type_search"),
    ("Trends tab click to plotted", "trends_click", "leave_trends"),
    ("open a patient on a flex program (first forecast)", "open_flex_patient", None),
    ("unlock the lock screen (argon2 password check)", "unlock", "prepare_unlock"),
    ("sign in (argon2 password check)", "sign_in", "prepare_sign_in"),
    (f"{GUI_WRITES} GUI-thread writes in a row (checkpoints)", "gui_writes", None),
    ("change my password (argon2 check and hash)", "change_password", "prepare_change_password"),
)


def run_size(
    db: Path, runs: int, only: list[str] | None = None
) -> list[tuple[str, str, float, float | None]]:
    bench = Bench(db)
    print(f"{bench.patients:,} patients listed; worst GUI stall per action (median of {runs}):")
    out: list[tuple[str, str, float, float | None]] = []
    for title, name, prepare in ACTIONS:
        if only and name not in only:
            continue
        now: list[float] = []
        before: list[float] = []
        before_fn = getattr(bench, f"{name}_before", None)
        # Every "now" run first: the old ways leave tens of thousands of fresh objects on
        # the GUI thread that Python's garbage collector would then walk during the next
        # action (the window itself keeps its list out of its reach, gc.freeze).
        for _ in range(runs):
            if prepare:
                getattr(bench, prepare)()
            now.append(measure(getattr(bench, name)))
        for _ in range(runs if before_fn is not None else 0):
            if prepare:
                getattr(bench, prepare)()
            assert before_fn is not None
            before.append(measure(before_fn))
        if bench.prompts.errors:
            raise SystemExit(f"{title}: {bench.prompts.errors[-1]}")
        bench.forget_old_rows()
        value = statistics.median(now)
        base = statistics.median(before) if before else None
        shown = f"{base:8.0f} ms" if base is not None else "       -   "
        print(f"  {title:<46} now {value:6.0f} ms   before {shown}")
        out.append((name, title, value, base))
    bench.window.close()
    bench.clinic.store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "itb-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[name for _, name, _ in ACTIONS],
        help="time only these actions (default: every one)",
    )
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args.cache.mkdir(parents=True, exist_ok=True)
    results: list[tuple[int, list[tuple[str, str, float, float | None]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ITBCONSOLE_DATA_DIR"] = tmp
        from ui.app import make_application

        make_application()
        for size in args.sizes:
            cached = args.cache / f"gui-clinic-{size}.sqlite"
            if not cached.exists():
                t = time.perf_counter()
                partial = cached.with_suffix(".building")
                partial.unlink(missing_ok=True)
                build_clinic(partial, size)
                partial.rename(cached)
                print(f"Built a {size:,}-patient clinic in {time.perf_counter() - t:.0f} s")
            db = Path(tmp) / f"clinic-{size}.sqlite"
            shutil.copyfile(cached, db)
            with open(db, "rb+") as copy:  # on disk, as a clinic's database is
                os.fsync(copy.fileno())
            results.append((size, run_size(db, args.runs, args.only)))
    ok = True
    for size, rows in results:
        for name, _title, value, base in rows:
            ok &= value <= LIMIT_MS
            print(
                json.dumps(
                    {
                        "metric": f"gui_stall_{name}_{size}_patients_ms",
                        "value": round(value, 1),
                        "unit": "ms",
                        "ratio": round(value / base, 3) if base else None,
                        "limit": LIMIT_MS,
                    }
                )
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
