"""A customer with several subscriptions (Stripe's subscriptions export given as a second
``--customers`` file, one row per subscription): their end is blank while any subscription is
live, else the latest end (an upgrade, an add-on, one of two ended, all ended, a return)."""

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.endings import ends_over_rows
from features.ingest import ingest
from features.mapping import load_mapping

CUSTOMERS = (
    "id,Email,Created (UTC)\n"
    "cus_UP,up@example.com,2024-01-02 09:00\n"
    "cus_ADD,add@example.com,2024-01-03 09:00\n"
    "cus_KEPT,kept@example.com,2024-01-04 09:00\n"
    "cus_ALL,all@example.com,2024-01-05 09:00\n"
    "cus_BACK,back@example.com,2024-01-06 09:00\n"
)
#: Newest first, as Stripe's dashboard lists them.
SUBSCRIPTIONS = (
    "id,Customer ID,Status,Created (UTC),Canceled At (UTC),Ended At (UTC),Plan\n"
    "sub_9,cus_BACK,active,2024-09-06 09:00,,,basic\n"
    "sub_8,cus_BACK,canceled,2024-01-06 09:01,2024-03-30 09:00,2024-04-06 09:01,basic\n"
    "sub_7,cus_ALL,canceled,2024-02-05 09:00,2024-05-01 09:00,2024-05-05 09:00,addon\n"
    "sub_6,cus_ALL,canceled,2024-01-05 09:01,2024-06-01 09:00,2024-06-05 09:01,basic\n"
    "sub_5,cus_KEPT,canceled,2024-02-04 09:00,2024-04-01 09:00,2024-04-04 09:00,addon\n"
    "sub_4,cus_KEPT,active,2024-01-04 09:01,,,basic\n"
    "sub_3,cus_ADD,active,2024-03-03 09:00,,,addon\n"
    "sub_2,cus_ADD,active,2024-01-03 09:01,,,basic\n"
    "sub_1,cus_UP,active,2024-04-02 09:00,,,pro\n"
    "sub_0,cus_UP,canceled,2024-01-02 09:01,2024-04-02 08:59,2024-04-02 08:59,basic\n"
)
#: Each customer's end: blank while a subscription is live (the end before a return for one who
#: came back), else the latest.
TRUTH = {
    "cus_UP": None,
    "cus_ADD": None,
    "cus_KEPT": None,
    "cus_ALL": pd.Timestamp("2024-06-05 09:01"),
    "cus_BACK": pd.Timestamp("2024-04-06 09:01"),
}


def _payments() -> str:
    rows = ["id,Created (UTC),Amount,Currency,Customer ID"]
    days = pd.date_range("2024-01-10", "2024-11-10", freq="30D")
    for i, (day, who) in enumerate((d, c) for d in days for c in TRUTH):
        rows.append(f"ch_{i},{day:%Y-%m-%d} 10:00,19.00,usd,{who}")
    return "\n".join(rows) + "\n"


def test_a_customers_end_over_their_rows_is_blank_while_one_is_live():
    ids = pd.Series(["a", "a", "b", "b", "c", "d", "d"], dtype="string")
    ended = pd.to_datetime(
        pd.Series(["2024-03-01", None, "2024-03-01", "2024-05-01", "2024-02-01", None, None])
    )
    got, _ = ends_over_rows(ids, ended)
    want = pd.to_datetime(
        pd.Series([None, None, "2024-05-01", "2024-05-01", "2024-02-01", None, None])
    )
    pd.testing.assert_series_equal(got, want, check_names=False)


def test_several_subscriptions_of_a_customer_give_one_end(tmp_path: Path):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    (tmp_path / "unified_payments.csv").write_text(_payments())
    out = tmp_path / "out"
    ingest(
        out,
        tmp_path / "unified_payments.csv",
        load_mapping(None),
        customers=[tmp_path / "customers.csv", tmp_path / "subscriptions.csv"],
        log=lambda _: None,
    )
    customers = pd.read_parquet(table_path(out, "customers")).set_index("customer_id")
    got = {c: customers.loc[c, "ended_at"] for c in TRUTH}
    assert {c: (None if pd.isna(e) else e) for c, e in got.items()} == TRUTH
    back = customers["returned_at"].dropna()
    assert back.to_dict() == {"cus_BACK": pd.Timestamp("2024-09-06 09:00")}
