"""Checked argument types for the ``itbconsole`` command line.

Why: Python's ``int()``, ``float()``, ``Decimal()`` and ``Fraction()`` read far more than a
person types at a clinic terminal: digits of other scripts (``'٣'`` is 3), underscores
(``'1_000'``), ``NaN`` and ``Infinity``, a fraction over zero, and numbers so long that the
arithmetic after them overflows into a traceback. Every type here reads only what a person
writes (numbers with the digits 0-9), checks a range, and otherwise raises
:class:`argparse.ArgumentTypeError` with one plain line; argparse then prints the usage and
that line and exits with status 2.

Ranges are not invented here: each command passes the bound from the home of its concept
(the drug library, the pump-model catalogue, the clinic settings, the wire format).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import serial

from drivers import protocol
from itbconsole.units import QuantityError, parse_decimal

#: The largest value of the wire's unsigned 32-bit fields (event indexes, the pump clock).
U32_MAX = 0xFFFF_FFFF
#: Longer than this, a typed number is a slip (and ``int()`` of 4,300 digits raises).
MAX_NUMBER_CHARS = 40
#: A file path or port name (PATH_MAX on Linux); longer is never a real file.
MAX_PATH_CHARS = 4_096
#: A person's name typed on the command line.
MAX_NAME_CHARS = 200
#: A reason or note typed on the command line.
MAX_NOTE_CHARS = 2_000
#: The longest DNS host name.
MAX_HOST_CHARS = 253
#: Instants a command accepts: the range of the pump clock (seconds since the pump epoch
#: in a u32, drivers.protocol). No pump reading or forecast exists outside it, and a date
#: near the year 9999 would overflow the date arithmetic.
EARLIEST = protocol.pump_datetime(0)
LATEST = protocol.pump_datetime(U32_MAX)
#: Baud rates: pyserial's standard list (every rate a serial port is asked for by name).
BAUD_RATES: tuple[int, ...] = tuple(serial.SerialBase.BAUDRATES)

#: A whole number as a person writes it: an optional sign and the digits 0-9. (``\d`` in a
#: Python pattern also matches other scripts' digits, so the class is spelled out.)
_WHOLE = re.compile(r"[+-]?[0-9]+")
_SHOWN_CHARS = 40
_LONG_QUOTED = re.compile("'([^']{" + str(_SHOWN_CHARS + 1) + ",})'")
_MAX_MESSAGE_CHARS = 600


def shown(text: str) -> str:
    """The user's text quoted for a message: cut short (a 10,000-character value would bury
    the message) and with control characters made visible."""
    visible = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(visible) <= _SHOWN_CHARS:
        return f"'{visible}'"
    return f"'{visible[: _SHOWN_CHARS - 3]}...' ({len(text):,} characters)"


def shorten_message(message: str) -> str:
    """An argparse message with long quoted values cut short (``invalid choice: '...'``)."""
    message = _LONG_QUOTED.sub(lambda m: shown(m.group(1)), message)
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 3] + "..."
    return message


def refuse(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


# --------------------------------------------------------------------------- numbers


def is_whole_text(text: str) -> bool:
    """``text`` is a whole number written with the digits 0-9 (spaces around allowed)."""
    stripped = text.strip()
    return len(stripped) <= MAX_NUMBER_CHARS and _WHOLE.fullmatch(stripped) is not None


def whole(text: str) -> int:
    """A whole number written with the digits 0-9, an optional sign, nothing else."""
    if not is_whole_text(text):
        raise refuse(f"{shown(text)} is not a whole number (write it with the digits 0-9)")
    return int(text.strip())


def decimal(text: str, unit: str) -> Decimal:
    """A plain decimal number (:func:`itbconsole.units.parse_decimal`) written with the digits
    0-9: no exponent, no grouping, no NaN or Infinity, no other script's digits."""
    if not text.isascii():
        raise refuse(f"{shown(text)} is not a number (write it with the digits 0-9)")
    if len(text.strip()) > MAX_NUMBER_CHARS:
        raise refuse(f"{shown(text)} is too long to be a number")
    try:
        return parse_decimal(text, field=unit)
    except QuantityError as exc:
        # argparse names the option; keep the parser's reason (not a number, ambiguous comma).
        raise refuse(str(exc).removeprefix(f"{unit}: ")) from None


def check_range(
    text: str,
    value: int | Decimal | Fraction,
    low: int | Decimal | None,
    high: int | Decimal | None,
    *,
    unit: str = "",
    why: str = "",
) -> None:
    """Refuse ``value`` outside ``low..high`` (None: no bound), saying which side and, when
    given, why that bound (``why``: "the drug library's highest daily dose")."""
    reason = f" ({why})" if why else ""
    if low is not None and high is not None and not low <= value <= high:
        raise refuse(f"{shown(text)} must be between {low} and {high}{unit}{reason}")
    if low is not None and value < low:
        raise refuse(f"{shown(text)} must be {low}{unit} or more")
    if high is not None and value > high:
        raise refuse(f"{shown(text)} must be {high}{unit} or less{reason}")


def whole_number(
    low: int, high: int | None, *, unit: str = "", why: str = ""
) -> Callable[[str], int]:
    """An argument type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        value = whole(text)
        check_range(text, value, low, high, unit=unit, why=why)
        return value

    parse.__name__ = "whole number"
    return parse


def u32_index(text: str) -> int:
    """A sequence number or index as the wire carries it: 0 to 2**32 - 1."""
    value = whole(text)
    check_range(text, value, 0, U32_MAX, why="the largest 32-bit value")
    return value


def baud_rate(text: str) -> int:
    """A standard serial baud rate (pyserial's list)."""
    value = whole(text)
    if value not in BAUD_RATES:
        raise refuse(
            f"{shown(text)} is not a standard baud rate; use one of "
            + ", ".join(str(rate) for rate in BAUD_RATES)
        )
    return value


# --------------------------------------------------------------------------- dates, times, zones


def _in_range(text: str, moment: datetime) -> None:
    aware = moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise refuse(
            f"{shown(text)} is outside {EARLIEST.date()} to {LATEST.date()} "
            "(the range of a pump clock)"
        )


def moment(*, zone_required: bool, example: str) -> Callable[[str], datetime]:
    """An argument type: an ISO 8601 date and time within the pump clock's range; with
    ``zone_required`` it must carry its UTC offset (else it is local time, applied later)."""

    def parse(text: str) -> datetime:
        try:
            if not text.isascii():
                raise ValueError(text)
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise refuse(
                f"{shown(text)} is not a date and time; write it as ISO 8601, for example {example}"
            ) from None
        if zone_required and value.utcoffset() is None:
            raise refuse(f"give the time zone too, for example {example}")
        _in_range(text, value)
        return value

    parse.__name__ = "date and time"
    return parse


def calendar_date(text: str) -> date:
    """A date written YYYY-MM-DD, within the pump clock's range."""
    try:
        if not text.isascii():
            raise ValueError(text)
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise refuse(
            f"{shown(text)} is not a date; write it as YYYY-MM-DD, for example 2026-08-14"
        ) from None
    if not EARLIEST.date() <= value <= LATEST.date():
        raise refuse(
            f"{shown(text)} is outside {EARLIEST.date()} to {LATEST.date()} "
            "(the range of a pump clock)"
        )
    return value


def zone(text: str) -> ZoneInfo:
    """An IANA time zone this computer knows (Europe/London)."""
    name = text.strip()
    try:
        if not name or not name.isascii():
            raise ValueError(text)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise refuse(
            f"{shown(text)} is not a known time zone (for example Europe/London)"
        ) from None


# --------------------------------------------------------------------------- free text


class Text:
    """An argument type for free text (a file path, a port, a name, a note): any characters
    but NUL, at least ``min_chars`` that are not spaces, at most ``max_chars``. No number is
    ever read from it."""

    def __init__(self, what: str, *, max_chars: int, min_chars: int = 1) -> None:
        self.what = what
        self.max_chars = max_chars
        self.min_chars = min_chars
        self.__name__ = what

    def __call__(self, text: str) -> str:
        if "\x00" in text:
            raise refuse(f"{self.what} cannot contain a NUL character")
        if len(text.strip()) < self.min_chars:
            raise refuse(f"enter {self.what}")
        if len(text) > self.max_chars:
            raise refuse(
                f"{shown(text)} is too long for {self.what} (at most {self.max_chars:,} characters)"
            )
        return text

    def __repr__(self) -> str:
        return f"Text({self.what!r})"


#: A file path (the database, a backup, a state file).
PATH = Text("a file path", max_chars=MAX_PATH_CHARS)
#: A serial port name or pyserial URL.
PORT = Text("a serial port or pyserial URL", max_chars=MAX_PATH_CHARS)


def ANCHOR(text: str) -> str:
    """An audit head taken earlier: ``SEQ:HASH`` with at least 8 hex digits of the hash
    (``#1234 3f2a9c1d`` as printed on records is accepted too); the store's own parser."""
    from itbconsole.store.audit import parse_anchor

    try:
        seq, digest = parse_anchor(text)
    except ValueError:
        raise refuse(
            f"{shown(text)} is not an audit anchor: write SEQ:HASH with at least 8 hex digits, "
            "e.g. 1234:3f2a9c1d (as printed on records)"
        ) from None
    return f"{seq}:{digest}"


def existing_database(args: argparse.Namespace) -> Path | None:
    """The database a command works on (``--db``, ``$ITBCONSOLE_DB`` or the data folder's),
    or None after saying there is none: only ``db init`` and the app create one."""
    from itbconsole.paths import default_db_path

    path = default_db_path(getattr(args, "db", None))
    if not path.exists():
        print(
            f"There is no database at {path}. Pass --db PATH, or run 'itbconsole db init'.",
            file=sys.stderr,
        )
        return None
    return path


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """``--db PATH`` on a command, as for the app (the top-level ``--db`` when not given)."""
    parser.add_argument(
        "--db",
        metavar="PATH",
        type=PATH,
        default=argparse.SUPPRESS,
        help="database file (as for the app)",
    )
