"""The printable refill record: a one-page PDF written with Qt's own PDF writer.

Why Qt and not a PDF library: the console already ships Qt, and ``QTextDocument`` lays out
a table of plain text reliably on any machine. The content comes from
:meth:`itbconsole.services.refill.RefillSession.printable`; this module only lays it out.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from itbconsole.model import RefillStatus
from itbconsole.services.refill import PrintableRefill
from itbconsole.settings import ClinicSettings
from ui.printing import Printout, save_pdf


def refill_record_html(record: PrintableRefill, *, marked_pages: bool = False) -> str:
    """The record as simple HTML (also used for the on-screen summary)."""

    def rows(items: list[tuple[str, str]]) -> str:
        return "".join(
            f"<tr><td class='k'>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in items
        )

    def side_by_side(*sections: tuple[str, list[tuple[str, str]]]) -> str:
        """Sections next to each other, so the record keeps to one page."""
        cells = "".join(
            f"<td width='50%' class='col'><h2>{escape(title)}</h2><table>{rows(items)}</table></td>"
            for title, items in sections
        )
        return f"<table width='100%' cellspacing='0'><tr>{cells}</tr></table>"

    status_text: dict[str, str] = {
        RefillStatus.CONFIRMED: "Confirmed: the pump recorded the refill and it was read back.",
        RefillStatus.PENDING: "PENDING: the pump update could not be confirmed. Interrogate the pump "
        "again; the next interrogation settles this record.",
        RefillStatus.FAILED: "FAILED: the pump did not take the update. Update the pump again.",
    }
    status = status_text.get(record.status, record.status)
    warnings = "".join(f"<p class='warn'>{escape(w)}</p>" for w in record.warnings)
    # On paper the TRAINING mark is drawn at the top of every page (``marked_pages``).
    training = (
        f"<p class='warn'><b>{TRAINING_MARK}</b></p>"
        if record.training and not marked_pages
        else ""
    )
    anchor = (
        f"<p style='font-size: 8pt; color: #555'>Audit trail at printing: "
        f"{escape(record.audit_head)}</p>"
        if record.audit_head
        else ""
    )
    note = (
        f"<p><b>Discrepancy note:</b> {escape(record.discrepancy_note)}</p>"
        if record.discrepancy_note
        else ""
    )
    brand = f"<p><b>{escape(record.brand_change)}</b></p>" if record.brand_change else ""
    return f"""
<html><head><style>
body {{ font-family: sans-serif; font-size: 9.5pt; }}
h1 {{ font-size: 13pt; margin-bottom: 2px; }}
h2 {{ font-size: 10.5pt; margin-top: 7px; margin-bottom: 2px; color: #1b2a3a; }}
p {{ margin-top: 3px; margin-bottom: 3px; }}
td {{ padding: 1px 8px 1px 0; vertical-align: top; }}
td.k {{ color: #3b4b5c; width: 38%; }}
td.col {{ padding: 0 10px 0 0; }}
.warn {{ color: #8a1020; }}
.status {{ font-weight: bold; }}
</style></head><body>
{training}<h1>Intrathecal baclofen pump refill</h1>
<p>{escape(record.refill_at)} &middot; performed by {escape(record.performed_by)}</p>
<p class='status'>{escape(status)}</p>
{
        side_by_side(
            (
                "Patient",
                [
                    ("Name", record.patient_name),
                    ("Date of birth", record.date_of_birth),
                    ("Hospital number", record.hospital_number),
                    ("NHS number", record.nhs_number),
                ],
            ),
            (
                "Pump",
                [
                    ("Serial", record.pump_serial),
                    ("Model", record.pump_model),
                    *([("Make", record.pump_make)] if record.pump_make else []),
                    ("Reservoir capacity", record.capacity),
                ],
            ),
        )
    }
<h2>Volumes</h2>
<table>{
        rows(
            [
                ("Withdrawn", record.withdrawn),
                ("Expected residual", record.expected_residual),
                ("Discrepancy", record.discrepancy),
                ("Delivery accuracy", record.accuracy),
                ("Added", record.added),
                ("New reservoir volume", record.new_volume),
            ]
        )
    }</table>
<p>{escape(record.discrepancy_meaning)}</p>
{note}
{
        side_by_side(
            (
                "Drug",
                [
                    ("Product", record.product),
                    ("Concentration", record.concentration),
                    ("Lot", record.lot),
                    ("Expiry", record.expiry),
                    ("GTIN", record.gtin),
                    ("Bridge bolus", record.bridge),
                ],
            ),
            (
                "Program in force after the refill",
                [
                    ("Program", record.program),
                    ("Dose per 24 h", record.daily_dose),
                    ("Maximum 24 h dose", record.max_dose),
                ],
            ),
        )
    }
{brand}
<h2>Next</h2>
<table>{
        rows(
            [
                ("Low-reservoir alarm", record.alarm_date),
                (record.refill_by_label, f"{record.refill_by} ({record.refill_by_rule})"),
            ]
        )
    }</table>
{warnings}
<p style='margin-top: 14px'>Performed by: {
        escape(record.performed_by)
    } &nbsp;&nbsp; Signature: ______________________</p>
<p style='margin-top: 10px'>Second check (drug, concentration, volume and pump update), name and
role: ______________________ &nbsp;&nbsp; Signature: ______________________</p>
{anchor}
</body></html>"""


TRAINING_MARK = "TRAINING - simulated pump and generated records: not a patient's record"


def refill_printout(record: PrintableRefill, clinic: ClinicSettings | None = None) -> Printout:
    """The record as a :class:`~ui.printing.Printout` on the clinic's paper: the patient's
    name, date of birth and hospital number with the page number on every page, the
    clinic's contact at the foot, and a training record's TRAINING mark on every page. The
    title in a PDF's metadata, seen in file lists and indexes, names no patient."""
    return Printout(
        refill_record_html(record, marked_pages=record.training),
        title=f"Refill record {record.refill_at}",
        # A long name is shortened, never the date of birth or the hospital number.
        running_head=f"Refill record: {record.patient_name}",
        head_keep=f", born {record.date_of_birth}, hospital no. {record.hospital_number}",
        training_mark=TRAINING_MARK if record.training else "",
        clinic=clinic,
        margin_mm=12,
    )


def write_refill_pdf(
    record: PrintableRefill, path: str | Path, clinic: ClinicSettings | None = None
) -> Path:
    """Write the record as a PDF at ``path`` (:func:`refill_printout`) and return the path.
    Without ``clinic`` (the clinic's settings) the page is A4 and its foot says the clinic
    contact is not set."""
    return save_pdf(refill_printout(record, clinic), path)
