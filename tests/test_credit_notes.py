"""An ERP's invoice lines hold invoices and credit notes in one file, the document type telling
the sign (SAP Business One's INV / CRN with positive amounts): the credit notes are money given
back, netted from revenue, not sales."""

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping
from features.values import STATUS_SYNONYMS, ValueMapping, map_values


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


def test_an_accounting_report_s_payments_are_set_aside_and_its_document_types_known(tmp_path):
    # QuickBooks' Transaction List by Customer: payments beside the invoices they settle (no
    # sale: counted, they doubled the value and made the payment day a purchase day); Xero's
    # ACCREC / ACCRECCREDIT types, its AUTHORISED and DELETED statuses
    path = tmp_path / "transactions.csv"
    path.write_text(
        "Customer,Date,Transaction Type,Num,Amount\n"
        'A,01/15/2024,Invoice,1001,"1,070.00"\n'
        'A,02/14/2024,Payment,,"1,070.00"\n'
        "A,02/20/2024,Sales Receipt,1002,200.00\n"
        "A,02/21/2024,Refund Receipt,1003,-50.00\n"
        "B,01/16/2024,ACCREC,INV-1,500.00\n"
        "B,01/30/2024,ACCRECCREDIT,CN-1,100.00\n"
    )
    mapping = load_mapping(
        "customer_id=Customer,ordered_at=Date,amount=Amount,order_id=Num,status=Transaction Type"
    )
    report = ingest(tmp_path / "out", path, mapping, log=_quiet)["transactions"]
    assert "'Payment' -> payment" in report.formats["status"]
    assert report.reasons == {"payment received (no sale)": 1}
    assert not [w for w in report.warnings if "read as completed" in w]
    written = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert written.groupby("customer_id")["amount"].sum().to_dict() == {"A": 1220.0, "B": 400.0}
    statuses = ValueMapping({}, builtin=True, synonyms=STATUS_SYNONYMS)
    mapped, _ = map_values(pd.Series(["AUTHORISED", "DELETED", "Posted"]), statuses)
    assert mapped.fillna("completed").tolist() == ["completed", "cancelled", "completed"]


def test_a_supplier_s_bill_beside_the_sales_invoices_is_set_aside_not_a_sale(tmp_path):
    """Xero's invoices export holds the bills from suppliers (Type ACCPAY) beside the sales
    invoices (ACCREC): read with status=Type, 885 bills (1,384,297) were sales of their
    suppliers, with only the generic unknown-status warning."""
    path = tmp_path / "Invoices.csv"
    path.write_text(
        "ContactName,InvoiceNumber,Type,Status,InvoiceDate,Total\n"
        "Acme,INV-1,ACCREC,PAID,15/01/2024,500.00\n"
        "Acme,CN-1,ACCRECCREDIT,PAID,20/01/2024,100.00\n"
        "Paper Co,BILL-1,ACCPAY,PAID,16/01/2024,80.00\n"
        "Acme,BILL-2,ACCPAY,AUTHORISED,17/01/2024,40.00\n"
        "Bolt,INV-2,ACCREC,VOIDED,18/01/2024,60.00\n"
    )
    map_file = tmp_path / "map.yaml"
    map_file.write_text(
        "columns: {customer_id: ContactName, order_id: InvoiceNumber, ordered_at: InvoiceDate,"
        " amount: Total, status: Type}\nexclude: {Status: [VOIDED]}\n"
    )
    report = ingest(tmp_path / "out", path, load_mapping(map_file=map_file), log=_quiet)
    report = report["transactions"]
    assert "'ACCPAY' -> supplier_bill" in report.formats["status"]
    assert report.reasons["bill from a supplier (no sale)"] == 2
    assert not [w for w in report.warnings if "read as completed" in w]
    written = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert written.groupby("customer_id")["amount"].sum().to_dict() == {"Acme": 400.0}


def test_a_sale_as_estimate_sales_order_and_invoice_is_counted_once_as_the_invoice(tmp_path):
    """NetSuite's transaction search holds each sale as its Estimate, Sales Order and Invoice
    (same lines, three document numbers): read with status=Type, a wholesaler's 96,071,672 of
    invoices less credit memos was 304,229,838 (3.17x) and 12,458 purchase days 36,855."""
    path = tmp_path / "TransactionSearchResults.csv"
    path.write_text(
        "Type,Date,Document Number,Name,Amount,Status\n"
        "Estimate,01/09/2024,EST1,Acme,500.00,Processed\n"
        "Sales Order,01/15/2024,SO1,Acme,500.00,Billed\n"
        "Invoice,01/16/2024,INV1,Acme,500.00,Paid In Full\n"
        "Credit Memo,01/30/2024,CM1,Acme,-100.00,Fully Applied\n"
        "Estimate,02/01/2024,EST2,Acme,70.00,Open\n"
        "Sales Order,02/03/2024,SO2,Bolt,90.00,Pending Fulfillment\n"
        "Invoice,02/05/2024,INV2,Bolt,60.00,Open\n"
    )
    mapping = load_mapping(
        "customer_id=Name,ordered_at=Date,amount=Amount,order_id=Document Number,status=Type"
    )
    report = ingest(tmp_path / "out", path, mapping, log=_quiet)["transactions"]
    assert "'Estimate' -> open" in report.formats["status"]
    assert report.reasons["sales order beside the invoices (the invoice is the sale)"] == 2
    assert not [w for w in report.warnings if "read as completed" in w]
    written = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert written.groupby("customer_id")["amount"].sum().to_dict() == {"Acme": 400.0, "Bolt": 60.0}
    orders_alone = tmp_path / "orders.csv"
    orders_alone.write_text(
        "Type,Date,Document Number,Name,Amount\nSales Order,01/15/2024,SO1,A,5\n"
    )
    alone = ingest(tmp_path / "o2", orders_alone, mapping, log=_quiet)["transactions"]
    assert alone.accepted == 1
