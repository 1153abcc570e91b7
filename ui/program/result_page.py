"""The program editor's Result page: what the pump confirmed (sent and verified, not
changed, or uncertain), in plain words, with what to do next, and the program-change
record to print (:mod:`ui.program.record`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from itbconsole.model import ChangeOutcome
from ui.program.editor_base import EditorBase
from ui.program.record import OUTCOME_TITLES
from ui.program.widgets import BLOCK_COLOUR


class ResultPage(EditorBase):
    """Builds the Result page and shows the outcome of a send on it."""

    def _build_result_page(self) -> QWidget:
        self.result_title = QLabel()
        self.result_title.setAccessibleName("Result")
        font = QFont(self.result_title.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.result_title.setFont(font)
        self.result_title.setWordWrap(True)
        self.result_text = QLabel()
        self.result_text.setAccessibleName("What the pump reported")
        self.result_text.setWordWrap(True)
        self.result_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recheck_button = QPushButton("&Check the pump again")
        self.recheck_button.setAccessibleName("Read the pump's program to settle the outcome")
        self.recheck_button.clicked.connect(self.recheck_requested.emit)
        self.print_button = QPushButton("&Print record...")
        self.print_button.setAccessibleName("Print or save the program-change record")
        self.print_button.setToolTip(
            "Current and new program, the change, limits and overrides, the read-back: one page"
        )
        self.print_button.clicked.connect(self.print_requested.emit)
        self.close_button = QPushButton("&Close")
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.recheck_button)
        buttons.addWidget(self.close_button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.result_title)
        # The whole program read back (up to 13 flex steps a day and the boluses) can be
        # taller than a 768-pixel screen: it scrolls, the buttons stay in view.
        self.result_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.result_text)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        return page

    def show_result(
        self,
        outcome: ChangeOutcome | str,
        message: str,
        details: str = "",
        *,
        recorded: bool = True,
    ) -> None:
        """The last page: what the pump confirmed, in plain words, and what the patient's
        records show now. ``recorded``: the outcome is saved (a change whose record could
        not be saved stays stored as uncertain until it is, or the pump is read again)."""
        outcome = ChangeOutcome(outcome)
        self.result_outcome = outcome
        colour = "#0b6b2f" if outcome == ChangeOutcome.SUCCEEDED else BLOCK_COLOUR
        title = OUTCOME_TITLES[outcome]
        self.result_title.setText(title)
        self.result_title.setStyleSheet(f"color: {colour}; font-size: 15pt; font-weight: bold;")
        what_next = what_happens_next(outcome, recorded=recorded)
        self.result_text.setText(f"<p>{message}</p><p>{what_next}</p>{details}")
        self.recheck_button.setVisible(outcome == ChangeOutcome.UNCERTAIN or not recorded)
        self.pages.setCurrentIndex(self.RESULT)
        self.close_button.setFocus()


#: The uncertain change on the patient's records, said the same way whatever the pump did.
_STAYS_UNCERTAIN = (
    "the change stays stored as UNCERTAIN and the patient flagged until it is settled, and "
    "the Overview shows the worse of the dates with and without it. Keep the programmer head "
    "over the pump and press 'Check the pump again', or interrogate the pump (an "
    "interrogation settles it too) before the patient leaves."
)


def what_happens_next(outcome: ChangeOutcome, *, recorded: bool = True) -> str:
    """What the patient's records show after the send, and what is left to do."""
    if not recorded:
        did = {
            ChangeOutcome.SUCCEEDED: "The pump runs the new program",
            ChangeOutcome.FAILED: "The pump keeps its previous program",
        }.get(outcome)
        if did is not None:
            return f"{did}, but its record could not be saved: {_STAYS_UNCERTAIN}"
    if outcome == ChangeOutcome.SUCCEEDED:
        return (
            "The new program is active; it was read back from the pump and is identical to "
            "the program sent. The Overview already shows it, with the low-reservoir alarm "
            "and refill dates worked out from it: no interrogation is needed for that."
        )
    if outcome == ChangeOutcome.FAILED:
        return (
            "The pump keeps its previous program. Nothing changed for the patient: the "
            "Overview shows the previous program and its dates, as before."
        )
    return (
        "The outcome is unknown: "
        + _STAYS_UNCERTAIN
        + " A link error never means the pump stopped: it carries on with whichever program "
        "it has."
    )
