"""The audit log's keys and the last head this computer sealed, kept outside the database.

Why outside: the audit chain's hashes are plain SHA-256, which anyone holding the database
file can recompute after editing it. Each entry is therefore also sealed with an HMAC whose
key never goes into the database: it lives in the user's data folder, owner-only, under the
database's own identity (``store_identity``)::

    <data folder>/audit-keys/<database id>/<key id>.key   32 random bytes, 0600
                                           current        the key id new seals use
                                           head           "SEQ HASH" of the last entry sealed

Someone with only the database file (a copy, a backup, a file taken from the PC) cannot make
a seal that verifies, and cannot remove the newest entries unnoticed, because ``head`` still
names the last one this computer sealed. What it cannot stop: someone using this computer's
account, who can read the key too. Anchors outside the computer (the chain head printed on
every record, written beside every backup, and in the multi-room clinic the server) cover
that (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from itbconsole.paths import POSIX, PRIVATE_FILE_MODE, data_dir, private_dir

KEY_BYTES = 32
KEY_SUFFIX = ".key"


def key_id(key: bytes) -> str:
    """A short public name for a key (never the key itself)."""
    return hashlib.sha256(b"itbconsole audit key\x00" + key).hexdigest()[:16]


def seal(key: bytes, entry_hash: str) -> str:
    """HMAC-SHA-256 of an entry's chain hash under ``key``."""
    return hmac.new(key, entry_hash.encode("ascii"), hashlib.sha256).hexdigest()


def keys_root() -> Path:
    return private_dir(data_dir() / "audit-keys")


def _write_private(path: Path, data: bytes) -> None:
    """Write through a temporary name so a crash leaves the old file or the new one."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        if POSIX:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(partial, path)


def key_file_for(backup: Path) -> Path:
    """Where a backup's audit keys and head are written: beside it."""
    return backup.with_name(backup.name + ".audit-keys")


def write_private_text(path: Path, text: str) -> None:
    _write_private(path, text.encode("utf-8"))


@dataclass
class AuditKeys:
    """The keys of one database. ``folder`` None keeps them in memory only (a throwaway
    ``:memory:`` database)."""

    store_id: str
    folder: Path | None
    keys: dict[str, bytes] = field(default_factory=dict)
    current: str | None = None
    #: Set when this computer has sealed for the database before (a key was made here).
    sealed_before: bool = False

    @classmethod
    def in_memory(cls, store_id: str) -> AuditKeys:
        return cls(store_id, None)

    @classmethod
    def for_store(cls, store_id: str, root: Path | None = None) -> AuditKeys:
        """The keys on this computer for database ``store_id`` (none yet: empty)."""
        folder = (root or keys_root()) / store_id
        found = cls(store_id, folder)
        if folder.is_dir():
            for path in folder.glob(f"*{KEY_SUFFIX}"):
                key = path.read_bytes()
                if len(key) == KEY_BYTES and key_id(key) == path.stem:
                    found.keys[path.stem] = key
            current = folder / "current"
            if current.is_file():
                name = current.read_text(encoding="ascii").strip()
                if name in found.keys:
                    found.current = name
            found.sealed_before = bool(found.keys)
        return found

    @property
    def where(self) -> str:
        return "kept in memory" if self.folder is None else str(self.folder)

    def create(self) -> str:
        """Make a new key, make it the current one, and return its id."""
        key = secrets.token_bytes(KEY_BYTES)
        name = key_id(key)
        if self.folder is not None:
            private_dir(self.folder)
            _write_private(self.folder / f"{name}{KEY_SUFFIX}", key)
            _write_private(self.folder / "current", name.encode("ascii"))
        self.keys[name] = key
        self.current = name
        return name

    def add(self, key: bytes) -> str:
        """Keep ``key`` (from a backup's key file) among this database's keys."""
        name = key_id(key)
        if self.folder is not None:
            private_dir(self.folder)
            _write_private(self.folder / f"{name}{KEY_SUFFIX}", key)
        self.keys[name] = key
        return name

    def seal_with_current(self, entry_hash: str) -> tuple[str, str]:
        """(key id, seal) for a new entry."""
        if self.current is None:
            raise RuntimeError("no audit key: the store was opened without one")
        return self.current, seal(self.keys[self.current], entry_hash)

    # ------------------------------------------------------------------ the sealed head

    def head(self, database: Path | None) -> tuple[int, str] | None:
        """(seq, hash) of the last entry this computer sealed in the database file at
        ``database``, if it recorded one (a copy elsewhere, a backup, has its own anchor)."""
        if self.folder is None:
            return self._memory_head
        try:
            seq, digest, *where = (self.folder / "head").read_text(encoding="utf-8").split("\n")
            if database is None or not where or where[0] != str(database.resolve()):
                return None
            return int(seq), digest.strip()
        except (OSError, ValueError):
            return None

    def record_head(self, seq: int, entry_hash: str, database: Path | None) -> None:
        """After a commit: the newest entry sealed in the file at ``database`` (a crash
        before this leaves the previous head, which is still in the chain, so nothing is
        reported that did not happen)."""
        if self.folder is None or database is None:
            self._memory_head = (seq, entry_hash)
            return
        text = f"{seq}\n{entry_hash}\n{database.resolve()}\n"
        _write_private(self.folder / "head", text.encode("utf-8"))

    _memory_head: tuple[int, str] | None = None


__all__ = [
    "KEY_BYTES",
    "AuditKeys",
    "key_file_for",
    "key_id",
    "keys_root",
    "seal",
    "write_private_text",
]
