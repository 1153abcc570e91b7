"""The program-change record printed from the Result page, as a clinician does it: send a
change with an override, press Print record, save the preview's pages as PDF."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtPrintSupport import QPrintPreviewDialog

import ui.printing
from tests.ui.conftest import Console
from tests.ui.test_printouts import pdf_info, pdf_text
from tests.ui.test_program_editor import connect_okafor, open_editor

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed"
)


def test_the_result_page_prints_the_record_of_the_change_sent(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_okafor(console)
    dialog = open_editor(console)
    dialog.daily.set_text("625")  # +25 %: outside the usual -20..+20 %, needs a reason
    dialog.reason.setText("severe tone after infection")
    dialog.go_review()
    (edit,) = dialog.override_edits.values()
    (category,) = dialog.override_categories.values()
    category.setCurrentIndex(category.findData("Prescribed by the consultant"))
    edit.setText("agreed with consultant, daily review")
    dialog.confirm_box.setChecked(True)
    dialog.send_button.click()
    console.qtbot.waitUntil(lambda: dialog.pages.currentIndex() == dialog.RESULT, timeout=15_000)
    assert dialog.print_button.isVisible()
    dialog.print_button.click()
    preview = console.window.findChild(QPrintPreviewDialog, "printPreview")
    assert preview is not None
    target = tmp_path / "record.pdf"
    monkeypatch.setattr(ui.printing, "ask_pdf_path", lambda parent, name: str(target))
    (save,) = [a for a in preview.actions() if a.objectName() == "savePdf"]
    save.trigger()
    assert pdf_info(target) == (1, (595, 842))  # the demo clinic's paper: A4
    (text,) = pdf_text(target)
    for needed in (
        "OKAFOR, Grace", "hospital no.",
        "500.0 mcg/24 h", "625.0 mcg/24 h", "+125.0 mcg/24 h (+25.0 %)",
        "Program sent and verified", "Read back from the pump",
        "Prescribed by the consultant: agreed with consultant, daily review",
        "severe tone after infection", console.clinic.user.name,
        "Demo ITB Service (training)", "+44 20 7946 0000",  # the demo clinic's contact
    ):  # fmt: skip
        assert needed in text, needed
    preview.close()
    dialog.close_button.click()
