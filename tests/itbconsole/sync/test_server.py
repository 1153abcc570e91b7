"""The clinic server on a real PostgreSQL: schema and roles, chain checks, upload, download."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itbconsole.store import audit
from itbconsole.sync import server
from itbconsole.sync.server import ChainRefused
from tests.itbconsole.sync.chains import chain, rehashed
from tests.itbconsole.sync.conftest import RoomLogin

ROOM_A = "a" * 32
ROOM_B = "b" * 32


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection]:
    server.init_server(pg_dsn)
    with server.connect(pg_dsn) as connection:
        yield connection


def stored_count(conn: psycopg.Connection, room: str | None = None) -> int:
    if room is None:
        row = conn.execute("SELECT count(*) FROM itbconsole.events").fetchone()
    else:
        row = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
    assert row is not None
    return int(row[0])


# ------------------------------------------------------------------ init and the console role


def test_init_is_idempotent_and_keeps_what_is_stored(pg_dsn: str) -> None:
    first = server.init_server(pg_dsn)
    with server.connect(pg_dsn) as conn:
        server.upload(conn, chain(ROOM_A, 3))
    again = server.init_server(pg_dsn)
    assert any("Created schema" in line for line in first)
    assert any("up to date" in line for line in again)
    with server.connect(pg_dsn) as conn:
        assert stored_count(conn) == 3
        assert server.room_head(conn, ROOM_A) is not None
        versions = conn.execute("SELECT count(*) FROM itbconsole.server_schema").fetchone()
        assert versions == (1,)


def test_console_role_can_insert_and_read_but_never_update_or_delete(
    pg_dsn: str, room_dsn: RoomLogin
) -> None:
    server.init_server(pg_dsn)
    events = chain(ROOM_A, 2)
    with server.connect(room_dsn(ROOM_A)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (server.room_role_name(ROOM_A),)
        assert server.upload(conn, events).stored == 2
        assert len(server.download(conn, exclude_room=ROOM_B, cursors={})) == 2
        for statement in (
            "UPDATE itbconsole.events SET payload = '{}'",
            "DELETE FROM itbconsole.events",
            "TRUNCATE itbconsole.events",
            "UPDATE itbconsole.rooms SET head_seq = 0",
            "DELETE FROM itbconsole.rooms",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with server.connect(pg_dsn) as conn:
        assert stored_count(conn) == 2


def test_even_the_owner_cannot_change_or_remove_an_uploaded_event(conn: psycopg.Connection) -> None:
    """The trigger stands even where the grants do not (the owner, a superuser)."""
    server.upload(conn, chain(ROOM_A, 2))
    for statement in (
        "UPDATE itbconsole.events SET payload = '{}' WHERE room_seq = 1",
        "DELETE FROM itbconsole.events WHERE room_seq = 2",
        "TRUNCATE itbconsole.events CASCADE",
        "UPDATE itbconsole.rooms SET head_seq = 1",
    ):
        with pytest.raises(psycopg.Error, match=r"never changed or removed|only moves forward"):
            conn.execute(statement)
    assert stored_count(conn) == 2
    assert server.room_head(conn, ROOM_A) == (2, chain_head(conn, ROOM_A))


def chain_head(conn: psycopg.Connection, room: str) -> str:
    row = conn.execute(
        "SELECT hash FROM itbconsole.events WHERE room_id = %s ORDER BY room_seq DESC LIMIT 1",
        [room],
    ).fetchone()
    assert row is not None
    return str(row[0])


# ------------------------------------------------------------------ the hash, byte for byte

TRICKY_TEXTS = [
    'Zoë O\'Brien "the elder"',
    "line one\nline two\r\n\ttabbed",
    "back\\slash and \\u00e9 literally",
    "control \x01\x1f\x7f and \b\f",
    "日本語 · émoji 🚑 · Ελληνικά",
    '{"id":1,"name":"Zoë","note":"a \\"quoted\\" word\\n"}',
    "",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_the_server_hash_matches_the_audit_hash_byte_for_byte(
    conn: psycopg.Connection, text: str
) -> None:
    events = chain(ROOM_A, 2, payload=text, user_name=text or "x", action=text or "y")
    events += chain(
        ROOM_A, 1, start_seq=3, prev_hash=events[-1].hash, table_name=None, record_id=None
    )
    result = server.upload(conn, events)
    assert result.stored == 3
    assert result.head == (3, events[-1].hash)
    row = conn.execute(
        "SELECT payload, user_name FROM itbconsole.events WHERE room_seq = 1"
    ).fetchone()
    assert row == (text, text or "x")  # stored exactly as sent


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
    record_id=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
)
def test_entry_hash_agrees_for_any_text(
    conn: psycopg.Connection, text: str, record_id: int | None
) -> None:
    entry = {
        "seq": 7,
        "at": text,
        "user_name": text,
        "user_role": "nurse",
        "action": text,
        "table_name": None if record_id is None else text,
        "record_id": record_id,
        "payload": text,
    }
    expected = audit.entry_hash(audit.GENESIS_HASH, entry)
    row = conn.execute(
        "SELECT itbconsole.entry_hash(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [audit.GENESIS_HASH, 7, text, text, "nurse", text, entry["table_name"], record_id, text],
    ).fetchone()
    assert row == (expected,)


# ------------------------------------------------------------------ upload


def test_a_batch_sent_twice_is_stored_once(conn: psycopg.Connection) -> None:
    events = chain(ROOM_A, 5)
    first = server.upload(conn, events)
    second = server.upload(conn, events)
    overlapping = server.upload(conn, events[3:] + chain(ROOM_A, 2, start_seq=6,
                                                         prev_hash=events[-1].hash))  # fmt: skip
    assert (first.stored, first.already_there) == (5, 0)
    assert (second.stored, second.already_there) == (0, 5)
    assert (overlapping.stored, overlapping.already_there) == (2, 2)
    assert stored_count(conn) == 7
    assert server.room_head(conn, ROOM_A) == overlapping.head


def test_a_gap_is_refused_and_nothing_of_the_batch_is_stored(conn: psycopg.Connection) -> None:
    events = chain(ROOM_A, 6)
    server.upload(conn, events[:2])
    with pytest.raises(ChainRefused) as refused:
        server.upload(conn, events[2:3] + events[4:])  # #4 left out
    message = str(refused.value)
    assert ROOM_A in message and "#5" in message and "#4 to #4 are missing" in message
    assert stored_count(conn) == 2  # #3, valid on its own, was not kept either
    assert server.room_head(conn, ROOM_A) == (2, events[1].hash)
    assert server.upload(conn, events[2:]).stored == 4  # the room can still catch up


def test_a_first_upload_must_start_at_the_first_entry(conn: psycopg.Connection) -> None:
    events = chain(ROOM_A, 3)
    with pytest.raises(ChainRefused, match="#1 to #1 are missing"):
        server.upload(conn, events[1:])
    assert stored_count(conn) == 0


def test_an_event_resent_with_different_content_is_tampering(conn: psycopg.Connection) -> None:
    events = chain(ROOM_A, 3)
    server.upload(conn, events)
    forged = rehashed(events[1], payload='{"id":2,"name":"someone else"}')
    with pytest.raises(ChainRefused) as refused:
        server.upload(conn, [forged])
    message = str(refused.value)
    assert f"Room {ROOM_A}, event #2" in message and "tampering" in message
    row = conn.execute("SELECT payload FROM itbconsole.events WHERE room_seq = 2").fetchone()
    assert row == (events[1].payload,)


def test_a_rewritten_history_under_new_event_ids_is_refused(conn: psycopg.Connection) -> None:
    server.upload(conn, chain(ROOM_A, 3))
    rewritten = chain(ROOM_A, 4, payload='{"rewritten":true}')
    with pytest.raises(ChainRefused, match=f"Room {ROOM_A}, event #1: the server already holds"):
        server.upload(conn, rewritten)
    assert stored_count(conn) == 3


def test_an_altered_entry_whose_hash_no_longer_matches_is_refused(
    conn: psycopg.Connection,
) -> None:
    events = chain(ROOM_A, 3)
    altered = dataclasses.replace(events[2], payload='{"id":3,"name":"changed"}')
    with pytest.raises(ChainRefused, match="#3: its hash does not match its content"):
        server.upload(conn, [*events[:2], altered])
    assert stored_count(conn) == 0


def test_a_broken_link_is_refused(conn: psycopg.Connection) -> None:
    events = chain(ROOM_A, 2)
    foreign = chain(ROOM_A, 1, start_seq=3, prev_hash="f" * 64)
    with pytest.raises(ChainRefused, match="#3: its previous hash ffffffffffff is not"):
        server.upload(conn, events + foreign)
    assert stored_count(conn) == 0


def test_rooms_chains_are_independent(conn: psycopg.Connection) -> None:
    server.upload(conn, chain(ROOM_A, 2))
    server.upload(conn, chain(ROOM_B, 3))
    heads = {room.room_id: room.head_seq for room in server.rooms(conn)}
    assert heads == {ROOM_A: 2, ROOM_B: 3}


# ------------------------------------------------------------------ download


def test_download_gives_other_rooms_originals_after_each_cursor_in_order(
    conn: psycopg.Connection,
) -> None:
    a = chain(ROOM_A, 3)
    b = chain(ROOM_B, 2)
    b += chain(ROOM_B, 1, start_seq=3, prev_hash=b[-1].hash, action="sync:patient added")
    b += chain(ROOM_B, 1, start_seq=4, prev_hash=b[-1].hash)
    server.upload(conn, a[:2])
    server.upload(conn, b[:2])
    server.upload(conn, a[2:])
    server.upload(conn, b[2:])
    room_c = "c" * 32
    got = server.download(conn, exclude_room=room_c, cursors={})
    assert [(e.room_id, e.room_seq) for e in got] == [
        (ROOM_A, 1),
        (ROOM_A, 2),
        (ROOM_B, 1),
        (ROOM_B, 2),
        (ROOM_A, 3),
        (ROOM_B, 4),
    ]  # fmt: skip  (#3 of B is an echo: never sent)
    assert got == [*a[:2], *b[:2], a[2], b[3]]  # every field as uploaded
    got = server.download(conn, exclude_room=ROOM_A, cursors={ROOM_B: 2})
    assert [(e.room_id, e.room_seq) for e in got] == [(ROOM_B, 4)]
    got = server.download(conn, exclude_room=room_c, cursors={ROOM_A: 1, ROOM_B: 4}, limit=1)
    assert [(e.room_id, e.room_seq) for e in got] == [(ROOM_A, 2)]


def test_unknown_server_is_unavailable_quickly() -> None:
    with pytest.raises(server.ServerUnavailable) as down:
        server.connect("host=127.0.0.1 port=1 dbname=clinic user=x password=secret", timeout_s=2)
    assert "127.0.0.1:1/clinic" in str(down.value)
    assert "secret" not in str(down.value)


def test_event_ids_are_uuids(conn: psycopg.Connection) -> None:
    event = dataclasses.replace(chain(ROOM_A, 1)[0], event_id="not-a-uuid")
    with pytest.raises(ChainRefused, match=f"Room {ROOM_A}"):
        server.upload(conn, [event])
    assert uuid.UUID(chain(ROOM_A, 1)[0].event_id)


def test_two_consoles_uploading_the_same_room_at_once_store_it_once(pg_dsn: str) -> None:
    """The room's row is its lock: the second upload waits, then finds its events stored."""
    server.init_server(pg_dsn)
    events = chain(ROOM_A, 300)
    results: list[server.UploadResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def send() -> None:
        try:
            with server.connect(pg_dsn) as conn:
                start.wait()
                results.append(server.upload(conn, events))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.stored for r in results) == [0, 300]
    with server.connect(pg_dsn) as conn:
        assert stored_count(conn) == 300
        orders = conn.execute(
            "SELECT room_seq FROM itbconsole.events ORDER BY server_order"
        ).fetchall()
    assert [r[0] for r in orders] == list(range(1, 301))


def test_without_postgresql_the_tests_fail_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.itbconsole.sync import conftest

    monkeypatch.setattr(conftest, "_bin_dirs", lambda: [])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL is not installed.*postgresql"):
        conftest.find_postgres_tool("initdb")
