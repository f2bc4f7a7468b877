"""Checks of array inputs shared across training (BTYD models, metrics, uplift metrics).

Errors name the input and say what it must be and what it got:
``"{name} must be {what}; got {got}."``.
"""

from __future__ import annotations

import numpy as np


def as_1d_float(values, name: str) -> np.ndarray:
    """Return ``values`` as a 1-d float array; reject missing and infinite values, naming
    ``name``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite (no missing values); got {arr[first]!r} at position {first} "
            f"({int(bad.sum())} such values)."
        )
    return arr
