"""What can bound the refill-by date and where a battery date comes from: the refill
bounds (alarm minus margin, the fill's maximum interval, vial expiry, End of Service) and
the ERI and End of Service dates, reported, observed or projected.

Separate because the governing bound is said in words on every screen, and the battery
dates must never be later than the truth can be.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from itbconsole.display import fmt_day
from itbconsole.forecast.facts import Fill, PumpFacts
from itbconsole.settings import ClinicSettings


class Bound(enum.Enum):
    """What can set the refill-by date."""

    ALARM = "alarm"
    INTERVAL = "interval"
    EXPIRY = "expiry"
    END_OF_SERVICE = "end_of_service"


class DateSource(enum.Enum):
    """Where an ERI or End of Service date comes from."""

    REPORTED = "reported by the pump"
    OBSERVED = "first reading that showed it"
    PROJECTED = "projected"


@dataclass(frozen=True)
class RefillBound:
    kind: Bound
    day: date
    text: str
    """In words, for the screen: "vial expires 15 Jan 2027"."""


@dataclass(frozen=True)
class DatedEvent:
    """ERI or End of Service with where the date comes from."""

    day: date
    source: DateSource
    note: str

    @property
    def projected(self) -> bool:
        return self.source is DateSource.PROJECTED


def local_day(moment: datetime, settings: ClinicSettings) -> date:
    """The clinic's calendar date of ``moment`` (in the clinic's zone)."""
    return moment.astimezone(settings.tz).date()


def refill_bounds(
    fill: Fill | None,
    alarm_day: date | None,
    eos: DatedEvent | None,
    settings: ClinicSettings,
    facts: PumpFacts,
) -> list[RefillBound]:
    """Every bound on the refill-by date that applies, each said in words: the alarm date
    minus the clinic's margin, the fill date plus the drug's maximum interval, the vial's
    expiry and the day before End of Service."""
    out: list[RefillBound] = []
    margin = settings.refill_margin_days
    if alarm_day is not None:
        out.append(
            RefillBound(
                Bound.ALARM,
                alarm_day - timedelta(days=margin),
                f"low-reservoir alarm on {fmt_day(alarm_day)} minus the clinic's "
                f"{margin}-day margin",
            )
        )
    if fill is not None:
        interval = fill.max_interval_days or facts.fallback_max_interval_days
        if interval is not None:
            filled = local_day(fill.at, settings)
            whose = (
                fill.product if fill.max_interval_days is not None else "the shortest-lived product"
            )
            out.append(
                RefillBound(
                    Bound.INTERVAL,
                    filled + timedelta(days=interval),
                    f"{whose} may stay in the pump {interval} days from the fill on "
                    f"{fmt_day(filled)}",
                )
            )
        out.append(RefillBound(Bound.EXPIRY, fill.expiry, f"vial expires {fmt_day(fill.expiry)}"))
    if eos is not None:
        # On its End of Service day the pump may stop: the last safe day is the day before
        # (a bound on the End of Service day itself would be one day later than the truth).
        label = "projected" if eos.projected else "reported by the pump"
        out.append(
            RefillBound(
                Bound.END_OF_SERVICE,
                replace_by(eos.day),
                f"End of Service on {fmt_day(eos.day)}, {label}: the pump may stop that day",
            )
        )
    return out


def replace_by(eos_day: date) -> date:
    """The last safe day of a pump whose End of Service is ``eos_day``: the day before (on
    its End of Service day the pump may stop)."""
    return eos_day - timedelta(days=1)


def action_by(governing: Bound | None) -> str:
    """What must be done by the refill-by date, as the start of a sentence: "Replace the
    pump" when End of Service sets it (no refill moves End of Service), else "Refill"."""
    return "Replace the pump" if governing is Bound.END_OF_SERVICE else "Refill"


def pump_day_here(day: date, settings: ClinicSettings) -> date:
    """The clinic's date on which a day of the pump's clock (UTC, docs/protocol.md) may
    begin: west of UTC the pump's day begins the evening before, so its End of Service may
    come then (the earlier of the two dates)."""
    return min(day, local_day(datetime.combine(day, time(0), UTC), settings))


def battery_dates(
    facts: PumpFacts, settings: ClinicSettings
) -> tuple[DatedEvent | None, DatedEvent | None]:
    """ERI and End of Service: the pump's own dates when it reports them (ERI: the earlier
    of the pump's date and the first reading that showed it); End of Service projected
    only when the pump gives none, from the last reading before ERI showed + the clinic's
    days (the earlier of calendar days from its local date and whole days from its
    instant), so never later than the truth can be."""
    span = settings.eri_to_eos
    reported = facts.battery_report
    eri: DatedEvent | None = None
    eos: DatedEvent | None = None
    if reported is not None and reported[0] is not None:
        eri = DatedEvent(
            pump_day_here(reported[0], settings),
            DateSource.REPORTED,
            "ERI date reported by the pump",
        )
    if reported is not None and reported[1] is not None:
        eos = DatedEvent(
            pump_day_here(reported[1], settings),
            DateSource.REPORTED,
            "End of Service date reported by the pump",
        )
    seen: DatedEvent | None = None
    if facts.eri_window is not None:
        before, first = facts.eri_window
        seen = DatedEvent(
            local_day(first, settings),
            DateSource.OBSERVED,
            f"ERI first shown by the reading of {fmt_day(local_day(first, settings))}",
        )
        if eri is None or seen.day < eri.day:
            eri = seen
    if eri is None:
        return None, eos
    projected: DatedEvent | None = None
    if eri.source is DateSource.REPORTED:
        projected = DatedEvent(
            eri.day + span,
            DateSource.PROJECTED,
            f"projected: the pump's ERI date + {settings.eri_to_eos_days} days",
        )
    elif facts.eri_window is not None:
        before, first = facts.eri_window
        if before is not None:
            # ERI came after ``before``: End of Service is no earlier than ``before`` + the
            # span as an instant, nor than its local date + the span in calendar days. The
            # two differ by a day across a clock change, each way: the earlier is shown.
            projected = DatedEvent(
                min(local_day(before, settings) + span, local_day(before + span, settings)),
                DateSource.PROJECTED,
                f"projected: ERI came after the reading of "
                f"{fmt_day(local_day(before, settings))} (the last without it) + "
                f"{settings.eri_to_eos_days} days; it cannot be later",
            )
    # The pump's own End of Service date is the truth for it (domain.md): a projection
    # stands in only when the pump gives none.
    if eos is None:
        eos = projected
    return eri, eos
