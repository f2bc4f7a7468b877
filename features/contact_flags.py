"""Customers the CRM says not to contact (``customers.do_not_contact``), or not by one channel
(``do_not_email``, ``do_not_call``): yes/no flags.

CRMs export such flags as check boxes and words in many spellings: Salesforce NPSP's
``Do Not Contact`` and ``Deceased`` (true/false), HubSpot's ``Unsubscribed from all email``, Zoho's
``Email Opt Out``, a German export's ja/nein, a Chinese one's 是/否, a spreadsheet's x or √.
:func:`read_flags` reads them for ingest (a column that is mostly no such word is refused, a few
odd values are read as no and named); :func:`flags_by_customer` and :func:`row_flags` carry the
stored flag to the scoring rows. The flag is never a model input: a flagged customer is scored
as any other and recommended no contact (``serving.scoring``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import CONTACT_FLAGS, DO_NOT_CONTACT
from features.mapping import IngestError

#: Values read as "do not contact" (case-insensitive, trimmed).
YES_WORDS = frozenset(
    {"true", "t", "yes", "y", "1", "x", "checked", "wahr", "ja", "oui", "vrai", "是", "√", "✓"}
)
#: Values read as "may be contacted" (a blank cell too).
NO_WORDS = frozenset({"false", "f", "no", "n", "0", "", "unchecked", "nein", "non", "否"})
#: A flag column more than this share of whose filled values are neither a yes nor a no word is
#: refused (a column of dates, names or reasons mapped by mistake).
MAX_ODD_SHARE = 0.5


def _words(values: pd.Series) -> pd.Series:
    """The values as trimmed, case-folded text (NA where missing); 1.0 and 0.0 (a spreadsheet's
    numbers) as 1 and 0."""
    text = values.astype("string").str.strip().str.casefold()
    return text.str.replace(r"^([01])\.0+$", r"\1", regex=True)


def read_flags(
    values: pd.Series, usable: np.ndarray, path: Path, field: str = DO_NOT_CONTACT
) -> tuple[pd.Series, str | None]:
    """The flag of each row (bool; an odd value, neither yes nor no, is no) and a warning naming
    the odd values of the ``usable`` rows (None when there are none). ``IngestError`` naming the
    file and the column when most filled values of the usable rows are odd. ``field``: the
    contract column read (one of ``CONTACT_FLAGS``)."""

    text = _words(values)
    yes = text.isin(YES_WORDS).fillna(False).to_numpy(dtype=bool)
    no = (text.isna() | text.isin(NO_WORDS)).fillna(True).to_numpy(dtype=bool)
    odd = ~yes & ~no & np.asarray(usable, dtype=bool)
    filled = int((np.asarray(usable, dtype=bool) & (text.fillna("") != "").to_numpy()).sum())
    flags = pd.Series(yes, index=values.index)
    if not odd.any():
        return flags, None
    top = values[odd].astype("string").str.strip().value_counts().head(3)
    examples = ", ".join(f"{v!r} x {n:,}" for v, n in top.items())
    column = f"column {values.name!r} (customers.{field})"
    if odd.sum() > MAX_ODD_SHARE * filled:
        raise IngestError(
            f"{path}: {column} is not a usable yes/no column ({int(odd.sum()):,} of {filled:,} "
            "filled values are neither yes nor no); expected true/false, yes/no, y/n, 1/0, x, "
            f"checked/unchecked, ja/nein, oui/non, 是/否 or blank; found e.g. {examples}"
        )
    return flags, (
        f"{int(odd.sum()):,} value(s) of {column} are neither yes nor no and were read as no "
        f"(the customer may be contacted): {examples}; fix them in the CRM or map the column "
        "to a yes/no field"
    )


def flag_columns(columns) -> list[str]:
    """The contact flags (``CONTACT_FLAGS``, in order) among ``columns``."""
    return [c for c in CONTACT_FLAGS if c in columns]


def flags_by_customer(customers: pd.DataFrame, field: str = DO_NOT_CONTACT) -> pd.Series:
    """The ids of the customers flagged in ``field`` (a bool Series of True by ``customer_id``);
    empty without the column."""
    if field not in customers.columns:
        return pd.Series(dtype=bool)
    flagged = customers[as_flags(customers[field])]
    return pd.Series(True, index=flagged["customer_id"].astype(str).to_numpy(), dtype=bool)


def row_flags(
    frame: pd.DataFrame, flags: pd.Series | None = None, field: str = DO_NOT_CONTACT
) -> np.ndarray:
    """Whether each row's customer is flagged: by ``flags`` (:func:`flags_by_customer`), else by
    the rows' own ``field`` column (a scoring snapshot, a Spark batch); False without."""
    if flags is not None:
        return frame["customer_id"].astype(str).isin(flags.index).to_numpy(dtype=bool)
    if field not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return as_flags(frame[field])


def as_flags(values: pd.Series) -> np.ndarray:
    """A stored flag column as bools, missing as False (a Spark join's null)."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)
