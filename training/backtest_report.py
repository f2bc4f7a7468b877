"""Markdown tables of backtests (``bench/results/backtest_*.json``): LightGBM and BTYD side by side.

One table per backtest (:func:`metrics_table`): churn AUC, Brier, log loss, ECE (and, on
synthetic data, ECE against the generator's true churn probability), CLV MAE, Spearman, Gini,
total predicted/actual, range coverage and mean width; and the range coverage per stage and
value segment (:func:`coverage_table`). ``python -m training.backtest_report FILE...`` prints them
for backtest JSON files (one backtest, or ``{"backtests": [...]}`` for several cutoffs).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

#: (label, metric key, format, higher is better) of the side-by-side table.
ROWS: tuple[tuple[str, str, str, bool | None], ...] = (
    ("churn AUC", "churn_auc", ".3f", True),
    ("Brier", "churn_brier", ".4f", False),
    ("log loss", "churn_log_loss", ".4f", False),
    ("ECE (vs outcomes)", "churn_ece", ".3f", False),
    ("ECE vs true probability", "truth_ece_vs_true_p", ".3f", False),
    ("CLV MAE", "clv_mae", ".2f", False),
    ("Spearman", "clv_spearman", ".3f", True),
    ("Gini", "clv_gini", ".3f", True),
    ("total predicted / actual", "clv_total_ratio", ".3f", None),
    ("80% range coverage", "clv_interval_coverage", ".3f", None),
    ("attainable coverage", "clv_interval_attainable", ".3f", None),
    ("mean range width", "clv_interval_width", ".2f", False),
)


def backtests(data: dict) -> list[dict]:
    """The backtest summaries of one JSON document (one backtest or ``{"backtests": [...]}``)."""
    return list(data["backtests"]) if "backtests" in data else [data]


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _cell(value: float | None, spec: str, bold: bool) -> str:
    if not _known(value):
        return "n/a"
    text = format(value, spec)
    return f"**{text}**" if bold else text


def metrics_table(summary: dict) -> str:
    """LightGBM vs BG/NBD + Gamma-Gamma on one backtest; the better of the two in bold (the total
    ratio: the one closer to 1)."""
    models = summary["models"]
    lgbm, btyd = models["lightgbm"], models["btyd"]
    lines = ["| metric | LightGBM | BG/NBD + Gamma-Gamma |", "|---|---|---|"]
    for label, key, spec, higher in ROWS:
        a, b = lgbm.get(key), btyd.get(key)
        if a is None and b is None:
            continue
        better_a = better_b = False
        if _known(a) and _known(b) and a != b:
            if key == "clv_total_ratio":
                better_a, better_b = abs(a - 1) < abs(b - 1), abs(b - 1) < abs(a - 1)
            elif higher is not None:
                better_a = (a > b) == higher
                better_b = not better_a
        lines.append(f"| {label} | {_cell(a, spec, better_a)} | {_cell(b, spec, better_b)} |")
    return "\n".join(lines)


def coverage_table(summary: dict, model: str = "lightgbm", level: float = 0.8) -> str:
    """Range coverage of ``model`` per stage and value segment: customers, coverage (attainable
    in brackets where above ``level``; misses by more than 3 points in bold) and mean width."""
    ranges = (summary.get("ranges") or {}).get(model)
    if not ranges:
        return "(no ranges: no pseudo-backtest fits before the cutoff)"
    lines = ["| grouping | group | customers | coverage | mean width |", "|---|---|---|---|---|"]
    for grouping in ("group", "mondrian_group", "stage", "value_segment"):
        for label, row in (ranges.get(grouping) or {}).items():
            target = max(level, row.get("attainable", level))
            text = f"{row['coverage']:.3f}"
            if abs(row["coverage"] - target) > 0.03:
                text = f"**{text}**"
            if row.get("attainable", 0.0) > level:
                text += f" ({row['attainable']:.3f})"
            lines.append(
                f"| {grouping} | {label} | {row['customers']:,} | {text} | {row['width']:.2f} |"
            )
    return "\n".join(lines)


def report(data: dict) -> str:
    """Both tables for every backtest of a JSON document, headed by data set, cutoff and horizon."""
    parts = []
    for summary in backtests(data):
        parts.append(
            f"**{summary['dataset']}, cutoff {summary['cutoff']}, {summary['horizon_days']} days, "
            f"{summary['n_customers']:,} customers**\n\n{metrics_table(summary)}\n\n"
            f"{coverage_table(summary)}\n"
        )
    return "\n".join(parts)


def main(paths: list[str]) -> None:
    for path in paths:
        print(report(json.loads(Path(path).read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
