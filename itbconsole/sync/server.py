"""The clinic's PostgreSQL server: its schema, and uploading and downloading room events.

Why the checks live in the server and not only here: a console (or anyone holding its
password) must not be able to rewrite what another room, or it itself, uploaded before, nor
write in another room's name. Each room therefore logs in with a role of its own
(:func:`add_room`: a member of the group role :data:`CONSOLE_ROLE`, which may read and add
events), ``rooms`` records which role owns each room id, and a ``BEFORE INSERT`` trigger
refuses an event whose room is not owned by the role that logged in (``session_user``; the
schema's owner and superusers, who could drop the trigger anyway, are not held to it). The
server also keeps, per room, the head of that room's audit chain and the same trigger
refuses any event that does not extend it:
a gap in ``room_seq``, a ``prev_hash`` that is not the room's head, a hash that does not
recompute, or an event id already stored with different content. The hash is recomputed in
PL/pgSQL byte for byte as :func:`itbconsole.store.audit.entry_hash` does it (sha256 of
``prev_hash`` followed by the canonical JSON of the entry: sorted keys, no spaces, UTF-8 kept
as is; PostgreSQL's ``to_json(text)`` escapes a string exactly as Python's ``json.dumps``
does with ``ensure_ascii=False``). The console role may only SELECT and INSERT; UPDATE,
DELETE and TRUNCATE of events are refused by grants and by a trigger, for every role.

A re-sent event (same id, same content) is skipped, so an upload interrupted anywhere can
simply be sent again. One upload is one transaction: a refused event stores nothing of its
batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from itbconsole.store.audit import GENESIS_HASH
from itbconsole.store.db import utc_iso
from itbconsole.sync.events import EVENT_FIELDS, SyncEvent

#: The schema every server object lives in.
SCHEMA = "itbconsole"
#: The group role of the rooms' roles (no login of its own): SELECT, and INSERT of events,
#: which the chain trigger checks against the room's owner.
CONSOLE_ROLE = "itbconsole_room"
#: The login role of one room is this prefix and the room's id (see :func:`room_role_name`).
ROOM_ROLE_PREFIX = "itbconsole_room_"
#: The SQLSTATE the chain trigger raises (a class of our own, so it is never confused with
#: a PostgreSQL error).
CHAIN_REFUSED_STATE = "IT001"
#: Version of the server schema this module creates.
SERVER_SCHEMA_VERSION = 2

_EVENT_COLUMNS = EVENT_FIELDS  # the server stores an event's content as sent


class ServerError(Exception):
    """The server refused or could not do something; the message says what in plain words."""


class ChainRefused(ServerError):
    """An uploaded batch does not extend its room's chain (a gap, a fork, tampering).
    Nothing of the batch was stored."""


class ServerUnavailable(ServerError):
    """The server cannot be reached (down, network, wrong address or password)."""


@dataclass(frozen=True)
class UploadResult:
    """What one upload did: events newly stored, events the server already had, and the
    room's chain head afterwards (seq, hash)."""

    stored: int
    already_there: int
    head: tuple[int, str]


# --------------------------------------------------------------------------- the schema

_ENTRY_HASH_FUNCTION = """
CREATE OR REPLACE FUNCTION itbconsole.entry_hash(
    prev_hash text, seq bigint, at text, user_name text, user_role text, action text,
    table_name text, record_id bigint, payload text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT encode(sha256(convert_to(prev_hash
        || '{"action":' || to_json(action)::text
        || ',"at":' || to_json(at)::text
        || ',"payload":' || to_json(payload)::text
        || ',"record_id":' || coalesce(record_id::text, 'null')
        || ',"seq":' || seq::text
        || ',"table_name":' || coalesce(to_json(table_name)::text, 'null')
        || ',"user_name":' || to_json(user_name)::text
        || ',"user_role":' || to_json(user_role)::text
        || '}', 'UTF8')), 'hex')
$fn$
"""

_CHAIN_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION itbconsole.events_extend_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, itbconsole, pg_temp AS $fn$
DECLARE
    stored itbconsole.events%ROWTYPE;
    cur_seq bigint;
    cur_hash text;
    computed text;
    owner text;
    unbound boolean;
BEGIN
    -- Who may write in any room's name: a superuser or the schema's owner (either could
    -- drop this trigger). Everyone else writes only for the room it owns. The catalogs are
    -- named in full and pg_temp is searched last: a login's own temporary table or view
    -- called pg_roles must never answer for the catalog here (this runs as the owner).
    SELECT r.rolsuper OR pg_catalog.pg_has_role(session_user, n.nspowner, 'MEMBER') INTO unbound
        FROM pg_catalog.pg_roles r, pg_catalog.pg_namespace n
        WHERE r.rolname = session_user AND n.nspname = 'itbconsole';
    -- One upload per room at a time: the room's row is its lock.
    SELECT r.owner_role INTO owner FROM itbconsole.rooms r
        WHERE r.room_id = NEW.room_id FOR UPDATE;
    IF NOT FOUND THEN
        IF NOT coalesce(unbound, false) THEN
            RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
                MESSAGE = format('Room %s is not registered on the clinic server, so role %s '
                    'may not add its events. The administrator adds a room with: itbconsole '
                    'server add-room --room %s --name NAME.', NEW.room_id, session_user,
                    NEW.room_id);
        END IF;
        INSERT INTO itbconsole.rooms (room_id) VALUES (NEW.room_id) ON CONFLICT DO NOTHING;
        SELECT r.owner_role INTO owner FROM itbconsole.rooms r
            WHERE r.room_id = NEW.room_id FOR UPDATE;
    ELSIF owner IS DISTINCT FROM session_user AND NOT coalesce(unbound, false) THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('Room %s, event #%s: role %s may not add events in the name of '
                'room %s (%s). Each console logs in with its own room''s role.',
                NEW.room_id, NEW.room_seq, session_user, NEW.room_id,
                CASE WHEN owner IS NULL THEN 'no role owns it yet: itbconsole server add-room'
                     ELSE 'it belongs to role ' || owner END);
    END IF;

    SELECT * INTO stored FROM itbconsole.events WHERE event_id = NEW.event_id;
    IF FOUND THEN
        IF (stored.room_id, stored.room_seq, stored.at, stored.user_name, stored.user_role,
            stored.action, stored.table_name, stored.record_id, stored.payload,
            stored.prev_hash, stored.hash)
           IS DISTINCT FROM
           (NEW.room_id, NEW.room_seq, NEW.at, NEW.user_name, NEW.user_role, NEW.action,
            NEW.table_name, NEW.record_id, NEW.payload, NEW.prev_hash, NEW.hash) THEN
            RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
                MESSAGE = format('Room %s, event #%s: event %s is already on the server with '
                    'different content (stored as room %s #%s). The record was changed after '
                    'it was uploaded: this is tampering.', NEW.room_id, NEW.room_seq,
                    NEW.event_id, stored.room_id, stored.room_seq);
        END IF;
        RETURN NULL;  -- sent again, unchanged: already stored
    END IF;

    -- The room's head: its newest event (rows stored earlier in this statement included).
    SELECT e.room_seq, e.hash INTO cur_seq, cur_hash FROM itbconsole.events e
        WHERE e.room_id = NEW.room_id ORDER BY e.room_seq DESC LIMIT 1;
    IF NOT FOUND THEN
        cur_seq := 0;
        cur_hash := '{GENESIS_HASH}';
    END IF;

    IF NEW.room_seq <= cur_seq THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('Room %s, event #%s: the server already holds a different event '
                '#%s for this room (event id %s is new). The room''s audit log was rewritten '
                'or restored from an older copy: this is tampering or a fork.',
                NEW.room_id, NEW.room_seq, NEW.room_seq, NEW.event_id);
    END IF;
    IF NEW.room_seq <> cur_seq + 1 THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('Room %s, event #%s: events #%s to #%s are missing (the server '
                'holds this room up to #%s). Events are uploaded in order with none left out.',
                NEW.room_id, NEW.room_seq, cur_seq + 1, NEW.room_seq - 1, cur_seq);
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM cur_hash THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('Room %s, event #%s: its previous hash %s is not the hash of '
                'event #%s on the server (%s): the chain was broken or an entry was altered.',
                NEW.room_id, NEW.room_seq, left(NEW.prev_hash, 12), cur_seq,
                left(cur_hash, 12));
    END IF;
    computed := itbconsole.entry_hash(NEW.prev_hash, NEW.room_seq, NEW.at, NEW.user_name,
        NEW.user_role, NEW.action, NEW.table_name, NEW.record_id, NEW.payload);
    IF computed IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('Room %s, event #%s: its hash does not match its content (sent '
                '%s, computed %s): the entry was altered after it was written.',
                NEW.room_id, NEW.room_seq, left(NEW.hash, 12), left(computed, 12));
    END IF;

    -- Taken under the room's lock, so a room's events are in server order as in seq order.
    NEW.server_order := nextval('itbconsole.events_server_order_seq');
    NEW.received_at := clock_timestamp();
    RETURN NEW;
END
$fn$
"""

#: The rooms' heads, moved once per statement (not once per event: a row updated thousands
#: of times in one transaction leaves as many dead versions behind).
_MOVE_HEADS_FUNCTION = """
CREATE OR REPLACE FUNCTION itbconsole.events_move_heads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, itbconsole, pg_temp AS $fn$
BEGIN
    UPDATE itbconsole.rooms r
        SET head_seq = i.room_seq, head_hash = i.hash, last_upload_at = i.received_at
        FROM (SELECT DISTINCT ON (room_id) room_id, room_seq, hash, received_at
              FROM inserted ORDER BY room_id, room_seq DESC) i
        WHERE r.room_id = i.room_id AND i.room_seq > r.head_seq;
    RETURN NULL;
END
$fn$
"""

_APPEND_ONLY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION itbconsole.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
        MESSAGE = format('Uploaded events are never changed or removed (%s refused).', TG_OP);
END
$fn$
"""

_ROOMS_GUARD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION itbconsole.rooms_head_moves_forward() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.room_id <> OLD.room_id OR NEW.head_seq < OLD.head_seq
       OR (OLD.owner_role IS NOT NULL AND NEW.owner_role IS DISTINCT FROM OLD.owner_role) THEN
        RAISE EXCEPTION USING ERRCODE = '{CHAIN_REFUSED_STATE}',
            MESSAGE = format('A room''s chain head only moves forward and its role never '
                'changes (%s of room %s refused).', TG_OP, OLD.room_id);
    END IF;
    RETURN NEW;
END
$fn$
"""

_SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS itbconsole",
    "CREATE TABLE IF NOT EXISTS itbconsole.server_schema ("
    " version integer NOT NULL, installed_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS itbconsole.rooms ("
    " room_id text PRIMARY KEY,"
    " name text,"
    " head_seq bigint NOT NULL DEFAULT 0,"
    f" head_hash text NOT NULL DEFAULT '{GENESIS_HASH}',"
    " last_upload_at timestamptz)",
    # Which login role owns each room (itbconsole server add-room); NULL for a room uploaded
    # by the schema's owner, or before rooms had roles of their own.
    "ALTER TABLE itbconsole.rooms ADD COLUMN IF NOT EXISTS owner_role text UNIQUE",
    # Numbered by the chain trigger under the room's lock (see events_extend_chain).
    "CREATE SEQUENCE IF NOT EXISTS itbconsole.events_server_order_seq",
    "CREATE TABLE IF NOT EXISTS itbconsole.events ("
    " event_id uuid PRIMARY KEY,"
    " room_id text NOT NULL REFERENCES itbconsole.rooms (room_id),"
    " room_seq bigint NOT NULL CHECK (room_seq > 0),"
    " at text NOT NULL,"
    " user_name text NOT NULL,"
    " user_role text NOT NULL,"
    " action text NOT NULL,"
    " table_name text,"
    " record_id bigint,"
    " payload text NOT NULL,"
    " prev_hash text NOT NULL,"
    " hash text NOT NULL,"
    " server_order bigint NOT NULL UNIQUE,"
    " received_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " UNIQUE (room_id, room_seq))",
    "CREATE INDEX IF NOT EXISTS events_download ON itbconsole.events (room_id, room_seq)"
    " WHERE action NOT LIKE 'sync:%'",
    _ENTRY_HASH_FUNCTION,
    _CHAIN_TRIGGER_FUNCTION,
    _APPEND_ONLY_FUNCTION,
    _ROOMS_GUARD_FUNCTION,
    _MOVE_HEADS_FUNCTION,
    "CREATE OR REPLACE TRIGGER events_extend_chain BEFORE INSERT ON itbconsole.events"
    " FOR EACH ROW EXECUTE FUNCTION itbconsole.events_extend_chain()",
    "CREATE OR REPLACE TRIGGER events_move_heads AFTER INSERT ON itbconsole.events"
    " REFERENCING NEW TABLE AS inserted"
    " FOR EACH STATEMENT EXECUTE FUNCTION itbconsole.events_move_heads()",
    "CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON itbconsole.events"
    " FOR EACH ROW EXECUTE FUNCTION itbconsole.events_append_only()",
    "CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON itbconsole.events"
    " FOR EACH STATEMENT EXECUTE FUNCTION itbconsole.events_append_only()",
    "CREATE OR REPLACE TRIGGER rooms_head_forward BEFORE UPDATE OR DELETE ON itbconsole.rooms"
    " FOR EACH ROW EXECUTE FUNCTION itbconsole.rooms_head_moves_forward()",
    "CREATE OR REPLACE TRIGGER rooms_no_truncate BEFORE TRUNCATE ON itbconsole.rooms"
    " FOR EACH STATEMENT EXECUTE FUNCTION itbconsole.events_append_only()",
)


def _grant_statements(role: str) -> list[sql.Composed]:
    """What the rooms' group role may do: read everything, insert events (each checked
    against the room's owner by the chain trigger), nothing else."""
    r = sql.Identifier(role)
    return [
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA itbconsole FROM {}").format(r),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA itbconsole FROM {}").format(r),
        sql.SQL("REVOKE ALL ON SCHEMA itbconsole FROM PUBLIC").format(),
        sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA itbconsole FROM PUBLIC").format(),
        sql.SQL("GRANT USAGE ON SCHEMA itbconsole TO {}").format(r),
        sql.SQL("GRANT SELECT, INSERT ON itbconsole.events TO {}").format(r),
        sql.SQL("GRANT SELECT ON itbconsole.rooms, itbconsole.server_schema TO {}").format(r),
        sql.SQL(
            "GRANT EXECUTE ON FUNCTION itbconsole.entry_hash(text, bigint, text, text,"
            " text, text, text, bigint, text) TO {}"
        ).format(r),
        sql.SQL("GRANT EXECUTE ON FUNCTION itbconsole.events_extend_chain() TO {}").format(r),
        sql.SQL("GRANT EXECUTE ON FUNCTION itbconsole.events_move_heads() TO {}").format(r),
    ]


def connect(dsn: str, *, timeout_s: int = 5) -> psycopg.Connection[Any]:
    """A connection to the clinic server (autocommit: every function here opens its own
    transaction), or :class:`ServerUnavailable` within about ``timeout_s`` seconds, with a
    message that names the server but not its password."""
    try:
        return psycopg.connect(dsn, connect_timeout=timeout_s, autocommit=True)
    except psycopg.ProgrammingError as exc:
        # The address itself is malformed; libpq's reason quotes it (a password, maybe).
        raise ServerUnavailable(
            "The clinic server's address is not a valid connection string or "
            "postgresql:// URL: check --dsn or ITBCONSOLE_SYNC_DSN."
        ) from exc
    except psycopg.Error as exc:
        raise ServerUnavailable(
            f"The clinic server {server_label(dsn)} cannot be reached: {first_line(exc)}"
        ) from exc


def server_label(dsn: str) -> str:
    """host:port/dbname of a DSN: names the server without its password (the key the local
    sync state is kept under)."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unreadable address)"
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or "5432")
    dbname = str(info.get("dbname") or info.get("user") or "")
    return f"{host}:{port}/{dbname}"


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (psycopg's messages run on with hints)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def init_server(dsn: str) -> list[str]:
    """Create (or bring up to date) the schema, its triggers and the rooms' group role. Safe
    to run again: nothing stored is touched. The group role cannot log in (a shared login
    could write in any room's name): each room gets a role of its own with
    :func:`add_room`. Run it as the database owner or a superuser. Returns what was done,
    in plain lines."""
    try:
        return _init_server(dsn)
    except psycopg.Error as exc:
        raise ServerError(
            f"The clinic server {server_label(dsn)} refused to set up the schema (nothing was "
            f"changed): {first_line(exc)}. Run it as the database's owner, or a role that "
            "may create roles."
        ) from exc


def _init_server(dsn: str) -> list[str]:
    done: list[str] = []
    with connect(dsn) as conn, conn.transaction():
        encoding = conn.execute("SHOW server_encoding").fetchone()
        if encoding is None or str(encoding[0]).upper() not in ("UTF8", "UTF-8"):
            raise ServerError(
                "The clinic database must use UTF-8 (create it with ENCODING 'UTF8'): "
                "records are hashed as UTF-8 text."
            )
        # Two administrators running init at once take turns.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('itbconsole server init'))")
        exists = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [CONSOLE_ROLE]
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(CONSOLE_ROLE)))
            done.append(f"Created the rooms' group role {CONSOLE_ROLE} (no login of its own).")
        elif exists[0]:
            conn.execute(
                sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(sql.Identifier(CONSOLE_ROLE))
            )
            done.append(
                f"{CONSOLE_ROLE} can no longer log in: give each room a role of its own "
                "(itbconsole server add-room) and put it in that console's DSN."
            )
        had_schema = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA]
        ).fetchone()
        for statement in _SCHEMA_STATEMENTS:
            conn.execute(statement)
        for grant in _grant_statements(CONSOLE_ROLE):
            conn.execute(grant)
        version = conn.execute("SELECT max(version) FROM itbconsole.server_schema").fetchone()
        if version is None or version[0] is None or int(version[0]) < SERVER_SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO itbconsole.server_schema (version) VALUES (%s)",
                [SERVER_SCHEMA_VERSION],
            )
        done.append(
            "Schema itbconsole brought up to date."
            if had_schema
            else "Created schema itbconsole (rooms, events, chain checks)."
        )
    return done


# --------------------------------------------------------------------------- upload


#: The whole batch in one statement, in the order given: each row is checked by the chain
#: trigger as it is inserted, and the room's head moves once, at the end of the statement.
_INSERT = (
    "INSERT INTO itbconsole.events (" + ", ".join(_EVENT_COLUMNS) + ")"
    " SELECT event_id::uuid, room_id, room_seq, at, user_name, user_role, action, table_name,"
    " record_id, payload, prev_hash, hash FROM unnest("
    "%(event_id)s::text[], %(room_id)s::text[], %(room_seq)s::bigint[], %(at)s::text[],"
    " %(user_name)s::text[], %(user_role)s::text[], %(action)s::text[],"
    " %(table_name)s::text[], %(record_id)s::bigint[], %(payload)s::text[],"
    " %(prev_hash)s::text[], %(hash)s::text[])"
    " WITH ORDINALITY AS batch(" + ", ".join(_EVENT_COLUMNS) + ", position)"
    " ORDER BY position"
    " ON CONFLICT (event_id) DO NOTHING"
)


def upload(conn: psycopg.Connection[Any], events: Sequence[SyncEvent]) -> UploadResult:
    """Store ``events`` (one room's, in seq order) in one transaction.

    Events the server already has, unchanged, are skipped, so a batch can be sent again
    after any interruption. A gap, a prev_hash that is not the room's head, a hash that
    does not recompute, or an event id already stored with other content raises
    :class:`ChainRefused` naming the room and seq, and nothing of the batch is stored.
    """
    rooms = {e.room_id for e in events}
    if len(rooms) > 1:
        raise ValueError("one upload carries one room's events")
    if not events:
        raise ValueError("nothing to upload")
    room = next(iter(rooms))
    try:
        with conn.transaction():
            inserted = conn.execute(
                _INSERT, {name: [getattr(e, name) for e in events] for name in _EVENT_COLUMNS}
            )
            stored = max(inserted.rowcount, 0)
            after = room_head(conn, room)
    except psycopg.Error as exc:
        if exc.sqlstate == CHAIN_REFUSED_STATE:
            raise ChainRefused(_diag_message(exc)) from exc
        if exc.sqlstate is not None and exc.sqlstate.startswith(("22", "23")):
            raise ChainRefused(
                f"Room {room}: the server refused the batch ({first_line(exc)})."
            ) from exc
        raise
    assert after is not None  # the trigger made the room's row
    return UploadResult(stored=stored, already_there=len(events) - stored, head=after)


def _diag_message(exc: psycopg.Error) -> str:
    message = exc.diag.message_primary
    return message if message else first_line(exc)


def room_head(conn: psycopg.Connection[Any], room_id: str) -> tuple[int, str] | None:
    """(seq, hash) of the newest event the server holds for the room; None: none yet."""
    row = conn.execute(
        "SELECT head_seq, head_hash FROM itbconsole.rooms WHERE room_id = %s", [room_id]
    ).fetchone()
    if row is None or int(row[0]) == 0:
        return None
    return int(row[0]), str(row[1])


# --------------------------------------------------------------------------- download

#: Each other room's next ``limit`` originals after its cursor (the partial index, per room),
#: then the first ``limit`` of those in server order: the same as the first ``limit`` of all
#: of them, without reading the events before every cursor again on every call.
_DOWNLOAD = (
    "SELECT e.event_id::text, e.room_id, e.room_seq, e.at, e.user_name, e.user_role,"
    " e.action, e.table_name, e.record_id, e.payload, e.prev_hash, e.hash,"
    " e.server_order, e.received_at"
    " FROM itbconsole.rooms r"
    " LEFT JOIN unnest(%(rooms)s::text[], %(after)s::bigint[]) AS c(room_id, after_seq)"
    " ON c.room_id = r.room_id"
    " CROSS JOIN LATERAL (SELECT * FROM itbconsole.events x"
    "  WHERE x.room_id = r.room_id AND x.action NOT LIKE 'sync:%%'"
    "  AND x.room_seq > coalesce(c.after_seq, 0)"
    "  ORDER BY x.room_seq LIMIT %(limit)s) e"
    " WHERE r.room_id <> %(exclude)s"
    " ORDER BY e.server_order LIMIT %(limit)s"
)


def download(
    conn: psycopg.Connection[Any],
    *,
    exclude_room: str,
    cursors: Mapping[str, int],
    limit: int = 1000,
) -> list[SyncEvent]:
    """Other rooms' original events (never echoes) after each room's cursor (the highest
    seq already handled per origin room), oldest first in server order, at most ``limit``.

    Within a room, server order is seq order, and an event recorded after another room's
    event was applied comes after it: each room sees the clinic's records in an order in
    which every reference points backwards."""
    rooms = list(cursors)
    with conn.transaction():
        # A few rooms, a few hundred rows: compiling the plan (JIT) would cost more than
        # running it, and the planner cannot know how few rooms there are before ANALYZE.
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(
            _DOWNLOAD,
            {
                "rooms": rooms,
                "after": [int(cursors[r]) for r in rooms],
                "exclude": exclude_room,
                "limit": limit,
            },
        ).fetchall()
    return [SyncEvent(*_row_values(row)) for row in rows]


def _row_values(row: Iterable[Any]) -> list[Any]:
    values = list(row)
    values[2] = int(values[2])
    if values[8] is not None:
        values[8] = int(values[8])
    if len(values) > 12:
        values[12] = int(values[12])
        values[13] = utc_iso(values[13])
    return values


def own_orders(
    conn: psycopg.Connection[Any], room_id: str, after_seq: int
) -> list[tuple[int, int]]:
    """(seq, server order) of room ``room_id``'s events after ``after_seq``: where the server
    put this room's own versions among the clinic's, which decides concurrent edits."""
    rows = conn.execute(
        "SELECT room_seq, server_order FROM itbconsole.events"
        " WHERE room_id = %s AND room_seq > %s ORDER BY room_seq",
        [room_id, after_seq],
    ).fetchall()
    return [(int(seq), int(order)) for seq, order in rows]


@dataclass(frozen=True)
class RoomOnServer:
    """What the server knows of one room: its chain head and when it last uploaded."""

    room_id: str
    name: str | None
    head_seq: int
    head_hash: str
    last_upload_at: datetime | None
    #: The login role that owns the room (None: uploaded before rooms had roles).
    owner_role: str | None = None


def rooms(conn: psycopg.Connection[Any]) -> list[RoomOnServer]:
    """Every room the server knows, the longest silent first."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT room_id, name, head_seq, head_hash, last_upload_at, owner_role"
            " FROM itbconsole.rooms"
            " ORDER BY last_upload_at NULLS FIRST, room_id"
        ).fetchall()
    return [RoomOnServer(str(r[0]), r[1], int(r[2]), str(r[3]), r[4], r[5]) for r in rows]


# --------------------------------------------------------------------------- rooms' roles


def room_role_name(room_id: str) -> str:
    """The login role of one room: :data:`ROOM_ROLE_PREFIX` and the room's id (a room id is
    32 hex digits, so the name is a plain identifier of 48 characters)."""
    return ROOM_ROLE_PREFIX + check_room_id(room_id)


def check_room_id(room_id: str) -> str:
    """A room's id as its database names it (``store_identity``: 32 lowercase hex digits),
    or ValueError in plain words."""
    text = room_id.strip().lower()
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(
            f"'{room_id[:80]}' is not a room id: it is 32 hex digits, as 'itbconsole sync' "
            "prints it on that room's console (Room ...)."
        )
    return text


def add_room(dsn: str, room_id: str, name: str, password: str | None = None) -> list[str]:
    """Give a room its own login role on the server and record that the role owns the room:
    from then on only that role (and the schema's owner) may add events in the room's name.

    Safe to run again for the same room (the name is updated; ``password``, when given, is
    set; without it the current one is kept). A room the server already holds from before
    rooms had roles is claimed by its new role. A room already owned by another role is
    refused. Run it as the database owner (it needs ``CREATEROLE``). Returns what was done."""
    room = check_room_id(room_id)
    label = name.strip()
    if not label or len(label) > 200:
        raise ValueError("The room's name must be 1 to 200 characters, e.g. 'Refill room 2'.")
    try:
        return _add_room(dsn, room, label, password)
    except psycopg.Error as exc:
        raise ServerError(
            f"The clinic server {server_label(dsn)} refused to add the room (nothing was "
            f"changed): {first_line(exc)}. Run it as the database's owner, after "
            "'itbconsole server init'."
        ) from exc


def _add_room(dsn: str, room: str, name: str, password: str | None) -> list[str]:
    role = room_role_name(room)
    done: list[str] = []
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('itbconsole server init'))")
        version = (
            conn.execute("SELECT max(version) FROM itbconsole.server_schema").fetchone()
            if _has_schema(conn)
            else None
        )
        if version is None or version[0] is None or int(version[0]) < SERVER_SCHEMA_VERSION:
            raise ServerError(
                "The server's schema is missing or older than this version: run "
                "'itbconsole server init' first (as the database's owner)."
            )
        row = conn.execute(
            "SELECT owner_role FROM itbconsole.rooms WHERE room_id = %s FOR UPDATE", [room]
        ).fetchone()
        if row is not None and row[0] is not None and row[0] != role:
            raise ServerError(f"Room {room} already belongs to role {row[0]}: nothing was changed.")
        ident = sql.Identifier(role)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
            done.append(f"Created the login role {role} for room {room}.")
        else:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(CONSOLE_ROLE), ident))
        if password is not None:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password)))
            done.append(f"Set the password of {role}.")
        if row is None:
            conn.execute(
                "INSERT INTO itbconsole.rooms (room_id, name, owner_role) VALUES (%s, %s, %s)",
                [room, name, role],
            )
            done.append(f"Room {room} ({name}) added: only {role} may add its events.")
        else:
            conn.execute(
                "UPDATE itbconsole.rooms SET name = %s, owner_role = %s WHERE room_id = %s",
                [name, role, room],
            )
            done.append(f"Room {room} ({name}) now belongs to {role}: only it may add its events.")
    return done


def _has_schema(conn: psycopg.Connection[Any]) -> bool:
    found = conn.execute("SELECT to_regclass('itbconsole.server_schema')").fetchone()
    return found is not None and found[0] is not None
