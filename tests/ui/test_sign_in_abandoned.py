"""A password tried and then walked away from is still a password tried: a sign-in dialog,
lock screen, second clinician's confirmation or password change closed while the password
is checked lets nobody in, and when the answer says the password was wrong it is recorded
(``"abandoned": true``) and counted towards the wait like any other. And someone whose
password an administrator set is recorded as signed in (unlocked, switched) only once they
have chosen their own: declining leaves nobody recorded as in, and the wrong passwords
before still count.

The argon2 check is held at a gate the test opens (``GatedHasher``), so "meanwhile" is a
state the test looks at, not a race."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from itbconsole.services.accounts import SignInRefused
from tests.ui import test_accounts_ui
from tests.ui.test_accounts_ui import PASSWORDS, Staffed
from tests.ui.test_password_checks_worker import review_with_a_severe_override
from tests.ui.test_sign_in_worker import events, gated
from ui.accounts_dialogs import ChangePasswordDialog
from ui.dialogs import SignInDialog
from ui.lock import SessionController

staffed = test_accounts_ui.staffed  # the demo clinic whose staff have accounts (the fixture)

RESET_PASSWORD = "reset-pass-77"
OWN_PASSWORD = "my-own-pass-88"


def details(s: Staffed, kind: str, since: int = 0) -> list[dict[str, object]]:
    return [json.loads(str(e["detail"])) for e in events(s, kind)[since:]]


def later(s: Staffed, seconds: int = 60) -> None:
    s.accounts.clock.now += timedelta(seconds=seconds)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- abandoned


def test_wrong_passwords_in_sign_in_dialogs_closed_while_checking_are_recorded(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    failed = len(events(staffed, "sign_in_failed"))
    for i in range(3):
        dialog = SignInDialog(staffed.accounts)
        dialog.form.choose("Nia Nurse")
        dialog.form.password.setText(f"guess-{i}-xx")
        dialog.form.submit()
        assert dialog.checking
        dialog.reject()  # Cancel, Escape or the title bar, before the answer
        if i == 2:
            dialog.deleteLater()  # gone altogether: the answer is still recorded
        else:
            qtbot.addWidget(dialog)
        hasher.gate.set()
        wanted = failed + i + 1
        qtbot.waitUntil(lambda: len(events(staffed, "sign_in_failed")) == wanted)  # noqa: B023 (waited for here)
        hasher.gate.clear()
    assert details(staffed, "sign_in_failed", failed) == [{"via": "the app", "abandoned": True}] * 3
    assert all(e["created_by"] == "(not signed in)" for e in events(staffed, "sign_in_failed"))
    # Counted like any wrong password: the next attempt waits, refused unchecked.
    checks = len(hasher.threads)
    dialog = SignInDialog(staffed.accounts)
    qtbot.addWidget(dialog)
    dialog.form.choose("Nia Nurse")
    dialog.form.password.setText(PASSWORDS["Nia Nurse"])
    dialog.form.submit()
    assert not dialog.checking and len(hasher.threads) == checks
    assert "Too many wrong passwords" in dialog.form.message.text() and dialog.user is None


def test_a_right_password_in_a_sign_in_dialog_closed_while_checking_records_nothing(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    before = {k: len(events(staffed, k)) for k in ("sign_in_failed", "signed_in")}
    dialog = SignInDialog(staffed.accounts)
    qtbot.addWidget(dialog)
    dialog.form.choose("Nia Nurse")
    dialog.form.password.setText(PASSWORDS["Nia Nurse"])
    dialog.form.submit()
    dialog.reject()
    hasher.gate.set()
    qtbot.waitUntil(lambda: not dialog.checking)
    assert dialog.user is None
    assert {k: len(events(staffed, k)) for k in before} == before


def test_a_wrong_password_at_a_lock_screen_closed_while_checking_is_recorded(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    session = staffed.session()
    hasher = gated(staffed)
    session.lock()
    failed = len(events(staffed, "sign_in_failed"))
    form = session.overlay.form
    form.choose("Dr Carl Clinician")
    form.password.setText("wrong-pass-0")
    form.submit()
    assert session.checking
    staffed.window.close()
    hasher.gate.set()
    qtbot.waitUntil(lambda: not session.checking)
    assert session.locked
    assert details(staffed, "sign_in_failed", failed) == [{"at": "unlock", "abandoned": True}]


def test_a_wrong_second_clinician_password_in_a_review_closed_while_checking_is_recorded(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    dialog = review_with_a_severe_override(staffed)
    hasher = gated(staffed)
    failed = len(events(staffed, "second_check_failed"))
    dialog.second_checker_password.setText("wrong-pass-0")
    dialog.confirm_second_checker()
    assert dialog.second_checking
    call = dialog._second_checking
    assert call is not None
    dialog.reject()  # the window lets go of a closed editor: its answer reaches no one
    hasher.gate.set()
    qtbot.waitUntil(lambda: not call.running)
    qtbot.waitUntil(lambda: len(events(staffed, "second_check_failed")) > failed)
    assert events(staffed, "second_check") == []
    recorded = details(staffed, "second_check_failed", failed)
    assert len(recorded) == 1 and recorded[0]["abandoned"] is True
    assert recorded[0]["sender"] == "Dr Carl Clinician"


# --------------------------------------------------------------------------- forced change


def reset_after_three_wrong(s: Staffed) -> None:
    """An administrator set the nurse's password; three wrong ones were tried before."""
    nurse = s.accounts.find("Nia Nurse")
    assert nurse is not None
    s.accounts.reset_password(s.staff["admin"], nurse.id, RESET_PASSWORD)
    for _ in range(3):
        later(s)
        with pytest.raises(SignInRefused):
            s.accounts.sign_in("Nia Nurse", "wrong-pass-0")
    later(s, 1)


def test_a_switch_declined_at_the_forced_change_is_not_recorded_as_one(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    session = staffed.session()
    gated(staffed).gate.set()
    reset_after_three_wrong(staffed)
    session.ask_new_password = lambda _u: False  # the nurse closes the change dialog
    session.lock()
    form = session.overlay.form
    form.choose("Nia Nurse")
    form.password.setText(RESET_PASSWORD)
    form.submit()
    qtbot.waitUntil(lambda: not session.checking)
    assert session.locked and "Choose your own password" in form.message.text()
    assert events(staffed, "switched_user") == []
    assert staffed.accounts.retry_after("Nia Nurse") == 0
    later(staffed, 10)
    # The three wrong passwords still count: one more makes the next attempt wait 2 s.
    form.password.setText("wrong-pass-0")
    form.submit()
    qtbot.waitUntil(lambda: not session.checking)
    assert "wait 2 s" in form.message.text()

    # Chosen this time: the switch is recorded after the new password, and ends the count.
    def choose_own(user: object) -> bool:
        dialog = ChangePasswordDialog(staffed.accounts, staffed.staff["nurse"], forced=True)
        qtbot.addWidget(dialog)
        dialog.change(RESET_PASSWORD, OWN_PASSWORD)
        return dialog.changed

    later(staffed, 2)
    session.ask_new_password = choose_own
    form._end_wait()
    form.password.setText(RESET_PASSWORD)
    form.submit()
    qtbot.waitUntil(lambda: not session.locked)
    nurse_id = staffed.staff["nurse"].account_id
    kinds = [e["event"] for e in staffed.accounts.events(nurse_id)]
    assert kinds[-1] == "switched_user" and kinds.count("switched_user") == 1
    assert staffed.accounts.retry_after("Nia Nurse") == 0


def test_a_seam_that_says_yes_without_a_change_leaves_the_screen_locked(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    session: SessionController = staffed.session()  # ask_new_password says yes, changes nothing
    gated(staffed).gate.set()
    reset_after_three_wrong(staffed)
    session.lock()
    form = session.overlay.form
    form.choose("Nia Nurse")
    form.password.setText(RESET_PASSWORD)
    form.submit()
    qtbot.waitUntil(lambda: not session.checking)
    assert session.locked and events(staffed, "switched_user") == []


def test_the_sign_in_dialog_and_forced_change_record_the_sign_in_after_the_change(
    staffed: Staffed,
) -> None:
    """The app's start: the sign-in dialog, then (an administrator set the password) the
    change dialog; declined, nobody is recorded as signed in."""
    qtbot = staffed.console.qtbot
    gated(staffed).gate.set()
    reset_after_three_wrong(staffed)
    signed_in = len(events(staffed, "signed_in"))
    dialog = SignInDialog(staffed.accounts)
    qtbot.addWidget(dialog)
    dialog.form.choose("Nia Nurse")
    dialog.form.password.setText(RESET_PASSWORD)
    dialog.form.submit()
    qtbot.waitUntil(lambda: dialog.user is not None)
    user = dialog.user
    assert user is not None and staffed.accounts.must_change_password(user)
    assert len(events(staffed, "signed_in")) == signed_in  # declined (the app then quits)
    assert staffed.accounts.retry_after("Nia Nurse") == 0
    change = ChangePasswordDialog(staffed.accounts, user, forced=True)
    qtbot.addWidget(change)
    change.change(RESET_PASSWORD, OWN_PASSWORD)
    assert change.changed
    entries = events(staffed, "signed_in")
    assert len(entries) == signed_in + 1 and json.loads(str(entries[-1]["detail"])) == {
        "via": "the app"
    }
    assert entries[-1]["created_by"] == "Nia Nurse"
