"""``itbconsole worklist`` and ``itbconsole settings``: the forecast's dates headless, bad
input refused with exit 2 and nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.sqlite"
    open_demo_store(path, now=NOW).close()
    return path


def test_worklist_json_is_the_same_forecast_the_app_shows(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worklist", "--db", str(db), "--json", "--now", NOW.isoformat()]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 12
    with Store.open(db) as store:
        clinic = ClinicService(store, load_drug_library(), DEMO_USER)  # stored zone: London
        app = {r.patient.id: r for r in clinic.patient_rows(now=NOW)}
    for row in rows:
        shown = app[row["patient_id"]]
        assert row["refill_by"] == (shown.refill_by.isoformat() if shown.refill_by else None)
        assert row["status"] == (shown.status.status.value if shown.status else None)
        assert row["alarm_at"] == (shown.alarm_at.isoformat() if shown.alarm_at else None)
    ranks = ["not_delivering", "overdue", "due_soon", "ok", "no_data"]
    assert [ranks.index(r["status"]) for r in rows] == sorted(
        ranks.index(r["status"]) for r in rows
    )
    assert rows[0]["patient"] == "WALSH, Siobhan" and rows[0]["refill_by_bound"] == "interval"


def test_worklist_days_keeps_the_patients_due(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(db), "worklist", "--days", "14", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "due within 14 days: 4 patient(s)" in out
    assert "WALSH, Siobhan" in out and "FISCHER" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "-1"], "between 0 and 3660"),
        (["--days", "soon"], "not a whole number"),
        (["--now", "yesterday"], "not a date and time"),
        (["--now", "2026-11-30T09:00"], "time zone"),
    ],
)
def test_worklist_bad_input_exits_2(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["worklist", "--db", str(db), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_worklist_without_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worklist", "--db", str(tmp_path / "none.sqlite")]) == 1
    assert "There is no database" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()


def test_settings_change_moves_every_date(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from itbconsole.services.accounts import AccountService
    from itbconsole.store import Store

    with Store.open(db) as store:  # the administrator who changes the settings
        AccountService(store).create_first_administrator("Ada", "lantern-orchard-42")
    monkeypatch.setattr("sys.stdin", io.StringIO("lantern-orchard-42\n"))
    main(["worklist", "--db", str(db), "--json", "--now", NOW.isoformat()])
    before = {r["patient"]: r for r in json.loads(capsys.readouterr().out)}
    assert (
        main(
            [
                "settings",
                "--db",
                str(db),
                "set",
                "refill_margin_days=10",
                "--admin",
                "Ada",
                "--note",
                "clinic policy",
            ]
        )
        == 0
    )
    capsys.readouterr()
    main(["worklist", "--db", str(db), "--json", "--now", NOW.isoformat()])
    after = {r["patient"]: r for r in json.loads(capsys.readouterr().out)}
    murphy_before, murphy_after = before["MURPHY, Sean"], after["MURPHY, Sean"]
    assert murphy_before["refill_by_bound"] == murphy_after["refill_by_bound"] == "alarm"
    assert murphy_after["refill_by"] < murphy_before["refill_by"]
    assert "10-day margin" in murphy_after["refill_by_reason"]
    main(["settings", "--db", str(db), "show", "--json"])
    assert json.loads(capsys.readouterr().out)["refill_margin_days"] == 10


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("refill_margin_days=-3", "between 0 and 60"),
        ("margin=5", "no setting 'margin'"),
        ("zone=Mars/Olympus", "not a time zone"),
        ("due_soon_days=two", "whole number"),
    ],
)
def test_bad_settings_change_nothing(
    db: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    with Store.open(db) as store:
        versions = len(store.settings_history())
    code = main(["settings", "--db", str(db), "set", value, "--admin", "Ada", "--note", "testing"])
    assert code == 2 and message in capsys.readouterr().err
    with Store.open(db) as store:
        assert len(store.settings_history()) == versions
