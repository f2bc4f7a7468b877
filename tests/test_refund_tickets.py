"""A ``Refund`` event type is a help desk's ticket only where every other type of the column is
a ticket or complaint: beside a feed's own events that match no contract type (and land in
other), it is the refund the transactions file holds, set aside, not a support ticket."""

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping


def _events(tmp_path: Path, events: str) -> tuple[list[str], dict[str, int]]:
    (tmp_path / "customers.csv").write_text(
        "Customer ID,Email,Created At\n1,ana@example.com,2023-01-02\n2,ben@example.com,2023-02-03\n"
    )
    (tmp_path / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n1,2024-01-05,100\n2,2024-02-05,90\n"
    )
    (tmp_path / "events.csv").write_text(events)
    mapping = load_mapping(
        "customers.customer_email=Email,events.customer_email=Email,event_type=Event"
    )
    reports = ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        mapping,
        customers=tmp_path / "customers.csv",
        events=tmp_path / "events.csv",
        log=lambda *_: None,
    )
    table = pd.read_parquet(table_path(tmp_path / "out", "events"))
    return table["event_type"].tolist(), reports["events"].reasons


def test_a_refund_beside_a_feed_s_unmatched_events_is_set_aside(tmp_path):
    types, reasons = _events(
        tmp_path,
        "Email,Event,Timestamp\n"
        "ana@example.com,Support Ticket,2024-03-01 10:00\n"
        "ben@example.com,Refund,2024-03-02 10:00\n"
        "ana@example.com,Level Up,2024-03-03 10:00\n"
        "ben@example.com,Level Up,2024-03-04 10:00\n",
    )
    assert types == ["support_ticket", "other", "other"]
    assert reasons == {"a purchase or refund (the transactions file holds the orders)": 1}


def test_a_refund_among_tickets_only_is_still_a_ticket(tmp_path):
    types, reasons = _events(
        tmp_path,
        "Email,Event,Timestamp\n"
        "ana@example.com,Support Ticket,2024-03-01 10:00\n"
        "ben@example.com,Refund,2024-03-02 10:00\n",
    )
    assert types == ["support_ticket", "support_ticket"]
    assert reasons == {}
