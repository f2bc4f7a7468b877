"""A zone in a column's name (``(PST)``, ``(HST)``) is ignored only for a time column: after a
money column the same letters are a Canadian sales tax (British Columbia's PST, Ontario's HST),
so ``Amount (PST)`` is no sale's amount."""

from pathlib import Path

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.mapping import IngestError, load_mapping


def _ingest(tmp_path: Path, orders: str, mapping: str = "") -> pd.DataFrame:
    (tmp_path / "customers.csv").write_text("customer_id,signup_at\n1,2023-01-01\n2,2023-01-01\n")
    (tmp_path / "orders.csv").write_text(orders)
    ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        load_mapping(mapping),
        customers=tmp_path / "customers.csv",
        log=lambda *_: None,
    )
    return pd.read_parquet(table_path(tmp_path / "out", "transactions"))


@pytest.mark.parametrize("tax", ["PST", "HST"])
def test_a_sales_tax_column_is_not_read_as_the_amount(tmp_path, tax):
    orders = (
        f"customer_id,ordered_at,Amount ({tax}),Total\n"
        "1,2024-03-04,7.00,107.00\n2,2024-03-05,14.00,214.00\n"
    )
    with pytest.raises(IngestError, match="transactions.amount"):
        _ingest(tmp_path, orders)
    read = _ingest(tmp_path, orders, "amount=Total")
    assert read["amount"].tolist() == [107.0, 214.0]


def test_a_time_column_named_with_its_zone_is_still_found(tmp_path):
    orders = "customer_id,Ordered At (PST),amount\n1,2024-03-04 10:00,10\n"
    read = _ingest(tmp_path, orders)
    assert read["ordered_at"].tolist() == [pd.Timestamp("2024-03-04 18:00")]
    orders = "customer_id,Order Date (PST),amount\n1,2024-03-04 10:00,10\n"
    read = _ingest(tmp_path, orders, "ordered_at=Order Date")
    assert read["ordered_at"].tolist() == [pd.Timestamp("2024-03-04 18:00")]
