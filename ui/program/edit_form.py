"""The Edit page read back: the program as typed (:meth:`EditForm.pending`), with the
priming plan in priming mode and the concentration typed; a field that cannot be read shows
its message next to it and gives no program."""

from __future__ import annotations

from decimal import Decimal

from itbconsole.model import FlexStep, Mode, ModelError, PatientBolus, Program
from itbconsole.services import programming as svc
from ui.program.edit_page import EditPage
from ui.program.editor_base import fmt_amount
from ui.program.widgets import FieldError, UnitField


class EditForm(EditPage):
    """Reads the Edit page's fields into a program."""

    def _clear_messages(self) -> None:
        for f in self._fields():
            f.show_message("")

    def _fields(self) -> list[UnitField]:
        return [
            self.concentration,
            self.daily,
            self.single_dose,
            self.single_duration,
            self.single_after,
            self.priming_duration,
            self.priming_after,
            self.pb_dose,
            self.pb_duration,
            self.pb_lockout,
            self.pb_per_day,
        ]

    @staticmethod
    def _dose(field: UnitField) -> Decimal:
        try:
            return field.dose()
        except FieldError as exc:
            field.show_message(str(exc))
            raise

    @staticmethod
    def _whole(field: UnitField, low: int, high: int) -> int:
        try:
            return field.whole(low, high)
        except FieldError as exc:
            field.show_message(str(exc))
            raise

    def pending(self) -> tuple[Program | None, svc.PrimingPlan | None, int | None]:
        """The program as typed (None when a field cannot be read; its message is shown
        next to it), the priming plan in priming mode, and the concentration typed."""
        self._clear_messages()
        ok = True
        conc: int | None = None
        try:
            conc = self._whole(self.concentration, 1, 100_000)
        except FieldError:
            ok = False
        pb: PatientBolus | None = None
        if self.patient_bolus.isChecked():
            try:
                pb = PatientBolus(
                    dose_mcg=self._dose(self.pb_dose),
                    duration_minutes=self._whole(self.pb_duration, 0, 1440),
                    lockout_minutes=self._whole(self.pb_lockout, 0, 1440),
                    max_per_day=self._whole(self.pb_per_day, 0, 99),
                )
            except FieldError:
                ok = False
            except ModelError as exc:
                self.pb_dose.show_message(str(exc))
                ok = False
        key = self.mode.currentData()
        program: Program | None = None
        plan: svc.PrimingPlan | None = None
        try:
            if key == "simple":
                daily = self._dose(self.daily)
                program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=daily, patient_bolus=pb)
            elif key == "flex":
                program = self._flex_program(pb)
            elif key == "single":
                dose = self._dose(self.single_dose)
                minutes = self._whole(self.single_duration, 1, 1440)
                after = self._dose(self.single_after)
                program = Program(
                    Mode.SINGLE_BOLUS,
                    daily_dose_mcg=after,
                    bolus_dose_mcg=dose,
                    bolus_duration_minutes=minutes,
                    patient_bolus=pb,
                )
            else:
                minutes = self._whole(self.priming_duration, 1, 1440)
                after = self._dose(self.priming_after)
                plan = self._priming_plan(conc or self.ctx.state.concentration_mcg_ml, minutes)
                program = svc.priming_program(plan, after, pb)
        except FieldError:
            program = None
        except (ModelError, svc.ProgrammingError) as exc:
            target = {"simple": self.daily, "single": self.single_dose}.get(
                key, self.priming_duration
            )
            target.show_message(str(exc))
            program = None
        if not ok:
            program = None
        return program, plan, conc

    def _flex_program(self, pb: PatientBolus | None) -> Program | None:
        try:
            steps = self.flex.steps()
        except FieldError:
            return None  # the table shows its own message
        weekdays: tuple[tuple[int, tuple[FlexStep, ...]], ...] = ()
        days = [i for i, b in enumerate(self.weekday_boxes) if b.isChecked()]
        if days:
            try:
                other = self.weekday_flex.steps()
            except FieldError:
                return None
            weekdays = tuple((d, other) for d in days)
        try:
            return Program(
                Mode.FLEX, flex_steps=steps, flex_weekday_steps=weekdays, patient_bolus=pb
            )
        except ModelError as exc:
            self.flex.error.setText(str(exc))
            self.flex.error.setVisible(True)
            return None

    def _priming_plan(self, conc: int, minutes: int) -> svc.PrimingPlan:
        plan = svc.priming_plan(
            self.ctx.pump, conc, minutes, catheter_only=self.priming_revision.isChecked()
        )
        pr = plan.priming
        self.priming_volume.setText(
            f"{fmt_amount(plan.volume_ul)} µL = "
            + ("" if pr.catheter_only else f"pump {fmt_amount(pr.pump_dead_volume_ul)} µL + ")
            + f"catheter {fmt_amount(pr.catheter_volume_ul)} µL "
            f"({self.ctx.pump.catheter_length_cm} cm x {self.ctx.pump.catheter_ul_per_cm} µL/cm); "
            f"{plan.dose_mcg} mcg at {conc} mcg/mL over {minutes} min"
        )
        return plan
