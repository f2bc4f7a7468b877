"""The period a payment covers: ``transactions.covers_until`` read from a date column, from a
term in months (``term_months``: Salesforce's contract term of an opportunity, 12 or 36), or
from a term in days (``term_days``: a pharmacy fill's ``Days Supply``, a prepaid bundle's
validity).

A customer paid ahead has not churned for want of a purchase while the term runs
(``features.definitions.coverage_at_end``). A period end before its payment, or a term that is
no number of months, is no term: the payment is kept (it is a sale), counted and named.
"""

from __future__ import annotations

import pandas as pd

#: The derived inputs of ``transactions`` (not stored): the months, or days, a payment covers.
TERM_MONTHS = "term_months"
TERM_DAYS = "term_days"
#: A term in months above this, in a column named in days (``Days Supply``), is days mapped as
#: months: warned (90 days read as 7.5 years).
MONTHS_AS_DAYS = 24
#: Days of an average month, for a term with a fraction of a month (whole months are calendar
#: months: 36 from 2022-01-10 end on 2025-01-10).
MONTH_DAYS = 365.25 / 12
#: Share of the accepted rows with a period end past which those without money are a contracts
#: export's (fewer: a free trial's $0 invoice or a refund among the payments).
UNPAID_TERMS_SHARE = 0.5


def covers_from_months(ordered_at: pd.Series, months: pd.Series) -> tuple[pd.Series, str]:
    """The end of each payment's term of ``months`` (numbers; blank: no term), and the note for
    the manifest's formats. A term of 0 months or less is no term."""
    usable = months.where(months > 0)
    whole = usable.where(usable % 1 == 0)  # calendar months: 12 from 2024-01-31 is 2025-01-31
    ends = pd.Series(pd.NaT, index=ordered_at.index, dtype=ordered_at.dtype)
    for n in whole.dropna().unique():
        rows = whole == n
        ends[rows] = ordered_at[rows] + pd.DateOffset(months=int(n))
    part = usable.notna() & whole.isna()  # 1.5 months: average months of 30.44 days
    ends[part] = ordered_at[part] + pd.to_timedelta((usable[part] * MONTH_DAYS).round(), unit="D")
    return ends, _terms_note(usable, "months")


def covers_from_days(ordered_at: pd.Series, days: pd.Series) -> tuple[pd.Series, str]:
    """The end of each payment's term of ``days`` (numbers; blank: no term), and the note for the
    manifest's formats. A term of 0 days or less is no term; a fraction is rounded."""
    usable = days.where(days > 0)
    ends = ordered_at + pd.to_timedelta(usable.round(), unit="D")
    return ends, _terms_note(usable, "days")


def _terms_note(terms: pd.Series, unit: str) -> str:
    """The manifest's note on the terms read (blank: no term): how many, the commonest."""
    shown = terms.dropna()
    if shown.empty:
        return "no payment with a term"
    common = ", ".join(f"{t:g}" for t in shown.value_counts().head(3).index)
    return f"{len(shown):,} payments with a term ({common} {unit} most often)"


def days_as_months(column: str, months: pd.Series) -> str | None:
    """A warning for a ``term_months`` column named in days whose terms run for years (a
    pharmacy's ``Days Supply`` of 30 to 90 read as months: no patient could churn)."""
    named_in_days = any(w in column.casefold() for w in ("day", "tage", "jours", "天", "日"))
    long = months > MONTHS_AS_DAYS
    if not named_in_days or not long.any():
        return None
    return (
        f"{column!r} mapped as {TERM_MONTHS} is named in days, and {int(long.sum()):,} of its "
        f"terms are over {MONTHS_AS_DAYS} months (e.g. {months[long].iloc[0]:g}): if they are "
        f'days, map it as --map "transactions.{TERM_DAYS}={column}"'
    )


def checked_covers(covers: pd.Series, ordered_at: pd.Series) -> tuple[pd.Series, str]:
    """``covers_until`` blank where it is before its payment's day (no period ahead: a typo, the
    period's start mapped by mistake), with the note for the manifest's formats."""
    before = (covers.dt.normalize() < ordered_at.dt.normalize()).fillna(False)
    kept = covers.mask(before)
    note = f"{int(kept.notna().sum()):,} payments with the end of the period they cover"
    if before.any():
        note += f"; {int(before.sum()):,} ending before their payment read as no term"
    return kept, note


def unpaid_terms(covers: pd.Series, amount: pd.Series, ok: pd.Series) -> str | None:
    """A warning for accepted rows with a period end but no amount above 0: a term is read from
    a payment only, so they cover nothing (a Salesforce Contract export, ``StartDate`` to
    ``EndDate`` and no money, given as transactions with an amount of ``=0``); most of the rows
    with a period end, not a free trial's $0 invoice or a refund among the payments."""
    ended = ok & covers.notna()
    unpaid = ended & ~(amount > 0).fillna(False)
    if not unpaid.any() or unpaid.sum() <= UNPAID_TERMS_SHARE * ended.sum():
        return None
    return (
        f"{int(unpaid.sum()):,} accepted rows with the end of a period covered have no amount "
        "above 0: a term is read from a payment only, so they cover no one (a contracts export "
        "holds no money); put each contract's end on the sale that paid it (an Opportunities "
        "export or report with the contract's end date, e.g. Salesforce's Contract: End Date "
        "beside the opportunity's ContractId, as covers_until=<column>, or its term in months "
        "as term_months=<column>)"
    )
