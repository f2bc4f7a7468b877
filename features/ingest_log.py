"""What ingest says of each table: the progress lines of one validated file (formats found,
warnings, counts per reason), how a source file was read, and the loud failure when too little of
a file was accepted. Shared by the contract tables' ingest and the campaigns'."""

from __future__ import annotations

from collections.abc import Iterable

from features.contract import CONTACT_FLAGS, ENDED_AT, EVENTS, TRANSACTIONS
from features.currencies import YEN
from features.customer_emails import CUSTOMER_EMAIL, NO_SUCH_EMAIL
from features.customer_ids import CUSTOMER_ALIAS, MERGED_INTO
from features.customer_status import CUSTOMER_STATUS
from features.file_tables import GROUPED, ID_FORMS, SUBSCRIPTIONS, UNMAPPED
from features.ingest_tables import TableReport
from features.mapping import IngestError
from features.order_status import REFUND_ROWS
from features.refunds import REFUNDED_AMOUNT, REFUNDED_AT
from features.source_file import SourceFile
from features.survey_scores import SURVEY_SCORES
from features.terms import TERM_DAYS, TERM_MONTHS
from features.ticket_tags import COMPLAINT_TAGS
from features.values import SET_ASIDE, UNTYPED_TICKETS


def source_formats(source: SourceFile) -> list[str]:
    """How a source file was read, for the progress log."""
    return [f"encoding {source.encoding}" if source.encoding else source.kind, *source.notes]


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
        "columns",
        "customer_id",
        GROUPED,
        *ID_FORMS,
        CUSTOMER_ALIAS,
        CUSTOMER_EMAIL,
        MERGED_INTO,
        SUBSCRIPTIONS,
        UNTYPED_TICKETS,
        SURVEY_SCORES,
        COMPLAINT_TAGS,
        "exclude",
        "amount",
        "currency",
        YEN,
        "currency_rates",
        "credit notes",
        REFUND_ROWS,
        REFUNDED_AMOUNT,
        REFUNDED_AT,
        TERM_MONTHS,
        TERM_DAYS,
        "order_day",
        ENDED_AT,
        CUSTOMER_STATUS,
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
                "(the others stay in the quarantine); if they are contacts of the customers (a B2B "
                "CRM's people of an account), give the contacts export as another --customers "
                "file with customers.merged_into=<its account id column>: their addresses are "
                "then their account's]"
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
