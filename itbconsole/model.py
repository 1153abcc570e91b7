"""Domain model: plain, immutable records with units in their names.

These are the nouns every layer shares: the store persists them, the driver returns them,
the UI shows them. They import nothing but the standard library.

Units (see :mod:`itbconsole.units`): ``*_ul`` integer microlitres, ``*_mcg`` Decimal
micrograms, ``*_mcg_ml`` integer micrograms per millilitre, datetimes timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

MAX_FLEX_STEPS = 13
MINUTES_PER_DAY = 1440


class ChangeOutcome(enum.StrEnum):
    """What became of a program change sent to the pump (stored as its value)."""

    SUCCEEDED = "succeeded"  # written and read back equal
    FAILED = "failed"  # certainly not applied: the pump keeps its program
    UNCERTAIN = "uncertain"  # may or may not be applied: settled by the next reading


class RefillStatus(enum.StrEnum):
    """A refill's record while and after its pump update (stored as its value)."""

    CONFIRMED = "confirmed"  # the pump holds the new drug's figures
    PENDING = "pending"  # the pump update's outcome is not known yet
    FAILED = "failed"  # the update certainly did not reach the pump


class Origin(enum.Enum):
    """Origin of spasticity; it selects the titration ranges in the drug library."""

    SPINAL = "spinal"
    CEREBRAL = "cerebral"


class Role(enum.Enum):
    """Who is at the console. Only clinicians and administrators may send a program."""

    NURSE = "nurse"
    CLINICIAN = "clinician"
    ADMINISTRATOR = "administrator"


class Mode(enum.Enum):
    """Pump infusion modes (after SynchroMed II)."""

    STOPPED = "stopped"
    SIMPLE_CONTINUOUS = "simple_continuous"
    FLEX = "flex"
    SINGLE_BOLUS = "single_bolus"


class ModelError(ValueError):
    """A record would be clinically or structurally invalid. The message is for the user."""


# --------------------------------------------------------------------------- identifiers


def nhs_number_is_valid(text: str) -> bool:
    """True when ``text`` is a 10-digit NHS number whose mod-11 check digit is right.

    Rule (NHS Data Dictionary): weights 10..2 on the first nine digits, sum, remainder
    mod 11, check = 11 - remainder; 11 means 0; 10 means the number is invalid.
    Spaces and hyphens are ignored.
    """
    digits = text.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def normalise_nhs_number(text: str) -> str:
    """``"943 476 5919"`` -> ``"9434765919"``; raises ModelError when the check digit fails."""
    digits = text.replace(" ", "").replace("-", "")
    if not nhs_number_is_valid(digits):
        raise ModelError(
            f"NHS number '{text}' is not valid: it needs 10 digits and a correct check digit. "
            "Check it against the patient's letter or leave it empty."
        )
    return digits


# --------------------------------------------------------------------------- people and pumps


class Action(enum.StrEnum):
    """What a user may do to a pump. Who may do which is :data:`ROLE_ACTIONS`, the one
    table every service asks before a byte is sent."""

    SEND_PROGRAM = "send a program to the pump"
    SINGLE_BOLUS = "give a single bolus"
    REFILL = "update the pump after a refill"
    SET_CLOCK = "set the pump clock"


#: Who may do what. A nurse refills and keeps the pump clock right, and prepares programs
#: for review; only a clinician (or an administrator) changes the dose.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.NURSE: frozenset({Action.REFILL, Action.SET_CLOCK}),
    Role.CLINICIAN: frozenset(Action),
    Role.ADMINISTRATOR: frozenset(Action),
}


@dataclass(frozen=True)
class User:
    """The person at the console; stamped on every record they make.

    ``account_id`` is the account they signed in to with their password
    (:mod:`itbconsole.services.accounts`); None for a user no password stands behind: demo
    mode's users and the users scripts and tests build for themselves."""

    name: str
    role: Role
    account_id: int | None = None

    def may(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]

    def refusal(self, action: Action) -> str:
        """Why this user may not do ``action`` ('' when they may)."""
        if self.may(action):
            return ""
        allowed = " or ".join(
            f"{'an' if r.value[0] in 'aeiou' else 'a'} {r.value}"
            for r in Role
            if action in ROLE_ACTIONS[r]
        )
        return f"{self.name} is signed in as {self.role.value}: only {allowed} can {action}."

    def can_send_program(self) -> bool:
        return self.may(Action.SEND_PROGRAM)


@dataclass(frozen=True)
class SecondCheck:
    """A second clinician's confirmation of a severe override, given with their own
    account and password. Only :meth:`itbconsole.services.accounts.AccountService.
    confirm_second_check` makes one, after checking the password, and records it (audited);
    ``subject`` names the one checked program it confirms
    (:func:`itbconsole.services.programming.second_check_subject`)."""

    account_id: int
    name: str
    role: Role
    at: datetime
    subject: str
    event_id: int  # the account event that recorded the confirmation


@dataclass(frozen=True)
class Patient:
    family_name: str
    given_name: str
    date_of_birth: date
    hospital_number: str
    origin: Origin
    nhs_number: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.family_name.strip():
            raise ModelError("Family name is required.")
        if not self.given_name.strip():
            raise ModelError("Given name is required.")
        if not self.hospital_number.strip():
            raise ModelError("Hospital number is required.")
        if self.nhs_number is not None and not nhs_number_is_valid(self.nhs_number):
            raise ModelError(
                f"NHS number '{self.nhs_number}' is not valid (wrong length or check digit)."
            )

    @property
    def display_name(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name}"

    def age_on(self, day: date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years


@dataclass(frozen=True)
class Pump:
    """An implanted pump with its catheter. Dead volume = pump internal + catheter."""

    serial: str
    model: str
    reservoir_capacity_ul: int
    alarm_volume_ul: int
    implant_date: date | None = None
    pump_dead_volume_ul: int = 0
    catheter_length_cm: Decimal = Decimal(0)
    catheter_ul_per_cm: Decimal = Decimal(0)
    patient_id: int | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.serial.strip():
            raise ModelError("Pump serial number is required.")
        if self.reservoir_capacity_ul <= 0:
            raise ModelError("Reservoir capacity must be more than 0 mL.")
        if not 0 <= self.alarm_volume_ul < self.reservoir_capacity_ul:
            raise ModelError("Low-reservoir alarm volume must be between 0 and the capacity.")

    @property
    def dead_volume_ul(self) -> Decimal:
        """Pump internal volume plus catheter length x volume per cm, in microlitres."""
        return Decimal(self.pump_dead_volume_ul) + self.catheter_length_cm * self.catheter_ul_per_cm


# --------------------------------------------------------------------------- programs


@dataclass(frozen=True)
class FlexStep:
    """One flex step: from ``start_minute`` (pump-clock minutes after midnight) until the
    next step's start, the pump delivers ``rate_mcg_per_hour``."""

    start_minute: int
    rate_mcg_per_hour: Decimal

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise ModelError("A flex step must start between 00:00 and 23:59.")
        if self.rate_mcg_per_hour < 0:
            raise ModelError("A flex step's rate cannot be negative.")


def validate_flex_steps(steps: tuple[FlexStep, ...]) -> None:
    if not steps:
        raise ModelError("A flex schedule needs at least one step.")
    if len(steps) > MAX_FLEX_STEPS:
        raise ModelError(f"A flex schedule has at most {MAX_FLEX_STEPS} steps a day.")
    starts = [s.start_minute for s in steps]
    if starts[0] != 0:
        raise ModelError("The first flex step must start at 00:00 so the whole day is covered.")
    if any(b <= a for a, b in pairwise(starts)):
        raise ModelError("Flex steps must be in time order with no two at the same time.")


@dataclass(frozen=True)
class PatientBolus:
    """Patient-activated bolus settings (myPTM / PTC)."""

    dose_mcg: Decimal
    duration_minutes: int
    lockout_minutes: int
    max_per_day: int

    def __post_init__(self) -> None:
        if self.dose_mcg <= 0:
            raise ModelError("Patient bolus dose must be more than 0 mcg.")
        if self.max_per_day < 0 or self.lockout_minutes < 0 or self.duration_minutes < 0:
            raise ModelError("Patient bolus settings cannot be negative.")


@dataclass(frozen=True)
class Program:
    """What the pump is told to deliver.

    * ``STOPPED``: nothing.
    * ``SIMPLE_CONTINUOUS``: ``daily_dose_mcg`` evenly over 24 h.
    * ``FLEX``: ``flex_steps`` every day, except weekdays (0 = Monday) listed in
      ``flex_weekday_steps`` which use their own steps.
    * ``SINGLE_BOLUS``: ``bolus_dose_mcg`` over ``bolus_duration_minutes`` from the moment the
      program starts, then ``daily_dose_mcg`` continuous (0 stops).
    ``patient_bolus`` may accompany any mode but STOPPED.
    """

    mode: Mode
    daily_dose_mcg: Decimal = Decimal(0)
    flex_steps: tuple[FlexStep, ...] = ()
    flex_weekday_steps: tuple[tuple[int, tuple[FlexStep, ...]], ...] = ()
    bolus_dose_mcg: Decimal = Decimal(0)
    bolus_duration_minutes: int = 0
    patient_bolus: PatientBolus | None = None

    def __post_init__(self) -> None:
        if self.daily_dose_mcg < 0 or self.bolus_dose_mcg < 0:
            raise ModelError("Doses cannot be negative.")
        if self.mode is Mode.FLEX:
            validate_flex_steps(self.flex_steps)
            days = [d for d, _ in self.flex_weekday_steps]
            if len(set(days)) != len(days) or any(not 0 <= d <= 6 for d in days):
                raise ModelError("Weekday schedules must name each weekday (Mon-Sun) once.")
            for _, steps in self.flex_weekday_steps:
                validate_flex_steps(steps)
        if self.mode is Mode.SINGLE_BOLUS:
            if self.bolus_dose_mcg <= 0 or self.bolus_duration_minutes <= 0:
                raise ModelError("A single bolus needs a dose and a duration.")
        if self.mode is Mode.STOPPED and self.patient_bolus is not None:
            raise ModelError("A stopped pump cannot offer patient boluses.")

    def steps_for_weekday(self, weekday: int) -> tuple[FlexStep, ...]:
        for day, steps in self.flex_weekday_steps:
            if day == weekday:
                return steps
        return self.flex_steps

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-safe form (Decimals as strings) for storage and checksums."""
        return {
            "mode": self.mode.value,
            "daily_dose_mcg": str(self.daily_dose_mcg),
            "flex_steps": [[s.start_minute, str(s.rate_mcg_per_hour)] for s in self.flex_steps],
            "flex_weekday_steps": [
                [day, [[s.start_minute, str(s.rate_mcg_per_hour)] for s in steps]]
                for day, steps in self.flex_weekday_steps
            ],
            "bolus_dose_mcg": str(self.bolus_dose_mcg),
            "bolus_duration_minutes": self.bolus_duration_minutes,
            "patient_bolus": None
            if self.patient_bolus is None
            else {
                "dose_mcg": str(self.patient_bolus.dose_mcg),
                "duration_minutes": self.patient_bolus.duration_minutes,
                "lockout_minutes": self.patient_bolus.lockout_minutes,
                "max_per_day": self.patient_bolus.max_per_day,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Program:
        def steps(raw: list[list[Any]]) -> tuple[FlexStep, ...]:
            return tuple(FlexStep(int(m), Decimal(str(r))) for m, r in raw)

        pb = data.get("patient_bolus")
        return cls(
            mode=Mode(data["mode"]),
            daily_dose_mcg=Decimal(str(data.get("daily_dose_mcg", "0"))),
            flex_steps=steps(data.get("flex_steps", [])),
            flex_weekday_steps=tuple(
                (int(day), steps(raw)) for day, raw in data.get("flex_weekday_steps", [])
            ),
            bolus_dose_mcg=Decimal(str(data.get("bolus_dose_mcg", "0"))),
            bolus_duration_minutes=int(data.get("bolus_duration_minutes", 0)),
            patient_bolus=None
            if pb is None
            else PatientBolus(
                dose_mcg=Decimal(str(pb["dose_mcg"])),
                duration_minutes=int(pb["duration_minutes"]),
                lockout_minutes=int(pb["lockout_minutes"]),
                max_per_day=int(pb["max_per_day"]),
            ),
        )


STOPPED = Program(Mode.STOPPED)


def simple_continuous(daily_dose_mcg: Decimal | int | str) -> Program:
    return Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(str(daily_dose_mcg)))


@dataclass(frozen=True)
class ProgramSegment:
    """A program in force from ``start`` (UTC) until the next segment, pumping drug of
    ``concentration_mcg_ml``. A bridge bolus is a segment whose concentration is the old
    drug's while the dead volume clears."""

    start: datetime
    program: Program
    concentration_mcg_ml: int
    program_start: datetime | None = None
    """When the program itself began (a single bolus runs from there); None: at ``start``.
    A segment that starts at a fill while a single-bolus program is already running must
    not deliver that bolus again."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ModelError("Times must carry a timezone.")
        if self.concentration_mcg_ml <= 0:
            raise ModelError("Concentration must be more than 0 mcg/mL.")


@dataclass(frozen=True)
class BolusGiven:
    """A bolus that was delivered (patient, single, priming or bridge): at ``at`` (UTC)."""

    at: datetime
    dose_mcg: Decimal
    concentration_mcg_ml: int
    kind: str = "patient"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Drug:
    """A product and concentration as loaded from the drug library."""

    product: str
    concentration_mcg_ml: int


@dataclass(frozen=True)
class Refill:
    pump_serial: str
    at: datetime
    withdrawn_ul: int
    expected_residual_ul: int
    added_ul: int
    product: str
    concentration_mcg_ml: int
    lot: str
    expiry: date
    status: RefillStatus = RefillStatus.CONFIRMED
    note: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        try:  # a stored or typed value becomes the enum; anything else is refused
            object.__setattr__(self, "status", RefillStatus(self.status))
        except ValueError:
            raise ModelError(f"Unknown refill status {self.status!r}.") from None


@dataclass(frozen=True)
class Reading:
    """One interrogation: what the pump said, and when by both clocks."""

    pump_serial: str
    at: datetime  # computer clock, UTC
    pump_clock: datetime  # pump's own clock reading, as it reported it (UTC-aware)
    reservoir_ul: int
    alarm_volume_ul: int
    battery_mv: int
    eri: bool
    eos: bool
    concentration_mcg_ml: int
    program: Program
    alarms: tuple[str, ...] = ()
    id: int | None = None
    eri_date: date | None = None  # the pump's own ERI date, when it reports one
    eos_date: date | None = None  # the pump's own End of Service date, when it reports one
    #: The pump's own projected low-reservoir alarm date (a day on the pump clock, UTC), when
    #: it reports one (protocol status field 12); kept beside the reading in the store.
    pump_alarm_date: date | None = None

    @property
    def clock_offset_s(self) -> float:
        """Pump clock minus computer clock, seconds (positive: pump runs ahead)."""
        return (self.pump_clock - self.at).total_seconds()


@dataclass(frozen=True)
class PumpEvent:
    """An entry of the pump's own log; unique by (pump serial, index)."""

    pump_serial: str
    index: int
    at: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgramChange:
    pump_serial: str
    at: datetime
    old: Program
    new: Program
    concentration_mcg_ml: int
    reason: str
    overrides: tuple[str, ...] = ()
    outcome: ChangeOutcome = ChangeOutcome.SUCCEEDED
    id: int | None = None
    readback: Program | None = None  # the program read back from the pump after writing

    def __post_init__(self) -> None:
        try:  # a stored or typed value becomes the enum; anything else is refused
            object.__setattr__(self, "outcome", ChangeOutcome(self.outcome))
        except ValueError:
            raise ModelError(f"Unknown program change outcome {self.outcome!r}.") from None


@dataclass(frozen=True)
class PreparedProgram:
    """A program change prepared for review and not yet sent to the pump.

    A nurse may prepare one; only a clinician or administrator may send it. A refill with a
    new concentration is allowed only together with a program prepared by a clinician for
    that concentration (the refill then computes the bridge bolus)."""

    pump_serial: str
    prepared_at: datetime
    program: Program
    concentration_mcg_ml: int
    reason: str
    prepared_by: str = ""
    prepared_role: Role = Role.CLINICIAN
    id: int | None = None

    @property
    def by_clinician(self) -> bool:
        return self.prepared_role in (Role.CLINICIAN, Role.ADMINISTRATOR)
