"""Backups that cannot destroy data, and files that only their owner can read.

A backup is never written onto the live database or its side files, a device, a folder or a
file a database is using, with or without ``--force``; a failed backup keeps the previous
one and leaves no partial copy; a partial copy left by a killed backup is removed later.
Everything the store, the data folder and backups create is owner-only on POSIX (0600
files, 0700 folders) whatever the umask.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from itbconsole import paths
from itbconsole.cli import main
from itbconsole.store import DamagedDatabaseError, DiskFullError, Store, backup_database
from itbconsole.store import backup as store_backup
from tests.itbconsole.store.storefixtures import NURSE, make_patient

POSIX = os.name == "posix"
posix_only = pytest.mark.skipif(not POSIX, reason="file modes are POSIX permissions")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".partial-" in p.name or ".creating-" in p.name]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Store]:
    """The app holding a 20-patient database open, as in the field."""
    store = Store.open(tmp_path / "clinic.sqlite")
    for i in range(20):
        store.add_patient(make_patient(hospital=f"H{i:06d}", nhs_number=None), NURSE)
    yield store
    store.close()


def patients_after_the_app_stops(app: Store) -> int:
    path = app.path
    assert path is not None
    app.close()
    with Store.open(path) as reopened:
        assert reopened.verify().ok
        return reopened.counts()["patients"]


# --------------------------------------------------------------------------- destinations


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_backup_is_never_written_onto_the_live_database_or_its_side_files(
    app: Store, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    assert app.path is not None
    target = Path(f"{app.path}{suffix}")
    code = main(["--db", str(app.path), "db", "backup", "--force", str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "database in use" in err
    assert patients_after_the_app_stops(app) == 20


def test_backup_through_a_link_to_the_live_database_is_refused(app: Store, tmp_path: Path) -> None:
    assert app.path is not None
    link = tmp_path / "looks-like-a-backup.sqlite"
    link.symlink_to(app.path)
    with pytest.raises(store_backup.BackupRefusedError, match="database in use"):
        app.backup(link, force=True)
    hard = tmp_path / "hard.sqlite"
    os.link(app.path, hard)
    with pytest.raises(store_backup.BackupRefusedError, match="database in use"):
        app.backup(hard, force=True)
    assert patients_after_the_app_stops(app) == 20


def test_backup_refuses_devices_folders_pipes_and_side_file_names(
    app: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert app.path is not None
    fifo = tmp_path / "pipe.sqlite"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
    refused = {
        str(tmp_path): "is a folder",
        str(tmp_path / "other.sqlite-wal"): "named like a database's side file",
    }
    if Path("/dev/null").exists():
        refused["/dev/null"] = "device, pipe or socket"
    if fifo.exists():
        refused[str(fifo)] = "device, pipe or socket"
    for target, message in refused.items():
        assert main(["--db", str(app.path), "db", "backup", "--force", target]) == 2, target
        assert message in capsys.readouterr().err
    assert not (tmp_path / "other.sqlite-wal").exists()
    if fifo.exists():
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert partials(tmp_path) == []


def test_backup_refuses_a_file_that_a_database_is_using(
    app: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert app.path is not None
    other = tmp_path / "other-room.sqlite"
    with Store.open(other) as room:  # another database, open: it has a -wal beside it
        room.add_patient(make_patient(), NURSE)
        before = digest(other)
        assert main(["--db", str(app.path), "db", "backup", "--force", str(other)]) == 2
        assert "-wal file beside it" in capsys.readouterr().err
        assert digest(other) == before


def test_backup_with_force_replaces_an_old_backup_owner_only(
    app: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert app.path is not None
    old = tmp_path / "backup.sqlite"
    old.write_bytes(b"last week's backup")
    old.chmod(0o644)
    assert main(["--db", str(app.path), "db", "backup", "--force", str(old)]) == 0
    assert "integrity check: ok" in capsys.readouterr().out
    if POSIX:
        assert mode(old) == 0o600
    with Store.open(old) as copy:
        assert copy.counts()["patients"] == 20
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("backup")) == [
        "backup.sqlite",
        "backup.sqlite.audit-keys",  # the audit keys and head, beside the backup
    ]
    if POSIX:
        assert mode(tmp_path / "backup.sqlite.audit-keys") == 0o600


# --------------------------------------------------------------------------- failed backups


def test_a_full_disk_during_backup_keeps_the_old_backup_and_leaves_no_partial(
    app: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert app.path is not None
    old = tmp_path / "backup.sqlite"
    old.write_bytes(b"the previous backup")
    real_open = store_backup.open_copy

    def small_disk(path: Path) -> sqlite3.Connection:
        conn = real_open(path)
        conn.execute("PRAGMA max_page_count = 3")
        return conn

    monkeypatch.setattr(store_backup, "open_copy", small_disk)
    code = main(["--db", str(app.path), "db", "backup", "--force", str(old)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "is full" in err and "not written" in err
    assert old.read_bytes() == b"the previous backup"
    assert partials(tmp_path) == []
    with pytest.raises(DiskFullError):
        app.backup(tmp_path / "new.sqlite")
    assert not (tmp_path / "new.sqlite").exists()


def test_a_damaged_source_fails_the_full_integrity_check_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        for i in range(60):
            store.add_patient(make_patient(hospital=f"H{i:06d}", nhs_number=None), NURSE)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # Damaged behind the store's back: the backup's own full check must find it.
    with open(path, "r+b") as handle:
        handle.seek(4096 * 4)
        handle.write(bytes(range(256)) * 16)
    source = sqlite3.connect(path)
    try:
        with pytest.raises(DamagedDatabaseError, match="damaged") as caught:
            backup_database(source, tmp_path / "backup.sqlite")
        assert str(path) in str(caught.value) and "not tampering" in str(caught.value)
    finally:
        source.close()
    assert not (tmp_path / "backup.sqlite").exists()
    assert partials(tmp_path) == []


# --------------------------------------------------------------------------- killed backups


def _killed_backup(partial: Path) -> Path:
    """A process that starts a backup (marker, partial copy) and is killed half-way."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from itbconsole.paths import create_private_file\n"
        "from itbconsole.store import backup\n"
        "partial = Path(sys.argv[1]).with_name(f'.{Path(sys.argv[1]).name}.partial-{os.getpid()}')\n"
        "backup._mark(partial)\n"
        "create_private_file(partial)\n"
        "partial.write_bytes(b'patient data ' * 1000)\n"
        "print(partial, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(partial)],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")]
            ),
        },
    )
    assert done.returncode == -9, done.stderr  # killed, as a backup interrupted half-way
    return Path(done.stdout.strip())


@pytest.mark.skipif(not POSIX, reason="SIGKILL and process ids checked the POSIX way")
def test_a_killed_backups_partial_copy_is_removed_at_the_next_start(tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    left = _killed_backup(usb / "backup.sqlite")
    assert left.exists() and left.name.startswith(".backup.sqlite.partial-")
    if POSIX:
        assert mode(left) == 0o600
    Store.open(tmp_path / "clinic.sqlite").close()  # the next start, another folder
    assert not left.exists()


@pytest.mark.skipif(not POSIX, reason="SIGKILL and process ids checked the POSIX way")
def test_a_killed_backups_partial_copy_is_removed_by_the_next_backup_there(
    app: Store, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    left = _killed_backup(usb / "backup.sqlite")
    for marker in (paths.data_dir() / store_backup.MARKERS).iterdir():
        marker.unlink()  # no marker (say, the data folder was not writable)
    unrelated = usb / ".backup.sqlite.partial-notes"
    unrelated.write_bytes(b"a file of someone else's that only looks similar")
    app.backup(usb / "backup.sqlite")
    assert not left.exists()
    assert sorted(p.name for p in usb.iterdir()) == sorted(
        ["backup.sqlite", "backup.sqlite.audit-keys", unrelated.name]
    )


def test_a_partial_copy_of_a_running_backup_is_left_alone(tmp_path: Path) -> None:
    running = tmp_path / f".backup.sqlite.partial-{os.getpid()}"
    running.write_bytes(b"being written by another thread of this process")
    assert store_backup.remove_abandoned_work_files(tmp_path) == []
    assert running.exists()


# --------------------------------------------------------------------------- permissions


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277], ids=["022", "000", "277"])
def test_everything_the_store_creates_is_owner_only_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    data = tmp_path / "data" / "itbconsole"
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(data))
    seen: dict[str, int] = {}
    real_open = store_backup.open_copy

    def watch(path: Path) -> sqlite3.Connection:
        seen["partial"] = mode(path)
        return real_open(path)

    monkeypatch.setattr(store_backup, "open_copy", watch)
    old = os.umask(umask)
    try:
        db = tmp_path / "new" / "room" / "clinic.sqlite"
        with Store.open(db) as store:
            store.add_patient(make_patient(), NURSE)
            for name in ("clinic.sqlite", "clinic.sqlite-wal", "clinic.sqlite-shm"):
                assert mode(db.parent / name) == 0o600, name
            store.backup(tmp_path / "new" / "backup.sqlite")
        logs = paths.log_dir()
    finally:
        os.umask(old)
    assert seen["partial"] == 0o600
    assert mode(tmp_path / "new" / "backup.sqlite") == 0o600
    for folder in (tmp_path / "new", db.parent, data.parent, data, logs):
        assert mode(folder) == 0o700, folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG data folder is Linux's")
def test_the_apps_own_data_folder_is_tightened_and_a_chosen_one_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITBCONSOLE_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    own = tmp_path / "xdg" / paths.APP_DIR_NAME
    (own / "logs").mkdir(parents=True)
    own.chmod(0o755)
    (own / "logs").chmod(0o755)
    assert paths.data_dir() == own
    assert paths.log_dir() == own / "logs"
    assert mode(own) == 0o700 and mode(own / "logs") == 0o700
    chosen = tmp_path / "shared-by-IT"
    chosen.mkdir()
    chosen.chmod(0o750)
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(chosen))
    assert paths.data_dir() == chosen
    assert mode(chosen) == 0o750


def test_backup_runs_the_full_integrity_check_the_quick_check_on_open_skips(
    app: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index that no longer matches its table passes ``quick_check`` (the open) but not
    ``integrity_check`` (the backup)."""
    assert app.path is not None
    path = app.path
    app.close()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("CREATE TABLE scratch (a INTEGER, b INTEGER)")
    raw.execute("CREATE INDEX scratch_a ON scratch (a)")
    raw.executemany("INSERT INTO scratch VALUES (?, ?)", [(i, -i) for i in range(50)])
    raw.execute("PRAGMA writable_schema = ON")
    raw.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX scratch_a ON scratch (b)'"
                " WHERE name = 'scratch_a'")  # fmt: skip
    raw.close()
    backup = tmp_path / "backup.sqlite"
    assert main(["--db", str(path), "db", "backup", str(backup)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "damaged" in err and "failed its integrity check" in err and "nothing was written" in err
    assert not backup.exists()
    assert partials(tmp_path) == []
