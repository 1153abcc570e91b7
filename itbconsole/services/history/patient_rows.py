"""The patient's own rows: the record and its corrections, status changes, and the
screening test doses given before an implant."""

from __future__ import annotations

from datetime import date

from itbconsole.display import fmt_day
from itbconsole.model import Patient
from itbconsole.services.history.builder import BuilderBase
from itbconsole.services.history.row import Kind
from itbconsole.services.history.text import _stamp_text, day_start
from itbconsole.services.screening import trial_from_row
from itbconsole.store import records as rec


class PatientRows(BuilderBase):
    """Rows of :attr:`Kind.PATIENT` and :attr:`Kind.SCREENING`."""

    def patient(self) -> None:
        for chain in self.chains(self.records.patient_versions):
            first = chain[0]
            p: Patient = first.record  # as first recorded; the corrections follow
            summary = (
                f"{p.display_name}, born {fmt_day(p.date_of_birth)}, hospital no. "
                f"{p.hospital_number}: record created"
            )
            details = {
                "Name": p.display_name,
                "Date of birth": fmt_day(p.date_of_birth),
                "Hospital number": p.hospital_number,
                "NHS number": p.nhs_number or "none",
                "Origin": p.origin.value,
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.PATIENT,
                first.stamp.at,
                summary,
                details,
                first.stamp.by,
                first.stamp.role.value,
                record=f"patient_versions {first.stamp.record_id}",
            )
            self.add(
                row,
                self.corrections(chain, "Patient details", Kind.PATIENT, "patient_versions"),
            )
        for status in self.records.statuses:
            stamp = rec.stamp_from_row(status)
            on = date.fromisoformat(status["effective_on"])
            note = str(status["note"]).strip()
            self.add(
                self.row(
                    Kind.PATIENT,
                    day_start(on, self.tz),
                    f"Status {status['status']} from {fmt_day(on)}" + (f": {note}" if note else ""),
                    {
                        "Status": str(status["status"]),
                        "From": fmt_day(on),
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    record=f"patient_status {stamp.record_id}",
                    day_only=True,
                )
            )

    def screening(self) -> None:
        for raw in self.records.screening_trials:
            t = trial_from_row(raw)
            stamp = rec.stamp_from_row(raw)
            scores = "; ".join(f"{m} min: {s}" for m, s in t.scores)
            self.add(
                self.row(
                    Kind.SCREENING,
                    t.given_at,
                    f"{t.dose_mcg} mcg by {t.route}: {t.outcome}",
                    {
                        "Dose": f"{t.dose_mcg} mcg",
                        "Route": t.route,
                        "Drug": t.product,
                        "Concentration": f"{t.concentration_mcg_ml} mcg/mL",
                        "Lot": t.lot,
                        f"Tone ({t.scale})": scores,
                        "Vital signs": t.vitals or "none recorded",
                        "Adverse events": t.adverse_events or "none recorded",
                        "Outcome": t.outcome,
                        "Note": t.note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={
                        "product": t.product,
                        "concentration": t.concentration_mcg_ml,
                        "lot": t.lot,
                        "status": t.outcome,
                    },
                    record=f"screening_trials {stamp.record_id}",
                )
            )
