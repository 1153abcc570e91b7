"""Step 4 of a refill: the new concentration against the prescription (the pump's now). A
change needs an open program prepared by a clinician for it, and then a bridge bolus for
the old drug in the dead volume (:class:`ConcentrationCheck`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta

from itbconsole import dosing
from itbconsole.display import fmt_local_day
from itbconsole.model import PreparedProgram, Program
from itbconsole.services.refill.identify import Identification
from itbconsole.services.refill.new_drug import NewDrugStep
from itbconsole.services.refill.steps import RefillError, Step, dose_text
from itbconsole.units import fmt_ml

#: A program prepared for a concentration change older than this is not used: the patient
#: may have changed since (clinic default).
PREPARED_MAX_AGE = timedelta(days=30)


@dataclass(frozen=True)
class ConcentrationCheck:
    """Step 4: the new concentration against the prescription (the pump's now)."""

    current_mcg_ml: int
    new_mcg_ml: int
    prepared: PreparedProgram | None
    bridge: dosing.BridgeBolus | None
    bridge_volume_ul: int
    bridge_duration_min: int
    program_after: Program
    message: str

    @property
    def changed(self) -> bool:
        return self.current_mcg_ml != self.new_mcg_ml


class ConcentrationStep(NewDrugStep):
    """Step 4 of a :class:`~itbconsole.services.refill.session.RefillSession` (it updates
    step 3's forecast and warnings for the bridge bolus)."""

    def check_concentration(self, prepared: PreparedProgram | None = None) -> ConcentrationCheck:
        """The new concentration must equal the prescription's (the pump's now). A change
        is allowed only with a program prepared by a clinician for the new concentration;
        then the bridge bolus is computed (old drug in the dead volume)."""
        self._require(Step.CONCENTRATION)
        ident = self._ident()
        assert self.new_drug_check is not None
        current = ident.reading.concentration_mcg_ml
        new = self.new_drug_check.new_drug.product.concentration_mcg_ml
        if new == current:
            check = ConcentrationCheck(
                current,
                new,
                None,
                None,
                0,
                0,
                ident.reading.program,
                f"Same concentration as prescribed ({new} mcg/mL). No bridge bolus is needed.",
            )
        else:
            check = self._concentration_change(ident, current, new, prepared)
            # The forecast after the refill follows the program that will run after step 6:
            # the pump's current one (the refill never sends the prepared program).
            nd = self.new_drug_check.new_drug
            forecast = self._forecast_after(nd, (check.bridge_volume_ul, current))
            self.new_drug_check = replace(
                self.new_drug_check,
                forecast=forecast,
                warnings=self._expiry_warnings(nd, forecast),
            )
        self._reset_after(Step.CONCENTRATION)
        self.concentration = check
        self.step = Step.REVIEW
        return check

    def _open_prepared(
        self, ident: Identification, handed: PreparedProgram | None
    ) -> PreparedProgram | None:
        """The pump's open prepared program as the store holds it, never the caller's copy:
        a withdrawn, sent, stale or unstored program (or one that only claims a clinician
        prepared it) cannot carry a concentration change."""
        stored = self.store.prepared_program(ident.pump.serial)
        if handed is not None and (stored is None or handed.id is None or handed.id != stored.id):
            raise RefillError(
                "The prepared program given to the refill is not the open one on record for "
                "this pump (withdrawn, already sent, or never saved). Ask the clinician to "
                "prepare it again.",
                "product",
            )
        if stored is None:
            return None
        age = self.now() - stored.prepared_at
        if age > PREPARED_MAX_AGE:
            raise RefillError(
                f"The program prepared on {fmt_local_day(stored.prepared_at, self.tz)} is "
                f"{age.days} days old, older than {PREPARED_MAX_AGE.days} days: the patient may "
                "have changed since. Ask the clinician to review and prepare it again.",
                "product",
            )
        return stored

    def _concentration_change(
        self, ident: Identification, current: int, new: int, prepared: PreparedProgram | None
    ) -> ConcentrationCheck:
        prepared = self._open_prepared(ident, prepared)
        wrong = (
            f"The new drug is {new} mcg/mL but the prescription (the pump now) is {current} mcg/mL."
        )
        if prepared is None or prepared.pump_serial != ident.pump.serial:
            raise RefillError(
                f"{wrong} A different concentration needs a program change prepared by a "
                "clinician for it. Use the prescribed concentration, or ask the clinician to "
                "prepare the program first.",
                "product",
            )
        if not prepared.by_clinician:
            raise RefillError(
                f"{wrong} The prepared program was prepared by {prepared.prepared_by or 'a nurse'}"
                f" ({prepared.prepared_role.value}): a concentration change needs a program "
                "prepared by a clinician.",
                "product",
            )
        if prepared.concentration_mcg_ml != new:
            raise RefillError(
                f"{wrong} The prepared program is for {prepared.concentration_mcg_ml} mcg/mL, "
                "not for the new drug. Check the vial and the prepared program.",
                "product",
            )
        pump = ident.pump
        if pump.dead_volume_ul <= 0 or pump.catheter_length_cm <= 0 or pump.catheter_ul_per_cm <= 0:
            raise RefillError(
                "Record the pump's dead volume and catheter details before changing "
                "concentration: without them no bridge bolus can be computed, and the old drug "
                "in the pump and catheter would be pushed at the new drug's rate (a wrong dose "
                "for hours). Ask the clinician to record them in the pump's details.",
                "product",
            )
        # The refill does not send the prepared program: after step 6 the pump runs its
        # current program, so it pushes the bridge at the current program's rate.
        running = ident.reading.program
        dose = dosing.program_daily_dose_mcg(running)
        try:
            bridge = dosing.bridge_bolus(dose, current, new, ident.pump.dead_volume_ul)
        except dosing.DosingError as exc:
            raise RefillError(f"The bridge bolus cannot be computed: {exc}", "product") from None
        if not bridge.needed:  # dead volume recorded and the concentration changes
            raise RefillError("The bridge bolus cannot be computed.", "product")
        volume = math.ceil(bridge.dead_volume_ul)
        minutes = math.ceil(bridge.bridge_hours * 60)
        who = prepared.prepared_by or "a clinician"
        return ConcentrationCheck(
            current,
            new,
            prepared,
            bridge,
            volume,
            minutes,
            running,
            f"Concentration changes from {current} to {new} mcg/mL. After the refill the pump "
            f"keeps running its current program ({dose_text(running)}) at the new "
            f"concentration. Bridge bolus: {fmt_ml(volume, 3)} of old drug over {minutes} min "
            f"at the current program's rate. The program prepared by {who} "
            f"({dose_text(prepared.program)}) is not sent by the refill: it is to be sent next "
            "by a clinician from Change program.",
        )
