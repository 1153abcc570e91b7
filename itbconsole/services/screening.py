"""Screening test doses: the trial of intrathecal baclofen by lumbar puncture before an
implant, and its rules (domain.md, "Screening test dose"; Boster et al., Neuromodulation
2016; UH Bristol ITB pages).

A trial records the dose (usually 50 mcg; 25 mcg for small children; 75 or 100 mcg on a later
day when there was no response), the route, the product and lot, the tone scores at baseline
and about hourly for 4 hours (Modified Ashworth or the clinic's scale), vital signs, adverse
events, the outcome and who recorded it. The dose is checked against the drug library's
``screening_dose_mcg`` limits; trials are at least 24 hours apart; only a patient without a
pump (a candidate) is screened. Several trials per patient are kept, none is ever deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal

from itbconsole.display import fmt_moment
from itbconsole.druglib import DrugLibrary, LimitCheck
from itbconsole.store.audit import canonical_json
from itbconsole.store.db import utc_iso
from itbconsole.store.schema import SCREENING_OUTCOMES

#: Modified Ashworth scale grades (the default scale).
ASHWORTH = ("0", "1", "1+", "2", "3", "4")
MIN_APART = timedelta(hours=24)


class ScreeningError(ValueError):
    """A trial that cannot be recorded as typed. The message says what to change."""


@dataclass(frozen=True)
class ScreeningTrial:
    patient_id: int
    given_at: datetime
    dose_mcg: Decimal
    product: str
    concentration_mcg_ml: int
    lot: str
    outcome: str
    scores: tuple[tuple[int, str], ...]
    """(minutes after the dose, score); minute 0 is the baseline."""
    route: str = "lumbar puncture"
    scale: str = "Modified Ashworth"
    vitals: str = ""
    adverse_events: str = ""
    note: str = ""
    warnings: tuple[str, ...] = field(default=())


def check_trial(
    trial: ScreeningTrial,
    library: DrugLibrary,
    earlier: list[datetime],
    has_pump: bool,
    reason: str = "",
    tz: tzinfo = UTC,
) -> ScreeningTrial:
    """The trial if it may be recorded (with any warning acknowledged by ``reason``), or
    ScreeningError saying why not (an earlier trial's time written in the clinic's zone
    ``tz``)."""
    if has_pump:
        raise ScreeningError(
            "This patient has a pump: a screening test dose is given before an implant."
        )
    product = library.find(trial.product, trial.concentration_mcg_ml)
    if product is None or product.use != "screening":
        raise ScreeningError(
            f"{trial.product} {trial.concentration_mcg_ml} mcg/mL is not a screening strength "
            "in the drug library (Lioresal Intrathecal 50 mcg/mL is)."
        )
    limit = product.limits.screening_dose_mcg
    verdict = limit.check(trial.dose_mcg)
    if verdict is LimitCheck.HARD:
        raise ScreeningError(
            f"A test dose of {trial.dose_mcg} mcg is outside {limit.hard_min} to "
            f"{limit.hard_max} mcg: screening doses are 50 mcg, 25 mcg for small children, "
            "or 75 or 100 mcg on a later day."
        )
    warnings: list[str] = []
    if verdict is LimitCheck.SOFT:
        warnings.append(
            f"A test dose of {trial.dose_mcg} mcg is outside the usual {limit.soft_min} to "
            f"{limit.soft_max} mcg."
        )
        from itbconsole.services.programming import reason_is_enough  # the program rules

        if not reason_is_enough(reason):
            raise ScreeningError(warnings[0] + " Type the clinical reason to record it.")
    for when in earlier:
        if abs(trial.given_at - when) < MIN_APART:
            raise ScreeningError(
                f"Another test dose was given on {fmt_moment(when, tz)}: trials are at "
                "least 24 hours apart."
            )
    if trial.outcome not in SCREENING_OUTCOMES:
        raise ScreeningError("Choose the outcome: positive, negative or inconclusive.")
    minutes = [m for m, _ in trial.scores]
    if 0 not in minutes:
        raise ScreeningError("Record the baseline tone score (before the dose).")
    if len(minutes) != len(set(minutes)) or any(m < 0 or m > 8 * 60 for m in minutes):
        raise ScreeningError("Each score needs its own time, from 0 to 8 hours after the dose.")
    if trial.scale == "Modified Ashworth" and any(s not in ASHWORTH for _, s in trial.scores):
        raise ScreeningError(f"Modified Ashworth scores are {', '.join(ASHWORTH)}.")
    if not trial.lot.strip():
        raise ScreeningError("Enter the lot (batch) number from the ampoule.")
    return ScreeningTrial(
        **{**trial.__dict__, "warnings": tuple(warnings), "note": trial.note or reason}
    )


def trial_row(trial: ScreeningTrial) -> dict[str, object]:
    return {
        "patient_id": trial.patient_id,
        "given_at": utc_iso(trial.given_at),
        "dose_mcg": str(trial.dose_mcg),
        "route": trial.route,
        "product": trial.product,
        "concentration_mcg_ml": trial.concentration_mcg_ml,
        "lot": trial.lot.strip().upper(),
        "scale": trial.scale,
        "scores_json": canonical_json([[m, s] for m, s in sorted(trial.scores)]),
        "vitals": trial.vitals,
        "adverse_events": trial.adverse_events,
        "outcome": trial.outcome,
        "note": " ".join([trial.note, *trial.warnings]).strip(),
    }


def trial_from_row(row: dict[str, object]) -> ScreeningTrial:
    return ScreeningTrial(
        patient_id=int(str(row["patient_id"])),
        given_at=datetime.fromisoformat(str(row["given_at"])),
        dose_mcg=Decimal(str(row["dose_mcg"])),
        product=str(row["product"]),
        concentration_mcg_ml=int(str(row["concentration_mcg_ml"])),
        lot=str(row["lot"]),
        outcome=str(row["outcome"]),
        scores=tuple((int(m), str(s)) for m, s in json.loads(str(row["scores_json"]))),
        route=str(row["route"]),
        scale=str(row["scale"]),
        vitals=str(row["vitals"]),
        adverse_events=str(row["adverse_events"]),
        note=str(row["note"]),
    )


__all__ = [
    "ASHWORTH",
    "SCREENING_OUTCOMES",
    "ScreeningError",
    "ScreeningTrial",
    "check_trial",
    "trial_from_row",
    "trial_row",
]
