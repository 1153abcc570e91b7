"""The patient's emergency card: wallet size (85.6 x 54 mm), front and back as two small
pages of one PDF, to print, cut out and fold or laminate.

Why: a patient found confused, feverish or drowsy far from the clinic cannot explain the
pump. The card says what is implanted (make and model, serial), what it holds (drug,
concentration) and the dose now, the signs of withdrawal and of overdose and what to do
(domain.md: abrupt withdrawal is life-threatening; keep oral baclofen at hand), and whom to
call at any hour (the clinic's 24 h contact, on both sides).

Every figure is the Overview's (:meth:`itbconsole.services.clinic.ClinicService.overview`:
the program in force, the concentration, the drug) and the doses are
:mod:`itbconsole.dosing`'s (the dose per 24 h of each distinct day of the schedule, the
maximum 24 h dose with every allowed patient bolus); this module lays them out through
:mod:`ui.printing` and computes nothing.

What the patient carries must be true and must name someone to call, so the card (and the
travel letter, which uses the same checks) is refused, with the reason and what to do,
while the dose in force is not confirmed (a program change of unknown outcome, or the pump
and the records disagree: the forecast then asks for the pump to be checked) and while the
clinic's 24 h telephone is not set.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from itbconsole import dosing
from itbconsole.display import fmt_day, fmt_dose_per_day, fmt_schedule_doses
from itbconsole.model import Mode, Program
from itbconsole.pump_models import manufacturer_of
from itbconsole.services.overview import PumpOverview
from itbconsole.settings import ClinicSettings
from itbconsole.store import StoreError
from ui.printing import (
    WALLET_CARD_MM,
    Printout,
    PrintRefused,
    clinic_contact_text,
    overview_to_print,
    require_phone_24h,
    save_pdf,
    show_print_preview,
)

if TYPE_CHECKING:
    from PySide6.QtPrintSupport import QPrintPreviewDialog

    from ui.host import Host

TRAINING_MARK = "TRAINING - not a patient's card"

#: The signs, in domain.md's words (the boxed warning), and what to do about them.
WITHDRAWAL_SIGNS = (
    "itching without a rash (an early clue), high fever, confusion or altered mental "
    "state, spasticity coming back, rigidity"
)
WITHDRAWAL_ACTION = (
    "Can become life-threatening within 24 to 72 hours. Go to an emergency department "
    "now and call the clinic. Take oral baclofen if prescribed (keep it at hand). Do not "
    "let the pump run empty."
)
OVERDOSE_SIGNS = "unusual drowsiness, slow or shallow breathing, hard to wake, coma"
OVERDOSE_ACTION = (
    "Call emergency services (999 / 112 / 911). Tell them about the baclofen pump and "
    "show this card; then call the clinic."
)


def settings_of(overview: PumpOverview, clinic: ClinicSettings | None) -> ClinicSettings:
    """The clinic's settings given, else the forecast's own (so a card written without
    them still carries the clinic's contact, paper and TRAINING mark)."""
    return clinic or overview.forecast.settings


def require_confirmed_dose(overview: PumpOverview, what: str) -> None:
    """Refuse ``what`` while the forecast cannot vouch for the dose in force: a program
    change with an unknown outcome (the forecast is the worse case, not the truth), or
    the forecast asks for the pump to be checked (the pump's concentration differs from
    the records', or an urgent alarm at the last interrogation)."""
    fc = overview.forecast
    reasons = [n for n in fc.notes if "unknown outcome" in n] if fc.uncertain else []
    if fc.uncertain and not reasons:
        reasons = ["A program change has an unknown outcome."]
    reasons += list(fc.attention)
    if reasons:
        raise PrintRefused(
            f"The dose in force is not confirmed, so no {what} can be printed: "
            + " ".join(reasons)
            + " Interrogate the pump first, then print."
        )


def program_in_force(overview: PumpOverview) -> Program:
    """The program the Overview summarises (the forecast's, after any verified change
    since the reading; the reading's without one)."""
    return overview.forecast.program or overview.reading.program


def maximum_text(program: Program) -> str:
    """The maximum 24 h dose with every allowed patient bolus (the figure dose limits apply
    to), or "" when it is the programmed dose (no boluses)."""
    maximum = dosing.max_24h_dose_mcg(program)
    highest = max(dosing.program_daily_dose_mcg(program, day) for day in range(7))
    if maximum == highest and program.mode is not Mode.SINGLE_BOLUS:
        return ""
    return f"up to {fmt_dose_per_day(maximum)} with patient boluses"


def _make_row(model: str) -> str:
    """The pump's maker from the catalogue (whom emergency staff ask about the device);
    no row for a model the catalogue does not know, rather than a guess."""
    maker = manufacturer_of(model)
    return f"<tr><td class='k'>Make</td><td>{escape(maker)}</td></tr>" if maker else ""


def card_html(overview: PumpOverview) -> str:
    """Front (who, what is implanted, what it delivers) and back (signs and what to do),
    two pages. The clinic's contact is painted at the foot of both by ui.printing."""
    p, pump, program = overview.patient, overview.pump, overview.program
    printed = fmt_day(overview.now.astimezone(overview.forecast.settings.tz).date())
    make_row = _make_row(pump.model)
    # The drug's label names its concentration (the library's, or "Baclofen N mcg/mL"
    # without one); said once, the card keeps room for the doses and a long address.
    strength = f"{program.concentration_mcg_ml} mcg/mL"
    drug = (
        program.drug_label
        if strength in program.drug_label
        else f"{program.drug_label}, {strength}"
    )
    in_force = program_in_force(overview)
    maximum = maximum_text(in_force)
    max_row = f"<tr><td class='k'>Maximum</td><td>{escape(maximum)}</td></tr>" if maximum else ""
    return f"""
<html><head><style>
body {{ font-family: sans-serif; font-size: 6pt; }}
p {{ margin-top: 0px; margin-bottom: 1px; }}
td {{ padding: 0px 3px 0px 0px; vertical-align: top; }}
td.k {{ color: #3b4b5c; }}
.title {{ font-size: 7.5pt; font-weight: bold; color: #8a1020; }}
.sign {{ font-weight: bold; color: #8a1020; }}
</style></head><body>
<p class='title'>I have an implanted baclofen pump. Do not stop baclofen suddenly.</p>
<table cellspacing='0'>
<tr><td class='k'>Name</td><td><b>{escape(p.display_name)}</b></td></tr>
<tr><td class='k'>Born</td><td>{fmt_day(p.date_of_birth)} &middot; hospital no.
{escape(p.hospital_number)}</td></tr>
<tr><td class='k'>Pump</td><td>{escape(pump.model)}, serial {escape(pump.serial)}</td></tr>{make_row}
<tr><td class='k'>Drug</td><td>{escape(drug)} (intrathecal baclofen)</td></tr>
<tr><td class='k'>Dose</td><td><b>{escape(fmt_schedule_doses(in_force))}</b>
({escape(program.mode_text.lower())}, in force on {printed})</td></tr>{max_row}
</table>
<p style='page-break-before: always'><span class='sign'>WITHDRAWAL</span> (too little drug:
empty pump, pump or catheter fault): {escape(WITHDRAWAL_SIGNS)}.<br/>
<b>{escape(WITHDRAWAL_ACTION)}</b></p>
<p><span class='sign'>OVERDOSE</span> (too much drug): {escape(OVERDOSE_SIGNS)}.<br/>
<b>{escape(OVERDOSE_ACTION)}</b></p>
</body></html>"""


def card_printout(
    overview: PumpOverview, clinic: ClinicSettings | None = None, *, on_sheet: bool = False
) -> Printout:
    """The card (ui.printing), the patient on both sides: two card-size pages, or with
    ``on_sheet`` both sides at their real size on one page of the clinic's paper, to cut
    out and fold (what an office printer can print). ``clinic``: the clinic's settings
    (default: the forecast's). Raises :class:`~ui.printing.PrintRefused` while the dose
    is not confirmed or the 24 h telephone is not set."""
    p = overview.patient
    settings = settings_of(overview, clinic)
    require_phone_24h(settings, "card")
    require_confirmed_dose(overview, "emergency card")
    return Printout(
        card_html(overview),
        title="Emergency card",
        running_head=f"EMERGENCY CARD: {p.display_name}",
        head_keep=f", born {fmt_day(p.date_of_birth)}",
        training_mark=TRAINING_MARK if settings.training else "",
        clinic=settings,
        margin_mm=3,
        page_mm=WALLET_CARD_MM,
        head_pt=5,
        on_sheet=on_sheet,
    )


def write_card_pdf(
    overview: PumpOverview,
    path: str | Path,
    clinic: ClinicSettings | None = None,
    *,
    on_sheet: bool = False,
) -> Path:
    """Write the card as a PDF at ``path`` (two wallet-size pages, or one sheet with
    ``on_sheet``); returns the path. Raises :class:`~ui.printing.PrintRefused` (nothing
    written) as :func:`card_printout` does."""
    return save_pdf(card_printout(overview, clinic, on_sheet=on_sheet), path)


def print_emergency_card(
    window: Host, patient_id: int | None = None, *, now: datetime | None = None
) -> QPrintPreviewDialog | None:
    """File > Print emergency card... (Ctrl+Shift+E): the print preview of the open (or
    given) patient's card on the clinic's paper (front and back side by side at real size,
    with cut and fold lines), with "Save as PDF..." beside Print. Says why when there is no
    card to print (no pump, no reading of it yet, a dose not confirmed, no 24 h telephone)
    and returns None."""
    title = "Emergency card"
    found = overview_to_print(
        window, patient_id, now, title, "the card needs the drug and the dose in force"
    )
    if found is None:
        return None
    pid, overview = found
    clinic = window.clinic
    try:
        printout = card_printout(overview, clinic.settings, on_sheet=True)
    except PrintRefused as exc:
        window.prompts.error(title, str(exc))
        return None
    try:
        clinic.record_action(
            "emergency_card_printed", {"patient_id": pid, "pump": overview.pump.serial}
        )
    except StoreError as exc:
        window.prompts.error(title, f"{exc} Nothing was printed.")
        return None
    window.show_status(f"Emergency card: {clinic_contact_text(clinic.settings)}", 6000)
    return show_print_preview(
        window.host_widget(),
        printout,
        suggested_name=f"emergency-card-{overview.pump.serial}.pdf",
    )


__all__ = [
    "OVERDOSE_SIGNS",
    "WITHDRAWAL_SIGNS",
    "card_html",
    "card_printout",
    "maximum_text",
    "print_emergency_card",
    "require_confirmed_dose",
    "write_card_pdf",
]
