"""The refill appointment as one object: :class:`RefillSession` puts together the steps,
each from its own module (identify, withdrawal, new drug, concentration, review, pump
update, record, printable), over the state and navigation of
:class:`~itbconsole.services.refill.session_base.SessionBase`."""

from __future__ import annotations

from itbconsole.services.refill.concentration import ConcentrationStep
from itbconsole.services.refill.identify import IdentifyStep
from itbconsole.services.refill.printable import PrintStep
from itbconsole.services.refill.record import RecordStep
from itbconsole.services.refill.review import ReviewStep
from itbconsole.services.refill.withdrawal import WithdrawStep


class RefillSession(
    IdentifyStep, WithdrawStep, ConcentrationStep, ReviewStep, RecordStep, PrintStep
):
    """One refill appointment for one patient, step by step.

    Each step method validates what the nurse entered and returns what the screen shows;
    it raises :class:`RefillError` (with the field it is about) when a rule refuses.
    Calling an earlier step again discards what later steps decided, so going back in the
    wizard can never leave a stale confirmation behind.
    """
