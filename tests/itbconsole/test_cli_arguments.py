"""Every argument of every ``itbconsole`` command refuses a bad value plainly.

The commands and their arguments are discovered from the argparse parser, so a new command
or option is covered as soon as it exists (and fails here until it has a valid command
line in :data:`VALID`). Each case takes a valid command line, replaces one argument's value
with a bad one (empty, negative, huge, NaN, Infinity, not a number, another script's
digits, 10,000 characters) and expects: status 2, a message on stderr that names the
argument, nothing on stdout, no traceback. Free text (paths, ports, names, notes) gets only
the empty and the overlong value: any other text is a name a person may choose.

Commands run in-process through :func:`itbconsole.cli.main`; nothing touches a real
database, port or pty (see :func:`isolated`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import drivers.simulator.server
from itbconsole.cli import args as argtypes
from itbconsole.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

#: A valid command line for every command that takes values, using each of its arguments
#: once (a positional after ``--``). ``{tmp}`` is a fresh folder: no database, port or
#: state file exists there, so a command that gets past its arguments stops with status 1.
VALID: dict[tuple[str, ...], list[str]] = {
    (): ["--db", "{tmp}/none.sqlite", "calc", "dose-change",
         "--current-mcg-day", "400", "--new-mcg-day", "300"],
    ("calc", "refill"): [
        "calc", "refill", "--reservoir-ml", "20", "--alarm-ml", "2", "--dose-mcg-day", "500",
        "--concentration-mcg-ml", "2000", "--capacity-ml", "40", "--from", "2026-03-01T09:00",
        "--tz", "Europe/London", "--bolus-mcg", "50", "--boluses-per-day", "2",
        "--margin-days", "7", "--max-interval-days", "90", "--json",
    ],
    ("calc", "trip"): [
        "calc", "trip", "--reservoir-ml", "20", "--alarm-ml", "2", "--dose-mcg-day", "500",
        "--concentration-mcg-ml", "2000", "--capacity-ml", "40", "--from", "2026-03-01T09:00",
        "--tz", "Europe/London", "--bolus-mcg", "50", "--boluses-per-day", "2",
        "--margin-days", "7", "--max-interval-days", "90", "--return-date", "2026-05-20",
        "--trip-margin-days", "7", "--json",
    ],
    ("calc", "discrepancy"): [
        "calc", "discrepancy", "--expected-ml", "5", "--withdrawn-ml", "7.5",
        "--capacity-ml", "20", "--delivered-expected-ml", "15", "--after-refill",
        "--small-limit-ml", "1", "--large-limit-ml", "2", "--accuracy-low-pct", "85",
        "--accuracy-high-pct", "115", "--json",
    ],
    ("calc", "bridge"): [
        "calc", "bridge", "--dose-mcg-day", "500", "--old-concentration-mcg-ml", "500",
        "--new-concentration-mcg-ml", "2000", "--dead-volume-ml", "0.25", "--json",
    ],
    ("calc", "dose-change"): [
        "calc", "dose-change", "--current-mcg-day", "400", "--new-mcg-day", "300", "--json",
    ],
    ("db", "backup"): ["db", "backup", "--force", "--", "{tmp}/copy.sqlite"],
    ("export", "csv"): [
        "export", "csv", "--db", "{tmp}/none.sqlite", "--what", "refills", "--patient", "1",
        "--since", "2026-01-01", "--lot", "A12345", "--product", "Gablofen",
        "--out", "{tmp}/refills.csv",
    ],
    ("export", "fhir"): [
        "export", "fhir", "--db", "{tmp}/none.sqlite", "--patient", "1",
        "--since", "2026-01-01", "--out", "{tmp}/bundle.json",
    ],
    ("sync",): ["sync", "--db", "{tmp}/none.sqlite", "--dsn", "host=127.0.0.1 port=1 dbname=clinic"],
    ("server", "init"): ["server", "init", "--dsn", "host=127.0.0.1 port=1 dbname=clinic"],
    ("server", "rooms"): ["server", "rooms", "--dsn", "host=127.0.0.1 port=1 dbname=clinic"],
    ("server", "add-room"): [
        "server", "add-room", "--dsn", "host=127.0.0.1 port=1 dbname=clinic",
        "--room", "3f2a9c1d0b7e4a5f8c6d2e1f0a9b8c7d", "--name", "Refill room 2",
    ],
    ("sync", "conflicts"): ["sync", "conflicts", "--db", "{tmp}/none.sqlite"],
    ("sync", "room-id"): ["sync", "room-id", "--db", "{tmp}/none.sqlite"],
    ("sync", "resolve"): [
        "sync", "resolve", "--db", "{tmp}/none.sqlite", "--admin", "Ada",
        "--note", "same person, merged", "--", "3",
    ],
    ("db", "verify"): ["db", "verify", "--anchor", "1:3f2a9c1d"],
    ("db", "import-keys"): ["db", "import-keys", "--", "{tmp}/copy.sqlite.audit-keys"],
    ("worklist",): [
        "worklist", "--db", "{tmp}/none.sqlite", "--days", "14",
        "--now", "2026-11-30T09:00+00:00", "--json",
    ],
    ("settings",): ["settings", "--db", "{tmp}/none.sqlite", "show", "--json"],
    ("settings", "set"): [
        "settings", "set", "--admin", "Ada", "--note", "clinic policy",
        "--", "refill_margin_days=10",
    ],
    ("users",): ["users", "--db", "{tmp}/none.sqlite", "list", "--admin", "Ada"],
    ("users", "list"): ["users", "list", "--admin", "Ada"],
    ("users", "add"): [
        "users", "add", "--role", "nurse", "--registration", "NMC 12A", "--admin", "Ada",
        "--", "Nia Nurse",
    ],
    ("users", "disable"): ["users", "disable", "--note", "left", "--admin", "Ada", "--", "Nia"],
    ("users", "enable"): ["users", "enable", "--note", "back", "--admin", "Ada", "--", "Nia"],
    ("users", "passwd"): ["users", "passwd", "--note", "forgot", "--admin", "Ada", "--", "Nia"],
    ("users", "role"): [
        "users", "role", "--role", "clinician", "--note", "qualified", "--admin", "Ada",
        "--", "Nia",
    ],
    ("sim",): [
        "sim", "--tcp", "127.0.0.1:0", "--baud", "9600", "--state", "{tmp}/pump.json",
        "--scenario", "small-pump", "--faults", "corrupt=0.05,delay=0.1@0.5", "--seed", "1",
        "--speed", "60", "--zone", "Europe/London",
    ],
    ("interrogate",): [
        "interrogate", "--port", "{tmp}/no-such-port", "--baud", "115200", "--json",
    ],
    ("events",): [
        "events", "--port", "{tmp}/no-such-port", "--baud", "115200", "--since", "140", "--json",
    ],
}  # fmt: skip

#: Arguments for which an empty value is valid, and why.
EMPTY_IS_VALID = {("sim", "--faults"): "an empty fault spec means no faults"}

#: db.py is being changed by another engineer; its arguments are checked once it uses the
#: argument types of itbconsole.cli.args.
DB_PENDING = (
    "itbconsole/cli/db.py is being changed elsewhere: `db backup PATH` still takes any text "
    "(needs type=itbconsole.cli.args.PATH), so an empty or 10,000-character path reaches the "
    "handler"
)

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def _value_arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Arguments that take a value (not flags, --help, --version or subcommands)."""
    return [
        a for a in parser._actions if a.nargs != 0 and not isinstance(a, argparse._SubParsersAction)
    ]


def _label(action: argparse.Action) -> str:
    return (
        action.option_strings[-1] if action.option_strings else str(action.metavar or action.dest)
    )


def _is_free_text(action: argparse.Action) -> bool:
    return isinstance(action.type, argtypes.Text) or (action.type is None and not action.choices)


def _is_checked(action: argparse.Action) -> bool:
    return action.type is not None or bool(action.choices)


def _valid_value(path: tuple[str, ...], action: argparse.Action) -> str:
    line = VALID[path]
    if action.option_strings:
        index = next(i for i, token in enumerate(line) if token in action.option_strings)
        return line[index + 1]
    return line[line.index("--") + 1]


def _bad_values(path: tuple[str, ...], action: argparse.Action) -> dict[str, str]:
    overlong = "9" * 10_000
    if _is_free_text(action):
        return {"empty": "", "overlong": overlong}
    other_digits = _valid_value(path, action).translate(_ARABIC_INDIC)
    values = {
        "empty": "",
        "negative": "-1",
        "huge": "9" * 20,
        "nan": "NaN",
        "infinity": "Infinity",
        "non-numeric": "abc",
        "other-script-digits": other_digits
        if any(c in other_digits for c in "٠١٢٣٤٥٦٧٨٩")
        else "٣",
        "overlong": overlong,
    }
    if (*path, _label(action)) in EMPTY_IS_VALID:
        del values["empty"]
    return values


def _with_value(path: tuple[str, ...], action: argparse.Action, value: str) -> list[str]:
    """The valid command line of ``path`` with ``action``'s value replaced by ``value``."""
    line = list(VALID[path])
    if action.option_strings:
        index = next(i for i, token in enumerate(line) if token in action.option_strings)
        line[index : index + 2] = [f"{line[index]}={value}"]
    else:
        line[line.index("--") + 1] = value
    return line


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return list(_walk(build_parser()))


def _argument_cases() -> list[Any]:
    cases = []
    for path, parser in _commands():
        for action in _value_arguments(parser):
            name = f"{' '.join(path) or 'itbconsole'} {_label(action)}"
            marks = (
                [pytest.mark.xfail(reason=DB_PENDING, strict=False)]
                if path[:1] == ("db",) and not _is_checked(action)
                else []
            )
            cases.append(pytest.param(path, action, id=name, marks=marks))
    return cases


def _bad_cases() -> list[Any]:
    cases = []
    for param in _argument_cases():
        path, action = param.values
        if path not in VALID:
            cases.append(pytest.param(path, action, "", id=f"{param.id} (no valid line)"))
            continue
        for category, value in _bad_values(path, action).items():
            cases.append(
                pytest.param(path, action, value, id=f"{param.id} {category}", marks=param.marks)
            )
    return cases


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | None, str, str]:
    """Run the command in-process: status, stdout, stderr (an escaped exception is put on
    stderr as its traceback, with status None)."""
    try:
        code: int | None = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) or exc.code is None else 1
        code = 0 if code is None else code
    except Exception:
        out, err = capsys.readouterr()
        return None, out, err + traceback.format_exc()
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real database, data folder, pty or TCP server: a command that gets past its
    arguments fails with status 1 instead of touching the machine or blocking."""
    monkeypatch.setenv("ITBCONSOLE_DB", str(tmp_path / "none.sqlite"))
    monkeypatch.setenv("ITBCONSOLE_DATA_DIR", str(tmp_path / "data"))

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise OSError("no servers in this test")

    monkeypatch.setattr(drivers.simulator.server, "PtyServer", no_server)
    monkeypatch.setattr(drivers.simulator.server, "TcpServer", no_server)


def _fill(line: list[str], tmp_path: Path) -> list[str]:
    return [token.replace("{tmp}", str(tmp_path)) for token in line]


# --------------------------------------------------------------------------- the cases


@pytest.mark.parametrize(("path", "action"), _argument_cases())
def test_every_argument_is_checked_when_parsed(
    path: tuple[str, ...], action: argparse.Action
) -> None:
    """Every value is read by a type that checks it (or from a list of choices)."""
    assert _is_checked(action), f"{_label(action)} takes any text: give it a checked type"


@pytest.mark.parametrize("path", [p for p, parser in _commands() if _value_arguments(parser)])
def test_every_command_with_arguments_has_a_valid_command_line(path: tuple[str, ...]) -> None:
    assert path in VALID, f"add a valid command line for '{' '.join(path)}' to VALID"
    parser = dict(_commands())[path]
    line = VALID[path]
    for action in _value_arguments(parser):
        if action.option_strings:
            uses = [t for t in line if t in action.option_strings]
            assert len(uses) == 1, f"VALID[{path}] must use {_label(action)} once"
        else:
            assert line.count("--") == 1, f"VALID[{path}] gives {_label(action)} after '--'"


@pytest.mark.parametrize("path", sorted(VALID))
def test_valid_command_lines_get_past_their_arguments(
    path: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base of every case is valid: status 0, or 1 where the command needs a database,
    a port or a server this test does not give it."""
    code, out, err = run(_fill(VALID[path], tmp_path), capsys)
    assert code in (0, 1), err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(("path", "action", "value"), _bad_cases())
def test_bad_value_is_refused_plainly(
    path: tuple[str, ...],
    action: argparse.Action,
    value: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert path in VALID, f"add a valid command line for '{' '.join(path)}' to VALID"
    code, out, err = run(_fill(_with_value(path, action, value), tmp_path), capsys)
    assert "Traceback" not in out + err, err
    assert code == 2, f"status {code} for {value[:40]!r}; stderr: {err[:300]}"
    assert out == ""
    names = [*action.option_strings, *(str(n) for n in (action.metavar, action.dest) if n)]
    assert any(name in err for name in names), err
    assert len(err) < 2_000, "the message repeats the whole value"


@pytest.mark.parametrize(
    "path", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "itbconsole"
)
def test_help_works_for_every_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*path, "--help"], capsys)
    assert code == 0, err
    assert out.startswith("usage: itbconsole")
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------- end to end


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("itbconsole")
    return [str(script)] if script.exists() else [sys.executable, "-m", "itbconsole"]


REFILL = [
    "calc", "refill", "--reservoir-ml", "40", "--alarm-ml", "2", "--dose-mcg-day", "500",
    "--concentration-mcg-ml", "2000", "--from", "2026-03-01T09:00",
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([*REFILL, "--margin-days", "9" * 30], "--margin-days"),
        ([*REFILL, "--max-interval-days", "9" * 30], "--max-interval-days"),
        ([*REFILL, "--bolus-mcg", "50", "--boluses-per-day", "99999999999"], "between 0 and"),
        (["sim", "--speed", "1/0"], "divides by 0"),
        (["events", "--port", "loop://", "--since", "4294967296"], "--since"),
    ],
    ids=[
        "calc refill --margin-days huge",
        "calc refill --max-interval-days huge",
        "calc refill --boluses-per-day huge",
        "sim --speed 1/0",
        "events --since 2**32",
    ],
)
def test_installed_command_refuses_bad_input_without_a_traceback(
    argv: list[str], words: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [*_cli(), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "ITBCONSOLE_DB": str(tmp_path / "none.sqlite")},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert words in done.stderr
    assert "Traceback" not in done.stderr
