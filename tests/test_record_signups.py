"""A signup_at most customers bought before is the day each record was made (a move into a CRM),
whether read from a ``Created`` column or mapped: warned of either way, naming the column, so a
user who mapped the only date the file has learns what it does to the ends before it."""

from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping

MOVED = pd.Timestamp("2022-06-01")


def _moved_accounts(tmp_path: Path, n: int = 120, seed: int = 51) -> tuple[Path, Path, int]:
    """Accounts moved into a CRM on :data:`MOVED` (their ``Account Created``), each a customer
    since a day in 2019-2021 (their first order), and how many bought before the move."""
    rng = np.random.default_rng(seed)
    accounts, orders, before = [], [], 0
    for i in range(n):
        first = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 1400)))
        created = max(MOVED, first) if rng.random() < 0.8 else first  # a few signed up here
        before += int(first.normalize() < created.normalize())
        accounts.append(f"A{i:03d},{created:%Y-%m-%d %H:%M}\n")
        for k in range(int(rng.integers(1, 4))):
            day = first + pd.Timedelta(days=int(rng.integers(0, 300)) * min(k, 1))
            orders.append(f"A{i:03d},{day:%Y-%m-%d},{int(rng.integers(10, 90))}\n")
    customers, transactions = tmp_path / "accounts.csv", tmp_path / "orders.csv"
    customers.write_text("Account Id,Account Created\n" + "".join(accounts))
    transactions.write_text("Account Id,Order Date,Total\n" + "".join(orders))
    return customers, transactions, before


def test_a_mapped_signup_most_customers_bought_before_is_warned_of(tmp_path):
    """Before: a Salesforce accounts report's ``Account Created`` mapped as signup_at (the only
    date it has), 96 of 120 seeded customers first bought before it, and nothing was said."""
    customers, transactions, before = _moved_accounts(tmp_path)
    reports = ingest(
        tmp_path / "out",
        transactions,
        load_mapping(
            "customer_id=Account Id,signup_at=Account Created,ordered_at=Order Date,amount=Total"
        ),
        customers=customers,
        log=lambda _: None,
    )
    ids = pd.read_parquet(table_path(tmp_path / "out", "customers"))["customer_id"]
    assert len(ids) == 120
    said = [w for w in reports["customers"].warnings if "'Account Created'" in w]
    assert len(said) == 1, reports["customers"].warnings
    assert f"{before:,} of the 120 customers with a purchase first bought before" in said[0]
    assert "mapped" in said[0] and "earlier membership" in said[0]


def test_customers_who_bought_before_a_later_record_date_are_no_new_customers(tmp_path):
    """The scoring warning's count of customers "first appearing on or after" the date scored
    read the raw signup_at: accounts moved into a CRM the day after their last order were all
    counted as left out, though each bought before and is scored (its first purchase is its
    first sight). Only the customers with neither a signup nor a transaction before count."""
    from training.dataset import customers_from, data_bounds

    rng = np.random.default_rng(7)
    bought = 40
    firsts = pd.Timestamp("2021-01-04") + pd.to_timedelta(rng.integers(0, 500, bought), "D")
    accounts = [f"B{i:02d},{MOVED:%Y-%m-%dT%H:%M:%SZ}\n" for i in range(bought)]
    accounts += [f"N{i},{MOVED + pd.Timedelta(days=1 + i):%Y-%m-%dT%H:%M:%SZ}\n" for i in range(3)]
    orders = [f"B{i:02d},{day:%Y-%m-%d},20\n" for i, day in enumerate(firsts)]
    orders.append(f"B00,{MOVED - pd.Timedelta(days=1):%Y-%m-%d},20\n")  # the last order
    (tmp_path / "accounts.csv").write_text("Id,CreatedDate\n" + "".join(accounts))
    (tmp_path / "orders.csv").write_text("Account Id,Order Date,Total\n" + "".join(orders))
    out = tmp_path / "out"
    ingest(
        out,
        tmp_path / "orders.csv",
        load_mapping("transactions.customer_id=Account Id,ordered_at=Order Date,amount=Total"),
        customers=tmp_path / "accounts.csv",
        log=lambda _: None,
    )
    day = data_bounds(out)[1]
    assert day == MOVED.date()
    assert customers_from(out, day) == 3
