"""``itbconsole db``: init, info, verify and backup, with their exit statuses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.store import Store
from itbconsole.store.schema import MIGRATIONS
from tests.itbconsole.store.storefixtures import NURSE, T0, make_patient, make_pump, make_refill


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    with Store.open(path) as store:
        p = store.add_patient(make_patient(), NURSE)
        store.register_pump(make_pump(), p.id or 0, NURSE, at=T0)
        store.add_refill(make_refill(), NURSE)
    return path


def test_init_creates_and_info_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new" / "clinic.sqlite"
    assert main(["--db", str(path), "db", "init"]) == 0
    assert "was created" in capsys.readouterr().out
    assert main(["--db", str(path), "db", "init"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--db", str(path), "db", "info"]) == 0
    out = capsys.readouterr().out
    assert f"Schema version: {MIGRATIONS[-1].id}" in out and "audit_log" in out


def test_env_variable_chooses_the_database(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ITBCONSOLE_DB", str(db))
    assert main(["db", "info"]) == 0
    assert str(db) in capsys.readouterr().out


def test_missing_database_is_not_created_by_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.sqlite"
    assert main(["--db", str(path), "db", "verify"]) == 1
    assert "db init" in capsys.readouterr().err
    assert not path.exists()


def test_verify_exit_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(db), "db", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER refills_no_update")
    conn.execute("UPDATE refills SET added_ul = 1")
    conn.commit()
    conn.close()
    assert main(["--db", str(db), "db", "verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "refills 1 was edited" in out


def test_backup_refuses_to_overwrite_without_force(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy.sqlite"
    assert main(["--db", str(db), "db", "backup", str(copy)]) == 0
    assert "integrity check: ok" in capsys.readouterr().out
    assert main(["--db", str(db), "db", "backup", str(copy)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["--db", str(db), "db", "backup", "--force", str(copy)]) == 0
    assert main(["--db", str(db), "db", "backup", str(db)]) == 2
    with Store.open(copy) as restored:
        assert restored.counts()["refills"] == 1 and restored.verify().ok


def test_db_verify_in_a_subprocess(db: Path) -> None:
    env = {**os.environ, "ITBCONSOLE_DB": str(db)}
    ok = subprocess.run(
        [sys.executable, "-m", "itbconsole", "db", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.commit()
    conn.close()
    bad = subprocess.run(
        [sys.executable, "-m", "itbconsole", "db", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "deleted" in bad.stdout
