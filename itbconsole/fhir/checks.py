"""The export's own checks on a Bundle, beyond what a FHIR schema checks.

Why: fhir.resources (and most servers) accept any unit code and any reference text, so a
dose written in ``mg`` or an Observation pointing at a pump that is not in the bundle
would pass validation and reach the hospital's record. These checks are run on every
bundle as it is written (the export keeps nothing of a bundle that fails):

* every Quantity is UCUM (``http://unitsofmeasure.org``) with a code the export means to
  write (:data:`itbconsole.fhir.codes.ALLOWED_UNITS`);
* every reference names an entry of the bundle;
* no identifier, entry address or conditional request is used twice; each entry whose
  state can change is a conditional update (``PUT Kind?identifier=system|value`` naming
  one of its own identifiers) and only what never changes (:data:`CREATED_ONCE`) is a
  conditional create (``POST`` with ``ifNoneExist``);
* every date is ISO 8601 as FHIR writes it (a day, or a time with seconds and a zone);
* in a training bundle every resource carries the training label.

:class:`BundleChecker` takes the bundle one entry at a time, so a whole clinic is checked
without holding it in memory; :func:`bundle_problems` checks a bundle already built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from itbconsole.fhir import codes, keys

#: Resources that never change once made: sent as conditional creates. Every other
#: resource is a conditional update, so the hospital's copy follows the record.
CREATED_ONCE = frozenset({"Medication", "Provenance"})

#: Elements holding a FHIR date (YYYY-MM-DD), a dateTime, or an instant.
DATE_KEYS = frozenset({"birthDate", "expirationDate"})
DATE_TIME_KEYS = frozenset(
    {"effectiveDateTime", "performedDateTime", "authoredOn", "deceasedDateTime"}
)
INSTANT_KEYS = frozenset({"recorded", "timestamp", "lastUpdated"})
_ALL_DATE_KEYS = DATE_KEYS | DATE_TIME_KEYS | INSTANT_KEYS

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every element under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            yield here, key, value
            yield from _walk(value, here)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _walk(value, f"{path}[{n}]")


def _is_quantity(value: Any) -> bool:
    """A Quantity: an element with a numeric ``value`` (an Identifier's value is text)."""
    number = value.get("value") if isinstance(value, dict) else None
    return isinstance(number, int | float | Decimal) and not isinstance(number, bool)


def _quantity_problem(value: dict[str, Any]) -> str:
    if value.get("system") != codes.UCUM:
        return f"a quantity whose system is not UCUM ({codes.UCUM})"
    if value.get("code") not in codes.ALLOWED_UNITS:
        return (
            f"unit code {value.get('code')!r} is not one of "
            f"{', '.join(sorted(codes.ALLOWED_UNITS))}"
        )
    return ""


def _date_problem(key: str, value: Any) -> str:
    if not isinstance(value, str):
        return "is not text"
    try:
        if key in DATE_KEYS or (key in DATE_TIME_KEYS and _DATE.fullmatch(value)):
            if not _DATE.fullmatch(value):
                return "is not a date (YYYY-MM-DD)"
            date.fromisoformat(value)  # a dateTime may be a day
            return ""
        if not _DATE_TIME.fullmatch(value):
            return "is not a date and time with seconds and a zone (ISO 8601)"
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "is not a real date"
    return ""


def _request_problem(request: dict[str, Any], resource: dict[str, Any]) -> str:
    kind = str(resource.get("resourceType", ""))
    if kind in CREATED_ONCE:
        if request.get("method") != "POST" or not request.get("ifNoneExist"):
            return f"a {kind} that is not a conditional create (POST with ifNoneExist)"
        return ""
    if request.get("method") != "PUT":
        return f"a {kind} that is not a conditional update (PUT): the server's copy would go stale"
    own = {
        keys.update_url(kind, str(i.get("system")), str(i.get("value")))
        for i in resource.get("identifier", [])
    }
    if request.get("url") not in own:
        return f"a conditional update whose URL names none of the {kind}'s identifiers"
    return ""


def _labelled(resource: dict[str, Any]) -> bool:
    return any(
        s.get("system") == codes.TRAINING_SYSTEM and s.get("code") == codes.TRAINING_CODE
        for s in resource.get("meta", {}).get("security", [])
    )


class BundleChecker:
    """The checks, one entry at a time: :meth:`start` with the Bundle's own fields,
    :meth:`add` each entry in order, then :meth:`finish` for the problems found."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.training = False
        self._count = 0
        # Hashes, not the texts, so a whole clinic's keys fit in memory (a collision could
        # only refuse a good bundle, never pass a bad one).
        self._first_use: dict[int, int] = {}
        self._addresses: set[int] = set()
        self._forward: list[tuple[str, str]] = []  # references to entries not seen yet

    def start(self, bundle: dict[str, Any]) -> None:
        """The Bundle's fields without its entries."""
        self.training = _labelled(bundle)
        self._values(bundle, "Bundle")

    def add(self, entry: dict[str, Any]) -> None:
        n = self._count
        self._count += 1
        where = f"Bundle.entry[{n}]"
        self._values(entry, where)
        request = entry.get("request", {})
        resource = entry.get("resource", {})
        problem = _request_problem(request, resource)
        if problem:
            self.problems.append(f"{where}: {problem}")
        conditional = request.get("ifNoneExist") or request.get("url", "")
        used = [
            ("address", str(entry.get("fullUrl", ""))),
            ("conditional request", f"{request.get('method')} {conditional}"),
            *(
                ("identifier", f"{i.get('system')}|{i.get('value')}")
                for i in resource.get("identifier", [])
            ),
        ]
        for kind, value in used:
            first = self._first_use.setdefault(hash((kind, value)), n)
            if first != n:
                self.problems.append(
                    f"{where}: {kind} {value} is also used by Bundle.entry[{first}]"
                )
        self._addresses.add(hash(str(entry.get("fullUrl", ""))))
        if self.training and not _labelled(resource):
            self.problems.append(
                f"{where}: a training bundle's resource without the training label"
            )

    def _values(self, node: dict[str, Any], where: str) -> None:
        for path, key, value in _walk(node, where):
            if _is_quantity(value):
                problem = _quantity_problem(value)
                if problem:
                    self.problems.append(f"{path}: {problem}")
            elif key == "reference" and hash(str(value)) not in self._addresses:
                self._forward.append((path, str(value)))
            elif key in _ALL_DATE_KEYS:
                problem = _date_problem(key, value)
                if problem:
                    self.problems.append(f"{path}: {value!r} {problem}")

    def finish(self) -> list[str]:
        """Every problem found, one line each (empty: the bundle passes)."""
        self.problems.extend(
            f"{path}: {target!r} is not an entry of the bundle"
            for path, target in self._forward
            if hash(target) not in self._addresses
        )
        self._forward = []
        return self.problems


def bundle_problems(bundle: dict[str, Any]) -> list[str]:
    """Every problem of a bundle already built, one line each (empty: it passes)."""
    checker = BundleChecker()
    checker.start({k: v for k, v in bundle.items() if k != "entry"})
    for entry in bundle.get("entry", []):
        checker.add(entry)
    return checker.finish()
