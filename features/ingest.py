"""Ingest: turn CRM exports (CSV or Parquet) into validated contract tables.

Every source row ends up either accepted (in ``DIR/<table>.parquet``) or quarantined (in
``DIR/quarantine/<table>.parquet`` with the reason); ``accepted + quarantined == rows read``.
A file that cannot be used at all raises :class:`IngestError` naming the file and the column, and
so does a table whose accepted share is below ``min_accepted_share``. The output directory is
replaced as a whole, only when every table passed (see :mod:`features.atomic_dir`).

This module reads each table's files, checks the tables against each other and writes them.
Reading (encoding, separator, row structure) is :mod:`features.csv_source`; numbers
:mod:`features.numbers`; dates :mod:`features.dates`; event-type values :mod:`features.values`.
One file is validated by :mod:`features.file_tables` (its report and rows:
:mod:`features.ingest_tables`), with its columns found by :mod:`features.source_columns`,
unread ones named by :mod:`features.unread_columns`, date columns :mod:`features.date_columns`,
amounts :mod:`features.amounts`, currencies :mod:`features.currencies`, order statuses
:mod:`features.order_status`, repeated rows :mod:`features.repeated_rows` and the map file's
``exclude:`` :mod:`features.excluded_rows`, a customer's status :mod:`features.customer_status`,
a payment's term :mod:`features.terms`; several files of a table are put together by
:mod:`features.combined_files`, and the map file's ``values:`` keys no file matched are named by
:mod:`features.value_keys`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from features.atomic_dir import check_replaceable, replaced_directory
from features.campaigns import CAMPAIGNS, campaigns_path, read_campaigns
from features.combined_files import (
    CARRIED,
    NAMED_ELSEWHERE,
    SIGNUPS_KEPT,
    carried_somewhere,
    combined_table,
    ids_of_two_people,
    told_order,
)
from features.contract import (
    BUSINESS_ZONE,
    CONTRACT,
    CUSTOMER_FILES,
    CUSTOMERS,
    ENDED_AT,
    EVENTS,
    EXPORT_FILE,
    EXPORT_FILES_SEP,
    MANIFEST,
    QUARANTINED_ID,
    TABLES,
    TIME_COLUMN,
    TRANSACTIONS,
    quarantine_path,
    table_path,
)
from features.csv_source import read_source
from features.currencies import table_currency, unmarked_files
from features.customer_emails import CUSTOMER_EMAIL, EmailIndex, folded, relay_note
from features.customer_ids import aliases_that_are_ids
from features.export_files import (
    expand_files,
    order_numberings,
    order_warnings,
    orders_of_two_tools,
)
from features.file_tables import ID_FORMS, build_table
from features.ingest_log import log_report, require_share, source_formats
from features.ingest_tables import KnownCustomers, Table, TableReport
from features.ingest_warnings import (
    buyers_without_sales,
    files_without_events,
    history_shrinks,
    ids_lowered,
    same_person_in_two_tools,
)
from features.mapping import ColumnMapping, FileMapping, IngestError
from features.record_dates import bought_before_record, ends_before_record
from features.source_file import EmptyExport, SourceFile
from features.ticket_ratings import TICKET_AT, TICKET_RATINGS, ratings_across_files
from features.value_keys import unmatched_note
from features.values import MERGED, NO_SALE

#: Default lowest share of accepted rows per table; below it ingest fails and writes nothing.
MIN_ACCEPTED_SHARE = 0.5


#: Everything ingest writes into ``--out`` (anything else there makes ingest refuse the directory).
OWNED = {
    f"{folder}{t}.parquet" for t in (*TABLES, "campaigns") for folder in ("", "quarantine/")
} | {MANIFEST}


#: A table's export: one file, or several (a list; a quoted pattern such as ``orders_*.csv``).
Files = str | Path | Sequence[str | Path]


def _derive_customers(transactions: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Customers table when no customers file is given: first contact = first transaction/event
    (its file is the customer's ``EXPORT_FILE``)."""
    columns = ["customer_id", "signup_at", EXPORT_FILE]
    parts = [transactions.rename(columns={"ordered_at": "signup_at"})[columns]]
    if events is not None:
        parts.append(events.rename(columns={"occurred_at": "signup_at"})[columns])
    rows = pd.concat(parts, ignore_index=True)
    first = rows.loc[rows.groupby("customer_id", sort=True)["signup_at"].idxmin()]
    first = first.reset_index(drop=True)
    for col in ("region", "channel", "segment"):
        first[col] = pd.Series(pd.NA, index=first.index, dtype="string")
    return first


def _ends_from_rows(customers: pd.DataFrame, built: dict[str, Table], log) -> pd.DataFrame:
    """``customers`` with the ends that rows of the transactions and events files say
    (``features.values.ENDED``: a subscription cancelled, a number ported out): a customer's
    latest such row's date is their ``ended_at`` where the customers table gives none (a
    customers file's own end wins). Said per file; a row of a customer the customers file does
    not hold was quarantined as unknown, as that customer's other rows are."""
    parts = [b.ends for t, b in built.items() if t != CUSTOMERS and b.ends is not None]
    rows = pd.concat(parts, ignore_index=True) if parts else None
    if rows is None or rows.empty:
        return customers
    rows = rows.sort_values(ENDED_AT, kind="stable").drop_duplicates("customer_id", keep="last")
    latest = rows.set_index("customer_id")
    ids = customers["customer_id"].astype("string")
    own = pd.to_datetime(
        customers[ENDED_AT] if ENDED_AT in customers else pd.Series(pd.NaT, index=customers.index)
    )
    derived = pd.to_datetime(ids.map(latest[ENDED_AT]))
    taken = (own.isna() & derived.notna()).to_numpy(dtype=bool)
    kept = int((own.notna() & derived.notna()).sum())
    files = ids[taken].map(latest["source_file"]).map(lambda f: Path(f).name).value_counts()
    said = ", ".join(f"{n:,} from {f}" for f, n in files.items())
    log(
        f"customers: ended_at: {int(taken.sum()):,} customers ended by rows saying so"
        + (f" ({said})" if said else "")
        + (f"; {kept:,} keep the customers file's own end" if kept else "")
        + (
            f"; {n:,} ended customers have no other row and are no customers"
            if (n := len(rows) - int(derived.notna().sum()))
            else ""
        )
    )
    return customers.assign(**{ENDED_AT: own.where(own.notna(), derived)})


def _read_record_date(
    customers: pd.DataFrame, transactions: pd.DataFrame, column: str, report: TableReport, log
) -> pd.DataFrame:
    """``customers`` whose signup_at is a record's date (``column``, :mod:`features.record_dates`)
    with the ends before it of those who came back read as no end; said in the report's ended_at
    line, and warned of when most customers bought before it."""
    customers, early, back = ends_before_record(customers, transactions)
    if early:
        said = (
            f"of the {early:,} end(s) before {column!r}, {early - back:,} kept, {back:,} read "
            "as no end (the customer bought after it: came back)"
        )
        report.formats[ENDED_AT] = f"{report.formats.get(ENDED_AT, '')}; {said}"
        log(f"{CUSTOMERS}: {ENDED_AT}: {said}")
    if warning := bought_before_record(customers, transactions, column, early, back):
        report.warnings.append(warning)
        log(f"{CUSTOMERS}: warning: {warning}")
    return customers


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def _to_contract_types(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    columns = {}
    for col in CONTRACT[table]:
        if col.name not in frame:
            if col.required:
                continue
            values = pd.Series(None, index=frame.index, dtype="object")
        else:
            values = frame[col.name]
        if col.dtype == "bool":  # a flag absent (no column, another file's customer) is no
            columns[col.name] = values.astype("boolean").fillna(False).astype(bool)
            continue
        kind = {"string": "string", "timestamp": "datetime64[us]", "float": "float64"}[col.dtype]
        columns[col.name] = (
            values.astype(kind) if col.dtype != "float" else pd.to_numeric(values).astype(kind)
        )
    if table == CUSTOMERS and EXPORT_FILE in frame:
        columns[EXPORT_FILE] = frame[EXPORT_FILE].astype("string")
    return (
        pd.DataFrame(columns)
        .sort_values([TIME_COLUMN[table], "customer_id"], kind="stable")
        .reset_index(drop=True)
    )


def ingest(
    out_dir: str | Path,
    transactions: Files,
    mapping: ColumnMapping,
    customers: Files | None = None,
    events: Files | None = None,
    log=print,
    strict_values: bool = False,
    min_accepted_share: float = MIN_ACCEPTED_SHARE,
    dry_run: bool = False,
    latest: pd.Timestamp | None = None,
    campaigns=None,
) -> dict[str, TableReport]:
    """Ingest exports into a contract directory (replaced as a whole) and return the per-table
    counts. A table may come as several files (a path or a list; a quoted pattern is expanded):
    each is validated alone, then they are put together as :mod:`features.export_files` says.

    ``campaigns`` (a :class:`features.campaigns.CampaignsSource`, or a list of them: one table
    from several files, :func:`features.campaigns.read_campaigns`) is validated against the new
    customers and written in the same swap: a failing campaigns file leaves the previous
    directory whole, and a kill never leaves new tables beside old campaigns.

    With ``dry_run`` everything is read, mapped, validated and reported, and nothing is written.
    ``latest`` (naive, the business zone's; the CLI passes the end of its tomorrow): rows dated
    after it are quarantined as in the future (a 2099 typed for 1999), never the data's end.
    """
    out_dir = Path(out_dir)
    if not 0.0 <= min_accepted_share <= 1.0:
        raise IngestError(
            f"--min-accepted-share {min_accepted_share}: expected a share between 0 and 1"
        )
    if not dry_run:
        check_replaceable(out_dir.absolute(), OWNED)
    given = ((CUSTOMERS, customers), (TRANSACTIONS, transactions), (EVENTS, events))
    mapping.check_sections_used(
        [path for table, files in given if files is not None for path in _paths(table, files)]
        + [Path(c.path) for c in _campaigns_files(campaigns)]
    )
    built: dict[str, Table] = {}
    known: KnownCustomers | None = None
    per_file: list[TableReport] = []
    origins: dict[str, str | None] = {}  # the files customers come from -> their section
    if customers is not None:
        built[CUSTOMERS] = _ingest_files(
            CUSTOMERS, customers, mapping, None, log, strict_values, latest, per_file, origins
        )
        known = _known_customers(built[CUSTOMERS], log)
    first_contact = None if customers is not None else origins
    for table, files in ((TRANSACTIONS, transactions), (EVENTS, events)):
        if files is not None:  # each file in the day/month order the tables before it told
            built[table] = _ingest_files(
                table,
                files,
                mapping,
                known,
                log,
                strict_values,
                latest,
                per_file,
                first_contact,
                told_order(b.report.day_first for b in built.values()),
            )
    require_share(per_file, min_accepted_share)  # each file on its own
    if (sales := built[TRANSACTIONS].report).accepted == 0 and sales.rows_read:
        aside = ", ".join(f"{r}: {n:,}" for r, n in sales.reasons.items())
        hint = (
            " If a status means a paid order in this export, map it: values: {status: "
            "{<status>: completed}}"
            if any(r in NO_SALE for r in sales.reasons)
            else ""
        )
        raise IngestError(
            f"{sales.source_file}: transactions: no sale left, every row was set aside ({aside}): "
            f"nothing to learn from; nothing written.{hint}"
        )
    sold = built[TRANSACTIONS]
    customers = built[CUSTOMERS].accepted["customer_id"] if CUSTOMERS in built else None
    if unsold := buyers_without_sales(sold.accepted, sold.quarantined, customers):
        sold.report.warnings.append(unsold)
        log(f"{TRANSACTIONS}: warning: {unsold}")
    if (
        EVENTS in built
        and CUSTOMERS in built
        and (silent := files_without_events(built[CUSTOMERS].accepted, built[EVENTS].accepted))
    ):
        built[EVENTS].report.warnings.append(silent)
        log(f"{EVENTS}: warning: {silent}")
    reports = {t: b.report for t, b in built.items()}
    tables = {t: b.accepted for t, b in built.items()}
    if customers is None:
        tables[CUSTOMERS] = _derive_customers(tables[TRANSACTIONS], tables.get(EVENTS))
        log(
            f"customers: derived {len(tables[CUSTOMERS]):,} customers from first contact "
            "(no customers file given)"
        )
    if CUSTOMERS in built and (column := built[CUSTOMERS].record_date) is not None:
        tables[CUSTOMERS] = _read_record_date(
            tables[CUSTOMERS], tables[TRANSACTIONS], column, reports[CUSTOMERS], log
        )
    elif CUSTOMERS in built and (
        warning := bought_before_record(
            tables[CUSTOMERS],
            tables[TRANSACTIONS],
            mapping.source_for(CUSTOMERS, "signup_at") or "signup_at",
            0,
            0,
            mapped=True,
        )
    ):
        reports[CUSTOMERS].warnings.append(warning)
        log(f"{CUSTOMERS}: warning: {warning}")
    tables[CUSTOMERS] = _ends_from_rows(tables[CUSTOMERS], built, log)
    if EVENTS in built and (ratings := built[EVENTS].ratings) is not None:  # no rows read
        tables[EVENTS] = pd.concat(
            [tables[EVENTS], ratings.drop(columns=TICKET_AT)], ignore_index=True
        )
    campaign_rows = None
    if campaigns is not None:
        customer_ids = set(tables[CUSTOMERS]["customer_id"].astype(str))
        campaign_rows = read_campaigns(
            campaigns,
            customer_ids,
            min_accepted_share,
            log,
            latest,
            day_first=told_order(b.report.day_first for b in built.values()),
            emails=known.emails if known is not None else None,
        )
        reports[CAMPAIGNS] = campaign_rows[2]
    if dry_run:
        return reports
    if shrunk := history_shrinks(out_dir, tables[TRANSACTIONS]):
        log(f"transactions: warning: {shrunk}")
    if lowered := ids_lowered(out_dir):
        log(f"customers: warning: {lowered}")
    with replaced_directory(out_dir, OWNED) as staging:
        if campaign_rows is not None:
            accepted, quarantined, _ = campaign_rows
            _write(accepted, campaigns_path(staging))
            _write(quarantined, quarantine_path(staging, CAMPAIGNS))
        for table, frame in tables.items():
            _write(_to_contract_types(frame, table), table_path(staging, table))
        for table, b in built.items():
            frame = b.quarantined
            _write(
                frame.astype(
                    {c: "string" for c in frame.columns if c not in {"source_row", "source_line"}}
                ),
                quarantine_path(staging, table),
            )
        manifest = {
            "tables": {t: asdict(r) for t, r in reports.items()},
            "customers": len(tables[CUSTOMERS]),
            CUSTOMER_FILES: origins,
            BUSINESS_ZONE: mapping.business_zone or "UTC",
        }
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
    return reports


def _campaigns_files(campaigns) -> list:
    """The :class:`features.campaigns.CampaignsSource` of each campaigns file given."""
    if campaigns is None:
        return []
    return list(campaigns) if isinstance(campaigns, list | tuple) else [campaigns]


def _known_customers(customers: Table, log) -> KnownCustomers:
    """The accepted customers (of all customers files) the other tables are checked against; their
    e-mail index is built once, here, and an address several of them give is warned of."""
    accepted = customers.accepted
    emails = None
    if CUSTOMER_EMAIL in accepted and customers.email_column is not None:
        emails = EmailIndex.of(accepted, customers.email_column)
        if customers.email_column in customers.quarantined:  # source rows: their own column
            held = folded(customers.quarantined[customers.email_column]).dropna()
            emails = replace(emails, quarantined=frozenset(held) - set(emails.ids) - emails.shared)
        if customers.aliases is not None:  # merged records' addresses: their survivor's
            merged = customers.quarantined[customers.quarantined["reason"] == MERGED]
            emails = emails.with_merged(*_merged_addresses(merged, customers))
        if shared := emails.shared_note():  # within a file or across customers files
            shared += same_person_in_two_tools(accepted, emails.shared)
            customers.report.warnings.append(shared)
            log(f"{CUSTOMERS}: warning: {shared}")
        if relayed := relay_note(accepted[CUSTOMER_EMAIL], customers.email_column):
            customers.report.warnings.append(relayed)
            log(f"{CUSTOMERS}: warning: {relayed}")
    ids = set(accepted["customer_id"])
    if customers.aliases is not None and (both := aliases_that_are_ids(customers.aliases, ids)):
        customers.report.warnings.append(both)
        log(f"{CUSTOMERS}: warning: {both}")
    return KnownCustomers(
        ids,
        customers.quarantined_ids,
        customers.excluded_ids,
        emails,
        customers.email_column,
        customers.other_ids,
        customers.aliases,
        customers.alias_column,
    )


def _merged_addresses(merged: pd.DataFrame, customers: Table) -> tuple[pd.Series, pd.Series]:
    """The folded address and the survivor of each merged record of the customers files: its
    contract values where another file's record took it, else its source row's."""
    blank = pd.Series(pd.NA, index=merged.index, dtype="string")
    ids = merged.get("customer_id", blank).astype("string")
    ids = ids.fillna(merged.get(QUARANTINED_ID, blank).astype("string"))
    column = customers.email_column
    address = merged.get(CUSTOMER_EMAIL, blank).astype("string")
    address = address.fillna(merged.get(column, blank).astype("string") if column else blank)
    return folded(address), ids.map(customers.aliases)


def _ingest_files(
    table: str,
    files: Files,
    mapping: ColumnMapping,
    known: KnownCustomers | None,
    log,
    strict_values: bool,
    latest: pd.Timestamp | None,
    per_file: list[TableReport] | None = None,
    origins: dict[str, str | None] | None = None,
    day_first: bool | None = None,
) -> Table:
    """One table from one or several export files; each file's report is added to ``per_file``.
    With ``origins`` each accepted row carries its file (column ``EXPORT_FILE``) and each file
    is recorded there with its ``files:`` section.

    A file whose ``a/b/yyyy`` dates fit both orders (a weekly export of the 1st to the 7th) is
    read in the order the other files of this table, and ``day_first`` (the tables read before),
    told, when they agree; it is reported once that is known."""

    paths = _paths(table, files)
    several = table == CUSTOMERS and len(paths) > 1  # each may lack a carried column
    parts: list[Table] = []
    undecided: list[tuple[int, Path, SourceFile, FileMapping]] = []  # order assumed: read again
    for path in paths:
        log(f"{table}: reading {path} ...")
        file_mapping = mapping.for_file(path)
        try:
            source = read_source(path, file_mapping.encoding, file_mapping.sep, file_mapping.sheet)
        except EmptyExport as exc:  # a week without orders among several exports: not an error
            if len(paths) == 1 or (path == paths[-1] and not parts):
                raise
            log(f"{table}: warning: {exc}; skipped, the other files are read")
            continue
        log(f"{table}: {len(source.frame):,} rows read ({', '.join(source_formats(source))})")
        part = build_table(
            table, source, file_mapping, known, strict_values, latest, several=several
        )
        if origins is not None:
            origins[str(path.absolute())] = mapping.section_for(path)
            part = _with_file(part, path)
        parts.append(part)
        if part.order_assumed:
            undecided.append((len(parts) - 1, path, source, file_mapping))
            log(f"{table}: {path.name}: dates fit both dd/mm and mm/dd; read once all are read")
            continue
        log_report(parts[-1].report, log)
        _log_ratings(table, parts[-1].report, log)
    told = told_order([*(p.report.day_first for p in parts), day_first])
    for i, path, source, file_mapping in undecided:
        if told is not None:
            part = build_table(
                table,
                source,
                file_mapping,
                known,
                strict_values,
                latest,
                told,
                several=several,
            )
            parts[i] = _with_file(part, path) if origins is not None else part
        log(f"{table}: {path.name}:")
        log_report(parts[i].report, log)
        _log_ratings(table, parts[i].report, log)
    if per_file is not None:
        per_file += [p.report for p in parts]
    if table == CUSTOMERS:
        carried_somewhere(parts, mapping, paths)
    for column in sorted({c for p in parts for c in p.value_keys}):
        said = unmatched_note(
            table, column, [p.value_keys[column] for p in parts if column in p.value_keys]
        )
        if said:
            parts[-1].report.warnings.append(said)
            log(f"{table}: warning: {said}")
    if len(parts) == 1:
        return parts[0]
    numberings, apart = _order_numberings(table, parts, mapping)
    currency, currencies = table_currency(parts)
    combined = combined_table(table, parts, numberings, currency)
    if ends := [p.ends for p in parts if p.ends is not None]:
        combined = replace(combined, ends=pd.concat(ends, ignore_index=True))
    if dated := [p.record_date for p in parts if p.record_date is not None]:
        combined = replace(combined, record_date=dated[0])
    if any(p.ratings is not None for p in parts):
        combined = replace(combined, ratings=_ratings_of_files(parts, combined.report, log))
    if origins is not None and table == CUSTOMERS:  # each file listing the customer, its own last
        listed = pd.concat([p.accepted[["customer_id", EXPORT_FILE]] for p in parts])
        listed = listed.drop_duplicates()
        last = combined.accepted[["customer_id", EXPORT_FILE]]
        listed = pd.concat(
            [
                listed.merge(last, how="left", indicator=True).query("_merge == 'left_only'")[
                    ["customer_id", EXPORT_FILE]
                ],
                last,
            ]
        )
        files = listed.groupby("customer_id", sort=False)[EXPORT_FILE].agg(EXPORT_FILES_SEP.join)
        accepted = combined.accepted.assign(
            **{EXPORT_FILE: combined.accepted["customer_id"].map(files)}
        )
        combined = replace(combined, accepted=accepted)
    r = combined.report
    # files of one section (exports of one tool) numbering orders as one: store 01's repair
    # orders are not "deleted in the CRM since" from store 02's export
    sources: dict[tuple[str | None, str | None], list[Table]] = {}
    for i, part in enumerate(parts):
        section = mapping.section_for(Path(part.report.source_file))
        sources.setdefault((section, numberings[i] if numberings else None), []).append(part)
    for same in sources.values():
        names = [Path(p.report.source_file).name for p in same]
        for warning in order_warnings(
            table,
            [p.accepted for p in same],
            names,
            [p.cancelled_orders for p in same],
            [p.unread_orders for p in same],
        ):
            r.warnings.append(warning)
            log(f"{table}: warning: {warning}")
    if table == TRANSACTIONS:
        unmarked = unmarked_files(parts)
        for said in (apart, _orders_of_two_tools(parts, mapping, numberings), currencies, unmarked):
            if said:
                r.warnings.append(said)
                log(f"{table}: warning: {said}")
    if table == CUSTOMERS and (shared := ids_of_two_people(parts)):
        r.warnings.append(shared)
        log(f"{table}: warning: {shared}")
    for column, (key, _) in CARRIED.items():
        if key in r.formats:
            log(f"{table}: {column}: {r.formats[key]}")
    if NAMED_ELSEWHERE in r.formats:
        r.warnings.append(r.formats[NAMED_ELSEWHERE])
        log(f"{table}: warning: {r.formats[NAMED_ELSEWHERE]}")
    if SIGNUPS_KEPT in r.formats:
        log(f"{table}: signup_at: {r.formats[SIGNUPS_KEPT]}")
    for key in ID_FORMS:  # a later customers file's ids in an earlier one's form
        if key in r.formats:
            log(f"{table}: {key}: {r.formats[key]}")
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(r.reasons.items())) or "none"
    log(
        f"{table}: {len(parts)} files together: {r.rows_read:,} rows read, {r.accepted:,} "
        f"accepted, {r.quarantined:,} quarantined [{detail}]"
    )
    return combined


def _order_numberings(
    table: str, parts: list[Table], mapping: ColumnMapping
) -> tuple[list[str] | None, str | None]:
    """:func:`features.export_files.order_numberings` of the files' accepted rows."""

    if table != TRANSACTIONS:
        return None, None
    paths = [Path(p.report.source_file) for p in parts]
    return order_numberings(
        [p.accepted for p in parts],
        [path.name for path in paths],
        [mapping.section_for(path) for path in paths],
    )


def _orders_of_two_tools(
    parts: list[Table], mapping: ColumnMapping, numberings: list[str] | None
) -> str | None:
    """:func:`features.export_files.orders_of_two_tools` of the files' accepted rows."""

    paths = [Path(p.report.source_file) for p in parts]
    return orders_of_two_tools(
        [p.accepted for p in parts],
        [path.name for path in paths],
        [mapping.section_for(path) for path in paths],
        [p.voided_orders for p in parts],
        numberings,
    )


def _paths(table: str, files: Files) -> list[Path]:
    """A table's export files, patterns expanded (:func:`features.export_files.expand_files`)."""

    return expand_files([files] if isinstance(files, str | Path) else files, f"--{table}")


def _with_file(part: Table, path: Path) -> Table:
    """``part`` with its accepted rows (and derived events) naming their file (``EXPORT_FILE``)."""
    name = {EXPORT_FILE: str(path.absolute())}
    ratings = part.ratings.assign(**name) if part.ratings is not None else None
    return replace(part, accepted=part.accepted.assign(**name), ratings=ratings)


def _log_ratings(table: str, report: TableReport, log) -> None:
    """The progress line of the survey events derived from a file's rated tickets."""
    if TICKET_RATINGS in report.formats:
        log(f"{table}: {TICKET_RATINGS}: {report.formats[TICKET_RATINGS]}")


def _ratings_of_files(parts: list[Table], report: TableReport, log) -> pd.DataFrame | None:
    """The survey events derived from several files' rated tickets, a ticket rated in several
    files once (:func:`features.ticket_ratings.ratings_across_files`); counted in ``report``."""
    ratings, dropped = ratings_across_files([p.ratings for p in parts])
    n = 0 if ratings is None else len(ratings)
    report.derived_events = {"survey": n} if n else {}
    rated = sum(p.ratings is not None for p in parts)
    if rated > 1 or dropped:  # each file's line (summed by add_counts), then the table's
        said = f"{n:,} survey events from the {rated} files' rated tickets, not rows read"
        if dropped:
            said += f" ({dropped:,} ratings of tickets a later file rates again dropped)"
        report.formats[TICKET_RATINGS] = f"{report.formats[TICKET_RATINGS]} | together: {said}"
        log(f"{EVENTS}: {TICKET_RATINGS}: together: {said}")
    return ratings
