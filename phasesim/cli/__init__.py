"""The ``sim`` command: traces, cost profiles, replay, scenarios and sweeps.

Each command lives in its own module (``traces_cmd``, ``replay_cmd``, ...), which imports what
it needs at its top: pandas, numpy, SimPy, the scenario layer. This root imports none of them.
It knows each command by name and one-line help (``COMMANDS``) and imports a command's module
only when that command is run or asked for its help (``LazyCommands.get_command``), so
``sim --help`` and ``sim --version`` start in typer's time, not pandas'. That is the one reason
for these deferred imports: start-up time of a command-line tool, not an import cycle (the
command modules import downwards only, as everywhere else). ``tests/cli/test_startup.py`` checks
that importing this module loads no pandas, numpy, SimPy or matplotlib, and that the one-line
helps below are each command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import typer
from typer.core import TyperCommand

from phasesim.cli.errors import OneLineUsageErrors, root_app, terminate_like_ctrl_c
from phasesim.cli.user_catalog import HARDWARE_FILE_HELP, register_user_catalog
from phasesim.errors import show_warnings_on_one_line

__all__ = ["COMMANDS", "LazyCommands", "app", "main", "version"]

# name -> (module, whether the module's app is a group of its own, one-line help). The help of a
# group is given here (``add_typer``); a command's is its docstring's first line, repeated here
# for ``sim --help`` (tests/cli/test_startup.py keeps the two equal).
COMMANDS: Mapping[str, tuple[str, bool, str]] = MappingProxyType({
    "traces": ("phasesim.cli.traces_cmd", True, "Import, generate and inspect request traces."),
    "profiles": ("phasesim.cli.profiles_cmd", True, "List, show and plot cost tables."),
    "replay": ("phasesim.cli.replay_cmd", False,
               "Replay a trace on a topology; write per-request results and print a summary."),
    "run": ("phasesim.cli.scenario_cmd", False,
            ("Run one scenario (its base values; a sweep section is ignored) and write its "
             "results.")),
    "sweep": ("phasesim.cli.scenario_cmd", False,
              "Run every point of a scenario's sweep; resume skips finished points."),
    "report": ("phasesim.cli.scenario_cmd", False,
               "Plots (PNG) and a Markdown summary (report.md) of a sweep."),
    "plan": ("phasesim.cli.plan_cmd", False,
             "Find the cheapest cluster (or least energy, or fewest devices) that meets the SLO."),
    "latency": ("phasesim.cli.latency_cmd", False,
                ("Predict a latency benchmark: B prompts at once on one instance, the engine's "
                 "batching.")),
})


def version() -> str:
    """The installed distribution's version (the checkout's when installed editable)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("phasesim")
    except PackageNotFoundError:
        return "unknown (not installed)"


def load_command(name: str) -> Any:
    """The real click command ``name`` (importing its module)."""
    module_name, is_group, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    holder = typer.Typer()
    if is_group:
        holder.add_typer(module.app, name=name, help=help_text)
    else:
        holder.registered_commands += [info for info in module.app.registered_commands
                                       if (info.name or info.callback.__name__) == name]
    return typer.main.get_group(holder).commands[name]


class LazyCommands(OneLineUsageErrors):
    """The root group of ``sim``: commands named in ``COMMANDS``, each imported when it is run
    (or its own help shown); ``sim --help`` lists them from ``COMMANDS`` alone."""

    _listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in COMMANDS:
            return known
        if self._listing:
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][2])
        command = load_command(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        """The root's help lists the commands from ``COMMANDS`` (no command module imported),
        in click's plain layout: typer's rich layout imports rich's Markdown renderer, which
        costs more than the rest of ``sim --help`` together."""
        self._listing = True
        try:
            self.rich_markup_mode = None
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _print_version(value: bool) -> None:
    if value:
        print(f"phasesim {version()}")
        raise typer.Exit()


app = root_app(help="phasesim: prefill/decode-aware simulator of LLM inference clusters.",
               cls=LazyCommands)


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print phasesim's version and exit."),
    hardware_file: list[Path] | None = typer.Option(None, "--hardware-file",
                                                    help=HARDWARE_FILE_HELP),
) -> None:
    """phasesim: prefill/decode-aware simulator of LLM inference clusters."""
    register_user_catalog(hardware_file)


def main() -> None:
    show_warnings_on_one_line()
    terminate_like_ctrl_c()
    app()
