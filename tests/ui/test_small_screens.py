"""Nothing in the patient view is cut off on the screens the console is made for.

Every demo patient (long alarm texts, a drift panel, stale-reading headlines, flex steps) is
opened at 1366 x 768 and 1920 x 1080. Every time a label of the patient header or the
Overview paints, it must be as tall as its words need at its width (``heightForWidth`` for
a wrapped label, ``sizeHint`` otherwise) and no parent may cut it: a frame painted with the
last line of a label missing is what a nurse sees as clipped text. Once the window has
settled, every label shown (scrolled into view or not) must fit the same way.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QRect
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea, QWidget

from itbconsole.demo import DEMO_PATIENTS
from tests.ui.conftest import Console

SCREENS = [(1366, 768), (1920, 1080)]


def required_height(label: QLabel) -> int:
    """The height the label's words need at its present width."""
    if label.wordWrap():
        needed = label.heightForWidth(label.width())
        if needed >= 0:
            return needed
    return label.sizeHint().height()


def visible_rect(label: QLabel) -> QRect:
    """The part of the label its parents leave visible, in the label's coordinates. A scroll
    area's viewport does not count: what it hides is a scroll away."""
    rect = QRect(QPoint(0, 0), label.size())
    widget: QWidget = label
    offset = QPoint(0, 0)
    while (parent := widget.parentWidget()) is not None and not widget.isWindow():
        offset += widget.pos()
        area = parent.parentWidget()
        if isinstance(area, QScrollArea) and parent is area.viewport():
            break
        rect = rect.intersected(QRect(QPoint(0, 0), parent.size()).translated(-offset))
        widget = parent
    return rect


def clipping(label: QLabel) -> str | None:
    """Why the label's text is cut off, or None when it all shows."""
    rect = visible_rect(label)
    name = label.accessibleName() or label.objectName()
    needed = required_height(label)
    if rect.height() < needed:
        return f"{name!r} shows {rect.height()} px of the {needed} px its text needs"
    if not label.wordWrap() and rect.width() < label.sizeHint().width():
        return f"{name!r} shows {rect.width()} px of the {label.sizeHint().width()} px wide text"
    return None


def labels_shown(root: QWidget) -> list[QLabel]:
    return [
        label
        for label in root.findChildren(QLabel)
        if label.isVisibleTo(root.window()) and label.text()
    ]


class PaintWatch(QObject):
    """Notes every label under ``root`` that paints while its text is cut off."""

    def __init__(self, root: QWidget) -> None:
        super().__init__()
        self.root = root
        self.clipped: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Paint
            and isinstance(watched, QLabel)
            and watched.text()
            and self.root.isAncestorOf(watched)
        ):
            why = clipping(watched)
            if why is not None:
                self.clipped.append(why)
        return False


def cut_off_while_shown(console: Console, screen: tuple[int, int], *, from_tab: str) -> list[str]:
    """Open every demo patient at ``screen`` with the ``from_tab`` tab in front, then bring
    the Overview to the front: every label painted cut off, per patient."""
    window = console.window
    view = window.patient_view
    window.resize(*screen)
    console.qtbot.waitUntil(lambda: window.size().toTuple() == screen)
    app = QApplication.instance()
    assert app is not None
    watch = PaintWatch(view)
    app.installEventFilter(watch)
    failures: list[str] = []
    try:
        for spec in DEMO_PATIENTS:
            view.tabs.setCurrentWidget(getattr(view, from_tab))
            watch.clipped.clear()
            window.open_patient(console.patient_id(spec.family))
            view.tabs.setCurrentWidget(view.overview)
            # Settled: every label shown is as tall as its words (a scroll away or not).
            console.qtbot.waitUntil(
                lambda: all(clipping(label) is None for label in labels_shown(view))
            )
            window.grab()  # paints every label in view once more, as the screen shows it
            failures += [f"{spec.family}: {why}" for why in dict.fromkeys(watch.clipped)]
    finally:
        app.removeEventFilter(watch)
    return failures


@pytest.mark.parametrize("screen", SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def test_no_label_is_cut_off_for_any_demo_patient(
    console: Console, screen: tuple[int, int]
) -> None:
    assert cut_off_while_shown(console, screen, from_tab="overview") == []


def test_the_overview_shown_after_another_tab_is_not_cut_off(console: Console) -> None:
    """The patient filled in while History was in front: the Overview lays out when shown."""
    assert cut_off_while_shown(console, (1366, 768), from_tab="history") == []


def test_the_check_sees_a_label_cut_off(console: Console) -> None:
    """The check itself: a label squeezed below its words' height is reported."""
    console.window.resize(1366, 768)
    console.window.open_patient(console.patient_id("Brennan"))
    drift = console.window.patient_view.overview.drift_value
    console.qtbot.waitUntil(lambda: clipping(drift) is None)
    drift.setFixedHeight(required_height(drift) - 10)
    assert "Delivery drift" in (clipping(drift) or "")


def test_the_refill_button_that_updates_the_pump_is_never_cut_short(console: Console) -> None:
    """The review step's "Confirm and update pump" keeps its whole label at the wizard's
    opening size, whatever the footer says beside it."""
    from ui.refill import open_refill_wizard

    console.window.open_patient(console.patient_id("Okafor"))
    wizard = open_refill_wizard(console.window)
    assert wizard is not None
    console.qtbot.addWidget(wizard)
    wizard.resize(960, 640)
    console.qtbot.waitUntil(lambda: wizard.isVisible(), timeout=3_000)
    # The label changes as the review step is reached: whatever is drawn next (before or
    # after the layout catches up) shows it whole.
    wizard.next_button.setText("&Confirm and update pump")
    assert wizard.next_button.width() >= wizard.next_button.sizeHint().width()
    wizard.cancel()
