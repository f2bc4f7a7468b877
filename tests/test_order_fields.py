"""An order-level field (features.order_status.order_field) filled from its order's first line
only in the orders with a missing cell, with the same result as over the whole file."""

from __future__ import annotations

import pandas as pd

from features.order_status import order_field


def test_a_blank_line_takes_its_orders_value_and_a_per_line_field_stays() -> None:
    out = pd.DataFrame({"order_id": pd.Series(["A", "A", "B", "C", "C", None, "D"])})
    status = pd.Series([" paid ", None, "refunded", "paid", "refunded", None, "failed"])
    assert order_field(status, out).tolist() == [
        "paid",
        "paid",  # Shopify: the order's status on its first line only
        "refunded",
        "paid",
        "refunded",
        pd.NA,  # no order to take it from
        "failed",
    ]
    # a till: VOID on a line after a blank one is each line's own; no blank is filled
    out = pd.DataFrame({"order_id": pd.Series(["A", "A", "A", "B", "B"])})
    status = pd.Series(["paid", None, "VOID", "paid", None])
    assert order_field(status, out).tolist() == ["paid", pd.NA, "VOID", "paid", pd.NA]


def test_a_field_with_no_blank_is_only_stripped() -> None:
    out = pd.DataFrame({"order_id": pd.Series(["A", "A", "B"])})
    got = order_field(pd.Series(["Paid ", " Failed", ""]), out, blank_is_missing=True)
    assert got.tolist() == ["Paid", "Failed", pd.NA]  # B has no value to take
    assert order_field(pd.Series(["Paid", "Failed", "x"]), out).tolist() == ["Paid", "Failed", "x"]
