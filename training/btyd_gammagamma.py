"""Gamma-Gamma model of spend per transaction, fitted by maximum likelihood.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

Model: a customer's transaction values are i.i.d. ``Gamma(p, nu)`` (shape ``p``, rate ``nu``), so
their mean spend is ``p / nu``; across customers ``nu ~ Gamma(q, v)`` (shape ``q``, rate ``v``).
The data per customer are ``x`` (repeat transactions, > 0) and ``zbar`` (the mean value of those
repeat transactions). Spend is assumed independent of the purchase process (check it on your data:
the correlation of ``x`` and ``zbar`` should be near 0).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from training.arrays import as_1d_float
from training.btyd_common import (
    check_frequency,
    check_same_length,
    check_scalar,
    first_violation,
    minimize_log_params,
)

PARAM_NAMES = ("p", "q", "v")


def check_gamma_gamma_inputs(
    frequency, monetary_value, *, names: tuple[str, str] = ("frequency", "monetary_value")
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(x, zbar)``: ``zbar`` must be finite and > 0 wherever ``x > 0``.

    Where ``x == 0`` ``zbar`` is not used (any value, also NaN, is accepted and returned as 0).
    """
    n_x, n_m = names
    x = as_1d_float(frequency, n_x)
    m = np.atleast_1d(np.asarray(monetary_value, dtype=float))
    if m.ndim != 1:
        raise ValueError(f"{n_m} must be one-dimensional; got shape {m.shape}.")
    check_same_length({n_x: x, n_m: m})
    check_frequency(x, n_x)
    used = x > 0
    bad = used & ~(np.isfinite(m) & (m > 0))
    if bad.any():
        raise ValueError(
            f"{n_m} must be a finite value > 0 for customers with {n_x} > 0 (mean repeat-purchase "
            f"value); got {first_violation(m, bad)}."
        )
    return x, np.where(used, m, 0.0)


def gamma_gamma_log_likelihood(params, frequency, monetary_value) -> np.ndarray:
    """Per-customer log density of ``zbar`` given ``x`` at ``params = (p, q, v)`` (x > 0 only).

    ``f(zbar | x) = G(px+q) / (G(px) G(q)) * v^q x^(px) zbar^(px-1) / (v + x zbar)^(px+q)``
    (Fader & Hardie 2013, eq. 4, including the Jacobian of the mean).
    """
    p, q, v = params
    x, m = frequency, monetary_value
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + px * np.log(x)
        + (px - 1) * np.log(m)
        - (px + q) * np.log(v + x * m)
    )


def _negloglik_and_grad(log_params, x, m, weights, penalizer_coef):
    params = np.exp(log_params)
    p, q, v = params
    ll = gamma_gamma_log_likelihood(params, x, m)
    px = p * x
    log_vxm = np.log(v + x * m)
    dg = special.digamma
    psi_pxq = dg(px + q)
    d_p = x * (psi_pxq - dg(px) + np.log(x) + np.log(m) - log_vxm)
    d_q = psi_pxq - dg(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    wsum = weights.sum()
    nll = -(weights * ll).sum() / wsum + penalizer_coef * np.sum(params**2)
    if not np.isfinite(nll):
        return np.inf, np.zeros_like(log_params)
    grad_params = -np.array([(weights * g).sum() for g in (d_p, d_q, d_v)]) / wsum
    return float(nll), grad_params * params + 2.0 * penalizer_coef * params**2


class GammaGammaFitter:
    """Gamma-Gamma spend model fitted by maximum likelihood (L-BFGS-B on log-parameters).

    Parameters
    ----------
    penalizer_coef:
        L2 penalty ``penalizer_coef * (p^2 + q^2 + v^2)`` added to the mean negative
        log-likelihood (``lifetimes`` convention); 0 = plain maximum likelihood.
    max_iter:
        Iteration cap of the optimiser.

    Attributes (after ``fit``)
    --------------------------
    params_: dict with ``p, q, v``.
    log_likelihood_: total log-likelihood at ``params_`` over the customers used (no penalty).
    n_customers_: customers used (those with frequency > 0).
    converged_, n_iter_: optimiser report.
    """

    def __init__(self, *, penalizer_coef: float = 0.0, max_iter: int = 2000):
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    def fit(self, frequency, monetary_value) -> GammaGammaFitter:
        """Fit on customers with ``frequency > 0``; the others are skipped (they have no repeat
        transaction value). ``monetary_value`` is the mean value of the repeat transactions."""
        penalizer = check_scalar(self.penalizer_coef, "penalizer_coef", low=0.0)
        x, m = check_gamma_gamma_inputs(frequency, monetary_value)
        used = x > 0
        if not used.any():
            raise ValueError(
                "frequency must be > 0 for at least one customer (the Gamma-Gamma "
                "model learns from repeat-purchase values); got none."
            )
        rows, counts = np.unique(np.column_stack([x[used], m[used]]), axis=0, return_counts=True)
        ux, um = rows.T
        weights = counts.astype(float)
        # Start: p = q = 2 and v so that the population mean p v / (q - 1) matches mean(zbar).
        x0 = np.log([2.0, 2.0, float(np.average(um, weights=weights)) / 2.0])
        res = minimize_log_params(
            lambda z: _negloglik_and_grad(z, ux, um, weights, penalizer),
            x0,
            max_iter=self.max_iter,
        )
        params = np.exp(res.x)
        self.params_ = dict(zip(PARAM_NAMES, (float(p) for p in params), strict=True))
        self.log_likelihood_ = float((weights * gamma_gamma_log_likelihood(params, ux, um)).sum())
        self.n_customers_ = int(used.sum())
        # the repeat buyers' mean spend: what a customer without a repeat purchase is expected
        # to spend when the fit has no population mean (q <= 1; subscription invoices of one
        # amount each and seat counts from 3 to 100 drive p up and q below 1)
        self.sample_mean_spend_ = float(np.average(um, weights=weights))
        self.converged_ = bool(res.success)
        self.n_iter_ = int(res.nit)
        return self

    def _params(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError(
                "GammaGammaFitter is not fitted yet: call fit(frequency, monetary_value)."
            )
        p, q, v = (self.params_[k] for k in PARAM_NAMES)
        return p, q, v

    def population_mean_spend(self) -> float:
        """E[Z] = p v / (q - 1) for a customer with no repeat purchase yet; if q <= 1 (the
        fitted prior has no mean) the repeat buyers' mean spend the model was fitted on (inf for
        parameters set by hand)."""
        p, q, v = self._params()
        return p * v / (q - 1) if q > 1 else getattr(self, "sample_mean_spend_", np.inf)

    def conditional_expected_average_profit(self, frequency, monetary_value) -> np.ndarray:
        """E[mean transaction value | x, zbar] = (v + x zbar) p / (p x + q - 1).

        A weighted mean of the population mean ``p v / (q - 1)`` and the customer's own ``zbar``,
        with weight ``p x / (p x + q - 1)`` on the latter. For ``x = 0`` it is the population mean
        (:meth:`population_mean_spend`: the fitted repeat buyers' mean spend if ``q <= 1``, where
        the prior's mean does not exist; a training then neither stops on an infinite baseline
        nor gives the models an infinite feature).
        """
        p, q, v = self._params()
        x, m = check_gamma_gamma_inputs(frequency, monetary_value)
        denom = p * x + q - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (v + x * m) * p / denom
        return np.where(denom > 0, out, self.population_mean_spend())
