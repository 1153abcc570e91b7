"""A password checked beforehand (on the app's worker thread) decides a sign-in as the check
made in place would: wrong passwords recorded and slowed, a wait counted again when the
attempt is decided, a check against a hash replaced meanwhile not used, a hash made with
other parameters replaced with the one worked out beside the check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.model import Role
from itbconsole.services.accounts import AccountService, PasswordCheck, SignInRefused
from itbconsole.store import Store
from tests.itbconsole.test_accounts import CHEAP, NURSE_PW, Clock

NURSE = "Nia Nurse"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountService]:
    with Store.open(tmp_path / "clinic.sqlite") as store:
        service = AccountService(store, clock=Clock(), hasher=CHEAP)
        admin = service.create_first_administrator("Ada Admin", "admin-pass-1")
        service.create_account(admin, NURSE, Role.NURSE, "first-pass-0")
        user = service.sign_in(NURSE, "first-pass-0")
        service.change_own_password(user, "first-pass-0", NURSE_PW)
        yield service


def check(accounts: AccountService, password: str, name: str = NURSE) -> PasswordCheck:
    checker = accounts.password_checker(name)
    assert checker is not None
    return checker(password)


def failures(accounts: AccountService) -> int:
    return len(accounts.events(None, "sign_in_failed"))


def test_a_check_made_beforehand_signs_in_or_refuses_and_records_as_before(
    accounts: AccountService,
) -> None:
    right, wrong = check(accounts, NURSE_PW), check(accounts, "wrong-pass-0")
    assert right.matches and not wrong.matches
    before = failures(accounts)
    with pytest.raises(SignInRefused, match="Wrong password for Nia Nurse"):
        accounts.sign_in(NURSE, "wrong-pass-0", checked=wrong)
    assert failures(accounts) == before + 1
    user = accounts.sign_in(NURSE, NURSE_PW, checked=right)
    assert user.name == NURSE and accounts.events(user.account_id, "signed_in")


def test_nothing_is_checked_while_a_wait_is_due_or_for_no_active_account(
    accounts: AccountService,
) -> None:
    assert accounts.password_checker("Nobody Here") is None
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.sign_in(NURSE, "wrong-pass-0")
    assert accounts.retry_after(NURSE) == 1
    assert accounts.password_checker(NURSE) is None


def test_wrong_passwords_recorded_after_the_check_make_the_attempt_wait(
    accounts: AccountService,
) -> None:
    """Attempts in parallel (another console, the command line) are slowed as attempts made
    one after another: the wait is counted when the attempt is decided."""
    right = check(accounts, NURSE_PW)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.sign_in(NURSE, "wrong-pass-0")
    before = failures(accounts)
    with pytest.raises(SignInRefused, match="try again in 1 s") as refused:
        accounts.sign_in(NURSE, NURSE_PW, checked=right)
    assert refused.value.retry_after_s == 1
    assert failures(accounts) == before  # refused unchecked, as before: not counted


def test_a_check_against_a_password_changed_meanwhile_is_not_used(
    accounts: AccountService,
) -> None:
    old = check(accounts, NURSE_PW)
    user = accounts.sign_in(NURSE, NURSE_PW)
    accounts.change_own_password(user, NURSE_PW, "a-newer-pass-9")
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.sign_in(NURSE, NURSE_PW, checked=old)
    assert accounts.sign_in(NURSE, "a-newer-pass-9", checked=old).name == NURSE


def test_a_hash_with_other_parameters_is_replaced_by_the_one_made_beside_the_check(
    accounts: AccountService,
) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    accounts.hasher = stronger
    checked = check(accounts, NURSE_PW)
    assert checked.matches and checked.rehashed is not None
    accounts.sign_in(NURSE, NURSE_PW, checked=checked)
    account = accounts.find(NURSE)
    assert account is not None and account.password_hash == checked.rehashed
    assert not stronger.check_needs_rehash(account.password_hash)
