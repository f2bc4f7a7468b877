"""Uplift plots of held-out customers: Qini curves of every ranking, and uplift by score decile.

Built like ``training.plots`` (``matplotlib.figure.Figure``, no pyplot, no global state). The
uplift run writes them as PNGs under ``uplift_plots/`` of its MLflow run
(``qini_<action>_<outcome>.png``, ``uplift_<action>_<outcome>.png``); the comparison report
(``experiments.report``) shows them for the compared runs that have them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from training.plots import figure_and_axes, figure_to_png_bytes
from training.uplift_metrics import qini_curve

PLOTS_DIR = "uplift_plots"
#: Columns of a held-out score frame that are not rankings.
NOT_SCORES = ("y", "treated")


def qini_plot(
    y: ArrayLike,
    treated: ArrayLike,
    scores: Mapping[str, ArrayLike],
    ax: Axes | None = None,
    *,
    what: str = "outcome",
) -> Figure:
    """Qini curve of each ranking (extra ``what`` among the treated of the top n, relative to the
    control rate there) and the random line; a constant score (treat everyone) is that line."""
    fig, ax = figure_and_axes(ax, (7, 5))
    end = None
    for name, score in scores.items():
        n, q = qini_curve(y, treated, score)
        style: dict[str, Any] = (
            {"linestyle": ":", "color": "black"} if name.startswith("truth") else {}
        )
        ax.plot(n / n[-1], q, label=name, linewidth=1.6, **style)
        end = q[-1]
    if end is not None:
        ax.plot(
            [0, 1],
            [0, end],
            linestyle="--",
            color="grey",
            linewidth=1,
            label="random / treat everyone",
        )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("Share of held-out customers contacted (ranked by score)")
    ax.set_ylabel(f"Extra {what} (Qini)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def uplift_by_decile(
    y: ArrayLike, treated: ArrayLike, score: ArrayLike, bins: int = 10
) -> pd.DataFrame:
    """Per decile of the score (1 = highest): treated and control means, their difference,
    counts."""
    y, treated, score = np.asarray(y, float), np.asarray(treated, bool), np.asarray(score, float)
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(y), dtype=int)
    decile[order] = np.arange(len(y)) * bins // max(len(y), 1) + 1
    rows = []
    for d in range(1, bins + 1):
        on = decile == d
        t, c = y[on & treated], y[on & ~treated]
        mean_t = float(t.mean()) if len(t) else float("nan")
        mean_c = float(c.mean()) if len(c) else float("nan")
        rows.append(
            {
                "decile": d,
                "treated_mean": mean_t,
                "control_mean": mean_c,
                "uplift": mean_t - mean_c,
                "n_treated": len(t),
                "n_control": len(c),
            }
        )
    return pd.DataFrame(rows)


def uplift_plot(
    y: ArrayLike,
    treated: ArrayLike,
    score: ArrayLike,
    ax: Axes | None = None,
    *,
    what: str = "outcome",
) -> Figure:
    """Observed uplift (treated mean - control mean) per decile of the estimated effect, with the
    overall uplift as a line: a good model's bars fall from left to right."""
    fig, ax = figure_and_axes(ax, (7, 4.5))
    table = uplift_by_decile(y, treated, score)
    colors = ["tab:green" if u >= 0 else "tab:red" for u in table["uplift"].fillna(0)]
    ax.bar(table["decile"], table["uplift"].fillna(0), color=colors)
    y_arr, t_arr = np.asarray(y, float), np.asarray(treated, bool)
    overall = y_arr[t_arr].mean() - y_arr[~t_arr].mean() if t_arr.any() and (~t_arr).any() else 0.0
    ax.axhline(
        overall, color="grey", linestyle="--", linewidth=1, label=f"all customers: {overall:+.3g}"
    )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(table["decile"])
    ax.set_xlabel("Decile of estimated effect (1 = highest)")
    ax.set_ylabel(f"Observed uplift in {what} (treated - control)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def write_plot_files(
    held_out: Mapping[tuple[str, str], pd.DataFrame], folder: Path, model: str
) -> list[Path]:
    """PNGs of :func:`qini_plot` (all rankings) and :func:`uplift_plot` (``model``'s score) per
    (action, outcome) into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for (action, outcome), frame in sorted(held_out.items()):
        y, treated = frame["y"].to_numpy(float), frame["treated"].to_numpy(bool)
        scores = {c: frame[c].to_numpy(float) for c in frame.columns if c not in NOT_SCORES}
        what = "retained customers" if outcome == "retained" else "value"
        fig = qini_plot(y, treated, scores, what=what)
        fig.axes[0].set_title(f"Qini: {action} vs control, {outcome} (held-out customers)")
        written.append(_write(fig, folder / f"qini_{action}_{outcome}.png"))
        if model in scores:
            fig = uplift_plot(y, treated, scores[model], what=what)
            fig.axes[0].set_title(f"Uplift by decile: {action} vs control, {outcome} ({model})")
            written.append(_write(fig, folder / f"uplift_{action}_{outcome}.png"))
    return written


def _write(fig: Figure, path: Path) -> Path:
    path.write_bytes(figure_to_png_bytes(fig))
    return path
