"""Projects: each data set keeps its own champion pair, gate and MLflow experiments; scoring data
that lacks a feature family the pair was trained with is refused or, when asked, imputed."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from registry_fixtures import customers, register, tiny_pair, tracking
from typer.testing import CliRunner

from serving.batch import Champions, MissingFeatureData, check_feature_data, load_champions
from training.config import ConfigError, ExperimentConfig, LabelConfig, resolve_project
from training.dataset import TrainingData
from training.registry import NotComparable, projects, promote
from training.splits import CutoffPlan
from training.train import champion_evaluator

METRICS = {"churn_auc": 0.80, "churn_brier": 0.10, "clv_gini": 0.50, "clv_mae": 20.0}


def test_project_comes_from_the_option_the_config_or_the_data_directory(tmp_path):
    cfg = ExperimentConfig(name="baseline")
    assert resolve_project(cfg, tmp_path / "cdnow") == "cdnow"
    assert resolve_project(cfg.model_copy(update={"project": "shop"}), tmp_path / "cdnow") == "shop"
    assert (
        resolve_project(cfg.model_copy(update={"project": "shop"}), tmp_path / "cdnow", "crm-2")
        == "crm-2"
    )
    assert ExperimentConfig(name="baseline", project="shop").experiment_name == "shop/baseline"
    assert cfg.experiment_name == "baseline"
    with pytest.raises(ConfigError, match="'my data'.*--project"):
        resolve_project(cfg, tmp_path / "my data")
    with pytest.raises(ValueError, match="project"):
        ExperimentConfig(name="x", project="a/b")


def test_each_project_has_its_own_champion_and_gate(tmp_path):
    store = tracking(tmp_path)
    uri = store.tracking_uri
    north = tiny_pair(0, project="north")
    v_north = register(north, "north", store)
    assert promote(uri, "north", v_north, METRICS, lambda c: pytest.fail("no champion")).promoted

    seen = []

    def rescore(champion):
        seen.append(champion.meta["project"])
        return {**METRICS, "churn_auc": 0.99}

    v_south = register(tiny_pair(1, project="south"), "south", store)
    first_south = promote(uri, "south", v_south, METRICS, rescore)
    assert first_south.promoted and first_south.reason == "no champion yet" and seen == []
    v_south2 = register(tiny_pair(2, project="south"), "south", store)
    kept = promote(uri, "south", v_south2, METRICS, rescore)
    assert not kept.promoted and seen == ["south"]  # compared with south's champion only

    from mlflow.tracking import MlflowClient

    assert projects(MlflowClient(tracking_uri=uri)) == {"north": v_north, "south": v_south}
    loaded = load_champions(uri, "north")
    assert loaded.project == "north" and loaded.meta["project"] == "north"
    rows = customers(30, seed=4)
    assert np.array_equal(loaded.churn.predict_proba(rows), north.churn.predict_proba(rows))
    with pytest.raises(
        LookupError, match=r"project 'west' has no champion.*north \(v1\), south \(v1\)"
    ):
        load_champions(uri, "west")
    # a store moved away: said, and no empty store is made in its place (a service worker
    # restarted after the move created one, which every later start then read as "no champion")
    gone = tmp_path / "moved-away.db"
    with pytest.raises(LookupError, match=r"no MLflow store at .*moved-away\.db.*moved or deleted"):
        load_champions(f"sqlite:///{gone}", "north")
    assert not gone.exists()
    from training.registry import require_store

    require_store(f"{uri}?timeout=30")  # an option of the SQLite URI is not part of the file
    require_store("databricks")  # a scheme-less URI MLflow knows, not a folder
    with pytest.raises(LookupError, match="is a folder"):
        require_store(str(tmp_path))


def _training_data() -> TrainingData:
    frame = customers(200, seed=3).assign(
        split="test", is_prospect=0, cutoff=np.datetime64("2025-01-01")
    )
    plan = CutoffPlan(
        train=(date(2024, 6, 1),), valid=date(2024, 9, 1), test=date(2025, 1, 1), horizon_days=90
    )
    return TrainingData(frame, ["recency_days", "orders_all", "channel"], plan)


def test_the_champion_is_re_scored_on_the_challengers_test_customers_or_not_compared(tmp_path):
    from training.metrics import churn_metrics, clv_metrics

    data = _training_data()
    cfg = ExperimentConfig(name="tiny", project="tiny")
    champion, challenger = tiny_pair(5), tiny_pair(6)
    got = champion_evaluator(tmp_path, data, cfg, challenger.churn, challenger.clv)(champion)
    test = data.split("test", buyers_only=True)
    assert got.metrics == {
        **churn_metrics(test["churned"].to_numpy(), champion.churn.predict_proba(test)),
        **clv_metrics(test["future_value"].to_numpy(), champion.clv.predict(test)),
    }
    # paired intervals of challenger - champion on these customers, around the point difference
    assert set(got.differences) == {"churn_auc", "churn_brier", "clv_gini", "clv_mae"}
    new = churn_metrics(test["churned"].to_numpy(), challenger.churn.predict_proba(test))
    low, high = got.differences["churn_auc"]
    assert low < new["churn_auc"] - got.metrics["churn_auc"] < high
    itself = champion_evaluator(tmp_path, data, cfg, champion.churn, champion.clv)(champion)
    assert all(interval == (0.0, 0.0) for interval in itself.differences.values())
    other_labels = cfg.model_copy(update={"labels": LabelConfig(churn_horizon_days=180)})
    with pytest.raises(NotComparable, match="other labels"):
        champion_evaluator(tmp_path, data, other_labels, challenger.churn, challenger.clv)(champion)
    # other labels are named before another test cutoff: the question changed, whatever the dates
    champion.meta["test_cutoff"] = "2025-02-01"
    with pytest.raises(NotComparable, match=r"other labels \(churn_horizon_days 90 vs 180"):
        champion_evaluator(tmp_path, data, other_labels, challenger.churn, challenger.clv)(champion)
    # a champion tested later than this run was fitted on outcomes in this run's test window
    champion.meta["test_cutoff"] = "2025-02-01"  # this run tests at 2025-01-01
    with pytest.raises(NotComparable, match="tested at 2025-02-01, after this run's test cutoff"):
        champion_evaluator(tmp_path, data, cfg, challenger.churn, challenger.clv)(champion)
    champion.meta["test_cutoff"] = "2025-01-01"
    assert champion_evaluator(tmp_path, data, cfg, challenger.churn, challenger.clv)(champion)


def _champions(families_with_data: list[str]) -> Champions:
    pair = tiny_pair(0, project="shop")
    config = ExperimentConfig.model_validate(pair.meta["experiment"])
    return Champions(
        pair.churn,
        pair.clv,
        "3",
        "3",
        config,
        config,
        pair.scoring,
        "shop",
        {**pair.meta, "families_with_data": families_with_data},
    )


def test_data_lacking_a_family_the_pair_was_trained_with_is_refused_or_imputed(tmp_path):
    import pandas as pd

    data = tmp_path / "export"
    data.mkdir()
    pd.DataFrame({"customer_id": ["a"], "signup_at": [pd.Timestamp("2024-01-01")]}).to_parquet(
        data / "customers.parquet"
    )
    champions = _champions(["rfm", "engagement", "static"])
    with pytest.raises(MissingFeatureData) as refused:
        check_feature_data(data, champions)
    message = str(refused.value)
    assert (
        "engagement" in message
        and "no events.parquet" in message
        and "customers.parquet has no channel values" in message
    )
    assert "--allow-missing" in message and "\n" not in message
    warnings = check_feature_data(data, champions, allow_missing=True)
    assert (
        len(warnings) == 2 and "engagement features imputed as no recorded activity" in warnings[0]
    )
    assert (
        check_feature_data(data, _champions(["rfm"])) == []
    )  # trained without them: nothing missing
    pd.DataFrame(
        {
            "customer_id": ["a"],
            "signup_at": [pd.Timestamp("2024-01-01")],
            "channel": pd.Series([None], dtype="string"),
        }
    ).to_parquet(data / "customers.parquet")
    assert "customers.parquet has no channel values" in check_feature_data(data, champions, True)[1]


def test_lifecycle_score_names_the_missing_family_and_scores_with_allow_missing(tmp_path):
    from features.synthetic import generate
    from lifecycle_cli import app

    store = tracking(tmp_path)
    pair = tiny_pair(0, project="shop")
    pair.meta["families_with_data"] = ["rfm", "engagement", "static"]  # trained with events
    version = register(pair, "shop", store)
    promote(store.tracking_uri, "shop", version, METRICS, lambda c: METRICS)
    data = tmp_path / "shop"
    generate(data, 300, 5)
    (data / "events.parquet").unlink()
    runner = CliRunner()
    args = [
        "score",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "scores.parquet"),
        "--tracking-uri",
        store.tracking_uri,
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and not (tmp_path / "scores.parquet").exists()
    assert "with engagement features" in refused.output and "no events.parquet" in refused.output
    assert "--allow-missing" in refused.output
    allowed = runner.invoke(app, [*args, "--allow-missing"])
    assert allowed.exit_code == 0, allowed.output
    assert "warning: data set" in allowed.output and "engagement features imputed" in allowed.output
    assert "shop champion pair v1" in allowed.output
    scores = pd_read(tmp_path / "scores.parquet")
    assert len(scores) == 300 and set(scores["churn_model_version"]) == {"1"}
    assert scores.attrs["lifecycle_project"] == "shop"  # the file says whose models scored it
    assert scores.attrs["lifecycle_data"] == str(data.absolute())  # and from which data
    snapshot = pd_read(tmp_path / "scores.snapshot.parquet")  # the service reads its quarantine
    assert snapshot.attrs["lifecycle_data"] == str(data.absolute())
    latest = pd_read(tmp_path / "scores.parquet")["as_of"].max().date()
    older = runner.invoke(app, [*args, "--allow-missing", "--as-of", "2025-06-01"])
    assert older.exit_code == 0, older.output  # a backfill over the file the CRM reads: said
    assert f"holds scores as of {latest}; they are replaced by older ones" in older.output
    again = runner.invoke(app, [*args, "--allow-missing"])
    assert again.exit_code == 0 and "replaced by older" not in again.output
    export = ["export", "--to", "csv", "--scores", str(tmp_path / "scores.parquet")]
    export += ["--exports-dir", str(tmp_path / "exports")]
    other = runner.invoke(app, [*export, "--project", "synthetic"])
    assert other.exit_code == 2 and "project 'shop'" in other.output
    assert "'synthetic'" in other.output and not (tmp_path / "exports").exists()
    own = runner.invoke(app, export)
    assert own.exit_code == 0 and "shop/generic: wrote 300 customers" in own.output
    missing_project = runner.invoke(app, [*args, "--project", "nowhere"])
    assert missing_project.exit_code == 2 and "project 'nowhere'" in missing_project.output


def pd_read(path):
    import pandas as pd

    return pd.read_parquet(path)


def test_prospects_a_pair_saw_too_few_of_get_the_training_prospects_mean_value():
    """A pair trained on data with hardly any prospects has not learnt them (a prospect's
    missing recency falls on LightGBM's default side of a split): their value is the mean the
    training prospects went on to have; with enough of them, the model's."""
    from registry_fixtures import customers

    from serving.batch import predict
    from training.train import MIN_PROSPECT_ROWS

    frame = customers(n=6, seed=1).assign(is_prospect=[0, 0, 0, 1, 1, 0])
    frame.loc[frame["is_prospect"] == 1, ["recency_days", "orders_all"]] = [np.nan, 0]
    few = _champions(["rfm", "static"])
    few.meta["prospects"] = {"rows": 3, "mean_future_value": 12.5}
    _, value, _ = predict(frame, few)
    model_value = np.clip(few.clv.predict(frame), 0, None)
    prospect = frame["is_prospect"].to_numpy() == 1
    assert value[prospect].tolist() == [12.5, 12.5]
    assert value[~prospect] == pytest.approx(model_value[~prospect])
    few.meta["prospects"] = {"rows": MIN_PROSPECT_ROWS, "mean_future_value": 12.5}
    assert predict(frame, few)[1] == pytest.approx(model_value)
