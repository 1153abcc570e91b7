"""Grab the sign-in form and the locked window for the user guide:
``python -m ui.accounts_screenshots``.

A demo clinic with real accounts (an administrator, a clinician, a nurse): the sign-in form
as the console shows it at start, and the window locked while a patient was open (nothing
of the patient shows). Saves ``docs/images/sign-in.png`` and ``docs/images/locked.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ui.screenshots import OUT, close_demo, demo_window


def main(out: Path = OUT) -> int:
    from itbconsole.model import Role
    from ui.dialogs import SignInDialog

    app, clinic, window = demo_window(_administrator(), extra_ports=[])
    accounts = clinic.accounts  # the clinic's own account service
    admin = accounts.create_first_administrator("Ada Admin", "lantern-orchard-42")
    accounts.create_account(admin, "Dr Carl Clinician", Role.CLINICIAN, "meadow-copper-77")
    accounts.create_account(admin, "Nia Nurse", Role.NURSE, "harbour-violet-19")
    out.mkdir(parents=True, exist_ok=True)
    dialog = SignInDialog(accounts, window)
    dialog.resize(520, 300)
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(out / "sign-in.png"))
    dialog.close()
    window.install_session()
    patient = next(r.patient for r in clinic.patient_rows("Okafor") if r.patient.id is not None)
    assert patient.id is not None
    window.open_patient(patient.id)
    app.processEvents()
    window.lock_screen()
    app.processEvents()
    window.grab().save(str(out / "locked.png"))
    close_demo(window, clinic)
    print(f"Saved sign-in.png and locked.png in {out}")
    return 0


def _administrator() -> object:
    """The administrator the window is opened for (the accounts are made below)."""
    from itbconsole.model import Role, User

    return User("Ada Admin", Role.ADMINISTRATOR)


if __name__ == "__main__":
    sys.exit(main())
