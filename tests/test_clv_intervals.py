"""Ranges of predicted value (``training.clv_intervals``): conformal ranks by hand, coverage on
held-out customers (simulated and from the real training pipeline), ordering, zero-value
customers, storage with the pair (JSON, no pickle) and the scores file."""

# ruff: noqa: F811  (tests take the imported fixture `trained_store` as an argument)
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from service_fixtures import trained_store  # noqa: F401 (session fixture, shared with service tests)

from training.clv_intervals import (
    ALL,
    ValueIntervals,
    attainable_coverage,
    conformal_ratios,
    coverage_by,
    coverage_report,
    interval_groups,
    interval_metrics,
)

LEVEL = 0.8


def simulated_customers(n: int, seed: int) -> pd.DataFrame:
    """Compound Poisson-Gamma spend: heterogeneous purchase rates (many customers buy nothing),
    one-time and repeat buyers, and the true expected value as the forecast."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(1.5, n) + 1
    rate = rng.gamma(0.8, 0.6, n) * np.where(orders > 1, 1.6, 0.7)
    purchases = rng.poisson(rate)
    spend = rng.gamma(2.0, 25.0, n)
    future = np.array(
        [rng.gamma(2.0 * k, s / 2.0) if k else 0.0 for k, s in zip(purchases, spend, strict=True)]
    )
    return pd.DataFrame(
        {
            "is_prospect": 0,
            "orders_all": orders,
            "future_value": future,
            "predicted_value": rate * spend,
        }
    )


def test_conformal_ratios_by_hand():
    # nine customers, none at zero: 80% -> tails of 10%: ranks floor(10 * .1) = 1, ceil(10 * .9) = 9
    predicted = np.full(9, 10.0)
    actual = np.arange(1.0, 10.0) * 10  # ratios 1..9
    assert conformal_ratios(predicted, actual, LEVEL) == (1.0, 9.0)
    # two of nine at zero (>= 10%): the range starts at 0, upper rank ceil(10 * .8) = 8
    actual[:2] = 0.0
    low, high = conformal_ratios(predicted, actual, LEVEL)
    assert low == 0.0 and high == 8.0
    # too few customers for the upper rank: no finite upper bound
    assert conformal_ratios(np.ones(3), np.ones(3), 0.9)[1] == float("inf")


def test_ranges_cover_the_nominal_share_of_held_out_customers():
    calibration, held_out = simulated_customers(4000, 0), simulated_customers(4000, 1)
    intervals = ValueIntervals.fit(
        calibration["predicted_value"],
        calibration["future_value"],
        level=LEVEL,
        bins=8,
        groups=interval_groups(calibration),
    )
    groups = interval_groups(held_out)
    low, high = intervals.predict(held_out["predicted_value"], groups)
    cells = intervals.cells(held_out["predicted_value"], groups)
    report = coverage_report(held_out["future_value"], low, high, LEVEL, {"group": groups}, cells)
    # coverage above the nominal level only where most customers spend nothing (the range {0})
    assert LEVEL < report["attainable"] < 0.9
    assert abs(report["coverage"] - report["attainable"]) <= 0.03, report
    assert set(report["group"]) == {"one_time", "repeat"}
    for group, values in report["group"].items():
        assert abs(values["coverage"] - values["attainable"]) <= 0.04, (group, values)
    # per value level: the highest and lowest fifth of forecasts are covered as well
    fifths = pd.qcut(held_out["predicted_value"], 5, labels=False).to_numpy()
    attainable = attainable_coverage(held_out["future_value"], cells, LEVEL)
    by_fifth = coverage_by(held_out["future_value"], low, high, fifths, attainable)
    assert all(abs(v["coverage"] - v["attainable"]) <= 0.05 for v in by_fifth.values()), by_fifth
    assert by_fifth["4"]["attainable"] == LEVEL and abs(by_fifth["4"]["coverage"] - LEVEL) <= 0.05
    # a forecast twice too high is still covered (the ratios are learned on the calibration data;
    # ranges that must contain the inflated forecast cover a little more)
    biased = ValueIntervals.fit(
        2 * calibration["predicted_value"], calibration["future_value"], level=LEVEL, bins=8
    )
    low2, high2 = biased.predict(2 * held_out["predicted_value"])
    report2 = coverage_report(
        held_out["future_value"],
        low2,
        high2,
        LEVEL,
        {},
        biased.cells(2 * held_out["predicted_value"]),
    )
    assert report2["attainable"] - 0.03 <= report2["coverage"] <= report2["attainable"] + 0.06


def test_ranges_that_are_wrong_show_it():
    """The coverage check can fail: ranges calibrated on customers who spend half as much miss."""
    calibration, held_out = simulated_customers(3000, 2), simulated_customers(3000, 3)
    intervals = ValueIntervals.fit(
        calibration["predicted_value"], calibration["future_value"] / 2, level=LEVEL
    )
    low, high = intervals.predict(held_out["predicted_value"])
    coverage = interval_metrics(held_out["future_value"], low, high, LEVEL)["clv_interval_coverage"]
    assert coverage < LEVEL - 0.05


def test_ranges_hold_the_forecast_and_zero_value_customers():
    frame = simulated_customers(3000, 4)
    intervals = ValueIntervals.fit(frame["predicted_value"], frame["future_value"], level=LEVEL)
    predicted = np.r_[frame["predicted_value"].to_numpy(), 0.0, np.nan, 1e6]
    low, high = intervals.predict(predicted)
    ok = ~np.isnan(predicted)
    assert (low[ok] <= predicted[ok]).all() and (predicted[ok] <= high[ok]).all()
    assert (low[ok] >= 0).all() and np.isnan(low[~ok]).all() and np.isnan(high[~ok]).all()
    assert low[-3] == high[-3] == 0.0  # a forecast of nothing: the range is {0}
    # low-value bins, where most customers spend nothing, start at 0 and cover every zero
    zero = frame["future_value"].to_numpy() == 0
    assert zero.mean() > 0.3
    first = np.argsort(frame["predicted_value"].to_numpy())[: len(frame) // 10]
    assert (low[first] == 0).all()
    assert (low[: len(frame)][zero] == 0).mean() > 0.9


def test_small_and_unseen_groups_use_everyones_ranges():
    frame = simulated_customers(600, 5)
    groups = np.where(np.arange(600) < 30, "prospect", interval_groups(frame))
    intervals = ValueIntervals.fit(frame["predicted_value"], frame["future_value"], groups=groups)
    assert "prospect" not in intervals.groups and ALL in intervals.groups
    assert any("prospect" in note for note in intervals.notes)
    low, high = intervals.predict([10.0, 10.0], ["prospect", "never-seen"])
    assert low[0] == low[1] and high[0] == high[1]
    with pytest.raises(ValueError, match="at least"):
        ValueIntervals.fit([1.0] * 10, [1.0] * 10)
    with pytest.raises(ValueError, match="level"):
        ValueIntervals.fit(frame["predicted_value"], frame["future_value"], level=1.2)


def _with_rhythm(n: int, seed: int) -> pd.DataFrame:
    """Repeat buyers on rhythm, overdue or lapsed (recency over their usual gap), and one-time
    buyers. The forecast is the expected value for all, but the outcomes of the overdue and lapsed
    are far less predictable (Gamma factor of shape 1 around the forecast instead of shape 10)."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(2.0, n) + 1
    gap = rng.uniform(10.0, 60.0, n)
    gaps_since = rng.choice([0.5, 3.0, 6.0], n, p=[0.5, 0.3, 0.2])
    predicted = rng.gamma(2.0, 50.0, n)
    late = (orders > 1) & (gaps_since > 2)
    shape = np.where(late, 1.0, 10.0)
    return pd.DataFrame(
        {
            "is_prospect": 0,
            "orders_all": orders,
            "mean_gap_days": np.where(orders > 1, gap, np.nan),
            "recency_days": gap * gaps_since,
            "predicted_value": predicted,
            "future_value": predicted * rng.gamma(shape, 1.0 / shape),
        }
    )


def test_repeat_buyers_past_their_rhythm_get_their_own_ranges():
    """Coverage holds per rhythm group (a stage proxy) on held-out customers; ranges pooled over
    all repeat buyers (the groups before) miss the overdue ones by more than 3 points."""
    calibration, held_out = _with_rhythm(12000, 21), _with_rhythm(12000, 22)
    groups = interval_groups(held_out)
    assert {"one_time", "repeat/on_rhythm", "repeat/overdue", "repeat/lapsed"} <= set(groups)
    assert (groups[held_out["orders_all"].to_numpy() == 1] == "one_time").all()

    def coverage(fit_groups, predict_groups):
        intervals = ValueIntervals.fit(
            calibration["predicted_value"], calibration["future_value"], level=LEVEL, bins=4,
            groups=fit_groups)  # fmt: skip
        low, high = intervals.predict(held_out["predicted_value"], predict_groups)
        cells = intervals.cells(held_out["predicted_value"], predict_groups)
        report = coverage_report(held_out["future_value"], low, high, LEVEL, {"rhythm": groups},
                                 cells)  # fmt: skip
        return intervals, report["rhythm"]

    intervals, by_rhythm = coverage(interval_groups(calibration), groups)
    assert {"repeat", "repeat/overdue"} <= set(intervals.groups)  # the parent is fitted too
    for group, row in by_rhythm.items():  # 3 points, plus 0.5 for the sampling noise of 2,000
        assert abs(row["coverage"] - row["attainable"]) <= 0.035, (group, row)
    pooled = np.where(pd.Series(interval_groups(calibration)).str.startswith("repeat"), "repeat",
                      interval_groups(calibration))  # fmt: skip
    old, by_rhythm_old = coverage(pooled, groups)  # a pair fitted before: "repeat/..." -> "repeat"
    assert "repeat/overdue" not in old.groups
    assert by_rhythm_old["repeat/overdue"]["coverage"] < LEVEL - 0.1, by_rhythm_old
    assert by_rhythm_old["repeat/on_rhythm"]["coverage"] > LEVEL + 0.1, by_rhythm_old


def test_ranges_round_trip_as_json_with_the_pair(tmp_path):
    from registry_fixtures import COLUMNS, customers, tiny_pair

    from training.bundle import BundleError, load_pair, save_pair

    pair = tiny_pair()
    frame = customers(400, seed=9)
    pair.intervals = ValueIntervals.fit(
        pair.clv.predict(frame),
        frame["future_value"],
        level=0.9,
        bins=4,
        groups=interval_groups(frame),
        horizon_days=180,
    )
    save_pair(pair, tmp_path / "pair")
    stored = json.loads((tmp_path / "pair" / "clv" / "intervals.json").read_text())
    assert stored["level"] == 0.9 and ALL in stored["groups"]
    assert not list((tmp_path / "pair").rglob("*.pkl"))
    loaded = load_pair(tmp_path / "pair")
    assert loaded.intervals == pair.intervals
    pd.testing.assert_frame_equal(loaded.predict(frame[COLUMNS]), pair.predict(frame[COLUMNS]))
    out = loaded.predict(frame[COLUMNS])
    assert (out["predicted_value_low"] <= out["predicted_value"]).all()
    assert (out["predicted_value"] <= out["predicted_value_high"]).all()
    # a pair stored before ranges existed loads without them; a damaged file names itself
    (tmp_path / "pair" / "clv" / "intervals.json").write_text('{"level": 0.8}')
    with pytest.raises(BundleError, match="intervals.json"):
        load_pair(tmp_path / "pair")
    (tmp_path / "pair" / "clv" / "intervals.json").unlink()
    assert load_pair(tmp_path / "pair").intervals is None
    assert "predicted_value_low" not in load_pair(tmp_path / "pair").predict(frame[COLUMNS])


def test_trained_pair_covers_its_held_out_test_customers(trained_store):
    """The real pipeline (synthetic data, ``lifecycle train``): ranges calibrated on the
    validation split cover the test customers' actual value at about the nominal level, and the
    scores file carries them (rounded to cents in the CSV)."""
    from mlflow.tracking import MlflowClient

    from serving.scoring import people_rows

    client = MlflowClient(tracking_uri=trained_store.tracking_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'train'"
    )
    metrics = runs[0].data.metrics
    coverage, attainable = (
        metrics["test_clv_interval_coverage"],
        metrics["test_clv_interval_attainable"],
    )
    # many test customers almost surely spend nothing: their range {0} covers more than 80%
    assert LEVEL <= attainable < 1 and abs(coverage - attainable) <= 0.04, metrics
    assert metrics["test_clv_interval_width"] > 0
    assert "test_clv_interval_group.repeat.coverage" in metrics
    scores = pd.read_parquet(trained_store.scores)
    low, value, high = (
        scores[c] for c in ("predicted_value_low", "predicted_value", "predicted_value_high")
    )
    assert low.notna().all() and high.notna().all()
    assert (low <= value).all() and (value <= high).all() and (high > low).any()
    people = people_rows(scores.head(50))
    assert (people["predicted_value_high"] == people["predicted_value_high"].round(2)).all()


def test_scores_carry_the_range_rounded_to_cents_for_people():
    from test_value import contributions, feature_rows

    from serving.config import ScoringConfig
    from serving.scoring import SCORE_COLUMNS, people_rows, score_frame

    def scored(**kwargs):
        return score_frame(
            feature_rows(),
            [0.1, 0.85, np.nan],
            [200.0, 20.0, 60.0],
            contributions(),
            ScoringConfig(),
            "2024-01-01",
            "churn:7",
            "clv:3",
            **kwargs,
        )

    position = SCORE_COLUMNS.index("predicted_value")
    assert SCORE_COLUMNS[position + 1 : position + 3] == (
        "predicted_value_low",
        "predicted_value_high",
    )
    scores = scored(value_range=([150.123456, 0.0, 10.0], [260.987654, 55.556, 99.0]))
    assert scores["predicted_value_low"][0] == 150.123456  # the Parquet keeps full precision
    people = people_rows(scores)
    assert people["predicted_value_low"].tolist() == [150.12, 0.0, 10.0]
    assert people["predicted_value_high"].tolist() == [260.99, 55.56, 99.0]
    assert scored()["predicted_value_low"].isna().all()  # a pair stored without ranges
    with pytest.raises(ValueError, match="predicted_value_low has 2 values for 3"):
        scored(value_range=([1.0, 2.0], [3.0, 4.0, 5.0]))


def test_tied_forecasts_leave_no_bin_without_customers():
    """Forecasts tied at one value (e.g. a floor) would leave quantile bins empty: bins merge, and
    every range stays finite."""
    frame = simulated_customers(1000, 6)
    predicted = frame["predicted_value"].to_numpy().copy()
    predicted[:600] = 1.0
    intervals = ValueIntervals.fit(predicted, frame["future_value"], level=0.9, bins=10)
    assert all(c >= 50 for c in intervals.groups[ALL].counts)
    low, high = intervals.predict(np.r_[predicted, 0.5, 1.0, 1e9])
    assert np.isfinite(low).all() and np.isfinite(high).all()


def test_the_registered_pair_learnt_from_the_latest_windows_that_end_by_the_test_cutoff(
    trained_store,
):
    """``snapshots.refit_latest``: the champion is fitted again on cutoffs one horizon later than
    the selection fit, the last at the validation cutoff; every label window it learnt from ends
    by the test cutoff it is measured on."""
    from datetime import date, timedelta

    from mlflow.tracking import MlflowClient

    from serving.batch import load_champions

    client = MlflowClient(tracking_uri=trained_store.tracking_uri)
    (run,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'train'"
    )
    with open(client.download_artifacts(run.info.run_id, "data_fingerprint.json")) as file:
        fingerprint = json.load(file)
    cutoffs = {k: [date.fromisoformat(c) for c in v] for k, v in fingerprint["cutoffs"].items()}
    (valid,), (test,) = cutoffs["valid"], cutoffs["test"]
    horizon = timedelta(days=180)
    assert max(cutoffs["refit"]) == valid and min(cutoffs["refit"]) > max(cutoffs["train"])
    assert all(c + horizon <= test for c in cutoffs["refit"])
    assert fingerprint["rows"]["refit"] > 0
    pair = load_champions(trained_store.tracking_uri, trained_store.project)
    assert pair.meta["experiment"]["snapshots"]["refit_latest"] is True
