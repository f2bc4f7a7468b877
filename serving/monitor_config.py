"""Thresholds of ``lifecycle monitor``: when drift or realized performance is a warning or an alert.

A YAML file (``monitor.yaml``; every key optional, unknown keys rejected) such as::

    input:  {psi_warn: 0.1, psi_alert: 0.25, ks_warn: 0.1, ks_alert: 0.2}
    scores: {psi_warn: 0.1, psi_alert: 0.25}
    performance: {auc_drop_warn: 0.03, auc_drop_alert: 0.07}

PSI: below 0.1 is the usual "no change", above 0.25 a shift worth acting on. Input drift alerts
when at least ``min_features_alert`` features (default 1: any one) are past an alert line (PSI,
KS or median shift, each only when unlikely by chance); raise it to have a single feature's shift
reported as a warning. A new category rate or a missing-share jump alerts on its own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.yaml_files import load_yaml


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Pair(_Config):
    @model_validator(mode="after")
    def _warn_below_alert(self):
        data = self.model_dump()
        for key, warn in data.items():
            if (
                key.endswith("_warn")
                and key.replace("_warn", "_alert") in data
                and warn > data[key.replace("_warn", "_alert")]
            ):
                raise ValueError(f"{key} ({warn}) must not exceed {key.replace('_warn', '_alert')}")
        return self


class InputThresholds(_Pair):
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    ks_warn: float = Field(0.1, gt=0, le=1)
    ks_alert: float = Field(0.2, gt=0, le=1)
    median_shift_warn: float = Field(
        0.25, gt=0, description="ratio - 1 of the non-zero median (0.25: moved 1.25x)"
    )
    median_shift_alert: float = Field(
        0.5, gt=0, description="ratio - 1 of the non-zero median (0.5: moved 1.5x)"
    )
    missing_warn: float = Field(0.05, gt=0, le=1)
    missing_alert: float = Field(0.2, gt=0, le=1)
    new_category_warn: float = Field(0.01, gt=0, le=1)
    new_category_alert: float = Field(0.05, gt=0, le=1)
    p_value_max: float = Field(
        0.001,
        gt=0,
        le=1,
        description="a PSI, KS or median shift counts only when "
        "this unlikely by chance (chi-square on the bins; sign test for the median)",
    )
    variation_slack: float = Field(
        0.25,
        ge=0,
        description="a PSI, KS or median shift warns only beyond (1 + this) x how far the data the "
        "pair was trained on already moved from the reference: the same season a year earlier, "
        "and as long before training (seasons and a base that ages move features without any "
        "change in the world)",
    )
    min_features_alert: int = Field(
        1,
        ge=1,
        description="features past an alert line (psi, ks or median shift) needed for an input "
        "alert; fewer are warnings (a new category or missing-share jump alerts on its own)",
    )


class ScoreThresholds(_Pair):
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    mix_psi_warn: float = Field(0.1, gt=0)
    mix_psi_alert: float = Field(0.25, gt=0)


class PerformanceThresholds(_Pair):
    auc_drop_warn: float = Field(0.03, ge=0)
    auc_drop_alert: float = Field(0.07, ge=0)
    brier_rise_warn: float = Field(0.02, ge=0)
    brier_rise_alert: float = Field(0.05, ge=0)
    ece_warn: float = Field(0.05, ge=0)
    ece_alert: float = Field(0.1, ge=0)
    gini_drop_warn: float = Field(0.05, ge=0)
    gini_drop_alert: float = Field(0.12, ge=0)
    mae_ratio_warn: float = Field(1.2, ge=1)
    mae_ratio_alert: float = Field(1.5, ge=1)
    total_ratio_off_warn: float = Field(
        0.2, ge=0, description="realized total ratio off the test one by this share"
    )
    total_ratio_off_alert: float = Field(0.4, ge=0)
    min_customers: int = Field(
        100, ge=1, description="matured dates with fewer scored buyers are skipped"
    )
    group_gap_warn: float = Field(
        0.05,
        ge=0,
        description="a group of customers (segment, region, channel) whose observed churn rate "
        "minus mean predicted, off the same of all scored buyers, moved this far from the same on "
        "the pair's held-out buyers at training (references without it: is off by this)",
    )
    group_gap_alert: float = Field(0.1, ge=0)
    group_min_customers: int = Field(
        200, ge=1, description="groups with fewer scored buyers on a matured date are not judged"
    )
    group_p_value_max: float = Field(
        0.001,
        gt=0,
        le=1,
        description="a group's change counts only when this unlikely by chance under the "
        "predicted probabilities (the group's customers now and at training)",
    )
    lookback_days: int = Field(
        365,
        ge=1,
        description="kept scoring dates up to this many days before the monitored date are "
        "read and judged (each costs its outcomes' computation: a weekly history grew the "
        "monitor step by 0.2 s a week, without bound); at least the value horizon",
    )


class MonitorConfig(_Config):
    input: InputThresholds = InputThresholds()
    scores: ScoreThresholds = ScoreThresholds()
    performance: PerformanceThresholds = PerformanceThresholds()


def load_monitor_config(path: str | Path | None) -> MonitorConfig:
    """The thresholds in ``path`` (defaults when None); ValueError naming the file and the key."""
    if path is None:
        return MonitorConfig()
    path = Path(path)
    data = load_yaml(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections (input, scores, performance)")  # noqa: TRY004
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as exc:
        from training.config import validation_problems

        raise ValueError(f"{path}: {validation_problems(exc)}") from exc
