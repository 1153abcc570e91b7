"""The program block: a dose program's canonical bytes, its parsing and its checksum.

Separate because the program block is the one payload with its own layout (docs/protocol.md,
"Program block"), shared by StageProgram and ProgramReply, and its CRC-32 is the checksum
the two-phase program write echoes.
"""

from __future__ import annotations

from drivers.protocol.codes import MODE_CODES, MODES_BY_CODE
from drivers.protocol.errors import EncodeError, PayloadError, ProtocolError
from drivers.protocol.framing import crc32
from drivers.protocol.wire_values import PayloadReader, malformed, mcg_to_ng, ng_to_mcg, pack_int
from itbconsole.model import FlexStep, ModelError, PatientBolus, Program


def _pack_steps(steps: tuple[FlexStep, ...], out: bytearray) -> None:
    if len(steps) > 255:
        raise EncodeError("too many flex steps")
    out += bytes([len(steps)])
    for step in steps:
        out += pack_int("u16", step.start_minute, "flex step start")
        out += pack_int("u32", mcg_to_ng(step.rate_mcg_per_hour, "flex rate"), "flex rate ng/h")


def _read_steps(r: PayloadReader) -> tuple[FlexStep, ...]:
    n = r.int("u8")
    return tuple(FlexStep(r.int("u16"), ng_to_mcg(r.int("u32"))) for _ in range(n))


def encode_program(program: Program) -> bytes:
    """Canonical bytes of a program (layout in docs/protocol.md, "Program block")."""
    out = bytearray()
    out += bytes([MODE_CODES[program.mode]])
    out += pack_int("u32", mcg_to_ng(program.daily_dose_mcg, "daily dose"), "daily dose ng")
    out += pack_int("u32", mcg_to_ng(program.bolus_dose_mcg, "bolus dose"), "bolus dose ng")
    out += pack_int("u32", program.bolus_duration_minutes, "bolus duration")
    _pack_steps(program.flex_steps, out)
    if len(program.flex_weekday_steps) > 7:
        raise EncodeError("more than 7 weekday schedules")
    out += bytes([len(program.flex_weekday_steps)])
    for day, steps in program.flex_weekday_steps:
        out += pack_int("u8", day, "weekday")
        _pack_steps(steps, out)
    pb = program.patient_bolus
    if pb is None:
        out += b"\x00"
    else:
        out += b"\x01"
        out += pack_int("u32", mcg_to_ng(pb.dose_mcg, "patient bolus dose"), "patient bolus ng")
        out += pack_int("u32", pb.duration_minutes, "patient bolus duration")
        out += pack_int("u32", pb.lockout_minutes, "patient bolus lockout")
        out += pack_int("u16", pb.max_per_day, "patient boluses per day")
    return bytes(out)


def read_program(r: PayloadReader) -> Program:
    """Parse a program block. The model's own rules run while the block is read (a flex step
    starting at minute 1440 or later fails as it is built, before the program is), so the
    whole read sits inside the one place that turns a broken rule into a PayloadError."""
    code = r.int("u8")
    if code not in MODES_BY_CODE:
        raise PayloadError(f"unknown program mode {code}")
    daily = ng_to_mcg(r.int("u32"))
    bolus = ng_to_mcg(r.int("u32"))
    bolus_minutes = r.int("u32")
    try:
        steps = _read_steps(r)
        weekday = tuple((r.int("u8"), _read_steps(r)) for _ in range(r.int("u8")))
        flag = r.int("u8")
        if flag not in (0, 1):
            raise PayloadError("patient bolus flag must be 0 or 1")
        pb = (
            PatientBolus(ng_to_mcg(r.int("u32")), r.int("u32"), r.int("u32"), r.int("u16"))
            if flag
            else None
        )
        return Program(MODES_BY_CODE[code], daily, steps, weekday, bolus, bolus_minutes, pb)
    except ModelError as exc:
        raise PayloadError(f"program is not valid: {exc}") from None


def decode_program(data: bytes) -> Program:
    """Parse a whole program block. Raises only PayloadError (see :func:`~drivers.protocol.wire_values.malformed`), so a
    caller holding bytes from the wire never has to guess what else could escape."""
    try:
        r = PayloadReader(data)
        program = read_program(r)
        r.end()
    except ProtocolError:
        raise
    except Exception as exc:
        raise malformed("program block", exc) from exc
    return program


def program_checksum(program: Program) -> int:
    """The checksum the pump echoes after staging and the console sends with commit."""
    return crc32(encode_program(program))
