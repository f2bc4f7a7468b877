"""Time-based splits: no test cutoff ever reaches training, label windows never overlap."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.splits import CutoffPlan, plan_cutoffs


def test_plan_by_hand():
    plan = plan_cutoffs(date(2023, 1, 1), date(2026, 1, 1), 180, n_train=3, step_days=30)
    assert plan.test == date(2025, 7, 1)  # 2026-01-01 - 180 d = 2025-07-05 -> first of month
    assert plan.valid == date(2025, 1, 2)  # one horizon earlier
    assert plan.train == (date(2024, 5, 7), date(2024, 6, 6), date(2024, 7, 6))
    assert plan.split_of(date(2025, 7, 1)) == "test"


@settings(max_examples=200, deadline=None)
@given(
    span_days=st.integers(400, 2000),
    horizon=st.integers(7, 365),
    n_train=st.integers(1, 24),
    step=st.integers(1, 90),
)
def test_no_label_window_reaches_a_later_split(span_days, horizon, n_train, step):
    start = date(2020, 1, 1)
    end = start + timedelta(days=span_days)
    try:
        plan = plan_cutoffs(start, end, horizon, n_train, step)
    except ValueError:
        return  # not enough history: refused loudly, never a leaky plan
    h = timedelta(days=horizon)
    assert all(t + h <= plan.valid for t in plan.train)
    assert plan.valid + h <= plan.test
    assert plan.test + h <= end
    assert plan.test not in plan.train and plan.valid not in plan.train
    assert list(plan.train) == sorted(set(plan.train))
    final = plan_cutoffs(start, end, horizon, n_train, step, refit=True)
    assert final.train == plan.train and final.valid == plan.valid and final.test == plan.test
    assert max(final.refit) == plan.valid and len(final.refit) >= len(plan.train)
    assert all(t + h <= plan.test for t in final.refit)
    assert (min(final.refit) - start).days >= 60


def test_the_final_fit_moves_the_training_layout_one_horizon_later():
    plan = plan_cutoffs(
        date(2023, 1, 1), date(2026, 1, 1), 180, n_train=3, step_days=30, refit=True
    )
    assert plan.refit == (date(2024, 11, 3), date(2024, 12, 3), date(2025, 1, 2))
    assert plan.all() == sorted([*plan.train, *plan.refit, plan.test])  # valid is the last refit
    assert [plan.split_of(c) for c in plan.refit] == ["refit", "refit", "valid"]
    leaky = CutoffPlan(plan.train, plan.valid, plan.test, 180, refit=(date(2025, 2, 1),))
    with pytest.raises(ValueError, match="refit cutoff 2025-02-01 \\+ 180 days reaches the test"):
        leaky.check()


def test_leaky_plan_is_rejected():
    plan = CutoffPlan(
        train=(date(2024, 1, 1),), valid=date(2024, 2, 1), test=date(2024, 6, 1), horizon_days=90
    )
    with pytest.raises(ValueError, match="reaches the validation cutoff"):
        plan.check()


def test_test_cutoff_past_the_data_is_rejected():
    with pytest.raises(ValueError, match="goes past the end of the data"):
        plan_cutoffs(date(2023, 1, 1), date(2024, 1, 1), 90, 3, 30, test_cutoff=date(2023, 12, 1))


def test_too_little_history_is_rejected():
    with pytest.raises(ValueError, match="not enough history"):
        plan_cutoffs(date(2023, 1, 1), date(2023, 8, 1), 90, 3, 30)


def test_training_warns_of_a_value_total_far_from_what_the_test_customers_spent():
    """A dealer group's pair predicted 0.41 of its test customers' spend (car purchases missed),
    its ranking good, and training said nothing."""
    from training.train import total_warning

    said = total_warning({"test_clv_total_ratio": 0.4147, "test_btyd_clv_total_ratio": 0.93})
    assert said is not None and "sum to 0.41 of what they spent" in said and "0.93" in said
    assert total_warning({"test_clv_total_ratio": 1.3}) is not None
    for fine in (0.81, 1.0, 1.24, float("nan")):
        assert total_warning({"test_clv_total_ratio": fine}) is None
    assert total_warning({}) is None


def test_training_says_when_the_baseline_beats_the_models_and_when_cutoffs_were_dropped():
    from datetime import date

    from training.splits import plan_cutoffs
    from training.train import behind_the_baseline

    metrics = {
        "test_churn_auc": 0.8359,
        "test_btyd_churn_auc": 0.8584,
        "test_churn_brier": 0.14,
        "test_btyd_churn_brier": 0.15,
        "test_clv_gini": 0.5644,
        "test_btyd_clv_gini": 0.618,
        "test_clv_mae": 11.26,  # lower is better: the baseline's 10.98 is ahead
        "test_btyd_clv_mae": 10.98,
    }
    behind = [
        "churn_auc: models 0.8359, baseline 0.8584",
        "clv_gini: models 0.5644, baseline 0.618",
        "clv_mae: models 11.26, baseline 10.98",
    ]
    assert behind_the_baseline(metrics) == (behind, [])  # no noise given: every difference counts
    intervals = {"churn_auc": (-0.03, -0.01), "clv_gini": (-0.09, 0.02), "clv_mae": (-0.1, 0.9)}
    assert behind_the_baseline(metrics, intervals.__getitem__) == (behind[:1], behind[1:])
    plan = plan_cutoffs(date(2009, 12, 1), date(2011, 12, 10), 180, 12, 30)
    assert plan.dropped == 12 - len(plan.train) > 0
