"""Synthetic CRM generator: contract schema, determinism, ground truth and the behaviour it
promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.integrate import quad

from features.contract import (
    CONTACT_FLAGS,
    CONTRACT,
    COVERS_UNTIL,
    ENDED_AT,
    EVENT_COUNT,
    RETURNED_AT,
    TABLES,
    table_path,
)
from features.synthetic import generate, true_alive, true_churn_probability
from features.synthetic_params import seasonal_factor, seasonal_integral

START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")
N_CUSTOMERS = 2_000
ARROW_TYPE = {"string": pa.string(), "timestamp": pa.timestamp("us"), "float": pa.float64()}
ENGAGEMENT = ["visit", "login", "email_open", "email_click"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, N_CUSTOMERS, seed=11, chunk_size=700, progress=False)
    return out


@pytest.fixture(scope="module")
def tables(data_dir) -> dict[str, pd.DataFrame]:
    names = [*TABLES, "truth"]
    return {name: pd.read_parquet(data_dir / f"{name}.parquet") for name in names}


@pytest.fixture(scope="module")
def purchases(tables) -> pd.DataFrame:
    tx = tables["transactions"]
    return tx[tx["amount"] > 0]


def _with_truth(frame: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    return frame.merge(truth, on="customer_id", how="left", validate="many_to_one")


# --- contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_tables_match_the_contract_schema(data_dir, table):
    """Every contract column but ``ended_at`` and ``returned_at``, the contact flags,
    ``covers_until`` and ``event_count``: the generated shop's customers leave without telling
    (no cancellation date, so no return after one), as a shop's do, its CRM keeps no contact
    flags, its sales cover no term ahead and its events are one row each (all optional: features
    and scores read their absence as none, or as one event a row)."""
    schema = pq.read_schema(table_path(data_dir, table))
    unwritten = (ENDED_AT, RETURNED_AT, *CONTACT_FLAGS, EVENT_COUNT, COVERS_UNTIL)
    written = [c for c in CONTRACT[table] if c.name not in unwritten]
    assert schema.names == [c.name for c in written]
    for column in written:
        assert schema.field(column.name).type == ARROW_TYPE[column.dtype], column.name


def test_required_columns_have_no_nulls_and_ids_are_unique(tables):
    for table in TABLES:
        required = [c.name for c in CONTRACT[table] if c.required]
        assert not tables[table][required].isna().any().any(), table
    assert tables["customers"]["customer_id"].is_unique
    assert tables["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert tables["transactions"]["order_id"].is_unique


def test_summary_and_manifest_count_the_rows(tmp_path, tables, data_dir):
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["n_customers"] == N_CUSTOMERS
    assert manifest["rows"] == {name: len(frame) for name, frame in tables.items()}
    summary = generate(tmp_path, 50, seed=1, progress=False)
    assert summary.rows["customers"] == summary.rows["truth"] == 50
    assert summary.to_dict()["paths"]["events"] == str(tmp_path / "events.parquet")


def test_rows_refer_to_existing_customers_and_lie_in_the_period(tables):
    known = set(tables["customers"]["customer_id"])
    for table, column in (
        ("customers", "signup_at"),
        ("transactions", "ordered_at"),
        ("events", "occurred_at"),
    ):
        frame = tables[table]
        assert set(frame["customer_id"]) <= known, table
        assert frame[column].between(START, END, inclusive="left").all(), table


def test_nothing_happens_before_signup(tables):
    signup = tables["customers"].set_index("customer_id")["signup_at"]
    for table, column in (("transactions", "ordered_at"), ("events", "occurred_at")):
        frame = tables[table]
        assert (
            frame[column].to_numpy() >= signup.reindex(frame["customer_id"]).to_numpy()
        ).all(), table


def test_deterministic_by_seed(tmp_path):
    def frames(seed: int, name: str) -> dict[str, pd.DataFrame]:
        generate(tmp_path / name, 300, seed=seed, chunk_size=120, progress=False)
        return {t: pd.read_parquet(tmp_path / name / f"{t}.parquet") for t in [*TABLES, "truth"]}

    first, again, other = frames(3, "a"), frames(3, "b"), frames(4, "c")
    for table in first:
        pd.testing.assert_frame_equal(first[table], again[table])
    assert not first["transactions"].equals(other["transactions"])


def test_an_interrupted_run_leaves_the_previous_data_set(tmp_path, monkeypatch):
    """Tables were written in place chunk by chunk: Ctrl-C left empty tables that read as a data
    set ("nothing was accepted at ingest"). They are written aside and renamed at the end."""
    import features.synthetic as synthetic

    out = tmp_path / "data"
    generate(out, 300, 1, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = synthetic.draw_events, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second chunk
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "draw_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(out, 600, 2, chunk_size=300, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no partial file either


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_customers"):
        generate(tmp_path, 0, progress=False)
    with pytest.raises(ValueError, match="end"):
        generate(tmp_path, 10, start="2024-01-01", end="2023-01-01", progress=False)


# --- population ---------------------------------------------------------------------------------


def test_acquisition_grows_and_attributes_are_mixed(tables):
    customers = tables["customers"]
    per_year = customers["signup_at"].dt.year.value_counts()
    assert per_year[2025] > 1.5 * per_year[2023]
    assert set(customers["region"]) == {"north", "south", "east", "west"}
    assert set(customers["channel"]) == {"web", "store", "app", "partner"}
    assert set(customers["segment"]) == {"consumer", "smb", "enterprise"}


def test_prospects_never_buy_but_some_engage(tables):
    truth = tables["truth"]
    prospects = set(truth.loc[truth["is_prospect"], "customer_id"])
    assert 0.12 < len(prospects) / len(truth) < 0.28
    assert not prospects & set(tables["transactions"]["customer_id"])
    events = tables["events"]
    prospect_events = events[events["customer_id"].isin(prospects)]
    assert set(prospect_events["event_type"]) <= {"visit", "email_open"}
    assert 0 < len(prospect_events) / len(prospects) < 20


def test_spend_margin_and_returns_are_plausible(tables, purchases):
    tx = tables["transactions"]
    returns = tx[tx["amount"] < 0]
    assert 0.01 < len(returns) / len(purchases) < 0.08
    assert tx["category"].nunique() == 6
    priced = tx[tx["amount"].abs() >= 1.0]  # cents rounding distorts the rate below 1.00
    assert (priced["margin"] / priced["amount"]).between(0.0, 0.6).all()
    assert (returns["order_id"].str[1:].isin(purchases["order_id"].str[1:])).all()
    spend = purchases.groupby("customer_id")["amount"].mean()
    assert spend.quantile(0.9) > 3 * spend.quantile(0.1)  # heterogeneous spend


# --- dropout and engagement ---------------------------------------------------------------------


def test_purchases_run_from_first_purchase_until_dropout(purchases, tables):
    merged = _with_truth(purchases, tables["truth"])
    assert (merged["ordered_at"] < merged["dropout_at"]).all()
    assert (merged["ordered_at"] >= merged["first_purchase_at"]).all()
    first = merged.groupby("customer_id")["ordered_at"].min()
    expected = tables["truth"].set_index("customer_id")["first_purchase_at"].reindex(first.index)
    assert (first == expected).all()


def test_only_email_opens_after_dropout(tables):
    events = _with_truth(tables["events"], tables["truth"])
    after = events[events["occurred_at"] >= events["dropout_at"]]
    assert len(after) > 0
    assert set(after["event_type"]) == {"email_open"}


def _rates_before_dropout(tables) -> pd.DataFrame:
    """Per event type: events per customer-day in the last 60 days before dropout and earlier."""
    truth = tables["truth"]
    lifetime = truth["dropout_at"] - truth["first_purchase_at"]
    quitters = truth[(truth["dropout_at"] < END) & (lifetime > pd.Timedelta(days=240))]
    events = _with_truth(
        tables["events"][tables["events"]["customer_id"].isin(quitters["customer_id"])], truth
    )
    days_left = (events["dropout_at"] - events["occurred_at"]) / pd.Timedelta(days=1)
    late = events[days_left.between(0, 60, inclusive="right")]
    early = events[(days_left > 120) & (events["occurred_at"] >= events["first_purchase_at"])]
    early_days = (
        (quitters["dropout_at"] - quitters["first_purchase_at"]) / pd.Timedelta(days=1) - 120
    ).sum()
    return pd.DataFrame(
        {
            "late": late["event_type"].value_counts() / (60.0 * len(quitters)),
            "early": early["event_type"].value_counts() / early_days,
            "late_survey": late.groupby("event_type")["value"].mean(),
            "early_survey": early.groupby("event_type")["value"].mean(),
        }
    ).fillna(0.0)


def test_complaints_rise_and_engagement_fades_before_dropout(tables):
    rates = _rates_before_dropout(tables)
    assert rates.loc["complaint", "late"] > 3 * rates.loc["complaint", "early"]
    assert rates.loc["support_ticket", "late"] > 2 * rates.loc["support_ticket", "early"]
    engagement = rates.loc[ENGAGEMENT].sum()
    assert engagement["late"] < 0.7 * engagement["early"]
    assert rates.loc["survey", "late_survey"] < rates.loc["survey", "early_survey"] - 0.4


# --- ground truth -------------------------------------------------------------------------------


def test_seasonal_integral_matches_numeric_integration():
    begin, stop, amplitude = 19_700.3, 19_900.8, 0.4
    numeric, _ = quad(lambda t: seasonal_factor(t, amplitude), begin, stop, limit=200)
    assert seasonal_integral(np.array(begin), np.array(stop), amplitude) == pytest.approx(
        numeric, rel=1e-9
    )


def test_true_churn_probability_on_a_hand_made_truth():
    day = pd.Timedelta(days=1)
    cutoff = pd.Timestamp("2024-03-01")
    truth = pd.DataFrame(
        {
            "customer_id": ["alive", "leaves_in_10_days", "gone", "prospect", "not_yet_bought"],
            "signup_at": [cutoff - 100 * day] * 4 + [cutoff - 5 * day],
            "is_prospect": [False, False, False, True, False],
            "first_purchase_at": [cutoff - 90 * day] * 3 + [pd.NaT, cutoff + 2 * day],
            "purchase_rate_per_day": [0.02, 0.02, 0.02, 0.0, 0.02],
            "seasonal_amplitude": [0.0] * 5,
            "dropout_at": [
                cutoff + 1000 * day,
                cutoff + 10 * day,
                cutoff - day,
                pd.NaT,
                cutoff + 1000 * day,
            ],
        }
    )
    p = true_churn_probability(truth, cutoff, 30)
    assert p["alive"] == pytest.approx(np.exp(-0.02 * 30))
    assert p["leaves_in_10_days"] == pytest.approx(np.exp(-0.02 * 10))
    assert p["gone"] == 1.0
    assert np.isnan(p["prospect"]) and np.isnan(p["not_yet_bought"])
    alive = true_alive(truth, cutoff)
    assert alive.to_dict() == {
        "alive": True,
        "leaves_in_10_days": True,
        "gone": False,
        "prospect": False,
        "not_yet_bought": True,
    }
    assert not true_alive(truth, cutoff - 50 * day)["not_yet_bought"]


def test_true_churn_probability_is_one_after_dropout_and_inside_zero_one_while_alive(tables):
    truth = tables["truth"]
    cutoff = pd.Timestamp("2025-01-01")
    p = true_churn_probability(truth, cutoff, 90)
    buyers = (truth["first_purchase_at"] < cutoff).to_numpy()
    alive = true_alive(truth, cutoff).to_numpy()
    assert (p.to_numpy()[buyers & ~alive] == 1.0).all()
    alive_p = p.to_numpy()[buyers & alive]
    assert ((alive_p > 0) & (alive_p < 1)).all()
    assert p[truth["is_prospect"].to_numpy()].isna().all()


def test_true_churn_probability_is_calibrated_against_the_generated_labels(tables, purchases):
    """The calibration law: over many customers, mean(p) matches the observed churn rate."""
    horizon = pd.Timedelta(days=90)
    p_all, y_all = [], []
    for cutoff in pd.date_range("2023-07-01", "2025-07-01", freq="3MS"):
        p = true_churn_probability(tables["truth"], cutoff, 90).dropna()
        bought_before = set(purchases.loc[purchases["ordered_at"] < cutoff, "customer_id"])
        in_window = purchases["ordered_at"].between(cutoff, cutoff + horizon, inclusive="left")
        bought_in_window = set(purchases.loc[in_window, "customer_id"])
        assert set(p.index) == bought_before
        p_all.append(p.to_numpy())
        y_all.append(~p.index.isin(list(bought_in_window)))
    p, y = np.concatenate(p_all), np.concatenate(y_all)
    standard_error = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(p.mean() - y.mean()) < max(4 * standard_error, 0.01)
    for low, high in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):  # also within probability bands
        band = (p > low) & (p <= high)
        assert abs(p[band].mean() - y[band].mean()) < 0.04


def test_december_has_more_purchases_than_the_yearly_average(tables, purchases):
    """Repeat purchases per unit of base exposure (rate x alive days) by calendar month."""
    truth = tables["truth"].set_index("customer_id")
    repeat = purchases[
        purchases["ordered_at"]
        > truth["first_purchase_at"].reindex(purchases["customer_id"]).to_numpy()
    ]
    observed = repeat.groupby(repeat["ordered_at"].dt.month).size()
    buyers = truth[~truth["is_prospect"]]
    alive_from = buyers["first_purchase_at"].to_numpy()
    alive_to = np.minimum(buyers["dropout_at"].to_numpy(), np.datetime64(END))
    exposure = pd.Series(0.0, index=range(1, 13))
    for month_start in pd.date_range(START, END, freq="MS"):
        month_end = min(month_start + pd.offsets.MonthBegin(1), END)
        overlap = np.minimum(alive_to, np.datetime64(month_end)) - np.maximum(
            alive_from, np.datetime64(month_start)
        )
        days = np.clip(overlap / np.timedelta64(1, "D"), 0, None)
        exposure[month_start.month] += float(
            np.sum(days * buyers["purchase_rate_per_day"].to_numpy())
        )
    ratio = observed / exposure
    assert ratio[12] > 1.15 * ratio.mean()
    assert ratio[6] < ratio.mean()
