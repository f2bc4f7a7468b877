"""What ingest warns of about the data set as a whole: against the other files of the same ingest
(a customers file without events, one person in two tools) and against the ingest it replaces (a
shorter history, ids written otherwise now)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract import (
    CUSTOMERS,
    EXPORT_FILE,
    QUARANTINED_ID,
    REPEATED_HEADER,
    TRANSACTIONS,
    UNKNOWN_CUSTOMER,
    export_files,
    quarantine_path,
    table_path,
)
from features.customer_emails import CUSTOMER_EMAIL, folded
from features.customer_ids import normalise_ids, plain_id
from features.values import IGNORE, ORDER, OTHER, PAGE_VIEW, SESSION, SET_ASIDE, visit_kind


def same_person_in_two_tools(accepted: pd.DataFrame, shared: frozenset[str]) -> str:
    """What to add to the shared-address warning when the customers sharing an address come from
    different customers files (a person in HubSpot and in Shopify): how to make them one."""
    if EXPORT_FILE not in accepted:
        return ""
    rows = accepted.assign(_email=folded(accepted[CUSTOMER_EMAIL]))
    rows = rows[rows["_email"].isin(shared)]
    files = rows.groupby("_email")[EXPORT_FILE].nunique()
    across = files[files > 1]
    if across.empty:
        return ""
    email = str(min(across.index))
    named = rows[rows["_email"] == email]
    who = ", ".join(
        f"{cid!r} in {Path(str(files[-1])).name}"
        for cid, files in zip(named["customer_id"], export_files(named[EXPORT_FILE]), strict=True)
    )
    return (
        f"; {len(across):,} of them are customers of different files (e.g. {email!r}: {who}): "
        "the same person in two tools is two customers here; to make them one, use the e-mail "
        "as the customer id in each customers file (map customers.customer_id to the e-mail "
        "column in each file's files: section)"
    )


def event_warnings(accepted: pd.DataFrame, value_mapping: list[dict]) -> list[str]:
    """What one events file's accepted rows and event-type mapping (``value_mapping``: records of
    ``source``, ``target``, ``rows``) warn of."""
    twice = visits_counted_twice(value_mapping)
    per_day = None if twice else several_visits_a_day(accepted, value_mapping)
    return [w for w in (twice, order_events(value_mapping), per_day) if w]


#: Visit days of which at least this share hold several visit rows of their customer are warned
#: of (a gym's door writing a row per swipe), given at least :data:`SEVERAL_A_DAY_MIN` of them.
SEVERAL_A_DAY_SHARE = 0.2
SEVERAL_A_DAY_MIN = 10


def several_visits_a_day(accepted: pd.DataFrame, value_mapping: list[dict]) -> str | None:
    """A warning when many of the days customers visit hold several visit rows of theirs (a
    gym's door swipes, in and out): visits count rows, so a reason's "26 visits in the last 30
    days" may be 16 days of visits. ``accepted``: an events file's accepted contract rows;
    ``value_mapping``: its event types' records (``source``, ``target``), naming the rows."""
    if not {"customer_id", "occurred_at", "event_type"} <= set(accepted.columns):
        return None
    visits = accepted.loc[accepted["event_type"] == "visit", ["customer_id", "occurred_at"]]
    if visits.empty:
        return None
    per_day = visits.groupby(
        [visits["customer_id"], visits["occurred_at"].dt.normalize()], observed=True
    ).size()
    several = per_day[per_day > 1]
    share = len(several) / len(per_day)
    if len(several) < SEVERAL_A_DAY_MIN or share < SEVERAL_A_DAY_SHARE:
        return None
    typical = several[several == int(several.median())]
    (customer, day), n = typical.index[0], int(typical.iloc[0])
    customers = several.index.get_level_values(0).nunique()
    names = ", ".join(repr(r["source"]) for r in value_mapping if r["target"] == "visit")
    return (
        f"visits count rows: {share:.0%} of the days a customer visits ({len(several):,} of "
        f"{len(per_day):,} days, {customers:,} customers) hold several visit rows (e.g. "
        f"{customer!r} on {day:%Y-%m-%d}: {n}), so {len(visits):,} visits are "
        f"{len(per_day):,} visit days and a reason's 'N visits in the last 30 days' counts "
        f"each row of {names or 'visit'} (a door swipe in and out, each page viewed?); ingest "
        "has no option to keep one visit per day: if a visit is a day, export one row per "
        "customer and day, or set the other rows aside where a column tells them (exclude: "
        "{events.<column>: [<value>]}, e.g. the exits)"
    )


def order_events(value_mapping: list[dict]) -> str | None:
    """An events file's purchases and refunds (Segment's ``Order Completed``), set aside: the
    orders are the transactions file's; said with their counts and how to keep them."""
    orders = [r for r in value_mapping if r["target"] == ORDER and r["rows"]]
    if not orders:
        return None
    named = ", ".join(f"{r['source']!r} x {r['rows']:,}" for r in orders)
    keep = ", ".join(f"{r['source']!r}: {OTHER}" for r in orders)
    return (
        f"{sum(r['rows'] for r in orders):,} purchase and refund events set aside ({named}): "
        "the orders are the transactions file's, and as other events each purchase would count "
        f"again as engagement; to keep them as other events: values: {{event_type: {{{keep}}}}}"
    )


def visits_counted_twice(value_mapping: list[dict]) -> str | None:
    """An events file mapping both a session event (one per visit: GA4's ``session_start``) and
    page views (several per visit: ``page_view``) to visit: each visit counts 1 + its page views.
    ``value_mapping``: the file's records (``source``, ``target``, ``rows``)."""
    visits = [r for r in value_mapping if r["target"] == "visit" and r["rows"]]
    sessions = [r for r in visits if visit_kind(r["source"]) == SESSION]
    views = [r for r in visits if visit_kind(r["source"]) == PAGE_VIEW]
    if not sessions or not views:
        return None
    named = ", ".join(f"{r['source']!r} x {r['rows']:,}" for r in (*sessions, *views))
    ignore = ", ".join(f"{r['source']!r}: {IGNORE}" for r in views)
    return (
        f"visits counted more than once: sessions and page views both map to visit ({named}), "
        f"so the file's {sum(r['rows'] for r in visits):,} visits count each session's page "
        f"views too (sessions: {sum(r['rows'] for r in sessions):,}); if a visit is a session, "
        f"set the page views aside: values: {{event_type: {{{ignore}}}}}"
    )


#: A new ingest starting this many days after the one it replaces is said to shrink the history.
SHRINK_DAYS = 30


def files_without_events(customers: pd.DataFrame, events: pd.DataFrame) -> str | None:
    """A customers file none of whose ``customers`` has one of the ``events`` while another file's
    customers do: that tool's activity was not exported, so its customers' engagement reads as
    none (accepted rows of both tables)."""
    if EXPORT_FILE not in customers:
        return None
    engaged = customers["customer_id"].isin(set(events["customer_id"]))
    files = export_files(customers[EXPORT_FILE])
    engaged = pd.Series(engaged.to_numpy(), index=files.index).repeat(files.str.len())
    per_file = engaged.groupby(files.explode().to_numpy(), sort=True).agg(["sum", "size"])
    silent = per_file[per_file["sum"] == 0]
    if silent.empty or len(silent) == len(per_file):
        return None
    named = ", ".join(f"{Path(f).name} ({n:,} customers)" for f, n in silent["size"].items())
    return (
        f"no customer of {named} has an event, while the other customers files' do: if that "
        "tool's activity was not exported, its customers' engagement reads as none (no visits, "
        "no tickets) in the features and the reasons; give its activity export with --events"
    )


def history_shrinks(out_dir: Path, accepted: pd.DataFrame) -> str | None:
    """A warning when the transactions replacing an earlier ingest of ``out_dir`` begin
    :data:`SHRINK_DAYS` or more after the earlier ones did: an increment (a month, the last 30
    days) ingested alone replaces the whole history, since ``--out`` is replaced as a whole."""
    old_path = table_path(out_dir, TRANSACTIONS)
    if accepted.empty or not old_path.is_file():
        return None
    try:
        old = pd.read_parquet(old_path, columns=["ordered_at"])["ordered_at"]
    except Exception:  # an unreadable earlier output is replaced without a comparison
        return None
    if old.empty:
        return None
    old_start, new_start = old.min(), accepted["ordered_at"].min()
    if (new_start - old_start) < pd.Timedelta(days=SHRINK_DAYS):
        return None
    return (
        f"{out_dir} held {len(old):,} transactions from {old_start.date()} to "
        f"{old.max().date()}; this ingest replaces them with {len(accepted):,} from "
        f"{new_start.date()} to {accepted['ordered_at'].max().date()}: the history before "
        f"{new_start.date()} is gone (--out is replaced as a whole; to add a period, give "
        "every period's file: --transactions older.csv --transactions newer.csv)"
    )


def ids_lowered(out_dir: Path) -> str | None:
    """A warning when the ingest being replaced holds e-mail or UUID ids with capitals (ingested
    before such ids were lower-cased): said, with what carries over."""
    old_path = table_path(out_dir, CUSTOMERS)
    if not old_path.is_file():
        return None
    try:
        old = pd.read_parquet(old_path, columns=["customer_id"])["customer_id"].astype("string")
    except Exception:  # an unreadable earlier output is replaced without a comparison
        return None
    changed = old[(normalise_ids(old) != old).fillna(False)]
    if changed.empty:
        return None
    first = str(changed.iloc[0])
    return (
        f"{out_dir} held {len(changed):,} customer ids that are e-mail addresses or UUIDs with "
        f"capitals (e.g. {first!r}); they are lower-cased now ({plain_id(first)!r}): their "
        "score history and kept tiers (hold) carry over, and lifecycle export sends those it "
        "sent before under the form it sent (the CRM's records stay keyed as they were)"
    )


#: Quarantine reasons of transaction rows that are no unread purchase of a customer of the data
#: set: rows the export sets aside (no sale), an unknown customer, a pasted header line (its id
#: cell is the column's name).
NOT_A_PURCHASE = (*SET_ASIDE, UNKNOWN_CUSTOMER, REPEATED_HEADER)


def _unread_purchases(quarantined: pd.DataFrame) -> pd.DataFrame:
    """The quarantined transaction rows that are a customer's purchase ingest could not use
    (another currency, an amount or date that does not read), with the customer's id."""
    rows = quarantined[~quarantined["reason"].isin(NOT_A_PURCHASE)]
    return rows[rows[QUARANTINED_ID].notna()]


def _first_reasons(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Each customer's first row of ``rows``, and the top three reasons among them in words."""
    first = rows.drop_duplicates(QUARANTINED_ID)
    why = ", ".join(f"{r}: {n:,}" for r, n in first["reason"].value_counts().head(3).items())
    return first, why


def buyers_without_sales(
    accepted: pd.DataFrame, quarantined: pd.DataFrame, customers: pd.Series | None = None
) -> str | None:
    """A warning naming the customers whose every transaction was quarantined for a problem of
    the data (another currency, an amount or date that does not read; not a cancelled, refunded
    or open order, which is no sale): the contract holds no purchase of theirs, so they are
    scored as prospects (or not at all), though they bought. With a customers file, only its
    accepted ``customers`` are such buyers: a row of an unknown id or e-mail, or of a customer
    the customers file quarantined, names no customer the data set scores."""
    if quarantined.empty or QUARANTINED_ID not in quarantined:
        return None
    unread = _unread_purchases(quarantined)
    # membership against the few quarantined ids, not millions of accepted ones (an isin with
    # a value set of a million ids takes seconds)
    ids = unread[QUARANTINED_ID].astype("string")
    unread = unread[~ids.isin(_among(accepted["customer_id"], ids))]
    if customers is not None:
        unread = unread[unread[QUARANTINED_ID].astype("string").isin(_among(customers, ids))]
    if unread.empty:
        return None
    first, reasons = _first_reasons(unread)
    return (
        f"{len(first):,} customer{'s' if len(first) != 1 else ''} bought but none of their "
        "transactions was accepted "
        f"({reasons}; e.g. {str(first[QUARANTINED_ID].iloc[0])!r}): the data set holds no "
        "purchase of theirs, so they are scored as prospects, or not at all without a customers "
        "file; fix those rows (the quarantine file names each) if they are customers to score"
    )


def _among(values: pd.Series, ids: pd.Series) -> list[str]:
    """The distinct ``ids`` that are among ``values`` (a large column, ``ids`` a few)."""
    values = values.astype("string")
    return values[values.isin(ids.unique())].unique().tolist()


def prospects_who_bought(data_dir: str | Path, prospects: pd.Series) -> str | None:
    """At scoring: the ``prospects`` (customer ids scored as never having bought) with
    transactions ingest quarantined for a problem of the data (another currency, an unreadable
    amount): they bought, yet get a prospect's first-purchase action, and a CRM export sends it."""
    path = quarantine_path(data_dir, TRANSACTIONS)
    if prospects.empty or not path.is_file():
        return None
    try:
        rows = pd.read_parquet(path, columns=[QUARANTINED_ID, "reason"])
    except (OSError, ValueError, KeyError):  # a quarantine written before ids were kept
        return None
    rows = _unread_purchases(rows)
    rows = rows[rows[QUARANTINED_ID].isin(set(prospects.astype(str)))]
    if rows.empty:
        return None
    first, why = _first_reasons(rows)
    n = len(first)
    return (
        f"{n:,} customer{'s' if n != 1 else ''} scored as prospect{'s' if n != 1 else ''} "
        f"bought, but ingest quarantined every transaction of theirs ({why}; e.g. "
        f"{str(first[QUARANTINED_ID].iloc[0])!r}): they get a first-purchase action, which a CRM "
        f"export sends; fix those rows ({path}) and ingest again"
    )
