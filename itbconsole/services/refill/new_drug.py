"""Step 3 of a refill: the new drug (:class:`NewDrug`: a refill product from the library,
lot, expiry, volume added, or a scanned GS1 barcode) with the checks on it (no expired
drug, no overfill, above the alarm volume) and the forecast as if the refill were done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from itbconsole.display import fmt_day
from itbconsole.druglib import DrugProduct
from itbconsole.forecast import Bound, Fill, Forecast, with_fill
from itbconsole.gs1 import GS1Data, GS1Error, looks_like_gs1, parse_expiry, parse_gs1
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import RefillError, Step, parse_ml
from itbconsole.units import fmt_ml


@dataclass(frozen=True)
class NewDrug:
    """Step 3: what goes into the pump."""

    product: DrugProduct
    lot: str
    expiry: date
    added_ul: int
    gtin: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class NewDrugCheck:
    new_drug: NewDrug
    forecast: Forecast
    warnings: tuple[str, ...]
    checked: tuple[str, ...] = ()
    """What the nurse confirmed at this step (a volume that looked like a decimal slip):
    shown at the review and kept in the record, not asked again."""
    brand_change: str = ""
    """The product differs from the last refill's (Lioresal to Gablofen): said at the
    review and kept in the record."""


class NewDrugStep(SessionBase):
    """Step 3 of a :class:`~itbconsole.services.refill.session.RefillSession`."""

    def refill_products(self) -> tuple[DrugProduct, ...]:
        """Only library products a pump may be refilled with (no screening strengths)."""
        return self.clinic.library.refill_products()

    def read_barcode(self, text: str) -> tuple[GS1Data, DrugProduct | None]:
        """A GS1 barcode typed into the product field by a keyboard-wedge scanner: its
        GTIN, lot and expiry, and the library product with that GTIN if there is one (the
        default library lists none; the nurse then picks the product)."""
        try:
            data = parse_gs1(text, today=self._today())
        except GS1Error as exc:
            raise RefillError(str(exc), "product") from None
        product = None
        if data.gtin is not None:
            found = self.clinic.library.by_gtin(data.gtin)
            if found is not None and found.refill_allowed:
                product = found
            elif found is not None:
                raise RefillError(
                    f"The scanned product is {found.label}, which is not for refills "
                    "(screening strength).",
                    "product",
                )
        return data, product

    @staticmethod
    def looks_like_barcode(text: str) -> bool:
        return looks_like_gs1(text)

    def enter_new_drug(
        self,
        product_id: str,
        lot: str,
        expiry: date | str,
        added_text: str,
        *,
        gtin: str | None = None,
        serial: str | None = None,
        volume_checked: bool = False,
    ) -> NewDrugCheck:
        """Product from the library, lot, expiry (expired refused), volume added (more than
        the alarm volume, never above capacity). A volume that looks like a decimal slip
        (under half the reservoir: 4.0 typed for 40) is refused here, next to the field,
        until the nurse confirms it with ``volume_checked`` (its own acknowledgement, not the
        review's shared one)."""
        self._require(Step.NEW_DRUG)
        ident = self._ident()
        product = next((p for p in self.refill_products() if p.id == product_id), None)
        if product is None:
            raise RefillError(
                "Choose the product from the drug library list: only products approved for "
                "refills can be used.",
                "product",
            )
        lot_text = lot.strip().upper()
        if not lot_text:
            raise RefillError("Enter the lot (batch) number from the vial.", "lot")
        if isinstance(expiry, str):
            try:
                expiry = parse_expiry(expiry)
            except GS1Error as exc:
                raise RefillError(str(exc), "expiry") from None
        today = self._today()
        if expiry < today:
            raise RefillError(
                f"This drug expired on {fmt_day(expiry)}. Do not use it: take a vial that "
                "is in date.",
                "expiry",
            )
        capacity = ident.pump.reservoir_capacity_ul
        added = parse_ml(added_text, "added", "Volume added")
        if added <= 0:
            raise RefillError("The volume added must be more than 0 mL.", "added")
        if added > capacity:
            raise RefillError(
                f"{fmt_ml(added)} is more than the reservoir holds ({fmt_ml(capacity)}): an "
                "overfill. Check the volume and the decimal point.",
                "added",
            )
        left = self._fluid_left_ul()
        if left and added + left > capacity:
            raise RefillError(
                f"Less came back than expected, so up to {fmt_ml(left)} may still be in the "
                f"reservoir: {fmt_ml(added)} more would make {fmt_ml(added + left)}, over the "
                f"capacity ({fmt_ml(capacity)}). An overfill can push drug into the pocket. "
                f"Add at most {fmt_ml(capacity - left)}.",
                "added",
            )
        alarm_ul = ident.reading.alarm_volume_ul
        if added <= alarm_ul:
            raise RefillError(
                f"{fmt_ml(added)} is at or below the low-reservoir alarm volume "
                f"({fmt_ml(alarm_ul)}): the alarm would sound at once. Check the volume and "
                "the decimal point.",
                "added",
            )
        slip = self.added_volume_slip(added, capacity)
        if slip and not volume_checked:
            raise RefillError(
                f"{slip} Correct the volume, or tick the box to confirm it is right.",
                "added_check",
            )
        new = NewDrug(product, lot_text, expiry, added, gtin, serial)
        forecast = self._forecast_after(new)
        warnings = self._expiry_warnings(new, forecast)
        checked = (f"Volume added confirmed at step 3: {slip}",) if slip else ()
        self._reset_after(Step.NEW_DRUG)
        self.new_drug_check = NewDrugCheck(
            new, forecast, warnings, checked, self._brand_change(product)
        )
        self.step = Step.CONCENTRATION
        return self.new_drug_check

    def _brand_change(self, product: DrugProduct) -> str:
        """A switch of product against the last refill on record (same drug, another
        maker), in words; "" when it is the same product or there is no earlier refill."""
        last = self._ident().residual.last_refill
        if last is None or last.product.strip().casefold() == product.product.casefold():
            return ""
        strength = (
            f"at the same strength ({product.concentration_mcg_ml} mcg/mL)"
            if last.concentration_mcg_ml == product.concentration_mcg_ml
            else f"({last.concentration_mcg_ml} to {product.concentration_mcg_ml} mcg/mL)"
        )
        return f"Brand change: {last.product} to {product.product} {strength}."

    def _fluid_left_ul(self) -> int:
        """What may still be in the reservoir after the aspiration: expected - withdrawn when
        less came back than expected by more than the clinic's limits (a flagged shortfall:
        incomplete aspiration is one of its meanings). A shortfall within the limits is the
        expected scatter of delivery, not fluid left behind, and does not shrink the fill."""
        if self.withdrawal is None:
            return 0
        d = self.withdrawal.discrepancy
        if not d.flag:
            return 0
        return max(0, d.expected_residual_ul - d.withdrawn_ul)

    @staticmethod
    def added_volume_slip(added_ul: int, capacity_ul: int) -> str:
        """A volume far below the usual fill (under half the capacity) may be a decimal
        slip (4.0 typed for 40.0): what to check, or "" when the volume looks usual."""
        if added_ul * 2 < capacity_ul:
            meant = f" ({fmt_ml(added_ul * 10)} meant?)" if added_ul * 10 <= capacity_ul else ""
            return (
                f"The volume added ({fmt_ml(added_ul)}) is less than half the reservoir "
                f"({fmt_ml(capacity_ul)}): check the decimal point{meant}."
            )
        return ""

    def _expiry_warnings(self, new: NewDrug, forecast: Forecast) -> tuple[str, ...]:
        """The vial's expiry sets the next refill date: say so, so the nurse can choose a
        vial with a later expiry instead."""
        gov = forecast.governing
        if gov is None or gov.kind is not Bound.EXPIRY or forecast.alarm_day is None:
            return ()
        if new.expiry >= forecast.alarm_day:
            return ()
        return (
            f"The drug expires on {fmt_day(new.expiry)}, before the new low-reservoir alarm "
            f"date ({fmt_day(forecast.alarm_day)}): the next refill is due by the expiry, "
            f"{fmt_day(new.expiry)}. Use a vial with a later expiry to keep the usual interval.",
        )

    def _forecast_after(self, new: NewDrug, bridge: tuple[int, int] = (0, 0)) -> Forecast:
        """The forecast as if this refill were confirmed now (with its bridge): the one
        rule every other screen uses, on the records plus this interrogation and fill."""
        ident = self._ident()
        facts = ident.facts
        fill = Fill(
            at=self.now(),
            volume_ul=new.added_ul,
            concentration_mcg_ml=new.product.concentration_mcg_ml,
            product=new.product.product,
            expiry=new.expiry,
            max_interval_days=new.product.max_refill_interval_days,
            bridge_ul=bridge[0],
            bridge_from_mcg_ml=bridge[1] if bridge[0] else 0,
        )
        return self.clinic.forecast_for(ident.pump.serial, with_fill(facts, fill))
