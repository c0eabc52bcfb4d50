"""The one check of a seed where it enters phasesim (the CLIs, ``simulate``, the trace generators
and transforms, the profiler's configs): numpy's seed sequences take no negative seed, and a float
or a bool given as a seed is a mistake, so both are an :class:`InputError` naming the seed instead
of a numpy traceback from deep inside."""

from __future__ import annotations

import numbers

from phasesim.errors import InputError

__all__ = ["check_seed"]


def check_seed(seed: object, *, name: str = "seed") -> int:
    """``seed`` as a non-negative int; anything else is an :class:`InputError` naming ``name``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputError(f"{name} must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise InputError(f"{name} must be a non-negative integer, got {int(seed)}")
    return int(seed)
