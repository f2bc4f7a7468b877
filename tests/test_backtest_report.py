"""Backtest tables (``training.backtest_report``): the better model in bold, misses marked."""

from __future__ import annotations

import json

from training.backtest_report import backtests, coverage_table, main, metrics_table


def _summary(cutoff: str = "2025-07-01") -> dict:
    lightgbm = {"churn_auc": 0.80, "churn_brier": 0.150, "churn_log_loss": 0.45,
                "churn_ece": 0.020, "truth_ece_vs_true_p": 0.010, "clv_mae": 30.0,
                "clv_spearman": 0.50, "clv_gini": 0.70, "clv_total_ratio": 0.97,
                "clv_interval_coverage": 0.81, "clv_interval_width": 40.0}  # fmt: skip
    btyd = {**lightgbm, "churn_auc": 0.78, "churn_brier": 0.140, "clv_total_ratio": 1.05,
            "truth_ece_vs_true_p": float("nan")}  # fmt: skip
    ranges = {
        "group": {"repeat": {"customers": 500, "coverage": 0.75, "width": 80.0}},
        "stage": {
            "churned": {"customers": 900, "coverage": 0.86, "width": 5.0, "attainable": 0.85},
            "declining": {"customers": 300, "coverage": 0.70, "width": 60.0, "attainable": 0.80},
        },
        "value_segment": {"core": {"customers": 400, "coverage": 0.79, "width": 20.0}},
    }
    return {"dataset": "synthetic", "cutoff": cutoff, "horizon_days": 180, "n_customers": 1200,
            "models": {"lightgbm": lightgbm, "btyd": btyd},
            "ranges": {"lightgbm": ranges}}  # fmt: skip


def test_metrics_table_bolds_the_better_model_per_row():
    table = metrics_table(_summary())
    assert "| churn AUC | **0.800** | 0.780 |" in table  # higher is better
    assert "| Brier | 0.1500 | **0.1400** |" in table  # lower is better
    assert "| total predicted / actual | **0.970** | 1.050 |" in table  # closer to 1
    assert "| log loss | 0.4500 | 0.4500 |" in table  # a tie: neither
    assert "| ECE vs true probability | 0.010 | n/a |" in table


def test_coverage_table_marks_groups_more_than_3_points_off():
    table = coverage_table(_summary())
    assert "| stage | declining | 300 | **0.700** | 60.00 |" in table
    assert "| stage | churned | 900 | 0.860 (0.850) | 5.00 |" in table  # vs its attainable
    assert "| value_segment | core | 400 | 0.790 | 20.00 |" in table
    assert "| group | repeat | 500 | **0.750** | 80.00 |" in table
    assert "no ranges" in coverage_table({"ranges": None})


def test_report_of_several_cutoffs(tmp_path, capsys):
    path = tmp_path / "backtest_synthetic.json"
    path.write_text(json.dumps({"backtests": [_summary("2025-01-01"), _summary("2025-07-01")]}))
    assert len(backtests(json.loads(path.read_text()))) == 2
    main([str(path)])
    out = capsys.readouterr().out
    assert out.count("| churn AUC |") == 2 and "cutoff 2025-01-01" in out
