"""The purchase seasonality of a customer base, for forecasts over a window of the calendar.

BG/NBD counts time in days, every day alike: its P(no purchase within H days) is the same for a
window that holds December as for one that holds June. A base that buys more in December does not
churn alike in both. Month by month before the cutoff, the repeat purchase days of established
customers (who first bought in an earlier month) per customer-day are fitted by a quasi-Poisson
regression on a quadratic trend (the growth and ageing of the base) plus annual harmonics. When
the harmonics explain more than noise (F-test at :data:`SIGNIFICANCE`, at least
:data:`MIN_MONTHS` complete months), a window ``[T, T + H)`` counts as the integral of the seasonal
factor ``s(t)`` over it: ``H`` *effective days*, measured in days of the average rate BG/NBD saw
before ``T`` (the factor's mean over the base's customer-days before ``T`` is 1). Without them,
effective days are calendar days.

Evidence (generator with known seasonality, an export without any): ``docs/results.md``, section
"Seasonality".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

#: Complete months of repeat purchases needed before seasonality is looked for (a year and a
#: quarter: every season once, and enough beyond it to tell a season from a trend).
MIN_MONTHS = 15
#: A harmonic is kept when its F-test p-value is under this (1%: a base without seasonality gets
#: none, docs/results.md).
SIGNIFICANCE = 0.01
#: Annual harmonics tried, the first, then the second (a sharper peak), each only if significant.
MAX_HARMONICS = 2
TREND_DEGREE = 2
YEAR_DAYS = 365.2425


@dataclass(frozen=True)
class Seasonality:
    """The fitted seasonal factor of the purchase rate (none: ``coefficients == ()``).

    ``coefficients`` are the cos/sin pairs of the harmonics of the day of the year;
    ``exposure`` the customer-days of the base per month (ordinal of the month's first day,
    customer-days), which normalises the factor to the rate BG/NBD saw before a date.
    """

    coefficients: tuple[float, ...] = ()
    months: int = 0
    p_value: float | None = None
    reason: str = ""
    exposure: tuple[tuple[int, float], ...] = field(default=(), repr=False)

    @property
    def found(self) -> bool:
        return bool(self.coefficients)

    def _shape(self, days: np.ndarray) -> np.ndarray:
        """exp(harmonics) at ``days`` (ordinals), unnormalised."""
        angle = 2 * np.pi * (days - date(2000, 1, 1).toordinal()) / YEAR_DAYS
        log_factor = np.zeros(len(days))
        for k in range(len(self.coefficients) // 2):
            cos, sin = self.coefficients[2 * k], self.coefficients[2 * k + 1]
            log_factor += cos * np.cos((k + 1) * angle) + sin * np.sin((k + 1) * angle)
        return np.exp(log_factor)

    def _level_before(self, day: date) -> float:
        """The factor's mean over the base's customer-days before ``day`` (1 without history)."""
        months = [(m, w) for m, w in self.exposure if m < day.toordinal() and w > 0]
        if not months:
            return float(self._shape(np.arange(day.toordinal() - 365, day.toordinal())).mean())
        weights = np.array([w for _, w in months])
        mids = np.array([m + 15 for m, _ in months], dtype=float)
        return float(np.average(self._shape(mids), weights=weights))

    def effective_days(self, start: date, days: float) -> float:
        """``[start, start + days)`` in days of the average rate before ``start``."""
        if not self.found:
            return float(days)
        ordinals = start.toordinal() + np.arange(int(round(days))) + 0.5
        return float(self._shape(ordinals).sum() / self._level_before(start))

    def factor(self, day: date) -> float:
        """The purchase rate on ``day`` relative to the average before it."""
        if not self.found:
            return 1.0
        return float(self._shape(np.array([day.toordinal() + 0.5]))[0] / self._level_before(day))

    def describe(self, start: date | None = None, days: int | None = None) -> str:
        """One line for the log."""
        if not self.found:
            return f"no purchase seasonality used ({self.reason})"
        ordinals = date(2001, 1, 1).toordinal() + np.arange(365) + 0.5
        shape = self._shape(ordinals)
        shape = shape / shape.mean()
        peak = date(2001, 1, 1) + timedelta(days=int(shape.argmax()))
        low = date(2001, 1, 1) + timedelta(days=int(shape.argmin()))
        text = (
            f"purchase seasonality ({len(self.coefficients) // 2} harmonic(s), {self.months} "
            f"months, p={self.p_value:.1e}): rate x{shape.max():.2f} around "
            f"{peak:%d %b}, x{shape.min():.2f} around {low:%d %b}"
        )
        if start is not None and days is not None:
            text += f"; [{start}, +{days}d) counts as {self.effective_days(start, days):.1f} days"
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
    """Fit :class:`Seasonality` on ``months`` (``month``, ``repeat_days``, ``new_buyers``, one row
    per calendar month with a purchase, as ``features.definitions.monthly_purchase_days``);
    only months complete before ``before`` are used."""
    table = _exposure_table(months, before)
    exposure = tuple(
        (m.toordinal(), float(w)) for m, w in zip(table["month"], table["exposure"], strict=True)
    )
    usable = table[table["exposure"] > 0]
    n = len(usable)
    if n < MIN_MONTHS:
        reason = f"{n} complete months of repeat purchases before {before}, needs {MIN_MONTHS}"
        return Seasonality(months=n, reason=reason, exposure=exposure)
    y = usable["repeat_days"].to_numpy(dtype=float)
    offset = np.log(usable["exposure"].to_numpy(dtype=float))
    mid = np.array([m.toordinal() + 15 for m in usable["month"]], dtype=float)
    years = (mid - mid.min()) / YEAR_DAYS
    trend = np.column_stack([years**j for j in range(TREND_DEGREE + 1)])
    angle = 2 * np.pi * (mid - date(2000, 1, 1).toordinal()) / YEAR_DAYS
    fitted, kept, p_value = _poisson(trend, y, offset), 0, None
    for k in range(1, MAX_HARMONICS + 1):
        harmonic = np.column_stack([np.cos(k * angle), np.sin(k * angle)])
        design = np.column_stack([fitted.design, harmonic])
        if n - design.shape[1] < 3:
            break
        wider = _poisson(design, y, offset)
        p = _f_test(fitted, wider, y)
        if not p < SIGNIFICANCE:
            if k == 1:
                reason = f"no seasonal pattern beyond noise in {n} months (p={p:.2g})"
                return Seasonality(months=n, p_value=p, reason=reason, exposure=exposure)
            break
        fitted, kept, p_value = wider, k, p
    coefficients = tuple(float(c) for c in fitted.beta[trend.shape[1] :])
    return Seasonality(coefficients, n, p_value, "", exposure) if kept else Seasonality(months=n)


def seasonality_of(data_dir: str | Path, before: date) -> Seasonality:
    """:func:`fit_seasonality` on the data directory's transactions before ``before`` (on the
    engine of ``training.dataset.build_settings``)."""
    from features.definitions import monthly_purchase_days
    from features.snapshots import connect
    from training.dataset import build_settings

    settings = build_settings()
    backend = settings.engine.backend if settings.engine is not None else None
    tables = connect(data_dir, backend)
    stamp = datetime.combine(before, datetime.min.time())
    months = monthly_purchase_days(tables.transactions, stamp).to_pandas()
    return fit_seasonality(months, before)


def _exposure_table(months: pd.DataFrame, before: date) -> pd.DataFrame:
    """Complete months before ``before`` with their established base's customer-days."""
    table = months.copy()
    table["month"] = pd.to_datetime(table["month"]).dt.date
    table = table.sort_values("month").reset_index(drop=True)
    # customers who first bought in an earlier month (of the whole history, not just these rows)
    table["base"] = table["new_buyers"].cumsum().shift(1, fill_value=0)
    ends = [(pd.Timestamp(m) + pd.offsets.MonthBegin(1)).date() for m in table["month"]]
    table["days"] = [(e - m).days for m, e in zip(table["month"], ends, strict=True)]
    table["exposure"] = table["base"] * table["days"]
    complete = np.array([e <= before for e in ends], dtype=bool)
    return table[complete].reset_index(drop=True)


@dataclass(frozen=True)
class _Fit:
    design: np.ndarray
    beta: np.ndarray
    mu: np.ndarray


def _poisson(design: np.ndarray, y: np.ndarray, offset: np.ndarray) -> _Fit:
    """Poisson regression with a log link by iteratively reweighted least squares."""
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(max(y.sum(), 0.5) / np.exp(offset).sum())
    for _ in range(100):
        mu = np.exp(np.clip(design @ beta + offset, -50, 50))
        z = design @ beta + (y - mu) / mu
        gram = design.T @ (mu[:, None] * design)
        step = np.linalg.lstsq(gram, design.T @ (mu * z), rcond=None)[0]
        done = np.max(np.abs(step - beta)) < 1e-10
        beta = step
        if done:
            break
    return _Fit(design, beta, np.exp(np.clip(design @ beta + offset, -50, 50)))


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
