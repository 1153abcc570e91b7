"""Trends tab: reservoir, battery, daily dose, delivery accuracy and events of one pump, on
one shared, zoomable local-time axis.

The view draws the arrays that :mod:`itbconsole.trends` builds and computes nothing
clinical itself. Why it is built this way:

* one X axis for all plots (``setXLink``) so a refill, a dose change and a drop in accuracy
  line up under the crosshair;
* the axis labels instants in the *clinic's* zone, by :func:`itbconsole.trends.local_ticks`,
  not the computer's, so times are right on both sides of a clock change;
* long series (years of hourly readings) stay fast: arrays are drawn as they are
  (no per-point Python), with ``setClipToView`` and automatic peak downsampling, and Y
  ranges are fixed per plot so a pan redraws without rescanning the data;
* zoom and pan act on time only: a clinician compares dates, and a dragged volume axis
  would only mislead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from itbconsole.model import ChangeOutcome
from itbconsole.trends import (
    PatientTrends,
    format_local,
    format_local_date,
    local_ticks,
    to_local,
)
from itbconsole.units import fmt_ml

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService


BLUE = "#1f5fa8"
GREY = "#7f8c9a"
RED = "#b00020"
ORANGE = "#c25e00"
GREEN = "#2e7d32"
PURPLE = "#6a3d9a"
AXIS = "#3b4b5c"
SEVERITY_COLOURS = {1: "#5b6b7c", 2: ORANGE, 3: RED}
LARGE = 2_000  # above this many points a series is drawn as a line without symbols

WARNING_STYLE = (
    "QLabel { background: #f8d7da; color: #5c0a14; border: 1px solid #e2a3aa;"
    " border-radius: 4px; padding: 4px 8px; }"
)
KEY_HTML = (
    "<span style='font-size:9pt; color:#3b4b5c'>"
    f"<span style='color:{BLUE}'>&#9473;</span> readings and refills &nbsp; "
    f"<span style='color:{BLUE}'>&#9661;</span> withdrawn at refill &nbsp; "
    f"<span style='color:{GREY}'>&#9476;</span> expected by program &nbsp; "
    f"<span style='color:{ORANGE}'>&#8943;</span> projection to alarm &nbsp; "
    f"<span style='color:{RED}'>&#9476;</span> alarm or ERI level &nbsp; "
    f"<span style='color:#9aa5b1'>&#8231;&#9474;</span> today"
    "</span>"
)


class ClinicDateAxis(pg.DateAxisItem):
    """A date axis whose ticks sit on local calendar boundaries of the clinic's zone."""

    def __init__(self, tz: tzinfo, **kwargs: Any) -> None:
        super().__init__(orientation="bottom", **kwargs)
        self.tz = tz
        self._labels: dict[float, str] = {}

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:
        ticks = local_ticks(minVal, maxVal, self.tz, max(2, int(size // 95)))
        self._labels = dict(ticks)
        return [(1.0, [value for value, _ in ticks])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._labels.get(v, "") for v in values]


def _pen(colour: str, width: float = 1.5, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> Any:
    return pg.mkPen(colour, width=width, style=style)


def _ml_text(ul: int | None) -> str:
    """A volume in mL, exact (no float), or "not recorded"."""
    return "not recorded" if ul is None else fmt_ml(ul, 3)


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


class TrendsView(QWidget):
    """Shows one patient's history as plots. ``show_patient`` is called by the main window
    whenever the open patient changes or new data is saved while the tab is visible."""

    PLOTS = ("reservoir", "battery", "dose", "accuracy", "events")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trends: PatientTrends | None = None
        #: Where the Export button saves; replaced in tests (no modal dialog).
        self.ask_export_path: Callable[[], str | None] = self._ask_export_path

        self.title = _label(name="cardTitle")
        self.summary = _label(name="detail")
        self.export_button = QPushButton("E&xport PNG...")
        self.export_button.setToolTip("Save these plots as a PNG image")
        self.reset_button = QPushButton("Show &all")
        self.reset_button.setToolTip("Zoom out to the whole history")
        self.warning = _label()
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setAccessibleName("Delivery drift warning")
        self.message = QLabel("Choose a patient to see their trends.")
        self.message.setObjectName("emptyMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.key = _label()
        self.key.setText(KEY_HTML)
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setAccessibleName("Plot key")
        self.readout = _label(name="detail")
        self.readout.setAccessibleName("Values under the pointer")
        self.readout.setMinimumHeight(34)
        self.readout.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(0)
        self.plots: dict[str, pg.PlotItem] = {}
        self.axes: dict[str, ClinicDateAxis] = {}
        self.crosshairs: list[pg.InfiniteLine] = []
        self._build_plots()

        top = QHBoxLayout()
        heading = QVBoxLayout()
        heading.setSpacing(2)
        heading.addWidget(self.title)
        heading.addWidget(self.summary)
        top.addLayout(heading, 1)
        top.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.warning)
        layout.addWidget(self.message)
        layout.addWidget(self.key)
        layout.addWidget(self.readout)
        layout.addWidget(self.graphics, 1)

        self.export_button.clicked.connect(self._export_clicked)
        self.reset_button.clicked.connect(self.show_all)
        self._mouse_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=60, slot=self._mouse_moved
        )
        self._show_nothing("Choose a patient to see their trends.")

    # ------------------------------------------------------------------ building

    def _build_plots(self) -> None:
        labels = {
            "reservoir": "Reservoir, mL",
            "battery": "Battery, mV",
            "dose": "Daily dose, mcg/24 h",
            "accuracy": "Delivery accuracy per refill, %",
            "events": "Alarms and pump events",
        }
        stretch = {"reservoir": 3, "battery": 2, "dose": 2, "accuracy": 2, "events": 1}
        first: pg.PlotItem | None = None
        for row, name in enumerate(self.PLOTS):
            axis = ClinicDateAxis(ZoneInfo("UTC"))
            plot = self.graphics.addPlot(row=row, col=0, axisItems={"bottom": axis})
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMouseEnabled(x=True, y=False)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            # No grid: the axis draws grid lines as translucent full-length ticks, which cost
            # as much as all the data together on every pan frame (measured); the alarm,
            # ERI and 100 % reference lines and the crosshair readout serve the reader better.
            title = pg.TextItem(labels[name], color=AXIS, anchor=(0, 0))
            title.setParentItem(plot.vb)  # fixed in the corner while the data pans
            title.setPos(2, 0)
            title.setZValue(60)
            for side in ("left", "bottom"):
                ax = plot.getAxis(side)
                ax.setPen(AXIS)
                ax.setTextPen(AXIS)
            plot.getAxis("left").setWidth(46)
            if name != "events":
                axis.setStyle(showValues=False)
                axis.setHeight(6)
            self.graphics.ci.layout.setRowStretchFactor(row, stretch[name])
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            line = pg.InfiniteLine(angle=90, movable=False, pen=_pen(GREY, 1, Qt.PenStyle.DashLine))
            line.setVisible(False)
            line.setZValue(50)
            plot.addItem(line, ignoreBounds=True)
            self.crosshairs.append(line)
            self.plots[name] = plot
            self.axes[name] = axis
        events = self.plots["events"]
        events.getAxis("left").setTicks([[(1, "info"), (2, "warning"), (3, "urgent")]])
        events.setYRange(0.5, 4.3, padding=0)

    def _clear_plots(self) -> None:
        for plot, line in zip(self.plots.values(), self.crosshairs, strict=True):
            for item in list(plot.items):
                if item is not line:
                    plot.removeItem(item)
            if plot.legend is not None:
                scene = plot.legend.scene()
                plot.legend.setParentItem(None)
                if scene is not None:
                    scene.removeItem(plot.legend)
                plot.legend = None

    # ------------------------------------------------------------------ showing

    def show_patient(self, clinic: ClinicService, patient_id: int | None, now: datetime) -> None:
        """Load and draw ``patient_id``'s history (None clears the tab)."""
        if patient_id is None:
            self._show_nothing("Choose a patient to see their trends.")
            return
        trends = clinic.trends(patient_id, now)
        name = clinic.patient(patient_id).display_name
        self.show_trends(trends, name)

    def _show_nothing(self, text: str) -> None:
        self.trends = None
        self.title.setText("Trends")
        self.summary.setText("")
        self.warning.hide()
        self.message.setText(text)
        self.message.show()
        self.graphics.hide()
        self.readout.hide()
        self.export_button.setEnabled(False)
        self.reset_button.setEnabled(False)

    def show_trends(self, trends: PatientTrends, patient_name: str = "") -> None:
        """Draw prepared series (the benchmark and tests call this directly)."""
        self._clear_plots()
        self.trends = trends
        pump = trends.pump
        self.title.setText(
            f"Trends{' for ' + patient_name if patient_name else ''}"
            + (f"  ·  pump {pump.serial}" if pump else "")
        )
        if trends.empty:
            self._show_nothing(trends.message)
            self.title.setText(f"Trends{' for ' + patient_name if patient_name else ''}")
            return
        for axis in self.axes.values():
            axis.tz = trends.tz
        self.message.setText(trends.message)
        self.message.setVisible(bool(trends.message))
        self.graphics.show()
        self.readout.show()
        self.export_button.setEnabled(True)
        self.reset_button.setEnabled(True)
        self._draw_reservoir(trends)
        self._draw_battery(trends)
        self._draw_dose(trends)
        self._draw_accuracy(trends)
        self._draw_events(trends)
        self._draw_now(trends)
        self.summary.setText(self._summary_text(trends))
        drift = trends.accuracy.drift if trends.accuracy else None
        self.warning.setText(_warning_html(drift.message) if drift else "")
        self.warning.setVisible(drift is not None)
        self.show_all()
        self.readout_at(trends.now.timestamp())

    def show_all(self) -> None:
        """Zoom out to the whole history and the projections."""
        if self.trends is None:
            return
        lo, hi = self.trends.x_range
        pad = max((hi - lo) * 0.02, 86_400.0)
        far = hi + 20 * pad
        bat = self.trends.battery
        if bat is not None and bat.outlook.eos_at is not None:
            far = max(far, bat.outlook.eos_at.timestamp() + 10 * pad)  # room to see EOS
        for plot in self.plots.values():
            plot.setLimits(xMin=lo - 20 * pad, xMax=far, minXRange=3_600.0)
        self.plots["reservoir"].setXRange(lo - pad, hi + pad, padding=0)

    # ------------------------------------------------------------------ plots

    def _draw_reservoir(self, trends: PatientTrends) -> None:
        plot, res = self.plots["reservoir"], trends.reservoir
        assert res is not None
        many = len(res.recorded_x) > LARGE
        plot.plot(
            res.recorded_x,
            res.recorded_y,
            pen=_pen(BLUE, 1 if many else 1.5),
            name="Readings and refills",
            symbol=None if many else "o",
            symbolSize=4,
            symbolBrush=BLUE,
            symbolPen=None,
            skipFiniteCheck=True,
        )
        plot.plot(
            res.expected_x,
            res.expected_y,
            pen=_pen(GREY, 1.5, Qt.PenStyle.DashLine),
            connect="finite",
            name="Expected by program",
        )
        if len(res.projection_x):
            plot.plot(
                res.projection_x,
                res.projection_y,
                pen=_pen(ORANGE, 2, Qt.PenStyle.DotLine),
                name="Projection to alarm",
            )
            forecast = res.forecast
            assert forecast is not None and forecast.alarm_at is not None
            text = pg.TextItem(
                f"alarm {format_local_date(forecast.alarm_at, trends.tz)}",
                color=ORANGE,
                anchor=(1, 1),
            )
            text.setPos(res.projection_x[-1], res.projection_y[-1] + 1)
            plot.addItem(text, ignoreBounds=True)
        alarm = pg.InfiniteLine(
            res.alarm_volume_ml,
            angle=0,
            pen=_pen(RED, 1, Qt.PenStyle.DashLine),
            label=f"low-reservoir alarm {res.alarm_volume_ml:g} mL",
            labelOpts={"position": 0.02, "color": RED, "anchors": [(0, 1), (0, 1)]},
        )
        plot.addItem(alarm, ignoreBounds=True)
        if len(res.refills_x):
            plot.plot(
                res.refills_x,
                res.withdrawn_y,
                pen=None,
                symbol="t",
                symbolSize=7,
                symbolBrush=None,
                symbolPen=_pen(BLUE, 1.2),
                name="Withdrawn at refill",
            )
        plot.setYRange(0, res.capacity_ml * 1.3, padding=0)  # headroom for the title

    def _draw_battery(self, trends: PatientTrends) -> None:
        plot, bat = self.plots["battery"], trends.battery
        if bat is None:
            return
        out = bat.outlook
        many = len(bat.x) > LARGE
        plot.plot(
            bat.x,
            bat.mv,
            pen=_pen(GREEN, 1 if many else 1.5),
            symbol=None if many else "o",
            symbolSize=4,
            symbolBrush=GREEN,
            symbolPen=None,
            skipFiniteCheck=True,
        )
        if len(bat.fit_x):
            plot.plot(bat.fit_x, bat.fit_y, pen=_pen(GREEN, 1.2, Qt.PenStyle.DashLine))
        plot.addItem(
            pg.InfiniteLine(
                out.threshold_mv,
                angle=0,
                pen=_pen(RED, 1, Qt.PenStyle.DashLine),
                label=f"ERI {out.threshold_mv} mV",
                labelOpts={"position": 0.98, "color": RED, "anchors": [(1, 1), (1, 1)]},
            ),
            ignoreBounds=True,
        )
        marks: list[tuple[datetime | None, str, str]] = [
            (bat.implant_at, "implant", AXIS),
            (out.eri_at, "ERI" if out.eri_observed else "ERI (projected)", RED),
            (out.eos_at, "End of Service", RED),
        ]
        for when, text, colour in marks:
            if when is None:
                continue
            plot.addItem(
                pg.InfiniteLine(
                    when.timestamp(),
                    angle=90,
                    pen=_pen(colour, 1, Qt.PenStyle.DotLine),
                    label=text,
                    labelOpts={"position": 0.45, "color": colour, "anchors": [(0, 0.5), (0, 0.5)]},
                ),
                ignoreBounds=True,
            )
        values = np.concatenate([bat.mv, [out.threshold_mv]])
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        span = max(hi - lo, 100.0)
        plot.setYRange(lo - 0.15 * span, hi + 0.6 * span, padding=0)  # headroom for the title

    def _draw_dose(self, trends: PatientTrends) -> None:
        plot, dose = self.plots["dose"], trends.dose
        if dose is None:
            return
        plot.plot(dose.step_x, dose.step_y, pen=_pen(PURPLE, 2))
        shown = [c for c in dose.changes if c.outcome == ChangeOutcome.SUCCEEDED]
        if shown:
            scatter = pg.ScatterPlotItem(
                dose.changes_x,
                dose.changes_y,
                size=9,
                brush=pg.mkBrush(PURPLE),
                pen=pg.mkPen("w"),
                hoverable=True,
                hoverSize=12,
                data=[c.describe() for c in shown],
                tip=lambda x, y, data: f"{format_local(x, trends.tz)}\n{data}",
            )
            plot.addItem(scatter)
            for change in shown:
                pct = change.change.change_pct
                text = pg.TextItem(
                    f"{float(pct):+.0f} %" if pct is not None else f"{float(change.after_mcg):g}",
                    color=PURPLE,
                    anchor=(0, 0),
                )
                text.setPos(change.at.timestamp(), float(change.after_mcg))
                plot.addItem(text, ignoreBounds=True)
        top = float(np.nanmax(dose.step_y)) if len(dose.step_y) else 1.0
        plot.setYRange(0, max(top * 1.6, 1.0), padding=0)  # headroom for the title

    def _draw_accuracy(self, trends: PatientTrends) -> None:
        plot, acc = self.plots["accuracy"], trends.accuracy
        if acc is None:
            return
        band = pg.LinearRegionItem(
            (acc.low_pct, acc.high_pct),
            orientation="horizontal",
            movable=False,
            brush=pg.mkBrush(46, 125, 50, 28),
            pen=pg.mkPen(None),
        )
        plot.addItem(band, ignoreBounds=True)
        plot.addItem(
            pg.InfiniteLine(100, angle=0, pen=_pen(GREY, 1, Qt.PenStyle.DashLine)),
            ignoreBounds=True,
        )
        if len(acc.x):
            drift_since = acc.drift.since.timestamp() if acc.drift else np.inf
            colours = [
                RED if (a.outside_band or a.at.timestamp() >= drift_since) else BLUE
                for a in acc.refills
            ]
            plot.plot(acc.x, acc.pct, pen=_pen(BLUE, 1))
            tips = [
                f"delivered {_ml_text(a.discrepancy.actual_delivered_ul)} of "
                f"{_ml_text(a.expected_delivered_ul)} expected = {float(a.accuracy_pct):.1f} %"
                for a in acc.refills
            ]
            plot.addItem(
                pg.ScatterPlotItem(
                    acc.x,
                    acc.pct,
                    size=8,
                    brush=[pg.mkBrush(c) for c in colours],
                    pen=None,
                    hoverable=True,
                    data=tips,
                    tip=lambda x, y, data: f"Refill {format_local(x, trends.tz)}\n{data}",
                )
            )
        values = np.concatenate([acc.pct, [acc.low_pct, acc.high_pct]])
        top = max(float(values.max()) + 5, 125)
        plot.setYRange(min(float(values.min()) - 5, 75), top + 20, padding=0)
        if not len(acc.x):
            note = pg.TextItem(
                "No refill accuracy yet: it needs two refills of this pump.",
                color=GREY,
                anchor=(0, 0),
            )
            note.setPos(trends.x_range[0], 100)
            plot.addItem(note, ignoreBounds=True)

    def _draw_events(self, trends: PatientTrends) -> None:
        plot = self.plots["events"]
        plot.setYRange(0.5, 4.3, padding=0)
        if not trends.markers:
            note = pg.TextItem("No alarms or pump events recorded.", color=GREY, anchor=(0, 0.5))
            note.setPos(trends.x_range[0], 1.5)
            plot.addItem(note, ignoreBounds=True)
            return
        brushes = [pg.mkBrush(SEVERITY_COLOURS.get(int(s), GREY)) for s in trends.markers_severity]
        plot.addItem(
            pg.ScatterPlotItem(
                trends.markers_x,
                trends.markers_severity.astype(np.float64),
                size=8,
                symbol="d",
                brush=brushes,
                pen=None,
                hoverable=True,
                data=[m.label for m in trends.markers],
                tip=lambda x, y, data: f"{format_local(x, trends.tz)}\n{data}",
            )
        )

    def _draw_now(self, trends: PatientTrends) -> None:
        for plot in self.plots.values():
            line = pg.InfiniteLine(
                trends.now.timestamp(),
                angle=90,
                pen=_pen("#9aa5b1", 1, Qt.PenStyle.DashDotLine),
            )
            plot.addItem(line, ignoreBounds=True)

    # ------------------------------------------------------------------ text

    def _summary_text(self, trends: PatientTrends) -> str:
        tz = trends.tz
        parts = []
        res = trends.reservoir
        if res is not None and res.forecast is not None and res.forecast.alarm_at is not None:
            parts.append(
                f"Low-reservoir alarm projected {format_local_date(res.forecast.alarm_at, tz)}"
            )
        elif res is not None and res.note:
            parts.append(res.note)
        bat = trends.battery
        if bat is not None:
            out = bat.outlook
            if out.eri_at is not None and out.eos_at is not None:
                how = "reached" if out.eri_observed else "projected"
                parts.append(
                    f"Battery ERI {how} {format_local_date(out.eri_at, tz)}, End of Service "
                    f"{'projected' if out.eos_projected else 'due'} "
                    f"{format_local_date(out.eos_at, tz)} ({out.note.rstrip('.')})"
                )
            else:
                parts.append(out.note)
            if bat.implant_at is not None:
                parts.append(f"implanted {format_local_date(bat.implant_at, tz)}")
        return "   ·   ".join(parts)

    def readout_at(self, epoch_s: float) -> str:
        """Move the crosshair to ``epoch_s`` and show the local time and the values there:
        the latest reading or refill at or before it, the expected volume, the battery, the
        dose in force and why it was set, and the refill accuracy."""
        trends = self.trends
        if trends is None or trends.empty:
            return ""
        for line in self.crosshairs:
            line.setPos(epoch_s)
            line.setVisible(True)
        tz = trends.tz
        bits: list[str] = []
        res = trends.reservoir
        if res is not None:
            i = int(np.searchsorted(res.recorded_x, epoch_s, side="right")) - 1
            if i >= 0:
                when = to_local(float(res.recorded_x[i]), tz)
                bits.append(f"Reservoir {res.recorded_y[i]:.2f} mL ({when:%d %b %Y %H:%M})")
            expected = _expected_at(res.expected_x, res.expected_y, epoch_s)
            if expected is not None:
                bits.append(f"expected {expected:.2f} mL")
        bat = trends.battery
        if bat is not None:
            i = int(np.searchsorted(bat.x, epoch_s, side="right")) - 1
            if i >= 0:
                bits.append(f"Battery {bat.mv[i]:.0f} mV")
        dose = trends.dose
        if dose is not None and len(dose.step_x):
            i = int(np.searchsorted(dose.step_x, epoch_s, side="right")) - 1
            if i >= 0:
                text = f"Dose {dose.step_y[min(i, len(dose.step_y) - 1)]:g} mcg/24 h"
                made = [
                    c
                    for c in dose.changes
                    if c.outcome == ChangeOutcome.SUCCEEDED and c.at.timestamp() <= epoch_s
                ]
                if made:
                    text += f" (since {format_local_date(made[-1].at, tz)}: {made[-1].reason})"
                bits.append(text)
        acc = trends.accuracy
        if acc is not None and len(acc.x):
            i = int(np.searchsorted(acc.x, epoch_s, side="right")) - 1
            if i >= 0:
                bits.append(
                    f"Accuracy {acc.pct[i]:.1f} % at the refill of "
                    f"{format_local_date(acc.refills[i].at, tz)}"
                )
        text = f"<b>{format_local(epoch_s, tz)}</b><br>" + "   ·   ".join(bits)
        self.readout.setText(text)
        return text

    def _mouse_moved(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        for plot in self.plots.values():
            if plot.sceneBoundingRect().contains(pos):
                self.readout_at(plot.vb.mapSceneToView(pos).x())
                return

    # ------------------------------------------------------------------ export

    def export_png(self, path: str | Path) -> Path:
        """Save the tab (heading, warning and plots) as a PNG at ``path``; returns the path.
        Raises OSError when the file cannot be written."""
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        if not self.grab().save(str(target), "PNG"):
            raise OSError(f"Could not write {target}. Choose a folder you can save to.")
        return target

    def _ask_export_path(self) -> str | None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export trends as PNG", "trends.png", "PNG image (*.png)"
        )
        return name or None

    def _export_clicked(self) -> None:
        path = self.ask_export_path()
        if not path:
            return
        try:
            saved = self.export_png(path)
        except OSError as exc:
            from ui.dialogs import show_error

            show_error(self, "Export failed", str(exc))
            return
        window = self.window()
        bar = getattr(window, "statusBar", None)
        if callable(bar):
            bar().showMessage(f"Trends saved to {saved}", 6000)


def _warning_html(message: str) -> str:
    """First sentence in bold (what is happening), the advice after it in normal weight."""
    head, sep, rest = message.partition(". ")
    return f"&#9888; <b>{head}{'.' if sep else ''}</b> {rest}"


def _expected_at(x: np.ndarray, y: np.ndarray, at: float) -> float | None:
    """Linear interpolation inside one NaN-separated curve; None outside every curve."""
    finite = np.flatnonzero(np.isfinite(x))
    j = int(np.searchsorted(x[finite], at, side="right"))
    if j <= 0 or j >= len(finite):
        return None
    a, b = int(finite[j - 1]), int(finite[j])
    if b != a + 1:  # the pointer is between two fills' curves
        return None
    x0, x1, y0, y1 = x[a], x[b], y[a], y[b]
    return float(y0 if x1 == x0 else y0 + (y1 - y0) * (at - x0) / (x1 - x0))
