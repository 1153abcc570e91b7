"""The clinic's own numbers, in one place: ``ClinicSettings``.

Why one object: the refill margin, the "due soon" window, the clock-drift warning and the
discrepancy thresholds used to be literals scattered over the list, the Overview, the
refill wizard and the trends, and they disagreed. Every screen, printout, query and command
now reads them from here. The values are clinic settings with documented defaults (no
manufacturer gives them, see docs/dosing.md); an administrator changes them
(``itbconsole settings set`` or Tools > Clinic settings), each change is a new stored
version with who and when, and every forecast is recomputed from the new values.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import timedelta, tzinfo
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itbconsole.dosing import DiscrepancyThresholds, DosingError


class SettingsError(ValueError):
    """A setting would be meaningless (negative days, an unknown zone). For the user."""


def _int_range(name: str, value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{what} ({name}) must be a whole number.")
    if not low <= value <= high:
        raise SettingsError(f"{what} ({name}) must be between {low} and {high}; it was {value}.")
    return value


#: The papers a printout is laid out on (ISO A4, US Letter).
PAPER_SIZES = ("A4", "Letter")
MAX_CLINIC_NAME_CHARS = 80
MAX_ADDRESS_CHARS = 160
MAX_PHONE_CHARS = 30
#: A telephone number someone can dial: at least this many digits.
MIN_PHONE_DIGITS = 6
_PHONE_CHARACTERS = frozenset("0123456789+-() ")


def _text(name: str, value: Any, most: int, what: str) -> str:
    """One line of printable text: no control characters (a tab or new line would break
    the printed line), at most ``most`` characters."""
    if not isinstance(value, str):
        raise SettingsError(f"{what} ({name}) must be text.")
    if any(not ch.isprintable() for ch in value):
        raise SettingsError(f"{what} ({name}) must be one line of plain text.")
    if len(value) > most:
        raise SettingsError(
            f"{what} ({name}) is {len(value)} characters long; at most {most} fit the printouts."
        )
    if value != value.strip():
        raise SettingsError(f"{what} ({name}) must not start or end with a space.")
    return value


#: The longest identifier system a clinic may set (a URI; FHIR's are far shorter).
MAX_SYSTEM_CHARS = 200
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+", re.IGNORECASE)


def _identifier_system(value: Any) -> str:
    """The hospital's MRN identifier system, as FHIR names it: an absolute URI
    (``https://...`` with a host) or a URN (``urn:oid:...``); empty: not set yet. A bar
    or a space would split a FHIR search token, so neither is accepted."""
    what = "The hospital number system (FHIR)"
    _text("hospital_number_system", value, MAX_SYSTEM_CHARS, what)
    if not value:
        return value
    scheme, colon, rest = value.partition(":")
    problem = ""
    if not colon or not _URI_SCHEME.fullmatch(scheme) or not rest:
        problem = "is not an absolute URI"
    elif any(ch.isspace() or ch == "|" for ch in value):
        problem = "holds a space or a bar"
    elif scheme.casefold() == "urn" and not _URN.fullmatch(value):
        problem = "is not a URN (urn:<namespace>:<name>)"
    elif scheme.casefold() in ("http", "https"):
        host = urlsplit(value).netloc
        if not host:
            problem = "names no host"
    if problem:
        raise SettingsError(
            f"{what} (hospital_number_system) '{value}' {problem}: give the URI the "
            "hospital's FHIR server uses for its patient numbers, such as "
            "https://fhir.example-hospital.nhs.uk/Id/mrn or urn:oid:2.16.840.1.113883.2.1.3.2."
        )
    return value


def _phone(value: Any) -> str:
    """The 24 h telephone: digits, spaces, +, - and brackets, with at least
    :data:`MIN_PHONE_DIGITS` digits (empty: not set yet)."""
    what = "The clinic's 24 h telephone"
    _text("clinic_phone_24h", value, MAX_PHONE_CHARS, what)
    if not value:
        return value
    if not set(value) <= _PHONE_CHARACTERS:
        raise SettingsError(
            f"{what} (clinic_phone_24h) may hold only digits, spaces, +, - and brackets; "
            f"'{value}' does not (write an extension in the address line)."
        )
    if sum(ch.isdigit() for ch in value) < MIN_PHONE_DIGITS:
        raise SettingsError(
            f"{what} (clinic_phone_24h) needs at least {MIN_PHONE_DIGITS} digits to be "
            f"dialled; '{value}' has fewer."
        )
    return value


@dataclass(frozen=True)
class ClinicSettings:
    """The numbers a clinic chooses. Defaults come from domain.md's anchors.

    * ``zone``: IANA name of the clinic's time zone (calendar dates: refill by, alarm date,
      "today"); empty means this computer's zone.
    * ``refill_margin_days``: the refill is planned this many days before the
      low-reservoir alarm date (default 7).
    * ``due_soon_days``: a refill-by date within this many days makes the status "due soon"
      and puts the patient on the worklist (default 14).
    * ``eri_to_eos_days``: End of Service follows the Elective Replacement Indicator after
      about 90 days (Medtronic); used only when the pump does not report its own date, and
      then the date is labelled as projected.
    * ``clock_warning_s``: pump clock drift beyond this many seconds is shown as a warning.
    * ``trip_margin_days``: days after a trip's return date the drug must still last.
    * ``idle_lock_minutes``: the window locks after this many minutes without a key press
      or a mouse movement (1 to 60, default 5; it cannot be switched off on a shared PC).
    * ``reading_stale_days``: a reading older than this many days is not today's reservoir:
      the Overview puts its date and age in the headline (1 to 365, default 7).
    * discrepancy thresholds (Maino 2017; Prometra 85-115 %).
    * ``clinic_name``, ``clinic_phone_24h`` and ``clinic_address``: who the patient, a
      carer or an emergency department calls, printed on every printout (the emergency
      card and the travel letter exist for that line); empty until the clinic sets them,
      and then each printout says so instead of leaving a blank.
    * ``paper_size``: "A4" or "Letter" (US Letter), the paper every printout is laid out on.
    * ``hospital_number_system``: the identifier system (a URI) of the hospital's own
      patient (MRN) numbers, so the FHIR export (docs/fhir.md) matches a patient without
      an NHS number to the hospital's record of them; empty until the clinic sets it.
    """

    zone: str = ""
    refill_margin_days: int = 7
    due_soon_days: int = 14
    eri_to_eos_days: int = 90
    clock_warning_s: int = 120
    trip_margin_days: int = 7
    small_reservoir_max_ul: int = 20_000
    small_reservoir_limit_ul: int = 1_000
    large_reservoir_limit_ul: int = 2_000
    accuracy_low_pct: int = 85
    accuracy_high_pct: int = 115
    idle_lock_minutes: int = 5
    reading_stale_days: int = 7
    clinic_name: str = ""
    clinic_phone_24h: str = ""
    clinic_address: str = ""
    paper_size: str = "A4"
    hospital_number_system: str = ""
    training: int = 0
    """1 for a training database (demo mode): simulated pumps are accepted and every screen
    and printout is marked TRAINING. A clinic database (0) refuses a simulated pump."""
    _tz_override: tzinfo | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _int_range("refill_margin_days", self.refill_margin_days, 0, 60, "The refill margin")
        _int_range("due_soon_days", self.due_soon_days, 0, 180, "The due-soon window")
        _int_range(
            "eri_to_eos_days", self.eri_to_eos_days, 1, 365, "Days from ERI to End of Service"
        )
        _int_range("clock_warning_s", self.clock_warning_s, 1, 86_400, "The clock warning")
        _int_range("trip_margin_days", self.trip_margin_days, 0, 60, "The trip margin")
        for name in (
            "small_reservoir_max_ul",
            "small_reservoir_limit_ul",
            "large_reservoir_limit_ul",
        ):
            _int_range(name, getattr(self, name), 0, 100_000, "A discrepancy limit")
        _int_range("accuracy_low_pct", self.accuracy_low_pct, 0, 100, "The lowest accuracy")
        _int_range("accuracy_high_pct", self.accuracy_high_pct, 100, 1000, "The highest accuracy")
        _int_range("idle_lock_minutes", self.idle_lock_minutes, 1, 60, "The idle lock")
        _int_range(
            "reading_stale_days",
            self.reading_stale_days,
            1,
            365,
            "The age of a reading shown as old",
        )
        _int_range("training", self.training, 0, 1, "Training database")
        _text("clinic_name", self.clinic_name, MAX_CLINIC_NAME_CHARS, "The clinic's name")
        _text("clinic_address", self.clinic_address, MAX_ADDRESS_CHARS, "The clinic's address")
        _phone(self.clinic_phone_24h)
        _identifier_system(self.hospital_number_system)
        if self.paper_size not in PAPER_SIZES:
            raise SettingsError(
                f"The paper size (paper_size) is one of {', '.join(PAPER_SIZES)}; "
                f"it was '{self.paper_size}'."
            )
        if self.zone and self._tz_override is None:
            try:
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise SettingsError(
                    f"'{self.zone}' is not a time zone this computer knows. Use an IANA name "
                    "such as Europe/London or America/New_York."
                ) from None

    # ------------------------------------------------------------------ derived

    @functools.cached_property
    def tz(self) -> tzinfo:
        """The clinic's zone (an explicit override, the stored name, or this computer's),
        looked up once per settings object: it is read for every day of every forecast."""
        if self._tz_override is not None:
            return self._tz_override
        if self.zone:
            return ZoneInfo(self.zone)
        from itbconsole.clock import local_zone

        return local_zone()

    @property
    def eri_to_eos(self) -> timedelta:
        return timedelta(days=self.eri_to_eos_days)

    @property
    def thresholds(self) -> DiscrepancyThresholds:
        try:
            return DiscrepancyThresholds(
                small_reservoir_max_ul=self.small_reservoir_max_ul,
                small_reservoir_limit_ul=self.small_reservoir_limit_ul,
                large_reservoir_limit_ul=self.large_reservoir_limit_ul,
                accuracy_low_pct=Fraction(self.accuracy_low_pct),
                accuracy_high_pct=Fraction(self.accuracy_high_pct),
            )
        except DosingError as exc:  # pragma: no cover - ranges are checked above
            raise SettingsError(str(exc)) from None

    def with_tz(self, tz: tzinfo | None) -> ClinicSettings:
        """The same settings counted in ``tz`` (tests, demo mode: a fixed zone)."""
        return replace(self, _tz_override=tz)

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_tz_override")
        if self._tz_override is not None and not self.zone:
            data["zone"] = getattr(self._tz_override, "key", "") or ""
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClinicSettings:
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"Unknown setting(s): {', '.join(unknown)}.")
        return cls(**{k: v for k, v in data.items() if k in known})

    def fingerprint(self) -> str:
        """A short digest of every value that changes a forecast (zone included): a stored
        forecast computed with other settings is out of date. The idle lock changes none."""
        values = {k: v for k, v in self.to_dict().items() if k not in NOT_IN_FORECAST}
        text = repr(sorted(values.items())) + f"|{_zone_name(self.tz)}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(ClinicSettings) if not f.name.startswith("_"))


#: Settings no forecast reads (left out of :meth:`ClinicSettings.fingerprint`).
NOT_IN_FORECAST = frozenset(
    {
        "idle_lock_minutes",
        "reading_stale_days",
        "clinic_name",
        "clinic_phone_24h",
        "clinic_address",
        "paper_size",
        "hospital_number_system",
    }
)
#: Settings that are text, not whole numbers (as typed on the command line).
TEXT_SETTINGS = frozenset(
    {
        "zone",
        "clinic_name",
        "clinic_phone_24h",
        "clinic_address",
        "paper_size",
        "hospital_number_system",
    }
)


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def parse_setting(name: str, text: str) -> Any:
    """A value typed on the command line, converted to the setting's type."""
    if name not in ClinicSettings.names():
        raise SettingsError(
            f"There is no setting '{name}'. Settings: {', '.join(ClinicSettings.names())}."
        )
    if name == "paper_size":
        typed = text.strip()
        return next((p for p in PAPER_SIZES if p.casefold() == typed.casefold()), typed)
    if name in TEXT_SETTINGS:
        return " ".join(text.split()) if text.isprintable() else text
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; '{text}' is not.") from None


DEFAULT_SETTINGS = ClinicSettings()

__all__ = [
    "DEFAULT_SETTINGS",
    "PAPER_SIZES",
    "TEXT_SETTINGS",
    "ClinicSettings",
    "SettingsError",
    "parse_setting",
]
