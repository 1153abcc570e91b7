"""A clinic with several rooms: each room syncs its records to the clinic's PostgreSQL server.

This module itself imports no database driver: the app asks it whether a server is named
before loading the sync (psycopg and all) at start.
"""

from __future__ import annotations

import os

#: Where the console finds the clinic server's connection string (no password in it:
#: the password lives in the user's ~/.pgpass; docs/deployment.md).
DSN_ENVIRONMENT_VARIABLE = "ITBCONSOLE_SYNC_DSN"


def configured_dsn(explicit: str | None = None) -> str | None:
    """The clinic server to sync with: ``explicit`` when given, else
    ``$ITBCONSOLE_SYNC_DSN``; None when neither names one (sync is then off)."""
    chosen = explicit if explicit else os.environ.get(DSN_ENVIRONMENT_VARIABLE, "")
    chosen = chosen.strip()
    return chosen or None


__all__ = ["DSN_ENVIRONMENT_VARIABLE", "configured_dsn"]
