"""What every page of the program editor shares: the context it is opened with
(:class:`EditorContext`), the signals it emits and its page numbers (:class:`EditorBase`),
and how it writes an amount. Each page is a class of its own module (``edit_page``,
``edit_form``, ``live_check``, ``review_page``, ``result_page``);
:class:`~ui.program.editor.ProgramEditorDialog` puts them together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QStackedWidget

from itbconsole.druglib import DrugLibrary
from itbconsole.forecast import PumpFacts
from itbconsole.model import PreparedProgram, ProgramChange, Pump, User
from itbconsole.services import programming as svc
from itbconsole.settings import ClinicSettings
from itbconsole.units import round_decimal

if TYPE_CHECKING:
    from ui.program.widgets import UnitField


def fmt_amount(value: object, places: int = 1) -> str:
    """An amount as the editor shows it: rounded to ``places`` decimals."""
    return str(round_decimal(value, places))  # type: ignore[arg-type]


@dataclass(frozen=True)
class EditorContext:
    """What the editor needs to know, gathered by the controller."""

    patient_name: str
    pump: Pump
    state: svc.PumpState
    library: DrugLibrary
    tz: tzinfo
    user: User
    now: datetime
    prepared: PreparedProgram | None = None
    recent: Sequence[ProgramChange] = ()
    history: Sequence[ProgramChange] = ()  # the patient's stored program changes (24 h rule)
    facts: PumpFacts | None = None  # the pump's records, for the forecast
    settings: ClinicSettings | None = None
    connected: bool = True
    catheter_revised_on: date | None = None  # the last catheter revision on record


class EditorBase(QDialog):
    """The program editor's signals, page numbers and shared state. The pages call one
    another only through the hooks named below (each defined by the page that owns it)."""

    send_requested = Signal(object)  # svc.ApprovedChange (the record and the check it passed)
    prepare_requested = Signal(object)  # PreparedProgram
    recheck_requested = Signal()
    print_requested = Signal()  # the Result page's "Print record..."
    EDIT, REVIEW, RESULT = range(3)

    ctx: EditorContext
    check: svc.ProgramCheck | None
    prepared_id: int | None
    result_outcome: str | None
    pages: QStackedWidget

    if TYPE_CHECKING:  # hooks one page calls on another

        def recompute(self) -> None: ...  # live_check: re-read the form and check it

        def _update_buttons(self) -> None: ...  # live_check: the Edit page's buttons

        def _fields(self) -> list[UnitField]: ...  # edit_form: the Edit page's number fields

        def go_review(self) -> None: ...  # review_page: to the side-by-side review

        def reasons_ok(self) -> bool: ...  # editor: the change's own reason is given

        def prepare(self) -> None: ...  # editor: save the program for review
