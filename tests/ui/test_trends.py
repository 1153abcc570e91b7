"""The Trends tab on the demo clinic: history drawn, drift warning, crosshair readout,
PNG export, and an empty patient's message."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from itbconsole.model import Origin, Patient
from tests.ui.conftest import Console
from ui.trends import TrendsTab


def open_trends(console: Console, family: str) -> TrendsTab:
    view = console.window.patient_view
    console.window.open_patient(console.patient_id(family))
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends
    console.qtbot.waitUntil(lambda: tab.trends is not None, timeout=5_000)
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
    assert "ERI projected" in tab.summary.text()


def test_switching_patient_redraws_the_tab(console: Console) -> None:
    tab = open_trends(console, "Brennan")
    assert tab.warning.isVisible()
    console.window.open_patient(console.patient_id("Okafor"))
    console.qtbot.waitUntil(lambda: "OKAFOR" in tab.title.text(), timeout=5_000)
    assert not tab.warning.isVisible()


def test_crosshair_readout_follows_the_pointer(console: Console) -> None:
    tab = open_trends(console, "Okafor")
    assert tab.trends is not None and tab.trends.dose is not None
    change = tab.trends.dose.changes[0]
    at = change.at.timestamp() + 3_600
    text = tab.readout_at(at)
    assert change.reason in text and "Dose" in text and "Reservoir" in text
    assert all(line.value() == at for line in tab.crosshairs)

    # The same through the mouse handler, with a scene point over the dose plot.
    plot = tab.plots["dose"]
    later = at + 40 * 86_400
    scene_point = plot.vb.mapViewToScene(QPointF(later, float(change.after_mcg)))
    tab._mouse_moved((scene_point,))
    assert abs(tab.crosshairs[0].value() - later) < 86_400  # within a pixel's worth of time
    assert tab.readout.text() != text


def test_export_writes_a_png(console: Console, tmp_path: Path) -> None:
    tab = open_trends(console, "Brennan")
    saved = tab.export_png(tmp_path / "brennan")
    assert saved.suffix == ".png" and saved.exists()
    image = QImage(str(saved))
    assert not image.isNull() and image.width() >= 300 and image.height() >= 200

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
    console.qtbot.waitUntil(lambda: "No pump is registered" in tab.message.text(), timeout=5_000)
    assert tab.message.isVisible()
    assert not tab.graphics.isVisible()
    assert not tab.export_button.isEnabled()
