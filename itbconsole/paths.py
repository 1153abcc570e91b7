"""Where ITB Console keeps its files: the user's data folder, overridable for IT and tests.

* ``ITBCONSOLE_DATA_DIR`` overrides the data folder;
* ``ITBCONSOLE_DB`` (or ``--db PATH``) overrides the database file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DIR_NAME = "itbconsole"
DB_FILE_NAME = "itbconsole.sqlite"


def data_dir() -> Path:
    """The per-user data folder (created on first use)."""
    override = os.environ.get("ITBCONSOLE_DATA_DIR")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = (
            Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "ITBConsole"
        )
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "ITBConsole"
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        base = Path(xdg) / APP_DIR_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` if given, else ``$ITBCONSOLE_DB``, else the data folder's database."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ITBCONSOLE_DB")
    if env:
        return Path(env)
    return data_dir() / DB_FILE_NAME


def log_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
