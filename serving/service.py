"""The scoring service for the CRM: ``bentoml serve serving.service:LifecycleService``.

Two ways to score, both returning the fields of batch scoring (``serving.scoring.SCORE_COLUMNS``)
with the same numbers for the same customer and date, one result per customer in request order
(a ``score``, or an ``error`` for that customer only):

- ``POST /score/ids``: customers of the latest feature snapshot (``lifecycle score`` writes it as
  ``<scores>.snapshot.parquet``), 1 to 1,000 ids. The snapshot is scored once at start-up by
  batch scoring itself; requests look the scores up. An unknown id is an error item.
- ``POST /score/features``: customers from posted feature values (``schemas.CustomerFeatures``),
  1 to 1,000 rows, scored per request; concurrent requests are merged by adaptive batching.

Bad input (malformed JSON, wrong types, missing fields, out-of-range values, rows breaking a
cross-field rule of ``schemas.CROSS_FIELD_RULES``, more than 1,000 customers) is a 400 whose
``detail[].loc`` names the field; other media types 415, bodies over 8 MB 413. A customer the
service cannot score gets an item error; one bad row never changes another row's or another
request's answer (a batch that fails is scored again row by row). No input gives a 500.

Start-up fails fast: ``bentoml serve`` checks the key, the snapshot file and that the address is
free before starting a worker (``serving.preflight``: one line, exit status 2). The worker loads
the champion pair and scores the snapshot in the background: ``/healthz`` answers at once,
``/readyz`` is 503 with the state and reason as JSON until ready, then 200 naming the model
versions and the snapshot date (``serving.readiness``); a load that fails leaves it up and not
ready, never restarting. The worker exits when ``bentoml serve`` is gone (``exit_with_parent``),
even after a ``kill -9``.

A newer scoring on disk (``lifecycle score`` replaced the snapshot and its scores file: a later
date, or the same date scored by a newly promoted champion) is loaded in the background, checked
as at start-up and swapped in whole, without a restart (``serving.scoring_watch``); one that
cannot be read or fails a check leaves the old one served, ``/readyz`` saying why. A pair
promoted and not yet scored with is not served: ``/readyz`` and ``/metrics`` report the
registry's champion next to the served one and a ``stale`` flag (``serving.champion_watch``).

Environment:

- ``LIFECYCLE_API_KEY``: the key clients send as ``Authorization: Bearer <key>`` (16+ characters);
  without it the service does not start, unless ``LIFECYCLE_ALLOW_NO_AUTH=1``.
- ``MLFLOW_TRACKING_URI``: where the champion pair is (default ``sqlite:///mlflow.db``).
- ``LIFECYCLE_PROJECT``: the project whose champion pair to serve (default: the registry's).
- ``LIFECYCLE_SNAPSHOT``: the feature snapshot (default ``data/scores.snapshot.parquet``); required.
- ``LIFECYCLE_SCORING_CONFIG``: scoring rules YAML, as ``lifecycle score --scoring-config``
  (default: the scoring config stored with the champion).
- ``LIFECYCLE_PREDICT_THREADS``: LightGBM threads per scoring call (default 1).
- ``LIFECYCLE_REGISTRY_CHECK_SECONDS``: how often to ask the registry for the project's champion
  and look for a newer scoring (default 30).
- ``LIFECYCLE_RELOAD``: ``0`` serves the scoring loaded at start-up until a restart (``/readyz``
  then says ``stale`` when a newer one is on disk); default ``1``, reload it in place.
- ``LIFECYCLE_MONITOR_REPORT``: the last ``lifecycle monitor`` JSON, exported as gauges on
  ``/metrics`` with the champion version, snapshot age and served score histograms
  (default ``reports/monitor/monitor.json``; ``docs/prometheus/`` has alert rules).
- ``LIFECYCLE_ACCESS_LOG``: ``1`` writes an access log line per request (default off); client
  errors are always logged, one line each (``serving.request_log``).

``/healthz``, ``/readyz``, ``/metrics`` (``serving.http_metrics``: series per route template)
and ``/docs.json`` (``serving.openapi``) need no key.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from starlette.middleware.gzip import GZipMiddleware

from serving import request_timeout
from serving.auth import ApiKeyMiddleware, RequestLimitsMiddleware, api_key_from_env
from serving.champion_watch import DEFAULT_INTERVAL_S, ChampionWatch, registry_champion
from serving.error_body import ValidationSummaryMiddleware
from serving.http_metrics import RouteMetricsMiddleware, count_customers
from serving.openapi import OpenApiMiddleware
from serving.readiness import STATE, ReadinessMiddleware
from serving.request_log import ClientErrorLogMiddleware, install_log_filter
from serving.schemas import (
    MAX_BATCH,
    CustomerFeatures,
    CustomerScore,
    ScoreFeaturesRequest,
    ScoreIdsRequest,
    ScoreResult,
)
from serving.score_table import ScoreTable
from serving.scoring import DATA_ATTR, score_records
from serving.scoring_watch import ScoringWatch, file_stamps
from training import DEFAULT_TRACKING_URI
from training.dataset import BTYD_COLUMNS, CALENDAR_COLUMNS, VALUE_HORIZON_P0

logger = logging.getLogger(__name__)

DEFAULT_SNAPSHOT = Path("data/scores.snapshot.parquet")
API_ROUTES = ("/score/ids", "/score/features")
DEFAULT_MONITOR_REPORT = "reports/monitor/monitor.json"


@dataclass(frozen=True)
class Settings:
    """Where the service finds its models, snapshot and scoring rules (read from the
    environment)."""

    snapshot: Path
    tracking_uri: str = DEFAULT_TRACKING_URI
    project: str | None = None
    scoring_config: Path | None = None
    predict_threads: int = 1
    registry_check_seconds: float = DEFAULT_INTERVAL_S
    #: The score history whose previous scoring the tier hold reads (``serving.action_hold``), as
    #: ``lifecycle score`` did: by default ``score_history`` beside the snapshot.
    score_history: Path | None = None
    #: Load a newer scoring on disk in place (``serving.scoring_watch``), else only report it.
    reload: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        snapshot = environ.get("LIFECYCLE_SNAPSHOT")
        if not snapshot:
            if not DEFAULT_SNAPSHOT.is_file():
                raise FileNotFoundError(
                    f"LIFECYCLE_SNAPSHOT is not set and {DEFAULT_SNAPSHOT} does not exist: run "
                    "`lifecycle score` and set LIFECYCLE_SNAPSHOT to the <scores>.snapshot.parquet "
                    "it writes"
                )
            snapshot = str(DEFAULT_SNAPSHOT)
        config = environ.get("LIFECYCLE_SCORING_CONFIG")
        if config and not Path(config).is_file():
            raise FileNotFoundError(f"LIFECYCLE_SCORING_CONFIG={config}: no such file")
        threads = environ.get("LIFECYCLE_PREDICT_THREADS", "1")
        if not threads.isdigit() or int(threads) < 1:
            raise ValueError(
                f"LIFECYCLE_PREDICT_THREADS must be a whole number >= 1, got {threads!r}"
            )
        check = environ.get("LIFECYCLE_REGISTRY_CHECK_SECONDS") or str(DEFAULT_INTERVAL_S)
        try:
            check_seconds = float(check)
        except ValueError:
            check_seconds = 0.0
        if not check_seconds > 0:
            raise ValueError(
                f"LIFECYCLE_REGISTRY_CHECK_SECONDS must be a number of seconds > 0, got {check!r}"
            )
        reload = environ.get("LIFECYCLE_RELOAD") or "1"
        if reload not in ("0", "1"):
            raise ValueError(f"LIFECYCLE_RELOAD must be 0 or 1, got {reload!r}")
        return cls(
            snapshot=Path(snapshot),
            tracking_uri=environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI,
            project=environ.get("LIFECYCLE_PROJECT") or None,
            scoring_config=Path(config) if config else None,
            predict_threads=int(threads),
            registry_check_seconds=check_seconds,
            score_history=Path(
                environ.get("LIFECYCLE_SCORE_HISTORY") or Path(snapshot).parent / "score_history"
            ),
            reload=reload == "1",
        )


def load_champion_pair(tracking_uri: str, project: str | None = None):
    """``serving.batch.load_champions`` for ``project`` (passed only if that function takes one)."""
    from serving.batch import load_champions

    parameters = inspect.signature(load_champions).parameters
    if "project" in parameters:
        if project is not None:
            return load_champions(tracking_uri, project=project)
        if parameters["project"].default is inspect.Parameter.empty:
            raise ValueError(
                "LIFECYCLE_PROJECT is not set: name the project whose champions to serve"
            )
        return load_champions(tracking_uri)  # type: ignore[call-arg]  # registry without projects
    if project is not None:
        logger.warning("LIFECYCLE_PROJECT=%s ignored: this registry has no projects", project)
    return load_champions(tracking_uri)  # type: ignore[call-arg]  # registry without projects


class Scorer:
    """The scoring logic behind the HTTP API, without HTTP: champions + snapshot + scoring rules.

    The snapshot's scores are a function of the snapshot, the champions and the scoring config,
    all fixed while the service runs: they are computed once, by batch scoring itself
    (``serving.batch.score_snapshot``), and ``/score/ids`` looks them up.
    """

    def __init__(
        self,
        champions,
        config=None,
        snapshot: pd.DataFrame | None = None,
        score_history: Path | None = None,
    ) -> None:
        self.champions = champions
        self.config = config  # None: the scoring config stored with the champion, as batch scoring
        self.required = required_columns(champions)
        derived = {*CALENDAR_COLUMNS, *BTYD_COLUMNS}  # from as_of, from the snapshot's BTYD fit
        self.unsupported = sorted(set(self.required) - set(CustomerFeatures.model_fields) - derived)
        from features import catalog

        static = set(catalog.family_columns("static"))
        #: Customer attributes the models read: a row without them is scored, with a note.
        self.attributes = [c for c in self.required if c in static]
        #: The values of each attribute the models learnt; another one is unknown to them.
        self.known_values: dict[str, set[str]] = {}
        for model in (champions.churn, champions.clv):
            learnt = getattr(getattr(model, "encoder_", None), "categories_", {})
            for column in self.attributes:
                if column in learnt:
                    self.known_values.setdefault(column, set()).update(map(str, learnt[column]))
        self.as_of: date | None = None
        self.btyd = None
        self._positions: dict[str, int] = {}  # customer_id -> row of _scores (a dict: O(1) per id)
        self._scores = ScoreTable({"customer_id": []})  # the snapshot's, once it is scored
        #: customer id -> why ingest set its record aside, for ids not in the snapshot
        self.quarantined: dict[str, str] = {}
        if snapshot is not None and (data := snapshot.attrs.get(DATA_ATTR)):
            from features.contract import quarantined_customers

            self.quarantined = quarantined_customers(data)
        if snapshot is not None:
            snapshot = check_snapshot(snapshot, self.required)
            self.as_of = pd.Timestamp(snapshot["cutoff"].iloc[0]).date()
            self._positions = {cid: i for i, cid in enumerate(snapshot["customer_id"])}
            labels = (champions.churn_config.labels, champions.clv_config.labels)
            longer_value = labels[0].churn_horizon_days != labels[1].value_horizon_days
            if set(BTYD_COLUMNS) & set(self.required) or longer_value:  # value at risk's horizon
                self.btyd = fit_btyd(snapshot)
            if longer_value and VALUE_HORIZON_P0 not in snapshot:  # an older or Spark snapshot
                snapshot = with_value_horizon_p0(snapshot, self.btyd, champions)
            self._scores = ScoreTable(self.held(snapshot, score_history))

    def held(self, snapshot: pd.DataFrame, score_history: Path | None) -> pd.DataFrame | dict:
        """The snapshot's scores with the tier hold of ``lifecycle score`` (the same previous
        scoring, read from ``score_history``): the service answers what the scores file holds."""
        assert self.as_of is not None
        columns = self.score_columns(snapshot, self.as_of)
        if score_history is None:
            return columns
        from serving.action_hold import held_scores
        from serving.config import stored_scoring_config

        config = self.config or stored_scoring_config(self.champions.scoring)
        project = getattr(self.champions, "project", None)
        frame, said = held_scores(
            pd.DataFrame(columns), snapshot, config, score_history, project, self.as_of
        )
        logger.info("%s", said)
        if project and config.hold.margin > 0:
            from serving.score_history import partition

            if not (partition(score_history, project, self.as_of) / "scores.parquet").exists():
                # `lifecycle score` (and monitor/retrain) keep every scoring in their history:
                # one without the snapshot's own date is not the history that scored it, and
                # the customers that scoring held get the rule's tier here
                logger.warning(
                    "tier hold: %s holds no scoring of %s as of %s, the snapshot's date, so it "
                    "is not the score history `lifecycle score` (or retrain) wrote with it: "
                    "the tiers it kept are not kept here; set LIFECYCLE_SCORE_HISTORY to that "
                    "run's --history (unless it was scored with --no-history)",
                    score_history,
                    project,
                    self.as_of,
                )
        return frame

    @classmethod
    def from_settings(cls, settings: Settings) -> Scorer:
        from serving.batch import set_prediction_threads
        from serving.config import load_scoring_config
        from serving.scoring import PROJECT_ATTR

        champions = load_champion_pair(settings.tracking_uri, settings.project)
        snapshot = pd.read_parquet(settings.snapshot)
        scored_for = snapshot.attrs.get(PROJECT_ATTR)
        if scored_for and champions.project and scored_for != champions.project:
            raise ValueError(
                f"the snapshot {settings.snapshot} was built for project {scored_for!r}, not "
                f"{champions.project!r} which this service serves: set LIFECYCLE_PROJECT="
                f"{scored_for}, or score {champions.project} (lifecycle score --project "
                f"{champions.project}) and point LIFECYCLE_SNAPSHOT at its snapshot"
            )
        _warn_if_scores_disagree(Path(settings.snapshot), snapshot)
        config = (
            load_scoring_config(settings.scoring_config, champions.scoring)
            if settings.scoring_config
            else None
        )
        scorer = cls(champions, config, snapshot, settings.score_history)  # on every core
        set_prediction_threads(champions, settings.predict_threads)
        _warn_if_served_differs(Path(settings.snapshot), scorer)
        return scorer

    @property
    def customers(self) -> int:
        return len(self._positions)

    def served_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Churn probability (NaN for prospects) and predicted value of every snapshot customer."""
        if not len(self._scores):
            return np.array([]), np.array([])
        churn = pd.to_numeric(pd.Series(self._scores.column("churn_probability")))
        value = pd.to_numeric(pd.Series(self._scores.column("predicted_value")))
        return churn.to_numpy(dtype=float, na_value=np.nan), value.to_numpy(dtype=float)

    def score_columns(self, features: pd.DataFrame, as_of: date) -> dict:
        """Batch scoring of feature rows (``serving.batch.score_snapshot``, nothing else), as
        columns: the service answers records and needs no score frame."""
        from serving.batch import snapshot_score_columns

        return snapshot_score_columns(features, self.champions, as_of, self.config)

    def position_of_other_form(self, customer_id: str) -> int:
        """The row of an id sent in another form of a stored one (-1: none): ``12347.0`` as a
        CRM's float field sends ``12347``, a Salesforce record's 15-character id beside its
        18-character one (or the reverse)."""
        from features.customer_ids import plain_id, salesforce_other_form

        forms = [plain_id(customer_id), salesforce_other_form(customer_id)]
        return next((self._positions[f] for f in forms if f in self._positions), -1)

    def unknown(self, customer_id: str) -> str:
        """The error of an id not in the snapshot, with why ingest set it aside if it did."""
        said = f"unknown customer_id: not in the feature snapshot of {self.as_of}"
        from features.customer_ids import plain_id

        why = self.quarantined.get(customer_id) or self.quarantined.get(plain_id(customer_id))
        return f"{said}; ingest quarantined its record: {why}" if why else said

    def score_ids(self, customer_ids: Sequence[str]) -> list[ScoreResult]:
        """One result per id, in order: the snapshot customer's score, or an error for an unknown
        id."""
        if self.as_of is None:
            raise BentoMLException(
                "no feature snapshot is loaded: set LIFECYCLE_SNAPSHOT to the "
                "<scores>.snapshot.parquet of `lifecycle score`, or post features",
                error_code=HTTPStatus.NOT_FOUND,
            )
        found = [self._positions.get(cid) for cid in customer_ids]
        positions = [
            i if i is not None else self.position_of_other_form(cid)
            for cid, i in zip(customer_ids, found, strict=True)
        ]
        records = iter(self._scores.records([i for i in positions if i >= 0]))
        return [
            ScoreResult(customer_id=cid, score=CustomerScore(**next(records)))
            if i >= 0
            else ScoreResult(customer_id=cid, error=self.unknown(cid))
            for cid, i in zip(customer_ids, positions, strict=True)
        ]

    def score_features(self, customers: Sequence[CustomerFeatures]) -> list[ScoreResult]:
        """One result per posted row, in order; an error for a row the service cannot complete.

        The rows are scored together; if that fails, each row is scored alone, so a row that
        cannot be scored gets an item error and every other row still gets the score it would
        have had alone (scoring is row-wise: alone or in a batch, the same numbers).
        """
        if self.unsupported:
            problem = (
                f"the champion models use features this API does not accept: {self.unsupported}; "
                "score by id instead"
            )
            return [ScoreResult(customer_id=c.customer_id, error=problem) for c in customers]
        results: list[ScoreResult | None] = [None] * len(customers)
        scorable = []
        for i, customer in enumerate(customers):
            cannot = self._cannot_score(customer)
            if cannot:
                results[i] = ScoreResult(customer_id=customer.customer_id, error=cannot)
            else:
                scorable.append(i)
        if scorable:
            try:
                scored = self._score_rows([customers[i] for i in scorable])
            except Exception:
                logger.warning(
                    "scoring %d posted rows together failed; scoring them one by one",
                    len(scorable),
                    exc_info=True,
                )
                scored = [self._score_alone(customers[i]) for i in scorable]
            for i, result in zip(scorable, scored, strict=True):
                if result.score is not None:
                    result.notes += self._attribute_notes(customers[i])
                results[i] = result
        return cast(list[ScoreResult], results)  # every position is filled above

    def _attribute_notes(self, customer: CustomerFeatures) -> list[str]:
        """Why the models treat some of the customer's attributes as unknown: left out or null,
        or a value they never saw (``"atlantis"``, ``"SOUTH"`` for ``"south"``)."""
        notes = []
        missing = [c for c in self.attributes if not customer.sent(c)]
        if missing:
            notes.append(
                f"scored without {', '.join(missing)} (left out or null): the models treat them "
                "as unknown, which can move the score"
            )
        for column, known in self.known_values.items():
            value = getattr(customer, column, None)
            if customer.sent(column) and value is not None and str(value) not in known:
                shown = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
                notes.append(
                    f"{column} {value!r} is not a value the models learnt ({shown}): treated as "
                    "unknown, which can move the score"
                )
        return notes

    def _score_rows(self, rows: Sequence[CustomerFeatures]) -> list[ScoreResult]:
        features = features_frame(rows, self.required, self.as_of)
        if self.btyd is not None:
            features = fill_btyd(features, rows, self.btyd, self.champions)
        results: list[ScoreResult | None] = [None] * len(rows)
        cutoffs = features["cutoff"].to_numpy()
        # One date (the usual case) needs no grouping: a group-by costs about a millisecond
        groups = (
            [(pd.Timestamp(cutoffs[0]), features)]
            if (cutoffs == cutoffs[0]).all()
            else features.groupby("cutoff", sort=False)
        )
        for cutoff, part in groups:
            scores = self.score_columns(part, cutoff.date())
            for position, record in zip(part.index, score_records(scores), strict=True):
                results[position] = ScoreResult(
                    customer_id=record["customer_id"], score=CustomerScore(**record)
                )
        return cast(list[ScoreResult], results)  # every row is in one cutoff group

    def _score_alone(self, customer: CustomerFeatures) -> ScoreResult:
        try:
            return self._score_rows([customer])[0]
        except Exception as exc:
            # The traceback names the code, not the row: no customer data in the log.
            logger.exception("a posted row could not be scored (%s)", type(exc).__name__)
            return ScoreResult(
                customer_id=customer.customer_id,
                error=f"this customer's features could not be scored ({type(exc).__name__}); "
                "check them against the feature schema",
            )

    def _cannot_score(self, customer: CustomerFeatures) -> str | None:
        if customer.as_of is None and self.as_of is None:
            return "as_of is required: no feature snapshot is loaded to take the date from"
        if customer.is_prospect == 0 and self.btyd is None:
            unsent = [c for c in BTYD_COLUMNS if c in self.required and not customer.sent(c)]
            if unsent:
                return (
                    f"{unsent[0]} is required: the champion models use BTYD features and no "
                    "snapshot is loaded to derive them from"
                )
        return None


def _scores_file_beside(snapshot_file: Path) -> Path | None:
    """The scores file `lifecycle score` wrote beside ``<scores>.snapshot.parquet``; None for a
    snapshot not named that way."""
    name = snapshot_file.name
    if not name.endswith(".snapshot.parquet"):
        return None
    return snapshot_file.with_name(name.removesuffix(".snapshot.parquet") + ".parquet")


def _warn_if_scores_disagree(snapshot_file: Path, snapshot: pd.DataFrame) -> None:
    """Say when the scores file beside the snapshot (what ``lifecycle export`` sends) is of
    another date: a ``lifecycle score`` stopped between replacing the two, and the service and
    the export would give the CRM numbers of two dates."""
    from serving.batch import scored_days

    scores_file = _scores_file_beside(snapshot_file)
    if scores_file is None or snapshot.empty:
        return
    days = scored_days(scores_file)  # none: no scores file beside it, or not ours
    served = pd.Timestamp(snapshot["cutoff"].iloc[0]).date()
    if days and days != {served}:
        logger.warning(
            "%s is as of %s but its scores file %s is as of %s: a `lifecycle score` was stopped "
            "between replacing the two; the service answers for %s, `lifecycle export` sends the "
            "other date: run `lifecycle score` again",
            snapshot_file,
            served,
            scores_file,
            ", ".join(map(str, sorted(days))),
            served,
        )


#: What a CRM user compares between the nightly scores file and ``/score/ids``.
COMPARED_COLUMNS = (
    "churn_model_version",
    "clv_model_version",
    "stage",
    "priority_tier",
    "recommended_action",
    "recommended_action_label",
)


def _warn_if_served_differs(snapshot_file: Path, scorer: Scorer) -> None:
    """Say when the scores file beside the snapshot, of the same date, holds other answers than
    the service gives for its customers: a champion promoted (or a scoring config or
    ``LIFECYCLE_LANG`` changed) since ``lifecycle score`` wrote them, and the service restarted
    before the next score. The CRM would get one pair's answers from the export and another's
    from the service for the same customer and date."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.batch import scored_days

    scores_file = _scores_file_beside(snapshot_file)
    if scores_file is None or scorer.as_of is None:
        return
    if scored_days(scores_file) != {scorer.as_of}:
        return  # no scores file, not ours, or another date: _warn_if_scores_disagree says so
    try:
        frame = pq.read_table(scores_file, columns=["customer_id", *COMPARED_COLUMNS]).to_pandas()
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return  # not a scores file of ours
    position = frame["customer_id"].map(scorer._positions)
    frame = frame[position.notna()].reset_index(drop=True)
    rows = position.dropna().astype("int64").to_numpy()
    differ: dict[str, int] = {}
    example = None
    for column in COMPARED_COLUMNS:  # column by column: a million customers in seconds
        there = frame[column].astype(str).to_numpy(dtype=object)
        here = np.array([str(v) for v in scorer._scores.column(column)[rows]], dtype=object)
        off = there != here
        if off.any():
            differ[column] = int(off.sum())
            j = int(off.argmax())
            example = example or (frame.at[j, "customer_id"], column, there[j], here[j])
    if differ:
        cid, column, there, here = cast(tuple, example)
        logger.warning(
            "the scores file %s (what `lifecycle export` sends) disagrees with what this service "
            "answers for the same customers as of %s (%s; e.g. %s: %s %r there, %r here): the "
            "champion, the scoring config or LIFECYCLE_LANG changed since `lifecycle score` "
            "wrote it, or the tier hold read another score history (LIFECYCLE_SCORE_HISTORY); "
            "run `lifecycle score` (a running service loads it in place; with "
            "LIFECYCLE_RELOAD=0, restart it)",
            scores_file,
            scorer.as_of,
            ", ".join(f"{column} {n:,}" for column, n in differ.items()),
            cid,
            column,
            there,
            here,
        )


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
    ``default_as_of``), calendar columns derived from it as in training, unsent BTYD as NaN.

    Typed from the feature catalogue in three blocks (integers as int64, or float64 with NaN in a
    column where a row has none; decimals as float64; text as Python strings) rather than column
    by column: pandas' type inference, Arrow-backed text and column inserts cost more than the
    scoring of one customer.
    """
    from training.dataset import calendar_columns

    records = [c.model_dump() for c in customers]
    kinds = request_column_kinds()
    names = list(CustomerFeatures.model_fields)
    whole = [c for c in names if kinds.get(c) == "int"]
    decimal = [c for c in names if kinds.get(c) == "float"]
    text = [c for c in names if kinds.get(c, "text") == "text"]

    integers = np.array([[r[c] for c in whole] for r in records], dtype="float64").reshape(
        len(records), len(whole)
    )  # None -> NaN
    complete = ~np.isnan(integers).any(axis=0)
    as_of = [default_as_of if r["as_of"] is None else r["as_of"] for r in records]
    cutoff = pd.Series(np.array(as_of, dtype="datetime64[s]"))  # as pd.to_datetime of dates
    numbers = {
        **{c: integers[:, j] for j, c in enumerate(whole) if not complete[j]},
        **{c: np.array([r[c] for r in records], dtype="float64") for c in decimal},
        **calendar_columns(cutoff),
    }
    known = set(names) | set(CALENDAR_COLUMNS)
    numbers |= {c: np.full(len(records), np.nan) for c in columns if c not in known}
    kept = [c for j, c in enumerate(whole) if complete[j]]
    as_index = functools.partial(pd.Index, dtype=object)  # Arrow-backed names cost more to walk
    parts = [
        pd.DataFrame(
            np.array([[r[c] for c in text] for r in records], dtype=object).reshape(-1, len(text)),
            columns=as_index(text),
            dtype=object,
        ),
        pd.DataFrame(integers[:, complete].astype("int64"), columns=as_index(kept)),
        pd.DataFrame(
            np.column_stack(list(numbers.values())) if numbers else None,
            columns=as_index(list(numbers)),
        ),
        pd.DataFrame(cutoff.to_numpy().reshape(-1, 1), columns=as_index(["cutoff"])),
    ]
    frame = pd.concat(parts, axis=1)
    frame.columns = as_index([*text, *kept, *numbers, "cutoff"])  # concat made them Arrow again
    return frame


@functools.cache
def request_column_kinds() -> dict[str, str]:
    """``int``, ``float`` or ``text`` per catalogued feature a request carries."""
    from features import catalog
    from serving.schemas import REQUEST_FAMILIES

    return {
        f.name: "text" if f.dtype == "string" else "int" if f.dtype.startswith("int") else "float"
        for f in catalog.features(families=REQUEST_FAMILIES)
    }


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


def with_value_horizon_p0(snapshot: pd.DataFrame, btyd, champions) -> pd.DataFrame:
    """A snapshot written without ``VALUE_HORIZON_P0`` (before it was a column, or by Spark
    scoring for a pair without BTYD features) given it, and ``btyd_p_no_purchase`` where it has
    none, from the snapshot's BG/NBD fit: the value at risk of ``/score/ids`` is then the one
    ``/score/features`` and batch scoring give."""
    buyers = snapshot["is_prospect"].to_numpy() == 0
    snapshot = snapshot.copy()
    snapshot[VALUE_HORIZON_P0] = np.nan
    if not buyers.any():
        return snapshot
    summary = btyd_summary(snapshot[buyers])
    labels = (champions.churn_config.labels, champions.clv_config.labels)
    churn = btyd.predict(summary, labels[0].churn_horizon_days)["p_no_purchase"]
    value = btyd.predict(summary, labels[1].value_horizon_days)["p_no_purchase"]
    if "btyd_p_no_purchase" not in snapshot:
        snapshot["btyd_p_no_purchase"] = np.nan
    own = pd.to_numeric(snapshot["btyd_p_no_purchase"], errors="coerce")
    derived = np.asarray(churn, dtype=float)
    kept = own[buyers].to_numpy(dtype=float)
    snapshot.loc[buyers, "btyd_p_no_purchase"] = np.where(np.isnan(kept), derived, kept)
    snapshot.loc[buyers, VALUE_HORIZON_P0] = np.asarray(value, dtype=float)
    return snapshot


def fill_btyd(
    features: pd.DataFrame, customers: Sequence[CustomerFeatures], btyd, champions
) -> pd.DataFrame:
    """BTYD columns for buyers who did not send them, from the snapshot's fit at the models'
    horizons, and, when the value horizon is longer than the churn one, ``VALUE_HORIZON_P0`` for
    every buyer (the value at risk's horizon: a row that sends the BTYD columns batch scoring
    gave it is scored as batch scoring scored it)."""
    buyers = features["is_prospect"].to_numpy() == 0
    horizons = (
        champions.churn_config.labels.churn_horizon_days,
        champions.clv_config.labels.value_horizon_days,
    )
    sent = [all(c.sent(column) for column in BTYD_COLUMNS) for c in customers]
    longer_value = horizons[0] != horizons[1]
    if not buyers.any() or (all(sent) and not longer_value):
        return features  # nothing to derive
    features = features.copy()
    rows = features[buyers]
    summary = btyd_summary(rows)
    churn, value = (btyd.predict(summary, days) for days in horizons)
    derived = {
        "btyd_expected_purchases": churn["expected_purchases"],
        "btyd_p_alive": churn["p_alive"],
        "btyd_p_no_purchase": churn["p_no_purchase"],
        "btyd_expected_value": value["expected_value"],
    }
    for column, values in derived.items():
        keep = [c.sent(column) for c, b in zip(customers, buyers, strict=True) if b]
        features.loc[rows.index, column] = np.where(
            keep, rows[column].to_numpy(dtype=float), np.asarray(values)
        )
    if longer_value:  # one horizon: value at risk takes the churn probability as it is
        features[VALUE_HORIZON_P0] = np.nan
        features.loc[rows.index, VALUE_HORIZON_P0] = np.asarray(value["p_no_purchase"], dtype=float)
    return features


class ServedCollector:
    """The collector of what is served, replaced as a whole when a newer scoring is swapped in."""

    def __init__(self, collector) -> None:
        self.collector = collector

    def collect(self):
        yield from self.collector.collect()


def model_health(scorer: Scorer, project: str | None):
    """The served pair's health (``serving.monitor_metrics``): champion version, snapshot age,
    served score histograms and the last monitor report (``LIFECYCLE_MONITOR_REPORT``, default
    ``reports/monitor/monitor.json`` when it exists)."""
    from serving.monitor_metrics import ModelHealthCollector

    report = os.environ.get("LIFECYCLE_MONITOR_REPORT") or DEFAULT_MONITOR_REPORT
    churn, value = scorer.served_scores()
    return ModelHealthCollector(
        project or "default",
        scorer.champions.churn_version,
        scorer.as_of,
        churn,
        value,
        monitor_report=report,
    )


def watch_model_health(scorer: Scorer, project: str | None) -> ServedCollector:
    """Export the served pair's health on ``/metrics`` (``model_health``)."""
    from serving.http_metrics import process_metrics

    served = ServedCollector(model_health(scorer, project))
    process_metrics(API_ROUTES).add_collector(served)
    return served


def watch_scoring(
    settings: Settings,
    scorer: Scorer,
    stamps: tuple,
    swap,
) -> ScoringWatch:
    """The scoring on disk next to the served one (``serving.scoring_watch``), exported on
    ``/metrics``; ``start`` it to check every ``registry_check_seconds``."""
    from serving.http_metrics import process_metrics

    project = scorer.champions.project
    watch = ScoringWatch(
        project or "default",
        Path(settings.snapshot),
        _scores_file_beside(Path(settings.snapshot)),
        stamps,
        cast(date, scorer.as_of),
        load=lambda: Scorer.from_settings(settings),
        swap=swap,
        champion=registry_champion(settings.tracking_uri, project) if project else None,
        interval=settings.registry_check_seconds,
        enabled=settings.reload,
    )
    process_metrics(API_ROUTES).add_collector(watch)
    return watch


def served_details(scorer: Scorer, seconds: float) -> dict[str, Any]:
    """What ``/readyz`` says is served: model versions, snapshot date and size, and when and how
    fast it was loaded."""
    from serving.scoring_watch import now

    return {
        "churn_model_version": str(scorer.champions.churn_version),
        "clv_model_version": str(scorer.champions.clv_version),
        "snapshot_as_of": scorer.as_of.isoformat() if scorer.as_of else None,
        "snapshot_customers": scorer.customers,
        "load_seconds": round(seconds, 2),
        "loaded_at": now(),
    }


def watch_champion(settings: Settings, champions) -> ChampionWatch:
    """The registry's champion next to the served one (``serving.champion_watch``), checked once,
    exported on ``/metrics``; ``start`` it to check every ``registry_check_seconds``."""
    from serving.http_metrics import process_metrics

    lookup = registry_champion(settings.tracking_uri, champions.project)
    watch = ChampionWatch(
        champions.project, champions.churn_version, lookup, settings.registry_check_seconds
    )
    watch.check()
    process_metrics(API_ROUTES).add_collector(watch)
    return watch


def exit_with_parent(interval: float = 1.0) -> None:
    """Exit this worker when the ``bentoml serve`` process that started it is gone (killed with
    SIGKILL it cannot stop its workers): a daemon thread compares ``os.getppid()`` with the parent
    at start every ``interval`` seconds, so an orphan never keeps answering and holding the port."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                logger.error("the serving process (pid %d) is gone: this worker exits", parent)
                os._exit(1)

    threading.Thread(target=watch, name="lifecycle-parent-watch", daemon=True).start()


#: Batches of ``/score/features`` up to this many rows are scored on the event loop, bigger ones
#: in a worker thread.
INLINE_ROWS = 64

#: The API routes' answer. The declared media type spares BentoML from regenerating the JSON schema
#: of the answer model on every response to find it (two thirds of a look-up's CPU without it).
ScoreResults = Annotated[list[ScoreResult], ContentType("application/json")]


@bentoml.service(
    name="lifecycle",
    http={"host": "127.0.0.1", "port": 3000},
    traffic={"timeout": 60},
    # Per-request access lines cost about a third of a look-up's latency on two cores (p99 at
    # concurrency 8: 51 -> 37 ms); /metrics still counts requests. LIFECYCLE_ACCESS_LOG=1 turns them
    # on.
    logging={"access": {"enabled": os.environ.get("LIFECYCLE_ACCESS_LOG", "0") == "1"}},
    # BentoML's metrics label series with the raw path (unbounded): serving.http_metrics instead.
    metrics={"enabled": False},
    workers=1,
)
class LifecycleService:
    """Churn risk, customer value, lifecycle stage and next best action for the CRM."""

    @bentoml.on_deployment
    def preflight() -> None:
        """In ``bentoml serve`` itself, before any worker: one line and exit 2 if misconfigured."""
        from serving.preflight import EXIT_STATUS, ServiceConfigError, preflight

        try:
            preflight()
        except ServiceConfigError as exc:
            print(f"lifecycle service cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_STATUS) from None

    def __init__(self) -> None:
        for name in ("serving", "lifecycle"):
            logging.getLogger(name).setLevel(logging.INFO)
        install_log_filter()
        exit_with_parent()
        self.scorer: Scorer | None = None
        self._health: ServedCollector | None = None
        self._champion_watch: ChampionWatch | None = None
        self._scoring_watch: ScoringWatch | None = None
        STATE.loading()
        from serving.http_metrics import process_metrics
        from serving.readiness import ReadinessGauge

        project = os.environ.get("LIFECYCLE_PROJECT") or "default"
        process_metrics(API_ROUTES).add_collector(ReadinessGauge(project))
        threading.Thread(target=self._load, name="lifecycle-loader", daemon=True).start()

    def _load(self) -> None:
        """Load the champion pair and score the snapshot; record ready or the reason it failed."""
        started = time.monotonic()
        try:
            api_key_from_env()
            settings = Settings.from_env()
            # before reading them: files replaced while they load are a newer scoring to load
            stamps = file_stamps(settings.snapshot, _scores_file_beside(settings.snapshot))
            scorer = Scorer.from_settings(settings)
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            logger.error("not ready: %s (%s)", reason, type(exc).__name__)
            logger.debug("load failure", exc_info=True)
            STATE.failed(reason)
            return
        champions = scorer.champions
        details: dict[str, Any] = {
            "project": getattr(champions, "project", None),
            "snapshot": str(settings.snapshot),
            **served_details(scorer, time.monotonic() - started),
        }
        self.scorer = scorer
        self._health = watch_model_health(scorer, details["project"])
        if champions.project is not None:
            self._champion_watch = watch_champion(settings, champions)
        self._scoring_watch = watch_scoring(settings, scorer, stamps, self._swap)
        details |= self._watch_status()
        # Everything loaded so far lives as long as the worker: out of the collector's sight, so
        # full collections, which pause the event loop, walk less (measured under load at c=8:
        # 220-350 ms pauses before, 160-225 ms after; what requests allocate still dominates).
        gc.collect()
        gc.freeze()
        STATE.loaded(**details)
        for watch in (self._champion_watch, self._scoring_watch):
            if watch is not None:
                watch.start(lambda _: STATE.update(**self._watch_status()))
        logger.info(
            "ready: project %s, churn v%s, clv v%s; snapshot %s as of %s (%d customers); "
            "loaded in %.1f s",
            details["project"],
            details["churn_model_version"],
            details["clv_model_version"],
            details["snapshot"],
            details["snapshot_as_of"],
            scorer.customers,
            details["load_seconds"],
        )

    def _swap(self, scorer: Scorer, seconds: float) -> None:
        """Serve ``scorer`` from the next request on: one assignment, and a request keeps the
        scorer it started with, so each answer is wholly the old scoring's or the new one's."""
        health = model_health(scorer, scorer.champions.project)
        self.scorer = scorer
        if self._health is not None:
            self._health.collector = health
        if self._champion_watch is not None:
            self._champion_watch.serve(str(scorer.champions.churn_version))
            self._champion_watch.check()
        STATE.update(**served_details(scorer, seconds))
        # The new scorer joins what start-up froze. The old one is freed by reference counting
        # once its last request is answered (frozen, what it leaves in cycles stays: about 10
        # objects a reload); unfreezing to collect them paused every request for 0.3-0.5 s.
        gc.freeze()

    def _watch_status(self) -> dict[str, Any]:
        """What the watches say for ``/readyz``: ``stale`` when the served pair is not the
        registry's champion, or a newer scoring on disk is not served."""
        status: dict[str, Any] = {}
        if self._champion_watch is not None:
            status |= self._champion_watch.status()
        if self._scoring_watch is not None:
            status |= self._scoring_watch.status()
            if status["newer_scoring"] is not None:
                status["stale"] = True
            else:
                status.setdefault("stale", False)
        return status

    def __is_ready__(self) -> bool:
        return STATE.ready

    def _ready_scorer(self) -> Scorer:
        if self.scorer is None:  # ReadinessMiddleware answers 503 before a request gets here
            body = STATE.body()
            raise BentoMLException(
                f"the service is not ready ({body['status']}): {body['reason']}",
                error_code=HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return self.scorer

    @bentoml.api(route="/score/ids", input_spec=ScoreIdsRequest)
    async def score_ids(self, customer_ids: list[str]) -> ScoreResults:
        """Scores of customers of the loaded feature snapshot, by id (1 to 1,000 per request).

        One result per id, in request order: ``score`` for a known customer, ``error`` for an id
        the snapshot does not have (the other ids are still scored).
        """
        results = self._ready_scorer().score_ids(customer_ids)  # a look-up: no worker thread
        _count("/score/ids", results)
        return results

    @bentoml.api(
        route="/score/features",
        input_spec=ScoreFeaturesRequest,
        batchable=True,
        max_batch_size=MAX_BATCH,
        max_latency_ms=10_000,
    )
    async def score_features(self, customers: list[CustomerFeatures]) -> ScoreResults:
        """Scores of customers from posted feature values (1 to 1,000 per request).

        One result per customer, in request order. Concurrent requests are scored together
        (adaptive batching); a row that cannot be scored gets an ``error`` and changes no other
        row's or request's answer.
        """
        scorer = self._ready_scorer()
        if len(customers) <= INLINE_ROWS:
            # A few rows take milliseconds: scored on the event loop, they do not hand the GIL
            # back and forth with it, and the requests that arrive meanwhile wait in one batch.
            results = scorer.score_features(customers)
        else:  # a big batch in a thread, so look-ups and probes are answered meanwhile
            results = await asyncio.to_thread(scorer.score_features, customers)
        _count("/score/features", results)
        return results


def _count(route: str, results: Sequence[ScoreResult]) -> None:
    errors = sum(r.error is not None for r in results)
    count_customers(route, len(results) - errors, errors)


#: ``@bentoml.service`` turns the class into a Service (its type hints keep the class type).
_service: Any = LifecycleService

# traffic.timeout without BentoML's timers that outlive their requests (serving.request_timeout)
request_timeout.install()
# Outermost first: count and log every answer (401s included), then authenticate, then limit
# the body, then hold API calls until ready; /readyz and /docs.json are answered here.
_service.add_asgi_middleware(RouteMetricsMiddleware, routes=API_ROUTES)
# Answers compressed for a client that accepts gzip (a 1,000-customer answer: 880 KB of JSON),
# outside every layer that reads or rewrites an answer's body (the client-error log, the 400
# summary, the 404/503 wording): inside them, a 400 of 1,000 bytes or more reached them
# compressed and went out as BentoML's "N validation error for ...IODescriptor". Large bodies
# are compressed in a worker thread, not on the event loop.
_service.add_asgi_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
_service.add_asgi_middleware(ClientErrorLogMiddleware, routes=API_ROUTES)
_service.add_asgi_middleware(ApiKeyMiddleware)
_service.add_asgi_middleware(RequestLimitsMiddleware)
_service.add_asgi_middleware(ReadinessMiddleware, api_paths=API_ROUTES)
_service.add_asgi_middleware(ValidationSummaryMiddleware, api_routes=API_ROUTES)
_service.add_asgi_middleware(OpenApiMiddleware, service=LifecycleService, api_routes=API_ROUTES)
