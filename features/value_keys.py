"""The map file's ``values:`` keys that match no value of the files they were written for.

A key is matched as :class:`features.values.ValueMapping` matches it (exactly, else folded); one
that matches nothing (a typo, a word in another case form, a status the export spells otherwise)
changes nothing, and its rows keep their built-in reading: a cancelled order counted as a sale.
A key is named once it matches no value of any file of the table, with the closest value found.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import pandas as pd

from features.values import fold

#: Distinct values of a column kept per file to suggest the closest one.
KEPT_VALUES = 500


def unmatched_keys(
    values: pd.Series, explicit: dict[str, str]
) -> tuple[frozenset[str], tuple[str, ...]]:
    """The keys of ``explicit`` that match none of ``values``, and (some of) the values."""
    seen = [str(v) for v in values.dropna().unique()]
    folded = {fold(v) for v in seen}
    exact = set(seen)
    unmatched = frozenset(k for k in explicit if k not in exact and fold(k) not in folded)
    return unmatched, tuple(seen[:KEPT_VALUES])


def unmatched_note(
    table: str, column: str, files: Iterable[tuple[frozenset[str], tuple[str, ...]]]
) -> str | None:
    """A warning naming the keys no file matched (the files that have the column), or None."""
    files = list(files)
    if not files:
        return None
    keys = frozenset.intersection(*(keys for keys, _ in files))
    if not keys:
        return None
    values = sorted({v for _, seen in files for v in seen})
    by_fold = {fold(v): v for v in values}
    said = []
    for key in sorted(keys):
        close = _closest(fold(key), list(by_fold))
        said.append(f"{key!r}" + (f" (closest: {by_fold[close]!r})" if close else ""))
    return (
        f"values: {{{column}: ...}} in the map file: {len(keys):,} key(s) match no value of "
        f"the {table} file(s): {', '.join(said[:5])}; their rows keep the built-in reading; "
        "write each key as the export writes the value"
    )


def _closest(key: str, folded: list[str]) -> str | None:
    """The shortest folded value starting with the key less its last letter (at least four
    letters: 'Storno' finds 'Storniert (Kunde)'), else the most alike by :mod:`difflib`."""
    stems = [v for v in folded if v.startswith(key[: max(4, len(key) - 1)])]
    if stems:
        return min(stems, key=len)
    close = difflib.get_close_matches(key, folded, n=1, cutoff=0.6)
    return close[0] if close else None
