"""``lifecycle score`` and ``export``: every customer scored by the champion pair, and the scores
written into a CRM."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle_cli.errors import fail, log
from lifecycle_cli.options import (
    EngineData,
    EngineOption,
    SparkMasterOption,
    TrackingUriOption,
    data_name,
    engine_data,
    local_out,
    parse_date,
    running_on,
    spark_paths,
)
from training import DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    from serving.writeback.webhook import WebhookResult


def score(
    data: EngineData,
    out: Annotated[
        str, typer.Option(help="Scores file (.parquet); --engine spark: a directory or URI.")
    ] = "data/scores.parquet",
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring date YYYY-MM-DD (default: day after the last transaction)."),
    ] = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write a CSV next to the Parquet file.")
    ] = False,
    scoring_config: Annotated[
        Path | None, typer.Option(help="YAML with stage rules, tiers and actions.")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project whose champion pair scores (default: the data directory's name).",
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Score data lacking a feature family the champions were trained "
            "with (e.g. no events.parquet): those features are imputed, with a warning.",
        ),
    ] = False,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Score history root: the run is also kept under HISTORY/<project>/as_of=DATE/ for "
            "`lifecycle monitor` (default: score_history next to OUT; --no-history: not kept)."
        ),
    ] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="Do not keep this run in the score history.")
    ] = False,
) -> None:
    """Score every customer with the champion models; write Parquet (and CSV) and print a summary.

    With --engine spark the models score on the executors: OUT and its .snapshot.parquet are
    Parquet directories partitioned by day, written by Spark (no CSV, no summary on the driver)."""
    from serving.batch import (
        MissingFeatureData,
        check_feature_data,
        feature_snapshot,
        load_champions,
        score_snapshot,
        write_scores,
    )
    from serving.config import load_scoring_config
    from serving.scoring import people_rows, summarise

    source = engine_data(data, engine)
    day = parse_date(as_of, "--as-of") if as_of else None
    project = project or data_name(source)
    champions = load_champions(tracking_uri, project)
    config = load_scoring_config(scoring_config, champions.scoring) if scoring_config else None

    def checked_feature_data() -> None:
        try:
            for warning in check_feature_data(source, champions, allow_missing):
                log(f"warning: {warning}")
        except MissingFeatureData as exc:
            fail(str(exc))

    if engine != "duckdb":  # data and OUT may be URIs: Spark reads the data's facts and bounds
        from serving.spark_scoring import score_on_spark
        from training.dataset import BuildSettings, building_on

        with running_on(engine, spark_master) as on, building_on(BuildSettings(on)):
            spark_paths(on, source, out)
            checked_feature_data()
            day = _scoring_day(source, day)
            if not no_history:
                log(
                    "note: --engine spark keeps no score history (the scores stay on the cluster); "
                    "`lifecycle monitor` scores the dates it compares itself"
                )
            done = score_on_spark(
                on,
                source,
                day,
                out,
                tracking_uri=tracking_uri,
                scoring_config=config,
                project=project,
            )
        log(done.hold)
        typer.echo(
            f"scored {done.rows:,} customers as of {day} on Spark with churn "
            f"v{done.churn_version}, clv v{done.clv_version}: {done.scores} (features: "
            f"{done.snapshot})"
        )
        return
    out_file = local_out(out, engine)
    from features.atomic_file import check_file_target
    from serving.batch import score_files, scored_days

    for target in score_files(out_file, csv):  # before any work, and before the history
        check_file_target(target)
    day = _scoring_day(source, day)
    if (held := max(scored_days(out_file), default=day)) > day:
        log(
            f"warning: {out_file} holds scores as of {held}; they are replaced by older ones "
            f"(as of {day}), which `lifecycle export` and the service then read. To fill the "
            "score history with a past date, give that run another --out"
        )
    checked_feature_data()
    snapshot = feature_snapshot(source, day, champions)
    from training.cadence import rhythm_note

    horizon = champions.churn_config.labels.churn_horizon_days
    # as train said: customers slower than the horizon read as leaving while they stay
    if rhythm := rhythm_note(snapshot, horizon):
        log(f"warning: the champion's churn horizon is {horizon} days, and {rhythm}")
    scores = score_snapshot(snapshot, champions, day, config)
    from serving.action_hold import held_scores
    from serving.config import stored_scoring_config

    history_root = history or out_file.parent / "score_history"
    scores, said = held_scores(
        scores,
        snapshot,
        config or stored_scoring_config(champions.scoring),
        history_root,
        project,
        day,
    )
    log(said)
    if not no_history:  # first: a history that cannot be written leaves --out as it was
        from serving.score_history import write_partition

        kept = write_partition(history_root, project, day, scores, snapshot)
        log(f"kept in the score history: {kept}")
    snapshot_path = write_scores(
        out_file, scores, snapshot, people_rows(scores) if csv else None, source
    )
    if not no_history:  # the CRM reads these now: the next week's tier hold compares with them
        from serving.score_history import mark_sent

        if trouble := mark_sent(history_root, project, day):
            log(trouble)
    from features.ingest_warnings import prospects_who_bought

    if bought := prospects_who_bought(
        source, scores.loc[scores["stage"] == "prospect", "customer_id"]
    ):
        log(f"warning: {bought}")
    summary = summarise(scores)
    typer.echo(
        f"scored {len(scores):,} customers as of {day} with the {champions.project} champion pair "
        f"v{champions.version}: {out_file} (features: {snapshot_path})"
    )
    typer.echo(json.dumps(summary, indent=2, default=str))


def _scoring_day(source: str | Path, as_of: date | None) -> date:
    """``--as-of``, else the day after the last transaction; a date long after the data warned."""
    from training.dataset import check_window, customers_from, data_bounds, export_warnings

    bounds = data_bounds(source)
    day = as_of or bounds[1]
    if warning := check_window(bounds, day, None, "--as-of"):
        log(warning)
    for said in export_warnings(source, day, bounds[1]):
        log(said)
    if as_of is None and (later := customers_from(source, day)):
        log(
            f"warning: {later:,} customers of the customers table first appear on or after "
            f"{day}, the day after the last transaction, so they are not scored; pass --as-of "
            "a later date to include them (as prospects)"
        )
    return day


def _export_project(option: str | None, scored_by: str | None, scores: Path) -> str:
    """The export's project: ``--project``, else the one whose models scored the file; the
    scores of another project are refused (they would overwrite this project's export state)."""
    if option and scored_by and option != scored_by:
        fail(
            f"--scores {scores} holds project {scored_by!r}'s scores, not {option!r}: export them "
            f"with --project {scored_by}, or score {option} (lifecycle score --project {option} "
            "--out FILE) and pass --scores FILE"
        )
    if option and not scored_by:
        log(
            f"warning: --scores {scores} does not record which project scored it (scored before "
            f"this was recorded); exported as project {option!r} unchecked"
        )
    if not option and not scored_by and scores.is_dir():
        from serving.scoring import PROJECT_MARKER

        fail(
            f"--scores {scores} is a Spark score directory without {PROJECT_MARKER} (written "
            "before it was recorded): name the project that scored it with --project"
        )
    return option or scored_by or "default"


def _batch_limit_note(res: WebhookResult) -> str | None:
    """What the receiver's remembered batch size limit did to this export's new batches."""
    limit = res.limit_planned
    if not res.planned_batches or limit is None or not limit.fits:
        return None
    fits, day = limit.fits, limit.refused_at[:10]
    if not res.explicit_size and res.batch_size == fits:
        return (
            f"batches of {fits}: the receiver refused larger ones on {day} (remembered for this "
            f"target; --batch-size to send larger ones, and if it takes them whole, they are "
            "remembered no more)"
        )
    if res.explicit_size and res.batch_size > fits:
        kept = res.limit is not None and res.limit.fits == fits
        return (
            f"--batch-size {res.batch_size} is above the {fits} the receiver took after refusing "
            f"batches of {limit.refused} on {day}: "
            + (
                "it took them whole, so the next exports send batches of the default size again"
                if not kept
                else f"the next exports without --batch-size send batches of {fits}"
            )
        )
    return None


def _why_stopped(
    batches: int, customers: int, retry_after: float | None, max_seconds: float
) -> str:
    """Why a webhook export left batches for the next run, and how many customers wait."""
    left = f"{batches} batches ({customers:,} customers) not delivered (waiting in the journal)"
    if retry_after is None:
        why, then = f"time limit of {max_seconds:.0f} s reached", "to resume"
    else:
        why = (
            f"the receiver asked to wait {retry_after:.0f} s (Retry-After), past the time limit "
            f"of {max_seconds:.0f} s"
        )
        then = "once that wait is over"
    return f"{why}: {left}; run the same command again {then}"


def export(
    to: Annotated[
        str, typer.Option("--to", help="csv (a CRM import file) or webhook (signed JSON POSTs).")
    ],
    crm: Annotated[
        str,
        typer.Option(
            help="Field mapping: zoho, zoho-cn, fxiaoke, salesforce, hubspot, hubspot-companies, "
            "generic, or a YAML path."
        ),
    ] = "generic",
    url: Annotated[str | None, typer.Option(help="Webhook URL (with --to webhook).")] = None,
    scores: Annotated[Path, typer.Option(help="Scores from `lifecycle score`.")] = Path(
        "data/scores.parquet"
    ),
    project: Annotated[
        str | None,
        typer.Option(
            help="Project name: state is kept per project and target (default: the project "
            "whose models scored --scores, else 'default'); another project's scores are refused."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Target name (default: the CRM for csv; for webhook the URL's host, with a "
            "hash of its path)."
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Send every customer, not only those whose fields changed."),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="CSV file (default: EXPORTS/PROJECT/TARGET/CRM-TIME.csv).")
    ] = None,
    exports_dir: Annotated[
        Path, typer.Option("--exports-dir", help="Where export state lives.")
    ] = Path("data/exports"),
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=10_000,
            help="Customers per webhook batch (default 200, or the smaller size this target's "
            "receiver took after refusing larger batches, remembered in its journal; given, it "
            "wins, and taken whole the remembered size is forgotten).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per webhook request.")] = 10.0,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Attempts per batch before the dead-letter file.")
    ] = 8,
    max_seconds: Annotated[
        float, typer.Option(min=1, help="Time bound of the whole webhook export.")
    ] = 600.0,
    secret_env: Annotated[
        str, typer.Option(help="Environment variable with the shared HMAC secret.")
    ] = "LIFECYCLE_WEBHOOK_SECRET",
    progress: Annotated[bool, typer.Option(help="Progress bar of batches on stderr.")] = True,
    allow_older: Annotated[
        bool,
        typer.Option(
            "--allow-older",
            help="Export scores older than those already exported to this target (a rollback).",
        ),
    ] = False,
    customers_from: Annotated[
        list[str] | None,
        typer.Option(
            "--customers-from",
            help="Only customers whose export file (as ingested) matches this name or pattern, "
            "e.g. 'hubspot_*.csv': one CRM's customers of a project fed by several. Repeatable.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Contract directory the scores came from (default: the one the scoring "
            "recorded); read for --customers-from."
        ),
    ] = None,
) -> None:
    """Write the latest scores into a CRM: an import file per CRM, or a signed, idempotent,
    resumable webhook push; by default only customers whose exported fields changed."""
    from serving.writeback.csv_export import CsvResult, export_csv
    from serving.writeback.fields import MappingError, load_mapping
    from serving.writeback.journal import JournalError, state_dir
    from serving.writeback.origins import keep_from, mixed_tools_note, scored_data
    from serving.writeback.plan import load_scores, scores_project
    from serving.writeback.webhook import (
        RetryPolicy,
        WebhookError,
        check_url,
        default_target,
        export_webhook,
        secret_from_env,
    )

    if to not in ("csv", "webhook"):
        fail(f"--to {to!r}: expected csv or webhook")
    if (to == "webhook") != (url is not None):
        fail("--url is required with --to webhook, and only with it")
    try:
        if url is not None:
            check_url(url)  # before its host names the target
        mapping = load_mapping(crm)
        frame = load_scores(scores)
        project = _export_project(project, scores_project(frame), scores)
        data_dir = scored_data(frame, data)
        if customers_from:
            frame, said = keep_from(frame, customers_from, data_dir)
            log(said)
        elif note := mixed_tools_note(frame, data_dir, mapping.name):
            log(note)
        if data_dir is not None and "stage" in frame:  # said at scoring too; the CRM gets it now
            from features.ingest_warnings import prospects_who_bought

            prospects = frame.loc[frame["stage"] == "prospect", "customer_id"]
            if bought := prospects_who_bought(data_dir, prospects):
                log(f"warning: {bought}")
        # url is set exactly when --to webhook (checked above)
        name = target or (mapping.name if url is None else default_target(url))
        state = state_dir(exports_dir, project, name)
        res: CsvResult | WebhookResult
        if url is None:
            res = export_csv(
                frame, str(scores), mapping, state, out=out, full=full, allow_older=allow_older
            )
        else:
            policy = RetryPolicy(
                max_attempts=max_attempts, timeout=timeout, max_seconds=max_seconds
            )
            res = export_webhook(
                frame,
                str(scores),
                mapping,
                state,
                url,
                secret_from_env(secret_env),
                project=project,
                target=name,
                full=full,
                batch_size=batch_size,
                policy=policy,
                progress=progress,
                allow_older=allow_older,
            )
    except (MappingError, JournalError, WebhookError) as exc:
        fail(str(exc))
    if res.rejects:
        log(
            f"{len(res.rejects):,} score rows not exported (reasons in "
            f"{state / 'rejected.jsonl'}), e.g. {res.rejects[0].customer_id!r}: "
            f"{res.rejects[0].reason}"
        )
    if res.gone:
        log(
            f"{res.gone:,} customers exported before are not in these scores: deleted or merged "
            f"in the source? (listed in {state / 'journal.sqlite'}, table not_in_scores; no "
            "deletion is sent)"
        )
    if isinstance(res, CsvResult):
        if res.replaced:
            log(
                f"{len(res.replaced)} file(s) of an earlier export were still at {out}: they may "
                f"never have been imported, so their {res.carried:,} customers in these scores "
                "are written again with them (move or delete the files once imported, and only "
                "the changes are written)"
            )
        if res.path is None:
            typer.echo(
                f"{project}/{name}: no customer changed since the last export ({res.unchanged:,} "
                "unchanged); no file written (--full to write everyone)"
            )
        else:
            files = (
                str(res.path)
                if len(res.paths) == 1
                else f"{len(res.paths)} files of at most {mapping.max_rows_per_file:,} rows "
                f"(the CRM's limit per file): {', '.join(map(str, res.paths))}"
            )
            typer.echo(
                f"{project}/{name}: wrote {res.written:,} customers to {files} "
                f"({res.unchanged:,} unchanged, not written)"
            )
        return
    if res.auth_error:
        fail(
            f"the receiver rejected the request: {res.auth_error}. Check that {secret_env} holds "
            "the receiver's shared secret; the batches stay in the journal and the next run "
            "resumes them"
        )
    if res.route_error:
        fail(
            f"no receiver at this URL: {res.route_error}. Check --url; the batches "
            "stay in the journal and the next run resumes them"
        )
    typer.echo(
        f"{project}/{name}: {res.customers_sent:,} customers in {res.delivered} batches delivered "
        f"({res.resumed_delivered} of them resumed from an interrupted run), {res.retries} "
        f"retries, {res.dead} batches dead-lettered ({res.dead_customers:,} customers), "
        f"{res.unchanged:,} customers unchanged"
    )
    if res.rejected_ids:
        shown = ", ".join(res.rejected_ids[:5]) + (", ..." if len(res.rejected_ids) > 5 else "")
        typer.secho(
            f"{len(res.rejected_ids):,} customers rejected by the receiver, each dead-lettered "
            f"alone (the others of their batches go on): {shown}",
            fg=typer.colors.RED,
            err=True,
        )
    if res.too_large:
        fits = res.limit.fits if res.limit else None
        typer.secho(
            f"the receiver refused {len(res.too_large)} batches as too large (HTTP 413, the "
            f"smallest of {min(res.too_large):,} customers) and each was sent again in halves"
            + (
                f"; the next exports send batches of {fits}, the largest it took (remembered "
                "for this target; --batch-size to send larger ones)"
                if fits
                else ""
            ),
            fg=typer.colors.YELLOW,
            err=True,
        )
    elif note := _batch_limit_note(res):
        typer.echo(note)
    if res.dead:
        typer.secho(
            f"{res.dead} batches failed for good: see {res.dead_letter}; their customers are "
            "sent again by the next export",
            fg=typer.colors.RED,
            err=True,
        )
    if res.not_attempted:
        why = _why_stopped(res.not_attempted, res.waiting_customers, res.retry_after, max_seconds)
        typer.secho(why, fg=typer.colors.RED, err=True)
    if not res.ok:
        raise typer.Exit(code=1)
