"""A file lacking several required contract columns is refused in one line naming every one,
each with the column it most likely is, so one retry maps them all."""

from pathlib import Path

import pytest

from features.ingest import ingest
from features.mapping import IngestError, load_mapping


def _quiet(*_args, **_kwargs) -> None:
    pass


def _refusal(tmp_path: Path, orders: str, events: str | None = None, mapping: str = "") -> str:
    source = tmp_path / "orders.csv"
    source.write_text(orders)
    feed = None
    if events is not None:
        feed = tmp_path / "events.csv"
        feed.write_text(events)
    with pytest.raises(IngestError) as err:
        ingest(tmp_path / "out", source, load_mapping(mapping), events=feed, log=_quiet)
    return str(err.value)


def test_every_missing_column_of_an_orders_file_is_named_with_its_likely_column(tmp_path):
    said = _refusal(
        tmp_path,
        "Order ID,Buyer Email,Order Date,Total\n"
        "1,a@x.com,2024-01-02,12.50\n2,b@x.com,2024-01-03,7\n",
    )
    assert "\n" not in said
    assert "transactions.customer_id" in said
    assert "transactions.ordered_at (did you mean 'Order Date'?)" in said
    assert "transactions.amount (did you mean 'Total'?)" in said
    assert '--map "ordered_at=Order Date,amount=Total"' in said
    assert '--map "transactions.customer_id=Buyer Email"' in said  # its e-mail column


def test_every_missing_column_of_an_events_file_is_named(tmp_path):
    said = _refusal(
        tmp_path,
        "customer_id,ordered_at,amount\n1,2024-01-02,10\n",
        "customer_id,Metric,When\n1,Opened Email,2024-01-05\n",
    )
    assert "no column for required contract columns events.occurred_at (did you mean 'When'?)" in (
        said
    )
    assert "events.event_type (did you mean 'Metric'?)" in said
    assert '--map "occurred_at=When,event_type=Metric"' in said


def test_one_missing_column_keeps_its_single_line(tmp_path):
    said = _refusal(tmp_path, "customer_id,ordered_at,Total\n1,2024-01-02,10.50\n")
    assert said.count("transactions.") == 1
    assert "no column for required contract column transactions.amount (did you mean 'Total'?)" in (
        said
    )
