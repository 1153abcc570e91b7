"""A room's login cannot make the server's chain trigger, which runs as the schema's owner,
read its own temporary objects in place of the catalogs: neither to write in another
room's name nor to run its code with the owner's rights."""

from __future__ import annotations

import psycopg
import pytest

from itbconsole.sync import server
from tests.itbconsole.sync.chains import chain
from tests.itbconsole.sync.conftest import RoomLogin

ROOM_A = "a1" * 16
ROOM_B = "b2" * 16
ROOM_C = "c3" * 16


def events_of(dsn: str, room: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_a_temporary_pg_roles_does_not_make_a_room_a_superuser(
    pg_dsn: str, room_dsn: RoomLogin
) -> None:
    server.init_server(pg_dsn)
    a_login, b_login = room_dsn(ROOM_A), room_dsn(ROOM_B)
    events = chain(ROOM_A, 3)
    with server.connect(a_login) as conn:
        server.upload(conn, events[:2])
    with server.connect(b_login) as conn:
        conn.execute("CREATE TEMP TABLE pg_roles (rolname name, rolsuper boolean)")
        conn.execute("INSERT INTO pg_temp.pg_roles VALUES (session_user, true)")
        with pytest.raises(server.ChainRefused, match="may not add"):
            server.upload(conn, events[2:])  # room A's next entry, from room B's login
    with server.connect(b_login) as conn:
        conn.execute("CREATE TEMP TABLE pg_roles (rolname name, rolsuper boolean)")
        conn.execute("INSERT INTO pg_temp.pg_roles VALUES (session_user, true)")
        with pytest.raises(server.ChainRefused, match="not registered"):
            server.upload(conn, chain(ROOM_C, 2))  # a room nobody added
    assert events_of(pg_dsn, ROOM_A) == 2 and events_of(pg_dsn, ROOM_C) == 0


def test_a_rooms_own_function_never_runs_as_the_owner(pg_dsn: str, room_dsn: RoomLogin) -> None:
    server.init_server(pg_dsn)
    role_b = server.room_role_name(ROOM_B)
    b_login = room_dsn(ROOM_B)
    with psycopg.connect(b_login, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION pg_temp.escalate() RETURNS boolean LANGUAGE plpgsql AS $$"
            f" BEGIN EXECUTE 'ALTER ROLE {role_b} SUPERUSER'; RETURN true; END $$"
        )
        conn.execute(
            "CREATE TEMP VIEW pg_roles AS"
            " SELECT session_user::name AS rolname, pg_temp.escalate() AS rolsuper"
        )
        with server.connect(b_login) as _:
            pass
        # Room B's own first entry: accepted, and nothing of the view is read.
        columns = {n: [getattr(e, n) for e in chain(ROOM_B, 1)] for n in server._EVENT_COLUMNS}
        conn.execute(server._INSERT, columns)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role_b]).fetchone()
    assert row == (False,)
