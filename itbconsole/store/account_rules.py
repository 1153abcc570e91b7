"""The rule every change to the accounts keeps, wherever it is made: the clinic always has
at least one active administrator (someone must be able to manage the accounts).

Why here, below the services and the sync: an administrator's change at this console
(:mod:`itbconsole.services.accounts`) and another room's change applied here
(:mod:`itbconsole.sync.accounts`) must keep the same rule, and neither may import the other.
"""

from __future__ import annotations

from collections.abc import Iterable

from itbconsole.model import Role
from itbconsole.store.accounts import Account


def is_active_administrator(account: Account) -> bool:
    return account.active and account.role is Role.ADMINISTRATOR


def leaves_no_administrator(
    accounts: Iterable[Account], account: Account, *, will_be_admin: bool
) -> bool:
    """Would ``account`` stop being an active administrator (``will_be_admin`` False)
    while no other of ``accounts`` is one?"""
    if not is_active_administrator(account) or will_be_admin:
        return False
    return not any(is_active_administrator(a) and a.id != account.id for a in accounts)
