"""``itbconsole calc``: results, JSON shape, and refusal of bad input with status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from itbconsole.cli import main

REFILL = [
    "calc", "refill", "--reservoir-ml", "40", "--alarm-ml", "2",
    "--dose-mcg-day", "500", "--concentration-mcg-ml", "2000",
    "--from", "2026-03-01T09:00", "--tz", "Europe/London",
]  # fmt: skip
DISCREPANCY = ["calc", "discrepancy", "--expected-ml", "5"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process; argparse errors raise SystemExit, handlers return."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object, on one line
    data: dict[str, Any] = json.loads(out)
    return data


def test_refill_worked_example_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, *REFILL)
    assert data["daily_volume_ml"] == 0.25
    assert data["days_to_alarm"] == 152
    # 09:00 GMT + 152 x 24 h = 10:00 BST on 31 July.
    assert data["alarm_at"] == "2026-07-31T10:00:00+01:00"
    assert data["refill_by"] == "2026-07-24"
    assert data["inputs"]["from"] == "2026-03-01T09:00:00+00:00"


def test_refill_human_output_shows_inputs_formula_and_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, *REFILL)
    assert code == 0 and err == ""
    assert "Inputs" in out and "Formula" in out and "Result" in out
    assert "40.000 mL" in out and "2000 mcg/mL" in out
    assert "(40.000 mL - 2.000 mL) / 0.250 mL/day = 152.00 days" in out
    assert "2026-07-31T10:00:00+01:00" in out
    assert "2026-07-24" in out


def test_refill_with_boluses_interval_and_margin(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys, *REFILL, "--bolus-mcg", "50", "--boluses-per-day", "2", "--max-interval-days", "90"
    )
    # (500 + 100) / 2000 = 0.3 mL/day; 38 / 0.3 = 126.67 days.
    assert data["max_daily_volume_ml"] == 0.3
    assert data["days_to_alarm"] == 126.67
    assert data["refill_by"] == "2026-05-30"  # 1 March + 90 days
    assert data["refill_by_rule"] == "maximum refill interval"
    data = run_json(capsys, *REFILL, "--margin-days", "14")
    assert data["refill_by"] == "2026-07-17"


def test_refill_stopped_pump(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a if a != "500" else "0" for a in REFILL]
    data = run_json(capsys, *argv)
    assert data["days_to_alarm"] is None and data["alarm_at"] is None
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "withdrawal risk" in out


def test_discrepancy(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["calc", "discrepancy", "--expected-ml", "5", "--capacity-ml", "20"]
    data = run_json(capsys, *base, "--withdrawn-ml", "7.5", "--delivered-expected-ml", "15")
    assert data["discrepancy_ml"] == 2.5
    assert data["accuracy_pct"] == 83.3  # (5 + 15 - 7.5) / 15
    assert data["flag"] is True
    assert data["direction"] == "more than expected"
    assert "withdrawal" in data["meaning"]
    data = run_json(capsys, *base, "--withdrawn-ml", "5.8")
    assert data["flag"] is False and data["accuracy_pct"] is None
    data = run_json(capsys, *base, "--withdrawn-ml", "3.5", "--after-refill")
    assert data["flag"] is True and "pocket fill" in data["meaning"]
    data = run_json(capsys, *base, "--withdrawn-ml", "5.8", "--small-limit-ml", "0.5")
    assert data["flag"] is True


def test_bridge(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys, "calc", "bridge", "--dose-mcg-day", "500", "--old-concentration-mcg-ml", "500",
        "--new-concentration-mcg-ml", "2000", "--dead-volume-ml", "0.25",
    )  # fmt: skip
    assert data["bridge_volume_ml"] == 0.25
    assert data["bridge_hours"] == 6
    assert data["dose_during_bridge_mcg_day"] == 500
    assert data["unbridged_dose_mcg_day"] == 125


def test_dose_change(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys, "calc", "dose-change", "--current-mcg-day", "400", "--new-mcg-day", "300"
    )
    assert data["change_mcg"] == -100 and data["change_pct"] == -25
    data = run_json(capsys, "calc", "dose-change", "--current-mcg-day", "0", "--new-mcg-day", "90")
    assert data["change_pct"] is None and "0 mcg/day" in data["note"]
    code, out, _ = run(
        capsys, "calc", "dose-change", "--current-mcg-day", "400", "--new-mcg-day", "300"
    )
    assert code == 0 and "-100 mcg/24 h" in out and "-25.0 %" in out


def test_trip(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a if a != "40" else "20" for a in REFILL]  # 20 mL: alarm after 72 days, 12 May
    data = run_json(capsys, *argv[:1], "trip", *argv[2:], "--return-date", "2026-05-20")
    assert data["calculation"] == "trip"
    assert data["lasts"] is False
    assert data["shortfall_days"] == 15.58  # 12 May 10:00 BST to 28 May 00:00 BST
    assert data["empties_before_needed"] is True
    data = run_json(capsys, *argv[:1], "trip", *argv[2:], "--return-date", "2026-05-04")
    assert data["lasts"] is True and data["shortfall_days"] == 0
    # Plenty of drug, but it may stay only 30 days in the pump: a return after that is no.
    data = run_json(
        capsys, *argv[:1], "trip", *argv[2:], "--max-interval-days", "30",
        "--return-date", "2026-05-04",
    )  # fmt: skip
    assert data["lasts"] is False and data["governing"] == "maximum refill interval"


@pytest.mark.parametrize(
    ("replace", "field", "words"),
    [
        (("--reservoir-ml", "-4"), "--reservoir-ml", "negative"),
        (("--reservoir-ml", "forty"), "--reservoir-ml", "not a number"),
        (("--reservoir-ml", "1,000"), "--reservoir-ml", "ambiguous"),
        (("--concentration-mcg-ml", "0"), "--concentration-mcg-ml", "more than 0"),
        (("--dose-mcg-day", "5e2"), "--dose-mcg-day", "not a number"),
        (("--alarm-ml", "40"), "--alarm-ml", "not below the reservoir"),
        (("--alarm-ml", "41"), "--alarm-ml", "largest reservoir"),
        (("--from", "next tuesday"), "--from", "not a date and time"),
        (("--from", "2026-02-30T09:00"), "--from", "not a date and time"),
        (("--tz", "Mars/Olympus"), "--tz", "not a known time zone"),
    ],
)
def test_refill_bad_input(
    capsys: pytest.CaptureFixture[str], replace: tuple[str, str], field: str, words: str
) -> None:
    flag, value = replace
    argv = list(REFILL)
    argv[argv.index(flag) + 1] = value
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert field in err and words in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([*REFILL, "--capacity-ml", "20"], "more than the capacity"),
        ([*REFILL, "--bolus-mcg", "50"], "give both or neither"),
        ([*REFILL, "--margin-days", "-1"], "0 or more"),
        (
            [*DISCREPANCY, "--withdrawn-ml", "25", "--capacity-ml", "20"],
            "--withdrawn-ml",
        ),
        (
            [*DISCREPANCY, "--withdrawn-ml", "2", "--capacity-ml", "0"],
            "--capacity-ml",
        ),
        (
            ["calc", "bridge", "--dose-mcg-day", "500", "--old-concentration-mcg-ml", "0",
             "--new-concentration-mcg-ml", "2000", "--dead-volume-ml", "0.25"],
            "more than 0 mcg/mL",
        ),
        (["calc", "dose-change", "--current-mcg-day", "-4", "--new-mcg-day", "3"], "negative"),
        (["calc", "dose-change", "--current-mcg-day", "400"], "--new-mcg-day"),
        (["calc"], "required"),
    ],
)  # fmt: skip
def test_other_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert words in err


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("itbconsole")
    return [str(script)] if script.exists() else [sys.executable, "-m", "itbconsole"]


def test_installed_command_runs_refill_as_a_subprocess() -> None:
    done = subprocess.run([*_cli(), *REFILL, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["days_to_alarm"] == 152
    assert data["alarm_at"] == "2026-07-31T10:00:00+01:00"
    bad = subprocess.run(
        [*_cli(), "calc", "bridge", "--dose-mcg-day", "abc", "--old-concentration-mcg-ml", "500",
         "--new-concentration-mcg-ml", "2000", "--dead-volume-ml", "0.25"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert "--dose-mcg-day" in bad.stderr and "not a number" in bad.stderr
