"""``lifecycle experiment run`` and ``compare``: experiments as MLflow runs, side by side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lifecycle_cli.errors import fail, log, plan_must_fit
from lifecycle_cli.options import (
    HEADLINE_METRICS,
    ConfigTrackingUriOption,
    OptionalData,
    ProjectOption,
    TrackingUriOption,
    chosen_store,
    data_set,
    parse_date,
)
from training import DEFAULT_TRACKING_URI


def experiment_run(
    name: Annotated[
        str,
        typer.Argument(
            help="Experiment: NAME (experiments/NAME.yaml here, else the shipped one) or the "
            "path of a YAML file."
        ),
    ],
    data: OptionalData = None,
    backtest_cutoff: Annotated[
        str | None, typer.Option(help="Backtest instead of training: YYYY-MM-DD.")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Backtest horizon (with --backtest-cutoff).")
    ] = None,
    project: ProjectOption = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Run one experiment as an MLflow run in the MLflow experiment PROJECT/NAME; registers none."""
    from experiments.runner import run_experiment

    if (backtest_cutoff is None) != (horizon_days is None):
        fail("--backtest-cutoff and --horizon-days go together")
    bt = (
        (parse_date(backtest_cutoff, "--backtest-cutoff"), horizon_days)
        if backtest_cutoff and horizon_days is not None  # both or neither, checked above
        else None
    )
    from experiments.runner import experiment_file, load_experiment

    experiment = load_experiment(name)
    if data is None:  # the experiment's own data set gets the checks of --data
        data = data_set(experiment.data)
    tracking_uri = chosen_store(experiment, tracking_uri)
    with plan_must_fit(str(experiment_file(name))):
        from serving.scoring import range_groups  # coverage of the value ranges per stage/segment

        run = run_experiment(
            name,
            data=data,
            backtest=bt,
            project=project,
            log=log,
            range_groups=range_groups,
            tracking_uri=tracking_uri,
        )
    typer.echo(
        f"{run.kind} run {run.run_id} in MLflow experiment {run.mlflow_experiment!r} "
        "(for comparison: nothing registered, the champion unchanged)"
    )
    for key in HEADLINE_METRICS:
        if f"test_{key}" in run.metrics:
            typer.echo(f"  {key:<18}{run.metrics['test_' + key]:>10.4f}")


def compare(
    names: Annotated[
        list[str] | None, typer.Argument(help="Experiments to compare (default: all in the store).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="HTML report (default: reports/compare.html, reports/compare-KIND.html)."
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only runs of this kind: train, backtest or uplift (Qini, uplift plots, policy "
            "value)."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Only runs whose data tag is this (e.g. synthetic, cdnow)."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Only this project's runs (its <project>/NAME experiments and runs tagged "
            "with it; a run without a project tag belongs to the project named like its data tag).",
        ),
    ] = None,
    n_boot: Annotated[
        int, typer.Option(min=20, help="Bootstrap resamples for the noise check.")
    ] = 200,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
) -> None:
    """Latest run of each experiment side by side (best marked, noise flagged), an HTML report."""

    from experiments.compare import compare_experiments, format_table
    from experiments.narrative import what_this_says
    from experiments.report import write_report

    # a comparison downloads a dozen small artifacts: no progress bar each (the user can set it)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from experiments.runs import COMPARED_KINDS

    if kind is not None and kind not in COMPARED_KINDS:
        fail(f"--kind {kind!r}: runs are compared by kind {', '.join(COMPARED_KINDS)}")
    if project is None and data is None:
        from experiments.runs import RunFilter, projects_with_runs

        mixed = projects_with_runs(tracking_uri, RunFilter(kind=kind))
        if len(mixed) > 1:
            fail(
                f"the store holds runs of {len(mixed)} projects ({', '.join(mixed)}): a "
                "comparison ranks runs on one data set; pass --project NAME (or --data NAME)"
            )
    try:
        comparison = compare_experiments(
            names or None, tracking_uri, kind=kind, data=data, project=project, n_boot=n_boot
        )
    except LookupError as exc:
        fail(f"{exc}{_uplift_hint(names or [], tracking_uri, kind, data, project)}")
    if comparison.missing:  # a name given that has no run: a typo, not run yet, another kind
        from experiments.runs import RunFilter

        filters = RunFilter(kind=kind, data=data, project=project).describe() or "none"
        fail(
            f"no finished run for {', '.join(comparison.missing)} (filters: {filters}"
            + ("; without --kind: train and backtest runs" if kind is None else "")
            + f"); compared would be only "
            f"{', '.join(comparison.runs)}: check the name, or run `lifecycle experiment run NAME`"
            + _uplift_hint(comparison.missing, tracking_uri, kind, data, project)
        )
    kinds = sorted({r.kind or "?" for r in comparison.runs.values()})
    if kind is None and len(kinds) > 1:
        by_kind = "; ".join(
            f"{k}: {', '.join(n for n, r in comparison.runs.items() if (r.kind or '?') == k)}"
            for k in kinds
        )
        fail(
            f"the latest runs are of several kinds ({by_kind}): a training run's test window and "
            f"a backtest's are different targets; pass --kind {' or --kind '.join(kinds)}"
        )
    typer.echo(format_table(comparison))
    typer.echo("")
    for sentence in what_this_says(comparison):
        typer.echo(f"- {sentence}")
    out = out or Path("reports/compare.html" if kind is None else f"reports/compare-{kind}.html")
    typer.echo(f"report: {write_report(comparison, out)}")


def _uplift_hint(
    names: list[str], tracking_uri: str, kind: str | None, data: str | None, project: str | None
) -> str:
    """What to add to "no finished run for NAME" when NAME has uplift runs, which a comparison
    without ``--kind uplift`` leaves out."""
    if kind is not None or not names:
        return ""
    from experiments.runs import RunFilter, load_runs

    uplift = load_runs(names, tracking_uri, RunFilter("uplift", data, project))[0]
    if not uplift:
        return ""
    return (
        f"; {', '.join(uplift)} finished as uplift runs, which are compared with uplift runs "
        "only: pass --kind uplift"
    )
