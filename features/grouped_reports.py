"""Reports grouped by customer: the customer's name on a row of its own above their rows.

An accounting system's report by customer (QuickBooks' *Transaction List by Customer* and *Sales
by Customer Detail*, Xero's and Sage's alike) is no table: the first column holds the customer's
name on a group row with nothing else, their transactions follow with that column blank, and a
``Total for <name>`` row closes the group with its sum. Read as a table, every transaction has
no customer and the group rows look like customers without a date. :func:`grouped_ids` spots the
layout by its shape (most dated rows without an id, the rows with an id undated) and gives each
transaction the name of the group row above it; the group and subtotal rows are set aside as
``REPORT_ROW`` (their sums repeat the transactions). A ``Total for <name>`` row is set aside in
a table the user filled down too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.title_footer import TOTALS_WORDS

#: A subtotal row's first cell: ``Total for Acme Ltd`` (QuickBooks), ``Total of Acme``; or a
#: totals word alone (``TOTAL``, ``Subtotal:``, ``Summe``, ``合计``: ``title_footer.TOTALS_WORDS``).
SUBTOTAL_OF = re.compile(r"^\s*(?:sub-?)?totals?\s+(?:for|of)\b", re.IGNORECASE)
#: The layout is taken for grouped when at least this share of the usable dated rows has no id
#: and almost every row with an id is undated.
BLANK_SHARE = 0.5
UNDATED_SHARE = 0.95


@dataclass(frozen=True)
class GroupedIds:
    """The ids with each transaction's group name filled in, and the rows to set aside."""

    ids: pd.Series
    report_rows: np.ndarray  # bool: group and subtotal rows
    filled: int  # transactions given their group's name
    groups: int


def subtotal_rows(ids: pd.Series, dated: np.ndarray) -> np.ndarray:
    """Undated rows whose id cell is a subtotal's (``Total for Acme Ltd``)."""
    text = ids.astype("string").fillna("")
    words = text.str.strip().str.rstrip(":").str.strip().str.lower().isin(TOTALS_WORDS)
    named = text.str.match(SUBTOTAL_OF).fillna(False) | words.fillna(False)
    return ~np.asarray(dated, bool) & named.to_numpy(dtype=bool)


def grouped_ids(ids: pd.Series, dated: np.ndarray, usable: np.ndarray) -> GroupedIds | None:
    """The report's ids filled down from its group rows, or None when the rows are a table
    (``dated``: the row has a date; ``usable``: not quarantined before)."""
    dated, usable = np.asarray(dated, bool), np.asarray(usable, bool)
    text = ids.astype("string").str.strip().fillna("")
    has_id = (text != "").to_numpy(bool)
    rows = usable & dated
    if rows.sum() == 0 or (rows & ~has_id).sum() < BLANK_SHARE * rows.sum():
        return None
    named = usable & has_id
    if named.sum() == 0 or (named & ~dated).sum() < UNDATED_SHARE * named.sum():
        return None
    subtotal = subtotal_rows(text, dated)
    group = named & ~dated & ~subtotal
    if not group.any():
        return None
    # each row takes the name of the last group row above it; a subtotal row closes the group
    marks = pd.Series(None, index=range(len(text)), dtype="object")
    marks[subtotal] = ""
    marks[group] = text[group].to_numpy(dtype=object)
    current = marks.ffill().replace("", None)
    fill = usable & dated & ~has_id & current.notna().to_numpy(bool)
    out = ids.astype("string").copy()
    out[fill] = current[fill].to_numpy(dtype=object)
    return GroupedIds(out, group | (subtotal & usable), int(fill.sum()), int(group.sum()))
