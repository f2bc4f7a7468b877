"""Typed experiment configuration (one YAML per experiment); unknown keys are rejected."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from features.config import FeatureConfig
from features.yaml_files import load_yaml
from training import DEFAULT_TRACKING_URI

#: The experiment YAMLs shipped with the code (``experiments/`` of the repository).
SHIPPED_EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

#: A project name: letters, digits, ``_``, ``.`` and ``-`` (it becomes part of registered model and
#: MLflow experiment names).
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SnapshotConfig(_Strict):
    """Rolling cutoffs. Test is the latest cutoff whose label window is fully observed; the
    validation cutoff lies one label horizon earlier, and training cutoffs end one label horizon
    before validation, so no label window used for fitting overlaps a later split. The final
    refit (``refit_latest``) moves the training cutoffs one horizon later: its windows end by the
    test cutoff."""

    test_cutoff: date | None = Field(None, description="default: last complete horizon in the data")
    n_train: int = Field(
        12, ge=1, le=60, description="a year of monthly cutoffs covers every season"
    )
    step_days: int = Field(30, ge=1, le=366)
    refit_latest: bool = Field(
        True,
        description="after choosing the number of trees on the validation cutoff, fit the final "
        "models again on the training cutoffs moved one horizon later, the last at it (label "
        "windows ending by the test cutoff): the pair learns from data one horizon more recent, "
        "and is still tested on unseen windows",
    )


#: The longest churn horizon (days) a config takes.
MAX_CHURN_HORIZON_DAYS = 730


class LabelConfig(_Strict):
    churn_horizon_days: int = Field(90, ge=7, le=MAX_CHURN_HORIZON_DAYS)
    value_horizon_days: int = Field(180, ge=7, le=1095)
    value: Literal["revenue", "margin"] = "revenue"
    annual_discount_rate: float = Field(0.0, ge=0.0, le=1.0)


class LightGBMParams(_Strict):
    """The LightGBM parameters we tune; everything else stays at LightGBM's defaults."""

    n_estimators: int = Field(400, ge=1, le=5000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    num_leaves: int = Field(31, ge=2, le=1024)
    min_child_samples: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0.0, le=1.0)
    bagging_fraction: float = Field(0.9, gt=0.0, le=1.0)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0.0)
    early_stopping_rounds: int = Field(50, ge=0)
    n_jobs: int = Field(2, ge=-1, description="LightGBM threads (-1: all cores); not tuned")


#: What a model starts from: nothing (``none``) or the BG/NBD + Gamma-Gamma forecast at the same
#: horizon (``btyd``: the trees learn who it over- or under-rates; needs the ``btyd`` features).
Offset = Literal["none", "btyd"]


class ChurnModelConfig(_Strict):
    params: LightGBMParams = LightGBMParams()
    calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic"
    offset: Offset = Field("none", description="btyd: learn a correction to BG/NBD's log-odds")


class ClvModelConfig(_Strict):
    kind: Literal["tweedie", "two_part"] = "tweedie"
    tweedie_variance_power: float = Field(1.5, gt=1.0, lt=2.0)
    offset: Offset = Field(
        "none", description="btyd: learn a correction to log BG/NBD x Gamma-Gamma (tweedie only)"
    )
    params: LightGBMParams = LightGBMParams()
    interval_level: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="nominal coverage of predicted_value_low/high "
        "(split-conformal, training.clv_intervals)",
    )
    interval_bins: int = Field(
        10, ge=1, le=100, description="predicted-value bins per group of the conformal ranges"
    )


class TuningConfig(_Strict):
    trials: int = Field(20, ge=1)
    timeout_seconds: int | None = Field(None, ge=1)
    storage: str = "sqlite:///optuna.db"
    seed: int = 0


class TrackingConfig(_Strict):
    tracking_uri: str = DEFAULT_TRACKING_URI
    artifact_root: Path | None = Field(
        Path("mlruns"), description="None: the tracking server's own default artifact location"
    )
    experiment: str | None = Field(None, description="default: the experiment name")


def artifacts_beside(tracking_uri: str) -> Path | None:
    """Where a store keeps new experiments' artifacts by default: ``mlruns`` beside a SQLite
    file; None (the tracking server's own default) for any other store."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlruns"
    return None


def tracking_for(tracking_uri: str) -> dict:
    """The tracking section for ``tracking_uri`` with its artifacts where the store keeps them."""
    return {"tracking_uri": tracking_uri, "artifact_root": artifacts_beside(tracking_uri)}


def moved_to(tracking: TrackingConfig, tracking_uri: str) -> TrackingConfig:
    """``tracking`` moved to the store ``tracking_uri``, its artifacts with it
    (:func:`tracking_for`) unless the YAML placed them (``artifact_root`` set)."""
    moved = tracking_for(tracking_uri)
    if "artifact_root" in tracking.model_fields_set:
        del moved["artifact_root"]
    return tracking.model_copy(update=moved)


class ExperimentConfig(_Strict):
    """One experiment: data, cutoffs, labels, features, models, tuning and tracking."""

    name: str
    description: str = ""
    data: Path | None = None
    project: str | None = Field(
        None,
        pattern=PROJECT_PATTERN,
        description="namespace of models, MLflow experiments and champions; "
        "default: the data directory's name",
    )
    seed: int = 0
    snapshots: SnapshotConfig = SnapshotConfig()
    labels: LabelConfig = LabelConfig()
    features: FeatureConfig = FeatureConfig()
    churn: ChurnModelConfig = ChurnModelConfig()
    clv: ClvModelConfig = ClvModelConfig()
    tuning: TuningConfig = TuningConfig()
    tracking: TrackingConfig = TrackingConfig()
    scoring: dict[str, Any] = Field(
        default_factory=dict,
        description="keys of the scoring config stored with a registered pair "
        "(serving.config.ScoringConfig: stages, value_matrix, priority, actions, reasons, hold, "
        "language), set over the defaults before the thresholds are fitted and over the fitted "
        "ones after: a number named here is kept, not fitted (checked by the serving side)",
    )

    @field_validator("scoring", mode="before")
    @classmethod
    def _empty_scoring(cls, value: Any) -> Any:
        """``scoring:`` written with nothing under it (YAML null) is no keys."""
        return {} if value is None else value

    @model_validator(mode="after")
    def _rfm_required(self) -> ExperimentConfig:
        if "rfm" not in self.features.families:
            raise ValueError(
                "features.families must include 'rfm' (the models need purchase history)"
            )
        for field, offset in (("churn", self.churn.offset), ("clv", self.clv.offset)):
            if offset == "btyd" and "btyd" not in self.features.families:
                raise ValueError(
                    f"{field}.offset: btyd starts from the BTYD features: add 'btyd' to "
                    "features.families"
                )
        if self.clv.offset == "btyd" and self.clv.kind != "tweedie":
            raise ValueError("clv.offset: btyd needs clv.kind tweedie (a log link)")
        return self

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment of this config's runs: ``<project>/<experiment>`` once a project
        is set (``resolve_project``), else the experiment name alone."""
        return tracked_experiment_name(self.project, self.tracking.experiment or self.name)


def tracked_experiment_name(project: str | None, experiment: str) -> str:
    """The MLflow experiment name of ``experiment`` within ``project``."""
    return f"{project}/{experiment}" if project else experiment


def resolve_project(cfg: ExperimentConfig, data_dir: str | Path, project: str | None = None) -> str:
    """The project of a run: ``project`` (``--project``), else the config's ``project:``, else the
    data directory's name. Raises ``ConfigError`` for a name that cannot be one."""
    import re

    name = project or cfg.project or Path(data_dir).resolve().name
    if not re.fullmatch(PROJECT_PATTERN, name):
        source = (
            "--project" if project else "project:" if cfg.project else f"data directory {data_dir}"
        )
        raise ConfigError(
            f"{source}: {name!r} is not a project name (letters, digits, '_', '.', '-', "
            f"at most 64, starting with a letter or digit); pass --project NAME"
        )
    return name


class ConfigError(ValueError):
    """An experiment config file cannot be used; the message names the file and the field."""


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as one line: ``where: what; ...`` (``(top level)`` for the whole)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()
    )


def config_file(path: str | Path) -> Path:
    """``path``; a relative ``experiments/<name>.yaml`` that the working directory does not hold
    is the shipped experiment of that name, so the commands' default configs work from any
    folder, not only from the repository."""
    path = Path(path)
    if path.exists() or path.is_absolute() or path.parts[:1] != ("experiments",):
        return path
    shipped = SHIPPED_EXPERIMENTS.joinpath(*path.parts[1:])
    return shipped if shipped.is_file() else path


def load_config(path: str | Path, **overrides) -> ExperimentConfig:
    """Read and validate an experiment YAML (:func:`config_file`); ``overrides`` replace
    top-level keys."""
    path = config_file(path)
    try:
        raw = load_yaml(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw.setdefault("name", path.stem)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc


def dump_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write a config back as YAML (used by tuning to save the best parameters). The MLflow store
    is left out: a tuned config is trained wherever its user tracks, not where it was tuned."""
    data = config.model_dump(mode="json", exclude_none=True)
    if experiment := data.pop("tracking", {}).get("experiment"):
        data["tracking"] = {"experiment": experiment}
    from features.atomic_file import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))  # a full disk: the old file
