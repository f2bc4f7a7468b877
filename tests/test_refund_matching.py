"""A PayPal download's refund rows matched with the Refunded payments they give back
(features.order_status._refund_rows_of_refunded), vectorised: the same rows as walking each
customer's and amount's payments and refunds by time, on the cases that make it tricky."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.order_status import _refund_rows_of_refunded


def _walk(out: pd.DataFrame, refunded: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The matching spelt out: per customer and amount, by time (a payment before a refund of
    the same instant, else file order), a refund takes one payment not yet given back."""
    paid = refunded & (out["amount"] > 0).to_numpy()
    back = rows & (out["amount"] < 0).to_numpy()
    hit = np.zeros(len(out), dtype=bool)
    events = sorted(
        (str(out["customer_id"][i]), round(abs(out["amount"][i]), 2), out["ordered_at"][i])
        + (bool(back[i]), i)
        for i in np.flatnonzero(paid | back)
        if pd.notna(out["customer_id"][i]) and pd.notna(out["ordered_at"][i])
    )
    open_: dict[tuple[str, float], int] = {}
    for customer, amount, _, is_refund, i in events:
        key = (customer, amount)
        if not is_refund:
            open_[key] = open_.get(key, 0) + 1
        elif open_.get(key, 0):
            open_[key] -= 1
            hit[i] = True
    return hit


def _frame(rows: list[tuple[str | None, float, str | None]]) -> pd.DataFrame:
    customer, amount, at = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(customer, dtype="string"),
            "amount": pd.Series(amount, dtype=float),
            "ordered_at": pd.to_datetime(pd.Series(at), format="ISO8601"),
        }
    )


def test_refunds_take_one_earlier_refunded_payment_each() -> None:
    """Several refunds of one customer and amount, a refund before its payment, one at the
    payment's instant, two at one instant, equal amounts of another customer, a completed
    payment (not refunded), a blank customer and date: by hand."""
    cases = [
        # (customer, amount, time, refunded payment?, expected hit)
        ("a", 10.0, "2024-01-01", True, False),
        ("a", 10.0, "2024-01-02", True, False),
        ("a", -10.0, "2024-01-03", False, True),
        ("a", -10.0, "2024-01-04", False, True),
        ("a", -10.0, "2024-01-05", False, False),  # a third refund: no payment left
        ("b", -15.0, "2024-01-01", False, False),  # before the payment it would give back
        ("b", 15.0, "2024-01-02", True, False),
        ("c", -20.0, "2024-01-01 09:00", False, True),  # at the payment's instant, row first
        ("c", 20.0, "2024-01-01 09:00", True, False),
        ("c", -20.0, "2024-01-01 09:00", False, False),  # the same instant: one payment only
        ("d", -10.0, "2024-01-09", False, False),  # a's amount, another customer
        ("d", 10.0, "2024-01-01", False, False),  # completed, not refunded
        ("e", 5.0, "2024-02-01", True, False),
        ("e", -5.0, "2024-02-02", False, True),
        ("e", -5.0, "2024-02-03", False, False),  # the only payment given back already
        ("e", 5.0, "2024-02-04", True, False),
        ("e", -5.004, "2024-02-05", False, True),  # 5.00 to the cent
        (None, -7.0, "2024-01-02", False, False),
        ("f", 7.0, "2024-01-01", True, False),
        ("f", -7.0, None, False, False),
    ]
    out = _frame([(c, a, t) for c, a, t, _, _ in cases])
    refunded = np.array([r for *_, r, _ in cases])
    rows = ~refunded
    expected = np.array([e for *_, e in cases])
    assert _refund_rows_of_refunded(out, refunded, rows).tolist() == expected.tolist()
    assert _walk(out, refunded, rows).tolist() == expected.tolist()


def test_the_vectorised_matching_is_the_walk_on_random_downloads() -> None:
    """Seeded downloads with few customers, amounts and days, so that payments and refunds of
    one customer and amount pile up, share instants and come in any order."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 300))
        sign = np.where(rng.random(n) < 0.45, -1.0, 1.0)
        out = pd.DataFrame(
            {
                "customer_id": pd.Series(
                    rng.choice(np.array(["a", "b", "c", None], dtype=object), n),
                    dtype="string",
                ),
                "amount": sign * rng.choice([5.0, 9.99, 10.0, 10.001], n),
                "ordered_at": pd.Timestamp("2024-01-01")
                + pd.to_timedelta(rng.integers(0, 6, n), unit="D"),
            }
        )
        refunded = rng.random(n) < 0.7
        rows = rng.random(n) < 0.9
        got = _refund_rows_of_refunded(out, refunded, rows)
        assert got.tolist() == _walk(out, refunded, rows).tolist(), seed
