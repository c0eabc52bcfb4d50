"""Every ``sim`` and ``profiler`` subcommand turns a bad command line into one ``error:`` line on
stderr and exit code 2: no traceback, no usage box, nothing on stdout. ``--help`` still works.

The subcommands are found by walking the two root apps, so a new one is checked too; the table
below only says, per subcommand, which option gets a bad value (a typed option given a word, or a
value-taking option given none where a command has no typed option).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from phasesim.cli import app as sim_app
from phasesim.cli.profiler_cmd import app as profiler_app

ROOTS = {"sim": sim_app, "profiler": profiler_app}


def _subcommands(command: Any) -> dict[str, Any]:
    """A group's subcommands through click's interface (``sim`` loads its commands lazily)."""
    ctx = typer.Context(command)
    return {name: command.get_command(ctx, name) for name in command.list_commands(ctx)}


def _leaves(command: Any, path: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
    """Subcommand path -> command (typer vendors click: groups are told by their interface)."""
    if hasattr(command, "commands"):
        return {leaf: cmd for name, sub in _subcommands(command).items()
                for leaf, cmd in _leaves(sub, (*path, name)).items()}
    return {path: command}


def _groups(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not hasattr(command, "commands"):
        return []
    return [path, *(group for name, sub in _subcommands(command).items()
                    for group in _groups(sub, (*path, name)))]


LEAVES = {leaf: cmd for root, app in ROOTS.items()
          for leaf, cmd in _leaves(typer.main.get_command(app), (root,)).items()}
SUBCOMMANDS = list(LEAVES)
NEEDS_SOMETHING = [leaf for leaf, cmd in LEAVES.items() if any(p.required for p in cmd.params)]
GROUPS = [group for root, app in ROOTS.items()
          for group in _groups(typer.main.get_command(app), (root,))]

# subcommand -> (the option at fault, arguments whose only fault is that option's value)
BAD_VALUE = {
    ("sim", "replay"): ("--instances", ["t.parquet", "-t", "gpu", "-o", "out",
                                        "--instances", "abc"]),
    ("sim", "run"): ("-o", ["s.yaml", "-o"]),
    ("sim", "sweep"): ("--workers", ["s.yaml", "-o", "out", "--workers", "many"]),
    ("sim", "report"): ("-o", ["sweep", "-o"]),
    ("sim", "traces", "import"): ("--rate", ["t.csv", "-o", "t.parquet", "--rate", "fast"]),
    ("sim", "traces", "generate"): ("--count", ["-o", "t.parquet", "--count", "ten"]),
    ("sim", "traces", "transform"): ("--head", ["t.parquet", "-o", "u.parquet", "--head", "x"]),
    ("sim", "traces", "stats"): ("--format", ["t.parquet", "--format"]),
    ("sim", "profiles", "list"): ("--dir", ["--dir"]),
    ("sim", "profiles", "show"): ("--help", ["name", "--help=yes"]),  # its only option
    ("sim", "profiles", "plot"): ("--context", ["name", "-o", "p.png", "--context", "long"]),
    ("sim", "profiles", "hardware"): ("--help", ["h100-sxm", "--help=yes"]),  # --json is a flag
    ("sim", "profiles", "engines"): ("--help", ["vllm", "--help=yes"]),  # --json is a flag
    ("sim", "latency"): ("--tp", ["--hardware", "h100-sxm", "--model", "llama2-7b", "--tp", "two"]),
    ("sim", "plan"): ("--max-devices", ["t.parquet", "-o", "out", "--max-devices", "many"]),
    ("profiler", "capture"): ("--backend", ["--backend", "tpu", "-o", "t.parquet"]),
    ("profiler", "fit"): ("--report", ["r.jsonl", "-o", "t.parquet", "--report"]),
    ("profiler", "validate"): ("--seed", ["--table", "t.parquet", "--trace", "x.parquet",
                                          "--seed", "abc"]),
}


@pytest.fixture(autouse=True)
def _in_an_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each run starts in an empty directory, which must stay empty: no partial output."""
    monkeypatch.chdir(tmp_path)
    yield
    assert not list(tmp_path.iterdir())


def _run(path: tuple[str, ...], *args: str):
    root, *sub = path
    return CliRunner().invoke(ROOTS[root], [*sub, *args])


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    for box in ("Traceback", "Usage:", "Try '", "╭", "│"):
        assert box not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_table_names_every_subcommand() -> None:
    assert sorted(BAD_VALUE) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_bad_option_value(path: tuple[str, ...]) -> None:
    option, args = BAD_VALUE[path]
    _assert_one_line_error(_run(path, *args), option)


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_unknown_option(path: tuple[str, ...]) -> None:
    _assert_one_line_error(_run(path, "--no-such-option"), "--no-such-option")


@pytest.mark.parametrize("path", NEEDS_SOMETHING, ids=" ".join)
def test_missing_argument_or_option(path: tuple[str, ...]) -> None:
    _assert_one_line_error(_run(path), "Missing")


@pytest.mark.parametrize("path", GROUPS, ids=" ".join)
def test_unknown_subcommand_and_group_option(path: tuple[str, ...]) -> None:
    _assert_one_line_error(_run(path, "no-such-command"), "no-such-command")
    _assert_one_line_error(_run(path, "--no-such-option"), "--no-such-option")


@pytest.mark.parametrize("path", SUBCOMMANDS + GROUPS, ids=" ".join)
def test_help_still_works(path: tuple[str, ...]) -> None:
    result = _run(path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and result.stderr == ""


@pytest.mark.parametrize(("main", "args"), [
    ("phasesim.cli", ["traces", "generate", "-o", "t.parquet", "--count", "ten"]),
    ("phasesim.cli.profiler_cmd", ["capture", "--backend", "analytical", "--bogus"]),
])
def test_console_entry_points_too(main: str, args: list[str], tmp_path: Path) -> None:
    """The same through ``main()``, the function the ``sim`` and ``profiler`` scripts call."""
    result = subprocess.run([sys.executable, "-c", f"from {main} import main; main()", *args],
                            check=False, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert result.stdout == ""


def test_the_three_commands_are_declared_and_python_m_phasesim_is_sim() -> None:
    """pyproject declares sim, its alias phasesim, and profiler; ``python -m phasesim`` is sim."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
        "project"]["scripts"]
    assert scripts == {"sim": "phasesim.cli:main", "phasesim": "phasesim.cli:main",
                       "profiler": "phasesim.cli.profiler_cmd:main"}
    result = subprocess.run([sys.executable, "-m", "phasesim", "traces", "--help"], check=False,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "generate" in result.stdout, result.stderr
