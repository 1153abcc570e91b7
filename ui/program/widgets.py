"""Building blocks of the program editor: a number field with its unit and its own error
line, the flex step table, and the 24-hour dose profile plot.

Why separate widgets: each one owns one way a dose can be mistyped (a number without its
unit, a step time that is not a time, a per-hour rate read as a per-day dose), and shows
the problem where it was typed. None of them holds a clinical rule: they parse, and the
programming service judges.
"""

from __future__ import annotations

from datetime import date, tzinfo
from decimal import Decimal
from fractions import Fraction

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from itbconsole import dosing
from itbconsole.model import MAX_FLEX_STEPS, MINUTES_PER_DAY, FlexStep, Program
from itbconsole.services import programming as svc
from itbconsole.units import QuantityError, decimal_mcg, parse_decimal, round_decimal

BLOCK_COLOUR = "#b00020"
SOFT_COLOUR = "#8a5a00"
BAD_CELL = QColor("#f8d7da")


def error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


class FieldError(ValueError):
    """Text in a field that cannot be used; the message goes next to the field."""


class UnitField(QWidget):
    """A line edit with its unit beside it and a message line under it."""

    changed = Signal()

    def __init__(self, name: str, unit: str, *, width: int = 110, placeholder: str = "") -> None:
        super().__init__()
        self.name = name
        self.edit = QLineEdit()
        self.edit.setMaximumWidth(width)
        self.edit.setAccessibleName(f"{name} in {unit}")
        self.edit.setPlaceholderText(placeholder)
        self.unit = QLabel(unit)
        self.error = error_label()
        self.error.setAccessibleName(f"{name} message")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit)
        row.addWidget(self.unit)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addLayout(row)
        box.addWidget(self.error)
        self.edit.textChanged.connect(lambda _t: self.changed.emit())

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def dose(self) -> Decimal:
        """A dose in mcg: a plain number, 0 or more, at most three decimals."""
        try:
            value = parse_decimal(self.edit.text(), field=self.name)
            if value < 0:
                raise FieldError(f"{self.name} cannot be negative.")
            return decimal_mcg(value)
        except QuantityError as exc:
            raise FieldError(str(exc)) from None

    def whole(self, low: int = 0, high: int = 100_000) -> int:
        """A whole number between ``low`` and ``high``."""
        text = self.edit.text().strip()
        if not text.isdigit():
            raise FieldError(f"{self.name}: '{self.edit.text()}' is not a whole number.")
        value = int(text)
        if not low <= value <= high:
            raise FieldError(f"{self.name} must be {low} to {high} {self.unit.text()}.")
        return value

    def show_message(self, message: str, colour: str = BLOCK_COLOUR) -> None:
        self.error.setText(message)
        self.error.setStyleSheet(f"color: {colour};")
        self.error.setVisible(bool(message))


def fmt_rate(value: Fraction | Decimal, places: int = 3) -> str:
    return str(round_decimal(Fraction(value), places))


class FlexTable(QWidget):
    """Up to 13 flex steps: start (pump clock), rate (mcg/h); the local time, end, dose and
    volume of each step are worked out beside them.

    Start times are typed and shown as **pump-clock** times; the pump keeps UTC. The local
    column says when that is on the wall clock today, so neither can be mistaken for the
    other.
    """

    changed = Signal()
    COLUMNS = (
        "Start\npump clock (UTC)",
        "Local time\ntoday",
        "Rate\n(mcg/h)",
        "Until\n(pump clock)",
        "Step dose\n(mcg)",
        "Volume rate\n(mL/h)",
    )
    START, LOCAL, RATE, UNTIL, DOSE, VOLUME = range(6)

    def __init__(self, name: str, tz: tzinfo, today: date, clock_offset_s: float = 0.0) -> None:
        super().__init__()
        self.name = name
        self.tz = tz
        self.today = today
        self.clock_offset_s = clock_offset_s
        self.concentration = 0
        self._updating = False
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setAccessibleName(f"{name}: flex steps")
        self.table.verticalHeader().setVisible(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.AnyKeyPressed
            | QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move inside
        self.table.setMinimumHeight(150)
        self.add_button = QPushButton("&Add step")
        self.add_button.setAccessibleName(f"{name}: add a flex step")
        self.remove_button = QPushButton("Remove step")
        self.remove_button.setAccessibleName(f"{name}: remove the selected flex step")
        self.error = error_label()
        self.error.setAccessibleName(f"{name}: flex step messages")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        self.add_button.clicked.connect(self.add_step)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemChanged.connect(self._item_changed)

    # ------------------------------------------------------------------ content

    def _item(self, text: str, editable: bool) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
        if editable:
            flags |= Qt.ItemFlag.ItemIsEditable
        item.setFlags(flags)
        return item

    def set_steps(self, steps: tuple[FlexStep, ...] | list[FlexStep]) -> None:
        self._updating = True
        self.table.setRowCount(0)
        for step in steps:
            self._append(svc.hhmm(step.start_minute), fmt_rate(step.rate_mcg_per_hour))
        self._updating = False
        self.refresh()

    def _append(self, start: str, rate: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, self.START, self._item(start, editable=row > 0))
        self.table.setItem(row, self.RATE, self._item(rate, editable=True))
        for col in (self.LOCAL, self.UNTIL, self.DOSE, self.VOLUME):
            self.table.setItem(row, col, self._item("", editable=False))

    def add_step(self) -> None:
        if self.table.rowCount() >= MAX_FLEX_STEPS:
            self._show(f"A flex day has at most {MAX_FLEX_STEPS} steps.")
            return
        last = self.table.rowCount() - 1
        start, rate = 0, "0"
        if last >= 0:
            try:
                start = min(svc.parse_hhmm(self.cell(last, self.START)) + 60, MINUTES_PER_DAY - 1)
            except svc.ProgrammingError:
                start = 0
            rate = self.cell(last, self.RATE)
        self._updating = True
        self._append(svc.hhmm(start), rate)
        self._updating = False
        self.table.setCurrentCell(self.table.rowCount() - 1, self.START)
        self.refresh()
        self.changed.emit()

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if row <= 0:
            self._show("The first step starts at 00:00 and stays; select a later step.")
            return
        self.table.removeRow(row)
        self.refresh()
        self.changed.emit()

    def cell(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item is not None else ""

    def set_cell(self, row: int, col: int, text: str) -> None:
        """Type into a cell as the user would (tests and keyboard entry)."""
        item = self.table.item(row, col)
        assert item is not None
        item.setText(text)

    def _item_changed(self, _item: QTableWidgetItem) -> None:
        if self._updating:
            return
        self.refresh()
        self.changed.emit()

    def _show(self, message: str) -> None:
        self.error.setText(message)
        self.error.setStyleSheet(f"color: {BLOCK_COLOUR};")
        self.error.setVisible(bool(message))

    # ------------------------------------------------------------------ parsing

    def steps(self) -> tuple[FlexStep, ...]:
        """The steps as typed, or FieldError naming the step and what is wrong. Each bad
        cell is coloured so it can be found without reading the message."""
        problems: list[str] = []
        steps: list[FlexStep] = []
        self._updating = True
        try:
            for row in range(self.table.rowCount()):
                for col in (self.START, self.RATE):
                    item = self.table.item(row, col)
                    if item is not None:
                        item.setBackground(QColor(0, 0, 0, 0))
                try:
                    start = svc.parse_hhmm(self.cell(row, self.START))
                except svc.ProgrammingError as exc:
                    problems.append(f"Step {row + 1} start: {exc}")
                    self._mark(row, self.START)
                    continue
                try:
                    rate = parse_decimal(self.cell(row, self.RATE), field=f"Step {row + 1} rate")
                    if rate < 0:
                        raise QuantityError(f"Step {row + 1} rate cannot be negative")
                    rate = decimal_mcg(rate)
                except QuantityError as exc:
                    problems.append(f"{exc} (mcg/h).")
                    self._mark(row, self.RATE)
                    continue
                steps.append(FlexStep(start, rate))
            if not problems:
                starts = [s.start_minute for s in steps]
                if starts and starts[0] != 0:
                    problems.append("The first step must start at 00:00.")
                for i in range(1, len(starts)):
                    if starts[i] <= starts[i - 1]:
                        problems.append(
                            f"Step {i + 1} starts at {svc.hhmm(starts[i])}, not after step {i}"
                            f" ({svc.hhmm(starts[i - 1])}): put the steps in time order."
                        )
                        self._mark(i, self.START)
                if not steps:
                    problems.append("Add at least one step.")
        finally:
            self._updating = False
        if problems:
            raise FieldError(" ".join(problems))
        return tuple(steps)

    def _mark(self, row: int, col: int) -> None:
        item = self.table.item(row, col)
        if item is not None:
            item.setBackground(BAD_CELL)

    def refresh(self) -> None:
        """Work out the local time, end, dose and volume of every step; show problems."""
        try:
            steps = self.steps()
        except FieldError as exc:
            self._show(str(exc))
            return
        self._show("")
        locals_ = svc.local_equivalents(steps, self.today, self.tz, self.clock_offset_s)
        rates = dosing.flex_step_rates(steps, self.concentration) if self.concentration > 0 else ()
        self._updating = True
        for row in range(len(steps)):
            end = steps[row + 1].start_minute if row + 1 < len(steps) else MINUTES_PER_DAY
            self.table.item(row, self.LOCAL).setText(locals_[row])  # type: ignore[union-attr]
            self.table.item(row, self.UNTIL).setText(svc.hhmm(end))  # type: ignore[union-attr]
            dose = self.table.item(row, self.DOSE)
            volume = self.table.item(row, self.VOLUME)
            assert dose is not None and volume is not None
            if rates:
                dose.setText(f"{fmt_rate(rates[row].step_mcg, 2)}")
                volume.setText(f"{fmt_rate(rates[row].rate_ml_per_hour, 4)}")
            else:
                dose.setText("")
                volume.setText("")
        self._updating = False


class ProfilePlot(QWidget):
    """The 24-hour dose profile, mcg/h against pump-clock hours: current (grey, dashed)
    and pending (blue), plus the pending weekday schedule when there is one (orange). The
    key is a line of text above the plot, so it never covers a curve."""

    def __init__(self) -> None:
        # Imported here, not at the top: the plotting library costs about 130 ms to import
        # and the main window starts without it (the editor's other widgets do not need it).
        import pyqtgraph as pg

        super().__init__()
        self.setAccessibleName("24-hour dose profile, current and pending")
        self.key = QLabel()
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setAccessibleName("Profile key")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(150)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "Pump clock (UTC), hours")
        item.setLabel("left", "Dose rate (mcg/h)")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setXRange(0, 24, padding=0.01)
        item.getAxis("bottom").setTicks([[(h, f"{h:02d}") for h in range(0, 25, 3)]])
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        grey = pg.mkPen("#7a7a7a", width=2, style=Qt.PenStyle.DashLine)
        blue = pg.mkPen("#1f5fbf", width=3)
        orange = pg.mkPen("#c26100", width=2, style=Qt.PenStyle.DotLine)
        self.pending = item.plot([0, 24], [0], stepMode="center", pen=blue)
        self.weekday = item.plot([0, 24], [0], stepMode="center", pen=orange)
        self.current = item.plot([0, 24], [0], stepMode="center", pen=grey)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.key)
        layout.addWidget(self.plot, 1)

    def show_programs(self, current: Program, pending: Program | None) -> None:
        x, y = svc.profile(current)
        self.current.setData(x, y, stepMode="center")
        top = max(y)
        key = [
            "<span style='color:#1f5fbf'><b>\u2501 pending</b></span>",
            "<span style='color:#7a7a7a'><b>- - current</b></span>",
        ]
        self.weekday.setVisible(False)
        if pending is not None:
            x, y = svc.profile(pending)
            self.pending.setData(x, y, stepMode="center")
            top = max(top, max(y))
            if pending.flex_weekday_steps:
                days = ", ".join(svc.WEEKDAYS[d] for d, _ in pending.flex_weekday_steps)
                x, y = svc.profile(pending, pending.flex_weekday_steps[0][0])
                self.weekday.setData(x, y, stepMode="center")
                self.weekday.setVisible(True)
                top = max(top, max(y))
                key.insert(
                    1,
                    f"<span style='color:#c26100'><b>\u00b7\u00b7\u00b7 pending on "
                    f"{days}</b></span>",
                )
        else:
            self.pending.setData([0, 24], [0], stepMode="center")
            key[0] = "<span style='color:#b00020'>pending: correct the marked fields</span>"
        self.key.setText("Dose profile over 24 h: " + " &nbsp; ".join(key))
        self.plot.getPlotItem().setYRange(0, max(top * 1.15, 1), padding=0)
