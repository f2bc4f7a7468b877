"""Uplift metrics on held-out customers of a randomized campaign, with bootstrap intervals.

- **Qini curve**: customers sorted by score (descending); at the top ``n``,
  ``Q(n) = Y_t(n) - Y_c(n) * N_t(n) / N_c(n)`` (extra outcome among the treated of the top ``n``
  relative to the control rate there). Tied scores count as one block (linear in between), so
  a constant score -- treat everyone, in no order -- is the straight "random" line.
- **Qini coefficient**: area between the Qini curve and the random line, divided by ``N^2``:
  the average extra outcome per customer that ranking adds over no ranking (0 for random).
- **Uplift at top k%**: mean outcome of the treated minus mean of the controls among the top k%
  (ties with the last included).
- **PEHE**: root mean squared error of estimated vs true effects (synthetic data).
- **Policy value** at a budget of ``k`` contacts: outcome gained by contacting the top ``k``;
  from truth (sum of true effects) or estimated from the held-out arms
  (``k * (mean_t - mean_c)`` among the top ``k``). With a ``floor`` the budget is a cap: only
  customers whose score (an estimated effect) is above it are contacted, at most ``k``, as
  scoring does when it recommends no action that does not pay.

Campaigns of one action with different holdout shares (a 50/50 test and a 90/10 rollout) are
pooled with ``design_weights``: each arm's rows weighted so that both arms stand for the same
customers (without them the 90/10 campaign's customers fill the treated arm). One campaign, or
campaigns with the same share: every weight is 1 and the metrics are the unweighted ones.

Intervals: percentile bootstrap over customers, resampled within each arm (then shuffled, so
that ties keep no arm order); several metrics
computed on the same resamples (``bootstrap``) give paired intervals for their differences.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.arrays import as_1d_float

#: The columns of the policy-value table logged as metrics (``policy.<action>.<outcome>.<model>.
#: <column>``, ``training.uplift_run``; ``experiments.uplift_table`` reads them back).
POLICY_METRICS = (
    "contacts",
    "true",
    "true_lo",
    "true_hi",
    "estimated",
    "estimated_lo",
    "estimated_hi",
)


def _arrays(y, treated, score, weights=None):
    y, score = as_1d_float(y, "y"), as_1d_float(score, "score")  # 1-d, no NaN or inf
    treated = np.asarray(treated, dtype=bool)
    if not (len(y) == len(treated) == len(score)):
        raise ValueError(f"lengths differ: y {len(y)}, treated {len(treated)}, score {len(score)}")
    w = np.ones(len(y)) if weights is None else as_1d_float(weights, "weights")
    if len(w) != len(y):
        raise ValueError(f"lengths differ: y {len(y)}, weights {len(w)}")
    return y, treated, score, w


def design_weights(campaign, treated) -> np.ndarray:
    """Row weights that pool campaigns of different treated shares into one design: a treated
    row of a campaign with share ``e`` weighs ``p / e``, a control row ``(1 - p) / (1 - e)``
    (``p`` the pooled share), so each arm holds every campaign in proportion to its size. A
    campaign with one arm only keeps weight 1 (it tells nothing either way)."""
    treated = np.asarray(treated, dtype=bool)
    campaign = np.asarray(campaign)
    if len(campaign) != len(treated):
        raise ValueError(f"lengths differ: campaign {len(campaign)}, treated {len(treated)}")
    weights = np.ones(len(treated))
    if len(treated) == 0:
        return weights
    pooled = treated.mean()
    for value in np.unique(campaign):
        rows = campaign == value
        share = treated[rows].mean()
        if 0 < share < 1:
            weights[rows & treated] = pooled / share
            weights[rows & ~treated] = (1 - pooled) / (1 - share)
    return weights


def qini_curve(y, treated, score, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """``(n, Q(n))`` at 0 and at the end of every block of tied scores (linear in between);
    with ``weights`` (``design_weights``) the arms' outcomes and counts are weighted."""
    y, treated, score, w = _arrays(y, treated, score, weights)
    order = np.argsort(-score, kind="stable")
    y, t, s, w = y[order], treated[order], score[order], w[order]
    yt, yc = np.cumsum(w * y * t), np.cumsum(w * y * ~t)
    nt, nc = np.cumsum(w * t), np.cumsum(w * ~t)
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1] if len(s) else np.array([], int)
    ratio = np.divide(nt[ends], nc[ends], out=np.zeros(len(ends)), where=nc[ends] > 0)
    q = yt[ends] - yc[ends] * ratio
    return np.r_[0.0, ends + 1.0], np.r_[0.0, q]


def qini_coefficient(y, treated, score, weights=None) -> float:
    """Area between the Qini curve and the random line, per customer squared (0 = random)."""
    n, q = qini_curve(y, treated, score, weights)
    total = n[-1]
    if total == 0:
        return 0.0
    area = float(np.sum((n[1:] - n[:-1]) * (q[1:] + q[:-1]) / 2))
    return (area - q[-1] * total / 2) / total**2


def uplift_at_top(y, treated, score, share: float, weights=None) -> float:
    """Mean treated outcome minus mean control outcome among the top ``share`` by score
    (customers tied with the last one included, so a constant score gives the overall uplift);
    means weighted by ``weights`` when given."""
    y, treated, score, w = _arrays(y, treated, score, weights)
    k = max(1, round(share * len(y)))
    threshold = np.sort(score)[::-1][k - 1]
    top = score >= threshold
    t, c = top & treated, top & ~treated
    if not t.any() or not c.any():
        return float("nan")
    return float(np.average(y[t], weights=w[t]) - np.average(y[c], weights=w[c]))


def pehe(estimated, true) -> float:
    """Root mean squared error of estimated effects against the true ones."""
    estimated, true = np.asarray(estimated, float), np.asarray(true, float)
    return float(np.sqrt(np.mean((estimated - true) ** 2)))


def top_k(score, k: int, floor: float | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores (stable: ties keep their order); with ``floor``, only
    scores above it (fewer than ``k`` when fewer are)."""
    score = np.asarray(score, float)
    top = np.argsort(-score, kind="stable")[:k]
    return top if floor is None else top[score[top] > floor]


def contact_weights(score, k: int, floor: float | None = None) -> np.ndarray:
    """Each customer's chance of being among the ``top_k`` contacted when tied scores come in a
    random order: 1 above the ``k``-th score, the free places shared by the scores tied with it
    (a constant score contacts everyone with chance ``k / n``), 0 below, and 0 at or under
    ``floor``. Unlike ``top_k`` it does not depend on the order of the rows, so a ranking that
    ties everyone is valued as contacting at random, not as contacting the first rows."""
    score = np.asarray(score, float)
    weights = np.zeros(len(score))
    top = top_k(score, k, floor)
    if len(top) == 0:
        return weights
    last = score[top[-1]]
    eligible = np.ones(len(score), bool) if floor is None else score > floor
    above = eligible & (score > last)
    tied = eligible & (score == last)
    weights[above] = 1.0
    weights[tied] = (len(top) - int(above.sum())) / int(tied.sum())
    return weights


def policy_value_true(true_effect, score, k: int, floor: float | None = None) -> float:
    """Sum of the true effects of the customers contacted (``contact_weights``: ties at the
    budget's edge share its last places)."""
    return float((np.asarray(true_effect, float) * contact_weights(score, k, floor)).sum())


def policy_value_estimated(
    y, treated, score, k: int, floor: float | None = None, weights=None
) -> float:
    """``m * (mean_t - mean_c)`` among the ``m`` customers contacted (``top_k``; randomized
    arms; customers tied at the budget's edge weighted by ``contact_weights``); 0 when nobody
    is; arms weighted by ``weights`` (``design_weights``) when given)."""
    y, treated, score, design = _arrays(y, treated, score, weights)
    w = contact_weights(score, k, floor)
    if w.sum() == 0:
        return 0.0
    wt, wc = w * design * treated, w * design * ~treated
    if wt.sum() == 0 or wc.sum() == 0:
        return float("nan")
    return float(w.sum() * ((wt * y).sum() / wt.sum() - (wc * y).sum() / wc.sum()))


def bootstrap(
    metrics: Callable[[np.ndarray], dict[str, float]],
    treated,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float, float]]:
    """``{name: (point, low, high)}``: ``metrics(idx)`` on all rows and on ``n_boot`` resamples.

    Resamples are drawn within each arm (the arm sizes stay fixed), the same for every metric,
    so the interval of a difference of two metrics is paired.
    """
    treated = np.asarray(treated, dtype=bool)
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(treated), np.flatnonzero(~treated)]
    point = metrics(np.arange(len(treated)))
    draws: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_boot):
        idx = rng.permutation(
            np.concatenate([rng.choice(a, size=len(a), replace=True) for a in arms if len(a)])
        )
        for name, value in metrics(idx).items():
            draws[name].append(value)
    alpha = (1 - level) / 2
    out = {}
    for name, value in point.items():
        sample = np.asarray(draws[name], float)
        sample = sample[~np.isnan(sample)]
        lo, hi = np.quantile(sample, [alpha, 1 - alpha]) if len(sample) else (np.nan, np.nan)
        out[name] = (float(value), float(lo), float(hi))
    return out
