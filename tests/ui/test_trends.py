"""The Trends tab on the demo clinic: history drawn, drift warning, crosshair readout, the
battery line said to be an extrapolation, the plots chosen to fit a small screen, PNG
export headed by the patient's identity, an empty patient's message, and the build on a
worker thread whose stale results never reach the screen."""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from itbconsole.display import fmt_moment
from itbconsole.model import (
    Origin,
    Patient,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    simple_continuous,
)
from itbconsole.store.queries import PatientHistory
from itbconsole.trends import PatientTrends, build_trends
from tests.ui.conftest import Console
from ui import trends_view, trends_worker
from ui.trends import TrendsTab
from ui.trends_view import EXPORT_WIDTH_PX, LABEL_GAP_PX, MIN_PLOT_PX, SEVERITY_COLOURS

LONDON = ZoneInfo("Europe/London")


def open_trends(console: Console, family: str) -> TrendsTab:
    view = console.window.patient_view
    console.window.open_patient(console.patient_id(family))
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends
    console.qtbot.waitUntil(
        lambda: tab.trends is not None and family.upper() in tab.title.text(), timeout=10_000
    )
    return tab


def test_under_delivery_drift_shows_a_visible_warning(console: Console) -> None:
    tab = open_trends(console, "Brennan")
    assert tab.warning.isVisible()
    text = tab.warning.text()
    assert "lower than programmed at the last 4 refills" in text
    assert "withdrawal risk" in text
    assert "SIM0000006" in tab.title.text()


def test_healthy_pump_shows_its_saw_tooth_and_no_warning(console: Console) -> None:
    tab = open_trends(console, "Okafor")
    assert tab.trends is not None and tab.trends.reservoir is not None
    res = tab.trends.reservoir
    assert len(res.refills_x) > 5 and len(res.recorded_x) == len(res.readings_x) + 2 * len(
        res.refills_x
    )
    assert not tab.warning.isVisible()
    assert tab.graphics.isVisible() and not tab.message.isVisible()
    assert "Low-reservoir alarm projected" in tab.summary.text()


def test_the_battery_line_is_an_extrapolation_checked_against_the_battery_life(
    console: Console,
) -> None:
    """Okafor's pump (implanted 01 Jun 2022) has not shown ERI: the forecast has no ERI
    date, so the tab shows none; the voltage line's crossing is said to be an extrapolation
    and the 5-7 years of battery life give the dates to expect ERI between."""
    tab = open_trends(console, "Okafor")
    assert tab.trends is not None and tab.trends.battery is not None
    outlook = tab.trends.battery.outlook
    summary = tab.summary.text()
    assert outlook.eri_at is None and outlook.line_eri_at is not None
    assert "no ERI date yet" in summary
    assert "expected 01 Jun 2027 to 01 Jun 2029 (5-7 years from implant)" in summary
    assert "an extrapolation" in summary
    assert "an extrapolation, not a date" in tab.summary.toolTip()
    overview = console.clinic.overview(console.patient_id("Okafor"), now=console.window.now())
    assert overview is not None and overview.forecast.eri is None  # the same as the Overview


def test_reported_battery_dates_are_the_forecasts(console: Console) -> None:
    tab = open_trends(console, "Patel")
    assert tab.trends is not None and tab.trends.battery is not None
    outlook = tab.trends.battery.outlook
    fc = console.clinic.forecast_for(tab.trends.pump.serial if tab.trends.pump else "")
    assert fc.eri is not None and outlook.eri_at is not None
    assert outlook.eri_at.astimezone(tab.trends.tz).date() == fc.eri.day
    assert outlook.line_eri_at is None
    assert "ERI date reported by the pump" in tab.summary.text()


def test_switching_patient_redraws_the_tab(console: Console) -> None:
    tab = open_trends(console, "Brennan")
    assert tab.warning.isVisible()
    console.window.open_patient(console.patient_id("Okafor"))
    console.qtbot.waitUntil(
        lambda: "OKAFOR" in tab.title.text() and tab.trends is not None, timeout=10_000
    )
    assert not tab.warning.isVisible()


def test_the_series_are_built_off_the_gui_thread(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real = trends_worker.load_patient_trends

    def spy(*args: Any, **kwargs: Any) -> PatientTrends:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(trends_worker, "load_patient_trends", spy)
    open_trends(console, "Okafor")
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_a_stale_build_never_draws_over_the_newer_patient(console: Console) -> None:
    """Brennan is asked for, then Okafor before Brennan's series arrive: Okafor's are drawn
    and Brennan's result, when it comes, is dropped (it carries a stale number)."""
    view = console.window.patient_view
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends.view()
    brennan = tab.worker.request(
        console.clinic, console.patient_id("Brennan"), console.window.now()
    )
    console.window.open_patient(console.patient_id("Okafor"))
    console.qtbot.waitUntil(
        lambda: tab.trends is not None and "OKAFOR" in tab.title.text(), timeout=10_000
    )
    okafor_trends = tab.trends
    # Brennan's result delivered late, as the worker would: ignored.
    with console.qtbot.assertNotEmitted(tab.drawn, wait=200):
        tab.worker.built.emit(
            brennan, console.clinic.trends(console.patient_id("Brennan"), console.window.now())
        )
    assert "OKAFOR" in tab.title.text() and tab.trends is okafor_trends
    assert not tab.warning.isVisible()  # Brennan's drift warning never appeared


def test_while_reading_the_previous_patients_plots_are_gone(console: Console) -> None:
    tab = open_trends(console, "Brennan")
    tab.view().worker.request = lambda *_a, **_k: 0  # type: ignore[method-assign]  # never answers
    console.window.open_patient(console.patient_id("Okafor"))
    assert tab.loading and not tab.graphics.isVisible() and not tab.warning.isVisible()
    assert "BRENNAN" not in tab.title.text() and tab.trends is None


def test_a_small_screen_shows_the_plots_that_fit_and_the_boxes_choose_them(
    console: Console,
) -> None:
    console.window.resize(1366, 768)
    tab = open_trends(console, "Okafor")
    console.qtbot.waitUntil(lambda: tab.graphics.height() > 0)
    shown = tab.shown_plots()
    assert shown[0] == "reservoir" and 2 <= len(shown) < 5
    heights = [tab.plots[name].vb.height() for name in shown]
    assert min(heights) >= MIN_PLOT_PX * 0.6, heights  # each readable, none squeezed to 50 px
    # The lowest plot shown carries the dates; ticking a box adds its plot.
    assert tab.axes[shown[-1]].style["showValues"]
    tab.plot_boxes["events"].setChecked(True)
    assert "events" in tab.shown_plots() and tab.axes["events"].style["showValues"]
    assert not tab.axes[shown[-1]].style["showValues"] or shown[-1] == "events"
    # The last box cannot be cleared: there is always a plot.
    for box in tab.plot_boxes.values():
        box.setChecked(False)
    assert len(tab.shown_plots()) == 1


def test_a_large_screen_shows_more_plots_by_default(console: Console) -> None:
    console.window.resize(1920, 1080)
    tab = open_trends(console, "Okafor")
    shown = tab.shown_plots()
    assert len(shown) >= 4 and shown[:3] == ["reservoir", "battery", "dose"]
    assert min(tab.plots[name].vb.height() for name in shown) >= MIN_PLOT_PX * 0.6


def test_dose_change_labels_never_overlap(qtbot: QtBot) -> None:
    """Thirty dose changes ten days apart over a year and more: at the whole-history zoom
    only labels at least LABEL_GAP_PX apart are shown; zoomed in, each shows."""
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    pump = Pump("LBL0001", "Test pump 40 mL", 40_000, 2_000, implant_date=start.date())
    patient = Patient("Label", "Lee", date(1970, 1, 1), "L1", Origin.SPINAL, id=1)
    changes, readings = [], []
    for k in range(30):
        at = start + timedelta(days=10 * k + 1)
        old, new = simple_continuous(400 + 10 * k), simple_continuous(410 + 10 * k)
        changes.append(ProgramChange(pump.serial, at, old, new, 2000, f"step {k}"))
    for d in range(0, 420, 7):
        at = start + timedelta(days=d)
        dose = 400 + 10 * min(30, (d + 9) // 10)
        readings.append(
            Reading(
                pump.serial,
                at,
                at,
                30_000,
                2_000,
                3_100,
                False,
                False,
                2000,
                simple_continuous(dose),
            )
        )
    history = PatientHistory(patient, (), (), (pump,), tuple(readings), (), (), tuple(changes))
    now = start + timedelta(days=420)
    tab = TrendsTab()
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    tab.show_trends(build_trends(history, LONDON, now))
    tab.choose_plots(["reservoir", "dose"])
    labels = tab._dose_labels
    assert len(labels) == 30
    qtbot.waitUntil(lambda: tab.plots["dose"].vb.width() > 500)  # laid out
    tab.plots["reservoir"].setXRange(labels[0][0] - 5 * 86_400, labels[-1][0] + 5 * 86_400)
    view = tab.plots["dose"].vb
    (x0, x1), _ = view.viewRange()
    px = view.width() / (x1 - x0)
    assert 10 * 86_400 * px < LABEL_GAP_PX  # ten days is too close for two labels here
    shown = [at for at, text in labels if text.isVisible()]
    assert 1 < len(shown) < 30
    assert all((b - a) * px >= LABEL_GAP_PX for a, b in itertools.pairwise(shown))
    # Zoomed in on one change, its label shows.
    at = labels[10][0]
    tab.plots["reservoir"].setXRange(at - 86_400 * 3, at + 86_400 * 3, padding=0)
    assert labels[10][1].isVisible()


@pytest.mark.parametrize(("per_step", "staged", "parts"), [(5_000, False, 3), (400, True, 9)])
def test_events_are_coloured_by_severity_each_with_its_own_tooltip(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, per_step: int, staged: bool, parts: int
) -> None:
    """3,000 logged events of three severities: every event is on the events plot at its
    time and severity, in its severity's colour, and its tooltip says when and what; each
    severity is drawn with one brush (one symbol image, not one per event). A staged draw
    adds them a part at a time (here 400 a part: 1,000 a severity in three parts)."""
    monkeypatch.setattr(trends_view, "EVENTS_PER_STEP", per_step)
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    pump = Pump("EVT0001", "Test pump 40 mL", 40_000, 2_000, implant_date=start.date())
    patient = Patient("Event", "Eve", date(1970, 1, 1), "E1", Origin.SPINAL, id=1)
    readings = tuple(
        Reading(
            pump.serial, at, at, 30_000, 2_000, 3_100, False, False, 2000, simple_continuous(400)
        )
        for at in (start, start + timedelta(days=60))
    )
    kinds = [("alarm_test", {}), ("delivery_stopped", {}), ("alarm_raised", {"alarm": "odd"})]
    events = tuple(
        PumpEvent(pump.serial, i, start + timedelta(minutes=17 * i), *kinds[i % 3])
        for i in range(3_000)
    )
    history = PatientHistory(patient, (), (), (pump,), readings, events, (), ())
    trends = build_trends(history, LONDON, start + timedelta(days=60))
    tab = TrendsTab()
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.drawn, timeout=10_000):
        tab.show_trends(trends, staged=staged)
    scatters = [i for i in tab.plots["events"].items if isinstance(i, pg.ScatterPlotItem)]
    drawn: set[tuple[float, float, str]] = set()
    for scatter in scatters:
        points = scatter.data
        severity = float(points["y"][0])
        assert set(points["y"]) == {severity}
        # One brush a severity: the item's own, no point with a brush of its own.
        assert all(brush is None for brush in points["brush"])
        assert scatter.points()[0].brush().color().name() == SEVERITY_COLOURS[int(severity)]
        drawn |= {(float(x), float(y), str(d)) for x, y, d in points[["x", "y", "data"]]}
        tip = scatter.opts["tip"](points["x"][0], severity, points["data"][0])
        assert fmt_moment(datetime.fromtimestamp(float(points["x"][0]), UTC), LONDON) in tip
        assert str(points["data"][0]) in tip
    assert len(scatters) == parts
    assert sum(len(scatter.data) for scatter in scatters) == 3_000
    expected = {(m.at.timestamp(), float(m.severity), m.label) for m in trends.markers}
    assert len(trends.markers) == 3_000 and drawn == expected
    assert {label for _x, _y, label in drawn} == {
        "Alarm test",
        "Delivery stopped",
        "Alarm: odd",
    }


def test_crosshair_readout_follows_the_pointer(console: Console) -> None:
    tab = open_trends(console, "Okafor")
    tab.choose_plots(["reservoir", "dose"])
    assert tab.trends is not None and tab.trends.dose is not None
    change = tab.trends.dose.changes[0]
    at = change.at.timestamp() + 3_600
    text = tab.readout_at(at)
    assert change.reason in text and "Dose" in text and "Reservoir" in text
    # Dates as on every other screen: "05 Jan 2026 14:30 GMT", the clinic's zone named.
    moment = r"\d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d (GMT|BST)"
    assert re.match(rf"<b>{moment}</b><br>", text), text
    assert re.search(rf"Reservoir \d+\.\d\d mL \({moment}\)", text), text
    assert re.search(r"\(since \d\d [A-Z][a-z]{2} \d{4}: ", text), text
    assert all(line.value() == at for line in tab.crosshairs)

    # The same through the mouse handler, with a scene point over the dose plot.
    plot = tab.plots["dose"]
    later = at + 40 * 86_400
    scene_point = plot.vb.mapViewToScene(QPointF(later, float(change.after_mcg)))
    tab._mouse_moved((scene_point,))
    assert abs(tab.crosshairs[0].value() - later) < 86_400  # within a pixel's worth of time
    assert tab.readout.text() != text


def test_export_is_the_plots_headed_by_who_and_when(console: Console, tmp_path: Path) -> None:
    tab = open_trends(console, "Brennan")
    patient = console.clinic.patient(console.patient_id("Brennan"))
    lines = tab.export_header_lines()
    assert patient.display_name in lines[0]
    assert "Date of birth" in lines[0] and patient.hospital_number in lines[0]
    dob = patient.date_of_birth
    assert f"{dob.day:02d} " in lines[0] and str(dob.year) in lines[0]
    assert "Pump SIM0000006" in lines[1] and "Trends from " in lines[1]
    saved = tab.export_png(tmp_path / "brennan")
    assert saved.suffix == ".png" and saved.exists()
    image = QImage(str(saved))
    # The plots alone (no buttons, no heading widgets), drawn again 1600 px wide, under a
    # header band: the same proportions as on screen, plus the header.
    scale = image.width() / tab.graphics.width()
    assert image.width() == EXPORT_WIDTH_PX
    plots_px = tab.graphics.height() * scale
    assert plots_px < image.height() < plots_px + 3 * 60 * scale

    # The button asks where to save through a replaceable seam (no modal dialog in tests).
    target = tmp_path / "from-button.png"
    tab.ask_export_path = lambda: str(target)
    tab.export_button.click()
    assert not QImage(str(target)).isNull()


def test_patient_without_a_pump_gets_a_message_not_empty_plots(console: Console) -> None:
    patient = console.clinic.add_patient(
        Patient("Empty", "Ellen", date(1990, 1, 1), "H999001", Origin.SPINAL)
    )
    assert patient.id is not None
    view = console.window.patient_view
    console.window.open_patient(patient.id)
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends
    console.qtbot.waitUntil(lambda: "No pump is registered" in tab.message.text(), timeout=10_000)
    assert tab.message.isVisible()
    assert not tab.graphics.isVisible()
    assert not tab.export_button.isEnabled()


def test_a_failed_read_says_so_and_draws_nothing(console: Console) -> None:
    view = console.window.patient_view
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends
    tab.show_patient(console.clinic, 987_654, console.window.now())  # no such patient
    console.qtbot.waitUntil(lambda: "could not be read" in tab.message.text(), timeout=10_000)
    assert "There is no patient with id 987654" in tab.message.text()
    assert not tab.graphics.isVisible() and not tab.export_button.isEnabled()
