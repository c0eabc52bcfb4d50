"""The one non-negative least-squares fitter (cost-table extrapolation, endpoint terms, energy)."""

from __future__ import annotations

import numpy as np
import pytest

from phasesim.least_squares import fit_nonnegative


def test_an_exact_non_negative_solution_is_found_with_nothing_dropped():
    x = np.column_stack([np.ones(6), np.arange(6.0), np.arange(6.0) ** 2])
    fit = fit_nonnegative(x, x @ [2.0, 0.5, 0.25])
    assert fit.coef == pytest.approx([2.0, 0.5, 0.25]) and fit.dropped == ()


def test_a_negative_coefficient_is_dropped_and_the_rest_refitted():
    t = np.arange(1.0, 9.0)
    x = np.column_stack([np.ones_like(t), t])
    fit = fit_nonnegative(x, 10.0 - t, weights=1.0 / (10.0 - t))
    assert fit.dropped == (1,) and fit.coef[1] == 0.0 and fit.coef[0] > 0
    alone = fit_nonnegative(x[:, :1], 10.0 - t, weights=1.0 / (10.0 - t))
    assert fit.coef[0] == alone.coef[0]  # the refit is the fit without that column


def test_free_columns_may_go_negative_and_are_never_dropped():
    t = np.arange(1.0, 9.0)
    x = np.column_stack([t, np.ones_like(t)])
    fit = fit_nonnegative(x, 3.0 * t - 5.0, free=1)
    assert fit.coef == pytest.approx([3.0, -5.0]) and fit.dropped == ()
    fit = fit_nonnegative(x, -3.0 * t + 1.0, free=1)  # the slope cannot: the offset alone
    assert fit.dropped == (0,) and fit.coef[0] == 0.0
    assert fit.coef[1] == pytest.approx(np.mean(-3.0 * t + 1.0))


def test_every_column_dropped_leaves_zeros():
    x = np.column_stack([np.ones(4), np.arange(4.0)])
    fit = fit_nonnegative(x, -np.ones(4) - np.arange(4.0))
    assert (fit.coef == 0.0).all() and sorted(fit.dropped) == [0, 1]
