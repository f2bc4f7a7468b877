"""Ingest: turn CRM exports (CSV or Parquet) into validated contract tables.

Every source row ends up either accepted (in ``DIR/<table>.parquet``) or quarantined (in
``DIR/quarantine/<table>.parquet`` with the reason); ``accepted + quarantined == rows read``.
A file that cannot be used at all raises :class:`IngestError` naming the file and the column, and
so does a table whose accepted share is below ``min_accepted_share``. The output directory is
replaced as a whole, only when every table passed (see :mod:`features.atomic_dir`).

This module reads each table's files, checks the tables against each other and writes them.
Reading (encoding, separator, row structure) is :mod:`features.csv_source`; numbers
:mod:`features.numbers`; dates :mod:`features.dates`; event-type values :mod:`features.values`.
One file is validated here (its report and rows: :mod:`features.ingest_tables`), with its
columns found by :mod:`features.source_columns`, unread ones named by
:mod:`features.unread_columns`, date columns :mod:`features.date_columns`, amounts
:mod:`features.amounts`, currencies :mod:`features.currencies`, order statuses
:mod:`features.order_status`, repeated rows :mod:`features.repeated_rows` and the map file's
``exclude:`` :mod:`features.excluded_rows`; several files of a table are put together by
:mod:`features.combined_files`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.amounts import (
    amount_notes,
    lines_of_totals,
    net_of_mapped_refunds,
    parse_amount,
    repeated_totals,
)
from features.atomic_dir import check_replaceable, replaced_directory
from features.combined_files import (
    CARRIED,
    FLAG_WORDS,
    SIGNUPS_KEPT,
    carried_somewhere,
    combined_table,
    ids_of_two_people,
    told_order,
)
from features.contact_flags import flag_columns, read_flags
from features.contract import (
    CONTACT_FLAGS,
    CONTRACT,
    CUSTOMER_FILES,
    CUSTOMERS,
    ENDED_AT,
    EVENT_TYPES,
    EVENTS,
    EXPORT_FILE,
    EXPORT_FILES_SEP,
    REPEATED_HEADER,
    TABLES,
    TIME_COLUMN,
    TRANSACTIONS,
    UNKNOWN_CUSTOMER,
    quarantine_path,
    quarantine_rows,
    table_path,
)
from features.csv_source import EmptyExport, SourceFile, read_source
from features.currencies import YEN, kept_currency, table_currency, unmarked_files
from features.customer_emails import (
    CUSTOMER_EMAIL,
    NO_SUCH_EMAIL,
    EmailIndex,
    email_column,
    folded,
    relay_note,
    shared_address_note,
    unknown_ids_are_emails,
)
from features.customer_ids import (
    CUSTOMER_ALIAS,
    MERGED_INTO,
    alias_index,
    aliases_that_are_ids,
    among,
    case_twins,
    id_rewrites,
    masked_ids,
    match_aliases,
    match_leading_zeros,
    match_phone_numbers,
    match_plus_tags,
    match_salesforce_ids,
    merge_requests,
    name_twins,
    normalise_ids,
    other_id_columns,
    placeholder_ids,
    resolve_merges,
    scientific_ids,
    unknown_ids_of_another_column,
)
from features.date_columns import check_date_column, optional_dates
from features.dates import detect_order, european_file, parse_dates, placeholder_dates
from features.excluded_rows import exclude
from features.gaps import ids_end_early, month_gaps
from features.grouped_reports import grouped_ids, subtotal_rows
from features.ingest_tables import KnownCustomers, Table, TableReport, Validator
from features.ingest_warnings import (
    buyers_without_sales,
    event_warnings,
    files_without_events,
    history_shrinks,
    ids_lowered,
    same_person_in_two_tools,
)
from features.mapping import VALUE_COLUMNS, ColumnMapping, FileMapping, IngestError
from features.numbers import NumberFormat, detect_format, forced_format, parse_numbers
from features.order_status import cancelled, stripe_refunds
from features.refunds import REFUNDED_AMOUNT
from features.repeated_rows import repeated_header, repeated_rows
from features.source_columns import CONSTANT, constant_column, table_inputs
from features.unread_columns import lookalike_columns
from features.values import (
    CANCELLED_ORDER,
    EXCLUDED,
    EXCLUDED_CUSTOMER,
    IGNORE,
    IGNORED_BY_MAP,
    MERGED,
    NO_SALE,
    NOT_AN_ACTION,
    ORDER,
    ORDER_EVENT,
    ORDER_LINE,
    OTHER,
    REFUNDED_ORDER,
    REPORT_ROW,
    SET_ASIDE,
    ValueMapping,
    map_values,
)

#: What other code imports from here (campaigns, the CLI, tests): the pieces it is made of live in
#: the modules named above.
__all__ = [
    "CONSTANT",
    "IngestError",
    "TableReport",
    "constant_column",
    "ingest",
    "log_report",
    "require_share",
    "source_formats",
]

#: The other ways an export writes a customer's id, by their ``TableReport.formats`` key: each
#: puts the unknown ids that are a known customer's in the customers' form.
ID_FORMS = {
    "salesforce ids": match_salesforce_ids,
    "leading zeros": match_leading_zeros,
    "+tags": match_plus_tags,
    "phone numbers": match_phone_numbers,
}
#: ``TableReport.formats`` key of a report grouped by customer (``features.grouped_reports``).
GROUPED = "grouped report"


#: Default lowest share of accepted rows per table; below it ingest fails and writes nothing.
MIN_ACCEPTED_SHARE = 0.5
UNMAPPED = "unmapped event_type"
#: Everything ingest writes into ``--out`` (anything else there makes ingest refuse the directory).
OWNED = {
    f"{folder}{t}.parquet" for t in (*TABLES, "campaigns") for folder in ("", "quarantine/")
} | {"manifest.json"}
NUMBER_INPUTS = ("amount", "unit_price", REFUNDED_AMOUNT, "quantity", "margin", "value")
#: A table's export: one file, or several (a list; a quoted pattern such as ``orders_*.csv``).
Files = str | Path | Sequence[str | Path]


def _report_groups(
    table: str, inputs: dict[str, pd.Series], check: Validator, report: TableReport
) -> None:
    """Each transaction of a report grouped by customer gets the name of its group row; group
    and subtotal rows are set aside (``features.grouped_reports``); in a table, only subtotal
    rows are."""
    if "customer_id" not in inputs or TIME_COLUMN[table] not in inputs:
        return
    ids = inputs["customer_id"]
    when = inputs[TIME_COLUMN[table]].astype("string").str.strip().fillna("")
    dated = when.ne("").to_numpy(dtype=bool)
    grouped = grouped_ids(ids, dated, check.ok)
    if grouped is None:
        check.flag(subtotal_rows(ids, dated) & check.ok, REPORT_ROW)
        return
    inputs["customer_id"] = grouped.ids.rename(ids.name)
    check.flag(grouped.report_rows, REPORT_ROW)
    report.formats[GROUPED] = (
        f"a report grouped by customer: {grouped.filled:,} rows take the name of the group row "
        f"above them ({grouped.groups:,} groups); group and subtotal rows set aside"
    )


def _number_format(
    source: SourceFile,
    inputs: dict[str, pd.Series],
    mapping: FileMapping,
    report: TableReport,
    clean: np.ndarray,
) -> NumberFormat:
    forced = forced_format(mapping.decimal, mapping.thousands)
    if forced is not None:
        fmt = forced
    else:
        columns = [inputs[c][clean] for c in NUMBER_INPUTS if c in inputs]
        if not columns:
            return NumberFormat()
        fmt, warning = detect_format(columns, source.sep)
        if warning:
            report.warnings.append(warning)
    report.formats["numbers"] = fmt.describe()
    return fmt


def _build_table(
    table: str,
    source: SourceFile,
    mapping: FileMapping,
    known: KnownCustomers | None,
    strict_values: bool,
    latest: pd.Timestamp | None = None,
    day_first: bool | None = None,
    several: bool = False,
) -> Table:
    """Validate one source file; return accepted contract rows, quarantined source rows and the
    report. A time after ``latest`` is a wrong row (dated in the future); rows of transactions
    and events are checked against the ``known`` customers (None: no customers file).
    ``several``: one of several customers files, which may lack a mapped end or contact flag
    column (the others carry theirs: :func:`features.combined_files._carry_across_files`).
    ``day_first``: the day/month order the other files of the export told, followed where this
    file's ``a/b/yyyy`` dates fit both orders."""
    frame, path = source.frame, source.path
    report = TableReport(table=table, source_file=str(path))
    report.formats["encoding"] = source.encoding or source.kind
    for note in source.notes:
        key, _, text = note.partition(" ")
        report.formats[key] = text
    report.warnings.extend(source.warnings)
    check = Validator(len(frame))
    for reason in pd.unique(source.problems[pd.notna(source.problems)]):
        check.flag(source.problems == reason, str(reason))
    check.flag(repeated_header(frame), REPEATED_HEADER)  # two exports pasted together
    exclude(table, frame, path, mapping, check, report)
    inputs = table_inputs(table, frame, path, mapping, several)
    if table != CUSTOMERS:  # a report grouped by customer: names above their rows
        _report_groups(table, inputs, check, report)
    clean = check.ok.copy()
    report.warnings += lookalike_columns(table, frame, inputs, mapping)
    numbers = _number_format(source, inputs, mapping, report, clean)
    time_inputs = [c.name for c in CONTRACT[table] if c.dtype == "timestamp" and c.name in inputs]
    european = european_file(numbers.decimal, source.sep)
    order = detect_order([inputs[c][clean] for c in time_inputs], mapping.date_order, european)
    order_assumed = order.how == "assumed"
    if order_assumed and day_first is not None:
        how = "as the other files of the export showed (these dates fit both)"
        order = replace(order, day_first=day_first, how=how, warning=None)
    out = pd.DataFrame(index=frame.index)
    out["customer_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    dates_used = []
    for col in CONTRACT[table]:
        if col.name not in inputs:
            continue
        values = inputs[col.name]
        if col.dtype == "timestamp":
            out[col.name], described = parse_dates(
                values, order, mapping.date_format, mapping.timezone
            )
            dates_used.append(f"{col.name}: {described}")
            placeholder, why = placeholder_dates(out[col.name])
            if not col.required:  # an end date: blank or a "no end" placeholder while a customer
                # a word ('N/A', 'Active') is no end, but dates in a format not read are refused
                dated = clean & values.astype("string").str.contains(r"\d", na=False).to_numpy()
                if dated.any():
                    check_date_column(out[col.name], values, dated, path, mapping.date_format)
                optional_dates(out, col.name, values, placeholder, check, report, latest)
                continue
            check_date_column(out[col.name], values, clean, path, mapping.date_format)
            check.flag(values.isna(), f"missing {col.name}")
            check.flag(out[col.name].isna(), f"unparsable {col.name}")
            if latest is not None:
                check.flag(out[col.name] > latest, f"{col.name} in the future")
            check.flag(placeholder.to_numpy(), f"{col.name} is {why}")
        elif col.dtype == "float":
            if table == TRANSACTIONS and col.name == "amount":
                continue
            out[col.name], _ = parse_numbers(values, numbers)
            check.flag(values.notna() & out[col.name].isna(), f"{col.name} is not a number")
        elif col.dtype == "bool":  # contact flags: a few odd values are no, named
            out[col.name], odd_flags = read_flags(values, clean, path, col.name)
            report.warnings.extend([odd_flags] if odd_flags else [])
        else:
            out[col.name] = (
                normalise_ids(values) if col.name == "customer_id" else values.str.strip()
            )
            if col.name == "customer_id" and (rewritten := id_rewrites(values, out[col.name])):
                report.formats["customer_id"] = rewritten
            if col.name == "customer_id" and (odd := scientific_ids(values)):
                report.warnings.append(odd)
            if col.name == "customer_id" and (hidden := masked_ids(out[col.name], values.name)):
                report.warnings.append(hidden)
            if (
                col.name == "customer_id"
                and table != CUSTOMERS
                and (guests := placeholder_ids(_named(out[col.name], clean, known), values.name))
            ):
                report.warnings.append(guests)
            defines_customers = table == CUSTOMERS or (table == TRANSACTIONS and known is None)
            if (
                col.name == "customer_id"
                and defines_customers
                and (twins := case_twins(out[col.name]))
            ):
                report.warnings.append(twins)
            if (
                col.name == "customer_id"
                and defines_customers
                and (twins := name_twins(out[col.name]))
            ):
                report.warnings.append(twins)
            if col.required and not (col.name == "customer_id" and CUSTOMER_EMAIL in inputs):
                check.flag(out[col.name].isna(), f"missing {col.name}")
    if CUSTOMER_EMAIL in inputs and table == CUSTOMERS:  # for the index; not written
        out[CUSTOMER_EMAIL] = inputs[CUSTOMER_EMAIL].astype("string")
    elif CUSTOMER_EMAIL in inputs:
        _found_by_email(table, path, out, inputs[CUSTOMER_EMAIL], known, check, report)
    if time_inputs:
        report.date_format = order.described("; ".join(dates_used))
        report.formats["dates"] = report.date_format
        if order.warning:
            report.warnings.append(order.warning)
        if order.told:
            report.day_first = order.day_first
    refund_rows = np.zeros(len(frame), dtype=bool)  # refunds booked as rows of their own
    factor = pd.Series(1.0, index=out.index)  # what each row was multiplied by (a refund too)
    if table == TRANSACTIONS:
        out["amount"], factor = parse_amount(inputs, out, check, numbers, mapping, report)
        stripe_refunds(out, report)
        if "status" in inputs:
            # a repeated header's 'Deal Stage' is no status to map or warn of
            status = inputs["status"].where(clean)
            refund_rows = cancelled(status, out, check, mapping, report)
    if known is not None:
        for key, match in ID_FORMS.items():  # a known customer's id written another way
            if matched := match(out["customer_id"], known.ids):
                out["customer_id"], report.formats[key] = matched
        check.set_aside(out["customer_id"].isin(known.excluded), EXCLUDED_CUSTOMER)
        check.flag(
            out["customer_id"].isin(known.quarantined),
            "customer_id quarantined in the customers file",
        )
        if known.aliases is not None:
            out["customer_id"], n = match_aliases(out["customer_id"], known.ids, known.aliases)
            if n:
                report.formats[CUSTOMER_ALIAS] = (
                    f"{n:,} rows found by the customers file's {known.alias_column}"
                )
        unknown = out["customer_id"].notna() & ~among(out["customer_id"], known.ids)
        check.flag(unknown, UNKNOWN_CUSTOMER)
        id_column = inputs["customer_id"].name if "customer_id" in inputs else None
        hint = unknown_ids_are_emails(
            table,
            out.loc[unknown, "customer_id"],
            id_column,
            known.email_column,
            pd.Series(list(itertools.islice(known.ids, 1000)), dtype="string"),
        )
        if hint and CUSTOMER_EMAIL not in inputs:
            report.warnings.append(hint)
        elif unknown.any() and CUSTOMER_EMAIL not in inputs:
            other = unknown_ids_of_another_column(
                table, out.loc[unknown, "customer_id"], known.other_ids
            )
            if other:
                report.warnings.append(other)
    if table == CUSTOMERS:
        kept = out["customer_id"].where(check.ok)  # a duplicate of a quarantined row is not one
        repeated = kept.duplicated() & kept.notna()
        check.flag(repeated, "duplicate customer_id")
        if repeated.any() and ENDED_AT in inputs:
            report.warnings.append(
                f"{int(repeated.sum()):,} rows repeat a customer_id of this file with an end date "
                "column: one row per subscription or membership? The customers table holds one "
                "row per customer (the first is kept): give each customer one row, its end blank "
                "while any of its subscriptions is live, else the latest end"
            )
        merged = pd.Series(dtype="string")
        requests: dict[str, str] = {}
        if MERGED_INTO in inputs:
            requests = merge_requests(out["customer_id"], inputs[MERGED_INTO], check.ok)
            listed = set(out["customer_id"][check.ok].dropna())
            survivors, lost = resolve_merges(requests, listed - set(requests))
            merged = pd.Series(survivors, dtype="string")
            check.flag(out["customer_id"].isin(merged.index), MERGED)
            report.warnings.extend([lost] if lost else [])
            if len(merged):
                report.formats[MERGED_INTO] = (
                    f"{len(merged):,} records merged into another customer: rows of other files "
                    "naming them are the surviving customer's"
                )
    if table == TRANSACTIONS and "amount" in inputs and "order_id" in out:
        check.set_aside(lines_of_totals(inputs["amount"], out["order_id"], check), ORDER_LINE)
    if table in (TRANSACTIONS, EVENTS):
        repeated_rows(source.frame, out.get("order_id"), check, report)
    if REFUNDED_AMOUNT in inputs:  # on the rows kept: an order appended twice is one order
        net_of_mapped_refunds(inputs[REFUNDED_AMOUNT], out, check, numbers, factor, report)
    _map_values(table, out, mapping, check, report, strict_values)
    if table == TRANSACTIONS:  # on the rows accepted in the end
        report.warnings.extend(amount_notes(inputs, out, check.ok, list(frame.columns)))
        if total := repeated_totals(inputs, out, check.ok, frame):
            report.warnings.append(total)
    when = {TRANSACTIONS: "ordered_at", EVENTS: "occurred_at"}.get(table)
    if when in out and (gaps := month_gaps(out[when][check.ok])):
        report.warnings.append(gaps)
    if when in out:
        no_customer = np.isin(check.reason, ["missing customer_id", EXCLUDED])
        if ended := ids_end_early(out[when], no_customer, check.ok):
            report.warnings.append(ended)
    if table == EVENTS:
        report.warnings += event_warnings(out[check.ok], report.value_mapping)
    if table == EVENTS and (only_sends := _only_sends(check, report)):
        report.warnings.append(only_sends)
    table_out = _split(table, source, out, check, report)
    table_out.order_assumed = order_assumed
    if table == TRANSACTIONS:
        table_out.currency = kept_currency(mapping, report.currencies)
    if table == TRANSACTIONS and "order_id" in out and refund_rows.any():
        # orders this file holds only refund rows of: a later file refunding an earlier sale
        kept = out.loc[check.ok, "order_id"]
        only = pd.Series(refund_rows[check.ok], index=kept.index).groupby(kept).all()
        table_out.refund_orders = frozenset(only.index[only.to_numpy(dtype=bool)])
    if table == CUSTOMERS:
        for field in flag_columns(table_out.accepted.columns):
            flagged = int(table_out.accepted[field].sum())
            report.formats[field] = f"{flagged:,} customers {FLAG_WORDS[field]}"
        id_column = inputs["customer_id"].name
        table_out.email_column = (
            str(inputs[CUSTOMER_EMAIL].name)
            if CUSTOMER_EMAIL in inputs
            else email_column(frame, {str(id_column)})
        )
        if CUSTOMER_EMAIL not in inputs and table_out.email_column is not None:
            ok = check.ok
            shared = shared_address_note(
                out.loc[ok, "customer_id"],
                frame.loc[ok, table_out.email_column],
                table_out.email_column,
            )
            report.warnings.extend([shared] if shared else [])
        if CUSTOMER_ALIAS in inputs:
            ok = check.ok
            aliases, shared = alias_index(
                out.loc[ok, "customer_id"], inputs[CUSTOMER_ALIAS][ok].reset_index(drop=True)
            )
            table_out.aliases = aliases
            table_out.alias_column = f"{str(inputs[CUSTOMER_ALIAS].name)!r} ({CUSTOMER_ALIAS})"
            if shared:
                report.warnings.append(shared)
        table_out.merge_requests = requests
        if len(merged):  # a merged record's id names its survivor, as an alias does
            both = (
                pd.concat([merged, table_out.aliases]) if table_out.aliases is not None else merged
            )
            table_out.aliases = both[~both.index.duplicated()]
            column = f"{str(inputs[MERGED_INTO].name)!r} ({MERGED_INTO})"
            table_out.alias_column = " or ".join(filter(None, [table_out.alias_column, column]))
        mapped = {str(v.name) for v in inputs.values()}  # signup date, region...: no other ids
        table_out.other_ids = other_id_columns(frame, {*mapped, str(table_out.email_column)})
    return table_out


def _named(ids: pd.Series, clean: np.ndarray, known: KnownCustomers | None) -> pd.Series:
    """The ids of the rows still clean that name a customer: any id without a customers file,
    else a customer of it (an unknown id is quarantined as such)."""
    ids = ids.where(clean)
    return ids if known is None else ids.where(among(ids, known.ids))


def _only_sends(check: Validator, report: TableReport) -> str | None:
    """A warning for an events file none of whose rows is a customer action: every row kept from
    the quarantine by a problem of its own is a send, delivery or bounce (a mailing tool's
    delivery log, or a status column mapped as the type). Such a file adds no engagement at all,
    and ``--min-accepted-share`` does not judge rows set aside, so without this it passes
    silently."""
    aside = int(np.sum(check.reason == NOT_AN_ACTION))
    if not aside or np.any(check.ok):
        return None
    names = [repr(r["source"]) for r in report.value_mapping if r["target"] == IGNORE][:3]
    return (
        f"no row of this file is a customer action ({aside:,} sends, deliveries or bounces set "
        f"aside: {', '.join(names)}), so it adds no engagement; if "
        "its type column holds the customers' own actions (opens, clicks) under these names, "
        "map them: values: {event_type: {<name>: email_open}}; if the type column mapped is a "
        "delivery status, map the column holding the event instead"
    )


def _found_by_email(
    table: str,
    path: Path,
    out: pd.DataFrame,
    emails: pd.Series,
    known: KnownCustomers | None,
    check: Validator,
    report: TableReport,
) -> None:
    """Rows whose customer_id is not a known customer take the customer of their e-mail."""
    if known is None or known.emails is None:
        raise IngestError(
            f"{path}: {table}.customer_email is mapped (customers found by e-mail), but "
            + (
                "no customers file was given: give --customers with an e-mail column"
                if known is None
                else "the customers file's e-mail column is not: map customers.customer_email="
                f"{known.email_column or '<its e-mail column>'}"
            )
        )
    out["customer_id"], reason, n, disagree = known.emails.match(  # a quarantined id is kept
        out["customer_id"], emails, known.ids | known.quarantined
    )
    report.warnings += [disagree] if disagree else []
    for why in pd.unique(reason.dropna()):
        check.flag(reason == why, str(why))
    report.formats[CUSTOMER_EMAIL] = (
        f"{n:,} rows found by e-mail ({str(emails.name)!r} = the customers file's "
        f"{known.emails.column!r}, compared without case)"
    )


def _map_values(
    table: str,
    out: pd.DataFrame,
    mapping: FileMapping,
    check: Validator,
    report: TableReport,
    strict_values: bool,
) -> None:
    for column in VALUE_COLUMNS:
        if column not in out:
            continue
        explicit = mapping.values_for(table, column)
        if column == "status":
            continue
        if column != "event_type":
            if explicit:
                mapped, _ = map_values(out[column], ValueMapping(explicit, builtin=False))
                out[column] = mapped.fillna(out[column])
            continue
        values = ValueMapping(explicit, builtin=True)
        mapped, table_ = map_values(out[column], values)
        ignored = (mapped == IGNORE).fillna(False).to_numpy(bool)
        mine = table_.loc[(table_["target"] == IGNORE) & (table_["how"] == "values:"), "source"]
        by_map = out[column].isin(mine).fillna(False).to_numpy(bool)  # the map file's own choice
        check.set_aside(by_map, IGNORED_BY_MAP)
        check.set_aside(ignored & ~by_map, NOT_AN_ACTION)
        check.flag((mapped == ORDER).fillna(False).to_numpy(bool), ORDER_EVENT)
        unmapped = out[column].notna() & mapped.isna()
        if strict_values:
            check.flag(unmapped, UNMAPPED)
        considered = check.ok | np.isin(
            check.reason, (UNMAPPED, NOT_AN_ACTION, IGNORED_BY_MAP, ORDER_EVENT)
        )
        counts = out.loc[considered, column].value_counts()
        table_["rows"] = table_["source"].map(counts).fillna(0).astype("int64")
        table_ = table_[table_["rows"] > 0]
        records = [
            {**r, "rows": int(r["rows"]), "target": None if pd.isna(r["target"]) else r["target"]}
            for r in table_.to_dict("records")
        ]
        report.value_mapping = records
        report.unmapped = [
            {"source": r["source"], "rows": r["rows"], "hint": values.hint(r["source"], column)}
            for r in records
            if r["target"] is None
        ]
        if strict_values:  # the hints' "kept as other" is not what happened to them
            for item in report.unmapped:
                item["hint"] = item["hint"].replace("kept as other", "quarantined")
        out[column] = mapped.fillna(OTHER)
        final = out.loc[check.ok, column].value_counts()
        report.event_types = {t: int(final.get(t, 0)) for t in (*EVENT_TYPES, OTHER)}


def _split(
    table: str, source: SourceFile, out: pd.DataFrame, check: Validator, report: TableReport
) -> Table:
    ok = check.ok
    bad = np.flatnonzero(~ok)
    quarantined = quarantine_rows(
        source.frame.loc[~ok],
        source.path,
        bad + 1,
        check.reason[~ok],
        source.lines[~ok],
        out["customer_id"].to_numpy(dtype=object)[~ok] if "customer_id" in out else None,
    )
    accepted = out.loc[ok].reset_index(drop=True)
    report.rows_read = len(source.frame)
    report.accepted = len(accepted)
    report.quarantined = len(quarantined)
    reasons = pd.Series(check.reason[~ok], dtype="object")
    for reason, n in reasons.value_counts().items():
        report.reasons[str(reason)] = int(n)
        first = int(bad[int(np.flatnonzero(reasons.to_numpy() == reason)[0])])
        where = (
            f"{'row' if source.kind == 'workbook' else 'line'} {source.lines[first]}"
            if source.lines[first]
            else f"row {first + 1}"
        )
        report.samples[str(reason)] = f"{where}: {source.raw_record(first)}"
    if table == TRANSACTIONS and "amount" in out and len(bad):
        amounts = pd.Series(out["amount"].to_numpy(dtype="float64", na_value=np.nan)[bad])
        by_reason = amounts.groupby(reasons.to_numpy()).sum(min_count=1).dropna()
        by_reason = by_reason.drop(REPORT_ROW, errors="ignore")  # sums of the rows kept
        report.quarantined_amount = {str(k): round(float(v), 2) for k, v in by_reason.items()}
    assert report.accepted + report.quarantined == report.rows_read
    rejected: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    if table == CUSTOMERS:  # what the transactions and events of these customers are told
        ids = out["customer_id"]
        rejected = frozenset(ids[~ok].dropna()) - frozenset(ids[ok].dropna())
        rejected -= frozenset(ids[check.reason == MERGED].dropna())  # found as their survivor
        excluded = frozenset(ids[check.reason == EXCLUDED].dropna()) & rejected
    cancelled: frozenset[str] = frozenset()
    unread: dict[str, str] = {}
    voided: frozenset[str] | None = None
    if table == TRANSACTIONS and "order_id" in out:
        gone = np.isin(check.reason, NO_SALE)
        cancelled = frozenset(out.loc[gone, "order_id"].dropna())
        held = pd.Series(check.reason, index=out.index)[~ok & ~gone]
        held = held.groupby(out.loc[held.index, "order_id"]).first()
        unread = {
            str(k): str(v) for k, v in held.drop(accepted["order_id"], errors="ignore").items()
        }
        if "status" in report.formats:
            void = np.isin(check.reason, (CANCELLED_ORDER, REFUNDED_ORDER))
            voided = frozenset(out.loc[void, "order_id"].dropna())
    return Table(
        accepted,
        quarantined,
        report,
        rejected,
        excluded,
        np.flatnonzero(ok) + 1,
        source.lines[ok],
        cancelled,
        unread_orders=unread,
        voided_orders=voided,
    )


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

    ``campaigns`` (a :class:`features.campaigns.CampaignsSource`) is validated against the new
    customers and written in the same swap: a failing campaigns file leaves the previous
    directory whole, and a kill never leaves new tables beside old campaigns.

    With ``dry_run`` everything is read, mapped, validated and reported, and nothing is written.
    ``latest`` (naive UTC; the CLI passes the end of tomorrow): rows dated after it are
    quarantined as in the future (a 2099 typed for 1999), never the data's end.
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
        + ([Path(campaigns.path)] if campaigns is not None else [])
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
    campaign_rows = None
    if campaigns is not None:
        from features.campaigns import CAMPAIGNS, read_campaigns

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
            from features.campaigns import campaigns_path

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
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
    return reports


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


def require_share(reports: Iterable[TableReport], share: float) -> None:
    """Fail loudly, with the top reasons and a sample source row each, when too little of a table
    was accepted (campaigns included)."""
    low = [r for r in reports if r.accepted_share < share]
    if not low:
        return
    parts = []  # one line (the CLI's errors are), its parts apart by "; "
    for r in low:
        parts.append(
            f"{r.source_file}: {r.table}: only {r.accepted:,} of {r.judged_rows:,} rows accepted "
            f"({r.accepted_share:.1%}), below --min-accepted-share {share:g}"
            + (
                f" ({r.rows_read - r.judged_rows:,} rows aside: "
                + ", ".join(f"{k} {v:,}" for k, v in r.reasons.items() if k in SET_ASIDE)
                + ")"
                if r.judged_rows < r.rows_read
                else ""
            )
            + "; top reasons:"
        )
        top = sorted(
            ((k, v) for k, v in r.reasons.items() if k not in SET_ASIDE), key=lambda kv: -kv[1]
        )[:3]
        for reason, n in top:
            parts.append(f"[{reason}: {n:,} rows, e.g. {r.samples[reason]}]")
        if top and top[0][0] == NO_SUCH_EMAIL:
            parts.append(
                "[note: a newsletter's or help desk's list also holds people who are not "
                "customers; if these are such, --min-accepted-share 0 keeps the customers' rows "
                "(the others stay in the quarantine)]"
            )
        if top and top[0][0] == "missing customer_id" and r.table == TRANSACTIONS:
            parts.append(
                "[note: a till's or shop's sales to guests without a customer account or loyalty "
                "card name no customer; if these are such, set them aside in the map file with "
                "exclude: {<the id column>: ['']} (counted, not judged)]"
            )
        if top and top[0][0] == "missing customer_id" and r.table == EVENTS:
            parts.append(
                "[note: an analytics tool's (Segment, GA4, Mixpanel) events of visitors who were "
                "not logged in have no user id, only an anonymous one: no customer's; if these "
                "are such, set them aside in the map file with exclude: {events.<the user id "
                "column>: ['']} (counted, not judged)]"
            )
        parts.extend(f"[note: {w}]" for w in r.warnings)
    maps = "--campaigns-map" if {r.table for r in low} == {"campaigns"} else "--map"
    parts.append(
        "nothing written (the previous --out is unchanged); fix the mapping/format options "
        f"({maps}, --sep, --encoding, --decimal, --date-order) or lower --min-accepted-share"
    )
    raise IngestError(" ".join(parts[:-1]) + "; " + parts[-1])


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
    from features.export_files import order_warnings

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
        part = _build_table(
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
    told = told_order([*(p.report.day_first for p in parts), day_first])
    for i, path, source, file_mapping in undecided:
        if told is not None:
            part = _build_table(
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
    if per_file is not None:
        per_file += [p.report for p in parts]
    if table == CUSTOMERS:
        carried_somewhere(parts, mapping, paths)
    if len(parts) == 1:
        return parts[0]
    numberings, apart = _order_numberings(table, parts, mapping)
    currency, currencies = table_currency(parts)
    combined = combined_table(table, parts, numberings, currency)
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
    if SIGNUPS_KEPT in r.formats:
        log(f"{table}: signup_at: {r.formats[SIGNUPS_KEPT]}")
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
    from features.export_files import order_numberings

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
    from features.export_files import orders_of_two_tools

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
    from features.export_files import expand_files

    return expand_files([files] if isinstance(files, str | Path) else files, f"--{table}")


def source_formats(source: SourceFile) -> list[str]:
    """How a source file was read, for the progress log."""
    return [f"encoding {source.encoding}" if source.encoding else source.kind, *source.notes]


def _with_file(part: Table, path: Path) -> Table:
    """``part`` with its accepted rows naming their file (``EXPORT_FILE``)."""
    return replace(part, accepted=part.accepted.assign(**{EXPORT_FILE: str(path.absolute())}))


def log_report(report: TableReport, log) -> None:
    """The progress lines of one validated table: formats found, warnings, counts per reason."""
    t = report.table
    if "numbers" in report.formats:
        money = (
            ", currencies " + ", ".join(f"{k} {v:,}" for k, v in report.currencies.items())
            if report.currencies
            else ""
        )
        log(f"{t}: numbers: {report.formats['numbers']}{money}")
    if report.date_format:
        log(f"{t}: dates: {report.date_format}")
    if "status" in report.formats:
        log(f"{t}: status: {report.formats['status']}")
    for key in (
        "customer_id",
        GROUPED,
        *ID_FORMS,
        CUSTOMER_ALIAS,
        CUSTOMER_EMAIL,
        MERGED_INTO,
        "exclude",
        "amount",
        YEN,
        "currency_rates",
        "credit notes",
        REFUNDED_AMOUNT,
        ENDED_AT,
        *CONTACT_FLAGS,
    ):
        if key in report.formats:
            log(f"{t}: {key}: {report.formats[key]}")
    for warning in report.warnings:
        log(f"{t}: warning: {warning}")
    if report.event_types:
        log(f"{t}: event_type: " + ", ".join(f"{k} {v:,}" for k, v in report.event_types.items()))
    if report.unmapped:
        log(
            f"{t}: {len(report.unmapped)} source event types matched no contract type and "
            + (
                "were quarantined (--strict-values):"
                if UNMAPPED in report.reasons
                else "landed in other:"
            )
        )
        for item in report.unmapped:
            log(f"  {item['source']!r} x {item['rows']:,}: {item['hint']}")
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items())) or "none"
    log(f"{t}: {report.accepted:,} accepted, {report.quarantined:,} quarantined [{detail}]")
    if report.quarantined_amount:
        amounts = ", ".join(f"{k}: {v:,.2f}" for k, v in sorted(report.quarantined_amount.items()))
        log(f"{t}: amount in the quarantined rows [{amounts}]")
