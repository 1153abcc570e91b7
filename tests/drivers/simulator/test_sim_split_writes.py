"""Every write through a stray flag byte: the reported outcome is the pump's truth.

A flag byte inside a request splits it into two damaged fragments; the pump answers each
with NAK FRAME_ERROR, the second a moment later. A console that takes the spare NAK for the
answer to its next, intact transmission (which the pump executed) would report "nothing was
changed" after a bolus was given. The truth here is read from the simulated pump itself,
never from what the console was told.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol as p
from drivers import protocol_simpump
from drivers.pump_client import PumpClient, WriteOutcome, WriteResult
from drivers.simulator import ManualClock, SimPump, build_scenario
from itbconsole.model import simple_continuous


@pytest.fixture
def named_pump() -> Iterator[tuple[str, SimPump]]:
    name = f"split{os.getpid()}x{time.monotonic_ns()}"
    pump = build_scenario("healthy", clock=ManualClock())
    protocol_simpump.register_pump(name, pump)
    yield name, pump
    protocol_simpump.forget_pump(name)


def _program(client: PumpClient) -> WriteResult:
    current, _ = client.read_program()
    return client.write_program(simple_continuous(520), current=current)


def _refill(client: PumpClient) -> WriteResult:
    return client.update_reservoir(20_000, 2_000, "Lioresal Intrathecal")


def _bolus(client: PumpClient) -> WriteResult:
    return client.single_bolus(Decimal("50"), 60)


def _clock(client: PumpClient) -> WriteResult:
    return client.set_clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


def _truth(pump: SimPump) -> tuple[Any, ...]:
    """What the pump is really doing (the simulated clock does not move in this test)."""
    return (
        pump.program,
        pump.reservoir_ul,
        len(pump.boluses()),
        pump.pump_clock().replace(microsecond=0),
    )


WRITES: dict[str, tuple[int, Callable[[PumpClient], WriteResult]]] = {
    "program commit": (p.CommitProgram.TYPE, _program),
    "refill": (p.UpdateReservoir.TYPE, _refill),
    "single bolus": (p.SingleBolus.TYPE, _bolus),
    "clock": (p.SetClock.TYPE, _clock),
}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("splits", [1, 2, 3, 4, 8])
def test_a_write_split_by_a_flag_byte_reports_what_the_pump_did(
    named_pump: tuple[str, SimPump], write: str, splits: int
) -> None:
    name, pump = named_pump
    request_type, do = WRITES[write]
    responder = protocol_simpump.get_responder(name)
    with PumpClient.open(f"simpump://{name}") as client:
        client.identify()
        before = _truth(pump)
        for _ in range(splits):
            responder.faults.force("split_request", request_type=request_type)
        result = do(client)
    changed = _truth(pump) != before
    assert responder.faults.counts["split_request"] >= 1
    if splits < 4:  # a later transmission gets through: the write is done, and said so
        assert changed and result.outcome is WriteOutcome.SUCCEEDED, result
    else:  # none gets through; the read-back says so, and nothing is guessed
        assert not changed and result.outcome is WriteOutcome.FAILED, result
    assert (result.outcome is WriteOutcome.SUCCEEDED) == changed


def test_a_split_clock_write_never_moves_the_clock_twice(named_pump: tuple[str, SimPump]) -> None:
    name, pump = named_pump
    responder = protocol_simpump.get_responder(name)
    with PumpClient.open(f"simpump://{name}") as client:
        responder.faults.force("split_request", request_type=p.SetClock.TYPE)
        target = pump.pump_clock() + timedelta(hours=1)
        assert client.set_clock(target).outcome is WriteOutcome.SUCCEEDED
    assert [e.kind for e in pump.events()].count("clock_set") == 1
