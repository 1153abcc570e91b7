"""Refill rules added after the nurses' walkthrough: a withdrawn volume ten times off is
confirmed on its own at step 2 (the discrepancy note alone is not enough), and a switch of
product against the last refill (Lioresal to Gablofen) is said at the review and recorded."""

from __future__ import annotations

from datetime import date

import pytest

from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import RefillError, Step
from tests.itbconsole.test_refill_service import (  # noqa: F401 (the fixture)
    at_new_drug,
    clinic,
    hand_expected_residual,
    last_refill,
    pump_reading,
    session,
)


def test_a_withdrawn_slip_needs_its_own_confirmation_besides_the_note(
    clinic: ClinicService,  # noqa: F811
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    check = s.enter_withdrawn(f"{hand_expected_residual(clinic) / 10_000:.3f}")  # 2.93 for 29.3
    assert check.slip_hint
    with pytest.raises(RefillError) as err:
        s.acknowledge_discrepancy("Aspirated twice; Dr Shah informed")
    assert err.value.field == "slip" and "decimal point" in str(err.value)
    assert s.step is Step.WITHDRAW
    s.acknowledge_discrepancy("Aspirated twice; Dr Shah informed", slip_checked=True)
    assert s.step is Step.NEW_DRUG and "confirmed at step 2" in s.withdrawn_checked


def test_a_discrepancy_without_a_likely_slip_needs_only_the_note(
    clinic: ClinicService,  # noqa: F811
) -> None:
    s = session(clinic)
    s.identify(pump_reading(clinic))
    check = s.enter_withdrawn(f"{(hand_expected_residual(clinic) - 6000) / 1000:.3f}")
    assert check.needs_acknowledgement and not check.slip_hint
    s.acknowledge_discrepancy("Aspiration checked; Dr Shah informed")
    assert s.step is Step.NEW_DRUG and s.withdrawn_checked == ""


def test_a_brand_switch_at_the_same_strength_is_noted_at_review_and_in_the_record(
    clinic: ClinicService,  # noqa: F811
) -> None:
    assert last_refill(clinic).product == "Lioresal Intrathecal"
    s = at_new_drug(clinic)
    check = s.enter_new_drug("gablofen-2000", "G1", date(2028, 1, 31), "40")
    assert check.brand_change == (
        "Brand change: Lioresal Intrathecal to Gablofen at the same strength (2000 mcg/mL)."
    )
    s.check_concentration()
    assert check.brand_change in s.review().notes
    same = at_new_drug(clinic).enter_new_drug("lioresal-2000", "L1", date(2028, 1, 31), "40")
    assert same.brand_change == ""
