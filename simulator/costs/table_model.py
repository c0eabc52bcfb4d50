"""``TableCostModel``: the :class:`~phasesim.simulator.costs.interface.CostModel` protocol backed by a cost table.

Semantics (all times in seconds; see ``phasesim.simulator.costs.surface`` for interpolation):

prefill_time_s(chunk_tokens, prefix_tokens)
    ``n`` chunks in one forward pass. With ``T(n, x)`` the table's prefill latency of ``n``
    sequences of ``x`` tokens and ``T(n, 0)`` its fixed part (weights, launches)::

        T(n, 0) + (1/n) * sum_i [ T(n, prefix_i + chunk_i) - T(n, prefix_i) ]

    Each sequence pays its share of the growth of a batch from its prefix to prefix + chunk, so a
    chunk after a long prefix costs more than the same chunk alone (attention over the prefix),
    and the fixed part is paid once. With no prefixes and equal lengths this is exactly T(n, L).
decode_step_times_s(batch_size, mean_context_tokens)
    The decode surface at ``batch_size`` interpolated at each mean context (decode step time is
    affine in context: the KV reads), one ``np.interp`` per call.
mixed_step_time_s(chunks, prefixes, decode_contexts)
    ``P + D - min(P0, D0)``: the prefill part P plus the decode part D minus one shared fixed
    overhead (weights are read once per iteration), where P0 and D0 are the fixed parts of each.
    It lies between max(P, D) and P + D.

It also implements the optional :class:`~phasesim.simulator.costs.interface.FastPaths`, equal to
the three above number for number: ``decode_run(batch_size, context_sum_tokens, steps)`` (a
fast-forwarded run's step ends in ns, as a slice of a cumulative table) and
``prefill_step_s(chunk_tokens, prefix_tokens)`` (tuples of ints).

Lookups beyond the table's grid are extrapolated (fitted linear model); the model remembers
that it did (:attr:`TableCostModel.extrapolated`) and, when built with ``warn_beyond_grid`` (the
default; ``resolve.load_table`` turns it off for the shipped tables, whose grids and extrapolation
``simulator/tables/SOURCES.md`` documents), warns once with :class:`CostTableWarning`. The model
is read-only after construction; the only mutable state is that one-shot flag, a bounded memo of
prefill times (a pure function of the chunk and prefix arrays; the same prompt lengths recur in
every trace, so lookups repeat) and a bounded memo of cumulative decode-run tables (a pure
function of batch size and context residue).
"""

from __future__ import annotations

import warnings
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.models import ModelSpec
from phasesim.simulator.costs.interface import run_cum_ns, run_mean_contexts
from phasesim.simulator.costs.surface import Surface
from phasesim.simulator.costs.table import CostTableWarning, validate_table

__all__ = ["TableCostModel"]

_PREFILL_MEMO_ENTRIES = 1 << 16  # bounded: cleared when full
_CUM_MEMO_ENTRIES = 1 << 22  # int64s (32 MiB) of cumulative decode-run tables per model
try:  # np.interp without its Python-level wrapper (same function underneath)
    from numpy._core.multiarray import interp as _interp
except ImportError:  # numpy < 2
    _interp = np.interp


@dataclass(slots=True)
class _RunTables:
    """Plain-Python copies of the surfaces for ``decode_run`` and ``prefill_step_s`` (hot: one
    call per decode run, one per prefill iteration), and the memo of cumulative run tables."""

    rows: list[np.ndarray]  # row b-1: the interpolant for batch b
    max_tokens: float

    prefill_row_1: np.ndarray  # the prefill interpolant for one sequence
    max_prefill_tokens: float

    # (batch b, context residue r) -> cumulative ns of steps at mean contexts (j*b + r)/b,
    # j = 0, 1, ... up to the grid's end; _CUM_MEMO_ENTRIES int64s in all at most
    cum: dict[tuple[int, int], array] = field(default_factory=dict)
    cum_entries: int = 0

    @classmethod
    def of(cls, decode: Surface, prefill: Surface) -> _RunTables:
        return cls(rows=list(decode.dense), max_tokens=decode.max_tokens,
                   prefill_row_1=prefill.dense[0], max_prefill_tokens=prefill.max_tokens)

    def build_cum(self, batch_size: int, residue: int, tokens: np.ndarray) -> array | None:
        """The (batch, residue) table, remembered; None once the memo is full (the caller then
        computes its run alone: same numbers, more work)."""
        count = int(self.max_tokens) + 2  # covers every j with (j*b + r)/b <= max_tokens
        if self.cum_entries + count + 1 > _CUM_MEMO_ENTRIES:  # full: build nothing
            return None
        contexts = run_mean_contexts(batch_size, residue, count)
        contexts = contexts[:int(np.searchsorted(contexts, self.max_tokens, side="right"))]
        cum = run_cum_ns(_interp(contexts, tokens, self.rows[batch_size - 1]))
        self.cum[(batch_size, residue)] = cum
        self.cum_entries += len(cum)
        return cum


@dataclass(frozen=True, slots=True, kw_only=True)
class TableCostModel:
    """Cost model from a validated table. Build with :meth:`from_table`."""

    hardware: str
    model_name: str
    dtype: str
    tensor_parallel: int
    source: ts.Source
    kv_bytes_per_token: int
    meta: dict[str, Any]
    prefill: Surface
    decode: Surface
    name: str = ""
    warn_beyond_grid: bool = field(default=True, compare=False)
    _extrapolated: list[bool] = field(default_factory=lambda: [False], repr=False, compare=False)
    _prefill_memo: dict[tuple, float] = field(default_factory=dict, repr=False, compare=False)
    _run: _RunTables = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_run", _RunTables.of(self.decode, self.prefill))

    @classmethod
    def from_table(cls, df: pd.DataFrame, meta: dict[str, Any], *, model: ModelSpec,
                   name: str = "", validated: bool = False,
                   warn_beyond_grid: bool = True) -> TableCostModel:
        """``df``/``meta`` as built by hand (validated here) or as returned by ``read_table``
        (pass ``validated=True`` to skip re-validating and re-warning). ``warn_beyond_grid``:
        warn (once) when a lookup leaves the grid."""
        if not validated:
            df = validate_table(df, meta)
        first = df.iloc[0]
        dtype = str(first[ts.DTYPE])
        tp = int(first[ts.TENSOR_PARALLEL])
        return cls(
            hardware=str(first[ts.HARDWARE]), model_name=str(first[ts.MODEL]), dtype=dtype,
            tensor_parallel=tp, source=ts.Source(meta["source"]),
            kv_bytes_per_token=model.kv_bytes_per_token(dtype), meta=dict(meta),
            prefill=Surface.from_frame(df, ts.Phase.PREFILL),
            decode=Surface.from_frame(df, ts.Phase.DECODE), name=name,
            warn_beyond_grid=warn_beyond_grid,
        )

    # -- limits the table was built for ------------------------------------------------------
    @property
    def max_batch_size(self) -> int:
        """Largest decode batch on the grid (1 for GroqRack)."""
        return self.decode.max_batch

    @property
    def extrapolated(self) -> bool:
        """True once a lookup has left the grid (extrapolated with the fitted model)."""
        return self._extrapolated[0]

    @property
    def max_context_tokens(self) -> int:
        """Largest context on the decode grid (``meta['max_context_tokens']`` when present)."""
        return int(self.meta.get("max_context_tokens") or self.decode.max_tokens)

    # -- CostModel protocol -------------------------------------------------------------------
    def prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float:
        chunk_a, prefix_a = np.asarray(chunk_tokens), np.asarray(prefix_tokens)
        key = (chunk_a.dtype.char, chunk_a.shape, chunk_a.tobytes(), prefix_a.dtype.char,
               prefix_a.shape, prefix_a.tobytes())
        memo = self._prefill_memo
        seconds = memo.get(key)
        if seconds is None:
            if len(memo) >= _PREFILL_MEMO_ENTRIES:
                memo.clear()
            seconds = memo[key] = self._prefill_time_s(chunk_a, prefix_a)
        return seconds

    def prefill_step_s(self, chunk_tokens: tuple[int, ...], prefix_tokens: tuple[int, ...]) -> float:
        """``prefill_time_s`` for plain tuples of ints (the simulator's hot path): the same
        numbers, remembered by the tuples themselves."""
        if len(chunk_tokens) == 1 and prefix_tokens[0] == 0 and \
                chunk_tokens[0] <= self._run.max_prefill_tokens:  # one whole prompt, on the grid
            return float(_interp(float(chunk_tokens[0]), self.prefill.tokens,
                                 self._run.prefill_row_1))  # = mean(T(1, c)) of prefill_time_s
        if len(chunk_tokens) == 1 and \
                chunk_tokens[0] + prefix_tokens[0] <= self._run.max_prefill_tokens:
            # one chunk after a computed (or cached) prefix, on the grid: prefill_time_s's
            # T(1, 0) + T(1, p + c) - T(1, p), the same floats
            row, tokens = self._run.prefill_row_1, self.prefill.tokens
            done = prefix_tokens[0]
            return float(row[0]) + (float(_interp(float(done + chunk_tokens[0]), tokens, row))
                                    - float(_interp(float(done), tokens, row)))
        key = (chunk_tokens, prefix_tokens)
        memo = self._prefill_memo
        seconds = memo.get(key)
        if seconds is None:
            seconds = self._prefill_time_s(np.array(chunk_tokens, dtype=np.int64),
                                           np.array(prefix_tokens, dtype=np.int64))
            if len(memo) >= _PREFILL_MEMO_ENTRIES:
                memo.clear()
            memo[key] = seconds
        return seconds

    def _prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float:
        chunks = np.asarray(chunk_tokens, dtype=np.float64)
        n = chunks.size
        if n == 0:
            return 0.0
        prefixes = np.broadcast_to(np.asarray(prefix_tokens, dtype=np.float64), chunks.shape)
        if not prefixes.any():  # T(n,0) + mean(T(n,c_i) - T(n,0)) = mean(T(n,c_i))
            vals, outside = self.prefill.row_times_s(n, chunks)
            self._note(outside)
            return float(np.mean(vals))
        points = np.concatenate([prefixes + chunks, prefixes])
        vals, outside = self.prefill.row_times_s(n, points)
        self._note(outside)
        fixed = self.prefill.fixed_s(n)
        return float(fixed + (np.sum(vals[:n]) - np.sum(vals[n:])) / n)

    def decode_step_times_s(self, batch_size: int, mean_context_tokens: np.ndarray) -> np.ndarray:
        if batch_size < 1:  # no sequences, no step
            return np.zeros(np.shape(mean_context_tokens), dtype=np.float64)
        vals, outside = self.decode.row_times_s(batch_size, mean_context_tokens)
        if outside:
            self._note(True)
        return vals

    def decode_run(self, batch_size: int, context_sum_tokens: int,
                   steps: int) -> tuple[array, int]:
        """A fast-forwarded decode run of ``steps`` steps as ``(cum_ns, lo)``: step k ends
        ``cum_ns[lo + 1 + k] - cum_ns[lo]`` ns after the run starts (``run_cum_ns``: each
        step's time rounded to the ns, at least 1, summed in int64). Step k's mean context is
        ``(context_sum_tokens + k * batch_size) / batch_size``, the very float the per-step
        ``decode_step_times_s`` call would get. Inside the grid ``cum_ns`` is a table shared by
        every run of this batch size and context residue (built once, then two lookups a run);
        beyond it, or past the memo's bound, the run is computed alone (same numbers)."""
        run = self._run
        if batch_size <= len(run.rows):
            q, r = divmod(context_sum_tokens, batch_size)
            cum = run.cum.get((batch_size, r))
            if cum is None:
                cum = run.build_cum(batch_size, r, self.decode.tokens)
            if cum is not None and q + steps < len(cum):
                return cum, q
        contexts = run_mean_contexts(batch_size, context_sum_tokens, steps)
        return run_cum_ns(self.decode_step_times_s(batch_size, contexts)), 0

    def mixed_step_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray,
                          decode_context_tokens: np.ndarray) -> float:
        chunks = np.asarray(chunk_tokens)
        ctx = np.asarray(decode_context_tokens, dtype=np.float64)
        n_d = ctx.size
        if chunks.size == 0:
            return float(self.decode_step_times_s(n_d, np.array([ctx.mean()]))[0]) if n_d else 0.0
        p = self.prefill_time_s(chunks, prefix_tokens)
        if n_d == 0:
            return p
        d = float(self.decode_step_times_s(n_d, np.array([ctx.mean()]))[0])
        shared = min(self.prefill.fixed_s(chunks.size), self.decode.fixed_s(n_d))
        return p + d - shared

    def _note(self, outside: bool) -> None:
        if outside and not self._extrapolated[0]:
            self._extrapolated[0] = True
            if not self.warn_beyond_grid:
                return
            label = self.name or f"{self.hardware}/{self.model_name}/{self.dtype}"
            warnings.warn(
                f"cost table {label}: lookup beyond the grid (prefill batch <= "
                f"{self.prefill.max_batch}, tokens <= {self.prefill.max_tokens:.0f}; decode batch <= "
                f"{self.decode.max_batch}, context <= {self.decode.max_tokens:.0f}); extrapolating "
                f"with the fitted linear model (warned once per table)", CostTableWarning, stacklevel=3)
