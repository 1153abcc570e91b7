"""What a program change starts from: the pump's state (:class:`PumpState`, as the pump
reports it or as the last stored reading recorded it) and the drug-library product whose
limits apply at its concentration (:func:`find_product`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from itbconsole.druglib import DrugLibrary, DrugProduct
from itbconsole.model import Program, Reading

if TYPE_CHECKING:
    from drivers.pump_client import Interrogation


@dataclass(frozen=True)
class PumpState:
    """What a program change starts from: the pump's program and reservoir, as the pump
    reported them (``live``) or as the latest stored reading recorded them."""

    pump_serial: str
    program: Program
    concentration_mcg_ml: int
    drug_name: str
    reservoir_ul: int
    alarm_volume_ul: int
    read_at: datetime
    clock_offset_s: float = 0.0
    live: bool = True
    eri: bool = False
    eos: bool = False
    alarms: tuple[str, ...] = ()
    battery_mv: int = 0
    pump_alarm_date: date | None = None
    """The pump's own projected low-reservoir alarm date (the forecast's third bound)."""

    def as_reading(self) -> Reading:
        """The state as a reading, for the forecast (itbconsole.forecast)."""
        return Reading(
            pump_serial=self.pump_serial,
            at=self.read_at,
            pump_clock=self.read_at + timedelta(seconds=self.clock_offset_s),
            reservoir_ul=self.reservoir_ul,
            alarm_volume_ul=self.alarm_volume_ul,
            battery_mv=self.battery_mv,
            eri=self.eri,
            eos=self.eos,
            concentration_mcg_ml=self.concentration_mcg_ml,
            program=self.program,
            alarms=self.alarms,
            pump_alarm_date=self.pump_alarm_date,
        )

    @classmethod
    def from_interrogation(cls, interrogation: Interrogation) -> PumpState:
        s = interrogation.status
        return cls(
            pump_serial=interrogation.identity.serial,
            program=interrogation.program,
            concentration_mcg_ml=s.concentration_mcg_ml,
            drug_name=s.drug_name,
            reservoir_ul=s.reservoir_ul,
            alarm_volume_ul=s.alarm_volume_ul,
            read_at=s.read_at,
            clock_offset_s=s.clock_offset_s,
            live=True,
            eri=s.eri,
            eos=s.eos,
            alarms=tuple(s.alarms),
            battery_mv=s.battery_mv,
            pump_alarm_date=s.alarm_date,
        )

    @classmethod
    def from_reading(cls, reading: Reading, drug_name: str = "") -> PumpState:
        """From a stored reading: good for preparing a change; sending reads the pump."""
        return cls(
            pump_serial=reading.pump_serial,
            program=reading.program,
            concentration_mcg_ml=reading.concentration_mcg_ml,
            drug_name=drug_name,
            reservoir_ul=reading.reservoir_ul,
            alarm_volume_ul=reading.alarm_volume_ul,
            read_at=reading.at,
            clock_offset_s=reading.clock_offset_s,
            live=False,
            eri=reading.eri,
            eos=reading.eos,
            alarms=reading.alarms,
            battery_mv=reading.battery_mv,
            pump_alarm_date=reading.pump_alarm_date,
        )


def find_product(
    library: DrugLibrary, drug_name: str, concentration_mcg_ml: int
) -> DrugProduct | None:
    """The library entry whose limits apply: the named product at that concentration, or
    else the first maintenance product at that concentration (the limits are per
    concentration in practice), or else any product at it. None: not in the library."""
    if drug_name:
        found = library.find(drug_name, concentration_mcg_ml)
        if found is not None:
            return found
    same = [p for p in library if p.concentration_mcg_ml == concentration_mcg_ml]
    refill = [p for p in same if p.refill_allowed]
    candidates = refill or same
    return candidates[0] if candidates else None
