"""BG/NBD ("beta-geometric / negative binomial") model of repeat purchasing, fitted by maximum
likelihood.

Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2). Per customer the data are ``x`` (repeat purchases),
``t_x`` (time of the last purchase, measured from the first) and ``T`` (time from the first
purchase to the end of observation), all in one time unit of the caller's choice.

Model: while active, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
(shape ``r``, rate ``alpha``); after each repeat purchase they drop out for good with probability
``p ~ Beta(a, b)``.

Numerics: the log-likelihood is built from ``gammaln`` differences and ``logaddexp`` (no products
of large gamma functions); the optimiser works on log-parameters with the analytic gradient;
duplicate ``(x, t_x, T)`` rows are fitted once with a weight. Conditional expectations use the
Euler transform of the Gauss hypergeometric function so that large ``x`` or ``T`` stays finite,
with a quadrature fallback for rows where ``hyp2f1`` still fails (degenerate parameters).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from training.arrays import as_1d_float
from training.btyd_common import (
    check_frequency,
    check_non_negative,
    check_same_length,
    check_scalar,
    first_violation,
    minimize_log_params,
)

PARAM_NAMES = ("r", "alpha", "a", "b")


def check_bgnbd_inputs(
    frequency, recency, T, *, names: tuple[str, str, str] = ("frequency", "recency", "T")
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``(x, t_x, T)`` and return them as float arrays.

    ``names`` are the column names to use in error messages (e.g. ``btyd_recency_days``).
    """
    n_x, n_r, n_t = names
    x = as_1d_float(frequency, n_x)
    t_x = as_1d_float(recency, n_r)
    age = as_1d_float(T, n_t)
    check_same_length({n_x: x, n_r: t_x, n_t: age})
    check_frequency(x, n_x)
    check_non_negative(t_x, n_r)
    check_non_negative(age, n_t)
    bad = t_x > age * (1 + 1e-12) + 1e-12
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{n_r} must be <= {n_t} (the last purchase cannot be after the end of observation); "
            f"got {n_r}={t_x[i]!r} > {n_t}={age[i]!r} at position {i} ({int(bad.sum())} rows)."
        )
    bad = (x == 0) & (t_x != 0)
    if bad.any():
        raise ValueError(
            f"{n_r} must be 0 where {n_x} is 0 (no repeat purchase, so no time since the first); "
            f"got {first_violation(t_x, bad)}."
        )
    return x, np.minimum(t_x, age), age  # clip float noise in t_x <= T


def _log_likelihood_terms(params, x, t_x, T):
    """Per-row pieces of the BG/NBD log-likelihood (FHL 2005, eq. 6).

    ``L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))``
    Returns ``(A1, A2, A3)`` with ``log L = A1 + logaddexp(A2, A3)`` (``A3 = -inf`` where x = 0).
    """
    r, alpha, a, b = params
    gammaln = special.gammaln
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    # B(a, b+x)/B(a, b) and B(a+1, b+x-1)/B(a, b) as gammaln differences (betaln is ~2x slower).
    common = gammaln(a + b) - gammaln(a + b + x) - gammaln(b)
    gl_bx = gammaln(b + x)
    a2 = common + gl_bx - (r + x) * np.log(alpha + T)
    has_repeat = x > 0
    # log G(b+x-1) = log G(b+x) - log(b+x-1); where x = 0 the term is masked out below.
    with np.errstate(divide="ignore", invalid="ignore"):
        a3 = np.log(a) + common + gl_bx - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x)
    a3 = np.where(has_repeat, a3, -np.inf)
    return a1, a2, a3


def bgnbd_log_likelihood(params, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood at ``params = (r, alpha, a, b)`` (no input checks)."""
    a1, a2, a3 = _log_likelihood_terms(np.asarray(params, float), frequency, recency, T)
    return a1 + np.logaddexp(a2, a3)


def _negloglik_and_grad(log_params, x, t_x, T, weights, penalizer_coef):
    """Mean negative log-likelihood (+ L2 penalty) and its gradient in log-parameters."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    a1, a2, a3 = _log_likelihood_terms(params, x, t_x, T)
    lse = np.logaddexp(a2, a3)
    ll = a1 + lse
    w2 = np.exp(a2 - lse)
    w3 = np.exp(a3 - lse)  # 0 where x == 0

    # Derivatives of A1, A2, A3 in the natural parameters, using psi(z+1) = psi(z) + 1/z.
    xs = np.where(x > 0, x, 1.0)  # b + x - 1 > 0 where the A3 term is used (w3 = 0 elsewhere)
    dg = special.digamma
    psi_ab, psi_abx = dg(a + b), dg(a + b + x)
    d_b_a2 = dg(b + x) - psi_abx - dg(b) + psi_ab
    d_r = dg(r + x) - dg(r) + np.log(alpha) - w2 * np.log(alpha + T) - w3 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w2 / (alpha + T) + w3 / (alpha + t_x))
    d_a = (psi_ab - psi_abx) + w3 / a
    d_b = d_b_a2 - w3 / (b + xs - 1)

    # Weighted sums with (w * g).sum(): np.dot goes through threaded BLAS, ~10x slower here.
    wsum = weights.sum()
    nll = -(weights * ll).sum() / wsum + penalizer_coef * np.sum(params**2)
    grad_params = -np.array([(weights * g).sum() for g in (d_r, d_alpha, d_a, d_b)]) / wsum
    grad = grad_params * params + 2.0 * penalizer_coef * params**2
    if not np.isfinite(nll):
        return np.inf, np.zeros_like(log_params)
    return float(nll), grad


def _hyp2f1_tail(r, alpha, a, b, x, T, t):
    """``((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))``, overflow-safe.

    With ``z = t/(alpha+T+t)`` and ``1 - z = (alpha+T)/(alpha+T+t)`` the Euler transform
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` gives
    ``(1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)``: parameters no longer grow with ``x``, so the
    series stays near 1 where the direct form over- and underflows. Where ``a - 1 - r - x > 0``
    the direct series converges at ``z = 1`` and is used instead (the transformed one diverges).
    """
    c = a + b + x - 1
    log1mz = np.log(alpha + T) - np.log(alpha + T + t)
    z = -np.expm1(log1mz)
    direct = (a - 1 - r - x) > 0
    with np.errstate(all="ignore"):
        euler = np.exp((a - 1) * log1mz) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        plain = np.exp((r + x) * log1mz) * special.hyp2f1(r + x, b + x, c, z)
    return np.where(direct, plain, euler)


class BetaGeoFitter:
    """BG/NBD model fitted by maximum likelihood (scipy L-BFGS-B on log-parameters).

    Parameters
    ----------
    penalizer_coef:
        L2 penalty on the parameters, added to the mean negative log-likelihood as
        ``penalizer_coef * (r^2 + alpha^2 + a^2 + b^2)`` (the ``lifetimes`` convention). 0 = plain
        maximum likelihood. A small value (e.g. 0.001) tames fits where ``a, b`` run off to
        infinity (almost nobody drops out).
    max_iter:
        Iteration cap of the optimiser.

    Attributes (after ``fit``)
    --------------------------
    params_: dict with ``r, alpha, a, b``.
    log_likelihood_: total log-likelihood of the training data at ``params_`` (no penalty).
    n_customers_: number of customers fitted.
    converged_: whether the optimiser reported success.
    n_iter_: optimiser iterations.
    """

    def __init__(self, *, penalizer_coef: float = 0.0, max_iter: int = 2000):
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def fit(self, frequency, recency, T) -> BetaGeoFitter:
        """Fit to per-customer ``x`` (repeat purchases), ``t_x`` and ``T`` (one time unit)."""
        penalizer = check_scalar(self.penalizer_coef, "penalizer_coef", low=0.0)
        x, t_x, age = check_bgnbd_inputs(frequency, recency, T)
        if len(x) == 0:
            raise ValueError("frequency must hold at least one customer; got an empty array.")
        if not (age > 0).any():
            raise ValueError("T must be > 0 for at least one customer; got all zeros.")
        rows, counts = np.unique(np.column_stack([x, t_x, age]), axis=0, return_counts=True)
        ux, ut, uT = rows.T
        weights = counts.astype(float)

        # Start: r = 1 and alpha such that the mean purchase rate r/alpha matches the data.
        rate = max(x.sum(), 1.0) / max(age.sum(), 1e-12)
        x0 = np.array([0.0, np.log(1.0 / rate), 0.0, 0.0])
        x0 = np.clip(x0, -20, 20)
        res = minimize_log_params(
            lambda z: _negloglik_and_grad(z, ux, ut, uT, weights, penalizer),
            x0,
            max_iter=self.max_iter,
        )
        params = np.exp(res.x)
        self.params_ = dict(zip(PARAM_NAMES, (float(p) for p in params), strict=True))
        self.log_likelihood_ = float((weights * bgnbd_log_likelihood(params, ux, ut, uT)).sum())
        self.n_customers_ = len(x)
        self.converged_ = bool(res.success)
        self.n_iter_ = int(res.nit)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("BetaGeoFitter is not fitted yet: call fit(frequency, recency, T).")
        r, alpha, a, b = (self.params_[k] for k in PARAM_NAMES)
        return r, alpha, a, b

    # ----------------------------------------------------------- predictions
    def conditional_probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(customer still active at ``T`` | x, t_x, T) (FHL 2008 note, eq. 1); 1 where x = 0."""
        r, alpha, a, b = self._params()
        x, t_x, age = check_bgnbd_inputs(frequency, recency, T)
        return alive_probability(r, alpha, a, b, x, t_x, age)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t, frequency, recency, T
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T] (FHL 2005, eq. 10). ``t`` scalar or per customer."""
        r, alpha, a, b = self._params()
        x, t_x, age = check_bgnbd_inputs(frequency, recency, T)
        horizon = _check_horizon(t, len(x))
        return alive_probability(r, alpha, a, b, x, t_x, age) * expected_purchases_if_alive(
            r, alpha, a, b, x, age, horizon
        )

    def conditional_probability_no_purchases_up_to_time(
        self, t, frequency, recency, T
    ) -> np.ndarray:
        """P(no purchase in (T, T+t] | x, t_x, T).

        Dead at ``T`` (probability 1 - P(alive)): certainly none. Alive: the posterior of the
        purchase rate is Gamma(r+x, alpha+T) and a customer can only drop out right after a
        purchase, so no purchase in ``t`` has probability ``E[exp(-lambda t)] =
        ((alpha+T)/(alpha+T+t))^(r+x)``.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = check_bgnbd_inputs(frequency, recency, T)
        horizon = _check_horizon(t, len(x))
        p_alive = alive_probability(r, alpha, a, b, x, t_x, age)
        silent = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon)))
        return (1.0 - p_alive) + p_alive * silent

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """E[X(t)] for a new customer over ``t`` after the first purchase (FHL 2005, eq. 7)."""
        r, alpha, a, b = self._params()
        horizon = _check_horizon(t, None)
        zeros = np.zeros_like(horizon)
        return expected_purchases_if_alive(r, alpha, a, b, zeros, zeros, horizon)


def _check_horizon(t, n: int | None) -> np.ndarray:
    horizon = as_1d_float(t, "t")
    check_non_negative(horizon, "t")
    if n is not None and len(horizon) not in (1, n):
        raise ValueError(
            f"t must be a scalar or have one value per customer ({n}); got {len(horizon)} values."
        )
    return horizon


def alive_probability(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """``1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))`` via a logistic of logs."""
    has_repeat = x > 0
    xs = np.where(has_repeat, x, 1.0)
    log_odds_dead = (
        np.log(a) - np.log(b + xs - 1) + (r + xs) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(has_repeat, special.expit(-log_odds_dead), 1.0)


def expected_purchases_if_alive(r, alpha, a, b, x, T, t) -> np.ndarray:
    """E[purchases in (T, T+t] | alive at T, x]: ``(a+b+x-1)/(a-1) * (1 - tail)``.

    At ``a = 1`` the expression is 0/0; ``a`` is nudged by 1e-7 there (relative error ~1e-8).
    Where the hypergeometric function fails (huge or degenerate parameters, e.g. from a fit on
    a handful of customers) the rows are computed by quadrature instead.
    """
    if abs(a - 1.0) < 1e-7:
        a = 1.0 + 1e-7
    x, T, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(T, float), np.asarray(t, float))
    tail = _hyp2f1_tail(r, alpha, a, b, x, T, t)
    with np.errstate(all="ignore"):
        out = (a + b + x - 1) / (a - 1) * (1.0 - tail)
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        out = np.array(out, dtype=float)
        out[bad] = _expected_given_alive_by_quadrature(r, alpha, a, b, x[bad], T[bad], t[bad])
    return out


#: Gauss-Legendre nodes and weights on (0, 1) for the quadrature fallback.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_NODES, _GL_WEIGHTS = 0.5 * (_GL_NODES + 1.0), 0.5 * _GL_WEIGHTS


def _expected_given_alive_by_quadrature(r, alpha, a, b, x, T, t) -> np.ndarray:
    """The same expectation as a 1-d integral over the dropout probability ``p``.

    Given alive, ``lambda ~ Gamma(r+x, alpha+T)`` and ``p ~ Beta(a, b+x)``; an individual buys
    ``(1 - exp(-lambda p t)) / p`` times in expectation (FHL 2005, eq. 7 before mixing); averaging
    over ``lambda`` gives ``g(p) = (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p``, bounded by
    ``(r+x) t / (alpha+T)``. ``E[g(p)]`` is integrated in the Beta quantile ``u`` (``p =
    F^-1(u)``), where ``g`` is smooth whatever the shape of the Beta density.
    """
    u = _GL_NODES[None, :]
    p = special.betaincinv(a, (b + x)[:, None], u)
    rate = (r + x)[:, None]
    scale = (t / (alpha + T))[:, None]
    with np.errstate(all="ignore"):
        g = -np.expm1(-rate * np.log1p(p * scale)) / p
    g = np.where(p > 0, g, rate * scale)  # the p -> 0 limit
    return g @ _GL_WEIGHTS
