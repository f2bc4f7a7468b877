"""Where a backtest's pseudo-backtest lies: the latest window, the one before, a year earlier.

    .venv/bin/python bench/calibration_window_comparison.py --syn3k /tmp/syn3k \\
      --syn10k /tmp/syn10k --retail /tmp/rs --cdnow data/cdnow \\
      --out bench/results/calibration_window_comparison.json

(``lifecycle generate --customers 3000|10000 --seed 0``; the retail directory is
``bench/retail_export.py --variant seasonal --years 3`` ingested; CDNOW ``make ingest-cdnow``.)
For each backtest of ``bench/results/backtest_synthetic.json``, ``backtest_retail_seasonal.json``
and ``backtest_cdnow.json``: the models are fitted once at the cutoff, and the churn
recalibration and the value ranges are fitted on the pseudo-backtest in each candidate window
(each a full refit whose outcomes end by the cutoff), alone and pooled: ``latest``
(``[C - H', C)``), ``previous`` (``[C - 2H', C - H')``), ``same_season`` (52 weeks before ``C``,
``training.backtest_plan.SEASON_LAG_DAYS``). docs/results.md, section "Calibrated in the same
season a year earlier".
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from serving.scoring import range_groups
from training.backtest_forecast import fit_and_forecast
from training.backtest_plan import SEASON_LAG_DAYS, plan_backtest, pseudo_backtest_plan
from training.calibration import LogOddsCalibration
from training.clv_intervals import MIN_GROUP_ROWS, backtest_ranges
from training.config import load_config
from training.dataset import data_bounds
from training.metrics import expected_calibration_error, log_loss
from training.seasonality import seasonality_of
from training.train import truth_check

OPTIONS = {
    "latest": ("latest",),
    "previous": ("previous",),
    "same_season": ("same_season",),
    "latest+previous": ("latest", "previous"),
    "latest+same_season": ("latest", "same_season"),
    "all_three": ("latest", "previous", "same_season"),
}
OFF = 0.03  # a group is "off" when its coverage is this far from max(level, attainable)


def _forecast(data_dir, plan, cfg, season):
    fitted = fit_and_forecast(data_dir, plan, cfg, season)
    return fitted, fitted.anchored_value()


def windows(data_dir, cutoff: date, horizon: int, cfg, season) -> dict:
    """The pseudo-backtests that fit before ``cutoff``: name -> (plan, forecast, value)."""
    start, _ = data_bounds(data_dir)
    latest = pseudo_backtest_plan(start, cutoff, horizon, cfg)
    if latest is None:
        raise SystemExit(f"{data_dir}: no pseudo-backtest fits before {cutoff}")
    plans = {"latest": latest}
    same = pseudo_backtest_plan(start, cutoff, horizon, cfg, season)
    if same is not None and same.cutoff != latest.cutoff:
        plans["same_season"] = same
    earlier = latest.cutoff - timedelta(days=latest.horizon_days)
    try:
        plans["previous"] = plan_backtest(start, earlier, latest.horizon_days, cfg)
    except ValueError:
        pass
    return {name: (plan, *_forecast(data_dir, plan, cfg, season)) for name, plan in plans.items()}


def measure(data_dir, cutoff: date, horizon: int, cfg) -> dict:
    season = seasonality_of(data_dir, cutoff)
    start, _ = data_bounds(data_dir)
    main, value = _forecast(data_dir, plan_backtest(start, cutoff, horizon, cfg), cfg, season)
    evaluation = main.evaluation
    y = evaluation["churned"].astype(int).to_numpy()
    groupings = range_groups(evaluation, main.churn_probability, value)
    candidates = windows(data_dir, cutoff, horizon, cfg, season)
    out = {
        "seasonality_found": season.found,
        "windows": {
            k: {"cutoff": p.cutoff.isoformat(), "horizon_days": p.horizon_days}
            for k, (p, _, _) in candidates.items()
        },
    }
    for option, parts in OPTIONS.items():
        if not all(p in candidates for p in parts):
            continue
        pseudo = pd.concat([candidates[p][1].evaluation for p in parts], ignore_index=True)
        p_pseudo = np.concatenate([candidates[p][1].churn_probability for p in parts])
        v_pseudo = np.concatenate([candidates[p][2] for p in parts])
        fitted = LogOddsCalibration.fit(p_pseudo, pseudo["churned"].astype(int).to_numpy())
        p = fitted.apply(main.churn_probability)
        truth = truth_check(data_dir, evaluation, p, horizon)
        ranges = backtest_ranges(
            pseudo,
            v_pseudo,
            evaluation,
            value,
            level=cfg.clv.interval_level,
            bins=cfg.clv.interval_bins,
            pseudo_horizon_days=candidates[parts[0]][0].horizon_days,
            horizon_days=horizon,
            groupings=groupings,
        ).report["lightgbm"]
        gaps = [
            group["coverage"] - group.get("attainable", cfg.clv.interval_level)
            for grouping in ("stage", "value_segment", "mondrian_group")
            for group in ranges[grouping].values()
            if group["customers"] >= MIN_GROUP_ROWS
        ]
        out[option] = {
            "churn_log_loss": float(log_loss(y, p)),
            "churn_ece": float(expected_calibration_error(y, p)),
            "truth_ece_vs_true_p": truth.get("truth_ece_vs_true_p"),
            "coverage": ranges["coverage"],
            "attainable": ranges["attainable"],
            "width": ranges["width"],
            "groups": len(gaps),
            "groups_off": int(sum(abs(g) > OFF for g in gaps)),
            "mean_abs_gap": float(np.mean(np.abs(gaps))),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--syn3k", "--syn10k", "--retail", "--cdnow"):
        ap.add_argument(name, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    root = Path(__file__).resolve().parents[1] / "experiments"
    default, cdnow = load_config(root / "btyd-features.yaml"), load_config(root / "cdnow.yaml")
    runs = [(a.syn3k, date(2025, m, 1), 180, default) for m in (1, 4, 7)]
    runs += [(a.syn10k, date(2025, 7, 1), 180, default)]
    runs += [(a.retail, date(2025, 3, 1), 275, default), (a.retail, date(2025, 4, 1), 90, default)]
    runs += [(a.retail, date(2025, 7, 1), 180, default), (a.retail, date(2025, 10, 1), 90, default)]
    runs += [(a.cdnow, date(1997, 10, 1), 273, cdnow)]
    out = {}
    for data_dir, cutoff, horizon, cfg in runs:
        key = f"{Path(data_dir).name} {cutoff} {horizon}"
        out[key] = measure(data_dir, cutoff, horizon, cfg)
        print(key, json.dumps(out[key]), flush=True)
    a.out.write_text(
        json.dumps(
            {"description": __doc__.splitlines()[0], "lag_days": SEASON_LAG_DAYS, "backtests": out},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
