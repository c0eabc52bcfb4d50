"""`sim` starts without the heavy libraries: the root imports a command's module only when the
command runs (issue 21, point 9). Timing is measured by benchmarks/bench_startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from phasesim.cli import COMMANDS, app, load_command, version

HEAVY = ("pandas", "numpy", "simpy", "matplotlib", "pyarrow", "scipy", "torch")


def _loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_module():
    assert _loaded_after("import phasesim.cli") == []


def test_root_help_and_version_load_no_heavy_module():
    code = ("from phasesim.cli import app\nimport typer.main\n"
            "cmd = typer.main.get_command(app)\n"
            "for args in (['--help'], ['--version']):\n"
            "    try:\n        cmd.main(args, prog_name='sim', standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n")
    assert _loaded_after(code) == []


def test_root_help_lists_each_command_with_its_own_help():
    for name, (_module, _is_group, help_text) in COMMANDS.items():
        assert load_command(name).get_short_help_str(1000) == help_text, name
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_version_prints_the_installed_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"phasesim {version()}"
    assert version()[0].isdigit()


def test_a_command_still_runs_and_unknown_ones_fail_on_one_line():
    result = CliRunner().invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)
    bad = CliRunner().invoke(app, ["bogus"])
    assert bad.exit_code == 2
