"""Refills on the simulated pump: the console's reservoir update, and the nurse's hands on
the needle (aspirating the residual, injecting the new drug).

The pump only knows what it is told: the update sets its estimate, drug, concentration and
alarm volume, and may start a bridge bolus that clears the old drug from the line. Unless
the fill itself was simulated with :meth:`Refill.aspirate` / :meth:`Refill.inject`, the
actual reservoir is taken to hold what the console says. Separate because the refill is a
workflow of its own, with its own checks and the one place a physical fill meets the
pump's estimate.
"""

from __future__ import annotations

import math
from fractions import Fraction

from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind
from drivers.simulator.motor import Motor


class Refill(Motor):
    """Reservoir updates, aspiration and injection."""

    def update_reservoir(
        self,
        volume_ul: int,
        *,
        drug: str | None = None,
        drug_code: int | None = None,
        concentration_mcg_ml: int | None = None,
        alarm_volume_ul: int | None = None,
        bridge_volume_ul: int = 0,
        bridge_duration_min: int = 0,
    ) -> None:
        """Record a refill: the new volume, drug, concentration and alarm volume.

        A bridge bolus (``bridge_volume_ul`` > 0, normally the dead volume) makes the pump
        push that volume at the *old* concentration's volume rate, following the program,
        then switch to the new concentration: the tubing still holds old drug
        (domain.md, "Bridge bolus"; a ProgramSegment at the old concentration).
        ``bridge_duration_min`` is what the console expects it to take; it is recorded.
        Unless the fill itself was simulated with :meth:`aspirate` / :meth:`inject`, the
        actual reservoir is taken to hold what the console says.
        """
        with self._lock:
            self._sync()
            if not 0 <= volume_ul <= self.reservoir_capacity_ul:
                raise PumpCommandError(
                    "out_of_range",
                    f"The volume must be between 0 and {self.reservoir_capacity_ul} µL.",
                )
            if concentration_mcg_ml is not None and concentration_mcg_ml <= 0:
                raise PumpCommandError("out_of_range", "Concentration must be more than 0 mcg/mL.")
            alarm = self.alarm_volume_ul if alarm_volume_ul is None else alarm_volume_ul
            if not 0 <= alarm < self.reservoir_capacity_ul:
                raise PumpCommandError(
                    "out_of_range", "The alarm volume must be between 0 and the capacity."
                )
            if not 0 <= bridge_volume_ul <= self.reservoir_capacity_ul:
                raise PumpCommandError("out_of_range", "The bridge volume is out of range.")
            self._settle_tick()  # the step in progress is due from the old fill
            old_conc = self.concentration_mcg_ml
            new_conc = concentration_mcg_ml or old_conc
            self.alarm_volume_ul = alarm
            if bridge_volume_ul > 0:
                self._bridge_remaining_ul = Fraction(bridge_volume_ul)
                self._bridge_concentration = old_conc
            self._estimate = Fraction(volume_ul)
            if not self._physical_refill:
                self._actual = Fraction(volume_ul)
            self._physical_refill = False
            if drug is not None:
                self.drug = drug
            if drug_code is not None:
                self.drug_code = drug_code
            self.concentration_mcg_ml = new_conc
            self._log(
                EventKind.REFILL,
                {"reservoir_ul": volume_ul, "concentration_mcg_ml": new_conc, "drug": self.drug},
            )
            if bridge_volume_ul > 0:
                self._log(
                    EventKind.BRIDGE_BOLUS,
                    {"volume_ul": bridge_volume_ul, "duration_min": bridge_duration_min},
                )
            self._evaluate()

    def aspirate(self) -> int:
        """Simulate the nurse withdrawing the residual: returns whole µL withdrawn."""
        with self._lock:
            self._sync()
            self._settle_tick()
            withdrawn = math.floor(self._actual)
            self._actual -= withdrawn
            self._physical_refill = True
            return withdrawn

    def inject(self, volume_ul: int, *, into_pocket: bool = False) -> None:
        """Simulate the nurse injecting drug; a pocket fill never reaches the reservoir."""
        with self._lock:
            self._sync()
            self._physical_refill = True
            if not into_pocket:
                self._actual = min(Fraction(self.reservoir_capacity_ul), self._actual + volume_ul)
