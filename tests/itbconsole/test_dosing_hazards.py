"""Dosing hazards a typed reason must not wave through (issue 11). Each rule here has its own
test, driven through the programming service as the editor drives it; each fails when only
that rule is removed (``RULES`` without it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from itbconsole import dosing
from itbconsole import forecast as fc
from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramChange,
    Pump,
    Reading,
    Refill,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services import programming as pg
from itbconsole.services.clinic import ClinicService
from itbconsole.services.programming import ProgrammingError, PumpState
from itbconsole.store import Store

LIBRARY = load_drug_library()
LONDON = __import__("zoneinfo").ZoneInfo("Europe/London")
CLINICIAN = User("Dr Ada Clinician", Role.CLINICIAN)
NURSE = User("Nia Nurse", Role.NURSE)
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SERIAL = "SIM0000001"
FILL = fc.Fill(T0 - timedelta(days=1), 20_000, 2000, "Lioresal Intrathecal", date(2027, 1, 1), 90)
FACTS = fc.PumpFacts(SERIAL, 2_000, fills=(FILL,))
STOPPED = Program(Mode.STOPPED)


def state(program: Program, **kw: object) -> PumpState:
    fields: dict[str, object] = {
        "pump_serial": SERIAL,
        "program": program,
        "concentration_mcg_ml": 2000,
        "drug_name": "Lioresal Intrathecal",
        "reservoir_ul": 20_000,
        "alarm_volume_ul": 2_000,
        "read_at": T0,
    }
    fields.update(kw)
    return PumpState(**fields)  # type: ignore[arg-type]


def check(new: Program, current: Program, **kw: object) -> pg.ProgramCheck:
    st = kw.pop("st", None) or state(current)
    kw.setdefault("facts", FACTS)
    return pg.check_program(st, new, 2000, CLINICIAN, LIBRARY, LONDON, **kw)  # type: ignore[arg-type]


def blocks(result: pg.ProgramCheck) -> set[str]:
    return {f.rule for f in result.blocks}


def without(rule: pg.Rule) -> tuple[pg.Rule, ...]:
    return tuple(r for r in pg.RULES if r is not rule)


def change(at: datetime, old: Program, new: Program, outcome: str = "succeeded") -> ProgramChange:
    return ProgramChange(SERIAL, at, old, new, 2000, "titration agreed", outcome=outcome)


def flex_at(rate: str) -> Program:
    return Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal(rate)),))


# --------------------------------------------------------------------------- 1. unit slip


@pytest.mark.parametrize("rate", ["60", "41.7"])
def test_flex_rate_that_is_a_daily_dose_is_blocked_on_a_pump_with_no_dose_on_record(
    rate: str,
) -> None:
    result = check(flex_at(rate), STOPPED)
    assert "unit_slip" in blocks(result)
    with pytest.raises(ProgrammingError, match="hourly rate"):
        pg.build_change(
            result, "new implant first dose", {f.key: "abcd efgh ijkl" for f in result.soft}
        )
    assert "unit_slip" not in blocks(
        check(flex_at(rate), STOPPED, rules=without(pg.rule_unit_slip))
    )


def test_a_plausible_flex_rate_on_a_new_pump_is_not_a_slip() -> None:
    assert "unit_slip" not in blocks(check(flex_at("8"), STOPPED))  # 192 mcg/day


# --------------------------------------------------------------------------- 2. restart


def test_a_restart_far_above_the_last_dose_is_a_hard_stop() -> None:
    history = (
        change(T0 - timedelta(days=3), STOPPED, simple_continuous(500)),
        change(T0 - timedelta(hours=25), simple_continuous(500), STOPPED),
    )
    result = check(simple_continuous(1400), STOPPED, history=history, now=T0)
    assert "starting_dose" in blocks(result)  # +180 % from 500 mcg/day
    assert "starting_dose" not in blocks(
        check(
            simple_continuous(1400),
            STOPPED,
            history=history,
            now=T0,
            rules=without(pg.rule_starting_dose),
        )
    )
    near = check(simple_continuous(500), STOPPED, history=history, now=T0)
    assert not near.blocked and {f.rule for f in near.soft} == {"starting_dose"}


def test_a_first_program_above_the_usual_maximum_is_a_hard_stop() -> None:
    assert "starting_dose" in blocks(check(simple_continuous(1200), STOPPED))
    assert not check(simple_continuous(150), STOPPED).blocked


# --------------------------------------------------------------------------- 3. priming


def test_priming_an_established_pump_is_a_hard_stop() -> None:
    old = Pump(
        SERIAL,
        "SIM-40",
        40_000,
        2_000,
        implant_date=date(2019, 6, 1),
        pump_dead_volume_ul=200,
        catheter_length_cm=Decimal(60),
        catheter_ul_per_cm=Decimal("2.5"),
    )
    plan = pg.priming_plan(old, 2000, 30)
    assert plan.dose_mcg == Decimal("700.000")  # 350 µL at 2000 mcg/mL
    result = check(
        pg.priming_program(plan, Decimal(500)), simple_continuous(500), priming=plan, pump=old
    )
    assert "priming" in blocks(result)
    for undated in (replace(old, implant_date=None),):
        assert "priming" in blocks(
            check(
                pg.priming_program(plan, Decimal(500)),
                simple_continuous(500),
                priming=plan,
                pump=undated,
            )
        )
    new = replace(old, implant_date=date(2026, 2, 27))
    ok = check(
        pg.priming_program(plan, Decimal(500)), simple_continuous(500), priming=plan, pump=new
    )
    assert not ok.blocked and {f.rule for f in ok.soft} == {"priming"}


# --------------------------------------------------------------------------- 4. withdrawal


@pytest.mark.parametrize(("new", "words"), [("41.7", "cuts the dose by 90"), ("0", "stops")])
def test_a_large_cut_or_a_stop_says_withdrawal_and_asks_for_the_cover_plan(
    new: str, words: str
) -> None:
    program = simple_continuous(new) if new != "0" else STOPPED
    result = check(program, simple_continuous(417))
    (finding,) = [f for f in result.soft if f.rule == "withdrawal"]
    assert words in finding.message and "WITHDRAWAL" in finding.message
    assert "oral baclofen" in finding.message and "itching" in finding.message
    with pytest.raises(ProgrammingError, match="overridden"):
        pg.build_change(result, "patient wishes to stop", {})
    with pytest.raises(ProgrammingError, match="overridden"):  # "abcd" is not a plan
        pg.build_change(result, "patient wishes to stop", {f.key: "abcd" for f in result.soft})
    plan = {
        f.key: pg.override_text(
            pg.OVERRIDE_CATEGORIES[3], "oral baclofen 10 mg tds from today, GP informed"
        )
        for f in result.soft
    }
    with pytest.raises(ProgrammingError, match="second clinician"):
        pg.build_change(result, "patient wishes to stop", plan)
    recorded = pg.build_change(
        result, "patient wishes to stop", plan, second_clinician="Dr Ben Second"
    )
    assert any("withdrawal" in o and "oral baclofen 10 mg" in o for o in recorded.overrides)
    assert "withdrawal" not in {
        f.rule
        for f in check(program, simple_continuous(417), rules=without(pg.rule_withdrawal)).findings
    }


# --------------------------------------------------------------------------- 5. boluses


def bolus(program: Program, dose: str, per_day: int, lockout: int = 120) -> Program:
    return replace(program, patient_bolus=PatientBolus(Decimal(dose), 10, lockout, per_day))


def test_the_maximum_24h_dose_counts_patient_boluses_bounded_by_the_lockout() -> None:
    assert dosing.max_24h_dose_mcg(bolus(simple_continuous(400), "100", 4)) == 800
    assert dosing.patient_boluses_in_24h(bolus(simple_continuous(400), "100", 40, 120)) == 12
    single = Program(
        Mode.SINGLE_BOLUS, Decimal(500), bolus_dose_mcg=Decimal(80), bolus_duration_minutes=60
    )
    assert dosing.max_24h_dose_mcg(single) == 580


def test_bolus_allowances_count_in_the_daily_and_percent_limits() -> None:
    doubled = check(bolus(simple_continuous(400), "100", 4), simple_continuous(400))
    assert "change_pct" in blocks(doubled)  # 400 -> 800 mcg in 24 h: +100 %
    over = check(bolus(simple_continuous(1000), "100", 4), simple_continuous(1000))
    assert "daily_dose_mcg" in {f.rule for f in over.findings}  # 1,400 mcg in 24 h
    huge = check(bolus(simple_continuous(1500), "200", 8), simple_continuous(1500))
    assert "daily_dose_mcg" in blocks(huge)  # 3,100 mcg in 24 h, over the hard 1,500
    assert "daily_dose_mcg" not in blocks(
        check(
            bolus(simple_continuous(1500), "200", 8),
            simple_continuous(1500),
            rules=without(pg.rule_daily_dose),
        )
    )


def test_a_lockout_of_zero_is_blocked() -> None:
    result = check(bolus(simple_continuous(500), "25", 4, lockout=0), simple_continuous(500))
    assert "lockout" in blocks(result)
    assert "lockout" not in blocks(
        check(
            bolus(simple_continuous(500), "25", 4, lockout=0),
            simple_continuous(500),
            rules=without(pg.rule_boluses_per_day),
        )
    )


def test_a_third_single_bolus_in_24_hours_is_blocked() -> None:
    single = Program(
        Mode.SINGLE_BOLUS, Decimal(500), bolus_dose_mcg=Decimal(199), bolus_duration_minutes=10
    )
    history = (
        change(
            T0 - timedelta(minutes=30),
            simple_continuous(500),
            replace(single, bolus_dose_mcg=Decimal(50)),
        ),
        change(
            T0 - timedelta(minutes=15),
            simple_continuous(500),
            replace(single, bolus_dose_mcg=Decimal(50)),
        ),
    )
    result = check(single, simple_continuous(500), history=history, now=T0)
    assert "bolus_count" in blocks(result)
    first = check(replace(single, bolus_dose_mcg=Decimal(50)), simple_continuous(500), now=T0)
    assert "bolus_count" not in blocks(first)


# --------------------------------------------------------------------------- 6. concentration


def test_a_pump_concentration_other_than_the_records_blocks_programming() -> None:
    st = state(simple_continuous(500), concentration_mcg_ml=500)
    result = pg.check_program(
        st, simple_continuous(520), 500, CLINICIAN, LIBRARY, LONDON, facts=FACTS
    )
    (finding,) = [f for f in result.blocks if f.rule == "records_concentration"]
    assert "The pump says 500 mcg/mL; the records say 2000 mcg/mL" in finding.message
    assert "0.25" not in finding.message and "25 % of the prescribed dose" in finding.message
    assert "records_concentration" not in blocks(
        pg.check_program(
            st,
            simple_continuous(520),
            500,
            CLINICIAN,
            LIBRARY,
            LONDON,
            facts=FACTS,
            rules=without(pg.rule_records_concentration),
        )
    )


def test_a_concentration_mismatch_is_flagged_on_the_list_and_overview(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.sqlite")
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H1", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(Pump(SERIAL, "SIM-40", 40_000, 2_000), patient.id, NURSE)
    store.add_refill(
        Refill(
            SERIAL,
            T0 - timedelta(days=10),
            2000,
            2000,
            40_000,
            "Lioresal Intrathecal",
            500,
            "L1",
            date(2027, 1, 1),
        ),
        NURSE,
    )
    store.add_reading(
        Reading(SERIAL, T0, T0, 38_000, 2_000, 3_050, False, False, 2000, simple_continuous(500)),
        NURSE,
    )
    clinic = ClinicService(store, LIBRARY, NURSE, LONDON)
    row = clinic.patient_row(patient.id, now=T0)
    ov = clinic.overview(patient.id, now=T0)
    assert row is not None and row.status is not None and ov is not None
    assert row.status.status is fc.Status.ATTENTION is ov.status.status
    assert (
        "The pump says 2000 mcg/mL; the records say 500 mcg/mL. The patient may be getting 4 times"
        in row.status.reason
    )


# --------------------------------------------------------------------------- 9. read-back


class _LyingDriver:
    """A pump client whose driver reports success whatever it read back: the service's own
    comparison must still catch a different program (its read-back is independent of the
    driver's)."""

    def __init__(self, running: Program, read_back: Program) -> None:
        self.running, self.read_back = running, read_back

    def identify(self, **_kw: object) -> object:
        return type("Identity", (), {"serial": SERIAL})()

    def read_status(self, **_kw: object) -> object:
        return type("Status", (), {"concentration_mcg_ml": 2000})()

    def read_program(self, **_kw: object) -> tuple[Program, datetime]:
        return self.running, T0

    def write_program(self, program: Program, **_kw: object) -> object:
        from drivers.pump_client import WriteOutcome, WriteResult

        return WriteResult(WriteOutcome.SUCCEEDED, "written", self.read_back)


def test_the_service_compares_the_read_back_itself() -> None:
    old, new = simple_continuous(500), simple_continuous(550)
    approved = pg.approve(check(new, old), "titration agreed", {})
    # this driver reports no pump state to check again (that is tested with the simulator)
    approved = replace(approved, check=replace(approved.check, context=None))
    wrong = pg.send_program(_LyingDriver(old, simple_continuous(5500)), approved, CLINICIAN)  # type: ignore[arg-type]
    assert wrong.outcome == "uncertain" and "DIFFERENT program" in wrong.message
    right = pg.send_program(_LyingDriver(old, new), approved, CLINICIAN)  # type: ignore[arg-type]
    assert right.outcome == "succeeded"


def test_priming_after_a_recorded_catheter_revision_primes_the_catheter_only() -> None:
    old = Pump(SERIAL, "SIM-40", 40_000, 2_000, implant_date=date(2019, 6, 1),
               pump_dead_volume_ul=200, catheter_length_cm=Decimal(60),
               catheter_ul_per_cm=Decimal("2.5"))  # fmt: skip
    catheter = pg.priming_plan(old, 2000, 30, catheter_only=True)
    whole = pg.priming_plan(old, 2000, 30)
    revised = date(2026, 2, 25)
    ok = check(pg.priming_program(catheter, Decimal(500)), simple_continuous(500),
               priming=catheter, pump=old, catheter_revised_on=revised)  # fmt: skip
    assert not ok.blocked and {f.rule for f in ok.soft} == {"priming"}
    assert "catheter was revised on 25 Feb 2026" in ok.soft[0].message
    full = check(pg.priming_program(whole, Decimal(500)), simple_continuous(500),
                 priming=whole, pump=old, catheter_revised_on=revised)  # fmt: skip
    assert "priming" in blocks(full) and "prime the catheter only" in full.blocks[0].message
    stale = check(pg.priming_program(catheter, Decimal(500)), simple_continuous(500),
                  priming=catheter, pump=old, catheter_revised_on=date(2025, 1, 1))  # fmt: skip
    assert "priming" in blocks(stale)
