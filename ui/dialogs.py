"""Small dialogs: sign-in (a list of names and a password), error, about, and where a
file is saved (:func:`ask_save_path`, every save dialog's one door).

Each dialog that asks something exposes ``ask()``, returning the answer or None, so tests
can drive it without a modal event loop (they fill the fields and call ``accept_if_valid``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from itbconsole import __version__
from itbconsole.model import User
from itbconsole.services.accounts import AccountError, AccountService, PasswordCheck, SignInRefused
from itbconsole.store import StoreError

log = logging.getLogger(__name__)

#: What the sign-in form says while the password is checked on a worker thread.
CHECKING = "Checking…"

#: The password checks under way, kept until their answer whatever becomes of their form
#: (a dialog closed and deleted meanwhile): a wrong password's record must not depend on it.
_UNDER_WAY: set[PasswordCheckCall] = set()


class PasswordCheckCall(QObject):
    """One password's argon2 check on a worker thread for a form (:func:`check_in_background`,
    ``ui.accounts_dialogs.change_in_background``). Its answer goes to the form's ``finish``
    on the GUI thread while the form is there. A form closed before the answer calls
    :meth:`abandon` (or does so in ``finish``): nobody is let in, and when the answer says
    the password was wrong the account service records it all the same
    (:meth:`AccountService.record_abandoned`, as ``failure`` with ``detail``), since the
    guess was tried. A right one records nothing."""

    def __init__(
        self,
        accounts: AccountService,
        work: Callable[[], object],
        attempt: tuple[str, str, str, dict[str, Any]],
        finish: Callable[[object], None],
        job_name: str,
    ) -> None:
        super().__init__()
        from ui.link_worker import BackgroundCall

        self.accounts = accounts
        self._attempt: tuple[str, str, str, dict[str, Any]] | None = attempt
        self._finish = finish
        self.abandoned = False
        self.job = BackgroundCall(work, job_name)
        self.job.done.connect(self._answered)
        self.job.failed.connect(self._answered)

    @property
    def running(self) -> bool:
        return self.job.running

    def start(self) -> None:
        _UNDER_WAY.add(self)
        self.job.start()

    def abandon(self) -> None:
        """The form was closed: the answer lets nobody in; a wrong password is recorded."""
        self.abandoned = True

    @Slot(object)
    def _answered(self, outcome: object) -> None:
        try:
            owner = getattr(self._finish, "__self__", None)
            if not isinstance(owner, QObject) or _alive(owner):
                self._finish(outcome)
            else:
                self.abandoned = True  # its form is gone
        finally:
            attempt, self._attempt = self._attempt, None  # the password goes with the answer
            _UNDER_WAY.discard(self)
            if self.abandoned and attempt is not None:
                name, password, failure, detail = attempt
                try:
                    self.accounts.record_abandoned(name, password, outcome, failure, detail)
                except (AccountError, StoreError):
                    log.exception("A wrong password abandoned while checked was not recorded")


def check_in_background(
    accounts: AccountService,
    name: str,
    password: str,
    finish: Callable[[object], None],
    *,
    failure: str = "sign_in_failed",
    detail: dict[str, Any] | None = None,
) -> PasswordCheckCall | None:
    """Check ``password`` for ``name`` on a worker thread (argon2 takes 0.1-0.2 s, which
    on the GUI thread would freeze the window), then call ``finish`` on the GUI thread with
    the :class:`PasswordCheck` (or the exception if the check itself broke). The check
    reads no database; the account service decides and records on the GUI thread with it.
    ``failure`` and ``detail``: how the service records the attempt as a wrong password
    (as the form's own call would) if the form is closed before the answer
    (:class:`PasswordCheckCall`).

    None when there is nothing to check (a wait after wrong passwords is due, or no active
    account has that name): ``finish`` is not called and the caller goes on at once, the
    service refusing without a check. ``finish`` should be a method of a QObject, so that
    a result arriving after its owner is gone is not delivered."""
    checker = accounts.password_checker(name)
    if checker is None:
        return None

    def check() -> PasswordCheck:
        below_the_window()
        return checker(password)

    attempt = (name, password, failure, detail or {"via": "the app"})
    call = PasswordCheckCall(accounts, check, attempt, finish, "password-check")
    call.start()
    return call


def _alive(widget: QObject) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(widget))


def below_the_window() -> None:
    """Lower the calling worker thread's scheduling priority (Linux: a thread has its own
    nice value, and the threads it starts inherit it). argon2 runs its four lanes in
    threads of its own: on a two-core PC they took both cores from the GUI thread for the
    check's 0.1-0.2 s and the window stalled 30-80 ms; below it, under 30 ms. Elsewhere
    nothing changes (on other systems a thread id is not a process id)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


class SignInForm(QWidget):
    """Choose your name from the list and type your password. Nothing is prefilled in a
    text field (a name typed after a previous one would be appended to it); the list may
    have a name selected (the locked session's own, on the lock screen).

    ``submitted(name, password)`` is emitted by Sign in (or Enter); the owner checks it
    (showing :meth:`set_checking` meanwhile) and calls :meth:`refuse` with what the account
    service said. Without passwords (demo mode) the password field is hidden."""

    submitted = Signal(str, str)

    def __init__(
        self, parent: QWidget | None = None, *, passwords: bool = True, button: str = "Sign in"
    ) -> None:
        super().__init__(parent)
        self.passwords = passwords
        self.names = QListWidget()
        self.names.setAccessibleName("Your name")
        self.names.setMinimumHeight(120)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Your password")
        self.password.setPlaceholderText("your password")
        self.password.setVisible(passwords)
        self.message = QLabel("")
        self.message.setObjectName("fieldError")
        self.message.setWordWrap(True)
        self.button = QPushButton(button)
        self.button.setDefault(True)
        self.button.clicked.connect(self.submit)
        self.password.returnPressed.connect(self.submit)
        self.names.itemActivated.connect(lambda _item: self._after_name())
        self._waiting = QTimer(self)
        self._waiting.setSingleShot(True)
        self._waiting.timeout.connect(self._end_wait)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Name", self.names)
        if passwords:
            form.addRow("&Password", self.password)
        form.addRow(self.message)
        form.addRow(self.button)

    def set_names(self, names: list[str], select: str | None = None) -> None:
        """The names offered; ``select`` is highlighted (never typed into a field)."""
        self.names.clear()
        for name in names:
            self.names.addItem(QListWidgetItem(name))
        if select is not None:
            found = self.names.findItems(select, Qt.MatchFlag.MatchFixedString)
            if found:
                self.names.setCurrentItem(found[0])
        self.password.clear()

    def chosen(self) -> str:
        item = self.names.currentItem()
        return item.text() if item is not None and item.isSelected() else ""

    def choose(self, name: str) -> None:
        """Select ``name`` in the list (what a click does)."""
        found = self.names.findItems(name, Qt.MatchFlag.MatchFixedString)
        if found:
            self.names.setCurrentItem(found[0])

    def _after_name(self) -> None:
        if self.passwords:
            self.password.setFocus()
        else:
            self.submit()

    def submit(self) -> None:
        if not self.button.isEnabled():
            return
        name = self.chosen()
        if not name:
            self.message.setText("Choose your name in the list.")
            self.names.setFocus()
            return
        if self.passwords and not self.password.text():
            self.message.setText("Type your password.")
            self.password.setFocus()
            return
        password = self.password.text()
        self.password.clear()
        self.submitted.emit(name, password)

    def refuse(self, message: str, wait_s: int = 0) -> None:
        """Show why the sign-in was refused; with ``wait_s``, Sign in is off that long."""
        self.message.setText(message)
        if wait_s:
            self.button.setEnabled(False)
            self._waiting.start(wait_s * 1000)
        self.password.setFocus()

    def set_checking(self, checking: bool) -> None:
        """While the password is checked on a worker thread: "Checking…", and nothing to
        press, choose or type until the answer."""
        if checking:
            self.message.setText(CHECKING)
        elif self.message.text() == CHECKING:
            self.message.setText("")
        for widget in (self.button, self.names, self.password):
            widget.setEnabled(not checking)

    def _end_wait(self) -> None:
        self.button.setEnabled(True)
        self.message.setText("You can try again now.")

    def reset(self) -> None:
        self.message.setText("")
        self.password.clear()


class SignInDialog(QDialog):
    """Who is at the console, proved by their password (itbconsole.services.accounts).
    The name and role of the account are stamped on every record.

    ``demo_users`` (demo mode): sign in as one of them with no password, clearly marked."""

    def __init__(
        self,
        accounts: AccountService | None,
        parent: QWidget | None = None,
        *,
        demo_users: Sequence[User] = (),
    ) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.demo_users = {u.name: u for u in demo_users}
        self.user: User | None = None
        self._checking: PasswordCheckCall | None = None
        self._pending: tuple[str, str] | None = None
        self.setWindowTitle("Sign in to ITB Console")
        demo = bool(self.demo_users)
        self.form = SignInForm(self, passwords=not demo)
        if demo:
            self.form.set_names(list(self.demo_users))
        elif accounts is not None:
            self.form.set_names(accounts.sign_in_names())
        self.form.submitted.connect(self.try_sign_in)
        intro = QLabel(
            "DEMO MODE: training users, no passwords. Nothing here is a real patient's record."
            if demo
            else "Choose your name and type your password. Everything you record is stamped "
            "with your name and role. Only clinicians and administrators can send a new "
            "program to a pump."
        )
        intro.setObjectName("trainingBanner" if demo else "")
        intro.setWordWrap(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.form)
        layout.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(440)

    @property
    def checking(self) -> bool:
        """A password is being checked on a worker thread."""
        return self._checking is not None

    def try_sign_in(self, name: str, password: str) -> None:
        """Sign in as pressed: the password is checked on a worker thread ("Checking…",
        the buttons off meanwhile), then the account service decides and records."""
        if self.demo_users:
            self.user = self.demo_users.get(name)
            if self.user is not None:
                self.accept()
            return
        assert self.accounts is not None
        if self._checking is not None:
            return
        call = check_in_background(
            self.accounts, name, password, self._password_checked, detail={"via": "the app"}
        )
        if call is None:  # refused without a check (a wait is due, or no such account)
            self.sign_in(name, password)
            return
        self._checking, self._pending = call, (name, password)
        self.form.set_checking(True)
        self.cancel.setEnabled(False)

    def _password_checked(self, outcome: object) -> None:
        pending = self._pending
        self._checking = self._pending = None
        self.form.set_checking(False)
        self.cancel.setEnabled(True)
        if pending is None:  # the dialog was closed meanwhile: nobody signs in
            return
        self.sign_in(*pending, checked=outcome if isinstance(outcome, PasswordCheck) else None)

    def sign_in(self, name: str, password: str, checked: PasswordCheck | None = None) -> None:
        """The account service's answer: signed in (the dialog accepted) or refused. An
        account whose password an administrator set is signed in, and recorded so, only
        once its own new password is chosen (the app asks next: ``change_first``)."""
        assert self.accounts is not None
        try:
            self.user = self.accounts.sign_in(name, password, checked=checked, change_first=True)
        except SignInRefused as exc:
            self.form.refuse(str(exc), exc.retry_after_s)
            return
        self.accept()

    def done(self, result: int) -> None:
        """Closed (Cancel, Escape, the title bar): a check still running signs nobody in
        when it ends; if it says the password was wrong, that is recorded
        (:class:`PasswordCheckCall`)."""
        self._pending = None
        if self._checking is not None:
            self._checking.abandon()
        super().done(result)

    def ask(self) -> User | None:
        return self.user if self.exec() == QDialog.DialogCode.Accepted else None


def show_error(
    parent: QWidget | None, title: str, message: str, log_path: str | None = None
) -> None:
    """A plain-words error; when something unexpected happened, where the log file is."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if log_path:
        box.setInformativeText(
            f"The details were written to the log file:\n{log_path}\n"
            "Your records are safe. If this happens again, send the log file to your IT support."
        )
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.exec()


def documents_dir() -> Path:
    """The user's Documents folder (where a nurse looks for a saved letter or list), else
    the home folder; never the installation folder the program happens to run in."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    folder = Path(location) if location else Path.home()
    return folder if folder.is_dir() else Path.home()


def save_start_path(suggested: str) -> str:
    """Where a save dialog opens: ``suggested`` (a file name) in the Documents folder; a
    suggestion with a folder of its own keeps it."""
    path = Path(suggested)
    return str(path if path.is_absolute() else documents_dir() / path.name)


def ask_save_path(
    parent: QWidget | None, caption: str, suggested: str, file_filter: str
) -> str | None:
    """Ask where to save a file, starting in the Documents folder; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, caption, save_start_path(suggested), file_filter)
    return path or None


def show_about(parent: QWidget | None, db_path: str, log_path: str) -> None:
    QMessageBox.about(
        parent,
        "About ITB Console",
        f"<h3>ITB Console {__version__}</h3>"
        "<p>Desktop console for implanted intrathecal baclofen pumps: interrogation, refills, "
        "dose programming and trends. Works offline; records are kept on this computer.</p>"
        f"<p>Database: <code>{db_path}</code><br>Log file: <code>{log_path}</code></p>"
        "<p>Not a certified medical device.</p>",
    )


class OtherPortDialog(QDialog):
    """Type a port the list does not show (a programmer on an unusual port, a simulator
    served with ``itbconsole sim``). Checked before it is tried."""

    def __init__(self, parent: QWidget | None = None, last: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Other port")
        self.edit = QLineEdit(last)
        self.edit.setAccessibleName("Port")
        self.edit.setPlaceholderText("/dev/ttyUSB0, COM3, socket://host:port, rfc2217://host:port")
        self.error = QLabel("")
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept_if_valid)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Port", self.edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.result_url: str | None = None

    def url(self) -> str | None:
        from drivers.ports import PortUrlError, check_port_url

        try:
            return check_port_url(self.edit.text())
        except PortUrlError as exc:
            self.error.setText(str(exc))
            return None

    def accept_if_valid(self) -> None:
        self.result_url = self.url()
        if self.result_url is not None:
            self.accept()

    def ask(self) -> str | None:
        return self.result_url if self.exec() == QDialog.DialogCode.Accepted else None
