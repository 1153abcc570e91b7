"""The protocol's numbered vocabularies: NAK and refusal codes, alarm and capability bits,
power flags, program modes, drug codes and event kinds.

Separate because these tables are what docs/protocol.md lists and what the console maps
to words; they carry no encoding logic.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from drivers.protocol.errors import EncodeError
from itbconsole.model import Mode


class NakCode(enum.IntEnum):
    """Why the pump could not even read a request. A NAKed request was NOT executed."""

    FRAME_ERROR = 1  # CRC, escape or length error; seq of the NAK may not be the request's
    UNKNOWN_TYPE = 2
    BAD_PAYLOAD = 3
    UNSUPPORTED_VERSION = 4


class RefusalCode(enum.IntEnum):
    """Why the pump declined a request it understood. Definitive; cached like a reply."""

    NOT_STAGED = 1
    CHECKSUM_MISMATCH = 2
    OUT_OF_RANGE = 3
    END_OF_SERVICE = 4
    MOTOR_STALL = 5
    RESERVOIR_EMPTY = 6
    NOT_SUPPORTED = 7
    INVALID_STATE = 8
    BAD_PROGRAM = 9
    OTHER = 255


ALARM_BITS: dict[str, int] = {
    "low_reservoir": 0,
    "reservoir_empty": 1,
    "eri": 2,
    "end_of_service": 3,
    "motor_stall": 4,
    "memory_fault": 5,
    "pump_reset": 6,
    "clock_lost": 7,
}


def alarm_names(mask: int) -> tuple[str, ...]:
    """Names of the set bits, in bit order; unknown bits become ``"alarm_bit_N"``."""
    by_bit = {bit: name for name, bit in ALARM_BITS.items()}
    return tuple(by_bit.get(b, f"alarm_bit_{b}") for b in range(16) if mask >> b & 1)


def alarm_mask(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        if name not in ALARM_BITS:
            raise EncodeError(f"unknown alarm '{name}'")
        mask |= 1 << ALARM_BITS[name]
    return mask


CAPABILITY_BITS: dict[str, int] = {
    "flex": 0,
    "weekday_flex": 1,
    "patient_bolus": 2,
    "single_bolus": 3,
    "bridge_bolus": 4,
    "alarm_test": 5,
    "set_clock": 6,
    "diagnostics": 7,
    # A simulated (training) pump: never a patient's. A clinic database refuses its data.
    "simulated": 31,
}

POWER_ERI = 0x01
POWER_EOS = 0x02

MODE_CODES: dict[Mode, int] = {
    Mode.STOPPED: 0,
    Mode.SIMPLE_CONTINUOUS: 1,
    Mode.FLEX: 2,
    Mode.SINGLE_BOLUS: 3,
}
MODES_BY_CODE = {code: mode for mode, code in MODE_CODES.items()}

DRUG_CODES: dict[int, str] = {0: "unspecified", 1: "baclofen"}


@dataclass(frozen=True)
class EventKind:
    """An event code's name and what its two integer arguments mean (with units)."""

    name: str
    a: str = ""
    b: str = ""


EVENT_KINDS: dict[int, EventKind] = {
    1: EventKind("refill", "reservoir_ul", "concentration_mcg_ml"),
    2: EventKind("program_change", "daily_dose_ng", "mode"),
    3: EventKind("patient_bolus", "dose_ng", "duration_min"),
    4: EventKind("single_bolus", "dose_ng", "duration_min"),
    5: EventKind("bridge_bolus", "volume_ul", "duration_min"),
    6: EventKind("priming_bolus", "volume_ul", "duration_min"),
    7: EventKind("alarm_raised", "alarm_bit"),
    8: EventKind("alarm_cleared", "alarm_bit"),
    9: EventKind("alarm_acknowledged", "alarm_mask"),
    10: EventKind("alarm_test"),
    11: EventKind("clock_set", "old_clock_s", "new_clock_s"),
    12: EventKind("reset", "reason"),
    13: EventKind("delivery_stopped", "alarm_bit"),
    14: EventKind("delivery_resumed"),
    15: EventKind("patient_bolus_denied", "dose_ng"),
}
EVENT_CODES: dict[str, int] = {kind.name: code for code, kind in EVENT_KINDS.items()}
