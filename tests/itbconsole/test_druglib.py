"""The drug library loads, validates, and refuses bad files with the line named."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from itbconsole.druglib import (
    DrugLibraryError,
    LimitCheck,
    load_drug_library,
    parse_drug_library,
)


def test_default_library_has_the_labelled_products() -> None:
    lib = load_drug_library()
    labels = {p.label for p in lib}
    for expected in (
        "Lioresal Intrathecal 500 mcg/mL",
        "Lioresal Intrathecal 2000 mcg/mL",
        "Gablofen 1000 mcg/mL",
        "Gablofen 2000 mcg/mL",
    ):
        assert expected in labels
    # Screening strengths are in the library but cannot be used to refill a pump.
    assert lib.find("Gablofen", 50) is not None
    assert all(p.concentration_mcg_ml != 50 for p in lib.refill_products())


def test_every_limit_names_its_source() -> None:
    lib = load_drug_library()
    for product in lib:
        assert product.source
        for limit in (
            product.limits.daily_dose_mcg,
            product.limits.change_pct,
            product.limits.bolus_dose_mcg,
            product.limits.boluses_per_day,
        ):
            assert limit.source.strip()


def test_limit_classification_hard_beats_soft() -> None:
    limit = load_drug_library().by_id("gablofen-2000").limits.daily_dose_mcg
    assert limit.check(Decimal(500)) is LimitCheck.WITHIN
    assert limit.check(Decimal(1100)) is LimitCheck.SOFT
    assert limit.check(Decimal(1501)) is LimitCheck.HARD
    assert limit.check(Decimal(-1)) is LimitCheck.HARD


def _default_text() -> str:
    return Path(load_drug_library().path).read_text(encoding="utf-8")


def test_bounds_out_of_order_names_the_line(tmp_path: Path) -> None:
    text = _default_text().replace(
        '"soft_max": 1000, "hard_max": 1500', '"soft_max": 1000, "hard_max": 900'
    )
    bad = tmp_path / "lib.json"
    bad.write_text(text)
    expected_line = next(
        i for i, line in enumerate(text.splitlines(), 1) if '"hard_max": 900' in line
    )
    with pytest.raises(DrugLibraryError) as err:
        load_drug_library(bad)
    assert f"line {expected_line}" in str(err.value)
    assert "daily_dose_mcg" in str(err.value)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    lines = _default_text().splitlines()
    lines[5] = lines[5] + ",,"
    bad = tmp_path / "lib.json"
    bad.write_text("\n".join(lines))
    with pytest.raises(DrugLibraryError, match=r"line 6"):
        load_drug_library(bad)


def test_zero_concentration_refused_with_product_line() -> None:
    data = json.loads(_default_text())
    data["products"][1]["concentration_mcg_ml"] = 0
    text = json.dumps(data, indent=1)
    pid_line = next(i for i, line in enumerate(text.splitlines(), 1) if '"lioresal-500"' in line)
    with pytest.raises(DrugLibraryError, match=rf"line {pid_line}: product 'lioresal-500'"):
        parse_drug_library(text, "clinic.json")


def test_missing_source_refused() -> None:
    data = json.loads(_default_text())
    del data["default_limits"]["boluses_per_day"]["source"]
    with pytest.raises(DrugLibraryError, match='needs a "source"'):
        parse_drug_library(json.dumps(data, indent=1))


def test_per_product_limit_override() -> None:
    data = json.loads(_default_text())
    data["products"][2]["limits"] = {
        "daily_dose_mcg": {
            "hard_min": 0,
            "soft_min": 10,
            "soft_max": 800,
            "hard_max": 1200,
            "source": "clinic",
        }
    }
    lib = parse_drug_library(json.dumps(data, indent=1))
    product = lib.by_id(data["products"][2]["id"])
    assert product.limits.daily_dose_mcg.soft_max == Decimal(800)
    # untouched limits fall back to the defaults
    assert product.limits.bolus_dose_mcg.soft_max == Decimal(100)


def test_unreadable_file_message(tmp_path: Path) -> None:
    with pytest.raises(DrugLibraryError, match="cannot read"):
        load_drug_library(tmp_path / "missing.json")


def test_a_library_without_the_lockout_and_single_bolus_limits_gets_the_clinic_defaults() -> None:
    import json

    from itbconsole.druglib import default_library_path, parse_drug_library

    data = json.loads(default_library_path().read_text(encoding="utf-8"))
    for name in ("lockout_minutes", "single_boluses_per_day"):
        del data["default_limits"][name]
    library = parse_drug_library(json.dumps(data), "an older library")
    limits = library.products[1].limits
    assert (limits.lockout_minutes.hard_min, limits.single_boluses_per_day.hard_max) == (15, 2)
    assert "clinic default" in limits.lockout_minutes.source
