"""Tests for training.plots: figure structure, headless rendering, no global state."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from training.plots import (
    PNG_SIGNATURE,
    calibration_plot,
    decile_plot,
    feature_importance_plot,
    figure_to_base64,
    figure_to_png_bytes,
    gains_plot,
    importance_diff_plot,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def churn_sample():
    rng = np.random.default_rng(0)
    probability = rng.random(400)
    churned = (rng.random(400) < probability).astype(int)
    return churned, probability


@pytest.fixture
def value_sample():
    rng = np.random.default_rng(1)
    actual = rng.gamma(0.5, 100, 400)
    return actual, actual * np.exp(rng.normal(0, 0.5, 400))


@pytest.fixture
def importance():
    return pd.Series(
        [5.0, -9.0, 1.0, 7.0, 3.0, 0.5],
        index=[
            "recency_days",
            "frequency_90d",
            "region",
            "monetary_365d",
            "tenure_days",
            "complaints_90d",
        ],
    )


def new_axes():
    return Figure().add_subplot()


def bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------- calibration


def test_calibration_plot_draws_curve_diagonal_and_histogram(churn_sample):
    fig = calibration_plot(*churn_sample, label="lgbm")
    assert isinstance(fig, Figure)
    main = fig.axes[0]
    assert len(main.get_lines()) == 2
    assert len(fig.axes) == 2  # twin axis with the histogram of predictions
    texts = legend_texts(main)
    assert texts[0] == "perfectly calibrated" and texts[1].startswith("lgbm (ECE ")
    assert main.get_xlabel() and main.get_ylabel() and main.get_title()


def test_calibration_plot_overlays_models_on_a_given_ax(churn_sample):
    churned, probability = churn_sample
    ax = new_axes()
    fig = calibration_plot(churned, probability, ax=ax, label="calibrated")
    assert fig is ax.figure
    calibration_plot(churned, probability**2, ax=ax, label="raw", show_histogram=False)
    assert len(ax.get_lines()) == 3  # one diagonal, two curves
    assert len(fig.axes) == 2


def test_calibration_plot_curve_has_one_point_per_bin(churn_sample):
    fig = calibration_plot(*churn_sample, n_bins=5, strategy="uniform", show_histogram=False)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()[1].get_xdata()) == 5


# --------------------------------------------------------------------------- gains


def test_gains_plot_several_models_and_random_baseline(churn_sample, value_sample):
    churned, probability = churn_sample
    fig = gains_plot({"lgbm": (churned, probability), "baseline": (churned, 1 - probability)})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 + 1  # two models, random, 10% marker
    texts = legend_texts(ax)
    assert texts[0].startswith("lgbm (top 10%:") and texts[-1] == "random"


def test_gains_plot_single_model_on_given_ax(value_sample):
    ax = new_axes()
    fig = gains_plot(*value_sample, ax=ax, ylabel="Share of value captured")
    assert fig is ax.figure
    assert legend_texts(ax)[0].startswith("model")
    assert ax.get_ylabel() == "Share of value captured"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (({"a": ([1, 0], [0.2, 0.1])}, [0.1, 0.2]), "score must be None"),
        (([1, 0],), "score is required"),
        (({},), "at least one"),
        (({"a": ([1, 0], [0.2])},), "actual_or_labels has 2, score has 1"),
    ],
)
def test_gains_plot_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        gains_plot(*args)


# --------------------------------------------------------------------------- deciles


def test_decile_plot_has_predicted_and_actual_bars_per_decile(value_sample):
    fig = decile_plot(*value_sample)
    ax = fig.axes[0]
    containers = bars(ax)
    assert len(containers) == 2 and all(len(c) == 10 for c in containers)
    assert legend_texts(ax) == ["mean predicted", "mean actual"]
    assert "Decile" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(d) for d in range(1, 11)]


def test_decile_plot_on_given_ax(value_sample):
    ax = new_axes()
    assert decile_plot(*value_sample, ax=ax) is ax.figure


def test_decile_plot_long_value_axis_label_fits_in_the_picture(value_sample):
    """The comparison report's axis names the value, its unit and its days: on one line it ran
    past the top of the 4.5-inch chart, cut off in the PNG ("next 180 day")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    label = "Mean revenue per customer (data's currency), next 1095 days"
    fig = decile_plot(*value_sample, ylabel=label)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.axes[0].yaxis.label.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.y0 >= 0
    assert box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert " ".join(fig.axes[0].get_ylabel().split()) == label  # wrapped, every word kept


# --------------------------------------------------------------------------- importance


def test_feature_importance_plot_top_features_largest_first(importance):
    fig = feature_importance_plot(importance, top=3)
    ax = fig.axes[0]
    (container,) = bars(ax)
    assert len(container) == 3
    by_height = sorted(
        zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True),
        reverse=True,
    )
    assert [label for _, label in by_height] == ["frequency_90d", "monetary_365d", "recency_days"]
    assert [bar.get_width() for bar in sorted(container, key=lambda b: -b.get_y())] == [
        -9.0,
        7.0,
        5.0,
    ]
    assert "top 3" in ax.get_title()


def test_feature_importance_plot_on_given_ax_and_validates(importance):
    ax = new_axes()
    assert feature_importance_plot(importance, ax=ax) is ax.figure
    assert len(bars(ax)[0]) == len(importance)
    with pytest.raises(TypeError, match="pandas Series"):
        feature_importance_plot({"a": 1.0})


def test_importance_diff_plot_groups_bars_by_experiment(importance):
    other = importance.drop("recency_days") * 10
    fig = importance_diff_plot({"rfm": other, "rfm+engagement": importance}, top=4)
    ax = fig.axes[0]
    containers = bars(ax)
    assert len(containers) == 2 and all(len(c) == 4 for c in containers)
    assert legend_texts(ax) == ["rfm", "rfm+engagement"]
    assert "Share" in ax.get_xlabel()
    widths = [abs(bar.get_width()) for c in containers for bar in c]
    assert max(widths) <= 1


def test_importance_diff_plot_missing_feature_counts_as_zero(importance):
    fig = importance_diff_plot(
        {"a": importance.drop("frequency_90d"), "b": importance}, top=1, normalize=False
    )
    first, second = bars(fig.axes[0])
    assert first[0].get_width() == 0 and second[0].get_width() == -9.0


# --------------------------------------------------------------------------- export


def test_png_bytes_and_base64(value_sample):
    png = figure_to_png_bytes(decile_plot(*value_sample))
    assert png.startswith(PNG_SIGNATURE)
    encoded = figure_to_base64(decile_plot(*value_sample))
    assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)


def test_png_export_closes_pyplot_figures(value_sample):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    decile_plot(*value_sample, ax=ax)
    assert fig.number in plt.get_fignums()
    assert figure_to_png_bytes(fig).startswith(PNG_SIGNATURE)
    assert fig.number not in plt.get_fignums()


def test_plots_render_headless_without_touching_pyplot():
    """In a fresh interpreter without MPLBACKEND: import and plot leave pyplot unloaded."""
    script = (
        "import sys, numpy as np\n"
        "import training.plots as plots\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "y = np.array([0, 1, 0, 1, 1]); p = np.array([0.1, 0.8, 0.3, 0.6, 0.9])\n"
        "png = plots.figure_to_png_bytes(plots.calibration_plot(y, p))\n"
        "assert png.startswith(plots.PNG_SIGNATURE)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_chinese_labels_take_an_installed_cjk_font_or_are_said_once(monkeypatch):
    """Action names in Chinese: an installed CJK font is put behind DejaVu Sans for those texts
    only; without one, the boxes are one warning per process, not one per glyph and plot."""
    import warnings

    from matplotlib.figure import Figure

    from training import plots

    def chinese_figure() -> tuple[Figure, object, object]:
        fig = Figure()
        ax = fig.add_subplot()
        return fig, ax.set_title("优惠券"), ax.set_xlabel("call")

    monkeypatch.setattr(plots, "CJK_FONTS", ("No Such Font", "DejaVu Serif"))  # one installed
    fig, title, latin = chinese_figure()
    plots._with_cjk_fallback(fig)
    assert title.get_fontfamily() == ["DejaVu Sans", "DejaVu Serif"]
    assert latin.get_fontfamily() != ["DejaVu Sans", "DejaVu Serif"]
    bars = Figure()
    axes = bars.add_subplot()
    axes.barh(["电话", "email"], [1.0, 2.0])  # categorical: tick texts exist once drawn
    plots._with_cjk_fallback(bars)
    ticks = {t.get_text(): t.get_fontfamily() for t in axes.get_yticklabels()}
    assert ticks["电话"] == ["DejaVu Sans", "DejaVu Serif"] and ticks["email"] != ticks["电话"]

    monkeypatch.setattr(plots, "CJK_FONTS", ("No Such Font",))
    monkeypatch.setattr(plots, "_MISSING_GLYPHS_SAID", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert plots.figure_to_png_bytes(chinese_figure()[0]).startswith(plots.PNG_SIGNATURE)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert messages[0].startswith("plots: 3 characters (优券惠) have no installed font")
