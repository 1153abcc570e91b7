"""Program writes on the simulated pump: stage, then commit by checksum.

The two phases mirror the protocol (StageProgram, CommitProgram): the pump holds a staged
program aside and answers its checksum; only a commit carrying that checksum makes it
active. Separate because the program write is the safety-critical command the console's
read-back checks, and its fault (a commit that stores something else) is with the other pump faults in
:mod:`drivers.simulator.pump_faults`.
"""

from __future__ import annotations

from drivers.protocol import ProtocolError
from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind
from drivers.simulator.motor import Motor
from drivers.simulator.pump_state import StagedProgram
from itbconsole.model import Mode, Program


class Programming(Motor):
    """Stages and commits programs."""

    def stage_program(self, program: Program) -> int:
        """First phase of a program write: hold ``program`` and return its checksum."""
        with self._lock:
            self._sync()
            if program.mode is Mode.FLEX and not program.flex_steps:
                raise PumpCommandError("bad_program", "The flex program has no steps.")
            try:
                checksum = self.checksum(program)
            except ProtocolError as exc:
                raise PumpCommandError(
                    "bad_program", f"The program cannot be stored: {exc}"
                ) from exc
            self._staged = StagedProgram(program, checksum)
            return checksum

    def commit_program(self, checksum: int) -> Program:
        """Second phase: make the staged program active if ``checksum`` matches it."""
        with self._lock:
            self._sync()
            if self._staged is None:
                raise PumpCommandError(
                    "not_staged", "No program is staged. Send the program again."
                )
            if checksum != self._staged.checksum:
                raise PumpCommandError(
                    "checksum_mismatch",
                    "The commit checksum does not match the staged program; nothing changed. "
                    "Send the program again.",
                )
            new = self._staged.program
            self._staged = None
            if self._commit_fault is not None:
                new = self._commit_fault.alteration(new)
                if self._commit_fault.once:
                    self._commit_fault = None
            old = self._program
            self._program = new
            self._program_start_pump = self.pump_clock_at(self._now)
            self._log(
                EventKind.PROGRAM_CHANGE,
                {"old": old.to_dict(), "new": new.to_dict(), "checksum": checksum},
            )
            return new
