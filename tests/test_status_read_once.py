"""A PayPal download's Status, read with no map, is read and mapped once: the check that its
refund rows all give back refunded payments and the setting aside use the same reading."""

from __future__ import annotations

import pandas as pd

import features.order_status as order_status
from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping
from tests.test_refunds import PAYPAL_ROWS


def test_the_status_is_mapped_once_for_both_checks(tmp_path, monkeypatch) -> None:
    calls: list[int] = []
    real = order_status.map_values

    def counted(values, mapping):
        calls.append(len(values))
        return real(values, mapping)

    monkeypatch.setattr(order_status, "map_values", counted)
    path = tmp_path / "Download.CSV"
    path.write_text(PAYPAL_ROWS)
    mapping = load_mapping(
        "order_id=Transaction ID,customer_id=From Email Address,ordered_at=Date,amount=Gross"
    )
    report = ingest(tmp_path / "out", path, mapping, log=lambda _: None)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert sorted(tx["order_id"]) == ["P1"]  # the status read: refunds given back once
    assert report.reasons == {"refunded order": 4, "cancelled order": 1}
    assert calls == [6]
