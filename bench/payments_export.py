"""Synthetic payment-processor exports of a known truth, at any size (``bench/bench_payments.py``).

    .venv/bin/python bench/payments_export.py --kind stripe --rows 100000 --out /tmp/stripe.csv

- ``stripe``: a Stripe payments export, one row per payment: ``id`` (``ch_...``), ``Customer
  ID``, ``Created (UTC)``, ``Amount``, ``Amount Refunded``, ``Currency``, ``Status`` (``Paid``;
  ``Failed``, 5%; ``Refunded``, 8%, refunded whole; 3% of the paid ones refunded in part, the
  refund in ``Amount Refunded``).
- ``paypal``: a PayPal activity download: payments (``Status`` ``Completed`` or, 9%,
  ``Refunded``) and, 1-30 days after each refunded one, a ``Payment Refund`` row of its own
  (negative ``Gross``, its own ``Transaction ID``, ``Completed``). Prices come from a short list,
  so a customer often pays the same amount several times (the refund must give back one of them);
  gross of 1,000 or more is written with a thousands separator, and 0.5% of the completed
  payments have no e-mail (quarantined).

The truth of each (:class:`Truth`): the rows ingest accepts, their revenue, the rows it sets aside.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2023-01-01")
SPAN_SECONDS = 2 * 365 * 86_400
#: PayPal prices: few enough that a customer pays the same amount again.
PRICES = np.array([9.99, 19.99, 29.0, 49.0, 99.0, 149.0, 1250.0])
PRICE_WEIGHTS = np.array([0.25, 0.25, 0.15, 0.15, 0.1, 0.07, 0.03])
#: ``lifecycle ingest --map`` of a PayPal download (its e-mail is the customer, as a user maps it).
PAYPAL_MAP = "order_id=Transaction ID,customer_id=From Email Address,ordered_at=Date,amount=Gross"


@dataclass(frozen=True)
class Truth:
    """What ingest should make of an export."""

    accepted: int
    revenue: float
    set_aside: int


def _times(rng: np.random.Generator, n: int) -> pd.DatetimeIndex:
    return START + pd.to_timedelta(rng.integers(0, SPAN_SECONDS, n), unit="s")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return pd.Series(numbers).map(lambda i: f"{prefix}{i:0{width}d}")


def stripe(rows: int, seed: int) -> tuple[pd.DataFrame, Truth]:
    """A Stripe payments export of ``rows`` payments of ``rows // 8`` customers."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.gamma(2.0, 40.0, rows), 2) + 1.0
    status = rng.choice(["Paid", "Failed", "Refunded"], rows, p=[0.87, 0.05, 0.08])
    partial = (status == "Paid") & (rng.random(rows) < 0.03)
    refunded = np.where(status == "Refunded", amount, 0.0)
    refunded[partial] = np.round(amount[partial] * rng.uniform(0.1, 0.9, partial.sum()), 2)
    frame = pd.DataFrame(
        {
            "id": _ids("ch_3P", rng.permutation(rows), 19),
            "Customer ID": _ids("cus_", rng.integers(0, max(rows // 8, 1), rows), 10),
            "Created (UTC)": _times(rng, rows),
            "Amount": amount,
            "Amount Refunded": refunded,
            "Currency": "usd",
            "Status": status,
        }
    )
    paid = status == "Paid"
    revenue = float(np.round((amount - refunded)[paid], 2).sum())
    return frame, Truth(int(paid.sum()), revenue, int((~paid).sum()))


def paypal(rows: int, seed: int) -> tuple[pd.DataFrame, Truth]:
    """A PayPal activity download of about ``rows`` rows: payments of ``rows // 8`` customers,
    then a refund row for each refunded one."""
    rng = np.random.default_rng(seed)
    payments = int(rows / 1.09)
    gross = rng.choice(PRICES, payments, p=PRICE_WEIGHTS)
    refunded = rng.random(payments) < 0.09
    email = _ids("buyer", rng.integers(0, max(rows // 8, 1), payments), 8) + "@example.org"
    no_email = ~refunded & (rng.random(payments) < 0.005)
    email[no_email] = ""
    at = _times(rng, payments)
    pay = pd.DataFrame(
        {
            "at": at,
            "Name": "Buyer",
            "Type": "Express Checkout Payment",
            "Status": np.where(refunded, "Refunded", "Completed"),
            "Gross": gross,
            "From Email Address": email,
        }
    )
    back = pay[refunded].copy()
    back["at"] = back["at"] + pd.to_timedelta(rng.integers(86_400, 30 * 86_400, len(back)), "s")
    back["Type"], back["Status"], back["Gross"] = "Payment Refund", "Completed", -back["Gross"]
    frame = pd.concat([pay, back], ignore_index=True).sort_values("at", kind="stable")
    frame.insert(0, "Date", frame["at"].dt.strftime("%m/%d/%Y"))
    frame.insert(1, "Time", frame.pop("at").dt.strftime("%H:%M:%S"))
    frame.insert(2, "TimeZone", "PST")
    frame.insert(6, "Currency", "USD")
    frame["Gross"] = frame["Gross"].map("{:,.2f}".format)
    frame["Transaction ID"] = _ids("9TX", rng.permutation(len(frame)), 14).to_numpy()
    kept = ~refunded & ~no_email
    truth = Truth(
        int(kept.sum()), float(np.round(gross[kept].sum(), 2)), len(frame) - int(kept.sum())
    )
    return frame.reset_index(drop=True), truth


def write(kind: str, rows: int, seed: int, out: Path) -> Truth:
    """Write the ``kind`` export of ``rows`` rows to ``out``; its truth."""
    frame, truth = stripe(rows, seed) if kind == "stripe" else paypal(rows, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.2f", date_format="%Y-%m-%d %H:%M:%S")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["stripe", "paypal"], required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(write(args.kind, args.rows, args.seed, args.out))


if __name__ == "__main__":
    main()
