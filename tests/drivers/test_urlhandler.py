"""pyserial finds the simulated pump's port the way it finds its own: ``simpump://`` is the
module ``protocol_simpump`` of a package listed in ``serial.protocol_handler_packages``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial

import drivers
from drivers import protocol_simpump
from drivers.simulator import build_scenario
from drivers.urlhandler import protocol_simpump as handler

NAME = "urlhandler-test"


@pytest.fixture
def named_pump() -> Iterator[str]:
    protocol_simpump.register_pump(NAME, build_scenario("healthy"))
    yield NAME
    protocol_simpump.forget_pump(NAME)


def test_importing_drivers_lists_the_handler_package_once() -> None:
    assert serial.protocol_handler_packages.count(drivers.URL_HANDLER_PACKAGE) == 1
    assert drivers.URL_HANDLER_PACKAGE == handler.__name__.rpartition(".")[0]


def test_pyserial_opens_simpump_from_the_handler_package_alone(
    monkeypatch: pytest.MonkeyPatch, named_pump: str
) -> None:
    # Only pyserial's own handlers and ours: nothing else may be needed to find simpump://.
    monkeypatch.setattr(
        serial, "protocol_handler_packages", ["serial.urlhandler", drivers.URL_HANDLER_PACKAGE]
    )
    port = serial.serial_for_url(f"simpump://{named_pump}", timeout=0)
    try:
        assert isinstance(port, handler.Serial)
        assert port.pump is handler.get_pump(named_pump)
    finally:
        port.close()


def test_the_older_module_name_reaches_the_same_pumps(named_pump: str) -> None:
    """``from drivers import protocol_simpump`` (tests, screenshots, benchmarks) and the
    handler share one registry: a pump registered through either is found through both."""
    assert protocol_simpump.get_pump(named_pump) is handler.get_pump(named_pump)
    assert protocol_simpump.Serial is handler.Serial
