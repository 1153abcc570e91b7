"""A simulated ITB pump: real state and physics behind the same protocol a real pump speaks.

Why it exists: real pump protocols are proprietary and real pumps are implanted, so the
console, its tests and its demos need a pump that keeps honest state (reservoir, program,
battery, clock, alarms, event log), delivers by its own motor physics (one step a
pump-clock minute, written apart from :mod:`itbconsole.dosing`, so end-to-end tests compare
two independent computations), and can be made to misbehave on the wire (:mod:`.faults`)
without ever lying about its own truth.

* :mod:`.pump` — :class:`SimPump`, assembled from one module per concept: its state
  (:mod:`.pump_state`), clocks (:mod:`.clock`), program arithmetic
  (:mod:`.program_arithmetic`), motor physics (:mod:`.motor`), battery (:mod:`.battery`),
  event log (:mod:`.event_log`), alarms (:mod:`.alarms`), readings (:mod:`.readings`),
  commands (:mod:`.programming`, :mod:`.refill`, :mod:`.boluses`), faults inside the pump
  (:mod:`.pump_faults`) and saved state (:mod:`.saved_state`);
* :mod:`.scenarios` — named presets (healthy, low-reservoir, eri, ...);
* :mod:`.faults` — the wire fault injector;
* :mod:`.server` — the protocol responder and the pty / TCP servers.

The ``simpump://`` port that serves a pump inside the process is pyserial's kind of URL
handler, so it lives with the handlers: :mod:`drivers.urlhandler.protocol_simpump`.
"""

from __future__ import annotations

from drivers.simulator.pump import ManualClock, PumpCommandError, SimPump
from drivers.simulator.scenarios import SCENARIOS, build_scenario

__all__ = ["SCENARIOS", "ManualClock", "PumpCommandError", "SimPump", "build_scenario"]
