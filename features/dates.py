"""Dates as exported: ISO 8601, day/month order, Chinese forms, month names, Excel serials, epochs.

Each value is matched against a few shapes (year first ``2024-03-05``, ``2024/03/05 14:02``,
``2024年3月5日 14时02分``; day/month first ``05/03/2024``, ``3/5/2024, 2:02 PM``, ``05.03.24``;
month names ``05-Mar-2024``, ``Mar 5, 2024``; compact ``20240305``; Excel serial days ``45356.58``;
Unix epoch seconds or milliseconds; Thai dates, whose years are Buddhist-era ``05/03/2567`` and
whose months may be Thai ``5 มี.ค. 2567``, in the Common Era). Times are stored naive, as the
wall clock of the business's zone (``--timezone``; UTC without one): times with an offset
(``Z``, ``+0100``, ``+01:00``) are converted into it. Whether ``05/03/2024`` is 5 March or 3
May is decided once per file from the values that tell (a first part above 12 means day first);
when none tells, the choice is reported as a guess.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.mapping import IngestError
from features.numbers import ARABIC_DIGITS

#: The mean length of a Gregorian year in days (the period of annual seasonality).
YEAR_DAYS = 365.2425


#: On or after this, a date is the "no end" placeholder (SQL's 9999-12-31), a day early for
#: time zones; nothing converts it to UTC (a day later would be year 10000).
LAST_DAY = pd.Timestamp("9999-12-30")
#: Before this, a date is a placeholder for a missing one (Excel's day 0 and 1, 0001-01-01):
#: nothing converts it into a zone (0001-01-01 UTC would be year 0 in New York).
FIRST_DAY = pd.Timestamp("1900-01-02")


def placeholder_dates(stamps: pd.Series) -> tuple[pd.Series, str]:
    """Where ``stamps`` are what exporting systems write for a missing date, and the reason: on
    or before 1900-01-01 (Excel's day 0 and 1, SQL Server's 1753-01-01, 0001-01-01), on
    1970-01-01, a day either side for time zones (the Unix epoch, a date stored as 0), or on
    9999-12-31 (SQL's "no end")."""
    early = stamps < FIRST_DAY
    epoch = (stamps >= pd.Timestamp("1969-12-31")) & (stamps < pd.Timestamp("1970-01-03"))
    placeholder = (early | epoch | (stamps >= LAST_DAY)).fillna(False).astype(bool)
    said = (
        "a placeholder for a missing date (on or before 1900-01-01, the Unix epoch 1970-01-01, "
        "or 9999-12-31)"
    )
    hijri = stamps.dt.year.between(*HIJRI_YEARS).fillna(False)
    if hijri.any():  # a Saudi POS's dates: 1444/02/13 is 2022-09-09, no placeholder
        year = int(stamps[hijri].dt.year.mode().iloc[0])
        common = int(621.5643 + 0.970229 * year - 0.5)  # the Common Era year AH ``year`` began
        said = (
            f"a Hijri (AH) year such as {year} (AH {year} is {common}-{common + 1}: convert the "
            f"dates to the Gregorian calendar before ingesting), or {said}"
        )
    return placeholder, said


#: Years of the Islamic (Hijri) calendar in recent exports (AH 1444 is 2022-2023 CE): a date
#: in these years is one not converted, not a placeholder.
HIJRI_YEARS = (1300, 1500)


#: Before and after noon: English, Chinese, Arabic (ص and م, short for صباحاً and مساءً: a Gulf
#: shop's ``02:56 م``) and Korean (오전, 오후).
ARABIC_AM = ("صباحاً", "صباحا", "ص")
ARABIC_PM = ("مساءً", "مساء", "م")
_AMPM = (
    r"AM|PM|am|pm|a\.m\.|p\.m\.|上午|下午|晚上|凌晨|早上|中午|"
    + "|".join((*ARABIC_AM, *ARABIC_PM))
    + "|오전|오후"
)
_TIME = (
    rf"(?:,?(?:\s+|T|\s*(?={_AMPM}))(?:(?P<ampm1>{_AMPM})\s*)?(?P<H>\d{{1,2}})"
    # 14:02, 14时02分, 9时5分 (Chinese minutes and seconds need no leading zero), 14时 / 14点
    r"(?::(?P<M>\d{2})|[时点](?:(?P<Mzh>\d{1,2})(?!\d))?)"
    r"(?:(?::|(?<=\d)分)(?P<S>\d{2}|(?<=分)\d(?!\d))(?:[.,](?P<frac>\d{1,9}))?秒?)?分?"
    rf"\s*(?P<ampm2>{_AMPM})?)?"
)
#: Zone abbreviations an export writes after a time, as minutes east of UTC: only those that
#: name one offset (not CST, China or US Central; not IST, India, Ireland or Israel).
TZ_ABBREVIATIONS = {
    "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120, "EET": 120, "EEST": 180,
    "MSK": 180, "SGT": 480, "HKT": 480, "AWST": 480, "JST": 540, "KST": 540, "ACST": 570,
    "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780, "HST": -600,
    "AKST": -540, "AKDT": -480, "PST": -480, "PDT": -420, "MST": -420, "MDT": -360,
    "CDT": -300, "EST": -300, "EDT": -240,
}  # fmt: skip
_ABBREVIATIONS = "|".join(sorted(TZ_ABBREVIATIONS, key=len, reverse=True))
#: A column name's trailing zone (Stripe's ``Created (UTC)``, ``Time (UTC+8)``, ``Date
#: (GMT-05:00)``, ``Date (PST)``): the zone its times are written in.
ZONE_SUFFIX = re.compile(
    rf"\(\s*(?P<zone>(?:UTC|GMT)(?:\s*[+-]\d{{1,2}}(?::?\d{{2}})?)?|{_ABBREVIATIONS})\s*\)\s*$",
    re.IGNORECASE,
)
_TZ = (
    r"\s*(?P<tz>Z|(?:UTC|GMT)\s*[+-]\d{1,2}(?::?\d{2})?|UTC|GMT|[+-]\d{2}(?::?\d{2})?"
    rf"|{_ABBREVIATIONS})?"
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
SHAPES = {
    "ymd": (
        rf"^(?P<y>\d{{4}})\s*[-/.年년]\s*(?P<m>\d{{1,2}})\s*[-/.月월]\s*(?P<d>\d{{1,2}})\s*[日일.]?"
        rf"{_TIME}{_TZ}$"
    ),
    "compact": r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
    "dmy_or_mdy": (
        rf"^(?P<a>\d{{1,2}})[-/.](?P<b>\d{{1,2}})[-/.](?P<y>\d{{4}}|\d{{2}})"
        rf"{_TIME}{_TZ}$"
    ),
    "d_mon_y": (
        rf"^(?P<d>\d{{1,2}})[-\s.]?(?P<mon>[A-Za-z]{{3,9}})\.?[-\s.,]*(?P<y>\d{{4}}|\d{{2}})"
        rf"{_TIME}{_TZ}$"
    ),
    "mon_d_y": (  # Mar 5, 2024; eBay's Mar-04-25
        rf"^(?P<mon>[A-Za-z]{{3,9}})\.?(?:\s+|-)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+|-)"
        rf"(?P<y>\d{{4}}|\d{{2}}){_TIME}{_TZ}$"
    ),
    "number": r"^(?P<num>\d{5,19}(?:\.\d+)?)$",
}
DESCRIPTIONS = {
    "ymd": "year-month-day (ISO 8601 or yyyy/mm/dd, yyyy年m月d日, yyyy년 m월 d일)",
    "compact": "yyyymmdd",
    "dmy": "dd/mm/yyyy",
    "mdy": "mm/dd/yyyy",
    "d_mon_y": "dd-Mon-yyyy",
    "mon_d_y": "Mon dd, yyyy (or Mon-dd-yy)",
    "excel": "Excel serial days",
    "epoch_s": "Unix seconds",
    "epoch_ms": "Unix milliseconds",
    "epoch_us": "Unix microseconds",
    "epoch_ns": "Unix nanoseconds",
    "strptime": "the given --date-format",
}
EXCEL_ORIGIN = pd.Timestamp("1899-12-30")
#: Labels of numbers read as Unix epochs (UTC by their own mark), seconds to nanoseconds.
EPOCHS = ("epoch_s", "epoch_ms", "epoch_us", "epoch_ns")


@dataclass
class DateOrder:
    """Day/month order of ``a/b/yyyy`` values in one file, and how it was chosen."""

    day_first: bool
    how: str
    warning: str | None = None

    @property
    def told(self) -> bool:
        """The values told the order (or it was forced): not a guess, not moot."""
        return self.how.startswith(("detected", "forced"))

    def described(self, formats: str) -> str:
        """``formats`` with how the order was chosen, where it mattered."""
        return formats if self.how == "not needed" else f"{formats} [day/month order {self.how}]"


def european_file(decimal: str, sep: str | None) -> bool:
    """A decimal-comma or semicolon file: where an undecided ``a/b/yyyy`` is read day first."""
    return decimal == "," or sep == ";"


#: Year-month-day dates and times as databases and most exports write them, without an offset:
#: parsed by pandas' ISO 8601 parser in C rather than shape by shape (10x faster at a million
#: distinct times); anything else (an offset, a comma fraction, a leap second, ``2024-1-5``)
#: takes the shapes. Fractions to microseconds only: the parser would switch to nanoseconds,
#: which cannot hold a 0001-01-01 placeholder.
_ISO = (
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?$"
)


def _iso(values: pd.Series) -> np.ndarray:
    """Which of ``values`` are plain ISO dates or date-times (:data:`_ISO`), by Arrow's regex
    engine over the whole column at once."""
    import pyarrow.compute as pc

    return np.asarray(pc.match_substring_regex(_arrow(values), _ISO).fill_null(False), dtype=bool)


#: ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (``-`` or ``.`` too), optionally with ``HH:MM[:SS]`` after a
#: space or ``T``: the plain part of the ``dmy_or_mdy`` shape, cut by Arrow's regex engine (RE2,
#: in C++) instead of pandas' per-value ``str.extract``; AM/PM, offsets and fractions take the
#: shape.
_DAY_MONTH = (
    r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)


def _day_month(values: pd.Series) -> tuple[np.ndarray, pd.DataFrame]:
    """Which of ``values`` are plain day/month dates (:data:`_DAY_MONTH`), and their parts as
    ``_extract`` gives them for the ``dmy_or_mdy`` shape (absent parts missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _arrow(values)
    hit = np.asarray(pc.match_substring_regex(text, _DAY_MONTH).fill_null(False), dtype=bool)
    if not hit.any():
        return hit, pd.DataFrame()
    parts = pc.extract_regex(text.filter(pa.array(hit)), _DAY_MONTH)
    found = {}
    for name in "abyHMS":
        part = parts.field(name)
        absent = pc.equal(part, "")  # an optional part that is absent: missing
        found[name] = pd.array(pc.if_else(absent, pa.scalar(None, part.type), part), "string")
    return hit, pd.DataFrame(found, index=values.index[hit])


def _arrow(values: pd.Series):
    import pyarrow as pa

    if isinstance(values.array, pd.arrays.ArrowStringArray):  # no round trip through Python
        return pa.array(values.array).cast(pa.string())
    return pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.string())


#: A plain number no other shape reads (not ``compact``'s eight digits): the ``number`` shape,
#: found by Arrow's regex engine before the others' per-value patterns are tried (an analytics
#: export's distinct Unix milliseconds, 730,785 of them, spent 29 of a 42 s ingest there).
_PLAIN_NUMBER = r"^(?:\d{5,7}|\d{9,19})(?:\.\d+)?$"


def _extract(values: pd.Series) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    import pyarrow.compute as pc

    text = values.str.strip()
    kind = pd.Series(pd.NA, index=values.index, dtype="string")
    parts: dict[str, pd.DataFrame] = {}
    number = pc.match_substring_regex(_arrow(text), _PLAIN_NUMBER).fill_null(False)
    number = np.asarray(number, dtype=bool)
    if number.any():
        parts["number"] = pd.DataFrame({"num": text[number]}, dtype="string")
        kind[number] = "number"
    for name, pattern in SHAPES.items():
        todo = text[kind.isna() & text.notna()]
        if todo.empty:
            continue
        found = todo.str.extract(pattern)
        hit = found.notna().any(axis=1)
        if name == "number":
            hit &= found["num"].notna()
        if hit.any():
            parts[name] = pd.concat([parts[name], found[hit]]) if name in parts else found[hit]
            kind.loc[hit[hit].index] = name
    return kind, parts


def detect_order(columns: list[pd.Series], order: str | None, european: bool) -> DateOrder:
    """Day/month order for a file: forced (``dmy``/``mdy``), told by the values, or a reported
    guess."""
    if order is not None:
        if order not in ("dmy", "mdy"):
            raise IngestError(f"--date-order {order!r}: expected dmy or mdy")
        return DateOrder(order == "dmy", "forced")
    day_votes = month_votes = 0
    example = None
    for column in columns:
        for distinct in _blocks(_folded(pd.Series(column.dropna().unique(), dtype="string"))):
            plain, found = _day_month(distinct)
            _, parts = _extract(distinct[~_iso(distinct) & ~plain])  # an ISO date has its order
            firsts = []
            for ab in (found, parts.get("dmy_or_mdy")):
                if ab is None or ab.empty:
                    continue
                a, b = ab["a"].astype(int), ab["b"].astype(int)
                day_votes += int((a > 12).sum())
                month_votes += int((b > 12).sum())
                firsts.append(ab.index[0])
            if example is None and firsts:  # the first such value, whichever path read it
                example = str(distinct.loc[min(firsts)])
    if day_votes or month_votes:
        day_first = day_votes >= month_votes
        place = "first" if day_first else "second"  # the part above 12 is the day either way
        how = (
            f"detected: {max(day_votes, month_votes):,} distinct values have a day part above 12, "
            f"{place}"
        )
        if day_votes and month_votes:
            how += f"; {min(day_votes, month_votes):,} contradict it and will not parse"
        return DateOrder(day_first, how)
    if example is None:
        return DateOrder(european, "not needed")
    label = "dd/mm/yyyy" if european else "mm/dd/yyyy"
    return DateOrder(
        european,
        "assumed",
        warning=(
            f"dates like {example!r} fit both dd/mm/yyyy and mm/dd/yyyy; read as {label} "
            f"({'decimal-comma/semicolon file' if european else 'default'}); pass --date-order dmy "
            "or mdy to force"
        ),
    )


def parse_dates(
    values: pd.Series,
    order: DateOrder,
    date_format: str | None = None,
    timezone: str | None = None,
    business_zone: str | None = None,
) -> tuple[pd.Series, str]:
    """Parse one text date column to naive ``datetime64[us]`` wall-clock times of the
    business's zone (NaT where unparsable) and describe it.

    ``business_zone`` (an IANA name such as ``Asia/Shanghai``; default ``timezone``, else UTC)
    is the zone whose days the data is in. Times written without an offset are ``timezone``'s
    (default: the business's, kept as written); times with an offset (``+08:00``, ``Z``), Unix
    epochs and times in a column whose name says its zone (``Created (UTC)``) are instants,
    converted into the business zone. A date without a time is its calendar day in any zone.
    Each distinct text is parsed once (exports repeat dates a lot).
    """
    codes, uniques = pd.factorize(values)
    distinct = _folded(pd.Series(uniques, dtype="string", name=values.name))
    rows = np.bincount(codes[codes >= 0], minlength=len(distinct))  # per distinct value
    distinct, thai = _thai_calendar(distinct)
    stamps, described, marked = _parse_distinct(distinct, order, date_format)
    if thai:
        described += f"; {thai}"
    business = business_zone or timezone or "UTC"
    written = timezone or business
    into = "" if _is_utc(business) else f", converted to {business}"
    zone = ZONE_SUFFIX.search(str(values.name))
    instants = marked.to_numpy(dtype=bool) & stamps.notna().to_numpy()  # naive UTC for now
    said_marked = instants.any()
    if zone is not None or written.upper() != business.upper():
        timed = _has_time(distinct)
        if _days_at_midnight(stamps, marked, timed):
            timed = np.zeros(len(distinct), dtype=bool)
            described += "; every time is midnight (00:00): read as days"
        if zone is not None and not timed.any():  # days only: the name's zone moves none
            described += f"; dates without a time, each its calendar day ({values.name!r})"
        elif zone is not None:
            stamps, said = _from_named_zone(stamps, marked | ~timed, zone["zone"])
            described += f"; times without an offset read as {said}, as {values.name!r} says"
        else:
            # a date without a time is a calendar day, not local midnight: read as 2023-05-31
            # 22:00 UTC, a Berlin signup of 01.06.2023 moved to the day before
            stamps, skipped, repeated = _from_local(stamps, marked | ~timed, written)
            described += (
                f"; times without an offset read as {written} (dates without a time as the day)"
            )
            described += _rows_at(
                rows,
                (skipped, "in the hour a clock change skips (read as the time after it)"),
                (
                    repeated,
                    "in the hour a clock change repeats (read as standard time, the second pass)",
                ),
            )
        described += into if timed.any() or zone is None else ""
        instants |= timed
    elif not _is_utc(business) and (stamps.notna().to_numpy() & ~instants).any():
        described += f"; times without an offset read as {business} (kept as written)"
    if not _is_utc(business) and _days_at_midnight_utc(stamps, marked):
        instants &= ~marked.to_numpy(dtype=bool)
        said_marked = False
        described += "; every time with an offset is midnight UTC: read as days"
    if not _is_utc(business):
        stamps = _into_zone(stamps, instants, business)
        if said_marked:
            described += f"; times with an offset (or in Unix time) converted to {business}"
        timed_at = _has_time(distinct) | marked.to_numpy(dtype=bool)
        wall = pd.Series(timed_at, index=stamps.index) & stamps.notna() & (stamps < LAST_DAY)
        skipped, repeated = _clock_change_times(stamps, wall, business)
        described += _rows_at(
            rows,
            (repeated, f"in the hour {business}'s clock change repeats (order not kept)"),
            (skipped, f"at a time {business}'s clock change skips (kept as written)"),
        )
    elif timezone is None and said_marked:
        described += _business_offsets(distinct[instants])
    taken = (
        stamps.to_numpy()[np.where(codes >= 0, codes, 0)]
        if len(stamps)
        else np.array([], "datetime64[us]")
    )
    result = pd.Series(taken, index=values.index, dtype="datetime64[us]").where(codes >= 0)
    return result.astype("datetime64[us]"), described


#: Thai month names, short (``มี.ค.``) and full (``มีนาคม``), as the English abbreviations.
THAI_MONTHS = dict(
    zip(
        "ม.ค. ก.พ. มี.ค. เม.ย. พ.ค. มิ.ย. ก.ค. ส.ค. ก.ย. ต.ค. พ.ย. ธ.ค.".split()
        + "มกราคม กุมภาพันธ์ มีนาคม เมษายน พฤษภาคม มิถุนายน กรกฎาคม สิงหาคม กันยายน ตุลาคม "
        "พฤศจิกายน ธันวาคม".split(),
        [*_MONTHS, *_MONTHS],
        strict=True,
    )
)
#: A Buddhist-era year (Thailand's calendar: 2567 is 2024): no CRM date lies in these years.
#: Not four digits of a fraction of a second (``14:02:03.2489``).
BUDDHIST_YEAR = r"(?<!\d)(?<!:\d\d\.)2[4-6]\d\d(?!\d)"
#: A year of the Common Era in a date (1900-2099).
COMMON_YEAR = r"(?<!\d)(?<!:\d\d\.)(?:19|20)\d\d(?!\d)"
BUDDHIST_OFFSET = 543
#: What each year pattern needs, without its look-arounds (which Arrow's regex engine lacks): the
#: values only Python's engine must then read. A digit of Python's (any script) is an ASCII one or
#: no ASCII character at all.
_DIGIT = r"[0-9\x{80}-\x{10FFFF}]"
_BUDDHIST_NEEDS = rf"2[4-6]{_DIGIT}{{2}}"
_COMMON_NEEDS = rf"(?:19|20){_DIGIT}{{2}}"


def _thai_calendar(values: pd.Series) -> tuple[pd.Series, str | None]:
    """``values`` with Thai month names in English and Buddhist-era years (``03/06/2567``, ``3
    มิ.ย. 2567``) in the Common Era (``03/06/2024``) where they outnumber Common-Era years, and
    what was read so (None: nothing)."""
    months = "|".join(re.escape(m) for m in sorted(THAI_MONTHS, key=len, reverse=True))
    thai = values.str.contains(months, regex=True).fillna(False).to_numpy(dtype=bool)
    if thai.any():
        named = values[thai].str.replace(
            months, lambda m: f" {THAI_MONTHS[m.group(0)]} ", regex=True
        )
        values = values.mask(thai, named.str.replace(r"\s+", " ", regex=True).str.strip())
    era = _contains(values, BUDDHIST_YEAR, _BUDDHIST_NEEDS)
    if not era.any() or era.sum() <= _contains(values, COMMON_YEAR, _COMMON_NEEDS).sum():
        # a Common-Era column: a 2502 is a typo, dated in the future
        return values, "Thai month names read" if thai.any() else None
    converted = values[era].str.replace(
        BUDDHIST_YEAR, lambda m: str(int(m.group(0)) - BUDDHIST_OFFSET), regex=True
    )
    said = (
        f"Buddhist-era years read as the Common Era (2567 = 2024): {int(era.sum()):,} distinct "
        "values" + ("; Thai month names read" if thai.any() else "")
    )
    return values.mask(era, converted), said


def _contains(values: pd.Series, pattern: str, needs: str) -> np.ndarray:
    """Which ``values`` hold ``pattern`` (Python's regex engine), tried only on those Arrow's
    engine finds holding ``needs`` (all it requires, without its look-arounds): at a million
    distinct times, Python's engine on each was 2 of a 2.3 s date column."""
    import pyarrow.compute as pc

    hit = np.asarray(pc.match_substring_regex(_arrow(values), needs).fill_null(False), dtype=bool)
    if hit.any():
        hit[hit] = values[hit].str.contains(pattern, regex=True).fillna(False).to_numpy(bool)
    return hit


def _folded(values: pd.Series) -> pd.Series:
    """``values`` with full-width forms folded (NFKC: ``２０２５/１２/２５`` is 2025/12/25) and
    Arabic-Indic digits as ASCII ones (``١٤٤٤/٠٢/١٣``), as :mod:`features.numbers` folds amounts;
    ASCII values, nearly all, are left as they are."""
    wide = ~values.str.isascii().fillna(True).astype(bool)
    if not wide.any():
        return values
    return values.where(~wide, values[wide].str.normalize("NFKC").str.translate(ARABIC_DIGITS))


def _has_time(values: pd.Series) -> np.ndarray:
    """Which texts hold a time of day (``14:02``, ``14时``, ``下午2点``, an Excel day's fraction),
    not a date alone."""
    clock = values.str.contains(
        r"\d[:时点]|[时点]\d|上午|下午|晚上|凌晨|早上|中午|오전|오후", regex=True
    )
    fraction = values.str.fullmatch(r"\s*\d{5}\.\d*[1-9]\d*\s*")
    return (clock.fillna(False) | fraction.fillna(False)).to_numpy(dtype=bool)


def _days_at_midnight(stamps: pd.Series, marked: pd.Series, timed: np.ndarray) -> bool:
    """Whether the column's times of day (of values not marked UTC) are all midnight: days
    written with a time (``2024-01-05 00:00:00``, a SQL DATETIME holding a date), no instants."""
    clock = timed & ~marked.to_numpy(dtype=bool) & stamps.notna().to_numpy()
    times = stamps[clock]
    return bool(clock.any()) and bool((times == times.dt.normalize()).all())


def _days_at_midnight_utc(stamps: pd.Series, marked: pd.Series) -> bool:
    """Whether every time with an offset (or Unix time) is midnight UTC: days written as
    instants (a HubSpot date property, a time-zone-aware Parquet date column), which a zone
    behind UTC would put on the day before."""
    dated = marked.to_numpy(dtype=bool) & ((stamps >= FIRST_DAY) & (stamps < LAST_DAY)).to_numpy()
    times = stamps[dated]
    return bool(dated.any()) and bool((times == times.dt.normalize()).all())


def _from_local(
    stamps: pd.Series, marked: pd.Series, timezone: str
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Naive local times (not ``marked`` as UTC already) converted to naive UTC; a time that a
    daylight-saving change skips moves forward, an ambiguous one takes standard time. Also
    which were skipped and which repeated."""
    local = ~marked & stamps.notna() & (stamps < LAST_DAY)
    skipped, repeated = _clock_change_times(stamps, local, timezone)
    if not local.any():
        return stamps, skipped, repeated
    utc = (
        stamps[local]
        .dt.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )
    out = stamps.copy()
    out[local] = utc.astype("datetime64[us]")
    return out, skipped, repeated


def _clock_change_times(
    stamps: pd.Series, local: pd.Series, zone: str
) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``stamps`` (those ``local``, wall-clock times of ``zone``) fall in a time its
    clock changes skip, and which in an hour they repeat."""
    skipped = np.zeros(len(stamps), dtype=bool)
    repeated = np.zeros(len(stamps), dtype=bool)
    if not local.any():
        return skipped, repeated
    wall = stamps[local].dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    odd = wall.isna().to_numpy()
    if odd.any():
        gap = stamps[local][odd].dt.tz_localize(zone, ambiguous=False, nonexistent="NaT")
        where = np.flatnonzero(local.to_numpy())[odd]
        skipped[where] = gap.isna().to_numpy()
        repeated[where] = gap.notna().to_numpy()
    return skipped, repeated


def _is_utc(zone: str) -> bool:
    """Whether ``zone`` is UTC's (the stored times are then UTC, as without a zone)."""
    return zone.upper() in ("UTC", "ETC/UTC", "GMT", "ETC/GMT", "Z")


def _into_zone(stamps: pd.Series, instants: np.ndarray, zone: str) -> pd.Series:
    """``stamps`` that are ``instants`` (naive UTC) as naive wall-clock times of ``zone``; the
    others, and placeholders before :data:`FIRST_DAY` or from :data:`LAST_DAY`, as they are."""
    dated = (stamps >= FIRST_DAY) & (stamps < LAST_DAY)
    convert = instants & dated.fillna(False).to_numpy(dtype=bool)
    if not convert.any():
        return stamps
    out = stamps.copy()
    wall = stamps[convert].dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
    out[convert] = wall.astype("datetime64[us]")
    return out


#: A zone's offset written after a time, at the end of a value (``+0800``, ``-05:00``, ``CEST``).
_OFFSET_AT_END = re.compile(
    r"(?:(?:UTC|GMT)\s*)?(?P<tz>[+-]\d{1,2}(?::?\d{2})?|" + _ABBREVIATIONS + r")\s*$"
)


def _business_offsets(texts: pd.Series) -> str:
    """The dates line's hint when times with an offset, read without ``--timezone``, are all at
    one zone's offsets (one, or a winter and a summer one an hour apart) other than UTC's: they
    are stored in UTC days, so that business's early mornings or late evenings move a day."""
    import pyarrow.compute as pc

    if pc.any(pc.match_substring_regex(_arrow(texts), _PLAIN_NUMBER)).as_py():
        return ""  # Unix times are UTC's (and a million of them are not matched one by one)
    tz = texts.str.extract(_OFFSET_AT_END)["tz"]
    if tz.isna().any():  # Z, UTC, or no offset at the end
        return ""
    minutes = sorted({int(m.total_seconds() // 60) for m in _offsets(tz.str.upper())})
    if 0 in minutes or minutes[-1] - minutes[0] > 60:
        return ""
    said = " and ".join(_offset_text(m) for m in minutes)
    return (
        f"; times carry the offset {said}: stored in UTC days, so a business there has its "
        "early or late hours on another day; pass --timezone (its zone, e.g. Asia/Shanghai) to "
        "keep its days"
    )


def _rows_at(rows: np.ndarray, *said: tuple[np.ndarray, str]) -> str:
    """The dates line's counts of rows (``rows`` per distinct value) of each mask with its
    phrase (``12 rows in the hour a clock change repeats ...``), those with none left out."""
    parts = [
        f"{n:,} row{'s' if n != 1 else ''} {what}"
        for mask, what in said
        if (n := int(rows[mask].sum()))
    ]
    return f"; {', '.join(parts)}" if parts else ""


def _offset_text(minutes: int) -> str:
    """An offset of ``minutes`` east of UTC as written after a time (``+05:30``, ``-08:00``)."""
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _from_named_zone(stamps: pd.Series, marked: pd.Series, zone: str) -> tuple[pd.Series, str]:
    """Naive times (not ``marked``: an offset of their own, or a date alone) written at the
    fixed offset a column's name gives (``UTC+8``, ``PST``) as naive UTC, and that offset said
    (``UTC-08:00``)."""
    offset = _offsets(pd.Series([zone.upper().replace(" ", "")], dtype="string")).iloc[0]
    minutes = int(offset.total_seconds() // 60)
    said = f"UTC{_offset_text(minutes)}"
    local = ~marked & stamps.notna() & (stamps < LAST_DAY)
    out = stamps.copy()
    out[local] = (stamps[local] - offset).astype("datetime64[us]")
    return out, "UTC" if minutes == 0 else said


def _parse_distinct(
    values: pd.Series, order: DateOrder, date_format: str | None
) -> tuple[pd.Series, str, pd.Series]:
    """Stamps (naive), a description, and which values carried their own UTC mark."""
    if date_format:
        parsed = pd.to_datetime(
            values.str.strip(), format=date_format, errors="coerce", utc="%z" in date_format
        )
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        marked = pd.Series("%z" in date_format, index=values.index)
        return (
            parsed.astype("datetime64[us]"),
            DESCRIPTIONS["strptime"] + f" {date_format}",
            marked,
        )
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    marked = pd.Series(False, index=values.index)
    used: Counter[tuple[int, str]] = Counter()  # (shape's place in SHAPES, label): values parsed
    for block in _blocks(values):
        iso = _iso(block)
        if iso.any():
            plain = block[iso]
            stamps = pd.to_datetime(plain.to_numpy(dtype=object), format="ISO8601", errors="coerce")
            result.loc[plain.index] = np.asarray(stamps, dtype="datetime64[us]")
            used[(list(SHAPES).index("ymd"), "ymd")] += int(stamps.notna().sum())
            block = block[~iso]
        plain, found = _day_month(block)
        if plain.any():
            stamps, label = _assemble("dmy_or_mdy", found, order)
            result.loc[stamps.index] = stamps
            used[(list(SHAPES).index("dmy_or_mdy"), str(label))] += int(stamps.notna().sum())
            block = block[~plain]
        _, parts = _extract(block)
        for name, found in parts.items():
            stamps, label = _assemble(name, found, order)
            result.loc[stamps.index] = stamps
            if "tz" in found:
                marked.loc[found.index] = found["tz"].notna().to_numpy()
            elif isinstance(label, pd.Series):  # numbers: Unix epochs are UTC, Excel days are not
                marked.loc[label.index] = label.isin(EPOCHS).to_numpy()
            counts = (
                stamps.notna().groupby(label).sum()
                if isinstance(label, pd.Series)
                else {label: stamps.notna().sum()}
            )
            for lab, n in dict(counts).items():
                used[(list(SHAPES).index(name), lab)] += int(n)
    shapes = sorted(sorted(used.items()), key=lambda kv: -kv[1])  # ties: in SHAPES order
    described = ", ".join(f"{DESCRIPTIONS.get(k, k)}" for (_, k), n in shapes if n) or "none"
    return result, described, marked


#: Distinct values matched at once: the regex parts of a block are alive together.
BLOCK_VALUES = 100_000


def _blocks(values: pd.Series) -> Iterator[pd.Series]:
    """``values`` in consecutive blocks of at most ``BLOCK_VALUES`` (each value is read on its
    own, so blocks only bound the memory)."""
    for lo in range(0, len(values), BLOCK_VALUES):
        yield values.iloc[lo : lo + BLOCK_VALUES]


#: Digits that ``int64`` (and the float ``to_numeric`` may pass through) hold exactly.
_PLAIN_DIGITS = r"^[0-9]{1,15}$"


def _ints(frame: pd.DataFrame, col: str, default: int = 0) -> pd.Series:
    if col not in frame:
        return pd.Series(default, index=frame.index, dtype="int64")
    values = frame[col]
    if isinstance(values.dtype, pd.StringDtype):  # parts a regex cut: Arrow casts plain digits
        import pyarrow.compute as pc

        text = _arrow(values)
        if pc.all(pc.match_substring_regex(text, _PLAIN_DIGITS)).as_py() is not False:
            got = pc.cast(text, "int64").fill_null(default).to_numpy(zero_copy_only=False)
            return pd.Series(got, index=frame.index, name=values.name, dtype="int64")
    return pd.to_numeric(values, errors="coerce").fillna(default).astype("int64")


def _assemble(
    name: str, found: pd.DataFrame, order: DateOrder
) -> tuple[pd.Series, str | pd.Series]:
    if name == "number":
        return _numeric_dates(found["num"].astype("float64"))
    label: str = name
    if name == "dmy_or_mdy":
        a, b = _ints(found, "a"), _ints(found, "b")
        day, month = (a, b) if order.day_first else (b, a)
        label = "dmy" if order.day_first else "mdy"
    elif name in ("d_mon_y", "mon_d_y"):
        day = _ints(found, "d")
        month = found["mon"].str[:3].str.lower().map(_MONTHS)
        month = pd.to_numeric(month, errors="coerce").fillna(0).astype("int64")
    else:
        day, month = _ints(found, "d"), _ints(found, "m")
    year = _ints(found, "y")
    # a century for two-digit years only: 0001-01-01 (a placeholder) is not 2001
    short = found["y"].str.len().le(2).fillna(False)  # every date shape has a year
    year = year.where(~short, np.where(year < 70, 2000 + year, 1900 + year))
    hour = _ints(found, "H")
    minute = _ints(found, "M") + _ints(found, "Mzh")  # one of the two is there, or neither
    ampm = found.get("ampm1", pd.Series(dtype="string")).fillna(
        found.get("ampm2", pd.Series(dtype="string"))
    )
    ampm = ampm.reindex(found.index).str.lower()
    pm = ampm.isin(["pm", "p.m.", "下午", "晚上", *ARABIC_PM, "오후"]) & (hour < 12)
    am12 = ampm.isin(["am", "a.m.", "上午", "凌晨", "早上", *ARABIC_AM, "오전"]) & (hour == 12)
    hour = hour + np.where(pm.fillna(False), 12, 0) - np.where(am12.fillna(False), 12, 0)
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (hour <= 23) & (minute <= 59)
    assembled = pd.DataFrame(
        {
            "year": year.where(ok, 2000),
            "month": month.where(ok, 1),
            "day": day.where(ok, 1),
            "hour": hour.where(ok, 0),
            "minute": minute.where(ok, 0),
            "second": _ints(found, "S").clip(upper=59).where(ok, 0),
        }
    )
    stamps = pd.to_datetime(assembled, errors="coerce").astype("datetime64[us]")
    stamps = stamps.where(ok)
    if "frac" in found:
        # whole microseconds from the digits (0.000065 s as a float is 64.99... us): in
        # microseconds, since nanoseconds would put a 9999-12-31 placeholder out of range
        micros = pd.to_numeric(found["frac"].fillna("0").str.ljust(6, "0").str[:6])
        stamps = stamps + pd.to_timedelta(micros.astype("int64"), unit="us").astype(
            "timedelta64[us]"
        )
    if "tz" in found:
        stamps = stamps.where(stamps >= LAST_DAY, stamps - _offsets(found["tz"]))
    return stamps.astype("datetime64[us]"), label


def _offsets(tz: pd.Series) -> pd.Series:
    """UTC offsets of ``Z``/``+0100``/``-05:00``/``GMT+2``/``CEST`` marks as timedeltas (zero
    when absent)."""
    m = tz.str.extract(r"(?P<s>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")
    minutes = pd.to_numeric(m["h"], errors="coerce").fillna(0) * 60 + pd.to_numeric(
        m["m"], errors="coerce"
    ).fillna(0)
    minutes = minutes.where(m["s"] != "-", -minutes)
    minutes = minutes + pd.to_numeric(tz.map(TZ_ABBREVIATIONS), errors="coerce").fillna(0)
    return pd.to_timedelta(minutes, unit="min")


def _numeric_dates(num: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Excel serial days (1954..2119), Unix seconds (10 digits), milliseconds (13), microseconds
    (16: GA4's event_timestamp) or nanoseconds (19)."""
    excel = (num >= 20_000) & (num < 80_000)
    seconds = (num >= 1e9) & (num < 1e10)
    millis = (num >= 1e12) & (num < 1e13)
    micros = (num >= 1e15) & (num < 1e16)
    nanos = (num >= 1e18) & (num < 1e19)
    stamps = pd.Series(pd.NaT, index=num.index, dtype="datetime64[us]")
    # whole seconds (a serial's fraction of a day is a time): stored in microseconds losslessly
    stamps[excel] = EXCEL_ORIGIN + pd.to_timedelta((num[excel] * 86_400).round(), unit="s")
    # rounded before they are stored: a fraction past microseconds (time.time()'s
    # 1709647331.1234567) is nanoseconds, which a microsecond column refuses (TypeError)
    stamps[seconds] = pd.to_datetime(num[seconds], unit="s").dt.round("s")
    stamps[millis] = pd.to_datetime(num[millis], unit="ms").dt.round("s")
    stamps[micros] = pd.to_datetime(num[micros], unit="us").dt.round("s")
    stamps[nanos] = pd.to_datetime(num[nanos], unit="ns").dt.round("s")
    label = pd.Series(
        np.select([excel, seconds, millis, micros, nanos], ["excel", *EPOCHS], "number"),
        index=num.index,
    )
    return stamps.dt.round("s").astype("datetime64[us]"), label
