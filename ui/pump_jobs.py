"""Jobs the link worker runs: connect, interrogate, set clock, diagnostics, disconnect.

Each job takes a :class:`~ui.link_worker.JobContext` and runs on the link thread; it keeps
the open pump client in ``ctx.state["client"]`` between jobs. They return domain objects
(never widgets) and raise the driver's typed errors, which :func:`plain_message` turns into
words for the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from itbconsole.model import PumpEvent, Reading, User
from itbconsole.services import pump_actions
from itbconsole.services.pump_actions import DifferentPump, NotAllowed
from ui.device_bar import PortChoice
from ui.link_worker import JobCancelled, JobContext

if TYPE_CHECKING:
    from drivers.pump_client import Interrogation, PumpClient

# The driver is imported on first use, on the link thread: the window shows without it.


@dataclass(frozen=True)
class InterrogationResult:
    """One interrogation, ready for the clinic service to save."""

    identity: Any
    reading: Reading
    events: tuple[PumpEvent, ...]
    capacity_ul: int
    #: Events the pump logged after ``events`` that could not be read this time (the link
    #: broke mid-download): the events read are saved and the next interrogation resumes.
    events_missing: int = 0
    events_error: str = ""

    @property
    def simulated(self) -> bool:
        """The pump says it is simulated (a training pump): the clinic database refuses it."""
        return "simulated" in self.identity.capabilities


def discover_ports() -> list[PortChoice]:
    """Serial ports on this computer that could be a programmer (no handshake here: that
    would open every port; the probe runs on Connect). Runs on a thread of its own, not
    the link's (the window's ``refresh_ports``): scanning ports can take a while on some
    systems, and it touches no pump."""
    from drivers.ports import list_serial_ports

    return [
        PortChoice(p.device, p.label, f"{p.manufacturer or ''} {p.serial_number or ''}".strip())
        for p in list_serial_ports()
    ]


def connected_client(ctx: JobContext) -> PumpClient:
    """The link thread's pump client, made cancellable by this job (every job that talks to
    the pump starts here), or PortUnavailable when nothing is connected."""
    from drivers import link as link_errors
    from drivers.pump_client import PumpClient

    client = ctx.state.get("client")
    if not isinstance(client, PumpClient):
        raise link_errors.PortUnavailable(
            "No pump programmer is connected. Choose a port and press Connect."
        )
    client.link.cancel_event = ctx.cancel
    return client


def connect(ctx: JobContext, url: str) -> Any:
    """Open the port and identify the pump (the handshake)."""
    from drivers.pump_client import PumpClient

    old = ctx.state.pop("client", None)
    if old is not None:
        old.close()
    ctx.progress("Opening port", 0, 2)
    client = PumpClient.open(url, cancel=ctx.cancel)
    try:
        ctx.progress("Identifying pump", 1, 2)
        identity = client.identify()
    except BaseException:
        client.close()
        raise
    ctx.state["client"] = client
    ctx.state["identity"] = identity
    ctx.progress("Connected", 2, 2)
    return identity


def disconnect(ctx: JobContext) -> None:
    client = ctx.state.pop("client", None)
    ctx.state.pop("identity", None)
    if client is not None:
        client.close()


def require_pump(ctx: JobContext, identity: Any, expected_serial: str) -> None:
    """The service's right-pump check (:func:`itbconsole.services.pump_actions.require_pump`),
    keeping the identity that answered for the window when it is another pump."""
    try:
        pump_actions.require_pump(identity, expected_serial)
    except DifferentPump:
        ctx.state["identity"] = identity
        raise


def interrogate(
    ctx: JobContext, since_index: int, expected_serial: str | None = None
) -> InterrogationResult:
    """Identity, status, program, clock, then the pump events not yet stored.

    The reading is all or nothing: if identity, status or program fails the job raises and
    nothing is returned to be saved. The event download may break part way on a noisy link
    (after each page was asked for again): the events read so far, an unbroken run from
    ``since_index``, are returned with how many are missing, so they are saved and the next
    interrogation resumes from there. A cancel or a lost port still returns nothing.
    ``since_index`` belongs to ``expected_serial``: if another pump answers, the job stops
    with :class:`DifferentPump` before reading events, so no pump's events are skipped."""
    from drivers import link as link_errors
    from drivers.pump_client import EventBatch, EventDownloadError

    client = connected_client(ctx)
    ctx.progress("Reading identity, status and program", 0, 2)
    interrogation: Interrogation = client.interrogate()
    if expected_serial is not None:
        require_pump(ctx, interrogation.identity, expected_serial)
    ctx.progress("Reading the pump's event log", 1, 2)

    def events_progress(received: int, expected: int) -> None:
        ctx.progress(f"Reading the pump's event log: {received} of {expected}", received, expected)

    missing, error = 0, ""
    try:
        batch = client.read_events(since_index, progress=events_progress)
    except EventDownloadError as exc:
        if isinstance(exc.cause, link_errors.Cancelled | link_errors.PortUnavailable):
            raise exc.cause from exc
        batch, error = exc.partial, str(exc.cause)
        missing = max(1, batch.total - batch.next_index)
    except link_errors.LinkError as exc:
        if isinstance(exc, link_errors.Cancelled | link_errors.PortUnavailable):
            raise
        batch, error, missing = EventBatch((), since_index, since_index), str(exc), 1
    return InterrogationResult(
        identity=interrogation.identity,
        reading=interrogation.reading,
        events=batch.events,
        capacity_ul=interrogation.identity.reservoir_capacity_ul,
        events_missing=missing,
        events_error=error,
    )


def set_clock(ctx: JobContext, expected_serial: str, user: User) -> dict[str, str]:
    """Set the pump clock to this computer's UTC time (only after the user agreed), and only
    on the open patient's pump (the service authorises and checks the pump first)."""
    client = connected_client(ctx)
    try:
        return pump_actions.set_pump_clock(client, user, expected_serial)
    except DifferentPump as exc:
        ctx.state["identity"] = exc.identity
        raise


def diagnostics(ctx: JobContext) -> dict[str, Any]:
    client = ctx.state.get("client")
    if client is None:
        return {}
    counters: dict[str, Any] = dict(client.link.counters.as_dict())
    return counters


def plain_message(error: BaseException) -> str:
    """What to tell the user. Driver errors already speak plainly; anything else is wrapped."""
    from drivers import link as link_errors

    if isinstance(error, link_errors.Cancelled | JobCancelled):
        return "Cancelled. The pump carries on with its current program; nothing was saved."
    if isinstance(error, link_errors.LinkError | DifferentPump | NotAllowed):
        return str(error)
    return f"Unexpected problem: {error}. The details are in the log file."


def is_disconnect(error: BaseException) -> bool:
    from drivers import link as link_errors

    return isinstance(error, link_errors.PortUnavailable)
