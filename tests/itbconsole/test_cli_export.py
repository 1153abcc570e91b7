"""``itbconsole export csv``: a patient's history, refills, a lot's recipients and the
worklist written headless and read back with the csv module; bad input refused with exit
2 and nothing written, a missing database with exit 1."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from itbconsole.cli import main
from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store
from tests.itbconsole.test_history import LONDON, LOT, NOW, ClinicDay, add_clinic_day


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, ClinicDay]:
    path = tmp_path / "demo.sqlite"
    store = open_demo_store(path, now=NOW)
    day = add_clinic_day(ClinicService(store, load_drug_library(), DEMO_USER, LONDON))
    store.close()
    return path, day


@pytest.fixture
def clinic(db: tuple[Path, ClinicDay]) -> Iterator[ClinicService]:
    with Store.open(db[0]) as store:
        yield ClinicService(store, load_drug_library(), DEMO_USER)  # the stored zone: London


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def export(db: Path, out: Path, *args: str) -> int:
    return main(["export", "csv", "--db", str(db), *args, "--out", str(out)])


def test_history_export_writes_the_patient_timeline(
    db: tuple[Path, ClinicDay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, day = db
    out = tmp_path / "history.csv"
    assert export(path, out, "--what", "history", "--patient", str(day.patient_id)) == 0
    assert "Wrote" in capsys.readouterr().out
    rows = read(out)
    with Store.open(path) as store:
        clinic = ClinicService(store, load_drug_library(), DEMO_USER)
        timeline = clinic.patient_timeline(day.patient_id)
        entries = list(store.audit_entries())
    assert [r["Summary"] for r in rows] == [t.summary for t in timeline]
    refill = next(r for r in rows if r["Record"] == f"refills {day.refill_id}")
    assert refill["Withdrawn (mL)"] == "3.100" and refill["Lot"] == LOT
    assert entries[-1]["action"] == "csv_exported" and str(out) in entries[-1]["payload"]
    assert entries[-1]["user_name"].startswith("itbconsole export")


def test_refills_since_a_date(db: tuple[Path, ClinicDay], tmp_path: Path) -> None:
    path, _ = db
    since = (NOW - timedelta(days=60)).astimezone(LONDON).date()
    start = datetime(since.year, since.month, since.day, tzinfo=LONDON)  # local midnight
    out = tmp_path / "refills.csv"
    assert export(path, out, "--what", "refills", "--since", since.isoformat()) == 0
    rows = read(out)
    with Store.open(path) as store:
        stored = [
            r
            for r in store.db.query(
                "SELECT t.id, t.at FROM refills t WHERE NOT EXISTS"
                " (SELECT 1 FROM refills c WHERE c.corrects_id = t.id) ORDER BY t.at, t.id"
            )
            if datetime.fromisoformat(r["at"]) >= start
        ]
    assert stored
    assert [r["Time (UTC)"] for r in rows] == [
        datetime.fromisoformat(r["at"]).isoformat() for r in stored
    ]
    assert all(r["Date (clinic's zone)"] >= since.isoformat() for r in rows)


def test_lot_export_lists_its_recipients(db: tuple[Path, ClinicDay], tmp_path: Path) -> None:
    path, day = db
    out = tmp_path / "lot.csv"
    assert export(path, out, "--what", "lot", "--lot", LOT.lower()) == 0
    rows = read(out)
    assert [int(r["Refill record"]) for r in rows] == [day.refill_id]
    assert rows[0]["Hospital number"] == "H100645" and rows[0]["Status"] == "confirmed"
    out2 = tmp_path / "lot-product.csv"
    assert export(path, out2, "--what", "lot", "--lot", LOT, "--product", "Gablofen") == 0
    assert read(out2) == []


def test_worklist_export_is_the_clinic_day_worklist(
    db: tuple[Path, ClinicDay], tmp_path: Path, clinic: ClinicService
) -> None:
    out = tmp_path / "worklist.csv"
    assert export(db[0], out, "--what", "worklist") == 0
    rows = read(out)
    expected = clinic.clinic_worklist(now=datetime.now(UTC)).items
    assert expected
    assert [(r["Patient"], r["Category"]) for r in rows] == [
        (i.patient, i.category.label) for i in expected
    ]
    assert rows[0]["Date"] == (expected[0].day.isoformat() if expected[0].day else "")
    assert rows[0]["Reason"] == expected[0].reason


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--what", "history"], "--what history needs --patient"),
        (["--what", "lot"], "--what lot needs --lot"),
        (["--what", "history", "--patient", "1", "--lot", "A1"], "--lot cannot be used"),
        (["--what", "worklist", "--since", "2026-01-01"], "--since cannot be used"),
        (["--what", "everything"], "invalid choice"),
        (["--what", "history", "--patient", "0"], "must be between 1 and"),
        (["--what", "history", "--patient", "x"], "not a whole number"),
        (["--what", "history", "--patient", "99999"], "no patient with record number 99999"),
        (["--what", "refills", "--since", "01/10/2026"], "not a date"),
        (["--what", "lot", "--lot", ""], "enter a lot number"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    db: tuple[Path, ClinicDay],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "out.csv"
    try:
        code = export(db[0], out, *args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_output_file_is_checked_before_anything_is_written(
    db: tuple[Path, ClinicDay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = db
    before = path.read_bytes()
    for target, words in (
        (path, "the database's own file"),
        (Path(str(path) + "-wal"), "the database's own file"),
        (tmp_path, "is a folder"),
        (tmp_path / "no-such-folder" / "x.csv", "does not exist"),
    ):
        assert export(path, target, "--what", "refills") == 2, target
        assert words in capsys.readouterr().err
    assert path.read_bytes() == before
    existing = tmp_path / "there.csv"
    existing.write_text("keep me", encoding="utf-8")
    assert export(path, existing, "--what", "refills") == 2
    assert "--force" in capsys.readouterr().err and existing.read_text() == "keep me"
    assert (
        main(
            [
                "export",
                "csv",
                "--db",
                str(path),
                "--what",
                "refills",
                "--out",
                str(existing),
                "--force",
            ]
        )
        == 0
    )
    assert read(existing)


def test_without_a_database_it_says_so_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert export(missing, tmp_path / "x.csv", "--what", "refills") == 1
    assert "There is no database" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "x.csv").exists()
