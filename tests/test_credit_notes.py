"""An ERP's invoice lines hold invoices and credit notes in one file, the document type telling
the sign (SAP Business One's INV / CRN with positive amounts): the credit notes are money given
back, netted from revenue, not sales."""

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping


def _quiet(_msg: str) -> None:
    pass


def test_a_credit_note_with_a_positive_amount_is_netted_not_counted_as_a_sale(tmp_path):
    path = tmp_path / "invoice_lines.csv"
    path.write_text(
        "Document Type;Document No.;Customer Code;Posting Date;Net Amount\n"
        "INV;INV1;C1;02.01.2025;1.000,00\n"
        "CRN;CRN1;C1;09.01.2025;250,00\n"
        "Credit Note;CRN2;C1;10.01.2025;-50,00\n"
        "INV;INV2;C2;03.01.2025;400,00\n"
        "Gutschrift;CRN3;C2;20.01.2025;100,00\n"
    )
    mapping = load_mapping(
        "customer_id=Customer Code,ordered_at=Posting Date,amount=Net Amount,"
        "order_id=Document No.,status=Document Type"
    )
    report = ingest(tmp_path / "out", path, mapping, log=_quiet)["transactions"]
    assert "'CRN' -> credit_note" in report.formats["status"]
    assert report.formats["credit notes"].startswith("2 of 3 credit-note rows")
    assert "'INV' -> completed" in report.formats["status"]
    assert not [w for w in report.warnings if "read as completed" in w]  # INV is known
    written = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    by_customer = written.groupby("customer_id")["amount"].sum()
    assert by_customer["C1"] == pytest.approx(700.0)
    assert by_customer["C2"] == pytest.approx(300.0)
    amounts = dict(zip(written["order_id"], written["amount"], strict=True))
    assert amounts["CRN1"] == -250.0 and amounts["CRN2"] == -50.0 and amounts["CRN3"] == -100.0
    assert len(written) == 5  # kept as returns, none quarantined


def test_a_map_file_may_name_its_credit_note_type(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "type,customer,date,net\nFAC,A,2025-01-02,80\nRE,A,2025-01-05,30\nFAC,B,2025-01-03,10\n"
    )
    map_file = tmp_path / "map.yaml"
    map_file.write_text(
        "columns: {customer_id: customer, ordered_at: date, amount: net, status: type}\n"
        "values: {status: {RE: credit_note, FAC: completed}}\n"
    )
    mapping = load_mapping(map_file=map_file)
    ingest(tmp_path / "out", path, mapping, log=_quiet)
    written = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert written.groupby("customer_id")["amount"].sum().to_dict() == {"A": 50.0, "B": 10.0}
