"""The forecast: the one home of every date and status a nurse acts on.

Why one package: the alarm date, the refill-by date, End of Service, "is it delivering" and
the urgency used to be computed in seven places that disagreed, and some dates were later
than the truth (the fault behind FDA recall Z-1338-2012). Every screen, printout, query and
command now reads :func:`forecast` (and :func:`status_on` for the status on a given day);
nothing else computes a date or a status.

The rule, in words (docs/dosing.md, "The forecast"):

* **Anchor**: the latest known reservoir volume: the latest interrogation (the pump's own
  estimate) or a confirmed refill recorded after it (the volume added).
* **Program in force**: the anchor's program, then every verified program change after the
  anchor, each from its own time. A bridge bolus after a concentration change drains the
  dead volume at the old concentration's rate first; a single or priming bolus counts once,
  when it happens.
* **Low-reservoir alarm**: the earliest of two walks from the anchor to the alarm volume:
  (a) the domain formula, every program at its maximum daily volume (every allowed patient
  bolus counted, spread over the day), and (b) the program's exact schedule on the pump
  clock (UTC) with the whole day's patient-bolus allowance taken at the start of each
  pump-clock day. Each is never later than a pump that follows its program, so their
  earliest is neither. (c) When the anchor is the latest reading, that reading carries the
  pump's own projected alarm date and no verified program change came after it, and that
  day comes before the day of the walks' instant on the pump clock, the alarm is the start
  of the pump's day (00:00 UTC on the pump clock, sooner by the clock's lead when it runs
  ahead), and the explanation says so (on the same day the two agree). After a refill or a
  program change the pump's date no longer applies as such, but its lead over the walks at
  that reading is kept (the walks' instant less the lead) until it is interrogated again.
* **Refill by**: the earliest of (alarm date - the clinic's margin), (fill date + the drug's
  maximum interval in the pump, from the fill, never from a later interrogation), the vial's
  expiry and the day before End of Service (the pump may stop on that day); the governing
  bound is said in words.
* **ERI / End of Service**: the pump's own dates when it reports them; otherwise, once a
  reading shows ERI, End of Service is projected from the last reading *before* ERI showed
  (+ the clinic's ERI-to-EOS days), labelled as a projection.
* **Status on a day**: not delivering / overdue / due soon / ok, with its reason.

All instants are UTC and exact; calendar dates are in the clinic's zone.

One concept per module; callers import the package (``from itbconsole.forecast import
forecast``) and every name below stays where it was:

* :mod:`~itbconsole.forecast.status`: the statuses, their labels and :class:`StatusOn`;
* :mod:`~itbconsole.forecast.facts`: the inputs (:class:`PumpFacts`) and their builders;
* :mod:`~itbconsole.forecast.timeline`: program history (:class:`ProgramTimeline`), boluses;
* :mod:`~itbconsole.forecast.walks`: the two alarm walks;
* :mod:`~itbconsole.forecast.bounds`: refill-by bounds, ERI and End of Service dates;
* :mod:`~itbconsole.forecast.summary`: the stored summary and :func:`status_on`;
* :mod:`~itbconsole.forecast.result`: the :class:`Forecast` value;
* :mod:`~itbconsole.forecast.compute`: :func:`forecast`, the computation.
"""

from itbconsole.forecast.bounds import (
    Bound,
    DatedEvent,
    DateSource,
    RefillBound,
    action_by,
    replace_by,
)
from itbconsole.forecast.compute import forecast
from itbconsole.forecast.facts import BridgeLookup as BridgeLookup
from itbconsole.forecast.facts import (
    Fill,
    PumpFacts,
    facts_from,
    fill_from_refill,
    with_change,
    with_fill,
    with_reading,
)
from itbconsole.forecast.facts import IntervalLookup as IntervalLookup
from itbconsole.forecast.result import Forecast
from itbconsole.forecast.status import STATUS_LABELS, Status, StatusOn
from itbconsole.forecast.summary import ForecastSummary, status_on
from itbconsole.forecast.timeline import PUMP_CLOCK, ProgramTimeline, boluses_given
from itbconsole.forecast.walks import HORIZON

#: The version of the rules above. Stored forecasts (table ``pump_forecast``) are used only
#: when made under the same rules (:attr:`itbconsole.services.clinic.ClinicService.inputs_key`):
#: raise it with every change that can move a date or a status, so that the first start after
#: an update recomputes every pump instead of showing dates made by the old rule.
#: 2: the End of Service bound is the day before End of Service.
#: 3: a projected End of Service is the earlier of calendar and whole days (clock changes).
#: 4: the pump's own projected alarm date bounds the alarm when its reading is the anchor.
#: 5: the projected empty date is also bounded by the two walks down to nothing; the pump's
#:    lead over the console's alarm is kept after a refill or a program change.
#: 6: the pump's reported ERI and End of Service days are days of its clock (UTC); the
#:    lead is kept after a change at the reading's instant, never before the anchor.
RULES_VERSION = 6

__all__ = [
    "HORIZON",
    "PUMP_CLOCK",
    "RULES_VERSION",
    "STATUS_LABELS",
    "Bound",
    "DateSource",
    "DatedEvent",
    "Fill",
    "Forecast",
    "ForecastSummary",
    "ProgramTimeline",
    "PumpFacts",
    "RefillBound",
    "Status",
    "StatusOn",
    "action_by",
    "boluses_given",
    "facts_from",
    "fill_from_refill",
    "forecast",
    "replace_by",
    "status_on",
    "with_change",
    "with_fill",
    "with_reading",
]
