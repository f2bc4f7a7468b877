"""The period a payment covers: ``transactions.covers_until`` read from a date column, or from a
term in months (``term_months``: Salesforce's contract term of an opportunity, 12 or 36).

A customer paid ahead has not churned for want of a purchase while the term runs
(``features.definitions.coverage_at_end``). A period end before its payment, or a term that is
no number of months, is no term: the payment is kept (it is a sale), counted and named.
"""

from __future__ import annotations

import pandas as pd

#: The derived input of ``transactions`` (not stored): the months a payment covers.
TERM_MONTHS = "term_months"
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
    shown = usable.dropna()
    common = ", ".join(f"{m:g}" for m in shown.value_counts().head(3).index)
    note = f"{len(shown):,} payments with a term ({common} months most often)" if len(shown) else ""
    return ends, note or "no payment with a term"


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
