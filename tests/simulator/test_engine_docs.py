"""``docs/engine.md``'s code links (``Name`` [``simulator/x.py:N``](../simulator/x.py#LN)) point at
the line that defines ``Name`` (a function, a class, or ``Class.method`` inside that class), so
its "Life of a request" stays followable as the code moves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"`([\w.]+)` \[`((?:simulator|traces|scenarios|profiler)/[\w/]+\.py):(\d+)`\]"
                  r"\(\.\./([\w/.]+)#L(\d+)\)")


def _defines(path: str, line: int, name: str) -> bool:
    lines = (REPO / path).read_text().splitlines()
    *owner, last = name.split(".")
    if not re.match(rf"\s*(def|class) {re.escape(last)}\b", lines[line - 1]):
        return False
    if not owner:
        return True
    above = [text for text in lines[:line - 1] if re.match(r"class \w", text)]
    return bool(above) and re.match(rf"class {re.escape(owner[0])}\b", above[-1]) is not None


def test_every_code_link_points_at_what_it_names() -> None:
    text = (REPO / "docs" / "engine.md").read_text()
    links = LINK.findall(text)
    assert len(links) >= 40  # the life of a request, at least
    wrong = [f"{name} -> {path}:{line}" for name, path, line, target, anchor in links
             if target != path or anchor != line or not _defines(path, int(line), name)]
    assert not wrong, f"{wrong}: run python tools/update_doc_links.py"
    # nothing that looks like a link escaped the pattern
    assert text.count("](../simulator/") == len(links)
