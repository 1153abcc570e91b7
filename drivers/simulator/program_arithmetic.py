"""The simulated pump's own program arithmetic: what a program delivers in a day, its rate at
a given pump-clock instant, its checksum, and a scaled copy for the commit fault.

Written apart from :mod:`itbconsole.dosing` on purpose: the console computes expected
residuals and alarm dates with its integrals over continuous time; the pump computes from
its own flex schedule here. An end-to-end test comparing the two therefore compares two
independent computations. Separate from the motor because these are pure functions of a
program, shared by the motor, the readings and the protocol responder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction

from drivers.protocol import program_checksum
from drivers.simulator.clock import UNIX_EPOCH, US_PER_DAY, US_PER_HOUR, US_PER_S, micros
from itbconsole.model import MINUTES_PER_DAY, FlexStep, Mode, Program
from itbconsole.units import to_fraction


def day_schedule_mcg(steps: Sequence[FlexStep]) -> Fraction:
    """mcg one 24-hour flex day delivers: each step's rate (mcg/h) for the minutes until the
    next step starts (the last until midnight)."""
    total = Fraction(0)
    for i, step in enumerate(steps):
        until = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        total += to_fraction(step.rate_mcg_per_hour) * Fraction(until - step.start_minute, 60)
    return total


def programmed_day_mcg(program: Program, weekday: int | None = None) -> Fraction:
    """The pump's programmed mcg per day, patient boluses excluded: flex, the default
    schedule's day (or ``weekday``'s, 0 = Monday); single bolus, the continuous rate after
    the bolus; stopped, 0."""
    if program.mode is Mode.STOPPED:
        return Fraction(0)
    if program.mode is Mode.FLEX:
        steps = program.flex_steps if weekday is None else program.steps_for_weekday(weekday)
        return day_schedule_mcg(steps)
    return to_fraction(program.daily_dose_mcg)


def largest_day_mcg(program: Program) -> Fraction:
    """The most the pump may deliver in a day: the largest programmed day (flex: over the
    seven weekdays) plus every patient bolus allowed (dose per bolus x maximum per day)."""
    if program.mode is Mode.FLEX:
        base = max(programmed_day_mcg(program, weekday) for weekday in range(7))
    else:
        base = programmed_day_mcg(program)
    if program.patient_bolus is not None:
        bolus = program.patient_bolus
        base += to_fraction(bolus.dose_mcg) * bolus.max_per_day
    return base


def _offset_at(zone: tzinfo, pump_us: int) -> timedelta | None:
    return (UNIX_EPOCH + timedelta(microseconds=pump_us)).astimezone(zone).utcoffset()


def rate_at(
    program: Program, started: datetime, zone: tzinfo, pump_us: int
) -> tuple[Fraction, int | None]:
    """The program's rate (mcg per pump-clock microsecond) at pump time ``pump_us`` and
    the pump time it next changes (None: never, while this program runs). ``started`` is
    the pump-clock time the program became active (a single bolus runs from it); ``zone``
    is the wall clock flex minutes count in."""
    if program.mode is Mode.STOPPED:
        return Fraction(0), None
    continuous = to_fraction(program.daily_dose_mcg) / US_PER_DAY
    if program.mode is Mode.SIMPLE_CONTINUOUS:
        return continuous, None
    if program.mode is Mode.SINGLE_BOLUS:
        start = micros(started - UNIX_EPOCH)
        duration = program.bolus_duration_minutes * 60 * US_PER_S
        if pump_us < start:
            return Fraction(0), start
        if pump_us < start + duration:
            return to_fraction(program.bolus_dose_mcg) / duration, start + duration
        return continuous, None
    # Flex: the step whose window holds the pump clock's wall time in its zone.
    local = (UNIX_EPOCH + timedelta(microseconds=pump_us)).astimezone(zone)
    wall = local.replace(tzinfo=None)
    steps = program.steps_for_weekday(wall.weekday())
    minute = wall.hour * 60 + wall.minute
    i = max(j for j, s in enumerate(steps) if s.start_minute <= minute)
    until = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
    wall_end = datetime.combine(wall.date(), time(0)) + timedelta(minutes=until)
    end = pump_us + micros(wall_end - wall)
    offset = local.utcoffset()
    if _offset_at(zone, end) != offset:
        # The wall clock jumps (DST) before the step ends: the rate may change there.
        # Zones change offset at most once a day, so bisect for that instant.
        lo, hi = pump_us, end
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_at(zone, mid) == offset:
                lo = mid
            else:
                hi = mid
        end = hi
    return to_fraction(steps[i].rate_mcg_per_hour) / US_PER_HOUR, end


def default_checksum(program: Program) -> int:
    """The protocol's program checksum (CRC-32 of the program block), so a checksum the
    pump returns from :meth:`SimPump.stage_program` is the one the console computes."""
    return program_checksum(program)


def scale_program(program: Program, factor: Decimal) -> Program:
    """The same program with every rate and dose multiplied by ``factor``: the shape of the
    field fault where a battery fault reset the flow to a very low rate."""

    def steps(seq: tuple[FlexStep, ...]) -> tuple[FlexStep, ...]:
        return tuple(FlexStep(s.start_minute, s.rate_mcg_per_hour * factor) for s in seq)

    return replace(
        program,
        daily_dose_mcg=program.daily_dose_mcg * factor,
        flex_steps=steps(program.flex_steps),
        flex_weekday_steps=tuple((d, steps(s)) for d, s in program.flex_weekday_steps),
        bolus_dose_mcg=program.bolus_dose_mcg * factor,
    )
