"""Payments that cover a period ahead (features/terms.py): read, labelled and staged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping
from features.snapshots import build_snapshots

MAPPING = "customer_id=AccountId,ordered_at=CloseDate,amount=Amount"


def _quiet(_msg: str) -> None:
    pass


def _deals(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "Opportunity.csv"
    path.write_text("AccountId,CloseDate,Amount,Term_Months__c,Period End\n" + rows)
    return path


def _snapshot_at(tmp_path: Path, rows: str, cutoff: str = "2023-01-01") -> pd.DataFrame:
    """The 90-day snapshot at ``cutoff`` of deals ingested with their ``Term_Months__c``."""
    deals = _deals(tmp_path, rows)
    ingest(
        tmp_path / "out", deals, load_mapping(MAPPING + ",term_months=Term_Months__c"), log=_quiet
    )
    frame = build_snapshots(tmp_path / "out", [cutoff], horizon_days=90, progress=False)
    return frame.set_index("customer_id")


def test_a_term_in_months_is_read_as_the_period_covered(tmp_path):
    """Salesforce opportunities: a three-year deal, a one-year one, an upsell without a term, a
    term written as text (kept without one, said)."""
    deals = _deals(
        tmp_path,
        "a,2022-01-10,36000,36,\nb,2022-01-10,12000,12,\nb,2022-06-01,3000,,\n"
        "c,2022-02-01,5000,12 months,\n",
    )
    report = ingest(
        tmp_path / "out", deals, load_mapping(MAPPING + ",term_months=Term_Months__c"), log=_quiet
    )["transactions"]
    kept = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert report.accepted == 4
    assert kept["covers_until"].dt.strftime("%Y-%m-%d").fillna("-").tolist() == [
        "2025-01-10",
        "2023-01-10",
        "-",
        "-",
    ]
    assert report.formats["term_months"] == "2 payments with a term (36, 12 months most often)"
    assert any("'12 months'" in w and "kept without a term" in w for w in report.warnings)


def test_a_period_end_before_its_payment_is_no_term(tmp_path):
    deals = _deals(tmp_path, "a,2022-01-10,100,,2023-01-09\nb,2022-01-10,100,,2021-12-31\n")
    mapping = load_mapping(MAPPING + ",covers_until=Period End")
    report = ingest(tmp_path / "out", deals, mapping, log=_quiet)["transactions"]
    kept = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert kept["covers_until"].notna().tolist() == [True, False]
    assert report.formats["covers_until"] == (
        "1 payments with the end of the period they cover; 1 ending before their payment read "
        "as no term"
    )


def test_a_customer_paid_ahead_through_the_window_has_not_churned(tmp_path):
    """Churn is no purchase in [T, T + H): an account on a three-year contract makes none for
    years while it stays. Paid ahead through the window's end it has not churned; the one-year
    account whose term ended unrenewed has."""
    frame = _snapshot_at(tmp_path, "a,2022-01-10,36000,36,\nb,2022-01-10,12000,12,\n")
    assert frame.loc["a", "churned"] == 0 and frame.loc["b", "churned"] == 1
    assert frame.loc["a", "paid_ahead_days"] == 740 and frame.loc["b", "paid_ahead_days"] == 9


def test_a_refund_carrying_a_term_pays_for_nothing(tmp_path):
    """A one-year deal, then a credit row carrying a three-year Term_Months__c (the CRM copies
    the field onto every opportunity of the account): the credit covers no period, so the
    customer is paid ahead only to the deal's end and churns as anyone silent does."""
    frame = _snapshot_at(tmp_path, "a,2022-01-10,12000,12,\na,2022-06-01,-3000,36,\n")
    assert frame.loc["a", "paid_ahead_days"] == 9 and frame.loc["a", "churned"] == 1


def test_the_monitor_counts_an_end_within_the_horizon_as_churn_as_training_does(tmp_path):
    """A member paid ahead through the window who ends in it: training labels them churned (an
    explicit end wins); the monitor's realised labels did not, biasing its AUC and calibration."""
    from serving.monitor import outcomes

    deals = _deals(tmp_path, "a,2022-01-10,12000,36,\nb,2022-01-10,12000,36,\n")
    customers = tmp_path / "accounts.csv"
    customers.write_text("AccountId,Opened,Ended\na,2021-06-01,2023-02-01\nb,2021-06-01,\n")
    mapping = load_mapping(
        "customers.customer_id=AccountId,signup_at=Opened,ended_at=Ended,"
        "transactions.customer_id=AccountId,ordered_at=CloseDate,amount=Amount,"
        "term_months=Term_Months__c"
    )
    ingest(tmp_path / "out", deals, mapping, customers, log=_quiet)
    realised = outcomes(tmp_path / "out", [(pd.Timestamp("2023-01-01").date(), 90, 90)])
    churned = realised[pd.Timestamp("2023-01-01").date()].set_index("customer_id")["churned"]
    assert churned.to_dict() == {"a": 1, "b": 0}


def test_a_contracts_export_without_money_is_told_it_covers_no_one(tmp_path):
    """A Salesforce Contract export (StartDate, EndDate, no amount) given beside the
    opportunities with amount "=0" and covers_until=EndDate: its 392 Activated contracts were
    accepted and covered no one (a term is read from a payment only), said only as amounts of 0."""
    contracts = tmp_path / "Contract.csv"
    contracts.write_text(
        "AccountId,StartDate,EndDate,Status\nA,2022-01-10,2025-01-09,Activated\n"
        "B,2022-03-01,2023-02-28,Activated\n"
    )
    mapping = load_mapping(
        "customer_id=AccountId,ordered_at=StartDate,amount==0,covers_until=EndDate,status=Status"
    )
    report = ingest(tmp_path / "out", contracts, mapping, log=_quiet)["transactions"]
    said = [w for w in report.warnings if "cover no one" in w]
    assert len(said) == 1 and said[0].startswith("2 accepted rows") and "term_months" in said[0]
    paid = _deals(tmp_path, "A,2022-01-10,3000,36,\n")
    report = ingest(
        tmp_path / "out2", paid, load_mapping(MAPPING + ",term_months=Term_Months__c"), log=_quiet
    )["transactions"]
    assert not [w for w in report.warnings if "cover no one" in w]


def test_a_trial_s_zero_invoice_among_paid_terms_is_no_contracts_export(tmp_path):
    """A subscription billing export with covers_until=Period End: a free trial's $0 invoice
    and a refund carry their period's end too. One such row of many paid ones was told the file
    looks like a contracts export without money (put each contract's end on the opportunity)."""
    rows = "".join(f"A{i},2023-0{i}-01,50,,2023-0{i + 1}-01\n" for i in range(1, 8))
    rows += "T,2023-03-01,0,,2023-03-15\nA1,2023-02-10,-50,,2023-03-01\n"
    mapping = load_mapping(MAPPING + ",covers_until=Period End")
    report = ingest(tmp_path / "out", _deals(tmp_path, rows), mapping, log=_quiet)
    assert not [w for w in report["transactions"].warnings if "cover no one" in w]


def test_a_fills_days_supply_is_read_as_the_period_covered(tmp_path):
    """A pharmacy's fills of 30, 60 and 90 days: mapped as term_months, every fill covered
    911-2,741 days (no patient could churn) and nothing was said; as term_days, the period a fill
    supplies, and a days column mapped as months is named."""
    fills = tmp_path / "fills.csv"
    fills.write_text(
        "Patient,Fill Date,Paid,Days Supply\np1,2024-01-10,42.50,90\np2,2024-01-10,12.00,30\n"
        "p3,2024-02-01,20.00,60\np3,2024-04-01,20.00,\n"
    )
    mapping = "customer_id=Patient,ordered_at=Fill Date,amount=Paid"
    report = ingest(
        tmp_path / "days", fills, load_mapping(mapping + ",term_days=Days Supply"), log=_quiet
    )["transactions"]
    kept = pd.read_parquet(table_path(tmp_path / "days", "transactions"))
    assert kept["covers_until"].dt.strftime("%Y-%m-%d").fillna("-").tolist() == [
        "2024-04-09",
        "2024-02-09",
        "2024-04-01",
        "-",
    ]
    assert report.formats["term_days"] == "3 payments with a term (90, 30, 60 days most often)"
    as_months = ingest(
        tmp_path / "months", fills, load_mapping(mapping + ",term_months=Days Supply"), log=_quiet
    )["transactions"]
    said = [w for w in as_months.warnings if "named in days" in w]
    assert len(said) == 1 and '--map "transactions.term_days=Days Supply"' in said[0], said
