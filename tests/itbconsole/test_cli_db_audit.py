"""``db verify`` with seals and anchors, ``db backup`` with its key file, and moving or
restoring a database with ``db import-keys``: run as a clinic's IT person would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.store import Store
from tests.itbconsole.store.storefixtures import NURSE, make_patient


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refusing an argument
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        store.add_patient(make_patient(), NURSE)
    return path


def test_verify_says_which_key_and_checks_an_anchor(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(db) as store:
        seq, digest = store.audit_head().lstrip("#").split()
    code, text = run(capsys, "--db", str(db), "db", "verify", "--anchor", f"{seq}:{digest[:8]}")
    assert code == 0 and "Seals checked with key" in text and "Anchor #" in text
    code, text = run(capsys, "--db", str(db), "db", "verify", "--anchor", f"{seq}:00000000")
    assert code == 1 and "TAMPERED" in text
    code, text = run(capsys, "--db", str(db), "db", "verify", "--anchor", "12:xyz")
    assert code == 2 and "not an audit anchor" in text and "Traceback" not in text


def test_a_restored_backup_is_accepted_once_its_keys_are_imported(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup.sqlite"
    code, text = run(capsys, "--db", str(db), "db", "backup", str(backup))
    assert code == 0 and "Audit head at the backup: #" in text and ".audit-keys" in text
    with Store.open(db) as store:  # work goes on after the backup
        store.add_patient(make_patient(family="Lee", hospital="H100002", nhs_number=None), NURSE)
    shutil.copyfile(backup, db)  # the disk failed: the backup is restored over the database
    code, text = run(capsys, "--db", str(db), "db", "verify")
    assert code == 1 and "missing" in text  # this computer sealed a later entry
    code, text = run(
        capsys, "--db", str(db), "db", "import-keys", str(backup) + ".audit-keys", "--restored"
    )
    assert code == 0
    code, text = run(capsys, "--db", str(db), "db", "verify")
    assert code == 0 and "intact" in text


def test_a_database_moved_to_another_computer_is_proven_after_importing_its_keys(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = tmp_path / "backup.sqlite"
    assert run(capsys, "--db", str(db), "db", "backup", str(backup))[0] == 0
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path / "new-pc"))
    moved = tmp_path / "new-pc-clinic.sqlite"
    shutil.copyfile(backup, moved)
    code, text = run(capsys, "--db", str(moved), "db", "verify")
    assert code == 1 and "NOT PROVEN" in text and "TAMPERED" not in text
    assert run(capsys, "--db", str(moved), "db", "import-keys", str(backup) + ".audit-keys")[0] == 0
    code, text = run(capsys, "--db", str(moved), "db", "verify")
    assert code == 0 and "intact" in text
    other = tmp_path / "other.sqlite"
    with Store.open(other):
        pass
    code, text = run(capsys, "--db", str(other), "db", "import-keys", str(backup) + ".audit-keys")
    assert code == 1 and "another database" in text


def test_demo_is_refused_by_a_command_that_works_on_a_clinics_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--demo never quietly reads (or invites creating) a clinic's database."""
    from itbconsole.cli import main

    assert main(["--demo", "db", "verify"]) == 2
    err = capsys.readouterr().err
    assert "leave out --demo" in err and "db init" not in err
