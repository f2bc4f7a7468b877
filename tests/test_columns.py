"""``serving.columns.float_columns``: the one-array path of small frames reads what the
column-by-column path of large frames reads."""

import numpy as np
import pandas as pd
import pytest

from serving.columns import float_column, float_columns
from training.models import SMALL_FRAME_ROWS


def _frame(rows: int) -> pd.DataFrame:
    base = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "ints": [1, 2, 3, 4],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "floats": [0.5, np.nan, 2.5, -1.0],
            "flags": [True, False, True, False],
            "cutoff": pd.to_datetime(["2024-01-01"] * 4),
        }
    )
    return pd.concat([base] * (rows // 4), ignore_index=True)


@pytest.mark.parametrize("rows", [4, 4 * (SMALL_FRAME_ROWS // 4 + 1)])
def test_small_and_large_frames_read_the_same_numbers(rows):
    frame = _frame(rows)
    names = ["ints", "nullable", "floats", "flags"]
    got = float_columns(frame, names)
    for name in names:
        np.testing.assert_array_equal(got[name], float_column(frame[name]))
        assert got[name].dtype == np.float64
    np.testing.assert_array_equal(got["nullable"][:4], [1.0, np.nan, 3.0, 4.0])


def test_text_is_parsed_as_numbers_else_missing_on_both_paths():
    small = pd.DataFrame({"recency": ["3.5", "x", None, "7"], "n": [1, 2, 3, 4]})
    large = pd.concat([small] * (SMALL_FRAME_ROWS // 4 + 1), ignore_index=True)
    for frame in (small, large):
        got = float_columns(frame, ["recency", "n"])
        np.testing.assert_array_equal(got["recency"][:4], [3.5, np.nan, np.nan, 7.0])
        np.testing.assert_array_equal(got["n"][:4], [1.0, 2.0, 3.0, 4.0])


def test_a_missing_column_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="recency_days"):
        float_columns(_frame(4), ["recency_days"])
