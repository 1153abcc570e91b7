"""The session at a shared console: lock after idle, unlock, switch user, sign out.

Why: a clinic PC is left unattended between patients. After the clinic's idle time
(``ClinicSettings.idle_lock_minutes``, no key press or mouse movement) or at Session >
Lock, :class:`SessionController` covers the window with :class:`LockScreen`: the patient
list and record, the menus and the status bar are hidden, every other window of the app
is hidden (a question that was open is answered *no*, as Cancel would), and messages that
arrive meanwhile are held back. Shortcuts do nothing while locked.

Who comes back decides what happens to the work in progress:

* **the same person** (their password): everything comes back as it was, with the held
  messages;
* **someone else** (their own password): the window becomes theirs (``clinic.user``), and
  the work of the person before is never carried over to them. An unsent program change
  and a refill whose pump update was not sent are **discarded with a record** (the step
  reached and the figures entered, in the audit log), since resuming them later could act
  on a pump that someone else changed meanwhile. A refill whose pump update was sent but
  whose outcome is not recorded yet stays **paused for its author** (recorded too) and
  comes back when they sign in again: only they may record it. While the pump link is
  busy (a write on the wire) nobody else can sign in until it finishes.
* **Sign out** discards the work in the same way (refused while a sent refill is not
  recorded) and leaves the lock screen with nobody signed in.

Every lock, unlock, switch, sign-out, pause, resume and discard is an audited account
event (:mod:`itbconsole.services.accounts`). Demo mode's users sign in with no password.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QVBoxLayout, QWidget

from itbconsole.model import User
from itbconsole.services.accounts import (
    AccountError,
    AccountService,
    PasswordCheck,
    SignInRefused,
)
from itbconsole.store import StoreError
from ui.dialogs import PasswordCheckCall, SignInForm, check_in_background

if TYPE_CHECKING:
    from ui.main_window import MainWindow
    from ui.program.editor import ProgramEditorDialog
    from ui.refill.wizard import RefillWizard

log = logging.getLogger(__name__)

MS_PER_MINUTE = 60_000
ACTIVITY = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)
SHORTCUTS = frozenset({QEvent.Type.Shortcut, QEvent.Type.ShortcutOverride})


class DeferredPrompts:
    """The window's prompts while it is locked: nothing is shown over the lock screen.
    Messages wait for the person whose work they are about; a question is answered no."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str, str]] = []

    def error(self, title: str, message: str) -> None:
        self.pending.append(("error", title, message))

    def critical(self, title: str, message: str) -> None:
        self.pending.append(("critical", title, message))

    def confirm(self, title: str, message: str) -> bool:
        self.pending.append(
            (
                "error",
                f"Not done: {title}",
                f"The screen was locked, so this was not done:\n\n{message}",
            )
        )
        return False


@dataclass
class PausedWork:
    """What one person left when someone else signed in: a refill waiting for its outcome
    to be recorded, and the messages about their work that arrived while locked."""

    windows: list[QWidget] = field(default_factory=list)
    messages: list[tuple[str, str, str]] = field(default_factory=list)


class LockScreen(QWidget):
    """Covers the window: no patient data, only who was signed in and the sign-in form."""

    def __init__(self, parent: QWidget, *, passwords: bool) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self.setAutoFillBackground(True)
        self.title = QLabel("<h2>ITB Console is locked</h2>")
        self.who = QLabel("")
        self.who.setWordWrap(True)
        self.form = SignInForm(self, passwords=passwords, button="Sign in")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setObjectName("detail")
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        box.setMaximumWidth(480)
        inner = QVBoxLayout(box)
        inner.addWidget(self.title)
        inner.addWidget(self.who)
        inner.addWidget(self.form)
        inner.addWidget(self.note)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(box, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)


def user_text(user: User, demo: bool) -> str:
    text = f"{user.name} ({user.role.value})"
    return text + " - DEMO user, no password" if demo else text


class SessionController(QObject):
    """The lock, unlock, switch user and sign-out of one main window.

    ``demo_users``: demo mode (no passwords; the names offered are these users').
    ``ms_per_minute`` turns the idle setting into a timer interval (tests shorten it).
    ``ask_new_password(user)``: the seam for a password an administrator set, which the
    user changes before going on (default: the Change password dialog)."""

    def __init__(
        self,
        window: MainWindow,
        *,
        demo_users: Sequence[User] = (),
        ms_per_minute: int = MS_PER_MINUTE,
        ask_new_password: Callable[[User], bool] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.clinic = window.clinic
        self.accounts: AccountService = window.clinic.accounts
        self.demo_users = {u.name: u for u in demo_users}
        self.demo = bool(self.demo_users)
        self.ms_per_minute = ms_per_minute
        self.ask_new_password = ask_new_password or self._ask_new_password
        self.locked = False
        #: Who is signed in (None after Sign out, until someone signs in).
        self.signed_in: User | None = window.clinic.user
        self._hidden: list[QWidget] = []
        self._asking = False
        self._held_prompts: Any = None
        self._deferred: DeferredPrompts | None = None
        self.paused: dict[str, PausedWork] = {}
        self._checking: PasswordCheckCall | None = None
        self._pending: tuple[str, str] | None = None
        self._shut = False
        self.overlay = LockScreen(window, passwords=not self.demo)
        self.overlay.hide()
        self.overlay.form.submitted.connect(self.try_sign_in)
        self.idle = QTimer(self)
        self.idle.setSingleShot(True)
        self.idle.timeout.connect(lambda: self.lock("idle"))
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)
        self.restart_idle()

    # ------------------------------------------------------------------ idle

    def idle_ms(self) -> int:
        return int(self.clinic.settings.idle_lock_minutes) * self.ms_per_minute

    def restart_idle(self) -> None:
        if not self.locked:
            self.idle.start(self.idle_ms())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in ACTIVITY:
            if not self.locked:
                self.idle.start(self.idle_ms())
        elif self.locked and kind in SHORTCUTS and not self._on_lock_screen(watched):
            return True  # no menu shortcut acts behind the lock screen
        elif self.locked and kind == QEvent.Type.Show and self._is_other_window(watched):
            # A window that opens while locked (an editor whose pump read finished, a
            # question about an unknown pump) never shows over the lock screen: work in
            # progress waits for its author like the work open at the lock; a question
            # ends as "no".
            assert isinstance(watched, QWidget)
            if _is_work(watched):
                if watched not in self._hidden:
                    self._hidden.append(watched)
            watched.hide()
            return False
        elif watched is self.window:
            if kind == QEvent.Type.Resize and self.locked:
                self.overlay.setGeometry(self.window.rect())
            elif kind == QEvent.Type.Close:
                self.shutdown()
        return False

    def _is_other_window(self, watched: QObject) -> bool:
        return (
            not self._asking
            and isinstance(watched, QWidget)
            and watched.isWindow()
            and watched is not self.window
            and not self._on_lock_screen(watched)
        )

    def _on_lock_screen(self, watched: QObject) -> bool:
        return isinstance(watched, QWidget) and (
            watched is self.overlay or self.overlay.isAncestorOf(watched)
        )

    def shutdown(self) -> None:
        """Stop watching (the window is closing); a password check still running lets
        nobody in when it ends (a wrong password is recorded all the same)."""
        self._shut = True
        self._pending = None
        if self._checking is not None:
            self._checking.abandon()
        self.idle.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    # ------------------------------------------------------------------ lock

    def lock(self, reason: str = "locked by the user") -> None:
        """Cover the window; nothing of a patient stays on screen."""
        if self.locked:
            return
        self.locked = True
        self.idle.stop()
        user = self.signed_in
        if user is not None:
            self._record(lambda: self.accounts.record_lock(user, reason))
        work, others = self._open_windows()
        self._hidden = work
        for widget in [*work, *others]:
            widget.hide()  # a question open in its own loop ends as "no"
        self._held_prompts = self.window.prompts
        self._deferred = DeferredPrompts()
        self.window.prompts = self._deferred  # type: ignore[assignment]
        central = self.window.centralWidget()
        if central is not None:
            central.hide()
        self.window.menuBar().hide()
        self.window.statusBar().clearMessage()
        self.window.statusBar().hide()
        self._show_overlay(user)

    def _show_overlay(self, user: User | None) -> None:
        o = self.overlay
        if user is None:
            o.who.setText("Nobody is signed in. Choose your name to sign in.")
            o.note.setText("")
        else:
            o.who.setText(
                f"Signed in: <b>{user_text(user, self.demo)}</b>. Unlock with your password."
            )
            o.note.setText(
                "Someone else may sign in here with their own password. Work in progress "
                f"is not carried over to them: it stays with {user.name} (a refill sent to the "
                "pump and not yet recorded waits for them; anything not sent is closed, and "
                "that is recorded)."
            )
        names = list(self.demo_users) if self.demo else self.accounts.sign_in_names()
        o.form.set_names(names, select=user.name if user is not None else None)
        o.form.reset()
        o.setGeometry(self.window.rect())
        o.show()
        o.raise_()
        (o.form.password if not self.demo else o.form.names).setFocus()

    def _open_windows(self) -> tuple[list[QWidget], list[QWidget]]:
        """The visible windows besides the main one: (work in progress, the rest)."""
        work: list[QWidget] = []
        others: list[QWidget] = []
        for widget in QApplication.topLevelWidgets():
            if widget is self.window or not widget.isVisible():
                continue
            if _is_work(widget):
                work.append(widget)
            else:
                others.append(widget)
        return work, others

    # ------------------------------------------------------------------ unlock, switch

    @property
    def checking(self) -> bool:
        """A password typed on the lock screen is being checked on a worker thread."""
        return self._checking is not None

    def try_sign_in(self, name: str, password: str) -> None:
        """The lock screen's Sign in as pressed: the password is checked on a worker thread
        (argon2 takes 0.1-0.2 s; the form says "Checking…" and takes no input meanwhile),
        then :meth:`submit` decides with the check's answer. What needs no check (demo
        mode, the link busy for someone else, a wait due after wrong passwords, a name with
        no active account) is answered at once."""
        if self._checking is not None or self._shut:
            return
        if self.demo or (not self._same(name) and self.window.link.busy):
            self.submit(name, password)
            return
        detail = {"at": "unlock" if self._same(name) else "switch user"}
        call = check_in_background(
            self.accounts, name, password, self._password_checked, detail=detail
        )
        if call is None:
            self.submit(name, password)
            return
        self._checking, self._pending = call, (name, password)
        self.overlay.form.set_checking(True)

    def _password_checked(self, outcome: object) -> None:
        pending, call = self._pending, self._checking
        self._checking = self._pending = None
        self.overlay.form.set_checking(False)
        if pending is None or self._shut or not self.locked:
            if call is not None:  # the window closed meanwhile: nobody signs in
                call.abandon()  # (a wrong password is recorded all the same)
            return
        self.submit(*pending, checked=outcome if isinstance(outcome, PasswordCheck) else None)

    def _same(self, name: str) -> bool:
        user = self.signed_in
        return user is not None and name.strip().casefold() == user.name.strip().casefold()

    def submit(self, name: str, password: str, *, checked: PasswordCheck | None = None) -> bool:
        """The lock screen's Sign in: the same person unlocks, anyone else switches.
        ``checked``: the argon2 check of ``password`` made on a worker thread
        (:meth:`try_sign_in`); without it the password is checked here."""
        form = self.overlay.form
        user = self.signed_in
        same = self._same(name)
        try:
            if same:
                assert user is not None
                back = self._verify_unlock(user, password, checked)
            else:
                if self.window.link.busy:
                    form.refuse(
                        "The pump link is busy with the work of the person before you: wait "
                        "until it finishes, then sign in."
                    )
                    return False
                back = self._verify_switch(name, password, user, checked)
        except SignInRefused as exc:
            form.refuse(str(exc), exc.retry_after_s)
            return False
        except (AccountError, StoreError) as exc:
            form.refuse(str(exc))
            return False
        except Exception as exc:  # the check itself broke (argon2 on the worker and here)
            log.exception("Password check failed at the lock screen")
            form.refuse(
                f"The password could not be checked ({exc}). The screen stays locked: try "
                "again, and tell IT support if it happens again."
            )
            return False
        if back.account_id is not None and self.accounts.must_change_password(back):
            self._asking = True  # the new-password dialog belongs to the lock screen
            try:
                chosen = self.ask_new_password(back)
            finally:
                self._asking = False
            # Let in (and recorded as come in, by the change) only with the new password
            # stored: declining leaves the screen locked and nobody recorded as signed in.
            if not chosen or self.accounts.must_change_password(back):
                form.refuse("Choose your own password to go on.")
                return False
        if same:
            self._unlock(back)
        else:
            self._switch(user, back)
        return True

    def _verify_unlock(self, user: User, password: str, checked: PasswordCheck | None) -> User:
        if self.demo:
            self._record(
                lambda: self.accounts.record_without_password("unlocked", user, {"demo": True})
            )
            return user
        # Refuses a session with no account.
        return self.accounts.unlock(user, password, checked=checked)

    def _verify_switch(
        self, name: str, password: str, previous: User | None, checked: PasswordCheck | None
    ) -> User:
        if self.demo:
            found = self.demo_users.get(name)
            if found is None:
                raise SignInRefused(f"{name} is not a demo user.")
            detail = {"from": previous.name if previous else None, "demo": True}
            self._record(
                lambda: self.accounts.record_without_password("switched_user", found, detail)
            )
            return found
        return self.accounts.switch_to(name, password, previous, checked=checked)

    def _unlock(self, user: User) -> None:
        self.clinic.user = user  # the account as it is now (a new role applies from here)
        self.signed_in = user
        pending = self._deferred.pending if self._deferred else []
        hidden, self._hidden = self._hidden, []
        self._open_window()  # unlocked first: windows shown while locked are held back
        for widget in hidden:
            if _alive(widget):
                widget.show()
        self._replay(pending)

    def _switch(self, previous: User | None, user: User) -> None:
        leftover = PausedWork(messages=list(self._deferred.pending if self._deferred else []))
        if previous is not None:
            for widget in self._hidden:
                if not _alive(widget):
                    continue
                if self._must_wait_for_author(widget):
                    leftover.windows.append(widget)
                    self._record_work("work_paused", previous, widget)
                else:
                    self._discard(previous, widget)
            if leftover.windows or leftover.messages:
                self.paused[_key(previous)] = leftover
        self._hidden = []
        self.clinic.user = user
        self.signed_in = user
        self.window.statusBar().clearMessage()
        self._open_window()
        mine = self.paused.pop(_key(user), None)
        if mine is not None:
            for widget in mine.windows:
                if _alive(widget):
                    if _is_refill_wizard(widget):
                        self.window.refill_wizard = widget
                    widget.show()
                    self._record_work("work_resumed", user, widget)
            self._replay(mine.messages)
        self.window.statusBar().showMessage(f"Signed in: {user_text(user, self.demo)}.", 8000)

    def _open_window(self) -> None:
        """Take the lock screen away and give the window back to ``signed_in``."""
        if self._held_prompts is not None:
            self.window.prompts = self._held_prompts
        self._held_prompts = None
        self._deferred = None
        self.overlay.hide()
        central = self.window.centralWidget()
        if central is not None:
            central.show()
        self.window.menuBar().show()
        self.window.statusBar().show()
        self.locked = False
        if self.signed_in is not None:
            self.window.show_signed_in(self.signed_in, demo=self.demo)
        self.restart_idle()

    def _replay(self, messages: list[tuple[str, str, str]]) -> None:
        prompts = self.window.prompts
        for kind, title, message in messages:
            (prompts.critical if kind == "critical" else prompts.error)(title, message)

    # ------------------------------------------------------------------ sign out

    def sign_out(self) -> bool:
        """End the session: the work in progress is discarded with a record, and the lock
        screen waits for anyone to sign in. Refused while a pump write is on the wire or a
        refill sent to the pump is not recorded yet."""
        user = self.signed_in
        if user is None:
            return True
        if self.window.link.busy:
            self.window.prompts.error(
                "Sign out", "The pump link is busy: wait for it to finish, then sign out."
            )
            return False
        work, _others = self._open_windows()
        work += [w for w in self._hidden if _alive(w) and w not in work]
        waiting = [w for w in work if self._must_wait_for_author(w)]
        if waiting:
            self.window.prompts.error(
                "Sign out",
                "A refill was sent to the pump and its outcome is not recorded yet. Record "
                "it (or record it as failed) before signing out.",
            )
            return False
        for widget in work:
            self._discard(user, widget)
        self._hidden = []
        self._record(lambda: self.accounts.record_sign_out(user))
        self.signed_in = None
        self.lock("signed out")
        return True

    def switch_user(self) -> None:
        """Session > Switch user: the lock screen, for someone else to sign in."""
        self.lock("switch user")
        self.overlay.form.names.clearSelection()
        self.overlay.form.names.setFocus()

    # ------------------------------------------------------------------ work in progress

    @staticmethod
    def _must_wait_for_author(widget: QWidget) -> bool:
        """A refill whose pump update went out and whose outcome is not recorded: only its
        author may record it, so it waits for them."""
        if not _is_refill_wizard(widget):
            return False
        session = widget.session
        return bool(widget.unsaved is not None or (session.update_sent and session.outcome is None))

    def _discard(self, author: User, widget: QWidget) -> None:
        """Close a piece of unsent work, keeping a record of what it held."""
        self._record_work("work_discarded", author, widget)
        if _is_refill_wizard(widget):
            from itbconsole.services.refill import Step  # loaded with the wizard

            session = widget.session
            if session.step not in (Step.CANCELLED, Step.DONE, Step.RECORD) and not (
                session.update_sent
            ):
                session.cancel()
            if self.window.refill_wizard is widget:
                self.window.refill_wizard = None
        if _is_program_editor(widget):
            widget.reject()
        widget.close()

    def _record_work(self, event: str, author: User, widget: QWidget) -> None:
        detail = describe_work(widget)
        self._record(lambda: self.accounts.record_work(event, author, detail))

    def _record(self, write: Callable[[], object]) -> None:
        """Record an event; a store that cannot write never keeps the screen unlocked."""
        try:
            write()
        except StoreError:
            log.exception("Session event not recorded")

    def _ask_new_password(self, user: User) -> bool:
        from ui.accounts_dialogs import ChangePasswordDialog

        return ChangePasswordDialog(self.accounts, user, self.window, forced=True).ask()


def describe_work(widget: QWidget) -> dict[str, Any]:
    """What a piece of work held (for its record): ids and figures, no patient name."""
    if _is_refill_wizard(widget):
        from itbconsole.services.refill import Step  # loaded with the wizard

        s = widget.session
        detail: dict[str, Any] = {
            "kind": "refill",
            "patient_id": s.patient_id,
            "step": Step(s.step).name.lower(),
            "update_sent": s.update_sent,
        }
        if s.identification is not None:
            detail["pump_serial"] = s.identification.pump.serial
        if s.withdrawal is not None:
            detail["withdrawn_ul"] = s.withdrawal.withdrawn_ul
        check = s.new_drug_check
        if check is not None:
            detail["new_drug"] = {
                "product": check.new_drug.product.label,
                "lot": check.new_drug.lot,
                "added_ul": check.new_drug.added_ul,
            }
        return detail
    if _is_program_editor(widget):
        pages = {widget.EDIT: "edit", widget.REVIEW: "review", widget.RESULT: "result"}
        return {
            "kind": "program change",
            "pump_serial": widget.ctx.pump.serial,
            "page": pages.get(widget.pages.currentIndex(), "?"),
            "prepared_id": widget.prepared_id,
            "outcome": widget.result_outcome,
        }
    return {"kind": type(widget).__name__}


# The refill wizard and the program editor pull in the plotting library, which the window
# does not need until one of them opens (it adds about 160 ms to every start). A window of
# a class whose module was never imported cannot exist, so these checks look the class up
# in ``sys.modules`` instead of importing it.


def _loaded_class(module: str, name: str) -> type | None:
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


def _is_refill_wizard(widget: object) -> TypeGuard[RefillWizard]:
    cls = _loaded_class("ui.refill.wizard", "RefillWizard")
    return cls is not None and isinstance(widget, cls)


def _is_program_editor(widget: object) -> TypeGuard[ProgramEditorDialog]:
    cls = _loaded_class("ui.program.editor", "ProgramEditorDialog")
    return cls is not None and isinstance(widget, cls)


def _is_work(widget: object) -> bool:
    """A piece of work in progress: a refill wizard or a program editor."""
    return _is_refill_wizard(widget) or _is_program_editor(widget)


def _key(user: User) -> str:
    return f"account:{user.account_id}" if user.account_id is not None else f"name:{user.name}"


def _alive(widget: QWidget) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(widget))
