"""Faults inside the simulated pump: a stalled motor, a reset, a commit that stores another
program, a battery set low or at ERI.

The wire's faults (lost, corrupted, late bytes) are :mod:`drivers.simulator.faults`; these
are the pump's own, the ones a clinician must recognise from what the pump reports. The
pump never lies about its truth: each fault changes the state and the alarms follow.
Separate so tests and scenarios find every way to break the pump in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from drivers.simulator.alarms import Alarm
from drivers.simulator.event_log import EventKind
from drivers.simulator.motor import Motor
from drivers.simulator.program_arithmetic import scale_program
from drivers.simulator.pump_state import CommitFault
from itbconsole.model import Program


class PumpFaults(Motor):
    """Puts faults into the pump and takes them out."""

    def stall_motor(self) -> None:
        """Make the motor stall: delivery stops and the alarm is raised."""
        with self._lock:
            self._sync()
            if not self._motor_stalled:
                self.motor_stalls += 1
            self._motor_stalled = True
            self._evaluate()

    def clear_motor_stall(self) -> None:
        with self._lock:
            self._sync()
            self._motor_stalled = False
            self._evaluate()

    def simulate_reset(self, reason: int = 1) -> None:
        """A memory/reset fault: logged, and a latched alarm until acknowledged."""
        with self._lock:
            self._sync()
            self.resets += 1
            self._staged = None  # a reset clears the staged program (docs/protocol.md)
            self._log(EventKind.RESET, {"reason": reason})
            self._set_alarm(Alarm.RESET, True)

    def alter_committed_programs(
        self,
        alteration: Callable[[Program], Program] | None = None,
        *,
        once: bool = True,
    ) -> None:
        """Make the next commit (or every commit) store a different program than the one
        staged, while still answering "committed": the console's read-back must catch it.
        Default alteration: every rate and dose divided by ten (the field fault where the
        flow was reset to a very low rate). :meth:`clear_commit_fault` removes it."""
        with self._lock:
            fn = alteration or (lambda p: scale_program(p, Decimal("0.1")))
            self._commit_fault = CommitFault(fn, once)

    def clear_commit_fault(self) -> None:
        with self._lock:
            self._commit_fault = None

    def set_battery_mv(self, mv: int) -> None:
        with self._lock:
            self._sync()
            self._battery_mv = Fraction(mv)
            self._evaluate()

    def set_eri_at(self, when: datetime) -> None:
        """Put the pump at ERI since ``when`` (true time): EOS follows 90 days later."""
        with self._lock:
            self._sync()
            self._eri_at = when.astimezone(UTC)
            self._battery_mv = min(self._battery_mv, Fraction(self.battery.eri_threshold_mv))
            self._evaluate()
