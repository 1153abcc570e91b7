"""Pump operations that return domain objects, over a :class:`~drivers.link.Link`.

Why a separate layer: the link knows frames and retries; this module knows what each
operation *means* for the patient. Reads turn wire units into :mod:`itbconsole.model`
records. Writes follow one rule: report success only after the pump's state has been read
back and compared; report *failed* only when the pump certainly did not apply the change;
everything else is *uncertain* and the user is told to interrogate again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from drivers import protocol as p
from drivers.link import (
    Cancelled,
    Link,
    LinkError,
    LinkLost,
    PortUnavailable,
    ProtocolMismatch,
    PumpRefused,
)
from itbconsole.model import ChangeOutcome, Program, PumpEvent, Reading

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]
M = TypeVar("M", bound=p.Message)

#: Events per READ_EVENTS request: the most the protocol allows (fewer requests, fewer
#: chances for a noisy link to break a download).
DEFAULT_PAGE = p.MAX_EVENTS_PER_PAGE
#: Times one page is asked for after the link gave up on it (each time with the link's own
#: retries, and half the size): a page is a read, so asking again is always safe.
PAGE_ATTEMPTS = 4
#: The smallest page asked for on a noisy link.
MIN_PAGE = 8
RECENT_EVENTS = 100


log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# =========================================================================== results


#: A pump write's outcome is the program change's (one home: itbconsole.model).
WriteOutcome = ChangeOutcome


@dataclass(frozen=True)
class WriteResult:
    outcome: WriteOutcome
    message: str
    #: What the read-back showed, when there was one (a Program, a PumpStatus, ...).
    read_back: Any = None

    @property
    def succeeded(self) -> bool:
        return self.outcome is WriteOutcome.SUCCEEDED


_UNCERTAIN_ADVICE = "Interrogate the pump again to see what it is doing before you change anything."


@dataclass(frozen=True)
class PumpIdentity:
    serial: str
    model: str
    firmware: str
    protocol_version: int
    capabilities: frozenset[str]
    reservoir_capacity_ul: int


@dataclass(frozen=True)
class PumpStatus:
    """A status reading; ``read_at`` is the computer's UTC time at the exchange midpoint."""

    read_at: datetime
    pump_clock: datetime
    reservoir_ul: int
    alarm_volume_ul: int
    alarm_date: date | None
    battery_mv: int
    eri: bool
    eos: bool
    eri_date: date | None
    eos_date: date | None
    alarms: tuple[str, ...]
    concentration_mcg_ml: int
    drug_code: int
    drug_name: str
    #: Events the pump has ever logged, and its serial number: in the status reply from
    #: protocol version 2 on (None from an older pump).
    event_total: int | None = None
    pump_serial: str | None = None

    @property
    def clock_offset_s(self) -> float:
        """Pump clock minus computer UTC, seconds (positive: the pump runs ahead)."""
        return (self.pump_clock - self.read_at).total_seconds()


@dataclass(frozen=True)
class Interrogation:
    identity: PumpIdentity
    status: PumpStatus
    program: Program
    program_started: datetime  # pump clock
    events: tuple[PumpEvent, ...] = ()

    @property
    def reading(self) -> Reading:
        s = self.status
        return Reading(
            pump_serial=self.identity.serial,
            at=s.read_at,
            pump_clock=s.pump_clock,
            reservoir_ul=s.reservoir_ul,
            alarm_volume_ul=s.alarm_volume_ul,
            battery_mv=s.battery_mv,
            eri=s.eri,
            eos=s.eos,
            concentration_mcg_ml=s.concentration_mcg_ml,
            program=self.program,
            alarms=s.alarms,
            eri_date=s.eri_date,
            eos_date=s.eos_date,
            pump_alarm_date=s.alarm_date,
        )


@dataclass(frozen=True)
class EventBatch:
    """Events read in index order. Resume a later download from ``next_index``."""

    events: tuple[PumpEvent, ...]
    next_index: int
    total: int
    #: True when the pump had overwritten some events asked for (they are gone).
    gap: bool = False

    @property
    def complete(self) -> bool:
        return self.next_index >= self.total


@dataclass(frozen=True)
class ClockReading:
    pump_clock: datetime
    computer_utc: datetime

    @property
    def offset_s(self) -> float:
        return (self.pump_clock - self.computer_utc).total_seconds()


@dataclass(frozen=True)
class BridgeBolus:
    """Deliver ``volume_ul`` (the dead volume, still holding the old drug) over
    ``duration_minutes`` before the new concentration's rate takes over."""

    volume_ul: int
    duration_minutes: int


@dataclass(frozen=True)
class PumpDiagnostics:
    uptime_s: int
    battery_mv: int
    resets: int
    motor_steps: int
    motor_current_ua: int
    motor_stalls: int
    pump_link: dict[str, int]
    console_link: dict[str, int] = field(default_factory=dict)


class EventDownloadError(LinkError):
    """An event download stopped part-way; ``partial`` holds what arrived (resumable)."""

    def __init__(self, cause: LinkError, partial: EventBatch) -> None:
        super().__init__(
            f"{cause} {len(partial.events)} events were read; the download can resume "
            f"from event {partial.next_index}.",
            may_have_arrived=False,
        )
        self.cause = cause
        self.partial = partial


# =========================================================================== conversions


def _mask_names(mask: int, table: dict[str, int]) -> frozenset[str]:
    return frozenset(name for name, bit in table.items() if mask >> bit & 1)


def identity_from(msg: p.Identity) -> PumpIdentity:
    return PumpIdentity(
        serial=msg.serial,
        model=msg.model,
        firmware=msg.firmware,
        protocol_version=msg.protocol_version,
        capabilities=_mask_names(msg.capabilities, p.CAPABILITY_BITS),
        reservoir_capacity_ul=msg.reservoir_capacity_ul,
    )


def status_from(msg: p.Status, read_at: datetime) -> PumpStatus:
    return PumpStatus(
        read_at=read_at,
        pump_clock=p.pump_datetime(msg.clock_s),
        reservoir_ul=msg.reservoir_ul,
        alarm_volume_ul=msg.alarm_volume_ul,
        alarm_date=msg.alarm_date,
        battery_mv=msg.battery_mv,
        eri=bool(msg.power_flags & p.POWER_ERI),
        eos=bool(msg.power_flags & p.POWER_EOS),
        eri_date=msg.eri_date,
        eos_date=msg.eos_date,
        alarms=p.alarm_names(msg.active_alarms),
        concentration_mcg_ml=msg.concentration_mcg_ml,
        drug_code=msg.drug_code,
        drug_name=msg.drug_name,
        event_total=msg.event_total,
        pump_serial=msg.serial,
    )


def event_from(serial: str, index: int, rec: p.EventRecord) -> PumpEvent:
    """Wire record -> PumpEvent; argument names carry their units (``dose_ng``...)."""
    kind = p.EVENT_KINDS.get(rec.kind)
    detail: dict[str, Any]
    if kind is None:
        name, detail = f"unknown_{rec.kind}", {"a": rec.a, "b": rec.b}
    else:
        name, detail = kind.name, {}
        for arg, value in ((kind.a, rec.a), (kind.b, rec.b)):
            if arg:
                detail[arg] = value
        if "alarm_bit" in detail:
            detail["alarm"] = next(iter(p.alarm_names(1 << (detail["alarm_bit"] & 15))), "")
        if "mode" in detail:
            modes = {code: mode.value for mode, code in p.MODE_CODES.items()}
            detail["mode"] = modes.get(detail["mode"], str(detail["mode"]))
    return PumpEvent(serial, index, p.pump_datetime(rec.clock_s), name, detail)


# =========================================================================== client


class PumpClient:
    """Operations on one pump. Construct over an open :class:`Link`, or use :meth:`open`.

    Every operation is bounded by the link's timeouts and retries; ``deadline_s`` (seconds
    from the call) caps a whole operation. Cancel with ``client.link.cancel()`` from any
    thread; clear with ``client.link.cancel_event.clear()`` before the next operation.
    """

    def __init__(self, link: Link, *, now: Clock = _utc_now) -> None:
        self.link = link
        self._now = now
        self.identity: PumpIdentity | None = None

    @classmethod
    def open(cls, url: str, *, baud: int = p.DEFAULT_BAUD, **link_kwargs: Any) -> PumpClient:
        return cls(Link.open(url, baud=baud, **link_kwargs))

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> PumpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _deadline(self, deadline_s: float | None) -> float | None:
        return None if deadline_s is None else self.link.now() + deadline_s

    def _ask(self, message: p.Message, reply: type[M], deadline: float | None) -> M:
        answer = self.link.request(message, deadline=deadline)
        if not isinstance(answer, reply):  # the link already checks; keeps types honest
            raise ProtocolMismatch(f"unexpected {type(answer).__name__}")
        return answer

    def _timed(
        self, message: p.Message, reply: type[M], deadline: float | None
    ) -> tuple[M, datetime]:
        """Ask, and return the computer's UTC time at the midpoint of the exchange."""
        t0 = self._now()
        answer = self._ask(message, reply, deadline)
        t1 = self._now()
        return answer, t0 + (t1 - t0) / 2

    # ------------------------------------------------------------------ reads

    def identify(self, *, deadline_s: float | None = None) -> PumpIdentity:
        """Opens a session. Refuses a pump whose protocol version this console lacks."""
        msg = self._ask(p.Identify(), p.Identity, self._deadline(deadline_s))
        if msg.protocol_version not in p.SUPPORTED_VERSIONS:
            raise ProtocolMismatch(
                f"pump speaks version {msg.protocol_version}, console speaks "
                f"{sorted(p.SUPPORTED_VERSIONS)}"
            )
        self.identity = identity_from(msg)
        return self.identity

    def _serial(self, deadline: float | None) -> str:
        if self.identity is None:
            self.identify(deadline_s=self._left(deadline))
        assert self.identity is not None
        return self.identity.serial

    def read_status(self, *, deadline_s: float | None = None) -> PumpStatus:
        msg, at = self._timed(p.GetStatus(), p.Status, self._deadline(deadline_s))
        return status_from(msg, at)

    def read_program(self, *, deadline_s: float | None = None) -> tuple[Program, datetime]:
        """The active program and when (pump clock) it started."""
        msg = self._ask(p.ReadProgram(), p.ProgramReply, self._deadline(deadline_s))
        return msg.program, p.pump_datetime(msg.started_clock_s)

    def interrogate(
        self, *, recent_events: int = 0, deadline_s: float | None = None
    ) -> Interrogation:
        """Identity, status (alarms, clock), program, and optionally the most recent events.
        Either everything is returned or an error is raised: never a partial reading.

        As few requests as the protocol allows: IDENTIFY only when this session has not
        opened yet (the status of version 2 names the pump, so another pump put under the
        head since is still caught: the session then opens again with it), and the event
        count from the status instead of asking for it."""
        deadline = self._deadline(deadline_s)
        identity = self.identity
        if identity is None or not self.link.identified or self.link.version < 2:
            identity = self.identify(deadline_s=self._left(deadline))
        status = self.read_status(deadline_s=self._left(deadline))
        if status.pump_serial is not None and status.pump_serial != identity.serial:
            log.info("pump %s answered for %s: identifying again", status.pump_serial, identity)
            identity = self.identify(deadline_s=self._left(deadline))
            status = self.read_status(deadline_s=self._left(deadline))
            if status.pump_serial != identity.serial:
                raise ProtocolMismatch(
                    f"the status names pump {status.pump_serial}, the identity {identity.serial}"
                )
        program, started = self.read_program(deadline_s=self._left(deadline))
        events: tuple[PumpEvent, ...] = ()
        if recent_events:
            total = status.event_total
            if total is None:
                total = self.event_total(deadline_s=self._left(deadline))
            events = self.read_events(
                max(0, total - recent_events), deadline_s=self._left(deadline)
            ).events
        return Interrogation(identity, status, program, started, events)

    def event_total(self, *, deadline_s: float | None = None) -> int:
        """How many events the pump has ever logged (an empty page past the end says)."""
        page = self._ask(p.ReadEvents(0xFFFFFFFF, 1), p.Events, self._deadline(deadline_s))
        return page.total

    def read_recent_events(
        self, count: int = RECENT_EVENTS, *, page_size: int = DEFAULT_PAGE,
        progress: Progress | None = None, deadline_s: float | None = None,
    ) -> EventBatch:  # fmt: skip
        deadline = self._deadline(deadline_s)
        total = self.event_total(deadline_s=self._left(deadline))
        return self.read_events(
            max(0, total - count), page_size=page_size, progress=progress,
            deadline_s=self._left(deadline),
        )  # fmt: skip

    def iter_event_pages(
        self, since: int = 0, *, page_size: int = DEFAULT_PAGE, deadline_s: float | None = None
    ) -> Iterator[EventBatch]:
        """Yield one batch per page, in order. Stop and resume any time from the last
        batch's ``next_index``; each batch is checked for consistency before it is yielded."""
        if not 1 <= page_size <= p.MAX_EVENTS_PER_PAGE:
            raise ValueError(f"page size must be 1..{p.MAX_EVENTS_PER_PAGE}")
        deadline = self._deadline(deadline_s)
        serial = self._serial(deadline)
        index = since
        size = page_size
        while True:
            page, asked = self._page(index, size, deadline)
            # a page that needed smaller requests leaves them small for a while; full pages
            # come back as the link recovers
            size = min(page_size, asked * 2) if asked == size else asked
            n = len(page.events)
            if n == 0 and page.total <= index:
                # Nothing at or after ``index``: either up to date, or the pump's log is
                # shorter than the console remembers (memory reset, replaced pump).
                if page.total < index:
                    log.warning(
                        "Pump %s logs %d events but %d were already read: its log was reset",
                        serial,
                        page.total,
                        index,
                    )
                yield EventBatch((), index, page.total)
                return
            if (
                page.first_index < index
                or page.next_index != page.first_index + n
                or page.total < page.next_index
                or n > asked
                or (n == 0 and page.next_index < page.total)
            ):
                raise ProtocolMismatch(
                    f"inconsistent event page (asked from {index}, got {page.first_index}.."
                    f"{page.next_index} of {page.total})"
                )
            events = tuple(
                event_from(serial, page.first_index + i, rec) for i, rec in enumerate(page.events)
            )
            yield EventBatch(events, page.next_index, page.total, gap=page.first_index > index)
            index = page.next_index
            if n == 0 or index >= page.total:
                return

    def _page(self, index: int, page_size: int, deadline: float | None) -> tuple[p.Events, int]:
        """One page from ``index`` and the page size that got it. When the link gives up on
        a page it is asked for again (up to :data:`PAGE_ATTEMPTS` times), each time for half
        as many events (at least :data:`MIN_PAGE`): on a noisy link a shorter reply is far
        more likely to arrive whole. A cancel or a lost port ends the download at once."""
        size = page_size
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            try:
                return self._ask(p.ReadEvents(index, size), p.Events, deadline), size
            except (Cancelled, LinkLost, PortUnavailable):
                raise
            except LinkError:
                if attempt == PAGE_ATTEMPTS or (
                    deadline is not None and self.link.now() >= deadline
                ):
                    raise
                log.info("event page from %d failed (attempt %d); asking again", index, attempt)
                size = max(MIN_PAGE, size // 2)
        raise AssertionError("unreachable")

    def read_events(
        self, since: int = 0, *, page_size: int = DEFAULT_PAGE,
        progress: Progress | None = None, deadline_s: float | None = None,
    ) -> EventBatch:  # fmt: skip
        """All events from index ``since`` on. ``progress(received, expected)`` is called
        after each page. On failure raises :class:`EventDownloadError` with the events
        already received, so the caller can keep them and resume."""
        events: list[PumpEvent] = []
        next_index, total, gap = since, since, False
        try:
            for batch in self.iter_event_pages(since, page_size=page_size, deadline_s=deadline_s):
                if not events and not batch.events and batch.total <= since:
                    next_index, total = batch.next_index, batch.total
                    break
                events.extend(batch.events)
                next_index, total, gap = batch.next_index, batch.total, gap or batch.gap
                if progress is not None:
                    progress(len(events), max(len(events), total - since))
        except LinkError as exc:
            if not events:
                raise
            raise EventDownloadError(
                exc, EventBatch(tuple(events), next_index, total, gap)
            ) from exc
        return EventBatch(tuple(events), next_index, total, gap)

    def read_clock(self, *, deadline_s: float | None = None) -> ClockReading:
        msg, at = self._timed(p.ReadClock(), p.Clock, self._deadline(deadline_s))
        return ClockReading(p.pump_datetime(msg.clock_s), at)

    def diagnostics(self, *, deadline_s: float | None = None) -> PumpDiagnostics:
        d = self._ask(p.GetDiagnostics(), p.Diagnostics, self._deadline(deadline_s))
        return PumpDiagnostics(
            uptime_s=d.uptime_s,
            battery_mv=d.battery_mv,
            resets=d.resets,
            motor_steps=d.motor_steps,
            motor_current_ua=d.motor_current_ua,
            motor_stalls=d.motor_stalls,
            pump_link={
                "frames_received": d.frames_received,
                "frames_sent": d.frames_sent,
                "crc_errors": d.crc_errors,
                "naks_sent": d.naks_sent,
                "busy_sent": d.busy_sent,
            },
            console_link=self.link.counters.as_dict(),
        )

    # ------------------------------------------------------------------ writes

    def _send_write(
        self, message: p.Message, reply: type[M], deadline: float | None
    ) -> tuple[M | None, WriteResult | None]:
        """Send a write. Returns (reply, None), or (None, result) when the outcome is
        already decided: FAILED if certainly not applied, UNCERTAIN otherwise; (None,
        None) means "unknown but the link still answers": read back to decide."""
        try:
            return self._ask(message, reply, deadline), None
        except PumpRefused as exc:
            return None, WriteResult(WriteOutcome.FAILED, str(exc))
        except Cancelled as exc:
            if exc.may_have_arrived:
                return None, WriteResult(
                    WriteOutcome.UNCERTAIN,
                    f"Cancelled after the command was sent. {_UNCERTAIN_ADVICE}",
                )
            return None, WriteResult(WriteOutcome.FAILED, "Cancelled before anything was sent.")
        except LinkError as exc:
            if not exc.may_have_arrived:
                return None, WriteResult(WriteOutcome.FAILED, f"{exc} Nothing was changed.")
            return None, None

    def write_program(
        self, program: Program, *, current: Program | None = None,
        deadline_s: float | None = None,
    ) -> WriteResult:  # fmt: skip
        """Two-phase write: stage, compare the echoed checksum, commit, read back.

        ``current`` (the program before the change, if known) lets an unanswered commit be
        resolved as FAILED when the read-back still shows it."""
        deadline = self._deadline(deadline_s)
        checksum = p.program_checksum(program)  # raises EncodeError for an inexact program
        try:
            staged = self._ask(p.StageProgram(program), p.Staged, deadline)
        except PumpRefused as exc:
            return WriteResult(WriteOutcome.FAILED, f"{exc} The program was not changed.")
        except LinkError as exc:  # staging alone never changes therapy
            return WriteResult(WriteOutcome.FAILED, f"{exc} The program was not changed.")
        if staged.checksum != checksum:
            return WriteResult(
                WriteOutcome.FAILED,
                "The pump received a different program than was sent (checksum mismatch), so "
                "it was not activated. The program was not changed; try again.",
            )
        committed, decided = self._send_write(p.CommitProgram(checksum), p.Committed, deadline)
        if decided is not None:
            if decided.outcome is WriteOutcome.FAILED:
                return WriteResult(
                    WriteOutcome.FAILED, f"{decided.message} The program was not changed."
                )
            return decided
        try:
            active, _ = self.read_program(deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                f"The program was sent but could not be read back ({exc}). {_UNCERTAIN_ADVICE}",
            )
        if active == program and (committed is None or committed.checksum == checksum):
            return WriteResult(
                WriteOutcome.SUCCEEDED, "The new program is active and was read back.", active
            )
        if committed is None and (current is None or active == current):
            return WriteResult(
                WriteOutcome.FAILED,
                "The pump did not confirm the change and its program is unchanged. "
                "The program was not changed; try again.",
                active,
            )
        return WriteResult(
            WriteOutcome.UNCERTAIN,
            f"The program read back from the pump differs from the one sent. {_UNCERTAIN_ADVICE}",
            active,
        )

    def update_reservoir(
        self, volume_ul: int, concentration_mcg_ml: int, drug_name: str, *,
        alarm_volume_ul: int | None = None, drug_code: int = 1,
        bridge: BridgeBolus | None = None, tolerance_ul: int = 50,
        deadline_s: float | None = None,
    ) -> WriteResult:  # fmt: skip
        """Record a refill in the pump, then read the status back and compare. The
        read-back volume may be up to ``tolerance_ul`` lower (the pump keeps delivering)."""
        deadline = self._deadline(deadline_s)
        try:  # the record before the write: an unanswered update is FAILED only if it stays
            before = self.read_status(deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(WriteOutcome.FAILED, f"{exc} Nothing was changed.")
        if alarm_volume_ul is None:
            alarm_volume_ul = before.alarm_volume_ul
        request = p.UpdateReservoir(
            volume_ul, alarm_volume_ul, concentration_mcg_ml, drug_code,
            bridge.volume_ul if bridge else 0, bridge.duration_minutes if bridge else 0, drug_name,
        )  # fmt: skip
        reply, decided = self._send_write(request, p.ReservoirUpdated, deadline)
        if decided is not None:
            return decided
        echo_ok = reply is None or reply.encode_payload() == request.encode_payload()
        try:
            status = self.read_status(deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                f"The refill was sent but could not be read back ({exc}). {_UNCERTAIN_ADVICE}",
            )
        matches = (
            status.concentration_mcg_ml == concentration_mcg_ml
            and status.drug_name == drug_name
            and status.drug_code == drug_code
            and status.alarm_volume_ul == alarm_volume_ul
            and volume_ul - tolerance_ul <= status.reservoir_ul <= volume_ul
        )
        if matches and echo_ok:
            return WriteResult(WriteOutcome.SUCCEEDED, "The pump recorded the refill.", status)
        unchanged = (
            status.concentration_mcg_ml == before.concentration_mcg_ml
            and status.drug_name == before.drug_name
            and status.drug_code == before.drug_code
            and status.alarm_volume_ul == before.alarm_volume_ul
            and status.reservoir_ul <= before.reservoir_ul  # it only went on delivering
        )
        if reply is None and not matches and unchanged:
            return WriteResult(
                WriteOutcome.FAILED,
                "The pump did not confirm the refill and its reservoir record is unchanged. "
                "Try again.",
                status,
            )
        return WriteResult(
            WriteOutcome.UNCERTAIN,
            f"The reservoir record read back differs from what was sent. {_UNCERTAIN_ADVICE}",
            status,
        )

    def single_bolus(
        self, dose_mcg: Decimal, duration_minutes: int, *, deadline_s: float | None = None
    ) -> WriteResult:
        """Start a single bolus. A bolus whose answer was lost is never resent: its outcome
        is settled from the pump's event log (a ``single_bolus`` event of this dose logged
        after the command was sent), and is UNCERTAIN while the log cannot be read."""
        deadline = self._deadline(deadline_s)
        request = p.SingleBolus(p.mcg_to_ng(dose_mcg, "bolus dose"), duration_minutes)
        try:  # where the log stands before anything is sent, to read the outcome from
            logged_before = self.event_total(deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(WriteOutcome.FAILED, f"{exc} No bolus was sent.")
        reply, decided = self._send_write(request, p.BolusAccepted, deadline)
        if decided is not None:
            return decided
        if reply is None:
            return self._settle_bolus(request, logged_before, deadline)
        if reply.dose_ng != request.dose_ng or reply.duration_min != request.duration_min:
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                f"The pump confirmed a different bolus than was sent. {_UNCERTAIN_ADVICE}",
                reply,
            )
        return WriteResult(WriteOutcome.SUCCEEDED, "The pump started the bolus.", reply)

    def _settle_bolus(
        self, request: p.SingleBolus, logged_before: int, deadline: float | None
    ) -> WriteResult:
        """The bolus command was sent but not answered: the event log decides. The pump
        handles requests in the order they arrive, so a bolus it carried out is logged
        before this read is answered."""
        try:
            batch = self.read_events(logged_before, deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                f"The bolus command was sent but not confirmed, and the pump's event log could "
                f"not be read ({exc}). Read the pump's event log before giving another bolus.",
            )
        given = [
            e for e in batch.events
            if e.kind == "single_bolus"
            and e.detail.get("dose_ng") == request.dose_ng
            and e.detail.get("duration_min") == request.duration_min
        ]  # fmt: skip
        if batch.gap or batch.next_index < logged_before or batch.total < logged_before:
            # overwritten entries, or a log shorter than before (reset): it cannot say
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                "The bolus command was sent but not confirmed, and the pump's event log is "
                "incomplete. Read the pump's event log before giving another bolus.",
            )
        if len(given) == 1:
            return WriteResult(
                WriteOutcome.SUCCEEDED,
                "The pump started the bolus (its answer was lost; its event log shows it).",
            )
        if not given:
            return WriteResult(
                WriteOutcome.FAILED,
                "The pump did not confirm the bolus and its event log shows none was started. "
                "No bolus was given.",
            )
        return WriteResult(
            WriteOutcome.UNCERTAIN,
            f"The pump's event log shows {len(given)} boluses since the command was sent. "
            f"{_UNCERTAIN_ADVICE}",
        )

    def acknowledge_alarms(
        self, names: Iterable[str], *, deadline_s: float | None = None
    ) -> tuple[str, ...]:
        """Silence the named alarms; returns the alarms still active."""
        msg = self._ask(
            p.AcknowledgeAlarms(p.alarm_mask(names)), p.Alarms, self._deadline(deadline_s)
        )
        return p.alarm_names(msg.active_alarms)

    def alarm_test(self, *, deadline_s: float | None = None) -> None:
        """Ask the pump to sound its alarm tones so the patient knows them."""
        self._ask(p.AlarmTest(), p.AlarmTestDone, self._deadline(deadline_s))

    def set_clock(
        self, to: datetime | None = None, *, tolerance_s: float = 2.0,
        deadline_s: float | None = None,
    ) -> WriteResult:  # fmt: skip
        """Set the pump clock (to UTC now by default; only when the user agreed), then
        read it back."""
        deadline = self._deadline(deadline_s)
        target = to or self._now()
        t0 = self._now()
        reply, decided = self._send_write(p.SetClock(p.pump_seconds(target)), p.ClockSet, deadline)
        if decided is not None:
            return decided
        try:
            reading = self.read_clock(deadline_s=self._left(deadline))
        except LinkError as exc:
            return WriteResult(
                WriteOutcome.UNCERTAIN,
                f"The clock was sent but could not be read back ({exc}). {_UNCERTAIN_ADVICE}",
            )
        expected = target + (reading.computer_utc - t0)
        if (
            abs((reading.pump_clock - expected).total_seconds())
            <= tolerance_s + (reading.computer_utc - t0).total_seconds()
        ):
            return WriteResult(WriteOutcome.SUCCEEDED, "The pump clock was set.", reading)
        if reply is None:
            return WriteResult(WriteOutcome.FAILED, "The pump clock was not changed.", reading)
        return WriteResult(
            WriteOutcome.UNCERTAIN,
            f"The pump clock read back differs from the time sent. {_UNCERTAIN_ADVICE}",
            reading,
        )

    def _left(self, deadline: float | None) -> float | None:
        """Seconds left until an absolute deadline (None: no overall deadline)."""
        return None if deadline is None else max(0.0, deadline - self.link.now())
