"""The password is checked on a worker thread at sign-in and on the lock screen: the form
says "Checking…" with nothing to press meanwhile, the window keeps answering, and the
outcome (signed in, wrong password, a wait after wrong passwords) and its records are what
they were. A dialog or window closed while the check runs signs nobody in.

The argon2 check is held at a gate the test opens (:class:`GatedHasher`), so "meanwhile"
is a state the test looks at, not a race."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any, Literal

from argon2 import PasswordHasher, profiles
from PySide6.QtCore import QTimer

from tests.ui import test_accounts_ui
from tests.ui.test_accounts_ui import PASSWORDS, Staffed, sign_in_at_lock
from ui.dialogs import CHECKING, SignInDialog

staffed = test_accounts_ui.staffed  # the demo clinic whose staff have accounts (the fixture)


class GatedHasher(PasswordHasher):
    """The cheap test parameters; each check waits for :attr:`gate` and notes its thread."""

    def __init__(self) -> None:
        cheap = profiles.CHEAPEST
        super().__init__(
            cheap.time_cost,
            cheap.memory_cost,
            cheap.parallelism,
            cheap.hash_len,
            cheap.salt_len,
            type=cheap.type,
        )
        self.gate = threading.Event()
        self.threads: list[threading.Thread] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.threads.append(threading.current_thread())
        assert self.gate.wait(10), "the test never opened the gate"
        return super().verify(hash, password)


def gated(s: Staffed) -> GatedHasher:
    hasher = GatedHasher()
    s.accounts.hasher = hasher
    return hasher


def events(s: Staffed, kind: str) -> list[dict[str, Any]]:
    return s.accounts.events(None, kind)


def test_sign_in_checks_the_password_on_a_worker_while_the_dialog_says_checking(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    dialog = SignInDialog(staffed.accounts)
    qtbot.addWidget(dialog)
    form = dialog.form
    form.choose("Nia Nurse")
    form.password.setText(PASSWORDS["Nia Nurse"])
    before = len(events(staffed, "signed_in"))
    form.submit()
    assert dialog.checking and form.message.text() == CHECKING
    assert not form.button.isEnabled() and not dialog.cancel.isEnabled()
    assert not form.password.isEnabled() and not form.names.isEnabled()
    # The window answers while the check runs: a timer on the GUI thread fires.
    ticks: list[int] = []
    QTimer.singleShot(0, lambda: ticks.append(1))
    qtbot.waitUntil(lambda: bool(ticks) and bool(hasher.threads))
    assert dialog.user is None and dialog.checking
    assert hasher.threads[0] is not threading.main_thread()
    hasher.gate.set()
    qtbot.waitUntil(lambda: dialog.user is not None)
    assert dialog.user == staffed.staff["nurse"]
    assert dialog.result() == dialog.DialogCode.Accepted
    assert len(events(staffed, "signed_in")) == before + 1
    assert form.button.isEnabled() and dialog.cancel.isEnabled()


def test_wrong_passwords_are_refused_recorded_and_slowed_as_before(staffed: Staffed) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    hasher.gate.set()
    dialog = SignInDialog(staffed.accounts)
    qtbot.addWidget(dialog)
    form = dialog.form
    form.choose("Nia Nurse")
    failed = len(events(staffed, "sign_in_failed"))
    for _ in range(3):
        form.password.setText("wrong-pass-0")
        form.submit()
        assert form.message.text() == CHECKING
        qtbot.waitUntil(lambda: not dialog.checking)
        assert "Wrong password for Nia Nurse" in form.message.text()
    assert len(events(staffed, "sign_in_failed")) == failed + 3
    assert "wait 1 s" in form.message.text() and not form.button.isEnabled()
    # Too soon: refused at once, unchecked and not counted (no worker, no record).
    checks = len(hasher.threads)
    form._end_wait()  # Sign in pressed again before the wait is over
    form.password.setText(PASSWORDS["Nia Nurse"])
    form.submit()
    assert not dialog.checking and len(hasher.threads) == checks
    assert "Too many wrong passwords" in form.message.text() and dialog.user is None
    assert len(events(staffed, "sign_in_failed")) == failed + 3
    staffed.accounts.clock.now += timedelta(seconds=1)  # type: ignore[attr-defined]
    form._end_wait()
    form.password.setText(PASSWORDS["Nia Nurse"])
    form.submit()
    qtbot.waitUntil(lambda: dialog.user is not None)
    assert dialog.user == staffed.staff["nurse"]


def test_a_sign_in_dialog_closed_while_checking_signs_nobody_in(staffed: Staffed) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    signed_in = len(events(staffed, "signed_in"))
    closed = SignInDialog(staffed.accounts)
    qtbot.addWidget(closed)
    deleted = SignInDialog(staffed.accounts)
    for dialog in (closed, deleted):
        dialog.form.choose("Nia Nurse")
        dialog.form.password.setText(PASSWORDS["Nia Nurse"])
        dialog.form.submit()
        assert dialog.checking
    closed.reject()  # Escape, or the title bar's close
    deleted.close()
    deleted.deleteLater()
    qtbot.waitUntil(lambda: len(hasher.threads) == 2)
    hasher.gate.set()
    qtbot.waitUntil(lambda: not closed.checking)
    assert closed.user is None and closed.result() == closed.DialogCode.Rejected
    assert len(events(staffed, "signed_in")) == signed_in


def test_the_lock_screen_unlocks_after_the_check_on_a_worker(staffed: Staffed) -> None:
    qtbot = staffed.console.qtbot
    session = staffed.session()
    hasher = gated(staffed)
    session.lock()
    form = session.overlay.form
    form.choose("Dr Carl Clinician")
    form.password.setText("wrong-pass-0")
    form.submit()
    assert session.checking and form.message.text() == CHECKING and not form.button.isEnabled()
    hasher.gate.set()
    qtbot.waitUntil(lambda: not session.checking)
    assert session.locked and "Wrong password" in form.message.text()
    assert json.loads(events(staffed, "sign_in_failed")[-1]["detail"]) == {"at": "unlock"}
    unlocked = len(events(staffed, "unlocked"))
    form.password.setText(PASSWORDS["Dr Carl Clinician"])
    form.submit()
    assert session.checking and session.locked
    qtbot.waitUntil(lambda: not session.locked)
    assert len(events(staffed, "unlocked")) == unlocked + 1
    assert staffed.window.menuBar().isVisible()
    # Someone else signs in at the lock screen, checked the same way.
    session.lock()
    form.choose("Nia Nurse")
    form.password.setText(PASSWORDS["Nia Nurse"])
    form.submit()
    assert session.checking
    qtbot.waitUntil(lambda: not session.locked)
    assert session.signed_in == staffed.staff["nurse"]
    assert events(staffed, "switched_user")


def test_a_window_closed_while_the_lock_screen_checks_stays_locked(staffed: Staffed) -> None:
    qtbot = staffed.console.qtbot
    session = staffed.session()
    hasher = gated(staffed)
    session.lock()
    unlocked = len(events(staffed, "unlocked"))
    hasher.gate.set()
    assert sign_in_at_lock(session, "Dr Carl Clinician")  # submit itself: checked here
    session.lock()
    form = session.overlay.form
    form.choose("Dr Carl Clinician")
    form.password.setText(PASSWORDS["Dr Carl Clinician"])
    hasher.gate.clear()
    form.submit()
    assert session.checking
    staffed.window.close()
    hasher.gate.set()
    qtbot.waitUntil(lambda: not session.checking)
    assert session.locked
    assert len(events(staffed, "unlocked")) == unlocked + 1  # only the first unlock
