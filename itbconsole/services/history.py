"""A patient's history as one table, and the clinic's refill log (drug recalls).

Why one module: the History tab, its CSV and ``itbconsole export csv`` must say the same
thing about the same records. The timeline is built here once, Qt-free, from the patient's
records (:class:`itbconsole.store.queries.PatientHistory` for the effective records and
:class:`itbconsole.store.queries.PatientRecords` for every version with its stamp); the
tab only shows it and the CLI only writes it.

What a row is: one thing that happened (a refill, a program change, a reading, a pump
alarm, the pump clock set, a pump registered or explanted, a catheter revision, a
screening test dose, a patient record or status), with who recorded it. Records are never
changed in place: a correction is a later version of the record (a pending refill
settled, an uncertain program change resolved, a reading withdrawn as entered in error).
Each version after the first is a ``correction`` row placed right after the row of the
record it corrects, with its own time and author, so nothing is hidden and the row shows
the record as it stands now.

Figures come from their homes: the discrepancy and delivery accuracy from
:mod:`itbconsole.dosing` through :func:`itbconsole.trends.refill_accuracies` (as the
Trends tab computes them), doses per 24 h and their change from :mod:`itbconsole.dosing`,
display text from :mod:`itbconsole.display`, CSV rules from :mod:`itbconsole.exports`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from itertools import pairwise
from typing import Any

from itbconsole import dosing
from itbconsole.alarms import describe, sorted_alarms
from itbconsole.display import (
    fmt_capacity,
    fmt_day,
    fmt_dose_per_day,
    fmt_mcg,
    fmt_ml,
    fmt_percent,
    fmt_volts,
)
from itbconsole.exports import Column
from itbconsole.model import (
    ChangeOutcome,
    Mode,
    Patient,
    Program,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
)
from itbconsole.services.programming import change_text
from itbconsole.services.screening import trial_from_row
from itbconsole.store import records as rec
from itbconsole.store.queries import PatientHistory, PatientRecords, RefillRecord
from itbconsole.trends import RefillAccuracy, refill_accuracies
from itbconsole.units import ul_to_ml


class Kind(enum.StrEnum):
    """What a timeline row is about (stored in CSVs as its value)."""

    PATIENT = "patient"
    SCREENING = "screening"
    IMPLANT = "implant"
    READING = "reading"
    REFILL = "refill"
    PROGRAM_CHANGE = "program_change"
    ALARM = "alarm"
    CLOCK = "clock"
    CATHETER_REVISION = "catheter_revision"
    EXPLANT = "explant"
    CORRECTION = "correction"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    Kind.PATIENT: "Patient record",
    Kind.SCREENING: "Screening test dose",
    Kind.IMPLANT: "Pump implant",
    Kind.READING: "Reading",
    Kind.REFILL: "Refill",
    Kind.PROGRAM_CHANGE: "Program change",
    Kind.ALARM: "Pump alarm",
    Kind.CLOCK: "Pump clock",
    Kind.CATHETER_REVISION: "Catheter revision",
    Kind.EXPLANT: "Pump explant",
    Kind.CORRECTION: "Correction",
}

#: Pump log entries shown as alarms (the others, boluses and the pump's own record of a
#: refill or program change, are in the records or the Trends tab).
ALARM_EVENTS = (
    "alarm_raised",
    "alarm_cleared",
    "alarm_acknowledged",
    "alarm_test",
    "delivery_stopped",
    "delivery_resumed",
    "reset",
)

PUMP_LOG = "pump log"


@dataclass(frozen=True)
class TimelineRow:
    """One entry of a patient's history, ready to show: every text carries its unit."""

    kind: Kind
    at: datetime
    """When it happened (UTC). A record kept by date only (an explant, a catheter revision,
    a status) is placed at the start of that day in the clinic's zone (``day_only``)."""
    when: str
    """``at`` as shown: the clinic's local date and time with its zone (date only when
    ``day_only``)."""
    summary: str
    details: dict[str, str]
    """Every figure of the entry, label to text, in reading order."""
    who: str
    role: str
    figures: dict[str, Any] = field(default_factory=dict)
    """Exact values for the CSV's figure columns (keys of :data:`HISTORY_COLUMNS`)."""
    about: Kind | None = None
    """For a correction: the kind of record it corrects (a kind filter keeps them together)."""
    record: str = ""
    """The stored record the entry comes from: ``refills 12``, ``audit 301``, ``pump log 7``."""
    day_only: bool = False

    def matches(self, kind: Kind | None) -> bool:
        """Shown under a kind filter (None: all). Corrections go with what they correct."""
        return kind is None or self.kind is kind or self.about is kind

    @property
    def details_text(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.details.items())


# --------------------------------------------------------------------------- text helpers


def when_text(at: datetime, tz: tzinfo, *, day_only: bool = False) -> str:
    """``14 Jul 2026 10:20 BST`` (the zone's abbreviation keeps the repeated hour of a
    clock change unambiguous); ``14 Jul 2026`` for a record kept by date."""
    local = at.astimezone(tz)
    if day_only:
        return fmt_day(local.date())
    return f"{fmt_day(local.date())} {local:%H:%M} {local.tzname() or ''}".rstrip()


def day_start(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) a local calendar day starts in ``tz``: what a record kept by date
    only sorts by."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def signed_ml(ul: int) -> str:
    """``+0.15 mL``, ``-0.15 mL``, ``0.00 mL``."""
    sign = "+" if ul > 0 else "-" if ul < 0 else ""
    return f"{sign}{fmt_ml(abs(ul))}"


def mode_text(mode: Mode) -> str:
    return mode.value.replace("_", " ")


def dose_text(program: Program) -> str:
    """``simple continuous, 415.0 mcg per 24 h``."""
    return f"{mode_text(program.mode)}, {fmt_dose_per_day(dosing.program_daily_dose_mcg(program))}"


def _stamp_text(stamp: rec.Stamp, tz: tzinfo) -> str:
    return f"{when_text(stamp.at, tz)} by {stamp.by} ({stamp.role.value})"


def _offset_text(seconds: int) -> str:
    if seconds == 0:
        return "0 s (in step)"
    return f"{seconds:+d} s (pump {'ahead' if seconds > 0 else 'behind'})"


#: Field labels and value texts for describing what a correction changed.
_FIELDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "withdrawn_ul": ("withdrawn", fmt_ml),
    "expected_residual_ul": ("expected residual", fmt_ml),
    "added_ul": ("volume added", fmt_ml),
    "reservoir_ul": ("reservoir", fmt_ml),
    "alarm_volume_ul": ("low-reservoir alarm volume", fmt_ml),
    "reservoir_capacity_ul": ("reservoir", fmt_capacity),
    "pump_dead_volume_ul": ("pump internal volume", fmt_ml),
    "concentration_mcg_ml": ("concentration", lambda v: f"{v} mcg/mL"),
    "catheter_length_cm": ("catheter length", lambda v: f"{v} cm"),
    "catheter_ul_per_cm": ("catheter volume", lambda v: f"{v} µL/cm"),
    "battery_mv": ("battery", fmt_volts),
    "expiry": ("expiry", fmt_day),
    "date_of_birth": ("date of birth", fmt_day),
    "implant_date": ("implant date", lambda v: fmt_day(v) if v else "none"),
    "old": ("program before", dose_text),
    "new": ("new program", dose_text),
    "program": ("program", dose_text),
    "readback": ("read-back", lambda v: dose_text(v) if v is not None else "none"),
    "patient_id": ("patient record", lambda v: "none" if v is None else str(v)),
    "nhs_number": ("NHS number", lambda v: v or "none"),
}


def _value_text(name: str, value: Any, tz: tzinfo) -> str:
    if name in _FIELDS:
        return _FIELDS[name][1](value)
    if isinstance(value, datetime):
        return when_text(value, tz)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "; ".join(str(v) for v in value) or "none"
    return "none" if value is None or value == "" else str(value)


def _changes(old: Any, new: Any, tz: tzinfo) -> list[str]:
    """What differs between two versions of a record: ``status pending → confirmed``."""
    out = []
    for f in fields(old):
        if f.name in ("id", "eri_date", "eos_date"):
            continue
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before != after:
            label = _FIELDS.get(f.name, (f.name.replace("_", " "), str))[0]
            out.append(
                f"{label} {_value_text(f.name, before, tz)} → {_value_text(f.name, after, tz)}"
            )
    return out


# --------------------------------------------------------------------------- the timeline


@dataclass
class _Group:
    """A record's row and the rows of its later versions, kept together when sorted."""

    at: datetime
    order: int
    rows: list[TimelineRow]


_ORDER = {kind: n for n, kind in enumerate(Kind)}

#: Changes that settle an outcome rather than correct a mistake.
_SETTLING = ("status", "outcome", "read-back")


class _Builder:
    def __init__(
        self,
        history: PatientHistory,
        records: PatientRecords,
        tz: tzinfo,
        thresholds: dosing.DiscrepancyThresholds,
    ) -> None:
        self.history = history
        self.records = records
        self.tz = tz
        self.thresholds = thresholds
        self.groups: list[_Group] = []

    # ------------------------------------------------------------------ helpers

    def row(
        self,
        kind: Kind,
        at: datetime,
        summary: str,
        details: Mapping[str, str],
        who: str,
        role: str,
        *,
        figures: Mapping[str, Any] | None = None,
        record: str = "",
        day_only: bool = False,
        about: Kind | None = None,
    ) -> TimelineRow:
        return TimelineRow(
            kind=kind,
            at=at,
            when=when_text(at, self.tz, day_only=day_only),
            summary=summary,
            details=dict(details),
            who=who,
            role=role,
            figures=dict(figures or {}),
            about=about,
            record=record,
            day_only=day_only,
        )

    def add(self, row: TimelineRow, corrections: Iterable[TimelineRow] = ()) -> _Group:
        group = _Group(row.at, _ORDER[row.kind], [row, *corrections])
        self.groups.append(group)
        return group

    def stamped(self, row: TimelineRow, stamp: rec.Stamp) -> TimelineRow:
        return TimelineRow(
            **{
                **{f.name: getattr(row, f.name) for f in fields(row)},
                "who": stamp.by,
                "role": stamp.role.value,
            }
        )

    def chains(self, versions: Sequence[rec.Recorded[Any]]) -> list[list[rec.Recorded[Any]]]:
        """Versions grouped into correction chains (first version first), oldest chain
        first."""
        by_id = {v.stamp.record_id: v for v in versions}
        later = {v.stamp.corrects_id: v for v in versions if v.stamp.corrects_id is not None}
        out = []
        for v in versions:
            if v.stamp.corrects_id is not None and v.stamp.corrects_id in by_id:
                continue
            chain = [v]
            while chain[-1].stamp.record_id in later:
                chain.append(later[chain[-1].stamp.record_id])
            out.append(chain)
        return out

    def corrections(
        self, chain: Sequence[rec.Recorded[Any]], what: str, about: Kind, table: str
    ) -> list[TimelineRow]:
        """A correction row for each version after the first."""
        out = []
        for before, after in pairwise(chain):
            stamp = after.stamp
            note = stamp.correction_note.strip()
            if stamp.entered_in_error:
                summary = f"{what} withdrawn as entered in error" + (f": {note}" if note else "")
                changes: list[str] = []
            else:
                changes = _changes(before.record, after.record, self.tz)
                settled = bool(changes) and all(c.startswith(_SETTLING) for c in changes)
                verb = "settled" if settled else "corrected"
                summary = f"{what} {verb}: " + ("; ".join(changes) or "note added")
                if note:
                    summary += f" ({note})"
            details = {
                "Corrects": f"{what} ({table} {before.stamp.record_id})",
                "Changes": "; ".join(changes) or "none",
                "Entered in error": "yes" if stamp.entered_in_error else "no",
                "Reason": note or "none given",
                "Recorded": _stamp_text(stamp, self.tz),
            }
            out.append(
                self.row(
                    Kind.CORRECTION,
                    stamp.at,
                    summary,
                    details,
                    stamp.by,
                    stamp.role.value,
                    record=f"{table} {stamp.record_id}",
                    about=about,
                )
            )
        return out

    @staticmethod
    def withdrawn_note(chain: Sequence[rec.Recorded[Any]]) -> str:
        last = chain[-1].stamp
        return " [entered in error]" if last.entered_in_error else ""

    # ------------------------------------------------------------------ the kinds

    def patient(self) -> None:
        for chain in self.chains(self.records.patient_versions):
            first = chain[0]
            p: Patient = first.record  # as first recorded; the corrections follow
            summary = (
                f"{p.display_name}, born {fmt_day(p.date_of_birth)}, hospital no. "
                f"{p.hospital_number}: record created"
            )
            details = {
                "Name": p.display_name,
                "Date of birth": fmt_day(p.date_of_birth),
                "Hospital number": p.hospital_number,
                "NHS number": p.nhs_number or "none",
                "Origin": p.origin.value,
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.PATIENT,
                first.stamp.at,
                summary,
                details,
                first.stamp.by,
                first.stamp.role.value,
                record=f"patient_versions {first.stamp.record_id}",
            )
            self.add(
                row,
                self.corrections(chain, "Patient details", Kind.PATIENT, "patient_versions"),
            )
        for status in self.records.statuses:
            stamp = rec.stamp_from_row(status)
            on = date.fromisoformat(status["effective_on"])
            note = str(status["note"]).strip()
            self.add(
                self.row(
                    Kind.PATIENT,
                    day_start(on, self.tz),
                    f"Status {status['status']} from {fmt_day(on)}" + (f": {note}" if note else ""),
                    {
                        "Status": str(status["status"]),
                        "From": fmt_day(on),
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    record=f"patient_status {stamp.record_id}",
                    day_only=True,
                )
            )

    def screening(self) -> None:
        for raw in self.records.screening_trials:
            t = trial_from_row(raw)
            stamp = rec.stamp_from_row(raw)
            scores = "; ".join(f"{m} min: {s}" for m, s in t.scores)
            self.add(
                self.row(
                    Kind.SCREENING,
                    t.given_at,
                    f"{t.dose_mcg} mcg by {t.route}: {t.outcome}",
                    {
                        "Dose": f"{t.dose_mcg} mcg",
                        "Route": t.route,
                        "Drug": t.product,
                        "Concentration": f"{t.concentration_mcg_ml} mcg/mL",
                        "Lot": t.lot,
                        f"Tone ({t.scale})": scores,
                        "Vital signs": t.vitals or "none recorded",
                        "Adverse events": t.adverse_events or "none recorded",
                        "Outcome": t.outcome,
                        "Note": t.note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={
                        "product": t.product,
                        "concentration": t.concentration_mcg_ml,
                        "lot": t.lot,
                        "status": t.outcome,
                    },
                    record=f"screening_trials {stamp.record_id}",
                )
            )

    def pumps(self) -> None:
        versions: dict[str, list[rec.Recorded[Pump]]] = {}
        for v in self.records.pump_versions:
            versions.setdefault(v.record.serial, []).append(v)
        implants: dict[str, list[tuple[rec.Stamp, _Group]]] = {}
        for chain in self.chains(self.records.registrations):
            first, last = chain[0], chain[-1]
            reg: rec.Registration = last.record
            pump_chain = versions.get(reg.pump_serial, [])
            # The pump's details as they stood when it was registered to this patient.
            known = [v for v in pump_chain if v.stamp.at <= first.stamp.at] or pump_chain[:1]
            pump = known[-1].record if known else None
            summary = f"Pump {reg.pump_serial}"
            details = {"Pump": reg.pump_serial}
            if pump is not None:
                summary += f" ({pump.model}, {fmt_capacity(pump.reservoir_capacity_ul)}) registered"
                details |= {
                    "Model": pump.model,
                    "Reservoir": fmt_capacity(pump.reservoir_capacity_ul),
                    "Low-reservoir alarm volume": fmt_ml(pump.alarm_volume_ul),
                    "Implant date": fmt_day(pump.implant_date) if pump.implant_date else "none",
                    "Catheter": f"{pump.catheter_length_cm} cm at {pump.catheter_ul_per_cm} µL/cm",
                    "Dead volume": fmt_ml(int(pump.dead_volume_ul)),
                }
                if pump.implant_date:
                    summary += f", implanted {fmt_day(pump.implant_date)}"
            else:
                summary += " registered"
            details["Recorded"] = _stamp_text(first.stamp, self.tz)
            row = self.row(
                Kind.IMPLANT,
                reg.effective_at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={"pump": reg.pump_serial},
                record=f"pump_registrations {first.stamp.record_id}",
            )
            what = f"Registration of pump {reg.pump_serial}"
            group = self.add(row, self.corrections(chain, what, Kind.IMPLANT, "pump_registrations"))
            implants.setdefault(reg.pump_serial, []).append((first.stamp, group))
        # Corrections of a pump's details made while it was this patient's, next to the
        # registration they followed.
        for serial, chain in versions.items():
            registered = sorted(implants.get(serial, []), key=lambda sg: sg[0].at)
            if not registered:
                continue
            for before, after in pairwise(chain):
                if after.stamp.at < registered[0][0].at:
                    continue
                group = [g for s, g in registered if s.at <= after.stamp.at][-1]
                group.rows.extend(
                    self.corrections(
                        [before, after], f"Details of pump {serial}", Kind.IMPLANT, "pump_versions"
                    )
                )

    def explants(self) -> None:
        for raw in self.records.explants:
            stamp = rec.stamp_from_row(raw)
            on = date.fromisoformat(raw["explanted_on"])
            reason = str(raw["reason"]).replace("_", " ")
            note = str(raw["note"]).strip()
            self.add(
                self.row(
                    Kind.EXPLANT,
                    day_start(on, self.tz),
                    f"Pump {raw['pump_serial']} explanted ({reason})"
                    + (f": {note}" if note else ""),
                    {
                        "Pump": str(raw["pump_serial"]),
                        "Explanted on": fmt_day(on),
                        "Reason": reason,
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={"pump": raw["pump_serial"], "status": raw["reason"]},
                    record=f"pump_explants {stamp.record_id}",
                    day_only=True,
                )
            )

    def catheter_revisions(self) -> None:
        for raw in self.records.catheter_revisions:
            stamp = rec.stamp_from_row(raw)
            on = date.fromisoformat(raw["revised_on"])
            tip = str(raw["tip_level"]).strip()
            note = str(raw["note"]).strip()
            catheter = f"{raw['catheter_length_cm']} cm at {raw['catheter_ul_per_cm']} µL/cm"
            self.add(
                self.row(
                    Kind.CATHETER_REVISION,
                    day_start(on, self.tz),
                    f"Catheter of pump {raw['pump_serial']} revised: {catheter}"
                    + (f", tip {tip}" if tip else ""),
                    {
                        "Pump": str(raw["pump_serial"]),
                        "Revised on": fmt_day(on),
                        "New catheter": catheter,
                        "Tip level": tip or "not recorded",
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={"pump": raw["pump_serial"]},
                    record=f"catheter_revisions {stamp.record_id}",
                    day_only=True,
                )
            )

    def readings(self) -> None:
        for chain in self.chains(self.records.readings):
            first, last = chain[0], chain[-1]
            r: Reading = last.record
            battery = fmt_volts(r.battery_mv) + (
                " (End of Service)" if r.eos else " (ERI)" if r.eri else ""
            )
            alarms = [a.title for a in sorted_alarms(r.alarms)]
            offset = (r.pump_clock - r.at) // timedelta(seconds=1)
            summary = f"Reservoir {fmt_ml(r.reservoir_ul)}, battery {battery}"
            if alarms:
                summary += f"; alarms: {', '.join(alarms)}"
            details = {
                "Pump": r.pump_serial,
                "Reservoir": fmt_ml(r.reservoir_ul),
                "Low-reservoir alarm volume": fmt_ml(r.alarm_volume_ul),
                "Battery": battery,
                "Concentration": f"{r.concentration_mcg_ml} mcg/mL",
                "Program": dose_text(r.program),
                "Alarms at interrogation": ", ".join(alarms) or "none",
                "Pump clock": _offset_text(offset),
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.READING,
                r.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={
                    "pump": r.pump_serial,
                    "reservoir_ml": ul_to_ml(r.reservoir_ul),
                    "battery_mv": r.battery_mv,
                    "concentration": r.concentration_mcg_ml,
                },
                record=f"readings {first.stamp.record_id}",
            )
            what = f"Reading of {when_text(r.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.READING, "readings"))

    def refills(self) -> None:
        capacity = {p.serial: p.reservoir_capacity_ul for p in self.history.pumps}
        accuracy: dict[int | None, RefillAccuracy] = {}
        notes: dict[str, list[str]] = {}
        for serial, cap in capacity.items():
            fills = [r for r in self.history.refills if r.pump_serial == serial]
            found, why = refill_accuracies(fills, cap, self.thresholds)
            accuracy |= {a.refill.id: a for a in found}
            notes[serial] = why
        for chain in self.chains(self.records.refills):
            first, last = chain[0], chain[-1]
            r: Refill = last.record
            ids = {v.stamp.record_id for v in chain}
            acc = accuracy.get(r.id) if not last.stamp.entered_in_error else None
            disc = acc.discrepancy if acc else self._discrepancy(r, capacity.get(r.pump_serial))
            figures: dict[str, Any] = {
                "pump": r.pump_serial,
                "expected_residual_ml": ul_to_ml(r.expected_residual_ul),
                "withdrawn_ml": ul_to_ml(r.withdrawn_ul),
                "added_ml": ul_to_ml(r.added_ul),
                "product": r.product,
                "concentration": r.concentration_mcg_ml,
                "lot": r.lot,
                "expiry": r.expiry,
                "status": r.status.value,
            }
            summary = (
                f"Withdrawn {fmt_ml(r.withdrawn_ul)}, expected {fmt_ml(r.expected_residual_ul)}"
            )
            details = {
                "Pump": r.pump_serial,
                "Expected residual": fmt_ml(r.expected_residual_ul),
                "Withdrawn": fmt_ml(r.withdrawn_ul),
            }
            if disc is not None:
                figures["discrepancy_ml"] = ul_to_ml(disc.discrepancy_ul)
                flag = "; outside the clinic's limits" if disc.volume_flag else ""
                details["Discrepancy"] = (
                    f"{signed_ml(disc.discrepancy_ul)} ({disc.direction}{flag})"
                )
                summary += f" ({signed_ml(disc.discrepancy_ul)}"
                if acc is not None:
                    figures["accuracy_pct"] = acc.accuracy_pct
                    summary += f", accuracy {fmt_percent(acc.accuracy_pct, 1)}"
                summary += ")"
            if acc is not None:
                assert acc.discrepancy.actual_delivered_ul is not None
                band = "; outside the clinic's band" if acc.outside_band else ""
                details["Delivery accuracy"] = (
                    f"{fmt_percent(acc.accuracy_pct, 1)}{band} (delivered "
                    f"{fmt_ml(acc.discrepancy.actual_delivered_ul)} of "
                    f"{fmt_ml(acc.expected_delivered_ul)} expected since the fill of "
                    f"{when_text(acc.previous_fill_at, self.tz)})"
                )
            else:
                details["Delivery accuracy"] = self._no_accuracy(r, notes.get(r.pump_serial, []))
            summary += (
                f"; added {fmt_ml(r.added_ul)} {r.product} {r.concentration_mcg_ml} mcg/mL, "
                f"lot {r.lot}"
            )
            if r.status is not RefillStatus.CONFIRMED:
                summary += f"; {r.status.value}"
            details |= {
                "Drug": r.product,
                "Concentration": f"{r.concentration_mcg_ml} mcg/mL",
                "Lot": r.lot,
                "Expiry": fmt_day(r.expiry),
                "Volume added": fmt_ml(r.added_ul),
            }
            bridge = next(
                (self.records.bridges[i] for i in sorted(ids) if i in self.records.bridges), None
            )
            if bridge is not None:
                volume, before, minutes = bridge
                details["Bridge bolus"] = (
                    f"{fmt_ml(volume)} of the {before} mcg/mL drug in the line, over {minutes} min"
                )
            details["Status"] = r.status.value
            if r.note:
                details["Note"] = r.note
            if disc is not None and disc.flag:
                details["Meaning"] = disc.meaning
            details["Recorded"] = _stamp_text(first.stamp, self.tz)
            row = self.row(
                Kind.REFILL,
                r.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures=figures,
                record=f"refills {first.stamp.record_id}",
            )
            what = f"Refill of {when_text(r.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.REFILL, "refills"))

    def _discrepancy(self, r: Refill, capacity_ul: int | None) -> dosing.RefillDiscrepancy | None:
        if capacity_ul is None:
            return None
        try:
            return dosing.refill_discrepancy(
                expected_residual_ul=r.expected_residual_ul,
                withdrawn_ul=r.withdrawn_ul,
                capacity_ul=capacity_ul,
                thresholds=self.thresholds,
            )
        except dosing.DosingError:
            return None

    def _no_accuracy(self, r: Refill, notes: Sequence[str]) -> str:
        if r.status is not RefillStatus.CONFIRMED:
            return f"not computed: the refill is {r.status.value}"
        first = min(
            (
                f.at
                for f in self.history.refills
                if f.pump_serial == r.pump_serial and f.status is RefillStatus.CONFIRMED
            ),
            default=None,
        )
        if first is None or first == r.at:
            return "not computed: the first refill of this pump on record"
        day = f"{r.at:%d %b %Y}"
        note = next((n for n in notes if day in n), "")
        return f"not computed: {note}" if note else "not computed"

    def program_changes(self) -> None:
        differs: dict[int, list[dict[str, Any]]] = {}
        for action in self.records.pump_actions:
            if action["action"] == "program_readback_differs":
                payload = json.loads(action["payload"])
                differs.setdefault(int(payload.get("program_change_id", 0)), []).append(action)
        for chain in self.chains(self.records.program_changes):
            first, last = chain[0], chain[-1]
            c: ProgramChange = last.record
            before = dosing.program_daily_dose_mcg(c.old)
            after = dosing.program_daily_dose_mcg(c.new)
            change = dosing.dose_change(before, after)
            summary = (
                f"{fmt_mcg(before)} → {fmt_dose_per_day(after)}, "
                f"{change_text(change)}; {c.outcome.value}"
            )
            if c.readback is None:
                readback = "not read back"
            elif c.readback == c.new:
                readback = "read back: matches the new program"
            else:
                readback = f"read back: differs from the new program ({dose_text(c.readback)})"
            for ids in (v.stamp.record_id for v in chain):
                for action in differs.get(ids, []):
                    payload = json.loads(action["payload"])
                    readback += (
                        f"; a read-back differed on {when_text(rec.parse_time(action['at']), self.tz)}:"
                        f" {payload.get('message', '')}".rstrip(": ")
                    )
            if c.outcome is not ChangeOutcome.SUCCEEDED:
                summary += f" ({readback})"
            details = {
                "Pump": c.pump_serial,
                "Before": dose_text(c.old),
                "After": dose_text(c.new),
                "Change": change_text(change) + (f" ({change.note})" if change.note else ""),
                "Maximum 24 h dose (every allowed bolus)": (
                    f"{fmt_dose_per_day(dosing.max_24h_dose_mcg(c.old))} → "
                    f"{fmt_dose_per_day(dosing.max_24h_dose_mcg(c.new))}"
                ),
                "Concentration": f"{c.concentration_mcg_ml} mcg/mL",
                "Reason": c.reason,
                "Overrides": "; ".join(c.overrides) or "none",
                "Outcome": c.outcome.value,
                "Read-back": readback,
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.PROGRAM_CHANGE,
                c.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={
                    "pump": c.pump_serial,
                    "concentration": c.concentration_mcg_ml,
                    "old_dose": before,
                    "new_dose": after,
                    "change_mcg": change.change_mcg,
                    "change_pct": change.change_pct,
                    "status": c.outcome.value,
                },
                record=f"program_changes {first.stamp.record_id}",
            )
            what = f"Program change of {when_text(c.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.PROGRAM_CHANGE, "program_changes"))

    def alarms(self) -> None:
        for e in self.history.events:
            if e.kind not in ALARM_EVENTS:
                continue
            summary, details = _event_text(e)
            self.add(
                self.row(
                    Kind.ALARM,
                    e.at,
                    summary,
                    {"Pump": e.pump_serial, **details, "Time": "the pump's clock"},
                    PUMP_LOG,
                    "",
                    figures={"pump": e.pump_serial},
                    record=f"pump log {e.pump_serial} {e.index}",
                )
            )

    def clock(self) -> None:
        for action in self.records.pump_actions:
            name = action["action"]
            if name not in ("pump_clock_set", "pump_clock_set_failed"):
                continue
            payload = json.loads(action["payload"])
            at = rec.parse_time(action["at"])
            serial = str(payload.get("pump_serial", ""))
            if name == "pump_clock_set":
                offset = str(payload.get("offset_before_s", "")).strip()
                outcome = str(payload.get("outcome", ""))
                summary = f"Pump {serial} clock set to this computer's time"
                if offset:
                    seconds = int(Decimal(offset))
                    summary += (
                        f", from {abs(seconds)} s {'ahead' if seconds > 0 else 'behind'}"
                        if seconds
                        else ", from in step"
                    )
                summary += f": {outcome}"
                details = {
                    "Pump": serial,
                    "Pump clock before": str(payload.get("pump_clock_before", "")),
                    "Offset before": _offset_text(int(Decimal(offset))) if offset else "unknown",
                    "Set to": str(payload.get("set_to", "")),
                    "Outcome": outcome,
                    "Message": str(payload.get("message", "")) or "none",
                }
            else:
                outcome = "not set"
                summary = f"Pump {serial} clock not set: {payload.get('error', '')}".rstrip(": ")
                details = {
                    "Pump": serial,
                    "Outcome": outcome,
                    "Error": str(payload.get("error", "")),
                }
            self.add(
                self.row(
                    Kind.CLOCK,
                    at,
                    summary,
                    details,
                    str(action["user_name"]),
                    str(action["user_role"]),
                    figures={"pump": serial, "status": outcome},
                    record=f"audit {action['seq']}",
                )
            )

    def rows(self) -> list[TimelineRow]:
        self.patient()
        self.screening()
        self.pumps()
        self.readings()
        self.refills()
        self.program_changes()
        self.alarms()
        self.clock()
        self.catheter_revisions()
        self.explants()
        self.groups.sort(key=lambda g: (g.at, g.order, g.rows[0].record))
        return [row for group in self.groups for row in group.rows]


def _event_text(e: PumpEvent) -> tuple[str, dict[str, str]]:
    """A pump log entry about alarms and delivery, in words (:mod:`itbconsole.alarms`)."""
    code = str(e.detail.get("alarm", e.detail.get("code", "")))
    info = describe(code) if code else None
    if e.kind in ("alarm_raised", "delivery_stopped") and info is not None:
        head = "Alarm" if e.kind == "alarm_raised" else "Delivery stopped"
        return f"{head}: {info.title}", {
            "Alarm": info.title,
            "Meaning": info.meaning,
            "What to do": info.action,
        }
    words = {
        "alarm_raised": "Alarm raised",
        "alarm_cleared": "Alarm cleared",
        "alarm_acknowledged": "Alarms acknowledged",
        "alarm_test": "Alarm test",
        "delivery_stopped": "Delivery stopped",
        "delivery_resumed": "Delivery resumed",
        "reset": "Pump reset",
    }
    head = words.get(e.kind, e.kind.replace("_", " ").capitalize())
    if info is not None:
        return f"{head}: {info.title}", {"Alarm": info.title}
    extra = {k.replace("_", " ").capitalize(): str(v) for k, v in e.detail.items()}
    return head, extra


def build_timeline(
    history: PatientHistory,
    records: PatientRecords,
    tz: tzinfo,
    thresholds: dosing.DiscrepancyThresholds | None = None,
) -> list[TimelineRow]:
    """Everything recorded for one patient, oldest first, each correction right after the
    record it corrects (see the module docstring); times shown in ``tz`` (the clinic's)."""
    return _Builder(history, records, tz, thresholds or dosing.DiscrepancyThresholds()).rows()


def kinds_in(rows: Iterable[TimelineRow]) -> list[tuple[Kind, int]]:
    """The kinds present, in :class:`Kind` order, with how many rows each filter shows."""
    rows = list(rows)
    return [(k, n) for k in Kind if (n := sum(1 for r in rows if r.matches(k)))]


# --------------------------------------------------------------------------- CSV

#: The History CSV: one line per timeline row; figure columns hold exact numbers where the
#: row has them (a refill's volumes, a program change's doses) and are empty otherwise.
HISTORY_COLUMNS: tuple[tuple[str, Column], ...] = (
    ("at", Column("Time (UTC)")),
    ("local_date", Column("Date (clinic's zone)")),
    ("when", Column("When (clinic's zone)")),
    ("kind", Column("Kind")),
    ("about", Column("Corrects a")),
    ("summary", Column("Summary")),
    ("who", Column("By")),
    ("role", Column("Role")),
    ("pump", Column("Pump")),
    ("expected_residual_ml", Column("Expected residual", "mL")),
    ("withdrawn_ml", Column("Withdrawn", "mL")),
    ("discrepancy_ml", Column("Discrepancy", "mL")),
    ("accuracy_pct", Column("Delivery accuracy", "%")),
    ("added_ml", Column("Volume added", "mL")),
    ("product", Column("Drug")),
    ("concentration", Column("Concentration", "mcg/mL")),
    ("lot", Column("Lot")),
    ("expiry", Column("Expiry")),
    ("status", Column("Status or outcome")),
    ("old_dose", Column("Dose before", "mcg/24 h")),
    ("new_dose", Column("Dose after", "mcg/24 h")),
    ("change_mcg", Column("Dose change", "mcg/24 h")),
    ("change_pct", Column("Dose change", "%")),
    ("reservoir_ml", Column("Reservoir", "mL")),
    ("battery_mv", Column("Battery", "mV")),
    ("details", Column("Details")),
    ("record", Column("Record")),
)


def history_columns() -> list[Column]:
    return [c for _, c in HISTORY_COLUMNS]


def history_csv_rows(rows: Iterable[TimelineRow], tz: tzinfo) -> list[list[Any]]:
    """The cells of :data:`HISTORY_COLUMNS` for each row (exact values; exports.py writes
    them)."""
    out = []
    for row in rows:
        values = {
            **row.figures,
            "at": None if row.day_only else row.at,
            "local_date": row.at.astimezone(tz).date(),
            "when": row.when,
            "kind": row.kind.label,
            "about": row.about.label if row.about else "",
            "summary": row.summary,
            "who": row.who,
            "role": row.role,
            "details": row.details_text,
            "record": row.record,
        }
        out.append([values.get(key) for key, _ in HISTORY_COLUMNS])
    return out


#: The refill log CSV (lot search, refills since a date): who received which drug.
REFILL_LOG_COLUMNS: tuple[Column, ...] = (
    Column("Time (UTC)"),
    Column("Date (clinic's zone)"),
    Column("Patient"),
    Column("Hospital number"),
    Column("NHS number"),
    Column("Date of birth"),
    Column("Pump"),
    Column("Pump model"),
    Column("Drug"),
    Column("Concentration", "mcg/mL"),
    Column("Lot"),
    Column("Expiry"),
    Column("Volume added", "mL"),
    Column("Withdrawn", "mL"),
    Column("Expected residual", "mL"),
    Column("Status"),
    Column("Recorded by"),
    Column("Role"),
    Column("Record"),
    Column("Refill record"),
)
"""``Refill record`` is the number of the refill's first version, as the History tab and
its CSV name it (``refills 12``); ``Record`` says when it was corrected or withdrawn."""


def refill_log_rows(records: Iterable[RefillRecord], tz: tzinfo) -> list[list[Any]]:
    out: list[list[Any]] = []
    for item in records:
        r, p = item.refill, item.patient
        state = ""
        if item.entered_in_error:
            note = item.latest.correction_note.strip()
            state = "entered in error" + (f": {note}" if note else "")
        elif item.latest.corrects_id is not None:
            state = f"corrected by {item.latest.by} on {item.latest.at.date().isoformat()}"
        out.append(
            [
                r.at,
                r.at.astimezone(tz).date(),
                p.display_name,
                p.hospital_number,
                p.nhs_number,
                p.date_of_birth,
                r.pump_serial,
                item.pump_model,
                r.product,
                r.concentration_mcg_ml,
                r.lot,
                r.expiry,
                ul_to_ml(r.added_ul),
                ul_to_ml(r.withdrawn_ul),
                ul_to_ml(r.expected_residual_ul),
                r.status.value,
                item.recorded.by,
                item.recorded.role.value,
                state,
                item.recorded.record_id,
            ]
        )
    return out


__all__ = [
    "ALARM_EVENTS",
    "HISTORY_COLUMNS",
    "KIND_LABELS",
    "REFILL_LOG_COLUMNS",
    "Kind",
    "TimelineRow",
    "build_timeline",
    "history_columns",
    "history_csv_rows",
    "kinds_in",
    "refill_log_rows",
    "when_text",
]
