"""A simulated pump that reports its low-reservoir alarm date earlier than its own projection
(``alarm_early=N``, ``alarm_date_early_days``), so the console's use of the pump's date can be
shown end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import serial

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol as p
from drivers.simulator import ManualClock, SimPump, build_scenario
from tests.drivers.simulator.test_sim_link import exchange

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_the_reported_alarm_date_is_n_days_earlier() -> None:
    plain = build_scenario("healthy", clock=ManualClock(START), start=START)
    early = build_scenario(
        "healthy", clock=ManualClock(START), start=START, alarm_date_early_days=12
    )
    day = plain.status().alarm_date
    assert day is not None
    assert early.status().alarm_date == day - timedelta(days=12)
    # Only the report changes: the pump's physics and its own alarm are the same.
    assert early.reservoir_ul == plain.reservoir_ul


def test_the_url_option_sets_it_and_refuses_nonsense() -> None:
    with serial.serial_for_url("simpump://?scenario=healthy", timeout=1) as port:
        plain = exchange(port, p.GetStatus(), 1)
    with serial.serial_for_url("simpump://?scenario=healthy&alarm_early=30", timeout=1) as port:
        early = exchange(port, p.GetStatus(), 1)
        assert port.pump.alarm_date_early_days == 30
    assert isinstance(plain, p.Status) and isinstance(early, p.Status)
    assert plain.alarm_date is not None
    assert early.alarm_date == plain.alarm_date - timedelta(days=30)
    for bad in ("-1", "3651", "soon"):
        with pytest.raises(serial.SerialException):
            serial.serial_for_url(f"simpump://?alarm_early={bad}")


def test_a_saved_pump_keeps_reporting_early(tmp_path: Path) -> None:
    clock = ManualClock(START)
    pump = build_scenario("healthy", clock=clock, start=START, alarm_date_early_days=5)
    pump.save(tmp_path / "pump.json")
    again = SimPump.load(tmp_path / "pump.json", clock=clock)
    assert again.alarm_date_early_days == 5
    assert again.status().alarm_date == pump.status().alarm_date


def test_the_early_days_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="earlier"):
        build_scenario("healthy", clock=ManualClock(START), alarm_date_early_days=-1)
