"""The README's commands work as written on a fresh clone: every `.venv/bin/itbconsole ...`
line in a shell block runs and exits 0, and no block asks for a bare `itbconsole` that only
an activated venv would find."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from itbconsole.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.strip()
    for block in SHELL_BLOCKS
    for line in block.splitlines()
    if line.strip().startswith(".venv/bin/itbconsole ")
]


def test_the_readme_has_a_runnable_example() -> None:
    assert COMMANDS, "README.md has no `.venv/bin/itbconsole` example"


def test_no_shell_block_relies_on_an_activated_venv() -> None:
    bare = [
        line
        for block in SHELL_BLOCKS
        for line in block.splitlines()
        if re.match(r"^\s*(\$\s*)?itbconsole\b", line)
    ]
    assert bare == [], f"README examples fail with 'not on PATH' on a fresh clone: {bare}"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_example_runs(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(command)[1:]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip()
