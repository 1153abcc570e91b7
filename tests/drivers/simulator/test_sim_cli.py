"""``itbconsole sim`` serves a pump a console can open, and refuses bad input plainly."""

from __future__ import annotations

import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import serial

import drivers  # noqa: F401
from drivers import protocol as p

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def running_sim(*args: str) -> Iterator[str]:
    """Start ``itbconsole sim ARGS``; yield the port it prints; stop it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "itbconsole", "sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=20), "sim printed no port"
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""


def identify(url: str) -> p.Message:
    with serial.serial_for_url(url, timeout=0.5) as port:
        port.write(p.encode_frame(p.Identify(), 1))
        decoder = p.FrameDecoder()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for item in decoder.feed(port.read(decoder.bytes_hint())):
                assert isinstance(item, p.Frame)
                return item.message()
    raise AssertionError("no reply")


def test_sim_on_tcp_prints_its_url_and_answers(tmp_path: Path) -> None:
    state = tmp_path / "pump.json"
    with running_sim(
        "--tcp", "127.0.0.1:0", "--scenario", "small-pump", "--baud", "9600", "--state", str(state)
    ) as url:
        assert url.startswith("socket://127.0.0.1:")
        identity = identify(url)
    assert isinstance(identity, p.Identity)
    assert identity.reservoir_capacity_ul == 20_000
    assert state.exists()


def test_sim_on_a_pty_prints_the_device_path() -> None:
    with running_sim("--faults", "delay=0.5@0.01", "--seed", "1") as device:
        assert device.startswith("/dev/")
        assert isinstance(identify(device), p.Identity)


def test_sim_refuses_a_bad_fault_spec_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "itbconsole", "sim", "--faults", "melt=0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "melt=0.5" in result.stderr
