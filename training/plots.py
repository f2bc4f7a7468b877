"""Evaluation plots for churn and customer-value models.

Every function takes data and an optional ``ax`` and returns the ``Figure``; none calls
``show()``. Figures are built with ``matplotlib.figure.Figure`` (not pyplot), so they
render headless with Agg, never open a window, and importing this module or plotting
changes no global matplotlib state (backend, pyplot's figure list, rcParams).
"""

from __future__ import annotations

import base64
import io
import sys
import textwrap
from collections.abc import Collection, Mapping
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from training.metrics import (
    TOP_FRACTION,
    BinStrategy,
    calibration_bins,
    decile_table,
    expected_calibration_error,
    gains_curve,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GainsCurves = Mapping[str, tuple[ArrayLike, ArrayLike]]


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Use the caller's ``ax`` or make a new, pyplot-free figure with one axes."""
    if ax is not None:
        figure = ax.get_figure(root=True)
        if figure is None:
            raise ValueError("ax must belong to a figure")
        return figure, ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


#: A legend label longer than this (characters) does not fit inside a 6-inch plot's corner.
LONG_LABEL = 40


def place_legend(ax: Axes, loc: Literal["lower right", "upper left"]) -> None:
    """The legend at ``loc`` inside the axes, or under them when a label is too long for that
    (it ran off the picture's edge, cut: several runs' names with their shares captured)."""
    labels = ax.get_legend_handles_labels()[1]
    if max(map(len, labels), default=0) <= LONG_LABEL:
        ax.legend(loc=loc)
    else:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small")


def _unit_square(ax: Axes) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)


def calibration_plot(
    y: ArrayLike,
    p: ArrayLike,
    ax: Axes | None = None,
    label: str | None = None,
    *,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
    show_histogram: bool = True,
    color: str | None = None,
    linestyle: str = "-",
) -> Figure:
    """Reliability curve (observed churn rate vs mean predicted probability per bin).

    Draws the diagonal of perfect calibration and, on a twin axis, a histogram of the
    predicted probabilities. To overlay several models on one ``ax``, pass
    ``show_histogram=False`` after the first; ``color`` keeps a model's colour across plots.
    """
    table = calibration_bins(y, p, n_bins=n_bins, strategy=strategy)
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    figure, ax = figure_and_axes(ax, (6, 5))
    if not any(line.get_label() == "perfectly calibrated" for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(
        table["mean_predicted"],
        table["observed_rate"],
        marker="o",
        label=f"{label or 'model'} (ECE {ece:.3f})",
        color=color,
        linestyle=linestyle,
    )
    if show_histogram:
        _probability_histogram(ax, np.asarray(p, dtype=float))
    _unit_square(ax)
    ax.set_xlabel("Mean predicted churn probability (per bin)")
    ax.set_ylabel("Observed churn rate")
    ax.set_title(
        f"Calibration ({n_bins} {'equal-count' if strategy == 'quantile' else 'equal-width'} bins)"
    )
    ax.legend(loc="upper left")
    return figure


def _probability_histogram(ax: Axes, probability: np.ndarray) -> None:
    """Grey histogram of predictions on a twin axis, drawn behind the curves."""
    counts_ax = ax.twinx()
    counts_ax.hist(probability, bins=20, range=(0, 1), color="grey", alpha=0.25)
    counts_ax.set_ylabel("Customers per 0.05 of probability", color="grey")
    counts_ax.tick_params(axis="y", colors="grey")
    counts_ax.set_ylim(0, counts_ax.get_ylim()[1] * 3)  # keep bars in the bottom third
    ax.set_zorder(counts_ax.get_zorder() + 1)
    ax.patch.set_visible(False)


def gains_plot(
    curves: GainsCurves | ArrayLike,
    score: ArrayLike | None = None,
    ax: Axes | None = None,
    *,
    ylabel: str = "Share of churners / value captured",
    colors: Mapping[str, str] | None = None,
    at_base_rate: bool = False,
    dashed: Collection[str] = (),
) -> Figure:
    """Cumulative gains of one or several models against the random baseline.

    ``curves`` is ``{name: (actual_or_labels, score)}`` for several models or
    experiments, or the actual values/labels with ``score`` given for a single model;
    ``colors`` (name -> colour) keeps an experiment's colour across plots. Each curve's label
    gives the share captured in the top 10%, or with ``at_base_rate`` in the top (its own churn
    rate): where most customers churn, the top 10% can hold only a few of them. The curves named
    in ``dashed`` are drawn dashed (one that would hide under an equal one).
    """
    named = _named_curves(curves, score)
    figure, ax = figure_and_axes(ax, (6, 5))
    empty = [
        name for name, (actual, _) in named.items() if not np.nansum(np.asarray(actual, float))
    ]
    if empty:  # nobody churned (or spent): there is nothing a ranking could capture
        ax.text(
            0.5,
            0.5,
            f"no gains curve for {', '.join(empty)}: these customers hold no churner or value",
            ha="center",
            va="center",
            wrap=True,
        )
    for name, (actual, model_score) in named.items():
        if name in empty:
            continue
        targeted, captured = gains_curve(actual, model_score)
        if at_base_rate:
            rate = float(np.mean(np.asarray(actual, float) > 0))
            at = float(np.interp(rate, targeted, captured))
            label = f"{name} ({rate:.0%} churned; top {rate:.0%}: {at:.0%})"
        else:
            top = float(np.interp(TOP_FRACTION, targeted, captured))
            label = f"{name} (top 10%: {top:.0%})"
        style = "--" if name in dashed else "-"
        ax.plot(targeted, captured, label=label, color=(colors or {}).get(name), linestyle=style)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    _unit_square(ax)
    ax.axvline(TOP_FRACTION, color="grey", linewidth=0.8, alpha=0.5)
    ax.set_xlabel("Share of customers targeted (highest score first)")
    ax.set_ylabel(ylabel)
    ax.set_title("Cumulative gains")
    place_legend(ax, "lower right")
    return figure


def _named_curves(
    curves: GainsCurves | ArrayLike, score: ArrayLike | None
) -> dict[str, tuple[ArrayLike, ArrayLike]]:
    if isinstance(curves, Mapping):
        if score is not None:
            raise ValueError(
                "score must be None when curves is a mapping of name -> (actual, score)"
            )
        if not curves:
            raise ValueError("curves must contain at least one model")
        return dict(curves)
    if score is None:
        raise ValueError("score is required when curves is an array of actual values or labels")
    return {"model": (curves, score)}


def decile_plot(
    actual: ArrayLike,
    predicted: ArrayLike,
    ax: Axes | None = None,
    *,
    ylabel: str = "Mean value per customer",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Bars of mean predicted and mean actual value per decile (1 = highest predicted).
    ``ylim``: a y-range shared with the charts shown beside it, so bar heights compare."""
    table = decile_table(actual, predicted)
    figure, ax = figure_and_axes(ax, (7, 4.5))
    width = 0.4
    ax.bar(table["decile"] - width / 2, table["mean_predicted"], width, label="mean predicted")
    ax.bar(table["decile"] + width / 2, table["mean_actual"], width, label="mean actual")
    ax.set_xticks(table["decile"])
    ax.set_xlabel("Decile of predicted value (1 = highest)")
    # a label naming value, unit and days runs past a 4.5-inch chart on one line
    ax.set_ylabel(textwrap.fill(ylabel, 40))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title("Predicted vs actual value by decile")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return figure


def _top_features(importance: pd.Series, top: int) -> pd.Series:
    if not isinstance(importance, pd.Series):
        raise TypeError(
            "importance must be a pandas Series indexed by feature, got "
            f"{type(importance).__name__}"
        )
    if top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    return importance.loc[importance.abs().sort_values(ascending=False).index[:top]]


def feature_importance_plot(
    importance: pd.Series,
    top: int = 20,
    ax: Axes | None = None,
    *,
    xlabel: str = "Importance",
) -> Figure:
    """Horizontal bars of the ``top`` features by absolute importance, largest at the top."""
    shown = _top_features(importance, top)
    figure, ax = figure_and_axes(ax, (7, 1.5 + 0.3 * len(shown)))
    positions = np.arange(len(shown))[::-1]
    ax.barh(positions, shown.to_numpy(dtype=float))
    ax.set_yticks(positions, [str(name) for name in shown.index])
    ax.set_xlabel(xlabel)
    ax.set_title(f"Feature importance (top {len(shown)})")
    ax.grid(True, axis="x", alpha=0.3)
    return figure


def importance_diff_plot(
    importances: Mapping[str, pd.Series],
    top: int = 20,
    ax: Axes | None = None,
    *,
    normalize: bool = True,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Grouped horizontal bars comparing feature importance across experiments.

    Features are the ``top`` by largest importance in any experiment; a feature an
    experiment lacks counts as 0. With ``normalize`` each experiment is scaled to shares of
    its total absolute importance, so models of different size compare. ``colors``
    (name -> colour) keeps an experiment's colour across plots.
    """
    if not importances:
        raise ValueError("importances must contain at least one experiment")
    table = pd.DataFrame({name: series for name, series in importances.items()}).fillna(0.0)
    if normalize:
        table = table / table.abs().sum().replace(0, np.nan)
    order = table.abs().max(axis=1).sort_values(ascending=False).index[:top]
    table = table.loc[order]
    figure, ax = figure_and_axes(ax, (8, 1.5 + 0.2 * len(table) * len(table.columns)))
    height = 0.8 / len(table.columns)
    base = np.arange(len(table))[::-1]
    for i, name in enumerate(table.columns):
        ax.barh(
            base + 0.4 - height * (i + 0.5),
            table[name].to_numpy(dtype=float),
            height,
            label=str(name),
            color=(colors or {}).get(str(name)),
        )
    ax.set_yticks(base, [str(name) for name in table.index])
    ax.set_xlabel("Share of total importance" if normalize else "Importance")
    ax.set_title(f"Feature importance by experiment (top {len(table)})")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return figure


def _close(figure: Figure) -> None:
    """Release a figure from pyplot's registry if it was made there (no-op otherwise)."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(figure)


#: Installed fonts tried, in order, for characters DejaVu Sans (matplotlib's own) lacks: the
#: Chinese action names and segments of a Fxiaoke or Zoho CN export.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)
_MISSING_GLYPHS_SAID: list[bool] = []  # the boxes are said once per process, not per glyph


def _with_cjk_fallback(fig: Figure) -> None:
    """Texts beyond Latin script drawn with DejaVu Sans, then the first installed ``CJK_FONTS``
    (matplotlib falls back glyph by glyph along the family list)."""
    from matplotlib import font_manager
    from matplotlib.text import Text

    fig.draw_without_rendering()  # tick labels of categorical axes get their text when drawn
    texts = [t for t in fig.findobj(Text) if any(ord(ch) > 0x2FFF for ch in t.get_text())]
    if not texts:
        return
    installed = {f.name for f in font_manager.fontManager.ttflist}
    fallback = [name for name in CJK_FONTS if name in installed]
    for text in texts:
        text.set_fontfamily(["DejaVu Sans", *fallback])


def figure_to_png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (Agg, no display needed) and close it. Chinese text takes an
    installed CJK font; without one it shows as boxes, said once instead of once per glyph."""
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=r"Glyph \d+ .* missing from font")
        _with_cjk_fallback(fig)
        fig.savefig(buffer, format="png", dpi=dpi)
    _close(fig)
    missing = [w for w in caught if "missing from font" in str(w.message)]
    for other in caught:
        if other not in missing:
            warnings.warn_explicit(
                other.message, other.category, other.filename, other.lineno, source=other.source
            )
    if missing and not _MISSING_GLYPHS_SAID:
        import re

        _MISSING_GLYPHS_SAID.append(True)
        glyphs = sorted(
            {chr(int(n)) for w in missing for n in re.findall(r"Glyph (\d+)", str(w.message))}
        )
        shown = "".join(glyphs[:8]) + ("..." if len(glyphs) > 8 else "")
        warnings.warn(
            f"plots: {len(glyphs)} characters ({shown}) have no installed font and show as "
            "boxes; install a CJK font such as "
            f"{CJK_FONTS[0]} (Linux: fonts-noto-cjk) for readable Chinese labels",
            stacklevel=2,
        )
    return buffer.getvalue()


def figure_to_base64(fig: Figure, dpi: int = 100) -> str:
    """PNG of ``fig`` as base64 text, for ``<img src="data:image/png;base64,...">``; closes it."""
    return base64.b64encode(figure_to_png_bytes(fig, dpi=dpi)).decode("ascii")
