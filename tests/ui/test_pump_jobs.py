"""The link thread's interrogation job on a noisy link: a broken event download keeps the
events that arrived (an unbroken run) for saving, and the next download resumes after them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drivers.link import Cancelled
from drivers.pump_client import PAGE_ATTEMPTS, PumpClient
from tests.drivers.conftest import FakePump, fake_link, make_events
from ui import pump_jobs
from ui.link_worker import JobContext


def context(client: PumpClient) -> JobContext:
    return JobContext(threading.Event(), lambda *_a: None, {"client": client})


def client_with(pump: FakePump, faults: list[str | None]) -> PumpClient:
    link, _ = fake_link(pump, faults)
    now = iter(datetime(2026, 3, 2, 9, 30, tzinfo=UTC) + timedelta(seconds=i) for i in range(999))
    return PumpClient(link, now=lambda: next(now))


def test_a_broken_event_download_keeps_what_arrived_and_resumes() -> None:
    pump = FakePump(events=make_events(150))
    # identity, status, program, page 1; then page 2 never answers
    faults: list[str | None] = [None] * 4 + ["corrupt_reply"] * (4 * PAGE_ATTEMPTS)
    result = pump_jobs.interrogate(context(client_with(pump, faults)), since_index=0)
    assert [e.index for e in result.events] == list(range(64))
    assert result.events_missing == 86 and "noisy" in result.events_error
    again = pump_jobs.interrogate(context(client_with(pump, [])), since_index=64)
    assert [e.index for e in again.events] == list(range(64, 150)) and not again.events_missing


def test_a_cancel_during_the_download_still_saves_nothing(monkeypatch: Any) -> None:
    pump = FakePump(events=make_events(150))
    client = client_with(pump, [])

    def cancelled(*_a: object, **_k: object) -> Any:
        raise Cancelled()

    monkeypatch.setattr(client, "read_events", cancelled)
    with pytest.raises(Cancelled):
        pump_jobs.interrogate(context(client), since_index=0)
