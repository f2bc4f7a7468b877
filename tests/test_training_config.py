"""Experiment configs: typed, unknown keys rejected with the file and the field named."""

from pathlib import Path

import pytest

from training.config import ConfigError, config_file, dump_config, load_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_are_valid(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert cfg.description


@pytest.mark.parametrize(
    "text, field",
    [
        ("name: x\nlabels:\n  churn_horizon_dayz: 90\n", "labels.churn_horizon_dayz"),
        ("name: x\nlearning_rate: 0.1\n", "learning_rate"),
        ("name: x\nlabels:\n  value: profit\n", "labels.value"),
        ("name: x\nchurn:\n  params:\n    num_leaves: 1\n", "churn.params.num_leaves"),
        ("name: x\nfeatures:\n  families: [engagement]\n", "must include 'rfm'"),
        ("name: x\nclv:\n  tweedie_variance_power: 2.5\n", "clv.tweedie_variance_power"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_round_trip(tmp_path):
    cfg = load_config(EXPERIMENTS / "engagement.yaml")
    dump_config(cfg, tmp_path / "copy.yaml")
    assert load_config(tmp_path / "copy.yaml") == cfg


def test_a_dumped_config_names_no_store(tmp_path):
    """A tuned config is trained wherever its user tracks: pinning the tune's store (and
    ``sqlite:///mlflow.db`` by default) made MLFLOW_TRACKING_URI ignored for it afterwards."""
    cfg = load_config(
        EXPERIMENTS / "engagement.yaml",
        tracking={"tracking_uri": "sqlite:////scratch/tune.db", "experiment": "mine"},
    )
    dump_config(cfg, tmp_path / "tuned.yaml")
    again = load_config(tmp_path / "tuned.yaml")
    assert "tracking_uri" not in again.tracking.model_fields_set
    assert again.tracking.experiment == "mine"
    for shipped in EXPERIMENTS.glob("*.yaml"):
        assert "tracking_uri" not in shipped.read_text(), shipped


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("nope.yaml")


def test_a_shipped_experiment_is_found_from_any_folder(tmp_path, monkeypatch):
    """The commands' default ``experiments/btyd-features.yaml`` is relative: run from the user's
    own folder (not the repository) it is the shipped file, unless that folder has its own."""
    monkeypatch.chdir(tmp_path)
    assert config_file("experiments/btyd-features.yaml") == EXPERIMENTS / "btyd-features.yaml"
    assert load_config("experiments/btyd-features.yaml") == load_config(
        EXPERIMENTS / "btyd-features.yaml"
    )
    own = tmp_path / "experiments" / "btyd-features.yaml"
    own.parent.mkdir()
    own.write_text("name: mine\ndescription: the user's own\n")
    assert load_config("experiments/btyd-features.yaml").name == "mine"  # theirs wins
    with pytest.raises(ConfigError, match="experiments/nope.yaml: config file does not exist"):
        load_config("experiments/nope.yaml")
    assert config_file("other/btyd-features.yaml") == Path("other/btyd-features.yaml")


def test_the_commands_default_config_works_outside_the_repository(tmp_path, monkeypatch):
    """``lifecycle train`` from another folder reads the default config (it failed with
    "experiments/baseline.yaml: config file does not exist") and goes on to the data."""
    from typer.testing import CliRunner

    from lifecycle_cli import app
    from lifecycle_cli.options import DEFAULT_CONFIG

    monkeypatch.chdir(tmp_path)
    assert not DEFAULT_CONFIG.exists() and config_file(DEFAULT_CONFIG).is_file()
    for command in ("train", "tune", "retrain"):
        result = CliRunner().invoke(app, [command, "--data", str(tmp_path / "missing")])
        assert result.exit_code == 2, result.output
        assert "config file does not exist" not in result.output
        assert "missing" in result.output, result.output


def test_an_empty_scoring_section_is_no_keys():
    """``scoring:`` with nothing under it (YAML null) was refused as 'not a valid dictionary'."""
    from training.config import ExperimentConfig

    assert ExperimentConfig.model_validate({"name": "x", "scoring": None}).scoring == {}
