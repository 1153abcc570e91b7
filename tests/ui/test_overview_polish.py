"""The Overview as a nurse reads it at the start of an appointment: an old reading says its
age in the headline, a pump drifting towards withdrawal says so here as on Trends and the
worklist, the pump clock's drift is said in minutes with what it means, and every date is
written one way."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from itbconsole.demo import DEMO_PATIENTS
from itbconsole.display import fmt_day
from itbconsole.services import worklist as wl
from itbconsole.services.worklist import Category
from tests.ui.conftest import Console
from ui.overview import OverviewTab, clock_text

DATE = re.compile(r"\b\d{2} [A-Z][a-z]{2} \d{4}\b")
WEEKDAY = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b")


def opened(console: Console, family: str) -> OverviewTab:
    console.window.open_patient(console.patient_id(family))
    overview = console.window.patient_view.overview
    assert overview.empty.isHidden()  # a pump with a reading
    return overview


def test_an_old_reading_says_its_date_and_age_in_the_headline(console: Console) -> None:
    pid = console.patient_id("Adeyemi")
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None and ov.reading_age_days > console.clinic.settings.reading_stale_days
    tab = opened(console, "Adeyemi")
    day = fmt_day(ov.reading.at.astimezone(console.clinic.tz).date())
    headline = tab.reservoir_value.text().replace("\u00a0", " ")
    assert headline == (f"{ov.reservoir_ul / 1000:.2f} mL on {day}, {ov.reading_age_days} days ago")
    assert "not today's volume" in tab.reservoir_detail.text()
    assert "Interrogate the pump" in tab.reservoir_detail.text()


def test_a_recent_reading_keeps_the_volume_against_the_reservoir(console: Console) -> None:
    ov = console.clinic.overview(console.patient_id("Fischer"), console.window.now())
    assert ov is not None and ov.reading_age_days <= console.clinic.settings.reading_stale_days
    assert not ov.reading_stale
    tab = opened(console, "Fischer")
    capacity = ov.capacity_ul / 1000
    assert tab.reservoir_value.text() == f"{ov.reservoir_ul / 1000:.2f} mL of {capacity:.2f} mL"
    assert f"({ov.reading_age_days} days ago)" in tab.reservoir_detail.text()


def test_a_fresh_interrogation_is_today(console: Console) -> None:
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    tab = console.window.patient_view.overview
    assert re.fullmatch(r"\d+\.\d\d mL of 40\.00 mL", tab.reservoir_value.text())
    assert "(today)" in tab.reservoir_detail.text()


def test_the_stale_age_is_the_clinics_setting(console: Console) -> None:
    """The age in days is compared with the clinic's ``reading_stale_days``."""
    pid = console.patient_id("Adeyemi")
    age = console.clinic.overview(pid, console.window.now()).reading_age_days  # type: ignore[union-attr]
    console.clinic.settings = replace(console.clinic.settings, reading_stale_days=age)
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None and not ov.reading_stale  # not older than the setting
    ov = console.clinic.overview(pid, console.window.now() + timedelta(days=1))
    assert ov is not None and ov.reading_stale


def test_delivery_drift_shows_on_the_overview_as_on_the_worklist(console: Console) -> None:
    tab = opened(console, "Brennan")
    assert not tab.drift_card.isHidden()
    text = tab.drift_value.text()
    assert "lower than programmed" in text and "withdrawal risk" in text
    # The same words as the worklist's drift line: one rule, one message.
    worklist = console.clinic.clinic_worklist(now=console.window.now())
    line = next(
        i
        for i in worklist.items
        if i.category is Category.DELIVERY_DRIFT and i.pump_serial == "SIM0000006"
    )
    assert line.reason == text


def test_no_drift_no_drift_panel(console: Console) -> None:
    tab = opened(console, "Okafor")
    assert tab.drift_card.isHidden()


def test_clock_drift_is_said_in_minutes_with_what_it_means(console: Console) -> None:
    ov = console.clinic.overview(console.patient_id("Okafor"), console.window.now())
    assert ov is not None
    fast = replace(
        ov,
        reading=replace(ov.reading, pump_clock=ov.reading.at + timedelta(seconds=420)),
        clock_offset_s=420.0,
        clock_warning=True,
    )
    text = clock_text(fast, console.clinic.tz)
    assert "7 min 0 s fast (ahead of this computer's clock)" in text
    assert "flex steps start 7 min 0 s early" in text
    assert " s ahead" not in text and "420" not in text
    slow = replace(fast, clock_offset_s=-26.0, clock_warning=False)
    assert "26 s slow (behind this computer's clock)." in clock_text(slow, console.clinic.tz)


def test_every_date_on_the_overview_is_written_one_way(console: Console) -> None:
    tab = opened(console, "Patel")  # past ERI: ERI and End of Service dates too
    labels = [
        tab.reservoir_detail,
        tab.alarm_value,
        tab.refill_value,
        tab.battery_detail,
        tab.clock_value,
    ]
    texts = [label.text() for label in labels] + [tab.refill_value.toolTip()]
    assert all(DATE.search(t) for t in texts[:5]), texts
    for text in texts:
        assert not WEEKDAY.search(text), text


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_no_overview_text_is_cut_off(console: Console, size: tuple[int, int]) -> None:
    """Every wrapped text of the Overview (the long drift warning first) gets the height its
    words need at the smallest and a common large screen."""
    from PySide6.QtWidgets import QLabel

    console.window.resize(*size)
    tab = opened(console, "Brennan")
    labels = [
        label
        for label in tab.content.findChildren(QLabel)
        if label.wordWrap() and not label.isHidden() and label.text()
    ]
    assert tab.drift_value in labels

    def whole() -> bool:
        """Each label as tall as its words, and inside its card (not cut by it)."""
        return all(
            lb.height() >= lb.heightForWidth(lb.width())
            and lb.geometry().bottom() < (lb.parentWidget() or lb).height()
            for lb in labels
        )

    console.qtbot.waitUntil(whole, timeout=3_000)


def test_an_eri_date_the_pump_projects_for_later_is_not_eri_yet(console: Console) -> None:
    """A healthy pump reports the date it expects ERI (years ahead): the battery is OK,
    and the dates are said as expected, not as a replacement to book now."""
    console.connect(console.sim_url("healthy"))
    console.interrogate_and_wait()
    pid = console.window.current_patient_id
    assert pid is not None
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None and not ov.reading.eri
    assert ov.forecast.eri is not None and ov.forecast.eri.day > console.window.now().date()
    assert not ov.eri
    tab = console.window.patient_view.overview
    assert tab.battery_value.text().startswith("OK")
    assert "ERI expected" in tab.battery_detail.text()
    assert "Book the replacement" not in tab.battery_detail.text()


def alarm_card_texts(tab: OverviewTab) -> list[str]:
    """What the refill card says, line by line, as shown."""
    lines = [tab.urgency_badge, tab.status_reason, tab.alarm_value, tab.refill_value]
    return [label.text() for label in lines if not label.isHidden() and label.text()]


def test_an_overdue_refill_is_said_once_and_the_alarm_date_is_labelled(console: Console) -> None:
    """Walsh's refill is overdue: the badge says so, the refill-by line gives the date and
    why, and the alarm date between them says what it is; nothing is said twice."""
    ov = console.clinic.overview(console.patient_id("Walsh"), console.window.now())
    assert ov is not None and ov.status.status.label == "Overdue"
    assert ov.refill_by is not None and ov.forecast.alarm_day is not None
    tab = opened(console, "Walsh")
    assert tab.urgency_badge.text() == "Overdue"
    assert tab.status_reason.isHidden()  # the refill-by line says why, once
    refill_by, alarm = fmt_day(ov.refill_by), fmt_day(ov.forecast.alarm_day)
    card = " ".join(alarm_card_texts(tab))
    assert card.count(refill_by) == 1 and card.count(alarm) == 1
    assert card.count(ov.refill_by_reason) == 1
    assert tab.alarm_value.text().startswith(f"Low-reservoir alarm: {alarm} (in ")
    assert tab.refill_value.text().startswith(f"Refill by {refill_by} (")
    assert "days ago)" in tab.refill_value.text()


@pytest.mark.parametrize("family", [s.family for s in DEMO_PATIENTS])
def test_every_demo_patients_refill_card_says_each_date_once_with_its_label(
    console: Console, family: str
) -> None:
    tab = opened(console, family)
    texts = alarm_card_texts(tab)
    dates = [d for text in texts for d in DATE.findall(text)]
    assert len(dates) == len(set(dates)), texts  # no date said twice
    for text in texts:
        for sentence in re.split(r"(?<=\.) ", text):
            for found in DATE.finditer(sentence):
                label = sentence[: found.start()]
                assert re.search(r"[A-Za-z]", label), f"unlabelled date in {text!r}"
    assert tab.alarm_value.text().startswith("Low-reservoir alarm: ")


def test_past_eri_says_why_due_soon_and_leaves_the_dates_to_the_battery(console: Console) -> None:
    ov = console.clinic.overview(console.patient_id("Patel"), console.window.now())
    assert ov is not None and ov.forecast.end_of_service is not None
    tab = opened(console, "Patel")
    assert tab.status_reason.text().startswith("Past ERI: book the pump replacement")
    assert not DATE.search(tab.status_reason.text())
    assert fmt_day(ov.forecast.end_of_service.day) in tab.battery_detail.text()


def test_a_program_change_of_unknown_outcome_is_said_on_the_overview(console: Console) -> None:
    """The dates are then the worse case: the forecast's note says so, once, above them."""
    pid = console.patient_id("Okafor")
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None
    note = (
        "A program change sent on 29 Nov 2026 has an unknown outcome: the dates shown are the "
        "worse of with and without it. Interrogate the pump to settle it."
    )
    fc = replace(ov.forecast, uncertain=True, notes=(note, *ov.forecast.notes))
    tab = opened(console, "Okafor")
    tab.show_overview(replace(ov, forecast=fc))
    assert not tab.status_reason.isHidden() and tab.status_reason.text() == note
    assert " ".join(alarm_card_texts(tab)).count("unknown outcome") == 1


def test_when_end_of_service_sets_the_date_every_surface_says_replace_not_refill(
    console: Console,
) -> None:
    """No refill moves End of Service: when it sets the date, the Overview, the status and
    the worklist say to replace the pump by the day before it, never to refill by it."""
    now = console.window.now()
    ov = console.clinic.overview(console.patient_id("Patel"), now)
    assert ov is not None and ov.forecast.end_of_service is not None
    fc = ov.forecast
    assert fc.governing is not None and fc.governing.kind.name == "END_OF_SERVICE"
    assert fc.refill_by == fc.end_of_service.day - timedelta(days=1)
    tab = opened(console, "Patel")
    assert tab.refill_value.text().startswith(f"Replace the pump by {fmt_day(fc.refill_by)}")
    assert "Refill by" not in tab.refill_value.text()
    assert "Replace the pump by" in ov.status.reason
    rows = [r for r in console.clinic.patient_rows(now=now) if r.patient.family_name == "Patel"]
    today = now.astimezone(console.clinic.tz).date()
    items = wl.build_worklist(rows, today, 60, wl.WorklistFacts(), tz=console.clinic.tz).items
    # One line, the replacement's, says what to do and by when; no refill line.
    assert not [i for i in items if i.category.name.startswith("REFILL")]
    (line,) = [i for i in items if i.category is Category.REPLACEMENT]
    assert f"replace the pump by {fmt_day(fc.refill_by)}." in line.reason


def test_on_the_end_of_service_day_the_battery_says_it_has_come(console: Console) -> None:
    """Patel's End of Service day: the status is Not delivering, and the battery card no
    longer asks to book the replacement "before then"."""
    pid = console.patient_id("Patel")
    ov = console.clinic.overview(pid, console.window.now())
    assert ov is not None and ov.forecast.end_of_service is not None
    eos = ov.forecast.end_of_service.day
    tab = opened(console, "Patel")
    assert "Book the replacement before then." in tab.battery_detail.text()
    on_the_day = console.window.now() + timedelta(days=(eos - console.window.now().date()).days)
    ov = console.clinic.overview(pid, on_the_day)
    assert ov is not None and ov.status.status.label == "Not delivering"
    tab.show_overview(ov)
    text = tab.battery_detail.text()
    assert f"End of Service {fmt_day(eos)} (the pump's own date) has come" in text
    assert "Interrogate it now and replace it." in text
    assert "before then" not in text
