"""The docs point at things that exist: every file or folder named in docs/architecture.md's
concept table, and every picture in the user guide (a renamed module or a dropped screenshot
fails here, not in a newcomer's hands)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = re.compile(r"`([A-Za-z0-9_./-]+(?:/|\.py|\.json|\.md|\.qss|\.cfg|\.toml))`")


def _table_paths(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            found.extend(PATH.findall(line))
    return found


def test_every_path_in_the_architecture_concept_table_exists() -> None:
    paths = _table_paths((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    assert len(paths) > 30  # the table was read, not skipped
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_picture_in_the_user_guide_exists() -> None:
    guide = ROOT / "docs" / "user-guide.md"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", guide.read_text(encoding="utf-8"))
    assert images
    missing = [i for i in images if not (guide.parent / i).exists()]
    assert missing == [], f"docs/user-guide.md shows pictures that do not exist: {missing}"
