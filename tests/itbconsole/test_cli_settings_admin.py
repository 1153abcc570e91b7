"""``itbconsole settings set`` changes the clinic's numbers only after an administrator's
password: a typed name alone is not an administrator."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.model import Role
from itbconsole.services.accounts import AccountService
from itbconsole.store import Store

PASSWORD = "lantern-orchard-42"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        accounts = AccountService(store)
        admin = accounts.create_first_administrator("Ada Admin", PASSWORD)
        accounts.create_account(admin, "Nia Nurse", Role.NURSE, "meadow-copper-77")
    return path


def set_margin(
    db: Path,
    name: str,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = main(["--db", str(db), "settings", "set", "--admin", name, "--note", "clinic policy",
                 "--", "refill_margin_days=10"])  # fmt: skip
    out = capsys.readouterr()
    return code, out.out + out.err


def margin(db: Path) -> int | None:
    with Store.open(db) as store:
        saved = store.clinic_settings()
    return None if saved is None else saved.refill_margin_days


def test_an_administrator_with_the_password_changes_a_setting(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = set_margin(db, "Ada Admin", PASSWORD, monkeypatch, capsys)
    assert code == 0 and "Saved" in text and margin(db) == 10


@pytest.mark.parametrize(
    ("name", "password", "why"),
    [
        ("Ada Admin", "not-her-password", "password"),
        ("Nia Nurse", "meadow-copper-77", "not an administrator"),
        ("Someone Typed", "anything-at-all", ""),
    ],
)
def test_nothing_changes_without_an_administrators_sign_in(
    db: Path, name: str, password: str, why: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    code, text = set_margin(db, name, password, monkeypatch, capsys)
    assert code == 1 and why in text and "Traceback" not in text
    assert margin(db) in (None, 7)  # unchanged from the default
