"""``itbconsole sim``: serve a simulated pump on a new pty or on TCP.

The first line on stdout is what to give the console's ``--port``: the pty's device path
(``/dev/pts/7``) or ``socket://HOST:PORT``. Details go to stderr. The pump runs until
Ctrl-C (or SIGTERM); with ``--state FILE`` it resumes from FILE and saves to it after every
write and on exit, so a refill done today is still there tomorrow.

Exit status: 0 after a clean stop, 1 when the server could not start, 2 for bad input.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import threading
from dataclasses import fields
from fractions import Fraction
from typing import Any

from itbconsole.cli import args as argtypes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


#: Fastest simulated time: a simulated day per real second. Faster, the simulated clock
#: leaves the pump clock's range (to 2136) within hours of running.
MAX_SPEED = 86_400
#: Longest wire fault (``delay=P@SECONDS``, ``disconnect=P@SECONDS``): an hour.
MAX_FAULT_SECONDS = 3_600
#: A fault spec typed on the command line (a handful of KIND=P@S parts).
MAX_FAULTS_CHARS = 500

_FRACTION = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")


def _speed(text: str) -> Fraction:
    """``X`` or ``N/M`` (digits 0-9), more than 0 and at most :data:`MAX_SPEED`."""
    fraction = _FRACTION.fullmatch(text) if len(text) <= argtypes.MAX_NUMBER_CHARS else None
    if fraction is not None:
        numerator, denominator = (int(part) for part in fraction.groups())
        if denominator == 0:
            raise argtypes.refuse(f"{argtypes.shown(text)} divides by 0")
        value = Fraction(numerator, denominator)
    else:
        value = Fraction(argtypes.decimal(text, "x"))
    if value <= 0:
        raise argtypes.refuse(f"{argtypes.shown(text)} must be more than 0")
    argtypes.check_range(text, value, None, MAX_SPEED, why="a simulated day per second")
    return value


def _tcp(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (PORT 0 to 65535, digits 0-9; an empty HOST is 127.0.0.1)."""
    host, sep, port = text.strip().rpartition(":")
    if (
        not sep
        or not re.fullmatch(r"[0-9]{1,5}", port)
        or int(port) > 65535
        or len(host) > argtypes.MAX_HOST_CHARS
        or not host.isprintable()
        or " " in host
    ):
        raise argtypes.refuse(
            f"{argtypes.shown(text)} is not HOST:PORT, for example 127.0.0.1:5555 "
            "(PORT 0 to 65535; 0 picks a free port)"
        )
    return host or "127.0.0.1", int(port)


def _faults(text: str) -> Any:
    """A :class:`~drivers.simulator.faults.FaultSpec`, with finite numbers (digits 0-9) and
    durations of at most :data:`MAX_FAULT_SECONDS`."""
    from drivers.simulator.faults import FaultSpec, FaultSpecError

    if len(text) > MAX_FAULTS_CHARS:
        raise argtypes.refuse(f"{argtypes.shown(text)} is too long for a fault spec")
    if not text.isascii():
        raise argtypes.refuse(
            f"{argtypes.shown(text)}: write the numbers with the digits 0-9, "
            "for example corrupt=0.05,delay=0.1@0.5"
        )
    try:
        spec = FaultSpec.parse(text)
    except FaultSpecError as exc:
        raise argtypes.refuse(str(exc)) from None
    for item in fields(spec):
        value = getattr(spec, item.name)
        if not math.isfinite(value):
            raise argtypes.refuse(f"{argtypes.shown(text)}: {item.name} must be a finite number")
        if item.name.endswith("_s") and value > MAX_FAULT_SECONDS:
            raise argtypes.refuse(
                f"{argtypes.shown(text)}: a fault lasts at most {MAX_FAULT_SECONDS} seconds"
            )
    return spec


def register(subparsers: Any) -> None:
    """Add ``sim`` to the top-level parser."""
    from drivers.simulator.scenarios import SCENARIOS

    scenario_help = "; ".join(
        f"{name}: {desc}".replace("%", "%%") for name, (desc, _, _) in SCENARIOS.items()
    )
    parser = subparsers.add_parser(
        "sim",
        help="serve a simulated pump on a new pty (or TCP) for the console to talk to",
        description=(
            "Serve a simulated ITB pump that speaks the link protocol. Prints the port to "
            "open (a pty device path or socket://HOST:PORT) on the first line of stdout."
        ),
    )
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        type=_tcp,
        help="serve on TCP instead of a pty (PORT 0 picks a free port)",
    )
    parser.add_argument(
        "--baud",
        type=argtypes.baud_rate,
        metavar="N",
        help="emulate wire time at N baud, a standard rate, in both directions (default: none)",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        type=argtypes.PATH,
        help="resume from FILE if it exists; save to it after writes and on exit",
    )
    parser.add_argument(
        "--scenario",
        default="healthy",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"starting state (default healthy). {scenario_help}",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        type=_faults,
        help="wire faults, e.g. 'corrupt=0.05,drop=0.02,delay=0.1@0.5,busy=0.05,"
        "disconnect=0.01@2,noise=0.05' (probability per frame)",
    )
    parser.add_argument(
        "--seed",
        type=argtypes.u32_index,
        metavar="N",
        help=f"seed for the fault dice, to replay a run exactly (0 to {argtypes.U32_MAX})",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=Fraction(1),
        metavar="X",
        help=f"simulated time runs X times faster than real time (default 1, at most {MAX_SPEED})",
    )
    parser.add_argument(
        "--zone",
        metavar="ZONE",
        type=argtypes.zone,
        help="time zone flex minutes count in (default UTC, as the protocol keeps the pump clock)",
    )
    parser.set_defaults(handler=cmd_sim)


def cmd_sim(args: argparse.Namespace) -> int:
    from drivers.simulator.faults import FaultInjector
    from drivers.simulator.pump import SimPump
    from drivers.simulator.scenarios import build_scenario
    from drivers.simulator.server import PtyServer, PumpResponder, TcpServer

    spec, tcp = args.faults, args.tcp  # checked by their argument types
    try:
        if args.state and os.path.exists(args.state):
            pump = SimPump.load(args.state)
            pump.speed = args.speed
            origin = f"state {args.state}"
        else:
            overrides = {"clock_zone": args.zone.key} if args.zone else {}
            pump = build_scenario(args.scenario, speed=args.speed, **overrides)
            origin = f"scenario {args.scenario}"
    except (OSError, ValueError, KeyError) as exc:
        print(f"itbconsole sim: cannot load the pump state: {exc}", file=sys.stderr)
        return EXIT_FAILED

    def save() -> None:
        if args.state:
            pump.save(args.state)

    responder = PumpResponder(pump, FaultInjector(spec, args.seed), on_change=save)
    server: PtyServer | TcpServer
    try:
        if tcp is not None:
            server = TcpServer(responder, tcp[0], tcp[1], baud=args.baud)
            where = server.url
        else:
            server = PtyServer(responder, baud=args.baud)
            where = server.device
    except OSError as exc:
        print(f"itbconsole sim: cannot start the server: {exc}", file=sys.stderr)
        return EXIT_FAILED

    save()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(where, flush=True)
        print(
            f"Simulated pump {pump.model} {pump.serial} ({origin}) on {where}; "
            f"baud {args.baud or 'not emulated'}; speed x{args.speed}; "
            f"faults {str(spec) or 'none'}. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(3600):
            pass
    save()
    return EXIT_OK
