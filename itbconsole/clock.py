"""The clinic's time zone, for showing local times and following flex schedules.

Stored times are UTC; this is only how they are shown and how a pump's wall-clock schedule
is read. ``ITBCONSOLE_TZ`` (an IANA name such as ``Europe/London``) overrides the system's.
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone() -> tzinfo:
    """The IANA zone of this computer (DST-aware), falling back to a fixed offset."""
    for name in (os.environ.get("ITBCONSOLE_TZ"), os.environ.get("TZ"), _system_zone_name()):
        if name:
            try:
                return ZoneInfo(name.lstrip(":"))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def _system_zone_name() -> str | None:
    timezone_file = Path("/etc/timezone")
    if timezone_file.exists():
        name = timezone_file.read_text(encoding="utf-8").strip()
        if name:
            return name
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        marker = "zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    return None
