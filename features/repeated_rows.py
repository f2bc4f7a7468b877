"""Rows an export repeats: a header pasted in again between two exports, an export appended twice
(quarantined), and an item a till scanned again within its order (kept, and named)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import EVENTS
from features.ingest_tables import TableReport, Validator


def repeated_header(frame: pd.DataFrame) -> np.ndarray:
    """Rows that repeat the header: at least two cells, and most, equal their column's name."""
    if frame.empty or len(frame.columns) < 2:
        return np.zeros(len(frame), dtype=bool)
    same = np.column_stack(
        [frame[c].astype("string").str.strip().eq(str(c).strip()).fillna(False) for c in frame]
    ).sum(axis=1)
    return (same >= 2) & (same * 2 > len(frame.columns))


#: A feed doubled from a day: at least this share of the orders from that day are written whole
#: twice (each of their lines repeated), and most of that day's, at most ``TILL_SHARE`` of the
#: (at least ``DOUBLED_BEFORE``) orders before it (a till's second coffee, A A, looks the same),
#: and ``DOUBLED_AFTER`` orders or more from it. A till's second scans repeat some lines of an
#: order, not every one: a till writing a line per scan from a day on is no doubled feed.
DOUBLED_SHARE = 0.9
TILL_SHARE = 0.5
DOUBLED_BEFORE = 50
DOUBLED_AFTER = 10


def repeated_rows(
    frame: pd.DataFrame,
    orders: pd.Series | None,
    check: Validator,
    report: TableReport,
    times: pd.Series | None = None,
) -> None:
    """Rows identical to an earlier one, order id included, are an export appended twice: never
    revenue twice; but a line repeated within its order's own run of lines is an item scanned
    again (a till writes a line per scan; :func:`_scanned_again`): kept, and reported, unless
    nearly every order from some day on is written whole twice (``times``: the rows' dates;
    :func:`_doubled_from`). Without an order id a repeat may be a real second purchase (CDNOW
    has 255 such lines): kept, and reported."""
    lines = _lines(frame)  # -1: a line the file holds once
    involved = lines >= 0  # lines the file holds more than once
    repeated = involved & pd.Series(lines).duplicated(keep="first").to_numpy()
    if orders is not None:
        again = repeated & _scanned_again(orders, lines)
        doubled = None
        if times is not None and involved.any():  # an order written twice repeats its lines
            codes = pd.factorize(orders.astype("string"))[0]
            whole = _per_order(codes, involved, every=True)  # each of its lines repeated
            doubled = _doubled_from(whole, codes, times)
        if doubled:
            day, n_after, n_before, till = doubled
            copied = _per_order(codes, repeated & ~again, every=False)  # A C A C: done
            since = again & _second_copies(lines, whole & ~copied & (times >= day).to_numpy(bool))
            if n := int((since & check.ok).sum()):
                report.warnings.append(
                    f"from {day:%Y-%m-%d} the export holds every order twice ({n_after:,} "
                    f"orders from that day repeat their lines, {till:,} of the {n_before:,} "
                    f"before it): an export sent twice from that day; the second copies of lines "
                    f"in its orders ({n:,}) are quarantined as duplicate rows too, not kept "
                    "as items scanned again"
                )
            again &= ~since
        check.flag(repeated & ~again, "duplicate row (same as an earlier line)")
        if n := int((again & check.ok).sum()):
            example = orders.to_numpy()[again & check.ok][0]
            report.warnings.append(
                f"{n:,} lines repeat an earlier line of their own order (e.g. order "
                f"{str(example)!r}): kept as items scanned again (a till writes one line per "
                "scan); an order of several lines written twice whole, or a line repeated "
                "elsewhere in the file, is quarantined as a duplicate row"
            )
    elif (n := int((repeated & check.ok).sum())) and report.table == EVENTS:
        report.warnings.append(
            f"{n:,} rows are identical to an earlier line; kept (two visits or opens can share "
            "a time); remove them from the export if the tool wrote them twice"
        )
    elif n:
        report.warnings.append(
            f"{n:,} rows are identical to an earlier line; kept (without an order id a repeat "
            "can be a second purchase; map order_id to quarantine true duplicates)"
        )


def _lines(frame: pd.DataFrame) -> np.ndarray:
    """A number for each row the file holds more than once, the same for identical rows (a
    missing cell equal to a missing one, as :meth:`pandas.DataFrame.duplicated` compares them),
    and -1 for a row it holds once. Column by column, each factorized once and only on the rows
    whose cells so far some other row shares: an export's order ids are mostly unique, so one
    column usually settles it."""
    lines = np.full(len(frame), -1, dtype=np.int64)
    if frame.empty:
        return lines
    rows = np.arange(len(frame))  # the rows some other row may still equal
    key = np.zeros(len(frame), dtype=np.int64)  # equal for rows equal so far
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j] if len(rows) == len(frame) else frame.iloc[rows, j]
        codes, uniques = pd.factorize(column)  # a missing cell: -1
        key = key * (len(uniques) + 1) + codes + 1
        key = pd.factorize(key)[0] if j else key  # numbered anew: below the rows' count
        shared = np.bincount(key)[key] > 1
        rows, key = rows[shared], key[shared]
        if not len(rows):
            return lines
    lines[rows] = key
    return lines


def _per_order(codes: np.ndarray, rows: np.ndarray, every: bool) -> np.ndarray:
    """Whether ``every`` (else any) row of each row's order is in ``rows`` (``codes``: the
    orders, ``pd.factorize``d; a row without an order, -1: False)."""
    known = codes >= 0
    n = codes.max(initial=-1) + 1
    hits = np.bincount(codes[known], weights=rows[known], minlength=n)
    per_order = hits == np.bincount(codes[known], minlength=n) if every else hits > 0
    return np.append(per_order, False)[codes]  # -1: the False appended


def _doubled_from(
    whole: np.ndarray, codes: np.ndarray, times: pd.Series
) -> tuple[pd.Timestamp, int, int, int] | None:
    """``(day, orders written whole twice from it, orders before it, those of them written whole
    twice)`` for the first day from which nearly every order is written whole twice (``whole``,
    per row), few before it (``DOUBLED_*``, ``TILL_SHARE``)."""
    if not whole.any():
        return None
    known = (codes >= 0) & times.notna().to_numpy()
    per_order = (
        pd.DataFrame(
            {"order": codes[known], "time": times.to_numpy()[known], "whole": whole[known]}
        )
        .groupby("order", sort=False)
        .agg(time=("time", "min"), whole=("whole", "first"))
    )
    days = per_order.groupby(per_order["time"].dt.normalize())["whole"].agg(["size", "sum"])
    n, w = days["size"].to_numpy(), days["sum"].to_numpy()
    n_before, w_before = np.cumsum(n) - n, np.cumsum(w) - w
    n_after, w_after = n.sum() - n_before, w.sum() - w_before
    starts = (
        (w_after >= DOUBLED_SHARE * n_after)
        & (w > TILL_SHARE * n)
        & (w_before <= TILL_SHARE * n_before)
        & (n_before >= DOUBLED_BEFORE)
        & (n_after >= DOUBLED_AFTER)
    )
    if not starts.any():
        return None
    i = int(np.argmax(starts))
    return pd.Timestamp(days.index[i]), int(w_after[i]), int(n_before[i]), int(w_before[i])


def _second_copies(lines: np.ndarray, doubled: np.ndarray) -> np.ndarray:
    """Of the ``doubled`` rows (orders written whole twice; ``lines``: :func:`_lines`), those of
    the second copy: each line's copies past half its count (A A: the second; A A A A, two
    coffees written twice: the last two; an odd count keeps the extra one)."""
    second = np.zeros(len(lines), dtype=bool)
    if doubled.any():
        line = lines[doubled]
        copies = pd.Series(line).groupby(line)
        half = (copies.transform("size").to_numpy() + 1) // 2
        second[doubled] = copies.cumcount().to_numpy() >= half
    return second


def _scanned_again(orders: pd.Series, lines: np.ndarray) -> np.ndarray:
    """Rows within the same run of their order's lines as the first row identical to them
    (``lines``: :func:`_lines`), except the copies of an order written whole several times: a
    run that is one block of two or more different lines repeated (A C A C; A A C A A C, a join
    fan-out) keeps its first block. Repeated scans (A A: two coffees; A A C C; a croissant
    scanned twice beside a coffee) are kept, as is a run holding a line the file holds once."""
    again = np.zeros(len(lines), dtype=bool)
    involved = lines >= 0  # the lines the file holds more than once
    if not involved.any():
        return again
    order = pd.Series(orders.astype("string").fillna("").to_numpy())
    run = order.ne(order.shift()).cumsum().to_numpy()
    line = lines[involved]
    key = pd.DataFrame({"line": line, "run": run[involved]})
    same_run = key["run"].eq(key.groupby("line")["run"].transform("first")).to_numpy()
    once = pd.Series(~involved).groupby(run).any()  # a run with a line the file holds once
    repeats = key.duplicated(["run", "line"]).groupby(key["run"]).transform("any")
    candidate = (~key["run"].map(once).to_numpy(bool)) & repeats.to_numpy()
    copy = np.zeros(len(key), dtype=bool)
    at = np.flatnonzero(candidate)
    runs, lines = key["run"].to_numpy()[at], key["line"].to_numpy()[at]
    for part in np.split(np.arange(len(at)), np.flatnonzero(np.diff(runs)) + 1):
        if (block := _repeated_block(lines[part])) is not None:
            copy[at[part[block:]]] = True
    again[involved] = same_run & ~copy
    return again


def _repeated_block(seq: np.ndarray) -> int | None:
    """The length of the block of two or more different lines that ``seq`` repeats whole
    (``A C A C``: 2), None when it is no such repetition (``A A``, ``A A C C``)."""
    n = len(seq)
    for k in range(2, n + 1):
        p = n // k
        if n % k == 0 and len(set(seq[:p].tolist())) >= 2 and (seq.reshape(k, p) == seq[:p]).all():
            return p
    return None
