"""Accounts and sign-in (itbconsole.services.accounts, itbconsole.store.accounts, the
``itbconsole users`` command): passwords checked and never stored in plain text, wrong
passwords recorded and slowed down (counted with a fake clock: no test sleeps), disabled
accounts refused, administrators only, every change and event in the sealed audit log,
the second clinician's own password, and a nurse's account never sending a program."""

from __future__ import annotations

import io
import itertools
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher, profiles

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol_simpump
from drivers.pump_client import PumpClient
from itbconsole.cli import main
from itbconsole.druglib import load_drug_library
from itbconsole.model import Origin, Patient, Pump, Role, SecondCheck, User, simple_continuous
from itbconsole.services import programming as pg
from itbconsole.services.accounts import (
    BACKOFF_CAP_S,
    AccountError,
    AccountService,
    SignInRefused,
    backoff_s,
    password_problem,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.programming import ProgrammingError, PumpState
from itbconsole.services.programming.approval import second_check_subject
from itbconsole.store import Store

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
LIBRARY = load_drug_library()
LONDON = ZoneInfo("Europe/London")
ADMIN_PW = "admin-pass-1"
CLIN_PW = "clinician-pass-2"
SECOND_PW = "second-pass-3"
NURSE_PW = "nurse-pass-44"
_names = itertools.count()


class Clock:
    """A clock the test moves by hand: the backoff is counted from it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "clinic.sqlite") as opened:
        yield opened


@pytest.fixture
def accounts(store: Store, clock: Clock) -> AccountService:
    return AccountService(store, clock=clock, hasher=CHEAP)


@pytest.fixture
def staff(accounts: AccountService) -> dict[str, User]:
    """An administrator, two clinicians and a nurse, each having chosen their password."""
    admin = accounts.create_first_administrator("Ada Admin", ADMIN_PW, "GMC 1000001")
    people = {"admin": admin}
    for key, name, role, pw in (
        ("clinician", "Dr Carl Clinician", Role.CLINICIAN, CLIN_PW),
        ("second", "Dr Ben Second", Role.CLINICIAN, SECOND_PW),
        ("nurse", "Nia Nurse", Role.NURSE, NURSE_PW),
    ):
        account = accounts.create_account(admin, name, role, "first-pass-0", note="new staff")
        user = accounts.sign_in(name, "first-pass-0")
        assert accounts.must_change_password(user)
        accounts.change_own_password(user, "first-pass-0", pw)
        people[key] = account.user()
    return people


def audit_actions(store: Store) -> list[str]:
    return [str(e["action"]) for e in store.audit_entries()]


# --------------------------------------------------------------------------- passwords


def test_the_right_password_signs_in_as_the_accounts_user(
    accounts: AccountService, staff: dict[str, User]
) -> None:
    user = accounts.sign_in("  dr carl CLINICIAN ", CLIN_PW)
    assert user == staff["clinician"]
    assert (user.name, user.role, user.account_id) == (
        "Dr Carl Clinician",
        Role.CLINICIAN,
        staff["clinician"].account_id,
    )
    assert not accounts.must_change_password(user)


def test_a_wrong_password_is_refused_and_recorded(
    accounts: AccountService, store: Store, staff: dict[str, User]
) -> None:
    with pytest.raises(SignInRefused, match="Wrong password for Nia Nurse"):
        accounts.sign_in("Nia Nurse", "nurse-pass-45")
    failed = accounts.events(staff["nurse"].account_id, "sign_in_failed")
    assert len(failed) == 1
    # Nobody was proved to be anyone: the failure is stamped by no one, about the nurse.
    assert failed[0]["created_by"] == "(not signed in)" and failed[0]["name"] == "Nia Nurse"
    entry = list(store.audit_entries())[-1]
    assert entry["action"] == "sign_in_failed" and entry["user_name"] == "(not signed in)"
    with pytest.raises(SignInRefused, match="no account named Nobody"):
        accounts.sign_in("Nobody", "whatever-1")


def test_password_rules() -> None:
    assert "at least 8" in password_problem("short1")
    assert "repeated" in password_problem("aaaaaaaaaa")
    assert "your name" in password_problem("Nia Nurse!", "nia nurse!")
    assert "first anyone would try" in password_problem("Password")
    assert "at most" in password_problem("x" * 129 + "y")
    assert password_problem("tall-tree-42", "Nia Nurse") == ""


def test_backoff_doubles_after_three_failures_without_sleeping(
    accounts: AccountService, staff: dict[str, User], clock: Clock
) -> None:
    assert [backoff_s(n) for n in range(12)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert BACKOFF_CAP_S == 60
    for _ in range(2):
        with pytest.raises(SignInRefused) as refused:
            accounts.sign_in("Nia Nurse", "wrong-pass-0")
        assert refused.value.retry_after_s == 0
    with pytest.raises(SignInRefused, match="wait 1 s") as refused:
        accounts.sign_in("Nia Nurse", "wrong-pass-0")  # the third: from now on a wait
    assert refused.value.retry_after_s == 1
    # Too soon: refused unchecked, even with the right password, and not counted.
    with pytest.raises(SignInRefused, match="try again in 1 s"):
        accounts.sign_in("Nia Nurse", NURSE_PW)
    assert len(accounts.events(staff["nurse"].account_id, "sign_in_failed")) == 3
    clock.advance(1)
    with pytest.raises(SignInRefused, match="wait 2 s"):
        accounts.sign_in("Nia Nurse", "wrong-pass-0")
    clock.advance(1.5)
    assert accounts.retry_after("Nia Nurse") == 1  # 0.5 s left, rounded up
    clock.advance(0.5)
    with pytest.raises(SignInRefused, match="wait 4 s"):
        accounts.sign_in("Nia Nurse", "wrong-pass-0")
    for _ in range(10):  # capped
        clock.advance(BACKOFF_CAP_S)
        with pytest.raises(SignInRefused):
            accounts.sign_in("Nia Nurse", "wrong-pass-0")
    assert accounts.retry_after("Nia Nurse") == BACKOFF_CAP_S
    # Another account is not slowed down by the nurse's failures.
    assert accounts.sign_in("Dr Carl Clinician", CLIN_PW) == staff["clinician"]
    clock.advance(BACKOFF_CAP_S)
    assert accounts.sign_in("Nia Nurse", NURSE_PW) == staff["nurse"]
    assert accounts.retry_after("Nia Nurse") == 0  # a success ends the backoff


def test_the_backoff_holds_across_a_restart(
    store: Store, staff: dict[str, User], clock: Clock
) -> None:
    first = AccountService(store, clock=clock, hasher=CHEAP)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            first.sign_in("Nia Nurse", "wrong-pass-0")
    again = AccountService(store, clock=clock, hasher=CHEAP)  # the app started again
    assert again.retry_after("Nia Nurse") == 1
    with pytest.raises(SignInRefused, match="try again in 1 s"):
        again.sign_in("Nia Nurse", NURSE_PW)


def test_a_disabled_account_cannot_sign_in_and_keeps_its_records(
    accounts: AccountService, staff: dict[str, User]
) -> None:
    nurse = staff["nurse"]
    assert nurse.account_id is not None
    accounts.disable(staff["admin"], nurse.account_id, "left the clinic")
    with pytest.raises(SignInRefused, match="disabled"):
        accounts.sign_in("Nia Nurse", NURSE_PW)
    assert "Nia Nurse" not in accounts.sign_in_names()
    assert accounts.find("nia nurse") is not None  # never deleted
    assert accounts.current_user(nurse) is None  # an open session cannot unlock
    with pytest.raises(AccountError, match="already an account named"):
        accounts.create_account(staff["admin"], "NIA  nurse", Role.NURSE, "tall-tree-42")
    accounts.enable(staff["admin"], nurse.account_id, "back from leave")
    assert accounts.sign_in("Nia Nurse", NURSE_PW) == nurse


def test_only_an_administrator_manages_accounts(
    accounts: AccountService, staff: dict[str, User]
) -> None:
    admin, nurse, clinician = staff["admin"], staff["nurse"], staff["clinician"]
    assert admin.account_id and nurse.account_id and clinician.account_id
    for who in (nurse, clinician, User("Ada Admin", Role.ADMINISTRATOR)):  # no account
        with pytest.raises(AccountError, match="only an administrator"):
            accounts.create_account(who, "Eve Extra", Role.ADMINISTRATOR, "tall-tree-42")
        with pytest.raises(AccountError, match="only an administrator"):
            accounts.reset_password(who, admin.account_id, "tall-tree-42")
    with pytest.raises(AccountError, match="your own account"):
        accounts.disable(admin, admin.account_id)
    with pytest.raises(AccountError, match="last active administrator"):
        accounts.change_role(admin, admin.account_id, Role.CLINICIAN)
    accounts.change_role(admin, clinician.account_id, Role.ADMINISTRATOR, "deputy")
    accounts.change_role(admin, admin.account_id, Role.CLINICIAN, "stepping down")
    # The former administrator's session no longer administers anything.
    with pytest.raises(AccountError, match="only an administrator"):
        accounts.disable(admin, nurse.account_id)
    with pytest.raises(AccountError, match="already has accounts"):
        accounts.create_first_administrator("Mallory", "tall-tree-42")


def test_a_reset_password_must_be_changed_at_the_next_sign_in(
    accounts: AccountService, staff: dict[str, User]
) -> None:
    nurse = staff["nurse"]
    assert nurse.account_id is not None
    accounts.reset_password(staff["admin"], nurse.account_id, "temp-pass-77", "forgot it")
    with pytest.raises(SignInRefused):
        accounts.sign_in("Nia Nurse", NURSE_PW)
    user = accounts.sign_in("Nia Nurse", "temp-pass-77")
    assert accounts.must_change_password(user)
    with pytest.raises(AccountError, match="differ"):
        accounts.change_own_password(user, "temp-pass-77", "temp-pass-77")
    accounts.change_own_password(user, "temp-pass-77", "my-own-pass-8")
    assert not accounts.must_change_password(accounts.sign_in("Nia Nurse", "my-own-pass-8"))


def test_a_hash_made_with_other_parameters_is_replaced_at_sign_in(
    store: Store, staff: dict[str, User], clock: Clock
) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    service = AccountService(store, clock=clock, hasher=stronger)
    account = service.find("Nia Nurse")
    assert account is not None and stronger.check_needs_rehash(account.password_hash)
    service.sign_in("Nia Nurse", NURSE_PW)
    rehashed = service.find("Nia Nurse")
    assert rehashed is not None and rehashed.version_id != account.version_id
    assert not stronger.check_needs_rehash(rehashed.password_hash)
    assert "account_password_rehashed" in audit_actions(store)
    service.sign_in("Nia Nurse", NURSE_PW)  # now current: no new version
    assert service.find("Nia Nurse") == rehashed


def test_every_change_and_event_is_in_the_sealed_audit_log(
    accounts: AccountService, store: Store, staff: dict[str, User]
) -> None:
    admin, nurse, clinician = staff["admin"], staff["nurse"], staff["clinician"]
    assert nurse.account_id and clinician.account_id
    with pytest.raises(SignInRefused):
        accounts.sign_in("Nia Nurse", "wrong-pass-0")
    accounts.record_lock(nurse, "idle")
    accounts.unlock(nurse, NURSE_PW)
    accounts.switch_to("Dr Carl Clinician", CLIN_PW, nurse)
    accounts.record_sign_out(clinician)
    accounts.disable(admin, nurse.account_id, "left")
    accounts.change_role(admin, clinician.account_id, Role.ADMINISTRATOR, "deputy")
    accounts.reset_password(admin, clinician.account_id, "temp-pass-77", "forgot")
    actions = audit_actions(store)
    for action in (
        "signed_in", "sign_in_failed", "locked", "unlocked", "switched_user", "signed_out",
        "account_created", "account_disabled", "account_role_changed",
        "account_password_reset", "account_password_changed",
    ):  # fmt: skip
        assert action in actions, action
    report = store.verify()
    assert report.problems == [] and report.unverified == 0


def test_a_forged_account_is_found_by_verify(store: Store, staff: dict[str, User]) -> None:
    """An administrator's account written into the file behind the program has no sealed
    audit entry: db verify says so."""
    nurse = staff["nurse"]
    store.db.execute(
        "INSERT INTO account_versions (account_id, name, role, registration, active,"
        " password_hash, must_change_password, change, note, created_at, created_by,"
        " created_role) SELECT account_id, name, 'administrator', registration, 1,"
        " password_hash, 0, 'role_changed', '', created_at, created_by, created_role"
        " FROM account_versions WHERE account_id = ? ORDER BY id DESC LIMIT 1",
        [nurse.account_id],
    )
    store.db.conn.commit()
    problems = store.verify().problems
    assert any(p.table == "account_versions" and p.kind == "inserted" for p in problems)


def test_account_rows_are_never_changed_or_deleted(store: Store, staff: dict[str, User]) -> None:
    import sqlite3

    for sql in (
        "UPDATE account_versions SET role = 'administrator'",
        "DELETE FROM accounts",
        "DELETE FROM account_events",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="never changed or deleted"):
            store.db.execute(sql)


def test_passwords_are_never_stored_and_the_file_is_owner_only(
    tmp_path: Path, store: Store, staff: dict[str, User], accounts: AccountService
) -> None:
    with pytest.raises(SignInRefused):
        accounts.sign_in("Nia Nurse", "typo-pass-99")
    for row in store.db.query("SELECT password_hash FROM account_versions"):
        assert str(row["password_hash"]).startswith("$argon2id$")
    store.db.execute("PRAGMA wal_checkpoint(FULL)")
    files = [p for p in tmp_path.iterdir() if p.name.startswith("clinic.sqlite")]
    blob = b"".join(p.read_bytes() for p in files)
    for secret in (ADMIN_PW, CLIN_PW, SECOND_PW, NURSE_PW, "first-pass-0", "typo-pass-99"):
        assert secret.encode() not in blob, secret
    if os.name == "posix":
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --------------------------------------------------------------------------- second checker


@pytest.fixture
def sim() -> Iterator[PumpClient]:
    name = f"accountstest{next(_names)}"
    client = PumpClient.open(f"simpump://{name}?scenario=healthy")
    try:
        yield client
    finally:
        client.close()
        protocol_simpump.forget_pump(name)


def priming_check(client: PumpClient, sender: User) -> tuple[pg.ProgramCheck, dict[str, str]]:
    """A priming bolus on a pump implanted five days ago: a severe override (second
    clinician needed), not blocked."""
    live = PumpState.from_interrogation(client.interrogate())
    pump = Pump(
        live.pump_serial, "SIM-40", 40_000, 2_000,
        implant_date=live.read_at.date() - timedelta(days=5), pump_dead_volume_ul=200,
        catheter_length_cm=Decimal(60), catheter_ul_per_cm=Decimal("2.5"),
    )  # fmt: skip
    plan = pg.priming_plan(pump, live.concentration_mcg_ml, 30)
    new = pg.priming_program(plan, Decimal(500))
    check = pg.check_program(
        live, new, live.concentration_mcg_ml, sender, LIBRARY, LONDON, priming=plan, pump=pump
    )
    assert not check.blocked and pg.second_check_findings(check)
    reasons = {
        f.key: pg.override_text("New implant or catheter revision", "implant last week, Dr Ng")
        for f in check.soft
    }
    return check, reasons


def test_the_second_clinician_confirms_with_their_own_password(
    accounts: AccountService, staff: dict[str, User], sim: PumpClient, store: Store
) -> None:
    sender, second = staff["clinician"], staff["second"]
    check, reasons = priming_check(sim, sender)
    subject = second_check_subject(check)
    assert accounts.second_checkers(sender) == ["Ada Admin", "Dr Ben Second"]
    # A typed name is not enough for a sender signed in with an account.
    with pytest.raises(ProgrammingError, match="own account and password"):
        pg.approve(check, "prime the new pump", reasons, second_clinician="Dr Ben Second")
    # A wrong password is refused and recorded.
    with pytest.raises(SignInRefused, match="Wrong password for Dr Ben Second"):
        accounts.confirm_second_check(sender, "Dr Ben Second", "wrong-pass-0", subject)
    assert len(accounts.events(second.account_id, "second_check_failed")) == 1
    # The sender cannot be their own second clinician; a nurse cannot be one.
    with pytest.raises(SignInRefused, match="someone else"):
        accounts.confirm_second_check(sender, "Dr Carl Clinician", CLIN_PW, subject)
    with pytest.raises(SignInRefused, match="needs a clinician or an administrator"):
        accounts.confirm_second_check(sender, "Nia Nurse", NURSE_PW, subject)
    confirmed = accounts.confirm_second_check(sender, "Dr Ben Second", SECOND_PW, subject)
    assert (confirmed.name, confirmed.account_id) == ("Dr Ben Second", second.account_id)
    # A confirmation of another program does not carry over.
    other = SecondCheck(
        confirmed.account_id, confirmed.name, confirmed.role, confirmed.at, "SIM:0000", 1
    )
    with pytest.raises(ProgrammingError, match="confirmed another program"):
        pg.approve(check, "prime the new pump", reasons, second_clinician=other)
    approved = pg.approve(check, "prime the new pump", reasons, second_clinician=confirmed)
    result = pg.send_program(sim, approved, sender)
    assert result.sent, result.message
    both = [o for o in approved.change.overrides if "second clinician" in o]
    assert both and "Dr Ben Second (clinician" in both[0] and "own password" in both[0]
    assert "second_check" in audit_actions(store)


def test_a_nurse_account_cannot_send_a_program_by_any_path(
    accounts: AccountService, staff: dict[str, User], sim: PumpClient, store: Store
) -> None:
    nurse = accounts.sign_in("Nia Nurse", NURSE_PW)
    live = PumpState.from_interrogation(sim.interrogate())
    frames = sim.link.counters.frames_sent
    # Checked as the nurse: approving refuses; a change checked by a clinician is refused
    # for the nurse at the service, at the clinic service and at the point of action.
    check = pg.check_program(live, simple_continuous(520), live.concentration_mcg_ml, nurse,
                             LIBRARY, LONDON)  # fmt: skip
    with pytest.raises(ProgrammingError):
        pg.approve(check, "titration agreed at clinic", {})
    clinician_check = pg.check_program(
        live, simple_continuous(520), live.concentration_mcg_ml, staff["clinician"], LIBRARY,
        LONDON,
    )  # fmt: skip
    approved = pg.approve(clinician_check, "titration agreed at clinic", {})
    assert "signed in as nurse" in pg.send_refusal(approved, nurse)
    clinic = ClinicService(store, LIBRARY, nurse)
    patient = store.add_patient(
        Patient("Okafor", "Grace", datetime(1980, 1, 1).date(), "H1", Origin.SPINAL), nurse
    )
    with pytest.raises(ProgrammingError, match="signed in as nurse"):
        clinic.begin_program_send(approved, patient.id)
    result = pg.send_program(sim, approved, nurse)
    assert not result.sent
    assert sim.link.counters.frames_sent == frames  # not one byte
    assert store.patient_history(patient.id or 0).program_changes == ()


# --------------------------------------------------------------------------- the command


def run_cli(
    argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_users_command_after_an_administrators_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "c.sqlite")]
    assert main([*db, "db", "init"]) == 0
    capsys.readouterr()
    # The first account of a new database: an administrator, no --admin needed.
    code, out, err = run_cli(
        [*db, "users", "add", "Ada Admin", "--role", "administrator"],
        f"{ADMIN_PW}\n", monkeypatch, capsys,
    )  # fmt: skip
    assert code == 0, err
    code, _out, err = run_cli(
        [*db, "users", "add", "Eve Extra", "--role", "administrator"], "tall-tree-42\n",
        monkeypatch, capsys,
    )  # fmt: skip
    assert code == 1 and "an administrator adds one" in err
    code, out, err = run_cli(
        [*db, "users", "add", "Nia Nurse", "--role", "nurse", "--registration", "NMC 12A",
         "--admin", "Ada Admin"], f"{ADMIN_PW}\n{NURSE_PW}\n", monkeypatch, capsys,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(
        [*db, "users", "list", "--admin", "Ada Admin"], f"{ADMIN_PW}\n", monkeypatch, capsys
    )
    assert code == 0, err
    assert "Nia Nurse" in out and "nurse" in out and "NMC 12A" in out
    code, out, err = run_cli(
        [*db, "users", "list", "--admin", "Ada Admin"], "wrong-pass-0\n", monkeypatch, capsys
    )
    assert code == 1 and "Wrong password for Ada Admin" in err and out == ""
    code, _out, err = run_cli(
        [*db, "users", "disable", "Nia Nurse", "--note", "left", "--admin", "Nia Nurse"],
        f"{NURSE_PW}\n", monkeypatch, capsys,
    )  # fmt: skip
    assert code == 1 and "must change" not in err
    code, out, err = run_cli(
        [*db, "users", "disable", "nia nurse", "--note", "left the clinic", "--admin",
         "Ada Admin"], f"{ADMIN_PW}\n", monkeypatch, capsys,
    )  # fmt: skip
    assert code == 0 and "Disabled Nia Nurse" in out, err
    code, out, err = run_cli(
        [*db, "users", "passwd", "Nia Nurse", "--admin", "Ada Admin"],
        f"{ADMIN_PW}\nshort\n", monkeypatch, capsys,
    )  # fmt: skip
    assert code == 1 and "at least 8" in err
    with Store.open(tmp_path / "c.sqlite") as store:
        assert store.verify().problems == []
        actions = audit_actions(store)
    assert actions.count("account_created") == 2 and "account_disabled" in actions
    assert "sign_in_failed" in actions


def test_no_password_is_a_command_line_argument() -> None:
    import argparse

    from itbconsole.cli import build_parser

    def options(parser: argparse.ArgumentParser) -> Iterator[str]:
        for action in parser._actions:
            yield from action.option_strings
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from options(sub)

    users = build_parser()._subparsers._group_actions[0].choices["users"]  # type: ignore[union-attr]
    found = list(options(users))
    assert "--admin" in found and not [o for o in found if "pass" in o]


def test_wrong_passwords_tried_in_parallel_are_slowed_like_ones_in_turn(tmp_path: Path) -> None:
    """Eight attempts at once from eight connections (as from a shell): only the three
    free ones are checked; the rest wait, as they would one after another."""
    import threading
    from datetime import UTC, datetime

    from argon2 import PasswordHasher

    from itbconsole.services.accounts import AccountService, SignInRefused
    from itbconsole.store import Store

    path = tmp_path / "race.sqlite"
    when = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    with Store.open(path) as store:
        AccountService(store).create_first_administrator("Ada Admin", "lantern-orchard-42")
    answers: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        with Store.open(path) as own:
            service = AccountService(own, clock=lambda: when, hasher=PasswordHasher())
            start.wait()
            try:
                service.sign_in("Ada Admin", "not-the-password")
            except SignInRefused as exc:
                answers.append(str(exc))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = [a for a in answers if a.startswith("Wrong password")]
    assert len(answers) == 8 and len(checked) == 3, answers
