"""JSON text with exact decimals.

Why not ``json.dumps`` alone: it cannot write a :class:`~decimal.Decimal`, and turning one
into a ``float`` first is how 4.17 mL becomes 4.1699999. FHIR decimals are JSON numbers,
so each Decimal is written as its own digits (``12.350`` stays ``12.350``, keeping the
precision the value was recorded with).
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

#: Stands for a Decimal in the text ``json`` writes; random, so no text can forge it.
_MARKER = f"decimal-{secrets.token_hex(8)}:"
_MARKED = re.compile(f'"{re.escape(_MARKER)}(-?[0-9.]+(?:E[+-]?[0-9]+)?)"')


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number FHIR can hold")
        return f"{_MARKER}{value}"
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(document: Any) -> str:
    """``document`` as indented JSON, Decimals written exactly as numbers."""
    text = json.dumps(document, indent=2, ensure_ascii=False, default=_encode)
    return _MARKED.sub(_plain, text)


def _plain(match: re.Match[str]) -> str:
    """A Decimal's digits as a JSON number (``1E+1`` written out as ``10``)."""
    return format(Decimal(match.group(1)), "f")
