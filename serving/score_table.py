"""The service's scores of its snapshot, kept as columns and read back as records.

The service answers ``/score/ids`` from the scores of every snapshot customer, computed at
start-up. Kept as one Python dict per customer they cost about 1.2 KB each (1.2 GB at a million
customers, twice that while a newer scoring is loaded beside it); kept as columns -- numbers in
float arrays, repeated texts as categories, each customer's reasons as one string -- they cost a
fraction of that, and a record is built only for the customers a request names (at most 1,000).
A record is the one ``serving.scoring.score_records`` gives for that row, to the value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from serving.scoring import score_records

#: Joins a customer's reasons into one string (a character no sentence holds).
_REASONS_SEP = "\x1f"


class ScoreTable(Sequence[dict[str, Any]]):
    """Score columns of ``n`` customers; ``table[i]`` is the record of row ``i``."""

    def __init__(self, scores: pd.DataFrame | dict[str, Any]) -> None:
        names = list(scores.columns) if isinstance(scores, pd.DataFrame) else list(scores)
        self.names = names
        self._n = len(scores["customer_id"])
        self._columns: dict[str, Any] = {
            name: _compact(name, scores[name], self._n) for name in names
        }

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        return self.records([i])[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for lo in range(0, self._n, 10_000):
            yield from self.records(range(lo, min(lo + 10_000, self._n)))

    def records(self, rows: Sequence[int] | range) -> list[dict[str, Any]]:
        """The records of ``rows``, as ``score_records`` gives them."""
        index = np.asarray(rows, dtype="int64")
        if len(index) and (index.min() < -self._n or index.max() >= self._n):
            raise IndexError("score row out of range")
        columns = {name: self._take(name, index) for name in self.names}
        return score_records(columns)

    def column(self, name: str) -> np.ndarray:
        """One column for every row, as an array (numbers as floats, NaN where missing)."""
        values = self._columns[name]
        return values.to_numpy() if isinstance(values, pd.Categorical) else values

    def _take(self, name: str, index: np.ndarray) -> Any:
        values = self._columns[name]
        if name == "reasons":
            return [
                list(text)
                if isinstance(text, tuple)
                else []
                if text == ""
                else text.split(_REASONS_SEP)
                for text in values[index]
            ]
        if isinstance(values, pd.Categorical):
            return values.take(index).to_numpy(dtype=object, na_value=None)
        return values[index]


def _compact(name: str, values: Any, n: int) -> Any:
    """A column of ``n`` rows in its compact form: reasons joined; numbers as numeric arrays;
    texts with few distinct values as categories; other texts and objects as an object array
    (a single value, as ``score_columns`` gives a date, is that value in every row)."""
    if not isinstance(values, pd.Series | np.ndarray | list):
        values = [values] * n
    if name == "reasons":
        joined = np.empty(n, dtype=object)
        joined[:] = [_joined_reasons(r) for r in values]
        return joined
    if name == "as_of":  # score_records reads its values' .date()
        return np.asarray(pd.to_datetime(pd.Series(values)).tolist(), dtype=object)
    array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if array.dtype.kind in "fiub":
        return array
    objects = array.astype(object)
    distinct = pd.unique(objects)
    if name != "customer_id" and len(distinct) <= max(16, len(objects) // 100):
        return pd.Categorical(objects)
    return objects


def _joined_reasons(reasons: Any) -> str | tuple:
    """A customer's reasons as one string, or as a tuple where a string would not split back
    into them (an empty reason, one holding the separator)."""
    if reasons is None:
        return ""
    texts = list(reasons)
    if all(isinstance(t, str) and t and _REASONS_SEP not in t for t in texts):
        return _REASONS_SEP.join(texts)
    return tuple(texts)
