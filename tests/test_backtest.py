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

from training.backtest import backtest
from training.backtest_plan import (
    RATIO_TOLERANCE,
    SEASON_LAG_DAYS,
    plan_backtest,
    pseudo_backtest_plan,
    pseudo_window,
    train_horizon,
)
from training.backtest_result import (
    METRIC_KEYS,
    BacktestResult,
    SplitRows,
    format_table,
    log_backtest_run,
    totals_markdown,
    write_result,
)
from training.calibration import LogOddsCalibration, anchor_total
from training.config import ExperimentConfig, load_config
from training.horizon_extension import extend_churn_probability, extend_horizon
from training.offset_models import _level_shift
from training.seasonality import NO_SEASONALITY, Seasonality

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
    # the pseudo-backtest that recalibrates the churn probability: every outcome it fits on,
    # its own training windows included, ends by the cutoff
    # (in the latest window, or a year earlier in the same season when the base has one)
    for season in (NO_SEASONALITY, Seasonality(coefficients=(0.2, 0.1))):
        pseudo = pseudo_backtest_plan(start, cutoff, horizon, cfg, season)
        if pseudo is None:
            continue
        assert pseudo.cutoff + timedelta(days=pseudo.horizon_days) <= cutoff
        assert all(
            t + timedelta(days=pseudo.train_horizon_days) <= pseudo.cutoff for t in pseudo.refit
        )
        assert 14 <= pseudo.horizon_days <= horizon and min(pseudo.refit) >= start
        ratio = horizon / plan.train_horizon_days
        assert (
            abs(pseudo.horizon_days / pseudo.train_horizon_days - ratio) <= RATIO_TOLERANCE * ratio
        )
        assert pseudo_window(pseudo, cutoff, season) == (
            "same_season"
            if season.found and (cutoff - pseudo.cutoff).days == SEASON_LAG_DAYS
            else "latest"
        )
        if pseudo_window(pseudo, cutoff, season) == "same_season":
            latest = pseudo_backtest_plan(start, cutoff, horizon, cfg)
            assert latest is None or 2 * pseudo.horizon_days >= latest.horizon_days


def test_cdnow_pseudo_backtest_plan_by_hand():
    """CDNOW at 1997-10-01 over 273 days (h = 91, ratio 3): 126 days back, h' would be 31 (room
    for two windows after 84 days of history; ratio 4.1), so 119 days: h' = 35 (ratio 3.4)."""
    cfg = load_config(EXPERIMENTS / "cdnow.yaml")
    pseudo = pseudo_backtest_plan(date(1997, 1, 1), date(1997, 10, 1), 273, cfg)
    assert (pseudo.cutoff, pseudo.horizon_days, pseudo.train_horizon_days) == (
        date(1997, 6, 4), 119, 35)  # fmt: skip
    assert pseudo.select.train == (date(1997, 3, 26),) and pseudo.select.valid == date(1997, 4, 30)
    # with a long history the pseudo-backtest has the asked horizon itself
    long = pseudo_backtest_plan(date(2020, 1, 1), date(2022, 1, 1), 91, cfg)
    assert (long.cutoff, long.horizon_days) == (date(2022, 1, 1) - timedelta(days=91), 91)
    assert pseudo_backtest_plan(date(1997, 1, 1), date(1997, 3, 1), 56, cfg) is None


def test_a_seasonal_base_is_checked_in_the_same_season_a_year_earlier():
    """With a purchase seasonality the pseudo-backtest starts 52 weeks before the cutoff (its
    window in the backtest window's season) with the longest horizon that ends by the cutoff;
    without one, or when the history is too short for it, the latest window as before."""
    cfg = load_config(EXPERIMENTS / "cdnow.yaml")
    season = Seasonality(coefficients=(0.3, 0.0), months=24)
    start, cutoff = date(2023, 1, 1), date(2025, 7, 1)
    same = pseudo_backtest_plan(start, cutoff, 180, cfg, season)
    assert (same.cutoff, same.horizon_days) == (cutoff - timedelta(days=364), 180)
    assert pseudo_window(same, cutoff, season) == "same_season"
    latest = pseudo_backtest_plan(start, cutoff, 180, cfg)
    assert (latest.cutoff, latest.horizon_days) == (cutoff - timedelta(days=180), 180)
    assert pseudo_window(latest, cutoff, NO_SEASONALITY) == "latest"
    # a horizon longer than a year cannot end by the cutoff from a year earlier
    longer = pseudo_backtest_plan(start, cutoff, 400, cfg, season)
    assert pseudo_window(longer, cutoff, season) == "latest"
    # a year-long backtest without a seasonality starts 364 days back too, but is the latest window
    year = pseudo_backtest_plan(start, cutoff, 364, cfg)
    assert (cutoff - year.cutoff).days == 364
    assert pseudo_window(year, cutoff, NO_SEASONALITY) == "latest"
    # a year earlier (2024-07-02) there is a month of history: the latest window
    short = pseudo_backtest_plan(date(2024, 6, 1), cutoff, 180, cfg, season)
    assert (short.cutoff, pseudo_window(short, cutoff, season)) == (
        cutoff - timedelta(days=180), "latest")  # fmt: skip
    # a year earlier there is room for a 56-day window only, under half the latest 180 days: the
    # latest; with room for 91 days, the same season
    for start, same_h in ((date(2024, 3, 8), None), (date(2024, 2, 17), 91)):
        chosen = pseudo_backtest_plan(start, cutoff, 180, cfg, season)
        if same_h is None:
            assert (chosen.cutoff, chosen.horizon_days) == (cutoff - timedelta(days=180), 180)
        else:
            assert (chosen.cutoff, chosen.horizon_days) == (cutoff - timedelta(days=364), same_h)


# --------------------------------------------------------------------------- recalibration


def _miscalibrated(n: int, seed: int, slope: float, shift: float):
    """Outcomes drawn from true probabilities, and a forecast distorted on the log-odds scale."""
    rng = np.random.default_rng(seed)
    true_p = 1 / (1 + np.exp(-rng.normal(0.8, 1.2, n)))
    y = (rng.random(n) < true_p).astype(int)
    z = np.log(true_p / (1 - true_p))
    return y, true_p, 1 / (1 + np.exp(-(slope * z + shift)))


def test_logodds_calibration_fixes_a_miscalibrated_extension():
    """Fitted on one pseudo-backtest sample, applied to another: an over-confident, shifted
    forecast (log-odds x 1.6 + 0.8) comes back to the truth; the intercept alone does less."""
    from training.metrics import expected_calibration_error as ece

    y_fit, _, p_fit = _miscalibrated(4000, 0, 1.6, 0.8)
    y, true_p, p = _miscalibrated(4000, 1, 1.6, 0.8)
    full = LogOddsCalibration.fit(p_fit, y_fit)
    shift = LogOddsCalibration.fit(p_fit, y_fit, fit_slope=False)
    assert full.slope == pytest.approx(1 / 1.6, abs=0.08)
    assert full.intercept == pytest.approx(-0.8 / 1.6, abs=0.12)
    assert shift.slope == 1.0 and shift.intercept < -0.2
    assert ece(y, p) > 0.07
    assert ece(y, full.apply(p)) < 0.025
    assert np.abs(full.apply(p) - true_p).mean() < 0.02 < np.abs(p - true_p).mean()
    assert ece(y, full.apply(p)) < ece(y, shift.apply(p)) < ece(y, p)
    # a calibrated forecast is left about as it is
    y_ok, _, p_ok = _miscalibrated(4000, 2, 1.0, 0.0)
    same = LogOddsCalibration.fit(p_ok, y_ok)
    assert abs(same.slope - 1) < 0.1 and abs(same.intercept) < 0.1


def test_a_map_that_does_not_pay_out_of_fold_is_not_applied():
    """Calibrated forecasts of 300 customers: the fitted map mostly fits noise, and out of fold it
    raises the log loss, so the forecast is left alone; a miscalibrated one is always mapped."""
    noise_only = [
        LogOddsCalibration.fit(*_miscalibrated(300, s, 1.0, 0.0)[::-2]) for s in range(10)
    ]
    assert sum(c.is_identity for c in noise_only) >= 7
    assert all(c.out_of_fold_gain <= 0 for c in noise_only if c.is_identity)
    for seed in range(5):
        y, _, p = _miscalibrated(4000, seed, 1.6, 0.8)
        mapped = LogOddsCalibration.fit(p, y)
        assert not mapped.is_identity and mapped.out_of_fold_gain > 0.05
    unchecked = LogOddsCalibration.fit(*_miscalibrated(300, 0, 1.0, 0.0)[::-2], cross_check=False)
    assert not unchecked.is_identity and unchecked.out_of_fold_gain is None


def test_logodds_calibration_needs_enough_rows_of_each_outcome():
    y, _, p = _miscalibrated(80, 0, 1.6, 0.8)
    assert LogOddsCalibration.fit(p, y).is_identity  # fewer than MIN_ROWS
    y, _, p = _miscalibrated(2000, 0, 1.6, 0.8)
    y[:] = 1
    y[:5] = 0
    assert LogOddsCalibration.fit(p, y).is_identity  # 5 non-churners
    with pytest.raises(ValueError, match="shape"):
        LogOddsCalibration.fit(p, y[:-1])
    np.testing.assert_array_equal(LogOddsCalibration().apply(np.array([0.2, 0.7])), [0.2, 0.7])


def test_anchor_total_keeps_the_reference_total_and_the_ranking():
    value = np.array([1.0, 5.0, 2.0, 0.0])
    anchored = anchor_total(value, np.array([10.0, 10.0, 5.0, 1.0]))
    assert anchored.sum() == pytest.approx(26.0)
    np.testing.assert_allclose(anchored / value.sum() * 8, value * 26 / 8 / 8 * 8)
    np.testing.assert_array_equal(np.argsort(anchored), np.argsort(value))
    np.testing.assert_array_equal(anchor_total(np.zeros(3), np.ones(3)), np.zeros(3))


# --------------------------------------------------------------------------- end to end, tiny


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, 400, seed=3, start="2024-01-01", end="2024-12-31", progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_result(tiny_data):
    """The tiny backtest at 2024-10-01 over 91 days, with the default recalibration."""
    return backtest(
        tiny_data, date(2024, 10, 1), 91, _config(), dataset="tiny", log=lambda *_: None
    )


def test_an_outcome_window_past_the_end_of_the_data_is_refused_unless_allowed(tiny_data):
    from training.splits import PlanError

    with pytest.raises(PlanError, match=r"not fully observed.*--allow-partial-window") as info:
        backtest(tiny_data, date(2024, 11, 1), 91, _config(), log=lambda *_: None)
    assert "Use a cutoff up to 2024-10-0" in str(info.value)


def test_backtest_json_schema(tiny_result, tmp_path):
    cutoff = date(2024, 10, 1)
    result = tiny_result
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
        "calibration",
        "ranges",
        "seasonality",
        "partial_window",
    ]
    assert payload["partial_window"] is None
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
    # the total is scaled to BTYD's; the model's own level is said beside it (a dealer group's
    # 0.717 showed as BTYD's 1.07)
    unscaled = payload["models"]["lightgbm"]["clv_total_ratio_unscaled"]
    assert f"Before scaling: {unscaled:.4f}" in format_table(result)
    assert {"churn_log_loss", "churn_ece"} <= set(METRIC_KEYS)
    # the churn probability was recalibrated on a pseudo-backtest that ends by the cutoff
    calibration = payload["calibration"]
    pseudo_end = date.fromisoformat(calibration["pseudo_cutoff"]) + timedelta(
        days=calibration["pseudo_horizon_days"]
    )
    assert pseudo_end <= cutoff and calibration["n"] == calibration["pseudo_metrics"]["n_customers"]
    # the CLV total stays at the BTYD level: never further from actual than BTYD
    totals = result.totals()
    assert totals["lightgbm"] == pytest.approx(totals["btyd"], rel=1e-9)
    assert totals_markdown({"tiny": result}).splitlines()[-1].endswith("| yes |")
    # ground truth of the synthetic data: calibration against the true churn probability
    assert 0 <= payload["models"]["lightgbm"]["truth_ece_vs_true_p"] < 0.2
    assert "truth_ece_vs_true_p" in payload["models"]["btyd"]
    # predicted-value ranges, calibrated on the pseudo-backtest, around every forecast
    ranges = payload["ranges"]
    assert (
        date.fromisoformat(ranges["calibration"]["pseudo_cutoff"])
        + timedelta(days=ranges["calibration"]["pseudo_horizon_days"])
        <= cutoff
    )
    for model, column in (("lightgbm", "predicted_value"), ("btyd", "btyd_value")):
        assert 0 < ranges[model]["coverage"] <= 1 and ranges[model]["width"] > 0
        assert payload["models"][model]["clv_interval_coverage"] == ranges[model]["coverage"]
        low, high = predictions[f"{column}_low"], predictions[f"{column}_high"]
        assert (low >= 0).all() and (low <= high).all()
    assert (predictions["predicted_value_low"] <= predictions["predicted_value"]).all()
    assert (predictions["predicted_value"] <= predictions["predicted_value_high"]).all()


def test_backtest_ignores_data_from_the_cutoff_on(tiny_data, tiny_result, tmp_path):
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
    first, second = tiny_result, backtest(altered, cutoff, 91, _config(), **quiet)
    a, b = first.predictions, second.predictions
    pd.testing.assert_series_equal(a["predicted_value"], b["predicted_value"])
    pd.testing.assert_series_equal(a["churn_probability"], b["churn_probability"])
    for column in ("predicted_value_low", "predicted_value_high"):  # ranges: no look-ahead either
        pd.testing.assert_series_equal(a[column], b[column])
    assert not np.allclose(a["future_value"], b["future_value"])
    # the recalibration (fitted and checked out of fold on the pseudo-backtest) saw nothing later
    assert first.calibration == second.calibration
    assert first.calibration["out_of_fold_gain"] is not None


def test_recalibration_learns_from_the_pseudo_backtest_window(tiny_data, tiny_result, tmp_path):
    """Purchases inside the pseudo-backtest's outcome window (before the cutoff) move the
    recalibration: it is fitted on them, and on nothing later."""
    cutoff = date(2024, 10, 1)
    quiet = {"dataset": "tiny", "log": lambda *_: None}
    base = tiny_result
    pseudo_cutoff = pd.Timestamp(base.calibration["pseudo_cutoff"])
    altered = tmp_path / "altered"
    altered.mkdir()
    for path in Path(tiny_data).glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.name == "transactions.parquet":  # drop most purchases of the pseudo window
            window = (frame["ordered_at"] >= pseudo_cutoff) & (
                frame["ordered_at"] < pd.Timestamp(cutoff)
            )
            frame = frame[~(window & (np.arange(len(frame)) % 4 > 0))]
        frame.to_parquet(altered / path.name, index=False)
    moved = backtest(altered, cutoff, 91, _config(), **quiet)
    assert (
        moved.calibration["pseudo_metrics"]["churn_rate"]
        > base.calibration["pseudo_metrics"]["churn_rate"]
    )
    assert moved.calibration["intercept"] > base.calibration["intercept"]  # more churn expected
    off = backtest(tiny_data, cutoff, 91, _config(), calibrate="none", **quiet)
    assert off.calibration is None
    np.testing.assert_allclose(  # same fit: the recalibration is the only difference
        base.predictions["churn_probability"],
        LogOddsCalibration(base.calibration["intercept"], base.calibration["slope"]).apply(
            off.predictions["churn_probability"].to_numpy()),
    )  # fmt: skip


def test_logged_backtest_is_found_by_its_project(tmp_path):
    """A backtest run lands in ``<project>/<experiment>``, tagged with the project, in the layout
    ``lifecycle compare`` reads (metrics, fingerprint, importance, test predictions)."""

    from experiments.compare import compare_experiments

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = _config().model_copy(update={"project": "shop", "seed": 7})
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
        seasonality={"coefficients": [0.2, 0.1], "months": 20, "p_value": 1e-6, "reason": "",
                     "effective_days": 97.34},
    )  # fmt: skip
    run_id = log_backtest_run(result, cfg)  # gives the process its tracking URI back
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
    assert run.params["clv_total"] == "model" and "partial_window" not in run.params  # no anchor
    assert run.params["churn_seasonal_days"] == "97.3"  # the window in seasonal days
    # the models' settings, as a training run logs them: two backtests with other seeds or trees
    # were said "Every logged setting is the same in all runs" by the comparison
    assert run.params["seed"] == "7"
    assert run.params["churn.params.n_estimators"] == str(SMALL_LGB["n_estimators"])
    assert run.params["features.families"] == "rfm,btyd"  # the backtest's own value kept
    with pytest.raises(LookupError, match="project=tiny"):
        compare_experiments(["tiny"], uri, project="tiny")


def test_write_result_keeps_the_previous_file_when_the_write_fails(tiny_result, tmp_path):
    """A disk filling up mid-write (or a value JSON cannot hold) leaves the previous complete
    result file and no temporary next to it."""
    from disk_faults import file_size_limit

    out = tmp_path / "bt.json"
    write_result(tiny_result, out)
    previous = out.read_text()
    assert len(previous) > 1024
    with file_size_limit(512), pytest.raises(OSError):
        write_result(tiny_result, out)
    assert out.read_text() == previous and json.loads(previous)["dataset"] == "tiny"
    broken = BacktestResult(**{**tiny_result.__dict__, "calibration": {"bad": object()}})
    with pytest.raises(TypeError):
        write_result(broken, out)
    assert out.read_text() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt.json"]


def test_a_weak_backtest_says_so():
    from types import SimpleNamespace

    from training.backtest import MIN_EVALUATED_CUSTOMERS, _evidence_warnings

    learned, flat = SimpleNamespace(n_trees_=[40, 37]), SimpleNamespace(n_trees_=[1, 1])
    assert _evidence_warnings(MIN_EVALUATED_CUSTOMERS, {"churn": learned}) == []
    few = _evidence_warnings(14, {"churn": learned, "clv": flat})
    assert len(few) == 2 and few[0].startswith("only 14 customers evaluated")
    assert "clv model learned no correction to BTYD" in few[1]


def test_the_result_json_is_strict_json(tmp_path):
    """A metric without a value (no churner in the window) was written as a bare NaN, which
    JavaScript's JSON.parse and other strict readers refuse; it is null."""
    import json
    from types import SimpleNamespace

    summary = {"lightgbm": {"churn_auc": float("nan"), "clv_mae": 1.5}, "x": [float("inf"), 2]}
    write_result(SimpleNamespace(summary=lambda: summary), tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"lightgbm": {"churn_auc": None, "clv_mae": 1.5}, "x": [None, 2]}


def test_a_window_without_churners_or_buyers_says_why_its_metrics_are_empty():
    from datetime import date

    from training.backtest import _window_warnings

    frame = pd.DataFrame({"churned": [1, 1, 1]})
    (closed,) = _window_warnings(frame, date(2024, 12, 1), 30)
    assert closed.startswith("no evaluated customer bought in [2024-12-01, +30d)")
    (busy,) = _window_warnings(frame.assign(churned=0), date(2024, 12, 1), 30)
    assert "churn AUC has no value" in busy
    assert _window_warnings(pd.DataFrame({"churned": [0, 1]}), date(2024, 12, 1), 30) == []


# --------------------------------------------------------------------------- repeat buyers


def _repeats_from(data: Path, out: Path, first_repeat: str) -> Path:
    """``data`` with every purchase day before ``first_repeat`` but each customer's first one
    taken out: nobody has bought twice before that day."""
    out.mkdir()
    for path in Path(data).glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.name == "transactions.parquet":
            day = frame["ordered_at"].dt.normalize()
            first = day.where(frame["amount"] > 0).groupby(frame["customer_id"]).transform("min")
            frame = frame[(day >= pd.Timestamp(first_repeat)) | (day == first)]
        frame.to_parquet(out / path.name, index=False)
    return out


def test_a_fitting_cutoff_before_any_repeat_purchase_is_left_out_of_its_plan():
    from training.backtest_plan import with_repeat_buyers

    cfg = _config()
    start, cutoff = date(2024, 1, 1), date(2024, 10, 1)
    pseudo = pseudo_backtest_plan(start, cutoff, 91, cfg)
    assert pseudo.refit[0] == date(2024, 4, 9) and pseudo.select.valid == date(2024, 6, 4)
    assert with_repeat_buyers(pseudo, date(2024, 1, 2)) is pseudo  # nothing to leave out
    kept = with_repeat_buyers(pseudo, date(2024, 4, 21))
    assert kept.dropped == (date(2024, 4, 9),)
    assert kept.select.train == (date(2024, 4, 23), date(2024, 5, 7))
    assert kept.refit == pseudo.refit[1:] and kept.select.valid == pseudo.select.valid
    kept.check()
    # the validation cutoff, every training cutoff, or nobody at all: the plan cannot be fitted
    assert with_repeat_buyers(pseudo, date(2024, 6, 5)) is None
    assert with_repeat_buyers(pseudo, date(2024, 5, 8)) is None
    assert with_repeat_buyers(pseudo, None) is None
    # the pseudo-backtest then takes a shorter horizon whose cutoffs have repeat buyers, or none
    later = pseudo_backtest_plan(start, cutoff, 91, cfg, repeats_from=date(2024, 5, 8))
    assert later is not None and later.horizon_days < 91
    assert min(later.refit) >= date(2024, 5, 8) and later.select.valid >= date(2024, 5, 8)
    assert pseudo_backtest_plan(start, cutoff, 91, cfg, repeats_from=None) is None


def test_a_pseudo_backtest_cutoff_without_repeat_buyers_is_dropped_not_fatal(tiny_data, tmp_path):
    """Nobody bought twice before 2024-04-15: the pseudo-backtest's first cutoff (2024-04-09) is
    left out with a note naming it, and the backtest runs (a SaaS export's 365-day backtest failed
    after 2.5 minutes on such a cutoff, one the user never chose)."""
    from training.dataset import first_repeat_cutoff

    data = _repeats_from(tiny_data, tmp_path / "late", "2024-04-15")
    assert date(2024, 4, 9) < first_repeat_cutoff(data) <= date(2024, 4, 23)
    said: list[str] = []
    result = backtest(data, date(2024, 10, 1), 91, _config(), log=said.append)
    (note,) = [line for line in said if "left out" in line and "bought twice" in line]
    assert note.startswith(
        "note: 1 pseudo-backtest (at 2024-07-02) cutoff(s) left out (2024-04-09)"
    )
    assert result.calibration["pseudo_cutoff"] == "2024-07-02"
    assert result.ranges is not None  # the ranges are calibrated on the same pseudo-backtest


def test_a_backtest_whose_own_cutoffs_have_no_repeat_buyers_fails_before_any_feature(
    tiny_data, tmp_path, monkeypatch
):
    import training.backtest_forecast
    from training.splits import PlanError

    def no_features(*args, **kwargs):
        raise AssertionError("features computed")

    monkeypatch.setattr(training.backtest_forecast, "build_frame", no_features)
    data = _repeats_from(tiny_data, tmp_path / "late", "2024-09-10")
    with pytest.raises(PlanError, match=r"no customer had bought twice before 2024-09-03"):
        backtest(data, date(2024, 10, 1), 91, _config(), log=lambda *_: None)
