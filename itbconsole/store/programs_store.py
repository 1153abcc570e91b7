"""Program records: :class:`ProgramRecords`, the program part of the :class:`Store`.

Programs sent to a pump (with their outcome, settled when it was uncertain) and programs
prepared for review before anyone sends them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from itbconsole.model import ChangeOutcome, PreparedProgram, Program, ProgramChange, Role, User
from itbconsole.store import queries
from itbconsole.store import records as rec
from itbconsole.store.db import transaction
from itbconsole.store.errors import StoreError
from itbconsole.store.store_base import StoreBase

OUTCOMES = tuple(ChangeOutcome)
PREPARED_STATUSES = ("prepared", "sent", "withdrawn")


def _prepared_row(prepared: PreparedProgram) -> dict[str, Any]:
    return {
        "pump_serial": prepared.pump_serial,
        "prepared_at": rec.utc_iso(prepared.prepared_at),
        "program_json": rec.program_json(prepared.program),
        "concentration_mcg_ml": prepared.concentration_mcg_ml,
        "reason": prepared.reason,
        "prepared_by": prepared.prepared_by,
        "prepared_role": prepared.prepared_role.value,
        "status": "prepared",
    }


def _prepared_from_row(row: rec.Row) -> PreparedProgram:
    return PreparedProgram(
        pump_serial=row["pump_serial"],
        prepared_at=rec.parse_time(row["prepared_at"]),
        program=Program.from_dict(json.loads(row["program_json"])),
        concentration_mcg_ml=int(row["concentration_mcg_ml"]),
        reason=row["reason"],
        prepared_by=row["prepared_by"],
        prepared_role=Role(row["prepared_role"]),
        id=int(row["id"]),
    )


class ProgramRecords(StoreBase):
    """Program changes sent to a pump, and programs prepared for review."""

    def add_program_change(
        self, change: ProgramChange, user: User, *, patient_id: int | None = None
    ) -> ProgramChange:
        """Store a program sent to the pump. Only clinicians and administrators send."""
        if not user.can_send_program():
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only a clinician or an "
                "administrator can send a program to the pump."
            )
        if change.outcome not in OUTCOMES:
            raise StoreError(f"Outcome must be one of {', '.join(OUTCOMES)}.")
        with transaction(self.db):
            owner = self._owner_for_write(change.pump_serial, patient_id)
            new_id = self._insert(
                "program_changes",
                {**rec.program_change_row(change), "patient_id": owner},
                user,
                "create",
            )
        return replace(change, id=new_id)

    def resolve_program_change(
        self, change_id: int, outcome: str, user: User, *, readback: Any = None, note: str = ""
    ) -> ProgramChange:
        """Settle an uncertain program change once the next read shows what the pump has."""
        if outcome not in (ChangeOutcome.SUCCEEDED, ChangeOutcome.FAILED):
            raise StoreError("An uncertain program change is resolved as succeeded or failed.")
        changes: dict[str, Any] = {"outcome": outcome}
        if readback is not None:
            changes["readback_json"] = rec.program_json(readback)
        with transaction(self.db):
            self._require("program_changes", change_id, "outcome", ChangeOutcome.UNCERTAIN)
            new_id = self._correct("program_changes", change_id, changes, user, note)
        return self._one("program_changes", new_id, rec.program_change_from_row)

    # ----------------------------------------------------------------- prepared programs

    def add_prepared_program(
        self, prepared: PreparedProgram, user: User, *, patient_id: int | None = None
    ) -> PreparedProgram:
        """Store a program prepared for review (anyone signed in may prepare one; only a
        clinician or administrator may send it). ``prepared_by``/``prepared_role`` are
        taken from ``user`` so the record cannot claim a clinician's authority it lacks.

        A pump has at most one open prepared program: any earlier one still open is
        withdrawn in the same transaction (a correction row naming the new one), so the
        refill and the editor never have to choose between two."""
        if prepared.concentration_mcg_ml <= 0:
            raise StoreError("A prepared program needs the concentration it was made for.")
        stamped = replace(prepared, prepared_by=user.name, prepared_role=user.role)
        with transaction(self.db):
            owner = self._owner_for_write(prepared.pump_serial, patient_id)
            earlier = [
                r["id"]
                for r in self.db.query(
                    "SELECT p.id FROM prepared_programs p WHERE p.pump_serial = ? AND "
                    f"p.status = 'prepared' AND {queries.effective('prepared_programs', 'p')}",
                    [prepared.pump_serial],
                )
            ]
            new_id = self._insert(
                "prepared_programs", {**_prepared_row(stamped), "patient_id": owner}, user, "create"
            )
            for old_id in earlier:
                self._correct(
                    "prepared_programs",
                    int(old_id),
                    {"status": "withdrawn"},
                    user,
                    f"replaced by prepared program {new_id}",
                )
        return replace(stamped, id=new_id)

    def prepared_program(self, serial: str) -> PreparedProgram | None:
        """The pump's open prepared program (the latest neither sent nor withdrawn), or
        None. ``id`` is the row to name when withdrawing it or marking it sent."""
        row = next(
            self.db.query(
                "SELECT p.* FROM prepared_programs p WHERE p.pump_serial = ? AND "
                f"p.status = 'prepared' AND {queries.effective('prepared_programs', 'p')} "
                "ORDER BY p.prepared_at DESC, p.id DESC LIMIT 1",
                [serial],
            ),
            None,
        )
        return None if row is None else _prepared_from_row(row)

    def prepared_program_history(self, serial: str) -> list[rec.Recorded[PreparedProgram]]:
        """Every prepared-program row for the pump, oldest first, with its stamp; the
        ``status`` of each is in :meth:`prepared_program_status`."""
        return [
            rec.Recorded(_prepared_from_row(r), rec.stamp_from_row(r))
            for r in self.db.query(
                "SELECT * FROM prepared_programs WHERE pump_serial = ? ORDER BY id", [serial]
            )
        ]

    def prepared_program_status(self, prepared_id: int) -> str:
        """prepared, sent or withdrawn: the status of the latest version of the record."""
        row = self.db.execute(
            "WITH RECURSIVE fwd(id) AS (SELECT ? UNION SELECT t.id FROM prepared_programs t "
            "JOIN fwd ON t.corrects_id = fwd.id) SELECT status FROM prepared_programs "
            "WHERE id IN (SELECT id FROM fwd) ORDER BY id DESC LIMIT 1",
            [prepared_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"There is no prepared program {prepared_id}.")
        return str(row[0])

    def withdraw_prepared_program(self, prepared_id: int, user: User, note: str) -> None:
        """Withdraw an open prepared program (it will not be sent). Needs a reason; the
        prepared row stays in history."""
        if not note.strip():
            raise StoreError("Say why the prepared program is being withdrawn.")
        with transaction(self.db):
            self._require("prepared_programs", prepared_id, "status", "prepared")
            self._correct("prepared_programs", prepared_id, {"status": "withdrawn"}, user, note)

    def mark_prepared_program_sent(
        self, prepared_id: int, program_change_id: int, user: User, note: str = ""
    ) -> None:
        """Close a prepared program because it was sent: a correction row with status
        "sent" that names the program change record it became."""
        if not user.can_send_program():
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only a clinician or an "
                "administrator can send a program to the pump."
            )
        with transaction(self.db):
            self._require("prepared_programs", prepared_id, "status", "prepared")
            if (
                self.db.execute(
                    "SELECT 1 FROM program_changes WHERE id = ?", [program_change_id]
                ).fetchone()
                is None
            ):
                raise StoreError(f"There is no program change {program_change_id}.")
            self._correct(
                "prepared_programs",
                prepared_id,
                {"status": "sent", "program_change_id": program_change_id},
                user,
                note or f"sent as program change {program_change_id}",
            )
