"""The guided refill: a wizard over :class:`itbconsole.services.refill.RefillSession`.

``open_refill_wizard(window)`` is what Pump > Start refill calls. It returns the wizard
(non-modal, so the link thread keeps running and tests need no modal loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.host import Host
    from ui.refill.wizard import RefillWizard


def open_refill_wizard(window: Host) -> RefillWizard | None:
    """Start the refill workflow for the open patient (called by Pump > Start refill)."""
    from ui.refill.wizard import RefillWizard

    if window.current_patient_id is None:
        window.prompts.error("Start refill", "Open the patient's record first.")
        return None
    if window.clinic.pump_of(window.current_patient_id) is None:
        window.prompts.error(
            "Start refill", "This patient has no pump registered. Register the pump first."
        )
        return None
    existing = window.refill_wizard
    if isinstance(existing, RefillWizard) and existing.isVisible():
        existing.raise_()
        existing.activateWindow()
        return existing
    wizard = RefillWizard(window)
    window.refill_wizard = wizard
    wizard.show()
    if window.connected_identity is not None and not window.link.busy:
        wizard.interrogate()
    return wizard
