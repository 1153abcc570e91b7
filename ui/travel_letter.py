"""The travel letter: one page (A4 or US Letter, the clinic's paper) for airport security
and transport staff, and for the patient's own planning.

Why: patients fly (domain.md). The pump contains metal and may set off a detector; staff
need to know what it is, that they must not press on it or handle it, and that no MRI scan
is done before the pump clinic has been told. The patient needs to know the last safe day,
said with what ends it: a refill (the low-reservoir alarm, the drug's time in the pump, the
vial's expiry) or a replacement of the pump (its End of Service, which no refill moves; the
forecast's last safe day is then the day before it). With a return date the letter also prints the
trip check (:func:`itbconsole.dosing.trip_check`, on the forecast's own inputs): whether the
drug lasts to the return plus the clinic's trip margin, and if not, that the pump must be
refilled before travelling. Those dates are the forecast's (:mod:`itbconsole.forecast`,
through the Overview of :meth:`itbconsole.services.clinic.ClinicService.overview`, the
same as every screen); this module lays them out through :mod:`ui.printing`.

No letter is printed while it would mislead: with a dose not confirmed or no 24 h
telephone (the emergency card's checks), or while the refill is overdue or the pump may
not be delivering (a last safe day that has passed helps nobody at an airport: refill the
pump, then print the letter with the new dates).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from itbconsole import dosing
from itbconsole.display import fmt_day, fmt_schedule_doses
from itbconsole.forecast import Status
from itbconsole.forecast.bounds import Bound
from itbconsole.pump_models import manufacturer_of
from itbconsole.services.overview import PumpOverview
from itbconsole.settings import ClinicSettings
from itbconsole.store import StoreError
from itbconsole.units import round_decimal
from ui.emergency_card import (
    maximum_text,
    program_in_force,
    require_confirmed_dose,
    settings_of,
)
from ui.printing import (
    CONTACT_NOT_SET,
    Printout,
    PrintRefused,
    overview_to_print,
    require_phone_24h,
    save_pdf,
    show_print_preview,
)

if TYPE_CHECKING:
    from PySide6.QtPrintSupport import QPrintPreviewDialog

    from ui.host import Host

TRAINING_MARK = "TRAINING - simulated pump and generated records: not a patient's letter"

#: What security staff need to know, one point each.
SECURITY_POINTS = (
    "The pump is a round metal device about the size of a hockey puck, implanted under the "
    "skin of the abdomen, with a thin catheter to the spine. It may set off walk-through "
    "metal detectors and hand-held wands; neither they nor body scanners harm it.",
    "Please do not press on, handle or try to examine the pump; a hand search should avoid "
    "the pump site. The patient can show this letter and, if asked, the scar.",
    "MRI only after the pump clinic below has been told: some pumps must be checked or "
    "emptied before and after a scan.",
    "The pump delivers baclofen into the spinal fluid. It must never be stopped or emptied "
    "except by the pump clinic: sudden withdrawal of baclofen is dangerous.",
)
TIME_ZONES = (
    "The pump keeps its own clock and does not change time zone: nothing needs setting when "
    "travelling, and doses that vary over the day keep home time."
)
REFILL_FIRST = "The pump must be refilled before travelling"
REPLACE_FIRST = "The pump must be replaced before travelling"

#: What a bound on the refill-by date asks for, in the letter's words.
REMEDY = {
    Bound.ALARM: "the pump must be refilled by then",
    Bound.INTERVAL: "the pump must be refilled by then: the drug may stay in it no longer",
    Bound.EXPIRY: "the pump must be refilled by then: the drug in it expires",
}


def _day(d: object) -> str:
    return fmt_day(d) if d is not None else "-"  # type: ignore[arg-type]


def last_safe_day(overview: PumpOverview) -> date | None:
    """The last day the patient may be away: the forecast's refill-by date (when End of
    Service governs it is already the day before End of Service, the forecast's own rule)."""
    return overview.forecast.refill_by


def trip_check_for(
    overview: PumpOverview, return_date: date, settings: ClinicSettings | None = None
) -> dosing.TripCheck | None:
    """The trip check (:func:`itbconsole.dosing.trip_check`) on the forecast's inputs: its
    anchor (reading or refill) and volume, alarm volume, program in force, concentration,
    the clinic's zone and margins, and the days left from the anchor to the drug's time
    limit in the pump (the forecast's own interval bound). None when the forecast has no
    anchor or program to check from."""
    fc = overview.forecast
    s = settings_of(overview, settings)
    if fc.anchor_at is None or fc.anchor_volume_ul is None or fc.concentration_mcg_ml is None:
        return None
    start_day = fc.anchor_at.astimezone(s.tz).date()
    interval = next((b for b in fc.bounds if b.kind is Bound.INTERVAL), None)
    left = None if interval is None else max((interval.day - start_day).days, 0)
    try:
        refill = dosing.refill_forecast(
            reservoir_ul=fc.anchor_volume_ul,
            alarm_volume_ul=fc.alarm_volume_ul,
            program=program_in_force(overview),
            concentration_mcg_ml=fc.concentration_mcg_ml,
            start=fc.anchor_at,
            tz=s.tz,
            margin_days=s.refill_margin_days,
            max_refill_interval_days=left,
        )
        return dosing.trip_check(refill, return_date, s.trip_margin_days)
    except dosing.DosingError:
        return None


def require_letter_dates(overview: PumpOverview) -> None:
    """Refuse the letter while its last safe day has passed or the pump may not be
    delivering (the status on the Overview's day says which, in words)."""
    status = overview.status
    if status.status in (Status.OVERDUE, Status.NOT_DELIVERING):
        raise PrintRefused(
            f"{status.status.label}: {status.reason} Refill the pump (or replace it) before "
            "the patient travels, then print the travel letter with the new dates."
        )


def _last_safe_html(overview: PumpOverview) -> str:
    fc = overview.forecast
    last = last_safe_day(overview)
    if last is None:
        return (
            "No refill date can be given ("
            + escape(fc.refill_by_reason or "the pump has no forecast")
            + "). Ask the clinic before travelling."
        )
    alarm = f" Low-reservoir alarm forecast: {_day(fc.alarm_day)}." if fc.alarm_day else ""
    bound = fc.governing
    if bound is not None and bound.kind is Bound.END_OF_SERVICE:
        # The bound's words name End of Service and its date, once.
        return (
            f"<b>{_day(last)}</b>: the pump must be replaced by this day. "
            f"{escape(bound.text)}, and no refill changes that.{alarm} Plan to be back at "
            "the clinic for the replacement by the last safe day. A trip that ends later "
            "needs the replacement first."
        )
    remedy = REMEDY.get(bound.kind, REMEDY[Bound.ALARM]) if bound else REMEDY[Bound.ALARM]
    return (
        f"<b>{_day(last)}</b>: {remedy} ({escape(fc.refill_by_reason)}).{alarm} Plan to be "
        "back at the clinic, or to be refilled at another pump clinic, by the last safe "
        "day. A trip that ends later needs a refill first."
    )


def _trip_html(overview: PumpOverview, trip: dosing.TripCheck) -> str:
    """The trip check's result: the drug lasts, or what must happen before travelling."""
    last = last_safe_day(overview)
    until = trip.return_date + timedelta(days=trip.margin_days)
    asked = (
        f"Return on {fmt_day(trip.return_date)}; with the clinic's {trip.margin_days}-day "
        f"margin the pump must last to the end of {fmt_day(until)}."
    )
    bound = overview.forecast.governing
    after_last = last is not None and until > last
    if trip.ok and not after_last:
        return f"<p>{asked} <b>The drug in the pump lasts through the trip.</b></p>"
    first = REFILL_FIRST
    if after_last and bound is not None and bound.kind is Bound.END_OF_SERVICE:
        # No refill moves End of Service: the replacement comes first.
        first, why = (
            REPLACE_FIRST,
            f"the return and its margin end after the last safe day, {_day(last)}",
        )
    elif not trip.ok:
        why = (
            f"the {escape(trip.governing)} comes "
            f"{round_decimal(trip.shortfall_days, 1)} days too early"
        )
        if trip.empties_before_needed:
            why += ", and the reservoir would run empty before then (withdrawal risk)"
    else:
        why = f"the return and its margin end after the last safe day, {_day(last)}"
    return f"<p>{asked}</p><p class='stop'>{first}: {why}.</p>"


def letter_html(
    overview: PumpOverview,
    clinic: ClinicSettings | None = None,
    *,
    printed_by: str,
    trip: dosing.TripCheck | None = None,
) -> str:
    """The letter as HTML: the clinic's contact at the top (also at every page's foot, from
    ui.printing), to whom it may concern, the pump, the drug and dose, what security staff
    need to know, the last safe day (and the trip check, when given)."""
    p, pump, program, fc = overview.patient, overview.pump, overview.program, overview.forecast
    settings = clinic or fc.settings
    today = overview.now.astimezone(settings.tz).date()
    name = escape(settings.clinic_name) if settings.clinic_name else "The ITB clinic"
    address = f"<br/>{escape(settings.clinic_address)}" if settings.clinic_address else ""
    phone = (
        f"24 hour telephone: <b>{escape(settings.clinic_phone_24h)}</b>"
        if settings.clinic_phone_24h
        else f"<b>{CONTACT_NOT_SET}</b>"
    )
    implant = _day(pump.implant_date) if pump.implant_date else "not recorded"
    maker = manufacturer_of(pump.model)  # from the catalogue; no row rather than a guess
    make_row = f"<tr><td class='k'>Make</td><td>{escape(maker)}</td></tr>" if maker else ""
    in_force = program_in_force(overview)
    maximum = maximum_text(in_force)
    max_row = f"<tr><td class='k'>Maximum</td><td>{escape(maximum)}</td></tr>" if maximum else ""
    last_safe = _last_safe_html(overview)
    trip_part = f"<h2>Trip check</h2>{_trip_html(overview, trip)}" if trip is not None else ""
    points = "".join(f"<li>{escape(t)}</li>" for t in SECURITY_POINTS)
    return f"""
<html><head><style>
body {{ font-family: sans-serif; font-size: 10pt; }}
h1 {{ font-size: 14pt; margin-bottom: 2px; }}
h2 {{ font-size: 11pt; margin-top: 12px; margin-bottom: 4px; color: #1b2a3a; }}
p {{ margin-top: 3px; margin-bottom: 3px; }}
td {{ padding: 2px 8px 2px 0; vertical-align: top; }}
td.k {{ color: #3b4b5c; }}
li {{ margin-bottom: 4px; }}
.stop {{ color: #8a1020; font-weight: bold; font-size: 11pt; }}
</style></head><body>
<p><b>{name}</b>{address}<br/>{phone}</p>
<p>{fmt_day(today)}</p>
<h1>Travel letter: implanted intrathecal baclofen pump</h1>
<p>To airport security, transport and medical staff: please let the person named below
travel with the medical device described.</p>
<table cellspacing='0'>
<tr><td class='k'>Name</td><td><b>{escape(p.display_name)}</b></td></tr>
<tr><td class='k'>Date of birth</td><td>{fmt_day(p.date_of_birth)}</td></tr>
<tr><td class='k'>Hospital number</td><td>{escape(p.hospital_number)}</td></tr>
<tr><td class='k'>Implanted pump</td><td>{escape(pump.model)},
serial {escape(pump.serial)}</td></tr>{make_row}
<tr><td class='k'>Implanted on</td><td>{implant}</td></tr>
<tr><td class='k'>Drug</td><td>{escape(program.drug_label)} (intrathecal baclofen)</td></tr>
<tr><td class='k'>Dose</td><td>{escape(fmt_schedule_doses(in_force))}
({escape(program.mode_text.lower())}, in force on {fmt_day(today)})</td></tr>{max_row}
</table>
<h2>For security staff</h2>
<ul>{points}</ul>
<h2>Last safe day</h2>
<p>{last_safe}</p>
{trip_part}
<p>{escape(TIME_ZONES)}</p>
<p style='margin-top: 20px'>Clinician: ______________________ &nbsp;&nbsp;
Signature: ______________________</p>
<p style='font-size: 8pt; color: #555'>Printed by {escape(printed_by)} on {fmt_day(today)}.
The dates are the clinic's forecast on that day; a refill or a program change since then
changes them.</p>
</body></html>"""


def letter_printout(
    overview: PumpOverview,
    clinic: ClinicSettings | None = None,
    *,
    printed_by: str = "",
    trip: dosing.TripCheck | None = None,
) -> Printout:
    """The letter on the clinic's paper (``clinic``, default the forecast's settings), the
    patient on every page (ui.printing). Raises :class:`~ui.printing.PrintRefused` with the
    reason while it must not be printed (see the module's docstring)."""
    p = overview.patient
    settings = settings_of(overview, clinic)
    require_phone_24h(settings, "travel letter")
    require_confirmed_dose(overview, "travel letter")
    require_letter_dates(overview)
    return Printout(
        letter_html(overview, settings, printed_by=printed_by or "the clinic", trip=trip),
        title="Travel letter",
        running_head=f"Travel letter: {p.display_name}",
        head_keep=f", born {fmt_day(p.date_of_birth)}, hospital no. {p.hospital_number}",
        training_mark=TRAINING_MARK if settings.training else "",
        clinic=settings,
        margin_mm=15,
    )


def write_letter_pdf(
    overview: PumpOverview,
    path: str | Path,
    clinic: ClinicSettings | None = None,
    *,
    printed_by: str = "",
    trip: dosing.TripCheck | None = None,
) -> Path:
    """Write the letter as a PDF at ``path``; returns the path. Raises
    :class:`~ui.printing.PrintRefused` (nothing written) as :func:`letter_printout`."""
    return save_pdf(letter_printout(overview, clinic, printed_by=printed_by, trip=trip), path)


#: The return-date seam: (parent, today) -> (print?, return date or None for no trip
#: check). Tests replace it so no modal dialog opens.
AskReturnDate = Callable[[QWidget | None, date], tuple[bool, date | None]]


class ReturnDateDialog(QDialog):
    """Asked before the letter: the trip's return date (for the trip check), or "No trip
    date" to print without one. :meth:`answer` says what was chosen."""

    def __init__(self, parent: QWidget | None, today: date) -> None:
        super().__init__(parent)
        self.setObjectName("tripReturnDate")
        self.setWindowTitle("Travel letter: trip check")
        form = QFormLayout(self)
        form.addRow(
            QLabel("When is the patient back? The letter then says whether the drug lasts.")
        )
        first = QDate(today.year, today.month, today.day)
        self.return_date = QDateEdit(first)
        self.return_date.setCalendarPopup(True)
        self.return_date.setDisplayFormat("dd MMM yyyy")
        self.return_date.setMinimumDate(first)  # a trip check needs a day from today on
        form.addRow("Return date", self.return_date)
        self.no_trip = QCheckBox("No trip date: print without a trip check")
        self.no_trip.toggled.connect(lambda on: self.return_date.setEnabled(not on))
        form.addRow(self.no_trip)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def answer(self) -> tuple[bool, date | None]:
        """(print?, the return date or None for no trip check)."""
        if self.result() != QDialog.DialogCode.Accepted:
            return False, None
        if self.no_trip.isChecked():
            return True, None
        day: date = self.return_date.date().toPython()  # type: ignore[assignment]
        return True, day


def ask_return_date(parent: QWidget | None, today: date) -> tuple[bool, date | None]:
    """The :class:`ReturnDateDialog`, modal; Cancel prints nothing."""
    dialog = ReturnDateDialog(parent, today)
    dialog.exec()
    return dialog.answer()


def print_travel_letter(
    window: Host,
    patient_id: int | None = None,
    *,
    now: datetime | None = None,
    return_date: date | None = None,
    ask_return: AskReturnDate | None = None,
) -> QPrintPreviewDialog | None:
    """File > Print travel letter... (Ctrl+Shift+T): takes the trip's ``return_date``, or
    asks for it (``ask_return``, default :func:`ask_return_date`, looked up when called so
    a test can replace it), then opens the print preview of the open (or given) patient's letter with
    the trip check, and "Save as PDF..." beside Print. Says why when there is none to print
    (no pump, no reading yet, a dose not confirmed, no 24 h telephone, a refill overdue)
    and returns None; Cancel in the date dialog prints nothing."""
    title = "Travel letter"
    found = overview_to_print(
        window, patient_id, now, title, "the letter needs the dose and the refill date"
    )
    if found is None:
        return None
    pid, overview = found
    clinic = window.clinic
    try:
        letter_printout(overview, clinic.settings)  # refused before asking anything
    except PrintRefused as exc:
        window.prompts.error(title, str(exc))
        return None
    today = overview.now.astimezone(clinic.settings.tz).date()
    if return_date is None:
        go, return_date = (ask_return or ask_return_date)(window.host_widget(), today)
        if not go:
            return None
    trip = None
    if return_date is not None:
        trip = trip_check_for(overview, return_date, clinic.settings)
        if trip is None:
            window.prompts.error(
                title, "The trip cannot be checked from this pump's forecast. Nothing printed."
            )
            return None
    printout = letter_printout(overview, clinic.settings, printed_by=clinic.user.name, trip=trip)
    try:
        clinic.record_action(
            "travel_letter_printed",
            {
                "patient_id": pid,
                "pump": overview.pump.serial,
                "return_date": return_date.isoformat() if return_date else None,
                "trip_ok": trip.ok if trip is not None else None,
            },
        )
    except StoreError as exc:
        window.prompts.error(title, f"{exc} Nothing was printed.")
        return None
    return show_print_preview(
        window.host_widget(),
        printout,
        suggested_name=f"travel-letter-{overview.pump.serial}.pdf",
    )


__all__ = [
    "SECURITY_POINTS",
    "ReturnDateDialog",
    "ask_return_date",
    "last_safe_day",
    "letter_html",
    "letter_printout",
    "print_travel_letter",
    "trip_check_for",
    "write_letter_pdf",
]
