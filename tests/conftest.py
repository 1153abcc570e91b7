"""Suite-wide test configuration.

Qt runs headless: the offscreen platform is set here, before any Qt import, so the suite
needs no display. Tests never touch the user's real data folder.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the data folder and database at a temporary directory for every test."""
    data = tmp_path_factory.mktemp("itbdata")
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(data))
    monkeypatch.delenv("ITBCONSOLE_DB", raising=False)


@pytest.fixture(autouse=True)
def _rule_disabled_for_the_safety_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make safety-check`` (tests/safety_check.py) runs the suite with one programming
    rule removed, named in ``ITBCONSOLE_DISABLE_RULE``, to show a test fails without it."""
    name = os.environ.get("ITBCONSOLE_DISABLE_RULE")
    if not name:
        return
    from itbconsole.services import programming
    from itbconsole.services.programming import check

    kept = tuple(r for r in programming.RULES if r.__name__ != name)
    assert len(kept) == len(programming.RULES) - 1, f"no rule named {name}"
    monkeypatch.setattr(programming, "RULES", kept)  # what tests and the safety check read
    monkeypatch.setattr(check, "RULES", kept)  # what check_program runs
