"""The CLI's shape: a command module (``*_cmd``) parses its options and prints; what two commands
share lives in a module of its own (options, summary, prices, cost tables), never in another
command's module."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "phasesim" / "cli"


def test_no_command_module_imports_another() -> None:
    wrong = []
    for path in sorted(CLI.glob("*_cmd.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.name}:{node.lineno}: {name}" for name in names
                      if name.startswith("phasesim.cli.") and name.endswith("_cmd")]
    assert not wrong, "command modules importing each other:\n" + "\n".join(wrong)
