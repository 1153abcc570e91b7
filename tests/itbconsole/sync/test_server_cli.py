"""``itbconsole server init`` and ``itbconsole sync`` as an administrator and a room use them."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pytest

from itbconsole.cli import main
from tests.itbconsole.sync.rooms import add_patient_with_pump, open_room


def test_server_init_twice_then_a_room_syncs(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["server", "init", "--dsn", pg_dsn]) == 0
    first = capsys.readouterr().out
    assert "Created schema itbconsole" in first
    assert main(["server", "init", "--dsn", pg_dsn]) == 0
    assert "up to date" in capsys.readouterr().out

    db = tmp_path / "room.db"
    with open_room(db) as store:
        add_patient_with_pump(store, 1)
        room = store.store_id() or ""
    monkeypatch.setattr("sys.stdin", io.StringIO("room secret\n"))
    add = ["server", "add-room", "--dsn", pg_dsn, "--room", room, "--name", "Refill room 1"]
    assert main([*add, "--password-stdin"]) == 0
    added = capsys.readouterr().out
    role = f"itbconsole_room_{room}"
    assert f"Created the login role {role}" in added and "Set the password" in added
    assert f"log in as user={role}" in added and "room secret" not in added
    room_dsn = pg_dsn.replace("user=postgres", f"user={role}")
    assert main(["--db", str(db), "sync", "--dsn", room_dsn]) == 0
    out = capsys.readouterr().out
    assert "downloaded: 0" in out and "conflicts: 0" in out and "pending: 0" in out
    uploaded = int(out.split("uploaded: ")[1].split()[0])
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM itbconsole.events").fetchone() == (uploaded,)
    anchor = out.split("server anchor: ")[1].split()[0]
    assert main(["--db", str(db), "db", "verify", "--anchor", anchor]) == 0
    seq, digest = anchor.split(":")
    assert f"#{seq} {digest}: found in the chain" in capsys.readouterr().out


def test_sync_with_the_server_down_is_one_plain_line_and_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "room.db"
    with open_room(db) as store:
        add_patient_with_pump(store, 1)
    dsn = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room password=hunter2"
    assert main(["--db", str(db), "sync", "--dsn", dsn]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("The clinic server 127.0.0.1:1/clinic cannot be reached")
    assert "Traceback" not in captured.err and "hunter2" not in captured.err
    assert captured.out == ""


def test_sync_without_a_server_says_how_to_give_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITBCONSOLE_SYNC_DSN", raising=False)
    assert main(["--db", str(tmp_path / "x.db"), "sync"]) == 2
    assert "ITBCONSOLE_SYNC_DSN" in capsys.readouterr().err


def test_the_environment_names_the_server(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITBCONSOLE_SYNC_DSN", pg_dsn)
    assert main(["server", "init"]) == 0
    db = tmp_path / "room.db"
    open_room(db).close()
    assert main(["--db", str(db), "sync"]) == 0
    assert "pending: 0" in capsys.readouterr().out


def test_server_init_without_the_right_to_create_it_is_refused_plainly(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS clinic_reader")
        conn.execute("CREATE ROLE clinic_reader LOGIN")
    try:
        reader = pg_dsn.replace("user=postgres", "user=clinic_reader")
        assert main(["server", "init", "--dsn", reader]) == 1
        err = capsys.readouterr().err
        assert "refused to set up the schema (nothing was changed)" in err
        assert "Traceback" not in err
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'itbconsole'"
            ).fetchone() == (0,)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("DROP OWNED BY clinic_reader")
            conn.execute("DROP ROLE clinic_reader")


def test_server_rooms_lists_how_far_each_room_has_uploaded(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "init", "--dsn", pg_dsn]) == 0
    db = tmp_path / "room.db"
    with open_room(db) as store:
        add_patient_with_pump(store, 1)
        head = store.db.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC").fetchone()
        room = store.store_id()
    assert main(["--db", str(db), "sync", "--dsn", pg_dsn]) == 0
    capsys.readouterr()
    assert main(["server", "rooms", "--dsn", pg_dsn]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 room(s).")
    assert f"{room}  (no name)  through #{head[0]} (anchor {head[0]}:{head[1][:12]})" in out


def test_a_malformed_server_address_is_bad_input_and_never_echoes_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "room.db"
    open_room(db).close()
    with pytest.raises(SystemExit) as refused:
        main(["--db", str(db), "sync", "--dsn", "host=db password=top secret"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dsn" in err and "secret" not in err
    monkeypatch.setenv("ITBCONSOLE_SYNC_DSN", "host=db password=top secret")
    assert main(["--db", str(db), "sync"]) == 1
    err = capsys.readouterr().err
    assert "not a valid connection string" in err and "secret" not in err


def test_add_room_refuses_a_malformed_room_id_as_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["server", "add-room", "--dsn", "host=db", "--room", "room-2", "--name", "Room 2"])
    assert refused.value.code == 2
    assert "is not a room id" in capsys.readouterr().err


def test_a_room_not_added_is_told_how_to_be_added(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "init", "--dsn", pg_dsn]) == 0
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    for path in (first, second):
        with open_room(path) as store:
            add_patient_with_pump(store, 1)
    with open_room(first) as store:
        room = store.store_id() or ""
    assert main(["server", "add-room", "--dsn", pg_dsn, "--room", room, "--name", "Room 1"]) == 0
    capsys.readouterr()
    assert main(["--db", str(first), "sync", "room-id"]) == 0
    printed = capsys.readouterr().out
    assert f"Room {room}\n" in printed and f"itbconsole_room_{room}" in printed
    room_dsn = pg_dsn.replace("user=postgres", f"user=itbconsole_room_{room}")
    assert main(["--db", str(second), "sync", "--dsn", room_dsn]) == 1
    err = capsys.readouterr().err
    assert "is not registered on the clinic server" in err and "server add-room" in err
    assert len(err.strip().splitlines()) == 1
