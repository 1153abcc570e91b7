"""Three rooms writing, going offline and online, and syncing in any order hypothesis picks,
end with the same records everywhere and nothing lost (compared by content, not by ids).

Real everything: three SQLite stores in temporary folders written through the clinic
service and the store, and a real PostgreSQL database per example.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from itbconsole.store import Store, audit
from itbconsole.sync import outbox, server
from itbconsole.sync.engine import ServerUnavailable, sync_once
from tests.itbconsole.sync.conftest import PostgresCluster
from tests.itbconsole.sync.rooms import add_patient_with_pump, add_refill, content, open_room

ROOMS = 3
DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room"
_databases = itertools.count(1)

room_index = st.integers(0, ROOMS - 1)


def make_machine(cluster: PostgresCluster) -> type[RuleBasedStateMachine]:
    class Clinic(RuleBasedStateMachine):
        """The model: which patients and refills the clinic has, and where each was written."""

        def __init__(self) -> None:
            super().__init__()
            self.dbname = f"stateful_{next(_databases)}"
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
            self.dsn = cluster.dsn(self.dbname)
            server.init_server(self.dsn)
            self.folder = Path(tempfile.mkdtemp(prefix="itbconsole-rooms-"))
            self.stores: list[Store] = [
                open_room(self.folder / f"room{i}.db") for i in range(ROOMS)
            ]
            self.online = [True] * ROOMS
            self.next_patient = 1
            self.refill_day = 0
            #: patient numbers each room has written, and the numbers each room can see
            self.written: list[set[int]] = [set() for _ in range(ROOMS)]
            self.visible: list[set[int]] = [set() for _ in range(ROOMS)]
            self.refills: list[list[tuple[int, int]]] = [[] for _ in range(ROOMS)]

        def teardown(self) -> None:
            try:
                self.everyone_online_and_synced()  # every example ends agreed
            finally:
                self._close()

        def _close(self) -> None:
            for store in self.stores:
                store.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(cluster.dsn(), autocommit=True) as conn,
            ):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.dbname)
                    )
                )

        @rule(room=room_index)
        def add_patient(self, room: int) -> None:
            number = self.next_patient
            self.next_patient += 1
            add_patient_with_pump(self.stores[room], number)
            self.written[room].add(number)
            self.visible[room].add(number)

        @rule(room=room_index, data=st.data())
        def refill(self, room: int, data: st.DataObject) -> None:
            if not self.visible[room]:
                return
            number = data.draw(st.sampled_from(sorted(self.visible[room])))
            self.refill_day += 1
            add_refill(self.stores[room], number, day=self.refill_day)
            self.refills[room].append((number, self.refill_day))

        @rule(room=room_index)
        def go_offline(self, room: int) -> None:
            self.online[room] = False

        @rule(room=room_index)
        def go_online(self, room: int) -> None:
            self.online[room] = True

        @rule(room=room_index, batch=st.sampled_from([3, 50, 500]))
        def sync(self, room: int, batch: int) -> None:
            if not self.online[room]:
                with pytest.raises(ServerUnavailable):
                    sync_once(self.stores[room], DOWN_DSN, timeout_s=1)
                return
            report = sync_once(self.stores[room], self.dsn, batch=batch)
            assert report.conflicts == 0, report.conflict_messages
            assert report.pending == 0
            # everything any room had uploaded before this pass is now here too
            self.visible[room] = set(content_numbers(self.stores[room]))

        @rule(room=room_index, after=st.integers(1, 4))
        def sync_cut_off(self, room: int, after: int) -> None:
            """The server ends the pass's connection as it stores the room's ``after``-th
            new entry (mid-batch, or during the upload of applied entries, or not at all
            when there are fewer): whatever was cut off, the next passes finish it."""
            if not self.online[room]:
                return
            store = self.stores[room]
            room_id = outbox.room_id(store.db)
            with server.connect(self.dsn) as conn:
                head = server.room_head(conn, room_id)
            target = (head[0] if head else 0) + after
            with psycopg.connect(self.dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL(
                        "CREATE OR REPLACE FUNCTION public.cut_off() RETURNS trigger"
                        " LANGUAGE plpgsql AS $$ BEGIN IF NEW.room_id = {} AND NEW.room_seq = {}"
                        " THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;"
                        " RETURN NEW; END $$"
                    ).format(sql.Literal(room_id), sql.Literal(target))
                )
                admin.execute(
                    "CREATE TRIGGER zz_cut_off AFTER INSERT ON itbconsole.events"
                    " FOR EACH ROW EXECUTE FUNCTION public.cut_off()"
                )
            try:
                sync_once(store, self.dsn, batch=2)
                event("pass not cut off (fewer new entries)")
            except ServerUnavailable:
                event("pass cut off")
            finally:
                with psycopg.connect(self.dsn, autocommit=True) as admin:
                    admin.execute("DROP TRIGGER zz_cut_off ON itbconsole.events")

        @invariant()
        def nothing_written_is_lost(self) -> None:
            for room, store in enumerate(self.stores):
                held = content(store)
                numbers = {int(h[1:]) for h in held["patients"]}
                assert self.written[room] <= numbers
                assert len(held["refills"]) >= len(self.refills[room])

        @rule()
        def everyone_online_and_synced(self) -> None:
            """Every room online, two rounds of passes: then all rooms agree."""
            self.online = [True] * ROOMS
            for _ in range(2):
                for store in self.stores:
                    report = sync_once(store, self.dsn)
                    assert report.conflicts == 0, report.conflict_messages
            expected_patients = set().union(*self.written)
            expected_refills = sum(len(r) for r in self.refills)
            first = content(self.stores[0])
            for store in self.stores:
                held = content(store)
                assert held == first
                assert {int(h[1:]) for h in held["patients"]} == expected_patients
                assert len(held["refills"]) == expected_refills
                assert len(held["pumps"]) == len(expected_patients)
                assert store.verify().ok
                with server.connect(self.dsn) as conn:  # the server holds each whole chain
                    assert server.room_head(conn, outbox.room_id(store.db)) == audit.head(store.db)
            self.visible = [set(expected_patients) for _ in range(ROOMS)]

    return Clinic


def content_numbers(store: Store) -> list[int]:
    """The patients a room can refill: those whose pump's registration it holds (a patient
    and pump saved together are several entries, which may arrive in different passes)."""
    return [int(hospital[1:]) for _serial, hospital in content(store)["pumps"]]


def test_rooms_syncing_in_any_interleaving_end_with_the_same_records(
    pg_cluster: PostgresCluster,
) -> None:
    machine = make_machine(pg_cluster)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
