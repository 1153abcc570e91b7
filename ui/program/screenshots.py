"""Grab the program editor for the user guide: ``python -m ui.program.screenshots``.

The demo clinic against a simulated pump (offscreen Qt works), at 1366 x 768: a flex day
with a weekend schedule, ``docs/images/program-editor.png``, and its review side by side,
``docs/images/program-review.png``; the daily dose typed as a rate per hour, blocked,
``docs/images/program-blocked.png``; a cut to a tenth of the dose (the withdrawal
finding), ``docs/images/program-withdrawal.png``, and its review page with the override's
reason, note and second clinician (demo mode: the second clinician's name typed),
``docs/images/program-override.png``; a small change sent and read back,
``docs/images/program-result.png``; and signed in with an account, the same cut's review
with the second clinician's own name and password to confirm it,
``docs/images/program-second-clinician.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication

if TYPE_CHECKING:
    from itbconsole.model import User
    from itbconsole.services.clinic import ClinicService

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def main(out: Path = OUT) -> int:
    from itbconsole.demo import DEMO_USER
    from ui.program import ProgramEditorDialog
    from ui.screenshots import close_demo, connect_simulated_pump, demo_window, wait_until

    app, clinic, window = demo_window(DEMO_USER)
    connect_simulated_pump(app, window)
    window.interrogate()
    wait_until(app, lambda: window.last_interrogation is not None and not window.link.busy)
    out.mkdir(parents=True, exist_ok=True)

    def editor() -> ProgramEditorDialog:
        window.edit_program()
        wait_until(app, lambda: window.findChild(ProgramEditorDialog, "programEditor") is not None)
        dialog = window.findChild(ProgramEditorDialog, "programEditor")
        assert dialog is not None
        dialog.resize(1300, 740)
        return dialog

    def close(dialog: ProgramEditorDialog) -> None:
        dialog.close()
        dialog.deleteLater()
        QCoreApplication.processEvents()

    def flex_day(dialog: ProgramEditorDialog) -> None:
        """18 mcg/h at night, 25 mcg/h 06:00-22:00; Sat and Sun 22 mcg/h from 08:00."""
        dialog.mode.setCurrentIndex(dialog.mode.findData("flex"))
        for table, (day_start, day_rate) in (
            (dialog.flex, ("06:00", "25")),
            (dialog.weekday_flex, ("08:00", "22")),
        ):
            if table is dialog.weekday_flex:
                for box in dialog.weekday_boxes[5:]:  # Sat, Sun
                    box.setChecked(True)
                QCoreApplication.processEvents()
            while table.table.rowCount() < 3:
                table.add_step()
            table.set_cell(0, table.RATE, "18")
            table.set_cell(1, table.START, day_start)
            table.set_cell(1, table.RATE, day_rate)
            table.set_cell(2, table.START, "22:00")
            table.set_cell(2, table.RATE, "18")

    # A flex day with a weekend schedule; its review side by side; a slip that is blocked.
    dialog = editor()
    flex_day(dialog)
    dialog.reason.setText("more relief in the day; a later start at the weekend")
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-editor.png"))
    print(out / "program-editor.png")
    dialog.go_review()
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-review.png"))
    print(out / "program-review.png")
    close(dialog)
    dialog = editor()
    flex_day(dialog)
    dialog.flex.set_cell(1, dialog.flex.RATE, "500")  # the daily dose typed as mcg/h
    dialog.reason.setText("typed in the wrong field")
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-blocked.png"))
    print(out / "program-blocked.png")
    close(dialog)

    dialog = editor()
    dialog.daily.set_text("50")
    dialog.reason.setText("patient asked to stop the pump")
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-withdrawal.png"))
    print(out / "program-withdrawal.png")
    dialog.go_review()
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg three times a day from today; GP and family told")
    dialog.second_clinician.setText("Dr Ben Okoro")
    dialog.confirm_box.setChecked(True)
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-override.png"))
    print(out / "program-override.png")
    dialog.close()
    dialog.deleteLater()
    QCoreApplication.processEvents()
    # A small change sent to the simulated pump: the result page with what was read back.
    dialog = editor()
    dialog.daily.set_text("520")
    dialog.reason.setText("a little more relief at night, agreed at clinic")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    wait_until(app, lambda: dialog.pages.currentIndex() == dialog.RESULT and not window.link.busy)
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-result.png"))
    print(out / "program-result.png")
    dialog.close()
    dialog.deleteLater()
    QCoreApplication.processEvents()
    # Signed in with an account: the second clinician confirms with their own password.
    clinic.user = signed_in_clinician(clinic)
    window.show_signed_in(clinic.user)
    dialog = editor()
    dialog.daily.set_text("50")
    dialog.reason.setText("patient asked to stop the pump")
    dialog.go_review()
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg three times a day from today; GP and family told")
    dialog.confirm_box.setChecked(True)
    dialog.second_checker_name.setCurrentIndex(dialog.second_checker_name.findData(SECOND))
    dialog.second_checker_password.setText("typed by them")
    QCoreApplication.processEvents()
    dialog.grab().save(str(out / "program-second-clinician.png"))
    print(out / "program-second-clinician.png")
    close(dialog)
    close_demo(window, clinic)
    return 0


#: The second clinician of the account-signed screenshot.
SECOND = "Dr Ben Okoro"


def signed_in_clinician(clinic: ClinicService) -> User:
    """Accounts on the demo clinic (an administrator and two clinicians), and the first
    clinician signed in, their first password changed."""
    from itbconsole.model import Role

    accounts = clinic.accounts
    admin = accounts.create_first_administrator("Ada Admin", "lantern-orchard-42")
    accounts.create_account(admin, "Dr Carl Clinician", Role.CLINICIAN, "meadow-copper-77")
    accounts.create_account(admin, SECOND, Role.CLINICIAN, "harbour-violet-19")
    user = accounts.sign_in("Dr Carl Clinician", "meadow-copper-77")
    accounts.change_own_password(user, "meadow-copper-77", "saffron-granite-31")
    signed = accounts.sign_in("Dr Carl Clinician", "saffron-granite-31")
    return signed


if __name__ == "__main__":
    raise SystemExit(main())
