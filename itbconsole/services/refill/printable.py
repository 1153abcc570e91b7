"""The printed refill record: everything it shows (:class:`PrintableRefill`), taken from a
recorded refill. ``ui/refill/record.py`` only lays it out (screen or PDF).

The dates, the new reservoir volume and the program in force are the forecast's of the
stored records once this refill is recorded (:mod:`itbconsole.forecast` through the clinic
service), so the paper says what the worklist and the Overview say: for a confirmed refill
the dates the review showed; for a pending or failed one the pump's own count, which its
alarm follows until the update is confirmed. The doses are :mod:`itbconsole.dosing`'s and the wording :mod:`itbconsole.display`'s.
Nothing here counts a date or a volume itself."""

from __future__ import annotations

from dataclasses import dataclass

from itbconsole import dosing
from itbconsole.display import (
    fmt_day,
    fmt_dose_per_day,
    fmt_local_day,
    fmt_moment,
    fmt_schedule_doses,
)
from itbconsole.forecast import action_by
from itbconsole.model import Mode, Program, RefillStatus
from itbconsole.pump_models import manufacturer_of
from itbconsole.services.overview import MODE_TEXT
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import RefillError
from itbconsole.units import fmt_ml


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
    performed_by: str
    """Who recorded the refill and their role ("Demo Nurse (nurse)")."""
    new_volume: str = "-"
    """The reservoir volume after the refill (the forecast's starting volume)."""
    program: str = "-"
    """The program in force after the refill: its mode and concentration."""
    daily_dose: str = "-"
    """Its programmed dose per 24 h (each distinct day of a flex schedule)."""
    max_dose: str = "-"
    """The maximum 24 h dose with every allowed patient bolus, and what it counts."""
    warnings: tuple[str, ...] = ()
    brand_change: str = ""
    """Another product than the last refill's (Lioresal to Gablofen), in words."""
    training: bool = False
    """A training database: the printout says TRAINING on every page."""
    pump_make: str = ""
    """The pump's maker from the pump models catalogue; empty for a model it does not know."""
    refill_by_label: str = "Refill by"
    """What the refill-by date asks for (:func:`itbconsole.forecast.action_by`): "Replace
    the pump by" when End of Service sets it."""
    audit_head: str = ""
    """The audit chain's newest entry when the record was printed (``#SEQ HASH``): an
    anchor kept on paper, which ``itbconsole db verify --anchor`` checks the trail against."""


class PrintStep(SessionBase):
    """Step 7 of a :class:`~itbconsole.services.refill.session.RefillSession`: the printed
    record's content."""

    def printable(self) -> PrintableRefill:
        """The printed refill record's content."""
        if self.outcome is None:
            raise RefillError("The refill has not been recorded yet.")
        ident = self._ident()
        assert self.withdrawal is not None and self.new_drug_check is not None
        assert self.concentration is not None
        nd = self.new_drug_check.new_drug
        patient = ident.patient
        # The stored records' forecast, with this refill recorded (see the module's docstring).
        forecast = self.clinic.forecast_for(ident.pump.serial)
        check = self.withdrawal
        bridge = "none"
        if self.concentration.bridge_volume_ul:
            bridge = (
                f"{fmt_ml(self.concentration.bridge_volume_ul, 3)} over "
                f"{self.concentration.bridge_duration_min} min"
            )
        program = forecast.program or ident.reading.program
        nhs = patient.nhs_number or "-"
        if len(nhs) == 10:
            nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
        return PrintableRefill(
            patient_name=patient.display_name,
            hospital_number=patient.hospital_number,
            nhs_number=nhs,
            date_of_birth=fmt_day(patient.date_of_birth),
            pump_serial=ident.pump.serial,
            pump_model=ident.pump.model,
            pump_make=manufacturer_of(ident.pump.model) or "",
            capacity=fmt_ml(ident.pump.reservoir_capacity_ul),
            refill_at=fmt_moment(self.outcome.stored_at, self.tz),
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
            expiry=fmt_day(nd.expiry),
            gtin=nd.gtin or "-",
            added=fmt_ml(nd.added_ul),
            bridge=bridge,
            alarm_date="none"
            if forecast.alarm_at is None
            else fmt_local_day(forecast.alarm_at, self.tz),
            refill_by="-" if forecast.refill_by is None else fmt_day(forecast.refill_by),
            refill_by_rule=forecast.refill_by_reason,
            refill_by_label=(
                f"{action_by(forecast.governing.kind if forecast.governing else None)} by"
            ),
            performed_by=f"{self.outcome.stored_by} ({self.user.role.value})",
            new_volume=self._new_volume_text(forecast.anchor_volume_ul),
            program=f"{MODE_TEXT[program.mode]}, "
            f"{forecast.concentration_mcg_ml or nd.product.concentration_mcg_ml} mcg/mL",
            daily_dose=fmt_schedule_doses(program),
            max_dose=max_dose_text(program),
            training=self.clinic.training,
            audit_head=self.clinic.audit_head(),
            warnings=(
                self.review_result.to_acknowledge
                if self.review_result is not None
                else self.new_drug_check.warnings
            )
            + ((self.withdrawn_checked,) if self.withdrawn_checked else ())
            + self.new_drug_check.checked,
            brand_change=self.new_drug_check.brand_change,
        )

    def _new_volume_text(self, volume_ul: int | None) -> str:
        """The reservoir volume the forecast starts from; for a refill the pump has not
        confirmed, said as the pump's count, not as the refill's result."""
        assert self.outcome is not None
        if volume_ul is None:
            return "-"
        if self.outcome.status == RefillStatus.CONFIRMED:
            return fmt_ml(volume_ul)
        return f"not confirmed: the pump counts {fmt_ml(volume_ul)} until the update is confirmed"


def max_dose_text(program: Program) -> str:
    """The maximum 24 h dose (the dose limits apply to it, and to each day's dose) and what
    it counts: the highest day, every patient bolus allowed in 24 h, a single bolus."""
    maximum = fmt_dose_per_day(dosing.max_24h_dose_mcg(program))
    counted: list[str] = []
    pb = program.patient_bolus
    boluses = dosing.patient_boluses_in_24h(program)
    if pb is not None and boluses:
        counted.append(f"{boluses} patient bolus{'es' if boluses > 1 else ''} of {pb.dose_mcg} mcg")
    if program.mode is Mode.SINGLE_BOLUS:
        counted.append(f"the single bolus of {program.bolus_dose_mcg} mcg")
    if not counted:
        return f"{maximum} (no patient boluses)"
    return f"{maximum} with {' and '.join(counted)}"
