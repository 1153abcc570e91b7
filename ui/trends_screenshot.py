"""Grab the Trends tab for the user guide: ``python -m ui.trends_screenshot``.

Opens the demo clinic at 1366 x 768 (offscreen Qt works) on Thomas Brennan, whose pump is
slowly under-delivering, waits until the tab has read and drawn his history (the series
are built on a worker thread), and saves ``docs/images/trends.png`` (the window) and
``docs/images/trends-export.png`` (what *Export PNG...* writes). ``--size 1920x1080
--out DIR`` takes them at another screen size.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ui.screenshots import OUT, close_demo, demo_window, parse_arguments, settle, wait_until


def main(out: Path = OUT, size: tuple[int, int] = (1366, 768)) -> int:
    from itbconsole.demo import DEMO_USER

    app, clinic, window = demo_window(DEMO_USER, extra_ports=[], size=size)
    patient = next(r.patient for r in clinic.patient_rows("Brennan") if r.patient.id is not None)
    assert patient.id is not None
    window.open_patient(patient.id)
    view = window.patient_view
    view.tabs.setCurrentWidget(view.trends)
    tab = view.trends
    wait_until(app, lambda: tab.trends is not None and "BRENNAN" in tab.title.text())
    settle(app)
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "trends.png"))
    tab.export_png(out / "trends-export.png")
    close_demo(window, clinic)
    print(f"Saved trends and trends-export in {out}")
    return 0


if __name__ == "__main__":
    out_dir, screen = parse_arguments(sys.argv[1:])
    sys.exit(main(out_dir, screen))
