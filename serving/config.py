"""Typed configuration of the scoring rules: stages, value matrix, priority tiers, actions, reasons.

Every model rejects unknown keys (``extra="forbid"``) and has documented defaults; see
``docs/scoring.md`` for what each field means and why the defaults are what they are.
Money thresholds are in the currency of ``amount``; derive them from a training batch with
``serving.scoring.calibrate_config`` rather than trusting the defaults on new data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.yaml_files import load_yaml
from training.priority import RETAINED_SHARE_FLOOR

Stage = Literal["prospect", "new", "growing", "mature", "declining", "churned"]
Tier = Literal["P1", "P2", "P3", "P4"]
Level = Literal["low", "mid", "high"]

STAGES: tuple[str, ...] = get_args(Stage)
TIERS: tuple[str, ...] = get_args(Tier)
LEVELS: tuple[str, ...] = get_args(Level)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageRules(_Config):
    """Thresholds of the lifecycle-stage rules (first matching rule wins, see docs/scoring.md)."""

    default_gap_days: float = Field(60.0, gt=0, description="usual gap for one-purchase customers")
    returned_share: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="default_gap_days is fitted so that a one-purchase customer is churned "
        "(churned_ratio gaps overdue) once this share of the customers who came back for a "
        "second purchase had done so",
    )
    min_gap_days: float = Field(7.0, gt=0, description="floor on the usual gap in recency ratios")
    churned_ratio: float = Field(4.0, gt=0, description="gaps overdue to count as churned")
    churned_min_days: float = Field(90.0, ge=0, description="and at least this many days silent")
    churned_probability: float = Field(0.8, ge=0, le=1, description="model churn, when overdue")
    declining_ratio: float = Field(2.0, gt=0, description="gaps overdue to count as declining")
    declining_probability: float = Field(0.5, ge=0, le=1, description="never mature/growing above")
    declining_min_complaints: int = Field(1, ge=1, description="complaints in 30 d (with a fall)")
    declining_orders_share: float = Field(0.5, ge=0, lt=1, description="orders_90d <= share x prev")
    declining_min_prev_orders: int = Field(3, ge=1, description="prev 90 d orders for that rule")
    new_days: float = Field(90.0, ge=0, description="first purchase less than this many days ago")
    new_max_orders: int = Field(2, ge=1, description="or at most this many purchase days")
    new_max_age_days: float = Field(
        365.0, ge=0, description="...while the first purchase is less than this many days ago"
    )
    growing_min_growth: float = Field(0.25, gt=0, description="growth of orders or revenue vs prev")
    basket_min_orders: int = Field(
        3, ge=1, description="orders in the previous 90 d before a bigger basket counts as growth"
    )
    declining_basket_share: float = Field(
        0.75,
        gt=0,
        le=1,
        description="revenue per order in the last 90 d at most this share of the last 365 d's "
        "(from basket_min_orders orders in 90 d and a year of history) is declining: still "
        "ordering, buying less",
    )
    seasonal_margin: float = Field(
        0.25,
        ge=0,
        description="a buyer overdue by their rhythm is on a seasonal pause (neither declining "
        "nor churned by silence or risk) while their silence is at most 1 + this times their "
        "silence at this date a year ago, after which they bought again",
    )
    trend_max_chance: float = Field(
        0.1,
        gt=0,
        le=1,
        description="order counts rise or fall (growing, orders halved) only when a steady buyer "
        "would split them so unevenly with at most this chance (1: any change counts)",
    )
    churn_horizon_days: float | None = Field(
        None,
        gt=0,
        description="the churn model's horizon (set by training): the model's probability counts "
        "only beyond what the customer's own rhythm implies over it",
    )

    @model_validator(mode="after")
    def _ordered(self) -> StageRules:
        if self.declining_ratio >= self.churned_ratio:
            raise ValueError(
                f"declining_ratio must be < churned_ratio, got {self.declining_ratio} >= "
                f"{self.churned_ratio}"
            )
        if self.new_max_age_days < self.new_days:
            raise ValueError(
                f"new_max_age_days must be >= new_days, got {self.new_max_age_days} < "
                f"{self.new_days}"
            )
        if self.declining_probability > self.churned_probability:
            raise ValueError(
                f"declining_probability must be <= churned_probability, got "
                f"{self.declining_probability} > {self.churned_probability}"
            )
        return self


class ValueMatrix(_Config):
    """Level boundaries of current value (revenue_365d) and potential value (predicted_value).

    A value is ``low`` below ``*_mid_from``, ``high`` from ``*_high_from``, ``mid`` in between.
    """

    current_mid_from: float = 50.0
    current_high_from: float = 200.0
    potential_mid_from: float = 25.0
    potential_high_from: float = 100.0

    @model_validator(mode="after")
    def _ordered(self) -> ValueMatrix:
        for kind in ("current", "potential"):
            mid, high = getattr(self, f"{kind}_mid_from"), getattr(self, f"{kind}_high_from")
            if not mid < high:
                raise ValueError(f"{kind}_mid_from must be < {kind}_high_from, got {mid} >= {high}")
        return self


class PriorityTiers(_Config):
    """Value at risk (priority_score) from which a customer is in each tier; below p3_from: P4."""

    retained_share_floor: float = Field(
        RETAINED_SHARE_FLOOR,
        gt=0,
        le=1,
        description="floor on 1 - P(no purchase within the value horizon) when deriving value if "
        "retained",
    )
    value_horizon_churn: bool = Field(
        True,
        description="value at risk takes the churn probability carried to the value horizon "
        "(docs/scoring.md section 4); false: the churn model's own horizon, as the tier "
        "thresholds of pairs registered before 2026-12-04 were fitted (stored_scoring_config)",
    )
    p1_from: float = 100.0
    p2_from: float = 40.0
    p3_from: float = 10.0

    @model_validator(mode="after")
    def _ordered(self) -> PriorityTiers:
        if not self.p1_from > self.p2_from > self.p3_from > 0:
            raise ValueError(
                f"tier thresholds must satisfy p1_from > p2_from > p3_from > 0, got "
                f"{self.p1_from}, {self.p2_from}, {self.p3_from}"
            )
        return self


DEFAULT_STRATEGY: dict[str, str] = {
    "prospect": "first_purchase_incentive",
    "new": "onboarding_offer",
    "growing": "cross_sell",
    "mature": "loyalty_referral",
    "declining": "survey_service_recovery",
    "churned": "win_back",
}
DEFAULT_CONTACT: dict[str, str] = {
    "P1": "account_manager_call",
    "P2": "personal_email",
    "P3": "targeted_campaign",
    "P4": "automated_campaign",
}
#: The channels a customer flag can bar (``features.contract.CONTACT_FLAGS``).
Channel = Literal["email", "phone"]
#: The channel of each default contact (the campaigns go by email unless a config says else).
DEFAULT_CHANNELS: dict[str, Channel | None] = {
    "account_manager_call": "phone",
    "personal_email": "email",
    "targeted_campaign": "email",
    "automated_campaign": "email",
}
#: The recommended action of a customer the CRM says not to contact (``customers.do_not_contact``,
#: ``features.contact_flags``), whatever their stage and tier and whatever an uplift champion
#: would pick; their scores and tier stay as scored.
DO_NOT_CONTACT_ACTION = "do_not_contact"
#: The recommended action of a customer barred from the channels of every contact open to their
#: tier (``customers.do_not_email``, ``do_not_call``; ``serving.channels``): they may be reached
#: otherwise, the CRM does not say never.
NO_OPEN_CHANNEL_ACTION = "no_open_channel"


class Actions(_Config):
    """Recommended action = ``<strategy of the stage>.<contact of the tier>`` unless overridden.

    Partial ``strategy`` / ``contact`` / ``channels`` mappings are merged with the defaults;
    ``overrides`` replaces single cells, e.g. ``{"churned": {"P4": "no_action"}}``. A customer
    the CRM bars from a contact's channel gets another tier's contact (``serving.channels``).
    """

    strategy: dict[Stage, str] = Field(default_factory=lambda: dict(DEFAULT_STRATEGY))  # type: ignore[arg-type]
    contact: dict[Tier, str] = Field(default_factory=lambda: dict(DEFAULT_CONTACT))  # type: ignore[arg-type]
    overrides: dict[Stage, dict[Tier, str]] = Field(default_factory=dict)
    channels: dict[str, Channel | None] = Field(
        default_factory=lambda: dict(DEFAULT_CHANNELS),
        description="the channel of each contact (and uplift action): email or phone, null for "
        "one no flag bars (a letter, an ad); a code not listed goes by its words (..._email, "
        "..._call), else none",
    )
    reach_up: int = Field(
        1,
        ge=0,
        le=3,
        description="a customer barred from their tier's channel gets the contact of a less "
        "urgent tier, else of at most this many more urgent tiers (0: never a costlier contact)",
    )

    @field_validator("strategy", mode="after")
    @classmethod
    def _complete_strategy(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_STRATEGY, **value}

    @field_validator("contact", mode="after")
    @classmethod
    def _complete_contact(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_CONTACT, **value}

    @field_validator("channels", mode="after")
    @classmethod
    def _complete_channels(cls, value: dict[str, Channel | None]) -> dict[str, Channel | None]:
        return {**DEFAULT_CHANNELS, **value}

    def action(self, stage: str, tier: str) -> str:
        """The action for one stage x tier cell."""
        override = self.overrides.get(stage, {}).get(tier)  # type: ignore[call-overload]
        return override or f"{self.strategy[stage]}.{self.contact[tier]}"  # type: ignore[index]


class ReasonsConfig(_Config):
    """How many churn drivers to report, and the smallest contribution (log-odds) worth a phrase."""

    top_k: int = Field(3, ge=0)
    min_contribution: float = Field(0.0, ge=0)
    low_risk_below: float = Field(
        0.2,
        ge=0,
        le=1,
        description="a customer whose churn probability is under this (4 in 5 stay) is explained "
        "by what holds the risk down, e.g. 'last purchase 5 days ago, usual gap 15 days'; from "
        "it up, by what raises it (what a retention team acts on)",
    )
    offset_share: float = Field(
        0.5,
        ge=0,
        description="a customer explained by what raises the risk also hears the behaviour "
        "holding it down most ('but 2 visits in the last 30 days') when it weighs at least this "
        "share of the strongest raising it: why a long-quiet customer is declining, not churned; "
        "0 leaves it out",
    )


class HoldConfig(_Config):
    """Tier hysteresis of batch scoring (``serving.action_hold``): a customer moving to a less
    urgent tier keeps the previous scoring's tier (and action) while the priority is past the tier
    line by less than ``margin`` (relative), the stage is unchanged and no complaint is new; an
    escalation is sent at once. 0 turns it off."""

    margin: float = Field(
        0.25,
        ge=0,
        description="relative distance past a tier line needed to change tier: up from line b at "
        "b x (1 + margin), down below b / (1 + margin)",
    )
    once: bool = Field(
        True,
        description="hold a tier change for one scoring only: when the previous scoring's own "
        "priority was already in the new tier, the tier changes (a lasting move is late by one "
        "scoring at most)",
    )
    within_days: int = Field(
        14, ge=1, description="only a scoring at most this many days old is held over"
    )
    escalations: bool = Field(
        False,
        description="hold a move to a more urgent tier too (default: only a move to a less "
        "urgent one is held, an escalation is sent at once)",
    )


class ScoringConfig(_Config):
    """Everything the pure scoring step needs besides features and model outputs."""

    stages: StageRules = Field(default_factory=StageRules)
    value_matrix: ValueMatrix = Field(default_factory=ValueMatrix)
    priority: PriorityTiers = Field(default_factory=PriorityTiers)
    actions: Actions = Field(default_factory=Actions)
    reasons: ReasonsConfig = Field(default_factory=ReasonsConfig)
    hold: HoldConfig = Field(default_factory=HoldConfig)
    language: Literal["en", "zh"] | None = Field(
        None,
        description="language of recommended_action_label (serving/labels/actions.<language>.yaml);"
        " unset: the LIFECYCLE_LANG environment variable, else en",
    )

    @classmethod
    def from_yaml(cls, path: str | Path, key: str | None = None) -> ScoringConfig:
        """Load from a YAML file; ``key`` selects a sub-mapping (e.g. ``scoring`` of an experiment).

        A missing file or key is an error; an empty mapping gives the defaults.
        """
        path = Path(path)
        data: Any = load_yaml(path.read_text()) or {}
        if key is not None:
            if not isinstance(data, dict) or key not in data:
                raise ValueError(f"{path}: no top-level key {key!r} with the scoring config")
            data = data[key] or {}
        if not isinstance(data, dict):
            raise TypeError(
                f"{path}: the scoring config must be a mapping, got {type(data).__name__}"
            )
        return cls.model_validate(data)

    def to_yaml(self) -> str:
        """The config as YAML (round-trips through ``from_yaml``)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def stored_scoring_config(scoring: dict | None) -> ScoringConfig:
    """The scoring config stored with a champion pair (the defaults when it has none). A pair
    stored before ``priority.value_horizon_churn`` existed fitted its tier thresholds on value
    at risk at the churn horizon: it keeps that, so its tiers and its monitoring reference's
    tier mix still match until it is retrained."""
    if not scoring:
        return ScoringConfig()
    priority = scoring.get("priority")
    if isinstance(priority, dict) and "value_horizon_churn" not in priority:
        scoring = {**scoring, "priority": {**priority, "value_horizon_churn": False}}
    return ScoringConfig.model_validate(scoring)


def load_scoring_config(
    path: str | Path | None = None, stored: dict | None = None
) -> ScoringConfig:
    """The scoring config of a YAML file: its ``scoring:`` section if it has one (an experiment
    file), else the whole file; the defaults when ``path`` is None. With ``stored`` (a champion
    pair's, ``stored_scoring_config``) the file's keys are set over it, section by section: a
    file holding ``language: zh`` changes the language and keeps the pair's fitted stage gap and
    tier thresholds (in place of the file, they fell back to generic defaults: 424 of 1,500
    customers changed tier)."""
    if path is None:
        return ScoringConfig() if stored is None else stored_scoring_config(stored)
    data = load_yaml(Path(path).read_text())
    key = "scoring" if isinstance(data, dict) and "scoring" in data else None
    if stored is None:
        return ScoringConfig.from_yaml(path, key=key)
    given = (data[key] if key else data) or {}
    if not isinstance(given, dict):
        raise TypeError(f"{path}: the scoring config must be a mapping, got {type(given).__name__}")
    return scoring_set_over(
        stored_scoring_config(stored),
        given,
        f"{path}, set over the champion pair's stored scoring config",
    )


def check_scoring_section(scoring: dict, config: str | Path) -> None:
    """An experiment config's ``scoring:`` checked before any work (training stores it with the
    pair it registers: a bad key found then would cost the training)."""
    if not scoring:
        return
    stages = scoring.get("stages")
    if isinstance(stages, dict) and stages.get("churn_horizon_days") is not None:
        from training.config import ConfigError

        raise ConfigError(
            f"{config}: scoring: stages.churn_horizon_days is the churn model's horizon, which "
            "training stores from labels.churn_horizon_days: set labels.churn_horizon_days "
            "(a different number here would read the model's probabilities over another horizon)"
        )
    scoring_set_over(ScoringConfig(), scoring, f"{config}: scoring")


def scoring_set_over(base: ScoringConfig, given: dict, where: str) -> ScoringConfig:
    """``given`` (a scoring config's keys, e.g. an experiment YAML's ``scoring:``) set over
    ``base`` section by section and checked as a whole (500/200/50 is valid though 50 is above the
    default 40); an unknown key or a bad value is a ``ConfigError`` naming ``where``."""
    try:
        return ScoringConfig.model_validate(_merged(base.model_dump(), given))
    except ValidationError as exc:
        from training.config import ConfigError, validation_problems

        raise ConfigError(f"{where}: {validation_problems(exc)}") from None


def _merged(base: dict, over: dict) -> dict:
    """``over`` set on ``base``: nested mappings key by key, anything else replaced; a null
    keeps ``base``'s value (the documented block's ``churn_horizon_days: null`` would otherwise
    unset the horizon training stored)."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out
