"""A customers file's status column, read for when a customer ended.

A subscription, membership or account export often has one date column for every customer (a
``Status Date``, a ``Last Changed``) and a status that says whether that date is an end
(``Cancelled``, ``Churned``, ``Moved out``) or not (``Active``, ``Trial``, ``Paused``). Mapped as
``customer_status``, it keeps ``ended_at`` only where the status says the customer ended (or gave
notice); a live customer's date is no end. Statuses are read by built-in synonyms, then the map
file's ``values: {customer_status: {...: ended | active}}``; a status neither knows keeps its date
and is named in a warning. ``Inactive`` is no end: a CRM's flag of a customer who has not bought
lately (read as active, said in a warning).
"""

from __future__ import annotations

import pandas as pd

from features.values import ENDED_ROWS, ValueMapping, fold, map_values

#: The derived input of ``customers`` (not stored): the customer's status in the source system.
CUSTOMER_STATUS = "customer_status"
ENDED = "ended"
ACTIVE = "active"
#: What a ``customer_status`` value may map to.
CUSTOMER_STATUSES = (ENDED, ACTIVE)
#: Words of recency, not of an end: a CRM's ``Inactive`` or ``Dormant`` flags a customer who has
#: not bought lately and is still one. Read as active, and named in a warning.
RECENCY_WORDS = ("inactive", "dormant")
STATUS_SYNONYMS: dict[str, tuple[str, ...]] = {
    ENDED: (
        "cancelled",
        "canceled",
        "cancellation",
        "closed",
        "terminated",
        "expired",
        "lapsed",
        "deactivated",
        "disconnected",
        "moved out",
        "former",
        "former customer",
        "lost",
        "discontinued",
        "unsubscribed",
        "non renewing",  # Chargebee: notice given, the end ahead
        "pending cancellation",
        "notice given",
        "cancelled at period end",
        "已取消",
        "已流失",
        "已关闭",
        "已注销",
        "已过期",
        "已退订",
        "流失",
        "注销",
        "停用",
        "解約",
        "退会",
        "gekündigt",
        "beendet",
        "résilié",
        "cancelado",
        "cancelada",
        # an events file's end words (Ended, Churned, Account Closed, Subscription Cancelled, a
        # mobile operator's Port Out: the number taken to another network) say it as a status
        *ENDED_ROWS,
    ),
    ACTIVE: (
        *RECENCY_WORDS,
        "active",
        "live",
        "current",
        "trial",
        "trialing",
        "in trial",
        "future",
        "paused",
        "frozen",
        "on hold",
        "suspended",
        # a mobile operator's number list: a new SIM for the same number, the subscriber stays
        "sim swap",
        "sim swapped",
        "past due",
        "unpaid",
        "member",
        "subscribed",
        "renewed",
        "renewing",
        "reactivated",
        "re-activated",
        "won back",
        "closed won",
        "open",
        "正常",
        "有效",
        "活跃",
        "在网",
        "在用",
        "暂停",
        "冻结",
        "aktiv",
        "actif",
        "ativo",
        "activo",
    ),
}
#: How many unknown status values a warning names.
SHOWN_VALUES = 5


def ends_by_status(
    status: pd.Series, ended_at: pd.Series | None, values: dict[str, str], column: str
) -> tuple[pd.Series | None, str, list[str]]:
    """``ended_at`` kept where ``status`` reads as ended, blank where it reads as active; with
    the note for the manifest's formats (the column named first) and the warnings (statuses not
    read, ended customers without an end date, no ``ended_at`` to keep). ``values``: the map
    file's translations."""
    read, table = map_values(status, ValueMapping(values, True, STATUS_SYNONYMS))
    ended, active = read.eq(ENDED).fillna(False), read.eq(ACTIVE).fillna(False)
    warnings: list[str] = []
    unknown = table[table["target"].isna()]
    recency = table[(table["how"] == "built-in") & table["source"].map(fold).isin(RECENCY_WORDS)]
    if len(recency):
        shown = ", ".join(f"{s!r} ({n:,})" for s, n in recency[["source", "rows"]].values)
        warnings.append(
            f"{column!r}: {shown} read as active (a word of recency: not bought lately, still a "
            "customer), their dates no end; if one means the customer left, say so in the map "
            f"file: values: {{{CUSTOMER_STATUS}: {{{recency['source'].iloc[0]!r}: {ENDED}}}}}"
        )
    if len(unknown):
        shown = ", ".join(f"{s!r} ({n:,})" for s, n in unknown[["source", "rows"]].head(5).values)
        warnings.append(
            f"{column!r} ({CUSTOMER_STATUS}): {len(unknown):,} value(s) read as neither ended nor "
            f"active: {shown}; their end dates are kept as given (an end: the customer is left "
            "out of training and scored churned); say which they are in the map file: values: "
            f"{{{CUSTOMER_STATUS}: {{{unknown['source'].iloc[0]!r}: ended | active}}}}"
        )
    if ended_at is None:
        if ended.any():
            warnings.append(
                f"{int(ended.sum()):,} customers {column!r} says ended, but no end date column "
                "is mapped: they are read as customers; map ended_at to the date they ended"
            )
        return (
            None,
            f"{column!r}: {int(ended.sum()):,} ended, {int(active.sum()):,} active",
            warnings,
        )
    dropped = active & ended_at.notna()
    undated = ended & ended_at.isna()
    if undated.any():
        warnings.append(
            f"{int(undated.sum()):,} customers {column!r} says ended have no end date: read as "
            "customers (their end is not known)"
        )
    note = (
        f"{column!r}: ended_at kept for {int((ended & ended_at.notna()).sum()):,} customers whose "
        f"status is ended; {int(dropped.sum()):,} dates of active customers are no end"
    )
    return ended_at.mask(dropped), note, warnings
