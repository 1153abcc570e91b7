"""``make safety-check``: every dose-programming rule is needed by a test.

For each rule in :data:`itbconsole.services.programming.RULES` the programming and hazard
tests run with that rule alone removed (``ITBCONSOLE_DISABLE_RULE``, read by
``tests/conftest.py``); a rule whose removal fails no test is reported and the command
exits 1. With ``--write`` the result table replaces the "Last safety check" section of
docs/safety.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TESTS = [
    "tests/itbconsole/test_programming.py",
    "tests/itbconsole/test_dosing_hazards.py",
]
MARK = "## Last safety check"


def run(rule: str | None) -> tuple[bool, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if rule:
        env["ITBCONSOLE_DISABLE_RULE"] = rule
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    failed = next(
        (
            line.removeprefix("FAILED ").split(" - ")[0]
            for line in done.stdout.splitlines()
            if line.startswith("FAILED")
        ),
        "",
    )
    return done.returncode == 0, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/safety.md")
    args = parser.parse_args()
    from itbconsole.services.programming import RULES

    ok, _ = run(None)
    if not ok:
        print("The tests fail with every rule in place: fix them first.")
        return 1
    rows, missing = [], []
    t0 = time.perf_counter()
    for rule in RULES:
        passed, failed = run(rule.__name__)
        verdict = "a test fails" if not passed else "NO TEST FAILS"
        if passed:
            missing.append(rule.__name__)
        rows.append(f"| `{rule.__name__}` | {verdict} | {failed.split('::')[-1] or '-'} |")
        print(rows[-1], flush=True)
    stamp = f"{datetime.now(UTC):%Y-%m-%d}, {len(RULES)} rules, {time.perf_counter() - t0:.0f} s"
    table = "\n".join(
        [
            MARK,
            "",
            f"`make safety-check` removed each dose-programming rule in turn and ran the "
            f"programming tests ({stamp}):",
            "",
            "| rule removed | result | first test that failed |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )
    if args.write:
        doc = ROOT / "docs" / "safety.md"
        text = doc.read_text(encoding="utf-8")
        head = text.split(MARK)[0].rstrip() + "\n\n"
        doc.write_text(head + table, encoding="utf-8")
    if missing:
        print(f"Rules no test needs: {', '.join(missing)}")
        return 1
    print(f"Every rule is needed by a test ({stamp}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
