"""The churn side of the seasonal backtests, on calendar days and with BG/NBD alone on the clock.

    .venv/bin/python bench/seasonal_clock_comparison.py --syn3k /tmp/syn3k --syn10k /tmp/syn10k \\
      --retail /tmp/rs --out bench/results/seasonal_clock_comparison.json

(``lifecycle generate --customers 3000|10000 --seed 0``; the retail directory is
``bench/retail_export.py --variant seasonal --years 3`` ingested.) For each backtest of
``bench/results/backtest_synthetic.json`` and ``backtest_retail_seasonal.json``: LightGBM's churn
metrics with ``backtest(..., seasonal=False)`` ("calendar"), and those of BG/NBD alone refitted on
the seasonal clock ("btyd_seasonal_clock"; no LightGBM, no recalibration). docs/results.md,
section "The churn window on the base's seasonal clock".
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np

from training.backtest import backtest
from training.backtest_forecast import _customer_snapshots
from training.config import load_config
from training.dataset import BTYD_COLUMNS
from training.horizon_extension import p_no_purchase_on_clock
from training.metrics import expected_calibration_error, log_loss, roc_auc
from training.seasonality import seasonality_of

CHURN = ("churn_auc", "churn_brier", "churn_log_loss", "churn_ece", "truth_ece_vs_true_p")


def seasonal_btyd(data_dir: str, cutoff: date, horizon_days: int, cfg) -> dict[str, float]:
    """Churn metrics of BG/NBD refitted on the seasonal clock at ``cutoff``."""
    evaluation = _customer_snapshots(data_dir, [cutoff], cfg, horizon_days)
    history = evaluation.drop(columns=list(BTYD_COLUMNS))
    p = p_no_purchase_on_clock(history, seasonality_of(data_dir, cutoff), cutoff, horizon_days)
    y = evaluation["churned"].astype(int).to_numpy()
    return {
        "churn_auc": float(roc_auc(y, p)),
        "churn_brier": float(np.mean((p - y) ** 2)),
        "churn_log_loss": float(log_loss(y, p)),
        "churn_ece": float(expected_calibration_error(y, p)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--syn3k", "--syn10k", "--retail"):
        ap.add_argument(name, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    cfg = load_config(Path(__file__).resolve().parents[1] / "experiments/btyd-features.yaml")
    runs = [(a.syn3k, date(2025, m, 1), 180) for m in (1, 4, 7)] + [
        (a.syn10k, date(2025, 7, 1), 180)
    ]
    runs += [(a.retail, date(2025, 3, 1), 275), (a.retail, date(2025, 4, 1), 90)]
    runs += [(a.retail, date(2025, 7, 1), 180), (a.retail, date(2025, 10, 1), 90)]
    out = {}
    for data_dir, cutoff, horizon in runs:
        calendar = backtest(data_dir, cutoff, horizon, cfg, log=lambda *_: None, seasonal=False)
        key = f"{Path(data_dir).name} {cutoff} {horizon}"
        out[key] = {
            "calendar": {k: calendar.lightgbm[k] for k in CHURN if k in calendar.lightgbm},
            "btyd_seasonal_clock": seasonal_btyd(data_dir, cutoff, horizon, cfg),
        }
        print(key, json.dumps(out[key]), flush=True)
    a.out.write_text(
        json.dumps({"description": __doc__.splitlines()[0], "backtests": out}, indent=1)
    )


if __name__ == "__main__":
    main()
