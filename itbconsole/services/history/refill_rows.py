"""Refill rows: what was withdrawn against what was expected, the discrepancy, the
delivery accuracy since the previous fill, the drug and lot added, a bridge bolus.

Why the figures are not computed here: the discrepancy and the delivery accuracy come from
:func:`itbconsole.trends.refill_accuracies`, as the Trends tab computes them, so the two tabs
never disagree; a row says why an accuracy was not computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from itbconsole import dosing
from itbconsole.display import fmt_day, fmt_local_day, fmt_ml, fmt_percent
from itbconsole.model import Refill, RefillStatus
from itbconsole.services.history.builder import BuilderBase
from itbconsole.services.history.row import Kind
from itbconsole.services.history.text import _stamp_text, signed_ml, when_text
from itbconsole.trends import RefillAccuracy, refill_accuracies
from itbconsole.units import ul_to_ml


class RefillRows(BuilderBase):
    """Rows of :attr:`Kind.REFILL`."""

    def refills(self) -> None:
        capacity = {p.serial: p.reservoir_capacity_ul for p in self.history.pumps}
        accuracy: dict[int | None, RefillAccuracy] = {}
        notes: dict[str, list[str]] = {}
        for serial, cap in capacity.items():
            fills = [r for r in self.history.refills if r.pump_serial == serial]
            found, why = refill_accuracies(fills, cap, self.thresholds, self.tz)
            accuracy |= {a.refill.id: a for a in found}
            notes[serial] = why
        for chain in self.chains(self.records.refills):
            first, last = chain[0], chain[-1]
            r: Refill = last.record
            ids = {v.stamp.record_id for v in chain}
            acc = accuracy.get(r.id) if not last.stamp.entered_in_error else None
            disc = acc.discrepancy if acc else self._discrepancy(r, capacity.get(r.pump_serial))
            figures: dict[str, Any] = {
                "pump": r.pump_serial,
                "expected_residual_ml": ul_to_ml(r.expected_residual_ul),
                "withdrawn_ml": ul_to_ml(r.withdrawn_ul),
                "added_ml": ul_to_ml(r.added_ul),
                "product": r.product,
                "concentration": r.concentration_mcg_ml,
                "lot": r.lot,
                "expiry": r.expiry,
                "status": r.status.value,
            }
            summary = (
                f"Withdrawn {fmt_ml(r.withdrawn_ul)}, expected {fmt_ml(r.expected_residual_ul)}"
            )
            details = {
                "Pump": r.pump_serial,
                "Expected residual": fmt_ml(r.expected_residual_ul),
                "Withdrawn": fmt_ml(r.withdrawn_ul),
            }
            if disc is not None:
                figures["discrepancy_ml"] = ul_to_ml(disc.discrepancy_ul)
                flag = "; outside the clinic's limits" if disc.volume_flag else ""
                details["Discrepancy"] = (
                    f"{signed_ml(disc.discrepancy_ul)} ({disc.direction}{flag})"
                )
                summary += f" ({signed_ml(disc.discrepancy_ul)}"
                if acc is not None:
                    figures["accuracy_pct"] = acc.accuracy_pct
                    summary += f", accuracy {fmt_percent(acc.accuracy_pct, 1)}"
                summary += ")"
            if acc is not None:
                assert acc.discrepancy.actual_delivered_ul is not None
                band = "; outside the clinic's band" if acc.outside_band else ""
                details["Delivery accuracy"] = (
                    f"{fmt_percent(acc.accuracy_pct, 1)}{band} (delivered "
                    f"{fmt_ml(acc.discrepancy.actual_delivered_ul)} of "
                    f"{fmt_ml(acc.expected_delivered_ul)} expected since the fill of "
                    f"{when_text(acc.previous_fill_at, self.tz)})"
                )
            else:
                details["Delivery accuracy"] = self._no_accuracy(r, notes.get(r.pump_serial, []))
            summary += (
                f"; added {fmt_ml(r.added_ul)} {r.product} {r.concentration_mcg_ml} mcg/mL, "
                f"lot {r.lot}"
            )
            if r.status is not RefillStatus.CONFIRMED:
                summary += f"; {r.status.value}"
            details |= {
                "Drug": r.product,
                "Concentration": f"{r.concentration_mcg_ml} mcg/mL",
                "Lot": r.lot,
                "Expiry": fmt_day(r.expiry),
                "Volume added": fmt_ml(r.added_ul),
            }
            bridge = next(
                (self.records.bridges[i] for i in sorted(ids) if i in self.records.bridges), None
            )
            if bridge is not None:
                volume, before, minutes = bridge
                details["Bridge bolus"] = (
                    f"{fmt_ml(volume)} of the {before} mcg/mL drug in the line, over {minutes} min"
                )
            details["Status"] = r.status.value
            if r.note:
                details["Note"] = r.note
            if disc is not None and disc.flag:
                details["Meaning"] = disc.meaning
            details["Recorded"] = _stamp_text(first.stamp, self.tz)
            row = self.row(
                Kind.REFILL,
                r.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures=figures,
                record=f"refills {first.stamp.record_id}",
            )
            what = f"Refill of {when_text(r.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.REFILL, "refills"))

    def _discrepancy(self, r: Refill, capacity_ul: int | None) -> dosing.RefillDiscrepancy | None:
        if capacity_ul is None:
            return None
        try:
            return dosing.refill_discrepancy(
                expected_residual_ul=r.expected_residual_ul,
                withdrawn_ul=r.withdrawn_ul,
                capacity_ul=capacity_ul,
                thresholds=self.thresholds,
            )
        except dosing.DosingError:
            return None

    def _no_accuracy(self, r: Refill, notes: Sequence[str]) -> str:
        if r.status is not RefillStatus.CONFIRMED:
            return f"not computed: the refill is {r.status.value}"
        first = min(
            (
                f.at
                for f in self.history.refills
                if f.pump_serial == r.pump_serial and f.status is RefillStatus.CONFIRMED
            ),
            default=None,
        )
        if first is None or first == r.at:
            return "not computed: the first refill of this pump on record"
        day = fmt_local_day(r.at, self.tz)  # as refill_accuracies names it in its notes
        note = next((n for n in notes if day in n), "")
        return f"not computed: {note}" if note else "not computed"
