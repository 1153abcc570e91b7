"""The check re-run on every keystroke: the form read again, the programming service's
:func:`~itbconsole.services.programming.check_program` run on it, and its verdict shown on
the Edit page (total, change, alarm date, findings next to their fields, which buttons
are open)."""

from __future__ import annotations

from itbconsole import dosing
from itbconsole.display import fmt_day, fmt_local_day, fmt_ml, fmt_moment
from itbconsole.model import Mode, Program
from itbconsole.services import programming as svc
from ui.program.edit_form import EditForm
from ui.program.editor_base import fmt_amount
from ui.program.widgets import BLOCK_COLOUR, SOFT_COLOUR, UnitField


class LiveCheck(EditForm):
    """Keeps the Edit page's summary and buttons in step with the check."""

    def recompute(self) -> None:
        """Re-read the form and re-run the programming service's check."""
        if not hasattr(self, "plot"):
            return  # still building
        self.flex.concentration = self._safe_conc()
        self.weekday_flex.concentration = self.flex.concentration
        self.flex.refresh()
        if self.weekday_flex.isVisible():
            self.weekday_flex.refresh()
        program, plan, conc = self.pending()
        self.check = None
        if program is not None and conc is not None:
            try:
                self.check = svc.check_program(
                    self.ctx.state,
                    program,
                    conc,
                    self.ctx.user,
                    self.ctx.library,
                    self.ctx.tz,
                    purpose="send" if self.ctx.user.can_send_program() else "prepare",
                    priming=plan,
                    pump=self.ctx.pump,
                    history=self.ctx.history,
                    now=self.ctx.now,
                    facts=self.ctx.facts,
                    settings=self.ctx.settings,
                    catheter_revised_on=self.ctx.catheter_revised_on,
                )
            except (svc.ProgrammingError, dosing.DosingError) as exc:
                self.concentration.show_message(str(exc))
        self._show_summary(program)
        self._update_buttons()

    def _safe_conc(self) -> int:
        text = self.concentration.text().strip()
        return int(text) if text.isdigit() and int(text) > 0 else 0

    def _show_summary(self, program: Program | None) -> None:
        state = self.ctx.state
        current_total = dosing.program_daily_dose_mcg(state.program)
        self.plot.show_programs(state.program, program)
        c = self.check
        if program is None or c is None:
            self.total_label.setText("Total: -  (correct the marked fields)")
            self.change_label.setText(f"Current: {fmt_amount(current_total)} mcg/24 h")
            self.forecast_label.setText("")
            self.findings_label.setText("")
            return
        total = dosing.program_daily_dose_mcg(program)
        text = f"Total: {fmt_amount(total)} mcg/24 h"
        if program.flex_weekday_steps:
            days = ", ".join(svc.WEEKDAYS[d] for d, _ in program.flex_weekday_steps)
            other = dosing.program_daily_dose_mcg(program, program.flex_weekday_steps[0][0])
            text += f"  ({days}: {fmt_amount(other)} mcg/24 h)"
        self.total_label.setText(text)
        lines = [
            f"Change from the current {fmt_amount(current_total)} mcg/24 h: "
            f"<b>{svc.change_text(c.change)}</b>",
        ]
        if c.change.note:
            lines.append(c.change.note)
        maximum = dosing.max_24h_dose_mcg(program)
        if maximum != total:
            lines.append(
                f"Maximum 24 h dose with every allowed bolus: <b>{fmt_amount(maximum)} mcg</b> "
                "(the limits apply to it and to each day's programmed dose; the larger "
                "change counts)"
            )
        if program.mode is Mode.SIMPLE_CONTINUOUS and total:
            lines.append(f"Rate: {fmt_amount(total / 24, 3)} mcg/h")
        if program.mode is Mode.SINGLE_BOLUS:
            lines.append(
                f"Bolus {program.bolus_dose_mcg} mcg over {program.bolus_duration_minutes} min "
                "first (not drawn on the profile), then the continuous rate."
            )
        self.change_label.setText("<br>".join(lines))
        nf, cf = c.new_forecast, c.current_forecast
        tz = self.ctx.tz
        alarm = "none (not delivering)" if nf.alarm_at is None else fmt_local_day(nf.alarm_at, tz)
        refill = "-" if cf.refill_by is None else fmt_day(cf.refill_by)
        new_refill = "-" if nf.refill_by is None else fmt_day(nf.refill_by)
        reservoir = f"Reservoir {fmt_ml(state.reservoir_ul)} at {fmt_moment(state.read_at, tz)}."
        if c.concentration_mcg_ml != state.concentration_mcg_ml:
            # A program for after a refill at another concentration: the current reservoir
            # does not set its dates (the refill does; its review shows them).
            self.forecast_label.setText(
                f"This program is for after a refill with {c.concentration_mcg_ml} mcg/mL: "
                "its alarm and refill-by dates follow from that refill. Planned refill with "
                f"the current program: {refill}. {reservoir}"
            )
        else:
            self.forecast_label.setText(
                f"Low-reservoir alarm with the new program: <b>{alarm}</b> "
                f"(refill by {new_refill}). Planned refill with the current program: "
                f"{refill}. {reservoir}"
            )
        self._show_findings(c)

    def _show_findings(self, c: svc.ProgramCheck) -> None:
        parts = []
        field_map: dict[str, list[UnitField]] = {
            "daily_dose": [self.daily, self.single_after, self.priming_after],
            "bolus": [self.single_dose, self.priming_duration],
            "patient_bolus": [self.pb_dose],
            "concentration": [self.concentration],
        }
        for f in c.findings:
            if f.severity is svc.Severity.BLOCK:
                colour, word = BLOCK_COLOUR, "Blocked"
            elif f.severity is svc.Severity.SOFT:
                colour, word = SOFT_COLOUR, "Needs a reason"
            else:
                colour, word = SOFT_COLOUR, "Warning"
            parts.append(f"<p><b style='color:{colour}'>{word}:</b> {f.message}</p>")
            for field in field_map.get(f.field, []):
                if field.isVisible() and not field.error.text():
                    field.show_message(f"{word}: {f.message}", colour)
            if f.field == "flex":
                self.flex.error.setText(f"{word}: {f.message}")
                self.flex.error.setStyleSheet(f"color: {colour};")
                self.flex.error.setVisible(True)
        if not parts:
            parts.append("<p style='color:#0b6b2f'><b>Within every drug-library limit.</b></p>")
        product = c.product.label if c.product else "no drug-library product"
        parts.append(f"<p style='color:#555'>Limits: {product}.</p>")
        self.findings_label.setText("".join(parts))

    def _update_buttons(self) -> None:
        c = self.check
        user = self.ctx.user
        hint = ""
        # What blocks sending but not preparing: a program prepared for a coming refill may
        # name the new concentration, and anyone may prepare (prepare() checks it again
        # with purpose "prepare", and the service refuses what still blocks).
        blocks = [] if c is None else [f for f in c.blocks if f.rule not in svc.SEND_ONLY_RULES]
        self.prepare_button.setEnabled(c is not None and not blocks)
        can_review = (
            c is not None and not c.blocked and self.ctx.connected and (self.ctx.state.live)
        )
        self.review_button.setEnabled(can_review)
        if not user.can_send_program():
            hint = "Signed in as a nurse: save the program for a clinician to review and send."
        elif not (self.ctx.connected and self.ctx.state.live):
            hint = "Not connected to this pump: you can save the program for review."
        elif c is not None and c.blocked:
            hint = "Blocked: see the limit checks."
        self.send_hint.setText(hint)
