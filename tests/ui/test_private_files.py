"""Files the window writes are owner-only on POSIX (logs, settings, refill PDFs), and a PDF's
metadata carries no patient name."""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path

import pytest

from ui.logs import setup_logging

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def test_log_files_are_owner_only_including_after_a_rotation(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = setup_logging(tmp_path)
        logging.getLogger("itbconsole.test").warning("pump NGP123456H read")
        assert path.stat().st_mode & 0o777 == 0o600
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "_itbconsole", False))
        handler.doRollover()  # type: ignore[attr-defined]
        logging.getLogger("itbconsole.test").warning("after the rotation")
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
        for h in list(logging.getLogger().handlers):
            if getattr(h, "_itbconsole", False):
                logging.getLogger().removeHandler(h)
                h.close()


def test_the_settings_file_is_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.app import settings

    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path))
    old = os.umask(0o022)
    try:
        qs = settings()
        qs.setValue("last_port", "simpump://")
        qs.sync()
    finally:
        os.umask(old)
    assert (tmp_path / "settings.ini").stat().st_mode & 0o777 == 0o600


def test_demo_mode_writes_its_own_window_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's simulated port and window size never land in the clinic's settings."""
    from ui.app import settings

    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path))
    qs = settings(demo=True)
    qs.setValue("last_port", "simpump://demo")
    qs.sync()
    assert not (tmp_path / "settings.ini").exists()
    assert "simpump://demo" in (tmp_path / "demo-settings.ini").read_text()
    assert (tmp_path / "demo-settings.ini").stat().st_mode & 0o777 == 0o600
    assert settings().value("last_port") is None


def test_a_refill_pdf_is_owner_only_and_its_title_names_no_patient(
    tmp_path: Path, qtbot: object
) -> None:
    from dataclasses import fields

    from itbconsole.services.refill import PrintableRefill
    from ui.refill.record import write_refill_pdf

    values: dict[str, object] = {}
    for f in fields(PrintableRefill):
        values[f.name] = "Okafor, Grace" if f.name == "patient_name" else _sample(f.type)
    record = PrintableRefill(**values)  # type: ignore[arg-type]
    old = os.umask(0o022)
    try:
        path = write_refill_pdf(record, tmp_path / "r.pdf")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    title = _title(path)
    assert title.startswith("Refill record") and "Okafor" not in title


def _title(path: Path) -> str:
    """The PDF's /Title, however it is written (plain, escaped, or UTF-16 hex)."""
    import re

    data = path.read_bytes()
    match = re.search(rb"/Title\s*(<[0-9A-Fa-f\s]*>|\((?:\\.|[^\\)])*\))", data)
    assert match, "no /Title in the PDF"
    raw = match.group(1)
    if raw.startswith(b"<"):
        blob = bytes.fromhex(raw[1:-1].decode().replace(" ", ""))
    else:
        blob = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    if blob.startswith(b"\xfe\xff"):
        return blob[2:].decode("utf-16-be")
    return blob.decode("latin-1")


def _sample(annotation: object) -> object:
    text = str(annotation)
    if "bool" in text:
        return False
    if "int" in text and "str" not in text:
        return 0
    if "date" in text:
        return date(2026, 11, 30)
    if "tuple" in text:
        return ()
    return "x"
