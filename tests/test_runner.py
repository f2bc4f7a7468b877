"""The experiment runner: which config it loads, where it tracks, train vs backtest (models
stubbed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import training.backtest
import training.backtest_result
import training.train
from experiments.runner import experiment_names, load_experiment, run_experiment
from training.backtest_plan import plan_backtest
from training.backtest_result import BacktestResult, SplitRows
from training.config import ConfigError
from training.train import TrainResult

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture()
def workspace(tmp_path):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "engagement.yaml").write_text(
        "name: engagement\ndescription: test\ndata: nowhere\nfeatures:\n  families: [rfm, "
        "engagement]\n"
        "tracking:\n  experiment: something-else\n"
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "transactions.parquet").write_bytes(b"")
    return tmp_path


def test_shipped_experiments_include_the_issue_list():
    assert {"baseline", "engagement", "btyd-features", "horizon-180"} <= set(
        experiment_names(EXPERIMENTS)
    )


def test_training_run_goes_to_the_experiment_of_that_name(workspace, monkeypatch):
    seen = {}

    def fake_train(cfg, data_dir, *, register=True, log=print, **_):
        seen.update(cfg=cfg, data_dir=data_dir, register=register)
        return TrainResult("run-1", {"test_churn_auc": 0.8})

    monkeypatch.setattr(training.train, "train", fake_train)
    result = run_experiment(
        "engagement",
        data=workspace / "data",
        experiments_dir=workspace / "experiments",
        tracking_uri="sqlite:///x.db",
    )
    assert (result.name, result.kind, result.run_id) == ("engagement", "train", "run-1")
    assert seen["register"] is False and seen["data_dir"] == workspace / "data"
    assert seen["cfg"].experiment_name == "engagement"
    assert seen["cfg"].tracking.tracking_uri == "sqlite:///x.db"
    assert seen["cfg"].features.families == ("rfm", "engagement")


def test_backtest_run_is_logged(workspace, monkeypatch):
    calls = {}
    models = {"churn_auc": 0.7, "clv_gini": 0.5}

    def fake_backtest(
        data_dir, cutoff, horizon_days, cfg, dataset=None, log=print, range_groups=None
    ):
        calls["backtest"] = (cutoff, horizon_days, dataset)
        return BacktestResult(
            dataset=dataset,
            experiment=cfg.name,
            plan=plan_backtest(date(2024, 1, 1), cutoff, horizon_days, cfg),
            n_features=3,
            trees={"churn": [5], "clv": [5]},
            seconds=1.0,
            lightgbm=models,
            btyd={"churn_auc": 0.6, "clv_gini": 0.4},
            predictions=pd.DataFrame(),
            importance={"churn": {}, "clv": {}},
            rows=SplitRows(train=2, valid=1, refit=3, test=0),
        )

    def fake_log(result, cfg):
        calls["log"] = (cfg.experiment_name, result.summary()["cutoff"])
        return "run-2"

    monkeypatch.setattr(training.backtest, "backtest", fake_backtest)
    monkeypatch.setattr(training.backtest_result, "log_backtest_run", fake_log)
    result = run_experiment(
        "engagement",
        data=workspace / "data",
        backtest=(date(2025, 1, 1), 180),
        experiments_dir=workspace / "experiments",
    )
    assert calls == {
        "backtest": (date(2025, 1, 1), 180, "data"),
        "log": ("data/engagement", "2025-01-01"),  # project: the data directory, as in training
    }
    assert result.kind == "backtest" and result.run_id == "run-2"
    assert result.metrics == {
        "test_churn_auc": 0.7,
        "test_clv_gini": 0.5,
        "test_btyd_churn_auc": 0.6,
        "test_btyd_clv_gini": 0.4,
    }


def test_unknown_experiment_and_missing_data_are_named(workspace):
    with pytest.raises(ConfigError, match="no such experiment.*engagement"):
        load_experiment("nope", workspace / "experiments")
    with pytest.raises(FileNotFoundError, match="transactions.parquet"):
        run_experiment("engagement", experiments_dir=workspace / "experiments")


def test_an_experiment_of_ones_own_folder_or_a_yaml_path_runs(workspace, tmp_path, monkeypatch):
    """`experiment run my-crm` from a project folder looked only in the shipped experiments/, and
    a path (`reports/results/tuned.yaml`, what `lifecycle tune` writes) became
    experiments/experiments/....yaml.yaml."""
    own = tmp_path / "project"
    (own / "experiments").mkdir(parents=True)
    shipped = (workspace / "experiments" / "engagement.yaml").read_text()
    (own / "experiments" / "my-crm.yaml").write_text(shipped)
    (own / "tuned.yaml").write_text(shipped)
    monkeypatch.chdir(own)
    mine = load_experiment("my-crm", workspace / "experiments")
    assert mine.tracking.experiment == "my-crm"
    by_path = load_experiment("tuned.yaml", workspace / "experiments")
    assert by_path.tracking.experiment == "tuned"
    assert load_experiment("engagement", workspace / "experiments").tracking.experiment == (
        "engagement"
    )  # the shipped one, found after the working directory's
    with pytest.raises(ConfigError, match="no such experiment.*engagement.*my-crm"):
        load_experiment("nope", workspace / "experiments")
    with pytest.raises(ConfigError, match="missing.yaml: no such experiment file"):
        load_experiment("missing.yaml", workspace / "experiments")
