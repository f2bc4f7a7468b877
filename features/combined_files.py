"""Several validated files of one table as one (the rules on rows are
:mod:`features.export_files`'): counts and formats summed; customers files' merges, aliases,
earliest signups, and ends and contact flags carried to a file without them; one customer id
given to two people by two tools warned of."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import (
    CONTACT_FLAGS,
    CUSTOMERS,
    DO_NOT_CALL,
    DO_NOT_CONTACT,
    DO_NOT_EMAIL,
    ENDED_AT,
    EXPORT_FILE,
    RETURNED_AT,
    TRANSACTIONS,
    quarantine_rows,
)
from features.customer_emails import CUSTOMER_EMAIL
from features.customer_ids import match_leading_zeros, match_phone_numbers, resolve_merges
from features.export_files import (
    ORDER_OF_ANOTHER_FILE,
    orders_named_elsewhere,
    replaced_by_later_files,
)
from features.ingest_tables import Table, TableReport
from features.mapping import ColumnMapping, IngestError
from features.values import MERGED

#: ``TableReport.formats`` key of the sales a file holds twice as another file's orders.
NAMED_ELSEWHERE = "orders named across files"


def combined_table(
    table: str,
    parts: list[Table],
    numberings: list[str] | None = None,
    currency: str | None = None,
) -> Table:
    """Several files' validated rows as one table: rows a later file replaces are quarantined
    (:func:`features.export_files.replaced_by_later_files`, order ids keyed by ``numberings``),
    as are those of a file in another ``currency`` than the table's; counts and formats are
    summed."""

    report = TableReport(table=table, source_file=", ".join(p.report.source_file for p in parts))
    if table == CUSTOMERS:
        _ids_of_earlier_files(parts, report)
    reasons = replaced_by_later_files(
        table,
        [p.accepted for p in parts],
        [p.cancelled_orders for p in parts],
        [p.refund_orders for p in parts],
        [p.voided_orders for p in parts],
        numberings,
    )
    if table == TRANSACTIONS:  # a subscription app's charges naming the shop's orders
        named, said = orders_named_elsewhere(
            [p.accepted for p in parts],
            [p.order_refs for p in parts],
            [Path(p.report.source_file).name for p in parts],
            [pd.isna(reason) for reason in reasons],
        )
        for reason, same in zip(reasons, named, strict=True):
            reason[same & pd.isna(reason)] = ORDER_OF_ANOTHER_FILE
        if said:
            report.formats[NAMED_ELSEWHERE] = said
    for part, reason in zip(parts, reasons, strict=True):
        if currency and part.currency not in (None, currency):
            reason[pd.isna(reason)] = f"currency is not {currency}"
    merges = _merges_across_files(parts, reasons, report) if table == CUSTOMERS else {}
    if table == CUSTOMERS:
        for column in CARRIED:
            _carry_across_files(parts, report, column)
    accepted, quarantined = [], []
    for part, reason in zip(parts, reasons, strict=True):
        gone = pd.notna(reason)
        accepted.append(part.accepted.loc[~gone])
        quarantined.append(part.quarantined)
        if gone.any():
            quarantined.append(
                quarantine_rows(
                    part.accepted.loc[gone]
                    .drop(columns=EXPORT_FILE, errors="ignore")
                    .astype("string"),
                    part.report.source_file,
                    part.rows[gone],
                    reason[gone],
                    part.lines[gone],
                )
            )
        add_counts(report, part.report, reason[gone])
    report.accepted = sum(len(a) for a in accepted)
    report.quarantined = report.rows_read - report.accepted
    report.day_first = told_order(p.report.day_first for p in parts)
    kept = pd.concat(accepted, ignore_index=True)
    if table == CUSTOMERS:
        _earliest_signups(kept, parts, report)
    dropped = frozenset().union(*(p.quarantined_ids for p in parts))
    kept_ids = frozenset(kept["customer_id"].dropna())
    return Table(
        kept,
        pd.concat(quarantined, ignore_index=True),
        report,
        dropped - kept_ids - frozenset(merges),
        frozenset().union(*(p.excluded_ids for p in parts)) - kept_ids,
        email_column=next((p.email_column for p in parts if p.email_column), None),
        aliases=_combined_aliases(parts, report, merges),
        alias_column=next((p.alias_column for p in parts if p.alias_column), None),
        other_ids={
            name: np.unique(
                np.concatenate([p.other_ids[name] for p in parts if name in p.other_ids])
            )
            for name in {n for p in parts for n in p.other_ids}
        },
    )


#: The share of the ids two customers files both list whose e-mail differs from which they are
#: taken for two tools' numberings (one CRM exported twice: a few customers changed address).
SHARED_ID_SHARE = 0.25


def ids_of_two_people(parts: list[Table]) -> str | None:
    """A warning naming the customer ids two customers files list with different e-mail
    addresses (``customers.customer_email``): two tools numbering their customers alike (a
    Magento id 158 and a BigCommerce id 158), not one customer's record updated; the later
    record replaced the earlier one."""
    having = [p for p in parts if CUSTOMER_EMAIL in p.accepted.columns]
    if len(having) < 2:
        return None
    emails = pd.concat(
        [
            p.accepted[["customer_id", CUSTOMER_EMAIL]].assign(
                file=Path(p.report.source_file).name,
                email=p.accepted[CUSTOMER_EMAIL].astype("string").str.strip().str.casefold(),
            )
            for p in having
        ]
    ).dropna(subset=["customer_id", "email"])
    emails = emails[emails["email"] != ""]
    listed = emails.drop_duplicates(["customer_id", "file"])
    shared = listed["customer_id"][listed.duplicated("customer_id")].nunique()
    emails = emails.drop_duplicates(["customer_id", "email"])
    apart = emails[emails.duplicated("customer_id", keep=False)]
    if apart.empty or apart["customer_id"].nunique() < SHARED_ID_SHARE * shared:
        return None  # a customer who changed address between two exports of one CRM
    first = apart[apart["customer_id"] == apart["customer_id"].iloc[0]]
    example = ", ".join(f"{e} in {f}" for e, f in zip(first["email"], first["file"], strict=True))
    n = apart["customer_id"].nunique()
    return (
        f"{n:,} customer ids are listed by two customers files with different e-mail addresses "
        f"(e.g. {str(first['customer_id'].iloc[0])!r}: {example}): two tools numbering their "
        "customers alike, not one customer's record updated; the later record replaced the "
        "earlier one and their orders are one customer's; key the files by the e-mail "
        "instead (customer_id=<the e-mail column> in each file's files: section)"
    )


#: ``TableReport.formats`` key of the sign-up dates :func:`_earliest_signups` moved.
SIGNUPS_KEPT = "signup_at across files"


def _earliest_signups(kept: pd.DataFrame, parts: list[Table], report: TableReport) -> None:
    """A customer several customers files list keeps the earliest ``signup_at`` of their
    records: the latest record replaced the others, and a platform migration's record carries
    the import day (every migrated customer signed up on it, a customer of years new)."""
    if len(parts) < 2 or "signup_at" not in kept.columns or kept.empty:
        return
    every = pd.concat([p.accepted[["customer_id", "signup_at"]] for p in parts])
    first = every.dropna().groupby("customer_id")["signup_at"].min()
    earlier = kept["customer_id"].map(first)
    moved = (earlier < kept["signup_at"]).fillna(False).to_numpy(dtype=bool)
    if moved.any():
        kept.loc[moved, "signup_at"] = earlier[moved]
        report.formats[SIGNUPS_KEPT] = (
            f"{int(moved.sum()):,} customers listed by several files keep the earliest signup_at "
            "of their records (the record kept, of a later file, had a later one: a migration's "
            "import day)"
        )


#: The other ways a later customers file writes an earlier file's customer ids, by their
#: ``TableReport.formats`` key (a number list's ``0712345678`` beside the CRM's
#: ``+254712345678``).
ID_FORMS = {"leading zeros": match_leading_zeros, "phone numbers": match_phone_numbers}


def _ids_of_earlier_files(parts: list[Table], report: TableReport) -> None:
    """A later customers file's ids that are an earlier file's customer written another way are
    put in that file's form, so the later record is that customer's (as the other tables' rows
    are): written apart, each subscriber was two customers and every other file's number, one of
    two customers' national number, unknown. An id the file lists as written is its own record,
    and two of its ids written as one customer are left apart: a file holds a customer once."""
    earlier = set(parts[0].accepted["customer_id"].dropna())
    for part in parts[1:]:
        for key, match in ID_FORMS.items():
            ids = part.accepted["customer_id"]
            pool = earlier - set(ids.dropna())
            if not (matched := match(ids, pool)):
                continue
            twice = matched[0].duplicated(keep=False) & matched[0].ne(ids).fillna(False)
            if twice.any() and not (matched := match(ids.mask(twice), pool)):
                continue
            part.accepted["customer_id"] = matched[0].where(~twice, ids)
            report.formats[key] = f"{part.report.source_file}: {matched[1]}"
        earlier |= set(part.accepted["customer_id"].dropna())


def _merges_across_files(
    parts: list[Table], reasons: list[np.ndarray], report: TableReport
) -> dict[str, str]:
    """Merges the customers files ask for, across files: the latest file listing an id says
    whether it is merged (a June export merging a card a January export still lists), and a
    survivor may be in another file (a delta export merging into a card of the full one). The
    accepted records of merged ids get ``reasons`` :data:`MERGED`; returns surviving id by
    merged id (the chains followed)."""
    if not any(p.merge_requests for p in parts):
        return {}
    step: dict[str, str] = {}
    for part in parts:
        for listed in (*part.accepted["customer_id"].dropna(), *part.merge_requests):
            step.pop(str(listed), None)
        step.update(part.merge_requests)
    kept = {
        str(i)
        for part, reason in zip(parts, reasons, strict=True)
        for i in part.accepted["customer_id"][pd.isna(reason)].dropna()
    }
    merges, lost = resolve_merges(step, kept - set(step))
    for part, reason in zip(parts, reasons, strict=True):
        hit = part.accepted["customer_id"].isin(merges).to_numpy() & pd.isna(reason)
        reason[hit] = MERGED
    if lost:
        report.warnings.append(lost)
    return merges


#: ``TableReport.formats`` keys of the ends and flags :func:`_carry_across_files` kept.
ENDS_CARRIED = "ended_at across files"
FLAGS_CARRIED = "do_not_contact across files"
#: What each contact flag says of the customers flagged, in the ingest report.
FLAG_WORDS = {
    DO_NOT_CONTACT: "not to be contacted",
    DO_NOT_EMAIL: "not to be emailed",
    DO_NOT_CALL: "not to be called",
}
#: The customers columns a file without them takes from the files with them: its key in
#: ``TableReport.formats`` and what the carried values are.
CARRIED = {
    ENDED_AT: (ENDS_CARRIED, "end dates"),
    RETURNED_AT: ("returned_at across files", "return dates"),
    DO_NOT_CONTACT: (FLAGS_CARRIED, "do-not-contact flags"),
    DO_NOT_EMAIL: ("do_not_email across files", "do-not-email flags"),
    DO_NOT_CALL: ("do_not_call across files", "do-not-call flags"),
    # a number status list beside the CRM: its record replaced the CRM's, without its attributes
    "region": ("region across files", "regions"),
    "channel": ("channel across files", "channels"),
    "segment": ("segment across files", "segments"),
}


def carried_somewhere(parts: list[Table], mapping: ColumnMapping, paths: list[Path]) -> None:
    """``IngestError`` when a column mapped to an end, contact flag or attribute is in none of
    several customers files (each may lack it: :func:`features.source_columns.table_inputs`): a
    name mistyped, not a file without."""
    for column in CARRIED:
        mapped = {mapping.for_file(p).source_for(CUSTOMERS, column) for p in paths} - {None}
        if mapped and len(parts) > 1 and not any(column in p.accepted.columns for p in parts):
            names = ", ".join(sorted(repr(str(m)) for m in mapped))
            raise IngestError(
                f"{', '.join(p.name for p in paths)}: column {names} (mapped to "
                f"customers.{column}) is in none of the customers files"
            )


def _carry_across_files(parts: list[Table], report: TableReport, column: str) -> None:
    """A customers file without ``column`` (a contact list beside the membership export, without
    its ``ended_at``, ``do_not_contact`` or ``segment``) keeps the value an earlier or later file
    gives its customers (the latest file with the column wins): its record replaced the other's
    and would have blanked the end, or dropped the flag."""
    having = [p.accepted for p in parts if column in p.accepted.columns]
    if not having or len(having) == len(parts):
        return
    known = pd.concat([a[["customer_id", column]] for a in having])
    known = known.drop_duplicates("customer_id", keep="last").set_index("customer_id")[column]
    carried = 0
    for part in parts:
        if column not in part.accepted.columns:
            values = part.accepted["customer_id"].map(known)
            part.accepted[column] = values
            given = values.eq(True) if column in CONTACT_FLAGS else values.notna()
            carried += int(given.sum())
    if carried:
        key, what = CARRIED[column]
        report.formats[key] = (
            f"{carried:,} customers' {what} taken from the customers file that has the column "
            "(a file without it does not blank them)"
        )


def _combined_aliases(
    parts: list[Table], report: TableReport, merges: dict[str, str] | None = None
) -> pd.Series | None:
    """The customers files' aliases as one index: a later file's record of an alias wins, as its
    customer records do; an alias two files give to different customers is warned of; a merged
    record's id (``merges``) names its survivor."""
    indexes = [p.aliases for p in parts if p.aliases is not None]
    if merges:
        indexes.append(pd.Series(merges, dtype="string"))
    if not indexes:
        return None
    both = pd.concat(indexes)
    pairs = pd.DataFrame({"alias": both.index, "id": both.to_numpy()}).drop_duplicates()
    if (moved := pairs["alias"].duplicated(keep=False)).any():
        first = pairs[moved].iloc[0]["alias"]
        report.warnings.append(
            f"{pairs.loc[moved, 'alias'].nunique():,} customer_alias values name different "
            f"customers in different customers files (e.g. {first!r}): the later file's is used"
        )
    return both[~both.index.duplicated(keep="last")]


def add_counts(total: TableReport, one: TableReport, replaced: np.ndarray) -> None:
    """Add one file's report (and its rows a later file replaces) to the table's."""
    name = Path(one.source_file).name
    total.rows_read += one.rows_read
    for reason, n in one.reasons.items():
        total.reasons[reason] = total.reasons.get(reason, 0) + n
        total.samples.setdefault(reason, f"{name} {one.samples.get(reason, '')}".strip())
    for reason, n in pd.Series(replaced, dtype="object").value_counts().items():
        total.reasons[str(reason)] = total.reasons.get(str(reason), 0) + int(n)
        total.samples.setdefault(str(reason), name)
    for key, value in one.formats.items():
        seen = total.formats.get(key)
        total.formats[key] = value if seen in (None, value) else f"{seen} | {value}"
    if one.date_format and total.date_format not in (None, one.date_format):
        total.date_format = f"{total.date_format} | {one.date_format}"
    else:
        total.date_format = one.date_format or total.date_format
    total.warnings += [f"{name}: {w}" for w in one.warnings]
    for counts, more in ((total.currencies, one.currencies), (total.event_types, one.event_types)):
        for key, n in more.items():
            counts[key] = counts.get(key, 0) + n
    for key, amount in one.quarantined_amount.items():
        total.quarantined_amount[key] = round(total.quarantined_amount.get(key, 0.0) + amount, 2)
    total.value_mapping += [m for m in one.value_mapping if m not in total.value_mapping]
    total.unmapped += one.unmapped


def told_order(orders: Iterable[bool | None]) -> bool | None:
    """The day/month order these tables or files told (None: not told), if they agree (None
    otherwise)."""
    told = {o for o in orders if o is not None}
    return told.pop() if len(told) == 1 else None
