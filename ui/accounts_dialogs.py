"""Account dialogs: the first administrator of a new database, changing your own password,
and Session > Manage accounts (administrators: add, disable, enable, reset a password,
change a role). Thin views over :class:`itbconsole.services.accounts.AccountService`: every
rule and every record is the service's.

Each dialog exposes ``ask()`` and methods a test calls directly instead of clicking
through a modal loop (``accept_if_valid``, ``add_account``, ``disable``...).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from itbconsole.model import Role, User
from itbconsole.services.accounts import (
    MIN_PASSWORD_CHARS,
    AccountError,
    AccountService,
    PasswordChangeCheck,
    password_problem,
)
from ui.dialogs import CHECKING, PasswordCheckCall, below_the_window

PASSWORD_RULE = (
    f"At least {MIN_PASSWORD_CHARS} characters; not your name, not one character repeated."
)


def _password_field(name: str) -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setAccessibleName(name)
    return field


def _error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("formError")
    label.setWordWrap(True)
    return label


def _buttons(dialog: QDialog, ok: str, accept: object) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok)
    box.accepted.connect(accept)
    box.rejected.connect(dialog.reject)
    return box


class FirstAdministratorDialog(QDialog):
    """A new database has no accounts: the person setting it up becomes its first
    administrator (and is signed in)."""

    def __init__(self, accounts: AccountService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.user: User | None = None
        self.setWindowTitle("ITB Console: first administrator")
        self.name = QLineEdit()
        self.name.setAccessibleName("Your full name")
        self.name.setPlaceholderText("as it should appear on records")
        self.registration = QLineEdit()
        self.registration.setAccessibleName("Professional registration number (optional)")
        self.password = _password_field("Password")
        self.again = _password_field("Password again")
        self.message = _error_label()
        intro = QLabel(
            "This database has no accounts yet. Create the first one: an administrator, who "
            "then adds an account for everyone who uses the console. " + PASSWORD_RULE
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Name", self.name)
        form.addRow("&Registration number", self.registration)
        form.addRow("&Password", self.password)
        form.addRow("Password &again", self.again)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(_buttons(self, "Create and sign in", self.accept_if_valid))
        self.setMinimumWidth(460)

    def accept_if_valid(self) -> None:
        if self.password.text() != self.again.text():
            self.message.setText("The two passwords differ.")
            return
        try:
            self.user = self.accounts.create_first_administrator(
                self.name.text(), self.password.text(), self.registration.text()
            )
        except AccountError as exc:
            self.message.setText(str(exc))
            return
        self.accept()

    def ask(self) -> User | None:
        return self.user if self.exec() == QDialog.DialogCode.Accepted else None


def change_in_background(
    accounts: AccountService,
    user: User,
    present: str,
    new: str,
    finish: Callable[[object], None],
) -> PasswordCheckCall | None:
    """The argon2 work of a password change (the present password checked, the new one
    hashed: 0.2-0.4 s) on a worker thread, as :func:`ui.dialogs.check_in_background` does
    for a sign-in: ``finish`` is called on the GUI thread with the
    :class:`PasswordChangeCheck` (or the exception if the check itself broke), and the
    account service decides and records with it; a dialog closed before the answer changes
    nothing, and a wrong present password is recorded all the same. None when there is
    nothing to check (no active account, or a wait after wrong passwords is due): the
    service refuses at once."""
    checker = accounts.password_change_checker(user)
    account = accounts.account(user.account_id) if user.account_id is not None else None
    if checker is None or account is None:
        return None

    def check() -> PasswordChangeCheck:
        below_the_window()
        return checker(present, new)

    attempt = (account.name, present, "sign_in_failed", {"at": "password change"})
    call = PasswordCheckCall(accounts, check, attempt, finish, "password-change-check")
    call.start()
    return call


class ChangePasswordDialog(QDialog):
    """Choose a new password (needs the present one). ``forced``: the password was set by
    an administrator and must be changed before going on.

    The passwords are checked on a worker thread ("Checking…", nothing to press
    meanwhile); closed before the answer, the dialog changes nothing (a wrong present
    password is recorded all the same, as an abandoned attempt)."""

    def __init__(
        self,
        accounts: AccountService,
        user: User,
        parent: QWidget | None = None,
        *,
        forced: bool = False,
    ) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.user = user
        self.changed = False
        self._checking: PasswordCheckCall | None = None
        self._pending: tuple[str, str] | None = None
        self.setWindowTitle("Change your password")
        self.current = _password_field("Present password")
        self.new = _password_field("New password")
        self.again = _password_field("New password again")
        self.message = _error_label()
        intro = QLabel(
            (
                f"{user.name}: your password was set by an administrator. Choose your own "
                "before going on. "
                if forced
                else f"{user.name}: choose a new password. "
            )
            + PASSWORD_RULE
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Present password", self.current)
        form.addRow("&New password", self.new)
        form.addRow("New password &again", self.again)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        self.buttons = _buttons(self, "Change password", self.accept_if_valid)
        layout.addWidget(self.buttons)

    @property
    def checking(self) -> bool:
        """The passwords are being checked on a worker thread."""
        return self._checking is not None

    def accept_if_valid(self) -> None:
        """Change password as pressed: the argon2 work runs on a worker thread, then the
        account service decides and records (:meth:`change`)."""
        if self._checking is not None:
            return
        if self.new.text() != self.again.text():
            self.message.setText("The two new passwords differ.")
            return
        present, new = self.current.text(), self.new.text()
        job = change_in_background(self.accounts, self.user, present, new, self._checked)
        if job is None:  # refused without a check (a wait is due, or no active account)
            self.change(present, new)
            return
        self._checking, self._pending = job, (present, new)
        self._set_checking(True)

    def _set_checking(self, checking: bool) -> None:
        if checking:
            self.message.setText(CHECKING)
        elif self.message.text() == CHECKING:
            self.message.setText("")
        for widget in (self.current, self.new, self.again, self.buttons):
            widget.setEnabled(not checking)

    def _checked(self, outcome: object) -> None:
        pending = self._pending
        self._checking = self._pending = None
        self._set_checking(False)
        if pending is None:  # the dialog was closed meanwhile: nothing changes
            return  # (done() gave the check up: a wrong present password is recorded)
        checked = outcome if isinstance(outcome, PasswordChangeCheck) else None
        self.change(*pending, checked=checked)

    def change(self, present: str, new: str, checked: PasswordChangeCheck | None = None) -> None:
        """The account service's answer: changed (the dialog accepted) or refused."""
        try:
            self.accounts.change_own_password(self.user, present, new, checked=checked)
        except AccountError as exc:
            self.message.setText(str(exc))
            return
        self.changed = True
        self.accept()

    def done(self, result: int) -> None:
        """Closed (Cancel, Escape, the title bar): a check still running changes nothing
        when it ends; a wrong present password is recorded (abandoned)."""
        self._pending = None
        if self._checking is not None:
            self._checking.abandon()
        super().done(result)

    def ask(self) -> bool:
        return self.exec() == QDialog.DialogCode.Accepted and self.changed


class AccountFormDialog(QDialog):
    """The details of a new account, or a new password (``reset_for``) with a reason."""

    def __init__(self, parent: QWidget | None = None, *, reset_for: str = "") -> None:
        super().__init__(parent)
        self.reset_for = reset_for
        self.setWindowTitle(f"New password for {reset_for}" if reset_for else "Add an account")
        self.name = QLineEdit()
        self.name.setAccessibleName("Full name")
        self.role = QComboBox()
        self.role.setAccessibleName("Role")
        for role in Role:
            self.role.addItem(role.value.capitalize(), role.value)
        self.registration = QLineEdit()
        self.registration.setAccessibleName("Professional registration number (optional)")
        self.password = _password_field("First password" if not reset_for else "New password")
        self.again = _password_field("Password again")
        self.note = QLineEdit()
        self.note.setAccessibleName("Reason")
        self.message = _error_label()
        form = QFormLayout()
        if not reset_for:
            form.addRow("&Name", self.name)
            form.addRow("&Role", self.role)
            form.addRow("Re&gistration number", self.registration)
        form.addRow("&Password", self.password)
        form.addRow("Password &again", self.again)
        form.addRow("Rea&son", self.note)
        intro = QLabel("They change this password at their next sign-in. " + PASSWORD_RULE)
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(_buttons(self, "Save", self.accept_if_valid))
        self.answer: dict[str, str] | None = None

    def accept_if_valid(self) -> None:
        if self.password.text() != self.again.text():
            self.message.setText("The two passwords differ.")
            return
        problem = password_problem(self.password.text(), self.reset_for or self.name.text())
        if problem:
            self.message.setText(problem)
            return
        self.answer = {
            "name": self.name.text(),
            "role": str(self.role.currentData()),
            "registration": self.registration.text(),
            "password": self.password.text(),
            "note": " ".join(self.note.text().split()),
        }
        self.accept()

    def ask(self) -> dict[str, str] | None:
        return self.answer if self.exec() == QDialog.DialogCode.Accepted else None


class AccountsDialog(QDialog):
    """Session > Manage accounts: every account with its role and status; an administrator
    adds, disables, enables, resets and changes roles (each change recorded)."""

    COLUMNS = ("Name", "Role", "Status", "Registration", "Password")

    def __init__(
        self, accounts: AccountService, admin: User, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.admin = admin
        self.setWindowTitle("Accounts")
        self.resize(760, 420)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setAccessibleName("Accounts")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.message = _error_label()
        self.role_choice = QComboBox()
        self.role_choice.setAccessibleName("New role")
        for role in Role:
            self.role_choice.addItem(role.value.capitalize(), role.value)
        buttons = QHBoxLayout()
        for text, slot in (
            ("&Add...", self.ask_add),
            ("&Disable", lambda: self.disable(self.selected_id())),
            ("&Enable", lambda: self.enable(self.selected_id())),
            ("&Reset password...", self.ask_reset),
            ("Set &role", lambda: self.change_role(self.selected_id(), self._chosen_role())),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _c=False, s=slot: s())
            buttons.addWidget(button)
        buttons.addWidget(self.role_choice)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addStretch(1)
        buttons.addWidget(close)
        intro = QLabel(
            "Accounts are never deleted: a disabled account keeps its name on every record it "
            "made. Every change is recorded with your name."
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        rows = self.accounts.accounts()
        self.table.setRowCount(len(rows))
        for i, a in enumerate(rows):
            cells = (
                a.name,
                a.role.value,
                "active" if a.active else "disabled",
                a.registration,
                "to change at next sign-in" if a.must_change_password else "",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(256, a.id)  # Qt.UserRole
                self.table.setItem(i, col, item)

    def select(self, name: str) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == name:
                self.table.selectRow(row)

    def selected_id(self) -> int | None:
        items = self.table.selectedItems()
        return int(items[0].data(256)) if items else None

    def _chosen_role(self) -> Role:
        return Role(self.role_choice.currentData())

    def _do(self, work: object, done: str) -> bool:
        try:
            work()  # type: ignore[operator]
        except AccountError as exc:
            self.message.setText(str(exc))
            return False
        self.message.setText(done)
        self.refresh()
        return True

    # ------------------------------------------------------------------ actions

    def ask_add(self, dialog: AccountFormDialog | None = None) -> bool:
        answer = (dialog or AccountFormDialog(self)).ask()
        if answer is None:
            return False
        return self.add_account(
            answer["name"], Role(answer["role"]), answer["password"],
            answer["registration"], answer["note"],
        )  # fmt: skip

    def add_account(
        self, name: str, role: Role, password: str, registration: str = "", note: str = ""
    ) -> bool:
        return self._do(
            lambda: self.accounts.create_account(
                self.admin, name, role, password, registration, note
            ),
            f"Added {' '.join(name.split())} ({role.value}).",
        )

    def disable(self, account_id: int | None, note: str = "disabled by an administrator") -> bool:
        if account_id is None:
            self.message.setText("Choose an account in the list first.")
            return False
        return self._do(
            lambda: self.accounts.disable(self.admin, account_id, note), "Account disabled."
        )

    def enable(self, account_id: int | None, note: str = "enabled by an administrator") -> bool:
        if account_id is None:
            self.message.setText("Choose an account in the list first.")
            return False
        return self._do(
            lambda: self.accounts.enable(self.admin, account_id, note), "Account enabled."
        )

    def ask_reset(self, dialog: AccountFormDialog | None = None) -> bool:
        account_id = self.selected_id()
        account = self.accounts.account(account_id) if account_id is not None else None
        if account is None:
            self.message.setText("Choose an account in the list first.")
            return False
        answer = (dialog or AccountFormDialog(self, reset_for=account.name)).ask()
        if answer is None:
            return False
        return self.reset_password(account.id, answer["password"], answer["note"])

    def reset_password(self, account_id: int, password: str, note: str = "") -> bool:
        return self._do(
            lambda: self.accounts.reset_password(self.admin, account_id, password, note),
            "New password set: it is changed at the next sign-in.",
        )

    def change_role(
        self, account_id: int | None, role: Role, note: str = "role changed by an administrator"
    ) -> bool:
        if account_id is None:
            self.message.setText("Choose an account in the list first.")
            return False
        return self._do(
            lambda: self.accounts.change_role(self.admin, account_id, role, note),
            f"Role set to {role.value} (from their next sign-in or unlock).",
        )
