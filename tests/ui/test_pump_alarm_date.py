"""The pump's own projected low-reservoir alarm date, end to end: a simulated pump that
reports its alarm 20 days before its own projection (``alarm_early=20``) is interrogated
through the window; the Overview's alarm line, the refill-by line, the explanation under
them and the patient list's refill-by date all follow the pump's earlier date."""

from __future__ import annotations

from datetime import date, timedelta

from drivers import protocol_simpump
from itbconsole.display import fmt_day
from tests.ui.conftest import Console


def stored_pump_date(console: Console, serial: str) -> date:
    """The date the store kept beside the interrogation's reading."""
    row = console.clinic.store.db.execute(
        "SELECT a.alarm_date FROM pump_alarm_reports a JOIN readings r ON r.id = a.reading_id"
        " WHERE a.pump_serial = ? ORDER BY r.at DESC LIMIT 1",
        [serial],
    ).fetchone()
    assert row is not None, "the interrogation stored no pump alarm date"
    return date.fromisoformat(row[0])


def list_refill_by(console: Console, serial: str) -> str:
    model = console.window.patient_list.model
    (text,) = [
        model.index(r, 4).data()
        for r in range(model.rowCount())
        if model.index(r, 2).data() == serial
    ]
    return str(text)


def test_an_earlier_alarm_date_from_the_pump_is_shown_and_said_to_be_the_pumps(
    console: Console,
) -> None:
    console.connect(console.sim_url("healthy", "&alarm_early=20"))
    console.interrogate_and_wait()
    pump = protocol_simpump.get_pump(console.sim_names[-1])
    serial = pump.serial
    pump_day = stored_pump_date(console, serial)
    assert pump_day == pump.status().alarm_date  # what the pump reported, as it reported it

    pid = console.window.current_patient_id
    assert pid is not None
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None and ov.forecast.console_alarm_at is not None
    console_day = ov.forecast.console_alarm_at.astimezone(console.clinic.tz).date()
    assert console_day - pump_day >= timedelta(days=19)  # the console's walks: ~20 days later

    tab = console.window.patient_view.overview
    assert tab.alarm_value.text().startswith(f"Low-reservoir alarm: {fmt_day(pump_day)} (")
    margin = console.clinic.settings.refill_margin_days
    refill_by = fmt_day(pump_day - timedelta(days=margin))
    assert tab.refill_value.text().startswith(f"Refill by {refill_by} (")
    assert (
        f"the date shown is the pump's own projection (low-reservoir alarm on "
        f"{fmt_day(pump_day)} by its clock), earlier than the console's "
        f"({fmt_day(console_day)})." in tab.derivation.text()
    )
    console.qtbot.waitUntil(lambda: list_refill_by(console, serial) == refill_by, timeout=5_000)
