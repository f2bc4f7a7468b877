"""Refund rows of an order (features.order_status): a refund of part of an order and an id kept
over several purchases are found from the orders holding a refund row only, whatever else the
file holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.order_status import _ids_of_several_purchases, _partial_refunds
from features.refunds import net_of_refunds


def _orders(rows: list[tuple[str | None, float, str, bool]]) -> tuple[pd.DataFrame, np.ndarray]:
    order, amount, at, refund = zip(*rows, strict=True)
    out = pd.DataFrame(
        {
            "order_id": pd.Series(order, dtype="string"),
            "amount": pd.Series(amount, dtype=float),
            "ordered_at": pd.to_datetime(pd.Series(at)),
        }
    )
    return out, np.array(refund)


def test_a_refund_of_part_of_its_order_is_a_return() -> None:
    out, refund = _orders(
        [
            ("A", 9.99, "2024-01-01", False),
            ("A", 5.00, "2024-01-03", True),  # part of A's 9.99
            ("B", 20.00, "2024-01-01", False),
            ("B", 20.00, "2024-01-02", True),  # B's sale again: refunded whole
            ("C", 30.00, "2024-01-02", True),  # no sale of C here
            ("D", 10.00, "2024-01-01", False),
            ("D", 10.00, "2024-01-01", False),
            ("D", 10.00, "2024-01-05", True),  # a twin of D's lines
            ("E", 50.00, "2024-01-01", False),
            (None, 5.00, "2024-01-01", True),
        ]
    )
    got = _partial_refunds(out, refund, ~refund)
    assert got.tolist() == [False, True] + [False] * 8


def test_a_refunded_purchase_of_an_id_kept_over_several_days_keeps_the_id() -> None:
    out, refund = _orders(
        [
            ("R", 20.00, "2024-01-01", False),  # a prescription's refills
            ("R", 21.00, "2024-02-01", False),
            ("R", 20.00, "2024-02-02", True),
            ("S", 20.00, "2024-01-01", False),  # one day
            ("S", 20.00, "2024-01-01", True),
            ("T", 100.00, "2024-01-01", False),  # several days, a refund of half a purchase
            ("T", 100.00, "2024-02-01", False),
            ("T", 50.00, "2024-02-02", True),
            ("U", 10.00, "2024-01-01", False),  # several days, no refund
            ("U", 10.00, "2024-03-01", False),
        ]
    )
    got = _ids_of_several_purchases(out, refund, ~refund)
    assert got.tolist() == [True] * 3 + [False] * 7


def test_a_refund_column_nets_its_order_and_a_row_of_no_order_alone() -> None:
    """features.refunds: the orders with a refund are netted, each row of no order id (blank) is
    its own order, the rows of orders with none keep their amounts, rows not ok are not read."""
    amount = pd.Series([60.0, 40.0, 30.0, 20.0, 20.0, 15.0, 99.0])
    refunded = pd.Series([25.0, 25.0, np.nan, 20.0, np.nan, 5.0, 99.0])
    order_id = pd.Series(["A", "A", "B", None, None, "C", "D"], dtype="string")
    ok = np.array([True, True, True, True, True, True, False])
    got = net_of_refunds(amount, refunded, order_id, ok)
    assert got.amount.tolist()[:6] == pytest.approx([45.0, 30.0, 30.0, 20.0, 20.0, 10.0])
    assert got.whole.tolist() == [False, False, False, True, False, False, False]
    assert "2 orders partly refunded" in (got.note or "") and "1 refunded whole" in (got.note or "")
