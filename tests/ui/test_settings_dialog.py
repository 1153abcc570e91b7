"""Tools > Clinic settings: an administrator changes the margin and every date on screen
follows; anyone else sees the values and cannot change them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from itbconsole.model import Role, User
from itbconsole.settings import ClinicSettings
from ui.settings_dialog import ClinicSettingsDialog


def test_an_administrator_changes_the_margin_and_the_list_follows(
    console: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = console  # tests/ui/conftest.py Console
    window = c.window  # type: ignore[attr-defined]
    clinic = c.clinic  # type: ignore[attr-defined]
    murphy = c.patient_id("Murphy")  # type: ignore[attr-defined]
    before = clinic.patient_row(murphy)
    assert before is not None and before.refill_by is not None
    clinic.user = User("Ada Admin", Role.ADMINISTRATOR)

    def answer(dialog: ClinicSettingsDialog) -> tuple[ClinicSettings, str] | None:
        assert dialog.editable
        dialog.spins["refill_margin_days"].setValue(10)
        dialog.note.setText("clinic policy from January")
        dialog.accept_if_valid()
        return dialog.result_value

    monkeypatch.setattr(ClinicSettingsDialog, "ask", answer)
    window.settings_action.trigger()
    assert clinic.settings.refill_margin_days == 10
    after = clinic.patient_row(murphy)
    assert after is not None and after.refill_by == before.refill_by - timedelta(days=3)
    model = window.patient_list.model
    row = next(i for i, r in enumerate(model.rows) if r.patient.id == murphy)
    assert model.index(row, 4).data() == after.refill_by.strftime("%d %b %Y")
    assert "10-day margin" in model.index(row, 4).data(Qt.ItemDataRole.ToolTipRole)
    history = clinic.store.settings_history()
    assert history[-1][0].by == "Ada Admin" and history[-1][2] == "clinic policy from January"


def test_others_see_the_settings_read_only(qtbot: object) -> None:
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=False)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert not dialog.spins["refill_margin_days"].isEnabled()
    dialog.accept_if_valid()
    assert dialog.result_value is None


def test_no_reason_or_no_change_saves_nothing(qtbot: object) -> None:
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=True)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.accept_if_valid()
    assert dialog.result_value is None and "Nothing has changed" in dialog.message.text()
    dialog.spins["due_soon_days"].setValue(21)
    dialog.accept_if_valid()
    assert dialog.result_value is None and "Say why" in dialog.message.text()
    dialog.zone.setCurrentText("Atlantis/Capital")
    dialog.note.setText("new zone please")
    dialog.accept_if_valid()
    assert dialog.result_value is None and "not a time zone" in dialog.message.text()


def test_many_stale_forecasts_are_caught_up_without_freezing_the_window(
    console: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After new settings (or an update) every pump's dates are worked out again, a few at a
    time behind a progress bar, and the list then shows them."""
    import ui.main_window as mw

    monkeypatch.setattr(mw, "CATCH_UP_AT", 3)
    monkeypatch.setattr(mw, "CATCH_UP_BATCH", 2)
    c = console
    clinic = c.clinic  # type: ignore[attr-defined]
    window = c.window  # type: ignore[attr-defined]
    clinic.user = User("Ada Admin", Role.ADMINISTRATOR)
    clinic.update_settings(replace(clinic.settings, due_soon_days=30), "wider window")
    assert len(clinic.stale_pumps()) == 12
    window.refresh_patients()
    assert window._catching_up is not None  # working, window still answering
    c.qtbot.waitUntil(lambda: window._catching_up is None, timeout=10_000)  # type: ignore[attr-defined]
    assert clinic.stale_pumps() == []
    rows = window.patient_list.model.rows
    assert len(rows) == 12 and all(r.status is not None for r in rows)
    assert sum(r.status.status.value == "due_soon" for r in rows) >= 4


def test_the_clinic_contact_and_paper_are_edited_with_the_settings(qtbot: object) -> None:
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=True)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.texts["clinic_name"].setText("  Neuro   ITB Service ")
    dialog.texts["clinic_phone_24h"].setText("+44 20 7946 0000")
    dialog.paper.setCurrentIndex(dialog.paper.findData("Letter"))
    dialog.note.setText("contact for the printouts")
    dialog.accept_if_valid()
    assert dialog.result_value is not None
    saved, note = dialog.result_value
    assert (saved.clinic_name, saved.clinic_phone_24h, saved.paper_size) == (
        "Neuro ITB Service", "+44 20 7946 0000", "Letter",
    )  # fmt: skip
    assert saved.clinic_address == "" and note == "contact for the printouts"


def test_a_telephone_nobody_can_dial_is_refused_next_to_the_form(qtbot: object) -> None:
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=True)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.texts["clinic_phone_24h"].setText("ring the ward")
    dialog.note.setText("contact for the printouts")
    dialog.accept_if_valid()
    assert dialog.result_value is None
    assert "clinic_phone_24h" in dialog.message.text() and "digits" in dialog.message.text()


def test_the_contact_is_read_only_for_others(qtbot: object) -> None:
    settings = ClinicSettings(clinic_name="Neuro ITB", clinic_phone_24h="+44 20 7946 0000")
    dialog = ClinicSettingsDialog(settings, editable=False)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.texts["clinic_name"].text() == "Neuro ITB"
    assert not dialog.texts["clinic_phone_24h"].isEnabled() and not dialog.paper.isEnabled()


def test_the_hospital_number_system_for_the_fhir_export_is_edited_and_checked(
    qtbot: object,
) -> None:
    dialog = ClinicSettingsDialog(ClinicSettings(), editable=True)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    system = dialog.texts["hospital_number_system"]
    system.setText("MRN")  # not a URI: refused next to the form, nothing saved
    dialog.note.setText("the hospital's patient numbers")
    dialog.accept_if_valid()
    assert dialog.result_value is None
    assert "hospital_number_system" in dialog.message.text()
    system.setText(" urn:oid:2.16.840.1.113883.2.1.3.2 ")
    dialog.accept_if_valid()
    assert dialog.result_value is not None
    saved, _ = dialog.result_value
    assert saved.hospital_number_system == "urn:oid:2.16.840.1.113883.2.1.3.2"
    read_only = ClinicSettingsDialog(saved, editable=False)
    qtbot.addWidget(read_only)
    assert read_only.texts["hospital_number_system"].text() == saved.hospital_number_system
    assert not read_only.texts["hospital_number_system"].isEnabled()
