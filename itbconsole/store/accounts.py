"""The accounts' records: who may sign in, each change to an account, and the sign-in
events (tables of migration 11, :mod:`itbconsole.store.schema`).

Functions over the store's database (``store.db``), written the way every record is: one
transaction per change, the row stamped with who made it, and its audit entry
(:func:`itbconsole.store.audit.append`) in the same transaction. Nothing is updated or
deleted: a change to an account is a new version row, and the newest version is in force.
The rules (who may change what, the password policy, the backoff) are
:mod:`itbconsole.services.accounts`'; this module only stores and reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from itbconsole.model import Role, User
from itbconsole.store import audit
from itbconsole.store import records as rec
from itbconsole.store.db import StoreError, transaction, utc_iso, utc_now
from itbconsole.store.schema import ACCOUNT_CHANGES, ACCOUNT_EVENTS

#: Who stamps an event nobody has proved to be (a failed sign-in): the account that was
#: tried is named in the event's ``account_id`` and ``name``, never as its author.
NOT_SIGNED_IN = User("(not signed in)", Role.NURSE)

#: Events after which the failures before them no longer count towards the backoff.
SUCCESS_EVENTS = ("signed_in", "unlocked", "switched_user", "second_check")
#: Events that are a wrong password (at sign-in, unlock, switch or a second check).
FAILURE_EVENTS = ("sign_in_failed", "second_check_failed")

_CURRENT = (
    "SELECT v.* FROM account_versions v WHERE v.id ="
    " (SELECT MAX(w.id) FROM account_versions w WHERE w.account_id = v.account_id)"
)

#: The note of the version that makes a database's first administrator (the account
#: service writes it; the sync recognises such an account by it).
FIRST_ADMINISTRATOR_NOTE = "first administrator"


@dataclass(frozen=True)
class Account:
    """An account as its newest version says. The password hash is never shown."""

    id: int
    name: str
    role: Role
    registration: str
    active: bool
    must_change_password: bool
    version_id: int
    password_hash: str = field(repr=False)

    def user(self) -> User:
        """The user this account signs in as (stamped on everything they record)."""
        return User(self.name, self.role, self.id)


def _account(row: dict[str, Any]) -> Account:
    return Account(
        id=int(row["account_id"]),
        name=str(row["name"]),
        role=Role(row["role"]),
        registration=str(row["registration"]),
        active=bool(row["active"]),
        must_change_password=bool(row["must_change_password"]),
        version_id=int(row["id"]),
        password_hash=str(row["password_hash"]),
    )


def same_name(a: str, b: str) -> bool:
    """Names are compared as the database does: spaces around and case ignored."""
    return a.strip().casefold() == b.strip().casefold()


# --------------------------------------------------------------------------- reads


def count_accounts(db: Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])


def list_accounts(db: Database, *, include_disabled: bool = True) -> list[Account]:
    """Every account (or the active ones), by name."""
    found = [_account(r) for r in db.query(_CURRENT)]
    return sorted(
        (a for a in found if include_disabled or a.active), key=lambda a: a.name.casefold()
    )


def get_account(db: Database, account_id: int) -> Account | None:
    row = next(
        db.query(
            "SELECT * FROM account_versions WHERE account_id = ? ORDER BY id DESC LIMIT 1",
            [account_id],
        ),
        None,
    )
    return None if row is None else _account(row)


def find_account(db: Database, name: str) -> Account | None:
    """The account with this name (spaces around and case ignored), disabled or not."""
    row = next(
        db.query(f"SELECT * FROM ({_CURRENT}) WHERE lower(trim(name)) = lower(trim(?))", [name]),
        None,
    )
    return None if row is None else _account(row)


def account_history(db: Database, account_id: int) -> list[dict[str, Any]]:
    """Every version of an account, oldest first, without the password hashes."""
    return [
        {k: v for k, v in row.items() if k != "password_hash"}
        for row in db.query(
            "SELECT * FROM account_versions WHERE account_id = ? ORDER BY id", [account_id]
        )
    ]


def recent_failures(db: Database, account_id: int | None, name: str) -> list[datetime]:
    """The times of the wrong passwords given for an account (or, for a name no account
    has, for that name) since its last successful sign-in, newest first."""
    if account_id is not None:
        rows = db.execute(
            "SELECT event, at FROM account_events WHERE account_id = ? ORDER BY id DESC LIMIT 200",
            [account_id],
        ).fetchall()
    else:
        rows = db.execute(
            "SELECT event, at FROM account_events WHERE account_id IS NULL"
            " AND lower(trim(name)) = lower(trim(?)) ORDER BY id DESC LIMIT 200",
            [name],
        ).fetchall()
    out: list[datetime] = []
    for event, at in rows:
        if event in SUCCESS_EVENTS:
            break
        if event in FAILURE_EVENTS:
            out.append(rec.parse_time(at))
    return out


def events(
    db: Database, account_id: int | None = None, kinds: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Account events, oldest first (of one account, of some kinds, when given)."""
    where: list[str] = []
    args: list[Any] = []
    if account_id is not None:
        where.append("account_id = ?")
        args.append(account_id)
    wanted = tuple(kinds)
    if wanted:
        where.append(f"event IN ({', '.join('?' for _ in wanted)})")
        args.extend(wanted)
    sql = "SELECT * FROM account_events" + (f" WHERE {' AND '.join(where)}" if where else "")
    return list(db.query(sql + " ORDER BY id", args))


# --------------------------------------------------------------------------- writes


def _insert(db: Database, table: str, values: dict[str, Any], by: User, action: str) -> int:
    """One row with its stamp and its audit entry (the caller holds the transaction)."""
    row = {**values, **rec.stamp_columns(by, utc_now())}
    columns = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    cursor = db.execute(f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", row)
    record_id = int(cursor.lastrowid or 0)
    audit.append(db, by, action, table=table, record_id=record_id)
    return record_id


def create_account(
    db: Database,
    *,
    name: str,
    role: Role,
    password_hash: str,
    by: User,
    registration: str = "",
    must_change_password: bool = False,
    note: str = "",
) -> Account:
    """A new account (its identity row and first version, one transaction). A name another
    account has, disabled or not, is refused by the database."""
    with transaction(db):
        if find_account(db, name) is not None:
            raise StoreError(
                f"There is already an account named {name.strip()}: names stay with their "
                "account for good (records keep who made them). Use another form of the name."
            )
        stamp = rec.stamp_columns(by, utc_now())
        cursor = db.execute(
            "INSERT INTO accounts (created_at, created_by, created_role) VALUES (?, ?, ?)",
            list(stamp.values()),
        )
        account_id = int(cursor.lastrowid or 0)
        audit.append(db, by, "create", table="accounts", record_id=account_id)
        _insert(
            db,
            "account_versions",
            {
                "account_id": account_id,
                "name": " ".join(name.split()),
                "role": role.value,
                "registration": registration.strip(),
                "active": 1,
                "password_hash": password_hash,
                "must_change_password": int(must_change_password),
                "change": "created",
                "note": note,
            },
            by,
            "account_created",
        )
    found = get_account(db, account_id)
    assert found is not None
    return found


def add_version(
    db: Database, account: Account, change: str, by: User, note: str = "", **values: Any
) -> Account:
    """A new version of ``account`` with ``values`` changed (role, active, password_hash,
    must_change_password, registration); ``change`` says what changed. Refused when the
    account changed since ``account`` was read (someone else's change would be undone)."""
    if change not in ACCOUNT_CHANGES:
        raise StoreError(f"'{change}' is not an account change.")
    row: dict[str, Any] = {
        "account_id": account.id,
        "name": account.name,
        "role": account.role.value,
        "registration": account.registration,
        "active": int(account.active),
        "password_hash": account.password_hash,
        "must_change_password": int(account.must_change_password),
    }
    for key, value in values.items():
        if key not in row or key in ("account_id", "name"):
            raise StoreError(f"An account's {key} cannot be changed here.")
        row[key] = value.value if isinstance(value, Role) else value
    row["active"] = int(row["active"])
    row["must_change_password"] = int(row["must_change_password"])
    with transaction(db):
        newest = get_account(db, account.id)
        if newest is None or newest.version_id != account.version_id:
            raise StoreError(
                f"{account.name}'s account was changed meanwhile (by another program or "
                "administrator). Look at it again, then make the change."
            )
        _insert(
            db,
            "account_versions",
            {**row, "change": change, "note": note},
            by,
            f"account_{change}",
        )
    found = get_account(db, account.id)
    assert found is not None
    return found


def record_event(
    db: Database,
    event: str,
    *,
    at: datetime,
    by: User,
    account_id: int | None,
    name: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """One sign-in event (audited as ``event``); returns its id."""
    if event not in ACCOUNT_EVENTS:
        raise StoreError(f"'{event}' is not an account event.")
    with transaction(db):
        return _insert(
            db,
            "account_events",
            {
                "account_id": account_id,
                "name": " ".join(name.split())[:200],
                "event": event,
                "at": utc_iso(at),
                "detail": json.dumps(detail or {}, sort_keys=True, ensure_ascii=False),
            },
            by,
            event,
        )
