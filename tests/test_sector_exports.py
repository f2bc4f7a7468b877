"""Exports of other sectors than retail: an insurer's policy transactions, a bank's card statement,
a help desk's fixed ticket types."""

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping


def _quiet(_msg: str) -> None:
    pass


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _policies(path: Path, status_of: dict[str, str]) -> Path:
    """An insurer's policy transactions (bordereau): a row per term of each policy (new business,
    then yearly renewals), the policy number as the order id and, on every row, the policy's
    status now (``Policy Status``) beside each row's own ``Transaction Type``."""
    rows = []
    for i in range(20):
        policy = f"POL{i}"
        terms = 1 + i % 3
        for term in range(terms):
            day = pd.Timestamp("2022-01-10") + pd.Timedelta(days=365 * term + i % 7)
            kind = "NB" if term == 0 else "RN"
            state = status_of.get(policy, "In Force")
            rows.append(f"{policy},H{i},{kind},{day.date()},{400 + 10 * term + i}.00,{state}\n")
    return _write(
        path,
        "Policy No,Holder ID,Transaction Type,Transaction Date,Premium,Policy Status\n"
        + "".join(rows),
    )


def test_a_policys_current_status_on_every_premium_row_is_warned_of(tmp_path):
    """An insurer's ``Policy Status`` (In Force, Lapsed, Cancelled) is the policy's state now,
    written on each of its premium rows: mapped as the status it set aside years of premiums paid
    (1,283 of 3,155 rows, 352,442.46) without a word. The reading stays; the warning names the
    rows and the per-row column to map instead."""
    ended = {f"POL{i}": "Lapsed" if i % 2 else "Cancelled" for i in range(20) if i % 3 == 2}
    path = _policies(tmp_path / "policies.csv", ended)
    mapping = load_mapping(
        "order_id=Policy No,customer_id=Holder ID,ordered_at=Transaction Date,amount=Premium,"
        "status=Policy Status"
    )
    report = ingest(tmp_path / "out", path, mapping, log=_quiet)["transactions"]
    assert report.reasons == {"cancelled order": 18}  # read as before
    (said,) = [w for w in report.warnings if "current state" in w]
    assert "6 of the 6 orders with it hold it on every row" in said
    assert "18 rows (7,551.00) of orders paid over years were set aside" in said
    assert "map a per-row type column (e.g. Transaction Type" in said
    # a shop's cancelled orders (one day each) are no policy's state
    shop = "".join(
        f"O{i},C{i % 9},2024-02-{1 + i % 20:02d},{50 + i},{'cancelled' if i % 4 else 'paid'}\n"
        for i in range(40)
    )
    orders = _write(tmp_path / "orders.csv", "Order,Customer,Date,Amount,Status\n" + shop)
    mapping = load_mapping(
        "order_id=Order,customer_id=Customer,ordered_at=Date,amount=Amount,status=Status"
    )
    report = ingest(tmp_path / "out2", orders, mapping, log=_quiet)["transactions"]
    assert not [w for w in report.warnings if "current state" in w]


def test_renewals_under_one_policy_number_are_no_instalments(tmp_path):
    """With the per-row ``Transaction Type`` (NB, RN) as the status, a policy's renewals a year
    apart were told to be 'payments of one sale' (862 of 1,450 policies): a renewal is a purchase
    of its own. A booking's deposit and balance months apart are still named."""
    path = _policies(tmp_path / "policies.csv", {})
    mapping = load_mapping(
        "order_id=Policy No,customer_id=Holder ID,ordered_at=Transaction Date,amount=Premium,"
        "status=Transaction Type"
    )
    report = ingest(tmp_path / "out", path, mapping, log=_quiet)["transactions"]
    tx = pd.read_parquet(table_path(tmp_path / "out", "transactions"))
    assert len(tx) == 39
    assert not [w for w in report.warnings if "several days" in w]
