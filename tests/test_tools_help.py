"""Every maintainer script under tools/ answers ``--help`` with its usage and does nothing else
(issue 21, point 8: some ran their whole job, or failed, when asked for help)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = sorted((REPO / "tools").glob("*.py"))


def _stamps() -> dict[Path, int]:
    """What a tool run by mistake would rewrite: shipped tables, docs, figures."""
    return {p: p.stat().st_mtime_ns for folder in ("simulator/tables", "docs", "docs/figures")
            for p in (REPO / folder).iterdir() if p.is_file()}


@pytest.mark.parametrize("tool", TOOLS, ids=lambda p: p.name)
def test_help_prints_usage_and_writes_nothing(tool: Path, tmp_path: Path) -> None:
    before = _stamps()
    done = subprocess.run([sys.executable, str(tool), "--help"], capture_output=True, text=True, check=False,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout[:200]
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())
    assert _stamps() == before
