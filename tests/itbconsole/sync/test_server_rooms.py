"""Each room writes only in its own name: a role per room (``server add-room``), and the
chain trigger refuses an event whose room the logged-in role does not own."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from itbconsole.store import Store
from itbconsole.sync import outbox, server
from itbconsole.sync.engine import ChainRefused, sync_once
from itbconsole.sync.server import ServerError
from tests.itbconsole.sync.chains import chain
from tests.itbconsole.sync.conftest import RoomLogin
from tests.itbconsole.sync.rooms import add_patient_with_pump, open_room

ROOM_A = "a1" * 16
ROOM_B = "b2" * 16
ROOM_C = "c3" * 16


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


def count(dsn: str, room: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_room_role_cannot_append_in_another_rooms_name(dsn: str, room_dsn: RoomLogin) -> None:
    a_login, b_login = room_dsn(ROOM_A, "Refill room 1"), room_dsn(ROOM_B, "Refill room 2")
    events = chain(ROOM_A, 3)
    with server.connect(a_login) as conn:
        server.upload(conn, events[:2])
    # Room B's role holds a correct continuation of A's chain: the hashes are right, the
    # room is not B's.
    with (
        server.connect(b_login) as conn,
        pytest.raises(ChainRefused, match=rf"role {server.room_role_name(ROOM_B)} may not add "
                      rf"events in the name of room {ROOM_A}.*belongs to role"),
    ):  # fmt: skip
        server.upload(conn, events[2:])
    assert count(dsn, ROOM_A) == 2
    with server.connect(a_login) as conn:
        assert server.upload(conn, events[2:]).stored == 1


def test_a_room_nobody_added_is_refused_for_a_room_role(dsn: str, room_dsn: RoomLogin) -> None:
    b_login = room_dsn(ROOM_B)
    with (
        server.connect(b_login) as conn,
        pytest.raises(ChainRefused, match=rf"Room {ROOM_C} is not registered.*server add-room"),
    ):
        server.upload(conn, chain(ROOM_C, 1))
    assert count(dsn, ROOM_C) == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM itbconsole.rooms WHERE room_id = %s", [ROOM_C]
        ).fetchone() == (0,)


def test_the_shared_group_role_cannot_log_in(dsn: str, room_dsn: RoomLogin) -> None:
    room_dsn(ROOM_A)
    shared = dsn.replace("user=postgres", f"user={server.CONSOLE_ROLE}")
    with pytest.raises(server.ServerUnavailable, match="cannot be reached"):
        server.connect(shared)
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [server.CONSOLE_ROLE]
        ).fetchone() == (False,)


def test_init_takes_the_login_away_from_a_shared_role_of_an_older_server(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [server.CONSOLE_ROLE]
        ).fetchone():
            conn.execute(f"ALTER ROLE {server.CONSOLE_ROLE} LOGIN")
        else:
            conn.execute(f"CREATE ROLE {server.CONSOLE_ROLE} LOGIN")
    done = server.init_server(pg_dsn)
    assert any("can no longer log in" in line and "add-room" in line for line in done)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [server.CONSOLE_ROLE]
        ).fetchone() == (False,)


def test_add_room_is_safe_again_and_claims_a_room_uploaded_before(
    dsn: str, room_dsn: RoomLogin
) -> None:
    # Uploaded by the owner (as a server from before rooms had roles holds it): no owner.
    events = chain(ROOM_A, 3)
    with server.connect(dsn) as conn:
        server.upload(conn, events[:2])
    first = server.add_room(dsn, ROOM_A, "Refill room 1")
    again = server.add_room(dsn, ROOM_A, "Refill room 1 (east)")
    assert any("now belongs to" in line for line in first + again)
    with server.connect(dsn) as conn:
        (room,) = [r for r in server.rooms(conn) if r.room_id == ROOM_A]
    assert (room.name, room.owner_role, room.head_seq) == (
        "Refill room 1 (east)",
        server.room_role_name(ROOM_A),
        2,
    )
    with server.connect(room_dsn(ROOM_A)) as conn:
        assert server.upload(conn, events).stored == 1


def test_a_room_owned_by_one_role_never_changes_hands(dsn: str, room_dsn: RoomLogin) -> None:
    room_dsn(ROOM_A)
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error, match="role never changes"):
            conn.execute(
                "UPDATE itbconsole.rooms SET owner_role = %s WHERE room_id = %s",
                [server.room_role_name(ROOM_B), ROOM_A],
            )
        # Another role recorded for the room by hand first (the trigger allows a NULL owner
        # to be set once): add-room then refuses to hand it over.
        conn.execute(
            "INSERT INTO itbconsole.rooms (room_id, owner_role) VALUES (%s, 'someone_else')",
            [ROOM_C],
        )
    with pytest.raises(ServerError, match="already belongs to role someone_else"):
        server.add_room(dsn, ROOM_C, "Room 3")


def test_add_room_refuses_bad_input_and_a_server_not_set_up(pg_dsn: str) -> None:
    with pytest.raises(ValueError, match="is not a room id"):
        server.add_room(pg_dsn, "room-3", "Room 3")
    with pytest.raises(ValueError, match="name must be"):
        server.add_room(pg_dsn, ROOM_A, "  ")
    with pytest.raises(ServerError, match="server init"):
        server.add_room(pg_dsn, ROOM_A, "Room 1")


def test_a_forged_append_through_another_rooms_login_reaches_no_room(
    dsn: str, room_dsn: RoomLogin, tmp_path: Path
) -> None:
    """The review's case: someone at room B's console (its login) appends a record in room
    A's name, with correct hashes. The server refuses it; room C receives only A's own."""
    from tests.itbconsole.sync.chains import rehashed

    with open_room(tmp_path / "a.db") as a, open_room(tmp_path / "b.db") as b:
        room_a, room_b = outbox.room_id(a.db), outbox.room_id(b.db)
        a_login, b_login = room_dsn(room_a), room_dsn(room_b)
        add_patient_with_pump(a, 1)
        sync_once(a, a_login)
        sync_once(b, b_login)
        with server.connect(b_login) as conn:
            seq, head = server.room_head(conn, room_a) or (0, "")
            (last,) = [e for e in outbox.pending_events(a.db, seq - 1)]
            forged = rehashed(
                last, event_id="0" * 8 + "-0000-4000-8000-" + "0" * 12, room_seq=seq + 1,
                prev_hash=head, user_name="Dr Who",
            )  # fmt: skip
            with pytest.raises(ChainRefused, match=f"in the name of room {room_a}"):
                server.upload(conn, [forged])
        assert count(dsn, room_a) == seq
    with open_room(tmp_path / "c.db") as c:
        sync_once(c, room_dsn(outbox.room_id(c.db)))
        assert c.db.conn.execute(
            "SELECT count(*) FROM audit_log WHERE user_name = 'Dr Who'"
        ).fetchone() == (0,)


def test_a_new_database_at_a_rooms_console_cannot_upload(
    dsn: str, room_dsn: RoomLogin, tmp_path: Path
) -> None:
    """A new file opened at room A's console has an identity no role owns: its records
    (a self-made administrator, say) stop at the server, with a message that says why."""
    with open_room(tmp_path / "a.db") as a:
        a_login = room_dsn(outbox.room_id(a.db))
        add_patient_with_pump(a, 1)
        sync_once(a, a_login)
    with Store.open(tmp_path / "rogue.db") as rogue:
        add_patient_with_pump(rogue, 2)
        with pytest.raises(ChainRefused, match="is not registered on the clinic server"):
            sync_once(rogue, a_login)
        assert count(dsn, outbox.room_id(rogue.db)) == 0
