"""The main window around the workflows: a refill stays tied to its patient, a save updates
one list row, opening a patient reads no pump events, the status bar lets go of a link
job's step, and demo mode says so in the window."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from itbconsole.settings import ClinicSettings
from itbconsole.store import queries
from tests.ui.conftest import LONDON, Console
from ui.main_window import MainWindow
from ui.refill import open_refill_wizard


def loaded(console: Console) -> None:
    console.qtbot.waitUntil(lambda: console.window.patient_list.loaded, timeout=5_000)


def open_refill(console: Console, family: str = "Okafor") -> Any:
    console.window.open_patient(console.patient_id(family))
    wizard = open_refill_wizard(console.window)
    assert wizard is not None
    console.qtbot.addWidget(wizard)
    return wizard


def test_with_a_refill_open_another_patient_is_not_opened(console: Console) -> None:
    loaded(console)
    okafor, patel = console.patient_id("Okafor"), console.patient_id("Patel")
    wizard = open_refill(console)
    console.window.patient_list.select_patient(patel)  # a click on Patel's row
    assert console.window.current_patient_id == okafor
    assert console.window.patient_view.header.name.text() == "OKAFOR, Grace"
    title, message = console.prompts.errors[-1]
    assert title == "Refill in progress"
    assert "OKAFOR, Grace" in message and "Finish it, or cancel it" in message
    # The list goes back to the refill's patient; the worklist is held back the same way.
    panel = console.window.patient_list

    def selected() -> list[int | None]:
        rows = panel.table.selectionModel().selectedRows()
        return [panel.model.patient_id_at(i.row()) for i in rows]

    console.qtbot.waitUntil(lambda: selected() == [okafor], timeout=3_000)
    console.window.open_patient_from_worklist(patel)
    assert console.window.current_patient_id == okafor
    # Once the refill is closed, the other patient opens.
    wizard.cancel()
    console.qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=3_000)
    console.window.open_patient(patel)
    assert console.window.patient_view.header.name.text() == "PATEL, Ravi"


def test_with_a_refill_open_change_program_does_not_start(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr("ui.program.open_program_editor", lambda window: started.append(window))
    open_refill(console)
    console.window.edit_program()
    assert started == []
    assert console.prompts.errors[-1][0] == "Refill in progress"
    assert "before changing the program" in console.prompts.errors[-1][1]


def test_without_a_refill_change_program_starts(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr("ui.program.open_program_editor", lambda window: started.append(window))
    console.window.open_patient(console.patient_id("Okafor"))
    console.window.edit_program()
    assert started == [console.window]


def test_refresh_after_a_save_reads_only_the_changed_rows(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the refill and the program change call when they finish: one row read again,
    never the whole list, and the patient not opened by it."""
    loaded(console)
    window, clinic = console.window, console.clinic
    okafor = console.patient_id("Okafor")
    window.open_patient(okafor)
    whole: list[object] = []
    monkeypatch.setattr(clinic, "patient_list", lambda *a, **k: whole.append(a))
    read: list[list[int]] = []
    rows_of = clinic.patient_rows_of

    def rows_read(ids: list[int], now: Any = None) -> Any:
        read.append(list(ids))
        return rows_of(ids, now)

    monkeypatch.setattr(clinic, "patient_rows_of", rows_read)
    opened: list[int] = []
    window.patient_list.patient_selected.connect(opened.append)
    # A saved record drops the pump's stored forecast; the row shows the new dates.
    clinic.store.record_catheter_revision(
        clinic.pump_of(okafor),  # type: ignore[arg-type]
        clinic.user,
        revised_on=clinic.today(),
        tip_level="T10",
    )
    window.refresh_patients()
    assert whole == [] and read == [[okafor]] and opened == []
    assert len(window.patient_list.model.all_rows) == 12


def test_opening_a_patient_reads_no_pump_events(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[object] = []
    original = queries.rec.event_from_row

    def decode(row: Any) -> Any:
        decoded.append(row)
        return original(row)

    monkeypatch.setattr(queries.rec, "event_from_row", decode)
    found = console.clinic.store.db.execute(
        "SELECT patient_id FROM pump_events GROUP BY patient_id ORDER BY COUNT(*) DESC"
    ).fetchone()
    assert found is not None
    patient_id = int(found[0])
    console.window.open_patient(patient_id)
    assert console.window.patient_view.header.isVisible()
    assert decoded == []
    # Those who need the events still get them, read when first used.
    history = console.clinic.patient_history(patient_id)
    assert len(list(history.events)) == len(decoded) > 0


def test_the_status_bar_lets_go_of_the_event_log_step_when_the_job_ends(
    console: Console,
) -> None:
    window = console.window
    console.connect(console.sim_url("healthy"))
    window.link.job_progress.emit("Reading the pump's event log", 3, 10)
    assert window.statusBar().currentMessage() == "Reading the pump's event log"
    window.link.busy_changed.emit(False)  # the job ended (done, failed or cancelled)
    assert window.statusBar().currentMessage() == ""
    # After an interrogation the status bar says what was saved, not the last step.
    console.interrogate_and_wait()
    assert "event log" not in window.statusBar().currentMessage()
    assert window.statusBar().currentMessage().startswith("Interrogation saved")


def test_a_failed_job_leaves_its_error_not_its_step(console: Console) -> None:
    window = console.window
    window.link.job_progress.emit("Reading the pump's event log", 3, 10)
    window._link_error("Interrogation failed", TimeoutError("no answer"))
    window.link.busy_changed.emit(False)
    assert window.statusBar().currentMessage().startswith("Interrogation failed")


def window_on(tmp_path: Path, *, demo: bool, training: bool) -> MainWindow:
    store = open_demo_store(tmp_path / "demo.sqlite")
    settings_in_use = replace(store.clinic_settings() or ClinicSettings(), training=int(training))
    clinic = ClinicService(store, load_drug_library(), DEMO_USER, LONDON, settings=settings_in_use)
    assert clinic.training is training
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return MainWindow(
        clinic,
        log_path=tmp_path / "log",
        settings=settings,
        discover_ports=lambda: [],
        demo=demo,
    )


@pytest.mark.parametrize(("demo", "training"), [(True, False), (True, True), (False, True)])
def test_demo_and_training_show_a_banner_in_the_window(
    qtbot: Any, tmp_path: Path, demo: bool, training: bool
) -> None:
    window = window_on(tmp_path, demo=demo, training=training)
    qtbot.addWidget(window)
    window.show()
    banner = window.training_banner
    assert banner.isVisible() and banner.text().startswith("TRAINING")
    assert ("demo mode" in banner.text()) is demo
    window.show_worklist()  # still in view on the other page
    assert banner.isVisible()
    window.close()
    window.clinic.store.close()


def test_a_clinic_database_shows_no_banner(qtbot: Any, tmp_path: Path) -> None:
    window = window_on(tmp_path, demo=False, training=False)
    qtbot.addWidget(window)
    window.show()
    assert not window.training_banner.isVisible()
    window.close()
    window.clinic.store.close()


def test_an_interrogation_is_saved_off_the_gui_thread(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of new events take over a second to write: the save runs on a worker
    thread with its own connection, and the window shows the result when it is done."""
    import threading

    threads: list[str] = []
    original = ClinicService.save_interrogation

    def save(self: ClinicService, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ClinicService, "save_interrogation", save)
    console.connect(console.sim_url("healthy"))
    readings = console.count("readings")
    console.interrogate_and_wait()
    assert console.prompts.errors == []
    assert threads == ["itbconsole-interrogation-save"]
    assert console.count("readings") == readings + 1
    assert console.window.patient_view.header.name.text() == "OKAFOR, Grace"
    assert console.window.statusBar().currentMessage().startswith("Interrogation saved")


def test_a_forecast_kept_in_memory_never_outlives_a_new_record(console: Console) -> None:
    """Opening a patient again reuses the forecast computed a moment ago, but a record
    written since (here a new reading, as another program would write it) is always
    counted: the Overview never shows dates from before it."""
    from datetime import timedelta

    clinic = console.clinic
    okafor = console.patient_id("Okafor")
    pump = clinic.pump_of(okafor)
    assert pump is not None
    first = clinic.forecast_for(pump.serial)
    assert clinic.forecast_for(pump.serial) is first  # kept while nothing changed
    latest = clinic.latest_reading(okafor, pump.serial)
    assert latest is not None
    later = latest.at + timedelta(days=1)
    clinic.store.add_reading(
        replace(latest, at=later, pump_clock=later, reservoir_ul=latest.reservoir_ul // 2, id=None),
        clinic.user,
        patient_id=okafor,
    )
    after = clinic.forecast_for(pump.serial)
    assert after is not first and after.summary() != first.summary()
    console.window.open_patient(okafor)
    shown = console.window.patient_view.overview.reservoir_value.text()
    assert f"{latest.reservoir_ul // 2 / 1000:.2f} mL" in shown


def menu_action(console: Console, text: str) -> Any:
    from PySide6.QtGui import QAction

    (action,) = [a for a in console.window.findChildren(QAction) if a.text() == text]
    return action


def test_the_printouts_and_the_lot_search_are_in_the_menus(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtPrintSupport import QPrintPreviewDialog

    import ui.travel_letter
    from ui.lot_search_view import LotSearchDialog

    loaded(console)
    console.window.open_patient(console.patient_id("Fischer"))
    card = menu_action(console, "Print &emergency card...")
    assert card.shortcut().toString() == "Ctrl+Shift+E"
    card.trigger()
    previews = console.window.findChildren(QPrintPreviewDialog, "printPreview")
    assert len(previews) == 1 and not console.prompts.errors
    previews[0].close()
    asked: list[object] = []

    def no_trip(parent: object, today: object) -> tuple[bool, None]:
        asked.append(today)
        return True, None

    monkeypatch.setattr(ui.travel_letter, "ask_return_date", no_trip)
    menu_action(console, "Print tra&vel letter...").trigger()
    assert asked and not console.prompts.errors
    assert len(console.window.findChildren(QPrintPreviewDialog, "printPreview")) >= 1
    lot = menu_action(console, "&Lot search...")
    assert lot.shortcut().toString() == "Ctrl+Shift+F"
    lot.trigger()
    dialogs = [w for w in console.window.findChildren(LotSearchDialog) if w.isVisible()]
    assert len(dialogs) == 1
    dialogs[0].close()


def test_tools_menu_opens_the_sync_conflicts(console: Console) -> None:
    from ui.sync_conflicts_view import SyncConflictsDialog

    menu_action(console, "Sync &conflicts...").trigger()
    dialogs = [w for w in console.window.findChildren(SyncConflictsDialog) if w.isVisible()]
    assert len(dialogs) == 1
    dialogs[0].close()
