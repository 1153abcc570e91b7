"""The forecast computation: the anchor, the program in force, whether the pump delivers,
the alarm (the console's two walks, or the pump's own projection when it is earlier), the
refill-by date and its governing bound, and the worse case while a program
change's outcome is unknown.

Separate because it is the one function every surface calls (:func:`forecast`); the rule
it follows is the package docstring's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from itbconsole import dosing
from itbconsole.alarms import Severity, describe
from itbconsole.display import fmt_day
from itbconsole.forecast.bounds import Bound, DatedEvent, battery_dates, local_day, refill_bounds
from itbconsole.forecast.facts import PumpFacts
from itbconsole.forecast.result import Forecast
from itbconsole.forecast.timeline import PUMP_CLOCK
from itbconsole.forecast.walks import bridge_at, earliest_alarm, segments_from
from itbconsole.model import Mode, Program, ProgramChange, Reading
from itbconsole.settings import ClinicSettings
from itbconsole.units import UL_PER_ML


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
    """The forecast for one pump (the rule is the docstring of :mod:`itbconsole.forecast`).
    With program changes of unknown outcome, the worse of the forecasts with and without
    them: the one that stops delivery, else the one with the earlier alarm (the other bounds
    are the same in both, so it also has the earlier refill-by date)."""
    base = _forecast_one(facts, settings)
    if not facts.uncertain:
        return base
    changes = tuple(sorted((*facts.changes, *facts.uncertain), key=lambda c: (c.at, c.id or 0)))
    alt = _forecast_one(replace(facts, changes=changes, uncertain=()), settings)
    worse = base
    if base.delivering and (not alt.delivering or _earlier(alt.alarm_at, base.alarm_at)):
        worse = alt
    when = ", ".join(f"{fmt_day(local_day(c.at, settings))}" for c in facts.uncertain)
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


def _forecast_one(facts: PumpFacts, settings: ClinicSettings, *, lead: bool = True) -> Forecast:
    reading = facts.latest_reading
    fill = facts.latest_fill
    alarm_ul = reading.alarm_volume_ul if reading is not None else facts.alarm_volume_ul
    eri, eos = battery_dates(facts, settings)
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
    segments = segments_from(anchor_at, program, began, conc, later)
    bridge = bridge_at(facts, fill, anchor_at)
    alarm_at: datetime | None = None
    alarm_rule = ""
    max_ul = Fraction(0)
    if final_program is not None and final_conc is not None:
        max_ul = dosing.max_daily_dose_mcg(final_program) * UL_PER_ML / final_conc
    console_at: datetime | None = None
    if delivering and segments:
        alarm_at, alarm_rule = earliest_alarm(anchor_at, volume, alarm_ul, segments, bridge)
        console_at = alarm_at
    pump_at = _pump_alarm_at(reading, kind, later) if delivering else None
    kept_lead: tuple[date, timedelta] | None = None
    if pump_at is not None and reading is not None and _pump_day_earlier(reading, alarm_at):
        alarm_at, alarm_rule = pump_at, PUMP_ALARM_RULE
    elif delivering and segments and alarm_at is None:
        notes.append("The program delivers too little to reach the alarm volume.")
    elif alarm_at is not None and pump_at is None and lead:
        kept_lead = _pump_lead(facts, settings, reading)
        if kept_lead is not None:
            # Never before the anchor: the walks already say the alarm cannot come sooner.
            alarm_at = max(alarm_at - kept_lead[1], anchor_at.replace(microsecond=0))
            alarm_rule = PUMP_LEAD_RULE
    alarm_day = local_day(alarm_at, settings) if alarm_at is not None else None
    # Projected empty: the earlier of (a) the alarm instant + what is left at the alarm
    # drained at the maximum daily volume and (b) the same two walks as the alarm, down to
    # nothing. (b) can be up to a day sooner than (a) (the schedule walk takes each day's
    # whole bolus allowance at its start); (a) is sooner when the alarm came from the
    # schedule walk or from the pump's own day.
    empty_at: datetime | None = None
    if alarm_at is not None and max_ul > 0:
        after = Fraction(min(alarm_ul, volume)) / max_ul
        empty_at = dosing.alarm_instant(alarm_at, after)
    if alarm_at is not None and console_at is not None:
        walked, _ = earliest_alarm(anchor_at, volume, 0, segments, bridge)
        if walked is not None:
            empty_at = walked if empty_at is None else min(empty_at, walked)
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
    bounds = refill_bounds(fill, alarm_day, eos, settings, facts)
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
        pump_first=(reading.pump_alarm_date, console_at)
        if reading is not None and alarm_rule == PUMP_ALARM_RULE
        else None,
        pump_lead=kept_lead,
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
        console_alarm_at=console_at,
    )


def _no_data(
    facts: PumpFacts,
    settings: ClinicSettings,
    alarm_ul: int,
    eri: DatedEvent | None,
    eos: DatedEvent | None,
) -> Forecast:
    bounds = refill_bounds(None, None, eos, settings, facts)
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


#: :attr:`Forecast.alarm_rule` when the pump's own projection sets the alarm.
PUMP_ALARM_RULE = "the pump's own projection, earlier than the console's"
#: :attr:`Forecast.alarm_rule` when the pump's lead over the console at its last reading is
#: kept after a refill or a program change (the pump has not said its new date yet).
PUMP_LEAD_RULE = "the console's walks, less the pump's lead at its last interrogation"


def _pump_lead(
    facts: PumpFacts, settings: ClinicSettings, reading: Reading | None
) -> tuple[date, timedelta] | None:
    """(the reading's day, how much earlier the pump's own date was than the console's)
    when the latest reading's own projected day set its alarm, but a refill or a verified
    program change since means it no longer applies as such.

    Why: a pump that projected its alarm earlier than the console did is likely to keep
    doing so after a refill or a new program; until it is interrogated again and says its
    new date, the console keeps the same lead rather than jump to a later date."""
    if reading is None or reading.pump_alarm_date is None:
        return None
    at_reading = replace(
        facts,
        readings=tuple(r for r in facts.readings if r.at <= reading.at),
        fills=tuple(f for f in facts.fills if f.at < reading.at),
        # As the anchor's own rule: a change at the reading's very instant that set another
        # program was sent after that read.
        changes=tuple(
            c
            for c in facts.changes
            if c.at < reading.at or (c.at == reading.at and c.new == reading.program)
        ),
    )
    then = _forecast_one(at_reading, settings, lead=False)
    if then.alarm_rule != PUMP_ALARM_RULE or then.console_alarm_at is None:
        return None
    assert then.alarm_at is not None
    return local_day(reading.at, settings), then.console_alarm_at - then.alarm_at


def _pump_alarm_at(
    reading: Reading | None, kind: str, later: list[ProgramChange]
) -> datetime | None:
    """The earliest instant of the low-reservoir alarm day the pump itself projected at the
    anchor reading, or None when it does not apply: the anchor is not that reading (a
    refill recorded since changed the volume), a verified program change came after it (the
    pump projected from the old program), or the pump reported no date.

    The day is on the pump clock (UTC): its earliest moment is 00:00 UTC, or earlier still
    by the pump clock's lead when it runs ahead of the computer (the pump's day then began
    sooner), never later."""
    if reading is None or kind != "reading" or later or reading.pump_alarm_date is None:
        return None
    start = datetime.combine(reading.pump_alarm_date, time(0), tzinfo=PUMP_CLOCK)
    ahead = reading.pump_clock - reading.at
    return start - ahead if ahead > timedelta(0) else start


def _pump_day_earlier(reading: Reading, console_at: datetime | None) -> bool:
    """Does the pump's own projected day come before the day of the console's instant, both
    on the pump's clock? A pump's date says only the day: the console's instant on that
    same day agrees with it (and stays, to the minute); a pump day before it does not, and
    then the start of the pump's day is the earliest the alarm can come."""
    if reading.pump_alarm_date is None:
        return False
    if console_at is None:
        return True
    ahead = reading.pump_clock - reading.at
    return reading.pump_alarm_date < (console_at + ahead).astimezone(PUMP_CLOCK).date()


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
    pump_first: tuple[date | None, datetime | None] | None = None,
    pump_lead: tuple[date, timedelta] | None = None,
    adjusted: bool = False,
) -> str:
    """How the alarm date was found, in one line (the Overview's small print)."""
    if alarm_at is None:
        return why_not or "The program never reaches the alarm volume."
    source = "the reading" if kind == "reading" else "the refill"
    text = f"({volume_ul / UL_PER_ML:.2f} mL - {alarm_ul / UL_PER_ML:.2f} mL alarm)"
    if volume_ul <= alarm_ul:
        text = (
            f"{volume_ul / UL_PER_ML:.2f} mL is at or below the {alarm_ul / UL_PER_ML:.2f} mL "
            "alarm volume"
        )
    elif max_ul > 0:
        text += (
            f" / {float(max_ul) / UL_PER_ML:.3f} mL/day maximum = "
            f"{float(Fraction(volume_ul - alarm_ul) / max_ul):.1f} days"
        )
    text += f" from {source} of {fmt_day(local_day(anchor_at, settings))}"
    if adjusted:
        text += ", with the program changes and boluses since counted when they happen"
    if schedule_first:
        text += (
            "; the date shown is that of the pump's own schedule with every patient bolus "
            "taken at the start of its day, up to a day sooner than this"
        )
    if pump_first is not None:
        pump_day, console_at = pump_first
        assert pump_day is not None
        own = f"the pump's own projection (low-reservoir alarm on {fmt_day(pump_day)} by its clock)"
        if console_at is None:
            text += f"; the date shown is {own}: the console's never reaches the alarm volume"
        else:  # a pump day before the console's: a whole day or more earlier
            text += (
                f"; the date shown is {own}, earlier than the console's "
                f"({fmt_day(local_day(console_at, settings))})"
            )
    if pump_lead is not None:
        day, ahead = pump_lead
        hours = ahead.total_seconds() / 3600
        how = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"
        text += (
            f"; the date shown is {how} sooner: the pump's own projection at its reading of "
            f"{fmt_day(day)} was that much earlier than the console's, and the lead is kept "
            "after the refill or program change until the pump is interrogated again"
        )
    return text + "."
