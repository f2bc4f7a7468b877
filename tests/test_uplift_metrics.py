"""Uplift metrics against slow, obvious definitions and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from training.uplift_metrics import (
    bootstrap,
    contact_weights,
    pehe,
    policy_value_estimated,
    policy_value_true,
    qini_coefficient,
    qini_curve,
    top_k,
    uplift_at_top,
)


def _slow_qini(y, t, s):
    """Q(n) for every n by direct counting (distinct scores only)."""
    order = np.argsort(-s, kind="stable")
    q = [0.0]
    for n in range(1, len(y) + 1):
        top = order[:n]
        yt, yc = y[top][t[top]].sum(), y[top][~t[top]].sum()
        nt, nc = t[top].sum(), (~t[top]).sum()
        q.append(yt - (yc * nt / nc if nc else 0.0))
    return np.arange(len(y) + 1.0), np.array(q)


def test_qini_curve_matches_direct_counting():
    rng = np.random.default_rng(1)
    y, t, s = rng.random(200) < 0.3, rng.random(200) < 0.5, rng.random(200)
    n, q = qini_curve(y, t, s)
    n_slow, q_slow = _slow_qini(y.astype(float), t, s)
    np.testing.assert_allclose(n, n_slow)
    np.testing.assert_allclose(q, q_slow)


def test_hand_computed_case():
    # two treated buyers on top, then two controls of which one buys
    y = np.array([1, 1, 1, 0.0])
    t = np.array([True, True, False, False])
    s = np.array([4, 3, 2, 1.0])
    _, q = qini_curve(y, t, s)
    # Q(3) = 2 - 1 * 2 / 1 = 0; Q(4) = 2 - 1 * 2 / 2 = 1
    np.testing.assert_allclose(q, [0, 1, 2, 0, 1])
    # area under the curve 0.5 + 1.5 + 1 + 0.5 = 3.5; random line area 1 * 4 / 2 = 2
    assert qini_coefficient(y, t, s) == pytest.approx((3.5 - 2) / 16)
    assert np.isnan(uplift_at_top(y, t, s, 0.5))  # no control among the top half
    assert uplift_at_top(y, t, s, 1.0) == pytest.approx(1.0 - 0.5)


def test_constant_score_is_the_random_line_and_perfect_ranking_beats_random():
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.random(n)
    t = rng.random(n) < 0.5
    effect = np.where(x > 0.7, 0.4, -0.1)
    y = (rng.random(n) < 0.2 + t * effect).astype(float)
    assert qini_coefficient(y, t, np.zeros(n)) == pytest.approx(0.0, abs=1e-12)
    # a constant score ties everyone: its top 10% is everybody, i.e. the overall uplift
    overall = y[t].mean() - y[~t].mean()
    assert uplift_at_top(y, t, np.zeros(n), 0.1) == pytest.approx(overall)
    good, bad = qini_coefficient(y, t, x), qini_coefficient(y, t, -x)
    assert good > 0.02 > -0.02 > bad


def test_policy_values_and_pehe():
    true = np.array([5.0, -3.0, 1.0, 0.0])
    score = np.array([0.9, 0.8, 0.1, 0.5])
    assert policy_value_true(true, score, 2) == 2.0
    assert policy_value_true(true, true, 2) == 6.0
    y = np.array([10.0, 2.0, 4.0, 0.0])
    t = np.array([True, False, True, False])
    # top 2 by score: one treated (10) and one control (2): 2 * (10 - 2)
    assert policy_value_estimated(y, t, score, 2) == 16.0
    assert pehe(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == pytest.approx(np.sqrt(2.0))


def test_a_floor_makes_the_budget_a_cap():
    """With a floor only customers whose estimated effect is above it are contacted: a budget
    is not spent on customers the ranking itself expects to lose."""
    true = np.array([5.0, -3.0, 1.0, -2.0])
    estimate = np.array([0.9, 0.2, -0.1, -0.5])
    assert list(top_k(estimate, 3)) == [0, 1, 2]
    assert list(top_k(estimate, 3, floor=0.0)) == [0, 1]
    assert list(top_k(estimate, 3, floor=0.5)) == [0]
    assert policy_value_true(true, estimate, 3) == 3.0
    assert policy_value_true(true, estimate, 3, floor=0.5) == 5.0
    # nobody pays: nobody is contacted and nothing is gained (not NaN)
    assert policy_value_true(true, estimate, 3, floor=1.0) == 0.0
    y = np.array([10.0, 2.0, 4.0, 0.0])
    t = np.array([True, False, True, False])
    # the two contacted (above 0): one treated (10), one control (2): 2 * (10 - 2)
    assert policy_value_estimated(y, t, estimate, 3, floor=0.0) == 16.0
    assert policy_value_estimated(y, t, estimate, 3, floor=1.0) == 0.0
    # one customer contacted, no control among them: no estimate
    assert np.isnan(policy_value_estimated(y, t, estimate, 3, floor=0.5))


def test_bootstrap_interval_covers_point_and_is_paired():
    rng = np.random.default_rng(3)
    t = rng.random(500) < 0.5
    y = rng.normal(size=500) + t
    out = bootstrap(
        lambda idx: {"mean_t": y[idx][t[idx]].mean(), "same": 0.0 * y[idx].sum()},
        t,
        n_boot=100,
        seed=0,
    )
    point, lo, hi = out["mean_t"]
    assert lo < point < hi and hi - lo < 0.5
    assert out["same"] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="lengths differ"):
        qini_coefficient(y, t[:10], y)


def test_a_ranking_that_ties_everyone_is_valued_as_random_contacts_not_the_first_rows():
    """A model that learnt nothing (one score for all) contacts at random: its policy value is
    the budget's share of everyone's, whatever order the rows are in (it was the first k rows,
    the oldest customer ids, so a constant model could look like the best or worst ranking and
    its point estimate fall outside its own bootstrap interval)."""
    rng = np.random.default_rng(0)
    n, k = 1000, 200
    t = rng.random(n) < 0.5
    effect = np.where(np.arange(n) < k, 1.0, 0.0)  # only the first rows respond
    y = (rng.random(n) < 0.2 + 0.5 * effect * t).astype(float)
    const = np.zeros(n)
    assert policy_value_true(effect, const, k) == pytest.approx(effect.sum() * k / n)
    assert policy_value_true(effect[::-1], const, k) == pytest.approx(effect.sum() * k / n)
    overall = y[t].mean() - y[~t].mean()
    assert policy_value_estimated(y, t, const, k) == pytest.approx(k * overall)
    assert policy_value_estimated(y[::-1], t[::-1], const, k) == pytest.approx(k * overall)
    # ties only at the edge share the last places; a floor still excludes what does not pay
    score = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    assert list(contact_weights(score, 2)) == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3, 0])
    assert list(contact_weights(score, 4, floor=1.5)) == pytest.approx([1, 1, 1, 1, 0])
    assert contact_weights(score, 2, floor=5.0).sum() == 0


def _two_waves(n=1000, seed=0):
    """One action sent in two campaigns: wave 0 (active customers, 50/50) and wave 1 (lapsed
    customers, 90/10); no effect at all; a ranking that only tells the waves apart."""
    rng = np.random.default_rng(seed)
    wave = np.r_[np.zeros(n), np.ones(n)].astype(int)
    treated = np.where(wave == 0, rng.random(2 * n) < 0.5, rng.random(2 * n) < 0.9)
    y = (rng.random(2 * n) < np.where(wave == 0, 0.6, 0.2)).astype(float)
    return wave, treated, y, -wave + rng.normal(0, 0.01, 2 * n)


def test_campaigns_of_one_action_with_different_holdouts_are_weighted_to_one_design():
    """Pooled as they were, the 90/10 wave's many treated lapsed customers made the action look
    harmful (-0.217 on average, truth 0) and a ranking that only tells the waves apart a Qini of
    0.034 [0.028, 0.040] (truth 0: the gate would trust it). Weighted by each campaign's design
    share, both arms stand for the same customers."""
    from training.uplift_metrics import design_weights

    wave, treated, y, score = _two_waves()
    w = design_weights(wave, treated)
    everyone = np.zeros(len(y))
    assert abs(uplift_at_top(y, treated, everyone, 1.0)) > 0.2  # unweighted: the bias
    assert abs(uplift_at_top(y, treated, everyone, 1.0, weights=w)) < 0.04
    boot = bootstrap(
        lambda i: {"q": qini_coefficient(y[i], treated[i], score[i], weights=w[i])}, treated
    )
    assert boot["q"][1] < 0 < boot["q"][2]
    assert abs(policy_value_estimated(y, treated, score, 400, weights=w)) < 40
    # one campaign: every weight is 1 and nothing changes
    one = design_weights(np.zeros(len(y)), treated)
    np.testing.assert_allclose(one, 1.0)
    assert qini_coefficient(y, treated, score, weights=one) == qini_coefficient(y, treated, score)
