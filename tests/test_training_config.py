"""Experiment configs: typed, unknown keys rejected with the file and the field named."""

from pathlib import Path

import pytest

from training.config import ConfigError, dump_config, load_config

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
