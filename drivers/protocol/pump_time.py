"""The pump's clock and dates on the wire: seconds and days since 2000-01-01, kept on UTC.

Separate because time is a concept of its own (docs/protocol.md, "Time"): the console's
clock check, the CLI's date limits and the message fields all convert through here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from drivers.protocol.errors import EncodeError

PUMP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NO_DATE = 0xFFFF


def pump_seconds(moment: datetime) -> int:
    """Pump clock value (whole seconds since 2000-01-01 00:00:00 on the pump's clock, which
    the console keeps on UTC) for an aware datetime."""
    if moment.tzinfo is None:
        raise EncodeError("pump clock conversion needs a timezone-aware time")
    delta = moment.astimezone(UTC) - PUMP_EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise EncodeError(f"{moment.isoformat()} is outside the pump clock range")
    return seconds


def pump_datetime(seconds: int) -> datetime:
    """Inverse of :func:`pump_seconds`: the pump's clock reading as an aware UTC datetime."""
    return PUMP_EPOCH + timedelta(seconds=seconds)


def pump_days(day: date) -> int:
    n = (day - PUMP_EPOCH.date()).days
    if not 0 <= n < NO_DATE:
        raise EncodeError(f"{day.isoformat()} is outside the pump date range")
    return n


def pump_date(days: int) -> date:
    return PUMP_EPOCH.date() + timedelta(days=days)
