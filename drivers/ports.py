"""Finding the programmer: list serial ports and probe one for a pump.

Why: clinicians should pick "USB programmer (0403:6001)" from a list, not guess
``/dev/ttyUSB3``. Discovery uses pyserial's ``list_ports``; :func:`probe` opens a port,
sends IDENTIFY with a short deadline and says what answered, without raising.
"""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

from drivers.link import Link, LinkError, RetryPolicy
from drivers.protocol import DEFAULT_BAUD
from drivers.pump_client import PumpClient, PumpIdentity


@dataclass(frozen=True)
class PortInfo:
    device: str
    description: str
    usb_id: str | None  # "VID:PID" in hex, e.g. "0403:6001"
    serial_number: str | None
    manufacturer: str | None

    @property
    def label(self) -> str:
        usb = f" ({self.usb_id})" if self.usb_id else ""
        return f"{self.device}: {self.description}{usb}"


def list_serial_ports() -> list[PortInfo]:
    """Serial ports on this computer, USB ones first, then by device name."""
    found = []
    for port in list_ports.comports():
        usb = (
            f"{port.vid:04X}:{port.pid:04X}"
            if port.vid is not None and port.pid is not None
            else None
        )
        description = (
            port.description if port.description and port.description != "n/a" else "serial port"
        )
        found.append(PortInfo(port.device, description, usb, port.serial_number, port.manufacturer))
    return sorted(found, key=lambda p: (p.usb_id is None, p.device))


@dataclass(frozen=True)
class ProbeResult:
    url: str
    identity: PumpIdentity | None
    error: str | None  # plain message when no pump answered

    @property
    def found(self) -> bool:
        return self.identity is not None


def probe(url: str, *, baud: int = DEFAULT_BAUD, deadline_s: float = 1.5) -> ProbeResult:
    """Open ``url``, send IDENTIFY (two attempts at most) and close. Never raises for link
    problems: a port with no pump behind it is a normal answer here."""
    try:
        link = Link.open(url, baud=baud, policy=RetryPolicy(attempts=2, backoff_s=0.02))
    except LinkError as exc:
        return ProbeResult(url, None, str(exc))
    with PumpClient(link) as client:
        try:
            return ProbeResult(url, client.identify(deadline_s=deadline_s), None)
        except LinkError as exc:
            return ProbeResult(url, None, str(exc))
