"""Settling writes whose outcome was unknown: pending refills and uncertain program changes.

Why one module: a refill update or a program change that may or may not have reached the
pump stays flagged until the pump is read again. Both are settled the same way, from a
fresh interrogation (the pump's program, reservoir estimate, concentration and event log),
and always by a new record that corrects the open one; the open row stays in history.
Saving an interrogation (:meth:`ClinicService.save_interrogation`) runs
:func:`settle_open_outcomes`; *Check the pump again* after an uncertain send runs
:func:`resolve_uncertain` for that change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.display import fmt_moment
from itbconsole.model import (
    ChangeOutcome,
    Program,
    ProgramChange,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
    User,
)
from itbconsole.store import Store
from itbconsole.units import fmt_ml

#: The pump keeps delivering while it is updated, so its read-back volume may be a little
#: lower than the one sent (the driver allows the same tolerance).
READ_BACK_TOLERANCE_UL = 50
#: Pump-clock slack when matching a pump log entry to a refill record.
EVENT_TIME_SLACK = timedelta(minutes=15)


class SettlementError(ValueError):
    """An open outcome cannot be settled from this reading. The message says why."""


@dataclass(frozen=True)
class PendingResolution:
    """A pending refill settled by a fresh interrogation."""

    before: Refill
    after: Refill
    status: str
    reason: str


def resolve_pending_refills(
    store: Store,
    user: User,
    reading: Reading,
    events: Sequence[PumpEvent] = (),
    *,
    patient_id: int,
    tz: tzinfo = UTC,
) -> list[PendingResolution]:
    """Settle this pump's pending refills from a fresh interrogation.

    Evidence, strongest first: the pump's own log has a refill entry at or after the
    refill with the same volume and concentration (confirmed); the pump's concentration
    differs from the refill's (failed: the pump never took it); the pump's reservoir
    estimate lies between the volume added and that volume less the most the program could
    have delivered since (confirmed), otherwise failed. Each resolution is a new record
    that corrects the pending one (the pending row stays in history); its note writes the
    pump log's time in the clinic's zone ``tz``.
    """
    history = store.patient_history(patient_id)
    pending = [
        r
        for r in history.refills
        if r.pump_serial == reading.pump_serial
        and r.status == RefillStatus.PENDING
        and r.at <= reading.at
    ]
    if not pending:
        return []  # an uncertain program change alone: the pump log is not read
    # Only the pump's refill entries can confirm a refill; the stored ones (in time order)
    # first, then this interrogation's.
    refill_events = [
        e
        for e in (*history.events, *events)
        if e.kind == "refill" and e.pump_serial == reading.pump_serial
    ]
    out: list[PendingResolution] = []
    for refill in pending:
        status, reason = _judge_pending(refill, reading, refill_events, tz)
        assert refill.id is not None
        after = store.resolve_refill(refill.id, status, user, note=reason)
        out.append(PendingResolution(refill, after, status, reason))
    return out


def _judge_pending(
    refill: Refill, reading: Reading, events: Sequence[PumpEvent], tz: tzinfo
) -> tuple[RefillStatus, str]:
    slack = EVENT_TIME_SLACK + timedelta(seconds=abs(reading.clock_offset_s))
    for event in events:
        if (
            event.pump_serial == refill.pump_serial
            and event.kind == "refill"
            and event.at >= refill.at - slack
            and int(event.detail.get("reservoir_ul", -1)) == refill.added_ul
            and int(event.detail.get("concentration_mcg_ml", -1)) == refill.concentration_mcg_ml
        ):
            return RefillStatus.CONFIRMED, (
                f"The pump's log shows the refill ({fmt_ml(refill.added_ul)}, "
                f"{refill.concentration_mcg_ml} mcg/mL) at {fmt_moment(event.at, tz)}."
            )
    if reading.concentration_mcg_ml != refill.concentration_mcg_ml:
        return RefillStatus.FAILED, (
            f"The pump still has {reading.concentration_mcg_ml} mcg/mL, not the refill's "
            f"{refill.concentration_mcg_ml} mcg/mL: it did not take the update. Update the "
            "pump again."
        )
    days = Fraction(max(0, int((reading.at - refill.at).total_seconds())), 86_400)
    most = dosing.max_daily_volume_ml(reading.program, reading.concentration_mcg_ml) * 1000 * days
    low = refill.added_ul - most - READ_BACK_TOLERANCE_UL
    if low <= reading.reservoir_ul <= refill.added_ul:
        return RefillStatus.CONFIRMED, (
            f"The pump's reservoir estimate ({fmt_ml(reading.reservoir_ul)}) follows on from "
            f"the refill of {fmt_ml(refill.added_ul)}."
        )
    return RefillStatus.FAILED, (
        f"The pump's reservoir estimate ({fmt_ml(reading.reservoir_ul)}) does not follow on "
        f"from the refill of {fmt_ml(refill.added_ul)}: it did not take the update. Update "
        "the pump again."
    )


def resolve_uncertain(
    store: Store,
    change: ProgramChange,
    pump_program: Program,
    user: User,
    *,
    pump_serial: str | None = None,
    concentration_mcg_ml: int | None = None,
    prepared_id: int | None = None,
) -> ProgramChange | None:
    """Settle an uncertain change from the program a later interrogation read: the new
    program means it succeeded, the old one that it failed; anything else stays uncertain
    (returns None) for a person to look at.

    ``pump_serial`` and ``concentration_mcg_ml`` are what that interrogation identified
    under the programmer head (pass both whenever the pump was read for this purpose):
    another pump, or another concentration, settles nothing (SettlementError). When the
    change succeeded, the prepared program it came from (``prepared_id``, or the pump's
    open prepared program with exactly this program and concentration) is closed as sent.
    """
    assert change.id is not None
    if pump_serial is not None and pump_serial != change.pump_serial:
        raise SettlementError(
            f"The pump under the programmer head is {pump_serial}, not {change.pump_serial}: "
            "its program says nothing about this change. Put the head over the patient's "
            "pump and check again."
        )
    if concentration_mcg_ml is not None and concentration_mcg_ml != change.concentration_mcg_ml:
        raise SettlementError(
            f"The pump reports {concentration_mcg_ml} mcg/mL, not the "
            f"{change.concentration_mcg_ml} mcg/mL the change was made for: it cannot be "
            "settled from this reading. Interrogate the pump and review it."
        )
    if pump_program == change.new:
        outcome = ChangeOutcome.SUCCEEDED
    elif pump_program == change.old:
        outcome = ChangeOutcome.FAILED
    else:
        return None
    settled = store.resolve_program_change(
        change.id,
        outcome,
        user,
        readback=pump_program,
        note="settled by the program read at interrogation",
    )
    if outcome == ChangeOutcome.SUCCEEDED and user.can_send_program():
        if prepared_id is None:
            open_one = store.prepared_program(change.pump_serial)
            if (
                open_one is not None
                and open_one.program == change.new
                and open_one.concentration_mcg_ml == change.concentration_mcg_ml
            ):
                prepared_id = open_one.id
        if prepared_id is not None and store.prepared_program_status(prepared_id) == "prepared":
            store.mark_prepared_program_sent(prepared_id, settled.id or change.id, user)
    return settled


def settle_open_outcomes(
    store: Store,
    user: User,
    reading: Reading,
    events: Sequence[PumpEvent],
    patient_id: int,
    tz: tzinfo = UTC,
) -> tuple[tuple[PendingResolution, ...], int, int]:
    """Settle this pump's pending refills and uncertain program changes from ``reading``
    (stored first, as the evidence). Returns (refill resolutions, changes settled,
    changes still uncertain)."""
    if store.open_outcomes(reading.pump_serial) == 0:
        return (), 0, 0  # the usual case: nothing to settle, no history to read
    refills = resolve_pending_refills(store, user, reading, events, patient_id=patient_id, tz=tz)
    settled = still_open = 0
    for change in store.patient_history(patient_id).program_changes:
        if change.pump_serial != reading.pump_serial or change.outcome != ChangeOutcome.UNCERTAIN:
            continue
        if change.at > reading.at:
            continue
        settled_change = resolve_uncertain(
            store, change, reading.program, user,
            pump_serial=reading.pump_serial, concentration_mcg_ml=reading.concentration_mcg_ml,
        )  # fmt: skip
        if settled_change is None:
            still_open += 1
        else:
            settled += 1
    return tuple(refills), settled, still_open


__all__ = [
    "EVENT_TIME_SLACK",
    "READ_BACK_TOLERANCE_UL",
    "PendingResolution",
    "SettlementError",
    "resolve_pending_refills",
    "resolve_uncertain",
    "settle_open_outcomes",
]
