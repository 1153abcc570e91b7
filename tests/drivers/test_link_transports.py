"""The same driver over every real path: socket:// (fake pump), and the simulated pump over
a pty, TCP and the in-process simpump:// handler, including its wire faults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import drivers  # noqa: F401  (registers simpump://)
from drivers import protocol as p
from drivers.link import LinkError, RetryPolicy
from drivers.protocol_simpump import forget_pump, get_pump, register_pump
from drivers.pump_client import PumpClient, WriteOutcome
from drivers.simulator import build_scenario
from drivers.simulator.server import PtyServer, PumpResponder, TcpServer
from itbconsole.model import FlexStep, Mode, Program

NEW = Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal("20")), FlexStep(600, Decimal("22.5"))))


def test_socket_url_against_the_fake_pump(tcp_pump: tuple[str, Any]) -> None:
    url, pump = tcp_pump
    with PumpClient.open(url) as client:
        result = client.interrogate(recent_events=100)
        assert result.identity.serial == "NGP123456H"
        assert [e.index for e in result.events] == list(range(50, 150))
        assert client.write_program(NEW).outcome is WriteOutcome.SUCCEEDED
    assert pump.program == NEW and pump.commits == 1


@pytest.fixture
def sim() -> Iterator[Any]:
    pump = build_scenario("healthy")
    for _ in range(120):
        pump.alarm_test()
    yield pump


def check_session(client: PumpClient, pump: Any) -> None:
    result = client.interrogate(recent_events=100)
    assert result.identity.serial == pump.serial
    assert result.program == pump.program
    assert result.status.reservoir_ul == pump.reservoir_ul
    assert len(result.events) == 100 and result.events[-1].index == pump.event_count - 1
    write = client.write_program(NEW)
    assert write.outcome is WriteOutcome.SUCCEEDED and pump.program == NEW


def test_simpump_url(sim: Any) -> None:
    register_pump("transport-test", sim)
    try:
        with PumpClient.open("simpump://transport-test") as client:
            check_session(client, get_pump("transport-test"))
    finally:
        forget_pump("transport-test")


def test_simpump_at_emulated_9600_baud() -> None:
    with PumpClient.open("simpump://?baud=9600", baud=9600) as client:
        assert client.interrogate().identity.protocol_version == p.PROTOCOL_VERSION


@pytest.mark.skipif(os.name != "posix", reason="pty is POSIX")
def test_pty_to_the_simulated_pump(sim: Any) -> None:
    with PtyServer(PumpResponder(sim)) as server, PumpClient.open(server.device) as client:
        check_session(client, sim)


def test_tcp_to_the_simulated_pump(sim: Any) -> None:
    with TcpServer(PumpResponder(sim)) as server, PumpClient.open(server.url) as client:
        check_session(client, sim)


@pytest.mark.parametrize("seed", range(3))
def test_simulator_wire_faults_never_yield_a_wrong_value(seed: int) -> None:
    """Corruption, drops and busy replies from the simulator's own fault injector: every
    answer equals the pump's truth, and every program write is reported truthfully."""
    url = f"simpump://faulty{seed}?faults=corrupt=0.15,drop=0.1,busy=0.1,noise=0.1&seed={seed}"
    with PumpClient.open(
        url, policy=RetryPolicy(attempts=6, backoff_s=0.0, backoff_max_s=0.0)
    ) as client:
        pump = get_pump(f"faulty{seed}")
        old = pump.program
        for _ in range(4):
            try:
                status = client.read_status()
                assert status.reservoir_ul == pump.reservoir_ul
                program, _ = client.read_program()
                assert program == pump.program
            except LinkError:
                pass
        result = client.write_program(NEW, current=old)
        if result.outcome is WriteOutcome.SUCCEEDED:
            assert pump.program == NEW
        elif result.outcome is WriteOutcome.FAILED:
            assert pump.program == old
    forget_pump(f"faulty{seed}")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("/dev/ttyUSB0", True),
        ("COM3", True),
        (" socket://127.0.0.1:4001 ", True),
        ("rfc2217://127.0.0.1:4001", True),
        ("", False),
        ("http://example", False),
        ("socket://nohostport", False),
    ],
)
def test_a_port_typed_by_hand_is_checked_before_it_is_tried(text: str, ok: bool) -> None:
    from drivers.ports import PortUrlError, check_port_url

    if ok:
        assert check_port_url(text) == text.strip()
    else:
        with pytest.raises(PortUrlError):
            check_port_url(text)
