"""The ``simpump://`` handler under its older name: it lives in
:mod:`drivers.urlhandler.protocol_simpump`, where pyserial looks for URL handlers.

Kept so ``from drivers import protocol_simpump`` (tests, screenshots, benchmarks) still
reaches the same registry of simulated pumps: every name here is that module's own object.
"""

from __future__ import annotations

from drivers.urlhandler.protocol_simpump import (
    LOGGER_LEVELS,
    Serial,
    SimInstance,
    forget_pump,
    get_instance,
    get_pump,
    get_responder,
    parse_url,
    register_pump,
)

__all__ = [
    "LOGGER_LEVELS",
    "Serial",
    "SimInstance",
    "forget_pump",
    "get_instance",
    "get_pump",
    "get_responder",
    "parse_url",
    "register_pump",
]
