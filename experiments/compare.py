"""Side-by-side comparison of experiments from the MLflow store.

``compare_experiments`` loads the latest finished run of each named MLflow experiment
(:mod:`experiments.runs`), builds one row per experiment (:data:`~experiments.metric_specs.METRICS`
columns), marks the best value of each column among the runs on the same target (data set,
test cutoffs, horizon) and checks whether the others of that group are within run-to-run noise
of it (:mod:`experiments.noise`). ``build_comparison`` and everything after it
are plain functions of ``RunRecord`` objects, so they can be tested on hand-made numbers; the
sentences that explain a comparison are in :mod:`experiments.narrative`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from experiments.metric_specs import METRIC_BY_COLUMN, METRICS
from experiments.noise import NoiseCheck, NoiseEstimator
from experiments.runs import DEFAULT_TRACKING_URI, RunFilter, RunRecord, load_runs
from training import BTYD_ANCHOR

BEST_MARK, NOISE_MARK, UNCHECKED_MARK = "*", "~", "?"
#: Which way each column ranks, as the legends say it.
RANKING = (
    "higher AUC, PR-AUC, Spearman, Gini; lower Brier, CLV MAE, range coverage error (distance of "
    "the value ranges' coverage from their nominal level) and range width; total ratio "
    "(predicted / actual total value) closest to 1; train s (wall time of the training job, which "
    "on a shared machine measures the load as much as the model) is shown, not ranked"
)


@dataclass
class Comparison:
    """The comparison table and everything needed to explain it.

    ``table``: one row per experiment (index), one column per ``METRICS`` column.
    ``groups``: the runs measured on the same target (data set, test cutoffs, horizon), the
    reference run's group first; runs are ranked only within their group.
    ``winners``: (experiment, column) -> the best of the experiment's group in that column.
    ``best``: column -> the best of the reference run's group (first in table order on a tie).
    ``noise_flags``: (experiment, column) -> ``NoiseCheck`` against its group's best.
    ``runs``: experiment -> ``RunRecord``.
    """

    table: pd.DataFrame
    best: dict[str, str]
    noise_flags: dict[tuple[str, str], NoiseCheck]
    runs: dict[str, RunRecord]
    noise: NoiseEstimator
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    groups: list[list[str]] = field(default_factory=list)
    winners: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return reference_run(self.runs)

    def comparable(self, experiment: str) -> list[str]:
        """The runs measured on the same target as ``experiment`` (itself included)."""
        return next((g for g in self.groups if experiment in g), [experiment])

    @property
    def n_boot(self) -> int:
        return self.noise.n_boot

    @property
    def alpha(self) -> float:
        return self.noise.alpha

    def is_best(self, experiment: str, column: str) -> bool:
        return self.winners.get((experiment, column), self.best.get(column)) == experiment

    def within_noise(self, experiment: str, column: str) -> bool:
        check = self.noise_flags.get((experiment, column))
        return bool(check and check.within_noise)

    def check(self, experiment: str, other: str, column: str) -> NoiseCheck:
        """The noise check of ``experiment`` against any ``other`` run (not only the best)."""
        return self.noise.check(experiment, other, METRIC_BY_COLUMN[column])

    def against_btyd(self, experiment: str, column: str) -> NoiseCheck | None:
        """Paired check of a run's model against the BG/NBD baseline scored on the same
        customers."""
        return self.noise.against_btyd(experiment, METRIC_BY_COLUMN[column])


def reference_run(runs: Mapping[str, RunRecord]) -> str:
    """The run the others are read against: ``baseline``, else the first run ("" when none)."""
    return "baseline" if "baseline" in runs else next(iter(runs), "")


def join_names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# --------------------------------------------------------------------------- building


def metric_table(runs: Mapping[str, RunRecord]) -> pd.DataFrame:
    """One row per experiment, one column per ``METRICS`` column (NaN when not logged)."""
    return pd.DataFrame(
        {
            spec.column: [spec.logged_value(run.metrics) for run in runs.values()]
            for spec in METRICS
        },
        index=pd.Index(list(runs), name="experiment"),
    )


def best_per_column(
    table: pd.DataFrame, unranked: Mapping[str, set[str]] | None = None
) -> dict[str, str]:
    """Column -> experiment with the best value (first row on a tie; NaN never wins; a column
    with fewer than two values has no best: one run is not a comparison). ``unranked``: column
    -> experiments whose value there is not the model's choice (shown, never best)."""
    best: dict[str, str] = {}
    for spec in METRICS:
        if spec.column not in table or not spec.ranked:
            continue
        values = table[spec.column]
        skip = (unranked or {}).get(spec.column, set())
        scored = [
            (spec.score(v), i)
            for i, v in enumerate(values)
            if math.isfinite(v) and values.index[i] not in skip
        ]
        if len(scored) >= 2:
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
    """The table, the best per column among comparable runs and a noise check of every other run
    against its group's best."""
    runs = dict(runs)
    table = metric_table(runs)
    anchored = {n for n, r in runs.items() if r.params.get("clv_total") == BTYD_ANCHOR}
    unranked = {"clv_total_ratio": anchored}
    reference = reference_run(runs)
    groups = comparable_groups(runs, reference)
    winners = {
        (experiment, column): winner
        for group in groups
        for column, winner in best_per_column(table.loc[group], unranked).items()
        for experiment in group
    }
    noise = NoiseEstimator(runs, n_boot, seed, alpha)
    return Comparison(
        table=table,
        best={c: w for (e, c), w in winners.items() if e == reference},
        noise_flags=_noise_flags(table, winners, noise, unranked),
        runs=runs,
        noise=noise,
        warnings=[*warnings, *consistency_warnings(runs), *backtest_warnings(runs, anchored)],
        missing=list(missing),
        tracking_uri=tracking_uri,
        groups=groups,
        winners=winners,
    )


def target_of(run: RunRecord) -> tuple[str, str, str]:
    """What a run's test metrics measure: data set, test cutoffs, horizon ("" when unknown)."""
    return run.data or "", ", ".join(run.test_cutoffs), run.horizon or ""


def target_key(run: RunRecord) -> tuple[str, str, str, str]:
    """``target_of`` and the digest of the test customers and outcomes ("" without predictions):
    two folders of the same name (or data regenerated in place) tested at the same cutoff and
    horizon are other targets, not runs to rank against each other."""
    return (*target_of(run), _test_data(run) or "")


def _same_target(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return all(x == y or not x or not y for x, y in zip(a, b, strict=True))


def comparable_groups(runs: Mapping[str, RunRecord], reference: str) -> list[list[str]]:
    """Runs grouped by the target their metrics measure (an unknown part matches any), in table
    order, the ``reference`` run's group first: a 180-day churn AUC is not better than a 90-day
    one, it answers another question."""
    groups: list[tuple[list[str], list[str]]] = []
    for name in sorted(runs, key=lambda n: n != reference):
        target = target_key(runs[name])
        found = next(((t, g) for t, g in groups if _same_target(tuple(t), target)), None)
        if found is None:
            groups.append((list(target), [name]))
            continue
        known, group = found
        group.append(name)
        # what a member knows of the target binds the group: a run without a data tag joined
        # by a cdnow run is a cdnow group, which a synthetic run does not join
        known[:] = [k or t for k, t in zip(known, target, strict=True)]
    order = list(runs)
    return [sorted(g, key=order.index) for _, g in groups]


def backtest_warnings(runs: Mapping[str, RunRecord], anchored: set[str]) -> list[str]:
    """What a backtest run's own settings say about its numbers: a CLV total scaled to the
    BTYD total (not ranked), an outcome window the data does not fully cover."""
    warnings = []
    if anchored:
        names = join_names(sorted(anchored))
        warnings.append(
            f"total ratio of {names}: LightGBM's values are scaled to the BG/NBD + Gamma-Gamma "
            "total at the cutoff (the backtest's default), so it is BTYD's total, not a model's; "
            "shown, not ranked"
        )
    for name, run in runs.items():
        if reason := run.params.get("partial_window"):
            warnings.append(
                f"{name}: backtest run with --allow-partial-window: {reason}; its churn labels "
                "count the days after the data as no purchase"
            )
    return warnings


def _noise_flags(
    table: pd.DataFrame,
    winners: Mapping[tuple[str, str], str],
    noise: NoiseEstimator,
    unranked: Mapping[str, set[str]],
) -> dict[tuple[str, str], NoiseCheck]:
    """Each ranked value against the best of its group (not the best of another target)."""
    flags: dict[tuple[str, str], NoiseCheck] = {}
    for (experiment, column), winner in winners.items():
        spec = METRIC_BY_COLUMN[column]
        value = table.at[experiment, column]
        if (
            experiment == winner
            or not math.isfinite(value)
            or experiment in unranked.get(column, set())
        ):
            continue
        if spec.function is None and value != table.at[winner, column]:
            continue  # e.g. the range columns: no resampling noise to speak of
        flags[(experiment, column)] = noise.check(experiment, winner, spec)
    return flags


_ASPECTS: tuple[tuple[str, str, Callable[[RunRecord], str | None], str], ...] = (
    ("runs of different kinds are compared", "", lambda r: r.kind,
     "; pass a kind to compare like with like"),
    ("runs saw different data sets", "", lambda r: r.data,
     "; each is ranked only against runs on the same data set"),
    ("runs were tested at different cutoffs", "at ", lambda r: ", ".join(r.test_cutoffs),
     "; each is ranked only against runs tested at the same cutoffs"),
    ("runs predict over different horizons or value labels", "over ", lambda r: r.horizon,
     "; their metrics measure different targets: each is ranked only against runs over the "
     "same horizon and value label"),
)  # fmt: skip


def _test_data(run: RunRecord) -> str | None:
    """A digest of the customers a run was tested on and their outcomes (None: no predictions)."""
    p = run.predictions
    if p is None or not {"customer_id", "churned", "future_value"} <= set(p.columns):
        return None
    rows = p[["customer_id", "churned", "future_value"]].sort_values("customer_id", kind="stable")
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:10]


def _different_test_data(runs: Mapping[str, RunRecord]) -> list[str]:
    """Runs tested at the same cutoffs over the same horizon should have seen the same customers
    and outcomes; when they did not, the data changed between them (regenerated, re-ingested, or
    another folder of the same name)."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for name, run in runs.items():
        digest = _test_data(run)
        if digest is not None:
            key = (", ".join(run.test_cutoffs), run.horizon or "")
            groups.setdefault(key, {}).setdefault(digest, []).append(name)
    return [
        "runs tested at the same cutoff and horizon saw different customers or outcomes ("
        + "; ".join(f"{join_names(names)}: test data {d}" for d, names in by_digest.items())
        + "): the data changed between them (regenerated, re-ingested or another folder of the "
        "same name); their metrics are not comparable: each is ranked only against runs on the "
        "same test data"
        for by_digest in groups.values()
        if len(by_digest) > 1
    ]


def _other_folders(runs: Mapping[str, RunRecord]) -> list[str]:
    """Runs whose data tag (the folder's base name) is the same but which read other folders:
    ``data/syn`` and ``other/syn`` are both ``syn``."""
    by_data: dict[str, dict[str, list[str]]] = {}
    for name, run in runs.items():
        if run.data and run.data_path:
            by_data.setdefault(run.data, {}).setdefault(run.data_path, []).append(name)
    return [
        f"runs on data set {data} read different folders ("
        + "; ".join(f"{join_names(names)} from {path}" for path, names in by_path.items())
        + f"): {data} is only the folder's name, so they may not have seen the same data"
        for data, by_path in by_data.items()
        if len(by_path) > 1
    ]


def _table_settings(run: RunRecord) -> str:
    """What builds a run's training table besides the data: its cutoffs, features and labels."""
    cutoffs = (run.fingerprint or {}).get("cutoffs", {})
    params = {k: v for k, v in run.params.items() if k.startswith(("features.", "labels."))}
    return repr((run.data, sorted(cutoffs.items()), sorted(params.items())))


def _other_tables(runs: Mapping[str, RunRecord]) -> list[str]:
    """Runs on the same data name with the same cutoffs, features and labels should have built
    the same training table (``data_fingerprint.json``, ``sha256_of_row_hashes``); another
    digest means the data (or the feature code) changed between them. Not said again for runs
    whose test data already differ (:func:`_different_test_data` says it)."""
    groups: dict[str, dict[str, list[str]]] = {}
    for name, run in runs.items():
        digest = (run.fingerprint or {}).get("sha256_of_row_hashes")
        if run.data and digest:
            groups.setdefault(_table_settings(run), {}).setdefault(digest, []).append(name)
    out = []
    for by_digest in groups.values():
        names = [n for group in by_digest.values() for n in group]
        tested = {_test_data(runs[n]) for n in names} - {None}
        if len(by_digest) > 1 and len(tested) <= 1:
            out.append(
                f"runs on data set {runs[names[0]].data} with the same cutoffs, features and "
                "labels built different training tables ("
                + "; ".join(f"{join_names(n)}: {d[:10]}" for d, n in by_digest.items())
                + "): the data (or the feature code) changed between them"
            )
    return out


def consistency_warnings(runs: Mapping[str, RunRecord]) -> list[str]:
    """What makes the runs not like for like: kind, data set (name, folder, training table), test
    cutoff, label horizon."""
    out: list[str] = []
    for what, preposition, value_of, consequence in _ASPECTS:
        groups: dict[str, list[str]] = {}
        for name, run in runs.items():
            groups.setdefault(value_of(run) or "?", []).append(name)
        if len([v for v in groups if v != "?"]) > 1:
            described = "; ".join(
                f"{join_names(names)} {preposition}{v}" for v, names in groups.items()
            )
            out.append(f"{what} ({described}){consequence}")
    out.extend(_other_folders(runs))
    out.extend(_different_test_data(runs))
    out.extend(_other_tables(runs))
    out.extend(
        f"{name}: unreadable artifact {what}" for name, r in runs.items() for what in r.unreadable
    )
    without = [n for n, r in runs.items() if r.predictions is None and r.kind != "uplift"]
    if without:
        out.append(
            f"no predictions/test.parquet for {join_names(without)}: noise not checked for them"
        )
    return out


def compare_experiments(
    names: list[str] | None,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    kind: str | None = None,
    data: str | None = None,
    *,
    project: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> Comparison:
    """Compare the latest finished run of each experiment (all experiments when ``names`` is None),
    optionally only runs of one ``kind``, ``data`` set or ``project``.

    Raises LookupError when no experiment has a matching run.
    """
    wanted = RunFilter(kind=kind, data=data, project=project)
    runs, missing, unfinished = load_runs(names, tracking_uri, wanted)
    filters = f" ({wanted.describe()})" if wanted.describe() else ""
    if not runs:
        asked = ", ".join(names) if names else "any experiment"
        how = (
            "run `lifecycle uplift --data DIR` first"
            if kind == "uplift"
            else "run `lifecycle experiment run NAME` first"
        )
        why = "".join(f"; {note}" for note in unfinished)
        raise LookupError(f"no finished run{filters} for {asked} in {tracking_uri}{why}; {how}")
    warnings = [f"no finished run{filters} for {', '.join(missing)}"] if missing else []
    warnings += unfinished
    return build_comparison(
        runs, n_boot=n_boot, seed=seed, warnings=warnings, missing=missing,
        tracking_uri=tracking_uri,
    )  # fmt: skip


# --------------------------------------------------------------------------- text table


def ranked_separately(comparison: Comparison) -> str:
    """``a and b | c``: the groups of runs ranked against each other."""
    return " | ".join(join_names(group) for group in comparison.groups)


def cell_text(comparison: Comparison, experiment: str, column: str) -> tuple[str, str]:
    """The formatted value and its mark (``*`` best or tied with it exactly, ``~`` within noise
    of the best, ``?`` the gap to the best not checked: no test predictions; '' beyond noise or
    not ranked). A tie is not "within noise": the range columns are not checked against noise."""
    value = comparison.table.at[experiment, column]
    spec = METRIC_BY_COLUMN[column]
    text = "-" if not math.isfinite(value) else f"{value:.{spec.digits}f}"
    check = comparison.noise_flags.get((experiment, column))
    if comparison.is_best(experiment, column) or (check is not None and check.method == "tie"):
        return text, BEST_MARK
    if check is not None and check.within_noise is None:
        return text, UNCHECKED_MARK
    return text, NOISE_MARK if comparison.within_noise(experiment, column) else ""


def format_table(comparison: Comparison) -> str:
    """Plain-text table: ``*`` marks the best value per column, ``~`` a value whose difference from
    the best is within run-to-run noise (the bootstrap interval of the difference contains 0).

    Uplift runs have none of these columns: they get the Qini and policy-value table instead
    (:func:`experiments.uplift_table.format_uplift_table`)."""
    from experiments.uplift_table import format_uplift_table

    uplift = {n: r for n, r in comparison.runs.items() if r.kind == "uplift"}
    if uplift and len(uplift) == len(comparison.runs):
        return format_uplift_table(uplift)
    others = format_metric_table(comparison, [e for e in comparison.runs if e not in uplift])
    return f"{others}\n\n{format_uplift_table(uplift)}" if uplift else others


def format_metric_table(comparison: Comparison, experiments: Sequence[str]) -> str:
    """The ``METRICS`` table of ``experiments`` with its legend."""
    columns = [spec.column for spec in METRICS if spec.column in comparison.table]
    experiments = [str(e) for e in experiments]
    name_width = max(len("experiment"), *(len(e) for e in experiments))
    rows = [
        [f"{text}{mark or ' '}" for text, mark in (cell_text(comparison, e, c) for c in columns)]
        for e in experiments
    ]
    labels = [METRIC_BY_COLUMN[c].label for c in columns]
    widths = [max(len(label), *(len(r[i]) for r in rows)) for i, label in enumerate(labels)]
    header = "  ".join(
        [
            f"{'experiment':<{name_width}}",
            *(f"{lb:>{w}}" for lb, w in zip(labels, widths, strict=True)),
        ]
    )
    lines = [header, "-" * len(header)]
    for experiment, row in zip(experiments, rows, strict=True):
        lines.append(
            "  ".join(
                [
                    f"{experiment:<{name_width}}",
                    *(f"{t:>{w}}" for t, w in zip(row, widths, strict=True)),
                ]
            )
        )
    return "\n".join([*lines, "", *_legend(comparison)])


def _legend(comparison: Comparison) -> list[str]:
    runs = ", ".join(f"{n} {r.kind or '?'} {r.run_id[:8]}" for n, r in comparison.runs.items())
    marks = []
    if comparison.winners:  # one run, or one per target, is not a ranking: no marks to explain
        marks = [
            f"{BEST_MARK} best per column among runs on the same target (data set, test cutoffs, "
            f"horizon; an exact tie shares it): {RANKING}",
            f"{NOISE_MARK} within run-to-run noise of the best ({1 - comparison.alpha:.0%} "
            f"bootstrap interval of the difference on the test customers contains 0, "
            f"{comparison.n_boot} resamples); {UNCHECKED_MARK} noise not checked (no test "
            "predictions); range columns are not checked against noise",
        ]
        if len(comparison.groups) > 1:
            marks.append(f"ranked separately: {ranked_separately(comparison)}")
    return [*marks, f"runs: {runs}", *(f"warning: {w}" for w in comparison.warnings)]
