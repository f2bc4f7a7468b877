"""``lifecycle retrain``: one job (train -> gate -> score -> monitor), one at a time, resumable
after kill -9, and a re-run with the same inputs does nothing new."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from service_fixtures import SMALL_LIGHTGBM

REPO = Path(__file__).resolve().parents[1]
SMALL = {**SMALL_LIGHTGBM, "n_jobs": 1}


def _lifecycle(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", *args],
        cwd=kwargs.pop("cwd"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 900) -> str:
    """Read stderr lines until ``text`` appears (or the process ends: then fail)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            pytest.fail(
                f"process ended (rc {process.returncode}) before {text!r}:\n{''.join(seen)}"
            )
        seen.append(line)
        if text in line:
            return "".join(seen)
    pytest.fail(f"no {text!r} within {timeout} s:\n{''.join(seen)}")


@pytest.mark.slow
def test_retrain_is_locked_resumable_after_kill_9_and_idempotent(tmp_path):
    from features.synthetic import generate

    data = tmp_path / "shop"
    generate(data, 1500, 21, progress=False)
    config = tmp_path / "small.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "small",
                "features": {"families": ["rfm", "engagement", "static"]},
                "labels": {"churn_horizon_days": 90, "value_horizon_days": 180},
                "seed": 21,
                "snapshots": {"n_train": 2},
                "churn": {"params": SMALL},
                "clv": {"params": SMALL},
                "tracking": {"experiment": "nightly"},  # kept in the retrain's own store
            }
        )
    )
    args = [
        "retrain",
        "--data",
        str(data),
        "--config",
        str(config),
        "--project",
        "shop",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--history",
        str(tmp_path / "history"),
        "--state",
        str(tmp_path / "state"),
        "--out",
        str(tmp_path / "report"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}

    first = _lifecycle(args, cwd=tmp_path, env={**env, "LIFECYCLE_PAUSE_AT": "retrain_after_train"})
    try:
        _wait_for(first, "paused at retrain_after_train")
        elsewhere = [*args[: args.index("--state")], "--state", str(tmp_path / "state2")]
        elsewhere += args[args.index("--state") + 2 :]
        second = _lifecycle(elsewhere, cwd=tmp_path, env=env)  # another state folder, same store
        _, err = second.communicate(timeout=300)
        assert second.returncode == 2 and "another retrain of project 'shop' is running" in err
        assert f"pid {first.pid}" in err and "mlflow.db.retrain-shop.lock" in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert first.returncode == -signal.SIGKILL

    resumed = _lifecycle(args, cwd=tmp_path, env=env)
    out, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err  # a pair monitored on the data it was trained on
    assert "plan: already done" in err and "train: already done" in err and "score ..." in err
    assert "trained v1: PROMOTED: no champion yet" in out and "monitor verdict OK" in out
    scores = pd.read_parquet(tmp_path / "data" / "scores.parquet")  # for export and the service
    assert "scores: data/scores.parquet" in out and scores["churn_model_version"].eq("1").all()
    assert scores.attrs["lifecycle_data"] == str(data.absolute())
    assert (tmp_path / "data" / "scores.csv").exists()
    assert (tmp_path / "history" / "shop").is_dir() and (
        tmp_path / "report" / "monitor.html"
    ).exists()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    training = client.get_experiment_by_name("shop/nightly")  # the YAML's experiment, in the store
    assert training is not None and client.search_runs([training.experiment_id])

    again = _lifecycle(args, cwd=tmp_path, env=env)
    out_again, err_again = again.communicate(timeout=600)
    assert again.returncode == resumed.returncode
    assert all(
        f"{step}: already done" in err_again for step in ("plan", "train", "score", "monitor")
    )
    assert out_again == out  # same inputs, same outcome

    elsewhere = [*args[: args.index("--out")], "--out", str(tmp_path / "report2")]
    moved = _lifecycle(elsewhere, cwd=tmp_path, env=env)
    out_moved, err_moved = moved.communicate(timeout=600)
    assert moved.returncode == 0, err_moved
    assert (
        "train: already done" in err_moved and "monitor: done, but written elsewhere" in err_moved
    )
    assert (tmp_path / "report2" / "monitor.html").exists()

    # the scores file removed (or replaced by another run): the step is not done any more
    (tmp_path / "data" / "scores.parquet").unlink()
    gone = _lifecycle(args, cwd=tmp_path, env=env)
    out_gone, err_gone = gone.communicate(timeout=600)
    assert gone.returncode == 0, err_gone
    assert "train: already done" in err_gone
    assert "score: done, but its output is gone or was replaced since; again" in err_gone
    assert (tmp_path / "data" / "scores.parquet").exists()

    # an earlier date after a later one (a scheduler's retry, a backfill): refused before any
    # step; it trained and promoted a pair on less data and put older scores in the CRM's file
    scores = pd.read_parquet(tmp_path / "data" / "scores.parquet")
    day = pd.Timestamp(scores["as_of"].iloc[0]).date()
    stamp = (tmp_path / "data" / "scores.parquet").stat().st_mtime_ns
    earlier = _lifecycle([*args, "--as-of", str(day - timedelta(days=7))], cwd=tmp_path, env=env)
    out_earlier, err_earlier = earlier.communicate(timeout=600)
    assert earlier.returncode == 2, err_earlier
    assert (
        f"error: retrain as of {day - timedelta(days=7)} would roll project 'shop' back: the "
        in (err_earlier)
    )
    assert f"the scores file holds {day}" in err_earlier
    assert "score history holds" in err_earlier and "lifecycle score --as-of" in err_earlier
    assert "train ..." not in err_earlier
    assert (tmp_path / "data" / "scores.parquet").stat().st_mtime_ns == stamp


def test_a_retrain_keeps_the_configs_tracking_settings_in_its_own_store(tmp_path):
    """The retrain's store replaces the YAML's, but not the YAML's experiment name or artifact
    location (they were dropped: runs landed in another experiment than ``lifecycle train``'s)."""
    from serving.retrain import RetrainSettings, retrain_config

    config = tmp_path / "prod.yaml"
    tracking = {"tracking_uri": "sqlite:///elsewhere.db", "experiment": "churn-prod"}
    config.write_text(yaml.safe_dump({"name": "prod", "tracking": tracking}))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = RetrainSettings(
        config, tmp_path, "shop", store, tmp_path / "h", tmp_path / "r", tmp_path / "s"
    )
    cfg = retrain_config(settings)
    assert cfg.tracking.tracking_uri == store
    assert cfg.tracking.experiment == "churn-prod"
    assert cfg.tracking.artifact_root == tmp_path / "mlruns"  # beside the retrain's store
    placed = {**tracking, "artifact_root": "/data/artifacts"}
    config.write_text(yaml.safe_dump({"name": "prod", "tracking": placed}))
    assert retrain_config(settings).tracking.artifact_root == Path("/data/artifacts")


def test_damaged_step_records_run_every_step_again_with_a_warning(tmp_path):
    """An empty or cut state file (a power loss before the rename was synced) was a traceback;
    the records are now written synced, and a damaged one means: do every step again, said."""
    from serving.retrain import State

    path = tmp_path / "shop-abc.json"
    said: list[str] = []
    for damaged in ("", '{"steps": {"plan": {"cut', "[1, 2]"):
        path.write_text(damaged)
        state = State(path, said.append)
        assert state.done("plan") is None
        assert said.pop().startswith(f"warning: {path}: the job's step records are damaged")
    state.record("plan", {"cutoffs": 3})
    assert State(path, said.append).done("plan")["cutoffs"] == 3 and not said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop-abc.json"]


def test_a_version_decided_before_a_kill_is_kept_not_trained_again(tmp_path):
    """A job killed after the gate moved the alias but before the train step was recorded
    trained and registered a second version on its re-run; the re-run now finds the version its
    inputs produced (run tag) and keeps it."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from registry_fixtures import register, tiny_pair, tracking

    from serving.retrain import INPUTS_TAG, decided_version, finish_kept_run
    from training.registry import promote

    config = tracking(tmp_path)
    uri = config.tracking_uri
    assert decided_version(uri, "shop", "shop-abc") is None  # no model yet
    version = register(tiny_pair(project="shop"), "shop", config)
    client = MlflowClient(uri)
    run_id = client.get_model_version("shop.churn-clv", version).run_id
    client.set_tag(run_id, INPUTS_TAG, "shop-abc")
    client.log_metric(run_id, "test_churn_auc", 0.81)
    assert decided_version(uri, "shop", "shop-abc") is None  # registered, not decided yet
    promote(uri, "shop", version, {"churn_auc": 0.81}, lambda c: {}, log=lambda m: None)
    found = decided_version(uri, "shop", "shop-abc")
    assert found is not None and found["version"] == version and found["promoted"] is True
    assert found["run_id"] == run_id and found["test_churn_auc"] == 0.81
    client.update_run(run_id, status="RUNNING")  # killed after the alias moved, before its end
    finish_kept_run(uri, run_id)  # kept: finished, not marked FAILED by the next training
    assert client.get_run(run_id).info.status == "FINISHED"
    finish_kept_run(uri, run_id)  # a finished run stays as it is
    from training.registry import fail_stale_runs, owner_tags

    client.update_run(run_id, status="RUNNING")
    for key, value in {**owner_tags(), "lifecycle.pid": "999999999"}.items():  # process gone
        client.set_tag(run_id, key, value)
    assert fail_stale_runs(client, log=lambda m: None) == [run_id]  # a training in between
    finish_kept_run(uri, run_id)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert decided_version(uri, "shop", "shop-other-inputs") is None
    later = register(tiny_pair(project="shop"), "shop", config)  # the champion moves on
    client.set_registered_model_alias("shop.churn-clv", "champion", later)
    assert decided_version(uri, "shop", "shop-abc")["promoted"] is True  # the gate's record
    mlflow.set_tracking_uri(None)


def test_a_promotion_after_an_alert_says_what_the_new_pair_never_learnt() -> None:
    """After drift, a retrain promoted a pair whose labels ended before the change: the monitor
    then read the change as normal (the new reference holds it) and said OK, without a word."""
    from datetime import date

    from serving.retrain import unlearnt_change

    alerted = {"version": "8", "monitor.verdict": "alert", "monitor.as_of": "2026-05-18"}
    note = unlearnt_change(alerted, "22", date(2025, 12, 1))
    assert note is not None and "v22 replaces v8, monitored ALERT on 2026-05-18" in note
    assert "learnt from outcomes up to 2025-12-01" in note
    assert unlearnt_change(alerted, "22", date(2026, 6, 1)) is None  # it learnt from after it
    assert unlearnt_change({**alerted, "monitor.verdict": "ok"}, "22", date(2025, 12, 1)) is None
    assert unlearnt_change({}, "1", date(2025, 12, 1)) is None  # no champion before


def _settings(tmp_path: Path, **overrides):
    """Retrain settings of project ``shop`` under ``tmp_path`` (nothing is trained with them)."""
    from serving.retrain import RetrainSettings

    return RetrainSettings(
        config=tmp_path / "c.yaml",
        data_dir=tmp_path,
        project="shop",
        tracking_uri="sqlite:///x.db",
        history_root=tmp_path / "history",
        reports=tmp_path / "r",
        state_dir=tmp_path / "s",
        **overrides,
    )


def test_a_later_scores_file_of_another_project_is_no_rollback(tmp_path) -> None:
    """`--scores` defaults to data/scores.parquet for every project: another project's later
    scores there refused this one's retrain as "would roll back ... export cut short?"."""
    from datetime import date

    from serving.retrain import RollbackRefused, check_not_a_rollback
    from serving.scoring import PROJECT_ATTR

    scores = tmp_path / "scores.parquet"
    frame = pd.DataFrame({"customer_id": ["a"], "as_of": [pd.Timestamp("2026-01-01")]})
    frame.attrs[PROJECT_ATTR] = "cdnow"
    frame.to_parquet(scores)
    settings = _settings(tmp_path, scores=scores)
    check_not_a_rollback(settings, date(2025, 6, 1))  # another project's file: not this one's
    frame.attrs[PROJECT_ATTR] = "shop"
    frame.to_parquet(scores)
    with pytest.raises(RollbackRefused, match="the scores file holds 2026-01-01"):
        check_not_a_rollback(settings, date(2025, 6, 1))


def test_keep_history_days_removes_the_older_dates_and_says_so(tmp_path) -> None:
    """Without retention a weekly history grew by about 170 bytes per customer a week."""
    from datetime import date

    from serving.retrain import _prune_history
    from serving.score_history import dates, write_partition

    frame = pd.DataFrame({"customer_id": ["a"], "churn_probability": [0.1]})
    for day in (date(2025, 1, 5), date(2025, 6, 1), date(2025, 12, 1)):
        write_partition(tmp_path / "history", "shop", day, frame, frame[["customer_id"]])
    settings = _settings(tmp_path, keep_history_days=200)
    said: list[str] = []
    _prune_history(settings, date(2025, 12, 1), said.append)
    assert dates(tmp_path / "history", "shop") == [date(2025, 6, 1), date(2025, 12, 1)]
    assert said == [
        "retrain shop: removed 1 score history dates before 2025-05-15 (2025-01-05..2025-01-05; "
        "--keep-history-days 200)"
    ]


def test_a_promotion_says_how_far_the_new_drift_reference_moved(tmp_path, monkeypatch) -> None:
    """Weekly promotions re-base the monitor: a price rise that lands in the new reference reads as
    normal from then on. The promotion says what moved (median of a continuous feature, a
    category's share of buyers), keeps it on the version, and says nothing of what did not move."""
    import numpy as np
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from registry_fixtures import register, tiny_pair, tracking

    from training.reference import profile, reference_moves
    from training.registry import pair_model_name, reference_moved

    rng = np.random.default_rng(3)
    spend = rng.gamma(2.0, 50.0, 2000)
    region = pd.Series(rng.choice(["east", "west", "north"], 2000, p=[0.4, 0.2, 0.4]))

    def reference(scale: float, west: bool) -> dict:
        regions = region if west else region.replace("west", "east")
        return {
            "cutoff": "2025-11-03" if west else "2025-12-01",
            "features": {
                "revenue_30d": profile(spend * scale),
                "region": profile(regions),
                "orders_90d": profile(pd.Series(rng.integers(0, 5, 2000))),  # a count: no median
            },
        }

    before, after = reference(1.0, True), reference(1.5, False)
    moves = reference_moves(before, after)
    assert moves[0].startswith("region 'west': ") and moves[0].endswith("-> 0.0% of buyers")
    assert any(m.startswith("revenue_30d: median of buyers") and "(x1.50)" in m for m in moves)
    assert not any("orders_90d" in m for m in moves)
    assert reference_moves(before, before) == []  # nothing moved: nothing said
    store = tracking(tmp_path)
    versions = []
    for ref in (before, after):
        pair = tiny_pair(0, project="shop")
        pair.meta["monitor_reference"] = ref
        versions.append(register(pair, "shop", store))
    note = reference_moved(store.tracking_uri, "shop", *versions, after)
    assert note is not None and note.startswith(f"note: v{versions[1]}'s drift reference")
    assert "as of 2025-12-01) differs from v1's (as of 2025-11-03)" in note
    tags = MlflowClient(store.tracking_uri).get_model_version(pair_model_name("shop"), versions[1])
    assert tags.tags["monitor.reference_moved"] == note
    # a note never fails the promotion it follows: a store that refuses the tag still says it
    from mlflow.exceptions import MlflowException

    def refused(*_args, **_kwargs):
        raise MlflowException("database is locked")

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", refused)
    assert reference_moved(store.tracking_uri, "shop", *versions, after) == note
    assert reference_moved(store.tracking_uri, "shop", "99", versions[1], after) is None  # gone
