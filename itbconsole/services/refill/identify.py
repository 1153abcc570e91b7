"""Step 1 of a refill: identify the pump (it must be the open patient's), derive the
expected residual, and show what the pump holds and says now (:class:`Identification`); a
concentration that differs from the records blocks the refill until it is explained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from itbconsole.alarms import describe
from itbconsole.forecast import Forecast, PumpFacts, with_reading
from itbconsole.model import Patient, Pump, PumpEvent, Reading, Refill, RefillStatus
from itbconsole.services.refill.residual import ResidualDerivation, expected_residual_for
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import RefillError, Step
from itbconsole.services.settlement import PendingResolution, resolve_pending_refills


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


class IdentifyStep(SessionBase):
    """Step 1 of a :class:`~itbconsole.services.refill.session.RefillSession`."""

    def identify(
        self,
        reading: Reading,
        events: Sequence[PumpEvent] = (),
        *,
        simulated: bool = False,
        events_missing: int = 0,
        events_error: str = "",
    ) -> Identification:
        """Check the interrogated pump belongs to the open patient (raises the clinic's
        WrongPatient or UnknownPump before anything is written) and derive what the
        withdrawal will be compared with. The expected residual counts the boluses in the
        pump's log, so an interrogation whose event download broke (``events_missing``) is
        refused: the nurse interrogates again."""
        if self.update_sent or self.step in (Step.DONE, Step.CANCELLED):
            raise RefillError("This refill is past identification.")
        if events_missing:
            raise RefillError(
                f"The link broke while the pump's event log was read ({events_error}). The "
                "expected residual needs the whole log: keep the programmer head over the "
                "pump and press Interrogate again.",
                "page",
            )
        patient = self.clinic.check_pump_for(
            reading.pump_serial, self.patient_id, simulated=simulated
        )
        pump = self.store.get_pump(reading.pump_serial)
        assert pump is not None  # check_pump_for found its owner
        history = self.store.patient_history(self.patient_id)
        patient_id, serial = self.patient_id, pump.serial
        residual = expected_residual_for(
            history,
            pump,
            reading,
            events,
            self.tz,
            self.store.bridges(serial),
            logged=lambda since, until: self.store.pump_events_between(
                patient_id, serial, since, until
            ),
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
                "Active alarms: " + "; ".join(describe(a).title for a in reading.alarms) + "."
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
                self.store,
                self.user,
                ident.reading,
                self.events,
                patient_id=self.patient_id,
                tz=self.tz,
            )
        self.resolutions = settled
        return self.resolutions
