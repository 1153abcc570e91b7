"""A console window on a fresh demo clinic, with recorded prompts instead of modal dialogs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from drivers import protocol_simpump
from itbconsole.demo import DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.services.clinic import ClinicService
from ui.device_bar import PortChoice
from ui.main_window import MainWindow

LONDON = ZoneInfo("Europe/London")
_names = itertools.count(1)


@dataclass
class RecordedPrompts:
    """Stands in for the window's modal messages; remembers what the user would have seen."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    criticals: list[tuple[str, str]] = field(default_factory=list)
    confirms: list[tuple[str, str]] = field(default_factory=list)
    answer: bool = True

    def error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def critical(self, title: str, message: str) -> None:
        self.criticals.append((title, message))

    def confirm(self, title: str, message: str) -> bool:
        self.confirms.append((title, message))
        return self.answer


@dataclass
class Console:
    window: MainWindow
    prompts: RecordedPrompts
    clinic: ClinicService
    qtbot: QtBot
    sim_names: list[str]

    def sim_url(self, scenario: str, extra: str = "") -> str:
        """A fresh named simulated pump (its own state) for this test."""
        name = f"uitest{next(_names)}"
        self.sim_names.append(name)
        return f"simpump://{name}?scenario={scenario}{extra}"

    def connect(self, url: str) -> None:
        self.window.connect_port(url)
        self.qtbot.waitUntil(
            lambda: self.window.connected_identity is not None or bool(self.prompts.errors),
            timeout=10_000,
        )
        assert self.window.connected_identity is not None, self.prompts.errors
        self.qtbot.waitUntil(lambda: not self.window.link.busy, timeout=5_000)

    def interrogate_and_wait(self) -> None:
        before = self.window.last_interrogation
        errors = len(self.prompts.errors)
        self.window.interrogate()
        self.qtbot.waitUntil(
            lambda: self.window.last_interrogation != before or len(self.prompts.errors) > errors,
            timeout=20_000,
        )
        self.qtbot.waitUntil(lambda: not self.window.link.busy, timeout=5_000)

    def patient_id(self, family: str) -> int:
        for row in self.clinic.patient_rows(family):
            if row.patient.family_name == family and row.patient.id is not None:
                return row.patient.id
        raise AssertionError(f"no demo patient {family}")

    def count(self, table: str) -> int:
        return int(self.clinic.store.db.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0])


@pytest.fixture
def console(qtbot: QtBot, tmp_path: Path) -> Iterator[Console]:
    store = open_demo_store(tmp_path / "demo.sqlite")
    clinic = ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(
        clinic,
        log_path=tmp_path / "itbconsole.log",
        settings=settings,
        extra_ports=[PortChoice("simpump://?scenario=healthy", "Simulated pump")],
        discover_ports=lambda: [],
    )
    prompts = RecordedPrompts()
    window.prompts = prompts  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.show()
    names: list[str] = []
    yield Console(window, prompts, clinic, qtbot, names)
    window.close()
    for name in names:
        protocol_simpump.forget_pump(name)
    store.close()


@pytest.fixture(autouse=True)
def _no_modal_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal dialog in a test would wait for a click that never comes; fail loudly instead.
    Tests answer dialogs through their ``ask()`` seams and the window's ``prompts``."""
    from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a modal dialog was opened in a test; answer it through its seam")

    monkeypatch.setattr(QDialog, "exec", refuse)
    monkeypatch.setattr(QMessageBox, "exec", refuse)
    for name in ("critical", "warning", "question", "information", "about"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(refuse))
    for name in ("getSaveFileName", "getOpenFileName"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(refuse))
