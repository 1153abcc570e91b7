"""Domain records refuse clinically or structurally invalid values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itbconsole.model import (
    STOPPED,
    FlexStep,
    Mode,
    ModelError,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramSegment,
    Pump,
    Reading,
    Role,
    User,
    nhs_number_is_valid,
    normalise_nhs_number,
    simple_continuous,
)


def test_nhs_number_check_digit() -> None:
    # 9434765919: weights 10..2 give 299; 299 mod 11 = 2; 11 - 2 = 9 = the last digit.
    assert nhs_number_is_valid("943 476 5919")
    assert not nhs_number_is_valid("9434765918")
    assert not nhs_number_is_valid("943476591")
    assert normalise_nhs_number("943-476-5919") == "9434765919"
    with pytest.raises(ModelError, match="not valid"):
        normalise_nhs_number("9434765918")


def test_patient_validation_and_age() -> None:
    p = Patient("Smith", "Ann", date(2010, 6, 15), "H123", Origin.CEREBRAL, "9434765919")
    assert p.display_name == "SMITH, Ann"
    assert p.age_on(date(2026, 6, 14)) == 15
    assert p.age_on(date(2026, 6, 15)) == 16
    with pytest.raises(ModelError, match="NHS"):
        Patient("Smith", "Ann", date(2010, 6, 15), "H123", Origin.SPINAL, "9434765918")
    with pytest.raises(ModelError, match="Hospital number"):
        Patient("Smith", "Ann", date(2010, 6, 15), " ", Origin.SPINAL)


def test_only_clinicians_send_programs() -> None:
    assert not User("n", Role.NURSE).can_send_program()
    assert User("c", Role.CLINICIAN).can_send_program()


def test_pump_volumes() -> None:
    pump = Pump(
        "S",
        "8637-40",
        40_000,
        2_000,
        pump_dead_volume_ul=230,
        catheter_length_cm=Decimal("40"),
        catheter_ul_per_cm=Decimal("2.2"),
    )
    assert pump.dead_volume_ul == Decimal("318.0")
    with pytest.raises(ModelError, match="alarm"):
        Pump("S", "8637-20", 20_000, 20_000)
    with pytest.raises(ModelError, match="capacity"):
        Pump("S", "8637-20", 0, 0)


def test_flex_schedule_rules() -> None:
    with pytest.raises(ModelError, match="00:00"):
        Program(Mode.FLEX, flex_steps=(FlexStep(60, Decimal(1)),))
    with pytest.raises(ModelError, match="at most 13"):
        Program(Mode.FLEX, flex_steps=tuple(FlexStep(m * 60, Decimal(1)) for m in range(14)))
    with pytest.raises(ModelError, match="time order"):
        Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal(1)), FlexStep(0, Decimal(2))))
    with pytest.raises(ModelError, match="negative"):
        FlexStep(0, Decimal(-1))
    with pytest.raises(ModelError, match="23:59"):
        FlexStep(1440, Decimal(1))
    assert Program(Mode.FLEX, flex_steps=tuple(FlexStep(m * 60, Decimal(1)) for m in range(13)))


def test_program_rules() -> None:
    with pytest.raises(ModelError, match="single bolus"):
        Program(Mode.SINGLE_BOLUS, bolus_dose_mcg=Decimal(0), bolus_duration_minutes=10)
    with pytest.raises(ModelError, match="stopped"):
        Program(Mode.STOPPED, patient_bolus=PatientBolus(Decimal(50), 1, 60, 4))
    with pytest.raises(ModelError, match="negative"):
        simple_continuous("-1")
    with pytest.raises(ModelError, match="timezone"):
        ProgramSegment(datetime(2026, 1, 1), STOPPED, 500)
    with pytest.raises(ModelError, match="Concentration"):
        ProgramSegment(datetime(2026, 1, 1, tzinfo=UTC), STOPPED, 0)


rates = st.decimals(0, 500, places=2, allow_nan=False, allow_infinity=False)
steps = st.lists(st.integers(1, 1439), max_size=12, unique=True).flatmap(
    lambda starts: st.lists(rates, min_size=len(starts) + 1, max_size=len(starts) + 1).map(
        lambda rs: tuple(FlexStep(m, r) for m, r in zip([0, *sorted(starts)], rs, strict=True))
    )
)


@given(
    default=steps,
    saturday=steps,
    bolus=st.one_of(
        st.none(),
        st.builds(
            PatientBolus,
            rates.filter(bool),
            st.integers(0, 60),
            st.integers(0, 240),
            st.integers(0, 12),
        ),
    ),
)
def test_program_dict_round_trip(
    default: tuple[FlexStep, ...], saturday: tuple[FlexStep, ...], bolus: PatientBolus | None
) -> None:
    program = Program(
        Mode.FLEX, flex_steps=default, flex_weekday_steps=((5, saturday),), patient_bolus=bolus
    )
    assert Program.from_dict(program.to_dict()) == program
    assert program.steps_for_weekday(5) == saturday
    assert program.steps_for_weekday(0) == default


def test_reading_clock_offset() -> None:
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    reading = Reading(
        "S", at, at + timedelta(seconds=95), 20_000, 2_000, 3000, False, False, 500, STOPPED
    )
    assert reading.clock_offset_s == 95


def test_outcomes_and_refill_statuses_are_enums_and_nothing_else_is_accepted() -> None:
    """Issue 12: outcomes were free strings, so a typo ("succeded") would have read as
    "not succeeded" everywhere. They are enums now, stored as their values."""
    from datetime import UTC, datetime

    from itbconsole.model import ChangeOutcome, ProgramChange, Refill, RefillStatus

    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    prog = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(500))
    change = ProgramChange("SER1", at, prog, prog, 2000, "titration agreed", outcome="uncertain")
    assert change.outcome is ChangeOutcome.UNCERTAIN and change.outcome == "uncertain"
    with pytest.raises(ModelError, match="Unknown program change outcome 'succeded'"):
        ProgramChange("SER1", at, prog, prog, 2000, "titration agreed", outcome="succeded")
    refill = Refill("SER1", at, 1_000, 1_000, 20_000, "Gablofen", 2000, "L1", at.date(), "pending")
    assert refill.status is RefillStatus.PENDING
    with pytest.raises(ModelError, match="Unknown refill status"):
        Refill("SER1", at, 1_000, 1_000, 20_000, "Gablofen", 2000, "L1", at.date(), "done")
