"""Side-by-side comparison of experiments from the MLflow store.

``compare_experiments`` loads the latest finished run of each named MLflow experiment (training
and backtest runs share one layout: ``test_*`` metrics, ``data_fingerprint.json``,
``feature_importance.json`` and ``predictions/test.parquet``), builds one row per experiment,
marks the best value of each column and checks whether the others are within run-to-run noise
of it:

- when two runs scored the same test customers at the same cutoff with the same outcomes, a
  paired bootstrap of ``metric(run) - metric(best)`` on those customers;
- otherwise the two runs' own bootstrap intervals, turned into a conservative interval of the
  difference ``[low_run - high_best, high_run - low_best]``.

An interval that contains 0 means the difference is within noise (flagged ``~``).

The loading (``load_runs``) is the only part that talks to MLflow; ``build_comparison`` and
everything after it are plain functions of ``RunRecord`` objects, so they can be tested on
hand-made numbers.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Goal = Literal["max", "min", "one"]
KINDS_WITH_TEST_METRICS = ("train", "backtest")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


# --------------------------------------------------------------------------- metric specs


def _mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.abs(predicted - actual).mean())


def _spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    from scipy.stats import rankdata

    a, b = rankdata(actual), rankdata(predicted)
    a -= a.mean()
    b -= b.mean()
    denominator = math.sqrt(float((a**2).sum() * (b**2).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def _total_ratio_distance(actual: np.ndarray, predicted: np.ndarray) -> float:
    """|predicted total / actual total - 1|: the bootstrapped quantity for "closest to 1"."""
    total = float(actual.sum())
    return abs(float(predicted.sum()) / total - 1.0) if total != 0 else float("nan")


def _metric_function(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    from training import metrics

    return {
        "roc_auc": metrics.roc_auc,
        "average_precision": metrics.average_precision,
        "brier_score": metrics.brier_score,
        "normalized_gini": metrics.normalized_gini,
        "mae": _mae,
        "spearman": _spearman,
        "total_ratio_distance": _total_ratio_distance,
    }[name]


@dataclass(frozen=True)
class MetricSpec:
    """One table column: where its value is logged, which way is better, how to bootstrap it."""

    column: str
    label: str
    logged: tuple[str, ...]  # MLflow metric keys, first present wins
    goal: Goal
    digits: int
    target: str | None = None  # outcome column in predictions/test.parquet
    prediction: str | None = None  # model column in predictions/test.parquet
    btyd_prediction: str | None = None  # the BG/NBD baseline's column for the same metric
    function: str | None = None  # key of _metric_function; None: no bootstrap (e.g. time)

    def score(self, value: float) -> float:
        """Larger is better on this scale (used to rank a column)."""
        if self.goal == "max":
            return value
        if self.goal == "min":
            return -value
        return -abs(value - 1.0)

    def bootstrap_value(self, value: float) -> float:
        """The logged value on the scale that is bootstrapped (distance from 1 for ``one``)."""
        return abs(value - 1.0) if self.goal == "one" else value


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "churn_auc",
        "churn AUC",
        ("test_churn_auc",),
        "max",
        3,
        "churned",
        "churn_probability",
        "btyd_p_no_purchase",
        "roc_auc",
    ),
    MetricSpec(
        "churn_pr_auc",
        "PR-AUC",
        ("test_churn_pr_auc",),
        "max",
        3,
        "churned",
        "churn_probability",
        "btyd_p_no_purchase",
        "average_precision",
    ),
    MetricSpec(
        "churn_brier",
        "Brier",
        ("test_churn_brier",),
        "min",
        4,
        "churned",
        "churn_probability",
        "btyd_p_no_purchase",
        "brier_score",
    ),
    MetricSpec(
        "clv_mae",
        "CLV MAE",
        ("test_clv_mae",),
        "min",
        2,
        "future_value",
        "predicted_value",
        "btyd_expected_value",
        "mae",
    ),
    MetricSpec(
        "clv_spearman",
        "Spearman",
        ("test_clv_spearman",),
        "max",
        3,
        "future_value",
        "predicted_value",
        "btyd_expected_value",
        "spearman",
    ),
    MetricSpec(
        "clv_gini",
        "Gini",
        ("test_clv_gini",),
        "max",
        3,
        "future_value",
        "predicted_value",
        "btyd_expected_value",
        "normalized_gini",
    ),
    MetricSpec(
        "clv_total_ratio",
        "total ratio",
        ("test_clv_total_ratio",),
        "one",
        3,
        "future_value",
        "predicted_value",
        "btyd_expected_value",
        "total_ratio_distance",
    ),
    MetricSpec("train_seconds", "train s", ("train_job_seconds", "fit_seconds"), "min", 1),
)
METRIC_BY_COLUMN: dict[str, MetricSpec] = {spec.column: spec for spec in METRICS}


# --------------------------------------------------------------------------- data classes


@dataclass
class RunRecord:
    """What the comparison needs from one MLflow run."""

    experiment: str
    run_id: str
    metrics: dict[str, float]
    kind: str | None = None
    data: str | None = None
    start_time: datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    fingerprint: dict | None = None
    importance: dict[str, dict[str, float]] | None = None
    predictions: pd.DataFrame | None = None

    @property
    def test_cutoffs(self) -> list[str]:
        if self.predictions is not None and "cutoff" in self.predictions:
            return sorted(
                {str(pd.Timestamp(c).date()) for c in self.predictions["cutoff"].unique()}
            )
        return list((self.fingerprint or {}).get("cutoffs", {}).get("test", []))

    @property
    def horizon(self) -> str:
        """The label horizons the test metrics are measured over, from the run's params."""
        p = self.params
        if "horizon_days" in p:  # backtest runs
            return f"{p['horizon_days']} d"
        labels = (("churn", "labels.churn_horizon_days"), ("value", "labels.value_horizon_days"))
        return ", ".join(f"{what} {p[key]} d" for what, key in labels if key in p)


@dataclass(frozen=True)
class NoiseCheck:
    """Is ``experiment`` distinguishable from ``best`` on ``metric``?

    ``low``/``high`` bound ``metric(experiment) - metric(best)`` on the bootstrapped scale
    (for the total ratio: the distance from 1). ``within_noise`` is None when it could not be
    checked (no predictions).
    """

    experiment: str
    metric: str
    best: str
    method: Literal["paired", "intervals", "tie", "unavailable"]
    difference: float
    low: float
    high: float
    within_noise: bool | None
    n_customers: int = 0

    def describe(self) -> str:
        spec = METRIC_BY_COLUMN[self.metric]
        if self.method == "unavailable":
            return f"{self.experiment} vs {self.best}: not checked (no test predictions)"
        if self.method == "tie":
            return f"{self.experiment} ties {self.best}"
        scale = " (distance from 1)" if spec.goal == "one" else ""
        how = (
            "paired bootstrap on the same customers"
            if self.method == "paired"
            else "separate bootstrap intervals"
        )
        verdict = "within noise" if self.within_noise else "beyond noise"
        d = spec.digits + 1
        return (
            f"{self.experiment} - {self.best}{scale}: {self.difference:+.{d}f} "
            f"[{self.low:+.{d}f}, {self.high:+.{d}f}], {how}: {verdict}"
        )


@dataclass
class Comparison:
    """The comparison table and everything needed to explain it.

    ``table``: one row per experiment (index), one column per ``METRICS`` column.
    ``best``: column -> experiment holding the best value (first in table order on a tie).
    ``noise_flags``: (experiment, column) -> ``NoiseCheck`` against that column's best.
    ``runs``: experiment -> ``RunRecord``.
    """

    table: pd.DataFrame
    best: dict[str, str]
    noise_flags: dict[tuple[str, str], NoiseCheck]
    runs: dict[str, RunRecord]
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    n_boot: int = 200
    seed: int = 0
    alpha: float = 0.05
    _noise: _NoiseEstimator | None = field(default=None, repr=False)

    def is_best(self, experiment: str, column: str) -> bool:
        return self.best.get(column) == experiment

    def within_noise(self, experiment: str, column: str) -> bool:
        check = self.noise_flags.get((experiment, column))
        return bool(check and check.within_noise)

    def check(self, experiment: str, other: str, column: str) -> NoiseCheck:
        """The noise check of ``experiment`` against any ``other`` run (not only the best)."""
        if self._noise is None:
            self._noise = _NoiseEstimator(self.runs, self.n_boot, self.seed, self.alpha)
        return self._noise.check(experiment, other, METRIC_BY_COLUMN[column])

    def against_btyd(self, experiment: str, column: str) -> NoiseCheck | None:
        """Paired check of a run's model against the BG/NBD baseline scored on the same customers."""
        if self._noise is None:
            self._noise = _NoiseEstimator(self.runs, self.n_boot, self.seed, self.alpha)
        return self._noise.against_btyd(experiment, METRIC_BY_COLUMN[column])


# --------------------------------------------------------------------------- noise


class _NoiseEstimator:
    """Bootstrap checks between runs, cached (the CLI asks for the same pairs more than once)."""

    def __init__(self, runs: Mapping[str, RunRecord], n_boot: int, seed: int, alpha: float):
        self.runs, self.n_boot, self.seed, self.alpha = runs, n_boot, seed, alpha
        self._intervals: dict[tuple[str, str], tuple[float, float]] = {}
        self._checks: dict[tuple[str, str, str], NoiseCheck] = {}
        self._pairs: dict[tuple[str, str], pd.DataFrame | None] = {}

    def check(self, experiment: str, best: str, spec: MetricSpec) -> NoiseCheck:
        key = (experiment, best, spec.column)
        if key not in self._checks:
            self._checks[key] = self._check(experiment, best, spec)
        return self._checks[key]

    def _check(self, experiment: str, best: str, spec: MetricSpec) -> NoiseCheck:
        run, ref = self.runs[experiment], self.runs[best]
        value, ref_value = _logged(run, spec), _logged(ref, spec)
        difference = spec.bootstrap_value(value) - spec.bootstrap_value(ref_value)
        if experiment == best or value == ref_value:
            return NoiseCheck(experiment, spec.column, best, "tie", 0.0, 0.0, 0.0, True)
        if spec.function is None or run.predictions is None or ref.predictions is None:
            nan = float("nan")
            return NoiseCheck(
                experiment, spec.column, best, "unavailable", difference, nan, nan, None
            )
        if (experiment, best) not in self._pairs:
            self._pairs[(experiment, best)] = paired_frame(run.predictions, ref.predictions)
        paired = self._pairs[(experiment, best)]
        if paired is not None:
            from training.metrics import paired_bootstrap_difference

            result = paired_bootstrap_difference(
                _metric_function(spec.function),
                paired[spec.target].to_numpy(float),
                paired[f"{spec.prediction}_a"].to_numpy(float),
                paired[f"{spec.prediction}_b"].to_numpy(float),
                n_boot=self.n_boot,
                seed=self.seed,
                alpha=self.alpha,
            )
            return NoiseCheck(
                experiment, spec.column, best, "paired", difference, result.low, result.high,
                _contains_zero(result.low, result.high), len(paired),
            )  # fmt: skip
        low, high = self.interval(experiment, spec)
        ref_low, ref_high = self.interval(best, spec)
        d_low, d_high = low - ref_high, high - ref_low
        return NoiseCheck(
            experiment, spec.column, best, "intervals", difference, d_low, d_high,
            _contains_zero(d_low, d_high), len(run.predictions),
        )  # fmt: skip

    def interval(self, experiment: str, spec: MetricSpec) -> tuple[float, float]:
        key = (experiment, spec.column)
        if key not in self._intervals:
            from training.metrics import bootstrap_interval

            frame = self.runs[experiment].predictions
            result = bootstrap_interval(
                _metric_function(spec.function),
                frame[spec.target].to_numpy(float),
                frame[spec.prediction].to_numpy(float),
                n_boot=self.n_boot,
                seed=self.seed,
                alpha=self.alpha,
            )
            self._intervals[key] = (result.low, result.high)
        return self._intervals[key]

    def against_btyd(self, experiment: str, spec: MetricSpec) -> NoiseCheck | None:
        frame = self.runs[experiment].predictions
        if spec.function is None or frame is None or spec.btyd_prediction not in frame:
            return None
        from training.metrics import paired_bootstrap_difference

        fn = _metric_function(spec.function)
        y = frame[spec.target].to_numpy(float)
        model, btyd = (
            frame[spec.prediction].to_numpy(float),
            frame[spec.btyd_prediction].to_numpy(float),
        )
        if not (np.isfinite(btyd).all() and np.isfinite(model).all()):
            return None
        result = paired_bootstrap_difference(
            fn, y, model, btyd, n_boot=self.n_boot, seed=self.seed, alpha=self.alpha
        )
        return NoiseCheck(
            experiment, spec.column, "BG/NBD", "paired", fn(y, model) - fn(y, btyd), result.low,
            result.high, _contains_zero(result.low, result.high), len(frame),
        )  # fmt: skip


def _contains_zero(low: float, high: float) -> bool | None:
    """Within noise when the interval of the difference contains 0; None when it is undefined."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return bool(low <= 0 <= high)


PAIR_KEYS = ("customer_id", "cutoff")
OUTCOMES = ("churned", "future_value")


def paired_frame(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame | None:
    """Both runs' predictions side by side when they scored the same customers at the same cutoffs
    with the same outcomes; None otherwise (then only separate intervals can be compared)."""
    if len(a) != len(b) or not all(c in a and c in b for c in (*PAIR_KEYS, *OUTCOMES)):
        return None
    keyed_a, keyed_b = _keyed(a), _keyed(b)
    if keyed_a is None or keyed_b is None:
        return None
    merged = keyed_a.merge(keyed_b, on=list(PAIR_KEYS), suffixes=("_a", "_b"))
    if len(merged) != len(a):
        return None
    for outcome in OUTCOMES:
        if not np.allclose(
            merged[f"{outcome}_a"].to_numpy(float), merged[f"{outcome}_b"].to_numpy(float)
        ):
            return None
        merged[outcome] = merged[f"{outcome}_a"]
    return merged


def _keyed(frame: pd.DataFrame) -> pd.DataFrame | None:
    keyed = frame.assign(
        customer_id=frame["customer_id"].astype(str),
        cutoff=pd.to_datetime(frame["cutoff"]).dt.normalize(),
    )
    return None if keyed.duplicated(list(PAIR_KEYS)).any() else keyed


# --------------------------------------------------------------------------- building


def _logged(run: RunRecord, spec: MetricSpec) -> float:
    for key in spec.logged:
        value = run.metrics.get(key)
        if value is not None and math.isfinite(value):
            return float(value)
    return float("nan")


def metric_table(runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """One row per experiment, one column per ``METRICS`` column (NaN when not logged)."""
    table = pd.DataFrame(
        {spec.column: [_logged(run, spec) for run in runs.values()] for spec in METRICS},
        index=pd.Index(list(runs), name="experiment"),
    )
    return table


def best_per_column(table: pd.DataFrame) -> dict[str, str]:
    """Column -> experiment with the best value (first row on a tie; NaN never wins)."""
    best: dict[str, str] = {}
    for spec in METRICS:
        if spec.column not in table:
            continue
        values = table[spec.column]
        scored = [(spec.score(v), i) for i, v in enumerate(values) if math.isfinite(v)]
        if scored:
            top = max(score for score, _ in scored)
            best[spec.column] = str(values.index[min(i for score, i in scored if score == top)])
    return best


def build_comparison(
    runs: Mapping[str, RunRecord],
    *,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    warnings: Iterable[str] = (),
    missing: Sequence[str] = (),
    tracking_uri: str | None = None,
) -> Comparison:
    """The table, the best per column and a noise check of every other run against that best."""
    runs = dict(runs)
    table = metric_table(runs)
    best = best_per_column(table)
    noise = _NoiseEstimator(runs, n_boot, seed, alpha)
    flags: dict[tuple[str, str], NoiseCheck] = {}
    for column, winner in best.items():
        spec = METRIC_BY_COLUMN[column]
        for experiment in runs:
            if experiment == winner or not math.isfinite(table.at[experiment, column]):
                continue
            if spec.function is None and table.at[experiment, column] != table.at[winner, column]:
                continue  # e.g. training time: no resampling noise to speak of
            flags[(experiment, column)] = noise.check(experiment, winner, spec)
    return Comparison(
        table=table,
        best=best,
        noise_flags=flags,
        runs=runs,
        warnings=[*warnings, *_consistency_warnings(runs)],
        missing=list(missing),
        tracking_uri=tracking_uri,
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        _noise=noise,
    )


def _consistency_warnings(runs: Mapping[str, RunRecord]) -> list[str]:
    """What makes the runs not like for like: kind, data set, test cutoff, label horizon."""
    aspects = (
        ("runs of different kinds are compared", "", lambda r: r.kind,
         "; pass a kind to compare like with like"),
        ("runs saw different data sets", "", lambda r: r.data, ""),
        ("runs were tested at different cutoffs", "at ", lambda r: ", ".join(r.test_cutoffs),
         "; their noise is compared with separate intervals, not paired"),
        ("runs predict over different horizons", "over ", lambda r: r.horizon,
         "; their metrics measure different targets"),
    )  # fmt: skip
    out: list[str] = []
    for what, preposition, value_of, consequence in aspects:
        groups: dict[str, list[str]] = {}
        for name, run in runs.items():
            groups.setdefault(value_of(run) or "?", []).append(name)
        if len([v for v in groups if v != "?"]) > 1:
            described = "; ".join(f"{_and(names)} {preposition}{v}" for v, names in groups.items())
            out.append(f"{what} ({described}){consequence}")
    without = [n for n, r in runs.items() if r.predictions is None]
    if without:
        out.append(f"no predictions/test.parquet for {_and(without)}: noise not checked for them")
    return out


# --------------------------------------------------------------------------- loading from MLflow


def load_runs(
    names: Sequence[str] | None,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    kind: str | None = None,
    data: str | None = None,
) -> tuple[dict[str, RunRecord], list[str]]:
    """The latest finished run of each experiment (kind train or backtest unless ``kind`` is given;
    child runs such as tuning trials are skipped). Returns the runs and the names without one."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    if names is None:
        experiments = sorted(
            client.search_experiments(), key=lambda e: (e.creation_time or 0, e.name)
        )
        wanted = [e.name for e in experiments]
    else:
        wanted = list(dict.fromkeys(names))
    runs: dict[str, RunRecord] = {}
    missing: list[str] = []
    for name in wanted:
        run = _latest_run(client, name, kind, data)
        if run is None:
            if names is not None:
                missing.append(name)
            continue
        runs[name] = _record(client, name, run)
    return runs, missing


def _latest_run(client, experiment_name: str, kind: str | None, data: str | None):
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    page_token = None
    while True:  # tags are matched here, not in the filter string: no quoting of paths needed
        page = client.search_runs(
            [experiment.experiment_id],
            "attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=200,
            page_token=page_token,
        )
        for run in page:
            tags = run.data.tags
            if "mlflow.parentRunId" in tags:
                continue  # e.g. tuning trials
            if (
                (tags.get("kind") != kind)
                if kind
                else (tags.get("kind") not in KINDS_WITH_TEST_METRICS)
            ):
                continue
            if data and tags.get("data") != data:
                continue
            return run
        page_token = page.token
        if not page_token:
            return None


def _record(client, experiment_name: str, run) -> RunRecord:
    tags = run.data.tags
    return RunRecord(
        experiment=experiment_name,
        run_id=run.info.run_id,
        metrics=dict(run.data.metrics),
        kind=tags.get("kind"),
        data=tags.get("data"),
        start_time=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        params=dict(run.data.params),
        fingerprint=_load_json(client, run.info.run_id, "data_fingerprint.json"),
        importance=_load_json(client, run.info.run_id, "feature_importance.json"),
        predictions=_load_predictions(client, run.info.run_id),
    )


@contextmanager
def _no_progress_bars():
    """MLflow draws a progress bar per download; a comparison downloads a dozen small files."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _download(client, run_id: str, path: str, dst: str) -> Path | None:
    from mlflow.exceptions import MlflowException

    try:
        with _no_progress_bars():
            return Path(client.download_artifacts(run_id, path, dst))
    except (MlflowException, OSError):
        return None


def _load_json(client, run_id: str, path: str) -> dict | None:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        local = _download(client, run_id, path, tmp)
        return json.loads(local.read_text()) if local and local.is_file() else None


def _load_predictions(client, run_id: str) -> pd.DataFrame | None:
    with tempfile.TemporaryDirectory() as tmp:
        local = _download(client, run_id, "predictions/test.parquet", tmp)
        return pd.read_parquet(local) if local and local.is_file() else None


def compare_experiments(
    names: list[str] | None,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    kind: str | None = None,
    data: str | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> Comparison:
    """Compare the latest finished run of each experiment (all experiments when ``names`` is None).

    Raises LookupError when no experiment has a matching run.
    """
    runs, missing = load_runs(names, tracking_uri, kind, data)
    filters = ", ".join(f"{k}={v}" for k, v in (("kind", kind), ("data", data)) if v)
    if not runs:
        asked = ", ".join(names) if names else "any experiment"
        raise LookupError(
            f"no finished run{f' ({filters})' if filters else ''} for {asked} in "
            f"{tracking_uri}; run `lifecycle experiment run NAME` first"
        )
    warnings = (
        [f"no finished run{f' ({filters})' if filters else ''} for {', '.join(missing)}"]
        if missing
        else []
    )
    return build_comparison(
        runs,
        n_boot=n_boot,
        seed=seed,
        warnings=warnings,
        missing=missing,
        tracking_uri=tracking_uri,
    )


# --------------------------------------------------------------------------- text output

BEST_MARK, NOISE_MARK = "*", "~"


def cell_text(comparison: Comparison, experiment: str, column: str) -> tuple[str, str]:
    """The formatted value and its mark (``*`` best, ``~`` within noise of the best, or '')."""
    value = comparison.table.at[experiment, column]
    spec = METRIC_BY_COLUMN[column]
    text = "-" if not math.isfinite(value) else f"{value:.{spec.digits}f}"
    if comparison.is_best(experiment, column):
        return text, BEST_MARK
    return text, NOISE_MARK if comparison.within_noise(experiment, column) else ""


def format_table(comparison: Comparison) -> str:
    """Plain-text table: ``*`` marks the best value per column, ``~`` a value whose difference from
    the best is within run-to-run noise (the bootstrap interval of the difference contains 0)."""
    columns = [spec.column for spec in METRICS if spec.column in comparison.table]
    name_width = max(len("experiment"), *(len(str(n)) for n in comparison.table.index))
    rows = [
        [
            f"{text}{mark or ' '}"
            for text, mark in (cell_text(comparison, str(e), c) for c in columns)
        ]
        for e in comparison.table.index
    ]
    widths = [
        max(len(METRIC_BY_COLUMN[c].label), *(len(r[i]) for r in rows))
        for i, c in enumerate(columns)
    ]
    lines = [
        "  ".join(
            [
                f"{'experiment':<{name_width}}",
                *(f"{METRIC_BY_COLUMN[c].label:>{w}}" for c, w in zip(columns, widths)),
            ]
        )
    ]
    lines.append("-" * len(lines[0]))
    for experiment, row in zip(comparison.table.index, rows):
        lines.append(
            "  ".join([f"{experiment:<{name_width}}", *(f"{t:>{w}}" for t, w in zip(row, widths))])
        )
    lines.append("")
    lines.append(
        f"{BEST_MARK} best per column (higher AUC, PR-AUC, Spearman, Gini; lower Brier, MAE, "
        "time; total ratio closest to 1)"
    )
    lines.append(
        f"{NOISE_MARK} within run-to-run noise of the best ({1 - comparison.alpha:.0%} bootstrap "
        f"interval of the difference on the test customers contains 0, {comparison.n_boot} resamples)"
    )
    lines.append(
        "runs: "
        + ", ".join(f"{n} {r.kind or '?'} {r.run_id[:8]}" for n, r in comparison.runs.items())
    )
    lines.extend(f"warning: {w}" for w in comparison.warnings)
    return "\n".join(lines)


# --------------------------------------------------------------------------- what this says


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def what_this_says(comparison: Comparison, reference: str | None = None) -> list[str]:
    """A few plain sentences computed from the numbers (for the report and the CLI)."""
    runs, table = comparison.runs, comparison.table
    sentences: list[str] = []
    for column in ("churn_auc", "clv_gini"):
        winner = comparison.best.get(column)
        if winner is None:
            continue
        spec = METRIC_BY_COLUMN[column]
        others = [e for e in runs if e != winner and (e, column) in comparison.noise_flags]
        close = [e for e in others if comparison.within_noise(e, column)]
        unchecked = [e for e in others if comparison.noise_flags[(e, column)].within_noise is None]
        text = f"Best {spec.label}: {winner} ({_fmt(table.at[winner, column], spec.digits)})"
        if not others:
            text += "."
        elif close:
            text += f", but {_and(close)} {'is' if len(close) == 1 else 'are'} within noise of it."
        elif unchecked:
            text += f"; the gap to {_and(unchecked)} could not be checked against noise."
        else:
            text += ", ahead of every other experiment beyond noise."
        sentences.append(text)

    reference = reference or ("baseline" if "baseline" in runs else next(iter(runs)))
    for experiment in runs:
        if experiment == reference:
            continue
        parts = []
        for column in ("churn_auc", "clv_gini"):
            spec = METRIC_BY_COLUMN[column]
            delta = table.at[experiment, column] - table.at[reference, column]
            if not math.isfinite(delta):
                continue
            check = comparison.check(experiment, reference, column)
            if check.within_noise is None:
                verdict = "not checked against noise"
            elif check.method == "tie":
                verdict = "the same"
            else:
                verdict = (
                    "within noise"
                    if check.within_noise
                    else (
                        "better beyond noise"
                        if spec.score(table.at[experiment, column])
                        > spec.score(table.at[reference, column])
                        else "worse beyond noise"
                    )
                )
            interval = (
                ""
                if check.method in ("tie", "unavailable")
                else f" ({1 - comparison.alpha:.0%} interval {check.low:+.3f} to {check.high:+.3f})"
            )
            parts.append(f"{spec.label} {delta:+.3f}{interval}, {verdict}")
        if parts:
            run, ref = runs[experiment], runs[reference]
            caveat = (
                f" Not like for like: {experiment} is measured over {run.horizon}, "
                f"{reference} over {ref.horizon}."
                if run.horizon and ref.horizon and run.horizon != ref.horizon
                else ""
            )
            sentences.append(f"{experiment} vs {reference}: " + "; ".join(parts) + "." + caveat)

    winner = comparison.best.get("churn_auc")
    if winner is not None:
        parts = []
        for column in ("churn_auc", "clv_gini"):
            check = comparison.against_btyd(winner, column)
            if check is None:
                continue
            spec = METRIC_BY_COLUMN[column]
            btyd = comparison.runs[winner].metrics.get(f"test_btyd_{column}", float("nan"))
            verdict = (
                "within noise"
                if check.within_noise
                else (
                    "LightGBM ahead beyond noise"
                    if check.difference > 0
                    else "BG/NBD ahead beyond noise"
                )
            )
            parts.append(
                f"{spec.label} {_fmt(table.at[winner, column], 3)} vs {_fmt(btyd, 3)} ({verdict})"
            )
        if parts:
            sentences.append(
                f"Against the BG/NBD + Gamma-Gamma baseline on {winner}'s test customers: "
                + "; ".join(parts)
                + "."
            )

    ratio = comparison.best.get("clv_total_ratio")
    brier = comparison.best.get("churn_brier")
    if ratio and brier:
        sentences.append(
            f"Best calibrated churn probabilities (Brier): {brier}; total predicted value closest to "
            f"the actual total: {ratio} (ratio {_fmt(table.at[ratio, 'clv_total_ratio'], 3)})."
        )
    if comparison.warnings:
        sentences.append("Read with care: " + "; ".join(comparison.warnings) + ".")
    return sentences
