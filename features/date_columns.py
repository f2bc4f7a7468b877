"""A date column as ingest checks it: unusable as a whole when most of its values do not parse;
an optional end date (``customers.ended_at``) whose blanks, placeholders, words and ends before
the signup are no end, with a warning when its ends look like another date."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.customer_status import CUSTOMER_STATUS, ends_by_status
from features.ingest_tables import TableReport, Validator
from features.mapping import IngestError

#: A date column in which fewer than this share of values parse is unusable (not a row problem).
MIN_PARSABLE_SHARE = 0.5


#: Ends after the export on at least this many rows, and this share of the ends, are warned of:
#: a renewal date filled for every member, not notices given.
FUTURE_ENDS_MIN = 10
FUTURE_ENDS_SHARE = 1 / 3
#: Ends on at least this share of the customers (or a third of them on the signup day) are
#: warned of: a date every customer has, not the end of those who left.
ALL_ENDS_SHARE = 0.995


def optional_dates(
    out: pd.DataFrame,
    name: str,
    values: pd.Series,
    placeholder: pd.Series,
    check: Validator,
    report: TableReport,
    latest: pd.Timestamp | None = None,
    status: pd.Series | None = None,
    status_values: dict[str, str] | None = None,
    record_date: str | None = None,
) -> None:
    """An optional date (``customers.ended_at``) where no date means "still a customer": blank,
    a placeholder such as 9999-12-31, a word ('N/A', 'Active') and an end before the signup (by
    day: an earlier membership's end kept after a re-join) are read as no end, counted and named;
    the customer and their rows stay. With a ``status`` (``customer_status``), a date is an end
    only where it says the customer ended (:func:`features.customer_status.ends_by_status`). A
    date after the export is kept (a notice given); when many are (after ``latest``), the
    column may be a renewal date, and a warning says so. Where the signup is a ``record_date``
    (a ``Created`` column read as signup_at: the day the record was made), an end before it is
    no evidence of a re-join and is kept (:func:`features.record_dates.ends_before_record`
    reads those of customers who bought after it as no end, once the orders are read)."""
    worded = (values.notna() & out[name].isna()).to_numpy()
    out.loc[placeholder.to_numpy(), name] = pd.NaT
    before = np.zeros(len(out), dtype=bool)
    if "signup_at" in out:
        days = out[name].dt.normalize() < out["signup_at"].dt.normalize()
        before = days.fillna(False).to_numpy()
        if record_date is None:
            out.loc[before, name] = pd.NaT
    ok = check.ok
    if status is not None:
        out[name], note, notes = ends_by_status(
            status.where(ok), out[name], status_values or {}, str(status.name)
        )
        report.formats[CUSTOMER_STATUS] = note
        report.warnings.extend(notes)
    said = []
    if blank := int((placeholder.to_numpy() & ok).sum()):
        said.append(f"{blank:,} placeholder date(s) such as 9999-12-31")
    if words := int((worded & ok).sum()):
        top = values[worded & ok].value_counts().head(3)
        said.append(
            f"{words:,} value(s) that are no date ("
            + ", ".join(f"{v!r} x {n:,}" for v, n in top.items())
            + ")"
        )
    early = int((before & ok).sum())
    if early and record_date is None:
        said.append(f"{early:,} end(s) before the customer's signup (an earlier membership's?)")
    dated = int((out[name].notna() & ok).sum())
    tail = f"; read as no end (still a customer): {'; '.join(said)}" if said else ""
    if early and record_date is not None:
        tail += (
            f"; {early:,} end(s) before {record_date!r}, the record's date read as signup_at "
            "(not a membership's start)"
        )
    report.formats[name] = f"{dated:,} rows with an end date{tail}"
    ahead = np.zeros(len(out), dtype=bool)
    if latest is not None:
        ahead = (out[name] > latest).fillna(False).to_numpy(dtype=bool) & ok
    if (n := int(ahead.sum())) >= FUTURE_ENDS_MIN and n >= FUTURE_ENDS_SHARE * dated:
        example = values[ahead].iloc[0]
        report.warnings.append(
            f"{n:,} of the {dated:,} {name} dates are still ahead (e.g. "
            f"{example!r}): each is read as a notice given, its customer scored as leaving on "
            "that day; if the column is the paid period's end of members who renew (Memberful's "
            "Expires At, a subscription's current period end), map the end of those who "
            f"cancelled only (blank for the others), or the status column as {CUSTOMER_STATUS} "
            "to keep the dates of those it says ended"
        )
    elif dated >= FUTURE_ENDS_MIN:
        on_signup = 0
        if "signup_at" in out:
            same = out[name].dt.floor("D") == out["signup_at"].dt.floor("D")
            on_signup = int((same.fillna(False).to_numpy(dtype=bool) & ok).sum())
        if dated < ALL_ENDS_SHARE * int(ok.sum()) and on_signup < FUTURE_ENDS_SHARE * dated:
            return  # a base most of whose customers left over the years has ends for most
        report.warnings.append(
            f"{dated:,} of the {int(ok.sum()):,} customers have an {name} date"
            + (f", {on_signup:,} of them on the day they signed up" if on_signup else "")
            + ": each is read as the day they ended, active customers too; if the column is a "
            "date every customer has (a status date, the record's last change), map a column "
            "holding the end of those who left only (blank for the others), or the status "
            f"column as {CUSTOMER_STATUS} (--map {CUSTOMER_STATUS}=Status) to keep the dates of "
            "those it says ended"
        )


def check_date_column(
    parsed: pd.Series, values: pd.Series, clean: np.ndarray, path: Path, date_format: str | None
) -> None:
    present = values.notna() & clean
    n_present, ok = int(present.sum()), int((parsed.notna() & present).sum())
    if n_present == 0 or ok < MIN_PARSABLE_SHARE * n_present:
        examples = list(values[present].head(3))
        expected = date_format or (
            "a date such as 2024-01-31, 20240131, 01/31/2024 13:05, 2024年1月31日, "
            "an Excel serial day, or Unix seconds, milliseconds, microseconds or nanoseconds "
            "since 1970 (10, 13, 16 or 19 digits); or pass --date-format (date_format: in the "
            "map file) with the values' form, e.g. --date-format '%H:%M %d/%m/%Y' for "
            "'14:02 05/03/2024'"
        )
        raise IngestError(
            f"{path}: column {values.name!r} is not a usable date column "
            f"({ok} of {n_present} values parse); expected {expected}; found e.g. {examples}"
        )
