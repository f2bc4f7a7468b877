"""Batch scoring with the champion models: feature snapshot at a date -> scores for the CRM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import ExperimentConfig


@dataclass
class Champions:
    """The two champion models, their versions and the experiment configs they were trained with."""

    churn: object  # training.models.ChurnModel
    clv: object  # training.models.ClvModel
    churn_version: str
    clv_version: str
    churn_config: ExperimentConfig
    clv_config: ExperimentConfig
    scoring: dict | None = None  # scoring thresholds fitted at training time (serving.config.ScoringConfig)

    @property
    def feature_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.churn.columns, *self.clv.columns]))

    def snapshot_config(self) -> ExperimentConfig:
        """One feature config that covers the columns of both models."""
        a, b = self.churn_config.features, self.clv_config.features
        features = a.model_copy(update={
            "families": tuple(dict.fromkeys([*a.families, *b.families])),
            "windows_days": tuple(sorted({*a.windows_days, *b.windows_days})),
            "event_windows_days": tuple(sorted({*a.event_windows_days, *b.event_windows_days})),
        })
        return self.churn_config.model_copy(update={"features": features})


def load_champions(tracking_uri: str = "sqlite:///mlflow.db") -> Champions:
    """Load ``models:/churn@champion`` and ``models:/clv@champion``."""
    import mlflow

    from training.registry import load_champion

    mlflow.set_tracking_uri(tracking_uri)
    churn, churn_version = load_champion("churn")
    clv, clv_version = load_champion("clv")
    return Champions(
        churn=churn.model, clv=clv.model, churn_version=churn_version, clv_version=clv_version,
        churn_config=ExperimentConfig.model_validate(churn.meta["experiment"]),
        clv_config=ExperimentConfig.model_validate(clv.meta["experiment"]),
        scoring=churn.meta.get("scoring"),
    )


def feature_snapshot(data_dir: str | Path, as_of: date, champions: Champions, progress: bool = True) -> pd.DataFrame:
    """Features of every known customer as of ``as_of`` (BTYD columns at the models' horizons)."""
    from training.dataset import build_frame

    return build_frame(
        data_dir, [as_of], champions.snapshot_config(), with_labels=False, progress=progress,
        churn_horizon_days=champions.churn_config.labels.churn_horizon_days,
        value_horizon_days=champions.clv_config.labels.value_horizon_days,
    )


def predict(snapshot: pd.DataFrame, champions: Champions) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Churn probability (NaN for prospects: the churn model only knows buyers), predicted value,
    and the churn model's per-feature contributions."""
    buyers = (snapshot["is_prospect"] == 0).to_numpy()
    probability = np.full(len(snapshot), np.nan)
    contributions = pd.DataFrame(0.0, index=snapshot.index, columns=champions.churn.columns)
    if buyers.any():
        probability[buyers], churn_contributions = champions.churn.predict_with_contributions(snapshot[buyers])
        contributions.loc[buyers] = churn_contributions.to_numpy()
    value = np.clip(champions.clv.predict(snapshot), 0, None)
    return probability, value, contributions


def score_snapshot(snapshot: pd.DataFrame, champions: Champions, as_of: date, scoring_config=None) -> pd.DataFrame:
    """The CRM fields for every row of a feature snapshot."""
    from serving.config import ScoringConfig
    from serving.scoring import score_frame

    probability, value, contributions = predict(snapshot, champions)
    if scoring_config is None:
        scoring_config = ScoringConfig.model_validate(champions.scoring) if champions.scoring else ScoringConfig()
    return score_frame(
        snapshot, probability, value, contributions, scoring_config, as_of,
        churn_model_version=champions.churn_version, clv_model_version=champions.clv_version,
    )
