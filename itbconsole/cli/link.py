"""``itbconsole interrogate`` and ``itbconsole events``: read a pump from a script.

Both open the port given by ``--port`` (any pyserial URL: ``/dev/ttyUSB0``, ``COM3``,
``socket://host:port``, ``simpump://``), talk to the pump through :mod:`drivers.pump_client`
and print either a readable summary or, with ``--json``, exactly one JSON object.

On any failure they print one plain line on stderr saying what to do, print nothing on
stdout (never a partial or guessed value) and exit with status 1. A bad argument (an empty
port, a baud rate that is not a standard one, an event index outside 0 to 2**32 - 1) exits
with status 2 before the port is opened.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from itbconsole.cli import EXIT_FAILED, EXIT_OK
from itbconsole.cli import args as argtypes
from itbconsole.units import fmt_mcg, fmt_ml, ul_to_ml


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--port",
        required=True,
        metavar="URL",
        type=argtypes.PORT,
        help="serial port or pyserial URL",
    )
    common.add_argument(
        "--baud",
        type=argtypes.baud_rate,
        default=115_200,
        help="baud rate, a standard one (default 115200)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON object")

    interrogate = subparsers.add_parser(
        "interrogate", parents=[common], help="read identity, status, program and alarms"
    )
    interrogate.set_defaults(handler=run_interrogate)

    events = subparsers.add_parser("events", parents=[common], help="read the pump's event log")
    events.add_argument(
        "--since",
        type=argtypes.u32_index,
        default=0,
        metavar="N",
        help=f"first event index (0 to {argtypes.U32_MAX})",
    )
    events.set_defaults(handler=run_events)


def _num(value: Decimal) -> int | float:
    """A Decimal as a JSON number (integral values as ints)."""
    return int(value) if value == value.to_integral_value() else float(value)


def interrogation_json(result: Any) -> dict[str, Any]:
    """The documented JSON object of an interrogation (see docs/protocol.md, CLI)."""
    ident, status, program = result.identity, result.status, result.program
    return {
        "serial": ident.serial,
        "model": ident.model,
        "firmware": ident.firmware,
        "protocol_version": ident.protocol_version,
        "reservoir_ml": _num(ul_to_ml(status.reservoir_ul)),
        "reservoir_capacity_ml": _num(ul_to_ml(ident.reservoir_capacity_ul)),
        "low_reservoir_alarm_ml": _num(ul_to_ml(status.alarm_volume_ul)),
        "alarm_date": status.alarm_date.isoformat() if status.alarm_date else None,
        "battery": {
            "voltage_v": status.battery_mv / 1000,
            "eri": status.eri,
            "eos": status.eos,
            "eri_date": status.eri_date.isoformat() if status.eri_date else None,
            "eos_date": status.eos_date.isoformat() if status.eos_date else None,
        },
        "drug": status.drug_name,
        "concentration_mcg_ml": status.concentration_mcg_ml,
        "mode": program.mode.value,
        "daily_dose_mcg": _num(program.daily_dose_mcg),
        "program": program.to_dict(),
        "program_started": result.program_started.isoformat(),
        "alarms": list(status.alarms),
        "pump_clock": status.pump_clock.isoformat(),
        "read_at": status.read_at.isoformat(),
        "clock_offset_s": round(status.clock_offset_s, 3),
    }


def _fail(exc: Exception) -> int:
    sys.stderr.write(f"itbconsole: {exc}\n")
    return EXIT_FAILED


def run_interrogate(args: argparse.Namespace) -> int:
    from drivers.link import LinkError
    from drivers.pump_client import PumpClient

    try:
        with PumpClient.open(args.port, baud=args.baud) as client:
            result = client.interrogate()
    except LinkError as exc:
        return _fail(exc)
    data = interrogation_json(result)
    if args.json:
        print(json.dumps(data))
        return EXIT_OK
    s = result.status
    lines = [
        f"Pump        {data['model']}  serial {data['serial']}  firmware {data['firmware']}",
        f"Reservoir   {fmt_ml(s.reservoir_ul)} of {fmt_ml(result.identity.reservoir_capacity_ul)}"
        f"  (low-reservoir alarm at {fmt_ml(s.alarm_volume_ul)},"
        f" date {data['alarm_date'] or 'none'})",
        f"Drug        {s.drug_name}  {s.concentration_mcg_ml} mcg/mL",
        f"Program     {result.program.mode.value}  {fmt_mcg(result.program.daily_dose_mcg, 3)}/day",
        f"Battery     {s.battery_mv / 1000:.3f} V  ERI {'yes' if s.eri else 'no'}"
        f"  End of Service {'yes' if s.eos else 'no'}",
        f"Alarms      {', '.join(s.alarms) or 'none'}",
        f"Pump clock  {data['pump_clock']}  (offset {s.clock_offset_s:+.1f} s from this computer)",
    ]
    print("\n".join(lines))
    return EXIT_OK


def run_events(args: argparse.Namespace) -> int:
    from drivers.link import LinkError
    from drivers.pump_client import PumpClient

    try:
        with PumpClient.open(args.port, baud=args.baud) as client:
            client.identify()
            batch = client.read_events(args.since)
    except LinkError as exc:
        return _fail(exc)
    if args.json:
        print(
            json.dumps(
                {
                    "serial": client.identity.serial if client.identity else None,
                    "since": args.since,
                    "next_index": batch.next_index,
                    "total": batch.total,
                    "gap": batch.gap,
                    "events": [
                        {
                            "index": e.index,
                            "at": e.at.isoformat(),
                            "kind": e.kind,
                            "detail": e.detail,
                        }
                        for e in batch.events
                    ],
                }
            )
        )
        return EXIT_OK
    for e in batch.events:
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        print(f"{e.index:>7}  {e.at.isoformat()}  {e.kind:<22} {detail}".rstrip())
    note = "  (older events were overwritten)" if batch.gap else ""
    print(f"{len(batch.events)} events; next index {batch.next_index} of {batch.total}{note}")
    return EXIT_OK
