"""A password check that breaks (argon2 failing on the worker thread, then again when the
lock screen checks in place) keeps the screen locked and says so on the form, with the form
ready for another try; nothing goes to the crash handler."""

from __future__ import annotations

import sys
from typing import Any

from tests.ui import test_accounts_ui
from tests.ui.test_accounts_ui import PASSWORDS, Staffed
from tests.ui.test_sign_in_worker import gated

staffed = test_accounts_ui.staffed


def test_a_broken_password_check_keeps_the_screen_locked_and_says_so(staffed: Staffed) -> None:
    qtbot = staffed.console.qtbot
    session = staffed.session()
    hasher = gated(staffed)
    hasher.gate.set()

    def broken(_hash: str, _password: str) -> Any:
        raise RuntimeError("argon2 failed")

    hasher.verify = broken  # type: ignore[method-assign]
    session.lock()
    form = session.overlay.form
    form.choose("Dr Carl Clinician")
    form.password.setText(PASSWORDS["Dr Carl Clinician"])
    uncaught: list[BaseException] = []
    before = sys.excepthook
    sys.excepthook = lambda _t, exc, _tb: uncaught.append(exc)  # type: ignore[assignment]
    try:
        form.submit()
        qtbot.waitUntil(lambda: "could not be checked" in form.message.text(), timeout=10_000)
    finally:
        sys.excepthook = before
    assert session.locked and not uncaught
    assert "The screen stays locked" in form.message.text()
    assert form.password.isEnabled() and form.button.isEnabled()
