"""Pump operations: domain objects out; writes report succeeded / failed / uncertain
truthfully under faults, and are never applied twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import protocol as p
from drivers.link import LinkError, PumpNotAnswering
from drivers.pump_client import (
    PAGE_ATTEMPTS,
    BridgeBolus,
    EventDownloadError,
    PumpClient,
    WriteOutcome,
)
from itbconsole.model import FlexStep, Mode, PatientBolus, Program, simple_continuous

NEW = Program(
    Mode.FLEX,
    flex_steps=(FlexStep(0, Decimal("20.833")), FlexStep(480, Decimal("25"))),
    patient_bolus=PatientBolus(Decimal("25"), 10, 120, 4),
)


def client_for(
    pump: Any, make_link: Any, faults: list[str | None] | None = None, **kw: Any
) -> tuple[PumpClient, Any]:
    link, port = make_link(pump, faults, **kw)
    now = iter(
        datetime(2026, 3, 2, 9, 30, tzinfo=UTC) + timedelta(seconds=i) for i in range(10_000)
    )
    return PumpClient(link, now=lambda: next(now)), port


def test_interrogate_returns_domain_objects(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    result = client.interrogate()
    assert (
        result.identity.serial == "NGP123456H" and result.identity.reservoir_capacity_ul == 40_000
    )
    assert "flex" in result.identity.capabilities
    assert result.program == simple_continuous(500)
    s = result.status
    assert (s.reservoir_ul, s.alarm_volume_ul, s.concentration_mcg_ml) == (18_250, 2_000, 2_000)
    assert s.alarms == ("low_reservoir",) and s.battery_mv == 2_950 and not s.eri
    assert s.pump_clock == p.pump_datetime(pump.clock_s)
    reading = result.reading
    assert reading.pump_serial == "NGP123456H" and reading.program == result.program
    assert reading.clock_offset_s == s.clock_offset_s == (s.pump_clock - s.read_at).total_seconds()


def test_clock_offset_uses_the_midpoint_of_the_exchange(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    pump.clock_s = p.pump_seconds(datetime(2026, 3, 2, 9, 30, 10, tzinfo=UTC))
    reading = client.read_clock()  # computer clock read at 09:30:00 and 09:30:01
    assert reading.computer_utc == datetime(2026, 3, 2, 9, 30, 0, 500_000, tzinfo=UTC)
    assert reading.offset_s == 9.5


def test_events_are_paged_with_progress_and_indices(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    calls: list[tuple[int, int]] = []
    batch = client.read_events(0, progress=lambda done, total: calls.append((done, total)))
    assert [e.index for e in batch.events] == list(range(150))
    assert calls == [(64, 150), (128, 150), (150, 150)]
    assert batch.complete and batch.next_index == 150 and not batch.gap
    first = batch.events[0]
    assert first.kind == "refill" and first.detail == {"reservoir_ul": 0, "concentration_mcg_ml": 0}
    assert first.at == p.pump_datetime(825_000_000)


def test_events_since_an_index_and_the_most_recent(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    assert [e.index for e in client.read_events(120).events] == list(range(120, 150))
    assert [e.index for e in client.read_recent_events(100).events] == list(range(50, 150))
    assert client.read_events(150).events == ()


def test_an_interrupted_download_resumes_without_loss_or_duplicates(
    pump: Any, make_link: Any
) -> None:
    client, port = client_for(pump, make_link)
    client.identify()
    port.faults = [None, None] + ["drop_reply"] * (4 * PAGE_ATTEMPTS)
    with pytest.raises(EventDownloadError) as err:
        client.read_events(0)
    partial = err.value.partial
    assert [e.index for e in partial.events] == list(range(128))
    assert "resume from event 128" in str(err.value)
    rest = client.read_events(partial.next_index)
    assert [e.index for e in partial.events + rest.events] == list(range(150))


def test_an_inconsistent_event_page_is_rejected(pump: Any, make_link: Any) -> None:
    original = pump.answer
    pump.answer = lambda r: p.Events(5, 7, 150, ()) if isinstance(r, p.ReadEvents) else original(r)
    client, _ = client_for(pump, make_link)
    with pytest.raises(LinkError, match="inconsistent event page"):
        client.read_events(0)


# --------------------------------------------------------------------------- program writes


def test_program_write_succeeds_after_read_back(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.SUCCEEDED and result.read_back == NEW
    assert pump.program == NEW and pump.commits == 1


def test_program_write_fails_certainly_when_staging_gets_no_answer(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, ["drop_reply"] * 4)
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.FAILED and "not changed" in result.message
    assert pump.commits == 0 and pump.program == simple_continuous(500)


def test_program_write_is_not_committed_when_the_checksum_echo_differs(
    pump: Any, make_link: Any
) -> None:
    original = pump.answer
    pump.answer = lambda r: p.Staged(1) if isinstance(r, p.StageProgram) else original(r)
    client, port = client_for(pump, make_link)
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.FAILED and "checksum" in result.message
    assert pump.commits == 0 and len(port.seqs) == 1  # commit never sent


def test_program_write_refused_at_commit_is_failed(pump: Any, make_link: Any) -> None:
    original = pump.answer
    pump.answer = lambda r: (
        p.Refused(p.RefusalCode.MOTOR_STALL, "Motor stalled")
        if isinstance(r, p.CommitProgram)
        else original(r)
    )
    client, _ = client_for(pump, make_link)
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.FAILED and "Motor stalled" in result.message


def test_link_lost_after_commit_sent_is_uncertain(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link, [None, "disconnect_after"])
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.UNCERTAIN
    assert "Interrogate the pump again" in result.message
    assert pump.commits == 1  # it was applied: "failed" would have been a lie


def test_lost_commit_replies_resolved_by_read_back_applied_once(pump: Any, make_link: Any) -> None:
    client, port = client_for(pump, make_link, [None, *["drop_reply"] * 4])
    result = client.write_program(NEW)
    assert result.outcome is WriteOutcome.SUCCEEDED
    assert pump.commits == 1 and port.seqs[1:5] == [port.seqs[1]] * 4


def test_lost_commit_requests_resolved_by_read_back_as_failed(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link, [None, *["drop_request"] * 4])
    result = client.write_program(NEW, current=simple_continuous(500))
    assert result.outcome is WriteOutcome.FAILED and pump.commits == 0


def test_read_back_that_differs_is_uncertain(pump: Any, make_link: Any) -> None:
    original = pump.answer
    pump.answer = lambda r: (
        p.ProgramReply(0, simple_continuous(400)) if isinstance(r, p.ReadProgram) else original(r)
    )
    client, _ = client_for(pump, make_link)
    assert client.write_program(NEW).outcome is WriteOutcome.UNCERTAIN


FAULTS = st.sampled_from(
    [None, None, None, "drop_request", "drop_reply", "corrupt_request", "corrupt_reply",
     "late_reply", "busy", "disconnect_after", "disconnect_before"]
)  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(FAULTS, max_size=14))
def test_program_write_outcome_is_never_a_lie(fakes: Any, faults: list[str | None]) -> None:
    FakePump, fake_link = fakes.FakePump, fakes.fake_link

    pump = FakePump()
    old = pump.program
    link, _ = fake_link(pump, faults)
    result = PumpClient(link).write_program(NEW, current=old)
    assert pump.commits <= 1
    if result.outcome is WriteOutcome.SUCCEEDED:
        assert pump.program == NEW
    elif result.outcome is WriteOutcome.FAILED:
        assert pump.program == old and pump.commits == 0


# --------------------------------------------------------------------------- other writes


def test_reservoir_update_with_bridge_is_read_back(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    result = client.update_reservoir(
        40_000, 1_000, "Gablofen", alarm_volume_ul=2_000, bridge=BridgeBolus(240, 90)
    )
    assert result.outcome is WriteOutcome.SUCCEEDED
    assert (pump.reservoir_ul, pump.concentration_mcg_ml, pump.drug_name) == (
        40_000,
        1_000,
        "Gablofen",
    )
    assert result.read_back.reservoir_ul == 40_000


def test_reservoir_update_keeps_the_alarm_volume_when_not_given(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    assert client.update_reservoir(39_000, 2_000, "Lioresal").succeeded
    assert pump.alarm_volume_ul == 2_000 and pump.refills == 1


def test_reservoir_update_with_lost_reply_and_lost_link_is_uncertain(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, [None, "disconnect_after"])
    result = client.update_reservoir(40_000, 1_000, "Gablofen")
    assert result.outcome is WriteOutcome.UNCERTAIN and pump.refills == 1


def test_bolus_succeeds_once_and_unknown_bolus_is_uncertain(pump: Any, make_link: Any) -> None:
    # faults apply per request: the first is the event-log position read before the bolus
    client, _ = client_for(pump, make_link, [None, "drop_reply"])
    assert client.single_bolus(Decimal("50"), 60).outcome is WriteOutcome.SUCCEEDED
    assert pump.boluses == 1
    client, _ = client_for(pump, make_link, [None, "disconnect_after"])
    result = client.single_bolus(Decimal("50"), 60)
    assert result.outcome is WriteOutcome.UNCERTAIN and "event log" in result.message
    assert pump.boluses == 2


def test_bolus_whose_answers_were_all_lost_is_settled_from_the_event_log(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, [None] + ["drop_reply"] * 4)
    result = client.single_bolus(Decimal("50"), 60)
    assert result.outcome is WriteOutcome.SUCCEEDED and "event log" in result.message
    assert pump.boluses == 1


def test_bolus_that_never_reached_the_pump_is_failed_from_the_event_log(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, [None] + ["corrupt_request"] * 4)
    result = client.single_bolus(Decimal("50"), 60)
    assert result.outcome is WriteOutcome.FAILED and pump.boluses == 0
    assert "event log shows none" in result.message


def test_bolus_is_not_sent_when_the_event_log_position_cannot_be_read(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, ["disconnect_before"])
    result = client.single_bolus(Decimal("50"), 60)
    assert result.outcome is WriteOutcome.FAILED and pump.boluses == 0


def test_set_clock_is_read_back(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    target = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    result = client.set_clock(target)
    assert result.outcome is WriteOutcome.SUCCEEDED and pump.clock_s == p.pump_seconds(target)


def test_acknowledge_alarm_test_and_diagnostics(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link)
    assert client.acknowledge_alarms(["low_reservoir"]) == ("low_reservoir",)
    client.alarm_test()
    diag = client.diagnostics()
    assert diag.battery_mv == 2_950 and diag.console_link["frames_sent"] == 3


def test_operation_deadline_bounds_the_whole_operation(pump: Any, make_link: Any) -> None:
    client, _ = client_for(pump, make_link, ["drop_reply"] * 100)
    start = client.link.now()
    with pytest.raises(PumpNotAnswering):
        client.interrogate(deadline_s=0.4)
    assert client.link.now() - start <= 0.5


def test_events_are_read_in_full_pages(pump: Any, make_link: Any) -> None:
    client, port = client_for(pump, make_link)
    batch = client.read_events(0)
    assert len(batch.events) == 150 and batch.complete
    pages = [m for m in port.requests if isinstance(m, p.ReadEvents)]
    assert [m.max_count for m in pages] == [p.MAX_EVENTS_PER_PAGE] * len(pages)
    assert len(pages) == 3  # 64 + 64 + 22


def test_a_page_the_link_gave_up_on_is_asked_for_again(pump: Any, make_link: Any) -> None:
    # identity, then the first page's reply is damaged on all four of the link's attempts
    client, _ = client_for(pump, make_link, [None] + ["corrupt_reply"] * 4)
    batch = client.read_events(0)
    assert len(batch.events) == 150 and [e.index for e in batch.events] == list(range(150))


def test_a_download_that_breaks_keeps_what_arrived_to_resume(pump: Any, make_link: Any) -> None:
    client, _ = client_for(
        pump, make_link, [None, None] + ["corrupt_reply"] * (4 * PAGE_ATTEMPTS)
    )  # identity, the first page, then the second page fails every time
    with pytest.raises(EventDownloadError) as err:
        client.read_events(0)
    partial = err.value.partial
    assert [e.index for e in partial.events] == list(range(64)) and partial.next_index == 64
    rest = client.read_events(partial.next_index)
    assert [e.index for e in rest.events] == list(range(64, 150))


def test_an_applied_refill_whose_read_back_differs_is_uncertain_not_failed(
    pump: Any, make_link: Any
) -> None:
    """Every answer to the update is lost and a patient bolus runs before the read-back:
    the record does not match, but it did change, so the outcome is not "failed"."""
    original = pump.answer

    def answer(r: p.Message) -> p.Message:
        out = original(r)
        if isinstance(r, p.UpdateReservoir):
            pump.reservoir_ul -= 300  # a patient bolus right after the refill
        return out

    pump.answer = answer
    client, _ = client_for(pump, make_link, [None] + ["drop_reply"] * 4)
    result = client.update_reservoir(40_000, 1_000, "Gablofen")
    assert pump.refills == 1 and result.outcome is WriteOutcome.UNCERTAIN


def test_an_unanswered_refill_that_left_the_record_as_it_was_is_failed(
    pump: Any, make_link: Any
) -> None:
    client, _ = client_for(pump, make_link, [None] + ["drop_request"] * 4)
    result = client.update_reservoir(40_000, 1_000, "Gablofen")
    assert pump.refills == 0 and result.outcome is WriteOutcome.FAILED
