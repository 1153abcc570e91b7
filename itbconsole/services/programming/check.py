"""The check of a pending program: :func:`check_program` runs every rule on it against the
pump's state and the patient's records and returns a :class:`ProgramCheck` (the findings
and everything the editor shows beside them); :func:`recheck` runs the same check again on
the state the pump reports at the point of sending."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.druglib import DrugLibrary, DrugProduct
from itbconsole.forecast import Forecast, PumpFacts, forecast, with_change, with_reading
from itbconsole.model import ChangeOutcome, Mode, Program, ProgramChange, Pump, User
from itbconsole.services.programming.findings import Finding, ProgrammingError, Severity
from itbconsole.services.programming.priming import PrimingPlan, priming_plan
from itbconsole.services.programming.rule_input import CheckInput, daily_totals

# check_program reads RULES from this module when it runs: ``make safety-check`` removes a
# rule here (tests/conftest.py), not only in the package's re-export.
from itbconsole.services.programming.rules import RULES, Rule
from itbconsole.services.programming.state import PumpState, find_product
from itbconsole.settings import ClinicSettings


@dataclass(frozen=True)
class CheckContext:
    """What a check reads besides the pump's state and the pending program: the clinic's
    drug library and settings and the patient's records. Kept with the check, so the same
    check can run again at the point of action on the state the pump reports then."""

    library: DrugLibrary
    tz: tzinfo
    priming: PrimingPlan | None = None
    pump: Pump | None = None
    history: tuple[ProgramChange, ...] = ()
    facts: PumpFacts | None = None
    settings: ClinicSettings | None = None
    catheter_revised_on: date | None = None


@dataclass(frozen=True)
class ProgramCheck:
    """The verdict on a pending program, with everything the editor shows beside it."""

    state: PumpState
    new: Program
    concentration_mcg_ml: int
    product: DrugProduct | None
    user: User
    purpose: str
    findings: tuple[Finding, ...]
    change: dosing.DoseChange
    current_forecast: Forecast
    new_forecast: Forecast
    step_rates: tuple[dosing.FlexStepRate, ...]
    priming: PrimingPlan | None = None
    context: CheckContext | None = None

    @property
    def blocks(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCK)

    @property
    def soft(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.SOFT)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def blocked(self) -> bool:
        return bool(self.blocks)


#: The window over which the % change per session is counted (repeated sends add up).
CHANGE_WINDOW = timedelta(hours=24)
_IN_FORCE = (ChangeOutcome.SUCCEEDED, ChangeOutcome.UNCERTAIN)


def change_baseline(
    history: Sequence[ProgramChange], now: datetime, window: timedelta = CHANGE_WINDOW
) -> Program | None:
    """The program in force ``window`` before ``now``: the ``old`` program of the earliest
    change (succeeded or uncertain) made within the window, or None when there was none
    (then the program running now is the baseline)."""
    recent = [ch for ch in history if ch.outcome in _IN_FORCE and now - window <= ch.at]
    if not recent:
        return None
    return min(recent, key=lambda ch: (ch.at, ch.id or 0)).old


def last_delivering_program(history: Sequence[ProgramChange]) -> Program | None:
    """The most recent program on record that delivered a dose: the new program of a
    succeeded change, or the old program of any change sent (the one it replaced)."""
    for ch in sorted(history, key=lambda ch: (ch.at, ch.id or 0), reverse=True):
        candidates = [ch.new] if ch.outcome == ChangeOutcome.SUCCEEDED else []
        if ch.outcome in _IN_FORCE:
            candidates.append(ch.old)
        for program in candidates:
            if max(daily_totals(program)) > 0:
                return program
    return None


def check_program(
    state: PumpState,
    new: Program,
    concentration_mcg_ml: int,
    user: User,
    library: DrugLibrary,
    tz: tzinfo,
    *,
    purpose: str = "send",
    priming: PrimingPlan | None = None,
    pump: Pump | None = None,
    history: Sequence[ProgramChange] = (),
    now: datetime | None = None,
    facts: PumpFacts | None = None,
    settings: ClinicSettings | None = None,
    rules: Sequence[Rule] | None = None,
    catheter_revised_on: date | None = None,
) -> ProgramCheck:
    """Run every rule on ``new`` against the pump's ``state``.

    ``purpose`` is "send" (all rules) or "prepare" (a program saved for review: the role
    rule does not apply and another concentration is a warning, not a block).

    ``priming`` says a priming bolus is meant (implant or catheter revision, and its
    duration); its volume and dose are worked out again here from ``pump`` (the pump's
    record), never trusted from the caller. ``history`` is the stored program changes of
    the patient (any pump; only ``state.pump_serial``'s count): the % change is measured
    from the program in force 24 hours before ``now`` (default: the time now) as well
    as from the current one, and a restart of a stopped pump is checked against the last
    program that delivered a dose.

    The current and the new alarm and refill-by dates are the forecast's
    (:mod:`itbconsole.forecast`): ``facts`` are the pump's records (the clinic service's
    ``pump_facts``; without them only this state is known), ``settings`` the clinic's.
    """
    if purpose not in ("send", "prepare"):
        raise ValueError("purpose is 'send' or 'prepare'")
    if concentration_mcg_ml <= 0:
        raise ProgrammingError("Enter the concentration in the reservoir (mcg/mL).")
    product = find_product(library, state.drug_name, concentration_mcg_ml)

    settings = settings or ClinicSettings().with_tz(tz)
    base = facts or PumpFacts(state.pump_serial, state.alarm_volume_ul)
    if state.live or not base.readings:
        base = with_reading(base, state.as_reading())
    # The new program runs from the send (``now``), or from the reading when no time is given.
    sent_at = max(now, state.read_at) if now is not None else state.read_at
    current_forecast = forecast(base, settings)
    new_forecast = forecast(
        with_change(base, sent_at, state.program, new, concentration_mcg_ml), settings
    )
    checked_plan: PrimingPlan | None = None
    if priming is not None and pump is not None and pump.serial == state.pump_serial:
        checked_plan = priming_plan(
            pump,
            concentration_mcg_ml,
            priming.duration_minutes,
            catheter_only=priming.priming.catheter_only,
        )
    mine = [ch for ch in history if ch.pump_serial == state.pump_serial]
    c = CheckInput(
        state,
        new,
        concentration_mcg_ml,
        product,
        user,
        purpose,
        checked_plan,
        current_forecast,
        new_forecast,
        tz,
        pump=pump,
        supplied_priming=priming,
        baseline=change_baseline(mine, now or datetime.now(UTC)),
        last_nonzero=last_delivering_program(mine),
        recent_single_boluses_mcg=tuple(
            Fraction(ch.new.bolus_dose_mcg)
            for ch in mine
            if ch.new.mode is Mode.SINGLE_BOLUS
            and ch.outcome in _IN_FORCE
            and sent_at - CHANGE_WINDOW < ch.at <= sent_at
        ),
        records_concentration_mcg_ml=(
            facts.latest_fill.concentration_mcg_ml
            if facts is not None and facts.latest_fill is not None
            else None
        ),
        catheter_revised_on=catheter_revised_on,
    )
    findings = tuple(f for rule in (RULES if rules is None else rules) for f in rule(c))
    return ProgramCheck(
        state=state,
        new=new,
        concentration_mcg_ml=concentration_mcg_ml,
        product=product,
        user=user,
        purpose=purpose,
        findings=findings,
        change=dosing.dose_change(
            dosing.program_daily_dose_mcg(state.program), dosing.program_daily_dose_mcg(new)
        ),
        current_forecast=current_forecast,
        new_forecast=new_forecast,
        step_rates=dosing.flex_step_rates(new.flex_steps, concentration_mcg_ml)
        if new.mode is Mode.FLEX
        else (),
        priming=checked_plan,
        context=CheckContext(
            library, tz, priming, pump, tuple(history), facts, settings, catheter_revised_on
        ),
    )


def recheck(check: ProgramCheck, state: PumpState, now: datetime) -> ProgramCheck:
    """The same check (program, concentration, user, purpose, records) run again on
    ``state``: the pump as it is when the change is about to be sent."""
    if check.context is None:
        raise ProgrammingError("This check cannot be repeated: check the program again.")
    ctx = check.context
    return check_program(
        state, check.new, check.concentration_mcg_ml, check.user, ctx.library, ctx.tz,
        purpose=check.purpose, priming=ctx.priming, pump=ctx.pump, history=ctx.history,
        now=now, facts=ctx.facts, settings=ctx.settings,
        catheter_revised_on=ctx.catheter_revised_on,
    )  # fmt: skip
