"""What each pump alarm means and what to do about it, in plain words.

Why here: the nurse reading the overview, the refill wizard and the printed record all need
the same wording; one table keeps them consistent. Severities order the display: a pump that
has stopped delivering comes before a reminder.

Sources: alarm kinds from the SynchroMed II and Prometra manuals as summarised in the domain
primer (low reservoir, empty/no-flow, ERI, End of Service, motor stall, memory/reset faults);
withdrawal signs from the Lioresal Intrathecal boxed warning.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """Higher is more urgent."""

    INFO = 1
    WARNING = 2
    URGENT = 3  # therapy is stopped or will stop: act today


WITHDRAWAL_SIGNS = (
    "Watch for baclofen withdrawal: itching without rash, fever, altered mental state, "
    "rebound spasticity and rigidity. Withdrawal can become life-threatening within 24-72 hours."
)


@dataclass(frozen=True)
class AlarmInfo:
    code: str
    title: str
    meaning: str
    action: str
    severity: Severity
    stops_delivery: bool = False


ALARMS: dict[str, AlarmInfo] = {
    a.code: a
    for a in (
        AlarmInfo(
            "low_reservoir",
            "Low reservoir",
            "The reservoir has reached the low-reservoir alarm volume.",
            "Book a refill now; refill before the reservoir empties.",
            Severity.WARNING,
        ),
        AlarmInfo(
            "reservoir_empty",
            "Reservoir empty - delivery stopped",
            "The pump has no drug left to deliver. The patient is receiving no baclofen.",
            "Refill today. " + WITHDRAWAL_SIGNS,
            Severity.URGENT,
            stops_delivery=True,
        ),
        AlarmInfo(
            "eri",
            "Elective Replacement Indicator",
            "The battery is near its end. The pump keeps running, but stops at End of Service "
            "about 90 days later.",
            "Arrange pump replacement surgery well before the End of Service date.",
            Severity.WARNING,
        ),
        AlarmInfo(
            "end_of_service",
            "End of Service - delivery stopped",
            "The battery has reached End of Service. The pump no longer delivers drug.",
            "Replace the pump urgently and bridge with other therapy. " + WITHDRAWAL_SIGNS,
            Severity.URGENT,
            stops_delivery=True,
        ),
        AlarmInfo(
            "motor_stall",
            "Motor stall - delivery stopped",
            "The pump motor has stalled; the pump is not delivering drug.",
            "Contact the implanting team today; investigate the pump (imaging, rotor study). "
            + WITHDRAWAL_SIGNS,
            Severity.URGENT,
            stops_delivery=True,
        ),
        AlarmInfo(
            "memory_fault",
            "Memory fault",
            "The pump detected an internal memory error.",
            "Interrogate again and check the program; contact the manufacturer's support.",
            Severity.URGENT,
        ),
        AlarmInfo(
            "pump_reset",
            "Pump reset",
            "The pump restarted; its program and clock may have been reset to safe defaults.",
            "Check the program and the clock against the patient's record before anything else.",
            Severity.URGENT,
        ),
        AlarmInfo(
            "clock_lost",
            "Pump clock lost",
            "The pump lost its time of day; flex steps and logged times may be wrong.",
            "Set the pump clock (with the patient's agreement) and check the flex schedule.",
            Severity.WARNING,
        ),
        AlarmInfo(
            "alarm_test",
            "Alarm test",
            "An alarm test was run; the tones heard were a test.",
            "No action needed.",
            Severity.INFO,
        ),
    )
}


def describe(code: str) -> AlarmInfo:
    """The plain-words description of an alarm code; unknown codes are shown, never hidden."""
    info = ALARMS.get(code)
    if info is not None:
        return info
    return AlarmInfo(
        code,
        f"Unrecognised alarm '{code}'",
        "The pump reported an alarm this console does not know.",
        "Check the pump manufacturer's manual and contact support.",
        Severity.URGENT,
    )


def sorted_alarms(codes: tuple[str, ...] | list[str]) -> list[AlarmInfo]:
    return sorted((describe(c) for c in codes), key=lambda a: (-a.severity, a.title))
