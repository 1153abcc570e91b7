"""The forecast: the one home of every date and status a nurse acts on.

Why one module: the alarm date, the refill-by date, End of Service, "is it delivering" and
the urgency used to be computed in seven places that disagreed, and some dates were later
than the truth (the fault behind FDA recall Z-1338-2012). Every screen, printout, query and
command now reads :func:`forecast` (and :func:`status_on` for the status on a given day);
nothing else computes a date or a status.

The rule, in words (docs/dosing.md, "The forecast"):

* **Anchor**: the latest known reservoir volume: the latest interrogation (the pump's own
  estimate) or a confirmed refill recorded after it (the volume added).
* **Program in force**: the anchor's program, then every verified program change after the
  anchor, each from its own time. A bridge bolus after a concentration change drains the
  dead volume at the old concentration's rate first; a single or priming bolus counts once,
  when it happens.
* **Low-reservoir alarm**: the earliest of two walks from the anchor to the alarm volume:
  (a) the domain formula, every program at its maximum daily volume (every allowed patient
  bolus counted, spread over the day), and (b) the program's exact schedule on the pump
  clock (UTC) with the whole day's patient-bolus allowance taken at the start of each
  pump-clock day. Each is never later than a pump that follows its program, so their
  earliest is neither.
* **Refill by**: the earliest of (alarm date - the clinic's margin), (fill date + the drug's
  maximum interval in the pump, from the fill, never from a later interrogation), the vial's
  expiry and End of Service; the governing bound is said in words.
* **ERI / End of Service**: the pump's own dates when it reports them; otherwise, once a
  reading shows ERI, End of Service is projected from the last reading *before* ERI showed
  (+ the clinic's ERI-to-EOS days), labelled as a projection.
* **Status on a day**: not delivering / overdue / due soon / ok, with its reason.

All instants are UTC and exact; calendar dates are in the clinic's zone.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from itbconsole import dosing
from itbconsole.alarms import Severity, describe
from itbconsole.display import fmt_day
from itbconsole.model import (
    BolusGiven,
    ChangeOutcome,
    Mode,
    Program,
    ProgramChange,
    ProgramSegment,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
)
from itbconsole.settings import ClinicSettings
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML

#: Flex schedules follow the pump's own clock, which protocol v1 keeps on UTC
#: (docs/protocol.md, "Time"). Every delivery integral in the console uses this zone.
PUMP_CLOCK = UTC
#: A forecast walks no further than this: a program that takes longer to reach the alarm
#: volume has no alarm date worth showing (the drug's maximum interval governs long before).
HORIZON = timedelta(days=3660)


class Bound(enum.Enum):
    """What can set the refill-by date."""

    ALARM = "alarm"
    INTERVAL = "interval"
    EXPIRY = "expiry"
    END_OF_SERVICE = "end_of_service"


class Status(enum.Enum):
    """A patient's refill status on a given day, most urgent first."""

    NOT_DELIVERING = "not_delivering"
    ATTENTION = "attention"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    NO_DATA = "no_data"
    OK = "ok"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


_RANK = {status: n for n, status in enumerate(Status)}

STATUS_LABELS = {
    Status.NOT_DELIVERING: "Not delivering",
    Status.ATTENTION: "Check the pump",
    Status.OVERDUE: "Overdue",
    Status.DUE_SOON: "Due soon",
    Status.OK: "On track",
    Status.NO_DATA: "No reading",
}


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


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Fill:
    """A confirmed refill as the forecast needs it."""

    at: datetime
    volume_ul: int
    concentration_mcg_ml: int
    product: str
    expiry: date
    max_interval_days: int | None
    bridge_ul: int = 0
    bridge_from_mcg_ml: int = 0
    """Concentration in the pump's line before the fill (the bridge pushes it out)."""


@dataclass(frozen=True)
class PumpFacts:
    """Everything about one pump the forecast reads. Build it with :func:`facts_from`."""

    serial: str
    alarm_volume_ul: int
    readings: tuple[Reading, ...] = ()
    fills: tuple[Fill, ...] = ()
    changes: tuple[ProgramChange, ...] = ()
    """Verified (succeeded) program changes, oldest first."""
    uncertain: tuple[ProgramChange, ...] = ()
    """Program changes whose outcome is not known yet: the dates are those of the worse case,
    with or without them, until an interrogation settles them."""
    battery_report: tuple[date | None, date | None] | None = None
    eri_window: tuple[datetime | None, datetime] | None = None
    """(last reading without ERI before it showed, first reading showing ERI)."""
    fallback_max_interval_days: int | None = None
    """The shortest interval of any refill product: used when the fill's product is unknown."""

    @property
    def latest_reading(self) -> Reading | None:
        return self.readings[-1] if self.readings else None

    @property
    def latest_fill(self) -> Fill | None:
        return self.fills[-1] if self.fills else None


BridgeLookup = Callable[[Refill], tuple[int, int]]
IntervalLookup = Callable[[str, int], int | None]


def fill_from_refill(
    refill: Refill, max_interval_days: int | None, bridge: tuple[int, int] = (0, 0)
) -> Fill:
    return Fill(
        at=refill.at,
        volume_ul=refill.added_ul,
        concentration_mcg_ml=refill.concentration_mcg_ml,
        product=refill.product,
        expiry=refill.expiry,
        max_interval_days=max_interval_days,
        bridge_ul=bridge[0],
        bridge_from_mcg_ml=bridge[1],
    )


def facts_from(
    serial: str,
    alarm_volume_ul: int,
    readings: Iterable[Reading],
    refills: Iterable[Refill],
    changes: Iterable[ProgramChange],
    *,
    interval_of: IntervalLookup,
    bridge_of: BridgeLookup | None = None,
    battery_report: tuple[date | None, date | None] | None = None,
    fallback_max_interval_days: int | None = None,
) -> PumpFacts:
    """The forecast's inputs for pump ``serial`` from its records (any order, any pump:
    other pumps' records are ignored). Only confirmed refills are fills; succeeded program
    changes are in force; uncertain ones are kept apart (the forecast takes the worse case)."""
    mine = sorted((r for r in readings if r.pump_serial == serial), key=lambda r: (r.at, r.id or 0))
    fills = tuple(
        fill_from_refill(
            r,
            interval_of(r.product, r.concentration_mcg_ml),
            bridge_of(r) if bridge_of else (0, 0),
        )
        for r in sorted(refills, key=lambda r: (r.at, r.id or 0))
        if r.pump_serial == serial and r.status == RefillStatus.CONFIRMED
    )
    mine_changes = sorted(
        (c for c in changes if c.pump_serial == serial), key=lambda c: (c.at, c.id or 0)
    )
    done = tuple(c for c in mine_changes if c.outcome == ChangeOutcome.SUCCEEDED)
    open_changes = tuple(c for c in mine_changes if c.outcome == ChangeOutcome.UNCERTAIN)
    window: tuple[datetime | None, datetime] | None = None
    for i, reading in enumerate(mine):
        if reading.eri:
            window = (mine[i - 1].at if i > 0 else None, reading.at)
            break
    return PumpFacts(
        serial=serial,
        alarm_volume_ul=alarm_volume_ul,
        readings=tuple(mine),
        fills=fills,
        changes=done,
        uncertain=open_changes,
        battery_report=battery_report,
        eri_window=window,
        fallback_max_interval_days=fallback_max_interval_days,
    )


def with_reading(facts: PumpFacts, reading: Reading) -> PumpFacts:
    """The same pump with an interrogation that is not stored yet (the refill's identify)."""
    return replace(facts, readings=tuple(sorted((*facts.readings, reading), key=lambda r: r.at)))


def with_fill(facts: PumpFacts, fill: Fill) -> PumpFacts:
    """The same pump as if ``fill`` had been confirmed (the refill review's "after")."""
    return replace(facts, fills=tuple(sorted((*facts.fills, fill), key=lambda f: f.at)))


def with_change(facts: PumpFacts, at: datetime, old: Program, new: Program, conc: int) -> PumpFacts:
    """The same pump as if ``new`` had been sent and verified at ``at`` (program review)."""
    change = ProgramChange(facts.serial, at, old, new, conc, reason="(pending review)")
    return replace(facts, changes=tuple(sorted((*facts.changes, change), key=lambda c: c.at)))


# --------------------------------------------------------------------------- the forecast


@dataclass(frozen=True)
class Forecast:
    """One pump's dates and what they rest on. ``status_on(today)`` gives the status."""

    serial: str
    settings: ClinicSettings
    has_data: bool
    anchor_at: datetime | None
    anchor_volume_ul: int | None
    anchor_kind: str
    """"reading" (the pump's estimate) or "refill" (the volume added)."""
    alarm_volume_ul: int
    program: Program | None
    """The program in force after the last verified change."""
    concentration_mcg_ml: int | None
    delivering: bool
    not_delivering_reason: str
    max_daily_volume_ul: Fraction
    alarm_at: datetime | None
    alarm_day: date | None
    alarm_rule: str
    """Which walk set the alarm instant, in words."""
    refill_by: date | None
    governing: RefillBound | None
    bounds: tuple[RefillBound, ...]
    fill: Fill | None
    eri: DatedEvent | None
    end_of_service: DatedEvent | None
    derivation: str
    notes: tuple[str, ...] = field(default=())
    empty_at: datetime | None = None
    """When the reservoir would be empty at the maximum daily volume after the alarm."""
    attention: tuple[str, ...] = ()
    """Sentences saying why the pump needs checking now: urgent alarms on the last
    interrogation that do not stop delivery (reset, memory fault, unknown codes), a
    concentration that differs from the records."""
    low_alarm_on: bool = False
    """The pump's own low-reservoir alarm was on at the last interrogation."""
    uncertain: bool = False
    """A program change with an unknown outcome: the dates are the worse case."""

    @property
    def refill_by_reason(self) -> str:
        return self.governing.text if self.governing else self.not_delivering_reason

    def status_on(self, today: date) -> StatusOn:
        return status_on(self, today)

    def summary(self) -> ForecastSummary:
        return ForecastSummary(
            serial=self.serial,
            has_data=self.has_data,
            delivering=self.delivering,
            not_delivering_reason=self.not_delivering_reason,
            anchor_at=self.anchor_at,
            alarm_at=self.alarm_at,
            alarm_day=self.alarm_day,
            refill_by=self.refill_by,
            governing=self.governing.kind if self.governing else None,
            governing_text=self.governing.text if self.governing else "",
            eri_day=self.eri.day if self.eri else None,
            eri_source=self.eri.source if self.eri else None,
            eos_day=self.end_of_service.day if self.end_of_service else None,
            eos_source=self.end_of_service.source if self.end_of_service else None,
            due_soon_days=self.settings.due_soon_days,
            note=self.notes[0] if self.notes else "",
            empty_day=_day(self.empty_at, self.settings) if self.empty_at else None,
            attention=self.attention,
            low_alarm_on=self.low_alarm_on,
            uncertain=self.uncertain,
        )


@dataclass(frozen=True)
class StatusOn:
    status: Status
    reason: str
    days_to_refill: int | None
    days_to_alarm: int | None


def _day(moment: datetime, settings: ClinicSettings) -> date:
    return moment.astimezone(settings.tz).date()




def _in_force_at(facts: PumpFacts, at: datetime) -> tuple[Program, datetime | None, int] | None:
    """(program, when it began, concentration) in force at ``at``: the latest of the last
    reading and the verified changes at or before it. When it began is known only from a
    change that set it (a single bolus of unknown start is counted whole: early, not late)."""
    known: list[tuple[datetime, int, Program, int]] = []
    before = [r for r in facts.readings if r.at <= at]
    if before:
        r = before[-1]
        known.append((r.at, 0, r.program, r.concentration_mcg_ml))
    for c in facts.changes:
        if c.at <= at:
            known.append((c.at, 1, c.new, c.concentration_mcg_ml))
    if not known:
        return None
    known.sort(key=lambda k: (k[0], k[1]))
    program = known[-1][2]
    began = next((c.at for c in reversed(facts.changes) if c.at <= at and c.new == program), None)
    return program, began, known[-1][3]


def forecast(facts: PumpFacts, settings: ClinicSettings) -> Forecast:
    """The forecast for one pump (see the module docstring for the rule). With program
    changes of unknown outcome, the worse of the forecasts with and without them: the one
    that stops delivery, else the one with the earlier alarm (the other bounds are the same
    in both, so it also has the earlier refill-by date)."""
    base = _forecast_one(facts, settings)
    if not facts.uncertain:
        return base
    changes = tuple(sorted((*facts.changes, *facts.uncertain), key=lambda c: (c.at, c.id or 0)))
    alt = _forecast_one(replace(facts, changes=changes, uncertain=()), settings)
    worse = base
    if base.delivering and (not alt.delivering or _earlier(alt.alarm_at, base.alarm_at)):
        worse = alt
    when = ", ".join(f"{fmt_day(_day(c.at, settings))}" for c in facts.uncertain)
    note = (
        f"A program change sent on {when} has an unknown outcome: the dates shown are the "
        "worse of with and without it. Interrogate the pump to settle it."
    )
    why = worse.not_delivering_reason
    if worse is alt and not alt.delivering and base.delivering:
        why = f"The program change of unknown outcome ({when}) may have stopped delivery: {why}"
    return replace(worse, notes=(note, *worse.notes), uncertain=True, not_delivering_reason=why)


def _earlier(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a < b)


def _forecast_one(facts: PumpFacts, settings: ClinicSettings) -> Forecast:
    reading = facts.latest_reading
    fill = facts.latest_fill
    alarm_ul = reading.alarm_volume_ul if reading is not None else facts.alarm_volume_ul
    eri, eos = _battery_dates(facts, settings)
    if reading is None and fill is None:
        return _no_data(facts, settings, alarm_ul, eri, eos)
    notes: list[str] = []
    if reading is not None and (fill is None or reading.at > fill.at):
        anchor_at, volume, kind = reading.at, reading.reservoir_ul, "reading"
        conc = reading.concentration_mcg_ml
        # The pump's own report of its program wins; it began with the latest verified
        # change that set it (unknown otherwise: a single bolus is then counted whole).
        program = reading.program
        began = next(
            (c.at for c in reversed(facts.changes) if c.at <= reading.at and c.new == program),
            None,
        )
    else:
        assert fill is not None
        anchor_at, volume, kind = fill.at, fill.volume_ul, "refill"
        conc = fill.concentration_mcg_ml
        in_force = _in_force_at(facts, fill.at)
        if in_force is None:
            program, began = None, None
            notes.append("No program is on record for this pump: interrogate it.")
        else:
            program, began, _ = in_force
    # A change at the anchor's very instant was sent after that read (a review sends at the
    # state's read time when no clock is given).
    later = [
        c for c in facts.changes if c.at > anchor_at or (c.at == anchor_at and c.new != program)
    ]
    final_program = later[-1].new if later else program
    final_conc = later[-1].concentration_mcg_ml if later else conc
    delivering, why_not = _delivering(facts, reading, anchor_at, final_program)
    segments = _segments_from(anchor_at, program, began, conc, later)
    bridge = _bridge_at(facts, fill, anchor_at)
    alarm_at: datetime | None = None
    alarm_rule = ""
    max_ul = Fraction(0)
    if final_program is not None and final_conc is not None:
        max_ul = dosing.max_daily_dose_mcg(final_program) * UL_PER_ML / final_conc
    if delivering and segments:
        alarm_at, alarm_rule = _alarm_instant(anchor_at, volume, alarm_ul, segments, bridge)
        if alarm_at is None:
            delivering_note = "The program delivers too little to reach the alarm volume."
            notes.append(delivering_note)
    alarm_day = _day(alarm_at, settings) if alarm_at is not None else None
    empty_at = None
    if alarm_at is not None and max_ul > 0:
        after = Fraction(min(alarm_ul, volume)) / max_ul
        empty_at = dosing.alarm_instant(alarm_at, after)
    attention: tuple[str, ...] = ()
    low_on = False
    if reading is not None and reading.at >= anchor_at:
        low_on = "low_reservoir" in reading.alarms
        titles = [
            describe(code).title
            for code in reading.alarms
            if describe(code).severity is Severity.URGENT and not describe(code).stops_delivery
        ]
        if titles:
            attention += (
                f"Alarm at the last interrogation: {', '.join(titles)}. Check the pump and its "
                "program, and interrogate it again.",
            )
    if (
        reading is not None
        and fill is not None
        and reading.at > fill.at
        and reading.concentration_mcg_ml != fill.concentration_mcg_ml
    ):
        ratio = Fraction(reading.concentration_mcg_ml, fill.concentration_mcg_ml)
        effect = (
            f"{float(ratio):g} times the prescribed dose"
            if ratio > 1
            else f"only {float(ratio * 100):g} % of the prescribed dose (withdrawal risk)"
        )
        attention += (
            f"The pump says {reading.concentration_mcg_ml} mcg/mL; the records say "
            f"{fill.concentration_mcg_ml} mcg/mL. The patient may be getting {effect}. "
            "Programming is blocked until a clinician finds which is right (a refill "
            "records the concentration with the explanation).",
        )
    bounds = _bounds(fill, alarm_day, eos, settings, facts)
    governing = min(bounds, key=lambda b: (b.day, list(Bound).index(b.kind))) if bounds else None
    refill_by = governing.day if governing else None
    derivation = _derivation(
        kind,
        anchor_at,
        volume,
        alarm_ul,
        max_ul,
        alarm_at,
        settings,
        why_not,
        schedule_first=alarm_rule.startswith("the program's own schedule"),
        adjusted=len(segments) > 1
        or bridge is not None
        or (program is not None and program.mode is Mode.SINGLE_BOLUS),
    )
    if fill is None:
        notes.append(
            "No refill is on record for this pump, so the drug's maximum time in the pump and "
            "the vial's expiry cannot be counted: record the next refill in the console."
        )
    return Forecast(
        serial=facts.serial,
        settings=settings,
        has_data=True,
        anchor_at=anchor_at,
        anchor_volume_ul=volume,
        anchor_kind=kind,
        alarm_volume_ul=alarm_ul,
        program=final_program,
        concentration_mcg_ml=final_conc,
        delivering=delivering,
        not_delivering_reason=why_not,
        max_daily_volume_ul=max_ul,
        alarm_at=alarm_at,
        alarm_day=alarm_day,
        alarm_rule=alarm_rule,
        refill_by=refill_by,
        governing=governing,
        bounds=tuple(bounds),
        fill=fill,
        eri=eri,
        end_of_service=eos,
        derivation=derivation,
        notes=tuple(notes),
        empty_at=empty_at,
        attention=attention,
        low_alarm_on=low_on,
    )


def _no_data(
    facts: PumpFacts,
    settings: ClinicSettings,
    alarm_ul: int,
    eri: DatedEvent | None,
    eos: DatedEvent | None,
) -> Forecast:
    bounds = _bounds(None, None, eos, settings, facts)
    governing = min(bounds, key=lambda b: b.day) if bounds else None
    return Forecast(
        serial=facts.serial,
        settings=settings,
        has_data=False,
        anchor_at=None,
        anchor_volume_ul=None,
        anchor_kind="",
        alarm_volume_ul=alarm_ul,
        program=None,
        concentration_mcg_ml=None,
        delivering=False,
        not_delivering_reason="Not interrogated yet: no reading of this pump is on record.",
        max_daily_volume_ul=Fraction(0),
        alarm_at=None,
        alarm_day=None,
        alarm_rule="",
        refill_by=governing.day if governing else None,
        governing=governing,
        bounds=tuple(bounds),
        fill=None,
        eri=eri,
        end_of_service=eos,
        derivation="No reading of this pump yet: interrogate it to see its dates.",
    )


def _delivering(
    facts: PumpFacts, reading: Reading | None, anchor_at: datetime, program: Program | None
) -> tuple[bool, str]:
    """Whether the pump delivers now, and if not, why (in words)."""
    if reading is not None and reading.eos:
        return False, "The battery is at End of Service: the pump has stopped delivering."
    if (
        reading is not None
        and reading.at > anchor_at - timedelta(microseconds=1)
        and not (facts.latest_fill is not None and facts.latest_fill.at >= reading.at)
    ):
        for code in reading.alarms:
            info = describe(code)
            if info.stops_delivery:
                return False, f"{info.title}: the pump is not delivering."
    elif reading is not None:
        # A refill since clears an empty reservoir, but not a stalled motor.
        for code in reading.alarms:
            info = describe(code)
            if info.stops_delivery and code != "reservoir_empty":
                return False, f"{info.title}: the pump is not delivering."
    if program is None:
        return False, "No program is on record for this pump."
    if program.mode is Mode.STOPPED:
        return False, "The pump is stopped: it delivers no drug."
    days = range(7) if program.mode is Mode.FLEX else (None,)
    if max(dosing.program_daily_dose_mcg(program, d) for d in days) <= 0:
        if program.mode is Mode.SINGLE_BOLUS:
            return False, "After its single bolus the program delivers nothing."
        return False, (
            "The program delivers no continuous dose: apart from patient boluses the patient "
            "receives no baclofen."
        )
    return True, ""


# --------------------------------------------------------------------------- the alarm walks

_Seg = tuple[datetime, Program, datetime | None, int]  # start, program, began, concentration


def _segments_from(
    anchor_at: datetime,
    program: Program | None,
    began: datetime | None,
    conc: int,
    later: Sequence[ProgramChange],
) -> list[_Seg]:
    if program is None:
        return []
    segs: list[_Seg] = [(anchor_at, program, began, conc)]
    for c in later:
        segs.append((c.at, c.new, c.at, c.concentration_mcg_ml))
    return segs


@dataclass(frozen=True)
class _Bridge:
    remaining_ul: Fraction
    old_mcg_ml: int


def _bridge_at(facts: PumpFacts, fill: Fill | None, anchor_at: datetime) -> _Bridge | None:
    """What is left of the latest fill's bridge at the anchor.

    At the fill itself: the whole bridge. At a later reading: the bridge less what the
    programs in force since the fill pushed (continuous delivery only, so the remainder is
    never under-counted). A bridge to a *stronger* drug drains the reservoir faster while it
    lasts, so a remainder counted in full errs early; a bridge to a weaker drug drains it
    slower, so there the remainder is left out (also early)."""
    if fill is None or fill.bridge_ul <= 0 or fill.bridge_from_mcg_ml <= 0:
        return None
    left = Fraction(fill.bridge_ul)
    old = fill.bridge_from_mcg_ml
    if anchor_at > fill.at:
        if old >= fill.concentration_mcg_ml:
            return None
        timeline = ProgramTimeline(
            [r for r in facts.readings if r.at <= anchor_at],
            [c for c in facts.changes if c.at <= anchor_at],
        )
        segments, _notes = timeline.segments(fill.at, anchor_at)
        for k, seg in enumerate(segments):
            end = segments[k + 1].start if k + 1 < len(segments) else anchor_at
            for lo, hi, rate in dosing.program_rate_pieces(
                _as_continuous(seg.program), seg.start, end, PUMP_CLOCK
            ):
                left -= rate * UL_PER_ML / old * _secs(lo, hi)
        if left <= 0:
            return None
    return _Bridge(left, old)


def _one_off_mcg(program: Program, began: datetime | None, lo: datetime) -> Fraction:
    """What is left of a single bolus at ``lo`` (all of it when its start is unknown)."""
    if program.mode is not Mode.SINGLE_BOLUS:
        return Fraction(0)
    total = Fraction(program.bolus_dose_mcg)
    if began is None or began >= lo:
        return total
    end = began + timedelta(minutes=program.bolus_duration_minutes)
    if end <= lo:
        return Fraction(0)
    left = Fraction(int((end - lo).total_seconds()), program.bolus_duration_minutes * 60)
    return total * min(left + Fraction(1, program.bolus_duration_minutes * 60), Fraction(1))


def _secs(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b."""
    d = b - a
    return Fraction(d.days * SECONDS_PER_DAY + d.seconds) + Fraction(d.microseconds, 10**6)


def _drain(
    start: datetime,
    pieces: Sequence[tuple[datetime, datetime, Fraction]],
    points: Sequence[tuple[datetime, Fraction]],
    conc_at: Callable[[datetime], int],
    bridge: _Bridge | None,
    target_ul: Fraction,
) -> datetime | None:
    """The first instant at which the volume drained from ``start`` reaches ``target_ul``.

    ``pieces`` are (from, to, mcg per second) in time order; ``points`` instant amounts
    (mcg). While a bridge is clearing, drug leaves at the old concentration's volume per
    mcg; after it, at the concentration in force. Exact; rounded down to the whole second
    (early rather than late)."""
    if target_ul <= 0:
        return start.replace(microsecond=0)
    drained = Fraction(0)
    left = bridge.remaining_ul if bridge else Fraction(0)
    old = bridge.old_mcg_ml if bridge else 0
    timeline: list[tuple[Fraction, int, Fraction, Fraction, int]] = []
    cuts = sorted({_secs(start, p_at) for p_at, mcg in points if mcg > 0})
    for p_lo, p_hi, rate in pieces:
        if p_hi > p_lo and rate > 0:
            # Split each piece at the instants of the amounts given at once, so the walk
            # meets everything in time order.
            lo_s, hi_s, conc = _secs(start, p_lo), _secs(start, p_hi), conc_at(p_lo)
            k = bisect.bisect_right(cuts, lo_s)
            while k < len(cuts) and cuts[k] < hi_s:
                timeline.append((lo_s, 1, cuts[k], rate, conc))
                lo_s = cuts[k]
                k += 1
            timeline.append((lo_s, 1, hi_s, rate, conc))
    for p_at, mcg in points:
        if mcg > 0:
            timeline.append((_secs(start, p_at), 0, Fraction(0), mcg, conc_at(p_at)))
    timeline.sort(key=lambda t: (t[0], t[1]))
    for lo, kind, hi, value, conc in timeline:
        if kind == 0:  # an amount given at once
            per_mcg = Fraction(UL_PER_ML, old if left > 0 else conc)
            ul = value * per_mcg
            if left > 0 and ul > left:  # part old drug, part new
                ul = left + (value - left / per_mcg) * Fraction(UL_PER_ML, conc)
            left = max(Fraction(0), left - ul)
            drained += ul
            if drained >= target_ul:
                return _instant(start, lo)
            continue
        t = lo
        while t < hi:
            bridging = left > 0
            ul_per_s = value * UL_PER_ML / (old if bridging else conc)
            span = hi - t
            if bridging:
                span = min(span, left / ul_per_s)
            need = (target_ul - drained) / ul_per_s
            if need <= span:
                return _instant(start, t + need)
            drained += ul_per_s * span
            if bridging:
                left -= ul_per_s * span
            t += span
    return None


def _instant(start: datetime, seconds: Fraction) -> datetime:
    return dosing.alarm_instant(start.replace(microsecond=0), seconds / SECONDS_PER_DAY) or start


def _as_continuous(program: Program) -> Program:
    """A single-bolus program without its bolus (the walks count the bolus at once)."""
    if program.mode is not Mode.SINGLE_BOLUS:
        return program
    return Program(
        Mode.SIMPLE_CONTINUOUS,
        daily_dose_mcg=program.daily_dose_mcg,
        patient_bolus=program.patient_bolus,
    )


def _alarm_instant(
    anchor_at: datetime,
    volume_ul: int,
    alarm_ul: int,
    segments: Sequence[_Seg],
    bridge: _Bridge | None,
) -> tuple[datetime | None, str]:
    """The earliest of the two walks (formula and exact schedule); see the module doc."""
    target = Fraction(volume_ul - alarm_ul)
    if target <= 0:
        return anchor_at.replace(microsecond=0), "the reservoir is at or below the alarm volume"
    horizon = anchor_at + HORIZON

    def conc_at(moment: datetime) -> int:
        conc = segments[0][3]
        for start, _p, _b, c in segments:
            if start <= moment:
                conc = c
        return conc

    ends = [s[0] for s in segments[1:]] + [horizon]
    # (a) the formula: the maximum daily dose spread evenly, single boluses at once.
    pieces_a: list[tuple[datetime, datetime, Fraction]] = []
    points: list[tuple[datetime, Fraction]] = []
    for (start, program, began, _c), end in zip(segments, ends, strict=True):
        rate = dosing.max_daily_dose_mcg(program) / SECONDS_PER_DAY
        pieces_a.append((start, end, rate))
        one_off = _one_off_mcg(program, began, start)
        if one_off:
            points.append((max(start, began or start), one_off))
    formula = _drain(anchor_at, pieces_a, points, conc_at, bridge, target)
    # (b) the exact schedule on the pump clock, each day's bolus allowance at its start.
    limit = formula if formula is not None else horizon
    pieces_b: list[tuple[datetime, datetime, Fraction]] = []
    points_b = list(points)
    for (start, program, _began, _c), end in zip(segments, ends, strict=True):
        stop = min(end, limit + timedelta(seconds=1))
        if stop <= start:
            continue
        pieces_b += dosing.program_rate_pieces(_as_continuous(program), start, stop, PUMP_CLOCK)
        pb = program.patient_bolus
        if pb is not None and pb.max_per_day > 0:
            allowance = Fraction(pb.dose_mcg) * pb.max_per_day
            points_b.append((start, allowance))
            day = datetime.combine(
                start.astimezone(PUMP_CLOCK).date() + timedelta(days=1), time(0), PUMP_CLOCK
            )
            while day < stop:
                points_b.append((day, allowance))
                day += timedelta(days=1)
    exact = _drain(anchor_at, pieces_b, points_b, conc_at, bridge, target)
    if formula is None and exact is None:
        return None, ""
    if exact is not None and (formula is None or exact < formula):
        return exact, (
            "the program's own schedule with each day's patient boluses taken at once "
            "reaches the alarm volume first"
        )
    return formula, "maximum daily volume (every allowed patient bolus counted)"


# --------------------------------------------------------------------------- bounds and battery


def _bounds(
    fill: Fill | None,
    alarm_day: date | None,
    eos: DatedEvent | None,
    settings: ClinicSettings,
    facts: PumpFacts,
) -> list[RefillBound]:
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
            filled = _day(fill.at, settings)
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
        label = "projected" if eos.projected else "reported by the pump"
        out.append(
            RefillBound(
                Bound.END_OF_SERVICE, eos.day, f"End of Service on {fmt_day(eos.day)}, {label}"
            )
        )
    return out


def _battery_dates(
    facts: PumpFacts, settings: ClinicSettings
) -> tuple[DatedEvent | None, DatedEvent | None]:
    """ERI and End of Service: the pump's own dates when it reports them (ERI: the earlier
    of the pump's date and the first reading that showed it); End of Service projected
    only when the pump gives none, from the local date of the last reading before ERI
    showed + the clinic's days, so never later than the truth can be."""
    span = settings.eri_to_eos
    reported = facts.battery_report
    eri: DatedEvent | None = None
    eos: DatedEvent | None = None
    if reported is not None and reported[0] is not None:
        eri = DatedEvent(reported[0], DateSource.REPORTED, "ERI date reported by the pump")
    if reported is not None and reported[1] is not None:
        eos = DatedEvent(
            reported[1], DateSource.REPORTED, "End of Service date reported by the pump"
        )
    seen: DatedEvent | None = None
    if facts.eri_window is not None:
        before, first = facts.eri_window
        seen = DatedEvent(
            _day(first, settings),
            DateSource.OBSERVED,
            f"ERI first shown by the reading of {fmt_day(_day(first, settings))}",
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
            projected = DatedEvent(
                _day(before, settings) + span,
                DateSource.PROJECTED,
                f"projected: ERI came after the reading of "
                f"{fmt_day(_day(before, settings))} (the last without it) + "
                f"{settings.eri_to_eos_days} days; it cannot be later",
            )
    # The pump's own End of Service date is the truth for it (domain.md): a projection
    # stands in only when the pump gives none.
    if eos is None:
        eos = projected
    return eri, eos


def _derivation(
    kind: str,
    anchor_at: datetime,
    volume_ul: int,
    alarm_ul: int,
    max_ul: Fraction,
    alarm_at: datetime | None,
    settings: ClinicSettings,
    why_not: str,
    *,
    schedule_first: bool = False,
    adjusted: bool = False,
) -> str:
    """How the alarm date was found, in one line (the Overview's small print)."""
    if alarm_at is None:
        return why_not or "The program never reaches the alarm volume."
    source = "the reading" if kind == "reading" else "the refill"
    text = f"({volume_ul / UL_PER_ML:.2f} mL - {alarm_ul / UL_PER_ML:.2f} mL alarm)"
    if max_ul > 0:
        text += (
            f" / {float(max_ul) / UL_PER_ML:.3f} mL/day maximum = "
            f"{float(Fraction(volume_ul - alarm_ul) / max_ul):.1f} days"
        )
    text += f" from {source} of {fmt_day(_day(anchor_at, settings))}"
    if adjusted:
        text += ", with the program changes and boluses since counted when they happen"
    if schedule_first:
        text += "; a day sooner at most if every patient bolus is taken early in the day"
    return text + "."


# --------------------------------------------------------------------------- status


def status_on(fc: Forecast | ForecastSummary, today: date) -> StatusOn:
    """The status on ``today`` (the clinic's date), with its reason in words."""
    sm = fc.summary() if isinstance(fc, Forecast) else fc
    days_refill = (sm.refill_by - today).days if sm.refill_by is not None else None
    days_alarm = (sm.alarm_day - today).days if sm.alarm_day is not None else None
    if not sm.has_data:
        return StatusOn(Status.NO_DATA, sm.not_delivering_reason, days_refill, None)
    if not sm.delivering:
        return StatusOn(Status.NOT_DELIVERING, sm.not_delivering_reason, days_refill, None)
    if sm.eos_day is not None and sm.eos_day <= today:
        return StatusOn(
            Status.NOT_DELIVERING,
            f"End of Service date {fmt_day(sm.eos_day)}"
            + (" (projected)" if sm.eos_source is DateSource.PROJECTED else "")
            + " has passed: the pump may have stopped. Interrogate it now and replace it.",
            days_refill,
            days_alarm,
        )
    if sm.empty_day is not None and sm.empty_day <= today:
        return StatusOn(
            Status.NOT_DELIVERING,
            f"The reservoir is projected empty since {fmt_day(sm.empty_day)}: the pump may "
            "have stopped delivering. Interrogate and refill now.",
            days_refill,
            days_alarm,
        )
    if sm.attention:
        return StatusOn(Status.ATTENTION, " ".join(sm.attention), days_refill, days_alarm)
    if sm.low_alarm_on:
        return StatusOn(
            Status.OVERDUE,
            "The pump's own low-reservoir alarm is on: refill now.",
            days_refill,
            days_alarm,
        )
    if sm.alarm_day is not None and days_alarm is not None and days_alarm <= 0:
        return StatusOn(
            Status.OVERDUE,
            f"The low-reservoir alarm was due on {fmt_day(sm.alarm_day)}: refill now.",
            days_refill,
            days_alarm,
        )
    if sm.refill_by is not None and days_refill is not None and days_refill < 0:
        return StatusOn(
            Status.OVERDUE,
            f"Refill was due by {fmt_day(sm.refill_by)} ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    if sm.refill_by is not None and days_refill is not None and days_refill <= sm.due_soon_days:
        when = "today" if days_refill == 0 else f"in {days_refill} days"
        return StatusOn(
            Status.DUE_SOON,
            f"Refill by {fmt_day(sm.refill_by)}, {when} ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    if sm.eri_day is not None and sm.eri_day <= today:
        eos = (
            f" before End of Service on {fmt_day(sm.eos_day)}"
            if sm.eos_day
            else " now: its End of Service date is not known and could be close"
        )
        return StatusOn(
            Status.DUE_SOON,
            f"Past ERI: book the pump replacement{eos}. Refill by "
            + (fmt_day(sm.refill_by) if sm.refill_by else "-")
            + f" ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    reason = (
        f"Refill by {fmt_day(sm.refill_by)} ({sm.governing_text})."
        if sm.refill_by is not None
        else "No refill date: " + (sm.note or "nothing limits it.")
    )
    return StatusOn(Status.OK, reason, days_refill, days_alarm)


@dataclass(frozen=True)
class ForecastSummary:
    """The part of a :class:`Forecast` the clinic-wide list, worklist and queries need,
    small enough to keep per pump (table ``pump_forecast``). Made only by
    :meth:`Forecast.summary`, so it can never say something the forecast does not."""

    serial: str
    has_data: bool
    delivering: bool
    not_delivering_reason: str
    anchor_at: datetime | None
    alarm_at: datetime | None
    alarm_day: date | None
    refill_by: date | None
    governing: Bound | None
    governing_text: str
    eri_day: date | None
    eri_source: DateSource | None
    eos_day: date | None
    eos_source: DateSource | None
    due_soon_days: int
    note: str = ""
    empty_day: date | None = None
    attention: tuple[str, ...] = ()
    low_alarm_on: bool = False
    uncertain: bool = False

    def status_on(self, today: date) -> StatusOn:
        return status_on(self, today)

    def to_json(self) -> dict[str, object]:
        def d(v: date | datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "serial": self.serial,
            "has_data": self.has_data,
            "delivering": self.delivering,
            "not_delivering_reason": self.not_delivering_reason,
            "anchor_at": d(self.anchor_at),
            "alarm_at": d(self.alarm_at),
            "alarm_day": d(self.alarm_day),
            "refill_by": d(self.refill_by),
            "governing": None if self.governing is None else self.governing.value,
            "governing_text": self.governing_text,
            "eri_day": d(self.eri_day),
            "eri_source": None if self.eri_source is None else self.eri_source.name,
            "eos_day": d(self.eos_day),
            "eos_source": None if self.eos_source is None else self.eos_source.name,
            "due_soon_days": self.due_soon_days,
            "note": self.note,
            "empty_day": d(self.empty_day),
            "attention": list(self.attention),
            "low_alarm_on": self.low_alarm_on,
            "uncertain": self.uncertain,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ForecastSummary:
        get = data.get
        return cls(
            serial=data["serial"],
            has_data=data["has_data"],
            delivering=data["delivering"],
            not_delivering_reason=data["not_delivering_reason"],
            anchor_at=_dt(data["anchor_at"]),
            alarm_at=_dt(data["alarm_at"]),
            alarm_day=_dd(data["alarm_day"]),
            refill_by=_dd(data["refill_by"]),
            governing=None if data["governing"] is None else Bound(data["governing"]),
            governing_text=data["governing_text"],
            eri_day=_dd(data["eri_day"]),
            eri_source=_SOURCES.get(data["eri_source"]),
            eos_day=_dd(data["eos_day"]),
            eos_source=_SOURCES.get(data["eos_source"]),
            due_soon_days=int(data["due_soon_days"]),
            note=get("note", ""),
            empty_day=_dd(get("empty_day")),
            attention=tuple(get("attention") or ()),
            low_alarm_on=bool(get("low_alarm_on", False)),
            uncertain=bool(get("uncertain", False)),
        )


_SOURCES: dict[object, DateSource] = {s.name: s for s in DateSource}


def _dt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def _dd(v: str | None) -> date | None:
    return None if v is None else date.fromisoformat(v)


# --------------------------------------------------------------------------- program history


class ProgramTimeline:
    """One pump's program history (verified changes and what readings showed), built once
    and sliced into :class:`ProgramSegment` periods for any stretch of time.

    The refill's expected residual and the Trends depletion curve both use it, so they can
    never disagree. Consecutive entries with the same program are one run: a single-bolus
    program keeps the start of its run, so its bolus is counted once, when it happened."""

    def __init__(self, readings: Iterable[Reading], changes: Iterable[ProgramChange]) -> None:
        done = sorted(
            (c for c in changes if c.outcome == ChangeOutcome.SUCCEEDED), key=lambda c: c.at
        )
        readings = list(readings)
        known: list[tuple[datetime, int, Program, int]] = [
            (c.at, 1, c.new, c.concentration_mcg_ml) for c in done
        ] + [(r.at, 0, r.program, r.concentration_mcg_ml) for r in readings]
        first_reading = min((r.at for r in readings), default=None)
        if done and (first_reading is None or done[0].at <= first_reading):
            # Before the first change on record, the program it replaced was running.
            known.append((done[0].at, -1, done[0].old, done[0].concentration_mcg_ml))
        known.sort(key=lambda k: (k[0], k[1]))
        self.entries: list[tuple[datetime, Program, int, datetime]] = []
        for at, _kind, program, conc in known:
            if self.entries and self.entries[-1][1] == program:
                began = self.entries[-1][3]
            else:
                began = at
            self.entries.append((at, program, conc, began))
        self._times = [e[0] for e in self.entries]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def segments(
        self,
        since: datetime,
        until: datetime,
        fill: Fill | None = None,
    ) -> tuple[tuple[ProgramSegment, ...], tuple[str, ...]]:
        """The periods from ``since`` to ``until``. With ``fill`` (a fill at ``since``) the
        drug is the fill's concentration, after its bridge (old drug in the dead volume at
        the old concentration's rate) has cleared."""
        notes: list[str] = []
        if not self.entries:
            return (), ("No program is on record for this pump.",)
        i = bisect.bisect_right(self._times, since)
        if i == 0:
            start = self.entries[0]
            notes.append(
                "No program is on record from before the last fill: the first one "
                "recorded after it is assumed to have run from the fill."
            )
        else:
            start = self.entries[i - 1]

        def conc(value: int) -> int:
            return fill.concentration_mcg_ml if fill is not None else value

        segs: list[ProgramSegment] = [
            ProgramSegment(since, start[1], conc(start[2]), program_start=start[3])
        ]
        j = bisect.bisect_right(self._times, until)
        for at, program, c, began in self.entries[i:j]:
            last = segs[-1]
            if last.program == program and last.concentration_mcg_ml == conc(c):
                continue
            segs.append(ProgramSegment(at, program, conc(c), program_start=began))
        if fill is not None and fill.bridge_ul > 0 and fill.bridge_from_mcg_ml > 0:
            segs = _with_bridge(segs, since, until, fill)
        return tuple(segs), tuple(notes)


def _with_bridge(
    segs: list[ProgramSegment], since: datetime, until: datetime, fill: Fill
) -> list[ProgramSegment]:
    """Insert the bridge: from the fill, the line's old drug at the old concentration
    until the bridge volume has gone, then the fill's drug."""
    left = Fraction(fill.bridge_ul)
    old = fill.bridge_from_mcg_ml
    end: datetime | None = None
    for k, seg in enumerate(segs):
        seg_end = segs[k + 1].start if k + 1 < len(segs) else until
        for lo, hi, rate in dosing.program_rate_pieces(
            seg.program, seg.start, seg_end, PUMP_CLOCK, program_start=seg.program_start
        ):
            ul_s = rate * UL_PER_ML / old
            if ul_s <= 0:
                continue
            span = Fraction(int((hi - lo).total_seconds()))
            if ul_s * span >= left:
                end = dosing.alarm_instant(lo, left / ul_s / SECONDS_PER_DAY)
                break
            left -= ul_s * span
        if end is not None:
            break
    if end is None:
        end = until
    out: list[ProgramSegment] = []
    for k, seg in enumerate(segs):
        seg_end = segs[k + 1].start if k + 1 < len(segs) else until
        if seg.start < end:
            out.append(ProgramSegment(seg.start, seg.program, old, seg.program_start))
            if end < seg_end:
                out.append(
                    ProgramSegment(end, seg.program, seg.concentration_mcg_ml, seg.program_start)
                )
        else:
            out.append(seg)
    return out


def boluses_given(
    events: Iterable[PumpEvent],
    serial: str,
    since: datetime,
    until: datetime,
    concentration_mcg_ml: int,
) -> tuple[BolusGiven, ...]:
    """Patient and clinician boluses the pump logged between ``since`` and ``until``
    (each log entry once). A single-bolus *program* is counted by the program history."""
    out: list[BolusGiven] = []
    seen: set[int] = set()
    for event in events:
        if event.pump_serial != serial or event.index in seen:
            continue
        if event.kind in ("patient_bolus", "single_bolus") and since <= event.at <= until:
            seen.add(event.index)
            dose = Decimal(int(event.detail.get("dose_ng", 0))) / 1000
            if dose > 0:
                kind = event.kind.removesuffix("_bolus")
                out.append(BolusGiven(event.at, dose, concentration_mcg_ml, kind=kind))
    return tuple(sorted(out, key=lambda b: b.at))


__all__ = [
    "HORIZON",
    "PUMP_CLOCK",
    "STATUS_LABELS",
    "Bound",
    "DateSource",
    "DatedEvent",
    "Fill",
    "Forecast",
    "ForecastSummary",
    "ProgramTimeline",
    "PumpFacts",
    "RefillBound",
    "Status",
    "StatusOn",
    "boluses_given",
    "facts_from",
    "fill_from_refill",
    "forecast",
    "status_on",
    "with_change",
    "with_fill",
    "with_reading",
]
