"""``itbconsole worklist`` and ``itbconsole settings``: the app's clinic-day worklist and the
forecast's dates headless, bad input refused with exit 2 and nothing changed."""

from __future__ import annotations

import json
import re
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
    assert "Clinic day worklist, Mon 30 Nov 2026: 8 line(s) for 6 patient(s)." in out
    assert "Refills and alarms due within 14 days" in out
    assert "WALSH, Siobhan" in out and "FISCHER" not in out


def _app_lines(db: Path, days: int | None = None) -> list[tuple[str, str, str]]:
    """View > Worklist's lines (category, patient, reason), as the app makes them."""
    with Store.open(db) as store:
        clinic = ClinicService(store, load_drug_library(), DEMO_USER)
        listed = clinic.clinic_worklist(days, now=NOW, drift_limit=None)
    return [(i.category.label, i.patient, i.reason) for i in listed.items]


def test_worklist_text_is_the_apps_list_drift_included(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Brennan's delivery falls 97 -> 88 % over four refills: a withdrawal risk the app's
    worklist and CSV list, whatever his refill date; the command lists every line the app
    does, in the same words, with the app's status labels and one date form."""
    assert main(["worklist", "--db", str(db), "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    app = _app_lines(db)
    assert any(c == "Delivery drift" and p == "BRENNAN, Thomas" for c, p, _r in app)
    for category, patient, reason in app:
        assert re.search(rf"^{re.escape(category)} +\S.*{re.escape(patient)}", out, re.M)
        assert reason in out
    brennan = re.search(r"^Delivery drift +02 Feb 2026 +BRENNAN, Thomas .* On track$", out, re.M)
    assert brennan, out
    assert "withdrawal risk" in out and "Refill by 21 Feb 2027" not in out
    assert "Due soon" in out and "DUE_SOON" not in out and " OK " not in out
    assert not re.search(r"\d{4}-\d{2}-\d{2}", out), "dates on screen read 05 Jan 2026"


def test_worklist_json_lines_are_the_apps(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worklist", "--db", str(db), "--json", "--now", NOW.isoformat()]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = [
        (line["category_label"], row["patient"], line["reason"])
        for row in rows
        for line in row["lines"]
    ]
    assert sorted(got) == sorted(_app_lines(db))
    brennan = next(r for r in rows if r["patient"] == "BRENNAN, Thomas")
    assert brennan["status_label"] == "On track"
    drift = next(line for line in brennan["lines"] if line["category"] == "delivery_drift")
    assert drift["date"] == "2026-02-02" and drift["date_is"] == "drifting since"
    assert "withdrawal" in drift["reason"]


def test_worklist_days_keeps_a_drifting_pump(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A narrow window drops refills not yet due, never the drift (a risk on any day)."""
    assert (
        main(["worklist", "--db", str(db), "--days", "3", "--json", "--now", NOW.isoformat()]) == 0
    )
    rows = {r["patient"]: r for r in json.loads(capsys.readouterr().out)}
    assert "ADEYEMI, Tunde" not in rows  # refill by 10 Dec: outside 3 days
    assert [line["category"] for line in rows["BRENNAN, Thomas"]["lines"]] == ["delivery_drift"]


def test_demo_worklist_lists_a_demo_clinic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ITBCONSOLE_DB", str(tmp_path / "none.sqlite"))
    assert main(["--demo", "worklist", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TRAINING: a training database")
    assert "Delivery drift" in out and "BRENNAN, Thomas" in out and "db init" not in out
    assert list(tmp_path.iterdir()) == []  # in memory: no file made


def test_demo_worklist_with_a_database_is_refused(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--demo", "--db", str(db), "worklist"]) == 2
    assert "leave out --db" in capsys.readouterr().err


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
