"""Import any supported trace: one assembler numbers requests and checks arrival order, then
either collects the chunks into a DataFrame (:func:`import_trace`) or streams them into a parquet
file with bounded memory (:func:`import_to_parquet`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.traces import schema
from phasesim.traces.formats import CSV_COLUMNS, TraceFormat, detect_format
from phasesim.traces.generators import ArrivalProcess
from phasesim.traces.readers import Chunk, TraceInput, horizon_error, location_kw, open_trace_input
from phasesim.traces.storage import (
    ARROW_TYPES,
    COMPRESSION,
    ROW_GROUP_ROWS,
    meta_json,
    table_to_frame,
    with_transform,
)
from phasesim.units import MAX_TIME_S

__all__ = ["TraceFormat", "TraceWarning", "ImportReport", "detect_format", "import_trace", "import_to_parquet"]


class TraceWarning(UserWarning):
    """A recoverable problem in an input trace (e.g. rows out of arrival order, sorted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    rows: int
    out_of_order_rows: int
    meta: dict[str, Any]


# --- assembly -----------------------------------------------------------------------------------


class _Assembler:
    """Numbers requests and watches arrival order, chunk by chunk."""

    def __init__(self, *, src: TraceInput, strict: bool) -> None:
        self._src = src
        self._strict = strict
        self._max_arrival = -math.inf
        self._origin = math.inf if src.rebase else 0.0  # arrival 0 s once imported: the earliest, or 0 s
        self.rows = 0
        self.out_of_order = 0
        self.ids: list[np.ndarray] = []

    def add(self, chunk: Chunk) -> pa.Table:
        table = chunk.table
        arrival = table.column(schema.ARRIVAL_S).to_numpy()
        running = np.maximum.accumulate(np.concatenate(([self._max_arrival], arrival)))
        late = arrival < running[:-1]
        if late.any():
            if self._strict:
                i = int(np.argmax(late))
                raise InputError("arrival earlier than a previous row (file is not sorted; drop --strict to sort it)",
                                 path=self._src.path, column=self._src.time_column,
                                 **location_kw(self._src, chunk.locations[i]))
            self.out_of_order += int(late.sum())
        self._max_arrival = float(running[-1])
        self._check_horizon(chunk, arrival)
        if self._src.keeps_ids:
            self.ids.append(table.column(schema.REQUEST_ID).to_numpy())
        else:
            ids = pa.array(np.arange(self.rows, self.rows + table.num_rows, dtype=np.int64))
            table = table.append_column(pa.field(schema.REQUEST_ID, pa.int64(), nullable=False), ids)
        self.rows += table.num_rows
        return _canonical(table)

    def _check_horizon(self, chunk: Chunk, arrival: np.ndarray) -> None:
        """Every arrival, as it will be written (rebased on the earliest for wall-clock sources),
        must be within the simulator's horizon ``MAX_TIME_S``."""
        if len(arrival) == 0:
            return
        if self._src.rebase:
            self._origin = min(self._origin, float(arrival.min()))
        if self._max_arrival - self._origin <= MAX_TIME_S:
            return
        beyond = arrival - self._origin > MAX_TIME_S
        if not beyond.any():  # the span grew downwards: a new earliest arrival (wall-clock sources)
            beyond = self._max_arrival - arrival > MAX_TIME_S
        i = int(np.argmax(beyond))
        span_s = max(arrival[i] - self._origin, self._max_arrival - arrival[i])
        raise horizon_error(self._src, chunk.locations[i], float(span_s))

    def finish(self) -> None:
        """Raise for an empty trace or duplicate ids; warn about sorting."""
        src = self._src
        if self.rows == 0:
            raise InputError("no data rows", path=src.path, **({"line": 2} if src.fmt in CSV_COLUMNS else {}))
        if self.ids:
            ids = np.concatenate(self.ids)
            _, first_index, counts = np.unique(ids, return_index=True, return_counts=True)
            if (counts > 1).any():
                seen = np.zeros(len(ids), dtype=bool)
                seen[first_index] = True
                i = int(np.argmax(~seen))
                raise InputError(f"duplicate request_id {ids[i]}", path=src.path, row=i + 1,
                                 column=schema.REQUEST_ID)
        if src.notes.get("all_arrivals_at_0"):
            warnings.warn(f"{src.path}: a length-only trace has no arrival times: all {self.rows:,} "
                          "requests arrive at t=0 (an offline batch); give an arrival rate "
                          "(sim traces import --rate R) to spread them", TraceWarning, stacklevel=3)
        if self.out_of_order:
            warnings.warn(f"{src.path}: {self.out_of_order} rows out of arrival order; sorted by arrival "
                          "(use --strict to reject)", TraceWarning, stacklevel=3)

    def meta(self) -> dict[str, Any]:
        meta = self._src.meta
        if self._src.fmt is not TraceFormat.PARQUET:
            meta["source"].setdefault("rows", self.rows)
        if "t0_ns" in self._src.notes:
            meta["source"]["t0"] = str(np.datetime64(self._src.notes["t0_ns"], "ns"))
        if self.out_of_order:
            meta = with_transform(meta, {"op": "sort_by_arrival", "out_of_order_rows": self.out_of_order})
        return meta


def _canonical(table: pa.Table) -> pa.Table:
    order = [c for c in schema.REQUIRED_COLUMNS + schema.OPTIONAL_COLUMNS if c in table.column_names]
    return table.select(order)


def _sorted(table: pa.Table, *, src: TraceInput, notes: dict[str, Any]) -> pa.Table:
    """Stable sort by arrival; renumber generated ids; rebase wall-clock arrivals on the earliest."""
    order = pc.sort_indices(table, sort_keys=[(schema.ARRIVAL_S, "ascending")])
    table = table.take(order)
    if not src.keeps_ids:
        ids = pa.array(np.arange(table.num_rows, dtype=np.int64))
        table = table.set_column(table.column_names.index(schema.REQUEST_ID), schema.REQUEST_ID, ids)
    if src.rebase:
        # arrival_s = k / 1e9 with integer k; rint recovers k exactly for spans below ~26 days
        ns = np.rint(table.column(schema.ARRIVAL_S).to_numpy() * 1e9).astype(np.int64)
        shift = int(ns[0])
        notes["t0_ns"] = notes["t0_ns"] + shift
        arrival = pa.array((ns - shift) / 1e9)
        table = table.set_column(table.column_names.index(schema.ARRIVAL_S), schema.ARRIVAL_S, arrival)
    return table


def import_trace(
    src: str | Path,
    *,
    format: str | TraceFormat | None = None,  # noqa: A002  (mirrors the --format option)
    strict: bool = False,
    arrival: ArrivalProcess | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Read any supported trace into a canonical DataFrame (metadata in ``df.attrs["trace_meta"]``).

    ``format`` overrides detection. ``strict`` turns unsorted arrivals into an error (otherwise
    they are sorted with a :class:`TraceWarning`). ``arrival``/``seed`` synthesize arrivals for a
    length-only CSV (default: every request at 0 s).
    """
    opened = open_trace_input(src, format=format, arrival=arrival, seed=seed)
    assembler = _Assembler(src=opened, strict=strict)
    tables = [assembler.add(chunk) for chunk in opened.chunks]
    assembler.finish()
    table = pa.concat_tables(tables, promote_options="default")
    if assembler.out_of_order:
        table = _sorted(table, src=opened, notes=opened.notes)
    return table_to_frame(table, assembler.meta())


def import_to_parquet(
    src: str | Path,
    out: str | Path,
    *,
    format: str | TraceFormat | None = None,  # noqa: A002
    strict: bool = False,
    arrival: ArrivalProcess | None = None,
    seed: int = 0,
) -> ImportReport:
    """Stream any supported trace into a canonical parquet file, one row group per chunk.

    Memory stays bounded by the chunk size unless the input is unsorted (then the written rows are
    read back and sorted in memory). No output is left behind on error.
    """
    opened = open_trace_input(src, format=format, arrival=arrival, seed=seed)
    assembler = _Assembler(src=opened, strict=strict)
    with atomic_path(out) as tmp:
        writer = None
        try:
            for chunk in opened.chunks:
                table = assembler.add(chunk)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, _file_schema(table.schema), compression=COMPRESSION)
                writer.write_table(table.cast(_file_schema(table.schema)), row_group_size=ROW_GROUP_ROWS)
            assembler.finish()
            if not assembler.out_of_order:  # the metadata goes in the footer, written on close
                writer.add_key_value_metadata({schema.METADATA_KEY: meta_json(assembler.meta())})
        finally:
            if writer is not None:
                writer.close()
        if assembler.out_of_order:
            table = _sorted(pq.read_table(tmp), src=opened, notes=opened.notes)
            table = table.replace_schema_metadata({schema.METADATA_KEY: meta_json(assembler.meta())})
            pq.write_table(table, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
    return ImportReport(rows=assembler.rows, out_of_order_rows=assembler.out_of_order, meta=assembler.meta())


def _file_schema(arrow_schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, ARROW_TYPES[f.name], nullable=f.name in schema.OPTIONAL_COLUMNS)
                      for f in arrow_schema])
