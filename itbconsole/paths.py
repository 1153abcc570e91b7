"""Where ITB Console keeps its files: the user's data folder, overridable for IT and tests.

* ``ITBCONSOLE_DATA_DIR`` overrides the data folder;
* ``ITBCONSOLE_DB`` (or ``--db PATH``) overrides the database file.

Everything here holds patient data or traces of it (the database, its -wal and -shm files,
backups, logs, settings), so on POSIX the folders ITB Console creates are owner-only
(0700) and the files it creates are owner-only (0600), whatever the user's umask. Folders
that already exist and that IT chose (an override) are left as they are; the app's own
default folders are tightened to 0700 on every start, which also protects files written
before this rule.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

APP_DIR_NAME = "itbconsole"
DB_FILE_NAME = "itbconsole.sqlite"
#: The window's own settings (last port, window geometry): the clinic's, and the demo's
#: apart, so a training session never changes what the clinic's console opens with.
WINDOW_SETTINGS_FILE_NAME = "settings.ini"
DEMO_WINDOW_SETTINGS_FILE_NAME = "demo-settings.ini"
DEMO_DB_FILE_NAME = "demo.sqlite"

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

#: POSIX permission bits mean something; on Windows the per-user folders are private already.
POSIX = os.name == "posix"


def data_dir() -> Path:
    """The per-user data folder (created owner-only on first use)."""
    override = os.environ.get("ITBCONSOLE_DATA_DIR")
    if override:
        return private_dir(Path(override))
    if sys.platform == "win32":
        base = (
            Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "ITBConsole"
        )
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "ITBConsole"
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        base = Path(xdg) / APP_DIR_NAME
    private_dir(base)
    tighten(base)  # ours by name: a folder from an older version may still be 0755
    return base


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` if given, else ``$ITBCONSOLE_DB``, else the data folder's database."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ITBCONSOLE_DB")
    if env:
        return Path(env)
    return data_dir() / DB_FILE_NAME


def window_settings_path(*, demo: bool = False) -> Path:
    """The window's settings file: demo mode keeps its own (its simulated ports and its
    window size are never the clinic's)."""
    return data_dir() / (DEMO_WINDOW_SETTINGS_FILE_NAME if demo else WINDOW_SETTINGS_FILE_NAME)


def demo_db_path() -> Path:
    """The demo clinic's database (made afresh each time demo mode starts)."""
    return data_dir() / DEMO_DB_FILE_NAME


def log_dir() -> Path:
    path = private_dir(data_dir() / "logs")
    tighten(path)  # the app's own folder, whichever data folder holds it
    return path


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as owner-only folders; return ``path``.

    Each folder is made and chmod-ed in turn, from the top down: ``mkdir(mode=...)`` is
    filtered by the umask (and ``parents=True`` ignores the mode), and a strict umask could
    otherwise leave a parent the next folder cannot be made in. Folders that already
    existed are not touched.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs to set
        if POSIX:
            os.chmod(folder, PRIVATE_DIR_MODE)
    if not path.is_dir():
        path.mkdir()  # raises the reason (a file in the way, say)
    return path


def tighten(path: Path) -> None:
    """Make one of ITB Console's own folders owner-only if it is not already (POSIX).

    Only for folders the app owns by name; best effort, since a folder owned by another
    account cannot be changed and the app still works with it.
    """
    if not POSIX:
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode != PRIVATE_DIR_MODE:
            os.chmod(path, PRIVATE_DIR_MODE)
    except OSError:
        pass


def create_private_file(path: Path) -> None:
    """Create ``path`` as an empty owner-only file; fail if it already exists.

    ``os.open`` with a mode is umask-filtered, so the mode is set again explicitly. SQLite
    gives a database's -wal, -shm and -journal files the database file's own permissions,
    so creating the database file this way keeps its side files private too.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        if POSIX:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def make_private(path: Path) -> None:
    """Make an existing file ITB Console wrote owner-only (POSIX; best effort: a file owned
    by another account cannot be changed). For files made by libraries that take no mode
    (log files, the settings file, PDFs)."""
    if not POSIX:
        return
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FILE_MODE:
            os.chmod(path, PRIVATE_FILE_MODE)
    except OSError:
        pass


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` owner-only, through a temporary name in the same folder,
    so a crash or a full disk leaves the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if POSIX:
                os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)  # the mode above is umask-filtered
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
