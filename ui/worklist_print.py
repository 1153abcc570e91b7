"""The printed clinic-day list: a PDF (A4 or US Letter, the clinic's paper) of the
worklist lines shown, written with Qt's own PDF writer (``QTextDocument`` lays out the
table, ``QPdfWriter`` writes it; no second PDF stack).

Every page carries the list's title, the clinic day and "page n of m", and, in a training
database, the TRAINING mark, so a loose page can never pass for a real clinic's list. The
lines come from :mod:`itbconsole.services.worklist`; this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape
from pathlib import Path

from itbconsole.clock import local_zone
from itbconsole.display import fmt_day, fmt_moment
from itbconsole.services.worklist import Category, WorkItem, Worklist
from itbconsole.settings import ClinicSettings
from ui.printing import write_pdf

TRAINING_MARK = "TRAINING - simulated pumps and generated records: not patients' records"

#: Lines whose category means act today are printed in the urgent colour.
URGENT = frozenset(
    {Category.NOT_DELIVERING, Category.CHECK_PUMP, Category.REFILL_OVERDUE, Category.DELIVERY_DRIFT}
)


def worklist_html(
    worklist: Worklist,
    items: Sequence[WorkItem],
    *,
    showing: str,
    printed_by: str,
    printed_at: datetime,
    tz: tzinfo | None = None,
) -> str:
    """The list as simple HTML: what it covers, then one table row per line, with a box to
    tick when the line is done. The time printed is in ``tz``, the clinic's zone (by
    default ``printed_at``'s own), with the zone's name. (The TRAINING mark is painted on
    every page by :func:`write_worklist_pdf`.)"""
    zone = tz or printed_at.tzinfo or local_zone()
    rows = "".join(
        "<tr>"
        "<td class='box'>&#9744;</td>"
        f"<td class='{'urgent' if i.category in URGENT else 'cat'}'>{escape(i.category.label)}</td>"
        f"<td class='day'>{escape(fmt_day(i.day)) if i.day else '-'}"
        f"<br/><span class='small'>{escape(i.day_is)}</span></td>"
        f"<td>{escape(i.patient)}<br/><span class='small'>{escape(i.hospital_number)}"
        f" &middot; pump {escape(i.pump_serial)}</span></td>"
        f"<td>{escape(i.reason)}</td>"
        "</tr>"
        for i in items
    )
    patients = len({i.patient_id for i in items})
    empty = "" if items else "<p><b>Nothing on the list for this day and window.</b></p>"
    return f"""
<html><head><style>
body {{ font-family: sans-serif; font-size: 9pt; }}
h1 {{ font-size: 14pt; margin-bottom: 2px; }}
p {{ margin-top: 2px; margin-bottom: 2px; }}
th {{ text-align: left; background: #e8edf2; padding: 3px 6px; }}
td {{ padding: 3px 6px; vertical-align: top; border-bottom: 1px solid #c9d3dd; }}
td.box {{ font-size: 12pt; }}
td.day {{ white-space: nowrap; }}
td.urgent {{ color: #8a1020; font-weight: bold; }}
td.cat {{ font-weight: bold; }}
.small {{ color: #3b4b5c; font-size: 8pt; }}
.warn {{ color: #8a1020; }}
</style></head><body>
<h1>{escape(worklist.title)}</h1>
<p>{escape(worklist.window_text)} Showing: {escape(showing)}.</p>
<p>{len(items)} line{"s" if len(items) != 1 else ""} for {patients}
patient{"s" if patients != 1 else ""}. Printed {escape(fmt_moment(printed_at, zone))}
by {escape(printed_by)}. Every date is the console's forecast on the day
printed; a pump interrogated since may have other dates.</p>
{empty}
<table width='100%' cellspacing='0'>
<thead><tr><th width='7%'>Done</th><th width='15%'>What</th><th width='11%'>Date</th>
<th width='19%'>Patient</th><th width='48%'>Why</th></tr></thead>
<tbody>{rows}</tbody>
</table>
</body></html>"""


def write_worklist_pdf(
    html: str,
    path: str | Path,
    *,
    title: str,
    training: bool,
    clinic: ClinicSettings | None = None,
) -> Path:
    """Write the list as a portrait PDF at ``path`` on the clinic's paper (ui.printing: the
    title and page number on every page, the clinic's contact at the foot, the TRAINING
    mark in training); returns the path. Raises OSError when the file cannot be written."""
    return write_pdf(
        html, path, title=title, running_head=title,
        training_mark=TRAINING_MARK if training else "", clinic=clinic,
    )  # fmt: skip


def print_worklist(
    worklist: Worklist,
    items: Sequence[WorkItem],
    path: str | Path,
    *,
    showing: str,
    printed_by: str,
    printed_at: datetime,
    clinic: ClinicSettings | None = None,
) -> Path:
    """The clinic-day list of ``items`` (the lines shown) as a PDF at ``path``, on the
    paper and with the contact and zone of ``clinic`` (the clinic's settings)."""
    html = worklist_html(
        worklist,
        items,
        showing=showing,
        printed_by=printed_by,
        printed_at=printed_at,
        tz=clinic.tz if clinic is not None else None,
    )
    return write_worklist_pdf(
        html, path, title=worklist.title, training=worklist.training, clinic=clinic
    )


__all__ = ["TRAINING_MARK", "print_worklist", "worklist_html", "write_worklist_pdf"]
