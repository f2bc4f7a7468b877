"""Typed request and response bodies of the scoring service (shared by the service, tests, clients).

Field names are the feature columns of ``docs/schema.md`` (default windows) and the score columns
of ``serving.scoring.SCORE_COLUMNS``. Bounds reject values the feature pipeline cannot produce,
so a typo (a negative count, a probability of 7) is a 400 naming the field, not a silent score.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The most customers one request may carry (ids or feature rows).
MAX_BATCH = 1000

CustomerId = Annotated[str, Field(min_length=1, max_length=128, description="CRM customer id")]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
Days = Annotated[float, Field(ge=0, le=36_500, description="days (at most 100 years)")]
Money = Annotated[float, Field(ge=-1e10, le=1e10)]
PositiveMoney = Annotated[float, Field(ge=0, le=1e10)]
Share = Annotated[float, Field(ge=0, le=1)]
Trend = Annotated[float, Field(ge=-1e7, le=1e7)]
Satisfaction = Annotated[float, Field(ge=-1000, le=1000, description="survey value scale")]
Category = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class CustomerFeatures(_Body):
    """One customer's row of the feature table (``docs/schema.md`` section 3, default windows).

    RFM and engagement fields are required; send ``null`` where the pipeline gives null (e.g.
    ``recency_days`` of a prospect) and 0 counts for a customer without events. Static attributes
    may be left out (unknown). BTYD fields may be left out when the service has a snapshot: it
    derives them from the snapshot's BG/NBD + Gamma-Gamma fit, as batch scoring does.
    """

    customer_id: CustomerId
    as_of: date | None = Field(
        None,
        ge=date(1900, 1, 1),
        le=date(2200, 12, 31),
        description="the cutoff the features were computed at; default: the snapshot's date",
    )
    # static attributes (null: unknown)
    region: Category | None = None
    channel: Category | None = None
    segment: Category | None = None
    # RFM
    is_prospect: Literal[0, 1] = Field(description="1 if no purchase before the cutoff")
    tenure_days: Days
    orders_all: Count
    revenue_all: Money
    frequency: Count = Field(description="repeat purchase days: orders_all - 1 (0 for prospects)")
    recency_days: Days | None
    age_days: Days | None
    btyd_recency_days: Days | None
    orders_30d: Count
    revenue_30d: Money
    orders_90d: Count
    revenue_90d: Money
    orders_180d: Count
    revenue_180d: Money
    orders_365d: Count
    revenue_365d: Money
    avg_order_value: PositiveMoney | None
    first_order_value: PositiveMoney | None
    mean_gap_days: Days | None
    std_gap_days: Days | None
    recency_ratio: Annotated[float, Field(ge=0, le=1e6)] | None
    orders_trend_90d: Trend
    revenue_trend_90d: Money
    returns_share: Share
    category_breadth: Count
    # engagement (0 and null where the customer has no events)
    visit_30d: Count
    login_30d: Count
    email_open_30d: Count
    email_click_30d: Count
    support_ticket_30d: Count
    complaint_30d: Count
    survey_30d: Count
    other_30d: Count
    visit_90d: Count
    login_90d: Count
    email_open_90d: Count
    email_click_90d: Count
    support_ticket_90d: Count
    complaint_90d: Count
    survey_90d: Count
    other_90d: Count
    visit_365d: Count
    login_365d: Count
    email_open_365d: Count
    email_click_365d: Count
    support_ticket_365d: Count
    complaint_365d: Count
    survey_365d: Count
    other_365d: Count
    events_all: Count
    days_since_last_event: Days | None
    satisfaction_mean_180d: Satisfaction | None
    satisfaction_trend_90d: Satisfaction | None
    engagement_trend_30d: Trend
    # BG/NBD + Gamma-Gamma outputs at the cutoff (models trained with the ``btyd`` family)
    btyd_expected_purchases: Annotated[float, Field(ge=0, le=1e6)] | None = None
    btyd_p_alive: Share | None = None
    btyd_expected_value: PositiveMoney | None = None
    btyd_p_no_purchase: Share | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CustomerFeatures:
        if self.is_prospect == 1 and self.orders_all > 0:
            raise ValueError(
                f"is_prospect is 1 but orders_all is {self.orders_all}: a prospect "
                "has no purchase before the cutoff"
            )
        if self.is_prospect == 0 and self.orders_all == 0:
            raise ValueError("is_prospect is 0 but orders_all is 0: a buyer has a purchase")
        if self.is_prospect == 0 and self.recency_days is None:
            raise ValueError("recency_days is null: a buyer (is_prospect 0) has a last purchase")
        windows = {w: getattr(self, f"orders_{w}d") for w in (30, 90, 180, 365)}
        too_many = {w: n for w, n in windows.items() if n > self.orders_all}
        if too_many:
            w, n = next(iter(too_many.items()))
            raise ValueError(f"orders_{w}d is {n}, more than orders_all ({self.orders_all})")
        return self


class ScoreIdsRequest(_Body):
    """Score customers of the loaded feature snapshot by id."""

    customer_ids: list[CustomerId] = Field(min_length=1, max_length=MAX_BATCH)


class ScoreFeaturesRequest(_Body):
    """Score customers from posted feature values."""

    customers: list[CustomerFeatures] = Field(min_length=1, max_length=MAX_BATCH)


class CustomerScore(BaseModel):
    """What the CRM receives per customer: the columns of batch scoring (``SCORE_COLUMNS``)."""

    customer_id: str
    as_of: date
    stage: Literal["prospect", "new", "growing", "mature", "declining", "churned"]
    churn_probability: float | None = Field(
        description="within the churn horizon; null for prospects"
    )
    predicted_value: float
    value_segment: str
    priority_score: float
    priority_tier: Literal["P1", "P2", "P3", "P4"]
    recommended_action: str
    reasons: list[str]
    churn_model_version: str
    clv_model_version: str


class ScoreResult(BaseModel):
    """One requested customer: a score, or an error saying why there is none."""

    customer_id: str
    score: CustomerScore | None = None
    error: str | None = None
