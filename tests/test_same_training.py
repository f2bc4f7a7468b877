"""A training that would repeat a decided one (same table, config and code) fits and registers
nothing: a weekly retrain inside one month's cutoffs registered a byte-identical copy 39 weeks
in 52 (helper's year of weekly retrains)."""

from __future__ import annotations

import sys

import pytest
from mlflow.tracking import MlflowClient
from registry_fixtures import register, tiny_pair, tracking
from service_fixtures import REPO, SMALL_LIGHTGBM

from training.model_tags import CHAMPION, CHAMPION_AT_DECISION, TRAINING_DIGEST
from training.registry import pair_model_name
from training.same_training import repeated_version, training_digest


def _config(root, seed: int = 5):
    from training.config import load_config

    return load_config(
        REPO / "experiments" / "btyd-features.yaml",
        data=None,
        seed=seed,
        tracking={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root)},
        churn={"params": SMALL_LIGHTGBM},
        clv={"params": SMALL_LIGHTGBM},
        snapshots={"n_train": 2},
    )


@pytest.mark.slow
def test_training_the_same_table_again_fits_and_registers_nothing(tmp_path):
    from features.synthetic import generate
    from serving.scoring import fit_scoring_thresholds
    from training.train import train

    data = tmp_path / "shop"
    generate(data, 900, 3, progress=False)
    options = {"project": "shop", "scoring_thresholds": fit_scoring_thresholds, "progress": False}
    said: list[str] = []
    first = train(_config(tmp_path), data, log=said.append, **options)
    assert first.decision is not None and first.decision.promoted
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = lambda: client.search_runs(  # noqa: E731
        [e.experiment_id for e in client.search_experiments()], max_results=100
    )
    before = len(runs())
    again = train(_config(tmp_path), data, log=said.append, **options)
    decision = again.decision
    assert decision is not None and not decision.promoted and decision.version == "1"
    assert decision.reason.startswith("same training table, config and code as the champion v1")
    assert again.run_id == first.run_id
    assert {k: again.metrics[k] for k in first.metrics} == pytest.approx(first.metrics)
    assert len(client.search_model_versions(f"name='{pair_model_name('shop')}'")) == 1
    assert len(runs()) == before  # no run, no artifacts
    assert any("not fitted or registered again" in line for line in said)
    other = train(_config(tmp_path, seed=6), data, log=said.append, **options)  # config differs
    assert other.decision is not None and other.decision.version == "2"
    forced = train(_config(tmp_path), data, log=said.append, force=True, **options)
    assert forced.decision is not None and forced.decision.version == "3"


def _champion_and_another(tmp_path):
    """A store with v1 champion of ``shop`` and v2 registered beside it (undecided)."""
    store = tracking(tmp_path)
    client = MlflowClient(tracking_uri=store.tracking_uri)
    name = pair_model_name("shop")
    first = register(tiny_pair(0, project="shop"), "shop", store)
    client.set_registered_model_alias(name, CHAMPION, first)
    return store, client, name, first, register(tiny_pair(1, project="shop"), "shop", store)


def test_a_repeat_stands_only_against_the_champion_it_was_decided_against(tmp_path):
    store, client, name, first, rejected = _champion_and_another(tmp_path)
    for version, digest, champion in ((first, "A", ""), (rejected, "B", first)):
        client.set_model_version_tag(name, version, TRAINING_DIGEST, digest)
        client.set_model_version_tag(name, version, CHAMPION_AT_DECISION, champion)
        client.set_model_version_tag(name, version, "promotion", f"decided {version}")
    repeat = repeated_version(store.tracking_uri, name, "B")
    assert repeat is not None and repeat.version == rejected and repeat.champion == first
    assert repeat.why().startswith(f"same training table, config and code as v{rejected}, ")
    assert repeated_version(store.tracking_uri, name, "A").version == first  # the champion
    assert repeated_version(store.tracking_uri, name, "C") is None
    newer = register(tiny_pair(2, project="shop"), "shop", store)
    client.set_registered_model_alias(name, CHAMPION, newer)
    assert repeated_version(store.tracking_uri, name, "B") is None  # another champion: judge again
    assert repeated_version(store.tracking_uri, name, "A") is None  # no longer the champion
    assert repeated_version(store.tracking_uri, "nothing.churn-clv", "A") is None


def test_the_digest_follows_table_and_fitted_config_not_where_it_is_logged():
    table = {"sha256_of_row_hashes": "x", "rows": {"train": 3}}
    config = {"seed": 1, "tracking": {"tracking_uri": "sqlite:///a.db"}, "data": "a"}
    same = training_digest(table, {**config, "tracking": {"tracking_uri": "sqlite:///b"}})
    assert training_digest(table, config) == same
    assert training_digest(table, {**config, "seed": 2}) != same
    assert training_digest({**table, "sha256_of_row_hashes": "y"}, config) != same


def test_lifecycle_train_reports_a_repeat_whose_run_is_gone_or_was_built_another_way(
    tmp_path, monkeypatch
):
    """`lifecycle train` recorded the engine on the run it got back: on a repeat that is the
    decided version's run, which the user may have deleted (or mlflow gc collected), or which
    was built on another engine (MLflow refuses to change a param): a traceback after 'not
    fitted or registered again'. Its metrics may be gone too."""
    from typer.testing import CliRunner

    import lifecycle_cli
    import lifecycle_cli.model_commands
    import training.train
    from training.registry import PromotionDecision
    from training.train import TrainResult

    store = tracking(tmp_path)
    client = MlflowClient(tracking_uri=store.tracking_uri)
    experiment = client.create_experiment("shop/x")
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "data_engine", "spark")  # the decided version was built on Spark
    client.delete_run(run_id)  # and its run deleted in the MLflow UI
    decision = PromotionDecision("shop", "shop.churn-clv", "1", False, False, "same", None, None)
    repeat = TrainResult(run_id, {}, "shop", decision, 0.1, True)
    monkeypatch.setattr(training.train, "train", lambda *a, **k: repeat)
    config = tmp_path / "c.yaml"
    config.write_text("name: small\n")
    monkeypatch.setattr(
        lifecycle_cli.model_commands,
        "config_and_data",
        lambda *a, **k: (_config(tmp_path), tmp_path),
    )
    done = CliRunner().invoke(lifecycle_cli.app, ["train", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "churn_auc" in done.output


def _digest_of_copy(root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("copied", root / "training" / "same_training.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["copied"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        return module.code_digest()
    finally:
        del sys.modules["copied"]


def test_the_code_digest_covers_the_scoring_thresholds_and_monitor_reference_code(tmp_path):
    """train() registers thresholds (serving.scoring.fit_scoring_thresholds) and a monitoring
    reference (serving.monitor) with the pair: a change there must fit again, or the champion
    keeps the old thresholds until the data changes."""
    import shutil

    for package in ("features", "training", "serving"):
        shutil.copytree(REPO / package, tmp_path / package)
    before = _digest_of_copy(tmp_path)
    scoring = tmp_path / "serving" / "scoring.py"
    scoring.write_text(scoring.read_text() + "\n# thresholds fitted another way\n")
    assert _digest_of_copy(tmp_path) != before


def test_a_decision_against_a_champion_that_could_not_be_loaded_is_judged_again(tmp_path):
    """'champion vN cannot be loaded' may pass (an artifact store away for a while): the same
    training must meet the gate again, not inherit that decision."""
    store, client, name, first, rejected = _champion_and_another(tmp_path)
    client.set_model_version_tag(name, rejected, TRAINING_DIGEST, "B")
    client.set_model_version_tag(name, rejected, CHAMPION_AT_DECISION, first)
    client.set_model_version_tag(
        name, rejected, "promotion", f"champion v{first} cannot be loaded (files missing)"
    )
    assert repeated_version(store.tracking_uri, name, "B") is None


def _cut(source, target, day: str) -> None:
    """The export as it stood before ``day``: customers signed up, orders and events before it."""
    import pandas as pd

    target.mkdir(parents=True)
    stop = pd.Timestamp(day)
    for table, column in (
        ("customers", "signup_at"),
        ("transactions", "ordered_at"),
        ("events", "occurred_at"),
    ):
        frame = pd.read_parquet(source / f"{table}.parquet")
        frame[frame[column] < stop].to_parquet(target / f"{table}.parquet", index=False)


def test_a_week_more_of_data_builds_the_same_training_table(tmp_path):
    """Walkthrough: a week more of orders changed DuckDB's order of adding up future_value and the
    last bit of 24 of 18,059 values, so the table's hash never matched and every weekly retrain
    fitted and registered a copy; labels are rounded as features are."""
    from features.synthetic import generate
    from training.dataset import build_training_data
    from training.registry import data_fingerprint
    from training.train import plan_for

    generate(tmp_path / "full", 3000, 1, progress=False)
    cfg = _config(tmp_path)
    hashes = set()
    for day in ("2025-12-18", "2025-12-25"):
        _cut(tmp_path / "full", tmp_path / day, day)
        plan = plan_for(tmp_path / day, cfg)
        data = build_training_data(tmp_path / day, plan, cfg, progress=False)
        hashes.add(
            data_fingerprint(data.frame, {"all": [str(c) for c in plan.all()]})[
                "sha256_of_row_hashes"
            ]
        )
    assert len(hashes) == 1
