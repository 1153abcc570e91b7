"""The Qt binding must not lose references to Python's singletons.

PySide6 6.12.0 under Python 3.11 drops a reference to ``None`` on every Qt call that
returns nothing; after some thousands of calls (minutes of panning a plot) the interpreter
aborts with "deallocating None". setup.cfg excludes that release; this test fails on any
binding with the same fault, so an upgrade cannot bring it back unnoticed.
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QPen
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot


def test_void_qt_calls_keep_none_true_and_false_alive(qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    pen = QPen()
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(2000):
        widget.setVisible(False)
        pen.setWidth(2)
        widget.isVisible()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    # Immortal objects (Python 3.12+) report a constant count; others may drift by a few.
    assert all(a - b > -100 for a, b in zip(after, before, strict=True)), (before, after)
