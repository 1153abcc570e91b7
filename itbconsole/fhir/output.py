"""Writing a Bundle to its file one entry at a time, checked as it goes.

Why streamed: a whole clinic's history is hundreds of kilobytes of JSON per patient, far
more than should be held in memory at once, so each entry is checked
(:class:`~itbconsole.fhir.checks.BundleChecker`) and written as it is built. The file is
owner-only and appears only when complete and clean: it is written under a temporary name
in the same folder (:func:`itbconsole.paths.create_private_file`) and renamed into place;
a failed check, an error or a full disk leaves no file and keeps an old one as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from itbconsole.fhir import json_text
from itbconsole.fhir.checks import BundleChecker
from itbconsole.paths import create_private_file


class BundleCheckFailed(Exception):
    """The bundle failed the export's own checks; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _entry_text(entry: dict[str, Any]) -> str:
    """An entry as it sits in the Bundle's ``entry`` list (indented like the rest)."""
    return "    " + json_text.dumps(entry).replace("\n", "\n    ")


def write_bundle(path: Path, head: dict[str, Any], entries: Iterable[dict[str, Any]]) -> int:
    """Write the Bundle of ``head`` and ``entries`` to ``path``; returns the entry count.
    Raises :class:`BundleCheckFailed` (nothing written) when a check fails."""
    checker = BundleChecker()
    checker.start(head)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    create_private_file(partial)
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as handle:
            # The head's own fields, its closing "\n}" taken off, then the entry list.
            handle.write(json_text.dumps(head).removesuffix("\n}") + ',\n  "entry": [\n')
            for entry in entries:
                checker.add(entry)
                if checker.problems:
                    break
                handle.write((",\n" if count else "") + _entry_text(entry))
                count += 1
            handle.write("\n  ]\n}\n")
        problems = checker.finish()
        if problems:
            raise BundleCheckFailed(problems)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count
