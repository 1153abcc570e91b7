"""Where files go: a save dialog opens in the user's Documents folder, never the folder the
program runs in; demo mode keeps its own window settings, so a training session never
changes the port or window the clinic's console opens with."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from itbconsole import paths
from ui import dialogs


@pytest.fixture
def documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "Documents"
    folder.mkdir()
    real = QStandardPaths.writableLocation

    def location(kind: QStandardPaths.StandardLocation) -> str:
        if kind == QStandardPaths.StandardLocation.DocumentsLocation:
            return str(folder)
        return real(kind)

    monkeypatch.setattr(QStandardPaths, "writableLocation", staticmethod(location))
    return folder


def test_a_save_dialog_opens_in_documents(documents: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str, str]] = []

    def dialog(_parent: object, caption: str, start: str, file_filter: str) -> tuple[str, str]:
        asked.append((caption, start, file_filter))
        return str(documents / "list.pdf"), file_filter

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    monkeypatch.chdir(documents.parent)  # the folder the program happens to run in
    chosen = dialogs.ask_save_path(None, "Save the list", "worklist.pdf", "PDF (*.pdf)")
    assert chosen == str(documents / "list.pdf")
    assert asked == [("Save the list", str(documents / "worklist.pdf"), "PDF (*.pdf)")]


def test_a_cancelled_save_dialog_is_none(documents: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *_a: ("", "")))
    assert dialogs.ask_save_path(None, "Export", "trends.png", "PNG (*.png)") is None


def test_without_a_documents_folder_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QStandardPaths, "writableLocation", staticmethod(lambda _kind: ""))
    monkeypatch.setattr(Path, "home", staticmethod(lambda: tmp_path))
    assert dialogs.save_start_path("backup.sqlite") == str(tmp_path / "backup.sqlite")
    # A suggestion that names its folder keeps it.
    assert dialogs.save_start_path(str(tmp_path / "x" / "a.csv")) == str(tmp_path / "x" / "a.csv")


def test_demo_mode_keeps_its_own_window_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path))
    real = paths.window_settings_path()
    demo = paths.window_settings_path(demo=True)
    assert real == tmp_path / "settings.ini"
    assert demo.parent == tmp_path and demo != real
    assert paths.demo_db_path() == tmp_path / "demo.sqlite" != paths.default_db_path()
