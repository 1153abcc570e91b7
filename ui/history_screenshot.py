"""Grab the History tab for the user guide: ``python -m ui.history_screenshot``.

Opens the demo clinic at 1366 x 768 (offscreen Qt works) on Ravi Patel, whose pump is past
ERI, after what a clinic day adds to his record through the clinic service: an
interrogation whose pump log holds the ERI alarm, the pump clock set with the nurse's
agreement, and his NHS number added to his details (a correction shown next to the record
it corrects). Saves ``docs/images/history-tab.png``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ui.screenshots import OUT, close_demo, demo_window


def main(out: Path = OUT) -> int:
    from itbconsole import dosing
    from itbconsole.demo import DEMO_USER
    from itbconsole.model import PumpEvent

    app, clinic, window = demo_window(DEMO_USER, extra_ports=[])
    patient = next(r.patient for r in clinic.patient_rows("Patel") if r.patient.id is not None)
    assert patient.id is not None
    pump = clinic.pump_of(patient.id)
    assert pump is not None
    now = datetime.now(UTC).replace(microsecond=0)
    # Today's interrogation: the pump's log holds its ERI alarm of 60 days ago, and its
    # clock runs 95 s ahead, so the nurse sets it.
    last = clinic.latest_reading(patient.id, pump.serial)
    assert last is not None
    days = Fraction((now - last.at).total_seconds()) / 86_400
    daily_ul = dosing.program_daily_dose_mcg(last.program) * 1000 / last.concentration_mcg_ml
    reservoir_ul = last.reservoir_ul - int(days * daily_ul)
    reading = replace(
        last, at=now, pump_clock=now + timedelta(seconds=95), reservoir_ul=reservoir_ul, id=None
    )
    alarm = PumpEvent(pump.serial, 9000, now - timedelta(days=60), "alarm_raised", {"alarm": "eri"})
    clinic.save_interrogation(reading, [alarm], patient.id)
    clinic.record_action(
        "pump_clock_set",
        {
            "pump_serial": pump.serial,
            "pump_clock_before": (now + timedelta(seconds=95)).isoformat(),
            "offset_before_s": "95",
            "set_to": now.isoformat(),
            "outcome": "succeeded",
            "message": "Pump clock set and read back.",
        },
    )
    clinic.correct_patient(replace(patient, nhs_number="4857773457"), "NHS number from GP letter")
    window.open_patient(patient.id)
    app.processEvents()  # the header's wrapped lines settle on the second layout pass
    view = window.patient_view
    view.tabs.setCurrentWidget(view.history)
    app.processEvents()
    # The latest refill selected: its figures fill the details below the table.
    shown = view.history.model.shown()
    view.history.table.selectRow(next(n for n, r in enumerate(shown) if r.kind == "refill"))
    app.processEvents()
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "history-tab.png"))
    close_demo(window, clinic)
    print(f"Saved history-tab.png in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
