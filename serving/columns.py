"""Columns of a feature frame as float arrays, cheap for the few rows of online scoring.

pandas pays tens of microseconds for each column it hands out, whatever the number of rows; the
scoring rules read a dozen columns, so for one customer that overhead is most of the work. A
small frame is read once as one object array and the columns are cut from it; a large frame is
read a column at a time, where the cost is in the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from training.models import SMALL_FRAME_ROWS


def float_column(values: pd.Series) -> np.ndarray:
    """One column as float64, NaN where missing; text is parsed as numbers (else NaN)."""
    if values.dtype.kind in "biuf":  # numbers already (numpy or nullable): no parsing
        return values.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def float_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``float_column`` of each of ``names`` (which must be columns of ``frame``)."""
    if len(frame) > SMALL_FRAME_ROWS:
        return {c: float_column(frame[c]) for c in names}
    position = {str(c): j for j, c in enumerate(frame.columns.tolist())}
    values = frame.to_numpy(dtype=object)[:, [position[c] for c in names]]
    absent = pd.isna(values)
    try:  # every column in one conversion
        block = np.where(absent, np.nan, np.where(absent, 0.0, values).astype(float))
    except (TypeError, ValueError):  # text that may hold numbers: as float_column parses it
        return {c: float_column(frame[c]) for c in names}
    return {c: block[:, j] for j, c in enumerate(names)}
