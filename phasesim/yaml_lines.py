"""The line of a key in a YAML document, for error messages of files loaded as plain data.

``line_of(text, loc)`` composes ``text`` (nodes only, nothing built: linear in the file, aliases
are not expanded) and returns the 1-based line of the longest prefix of the key path ``loc``
(a pydantic error location such as ``("links", 0, "latency_s")``) found in the document. It is the
way ``phasesim.scenarios.yaml_marks`` locates a scenario's errors (record every key's mark, take
the longest recorded prefix, skip parts pydantic adds), for readers below the scenarios layer,
such as ``phasesim.simulator.topology``.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

__all__ = ["line_of"]


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node of ``text`` on the key path ``loc``; None if ``text`` is not
    YAML this can compose. Parts of ``loc`` that are not keys of the document are skipped."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            continue
        key_node, node = child
        line = key_node.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node that names ``part``, its value) in a mapping or a sequence, or None."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode):
        index = part if isinstance(part, int) else int(part) if str(part).isdigit() else None
        if index is not None and 0 <= index < len(node.value):
            return node.value[index], node.value[index]
    return None
