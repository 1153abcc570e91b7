"""``itbconsole interrogate`` / ``events``: documented JSON, plain failures, no partial output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from itbconsole.cli import main

KEYS = {
    "serial", "model", "firmware", "reservoir_ml", "reservoir_capacity_ml",
    "low_reservoir_alarm_ml", "alarm_date", "battery", "drug", "concentration_mcg_ml", "mode",
    "daily_dose_mcg", "alarms", "pump_clock", "clock_offset_s",
}  # fmt: skip


def test_interrogate_json_has_the_documented_keys(
    tcp_pump: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = tcp_pump
    assert main(["interrogate", "--port", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert KEYS <= data.keys()
    assert data["serial"] == "NGP123456H" and data["reservoir_ml"] == 18.25
    assert data["reservoir_capacity_ml"] == 40 and data["low_reservoir_alarm_ml"] == 2
    assert data["battery"]["voltage_v"] == 2.95 and data["battery"]["eri"] is False
    assert data["mode"] == "simple_continuous" and data["daily_dose_mcg"] == 500
    assert data["alarms"] == ["low_reservoir"] and data["concentration_mcg_ml"] == 2000


def test_interrogate_text_shows_units(
    tcp_pump: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = tcp_pump
    assert main(["interrogate", "--port", url]) == 0
    out = capsys.readouterr().out
    assert "18.25 mL of 40.00 mL" in out and "2000 mcg/mL" in out and "500.000 mcg/day" in out


def test_events_since_index_json(
    tcp_pump: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = tcp_pump
    assert main(["events", "--port", url, "--since", "140", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["index"] for e in data["events"]] == list(range(140, 150))
    assert data["next_index"] == data["total"] == 150


@pytest.mark.parametrize("command", ["interrogate", "events"])
def test_failure_is_one_plain_line_on_stderr_and_nothing_on_stdout(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--port", "/dev/no-such-programmer", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not found" in captured.err and "plugged in" in captured.err
    assert captured.err.count("\n") == 1
