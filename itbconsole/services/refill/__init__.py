"""The refill appointment as a state machine: the rules of a refill, without a screen.

Why a service: a refill is the riskiest routine moment of ITB therapy (pocket fills, a
wrong concentration, a wrong next date). Every rule of the workflow lives in this package,
in plain Python that a test reaches without Qt and without a pump; the wizard in
``ui/refill/`` only shows what it computes and passes on what the nurse typed. The
arithmetic itself is :mod:`itbconsole.dosing`'s; this package decides which figures to
compute, from which records, and what the nurse must confirm before going on.

Steps (:class:`Step`): identify the pump, enter the volume withdrawn, choose the new drug,
check the concentration, review current against new, update the pump, record. Nothing is
written to the store or sent to the pump before :meth:`RefillSession.confirm`; the pump
update itself runs on the link thread (the UI sends :meth:`RefillSession.reservoir_update`)
and its outcome comes back through :meth:`RefillSession.record_update`.

A pump update whose outcome is unknown (link lost) is stored as a *pending* refill;
:func:`resolve_pending_refills` settles it from the next interrogation.

One concept per module; everything public is re-exported here, so callers import from
``itbconsole.services.refill`` and need not know the layout:

* ``steps``: :class:`Step`, :data:`STEP_TITLES`, :class:`RefillError`, :func:`parse_ml`;
* ``residual``: :func:`expected_residual_for`, :class:`ResidualDerivation`;
* ``session_base``: the session's state and the navigation between steps;
* one module per step, each with what it shows: ``identify`` (:class:`Identification`),
  ``withdrawal`` (:class:`WithdrawalCheck`), ``new_drug`` (:class:`NewDrug`,
  :class:`NewDrugCheck`), ``concentration`` (:class:`ConcentrationCheck`), ``review``
  (:class:`Review`), ``pump_update`` (:class:`ReservoirUpdate`), ``record``
  (:class:`RefillOutcome`), ``printable`` (:class:`PrintableRefill`);
* ``session``: :class:`RefillSession`, the steps put together.
"""

from __future__ import annotations

from itbconsole.services.refill.concentration import PREPARED_MAX_AGE, ConcentrationCheck
from itbconsole.services.refill.identify import Identification
from itbconsole.services.refill.new_drug import NewDrug, NewDrugCheck
from itbconsole.services.refill.printable import PrintableRefill
from itbconsole.services.refill.pump_update import ReservoirUpdate, StatusLike
from itbconsole.services.refill.record import RefillOutcome
from itbconsole.services.refill.residual import ResidualDerivation, expected_residual_for
from itbconsole.services.refill.review import Review, ReviewRow
from itbconsole.services.refill.session import RefillSession
from itbconsole.services.refill.steps import STEP_TITLES, RefillError, Step, parse_ml
from itbconsole.services.refill.withdrawal import WithdrawalCheck
from itbconsole.services.settlement import PendingResolution, resolve_pending_refills

__all__ = [
    "PREPARED_MAX_AGE",
    "STEP_TITLES",
    "ConcentrationCheck",
    "Identification",
    "NewDrug",
    "NewDrugCheck",
    "PendingResolution",
    "PrintableRefill",
    "RefillError",
    "RefillOutcome",
    "RefillSession",
    "ReservoirUpdate",
    "ResidualDerivation",
    "Review",
    "ReviewRow",
    "StatusLike",
    "Step",
    "WithdrawalCheck",
    "expected_residual_for",
    "parse_ml",
    "resolve_pending_refills",
]
