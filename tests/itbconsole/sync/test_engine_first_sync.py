"""A new console of a clinic with a server does not make its own first administrator: the
clinic's accounts come first, through one sync pass (``needs_first_sync``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from itbconsole.model import Role
from itbconsole.services.accounts import AccountService
from itbconsole.sync import outbox, server
from itbconsole.sync.engine import needs_first_sync, sync_once
from tests.itbconsole.sync.conftest import RoomLogin
from tests.itbconsole.sync.rooms import open_room

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024)
DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room connect_timeout=2"


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


def test_a_new_room_waits_for_the_clinics_accounts(
    dsn: str, room_dsn: RoomLogin, tmp_path: Path
) -> None:
    with open_room(tmp_path / "a.db") as a:
        accounts = AccountService(a, hasher=CHEAP)
        ada = accounts.create_first_administrator("Ada Admin", "correct horse 7")
        accounts.create_account(ada, "Nell Nurse", Role.NURSE, "battery staple 9")
        sync_once(a, room_dsn(outbox.room_id(a.db)))
    with open_room(tmp_path / "b.db") as b:
        b_login = room_dsn(outbox.room_id(b.db))
        assert needs_first_sync(b, b_login)
        sync_once(b, b_login)
        assert not needs_first_sync(b, b_login)
        user = AccountService(b, hasher=CHEAP).sign_in("Ada Admin", "correct horse 7")
        assert user.role is Role.ADMINISTRATOR


def test_the_clinics_first_console_makes_the_first_administrator(
    dsn: str, room_dsn: RoomLogin, tmp_path: Path
) -> None:
    with open_room(tmp_path / "a.db") as a:
        assert not needs_first_sync(a, room_dsn(outbox.room_id(a.db)))


def test_a_server_that_cannot_be_asked_offers_no_first_administrator(tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as a:
        assert needs_first_sync(a, DOWN_DSN, timeout_s=2)


def test_no_server_or_a_database_with_accounts_needs_no_pass(tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as a:
        assert not needs_first_sync(a, None)
        assert not needs_first_sync(a, "  ")
        AccountService(a, hasher=CHEAP).create_first_administrator("Ada Admin", "correct horse 7")
        assert not needs_first_sync(a, DOWN_DSN)  # no network: the accounts are here
