"""The one way a simulated pump says no to a command: :class:`PumpCommandError`.

Separate because every command (program, refill, bolus, alarm) raises it and the protocol
responder turns it into a Refused reply; none of those should import another to get it.
"""

from __future__ import annotations


class PumpCommandError(Exception):
    """The pump refuses a command. ``reason`` is the protocol's refusal code name in lower
    case (``not_staged``, ``checksum_mismatch``, ``out_of_range``, ``end_of_service``,
    ``motor_stall``, ``reservoir_empty``, ``bad_program``, ``invalid_state``); the message is
    for the user (it travels back to the console as the refusal's reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
