"""``lifecycle train``, ``tune`` and ``backtest``: the churn and CLV models, fitted, tuned and
compared with BG/NBD + Gamma-Gamma."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifecycle_cli.errors import log, plan_must_fit
from lifecycle_cli.options import (
    DEFAULT_CONFIG,
    HEADLINE_METRICS,
    ConfigPath,
    ConfigTrackingUriOption,
    EngineData,
    EngineOption,
    OptionalData,
    ProjectOption,
    SparkMasterOption,
    config_and_data,
    parse_date,
    running_on,
    spark_paths,
)


def train(
    config: ConfigPath = DEFAULT_CONFIG,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Contract directory (--engine spark: also a URI); default: the config's data.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote to champion even if worse than the current one.")
    ] = False,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Track the run but register nothing.")
    ] = False,
    project: ProjectOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    sample_fraction: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=1.0,
            help="Train on this share of customers (stable customer_id "
            "hash; logged to MLflow); BTYD fits use the same sample.",
        ),
    ] = 1.0,
    churn_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=7, max=730, help="Override the config's labels.churn_horizon_days (short data)."
        ),
    ] = None,
    value_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=7, max=1095, help="Override the config's labels.value_horizon_days (short data)."
        ),
    ] = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Train churn and CLV models on rolling snapshots; track in MLflow; apply promotion gate."""
    from serving.monitor import reference_mix
    from serving.scoring import fit_scoring_thresholds
    from training.dataset import BuildSettings, building_on, log_build_settings
    from training.train import train as run_train

    cfg, data_dir = config_and_data(config, data, engine, tracking_uri)
    horizons = {
        k: v
        for k, v in (
            ("churn_horizon_days", churn_horizon_days),
            ("value_horizon_days", value_horizon_days),
        )
        if v is not None
    }
    if horizons:  # logged with the run's config like any other setting
        cfg = cfg.model_copy(update={"labels": cfg.labels.model_copy(update=horizons)})
    if force:
        log("--force: the promotion gate is overridden; a worse model may become champion")
    with plan_must_fit(config), running_on(engine, spark_master) as on:
        if engine != "duckdb":
            spark_paths(on, data_dir)
        settings = BuildSettings(on if engine != "duckdb" else None, sample_fraction)
        with building_on(settings):
            result = run_train(
                cfg,
                data_dir,
                project=project,
                force=force,
                register=not no_register,
                scoring_thresholds=fit_scoring_thresholds,
                log=log,
                reference_mix=reference_mix,
            )
        if not result.repeated:  # a repeat's run is the decided version's: not this build's
            log_build_settings(result.run_id, settings, tracking_uri=cfg.tracking.tracking_uri)
    m = result.metrics
    typer.echo(f"run {result.run_id} ({result.seconds:.0f} s) in {cfg.tracking.tracking_uri}")
    typer.echo(f"{'test metric':<18}{'lightgbm':>12}{'btyd':>12}")
    for key in HEADLINE_METRICS:
        # a repeat's metrics are its decided version's run's: gone when that run was collected
        model, btyd = (
            _metric_cell(m[f"test_{who}{key}"]) if f"test_{who}{key}" in m else "-"
            for who in ("", "btyd_")
        )
        typer.echo(f"{key:<18}{model:>12} {btyd:>11}")
    truth = sorted(k for k in m if k.startswith("test_truth_"))
    if truth:
        typer.echo("against the generator's truth (synthetic data):")
    for key in truth:
        typer.echo(f"  {key.removeprefix('test_truth_'):<28}{m[key]:>12.4f}")


def _metric_cell(value: float) -> str:
    """A metric for the table: 4 decimals, fewer for large money (a rupiah MAE) so that columns
    never run together."""
    text = f"{value:.4f}"
    return text if len(text) <= 11 else f"{value:.4g}" if abs(value) >= 1e11 else f"{value:.0f}"


def tune(
    config: ConfigPath = DEFAULT_CONFIG,
    data: OptionalData = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Finished trials each study should hold; a resumed study runs only the missing "
            "ones (default: the config's).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the tuned config (default: experiments/NAME-tuned.yaml, NAME the "
            "config's name; `make tune`: reports/results/tuned.yaml)."
        ),
    ] = None,
    project: ProjectOption = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Tune LightGBM with Optuna (TPE + pruning; resumable SQLite studies per project: a killed
    tune continues, its interrupted trial failed and retried); write the best config."""
    from training.tune import tune as run_tune

    cfg, data_dir = config_and_data(config, data, tracking_uri=tracking_uri)
    with plan_must_fit(config):
        _, path = run_tune(cfg, data_dir, trials=trials, out=out, log=log, project=project)
    typer.echo(f"tuned config: {path}  (train with: lifecycle train --config {path})")


def backtest(
    data: EngineData,
    cutoff: Annotated[
        str, typer.Option(help="Backtest cutoff YYYY-MM-DD: models see only data before it.")
    ],
    horizon_days: Annotated[int, typer.Option(min=1, help="Evaluate on [cutoff, cutoff + H).")],
    out: Annotated[Path, typer.Option(help="Output JSON file.")],
    config: ConfigPath = DEFAULT_CONFIG,
    dataset: Annotated[str | None, typer.Option(help="Name of the data set in the JSON.")] = None,
    project: ProjectOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    allow_partial_window: Annotated[
        bool,
        typer.Option(
            "--allow-partial-window",
            help="Run although the outcome window runs past the end of the data (recorded in "
            "the JSON; its customers count as churned for the missing days).",
        ),
    ] = False,
    seasonality: Annotated[
        bool,
        typer.Option(
            "--seasonality/--no-seasonality",
            help="Carry the churn forecast to H on the base's purchase seasonality when the "
            "history before the cutoff shows one (logged; JSON 'seasonality'); "
            "--no-seasonality: calendar days.",
        ),
    ] = True,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Fit on data before the cutoff; compare LightGBM with BG/NBD + Gamma-Gamma on the horizon."""
    from training.backtest import backtest as run_backtest
    from training.backtest_result import format_table, write_result
    from training.config import resolve_project
    from training.dataset import BuildSettings, building_on

    cfg, data_dir = config_and_data(config, data, engine, tracking_uri)
    cfg = cfg.model_copy(update={"project": resolve_project(cfg, data_dir, project)})
    with (
        plan_must_fit(f"backtest at {cutoff} over {horizon_days} days"),
        running_on(engine, spark_master) as on,
        building_on(BuildSettings(on if engine != "duckdb" else None)),
    ):
        if engine != "duckdb":
            spark_paths(on, data_dir)
        from serving.scoring import range_groups  # coverage of the value ranges per stage/segment

        result = run_backtest(
            data_dir,
            parse_date(cutoff, "--cutoff"),
            horizon_days,
            cfg,
            dataset=dataset,
            log=log,
            range_groups=range_groups,
            allow_partial_window=allow_partial_window,
            seasonal=seasonality,
        )
    write_result(result, out)
    typer.echo(format_table(result))
    typer.echo(f"wrote {out}")
