"""What ingest keeps of each table it validates: its report (counts, formats, warnings), its
accepted and quarantined rows with what later files and tables need of them, the customers the
other tables are checked against, and the per-row reasons of a file being validated."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.customer_emails import EmailIndex
from features.values import SET_ASIDE


@dataclass
class TableReport:
    """Counts and detected formats of one table's ingest."""

    table: str
    source_file: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    date_format: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)
    currencies: dict[str, int] = field(default_factory=dict)
    event_types: dict[str, int] = field(default_factory=dict)
    value_mapping: list[dict] = field(default_factory=list)
    unmapped: list[dict] = field(default_factory=list)
    #: transactions: the amount (as read) of the quarantined rows per reason, where it parsed
    quarantined_amount: dict[str, float] = field(default_factory=dict)
    #: the day/month order of ``a/b/yyyy`` dates when the values told it (or it was forced);
    #: None when it was assumed or not needed. A campaigns file of the same export that cannot
    #: tell its own follows it.
    day_first: bool | None = None
    #: events derived from the file's rows besides their own, by event type (a rated ticket's
    #: survey: :mod:`features.ticket_ratings`); no rows read, counted apart
    derived_events: dict[str, int] = field(default_factory=dict)

    @property
    def judged_rows(self) -> int:
        """The rows ``--min-accepted-share`` judges: all but those the export itself sets aside
        (cancelled, refunded or open orders; a newsletter's sends and bounces): a file of
        cancellations is read right, not misread."""
        return self.rows_read - sum(self.reasons.get(r, 0) for r in SET_ASIDE)

    @property
    def accepted_share(self) -> float:
        if not self.judged_rows:  # no rows, or every row an order the export says is no sale
            return 1.0 if self.rows_read else 0.0
        return self.accepted / self.judged_rows


@dataclass
class Table:
    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    report: TableReport
    #: customer ids (as stored) of the quarantined rows that no accepted row has
    quarantined_ids: frozenset[str] = frozenset()
    #: customers: those of them whose rows the map file's ``exclude:`` set aside (a test account)
    excluded_ids: frozenset[str] = frozenset()
    #: where each accepted row came from: its 1-based data row and physical line in the file
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    #: order ids (as stored) of the file's cancelled orders: a later file's cancellation
    #: replaces an earlier file's lines of the order as its accepted lines would
    cancelled_orders: frozenset[str] = frozenset()
    #: of those, the cancelled and refunded ones (not open), None without a status column: a
    #: later file without one does not bring them back
    voided_orders: frozenset[str] | None = None
    #: order ids (as stored) the file holds only refund rows of: where an earlier file has the
    #: order's sale, the sale is replaced and these go with it (the order was refunded)
    refund_orders: frozenset[str] = frozenset()
    #: order id -> reason, of the orders the file lists only in rows it quarantined (not as no
    #: sale): a later file's row that did not read is not an order it no longer lists
    unread_orders: dict[str, str] = field(default_factory=dict)
    #: transactions: per unread column naming another tool's order (Recharge's
    #: ``shopify_order_id``), its values on the accepted rows
    #: (:func:`features.export_files.order_references`)
    order_refs: dict[str, pd.Series] = field(default_factory=dict)
    #: customers: the column of e-mail addresses (mapped to customer_email, or found), if any
    email_column: str | None = None
    #: customers: the values of the file's other columns that could be ids of its customers
    other_ids: dict[str, np.ndarray] = field(default_factory=dict)
    #: customers: customer id by the value of the column mapped to customer_alias, if any
    aliases: pd.Series | None = None
    alias_column: str | None = None
    #: customers: merged record's id -> the id it names as merged into (``merged_into``)
    merge_requests: dict[str, str] = field(default_factory=dict)
    #: the file's ``a/b/yyyy`` dates fit both orders and the order was assumed: another file of
    #: the export that tells it is followed instead (:func:`features.ingest._ingest_files`)
    order_assumed: bool = False
    #: transactions: the currency its amounts are kept in
    #: (:func:`features.currencies.kept_currency`), if known
    currency: str | None = None
    #: per column of the map file's ``values:``: its keys matching no value of the file, and the
    #: file's values (:mod:`features.value_keys`)
    value_keys: dict[str, tuple[frozenset[str], tuple[str, ...]]] = field(default_factory=dict)
    #: transactions and events: the customers its rows say ended (``features.values.ENDED``),
    #: each at its latest such row: ``customer_id``, ``ended_at``, ``source_file``
    ends: pd.DataFrame | None = None
    #: customers: the column its ``signup_at`` was read from when that is the record's creation
    #: date, not a signup (:func:`features.source_columns.record_date_column`)
    record_date: str | None = None
    #: events: the survey events derived from its rated tickets (:mod:`features.ticket_ratings`),
    #: written with the accepted rows; None where there are none
    ratings: pd.DataFrame | None = None


@dataclass(frozen=True)
class KnownCustomers:
    """What the rows of the transactions and events files are checked against."""

    ids: set[str]
    #: ids (as stored) of the customers file's quarantined rows that no accepted row has
    quarantined: frozenset[str] = frozenset()
    #: the quarantined ones whose rows the map file excludes: their other rows are set aside too
    excluded: frozenset[str] = frozenset()
    #: the accepted customers by e-mail, when the customers file's e-mail column is mapped
    emails: EmailIndex | None = None
    #: the customers file's e-mail column (mapped, or found), for a hint
    email_column: str | None = None
    #: the customers file's other columns that could be ids (``other_id_columns``), for a hint
    other_ids: dict[str, np.ndarray] = field(default_factory=dict)
    #: customer id by alias (the customers file's column mapped to customer_alias), if mapped
    aliases: pd.Series | None = None
    alias_column: str | None = None


class Validator:
    """Collects per-row problems of one table: the first reason found for a row wins."""

    def __init__(self, n_rows: int):
        self.reason = np.full(n_rows, None, dtype=object)

    def flag(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        mask = np.asarray(pd.Series(bad).fillna(False), dtype=bool) & pd.isna(self.reason)
        self.reason[mask] = reason

    def no_sale(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        """Flag rows the export says are no sale (cancelled, open), taking over a missing,
        unreadable, placeholder or future value's reason: an open deal has no close date yet (or
        a CRM's 1970-01-01 for none), and is no misread row (what ``--min-accepted-share``
        counts); a later file's cancellation then replaces an earlier file's lines whatever
        date the cancelled row carries."""
        taken = pd.Series(self.reason, dtype="object").fillna("")
        value_problem = (
            taken.str.startswith(("missing ", "unparsable "))
            | taken.str.endswith((" is not a number", " in the future"))
            | taken.str.contains(" placeholder for a missing ", regex=False)  # or a Hijri year
        )
        mask = np.asarray(pd.Series(bad).fillna(False), dtype=bool) & value_problem.to_numpy()
        self.reason[mask] = reason
        self.flag(bad, reason)

    def set_aside(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        """Flag rows to set aside whatever else was found (what the sender did, a newsletter's
        send or bounce; a row the map file excludes): a send to a subscriber who is no customer
        (an unknown id) is set aside as the send it is, not judged by ``--min-accepted-share`` as
        a misread row (it would never be accepted)."""
        self.reason[np.asarray(pd.Series(bad).fillna(False), dtype=bool)] = reason

    @property
    def ok(self) -> np.ndarray:
        return pd.isna(self.reason)
