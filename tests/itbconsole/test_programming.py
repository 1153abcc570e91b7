"""The programming service: every dose-error-reduction rule, the change record, and the
send-and-verify write over the simulated pump. No Qt.

Drug library defaults (resources/drug_library.json) these tests lean on:
daily dose hard 0..1500, soft 20..1000 mcg/24 h; change hard -100..+50 %, soft -20..+20 %;
bolus dose hard 0..200, soft 0..100 mcg; boluses per day hard 0..8, soft 0..4.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import drivers  # noqa: F401  (registers the simpump:// handler)
from drivers import protocol_simpump
from drivers.pump_client import PumpClient
from itbconsole.druglib import load_drug_library
from itbconsole.forecast import Fill, PumpFacts
from itbconsole.model import (
    STOPPED,
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramChange,
    Pump,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services import programming as pg
from itbconsole.services.programming import ProgrammingError, PumpState, Severity
from itbconsole.store import Store, StoreError

LONDON = ZoneInfo("Europe/London")
LIBRARY = load_drug_library()
CLINICIAN = User("Dr Ada Clinician", Role.CLINICIAN)
NURSE = User("Nia Nurse", Role.NURSE)
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_names = itertools.count(1)


def state(program: Program | None = None, **kw: Any) -> PumpState:
    fields: dict[str, Any] = {
        "pump_serial": "SIM0000001",
        "program": program or simple_continuous(500),
        "concentration_mcg_ml": 2000,
        "drug_name": "Lioresal Intrathecal",
        "reservoir_ul": 10_000,  # alarm in about a month: small changes keep it after the refill date
        "alarm_volume_ul": 2_000,
        "read_at": T0,
    }
    fields.update(kw)
    return PumpState(**fields)


def check(
    new: Program,
    current: Program | None = None,
    *,
    user: User = CLINICIAN,
    concentration: int = 2000,
    **kw: Any,
) -> pg.ProgramCheck:
    st = kw.pop("st", None) or state(current)
    # A fill the day before whose drug may stay 21 days keeps the refill date of small
    # changes where it was (T0 + 20 days); tests of the alarm-date rule pass NO_FILL.
    kw.setdefault("facts", WITH_FILL)
    return pg.check_program(st, new, concentration, user, LIBRARY, LONDON, **kw)


WITH_FILL = PumpFacts(
    "SIM0000001",
    2_000,
    fills=(
        Fill(
            at=T0 - timedelta(days=1),
            volume_ul=12_000,
            concentration_mcg_ml=2000,
            product="Lioresal Intrathecal",
            expiry=date(2027, 1, 1),
            max_interval_days=21,
        ),
    ),
)
NO_FILL = PumpFacts("SIM0000001", 2_000)


def rules(result: pg.ProgramCheck, severity: Severity | None = None) -> set[str]:
    return {f.rule for f in result.findings if severity is None or f.severity is severity}


def flex(
    *steps: tuple[int, str], weekday: tuple[tuple[int, tuple[FlexStep, ...]], ...] = ()
) -> Program:
    return Program(
        Mode.FLEX,
        flex_steps=tuple(FlexStep(m, Decimal(r)) for m, r in steps),
        flex_weekday_steps=weekday,
    )


def with_patient_bolus(program: Program, dose: str = "25", per_day: int = 4) -> Program:
    return replace(program, patient_bolus=PatientBolus(Decimal(dose), 10, 120, per_day))


# --------------------------------------------------------------------------- limits


def test_a_change_within_every_limit_has_no_findings() -> None:
    result = check(simple_continuous(550))
    assert result.findings == ()
    assert result.change.change_mcg == 50 and result.change.change_pct == 10
    change = pg.build_change(result, "spasticity worse at night", {})
    assert change.old == simple_continuous(500) and change.new == simple_continuous(550)
    assert change.overrides == () and change.outcome == "uncertain"


def test_hard_daily_dose_limit_blocks_even_with_a_reason() -> None:
    big = state(simple_continuous(1450), reservoir_ul=40_000)
    result = check(simple_continuous(1550), st=big)  # +6.9 %: only the dose
    assert rules(result) == {"daily_dose_mcg"}
    assert rules(result, Severity.BLOCK) == {"daily_dose_mcg"}
    reasons = {f.key: "consultant agreed" for f in result.findings}
    with pytest.raises(ProgrammingError, match="hard limit"):
        pg.build_change(result, "titration agreed at clinic", reasons)


def test_soft_daily_dose_limit_needs_a_typed_reason_and_is_recorded() -> None:
    big = state(simple_continuous(950), reservoir_ul=40_000)
    result = check(simple_continuous(1050), st=big)  # +10.5 %
    assert rules(result, Severity.SOFT) == {"daily_dose_mcg"} and not result.blocked
    (finding,) = result.soft
    with pytest.raises(ProgrammingError, match="overridden"):
        pg.build_change(result, "titration agreed at clinic", {})
    with pytest.raises(ProgrammingError, match="overridden"):
        pg.build_change(
            result, "titration agreed at clinic", {finding.key: "  ok "}
        )  # too short to be a reason
    with pytest.raises(ProgrammingError, match="overridden"):  # a note without a category
        pg.build_change(result, "titration agreed at clinic", {finding.key: "severe tone, MDT"})
    reasons = {finding.key: pg.override_text(pg.OVERRIDE_CATEGORIES[1], "severe tone, MDT agreed")}
    with pytest.raises(ProgrammingError, match="second clinician"):  # above the usual maximum
        pg.build_change(result, "titration agreed at clinic", reasons)
    with pytest.raises(ProgrammingError, match="second clinician"):  # not the sender again
        pg.build_change(
            result, "titration agreed at clinic", reasons, second_clinician=CLINICIAN.name
        )
    change = pg.build_change(
        result, "titration agreed at clinic", reasons, second_clinician="Dr Ben Second"
    )
    assert len(change.overrides) == 2
    assert "daily_dose_mcg" in change.overrides[0] and "MDT agreed" in change.overrides[0]
    assert "Prescribed by the consultant" in change.overrides[0]
    assert "second clinician Dr Ben Second confirmed" in change.overrides[1]


def test_soft_daily_dose_limit_below_the_usual_range() -> None:
    result = check(simple_continuous(18), simple_continuous(20))  # -10 %
    assert rules(result, Severity.SOFT) == {"daily_dose_mcg"}


def test_a_change_needs_its_own_reason() -> None:
    result = check(simple_continuous(550))
    with pytest.raises(ProgrammingError, match="reason for this change"):
        pg.build_change(result, " ", {})


@pytest.mark.parametrize(
    ("new", "severity"), [(625, Severity.SOFT), (400, Severity.SOFT), (800, Severity.BLOCK)]
)
def test_percent_change_per_session(new: int, severity: Severity) -> None:
    result = check(simple_continuous(new))  # from 500: +25 %, -20 %... -20 % is within
    expected = {"change_pct"} if new != 400 else set()
    assert rules(result, severity) == expected
    if new == 625:
        assert "+25.0 %" in result.soft[0].message


def test_percent_change_counts_each_weekday_schedule() -> None:
    base = flex((0, "20"))  # 480 mcg/24 h every day
    saturday = ((5, (FlexStep(0, Decimal("32")),)),)  # 768 mcg/24 h: +60 % on Saturday
    new = flex((0, "20"), weekday=saturday)
    result = check(new, base)
    assert rules(result, Severity.BLOCK) == {"change_pct"}


def test_decimal_slip_is_caught_by_the_range_checks() -> None:
    # 41.7 typed for 4.17 in mcg/h over the day: 1000.8 mcg/24 h instead of 100.08.
    result = check(flex((0, "41.7")), flex((0, "4.17")))
    assert "change_pct" in rules(result, Severity.BLOCK)


@pytest.mark.parametrize(("dose", "severity"), [("150", Severity.SOFT), ("250", Severity.BLOCK)])
def test_patient_bolus_dose_limits(dose: str, severity: Severity) -> None:
    current = with_patient_bolus(simple_continuous(500))
    big = state(current, reservoir_ul=40_000)
    result = check(with_patient_bolus(simple_continuous(500), dose, 1), st=big)
    assert "bolus_dose_mcg" in rules(result, severity)
    # the bolus also raises the maximum 24 h dose, which the % change limit counts
    assert rules(result) <= {"bolus_dose_mcg", "change_pct"}


def test_single_bolus_dose_limit() -> None:
    new = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(500),
        bolus_dose_mcg=Decimal(150),
        bolus_duration_minutes=60,
    )
    # 150 mcg: over the usual bolus; and 500 + 150 = 650 mcg in 24 h is +30 % (soft)
    assert rules(check(new), Severity.SOFT) == {"bolus_dose_mcg", "change_pct"}
    assert "bolus_dose_mcg" in rules(
        check(replace(new, bolus_dose_mcg=Decimal(201))), Severity.BLOCK
    )


@pytest.mark.parametrize(("per_day", "severity"), [(6, Severity.SOFT), (10, Severity.BLOCK)])
def test_boluses_per_day_limits(per_day: int, severity: Severity) -> None:
    current = with_patient_bolus(simple_continuous(500))
    new = with_patient_bolus(simple_continuous(500), "10", per_day)
    result = check(new, current, st=state(current, reservoir_ul=40_000))
    assert rules(result) == {"boluses_per_day"}
    assert rules(result, severity) == {"boluses_per_day"}


def test_a_hard_minimum_on_a_weekday_blocks_even_when_the_highest_day_is_only_soft() -> None:
    # A library whose daily-dose hard minimum is 10 mcg/24 h.
    product = next(p for p in LIBRARY if p.concentration_mcg_ml == 2000 and p.refill_allowed)
    daily = replace(product.limits.daily_dose_mcg, hard_min=Decimal(10))
    strict = replace(product, limits=replace(product.limits, daily_dose_mcg=daily))
    library = replace(LIBRARY, products=(strict,))
    base = flex((0, "43"))  # 1032 mcg/24 h
    sunday = ((6, (FlexStep(0, Decimal("0.25")),)),)  # 6 mcg/24 h on Sunday: below hard 10
    new = flex((0, "43.5"), weekday=sunday)  # 1044 mcg/24 h the other days: only soft
    st = state(base, reservoir_ul=40_000)
    result = pg.check_program(st, new, 2000, CLINICIAN, library, LONDON)
    daily_findings = [f for f in result.findings if f.rule == "daily_dose_mcg"]
    assert [f.severity for f in daily_findings] == [Severity.BLOCK]
    assert "6.0 mcg/24 h" in daily_findings[0].message


def change_record(
    old: Program, new: Program, hours_ago: float, outcome: str = "succeeded"
) -> ProgramChange:
    return ProgramChange(
        "SIM0000001", T0 - timedelta(hours=hours_ago), old, new, 2000, "titration",
        outcome=outcome,
    )  # fmt: skip


def test_repeated_sends_count_from_the_dose_in_force_24_hours_ago() -> None:
    # 500 -> 600 -> 720 sent in the last hours; now 720 -> 864: +20 % each, +72.8 % in all.
    history = (
        change_record(simple_continuous(500), simple_continuous(600), 3),
        change_record(simple_continuous(600), simple_continuous(720), 2, "uncertain"),
    )
    big = state(simple_continuous(720), reservoir_ul=40_000)
    alone = check(simple_continuous(864), st=big)
    assert not alone.blocked and rules(alone) == set()  # +20 %: within, seen alone
    result = check(simple_continuous(864), st=big, history=history, now=T0)
    assert rules(result, Severity.BLOCK) == {"change_pct"}
    assert "+72.8 %" in result.blocks[0].message and "24 hours ago" in result.blocks[0].message
    # A change older than 24 h, a failed one and another pump's do not set the baseline.
    old_history = (
        change_record(simple_continuous(500), simple_continuous(600), 30),
        change_record(simple_continuous(400), simple_continuous(720), 2, "failed"),
        replace(change_record(simple_continuous(300), simple_continuous(720), 2), pump_serial="X"),
    )
    assert not check(simple_continuous(864), st=big, history=old_history, now=T0).findings


def test_restarting_a_stopped_pump_is_a_starting_dose_that_needs_a_reason() -> None:
    result = check(simple_continuous(300), STOPPED)
    assert rules(result, Severity.SOFT) == {"starting_dose"}
    (finding,) = result.soft
    with pytest.raises(ProgrammingError, match="overridden"):
        pg.build_change(result, "restart after pump replacement", {})
    pg.build_change(
        result,
        "restart after pump replacement",
        {finding.key: pg.override_text(pg.OVERRIDE_CATEGORIES[2], "new pump implanted today")},
        second_clinician="Dr Ben Second",
    )


def test_flex_from_a_stopped_pump_is_checked_against_the_last_program_on_record() -> None:
    # Stopped after 60 mcg/day; 60 mcg/h (1440 mcg/day) typed for 60 mcg/day: blocked.
    history = (change_record(simple_continuous(60), STOPPED, 48),)
    result = check(flex((0, "60")), STOPPED, history=history, now=T0)
    assert "unit_slip" in rules(result, Severity.BLOCK)
    assert "last program" in next(f.message for f in result.findings if f.rule == "unit_slip")


def test_flex_from_a_stopped_pump_with_no_record_is_checked_against_the_usual_maximum() -> None:
    # One minute at 1000 mcg/h (the library's usual maximum per DAY): 246.7 mcg/24 h.
    new = flex((0, "10"), (420, "1000"), (421, "10"))
    result = check(new, STOPPED)
    assert "unit_slip" in rules(result, Severity.BLOCK)
    assert "usual maximum daily dose" in result.blocks[0].message


# --------------------------------------------------------------------------- unit slip


def test_the_ismp_flex_error_60_mcg_per_hour_for_60_mcg_per_day_is_blocked() -> None:
    result = check(flex((0, "60")), simple_continuous(60))
    assert "unit_slip" in rules(result, Severity.BLOCK)
    assert "per HOUR" in next(f.message for f in result.findings if f.rule == "unit_slip")


def test_a_short_flex_step_at_the_daily_dose_is_blocked_when_no_limit_would_notice() -> None:
    # 240 mcg/day now (10 mcg/h). One minute at 240 mcg/h adds only 4 mcg to the day
    # (+1.6 %), well inside every limit: only the unit-slip rule sees it.
    new = flex((0, "10"), (420, "240"), (421, "10"))
    result = check(new, simple_continuous(240))
    assert rules(result) == {"unit_slip"}
    assert result.blocked


def test_flex_rates_below_the_previous_daily_dose_pass() -> None:
    result = check(flex((0, "15"), (360, "25"), (1320, "15")), simple_continuous(480))
    assert "unit_slip" not in rules(result)
    assert [float(s.rate_ml_per_hour) for s in result.step_rates] == [0.0075, 0.0125, 0.0075]


# --------------------------------------------------------------------------- concentration, role


def test_concentration_other_than_the_reservoirs_is_blocked_for_sending() -> None:
    # 500 mcg/mL programmed while the pump holds 2000 mcg/mL: a fourfold overdose.
    result = check(simple_continuous(550), concentration=500)
    assert rules(result, Severity.BLOCK) == {"concentration"}
    with pytest.raises(ProgrammingError, match="2000 mcg/mL"):
        pg.build_change(result, "titration agreed at clinic", {})


def test_a_program_prepared_for_a_coming_refill_may_name_the_new_concentration() -> None:
    result = check(simple_continuous(550), concentration=1000, purpose="prepare", user=NURSE)
    # The refill that brings the new strength sets the dates: no alarm-date warning worked
    # out from the reservoir of the old strength.
    assert rules(result, Severity.WARNING) == {"concentration"}
    assert not result.blocked
    prepared = pg.build_prepared(result, "new strength at refill", NURSE)
    assert prepared.concentration_mcg_ml == 1000 and not prepared.by_clinician


def test_a_concentration_missing_from_the_library_is_blocked() -> None:
    result = check(
        simple_continuous(550),
        st=state(concentration_mcg_ml=3000),
        concentration=3000,
        facts=NO_FILL,
    )
    assert rules(result, Severity.BLOCK) == {"no_product"}


def test_a_nurse_cannot_send_but_can_prepare() -> None:
    sent = check(simple_continuous(550), user=NURSE)
    assert rules(sent, Severity.BLOCK) == {"role"}
    with pytest.raises(ProgrammingError, match="only a clinician"):
        pg.build_change(sent, "titration agreed at clinic", {})
    prepared = check(simple_continuous(550), user=NURSE, purpose="prepare")
    assert prepared.findings == ()
    record = pg.build_prepared(prepared, "worse at night", NURSE)
    assert record.prepared_by == "Nia Nurse" and record.prepared_role is Role.NURSE


def test_an_administrator_can_send() -> None:
    assert check(simple_continuous(550), user=User("Root", Role.ADMINISTRATOR)).findings == ()


def test_hard_limits_apply_to_prepared_programs_too() -> None:
    result = check(simple_continuous(2000), user=NURSE, purpose="prepare")
    with pytest.raises(ProgrammingError, match="hard limit"):
        pg.build_prepared(result, "typed in error", NURSE)


# --------------------------------------------------------------------------- other rules


def test_a_dose_finer_than_a_nanogram_is_blocked() -> None:
    assert "precision" in rules(check(simple_continuous("500.0005")), Severity.BLOCK)


def test_sending_the_same_program_is_refused() -> None:
    assert rules(check(simple_continuous(500)), Severity.BLOCK) == {"no_change"}


def test_alarm_before_the_planned_refill_date_is_warned() -> None:
    # 10 mL, 2 mL alarm, 500 mcg/day at 2000 mcg/mL: alarm in 32 days, refill by day 25.
    # Allowing 4 boluses of 50 mcg: 700 mcg/day at most -> alarm after 22.9 days.
    st = state(reservoir_ul=10_000)
    new = with_patient_bolus(simple_continuous(500), "50", 4)
    result = check(new, st=st, facts=NO_FILL)
    # the boluses also make the maximum 24 h dose 700 mcg: +40 % from 500 (soft)
    assert rules(result) == {"alarm_date", "change_pct"}
    assert rules(result, Severity.WARNING) == {"alarm_date"}
    assert result.current_forecast.refill_by == date(2026, 3, 27)
    assert result.new_forecast.alarm_at is not None
    assert result.new_forecast.alarm_at.astimezone(LONDON).date() == date(2026, 3, 25)
    change = pg.build_change(
        result,
        "trial of boluses",
        {
            f.key: pg.override_text(pg.OVERRIDE_CATEGORIES[0], "trial of boluses agreed")
            for f in result.soft
        },
    )
    assert any(o.startswith("warning alarm_date") for o in change.overrides)
    # A program that lasts longer raises no warning.
    longer = with_patient_bolus(simple_continuous(400), "25", 1)  # 425 mcg/day at most
    assert check(longer, st=st, facts=NO_FILL).findings == ()


PUMP = Pump(
    "SIM0000001",
    "SIM-40",
    40_000,
    2_000,
    pump_dead_volume_ul=250,
    catheter_length_cm=Decimal(60),
    catheter_ul_per_cm=Decimal("1.5"),
)


NEW_IMPLANT = replace(PUMP, implant_date=date(2026, 2, 27))  # 3 days before T0
OLD_IMPLANT = replace(PUMP, implant_date=date(2023, 5, 10))


def test_a_refill_date_brought_forward_is_warned_even_when_the_alarm_stays_after_it() -> None:
    # 10 mL: 500 mcg/day -> refill by 27 Mar; 550 mcg/day -> alarm 31 Mar, refill by 24 Mar.
    result = check(simple_continuous(550), facts=NO_FILL)
    assert rules(result) == {"alarm_date"}
    (finding,) = result.warnings
    assert "refilled by 24 Mar 2026" in finding.message and "27 Mar 2026" in finding.message


def test_priming_bolus_is_the_dead_volume_and_needs_a_typed_reason() -> None:
    plan = pg.priming_plan(NEW_IMPLANT, 2000, 30)
    assert plan.volume_ul == 340 and plan.dose_mcg == Decimal("680.000")
    result = check(pg.priming_program(plan, Decimal(500)), priming=plan, pump=NEW_IMPLANT)
    assert rules(result) == {"priming"}  # a 680 mcg single bolus would be a hard block
    (finding,) = result.soft  # escapes the bolus limit: never a mere warning
    assert finding.rule == "priming" and "implanted on 27 Feb 2026" in finding.message
    assert "only for a pump implanted" not in finding.message
    with pytest.raises(ProgrammingError, match="overridden"):
        pg.build_change(result, "new implant primed today", {})
    change = pg.build_change(
        result,
        "new implant primed today",
        {finding.key: pg.override_text(pg.OVERRIDE_CATEGORIES[4], "implant on 27 Feb 2026")},
        second_clinician="Dr Ben Second",
    )
    assert any("implant on 27 Feb 2026" in o for o in change.overrides)
    catheter = pg.priming_plan(PUMP, 2000, 30, catheter_only=True)
    assert catheter.volume_ul == 90 and catheter.dose_mcg == Decimal("180.000")


def test_priming_an_established_pump_says_it_is_only_for_implant_or_revision() -> None:
    plan = pg.priming_plan(OLD_IMPLANT, 2000, 30)
    result = check(pg.priming_program(plan, Decimal(500)), priming=plan, pump=OLD_IMPLANT)
    # A hard stop: no typed reason lets a priming bolus onto a primed system (issue 11).
    assert rules(result, Severity.BLOCK) == {"priming"}
    (finding,) = result.blocks
    assert "only for a pump implanted (or a catheter revised)" in finding.message
    assert "10 May 2023" in finding.message
    with pytest.raises(ProgrammingError, match="only for a pump implanted"):
        pg.build_change(result, "prime the new implant", {"priming:bolus": "abcd efgh ijkl"})
    no_date = replace(OLD_IMPLANT, implant_date=None)
    blocked = check(pg.priming_program(plan, Decimal(500)), priming=plan, pump=no_date)
    assert rules(blocked, Severity.BLOCK) == {"priming"}


def test_a_caller_supplied_priming_plan_is_worked_out_again_from_the_pump() -> None:
    plan = pg.priming_plan(NEW_IMPLANT, 2000, 30)
    # A plan claiming 1500 mcg (dose and volume forged), with its program: blocked.
    forged_volume = replace(
        plan,
        priming=replace(plan.priming, volume_ul=plan.volume_ul * 2),
        dose_mcg=Decimal(1500),
    )
    forged = check(
        pg.priming_program(forged_volume, Decimal(500)), priming=forged_volume, pump=NEW_IMPLANT
    )
    assert rules(forged, Severity.BLOCK) == {"priming"}
    assert "680.000 mcg" in forged.blocks[0].message
    assert forged.priming == plan  # the check carries the plan from the pump's record
    # Only the dose forged: blocked too.
    fake_dose = replace(plan, dose_mcg=Decimal(1500))
    assert "priming" in rules(
        check(pg.priming_program(fake_dose, Decimal(500)), priming=fake_dose, pump=NEW_IMPLANT),
        Severity.BLOCK,
    )
    # No pump record to work it out from: blocked.
    no_pump = check(pg.priming_program(plan, Decimal(500)), priming=plan)
    assert rules(no_pump, Severity.BLOCK) == {"priming"}


def test_a_priming_bolus_edited_away_from_the_dead_volume_is_blocked() -> None:
    plan = pg.priming_plan(PUMP, 2000, 30)
    tampered = replace(pg.priming_program(plan, Decimal(500)), bolus_dose_mcg=Decimal(900))
    assert "priming" in rules(check(tampered, priming=plan, pump=PUMP), Severity.BLOCK)
    unknown_pump = replace(PUMP, pump_dead_volume_ul=0, catheter_length_cm=Decimal(0))
    unknown = pg.priming_plan(unknown_pump, 2000, 30)
    with pytest.raises(ProgrammingError, match="dead volume"):
        pg.priming_program(unknown, Decimal(500))
    some_bolus = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(500),
        bolus_dose_mcg=Decimal(1),
        bolus_duration_minutes=30,
    )
    assert "priming" in rules(check(some_bolus, priming=unknown, pump=unknown_pump), Severity.BLOCK)


def test_review_rows_mark_exactly_what_changed() -> None:
    current = with_patient_bolus(simple_continuous(500))
    new = with_patient_bolus(flex((0, "15"), (360, "23.75"), (1320, "15")), "25", 3)
    rows = {r.label: r for r in pg.review_rows(check(new, current), LONDON)}
    assert rows["Mode"].changed and rows["Mode"].pending == "Flex"
    assert rows["Total per 24 h"].current == "500.0 mcg/24 h"
    assert rows["Total per 24 h"].pending == "500.0 mcg/24 h" and not rows["Total per 24 h"].changed
    assert rows["Patient boluses per day"].changed
    assert not rows["Patient bolus dose"].changed and not rows["Concentration"].changed
    assert "06:00-22:00 23.750 mcg/h" in rows["Flex steps (pump clock, UTC)"].pending


def test_change_text_shows_mcg_and_percent() -> None:
    assert pg.change_text(check(simple_continuous(450)).change) == "-50.0 mcg/24 h (-10.0 %)"
    zero = check(simple_continuous(100), Program(Mode.STOPPED)).change
    assert pg.change_text(zero) == "+100.0 mcg/24 h"


# --------------------------------------------------------------------------- flex times


@pytest.mark.parametrize(
    ("text", "minute"),
    [("07:30", 450), ("7:30", 450), ("0730", 450), ("00:00", 0), ("23:59", 1439)],
)
def test_step_times_parse(text: str, minute: int) -> None:
    assert pg.parse_hhmm(text) == minute


@pytest.mark.parametrize("text", ["24:00", "7.30", "7", "07:60", "", "ab:cd", "7:3"])
def test_step_times_that_are_not_times_are_refused(text: str) -> None:
    with pytest.raises(ProgrammingError):
        pg.parse_hhmm(text)


def test_pump_clock_times_have_their_local_equivalent_across_the_clock_change() -> None:
    steps = (FlexStep(0, Decimal(10)), FlexStep(420, Decimal(20)))
    assert pg.local_equivalents(steps, date(2026, 1, 15), LONDON) == ["00:00", "07:00"]
    assert pg.local_equivalents(steps, date(2026, 7, 15), LONDON) == ["01:00", "08:00"]
    # A pump clock 10 minutes fast starts its steps 10 minutes early in real time.
    assert pg.local_equivalents(steps, date(2026, 1, 15), LONDON, 600) == ["23:50 (-1 d)", "06:50"]
    change = pg.next_zone_change(T0, LONDON)
    assert change == pg.ZoneChange(date(2026, 3, 29), 60)
    assert pg.next_zone_change(T0, UTC) is None


def test_profile_is_a_step_function_over_24_hours() -> None:
    edges, rates = pg.profile(flex((0, "15"), (360, "25"), (1320, "15")))
    assert edges == [0, 6, 22, 24] and rates == [15, 25, 15]
    assert pg.profile(simple_continuous(480)) == ([0, 24], [20])


# --------------------------------------------------------------------------- sending


@pytest.fixture
def sim() -> Iterator[tuple[str, PumpClient]]:
    name = f"progtest{next(_names)}"
    client = PumpClient.open(f"simpump://{name}?scenario=healthy")
    try:
        yield name, client
    finally:
        client.close()
        protocol_simpump.forget_pump(name)


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open(":memory:") as s:
        patient = s.add_patient(
            Patient("Okafor", "Grace", date(1980, 1, 1), "H1", Origin.SPINAL), NURSE
        )
        s.register_pump(PUMP, patient.id or 0, NURSE)
        yield s


def live_check(client: PumpClient, new: Program) -> pg.ProgramCheck:
    st = PumpState.from_interrogation(client.interrogate())
    return pg.check_program(st, new, st.concentration_mcg_ml, CLINICIAN, LIBRARY, LONDON)


def stored(store: Store, check: pg.ProgramCheck, reason: str) -> pg.ApprovedChange:
    """Approved by the clinician and stored as uncertain, as before a send."""
    approved = pg.approve(check, reason, {})
    return replace(approved, change=pg.record_intent(store, approved.change, CLINICIAN))


NEW_FLEX = Program(
    Mode.FLEX,
    flex_steps=(
        FlexStep(0, Decimal(20)),
        FlexStep(420, Decimal("22.5")),
        FlexStep(1320, Decimal(20)),
    ),
    patient_bolus=PatientBolus(Decimal(25), 10, 120, 4),
)  # 7 h x 20 + 15 h x 22.5 + 2 h x 20 = 517.5 mcg/24 h (+3.5 %)


def test_send_succeeds_only_with_a_matching_read_back(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    result = live_check(client, NEW_FLEX)
    assert not result.blocked and result.change.new_mcg_per_day == Decimal("517.5")
    approved = stored(store, result, "more relief by day")
    intent = approved.change
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 1
    sent = pg.send_program(client, approved, CLINICIAN)
    assert sent.outcome == "succeeded" and sent.readback == NEW_FLEX
    assert protocol_simpump.get_pump(name).program == NEW_FLEX
    saved = pg.record_result(store, intent, sent, CLINICIAN)
    assert saved.outcome == "succeeded" and saved.readback == NEW_FLEX
    assert saved.old.daily_dose_mcg == 500 and saved.reason == "more relief by day"
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 0
    assert store.verify().ok


def test_a_read_back_that_differs_is_uncertain_and_flagged(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    protocol_simpump.get_pump(name).alter_committed_programs()  # stores a tenth of each rate
    approved = stored(store, live_check(client, NEW_FLEX), "more relief by day")
    intent = approved.change
    sent = pg.send_program(client, approved, CLINICIAN)
    assert sent.outcome == "uncertain" and "DIFFERENT" in sent.message
    assert sent.readback is not None and sent.readback != NEW_FLEX
    saved = pg.record_result(store, intent, sent, CLINICIAN)
    assert saved.outcome == "uncertain"
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 1
    actions = [e["action"] for e in store.audit_entries()]
    assert "program_readback_differs" in actions
    # The next interrogation sees neither the old nor the new program: it stays flagged.
    assert pg.resolve_uncertain(store, saved, sent.readback, CLINICIAN) is None


def test_link_lost_after_the_commit_is_uncertain_until_the_next_interrogation(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    pump = protocol_simpump.get_pump(name)
    responder = protocol_simpump.get_responder(name)
    commit = pump.commit_program

    def commit_then_lose_the_link(checksum: int) -> Program:
        applied = commit(checksum)
        responder.faults.force("drop_reply")  # the COMMITTED reply never arrives
        responder.faults.force("disconnect", 60)  # and the link goes silent
        return applied

    pump.commit_program = commit_then_lose_the_link  # type: ignore[method-assign]
    approved = stored(store, live_check(client, NEW_FLEX), "more relief by day")
    intent = approved.change
    sent = pg.send_program(client, approved, CLINICIAN, deadline_s=10)
    assert sent.outcome == "uncertain" and sent.sent and "Interrogate" in sent.message
    assert pump.program == NEW_FLEX  # it was applied: "failed" would have been a lie
    saved = pg.record_result(store, intent, sent, CLINICIAN)
    assert saved.outcome == "uncertain"
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 1
    resolved = pg.resolve_uncertain(store, saved, pump.program, CLINICIAN)
    assert resolved is not None and resolved.outcome == "succeeded"
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 0


def test_nothing_is_sent_when_the_pump_changed_since_the_editor_read_it(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    approved = pg.approve(live_check(client, NEW_FLEX), "more relief by day", {})
    pump = protocol_simpump.get_pump(name)
    pump.commit_program(pump.stage_program(simple_continuous(450)))  # another programmer
    sent = pg.send_program(client, approved, CLINICIAN)
    assert sent.outcome == "failed" and not sent.sent and "has changed" in sent.message
    assert pump.program == simple_continuous(450)
    st = PumpState.from_interrogation(client.interrogate())
    other_conc = pg.check_program(replace(st, concentration_mcg_ml=500), simple_continuous(460), 500,
                                  CLINICIAN, LIBRARY, LONDON)  # fmt: skip
    wrong_conc = pg.send_program(
        client, pg.approve(other_conc, "more relief by day", {}), CLINICIAN
    )
    assert not wrong_conc.sent and "2000 mcg/mL" in wrong_conc.message
    other_pump = pg.check_program(replace(st, pump_serial="OTHER"), simple_continuous(460), 2000,
                                  CLINICIAN, LIBRARY, LONDON)  # fmt: skip
    wrong_pump = pg.send_program(
        client, pg.approve(other_pump, "more relief by day", {}), CLINICIAN
    )
    assert not wrong_pump.sent and "not OTHER" in wrong_pump.message
    assert pump.program == simple_continuous(450)


def test_a_not_sent_change_is_stored_as_failed_with_the_reason(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    _name, client = sim
    approved = stored(store, live_check(client, NEW_FLEX), "more relief by day")
    intent = approved.change
    protocol_simpump.get_pump(_name).commit_program(
        protocol_simpump.get_pump(_name).stage_program(simple_continuous(450))
    )  # another programmer changed it since the check
    sent = pg.send_program(client, approved, CLINICIAN)
    saved = pg.record_result(store, intent, sent, CLINICIAN)
    assert saved.outcome == "failed"
    assert store.versions("program_changes", saved.id or 0)[-1].correction_note.startswith(
        "Not sent:"
    )


def test_a_nurse_cannot_store_a_sent_change(store: Store) -> None:
    change = pg.build_change(check(simple_continuous(550)), "titration agreed at clinic", {})
    with pytest.raises(StoreError, match="only a clinician"):
        pg.record_intent(store, change, NURSE)


def test_sending_a_prepared_program_closes_it(sim: tuple[str, PumpClient], store: Store) -> None:
    _name, client = sim
    st = PumpState.from_interrogation(client.interrogate())
    prep_check = pg.check_program(st, NEW_FLEX, 2000, NURSE, LIBRARY, LONDON, purpose="prepare")
    prepared = store.add_prepared_program(
        pg.build_prepared(prep_check, "more relief by day", NURSE), NURSE
    )
    assert store.prepared_program("SIM0000001") == prepared
    result = live_check(client, prepared.program)
    approved = stored(store, result, prepared.reason)
    intent = approved.change
    sent = pg.send_program(client, approved, CLINICIAN)
    pg.record_result(store, intent, sent, CLINICIAN, prepared_id=prepared.id)
    assert store.prepared_program("SIM0000001") is None
    assert store.prepared_program_status(prepared.id or 0) == "sent"


def lose_the_link_after_commit(name: str) -> None:
    pump = protocol_simpump.get_pump(name)
    responder = protocol_simpump.get_responder(name)
    commit = pump.commit_program

    def commit_then_lose_the_link(checksum: int) -> Program:
        applied = commit(checksum)
        responder.faults.force("drop_reply")
        responder.faults.force("disconnect", 60)
        return applied

    pump.commit_program = commit_then_lose_the_link  # type: ignore[method-assign]


def test_a_prepared_program_stays_open_until_an_uncertain_send_is_settled(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    st = PumpState.from_interrogation(client.interrogate())
    prep_check = pg.check_program(st, NEW_FLEX, 2000, NURSE, LIBRARY, LONDON, purpose="prepare")
    prepared = store.add_prepared_program(
        pg.build_prepared(prep_check, "more relief by day", NURSE), NURSE
    )
    lose_the_link_after_commit(name)
    approved = stored(store, live_check(client, prepared.program), "more relief by day")
    intent = approved.change
    sent = pg.send_program(client, approved, CLINICIAN, deadline_s=10)
    assert sent.outcome == "uncertain"
    saved = pg.record_result(store, intent, sent, CLINICIAN, prepared_id=prepared.id)
    assert store.prepared_program_status(prepared.id or 0) == "prepared"  # not yet known
    pump = protocol_simpump.get_pump(name)
    settled = pg.resolve_uncertain(
        store, saved, pump.program, CLINICIAN, pump_serial="SIM0000001",
        concentration_mcg_ml=2000, prepared_id=prepared.id,
    )  # fmt: skip
    assert settled is not None and settled.outcome == "succeeded"
    assert store.prepared_program_status(prepared.id or 0) == "sent"


def test_an_uncertain_change_is_settled_only_from_the_same_pump_and_concentration(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    name, client = sim
    lose_the_link_after_commit(name)
    approved = stored(store, live_check(client, NEW_FLEX), "more relief by day")
    saved = pg.record_result(
        store, approved.change, pg.send_program(client, approved, CLINICIAN, deadline_s=10),
        CLINICIAN,
    )  # fmt: skip
    assert saved.outcome == "uncertain"
    with pytest.raises(pg.SettlementError, match="not SIM0000001"):
        pg.resolve_uncertain(
            store, saved, NEW_FLEX, CLINICIAN, pump_serial="SIM0000002", concentration_mcg_ml=2000
        )
    with pytest.raises(pg.SettlementError, match="500 mcg/mL"):
        pg.resolve_uncertain(
            store, saved, NEW_FLEX, CLINICIAN, pump_serial="SIM0000001", concentration_mcg_ml=500
        )
    assert store.patients_overview(date(2026, 3, 2))[0].uncertain_program_changes == 1
    settled = pg.resolve_uncertain(
        store, saved, NEW_FLEX, CLINICIAN, pump_serial="SIM0000001", concentration_mcg_ml=2000
    )
    assert settled is not None and settled.outcome == "succeeded"


def test_repeated_sends_reach_the_hard_limit_from_the_stored_changes(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    _name, client = sim
    pid = store.patients_overview(date(2026, 3, 2))[0].patient.id or 0

    def send(daily: int) -> pg.ProgramCheck:
        st = PumpState.from_interrogation(client.interrogate())
        history = store.patient_history(pid).program_changes
        result = pg.check_program(
            st, simple_continuous(daily), 2000, CLINICIAN, LIBRARY, LONDON, history=history
        )
        if not result.blocked:
            reasons = {
                f.key: pg.override_text(
                    pg.OVERRIDE_CATEGORIES[1], "titration agreed with consultant"
                )
                for f in result.soft
            }
            approved = pg.approve(
                result, "titration agreed at clinic", reasons, second_clinician="Dr Ben Second"
            )
            intent = pg.record_intent(store, approved.change, CLINICIAN)
            sent = pg.send_program(client, replace(approved, change=intent), CLINICIAN)
            assert sent.sent
            pg.record_result(store, intent, sent, CLINICIAN)
        return result

    assert not send(600).blocked  # +20 % from 500
    assert not send(720).blocked  # +20 % now, +44 % on the day: soft
    last = send(864)  # +20 % now, +72.8 % on the day
    assert rules(last, Severity.BLOCK) == {"change_pct"}


def test_a_change_is_stored_at_the_time_it_is_sent_not_when_the_editor_opened(
    sim: tuple[str, PumpClient], store: Store
) -> None:
    """An editor left open for an hour: the change's time (which the 24-hour window and
    the single-bolus count use) is when it goes to the pump."""
    _name, client = sim
    opened = datetime.now(UTC) - timedelta(hours=1)
    approved = pg.approve(live_check(client, NEW_FLEX), "more relief by day", {}, at=opened)
    intent = pg.record_intent(store, approved.change, CLINICIAN)
    assert datetime.now(UTC) - intent.at < timedelta(minutes=1)
