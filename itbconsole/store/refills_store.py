"""Refill records: :class:`RefillRecords`, the refill part of the :class:`Store`.

A refill with the bridge bolus it started, settling a refill whose pump update was
uncertain, and the count of writes to a pump whose outcome is still unknown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from itbconsole.model import Refill, RefillStatus, User
from itbconsole.store import queries
from itbconsole.store import records as rec
from itbconsole.store.db import transaction, utc_iso
from itbconsole.store.errors import StoreError
from itbconsole.store.store_base import StoreBase

REFILL_STATUSES = tuple(RefillStatus)


class RefillRecords(StoreBase):
    """Refills, their bridge boluses, and settling pending ones."""

    def add_refill(
        self,
        refill: Refill,
        user: User,
        *,
        patient_id: int | None = None,
        bridge: tuple[int, int, int] | None = None,
    ) -> Refill:
        """Store a refill (``status`` "pending" while the pump update is uncertain), with
        the bridge bolus it started: (volume µL, concentration in the line before, minutes)."""
        if refill.status not in REFILL_STATUSES:
            raise StoreError(f"Refill status must be one of {', '.join(REFILL_STATUSES)}.")
        with transaction(self.db):
            owner = self._owner_for_write(refill.pump_serial, patient_id)
            new_id = self._insert(
                "refills", {**rec.refill_row(refill), "patient_id": owner}, user, "create"
            )
            if bridge is not None and bridge[0] > 0:
                self._insert(
                    "refill_bridges",
                    {
                        "refill_id": new_id,
                        "pump_serial": refill.pump_serial,
                        "at": utc_iso(refill.at),
                        "volume_ul": bridge[0],
                        "from_concentration_mcg_ml": bridge[1],
                        "duration_min": bridge[2],
                    },
                    user,
                    "create",
                )
        return replace(refill, id=new_id)

    def bridges(self, serial: str) -> dict[datetime, tuple[int, int]]:
        """The bridge boluses refills of this pump started, by refill time:
        (volume µL, concentration in the line before the refill)."""
        return {
            rec.parse_time(r["at"]): (int(r["volume_ul"]), int(r["from_concentration_mcg_ml"]))
            for r in self.db.query(
                "SELECT at, volume_ul, from_concentration_mcg_ml FROM refill_bridges"
                " WHERE pump_serial = ?",
                [serial],
            )
        }

    def resolve_refill(self, refill_id: int, status: str, user: User, note: str = "") -> Refill:
        """Settle a pending refill (confirmed or failed) with a new row that corrects it."""
        if status not in (RefillStatus.CONFIRMED, RefillStatus.FAILED):
            raise StoreError("A pending refill is resolved as confirmed or failed.")
        with transaction(self.db):
            self._require("refills", refill_id, "status", RefillStatus.PENDING)
            new_id = self._correct("refills", refill_id, {"status": status}, user, note)
        return self._one("refills", new_id, rec.refill_from_row)

    def open_outcomes(self, serial: str) -> int:
        """How many writes to this pump still have an unknown outcome (pending refills and
        uncertain program changes, latest versions only)."""
        row = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM refills f WHERE f.pump_serial = ? AND "
            f"f.status = 'pending' AND {queries.effective('refills', 'f')}) + "
            "(SELECT COUNT(*) FROM program_changes g WHERE g.pump_serial = ? AND "
            f"g.outcome = 'uncertain' AND {queries.effective('program_changes', 'g')})",
            [serial, serial],
        ).fetchone()
        return int(row[0])
