"""The refill appointment as a state machine: the rules of a refill, without a screen.

Why a service: a refill is the riskiest routine moment of ITB therapy (pocket fills, a
wrong concentration, a wrong next date). Every rule of the workflow lives here, in plain
Python that a test reaches without Qt and without a pump; the wizard in ``ui/refill/`` only
shows what this module computes and passes on what the nurse typed. The arithmetic itself
is :mod:`itbconsole.dosing`'s; this module decides which figures to compute, from which
records, and what the nurse must confirm before going on.

Steps (:class:`Step`): identify the pump, enter the volume withdrawn, choose the new drug,
check the concentration, review current against new, update the pump, record. Nothing is
written to the store or sent to the pump before :meth:`RefillSession.confirm`; the pump
update itself runs on the link thread (the UI sends :meth:`RefillSession.reservoir_update`)
and its outcome comes back through :meth:`RefillSession.record_update`.

A pump update whose outcome is unknown (link lost) is stored as a *pending* refill;
:func:`resolve_pending_refills` settles it from the next interrogation.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

from itbconsole import dosing
from itbconsole.druglib import DrugProduct
from itbconsole.forecast import (
    PUMP_CLOCK,
    Bound,
    Fill,
    Forecast,
    ProgramTimeline,
    PumpFacts,
    boluses_given,
    fill_from_refill,
    with_fill,
    with_reading,
)
from itbconsole.gs1 import GS1Data, GS1Error, looks_like_gs1, parse_gs1
from itbconsole.model import (
    Action,
    BolusGiven,
    ChangeOutcome,
    Patient,
    PreparedProgram,
    Program,
    ProgramSegment,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
    User,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.settlement import (
    READ_BACK_TOLERANCE_UL,
    PendingResolution,
    resolve_pending_refills,
)
from itbconsole.store import Store
from itbconsole.store.queries import PatientHistory
from itbconsole.units import QuantityError, fmt_mcg, fmt_ml, ml_to_ul, parse_decimal, round_decimal

if TYPE_CHECKING:
    from drivers.pump_client import PumpClient

#: A program prepared for a concentration change older than this is not used: the patient
#: may have changed since (clinic default).
PREPARED_MAX_AGE = timedelta(days=30)


class Step(enum.IntEnum):
    IDENTIFY = 1
    WITHDRAW = 2
    NEW_DRUG = 3
    CONCENTRATION = 4
    REVIEW = 5
    UPDATE = 6
    RECORD = 7
    DONE = 8
    CANCELLED = 9


STEP_TITLES = {
    Step.IDENTIFY: "Identify the pump",
    Step.WITHDRAW: "Withdraw the residual",
    Step.NEW_DRUG: "New drug",
    Step.CONCENTRATION: "Concentration check",
    Step.REVIEW: "Review",
    Step.UPDATE: "Update the pump",
    Step.RECORD: "Record",
}


class RefillError(ValueError):
    """A value or an action the refill rules refuse. ``field`` names the input it is about
    (so a screen can show the message next to it); the message is for the nurse."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class StatusLike(Protocol):
    """What a pump status read-back offers (``drivers.pump_client.PumpStatus`` fits)."""

    read_at: datetime
    pump_clock: datetime
    reservoir_ul: int
    alarm_volume_ul: int
    battery_mv: int
    eri: bool
    eos: bool
    alarms: tuple[str, ...]
    concentration_mcg_ml: int
    drug_name: str


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ResidualDerivation:
    """The expected residual and every input it came from, so the screen can show how it
    was derived (domain.md: every result shown with its inputs)."""

    basis: str
    """"last refill" (dosing from the last fill and the program history) or "pump
    estimate" (no refill on record: the pump's own estimate is all there is)."""
    last_refill: Refill | None
    fill_ul: int
    filled_at: datetime | None
    at: datetime
    segments: tuple[ProgramSegment, ...]
    boluses: tuple[BolusGiven, ...]
    forecast: dosing.ResidualForecast | None
    expected_residual_ul: int
    expected_delivered_ul: int | None
    pump_estimate_ul: int
    notes: tuple[str, ...] = ()

    def explanation(self, tz: Callable[[datetime], str] | None = None) -> list[str]:
        """Plain-words lines: fill, delivery, residual, and what the pump itself says."""
        show = tz or (lambda d: d.strftime("%Y-%m-%d %H:%M UTC"))
        if self.forecast is None or self.filled_at is None:
            return [
                "No refill is on record for this pump, so the expected residual is the "
                f"pump's own estimate: {fmt_ml(self.pump_estimate_ul)}.",
                *self.notes,
            ]
        lines = [
            f"Last fill: {fmt_ml(self.fill_ul)} on {show(self.filled_at)}.",
            f"Programmed delivery since ({len(self.segments)} program period"
            f"{'s' if len(self.segments) != 1 else ''}, {len(self.boluses)} bolus"
            f"{'es' if len(self.boluses) != 1 else ''}): "
            f"{fmt_ml(self.forecast.programmed_delivery_ul)}.",
        ]
        for seg in self.segments:
            dose = dosing.program_daily_dose_mcg(seg.program)
            lines.append(
                f"  from {show(max(seg.start, self.filled_at))}: {fmt_mcg(dose)}/24 h at "
                f"{seg.concentration_mcg_ml} mcg/mL"
            )
        lines.append(
            f"Expected residual = {fmt_ml(self.fill_ul)} - "
            f"{fmt_ml(self.forecast.programmed_delivery_ul)} = "
            f"{fmt_ml(self.expected_residual_ul)}"
            + (
                " (the programmed delivery would have emptied the reservoir)"
                if self.forecast.emptied
                else ""
            )
            + "."
        )
        lines.append(f"The pump's own estimate: {fmt_ml(self.pump_estimate_ul)}.")
        lines.extend(self.notes)
        return lines


@dataclass(frozen=True)
class Identification:
    """Step 1: whose pump, what it holds and says now."""

    patient: Patient
    pump: Pump
    reading: Reading
    product_in_pump: str
    residual: ResidualDerivation
    pending: tuple[Refill, ...]
    warnings: tuple[str, ...]
    forecast_now: Forecast
    facts: PumpFacts
    """The forecast's inputs with this interrogation: the refill's "after" adds the fill."""
    concentration_mismatch: bool = False
    """The pump's concentration differs from the last refill on record: the refill is
    blocked until the nurse explains it (:meth:`RefillSession.explain_concentration_mismatch`)."""


@dataclass(frozen=True)
class WithdrawalCheck:
    """Step 2: the volume withdrawn against the expected residual."""

    withdrawn_ul: int
    discrepancy: dosing.RefillDiscrepancy
    slip_hint: str = ""

    @property
    def needs_acknowledgement(self) -> bool:
        return self.discrepancy.flag

    @property
    def accuracy_text(self) -> str:
        pct = self.discrepancy.accuracy_pct
        return "not computable" if pct is None else f"{round_decimal(pct, 1)} %"

    @property
    def discrepancy_text(self) -> str:
        d = self.discrepancy.discrepancy_ul
        return ("+" if d > 0 else "") + fmt_ml(d)

    @property
    def meaning(self) -> str:
        """The likely meaning, in plain words. Less than expected may also mean that the
        previous refill went partly into the pocket (domain.md: pocket fill)."""
        text = self.discrepancy.meaning
        if self.discrepancy.direction == dosing.LESS_THAN_EXPECTED:
            text += (
                " It may also mean the previous refill went partly into the pocket (pocket "
                "fill) and not the reservoir: check the pocket and the patient for overdose "
                "signs."
            )
        return text


@dataclass(frozen=True)
class NewDrug:
    """Step 3: what goes into the pump."""

    product: DrugProduct
    lot: str
    expiry: date
    added_ul: int
    gtin: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class NewDrugCheck:
    new_drug: NewDrug
    forecast: Forecast
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ConcentrationCheck:
    """Step 4: the new concentration against the prescription (the pump's now)."""

    current_mcg_ml: int
    new_mcg_ml: int
    prepared: PreparedProgram | None
    bridge: dosing.BridgeBolus | None
    bridge_volume_ul: int
    bridge_duration_min: int
    program_after: Program
    message: str

    @property
    def changed(self) -> bool:
        return self.current_mcg_ml != self.new_mcg_ml


@dataclass(frozen=True)
class ReviewRow:
    label: str
    current: str
    new: str

    @property
    def changed(self) -> bool:
        return self.current != self.new


@dataclass(frozen=True)
class Review:
    rows: tuple[ReviewRow, ...]
    forecast_before: Forecast
    forecast_after: Forecast
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    to_acknowledge: tuple[str, ...] = ()
    """Warnings the nurse must acknowledge before the pump is updated."""


@dataclass(frozen=True)
class ReservoirUpdate:
    """What step 6 sends to the pump (``PumpClient.update_reservoir``'s arguments)."""

    pump_serial: str
    volume_ul: int
    concentration_mcg_ml: int
    drug_name: str
    alarm_volume_ul: int
    bridge_volume_ul: int = 0
    bridge_duration_min: int = 0


@dataclass(frozen=True)
class RefillOutcome:
    """Step 6 and 7: what happened and what was stored."""

    status: str  # confirmed | pending | failed
    message: str
    refill: Refill
    stored_at: datetime
    stored_by: str


@dataclass(frozen=True)
class PrintableRefill:
    """Everything the printed refill record shows; a screen or a PDF only lays it out."""

    patient_name: str
    hospital_number: str
    nhs_number: str
    date_of_birth: str
    pump_serial: str
    pump_model: str
    capacity: str
    refill_at: str
    status: str
    withdrawn: str
    expected_residual: str
    discrepancy: str
    accuracy: str
    discrepancy_meaning: str
    discrepancy_note: str
    product: str
    concentration: str
    lot: str
    expiry: str
    gtin: str
    added: str
    bridge: str
    alarm_date: str
    refill_by: str
    refill_by_rule: str
    nurse: str
    warnings: tuple[str, ...] = ()
    training: bool = False
    """A training database: the printout says TRAINING on every page."""


# --------------------------------------------------------------------------- helpers


def parse_ml(text: str, field: str, what: str) -> int:
    """User text in mL -> integer µL, or RefillError naming the field. Refuses negatives
    and anything finer than 0.001 mL."""
    try:
        ul = ml_to_ul(parse_decimal(text, field=what))
    except QuantityError as exc:
        raise RefillError(str(exc), field) from None
    if ul < 0:
        raise RefillError(f"{what} cannot be negative.", field)
    return ul


def _dose_text(program: Program) -> str:
    return f"{fmt_mcg(dosing.program_daily_dose_mcg(program))}/24 h"


def expected_residual_for(
    history: PatientHistory,
    pump: Pump,
    reading: Reading,
    events: Sequence[PumpEvent],
    tz: tzinfo,
    bridges: dict[datetime, tuple[int, int]] | None = None,
) -> ResidualDerivation:
    """Expected residual from the latest refill record (its time and added volume) and
    the program history since (:class:`itbconsole.forecast.ProgramTimeline`, the same one
    the Trends curve uses), by :func:`itbconsole.dosing.expected_residual`. The bridge the
    refill started and each single bolus count once, when they happened.

    Flex steps are integrated on the pump's own clock, which the protocol keeps on UTC
    (docs/protocol.md), never on the clinic's zone ``tz``: a clinic zone would move every
    flex step by an hour across a daylight-saving change. ``tz`` is for calendar dates only.
    """
    refills = sorted(
        (r for r in history.refills if r.pump_serial == pump.serial and r.at <= reading.at),
        key=lambda r: (r.at, r.id or 0),
    )
    if not refills:
        return ResidualDerivation(
            basis="pump estimate",
            last_refill=None,
            fill_ul=reading.reservoir_ul,
            filled_at=None,
            at=reading.at,
            segments=(),
            boluses=(),
            forecast=None,
            expected_residual_ul=reading.reservoir_ul,
            expected_delivered_ul=None,
            pump_estimate_ul=reading.reservoir_ul,
        )
    last = refills[-1]
    mine = [r for r in history.readings if r.pump_serial == pump.serial]
    changes = [c for c in history.program_changes if c.pump_serial == pump.serial]
    notes: list[str] = []
    on_record = ProgramTimeline(mine, changes)
    if on_record and on_record.entries[-1][1] != reading.program:
        notes.append(
            "The pump's program now differs from the last one on record: the change is "
            "counted from this interrogation, so the expected residual may be off."
        )
    timeline = ProgramTimeline([*mine, reading], changes)
    bridge = (bridges or {}).get(last.at, (0, 0))
    fill = fill_from_refill(last, None, bridge)
    segments, more = timeline.segments(last.at, reading.at, fill)
    notes.extend(more)
    all_events = list(history.events) + list(events)
    boluses = boluses_given(all_events, pump.serial, last.at, reading.at, last.concentration_mcg_ml)
    if not segments:
        return ResidualDerivation(
            basis="pump estimate",
            last_refill=last,
            fill_ul=last.added_ul,
            filled_at=last.at,
            at=reading.at,
            segments=(),
            boluses=(),
            forecast=None,
            expected_residual_ul=reading.reservoir_ul,
            expected_delivered_ul=None,
            pump_estimate_ul=reading.reservoir_ul,
            notes=tuple(notes),
        )
    # The pump counts flex minutes on its own clock (UTC), not the clinic's wall clock.
    forecast = dosing.expected_residual(
        last.added_ul, last.at, reading.at, segments, PUMP_CLOCK, boluses
    )
    residual = int(round_decimal(forecast.residual_ul, 0))
    delivered = int(round_decimal(min(forecast.programmed_delivery_ul, Fraction(last.added_ul)), 0))
    if bridge[0]:
        notes.append(
            f"The refill started a bridge bolus of {fmt_ml(bridge[0], 3)} (old drug at "
            f"{bridge[1]} mcg/mL): counted once, at the old concentration's rate."
        )
    if last.status != RefillStatus.CONFIRMED:
        notes.append(f"The last refill on record is {last.status}: the pump may not know it.")
    return ResidualDerivation(
        basis="last refill",
        last_refill=last,
        fill_ul=last.added_ul,
        filled_at=last.at,
        at=reading.at,
        segments=segments,
        boluses=boluses,
        forecast=forecast,
        expected_residual_ul=residual,
        expected_delivered_ul=delivered,
        pump_estimate_ul=reading.reservoir_ul,
        notes=tuple(notes),
    )


def _slip_hint(withdrawn_ul: int, expected_ul: int, limit_ul: int, capacity_ul: int) -> str:
    """A decimal slip (41.7 typed for 4.17) gives a value ten times off; say what was
    probably meant when the shifted value would fit the expected residual."""
    for shifted in (Fraction(withdrawn_ul, 10), Fraction(withdrawn_ul * 10)):
        if shifted <= capacity_ul and abs(shifted - expected_ul) <= limit_ul:
            return f"Check the decimal point: {fmt_ml(shifted)} would match the expected residual."
    return ""


# --------------------------------------------------------------------------- the session


class RefillSession:
    """One refill appointment for one patient, step by step.

    Each step method validates what the nurse entered and returns what the screen shows;
    it raises :class:`RefillError` (with the field it is about) when a rule refuses.
    Calling an earlier step again discards what later steps decided, so going back in the
    wizard can never leave a stale confirmation behind.
    """

    def __init__(
        self,
        clinic: ClinicService,
        patient_id: int,
        *,
        thresholds: dosing.DiscrepancyThresholds | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clinic = clinic
        self.store: Store = clinic.store
        self.user: User = clinic.user
        self.tz = clinic.tz
        self.patient_id = patient_id
        self.thresholds = thresholds or clinic.settings.thresholds
        self.now = now
        self.step = Step.IDENTIFY
        self.identification: Identification | None = None
        self.events: tuple[PumpEvent, ...] = ()
        self.reading_saved = False
        self.withdrawal: WithdrawalCheck | None = None
        self.discrepancy_note = ""
        self.new_drug_check: NewDrugCheck | None = None
        self.concentration: ConcentrationCheck | None = None
        self.review_result: Review | None = None
        self.confirmed = False
        self.update_sent = False
        #: The reservoir update may have reached the pump (set just before the command goes
        #: on the wire): from then on :meth:`not_sent` is refused.
        self.write_started = False
        self.mismatch_note = ""
        self.outcome: RefillOutcome | None = None
        self.resolutions: list[PendingResolution] = []

    # ------------------------------------------------------------------ navigation

    def _require(self, step: Step) -> None:
        if self.step in (Step.DONE, Step.CANCELLED):
            raise RefillError("This refill is finished. Start a new one.")
        if self.step < step:
            raise RefillError(f"Complete '{STEP_TITLES[Step(self.step)]}' first.")

    def _reset_after(self, step: Step) -> None:
        if self.update_sent:
            raise RefillError("The pump update has been sent: earlier steps cannot change now.")
        if step < Step.WITHDRAW:
            self.withdrawal, self.discrepancy_note = None, ""
        if step < Step.NEW_DRUG:
            self.new_drug_check = None
        if step < Step.CONCENTRATION:
            self.concentration = None
        if step < Step.REVIEW:
            self.review_result = None
        self.confirmed = False
        self.step = Step(min(self.step, step + 1)) if self.step > step else self.step

    def cancel(self) -> None:
        """Stop before the pump update: nothing was sent and no refill is stored (the
        interrogation reading may have been saved already, see :attr:`reading_saved`)."""
        if self.update_sent:
            raise RefillError(
                "The pump update has been sent: the refill must be recorded (it is kept as "
                "pending when the outcome is unknown)."
            )
        self.step = Step.CANCELLED

    # ------------------------------------------------------------------ step 1

    def identify(
        self, reading: Reading, events: Sequence[PumpEvent] = (), *, simulated: bool = False
    ) -> Identification:
        """Check the interrogated pump belongs to the open patient (raises the clinic's
        WrongPatient or UnknownPump before anything is written) and derive what the
        withdrawal will be compared with."""
        if self.update_sent or self.step in (Step.DONE, Step.CANCELLED):
            raise RefillError("This refill is past identification.")
        patient = self.clinic.check_pump_for(
            reading.pump_serial, self.patient_id, simulated=simulated
        )
        pump = self.store.get_pump(reading.pump_serial)
        assert pump is not None  # check_pump_for found its owner
        history = self.store.patient_history(self.patient_id)
        residual = expected_residual_for(
            history, pump, reading, events, self.tz, self.store.bridges(pump.serial)
        )
        pending = tuple(
            r
            for r in history.refills
            if r.pump_serial == pump.serial and r.status == RefillStatus.PENDING
        )
        warnings: list[str] = []
        last = residual.last_refill
        product = "unknown (no refill on record)"
        mismatch = False
        if last is not None:
            product = last.product
            if last.concentration_mcg_ml != reading.concentration_mcg_ml:
                mismatch = True
                warnings.append(
                    f"The pump says {reading.concentration_mcg_ml} mcg/mL but the last refill "
                    f"on record was {last.concentration_mcg_ml} mcg/mL. Check with the "
                    "clinician before going on: one of them is wrong. The refill is blocked "
                    "until you explain the difference in a note."
                )
        if reading.alarms:
            warnings.append(
                "Active alarms: " + ", ".join(a.replace("_", " ") for a in reading.alarms) + "."
            )
        if reading.eos:
            warnings.append("The battery is at End of Service: the pump has stopped.")
        facts = with_reading(self.clinic.pump_facts(pump.serial), reading)
        forecast_now = self.clinic.forecast_for(pump.serial, facts)
        self.events = tuple(events)
        self.reading_saved = False
        self.resolutions = []
        self.identification = Identification(
            patient=patient,
            pump=pump,
            reading=reading,
            product_in_pump=product,
            residual=residual,
            pending=pending,
            warnings=tuple(warnings),
            forecast_now=forecast_now,
            concentration_mismatch=mismatch,
            facts=facts,
        )
        self._reset_after(Step.IDENTIFY)
        self.mismatch_note = ""
        # A concentration that disagrees with the records blocks the refill until explained.
        self.step = Step.IDENTIFY if mismatch else Step.WITHDRAW
        return self.identification

    def explain_concentration_mismatch(self, note: str) -> None:
        """The pump's concentration differs from the last refill record: the nurse must say
        what was checked and with whom (the note is stored with the refill) to go on."""
        self._require(Step.IDENTIFY)
        ident = self._ident()
        if not ident.concentration_mismatch:
            return
        if self.update_sent:
            raise RefillError("The pump update has been sent: earlier steps cannot change now.")
        text = " ".join(note.split())
        if len(text) < 5:
            raise RefillError(
                f"The pump's concentration ({ident.reading.concentration_mcg_ml} mcg/mL) "
                "differs from the last refill on record: check with the clinician which is "
                "right and type a note saying what you checked and who agreed before going on.",
                "mismatch_note",
            )
        self.mismatch_note = text
        if self.step == Step.IDENTIFY:
            self.step = Step.WITHDRAW

    def resolve_pending(self) -> list[PendingResolution]:
        """Settle earlier pending refills of this pump from this interrogation (the
        interrogation is stored first, as the evidence)."""
        ident = self._ident()
        if not ident.pending:
            return []
        if not self.reading_saved:
            # Saving an interrogation settles pending refills itself (ClinicService), once.
            saved = self.clinic.save_interrogation(ident.reading, self.events, self.patient_id)
            self.reading_saved = True
            settled = list(saved.refill_resolutions)
        else:
            settled = resolve_pending_refills(
                self.store, self.user, ident.reading, self.events, patient_id=self.patient_id
            )
        self.resolutions = settled
        return self.resolutions

    def _ident(self) -> Identification:
        if self.identification is None:
            raise RefillError("Interrogate the pump first.")
        return self.identification

    # ------------------------------------------------------------------ step 2

    def enter_withdrawn(self, text: str) -> WithdrawalCheck:
        """The volume withdrawn (mL) against the expected residual: discrepancy, accuracy,
        and whether it is beyond the clinic's thresholds."""
        self._require(Step.WITHDRAW)
        ident = self._ident()
        capacity = ident.pump.reservoir_capacity_ul
        withdrawn = parse_ml(text, "withdrawn", "Volume withdrawn")
        if withdrawn > capacity:
            raise RefillError(
                f"{fmt_ml(withdrawn)} is more than the reservoir holds ({fmt_ml(capacity)}). "
                "Check the decimal point (41.7 typed for 4.17?).",
                "withdrawn",
            )
        res = ident.residual
        try:
            discrepancy = dosing.refill_discrepancy(
                expected_residual_ul=min(res.expected_residual_ul, capacity),
                withdrawn_ul=withdrawn,
                capacity_ul=capacity,
                expected_delivered_ul=res.expected_delivered_ul,
                thresholds=self.thresholds,
            )
        except dosing.DosingError as exc:
            raise RefillError(str(exc), "withdrawn") from None
        hint = ""
        if discrepancy.flag:
            hint = _slip_hint(
                withdrawn, discrepancy.expected_residual_ul, discrepancy.limit_ul, capacity
            )
        self._reset_after(Step.WITHDRAW)
        self.withdrawal = WithdrawalCheck(withdrawn, discrepancy, hint)
        self.discrepancy_note = ""
        self.step = Step.WITHDRAW
        if not discrepancy.flag:
            self.step = Step.NEW_DRUG
        return self.withdrawal

    def acknowledge_discrepancy(self, note: str) -> None:
        """A flagged discrepancy needs a typed note (what was checked, who was told)."""
        self._require(Step.WITHDRAW)
        check = self.withdrawal
        if check is None:
            raise RefillError("Enter the volume withdrawn first.", "withdrawn")
        text = " ".join(note.split())
        if check.needs_acknowledgement and len(text) < 5:
            raise RefillError(
                "The discrepancy is outside the clinic's limits: type a note saying what "
                "you checked and who you told before going on.",
                "note",
            )
        self.discrepancy_note = text
        self.step = Step.NEW_DRUG

    # ------------------------------------------------------------------ step 3

    def refill_products(self) -> tuple[DrugProduct, ...]:
        """Only library products a pump may be refilled with (no screening strengths)."""
        return self.clinic.library.refill_products()

    def read_barcode(self, text: str) -> tuple[GS1Data, DrugProduct | None]:
        """A GS1 barcode typed into the product field by a keyboard-wedge scanner: its
        GTIN, lot and expiry, and the library product with that GTIN if there is one (the
        default library lists none; the nurse then picks the product)."""
        try:
            data = parse_gs1(text, today=self._today())
        except GS1Error as exc:
            raise RefillError(str(exc), "product") from None
        product = None
        if data.gtin is not None:
            found = self.clinic.library.by_gtin(data.gtin)
            if found is not None and found.refill_allowed:
                product = found
            elif found is not None:
                raise RefillError(
                    f"The scanned product is {found.label}, which is not for refills "
                    "(screening strength).",
                    "product",
                )
        return data, product

    @staticmethod
    def looks_like_barcode(text: str) -> bool:
        return looks_like_gs1(text)

    def enter_new_drug(
        self,
        product_id: str,
        lot: str,
        expiry: date | str,
        added_text: str,
        *,
        gtin: str | None = None,
        serial: str | None = None,
    ) -> NewDrugCheck:
        """Product from the library, lot, expiry (expired refused), volume added (more than
        the alarm volume, never above capacity)."""
        self._require(Step.NEW_DRUG)
        ident = self._ident()
        product = next((p for p in self.refill_products() if p.id == product_id), None)
        if product is None:
            raise RefillError(
                "Choose the product from the drug library list: only products approved for "
                "refills can be used.",
                "product",
            )
        lot_text = lot.strip().upper()
        if not lot_text:
            raise RefillError("Enter the lot (batch) number from the vial.", "lot")
        if isinstance(expiry, str):
            try:
                expiry = date.fromisoformat(expiry.strip())
            except ValueError:
                raise RefillError("Enter the expiry date as YYYY-MM-DD.", "expiry") from None
        today = self._today()
        if expiry < today:
            raise RefillError(
                f"This drug expired on {expiry.isoformat()}. Do not use it: take a vial that "
                "is in date.",
                "expiry",
            )
        capacity = ident.pump.reservoir_capacity_ul
        added = parse_ml(added_text, "added", "Volume added")
        if added <= 0:
            raise RefillError("The volume added must be more than 0 mL.", "added")
        if added > capacity:
            raise RefillError(
                f"{fmt_ml(added)} is more than the reservoir holds ({fmt_ml(capacity)}): an "
                "overfill. Check the volume and the decimal point.",
                "added",
            )
        left = self._fluid_left_ul()
        if left and added + left > capacity:
            raise RefillError(
                f"Less came back than expected, so up to {fmt_ml(left)} may still be in the "
                f"reservoir: {fmt_ml(added)} more would make {fmt_ml(added + left)}, over the "
                f"capacity ({fmt_ml(capacity)}). An overfill can push drug into the pocket. "
                f"Add at most {fmt_ml(capacity - left)}.",
                "added",
            )
        alarm_ul = ident.reading.alarm_volume_ul
        if added <= alarm_ul:
            raise RefillError(
                f"{fmt_ml(added)} is at or below the low-reservoir alarm volume "
                f"({fmt_ml(alarm_ul)}): the alarm would sound at once. Check the volume and "
                "the decimal point.",
                "added",
            )
        new = NewDrug(product, lot_text, expiry, added, gtin, serial)
        forecast = self._forecast_after(new)
        warnings = self._added_warnings(added, capacity) + self._expiry_warnings(new, forecast)
        self._reset_after(Step.NEW_DRUG)
        self.new_drug_check = NewDrugCheck(new, forecast, warnings)
        self.step = Step.CONCENTRATION
        return self.new_drug_check

    def _fluid_left_ul(self) -> int:
        """What may still be in the reservoir after the aspiration: expected - withdrawn when
        less came back than expected by more than the clinic's limits (a flagged shortfall:
        incomplete aspiration is one of its meanings). A shortfall within the limits is the
        expected scatter of delivery, not fluid left behind, and does not shrink the fill."""
        if self.withdrawal is None:
            return 0
        d = self.withdrawal.discrepancy
        if not d.flag:
            return 0
        return max(0, d.expected_residual_ul - d.withdrawn_ul)

    @staticmethod
    def _added_warnings(added_ul: int, capacity_ul: int) -> tuple[str, ...]:
        """A volume far below the usual fill (under half the capacity) may be a decimal
        slip (4.0 typed for 40.0): flagged, to be acknowledged at the review."""
        if added_ul * 2 < capacity_ul:
            return (
                f"The volume added ({fmt_ml(added_ul)}) is less than half the reservoir "
                f"({fmt_ml(capacity_ul)}): check the decimal point ({fmt_ml(added_ul * 10)} "
                "meant?).",
            )
        return ()

    def _expiry_warnings(self, new: NewDrug, forecast: Forecast) -> tuple[str, ...]:
        """The vial's expiry sets the next refill date: say so, so the nurse can choose a
        vial with a later expiry instead."""
        gov = forecast.governing
        if gov is None or gov.kind is not Bound.EXPIRY or forecast.alarm_day is None:
            return ()
        if new.expiry >= forecast.alarm_day:
            return ()
        return (
            f"The drug expires on {new.expiry:%d %b %Y}, before the new low-reservoir alarm "
            f"date ({forecast.alarm_day:%d %b %Y}): the next refill is due by the expiry, "
            f"{new.expiry:%d %b %Y}. Use a vial with a later expiry to keep the usual interval.",
        )

    # ------------------------------------------------------------------ step 4

    def check_concentration(self, prepared: PreparedProgram | None = None) -> ConcentrationCheck:
        """The new concentration must equal the prescription's (the pump's now). A change
        is allowed only with a program prepared by a clinician for the new concentration;
        then the bridge bolus is computed (old drug in the dead volume)."""
        self._require(Step.CONCENTRATION)
        ident = self._ident()
        assert self.new_drug_check is not None
        current = ident.reading.concentration_mcg_ml
        new = self.new_drug_check.new_drug.product.concentration_mcg_ml
        if new == current:
            check = ConcentrationCheck(
                current,
                new,
                None,
                None,
                0,
                0,
                ident.reading.program,
                f"Same concentration as prescribed ({new} mcg/mL). No bridge bolus is needed.",
            )
        else:
            check = self._concentration_change(ident, current, new, prepared)
            # The forecast after the refill follows the program that will run after step 6:
            # the pump's current one (the refill never sends the prepared program).
            nd = self.new_drug_check.new_drug
            forecast = self._forecast_after(nd, (check.bridge_volume_ul, current))
            self.new_drug_check = NewDrugCheck(
                nd,
                forecast,
                self._added_warnings(nd.added_ul, ident.pump.reservoir_capacity_ul)
                + self._expiry_warnings(nd, forecast),
            )
        self._reset_after(Step.CONCENTRATION)
        self.concentration = check
        self.step = Step.REVIEW
        return check

    def _open_prepared(
        self, ident: Identification, handed: PreparedProgram | None
    ) -> PreparedProgram | None:
        """The pump's open prepared program as the store holds it, never the caller's copy:
        a withdrawn, sent, stale or unstored program (or one that only claims a clinician
        prepared it) cannot carry a concentration change."""
        stored = self.store.prepared_program(ident.pump.serial)
        if handed is not None and (stored is None or handed.id is None or handed.id != stored.id):
            raise RefillError(
                "The prepared program given to the refill is not the open one on record for "
                "this pump (withdrawn, already sent, or never saved). Ask the clinician to "
                "prepare it again.",
                "product",
            )
        if stored is None:
            return None
        age = self.now() - stored.prepared_at
        if age > PREPARED_MAX_AGE:
            raise RefillError(
                f"The program prepared on {stored.prepared_at.astimezone(self.tz):%d %b %Y} is "
                f"{age.days} days old, older than {PREPARED_MAX_AGE.days} days: the patient may "
                "have changed since. Ask the clinician to review and prepare it again.",
                "product",
            )
        return stored

    def _concentration_change(
        self, ident: Identification, current: int, new: int, prepared: PreparedProgram | None
    ) -> ConcentrationCheck:
        prepared = self._open_prepared(ident, prepared)
        wrong = (
            f"The new drug is {new} mcg/mL but the prescription (the pump now) is {current} mcg/mL."
        )
        if prepared is None or prepared.pump_serial != ident.pump.serial:
            raise RefillError(
                f"{wrong} A different concentration needs a program change prepared by a "
                "clinician for it. Use the prescribed concentration, or ask the clinician to "
                "prepare the program first.",
                "product",
            )
        if not prepared.by_clinician:
            raise RefillError(
                f"{wrong} The prepared program was prepared by {prepared.prepared_by or 'a nurse'}"
                f" ({prepared.prepared_role.value}): a concentration change needs a program "
                "prepared by a clinician.",
                "product",
            )
        if prepared.concentration_mcg_ml != new:
            raise RefillError(
                f"{wrong} The prepared program is for {prepared.concentration_mcg_ml} mcg/mL, "
                "not for the new drug. Check the vial and the prepared program.",
                "product",
            )
        pump = ident.pump
        if pump.dead_volume_ul <= 0 or pump.catheter_length_cm <= 0 or pump.catheter_ul_per_cm <= 0:
            raise RefillError(
                "Record the pump's dead volume and catheter details before changing "
                "concentration: without them no bridge bolus can be computed, and the old drug "
                "in the pump and catheter would be pushed at the new drug's rate (a wrong dose "
                "for hours). Ask the clinician to record them in the pump's details.",
                "product",
            )
        # The refill does not send the prepared program: after step 6 the pump runs its
        # current program, so it pushes the bridge at the current program's rate.
        running = ident.reading.program
        dose = dosing.program_daily_dose_mcg(running)
        try:
            bridge = dosing.bridge_bolus(dose, current, new, ident.pump.dead_volume_ul)
        except dosing.DosingError as exc:
            raise RefillError(f"The bridge bolus cannot be computed: {exc}", "product") from None
        if not bridge.needed:  # dead volume recorded and the concentration changes
            raise RefillError("The bridge bolus cannot be computed.", "product")
        volume = math.ceil(bridge.dead_volume_ul)
        minutes = math.ceil(bridge.bridge_hours * 60)
        who = prepared.prepared_by or "a clinician"
        return ConcentrationCheck(
            current,
            new,
            prepared,
            bridge,
            volume,
            minutes,
            running,
            f"Concentration changes from {current} to {new} mcg/mL. After the refill the pump "
            f"keeps running its current program ({_dose_text(running)}) at the new "
            f"concentration. Bridge bolus: {fmt_ml(volume, 3)} of old drug over {minutes} min "
            f"at the current program's rate. The program prepared by {who} "
            f"({_dose_text(prepared.program)}) is not sent by the refill: it is to be sent next "
            "by a clinician from Change program.",
        )

    # ------------------------------------------------------------------ step 5

    def review(self) -> Review:
        """Current against new, side by side."""
        self._require(Step.REVIEW)
        ident = self._ident()
        assert self.new_drug_check is not None and self.concentration is not None
        nd = self.new_drug_check.new_drug
        before = ident.forecast_now
        after = self.new_drug_check.forecast

        def when(moment: datetime | None) -> str:
            return (
                "none (not delivering)"
                if moment is None
                else (moment.astimezone(self.tz).strftime("%a %d %b %Y"))
            )

        def day(d: date | None) -> str:
            return "-" if d is None else d.strftime("%a %d %b %Y")

        rows: tuple[ReviewRow, ...] = (
            ReviewRow("Reservoir volume", fmt_ml(ident.reading.reservoir_ul), fmt_ml(nd.added_ul)),
            ReviewRow("Drug", ident.product_in_pump, nd.product.product),
            ReviewRow(
                "Concentration",
                f"{ident.reading.concentration_mcg_ml} mcg/mL",
                f"{nd.product.concentration_mcg_ml} mcg/mL",
            ),
            ReviewRow(
                "Daily dose",
                _dose_text(ident.reading.program),
                _dose_text(self.concentration.program_after),
            ),
            ReviewRow("Low-reservoir alarm", when(before.alarm_at), when(after.alarm_at)),
            ReviewRow("Refill by", day(before.refill_by), day(after.refill_by)),
            ReviewRow("Lot / expiry", "-", f"{nd.lot} / {nd.expiry.isoformat()}"),
        )
        prepared = self.concentration.prepared
        if prepared is not None:
            rows += (
                ReviewRow(
                    "Prepared program (not sent)",
                    "-",
                    f"{_dose_text(prepared.program)}: to be sent next by a clinician from "
                    "Change program",
                ),
            )
        others = [b for b in after.bounds if b is not after.governing]
        notes = [
            f"Refill by {day(after.refill_by)}: {after.refill_by_reason}."
            + (
                " Other limits: " + "; ".join(f"{day(b.day)} ({b.text})" for b in others) + "."
                if others
                else ""
            ),
        ]
        if self.concentration.bridge is not None and self.concentration.bridge_volume_ul:
            notes.append(self.concentration.message)
        if prepared is not None:
            notes.append(
                "The refill does not send the prepared program: the daily dose, alarm and "
                "refill-by dates above are for the pump's current program, which keeps "
                "running. A clinician sends the prepared program from Change program "
                "straight after the refill; the dates change then."
            )
        to_acknowledge = [*ident.warnings, *self.new_drug_check.warnings]
        warnings = list(to_acknowledge)
        if self.mismatch_note:
            warnings.append(f"Concentration difference explained: {self.mismatch_note}")
        if self.withdrawal is not None and self.withdrawal.needs_acknowledgement:
            warnings.append(f"Discrepancy acknowledged: {self.discrepancy_note}")
        self.review_result = Review(
            rows, before, after, tuple(warnings), tuple(notes), tuple(to_acknowledge)
        )
        return self.review_result

    def confirm(self, *, warnings_acknowledged: bool = False) -> ReservoirUpdate:
        """The nurse has reviewed current against new. Warnings (from the identification,
        a possible decimal slip in the volume added, drug expiring before the alarm date)
        must be acknowledged explicitly."""
        self._require(Step.REVIEW)
        if self.review_result is None:
            raise RefillError("Review the refill before confirming it.")
        ident = self._ident()
        if ident.concentration_mismatch and not self.mismatch_note:
            raise RefillError(
                "The pump's concentration differs from the records: explain it first.",
                "mismatch_note",
            )
        if self.review_result.to_acknowledge and not warnings_acknowledged:
            raise RefillError(
                "Read and acknowledge the warnings before updating the pump.", "warnings"
            )
        self.confirmed = True
        self.step = Step.UPDATE
        return self.reservoir_update()

    # ------------------------------------------------------------------ step 6

    def reservoir_update(self) -> ReservoirUpdate:
        """What to send to the pump. Only after confirmation."""
        self._require(Step.UPDATE)
        if not self.confirmed:
            raise RefillError("Confirm the review before the pump is updated.")
        ident = self._ident()
        assert self.new_drug_check is not None and self.concentration is not None
        nd = self.new_drug_check.new_drug
        return ReservoirUpdate(
            pump_serial=ident.pump.serial,
            volume_ul=nd.added_ul,
            concentration_mcg_ml=nd.product.concentration_mcg_ml,
            drug_name=nd.product.product,
            alarm_volume_ul=ident.reading.alarm_volume_ul,
            bridge_volume_ul=self.concentration.bridge_volume_ul,
            bridge_duration_min=self.concentration.bridge_duration_min,
        )

    def mark_sent(self) -> None:
        """Called just before the update goes on the wire: from now on the refill must be
        recorded (pending if the outcome is unknown), never silently dropped."""
        self._require(Step.UPDATE)
        self.reservoir_update()
        self.update_sent = True
        self.write_started = False  # a new attempt: nothing of it is on the wire yet

    def begin_write(self) -> None:
        """Called (on the link thread) right before the reservoir command is written: from
        now on the update may have reached the pump, so it can no longer be called not
        sent; its outcome is succeeded, failed or uncertain."""
        if not self.update_sent:
            raise RefillError("The pump update was not marked as sent.")
        self.write_started = True

    def write_update(
        self,
        client: PumpClient,
        user: User,
        before_write: Callable[[], None] | None = None,
    ) -> tuple[ChangeOutcome, str, StatusLike | None]:
        """Link thread: write the confirmed update to the pump and return (outcome, message,
        read-back) for :meth:`record_update`. Refuses (RefillError, nothing sent) unless
        ``user`` is this refill's nurse and may update a pump, and the update was confirmed
        and marked sent. The caller has checked that the pump under the head is this one.
        Once the command may be on the wire any failure is *uncertain*, never "not sent"."""
        from drivers.pump_client import BridgeBolus

        refusal = user.refusal(Action.REFILL)
        if not refusal and user != self.user:
            refusal = f"This refill was started by {self.user.name}; {user.name} cannot send it."
        if refusal:
            raise RefillError(f"{refusal} Nothing was sent.")
        update = self.reservoir_update()
        if not self.update_sent:
            raise RefillError("The pump update was not marked as sent.")
        if before_write is not None:
            before_write()
        self.begin_write()
        bridge = (
            BridgeBolus(update.bridge_volume_ul, update.bridge_duration_min)
            if update.bridge_volume_ul
            else None
        )
        try:
            result = client.update_reservoir(
                update.volume_ul,
                update.concentration_mcg_ml,
                update.drug_name,
                alarm_volume_ul=update.alarm_volume_ul,
                bridge=bridge,
            )
        except Exception as exc:  # the command may have reached the pump
            return (
                ChangeOutcome.UNCERTAIN,
                f"The refill was sent but its outcome is unknown ({exc}).",
                None,
            )
        read_back = result.read_back if hasattr(result.read_back, "reservoir_ul") else None
        return ChangeOutcome(result.outcome), result.message, read_back

    def not_sent(self) -> None:
        """The link failed before the update went on the wire (the pump's identity could
        not be checked, or it was another pump): nothing was sent, so the nurse may try
        again or cancel. Refused once the write may have started: such an update must be
        recorded (pending when its outcome is unknown), never dropped."""
        if self.write_started:
            raise RefillError(
                "The update may have reached the pump: it must be recorded (as pending when "
                "the outcome is unknown), not dropped."
            )
        self.update_sent = False

    def compare_read_back(self, read_back: StatusLike | None) -> bool:
        """The pump's status after the update matches what was sent (the console checks
        it too, not only the driver)."""
        if read_back is None:
            return False
        sent = self.reservoir_update()
        return (
            read_back.concentration_mcg_ml == sent.concentration_mcg_ml
            and read_back.drug_name == sent.drug_name
            and read_back.alarm_volume_ul == sent.alarm_volume_ul
            and sent.volume_ul - READ_BACK_TOLERANCE_UL <= read_back.reservoir_ul <= sent.volume_ul
        )

    def record_update(
        self, outcome: ChangeOutcome | str, message: str, read_back: StatusLike | None = None
    ) -> RefillOutcome:
        """Store the refill atomically with who and when (the audit entry is the store's),
        together with the identify interrogation and the read-back reading.

        ``outcome`` is the pump update's: "succeeded" (read back and equal: confirmed),
        "uncertain" (link lost: pending until the next interrogation) or "failed" (the
        pump certainly did not take it: stored as failed so the drug and lot given are not
        lost; the nurse is told to update the pump again).
        """
        self._require(Step.UPDATE)
        if outcome not in tuple(ChangeOutcome):
            raise RefillError(f"Unknown pump update outcome '{outcome}'.")
        ident = self._ident()
        assert self.withdrawal is not None and self.new_drug_check is not None
        assert self.concentration is not None
        nd = self.new_drug_check.new_drug
        status = {
            ChangeOutcome.SUCCEEDED: RefillStatus.CONFIRMED,
            ChangeOutcome.UNCERTAIN: RefillStatus.PENDING,
            ChangeOutcome.FAILED: RefillStatus.FAILED,
        }[ChangeOutcome(outcome)]
        if status == RefillStatus.CONFIRMED and not self.compare_read_back(read_back):
            status = RefillStatus.PENDING
            message = (
                "The pump answered, but what it read back differs from what was sent. "
                "The refill is kept as pending: interrogate the pump again."
            )
        at = self.now()
        refill = Refill(
            pump_serial=ident.pump.serial,
            at=at,
            withdrawn_ul=self.withdrawal.withdrawn_ul,
            expected_residual_ul=self.withdrawal.discrepancy.expected_residual_ul,
            added_ul=nd.added_ul,
            product=nd.product.product,
            concentration_mcg_ml=nd.product.concentration_mcg_ml,
            lot=nd.lot,
            expiry=nd.expiry,
            status=status,
            note=self._note(status, message),
        )
        with self.store.atomic():
            if not self.reading_saved:
                self.store.add_interrogation(
                    ident.reading, self.events, self.user, patient_id=self.patient_id
                )
            bridge = None
            if self.concentration.bridge_volume_ul:
                bridge = (
                    self.concentration.bridge_volume_ul,
                    self.concentration.current_mcg_ml,
                    self.concentration.bridge_duration_min,
                )
            saved = self.store.add_refill(
                refill, self.user, patient_id=self.patient_id, bridge=bridge
            )
            if status == RefillStatus.CONFIRMED and read_back is not None:
                self.store.add_reading(
                    self._after_reading(ident, read_back), self.user, patient_id=self.patient_id
                )
        self.reading_saved = True
        assert saved.id is not None
        stamp = self.store.stamp("refills", saved.id)
        self.outcome = RefillOutcome(status, message, saved, stamp.at, stamp.by)
        self.step = Step.RECORD
        return self.outcome

    def _after_reading(self, ident: Identification, status: StatusLike) -> Reading:
        return Reading(
            pump_serial=ident.pump.serial,
            at=status.read_at,
            pump_clock=status.pump_clock,
            reservoir_ul=status.reservoir_ul,
            alarm_volume_ul=status.alarm_volume_ul,
            battery_mv=status.battery_mv,
            eri=status.eri,
            eos=status.eos,
            concentration_mcg_ml=status.concentration_mcg_ml,
            program=ident.reading.program,
            alarms=tuple(status.alarms),
        )

    def _note(self, status: str, message: str) -> str:
        assert self.new_drug_check is not None and self.concentration is not None
        parts: list[str] = []
        if self.mismatch_note:
            parts.append(f"Concentration difference at identify explained: {self.mismatch_note}")
        if self.discrepancy_note:
            parts.append(f"Discrepancy: {self.discrepancy_note}")
        nd = self.new_drug_check.new_drug
        if nd.gtin:
            parts.append(f"GTIN {nd.gtin}" + (f", serial {nd.serial}" if nd.serial else ""))
        if self.concentration.bridge_volume_ul:
            parts.append(
                f"Bridge bolus {self.concentration.bridge_volume_ul} uL over "
                f"{self.concentration.bridge_duration_min} min"
            )
        if self.concentration.prepared is not None:
            parts.append(
                f"Concentration change with the program prepared by "
                f"{self.concentration.prepared.prepared_by or 'a clinician'}"
            )
        acknowledged = (
            self.review_result.to_acknowledge
            if self.review_result is not None
            else self.new_drug_check.warnings
        )
        parts.extend(f"Acknowledged: {w}" for w in acknowledged)
        if status != RefillStatus.CONFIRMED:
            parts.append(f"Pump update {status}: {message}")
        return "; ".join(parts)

    def finish(self) -> None:
        self._require(Step.RECORD)
        if self.outcome is None:
            raise RefillError("The refill has not been recorded yet.")
        self.step = Step.DONE

    # ------------------------------------------------------------------ step 7

    def printable(self) -> PrintableRefill:
        """The printed refill record's content."""
        if self.outcome is None:
            raise RefillError("The refill has not been recorded yet.")
        ident = self._ident()
        assert self.withdrawal is not None and self.new_drug_check is not None
        assert self.concentration is not None
        nd = self.new_drug_check.new_drug
        patient = ident.patient
        forecast = self.new_drug_check.forecast
        check = self.withdrawal
        bridge = "none"
        if self.concentration.bridge_volume_ul:
            bridge = (
                f"{fmt_ml(self.concentration.bridge_volume_ul, 3)} over "
                f"{self.concentration.bridge_duration_min} min"
            )
        nhs = patient.nhs_number or "-"
        if len(nhs) == 10:
            nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
        return PrintableRefill(
            patient_name=patient.display_name,
            hospital_number=patient.hospital_number,
            nhs_number=nhs,
            date_of_birth=patient.date_of_birth.strftime("%d %b %Y"),
            pump_serial=ident.pump.serial,
            pump_model=ident.pump.model,
            capacity=fmt_ml(ident.pump.reservoir_capacity_ul),
            refill_at=self.outcome.stored_at.astimezone(self.tz).strftime("%d %b %Y %H:%M"),
            status=self.outcome.status,
            withdrawn=fmt_ml(check.withdrawn_ul),
            expected_residual=fmt_ml(check.discrepancy.expected_residual_ul),
            discrepancy=check.discrepancy_text,
            accuracy=check.accuracy_text,
            discrepancy_meaning=check.meaning,
            discrepancy_note=self.discrepancy_note,
            product=nd.product.product,
            concentration=f"{nd.product.concentration_mcg_ml} mcg/mL",
            lot=nd.lot,
            expiry=nd.expiry.strftime("%d %b %Y"),
            gtin=nd.gtin or "-",
            added=fmt_ml(nd.added_ul),
            bridge=bridge,
            alarm_date="none"
            if forecast.alarm_at is None
            else forecast.alarm_at.astimezone(self.tz).strftime("%d %b %Y"),
            refill_by="-"
            if forecast.refill_by is None
            else forecast.refill_by.strftime("%d %b %Y"),
            refill_by_rule=forecast.refill_by_reason,
            nurse=f"{self.outcome.stored_by} ({self.user.role.value})",
            training=self.clinic.training,
            warnings=self.review_result.to_acknowledge
            if self.review_result is not None
            else self.new_drug_check.warnings,
        )

    # ------------------------------------------------------------------ helpers

    def _today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def _forecast_after(self, new: NewDrug, bridge: tuple[int, int] = (0, 0)) -> Forecast:
        """The forecast as if this refill were confirmed now (with its bridge): the one
        rule every other screen uses, on the records plus this interrogation and fill."""
        ident = self._ident()
        facts = ident.facts
        fill = Fill(
            at=self.now(),
            volume_ul=new.added_ul,
            concentration_mcg_ml=new.product.concentration_mcg_ml,
            product=new.product.product,
            expiry=new.expiry,
            max_interval_days=new.product.max_refill_interval_days,
            bridge_ul=bridge[0],
            bridge_from_mcg_ml=bridge[1] if bridge[0] else 0,
        )
        return self.clinic.forecast_for(ident.pump.serial, with_fill(facts, fill))


__all__ = [
    "STEP_TITLES",
    "ConcentrationCheck",
    "Identification",
    "NewDrug",
    "NewDrugCheck",
    "PendingResolution",
    "PrintableRefill",
    "RefillError",
    "RefillOutcome",
    "RefillSession",
    "ReservoirUpdate",
    "ResidualDerivation",
    "Review",
    "ReviewRow",
    "Step",
    "WithdrawalCheck",
    "expected_residual_for",
    "parse_ml",
    "resolve_pending_refills",
]
