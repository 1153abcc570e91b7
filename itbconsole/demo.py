"""The demo clinic: a deterministic database of a dozen patients with years of history, and
the simulated pumps that belong to some of them.

Why deterministic: a newcomer, a trainer and a test must all see the same clinic. The only
input is "now" (histories end near it, so alarm dates are meaningful on any day); the same
"now" always gives the same records.

The story of each patient is built from the same arithmetic the console uses
(:func:`itbconsole.dosing.segments_delivered_ul`, flex on the pump clock, UTC), so the
demo's refills, residuals and alarm
dates are consistent with what the console computes from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from itbconsole import dosing
from itbconsole.forecast import PUMP_CLOCK
from itbconsole.model import (
    ChangeOutcome,
    FlexStep,
    Mode,
    Origin,
    Patient,
    PatientBolus,
    Program,
    ProgramChange,
    ProgramSegment,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
)
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store

DEMO_USER = User("Demo Clinician", Role.CLINICIAN)
DEMO_NURSE = User("Demo Nurse", Role.NURSE)
DEMO_ZONE = ZoneInfo("Europe/London")
DEMO_ADMIN = User("Demo Administrator", Role.ADMINISTRATOR)
BATTERY_START_MV = 3200
BATTERY_ERI_MV = 2900


@dataclass(frozen=True)
class DemoPatient:
    family: str
    given: str
    dob: date
    hospital: str
    nhs: str | None
    origin: Origin
    serial: str
    model: str
    capacity_ml: int
    concentration: int
    product: str
    start_dose: int  # mcg/day at implant
    years: float  # since implant
    interval_days: int  # usual refill interval
    days_since_last_refill: int
    titrations: tuple[int, ...] = ()  # % change at successive refills
    under_delivery: bool = False
    flex: bool = False
    eri_days_ago: int | None = None
    patient_bolus: bool = False
    simulated_scenario: str | None = None  # a simulated pump for this patient in demo mode
    alarm_in_days: int | None = None  # last refill timed so the alarm is this many days away
    note: str = ""
    extras: dict[str, str] = field(default_factory=dict)


# Patients with a simulated pump carry the simulator scenario's program, drug and volume, so
# the demo's records and the pump agree. Days since the last refill are chosen so the clinic
# shows every state: a patient whose alarm is days away, one at ERI, one drifting into
# under-delivery, a child, flex programs.
DEMO_PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(
        "Okafor",
        "Grace",
        date(1971, 4, 12),
        "H100231",
        "9434765919",
        Origin.SPINAL,
        "SIM0000001",
        "Simulated pump 40 mL",
        40,
        2000,
        "Lioresal Intrathecal",
        415,
        4.5,
        120,
        40,
        titrations=(10, 10),
        patient_bolus=True,
        simulated_scenario="healthy",
        note="Healthy pump; matches the demo's simulated pump 'healthy'.",
    ),
    DemoPatient(
        "Brennan",
        "Thomas",
        date(1958, 9, 30),
        "H100388",
        "4010232137",
        Origin.SPINAL,
        "SIM0000006",
        "Simulated pump 40 mL",
        40,
        2000,
        "Lioresal Intrathecal",
        415,
        3.2,
        90,
        40,
        titrations=(10, 10),
        patient_bolus=True,
        under_delivery=True,
        simulated_scenario="under-delivery",
        note="Delivery drifting low: withdrawn volumes larger than expected.",
    ),
    DemoPatient(
        "Hughes",
        "Amelia",
        date(2016, 2, 3),
        "H200117",
        "5990128088",
        Origin.CEREBRAL,
        "SIM0000002",
        "Simulated pump 20 mL",
        20,
        500,
        "Lioresal Intrathecal",
        125,
        2.1,
        90,
        17,
        titrations=(20,),
        simulated_scenario="small-pump",
        note="Child, cerebral palsy.",
    ),
    DemoPatient(
        "Patel",
        "Ravi",
        date(1966, 11, 8),
        "H100502",
        None,
        Origin.SPINAL,
        "SIM0000003",
        "Simulated pump 40 mL",
        40,
        2000,
        "Lioresal Intrathecal",
        415,
        6.6,
        120,
        40,
        titrations=(10, 10),
        patient_bolus=True,
        eri_days_ago=60,
        simulated_scenario="eri",
        note="Battery past ERI: plan replacement.",
    ),
    DemoPatient(
        "Walsh",
        "Siobhan",
        date(1980, 6, 21),
        "H100644",
        "9876543210",
        Origin.CEREBRAL,
        "NG2H41877",
        "SynchroMed II 8637-40",
        40,
        2000,
        "Lioresal Intrathecal",
        380,
        5.0,
        100,
        143,
        titrations=(10, -10),
        alarm_in_days=5,
        note="Alarm date only days away.",
    ),
    DemoPatient(
        "Nowak",
        "Piotr",
        date(1975, 1, 15),
        "H100719",
        "4505577104",
        Origin.SPINAL,
        "NG2H52210",
        "SynchroMed II 8637-40",
        40,
        1000,
        "Gablofen",
        300,
        3.8,
        90,
        20,
        titrations=(10, 10),
        flex=True,
        note="Flex program, more by day.",
    ),
    DemoPatient(
        "Campbell",
        "Morag",
        date(1949, 3, 2),
        "H100801",
        None,
        Origin.CEREBRAL,
        "PRM880153",
        "Prometra II",
        20,
        500,
        "Lioresal Intrathecal",
        150,
        1.6,
        90,
        30,
        titrations=(10,),
        note="After stroke.",
    ),
    DemoPatient(
        "Adeyemi",
        "Tunde",
        date(1988, 12, 19),
        "H100917",
        "6541238898",
        Origin.SPINAL,
        "NG2H60032",
        "SynchroMed II 8637-20",
        20,
        2000,
        "Gablofen",
        350,
        2.7,
        110,
        85,
        titrations=(20, 10),
        patient_bolus=True,
        note="Patient bolus for activity.",
    ),
    DemoPatient(
        "Fischer",
        "Lena",
        date(1993, 7, 7),
        "H101020",
        None,
        Origin.SPINAL,
        "NG2H61145",
        "SynchroMed II 8637-40",
        40,
        2000,
        "Lioresal Intrathecal",
        450,
        1.2,
        120,
        10,
        titrations=(10,),
        note="Recently titrated.",
    ),
    DemoPatient(
        "Murphy",
        "Sean",
        date(2012, 10, 1),
        "H200233",
        None,
        Origin.CEREBRAL,
        "NG2H66410",
        "SynchroMed II 8637-20",
        20,
        500,
        "Gablofen",
        180,
        3.0,
        80,
        62,
        titrations=(10, 10, -10),
        note="Teenager, growth spurt.",
    ),
    DemoPatient(
        "Rossi",
        "Giulia",
        date(1969, 5, 25),
        "H101145",
        None,
        Origin.SPINAL,
        "NG2H70301",
        "SynchroMed II 8637-40",
        40,
        2000,
        "Gablofen",
        700,
        6.1,
        120,
        100,
        titrations=(5, 5),
        note="High dose, stable.",
    ),
    DemoPatient(
        "Kowalczyk",
        "Anna",
        date(1984, 8, 14),
        "H101262",
        None,
        Origin.CEREBRAL,
        "PRM880420",
        "Prometra II",
        20,
        1000,
        "Gablofen",
        250,
        0.4,
        90,
        45,
        note="New implant.",
    ),
)

UNREGISTERED_SCENARIO = ("clock-drift", "SIM0000007")


def _program(spec: DemoPatient, dose: int) -> Program:
    pb = PatientBolus(Decimal(25), 10, 120, 4) if spec.patient_bolus else None
    if spec.flex:
        # 3 steps: night at 70 %, day (06:00-22:00) at 115 % of the average rate.
        night = Decimal(dose) * Decimal("0.7") / 24
        day_total = Decimal(dose) - night * 8
        day = day_total / 16
        q = Decimal("0.01")
        return Program(
            Mode.FLEX,
            flex_steps=(
                FlexStep(0, night.quantize(q)),
                FlexStep(360, day.quantize(q)),
                FlexStep(1320, night.quantize(q)),
            ),
            patient_bolus=pb,
        )
    return Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(dose), patient_bolus=pb)


def _lot(rng: random.Random) -> str:
    return f"{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"


def build_demo(store: Store, now: datetime | None = None, tz: tzinfo = DEMO_ZONE) -> dict[str, int]:
    """Fill an empty store with the demo clinic; returns {pump serial: patient id}."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    owners: dict[str, int] = {}
    for number, spec in enumerate(DEMO_PATIENTS):
        owners[spec.serial] = _build_patient(store, spec, now, tz, random.Random(1000 + number))
    return owners


def _build_patient(
    store: Store, spec: DemoPatient, now: datetime, tz: tzinfo, rng: random.Random
) -> int:
    patient = store.add_patient(
        Patient(spec.family, spec.given, spec.dob, spec.hospital, spec.origin, spec.nhs), DEMO_NURSE
    )
    assert patient.id is not None
    implant = now - timedelta(days=int(spec.years * 365.25))
    capacity_ul = spec.capacity_ml * 1000
    pump = Pump(
        spec.serial,
        spec.model,
        capacity_ul,
        2000,  # low-reservoir alarm volume, µL
        implant_date=implant.astimezone(tz).date(),
        pump_dead_volume_ul=240,
        catheter_length_cm=Decimal(45 + rng.randint(0, 15)),
        catheter_ul_per_cm=Decimal("2.2"),
    )
    store.register_pump(pump, patient.id, DEMO_NURSE, at=implant)

    # Refill visits: from implant, every ~interval days, the last one days_since_last_refill ago.
    # Intervals are kept inside what the reservoir allows at the final dose, as a clinic would.
    final_dose = spec.start_dose
    for pct in spec.titrations:
        final_dose = int(round(final_dose * (100 + pct) / 100 / 5) * 5)
    final_ul_day = dosing.max_daily_dose_mcg(_program(spec, final_dose)) * 1000 / spec.concentration
    usable_days = int((capacity_ul - 2000) / final_ul_day)
    interval = min(spec.interval_days, int(usable_days * 0.8))
    since = min(spec.days_since_last_refill, int(usable_days * 0.8))
    if spec.alarm_in_days is not None:
        since = usable_days - spec.alarm_in_days
    last_refill = now - timedelta(days=since, hours=rng.randint(0, 5))
    visits: list[datetime] = []
    t = last_refill
    while t > implant + timedelta(days=interval // 2):
        visits.append(t)
        t -= timedelta(days=interval - rng.randint(0, 7))
    visits.reverse()

    dose = spec.start_dose
    program = _program(spec, dose)
    segments = [ProgramSegment(implant, program, spec.concentration)]
    fill_at, fill_ul = implant, capacity_ul
    index = 0
    events: list[PumpEvent] = [
        PumpEvent(
            spec.serial,
            index,
            implant,
            "refill",
            {"reservoir_ul": capacity_ul, "concentration_mcg_ml": spec.concentration},
        )
    ]
    titrations = list(spec.titrations)
    total_visits = len(visits)
    for n, visit in enumerate(visits):
        expected_delivered = dosing.segments_delivered_ul(segments, fill_at, visit, PUMP_CLOCK)
        estimate_ul = max(int(fill_ul - expected_delivered), 0)
        if spec.under_delivery:
            # accuracy drifts from 100 % to 88 % over the last five refills
            drift = Fraction(max(0, n - (total_visits - 5)) * 3, 100)
            actual_delivered = expected_delivered * (1 - drift)
        else:
            actual_delivered = expected_delivered * Fraction(1000 + rng.randint(-25, 30), 1000)
        withdrawn = max(int(fill_ul - actual_delivered), 0)
        battery = _battery_mv(spec, implant, visit, now)
        reading = _reading(
            spec,
            visit,
            rng.randint(-40, 40),
            estimate_ul,
            pump.alarm_volume_ul,
            battery,
            program,
            now,
        )
        store.add_reading(reading, DEMO_NURSE, patient_id=patient.id)
        expiry = (visit + timedelta(days=400)).date()
        store.add_refill(
            Refill(
                spec.serial,
                visit + timedelta(minutes=20),
                withdrawn,
                estimate_ul,
                capacity_ul,
                spec.product,
                spec.concentration,
                _lot(rng),
                expiry,
                note=""
                if abs(withdrawn - estimate_ul) < 2000
                else "Discrepancy discussed with clinician.",
            ),
            DEMO_NURSE,
            patient_id=patient.id,
        )
        index += 1
        events.append(
            PumpEvent(
                spec.serial,
                index,
                visit + timedelta(minutes=22),
                "refill",
                {"reservoir_ul": capacity_ul, "concentration_mcg_ml": spec.concentration},
            )
        )
        fill_at, fill_ul = visit + timedelta(minutes=22), capacity_ul
        # Titrate at the first visits, as clinics do after implant.
        if titrations and n % 2 == 0:
            pct = titrations.pop(0)
            new_dose = int(round(dose * (100 + pct) / 100 / 5) * 5)
            new_program = _program(spec, new_dose)
            at = visit + timedelta(minutes=30)
            store.add_program_change(
                ProgramChange(
                    spec.serial,
                    at,
                    program,
                    new_program,
                    spec.concentration,
                    reason=f"{'Increase' if pct > 0 else 'Decrease'} {abs(pct)} %: "
                    f"{'spasticity not controlled' if pct > 0 else 'weakness reported'}",
                    outcome=ChangeOutcome.SUCCEEDED,
                    readback=new_program,
                ),
                DEMO_USER,
                patient_id=patient.id,
            )
            index += 1
            events.append(
                PumpEvent(
                    spec.serial,
                    index,
                    at,
                    "program_change",
                    {"daily_dose_ng": int(dosing.program_daily_dose_mcg(new_program) * 1000)},
                )
            )
            program, dose = new_program, new_dose
            segments.append(ProgramSegment(at, program, spec.concentration))
    # A mid-interval check reading a few days ago for most patients.
    check = now - timedelta(days=min(spec.days_since_last_refill // 2, 30), hours=2)
    if check > fill_at:
        delivered = dosing.segments_delivered_ul(segments, fill_at, check, PUMP_CLOCK)
        battery = _battery_mv(spec, implant, check, now)
        reservoir_ul = max(int(fill_ul - delivered), 0)
        reading = _reading(
            spec,
            check,
            rng.randint(-60, 60),
            reservoir_ul,
            pump.alarm_volume_ul,
            battery,
            program,
            now,
        )
        store.add_reading(reading, DEMO_NURSE, patient_id=patient.id)
    if spec.simulated_scenario is None:
        # A simulated pump keeps its own log from index 0; storing invented entries under
        # the same indices would make the console skip the simulator's real ones.
        store.add_events(events, DEMO_NURSE, patient_id=patient.id)
    return patient.id


def _reading(
    spec: DemoPatient,
    at: datetime,
    clock_skew_s: int,
    reservoir_ul: int,
    alarm_ul: int,
    battery_mv: int,
    program: Program,
    now: datetime,
) -> Reading:
    """A reading of the demo pump: its clock ``clock_skew_s`` off, ERI below 2.9 V. Past
    ERI the pump reports its own ERI and End of Service dates, as the simulated pump does."""
    eri_date = eos_date = None
    if battery_mv <= BATTERY_ERI_MV and spec.eri_days_ago is not None:
        eri_date = (now - timedelta(days=spec.eri_days_ago)).date()
        eos_date = eri_date + timedelta(days=90)
    return Reading(
        spec.serial,
        at,
        at + timedelta(seconds=clock_skew_s),
        reservoir_ul,
        alarm_ul,
        battery_mv,
        battery_mv <= BATTERY_ERI_MV,
        False,
        spec.concentration,
        program,
        alarms=_alarms(battery_mv, reservoir_ul, alarm_ul),
        eri_date=eri_date,
        eos_date=eos_date,
    )


def _alarms(battery_mv: int, reservoir_ul: int, alarm_ul: int) -> tuple[str, ...]:
    """The alarms a pump in this state would report (names as in the link protocol)."""
    found = []
    if reservoir_ul <= alarm_ul:
        found.append("low_reservoir")
    if battery_mv <= BATTERY_ERI_MV:
        found.append("eri")
    return tuple(found)


def _battery_mv(spec: DemoPatient, implant: datetime, at: datetime, now: datetime) -> int:
    """Linear fall from 3.2 V at implant; ERI patients cross 2.9 V ``eri_days_ago`` ago."""
    if spec.eri_days_ago is not None:
        eri_at = now - timedelta(days=spec.eri_days_ago)
        span = (eri_at - implant).total_seconds()
        slope = (BATTERY_START_MV - BATTERY_ERI_MV + 1) / span
    else:
        slope = 0.12 / 86_400  # 0.12 mV a day: ERI after about 7 years
    return int(BATTERY_START_MV - slope * (at - implant).total_seconds())


#: The demo clinic's contact on its printouts: fictional (a number from the range set aside
#: for drama, which reaches no one).
DEMO_CLINIC_NAME = "Demo ITB Service (training)"
DEMO_CLINIC_PHONE = "+44 20 7946 0000"


def open_demo_store(path: Path, now: datetime | None = None) -> Store:
    """A fresh demo database at ``path`` (any earlier demo file there is replaced)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = Store.open(path)
    store.db.execute("PRAGMA synchronous = OFF")  # generated data: speed over durability
    # The demo clinic counts its dates in its own zone, whatever this computer's is.
    store.save_clinic_settings(
        ClinicSettings(
            zone=DEMO_ZONE.key,
            training=1,
            clinic_name=DEMO_CLINIC_NAME,
            clinic_phone_24h=DEMO_CLINIC_PHONE,
        ),
        DEMO_ADMIN,
        "demo clinic: a training database, dates in London time, a fictional contact",
    )
    build_demo(store, now)
    store.db.execute("PRAGMA synchronous = FULL")
    return store


def demo_ports() -> list[tuple[str, str]]:
    """(URL, label) of the simulated pumps offered in demo mode, first the default one."""
    ports = []
    for spec in DEMO_PATIENTS:
        if spec.simulated_scenario:
            ports.append(
                (
                    f"simpump://{spec.serial}?scenario={spec.simulated_scenario}",
                    f"Simulated pump: {spec.given} {spec.family} ({spec.simulated_scenario})",
                )
            )
    scenario, serial = UNREGISTERED_SCENARIO
    ports.append(
        (f"simpump://{serial}?scenario={scenario}", f"Simulated pump: not registered ({scenario})")
    )
    return ports
