"""The ``lifecycle`` command line: a thin layer over the features, training and serving packages.

Imports of heavy libraries happen inside the commands, so ``lifecycle --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="Customer lifecycle platform: ingest CRM data, build point-in-time features, "
    "train churn and CLV models, backtest, and score customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
experiment_app = typer.Typer(help="Run experiments defined in experiments/*.yaml.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _log(message: str) -> None:
    typer.echo(message, err=True)


DataDir = Annotated[Path, typer.Option("--data", help="Contract directory (from ingest or generate).")]


@app.command()
def ingest(
    transactions: Annotated[Path, typer.Option(help="Transactions export (CSV, TSV, whitespace or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output contract directory.")],
    customers: Annotated[Optional[Path], typer.Option(help="Customers export.")] = None,
    events: Annotated[Optional[Path], typer.Option(help="Engagement events export.")] = None,
    map: Annotated[Optional[str], typer.Option(
        "--map", help='Column mapping, e.g. "customer_id=Customer ID,ordered_at=InvoiceDate,'
        'quantity=Quantity,unit_price=UnitPrice". Keys may be qualified: events.occurred_at=...')] = None,
    map_file: Annotated[Optional[Path], typer.Option(help="YAML mapping file (columns: {...}, date_format: ...).")] = None,
    date_format: Annotated[Optional[str], typer.Option(help="strptime format of the date columns (default: detected).")] = None,
) -> None:
    """Validate CRM exports into contract tables; bad rows go to DIR/quarantine with a reason."""
    from features.ingest import ingest as run_ingest
    from features.mapping import IngestError, load_mapping

    try:
        mapping = load_mapping(map, map_file, date_format)
        reports = run_ingest(out, transactions, mapping, customers=customers, events=events, log=_log)
    except IngestError as exc:
        _fail(str(exc))
    total_read = sum(r.rows_read for r in reports.values())
    total_q = sum(r.quarantined for r in reports.values())
    typer.echo(f"ingested into {out}: {total_read:,} rows read, "
               f"{total_read - total_q:,} accepted, {total_q:,} quarantined")


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output contract directory.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the simulated period.")] = "2023-01-01",
    end: Annotated[str, typer.Option(help="Last day of the simulated period.")] = "2025-12-31",
) -> None:
    """Generate a synthetic CRM data set with ground truth (truth.parquet)."""
    from features.synthetic import generate as run_generate

    summary = run_generate(out, customers, seed, start=start, end=end)
    typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))


@app.command()
def features(
    data: DataDir,
    cutoff: Annotated[list[str], typer.Option(help="Cutoff date(s) YYYY-MM-DD; repeat to stack.")],
    out: Annotated[Path, typer.Option(help="Output Parquet file.")],
    horizon_days: Annotated[Optional[int], typer.Option(min=1, help="Add labels over [T, T+H).")] = None,
    value: Annotated[str, typer.Option(help="Value label: revenue or margin.")] = "revenue",
) -> None:
    """Compute point-in-time features (and labels) at one or more cutoffs."""
    from features.snapshots import build_snapshots

    cutoffs = [_parse_date(c, "--cutoff") for c in cutoff]
    frame = build_snapshots(data, cutoffs, horizon_days=horizon_days, value=value, out=out)
    typer.echo(f"wrote {len(frame):,} rows x {frame.shape[1]} columns to {out}")


def _parse_date(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        _fail(f"{option}: {text!r} is not a date of the form YYYY-MM-DD")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
