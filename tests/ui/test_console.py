"""The desktop console as a nurse uses it: demo clinic, search, interrogation, registration,
wrong-patient block, link loss, and a responsive window during slow reads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QElapsedTimer, Qt, QTimer

from drivers import protocol_simpump
from itbconsole.model import Pump
from tests.ui.conftest import Console
from ui.records_dialogs import PatientDialog, PumpDialog, UnknownPumpDialog


def visible_rows(console: Console) -> list[str]:
    """The names the list shows, once it has arrived (it is read after the window shows)."""
    console.qtbot.waitUntil(lambda: console.window.patient_list.loaded, timeout=5_000)
    model = console.window.patient_list.model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def test_demo_clinic_lists_every_patient_soonest_alarm_first(console: Console) -> None:
    rows = visible_rows(console)
    assert len(rows) == 12
    # Sorted by status, then refill-by: Walsh's drug has been in the pump longer than its
    # maximum interval (counted from the fill), so she is overdue and first.
    assert rows[0] == "WALSH, Siobhan"
    assert console.window.patient_list.model.index(0, 3).data() == "Overdue"
    reason = console.window.patient_list.model.index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    assert "180 days from the fill" in reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("okaf", "OKAFOR, Grace"),
        ("H100388", "BRENNAN, Thomas"),
        ("943 476 5919", "OKAFOR, Grace"),
        ("SIM0000003", "PATEL, Ravi"),
    ],
)
def test_search_by_name_hospital_nhs_number_and_pump_serial(
    console: Console, text: str, expected: str
) -> None:
    console.window.patient_list.search.setText(text)
    console.qtbot.waitUntil(lambda: visible_rows(console) == [expected], timeout=3_000)


def test_choosing_a_patient_shows_header_and_overview(console: Console) -> None:
    pid = console.patient_id("Patel")
    assert console.window.patient_list.select_patient(pid)
    view = console.window.patient_view
    assert view.header.name.text() == "PATEL, Ravi"
    assert "H100502" in view.header.details.text()
    assert "SIM0000003" in view.header.pump.text()
    # Patel's battery is past ERI in the demo history.
    assert "Elective Replacement Indicator" in view.overview.battery_value.text()


def test_interrogation_over_simpump_shows_the_simulators_values(console: Console) -> None:
    url = console.sim_url("healthy")
    console.connect(url)
    pump = protocol_simpump.get_pump(console.sim_names[-1])
    readings_before = console.count("readings")
    console.interrogate_and_wait()
    assert console.prompts.errors == []
    overview = console.window.patient_view.overview
    assert console.window.patient_view.header.name.text() == "OKAFOR, Grace"
    expected_ml = f"{pump.reservoir_ul / 1000:.2f} mL of 40.00 mL"
    assert overview.reservoir_value.text() == expected_ml
    assert "500.0 mcg per 24 h" in overview.program_value.text()
    assert console.count("readings") == readings_before + 1
    saved = console.clinic.latest_reading(console.patient_id("Okafor"), "SIM0000001")
    assert saved is not None and saved.reservoir_ul == pump.reservoir_ul


def test_interrogation_stores_new_pump_events_once(console: Console) -> None:
    url = console.sim_url("healthy")
    console.connect(url)
    pump = protocol_simpump.get_pump(console.sim_names[-1])
    pump.alarm_test()
    pump.alarm_test()
    console.interrogate_and_wait()
    first = console.count("pump_events")
    console.interrogate_and_wait()
    assert console.count("pump_events") == first  # nothing stored twice
    pump.alarm_test()
    console.interrogate_and_wait()
    assert console.count("pump_events") == first + 1


def test_unknown_pump_is_registered_to_an_existing_patient_with_confirmation(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = console.patient_id("Kowalczyk")
    asked: dict[str, object] = {}

    def choose(self: UnknownPumpDialog) -> tuple[str, int | None]:
        asked["patients_offered"] = self.patient_combo.count()
        return ("existing", target)

    def fill_pump(self: PumpDialog) -> Pump | None:
        asked["serial_locked"] = self.serial.isReadOnly() and not self.capacity.isEnabled()
        return self.pump()

    monkeypatch.setattr(UnknownPumpDialog, "ask", choose)
    monkeypatch.setattr(PumpDialog, "ask", fill_pump)
    # Kowalczyk's old pump is explanted first: a patient has one pump at a time here.
    console.clinic.store.unregister_pump("PRM880420", console.clinic.user, note="replaced")
    console.connect(console.sim_url("clock-drift"))  # serial SIM0000007, registered to nobody
    console.interrogate_and_wait()
    assert asked["serial_locked"] is True
    assert asked["patients_offered"] == 12
    # A final confirmation names the patient and the pump.
    _title, message = console.prompts.confirms[-1]
    assert "SIM0000007" in message and "KOWALCZYK, Anna" in message and "H101262" in message
    assert console.clinic.owner_of("SIM0000007") is not None
    assert console.clinic.owner_of("SIM0000007").id == target  # type: ignore[union-attr]
    assert console.window.current_patient_id == target
    assert console.clinic.latest_reading(target, "SIM0000007") is not None


def test_unknown_pump_declined_saves_nothing(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(UnknownPumpDialog, "ask", lambda self: None)
    before = console.count("readings"), console.count("pump_events"), console.count("audit_log")
    console.connect(console.sim_url("clock-drift"))
    console.interrogate_and_wait()
    assert (
        console.count("readings"),
        console.count("pump_events"),
        console.count("audit_log"),
    ) == before
    assert console.clinic.owner_of("SIM0000007") is None


def test_wrong_patient_is_blocked_and_nothing_is_written(console: Console) -> None:
    walsh = console.patient_id("Walsh")
    console.window.patient_list.select_patient(walsh)
    assert console.window.current_patient_id == walsh
    before = console.count("readings"), console.count("pump_events"), console.count("audit_log")
    console.connect(console.sim_url("healthy"))  # Okafor's pump
    console.interrogate_and_wait()
    assert len(console.prompts.criticals) == 1
    title, message = console.prompts.criticals[0]
    assert "Wrong patient" in title and "OKAFOR, Grace" in message and "WALSH, Siobhan" in message
    assert (
        console.count("readings"),
        console.count("pump_events"),
        console.count("audit_log"),
    ) == before
    assert console.window.current_patient_id == walsh  # still on the patient the nurse chose


def test_link_lost_mid_interrogation_shows_an_error_and_changes_nothing(console: Console) -> None:
    console.connect(console.sim_url("healthy", "&baud=9600"))
    name = console.sim_names[-1]
    before = console.count("readings"), console.count("pump_events"), console.count("audit_log")
    # The programmer head slips off the pump after the first progress step.
    console.window.link.job_progress.connect(
        lambda *_: protocol_simpump.get_responder(name).faults.force("disconnect", 60.0)
    )
    console.interrogate_and_wait()
    assert console.prompts.errors, "the nurse must be told"
    title, message = console.prompts.errors[-1]
    assert title == "Interrogation failed"
    assert "programmer head" in message or "not answering" in message.lower()
    assert (
        console.count("readings"),
        console.count("pump_events"),
        console.count("audit_log"),
    ) == before


def test_cancel_stops_a_slow_interrogation_and_saves_nothing(console: Console) -> None:
    console.connect(console.sim_url("healthy", "&baud=1200"))
    before = console.count("readings")
    console.window.interrogate()
    console.qtbot.waitUntil(
        lambda: console.window.device_bar.cancel_button.isEnabled(), timeout=3_000
    )
    console.window.cancel()
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    assert console.prompts.errors and "Cancelled" in console.prompts.errors[-1][1]
    assert console.count("readings") == before


def test_gui_thread_stays_responsive_during_a_slow_interrogation(console: Console) -> None:
    console.connect(console.sim_url("healthy", "&baud=2400"))
    worst = [0]
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        worst[0] = max(worst[0], now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start()
    started = time.monotonic()
    console.interrogate_and_wait()
    timer.stop()
    assert console.prompts.errors == []
    assert time.monotonic() - started > 0.5, "at 2400 baud the interrogation takes wire time"
    assert worst[0] < 100, f"GUI thread blocked for {worst[0]} ms"


def test_new_patient_dialog_checks_nhs_number_and_required_fields(console: Console) -> None:
    dialog = PatientDialog(console.window)
    console.qtbot.addWidget(dialog)
    dialog.family.setText("Doe")
    dialog.hospital.setText("h999")
    assert dialog.patient() is None  # no given name, no date of birth: nothing defaulted
    assert "given name" in dialog.errors["given"].text()
    assert "date of birth" in dialog.errors["dob"].text()
    dialog.given.setText("Jane")
    dialog.dob.setDate(QDate(1975, 4, 2))
    dialog.nhs.setText("943 476 5918")  # wrong check digit
    assert dialog.patient() is None
    assert "not a valid NHS number" in dialog.errors["nhs"].text()
    dialog.nhs.setText("943 476 5919")
    patient = dialog.patient()
    assert (
        patient is not None
        and patient.nhs_number == "9434765919"
        and patient.hospital_number == "H999"
    )
    dialog.family.setText("  ")
    assert dialog.patient() is None and dialog.errors["family"].isVisibleTo(dialog)


def test_new_patient_is_saved_and_opened(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = PatientDialog(console.window)
    dialog.family.setText("Doe")
    dialog.given.setText("Jane")
    dialog.dob.setDate(QDate(1975, 4, 2))
    dialog.hospital.setText("H999")
    monkeypatch.setattr(PatientDialog, "ask", lambda self: dialog.patient())
    pid = console.window.new_patient()
    assert pid is not None
    assert console.window.patient_view.header.name.text() == "DOE, Jane"
    assert "No pump registered" in console.window.patient_view.header.pump.text()
    assert console.clinic.store.stamp("patients", pid).by == "Demo Clinician"


def test_a_hospital_number_already_in_use_is_refused_naming_the_patient(
    console: Console,
) -> None:
    dialog = PatientDialog(console.window, check_identity=console.clinic.check_identity)
    console.qtbot.addWidget(dialog)
    dialog.family.setText("Doe")
    dialog.given.setText("Jane")
    dialog.dob.setDate(QDate(1975, 4, 2))
    dialog.hospital.setText("h100388 ")  # Brennan's, typed in lower case with a space
    assert dialog.patient() is None
    assert "already belongs to BRENNAN, Thomas" in dialog.errors["hospital"].text()
    before = console.count("patients")
    dialog.hospital.setText("H999")
    dialog.nhs.setText("943 476 5919")  # Okafor's NHS number
    assert dialog.patient() is None and "OKAFOR, Grace" in dialog.errors["nhs"].text()
    assert console.count("patients") == before


def test_editing_a_patient_keeps_the_earlier_version(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = console.patient_id("Campbell")
    console.window.patient_list.select_patient(pid)

    def edit(self: PatientDialog) -> object:
        self.given.setText("Morag Ann")
        self.reason.setText("Middle name added at patient's request")
        return self.patient()

    monkeypatch.setattr(PatientDialog, "ask", edit)
    console.window.edit_patient()
    versions = console.clinic.store.patient_versions(pid)
    assert [v.record.given_name for v in versions] == ["Morag", "Morag Ann"]
    assert console.window.patient_view.header.name.text() == "CAMPBELL, Morag Ann"


def test_diagnostics_counts_frames(console: Console) -> None:
    from ui.diagnostics import DiagnosticsDialog

    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    dialog = DiagnosticsDialog(console.window.link, console.window)
    console.qtbot.addWidget(dialog)
    console.qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=3_000)

    def cell(r: int, c: int) -> str:
        item = dialog.table.item(r, c)
        assert item is not None
        return item.text()

    values = {cell(r, 0): cell(r, 1) for r in range(dialog.table.rowCount())}
    assert int(values["frames sent"]) >= 4


def test_demo_mode_attaches_a_simulated_pump_at_start(qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from itbconsole.demo import DEMO_USER, open_demo_store
    from itbconsole.druglib import load_drug_library
    from itbconsole.services.clinic import ClinicService
    from tests.ui.conftest import LONDON
    from ui.device_bar import PortChoice
    from ui.main_window import MainWindow

    store = open_demo_store(tmp_path / "demo.sqlite")
    clinic = ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
    window = MainWindow(
        clinic,
        log_path=tmp_path / "log",
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        extra_ports=[PortChoice("simpump://uitest-demo?scenario=healthy", "Simulated pump")],
        discover_ports=lambda: [],
        demo=True,
    )
    qtbot.addWidget(window)
    assert "TRAINING" in window.windowTitle() and window.training_banner.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.connected_identity is not None, timeout=10_000)
    assert window.connected_identity.serial == "SIM0000001"
    assert window.device_bar.interrogate_button.isEnabled() or window.link.busy
    window.close()
    protocol_simpump.forget_pump("uitest-demo")
    store.close()


def test_moving_the_head_to_another_pump_reads_that_pump_and_all_its_events(
    console: Console,
) -> None:
    from drivers.simulator.scenarios import build_scenario

    first = build_scenario("healthy")
    for _ in range(6):
        first.alarm_test()
    protocol_simpump.register_pump("uitest-swap", first)
    console.sim_names.append("uitest-swap")
    console.connect("simpump://uitest-swap")
    console.interrogate_and_wait()
    assert console.clinic.store.last_event_index("SIM0000001") == first.event_count - 1
    # The nurse moves the programmer head to the next patient's pump on the same port.
    second = build_scenario("under-delivery")
    for _ in range(3):
        second.alarm_test()
    instance = protocol_simpump.get_instance("uitest-swap")
    instance.pump = second
    instance.responder.pump = second
    console.window.patient_list.select_patient(console.patient_id("Brennan"))
    console.interrogate_and_wait()
    console.qtbot.waitUntil(
        lambda: console.clinic.store.last_event_index("SIM0000006") == second.event_count - 1,
        timeout=10_000,
    )
    assert console.window.connected_identity.serial == "SIM0000006"
    assert "SIM0000006" in console.window.device_bar.state_label.text()


def test_unknown_pump_with_nobody_open_preselects_nobody(console: Console) -> None:
    patients = console.clinic.all_patients()
    dialog = UnknownPumpDialog("SIM0000007", "SIM-40", patients, console.window)
    console.qtbot.addWidget(dialog)
    assert dialog.choice() is None  # two OKs can never register a pump to a stranger
    dialog.new_radio.setChecked(True)
    assert dialog.choice() == ("new", None)


def test_registration_declined_at_the_final_confirmation_saves_nothing(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = console.patient_id("Kowalczyk")
    console.clinic.store.unregister_pump("PRM880420", console.clinic.user, note="replaced")
    monkeypatch.setattr(UnknownPumpDialog, "ask", lambda self: ("existing", target))
    monkeypatch.setattr(PumpDialog, "ask", lambda self: self.pump())
    console.prompts.answer = False
    before = console.count("readings")
    console.connect(console.sim_url("clock-drift"))
    console.interrogate_and_wait()
    assert console.clinic.owner_of("SIM0000007") is None
    assert console.count("readings") == before


def test_closing_the_window_closes_the_port(console: Console) -> None:
    console.connect(console.sim_url("healthy"))
    client = console.window.link.worker.state["client"]
    console.window.close()
    assert not client.link.port.is_open
    assert "client" not in console.window.link.worker.state


def test_overview_shows_the_pumps_own_end_of_service_date(console: Console) -> None:
    """The End of Service date shown is the pump's, never a later projection (FDA Z-1338-2012)."""
    console.connect(console.sim_url("eri"))  # Patel's pump: ERI 60 days ago
    pump = protocol_simpump.get_pump(console.sim_names[-1])
    console.interrogate_and_wait()
    assert console.prompts.errors == []
    eos = pump.status().eos_date
    assert eos is not None
    text = console.window.patient_view.overview.battery_detail.text()
    assert f"{eos:%d %b %Y}" in text and "the pump's own date" in text
    # It survives a restart of the console: the date is in the record.
    assert console.clinic.store.latest_battery_report("SIM0000003") == (pump.status().eri_date, eos)


def test_replacing_a_pump_records_the_explant_and_keeps_the_old_history(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a patient who has a pump gets a new one only through an explant record;
    nobody is preselected in the unknown-pump dialog, not even the open patient."""
    from itbconsole.services.clinic import PumpReplacementNeeded
    from ui.records_dialogs import ExplantDialog

    target = console.patient_id("Kowalczyk")
    console.window.open_patient(target)
    old_refills = len(console.clinic.store.patient_history(target).refills)
    offered: dict[str, object] = {}

    def choose(self: UnknownPumpDialog) -> tuple[str, int | None]:
        offered["preselected"] = self.patient_combo.currentIndex()
        return ("existing", target)

    def explant(self: ExplantDialog) -> object:
        self.reason.setCurrentIndex(self.reason.findData("end_of_service"))
        self.note.setText("replaced at ERI, Mr Khan")
        return self.answer()

    monkeypatch.setattr(UnknownPumpDialog, "ask", choose)
    monkeypatch.setattr(PumpDialog, "ask", lambda self: self.pump())
    monkeypatch.setattr(ExplantDialog, "ask", explant)
    console.connect(console.sim_url("clock-drift"))  # SIM0000007, registered to nobody
    console.interrogate_and_wait()
    assert offered["preselected"] == -1
    assert console.clinic.owner_of("SIM0000007").id == target  # type: ignore[union-attr]
    assert console.clinic.owner_of("PRM880420") is None
    (explanted,) = console.clinic.store.explants(target)
    assert explanted[0] == "PRM880420" and explanted[2] == "end_of_service"
    console.window.open_patient(target)  # the old pump stays visible in the header's history
    assert "pump PRM880420 explanted (end of service)" in (
        console.window.patient_view.header.history.text()
    )
    assert len(console.clinic.store.patient_history(target).refills) == old_refills
    # Registering another pump to a patient with one, outside this flow, is refused.
    with pytest.raises(PumpReplacementNeeded, match="already has pump SIM0000007"):
        console.clinic.register_pump(Pump("NEW0000001", "SIM-40", 40_000, 2_000), target)


def test_a_catheter_revision_updates_the_dead_volume(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from ui.records_dialogs import CatheterRevisionDialog

    target = console.patient_id("Okafor")
    console.window.open_patient(target)

    def revise(self: CatheterRevisionDialog) -> object:
        assert self.length.text() == ""  # nothing prefilled: it feeds the arithmetic
        self.length.setText("45")
        self.per_cm.setText("2.2")
        self.tip.setText("T10")
        return self.answer()

    monkeypatch.setattr(CatheterRevisionDialog, "ask", revise)
    assert console.window.record_catheter_revision()
    pump = console.clinic.pump_of(target)
    assert pump is not None and pump.catheter_length_cm == Decimal(45)
    assert console.clinic.store.last_catheter_revision(pump.serial) is not None
    assert "catheter revised" in console.window.patient_view.header.history.text()


@pytest.mark.parametrize("cancel_at", ["pump form", "confirmation", None])
def test_a_new_patient_and_their_pump_are_saved_together_or_not_at_all(
    console: Console, monkeypatch: pytest.MonkeyPatch, cancel_at: str | None
) -> None:
    """Issue 17: "Register to a new patient", then Cancel on the pump form, left the new
    patient behind. Patient and pump are now one record."""

    def new_patient(self: PatientDialog) -> object:
        self.family.setText("Newman")
        self.given.setText("Nell")
        self.dob.setDate(QDate(1990, 6, 1))
        self.hospital.setText("H777001")
        return self.patient()

    monkeypatch.setattr(UnknownPumpDialog, "ask", lambda self: ("new", None))
    monkeypatch.setattr(PatientDialog, "ask", new_patient)
    monkeypatch.setattr(
        PumpDialog, "ask", lambda self: None if cancel_at == "pump form" else self.pump()
    )
    if cancel_at == "confirmation":
        monkeypatch.setattr(console.prompts, "confirm", lambda *_a: False)
    before = console.count("patients")
    console.connect(console.sim_url("clock-drift"))  # SIM0000007, registered to nobody
    console.interrogate_and_wait()
    if cancel_at is None:
        owner = console.clinic.owner_of("SIM0000007")
        assert owner is not None and owner.family_name == "Newman"
        assert console.count("patients") == before + 1
    else:
        assert console.count("patients") == before
        assert console.clinic.owner_of("SIM0000007") is None


def test_a_clinic_database_refuses_a_simulated_pump(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a simulator in a real clinic database writes simulated readings into real
    records. A clinic database (not a training one) refuses them, with a message."""
    from dataclasses import replace as dc_replace

    from itbconsole.model import Role, User

    admin = User("Ada Admin", Role.ADMINISTRATOR)
    console.clinic.user = admin
    console.clinic.update_settings(dc_replace(console.clinic.settings, training=0), "go live")
    console.window.training_banner.setVisible(console.clinic.training)
    before = console.count("readings"), console.count("pump_events")
    console.connect(console.sim_url("healthy"))  # Okafor's SIM0000001, a simulator
    console.interrogate_and_wait()
    title, message = console.prompts.criticals[-1]
    assert title == "Training pump - nothing saved" and "simulated training pump" in message
    assert (console.count("readings"), console.count("pump_events")) == before
    assert not console.window.training_banner.isVisibleTo(console.window)


def test_any_port_can_be_typed_and_is_remembered(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a simulator served on its own port, or a programmer on an unusual one,
    can be reached from the window."""
    from ui.device_bar import OTHER_PORT
    from ui.dialogs import OtherPortDialog

    bar = console.window.device_bar
    # The window starts with a look for ports on the link; its result refills the port
    # list, so the choice below is made once it has ended.
    console.qtbot.waitUntil(lambda: not console.window.link.busy, timeout=5_000)
    assert bar.port_combo.findData(OTHER_PORT) == bar.port_combo.count() - 1
    bad = OtherPortDialog(console.window)
    console.qtbot.addWidget(bad)
    bad.edit.setText("http://nowhere")
    bad.accept_if_valid()
    assert bad.result_url is None and "does not know" in bad.error.text()
    url = console.sim_url("healthy")
    monkeypatch.setattr(OtherPortDialog, "ask", lambda self: url)
    bar.port_combo.setCurrentIndex(bar.port_combo.findData(OTHER_PORT))
    # Connect is enabled once the port scan the window starts with has ended.
    console.qtbot.waitUntil(lambda: bar.connect_button.isEnabled(), timeout=5_000)
    bar.connect_button.click()
    console.qtbot.waitUntil(lambda: console.window.connected_identity is not None, timeout=10_000)
    assert console.window.settings.value("link/other_port") == url
    assert bar.port_combo.findData(url) >= 0


def test_a_screening_trial_is_recorded_from_its_dialog_and_a_slip_is_refused_there(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a candidate's screening test dose. A 500 mcg slip (10x) is refused inside
    the dialog with the service's message, keeping what was typed; 50 mcg is recorded."""
    from datetime import date
    from decimal import Decimal

    from itbconsole.model import Origin, Patient
    from ui.records_dialogs import ScreeningTrialDialog

    candidate = console.clinic.add_patient(
        Patient("Quinn", "Ava", date(2015, 5, 5), "H990011", Origin.CEREBRAL)
    )
    assert candidate.id is not None
    console.window.open_patient(candidate.id)
    seen: dict[str, object] = {}

    def fill(self: ScreeningTrialDialog) -> bool:
        assert self.dose.text() == ""  # nothing prefilled
        self.dose.setText("500")
        self.lot.setText("LT4471")
        self.scores[0].setCurrentText("3")
        self.scores[60].setCurrentText("2")
        self.outcome.setCurrentIndex(self.outcome.findData("positive"))
        seen["refused"] = self.answer()
        seen["message"] = self.general_error.text()
        assert self.lot.text() == "LT4471"  # what was typed is kept
        assert console.clinic.screening_trials(candidate.id) == []  # type: ignore[arg-type]
        self.dose.setText("50")
        return self.answer()

    monkeypatch.setattr(ScreeningTrialDialog, "ask", fill)
    assert console.window.record_screening_trial()
    assert seen["refused"] is False and "outside 10 to 100 mcg" in str(seen["message"])
    [trial] = console.clinic.screening_trials(candidate.id)
    assert trial.dose_mcg == Decimal(50) and trial.scores == ((0, "3"), (60, "2"))
    assert trial.product == "Lioresal Intrathecal" and trial.concentration_mcg_ml == 50
    history = console.window.patient_view.header.history.text()
    assert "screening test dose 50 mcg: positive" in history
    assert "No pump is registered" in console.window.patient_view.overview.empty.text()
    # A patient without an NHS number says so, not "NHS -".
    assert "no NHS number" in console.window.patient_view.header.details.text().replace(
        "\u00a0", " "
    )
