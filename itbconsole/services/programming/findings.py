"""What a rule says about a pending program: a :class:`Finding` and its :class:`Severity`,
the :class:`ProgrammingError` a change that cannot go ahead raises, and how an amount is
written in a message."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from itbconsole.units import round_decimal


def fmt_amount(value: Fraction | Decimal | int, places: int = 1) -> str:
    """An amount as the messages show it: rounded to ``places`` decimals."""
    return str(round_decimal(Fraction(value), places))


class ProgrammingError(ValueError):
    """A program change cannot go ahead. The message says why and what to do."""


class Severity(enum.Enum):
    """How a finding weighs on the change."""

    BLOCK = "block"  # cannot be sent (hard limit, unit slip, wrong concentration, role)
    SOFT = "soft"  # may be sent with a typed reason; recorded
    WARNING = "warning"  # shown and recorded; no reason needed


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on the pending program. ``field`` names the input it concerns
    (``daily_dose``, ``flex``, ``bolus``, ``patient_bolus``, ``concentration``...) so the
    editor can show it next to that input."""

    rule: str
    severity: Severity
    message: str
    field: str = ""

    @property
    def key(self) -> str:
        """Identifies the finding among others, for the override reason typed for it."""
        return f"{self.rule}:{self.field}"
