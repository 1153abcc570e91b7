"""Desktop application entry: logging, QApplication, store, sign-in (or the first
administrator of a new database), main window with its session lock."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from itbconsole import __version__
from itbconsole.druglib import DrugLibraryError, load_drug_library
from itbconsole.model import User
from itbconsole.paths import (
    create_private_file,
    data_dir,
    default_db_path,
    demo_db_path,
    make_private,
    window_settings_path,
)
from itbconsole.services.accounts import AccountService
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store, StoreError
from itbconsole.store.db import (
    BackgroundIntegrityCheck,
    checkpoints_elsewhere,
    integrity_check_after_open,
    pending_integrity_check,
)
from itbconsole.sync import configured_dsn
from ui.device_bar import PortChoice
from ui.dialogs import SignInDialog, show_error
from ui.logs import install_excepthook, setup_logging
from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def stylesheet() -> str:
    path = Path(__file__).resolve().parent.parent / "resources" / "style.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def make_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setApplicationDisplayName("ITB Console")
        app = QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setOrganizationName("ITBConsole")
    app.setApplicationName("ITB Console")
    app.setApplicationVersion(__version__)
    app.setStyleSheet(stylesheet())
    return app


def settings(demo: bool = False) -> QSettings:
    """The window's own settings (last port, geometry), in an owner-only file; demo mode
    keeps its own file, so its simulated ports and window size never become the clinic's."""
    path = window_settings_path(demo=demo)
    if not path.exists():
        create_private_file(path)
    qsettings = QSettings(str(path), QSettings.Format.IniFormat)
    # Written in place, so the file keeps its owner-only mode (an atomic save would replace
    # it with a new file of the umask's mode); the folder is owner-only as well.
    qsettings.setAtomicSyncRequired(False)
    qsettings.sync()
    make_private(path)
    return qsettings


def resume_garbage_collection() -> None:
    """Resume the cyclic garbage collector the start paused for its imports
    (ui.launcher.prepare_desktop_start). What they made (modules, classes, functions) lives
    for the session, so it is set out of the collector's reach (``gc.freeze``) rather than
    walked by a first collection. Nothing happens when the collector is running."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def build_window(
    db_path: str | None = None, demo: bool = False, user: User | None = None
) -> MainWindow | None:
    """Everything up to a shown-ready main window; None when the user cancels sign-in."""
    resume_garbage_collection()
    log_path = setup_logging()
    log.info("ITB Console %s starting (demo=%s)", __version__, demo)
    install_excepthook(
        lambda summary, path: show_error(
            None, "Unexpected error", f"Something went wrong: {summary}", path
        ),
        log_path,
    )
    try:
        library = load_drug_library()
    except DrugLibraryError as exc:
        show_error(
            None,
            "Drug library not usable",
            f"{exc}\n\nITB Console cannot start without a valid drug library.",
        )
        return None
    prefs = settings(demo)
    if demo:  # only demo mode pays for the demo generator's import
        from itbconsole.demo import DEMO_ADMIN, DEMO_NURSE, DEMO_USER, demo_ports, open_demo_store
    try:
        if demo:
            store = open_demo_store(demo_db_path())
        else:
            # The integrity check runs beside the window instead of before it; every write
            # waits for it, and damage it finds is reported (IntegrityAlarm).
            # With a sign-in it runs while the user signs in; without one (a user given) it
            # starts once the window shows, not while the window is being built.
            # The write-ahead log is copied into the database by a worker
            # (ui.checkpoint), not inside whichever of the window's commits crosses the
            # threshold.
            with (
                integrity_check_after_open(start_later=user is not None),
                checkpoints_elsewhere(),
            ):
                store = Store.open(default_db_path(db_path))
    except StoreError as exc:
        show_error(None, "Database not available", str(exc), str(log_path))
        return None
    check = pending_integrity_check(store.db)
    if check is not None and user is not None:
        QTimer.singleShot(0, check.start)  # the first turn of the window's event loop
    alarm = IntegrityAlarm(check) if check is not None else None
    accounts = AccountService(store)
    demo_users = (DEMO_USER, DEMO_NURSE, DEMO_ADMIN) if demo else ()
    if user is None:
        if alarm is not None:  # damage found while the sign-in is open ends the sign-in
            alarm.damaged.connect(_close_sign_in)
        user = sign_in(accounts, demo_users)
        if alarm is not None:
            alarm.damaged.disconnect(_close_sign_in)
        if check is not None and check.wait(0) and check.error is not None:
            show_error(None, "Database not available", str(check.error), str(log_path))
            store.close()
            return None
        if user is None:
            store.close()
            return None
    # The clinic's zone and numbers are its stored settings (itbconsole.settings); a new
    # database counts in this computer's zone until an administrator sets one.
    clinic = ClinicService(store, library, user)
    clinic.accounts = accounts
    # Simulated pumps only in demo (training) mode, on its own database: a simulator in a
    # clinic database would write simulated readings into real patients' records.
    ports = (
        [PortChoice(url, label, "Simulated pump (training)") for url, label in demo_ports()]
        if demo
        else []
    )
    window = MainWindow(clinic, log_path=log_path, settings=prefs, extra_ports=ports, demo=demo)
    window.install_session(demo_users=demo_users)
    if not demo:  # the training database writes with synchronous=OFF: cheap checkpoints
        from ui.checkpoint import install_checkpoints

        install_checkpoints(window, clinic.database_path)
    if alarm is not None:
        alarm.watch(window)
    # A training database never syncs with a clinic's server; without a server named, the
    # sync (and its database driver) is not even loaded.
    if not demo and configured_dsn() is not None:
        from ui.sync_worker import install_sync_status

        # The status is a child of the window: it lives and stops with it.
        sync = install_sync_status(window, clinic.database_path, tz=clinic.tz)
        if sync is not None:
            sync.records_arrived.connect(lambda _n: window.refresh_patients())
    return window


class IntegrityAlarm(QObject):
    """Tells the window what the database's background integrity check found.

    Why: the check runs beside the starting window (``integrity_check_after_open``) and
    finishes on its own thread; a damaged database must still be reported before anyone
    relies on it. Writes already wait for the check and are refused on damage; this says
    so in words (the same message the start used to give) and closes the window, as a
    start on a damaged file did.
    """

    damaged = Signal(str)

    def __init__(self, check: BackgroundIntegrityCheck) -> None:
        super().__init__()
        self.check = check
        self.window: MainWindow | None = None
        self.reported = False
        check.when_done(self._finished)  # on the check's thread: handed on as a signal

    def _finished(self, check: BackgroundIntegrityCheck) -> None:
        if check.error is not None:
            self.damaged.emit(str(check.error))

    def watch(self, window: MainWindow) -> None:
        """Report damage to ``window`` once its event loop runs (now found or later)."""
        self.window = window
        self.setParent(window)  # lives and goes with the window
        self.damaged.connect(self._report)
        if self.check.wait(0) and self.check.error is not None:
            QTimer.singleShot(0, lambda: self._report(str(self.check.error)))

    def _report(self, message: str) -> None:
        window = self.window
        if window is None or self.reported:
            return
        self.reported = True
        log.error("Database damaged, found after the window opened: %s", message)
        window.prompts.critical(
            "Database damaged",
            f"{message}\n\nNothing was saved to it. ITB Console closes now.",
        )
        window.close()


def _close_sign_in(_message: str) -> None:
    """The database turned out damaged while the sign-in was open: end the sign-in (the
    start then says why and stops)."""
    dialog = QApplication.activeModalWidget()
    if dialog is not None:
        dialog.close()


def sign_in(accounts: AccountService, demo_users: Sequence[User] = ()) -> User | None:
    """Who starts the session: the first administrator of a new database, or a sign-in
    with a password (then their own password, when an administrator set it). Demo mode:
    one of its users, no password, recorded as such. None when cancelled."""
    if demo_users:
        user = SignInDialog(None, demo_users=demo_users).ask()
        if user is not None:
            accounts.record_without_password("signed_in", user, {"via": "the app"})
        return user
    # Only a new database or a password an administrator set needs these dialogs.
    from ui.accounts_dialogs import ChangePasswordDialog, FirstAdministratorDialog

    if not accounts.has_accounts() and not first_sync_done(accounts):
        return None
    if not accounts.has_accounts():
        return FirstAdministratorDialog(accounts).ask()
    user = SignInDialog(accounts).ask()
    if user is not None and accounts.must_change_password(user):
        if not ChangePasswordDialog(accounts, user, forced=True).ask():
            return None
    return user


def first_sync_done(accounts: AccountService) -> bool:
    """A new database beside a clinic server must bring the clinic's accounts in before
    anyone may make themselves its first administrator (who would then be one in every
    room). With a server named, one sync pass runs now (bounded by the server's timeout);
    True when there is no server, the server holds no accounts yet, or the pass brought
    them; False, after saying why, when it could not (the server unreachable, this room not
    yet added on the server)."""
    dsn = configured_dsn()
    if dsn is None:
        return True
    from itbconsole.sync.engine import needs_first_sync, sync_once

    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        if not needs_first_sync(accounts.store, dsn):
            return True
        try:
            sync_once(accounts.store, dsn)
            problem = ""
        except Exception as exc:  # the sync's own errors say what happened, in plain words
            problem = str(exc)
    finally:
        QGuiApplication.restoreOverrideCursor()
    if accounts.has_accounts():
        return True
    show_error(
        None,
        "The clinic's accounts are not here yet",
        "This console is new and the clinic has a server, so it must bring the clinic's "
        "accounts in before anyone signs in; that did not work"
        + (f": {problem}" if problem else ".")
        + "\n\nAsk the clinic's administrator to add this room on the server (itbconsole "
        "server add-room; the room's id: itbconsole sync room-id), then start again.",
    )
    return False


def run_app(db_path: str | None = None, demo: bool = False) -> int:
    app = make_application()
    try:
        window = build_window(db_path, demo)
    except Exception as exc:  # last resort: never a raw traceback
        log.exception("Start-up failed")
        QMessageBox.critical(
            None, "ITB Console could not start", f"{exc}\n\nSee the log in {data_dir() / 'logs'}."
        )
        return 1
    if window is None:
        return 1
    app.aboutToQuit.connect(window.close_link)
    window.show()
    return app.exec()
