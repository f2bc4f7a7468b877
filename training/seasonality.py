"""The purchase seasonality of a customer base, for forecasts over a window of the calendar.

BG/NBD counts time in days, every day alike: its P(no purchase within H days) is the same for a
window that holds December as for one that holds June. A base that buys more in December does not
churn alike in both. Month by month before the cutoff, the repeat purchase days of established
customers (who first bought in an earlier month) per customer-day are fitted by a quasi-Poisson
regression on a quadratic trend (the growth and ageing of the base) plus annual harmonics. A
seasonality is used when the harmonics explain more than noise (F-test at :data:`SIGNIFICANCE`,
at least :data:`MIN_MONTHS` complete months) and the two halves of the history, fitted apart,
put the peak in the same place (:data:`HALVES_AGREE`): a season recurs, a drift or a one-off
shift of the rate does not. The harmonics must also stay significant when each acquisition
cohort's rate is allowed to change with its age (``_cohort_check``): a base that acquires its
customers in one season holds more freshly acquired, still active customers some months of the
year, which raises its monthly rate without any season in when customers buy. Then time runs
on a seasonal clock (:meth:`Seasonality.clock`, days of the year's mean rate): BG/NBD is fitted
on each customer's age and recency measured on it and forecasts a window ``[T, T + H)`` over its
*effective days*. Without one, the clock is the calendar.

Evidence (two generators with known seasonality, exports without any): ``docs/results.md``,
section "The churn window on the base's seasonal clock".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from features.dates import YEAR_DAYS

#: Complete months of repeat purchases needed before seasonality is looked for (each half of the
#: history then spans ten months or more: docs/results.md).
MIN_MONTHS = 20
#: A harmonic is kept when its F-test p-value is under this.
SIGNIFICANCE = 0.01
#: The first harmonic fitted on each half of the history (with its own linear trend): the cosine
#: of the angle between the two (cos, sin) pairs must exceed this (peaks within 45 degrees, about
#: six weeks, of each other). False seasonalities on simulated bases: docs/results.md.
HALVES_AGREE = 0.7
#: The rate of an acquisition cohort as a function of its age a (months since its first month):
#: log a and (log a)^2 beside the calendar trend, in the cohort check.
AGE_TERMS = 2
#: Annual harmonics tried, the first, then the second (a sharper peak), each only if significant.
MAX_HARMONICS = 2
#: When the first is not significant, the first 2, then 3 harmonics together, each at the
#: significance shared among the looks: two sharp peaks half a year apart (a shop's 618 and
#: Double 11, a charity's spring and Christmas appeals) cancel the first harmonic.
PEAKS_HARMONICS = 3
#: The trend of the rate (growth and ageing of the base): a quadratic in time.
TREND_DEGREE = 2
#: The origin of the harmonics' phase and of the seasonal clock, and the clock's steps per year.
_ORIGIN = date(2000, 1, 1).toordinal()
_STEPS = 4 * 365


@dataclass(frozen=True)
class Seasonality:
    """The fitted seasonal factor of the purchase rate (none: ``coefficients == ()``).

    ``coefficients`` are the cos/sin pairs of the harmonics of the day of the year (the factor is
    normalised to a mean of 1 over the year); ``p_value`` is the first harmonic's (the first two
    together's when they were taken together: two peaks half a year apart).
    """

    coefficients: tuple[float, ...] = ()
    months: int = 0
    p_value: float | None = None
    reason: str = ""

    @property
    def found(self) -> bool:
        return bool(self.coefficients)

    def _shape(self, days: np.ndarray) -> np.ndarray:
        return np.exp(_harmonics(days, len(self.coefficients) // 2) @ np.array(self.coefficients))

    def factor(self, days: np.ndarray) -> np.ndarray:
        """The purchase rate at ``days`` (ordinals) relative to the year's mean."""
        days = np.asarray(days, dtype=float)
        if not self.found:
            return np.ones_like(days)
        return self._shape(days.ravel()).reshape(days.shape) / self._year_mean

    @cached_property
    def _year_mean(self) -> float:
        """The unnormalised factor's mean over a year (computed once, not per call)."""
        return float(self._shape(_ORIGIN + (np.arange(_STEPS) + 0.5) * YEAR_DAYS / _STEPS).mean())

    def clock(self, days: np.ndarray) -> np.ndarray:
        """Seasonal time at ``days`` (ordinals, fractions allowed): the factor's integral from
        1 January 2000, in days of the year's mean rate (calendar days without a seasonality;
        every whole year counts ``YEAR_DAYS``)."""
        days = np.asarray(days, dtype=float)
        if not self.found:
            return days.copy()
        step = YEAR_DAYS / _STEPS
        rate = self.factor(_ORIGIN + (np.arange(_STEPS) + 0.5) * step)
        within = np.concatenate([[0.0], np.cumsum(rate * step)])
        years, phase = np.divmod(days - _ORIGIN, YEAR_DAYS)
        return _ORIGIN + years * YEAR_DAYS + np.interp(phase, np.arange(_STEPS + 1) * step, within)

    def warp(self, summary: pd.DataFrame, cutoff: date) -> pd.DataFrame:
        """A BTYD summary at ``cutoff`` (``btyd_recency_days``: first to last purchase,
        ``age_days``: first purchase to the cutoff) on the seasonal clock."""
        end = float(cutoff.toordinal())
        first = end - summary["age_days"].to_numpy(dtype=float)
        last = first + summary["btyd_recency_days"].to_numpy(dtype=float)
        start, latest, now = np.split(
            self.clock(np.concatenate([first, last, [end]])), [len(first), 2 * len(first)]
        )
        return summary.assign(btyd_recency_days=latest - start, age_days=now[0] - start)

    def effective_days(self, start: date, days: float) -> float:
        """``[start, start + days)`` in days of the year's mean rate."""
        ends = self.clock(np.array([start.toordinal(), start.toordinal() + float(days)]))
        return float(ends[1] - ends[0])

    def describe(self, start: date | None = None, days: float | None = None) -> str:
        """One line for the log (peak and trough relative to the year's mean)."""
        if not self.found:
            return f"no purchase seasonality used ({self.reason})"
        first = date(2001, 1, 1)
        year = self.factor(first.toordinal() + np.arange(365) + 0.5)
        peak = first + timedelta(days=int(year.argmax()))
        low = first + timedelta(days=int(year.argmin()))
        text = (
            f"purchase seasonality ({len(self.coefficients) // 2} harmonic(s), {self.months} "
            f"months, p={self.p_value:.1e}): rate x{year.max():.2f} around "
            f"{peak:%d %b}, x{year.min():.2f} around {low:%d %b}"
        )
        if start is not None and days is not None:
            text += f"; [{start}, +{days:g}d) counts as {self.effective_days(start, days):.1f} days"
        return text

    def to_dict(self) -> dict:
        return {
            "coefficients": list(self.coefficients),
            "months": self.months,
            "p_value": self.p_value,
            "reason": self.reason,
        }


#: Calendar days: what a forecast uses when seasonality is not looked for.
NO_SEASONALITY = Seasonality(reason="not looked for")


def fit_seasonality(months: pd.DataFrame, before: date) -> Seasonality:
    """Fit :class:`Seasonality` on ``months`` (``month``, ``first_month``, ``repeat_days``,
    ``new_buyers``: one row per calendar month and acquisition cohort with a purchase, as
    ``features.definitions.monthly_purchase_days``); only months complete before ``before`` are
    used. Without ``first_month`` (monthly totals only) there are no cohorts to check, and a
    season is taken on the monthly fit and the halves alone."""
    table = _exposure_table(months, before)
    mids = [m.toordinal() + _days_in(m) / 2 for m in table["month"]]
    usable = table["exposure"].to_numpy() > 0
    n = int(usable.sum())
    none = Seasonality(months=n)
    if n < MIN_MONTHS:
        reason = f"{n} complete months of repeat purchases before {before}, needs {MIN_MONTHS}"
        return replace(none, reason=reason)
    y = table["repeat_days"].to_numpy(dtype=float)[usable]
    offset = np.log(table["exposure"].to_numpy(dtype=float)[usable])
    mid = np.array(mids)[usable]
    trend = _trend(mid, TREND_DEGREE)
    fitted, p_first = _poisson(trend, y, offset), None
    for k in range(1, MAX_HARMONICS + 1):
        wider = _poisson(np.column_stack([trend, _harmonics(mid, k)]), y, offset)
        p = _f_test(fitted, wider, y)
        if k == 1:
            p_first = p
        if not wider.converged and k == 1:
            return replace(none, reason=f"the seasonal fit did not converge in {n} months")
        if not (wider.converged and p < SIGNIFICANCE):  # a higher harmonic that fails: k - 1
            break
        fitted = wider
    kept = fitted.design.shape[1] - trend.shape[1]
    assert p_first is not None  # the loop ran at least once
    first = kept > 0
    looks = range(2, PEAKS_HARMONICS + 1)
    if not first:  # two peaks half a year apart cancel the first harmonic
        for k in looks:
            together = _poisson(np.column_stack([trend, _harmonics(mid, k)]), y, offset)
            p_together = _f_test(fitted, together, y)
            if together.converged and p_together < SIGNIFICANCE / len(looks):  # more looks
                fitted, kept, p_first = together, 2 * k, p_together
                break
    if not kept:
        reason = f"no seasonal pattern beyond noise in {n} months (p={p_first:.2g})"
        return replace(none, p_value=p_first, reason=reason)
    agreement = _halves_agreement(mid, y, offset, 1 if first else kept // 2)
    if np.isnan(agreement):
        reason = f"a pattern in {n} months (p={p_first:.2g}) whose fit on a half did not converge"
        return replace(none, p_value=p_first, reason=reason)
    if not agreement > HALVES_AGREE:
        reason = (
            f"a pattern in {n} months (p={p_first:.2g}) that the two halves of the history do "
            f"not repeat (agreement {agreement:.2f}, needs {HALVES_AGREE})"
        )
        return replace(none, p_value=p_first, reason=reason)
    if "first_month" in months:
        p_cohorts = _cohort_check(_cohort_cells(months, table["month"]), kept // 2)
        if not p_cohorts < SIGNIFICANCE:  # NaN: a fit that did not converge finds none
            reason = (
                f"a pattern in {n} months (p={p_first:.2g}) that the age of the customers "
                f"acquired in each month explains (p={p_cohorts:.2g} once it is fitted)"
            )
            return replace(none, p_value=p_first, reason=reason)
    coefficients = tuple(float(c) for c in fitted.beta[trend.shape[1] :])
    return replace(none, coefficients=coefficients, p_value=p_first)


def seasonality_of(data_dir: str | Path, before: date) -> Seasonality:
    """:func:`fit_seasonality` on the data directory's transactions before ``before``."""
    from training.dataset import monthly_purchases

    return fit_seasonality(monthly_purchases(data_dir, before), before)


def _exposure_table(months: pd.DataFrame, before: date) -> pd.DataFrame:
    """Complete months before ``before`` with their established base's customer-days; a month
    without any purchase (absent from ``months``) counts, with none."""
    table = months.copy()
    if table.empty:
        return pd.DataFrame(columns=["month", "repeat_days", "new_buyers", "exposure"]).astype(
            {"repeat_days": int, "new_buyers": int, "exposure": float}
        )
    stamps = pd.to_datetime(table["month"]).dt.to_period("M").dt.to_timestamp()
    table = table.assign(month=stamps).groupby("month")[["repeat_days", "new_buyers"]].sum()
    last = pd.Timestamp(before).to_period("M").to_timestamp() - pd.offsets.MonthBegin(1)
    every = pd.date_range(table.index.min(), max(last, table.index.max()), freq="MS", name="month")
    table = table.reindex(every, fill_value=0).reset_index()
    table["month"] = table["month"].dt.date
    # customers who first bought in an earlier month (of the whole history, not just these rows)
    table["base"] = table["new_buyers"].cumsum().shift(1, fill_value=0)
    days = np.array([_days_in(m) for m in table["month"]])
    table["exposure"] = table["base"] * days
    complete = np.array(
        [m.toordinal() + d <= before.toordinal() for m, d in zip(table["month"], days, strict=True)]
    )
    return table[complete].reset_index(drop=True)


def _cohort_cells(months: pd.DataFrame, complete: pd.Series) -> pd.DataFrame:
    """One row per month of ``complete`` (the complete months, ``_exposure_table``) and earlier
    acquisition cohort: ``repeat_days`` (0 when absent), ``exposure`` (cohort size x days of the
    month), ``age`` (months since the cohort's first month, 1 or more) and ``mid`` (the month's
    middle)."""
    table = months.assign(
        month=pd.to_datetime(months["month"]).dt.to_period("M"),
        first_month=pd.to_datetime(months["first_month"]).dt.to_period("M"),
    )
    sizes = table[table["month"] == table["first_month"]].groupby("first_month")["new_buyers"].sum()
    sizes = sizes[sizes > 0]
    months_done = [pd.Period(m, "M") for m in complete]
    if sizes.empty or not months_done:
        return pd.DataFrame(columns=["repeat_days", "exposure", "age", "mid"], dtype=float)
    grid = pd.MultiIndex.from_product([months_done, sizes.index], names=["month", "first_month"])
    cells = (
        table.groupby(["month", "first_month"])["repeat_days"].sum().reindex(grid, fill_value=0)
    ).reset_index()
    cells["age"] = [(m - c).n for m, c in zip(cells["month"], cells["first_month"], strict=True)]
    cells = cells[cells["age"] >= 1].reset_index(drop=True)
    days = cells["month"].dt.days_in_month.to_numpy(dtype=float)
    cells["exposure"] = sizes.reindex(cells["first_month"]).to_numpy(dtype=float) * days
    cells["mid"] = cells["month"].dt.start_time.map(date.toordinal).to_numpy(float) + days / 2
    return cells[["repeat_days", "exposure", "age", "mid"]]


def _cohort_check(cells: pd.DataFrame, harmonics: int) -> float:
    """p-value of ``harmonics`` annual harmonics on the cohort cells, beside the calendar trend
    and a function of the cohort's age (:data:`AGE_TERMS`); NaN when a fit does not converge."""
    if len(cells) <= TREND_DEGREE + 1 + AGE_TERMS + 2 * harmonics:
        return float("nan")
    y = cells["repeat_days"].to_numpy(dtype=float)
    offset = np.log(cells["exposure"].to_numpy(dtype=float))
    mid = cells["mid"].to_numpy(dtype=float)
    log_age = np.log(cells["age"].to_numpy(dtype=float))
    base = np.column_stack(
        [_trend(mid, TREND_DEGREE), *(log_age**j for j in range(1, AGE_TERMS + 1))]
    )
    narrow = _poisson(base, y, offset)
    wide = _poisson(np.column_stack([base, _harmonics(mid, harmonics)]), y, offset)
    if not (narrow.converged and wide.converged):
        return float("nan")
    return _f_test(narrow, wide, y)


def _days_in(month: date) -> int:
    return (pd.Timestamp(month) + pd.offsets.MonthBegin(1)).date().toordinal() - month.toordinal()


def _trend(mid: np.ndarray, degree: int) -> np.ndarray:
    years = (mid - mid.min()) / YEAR_DAYS
    return np.column_stack([years**j for j in range(degree + 1)])


def _harmonics(days: np.ndarray, k: int) -> np.ndarray:
    """cos and sin of the first ``k`` annual harmonics at ``days`` (ordinals)."""
    angle = 2 * np.pi * (np.asarray(days, dtype=float) - _ORIGIN) / YEAR_DAYS
    return np.column_stack(
        [f(j * angle) for j in range(1, k + 1) for f in (np.cos, np.sin)]
    ).reshape(len(angle), 2 * k)


def _halves_agreement(
    mid: np.ndarray, y: np.ndarray, offset: np.ndarray, harmonics: int = 1
) -> float:
    """Cosine of the angle between the first ``harmonics`` harmonics fitted on each half of the
    months (each with its own linear trend): 1 when both put the peaks on the same days; NaN
    when a half's fit does not converge. The first alone unless it was not significant (two
    peaks half a year apart: the first two together)."""
    half = len(y) // 2
    pairs = []
    for part in (slice(None, half), slice(half, None)):
        design = np.column_stack([_trend(mid[part], 1), _harmonics(mid[part], harmonics)])
        fit = _poisson(design, y[part], offset[part])
        if not fit.converged:
            return float("nan")
        pairs.append(fit.beta[2:])
    a, b = pairs
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0


@dataclass(frozen=True)
class _Fit:
    design: np.ndarray
    beta: np.ndarray
    mu: np.ndarray
    converged: bool


def _poisson(design: np.ndarray, y: np.ndarray, offset: np.ndarray) -> _Fit:
    """Poisson regression with a log link by iteratively reweighted least squares."""
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(max(y.sum(), 0.5) / np.exp(offset).sum())
    converged = False
    for _ in range(100):
        mu = np.exp(np.clip(design @ beta + offset, -50, 50))
        z = design @ beta + (y - mu) / mu
        gram = design.T @ (mu[:, None] * design)
        step = np.linalg.lstsq(gram, design.T @ (mu * z), rcond=None)[0]
        converged = bool(np.max(np.abs(step - beta)) < 1e-10)
        beta = step
        if converged:
            break
    return _Fit(design, beta, np.exp(np.clip(design @ beta + offset, -50, 50)), converged)


def _deviance(y: np.ndarray, mu: np.ndarray) -> float:
    ratio = np.where(y > 0, y / mu, 1.0)
    return float(2 * np.sum(np.where(y > 0, y * np.log(ratio), 0.0) - (y - mu)))


def _f_test(narrow: _Fit, wide: _Fit, y: np.ndarray) -> float:
    """p-value of the terms ``wide`` adds, with the dispersion of ``wide`` (quasi-Poisson, at
    least 1)."""
    from scipy import stats

    extra = wide.design.shape[1] - narrow.design.shape[1]
    residual_df = len(y) - wide.design.shape[1]
    dispersion = max(float(np.sum((y - wide.mu) ** 2 / wide.mu)) / residual_df, 1.0)
    statistic = (_deviance(y, narrow.mu) - _deviance(y, wide.mu)) / extra / dispersion
    return float(stats.f.sf(max(statistic, 0.0), extra, residual_df))
