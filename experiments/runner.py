"""Run one experiment (``experiments/<name>.yaml``) as an MLflow run in the MLflow experiment
``name``.

A training run (rolling snapshots, time-based test split; nothing is registered) or, when a
``(cutoff, horizon_days)`` backtest is asked for, a backtest run. Both log the same layout
(``test_*`` metrics, data fingerprint, feature importance, test predictions), which is what
``experiments.compare`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from training.config import SHIPPED_EXPERIMENTS as EXPERIMENTS_DIR


@dataclass(frozen=True)
class ExperimentRun:
    name: str
    kind: str  # "train" or "backtest"
    run_id: str
    metrics: dict[str, float]
    mlflow_experiment: str = ""  # <project>/<name>


def experiment_names(experiments_dir: Path = EXPERIMENTS_DIR) -> list[str]:
    """The experiments that can be run: one per YAML file."""
    return sorted(p.stem for p in Path(experiments_dir).glob("*.yaml"))


def _is_path(name: str) -> bool:
    """``name`` names a YAML file (``my-crm.yaml``, ``reports/results/tuned.yaml``), not an
    experiment of a folder."""
    return name.endswith((".yaml", ".yml")) or "/" in name


def experiment_file(name: str, experiments_dir: Path = EXPERIMENTS_DIR) -> Path:
    """The YAML of experiment ``name``: a path to a YAML file as given (``reports/results/
    tuned.yaml``, ``my-crm.yaml``), else ``NAME.yaml`` in the working directory's
    ``experiments/`` (the user's own), then in ``experiments_dir`` (the shipped ones)."""
    from training.config import ConfigError

    if _is_path(name):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"{path}: no such experiment file")
        return path
    folders = [Path("experiments"), Path(experiments_dir)]
    for folder in folders:
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    known = sorted({n for folder in folders for n in experiment_names(folder)})
    raise ConfigError(
        f"{Path(experiments_dir) / f'{name}.yaml'}: no such experiment (known: "
        f"{', '.join(known) or 'none'}; or give the path of a YAML file)"
    )


def experiment_name(name: str) -> str:
    """The MLflow experiment an experiment is tracked in: its name, or its file's stem."""
    return Path(name).stem if _is_path(name) else name


def load_experiment(
    name: str, experiments_dir: Path = EXPERIMENTS_DIR, tracking_uri: str | None = None
):
    """The typed config of experiment ``name`` (``experiment_file``), tracked in the MLflow
    experiment ``experiment_name(name)``."""
    from training.config import load_config, moved_to

    cfg = load_config(experiment_file(name, experiments_dir))
    tracking = moved_to(cfg.tracking, tracking_uri) if tracking_uri else cfg.tracking
    tracking = tracking.model_copy(update={"experiment": experiment_name(name)})
    return cfg.model_copy(update={"tracking": tracking})


def run_experiment(
    name: str,
    data: str | Path | None = None,
    backtest: tuple[date, int] | None = None,
    *,
    experiments_dir: Path = EXPERIMENTS_DIR,
    tracking_uri: str | None = None,
    project: str | None = None,
    log=print,
    range_groups=None,
) -> ExperimentRun:
    """Train (default) or backtest (``backtest=(cutoff, horizon_days)``) experiment ``name``.

    ``data`` overrides the config's ``data:`` directory. Models are not registered: experiments are
    for comparison; ``lifecycle train`` is the path to the champion. ``project`` namespaces the
    MLflow experiment (``<project>/<name>``; by default the data directory's name, as in training).
    ``range_groups`` (``training.backtest.backtest``) breaks a backtest's range coverage down.
    """
    from training.config import ConfigError

    cfg = load_experiment(name, experiments_dir, tracking_uri)
    name = experiment_name(name)
    data_dir = Path(data) if data is not None else cfg.data
    if data_dir is None:
        raise ConfigError(f"{name}: no data directory: pass data or set 'data:' in {name}.yaml")
    if not (data_dir / "transactions.parquet").exists():
        raise FileNotFoundError(
            f"{data_dir}: no transactions.parquet; run `lifecycle ingest` or "
            f"`lifecycle generate` first"
        )
    if backtest is None:
        from training.train import train

        result = train(cfg, data_dir, project=project, register=False, log=log)
        from training.config import resolve_project

        tracked = cfg.model_copy(update={"project": resolve_project(cfg, data_dir, project)})
        return ExperimentRun(
            name, "train", result.run_id, dict(result.metrics), tracked.experiment_name
        )

    from training.backtest import backtest as run_backtest
    from training.backtest_result import log_backtest_run
    from training.config import resolve_project

    cutoff, horizon_days = backtest
    cfg = cfg.model_copy(update={"project": resolve_project(cfg, data_dir, project)})
    backtest_result = run_backtest(
        data_dir,
        cutoff,
        horizon_days,
        cfg,
        dataset=data_dir.name,
        log=log,
        range_groups=range_groups,
    )
    run_id = log_backtest_run(backtest_result, cfg)
    return ExperimentRun(
        name, "backtest", run_id, backtest_result.test_metrics(), cfg.experiment_name
    )
