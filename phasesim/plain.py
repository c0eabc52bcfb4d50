"""Values as error messages show them: numpy scalars as the Python values they hold.

``f"{value!r}"`` of a value taken from a numpy array or a pandas column prints numpy's repr since
numpy 2 (``np.float64(nan)``, ``np.int64(0)``): a developer's spelling in a user's error line.
``plain(value)`` is the value to put in the message instead (``nan``, ``0``, ``'abc'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plain"]


def plain(value: Any) -> Any:
    """``value``, or the Python scalar a numpy scalar holds (``np.float64(nan)`` -> ``nan``)."""
    return value.item() if isinstance(value, np.generic) else value
