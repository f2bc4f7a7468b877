"""Reports grouped by customer (QuickBooks' Transaction List by Customer): each transaction takes
the name of the group row above it; group and subtotal rows are set aside, not read as customers
or counted as lost money (``features.grouped_reports``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.grouped_reports import grouped_ids, subtotal_rows
from features.ingest import ingest
from features.mapping import load_mapping

REPORT = Path(__file__).parent / "data" / "exports" / "quickbooks"
MAP = "customer_id=column_1,ordered_at=Date,amount=Amount,status=Transaction Type,order_id=Num"


def test_a_quickbooks_report_by_customer_reads_as_its_transactions(tmp_path: Path) -> None:
    lines: list[str] = []
    ingest(
        tmp_path / "out",
        transactions=REPORT / "transaction_list_by_customer.csv",
        mapping=load_mapping(MAP),
        log=lines.append,
    )
    orders = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    spend = orders.groupby("customer_id")["amount"].sum().round(2).to_dict()
    assert spend == {"Acme Auto Parts Ltd": 1550.5, "Bondi Bikes": 79.0}  # payment set aside
    customers = pd.read_parquet(tmp_path / "out" / "customers.parquet")
    assert sorted(customers["customer_id"]) == ["Acme Auto Parts Ltd", "Bondi Bikes"]
    said = "\n".join(lines)
    assert "5 rows take the name of the group row above them (2 groups)" in said
    assert "report group or subtotal row: 4" in said
    assert "amount in the quarantined rows [payment received (no sale): 1,200.00]" in said
    assert "Total for" not in said.split("quarantined rows")[-1]


def test_a_filled_down_table_sets_its_subtotal_rows_aside(tmp_path: Path) -> None:
    text = (
        "Customer,Date,Amount\n"
        "Acme,2024-01-05,100\nAcme,2024-02-05,50\nTotal for Acme,,150\n"
        "Bondi,2024-01-09,80\nTotal for Bondi,,80\nGrand Total,,230\n"
    )
    (tmp_path / "t.csv").write_text(text)
    lines: list[str] = []
    ingest(
        tmp_path / "out",
        transactions=tmp_path / "t.csv",
        mapping=load_mapping("customer_id=Customer,ordered_at=Date,amount=Amount"),
        log=lines.append,
    )
    orders = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert sorted(orders["customer_id"].unique()) == ["Acme", "Bondi"]
    said = "\n".join(lines)
    assert "report group or subtotal row: 2" in said and "grouped report" not in said  # + a footer
    assert "amount in the quarantined rows" not in said


def test_a_table_with_guest_rows_is_not_taken_for_a_grouped_report() -> None:
    ids = pd.Series(["a", "", "b", "", "c", "Total Fitness", ""])
    dated = np.array([True, True, True, True, True, True, True])
    assert grouped_ids(ids, dated, np.ones(7, bool)) is None  # every named row is dated
    assert not subtotal_rows(ids, dated).any()  # 'Total Fitness' with a date: a customer
    undated = subtotal_rows(
        pd.Series(["Total Fitness Ltd", "TOTAL", "合计", "Subtotal:"]), ~dated[:4]
    )
    assert undated.tolist() == [False, True, True, True]


def test_rows_before_the_first_group_stay_without_a_customer() -> None:
    ids = pd.Series(["", "Acme", "", "", "Total for Acme", "", "Bondi", ""])
    dated = np.array([True, False, True, True, False, True, False, True])
    grouped = grouped_ids(ids, dated, np.ones(8, bool))
    assert grouped is not None
    assert grouped.ids.fillna("").tolist() == [
        "",
        "Acme",
        "Acme",
        "Acme",
        "Total for Acme",
        "",
        "Bondi",
        "Bondi",
    ]
    assert grouped.report_rows.tolist() == [False, True, False, False, True, False, True, False]
    assert (grouped.filled, grouped.groups) == (3, 2)  # the row after a subtotal has no group


def test_an_empty_file_is_no_grouped_report() -> None:
    empty = pd.Series([], dtype="string")
    assert grouped_ids(empty, np.zeros(0, bool), np.zeros(0, bool)) is None
    assert subtotal_rows(empty, np.zeros(0, bool)).tolist() == []
