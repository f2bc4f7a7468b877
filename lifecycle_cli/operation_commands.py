"""``lifecycle monitor``, ``retrain`` and ``prune``: life after deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifecycle_cli.errors import fail, log, plan_must_fit
from lifecycle_cli.options import (
    DEFAULT_CONFIG,
    ConfigPath,
    DataDir,
    TrackingUriOption,
    parse_date,
)
from training import DEFAULT_TRACKING_URI


def monitor(
    data: DataDir,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project whose champion pair is monitored (default: the data directory's name).",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Monitored date YYYY-MM-DD (default: the data's end).")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    history: Annotated[
        Path,
        typer.Option(
            help="Score history root: where `lifecycle score` kept it, the score_history folder "
            "next to its --out (its default --out data/scores.parquet: data/score_history)."
        ),
    ] = Path("data/score_history"),
    config: Annotated[
        Path | None, typer.Option(help="Thresholds YAML (see serving/monitor_config.py).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for monitor.json and monitor.html.")] = Path(
        "reports/monitor"
    ),
) -> None:
    """Drift (inputs, scores) and realized performance of the champion pair; verdict ok/warn/alert.
    Exit code 0 for ok and warn, 3 for alert (2: a user error)."""
    from serving.monitor_config import load_monitor_config
    from serving.monitor_run import run_monitor

    try:
        cfg = load_monitor_config(config)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: is a file; it names the folder monitor.json and monitor.html go to")
    result, paths = run_monitor(
        data_dir=data,
        as_of=parse_date(as_of, "--as-of") if as_of else None,
        project=project or data.resolve().name,
        tracking_uri=tracking_uri,
        history_root=history,
        out_dir=out,
        cfg=cfg,
        log=log,
    )
    typer.echo(result.summary())
    typer.echo(
        f"report: {paths['json']} and {paths['html']} (MLflow run {result.report['mlflow_run_id']})"
    )
    raise typer.Exit(code=result.exit_code)


def retrain(
    data: DataDir,
    config: ConfigPath = DEFAULT_CONFIG,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project to retrain (default: the config's project:, else the data "
            "directory's name).",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Scoring and monitoring date (default: the data's end).")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    history: Annotated[
        Path,
        typer.Option(help="Score history root (as `lifecycle monitor --history`)."),
    ] = Path("data/score_history"),
    monitor_config: Annotated[Path | None, typer.Option(help="Monitor thresholds YAML.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the monitor report.")] = Path(
        "reports/monitor"
    ),
    state: Annotated[
        Path,
        typer.Option(
            help="Folder for the job's step records (the lock is beside the MLflow store)."
        ),
    ] = Path("data/retrain_state"),
    scores: Annotated[
        Path,
        typer.Option(
            help="Scores Parquet written for `lifecycle export` and the service, with its "
            ".snapshot.parquet and .csv (as `lifecycle score --out ... --csv`)."
        ),
    ] = Path("data/scores.parquet"),
    keep_history_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Remove score history dates older than this many days at the end (default: "
            "keep all; the monitor judges the last 365 days).",
        ),
    ] = None,
) -> None:
    """Train -> gate -> score -> monitor as one job: one at a time (lock), resumable after a kill,
    a re-run with the same inputs does nothing new. Exit code 3 when the monitor alerts."""
    from serving.retrain import RetrainBusy, RetrainSettings, RollbackRefused, summary_lines
    from serving.retrain import retrain as run_retrain
    from training.config import load_config, resolve_project

    # as `lifecycle train` names it: a config's project: was ignored, so a retrain of the config
    # `train` registered under project: trained, promoted and locked another project (the data
    # directory's), beside the champion it was scheduled to refresh
    settings = RetrainSettings(
        config=config,
        data_dir=data,
        project=resolve_project(load_config(config), data, project),
        tracking_uri=tracking_uri,
        history_root=history,
        reports=out,
        state_dir=state,
        as_of=parse_date(as_of, "--as-of") if as_of else None,
        monitor_config=monitor_config,
        scores=scores,
        keep_history_days=keep_history_days,
    )
    try:
        with plan_must_fit(config):
            summary, code = run_retrain(settings, log=log)
    except (RetrainBusy, RollbackRefused) as exc:
        fail(str(exc))
    typer.echo("\n".join(summary_lines(summary)))
    raise typer.Exit(code=code)


def prune(
    project: Annotated[str, typer.Option("--project", help="Project whose store to prune.")],
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    keep_versions: Annotated[
        int, typer.Option(min=1, help="Newest registered versions kept whatever they are.")
    ] = 4,
    keep_monitor_runs: Annotated[int, typer.Option(min=1, help="Newest monitor runs kept.")] = 4,
    dry_run: Annotated[bool, typer.Option(help="Say what would go; remove nothing.")] = False,
) -> None:
    """Remove what a year of retrains leaves in the MLflow store: versions the gate never promoted
    (with their runs and stored pairs) but the newest, and older monitor runs; the champion and
    every former champion stay. What it removed is deleted for good (only that) and a SQLite
    store compacted."""
    from serving.retention import plan_prune
    from serving.retention import prune as run_prune
    from training.registry import require_store

    try:
        require_store(tracking_uri)
    except LookupError as exc:
        fail(str(exc))
    plan = plan_prune(tracking_uri, project, keep_versions, keep_monitor_runs)
    for line in plan.lines():
        log(line)
    if dry_run:
        log("prune: --dry-run: nothing removed")
        return
    try:
        freed = run_prune(tracking_uri, plan, log=log)
    except RuntimeError as exc:
        fail(str(exc))
    typer.echo(f"prune {project}: {freed / 1e6:,.1f} MB freed")
