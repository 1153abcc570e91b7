"""Program change rows: the dose per 24 h before and after, the change and the maximum
24 h dose, reasons and overrides, the outcome and what the pump read back (including a
read-back that differed, from the audit log)."""

from __future__ import annotations

import json
from typing import Any

from itbconsole import dosing
from itbconsole.display import fmt_dose_per_day, fmt_mcg
from itbconsole.model import ChangeOutcome, ProgramChange
from itbconsole.services.history.builder import BuilderBase
from itbconsole.services.history.row import Kind
from itbconsole.services.history.text import _stamp_text, dose_text, when_text
from itbconsole.services.programming import change_text
from itbconsole.store import records as rec


class ProgramChangeRows(BuilderBase):
    """Rows of :attr:`Kind.PROGRAM_CHANGE`."""

    def program_changes(self) -> None:
        differs: dict[int, list[dict[str, Any]]] = {}
        for action in self.records.pump_actions:
            if action["action"] == "program_readback_differs":
                payload = json.loads(action["payload"])
                differs.setdefault(int(payload.get("program_change_id", 0)), []).append(action)
        for chain in self.chains(self.records.program_changes):
            first, last = chain[0], chain[-1]
            c: ProgramChange = last.record
            before = dosing.program_daily_dose_mcg(c.old)
            after = dosing.program_daily_dose_mcg(c.new)
            change = dosing.dose_change(before, after)
            summary = (
                f"{fmt_mcg(before)} → {fmt_dose_per_day(after)}, "
                f"{change_text(change)}; {c.outcome.value}"
            )
            if c.readback is None:
                readback = "not read back"
            elif c.readback == c.new:
                readback = "read back: matches the new program"
            else:
                readback = f"read back: differs from the new program ({dose_text(c.readback)})"
            for ids in (v.stamp.record_id for v in chain):
                for action in differs.get(ids, []):
                    payload = json.loads(action["payload"])
                    readback += (
                        f"; a read-back differed on {when_text(rec.parse_time(action['at']), self.tz)}:"
                        f" {payload.get('message', '')}".rstrip(": ")
                    )
            if c.outcome is not ChangeOutcome.SUCCEEDED:
                summary += f" ({readback})"
            details = {
                "Pump": c.pump_serial,
                "Before": dose_text(c.old),
                "After": dose_text(c.new),
                "Change": change_text(change) + (f" ({change.note})" if change.note else ""),
                "Maximum 24 h dose (every allowed bolus)": (
                    f"{fmt_dose_per_day(dosing.max_24h_dose_mcg(c.old))} → "
                    f"{fmt_dose_per_day(dosing.max_24h_dose_mcg(c.new))}"
                ),
                "Concentration": f"{c.concentration_mcg_ml} mcg/mL",
                "Reason": c.reason,
                "Overrides": "; ".join(c.overrides) or "none",
                "Outcome": c.outcome.value,
                "Read-back": readback,
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.PROGRAM_CHANGE,
                c.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={
                    "pump": c.pump_serial,
                    "concentration": c.concentration_mcg_ml,
                    "old_dose": before,
                    "new_dose": after,
                    "change_mcg": change.change_mcg,
                    "change_pct": change.change_pct,
                    "status": c.outcome.value,
                },
                record=f"program_changes {first.stamp.record_id}",
            )
            what = f"Program change of {when_text(c.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.PROGRAM_CHANGE, "program_changes"))
