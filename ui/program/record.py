"""The printed program-change record: current and new program side by side with what the
pump read back, the change in mcg/24 h and %, every limit met or overridden (with the
reasons and the second clinician), the outcome, who sent it, on one page.

Why a record on paper: the clinic files what was programmed and why (the pump's own finish
screen is gone once the programmer is closed). Every figure comes from its home: the rows
and the change are the review's (:func:`itbconsole.services.programming.review_rows`,
:func:`~itbconsole.services.programming.program_rows`,
:func:`~itbconsole.services.programming.change_text`), the findings and reasons are the
:class:`~itbconsole.services.programming.ApprovedChange`'s; this module computes nothing,
it lays them out through :mod:`ui.printing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from html import escape
from pathlib import Path

from itbconsole.display import fmt_day, fmt_moment
from itbconsole.model import ChangeOutcome, Patient, Program, SecondCheck, User
from itbconsole.services import programming as svc
from itbconsole.settings import ClinicSettings
from ui.printing import Printout, save_pdf

TRAINING_MARK = "TRAINING - simulated pump and generated records: not a patient's record"

#: What the pump's answer means, in the Result page's words (the page and the record agree).
OUTCOME_TITLES: dict[ChangeOutcome, str] = {
    ChangeOutcome.SUCCEEDED: "Program sent and verified",
    ChangeOutcome.FAILED: "Program NOT changed",
    ChangeOutcome.UNCERTAIN: "UNCERTAIN: the pump may or may not run the new program",
}
#: Before the change's figures when the pump does not (or may not) run them: the record
#: leads with the outcome, and the change reads as tried, not as applied.
ATTEMPTED_TEXT: dict[ChangeOutcome, str] = {
    ChangeOutcome.FAILED: "Attempted (not applied):",
    ChangeOutcome.UNCERTAIN: "Attempted (outcome unknown):",
}
READBACK_TEXT: dict[ChangeOutcome, str] = {
    ChangeOutcome.SUCCEEDED: "The program read back from the pump is identical to the program "
    "sent (the last column).",
    ChangeOutcome.FAILED: "The pump keeps its previous program.",
    ChangeOutcome.UNCERTAIN: "Not confirmed: the change stays flagged until the pump is read "
    "again.",
}


@dataclass(frozen=True)
class ProgramChangeRecord:
    """What the record prints: the approved change (record, check, reasons, second
    clinician), who sent it, and what the pump answered and read back."""

    patient: Patient
    approved: svc.ApprovedChange
    sender: User
    outcome: ChangeOutcome
    message: str
    readback: Program | None
    tz: tzinfo
    training: bool = False
    record_id: int | None = None

    @property
    def check(self) -> svc.ProgramCheck:
        return self.approved.check

    @property
    def running_head(self) -> str:
        """What the record is and whose (the name may be shortened on the page)."""
        return f"Program change: {self.patient.display_name}"

    @property
    def head_keep(self) -> str:
        """The rest of the running head, never shortened: date of birth, hospital number."""
        p = self.patient
        return f", born {fmt_day(p.date_of_birth)}, hospital no. {p.hospital_number}"


def second_clinician_text(record: ProgramChangeRecord) -> str:
    """Who confirmed a severe override, as recorded (or why nobody had to)."""
    second = record.approved.second_clinician
    if isinstance(second, SecondCheck):
        return (
            f"{second.name} ({second.role.value}), confirmed with their own password at "
            f"{fmt_moment(second.at, record.tz)}"
        )
    if second.strip():
        return f"{' '.join(second.split())} (name recorded)"
    return "not needed: no override needed a second clinician"


def limits_html(record: ProgramChangeRecord) -> str:
    """Each limit the change met or overrode, with the reason given, and the warnings
    shown; or that it was within every drug-library limit."""
    check = record.check
    items = []
    for finding in check.soft:
        reason = record.approved.override_reasons.get(finding.key, "").strip()
        items.append(
            f"<li><b>Overridden:</b> {escape(finding.message)}<br/>"
            f"<b>Reason:</b> {escape(reason or '-')}</li>"
        )
    for finding in check.warnings:
        items.append(f"<li><b>Warning shown:</b> {escape(finding.message)}</li>")
    product = check.product.label if check.product else "no drug-library product"
    if not check.soft:
        head = f"<p>Within every drug-library limit for {escape(product)}.</p>"
    else:
        head = f"<p>Limits of {escape(product)}:</p>"
    return head + (f"<ul>{''.join(items)}</ul>" if items else "")


def _cell(text: str) -> str:
    return "<br/>".join(escape(line) for line in text.splitlines()) or "-"


def side_by_side_html(record: ProgramChangeRecord) -> str:
    """The review's rows (current, new) with the read-back beside the new program; a
    read-back row that differs from what was sent is marked."""
    check = record.check
    read = (
        svc.program_rows(record.readback, check.concentration_mcg_ml)
        if record.readback is not None
        else {}
    )
    rows = []
    for row in svc.review_rows(check, record.tz):
        back = read.get(row.label)
        differs = back is not None and back != row.pending
        changed = " class='changed'" if row.changed else ""
        back_cell = "-" if back is None else _cell(back) + (" <b>(differs)</b>" if differs else "")
        style = " class='differs'" if differs else ""
        rows.append(
            f"<tr><td class='k'>{escape(row.label)}</td><td>{_cell(row.current)}</td>"
            f"<td{changed}>{_cell(row.pending)}</td><td{style}>{back_cell}</td></tr>"
        )
    return (
        "<table width='100%' cellspacing='0'><thead><tr><th width='24%'></th>"
        "<th width='25%'>Current</th><th width='25%'>New (sent)</th>"
        "<th width='26%'>Read back from the pump</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def program_change_html(record: ProgramChangeRecord, *, marked_pages: bool = True) -> str:
    """The record as HTML (the TRAINING mark is painted on every page by ui.printing, or
    written at the top when ``marked_pages`` is False)."""
    check, change = record.check, record.approved.change
    training = (
        f"<p class='warn'><b>{TRAINING_MARK}</b></p>"
        if record.training and not marked_pages
        else ""
    )
    p = record.patient
    current_total = svc.program_rows(check.state.program, check.state.concentration_mcg_ml)
    new_total = svc.program_rows(check.new, check.concentration_mcg_ml)
    total = "Total per 24 h"
    change_words = svc.change_text(check.change)
    if check.change.note:
        change_words += f" ({check.change.note})"
    readback = READBACK_TEXT[record.outcome]
    if record.readback is None:
        readback += " Nothing was read back."
    stored = f" &middot; record {record.record_id}" if record.record_id else ""
    outcome = (
        f"<p class='big'>{escape(OUTCOME_TITLES[record.outcome])}</p>"
        f"<p>{escape(record.message)}</p>"
    )
    attempted = ATTEMPTED_TEXT.get(record.outcome, "")
    outcome_first, outcome_after = (outcome, "") if attempted else ("", outcome)
    attempted = f"{escape(attempted)} " if attempted else ""
    return f"""
<html><head><style>
body {{ font-family: sans-serif; font-size: 8.5pt; }}
h1 {{ font-size: 13pt; margin-bottom: 2px; }}
h2 {{ font-size: 10pt; margin-top: 8px; margin-bottom: 3px; color: #1b2a3a; }}
p {{ margin-top: 2px; margin-bottom: 2px; }}
th {{ text-align: left; background: #e8edf2; padding: 2px 5px; }}
td {{ padding: 2px 5px; vertical-align: top; border-bottom: 1px solid #c9d3dd; }}
td.k {{ color: #3b4b5c; }}
td.changed {{ font-weight: bold; }}
td.differs {{ color: #8a1020; font-weight: bold; }}
.warn {{ color: #8a1020; }}
.big {{ font-size: 11pt; font-weight: bold; }}
ul {{ margin-top: 0px; margin-bottom: 0px; }}
</style></head><body>
{training}<h1>Intrathecal baclofen pump: program change</h1>
<p>{fmt_moment(change.at, record.tz)} &middot; sent by
{escape(record.sender.name)} ({escape(record.sender.role.value)}){stored}</p>
<table cellspacing='0'>
<tr><td class='k'>Patient</td><td>{escape(p.display_name)}, born {fmt_day(p.date_of_birth)},
hospital no. {escape(p.hospital_number)}{
        f", NHS no. {escape(p.nhs_number)}" if p.nhs_number else ""
    }</td></tr>
<tr><td class='k'>Pump</td><td>{escape(change.pump_serial)} at {
        check.concentration_mcg_ml
    } mcg/mL</td></tr>
</table>
{outcome_first}<p class='big'>{attempted}{escape(current_total[total])} &rarr; {
        escape(new_total[total])
    }:
{escape(change_words)}</p>
{outcome_after}
<h2>Current and new program</h2>
{side_by_side_html(record)}
<p>{escape(readback)}</p>
<h2>Limits</h2>
{limits_html(record)}
<p><b>Second clinician:</b> {escape(second_clinician_text(record))}</p>
<h2>Reason for the change</h2>
<p>{escape(change.reason)}</p>
<p style='margin-top: 14px'>Clinician: {escape(record.sender.name)} &nbsp;&nbsp;
Signature: ______________________</p>
</body></html>"""


def program_change_printout(
    record: ProgramChangeRecord, clinic: ClinicSettings | None = None
) -> Printout:
    """The record on the clinic's paper, the patient on every page (ui.printing)."""
    return Printout(
        program_change_html(record),
        title=f"Program change {record.approved.change.at.astimezone(record.tz):%Y-%m-%d %H:%M}",
        running_head=record.running_head,
        head_keep=record.head_keep,
        training_mark=TRAINING_MARK if record.training else "",
        clinic=clinic,
    )


def write_program_change_pdf(
    record: ProgramChangeRecord, path: str | Path, clinic: ClinicSettings | None = None
) -> Path:
    """Write the record as a PDF at ``path`` and return the path."""
    return save_pdf(program_change_printout(record, clinic), path)


def suggested_file_name(record: ProgramChangeRecord) -> str:
    change = record.approved.change
    return f"program-change-{change.pump_serial}-{change.at.astimezone(record.tz):%Y%m%d-%H%M}.pdf"


__all__ = [
    "ATTEMPTED_TEXT",
    "OUTCOME_TITLES",
    "ProgramChangeRecord",
    "program_change_html",
    "program_change_printout",
    "write_program_change_pdf",
]
