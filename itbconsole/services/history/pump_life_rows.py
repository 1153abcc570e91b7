"""A pump's life with the patient: registered (implanted), its details corrected while it
was theirs, its catheter revised, explanted.

Why the pump's details sit under its registration: a pump record outlives the patient
(it may be registered to another), so only the corrections made while it was this
patient's are shown, each beside the registration it followed.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from itbconsole.display import fmt_capacity, fmt_day, fmt_ml
from itbconsole.model import Pump
from itbconsole.services.history.builder import BuilderBase, _Group
from itbconsole.services.history.row import Kind
from itbconsole.services.history.text import _stamp_text, day_start
from itbconsole.store import records as rec


class PumpLifeRows(BuilderBase):
    """Rows of :attr:`Kind.IMPLANT`, :attr:`Kind.EXPLANT` and :attr:`Kind.CATHETER_REVISION`."""

    def pumps(self) -> None:
        versions: dict[str, list[rec.Recorded[Pump]]] = {}
        for v in self.records.pump_versions:
            versions.setdefault(v.record.serial, []).append(v)
        implants: dict[str, list[tuple[rec.Stamp, _Group]]] = {}
        for chain in self.chains(self.records.registrations):
            first, last = chain[0], chain[-1]
            reg: rec.Registration = last.record
            pump_chain = versions.get(reg.pump_serial, [])
            # The pump's details as they stood when it was registered to this patient.
            known = [v for v in pump_chain if v.stamp.at <= first.stamp.at] or pump_chain[:1]
            pump = known[-1].record if known else None
            summary = f"Pump {reg.pump_serial}"
            details = {"Pump": reg.pump_serial}
            if pump is not None:
                summary += f" ({pump.model}, {fmt_capacity(pump.reservoir_capacity_ul)}) registered"
                details |= {
                    "Model": pump.model,
                    "Reservoir": fmt_capacity(pump.reservoir_capacity_ul),
                    "Low-reservoir alarm volume": fmt_ml(pump.alarm_volume_ul),
                    "Implant date": fmt_day(pump.implant_date) if pump.implant_date else "none",
                    "Catheter": f"{pump.catheter_length_cm} cm at {pump.catheter_ul_per_cm} µL/cm",
                    "Dead volume": fmt_ml(int(pump.dead_volume_ul)),
                }
                if pump.implant_date:
                    summary += f", implanted {fmt_day(pump.implant_date)}"
            else:
                summary += " registered"
            details["Recorded"] = _stamp_text(first.stamp, self.tz)
            row = self.row(
                Kind.IMPLANT,
                reg.effective_at,
                summary + self.withdrawn_note(chain),
                details,
                first.stamp.by,
                first.stamp.role.value,
                figures={"pump": reg.pump_serial},
                record=f"pump_registrations {first.stamp.record_id}",
            )
            what = f"Registration of pump {reg.pump_serial}"
            group = self.add(row, self.corrections(chain, what, Kind.IMPLANT, "pump_registrations"))
            implants.setdefault(reg.pump_serial, []).append((first.stamp, group))
        # Corrections of a pump's details made while it was this patient's, next to the
        # registration they followed.
        for serial, chain in versions.items():
            registered = sorted(implants.get(serial, []), key=lambda sg: sg[0].at)
            if not registered:
                continue
            for before, after in pairwise(chain):
                if after.stamp.at < registered[0][0].at:
                    continue
                group = [g for s, g in registered if s.at <= after.stamp.at][-1]
                group.rows.extend(
                    self.corrections(
                        [before, after], f"Details of pump {serial}", Kind.IMPLANT, "pump_versions"
                    )
                )

    def explants(self) -> None:
        for raw in self.records.explants:
            stamp = rec.stamp_from_row(raw)
            on = date.fromisoformat(raw["explanted_on"])
            reason = str(raw["reason"]).replace("_", " ")
            note = str(raw["note"]).strip()
            self.add(
                self.row(
                    Kind.EXPLANT,
                    day_start(on, self.tz),
                    f"Pump {raw['pump_serial']} explanted ({reason})"
                    + (f": {note}" if note else ""),
                    {
                        "Pump": str(raw["pump_serial"]),
                        "Explanted on": fmt_day(on),
                        "Reason": reason,
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={"pump": raw["pump_serial"], "status": raw["reason"]},
                    record=f"pump_explants {stamp.record_id}",
                    day_only=True,
                )
            )

    def catheter_revisions(self) -> None:
        for raw in self.records.catheter_revisions:
            stamp = rec.stamp_from_row(raw)
            on = date.fromisoformat(raw["revised_on"])
            tip = str(raw["tip_level"]).strip()
            note = str(raw["note"]).strip()
            catheter = f"{raw['catheter_length_cm']} cm at {raw['catheter_ul_per_cm']} µL/cm"
            self.add(
                self.row(
                    Kind.CATHETER_REVISION,
                    day_start(on, self.tz),
                    f"Catheter of pump {raw['pump_serial']} revised: {catheter}"
                    + (f", tip {tip}" if tip else ""),
                    {
                        "Pump": str(raw["pump_serial"]),
                        "Revised on": fmt_day(on),
                        "New catheter": catheter,
                        "Tip level": tip or "not recorded",
                        "Note": note or "none",
                        "Recorded": _stamp_text(stamp, self.tz),
                    },
                    stamp.by,
                    stamp.role.value,
                    figures={"pump": raw["pump_serial"]},
                    record=f"catheter_revisions {stamp.record_id}",
                    day_only=True,
                )
            )
