"""From a scenario file to a list of fully validated points, before anything runs.

``load_sweep_points(path)`` parses the YAML (keeping line numbers), validates the base scenario,
expands the ``sweep:`` section (grid axes x zipped groups, in file order, last axis fastest),
applies each point's values by dotted path, and validates every point: its scenario, that its
trace file exists and that its topology can be built. Any problem is an :class:`InputError`
naming the file, the line and the dotted key, raised before a single point runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phasesim.errors import InputError
from phasesim.scenarios.model import ScenarioSpec, SweepAxes
from phasesim.scenarios.yaml_marks import KeyPath, MarkedYaml, load_yaml_with_marks, locate

__all__ = ["Point", "SweepPoints", "load_sweep_points", "expand_axes", "count_points", "MAX_POINTS",
           "point_id", "set_dotted", "split_dotted", "canonical_json"]


# Points one sweep may have: each is validated and held in memory before the first one runs
# (about 0.4 ms and a few kB each), so 10^5 points load in under a minute.
MAX_POINTS = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One run of a sweep: the swept ``values`` (dotted path -> value) and the whole scenario."""

    index: int
    point_id: str
    values: Mapping[str, Any]
    spec: ScenarioSpec
    config: Mapping[str, Any]  # the point's scenario as plain data (no sweep), trace path absolute


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPoints:
    """A scenario file with its sweep expanded: the base scenario, the swept axes and every
    validated point, in sweep order (last axis fastest)."""

    path: Path
    base: ScenarioSpec
    axes: tuple[str, ...]
    points: tuple[Point, ...]
    zip_groups: tuple[tuple[str, ...], ...] = ()  # axes that advance together


# A callable that checks a point beyond the pydantic model (trace file, topology); it raises
# InputError(message, column=<dotted key>) and the loader adds the file and the line.
PointCheck = Callable[[ScenarioSpec, Path], None]


def load_sweep_points(path: str | Path, *, full: bool = False, base_only: bool = False,
              checks: Sequence[PointCheck] = ()) -> SweepPoints:
    """Parse, validate and expand ``path``. ``full`` uses ``sweep.full`` instead of the default
    axes; ``base_only`` ignores the sweep (one point, the scenario as written)."""
    marked = load_yaml_with_marks(path)
    file = Path(path)
    if not isinstance(marked.data, dict):
        raise InputError("a scenario file must be a mapping of keys", path=file, line=1)
    base = _validate(marked.data, marked=marked, overrides={})
    sweep = base.sweep
    axes_spec: SweepAxes = SweepAxes()
    axes_key: KeyPath = ("sweep",)
    if sweep is not None and not base_only:
        axes_spec = sweep
        if full:
            if sweep.full is None:
                raise InputError("--full given but the scenario has no 'sweep.full' section",
                                 path=file, line=marked.line_of(("sweep",)), column="sweep.full")
            axes_spec, axes_key = sweep.full, ("sweep", "full")
    elif full:
        raise InputError("--full given but the scenario has no 'sweep' section", path=file)
    axis_marks = _axis_marks(marked, axes_spec, axes_key)
    for axis in axis_marks:
        if split_dotted(axis)[0] in ("sweep", "name", "kind"):
            raise InputError(f"cannot sweep '{axis}'", path=file, line=axis_marks[axis][None],
                             column=axis)
    body = {k: v for k, v in marked.data.items() if k != "sweep"}
    points: list[Point] = []
    seen: dict[str, int] = {}
    try:
        size = count_points(axes_spec)
    except ValueError as exc:
        raise InputError(str(exc), path=file, line=marked.line_of((*axes_key, "zip")),
                         column=".".join(map(str, (*axes_key, "zip")))) from None
    if size > MAX_POINTS:  # refuse before building (and holding) a single point
        raise InputError(f"the sweep has {size:,} points, more than {MAX_POINTS:,}; split it "
                         "into several scenario files or use fewer values per axis", path=file,
                         line=marked.line_of(axes_key), column=".".join(map(str, axes_key)))
    expanded = expand_axes(axes_spec)
    for index, values in enumerate(expanded):
        try:
            spec = _point_spec(body, values, marked=marked, axis_marks=axis_marks, checks=checks)
        except InputError as exc:
            raise _blame_axis(exc, body, values, marked=marked, axis_marks=axis_marks,
                              checks=checks) from None
        pid = point_id(values)
        if pid in seen:
            raise InputError(f"sweep points {seen[pid]} and {index} have the same values",
                             path=file, line=marked.line_of(axes_key))
        seen[pid] = index
        config = spec.model_dump(mode="json", exclude={"sweep"})
        points.append(Point(index=index, point_id=pid, values=values, spec=spec, config=config))
    axes = tuple(axis_marks)
    groups = tuple(tuple(group) for group in axes_spec.zip if len(group) > 1)
    return SweepPoints(path=file, base=base, axes=axes, points=tuple(points), zip_groups=groups)


def _point_spec(body: Mapping[str, Any], values: Mapping[str, Any], *, marked: MarkedYaml,
                axis_marks: Mapping[str, Mapping[int | None, int | None]],
                checks: Sequence[PointCheck]) -> ScenarioSpec:
    """The scenario ``body`` with ``values`` set, validated and checked; InputError with a line."""
    file = Path(marked.path or "")
    data = copy.deepcopy(dict(body))
    for axis, value in values.items():
        try:
            set_dotted(data, axis, value)
        except (KeyError, IndexError, TypeError) as exc:
            raise InputError(f"cannot set '{axis}': {exc}", path=file,
                             line=axis_marks[axis][None], column=axis) from None
    spec = _validate(data, marked=marked, overrides=values, axis_marks=axis_marks)
    spec = _absolute_paths(spec, file.parent)
    for check in checks:
        try:
            check(spec, file.parent)
        except InputError as exc:
            line = _line_for_key(exc.column or "", marked, values, axis_marks)
            raise InputError(exc.message, path=file, line=line, column=exc.column) from None
    return spec


def _blame_axis(error: InputError, body: Mapping[str, Any], values: Mapping[str, Any], *,
                marked: MarkedYaml, axis_marks: Mapping[str, Mapping[int | None, int | None]],
                checks: Sequence[PointCheck]) -> InputError:
    """A point failed where the base scenario passed: its swept values caused it, even when the
    error names another key (``model: [..., x]`` fails in ``topology``). Put the error at the
    line of the one swept value that fails alone; keep it as it is when none does (only the
    combination fails) or it already sits on a sweep value's line."""
    on_axis = {line for axis in values for line in axis_marks.get(axis, {}).values()}
    if not values or error.line in on_axis:
        return error
    for axis, value in values.items():
        try:
            _point_spec(body, {axis: value}, marked=marked, axis_marks=axis_marks, checks=checks)
        except InputError:
            marks = axis_marks[axis]
            line = marks.get(_value_index(marked, axis, value, marks), marks[None])
            return InputError(f"{error.message} (sweep value {axis} = {value!r})",
                              path=error.path, line=line, column=error.column)
    return error


def count_points(axes: SweepAxes) -> int:
    """How many points :func:`expand_axes` gives, computed without building them."""
    size = math.prod(len(values) for values in axes.grid.values())
    for group in axes.zip:
        size *= _zip_length(group)
    return size


def expand_axes(axes: SweepAxes) -> list[dict[str, Any]]:
    """Every point's values: grid axes in order (last fastest), then each zip group in lockstep."""
    factors: list[list[dict[str, Any]]] = []
    for axis, values in axes.grid.items():
        factors.append([{axis: v} for v in values])
    for group in axes.zip:
        n = _zip_length(group)
        factors.append([{axis: vals[i] for axis, vals in group.items()} for i in range(n)])
    points = []
    for combo in itertools.product(*factors):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        points.append(merged)
    return points


def _zip_length(group: Mapping[str, Sequence[Any]]) -> int:
    lengths = {len(v) for v in group.values()}
    if len(lengths) > 1:
        raise ValueError("zipped axes must have lists of the same length")
    return lengths.pop() if lengths else 0


def point_id(values: Mapping[str, Any]) -> str:
    """A stable 12-hex-digit id from the swept values (axis order does not matter)."""
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()[:12]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def split_dotted(key: str) -> list[str | int]:
    """``"topology.pools.0.instances"`` -> ``["topology", "pools", 0, "instances"]``."""
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"bad dotted key {key!r}")
    return [int(part) if part.isdigit() else part for part in key.split(".")]


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at dotted ``key`` inside ``data``, creating missing mappings on the way."""
    parts = split_dotted(key)
    node: Any = data
    for part, nxt in zip(parts[:-1], parts[1:], strict=True):
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise TypeError(f"'{part}' is inside a value that is not a mapping")
        child = node.get(part)
        if child is None:
            child = [] if isinstance(nxt, int) else {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise TypeError(f"'{last}' is inside a value that is not a mapping")


# --- validation with line numbers ----------------------------------------------------------------


def _axis_marks(marked: MarkedYaml, axes: SweepAxes,
                axes_key: KeyPath) -> dict[str, dict[int | None, int | None]]:
    """For each axis: its key line (under ``None``) and the line of each value index."""
    out: dict[str, dict[int | None, int | None]] = {}
    raw: Any = marked.data
    for part in axes_key:
        raw = raw.get(part) if isinstance(raw, dict) else None
    one_group = isinstance(raw, dict) and isinstance(raw.get("zip"), dict)
    groups: list[tuple[KeyPath, Mapping[str, list[Any]]]] = [((*axes_key, "grid"), axes.grid)]
    groups += [((*axes_key, "zip") if one_group else (*axes_key, "zip", i), g)
               for i, g in enumerate(axes.zip)]
    for prefix, group in groups:
        for axis, values in group.items():
            if axis in out:
                raise InputError(f"axis '{axis}' is swept twice", path=marked.path,
                                 line=marked.line_of((*prefix, axis)), column=axis)
            try:
                split_dotted(axis)
            except ValueError as exc:
                raise InputError(str(exc), path=marked.path,
                                 line=marked.line_of((*prefix, axis)), column=axis) from None
            marks: dict[int | None, int | None] = {None: marked.line_of((*prefix, axis))}
            for i in range(len(values)):
                marks[i] = marked.line_of((*prefix, axis, i))
            out[axis] = marks
    return out


def _validate(data: Any, *, marked: MarkedYaml, overrides: Mapping[str, Any],
              axis_marks: Mapping[str, Mapping[int | None, int | None]] | None = None
              ) -> ScenarioSpec:
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # an unknown key explains a "missing" one (a typo), so name it first
        error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(error["loc"])
        key = _data_key(data, loc)
        message = _message(error)
        inner = re.match(r"^'([A-Za-z_][\w]*)': ", message)
        if inner and error["type"] == "value_error":  # a validator named the key inside
            key, message = f"{key}.{inner[1]}", message[inner.end():]
        line = _line_for_key(key, marked, overrides, axis_marks or {})
        if error["type"] == "extra_forbidden":
            message = f"unknown key '{key.split('.')[-1]}'"
        elif overrides and any(_covers(axis, key) for axis in overrides):
            axis = next(a for a in overrides if _covers(a, key))
            message = f"{message} (sweep value {axis} = {overrides[axis]!r})"
        raise InputError(message, path=marked.path, line=line, column=key or None) from None


def _line_for_key(key: str, marked: MarkedYaml, overrides: Mapping[str, Any],
                  axis_marks: Mapping[str, Mapping[int | None, int | None]]) -> int | None:
    """The line of a sweep value when ``key`` lies under a swept axis, else the key's own line."""
    for axis, value in overrides.items():
        if _covers(axis, key) and axis in axis_marks:
            marks = axis_marks[axis]
            return marks.get(_value_index(marked, axis, value, marks), marks[None])
    parts = split_dotted(key) if key else []
    found = locate(marked.marks, parts)
    return None if found is None else found[0]


def _value_index(marked: MarkedYaml, axis: str, value: Any,
                 marks: Mapping[int | None, int | None]) -> int | None:
    sweep = marked.data.get("sweep") or {}
    candidates = [sweep.get("grid", {}), *(sweep.get("zip") if isinstance(sweep.get("zip"), list)
                                           else [sweep.get("zip") or {}])]
    full = sweep.get("full") or {}
    candidates += [full.get("grid", {}), *(full.get("zip") if isinstance(full.get("zip"), list)
                                           else [full.get("zip") or {}])]
    for group in candidates:
        if isinstance(group, dict) and axis in group and isinstance(group[axis], list):
            for i, v in enumerate(group[axis]):
                if v == value and i in marks:
                    return i
    return None


def _covers(axis: str, key: str) -> bool:
    return key == axis or key.startswith(axis + ".") or key.startswith(axis + "[")


_UNION_TAGS = frozenset({"builtin", "inline"})  # scenarios.model.TopologyRef's tags


def _data_key(data: Any, loc: Sequence[Any]) -> str:
    """The dotted key of ``loc`` in ``data``, dropping pydantic's union/tag components."""
    parts: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(part)
            node = node[part]
        elif position == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str) \
                and part not in _UNION_TAGS:
            parts.append(part)  # a missing key: name it
    return ".".join(str(p) for p in parts)


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    if error["type"] == "missing":
        return "required key is missing"
    value = error.get("input")
    if error["type"] not in ("model_type", "missing") and isinstance(value, (str, int, float)):
        message = f"{message} (got {value!r})"
    return message


def _absolute_paths(spec: ScenarioSpec, base_dir: Path) -> ScenarioSpec:
    """Trace and cost-table paths relative to the scenario file become absolute."""
    updates: dict[str, Any] = {}
    if spec.trace is not None and spec.trace.path is not None:
        path = Path(spec.trace.path)
        if not path.is_absolute():
            path = (base_dir / path).resolve()
        updates["trace"] = spec.trace.model_copy(update={"path": str(path)})
    if spec.trace is not None and spec.trace.generate is not None:
        gen = spec.trace.generate
        lengths = {}
        for part in ("prompt", "output"):
            dist = getattr(gen, part)
            if isinstance(dist, dict) and "path" in dist and not Path(dist["path"]).is_absolute():
                lengths[part] = {**dist, "path": str((base_dir / dist["path"]).resolve())}
        if lengths:
            updates["trace"] = spec.trace.model_copy(
                update={"generate": gen.model_copy(update=lengths)})
    if spec.phases is not None and spec.phases.table is not None:
        table = Path(spec.phases.table)
        if not table.is_absolute():
            table = (base_dir / table).resolve()
        updates["phases"] = spec.phases.model_copy(update={"table": str(table)})
    return spec.model_copy(update=updates) if updates else spec

