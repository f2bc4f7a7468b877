"""The scoring service for the CRM: ``bentoml serve serving.service:LifecycleService``.

Two ways to score, both returning the fields of batch scoring (``serving.scoring.SCORE_COLUMNS``)
with the same numbers for the same customer and date, one result per customer in request order
(a ``score``, or an ``error`` for that customer only):

- ``POST /score/ids``: customers of the latest feature snapshot (``lifecycle score`` writes it as
  ``<scores>.snapshot.parquet``), 1 to 1,000 ids. The snapshot is scored once at start-up by
  batch scoring itself; requests look the scores up. An unknown id is an error item.
- ``POST /score/features``: customers from posted feature values (``schemas.CustomerFeatures``),
  1 to 1,000 rows, scored per request; concurrent requests are merged by adaptive batching.

Bad input (malformed JSON, wrong types, missing fields, out-of-range values, more than 1,000
customers) is a 400 whose ``detail`` names the field; other media types 415, bodies over 8 MB 413.

Environment:

- ``LIFECYCLE_API_KEY``: the key clients send as ``Authorization: Bearer <key>`` (16+ characters);
  without it the service does not start, unless ``LIFECYCLE_ALLOW_NO_AUTH=1``.
- ``MLFLOW_TRACKING_URI``: where ``models:/churn@champion`` and ``models:/clv@champion`` are
  (default ``sqlite:///mlflow.db``).
- ``LIFECYCLE_SNAPSHOT``: the feature snapshot (default ``data/scores.snapshot.parquet`` if present).
- ``LIFECYCLE_SCORING_CONFIG``: scoring rules YAML, as ``lifecycle score --scoring-config``
  (default: the scoring config stored with the champion).
- ``LIFECYCLE_PREDICT_THREADS``: LightGBM threads per scoring call (default 1).
- ``LIFECYCLE_ACCESS_LOG``: ``1`` writes an access log line per request (default off).

``/healthz``, ``/readyz``, ``/metrics`` and ``/docs.json`` come from BentoML and need no key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import BentoMLException

from serving.auth import ApiKeyMiddleware, RequestLimitsMiddleware, api_key_from_env
from serving.schemas import (
    MAX_BATCH,
    CustomerFeatures,
    CustomerScore,
    ScoreFeaturesRequest,
    ScoreIdsRequest,
    ScoreResult,
)
from training.dataset import BTYD_COLUMNS, CALENDAR_COLUMNS

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_SNAPSHOT = Path("data/scores.snapshot.parquet")


@dataclass(frozen=True)
class Settings:
    """Where the service finds its models, snapshot and scoring rules (read from the environment)."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    snapshot: Path | None = None
    scoring_config: Path | None = None
    predict_threads: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        snapshot = environ.get("LIFECYCLE_SNAPSHOT")
        if snapshot and not Path(snapshot).is_file():
            raise FileNotFoundError(
                f"LIFECYCLE_SNAPSHOT={snapshot}: no such file; run `lifecycle score` "
                "and point it at the <scores>.snapshot.parquet it writes"
            )
        if not snapshot and DEFAULT_SNAPSHOT.is_file():
            snapshot = str(DEFAULT_SNAPSHOT)
        config = environ.get("LIFECYCLE_SCORING_CONFIG")
        threads = environ.get("LIFECYCLE_PREDICT_THREADS", "1")
        if not threads.isdigit() or int(threads) < 1:
            raise ValueError(
                f"LIFECYCLE_PREDICT_THREADS must be a whole number >= 1, got {threads!r}"
            )
        return cls(
            tracking_uri=environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI,
            snapshot=Path(snapshot) if snapshot else None,
            scoring_config=Path(config) if config else None,
            predict_threads=int(threads),
        )


class Scorer:
    """The scoring logic behind the HTTP API, without HTTP: champions + snapshot + scoring rules.

    The snapshot's scores are a function of the snapshot, the champions and the scoring config,
    all fixed while the service runs: they are computed once, by batch scoring itself
    (``serving.batch.score_snapshot``), and ``/score/ids`` looks them up.
    """

    def __init__(self, champions, config=None, snapshot: pd.DataFrame | None = None) -> None:
        self.champions = champions
        self.config = config  # None: the scoring config stored with the champion, as batch scoring
        self.required = required_columns(champions)
        derived = {*CALENDAR_COLUMNS, *BTYD_COLUMNS}  # from as_of, from the snapshot's BTYD fit
        self.unsupported = sorted(set(self.required) - set(CustomerFeatures.model_fields) - derived)
        self.as_of: date | None = None
        self.btyd = None
        self._index = pd.Index([], dtype=object)
        self._scores: list[dict] = []
        if snapshot is not None:
            snapshot = check_snapshot(snapshot, self.required)
            self.as_of = pd.Timestamp(snapshot["cutoff"].iloc[0]).date()
            self._index = pd.Index(snapshot["customer_id"])
            self._scores = score_records(self.score_frame(snapshot, self.as_of))
            if set(BTYD_COLUMNS) & set(self.required):
                self.btyd = fit_btyd(snapshot)

    @classmethod
    def from_settings(cls, settings: Settings) -> Scorer:
        from serving.batch import load_champions
        from serving.config import load_scoring_config

        champions = load_champions(settings.tracking_uri)
        snapshot = pd.read_parquet(settings.snapshot) if settings.snapshot else None
        config = load_scoring_config(settings.scoring_config) if settings.scoring_config else None
        scorer = cls(champions, config, snapshot)  # the snapshot is scored on every core
        set_prediction_threads(champions, settings.predict_threads)
        return scorer

    @property
    def customers(self) -> int:
        return len(self._index)

    def score_frame(self, features: pd.DataFrame, as_of: date) -> pd.DataFrame:
        """Batch scoring of feature rows: ``serving.batch.score_snapshot``, nothing else."""
        from serving.batch import score_snapshot

        return score_snapshot(features, self.champions, as_of, self.config)

    def score_ids(self, customer_ids: Sequence[str]) -> list[ScoreResult]:
        """One result per id, in order: the snapshot customer's score, or an error for an unknown id."""
        if self.as_of is None:
            raise BentoMLException(
                "no feature snapshot is loaded: set LIFECYCLE_SNAPSHOT to the "
                "<scores>.snapshot.parquet of `lifecycle score`, or post features",
                error_code=HTTPStatus.NOT_FOUND,
            )
        positions = self._index.get_indexer(list(customer_ids))
        return [
            ScoreResult(customer_id=cid, score=CustomerScore(**self._scores[i]))
            if i >= 0
            else ScoreResult(
                customer_id=cid,
                error=f"unknown customer_id: not in the feature snapshot of {self.as_of}",
            )
            for cid, i in zip(customer_ids, positions)
        ]

    def score_features(self, customers: Sequence[CustomerFeatures]) -> list[ScoreResult]:
        """One result per posted row, in order; an error for a row the service cannot complete."""
        if self.unsupported:
            raise BentoMLException(
                f"the champion models use features this API does not accept: "
                f"{self.unsupported}; score by id instead",
                error_code=HTTPStatus.CONFLICT,
            )
        results: list[ScoreResult | None] = [None] * len(customers)
        scorable = []
        for i, customer in enumerate(customers):
            problem = self._cannot_score(customer)
            if problem:
                results[i] = ScoreResult(customer_id=customer.customer_id, error=problem)
            else:
                scorable.append(i)
        if scorable:
            rows = [customers[i] for i in scorable]
            features = features_frame(rows, self.required, self.as_of)
            if self.btyd is not None:
                features = fill_btyd(features, rows, self.btyd, self.champions)
            for cutoff, part in features.groupby("cutoff", sort=False):
                scores = self.score_frame(part, cutoff.date())
                for position, record in zip(part.index, score_records(scores)):
                    results[scorable[position]] = ScoreResult(
                        customer_id=record["customer_id"], score=CustomerScore(**record)
                    )
        return results

    def _cannot_score(self, customer: CustomerFeatures) -> str | None:
        if customer.as_of is None and self.as_of is None:
            return "as_of is required: no feature snapshot is loaded to take the date from"
        if customer.is_prospect == 0 and self.btyd is None:
            unsent = [
                c for c in BTYD_COLUMNS if c in self.required and c not in customer.model_fields_set
            ]
            if unsent:
                return (
                    f"{unsent[0]} is required: the champion models use BTYD features and no "
                    "snapshot is loaded to derive them from"
                )
        return None


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


def required_columns(champions) -> list[str]:
    """Feature columns the models and the scoring rules read (``customer_id`` included)."""
    from serving.scoring import SCORING_COLUMNS

    return list(dict.fromkeys([*SCORING_COLUMNS, *champions.feature_columns]))


def check_snapshot(snapshot: pd.DataFrame, required: Sequence[str]) -> pd.DataFrame:
    """The snapshot, checked: every required column, one cutoff, unique customer ids."""
    missing = [c for c in [*required, "cutoff"] if c not in snapshot.columns]
    if missing:
        raise ValueError(
            f"feature snapshot: columns {missing} are missing; rescore with `lifecycle score` "
            "using the current champions"
        )
    cutoffs = snapshot["cutoff"].drop_duplicates()
    if len(cutoffs) != 1:
        raise ValueError(
            f"feature snapshot: expected one cutoff, got {len(cutoffs)} ({list(cutoffs[:3])} ...)"
        )
    duplicated = snapshot["customer_id"][snapshot["customer_id"].duplicated()]
    if len(duplicated):
        raise ValueError(
            f"feature snapshot: customer_id {duplicated.iloc[0]!r} appears more than once"
        )
    return snapshot.reset_index(drop=True)


def features_frame(
    customers: Sequence[CustomerFeatures], columns: Sequence[str], default_as_of: date | None
) -> pd.DataFrame:
    """Posted customers as a frame like the snapshot: ``cutoff`` (the row's ``as_of``, else
    ``default_as_of``), calendar columns derived from it as in training, unsent BTYD as NaN."""
    from training.dataset import add_calendar_columns

    frame = pd.DataFrame.from_records([c.model_dump() for c in customers])
    as_of = frame["as_of"] if default_as_of is None else frame["as_of"].fillna(default_as_of)
    frame = add_calendar_columns(frame.assign(cutoff=pd.to_datetime(as_of)))
    for column in columns:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame


def fit_btyd(snapshot: pd.DataFrame):
    """BG/NBD + Gamma-Gamma fitted on the snapshot's buyers, as ``lifecycle score`` fitted them."""
    from training.btyd import BTYDModel

    return BTYDModel().fit(btyd_summary(snapshot[snapshot["is_prospect"] == 0]))


def btyd_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The BTYD inputs of feature rows (see ``training.dataset.add_btyd_columns``)."""
    from training.dataset import repeat_monetary_value

    summary = frame[["frequency", "btyd_recency_days", "age_days"]].astype(float).copy()
    summary["monetary_value"] = repeat_monetary_value(frame).fillna(0.0).clip(lower=0.0)
    return summary


def fill_btyd(
    features: pd.DataFrame, customers: Sequence[CustomerFeatures], btyd, champions
) -> pd.DataFrame:
    """BTYD columns for buyers who did not send them, from the snapshot's fit at the models' horizons."""
    sent = np.array([set(BTYD_COLUMNS) <= c.model_fields_set for c in customers])
    todo = (~sent) & (features["is_prospect"].to_numpy() == 0)
    if not todo.any():
        return features
    features = features.copy()
    rows = features[todo]
    summary = btyd_summary(rows)
    churn = btyd.predict(summary, champions.churn_config.labels.churn_horizon_days)
    value = btyd.predict(summary, champions.clv_config.labels.value_horizon_days)
    derived = {
        "btyd_expected_purchases": churn["expected_purchases"],
        "btyd_p_alive": churn["p_alive"],
        "btyd_p_no_purchase": churn["p_no_purchase"],
        "btyd_expected_value": value["expected_value"],
    }
    for column, values in derived.items():
        keep = [column in c.model_fields_set for c, t in zip(customers, todo) if t]
        features.loc[rows.index, column] = np.where(
            keep, rows[column].to_numpy(dtype=float), np.asarray(values)
        )
    return features


def score_records(scores: pd.DataFrame) -> list[dict]:
    """Score rows as plain records of ``CustomerScore`` (a prospect's NaN churn probability as None)."""
    p = scores["churn_probability"]
    return scores.assign(
        as_of=scores["as_of"].dt.date,
        churn_probability=p.astype(object).where(p.notna(), None),
        reasons=scores["reasons"].map(list),
    ).to_dict("records")


@bentoml.service(
    name="lifecycle",
    http={"host": "127.0.0.1", "port": 3000},
    traffic={"timeout": 60},
    # Per-request access lines cost about a third of a look-up's latency on two cores (p99 at
    # concurrency 8: 51 -> 37 ms); /metrics still counts requests. LIFECYCLE_ACCESS_LOG=1 turns them on.
    logging={"access": {"enabled": os.environ.get("LIFECYCLE_ACCESS_LOG", "0") == "1"}},
    workers=1,
)
class LifecycleService:
    """Churn risk, customer value, lifecycle stage and next best action for the CRM."""

    def __init__(self) -> None:
        api_key_from_env()  # refuse to start without a key (or an explicit opt-out)
        settings = Settings.from_env()
        self.scorer = Scorer.from_settings(settings)
        logger.info(
            "loaded churn v%s and clv v%s; snapshot %s: %s customers as of %s",
            self.scorer.champions.churn_version,
            self.scorer.champions.clv_version,
            settings.snapshot,
            self.scorer.customers,
            self.scorer.as_of,
        )

    def __is_ready__(self) -> bool:
        return getattr(self, "scorer", None) is not None

    @bentoml.api(route="/score/ids", input_spec=ScoreIdsRequest)
    async def score_ids(self, customer_ids: list[str]) -> list[ScoreResult]:
        """Scores of customers of the loaded feature snapshot, by id (1 to 1,000 per request).

        One result per id, in request order: ``score`` for a known customer, ``error`` for an id
        the snapshot does not have (the other ids are still scored).
        """
        return self.scorer.score_ids(customer_ids)  # a look-up: no worker thread needed

    @bentoml.api(
        route="/score/features",
        input_spec=ScoreFeaturesRequest,
        batchable=True,
        max_batch_size=MAX_BATCH,
        max_latency_ms=10_000,
    )
    def score_features(self, customers: list[CustomerFeatures]) -> list[ScoreResult]:
        """Scores of customers from posted feature values (1 to 1,000 per request).

        One result per customer, in request order. Concurrent requests are scored together
        (adaptive batching). A customer the service cannot complete (e.g. no ``as_of`` and no
        snapshot to take it from) gets an ``error`` instead of a ``score``.
        """
        return self.scorer.score_features(customers)


LifecycleService.add_asgi_middleware(ApiKeyMiddleware)
LifecycleService.add_asgi_middleware(RequestLimitsMiddleware)
