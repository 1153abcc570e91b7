"""Finding the programmer: list serial ports and probe one for a pump.

Why: clinicians should pick "USB programmer (0403:6001)" from a list, not guess
``/dev/ttyUSB3``. Discovery uses pyserial's ``list_ports``; :func:`probe` opens a port,
sends IDENTIFY with a short deadline and says what answered, without raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from serial.tools import list_ports

if TYPE_CHECKING:
    from drivers.pump_client import PumpIdentity

# Listing ports needs only pyserial's list: the link, the protocol and the pump client are
# imported by the probe, so the console's start does not load them.


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


class PortUrlError(ValueError):
    """A port the user typed that pyserial cannot use. The message says why."""


#: URL schemes a programmer can sit behind (pyserial's handlers and ours).
PORT_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep", "simpump")


def check_port_url(text: str) -> str:
    """A port typed by hand (``/dev/ttyUSB0``, ``COM3``, ``socket://host:4001``,
    ``rfc2217://host:4001``, a pty path): checked by pyserial without opening it, so a typo
    is caught before the link is tried. Returns it trimmed; raises PortUrlError."""
    import serial

    url = text.strip()
    if not url:
        raise PortUrlError("Type the port: a device such as /dev/ttyUSB0 or COM3, or a URL.")
    if "://" in url and url.split("://", 1)[0].lower() not in PORT_SCHEMES:
        raise PortUrlError(
            f"'{url}' uses a kind of port this console does not know. Use a device name "
            "(/dev/ttyUSB0, COM3) or socket://host:port or rfc2217://host:port."
        )
    scheme, _, rest = url.partition("://")
    if scheme.lower() in ("socket", "rfc2217"):
        host, _, port = rest.split("/", 1)[0].split("?", 1)[0].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PortUrlError(
                f"'{url}' needs a host and a port number, e.g. {scheme}://host:4001."
            )
    try:
        serial.serial_for_url(url, do_not_open=True)
    except (ValueError, serial.SerialException) as exc:
        raise PortUrlError(f"'{url}' is not a port pyserial can use: {exc}") from None
    return url


@dataclass(frozen=True)
class ProbeResult:
    url: str
    identity: PumpIdentity | None
    error: str | None  # plain message when no pump answered

    @property
    def found(self) -> bool:
        return self.identity is not None


def probe(url: str, *, baud: int | None = None, deadline_s: float = 1.5) -> ProbeResult:
    """Open ``url``, send IDENTIFY (two attempts at most) and close (``baud``: the
    protocol's DEFAULT_BAUD unless given). Never raises for link problems: a port with no
    pump behind it is a normal answer here."""
    from drivers.link import Link, LinkError, RetryPolicy
    from drivers.protocol import DEFAULT_BAUD
    from drivers.pump_client import PumpClient

    baud = DEFAULT_BAUD if baud is None else baud
    try:
        link = Link.open(url, baud=baud, policy=RetryPolicy(attempts=2, backoff_s=0.02))
    except LinkError as exc:
        return ProbeResult(url, None, str(exc))
    with PumpClient(link) as client:
        try:
            return ProbeResult(url, client.identify(deadline_s=deadline_s), None)
        except LinkError as exc:
            return ProbeResult(url, None, str(exc))
