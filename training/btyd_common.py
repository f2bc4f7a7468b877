"""Checks and optimiser shared by the BTYD models (BG/NBD and Gamma-Gamma).

Pure helpers, no state. Every check names the input (the column, when the caller passes one) and
says what it must be and what it got, in one template:
``"{name} must be {what}; got {got}."``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

#: Bounds on the log-parameters: exp(+-30) ~ 1e13 / 1e-13 keeps gammaln/digamma finite and lets a
#: parameter run towards a boundary (e.g. b -> infinity when nobody drops out) without overflow.
LOG_PARAM_BOUND = 30.0


def check_same_length(arrays: dict[str, np.ndarray]) -> int:
    """All arrays have one length; returns it. Names the inputs when they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length; got {lengths}.")
    n = next(iter(lengths.values()))
    return n


def first_violation(arr: np.ndarray, mask: np.ndarray) -> str:
    """Describe the first value flagged by ``mask`` and how many there are (for error messages)."""
    i = int(np.flatnonzero(mask)[0])
    return f"{arr[i]!r} at position {i} ({int(mask.sum())} such values)"


def check_frequency(x: np.ndarray, name: str) -> None:
    """Repeat-purchase counts: non-negative whole numbers."""
    bad = (x < 0) | (x != np.round(x))
    if bad.any():
        raise ValueError(
            f"{name} must be a non-negative whole number (repeat purchases); "
            f"got {first_violation(x, bad)}."
        )


def check_non_negative(arr: np.ndarray, name: str) -> None:
    bad = arr < 0
    if bad.any():
        raise ValueError(f"{name} must be >= 0; got {first_violation(arr, bad)}.")


def check_scalar(
    value, name: str, *, low: float | None = None, low_inclusive: bool = True
) -> float:
    """A finite real number, optionally bounded below."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}.") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    if low is not None and (v < low or (not low_inclusive and v == low)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}; got {value!r}.")
    return v


def minimize_log_params(
    fun_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int,
) -> optimize.OptimizeResult:
    """Minimise a smooth objective of log-parameters: L-BFGS-B, then a Nelder-Mead restart if
    needed.

    ``fun_and_grad`` returns the objective and its gradient. L-BFGS-B with the analytic gradient
    converges in a few dozen evaluations; when it reports failure (a flat or awkward surface) we
    continue from where it stopped with the gradient-free Nelder-Mead and polish with L-BFGS-B.
    """
    bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(x0)
    opts = {"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-9}
    res = optimize.minimize(
        fun_and_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts
    )
    if res.success and np.isfinite(res.fun):
        return res
    nm = optimize.minimize(
        lambda z: fun_and_grad(z)[0],
        res.x if np.all(np.isfinite(res.x)) else x0,
        method="Nelder-Mead",
        bounds=bounds,
        options={"maxiter": 200 * len(x0) * 10, "xatol": 1e-8, "fatol": 1e-12},
    )
    polished = optimize.minimize(
        fun_and_grad, nm.x, jac=True, method="L-BFGS-B", bounds=bounds, options=opts
    )
    best = polished if polished.fun <= nm.fun else nm
    best.nit = (
        int(getattr(res, "nit", 0)) + int(getattr(nm, "nit", 0)) + int(getattr(polished, "nit", 0))
    )
    return best
