"""After the Trends tab's first drawing, pyqtgraph and the plots are out of the cyclic
garbage collector's reach, so a full collection set off while the next patient's trends
are built or drawn does not walk them (it held the window for 40-70 ms)."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest

from tests.ui.conftest import Console
from tests.ui.test_trends import open_trends
from ui import trends_view


def tracked(obj: object) -> bool:
    """Whether the cyclic collector walks ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def test_the_plots_are_frozen_once_after_the_first_drawing(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trends_view, "_plots_frozen", False)
    frozen: list[int] = []
    real_freeze = gc.freeze

    def freeze() -> None:
        frozen.append(1)
        real_freeze()

    monkeypatch.setattr(trends_view, "gc", SimpleNamespace(freeze=freeze))
    tab = open_trends(console, "Brennan")
    view = tab.view()
    assert frozen == [1]
    assert not tracked(view.plots["reservoir"]) and not tracked(view.graphics)
    console.window.open_patient(console.patient_id("Okafor"))
    console.qtbot.waitUntil(
        lambda: "OKAFOR" in tab.title.text() and tab.trends is not None, timeout=10_000
    )
    assert frozen == [1]  # once: what later drawings leave behind is still collected
    assert tracked(tab.trends)
