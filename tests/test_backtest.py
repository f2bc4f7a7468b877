"""The backtest: JSON schema, no label window reaching the cutoff, the horizon extension by hand."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.backtest import (
    METRIC_KEYS,
    BacktestResult,
    SplitRows,
    _level_shift,
    backtest,
    extend_churn_probability,
    extend_horizon,
    format_table,
    log_backtest_run,
    plan_backtest,
    train_horizon,
    write_result,
)
from training.config import ExperimentConfig, load_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SMALL_LGB = {
    "n_estimators": 15,
    "learning_rate": 0.2,
    "num_leaves": 4,
    "min_child_samples": 5,
    "early_stopping_rounds": 3,
    "n_jobs": 1,
}


def _config(**labels) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "name": "tiny",
            "snapshots": {"n_train": 3, "step_days": 14},
            "labels": {"churn_horizon_days": 91, "value_horizon_days": 91, **labels},
            "features": {"families": ["rfm", "btyd"]},
            "churn": {"calibration": "none", "params": SMALL_LGB},
            "clv": {"params": SMALL_LGB},
        }
    )


# --------------------------------------------------------------------------- by hand


def test_extend_horizon_by_hand():
    short = np.array([10.0, 4.0, 2.0, 6.0])
    btyd_short = np.array([5.0, 0.0, 2.0, 3.0])
    btyd_long = np.array([15.0, 3.0, 2.0, 4.5])
    # ratios 15/5 = 3, fallback 3 (no BTYD purchase expected over h), 2/2 = 1, 4.5/3 = 1.5
    np.testing.assert_allclose(
        extend_horizon(short, btyd_short, btyd_long, fallback_ratio=3.0), [30.0, 12.0, 2.0, 9.0]
    )


def test_extend_churn_probability_keeps_the_log_odds_shift():
    p_short = np.array([0.5, 0.75, 0.2])
    btyd_short = np.array([0.5, 0.5, 0.5])
    btyd_long = np.array([0.8, 0.5, 0.2])
    # shifts: 0, log 3, log 1/4; applied to logit 0.8 = log 4, 0, log 1/4
    np.testing.assert_allclose(
        extend_churn_probability(p_short, btyd_short, btyd_long), [0.8, 0.75, 1 / 17], rtol=1e-9
    )


def test_level_shift_reproduces_each_snapshots_total_and_rate():
    groups = np.array(["a", "a", "b", "b", "b"])
    base = np.log(np.array([1.0, 3.0, 2.0, 2.0, 4.0]))
    value = np.array([2.0, 6.0, 0.0, 1.0, 3.0])  # totals: a 8 vs 4 (x2), b 4 vs 8 (x0.5)
    shifted = _level_shift(base, groups, value, "value")
    np.testing.assert_allclose(np.exp(shifted), [2.0, 6.0, 1.0, 1.0, 2.0])
    churned = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    logits = np.array([0.0, 0.5, -1.0, 0.0, 1.0])
    out = _level_shift(logits, groups, churned, "churn")
    for g in ("a", "b"):
        idx = groups == g
        assert (1 / (1 + np.exp(-out[idx]))).mean() == pytest.approx(churned[idx].mean(), abs=1e-6)
        np.testing.assert_allclose(
            np.diff(out[idx]), np.diff(logits[idx])
        )  # one constant per snapshot


def test_train_horizon_is_a_third_of_h_in_weeks_capped_by_config_and_history():
    cfg = load_config(EXPERIMENTS / "cdnow.yaml")
    assert train_horizon(cfg, 273, 273) == 91  # CDNOW: 1997-01-01 .. 1997-10-01
    assert train_horizon(cfg, 91, 182) == 28  # pseudo-backtest at 1997-07-02
    assert train_horizon(cfg, 600, 1000) == 91  # capped by labels.value_horizon_days
    assert train_horizon(cfg, 273, 140) == 28  # room for train + valid windows after 84 days


def test_cdnow_plan_by_hand():
    cfg = load_config(EXPERIMENTS / "cdnow.yaml")
    plan = plan_backtest(date(1997, 1, 1), date(1997, 10, 1), 273, cfg)
    assert plan.train_horizon_days == 91
    assert plan.select.valid == date(1997, 7, 2)
    assert plan.select.train == (date(1997, 3, 26), date(1997, 4, 2))
    assert plan.refit == tuple(date(1997, 3, 26) + timedelta(days=7 * i) for i in range(15))
    assert plan.refit[-1] == plan.select.valid


@settings(max_examples=150, deadline=None)
@given(
    history=st.integers(120, 1500),
    horizon=st.integers(14, 400),
    step=st.integers(1, 60),
    n_train=st.integers(1, 60),
    value_horizon=st.integers(7, 365),
)
def test_no_training_label_window_reaches_the_cutoff(
    history, horizon, step, n_train, value_horizon
):
    cfg = ExperimentConfig.model_validate(
        {
            "name": "p",
            "snapshots": {"n_train": n_train, "step_days": step},
            "labels": {"value_horizon_days": value_horizon},
        }
    )
    start = date(2020, 1, 1)
    cutoff = start + timedelta(days=history)
    try:
        plan = plan_backtest(start, cutoff, horizon, cfg)
    except ValueError:
        return  # not enough history: refused loudly, never a leaky plan
    h = timedelta(days=plan.train_horizon_days)
    assert 1 <= plan.train_horizon_days <= horizon
    assert all(t + h <= plan.select.valid for t in plan.select.train)
    assert plan.select.valid + h <= cutoff
    assert all(t + h <= cutoff for t in plan.refit)
    assert plan.select.valid in plan.refit and set(plan.select.train) <= set(plan.refit)
    assert all(t >= start for t in plan.refit)
    assert list(plan.refit) == sorted(set(plan.refit))


# --------------------------------------------------------------------------- end to end, tiny


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, 400, seed=3, start="2024-01-01", end="2024-12-31", progress=False)
    return out


def test_backtest_json_schema(tiny_data, tmp_path):
    cutoff = date(2024, 10, 1)
    result = backtest(tiny_data, cutoff, 91, _config(), dataset="tiny", log=lambda *_: None)
    assert isinstance(result, BacktestResult)
    out = tmp_path / "bt.json"
    write_result(result, out)
    payload = json.loads(out.read_text())
    assert list(payload) == [
        "dataset",
        "cutoff",
        "horizon_days",
        "n_customers",
        "train_horizon_days",
        "train_cutoffs",
        "valid_cutoff",
        "refit_cutoffs",
        "trees",
        "experiment",
        "features",
        "seconds",
        "models",
    ]
    assert payload["dataset"] == "tiny"
    assert (
        re.fullmatch(r"\d{4}-\d{2}-\d{2}", payload["cutoff"]) and payload["cutoff"] == "2024-10-01"
    )
    assert isinstance(payload["horizon_days"], int) and payload["horizon_days"] == 91
    assert isinstance(payload["n_customers"], int) and payload["n_customers"] > 0
    for model in ("lightgbm", "btyd"):
        metrics = payload["models"][model]
        assert set(METRIC_KEYS) <= set(metrics)
        assert all(isinstance(metrics[k], float) for k in METRIC_KEYS)
        assert 0.0 <= metrics["churn_auc"] <= 1.0 and metrics["clv_mae"] >= 0
    assert 0.0 <= payload["models"]["btyd"]["churn_auc_from_expected_purchases"] <= 1.0
    # every label window used for fitting or selection ends by the cutoff
    h = timedelta(days=payload["train_horizon_days"])
    valid = date.fromisoformat(payload["valid_cutoff"])
    assert all(date.fromisoformat(t) + h <= valid for t in payload["train_cutoffs"])
    assert valid + h <= cutoff
    assert all(date.fromisoformat(t) + h <= cutoff for t in payload["refit_cutoffs"])
    predictions = result.predictions
    assert len(predictions) == payload["n_customers"]
    assert (
        np.isfinite(predictions["predicted_value"]).all()
        and (predictions["predicted_value"] >= 0).all()
    )
    assert predictions["churn_probability"].between(0, 1).all()
    # the logged layout of a training run: test_* metrics, fingerprint, importance
    assert result.test_metrics()["test_churn_auc"] == payload["models"]["lightgbm"]["churn_auc"]
    assert result.test_metrics()["test_btyd_clv_gini"] == payload["models"]["btyd"]["clv_gini"]
    fingerprint = result.fingerprint()
    assert fingerprint["cutoffs"]["test"] == ["2024-10-01"]
    assert fingerprint["cutoffs"]["refit"] == payload["refit_cutoffs"]
    assert fingerprint["rows"]["test"] == payload["n_customers"]
    assert (
        fingerprint["rows"]["refit"] >= fingerprint["rows"]["train"] + fingerprint["rows"]["valid"]
    )
    assert set(result.importance) == {"churn", "clv"} and result.importance["churn"]
    assert format_table(result).splitlines()[0].split() == ["metric", "lightgbm", "btyd"]


def test_backtest_ignores_data_from_the_cutoff_on(tiny_data, tmp_path):
    """Changing every transaction on or after the cutoff leaves the predictions unchanged."""
    cutoff = date(2024, 10, 1)
    altered = tmp_path / "altered"
    altered.mkdir()
    for path in Path(tiny_data).glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.name == "transactions.parquet":
            late = frame["ordered_at"] >= pd.Timestamp(cutoff)
            frame.loc[late, "amount"] = frame.loc[late, "amount"] * 3 + 1
        frame.to_parquet(altered / path.name, index=False)
    quiet = {"dataset": "tiny", "log": lambda *_: None}
    a = backtest(tiny_data, cutoff, 91, _config(), **quiet).predictions
    b = backtest(altered, cutoff, 91, _config(), **quiet).predictions
    pd.testing.assert_series_equal(a["predicted_value"], b["predicted_value"])
    pd.testing.assert_series_equal(a["churn_probability"], b["churn_probability"])
    assert not np.allclose(a["future_value"], b["future_value"])


def test_logged_backtest_is_found_by_its_project(tmp_path):
    """A backtest run lands in ``<project>/<experiment>``, tagged with the project, in the layout
    ``lifecycle compare`` reads (metrics, fingerprint, importance, test predictions)."""
    import mlflow

    from experiments.compare import compare_experiments

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = _config().model_copy(update={"project": "shop"})
    cfg = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(
        update={"tracking_uri": uri, "artifact_root": tmp_path / "mlruns"})})  # fmt: skip
    n = 40
    rng = np.random.default_rng(0)
    churned = np.arange(n) % 2
    predictions = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "cutoff": pd.Timestamp("2024-10-01"),
        "churned": churned, "future_value": (1 - churned) * rng.gamma(2.0, 10.0, n),
        "churn_probability": np.clip(churned * 0.5 + rng.random(n) * 0.5, 0, 1),
        "predicted_value": rng.gamma(2.0, 10.0, n), "btyd_p_no_purchase": np.full(n, 0.5),
        "btyd_expected_value": np.full(n, 10.0),
    })  # fmt: skip
    metrics = {"churn_auc": 0.75, "clv_gini": 0.4}
    result = BacktestResult(
        dataset="tiny", experiment="tiny",
        plan=plan_backtest(date(2024, 1, 1), date(2024, 10, 1), 91, _config()),
        n_features=2, trees={"churn": [3], "clv": [3]}, seconds=1.5,
        lightgbm=metrics, btyd={"churn_auc": 0.7, "clv_gini": 0.3}, predictions=predictions,
        importance={"churn": {"recency_days": 3.0}, "clv": {"monetary_365d": 2.0}},
        rows=SplitRows(train=10, valid=5, refit=20, test=n),
    )  # fmt: skip
    previous = mlflow.get_tracking_uri()
    try:
        run_id = log_backtest_run(result, cfg)
    finally:
        mlflow.set_tracking_uri(previous)
    comparison = compare_experiments(["tiny"], uri, kind="backtest", project="shop", n_boot=20)
    run = comparison.runs["tiny"]
    assert run.run_id == run_id and run.project == "shop" and run.data == "tiny"
    assert run.metrics["test_churn_auc"] == 0.75 and run.metrics["test_btyd_clv_gini"] == 0.3
    assert (
        run.fingerprint["cutoffs"]["test"] == ["2024-10-01"]
        and run.fingerprint["rows"]["test"] == n
    )
    assert run.importance == result.importance and len(run.predictions) == n
    assert run.params["horizon_days"] == "91" and run.horizon == "91 d"
    with pytest.raises(LookupError, match="project=tiny"):
        compare_experiments(["tiny"], uri, project="tiny")
