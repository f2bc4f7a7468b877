"""A customers file's ``Created`` date read as its signup (no column named signup_at, none
mapped: :func:`features.source_columns.record_date_column`) is the day the record was made.
Accounts moved into a CRM, or imported into Stripe, all carry the day of the move: an end
before it is no earlier membership's (as an end before a real signup is) and stands, unless the
customer bought after it (:func:`features.endings.came_back`); customers who mostly bought
before it are warned of, naming the column, as they are before a signup_at mapped or so named
(the map's word is kept: an end before it is an earlier membership's)."""

from __future__ import annotations

import pandas as pd

from features.contract import ENDED_AT
from features.endings import came_back


def _purchases(transactions: pd.DataFrame) -> pd.DataFrame:
    return transactions.loc[pd.to_numeric(transactions["amount"]) > 0]


def ends_before_record(
    customers: pd.DataFrame, transactions: pd.DataFrame
) -> tuple[pd.DataFrame, int, int]:
    """``customers`` with the ends before their record date (kept by
    :func:`features.date_columns.optional_dates`) of those who bought after them read as no
    end (they came back); and how many such ends there were and how many came back."""
    if ENDED_AT not in customers:
        return customers, 0, 0
    end = pd.to_datetime(customers[ENDED_AT])
    before = (end.dt.normalize() < pd.to_datetime(customers["signup_at"]).dt.normalize()).fillna(
        False
    )
    if not before.any():
        return customers, 0, 0
    ids = customers["customer_id"].astype(str)
    ended_at = pd.Series(end[before].to_numpy(), index=ids[before].to_numpy())
    back = came_back(_purchases(transactions), ended_at)
    returned = before.copy()
    returned[before] = back.to_numpy()
    kept = customers.copy()
    kept.loc[returned.to_numpy(dtype=bool), ENDED_AT] = pd.NaT
    return kept, int(before.sum()), int(returned.sum())


def bought_before_record(
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    column: str,
    early: int,
    back: int,
    mapped: bool = False,
) -> str | None:
    """A warning when most customers who bought first did before their signup_at, read from
    ``column``: a record date (``mapped`` False, :func:`ends_before_record` counted ``early``
    ends before it, ``back`` of them no end) or a column the map or the contract names, whose
    ends before it were read as an earlier membership's."""
    purchases = _purchases(transactions)
    first = (
        pd.to_datetime(purchases["ordered_at"])
        .groupby(purchases["customer_id"].astype(str).to_numpy())
        .min()
        .dt.normalize()
    )
    signup = pd.to_datetime(customers["signup_at"]).dt.normalize()
    signup.index = customers["customer_id"].astype(str).to_numpy()
    signup = signup[signup.index.isin(first.index)]
    earlier = int((first.reindex(signup.index) < signup).sum())
    if earlier * 2 <= len(signup):
        return None
    said = (
        f"{earlier:,} of the {len(signup):,} customers with a purchase first bought before "
        f"their {column!r}, "
    )
    tenure = (
        "The features count a customer's tenure from the earlier of the two, their first "
        "purchase here"
    )
    if mapped:
        return (
            f"{said}read as signup_at (mapped, or so named): it looks like the day each "
            "record was made (accounts moved into this tool, an import), not their signup. "
            f"{tenure}; an end before it is "
            "read as an earlier membership's (no end: the ended_at line counts them), which "
            "holds only where the customer signed up again. If the file has the signup under "
            'another name, map that (--map "signup_at=<column>")'
        )
    ends = (
        f"; of the {early:,} ends before it, {early - back:,} are kept, {back:,} read as no "
        "end (the customer bought after it: came back)"
        if early
        else ""
    )
    return (
        f"{said}read as signup_at (no column is named so): it is the day each "
        "record was made (accounts moved into this tool, an import), not their signup. "
        f"{tenure}; signup_at is kept as read{ends}. If the file has the signup under another "
        "name, map it "
        '(--map "signup_at=<column>")'
    )
