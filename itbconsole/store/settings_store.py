"""Clinic settings records: :class:`ClinicSettingsRecords`, part of the :class:`Store`.

The clinic's numbers (:class:`~itbconsole.settings.ClinicSettings`) as versions: the newest
is in force, the older ones stay as history; only an administrator saves a new one.
"""

from __future__ import annotations

import json

from itbconsole.model import Role, User
from itbconsole.settings import ClinicSettings
from itbconsole.store import records as rec
from itbconsole.store.audit import canonical_json
from itbconsole.store.db import transaction
from itbconsole.store.errors import StoreError
from itbconsole.store.store_base import StoreBase


class ClinicSettingsRecords(StoreBase):
    """The clinic's settings: the version in force, saving a new one, the history."""

    def settings_version(self) -> int:
        """The id of the settings in force (0 before any is stored): another program on
        the same database may change them while this one runs."""
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM clinic_settings").fetchone()
        return int(row[0])

    def clinic_settings(self) -> ClinicSettings | None:
        """The settings in force (the newest stored version), or None before any is saved."""
        row = self.db.execute(
            "SELECT settings_json FROM clinic_settings ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return ClinicSettings.from_dict(json.loads(row[0])) if row else None

    def save_clinic_settings(self, settings: ClinicSettings, user: User, note: str = "") -> None:
        """A new version of the clinic's settings (administrators only); every stored
        forecast is then out of date (a trigger clears them)."""
        if user.role is not Role.ADMINISTRATOR:
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only an administrator can "
                "change the clinic's settings."
            )
        with transaction(self.db):
            self._insert(
                "clinic_settings",
                {"settings_json": canonical_json(settings.to_dict()), "note": note},
                user,
                "create",
            )

    def settings_history(self) -> list[tuple[rec.Stamp, ClinicSettings, str]]:
        return [
            (
                rec.stamp_from_row({**r, "corrects_id": None}),
                ClinicSettings.from_dict(json.loads(r["settings_json"])),
                r["note"],
            )
            for r in self.db.query("SELECT * FROM clinic_settings ORDER BY id")
        ]
