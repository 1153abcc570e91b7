"""A password change and a second clinician's confirmation whose argon2 work was done
beforehand (on the app's worker thread) are decided as the check made in place would be:
the new password stored as hashed beside the check, a wrong present password recorded and
slowed, the new password's rules kept, a check made against a hash replaced meanwhile not
used, and a second clinician's wrong password recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from itbconsole.model import Role, User
from itbconsole.services.accounts import (
    AccountError,
    AccountService,
    PasswordChangeCheck,
    SignInRefused,
)
from itbconsole.store import Store
from tests.itbconsole.test_accounts import CHEAP, NURSE_PW, Clock

NURSE = "Nia Nurse"
NEW_PW = "a-newer-pass-9"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountService]:
    with Store.open(tmp_path / "clinic.sqlite") as store:
        service = AccountService(store, clock=Clock(), hasher=CHEAP)
        admin = service.create_first_administrator("Ada Admin", "admin-pass-1")
        service.create_account(admin, NURSE, Role.NURSE, "first-pass-0")
        user = service.sign_in(NURSE, "first-pass-0")
        service.change_own_password(user, "first-pass-0", NURSE_PW)
        yield service


def nurse(accounts: AccountService) -> User:
    found = accounts.find(NURSE)
    assert found is not None
    return found.user()


def change_check(accounts: AccountService, present: str, new: str) -> PasswordChangeCheck:
    checker = accounts.password_change_checker(nurse(accounts))
    assert checker is not None
    return checker(present, new)


def stored_hash(accounts: AccountService) -> str:
    found = accounts.find(NURSE)
    assert found is not None
    return found.password_hash


def test_a_change_checked_beforehand_stores_the_hash_made_beside_the_check(
    accounts: AccountService,
) -> None:
    checked = change_check(accounts, NURSE_PW, NEW_PW)
    assert checked.present.matches and checked.new_hash is not None
    accounts.change_own_password(nurse(accounts), NURSE_PW, NEW_PW, checked=checked)
    assert stored_hash(accounts) == checked.new_hash
    assert accounts.sign_in(NURSE, NEW_PW).name == NURSE
    with pytest.raises(SignInRefused):
        accounts.sign_in(NURSE, NURSE_PW)


def test_a_wrong_present_password_is_recorded_and_slowed_with_nothing_hashed(
    accounts: AccountService,
) -> None:
    before = len(accounts.events(None, "sign_in_failed"))
    for _ in range(3):
        checked = change_check(accounts, "wrong-pass-0", NEW_PW)
        assert not checked.present.matches and checked.new_hash is None
        with pytest.raises(SignInRefused, match="Wrong password for Nia Nurse"):
            accounts.change_own_password(nurse(accounts), "wrong-pass-0", NEW_PW, checked=checked)
    failed = accounts.events(None, "sign_in_failed")
    assert len(failed) == before + 3
    assert json.loads(failed[-1]["detail"]) == {"at": "password change"}
    # A wait is due: nothing to check, and the change is refused unchecked.
    assert accounts.password_change_checker(nurse(accounts)) is None
    with pytest.raises(SignInRefused, match="Too many wrong passwords"):
        accounts.change_own_password(nurse(accounts), NURSE_PW, NEW_PW)
    assert len(accounts.events(None, "sign_in_failed")) == before + 3


def test_the_new_password_rules_hold_with_a_check_made_beforehand(
    accounts: AccountService,
) -> None:
    for new, refusal in ((NURSE_PW, "must differ"), ("short", "at least 8"), (NURSE, "name")):
        checked = change_check(accounts, NURSE_PW, new)
        assert checked.present.matches and checked.new_hash is None  # refused: not hashed
        with pytest.raises(AccountError, match=refusal):
            accounts.change_own_password(nurse(accounts), NURSE_PW, new, checked=checked)
    assert accounts.sign_in(NURSE, NURSE_PW).name == NURSE


def test_a_check_against_a_hash_replaced_meanwhile_is_not_used(
    accounts: AccountService,
) -> None:
    checked = change_check(accounts, NURSE_PW, NEW_PW)
    admin = accounts.sign_in("Ada Admin", "admin-pass-1")
    found = accounts.find(NURSE)
    assert found is not None
    accounts.reset_password(admin, found.id, "reset-pass-55", "forgotten")
    # The old password matched the old hash; against the stored one it is wrong now.
    with pytest.raises(SignInRefused, match="Wrong password"):
        accounts.change_own_password(nurse(accounts), NURSE_PW, NEW_PW, checked=checked)
    with pytest.raises(SignInRefused):
        accounts.sign_in(NURSE, NEW_PW)


def test_nothing_is_checked_for_a_disabled_account_or_a_user_without_one(
    accounts: AccountService,
) -> None:
    admin = accounts.sign_in("Ada Admin", "admin-pass-1")
    user = nurse(accounts)
    assert accounts.password_change_checker(User("Demo Person", Role.NURSE)) is None
    assert user.account_id is not None
    accounts.disable(admin, user.account_id, "left")
    assert accounts.password_change_checker(user) is None
    with pytest.raises(AccountError, match="not active"):
        accounts.change_own_password(user, NURSE_PW, NEW_PW)


def test_a_second_check_made_beforehand_confirms_or_refuses_and_records_as_before(
    accounts: AccountService,
) -> None:
    admin = accounts.sign_in("Ada Admin", "admin-pass-1")
    accounts.create_account(admin, "Dr Ben Second", Role.CLINICIAN, "second-pass-3")
    sender = accounts.create_account(admin, "Dr Carl Clinician", Role.CLINICIAN, "clin-pass-4")
    checker = accounts.password_checker("Dr Ben Second")
    assert checker is not None
    wrong, right = checker("wrong-pass-0"), checker("second-pass-3")
    with pytest.raises(SignInRefused, match="Wrong password for Dr Ben Second"):
        accounts.confirm_second_check(
            sender.user(), "Dr Ben Second", "wrong-pass-0", "program X", checked=wrong
        )
    failed = accounts.events(None, "second_check_failed")
    assert len(failed) == 1 and json.loads(failed[0]["detail"])["subject"] == "program X"
    confirmed = accounts.confirm_second_check(
        sender.user(), "Dr Ben Second", "second-pass-3", "program X", checked=right
    )
    assert confirmed.name == "Dr Ben Second" and confirmed.subject == "program X"
    assert accounts.events(None, "second_check")[-1]["created_by"] == "Dr Ben Second"
