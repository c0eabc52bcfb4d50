"""Maintainer script: point docs/engine.md's code links at the lines that define what they name.

    python tools/update_doc_links.py [--check]

A link reads `` `Name` [`simulator/x.py:N`](../simulator/x.py#LN) ``; ``Name`` is a function, a
class or ``Class.method``. After code moves, this rewrites every ``N`` to the current line of
that definition (``tests/simulator/test_engine_docs.py`` fails until it is run). ``--check``
only lists the links that are off. A name defined nowhere (or twice) in its file is an error.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "engine.md"
LINK = re.compile(r"`([\w.]+)` \[`((?:simulator|traces|scenarios|profiler)/[\w/]+\.py):(\d+)`\]"
                  r"\(\.\./([\w/.]+)#L(\d+)\)")


def definition_line(path: str, name: str) -> int:
    """1-based line of ``def``/``class`` ``name`` (``Class.method``: the method inside the class)."""
    lines = (REPO / path).read_text().splitlines()
    *owner, last = name.split(".")
    found, inside = [], not owner
    for number, text in enumerate(lines, 1):
        if owner and re.match(r"class \w", text):
            inside = re.match(rf"class {re.escape(owner[0])}\b", text) is not None
        if inside and re.match(rf"\s*(async\s+)?(def|class) {re.escape(last)}\b", text):
            found.append(number)
    if len(found) != 1:
        raise SystemExit(f"error: {path}: {name} is defined {len(found)} times")
    return found[0]


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    off = []

    def fix(match: re.Match[str]) -> str:
        name, path = match.group(1), match.group(2)
        line = definition_line(path, name)
        if (match.group(3), match.group(4), match.group(5)) != (str(line), path, str(line)):
            off.append(f"{name}: {path}:{match.group(3)} -> {line}")
        return f"`{name}` [`{path}:{line}`](../{path}#L{line})"

    new = LINK.sub(fix, text)
    print("\n".join(off) or "all links point at their definitions")
    if "--check" in argv:
        return 1 if off else 0
    if new != text:
        DOC.write_text(new)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only list the links that are off (exit 1 if any)")
    raise SystemExit(main(["--check"] if parser.parse_args().check else []))
