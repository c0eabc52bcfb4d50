"""Read a YAML file into plain data and remember where every key and item came from.

``load_yaml_with_marks(path)`` returns the document as dicts/lists/scalars plus a map from each
key path (a tuple such as ``("topology", "link", "bandwidth")`` or ``("sweep", "grid", "seed", 1)``)
to its 1-based ``(line, column)``. ``locate(marks, loc)`` maps a pydantic error location onto the
nearest recorded path, so a validation error can name the key *and* its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from phasesim.errors import InputError
from phasesim.safe_yaml import BoundedLoader

__all__ = ["MarkedYaml", "load_yaml_with_marks", "parse_yaml_text", "locate", "dotted"]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkedYaml:
    """A parsed YAML document: ``data`` and the 1-based ``(line, column)`` of every key path."""

    path: Path | None
    data: Any
    marks: Mapping[KeyPath, tuple[int, int]]

    def line_of(self, key_path: Sequence[str | int]) -> int | None:
        found = locate(self.marks, key_path)
        return None if found is None else found[0]


def load_yaml_with_marks(path: str | Path) -> MarkedYaml:
    """Parse ``path``; a missing file or a YAML syntax error is an :class:`InputError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("scenario file not found", path=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scenario file: {exc}", path=file) from None
    return parse_yaml_text(text, path=file)


def parse_yaml_text(text: str, *, path: Path | None = None) -> MarkedYaml:
    loader = BoundedLoader(text)  # refuses alias bombs before anything is built
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("the scenario file is empty", path=path, line=1)
        marks: dict[KeyPath, tuple[int, int]] = {(): _mark(node)}
        data = _construct(loader, node, (), marks)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path=path) from None
    except InputError as exc:
        if exc.path is not None:
            raise
        raise InputError(exc.message, path=path, line=exc.line, column=exc.column) from None
    finally:
        loader.dispose()
    return MarkedYaml(path=path, data=data, marks=marks)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _construct(loader: BoundedLoader, node: yaml.Node, path: KeyPath,
               marks: dict[KeyPath, tuple[int, int]]) -> Any:
    """Build plain Python data from ``node`` while recording the marks of keys and items."""
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
                raise InputError(f"keys must be plain strings, got {key!r}",
                                 line=_mark(key_node)[0])
            key = str(key)
            if key in out:
                raise InputError(f"duplicate key '{key}'", line=_mark(key_node)[0],
                                 column=dotted((*path, key)))
            marks[(*path, key)] = _mark(key_node)
            out[key] = _construct(loader, value_node, (*path, key), marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            marks[(*path, index)] = _mark(item)
            items.append(_construct(loader, item, (*path, index), marks))
        return items
    return loader.construct_object(node, deep=True)


def locate(marks: Mapping[KeyPath, tuple[int, int]],
           loc: Sequence[str | int]) -> tuple[int, int] | None:
    """The mark of the longest recorded prefix of ``loc``.

    Components of ``loc`` that are not keys of the document (pydantic adds union member names
    such as ``"function-after[...]"`` or model class names) are skipped.
    """
    best = marks.get(())
    current: KeyPath = ()
    for part in loc:
        candidate = (*current, part)
        if candidate in marks:
            current = candidate
            best = marks[candidate]
        elif isinstance(part, str) and part.isdigit() and (*current, int(part)) in marks:
            current = (*current, int(part))
            best = marks[current]
    return best


def dotted(loc: Sequence[str | int]) -> str:
    """``("sweep", "grid", "seed", 1)`` -> ``"sweep.grid.seed[1]"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text
