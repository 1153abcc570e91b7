"""A password check made beforehand (on the app's worker thread) is used only as the account
service made it: for that account, that stored hash and that password (a check of the
right password is worth nothing with another one, and one built or altered outside the
service, the stored hash being readable from the database, is ignored and the password
checked in place). A check whose form was closed before its answer records a wrong password
as one. An account whose password an administrator set comes in, and is recorded as come
in, only with its own new password: a success event ends the wrong-password count."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.model import Role, User
from itbconsole.services.accounts import (
    AccountError,
    AccountService,
    PasswordChangeCheck,
    PasswordCheck,
    SignInRefused,
)
from itbconsole.store import Store
from tests.itbconsole.test_accounts import CHEAP, NURSE_PW, Clock

NURSE = "Nia Nurse"
ADMIN = "Ada Admin"
ADMIN_PW = "admin-pass-1"
NEW_PW = "a-newer-pass-9"
ATTACKER_PW = "attacker-pass-9"
RESET_PW = "reset-pass-77"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountService]:
    with Store.open(tmp_path / "clinic.sqlite") as store:
        service = AccountService(store, clock=Clock(), hasher=CHEAP)
        admin = service.create_first_administrator(ADMIN, ADMIN_PW)
        service.create_account(admin, NURSE, Role.NURSE, "first-pass-0")
        user = service.sign_in(NURSE, "first-pass-0")
        service.change_own_password(user, "first-pass-0", NURSE_PW)
        yield service


def check(accounts: AccountService, password: str, name: str = NURSE) -> PasswordCheck:
    checker = accounts.password_checker(name)
    assert checker is not None
    return checker(password)


def stored_hash(accounts: AccountService, name: str = NURSE) -> str:
    found = accounts.find(name)
    assert found is not None
    return found.password_hash


def user(accounts: AccountService, name: str = NURSE) -> User:
    found = accounts.find(name)
    assert found is not None
    return found.user()


def details(accounts: AccountService, kind: str) -> list[dict[str, object]]:
    return [json.loads(e["detail"]) for e in accounts.events(None, kind)]


def later(accounts: AccountService) -> None:
    """The clock moved past any wait wrong passwords brought."""
    accounts.clock.now += timedelta(seconds=60)  # type: ignore[attr-defined]


def strengthen(accounts: AccountService) -> PasswordHasher:
    """New argon2 parameters: the stored hash is now due to be replaced at a sign-in."""
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    accounts.hasher = stronger
    assert stronger.check_needs_rehash(stored_hash(accounts))
    return stronger


# --------------------------------------------------------------------------- bound checks


def test_a_check_of_the_right_password_does_not_sign_in_with_another(
    accounts: AccountService,
) -> None:
    right = check(accounts, NURSE_PW)
    failed = details(accounts, "sign_in_failed")
    with pytest.raises(SignInRefused, match="Wrong password for Nia Nurse"):
        accounts.sign_in(NURSE, "totally-wrong", checked=right)
    # Recorded exactly as a wrong password checked in place is.
    assert details(accounts, "sign_in_failed") == [*failed, {"via": "the app"}]
    assert accounts.sign_in(NURSE, NURSE_PW, checked=right).name == NURSE


def test_a_check_built_or_altered_outside_the_service_is_ignored(
    accounts: AccountService,
) -> None:
    forged = PasswordCheck(stored_hash(accounts), True)
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.sign_in(NURSE, "x-anything", checked=forged)
    wrong = check(accounts, "wrong-pass-0")  # a genuine check, its answer turned round
    flipped = dataclasses.replace(wrong, matches=True)
    assert flipped.tag == wrong.tag
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.sign_in(NURSE, "wrong-pass-0", checked=flipped)
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.unlock(user(accounts), "wrong-pass-0", checked=flipped)
    later(accounts)  # past the wait three wrong passwords brought
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.switch_to(NURSE, "wrong-pass-0", None, checked=flipped)
    admins = PasswordCheck(stored_hash(accounts, ADMIN), True)
    with pytest.raises(SignInRefused, match="Wrong password for Ada Admin"):
        accounts.confirm_second_check(user(accounts), ADMIN, "x-anything", "s", checked=admins)
    assert accounts.events(None, "second_check") == []
    later(accounts)
    # Another service (its own key) made it: not this service's check, so checked in place.
    other = AccountService(accounts.store, clock=accounts.clock, hasher=CHEAP)
    theirs = other.password_checker(NURSE)
    assert theirs is not None
    with pytest.raises(SignInRefused):
        accounts.sign_in(
            NURSE, "wrong-pass-0", checked=dataclasses.replace(theirs("x"), matches=True)
        )
    later(accounts)
    assert accounts.sign_in(NURSE, NURSE_PW, checked=theirs(NURSE_PW)).name == NURSE


def test_a_check_for_one_account_does_not_sign_in_another(accounts: AccountService) -> None:
    nurses = check(accounts, NURSE_PW)
    copied = dataclasses.replace(nurses, password_hash=stored_hash(accounts, ADMIN))
    with pytest.raises(SignInRefused, match="Wrong password for Ada Admin"):
        accounts.sign_in(ADMIN, NURSE_PW, checked=copied)


def test_a_forged_rehash_never_replaces_the_password(accounts: AccountService) -> None:
    stronger = strengthen(accounts)
    mine = stronger.hash(ATTACKER_PW)
    forged = PasswordCheck(stored_hash(accounts), True, rehashed=mine)
    with pytest.raises(SignInRefused):
        accounts.sign_in(NURSE, "x-anything", checked=forged)
    # A genuine check of the right password, its rehash swapped: the password is checked
    # in place and hashed here, the swapped hash never stored.
    genuine = check(accounts, NURSE_PW)
    swapped = dataclasses.replace(genuine, rehashed=mine)
    assert accounts.sign_in(NURSE, NURSE_PW, checked=swapped).name == NURSE
    assert stored_hash(accounts) != mine
    assert accounts.sign_in(NURSE, NURSE_PW).name == NURSE
    with pytest.raises(SignInRefused):
        accounts.sign_in(NURSE, ATTACKER_PW)


def test_the_rehash_made_beside_a_genuine_check_is_still_stored(accounts: AccountService) -> None:
    strengthen(accounts)
    genuine = check(accounts, NURSE_PW)
    assert genuine.rehashed is not None
    accounts.sign_in(NURSE, NURSE_PW, checked=genuine)
    assert stored_hash(accounts) == genuine.rehashed


def test_a_change_check_stores_only_a_hash_of_the_new_password_given(
    accounts: AccountService,
) -> None:
    checker = accounts.password_change_checker(user(accounts))
    assert checker is not None
    made = checker(NURSE_PW, NEW_PW)
    assert made.new_hash is not None
    # Its new hash swapped for one of the attacker's password: ignored, the new password
    # hashed in place.
    swapped = dataclasses.replace(made, new_hash=CHEAP.hash(ATTACKER_PW))
    accounts.change_own_password(user(accounts), NURSE_PW, NEW_PW, checked=swapped)
    assert accounts.sign_in(NURSE, NEW_PW).name == NURSE
    with pytest.raises(SignInRefused):
        accounts.sign_in(NURSE, ATTACKER_PW)
    # A genuine change check for one new password, given with another: the other is stored.
    checker = accounts.password_change_checker(user(accounts))
    assert checker is not None
    made = checker(NEW_PW, "planned-pass-5")
    accounts.change_own_password(user(accounts), NEW_PW, "given-pass-6", checked=made)
    assert stored_hash(accounts) != made.new_hash
    assert accounts.sign_in(NURSE, "given-pass-6").name == NURSE
    # A forged one throughout.
    forged = PasswordChangeCheck(
        PasswordCheck(stored_hash(accounts), True), CHEAP.hash(ATTACKER_PW)
    )
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.change_own_password(user(accounts), "x-anything", NEW_PW, checked=forged)
    assert accounts.sign_in(NURSE, "given-pass-6").name == NURSE


def test_a_genuine_change_check_still_stores_the_hash_made_beside_it(
    accounts: AccountService,
) -> None:
    checker = accounts.password_change_checker(user(accounts))
    assert checker is not None
    made = checker(NURSE_PW, NEW_PW)
    accounts.change_own_password(user(accounts), NURSE_PW, NEW_PW, checked=made)
    assert stored_hash(accounts) == made.new_hash


# --------------------------------------------------------------------------- abandoned


def test_a_wrong_password_abandoned_while_checked_is_recorded_and_counted(
    accounts: AccountService,
) -> None:
    before = len(details(accounts, "sign_in_failed"))
    for _ in range(3):
        wrong = check(accounts, "wrong-pass-0")
        detail = {"via": "the app"}
        assert accounts.record_abandoned(NURSE, "wrong-pass-0", wrong, "sign_in_failed", detail)
    recorded = details(accounts, "sign_in_failed")[before:]
    assert recorded == [{"via": "the app", "abandoned": True}] * 3
    assert all(
        e["created_by"] == "(not signed in)" for e in accounts.events(None, "sign_in_failed")
    )
    assert accounts.retry_after(NURSE) == 1  # counted like any wrong password
    assert accounts.password_checker(NURSE) is None
    accounts.clock.now += timedelta(seconds=1)  # type: ignore[attr-defined]
    # A second clinician's wrong password abandoned: as a failed second check.
    admin_wrong = check(accounts, "wrong-pass-0", ADMIN)
    detail = {"sender": NURSE, "subject": "s"}
    assert accounts.record_abandoned(
        ADMIN, "wrong-pass-0", admin_wrong, "second_check_failed", detail
    )
    assert details(accounts, "second_check_failed")[-1] == {**detail, "abandoned": True}
    with pytest.raises(AccountError):
        accounts.record_abandoned(ADMIN, "wrong-pass-0", admin_wrong, "signed_in", {})


def test_a_right_or_unproven_abandoned_answer_records_nothing(accounts: AccountService) -> None:
    counts = {k: len(accounts.events(None, k)) for k in ("sign_in_failed", "signed_in")}
    right = check(accounts, NURSE_PW)
    assert not accounts.record_abandoned(NURSE, NURSE_PW, right, "sign_in_failed", {})
    # Built outside the service, or for another password than the one typed.
    forged = PasswordCheck(stored_hash(accounts), False)
    assert not accounts.record_abandoned(NURSE, "wrong-pass-0", forged, "sign_in_failed", {})
    wrong = check(accounts, "wrong-pass-0")
    assert not accounts.record_abandoned(NURSE, "other-pass-0", wrong, "sign_in_failed", {})
    assert not accounts.record_abandoned(NURSE, "x", RuntimeError("broke"), "sign_in_failed", {})
    # The hash changed since the check: not recorded (the check no longer says anything).
    accounts.change_own_password(user(accounts), NURSE_PW, NEW_PW)
    assert not accounts.record_abandoned(NURSE, "wrong-pass-0", wrong, "sign_in_failed", {})
    assert {k: len(accounts.events(None, k)) for k in counts} == counts


# --------------------------------------------------------------------------- forced change


def three_wrong_then_reset(accounts: AccountService) -> None:
    """The nurse's password reset by an administrator, after three wrong passwords."""
    accounts.reset_password(user(accounts, ADMIN), user(accounts).account_id or 0, RESET_PW)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.sign_in(NURSE, "wrong-pass-0")
    accounts.clock.now += timedelta(seconds=1)  # type: ignore[attr-defined]


def test_a_sign_in_that_must_change_the_password_is_recorded_only_with_the_change(
    accounts: AccountService,
) -> None:
    three_wrong_then_reset(accounts)
    signed_in = len(accounts.events(None, "signed_in"))
    nurse = accounts.sign_in(NURSE, RESET_PW, change_first=True)
    assert accounts.must_change_password(nurse)
    # Not in yet: nothing recorded as signed in, the wrong passwords still count.
    assert len(accounts.events(None, "signed_in")) == signed_in
    accounts.clock.now += timedelta(seconds=10)  # type: ignore[attr-defined]
    with pytest.raises(SignInRefused, match="wait 2 s"):
        accounts.sign_in(NURSE, "wrong-pass-0")
    accounts.clock.now += timedelta(seconds=2)  # type: ignore[attr-defined]
    nurse = accounts.sign_in(NURSE, RESET_PW, change_first=True)
    accounts.change_own_password(nurse, RESET_PW, NEW_PW)
    entries = accounts.events(nurse.account_id, "signed_in")
    assert len(accounts.events(None, "signed_in")) == signed_in + 1
    assert json.loads(entries[-1]["detail"]) == {"via": "the app"}
    assert entries[-1]["created_by"] == NURSE
    assert accounts.retry_after(NURSE) == 0
    assert not accounts.must_change_password(nurse)


def test_the_command_line_sign_in_is_recorded_at_once(accounts: AccountService) -> None:
    three_wrong_then_reset(accounts)
    signed_in = len(accounts.events(None, "signed_in"))
    accounts.sign_in(NURSE, RESET_PW, via="command line")
    assert len(accounts.events(None, "signed_in")) == signed_in + 1


def test_an_unlock_or_switch_that_must_change_the_password_waits_for_the_change(
    accounts: AccountService,
) -> None:
    three_wrong_then_reset(accounts)
    admin = user(accounts, ADMIN)
    nurse = accounts.switch_to(NURSE, RESET_PW, admin)
    assert accounts.events(None, "switched_user") == []
    assert accounts.retry_after(NURSE) == 0 and accounts.password_checker(NURSE) is not None
    accounts.clock.now += timedelta(seconds=10)  # type: ignore[attr-defined]
    with pytest.raises(SignInRefused):
        accounts.unlock(nurse, "wrong-pass-0")
    assert accounts.retry_after(NURSE) == 2  # four in a row: the success never came
    accounts.clock.now += timedelta(seconds=2)  # type: ignore[attr-defined]
    accounts.unlock(nurse, RESET_PW)
    assert accounts.events(None, "unlocked") == []
    accounts.change_own_password(nurse, RESET_PW, NEW_PW)
    kinds = [e["event"] for e in accounts.events(nurse.account_id)]
    assert kinds[-1] == "unlocked" and "switched_user" not in kinds
    assert accounts.retry_after(NURSE) == 0
