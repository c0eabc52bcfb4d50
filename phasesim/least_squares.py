"""Least squares with non-negative coefficients: the one fitter behind every small linear fit.

Three fits use it: a cost table's extrapolation (``phasesim.simulator.costs.surface``), an
endpoint's step-time terms (``phasesim.profiler.capture.endpoint_fit``) and the energy model's
busy-power shares (``phasesim.profiler.calibrate.energy_fit``). Their designs have a handful of
columns, so an active-set loop is enough: fit every column, drop the most negative constrained
coefficient, refit on the rest, until none is negative. That is exact where at most one
constraint binds (every design here) and never re-admits a dropped column (Lawson-Hanson would).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["NonnegativeFit", "fit_nonnegative"]


class NonnegativeFit(NamedTuple):
    coef: np.ndarray  # one per column of the design; 0.0 where the column was dropped
    dropped: tuple[int, ...]  # the columns dropped for fitting negative, in the order dropped


def fit_nonnegative(features: np.ndarray, target: np.ndarray, *, weights: np.ndarray | None = None,
                    free: int = 0) -> NonnegativeFit:
    """Minimise ``sum((weights * (features @ coef - target))**2)`` (no weights: all 1) with every
    coefficient >= 0 but the last ``free``, which may take any sign and are never dropped."""
    active = list(range(features.shape[1]))
    dropped: list[int] = []
    coef = np.zeros(features.shape[1])
    while active:
        a, y = features[:, active], target
        if weights is not None:
            a, y = a * weights[:, None], target * weights
        sol, *_ = np.linalg.lstsq(a, y, rcond=None)
        bound = sol[:len(active) - free]
        if (bound >= 0).all():  # with every constrained column dropped: the free ones alone
            coef[active] = sol
            break
        dropped.append(active.pop(int(np.argmin(bound))))
    return NonnegativeFit(coef, tuple(dropped))
