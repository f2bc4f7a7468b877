"""One self-contained HTML report of a ``Comparison``: inline CSS, plots as base64 PNGs, no network.

The page is ``templates/compare.html.j2`` (Jinja2, autoescaped); this module computes what it
shows. Sections (each an ``<section id=...>``): ``summary`` (what this says), ``table`` (best
marked, noise flags), ``gains`` (cumulative gains, churn and value, one plot per target as the
table ranks them, with the perfect ranking), ``calibration`` (all experiments on one plot),
``deciles`` (predicted vs actual value per experiment), ``importance`` (feature-importance
differences), ``uplift`` (Qini and uplift plots, Qini and policy-value tables of the compared
runs that are uplift runs: ``lifecycle uplift``, compared with ``--kind uplift``), ``data``
(cutoffs and row counts each run saw, and the logged settings that differ between runs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.compare import (
    BEST_MARK,
    NOISE_MARK,
    RANKING,
    UNCHECKED_MARK,
    Comparison,
    cell_text,
    join_names,
    ranked_separately,
    target_of,
)
from experiments.metric_specs import METRIC_BY_COLUMN, METRICS
from experiments.narrative import what_this_says
from experiments.noise import paired_frame, shown_digits
from experiments.runs import RunRecord
from experiments.uplift_table import LEGEND as UPLIFT_LEGEND
from experiments.uplift_table import (
    best_qini,
    contacts_text,
    format_uplift_table,
    interval_text,
    qini_digits,
    uplift_rows,
)
from features.atomic_file import write_text_atomic

SECTIONS = (
    ("summary", "What this says"),
    ("table", "Metrics on the test customers"),
    ("gains", "Cumulative gains"),
    ("calibration", "Calibration of churn probabilities"),
    ("deciles", "Predicted vs actual value by decile"),
    ("importance", "Feature-importance differences"),
    ("uplift", "Uplift: who is worth contacting"),
    ("data", "The data each run saw"),
)
#: The sections about churn and value models (left out when only uplift runs are compared).
MODEL_SECTIONS = ("gains", "calibration", "deciles", "importance")
TEMPLATE = "compare.html.j2"
T = TypeVar("T")

#: (target, model score, BG/NBD score, what is captured, y label) of the two gains plots.
_GAINS = (
    ("churned", "churn_probability", "btyd_p_no_purchase", "churners",
     "Share of churners captured"),
    ("future_value", "predicted_value", "btyd_expected_value", "future value",
     "Share of future value captured"),
)  # fmt: skip


@dataclass(frozen=True)
class Image:
    """A plot as the template shows it."""

    alt: str
    data: str  # base64 PNG
    caption: str | None = None


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )


def _image(fig: Figure, alt: str, caption: str | None = None) -> Image:
    from training.plots import figure_to_base64

    return Image(alt, figure_to_base64(fig), caption)


def _with_predictions(comparison: Comparison) -> dict[str, pd.DataFrame]:
    return {n: r.predictions for n, r in comparison.runs.items() if r.predictions is not None}


#: Runs drawn in one plot at most (curves, bars) or charted one by one (deciles): past a handful
#: the lines cannot be told apart; the others stay in the table.
MAX_PLOTTED = 8
#: The BG/NBD curve's colour: apart from the experiments' (matplotlib's C0..C7).
BTYD_COLOR = "black"


@dataclass(frozen=True)
class Plotted:
    """The runs every plot draws, one colour each (the same in every plot), and a caption
    sentence naming the runs left out ("" when none)."""

    names: list[str]
    colors: dict[str, str]
    left_out: str
    #: a run whose test predictions are an earlier drawn run's, to that run: its line would
    #: hide under the other's, so it is dashed and labelled
    twins: dict[str, str] = field(default_factory=dict)

    def keep(self, items: dict[str, T]) -> dict[str, T]:
        return {name: item for name, item in items.items() if name in self.colors}

    def label(self, name: str) -> str:
        twin = self.twins.get(name)
        return f"{name}, same predictions as {twin}" if twin else name


#: The prediction columns two runs must share, row for row, to draw the same lines.
_DRAWN_COLUMNS = ("churned", "churn_probability", "future_value", "predicted_value")


def _twins(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Each run whose drawn predictions equal an earlier run's, to that earlier run."""
    twins: dict[str, str] = {}
    seen: list[tuple[str, pd.DataFrame]] = []
    for name, frame in frames.items():
        drawn = frame[[c for c in _DRAWN_COLUMNS if c in frame]].reset_index(drop=True)
        twin = next((n for n, other in seen if drawn.equals(other)), None)
        if twin is not None:
            twins[name] = twin
        else:
            seen.append((name, drawn))
    return twins


def plotted_runs(comparison: Comparison) -> Plotted:
    """The reference run and the runs best on churn AUC (then Gini), ``MAX_PLOTTED`` in all, in
    table order: one set for every plot, so a run is not drawn in one plot and missing from the
    next, and its colour does not move. The runs on the reference's target come first: a churn
    AUC over another horizon is not ranked against theirs (the table does not rank it either)."""
    names = [n for n, r in comparison.runs.items() if r.kind != "uplift"]
    left = ""
    if len(names) > MAX_PLOTTED:
        reference = comparison.reference
        same = set(comparison.comparable(reference))
        ranked = sorted(
            (n for n in names if n != reference),
            key=lambda n: (n not in same, *_rank(comparison, n)),
        )
        kept = {reference, *ranked[: MAX_PLOTTED - (reference in names)]}
        left = (
            f" Drawn: the reference run {reference} and the runs on its target best on churn AUC "
            f"(then Gini), then the best of the others, {MAX_PLOTTED} in all; left out: "
            f"{_some([n for n in names if n not in kept])}."
        )
        names = [n for n in names if n in kept]
    frames = _with_predictions(comparison)
    twins = _twins({n: frames[n] for n in names if n in frames})
    return Plotted(names, {n: f"C{i}" for i, n in enumerate(names)}, left, twins)


def _rank(comparison: Comparison, name: str) -> tuple[float, ...]:
    """Sort key: best first on churn AUC, then Gini; a missing value last."""
    key = []
    for column in ("churn_auc", "clv_gini"):
        value = comparison.table.at[name, column] if column in comparison.table else float("nan")
        score = METRIC_BY_COLUMN[column].score(value)
        key.append(-score if math.isfinite(score) else math.inf)
    return tuple(key)


def _shared_test_set(frames: dict[str, pd.DataFrame]) -> bool:
    items = list(frames.values())
    return len(items) > 0 and all(paired_frame(items[0], other) is not None for other in items[1:])


# --------------------------------------------------------------------------- table


def _table(comparison: Comparison) -> dict:
    """The metric table of the churn/CLV runs (only the metrics one of them has: uplift runs
    log none, so they get no empty row) and the Qini/policy table of the uplift runs."""
    uplift = {n: r for n, r in comparison.runs.items() if r.kind == "uplift"}
    experiments = [str(e) for e in comparison.table.index if str(e) not in uplift]
    shown = comparison.table.loc[experiments]
    columns = [
        spec.column
        for spec in METRICS
        if spec.column in shown and np.isfinite(shown[spec.column].to_numpy(float)).any()
    ]
    btyd_columns = [s.column for s in METRICS if s.function is not None]
    checks = comparison.noise_flags.items()
    return {
        "labels": [METRIC_BY_COLUMN[c].label for c in columns],
        "rows": [_table_row(comparison, e, columns) for e in experiments] if columns else [],
        "checks": [_check_row(e, c, check) for (e, c), check in checks if c in columns],
        "btyd_labels": [METRIC_BY_COLUMN[c].label for c in btyd_columns],
        "btyd_rows": _btyd_rows(comparison, btyd_columns),
        "uplift": _uplift_table(uplift),
    }


def _uplift_table(runs: dict[str, RunRecord]) -> dict | None:
    """The logged Qini and policy value of the uplift runs, ``*`` on the best Qini per action
    and outcome (``experiments.uplift_table``); None without uplift runs."""
    if not runs:
        return None
    rows = uplift_rows(runs)
    if rows.empty:
        return {"rows": [], "truth": False, "legend": [], "note": format_uplift_table(runs)}
    best = set(best_qini(rows).index)
    shown = []
    for i, r in rows.iterrows():
        digits = qini_digits(r["outcome"])
        shown.append(
            {
                "experiment": r["experiment"],
                "action": r["action"],
                "outcome": r["outcome"],
                "model": r["model"],
                "qini": interval_text(r, "qini", digits),
                "mark": BEST_MARK if i in best else "",
                "top20": "-" if pd.isna(r["uplift_20"]) else f"{r['uplift_20']:.{digits}f}",
                "contacts": contacts_text(r),
                "true": interval_text(r, "true", 1),
                "estimated": interval_text(r, "estimated", 1),
            }
        )
    truth = bool(rows["true"].notna().any())
    return {"rows": shown, "truth": truth, "legend": list(UPLIFT_LEGEND), "note": None}


def _table_row(comparison: Comparison, experiment: str, columns: list[str]) -> dict:
    cells = []
    for column in columns:
        text, mark = cell_text(comparison, experiment, column)
        check = comparison.noise_flags.get((experiment, column))
        title = check.describe() if check else "best in this column" if mark == BEST_MARK else ""
        css = {BEST_MARK: "best", NOISE_MARK: "noise", UNCHECKED_MARK: "unchecked"}.get(mark, "")
        cells.append({"text": text, "mark": mark, "css": css, "title": title})
    kind = comparison.runs[experiment].kind or "?"
    return {"name": experiment, "kind": kind, "cells": cells}


def _check_row(experiment: str, column: str, check) -> dict:
    verdict = {True: "within noise", False: "beyond noise", None: "not checked"}[check.within_noise]
    if check.method == "tie":  # an equal value is no noise verdict (range columns have none)
        verdict = "the same value (shares the best mark)"
    d = shown_digits((check.difference, check.low, check.high), 4)
    return {
        "label": METRIC_BY_COLUMN[column].label,
        "experiment": experiment,
        "best": check.best,
        "method": check.method,
        "difference": f"{check.difference:+.{d}f}",
        "low": f"{check.low:+.{d}f}",
        "high": f"{check.high:+.{d}f}",
        "verdict": verdict,
    }


def _btyd_rows(comparison: Comparison, columns: list[str]) -> list[dict]:
    rows = []
    for name, run in comparison.runs.items():
        values = [run.metrics.get(f"test_btyd_{c}", float("nan")) for c in columns]
        if any(math.isfinite(v) for v in values):
            shown = [
                f"{v:.{METRIC_BY_COLUMN[c].digits}f}" if math.isfinite(v) else "-"
                for v, c in zip(values, columns, strict=True)
            ]
            rows.append({"name": name, "cells": shown})
    return rows


# --------------------------------------------------------------------------- plots


def _gains(comparison: Comparison, plotted: Plotted) -> dict:
    """One churn and one value plot per target (data set, test cutoffs, horizon), the
    reference's first: a 180-day run's churn base rate differs from a 90-day run's, so its curve
    answers another question, as in the table."""
    frames = _with_predictions(comparison)
    if not frames:
        return {"note_only": "No run has test predictions, so no gains curves can be drawn."}
    drawn = plotted.keep(frames)
    groups = [[n for n in g if n in drawn] for g in comparison.groups]
    groups = [g for g in groups if g] or [list(drawn)]
    parts: list[Image | str] = []
    shared = True
    for group in groups:
        members = {n: drawn[n] for n in group}
        shared = shared and _shared_test_set(members)
        target = _target_words(comparison.runs[group[0]]) if len(groups) > 1 else ""
        parts += _gains_plots(members, plotted, target)
    if len(groups) > 1:
        parts.append(
            "One plot per target (data set, test cutoffs, horizon), as the table ranks them: "
            "over another horizon the share of churners differs, and with it what a ranking can "
            "capture, so curves of different targets are not compared."
        )
    return {"note_only": None, "parts": parts, "shared": shared}


def _target_words(run: RunRecord) -> str:
    data, cutoffs, horizon = target_of(run)
    said = (("data set ", data), ("test cutoff ", cutoffs), ("over ", horizon))
    return ", ".join(f"{what}{value}" for what, value in said if value) or "target unknown"


def _gains_plots(frames: dict[str, pd.DataFrame], plotted: Plotted, target: str) -> list:
    """The churn and value gains plots of runs on one target, with the BG/NBD baseline (when
    they scored the same customers) and the perfect ranking of the first run's test customers."""
    from training.metrics import TOP_FRACTION, gains_curve
    from training.plots import gains_plot, place_legend

    shared = _shared_test_set(frames)
    parts: list[Image | str] = []
    for outcome, score, btyd, title, ylabel in _GAINS:
        curves = {
            plotted.label(name): (f[outcome].to_numpy(float), f[score].to_numpy(float))
            for name, f in frames.items()
            if f[outcome].sum() > 0
        }
        first = next(iter(frames.values()))
        actual = first[outcome].to_numpy(float)
        if shared and btyd in first and np.isfinite(first[btyd]).all() and actual.sum() > 0:
            curves["BG/NBD baseline"] = (actual, first[btyd].to_numpy(float))
        if not curves:
            parts.append(f"No {title} in the test sets{f' ({target})' if target else ''}: "
                         "no gains curve.")  # fmt: skip
            continue
        colors = {plotted.label(n): c for n, c in plotted.colors.items()}
        colors["BG/NBD baseline"] = BTYD_COLOR
        actual = next(iter(curves.values()))[0]
        rate = float(np.mean(actual > 0)) if outcome == "churned" else 0.0
        # the top 10% holds at most 10% / rate of the churners
        fig = gains_plot(
            curves, ylabel=ylabel, colors=colors, at_base_rate=rate > TOP_FRACTION,
            dashed={plotted.label(n) for n in plotted.twins},
        )  # fmt: skip
        ax = fig.axes[0]
        perfect = "perfect ranking" + (f" ({rate:.0%} churned)" if rate else "")
        ax.plot(*gains_curve(actual, actual), linestyle=":", color="grey", label=perfect)
        place_legend(ax, "lower right")
        ax.set_title(f"Cumulative gains: {title}" + (f"\n{target}" if target else ""),
                     fontsize=10 if target else None)  # fmt: skip
        at_rate = (
            f" With {rate:.0%} of the customers churning, the top 10% can hold at most "
            f"{TOP_FRACTION / rate:.0%} of the churners: the legend gives the share captured in "
            f"the top {rate:.0%} instead (100% for a perfect ranking)."
            if rate > TOP_FRACTION
            else ""
        )
        alt = f"Cumulative gains of {title}, " + (target or "all experiments")
        parts.append(_image(
            fig, alt,
            f"Share of {title} captured when targeting the top x% of customers by each "
            "experiment's score; the dashed diagonal is random targeting, the dotted curve a "
            "perfect ranking of the test customers." + at_rate + plotted.left_out,
        ))  # fmt: skip
    return parts


def _calibration(comparison: Comparison, plotted: Plotted) -> Image | str:
    from training.plots import calibration_plot

    frames = _with_predictions(comparison)
    if not frames:
        return "No run has test predictions, so no calibration curves can be drawn."
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for name, frame in plotted.keep(frames).items():
        calibration_plot(
            frame["churned"].to_numpy(int), frame["churn_probability"].to_numpy(float),
            ax=ax, label=plotted.label(name), show_histogram=False, color=plotted.colors[name],
            linestyle="--" if name in plotted.twins else "-",
        )  # fmt: skip
    return _image(
        fig,
        "Calibration curves of all experiments",
        "Observed churn rate against the mean predicted probability in 10 equal-count bins; "
        "points on the dashed diagonal are perfectly calibrated. ECE: expected calibration error."
        + plotted.left_out,
    )


def _deciles(comparison: Comparison, plotted: Plotted) -> list[tuple[str, Image]] | str:
    from training.plots import decile_plot

    frames = _with_predictions(comparison)
    if not frames:
        return "No run has test predictions, so no decile charts can be drawn."
    charts: list[tuple[str, Image]] = []
    drawn = plotted.keep(frames)
    # one y-range per group of runs on the same target: a CDNOW run's values beside a synthetic
    # one's would squash one of them
    ylims = {
        name: shared_decile_range(f for n, f in drawn.items() if n in comparison.comparable(name))
        for name in drawn
    }
    for name, frame in drawn.items():
        fig = decile_plot(
            frame["future_value"].to_numpy(float), frame["predicted_value"].to_numpy(float),
            ylabel=_value_axis(comparison.runs[name]), ylim=ylims[name],
        )  # fmt: skip
        fig.axes[0].set_title(f"{name}: predicted vs actual value by decile")
        caption = (
            "Customers ranked by predicted value; decile 1 holds the highest predictions."
            + ("" if charts else plotted.left_out)  # said once, under the first chart
        )
        charts.append((name, _image(fig, f"Decile chart of {name}", caption)))
    return charts


def shared_decile_range(frames: Iterable[pd.DataFrame]) -> tuple[float, float] | None:
    """One y-range for the decile charts shown side by side: on each chart's own scale a run
    with small values looked as tall as one with large ones."""
    from training.metrics import decile_table

    means = [
        decile_table(f["future_value"], f["predicted_value"])[["mean_predicted", "mean_actual"]]
        for f in frames
    ]
    values = np.concatenate([m.to_numpy(float).ravel() for m in means]) if means else np.array([])
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.05 * (high - low) or 1.0
    return low - (pad if low < 0 else 0.0), high + pad


def _value_axis(run: RunRecord) -> str:
    """The decile charts' y label: the value (revenue or margin, as logged), its currency (the
    run's ``currency`` param when it logs one, else the data's) and the horizon it is summed
    over when logged."""
    # a backtest's own horizon, not its config's (which it logs too)
    days = run.params.get("horizon_days") or run.params.get("labels.value_horizon_days")
    what = run.params.get("labels.value", "value")
    currency = run.params.get("currency") or "data's currency"
    return f"Mean {what} per customer ({currency})" + (f", next {days} days" if days else "")


def _importance(comparison: Comparison, plotted: Plotted) -> list[dict | str]:
    from training.plots import importance_diff_plot

    parts: list[dict | str] = []
    for model, label in (("churn", "churn model"), ("clv", "customer-value model")):
        series = {
            name: pd.Series(run.importance[model], dtype=float)
            for name, run in plotted.keep(comparison.runs).items()
            if run.importance and run.importance.get(model)
        }
        if not series:
            parts.append(f"No feature importance logged for the {label}.")
            continue
        fig = importance_diff_plot(series, top=10, colors=plotted.colors)
        fig.axes[0].set_title(f"Feature importance of the {label} (share of total gain)")
        figure = _image(
            fig, f"Feature-importance differences, {label}",
            f"The {label}: each experiment's importances as shares of its total; a feature an "
            "experiment does not use counts as 0." + plotted.left_out,
        )  # fmt: skip
        offset = [n for n in series if _has_offset(comparison.runs[n], model)]
        if offset:
            forecast, inputs = (
                ("BG/NBD", "recency and frequency") if model == "churn"
                else ("BG/NBD + Gamma-Gamma", "recency, frequency and spend")
            )  # fmt: skip
            verb = "starts" if len(offset) == 1 else "start"
            figure = replace(figure, caption=f"{figure.caption} {join_names(offset)} {verb} from "
                f"the {forecast} forecast (offset): the bars show only the correction the trees "
                f"learn on top of it; the offset, not drawn, carries the BTYD part ({inputs}), "
                "so those features look less important than they are.")  # fmt: skip
        changes = [f"{label}: {change}" for change in _importance_changes(series)]
        parts.append({"figure": figure, "changes": changes})
    return parts


def _has_offset(run: RunRecord, model: str) -> bool:
    """The model learnt a correction to the BTYD forecast (``churn.offset``/``clv.offset: btyd``;
    a backtest's models always do)."""
    return run.kind == "backtest" or run.params.get(f"{model}.offset") == "btyd"


def _importance_changes(series: dict[str, pd.Series]) -> list[str]:
    """Features some experiments lack or give no gain (the usual reason the bars differ)."""
    every = set().union(*(s.index for s in series.values()))
    changes = []
    for name, s in series.items():
        for what, features in (
            ("does not have", every - set(s.index)),
            ("has, but gains nothing from", set(s.index[s <= 0]) & every),
        ):
            if features:
                changes.append(f"{name} {what}: {_some(sorted(features))}")
    return changes


def _some(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------- uplift


def _uplift(comparison: Comparison) -> dict:
    """Per compared run with uplift artifacts (``training.uplift_plots``): its plots as logged,
    the Qini table and the policy-value table, with their bootstrap intervals."""
    note = (
        "No compared run is an uplift run; run `lifecycle uplift --data DIR` and compare with "
        "`lifecycle compare uplift --kind uplift`."
    )
    if comparison.tracking_uri is None:
        return {"runs": [], "note": note}
    import tempfile

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=comparison.tracking_uri)
    shown = []
    for name, run in comparison.runs.items():
        with tempfile.TemporaryDirectory() as tmp:
            plots, qini, policy = _uplift_artifacts(client, run.run_id, Path(tmp))
        if plots or qini is not None or policy is not None:
            shown.append(
                {
                    "name": name,
                    "run": run.run_id[:8],
                    "plots": plots,
                    "qini": _qini_rows(qini),
                    "policy": _policy_rows(policy),
                }
            )
    return {"runs": shown, "note": None if shown else note}


def _uplift_artifacts(client, run_id: str, folder: Path):
    """The run's uplift PNGs (as ``Image``), ``uplift_metrics.csv`` and ``policy_value.csv``."""
    import base64

    from mlflow.exceptions import MlflowException

    from training.uplift_plots import PLOTS_DIR

    def fetch(path: str) -> Path | None:
        try:
            local = Path(client.download_artifacts(run_id, path, str(folder)))
        except (MlflowException, OSError):
            return None
        return local if local.is_file() else None

    try:
        listed = sorted(
            f.path for f in client.list_artifacts(run_id, PLOTS_DIR) if f.path.endswith(".png")
        )
    except (MlflowException, OSError):
        listed = []
    plots = []
    for path in listed:
        local = fetch(path)
        if local is not None:
            stem = Path(path).stem
            kind, _, what = stem.partition("_")
            caption = (
                f"Qini curves of every ranking ({what.replace('_', ', ')}): extra outcome among "
                "the contacted of the top x%, relative to the control rate there; dashed: random."
                if kind == "qini"
                else "Observed uplift (contacted - control) per decile of the estimated effect "
                f"({what.replace('_', ', ')})."
            )
            plots.append(
                Image(
                    f"{kind} plot {what}",
                    base64.b64encode(local.read_bytes()).decode("ascii"),
                    caption,
                )
            )
    tables = []
    for path in ("uplift_metrics.csv", "policy_value.csv"):
        local = fetch(path)
        try:
            tables.append(pd.read_csv(local) if local is not None else None)
        except (ValueError, OSError):
            tables.append(None)
    return plots, tables[0], tables[1]


def _ranking(row: pd.Series) -> dict:
    return {"action": row["action"], "outcome": row["outcome"], "model": row["model"]}


def _qini_row(row: pd.Series) -> dict:
    digits = qini_digits(row["outcome"])
    return _ranking(row) | {
        "qini": interval_text(row, "qini", digits),
        "vs_response": interval_text(row, "qini - response", digits),
        "top20": interval_text(row, "uplift@20", digits),
    }


def _qini_rows(table: pd.DataFrame | None) -> list[dict]:
    return [] if table is None else [_qini_row(r) for _, r in table.iterrows()]


def _policy_rows(table: pd.DataFrame | None) -> list[dict]:
    if table is None:
        return []
    return [
        _ranking(r)
        | {
            "contacts": f"{int(r['contacts']):,}",
            "cost": f"{r.get('cost', 0.0):,.2f}",
            "true": interval_text(r, "true", 1),
            "estimated": interval_text(r, "estimated", 1),
        }
        for _, r in table.iterrows()
    ]


# --------------------------------------------------------------------------- data


def _families(value: str | None) -> str:
    """``features.families`` as logged by training ("['rfm', 'btyd']") or backtests ("rfm,btyd")."""
    if not value:
        return "-"
    parts = (part.strip(" '\"") for part in value.strip("[]()").split(","))
    return ", ".join(part for part in parts if part)


def _horizon_text(run: RunRecord) -> str:
    if "train_horizon_days" in run.params:
        return f"{run.horizon} (trained on {run.params['train_horizon_days']} d)"
    return run.horizon or "-"


def _count(value) -> str:
    return "-" if value is None else f"{int(value):,}"


def _data_row(name: str, run: RunRecord) -> dict:
    fp = run.fingerprint or {}
    cutoffs, counts = fp.get("cutoffs", {}), fp.get("rows", {})
    scored = None if run.predictions is None else len(run.predictions)
    return {
        "name": name,
        "kind": run.kind or "?",
        "run": run.run_id[:8],
        "started": run.start_time.strftime("%Y-%m-%d %H:%M UTC") if run.start_time else "-",
        "data": run.data or "-",
        "families": _families(run.params.get("features.families")),
        "horizon": _horizon_text(run),
        "cutoffs": [
            [str(c) for c in cutoffs.get("train", [])],
            [str(c) for c in cutoffs.get("valid", [])],
            [str(c) for c in cutoffs.get("test", run.test_cutoffs)],
        ],
        "counts": [*(_count(counts.get(s)) for s in ("train", "valid", "test")), _count(scored)],
    }


#: Longest parameter value shown in the settings table (longer ones end in "...").
PARAM_TEXT = 80


def settings_that_differ(runs: dict[str, RunRecord]) -> tuple[list[str], list[dict]]:
    """The logged parameters whose value is not the same in every run (a missing one counts as
    a value): the experiment names and one row per parameter, ``{"param", "values"}``."""
    names = list(runs)
    if len(names) < 2:
        return names, []
    rows = []
    for param in sorted({p for run in runs.values() for p in run.params}):
        values = [runs[n].params.get(param) for n in names]
        if len(set(values)) > 1:
            shown = [
                "-" if v is None else v if len(v) <= PARAM_TEXT else v[: PARAM_TEXT - 3] + "..."
                for v in values
            ]
            rows.append({"param": param, "values": shown})
    return names, rows


# --------------------------------------------------------------------------- page


def render_report(comparison: Comparison, title: str = "Experiment comparison") -> str:
    """The report as one HTML string."""
    plotted = plotted_runs(comparison)
    # uplift runs only: no churn or value model to plot, so no empty sections saying so
    uplift_only = bool(comparison.runs) and all(
        r.kind == "uplift" for r in comparison.runs.values()
    )
    sections = [s for s in SECTIONS if not (uplift_only and s[0] in MODEL_SECTIONS)]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            names=", ".join(comparison.runs),
            tracking_uri=comparison.tracking_uri,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            sections=sections,
            headings=dict(sections),
            best_mark=BEST_MARK,
            noise_mark=NOISE_MARK,
            unchecked_mark=UNCHECKED_MARK,
            ranking=RANKING,
            ranked=bool(comparison.winners),
            confidence=f"{1 - comparison.alpha:.0%}",
            n_boot=comparison.n_boot,
            warnings=comparison.warnings,
            ranked_separately=ranked_separately(comparison) if len(comparison.groups) > 1 else "",
            summary=what_this_says(comparison),
            table=_table(comparison),
            gains=_gains(comparison, plotted),
            calibration=_calibration(comparison, plotted),
            deciles=_deciles(comparison, plotted),
            importance=_importance(comparison, plotted),
            uplift=_uplift(comparison),
            data_rows=[_data_row(name, run) for name, run in comparison.runs.items()],
            settings=settings_that_differ(comparison.runs),
        )
    )


def write_report(comparison: Comparison, out: Path, title: str = "Experiment comparison") -> Path:
    """Write the self-contained HTML report to ``out`` (parent folders are created); return the
    path."""
    page = render_report(comparison, title)
    # a killed or failed write (full disk) never leaves half a report under ``out``
    return write_text_atomic(out, page)
