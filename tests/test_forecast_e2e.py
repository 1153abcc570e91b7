"""End to end over ``simpump://``: the console's alarm dates and expected residuals against
the simulated pump's own physics (a motor stepping every pump-clock minute, written apart
from :mod:`itbconsole.dosing`).

Each test drives the console's own services over a protocol link: interrogations
(``PumpClient``) saved by the clinic service, refills through :class:`RefillSession` with
the pump update (and bridge bolus) sent by ``PumpClient.update_reservoir``, program changes
through the programming service (check, record, send, read back, record). The simulator
and the services share one :class:`ManualClock`: nothing sleeps and every instant is exact.

(a) Every low-reservoir alarm instant the console shows for the program the pump runs (the
    refill and program reviews, the patient list after each save) is at or before the
    instant the simulated pump raises its own ``low_reservoir`` alarm.
(b) At the next refill, the expected residual the refill workflow computes is within
    0.05 mL of the pump's estimate and of the volume really left (``delivery_error`` 0).

Run with ``-s`` to see the gaps each scenario measured.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

import drivers  # noqa: F401  (registers the simpump:// handler)
from drivers import protocol_simpump
from drivers.link import Link
from drivers.pump_client import BridgeBolus, Interrogation, PumpClient
from drivers.simulator import ManualClock, SimPump
from drivers.simulator.pump import Alarm
from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    PreparedProgram,
    Program,
    Pump,
    PumpEvent,
    Reading,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services import programming as pg
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import RefillSession, ResidualDerivation
from itbconsole.store import Store

LONDON = ZoneInfo("Europe/London")
CLINICIAN = User("Dr Ada Clinician", Role.CLINICIAN)
SERIAL = "SIM0000001"
EXPIRY = date(2031, 12, 31)
#: Monday 5 Jan 2026, 09:00 UTC: a clinic morning.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: The pump's record, with the simulator's dead volume (pump 250 µL + 50 cm x 2.2 µL/cm).
PUMP_RECORD = Pump(
    SERIAL,
    "SIM-40",
    40_000,
    2_000,
    implant_date=date(2024, 6, 1),
    pump_dead_volume_ul=250,
    catheter_length_cm=Decimal(50),
    catheter_ul_per_cm=Decimal("2.2"),
)
DEAD_VOLUME_UL = 360
RESIDUAL_TOLERANCE_UL = 50
_names = itertools.count(1)


@dataclass
class Rig:
    """One simulated pump behind ``simpump://NAME`` and a clinic with its patient."""

    clock: ManualClock
    sim: SimPump
    client: PumpClient
    clinic: ClinicService
    patient_id: int
    #: (what showed it, when, alarm instant) for every alarm the console showed since the
    #: pump began what it delivers now (earlier ones were for another fill or program).
    console_alarms: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    #: Each refill's expected residual with the volume really in the reservoir then.
    residuals: list[tuple[ResidualDerivation, Fraction]] = field(default_factory=list)

    # ------------------------------------------------------------------ time

    def now(self) -> datetime:
        return self.clock.now

    def advance_to(self, when: datetime) -> None:
        assert when >= self.clock.now
        self.clock.now = when
        self.sim.now()  # the pump runs its physics up to the clock

    def advance(self, delta: timedelta) -> None:
        self.advance_to(self.clock.now + delta)

    # ------------------------------------------------------------------ reading the pump

    def interrogate(self) -> tuple[Interrogation, tuple[PumpEvent, ...]]:
        """As the console's Interrogate job: identity, status, program, then the pump's
        events after the last one stored."""
        interrogation = self.client.interrogate()
        since = self.clinic.store.last_event_index(SERIAL) + 1
        return interrogation, self.client.read_events(since).events

    def save_interrogation(self) -> Reading:
        interrogation, events = self.interrogate()
        saved = self.clinic.save_interrogation(interrogation.reading, events, self.patient_id)
        self.note_console_alarm("interrogation")
        return saved.reading

    # ------------------------------------------------------------------ the console's dates

    def console_alarm(self) -> datetime:
        """The alarm instant the patient list shows; the forecast and the overview agree."""
        row = self.clinic.patient_row(self.patient_id, now=self.now())
        assert row is not None and row.alarm_at is not None
        assert self.clinic.forecast_for(SERIAL).alarm_at == row.alarm_at
        overview = self.clinic.overview(self.patient_id, now=self.now())
        assert overview is not None and overview.alarm_at == row.alarm_at
        return row.alarm_at

    def note_console_alarm(self, label: str, alarm: datetime | None = None) -> None:
        self.console_alarms.append((label, self.now(), alarm or self.console_alarm()))

    # ------------------------------------------------------------------ refill

    def refill(
        self, product_id: str, added_ml: str, *, prepared_program: Program | None = None
    ) -> RefillSession:
        """A whole refill appointment: interrogate, withdraw the residual (the needle takes
        what is really there), fill, check the concentration (a change needs a program a
        clinician prepared), review, confirm, update the pump over the link, record."""
        interrogation, events = self.interrogate()
        actual = self.sim.actual_reservoir_exact_ul
        session = RefillSession(self.clinic, self.patient_id, now=self.now)
        ident = session.identify(interrogation.reading, events)
        self.residuals.append((ident.residual, actual))
        withdrawn = self.sim.aspirate()
        check = session.enter_withdrawn(f"{Decimal(withdrawn) / 1000:.3f}")
        assert not check.needs_acknowledgement, check.discrepancy
        new = session.enter_new_drug(product_id, "LOT42", EXPIRY, added_ml)
        self.sim.inject(new.new_drug.added_ul)
        prepared = None
        if prepared_program is not None:
            conc = new.new_drug.product.concentration_mcg_ml
            prepared = self.prepare(prepared_program, conc)
        session.check_concentration(prepared)
        review = session.review()
        update = session.confirm(warnings_acknowledged=True)
        session.mark_sent()
        session.begin_write()
        bridge = None
        if update.bridge_volume_ul:
            bridge = BridgeBolus(update.bridge_volume_ul, update.bridge_duration_min)
        result = self.client.update_reservoir(
            update.volume_ul,
            update.concentration_mcg_ml,
            update.drug_name,
            alarm_volume_ul=update.alarm_volume_ul,
            bridge=bridge,
        )
        outcome = session.record_update(result.outcome.value, result.message, result.read_back)
        assert outcome.status == "confirmed", outcome.message
        session.finish()
        self.console_alarms.clear()  # the dates shown before were for the old fill
        assert review.forecast_after.alarm_at is not None
        self.note_console_alarm("refill review", review.forecast_after.alarm_at)
        self.note_console_alarm("after refill")
        return session

    def prepare(self, program: Program, concentration: int) -> PreparedProgram:
        """A clinician prepares the program for the new concentration (stored for review)."""
        state = pg.PumpState.from_interrogation(self.interrogate()[0])
        check = pg.check_program(
            state,
            program,
            concentration,
            CLINICIAN,
            self.clinic.library,
            self.clinic.tz,
            purpose="prepare",
            now=self.now(),
            settings=self.clinic.settings,
        )
        prepared = pg.build_prepared(check, "concentration change", CLINICIAN, at=self.now())
        return self.clinic.store.add_prepared_program(
            prepared, CLINICIAN, patient_id=self.patient_id
        )

    # ------------------------------------------------------------------ program change

    def send_program(self, program: Program, *, same_delivery: bool = False) -> pg.ProgramCheck:
        """Change program: check against the live pump and the records, record the intent,
        send (two-phase write, read back), record the verified result. Alarm dates shown
        before are for the old program and are dropped, unless ``same_delivery`` (the new
        program delivers from now on exactly what the old one would have)."""
        state = pg.PumpState.from_interrogation(self.interrogate()[0])
        store = self.clinic.store
        check = pg.check_program(
            state,
            program,
            state.concentration_mcg_ml,
            CLINICIAN,
            self.clinic.library,
            self.clinic.tz,
            pump=store.get_pump(SERIAL),
            history=store.patient_history(self.patient_id).program_changes,
            now=self.now(),
            facts=self.clinic.pump_facts(SERIAL),
            settings=self.clinic.settings,
        )
        assert not check.blocked, check.blocks
        overrides = {
            f.key: pg.override_text(pg.OVERRIDE_CATEGORIES[1], "agreed with the consultant")
            for f in check.soft
        }
        approved = pg.approve(
            check,
            "titration agreed at clinic",
            overrides,
            at=self.now(),
            second_clinician="Dr Ben Second",
        )
        intent = pg.record_intent(
            store, approved.change, CLINICIAN, patient_id=self.patient_id, at=self.now()
        )
        prepared = store.prepared_program(SERIAL)
        sent = pg.send_program(
            self.client, replace(approved, change=intent), CLINICIAN, now=self.now
        )
        assert sent.outcome == "succeeded", sent.message
        prepared_id = prepared.id if prepared is not None and prepared.program == program else None
        pg.record_result(store, intent, sent, CLINICIAN, prepared_id=prepared_id)
        assert self.sim.program == program
        if not same_delivery:
            self.console_alarms.clear()
        assert check.new_forecast.alarm_at is not None
        self.note_console_alarm("program review", check.new_forecast.alarm_at)
        self.note_console_alarm("after program change")
        return check

    # ------------------------------------------------------------------ the pump's alarm

    def run_to_alarm(
        self,
        *,
        step: timedelta = timedelta(days=10),
        patient: bool = False,
        checkpoints: Sequence[timedelta] = (),
        limit: timedelta = timedelta(days=400),
    ) -> datetime:
        """Advance the pump in big steps until it raises its own low-reservoir alarm and
        return that instant. ``patient``: the patient presses the bolus button whenever the
        pump would allow it. ``checkpoints`` (from now): interrogations saved on the way."""
        start = self.now()
        assert Alarm.LOW_RESERVOIR not in self.sim.alarms()
        stops = sorted(start + c for c in checkpoints)
        press: datetime | None = start if patient else None
        while Alarm.LOW_RESERVOIR not in self.sim.alarms():
            assert self.now() - start < limit, "the pump never raised its alarm"
            target = min([self.now() + step, *stops[:1], *([press] if press else [])])
            self.advance_to(target)
            if Alarm.LOW_RESERVOIR in self.sim.alarms():
                break
            if press is not None and self.now() == press:
                press = self.press_bolus_button()
            elif stops and self.now() == stops[0]:
                stops.pop(0)
                self.save_interrogation()
        return self.pump_alarm_instant(after=start)

    def press_bolus_button(self) -> datetime:
        """The patient presses now; returns when the pump will next allow a bolus (after
        the lockout, or when the oldest bolus leaves the rolling 24 hours)."""
        settings = self.sim.program.patient_bolus
        assert settings is not None
        lockout = timedelta(minutes=settings.lockout_minutes)
        result = self.sim.press_patient_bolus()
        mine = [at for at, _dose, kind in self.sim.boluses() if kind == "patient"]
        if result.accepted or result.reason == "lockout":
            return mine[-1] + lockout
        assert result.reason == "daily_maximum", result.reason
        window = [at for at in mine if at > self.now() - timedelta(days=1)]
        return max(window[0] + timedelta(days=1), mine[-1] + lockout)

    def pump_alarm_instant(self, after: datetime) -> datetime:
        """When the pump raised low_reservoir, from its event log read over the link (its
        clock runs on true UTC here: no offset, no drift)."""
        assert self.sim.status().pump_clock == self.now()
        raised = [
            e.at
            for e in self.client.read_events(0).events
            if e.kind == "alarm_raised"
            and e.detail.get("alarm") == "low_reservoir"
            and e.at >= after
        ]
        assert raised, "no low_reservoir alarm in the pump's log"
        return raised[0]

    # ------------------------------------------------------------------ checks

    def assert_never_late(self, pump_alarm: datetime) -> list[tuple[str, float]]:
        """Every alarm instant the console showed is at or before the pump's (and so is
        its calendar day in the clinic's zone); returns (what showed it, gap in hours)."""
        gaps = []
        for label, shown_at, console in self.console_alarms:
            assert console <= pump_alarm, (
                f"{label} at {shown_at}: the console's alarm {console} is after the pump's "
                f"{pump_alarm} by {(console - pump_alarm).total_seconds() / 3600:.2f} h"
            )
            assert console.astimezone(LONDON).date() <= pump_alarm.astimezone(LONDON).date()
            gaps.append((label, (pump_alarm - console).total_seconds() / 3600))
        return gaps

    def assert_residual(self, index: int = -1) -> tuple[int, float]:
        """A refill's expected residual against the pump's estimate and the volume really
        in the reservoir; returns (µL off the estimate, µL off the actual volume)."""
        residual, actual = self.residuals[index]
        assert residual.basis == "last refill"
        vs_estimate = residual.expected_residual_ul - residual.pump_estimate_ul
        vs_actual = float(residual.expected_residual_ul - actual)
        assert abs(vs_estimate) <= RESIDUAL_TOLERANCE_UL, residual.explanation()
        assert abs(vs_actual) <= RESIDUAL_TOLERANCE_UL, residual.explanation()
        return vs_estimate, vs_actual


@pytest.fixture
def rig_factory() -> Iterator[Callable[..., Rig]]:
    names: list[str] = []
    stores: list[Store] = []
    clients: list[PumpClient] = []

    def make(
        *,
        program: Program,
        concentration: int = 2000,
        reservoir_ul: int = 6_000,
        start: datetime = T0,
        alarm_date_early_days: int = 0,
    ) -> Rig:
        clock = ManualClock(start)
        sim = SimPump(
            serial=SERIAL,
            concentration_mcg_ml=concentration,
            reservoir_ul=reservoir_ul,
            program=program,
            clock=clock,
            start=start,
            alarm_date_early_days=alarm_date_early_days,
        )
        assert sim.dead_volume_ul == PUMP_RECORD.dead_volume_ul == DEAD_VOLUME_UL
        name = f"forecast-e2e-{next(_names)}"
        protocol_simpump.register_pump(name, sim)
        names.append(name)
        client = PumpClient(Link.open(f"simpump://{name}"), now=clock)
        clients.append(client)
        store = Store.open(":memory:")
        stores.append(store)
        patient = store.add_patient(
            Patient("Okafor", "Grace", date(1980, 1, 1), "H1", Origin.SPINAL), CLINICIAN
        )
        assert patient.id is not None
        store.register_pump(PUMP_RECORD, patient.id, CLINICIAN, at=start - timedelta(days=30))
        clinic = ClinicService(store, load_drug_library(), CLINICIAN, LONDON)
        return Rig(clock, sim, client, clinic, patient.id)

    yield make
    for client in clients:
        client.close()
    for name in names:
        protocol_simpump.forget_pump(name)
    for store in stores:
        store.close()


def report(
    label: str, gaps: list[tuple[str, float]], residuals: Sequence[tuple[int, float]] = ()
) -> None:
    """Print what was measured (seen with ``pytest -s``)."""
    text = ", ".join(f"{what} {gap:.3f}" for what, gap in gaps)
    res = "; ".join(f"{e:+d} µL vs estimate, {a:+.1f} µL vs actual" for e, a in residuals)
    print(
        f"\n[{label}] console alarm earlier by (h): {text}" + (f" | residual {res}" if res else "")
    )


PATIENT_BOLUS = PatientBolus(Decimal(25), 10, 120, 4)
FLEX_DAILY = Program(
    Mode.FLEX,
    flex_steps=(FlexStep(0, Decimal(15)), FlexStep(360, Decimal(25)), FlexStep(1320, Decimal(15))),
)  # 6 h x 15 + 16 h x 25 + 2 h x 15 = 520 mcg/24 h
FLEX_WEEKEND = Program(
    Mode.FLEX,
    flex_steps=FLEX_DAILY.flex_steps,
    flex_weekday_steps=(
        (5, (FlexStep(0, Decimal(18)), FlexStep(480, Decimal(28)), FlexStep(1380, Decimal(18)))),
        (6, (FlexStep(0, Decimal(12)), FlexStep(600, Decimal(24)), FlexStep(1200, Decimal(12)))),
    ),
)  # Saturday 582, Sunday 420 mcg/24 h


# --------------------------------------------------------------------------- scenarios


def test_simple_continuous(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(program=simple_continuous(500))
    rig.save_interrogation()
    rig.advance(timedelta(minutes=20))
    rig.refill("lioresal-2000", "40")
    pump_alarm = rig.run_to_alarm(checkpoints=(timedelta(days=37, hours=5, minutes=17),))
    gaps = rig.assert_never_late(pump_alarm)
    assert max(g for _, g in gaps) < 1  # continuous delivery: the motor lags under a tick
    rig.advance(timedelta(days=2))
    rig.refill("lioresal-2000", "40")
    report("simple continuous", gaps, [rig.assert_residual()])


@pytest.mark.parametrize("refill_hour", [9, 0], ids=["refill-09h", "refill-00h"])
def test_patient_pressing_the_bolus_button_as_often_as_allowed(
    rig_factory: Callable[..., Rig], refill_hour: int
) -> None:
    """The patient presses whenever the pump allows (lockout, 4 in any 24 h) from the
    refill on; with a refill at midnight that is every lockout from the start of each day."""
    program = Program(Mode.SIMPLE_CONTINUOUS, Decimal(500), patient_bolus=PATIENT_BOLUS)
    rig = rig_factory(program=program, start=T0.replace(hour=refill_hour))
    rig.save_interrogation()
    rig.refill("lioresal-2000", "40")
    pump_alarm = rig.run_to_alarm(
        patient=True, step=timedelta(days=1), checkpoints=(timedelta(days=50, hours=3),)
    )
    assert len(rig.sim.boluses()) > 4 * 100
    gaps = rig.assert_never_late(pump_alarm)
    rig.advance(timedelta(hours=1))
    rig.refill("lioresal-2000", "40")
    report(f"patient boluses, refill {refill_hour:02d}:00", gaps, [rig.assert_residual()])


@pytest.mark.parametrize("flex", [FLEX_DAILY, FLEX_WEEKEND], ids=["every-day", "weekend-days"])
def test_flex_program(rig_factory: Callable[..., Rig], flex: Program) -> None:
    rig = rig_factory(program=simple_continuous(500))
    rig.save_interrogation()
    rig.refill("lioresal-2000", "40")
    rig.advance(timedelta(minutes=25))
    rig.send_program(flex)
    pump_alarm = rig.run_to_alarm(checkpoints=(timedelta(days=60, hours=7, minutes=13),))
    gaps = rig.assert_never_late(pump_alarm)
    if flex is FLEX_DAILY:  # the exact schedule walk follows the pump's own steps
        assert max(g for _, g in gaps) < 1
    rig.advance(timedelta(hours=5))
    rig.refill("lioresal-2000", "40")
    report(f"flex {'daily' if flex is FLEX_DAILY else 'weekend'}", gaps, [rig.assert_residual()])


def test_concentration_change_500_to_2000_with_bridge(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(program=simple_continuous(400), concentration=500, reservoir_ul=8_000)
    rig.save_interrogation()
    rig.refill("lioresal-500", "40")
    rig.advance(timedelta(days=20, hours=1))
    session = rig.refill("lioresal-2000", "40", prepared_program=simple_continuous(400))
    assert session.concentration is not None
    assert session.concentration.bridge_volume_ul == DEAD_VOLUME_UL
    assert rig.sim.bridge_remaining_ul == DEAD_VOLUME_UL
    pump_alarm = rig.run_to_alarm(step=timedelta(days=5), checkpoints=(timedelta(days=30),))
    gaps = rig.assert_never_late(pump_alarm)
    rig.advance(timedelta(days=1))
    rig.refill("lioresal-2000", "40")
    report("500 -> 2000, bridge", gaps, [rig.assert_residual(1), rig.assert_residual(2)])


def test_concentration_change_2000_to_500_with_bridge_then_the_prepared_program(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(program=simple_continuous(400), concentration=2000, reservoir_ul=12_000)
    rig.save_interrogation()
    rig.refill("lioresal-2000", "30")
    rig.advance(timedelta(days=30, hours=2))
    prepared = simple_continuous(440)
    rig.refill("lioresal-500", "40", prepared_program=prepared)
    assert rig.sim.bridge_remaining_ul == DEAD_VOLUME_UL
    rig.advance(timedelta(minutes=30))
    rig.send_program(prepared)  # by the clinician straight after, while the bridge clears
    assert rig.sim.bridge_remaining_ul > 0
    pump_alarm = rig.run_to_alarm(
        step=timedelta(days=2), checkpoints=(timedelta(hours=20), timedelta(days=10))
    )
    gaps = rig.assert_never_late(pump_alarm)
    rig.advance(timedelta(hours=6))
    rig.refill("lioresal-500", "40")
    report("2000 -> 500, bridge", gaps, [rig.assert_residual(1), rig.assert_residual(2)])


SINGLE_BOLUS = Program(
    Mode.SINGLE_BOLUS,
    daily_dose_mcg=Decimal(500),
    bolus_dose_mcg=Decimal(80),
    bolus_duration_minutes=90,
)  # 80 mcg over 90 min, then 500 mcg/24 h


def test_single_bolus_program_change(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(program=simple_continuous(500))
    rig.save_interrogation()
    rig.refill("lioresal-2000", "40")
    rig.advance(timedelta(days=3, hours=2))
    rig.send_program(SINGLE_BOLUS)
    rig.advance(timedelta(minutes=37))
    rig.save_interrogation()  # while the bolus runs
    rig.advance(timedelta(days=2))
    rig.save_interrogation()
    rig.advance(timedelta(days=3))
    rig.send_program(simple_continuous(500), same_delivery=True)  # the bolus is over
    pump_alarm = rig.run_to_alarm(checkpoints=(timedelta(days=40),))
    gaps = rig.assert_never_late(pump_alarm)
    rig.advance(timedelta(days=1))
    rig.refill("lioresal-2000", "40")
    report("single bolus", gaps, [rig.assert_residual()])


# --------------------------------------------------------------------------- known faults


def test_interrogated_while_a_bridge_to_a_stronger_drug_clears(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(program=simple_continuous(400), concentration=500, reservoir_ul=8_000)
    rig.save_interrogation()
    rig.refill("lioresal-500", "40")
    rig.advance(timedelta(days=20, hours=1))
    rig.refill("lioresal-2000", "40", prepared_program=simple_continuous(400))
    # The bridge (360 µL of 500 mcg/mL at 0.8 mL/day) takes 10.8 h; the nurse interrogates
    # again 4 h after the refill, with 227 µL of old drug still in the line.
    pump_alarm = rig.run_to_alarm(step=timedelta(days=5), checkpoints=(timedelta(hours=4),))
    assert rig.console_alarms[-1][0] == "interrogation"
    report("500 -> 2000, interrogated during the bridge", rig.assert_never_late(pump_alarm))


def test_prepared_program_sent_while_a_bridge_to_a_stronger_drug_clears(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(program=simple_continuous(400), concentration=500, reservoir_ul=8_000)
    rig.save_interrogation()
    rig.refill("lioresal-500", "40")
    rig.advance(timedelta(days=20, hours=1))
    prepared = simple_continuous(440)
    rig.refill("lioresal-2000", "40", prepared_program=prepared)
    rig.advance(timedelta(minutes=30))
    rig.send_program(prepared)  # as the refill's review tells the clinician to
    pump_alarm = rig.run_to_alarm(step=timedelta(days=5))
    report("500 -> 2000, prepared program sent", rig.assert_never_late(pump_alarm))


def test_review_after_a_finished_single_bolus_counts_it_once(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(program=simple_continuous(500))
    rig.save_interrogation()
    rig.refill("lioresal-2000", "40")
    rig.advance(timedelta(days=3))
    rig.send_program(SINGLE_BOLUS)
    rig.advance(timedelta(days=5))
    check = rig.send_program(simple_continuous(500), same_delivery=True)
    # The bolus ended days ago: both programs now deliver 500 mcg/24 h from the same state.
    assert check.new_forecast.alarm_at == check.current_forecast.alarm_at


def test_patient_boluses_while_a_bridge_clears(rig_factory: Callable[..., Rig]) -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, Decimal(400), patient_bolus=PATIENT_BOLUS)
    rig = rig_factory(program=program, concentration=500, reservoir_ul=8_000)
    rig.save_interrogation()
    rig.refill("lioresal-500", "40")
    rig.advance(timedelta(days=20, hours=1))
    rig.refill("lioresal-2000", "40", prepared_program=program)
    pump_alarm = rig.run_to_alarm(patient=True, step=timedelta(days=1))
    gaps = rig.assert_never_late(pump_alarm)
    rig.advance(timedelta(hours=1))
    rig.refill("lioresal-2000", "40")
    report("500 -> 2000, patient boluses in the bridge", gaps, [rig.assert_residual()])


def test_a_pump_that_projects_sooner_keeps_its_lead_after_a_refill_and_a_program_change(
    rig_factory: Callable[..., Rig],
) -> None:
    """A pump whose own projected alarm date is 30 days before the console's walks: after a
    refill, and after a dose increase, the console's date is never later than the date the
    pump itself gives when interrogated straight after (it kept 30 days of lead, it did not
    jump to its own later date)."""
    rig = rig_factory(program=simple_continuous(500), alarm_date_early_days=30)
    rig.refill("lioresal-2000", "40")
    after_refill = rig.clinic.forecast_for(SERIAL)
    assert after_refill.alarm_day is not None
    rig.advance(timedelta(minutes=5))
    rig.save_interrogation()
    pump_says = rig.clinic.forecast_for(SERIAL)
    assert pump_says.alarm_day is not None and pump_says.alarm_rule.startswith("the pump's own")
    assert after_refill.alarm_day <= pump_says.alarm_day
    rig.advance(timedelta(days=3))
    rig.send_program(simple_continuous(550))
    after_change = rig.clinic.forecast_for(SERIAL)
    rig.advance(timedelta(minutes=5))
    rig.save_interrogation()
    pump_then = rig.clinic.forecast_for(SERIAL)
    assert after_change.alarm_day is not None and pump_then.alarm_day is not None
    assert after_change.alarm_day <= pump_then.alarm_day
