"""Customers and their latent truth: attributes, purchase rate, spend, dropout, engagement.

Times are float days since the period start. Latent times (first purchase, dropout, ...) may lie
after the period end; they are ``inf`` when the event never happens (prospects).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic_params import DROPOUT_CAUSES, Level, Period, SyntheticParams

NATURAL, BAD_EXPERIENCE = DROPOUT_CAUSES.index("natural"), DROPOUT_CAUSES.index("bad_experience")


@dataclass(frozen=True)
class Population:
    """The customers of one chunk, one array element per customer."""

    number: np.ndarray  # 1-based customer number (the digits of customer_id)
    signup: np.ndarray
    region: np.ndarray  # level codes into params.regions / channels / segments
    channel: np.ndarray
    segment: np.ndarray
    is_prospect: np.ndarray  # never buys
    first_purchase: np.ndarray  # inf for prospects
    purchase_rate: np.ndarray  # base purchases per day; 0 for prospects
    seasonal_amplitude: np.ndarray
    mean_spend: np.ndarray  # NaN for prospects
    favourite_category: np.ndarray
    dropout_hazard: np.ndarray  # per day before any bad experience; NaN for prospects
    dropout: np.ndarray  # inf for prospects
    dropout_cause: np.ndarray  # codes into DROPOUT_CAUSES
    bad_experience: np.ndarray  # inf when none before dropout
    fade_start: np.ndarray  # engagement fades on [fade_start, dropout)
    engagement: np.ndarray  # multiplier of engagement event rates (mean 1)
    satisfaction: np.ndarray  # 1-5 while engaged

    @property
    def size(self) -> int:
        return self.number.size


def draw_population(
    rng: np.random.Generator,
    first_index: int,
    n: int,
    n_total: int,
    period: Period,
    params: SyntheticParams,
) -> Population:
    """Draw customers ``first_index .. first_index + n - 1`` (0-based) of ``n_total``."""
    index = np.arange(first_index, first_index + n)
    signup = _signup_days(rng, index, n_total, period.days, params.acquisition_growth)
    region = _levels(rng, params.regions, n)
    channel = _levels(rng, params.channels, n)
    segment = _levels(rng, params.segments, n)

    def effect(attr: str) -> np.ndarray:
        """Product of the region, channel and segment multipliers of ``attr``."""
        levels = ((params.regions, region), (params.channels, channel), (params.segments, segment))
        return np.prod([_effect(table, attr)[codes] for table, codes in levels], axis=0)

    is_prospect = rng.random(n) < np.clip(params.prospect_share * effect("prospect"), 0.0, 1.0)
    first_purchase = signup + _first_purchase_delay(rng, n, params)
    purchase_rate = _gamma(rng, params.purchase_rate_shape, params.purchase_rate_mean_per_day, n)
    purchase_rate = np.minimum(
        purchase_rate * effect("purchase_rate"), params.purchase_rate_max_per_day
    )
    amplitude = params.seasonal_amplitude + params.seasonal_amplitude_sd * rng.standard_normal(n)
    amplitude = np.clip(amplitude * effect("seasonality"), 0.0, 0.9)
    mean_spend = _mean_spend(rng, n, params) * effect("spend")
    favourite = _levels(rng, params.categories, n)
    hazard = _gamma(rng, params.dropout_hazard_shape, 1 / params.lifetime_mean_days, n)
    hazard = hazard * effect("dropout_hazard")
    cap = period.days + params.latent_horizon_days
    dropout, cause, bad, fade_start = _dropout(rng, first_purchase, hazard, cap, params)
    engagement = _gamma(rng, params.engagement_shape, 1.0, n)
    satisfaction = params.satisfaction_mean + params.satisfaction_sd * rng.standard_normal(n)

    never = np.where(is_prospect, np.inf, 0.0)  # adds inf to prospects' latent times
    return Population(
        number=index + 1,
        signup=signup,
        region=region,
        channel=channel,
        segment=segment,
        is_prospect=is_prospect,
        first_purchase=np.minimum(first_purchase, cap) + never,
        purchase_rate=np.where(is_prospect, 0.0, purchase_rate),
        seasonal_amplitude=amplitude,
        mean_spend=np.where(is_prospect, np.nan, mean_spend),
        favourite_category=favourite,
        dropout_hazard=np.where(is_prospect, np.nan, hazard),
        dropout=dropout + never,
        dropout_cause=np.where(is_prospect, 0, cause).astype(np.int8),
        bad_experience=bad + never,
        fade_start=fade_start + never,
        engagement=engagement,
        satisfaction=np.clip(satisfaction, 1.0, 5.0),
    )


def _gamma(rng: np.random.Generator, shape: float, mean: float, n: int) -> np.ndarray:
    """Gamma draws with the given shape and mean."""
    return rng.gamma(shape, mean / shape, n)


def _signup_days(
    rng: np.random.Generator, index: np.ndarray, n_total: int, days: float, growth: float
) -> np.ndarray:
    """Sign-up times with an exponentially growing rate, increasing with the customer number.

    Stratified inverse-CDF sampling: customer ``i`` gets the quantile ``(i + U) / n_total``.
    """
    u = (index + rng.random(index.size)) / n_total
    if growth == 1.0:
        return u * days
    g = np.log(growth) / days
    return np.minimum(np.log1p(u * np.expm1(g * days)) / g, np.nextafter(days, 0))


def _levels(rng: np.random.Generator, levels: tuple, n: int) -> np.ndarray:
    """Codes of levels (or categories) drawn by their shares."""
    return rng.choice(len(levels), size=n, p=_shares(levels)).astype(np.int8)


def _shares(items: tuple) -> np.ndarray:
    share = np.array([item.share for item in items], dtype=float)
    return share / share.sum()


def _effect(levels: tuple[Level, ...], attr: str) -> np.ndarray:
    return np.array([getattr(level, attr) for level in levels], dtype=float)


def _first_purchase_delay(rng: np.random.Generator, n: int, params: SyntheticParams) -> np.ndarray:
    """Days from sign-up to the first purchase: same day for some, exponential for the others."""
    same_day = rng.random(n) < params.same_day_first_purchase_share
    return np.where(
        same_day, 0.2 * rng.random(n), rng.exponential(params.first_purchase_delay_mean_days, n)
    )


def _mean_spend(rng: np.random.Generator, n: int, params: SyntheticParams) -> np.ndarray:
    """Gamma-Gamma: ``p / nu`` with ``nu ~ Gamma(q, rate gamma)`` scaled to the target mean."""
    p, q = params.order_value_shape, params.mean_spend_shape
    gamma_rate = params.mean_spend * (q - 1) / p
    return p / rng.gamma(q, 1 / gamma_rate, n)


def _dropout(
    rng: np.random.Generator,
    first_purchase: np.ndarray,
    hazard: np.ndarray,
    cap: float,
    params: SyntheticParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dropout time and cause, the bad experience (if before dropout) and the start of the fade.

    A natural dropout comes after an exponential lifetime; a bad experience (a complaint) makes
    some customers leave soon after it, and their engagement fades from the bad experience on.
    """
    n = first_purchase.size
    natural = first_purchase + rng.exponential(1.0, n) / hazard
    bad = first_purchase + rng.exponential(params.bad_experience_mean_days, n)
    triggers = rng.random(n) < params.bad_experience_dropout_share
    triggered = bad + 1.0 + rng.exponential(params.triggered_dropout_delay_mean_days, n)
    by_bad = triggers & (triggered < natural)
    dropout = np.minimum(np.where(by_bad, triggered, natural), cap)
    cause = np.where(by_bad, BAD_EXPERIENCE, NATURAL)
    bad = np.where(bad < dropout, bad, np.inf)
    fade = rng.uniform(*params.fade_days, n)
    fade_start = np.where(by_bad, bad, np.maximum(first_purchase, dropout - fade))
    return dropout, cause, bad, fade_start
