"""The pump models catalogue (``resources/pump_models.json``): maker, reservoir size,
internal dead volume and default alarm volume per model, each with its source.

Why: a "SynchroMed II 8637-20" saved with a 40 mL reservoir makes every fill limit and
discrepancy threshold wrong. The capacity comes from the model; a pump whose record or whose
own report disagrees with its model is refused. Values that feed the arithmetic are never
prefilled silently: a catalogue value is shown as one, and an unknown one stays empty. The
maker is the catalogue's too, so the printouts and the hospital export name it the same way
and a model's maker is never guessed from its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

from itbconsole.model import ModelError, Pump


@dataclass(frozen=True)
class PumpModel:
    model: str
    manufacturer: str
    """The maker as the label names it: ``Medtronic``, ``Flowonix``, ``Codman``."""
    reservoir_ul: int
    internal_dead_volume_ul: int | None
    """None: not in the catalogue; enter it from the manufacturer's manual."""
    default_alarm_ul: int
    source: str


@cache
def pump_models(path: str | None = None) -> tuple[PumpModel, ...]:
    """The catalogue (the shipped one when ``path`` is None)."""
    file = Path(path) if path else Path(str(resources.files("resources") / "pump_models.json"))
    data = json.loads(file.read_text(encoding="utf-8"))
    out = []
    for raw in data["models"]:
        dead = raw.get("internal_dead_volume_ul")
        out.append(
            PumpModel(
                model=str(raw["model"]),
                manufacturer=str(raw["manufacturer"]),
                reservoir_ul=int(raw["reservoir_ml"]) * 1000,
                internal_dead_volume_ul=None if dead is None else int(dead),
                default_alarm_ul=int(Decimal(str(raw["default_alarm_ml"])) * 1000),
                source=str(raw["source"]),
            )
        )
    return tuple(out)


def find_model(name: str) -> PumpModel | None:
    key = " ".join(name.split()).casefold()
    return next((m for m in pump_models() if m.model.casefold() == key), None)


def manufacturer_of(model: str) -> str | None:
    """The maker of a pump model from the catalogue; None for a model not in it (typed
    by hand), which is then shown and exported without a maker rather than a guess."""
    found = find_model(model)
    return found.manufacturer if found is not None else None


#: What a pump record may hold: outside these a typed value is almost certainly a slip (a
#: decimal point or the wrong field). The alarm volume is at least 0.5 mL and at most half
#: the reservoir; an internal dead volume over 2 mL, a catheter over 150 cm or over
#: 10 µL per cm is no implanted intrathecal system's (catheters are about 1 to 2.5 µL/cm).
ALARM_MIN_UL = 500
PUMP_DEAD_MAX_UL = 2_000
CATHETER_LENGTH_MAX_CM = Decimal(150)
CATHETER_UL_PER_CM_MAX = Decimal(10)


def pump_field_errors(pump: Pump) -> dict[str, str]:
    """Each field of a pump record outside its plausible range, with what to do: the pump
    form shows them next to the fields, and :func:`check_pump_model` refuses them for every
    other way a pump is recorded."""
    errors: dict[str, str] = {}
    half_ul = pump.reservoir_capacity_ul // 2
    if not ALARM_MIN_UL <= pump.alarm_volume_ul <= half_ul:
        errors["alarm"] = (
            f"Alarm volume must be between {ALARM_MIN_UL / 1000:g} and {half_ul / 1000:g} mL."
        )
    if not 0 <= pump.pump_dead_volume_ul <= PUMP_DEAD_MAX_UL:
        errors["pump_dead"] = (
            f"Pump dead volume must be between 0 and {PUMP_DEAD_MAX_UL / 1000:g} mL."
        )
    if not 0 <= pump.catheter_length_cm <= CATHETER_LENGTH_MAX_CM:
        errors["catheter_length"] = (
            f"Catheter length must be between 0 and {CATHETER_LENGTH_MAX_CM} cm."
        )
    if not 0 <= pump.catheter_ul_per_cm <= CATHETER_UL_PER_CM_MAX:
        errors["catheter_per_cm"] = (
            f"Catheter volume per cm must be between 0 and {CATHETER_UL_PER_CM_MAX} µL/cm."
        )
    return errors


def require_plausible(pump: Pump) -> None:
    """Refuse (ModelError, every field's message) a pump record outside the plausible
    ranges of :func:`pump_field_errors`."""
    errors = pump_field_errors(pump)
    if errors:
        raise ModelError(" ".join(errors.values()))


def check_pump_model(pump: Pump, reported_capacity_ul: int | None = None) -> None:
    """Refuse a pump whose reservoir contradicts its model (ModelError, for the user), or
    whose own report (``reported_capacity_ul``, from an interrogation) contradicts the
    record. A model not in the catalogue is accepted as typed. A field outside its
    plausible range (:func:`pump_field_errors`) is refused too."""
    require_plausible(pump)
    if reported_capacity_ul is not None and reported_capacity_ul != pump.reservoir_capacity_ul:
        raise ModelError(
            f"Pump {pump.serial} reports a {reported_capacity_ul / 1000:g} mL reservoir, but "
            f"{pump.reservoir_capacity_ul / 1000:g} mL was entered. Check the model and the "
            "pump's label."
        )
    model = find_model(pump.model)
    if model is not None and model.reservoir_ul != pump.reservoir_capacity_ul:
        raise ModelError(
            f"A {model.model} has a {model.reservoir_ul / 1000:g} mL reservoir, not "
            f"{pump.reservoir_capacity_ul / 1000:g} mL. Check the model against the implant "
            "card."
        )


__all__ = [
    "PumpModel",
    "check_pump_model",
    "find_model",
    "manufacturer_of",
    "pump_field_errors",
    "pump_models",
    "require_plausible",
]
