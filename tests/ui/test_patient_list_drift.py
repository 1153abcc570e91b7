"""The patient list marks a drifting pump as the worklist and the Overview do: Brennan's
delivery falls 97 -> 88 % over four refills (a withdrawal risk), so his Status cell reads
"On track · drift" in the warning colour, its tooltip the worklist's drift sentence, once the
drift is worked out; nothing is marked before, and the mark goes when the drift does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from itbconsole.services.worklist import Category
from ui.patient_list import SOON_BG, PatientListPanel

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[ClinicService]:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    yield ClinicService(store, load_drug_library(), DEMO_USER)
    store.close()


def status_cell(panel: PatientListPanel, family: str) -> tuple[str, object, str]:
    model = panel.model
    for r in range(model.rowCount()):
        if model.index(r, 0).data().startswith(family):
            cell = model.index(r, 3)
            return cell.data(), cell.data(8), cell.data(3)  # display, background, tooltip
    raise AssertionError(f"{family} is not listed")


def test_a_drifting_pump_is_marked_once_its_drift_is_known(
    qtbot: QtBot, clinic: ClinicService
) -> None:
    panel = PatientListPanel()
    qtbot.addWidget(panel)
    clinic.ensure_forecasts()  # as the window does before it reads the list
    rows = clinic.patient_list(NOW).rows
    panel.set_rows(rows)
    assert clinic.known_drifts() == {}  # nothing worked out yet: nothing to mark
    panel.show_drifts(clinic.known_drifts())
    assert status_cell(panel, "BRENNAN")[0] == "On track"

    for _step in clinic.worklist_ahead(rows, NOW):  # what the window runs after the list
        pass
    with qtbot.waitSignal(panel.model.dataChanged):
        panel.show_drifts(clinic.known_drifts())

    text, background, tooltip = status_cell(panel, "BRENNAN")
    assert text == "On track \u00b7 drift"
    assert background.color() == SOON_BG  # type: ignore[attr-defined]
    worklist = clinic.clinic_worklist(now=NOW, drift_limit=None)
    drift_line = next(
        i
        for i in worklist.items
        if i.category is Category.DELIVERY_DRIFT and i.patient == "BRENNAN, Thomas"
    )
    assert tooltip.endswith(f"Delivery drift: {drift_line.reason}")
    assert "withdrawal" in tooltip
    drifting = {i.patient for i in worklist.items if i.category is Category.DELIVERY_DRIFT}
    for r in range(panel.model.rowCount()):
        name = panel.model.index(r, 0).data()
        assert panel.model.index(r, 3).data().endswith("drift") == (name in drifting), name

    panel.show_drifts({})  # drift no longer known (say, the pump's records changed)
    assert status_cell(panel, "BRENNAN")[:2] == ("On track", None)
