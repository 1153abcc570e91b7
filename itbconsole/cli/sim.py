"""``itbconsole sim``: serve a simulated pump on a new pty or on TCP.

The first line on stdout is what to give the console's ``--port``: the pty's device path
(``/dev/pts/7``) or ``socket://HOST:PORT``. Details go to stderr. The pump runs until
Ctrl-C (or SIGTERM); with ``--state FILE`` it resumes from FILE and saves to it after every
write and on exit, so a refill done today is still there tomorrow.

Exit status: 0 after a clean stop, 1 when the server could not start, 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from fractions import Fraction
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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
        help="serve on TCP instead of a pty (PORT 0 picks a free port)",
    )
    parser.add_argument(
        "--baud",
        type=int,
        metavar="N",
        help="emulate wire time at N baud in both directions (default: none)",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
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
        help="wire faults, e.g. 'corrupt=0.05,drop=0.02,delay=0.1@0.5,busy=0.05,"
        "disconnect=0.01@2,noise=0.05' (probability per frame)",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed for the fault dice, to replay a run exactly"
    )
    parser.add_argument(
        "--speed",
        type=Fraction,
        default=Fraction(1),
        metavar="X",
        help="simulated time runs X times faster than real time (default 1)",
    )
    parser.add_argument(
        "--zone",
        metavar="ZONE",
        help="time zone flex minutes count in (default UTC, as the protocol keeps the pump clock)",
    )
    parser.set_defaults(handler=cmd_sim)


def _parse_tcp(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--tcp '{text}': expected HOST:PORT, for example 127.0.0.1:5555")
    return host or "127.0.0.1", int(port)


def cmd_sim(args: argparse.Namespace) -> int:
    from drivers.simulator.faults import FaultInjector, FaultSpec, FaultSpecError
    from drivers.simulator.pump import SimPump
    from drivers.simulator.scenarios import build_scenario
    from drivers.simulator.server import PtyServer, PumpResponder, TcpServer

    try:
        spec = FaultSpec.parse(args.faults)
        tcp = _parse_tcp(args.tcp) if args.tcp else None
        if args.speed <= 0:
            raise ValueError("--speed must be more than 0")
        if args.baud is not None and args.baud <= 0:
            raise ValueError("--baud must be more than 0")
    except (ValueError, FaultSpecError) as exc:
        print(f"itbconsole sim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        if args.state and os.path.exists(args.state):
            pump = SimPump.load(args.state)
            pump.speed = args.speed
            origin = f"state {args.state}"
        else:
            overrides = {"clock_zone": args.zone} if args.zone else {}
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
