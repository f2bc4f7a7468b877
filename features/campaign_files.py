"""Campaigns exports and how to read each (a map file's ``files:`` sections), read one by one
and put together into one table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.campaign_rows import FileRows, checked_rows
from features.campaign_sends import put_together
from features.campaign_table import CAMPAIGNS
from features.csv_source import read_source
from features.ingest_log import log_report, require_share, source_formats
from features.mapping import IngestError
from features.numbers import forced_format
from features.source_file import EmptyExport


@dataclass(frozen=True)
class CampaignsSource:
    """A campaigns export and how to read it (``columns``: contract column -> source column;
    ``number_format``: a :class:`features.numbers.NumberFormat`, None to detect)."""

    path: Path
    columns: dict[str, str] | None = None
    date_format: str | None = None
    date_order: str | None = None
    timezone: str | None = None  # of times written without an offset
    business_zone: str | None = None  # whose days sent_at is in (default: ``timezone``)
    number_format: object = None
    arm_values: dict[str, str] | None = None  # source arm text -> treated / control
    encoding: str | None = None  # None: detected, as the separator and the sheet
    sep: str | None = None
    sheet: str | None = None


def campaigns_sources(paths: list[Path], mapping, columns: dict[str, str] | None = None):
    """A :class:`CampaignsSource` per campaigns file, each read by the map file
    (:class:`features.mapping.ColumnMapping`) as its ``files:`` section says: formats, arm
    names, and columns (``campaigns.<column>`` keys: the section's win over ``columns``, the
    ``--campaigns-map`` option, which wins over the map file's top level)."""

    def own(keys: dict[str, str]) -> dict[str, str]:
        prefix = f"{CAMPAIGNS}."
        return {k.removeprefix(prefix): v for k, v in keys.items() if k.startswith(prefix)}

    seen = [Path(p).resolve() for p in paths]
    if twice := next((p for i, p in enumerate(paths) if seen[i] in seen[:i]), None):
        raise IngestError(
            f"{twice}: given twice to --campaigns (named and matched by a pattern?): each of its "
            "rows would be its own duplicate; give each file once"
        )
    sources = []
    for path in paths:
        formats = mapping.for_file(Path(path))  # its files: section, if any
        section = mapping.section_for(Path(path))
        mapped = own(mapping.columns) | (columns or {})
        mapped |= own(mapping.files[section].columns) if section is not None else {}
        sources.append(
            CampaignsSource(
                Path(path),
                mapped or None,
                date_format=formats.date_format,
                date_order=formats.date_order,
                timezone=formats.timezone,
                business_zone=formats.business_zone,
                number_format=forced_format(formats.decimal, formats.thousands),
                arm_values=formats.values_for(CAMPAIGNS, "arm") or None,
                encoding=formats.encoding,
                sep=formats.sep,
                sheet=formats.sheet,
            )
        )
    return sources


def read_campaigns(
    source: CampaignsSource | list[CampaignsSource],
    known_ids: set[str] | None,
    min_accepted_share: float = 0.0,
    log=print,
    latest=None,
    day_first: bool | None = None,
    emails=None,
):
    """Read and validate a campaigns export, or several (each with its own formats and columns,
    then put together: :func:`put_together`): ``(accepted, quarantined, report)``; a file of too
    small an accepted share is an ``IngestError`` (nothing is written by the callers then), as is
    a file that cannot be read or lacks a column (it is named). ``latest``, ``day_first``: see
    :func:`checked_rows`."""

    sources = [source] if isinstance(source, CampaignsSource) else source
    files: list[FileRows] = []
    for i, one in enumerate(sources):
        path = Path(one.path)
        log(f"campaigns: reading {path} ...")
        try:
            read = read_source(path, one.encoding, one.sep, one.sheet)
        except EmptyExport as exc:  # a week nobody was called, among weekly call lists
            if len(sources) == 1 or (i == len(sources) - 1 and not files):
                raise
            log(f"campaigns: warning: {exc}; skipped, the other files are read")
            continue
        log(f"campaigns: {len(read.frame):,} rows read ({', '.join(source_formats(read))})")
        rows = checked_rows(
            read.frame,
            path,
            one.columns,
            date_format=one.date_format,
            date_order=one.date_order,
            timezone=one.timezone,
            business_zone=one.business_zone,
            known_ids=known_ids,
            problems=read.problems,
            lines=read.lines if read.lines.any() else None,
            number_format=one.number_format,
            sep=read.sep,
            latest=latest,
            emails=emails,
            day_first=day_first,
            arm_values=one.arm_values,
        )
        files.append(rows)
    accepted, quarantined, report = put_together(files)
    require_share([f.report for f in files], min_accepted_share)  # each file on its own
    for f in files:
        if len(files) > 1:
            log(f"campaigns: {f.path.name}:")
        log_report(f.report, log)
        for why, sample in f.report.samples.items():
            log(f"campaigns: e.g. {why}: {sample}")
        if len(files) > 1:
            log(
                f"campaigns: {f.path.name}: {f.report.rows_read:,} rows read, "
                f"{f.report.accepted:,} accepted, {f.report.quarantined:,} quarantined"
            )
    if len(files) > 1:  # what only the files together show (one campaign id over weeks)
        own = {f"{f.path.name}: {w}" for f in files for w in f.report.warnings}
        for warning in (w for w in report.warnings if w not in own):
            log(f"campaigns: warning: {warning}")
        detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items())) or "none"
        log(
            f"campaigns: {len(files)} files together: {report.rows_read:,} rows read, "
            f"{report.accepted:,} accepted, {report.quarantined:,} quarantined [{detail}]"
        )
    return accepted, quarantined, report
