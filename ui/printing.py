"""Every printout's page: one writer for the refill record, the clinic-day list and what
comes next.

Why one: a loose page must say what it is and whose it is. Each page carries, above the
content, the TRAINING mark when the records are a demo's, and a running head (what the
document is and whose: a patient's name, date of birth and hospital number on a patient's
record) with "page n of N". The file is owner-only (it holds patient data) and its title
metadata, which file lists and indexes show, names no patient.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)

from itbconsole.paths import make_private

TRAINING_COLOUR = "#8a1020"
HEAD_COLOUR = "#3b4b5c"


def write_pdf(
    html: str,
    path: str | Path,
    *,
    title: str,
    running_head: str,
    training_mark: str = "",
    margin_mm: float = 12,
) -> Path:
    """Lay out ``html`` on A4 portrait pages at ``path`` (``.pdf`` added if missing) and
    return the path. ``title`` goes into the file's metadata (no patient name);
    ``running_head`` is printed at the top of every page with the page number;
    ``training_mark`` (if any) above it in red. Raises OSError when the file cannot be
    written."""
    target = Path(path)
    if target.suffix.lower() != ".pdf":
        target = target.with_suffix(".pdf")
    writer = QPdfWriter(str(target))
    writer.setTitle(title)
    writer.setCreator("ITB Console")
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(margin_mm, margin_mm, margin_mm, margin_mm),
            QPageLayout.Unit.Millimeter,
        )
    )
    doc = QTextDocument()
    doc.setHtml(html)
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"Could not write {target}. Choose a folder you can save to.")
    # Page by page, so the head (and the mark) is on every page. The document lays out in
    # screen units (96 per inch); the writer draws at its own resolution.
    scale = writer.resolution() / 96
    line_h = writer.height() * 0.025
    head_h = line_h * (2 if training_mark else 1) + line_h * 0.4
    page = QSizeF(writer.width() / scale, (writer.height() - head_h) / scale)
    doc.setPageSize(page)
    pages = doc.pageCount()
    font = QFont(painter.font())
    font.setPointSizeF(8)
    bold = QFont(font)
    bold.setBold(True)
    for n in range(pages):
        if n:
            writer.newPage()
        painter.save()
        top = 0.0
        if training_mark:
            painter.setFont(bold)
            painter.setPen(QColor(TRAINING_COLOUR))
            painter.drawText(QRectF(0, 0, writer.width(), line_h), training_mark)
            top = line_h
        painter.setFont(font)
        painter.setPen(QColor(HEAD_COLOUR))
        band = QRectF(0, top, writer.width(), line_h)
        painter.drawText(band, int(Qt.AlignmentFlag.AlignLeft), running_head)
        painter.drawText(band, int(Qt.AlignmentFlag.AlignRight), f"page {n + 1} of {pages}")
        painter.translate(0, head_h)
        painter.scale(scale, scale)
        painter.translate(0, -n * page.height())
        doc.drawContents(painter, QRectF(0, n * page.height(), page.width(), page.height()))
        painter.restore()
    painter.end()
    make_private(target)
    return target
