"""Series for the Trends tab, built from a patient's stored history without Qt.

Why here and not in the view: every figure on the plots (the expected depletion, the alarm
projection, accuracy, drift, the battery dates) is clinical arithmetic and must be tested
like the rest of the core. The view only draws these arrays.

Conventions: x values are float64 epoch seconds (absolute time, UTC); the view labels them
in the clinic's zone (:mod:`itbconsole.trends.timeaxis`). Volumes are plotted in mL,
voltages in mV, doses in mcg per 24 h, accuracy in %. Arrays never hold Python objects, so
drawing ten years of hourly readings costs no per-point Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, tzinfo
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from itbconsole import dosing
from itbconsole.alarms import ALARMS, sorted_alarms
from itbconsole.forecast import PUMP_CLOCK, Fill, Forecast, ProgramTimeline, facts_from
from itbconsole.forecast import forecast as make_forecast
from itbconsole.model import (
    ChangeOutcome,
    Mode,
    ProgramChange,
    ProgramSegment,
    Pump,
    Reading,
    Refill,
    RefillStatus,
)
from itbconsole.settings import ClinicSettings
from itbconsole.store.queries import PatientHistory
from itbconsole.trends.accuracy import (
    Drift,
    DriftRule,
    RefillAccuracy,
    detect_drift,
    refill_accuracies,
)
from itbconsole.trends.battery import DEFAULT_ERI_THRESHOLD_MV, BatteryOutlook, battery_outlook
from itbconsole.units import UL_PER_ML

FloatArray = npt.NDArray[np.float64]


def _arr(values: Sequence[float] | FloatArray = ()) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class TrendSettings:
    """Clinic settings the trends depend on, with the console's defaults."""

    eri_threshold_mv: int = DEFAULT_ERI_THRESHOLD_MV
    battery_fit_days: int = 730
    thresholds: dosing.DiscrepancyThresholds = field(default_factory=dosing.DiscrepancyThresholds)
    drift: DriftRule = field(default_factory=DriftRule)
    clinic: ClinicSettings = field(default_factory=ClinicSettings)
    """The clinic's settings, for the forecast when the caller does not hand one in."""
    samples_per_fill: int = 60
    """Points of expected depletion between two fills for flex and bolus programs (a simple
    continuous program is a straight line and needs only its end points)."""


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

    @property
    def empty(self) -> bool:
        return self.reservoir is None


# --------------------------------------------------------------------------- program history


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _needs_samples(segments: Sequence[ProgramSegment]) -> bool:
    return any(s.program.mode in (Mode.FLEX, Mode.SINGLE_BOLUS) for s in segments)


def expected_depletion(
    anchors: Sequence[tuple[datetime, int, datetime, Sequence[ProgramSegment]]],
    samples_per_fill: int = 60,
) -> tuple[FloatArray, FloatArray]:
    """Expected reservoir volume (mL) from each anchor (start, volume µL, end, the program
    periods from :class:`itbconsole.forecast.ProgramTimeline`) to its end.

    Each point is the anchor's volume minus the programmed delivery since the anchor,
    summed piece by piece with :func:`itbconsole.dosing.segments_delivered_ul` (flex steps
    on the pump's clock, UTC, as the refill's expected residual counts them), never below 0.
    Curves are separated by NaN.
    """
    xs: list[float] = []
    ys: list[float] = []
    tz = PUMP_CLOCK
    for start, volume_ul, end, segments in anchors:
        if end <= start or not segments:
            continue
        flexible = _needs_samples(segments)
        s0, s1 = start.timestamp(), end.timestamp()
        cut_s = {s0, s1} | {seg.start.timestamp() for seg in segments if start < seg.start < end}
        if flexible:
            cut_s |= set(np.linspace(s0, s1, samples_per_fill).tolist())
        cuts = [datetime.fromtimestamp(round(c), UTC) for c in sorted(cut_s)]
        cuts[0], cuts[-1] = start, end
        delivered = Fraction(0)
        previous = start
        for cut in cuts:
            if cut > previous:
                delivered += dosing.segments_delivered_ul(segments, previous, cut, tz)
                previous = cut
            xs.append(cut.timestamp())
            ys.append(float(max(Fraction(volume_ul) - delivered, Fraction(0)) / UL_PER_ML))
        xs.append(np.nan)
        ys.append(np.nan)
    return _arr(xs), _arr(ys)


# --------------------------------------------------------------------------- building


def _reservoir(
    pump: Pump,
    readings: Sequence[Reading],
    refills: Sequence[Refill],
    timeline: ProgramTimeline,
    fills: dict[datetime, Fill],
    fc: Forecast,
    settings: TrendSettings,
    rx: FloatArray,
) -> ReservoirTrend:
    confirmed = [r for r in refills if r.status == RefillStatus.CONFIRMED]
    ry = np.fromiter((r.reservoir_ul for r in readings), np.float64, len(readings)) / UL_PER_ML
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
    if readings and (not starts or readings[0].at < starts[0][0]):
        starts.insert(0, (readings[0].at, readings[0].reservoir_ul))
    last_reading_at = readings[-1].at if readings else None
    for i, (at, volume) in enumerate(starts):
        if i + 1 < len(starts):
            end = starts[i + 1][0]
        elif last_reading_at is not None and last_reading_at > at:
            end = last_reading_at
        else:
            continue
        segments, _notes = timeline.segments(at, end, fills.get(at))
        anchors.append((at, volume, end, segments))
    ex, ey = expected_depletion(anchors, settings.samples_per_fill)
    px, py, note = _projection(fc)
    return ReservoirTrend(
        capacity_ml=pump.reservoir_capacity_ul / UL_PER_ML,
        alarm_volume_ml=(readings[-1].alarm_volume_ul if readings else pump.alarm_volume_ul)
        / UL_PER_ML,
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


def _markers(readings: Sequence[Reading], events: Sequence[object]) -> list[Marker]:
    """Pump log events, and the first reading of each run showing an alarm."""
    out: list[Marker] = []
    for event in events:
        kind = str(getattr(event, "kind", ""))
        at = getattr(event, "at", None)
        if not isinstance(at, datetime):
            continue
        detail = getattr(event, "detail", {}) or {}
        if kind == "alarm_raised":
            code = str(detail.get("alarm", detail.get("code", "")))
            info = ALARMS.get(code)
            label = f"Alarm: {info.title if info else code or 'unknown'}"
            out.append(Marker(at, kind, label, int(info.severity) if info else 2))
            continue
        label, severity = _EVENT_LABELS.get(kind, (kind.replace("_", " ").capitalize(), 1))
        out.append(Marker(at, kind, label, severity))
    active: frozenset[str] = frozenset()
    for reading in readings:
        now_active = frozenset(reading.alarms)
        for info in sorted_alarms(sorted(now_active - active)):
            out.append(
                Marker(
                    reading.at,
                    "reading_alarm",
                    f"Alarm at interrogation: {info.title}",
                    int(info.severity),
                )
            )
        active = now_active
    out.sort(key=lambda m: m.at)
    return out


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
        return _empty(
            tz,
            now,
            None,
            "No pump is registered to this patient, so there is "
            "nothing to plot. Register a pump, then interrogate it.",
        )
    serial = pump.serial
    readings = sorted((r for r in history.readings if r.pump_serial == serial), key=lambda r: r.at)
    refills = sorted((r for r in history.refills if r.pump_serial == serial), key=lambda r: r.at)
    changes = sorted(
        (c for c in history.program_changes if c.pump_serial == serial), key=lambda c: c.at
    )
    events = [e for e in history.events if e.pump_serial == serial]
    if not readings and not refills:
        return _empty(
            tz,
            now,
            pump,
            f"No readings or refills of pump {serial} yet. Interrogate "
            "the pump and its trends start from that reading.",
        )
    firsts = [x[0].at for x in (readings, refills, changes) if x]
    start = min(firsts)
    implant_at = _local_midnight(pump.implant_date, tz) if pump.implant_date else None
    if implant_at is not None:
        start = min(start, implant_at)
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
    fc = forecast if forecast is not None else make_forecast(facts, settings.clinic.with_tz(tz))
    fills = {f.at: f for f in facts.fills}
    timeline = ProgramTimeline(readings, changes)
    rx = np.fromiter((r.at.timestamp() for r in readings), np.float64, len(readings))
    reservoir = _reservoir(pump, readings, refills, timeline, fills, fc, settings, rx)

    battery = None
    if readings:
        mv = np.fromiter((r.battery_mv for r in readings), np.float64, len(readings))
        eri = np.fromiter((r.eri for r in readings), np.bool_, len(readings))
        eos = np.fromiter((r.eos for r in readings), np.bool_, len(readings))
        outlook = battery_outlook(
            rx,
            mv,
            eri,
            eos,
            threshold_mv=settings.eri_threshold_mv,
            fit_days=settings.battery_fit_days,
            eos_after_eri=settings.clinic.eri_to_eos,
        )
        outlook = _with_forecast_dates(outlook, fc, tz)
        fit_x, fit_y = _arr(), _arr()
        if outlook.fit is not None:
            end_s = (outlook.eri_at or outlook.fit.last).timestamp()
            fit_x = _arr([outlook.fit.first.timestamp(), max(end_s, outlook.fit.last.timestamp())])
            fit_y = outlook.fit.mv_at(fit_x)
        battery = BatteryTrend(rx, mv, outlook, fit_x, fit_y, implant_at)

    end = max(now, readings[-1].at if readings else now)
    dose_segments = timeline.segments(start, end)[0] if timeline else ()
    dose = _dose(dose_segments, changes, end)
    acc, notes = refill_accuracies(refills, pump.reservoir_capacity_ul, settings.thresholds)
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
    markers = _markers(readings, events)
    sev = np.fromiter((m.severity for m in markers), np.int64, len(markers))
    lo = start.timestamp()
    hi = max(
        end.timestamp(),
        float(np.nanmax(reservoir.projection_x)) if len(reservoir.projection_x) else lo,
    )
    message = ""
    if len(readings) + len(refills) < 3:
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
    )


def _with_forecast_dates(outlook: BatteryOutlook, fc: Forecast, tz: tzinfo) -> BatteryOutlook:
    """ERI and End of Service as the forecast has them (the pump's own dates first), in
    place of the voltage fit's: the fit only projects a date the forecast does not have."""
    if fc.eri is None and fc.end_of_service is None:
        return outlook
    eri_at = _local_midnight(fc.eri.day, tz) if fc.eri is not None else outlook.eri_at
    eos_at = _local_midnight(fc.end_of_service.day, tz) if fc.end_of_service is not None else None
    notes = [e.note for e in (fc.eri, fc.end_of_service) if e is not None]
    return replace(
        outlook,
        eri_at=eri_at,
        eri_observed=fc.eri is not None and not fc.eri.projected,
        eos_at=eos_at,
        eos_projected=fc.end_of_service is None or fc.end_of_service.projected,
        note="; ".join(notes) + ".",
    )


def _empty(tz: tzinfo, now: datetime, pump: Pump | None, message: str) -> PatientTrends:
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
        return _empty(
            tz,
            now,
            None,
            "No pump is registered to this patient, so there is "
            "nothing to plot. Register a pump, then interrogate it.",
        )
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
    "AccuracyTrend",
    "BatteryTrend",
    "DoseStep",
    "DoseTrend",
    "Marker",
    "PatientTrends",
    "ReservoirTrend",
    "TrendSettings",
    "build_trends",
    "expected_depletion",
    "load_trends",
]
