"""Accounts and sign-in: who is at the console, proved by their password.

Why: the role rules (:data:`itbconsole.model.ROLE_ACTIONS`: only a clinician or an
administrator sends a program) are only as good as the sign-in behind the ``User`` the
services are given. Before accounts anyone typed any name and picked any role. Now:

* an **account** has a name, a role, an optional professional registration number, is
  active or disabled (never deleted: records keep who made them) and an argon2id password
  hash (argon2-cffi's defaults, RFC 9106's low-memory profile; a hash made with other
  parameters is replaced at the next sign-in). Passwords: :data:`MIN_PASSWORD_CHARS` to
  :data:`MAX_PASSWORD_CHARS` characters, not the account's name, not one repeated
  character, not one of a few well-known passwords (:func:`password_problem`);
* administrators create, disable, enable and reset accounts and change roles; a password
  set by someone else must be changed at the next sign-in; the last active administrator
  cannot be disabled or given another role;
* a **wrong password** is recorded; after :data:`FREE_FAILURES` wrong passwords in a row
  the next attempt waits 1 s, then 2, 4, ... up to :data:`BACKOFF_CAP_S` (:func:`backoff_s`),
  counted from the recorded failures with the service's clock (so it holds across restarts
  and between the app and the command line, and tests need no sleep);
* the argon2 check takes 0.1-0.2 s: the app does it on a worker thread
  (:meth:`AccountService.password_checker` gives a check that touches no database) and
  hands its :class:`PasswordCheck` to :meth:`AccountService.sign_in`, :meth:`~AccountService.unlock`,
  :meth:`~AccountService.switch_to` or :meth:`~AccountService.confirm_second_check` (and a
  :class:`PasswordChangeCheck`, :meth:`AccountService.password_change_checker`, to
  :meth:`~AccountService.change_own_password`), which decide and record on the caller's
  thread as without it. A check counts only as the service made it: it carries an
  HMAC-SHA256 tag, keyed with a secret of the service instance, over the account, the
  stored hash, the password (and for a change the new password and its hash) and the
  answer; a check for another password, built or altered elsewhere, or made against a
  hash that has changed meanwhile is not used (the password is checked in place). A check
  whose form was closed before its answer lets nobody in; a wrong password in it is
  recorded all the same (:meth:`~AccountService.record_abandoned`);
* an account whose password an administrator set comes in at the app (sign-in, unlock,
  switch) only with its own new password, and its success event (which ends the count of
  wrong passwords) is recorded then, by :meth:`~AccountService.change_own_password`;
* a **second clinician** confirming a severe override signs with their own account and
  password (:meth:`AccountService.confirm_second_check`), bound to the one program checked;
* every change and event is a record with its audit entry (:mod:`itbconsole.store.accounts`).

The service imports no Qt; the app's sign-in form, lock screen and account dialog
(``ui/dialogs.py``, ``ui/lock.py``, ``ui/accounts_dialogs.py``) and ``itbconsole users``
are thin views over it.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from itbconsole.model import Action, Role, SecondCheck, User
from itbconsole.store import Store, StoreError
from itbconsole.store import accounts as records
from itbconsole.store.account_rules import leaves_no_administrator
from itbconsole.store.accounts import (
    FAILURE_EVENTS,
    FIRST_ADMINISTRATOR_NOTE,
    NOT_SIGNED_IN,
    Account,
    same_name,
)

MIN_PASSWORD_CHARS = 8
#: Longer is a paste gone wrong, and would make every check of it slow.
MAX_PASSWORD_CHARS = 128
MIN_NAME_CHARS = 2
MAX_NAME_CHARS = 120
MAX_REGISTRATION_CHARS = 40
#: Wrong passwords in a row allowed without a wait.
FREE_FAILURES = 3
#: The longest wait between attempts after wrong passwords.
BACKOFF_CAP_S = 60
#: Passwords refused whatever their length (the first ones tried by anyone guessing).
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "passw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "87654321",
        "qwertyui",
        "qwerty123",
        "abcd1234",
        "letmein1",
        "welcome1",
        "changeme",
        "iloveyou",
        "itbconsole",
        "baclofen",
    }
)


class AccountError(ValueError):
    """A refusal; the message is for the person at the console."""


class SignInRefused(AccountError):
    """Wrong password, disabled account, or too soon after wrong passwords.
    ``retry_after_s`` is how long the next attempt must wait (0: none)."""

    def __init__(self, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class PasswordCheck:
    """What the argon2 check of one password against one stored hash said
    (:meth:`AccountService.password_checker`), worked out on any thread: no database in it.
    Used only with that password, and only while the account's stored hash is still
    ``password_hash``.

    ``tag`` is the service's proof that it made this check: an HMAC-SHA256, with a key
    that only the service instance holds, over the account, the stored hash, the password
    checked and the answer. A check made or altered anywhere else (the stored hash is
    readable from the database) does not carry it, and is ignored: the password is then
    checked in place."""

    password_hash: str
    matches: bool
    rehashed: str | None = None
    """The password hashed with the present parameters, when it matched a hash made with
    other ones (stored in its place at the sign-in)."""
    tag: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class PasswordChangeCheck:
    """The argon2 work of changing one's own password, done beforehand on any thread
    (:meth:`AccountService.password_change_checker`): the present password checked and,
    when it matched and the new one passes :func:`password_problem`, the new one hashed.
    Used only with those two passwords: ``tag`` (as :class:`PasswordCheck`'s) binds
    ``new_hash`` to the account, its stored hash and both passwords; without a valid one
    the new password is hashed in place."""

    present: PasswordCheck
    new_hash: str | None = None
    tag: bytes = field(default=b"", repr=False, compare=False)


def backoff_s(failures: int) -> int:
    """Seconds to wait after ``failures`` wrong passwords in a row: none for the first
    :data:`FREE_FAILURES`, then 1 s doubling each time, at most :data:`BACKOFF_CAP_S`."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - FREE_FAILURES), BACKOFF_CAP_S))


def password_problem(password: str, name: str = "") -> str:
    """Why ``password`` may not be used ('' when it may)."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"The password needs at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"The password may have at most {MAX_PASSWORD_CHARS} characters."
    if len(set(password)) == 1:
        return "The password cannot be one character repeated."
    if name and same_name(password, name):
        return "The password cannot be your name."
    if password.strip().casefold() in COMMON_PASSWORDS:
        return "This password is one of the first anyone would try: choose another."
    return ""


def name_problem(name: str) -> str:
    clean = " ".join(name.split())
    if len(clean) < MIN_NAME_CHARS:
        return f"The name needs at least {MIN_NAME_CHARS} letters."
    if len(clean) > MAX_NAME_CHARS:
        return f"The name may have at most {MAX_NAME_CHARS} characters."
    if not all(ch.isprintable() for ch in clean):
        return "The name contains characters that cannot be printed."
    return ""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccountService:
    """Accounts, sign-in, lock and second checks on one store.

    ``clock`` gives the time the backoff is counted with (tests pass a fake one);
    ``hasher`` the argon2 parameters (tests pass cheap ones; a stored hash made with other
    parameters is replaced at the next successful sign-in)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = _utc_now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.db = store.db
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        #: The key of the checks this instance makes (:class:`PasswordCheck` ``tag``): never
        #: stored, never shown, new with every instance.
        self._check_key = os.urandom(32)
        #: Accounts whose password an administrator set, let in by the app only once they
        #: choose their own: by account id, the success event (and its detail) that
        #: :meth:`change_own_password` records then.
        self._entering: dict[int, tuple[str, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ reads

    def has_accounts(self) -> bool:
        """False on a new database: the first start asks for the first administrator."""
        return records.count_accounts(self.db) > 0

    def accounts(self, *, include_disabled: bool = True) -> list[Account]:
        return records.list_accounts(self.db, include_disabled=include_disabled)

    def sign_in_names(self) -> list[str]:
        """The names the sign-in form offers: every active account, by name."""
        return [a.name for a in self.accounts(include_disabled=False)]

    def second_checkers(self, sender: User) -> list[str]:
        """Who may confirm ``sender``'s severe override: every other active account that
        may send a program."""
        return [
            a.name
            for a in self.accounts(include_disabled=False)
            if a.user().may(Action.SEND_PROGRAM)
            and a.id != sender.account_id
            and not same_name(a.name, sender.name)
        ]

    def account(self, account_id: int) -> Account | None:
        return records.get_account(self.db, account_id)

    def find(self, name: str) -> Account | None:
        return records.find_account(self.db, name)

    def current_user(self, user: User) -> User | None:
        """``user`` as their account says now (None when it is disabled or gone): a role
        changed by an administrator applies from the next unlock."""
        if user.account_id is None:
            return user
        found = self.account(user.account_id)
        return found.user() if found is not None and found.active else None

    def must_change_password(self, user: User) -> bool:
        """The password was set by an administrator (or the account was just made): the
        user chooses their own before anything else."""
        account = self._own(user)
        return account is not None and account.must_change_password

    def retry_after(self, name: str) -> int:
        """Whole seconds before the next attempt for ``name`` is allowed (0: now)."""
        found = self.find(name)
        failures = records.recent_failures(self.db, found.id if found else None, name)
        wait = backoff_s(len(failures))
        if not wait:
            return 0
        elapsed = (self.clock() - failures[0]).total_seconds()
        remaining = wait - elapsed
        return max(0, int(remaining) + (1 if remaining % 1 else 0))

    def password_checker(self, name: str) -> Callable[[str], PasswordCheck] | None:
        """The argon2 check of a password for ``name``'s account as a function that reads
        no database, so the app runs it on a worker thread (0.1-0.2 s of CPU; argon2-cffi
        lets go of the GIL meanwhile) and gives its result to :meth:`sign_in`,
        :meth:`unlock` or :meth:`switch_to` as ``checked``. None when there is nothing to
        check now: a wait after wrong passwords is due (the attempt is refused unchecked),
        or no active account has that name; those methods then refuse at once."""
        if self.retry_after(name):
            return None
        account = self.find(name)
        if account is None or not account.active:
            return None
        account_id, stored, hasher, tag = account.id, account.password_hash, self.hasher, self._tag

        def check(password: str) -> PasswordCheck:
            ok, again = False, None
            if len(password) <= MAX_PASSWORD_CHARS:
                try:
                    ok = bool(hasher.verify(stored, password))
                except (VerificationError, InvalidHashError):
                    ok = False
                if ok and hasher.check_needs_rehash(stored):
                    again = hasher.hash(password)
            proof = tag("password", account_id, stored, password, ok, again)
            return PasswordCheck(stored, ok, again, proof)

        return check

    def password_change_checker(
        self, user: User
    ) -> Callable[[str, str], PasswordChangeCheck] | None:
        """The argon2 work of :meth:`change_own_password` (the present password checked,
        the new one hashed: 0.2-0.4 s) as a function of the present and new passwords that
        reads no database, run by the app on a worker thread; its result is given to
        :meth:`change_own_password` as ``checked``. None when there is nothing to check now
        (no active account, or a wait after wrong passwords is due): that method then
        refuses at once."""
        account = self._own(user)
        if account is None or not account.active:
            return None
        check = self.password_checker(account.name)
        if check is None:
            return None
        account_id, stored = account.id, account.password_hash
        name, hasher, tag = account.name, self.hasher, self._tag

        def change(present: str, new: str) -> PasswordChangeCheck:
            checked = check(present)
            if not checked.matches or password_problem(new, name) or new == present:
                return PasswordChangeCheck(checked)  # refused before anything is hashed
            new_hash = hasher.hash(new)
            proof = tag("change", account_id, stored, present, new, new_hash)
            return PasswordChangeCheck(checked, new_hash, proof)

        return change

    def events(self, account_id: int | None = None, *kinds: str) -> list[dict[str, Any]]:
        return records.events(self.db, account_id, kinds)

    # ------------------------------------------------------------------ first start

    def create_first_administrator(self, name: str, password: str, registration: str = "") -> User:
        """The first account of a new database: an administrator, signed in at once."""
        if self.has_accounts():
            raise AccountError(
                "This database already has accounts: sign in, and ask an administrator for "
                "an account."
            )
        self._check_new(name, password, registration)
        clean = " ".join(name.split())
        me = User(clean, Role.ADMINISTRATOR)
        account = self._create(
            me, clean, Role.ADMINISTRATOR, password, registration, False, FIRST_ADMINISTRATOR_NOTE
        )
        user = account.user()
        self._event("signed_in", user, account, {"first_administrator": True})
        return user

    # ------------------------------------------------------------------ sign-in

    def sign_in(
        self,
        name: str,
        password: str,
        *,
        via: str = "the app",
        checked: PasswordCheck | None = None,
        change_first: bool = False,
    ) -> User:
        """Check the password for ``name``; returns the signed-in user. Raises
        :class:`SignInRefused` (recorded when it is a wrong password). ``checked``: the
        argon2 check of this password already made (:meth:`password_checker`).

        ``change_first``: the caller lets an account whose password an administrator set in
        only after its own new password (the app does); its ``signed_in`` is then recorded
        by :meth:`change_own_password`, and nothing is recorded if it is never chosen
        (nobody came in; the wrong passwords before still count). Without it (the command
        line) ``signed_in`` is recorded now."""
        account = self._verify(name, password, "sign_in_failed", {"via": via}, checked)
        self._enter(account, "signed_in", {"via": via}, change_first=change_first)
        return account.user()

    def unlock(self, user: User, password: str, *, checked: PasswordCheck | None = None) -> User:
        """The locked session's own user comes back (their account as it is now). The lock
        screen lets an account whose password an administrator set in only after its own new
        password: ``unlocked`` is recorded then (:meth:`change_own_password`)."""
        if user.account_id is None:
            raise SignInRefused("This session has no account to unlock with.")
        account = self.account(user.account_id)
        if account is None:
            raise SignInRefused("This account no longer exists.")
        account = self._verify(account.name, password, "sign_in_failed", {"at": "unlock"}, checked)
        self._enter(account, "unlocked", {}, change_first=True)
        return account.user()

    def switch_to(
        self,
        name: str,
        password: str,
        previous: User | None,
        *,
        checked: PasswordCheck | None = None,
    ) -> User:
        """Another person signs in at the lock screen (``previous``'s work stays theirs).
        As at :meth:`unlock`, a password an administrator set is changed first, and
        ``switched_user`` recorded then."""
        account = self._verify(name, password, "sign_in_failed", {"at": "switch user"}, checked)
        detail = {"from": previous.name if previous else None}
        self._enter(account, "switched_user", detail, change_first=True)
        return account.user()

    def change_own_password(
        self, user: User, old: str, new: str, *, checked: PasswordChangeCheck | None = None
    ) -> User:
        """The signed-in user sets a new password (needs the present one). ``checked``:
        the argon2 work already done (:meth:`password_change_checker`)."""
        if user.account_id is None:
            raise AccountError("Only a signed-in account has a password to change.")
        account = self.account(user.account_id)
        if account is None or not account.active:
            raise AccountError("This account is not active.")
        present = checked.present if checked is not None else None
        stored = account.password_hash
        new_hash = None
        if checked is not None and checked.new_hash is not None:
            proof = self._tag("change", account.id, stored, old, new, checked.new_hash)
            if hmac.compare_digest(checked.tag, proof):
                new_hash = checked.new_hash  # made by this service, from these passwords
        account = self._verify(
            account.name, old, "sign_in_failed", {"at": "password change"}, present
        )
        problem = password_problem(new, account.name)
        if problem:
            raise AccountError(problem)
        if present is not None and present.matches and present.password_hash == stored:
            same = new == old  # the present password matched: the new one matches it if equal
        else:
            same = self._matches(account.password_hash, new)
        if same:
            raise AccountError("The new password must differ from the present one.")
        account = records.add_version(
            self.db,
            account,
            "password_changed",
            account.user(),
            password_hash=new_hash or self.hasher.hash(new),
            must_change_password=False,
        )
        entering = self._entering.pop(account.id, None)
        if entering is not None:  # the sign-in, unlock or switch that waited for this
            self._event(entering[0], account.user(), account, entering[1])
        return account.user()

    def record_abandoned(
        self,
        name: str,
        password: str,
        checked: object,
        failure: str,
        detail: dict[str, Any],
    ) -> bool:
        """The answer of a check made on a worker thread (:meth:`password_checker`,
        :meth:`password_change_checker`) whose form was closed before it came: nobody signs
        in and nothing changes, but a wrong password was tried, so it is recorded as
        ``failure`` (``sign_in_failed`` or ``second_check_failed``) with ``detail`` and
        ``"abandoned": true``, under the write lock, counting towards the wait like any
        other. Only for a check this service made for ``password`` against the hash the
        account still has; a right password records nothing. True when recorded."""
        if failure not in FAILURE_EVENTS:
            raise AccountError(f"'{failure}' is not a wrong-password event.")
        if isinstance(checked, PasswordChangeCheck):
            checked = checked.present
        if not isinstance(checked, PasswordCheck) or checked.matches:
            return False
        with self.store.atomic():
            account = self.find(name)
            if account is None or not self._genuine(checked, account, password):
                return False
            records.record_event(
                self.db,
                failure,
                at=self.clock(),
                by=NOT_SIGNED_IN,
                account_id=account.id,
                name=account.name,
                detail={**detail, "abandoned": True},
            )
        return True

    def record_lock(self, user: User, reason: str) -> None:
        """The screen was locked (idle, or by the user)."""
        self._event("locked", user, self._own(user), {"reason": reason})

    def record_sign_out(self, user: User) -> None:
        self._event("signed_out", user, self._own(user))

    def record_without_password(self, event: str, user: User, detail: dict[str, Any]) -> None:
        """A sign-in event of a user no account stands behind (demo mode's users sign in
        with no password): recorded all the same, marked so. Never for an account."""
        if user.account_id is not None:
            raise AccountError(f"{user.name} has an account: their password is needed.")
        if event not in ("signed_in", "unlocked", "switched_user"):
            raise AccountError(f"'{event}' is not a sign-in event.")
        self._event(event, user, None, {**detail, "password": "none (demo mode)"})

    def record_work(self, event: str, user: User, detail: dict[str, Any]) -> None:
        """Work in progress paused, resumed or discarded when the person at the console
        changes (``work_paused``, ``work_resumed``, ``work_discarded``)."""
        self._event(event, user, self._own(user), detail)

    # ------------------------------------------------------------------ second checker

    def confirm_second_check(
        self,
        sender: User,
        name: str,
        password: str,
        subject: str,
        *,
        checked: PasswordCheck | None = None,
    ) -> SecondCheck:
        """A second clinician confirms ``sender``'s severe override of the program
        ``subject`` names, with their own account and password. Refused (and a wrong
        password recorded) unless it is another active account that may send programs.
        ``checked``: the argon2 check of this password already made
        (:meth:`password_checker` for ``name``)."""
        account = self.find(name)
        if account is None or not account.active:
            raise SignInRefused(f"There is no active account named {name.strip()}.")
        if account.id == sender.account_id or same_name(account.name, sender.name):
            raise SignInRefused(
                "The second clinician must be someone else than the clinician sending."
            )
        if not account.user().may(Action.SEND_PROGRAM):
            raise SignInRefused(
                f"{account.name} is a {account.role.value}: a second check needs a clinician "
                "or an administrator."
            )
        detail = {"sender": sender.name, "subject": subject}
        account = self._verify(account.name, password, "second_check_failed", detail, checked)
        at = self.clock()
        event_id = self._event("second_check", account.user(), account, detail, at=at)
        return SecondCheck(
            account_id=account.id,
            name=account.name,
            role=account.role,
            at=at,
            subject=subject,
            event_id=event_id,
        )

    # ------------------------------------------------------------------ administration

    def create_account(
        self,
        by: User,
        name: str,
        role: Role,
        password: str,
        registration: str = "",
        note: str = "",
    ) -> Account:
        """An administrator adds an account; its first password is to be changed at the
        first sign-in."""
        admin = self._require_admin(by)
        self._check_new(name, password, registration)
        return self._create(admin, " ".join(name.split()), role, password, registration, True, note)

    def disable(self, by: User, account_id: int, note: str = "") -> Account:
        admin = self._require_admin(by)
        account = self._target(account_id)
        if not account.active:
            raise AccountError(f"{account.name}'s account is already disabled.")
        if account.id == admin.account_id:
            raise AccountError("You cannot disable your own account: ask another administrator.")
        self._keep_an_administrator(account, will_be_admin=False)
        return records.add_version(self.db, account, "disabled", admin, note, active=False)

    def enable(self, by: User, account_id: int, note: str = "") -> Account:
        admin = self._require_admin(by)
        account = self._target(account_id)
        if account.active:
            raise AccountError(f"{account.name}'s account is already active.")
        return records.add_version(self.db, account, "enabled", admin, note, active=True)

    def change_role(self, by: User, account_id: int, role: Role, note: str = "") -> Account:
        admin = self._require_admin(by)
        account = self._target(account_id)
        if account.role is role:
            raise AccountError(f"{account.name} is already a {role.value}.")
        self._keep_an_administrator(account, will_be_admin=role is Role.ADMINISTRATOR)
        return records.add_version(self.db, account, "role_changed", admin, note, role=role)

    def reset_password(self, by: User, account_id: int, password: str, note: str = "") -> Account:
        """An administrator sets a new password for someone who lost theirs; they must
        change it at their next sign-in."""
        admin = self._require_admin(by)
        account = self._target(account_id)
        problem = password_problem(password, account.name)
        if problem:
            raise AccountError(problem)
        return records.add_version(
            self.db,
            account,
            "password_reset",
            admin,
            note,
            password_hash=self.hasher.hash(password),
            must_change_password=account.id != admin.account_id,
        )

    # ------------------------------------------------------------------ helpers

    def _own(self, user: User) -> Account | None:
        return self.account(user.account_id) if user.account_id is not None else None

    def _event(
        self,
        event: str,
        by: User,
        account: Account | None,
        detail: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> int:
        return records.record_event(
            self.db,
            event,
            at=at or self.clock(),
            by=by,
            account_id=account.id if account else None,
            name=account.name if account else by.name,
            detail=detail,
        )

    def _tag(self, *parts: str | int | bool | None) -> bytes:
        """HMAC-SHA256 with this instance's key over ``parts`` (unambiguously joined)."""
        message = json.dumps(parts, ensure_ascii=True).encode("ascii")
        return hmac.new(self._check_key, message, sha256).digest()

    def _genuine(self, checked: PasswordCheck, account: Account, password: str) -> bool:
        """``checked`` was made by this service, for this account and this password, against
        the hash the account has now (so its answer and its rehash may be used)."""
        if checked.password_hash != account.password_hash:
            return False
        proof = self._tag(
            "password",
            account.id,
            checked.password_hash,
            password,
            checked.matches,
            checked.rehashed,
        )
        return hmac.compare_digest(checked.tag, proof)

    def _enter(
        self, account: Account, event: str, detail: dict[str, Any], *, change_first: bool
    ) -> None:
        """Record that ``account`` came in, or, when its password must be changed first
        and the caller makes it, keep the record for :meth:`change_own_password`: a success
        event ends the wrong-password count, so it is written only for someone let in."""
        if change_first and account.must_change_password:
            self._entering[account.id] = (event, detail)
            return
        self._entering.pop(account.id, None)
        self._event(event, account.user(), account, detail)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def _verify(
        self,
        name: str,
        password: str,
        failure: str,
        detail: dict[str, Any],
        checked: PasswordCheck | None = None,
    ) -> Account:
        """The account named, when ``password`` is its password: the backoff first (an
        attempt too soon is refused unchecked), then the password; a wrong one is
        recorded. A hash made with other parameters is replaced. Attempts are taken one at
        a time (the count, the check and its record under the database's write lock), so
        attempts made in parallel are slowed like attempts made one after another.

        With ``checked`` (the argon2 check made beforehand, on a worker thread) the same
        decision is taken under the lock with its answer: the backoff is counted again
        there, so a wrong password recorded meanwhile by another attempt still makes this
        one wait, and a check made against a hash that has changed since is not used (the
        password is checked again here)."""
        with self.store.atomic():
            outcome = self._verify_now(name, password, failure, detail, checked)
        if isinstance(outcome, SignInRefused):
            raise outcome  # after the commit: the wrong password stays recorded
        return outcome

    def _verify_now(
        self,
        name: str,
        password: str,
        failure: str,
        detail: dict[str, Any],
        checked: PasswordCheck | None = None,
    ) -> Account | SignInRefused:
        wait = self.retry_after(name)
        if wait:
            return SignInRefused(
                f"Too many wrong passwords for {name.strip()}: try again in {wait} s.", wait
            )
        account = self.find(name)
        if account is not None and not account.active:
            records.record_event(
                self.db,
                failure,
                at=self.clock(),
                by=NOT_SIGNED_IN,
                account_id=account.id,
                name=account.name,
                detail={**detail, "refused": "account disabled"},
            )
            return SignInRefused(
                f"{account.name}'s account is disabled: ask an administrator to enable it."
            )
        if checked is not None and (
            account is None or not self._genuine(checked, account, password)
        ):
            checked = None  # not made here for this password, or against another hash
        if account is None or len(password) > MAX_PASSWORD_CHARS:
            ok = False
        elif checked is not None:
            ok = checked.matches
        else:
            ok = self._matches(account.password_hash, password)
        if not ok:
            records.record_event(
                self.db,
                failure,
                at=self.clock(),
                by=NOT_SIGNED_IN,
                account_id=account.id if account else None,
                name=account.name if account else name,
                detail=detail,
            )
            wait = self.retry_after(name)
            who = account.name if account else name.strip()
            message = (
                f"Wrong password for {who}."
                if account
                else f"There is no account named {who}, or the password is wrong."
            )
            if wait:
                message += f" Too many wrong passwords: wait {wait} s before trying again."
            return SignInRefused(message, wait)
        assert account is not None
        if self.hasher.check_needs_rehash(account.password_hash):
            account = records.add_version(
                self.db,
                account,
                "password_rehashed",
                account.user(),
                "stored with the current argon2 parameters",
                password_hash=(checked.rehashed if checked and checked.rehashed else None)
                or self.hasher.hash(password),
            )
        return account

    def _check_new(self, name: str, password: str, registration: str) -> None:
        problem = name_problem(name) or password_problem(password, name)
        if not problem and len(registration.strip()) > MAX_REGISTRATION_CHARS:
            problem = (
                f"The registration number may have at most {MAX_REGISTRATION_CHARS} characters."
            )
        if not problem and self.find(name) is not None:
            problem = (
                f"There is already an account named {' '.join(name.split())}: names stay with "
                "their account for good. Use another form of the name (add a middle initial)."
            )
        if problem:
            raise AccountError(problem)

    def _create(
        self,
        by: User,
        name: str,
        role: Role,
        password: str,
        registration: str,
        must_change: bool,
        note: str,
    ) -> Account:
        try:
            return records.create_account(
                self.db,
                name=name,
                role=role,
                password_hash=self.hasher.hash(password),
                by=by,
                registration=registration,
                must_change_password=must_change,
                note=note,
            )
        except StoreError as exc:
            raise AccountError(str(exc)) from exc

    def _require_admin(self, by: User) -> User:
        """``by`` as their account says now, when it is an active administrator."""
        account = self.account(by.account_id) if by.account_id is not None else None
        if account is None or not account.active or account.role is not Role.ADMINISTRATOR:
            raise AccountError(
                f"{by.name} is not signed in with an active administrator account: only an "
                "administrator manages accounts."
            )
        return account.user()

    def _target(self, account_id: int) -> Account:
        account = self.account(account_id)
        if account is None:
            raise AccountError(f"There is no account {account_id}.")
        return account

    def _keep_an_administrator(self, account: Account, *, will_be_admin: bool) -> None:
        if leaves_no_administrator(
            self.accounts(include_disabled=False), account, will_be_admin=will_be_admin
        ):
            raise AccountError(
                f"{account.name} is the last active administrator: make another account an "
                "administrator first."
            )
