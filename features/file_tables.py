"""One export file validated into a contract table: each source column read (ids, dates,
numbers, amounts, statuses, values), each row accepted or quarantined with its first problem,
and the file's report of formats and warnings."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.amounts import (
    amount_notes,
    first_day_of_orders,
    lines_of_totals,
    net_of_mapped_refunds,
    parse_amount,
    repeated_totals,
    till_lines,
)
from features.combined_files import FLAG_WORDS
from features.contact_flags import flag_columns, read_flags
from features.contract import (
    CONTRACT,
    COVERS_UNTIL,
    CUSTOMERS,
    ENDED_AT,
    EVENT_COUNT,
    EVENT_TYPES,
    EVENTS,
    NO_EVENT,
    NOT_A_COUNT,
    REPEATED_HEADER,
    RETURNED_AT,
    TIME_COLUMN,
    TRANSACTIONS,
    UNKNOWN_CUSTOMER,
    quarantine_rows,
)
from features.currencies import kept_currency
from features.customer_emails import (
    CUSTOMER_EMAIL,
    email_column,
    moved_note,
    shared_address_note,
    unknown_ids_are_emails,
)
from features.customer_ids import (
    CUSTOMER_ALIAS,
    MERGED_INTO,
    alias_index,
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
from features.customer_status import CUSTOMER_STATUS, ends_by_status
from features.date_columns import check_date_column, optional_dates
from features.dates import detect_order, european_file, parse_dates, placeholder_dates
from features.endings import ends_over_rows
from features.excluded_rows import exclude_rows
from features.export_files import order_references
from features.gaps import ids_end_early, month_gaps
from features.grouped_reports import grouped_ids, subtotal_rows
from features.ingest_tables import KnownCustomers, Table, TableReport, Validator
from features.ingest_warnings import event_warnings
from features.mapping import VALUE_COLUMNS, FileMapping, IngestError
from features.numbers import NumberFormat, detect_format, forced_format, parse_numbers
from features.order_status import (
    StatusRead,
    cancelled_rows,
    order_field,
    read_status,
    refunds_of_refunded_only,
    stripe_refunds,
)
from features.refunds import REFUNDED_AMOUNT, REFUNDED_AT, refund_dates
from features.repeated_rows import repeated_header, repeated_rows
from features.source_columns import other_names_read, record_date_column, table_inputs
from features.source_file import SourceFile
from features.survey_scores import on_contract_scale, survey_values
from features.terms import (
    TERM_DAYS,
    TERM_MONTHS,
    checked_covers,
    covers_from_days,
    covers_from_months,
    days_as_months,
    unpaid_terms,
)
from features.ticket_ratings import ticket_ratings
from features.ticket_tags import COMPLAINT_TAGS, complaint_tags
from features.unread_columns import lookalike_columns
from features.value_keys import unmatched_keys
from features.values import (
    ANOTHER_SUBSCRIPTION,
    CANCELLED_ORDER,
    ENDED,
    ENDED_ROW,
    EXCLUDED,
    EXCLUDED_CUSTOMER,
    IGNORE,
    IGNORED_BY_MAP,
    MERGED,
    NO_SALE,
    NOT_AN_ACTION,
    ORDER,
    ORDER_LINE,
    OTHER,
    REFUNDED_ORDER,
    REPORT_ROW,
    SET_ASIDE_EVENTS,
    UNSUBSCRIBE,
    UNTYPED_TICKETS,
    ValueMapping,
    map_values,
    untyped_tickets,
)

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


UNMAPPED = "unmapped event_type"


NUMBER_INPUTS = (
    "amount",
    "unit_price",
    REFUNDED_AMOUNT,
    "quantity",
    "margin",
    "value",
    EVENT_COUNT,
)


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


def build_table(
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
    exclude_rows(table, frame, path, mapping, check, report)
    inputs = table_inputs(table, frame, path, mapping, several)
    if table == EVENTS and "event_type" in inputs:
        explicit = mapping.values_for(table, "event_type")
        inputs["event_type"], untyped = untyped_tickets(inputs["event_type"], explicit)
        report.formats.update({UNTYPED_TICKETS: untyped} if untyped else {})
        used = {s.name for s in inputs.values()}
        inputs["event_type"], tagged = complaint_tags(frame, inputs["event_type"], used, explicit)
        report.formats.update({COMPLAINT_TAGS: tagged} if tagged else {})
        survey_values(frame, inputs, mapping, report)
    if said := other_names_read(frame, table, inputs, mapping):
        report.formats["columns"] = said
    record_date = record_date_column(frame, inputs, mapping) if table == CUSTOMERS else None
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
                values, order, mapping.date_format, mapping.timezone, mapping.business_zone
            )
            dates_used.append(f"{col.name}: {described}")
            placeholder, why = placeholder_dates(out[col.name])
            if col.name == COVERS_UNTIL:  # a period paid ahead: its end may be years away
                covers = out[col.name].mask(placeholder.to_numpy())
                out[col.name], report.formats[col.name] = checked_covers(covers, out["ordered_at"])
                continue
            if not col.required:  # an end date: blank or a "no end" placeholder while a customer
                # a word ('N/A', 'Active') is no end, but dates in a format not read are refused
                dated = clean & values.astype("string").str.contains(r"\d", na=False).to_numpy()
                if dated.any():
                    check_date_column(out[col.name], values, dated, path, mapping.date_format)
                status = inputs.get(CUSTOMER_STATUS)
                values_map = mapping.values_for(table, CUSTOMER_STATUS)
                optional_dates(
                    out,
                    col.name,
                    values,
                    placeholder,
                    check,
                    report,
                    latest,
                    status,
                    values_map,
                    record_date,
                )
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
            if col.name == EVENT_COUNT:
                count = out[col.name]
                check.flag(count.notna() & ((count < 0) | (count % 1 != 0)), NOT_A_COUNT)
                check.flag(count == 0, NO_EVENT)
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
    for unit, key, covers_from in (
        ("months", TERM_MONTHS, covers_from_months),  # Salesforce's contract term
        ("days", TERM_DAYS, covers_from_days),  # a pharmacy fill's Days Supply
    ):
        if key not in inputs or COVERS_UNTIL in inputs:
            continue
        term = inputs[key]
        length, _ = parse_numbers(term, numbers)
        out[COVERS_UNTIL], report.formats[key] = covers_from(out["ordered_at"], length)
        if (odd := term.notna() & length.isna() & clean).any():
            report.warnings.append(
                f"{int(odd.sum()):,} values of {str(term.name)!r} ({key}) are no number of "
                f"{unit} (e.g. {term[odd].iloc[0]!r}): those payments are kept without a term"
            )
        if key == TERM_MONTHS and (days := days_as_months(str(term.name), length[clean])):
            report.warnings.append(days)
        break  # one term
    if CUSTOMER_STATUS in inputs and ENDED_AT not in inputs:  # a status but no date to keep
        status = inputs[CUSTOMER_STATUS]
        values_map = mapping.values_for(table, CUSTOMER_STATUS)
        _, note, notes = ends_by_status(status.where(clean), None, values_map, str(status.name))
        report.formats[CUSTOMER_STATUS] = note
        report.warnings.extend(notes)
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
            status = read_status(inputs["status"].where(clean), out, mapping)
            if not _status_refused(frame, inputs, status, out, check, mapping, report):
                refund_rows = cancelled_rows(status, out, check, report)
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
        if repeated.any() and ENDED_AT in out:  # one row per subscription or membership
            out[ENDED_AT], returned = ends_over_rows(kept, out[ENDED_AT], out.get("signup_at"))
            if "signup_at" in out:
                first = out.groupby(kept)["signup_at"].transform("min")
                out["signup_at"] = first.where(kept.notna(), out["signup_at"])
            check.set_aside(repeated, ANOTHER_SUBSCRIPTION)
            report.formats[SUBSCRIPTIONS] = _subscriptions_line(kept, repeated, returned)
            if returned.notna().any():  # a mapped one (a CRM's reactivation) where none is
                out[RETURNED_AT] = (
                    returned.fillna(out[RETURNED_AT]) if RETURNED_AT in out else returned
                )
        check.flag(repeated, "duplicate customer_id")
        merged = pd.Series(dtype="string")
        requests: dict[str, str] = {}
        if MERGED_INTO in inputs:
            requests = merge_requests(out["customer_id"], inputs[MERGED_INTO], check.ok)
            listed = set(out["customer_id"][check.ok].dropna())
            survivors, lost = resolve_merges(requests, listed - set(requests))
            merged = pd.Series(survivors, dtype="string")
            check.flag(out["customer_id"].isin(merged.index), MERGED)
            report.warnings.extend([lost] if lost else [])
            if len(merged) and "parent" in str(inputs[MERGED_INTO].name).casefold():
                report.formats[MERGED_INTO] = (
                    f"{len(merged):,} accounts rolled up into their parent account: rows of "
                    "other files naming them are the parent's"
                )
            elif len(merged):
                report.formats[MERGED_INTO] = (
                    f"{len(merged):,} records merged into another customer: rows of other files "
                    "naming them are the surviving customer's"
                )
    if table == TRANSACTIONS and "amount" in inputs and "order_id" in out:
        check.set_aside(lines_of_totals(inputs["amount"], out["order_id"], check), ORDER_LINE)
    if table in (TRANSACTIONS, EVENTS):
        repeated_rows(source.frame, out.get("order_id"), check, report, out.get(TIME_COLUMN[table]))
    if REFUNDED_AMOUNT in inputs:  # on the rows kept: an order appended twice is one order
        net_of_mapped_refunds(inputs[REFUNDED_AMOUNT], out, check, numbers, factor, report)
    if REFUNDED_AT in inputs:  # a dated sale was refunded whole: no sale, as a status refunded
        dated = refund_dates(order_field(inputs[REFUNDED_AT], out, blank_is_missing=True))
        check.no_sale(dated, REFUNDED_ORDER)
        report.formats[REFUNDED_AT] = (
            f"{int(dated.sum()):,} rows dated in {str(inputs[REFUNDED_AT].name)!r}: refunded "
            "whole, no sale, set aside as refunded orders"
        )
    if table == TRANSACTIONS and COVERS_UNTIL in out:  # a contracts export given as sales
        if unpaid := unpaid_terms(
            out[COVERS_UNTIL], out["amount"], pd.Series(check.ok, index=out.index)
        ):
            report.warnings.append(unpaid)
    if table == EVENTS:  # before the event types are counted
        on_contract_scale(frame, inputs, out, mapping, check, report)
    _map_values(table, out, mapping, check, report, strict_values)
    if table == TRANSACTIONS and mapping.order_day == "first" and "order_id" in out:
        report.formats["order_day"] = first_day_of_orders(out, check.ok)
    if table == TRANSACTIONS:  # on the rows accepted in the end
        report.warnings.extend(amount_notes(inputs, out, check.ok, list(frame.columns)))
        report.warnings.extend(till_lines(inputs, out, check.ok, frame))
        if total := repeated_totals(inputs, out, check.ok, frame, numbers):
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
    ends = _ended_rows(out, check, when, inputs, report) if when and when in out else None
    ratings = (  # on the rows accepted in the end
        ticket_ratings(frame, inputs, out, mapping, order, check, report, latest)
        if table == EVENTS
        else None
    )
    table_out = _split(table, source, out, check, report)
    table_out.ratings = ratings
    table_out.order_assumed = order_assumed
    table_out.ends = ends
    table_out.record_date = record_date
    for column in VALUE_COLUMNS & inputs.keys():
        if explicit := mapping.values_for(table, column):
            table_out.value_keys[column] = unmatched_keys(inputs[column][clean], explicit)
    if table == TRANSACTIONS:
        table_out.currency = kept_currency(mapping, report.currencies)
        used = {str(v.name) for v in inputs.values()}
        table_out.order_refs = order_references(frame.loc[check.ok], used)
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
        if table_out.email_column is not None and ENDED_AT in out and MERGED_INTO not in inputs:
            ok = check.ok
            moved = moved_note(
                out.loc[ok, "customer_id"],
                frame.loc[ok, table_out.email_column],
                out.loc[ok, "signup_at"],
                out.loc[ok, ENDED_AT],
                table_out.email_column,
            )
            report.warnings.extend([moved] if moved else [])
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


def _status_refused(
    frame: pd.DataFrame,
    inputs: dict[str, pd.Series],
    status: StatusRead,
    out: pd.DataFrame,
    check: Validator,
    mapping: FileMapping,
    report: TableReport,
) -> bool:
    """Whether a payments export's ``Status``, read with no map, is refused now its amounts are
    read: a negative row that gives back no payment whose status reads as refunded
    (:func:`features.order_status.refunds_of_refunded_only`). Refused, it is dropped from
    ``inputs`` and the report says so as if it had never been read (every row a sale)."""
    if mapping.source_for(TRANSACTIONS, "status") is not None:
        return False
    if refunds_of_refunded_only(status, out, check.ok):
        return False
    del inputs["status"]
    said = other_names_read(frame, TRANSACTIONS, inputs, mapping)
    report.formats.pop("columns", None)
    if said:
        report.formats["columns"] = said
    warned = set(report.warnings)
    report.warnings += [
        w for w in lookalike_columns(TRANSACTIONS, frame, inputs, mapping) if w not in warned
    ]
    return True


def _named(ids: pd.Series, clean: np.ndarray, known: KnownCustomers | None) -> pd.Series:
    """The ids of the rows still clean that name a customer: any id without a customers file,
    else a customer of it (an unknown id is quarantined as such)."""
    ids = ids.where(clean)
    return ids if known is None else ids.where(among(ids, known.ids))


#: The report's key (``TableReport.formats``) of the customers on several rows (subscriptions).
SUBSCRIPTIONS = "subscriptions"


def _subscriptions_line(kept: pd.Series, repeated: pd.Series, returned: pd.Series) -> str:
    """The report's line on customers on several rows (subscriptions) and those who came back."""
    line = (
        f"{int(kept[repeated].nunique()):,} customers on several rows (subscriptions): ended_at "
        "blank while any is live, else the latest end; signup_at the earliest"
    )
    if back := int(kept[returned.notna()].nunique()):
        line += (
            f"; {back:,} came back after all theirs had ended: ended_at the end before, "
            f"{RETURNED_AT} the new start"
        )
    return line


def _ended_rows(
    out: pd.DataFrame, check: Validator, when: str, inputs: dict[str, pd.Series], report
) -> pd.DataFrame:
    """The customers the rows set aside as :data:`ENDED_ROW` end, each at its latest such row
    (``customer_id``, ``ended_at``, ``source_file``); said in the report's formats."""
    ended = check.reason == ENDED_ROW
    rows = out.loc[ended, ["customer_id", when]].dropna()
    latest = rows.groupby("customer_id", sort=True)[when].max().rename(ENDED_AT).reset_index()
    latest["source_file"] = report.source_file
    if ended.any():
        column = "event_type" if "event_type" in inputs else "status"
        names = inputs[column][ended].astype("string").str.strip().value_counts()
        said = ", ".join(f"{k!r} {v:,}" for k, v in names.head(3).items())
        report.formats[ENDED_AT] = (
            f"{int(ended.sum()):,} rows say the customer ended ({said}): set aside, the latest "
            f"of each of {len(latest):,} customers their ended_at where the customers file "
            "gives none"
        )
    return latest


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


def _unsubscribes(types: pd.Series, rows: np.ndarray) -> list[str]:
    """A warning for an events file's unsubscribes: set aside, no engagement; the opt-out the
    scores honour is the customers file's ``do_not_email``."""
    if not rows.any():
        return []
    names = ", ".join(repr(str(v)) for v in types[rows].value_counts().index[:3])
    n = int(rows.sum())
    return [
        f"{n:,} unsubscribe{'s' if n != 1 else ''} set aside ({names}): no engagement; each is an "
        "opt-out of e-mail, which this file does not carry to the scores: map the e-mail "
        "tool's consent or the CRM's opt-out as customers.do_not_email (a column such as "
        "'Email Opt Out') so no e-mail is recommended to them"
    ]


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
        for target in (ORDER, ENDED, UNSUBSCRIBE):  # IGNORE: set aside above
            check.flag((mapped == target).fillna(False).to_numpy(bool), SET_ASIDE_EVENTS[target])
        unsubscribes = (mapped == UNSUBSCRIBE).fillna(False).to_numpy(bool)
        report.warnings += _unsubscribes(out[column], unsubscribes)
        unmapped = out[column].notna() & mapped.isna()
        if strict_values:
            check.flag(unmapped, UNMAPPED)
        considered = check.ok | np.isin(
            check.reason, (UNMAPPED, IGNORED_BY_MAP, *SET_ASIDE_EVENTS.values())
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
        unread = _unread(held, accepted["order_id"])
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


def _unread(held: pd.Series, accepted: pd.Series) -> dict[str, str]:
    """The reason of each order in ``held`` (its first row's, by order id) none of whose lines
    is among the ``accepted`` order ids. Compared as Python objects: an Arrow string index looks
    each id up one by one (1.6 s at a million accepted rows)."""
    if len(held):
        held = held[~pd.Index(held.index, dtype=object).isin(accepted.to_numpy(dtype=object))]
    return {str(k): str(v) for k, v in held.items()}
