"""The clinic's name, 24 h telephone, address line and paper size: clinic settings that every
printout carries, set by an administrator (``itbconsole settings set``), checked so a card
never prints a number nobody can dial, and kept out of the forecast's key (changing the
telephone recomputes no date)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from itbconsole.cli import main
from itbconsole.settings import ClinicSettings, SettingsError, parse_setting
from itbconsole.store import Store
from tests.itbconsole.test_cli_settings_admin import PASSWORD, db  # noqa: F401  (fixture)

CONTACT: dict[str, Any] = {
    "clinic_name": "Neurorehabilitation ITB Service",
    "clinic_phone_24h": "+44 (20) 7946-0000",
    "clinic_address": "Hôpital Saint-Éloi, Montpellier",
}


def test_the_contact_and_paper_are_settings_with_defaults() -> None:
    s = ClinicSettings()
    assert (s.clinic_name, s.clinic_phone_24h, s.clinic_address, s.paper_size) == ("", "", "", "A4")
    full = ClinicSettings(**CONTACT, paper_size="Letter")
    assert ClinicSettings.from_dict(full.to_dict()) == full
    # Older stored settings (no contact yet) still load.
    old = {k: v for k, v in full.to_dict().items() if k not in CONTACT and k != "paper_size"}
    assert ClinicSettings.from_dict(old).clinic_phone_24h == ""


def test_the_contact_and_the_paper_change_no_forecast() -> None:
    base = ClinicSettings()
    assert ClinicSettings(**CONTACT, paper_size="Letter").fingerprint() == base.fingerprint()
    assert replace(base, refill_margin_days=8).fingerprint() != base.fingerprint()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clinic_phone_24h": "ring the ward"}, "only digits, spaces"),
        ({"clinic_phone_24h": "0123"}, "at least 6 digits"),
        ({"clinic_phone_24h": "+44 20 7946 0000 ext 12"}, "only digits"),
        ({"clinic_name": "Line one\nline two"}, "one line"),
        ({"clinic_name": "x" * 81}, "at most 80"),
        ({"clinic_address": " padded"}, "start or end with a space"),
        ({"paper_size": "A5"}, "A4, Letter"),
    ],
)
def test_bad_contact_or_paper_is_refused_with_a_clear_message(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        replace(ClinicSettings(), **change)


def test_typed_values_are_tidied() -> None:
    assert parse_setting("paper_size", " letter ") == "Letter"
    assert parse_setting("clinic_name", "  Neuro   Rehab ") == "Neuro Rehab"
    assert parse_setting("clinic_phone_24h", "+44 20 7946 0000") == "+44 20 7946 0000"


def run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_an_administrator_sets_the_contact_and_show_prints_it(
    db: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text = run(["--db", str(db), "settings", "show"], monkeypatch, capsys)
    assert code == 0 and "Clinic contact not set - ask the clinic" in text
    assignments = [f"{k}={v}" for k, v in CONTACT.items()] + ["paper_size=letter"]
    code, text = run(
        ["--db", str(db), "settings", "set", "--admin", "Ada Admin", "--note",
         "clinic contact for printouts", "--", *assignments],
        monkeypatch, capsys,
    )  # fmt: skip
    assert code == 0, text
    with Store.open(db) as store:
        saved = store.clinic_settings()
    assert saved is not None and saved.paper_size == "Letter"
    assert {k: getattr(saved, k) for k in CONTACT} == CONTACT
    code, text = run(["--db", str(db), "settings", "show", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(text)["clinic_phone_24h"] == CONTACT["clinic_phone_24h"]
    code, text = run(["--db", str(db), "settings", "show"], monkeypatch, capsys)
    assert "not set - ask the clinic" not in text and CONTACT["clinic_name"] in text


def test_a_bad_telephone_from_the_command_line_changes_nothing(
    db: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text = run(
        ["--db", str(db), "settings", "set", "--admin", "Ada Admin", "--note", "contact",
         "--", "clinic_name=Neuro", "clinic_phone_24h=call the ward"],
        monkeypatch, capsys,
    )  # fmt: skip
    assert code == 2 and "clinic_phone_24h" in text and "Traceback" not in text
    with Store.open(db) as store:
        saved = store.clinic_settings()
    assert saved is None or saved.clinic_name == ""
