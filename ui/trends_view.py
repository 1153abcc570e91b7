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
  would only mislead;
* the series are built on a worker thread (``ui/trends_worker.py``) and drawn a plot per
  turn of the event loop, so the window keeps answering while ten years of hourly readings
  load; a newer patient makes an older build or draw stale; after the first drawing is
  whole, everything alive (pyqtgraph, loaded with the tab, and the plots) is moved out of
  the cyclic garbage collector's reach once (:func:`keep_plots_out_of_garbage_collection`),
  so a full collection set off by a build no longer walks them while the window waits;
* on a small screen (1366 x 768) five stacked plots get about 50 px each, so the tab shows
  as many as fit (at least about 110 px each, the reservoir first) and the row of
  check boxes above them picks which;
* an exported PNG is the plots alone, headed by who they belong to (name, date of birth,
  hospital number), the pump and the dates shown: a loose image must say whose it is.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day, fmt_local_day, fmt_moment
from itbconsole.model import ChangeOutcome
from itbconsole.trends import (
    BATTERY_LIFE_YEARS,
    BatteryOutlook,
    PatientTrends,
    format_local,
    local_ticks,
)
from itbconsole.units import fmt_ml
from ui.dialogs import ask_save_path
from ui.trends_worker import TrendsWorker

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
#: Events added to the events plot in one step of a staged draw (about 10 ms of pyqtgraph).
EVENTS_PER_STEP = 5_000
#: What the tab usually spends above the plots (heading, summary, warning, the plot boxes,
#: key and readout), px.
HEADING_PX = 270
#: The least height a plot is readable at (axis labels and the dose change labels apart).
MIN_PLOT_PX = 110
#: Which plots go first when not all fit: the reservoir and the dose are what a refill
#: appointment looks at; the battery and the event log are a tick away.
PLOT_PRIORITY = ("reservoir", "dose", "accuracy", "battery", "events")
PLOT_NAMES = {
    "reservoir": "Reservoir",
    "battery": "Battery",
    "dose": "Daily dose",
    "accuracy": "Accuracy",
    "events": "Alarms and events",
}
#: Dose change labels closer than this (px) to the one before are left to the tooltip.
LABEL_GAP_PX = 56
LOADING_TEXT = "Reading the pump's history..."
#: An exported image is drawn this wide (px), whatever the window's size.
EXPORT_WIDTH_PX = 1600

_plots_frozen = False


def keep_plots_out_of_garbage_collection() -> None:
    """Once per process, after the first Trends drawing: ``gc.freeze`` every object alive.

    Why: the tab loads pyqtgraph and builds its plots, tens of thousands of long-lived
    objects, after the window froze its own (``keep_out_of_garbage_collection`` in
    ui/main_window.py). A full collection, set off by whatever allocates next (the worker
    building the series, the GUI thread drawing them; the collector is process-wide and
    holds the GIL), walked them all: 40-70 ms with the window frozen, the worst wait of
    a Trends click. Frozen, they are never walked again. Once only: the series drawn then
    hold no reference cycles and are still freed by reference counting when the next
    patient's replace them; only the few pyqtgraph items of that first drawing that do
    hold cycles stay in memory for good."""
    global _plots_frozen
    if not _plots_frozen:
        _plots_frozen = True
        gc.freeze()


WARNING_STYLE = (
    "QLabel { background: #f8d7da; color: #5c0a14; border: 1px solid #e2a3aa;"
    " border-radius: 4px; padding: 4px 8px; }"
)
KEY_HTML = (
    "<span style='font-size:9pt; color:#3b4b5c'>"
    f"<span style='color:{BLUE}'>&#9473;</span> recorded &nbsp; "
    f"<span style='color:{BLUE}'>&#9661;</span> withdrawn &nbsp; "
    f"<span style='color:{GREY}'>&#9476;</span> expected &nbsp; "
    f"<span style='color:{ORANGE}'>&#8943;</span> projection or extrapolation &nbsp; "
    f"<span style='color:{RED}'>&#9476;</span> alarm, ERI &nbsp; "
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

    #: A patient's trends (or their empty message) are drawn whole.
    drawn = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trends: PatientTrends | None = None
        #: Where the Export button saves; replaced in tests (no modal dialog).
        self.ask_export_path: Callable[[], str | None] = self._ask_export_path
        #: Builds the series off the GUI thread; a newer request makes older ones stale.
        self.worker = TrendsWorker(self)
        self.worker.built.connect(self._built)
        self.worker.failed.connect(self._failed)
        self._draw_number = 0
        self._user_chose_plots = False
        self._dose_labels: list[tuple[float, pg.TextItem]] = []

        self.title = _label(name="cardTitle")
        self.summary = _label(name="detail")
        self.export_button = QPushButton("E&xport PNG...")
        self.export_button.setToolTip(
            "Save the plots shown as a PNG image, headed by the patient's name, date of birth, "
            "hospital number and the dates shown"
        )
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
        self.plot_boxes: dict[str, QCheckBox] = {}
        selector = QHBoxLayout()
        selector.setSpacing(12)
        shown_label = QLabel("Plots:")
        shown_label.setObjectName("detail")
        selector.addWidget(shown_label)
        for name in self.PLOTS:
            box = QCheckBox(PLOT_NAMES[name])
            box.setChecked(True)
            box.setToolTip(f"Show or hide the {PLOT_NAMES[name].lower()} plot")
            box.toggled.connect(self._plot_box_toggled)
            self.plot_boxes[name] = box
            selector.addWidget(box)
        selector.addStretch(1)

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
        layout.addLayout(selector)
        layout.addWidget(self.key)
        layout.addWidget(self.readout)
        layout.addWidget(self.graphics, 1)

        self.export_button.clicked.connect(self._export_clicked)
        self.reset_button.clicked.connect(self.show_all)
        self._mouse_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=60, slot=self._mouse_moved
        )
        self.plots["dose"].sigXRangeChanged.connect(self._thin_dose_labels)
        self.plots["dose"].vb.sigResized.connect(self._thin_dose_labels)
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
        self._arrange_plots()

    def shown_plots(self) -> list[str]:
        """The plots ticked, top to bottom."""
        return [name for name in self.PLOTS if self.plot_boxes[name].isChecked()]

    def _arrange_plots(self) -> None:
        """Show the ticked plots, one row each (the others' rows shrink to nothing); the
        lowest one shown carries the dates. The plots stay in the layout: taking one out
        takes it out of the scene too, and it comes back without its geometry."""
        stretch = {"reservoir": 3, "battery": 2, "dose": 2, "accuracy": 2, "events": 1}
        grid = self.graphics.ci.layout
        shown = self.shown_plots()
        for row, name in enumerate(self.PLOTS):
            plot = self.plots[name]
            visible = name in shown
            plot.setVisible(visible)
            grid.setRowStretchFactor(row, stretch[name] if visible else 0)
            grid.setRowMaximumHeight(row, 1e6 if visible else 0)
            grid.setRowMinimumHeight(row, 0)
            grid.setRowSpacing(row, 0)
            axis = self.axes[name]
            last = visible and name == shown[-1]
            axis.setStyle(showValues=last)
            axis.setHeight(None if last else 6)
        grid.invalidate()

    def choose_plots(self, names: list[str] | tuple[str, ...], *, by_user: bool = True) -> None:
        """Show exactly ``names`` (at least one: the reservoir when none is given)."""
        wanted = set(names) or {"reservoir"}
        for name, box in self.plot_boxes.items():
            box.blockSignals(True)
            box.setChecked(name in wanted)
            box.blockSignals(False)
        if by_user:
            self._user_chose_plots = True
        self._arrange_plots()

    def _plot_box_toggled(self, _checked: bool) -> None:
        if not self.shown_plots():  # never none: the last box stays ticked
            sender = self.sender()
            if isinstance(sender, QCheckBox):
                sender.blockSignals(True)
                sender.setChecked(True)
                sender.blockSignals(False)
        self._user_chose_plots = True
        self._arrange_plots()

    def default_plots(self, height_px: int) -> list[str]:
        """As many plots as get :data:`MIN_PLOT_PX` each in ``height_px`` (two at least),
        in the order of :data:`PLOT_PRIORITY`."""
        count = max(2, min(len(self.PLOTS), (height_px - 30) // MIN_PLOT_PX))  # 30: date axis
        return list(PLOT_PRIORITY[:count])

    def resizeEvent(self, event: QResizeEvent) -> None:
        """The window was resized: until the user picks plots, show as many as fit. Counted
        from the tab's height less the heading's usual height, not from the plots' area,
        which changes with each patient's summary and warning: the plots shown stay put
        from one patient to the next."""
        super().resizeEvent(event)
        if not self._user_chose_plots:
            wanted = self.default_plots(self.height() - HEADING_PX)
            if set(wanted) != set(self.shown_plots()):
                self.choose_plots(wanted, by_user=False)

    def _clear_plots(self) -> None:
        self._dose_labels = []
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
        """Load and draw ``patient_id``'s history (None clears the tab). The series are
        built on the worker thread; until they arrive the tab says it is reading, and
        whatever was shown before (another patient's) is gone."""
        if patient_id is None:
            self.worker.cancel()
            self._show_nothing("Choose a patient to see their trends.")
            return
        if not TrendsWorker.can_run(clinic):  # an in-memory database: no second connection
            self.worker.cancel()
            self.show_trends(clinic.trends(patient_id, now))
            return
        self._show_nothing(LOADING_TEXT)
        self.worker.request(clinic, patient_id, now)

    @property
    def loading(self) -> bool:
        """True while a build asked for has not been drawn."""
        return self.message.isVisible() and self.message.text() == LOADING_TEXT

    def _built(self, number: int, trends: PatientTrends) -> None:
        if self.worker.is_current(number):
            self.show_trends(trends, staged=True)

    def _failed(self, number: int, exc: Exception) -> None:
        if self.worker.is_current(number):
            self._show_nothing(f"The trends could not be read: {exc}")

    def _show_nothing(self, text: str) -> None:
        self._draw_number += 1  # a staged draw still running stops here
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

    def show_trends(
        self, trends: PatientTrends, patient_name: str = "", *, staged: bool = False
    ) -> None:
        """Draw prepared series (the benchmark and tests call this directly). ``staged``:
        one plot per turn of the event loop, so no single step holds the window for long;
        a newer patient (or none) stops a staged draw part-way."""
        name = patient_name or (trends.patient.display_name if trends.patient else "")
        steps: list[Callable[[], None]] = [lambda: self._begin_draw(trends, name)]
        if not trends.empty:
            steps += [
                lambda: self._zoom_out(trends),
                lambda: self._draw_reservoir(trends),
                lambda: self._draw_reservoir_lines(trends),
                lambda: self._draw_battery(trends),
                lambda: self._draw_dose(trends),
                lambda: self._draw_accuracy(trends),
                *self._event_steps(trends),
                lambda: self._draw_text(trends),
                lambda: self._finish_draw(trends),
            ]
        self._draw_number += 1
        number = self._draw_number
        if not staged:
            for step in steps:
                step()
            return

        def run(index: int) -> None:
            if number != self._draw_number:
                return  # superseded by another patient, or cleared
            steps[index]()
            if index + 1 < len(steps):
                QTimer.singleShot(0, lambda: run(index + 1))

        run(0)

    def _begin_draw(self, trends: PatientTrends, name: str) -> None:
        self._clear_plots()
        self.trends = None  # set when the drawing is whole
        pump = trends.pump
        heading = f"Trends{' for ' + name if name else ''}"
        if trends.empty:
            number = self._draw_number
            self._show_nothing(trends.message)
            self._draw_number = number
            self.trends = trends
            self.title.setText(heading)
            self.drawn.emit(trends)
            return
        self.title.setText(heading + (f"  ·  pump {pump.serial}" if pump else ""))
        for axis in self.axes.values():
            axis.tz = trends.tz
        self.message.setText(trends.message)
        self.message.setVisible(bool(trends.message))
        self.graphics.hide()  # shown whole at the end: no half-drawn frames
        # The next step sets the time range before any data: series added to a set range
        # are clipped and downsampled once, not again when the range changes.

    def _draw_text(self, trends: PatientTrends) -> None:
        self._draw_now(trends)
        self.summary.setText(self._summary_text(trends))
        bat = trends.battery
        self.summary.setToolTip(
            f"{bat.outlook.note} {bat.outlook.line_note}".strip() if bat is not None else ""
        )
        drift = trends.accuracy.drift if trends.accuracy else None
        self.warning.setText(_warning_html(drift.message) if drift else "")
        self.warning.setVisible(drift is not None)

    def _finish_draw(self, trends: PatientTrends) -> None:
        self.trends = trends
        self.graphics.show()
        self.readout.show()
        self.export_button.setEnabled(True)
        self.reset_button.setEnabled(True)
        self._thin_dose_labels()
        self.readout_at(trends.now.timestamp())
        keep_plots_out_of_garbage_collection()
        self.drawn.emit(trends)

    def show_all(self) -> None:
        """Zoom out to the whole history and the projections."""
        if self.trends is not None:
            self._zoom_out(self.trends)

    def _zoom_out(self, trends: PatientTrends) -> None:
        lo, hi = trends.x_range
        pad = max((hi - lo) * 0.02, 86_400.0)
        far = hi + 20 * pad
        bat = trends.battery
        if bat is not None:
            for moment in (bat.outlook.eos_at, bat.outlook.life_to):
                if moment is not None:  # room to see End of Service and the battery's life
                    far = max(far, moment.timestamp() + 10 * pad)
        for plot in self.plots.values():
            plot.setLimits(xMin=lo - 20 * pad, xMax=far, minXRange=3_600.0)
        self.plots["reservoir"].setXRange(lo - pad, hi + pad, padding=0)
        self._thin_dose_labels()

    # ------------------------------------------------------------------ plots

    def _draw_reservoir(self, trends: PatientTrends) -> None:
        plot, res = self.plots["reservoir"], trends.reservoir
        assert res is not None
        # The range first: a plot with its range set never scans the data for one.
        plot.setYRange(0, res.capacity_ml * 1.3, padding=0)  # headroom for the title
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

    def _draw_reservoir_lines(self, trends: PatientTrends) -> None:
        """The expected curve, the projection, the alarm line and the withdrawn marks (a
        step of its own: the recorded saw-tooth before it is the largest series)."""
        plot, res = self.plots["reservoir"], trends.reservoir
        assert res is not None
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
                f"alarm {fmt_local_day(forecast.alarm_at, trends.tz)}",
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

    def _draw_battery(self, trends: PatientTrends) -> None:
        plot, bat = self.plots["battery"], trends.battery
        if bat is None:
            return
        out = bat.outlook
        values = np.concatenate([bat.mv, [out.threshold_mv]])
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        span = max(hi - lo, 100.0)
        plot.setYRange(lo - 0.15 * span, hi + 0.6 * span, padding=0)  # headroom for the title
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
        if len(bat.fit_x):  # the straight line: an extrapolation past the last reading
            plot.plot(bat.fit_x, bat.fit_y, pen=_pen(ORANGE, 1.2, Qt.PenStyle.DashLine))
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
        if out.life_from is not None and out.life_to is not None:
            life = pg.LinearRegionItem(
                (out.life_from.timestamp(), out.life_to.timestamp()),
                orientation="vertical",
                movable=False,
                brush=pg.mkBrush(127, 140, 154, 30),
                pen=pg.mkPen(None),
            )
            life.setZValue(-10)
            plot.addItem(life, ignoreBounds=True)
            lo_years, hi_years = BATTERY_LIFE_YEARS
            text = pg.TextItem(
                f"ERI expected: {lo_years}-{hi_years} years after implant",
                color=AXIS,
                anchor=(0, 1),
            )
            text.setPos(out.life_from.timestamp(), out.threshold_mv)
            plot.addItem(text, ignoreBounds=True)
        marks: list[tuple[datetime | None, str, str]] = [
            (bat.implant_at, "implant", AXIS),
            (out.eri_at, "ERI" if out.eri_observed else "ERI (projected)", RED),
            (out.eos_at, "End of Service" + (" (projected)" if out.eos_projected else ""), RED),
        ]
        line_eri = out.line_eri_at
        if line_eri is not None and (out.life_to is None or line_eri <= out.life_to):
            marks.append((line_eri, "line meets ERI level (extrapolation)", ORANGE))
        for when, text_, colour in marks:
            if when is None:
                continue
            plot.addItem(
                pg.InfiniteLine(
                    when.timestamp(),
                    angle=90,
                    pen=_pen(colour, 1, Qt.PenStyle.DotLine),
                    label=text_,
                    labelOpts={"position": 0.45, "color": colour, "anchors": [(0, 0.5), (0, 0.5)]},
                ),
                ignoreBounds=True,
            )

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
                    anchor=(0, 0),  # right of and below the dot: clear of the plot's title
                )
                text.setPos(change.at.timestamp(), float(change.after_mcg))
                plot.addItem(text, ignoreBounds=True)
                self._dose_labels.append((change.at.timestamp(), text))
            self._thin_dose_labels()
        top = float(np.nanmax(dose.step_y)) if len(dose.step_y) else 1.0
        plot.setYRange(0, max(top * 1.6, 1.0), padding=0)  # headroom for the title

    def _thin_dose_labels(self, *_args: object) -> None:
        """Show a dose change's label only when it is at least :data:`LABEL_GAP_PX` from the
        one shown before it at this zoom; the others are in the tooltip and the readout."""
        if not self._dose_labels:
            return
        view = self.plots["dose"].vb
        (x0, x1), _ = view.viewRange()
        width = max(view.width(), 1.0)
        seconds_per_px = max((x1 - x0) / width, 1e-9)
        last = -np.inf
        for at, text in self._dose_labels:
            visible = (at - last) / seconds_per_px >= LABEL_GAP_PX
            text.setVisible(bool(visible))
            if visible:
                last = at

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

    def _event_steps(self, trends: PatientTrends) -> list[Callable[[], None]]:
        """The events plot in steps of at most :data:`EVENTS_PER_STEP` events of one
        severity, each a scatter with one brush and symbol.

        Why: a brush per point makes pyqtgraph render a symbol image per point (5,000 events
        held the window for 0.2 s); one per severity renders three. And a pump's log can
        hold tens of thousands of entries: a scatter of all of them at once takes pyqtgraph
        tens of milliseconds, so a staged draw adds them a part per turn of the event loop.
        Each point keeps its own tooltip (when and what)."""
        if not trends.markers:
            return [lambda: self._draw_no_events(trends)]
        steps: list[Callable[[], None]] = [self._events_range]
        for severity in np.unique(trends.markers_severity):
            where = np.flatnonzero(trends.markers_severity == severity)
            for first in range(0, len(where), EVENTS_PER_STEP):
                part = where[first : first + EVENTS_PER_STEP]
                steps.append(partial(self._draw_events, trends, part, int(severity)))
        return steps

    def _events_range(self) -> None:
        self.plots["events"].setYRange(0.5, 4.3, padding=0)

    def _draw_no_events(self, trends: PatientTrends) -> None:
        self._events_range()
        note = pg.TextItem("No alarms or pump events recorded.", color=GREY, anchor=(0, 0.5))
        note.setPos(trends.x_range[0], 1.5)
        self.plots["events"].addItem(note, ignoreBounds=True)

    def _draw_events(self, trends: PatientTrends, where: np.ndarray, severity: int) -> None:
        """The markers at ``where`` (all of ``severity``) as one scatter."""
        self.plots["events"].addItem(
            pg.ScatterPlotItem(
                trends.markers_x[where],
                np.full(len(where), float(severity)),
                size=8,
                symbol="d",
                brush=pg.mkBrush(SEVERITY_COLOURS.get(severity, GREY)),
                pen=None,
                hoverable=True,
                data=[trends.markers[i].label for i in where],
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
                f"Low-reservoir alarm projected {fmt_local_day(res.forecast.alarm_at, tz)}"
            )
        elif res is not None and res.note:
            parts.append(res.note)
        bat = trends.battery
        if bat is not None:
            out = bat.outlook
            if out.eri_at is not None or out.eos_at is not None:
                how = "reached" if out.eri_observed else "projected"
                text = "Battery"
                if out.eri_at is not None:
                    text += f" ERI {how} {fmt_local_day(out.eri_at, tz)}"
                if out.eos_at is not None:
                    text += (
                        f"{',' if out.eri_at is not None else ''} End of Service "
                        f"{'projected' if out.eos_projected else 'due'} "
                        f"{fmt_local_day(out.eos_at, tz)}"
                    )
                parts.append(f"{text} ({out.note.rstrip('.')})")
                if bat.implant_at is not None:
                    parts.append(f"implanted {fmt_local_day(bat.implant_at, tz)}")
            else:
                parts.append(_battery_words(out, tz))
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
                when = format_local(float(res.recorded_x[i]), tz)
                bits.append(f"Reservoir {res.recorded_y[i]:.2f} mL ({when})")
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
                    text += f" (since {fmt_local_day(made[-1].at, tz)}: {made[-1].reason})"
                bits.append(text)
        acc = trends.accuracy
        if acc is not None and len(acc.x):
            i = int(np.searchsorted(acc.x, epoch_s, side="right")) - 1
            if i >= 0:
                bits.append(
                    f"Accuracy {acc.pct[i]:.1f} % at the refill of "
                    f"{fmt_local_day(acc.refills[i].at, tz)}"
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

    def export_header_lines(self) -> list[str]:
        """What heads an exported image: who (name, date of birth, hospital number), the
        pump, and the dates the plots show (the current zoom), in the clinic's zone."""
        trends = self.trends
        if trends is None or trends.empty:
            return []
        tz = trends.tz
        lines = []
        patient = trends.patient
        if patient is not None:
            lines.append(
                f"{patient.display_name}    Date of birth {fmt_day(patient.date_of_birth)}"
                f"    Hospital number {patient.hospital_number}"
            )
        (x0, x1), _ = self.plots[self.shown_plots()[0]].vb.viewRange()
        first = datetime.fromtimestamp(x0, UTC)
        last = datetime.fromtimestamp(x1, UTC)
        pump = f"Pump {trends.pump.serial}    " if trends.pump is not None else ""
        lines.append(f"{pump}Trends from {fmt_local_day(first, tz)} to {fmt_local_day(last, tz)}")
        lines.append(f"Exported {fmt_moment(datetime.now(UTC), tz)} from ITB Console")
        return lines

    def export_image(self, width_px: int = EXPORT_WIDTH_PX) -> QImage:
        """The plots shown (no buttons), drawn again ``width_px`` wide (text and lines scale
        with them, so a letter gets a sharp picture of what the screen shows), under
        :meth:`export_header_lines`."""
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(self.graphics.scene())
        exporter.parameters()["width"] = max(width_px, self.graphics.width())
        exporter.parameters()["antialias"] = True
        plots = exporter.export(toBytes=True)
        if not isinstance(plots, QImage) or plots.isNull():
            plots = self.graphics.grab().toImage()
        lines = self.export_header_lines()
        scale = plots.width() / max(self.graphics.width(), 1)
        font = QFont(self.font())
        font.setPointSizeF((max(font.pointSizeF(), 9.0) + 1) * scale)
        line_px = int(font.pointSizeF() * 2.0)
        header = line_px * len(lines) + 12
        image = QImage(plots.width(), plots.height() + header, QImage.Format.Format_RGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        try:
            painter.setFont(font)
            painter.setPen(QColor(AXIS))
            for i, text in enumerate(lines):
                bold = QFont(font)
                bold.setBold(i == 0)
                painter.setFont(bold)
                painter.drawText(
                    QRect(10, 6 + i * line_px, plots.width() - 20, line_px),
                    int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                    text,
                )
            painter.drawImage(0, header, plots)
        finally:
            painter.end()
        return image

    def export_png(self, path: str | Path) -> Path:
        """Save the plots shown as a PNG at ``path``, headed by the patient's identity, the
        pump and the dates shown; returns the path. Raises OSError when the file cannot be
        written."""
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        if not self.export_image().save(str(target)):  # PNG, from the suffix
            raise OSError(f"Could not write {target}. Choose a folder you can save to.")
        return target

    def _ask_export_path(self) -> str | None:
        return ask_save_path(self, "Export trends as PNG", "trends.png", "PNG image (*.png)")

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


def _battery_words(out: BatteryOutlook, tz: tzinfo) -> str:
    """The battery before the pump has shown ERI, short enough for the heading (the notes in
    full are the heading's tooltip): no ERI date, when the battery's life says to expect it,
    and where the voltage line meets the ERI level, called an extrapolation."""
    text = "Battery: no ERI date yet"
    if out.life_from is not None and out.life_to is not None:
        low, high = BATTERY_LIFE_YEARS
        text += (
            f"; expected {fmt_local_day(out.life_from, tz)} to {fmt_local_day(out.life_to, tz)}"
            f" ({low}-{high} years from implant)"
        )
    if out.line_eri_at is not None:
        text += (
            f". Voltage line meets {out.threshold_mv} mV on {fmt_local_day(out.line_eri_at, tz)}: "
            "an extrapolation"
        )
        if out.life_to is not None and out.line_eri_at > out.life_to:
            text += ", after the battery's life"
        elif out.life_from is not None and out.line_eri_at < out.life_from:
            text += ", before the battery's life"
    return text + "."


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
