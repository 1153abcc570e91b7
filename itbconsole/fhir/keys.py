"""The stable keys of exported records: identifiers, conditional update and create
queries and the bundle's ``urn:uuid`` addresses.

Why derived and not random: exporting the same records twice, or from another room of the
same clinic, must produce the same keys, so the hospital's server finds what it already
holds and creates nothing twice. A key names the database that made the record (its
identity, ``store_identity``, kept across backups and moves; for a record applied from
another room, that room's, :mod:`itbconsole.fhir.origins`), the table and the row there:
``<identity>/<table>/<id>``. A record that was corrected, settled or withdrawn keeps the
key of its first version (the root of its correction chain), so its latest state replaces
the earlier one on the server (a conditional update, ``PUT Kind?identifier=...``).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from itbconsole.fhir import codes

#: Namespace of the bundle's entry addresses (uuid5 of the record key under it).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, codes.RECORD_KEY)


def record_key(store_id: str, table: str, record_id: int | str, part: str = "") -> str:
    """``<identity>/<table>/<id>`` (``/<part>`` when one row gives several resources, as a
    reading gives a reservoir and a battery observation)."""
    key = f"{store_id}/{table}/{record_id}"
    return f"{key}/{part}" if part else key


def batch_key(batch: str) -> str:
    """A drug batch's key: the batch is the maker's, the same in every room and clinic,
    so its key names no database (``<product>/<concentration>/<lot>/<expiry>``)."""
    return f"batch:{batch}"


def batch_if_none_exist(batch: str) -> str:
    return f"identifier={token(codes.DRUG_BATCH, batch)}"


def identifier(key: str) -> dict[str, str]:
    """The FHIR Identifier carrying a record key."""
    return {"system": codes.RECORD_KEY, "value": key}


def full_url(key: str) -> str:
    """The entry's address inside the bundle: the same for the same record every time."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}"


def _escaped(text: str) -> str:
    """FHIR search escaping (a backslash before ``\\``, ``,``, ``$`` and ``|``, which
    would otherwise split the value), then URL escaping for the query string."""
    for special in ("\\", ",", "$", "|"):
        text = text.replace(special, "\\" + special)
    return quote(text, safe=":/")


def token(system: str, value: str) -> str:
    """A search token ``system|value``, escaped for a query string (a lot or product name
    may hold a comma or a bar)."""
    return f"{_escaped(system)}|{_escaped(value)}"


def if_none_exist(key: str) -> str:
    """The search of a resource carrying ``key`` as an identifier."""
    return f"identifier={token(codes.RECORD_KEY, key)}"


def update_url(kind: str, system: str, value: str) -> str:
    """A conditional update's URL: the resource of ``kind`` carrying the identifier
    ``system|value`` (created when the server has none, replaced when it has one)."""
    return f"{kind}?identifier={token(system, value)}"


#: The tag naming the stored version a Provenance is about (R4's Provenance has no
#: identifier): ``<identity>/<table>/<row id>`` of that version's row.
RECORD_VERSION = f"{codes.LOCAL}:record-version"


def version_tag(version_key: str) -> dict[str, str]:
    """The ``meta.tag`` naming one stored version of a record."""
    return {"system": RECORD_VERSION, "code": version_key}


def provenance_if_none_exist(version_key: str) -> str:
    """A Provenance exists already when one carries the tag of the same stored version
    (each version of a record has its own, written once; ``_tag`` is a search every FHIR
    server has)."""
    return f"_tag={token(RECORD_VERSION, version_key)}"
