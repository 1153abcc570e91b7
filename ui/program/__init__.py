"""The program editor: Pump > Change program (Ctrl+G) or the patient header's button.

:func:`open_program_editor` reads the pump's program on the link thread (or, when no pump
is connected, starts from the latest reading so a program can be prepared for review) and
opens :class:`~ui.program.editor.ProgramEditorDialog`. The rules are in
:mod:`itbconsole.services.programming`; the screens only show what they find.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ui.program.controller import ProgramEditorController
from ui.program.editor import ProgramEditorDialog

if TYPE_CHECKING:
    from ui.host import Host

__all__ = ["ProgramEditorController", "ProgramEditorDialog", "open_program_editor"]


def open_program_editor(window: Host) -> ProgramEditorController:
    """Start a program change for the open patient. The editor opens window-modal once the
    pump's program is read; find it as ``controller.dialog`` (or the window's child named
    ``programEditor``)."""
    controller = ProgramEditorController(window)
    controller.start()
    return controller
