"""Time on the line: wire time at a baud rate, pump turnaround, and how long to wait.

Separate from the framing because these figures are the link's waiting rules (every wait
has a limit), derived from frame sizes but used by the session and the simulator's pacer.
"""

from __future__ import annotations

from drivers.protocol.framing import CRC_SIZE, HEADER_SIZE

DEFAULT_BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
#: The pump must start its reply within this time after the request's closing flag.
PUMP_TURNAROUND_S = 0.1


def inter_byte_timeout_s(baud: int) -> float:
    """Longest silence allowed inside a frame: 20 character times, but never under 20 ms
    (USB serial adapters deliver in bursts)."""
    return max(0.02, 20 * BITS_PER_BYTE / baud)


def wire_time_s(nbytes: int, baud: int) -> float:
    """Seconds to send ``nbytes`` at ``baud`` with 8N1 (10 bits per byte)."""
    return nbytes * BITS_PER_BYTE / baud


def max_wire_size(payload_len: int) -> int:
    """Worst-case wire bytes of a frame with this payload (every byte escaped)."""
    return 2 + 2 * (HEADER_SIZE + payload_len + CRC_SIZE)


def reply_timeout_s(request_bytes: int, reply_payload_max: int, baud: int) -> float:
    """How long to wait for a complete reply after starting to send a request: request wire
    time + pump turnaround + worst-case reply wire time, with 50 % margin on the wire parts
    and 50 ms for OS and USB-adapter latency."""
    wire = wire_time_s(request_bytes + max_wire_size(reply_payload_max), baud)
    return 1.5 * wire + PUMP_TURNAROUND_S + 0.05
