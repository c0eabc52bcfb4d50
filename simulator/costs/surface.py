"""A latency surface over (batch size, tokens) for one phase: grid interpolation + extrapolation.

Interpolation (inside the grid)
  Piecewise linear in tokens and in batch size (bilinear on each grid cell), on the raw axes.
  Roofline costs are affine in tokens and in batch between their knees (weights read once, then
  per-token compute / per-token KV reads), so linear interpolation on the raw axes reproduces
  them between grid points, whereas log-space interpolation of a convex curve overshoots.
  It is exact on grid points and monotone between them when the table is (a non-monotone table
  is lifted to its running maximum along each axis; ``read_table`` already warned).

Below the smallest token count
  The row is extended to tokens = 0 with the fitted zero-token intercept (the fixed cost of a
  pass: weights, launches), clamped to [0, first grid value]. Lookups there are interpolation
  between two bounded values and do not warn.

Extrapolation (beyond the largest tokens or batch)
  ``edge value + fit(b, t) - fit(b, edge)`` with a non-negative least-squares fit of the whole
  phase (relative error), so it is continuous at the grid edge and keeps the fitted growth:
  prefill ``a + b*B + c*B*T + d*B*T^2``, decode ``a + b*B + c*B*T + d*T``.
  The cost model warns once per table when it extrapolates.

One 1-D interpolant per integer batch size up to the largest grid batch is precomputed, so a
lookup is one ``np.interp`` over an array of token counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from phasesim.least_squares import fit_nonnegative
from phasesim.simulator import table_schema as ts

__all__ = ["Surface"]


def _features(phase: ts.Phase, batch: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    b = np.asarray(batch, dtype=np.float64)
    t = np.asarray(tokens, dtype=np.float64)
    b, t = np.broadcast_arrays(b, t)
    last = b * t * t if phase is ts.Phase.PREFILL else t
    return np.stack([np.ones_like(b), b, b * t, last], axis=-1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Surface:
    """Latency (s) of one phase as a function of integer batch size and (real) tokens."""

    phase: ts.Phase
    grid_batches: np.ndarray  # int64, sorted: batch sizes present in the table
    tokens: np.ndarray  # float64, sorted, starts with 0.0: the union of grid token counts
    dense: np.ndarray  # (max_grid_batch, len(tokens)): row b-1 = interpolant for batch b
    coef: np.ndarray  # extrapolation fit coefficients (see _features)
    _limits: tuple[int, float] = field(init=False, repr=False, compare=False)  # hot-path copies

    def __post_init__(self) -> None:
        object.__setattr__(self, "_limits", (int(self.grid_batches[-1]), float(self.tokens[-1])))

    @property
    def max_batch(self) -> int:
        return int(self.grid_batches[-1])

    @property
    def max_tokens(self) -> float:
        return float(self.tokens[-1])

    @property
    def min_grid_tokens(self) -> float:
        return float(self.tokens[1])

    @classmethod
    def from_frame(cls, df: pd.DataFrame, phase: ts.Phase) -> Surface:
        sub = df[df[ts.PHASE] == phase.value]
        batch = sub[ts.BATCH_SIZE].to_numpy(np.int64)
        toks = sub[ts.TOKENS].to_numpy(np.int64)
        lat = sub[ts.LATENCY_S].to_numpy(np.float64)
        coef = fit_nonnegative(_features(phase, batch, toks), lat, weights=1.0 / lat).coef
        grid_batches = np.unique(batch)
        grid_tokens = np.unique(toks).astype(np.float64)
        # Rows on the union token axis; a token count a row lacks is filled from that row.
        rows = np.empty((len(grid_batches), len(grid_tokens)))
        for i, b in enumerate(grid_batches):
            m = batch == b
            t_b, v_b = toks[m].astype(np.float64), lat[m]
            order = np.argsort(t_b)
            t_b, v_b = t_b[order], np.maximum.accumulate(v_b[order])
            row = np.interp(grid_tokens, t_b, v_b)
            hi = grid_tokens > t_b[-1]
            row[hi] = v_b[-1] + _fit(coef, phase, b, grid_tokens[hi]) - _fit(coef, phase, b, t_b[-1])
            lo = grid_tokens < t_b[0]
            row[lo] = v_b[0] - (_fit(coef, phase, b, t_b[0]) - _fit(coef, phase, b, grid_tokens[lo]))
            rows[i] = row
        rows = np.maximum(rows, 1e-12)
        rows = np.maximum.accumulate(np.maximum.accumulate(rows, axis=1), axis=0)
        # Zero-token intercept per grid row, clamped to [0, first value].
        drop = _fit(coef, phase, grid_batches, grid_tokens[0]) - _fit(coef, phase, grid_batches, 0.0)
        zero = np.clip(rows[:, 0] - drop, 0.0, rows[:, 0])
        zero = np.maximum.accumulate(zero)
        rows = np.column_stack([zero, rows])
        tokens = np.concatenate([[0.0], grid_tokens])
        # Dense rows for every batch 1..max (below the smallest grid batch: extrapolated down).
        all_b = np.arange(1, int(grid_batches[-1]) + 1)
        dense = np.empty((len(all_b), len(tokens)))
        for j in range(len(tokens)):
            dense[:, j] = np.interp(all_b, grid_batches.astype(np.float64), rows[:, j])
        below = all_b < grid_batches[0]
        if below.any():
            b0 = float(grid_batches[0])
            for k in np.flatnonzero(below):
                delta = _fit(coef, phase, b0, tokens) - _fit(coef, phase, float(all_b[k]), tokens)
                dense[k] = np.clip(rows[0] - delta, 1e-12, rows[0])
            dense = np.maximum.accumulate(dense, axis=0)
        dense.setflags(write=False)
        return cls(phase=phase, grid_batches=grid_batches, tokens=tokens, dense=dense, coef=coef)

    def row_times_s(self, batch_size: int, tokens: np.ndarray) -> tuple[np.ndarray, bool]:
        """Latency of ``batch_size`` sequences at each of ``tokens``; second value True when any
        lookup left the grid (tokens above the largest, or batch above the largest)."""
        t = np.asarray(tokens, dtype=np.float64)
        if t.ndim == 0:
            out0, outside0 = self.row_times_s(batch_size, t.reshape(1))
            return out0.reshape(()), outside0
        b = int(batch_size)
        max_batch, max_tokens = self._limits
        outside = b > max_batch
        edge_b = min(b, max_batch)
        out = np.interp(t, self.tokens, self.dense[edge_b - 1])
        if outside:
            out = out + _fit(self.coef, self.phase, b, np.minimum(t, max_tokens)) - _fit(
                self.coef, self.phase, edge_b, np.minimum(t, max_tokens))
        if t.size and _maximum(t) > max_tokens:
            hi = t > max_tokens
            out[hi] += _fit(self.coef, self.phase, b, t[hi]) - _fit(self.coef, self.phase, b, max_tokens)
            outside = True
        return out, outside

    def fixed_s(self, batch_size: int) -> float:
        """The zero-token intercept for ``batch_size`` sequences (fixed cost of one pass)."""
        if batch_size <= self._limits[0]:
            return float(self.dense[batch_size - 1, 0])
        return float(self.row_times_s(batch_size, np.zeros(1))[0][0])


_maximum = np.maximum.reduce  # ndarray.max() without its Python-level wrapper


def _fit(coef: np.ndarray, phase: ts.Phase, batch, tokens) -> np.ndarray:
    return _features(phase, batch, tokens) @ coef
