"""Lines around a report's table: a sheet title saved above the header (:func:`title_rows`) and
a totals or copyright footer below the last row (:func:`footer_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence


def title_rows(records: Sequence[list[str]]) -> int:
    """Leading lines of one value each before a header of several (a sheet title saved with the
    data)."""
    n = 0
    while n < min(len(records) - 2, 5) and sum(1 for f in records[n] if f.strip()) == 1:
        n += 1
    header = records[n] if n < len(records) else []
    return n if n and sum(1 for f in header if f.strip()) >= 3 else 0


#: First cells of a report's totals line ("Total,,,1359123,,8471629.46"), lower case.
TOTALS_WORDS = frozenset(
    {
        "total",
        "totals",
        "grand total",
        "subtotal",
        "sub-total",
        "sum",
        "summe",
        "gesamt",
        "totaal",
        "合计",
        "总计",
        "小计",
    }
)


def footer_rows(body: Sequence[list[str]], width: int) -> int:
    """Trailing lines of one value each (a report's totals/copyright footer, as Salesforce
    writes), or whose first cell is a totals word (a spreadsheet's totals row)."""
    if width < 3:
        return 0

    def is_footer(fields: list[str]) -> bool:
        if len(fields) < width and sum(1 for f in fields if f.strip()) == 1:
            return True
        return bool(fields) and fields[0].strip().rstrip(":").lower() in TOTALS_WORDS

    n = 0
    while n < len(body) - 1 and is_footer(body[-1 - n]):
        n += 1
    return n
