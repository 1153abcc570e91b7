"""Small dialogs: sign-in, error, about.

Each dialog that asks something exposes ``ask()``, returning the answer or None, so tests
can drive it without a modal event loop (they fill the fields and call ``accept_if_valid``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from itbconsole import __version__
from itbconsole.model import Role, User


class SignInDialog(QDialog):
    """Who is at the console. The name and role are stamped on every record."""

    def __init__(
        self, parent: QWidget | None = None, last_name: str = "", last_role: str = "nurse"
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in to ITB Console")
        self.name_edit = QLineEdit(last_name)
        self.name_edit.setPlaceholderText("Your full name, as it should appear on records")
        self.name_edit.setAccessibleName("Your name")
        self.role_combo = QComboBox()
        self.role_combo.setAccessibleName("Your role")
        for role in Role:
            self.role_combo.addItem(role.value.capitalize(), role.value)
        index = self.role_combo.findData(last_role)
        self.role_combo.setCurrentIndex(max(index, 0))
        self.message = QLabel("")
        self.message.setObjectName("fieldError")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Name", self.name_edit)
        form.addRow("&Role", self.role_combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        buttons.accepted.connect(self.accept_if_valid)
        buttons.rejected.connect(self.reject)
        intro = QLabel(
            "Everything you record is stamped with your name and role. "
            "Only clinicians and administrators can send a new program to a pump."
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    def user(self) -> User | None:
        name = " ".join(self.name_edit.text().split())
        if len(name) < 2:
            return None
        return User(name=name, role=Role(self.role_combo.currentData()))

    def accept_if_valid(self) -> None:
        if self.user() is None:
            self.message.setText("Enter your name (at least two letters) to sign in.")
            self.name_edit.setFocus()
            return
        self.accept()

    def ask(self) -> User | None:
        return self.user() if self.exec() == QDialog.DialogCode.Accepted else None


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
