"""The model behind the synthetic CRM data: parameters, attribute effects and seasonality.

Time inside the generator is measured in float days since the period start. Seasonality is a
yearly cosine in absolute time, ``s(t) = 1 + a * cos(2 pi (t - peak) / year)``, whose mean over a
year is 1, so a customer's ``purchase_rate_per_day`` is their average rate over a year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import EVENT_TYPES
from features.dates import YEAR_DAYS

#: Day of the year (0 = 1 January) on which the purchase rate peaks: mid-December.
SEASONAL_PEAK_DAY = 348.0
_EPOCH = pd.Timestamp("1970-01-01")
#: A peak in days since 1970-01-01 (mid-December 1970; every later year's follows).
_PEAK_EPOCH_DAYS = SEASONAL_PEAK_DAY


@dataclass(frozen=True)
class Level:
    """One value of a customer attribute, its share of sign-ups and its multiplicative effects."""

    name: str
    share: float
    purchase_rate: float = 1.0
    spend: float = 1.0
    dropout_hazard: float = 1.0
    prospect: float = 1.0
    seasonality: float = 1.0


@dataclass(frozen=True)
class Category:
    """A product category: share of orders, margin rate, return rate and typical unit price."""

    name: str
    share: float
    margin_rate: float
    return_rate: float
    unit_price: float


REGIONS = (
    Level("north", 0.30, purchase_rate=1.00, spend=1.05),
    Level("south", 0.25, purchase_rate=1.10, spend=0.95, dropout_hazard=0.95),
    Level("east", 0.25, purchase_rate=0.95, spend=1.00, dropout_hazard=1.05),
    Level("west", 0.20, purchase_rate=1.05, spend=1.10),
)
CHANNELS = (
    Level("web", 0.40, purchase_rate=1.00, dropout_hazard=1.10, prospect=1.10),
    Level("store", 0.25, purchase_rate=0.90, spend=1.10, dropout_hazard=0.80, prospect=0.50),
    Level("app", 0.25, purchase_rate=1.30, spend=0.90, dropout_hazard=0.90, prospect=1.00),
    Level("partner", 0.10, purchase_rate=0.80, dropout_hazard=1.50, prospect=1.75),
)
SEGMENTS = (
    Level("consumer", 0.78),
    Level("smb", 0.18, purchase_rate=1.30, spend=2.50, dropout_hazard=0.70, seasonality=0.6),
    Level("enterprise", 0.04, purchase_rate=1.80, spend=6.00, dropout_hazard=0.40, seasonality=0.3),
)
CATEGORIES = (
    Category("electronics", 0.15, margin_rate=0.12, return_rate=0.05, unit_price=120.0),
    Category("home", 0.20, margin_rate=0.30, return_rate=0.03, unit_price=35.0),
    Category("apparel", 0.25, margin_rate=0.45, return_rate=0.10, unit_price=30.0),
    Category("beauty", 0.12, margin_rate=0.55, return_rate=0.02, unit_price=18.0),
    Category("grocery", 0.18, margin_rate=0.18, return_rate=0.005, unit_price=6.0),
    Category("sports", 0.10, margin_rate=0.35, return_rate=0.04, unit_price=45.0),
)

#: Integer codes of the event types the generator emits (positions in ``contract.EVENT_TYPES``).
VISIT, LOGIN, EMAIL_OPEN, EMAIL_CLICK, SUPPORT_TICKET, COMPLAINT, SURVEY = (
    EVENT_TYPES.index(name)
    for name in (
        "visit",
        "login",
        "email_open",
        "email_click",
        "support_ticket",
        "complaint",
        "survey",
    )
)
#: Why a buyer dropped out, in the order of their integer codes (0 = never a buyer).
DROPOUT_CAUSES = ("", "natural", "bad_experience")


@dataclass(frozen=True)
class SyntheticParams:
    """Every knob of the generator; the defaults give a plausible retail CRM."""

    # acquisition
    acquisition_growth: float = 3.0  # sign-up rate at the end of the period / at its start
    prospect_share: float = 0.20  # never buy (before channel effects)
    # first purchase after sign-up
    same_day_first_purchase_share: float = 0.5
    first_purchase_delay_mean_days: float = 20.0
    # purchase rate (Poisson while alive, gamma across customers)
    purchase_rate_mean_per_day: float = 1 / 45
    purchase_rate_shape: float = 0.8
    purchase_rate_max_per_day: float = 1.0
    seasonal_amplitude: float = 0.35
    seasonal_amplitude_sd: float = 0.08
    # spend (gamma-gamma: order value ~ Gamma(p, mean_spend / p), mean_spend = p / nu)
    order_value_shape: float = 3.0
    mean_spend_shape: float = 4.0
    mean_spend: float = 60.0
    partial_return_share: float = 0.3
    return_delay_max_days: float = 30.0
    favourite_category_share: float = 0.6
    # dropout (exponential lifetime from the first purchase, gamma-distributed hazard)
    lifetime_mean_days: float = 540.0
    dropout_hazard_shape: float = 2.0
    bad_experience_mean_days: float = 900.0
    bad_experience_dropout_share: float = 0.4
    triggered_dropout_delay_mean_days: float = 25.0
    fade_days: tuple[float, float] = (60.0, 90.0)
    fade_floor: float = 0.1  # engagement multiplier reached at dropout
    latent_horizon_days: float = 36_500.0  # latent times are capped this far after the period end
    # engagement while alive (events per purchase, scaled by a gamma engagement multiplier)
    engagement_shape: float = 3.0
    visits_per_purchase: float = 3.0
    logins_per_purchase: float = 1.5
    email_opens_per_purchase: float = 1.5
    email_clicks_per_purchase: float = 0.4
    email_open_base_per_day: float = 1 / 60
    support_tickets_per_day: float = 1 / 365
    complaints_per_day: float = 1 / 1500
    surveys_per_day: float = 1 / 150
    fade_ticket_multiplier: float = 6.0
    fade_complaint_multiplier: float = 12.0
    satisfaction_mean: float = 4.1
    satisfaction_sd: float = 0.5
    satisfaction_drop: float = 2.0  # points lost by dropout
    survey_noise_sd: float = 0.6
    # before the first purchase, after dropout, and prospects
    browse_visits_per_day: float = 0.3
    dropped_email_opens_per_day: float = 1 / 90
    prospect_interest_mean_days: float = 30.0
    prospect_visits_per_day: float = 0.06
    prospect_email_opens_per_day: float = 1 / 150
    # attribute levels and categories
    regions: tuple[Level, ...] = REGIONS
    channels: tuple[Level, ...] = CHANNELS
    segments: tuple[Level, ...] = SEGMENTS
    categories: tuple[Category, ...] = CATEGORIES


@dataclass(frozen=True)
class Period:
    """The simulated period ``[start, end)``; all contract timestamps fall inside it."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> float:
        """Length of the period in days."""
        return (self.end - self.start) / pd.Timedelta(days=1)

    @property
    def start_epoch_days(self) -> float:
        """The start in days since 1970-01-01."""
        return (self.start - _EPOCH) / pd.Timedelta(days=1)


def epoch_days(ts: pd.Series | pd.Timestamp) -> np.ndarray | float:
    """Days since 1970-01-01 of a timestamp or a timestamp column (NaN where missing)."""
    if isinstance(ts, pd.Timestamp):
        return (ts - _EPOCH) / pd.Timedelta(days=1)
    days = (pd.to_datetime(ts) - _EPOCH) / pd.Timedelta(days=1)
    return days.to_numpy(dtype=float, na_value=np.nan)


def seasonal_factor(days: np.ndarray, amplitude: np.ndarray | float) -> np.ndarray:
    """``s(t)``: multiplier of the base purchase rate at ``days`` (days since 1970-01-01)."""
    return 1.0 + amplitude * np.cos(2 * np.pi * (days - _PEAK_EPOCH_DAYS) / YEAR_DAYS)


def seasonal_integral(
    begin: np.ndarray | float, stop: np.ndarray | float, amplitude: np.ndarray | float
) -> np.ndarray:
    """Integral of ``s(t)`` from ``begin`` to ``stop`` (days since 1970-01-01), in days."""
    omega = 2 * np.pi / YEAR_DAYS
    wave = np.sin(omega * (stop - _PEAK_EPOCH_DAYS)) - np.sin(omega * (begin - _PEAK_EPOCH_DAYS))
    return (stop - begin) + amplitude * wave / omega
