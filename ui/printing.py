"""Every printout's page: one writer for the refill record, the program-change record, the
clinic-day list, the emergency card and the travel letter, on paper or in a PDF.

Why one: a loose page must say what it is, whose it is and whom to call. Each page carries,
above the content, the TRAINING mark when the records are a demo's, and a running head (what
the document is and whose: a patient's name, date of birth and hospital number on a
patient's record) with "page n of N"; below it the clinic's name and 24 h telephone from the
clinic settings (or, until they are set, "Clinic contact not set - ask the clinic", never a
blank). The paper (A4 or US Letter) is the clinic's setting.

The foot band is as tall as its text: the 24 h telephone has the first line to itself (with
the clinic's name when both fit), the rest (name, address) wraps below it, measured, so a
long address never pushes the number out of the page or draws it over the content. In the
running head the patient's name is shortened with an ellipsis when the line is too long;
what identifies the patient beyond doubt (``head_keep``: date of birth, hospital number)
and the page number are never cut or overlapped.

A :class:`Printout` is painted by one renderer (:meth:`Printout.render`) onto any paged
device: the PDF writer behind "Save as PDF" and the printer behind Qt's print preview
(:func:`show_print_preview`), so the paper and the file are the same pages. A PDF file is
owner-only (it holds patient data) and its title metadata, which file lists and indexes
show, names no patient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QTextDocument,
)
from PySide6.QtPrintSupport import QPrintPreviewDialog, QPrintPreviewWidget
from PySide6.QtWidgets import QMessageBox, QToolBar, QWidget

from itbconsole.paths import make_private
from itbconsole.settings import ClinicSettings
from ui.dialogs import ask_save_path

if TYPE_CHECKING:
    from itbconsole.services.overview import PumpOverview
    from ui.host import Host

TRAINING_COLOUR = "#8a1020"
HEAD_COLOUR = "#3b4b5c"
CONTACT_NOT_SET = "Clinic contact not set - ask the clinic"

#: The clinic's paper setting (itbconsole.settings.PAPER_SIZES) as Qt's page sizes.
PAGE_SIZES = {"A4": QPageSize.PageSizeId.A4, "Letter": QPageSize.PageSizeId.Letter}
#: A wallet card (ISO/IEC 7810 ID-1, a credit card's size), landscape.
WALLET_CARD_MM = (85.6, 54.0)
#: The margin of a sheet that carries cards (an office printer's unprintable edge).
SHEET_MARGIN_MM = 12.0
CARD_SHEET_NOTE = (
    "Print at actual size (100 %, not fit to page). Cut along the dashed line, fold along "
    "the dotted line so the front and the back face out, and laminate."
)


class PrintRefused(ValueError):
    """A printout that must not be printed now, with the reason and what to do in words
    (shown to the user as it is)."""


def require_phone_24h(settings: ClinicSettings, what: str) -> None:
    """Refuse ``what`` (a card, a letter: paper the patient carries) while the clinic's
    24 h telephone is not set: a patient found confused would carry nobody to call."""
    if not settings.clinic_phone_24h.strip():
        raise PrintRefused(
            f"The clinic's 24 h telephone is not set, and a {what} the patient carries must "
            "say whom to call at any hour. Set it in Tools > Clinic settings, then print."
        )


def contact_lines(settings: ClinicSettings | None) -> tuple[str, str]:
    """The contact line of :func:`clinic_contact_text` in two parts: the 24 h telephone
    (first, never cut) and the rest (the clinic's name and address). Without a telephone
    the first part says so (:data:`CONTACT_NOT_SET`)."""
    s = settings or ClinicSettings()
    name = s.clinic_name.strip()
    phone = s.clinic_phone_24h.strip()
    if not phone:
        first = f"{name}: {CONTACT_NOT_SET}" if name else CONTACT_NOT_SET
        return first, s.clinic_address.strip() if name else ""
    rest = " \u00b7 ".join(t for t in (name, s.clinic_address.strip()) if t)
    return f"24 h contact: {phone}", rest


def clinic_contact_text(settings: ClinicSettings | None) -> str:
    """The clinic's line on every printout: its name, "24 h:" and the telephone, and the
    address line if any. Without a telephone it says so (:data:`CONTACT_NOT_SET`), since a
    card or a letter with no number to call is worse than one that says to ask."""
    s = settings or ClinicSettings()
    name = s.clinic_name.strip()
    phone = s.clinic_phone_24h.strip()
    if not phone:
        return f"{name}: {CONTACT_NOT_SET}" if name else CONTACT_NOT_SET
    parts = [name] if name else []
    parts.append(f"24 h contact: {phone}")
    if s.clinic_address.strip():
        parts.append(s.clinic_address.strip())
    return " \u00b7 ".join(parts)


def page_size_of(settings: ClinicSettings | None) -> QPageSize:
    """The clinic's paper (A4 when no settings are given)."""
    paper = (settings or ClinicSettings()).paper_size
    return QPageSize(PAGE_SIZES.get(paper, QPageSize.PageSizeId.A4))


@dataclass(frozen=True)
class Printout:
    """One document ready to paint: its HTML, what its pages carry around it, and its paper.

    ``title`` goes into a PDF's metadata (no patient name); ``running_head`` is printed at
    the top of every page with the page number, followed by ``head_keep`` (never shortened:
    the running head's own text is, when the line is too long), ``training_mark`` (if any)
    above it in red;
    ``clinic`` gives the contact line at the foot of every page and the paper size;
    ``page_mm`` (width, height) replaces the clinic's paper for a card; with ``on_sheet``
    the card's pages are drawn at that size side by side on the clinic's paper instead, with
    a cut line around them and a fold line between them (an office printer holds paper,
    not cards)."""

    html: str
    title: str
    running_head: str
    training_mark: str = ""
    clinic: ClinicSettings | None = None
    margin_mm: float = 12
    page_mm: tuple[float, float] | None = None
    head_pt: float = 8
    on_sheet: bool = False
    head_keep: str = ""

    @property
    def contact(self) -> str:
        return clinic_contact_text(self.clinic)

    def page_layout(self) -> QPageLayout:
        m = self.margin_mm
        if self.page_mm is not None and not self.on_sheet:
            size = QPageSize(QSizeF(*self.page_mm), QPageSize.Unit.Millimeter, "Wallet card")
        else:
            size = page_size_of(self.clinic)
            m = SHEET_MARGIN_MM if self.on_sheet else m
        return QPageLayout(
            size,
            QPageLayout.Orientation.Portrait,
            QMarginsF(m, m, m, m),
            QPageLayout.Unit.Millimeter,
        )

    def prepare(self, device: QPagedPaintDevice) -> None:
        """Give ``device`` this printout's paper and margins (before painting)."""
        device.setPageLayout(self.page_layout())

    def render(self, device: QPagedPaintDevice) -> int:
        """Paint every page onto ``device`` (a PDF writer or a printer) with whatever page
        layout it has, and return the number of pages. Raises OSError when the device
        cannot be painted on (a file that cannot be written)."""
        doc = QTextDocument()
        doc.setHtml(self.html)
        painter = QPainter()
        if not painter.begin(device):
            raise OSError("Could not print. Choose a folder you can save to, or another printer.")
        try:
            return self._paint_pages(device, painter, doc)
        finally:
            painter.end()

    def _paint_pages(self, device: QPagedPaintDevice, painter: QPainter, doc: QTextDocument) -> int:
        # The document lays out in screen units (96 per inch); the device draws at its own
        # resolution. The head and foot bands are sized from their font, so a wallet card
        # and an A4 letter both get readable bands.
        dpi = device.logicalDpiY()
        scale = dpi / 96
        line_h = self.head_pt / 72 * dpi * 1.5
        head_h = line_h * (2 if self.training_mark else 1) + line_h * 0.3
        width, height = float(device.width()), float(device.height())
        per_sheet, card, inset = 1, QSizeF(width, height), 0.0
        if self.on_sheet and self.page_mm is not None:
            # Cards at their real size, side by side from the sheet's top left corner.
            per_mm = dpi / 25.4
            card = QSizeF(self.page_mm[0] * per_mm, self.page_mm[1] * per_mm)
            inset = self.margin_mm * per_mm
            width, height = card.width() - 2 * inset, card.height() - 2 * inset
            per_sheet = 2
        font = QFont(painter.font())
        font.setPointSizeF(self.head_pt)
        bold = QFont(font)
        bold.setBold(True)
        first, rest = self._foot_lines(QFontMetricsF(bold, device), width)
        wrap = int(Qt.TextFlag.TextWordWrap)
        rest_h = 0.0
        if rest:
            # Measured as it will be drawn (wrapped to the width), so the band holds it all.
            bounds = QFontMetricsF(font, device).boundingRect(
                QRectF(0, 0, width, height), wrap, rest
            )
            rest_h = bounds.height()
        foot_h = line_h * 1.3 + rest_h
        page = QSizeF(width / scale, (height - head_h - foot_h) / scale)
        if page.height() <= 0:
            raise PrintRefused("The clinic's contact is too long to fit the page's foot.")
        doc.setPageSize(page)
        pages = doc.pageCount()
        left, right = int(Qt.AlignmentFlag.AlignLeft), int(Qt.AlignmentFlag.AlignRight)
        for n in range(pages):
            if n and n % per_sheet == 0:
                device.newPage()
            if per_sheet > 1 and n % per_sheet == 0:
                self._cut_and_fold(painter, card, min(per_sheet, pages - n), line_h)
            painter.save()
            painter.translate((n % per_sheet) * card.width() + inset, inset)
            top = 0.0
            if self.training_mark:
                painter.setFont(bold)
                painter.setPen(QColor(TRAINING_COLOUR))
                painter.drawText(QRectF(0, 0, width, line_h), left, self.training_mark)
                top = line_h
            painter.setFont(font)
            painter.setPen(QColor(HEAD_COLOUR))
            band = QRectF(0, top, width, line_h)
            number = f"page {n + 1} of {pages}"
            painter.drawText(
                band, left, self._head_text(QFontMetricsF(font, device), width, number)
            )
            painter.drawText(band, right, number)
            painter.setFont(bold)
            foot_top = height - line_h - rest_h
            # Never clipped: the bands are measured to hold their text.
            plain = left | int(Qt.TextFlag.TextDontClip)
            vcenter = int(Qt.AlignmentFlag.AlignVCenter)
            painter.drawText(QRectF(0, foot_top, width, line_h), plain | vcenter, first)
            if rest:
                painter.setFont(font)
                painter.drawText(QRectF(0, foot_top + line_h, width, rest_h), plain | wrap, rest)
            painter.translate(0, head_h)
            painter.scale(scale, scale)
            painter.translate(0, -n * page.height())
            doc.drawContents(painter, QRectF(0, n * page.height(), page.width(), page.height()))
            painter.restore()
        return pages

    def _foot_lines(self, metrics: QFontMetricsF, width: float) -> tuple[str, str]:
        """The foot's first line (the 24 h telephone, with the clinic's name after it when
        both fit) and the text wrapped below it."""
        first, rest = contact_lines(self.clinic)
        name = (self.clinic or ClinicSettings()).clinic_name.strip()
        if name and rest.startswith(name) and not first.startswith(name):
            joined = f"{first} \u00b7 {name}"
            if metrics.horizontalAdvance(joined) <= width:
                first, rest = joined, rest[len(name) :].lstrip(" \u00b7")
        return first, rest

    def _head_text(self, metrics: QFontMetricsF, width: float, number: str) -> str:
        """The running head as it fits beside the page number: the head's own text
        shortened with an ellipsis when needed, ``head_keep`` whole."""
        room = width - metrics.horizontalAdvance(number) - metrics.horizontalAdvance("  ")
        room -= metrics.horizontalAdvance(self.head_keep)
        head = metrics.elidedText(self.running_head, Qt.TextElideMode.ElideRight, max(room, 0))
        return head + self.head_keep

    def _cut_and_fold(self, painter: QPainter, card: QSizeF, cards: int, line_h: float) -> None:
        """The dashed cut line around the cards on a sheet, the fold line between them (fold
        so the front and the back face out) and how to make the card, below them."""
        painter.save()
        pen = QPen(QColor(HEAD_COLOUR))
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setWidthF(max(1.0, line_h / 20))
        painter.setPen(pen)
        painter.drawRect(QRectF(0, 0, card.width() * cards, card.height()))
        pen.setStyle(Qt.PenStyle.DotLine)
        painter.setPen(pen)
        for k in range(1, cards):
            painter.drawLine(QPointF(k * card.width(), 0), QPointF(k * card.width(), card.height()))
        font = QFont(painter.font())
        font.setPointSizeF(self.head_pt * 1.6)
        painter.setFont(font)
        below = QRectF(0, card.height() + line_h, card.width() * 2, line_h * 4)
        painter.drawText(below, int(Qt.TextFlag.TextWordWrap), CARD_SHEET_NOTE)
        painter.restore()


def save_pdf(printout: Printout, path: str | Path) -> Path:
    """Write ``printout`` as a PDF at ``path`` (``.pdf`` added if missing), owner-only, and
    return the path. Raises OSError when the file cannot be written."""
    target = Path(path)
    if target.suffix.lower() != ".pdf":
        target = target.with_suffix(".pdf")
    writer = QPdfWriter(str(target))
    writer.setTitle(printout.title)
    writer.setCreator("ITB Console")
    writer.setResolution(300)
    printout.prepare(writer)
    try:
        printout.render(writer)
    except OSError:
        raise OSError(f"Could not write {target}. Choose a folder you can save to.") from None
    make_private(target)
    return target


def write_pdf(
    html: str,
    path: str | Path,
    *,
    title: str,
    running_head: str,
    training_mark: str = "",
    margin_mm: float = 12,
    clinic: ClinicSettings | None = None,
) -> Path:
    """:func:`save_pdf` of a :class:`Printout` made of these parts (the clinic's paper,
    A4 without settings)."""
    return save_pdf(Printout(html, title, running_head, training_mark, clinic, margin_mm), path)


# ---------------------------------------------------------------------- on screen


def ask_pdf_path(parent: QWidget | None, suggested: str) -> str | None:
    """Ask where to save a PDF, starting in the documents folder (None: cancelled)."""
    return ask_save_path(parent, "Save as PDF", suggested, "PDF file (*.pdf)")


#: The save-dialog seam: tests replace it so no modal dialog opens.
AskPath = Callable[[QWidget | None, str], "str | None"]


def save_pdf_from(
    parent: QWidget | None,
    printout: Printout,
    suggested: str,
    *,
    ask_path: AskPath | None = None,
) -> Path | None:
    """Ask where (``ask_path``, default :func:`ask_pdf_path`, looked up when called so a
    test can replace it), then save; a failure is shown to the user and changes nothing."""
    path = (ask_path or ask_pdf_path)(parent, suggested)
    if not path:
        return None
    try:
        return save_pdf(printout, path)
    except OSError as exc:
        QMessageBox.warning(parent, "PDF not saved", str(exc))
        return None


def show_print_preview(
    parent: QWidget | None,
    printout: Printout,
    *,
    suggested_name: str = "printout.pdf",
    open_now: bool = True,
    ask_path: AskPath | None = None,
) -> QPrintPreviewDialog:
    """Qt's print preview of ``printout`` on the clinic's paper: print from its toolbar, or
    "Save as PDF..." (added to the same toolbar, the same pages). Opens window-modal without
    blocking (``open_now``); returns the dialog (find the printer as ``dialog.printer()``)."""
    # The dialog's own printer: it lives exactly as long as the dialog.
    dialog = QPrintPreviewDialog(parent)
    printer = dialog.printer()
    printer.setResolution(600)
    printer.setDocName(printout.title)
    printout.prepare(printer)
    dialog.setObjectName("printPreview")
    dialog.setWindowTitle(f"Print preview - {printout.title}")
    dialog.paintRequested.connect(printout.render)
    save = QAction("Save as PDF...", dialog)
    save.setObjectName("savePdf")
    save.setToolTip("Save these pages as a PDF file")
    save.triggered.connect(
        lambda: save_pdf_from(dialog, printout, suggested_name, ask_path=ask_path)
    )
    toolbar = dialog.findChild(QToolBar)
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(save)
    dialog.addAction(save)
    # Big enough to read the page without zooming: most of the screen, the page fitted in.
    screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        dialog.resize(int(area.width() * 0.8), int(area.height() * 0.9))
    preview = dialog.findChild(QPrintPreviewWidget)
    if preview is not None:
        preview.fitInView()
    if open_now:
        dialog.open()
    return dialog


__all__ = [
    "CONTACT_NOT_SET",
    "PAGE_SIZES",
    "WALLET_CARD_MM",
    "PrintRefused",
    "Printout",
    "ask_pdf_path",
    "clinic_contact_text",
    "contact_lines",
    "page_size_of",
    "require_phone_24h",
    "save_pdf",
    "save_pdf_from",
    "show_print_preview",
    "write_pdf",
]


def overview_to_print(
    window: Host, patient_id: int | None, now: datetime | None, title: str, needs: str
) -> tuple[int, PumpOverview] | None:
    """The open (or given) patient's pump overview for a printout about them, or None after
    saying why there is none (no patient open; no reading of the pump yet: ``needs`` says
    what the printout needs from it)."""
    pid = window.current_patient_id if patient_id is None else patient_id
    if pid is None:
        window.prompts.error(title, "Open the patient's record first.")
        return None
    overview = window.clinic.overview(pid, now or window.now())
    if overview is None:
        window.prompts.error(
            title,
            f"There is no reading of this patient's pump yet: {needs}. Interrogate the pump first.",
        )
        return None
    return pid, overview
