"""The program editor's Review page: current and pending program side by side (every
changed line marked), the reason for each soft-limit override and a second clinician for a
severe one, the confirmation, and the approved change handed on to be sent.

Everything to act on is in view at 1366 x 768: the table is as tall as its rows and the
limits and warnings take the room under it; the second clinician's box sits under the dose
profile, outside the scrolled warnings; a line beside *Send to pump* says what it still
waits for (:meth:`ReviewPage.send_waits_for`, the conditions that enable it).

The second clinician confirms in this dialog with their own account: their name from the
list and their password (``AccountService.confirm_second_check``, found through the window
the editor runs in: ``clinic.accounts``); the confirmation is for this one program. Their
password is checked on a worker thread (``ui.dialogs.check_in_background``: "Checking…",
nothing to press meanwhile); a review left or a dialog closed before the answer confirms
nothing, and a wrong password in it is recorded all the same (``second_check_failed``,
abandoned). A sender with no account behind them (demo mode) types the second clinician's
name."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_moment
from itbconsole.model import SecondCheck
from itbconsole.services import programming as svc
from itbconsole.services.accounts import AccountService, PasswordCheck, SignInRefused
from itbconsole.services.programming.approval import (
    second_check_problem,
    second_check_subject,
)
from ui.dialogs import CHECKING, PasswordCheckCall, check_in_background
from ui.program.live_check import LiveCheck
from ui.program.widgets import SOFT_COLOUR, ProfilePlot, error_label

CHANGED_BG = QColor("#fff3cd")


class RowsTable(QTableWidget):
    """A table as tall as its rows (no empty space under them, no scrolling for a few
    rows): it asks its layout for the header and every row, and may be given less (then it
    scrolls) but never more. Its rows are fitted to their words again when its width
    changes."""

    def fit_rows(self) -> None:
        """Rows fitted to their words at the present column widths; the height asked for
        follows."""
        self.resizeRowsToContents()
        self.setMaximumHeight(self.sizeHint().height())
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        header = self.horizontalHeader()
        height = (
            (header.sizeHint().height() if not header.isHidden() else 0)
            + sum(self.rowHeight(r) for r in range(self.rowCount()))
            + 2 * self.frameWidth()
        )
        return QSize(hint.width(), height)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(hint.width(), min(self.sizeHint().height(), 160))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.fit_rows()


class ReviewPage(LiveCheck):
    """Builds the Review page, fills it from the check, and approves the change."""

    #: The second clinician's password being checked on a worker thread, and what it is for
    #: (their name, the password, the program's subject; None: its answer is dropped).
    _second_checking: PasswordCheckCall | None = None
    _second_pending: tuple[str, str, str] | None = None

    def _build_review_page(self) -> QWidget:
        self.review_title = QLabel(
            "<b>Review: current and pending program side by side.</b> Changed lines are "
            "marked \u25b6 and highlighted. Check each against the prescription."
        )
        self.review_title.setWordWrap(True)
        self.review_table = RowsTable(0, 3)
        self.review_table.setHorizontalHeaderLabels(["", "Current (on the pump)", "Pending"])
        self.review_table.setAccessibleName("Current and pending program side by side")
        self.review_table.verticalHeader().setVisible(False)
        self.review_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.review_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.review_table.setWordWrap(True)
        self.review_plot = ProfilePlot()
        self.overrides_box = QGroupBox("Limits and warnings")
        self.overrides_layout = QFormLayout(self.overrides_box)
        # The second clinician's box is never inside the scrolled warnings: when a severe
        # override needs one, their name, password, Confirm and its answer are in view.
        self.second_box = QGroupBox("Second clinician")
        self.second_box.setAccessibleName("Second clinician's confirmation")
        self.second_layout = QFormLayout(self.second_box)
        self.second_box.setVisible(False)
        self.override_edits: dict[str, QLineEdit] = {}
        self.override_categories: dict[str, QComboBox] = {}
        self.second_clinician = QLineEdit()
        self.second_check: SecondCheck | None = None
        self.confirm_box = QCheckBox(
            "I have checked the pending program against the prescription and the concentration "
            "in the reservoir."
        )
        self.confirm_box.setAccessibleName("Confirm the pending program was checked")
        self.review_error = error_label()
        self.back_button = QPushButton("< &Back to edit")
        self.send_button = QPushButton("&Send to pump")
        self.send_button.setAccessibleName("Send the pending program to the pump")
        # Only a clinician or an administrator sends: a nurse saves for a clinician instead.
        can_send = self.ctx.user.can_send_program()
        self.send_button.setVisible(can_send)
        self.send_button.setEnabled(False)
        self.review_prepare_button = QPushButton("Save for &clinician review")
        self.review_prepare_button.setAccessibleName(
            "Save the program for a clinician to review and send"
        )
        self.review_prepare_button.setVisible(not can_send)
        self.review_prepare_button.clicked.connect(self.prepare)
        self.sending_label = QLabel()
        self.sending_label.setWordWrap(True)
        self.sending_label.setVisible(False)
        # What a disabled Send to pump still waits for (the same rule that enables it).
        self.send_waiting = QLabel()
        self.send_waiting.setWordWrap(True)
        self.send_waiting.setAccessibleName("What Send to pump waits for")
        self.send_waiting.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sending_label, 1)
        buttons.addWidget(self.send_waiting, 1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.review_prepare_button)
        buttons.addWidget(self.send_button)
        self.back_button.clicked.connect(lambda: self.pages.setCurrentIndex(self.EDIT))
        self.send_button.clicked.connect(self.send)
        self.confirm_box.toggled.connect(lambda _on: self._update_send_button())
        # Left: the table as tall as its rows, the limits and warnings below it in all the
        # room left (scrolled only when there are more than fit).
        self.overrides_scroll = QScrollArea()
        self.overrides_scroll.setWidgetResizable(True)
        self.overrides_scroll.setWidget(self.overrides_box)
        self.overrides_scroll.setMinimumHeight(120)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.review_title)
        left_layout.addWidget(self.review_table)
        left_layout.addWidget(self.overrides_scroll, 1)
        # Right: the dose profile, and under it the second clinician when one is needed.
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.addWidget(self.review_plot, 1)
        right_layout.addWidget(self.second_box)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 500])
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(split, 1)
        layout.addWidget(self.confirm_box)
        layout.addWidget(self.review_error)
        layout.addLayout(buttons)
        return page

    def go_review(self) -> None:
        """To the side-by-side review (only when nothing blocks the change)."""
        self.recompute()
        c = self.check
        if c is None or c.blocked or not self.reasons_ok():
            return
        rows = svc.review_rows(c, self.ctx.tz)
        self.review_table.setRowCount(len(rows))
        bold = QFont(self.review_table.font())
        bold.setBold(True)
        for i, row in enumerate(rows):
            label = ("\u25b6 " if row.changed else "   ") + row.label
            items = [QTableWidgetItem(label), QTableWidgetItem(row.current),
                     QTableWidgetItem(row.pending)]  # fmt: skip
            for item in items:
                if row.changed:
                    item.setBackground(QBrush(CHANGED_BG))
                    item.setFont(bold)
                item.setToolTip("changed" if row.changed else "unchanged")
                item.setData(Qt.ItemDataRole.AccessibleDescriptionRole,
                             "changed" if row.changed else "unchanged")  # fmt: skip
            for col, item in enumerate(items):
                self.review_table.setItem(i, col, item)
        self.review_plot.show_programs(c.state.program, c.new)
        while self.overrides_layout.rowCount():
            self.overrides_layout.removeRow(0)
        self.override_edits = {}
        self.override_categories = {}
        for f in c.findings:
            if f.severity is svc.Severity.SOFT:
                text = QLabel(f"<b style='color:{SOFT_COLOUR}'>Soft limit:</b> {f.message}")
                text.setWordWrap(True)
                category = QComboBox()
                category.setAccessibleName(f"Why the limit is overridden: {f.rule}")
                category.addItem("Choose why...", "")
                for name in svc.OVERRIDE_CATEGORIES:
                    category.addItem(name, name)
                category.currentIndexChanged.connect(lambda _i: self._update_send_button())
                edit = QLineEdit()
                edit.setAccessibleName(f"Note on overriding: {f.rule}")
                edit.setPlaceholderText(f"what was agreed, with whom ({svc.REASON_HINT})")
                edit.textChanged.connect(lambda _t: self._update_send_button())
                self.override_edits[f.key] = edit
                self.override_categories[f.key] = category
                self.overrides_layout.addRow(text)
                self.overrides_layout.addRow("Why:", category)
                self.overrides_layout.addRow("Note:", edit)
            elif f.severity is svc.Severity.WARNING:
                text = QLabel(f"<b style='color:{SOFT_COLOUR}'>Warning:</b> {f.message}")
                text.setWordWrap(True)
                self.overrides_layout.addRow(text)
        self.second_clinician = QLineEdit()
        self.second_clinician.setAccessibleName("Second clinician confirming the override")
        self.second_clinician.setPlaceholderText("name of the second clinician who checked it")
        self.second_clinician.textChanged.connect(lambda _t: self._update_send_button())
        self.second_check = None
        self._second_pending = None  # a check still running for an earlier review: dropped
        while self.second_layout.rowCount():
            self.second_layout.removeRow(0)
        severe = svc.second_check_findings(c)
        if severe:
            note = QLabel(
                "<b>A second clinician must confirm</b> the override of "
                + ", ".join(sorted({f.rule.replace("_", " ") for f in severe}))
                + ": they check the program and the reason with you"
                + (
                    ", then confirm with their own password."
                    if self._signed_with_account()
                    else "."
                )
            )
            note.setWordWrap(True)
            self.second_layout.addRow(note)
            if self._signed_with_account():
                self._add_second_checker_rows()
            else:
                self.second_layout.addRow("Second clinician:", self.second_clinician)
        self.second_box.setVisible(bool(severe))
        if not c.findings:
            self.overrides_layout.addRow(QLabel("Within every drug-library limit."))
        self.overrides_layout.addRow(QLabel(f"Reason for the change: {self.reason.text()}"))
        self.confirm_box.setChecked(False)
        self.review_error.setVisible(False)
        self.sending_label.setText("")
        self.pages.setCurrentIndex(self.REVIEW)
        self.review_table.fit_rows()  # after layout, at the real column widths
        self.overrides_scroll.verticalScrollBar().setValue(0)
        self._update_send_button()
        self.review_table.setFocus()

    # ------------------------------------------------------------------ second clinician

    def _signed_with_account(self) -> bool:
        return self.ctx.user.account_id is not None

    def _accounts(self) -> AccountService | None:
        """The account service of the window the editor runs in (its clinic's)."""
        clinic = getattr(self.parentWidget(), "clinic", None)
        return getattr(clinic, "accounts", None)

    def _add_second_checker_rows(self) -> None:
        if not getattr(self, "_second_check_watch", False):  # closed: a check's answer dropped
            self.finished.connect(self._drop_second_check)
            self._second_check_watch = True
        accounts = self._accounts()
        self.second_checker_name = QComboBox()
        self.second_checker_name.setAccessibleName("Second clinician")
        self.second_checker_name.addItem("Choose the second clinician...", "")
        for name in accounts.second_checkers(self.ctx.user) if accounts else []:
            self.second_checker_name.addItem(name, name)
        self.second_checker_password = QLineEdit()
        self.second_checker_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.second_checker_password.setAccessibleName("Second clinician's password")
        self.second_checker_password.setPlaceholderText("their own password, typed by them")
        self.second_checker_button = QPushButton("Con&firm as second clinician")
        self.second_checker_button.clicked.connect(self.confirm_second_checker)
        self.second_checker_password.returnPressed.connect(self.confirm_second_checker)
        self.second_checker_status = QLabel(
            "" if accounts else "Second checks need the clinic's accounts: not available here."
        )
        self.second_checker_status.setWordWrap(True)
        self.second_checker_name.currentIndexChanged.connect(lambda _i: self._forget_second_check())
        self.second_layout.addRow("Second clinician:", self.second_checker_name)
        self.second_layout.addRow("Their password:", self.second_checker_password)
        self.second_layout.addRow(self.second_checker_button)
        self.second_layout.addRow(self.second_checker_status)

    def _forget_second_check(self) -> None:
        self.second_check = None
        self.second_checker_status.setText("")
        self._update_send_button()

    @property
    def second_checking(self) -> bool:
        """The second clinician's password is being checked on a worker thread."""
        return self._second_checking is not None

    def confirm_second_checker(self) -> None:
        """Confirm as pressed: the second clinician's own password is checked on a worker
        thread ("Checking…", nothing to press meanwhile), then by the account service for
        this program (:meth:`second_checker_answered`); a wrong one is refused and
        recorded."""
        if self.second_checking:
            return
        c = self.check
        accounts = self._accounts()
        name = self.second_checker_name.currentData() or ""
        password = self.second_checker_password.text()
        self.second_checker_password.clear()
        self.second_check = None
        if c is None or accounts is None:
            return
        if not name:
            self.second_checker_status.setText("Choose the second clinician in the list.")
            self._update_send_button()
            return
        pending = (name, password, second_check_subject(c))
        sender, subject = self.ctx.user.name, pending[2]
        job = check_in_background(
            accounts,
            name,
            password,
            self._second_password_checked,
            failure="second_check_failed",
            detail={"sender": sender, "subject": subject},
        )
        if job is None:  # refused without a check (a wait is due, or no such account)
            self.second_checker_answered(*pending)
            return
        self._second_checking, self._second_pending = job, pending
        self._set_second_checking(True)
        self._update_send_button()

    def _set_second_checking(self, checking: bool) -> None:
        if checking:
            self.second_checker_status.setText(CHECKING)
        elif self.second_checker_status.text() == CHECKING:
            self.second_checker_status.setText("")
        for widget in (
            self.second_checker_name,
            self.second_checker_password,
            self.second_checker_button,
            self.back_button,
        ):
            widget.setEnabled(not checking)

    def _second_password_checked(self, outcome: object) -> None:
        pending, call = self._second_pending, self._second_checking
        self._second_checking = self._second_pending = None
        self._set_second_checking(False)
        if pending is None:  # the dialog was closed or the review left meanwhile:
            if call is not None:  # nothing confirmed (a wrong password recorded all the same)
                call.abandon()
            return
        checked = outcome if isinstance(outcome, PasswordCheck) else None
        self.second_checker_answered(*pending, checked=checked)

    def _drop_second_check(self, _result: int = 0) -> None:
        self._second_pending = None
        if self._second_checking is not None:
            self._second_checking.abandon()

    def second_checker_answered(
        self, name: str, password: str, subject: str, checked: PasswordCheck | None = None
    ) -> bool:
        """The account service's answer for the second clinician: confirmed (shown, the
        send allowed) or refused (why, and a wait after wrong passwords)."""
        accounts = self._accounts()
        if accounts is None:
            return False
        try:
            self.second_check = accounts.confirm_second_check(
                self.ctx.user, name, password, subject, checked=checked
            )
        except SignInRefused as exc:
            self.second_checker_status.setText(str(exc))
            if exc.retry_after_s:
                self.second_checker_button.setEnabled(False)
                QTimer.singleShot(
                    exc.retry_after_s * 1000, lambda: self.second_checker_button.setEnabled(True)
                )
            self._update_send_button()
            return False
        s = self.second_check
        self.second_checker_status.setText(
            f"Confirmed by {s.name} ({s.role.value}) at {fmt_moment(s.at, self.ctx.tz)}."
        )
        self._update_send_button()
        return True

    def second_clinician_given(self) -> str | SecondCheck:
        """What the service is given: the confirmation, or the typed name (no account)."""
        if self._signed_with_account():
            return self.second_check or ""
        return self.second_clinician.text()

    def override_reasons(self) -> dict[str, str]:
        """Each soft-limit override as the service stores it: the category, then the note."""
        out = {}
        for key, edit in self.override_edits.items():
            category = self.override_categories[key].currentData() or ""
            out[key] = svc.override_text(category, edit.text()) if category else edit.text()
        return out

    def _update_send_button(self) -> None:
        c = self.check
        ready = (
            c is not None
            and self.ctx.user.can_send_program()
            and self.confirm_box.isChecked()
            and not svc.missing_reasons(
                c, self.reason.text(), self.override_reasons(), self.second_clinician_given()
            )
        )
        self.send_button.setEnabled(bool(ready))
        waits = [] if ready else self.send_waits_for()
        self.send_waiting.setText("<b>Before sending:</b> " + " ".join(waits) if waits else "")

    def send_waits_for(self) -> list[str]:
        """What a disabled *Send to pump* still waits for, in the order the page shows it:
        the same conditions that enable it (the confirmation tick and
        :func:`~itbconsole.services.programming.missing_reasons`), each said once. Empty
        for a user who cannot send (the button is not shown)."""
        c = self.check
        if c is None or not self.ctx.user.can_send_program():
            return []
        waits = []
        if not svc.reason_is_enough(self.reason.text()):
            waits.append(f"Type the reason for this change on the Edit page ({svc.REASON_HINT}).")
        reasons = self.override_reasons()
        open_ = [f for f in c.soft if not svc.override_is_enough(reasons.get(f.key, ""))]
        if open_:
            waits.append(
                "Choose why and add a note for each limit overridden "
                f"({len(open_)} of {len(c.soft)} still to give)."
                if len(c.soft) > 1
                else "Choose why the limit is overridden and add a note."
            )
        if svc.second_check_findings(c):
            if self.second_checking:
                waits.append("The second clinician's password is being checked.")
            else:
                problem = second_check_problem(c, self.second_clinician_given())
                if problem:
                    waits.append(problem)
        if not self.confirm_box.isChecked():
            waits.append("Tick the box to confirm you checked the pending program.")
        if not waits:  # a condition of the rule not named above: said in its own words
            waits = svc.missing_reasons(
                c, self.reason.text(), self.override_reasons(), self.second_clinician_given()
            )
        return waits

    def send(self) -> None:
        """Build the change record and ask the controller to send it."""
        c = self.check
        if c is None:
            return
        if not self.ctx.user.can_send_program():
            self.review_error.setText(
                "Only a clinician or an administrator can send a program: save it for "
                "clinician review instead."
            )
            self.review_error.setVisible(True)
            return
        if not self.confirm_box.isChecked():
            self.review_error.setText("Tick the box to confirm you checked the pending program.")
            self.review_error.setVisible(True)
            return
        try:
            approved = svc.approve(
                c,
                self.reason.text(),
                self.override_reasons(),
                at=self.ctx.now,
                second_clinician=self.second_clinician_given(),
            )
        except svc.ProgrammingError as exc:
            self.review_error.setText(str(exc))
            self.review_error.setVisible(True)
            return
        self.send_requested.emit(approved)

    def set_sending(self, sending: bool) -> None:
        self.send_button.setEnabled(not sending)
        self.back_button.setEnabled(not sending)
        self.sending_label.setText(
            "Sending to the pump: keep the programmer head over the pump..." if sending else ""
        )
        self.sending_label.setVisible(sending)
        self.send_waiting.setVisible(not sending)
