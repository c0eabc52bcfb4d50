"""The ``sim`` command: traces, cost profiles, replay, scenarios and sweeps."""

from __future__ import annotations

from phasesim.cli import (
    latency_cmd,
    plan_cmd,
    profiles_cmd,
    replay_cmd,
    scenario_cmd,
    traces_cmd,
)
from phasesim.cli.errors import root_app, terminate_like_ctrl_c
from phasesim.errors import show_warnings_on_one_line

__all__ = ["app", "main"]

app = root_app(help="phasesim: prefill/decode-aware simulator of LLM inference clusters.")
app.add_typer(traces_cmd.app, name="traces", help="Import, generate and inspect request traces.")
app.add_typer(profiles_cmd.app, name="profiles", help="List, show and plot cost tables.")
# replay/run/sweep/report are top-level commands defined in their own modules.
app.registered_commands += replay_cmd.app.registered_commands
app.registered_commands += scenario_cmd.app.registered_commands
app.registered_commands += plan_cmd.app.registered_commands
app.registered_commands += latency_cmd.app.registered_commands


def main() -> None:
    show_warnings_on_one_line()
    terminate_like_ctrl_c()
    app()
