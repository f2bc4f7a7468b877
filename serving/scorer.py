"""What the service scores with: its settings (from the environment), the champion pair and the
feature snapshot it loaded, scored once by batch scoring (``Scorer``); a posted customer's feature
row checked and completed (the BTYD columns the service derives) and scored the same way.
``serving.service`` serves a ``Scorer`` over HTTP."""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from bentoml.exceptions import BentoMLException

from serving.champion_watch import DEFAULT_INTERVAL_S
from serving.schemas import (
    CustomerFeatures,
    CustomerScore,
    ScoreResult,
)
from serving.score_table import ScoreTable
from serving.scoring import DATA_ATTR, score_records
from training import DEFAULT_TRACKING_URI
from training.dataset import (
    BTYD_COLUMNS,
    CALENDAR_COLUMNS,
    VALUE_HORIZON_P0,
    btyd_summary,
    buyers_at_risk,
)

logger = logging.getLogger(__name__)


DEFAULT_SNAPSHOT = Path("data/scores.snapshot.parquet")


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


def scores_file_beside(snapshot_file: Path) -> Path | None:
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

    scores_file = scores_file_beside(snapshot_file)
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

    scores_file = scores_file_beside(snapshot_file)
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

    return BTYDModel().fit(btyd_summary(buyers_at_risk(snapshot)))


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
