"""Point-in-time features and labels: hand-computed answers, a slow reference loop, a
no-leakage property, and hand-checked CDNOW customers."""

from __future__ import annotations

import errno
import math
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from cdnow_data import cdnow_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from reference_features import reference_features, reference_labels

from features import snapshots
from features.config import DEFAULT_CONFIG, FeatureConfig
from features.contract import EVENT_TYPES, table_path
from features.snapshots import (
    LABEL_COLUMNS,
    build_snapshots,
    connect,
    feature_columns,
    feature_table,
    label_table,
    normalize_cutoffs,
    write_snapshots,
)

CDNOW = cdnow_file("CDNOW_master.txt")
T = pd.Timestamp("2024-04-01")
REPO = Path(__file__).resolve().parents[1]


# --- helpers ------------------------------------------------------------------------------------


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601")).astype("datetime64[us]")


def write_contract(
    path: Path,
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    events: pd.DataFrame | None = None,
) -> Path:
    """Write contract tables as Parquet with the contract's types (string ids, us timestamps)."""
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("customers", customers),
        ("transactions", transactions),
        ("events", events),
    ):
        if frame is None:
            continue
        frame = frame.copy()
        frame["customer_id"] = frame["customer_id"].astype(str)
        for column in ("signup_at", "ordered_at", "occurred_at"):
            if column in frame:
                frame[column] = frame[column].astype("datetime64[us]")
        frame.to_parquet(table_path(path, name), index=False)
    return path


def features_at(path: Path, cutoffs, config: FeatureConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    frame = feature_table(connect(path), cutoffs, config).to_pandas()
    return frame.sort_values(["cutoff", "customer_id"]).reset_index(drop=True)


def assert_same(fast: pd.DataFrame, slow: pd.DataFrame, columns: list[str]) -> None:
    """Same rows; numbers allclose with nulls in the same places; strings equal."""
    keys = ["cutoff", "customer_id"]
    fast = fast.sort_values(keys).reset_index(drop=True)
    slow = slow.sort_values(keys).reset_index(drop=True)
    assert fast[keys].astype(str).equals(slow[keys].astype(str))
    for column in columns:
        a, b = fast[column], slow[column]
        if column in ("region", "channel", "segment"):
            assert (
                a.fillna("<null>").astype(str).tolist() == b.fillna("<null>").astype(str).tolist()
            )
            continue
        a, b = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{column}: nulls differ"
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=column)


# --- 1. tiny hand-made data with hand-computed answers ------------------------------------------
# Cutoff T = 2024-04-01. Window starts: T-30 = 03-02, T-60 = 02-01, T-90 = 01-02,
# T-180 = 2023-10-04, T-365 = 2023-04-02 (2024 is a leap year).


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    customers = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E", "F"],
            "signup_at": ts(
                "2023-12-01 10:00",
                "2023-01-15",
                "2024-05-01",
                "2024-06-01",
                "2024-01-01",
                "2023-06-01",
            ),
            "region": ["north", "south", None, "east", "west", "north"],
            "segment": ["gold", None, None, None, None, "silver"],
        }
    )
    transactions = pd.DataFrame(
        [
            # A: purchase days 01-10 (50 + 30 = 80), 02-20 (40), 03-31 (10); a return on 03-02;
            #    999 exactly at T (a label, not a feature)
            ("A", "2024-01-10 09:00", 50.0, "books", 5.0),
            ("A", "2024-01-10 15:00", 30.0, "music", 3.0),
            ("A", "2024-02-20 12:00", 40.0, "books", 4.0),
            ("A", "2024-03-02 08:00", -20.0, "books", -2.0),
            ("A", "2024-03-31 23:00", 10.0, None, 1.0),
            ("A", "2024-04-01 00:00", 999.0, "games", 100.0),
            # C: signs up after T but bought before it; then buys inside and just after the horizon
            ("C", "2024-03-15 10:00", 25.0, "books", 2.5),
            ("C", "2024-04-30 23:59", 5.0, "books", 1.5),
            ("C", "2024-05-01 00:00", 7.0, "books", 0.7),
            # D: first seen after T -> not in the population at T
            ("D", "2024-04-10 00:00", 12.0, "books", 1.2),
            # E: only a return -> a prospect with negative revenue
            ("E", "2024-02-01 00:00", -15.0, "books", -1.5),
            # F: bought on 2023-03-01 (before signup) and 2023-06-15, never again
            ("F", "2023-03-01 00:00", 60.0, "music", 6.0),
            ("F", "2023-06-15 00:00", 100.0, "music", 10.0),
        ],
        columns=["customer_id", "ordered_at", "amount", "category", "margin"],
    )
    transactions["ordered_at"] = ts(*transactions["ordered_at"])
    events = pd.DataFrame(
        [
            ("B", "2024-03-31 12:00", "complaint", None),
            ("B", "2024-03-02 00:00", "complaint", None),  # exactly T-30: inside 30d
            ("B", "2024-03-01 23:59:59", "support_ticket", None),  # 1 s before T-30: outside 30d
            ("B", "2024-04-01 00:00", "complaint", None),  # exactly T: not seen
            ("B", "2024-02-15 00:00", "survey", 2.0),
            ("B", "2024-03-20 00:00", "survey", 4.0),
            ("B", "2023-12-01 00:00", "survey", 5.0),  # in [T-180, T-90)
            ("B", "2024-03-25 00:00", "chat", None),  # not a contract type -> other
        ],
        columns=["customer_id", "occurred_at", "event_type", "value"],
    )
    events["occurred_at"] = ts(*events["occurred_at"])
    return write_contract(tmp_path_factory.mktemp("tiny"), customers, transactions, events)


@pytest.fixture(scope="module")
def tiny_features(tiny) -> pd.DataFrame:
    return features_at(tiny, [T]).set_index("customer_id")


def test_population_is_customers_seen_before_the_cutoff(tiny_features):
    # D signs up and buys only after T; C signs up after T but bought before it.
    assert sorted(tiny_features.index) == ["A", "B", "C", "E", "F"]


def test_rfm_by_hand(tiny_features):
    a = tiny_features.loc["A"]
    assert a.is_prospect == 0
    assert a.tenure_days == pytest.approx(121 + 14 / 24)  # 2023-12-01 10:00 -> 2024-04-01
    assert (a.orders_all, a.frequency) == (3, 2)  # two rows on 01-10 are one order
    assert a.revenue_all == pytest.approx(50 + 30 + 40 - 20 + 10)
    assert (a.recency_days, a.age_days, a.btyd_recency_days) == (1, 82, 81)
    assert (a.orders_30d, a.revenue_30d) == (1, pytest.approx(-20 + 10))  # 03-02 return, 03-31
    assert (a.orders_90d, a.revenue_90d) == (3, pytest.approx(110))
    assert a.avg_order_value == pytest.approx((80 + 40 + 10) / 3)
    assert a.first_order_value == pytest.approx(80)
    assert (a.mean_gap_days, a.std_gap_days) == (pytest.approx(40.5), pytest.approx(0.5))  # 41, 40
    assert a.recency_ratio == pytest.approx(1 / 40.5)
    assert (a.orders_trend_90d, a.revenue_trend_90d) == (3, pytest.approx(110))
    assert a.returns_share == pytest.approx(20 / 130)
    assert a.category_breadth == 2  # books, music (the null category and the return don't count)

    f = tiny_features.loc["F"]
    assert f.tenure_days == 397  # from the first purchase, before signup
    assert (f.orders_all, f.frequency, f.recency_days, f.age_days) == (2, 1, 291, 397)
    assert (f.orders_365d, f.revenue_365d, f.orders_180d) == (1, 100, 0)
    assert (f.mean_gap_days, f.std_gap_days) == (106, 0)  # one gap: std 0
    assert (f.orders_trend_90d, f.first_order_value, f.avg_order_value) == (0, 60, 80)

    c = tiny_features.loc["C"]
    assert c.tenure_days == pytest.approx(16 + 14 / 24)  # from the 03-15 10:00 purchase
    assert (c.orders_all, c.recency_days, c.age_days, c.btyd_recency_days) == (1, 17, 17, 0)
    assert np.isnan(c.mean_gap_days) and np.isnan(c.std_gap_days) and np.isnan(c.recency_ratio)


def test_a_discount_line_is_part_of_its_days_purchase_not_a_return(tmp_path):
    """A till writes a loyalty discount as a negative line of the receipt: it lowers that day's
    purchase, and the returns share counts only negative rows of days without a purchase above
    0 (a café's discounts read 'returned 2% of purchases by value')."""
    customers = pd.DataFrame({"customer_id": ["G"], "signup_at": ts("2024-01-01")})
    transactions = pd.DataFrame(
        [
            ("G", "2024-01-10 09:00", 4.0),  # coffee and croissant, 0.50 off
            ("G", "2024-01-10 09:00", 3.0),
            ("G", "2024-01-10 09:01", -0.5),
            ("G", "2024-02-10 09:00", 5.0),  # a return of 2.00 on a later day: a return
            ("G", "2024-02-12 12:00", -2.0),
            ("G", "2024-03-01 10:00", 1.0),  # an exchange: 1.00 bought, 6.00 returned that day
            ("G", "2024-03-01 10:05", -6.0),
        ],
        columns=["customer_id", "ordered_at", "amount"],
    )
    transactions["ordered_at"] = ts(*transactions["ordered_at"])
    g = features_at(write_contract(tmp_path, customers, transactions), [T]).iloc[0]
    assert g.orders_all == 3
    assert g.first_order_value == pytest.approx(6.5)
    assert g.avg_order_value == pytest.approx((6.5 + 5.0 + 1.0) / 3)
    assert g.revenue_all == pytest.approx(4.5)
    assert g.returns_share == pytest.approx(8.0 / 12.5)


def test_a_seasonal_silence_is_measured_against_the_same_date_a_year_ago(tmp_path):
    """A beach bar orders from May to September: on 2025-01-03 it has been silent 97 days, as
    it had been 365 days before, on 2024-01-04 (98 days, since 2023-09-28), and that year it
    ordered again on 2024-05-02, 119 days later. A new customer has no year ago; one silent
    since before the year has no return."""
    customers = pd.DataFrame(
        {"customer_id": ["bar", "new", "gone"], "signup_at": ts(*["2023-01-01"] * 3)}
    )
    rows = [("bar", d, 100.0) for d in ("2023-05-10", "2023-09-28", "2024-05-02", "2024-09-28")]
    rows += [("new", "2024-11-01 10:00", 50.0), ("gone", "2023-06-01", 80.0)]
    transactions = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])
    transactions["ordered_at"] = ts(*transactions["ordered_at"])
    f = features_at(write_contract(tmp_path, customers, transactions), ["2025-01-03"])
    f = f.set_index("customer_id")
    assert f.loc["bar", "recency_days"] == 97
    assert (f.loc["bar", "year_ago_recency_days"], f.loc["bar", "year_ago_return_days"]) == (
        98,
        119,
    )
    assert (
        np.isnan(f.loc["new", "year_ago_recency_days"])
        and f.loc["new", "year_ago_return_days"] == 302
    )
    assert f.loc["gone", "year_ago_recency_days"] == 217 and np.isnan(
        f.loc["gone", "year_ago_return_days"]
    )


def test_prospects_by_hand(tiny_features):
    b = tiny_features.loc["B"]  # no transactions at all
    assert (b.is_prospect, b.tenure_days, b.orders_all, b.revenue_all, b.frequency) == (
        1,
        442,
        0,
        0,
        0,
    )
    for column in (
        "recency_days",
        "age_days",
        "btyd_recency_days",
        "avg_order_value",
        "first_order_value",
        "mean_gap_days",
        "std_gap_days",
        "recency_ratio",
    ):
        assert np.isnan(b[column]), column
    assert (b.orders_365d, b.revenue_365d, b.orders_trend_90d, b.returns_share) == (0, 0, 0, 0)
    assert b.category_breadth == 0

    e = tiny_features.loc["E"]  # only a return
    assert (e.is_prospect, e.orders_all, e.revenue_all, e.revenue_90d) == (1, 0, -15, -15)
    assert np.isnan(e.returns_share)  # returns but nothing bought
    assert e.category_breadth == 0


def test_engagement_by_hand(tiny_features):
    b = tiny_features.loc["B"]
    assert (b.complaint_30d, b.complaint_365d) == (2, 2)  # the one at T is not seen
    assert (b.support_ticket_30d, b.support_ticket_90d) == (0, 1)
    assert (b.survey_30d, b.survey_90d, b.survey_365d) == (1, 2, 3)
    assert (b.other_30d, b.visit_365d) == (1, 0)
    assert b.events_all == 7
    assert b.days_since_last_event == pytest.approx(0.5)
    assert b.satisfaction_mean_180d == pytest.approx((5 + 2 + 4) / 3)
    assert b.satisfaction_trend_90d == pytest.approx((2 + 4) / 2 - 5)
    assert b.engagement_trend_30d == 4 - 2  # [T-30,T): 4 events; [T-60,T-30): ticket, survey

    a = tiny_features.loc["A"]  # no events
    assert (a.events_all, a.complaint_30d, a.engagement_trend_30d) == (0, 0, 0)
    assert np.isnan(a.days_since_last_event) and np.isnan(a.satisfaction_mean_180d)


def test_static_attributes_stay_strings(tiny_features):
    assert tiny_features.loc["A", "region"] == "north"
    assert tiny_features.loc["F", "segment"] == "silver"
    assert pd.isna(tiny_features.loc["C", "region"])
    assert tiny_features["channel"].isna().all()  # no such column in customers
    assert pd.api.types.is_string_dtype(tiny_features["region"])


def test_labels_by_hand(tiny):
    labels = label_table(connect(tiny), [T], 30).to_pandas().set_index("customer_id")
    assert sorted(labels.index) == ["A", "B", "C", "E", "F"]
    assert labels.loc["A"].tolist()[1:] == [0, 1, 999.0]  # the purchase exactly at T counts
    assert labels.loc["C"].tolist()[1:] == [0, 1, 5.0]  # 04-30 23:59 in, 05-01 00:00 out
    assert labels.loc["F"].tolist()[1:] == [1, 0, 0.0]
    assert pd.isna(labels.loc["B", "churned"]) and pd.isna(labels.loc["E", "churned"])

    discounted = label_table(connect(tiny), [T], 30, annual_discount_rate=0.1).to_pandas()
    discounted = discounted.set_index("customer_id").future_value
    assert discounted["A"] == pytest.approx(999.0)
    assert discounted["C"] == pytest.approx(5 * math.exp(-0.1 * (29 + 1439 / 1440) / 365))

    margin = label_table(connect(tiny), [T], 30, value="margin").to_pandas()
    assert margin.set_index("customer_id").future_value[["A", "C"]].tolist() == [100.0, 1.5]


def test_build_snapshots_joins_and_sorts(tiny):
    with pytest.warns(UserWarning, match="right-censored"):
        frame = build_snapshots(tiny, ["2024-04-01", "2024-03-01"], horizon_days=60, progress=False)
    assert list(frame.columns) == ["customer_id", "cutoff", *feature_columns(), *LABEL_COLUMNS]
    assert frame["cutoff"].is_monotonic_increasing
    assert frame.groupby("cutoff")["customer_id"].apply(lambda s: s.is_monotonic_increasing).all()
    assert str(frame["churned"].dtype) == "Int8"


def assert_file_is_frame(path: Path, frame: pd.DataFrame) -> None:
    """The feature file holds the frame: same columns, types, rows and order; floats within the
    last rounding step (DuckDB and pandas round a half at the ninth decimal differently)."""
    written = pd.read_parquet(path)
    assert list(written.columns) == list(frame.columns)
    assert written.dtypes.to_dict() == frame.dtypes.to_dict()
    assert len(written) == len(frame) > 0
    floats = [c for c, t in frame.dtypes.items() if t == "float64"]
    pd.testing.assert_frame_equal(written.drop(columns=floats), frame.drop(columns=floats))
    np.testing.assert_allclose(written[floats], frame[floats], rtol=0, atol=2e-9)


def test_feature_file_is_the_frame_streamed_in_batches(random_data, tmp_path, monkeypatch):
    data = random_data[0]
    cutoffs = ["2020-06-01", "2020-09-01", "2021-01-01"]
    frame = build_snapshots(data, cutoffs, horizon_days=60, progress=False)
    monkeypatch.setattr(snapshots, "WRITE_BATCH_ROWS", 7)  # many batches
    out = tmp_path / "deep" / "features.parquet"
    written = write_snapshots(None, data, cutoffs, out, horizon_days=60, progress=False)
    assert (written.rows, written.columns) == frame.shape
    assert_file_is_frame(out, frame)
    assert frame["churned"].isna().any()  # nulls survive: Int8 read back as Int8
    assert frame.select_dtypes("float64").isna().any().any()


def test_a_cutoff_before_any_customer_writes_an_empty_file_of_the_same_types(random_data, tmp_path):
    data, out = random_data[0], tmp_path / "features.parquet"
    frame = build_snapshots(data, ["2000-01-01"], horizon_days=60, progress=False)
    written = write_snapshots(None, data, ["2000-01-01"], out, horizon_days=60, progress=False)
    assert written.rows == 0 and len(frame) == 0
    empty = pd.read_parquet(out)
    assert list(empty.columns) == list(frame.columns)
    assert empty.dtypes.to_dict() == frame.dtypes.to_dict()


def test_a_failed_feature_write_keeps_the_previous_file(random_data, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    data, out = random_data[0], tmp_path / "features.parquet"
    write_snapshots(None, data, ["2020-06-01"], out, progress=False)
    before = out.read_bytes()

    def disk_full(self, batch):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_snapshots(None, data, ["2020-09-01"], out, progress=False)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["features.parquet"]  # no temporary file left


KILLED_WRITER = """
import sys, time
import pyarrow.parquet as pq
from features import snapshots
snapshots.WRITE_BATCH_ROWS = 5
write = pq.ParquetWriter.write_batch
def slow(self, batch):
    write(self, batch)
    print("batch", flush=True)
    time.sleep(0.2)
pq.ParquetWriter.write_batch = slow
snapshots.write_snapshots(None, sys.argv[1], ["2020-09-01"], sys.argv[2], progress=False)
"""


def test_kill_9_mid_write_leaves_the_previous_file_and_the_next_write_cleans_up(
    random_data, tmp_path
):
    data, out = random_data[0], tmp_path / "features.parquet"
    write_snapshots(None, data, ["2020-06-01"], out, progress=False)
    before = out.read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(data), str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline() == "batch\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert out.read_bytes() == before
    assert len(list(tmp_path.glob(".features.parquet.*.partial"))) == 1  # the killed writer's
    again = write_snapshots(None, data, ["2020-09-01"], out, progress=False)
    assert again.rows == len(pd.read_parquet(out)) and not list(tmp_path.glob("*.partial"))


def test_two_writes_at_once_leave_one_whole_file(random_data, tmp_path):
    data, out = random_data[0], tmp_path / "features.parquet"
    frames = {c: build_snapshots(data, [c], progress=False) for c in ("2020-06-01", "2021-01-01")}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: write_snapshots(None, data, [c], out, progress=False), frames))
    written_cutoff = pd.read_parquet(out)["cutoff"].iloc[0].strftime("%Y-%m-%d")
    assert_file_is_frame(out, frames[written_cutoff])
    assert not list(tmp_path.glob("*.partial"))


def test_without_events_engagement_is_zero_or_null(tiny, tmp_path):
    for name in ("customers", "transactions"):
        (tmp_path / f"{name}.parquet").write_bytes(table_path(tiny, name).read_bytes())
    frame = features_at(tmp_path, [T]).set_index("customer_id")
    assert (frame[[f"complaint_{w}d" for w in (30, 90, 365)]] == 0).all().all()
    assert (frame[["events_all", "engagement_trend_30d"]] == 0).all().all()
    assert frame["days_since_last_event"].isna().all()
    assert frame["satisfaction_mean_180d"].isna().all()


def test_config_and_families(tiny):
    config = FeatureConfig(windows_days=(7,), event_windows_days=(14,), families=("rfm",))
    frame = features_at(tiny, [T], config)
    assert list(frame.columns) == ["customer_id", "cutoff", *feature_columns(config)]
    assert "orders_7d" in frame and "visit_14d" not in frame and "region" not in frame
    assert frame.set_index("customer_id").loc["A", "orders_7d"] == 1
    with pytest.raises(ValidationError):
        FeatureConfig(windows=(30,))
    with pytest.raises(ValidationError):
        FeatureConfig(families=("rfm", "bogus"))


def test_cutoffs_must_be_dates():
    assert normalize_cutoffs(["2024-02-01", pd.Timestamp("2024-01-01").date(), "2024-02-01"]) == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-02-01"),
    ]
    with pytest.raises(ValueError, match="midnight"):
        normalize_cutoffs(["2024-01-01 12:00"])


# --- 2. the fast code against the slow reference loop -------------------------------------------

REFERENCE_CUTOFFS = [
    pd.Timestamp("2021-01-01"),
    pd.Timestamp("2021-03-15"),
    pd.Timestamp("2021-07-01"),
]


def random_contract(seed: int, n_customers: int = 200) -> tuple[pd.DataFrame, ...]:
    """Random customers, transactions and events, with many rows on the edges that matter:
    same-day duplicates, returns, zero amounts, rows exactly at cutoffs and window starts."""
    rng = np.random.default_rng(seed)
    start, span = pd.Timestamp("2019-06-01"), 900.0
    ids = [f"c{i:04d}" for i in range(n_customers)]
    signup_at = start + pd.to_timedelta(rng.uniform(0, span, n_customers), unit="D")
    on_cutoff = rng.random(n_customers) < 0.05  # signing up exactly at a cutoff: not yet there
    signup_at = signup_at.where(~on_cutoff, rng.choice(REFERENCE_CUTOFFS, n_customers))
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": signup_at,
            "region": rng.choice(["north", "south", None], n_customers),
            "channel": rng.choice(["web", "store"], n_customers),
        }
    )
    edges = [
        c - pd.Timedelta(days=w) + pd.Timedelta(microseconds=e)
        for c in REFERENCE_CUTOFFS
        for w in (0, 30, 60, 90, 180, 365)
        for e in (-1, 0, 1)
    ]

    def times(n: int) -> pd.Series:
        random = start + pd.to_timedelta(rng.uniform(0, span, n), unit="D")
        on_edge = rng.random(n) < 0.2
        picked = pd.Series(rng.choice(np.array(edges, dtype="datetime64[us]"), n))
        return pd.Series(np.where(on_edge, picked, random)).astype("datetime64[us]")

    n_tx = 2500
    transactions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids[: int(n_customers * 0.8)], n_tx),  # 20% never buy
            "ordered_at": times(n_tx),
            "amount": np.round(rng.lognormal(3, 1, n_tx), 2),
            "category": rng.choice(["a", "b", "c", "d", None], n_tx),
            "margin": np.where(rng.random(n_tx) < 0.1, np.nan, rng.uniform(0, 20, n_tx)),
        }
    )
    transactions.loc[rng.random(n_tx) < 0.12, "amount"] *= -1  # returns
    transactions.loc[rng.random(n_tx) < 0.03, "amount"] = 0.0
    same_day = transactions.sample(300, random_state=seed).copy()
    same_day["ordered_at"] = same_day["ordered_at"].dt.normalize() + pd.Timedelta(hours=23)
    transactions = pd.concat([transactions, same_day], ignore_index=True)

    n_ev = 3000
    events = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_ev),
            "occurred_at": times(n_ev),
            "event_type": rng.choice([*EVENT_TYPES, "chat", "survey"], n_ev),
            "value": np.where(rng.random(n_ev) < 0.3, np.nan, rng.integers(1, 6, n_ev)),
        }
    )
    # a term paid ahead on some payments (a contract's end): days to a few years after them
    term = rng.choice([np.nan, np.nan, 30, 200, 400, 1100], len(transactions))
    ends = transactions["ordered_at"] + pd.to_timedelta(term, unit="D")
    transactions["covers_until"] = ends.astype("datetime64[us]")
    # a daily aggregate's rows: most blank (one event), some several, a few none
    counts = rng.choice([np.nan, np.nan, np.nan, 1, 2, 3, 7, 0], n_ev)
    events["event_count"] = counts
    return customers, transactions, events


@pytest.fixture(scope="module")
def random_data(tmp_path_factory):
    customers, transactions, events = random_contract(seed=7)
    path = write_contract(tmp_path_factory.mktemp("random"), customers, transactions, events)
    return path, customers, transactions, events


def test_features_match_the_reference_loop(random_data):
    path, customers, transactions, events = random_data
    fast = features_at(path, REFERENCE_CUTOFFS)
    slow = reference_features(customers, transactions, events, REFERENCE_CUTOFFS)
    assert list(fast.columns) == ["customer_id", "cutoff", *feature_columns()]
    assert fast["is_prospect"].sum() > 20 and fast["orders_all"].max() > 10  # a varied sample
    assert_same(fast, slow, feature_columns())


def test_one_cutoff_at_a_time_equals_stacked(random_data):
    path = random_data[0]
    stacked = features_at(path, REFERENCE_CUTOFFS)
    single = pd.concat([features_at(path, [c]) for c in REFERENCE_CUTOFFS], ignore_index=True)
    assert_same(stacked, single, feature_columns())


# Cutoffs whose window starts fall exactly on other cutoffs (T - 30 days, T - 60, ...): the
# events are summed per interval between cutoffs and window starts, so coinciding ends matter.
MEETING_CUTOFFS = [
    REFERENCE_CUTOFFS[0] + pd.Timedelta(days=d) for d in (0, 14, 30, 60, 90, 180, 194, 365)
]


@pytest.mark.parametrize(
    "config",
    [DEFAULT_CONFIG, FeatureConfig(windows_days=(14, 30), event_windows_days=(14, 30, 400))],
)
def test_cutoffs_whose_windows_meet_match_the_reference_loop(random_data, config):
    path, customers, transactions, events = random_data
    fast = features_at(path, MEETING_CUTOFFS, config)
    slow = reference_features(customers, transactions, events, MEETING_CUTOFFS, config)
    assert_same(fast, slow, feature_columns(config))


@pytest.mark.parametrize("families", [("static",), ("engagement",), ("rfm", "engagement")])
def test_feature_families_alone_match_the_reference_loop(random_data, families):
    # Without the RFM family the population still needs each customer's first transaction.
    path, customers, transactions, events = random_data
    config = FeatureConfig(families=families)
    fast = features_at(path, REFERENCE_CUTOFFS, config)
    slow = reference_features(customers, transactions, events, REFERENCE_CUTOFFS, config)
    assert_same(fast, slow, feature_columns(config))


@pytest.mark.parametrize("n_ends", [1, 2, 3, 4, 5, 8, 13])
def test_interval_end_is_the_first_end_after_the_time(n_ends):
    from features.definitions import interval_end

    ends = [pd.Timestamp("2024-01-01") + pd.Timedelta(days=3 * i) for i in range(n_ends)]
    times = sorted(
        {e + pd.Timedelta(microseconds=u) for e in ends for u in (-1, 0, 1)}
        | {ends[0] - pd.Timedelta(days=400)}
    )
    times = [t for t in times if t < ends[-1]]
    table = ibis.memtable(pd.DataFrame({"t": pd.Series(times).astype("datetime64[us]")}))
    ends_py = [e.to_pydatetime() for e in ends]
    got = table.select(end=interval_end(table.t, ends_py)).to_pandas()["end"].tolist()
    assert got == [next(e for e in ends if e > t) for t in times]


@pytest.mark.parametrize(("value", "rate"), [("revenue", 0.0), ("margin", 0.15)])
def test_labels_match_the_reference_loop(random_data, value, rate):
    path, customers, transactions, _ = random_data
    fast = label_table(
        connect(path), REFERENCE_CUTOFFS, 90, value=value, annual_discount_rate=rate
    ).to_pandas()
    column = {"revenue": "amount", "margin": "margin"}[value]
    slow = reference_labels(customers, transactions, REFERENCE_CUTOFFS, 90, column, rate)
    assert_same(fast, slow, list(LABEL_COLUMNS))


# --- 3. property: rows at or after T change no feature at T -------------------------------------

# Offsets from T in microseconds: exactly T and the next microsecond are the likeliest leaks.
_offset = st.one_of(st.sampled_from([0, 1]), st.integers(0, 400 * 86_400 * 10**6))
_late_transaction = st.tuples(
    st.integers(0, 29),
    _offset,
    st.floats(-500, 500, allow_nan=False),
    st.sampled_from(["a", "b", "new", None]),
)
_late_event = st.tuples(
    st.integers(0, 29),
    _offset,
    st.sampled_from([*EVENT_TYPES, "chat"]),
    st.one_of(st.none(), st.floats(1, 5)),
)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    customers, transactions, events = random_contract(seed=11, n_customers=30)
    base = write_contract(tmp_path_factory.mktemp("base"), customers, transactions, events)
    return customers, transactions, events, at_property_cutoff(features_at(base, PROPERTY_CUTOFFS))


# Features at T are computed stacked with a later cutoff: late rows legitimately change the
# later snapshot, and must not leak into the one at T through the stacking join.
T_PROPERTY = pd.Timestamp("2021-03-15")
PROPERTY_CUTOFFS = [T_PROPERTY, T_PROPERTY + pd.Timedelta(days=90)]


def at_property_cutoff(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["cutoff"] == T_PROPERTY]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(late_tx=st.lists(_late_transaction, max_size=15), late_ev=st.lists(_late_event, max_size=15))
def test_rows_at_or_after_the_cutoff_change_nothing(small_data, tmp_path_factory, late_tx, late_ev):
    customers, transactions, events, before = small_data
    ids = customers["customer_id"]
    extra_tx = pd.DataFrame(
        {
            "customer_id": [ids[i] for i, *_ in late_tx],
            "ordered_at": [T_PROPERTY + pd.Timedelta(microseconds=u) for _, u, *_ in late_tx],
            "amount": [a for *_, a, _ in late_tx],
            "category": [c for *_, c in late_tx],
        }
    )
    extra_ev = pd.DataFrame(
        {
            "customer_id": [ids[i] for i, *_ in late_ev],
            "occurred_at": [T_PROPERTY + pd.Timedelta(microseconds=u) for _, u, *_ in late_ev],
            "event_type": [e for *_, e, _ in late_ev],
            "value": [v for *_, v in late_ev],
        }
    )
    after = write_contract(
        tmp_path_factory.mktemp("late"),
        customers,
        pd.concat(
            [transactions, extra_tx.astype({"ordered_at": "datetime64[us]"})], ignore_index=True
        ),
        pd.concat(
            [events, extra_ev.astype({"occurred_at": "datetime64[us]", "value": "float64"})],
            ignore_index=True,
        ),
    )
    assert_same(at_property_cutoff(features_at(after, PROPERTY_CUTOFFS)), before, feature_columns())


# --- 4. real data: CDNOW customers checked by hand ----------------------------------------------
# The classic calibration period is 1997-01-01 .. 1997-09-30 *inclusive*, so the cutoff is
# 1997-10-01 (features see rows < 1997-10-01). Day numbers in 1997: Jan 2 = 2, Jan 12 = 12,
# Apr 2 = 92, Sep 24 = 267, Sep 30 = 273, Oct 1 = 274. Note age_days (T - first purchase) is the
# BTYD ``T`` measured to the cutoff midnight: one more than ``lifetimes``' T measured to 09-30.


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory) -> Path:
    if not CDNOW.exists():
        pytest.skip(f"{CDNOW} is not available")
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    transactions = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
            "quantity": raw["number_of_cds"].astype(float),
        }
    )
    customers = (
        transactions.groupby("customer_id", as_index=False)["ordered_at"]
        .min()
        .rename(columns={"ordered_at": "signup_at"})
    )
    return write_contract(tmp_path_factory.mktemp("cdnow"), customers, transactions)


def test_cdnow_customers_by_hand(cdnow):
    frame = features_at(cdnow, ["1997-10-01"]).set_index("customer_id")
    assert len(frame) == 23_570  # the whole 1997-Q1 cohort exists at the cutoff
    columns = ["orders_all", "frequency", "recency_days", "age_days", "btyd_recency_days"]

    # 00002: 19970112 1 12.00 / 19970112 5 77.00 -> one purchase day worth 89.00.
    # recency = age = 274 - 12 = 262; t_x = 0.
    assert frame.loc["00002", columns].tolist() == [1, 0, 262, 262, 0]
    assert frame.loc["00002", "first_order_value"] == pytest.approx(12.00 + 77.00)

    # 00003: 19970102 20.76 / 19970330 20.76 / 19970402 19.54 / then 19971115 .. (after T).
    # x = 2; recency = 274 - 92 = 182; age = 274 - 2 = 272; t_x = 92 - 2 = 90.
    assert frame.loc["00003", columns].tolist() == [3, 2, 182, 272, 90]
    assert frame.loc["00003", "revenue_all"] == pytest.approx(20.76 + 20.76 + 19.54)

    # 00499: 0102, 0118, 0216, 0919 (2 rows), 0921 (2 rows), 0924 -> 6 purchase days; its 11
    # rows on 19971001 are at the cutoff and not seen. x = 5; recency = 274 - 267 = 7;
    # age = 272; t_x = 267 - 2 = 265; revenue = 61.05 + 63.65 + 123.93 + 159.35 + 24.98
    # + 84.93 + 23.48 + 40.47 = 581.84.
    assert frame.loc["00499", columns].tolist() == [6, 5, 7, 272, 265]
    assert frame.loc["00499", "revenue_all"] == pytest.approx(581.84)

    # 00586: 28 purchase days from 19970103 to 19970930 (the last calibration day is seen).
    # x = 27; recency = 274 - 273 = 1; age = 274 - 3 = 271; t_x = 273 - 3 = 270.
    assert frame.loc["00586", columns].tolist() == [28, 27, 1, 271, 270]

    # 00455: a single $0.00 row on 19970102 -> no purchase day: a prospect (tenure 272 days).
    assert frame.loc["00455", "is_prospect"] == 1 and frame.loc["00455", "orders_all"] == 0
    assert frame.loc["00455", "tenure_days"] == 272 and np.isnan(frame.loc["00455", "age_days"])


def test_cdnow_holdout_labels_by_hand(cdnow):
    # Holdout 1997-10-01 .. 1998-06-30 = 273 days (Oct 31 + Nov 30 + Dec 31 + Jan 31 + Feb 28
    # + Mar 31 + Apr 30 + May 31 + Jun 30).
    labels = label_table(connect(cdnow), ["1997-10-01"], 273).to_pandas().set_index("customer_id")
    # 00003 buys on 19971115, 19971125, 19980528 (16.99): 3 days, 57.45 + 20.96 + 16.99.
    assert labels.loc["00003", ["churned", "future_orders"]].tolist() == [0, 3]
    assert labels.loc["00003", "future_value"] == pytest.approx(57.45 + 20.96 + 16.99)
    # 00002 never buys again.
    assert labels.loc["00002", ["churned", "future_orders", "future_value"]].tolist() == [1, 0, 0]


def test_bad_contract_tables_are_named(tiny, tmp_path):
    customers = pd.read_parquet(table_path(tiny, "customers"))
    transactions = pd.read_parquet(table_path(tiny, "transactions"))
    twice = write_contract(
        tmp_path / "twice", pd.concat([customers, customers.head(1)]), transactions
    )
    with pytest.raises(ValueError, match=r"customers.parquet: column 'customer_id' must be unique"):
        connect(twice)
    path = write_contract(tmp_path / "text", customers, transactions)
    text_dates = transactions.assign(ordered_at=transactions["ordered_at"].astype(str))
    text_dates.to_parquet(table_path(path, "transactions"))
    with pytest.raises(ValueError, match=r"transactions.parquet: column 'ordered_at' must be a"):
        connect(path)
    path = write_contract(tmp_path / "no_amount", customers, transactions.drop(columns="amount"))
    with pytest.raises(ValueError, match=r"transactions.parquet: column 'amount' is missing"):
        connect(path)
