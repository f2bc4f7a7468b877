"""Amounts as exported: decimal comma or point, thousands separators, currency marks, accounting
negatives.

One number format holds for a whole file (a file comes from one locale). It is detected from the
values when they say it unambiguously (``1.234,56``, ``12,50``, ``1,234,567``, ``1,050.00``) and
otherwise assumed and reported as a guess; ``--decimal``/``--thousands`` force it. Per value:
``$1,234.56``, ``USD 2,000.00``, ``€ 45.00``, ``￥12,800.00``, ``3,500元``, ``1.2万``, ``(25.00)``,
``25.00-``, ``1 234,56``, ``1'234.50``, ``₹1,23,456.00`` (Indian grouping), ``35,900원``,
``1 234,56 ₽``, ``455,10 TL``, ``3 815,47 zł``, ``₪276.27`` and ``362.14 ر.س`` all parse; a value
whose digit grouping contradicts the format is not a number (and its row is quarantined).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.mapping import IngestError

#: The sign the yen and the yuan share: read as CNY (the product's Chinese exports) unless the map
#: file's ``currency:`` is JPY (``parse_numbers``'s ``yen``).
YEN_SIGNS = ("¥", "￥")
#: Currency marks and the code they stand for.
CURRENCIES = {
    "$": "USD",
    "US$": "USD",
    "USD": "USD",
    "€": "EUR",
    "EUR": "EUR",
    "£": "GBP",
    "GBP": "GBP",
    **dict.fromkeys(YEN_SIGNS, "CNY"),
    "元": "CNY",
    "CNY": "CNY",
    "RMB": "CNY",
    "JPY": "JPY",
    "CHF": "CHF",
    "CAD": "CAD",
    "AUD": "AUD",
    "HKD": "HKD",
    "SGD": "SGD",
    "INR": "INR",
    "₹": "INR",
    # Japanese shops (Makeshop, Rakuten's 1,234円), Brazilian (R$ 1.234,56), Indian (Rs. 1,234.00)
    # and Swiss (Fr. 12.50) exports
    "円": "JPY",
    "R$": "BRL",
    "BRL": "BRL",
    "Rs.": "INR",
    "Rs": "INR",
    "Fr.": "CHF",
    "SFr.": "CHF",
    **{code: code for code in ("MXN", "KRW", "ZAR", "SEK", "NOK", "DKK", "PLN", "NZD", "TRY")},
    # South-East Asian marketplaces and tills (Shopee, Lazada, Tokopedia, a Thai POS): ฿1,234.00,
    # 1.234.000 ₫ (or đ, VNĐ), Rp1.234.000
    "฿": "THB",
    "THB": "THB",
    "บาท": "THB",
    "₫": "VND",
    "đ": "VND",
    "VNĐ": "VND",
    "VND": "VND",
    "Rp": "IDR",
    "Rp.": "IDR",
    "IDR": "IDR",
    # Taiwanese shops (Shopline, 91APP: NT$1,234) and the dollars of other places written with
    # their own prefix, so that a dollar not the US one is not read as USD
    "NT$": "TWD",
    "TWD": "TWD",
    "A$": "AUD",
    "AU$": "AUD",
    "HK$": "HKD",
    "S$": "SGD",
    "NZ$": "NZD",
    # Korean shops (Cafe24, SmartStore: 35,900원, ₩35,900), Russian (1C, amoCRM: 1 234,56 ₽,
    # 1 234,56 руб.), Turkish (Trendyol, ikas: 455,10 TL, ₺2.364,42), Polish (Allegro: 3 815,47
    # zł), Israeli (₪276.27, 276.27 ש"ח) and Gulf ones (Salla: 362.14 ر.س, AED 1,184.63 or
    # 1,184.63 د.إ). A mark is the whole text beside the number, so TL or р. inside a word or
    # another text is no mark.
    "₩": "KRW",
    "원": "KRW",
    "₽": "RUB",
    "руб.": "RUB",
    "руб": "RUB",
    "р.": "RUB",
    "RUB": "RUB",
    "₺": "TRY",
    "TL": "TRY",
    "zł": "PLN",
    "₪": "ILS",
    'ש"ח': "ILS",
    "ש״ח": "ILS",  # with a gershayim
    "ILS": "ILS",
    "NIS": "ILS",
    "ر.س": "SAR",
    "ریال": "SAR",  # the rial sign ﷼ as NFKC spells it (Saudi exports write it for SAR)
    "SAR": "SAR",
    "د.إ": "AED",
    "AED": "AED",
}
MULTIPLIERS = {"万": 1e4, "亿": 1e8}
#: Arabic-Indic and Persian digits (a Gulf POS's ``١٩٠٫٨٢``, its dates ``١٤٤٤/٠٢/١٣``) as ASCII.
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
#: The Arabic decimal separator and thousands separator (``١٬٢٣٤٫٥٦`` is 1,234.56).
ARABIC_SEPARATORS = str.maketrans("٫٬", ".,")
#: Currencies without a minor unit (ISO 4217 exponent 0): a billing system's ``*_in_cents``
#: column holds their whole units (Recurly's and Stripe's amounts in JPY, KRW ...).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()
)
#: Marks of money written without decimals (the yen, the won, the dong, and the rupiah, whose
#: cents are never written; ``¥``: the yen's or the yuan's, neither written with three
#: decimals): in ``1,083円`` and ``Rp150.000`` the separator groups thousands.
WHOLE_MONEY_MARKS = frozenset(
    {
        *YEN_SIGNS,
        *(m for m, code in CURRENCIES.items() if code in {*ZERO_DECIMAL_CURRENCIES, "IDR"}),
    }
)
_MARK = "|".join(re.escape(m) for m in sorted(CURRENCIES, key=len, reverse=True))
_SPACES = "[\u00a0\u202f\u2009 ]"
_PATTERN = re.compile(
    rf"^(?P<sign>[-+\u2212△▲])?\s*(?P<open>\()?\s*(?P<pre>{_MARK})?\s*(?P<sign2>[-\u2212])?\s*"
    rf"(?P<num>\d(?:[\d.,']|{_SPACES}(?=\d))*|[.,]\d+)\s*(?P<mult>[万亿])?\s*(?P<post>{_MARK})?\s*"
    r"(?P<close>\))?\s*(?P<trail>-)?$"
)
#: Minus signs: ASCII, Unicode, and the triangles of Japanese accounts (△1,234 is -1,234).
NEGATIVE_SIGNS = ["-", "\u2212", "△", "▲"]
THOUSANDS_CHOICES = {",": ",", ".": ".", "space": " ", " ": " ", "'": "'", "none": ""}


@dataclass(frozen=True)
class NumberFormat:
    """Decimal and thousands separators of a file, and how they were chosen."""

    decimal: str = "."
    thousands: str = ","
    how: str = "default"

    def describe(self) -> str:
        thousands = {"": "none", " ": "space"}.get(self.thousands, repr(self.thousands))
        return f"decimal {self.decimal!r}, thousands {thousands} ({self.how})"


def forced_format(decimal: str | None, thousands: str | None) -> NumberFormat | None:
    """The format given by ``--decimal``/``--thousands`` (``None`` when neither is given)."""
    if decimal is None and thousands is None:
        return None
    if decimal not in (None, ".", ","):
        raise IngestError(f"--decimal {decimal!r}: expected '.' or ','")
    if thousands is not None and thousands not in THOUSANDS_CHOICES:
        raise IngestError(f"--thousands {thousands!r}: expected one of {sorted(THOUSANDS_CHOICES)}")
    dec = decimal or ("," if thousands in (".",) else ".")
    tho = THOUSANDS_CHOICES[thousands] if thousands is not None else ("." if dec == "," else ",")
    if tho == dec:
        raise IngestError(
            f"--decimal {dec!r} and --thousands {thousands!r} cannot be the same character"
        )
    return NumberFormat(dec, tho, "forced")


def _split_marks(values: pd.Series) -> pd.DataFrame:
    """Sign, currency, digits and multiplier of each value (full-width forms folded first; a
    Swiss typographic apostrophe ``1’234.50`` is the ASCII one; Arabic-Indic digits and
    separators are ASCII ones)."""
    folded = values.str.normalize("NFKC").str.strip().str.replace("\u2019", "'", regex=False)
    arabic = folded.str.contains("[\u0660-\u0669\u066b\u066c\u06f0-\u06f9]", regex=True)
    if arabic.fillna(False).any():
        folded = folded.str.translate(ARABIC_DIGITS).str.translate(ARABIC_SEPARATORS)
    return folded.str.extract(_PATTERN)


def _evidence(num: str) -> str | None:
    """'.' or ',' when a digit string shows which one is its decimal separator, else None."""
    dots, commas = num.count("."), num.count(",")
    if dots and commas:
        return "." if num.rfind(".") > num.rfind(",") else ","
    for char, other in ((".", ","), (",", ".")):
        count = dots if char == "." else commas
        if not count:
            continue
        if count > 1:
            return other  # repeated: a thousands separator
        head, tail = num.split(char)
        head = re.sub(r"\D", "", head)
        if len(tail) != 3 or head in ("", "0") or len(head) > 3:
            return char
    return None


def detect_format(columns: list[pd.Series], sep: str | None) -> tuple[NumberFormat, str | None]:
    """Detect the file's number format from its number columns; returns it and a warning if
    guessed."""
    counts = pd.concat(columns).value_counts() if columns else pd.Series([], dtype="int64")
    parts = _split_marks(pd.Series(counts.index, dtype="string"))
    nums = parts["num"]
    weights = pd.Series(counts.to_numpy(), index=nums.index).groupby(nums.to_numpy()).sum()
    votes = {".": 0, ",": 0}
    ambiguous = None
    whole = parts["pre"].isin(WHOLE_MONEY_MARKS) | parts["post"].isin(WHOLE_MONEY_MARKS)
    for num, n in zip(nums[whole], counts.to_numpy()[whole.to_numpy()], strict=True):
        if _evidence(str(num)) is None and (grouping := re.search(r"[.,]", str(num))):
            votes["." if grouping.group() == "," else ","] += int(n)
    for num, n in weights.items():
        found = _evidence(str(num))
        if found is not None:
            votes[found] += int(n)
        elif ambiguous is None and re.search(r"[.,]", str(num)):
            ambiguous = str(num)
    if votes["."] or votes[","]:
        dec = "." if votes["."] >= votes[","] else ","
        minority = votes["," if dec == "." else "."]
        how = f"detected from {votes[dec]:,} values"
        if minority:
            how += f"; {minority:,} values look like the other convention and will not parse"
        thousands = "." if dec == "," else ","
        text = nums.dropna().astype(str)
        if (
            text.str.contains(_SPACES + r"\d{3}").any()
            and not text.str.contains(re.escape(thousands)).any()
        ):
            thousands = " "  # 1 435,92: groups of three by a (narrow, no-break) space
        elif (
            text.str.contains(r"'\d{3}").any() and not text.str.contains(re.escape(thousands)).any()
        ):
            thousands = "'"  # 1'234.56: Swiss groups of three
        return NumberFormat(dec, thousands, how), None
    if ambiguous is None:
        return NumberFormat(how="no separators in the values"), None
    dec = "," if sep == ";" else "."
    fmt = NumberFormat(dec, "." if dec == "," else ",", "assumed")
    warning = (
        f"numbers like {ambiguous!r} could use either convention; read with decimal {dec!r} "
        f"({'semicolon-separated file' if sep == ';' else 'default'}); pass --decimal to force"
    )
    return fmt, warning


def parse_numbers(
    values: pd.Series, fmt: NumberFormat | None = None, yen: str = "CNY"
) -> tuple[pd.Series, pd.Series]:
    """Parse text numbers; returns (floats, NaN where not a number) and the currency code per
    value (``yen``: the code of a ``¥`` mark, CNY or JPY)."""
    codes, uniques = pd.factorize(values)
    if len(uniques) == 0:  # every value null (an empty optional column)
        return (
            pd.Series(np.nan, index=values.index, dtype="float64"),
            pd.Series(pd.NA, index=values.index, dtype="string"),
        )
    parsed, currency = _parse_distinct(
        pd.Series(uniques, dtype="string"), fmt or NumberFormat(), yen
    )
    present = codes >= 0
    number = np.where(present, parsed.to_numpy(dtype="float64", na_value=np.nan)[codes], np.nan)
    money = np.where(present, currency.to_numpy(dtype=object, na_value=None)[codes], None)
    return (
        pd.Series(number, index=values.index, dtype="float64"),
        pd.Series(money, index=values.index, dtype="string"),
    )


def _parse_distinct(values: pd.Series, fmt: NumberFormat, yen: str) -> tuple[pd.Series, pd.Series]:
    parts = _split_marks(values)
    num = parts["num"].str.replace(_SPACES, " ", regex=True)
    d = re.escape(fmt.decimal)
    seps = "".join(sorted({re.escape(s) for s in (fmt.thousands, " ", "'") if s}))
    grouped = rf"\d{{1,3}}(?:[{seps}]\d{{3}})+" if seps else None
    if fmt.thousands == ",":  # Indian grouping (lakh, crore): 1,23,456.00 and 12,00,000
        grouped = rf"(?:{grouped}|\d{{1,2}}(?:,\d{{2}})+,\d{{3}})"
    plain = rf"(?:\d+|{grouped})" if grouped else r"\d+"
    valid = num.str.fullmatch(rf"{plain}(?:{d}\d*)?|{d}\d+").fillna(False).astype(bool)
    digits = num.str.replace(rf"[{seps}]", "", regex=True).str.replace(
        fmt.decimal, ".", regex=False
    )
    parsed = pd.to_numeric(digits.where(valid), errors="coerce").astype("float64")
    negative = (
        parts["sign"].isin(NEGATIVE_SIGNS)
        | parts["sign2"].notna()
        | parts["trail"].notna()
        | (parts["open"].notna() & parts["close"].notna())
    )
    unbalanced = parts["open"].notna() != parts["close"].notna()
    two_signs = (parts["sign"].notna() & parts["sign2"].notna()) | (
        parts["open"].notna() & parts["sign"].isin(NEGATIVE_SIGNS)
    )
    mult = parts["mult"].map(MULTIPLIERS).fillna(1.0).astype("float64")
    marks = {**CURRENCIES, **dict.fromkeys(YEN_SIGNS, yen)}
    pre, post = parts["pre"].map(marks), parts["post"].map(marks)
    clash = pre.notna() & post.notna() & (pre != post)
    currency = pre.fillna(post)
    bad = unbalanced.fillna(False) | two_signs.fillna(False) | clash.fillna(False)
    result = (parsed * np.where(negative.fillna(False), -1.0, 1.0) * mult).where(~bad.astype(bool))
    return result.astype("float64"), currency.astype("string")
