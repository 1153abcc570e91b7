"""Changing one's own password and the second clinician's confirmation check the password
on a worker thread, as sign-in and unlock do: the dialog says "Checking…" with nothing to
press meanwhile, the window keeps answering, and the outcome and its records are what they
were (a wrong password recorded and slowed, every confirmation an account event). A dialog
closed while the check runs changes and confirms nothing; a wrong password in it is
recorded all the same (abandoned).

The argon2 work is held at a gate the test opens (``GatedHasher``), so "meanwhile" is a
state the test looks at, not a race."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from PySide6.QtCore import QTimer

from tests.ui import test_accounts_ui
from tests.ui.test_accounts_ui import PASSWORDS, Staffed
from tests.ui.test_sign_in_worker import GatedHasher, events, gated
from ui.accounts_dialogs import ChangePasswordDialog
from ui.dialogs import CHECKING
from ui.program import ProgramEditorDialog, open_program_editor

staffed = test_accounts_ui.staffed  # the demo clinic whose staff have accounts (the fixture)

NEW_PASSWORD = "a-brand-new-pass-7"


class HashingGate(GatedHasher):
    """Also holds the hashing of a new password at the gate, noting its thread."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.current_thread())
        assert self.gate.wait(10), "the test never opened the gate"
        return super().hash(password, salt=salt)


def change_dialog(s: Staffed, who: str = "nurse") -> ChangePasswordDialog:
    dialog = ChangePasswordDialog(s.accounts, s.staff[who])
    s.console.qtbot.addWidget(dialog)
    return dialog


def fill(dialog: ChangePasswordDialog, present: str, new: str = NEW_PASSWORD) -> None:
    dialog.current.setText(present)
    dialog.new.setText(new)
    dialog.again.setText(new)


def answers(s: Staffed) -> bool:
    """The GUI thread runs a timer while a check is held at the gate."""
    ticks: list[int] = []
    QTimer.singleShot(0, lambda: ticks.append(1))
    s.console.qtbot.waitUntil(lambda: bool(ticks))
    return True


def versions(s: Staffed, change: str) -> int:
    db = s.clinic.store.db
    return int(
        db.execute("SELECT COUNT(*) FROM account_versions WHERE change = ?", [change]).fetchone()[0]
    )


# --------------------------------------------------------------------------- change password


def test_a_password_change_is_checked_on_a_worker_while_the_dialog_says_checking(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = HashingGate()
    staffed.accounts.hasher = hasher
    dialog = change_dialog(staffed)
    fill(dialog, PASSWORDS["Nia Nurse"])
    changed = versions(staffed, "password_changed")
    dialog.accept_if_valid()
    assert dialog.checking and dialog.message.text() == CHECKING
    assert not dialog.buttons.isEnabled() and not dialog.current.isEnabled()
    assert not dialog.new.isEnabled() and not dialog.again.isEnabled()
    qtbot.waitUntil(lambda: bool(hasher.threads))
    assert answers(staffed) and dialog.checking and not dialog.changed
    hasher.gate.set()
    qtbot.waitUntil(lambda: dialog.changed)
    assert dialog.result() == dialog.DialogCode.Accepted
    # Every argon2 step (the present password, the new one hashed) ran off the GUI thread.
    assert len(hasher.threads) == 2
    assert all(t is not threading.main_thread() for t in hasher.threads)
    assert versions(staffed, "password_changed") == changed + 1
    assert staffed.accounts.sign_in("Nia Nurse", NEW_PASSWORD) == staffed.staff["nurse"]


def test_a_wrong_present_password_is_refused_recorded_and_slowed_as_before(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    hasher.gate.set()
    dialog = change_dialog(staffed)
    failed = len(events(staffed, "sign_in_failed"))
    for _ in range(3):
        fill(dialog, "wrong-pass-0")
        dialog.accept_if_valid()
        assert dialog.message.text() == CHECKING
        qtbot.waitUntil(lambda: not dialog.checking)
        assert "Wrong password for Nia Nurse" in dialog.message.text()
    assert "wait 1 s" in dialog.message.text() and not dialog.changed
    recorded = events(staffed, "sign_in_failed")
    assert len(recorded) == failed + 3
    assert json.loads(str(recorded[-1]["detail"])) == {"at": "password change"}
    # Too soon: refused at once, unchecked and not counted.
    checks = len(hasher.threads)
    fill(dialog, PASSWORDS["Nia Nurse"])
    dialog.accept_if_valid()
    assert not dialog.checking and len(hasher.threads) == checks
    assert "Too many wrong passwords" in dialog.message.text() and not dialog.changed
    assert len(events(staffed, "sign_in_failed")) == failed + 3
    # The rules on the new password hold as before.
    staffed.accounts.clock.now += timedelta(seconds=1)  # type: ignore[attr-defined]
    fill(dialog, PASSWORDS["Nia Nurse"], PASSWORDS["Nia Nurse"])
    dialog.accept_if_valid()
    qtbot.waitUntil(lambda: not dialog.checking)
    assert "must differ" in dialog.message.text() and not dialog.changed
    fill(dialog, PASSWORDS["Nia Nurse"], "nia nurse")
    dialog.accept_if_valid()
    qtbot.waitUntil(lambda: not dialog.checking)
    assert "cannot be your name" in dialog.message.text() and not dialog.changed


def test_a_password_change_closed_while_checking_changes_nothing_and_records_a_wrong_one(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    hasher = gated(staffed)
    changed = versions(staffed, "password_changed")
    failed = len(events(staffed, "sign_in_failed"))
    right, wrong = change_dialog(staffed), change_dialog(staffed)
    fill(right, PASSWORDS["Nia Nurse"])
    fill(wrong, "wrong-pass-0")
    for dialog in (right, wrong):
        dialog.accept_if_valid()
        assert dialog.checking
    right.reject()  # Cancel, Escape or the title bar
    wrong.reject()
    qtbot.waitUntil(lambda: len(hasher.threads) == 2)
    hasher.gate.set()
    qtbot.waitUntil(lambda: not right.checking and not wrong.checking)
    assert not right.changed and not wrong.changed
    assert versions(staffed, "password_changed") == changed
    # The wrong present password was tried: recorded, as abandoned; the right one is not.
    recorded = events(staffed, "sign_in_failed")[failed:]
    assert [json.loads(e["detail"]) for e in recorded] == [
        {"at": "password change", "abandoned": True}
    ]
    assert staffed.accounts.sign_in("Nia Nurse", PASSWORDS["Nia Nurse"])


# --------------------------------------------------------------------------- second clinician


def review_with_a_severe_override(s: Staffed) -> ProgramEditorDialog:
    """The program editor at its Review page, a -90 % change (a severe override) with its
    reasons given and the confirmation ticked: only the second clinician is missing."""
    console = s.console
    s.session()
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    controller = open_program_editor(s.window)
    console.qtbot.waitUntil(lambda: controller.dialog is not None, timeout=10_000)
    dialog = controller.dialog
    assert dialog is not None
    dialog.daily.set_text("50")
    dialog.reason.setText("patient asked to stop the pump")
    dialog.go_review()
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg tds, GP told")
    dialog.confirm_box.setChecked(True)
    name = dialog.second_checker_name
    name.setCurrentIndex(name.findData("Dr Ben Second"))
    return dialog


def second_checks(s: Staffed) -> list[dict[str, Any]]:
    return events(s, "second_check")


def test_the_second_clinician_is_checked_on_a_worker_while_the_review_says_checking(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    dialog = review_with_a_severe_override(staffed)
    hasher = gated(staffed)
    failed = len(events(staffed, "second_check_failed"))
    dialog.second_checker_password.setText("wrong-pass-0")
    dialog.confirm_second_checker()
    assert dialog.second_checking and dialog.second_checker_status.text() == CHECKING
    for widget in (
        dialog.second_checker_button,
        dialog.second_checker_password,
        dialog.second_checker_name,
        dialog.back_button,
    ):
        assert not widget.isEnabled()
    qtbot.waitUntil(lambda: bool(hasher.threads))
    assert answers(staffed) and dialog.second_checking
    assert hasher.threads[0] is not threading.main_thread()
    hasher.gate.set()
    qtbot.waitUntil(lambda: not dialog.second_checking)
    assert "Wrong password for Dr Ben Second" in dialog.second_checker_status.text()
    assert len(events(staffed, "second_check_failed")) == failed + 1
    assert dialog.second_check is None and not dialog.send_button.isEnabled()
    assert dialog.second_checker_button.isEnabled() and dialog.back_button.isEnabled()
    confirmed = len(second_checks(staffed))
    dialog.second_checker_password.setText(PASSWORDS["Dr Ben Second"])
    dialog.confirm_second_checker()
    assert dialog.second_checking and dialog.second_check is None
    qtbot.waitUntil(lambda: dialog.second_check is not None)
    assert dialog.second_check is not None and dialog.second_check.name == "Dr Ben Second"
    assert "Confirmed by Dr Ben Second" in dialog.second_checker_status.text()
    assert dialog.send_button.isEnabled()
    assert len(second_checks(staffed)) == confirmed + 1
    assert second_checks(staffed)[-1]["created_by"] == "Dr Ben Second"
    assert all(t is not threading.main_thread() for t in hasher.threads)
    dialog.close()


def test_a_review_closed_while_the_second_clinician_is_checked_records_nothing(
    staffed: Staffed,
) -> None:
    qtbot = staffed.console.qtbot
    dialog = review_with_a_severe_override(staffed)
    hasher = gated(staffed)
    confirmed = len(second_checks(staffed))
    failed = len(events(staffed, "second_check_failed"))
    dialog.second_checker_password.setText(PASSWORDS["Dr Ben Second"])
    dialog.confirm_second_checker()
    job = dialog._second_checking
    assert job is not None and dialog.second_checking
    dialog.reject()  # the window lets go of a closed editor
    qtbot.waitUntil(lambda: bool(hasher.threads))
    hasher.gate.set()
    qtbot.waitUntil(lambda: not job.running)  # the check ended; its answer is dropped
    assert dialog.second_check is None
    assert len(second_checks(staffed)) == confirmed
    assert len(events(staffed, "second_check_failed")) == failed
