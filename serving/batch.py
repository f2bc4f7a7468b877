"""Batch scoring with the champion models: feature snapshot at a date -> scores for the CRM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.config import ExperimentConfig

if TYPE_CHECKING:
    from features.contract import TextReader
    from serving.uplift_scoring import UpliftChampion
    from training.clv_intervals import ValueIntervals
    from training.models import ChurnModel, ClvModel


@dataclass
class Champions:
    """A project's champion pair: both models, the pair's version, the experiment config they were
    trained with, and the scoring thresholds fitted with them."""

    churn: ChurnModel
    clv: ClvModel
    churn_version: str
    clv_version: str
    churn_config: ExperimentConfig
    clv_config: ExperimentConfig
    scoring: dict | None = (
        None  # scoring thresholds fitted at training time (serving.config.ScoringConfig)
    )
    project: str | None = None
    meta: dict = field(default_factory=dict)  # families, data fingerprint, run id, test cutoff
    uplift: UpliftChampion | None = None  # priority by saved value
    intervals: ValueIntervals | None = None  # predicted_value ranges

    @property
    def version(self) -> str:
        """The registered pair's version (churn and CLV are one version)."""
        return self.churn_version

    @property
    def feature_columns(self) -> list[str]:
        uplift = self.uplift.columns if self.uplift is not None else []
        return list(dict.fromkeys([*self.churn.columns, *self.clv.columns, *uplift]))

    def snapshot_config(self) -> ExperimentConfig:
        """One feature config that covers the columns of both models (and the uplift models')."""
        a, b = self.churn_config.features, self.clv_config.features
        extra = (
            [self.uplift.policy.features]
            if self.uplift is not None and self.uplift.policy.features
            else []
        )
        features = a.model_copy(
            update={
                "families": tuple(
                    dict.fromkeys(
                        [*a.families, *b.families, *(f for u in extra for f in u["families"])]
                    )
                ),
                "windows_days": tuple(
                    sorted(
                        {
                            *a.windows_days,
                            *b.windows_days,
                            *(w for u in extra for w in u["windows_days"]),
                        }
                    )
                ),
                "event_windows_days": tuple(
                    sorted(
                        {
                            *a.event_windows_days,
                            *b.event_windows_days,
                            *(w for u in extra for w in u["event_windows_days"]),
                        }
                    )
                ),
            }
        )
        return self.churn_config.model_copy(update={"features": features})


def load_champions(tracking_uri: str, project: str) -> Champions:
    """Load ``project``'s champion pair (``models:/<project>.churn-clv@champion``) from the store;
    plain JSON and LightGBM model text, no pickle. LookupError naming the project (and those
    present) when it has none."""
    from serving.uplift_scoring import load_uplift_champion
    from training.registry import load_champion_pair

    pair, version = load_champion_pair(tracking_uri, project)
    config = ExperimentConfig.model_validate(pair.meta["experiment"])
    return Champions(
        churn=pair.churn,
        clv=pair.clv,
        churn_version=version,
        clv_version=version,
        churn_config=config,
        clv_config=config,
        scoring=pair.scoring,
        project=project,
        meta=pair.meta,
        uplift=load_uplift_champion(tracking_uri, project),
        intervals=pair.intervals,
    )


class MissingFeatureData(ValueError):
    """Scoring data lacks the source of a feature family the champion models were trained on."""


def check_feature_data(
    data_dir: str | Path, champions: Champions, allow_missing: bool = False
) -> list[str]:
    """What ``data_dir`` lacks of the families the pair was trained with data for: raises
    ``MissingFeatureData`` (one line per data set), or with ``allow_missing`` returns warnings
    naming what is imputed."""
    from training.families import IMPUTED_AS, missing_sources

    needed = champions.meta.get("families_with_data", champions.snapshot_config().features.families)
    missing = missing_sources(data_dir, needed, champions.feature_columns)
    if not missing:
        return []
    if not allow_missing:
        raise MissingFeatureData(
            f"data set {data_dir}: the {champions.project} champion pair v{champions.version} was "
            f"trained with {' and '.join(missing)} features, and this data set lacks their source "
            f"({'; '.join(missing.values())}); score with --allow-missing to impute them, or train "
            "a pair for this data (lifecycle train --project NAME)"
        )
    return [
        f"data set {data_dir}: {family} features imputed as {IMPUTED_AS[family]}: {why}"
        for family, why in missing.items()
    ]


def check_data_zone(
    data_dir: str | Path, champions: Champions, read_text: TextReader | None = None
) -> None:
    """Refuse data of another business zone than the pair's training data
    (:class:`training.data_zones.ZoneMismatch`); warn when one of the two does not record its
    zone and the other's is not UTC. ``read_text``: how a remote data set's manifest is read
    (``features.engine.Engine.read_text``)."""
    import warnings

    from training.data_zones import check_zone
    from training.model_tags import DATA_ZONE

    pair = f"the {champions.project} champion pair v{champions.version}"
    if said := check_zone(data_dir, champions.meta.get(DATA_ZONE), pair, read_text):
        warnings.warn(said, stacklevel=2)


def feature_snapshot(
    data_dir: str | Path, as_of: date, champions: Champions, progress: bool = True
) -> pd.DataFrame:
    """Features of every known customer as of ``as_of`` (BTYD columns at the models' horizons).
    Model columns the data cannot produce (e.g. an attribute the customers table lacks) are
    missing values; ``check_feature_data`` says whether that is acceptable. Data of another
    business zone than the pair's is refused (:func:`check_data_zone`)."""
    from training.dataset import build_frame, with_model_columns

    check_data_zone(data_dir, champions)

    snapshot = build_frame(
        data_dir,
        [as_of],
        champions.snapshot_config(),
        with_labels=False,
        progress=progress,
        churn_horizon_days=champions.churn_config.labels.churn_horizon_days,
        value_horizon_days=champions.clv_config.labels.value_horizon_days,
    )
    if snapshot.empty:
        raise nothing_to_score(data_dir, as_of)
    return with_model_columns(snapshot, champions.feature_columns)


def nothing_to_score(data_dir, as_of) -> Exception:
    """The error of a scoring date before every customer (on either engine)."""
    from training.splits import PlanError

    return PlanError(
        f"data set {data_dir}: no customer signed up or bought before {as_of}: nothing to "
        "score; use a later --as-of"
    )


def set_prediction_threads(champions, threads: int) -> None:
    """Let LightGBM predict on ``threads`` OpenMP threads (the sklearn wrappers' ``n_jobs`` and the
    booster calls that use the process default). One thread per request is fastest for the small
    batches of online scoring: two threads per row on two busy cores cost more than they save."""
    import lightgbm
    from threadpoolctl import threadpool_limits

    for model in (champions.churn, champions.clv):
        for estimator in vars(model).values():
            if isinstance(estimator, lightgbm.LGBMModel):
                estimator.set_params(n_jobs=threads)
    threadpool_limits(threads, user_api="openmp")


def predict(
    snapshot: pd.DataFrame, champions: Champions
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Churn probability (NaN for prospects: the churn model only knows buyers), predicted value
    (for prospects, the training prospects' mean when the pair saw too few of them to learn,
    ``training.train.MIN_PROSPECT_ROWS``), and the churn model's per-feature contributions."""
    buyers = (snapshot["is_prospect"] == 0).to_numpy()
    probability = np.full(len(snapshot), np.nan)
    contributions = np.zeros((len(snapshot), len(champions.churn.columns)))
    if buyers.all():  # the usual online request: no rows to pick
        probability, contributions = champions.churn.predict_with_contribution_array(snapshot)
    elif buyers.any():
        probability[buyers], contributions[buyers] = (
            champions.churn.predict_with_contribution_array(snapshot[buyers])
        )
    value = np.clip(champions.clv.predict(snapshot), 0, None)
    from training.train import MIN_PROSPECT_ROWS  # training.train imports mlflow: not at import

    learnt = champions.meta.get("prospects")
    if learnt is not None and learnt["rows"] < MIN_PROSPECT_ROWS and not buyers.all():
        value = np.where(buyers, value, max(float(learnt["mean_future_value"]), 0.0))
    return (
        probability,
        value,
        pd.DataFrame(
            contributions,
            index=snapshot.index,
            columns=pd.Index(champions.churn.columns, dtype=object),
        ),
    )


def score_snapshot(
    snapshot: pd.DataFrame, champions: Champions, as_of: date, scoring_config=None
) -> pd.DataFrame:
    """The CRM fields for every row of a feature snapshot, the champions' project in
    ``attrs[PROJECT_ATTR]`` (so the scores file says whose models scored it)."""
    from serving.scoring import PROJECT_ATTR, scores_as_frame

    scores = scores_as_frame(snapshot_score_columns(snapshot, champions, as_of, scoring_config))
    if champions.project:
        scores.attrs[PROJECT_ATTR] = champions.project
    return scores


def snapshot_score_columns(
    snapshot: pd.DataFrame, champions: Champions, as_of: date, scoring_config=None
) -> dict:
    """``score_snapshot`` as columns (``serving.scoring.score_columns``), before any frame."""
    from serving.config import stored_scoring_config
    from serving.scoring import score_columns

    probability, value, contributions = predict(snapshot, champions)
    if scoring_config is None:
        scoring_config = stored_scoring_config(champions.scoring)
    uplift = champions.uplift.effects(snapshot) if champions.uplift is not None else None
    return score_columns(
        snapshot,
        probability,
        value,
        contributions,
        scoring_config,
        as_of,
        churn_model_version=champions.churn_version,
        clv_model_version=champions.clv_version,
        uplift=uplift,
        value_range=value_range(snapshot, value, champions),
        value_horizon_days=champions.clv_config.labels.value_horizon_days,
    )


def value_range(snapshot: pd.DataFrame, value: np.ndarray, champions: Champions):
    """The conformal range (low, high) of each predicted value; None for a pair stored without
    one."""
    intervals = getattr(champions, "intervals", None)
    if intervals is None:
        return None
    from training.clv_intervals import interval_groups

    return intervals.predict(value, interval_groups(snapshot))


def score_files(out_file: Path, csv: bool) -> list[Path]:
    """What :func:`write_scores` replaces: the snapshot, the scores, (``csv``) the CSV."""
    files = [out_file.with_name(out_file.stem + ".snapshot.parquet"), out_file]
    return [*files, out_file.with_suffix(".csv")] if csv else files


def scored_days(path: Path) -> set[date]:
    """The ``as_of`` dates of a scores file already there (none: no file, or not one of ours)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        as_of = pq.read_table(path, columns=["as_of"]).column("as_of")
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return set()
    return {pd.Timestamp(v).date() for v in as_of.unique().to_pylist() if v is not None}


def scored_project(path: Path) -> str | None:
    """The project recorded in a scores file's Parquet metadata (pandas keeps ``attrs`` there);
    None when absent, unreadable or not recorded."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.scoring import PROJECT_ATTR

    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"PANDAS_ATTRS")
        project = json.loads(raw).get(PROJECT_ATTR) if raw else None
    except (OSError, ValueError, AttributeError, pa.ArrowException):
        return None
    return str(project) if project else None


def write_scores(
    out_file: Path,
    scores: pd.DataFrame,
    snapshot: pd.DataFrame,
    people: pd.DataFrame | None,
    data_dir: str | Path | None = None,
) -> Path:
    """The scores, their feature snapshot (``<out>.snapshot.parquet``, returned) and
    (``people``) the rounded CSV, each written beside its target and renamed over it only once
    all three are whole: a full disk or a kill leaves the previous files as they were, never a
    truncated one under its final name. ``data_dir`` (the contract directory scored) is recorded
    in the scores' metadata."""
    from contextlib import ExitStack

    import pyarrow as pa

    from features.atomic_file import replaced_file
    from serving.scoring import DATA_ATTR, PROJECT_ATTR

    files = score_files(out_file, people is not None)  # snapshot, scores[, CSV]
    if data_dir is not None:
        scores = scores.copy(deep=False)
        scores.attrs[DATA_ATTR] = str(Path(data_dir).absolute())
    snapshot_path = files[0]
    snapshot = snapshot.copy(deep=False)
    for key in (PROJECT_ATTR, DATA_ATTR):  # the service checks the project, names quarantines
        if scores.attrs.get(key):
            snapshot.attrs[key] = scores.attrs[key]
    writes = [
        (snapshot_path, lambda p: snapshot.to_parquet(p, index=False)),
        (out_file, lambda p: scores.to_parquet(p, index=False)),
    ]
    if people is not None:
        writes.append((files[2], lambda p: people.to_csv(p, index=False)))
    with ExitStack() as stack:
        for target, write in writes:
            try:
                write(stack.enter_context(replaced_file(target)))
            except (OSError, pa.ArrowException) as exc:
                raise OSError(f"{target}: cannot write the scores ({exc}); none replaced") from exc
    return snapshot_path
