"""Store test set-up: the shared fixtures live in ``storefixtures``."""

from __future__ import annotations

from tests.itbconsole.store.storefixtures import patient, store  # noqa: F401  (fixtures)
