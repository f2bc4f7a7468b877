"""``lifecycle uplift``: who is worth calling, learned from randomized campaigns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from lifecycle_cli.errors import fail, log
from lifecycle_cli.options import (
    TrackingUriOption,
    parse_date,
)
from training import DEFAULT_TRACKING_URI


def uplift(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Contract directory with a campaigns table (from ingest "
            "--campaigns, generate --campaigns or --hillstrom).",
        ),
    ],
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Campaign window in days (default 90).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Measure outcomes as of YYYY-MM-DD (default: the data's end)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="YAML of uplift settings (training.uplift_run.UpliftRunConfig)."
        ),
    ] = None,
    n_boot: Annotated[
        int | None, typer.Option(min=20, help="Bootstrap resamples for the intervals.")
    ] = None,
    hillstrom: Annotated[
        Path | None, typer.Option(help="First ingest this Hillstrom CSV into --data.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the measured tables (CSV).")] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    experiment: Annotated[str, typer.Option(help="MLflow experiment of the run.")] = "uplift",
    project: Annotated[
        str | None,
        typer.Option(help="Register the models as PROJECT.uplift (Qini promotion gate)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote to champion even if the Qini is worse.")
    ] = False,
) -> None:
    """Who is worth calling: uplift models per campaign action vs control, Qini and policy value."""
    from features.hillstrom import ingest_hillstrom
    from training.uplift_run import (
        evaluate,
        format_tables,
        load_campaign_data,
        load_run_config,
        log_to_mlflow,
        write_tables,
    )

    if hillstrom is not None:
        try:
            ingest_hillstrom(data, hillstrom, log=log)
        except (ValueError, OSError) as exc:  # IngestError included
            fail(str(exc))
    elif not data.is_dir() or not any(data.iterdir()):
        state = "the directory is empty" if data.is_dir() else "the directory does not exist"
        fail(
            f"data set {data}: {state}, so no campaigns table (uplift needs campaigns.parquet, and "
            "customers.parquet and transactions.parquet for the outcomes); run `lifecycle ingest "
            "--out DIR ... --campaigns FILE`, `lifecycle generate --campaigns ...` or `lifecycle "
            "uplift --hillstrom CSV`"
        )
    as_of_day = parse_date(as_of, "--as-of") if as_of else None
    if as_of_day is not None and (data / "transactions.parquet").exists():
        from training.dataset import data_bounds

        end = data_bounds(data)[1]
        if as_of_day > end:
            log(
                f"warning: --as-of {as_of_day} is after the data's last purchase day "
                f"({end - timedelta(days=1)}): outcome windows that end by {as_of_day} count as "
                "over, with no purchase after that day; right only if the export covers up to "
                "--as-of (leave it out to measure up to the data's end)"
            )
    try:
        cfg = load_run_config(config, horizon_days=horizon_days, n_boot=n_boot)
        campaign = load_campaign_data(data, cfg, as_of_day, log=log)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    result = evaluate(campaign, cfg, log=log)
    run_id, decision = log_to_mlflow(
        result,
        cfg,
        data,
        tracking_uri,
        experiment,
        data=campaign,
        project=project,
        force=force,
        log=log,
    )
    typer.echo(format_tables(result))
    if decision is not None:
        kept = decision.get("champion_version")
        verdict = (
            "PROMOTED"
            if decision["promoted"]
            else f"kept champion v{kept}"
            if kept
            else "not promoted"
        )
        typer.echo(
            f"registered {decision['model']} v{decision['version']}: {verdict}: "
            f"{decision['reason']}"
        )
        policy = decision.get("policy") or {}
        costs = ", ".join(f"{a} {c:,.2f}" for a, c in sorted((policy.get("costs") or {}).items()))
        if decision["promoted"] and not decision.get("trusted_actions"):
            typer.echo(
                "champion, but it trusts no action (forced past the evidence gate): "
                f"`lifecycle score --project {project}` keeps today's rules"
            )
        elif decision["promoted"]:
            typer.echo(
                "scoring with it (champion): the trusted action "
                f"({', '.join(decision['trusted_actions'])}) with the greatest value saved over "
                f"{policy.get('horizon_days')} days net of its cost per contact ({costs}); "
                f"`lifecycle score --project {project}`"
            )
        else:
            kept = decision.get("champion_version")
            typer.echo(
                f"`lifecycle score --project {project}` goes on with "
                + (f"uplift champion v{kept}" if kept else "today's rules (no uplift champion)")
            )
    if out is not None:
        typer.echo(f"tables: {', '.join(str(p) for p in write_tables(result, out))}")
    _warn_unlabelled_actions(result.metrics["action"])  # the measured ones
    from training.config import tracked_experiment_name
    from training.uplift_run import run_project

    where = tracked_experiment_name(run_project(project, data), experiment)
    typer.echo(f"MLflow run {run_id} in experiment {where!r} ({tracking_uri})")


def _warn_unlabelled_actions(actions) -> None:
    """Name the campaign actions without plain words in a language, and how to add them."""
    from serving.labels import LABELS_DIR_ENV, unlabelled_actions

    codes = {str(a) for a in actions.dropna().unique()}
    for language in ("en", "zh"):
        if missing := unlabelled_actions(codes, language):
            log(
                f"note: actions {missing} have no {language} label: recommended_action_label and "
                f"the CRM exports show the code; put labels in $"
                + LABELS_DIR_ENV
                + f"/actions.{language}.yaml (actions: {{{missing[0]}: ...}}, see docs/scoring.md)"
            )
