"""Currencies of amounts: the ``¥`` sign as the yen or the yuan, a currency column beside the
amounts' own marks, one currency kept per file and per table (the others converted at the map
file's rates or quarantined), and files whose amounts carry no currency beside files that do."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from features.ingest_tables import Table, TableReport, Validator
from features.mapping import FileMapping, IngestError
from features.numbers import CURRENCIES, YEN_SIGNS

#: ``formats`` key of the note that a ``¥`` was read as the yuan, the map file not saying.
YEN = "¥"
YEN_READ_AS_CNY = (
    "read as CNY (the yuan); if the amounts are yen, set currency: JPY in the map file"
)


#: Marks only the yen has, and only the yuan.
YEN_ONLY, YUAN_ONLY = ("円", "JPY"), ("元", "RMB", "CNY")


def _marked(texts: list[pd.Series], marks: tuple[str, ...]) -> bool:
    """Whether any of ``texts`` holds one of ``marks``."""
    pattern = "|".join(marks)
    return any(t.str.contains(pattern, na=False).any() for t in texts)


def yen_code(mapping: FileMapping, texts: list[pd.Series], report: TableReport) -> str:
    """The code of the sign ``¥`` (the yen's and the yuan's): the map file's ``currency:`` when
    JPY or CNY, JPY beside amounts marked ``円`` or JPY (and none ``元``, RMB, CNY), else CNY,
    said in the report when ``texts`` hold the sign."""
    said = _currency_code(mapping.currency.strip()) if mapping.currency else None
    if said in ("JPY", "CNY"):
        return said
    if _marked(texts, YEN_ONLY) and not _marked(texts, YUAN_ONLY):  # ￥ beside 円: the yen
        return "JPY"
    if _marked(texts, YEN_SIGNS):
        report.formats[YEN] = YEN_READ_AS_CNY
    return "CNY"


def currency_column(column: pd.Series, marks: pd.Series, check: Validator, yen: str) -> pd.Series:
    """Each row's currency from a mapped column (a code or sign, ``¥`` as ``yen``), else the
    amount's own mark; a row whose column and mark disagree is quarantined."""
    column = column.astype("string").str.strip()
    code = column.map(_currency_code, na_action="ignore").where(~column.isin(YEN_SIGNS), yen)
    marks = pd.Series(marks, index=column.index, dtype="object")
    check.flag(
        code.notna() & marks.notna() & (code != marks), "currency column and amount disagree"
    )
    return code.astype("object").where(code.notna(), marks)


def _currency_code(text: str) -> str:
    """A currency sign or code as its ISO code (``￥`` -> ``CNY``, ``usd`` -> ``USD``)."""
    return CURRENCIES.get(text, CURRENCIES.get(text.upper(), text.upper()))


#: What ingest does with amounts in another currency than the one kept, and how to choose.
OTHER_CURRENCIES = (
    "quarantined the others (set currency: in the map file to choose, and "
    "currency_rates: {EUR: 1.08, ...} there to convert the others at a fixed rate)"
)


def kept_currency(mapping: FileMapping, currencies: dict[str, int]) -> str | None:
    """The currency a file's amounts are kept in: the map file's ``currency:``, else the one
    most amounts are marked with (``currencies``, most first); None without either."""
    code = (mapping.currency or "").strip()
    return _currency_code(code) if code else next(iter(currencies), None)


def check_currency(
    currency: pd.Series,
    amount: pd.Series,
    check: Validator,
    mapping: FileMapping,
    report: TableReport,
) -> tuple[pd.Series, pd.Series]:
    """One currency per amount column: rows marked with another one are converted at the map
    file's ``currency_rates``, or else quarantined (never summed as they are). Returns the
    amounts in the kept currency, and the rate of each row converted (NaN for the others)."""
    seen = currency[amount.notna()].value_counts()
    report.currencies = {str(k): int(v) for k, v in seen.items()}
    told = bool((mapping.currency or "").strip())
    if mapping.currency_rates and not told:
        raise IngestError(
            f"{report.source_file}: currency_rates need the currency they convert to: set "
            "currency: in the map file (e.g. currency: USD)"
        )
    expected = kept_currency(mapping, report.currencies)
    if not told and len(seen) > 1:
        report.warnings.append(
            f"amounts in several currencies {report.currencies}; kept {expected}, "
            + OTHER_CURRENCIES
        )
    if expected is None:
        return amount, pd.Series(np.nan, index=amount.index)
    rates = {_currency_code(k): float(v) for k, v in mapping.currency_rates.items()}
    rate = currency.map(rates).astype("float64").where(currency != expected)
    converted = rate.notna() & amount.notna()
    if converted.any():
        counts = currency[converted].value_counts()
        report.formats["currency_rates"] = (
            ", ".join(f"{k} {n:,} rows x {rates[str(k)]:g}" for k, n in counts.items())
            + f" into {expected}"
        )
    check.flag(
        currency.notna() & (currency != expected) & rate.isna(), f"currency is not {expected}"
    )
    return amount.where(~converted, (amount * rate).round(6)), rate.where(converted)


def table_currency(parts: list[Table]) -> tuple[str | None, str | None]:
    """One currency per table, as per file (:func:`check_currency`): when the files' amounts
    are kept in different currencies, the one of most rows (the rows of the others are
    quarantined) and a warning with each file's; (None, None) otherwise."""
    rows: Counter[str] = Counter()
    for part in parts:
        if part.currency:
            rows[part.currency] += len(part.accepted)
    if len(rows) < 2:
        return None, None
    kept = rows.most_common(1)[0][0]
    each = ", ".join(
        f"{Path(p.report.source_file).name} {p.currency} {len(p.accepted):,}"
        for p in parts
        if p.currency
    )
    return kept, f"amounts in several currencies across files ({each}); kept {kept}, " + (
        OTHER_CURRENCIES
    )


#: An unmarked file's median amount this many times the marked files' (or its inverse) is
#: taken for money in another currency: the dong or the rupiah beside the baht are 100-1,000x
#: apart, a shop's online orders and its till's tickets in one currency 15x.
UNMARKED_RATIO = 50.0


def unmarked_files(parts: list[Table]) -> str | None:
    """A warning naming the files whose amounts carry no currency (no mark, no column, no
    ``currency:``) beside files that do, when their median amount is far from those files'
    (a Lazada export in baht beside Shopee's ``1.234.000 ₫``: added as dong, silently)."""
    marked = [p for p in parts if p.currency and len(p.accepted)]
    if not marked:
        return None
    known = pd.concat([p.accepted["amount"] for p in marked]).abs().median()
    far = []
    for part in parts:
        if part.currency or not len(part.accepted) or not known > 0:
            continue
        median = float(part.accepted["amount"].abs().median())
        if median > 0 and max(median / known, known / median) >= UNMARKED_RATIO:
            far.append(f"{Path(part.report.source_file).name} (median {median:,.2f})")
    if not far:
        return None
    currency = "/".join(sorted({str(p.currency) for p in marked}))
    return (
        f"{', '.join(far)} carry no currency, beside files in {currency} (median "
        f"{known:,.2f}): their amounts were read as {currency}; if they are in another "
        "currency, give it in the map file (files: {<file>: {currency: THB}}) or "
        "currency_rates"
    )
