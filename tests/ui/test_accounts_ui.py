"""Sign-in, lock, switch user and the second clinician in the window (ui/dialogs.py,
ui/lock.py, ui/accounts_dialogs.py, the program review), over a demo clinic whose staff
have accounts. The idle lock runs on its QTimer with a short minute (waitUntil, no sleep);
passwords are checked with cheap argon2 parameters and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher, profiles
from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QTextEdit,
)
from pytestqt.qtbot import QtBot

from drivers import protocol_simpump
from itbconsole.demo import DEMO_NURSE, DEMO_PATIENTS, DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.model import Role, User
from itbconsole.services.accounts import AccountService
from itbconsole.services.clinic import ClinicService
from itbconsole.settings import ClinicSettings, SettingsError
from tests.ui.conftest import Console, RecordedPrompts
from ui.accounts_dialogs import AccountsDialog, FirstAdministratorDialog
from ui.device_bar import PortChoice
from ui.dialogs import SignInDialog
from ui.lock import SessionController
from ui.main_window import MainWindow
from ui.program import ProgramEditorDialog, open_program_editor
from ui.refill import open_refill_wizard
from ui.refill.wizard import RefillWizard
from ui.settings_dialog import ClinicSettingsDialog

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
LONDON = ZoneInfo("Europe/London")
PASSWORDS = {
    "Ada Admin": "admin-pass-1",
    "Dr Carl Clinician": "clinician-pass-2",
    "Dr Ben Second": "second-pass-3",
    "Nia Nurse": "nurse-pass-44",
}
FAMILIES = [p.family for p in DEMO_PATIENTS]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Staffed:
    def __init__(self, console: Console, accounts: AccountService, staff: dict[str, User]):
        self.console = console
        self.window = console.window
        self.clinic = console.clinic
        self.accounts = accounts
        self.staff = staff

    def session(self, ms_per_minute: int = 60_000) -> SessionController:
        session = self.window.install_session(
            ms_per_minute=ms_per_minute, ask_new_password=lambda _u: True
        )
        assert isinstance(session, SessionController)
        return session

    def events(self, kind: str) -> list[dict[str, object]]:
        return self.accounts.events(None, kind)


@pytest.fixture
def staffed(qtbot: QtBot, tmp_path: Path) -> Iterator[Staffed]:
    store = open_demo_store(tmp_path / "demo.sqlite")
    accounts = AccountService(store, clock=Clock(), hasher=CHEAP)
    admin = accounts.create_first_administrator("Ada Admin", PASSWORDS["Ada Admin"])
    staff = {"admin": admin}
    for key, name, role in (
        ("clinician", "Dr Carl Clinician", Role.CLINICIAN),
        ("second", "Dr Ben Second", Role.CLINICIAN),
        ("nurse", "Nia Nurse", Role.NURSE),
    ):
        accounts.create_account(admin, name, role, "first-pass-0")
        user = accounts.sign_in(name, "first-pass-0")
        accounts.change_own_password(user, "first-pass-0", PASSWORDS[name])
        staff[key] = user
    clinic = ClinicService(store, load_drug_library(), staff["clinician"], LONDON)
    clinic.accounts = accounts
    window = MainWindow(
        clinic,
        log_path=tmp_path / "itbconsole.log",
        settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
        extra_ports=[PortChoice("simpump://?scenario=healthy", "Simulated pump")],
        discover_ports=lambda: [],
    )
    prompts = RecordedPrompts()
    window.prompts = prompts  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.show()
    # The window's first look for programmer ports runs on the link: a sign-out refused as
    # "the pump link is busy" is right then, and not what these tests are about.
    qtbot.waitUntil(lambda: not window.link.busy, timeout=5_000)
    names: list[str] = []
    yield Staffed(Console(window, prompts, clinic, qtbot, names), accounts, staff)
    window.close()
    for name in names:
        protocol_simpump.forget_pump(name)
    store.close()


def visible_text() -> str:
    """Every text a person could read on screen now: labels, buttons, fields, lists,
    tables, combo boxes and window titles of every visible widget."""
    parts: list[str] = []
    for widget in QApplication.allWidgets():
        if not widget.isVisible():
            continue
        if widget.isWindow():
            parts.append(widget.windowTitle())
        if isinstance(widget, QLabel | QAbstractButton | QLineEdit):
            parts.append(widget.text())
        elif isinstance(widget, QTextEdit):
            parts.append(widget.toPlainText())
        elif isinstance(widget, QComboBox):
            parts.extend(widget.itemText(i) for i in range(widget.count()))
        elif isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            root = QModelIndex()
            try:
                columns = model.columnCount(root)
            except TypeError:  # a list model keeps it private: one column
                columns = 1
            for row in range(model.rowCount(root)):
                for col in range(columns):
                    parts.append(str(model.index(row, col).data() or ""))
    return "\n".join(parts).casefold()


def open_okafor(s: Staffed) -> int:
    pid = s.console.patient_id("Okafor")
    s.window.open_patient(pid)
    return pid


def sign_in_at_lock(session: SessionController, name: str, password: str | None = None) -> bool:
    form = session.overlay.form
    form.choose(name)
    form.password.setText(PASSWORDS.get(name, "") if password is None else password)
    return session.submit(form.chosen(), form.password.text())


# --------------------------------------------------------------------------- sign-in form


def test_the_sign_in_form_offers_names_and_prefills_no_text(staffed: Staffed) -> None:
    dialog = SignInDialog(staffed.accounts)
    form = dialog.form
    names = [form.names.item(i).text() for i in range(form.names.count())]
    assert names == ["Ada Admin", "Dr Ben Second", "Dr Carl Clinician", "Nia Nurse"]
    assert form.chosen() == "" and form.password.text() == ""
    assert all(edit.text() == "" for edit in dialog.findChildren(QLineEdit))
    form.submit()
    assert "Choose your name" in form.message.text() and dialog.user is None
    form.choose("Nia Nurse")
    checked = staffed.console.qtbot.waitUntil
    for _ in range(3):
        form.password.setText("wrong-pass-0")
        form.submit()
        checked(lambda: not dialog.checking)  # the password is checked on a worker thread
    assert "Wrong password for Nia Nurse" in form.message.text()
    assert "wait 1 s" in form.message.text() and not form.button.isEnabled()
    assert form.password.text() == ""  # a password never stays in the field
    assert dialog.user is None
    staffed.accounts.clock.now += timedelta(seconds=1)  # type: ignore[attr-defined]
    form._end_wait()  # what its timer does after the wait
    form.password.setText(PASSWORDS["Nia Nurse"])
    form.submit()
    checked(lambda: dialog.user is not None)
    assert dialog.user == staffed.staff["nurse"] and dialog.result() == dialog.DialogCode.Accepted


def test_first_start_asks_for_the_first_administrator(tmp_path: Path) -> None:
    from itbconsole.store import Store

    with Store.open(tmp_path / "new.sqlite") as store:
        accounts = AccountService(store, hasher=CHEAP)
        assert not accounts.has_accounts()
        dialog = FirstAdministratorDialog(accounts)
        dialog.name.setText("Ada Admin")
        dialog.password.setText("admin-pass-1")
        dialog.again.setText("admin-pass-2")
        dialog.accept_if_valid()
        assert "differ" in dialog.message.text() and dialog.user is None
        dialog.again.setText("admin-pass-1")
        dialog.accept_if_valid()
        assert dialog.user is not None and dialog.user.role is Role.ADMINISTRATOR
        assert accounts.has_accounts()


def test_the_idle_lock_is_a_clinic_setting() -> None:
    assert ClinicSettings().idle_lock_minutes == 5
    for bad in (0, 61, True):
        with pytest.raises(SettingsError, match="idle lock"):
            ClinicSettings(idle_lock_minutes=bad)
    # It changes no date, so no forecast is recomputed when it changes.
    assert ClinicSettings(idle_lock_minutes=9).fingerprint() == ClinicSettings().fingerprint()
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=True)
    spin = dialog.spins["idle_lock_minutes"]
    assert (spin.value(), spin.minimum(), spin.maximum()) == (5, 1, 60)
    spin.setValue(2)
    dialog.note.setText("shorter lock for the day unit")
    dialog.accept_if_valid()
    assert dialog.result_value is not None and dialog.result_value[0].idle_lock_minutes == 2


# --------------------------------------------------------------------------- the lock


def test_idle_lock_covers_the_window_and_shows_no_patient_data(staffed: Staffed) -> None:
    open_okafor(staffed)
    assert "okafor" in visible_text()  # the record is on screen before the lock
    session = staffed.session(ms_per_minute=40)  # the clinic's 5 minutes take 200 ms
    staffed.console.qtbot.waitUntil(lambda: session.locked, timeout=5_000)
    text = visible_text()
    for family in FAMILIES:
        assert family.casefold() not in text, family
    assert "is locked" in text and "dr carl clinician" in text
    assert not staffed.window.menuBar().isVisible()
    assert staffed.events("locked")[-1]["detail"] == '{"reason": "idle"}'
    # No shortcut acts behind the lock: Ctrl+G (change program) opens nothing.
    staffed.console.qtbot.keyClick(
        staffed.window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier
    )
    assert staffed.window.findChild(ProgramEditorDialog, "programEditor") is None


def test_the_same_user_unlocks_with_their_password_and_finds_their_work(
    staffed: Staffed,
) -> None:
    open_okafor(staffed)
    session = staffed.session()
    wizard = open_refill_wizard(staffed.window)
    assert wizard is not None and wizard.isVisible()
    session.lock()
    assert not wizard.isVisible() and "okafor" not in visible_text()
    assert not sign_in_at_lock(session, "Dr Carl Clinician", "wrong-pass-0")
    assert session.locked and "Wrong password" in session.overlay.form.message.text()
    assert staffed.events("sign_in_failed")
    assert sign_in_at_lock(session, "Dr Carl Clinician")
    assert not session.locked and wizard.isVisible()
    assert staffed.window.menuBar().isVisible() and "okafor" in visible_text()
    assert staffed.events("unlocked")
    wizard.cancel()


def test_another_user_never_gets_the_work_in_progress(staffed: Staffed) -> None:
    """The nurse's refill (nothing sent) and the clinician signing in: the refill is
    closed with a record, never shown to the clinician."""
    open_okafor(staffed)
    staffed.clinic.user = staffed.staff["nurse"]
    session = staffed.session()
    wizard = open_refill_wizard(staffed.window)
    assert isinstance(wizard, RefillWizard)
    session.lock()
    assert sign_in_at_lock(session, "Dr Carl Clinician")
    assert staffed.clinic.user == staffed.staff["clinician"]
    assert not wizard.isVisible() and staffed.window.refill_wizard is None
    discarded = staffed.events("work_discarded")[-1]
    assert discarded["created_by"] == "Nia Nurse" and '"kind": "refill"' in str(discarded["detail"])
    assert staffed.events("switched_user")[-1]["created_by"] == "Dr Carl Clinician"
    assert "Dr Carl Clinician (clinician)" in staffed.window.user_label.text()


def test_a_refill_sent_to_the_pump_waits_for_its_author(staffed: Staffed) -> None:
    open_okafor(staffed)
    staffed.clinic.user = staffed.staff["nurse"]
    session = staffed.session()
    wizard = open_refill_wizard(staffed.window)
    assert isinstance(wizard, RefillWizard)
    wizard.session.update_sent = True  # the pump update went out; its outcome is not saved
    assert not staffed.window.sign_out()  # its author must record it first
    assert "outcome is not recorded" in staffed.console.prompts.errors[-1][1]
    session.lock()
    assert sign_in_at_lock(session, "Dr Carl Clinician")
    assert not wizard.isVisible() and staffed.events("work_paused")
    session.switch_user()
    assert sign_in_at_lock(session, "Nia Nurse")  # the author is back: so is the refill
    assert wizard.isVisible() and staffed.window.refill_wizard is wizard
    assert staffed.events("work_resumed")
    wizard.session.update_sent = False
    wizard.cancel()


def test_sign_out_discards_unsent_work_and_waits_for_anyone(staffed: Staffed) -> None:
    open_okafor(staffed)
    session = staffed.session()
    controller = open_program_editor(staffed.window)  # no pump: prepare from the reading
    assert controller.dialog is not None and controller.dialog.isVisible()
    assert staffed.window.sign_out()
    assert session.locked and session.signed_in is None
    assert not controller.dialog.isVisible()
    assert "nobody is signed in" in visible_text() and "okafor" not in visible_text()
    kinds = [str(e["detail"]) for e in staffed.events("work_discarded")]
    assert any('"kind": "program change"' in k for k in kinds)
    assert staffed.events("signed_out")
    assert sign_in_at_lock(session, "Ada Admin")
    assert staffed.clinic.user == staffed.staff["admin"]
    assert staffed.window.accounts_action.isEnabled()


def test_nobody_else_signs_in_while_the_pump_link_is_busy(staffed: Staffed) -> None:
    session = staffed.session()
    session.lock()
    staffed.window.link.submit(
        "slow", lambda ctx: ctx.cancel.wait(5), lambda _r: None, lambda _e: None
    )
    staffed.console.qtbot.waitUntil(lambda: staffed.window.link.busy, timeout=2_000)
    assert not sign_in_at_lock(session, "Nia Nurse")
    assert "pump link is busy" in session.overlay.form.message.text()
    staffed.window.link.cancel_all()
    staffed.console.qtbot.waitUntil(lambda: not staffed.window.link.busy, timeout=5_000)
    assert sign_in_at_lock(session, "Nia Nurse")


def test_demo_users_sign_in_without_a_password_clearly_marked(staffed: Staffed) -> None:
    staffed.clinic.user = DEMO_USER
    session = staffed.window.install_session(demo_users=(DEMO_USER, DEMO_NURSE))
    assert "DEMO user, no password" in staffed.window.user_label.text()
    session.lock()
    assert not session.overlay.form.password.isVisible()
    session.overlay.form.choose(DEMO_NURSE.name)
    assert session.submit(DEMO_NURSE.name, "")
    assert staffed.clinic.user == DEMO_NURSE
    assert '"password": "none (demo mode)"' in str(staffed.events("switched_user")[-1]["detail"])


# --------------------------------------------------------------------------- roles


def test_a_nurse_account_cannot_send_a_program_from_the_window(staffed: Staffed) -> None:
    console = staffed.console
    session = staffed.session()
    session.lock()
    assert sign_in_at_lock(session, "Nia Nurse")
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    controller = open_program_editor(staffed.window)
    console.qtbot.waitUntil(lambda: controller.dialog is not None, timeout=10_000)
    dialog = controller.dialog
    assert dialog is not None
    dialog.daily.set_text("550")
    dialog.reason.setText("spasms at night, for review")
    dialog.go_review()
    dialog.confirm_box.setChecked(True)
    assert not dialog.send_button.isVisibleTo(dialog) and not dialog.send_button.isEnabled()
    sent: list[object] = []
    dialog.send_requested.connect(sent.append)
    dialog.send()
    assert sent == [] and "clinician" in dialog.review_error.text()
    # A change approved by a clinician, handed to the nurse's window: refused by the
    # clinic service before anything is stored or sent.
    from itbconsole.services import programming as pg

    clinician_check = pg.check_program(
        dialog.ctx.state, dialog.check.new if dialog.check else dialog.ctx.state.program,
        dialog.ctx.state.concentration_mcg_ml, staffed.staff["clinician"],
        staffed.clinic.library, LONDON, history=dialog.ctx.history,
    )  # fmt: skip
    approved = pg.approve(clinician_check, "titration agreed at clinic", {})
    before = console.count("program_changes")
    controller.send(approved)
    assert "signed in as nurse" in console.prompts.errors[-1][1]
    assert console.count("program_changes") == before
    dialog.close()


def test_the_second_clinician_confirms_with_their_own_password(staffed: Staffed) -> None:
    console = staffed.console
    staffed.session()
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    controller = open_program_editor(staffed.window)
    console.qtbot.waitUntil(lambda: controller.dialog is not None, timeout=10_000)
    dialog = controller.dialog
    assert dialog is not None
    dialog.daily.set_text("50")  # -90 %: the withdrawal finding, a severe override
    dialog.reason.setText("patient asked to stop the pump")
    dialog.go_review()
    for key, edit in dialog.override_edits.items():
        combo = dialog.override_categories[key]
        combo.setCurrentIndex(combo.findData("Withdrawal cover plan in place"))
        edit.setText("oral baclofen 10 mg tds, GP told")
    dialog.confirm_box.setChecked(True)
    assert not dialog.second_clinician.isVisibleTo(dialog)  # no typed name with accounts
    names = [
        dialog.second_checker_name.itemText(i) for i in range(1, dialog.second_checker_name.count())
    ]
    assert names == ["Ada Admin", "Dr Ben Second"]  # not the sender, not the nurse
    dialog.second_checker_name.setCurrentIndex(dialog.second_checker_name.findData("Dr Ben Second"))
    dialog.second_checker_password.setText("wrong-pass-0")
    dialog.confirm_second_checker()  # the password is checked on a worker thread
    console.qtbot.waitUntil(lambda: not dialog.second_checking)
    assert "Wrong password for Dr Ben Second" in dialog.second_checker_status.text()
    assert not dialog.send_button.isEnabled()
    assert staffed.events("second_check_failed")
    dialog.second_checker_password.setText(PASSWORDS["Dr Ben Second"])
    dialog.confirm_second_checker()
    assert dialog.second_checker_password.text() == ""
    console.qtbot.waitUntil(lambda: dialog.second_check is not None)
    assert dialog.send_button.isEnabled()
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    change = console.clinic.store.patient_history(console.patient_id("Okafor")).program_changes[-1]
    assert change.outcome == "succeeded"
    confirmation = [o for o in change.overrides if o.startswith("second clinician")]
    assert "Dr Ben Second (clinician" in confirmation[0] and "own password" in confirmation[0]
    assert staffed.events("second_check")[-1]["created_by"] == "Dr Ben Second"
    dialog.close()


# --------------------------------------------------------------------------- administration


def test_an_administrator_manages_accounts_in_the_dialog(staffed: Staffed) -> None:
    admin = staffed.staff["admin"]
    dialog = AccountsDialog(staffed.accounts, admin)
    assert dialog.table.rowCount() == 4
    assert not dialog.add_account("Olu Newstarter", Role.NURSE, "short")
    assert "at least 8" in dialog.message.text()
    assert dialog.add_account("Olu Newstarter", Role.NURSE, "tall-tree-42", "NMC 9", "new")
    assert dialog.table.rowCount() == 5
    dialog.select("Olu Newstarter")
    account_id = dialog.selected_id()
    assert dialog.change_role(account_id, Role.CLINICIAN)
    assert dialog.reset_password(account_id or 0, "fresh-pass-11")
    assert dialog.disable(account_id)
    dialog.select("Ada Admin")
    assert not dialog.disable(dialog.selected_id()) and "own account" in dialog.message.text()
    found = staffed.accounts.find("Olu Newstarter")
    assert found is not None and not found.active and found.role is Role.CLINICIAN
    not_admin = AccountsDialog(staffed.accounts, staffed.staff["clinician"])
    assert not not_admin.add_account("Eve Extra", Role.ADMINISTRATOR, "tall-tree-42")
    assert "only an administrator" in not_admin.message.text()


def test_an_editor_that_opens_after_the_lock_waits_hidden_for_its_author(
    staffed: Staffed,
) -> None:
    """Change program reads the pump first; the screen locks during the read. The editor
    must not appear over the lock screen (with the patient and the clinician's rights); it
    comes back when the same clinician unlocks."""
    from ui.program import open_program_editor

    console = staffed.console
    session = staffed.session()
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    open_okafor(staffed)
    controller = open_program_editor(staffed.window)
    session.lock()
    console.qtbot.waitUntil(lambda: controller.dialog is not None, timeout=10_000)
    console.qtbot.waitUntil(lambda: not staffed.window.link.busy, timeout=10_000)
    dialog = controller.dialog
    assert dialog is not None and not dialog.isVisible()
    assert "OKAFOR" not in visible_text()
    assert sign_in_at_lock(session, "Dr Carl Clinician")
    assert dialog.isVisible()  # back for its author
    dialog.close()


def test_a_question_raised_while_locked_never_shows_over_the_lock_screen(
    staffed: Staffed,
) -> None:
    from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout

    session = staffed.session()
    session.lock()
    question = QDialog(staffed.window)
    QVBoxLayout(question).addWidget(QLabel("Which patient? OKAFOR, Grace / MURPHY, Sean"))
    question.show()
    assert not question.isVisible() and "OKAFOR" not in visible_text()
