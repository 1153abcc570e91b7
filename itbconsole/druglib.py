"""The drug library: which products and concentrations may go into a pump, with their dose
limits (dose error reduction) and maximum refill interval.

Loaded and validated at start. A bad file is refused with a message that names the file, the
line and what is wrong, so a pharmacist editing a clinic copy can fix it; the console never
runs on a half-valid library.

Limits have four bounds. A value outside ``hard_min..hard_max`` cannot be programmed at all;
a value outside ``soft_min..soft_max`` needs a typed reason, and the override is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

LIMIT_NAMES = (
    "daily_dose_mcg",
    "change_pct",
    "bolus_dose_mcg",
    "boluses_per_day",
    "lockout_minutes",
    "single_boluses_per_day",
    "screening_dose_mcg",
)
#: Limits a library written before they existed may leave out: these clinic defaults apply.
OPTIONAL_LIMITS: dict[str, tuple[int, int, int, int]] = {
    # a patient-bolus lockout: under 15 min refused, under 60 min needs a reason
    "lockout_minutes": (15, 60, 1440, 1440),
    # clinician single boluses in 24 hours: a second needs a reason, a third is refused
    "single_boluses_per_day": (0, 0, 1, 2),
    # a screening test dose: 50 mcg, 25 for small children, 75 or 100 on a later day
    "screening_dose_mcg": (10, 25, 100, 100),
}
LIMIT_BOUNDS = ("hard_min", "soft_min", "soft_max", "hard_max")
FORMAT_NAME = "itbconsole-drug-library"


class DrugLibraryError(ValueError):
    """The library file is unusable. ``str()`` names the file and line."""


class LimitCheck(Enum):
    WITHIN = "within"
    SOFT = "soft"  # outside the soft range: needs a reason, recorded
    HARD = "hard"  # outside the hard range: refused


@dataclass(frozen=True)
class Limit:
    """Four bounds on one quantity, and where the numbers come from."""

    name: str
    hard_min: Decimal
    soft_min: Decimal
    soft_max: Decimal
    hard_max: Decimal
    source: str

    def check(self, value: Decimal | int) -> LimitCheck:
        """Classify ``value``: HARD beats SOFT beats WITHIN."""
        v = Decimal(value)
        if v < self.hard_min or v > self.hard_max:
            return LimitCheck.HARD
        if v < self.soft_min or v > self.soft_max:
            return LimitCheck.SOFT
        return LimitCheck.WITHIN


@dataclass(frozen=True)
class DrugLimits:
    daily_dose_mcg: Limit
    change_pct: Limit
    bolus_dose_mcg: Limit
    boluses_per_day: Limit
    lockout_minutes: Limit
    single_boluses_per_day: Limit
    screening_dose_mcg: Limit


@dataclass(frozen=True)
class DrugProduct:
    """One product at one concentration, e.g. Gablofen 2000 mcg/mL."""

    id: str
    product: str
    manufacturer: str
    concentration_mcg_ml: int
    use: str  # "maintenance" or "screening"
    refill_allowed: bool
    max_refill_interval_days: int
    limits: DrugLimits
    source: str
    gtins: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.product} {self.concentration_mcg_ml} mcg/mL"


@dataclass(frozen=True)
class DrugLibrary:
    title: str
    version: int
    products: tuple[DrugProduct, ...]
    sources: dict[str, str]
    path: str

    def __iter__(self) -> Iterator[DrugProduct]:
        return iter(self.products)

    def by_id(self, product_id: str) -> DrugProduct:
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(f"No product '{product_id}' in the drug library.")

    def find(self, product: str, concentration_mcg_ml: int) -> DrugProduct | None:
        """The library entry for a product name and concentration, or None."""
        for p in self.products:
            if (
                p.product.casefold() == product.casefold()
                and p.concentration_mcg_ml == concentration_mcg_ml
            ):
                return p
        return None

    def by_gtin(self, gtin: str) -> DrugProduct | None:
        for p in self.products:
            if gtin in p.gtins:
                return p
        return None

    def refill_products(self) -> tuple[DrugProduct, ...]:
        """Products a pump may be refilled with (screening strengths excluded)."""
        return tuple(p for p in self.products if p.refill_allowed)

    def screening_products(self) -> tuple[DrugProduct, ...]:
        """Strengths for a screening test dose (not for a pump)."""
        return tuple(p for p in self.products if p.use == "screening")

    def concentrations(self) -> tuple[int, ...]:
        return tuple(sorted({p.concentration_mcg_ml for p in self.products}))


# --------------------------------------------------------------------------- loading


def default_library_path() -> Path:
    return Path(str(resources.files("resources") / "drug_library.json"))


def load_drug_library(path: str | Path | None = None) -> DrugLibrary:
    """Load and validate a library file (the shipped default when ``path`` is None)."""
    file_path = Path(path) if path is not None else default_library_path()
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DrugLibraryError(
            f"{file_path}: cannot read the drug library ({exc.strerror})."
        ) from None
    return parse_drug_library(text, str(file_path))


def parse_drug_library(text: str, name: str = "<drug library>") -> DrugLibrary:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DrugLibraryError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    locate = _Locator(text, name)
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise DrugLibraryError(
            f'{name} line 1: not a drug library ("format" must be "{FORMAT_NAME}").'
        )
    defaults = _parse_limits(data.get("default_limits"), locate, "default_limits", None)
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise DrugLibraryError(f"{locate.line_of('products')}: the library lists no products.")
    products: list[DrugProduct] = []
    seen: set[str] = set()
    for raw in raw_products:
        product = _parse_product(raw, locate, defaults)
        if product.id in seen:
            raise DrugLibraryError(
                f"{locate.line_of(product.id)}: product id '{product.id}' appears twice."
            )
        seen.add(product.id)
        products.append(product)
    sources = data.get("sources", {})
    return DrugLibrary(
        title=str(data.get("title", "Drug library")),
        version=int(data.get("version", 1)),
        products=tuple(products),
        sources={str(k): str(v) for k, v in sources.items()},
        path=name,
    )


class _Locator:
    """Finds the line of a key or value in the source text, for error messages."""

    def __init__(self, text: str, name: str) -> None:
        self.lines = text.splitlines()
        self.name = name

    def line_of(self, needle: str, after: int = 0) -> str:
        pattern = re.compile(r'"' + re.escape(needle) + r'"')
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if pattern.search(line):
                return f"{self.name} line {number}"
        return f"{self.name}"

    def line_number(self, needle: str) -> int:
        pattern = re.compile(r'"' + re.escape(needle) + r'"')
        for number, line in enumerate(self.lines, start=1):
            if pattern.search(line):
                return number
        return 0


def _number(value: Any, where: str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DrugLibraryError(f"{where}: {what} must be a number.")
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise DrugLibraryError(f"{where}: {what} must be a number.") from None


def _parse_limits(raw: Any, locate: _Locator, key: str, base: DrugLimits | None) -> DrugLimits:
    where = locate.line_of(key)
    if base is None and not isinstance(raw, dict):
        raise DrugLibraryError(f'{where}: "{key}" with the limits is missing.')
    raw = raw or {}
    parsed: dict[str, Limit] = {}
    start = max(locate.line_number(key) - 1, 0)
    for limit_name in LIMIT_NAMES:
        entry = raw.get(limit_name)
        if entry is None:
            if base is not None:
                parsed[limit_name] = getattr(base, limit_name)
                continue
            if limit_name in OPTIONAL_LIMITS:
                lo_hard, lo_soft, hi_soft, hi_hard = OPTIONAL_LIMITS[limit_name]
                parsed[limit_name] = Limit(
                    limit_name,
                    Decimal(lo_hard),
                    Decimal(lo_soft),
                    Decimal(hi_soft),
                    Decimal(hi_hard),
                    "clinic default (not in the library file)",
                )
                continue
            raise DrugLibraryError(f'{where}: limit "{limit_name}" is missing.')
        lwhere = locate.line_of(limit_name, after=start)
        if not isinstance(entry, dict):
            raise DrugLibraryError(f'{lwhere}: "{limit_name}" must be an object with bounds.')
        bounds = {}
        for bound in LIMIT_BOUNDS:
            if bound not in entry:
                raise DrugLibraryError(f'{lwhere}: "{limit_name}" is missing "{bound}".')
            bounds[bound] = _number(entry[bound], lwhere, f"{limit_name}.{bound}")
        ordered = [bounds[b] for b in LIMIT_BOUNDS]
        if ordered != sorted(ordered):
            raise DrugLibraryError(
                f'{lwhere}: "{limit_name}" bounds must satisfy hard_min <= soft_min <= soft_max <= hard_max '
                f"(got {', '.join(f'{b}={bounds[b]}' for b in LIMIT_BOUNDS)})."
            )
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise DrugLibraryError(
                f'{lwhere}: "{limit_name}" needs a "source" (or say it is a clinic setting).'
            )
        parsed[limit_name] = Limit(limit_name, source=source, **bounds)
    return DrugLimits(**parsed)


def _parse_product(raw: Any, locate: _Locator, defaults: DrugLimits) -> DrugProduct:
    if not isinstance(raw, dict):
        raise DrugLibraryError(f"{locate.line_of('products')}: each product must be an object.")
    pid = raw.get("id")
    if not isinstance(pid, str) or not pid:
        raise DrugLibraryError(f'{locate.line_of("products")}: a product has no "id".')
    where = locate.line_of(pid)
    for key in ("product", "concentration_mcg_ml", "max_refill_interval_days", "source"):
        if key not in raw:
            raise DrugLibraryError(f"{where}: product '{pid}' is missing \"{key}\".")
    conc = raw["concentration_mcg_ml"]
    if isinstance(conc, bool) or not isinstance(conc, int) or conc <= 0:
        raise DrugLibraryError(
            f"{where}: product '{pid}': concentration_mcg_ml must be a whole number above 0."
        )
    interval = raw["max_refill_interval_days"]
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 366:
        raise DrugLibraryError(
            f"{where}: product '{pid}': max_refill_interval_days must be 1 to 366."
        )
    use = raw.get("use", "maintenance")
    if use not in ("maintenance", "screening"):
        raise DrugLibraryError(
            f'{where}: product \'{pid}\': use must be "maintenance" or "screening".'
        )
    gtins = raw.get("gtins", [])
    if not isinstance(gtins, list) or not all(
        isinstance(g, str) and g.isdigit() and len(g) == 14 for g in gtins
    ):
        raise DrugLibraryError(
            f"{where}: product '{pid}': gtins must be a list of 14-digit strings."
        )
    limits = (
        _parse_limits(raw.get("limits"), locate, pid, defaults) if raw.get("limits") else defaults
    )
    return DrugProduct(
        id=pid,
        product=str(raw["product"]),
        manufacturer=str(raw.get("manufacturer", "")),
        concentration_mcg_ml=conc,
        use=use,
        refill_allowed=bool(raw.get("refill_allowed", use == "maintenance")),
        max_refill_interval_days=interval,
        limits=limits,
        source=str(raw["source"]),
        gtins=tuple(gtins),
    )
