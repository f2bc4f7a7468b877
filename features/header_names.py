"""Header names of an export: cleaned (:func:`clean_header`), made unique as pandas reads them
(:func:`unique_names`), and folded for map-file lookups (:func:`fold_name`).
"""

from __future__ import annotations

import re

from features.values import fold_case

#: ``frame.attrs`` key: the header names that occur more than once.
REPEATED = "repeated_header_names"


def clean_header(name: str) -> str:
    """A header name without a byte-order mark, no-break spaces or outer spaces."""
    return name.replace("\ufeff", "").replace("\u00a0", " ").strip()


def fold_name(name: str) -> str:
    """Loose form of a column name: width, case (Turkish ``İ``/``ı``, Russian ``ё`` as
    :func:`features.values.fold_case`) and spacing folded (for map-file lookups)."""
    return re.sub(r"\s+", " ", fold_case(name)).strip()


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique as pandas reads them (``name``, ``name.1``; a blank one
    ``column_<i>``)."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out
