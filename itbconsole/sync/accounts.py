"""The clinic's accounts when rooms change them without seeing each other.

Why rules of their own: an account made or changed in one room is in force in every room,
so the sync keeps the rules that protect who may manage the clinic's accounts
(docs/sync-rules.md, "What is a conflict"):

* a "first administrator" made by a room that had not received the clinic's accounts is
  refused (:func:`check_first_administrator`): it would be an administrator everywhere;
* the clinic keeps an active administrator (:mod:`itbconsole.store.account_rules`, the
  rule a local change keeps) also when two rooms each took away a different one
  (:func:`keep_an_administrator`);
* a disabling is not undone by a concurrent change that did not enable the account
  (:func:`disabling_kept`).

Each is decided by the server's order (:mod:`itbconsole.sync.server_order`), so every room
decides alike.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from itbconsole.model import Role
from itbconsole.store.account_rules import is_active_administrator, leaves_no_administrator
from itbconsole.store.accounts import FIRST_ADMINISTRATOR_NOTE, Account, get_account, list_accounts
from itbconsole.store.accounts import add_version as add_account_version
from itbconsole.sync import refusals
from itbconsole.sync.conflicts import Conflict, record_conflict, room_label
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.id_map import SYNC_USER, IdMap
from itbconsole.sync.refusals import Refused, what
from itbconsole.sync.server_order import server_key, version_order

#: An account's changes that set whether it is active.
ACTIVE_CHANGES = ("created", "disabled", "enabled")


def made_as_first_administrator(values: dict[str, Any]) -> bool:
    """An account's first version made by "create first administrator" (it names itself)."""
    return (
        values.get("change") == "created"
        and values.get("note") == FIRST_ADMINISTRATOR_NOTE
        and values.get("role") == Role.ADMINISTRATOR.value
    )


def disabling_kept(remote: dict[str, Any], local: dict[str, Any], remote_newer: bool) -> bool:
    """Two concurrent versions of an account: the older disabled it, and the newer, made
    without seeing that, changed something else (a password, a role) and says active.
    The account stays disabled (the newer version's other values are kept)."""
    older, newer = (local, remote) if remote_newer else (remote, local)
    return (
        older["change"] == "disabled"
        and newer["change"] not in ACTIVE_CHANGES
        and bool(newer["active"])
    )


def check_first_administrator(
    db: Database, ids: IdMap, event: SyncEvent, values: dict[str, Any]
) -> None:
    """A "first administrator" is made on a database with no accounts. One made by a
    room that had not received the clinic's accounts (a new database file opened
    before the server was named, or by someone who wanted an administrator's rights)
    is refused: it would be an administrator in every room. Which accounts the room
    had received is known from its ``ids_mapped`` entries; which came first, from the
    server's order, so every room refuses the same one."""
    mine = server_key(event.server_order, values, event.room_id)
    for account in db.query("SELECT * FROM accounts ORDER BY id"):
        local_id = int(account["id"])
        maker = ids.maker("accounts", local_id)[0]
        if maker == event.room_id or ids.seen_by(event, "accounts", local_id):
            continue
        if server_key(version_order(db, "accounts", local_id), account, maker) > mine:
            continue
        raise Refused(
            "refused",
            f"{values['name']} was made the first administrator of a new database in "
            f"{room_label(event.room_id)} (event #{event.room_seq}) at "
            f"{values['created_at']}, when the clinic already had accounts that room had "
            "not received. The account is not added, and its sign-ins wait: an "
            "administrator of the clinic checks who made it, and makes an account for "
            "that person if they should have one.",
            local_table="accounts",
            local_id=local_id,
            local_row=account,
            block=refusals.own_keys(event),
        )


def keep_an_administrator(
    db: Database, ids: IdMap, event: SyncEvent, before: Account
) -> Conflict | None:
    """The clinic keeps an active administrator (:mod:`itbconsole.store.account_rules`),
    also when two rooms, neither seeing the other, each took away a different one.
    Every room decides it alike: of the changes that took the administrators away, the
    latest (in the server's order, :func:`~itbconsole.sync.server_order.server_key`) does
    not take effect. When that is the other room's, it is not applied (:class:`Refused`);
    when it is one already here, the account is made an active administrator again by a
    new version. Both are listed for an administrator (the conflict written is returned)."""
    after = get_account(db, before.id)
    if after is None or is_active_administrator(after) or not is_active_administrator(before):
        return None
    accounts = list_accounts(db, include_disabled=False)
    if not leaves_no_administrator(accounts, before, will_be_admin=False):
        return None
    taken_away = administrators_taken_away(db, ids)
    if not taken_away:
        return None
    latest = max(taken_away, key=lambda t: t[0])
    _, removal, previous = latest
    removed = get_account(db, int(removal["account_id"]))
    assert removed is not None
    message = (
        f"{what('account_versions')} from {room_label(event.room_id)} (event "
        f"#{event.room_seq}, by {event.user_name}) and a change made here or in another "
        "room, neither seeing the other, together left the clinic with no active "
        f"administrator. {removed.name}, whose change was the latest, stays an active "
        "administrator in every room; check the accounts."
    )
    if removal["id"] == ids.resolve(event.room_id, "account_versions",
                                    int(event.record_id or 0)):  # fmt: skip
        raise Refused(
            "concurrent_edit",
            message,
            local_table="account_versions",
            local_id=int(previous["id"]),
            local_row=previous,
            block=refusals.own_keys(event),
        )
    restored = add_account_version(
        db,
        removed,
        "enabled" if removed.role.value == previous["role"] else "role_changed",
        SYNC_USER,
        "kept as the last active administrator (accounts changed in two rooms at once)",
        active=True,
        role=Role(previous["role"]),
    )
    return record_conflict(
        db,
        event,
        "concurrent_edit",
        message,
        local_table="account_versions",
        local_id=restored.version_id,
        local_row=refusals.row(
            db, "SELECT * FROM account_versions WHERE id = ?", [restored.version_id]
        ),
    )


def administrators_taken_away(
    db: Database, ids: IdMap
) -> list[tuple[tuple[int, str, str], dict[str, Any], dict[str, Any]]]:
    """Each account whose version in force took away an active administrator: (its
    place in the server's order, that version, the version before it)."""
    found = []
    for current in db.query(
        "SELECT v.* FROM account_versions v WHERE v.id ="
        " (SELECT MAX(w.id) FROM account_versions w WHERE w.account_id = v.account_id)"
        " AND NOT (v.active = 1 AND v.role = 'administrator')"
    ):
        previous = refusals.row(
            db,
            "SELECT * FROM account_versions WHERE account_id = ? AND id < ?"
            " ORDER BY id DESC LIMIT 1",
            [current["account_id"], current["id"]],
        )
        if previous is None or not (
            previous["active"] == 1 and previous["role"] == Role.ADMINISTRATOR.value
        ):
            continue
        room = ids.maker("account_versions", int(current["id"]))[0]
        order = version_order(db, "account_versions", int(current["id"]))
        found.append((server_key(order, current, room), current, previous))
    return found
