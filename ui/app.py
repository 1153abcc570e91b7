"""Desktop application entry: QApplication, main window, logging."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from itbconsole import __version__
from itbconsole.paths import default_db_path


class MainWindow(QMainWindow):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.setWindowTitle(f"ITB Console {__version__}")
        label = QLabel(f"ITB Console\nDatabase: {db_path}")
        self.setCentralWidget(label)
        self.resize(1200, 760)


def run_app(db_path: str | None = None, demo: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow(default_db_path(db_path))
    window.show()
    return app.exec()
