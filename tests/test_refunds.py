"""Refunds given as a column of the sale (features.refunds): the revenue kept is the amount less
the refund, per order; an order refunded whole is no sale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import quarantine_path, table_path
from features.ingest import ingest
from features.mapping import load_mapping
from features.refunds import net_of_refunds


def _net(amounts, refunds, orders=None):
    ok = np.ones(len(amounts), dtype=bool)
    order_id = None if orders is None else pd.Series(orders, dtype="string")
    return net_of_refunds(
        pd.Series(amounts, dtype=float), pd.Series(refunds, dtype=float), order_id, ok
    )


def test_an_order_level_refund_is_taken_once_whatever_the_lines_repeat() -> None:
    # Shopify: the order's refund on its first line only; WooCommerce: on every line
    first_line = _net([60.0, 40.0], [25.0, np.nan], ["A", "A"])
    every_line = _net([60.0, 40.0], [25.0, 25.0], ["A", "A"])
    for refunds in (first_line, every_line):
        assert refunds.amount.sum() == pytest.approx(75.0)
        assert refunds.amount.tolist() == pytest.approx([45.0, 30.0])  # each line its share
        assert not refunds.whole.any()
    assert "one refund per order" in every_line.note


def test_line_refunds_add_up_and_a_whole_refund_is_no_sale() -> None:
    # Tmall: each sub-order line its own refund; order B refunded whole; C more than whole
    refunds = _net(
        [60.0, 40.0, 30.0, 20.0, 10.0],
        [10.0, 5.0, 30.0, np.nan, -35.0],
        ["A", "A", "B", "C", "C"],
    )
    assert refunds.amount[:2].sum() == pytest.approx(85.0)
    assert refunds.whole.tolist() == [False, False, True, True, True]
    assert "refunds added up" in refunds.note and "1 order partly refunded" in refunds.note
    assert "2 refunded whole" in refunds.note


def test_equal_lines_each_refunded_are_line_refunds() -> None:
    """Tmall: two lines of 50, each refunded 50 (the order returned whole), read as one refund of
    50 repeated on the lines: the order kept 25 + 25 as revenue."""
    refunds = _net([50.0, 50.0, 30.0, 70.0], [50.0, 50.0, np.nan, np.nan], ["T1", "T1", "T2", "T2"])
    assert refunds.whole.tolist() == [True, True, False, False]
    assert refunds.amount[~refunds.whole].sum() == 100.0
    # a figure above its line's amount can only be the order's
    order_level = _net([30.0, 30.0], [40.0, 40.0], ["A", "A"])
    assert order_level.amount.sum() == pytest.approx(20.0) and not order_level.whole.any()


def test_without_orders_each_row_is_its_own_sale() -> None:
    refunds = _net([100.0, 50.0, 20.0], [30.0, np.nan, 20.0])
    assert refunds.amount[:2].tolist() == pytest.approx([70.0, 50.0])
    assert refunds.whole.tolist() == [False, False, True]
    assert refunds.note.startswith("1 row partly refunded: 30.00 taken off")


def test_no_refund_changes_nothing() -> None:
    refunds = _net([10.0, 20.0], [np.nan, 0.0], ["A", "B"])
    assert refunds.amount.tolist() == [10.0, 20.0] and refunds.note is None


def test_ingest_nets_a_shops_refund_column_and_quarantines_what_it_cannot_read(tmp_path) -> None:
    """A Tmall export's 退款金额 was not read: partly refunded orders counted whole (92,292
    over in a tester's shop). Mapped as refunded_amount, revenue is what was kept."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "Order,Customer,Date,Total,Refunded Amount\n"
        "1,C1,2024-03-01,100.00,\n"
        "2,C1,2024-03-05,80.00,30.00\n"
        "3,C2,2024-03-06,50.00,50.00\n"
        "4,C2,2024-03-07,40.00,ten\n"
        "5,C3,2024-03-08,70.00,-20.00\n"
        "6,C3,2024-03-09,15.00,-\n"
    )
    mapping = load_mapping(
        "order_id=Order,customer_id=Customer,ordered_at=Date,amount=Total,"
        "refunded_amount=Refunded Amount"
    )
    said: list[str] = []
    report = ingest(tmp_path / "out", path, mapping, log=said.append)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert dict(zip(tx["order_id"], tx["amount"], strict=True)) == {
        "1": 100.0,
        "2": 50.0,
        "5": 50.0,
        "6": 15.0,  # a dash: nothing refunded
    }
    assert report.reasons == {"refunded order": 1, "refunded_amount is not a number": 1}
    assert "2 orders partly refunded: 50.00 taken off" in report.formats["refunded_amount"]
    assert any("refunded_amount: 2 orders partly refunded" in line for line in said)
    quarantined = pd.read_parquet(quarantine_path(tmp_path / "out", "transactions"))
    assert len(quarantined) == 2


def test_an_export_appended_twice_is_netted_once(tmp_path) -> None:
    """The refunds were netted before the second copy of an export appended twice was set aside:
    the order's total counted both copies (200 for an order of 100), so an order refunded whole
    read as half refunded and kept 50 as revenue, and one refunded 20 of 80 kept 70."""
    path = tmp_path / "orders.csv"
    rows = "A1,c1,2025-01-05,100.00,100.00\nA2,c2,2025-01-06,80.00,20.00\nA3,c3,2025-01-07,50.00,\n"
    path.write_text("Order,Customer,Date,Total,Refunded\n" + rows + rows)
    mapping = load_mapping(
        "order_id=Order,customer_id=Customer,ordered_at=Date,amount=Total,refunded_amount=Refunded"
    )
    reports = ingest(tmp_path / "out", path, mapping, log=lambda _: None, min_accepted_share=0)
    report = reports["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert dict(zip(tx["order_id"], tx["amount"], strict=True)) == {"A2": 60.0, "A3": 50.0}
    assert report.reasons == {"refunded order": 1, "duplicate row (same as an earlier line)": 3}


def test_a_refund_given_only_as_its_date_sets_the_sale_aside(tmp_path) -> None:
    """Teachable's sales export gives a refund only as its date (Refunded At, blank when not
    refunded): no mapping could read it, and a tester's 201 refunded sales (17,923.20, revenue
    1.13x the truth) were counted. Mapped as refunded_at, a dated sale is a refunded order."""
    path = tmp_path / "sales.csv"
    path.write_text(
        "Sale ID,Student Email,Purchased At,Final Price,Refunded At\n"
        "1,a@x.org,2024-03-01 10:00:00 UTC,99.00,\n"
        "2,b@x.org,2024-03-02 11:00:00 UTC,49.00,2024-03-09 08:12:00 UTC\n"
        "3,c@x.org,2024-03-03 12:00:00 UTC,199.00,N/A\n"
        "4,c@x.org,2024-03-04 12:00:00 UTC,29.00,0000-00-00 00:00:00\n"
        "5,d@x.org,2024-03-05 12:00:00 UTC,29.00,2024年3月20日\n"
    )
    mapping = load_mapping(
        "order_id=Sale ID,customer_id=Student Email,ordered_at=Purchased At,amount=Final Price,"
        "refunded_at=Refunded At"
    )
    said: list[str] = []
    report = ingest(tmp_path / "out", path, mapping, log=said.append)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert sorted(tx["order_id"]) == ["1", "3", "4"] and tx["amount"].sum() == 327.0
    assert report.reasons == {"refunded order": 2}
    assert any("refunded_at: 2 rows dated in 'Refunded At'" in line for line in said)


#: A PayPal activity download: payments, two refunded whole with refund rows of their own beside
#: them, one denied.
PAYPAL_ROWS = (
    "Date,Name,Type,Status,Gross,From Email Address,Transaction ID\n"
    "01/02/2024,a,Express Checkout Payment,Completed,40.00,a@x.org,P1\n"
    "01/03/2024,a,Express Checkout Payment,Refunded,75.00,a@x.org,P2\n"
    "01/06/2024,a,Payment Refund,Completed,-75.00,a@x.org,R2\n"
    "01/04/2024,b,Express Checkout Payment,Refunded,15.00,b@x.org,P3\n"
    "01/07/2024,b,Payment Refund,Completed,-15.00,b@x.org,R3\n"
    "01/08/2024,b,Express Checkout Payment,Denied,40.00,b@x.org,P4\n"
)


def test_a_refund_row_beside_its_refunded_payment_gives_it_back_once(tmp_path) -> None:
    """A PayPal activity download books a refund as a row of its own (negative Gross, its own
    Transaction ID, Type Payment Refund) beside the payment, whose Status says Refunded. Mapped
    status=Status (as the unread-status warning advises), the payment was set aside and its refund
    row kept as a return, so each refund was given back twice: a seeded download's revenue
    96,330.00 against a true 101,080.00. The refund row after a refunded payment of the same
    customer and amount is that payment's money back: set aside with it. A negative row before
    it, or of another amount, stays a return."""
    path = tmp_path / "Download.CSV"
    path.write_text(
        PAYPAL_ROWS + "01/02/2024,c,Express Checkout Payment,Partially Refunded,50.00,c@x.org,P5\n"
        "01/09/2024,c,Payment Refund,Completed,-20.00,c@x.org,R5\n"
        "01/01/2024,d,Payment Refund,Completed,-15.00,d@x.org,R6\n"
        "01/04/2024,d,Express Checkout Payment,Refunded,15.00,d@x.org,P6\n"
    )
    mapping = load_mapping(
        "order_id=Transaction ID,customer_id=From Email Address,ordered_at=Date,amount=Gross,"
        "status=Status"
    )
    report = ingest(tmp_path / "out", path, mapping, log=lambda _: None)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert sorted(tx["order_id"]) == ["P1", "P5", "R5", "R6"]
    assert tx["amount"].sum() == 40.0 + 50.0 - 20.0 - 15.0
    assert report.reasons == {"refunded order": 5, "cancelled order": 1}
    assert "2 refund rows of their own" in report.formats["refund rows"]


def test_a_download_whose_refund_rows_all_give_back_refunded_payments_reads_its_status(
    tmp_path,
) -> None:
    """Unmapped, a payments export's ``Status`` is read only with no negative amount: a PayPal
    download's refund rows kept it unread, every payment counted as a sale and each refund row
    as a return (a seeded download: 107,155.00 against a true 101,080.00). Where every negative
    row gives back a payment whose status reads as refunded (the same customer and amount, dated
    at or before it), the status is each payment's own: read. One negative row with no such
    payment (a return) and the status stays unread, as before."""
    rows = PAYPAL_ROWS
    mapping = load_mapping(
        "order_id=Transaction ID,customer_id=From Email Address,ordered_at=Date,amount=Gross"
    )
    path = tmp_path / "Download.CSV"
    path.write_text(rows)
    report = ingest(tmp_path / "out", path, mapping, log=lambda _: None)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert sorted(tx["order_id"]) == ["P1"] and tx["amount"].sum() == 40.0
    assert report.reasons == {"refunded order": 4, "cancelled order": 1}
    assert "status from 'Status'" in report.formats["columns"]
    assert not any("no status read" in w for w in report.warnings)

    path.write_text(rows + "01/09/2024,a,Payment Refund,Completed,-10.00,a@x.org,R9\n")
    report = ingest(tmp_path / "again", path, mapping, log=lambda _: None)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "again", "transactions"))
    assert len(tx) == 7 and tx["amount"].sum() == 40 + 75 - 75 + 15 - 15 + 40 - 10
    assert "status from" not in report.formats.get("columns", "")
    assert any("no status read, but column 'Status'" in w for w in report.warnings)
