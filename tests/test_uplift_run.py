"""End to end: campaigns -> uplift models -> measured tables -> MLflow run -> Qini promotion
gate."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from features.hillstrom import ingest_hillstrom
from features.synthetic import generate
from features.synthetic_campaigns import CampaignSpec
from training.splits import PlanError
from training.uplift_registry import UpliftSet, model_name
from training.uplift_run import (
    ORACLE,
    PAYING_ONLY,
    UpliftRunConfig,
    evaluate,
    format_tables,
    load_campaign_data,
    load_run_config,
    log_to_mlflow,
)

SAMPLE = (
    Path(__file__).parent / "data" / "hillstrom_sample.csv"
)  # first 3,000 rows of the real file
FAST = {"n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1, "folds": 2}


def _config(**kw) -> UpliftRunConfig:
    kw.setdefault("selection", None)  # the fixed learner; selection: tests/test_uplift_select.py
    return UpliftRunConfig(n_boot=20, learners=["dr"], uplift=FAST, **kw)


@pytest.fixture(scope="module")
def hillstrom(tmp_path_factory):
    out = tmp_path_factory.mktemp("hill")
    ingest_hillstrom(out, SAMPLE, log=lambda m: None)
    return out


def test_hillstrom_sample_runs_tracks_and_registers_behind_the_qini_gate(hillstrom, tmp_path):
    cfg = _config(horizon_days=14, outcomes=["retained", "value"])
    data = load_campaign_data(hillstrom, cfg, log=lambda m: None)
    assert not data.has_priority and not data.has_truth
    result = evaluate(data, cfg, log=lambda m: None)
    assert set(result.metrics["action"]) == {"mens_email", "womens_email"}
    assert set(result.metrics["model"]) == {"treat everyone", "response model", "dr-learner"}
    everyone = result.metrics[result.metrics["model"] == "treat everyone"]
    assert np.allclose(everyone["qini"], 0.0)  # no ranking = the random line
    m = result.metrics
    assert (m["qini_lo"] <= m["qini"]).all() and (m["qini"] <= m["qini_hi"]).all()
    assert set(result.propensity["looks_randomized"]) == {True}
    held = data.frame["held_out"].mean()
    assert 0.25 < held < 0.35
    assert "dr-learner" in format_tables(result)

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from training.registry import owner_tags

    client = MlflowClient(uri)
    killed = client.create_run(client.create_experiment("hill/uplift")).info.run_id
    for key, value in {**owner_tags(), "lifecycle.pid": "999999999"}.items():  # process gone
        MlflowClient(uri).set_tag(killed, key, value)
    run_id, first = log_to_mlflow(
        result, cfg, hillstrom, uri, "uplift-test", data=data, project="hill"
    )
    assert MlflowClient(uri).get_run(killed).info.status == "FAILED"  # a killed uplift run
    # 900 held-out customers: no e-mail's spend ranking is told from random (Qini interval
    # contains 0), so no action is trusted and the first version is NOT promoted (evidence gate)
    gate = first["policy"]["gate"]
    assert gate["outcome"] == "value" and set(gate["qini"]) >= {
        "uplift_value_mens_email",
        "uplift_value_womens_email",
    }
    lows = [low for k, (_, low, _) in gate["qini"].items() if k.startswith("uplift_value_")]
    assert first["trusted_actions"] == [] and max(lows) <= 0
    assert not first["promoted"] and first["reason"].startswith("no trusted action")
    assert "no champion yet" in first["reason"] and "trusted actions: none" in first["reason"]
    client = MlflowClient(uri)
    assert client.get_run(run_id).data.tags["data"] == hillstrom.name  # a name, as in training
    assert (
        client.get_model_version(model_name("hill"), first["version"]).tags["trusted_actions"]
        == "none"
    )
    assert not client.get_registered_model(model_name("hill")).aliases
    run = client.get_run(run_id)
    assert any(k.endswith("dr-learner.qini") for k in run.data.metrics)
    # --force overrides the gate and says so
    _, forced = log_to_mlflow(
        result, cfg, hillstrom, uri, "uplift-test", data=data, project="hill", force=True
    )
    assert forced["promoted"] and forced["reason"].startswith(
        "FORCED: promoted although no trusted action"
    )
    # the same models again: not worse on any Qini, but still no evidence -> not promoted
    _, second = log_to_mlflow(result, cfg, hillstrom, uri, "uplift-test", data=data, project="hill")
    assert not second["promoted"] and "re-scored" in second["reason"]
    assert second["champion"] == pytest.approx(second["challenger"])
    # models that learnt noise (outcomes shuffled) are worse: the champion stays
    shuffle = np.random.default_rng(0).permutation(len(data.frame))
    noisy = data.frame.assign(
        retained=data.frame["retained"].to_numpy()[shuffle],
        value=data.frame["value"].to_numpy()[shuffle],
    )
    data_noisy = type(data)(noisy, data.columns, False, False)
    worse = evaluate(data_noisy, cfg, log=lambda m: None)
    _, third = log_to_mlflow(worse, cfg, hillstrom, uri, "uplift-test", data=data, project="hill")
    client = MlflowClient(uri)
    champion = client.get_model_version_by_alias(model_name("hill"), "champion").version
    if third["promoted"]:  # the noise happened to rank as well on every action: say so
        pytest.fail(f"a model fit on shuffled outcomes was promoted: {third}")
    assert str(champion) == forced["version"]
    # the registered champion is plain files that predict the same as the fitted models
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(model_name("hill"), champion),
        tracking_uri=uri,
    )
    loaded = UpliftSet(next(Path(path).rglob("uplift.json")).parent)
    frame = data.frame.head(50)
    expected = result.models[("mens_email", "retained", "dr")].predict(frame)
    np.testing.assert_allclose(
        loaded.predict(frame)["uplift_retained_mens_email"], expected, rtol=1e-9
    )


def test_synthetic_campaign_has_truth_and_todays_priority(tmp_path):
    out = tmp_path / "syn"
    spec = CampaignSpec(sent_at="2025-06-01", horizon_days=90)
    generate(
        out, 3000, seed=2, start="2023-01-01", end="2026-01-01", progress=False, campaigns=spec
    )
    cfg = _config(horizon_days=90, outcomes=["value"], priority_cutoffs=2)
    data = load_campaign_data(out, cfg, log=lambda m: None)
    assert data.has_truth and data.has_priority
    assert data.frame["priority_score"].notna().all() and (data.frame["priority_score"] >= 0).all()
    result = evaluate(data, cfg, log=lambda m: None)
    learner = result.metrics[result.metrics["model"] == "dr-learner"]
    assert learner["pehe"].notna().all() and (learner["pehe"] > 0).all()
    oracle = result.policy[result.policy["model"] == ORACLE].set_index("action")["true"]
    assert all(ch.isalnum() or ch in "_-./ " for ch in ORACLE)  # kept as is in MLflow names
    rand = result.policy[result.policy["model"] == "random"].set_index("action")["true"]
    # ranking by the true effect is the best policy there is
    assert (oracle >= rand).all()
    assert set(result.policy["model"]) >= {
        "priority_score",
        "random",
        "dr-learner",
        "response model",
    }
    # the budget as a cap: only customers whose (estimated) effect is above a contact's cost
    paying = result.policy.set_index(["model", "action"])
    for action, cost in result.policy.groupby("action")["cost"].first().items():
        k = paying.loc[("random", action), "contacts"]
        capped = paying.loc[(ORACLE + PAYING_ONLY, action)]
        assert 0 <= capped["contacts"] <= k
        per_contact = cost / k
        assert capped["cost"] == pytest.approx(per_contact * capped["contacts"])
        # contacting only those whose true effect beats the cost keeps more net of cost
        gross = paying.loc[(ORACLE, action), "true"]
        assert capped["true"] - capped["cost"] >= gross - cost - 1e-9
    assert not any(
        m.startswith(("random", "priority_score", "response model")) and m.endswith(PAYING_ONLY)
        for m in result.policy["model"]
    )
    assert all(ch.isalnum() or ch in "_-./ " for ch in PAYING_ONLY)  # kept in MLflow names


def test_a_version_without_value_models_is_never_champion(hillstrom, tmp_path):
    """Scores rank by the value an action saves: a retention-only version, even forced, would
    leave every later `lifecycle score` of the project without a value model."""
    cfg = _config(horizon_days=14, outcomes=["retained"])
    data = load_campaign_data(hillstrom, cfg, log=lambda m: None)
    result = evaluate(data, cfg, log=lambda m: None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _, forced = log_to_mlflow(
        result, cfg, hillstrom, uri, "uplift-test", data=data, project="hill", force=True
    )
    assert not forced["promoted"] and forced["reason"].startswith("no value model")
    assert not MlflowClient(uri).get_registered_model(model_name("hill")).aliases


def _two_campaigns(tmp_path: Path) -> Path:
    """A campaign with a holdout (email) and one without (push), sent at a time of day."""
    from features.campaigns import campaigns_path, typed_campaigns

    rng = np.random.default_rng(3)
    ids = [f"C{i:04d}" for i in range(1200)]
    customers = pd.DataFrame({"customer_id": ids, "signup_at": pd.Timestamp("2024-01-01")})
    tx = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, 6000),
            "ordered_at": pd.Timestamp("2024-02-01")
            + pd.to_timedelta(rng.integers(0, 600, 6000), unit="D"),
            "amount": rng.gamma(2.0, 30.0, 6000).round(2),
        }
    )
    arm = np.where(rng.random(1200) < 0.5, "control", "treated")
    camp = pd.DataFrame(
        {
            "customer_id": ids,
            "sent_at": pd.Timestamp("2025-03-03 10:34"),
            "campaign_id": np.where(np.arange(1200) < 600, "spring-email", "spring-push"),
            "action": np.where(np.arange(1200) < 600, "email", "push"),
            "arm": np.where(np.arange(1200) < 600, arm, "treated"),
            "cost": 0.1,
        }
    )
    camp.loc[camp["arm"] == "control", "action"] = "none"
    out = tmp_path / "two"
    out.mkdir()
    customers.to_parquet(out / "customers.parquet", index=False)
    tx.to_parquet(out / "transactions.parquet", index=False)
    typed_campaigns(camp).to_parquet(campaigns_path(out), index=False)
    return out


def test_each_action_is_measured_against_its_own_campaigns_controls(tmp_path):
    data_dir = _two_campaigns(tmp_path)
    cfg = _config(horizon_days=30, outcomes=["retained", "value"], priority_cutoffs=2)
    said: list[str] = []
    data = load_campaign_data(data_dir, cfg, log=said.append)  # a send time of day is fine
    assert (data.frame["sent_at"] == pd.Timestamp("2025-03-03")).all()
    assert any("has no events: the uplift models see purchases only" in m for m in said)
    result = evaluate(data, cfg, log=said.append)
    assert set(result.metrics["action"]) == {"email"}  # push had no holdout of its own
    assert any("action push: campaign(s) spring-push have no control group" in m for m in said)
    alone = data.frame[data.frame["campaign_id"] == "spring-push"]
    with pytest.raises(PlanError, match="no action can be measured"):
        evaluate(type(data)(alone, data.columns, False, data.has_priority), cfg, log=said.append)


def test_early_tiny_and_unfinished_campaigns_are_said_not_fatal(tmp_path):
    """A campaign sent two weeks into the data (no history for today's priority), an action with
    three customers, and one sent over six weeks whose last windows are not over: each is said,
    and the run measures what it can instead of stopping (or crashing) on the first."""
    from features.campaigns import campaigns_path, typed_campaigns

    data_dir = _two_campaigns(tmp_path)  # purchases 2024-02-01 .. 2025-09-23
    rng = np.random.default_rng(5)
    ids = [f"C{i:04d}" for i in range(1200)]
    early = pd.DataFrame(
        {
            "customer_id": ids[:400],
            "sent_at": pd.Timestamp("2024-02-15"),
            "campaign_id": "early-email",
            "action": "email",
            "arm": np.where(rng.random(400) < 0.5, "control", "treated"),
        }
    )
    tiny = pd.DataFrame(
        {
            "customer_id": ids[400:403],
            "sent_at": pd.Timestamp("2025-03-03"),
            "campaign_id": "vip-call",
            "action": "vip",
            "arm": ["treated", "treated", "control"],
        }
    )
    spread = pd.DataFrame(
        {
            "customer_id": ids[500:1100],
            "sent_at": pd.Timestamp("2025-08-01") + pd.to_timedelta(np.arange(600) % 42, unit="D"),
            "campaign_id": "late-sms",
            "action": "sms",
            "arm": np.where(rng.random(600) < 0.5, "control", "treated"),
        }
    )
    camp = pd.concat([early, tiny, spread], ignore_index=True)
    camp.loc[camp["arm"] == "control", "action"] = "none"
    typed_campaigns(camp).to_parquet(campaigns_path(data_dir), index=False)
    cfg = _config(horizon_days=30, outcomes=["retained", "value"], priority_cutoffs=2)
    said: list[str] = []
    data = load_campaign_data(data_dir, cfg, log=said.append)
    late = [m for m in said if m.startswith("warning: campaign late-sms: ")]
    assert len(late) == 1 and "of its 600 customers (sent 2025-08-25..2025-09-11" in late[0], said
    assert "once the data reaches 2025-10-11" in late[0]
    matured = data.frame[data.frame["campaign_id"] == "late-sms"]
    assert 0 < len(matured) < 600 and (matured["sent_at"] <= pd.Timestamp("2025-08-24")).all()
    assert any(
        m.startswith("uplift: campaign early-email (first sent 2024-02-15): today's priority ")
        and "measured without the priority_score baseline" in m
        for m in said
    ), said
    result = evaluate(data, cfg, log=said.append)
    assert set(result.metrics["action"]) == {"email", "sms"}
    assert any(m.startswith("action vip: too few customers to fit or measure") for m in said)
    by_action = result.policy.groupby("action")["model"].apply(set)
    assert "priority_score" not in by_action["email"] and "priority_score" in by_action["sms"]


def test_a_champion_on_other_features_is_not_compared_and_nothing_crashes(hillstrom, tmp_path):
    """A project's champion fitted on Hillstrom's features cannot score a platform data set's
    customers: the gate says so (no KeyError traceback, no version left without a decision)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = _config(horizon_days=14, outcomes=["retained", "value"])
    data = load_campaign_data(hillstrom, cfg, log=lambda m: None)
    result = evaluate(data, cfg, log=lambda m: None)
    log_to_mlflow(result, cfg, hillstrom, uri, "u", data=data, project="mix", force=True)
    two = _two_campaigns(tmp_path)
    cfg = _config(horizon_days=30, outcomes=["retained", "value"], priority_cutoffs=2)
    data = load_campaign_data(two, cfg, log=lambda m: None)
    result = evaluate(data, cfg, log=lambda m: None)
    _, decision = log_to_mlflow(result, cfg, two, uri, "u", data=data, project="mix")
    assert not decision["promoted"] and decision["version"] == "2"
    assert "champion v1 cannot be re-scored on this run's customers (" in decision["reason"]
    version = MlflowClient(uri).get_model_version(model_name("mix"), "2")
    assert version.tags["promotion"] == decision["reason"]


def test_run_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "u.yaml"
    path.write_text("horizon_days: 14\nlearner: dr\n")
    with pytest.raises(ValueError, match=r"(?s)u\.yaml.*learner"):
        load_run_config(path)
    path.write_text("horizon_days: 14\nuplift: {learner: x}\n")
    assert load_run_config(path, n_boot=50).uplift.learner == "x"


def test_cli_uplift_on_hillstrom_sample(tmp_path):
    from typer.testing import CliRunner

    from lifecycle_cli import app

    config = tmp_path / "fast.yaml"
    config.write_text(
        "horizon_days: 14\nn_boot: 20\nlearners: [t]\noutcomes: [value]\n"
        "uplift: {n_estimators: 30, folds: 2, n_jobs: 1}\nselection: null\n"
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(
        app,
        [
            "uplift",
            "--data",
            str(tmp_path / "h"),
            "--hillstrom",
            str(SAMPLE),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "tables"),
            "--tracking-uri",
            uri,
            "--project",
            "hill",
        ],
    )
    assert result.exit_code == 0, result.output
    # spend on 3,000 customers: no trusted action, so the first version is not promoted
    assert "t-learner" in result.output
    assert "registered hill.uplift v1: not promoted: no trusted action" in result.output, (
        result.output
    )
    assert "goes on with today's rules (no uplift champion)" in result.output
    assert "scoring with it" not in result.output  # said only of a promoted version
    assert (tmp_path / "tables" / "policy_value.csv").exists()
    assert (tmp_path / "mlruns").is_dir()  # artifacts next to the SQLite store, not in the repo
    bad = CliRunner().invoke(
        app, ["uplift", "--data", str(tmp_path / "none"), "--tracking-uri", uri]
    )
    assert bad.exit_code == 2 and "no campaigns table" in bad.output


def test_write_tables_keeps_each_previous_file_when_the_disk_fills_up(tmp_path):
    """Each table file is replaced atomically: a write failing mid-file (the disk filling up)
    leaves the previous complete CSV, and no temporary file behind."""
    from disk_faults import file_size_limit

    from training.uplift_run import UpliftResult, write_tables

    def result(rows: int) -> UpliftResult:
        table = pd.DataFrame({"action": ["email"] * rows, "qini": np.linspace(0, 1, rows)})
        return UpliftResult(table, table, table, counts={"customers": rows})

    paths = write_tables(result(3), tmp_path)
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(before) == {p.name for p in paths} | {"counts.json"}
    with file_size_limit(2048), pytest.raises(OSError):
        write_tables(result(500), tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def test_the_gate_says_when_retention_has_evidence_but_value_does_not():
    """A clear effect on purchases whose value ranking is still noise: the decision says so,
    instead of only "no evidence the models rank better than random"."""
    from types import SimpleNamespace

    from training.uplift_registry import _evidence

    models = SimpleNamespace(
        index={
            "uplift_retained_discount": {"action": "discount", "outcome": "retained"},
            "uplift_value_discount": {"action": "discount", "outcome": "value"},
        }
    )
    intervals = {
        "uplift_retained_discount": (0.037, 0.0244, 0.0514),
        "uplift_value_discount": (5.1, -1.2, 11.0),
    }
    said = _evidence(models, intervals, [])
    assert said.startswith("trusted actions: none (value Qini")
    assert "the retention ranking is better than random for discount 0.037 [0.0244, 0.0514]" in said
    assert "retention ranking" not in _evidence(models, intervals, ["discount"])


def test_a_targeted_campaign_is_measured_but_never_trusted(tmp_path):
    """Contacts picked among the customers who bought least lately, the most recent buyers as
    control: the Qini of such a split measures who was picked; the action is said untrusted and
    the gate never trusts it, whatever its interval."""
    from types import SimpleNamespace

    from training.uplift_registry import trusted_actions

    data_dir = _two_campaigns(tmp_path)
    from features.campaigns import campaigns_path

    camp = pd.read_parquet(campaigns_path(data_dir))
    tx = pd.read_parquet(data_dir / "transactions.parquet")
    last = tx[tx["ordered_at"] < "2025-03-03"].groupby("customer_id")["ordered_at"].max()
    email = camp["campaign_id"] == "spring-email"
    lapsed = camp["customer_id"].map(last).rank(pct=True) < 0.5
    camp.loc[email, "arm"] = np.where(lapsed[email], "treated", "control")
    camp.loc[email, "action"] = np.where(lapsed[email], "email", "none")
    camp.to_parquet(campaigns_path(data_dir), index=False)
    cfg = _config(horizon_days=30, outcomes=["retained", "value"], priority_cutoffs=2)
    said: list[str] = []
    result = evaluate(load_campaign_data(data_dir, cfg, log=said.append), cfg, log=said.append)
    assert list(result.untrusted) == ["email"]
    assert any("warning: action email: the contacted and the control" in m for m in said)
    row = result.propensity[result.propensity["learner"] == ""].iloc[0]
    assert not row["looks_randomized"] and row["propensity_auc"] > 0.8
    models = SimpleNamespace(index={"uplift_value_email": {"action": "email", "outcome": "value"}})
    sure = {"uplift_value_email": (9.5, 2.5, 17.7)}
    assert trusted_actions(models, sure) == ["email"]
    assert trusted_actions(models, sure, result.untrusted) == []


def test_an_action_beside_a_campaign_of_controls_only_is_told_how_to_use_them():
    """An e-mail tool's global control group comes as a campaign of its own: the action whose
    campaign has no holdout is left out, and told that campaign holds controls only."""
    from training.uplift_run import action_rows

    frame = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "campaign_id": ["Reactivation SMS", "Reactivation SMS", "Global Control Group", "x"],
            "action": ["sms", "sms", "none", "email"],
            "arm": ["treated", "treated", "control", "treated"],
        }
    )
    said: list[str] = []
    assert action_rows(frame, "sms", log=said.append) is None
    assert "campaign(s) Reactivation SMS have no control group" in said[0]
    assert "'Global Control Group' hold control customers only" in said[0]
    assert "campaign_id==<one name>" in said[0]
    said.clear()
    assert action_rows(frame[frame["customer_id"] != "C"], "sms", log=said.append) is None
    assert "control customers only" not in said[0] and "send a random holdout" in said[0]


def test_an_action_with_a_handful_of_held_out_controls_is_never_trusted(tmp_path):
    """A 2% holdout leaves a few control customers among the held-out ones: a bootstrap
    interval on them is too narrow (a null effect came out 'above 0' in 6.5% of runs with 9),
    so the action is measured and said, but never trusted."""
    from features.campaigns import campaigns_path

    data_dir = _two_campaigns(tmp_path)
    camp = pd.read_parquet(campaigns_path(data_dir))
    email = (camp["campaign_id"] == "spring-email").to_numpy()
    control = email & (np.arange(len(camp)) % 12 == 0)  # 50 of 600 controls, ~15 held out
    camp["arm"] = np.where(email, np.where(control, "control", "treated"), camp["arm"])
    camp["action"] = np.where(email, np.where(control, "none", "email"), camp["action"])
    camp.to_parquet(campaigns_path(data_dir), index=False)
    cfg = _config(horizon_days=30, outcomes=["retained", "value"], priority_cutoffs=2)
    said: list[str] = []
    result = evaluate(load_campaign_data(data_dir, cfg, log=said.append), cfg, log=said.append)
    assert set(result.metrics["action"]) == {"email"}
    assert list(result.untrusted) == ["email"]
    assert re.search(
        r"action email: only \d+ control customers are among the held-out", " ".join(said)
    )


def test_the_gate_weighs_campaigns_of_different_holdout_shares_to_one_design():
    """A discount sent as a 50/50 test to active customers and as a 90/10 rollout to lapsed
    ones, with no effect at all: a model that only tells the two audiences apart had a held-out
    value Qini interval above 0 (1.81 [1.58, 2.05]), so the gate trusted it and scoring
    would have recommended a discount that does nothing. Weighted by each campaign's share,
    its interval holds 0 (0.05 [-0.42, 0.53])."""
    from types import SimpleNamespace

    from training.uplift_registry import held_out_qini, held_out_qini_intervals, trusted_actions

    rng = np.random.default_rng(0)
    n = 1000
    wave = np.r_[np.zeros(n), np.ones(n)].astype(int)
    treated = np.where(wave == 0, rng.random(2 * n) < 0.5, rng.random(2 * n) < 0.9)
    value = (rng.random(2 * n) < np.where(wave == 0, 0.6, 0.2)) * 50.0
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(2 * n)],
            "campaign_id": np.where(wave == 0, "test-jun", "rollout-aug"),
            "action": np.where(treated, "discount", "none"),
            "arm": np.where(treated, "treated", "control"),
            "value": value,
            "wave": wave,
            "held_out": True,
        }
    )
    key = "uplift_value_discount"
    models = SimpleNamespace(
        index={key: {"action": "discount", "outcome": "value"}},
        predict=lambda x: pd.DataFrame({key: -x["wave"].to_numpy(float)}, index=x.index),
    )
    qini, low, high = held_out_qini_intervals(models, frame)[key]
    assert low < 0 < high, (qini, low, high)
    assert trusted_actions(models, {key: (qini, low, high)}) == []
    assert abs(held_out_qini(models, frame)[f"qini_{key}"] - qini) < 1e-12
