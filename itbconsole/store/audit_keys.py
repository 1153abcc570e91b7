"""The audit log's keys and the last head this computer sealed, kept outside the database.

Why outside: the audit chain's hashes are plain SHA-256, which anyone holding the database
file can recompute after editing it. Each entry is therefore also sealed with an HMAC whose
key never goes into the database: it lives in the user's data folder, owner-only, under the
database's own identity (``store_identity``)::

    <data folder>/audit-keys/<database id>/<key id>.key   32 random bytes, 0600
                                           current        the key id new seals use
                                           head-<file>    the last entry sealed in each file

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
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from itbconsole.paths import data_dir, private_dir, write_private_file

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


def _path_key(database: Path) -> str:
    return hashlib.sha256(str(database.resolve()).encode("utf-8")).hexdigest()[:32]


def _head_name(database: Path) -> str:
    """One head per database file: a copy written to elsewhere keeps its own."""
    return f"head-{_path_key(database)}"


def identity_recorded_for(root: Path, database: Path) -> str | None:
    """The identity this computer last recorded for the database file at ``database``."""
    try:
        text = (root / "paths" / _path_key(database)).read_text(encoding="utf-8")
    except OSError:
        return None
    first = text.split("\n", 1)[0].strip()
    return first or None


def key_file_for(backup: Path) -> Path:
    """Where a backup's audit keys and head are written: beside it."""
    return backup.with_name(backup.name + ".audit-keys")


def write_private_text(path: Path, text: str) -> None:
    write_private_file(path, text.encode("utf-8"))


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
    #: The identity this computer sealed the same database file under, when the file now
    #: names another one: someone changed ``store_identity`` (to get a fresh key and have
    #: forged entries sealed), or a different database was put in its place.
    identity_changed_from: str | None = None
    database: Path | None = None
    #: The identity this computer's path index names for :attr:`database` (read at open).
    indexed_as: str | None = None
    #: The sealed head of a database kept in memory (no folder to note it in).
    _memory_head: tuple[int, str] | None = None

    @classmethod
    def in_memory(cls, store_id: str) -> AuditKeys:
        return cls(store_id, None)

    @classmethod
    def for_store(
        cls, store_id: str, root: Path | None = None, database: Path | None = None
    ) -> AuditKeys:
        """The keys on this computer for database ``store_id`` (none yet: empty). With
        ``database`` (the file's path), also what this computer recorded for that path: if
        it sealed the file under another identity, those keys are loaded too (so the old
        seals are checked) and :attr:`identity_changed_from` is set."""
        base = root or keys_root()
        found = cls(store_id, base / store_id)
        found.database = database
        found._load(base / store_id, current=True)
        found.sealed_before = bool(found.keys)
        if database is not None:
            previous = identity_recorded_for(base, database)
            found.indexed_as = previous
            if previous is not None and previous != store_id:
                found.identity_changed_from = previous
                found._load(base / previous, current=False)
        return found

    def _load(self, folder: Path, *, current: bool) -> None:
        if not folder.is_dir():
            return
        for path in folder.glob(f"*{KEY_SUFFIX}"):
            key = path.read_bytes()
            if len(key) == KEY_BYTES and key_id(key) == path.stem:
                self.keys[path.stem] = key
        marker = folder / "current"
        if current and marker.is_file():
            name = marker.read_text(encoding="ascii").strip()
            if name in self.keys:
                self.current = name

    def note_backlog(self, entries: int) -> None:
        """Entries #1..#``entries`` existed before this computer sealed them (noted beside
        the keys, so ``db verify`` can say their earlier history rests on the chain alone)."""
        if self.folder is None:
            return
        from datetime import UTC, datetime

        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        write_private_file(self.folder / "backlog", f"{entries}\n{stamp}\n".encode("ascii"))

    def backlog(self) -> tuple[int, str] | None:
        """(entries, when) sealed at once on first open here, if any."""
        if self.folder is None:
            return None
        try:
            count, when = (self.folder / "backlog").read_text(encoding="ascii").split()[:2]
            return int(count), when
        except (OSError, ValueError):
            return None

    def record_path(self) -> None:
        """Note that the database file at :attr:`database` is this identity's."""
        if self.folder is None or self.database is None or self.indexed_as == self.store_id:
            return  # nothing to note (the usual open: already noted)
        index = self.folder.parent / "paths"
        private_dir(index)
        write_private_file(
            index / _path_key(self.database),
            f"{self.store_id}\n{self.database.resolve()}\n".encode(),
        )
        self.indexed_as = self.store_id
        self.identity_changed_from = None

    @property
    def where(self) -> str:
        return "kept in memory" if self.folder is None else str(self.folder)

    def create(self) -> str:
        """Make a new key, make it the current one, and return its id."""
        key = secrets.token_bytes(KEY_BYTES)
        name = key_id(key)
        if self.folder is not None:
            private_dir(self.folder)
            write_private_file(self.folder / f"{name}{KEY_SUFFIX}", key)
            write_private_file(self.folder / "current", name.encode("ascii"))
        self.keys[name] = key
        self.current = name
        return name

    def add(self, key: bytes) -> str:
        """Keep ``key`` (from a backup's key file) among this database's keys."""
        name = key_id(key)
        if self.folder is not None:
            private_dir(self.folder)
            write_private_file(self.folder / f"{name}{KEY_SUFFIX}", key)
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
        if database is None:
            return None
        try:
            text = (self.folder / _head_name(database)).read_text(encoding="utf-8")
            seq, digest, *where = text.split("\n")
            if not where or where[0] != str(database.resolve()):
                return None
            return int(seq), digest.strip()
        except (OSError, ValueError):
            return None

    def record_head(
        self, seq: int, entry_hash: str, database: Path | None, *, restored: bool = False
    ) -> None:
        """After a commit: the newest entry sealed in the file at ``database`` (a crash
        before this leaves the previous head, which is still in the chain, so nothing is
        reported that did not happen)."""
        if self.folder is None or database is None:
            self._memory_head = (seq, entry_hash)
            return
        known = self.head(database)
        if known is not None and known[0] >= seq and not restored:
            return  # another writer already recorded a newer entry: never go backwards
        text = f"{seq}\n{entry_hash}\n{database.resolve()}\n"
        write_private_file(self.folder / _head_name(database), text.encode("utf-8"))


__all__ = [
    "KEY_BYTES",
    "AuditKeys",
    "key_file_for",
    "key_id",
    "keys_root",
    "seal",
    "write_private_text",
]
