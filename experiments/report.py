"""One self-contained HTML report of a ``Comparison``: inline CSS, plots as base64 PNGs, no network.

Sections (each an ``<section id=...>``): ``summary`` (what this says), ``table`` (best marked,
noise flags), ``gains`` (cumulative gains of all experiments on one plot, churn and value),
``calibration`` (all experiments on one plot), ``deciles`` (predicted vs actual value per
experiment), ``importance`` (feature-importance differences), ``data`` (cutoffs and row counts
each run saw).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.compare import (
    BEST_MARK,
    METRIC_BY_COLUMN,
    METRICS,
    NOISE_MARK,
    Comparison,
    RunRecord,
    cell_text,
    paired_frame,
    what_this_says,
)

SECTIONS = (
    ("summary", "What this says"),
    ("table", "Metrics on the test customers"),
    ("gains", "Cumulative gains"),
    ("calibration", "Calibration of churn probabilities"),
    ("deciles", "Predicted vs actual value by decile"),
    ("importance", "Feature-importance differences"),
    ("data", "The data each run saw"),
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1rem 0 .3rem; }
.meta, .note { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; }
th { background: #f4f4f4; text-align: center; }
td.date { white-space: nowrap; text-align: left; }
td.name, th.name { text-align: left; font-weight: 600; white-space: nowrap; }
td.text { text-align: left; }
td.best { background: #d9f2d9; font-weight: 700; }
td.noise { background: #fff4cc; }
.mark { display: inline-block; width: .8em; text-align: left; color: #555; }
ul.summary li { margin-bottom: .35rem; }
.warning { color: #8a5300; }
figure { margin: .8rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #666; font-size: .85rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1rem; }
details { margin: .5rem 0; }
code { background: #f4f4f4; padding: 0 .2rem; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _image(fig: Figure, alt: str, caption: str | None = None) -> str:
    from training.plots import figure_to_base64

    data = figure_to_base64(fig)
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _missing(what: str) -> str:
    return f'<p class="note">{_e(what)}</p>'


def _with_predictions(comparison: Comparison) -> dict[str, pd.DataFrame]:
    return {
        name: run.predictions
        for name, run in comparison.runs.items()
        if run.predictions is not None
    }


def _shared_test_set(frames: dict[str, pd.DataFrame]) -> bool:
    items = list(frames.values())
    return len(items) > 0 and all(paired_frame(items[0], other) is not None for other in items[1:])


# --------------------------------------------------------------------------- sections


def _summary_section(comparison: Comparison) -> str:
    items = "".join(f"<li>{_e(s)}</li>" for s in what_this_says(comparison))
    return f'<ul class="summary">{items}</ul>'


def _table_section(comparison: Comparison) -> str:
    columns = [spec.column for spec in METRICS if spec.column in comparison.table]
    head = "".join(f"<th>{_e(METRIC_BY_COLUMN[c].label)}</th>" for c in columns)
    body = []
    for experiment in comparison.table.index:
        run = comparison.runs[str(experiment)]
        cells = [
            f'<td class="name">{_e(experiment)}</td>',
            f'<td class="text">{_e(run.kind or "?")}</td>',
        ]
        for column in columns:
            text, mark = cell_text(comparison, str(experiment), column)
            css = {BEST_MARK: "best", NOISE_MARK: "noise"}.get(mark, "")
            check = comparison.noise_flags.get((str(experiment), column))
            title = (
                "best in this column" if mark == BEST_MARK else (check.describe() if check else "")
            )
            cells.append(
                f'<td class="{css}" title="{_e(title)}">{_e(text)}'
                f'<span class="mark">{_e(mark)}</span></td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = (
        f'<table class="metrics"><thead><tr><th class="name">experiment</th><th>kind</th>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )
    legend = (
        f'<p class="note"><b>{BEST_MARK}</b> (green) best per column: higher AUC, PR-AUC, Spearman, '
        f"Gini; lower Brier, CLV MAE and training time; total ratio (predicted / actual total value) "
        f"closest to 1. <b>{NOISE_MARK}</b> (yellow) the difference from the best is within run-to-run "
        f"noise: the {1 - comparison.alpha:.0%} bootstrap interval of the difference "
        f"({comparison.n_boot} resamples of the test customers; paired when both runs scored the same "
        f"customers at the same cutoff, otherwise from each run's own interval) contains 0.</p>"
    )
    warnings = "".join(f'<p class="warning">Warning: {_e(w)}</p>' for w in comparison.warnings)
    return table + legend + warnings + _noise_details(comparison) + _btyd_table(comparison)


def _noise_details(comparison: Comparison) -> str:
    if not comparison.noise_flags:
        return ""
    rows = "".join(
        f'<tr><td class="text">{_e(METRIC_BY_COLUMN[c].label)}</td><td class="name">{_e(e)}</td>'
        f'<td class="text">{_e(check.best)}</td><td class="text">{_e(check.method)}</td>'
        f"<td>{check.difference:+.4f}</td><td>[{check.low:+.4f}, {check.high:+.4f}]</td>"
        f'<td class="text">{_e({True: "within noise", False: "beyond noise", None: "not checked"}[check.within_noise])}</td></tr>'
        for (e, c), check in comparison.noise_flags.items()
    )
    return (
        "<details><summary>Noise checks against the best of each column "
        f"({len(comparison.noise_flags)})</summary><table><thead><tr><th>metric</th><th>experiment</th>"
        f"<th>best</th><th>method</th><th>difference</th><th>{1 - comparison.alpha:.0%} interval</th>"
        "<th>verdict</th></tr></thead>"
        f'<tbody>{rows}</tbody></table><p class="note">For the total ratio the difference is in the '
        "distance from 1 (negative: closer to 1 than the best).</p></details>"
    )


def _btyd_table(comparison: Comparison) -> str:
    columns = [s.column for s in METRICS if s.function is not None]
    rows = []
    for name, run in comparison.runs.items():
        values = [run.metrics.get(f"test_btyd_{c}", float("nan")) for c in columns]
        if not any(math.isfinite(v) for v in values):
            continue
        cells = "".join(
            f"<td>{v:.{METRIC_BY_COLUMN[c].digits}f}</td>" if math.isfinite(v) else "<td>-</td>"
            for v, c in zip(values, columns)
        )
        rows.append(f'<tr><td class="name">{_e(name)}</td>{cells}</tr>')
    if not rows:
        return ""
    head = "".join(f"<th>{_e(METRIC_BY_COLUMN[c].label)}</th>" for c in columns)
    return (
        "<h3>BG/NBD + Gamma-Gamma baseline on each run's test customers</h3>"
        f'<table><thead><tr><th class="name">run</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _gains_section(comparison: Comparison) -> str:
    from training.plots import gains_plot

    frames = _with_predictions(comparison)
    if not frames:
        return _missing("No run has test predictions, so no gains curves can be drawn.")
    shared = _shared_test_set(frames)
    parts = []
    for target, score, btyd, title, ylabel in (
        (
            "churned",
            "churn_probability",
            "btyd_p_no_purchase",
            "churners",
            "Share of churners captured",
        ),
        (
            "future_value",
            "predicted_value",
            "btyd_expected_value",
            "future value",
            "Share of future value captured",
        ),
    ):
        curves = {
            name: (f[target].to_numpy(float), f[score].to_numpy(float))
            for name, f in frames.items()
            if f[target].sum() > 0
        }
        first = next(iter(frames.values()))
        if shared and btyd in first and np.isfinite(first[btyd]).all() and first[target].sum() > 0:
            curves["BG/NBD baseline"] = (first[target].to_numpy(float), first[btyd].to_numpy(float))
        if not curves:
            parts.append(_missing(f"No {title} in the test sets: no gains curve."))
            continue
        fig = gains_plot(curves, ylabel=ylabel)
        fig.axes[0].set_title(f"Cumulative gains: {title} (ranked by the model's score)")
        parts.append(
            _image(
                fig,
                f"Cumulative gains of {title}, all experiments",
                f"Share of {title} captured when targeting the top x% of customers by each "
                f"experiment's score; the dashed diagonal is random targeting.",
            )
        )
    note = (
        ""
        if shared
        else _missing(
            "The runs scored different test customers or cutoffs; each curve is on its own test set."
        )
    )
    return f'<div class="grid">{"".join(parts)}</div>{note}'


def _calibration_section(comparison: Comparison) -> str:
    from training.plots import calibration_plot

    frames = _with_predictions(comparison)
    if not frames:
        return _missing("No run has test predictions, so no calibration curves can be drawn.")
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for name, frame in frames.items():
        calibration_plot(
            frame["churned"].to_numpy(int),
            frame["churn_probability"].to_numpy(float),
            ax=ax,
            label=name,
            show_histogram=False,
        )
    return _image(
        fig,
        "Calibration curves of all experiments",
        "Observed churn rate against the mean predicted probability in 10 equal-count bins; "
        "points on the dashed diagonal are perfectly calibrated. ECE: expected calibration error.",
    )


def _deciles_section(comparison: Comparison) -> str:
    from training.plots import decile_plot

    frames = _with_predictions(comparison)
    if not frames:
        return _missing("No run has test predictions, so no decile charts can be drawn.")
    parts = []
    for name, frame in frames.items():
        fig = decile_plot(
            frame["future_value"].to_numpy(float), frame["predicted_value"].to_numpy(float)
        )
        fig.axes[0].set_title(f"{name}: predicted vs actual value by decile")
        parts.append(
            f"<div><h3>{_e(name)}</h3>"
            + _image(
                fig,
                f"Decile chart of {name}",
                "Customers ranked by predicted value; decile 1 holds the highest predictions.",
            )
            + "</div>"
        )
    return f'<div class="grid">{"".join(parts)}</div>'


def _importance_section(comparison: Comparison) -> str:
    from training.plots import importance_diff_plot

    parts = []
    for model, label in (("churn", "churn model"), ("clv", "customer-value model")):
        series = {
            name: pd.Series(run.importance[model], dtype=float)
            for name, run in comparison.runs.items()
            if run.importance and run.importance.get(model)
        }
        if not series:
            parts.append(_missing(f"No feature importance logged for the {label}."))
            continue
        fig = importance_diff_plot(series, top=10)
        fig.axes[0].set_title(f"Feature importance of the {label} (share of total gain)")
        parts.append(
            _image(
                fig,
                f"Feature-importance differences, {label}",
                "Each experiment's importances as shares of its total; a feature an experiment "
                "does not use counts as 0.",
            )
            + _importance_changes(series)
        )
    return "".join(parts)


def _importance_changes(series: dict[str, pd.Series]) -> str:
    """Features some experiments lack or give no gain (the usual reason the bars differ)."""
    every = set().union(*(s.index for s in series.values()))
    rows = []
    for name, s in series.items():
        for what, features in (
            ("does not have", every - set(s.index)),
            ("has, but gains nothing from", set(s.index[s <= 0]) & every),
        ):
            if features:
                rows.append(f"<li>{_e(name)} {what}: {_e(_some(sorted(features)))}</li>")
    return f'<ul class="note">{"".join(rows)}</ul>' if rows else ""


def _some(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _cutoff_html(cutoffs: list) -> str:
    """Dates one per line; a long run of cutoffs as first .. last (n cutoffs)."""
    if not cutoffs:
        return "-"
    cutoffs = [str(c) for c in cutoffs]
    if len(cutoffs) <= 3:
        return "<br>".join(_e(c) for c in cutoffs)
    return f"{_e(cutoffs[0])} ..<br>{_e(cutoffs[-1])}<br>({len(cutoffs)} cutoffs)"


def _families(value: str | None) -> str:
    """``features.families`` as logged by training ("['rfm', 'btyd']") or backtests ("rfm,btyd")."""
    if not value:
        return "-"
    return ", ".join(
        part.strip(" '\"") for part in value.strip("[]()").split(",") if part.strip(" '\"")
    )


def _horizon_text(run: RunRecord) -> str:
    if "train_horizon_days" in run.params:
        return f"{run.horizon} (trained on {run.params['train_horizon_days']} d)"
    return run.horizon or "-"


def _data_section(comparison: Comparison) -> str:
    rows = []
    for name, run in comparison.runs.items():
        fp = run.fingerprint or {}
        cutoffs, counts = fp.get("cutoffs", {}), fp.get("rows", {})
        started = run.start_time.strftime("%Y-%m-%d %H:%M UTC") if run.start_time else "-"
        cells = [
            f'<td class="name">{_e(name)}</td>',
            f'<td class="text">{_e(run.kind or "?")} <code>{_e(run.run_id[:8])}</code><br>{_e(started)}</td>',
            f'<td class="text">{_e(run.data or "-")}</td>',
            f'<td class="text">{_e(_families(run.params.get("features.families")))}</td>',
            f'<td class="text">{_e(_horizon_text(run))}</td>',
            f'<td class="date">{_cutoff_html(cutoffs.get("train", []))}</td>',
            f'<td class="date">{_cutoff_html(cutoffs.get("valid", []))}</td>',
            f'<td class="date">{_cutoff_html(cutoffs.get("test", run.test_cutoffs))}</td>',
            *(f"<td>{_count(counts.get(split))}</td>" for split in ("train", "valid", "test")),
            f"<td>{_count(None if run.predictions is None else len(run.predictions))}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        '<tr><th class="name" rowspan=2>experiment</th><th rowspan=2>run</th><th rowspan=2>data</th>'
        "<th rowspan=2>features</th><th rowspan=2>horizon</th><th colspan=3>cutoffs</th>"
        "<th colspan=4>rows</th></tr><tr><th>train</th><th>valid</th><th>test</th><th>train</th>"
        "<th>valid</th><th>test</th><th>scored</th></tr>"
    )
    return (
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Rows: snapshot rows per split (one per customer and cutoff); scored: test '
        "customers with predictions (customers with a purchase before the cutoff), on which the metrics "
        "and plots above are computed.</p>"
    )


def _count(value) -> str:
    return "-" if value is None else f"{int(value):,}"


SECTION_BUILDERS: dict[str, Callable[[Comparison], str]] = {
    "summary": _summary_section,
    "table": _table_section,
    "gains": _gains_section,
    "calibration": _calibration_section,
    "deciles": _deciles_section,
    "importance": _importance_section,
    "data": _data_section,
}


def render_report(comparison: Comparison, title: str = "Experiment comparison") -> str:
    """The report as one HTML string."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(comparison.runs)
    nav = " | ".join(f'<a href="#{sid}">{_e(heading)}</a>' for sid, heading in SECTIONS)
    sections = "".join(
        f'<section id="{sid}"><h2>{_e(heading)}</h2>{SECTION_BUILDERS[sid](comparison)}</section>'
        for sid, heading in SECTIONS
    )
    store = f" from <code>{_e(comparison.tracking_uri)}</code>" if comparison.tracking_uri else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">Latest run of {_e(names)}{store}; generated {generated}.</p>'
        f'<nav class="meta">{nav}</nav>{sections}</body></html>\n'
    )


def write_report(comparison: Comparison, out: Path, title: str = "Experiment comparison") -> Path:
    """Write the self-contained HTML report to ``out`` (parent folders are created); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(comparison, title), encoding="utf-8")
    return out
