"""What every step of a refill shares: the steps and their titles (:class:`Step`), the
error a rule raises (:class:`RefillError`, naming the field it is about), a volume typed in
mL read as whole µL (:func:`parse_ml`), and a program's daily dose in words."""

from __future__ import annotations

import enum

from itbconsole import dosing
from itbconsole.model import Program
from itbconsole.units import QuantityError, fmt_mcg, ml_to_ul, parse_decimal


class Step(enum.IntEnum):
    IDENTIFY = 1
    WITHDRAW = 2
    NEW_DRUG = 3
    CONCENTRATION = 4
    REVIEW = 5
    UPDATE = 6
    RECORD = 7
    DONE = 8
    CANCELLED = 9


STEP_TITLES = {
    Step.IDENTIFY: "Identify the pump",
    Step.WITHDRAW: "Withdraw the residual",
    Step.NEW_DRUG: "New drug",
    Step.CONCENTRATION: "Concentration check",
    Step.REVIEW: "Review",
    Step.UPDATE: "Update the pump",
    Step.RECORD: "Record",
}


class RefillError(ValueError):
    """A value or an action the refill rules refuse. ``field`` names the input it is about
    (so a screen can show the message next to it); the message is for the nurse."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def parse_ml(text: str, field: str, what: str) -> int:
    """User text in mL -> integer µL, or RefillError naming the field. Refuses negatives
    and anything finer than 0.001 mL."""
    try:
        ul = ml_to_ul(parse_decimal(text, field=what))
    except QuantityError as exc:
        raise RefillError(str(exc), field) from None
    if ul < 0:
        raise RefillError(f"{what} cannot be negative.", field)
    return ul


def dose_text(program: Program) -> str:
    """A program's daily dose as the refill screens show it (``"500 mcg/24 h"``)."""
    return f"{fmt_mcg(dosing.program_daily_dose_mcg(program))}/24 h"
