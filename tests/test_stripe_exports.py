"""Stripe's dashboard exports read with no map file: a customers export's own ``id`` is the
customer's, a payments export's the charge's (its order), ``Created (UTC)`` the record's time."""

from pathlib import Path

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.mapping import IngestError, load_mapping
from features.payment_status import PAYMENT_STATES
from features.values import STATUS_SYNONYMS, ValueMapping

CUSTOMERS = (
    "id,Description,Email,Name,Created (UTC),Delinquent,Account Balance,Currency\n"
    "cus_A1,,ana@example.com,Ana,2024-01-03 10:15,false,0,usd\n"
    "cus_B2,,ben@example.com,Ben,2024-02-11 08:00,false,0,usd\n"
    "cus_C3,,cy@example.com,Cy,2024-03-20 17:45,true,0,usd\n"
)
PAYMENTS = (
    "id,Description,Created (UTC),Amount,Amount Refunded,Currency,Captured,Customer ID,"
    "Customer Email,Invoice ID\n"
    "ch_1,Invoice 1,2024-01-03 10:20,19.00,0.00,usd,true,cus_A1,ana@example.com,in_1\n"
    "ch_2,Invoice 2,2024-02-03 10:20,19.00,0.00,usd,true,cus_A1,ana@example.com,in_2\n"
    "ch_3,Invoice 1,2024-02-11 08:05,49.00,0.00,usd,true,cus_B2,ben@example.com,in_3\n"
    "ch_4,Invoice 1,2024-03-20 17:50,9.00,0.00,usd,true,cus_C3,cy@example.com,in_4\n"
)


def _ingest(tmp_path: Path, customers: str, payments: str, map_option: str | None = None):
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "unified_payments.csv").write_text(payments)
    out = tmp_path / "out"
    reports = ingest(
        out,
        tmp_path / "unified_payments.csv",
        load_mapping(map_option),
        customers=tmp_path / "customers.csv",
        log=lambda _: None,
    )
    tables = {t: pd.read_parquet(table_path(out, t)) for t in ("customers", "transactions")}
    return reports, tables


def test_stripes_customers_and_payments_exports_are_read_without_a_map(tmp_path):
    reports, tables = _ingest(tmp_path, CUSTOMERS, PAYMENTS)
    customers, payments = tables["customers"], tables["transactions"]
    assert customers["customer_id"].tolist() == ["cus_A1", "cus_B2", "cus_C3"]
    assert customers["signup_at"].tolist() == [
        pd.Timestamp(t) for t in ("2024-01-03 10:15", "2024-02-11 08:00", "2024-03-20 17:45")
    ]
    assert payments["order_id"].tolist() == ["ch_1", "ch_2", "ch_3", "ch_4"]
    assert payments["ordered_at"].min() == pd.Timestamp("2024-01-03 10:20")
    assert payments["amount"].sum() == 96.0
    said = reports["customers"].formats["columns"]
    assert "customer_id from 'id'" in said and "signup_at from 'Created (UTC)'" in said
    said = reports["transactions"].formats["columns"]
    assert "order_id from 'id'" in said and "ordered_at from 'Created (UTC)'" in said


def test_an_id_column_read_as_another_contract_column_is_no_order_id(tmp_path):
    """Payments keyed by the customer's own ``id`` (mapped for every table): no order ids."""
    customers = "id,Created\nA1,2024-01-03\nB2,2024-02-11\n"
    payments = "id,Created,Amount\nA1,2024-01-04,19\nA1,2024-02-04,19\nB2,2024-02-12,49\n"
    _, tables = _ingest(tmp_path, customers, payments, "customer_id=id")
    assert tables["transactions"]["order_id"].isna().all()
    assert tables["transactions"]["customer_id"].tolist() == ["A1", "A1", "B2"]
    assert tables["customers"]["signup_at"].min() == pd.Timestamp("2024-01-03")


def test_a_subscriptions_export_read_as_customers_takes_its_customer_id_column(tmp_path):
    """Stripe's subscriptions export: ``id`` is the subscription's, ``Customer ID`` the
    customer's; ``Ended At (UTC)`` is the contract's ``ended_at`` by its name."""
    subscriptions = (
        "id,Customer ID,Status,Created (UTC),Canceled At (UTC),Ended At (UTC)\n"
        "sub_1,cus_A1,canceled,2024-01-03 10:16,2024-03-01 09:00,2024-04-03 10:16\n"
        "sub_2,cus_B2,active,2024-02-11 08:01,,\n"
    )
    payments = PAYMENTS.replace("cus_C3", "cus_B2")
    _, tables = _ingest(tmp_path, subscriptions, payments)
    customers = tables["customers"].set_index("customer_id")
    assert customers.index.tolist() == ["cus_A1", "cus_B2"]
    assert customers.loc["cus_A1", "ended_at"] == pd.Timestamp("2024-04-03 10:16")
    assert pd.isna(customers.loc["cus_B2", "ended_at"])


def test_a_deals_created_date_is_no_sale_date(tmp_path):
    """A CRM's opportunities (Salesforce's ``CreatedDate`` beside ``CloseDate``): a deal is
    opened weeks or months before it is won, so its creation is not read as the sale's time (a
    seeded 400 won deals, opened 20-200 days before closing, were all dated at their opening:
    first sale 2022-07-05 against a true 2023-01-05); the map is asked for, as before."""
    opportunities = (
        "Id,AccountId,StageName,Amount,CloseDate,CreatedDate\n"
        "006A,cus_A1,Closed Won,2500,2024-03-01,2023-11-20T10:00:00Z\n"
        "006B,cus_B2,Closed Won,1000,2024-04-15,2024-01-05T10:00:00Z\n"
    )
    with pytest.raises(IngestError, match="ordered_at"):
        _ingest(tmp_path, CUSTOMERS, opportunities, "transactions.customer_id=AccountId")


def test_a_payments_exports_refunded_amount_is_read_without_a_map(tmp_path):
    """Stripe's ``Amount Refunded`` (Shopify's ``Refunded Amount``, ``Amount refunded``) of each
    payment, unread, left its refunds counted as sales (a 300-customer Stripe export: 162 partial
    refunds, 2,004.00 over); read by its name, revenue is the amount less the refund and a
    payment refunded whole is no sale."""
    refunds = PAYMENTS.split("\n")
    refunds[2] = refunds[2].replace("19.00,0.00", "19.00,5.50")  # ch_2 partly refunded
    refunds[4] = refunds[4].replace("9.00,0.00", "9.00,9.00")  # ch_4 refunded whole
    for name in ("Amount Refunded", "Refunded Amount", "Amount refunded"):
        payments = "\n".join(refunds).replace("Amount Refunded", name)
        (tmp_path / name).mkdir()
        reports, tables = _ingest(tmp_path / name, CUSTOMERS, payments)
        tx = tables["transactions"].set_index("order_id")["amount"]
        assert tx.to_dict() == {"ch_1": 19.0, "ch_2": 13.5, "ch_3": 49.0}, name
        report = reports["transactions"]
        assert f"refunded_amount from {name!r}" in report.formats["columns"]
        assert report.reasons == {"refunded order": 1}
        assert not any(name in w for w in report.warnings), report.warnings
    words = PAYMENTS.replace("19.00,0.00", "19.00,yes")  # no amount: left unread, as before
    (tmp_path / "words").mkdir()
    reports, tables = _ingest(tmp_path / "words", CUSTOMERS, words)
    assert tables["transactions"]["amount"].sum() == 96.0
    assert "refunded_amount" not in reports["transactions"].formats["columns"]


def test_a_converted_amounts_refund_is_its_converted_refund(tmp_path):
    """A multi-currency Stripe export read in the account's currency (``amount=Converted
    Amount``): its refund is ``Converted Amount Refunded``, not the charge currency's ``Amount
    Refunded`` (a seeded 600-payment EUR/JPY/USD export: 30,793.98 USD against a true 31,240.50;
    a JPY charge's half refund of 7,425 yen took off the whole of its 49.75 USD)."""
    payments = (
        "id,Created (UTC),Amount,Amount Refunded,Currency,Converted Amount,"
        "Converted Amount Refunded,Converted Currency,Customer ID\n"
        "ch_1,2024-01-03 10:20,100.00,50.00,eur,108.00,54.00,usd,cus_A1\n"
        "ch_2,2024-02-03 10:20,14850,7425,jpy,99.50,49.75,usd,cus_B2\n"
        "ch_3,2024-02-11 08:05,49.00,0.00,usd,49.00,0.00,usd,cus_C3\n"
    )
    reports, tables = _ingest(
        tmp_path, CUSTOMERS, payments, "amount=Converted Amount,currency=Converted Currency"
    )
    tx = tables["transactions"].set_index("order_id")["amount"]
    assert tx.round(2).to_dict() == {"ch_1": 54.0, "ch_2": 49.75, "ch_3": 49.0}
    said = reports["transactions"].formats["columns"]
    assert "refunded_amount from 'Converted Amount Refunded'" in said, said


def _with_status(payments: str, statuses: list[str]) -> str:
    """``payments`` with a ``Status`` column of ``statuses``, one a row."""
    header, *rows = payments.strip().split("\n")
    lines = (f"{row},{status}" for row, status in zip(rows, statuses, strict=True))
    return "\n".join([f"{header},Status", *lines]) + "\n"


def test_a_payments_exports_status_is_read_when_it_is_each_payments_state(tmp_path):
    """Stripe's payments export's ``Status`` (Paid, Failed, Refunded), unread, counted its failed
    payments as sales with only a warning (a 300-customer export: 301 failed, 7,499.00 over).
    Every value a payment's state and each payment id on one row: read as the status."""
    refunded = PAYMENTS.replace("49.00,0.00", "49.00,49.00")  # ch_3 refunded whole
    cases = {
        "dashboard": (["Paid", "Failed", "Refunded", "Paid"], {"ch_1": 19.0, "ch_4": 9.0}),
        "api": (["succeeded", "failed", "succeeded", "pending"], {"ch_1": 19.0, "ch_4": 9.0}),
        "german": (
            ["Bezahlt", "Fehlgeschlagen", "Erstattet", "Bezahlt"],
            {"ch_1": 19.0, "ch_4": 9.0},
        ),
    }
    for name, (statuses, kept) in cases.items():
        (tmp_path / name).mkdir()
        reports, tables = _ingest(tmp_path / name, CUSTOMERS, _with_status(refunded, statuses))
        tx = tables["transactions"].set_index("order_id")["amount"]
        assert tx.to_dict() == kept, name
        report = reports["transactions"]
        said = report.formats["columns"]
        assert "status from 'Status': each payment's own state" in said, said
        assert not any("no status read" in w for w in report.warnings), report.warnings


def test_a_status_that_may_not_be_each_payments_state_is_left_unread(tmp_path):
    """A ``Status`` that is not every row's payment state is read only where mapped, and named
    in a warning as before: a CRM's deal stages, a policy's status on each of its premiums (an
    order id on several rows), a file without payment ids, one with refunds as rows of their own
    (a 'Refunded' payment beside its own refund row would be given back twice)."""
    three = PAYMENTS.replace("ch_4", "ch_3")  # ch_3 on two rows: the policy's, not a payment's
    no_ids = PAYMENTS.replace("id,Description", "Reference,Description")
    refund_row = PAYMENTS.replace("17:50,9.00,", "17:50,-9.00,")
    cases = {
        "stages": (PAYMENTS, ["Closed Won", "Closed Lost", "Negotiation", "Closed Won"]),
        "policy": (three, ["Paid", "Paid", "Cancelled", "Cancelled"]),
        "no ids": (no_ids, ["Paid", "Failed", "Paid", "Paid"]),
        "refund rows": (refund_row, ["Paid", "Paid", "Refunded", "Paid"]),
    }
    for name, (payments, statuses) in cases.items():
        (tmp_path / name).mkdir()
        reports, tables = _ingest(tmp_path / name, CUSTOMERS, _with_status(payments, statuses))
        report = reports["transactions"]
        assert "status" not in report.formats.get("columns", ""), name
        assert report.accepted == 4, name
        assert any("no status read" in w for w in report.warnings), (name, report.warnings)


def test_each_payment_state_reads_as_what_it_is_declared():
    """The payment states a ``Status`` is read by with no map are read by the status as listed:
    a state read otherwise (or not known) would be counted as it is not."""
    statuses = ValueMapping({}, builtin=True, synonyms=STATUS_SYNONYMS)
    read = {
        word: statuses.lookup(word)[0] or "pending"
        for words in PAYMENT_STATES.values()
        for word in words
    }
    declared = {word: state for state, words in PAYMENT_STATES.items() for word in words}
    assert read == declared


#: Accounts moved into a CRM on 2022-06-01 (its ``CreatedDate``), customers since 2018 or 2019:
#: A left before the move (a final bill paid 8 days after its end), B left in 2020 and came
#: back in 2021, C never left, D signed up in the CRM and left after.
ACCOUNTS = (
    "Id,Name,CreatedDate,Churn Date\n"
    "001A,Acct A,2022-06-01T09:00:00Z,2021-09-17\n"
    "001B,Acct B,2022-06-01T09:00:00Z,2020-05-01\n"
    "001C,Acct C,2022-06-01T09:00:00Z,\n"
    "001D,Acct D,2023-02-01T09:00:00Z,2023-10-01\n"
)
ACCOUNT_ORDERS = (
    "Account Id,Order Date,Total\n"
    "001A,2019-03-01,100\n001A,2021-02-10,100\n001A,2021-09-25,100\n"
    "001B,2019-01-01,100\n001B,2020-03-01,100\n001B,2021-06-01,100\n001B,2022-09-01,100\n"
    "001C,2018-05-01,100\n001C,2023-01-01,100\n"
    "001D,2023-02-01,100\n001D,2023-06-01,100\n"
)
ACCOUNTS_MAP = (
    "customers.ended_at=Churn Date,transactions.customer_id=Account Id,"
    "ordered_at=Order Date,amount=Total"
)


def test_an_end_before_a_created_date_read_as_signup_stands(tmp_path):
    """A record's ``CreatedDate`` read as signup_at (no column so named, none mapped) is the
    day the record was made, not a membership's start: an end before it stands unless the
    customer bought after the end (its settlement window, ``features.endings``). Before, every
    such end was read as an earlier membership's and the customer kept live (a seeded 300
    accounts moved into a CRM on 2022-06-01, 89 ended: 34 ends kept, 55 dropped); most
    customers having bought before the date is warned of, naming the column and the count."""
    reports, tables = _ingest(tmp_path, ACCOUNTS, ACCOUNT_ORDERS, ACCOUNTS_MAP)
    ended = tables["customers"].set_index("customer_id")["ended_at"]
    assert ended["001A"] == pd.Timestamp("2021-09-17")
    assert pd.isna(ended["001B"]) and pd.isna(ended["001C"])
    assert ended["001D"] == pd.Timestamp("2023-10-01")
    report = reports["customers"]
    said = report.formats["ended_at"]
    assert "end(s) before 'CreatedDate', 1 kept, 1 read as no end" in said, said
    said = [w for w in report.warnings if "'CreatedDate'" in w]
    assert len(said) == 1 and "3 of the 4 customers with a purchase" in said[0], report.warnings
    assert "first purchase" in said[0]


def test_a_mapped_signup_keeps_the_rejoin_rule(tmp_path):
    """The same file with ``signup_at=CreatedDate`` mapped: the map says it is the signup, so an
    end before it is an earlier membership's (no end), as before; most customers having bought
    before it is warned of all the same (it was not), saying what the ends before it became."""
    reports, tables = _ingest(
        tmp_path, ACCOUNTS, ACCOUNT_ORDERS, ACCOUNTS_MAP + ",signup_at=CreatedDate"
    )
    ended = tables["customers"].set_index("customer_id")["ended_at"]
    assert ended.notna().tolist() == [False, False, False, True]
    said = [w for w in reports["customers"].warnings if "'CreatedDate'" in w]
    assert len(said) == 1 and "3 of the 4 customers with a purchase" in said[0], said
    assert "earlier membership" in said[0]


def test_a_created_date_that_is_the_signup_is_not_warned_of(tmp_path):
    """Stripe's customers export: ``Created (UTC)`` is the signup, paid on the day; no warning."""
    reports, _ = _ingest(tmp_path, CUSTOMERS, PAYMENTS)
    assert not [w for w in reports["customers"].warnings if "Created (UTC)" in w]
