"""Patient and pump forms as a nurse fills them: a message goes as soon as its field is
right (and only the fields already complained about are checked again as she types), a
long message shows whole, and cancelling the registration of an unknown pump at any step
saves nothing, not even the new patient typed on the way."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import QDate
from pytestqt.qtbot import QtBot

from itbconsole.model import Origin, Patient, Pump
from tests.ui.conftest import Console
from ui.records_dialogs import PatientDialog, PumpDialog, ScreeningTrialDialog, UnknownPumpDialog

TODAY = date(2026, 11, 30)


def test_a_message_goes_when_its_value_is_corrected(qtbot: QtBot) -> None:
    dialog = PumpDialog(serial="SIM0000007", capacity_ul=40_000, today=TODAY, lock_serial=True)
    qtbot.addWidget(dialog)
    dialog.alarm.setText("2,0x")
    dialog.catheter_length.setText("abc")
    assert dialog.pump() is None
    shown = dialog.shown_errors()
    assert {"alarm", "catheter_length", "model"} <= set(shown)
    dialog.alarm.setText("2.0")  # corrected: its message goes at once
    assert "alarm" not in dialog.shown_errors()
    assert {"catheter_length", "model"} <= set(dialog.shown_errors())  # the others stay
    dialog.catheter_length.setText("ab")  # still wrong: the message says so for this value
    assert "'ab'" in dialog.shown_errors()["catheter_length"]
    dialog.catheter_length.setText("")
    dialog.model_combo.setCurrentIndex(1)
    assert dialog.shown_errors() == {}


def test_fields_not_yet_checked_stay_quiet_while_typing(qtbot: QtBot) -> None:
    dialog = PatientDialog(today=TODAY)
    qtbot.addWidget(dialog)
    dialog.family.setText("Quinn")
    dialog.hospital.setText("H990011")
    assert dialog.patient() is None  # given name and date of birth missing
    assert {"given", "dob"} <= set(dialog.shown_errors())
    dialog.given.setText("Ava")
    assert "given" not in dialog.shown_errors() and "dob" in dialog.shown_errors()
    dialog.nhs.setText("123")  # a wrong NHS number typed now is judged at OK, not mid-typing
    assert "nhs" not in dialog.shown_errors()
    dialog.dob.setDate(QDate(2015, 5, 5))
    assert dialog.shown_errors() == {}
    assert dialog.patient() is None and "nhs" in dialog.shown_errors()  # OK checks all


def test_a_refusal_on_ok_stays_until_the_next_ok(qtbot: QtBot) -> None:
    """The screening service's refusal (a dose out of range) is not a field check: typing
    elsewhere leaves it, the next OK checks it again."""
    refused: list[str] = []

    def submit(_trial: object, _reason: str) -> None:
        from itbconsole.services.screening import ScreeningError

        refused.append("x")
        raise ScreeningError("A screening dose of 500 mcg is outside 10 to 100 mcg.")

    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    dialog = ScreeningTrialDialog(
        1, [], submit, now=datetime(2026, 11, 30, 10, tzinfo=UTC), tz=ZoneInfo("Europe/London")
    )
    qtbot.addWidget(dialog)
    dialog.product.addItem("Lioresal 50 mcg/mL", ("Lioresal", 50))
    dialog.dose.setText("500")
    dialog.scores[0].setCurrentIndex(2)
    dialog.outcome.setCurrentIndex(1)
    assert not dialog.answer()
    assert "500 mcg" in dialog.shown_errors()["general"]
    dialog.lot.setText("LT1")
    assert "500 mcg" in dialog.shown_errors()["general"]


def test_long_messages_show_whole(qtbot: QtBot) -> None:
    dialog = PumpDialog(serial="SIM0000007", capacity_ul=40_000, today=TODAY, lock_serial=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.alarm.setText("abc")
    dialog.catheter_per_cm.setText("x")
    assert dialog.pump() is None
    for key in ("model", "alarm", "catheter_per_cm"):
        label = dialog.errors[key]
        needed = label.heightForWidth(label.width())
        assert label.height() >= needed, (key, label.height(), needed)
    layout = dialog.layout()
    assert layout is not None
    assert dialog.height() >= layout.totalHeightForWidth(dialog.width())


# --------------------------------------------------------------------------- unknown pump


@pytest.mark.parametrize("cancel_at", ["pump form", "confirmation"])
def test_cancelling_an_unknown_pumps_registration_saves_nothing(
    console: Console, monkeypatch: pytest.MonkeyPatch, cancel_at: str
) -> None:
    """A new patient typed on the way is saved only with the pump: cancel the pump form or
    the confirmation and neither exists (the guide says so)."""
    new = Patient("Quinn", "Ava", date(2015, 5, 5), "H990011", Origin.CEREBRAL)
    monkeypatch.setattr(UnknownPumpDialog, "ask", lambda self: ("new", None))
    monkeypatch.setattr(PatientDialog, "ask", lambda self: new)

    def pump_form(self: PumpDialog) -> Pump | None:
        if cancel_at == "pump form":
            return None
        self.model_combo.setCurrentIndex(1)
        return self.pump()

    monkeypatch.setattr(PumpDialog, "ask", pump_form)
    console.prompts.answer = cancel_at != "confirmation"
    before = {t: console.count(t) for t in ("patients", "pumps", "readings", "audit_log")}
    console.connect(console.sim_url("clock-drift"))  # SIM0000007, registered to nobody
    console.interrogate_and_wait()
    assert {t: console.count(t) for t in before} == before
    assert console.clinic.patient_rows("Quinn") == []
    assert console.clinic.owner_of("SIM0000007") is None
