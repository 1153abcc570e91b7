"""The app's start on a new database beside a clinic server: nobody is offered to become
its first administrator until the clinic's accounts are in (``ui.app.first_sync_done``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from pytestqt.qtbot import QtBot

import ui.app
from itbconsole.model import Role
from itbconsole.services.accounts import AccountService
from itbconsole.sync import DSN_ENVIRONMENT_VARIABLE, outbox, server
from itbconsole.sync.engine import sync_once
from tests.itbconsole.sync.conftest import RoomLogin
from tests.itbconsole.sync.rooms import open_room

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024)
DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room connect_timeout=2"


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    shown: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ui.app, "show_error", lambda *args: shown.append(args))
    return shown


def test_without_a_server_the_first_administrator_is_offered(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    monkeypatch.delenv(DSN_ENVIRONMENT_VARIABLE, raising=False)
    with open_room(tmp_path / "a.db") as a:
        assert ui.app.first_sync_done(AccountService(a, hasher=CHEAP))
    assert errors == []


def test_a_server_that_cannot_be_asked_starts_nobody(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors: list[Any]
) -> None:
    monkeypatch.setenv(DSN_ENVIRONMENT_VARIABLE, DOWN_DSN)
    with open_room(tmp_path / "a.db") as a:
        accounts = AccountService(a, hasher=CHEAP)
        assert not ui.app.first_sync_done(accounts)
        assert not accounts.has_accounts()
    ((_parent, title, message),) = errors
    assert title == "The clinic's accounts are not here yet"
    assert "server add-room" in message and "password" not in message.lower()


def test_a_new_room_signs_in_with_the_clinics_accounts(
    qtbot: QtBot,
    pg_dsn: str,
    room_dsn: RoomLogin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    errors: list[Any],
) -> None:
    server.init_server(pg_dsn)
    with open_room(tmp_path / "a.db") as a:
        AccountService(a, hasher=CHEAP).create_first_administrator("Ada Admin", "correct horse 7")
        sync_once(a, room_dsn(outbox.room_id(a.db)))
    with open_room(tmp_path / "b.db") as b:
        monkeypatch.setenv(DSN_ENVIRONMENT_VARIABLE, room_dsn(outbox.room_id(b.db)))
        accounts = AccountService(b, hasher=CHEAP)
        assert ui.app.first_sync_done(accounts)
        assert accounts.sign_in("Ada Admin", "correct horse 7").role is Role.ADMINISTRATOR
    assert errors == []


def test_the_users_command_makes_no_first_administrator_before_the_first_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from itbconsole.cli import main

    db = ["--db", str(tmp_path / "c.sqlite")]
    assert main([*db, "db", "init"]) == 0
    monkeypatch.setenv(DSN_ENVIRONMENT_VARIABLE, DOWN_DSN)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse 7\ncorrect horse 7\n"))
    capsys.readouterr()
    assert main([*db, "users", "add", "Mal Admin", "--role", "administrator"]) == 1
    assert "run `itbconsole sync` first" in capsys.readouterr().err
