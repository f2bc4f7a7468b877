"""The refusal of a file lacking customer_id never suggests a person's name as the id: names
repeat (two Ana Lees) and a map keyed by them merges different customers without a word."""

from pathlib import Path

import pytest

from features.ingest import ingest
from features.mapping import IngestError, load_mapping


def _refusal(tmp_path: Path, orders: str) -> str:
    source = tmp_path / "orders.csv"
    source.write_text(orders)
    with pytest.raises(IngestError) as err:
        ingest(tmp_path / "out", source, load_mapping(""), log=lambda *_: None)
    return str(err.value)


@pytest.mark.parametrize("name", ["Customer Name", "Name", "Full Name", "Client Name"])
def test_a_name_column_is_not_suggested_as_the_customer_id(tmp_path, name):
    said = _refusal(
        tmp_path,
        f"{name},Order Date,Total\nAna Lee,2024-01-05,10.50\nAna Lee,2024-02-05,9.99\n",
    )
    assert "transactions.customer_id" in said
    assert f"did you mean {name!r}" not in said
    assert f"customer_id={name}" not in said
    assert "transactions.ordered_at (did you mean 'Order Date'?)" in said  # the others still


def test_an_id_column_is_still_suggested(tmp_path):
    said = _refusal(tmp_path, "Customer No,Order Date,Total\nC1,2024-01-05,10.50\n")
    assert "transactions.customer_id (did you mean 'Customer No'?)" in said
