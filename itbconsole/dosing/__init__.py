"""Clinical arithmetic for intrathecal baclofen pumps. Pure functions, exact numbers.

Every function states its formula, its inputs with units and its source. Inputs are exact
(int, Decimal, Fraction); results that divide are exact Fractions, rounded only for display.
Each result that a screen shows is a small frozen dataclass holding the inputs as well, so a
view can show how the figure was derived.

Time rules (see docs/dosing.md, "Time"):

* Flex steps follow the pump's wall clock in the clinic time zone ``tz``: at every instant
  the pump delivers the rate of the step whose window contains the local clock time. On the
  spring-forward night the missing hour delivers nothing of the steps it would have held and
  the day lasts 23 hours; on the fall-back night the repeated hour is delivered twice by
  whichever step it belongs to and the day lasts 25 hours.
* Durations (days to alarm, bridge hours, residual) are absolute time. An alarm instant is
  the start plus that many real seconds, computed in UTC, and only *shown* in local time.
* Dates a clinician acts on (refill by, trip return) are local calendar dates in ``tz``.

One concept per module; callers import the package (``from itbconsole import dosing``) and
every name below stays where it was:

* :mod:`~itbconsole.dosing.checks`: :class:`DosingError` and the input checks;
* :mod:`~itbconsole.dosing.instants`: absolute-time arithmetic (UTC, exact seconds);
* :mod:`~itbconsole.dosing.rates`: daily volume, flex day totals and per-step rates;
* :mod:`~itbconsole.dosing.daily_doses`: programmed, maximum daily and maximum 24 h doses;
* :mod:`~itbconsole.dosing.wall_clock`: flex steps on the wall clock across DST changes;
* :mod:`~itbconsole.dosing.delivery`: delivery over program segments and boluses;
* :mod:`~itbconsole.dosing.residual`: the expected residual after a fill;
* :mod:`~itbconsole.dosing.alarm`: days to alarm, the alarm instant, the refill-by date;
* :mod:`~itbconsole.dosing.trip`: does the drug last through a trip;
* :mod:`~itbconsole.dosing.discrepancy`: refill discrepancy, accuracy and thresholds;
* :mod:`~itbconsole.dosing.dead_volume`: bridge and priming boluses;
* :mod:`~itbconsole.dosing.dose_change`: current vs new dose per 24 h.

See docs/dosing.md for worked examples of each formula.
"""

from itbconsole.dosing.alarm import (
    DEFAULT_REFILL_MARGIN_DAYS,
    RefillForecast,
    alarm_instant,
    days_to_alarm,
    recommended_refill_date,
    refill_forecast,
)
from itbconsole.dosing.checks import DosingError
from itbconsole.dosing.daily_doses import (
    max_24h_dose_mcg,
    max_daily_dose_mcg,
    max_daily_volume_ml,
    patient_bolus_mcg_per_day,
    patient_boluses_in_24h,
    program_daily_dose_mcg,
)
from itbconsole.dosing.dead_volume import BridgeBolus, PrimingBolus, bridge_bolus, priming_bolus
from itbconsole.dosing.delivery import (
    program_delivered_mcg,
    program_rate_pieces,
    segments_delivered_ul,
)
from itbconsole.dosing.discrepancy import (
    AS_EXPECTED,
    LESS_THAN_EXPECTED,
    MORE_THAN_EXPECTED,
    DiscrepancyThresholds,
    RefillDiscrepancy,
    refill_discrepancy,
)
from itbconsole.dosing.dose_change import DoseChange, dose_change
from itbconsole.dosing.instants import MINUTES_PER_DAY as MINUTES_PER_DAY
from itbconsole.dosing.instants import UTC_ZONE as UTC_ZONE
from itbconsole.dosing.rates import (
    FlexStepRate,
    daily_volume_ml,
    flex_daily_total_mcg,
    flex_step_rates,
)
from itbconsole.dosing.residual import ResidualForecast, expected_residual
from itbconsole.dosing.trip import DEFAULT_TRIP_MARGIN_DAYS, TripCheck, trip_check
from itbconsole.model import ModelError

__all__ = [
    "AS_EXPECTED",
    "DEFAULT_REFILL_MARGIN_DAYS",
    "DEFAULT_TRIP_MARGIN_DAYS",
    "LESS_THAN_EXPECTED",
    "MORE_THAN_EXPECTED",
    "BridgeBolus",
    "DiscrepancyThresholds",
    "DoseChange",
    "DosingError",
    "FlexStepRate",
    "ModelError",
    "PrimingBolus",
    "RefillDiscrepancy",
    "RefillForecast",
    "ResidualForecast",
    "TripCheck",
    "alarm_instant",
    "bridge_bolus",
    "daily_volume_ml",
    "days_to_alarm",
    "dose_change",
    "expected_residual",
    "flex_daily_total_mcg",
    "flex_step_rates",
    "max_24h_dose_mcg",
    "max_daily_dose_mcg",
    "max_daily_volume_ml",
    "patient_bolus_mcg_per_day",
    "patient_boluses_in_24h",
    "priming_bolus",
    "program_daily_dose_mcg",
    "program_delivered_mcg",
    "program_rate_pieces",
    "recommended_refill_date",
    "refill_discrepancy",
    "refill_forecast",
    "segments_delivered_ul",
    "trip_check",
]
