"""Authorisation at the point of action: every service that writes to a pump takes the
signed-in user and refuses before a byte is sent unless the role and the checks allow it.

The pump is the simulator; "nothing was sent" is read from the link's own counters and the
simulated pump's state, never from what the service says about itself."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol_simpump
from drivers.pump_client import PumpClient, WriteOutcome
from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    ROLE_ACTIONS,
    Action,
    Mode,
    Origin,
    Patient,
    Program,
    Pump,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services import programming as pg
from itbconsole.services import pump_actions
from itbconsole.services.clinic import ClinicService
from itbconsole.services.programming import ProgrammingError, PumpState
from itbconsole.store import Store

LIBRARY = load_drug_library()
LONDON = ZoneInfo("Europe/London")
NURSE = User("Nia Nurse", Role.NURSE)
CLINICIAN = User("Dr Ada Clinician", Role.CLINICIAN)
OTHER_CLINICIAN = User("Dr Ben Second", Role.CLINICIAN)
_names = itertools.count()


@pytest.fixture
def sim() -> Iterator[tuple[str, PumpClient]]:
    name = f"authtest{next(_names)}"
    client = PumpClient.open(f"simpump://{name}?scenario=healthy")
    try:
        yield name, client
    finally:
        client.close()
        protocol_simpump.forget_pump(name)


def live_state(client: PumpClient) -> PumpState:
    return PumpState.from_interrogation(client.interrogate())


def approved_change(client: PumpClient, new: Program, user: User = CLINICIAN) -> pg.ApprovedChange:
    st = live_state(client)
    check = pg.check_program(st, new, st.concentration_mcg_ml, user, LIBRARY, LONDON)
    return pg.approve(check, "titration agreed at clinic", {})


def sent_frames(client: PumpClient) -> int:
    return client.link.counters.frames_sent


def test_the_role_table_lets_a_nurse_refill_and_set_the_clock_only() -> None:
    assert ROLE_ACTIONS[Role.NURSE] == {Action.REFILL, Action.SET_CLOCK}
    assert not NURSE.may(Action.SEND_PROGRAM) and not NURSE.may(Action.SINGLE_BOLUS)
    assert all(CLINICIAN.may(a) for a in Action)
    assert "only a clinician or an administrator" in NURSE.refusal(Action.SEND_PROGRAM)


def test_a_nurse_cannot_send_a_program_not_one_byte(sim: tuple[str, PumpClient]) -> None:
    name, client = sim
    start = protocol_simpump.get_pump(name).program
    approved = approved_change(client, simple_continuous(520))
    before = sent_frames(client)
    result = pg.send_program(client, approved, NURSE)
    assert not result.sent and result.outcome == "failed"
    assert "signed in as nurse" in result.message
    assert sent_frames(client) == before
    assert protocol_simpump.get_pump(name).program == start


def test_a_change_is_sent_only_by_the_clinician_who_checked_it(
    sim: tuple[str, PumpClient],
) -> None:
    name, client = sim
    approved = approved_change(client, simple_continuous(520))
    before = sent_frames(client)
    result = pg.send_program(client, approved, OTHER_CLINICIAN)
    assert not result.sent and "must check it again" in result.message
    assert sent_frames(client) == before
    assert pg.send_program(client, approved, CLINICIAN).outcome == "succeeded"
    assert protocol_simpump.get_pump(name).program == simple_continuous(520)


def test_a_forged_approval_is_refused_before_a_byte_is_sent(sim: tuple[str, PumpClient]) -> None:
    """An approval built around the rules (a soft limit with no reason, a record that is not
    the program checked) is refused by the sending service itself."""
    name, client = sim
    start = protocol_simpump.get_pump(name).program
    st = live_state(client)
    soft = pg.check_program(st, simple_continuous(650), 2000, CLINICIAN, LIBRARY, LONDON)
    assert soft.soft and not soft.blocked  # +30 %: a reason is needed
    change = pg.build_change(
        soft, "titration agreed at clinic",
        {f.key: pg.override_text(pg.OVERRIDE_CATEGORIES[1], "agreed with consultant")
         for f in soft.soft},
    )  # fmt: skip
    no_reason = pg.ApprovedChange(change, soft, {})
    ok = approved_change(client, simple_continuous(520))
    swapped = replace(ok, change=replace(ok.change, new=simple_continuous(5000)))
    before = sent_frames(client)
    for forged, why in ((no_reason, "Choose why the limit"), (swapped, "differs from")):
        result = pg.send_program(client, forged, CLINICIAN)
        assert not result.sent and why in result.message
    assert sent_frames(client) == before
    assert protocol_simpump.get_pump(name).program == start


def test_every_rule_runs_again_on_the_pump_state_at_the_point_of_action(
    sim: tuple[str, PumpClient],
) -> None:
    """A priming bolus approved on a reading taken 5 days after the implant is sent 40 days
    after it: checked again on the pump's state now, it is a hard stop and nothing is
    written."""
    name, client = sim
    start = protocol_simpump.get_pump(name).program
    live = live_state(client)
    implanted = live.read_at.date() - timedelta(days=40)
    pump = Pump(
        live.pump_serial, "SIM-40", 40_000, 2_000, implant_date=implanted,
        pump_dead_volume_ul=200, catheter_length_cm=Decimal(60),
        catheter_ul_per_cm=Decimal("2.5"),
    )  # fmt: skip
    plan = pg.priming_plan(pump, live.concentration_mcg_ml, 30)
    new = pg.priming_program(plan, Decimal(500))
    stale = replace(live, read_at=live.read_at - timedelta(days=35), live=False)
    check = pg.check_program(
        stale, new, live.concentration_mcg_ml, CLINICIAN, LIBRARY, LONDON, priming=plan, pump=pump
    )
    assert not check.blocked and "priming" in {f.rule for f in check.soft}
    reasons = {
        f.key: pg.override_text("New implant or catheter revision", "implant last week, Dr Ng")
        for f in check.soft
    }
    approved = pg.approve(
        check, "prime the new pump", reasons, second_clinician=OTHER_CLINICIAN.name
    )
    result = pg.send_program(client, approved, CLINICIAN)
    assert not result.sent and result.message.startswith("Checked again on the pump's state now")
    sim_pump = protocol_simpump.get_pump(name)
    assert sim_pump.program == start and sim_pump.staged_program is None


def test_the_clinic_service_refuses_a_nurse_before_anything_is_stored(
    sim: tuple[str, PumpClient],
) -> None:
    _name, client = sim
    approved = approved_change(client, simple_continuous(520))
    with Store.open(":memory:") as store:
        patient = store.add_patient(
            Patient("Okafor", "Grace", date(1980, 1, 1), "H1", Origin.SPINAL), NURSE
        )
        clinic = ClinicService(store, LIBRARY, NURSE, LONDON)
        with pytest.raises(ProgrammingError, match="signed in as nurse"):
            clinic.begin_program_send(approved, patient.id)
        assert store.patient_history(patient.id or 0).program_changes == ()


def bolus_approval(client: PumpClient, user: User = CLINICIAN) -> pg.ApprovedChange:
    st = live_state(client)
    program = Program(
        Mode.SINGLE_BOLUS, daily_dose_mcg=Decimal(500), bolus_dose_mcg=Decimal(50),
        bolus_duration_minutes=60,
    )  # fmt: skip
    check = pg.check_program(st, program, st.concentration_mcg_ml, user, LIBRARY, LONDON)
    reasons = {
        f.key: pg.override_text(pg.OVERRIDE_CATEGORIES[1], "agreed with the consultant")
        for f in check.soft
    }
    return pg.approve(check, "breakthrough spasm today", reasons, second_clinician="Dr Ben Second")


def test_a_nurse_cannot_give_a_bolus_and_a_clinician_can(sim: tuple[str, PumpClient]) -> None:
    name, client = sim
    approved = bolus_approval(client)
    before = sent_frames(client)
    with pytest.raises(pump_actions.NotAllowed, match="signed in as nurse"):
        pump_actions.give_single_bolus(client, NURSE, approved)
    assert sent_frames(client) == before and protocol_simpump.get_pump(name).boluses() == []
    result = pump_actions.give_single_bolus(client, CLINICIAN, approved)
    assert result.outcome is WriteOutcome.SUCCEEDED
    assert len(protocol_simpump.get_pump(name).boluses()) == 1


def test_a_bolus_is_given_only_as_an_approved_single_bolus_program(
    sim: tuple[str, PumpClient],
) -> None:
    name, client = sim
    other = approved_change(client, simple_continuous(520))
    with pytest.raises(pump_actions.NotAllowed, match="single-bolus program"):
        pump_actions.give_single_bolus(client, CLINICIAN, other)
    forged = replace(bolus_approval(client), override_reasons={})
    if forged.check.soft:  # a soft limit with its reason taken away is refused
        with pytest.raises(pump_actions.NotAllowed):
            pump_actions.give_single_bolus(client, CLINICIAN, forged)
    assert protocol_simpump.get_pump(name).boluses() == []


def test_a_write_goes_only_to_the_pump_it_is_meant_for(sim: tuple[str, PumpClient]) -> None:
    name, client = sim
    pump = protocol_simpump.get_pump(name)
    clock = pump.pump_clock()
    with pytest.raises(pump_actions.DifferentPump):
        pump_actions.set_pump_clock(client, NURSE, "SIM0000099")
    elsewhere = bolus_approval(client)
    elsewhere = replace(elsewhere, change=replace(elsewhere.change, pump_serial="SIM0000099"))
    with pytest.raises((pump_actions.DifferentPump, pump_actions.NotAllowed)):
        pump_actions.give_single_bolus(client, CLINICIAN, elsewhere)
    assert pump.boluses() == [] and abs((pump.pump_clock() - clock).total_seconds()) < 60


def test_a_nurse_may_set_the_clock_and_the_outcome_is_recorded(
    sim: tuple[str, PumpClient],
) -> None:
    _name, client = sim
    done = pump_actions.set_pump_clock(client, NURSE, client.identify().serial)
    assert done["outcome"] == "succeeded" and done["pump_serial"] == "SIM0000001"


def test_a_role_taken_away_since_sign_in_sends_nothing(sim: tuple[str, PumpClient]) -> None:
    """The administrator makes the clinician a nurse while they are signed in: the next
    send is refused before anything is stored or sent."""
    from argon2 import PasswordHasher

    from itbconsole.services.accounts import AccountService

    _name, client = sim
    with Store.open(":memory:") as store:
        accounts = AccountService(store, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
        admin = accounts.create_first_administrator("Ada Admin", "lantern-orchard-42")
        accounts.create_account(admin, "Dr Carl Clinician", Role.CLINICIAN, "meadow-copper-77")
        carl = accounts.sign_in("Dr Carl Clinician", "meadow-copper-77")
        patient = store.add_patient(
            Patient("Okafor", "Grace", date(1980, 1, 1), "H1", Origin.SPINAL), carl
        )
        clinic = ClinicService(store, LIBRARY, carl, LONDON)
        clinic.accounts = accounts
        approved = approved_change(client, simple_continuous(520), user=carl)
        account = accounts.find("Dr Carl Clinician")
        assert account is not None
        accounts.change_role(admin, account.id, Role.NURSE)
        with pytest.raises(ProgrammingError, match="role changed"):
            clinic.begin_program_send(approved, patient.id)
        assert store.patient_history(patient.id or 0).program_changes == ()
