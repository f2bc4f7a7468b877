"""The column separator of a text export: ``--sep`` names (:func:`normalise_sep`), and the
separator sniffed with quotes respected when none is given (:func:`sniff_separator`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

import numpy as np

from features.mapping import IngestError
from features.title_footer import title_rows

#: Separators the sniffer tries (a whitespace-aligned file is the fallback).
SEPARATORS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
#: Names accepted by ``--sep`` besides the characters themselves.
SEP_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    "whitespace": WHITESPACE,
    "space": WHITESPACE,
}


SNIFF_LINES = 200


def normalise_sep(sep: str | None) -> str | None:
    """``--sep`` value to a separator character (or ``whitespace``); ``None`` means sniff."""
    if sep is None or sep == "" or sep == "auto":
        return None
    sep = SEP_NAMES.get(sep.lower(), sep)
    if sep != WHITESPACE and len(sep) != 1:
        raise IngestError(f"--sep {sep!r}: expected one character or one of {sorted(SEP_NAMES)}")
    return sep


def split_fields(sep: str, lines: Iterable[str]):
    if sep == WHITESPACE:
        return ([*line.split()] for line in lines)
    return csv.reader(lines, delimiter=sep, quotechar='"', doublequote=True)


def sniff_separator(lines: Sequence[str]) -> str | None:
    """The separator whose quoted-aware split gives the header's field count on most sample rows."""
    sample = [line for line in lines[:SNIFF_LINES] if line.strip()]
    if not sample:
        return None
    best, best_score = None, (0.0, False, 0)
    for sep in (*SEPARATORS, WHITESPACE):
        try:
            rows = [r for r in split_fields(sep, sample) if r]
        except csv.Error:
            continue
        rows = rows[title_rows(rows) :]
        if not rows or len(rows[0]) < 2:
            continue
        header, data = len(rows[0]), rows[1:-1] if len(rows) > 2 else rows[1:]
        share = float(np.mean([len(r) == header for r in data])) if data else 1.0
        # whitespace is the fallback: on an equal share a delimiter wins, also with fewer
        # fields ("Account ID,Created Date" / "id,3/5/2024 2:22 PM" split on spaces into 3)
        score = (round(share, 2), sep != WHITESPACE, header)
        if score > best_score:
            best, best_score = sep, score
    return best if best_score[0] >= 0.5 else None


def separator_name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", WHITESPACE: "whitespace"}.get(
        sep, repr(sep)
    )
