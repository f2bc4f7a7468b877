"""A newsletter tool's unsubscribes and spam marks (Klaviyo's ``Unsubscribed`` and ``Marked Email
as Spam``) are no engagement of an unnamed kind: an unsubscribe is an opt-out of e-mail, set aside
and warned of; a spam mark is the customer's complaint."""

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping

CUSTOMERS = (
    "Customer ID,Email,Created At\n1,ana@example.com,2023-01-02\n2,ben@example.com,2023-02-03\n"
)
ORDERS = "customer_id,ordered_at,amount\n1,2024-01-05,100\n2,2024-02-05,90\n"
KLAVIYO = (
    "Email,Metric Name,Timestamp\n"
    "ana@example.com,Opened Email,2024-03-05 10:00:00\n"
    "ana@example.com,Unsubscribed,2024-03-06 10:00:00\n"
    "ben@example.com,Marked Email as Spam,2024-03-07 10:00:00\n"
    "ben@example.com,Clicked Email,2024-03-08 10:00:00\n"
)


def _quiet(*_args, **_kwargs) -> None:
    pass


def test_an_unsubscribe_is_set_aside_and_a_spam_mark_is_a_complaint(tmp_path: Path):
    for name, text in (("customers.csv", CUSTOMERS), ("orders.csv", ORDERS), ("k.csv", KLAVIYO)):
        (tmp_path / name).write_text(text)
    mapping = load_mapping(
        "customers.customer_email=Email,events.customer_email=Email,event_type=Metric Name"
    )
    reports = ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        mapping,
        customers=tmp_path / "customers.csv",
        events=tmp_path / "k.csv",
        log=_quiet,
    )
    events = pd.read_parquet(table_path(tmp_path / "out", "events"))
    assert events["event_type"].tolist() == ["email_open", "complaint", "email_click"]
    report = reports["events"]
    assert report.unmapped == []
    assert sum(n for why, n in report.reasons.items() if "unsubscribe" in why) == 1
    assert any("'Unsubscribed'" in w and "do_not_email" in w for w in report.warnings)
    assert report.accepted == 3
