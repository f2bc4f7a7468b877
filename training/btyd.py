"""BTYD baseline ("buy 'til you die"): BG/NBD purchases x Gamma-Gamma spend, and its RFM summary.

- :func:`rfm_summary` turns contract transactions into the per-customer ``(x, t_x, T, zbar)``
  summary as of a cutoff (lifetimes-style, in a time unit of ``freq_days`` days).
- :class:`BetaGeoFitter` (``btyd_bgnbd``) and :class:`GammaGammaFitter` (``btyd_gammagamma``) are
  the two maximum-likelihood models on plain arrays.
- :class:`BTYDModel` wires both to a summary table and predicts, per customer and horizon,
  expected purchases, P(alive), P(no purchase), expected spend per purchase and expected value.

Typical use on the feature table (days)::

    model = BTYDModel().fit(train_summary)          # frequency, btyd_recency_days, age_days,
    scores = model.predict(test_summary, 90)        # monetary_value

and on :func:`rfm_summary` output (lifetimes column names, unit ``freq_days``)::

    summary = rfm_summary(transactions, cutoff, freq_days=7)
    model = BTYDModel(recency_col="recency", age_col="T", time_unit_days=7).fit(summary)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.btyd_bgnbd import (
    BetaGeoFitter,
    alive_probability,
    check_bgnbd_inputs,
    expected_purchases_if_alive,
)
from training.btyd_common import check_scalar
from training.btyd_gammagamma import GammaGammaFitter, check_gamma_gamma_inputs

__all__ = ["DAYS_PER_YEAR", "BTYDModel", "BetaGeoFitter", "GammaGammaFitter", "rfm_summary"]

#: Year length used to turn an annual discount rate into a daily one.
DAYS_PER_YEAR = 365.0

#: Upper bound on the steps of the discounting quadrature (one step per week, at most this many).
_MAX_DISCOUNT_STEPS = 60


# ----------------------------------------------------------------------------- RFM summary
def rfm_summary(
    transactions: pd.DataFrame,
    cutoff,
    *,
    customer_col: str = "customer_id",
    time_col: str = "ordered_at",
    amount_col: str = "amount",
    freq_days: float = 1,
) -> pd.DataFrame:
    """Per-customer BTYD summary as of ``cutoff``: only rows with ``time_col < cutoff`` are used.

    A *purchase* is a calendar day with a positive ``amount`` (several rows on one day are one
    purchase, valued at the sum of that day's positive amounts; rows with ``amount <= 0`` are
    returns and are ignored). Customers without a purchase before the cutoff get no row.

    Returns a frame indexed by ``customer_col`` (sorted) with, in units of ``freq_days`` days:

    - ``frequency``: repeat purchases = purchase days - 1 (BTYD ``x``);
    - ``recency``: time from the first to the last purchase day (BTYD ``t_x``; the *lifetimes*
      meaning, not the schema's ``recency_days`` = time since the last purchase);
    - ``T``: time from the first purchase day to the cutoff (BTYD ``T``);
    - ``monetary_value``: mean value of the repeat purchase days (the first is excluded, as the
      Gamma-Gamma model expects); 0 where ``frequency`` is 0 (the lifetimes convention).
    """
    _check_transactions(transactions, customer_col, time_col, amount_col)
    freq = check_scalar(freq_days, "freq_days", low=0.0, low_inclusive=False)
    cutoff_ts = _as_timestamp(cutoff, transactions[time_col], time_col)

    times = transactions[time_col]
    keep = (times < cutoff_ts) & (transactions[amount_col] > 0)
    rows = transactions.loc[keep, [customer_col, amount_col]].assign(
        _day=times[keep].dt.normalize()
    )
    daily = (
        rows.groupby([customer_col, "_day"], sort=True, observed=True)[amount_col]
        .sum()
        .reset_index()
    )
    per_customer = daily.groupby(customer_col, sort=True, observed=True).agg(
        first_day=("_day", "min"),
        last_day=("_day", "max"),
        purchase_days=("_day", "size"),
        total_value=(amount_col, "sum"),
        first_value=(amount_col, "first"),  # days are sorted within each customer
    )
    unit = pd.Timedelta(days=1) * freq
    frequency = per_customer["purchase_days"].astype("int64") - 1
    repeat_value = per_customer["total_value"] - per_customer["first_value"]
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (per_customer["last_day"] - per_customer["first_day"]) / unit,
            "T": (cutoff_ts - per_customer["first_day"]) / unit,
            "monetary_value": np.where(frequency > 0, repeat_value / frequency.clip(lower=1), 0.0),
        },
        index=per_customer.index,
    )
    out.index.name = customer_col
    return out


def _check_transactions(df, customer_col: str, time_col: str, amount_col: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"transactions must be a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in (customer_col, time_col, amount_col) if c not in df.columns]
    if missing:
        raise ValueError(
            f"transactions must have column(s) {missing}; got columns {list(df.columns)}."
        )
    if not pd.api.types.is_datetime64_any_dtype(df[time_col]):
        raise ValueError(
            f"transactions column {time_col!r} must be a datetime column (parse it "
            f"with pd.to_datetime first); got dtype {df[time_col].dtype}."
        )
    if not pd.api.types.is_numeric_dtype(df[amount_col]):
        raise ValueError(
            f"transactions column {amount_col!r} must be numeric; got dtype {df[amount_col].dtype}."
        )
    for col in (customer_col, time_col, amount_col):
        n_missing = int(df[col].isna().sum())
        if n_missing:
            first = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise ValueError(
                f"transactions column {col!r} must have no missing values; got "
                f"{n_missing} (first at row {first})."
            )


def _as_timestamp(cutoff, times: pd.Series, time_col: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(cutoff)
    except (TypeError, ValueError):
        raise ValueError(f"cutoff must be a date or timestamp; got {cutoff!r}.") from None
    if ts is pd.NaT:
        raise ValueError(f"cutoff must be a date or timestamp; got {cutoff!r}.")
    col_tz = getattr(times.dt, "tz", None)
    if (ts.tz is None) != (col_tz is None):
        raise ValueError(
            f"cutoff and transactions column {time_col!r} must both be naive or both "
            f"timezone-aware; got cutoff tz={ts.tz}, column tz={col_tz}."
        )
    return ts


# ----------------------------------------------------------------------------- wrapper model
class BTYDModel:
    """BG/NBD + Gamma-Gamma on a per-customer summary table; predictions over a horizon in days.

    Parameters
    ----------
    frequency_col, recency_col, age_col, monetary_col:
        Columns holding ``x``, ``t_x``, ``T`` and the mean repeat-purchase value. The defaults are
        the feature table's names (``docs/schema.md``); for :func:`rfm_summary` output use
        ``recency_col="recency", age_col="T"``.
    time_unit_days:
        Length in days of the unit of ``recency_col``/``age_col`` (1 for ``*_days`` columns,
        7 for weeks). Horizons are always given in days.
    bgnbd_penalizer_coef, gamma_gamma_penalizer_coef:
        L2 penalties of the two fitters (0 = plain maximum likelihood).

    Attributes (after ``fit``)
    --------------------------
    bgnbd_: fitted :class:`BetaGeoFitter`. gamma_gamma_: fitted :class:`GammaGammaFitter`.
    params_: all seven parameters in one dict (``r, alpha, a, b, p, q, v``; ``alpha`` in
    ``time_unit_days`` units).
    """

    def __init__(
        self,
        *,
        frequency_col: str = "frequency",
        recency_col: str = "btyd_recency_days",
        age_col: str = "age_days",
        monetary_col: str = "monetary_value",
        time_unit_days: float = 1.0,
        bgnbd_penalizer_coef: float = 0.0,
        gamma_gamma_penalizer_coef: float = 0.0,
    ):
        self.frequency_col = frequency_col
        self.recency_col = recency_col
        self.age_col = age_col
        self.monetary_col = monetary_col
        self.time_unit_days = time_unit_days
        self.bgnbd_penalizer_coef = bgnbd_penalizer_coef
        self.gamma_gamma_penalizer_coef = gamma_gamma_penalizer_coef

    def fit(self, summary: pd.DataFrame) -> BTYDModel:
        """Fit BG/NBD on all rows and Gamma-Gamma on the rows with ``frequency > 0``."""
        check_scalar(self.time_unit_days, "time_unit_days", low=0.0, low_inclusive=False)
        x, t_x, age, m = self._columns(summary)
        self.bgnbd_ = BetaGeoFitter(penalizer_coef=self.bgnbd_penalizer_coef).fit(x, t_x, age)
        self.gamma_gamma_ = GammaGammaFitter(penalizer_coef=self.gamma_gamma_penalizer_coef).fit(
            x, m
        )
        self.params_ = {**self.bgnbd_.params_, **self.gamma_gamma_.params_}
        return self

    def predict(
        self, summary: pd.DataFrame, horizon_days: float, annual_discount_rate: float = 0.0
    ) -> pd.DataFrame:
        """Scores per customer (index of ``summary``) for the ``horizon_days`` after ``T``.

        - ``expected_purchases``: E[purchases in the horizon | x, t_x, T] (BG/NBD);
        - ``p_alive``: P(still active at ``T``);
        - ``p_no_purchase``: P(no purchase in the horizon) =
          ``(1 - p_alive) + p_alive * ((alpha+T)/(alpha+T+t))^(r+x)``;
        - ``expected_spend``: E[value per purchase | x, zbar] (Gamma-Gamma; the population mean
          for customers without a repeat purchase);
        - ``expected_value``: expected purchases x expected spend. With ``annual_discount_rate``
          ``d > 0`` each purchase at ``s`` days after ``T`` is weighted by
          ``exp(-d * s / 365)`` (continuous discounting), integrated over the purchase-rate curve
          (midpoint rule, one step per week up to 60 steps).
        """
        if not hasattr(self, "bgnbd_"):
            raise RuntimeError("BTYDModel is not fitted yet: call fit(summary).")
        horizon = check_scalar(horizon_days, "horizon_days", low=0.0)
        rate = check_scalar(annual_discount_rate, "annual_discount_rate", low=0.0)
        unit = float(self.time_unit_days)
        x, t_x, age, m = self._columns(summary)
        r, alpha, a, b = (self.bgnbd_.params_[k] for k in ("r", "alpha", "a", "b"))

        p_alive = alive_probability(r, alpha, a, b, x, t_x, age)
        t = horizon / unit
        expected = p_alive * expected_purchases_if_alive(r, alpha, a, b, x, age, np.array([t]))
        silent = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
        p_no_purchase = (1.0 - p_alive) + p_alive * silent
        spend = self.gamma_gamma_.conditional_expected_average_profit(x, m)

        if rate > 0 and horizon > 0:
            discounted = self._discounted_purchases(r, alpha, a, b, x, age, p_alive, horizon, rate)
        else:
            discounted = expected
        return pd.DataFrame(
            {
                "expected_purchases": expected,
                "p_alive": p_alive,
                "p_no_purchase": p_no_purchase,
                "expected_spend": spend,
                "expected_value": discounted * spend,
            },
            index=summary.index,
        )

    def _discounted_purchases(self, r, alpha, a, b, x, age, p_alive, horizon, rate) -> np.ndarray:
        """``integral_0^H exp(-rate s / 365) dE[Y(s)]`` by the midpoint rule on E[Y(s)]."""
        unit = float(self.time_unit_days)
        steps = int(np.clip(np.ceil(horizon / 7.0), 1, _MAX_DISCOUNT_STEPS))
        grid_days = np.linspace(0.0, horizon, steps + 1)
        cumulative = np.stack(
            [
                expected_purchases_if_alive(r, alpha, a, b, x, age, np.array([g / unit]))
                for g in grid_days[1:]
            ]
        )
        increments = np.diff(np.vstack([np.zeros_like(x), cumulative]), axis=0)
        mid_days = 0.5 * (grid_days[:-1] + grid_days[1:])
        factors = np.exp(-rate * mid_days / DAYS_PER_YEAR)
        return p_alive * (factors[:, None] * increments).sum(axis=0)

    def _columns(self, summary: pd.DataFrame):
        if not isinstance(summary, pd.DataFrame):
            raise TypeError(f"summary must be a pandas DataFrame; got {type(summary).__name__}.")
        cols = (self.frequency_col, self.recency_col, self.age_col, self.monetary_col)
        missing = [c for c in cols if c not in summary.columns]
        if missing:
            raise ValueError(
                f"summary must have column(s) {missing}; got columns {list(summary.columns)}."
            )
        x, t_x, age = check_bgnbd_inputs(
            summary[self.frequency_col].to_numpy(dtype=float, na_value=np.nan),
            summary[self.recency_col].to_numpy(dtype=float, na_value=np.nan),
            summary[self.age_col].to_numpy(dtype=float, na_value=np.nan),
            names=cols[:3],
        )
        _, m = check_gamma_gamma_inputs(
            x,
            summary[self.monetary_col].to_numpy(dtype=float, na_value=np.nan),
            names=(self.frequency_col, self.monetary_col),
        )
        return x, t_x, age, m
