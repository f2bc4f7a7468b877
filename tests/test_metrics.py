"""Tests for training.metrics: hand-computed answers, scikit-learn/scipy parity, laws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sklearn_log_loss

from training.metrics import (
    average_precision,
    bootstrap_interval,
    calibration_bins,
    churn_metrics,
    clv_metrics,
    decile_table,
    expected_calibration_error,
    gains_curve,
    mean_absolute_error,
    normalized_gini,
    paired_bootstrap_difference,
    roc_auc,
    spearman,
    total_ratio,
)


def kaggle_gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """The Kaggle reference (Porto Seguro / Allstate), ties broken by row order."""
    rows = np.c_[actual, pred, np.arange(len(actual))].astype(float)
    rows = rows[np.lexsort((rows[:, 2], -1 * rows[:, 1]))]
    total = rows[:, 0].cumsum().sum() / rows[:, 0].sum()
    total -= (len(actual) + 1) / 2.0
    return total / len(actual)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def churn_sample(rng):
    n = 3000
    probability = np.round(rng.beta(2, 5, n), 2)  # rounded: many ties
    churned = (rng.random(n) < probability).astype(int)
    return churned, probability


@pytest.fixture
def value_sample(rng):
    n = 3000
    actual = rng.gamma(0.5, 100, n) * (rng.random(n) < 0.4)
    predicted = actual * np.exp(rng.normal(0, 1, n)) + rng.random(n)
    return actual, predicted


# --------------------------------------------------------------------------- clv


def test_clv_metrics_hand_computed():
    actual = np.array([0.0, 10.0, 20.0, 30.0])
    predicted = np.array([2.0, 8.0, 26.0, 24.0])
    m = clv_metrics(actual, predicted)
    assert m["clv_mae"] == pytest.approx(4.0)
    assert m["clv_rmse"] == pytest.approx(np.sqrt(20.0))
    assert m["clv_spearman"] == pytest.approx(0.8)  # 1 - 6*2 / (4*15)
    # gini(a, p) = (190/60 - 2.5)/4 = 1/6 ; gini(a, a) = (200/60 - 2.5)/4 = 5/24
    assert m["clv_gini"] == pytest.approx((1 / 6) / (5 / 24))
    assert m["clv_total_ratio"] == pytest.approx(1.0)
    # top 10% of 4 customers = 0.4 of the first (actual 20 of 60)
    assert m["clv_top_decile_share"] == pytest.approx(0.4 * 20 / 60)


def test_clv_metrics_keys_are_floats(value_sample):
    m = clv_metrics(*value_sample)
    assert set(m) == {
        "clv_mae",
        "clv_rmse",
        "clv_spearman",
        "clv_gini",
        "clv_total_ratio",
        "clv_top_decile_share",
    }
    assert all(isinstance(v, float) for v in m.values())


def test_gini_matches_kaggle_reference_without_ties(rng):
    actual = rng.gamma(0.5, 100, 500) * (rng.random(500) < 0.5)
    predicted = actual + rng.normal(0, 50, 500)
    expected = kaggle_gini(actual, predicted) / kaggle_gini(actual, actual)
    assert normalized_gini(actual, predicted) == pytest.approx(expected, rel=1e-12)


def test_gini_of_perfect_ordering_is_one_and_reversed_is_minus_one(value_sample):
    actual, _ = value_sample
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, np.exp(actual / 100) + 3) == pytest.approx(
        1.0
    )  # monotone transform
    assert normalized_gini(actual, -actual) == pytest.approx(-1.0)


def test_gini_of_random_ordering_is_near_zero(rng):
    actual = rng.gamma(0.5, 100, 20_000)
    assert abs(normalized_gini(actual, rng.random(20_000))) < 0.03


def test_gini_does_not_depend_on_row_order_with_ties(rng):
    actual = rng.gamma(1, 10, 200)
    predicted = np.round(actual / 10)  # coarse: many ties
    order = rng.permutation(200)
    assert normalized_gini(actual[order], predicted[order]) == pytest.approx(
        normalized_gini(actual, predicted)
    )
    assert normalized_gini(actual, np.zeros(200)) == pytest.approx(0.0, abs=1e-12)


def test_gini_is_nan_when_actual_is_constant():
    assert np.isnan(normalized_gini([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]))
    # a subscription: everyone paid 3 x 9.99; float noise in the perfect Gini once gave 3.0
    rng = np.random.default_rng(0)
    paid = np.full(500, 29.97)
    paid[::3] = np.nextafter(29.97, 0)  # sums in another order
    assert np.isnan(normalized_gini(paid, rng.random(500)))
    from training.plots import gains_plot

    gains_plot({"nobody churned": (np.zeros(20), rng.random(20))})  # a note, not a ValueError
    assert np.isnan(clv_metrics([0.0, 0.0], [1.0, 2.0])["clv_total_ratio"])


def test_total_ratio_is_exact_ratio_of_sums(value_sample):
    actual, predicted = value_sample
    assert clv_metrics(actual, predicted)["clv_total_ratio"] == predicted.sum() / actual.sum()


def test_spearman_matches_scipy(value_sample):
    actual, predicted = value_sample
    assert clv_metrics(actual, predicted)["clv_spearman"] == pytest.approx(
        spearmanr(actual, predicted).statistic
    )


def test_spearman_with_ties_matches_scipy_and_is_nan_when_constant(rng):
    actual = np.round(rng.gamma(1, 3, 500))  # many ties on both sides
    predicted = np.round(actual + rng.normal(0, 2, 500))
    assert spearman(actual, predicted) == pytest.approx(spearmanr(actual, predicted).statistic)
    assert np.isnan(spearman(actual, np.ones(500)))


def test_clv_metrics_are_the_single_metric_functions(value_sample):
    actual, predicted = value_sample
    m = clv_metrics(actual, predicted)
    assert m["clv_mae"] == mean_absolute_error(actual, predicted)
    assert m["clv_spearman"] == spearman(actual, predicted)
    assert m["clv_total_ratio"] == total_ratio(actual, predicted)


def test_roc_auc_is_sklearns_on_any_score(churn_sample):
    churned, probability = churn_sample
    purchases = 10 * (1 - probability) + 3  # not a probability: a ranking score
    assert roc_auc(churned, -purchases) == pytest.approx(
        roc_auc_score(churned, -purchases), abs=1e-12
    )
    assert roc_auc(churned, -purchases) == pytest.approx(roc_auc(churned, probability))
    with pytest.raises(ValueError, match="score must be finite"):
        roc_auc([0, 1], [0.1, np.nan])


@pytest.mark.parametrize("seed", range(5))
def test_rank_auc_equals_sklearns_on_random_data_with_ties(seed):
    """The one AUC (rank form, ties averaged) against scikit-learn: many ties, rare positives."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 3000))
    labels = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(int)
    labels[0], labels[-1] = 0, 1  # both classes
    score = np.round(rng.normal(labels * rng.uniform(0, 2), 1.0), int(rng.integers(0, 2)))
    assert len(np.unique(score)) < n  # rounded: ties
    assert roc_auc(labels, score) == pytest.approx(roc_auc_score(labels, score), abs=1e-12)
    assert roc_auc(labels.astype(bool), -score) == pytest.approx(
        1 - roc_auc_score(labels, score), abs=1e-12
    )
    assert roc_auc(labels, np.zeros(n)) == 0.5  # one tie across both classes


def test_top_decile_share_is_share_of_top_ten_percent():
    actual = np.arange(100, dtype=float)
    predicted = actual[::-1].copy()  # worst ordering
    assert clv_metrics(actual, actual)["clv_top_decile_share"] == pytest.approx(
        actual[90:].sum() / actual.sum()
    )
    assert clv_metrics(actual, predicted)["clv_top_decile_share"] == pytest.approx(
        actual[:10].sum() / actual.sum()
    )


def test_clv_metrics_accept_series():
    m = clv_metrics(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0, 3.0]))
    assert m["clv_mae"] == 0 and m["clv_gini"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- churn


def test_churn_metrics_hand_computed():
    churned = np.array([0, 0, 1, 1])
    probability = np.array([0.1, 0.4, 0.35, 0.8])
    m = churn_metrics(churned, probability)
    assert m["churn_auc"] == pytest.approx(0.75)
    assert m["churn_pr_auc"] == pytest.approx((1 / 2) * 1 + (1 / 2) * (2 / 3))
    assert m["churn_brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["churn_log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])))
    assert m["churn_base_rate"] == 0.5


def test_churn_metrics_match_sklearn_with_ties(churn_sample):
    churned, probability = churn_sample
    m = churn_metrics(churned, probability)
    assert m["churn_auc"] == pytest.approx(roc_auc_score(churned, probability), rel=1e-12)
    assert m["churn_pr_auc"] == pytest.approx(
        average_precision_score(churned, probability), rel=1e-12
    )
    assert m["churn_brier"] == pytest.approx(brier_score_loss(churned, probability), rel=1e-12)
    assert m["churn_log_loss"] == pytest.approx(sklearn_log_loss(churned, probability), rel=1e-12)
    assert m["churn_base_rate"] == pytest.approx(churned.mean())


def test_log_loss_is_finite_for_certain_wrong_predictions():
    m = churn_metrics([1, 0], [0.0, 1.0])
    assert np.isfinite(m["churn_log_loss"])
    assert m["churn_log_loss"] == pytest.approx(sklearn_log_loss([1, 0], [0.0, 1.0]))


def test_churn_metrics_accept_bool_labels():
    assert churn_metrics([True, False], [0.9, 0.1])["churn_auc"] == 1.0


def test_ranking_metrics_are_nan_with_one_class():
    assert np.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert np.isnan(average_precision([0, 0], [0.2, 0.5]))


def test_ece_hand_computed():
    y = [0, 1, 0, 1]
    p = [0.2, 0.2, 0.6, 0.6]
    # bins {0.2, 0.2}: |0.5 - 0.2| ; {0.6, 0.6}: |0.5 - 0.6| ; equal weights
    assert expected_calibration_error(y, p, n_bins=2, strategy="uniform") == pytest.approx(0.2)
    assert expected_calibration_error(y, p, n_bins=2, strategy="quantile") == pytest.approx(0.2)


def test_ece_of_calibrated_probabilities_is_small(rng):
    p = rng.random(50_000)
    y = (rng.random(50_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.clip(p * 0.5, 0, 1)) > 0.2


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibration_bins_match_sklearn(churn_sample, strategy):
    churned, probability = churn_sample
    table = calibration_bins(churned, probability, n_bins=10, strategy=strategy)
    prob_true, prob_pred = calibration_curve(churned, probability, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["n"].sum() == len(churned)


def test_churn_ece_uses_ten_quantile_bins(churn_sample):
    churned, probability = churn_sample
    assert churn_metrics(churned, probability)["churn_ece"] == expected_calibration_error(
        churned, probability, n_bins=10, strategy="quantile"
    )


def test_calibration_bins_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        calibration_bins([0, 1], [0.1, 0.9], strategy="kmeans")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: clv_metrics([1.0, 2.0], [1.0]), "actual has 2, predicted has 1"),
        (lambda: clv_metrics([1.0, 2.0], [1.0, np.nan]), "predicted must be finite"),
        (lambda: clv_metrics([np.inf, 2.0], [1.0, 1.0]), "actual must be finite"),
        (lambda: clv_metrics([], []), "actual must not be empty"),
        (lambda: clv_metrics([[1.0]], [[1.0]]), "actual must be one-dimensional"),
        (lambda: churn_metrics([0, 2], [0.1, 0.2]), "churned must contain only 0/1"),
        (lambda: churn_metrics([0, 1], [0.1, 1.2]), r"probability must be in \[0, 1\]"),
        (lambda: churn_metrics([0, 1, 1], [0.1, 0.2]), "churned has 3, probability has 2"),
        (lambda: gains_curve([0, 0], [0.1, 0.2]), "sums to 0"),
        (lambda: bootstrap_interval(np.mean, [1, 2], [1]), r"arrays\[0\] has 2, arrays\[1\] has 1"),
        (lambda: bootstrap_interval(np.mean, [1, 2], n_boot=0), "n_boot"),
        (lambda: bootstrap_interval(np.mean, [1, 2], alpha=1.5), "alpha"),
    ],
)
def test_invalid_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="actual must be numeric"):
        clv_metrics(["a", "b"], [1.0, 2.0])


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_of_mean_matches_normal_theory(rng):
    x = rng.normal(10, 2, 2000)
    low, high = bootstrap_interval(np.mean, x, n_boot=400, seed=1)
    half_width = 1.96 * 2 / np.sqrt(2000)
    assert low < x.mean() < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.2)


def test_bootstrap_interval_is_reproducible_by_seed(churn_sample):
    a = bootstrap_interval(roc_auc, *churn_sample, n_boot=50, seed=3)
    assert a == bootstrap_interval(roc_auc, *churn_sample, n_boot=50, seed=3)
    assert a != bootstrap_interval(roc_auc, *churn_sample, n_boot=50, seed=4)


def test_bootstrap_drops_undefined_replicates():
    churned = np.array([0] * 9 + [1])  # many resamples contain no churner
    probability = np.linspace(0.1, 0.9, 10)
    low, high = bootstrap_interval(roc_auc, churned, probability, n_boot=100)
    assert np.isfinite(low) and np.isfinite(high)
    assert np.isnan(bootstrap_interval(lambda y: float("nan"), churned, n_boot=5)).all()


def test_bootstrap_interval_of_auc_on_20k_rows_brackets_the_auc(rng):
    n = 20_000
    probability = rng.random(n)
    churned = (rng.random(n) < probability).astype(int)
    low, high = bootstrap_interval(roc_auc, churned, probability, n_boot=50)
    assert low < roc_auc(churned, probability) < high and high - low < 0.03


def test_paired_difference_of_identical_predictions_is_zero(churn_sample):
    churned, probability = churn_sample
    assert paired_bootstrap_difference(roc_auc, churned, probability, probability, n_boot=20) == (
        0.0,
        0.0,
        0.0,
    )


def test_paired_difference_detects_a_clearly_better_model(rng):
    n = 5000
    probability = rng.random(n)
    churned = (rng.random(n) < probability).astype(int)
    noisy = np.clip(probability + rng.normal(0, 0.3, n), 0, 1)
    mean_diff, low, high = paired_bootstrap_difference(
        roc_auc, churned, probability, noisy, n_boot=100
    )
    assert 0 < low <= mean_diff <= high
    assert mean_diff == pytest.approx(
        roc_auc(churned, probability) - roc_auc(churned, noisy), abs=0.01
    )


def test_paired_difference_sign_convention(rng):
    n = 2000
    actual = rng.gamma(1, 10, n)
    worse = actual + rng.normal(0, 20, n)
    gini = normalized_gini
    assert paired_bootstrap_difference(gini, actual, worse, actual, n_boot=30).high < 0


# --------------------------------------------------------------------------- tables and curves


def test_decile_table_hand_computed():
    actual = np.arange(1, 21, dtype=float)  # total 210
    table = decile_table(actual, actual)
    assert list(table.columns) == [
        "decile",
        "n",
        "mean_predicted",
        "mean_actual",
        "actual_share",
        "cumulative_actual_share",
        "lift",
    ]
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["n"].tolist() == [2] * 10
    first = table.iloc[0]
    assert first["mean_actual"] == 19.5 and first["mean_predicted"] == 19.5
    assert first["actual_share"] == pytest.approx(39 / 210)
    assert first["lift"] == pytest.approx(19.5 / 10.5)
    assert table["cumulative_actual_share"].iloc[-1] == pytest.approx(1.0)
    assert table["mean_actual"].is_monotonic_decreasing


def test_decile_table_uneven_sizes_and_ties(value_sample, rng):
    actual, predicted = value_sample
    table = decile_table(actual[:1234], predicted[:1234])
    assert table["n"].sum() == 1234 and table["n"].max() - table["n"].min() <= 1
    tied = decile_table(actual, np.zeros_like(actual))  # one tie group: one decile
    assert tied["n"].sum() == len(actual) and (tied["n"] > 0).sum() == 1
    assert tied["actual_share"].sum() == pytest.approx(1.0)
    order = rng.permutation(len(actual))
    coarse = np.round(predicted / 50)
    pd.testing.assert_frame_equal(
        decile_table(actual, coarse), decile_table(actual[order], coarse[order])
    )


def test_gains_curve_hand_computed():
    targeted, captured = gains_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    np.testing.assert_allclose(targeted, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(captured, [0, 0.5, 0.5, 1, 1])


def test_gains_curve_groups_tied_scores():
    targeted, captured = gains_curve([1, 0, 0, 0], [0.5, 0.5, 0.1, 0.1])
    np.testing.assert_allclose(targeted, [0, 0.5, 1])
    np.testing.assert_allclose(captured, [0, 1, 1])


def test_gains_curve_of_value_is_monotone_from_zero_to_one(value_sample):
    targeted, captured = gains_curve(*value_sample)
    assert targeted[0] == captured[0] == 0
    assert targeted[-1] == pytest.approx(1) and captured[-1] == pytest.approx(1)
    assert np.all(np.diff(targeted) > 0) and np.all(np.diff(captured) >= 0)
