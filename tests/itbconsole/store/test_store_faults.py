"""Environmental faults: what a user sees when the database file, its folder or its disk is
not fit to use, and proof that nothing was changed.

Every ``itbconsole db`` command answers with one plain line on stderr and exit status 2
(1 for a database that is simply missing), never a traceback; the store API raises typed
:class:`StoreError` subclasses that the window shows as they are.

Read-only files and folders are made with ``chmod``, which binds only non-root accounts;
as root those tests skip and the read-only path is exercised through SQLite's own
read-only open (``mode=ro``) and a simulated read-only disk (``os.access`` reporting it, as
a read-only mount does even for root). A full disk is SQLite's ``max_page_count``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from itbconsole.cli import main
from itbconsole.store import (
    BusyError,
    DamagedDatabaseError,
    DiskFullError,
    EmptyDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyError,
    Store,
    StoreError,
    connect,
    migrate,
)
from itbconsole.store import db as store_db
from itbconsole.store.db import check_integrity
from itbconsole.store.schema import MIGRATIONS
from tests.itbconsole.store.storefixtures import NURSE, make_patient

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_chmod = pytest.mark.skipif(
    AS_ROOT or os.name != "posix",
    reason="chmod does not stop root (or this is not POSIX); the read-only open and the "
    "simulated read-only disk tests cover the same path",
)

DB_COMMANDS = (["init"], ["info"], ["verify"], ["backup", "--force", "BACKUP"])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_db(
    capsys: pytest.CaptureFixture[str], db: Path | str, command: list[str], backup: Path
) -> tuple[int, str, str]:
    argv = ["--db", str(db), "db", *[str(backup) if a == "BACKUP" else a for a in command]]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str) -> None:
    assert err.strip(), "a message was expected on stderr"
    assert err.strip().count("\n") == 0, err
    assert "Traceback" not in err


def clinic(path: Path, patients: int = 20) -> Path:
    with Store.open(path) as store:
        for i in range(patients):
            store.add_patient(make_patient(hospital=f"H{i:06d}", nhs_number=None), NURSE)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return clinic(tmp_path / "clinic.sqlite")


# --------------------------------------------------------------------------- wrong kinds of path


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ["folder", "device", "name too long", "not a database", "empty"])
def test_every_db_command_refuses_a_path_that_is_not_a_database_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], kind: str
) -> None:
    expected = {
        "folder": "it is a folder",
        "device": "device",
        "name too long": "name is too long",
        "not a database": "not an ITB Console database",
        "empty": "empty file",
    }[kind]
    if kind == "folder":
        target = tmp_path / "folder"
        target.mkdir()
    elif kind == "device":
        if not Path("/dev/null").exists():
            pytest.skip("no /dev/null on this system")
        target = Path("/dev/null")
    elif kind == "name too long":
        target = tmp_path / ("a" * 300 + ".sqlite")
    elif kind == "not a database":
        target = tmp_path / "notes.sqlite"
        target.write_text("shopping list\n", encoding="utf-8")
    else:
        target = tmp_path / "empty.sqlite"
        target.touch()
    before = sorted(p.name for p in tmp_path.iterdir())
    content = digest(target) if kind in ("not a database", "empty") else None
    code, _, err = run_db(capsys, target, command, tmp_path / "backup.sqlite")
    assert code == 2
    assert_one_line(err)
    assert expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created
    if content is not None:
        assert digest(target) == content  # nothing written
    if kind == "device":
        assert stat.S_ISCHR(os.stat(target).st_mode)


def test_an_empty_file_is_never_turned_into_a_database(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    path.touch()
    with pytest.raises(EmptyDatabaseError, match="restore the latest backup"):
        Store.open(path)
    assert path.stat().st_size == 0


def test_a_file_that_is_not_a_database_is_refused_by_the_store_api(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    path.write_bytes(b"PK\x03\x04 a zip file, not a database" * 200)
    with pytest.raises(NotADatabaseError, match="not an ITB Console database"):
        Store.open(path)


@pytest.mark.parametrize("command", DB_COMMANDS[1:], ids=lambda c: c[0])
def test_only_init_creates_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = tmp_path / "absent.sqlite"
    code, _, err = run_db(capsys, path, command, tmp_path / "backup.sqlite")
    assert code == 1
    assert_one_line(err)
    assert "db init" in err
    assert list(tmp_path.iterdir()) == []


def test_init_of_a_new_database_is_atomic_and_leaves_no_work_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sub" / "clinic.sqlite"
    assert main(["--db", str(path), "db", "init"]) == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["clinic.sqlite"]
    with Store.open(path) as store:
        assert store.schema_version() == MIGRATIONS[-1].id
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_init_builds_no_database_beside_a_side_file_left_without_its_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clinic.sqlite"
    orphan = tmp_path / "clinic.sqlite-wal"
    orphan.write_bytes(b"frames of a database that was deleted")
    assert main(["--db", str(path), "db", "init"]) == 2
    err = capsys.readouterr().err
    assert_one_line(err)
    assert "-wal file is there but the database file is not" in err
    assert not path.exists()
    assert orphan.read_bytes() == b"frames of a database that was deleted"


def test_db_commands_in_a_process_print_one_line_and_no_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    for argv in (["--db", str(folder), "db", "info"], ["--db", str(folder), "db", "init"]):
        done = subprocess.run(
            [sys.executable, "-m", "itbconsole", *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2
        assert_one_line(done.stderr)
        assert "is a folder" in done.stderr


# --------------------------------------------------------------------------- newer schema, busy


def test_a_newer_schema_is_refused_by_every_db_command(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = connect(good)
    db.execute("INSERT INTO migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
    db.close()
    content = digest(good)
    for command in DB_COMMANDS:
        code, _, err = run_db(capsys, good, command, tmp_path / "backup.sqlite")
        assert code == 2, command
        assert_one_line(err)
        assert "newer" in err and "Update ITB Console" in err
    assert digest(good) == content
    assert not (tmp_path / "backup.sqlite").exists()
    with pytest.raises(NewerSchemaError):
        Store.open(good, read_only=True)


def test_a_database_held_by_another_writer_is_reported_busy(
    good: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 50)  # the wait, not a sleep
    other = sqlite3.connect(good, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another window saving a record
    try:
        with pytest.raises(BusyError, match="busy"):
            Store.open(good)
        assert main(["--db", str(good), "db", "init"]) == 2
        err = capsys.readouterr().err
        assert_one_line(err)
        assert "busy" in err and "try again" in err
    finally:
        other.execute("ROLLBACK")
        other.close()


# --------------------------------------------------------------------------- full disk


def _limit_pages(extra: int) -> Callable[..., list[int]]:
    """``migrate`` on a disk with room for ``extra`` more pages."""
    real = store_db.migrate

    def limited(db: object, *args: object, **kwargs: object) -> list[int]:
        conn = db.conn  # type: ignore[attr-defined]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + extra}")
        return real(db, *args, **kwargs)  # type: ignore[arg-type]

    return limited


def test_a_full_disk_on_init_creates_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "migrate", _limit_pages(3))
    path = tmp_path / "clinic.sqlite"
    assert main(["--db", str(path), "db", "init"]) == 2
    err = capsys.readouterr().err
    assert_one_line(err)
    assert "is full" in err and "was not created" in err
    assert list(tmp_path.iterdir()) == []  # neither the database nor a work file


def test_a_full_disk_while_saving_is_a_store_error_and_saves_nothing(good: Path) -> None:
    with Store.open(good) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        saved = store.counts()
        with pytest.raises(DiskFullError, match=r"disk holding .* is full") as caught:
            for i in range(1_000):
                store.add_patient(make_patient(hospital=f"F{i:06d}", nhs_number=None), NURSE)
                saved = store.counts()
        assert isinstance(caught.value, StoreError)  # what the window catches and shows
        assert store.counts() == saved  # the refused patient left no row and no audit entry
        assert store.verify().ok


# --------------------------------------------------------------------------- read only


def test_a_read_only_open_writes_nothing_and_refuses_saves(tmp_path: Path) -> None:
    # A database from before migration 6, in rollback-journal mode: a read-only open must
    # neither migrate it nor switch it to WAL.
    path = tmp_path / "old.sqlite"
    legacy = Database(sqlite3.connect(path, isolation_level=None))
    migrate(legacy, MIGRATIONS[:5])
    legacy.close()
    content = digest(path)
    with Store.open(path, read_only=True) as store:
        assert store.read_only
        assert store.schema_version() == 5
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        with pytest.raises(ReadOnlyError, match="read only"):
            store.add_patient(make_patient(), NURSE)
    assert digest(path) == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.sqlite"]


def test_a_read_only_disk_is_reported_and_still_inspected(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access

    def read_only_disk(path: object, mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and str(path).startswith(str(tmp_path)):
            return False  # what access(2) says on a read-only mount, even to root
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", read_only_disk)
    content = digest(good)
    assert main(["--db", str(good), "db", "init"]) == 2
    err = capsys.readouterr().err
    assert_one_line(err)
    assert "read only" in err
    assert main(["--db", str(good), "db", "info"]) == 0
    out = capsys.readouterr().out
    assert "Access: read only" in out and "patients" in out
    assert main(["--db", str(good), "db", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    with pytest.raises(ReadOnlyError):
        Store.open(good)
    assert digest(good) == content


@needs_chmod
def test_a_read_only_database_file_can_be_inspected_and_is_writable_again_later(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = digest(good)
    good.chmod(0o444)
    try:
        assert main(["--db", str(good), "db", "init"]) == 2
        err = capsys.readouterr().err
        assert_one_line(err)
        assert "read only" in err
        assert main(["--db", str(good), "db", "info"]) == 0
        assert "Access: read only" in capsys.readouterr().out
        assert main(["--db", str(good), "db", "verify"]) == 0
        assert main(["--db", str(good), "db", "backup", str(tmp_path / "copy.sqlite")]) == 0
        capsys.readouterr()
        assert digest(good) == content
    finally:
        good.chmod(0o600)
    # Inspecting it left no read-only -shm behind that would keep it read only now.
    with Store.open(good) as store:
        store.add_patient(make_patient(hospital="H999999", nhs_number=None), NURSE)


@needs_chmod
def test_a_read_only_folder_is_reported_and_the_database_still_inspected(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Store.open(good).close()  # closed cleanly: no -wal or -shm beside it
    folder = good.parent
    folder.chmod(0o555)
    try:
        assert main(["--db", str(good), "db", "init"]) == 2
        assert "read only" in capsys.readouterr().err
        assert main(["--db", str(folder / "new.sqlite"), "db", "init"]) == 2
        err = capsys.readouterr().err
        assert_one_line(err)
        assert "read only" in err
        assert main(["--db", str(good), "db", "verify"]) == 0
        assert "intact" in capsys.readouterr().out
    finally:
        folder.chmod(0o700)


# --------------------------------------------------------------------------- damaged files


def overwrite_page(path: Path, page: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(4096 * (page - 1))
        handle.write(bytes(range(256)) * 16)


@pytest.fixture
def closed_clinic(tmp_path: Path) -> Path:
    path = clinic(tmp_path / "clinic.sqlite", patients=60)
    with Store.open(path) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_a_page_overwritten_database_is_refused_as_damaged_and_nothing_is_saved(
    closed_clinic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overwrite_page(closed_clinic, 5)
    content = digest(closed_clinic)
    with pytest.raises(DamagedDatabaseError, match="damaged"):
        Store.open(closed_clinic)  # the app: "Database not available", nothing saved
    for command in DB_COMMANDS:
        code, out, err = run_db(capsys, closed_clinic, command, tmp_path / "backup.sqlite")
        assert code == 2, command
        assert_one_line(err)
        assert "damaged" in err and "not tampering" in err and "backup" in err
        assert "TAMPERED" not in out and "up to date" not in out
    assert digest(closed_clinic) == content
    assert not (tmp_path / "backup.sqlite").exists()


@pytest.mark.parametrize("cut", [1_000, 2 * 4096], ids=["1000 bytes", "two pages"])
def test_a_truncated_database_is_damaged_not_tampered(
    closed_clinic: Path, capsys: pytest.CaptureFixture[str], cut: int
) -> None:
    with open(closed_clinic, "r+b") as handle:
        handle.truncate(closed_clinic.stat().st_size - cut)
    assert main(["--db", str(closed_clinic), "db", "verify"]) == 2
    out, err = capsys.readouterr()
    assert_one_line(err)
    assert "damaged" in err and "cut short" in err and "not tampering" in err
    assert "TAMPERED" not in out


def test_verify_runs_the_whole_check_and_info_says_what_was_checked(
    good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(good), "db", "info"]) == 0
    assert "Quick integrity check: ok (whole file)" in capsys.readouterr().out


class _TimerFiringMidCheck:
    """Stands in for ``threading.Timer``: fires while the check's statement is running
    (through SQLite's progress handler), as a real timer does on a large database."""

    conn: sqlite3.Connection

    def __init__(self, _seconds: float, function: Callable[[], None]) -> None:
        self.function = function
        self.daemon = False

    def start(self) -> None:
        fired: list[bool] = []

        def tick() -> int:
            if not fired:
                fired.append(True)
                self.function()
            return 0

        self.conn.set_progress_handler(tick, 1)

    def cancel(self) -> None:
        self.conn.set_progress_handler(None, 0)


def test_the_check_on_open_stops_at_its_budget_and_later_statements_run(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(good) as store:
        _TimerFiringMidCheck.conn = store.db.conn
        monkeypatch.setattr(store_db.threading, "Timer", _TimerFiringMidCheck)
        assert check_integrity(store.db, budget_ms=1) is False
        assert getattr(store.db.conn, "store_checked", "") == "the first 1 ms"
        assert store.counts()["patients"] == 20  # the interrupt touched the check only


@pytest.fixture(autouse=True)
def _writable_again(tmp_path: Path) -> Iterator[None]:
    """Leave tmp_path removable whatever a chmod test did."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o700)
