"""Capture grids: points, coverage-first ordering and the resumable JSONL checkpoint.

A checkpoint is a JSON-lines file beside the output table (``T.parquet.ckpt.jsonl``): a header
line naming what is captured, then one line per finished point, appended and flushed as each point
completes. An interrupted capture resumes from it without redoing a point; a torn last line (the
process died mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phasesim.atomic import output_errors
from phasesim.errors import InputError
from phasesim.simulator.table_schema import Phase

__all__ = ["GridPoint", "PointResult", "Checkpoint", "parse_int_list", "coverage_order",
           "checkpoint_path", "interleave", "grid_dict"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GridPoint:
    phase: Phase
    batch_size: int
    tokens: int  # prompt tokens (prefill) or context tokens already cached (decode)

    @property
    def key(self) -> str:
        return f"{self.phase.value}/{self.batch_size}/{self.tokens}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointResult:
    """A finished point: ``samples_s`` timed, or ``skipped_reason`` set (no samples)."""

    point: GridPoint
    samples_s: tuple[float, ...] = ()
    skipped_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.point.phase.value, "batch_size": self.point.batch_size,
                "tokens": self.point.tokens, "samples_s": list(self.samples_s),
                "skipped_reason": self.skipped_reason, "extra": self.extra}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PointResult:
        point = GridPoint(phase=Phase(d["phase"]), batch_size=int(d["batch_size"]),
                          tokens=int(d["tokens"]))
        return PointResult(point=point, samples_s=tuple(float(x) for x in d["samples_s"]),
                           skipped_reason=str(d.get("skipped_reason", "")),
                           extra=dict(d.get("extra", {})))


_DECIMAL = re.compile(r"[0-9]+")  # ASCII digits only: not "+4", "1_000" or other scripts' digits


def parse_int_list(text: str, *, option: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4] (sorted, unique). Every item must be a positive integer written in
    decimal digits; an item that is not (``abc``, ``0``, ``-4``, ``2.5``, ``1e3``, an empty item
    as in ``1,,2``) is an InputError naming the option and the item, never skipped."""
    values: set[int] = set()
    for number, part in enumerate(text.split(","), start=1):
        item = part.strip()
        if not _DECIMAL.fullmatch(item) or int(item) < 1:
            problem = f"('{item}') is not a positive integer" if item else "is empty"
            raise InputError(f"{option}: item {number} {problem}; give positive integers "
                             "separated by commas, e.g. 1,2,4")
        values.add(int(item))
    return sorted(values)


def _bisection_rank(n: int) -> list[int]:
    """Rank of each index of a sorted axis in coarse-to-fine order: ends first, then midpoints."""
    if n <= 0:
        return []
    order = [0] if n == 1 else [0, n - 1]
    seen = set(order)
    spans = [(0, n - 1)]
    while spans:
        nxt = []
        for lo, hi in spans:
            if hi - lo < 2:
                continue
            mid = (lo + hi) // 2
            if mid not in seen:
                order.append(mid)
                seen.add(mid)
            nxt += [(lo, mid), (mid, hi)]
        spans = nxt
    order += [i for i in range(n) if i not in seen]
    rank = [0] * n
    for r, i in enumerate(order):
        rank[i] = r
    return rank


def coverage_order(phase: Phase, batch_sizes: Sequence[int],
                   tokens: Sequence[int]) -> list[tuple[int, GridPoint]]:
    """Points of one phase with a coverage level: level 0 = the corners, then the midpoints of the
    grid; a capture cut short still spans the whole grid coarsely. Within a level, cheap first."""
    rb, rt = _bisection_rank(len(batch_sizes)), _bisection_rank(len(tokens))
    out = []
    for i, b in enumerate(batch_sizes):
        for j, t in enumerate(tokens):
            out.append((max(rb[i], rt[j]), GridPoint(phase=phase, batch_size=b, tokens=t)))
    out.sort(key=lambda lp: (lp[0], lp[1].batch_size * lp[1].tokens, lp[1].batch_size))
    return out


def interleave(prefill: Iterable[tuple[int, GridPoint]],
               decode: Iterable[tuple[int, GridPoint]]) -> list[GridPoint]:
    """Merge both phases by coverage level so both are covered early."""
    merged = [(lvl, 0, k, p) for k, (lvl, p) in enumerate(prefill)]
    merged += [(lvl, 1, k, p) for k, (lvl, p) in enumerate(decode)]
    merged.sort(key=lambda x: (x[0], x[2], x[1]))
    return [p for *_, p in merged]


def checkpoint_path(output: Path) -> Path:
    return output.with_name(output.name + ".ckpt.jsonl")


class Checkpoint:
    """Append-only JSONL record of finished units (grid points, requests) for one ``header``.

    ``done`` maps each unit's key to its JSON payload; ``record`` appends and fsyncs one line.
    """

    def __init__(self, *, path: Path, header: dict[str, Any], resume: bool) -> None:
        self.path = path
        self.header = header
        self.done: dict[str, dict[str, Any]] = {}
        if resume and path.exists():
            self._load()
        elif path.exists():
            path.unlink()  # a fresh capture; the file (and its header) appear with the first unit

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        try:
            first = json.loads(lines[0])["header"] if lines else None
        except (json.JSONDecodeError, KeyError, TypeError):
            first = None
        if not isinstance(first, dict):
            raise InputError("not a capture checkpoint (no header line)", path=self.path, line=1)
        for key in ("backend", "model", "dtype", "hardware"):
            if first.get(key) != self.header.get(key):
                raise InputError(f"checkpoint is for {key}={first.get(key)!r}, this capture has "
                                 f"{self.header.get(key)!r}; remove it or drop --resume",
                                 path=self.path, line=1)
        good = 1
        for number, line in enumerate(lines[1:], start=2):
            try:
                entry = json.loads(line)
                key, payload = str(entry["key"]), dict(entry["payload"])
            except (json.JSONDecodeError, KeyError, ValueError, TypeError):
                if number == len(lines):  # torn last line from an interrupted write
                    break
                raise InputError("corrupt checkpoint line", path=self.path, line=number) from None
            self.done[key] = payload
            good = number
        if good < len(lines):  # drop the torn line so appends start on a clean line
            with output_errors(self.path), open(self.path, "w") as fh:
                fh.write("\n".join(lines[:good]) + "\n")

    def record(self, key: str, payload: dict[str, Any]) -> None:
        """Append one finished unit; the first one also writes the header, so a capture that
        fails before finishing anything leaves no checkpoint behind."""
        self.done[key] = payload
        new = not self.path.exists()
        with output_errors(self.path):  # a full disk: one error line, not a traceback
            if new:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                if new:
                    fh.write(json.dumps({"header": self.header}, sort_keys=True) + "\n")
                fh.write(json.dumps({"key": key, "payload": payload}, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def grid_dict(**axes: Sequence[int]) -> dict[str, list[int]]:
    return {k: list(v) for k, v in axes.items()}

