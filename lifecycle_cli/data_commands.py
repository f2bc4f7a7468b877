"""``lifecycle ingest``, ``generate`` and ``features``: CRM exports into contract tables, a
synthetic data set, point-in-time features."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from lifecycle_cli.errors import fail, log
from lifecycle_cli.options import (
    EngineData,
    EngineOption,
    SparkMasterOption,
    check_cutoffs,
    engine_data,
    latest_possible_time,
    local_out,
    parse_date,
    running_on,
    spark_paths,
)

if TYPE_CHECKING:
    from features.snapshots import ValueColumn


def ingest(
    transactions: Annotated[
        list[Path],
        typer.Option(
            help="Transactions export (CSV, TSV, whitespace, Parquet or a workbook; .gz, .bz2, "
            ".xz or a .zip of one). Repeat it, or quote a "
            "pattern ('orders_*.csv'), for several exports, oldest first: a later file's orders "
            "replace an earlier one's, rows repeated across files are kept once."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output contract directory (replaced as a whole).")],
    customers: Annotated[
        list[Path] | None,
        typer.Option(help="Customers export (repeatable, oldest first: the latest record wins)."),
    ] = None,
    events: Annotated[
        list[Path] | None,
        typer.Option(
            help="Engagement events export (repeatable: one per tool, e.g. newsletter opens and "
            "help-desk tickets; a map file's files: section maps each its own way)."
        ),
    ] = None,
    map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help='Column mapping, e.g. "customer_id=Customer '
            'ID,ordered_at=InvoiceDate,quantity=Quantity,unit_price=UnitPrice"; quote names '
            'holding commas: amount="Umsatz (EUR, netto)". '
            "Keys may be qualified: events.occurred_at=...",
        ),
    ] = None,
    map_file: Annotated[
        Path | None,
        typer.Option(
            help="YAML map file: columns:, values: (e.g. event_type: {Case: support_ticket}), "
            "format keys (encoding, sep, sheet, decimal, thousands, date_format, date_order, "
            "timezone, currency, amount_sign: negative_is_sale for a statement whose spend is "
            "negative) and files: (a file name or pattern -> its own columns:, "
            "values:, formats, for exports of other tools); exclude: (rows set aside by a "
            "column's value: {Environment: [Sandbox], customers.is_test: ['true']}) and "
            "currency_rates: ({EUR: 1.08} with currency: USD). customer_email (mapped for the "
            "customers file and another file) finds that file's customers by e-mail; "
            "customers.customer_alias and customers.merged_into name a customer's other ids."
        ),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of the date columns (default: detected).")
    ] = None,
    date_order: Annotated[
        str | None,
        typer.Option(
            help="dmy or mdy: how to read 05/03/2024 (default: detected from the values, else "
            "reported guess)."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The business's time zone, whose days the data is in, e.g. America/New_York "
            "or Asia/Shanghai (default: UTC): times without an offset are read as its (a "
            "Fxiaoke export's Beijing time), those with one are converted into it."
        ),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(
            help="Column separator: , ; tab | whitespace (default: sniffed, quotes respected)."
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Text encoding: utf-8, utf-8-sig, gbk, gb18030, cp932, latin-1, cp1252 (default: "
            "UTF-8, BOM, GBK or CP932 detected)."
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Sheet of a workbook export (.xlsx, .xls, .ods) to read (default: the first "
            "that holds anything)."
        ),
    ] = None,
    decimal: Annotated[
        str | None, typer.Option(help="Decimal separator . or , (default: detected).")
    ] = None,
    thousands: Annotated[
        str | None,
        typer.Option(help="Thousands separator , . space ' or none (default: detected)."),
    ] = None,
    strict_values: Annotated[
        bool,
        typer.Option(
            "--strict-values",
            help="Quarantine events whose type maps to no contract type (default: count them as "
            "other).",
        ),
    ] = False,
    min_accepted_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fail (and write nothing) when a table accepts a smaller share of its rows.",
        ),
    ] = 0.5,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read, map, validate and report; write nothing (to try a map file)."
        ),
    ] = False,
    campaigns: Annotated[
        list[Path] | None,
        typer.Option(
            help="Campaigns export (customer_id, sent_at, campaign_id, action, arm, cost) for "
            "uplift. Repeat it, or quote a pattern, for several (an e-mail tool's and a call "
            "list; weekly lists): a map file's files: section maps each its own way "
            "(campaigns.arm: Group), and a customer sent twice in a campaign, or in both of its "
            "arms, is found across the files."
        ),
    ] = None,
    campaigns_map: Annotated[
        str | None,
        typer.Option(
            help='Campaigns column mapping, e.g. "arm=Group,sent_at=Send Date" (same syntax as '
            "--map)."
        ),
    ] = None,
    unquoted: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Validate CRM exports into contract tables; bad rows go to DIR/quarantine with a reason."""
    from features.ingest import ingest as run_ingest
    from features.mapping import IngestError, load_mapping

    if unquoted:  # an unquoted pattern: the shell gave the option its first file, the rest loose
        more = f" and {len(unquoted) - 1} more" if len(unquoted) > 1 else ""
        fail(
            f"{unquoted[0]}{more}: files given without an option (an unquoted pattern such as "
            "--transactions deals_*.csv, expanded by the shell?): quote the pattern "
            "(--transactions 'deals_*.csv') or repeat the option for each file"
        )

    try:
        mapping = load_mapping(
            map,
            map_file,
            date_format,
            date_order=date_order,
            timezone=timezone,
            sep=sep,
            sheet=sheet,
            encoding=encoding,
            decimal=decimal,
            thousands=thousands,
        )
        campaigns_source = None
        if campaigns:  # written with the other tables, in the same swap
            from features.campaigns import campaigns_sources
            from features.export_files import expand_files
            from features.mapping import parse_map_option

            campaigns_source = campaigns_sources(
                expand_files(campaigns, "--campaigns"),
                mapping,
                parse_map_option(campaigns_map) if campaigns_map else None,
            )
        reports = run_ingest(
            out,
            transactions,
            mapping,
            customers=customers,
            events=events,
            log=log,
            strict_values=strict_values,
            min_accepted_share=min_accepted_share,
            dry_run=dry_run,
            latest=latest_possible_time(mapping.business_zone),
            campaigns=campaigns_source,
        )
    except IngestError as exc:
        fail(str(exc))
    campaign_report = reports.pop("campaigns", None)
    total_read = sum(r.rows_read for r in reports.values())
    total_q = sum(r.quarantined for r in reports.values())
    where = f"dry run, nothing written to {out}" if dry_run else f"ingested into {out}"
    derived = Counter[str]()
    for r in reports.values():
        derived.update(r.derived_events)
    typer.echo(
        f"{where}: {total_read:,} rows read, {total_read - total_q:,} accepted, {total_q:,} "
        "quarantined"
        + "".join(
            f"; {n:,} {kind} events derived from ticket ratings" for kind, n in derived.items()
        )
    )
    if campaign_report is not None:
        report = campaign_report
        typer.echo(
            f"campaigns: {report.rows_read:,} rows read, {report.accepted:,} accepted, "
            f"{report.quarantined:,} quarantined"
        )


def generate(
    out: Annotated[Path, typer.Option(help="Output contract directory.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the simulated period.")] = "2023-01-01",
    end: Annotated[
        str, typer.Option(help="End of the simulated period (exclusive: no data on or after it).")
    ] = "2026-01-01",
    campaigns: Annotated[
        bool,
        typer.Option(
            "--campaigns",
            help="Add a randomized retention campaign (email, discount, call vs control) sent 120 "
            "days "
            "before --end, with a 90-day window; true effects in campaign_truth.parquet.",
        ),
    ] = False,
) -> None:
    """Generate a synthetic CRM data set with ground truth (truth.parquet)."""
    from features.synthetic import generate as run_generate

    spec = None
    if campaigns:
        from features.synthetic_campaigns import CampaignSpec

        sent = date.fromordinal(parse_date(end, "--end").toordinal() - 120)
        spec = CampaignSpec(sent_at=str(sent), campaign_id=f"retention-{sent:%Y-%m}", seed=seed)
    summary = run_generate(out, customers, seed, start=start, end=end, campaigns=spec)
    typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))


def features(
    data: EngineData,
    cutoff: Annotated[list[str], typer.Option(help="Cutoff date(s) YYYY-MM-DD; repeat to stack.")],
    out: Annotated[
        str, typer.Option(help="Output Parquet file (--engine spark: a directory or URI).")
    ],
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Add labels over [T, T+H).")
    ] = None,
    value: Annotated[str, typer.Option(help="Value label: revenue or margin.")] = "revenue",
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Compute point-in-time features (and labels) at one or more cutoffs.

    With --engine spark, OUT is a Parquet directory partitioned by cutoff_day, written by Spark."""
    from features.snapshots import write_snapshots
    from training.dataset import ended_customers

    if value not in ("revenue", "margin"):
        fail(f"--value {value!r}: expected revenue or margin")
    label = cast("ValueColumn", value)
    source = engine_data(data, engine)
    cutoffs = [parse_date(c, "--cutoff") for c in cutoff]
    if engine != "duckdb":
        from training.dataset import BuildSettings, building_on

        with running_on(engine, spark_master) as spark, building_on(BuildSettings(spark)):
            spark_paths(spark, source, out)
            check_cutoffs(source, cutoffs, horizon_days)
            written = write_snapshots(
                spark, source, cutoffs, out, horizon_days=horizon_days, value=label
            )
            ended = ended_customers(source) if horizon_days else 0
        typer.echo(
            f"wrote {written.rows:,} rows x {written.columns} columns to {out} (Spark, by "
            "cutoff_day)"
        )
        _warn_of_ends(ended)
        return
    check_cutoffs(source, cutoffs, horizon_days)
    written = write_snapshots(
        None, source, cutoffs, local_out(out, engine), horizon_days=horizon_days, value=label
    )
    typer.echo(f"wrote {written.rows:,} rows x {written.columns} columns to {out}")
    _warn_of_ends(ended_customers(source) if horizon_days else 0)


def _warn_of_ends(ended: int) -> None:
    """Says that the labels of ``lifecycle features`` count purchases only, when customers
    have ends that training would count."""
    if ended:
        typer.secho(
            f"warning: {ended:,} customers have an end (customers.ended_at); these labels count "
            "purchases only, while lifecycle train also counts an end within the horizon as "
            "churn and leaves out the rows of customers who had ended before their cutoff",
            fg=typer.colors.YELLOW,
            err=True,
        )
