"""The clinic day's worklist: what needs doing for whom, one line per thing to do.

Why a list of items and not of patients: at the start of a clinic day a nurse books refills,
a clinician reviews prepared programs, someone books pump replacements; each wants their
own lines, sorted by date, with the reason in words. One patient can have several lines
(a refill due and a prepared program to review).

Every date and status comes from the pump's forecast (:mod:`itbconsole.forecast`, through
the rows :meth:`itbconsole.services.clinic.ClinicService.worklist` reads); this module only
picks and words them, and computes no date. The other facts are records read in one batch
for every pump (:class:`WorklistFacts`): open prepared programs, the delivery-accuracy
drift of :mod:`itbconsole.trends.accuracy` (the one drift rule) and the product in the pump
for its maximum time without an interrogation.

Categories, most urgent first (:class:`Category`): not delivering; check the pump (the
forecast's attention reasons: a concentration that differs from the records, an urgent pump
alarm); refill overdue; refill due within N days (the clinic's ``due_soon_days`` unless the
user asks for another window); low-reservoir alarm within N days; pump replacement to book
(ERI reached, or End of Service within :data:`REPLACEMENT_WINDOW_DAYS`); a write whose
outcome is unknown (pending refill, uncertain program change); a program prepared and
awaiting a clinician; delivery drift (withdrawal or overdose risk); no interrogation for
longer than the drug may stay in the pump.

No Qt here: the desktop view (``ui/worklist_view.py``) shows, filters, exports and prints
these items.
"""

from __future__ import annotations

import enum
import heapq
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any, NamedTuple

from itbconsole.display import fmt_day, fmt_weekday
from itbconsole.dosing import DiscrepancyThresholds
from itbconsole.exports import Column, write_csv
from itbconsole.forecast import Bound, DateSource, ForecastSummary, Status, action_by, replace_by
from itbconsole.model import Refill
from itbconsole.store.queries import OpenPreparedProgram, PatientOverview
from itbconsole.trends import Drift, DriftRule, TrendSettings, detect_drift, refill_accuracies

#: A pump's End of Service this close (or ERI reached) puts its replacement on the list:
#: Medtronic advises replacing a pump about 6 months before it stops (domain.md).
REPLACEMENT_WINDOW_DAYS = 183


class Category(enum.Enum):
    """What a worklist line asks for, most urgent first."""

    NOT_DELIVERING = "not_delivering"
    CHECK_PUMP = "check_pump"
    REFILL_OVERDUE = "refill_overdue"
    REFILL_DUE = "refill_due"
    LOW_RESERVOIR_ALARM = "low_reservoir_alarm"
    REPLACEMENT = "replacement"
    OUTCOME_UNKNOWN = "outcome_unknown"
    PREPARED_PROGRAM = "prepared_program"
    DELIVERY_DRIFT = "delivery_drift"
    NO_INTERROGATION = "no_interrogation"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]

    @property
    def rank(self) -> int:
        return _RANK[self]


CATEGORY_LABELS = {
    Category.NOT_DELIVERING: "Not delivering",
    Category.CHECK_PUMP: "Check the pump",
    Category.REFILL_OVERDUE: "Refill overdue",
    Category.REFILL_DUE: "Refill due",
    Category.LOW_RESERVOIR_ALARM: "Low-reservoir alarm",
    Category.REPLACEMENT: "Replacement to book",
    Category.OUTCOME_UNKNOWN: "Outcome unknown",
    Category.PREPARED_PROGRAM: "Program to review",
    Category.DELIVERY_DRIFT: "Delivery drift",
    Category.NO_INTERROGATION: "No recent interrogation",
}
_RANK = {c: n for n, c in enumerate(Category)}


class WorkItem(NamedTuple):
    """One line: a thing to do for one patient's pump, its date and why. (A named tuple:
    a busy clinic's list has thousands of lines, and it is made in a fraction of the time
    a frozen dataclass takes.)"""

    category: Category
    patient_id: int
    patient: str
    hospital_number: str
    pump_serial: str
    day: date | None
    """The date the line is about (refill by, alarm, End of Service, prepared on...)."""
    day_is: str
    """What ``day`` is, in words: "refill by", "alarm", "End of Service (projected)"."""
    reason: str
    status: Status | None
    """The patient's status on the clinic's today (the forecast's), for colour."""

    @property
    def sort_key(self) -> tuple[int, date, str]:
        """Most urgent category first, then the earliest date (none last), then the name."""
        return _RANK[self.category], self.day or date.max, self.patient


@dataclass(frozen=True)
class InterrogationLimit:
    """How long the pump may go without an interrogation: the maximum days the product of
    its last fill may stay in the pump (the drug library's), and whose limit it is."""

    days: int
    product: str


@dataclass(frozen=True)
class WorklistFacts:
    """The records besides the forecast that put a pump on the list, by pump serial.
    Delivery drift is added afterwards (:func:`with_drifts`): it is the slow one to work
    out, so the clinic service keeps it between lists (:class:`DriftMemo`)."""

    prepared: Mapping[str, OpenPreparedProgram] = field(default_factory=dict)
    interrogation_limits: Mapping[str, InterrogationLimit] = field(default_factory=dict)


@dataclass(frozen=True)
class Worklist:
    """The clinic day's list: its date, the window asked for and the lines, sorted."""

    today: date
    days: int
    replacement_days: int
    items: tuple[WorkItem, ...]
    training: bool = False
    drift_unchecked: int = 0
    """Pumps whose delivery drift is still being worked out (not yet on the list)."""

    @property
    def title(self) -> str:
        return f"Clinic day worklist, {fmt_weekday(self.today)}"

    @property
    def window_text(self) -> str:
        return (
            f"Refills and alarms due within {self.days} days; pump replacements within "
            f"{self.replacement_days} days of End of Service."
        )

    def patients(self) -> int:
        return len({i.patient_id for i in self.items})

    def counts(self) -> dict[Category, int]:
        out = dict.fromkeys(Category, 0)
        for item in self.items:
            out[item.category] += 1
        return out


# ------------------------------------------------------------------ the facts


def drift_of(
    refills: Sequence[Refill],
    capacity_ul: int,
    thresholds: DiscrepancyThresholds,
    rule: DriftRule | None = None,
) -> Drift | None:
    """The pump's delivery drift, by the Trends tab's own rule (the accuracy of each
    confirmed refill and :func:`itbconsole.trends.detect_drift` with the same rule)."""
    accuracies, _notes = refill_accuracies(refills, capacity_ul, thresholds)
    return detect_drift(
        [a.accuracy_pct for a in accuracies],
        [a.at for a in accuracies],
        rule or TrendSettings().drift,
    )


class DriftMemo:
    """Drift per pump, kept while the pump's records stay the same.

    Why: drift reads every confirmed refill of a pump and works out each one's accuracy
    (about 0.4 ms a pump: close to 2 s for 5,000 pumps), while a pump's refills change only
    when one is recorded. ``version`` is what tells a change: the moment the pump's stored
    forecast was computed, which a trigger deletes whenever a record of the pump is written
    (``itbconsole.store.queries.forecast_versions``)."""

    def __init__(self, limit: int = 50_000) -> None:
        self._known: dict[str, tuple[str, Drift | None]] = {}
        self._limit = limit
        self.pending: list[tuple[str, str | None, int]] = []
        """Pumps still to be worked out: (serial, version, reservoir capacity in µL)."""
        self.generation = 0
        """Counts what was kept: a drift list made at one generation is still true at it."""

    def missing(self, versions: Mapping[str, str | None]) -> list[str]:
        """The serials whose drift is not known for their current version."""
        return [
            s
            for s, v in versions.items()
            if v is None or s not in self._known or self._known[s][0] != v
        ]

    def keep(self, serial: str, version: str | None, drift: Drift | None) -> None:
        if version is None:
            return
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known[serial] = (version, drift)
        self.generation += 1

    def drift(self, serial: str, version: str | None) -> Drift | None:
        known = self._known.get(serial)
        return known[1] if known is not None and known[0] == version else None


def interrogated_days_ago(row: PatientOverview, today: date, tz: tzinfo) -> int | None:
    """Calendar days (the clinic's) from the last interrogation to ``today``; None if the
    pump was never interrogated."""
    if row.last_reading_at is None:
        return None
    return (today - row.last_reading_at.astimezone(tz).date()).days


# ------------------------------------------------------------------ the lines


class LinesKept:
    """The lines made from each row, kept with that very row object (rows are immutable)
    and everything else they were made from; and the last whole list with its rows.

    Why: the clinic service gives the same row objects again while the database has not
    changed (``Store.patients_overview``), so opening the worklist again, or again with
    another window, redoes only the rows that changed, and nothing when none did."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[PatientOverview, tuple[object, ...], list[WorkItem]]] = {}
        self._last: tuple[tuple[PatientOverview, ...], tuple[object, ...], Worklist] | None = None

    def lines(self, row: PatientOverview, made_from: tuple[object, ...]) -> list[WorkItem] | None:
        kept = self._rows.get(id(row))
        return kept[2] if kept is not None and kept[0] is row and kept[1] == made_from else None

    def keep_lines(
        self, row: PatientOverview, made_from: tuple[object, ...], lines: list[WorkItem]
    ) -> None:
        self._rows[id(row)] = (row, made_from, lines)

    def whole(
        self, rows: tuple[PatientOverview, ...], made_from: tuple[object, ...]
    ) -> Worklist | None:
        last = self._last
        if last is None or last[1] != made_from or len(last[0]) != len(rows):
            return None
        return last[2] if all(a is b for a, b in zip(last[0], rows, strict=True)) else None

    def keep_whole(
        self, rows: tuple[PatientOverview, ...], made_from: tuple[object, ...], worklist: Worklist
    ) -> None:
        self._last = (rows, made_from, worklist)
        # Forget rows no longer listed (the kept row keeps its id from being reused).
        listed = {id(r) for r in rows}
        for key in [k for k in self._rows if k not in listed]:
            del self._rows[key]


def row_lines(
    row: PatientOverview,
    today: date,
    days: int,
    facts: WorklistFacts,
    tz: tzinfo,
    replacement_days: int = REPLACEMENT_WINDOW_DAYS,
    kept: LinesKept | None = None,
) -> list[WorkItem]:
    """One row's lines, unsorted; made once for the same row object and what they are made
    from when ``kept`` is given (the window makes them ahead, a part of the list at a time,
    so the first opening of the worklist finds them made)."""
    if kept is None:
        return _items(row, today, days, replacement_days, facts, tz)
    serial = row.pump_serial or ""
    made_from = (
        today,
        days,
        replacement_days,
        tz,
        facts.prepared.get(serial),
        facts.interrogation_limits.get(serial),
    )
    lines = kept.lines(row, made_from)
    if lines is None:
        lines = _items(row, today, days, replacement_days, facts, tz)
        kept.keep_lines(row, made_from, lines)
    return lines


def build_worklist(
    rows: Iterable[PatientOverview],
    today: date,
    days: int,
    facts: WorklistFacts,
    *,
    tz: tzinfo,
    replacement_days: int = REPLACEMENT_WINDOW_DAYS,
    training: bool = False,
    kept: LinesKept | None = None,
) -> Worklist:
    """The lines for every row (active patients with a pump, from the clinic service),
    sorted most urgent first, then by date, then by name. ``days``: the window for refills
    and low-reservoir alarms. ``kept``: lines made before from the same rows, reused."""
    if days < 0 or replacement_days < 0:
        raise ValueError("The number of days must be 0 or more.")
    rows = tuple(rows)
    made_from = (today, days, replacement_days, tz, training, facts)
    if kept is not None and (whole := kept.whole(rows, made_from)) is not None:
        return whole
    items: list[WorkItem] = []
    for row in rows:
        items.extend(row_lines(row, today, days, facts, tz, replacement_days, kept))
    items.sort(key=_sort_key)
    worklist = Worklist(today, days, replacement_days, tuple(items), training)
    if kept is not None:
        kept.keep_whole(rows, made_from, worklist)
    return worklist


def with_drifts(
    worklist: Worklist, rows: Iterable[PatientOverview], drifts: Mapping[str, Drift], tz: tzinfo
) -> Worklist:
    """The list with a delivery-drift line for each pump of ``rows`` in ``drifts``."""
    extra = [
        _item(
            _Who.of(row), Category.DELIVERY_DRIFT, _local(d.since, tz), "drifting since", d.message
        )
        for row in rows
        if row.pump_serial is not None and (d := drifts.get(row.pump_serial)) is not None
    ]
    if not extra:
        return worklist
    extra.sort(key=_sort_key)
    return replace(worklist, items=tuple(heapq.merge(worklist.items, extra, key=_sort_key)))


def _sort_key(item: WorkItem) -> tuple[int, date, str]:
    return item.sort_key


def _local(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


class _Who(NamedTuple):
    """What every line of one row repeats, worked out once per row."""

    patient_id: int
    patient: str
    hospital_number: str
    pump_serial: str
    status: Status | None

    @classmethod
    def of(cls, row: PatientOverview) -> _Who:
        p = row.patient
        status = row.status.status if row.status is not None else None
        return cls(p.id or 0, p.display_name, p.hospital_number, row.pump_serial or "", status)


def _item(who: _Who, category: Category, day: date | None, day_is: str, reason: str) -> WorkItem:
    return WorkItem(
        category,
        who.patient_id,
        who.patient,
        who.hospital_number,
        who.pump_serial,
        day,
        day_is,
        reason,
        who.status,
    )


def _in_days(n: int) -> str:
    if n == 0:
        return "today"
    if n == 1:
        return "tomorrow"
    if n == -1:
        return "yesterday"
    return f"in {n} days" if n > 0 else f"{-n} days ago"


def _items(
    row: PatientOverview,
    today: date,
    days: int,
    replacement_days: int,
    facts: WorklistFacts,
    tz: tzinfo,
) -> list[WorkItem]:
    sm, st, serial = row.forecast, row.status, row.pump_serial
    if sm is None or st is None or serial is None:
        return []  # no forecast yet: the clinic service computes it before the list is read
    out: list[WorkItem] = []
    who = _Who.of(row)
    # The last interrogation's date, needed by few lines: worked out only for them.
    last_day = (
        _local(row.last_reading_at, tz)
        if row.last_reading_at is not None
        and (
            st.status is Status.NOT_DELIVERING
            or sm.attention
            or serial in facts.interrogation_limits
        )
        else None
    )

    # A pump the forecast still counts as delivering is "Not delivering" on a date it
    # passed (the status's own order): End of Service first, then the projected empty
    # reservoir. That line says what has come and what to do, so the lines that would say
    # it again are left out: one line per fact.
    came = (
        st.status is Status.NOT_DELIVERING and sm.has_data and sm.delivering,
        sm.eos_day is not None and sm.eos_day <= today,
    )
    eos_came = came[0] and came[1]
    empty_came = came[0] and not came[1] and sm.empty_day is not None and sm.empty_day <= today
    if st.status is Status.NOT_DELIVERING:
        day, day_is = last_day, "last interrogation"
        if eos_came and sm.eos_day is not None:
            day, day_is = sm.eos_day, "End of Service"
        elif sm.empty_day is not None and sm.empty_day <= today:
            day, day_is = sm.empty_day, "projected empty"
        elif sm.eos_day is not None and sm.eos_day <= today:
            day, day_is = sm.eos_day, "End of Service"
        out.append(_item(who, Category.NOT_DELIVERING, day, day_is, st.reason))

    for sentence in sm.attention:
        out.append(_item(who, Category.CHECK_PUMP, last_day, "last interrogation", sentence))

    # When End of Service sets the date no refill moves it: the replacement line says what
    # to do and by when (unless the refill is overdue on its own, the pump's alarm on).
    eos_governs = sm.governing is Bound.END_OF_SERVICE and st.status is not Status.OVERDUE
    # A reservoir projected empty: the Not delivering line says "refill now"; a refill
    # overdue or an alarm passed would only repeat it.
    if not eos_governs and not empty_came:
        out.extend(_refill_items(who, sm, st.status, st.reason, st.days_to_refill, days))
    if not empty_came:
        out.extend(_alarm_items(who, sm, st.days_to_alarm, days))
    # End of Service come: the Not delivering line says "replace it".
    if not eos_came:
        window = max(replacement_days, days) if eos_governs else replacement_days
        out.extend(_replacement_items(who, sm, today, window))

    if row.pending_refills or row.uncertain_program_changes:
        out.append(_item(who, Category.OUTCOME_UNKNOWN, None, "", _outcome_text(row, sm.uncertain)))

    prepared = facts.prepared.get(serial)
    if prepared is not None:
        out.append(
            _item(
                who,
                Category.PREPARED_PROGRAM,
                _local(prepared.prepared_at, tz),
                "prepared",
                f"Program prepared by {prepared.prepared_by} ({prepared.prepared_role}) for "
                f"{prepared.concentration_mcg_ml} mcg/mL, awaiting a clinician's review "
                f"before it is sent: {prepared.reason}",
            )
        )

    out.extend(_interrogation_items(row, who, sm, st.reason, today, last_day, facts, tz))
    return out


def _refill_items(
    who: _Who,
    sm: ForecastSummary,
    status: Status,
    status_reason: str,
    days_to_refill: int | None,
    days: int,
) -> list[WorkItem]:
    if sm.refill_by is None or days_to_refill is None:
        return []
    if status is Status.OVERDUE:
        return [_item(who, Category.REFILL_OVERDUE, sm.refill_by, "refill by", status_reason)]
    if days_to_refill < 0:
        reason = (
            f"{action_by(sm.governing)} was due by {fmt_day(sm.refill_by)} ({sm.governing_text})."
        )
        return [_item(who, Category.REFILL_OVERDUE, sm.refill_by, "refill by", reason)]
    if days_to_refill <= days:
        reason = (
            f"{action_by(sm.governing)} by {fmt_day(sm.refill_by)}, {_in_days(days_to_refill)} "
            f"({sm.governing_text})."
        )
        return [_item(who, Category.REFILL_DUE, sm.refill_by, "refill by", reason)]
    return []


def _alarm_items(
    who: _Who, sm: ForecastSummary, days_to_alarm: int | None, days: int
) -> list[WorkItem]:
    empty = (
        f" At the maximum daily volume the reservoir would be empty from {fmt_day(sm.empty_day)}."
        if sm.empty_day is not None
        else ""
    )
    if sm.low_alarm_on:
        reason = "The pump's own low-reservoir alarm was on at the last interrogation." + empty
        return [_item(who, Category.LOW_RESERVOIR_ALARM, sm.alarm_day, "alarm", reason)]
    if sm.alarm_day is None or days_to_alarm is None or days_to_alarm > days:
        return []
    when = _in_days(days_to_alarm)
    reason = (
        f"Low-reservoir alarm date {fmt_day(sm.alarm_day)} has passed ({when})."
        if days_to_alarm < 0
        else f"Low-reservoir alarm on {fmt_day(sm.alarm_day)}, {when}."
    )
    return [_item(who, Category.LOW_RESERVOIR_ALARM, sm.alarm_day, "alarm", reason + empty)]


def _source(source: DateSource | None) -> str:
    return source.value if source is not None else "source not known"


def _replacement_items(
    who: _Who, sm: ForecastSummary, today: date, replacement_days: int
) -> list[WorkItem]:
    eri_reached = sm.eri_day is not None and sm.eri_day <= today
    eos_days = (sm.eos_day - today).days if sm.eos_day is not None else None
    eos_close = eos_days is not None and eos_days <= replacement_days
    if not (eri_reached or eos_close):
        return []
    parts: list[str] = []
    if eri_reached and sm.eri_day is not None:
        parts.append(f"Past ERI since {fmt_day(sm.eri_day)} ({_source(sm.eri_source)}).")
    if sm.eos_day is not None and eos_days is not None:
        kind = "projected" if sm.eos_source is DateSource.PROJECTED else _source(sm.eos_source)
        if eos_days <= 0:
            parts.append(
                f"End of Service on {fmt_day(sm.eos_day)} ({kind}) has come: the pump may "
                "have stopped. Replace it now."
            )
        else:
            last = replace_by(sm.eos_day)
            parts.append(
                f"End of Service on {fmt_day(sm.eos_day)} ({kind}), {_in_days(eos_days)}: "
                f"replace the pump by {fmt_day(last)}" + (", today." if last == today else ".")
            )
        label = "End of Service (projected)" if kind == "projected" else "End of Service"
        return [_item(who, Category.REPLACEMENT, sm.eos_day, label, " ".join(parts))]
    parts.append(
        "Its End of Service date is not known and could be close: book the pump replacement now."
    )
    return [_item(who, Category.REPLACEMENT, sm.eri_day, "ERI", " ".join(parts))]


def _outcome_text(row: PatientOverview, uncertain: bool) -> str:
    parts = []
    if row.pending_refills:
        n = row.pending_refills
        parts.append(f"{n} refill{'s' if n != 1 else ''} whose pump update was not confirmed")
    if row.uncertain_program_changes:
        n = row.uncertain_program_changes
        parts.append(f"{n} program change{'s' if n != 1 else ''} whose outcome is not known")
    worse = " The dates shown are the worse case until then." if uncertain else ""
    return (
        " and ".join(parts).capitalize()
        + ": interrogate the pump; the next interrogation settles them."
        + worse
    )


def _interrogation_items(
    row: PatientOverview,
    who: _Who,
    sm: ForecastSummary,
    status_reason: str,
    today: date,
    last_day: date | None,
    facts: WorklistFacts,
    tz: tzinfo,
) -> list[WorkItem]:
    if not sm.has_data or row.last_reading_at is None:
        reason = "Never interrogated. " + (status_reason or "Interrogate the pump.")
        return [_item(who, Category.NO_INTERROGATION, None, "", reason)]
    limit = facts.interrogation_limits.get(row.pump_serial or "")
    if limit is None or last_day is None:
        return []
    ago = interrogated_days_ago(row, today, tz)
    if ago is None or ago <= limit.days:
        return []
    reason = (
        f"Last interrogated {fmt_day(last_day)}, {ago} days ago: longer than the "
        f"{limit.days} days {limit.product} may stay in the pump. Interrogate the pump at "
        "this visit; its dates rest on that reading."
    )
    return [_item(who, Category.NO_INTERROGATION, last_day, "last interrogation", reason)]


# ------------------------------------------------------------------ export

CSV_COLUMNS = (
    Column("Category"),
    Column("Date"),
    Column("Date is"),
    Column("Patient"),
    Column("Hospital number"),
    Column("Pump serial"),
    Column("Status"),
    Column("Reason"),
)


def csv_row(item: WorkItem) -> tuple[Any, ...]:
    return (
        item.category.label,
        item.day,
        item.day_is,
        item.patient,
        item.hospital_number,
        item.pump_serial,
        item.status.label if item.status is not None else "",
        item.reason,
    )


def write_worklist_csv(path: str | os.PathLike[str], items: Iterable[WorkItem]) -> int:
    """The lines as CSV (the export rules of :mod:`itbconsole.exports`); returns how many."""
    return write_csv(path, CSV_COLUMNS, (csv_row(i) for i in items))


__all__ = [
    "CATEGORY_LABELS",
    "CSV_COLUMNS",
    "REPLACEMENT_WINDOW_DAYS",
    "Category",
    "Drift",
    "DriftMemo",
    "InterrogationLimit",
    "WorkItem",
    "Worklist",
    "WorklistFacts",
    "build_worklist",
    "csv_row",
    "drift_of",
    "interrogated_days_ago",
    "with_drifts",
    "write_worklist_csv",
]
