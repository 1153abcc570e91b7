"""A program change's override text travels to the other rooms as it is written: it names
the second clinician by name and role, never by this console's account numbers (which mean
another account, or none, in another room)."""

from __future__ import annotations

from datetime import UTC, datetime

from itbconsole.model import Role, SecondCheck
from itbconsole.services import programming as pg
from itbconsole.services.programming.approval import second_check_subject
from tests.itbconsole.test_programming import check, simple_continuous, state


def test_the_second_clinician_is_recorded_by_name_and_role_without_local_ids() -> None:
    result = check(simple_continuous(1050), st=state(simple_continuous(950), reservoir_ul=40_000))
    (finding,) = result.soft
    reasons = {finding.key: pg.override_text(pg.OVERRIDE_CATEGORIES[1], "severe tone, MDT agreed")}
    confirmed = SecondCheck(
        account_id=7919, name="Dr Ben Second", role=Role.CLINICIAN,
        at=datetime(2026, 11, 30, 9, tzinfo=UTC), subject=second_check_subject(result),
        event_id=6421,
    )  # fmt: skip

    change = pg.build_change(
        result, "titration agreed at clinic", reasons, second_clinician=confirmed
    )

    (text,) = [o for o in change.overrides if o.startswith("second clinician")]
    assert text.startswith("second clinician Dr Ben Second (clinician) confirmed the override")
    assert "own password at 2026-11-30T09:00:00+00:00" in text
    assert "7919" not in text and "6421" not in text and "account" not in text
