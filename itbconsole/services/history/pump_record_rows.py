"""What the pump itself said and was told: readings (interrogations), the alarms and
delivery stops in its log, and its clock being set.

Why alarm words come from :mod:`itbconsole.alarms`: what an alarm means and what to do
about it has one home, so the history says it in the same words as every other screen.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from itbconsole.alarms import describe, sorted_alarms
from itbconsole.display import fmt_clock_offset, fmt_ml, fmt_volts
from itbconsole.model import PumpEvent, Reading
from itbconsole.services.history.builder import BuilderBase
from itbconsole.services.history.row import Kind
from itbconsole.services.history.text import (
    _offset_text,
    _stamp_text,
    dose_text,
    stored_moment_text,
    when_text,
)
from itbconsole.store import records as rec
from itbconsole.units import ul_to_ml

#: Pump log entries shown as alarms (the others, boluses and the pump's own record of a
#: refill or program change, are in the records or the Trends tab).
ALARM_EVENTS = (
    "alarm_raised",
    "alarm_cleared",
    "alarm_acknowledged",
    "alarm_test",
    "delivery_stopped",
    "delivery_resumed",
    "reset",
)

PUMP_LOG = "pump log"


class PumpRecordRows(BuilderBase):
    """Rows of :attr:`Kind.READING`, :attr:`Kind.ALARM` and :attr:`Kind.CLOCK`."""

    def readings(self) -> None:
        for chain in self.chains(self.records.readings):
            first, last = chain[0], chain[-1]
            r: Reading = last.record
            battery = fmt_volts(r.battery_mv) + (
                " (End of Service)" if r.eos else " (ERI)" if r.eri else ""
            )
            alarms = [a.title for a in sorted_alarms(r.alarms)]
            offset = (r.pump_clock - r.at) // timedelta(seconds=1)
            summary = f"Reservoir {fmt_ml(r.reservoir_ul)}, battery {battery}"
            if alarms:
                summary += f"; alarms: {', '.join(alarms)}"
            details = {
                "Pump": r.pump_serial,
                "Reservoir": fmt_ml(r.reservoir_ul),
                "Low-reservoir alarm volume": fmt_ml(r.alarm_volume_ul),
                "Battery": battery,
                "Concentration": f"{r.concentration_mcg_ml} mcg/mL",
                "Program": dose_text(r.program),
                "Alarms at interrogation": ", ".join(alarms) or "none",
                "Pump clock": _offset_text(offset),
                "Recorded": _stamp_text(first.stamp, self.tz),
            }
            row = self.row(
                Kind.READING,
                r.at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={
                    "pump": r.pump_serial,
                    "reservoir_ml": ul_to_ml(r.reservoir_ul),
                    "battery_mv": r.battery_mv,
                    "concentration": r.concentration_mcg_ml,
                },
                record=f"readings {first.stamp.record_id}",
            )
            what = f"Reading of {when_text(r.at, self.tz)}"
            self.add(row, self.corrections(chain, what, Kind.READING, "readings"))

    def alarms(self) -> None:
        for e in self.history.events:
            if e.kind not in ALARM_EVENTS:
                continue
            summary, details = _event_text(e)
            self.add(
                self.row(
                    Kind.ALARM,
                    e.at,
                    summary,
                    {"Pump": e.pump_serial, **details, "Time": "the pump's clock"},
                    PUMP_LOG,
                    "",
                    figures={"pump": e.pump_serial},
                    record=f"pump log {e.pump_serial} {e.index}",
                )
            )

    def clock(self) -> None:
        for action in self.records.pump_actions:
            name = action["action"]
            if name not in ("pump_clock_set", "pump_clock_set_failed"):
                continue
            payload = json.loads(action["payload"])
            at = rec.parse_time(action["at"])
            serial = str(payload.get("pump_serial", ""))
            if name == "pump_clock_set":
                offset = str(payload.get("offset_before_s", "")).strip()
                outcome = str(payload.get("outcome", ""))
                summary = f"Pump {serial} clock set to this computer's time"
                if offset:
                    seconds = int(Decimal(offset))
                    summary += f", from {fmt_clock_offset(seconds)}"
                summary += f": {outcome}"
                details = {
                    "Pump": serial,
                    "Pump clock before": stored_moment_text(
                        str(payload.get("pump_clock_before", "")), self.tz
                    ),
                    "Offset before": _offset_text(int(Decimal(offset))) if offset else "unknown",
                    "Set to": stored_moment_text(str(payload.get("set_to", "")), self.tz),
                    "Outcome": outcome,
                    "Message": str(payload.get("message", "")) or "none",
                }
            else:
                outcome = "not set"
                summary = f"Pump {serial} clock not set: {payload.get('error', '')}".rstrip(": ")
                details = {
                    "Pump": serial,
                    "Outcome": outcome,
                    "Error": str(payload.get("error", "")),
                }
            self.add(
                self.row(
                    Kind.CLOCK,
                    at,
                    summary,
                    details,
                    str(action["user_name"]),
                    str(action["user_role"]),
                    figures={"pump": serial, "status": outcome},
                    record=f"audit {action['seq']}",
                )
            )


def _event_text(e: PumpEvent) -> tuple[str, dict[str, str]]:
    """A pump log entry about alarms and delivery, in words (:mod:`itbconsole.alarms`)."""
    code = str(e.detail.get("alarm", e.detail.get("code", "")))
    info = describe(code) if code else None
    if e.kind in ("alarm_raised", "delivery_stopped") and info is not None:
        head = "Alarm" if e.kind == "alarm_raised" else "Delivery stopped"
        return f"{head}: {info.title}", {
            "Alarm": info.title,
            "Meaning": info.meaning,
            "What to do": info.action,
        }
    words = {
        "alarm_raised": "Alarm raised",
        "alarm_cleared": "Alarm cleared",
        "alarm_acknowledged": "Alarms acknowledged",
        "alarm_test": "Alarm test",
        "delivery_stopped": "Delivery stopped",
        "delivery_resumed": "Delivery resumed",
        "reset": "Pump reset",
    }
    head = words.get(e.kind, e.kind.replace("_", " ").capitalize())
    if info is not None:
        return f"{head}: {info.title}", {"Alarm": info.title}
    extra = {k.replace("_", " ").capitalize(): str(v) for k, v in e.detail.items()}
    return head, extra
