"""Customers who ended every subscription and came back with a new one (a subscriptions export,
one row per subscription). Before, their end was blank (live): in the gap they were read as
customers, and an end within a horizon before the gap was no churn. Now the end before the
return is kept and the return's start (``returned_at``) makes them customers again from then on,
whether they paid yet or not (a free plan, a trial)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import table_path
from features.endings import ENDED_DAYS, ended_days, ends_over_rows
from features.ingest import ingest
from features.mapping import load_mapping

MAP = "customer_id=customer,signup_at=started,ended_at=ended,ordered_at=day,amount=amount"
START = pd.Timestamp("2023-01-02")
CUTOFFS = ("2023-09-01", "2024-01-01", "2024-05-01", "2024-09-01")


def _subscriptions(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded subscriptions (one row each), monthly payments while subscribed (none on a free
    plan), and the truth: each customer's stints as (start, end or NaT)."""
    rng = np.random.default_rng(seed)
    subs, pays, stints = [], [], []
    for i in range(n):
        cid = f"c{i:04d}"
        kind = rng.choice(["live", "upgrade", "ended", "back", "back_free"])
        start = START + pd.Timedelta(days=int(rng.integers(0, 200)))
        end = start + pd.Timedelta(days=int(rng.integers(90, 300)))
        rows = [(start, end)]
        if kind == "live":
            rows = [(start, pd.NaT)]
        elif kind == "upgrade":  # the old plan ends the day the new one starts
            rows = [(start, end), (end + pd.Timedelta(hours=1), pd.NaT)]
        elif kind.startswith("back"):
            again = end + pd.Timedelta(days=int(rng.integers(60, 200)))
            rows = [(start, end), (again, pd.NaT)]
        for k, (s, e) in enumerate(rows):
            subs.append((cid, s, e))
            free = kind == "back_free" and k == 1
            until = e if pd.notna(e) else pd.Timestamp("2025-01-01")
            for day in pd.date_range(s, until - pd.Timedelta(days=1), freq="30D"):
                pays.append((cid, day + pd.Timedelta(hours=10), 0.0 if free else 20.0))
        stints.append((cid, kind, rows))
    subscriptions = pd.DataFrame(subs, columns=["customer", "started", "ended"])
    payments = pd.DataFrame(pays, columns=["customer", "day", "amount"])
    payments = payments[payments["amount"] > 0]
    return subscriptions.sample(frac=1.0, random_state=seed), payments, pd.DataFrame(stints)


def _gone_in_truth(stints: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """Whether each customer had no subscription live at ``cutoff`` (ended, not yet back), as a
    cutoff sees: what happened before it."""

    def gone(rows) -> bool:
        live = [s < cutoff and (pd.isna(e) or e >= cutoff) for s, e in rows]
        return not any(live) and rows[0][0] < cutoff

    return pd.Series([gone(r) for r in stints[2]], index=stints[0])


def test_the_end_before_a_return_is_kept_with_the_returns_start():
    ids = pd.Series(["up", "up", "back", "back", "all", "all", "one"], dtype="string")
    started = pd.to_datetime(
        pd.Series(["2024-01", "2024-03", "2024-01", "2024-09", "2024-01", "2024-03", "2024-01"])
    )
    ended = pd.to_datetime(
        pd.Series(
            [
                "2024-03-01 08:00",
                None,
                "2024-04-01 00:00",
                None,
                "2024-05-01 00:00",
                "2024-06-01 00:00",
                None,
            ]
        )
    )
    got, returned = ends_over_rows(ids, ended, started)
    want = pd.to_datetime(
        pd.Series([None, None, "2024-04-01", "2024-04-01", "2024-06-01", "2024-06-01", None])
    )
    pd.testing.assert_series_equal(got, want, check_names=False)
    assert returned.dropna().to_dict() == {
        2: pd.Timestamp("2024-09-01"),
        3: pd.Timestamp("2024-09-01"),
    }


def test_a_return_is_read_before_any_payment_after_it():
    """A customer back on a free plan (no purchase after the return) is a customer again."""
    frame = pd.DataFrame(
        {
            "customer_id": ["free"],
            "cutoff": [pd.Timestamp("2024-10-01")],
            "recency_days": [200.0],
            "age_days": [270.0],
            "orders_all": [3.0],
        }
    )
    end = pd.Series([pd.Timestamp("2024-03-01")], index=["free"])
    assert ended_days(frame, end)[0] == 214.0  # without the return: ended
    back = pd.Series([pd.Timestamp("2024-09-01")], index=["free"])
    assert np.isnan(ended_days(frame, end, back)[0])
    later = pd.Series([pd.Timestamp("2024-11-01")], index=["free"])
    assert ended_days(frame, end, later)[0] == 214.0  # back only from the return on


def test_customers_who_came_back_are_ended_in_their_gap_only(tmp_path: Path):
    """Against the generator's truth at four cutoffs: who had no live subscription."""
    from training.config import ExperimentConfig
    from training.dataset import build_frame

    subscriptions, payments, stints = _subscriptions(seed=7, n=300)
    subscriptions.to_csv(tmp_path / "subscriptions.csv", index=False, date_format="%Y-%m-%d %H:%M")
    payments.to_csv(tmp_path / "payments.csv", index=False, date_format="%Y-%m-%d %H:%M")
    data = tmp_path / "data"
    ingest(
        data,
        tmp_path / "payments.csv",
        load_mapping(MAP),
        customers=tmp_path / "subscriptions.csv",
        log=lambda _: None,
    )
    customers = pd.read_parquet(table_path(data, "customers")).set_index("customer_id")
    kinds = stints.set_index(0)[1]
    assert customers["returned_at"].notna().groupby(kinds).sum().to_dict() == {
        "back": (kinds == "back").sum(),
        "back_free": (kinds == "back_free").sum(),
        "ended": 0,
        "live": 0,
        "upgrade": 0,
    }
    wrong = 0
    for cutoff in CUTOFFS:
        frame = build_frame(
            data,
            [pd.Timestamp(cutoff).date()],
            ExperimentConfig(name="returns"),
            churn_horizon_days=90,
            value_horizon_days=90,
            with_labels=False,
            progress=False,
        ).set_index("customer_id")
        truth = _gone_in_truth(stints, pd.Timestamp(cutoff))
        got = frame[ENDED_DAYS].notna().reindex(truth.index, fill_value=False)
        wrong += int((got != truth).sum())
    assert wrong == 0


def test_a_return_before_the_end_does_not_undo_it(tmp_path: Path):
    """A CRM's reactivation date (mapped to returned_at) before its churn date: the customer came
    back, then ended again. The later end stands at every cutoff after it."""
    from training.config import ExperimentConfig
    from training.dataset import build_frame

    pd.DataFrame(
        {
            "customer": ["again", "back", "live"],
            "started": ["2023-01-05"] * 3,
            "churned": ["2024-06-01", "2023-06-01", None],
            "reactivated": ["2023-09-01", "2023-09-01", None],
        }
    ).to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame(
        {
            "customer": ["again", "again", "back", "live", "live"],
            "day": ["2023-01-05", "2023-02-05", "2023-01-05", "2023-01-05", "2024-08-05"],
            "amount": [20.0] * 5,
        }
    ).to_csv(tmp_path / "payments.csv", index=False)
    ingest(
        tmp_path / "data",
        tmp_path / "payments.csv",
        load_mapping(f"{MAP.replace('=ended', '=churned')},returned_at=reactivated"),
        customers=tmp_path / "customers.csv",
        log=lambda _: None,
    )
    gone = {}
    for cutoff in ("2023-07-01", "2023-10-01", "2024-09-01"):
        frame = build_frame(
            tmp_path / "data",
            [pd.Timestamp(cutoff).date()],
            ExperimentConfig(name="returns"),
            churn_horizon_days=90,
            value_horizon_days=90,
            with_labels=False,
            progress=False,
        ).set_index("customer_id")
        gone[cutoff] = sorted(frame.index[frame[ENDED_DAYS].notna()])
    assert gone == {"2023-07-01": ["back"], "2023-10-01": [], "2024-09-01": ["again"]}


def test_a_mapped_return_is_kept_beside_customers_on_several_rows(tmp_path: Path):
    """A CRM's reactivation date mapped as ``returned_at`` stays where no return is worked out
    from several rows (before: every customer's was replaced by the worked-out ones)."""
    (tmp_path / "members.csv").write_text(
        "customer,started,ended,reactivated\n"
        "R,2023-01-05,2023-06-01,2023-09-01\n"
        "S,2023-01-05,2023-03-01,\nS,2023-08-01,,\n"
    )
    (tmp_path / "pay.csv").write_text("customer,day,amount\nR,2023-01-05,10\nS,2023-01-05,10\n")
    ingest(
        tmp_path / "data",
        tmp_path / "pay.csv",
        load_mapping(MAP + ",returned_at=reactivated"),
        customers=tmp_path / "members.csv",
        log=lambda _: None,
    )
    customers = pd.read_parquet(table_path(tmp_path / "data", "customers")).set_index("customer_id")
    assert customers.loc["R", "returned_at"] == pd.Timestamp("2023-09-01")
    assert customers.loc["S", "returned_at"] == pd.Timestamp("2023-08-01")
