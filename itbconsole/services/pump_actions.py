"""Writes to a pump that are not a program change or a refill: the pump clock and a single
bolus, and the two checks every write starts with.

Why here and not in the window: a write is authorised at the point of action. Each function
takes the signed-in user and refuses (:class:`NotAllowed`) before a byte is sent unless
their role allows the action (:data:`itbconsole.model.ROLE_ACTIONS`), then checks that the
pump under the programmer head is the one meant (:func:`require_pump`). They run on the
link thread and touch no records; the caller records what they return.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from itbconsole.model import Action, Mode, User

if TYPE_CHECKING:
    from drivers.pump_client import PumpClient, WriteResult
    from itbconsole.services.programming import ApprovedChange


class NotAllowed(PermissionError):
    """The signed-in user's role does not allow the action; nothing was sent."""


class DifferentPump(Exception):
    """The pump under the programmer head is not the one meant (the head was moved to
    another patient's pump). Nothing was read into the records or written to the pump."""

    def __init__(self, expected: str, identity: Any) -> None:
        super().__init__(
            f"A different pump answered (serial {identity.serial}) than the one connected "
            f"(serial {expected}). Nothing was saved or changed."
        )
        self.identity = identity


def authorise(user: User, action: Action) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may do ``action``."""
    refusal = user.refusal(action)
    if refusal:
        raise NotAllowed(f"{refusal} Nothing was sent.")


def require_pump(identity: Any, expected_serial: str) -> None:
    """The one check that the pump under the programmer head is the expected one: before
    anything is read into the records or written to the pump."""
    if identity.serial != expected_serial:
        raise DifferentPump(expected_serial, identity)


def set_pump_clock(
    client: PumpClient,
    user: User,
    expected_serial: str,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Set the pump clock to UTC (only after the user agreed) on ``expected_serial`` only.
    Returns what to record, outcome included; raises LinkError when nothing was changed."""
    from drivers import link as link_errors
    from drivers.pump_client import WriteOutcome

    authorise(user, Action.SET_CLOCK)
    identity = client.identify()
    require_pump(identity, expected_serial)
    before = client.read_clock()
    target = now or datetime.now(UTC)
    result = client.set_clock(target)
    if result.outcome is WriteOutcome.FAILED:
        raise link_errors.LinkError(result.message)
    return {
        "pump_serial": identity.serial,
        "pump_clock_before": before.pump_clock.isoformat(),
        "offset_before_s": f"{before.offset_s:.0f}",
        "set_to": target.isoformat(),
        "outcome": result.outcome.value,
        "message": result.message,
    }


def give_single_bolus(client: PumpClient, user: User, approved: ApprovedChange) -> WriteResult:
    """A clinician's single bolus, only as approved: ``approved`` is a single-bolus program
    checked against the drug library's limits (bolus dose, boluses in 24 hours) with its
    reasons, by ``user`` (:func:`itbconsole.services.programming.send_refusal`). The dose
    and duration sent are the approved program's. Its outcome is read from the pump (the
    driver settles a lost answer from the pump's event log, never by sending it again)."""
    authorise(user, Action.SINGLE_BOLUS)
    program = approved.change.new
    if program.mode is not Mode.SINGLE_BOLUS:
        raise NotAllowed("Only an approved single-bolus program can be given as a bolus.")
    from itbconsole.services.programming import send_refusal  # the program rules, when used

    refusal = send_refusal(approved, user)
    if refusal:
        raise NotAllowed(f"{refusal} Nothing was sent.")
    require_pump(client.identify(), approved.change.pump_serial)
    return client.single_bolus(Decimal(program.bolus_dose_mcg), program.bolus_duration_minutes)
