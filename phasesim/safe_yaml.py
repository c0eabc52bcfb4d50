"""The one YAML loader of phasesim: ``yaml.SafeLoader`` with a bound on what aliases expand to.

An alias (``*name``) makes the composer hand back the anchored node itself, so a small file of
nested anchors ("billion laughs") describes a tree of billions of nodes; building it eats all
memory. :class:`BoundedLoader` counts the nodes of the tree the document stands for (every alias
counted as the whole subtree it names) right after composing it, before anything is built, in time
linear in the file, and refuses more than :data:`MAX_NODES` or an alias inside its own anchor.
It also refuses nesting deeper than :data:`MAX_DEPTH` (PyYAML's composer recurses once per level,
so ``[[[[...]]]]`` 50,000 deep was a ``RecursionError``).
The refusal is a ``yaml.MarkedYAMLError`` (a ``ComposerError`` with the offending node's line), so
every caller's existing YAML error handling reports it as one line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

__all__ = ["MAX_DEPTH", "MAX_NODES", "BoundedLoader", "load_yaml"]

# Nodes the expanded document may hold: scenario, topology and option files have hundreds.
MAX_NODES = 1_000_000
# Nesting levels a document may have: scenario files use about six.
MAX_DEPTH = 100


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses documents whose aliases expand past :data:`MAX_NODES` nodes."""

    max_nodes = MAX_NODES
    max_depth = MAX_DEPTH
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._depth >= self.max_depth:
            raise ComposerError(None, None, f"the document nests more than {self.max_depth} "
                                "levels deep; refusing to read it", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer, or a located error for one past Python's 4,300-digit conversion limit
        (a bare ``ValueError`` otherwise, which no caller reports as bad YAML)."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise ConstructorError(None, None, "an integer too long to read "
                                   f"({len(str(node.value)):,} characters)", node.start_mark) from None

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        expanded_size(node, limit=self.max_nodes)
        return node


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with :class:`BoundedLoader`: plain data, bounded in size."""
    return yaml.load(text, Loader=BoundedLoader)


def expanded_size(root: yaml.Node, *, limit: int) -> int:
    """Nodes of the tree ``root`` stands for, each alias counted as its whole subtree.

    Each distinct node is visited once (sizes are memoised), so this is linear in the file.
    Raises ``ComposerError`` past ``limit`` or on an alias inside its own anchor.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise ComposerError(
                    None, None,
                    f"the document expands to more than {limit:,} nodes through its aliases "
                    "(nested anchors?); refusing to build it", node.start_mark)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ComposerError(None, None, "an alias refers to a node that contains it",
                                node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise ComposerError(None, None, "an alias refers to a node that contains it",
                                    child.start_mark)
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
