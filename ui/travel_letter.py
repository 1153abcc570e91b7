"""The travel letter: one page (A4 or US Letter, the clinic's paper) for airport security
and transport staff, and for the patient's own planning.

Why: patients fly (domain.md). The pump contains metal and may set off a detector; staff
need to know what it is, that they must not press on it or handle it, and that no MRI scan
is done without checking the pump. The patient needs to know the last safe day: the pump
must be refilled by the forecast's refill-by date, before its low-reservoir alarm. Those
dates are the forecast's (:mod:`itbconsole.forecast`, through the Overview of
:meth:`itbconsole.services.clinic.ClinicService.overview`, the same as every screen);
this module lays them out through :mod:`ui.printing` and computes none.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from itbconsole.display import fmt_day, fmt_dose_per_day
from itbconsole.pump_models import manufacturer_of
from itbconsole.services.overview import PumpOverview
from itbconsole.settings import ClinicSettings
from itbconsole.store import StoreError
from ui.printing import CONTACT_NOT_SET, Printout, save_pdf, show_print_preview

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
    "No MRI scan without first checking the pump with the clinic below: a strong magnet can "
    "stop the pump for a time, and it must be checked after any scan.",
    "The pump delivers baclofen into the spinal fluid. It must never be stopped or emptied: "
    "sudden withdrawal of baclofen is dangerous.",
)
TIME_ZONES = (
    "The pump keeps its own clock and does not change time zone: nothing needs setting when "
    "travelling, and doses that vary over the day keep home time."
)


def _day(d: object) -> str:
    return fmt_day(d) if d is not None else "-"  # type: ignore[arg-type]


def letter_html(
    overview: PumpOverview, clinic: ClinicSettings | None = None, *, printed_by: str
) -> str:
    """The letter as HTML: to whom it may concern, the pump, the drug and dose, what
    security staff need to know, the last safe day, the contact (also at every page's foot,
    from ui.printing)."""
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
    if fc.refill_by is not None:
        last_safe = (
            f"<b>{_day(fc.refill_by)}</b>: the pump must be refilled by then "
            f"({escape(fc.refill_by_reason)}). Low-reservoir alarm forecast: "
            f"{_day(fc.alarm_day)}. Plan to be back at the clinic, or to be refilled at "
            "another pump clinic, before the last safe day. A trip that ends later needs a "
            "refill first."
        )
    else:
        last_safe = (
            "No refill date can be given ("
            + escape(fc.refill_by_reason or "the pump has no forecast")
            + "). Ask the clinic before travelling."
        )
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
<tr><td class='k'>Dose</td><td>{escape(fmt_dose_per_day(program.daily_dose_mcg))}
({escape(program.mode_text.lower())}, in force on {fmt_day(today)})</td></tr>
</table>
<h2>For security staff</h2>
<ul>{points}</ul>
<h2>Last safe day</h2>
<p>{last_safe}</p>
<p>{escape(TIME_ZONES)}</p>
<h2>Contact</h2>
<p>{name}: {phone}{address}</p>
<p style='margin-top: 20px'>Clinician: ______________________ &nbsp;&nbsp;
Signature: ______________________</p>
<p style='font-size: 8pt; color: #555'>Printed by {escape(printed_by)} on {fmt_day(today)}.
The dates are the clinic's forecast on that day; a refill or a program change since then
changes them.</p>
</body></html>"""


def letter_printout(
    overview: PumpOverview, clinic: ClinicSettings | None = None, *, printed_by: str = ""
) -> Printout:
    """The letter on the clinic's paper, the patient on every page (ui.printing)."""
    p = overview.patient
    return Printout(
        letter_html(overview, clinic, printed_by=printed_by or "the clinic"),
        title="Travel letter",
        running_head=(
            f"Travel letter: {p.display_name}, born {fmt_day(p.date_of_birth)}, "
            f"hospital no. {p.hospital_number}"
        ),
        training_mark=TRAINING_MARK if clinic and clinic.training else "",
        clinic=clinic,
        margin_mm=15,
    )


def write_letter_pdf(
    overview: PumpOverview,
    path: str | Path,
    clinic: ClinicSettings | None = None,
    *,
    printed_by: str = "",
) -> Path:
    """Write the letter as a PDF at ``path``; returns the path."""
    return save_pdf(letter_printout(overview, clinic, printed_by=printed_by), path)


def print_travel_letter(
    window: Host, patient_id: int | None = None, *, now: datetime | None = None
) -> QPrintPreviewDialog | None:
    """File > Print travel letter... (Ctrl+Shift+T): the print preview of the open (or
    given) patient's letter, with "Save as PDF..." beside Print. Says why when there is
    none to print (no pump, or no reading of it yet) and returns None."""
    pid = window.current_patient_id if patient_id is None else patient_id
    title = "Travel letter"
    if pid is None:
        window.prompts.error(title, "Open the patient's record first.")
        return None
    clinic = window.clinic
    overview = clinic.overview(pid, now or window.now())
    if overview is None:
        window.prompts.error(
            title,
            "There is no reading of this patient's pump yet: the letter needs the dose and the "
            "refill date. Interrogate the pump first.",
        )
        return None
    try:
        clinic.record_action(
            "travel_letter_printed", {"patient_id": pid, "pump": overview.pump.serial}
        )
    except StoreError as exc:
        window.prompts.error(title, f"{exc} Nothing was printed.")
        return None
    return show_print_preview(
        window.host_widget(),
        letter_printout(overview, clinic.settings, printed_by=clinic.user.name),
        suggested_name=f"travel-letter-{overview.pump.serial}.pdf",
    )


__all__ = [
    "SECURITY_POINTS",
    "letter_html",
    "letter_printout",
    "print_travel_letter",
    "write_letter_pdf",
]
