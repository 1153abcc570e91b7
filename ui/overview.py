"""The Overview tab: the pump at a glance. Formats a :class:`PumpOverview`; computes nothing."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from itbconsole.alarms import Severity
from itbconsole.display import (
    fmt_clock_offset,
    fmt_day,
    fmt_days_from_today,
    fmt_dose_per_day,
    fmt_duration,
    fmt_local_day,
    fmt_moment,
    fmt_rate,
    fmt_volts,
)
from itbconsole.forecast import Bound, Status, action_by
from itbconsole.model import Pump
from itbconsole.services.overview import PumpOverview
from itbconsole.services.worklist import drift_of
from itbconsole.trends import Drift
from itbconsole.units import UL_PER_ML

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService

#: Badge style per status (style.qss keys); the label is the status's own.
STATUS_STYLE = {
    Status.OK: "ok",
    Status.DUE_SOON: "soon",
    Status.OVERDUE: "urgent",
    Status.NOT_DELIVERING: "stopped",
    Status.ATTENTION: "urgent",
    Status.NO_DATA: "soon",
}


def _ml(ul: int | float) -> str:
    return f"{ul / UL_PER_ML:.2f} mL"


def fmt_local(moment: datetime | None, tz: tzinfo, with_time: bool = True) -> str:
    """A moment as every screen writes it (itbconsole.display); ``-`` for none."""
    if moment is None:
        return "-"
    return fmt_moment(moment, tz) if with_time else fmt_local_day(moment, tz)


def pump_drift(clinic: ClinicService, patient_id: int, pump: Pump) -> Drift | None:
    """The pump's delivery drift over its refills as they stand (a record withdrawn as
    entered in error left out), by the rule the Trends tab and the worklist use
    (:func:`itbconsole.services.worklist.drift_of`): for the Overview and the refill's
    withdraw step."""
    refills = [
        r.refill
        for r in clinic.refill_records(patient_id=patient_id)
        if r.refill.pump_serial == pump.serial and not r.entered_in_error
    ]
    return drift_of(refills, pump.reservoir_capacity_ul, clinic.settings.thresholds)


class Card(QFrame):
    """A titled panel."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        heading = QLabel(title)
        heading.setObjectName("cardTitle")
        layout.addWidget(heading)
        self.body = QVBoxLayout()
        self.body.setSpacing(4)
        layout.addLayout(self.body)
        layout.addStretch(1)

    def add_label(self, name: str, accessible: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(accessible)
        self.body.addWidget(label)
        return label


class OverviewTab(QWidget):
    """Reservoir, alarm and refill dates, battery, program, alarms, pump clock."""

    set_clock_requested = Signal()

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self.empty = QLabel(
            "No interrogation recorded for this pump yet.\n"
            "Place the programmer head over the pump and press Interrogate (Ctrl+I)."
        )
        self.empty.setObjectName("emptyMessage")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.reservoir_card = Card("Reservoir")
        self.reservoir_value = self.reservoir_card.add_label("bigValue", "Reservoir volume")
        self.reservoir_bar = QProgressBar()
        self.reservoir_bar.setTextVisible(False)
        self.reservoir_bar.setAccessibleName("Reservoir fill level")
        self.reservoir_card.body.addWidget(self.reservoir_bar)
        self.reservoir_detail = self.reservoir_card.add_label("detail", "Reservoir details")

        self.alarm_card = Card("Low-reservoir alarm and next refill")
        self.urgency_badge = self.alarm_card.add_label("badge", "Refill status")
        self.status_reason = self.alarm_card.add_label("warningText", "Why")
        self.alarm_value = self.alarm_card.add_label("bigValue", "Alarm date")
        self.refill_value = self.alarm_card.add_label("value", "Recommended refill date")
        self.derivation = self.alarm_card.add_label("detail", "How the alarm date was derived")

        self.battery_card = Card("Battery")
        self.battery_value = self.battery_card.add_label("value", "Battery state")
        self.battery_detail = self.battery_card.add_label("detail", "Battery details")

        self.program_card = Card("Current program")
        self.program_value = self.program_card.add_label("value", "Current program")
        self.program_detail = self.program_card.add_label("detail", "Program details")

        self.alarms_card = Card("Active alarms")
        self.alarms_value = self.alarms_card.add_label("value", "Active alarms")

        # Delivery drift (a withdrawal risk when under) shows above everything else, only
        # when there is one: the same rule as the Trends tab and the worklist.
        self.drift_card = Card("Delivery drift")
        self.drift_card.setObjectName("alertCard")
        self.drift_card.setStyleSheet(
            "#alertCard { background: #fdf1f2; border: 2px solid #b00020; border-radius: 4px; }"
        )
        self.drift_value = self.drift_card.add_label("warningText", "Delivery drift")

        self.clock_card = Card("Pump clock")
        self.clock_value = self.clock_card.add_label("value", "Pump clock")
        self.clock_button = QPushButton("Set pump clock to this computer's time...")
        self.clock_button.setAccessibleName("Set pump clock")
        self.clock_button.clicked.connect(self.set_clock_requested)
        self.clock_card.body.addWidget(self.clock_button)

        grid = QGridLayout()
        grid.setSpacing(10)
        grid.addWidget(self.reservoir_card, 0, 0)
        grid.addWidget(self.alarm_card, 0, 1)
        grid.addWidget(self.program_card, 1, 0)
        grid.addWidget(self.battery_card, 1, 1)
        grid.addWidget(self.alarms_card, 2, 0)
        grid.addWidget(self.clock_card, 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        # The drift panel sits above the grid, as tall as its words (a grid would not give a
        # wrapped label spanning both columns the height it needs).
        self.content = QWidget()
        content_layout = QVBoxLayout(self.content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(10)
        content_layout.addWidget(self.drift_card)
        content_layout.addLayout(grid, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.content)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(scroll)
        self._scroll = scroll
        for card in (
            self.drift_card,
            self.reservoir_card,
            self.alarm_card,
            self.battery_card,
            self.program_card,
        ):
            card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.show_overview(None)

    NO_READING = (
        "No interrogation recorded for this pump yet.\n"
        "Place the programmer head over the pump and press Interrogate (Ctrl+I)."
    )
    NO_PUMP = (
        "No pump is registered to this patient.\n"
        "After the implant, interrogate the new pump (Ctrl+I) or use Register pump."
    )

    def show_drift(self, ov: PumpOverview) -> None:
        """The pump's delivery drift, when its last refills show one."""
        self.drift_card.setVisible(ov.drift is not None)
        self.drift_value.setText(ov.drift.message if ov.drift is not None else "")

    def show_reservoir(self, ov: PumpOverview) -> None:
        """The reservoir as the pump estimated it. A reading older than the clinic's
        ``reading_stale_days`` says its date and age in the headline: it is not today's
        volume."""
        volume = _ml(ov.reservoir_ul)
        self.reservoir_bar.setRange(0, ov.capacity_ul)
        self.reservoir_bar.setValue(max(0, min(ov.reservoir_ul, ov.capacity_ul)))
        alarm = f"Low-reservoir alarm at {_ml(ov.alarm_volume_ul)}."
        if ov.reading_stale:
            # The date and the age each stay on one line when the headline wraps.
            day = fmt_local(ov.reading.at, self.tz, with_time=False).replace(" ", "\u00a0")
            age = fmt_days_from_today(-ov.reading_age_days).replace(" ", "\u00a0")
            self.reservoir_value.setText(f"{volume} on {day}, {age}")
            self.reservoir_detail.setText(
                f"Of {_ml(ov.capacity_ul)}: the pump's estimate at the last interrogation "
                f"({fmt_local(ov.reading.at, self.tz)}), not today's volume. Interrogate the "
                f"pump (Ctrl+I) for today's. {alarm}"
            )
        else:
            self.reservoir_value.setText(f"{volume} of {_ml(ov.capacity_ul)}")
            self.reservoir_detail.setText(
                f"Pump's estimate at {fmt_local(ov.reading.at, self.tz)} "
                f"({fmt_days_from_today(-ov.reading_age_days)}). {alarm}"
            )
        # Amber-red like other warnings (the headline's own style would hide the property).
        self.reservoir_value.setStyleSheet("color: #8a1020;" if ov.reading_stale else "")

    def show_overview(self, ov: PumpOverview | None, *, has_pump: bool = True) -> None:
        self.empty.setText(self.NO_READING if has_pump else self.NO_PUMP)
        self.empty.setVisible(ov is None)
        self._scroll.setVisible(ov is not None)
        if ov is None:
            return
        self.show_drift(ov)
        self.show_reservoir(ov)
        fc, status = ov.forecast, ov.status
        self.urgency_badge.setText(status.status.label)
        self.urgency_badge.setProperty("urgency", STATUS_STYLE[status.status])
        self.urgency_badge.style().unpolish(self.urgency_badge)
        self.urgency_badge.style().polish(self.urgency_badge)
        why = status_why(ov)
        self.status_reason.setText(why)
        self.status_reason.setVisible(bool(why))
        self.alarm_value.setText(alarm_text(ov, why))
        self.refill_value.setText(refill_text(ov))
        # A date already past is said in the warning colour: the badge says why.
        past = (status.days_to_refill or 0) < 0
        self.refill_value.setStyleSheet("color: #8a1020; font-weight: bold;" if past else "")
        self.refill_value.setToolTip(
            "The earliest of:\n"
            + "\n".join(
                f"{fmt_day(b.day)}: {b.text}" for b in sorted(fc.bounds, key=lambda b: b.day)
            )
            if fc.refill_by is not None and fc.bounds
            else ""
        )
        self.derivation.setText(fc.derivation)

        if ov.eos:
            state = "End of Service: the pump has stopped"
        elif ov.eri:
            state = "Elective Replacement Indicator (ERI)"
        else:
            state = "OK"
        self.battery_value.setText(f"{state} - {fmt_volts(ov.battery_mv)}")
        if fc.end_of_service is not None:
            eos = fc.end_of_service
            ahead = not ov.eri and not ov.eos  # dates the pump gives for later
            eri = (
                f"ERI {'expected ' if ahead else ''}{fmt_day(fc.eri.day)} ({fc.eri.source.value}). "
                if fc.eri
                else ""
            )
            how = f"projected: {eos.note}" if eos.projected else "the pump's own date"
            then = (
                "Plan the replacement ahead of it."
                if ahead
                else "Book the replacement before then."
            )
            if eos.day <= ov.now.astimezone(fc.settings.tz).date():
                # Its day has come (the status says Not delivering): no "before then".
                stopped = "has stopped" if ov.eos else "may have stopped"
                self.battery_detail.setText(
                    f"{eri}End of Service {fmt_day(eos.day)} ({how}) has come: the pump "
                    f"{stopped}. Interrogate it now and replace it."
                )
            else:
                self.battery_detail.setText(
                    f"{eri}End of Service {'expected ' if ahead else ''}{fmt_day(eos.day)} "
                    f"({how}). " + then
                )
        elif ov.eri:
            self.battery_detail.setText(
                "End of Service comes about "
                f"{fc.settings.eri_to_eos_days} days after ERI. Plan replacement."
            )
        else:
            implant = f"Implanted {fmt_day(ov.pump.implant_date)}. " if ov.pump.implant_date else ""
            self.battery_detail.setText(implant + "Battery life is typically 5 to 7 years.")

        p = ov.program
        self.program_value.setText(
            f"{p.drug_label}\n{p.mode_text}: {fmt_dose_per_day(p.daily_dose_mcg)}"
        )
        lines = ["Flex steps, pump clock (UTC):"] if p.steps else []
        for start, end, rate in p.steps:
            lines.append(f"{start}-{end}  {fmt_rate(rate)}")
        lines.append(f"Patient bolus: {p.patient_bolus_text}")
        if p.max_daily_dose_mcg != p.daily_dose_mcg:
            lines.append(
                f"Maximum with every allowed bolus: {fmt_dose_per_day(p.max_daily_dose_mcg)}"
            )
        self.program_detail.setText("\n".join(lines))

        if not ov.alarms:
            self.alarms_value.setText("None")
        else:
            parts = []
            for a in ov.alarms:
                colour = "#b00020" if a.severity is Severity.URGENT else "#8a5a00"
                parts.append(
                    f"<p><b style='color:{colour}'>{a.title}</b><br>{a.meaning}<br><i>What to do:</i> {a.action}</p>"
                )
            self.alarms_value.setText("".join(parts))

        self.clock_value.setText(clock_text(ov, self.tz))
        self.clock_value.setProperty("warning", ov.clock_warning)
        self.clock_button.setVisible(ov.clock_warning)


#: Statuses whose reason is not a refill-by or alarm date: said in the card's words.
_REASON_SAID = (Status.NOT_DELIVERING, Status.ATTENTION, Status.NO_DATA)


def status_why(ov: PumpOverview) -> str:
    """Why the pump has its status, when the dated lines under it do not say so already.

    The refill-by and alarm lines carry the dates an overdue, due-soon or on-track status
    rests on, so that reason is not written a second time. What they do not say is said
    here: why a pump is not delivering or needs checking, the pump's own low-reservoir
    alarm, a pump past ERI (its dates are under Battery), and a program change of unknown
    outcome (the dates shown are then the worse case)."""
    fc, status = ov.forecast, ov.status
    parts: list[str] = []
    if status.status in _REASON_SAID or fc.low_alarm_on:
        parts.append(status.reason)
    elif status.reason.startswith("Past ERI"):
        parts.append(
            "Past ERI: book the pump replacement before End of Service (dates under Battery)."
            if fc.end_of_service is not None
            else "Past ERI: book the pump replacement now; its End of Service date is not "
            "known and could be close."
        )
    if fc.uncertain and fc.notes:
        parts.append(fc.notes[0])  # the forecast's note on the change of unknown outcome
    return " ".join(p for p in parts if p)


def alarm_text(ov: PumpOverview, why: str = "") -> str:
    """The low-reservoir alarm line: its date and how far from today, labelled."""
    fc = ov.forecast
    if fc.alarm_day is None:
        because = fc.not_delivering_reason
        if because and because in why:
            return "Low-reservoir alarm: no date."  # the reason is said above
        return "Low-reservoir alarm: no date, " + (
            because or "the program never reaches the alarm volume"
        )
    when = fmt_days_from_today(ov.days_to_alarm or 0)
    return f"Low-reservoir alarm: {fmt_day(fc.alarm_day)} ({when})"


def refill_text(ov: PumpOverview) -> str:
    """The refill-by line: the date, how far from today, and what sets it. The alarm
    bound's own date is the line above, so it is said as the margin before it."""
    fc, status = ov.forecast, ov.status
    governing = fc.governing
    if fc.refill_by is None or governing is None:
        notes = fc.notes[1:] if fc.uncertain else fc.notes  # the first is said above
        return notes[0] if notes else ""
    left = status.days_to_refill
    when = "" if left is None else f" ({fmt_days_from_today(left)})"
    if governing.kind is Bound.ALARM:
        margin = fc.settings.refill_margin_days
        because = f"the clinic's {margin}-day margin before the low-reservoir alarm"
    else:
        because = governing.text
    return f"{action_by(governing.kind)} by {fmt_day(fc.refill_by)}{when}: {because}."


def clock_text(ov: PumpOverview, tz: tzinfo) -> str:
    """The pump's clock against this computer's at the interrogation, and what a drift
    means: a fast pump clock starts every flex step early, a slow one late."""
    offset = ov.clock_offset_s
    drift = fmt_clock_offset(offset)
    text = f"Pump clock {fmt_local(ov.reading.pump_clock, tz)} at the interrogation: "
    if drift == "in step":
        text += "in step with this computer."
    else:
        way = "ahead of" if offset > 0 else "behind"
        text += f"{drift} ({way} this computer's clock)."
    if ov.clock_warning:
        early = "early" if offset > 0 else "late"
        text = (
            f"⚠ {text} The pump clock has drifted: flex steps start {fmt_duration(offset)} {early}."
        )
    return text
