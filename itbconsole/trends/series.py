"""Series for the Trends tab, built from a patient's stored history without Qt.

Why here and not in the view: every figure on the plots (the expected depletion, the alarm
projection, accuracy, drift, the battery dates) is clinical arithmetic and must be tested
like the rest of the core. The view only draws these arrays.

Conventions: x values are float64 epoch seconds (absolute time, UTC); the view labels them
in the clinic's zone (:mod:`itbconsole.trends.timeaxis`). Volumes are plotted in mL,
voltages in mV, doses in mcg per 24 h, accuracy in %. Arrays never hold Python objects, so
drawing ten years of hourly readings costs no per-point Python.

One builder, :func:`trends_from_records`, over one pump's records with its readings as
columns (:class:`itbconsole.store.columns.TrendRecords`): the Trends tab reads those from the
store directly (:mod:`itbconsole.trends.reader`); :func:`build_trends` makes them from a
:class:`PatientHistory` already in memory. Nothing in it loops over readings in Python: the
expected curve has one point where a program's rate changes (a closed form per program
segment), the saw-tooth and the battery are the columns themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from itbconsole import dosing
from itbconsole.alarms import ALARMS, sorted_alarms
from itbconsole.dosing.delivery import delivery_timeline
from itbconsole.forecast import PUMP_CLOCK, Fill, Forecast, ProgramTimeline, facts_from
from itbconsole.forecast import forecast as make_forecast
from itbconsole.model import (
    ChangeOutcome,
    Mode,
    Patient,
    ProgramChange,
    ProgramSegment,
    Pump,
    PumpEvent,
    Refill,
    RefillStatus,
)
from itbconsole.store.columns import EventRow, ReadingColumns, TrendRecords
from itbconsole.store.queries import PatientHistory
from itbconsole.trends.accuracy import (
    Drift,
    RefillAccuracy,
    detect_drift,
    refill_accuracies,
)
from itbconsole.trends.battery import (
    BatteryOutlook,
    battery_outlook,
    with_forecast_dates,
)
from itbconsole.trends.settings import TrendSettings
from itbconsole.units import UL_PER_ML

FloatArray = npt.NDArray[np.float64]


def _arr(values: Sequence[float] | FloatArray = ()) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class ReservoirTrend:
    """The saw-tooth: what the pump and the refills said, and what the programs predict."""

    capacity_ml: float
    alarm_volume_ml: float
    recorded_x: FloatArray
    """Readings and refills in time order; a refill adds two points at its time: the volume
    withdrawn (the residual actually found) then the volume after the fill."""
    recorded_y: FloatArray
    readings_x: FloatArray
    readings_y: FloatArray
    refills_x: FloatArray
    withdrawn_y: FloatArray
    filled_y: FloatArray
    expected_x: FloatArray
    """Expected volume from each fill (or the first reading) by the program history; NaN
    separates one fill's curve from the next."""
    expected_y: FloatArray
    forecast: Forecast | None
    """The pump's forecast (itbconsole.forecast): the projection ends at its alarm."""
    projection_x: FloatArray
    projection_y: FloatArray
    note: str


@dataclass(frozen=True, eq=False)
class BatteryTrend:
    x: FloatArray
    mv: FloatArray
    outlook: BatteryOutlook
    fit_x: FloatArray
    fit_y: FloatArray
    implant_at: datetime | None


@dataclass(frozen=True)
class DoseStep:
    """One program change on the dose plot, with what the clinician gave as the reason."""

    at: datetime
    before_mcg: Fraction
    after_mcg: Fraction
    change: dosing.DoseChange
    reason: str
    outcome: str

    def describe(self) -> str:
        pct = self.change.change_pct
        pct_text = "" if pct is None else f" ({float(pct):+.1f} %)"
        return (
            f"{float(self.before_mcg):g} -> {float(self.after_mcg):g} mcg/24 h"
            f"{pct_text}: {self.reason or 'no reason recorded'}"
        )


@dataclass(frozen=True, eq=False)
class DoseTrend:
    step_x: FloatArray
    step_y: FloatArray
    changes: tuple[DoseStep, ...]
    changes_x: FloatArray
    changes_y: FloatArray


@dataclass(frozen=True, eq=False)
class AccuracyTrend:
    x: FloatArray
    pct: FloatArray
    refills: tuple[RefillAccuracy, ...]
    low_pct: float
    high_pct: float
    drift: Drift | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Marker:
    """An alarm or pump event on the shared time axis."""

    at: datetime
    kind: str
    label: str
    severity: int  # 1 information, 2 warning, 3 urgent (as itbconsole.alarms.Severity)


@dataclass(frozen=True, eq=False)
class PatientTrends:
    """Everything the Trends tab draws for one pump of one patient."""

    tz: tzinfo
    now: datetime
    pump: Pump | None
    message: str
    """Non-empty when there is nothing (or too little) to plot: says why, in plain words."""
    reservoir: ReservoirTrend | None
    battery: BatteryTrend | None
    dose: DoseTrend | None
    accuracy: AccuracyTrend | None
    markers: tuple[Marker, ...]
    markers_x: FloatArray
    markers_severity: npt.NDArray[np.int64]
    x_range: tuple[float, float]
    patient: Patient | None = None
    """Whose trends these are: the exported image names them."""

    @property
    def empty(self) -> bool:
        return self.reservoir is None


# --------------------------------------------------------------------------- program history


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


_WEEK = timedelta(days=7)


def _as_arrays(pieces: Sequence[tuple[datetime, datetime, Fraction]]) -> FloatArray:
    """(from, to, µL per second) pieces as an n x 3 array of epoch seconds and rates."""
    out = np.empty((len(pieces), 3), dtype=np.float64)
    for k, (lo, hi, rate) in enumerate(pieces):
        out[k] = (lo.timestamp(), hi.timestamp(), float(rate))
    return out


def _segment_pieces(seg: ProgramSegment, lo: datetime, hi: datetime) -> FloatArray:
    """One program segment's delivery over [lo, hi) as constant-rate pieces, by
    :func:`itbconsole.dosing.delivery.delivery_timeline`. A flex schedule repeats every week
    on the pump's clock (UTC: no clock changes), so a long one is one week's pieces from a
    midnight, repeated for each whole week, with the part-weeks either side counted as they
    are: the same pieces, without a datetime and a Fraction for each of them."""
    if seg.program.mode is not Mode.FLEX or hi - lo <= 3 * _WEEK:
        return _as_arrays(delivery_timeline([seg], lo, hi, PUMP_CLOCK, ())[0])
    first = datetime.combine(lo.astimezone(PUMP_CLOCK).date(), time(0), tzinfo=PUMP_CLOCK)
    if first < lo:
        first += timedelta(days=1)
    weeks = int((hi - first) / _WEEK)
    after = first + weeks * _WEEK
    week = _as_arrays(delivery_timeline([seg], first, first + _WEEK, PUMP_CLOCK, ())[0])
    shifts = first.timestamp() + np.arange(weeks, dtype=np.float64) * _WEEK.total_seconds()
    repeated = np.empty((weeks, len(week), 3), dtype=np.float64)
    repeated[:, :, 0] = shifts[:, None] + (week[:, 0] - first.timestamp())
    repeated[:, :, 1] = shifts[:, None] + (week[:, 1] - first.timestamp())
    repeated[:, :, 2] = week[:, 2]
    return np.concatenate(
        [
            _as_arrays(delivery_timeline([seg], lo, first, PUMP_CLOCK, ())[0]),
            repeated.reshape(-1, 3),
            _as_arrays(delivery_timeline([seg], after, hi, PUMP_CLOCK, ())[0]),
        ]
    )


def expected_depletion(
    anchors: Sequence[tuple[datetime, int, datetime, Sequence[ProgramSegment]]],
) -> tuple[FloatArray, FloatArray]:
    """Expected reservoir volume (mL) from each anchor (start, volume µL, end, the program
    periods from :class:`itbconsole.forecast.ProgramTimeline`) to its end.

    Closed form per program segment (:func:`_segment_pieces`): the segment's delivery as
    pieces of constant rate (one for a continuous program, one per flex step a day on the
    pump's clock, the bolus then the rate for a single bolus), the arithmetic the refill's
    expected residual integrates. The cumulative volume is exact at every piece's ends and
    a straight line between them, so the curve has a point where the rate changes and
    nowhere else; it stops at 0 where the pump would be empty. Curves are separated by NaN.
    """
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    gap = _arr([np.nan])
    for start, volume_ul, end, segments in anchors:
        if end <= start or not segments:
            continue
        ordered = sorted(segments, key=lambda seg: seg.start)
        parts = []
        for i, seg in enumerate(ordered):
            seg_end = ordered[i + 1].start if i + 1 < len(ordered) else end
            lo, hi = max(seg.start, start), min(seg_end, end)
            if hi > lo:
                parts.append(_segment_pieces(seg, lo, hi))
        pieces = np.concatenate(parts) if parts else np.empty((0, 3))
        lo_s, hi_s, rate = pieces[:, 0], pieces[:, 1], pieces[:, 2]
        # Each piece's start (with what was delivered before it) and end.
        ends = np.cumsum(rate * (hi_s - lo_s))
        x = np.concatenate([[start.timestamp()], np.column_stack([lo_s, hi_s]).ravel()])
        delivered = np.concatenate(
            [[0.0], np.column_stack([ends - rate * (hi_s - lo_s), ends]).ravel()]
        )
        if x[-1] < end.timestamp():  # stopped at the end: nothing more leaves
            x = np.append(x, end.timestamp())
            delivered = np.append(delivered, delivered[-1])
        keep = np.concatenate([[True], np.diff(x) > 0])  # drop repeated instants
        x, left = x[keep], float(volume_ul) - delivered[keep]
        empty = np.flatnonzero(left <= 0)
        if len(empty) and empty[0] > 0:  # where the line meets 0, then flat to the end
            k = int(empty[0])
            at = x[k - 1] + (x[k] - x[k - 1]) * left[k - 1] / (left[k - 1] - left[k])
            x = np.concatenate([x[:k], [at, x[-1]]])
            left = np.concatenate([left[:k], [0.0, 0.0]])
        xs += [x, gap]
        ys += [np.maximum(left, 0.0) / UL_PER_ML, gap]
    if not xs:
        return _arr(), _arr()
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------- building


def _reservoir(
    pump: Pump,
    readings: ReadingColumns,
    refills: Sequence[Refill],
    timeline: ProgramTimeline,
    fills: dict[datetime, Fill],
    fc: Forecast,
) -> ReservoirTrend:
    confirmed = [r for r in refills if r.status == RefillStatus.CONFIRMED]
    rx = readings.at_s
    ry = readings.reservoir_ul / UL_PER_ML
    fx = _arr([r.at.timestamp() for r in confirmed])
    wy = _arr([r.withdrawn_ul / UL_PER_ML for r in confirmed])
    fy = _arr([r.added_ul / UL_PER_ML for r in confirmed])
    # Saw-tooth: order by time, and at a refill withdrawn (1) before filled (2).
    x = np.concatenate([rx, fx, fx])
    y = np.concatenate([ry, wy, fy])
    order_key = np.concatenate([np.zeros(len(rx)), np.ones(len(fx)), np.full(len(fx), 2.0)])
    order = np.lexsort((order_key, x))
    anchors: list[tuple[datetime, int, datetime, Sequence[ProgramSegment]]] = []
    starts = [(r.at, r.added_ul) for r in confirmed]
    if len(rx) and (not starts or rx[0] < starts[0][0].timestamp()):
        first = readings.program_readings[0]  # the first reading is always kept in full
        starts.insert(0, (first.at, first.reservoir_ul))
    last_reading_at = readings.last.at if readings.last is not None else None
    for i, (at, volume) in enumerate(starts):
        if i + 1 < len(starts):
            end = starts[i + 1][0]
        elif last_reading_at is not None and last_reading_at > at:
            end = last_reading_at
        else:
            continue
        segments, _notes = timeline.segments(at, end, fills.get(at))
        anchors.append((at, volume, end, segments))
    ex, ey = expected_depletion(anchors)
    px, py, note = _projection(fc)
    alarm_ul = readings.last.alarm_volume_ul if readings.last is not None else pump.alarm_volume_ul
    return ReservoirTrend(
        capacity_ml=pump.reservoir_capacity_ul / UL_PER_ML,
        alarm_volume_ml=alarm_ul / UL_PER_ML,
        recorded_x=x[order],
        recorded_y=y[order],
        readings_x=rx,
        readings_y=ry,
        refills_x=fx,
        withdrawn_y=wy,
        filled_y=fy,
        expected_x=ex,
        expected_y=ey,
        forecast=fc,
        projection_x=px,
        projection_y=py,
        note=note,
    )


def _projection(fc: Forecast) -> tuple[FloatArray, FloatArray, str]:
    """The line from the forecast's anchor (the latest known volume) to its low-reservoir
    alarm: the same instant the Overview, the list and the worklist show."""
    if not fc.has_data or fc.anchor_at is None or fc.anchor_volume_ul is None:
        return _arr(), _arr(), "No reading yet: no alarm date can be projected."
    if not fc.delivering:
        return _arr(), _arr(), f"{fc.not_delivering_reason} No alarm date is projected."
    if fc.alarm_at is None:
        return _arr(), _arr(), "The program delivers nothing: no alarm will sound."
    px = _arr([fc.anchor_at.timestamp(), fc.alarm_at.timestamp()])
    volume = fc.anchor_volume_ul
    py = _arr([volume / UL_PER_ML, min(volume, fc.alarm_volume_ul) / UL_PER_ML])
    return px, py, ""


def _dose(
    segments: Sequence[ProgramSegment], changes: Sequence[ProgramChange], end: datetime
) -> DoseTrend | None:
    if not segments:
        return None
    xs: list[float] = []
    ys: list[float] = []
    for i, seg in enumerate(segments):
        seg_end = segments[i + 1].start if i + 1 < len(segments) else max(end, seg.start)
        dose = float(dosing.program_daily_dose_mcg(seg.program))
        xs += [seg.start.timestamp(), seg_end.timestamp()]
        ys += [dose, dose]
    steps = []
    for c in sorted(changes, key=lambda c: c.at):
        before = dosing.program_daily_dose_mcg(c.old)
        after = dosing.program_daily_dose_mcg(c.new)
        steps.append(
            DoseStep(c.at, before, after, dosing.dose_change(before, after), c.reason, c.outcome)
        )
    shown = [s for s in steps if s.outcome == ChangeOutcome.SUCCEEDED]
    return DoseTrend(
        step_x=_arr(xs),
        step_y=_arr(ys),
        changes=tuple(steps),
        changes_x=_arr([s.at.timestamp() for s in shown]),
        changes_y=_arr([float(s.after_mcg) for s in shown]),
    )


_EVENT_LABELS = {
    "refill": ("Refill (pump log)", 1),
    "program_change": ("Program changed (pump log)", 1),
    "patient_bolus": ("Patient bolus", 1),
    "patient_bolus_denied": ("Patient bolus refused (lockout or limit)", 1),
    "single_bolus": ("Single bolus", 1),
    "bridge_bolus": ("Bridge bolus", 1),
    "delivery_stopped": ("Delivery stopped", 3),
    "delivery_resumed": ("Delivery resumed", 1),
    "alarm_cleared": ("Alarm cleared", 1),
    "alarm_acknowledged": ("Alarm acknowledged", 1),
    "alarm_test": ("Alarm test", 1),
    "clock_set": ("Pump clock set", 1),
    "reset": ("Pump reset", 3),
}


def _markers(readings: ReadingColumns, events: Sequence[EventRow]) -> list[Marker]:
    """Pump log events, and the first reading of each run showing an alarm."""
    out: list[Marker] = []
    for event in events:
        if event.kind == "alarm_raised":
            info = ALARMS.get(event.alarm)
            label = f"Alarm: {info.title if info else event.alarm or 'unknown'}"
            out.append(Marker(event.at, event.kind, label, int(info.severity) if info else 2))
            continue
        label, severity = _EVENT_LABELS.get(
            event.kind, (event.kind.replace("_", " ").capitalize(), 1)
        )
        out.append(Marker(event.at, event.kind, label, severity))
    shown = dict(readings.alarm_readings)
    for index, alarms in readings.alarm_readings:
        before = frozenset(shown.get(index - 1, ()))
        at = datetime.fromtimestamp(float(readings.at_s[index]), UTC)
        for info in sorted_alarms(sorted(frozenset(alarms) - before)):
            out.append(
                Marker(
                    at, "reading_alarm", f"Alarm at interrogation: {info.title}", int(info.severity)
                )
            )
    out.sort(key=lambda m: m.at)
    return out


def event_rows_of(events: Sequence[PumpEvent]) -> list[EventRow]:
    """Pump log entries already in memory as the markers read them."""
    out = []
    for event in events:
        detail = event.detail or {}
        out.append(EventRow(event.at, event.kind, str(detail.get("alarm", detail.get("code", "")))))
    return out


NO_PUMP = (
    "No pump is registered to this patient, so there is "
    "nothing to plot. Register a pump, then interrogate it."
)


def build_trends(
    history: PatientHistory,
    tz: tzinfo,
    now: datetime,
    *,
    pump: Pump | None = None,
    settings: TrendSettings | None = None,
    forecast: Forecast | None = None,
    bridges: dict[datetime, tuple[int, int]] | None = None,
) -> PatientTrends:
    """The Trends tab's series for ``pump`` (default: the pump registered last) of the
    patient whose ``history`` this is. ``now`` ends the dose steps; ``tz`` is the
    clinic's zone for dates. ``forecast`` is the pump's forecast as the clinic service
    gives it to every screen (computed here from ``history`` when not given), so the
    projected alarm, ERI and End of Service are the very dates the Overview shows."""
    settings = settings or TrendSettings()
    if pump is None and history.pumps:
        pump = history.pumps[-1]
    if pump is None:
        return empty_trends(tz, now, None, NO_PUMP, history.patient)
    serial = pump.serial
    readings = sorted((r for r in history.readings if r.pump_serial == serial), key=lambda r: r.at)
    refills = sorted((r for r in history.refills if r.pump_serial == serial), key=lambda r: r.at)
    changes = sorted(
        (c for c in history.program_changes if c.pump_serial == serial), key=lambda c: c.at
    )
    events = event_rows_of([e for e in history.events if e.pump_serial == serial])
    if forecast is None and (readings or refills):
        bridge_of = (bridges or {}).get
        facts = facts_from(
            serial,
            pump.alarm_volume_ul,
            readings,
            refills,
            changes,
            interval_of=lambda _p, _c: None,
            bridge_of=lambda r: bridge_of(r.at, (0, 0)),
        )
        forecast = make_forecast(facts, settings.clinic.with_tz(tz))
    records = TrendRecords(
        history.patient,
        pump,
        ReadingColumns.from_readings(readings),
        tuple(refills),
        tuple(changes),
        tuple(events),
        dict(bridges or {}),
    )
    return trends_from_records(records, tz, now, settings, forecast)


def trends_from_records(
    records: TrendRecords,
    tz: tzinfo,
    now: datetime,
    settings: TrendSettings,
    forecast: Forecast | None,
) -> PatientTrends:
    """Every series from one pump's records; ``forecast`` is the pump's forecast (None only
    when it has neither a reading nor a refill, and then nothing is plotted)."""
    pump, cols = records.pump, records.readings
    refills, changes = records.refills, records.changes
    if not len(cols) and not refills:
        return empty_trends(
            tz,
            now,
            pump,
            f"No readings or refills of pump {pump.serial} yet. Interrogate "
            "the pump and its trends start from that reading.",
            records.patient,
        )
    assert forecast is not None, "a pump with records has a forecast"
    fc = forecast
    firsts = [
        t
        for t in (
            cols.program_readings[0].at if len(cols) else None,
            refills[0].at if refills else None,
            changes[0].at if changes else None,
        )
        if t is not None
    ]
    start = min(firsts)
    implant_at = _local_midnight(pump.implant_date, tz) if pump.implant_date else None
    if implant_at is not None:
        start = min(start, implant_at)
    bridge_of = records.bridges.get
    fills = {
        f.at: f
        for f in facts_from(
            pump.serial,
            pump.alarm_volume_ul,
            (),
            refills,
            (),
            interval_of=lambda _p, _c: None,
            bridge_of=lambda r: bridge_of(r.at, (0, 0)),
        ).fills
    }
    timeline = ProgramTimeline(cols.program_readings, changes)
    reservoir = _reservoir(pump, cols, refills, timeline, fills, fc)

    battery = None
    if len(cols):
        outlook = battery_outlook(
            cols.at_s,
            cols.battery_mv,
            cols.eri,
            cols.eos,
            threshold_mv=settings.eri_threshold_mv,
            fit_days=settings.battery_fit_days,
            eos_after_eri=settings.clinic.eri_to_eos,
            tz=tz,
        )
        outlook = with_forecast_dates(outlook, fc, tz, implant_at)
        fit_x, fit_y = _arr(), _arr()
        if outlook.fit is not None:
            line_end = outlook.line_eri_at or outlook.eri_at or outlook.fit.last
            if outlook.life_to is not None:
                line_end = min(line_end, outlook.life_to)  # not drawn past the battery's life
            end_s = max(line_end.timestamp(), outlook.fit.last.timestamp())
            fit_x = _arr([outlook.fit.first.timestamp(), end_s])
            fit_y = outlook.fit.mv_at(fit_x)
        battery = BatteryTrend(cols.at_s, cols.battery_mv, outlook, fit_x, fit_y, implant_at)

    last_at = cols.last.at if cols.last is not None else now
    end = max(now, last_at)
    dose_segments = timeline.segments(start, end)[0] if timeline else ()
    dose = _dose(dose_segments, changes, end)
    acc, notes = refill_accuracies(refills, pump.reservoir_capacity_ul, settings.thresholds, tz)
    values = [a.accuracy_pct for a in acc]
    drift = detect_drift(values, [a.at for a in acc], settings.drift)
    accuracy = AccuracyTrend(
        x=_arr([a.at.timestamp() for a in acc]),
        pct=_arr([float(v) for v in values]),
        refills=tuple(acc),
        low_pct=float(settings.thresholds.accuracy_low_pct),
        high_pct=float(settings.thresholds.accuracy_high_pct),
        drift=drift,
        notes=tuple(notes),
    )
    markers = _markers(cols, records.events)
    sev = np.fromiter((m.severity for m in markers), np.int64, len(markers))
    lo = start.timestamp()
    hi = max(
        end.timestamp(),
        float(np.nanmax(reservoir.projection_x)) if len(reservoir.projection_x) else lo,
    )
    message = ""
    if len(cols) + len(refills) < 3:
        message = (
            "Only a few records so far: the trends fill in as the pump is interrogated "
            "and refilled."
        )
    return PatientTrends(
        tz=tz,
        now=now,
        pump=pump,
        message=message,
        reservoir=reservoir,
        battery=battery,
        dose=dose,
        accuracy=accuracy,
        markers=tuple(markers),
        markers_x=_arr([m.at.timestamp() for m in markers]),
        markers_severity=sev,
        x_range=(lo, hi),
        patient=records.patient,
    )


def empty_trends(
    tz: tzinfo, now: datetime, pump: Pump | None, message: str, patient: Patient | None = None
) -> PatientTrends:
    t = now.timestamp()
    return PatientTrends(
        tz,
        now,
        pump,
        message,
        None,
        None,
        None,
        None,
        (),
        _arr(),
        np.zeros(0, np.int64),
        (t - 86_400 * 30, t),
        patient,
    )


def load_trends(
    history: PatientHistory,
    owner_of: Callable[[str], int | None],
    tz: tzinfo,
    now: datetime,
    settings: TrendSettings | None = None,
    forecast_of: Callable[[str], Forecast] | None = None,
    bridges_of: Callable[[str], dict[datetime, tuple[int, int]]] | None = None,
) -> PatientTrends:
    """The trends of the pump registered to the patient now (``owner_of(serial)`` is the
    store's owner look-up); a patient with no pump now gets the empty message."""
    pid = history.patient.id
    pump = next((p for p in reversed(history.pumps) if owner_of(p.serial) == pid), None)
    if pump is None:
        return empty_trends(tz, now, None, NO_PUMP, history.patient)
    return build_trends(
        history,
        tz,
        now,
        pump=pump,
        settings=settings,
        forecast=forecast_of(pump.serial) if forecast_of else None,
        bridges=bridges_of(pump.serial) if bridges_of else None,
    )


__all__ = [
    "NO_PUMP",
    "AccuracyTrend",
    "BatteryTrend",
    "DoseStep",
    "DoseTrend",
    "Marker",
    "PatientTrends",
    "ReservoirTrend",
    "TrendRecords",
    "TrendSettings",
    "build_trends",
    "empty_trends",
    "event_rows_of",
    "expected_depletion",
    "load_trends",
    "trends_from_records",
]
