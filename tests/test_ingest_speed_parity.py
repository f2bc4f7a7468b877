"""The ingest hotspots made faster (repeated rows, date parsing, the unread orders of ``_split``)
give what the code before them gave: each faster helper against a copy of the one it replaced, on
several hundred small random cases (ties, missing cells, blank ids, mixed date forms, repeated
lines with other amounts, orders written whole twice)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features import dates, file_tables, repeated_rows
from features.contract import EVENTS, TRANSACTIONS
from features.ingest_tables import TableReport, Validator

#: Random cases per function (300 each passed when the faster code was written; 100 in CI).
CASES = 100


# --- the code before (c9490f0), kept to compare with ------------------------------------------


def _old_repeated_rows(frame, orders, check, report, times=None):
    rr = repeated_rows
    repeated = frame.duplicated(keep="first").to_numpy()
    if orders is not None:
        involved = frame.duplicated(keep=False).to_numpy()
        again = repeated & _old_scanned_again(frame, orders, involved)
        codes = pd.factorize(orders.astype("string"))[0]
        whole = rr._per_order(codes, involved, every=True)
        if times is not None and (doubled := rr._doubled_from(whole, codes, times)):
            day, n_after, n_before, till = doubled
            copied = rr._per_order(codes, repeated & ~again, every=False)
            since = again & _old_second_copies(
                frame, whole & ~copied & (times >= day).to_numpy(bool)
            )
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


def _old_second_copies(frame, doubled):
    second = np.zeros(len(frame), dtype=bool)
    if doubled.any():
        line = pd.util.hash_pandas_object(frame[doubled], index=False).to_numpy()
        copies = pd.Series(line).groupby(line)
        half = (copies.transform("size").to_numpy() + 1) // 2
        second[doubled] = copies.cumcount().to_numpy() >= half
    return second


def _old_scanned_again(frame, orders, involved):
    again = np.zeros(len(frame), dtype=bool)
    if not involved.any():
        return again
    order = pd.Series(orders.astype("string").fillna("").to_numpy())
    run = order.ne(order.shift()).cumsum().to_numpy()
    line = pd.util.hash_pandas_object(frame[involved], index=False).to_numpy()
    key = pd.DataFrame({"line": line, "run": run[involved]})
    same_run = key["run"].eq(key.groupby("line")["run"].transform("first")).to_numpy()
    once = pd.Series(~involved).groupby(run).any()
    repeats = key.duplicated(["run", "line"]).groupby(key["run"]).transform("any")
    candidate = (~key["run"].map(once).to_numpy(bool)) & repeats.to_numpy()
    copy = np.zeros(len(key), dtype=bool)
    at = np.flatnonzero(candidate)
    runs, lines = key["run"].to_numpy()[at], key["line"].to_numpy()[at]
    for part in np.split(np.arange(len(at)), np.flatnonzero(np.diff(runs)) + 1):
        if (block := repeated_rows._repeated_block(lines[part])) is not None:
            copy[at[part[block:]]] = True
    again[involved] = same_run & ~copy
    return again


def _old_day_month(values):
    text = _old_arrow(values)
    hit = np.asarray(pc.match_substring_regex(text, dates._DAY_MONTH).fill_null(False), dtype=bool)
    if not hit.any():
        return hit, pd.DataFrame()
    parts = pc.extract_regex(text.filter(pa.array(hit)), dates._DAY_MONTH)
    found = pd.DataFrame(
        {name: parts.field(name).to_numpy(zero_copy_only=False) for name in "abyHMS"},
        index=values.index[hit],
    ).astype("string")
    return hit, found.mask(found == "")


def _old_arrow(values):
    return pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.string())


def _old_ints(frame, col, default=0):
    if col not in frame:
        return pd.Series(default, index=frame.index, dtype="int64")
    return pd.to_numeric(frame[col], errors="coerce").fillna(default).astype("int64")


def _old_thai_calendar(values):
    months = "|".join(re.escape(m) for m in sorted(dates.THAI_MONTHS, key=len, reverse=True))
    thai = values.str.contains(months, regex=True).fillna(False).to_numpy(dtype=bool)
    if thai.any():
        named = values[thai].str.replace(
            months, lambda m: f" {dates.THAI_MONTHS[m.group(0)]} ", regex=True
        )
        values = values.mask(thai, named.str.replace(r"\s+", " ", regex=True).str.strip())
    era = values.str.contains(dates.BUDDHIST_YEAR, regex=True).fillna(False).to_numpy(bool)
    common = values.str.contains(dates.COMMON_YEAR, regex=True).fillna(False).to_numpy(bool)
    if era.sum() <= common.sum():
        return values, "Thai month names read" if thai.any() else None
    converted = values[era].str.replace(
        dates.BUDDHIST_YEAR,
        lambda m: str(int(m.group(0)) - dates.BUDDHIST_OFFSET),
        regex=True,
    )
    said = (
        f"Buddhist-era years read as the Common Era (2567 = 2024): {int(era.sum()):,} distinct "
        "values" + ("; Thai month names read" if thai.any() else "")
    )
    return values.mask(era, converted), said


def _old_unread(held, accepted):
    return {str(k): str(v) for k, v in held.drop(accepted, errors="ignore").items()}


# --- random cases ------------------------------------------------------------------------------


def _date_text(rng: np.random.Generator) -> str | None:
    """One cell of a date column: most forms ingest reads, and what it must refuse."""
    y, m, d = int(rng.integers(1995, 2030)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mm, ss = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    forms = [
        f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
        f"{y}-{m:02d}-{d:02d}",
        f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
        f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}+05:30",
        f"{d:02d}/{m:02d}/{y} {hh:02d}:{mm:02d}",
        f"{m:02d}-{d:02d}-{y}T{hh:02d}:{mm:02d}:{ss:02d}",
        f"{d:02d}/{m:02d}/{y} {hh}:{mm:02d}:{ss:02d}",
        f"{d}/{m}/{y}",
        f"{m:02d}/{d:02d}/{y % 100:02d}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}/{m:02d}/{y + 543}",  # Buddhist era
        f"{d} มี.ค. {y + 543}",
        f"Mar {d}, {y} {hh % 12 + 1}:{mm:02d} PM",
        f"{d:02d}-Mar-{y}",
        f"{y}{m:02d}{d:02d}",
        str(int(rng.integers(1_500_000_000, 1_700_000_000))),
        str(int(rng.integers(1_500_000_000_000, 1_700_000_000_000))),
        f"{rng.uniform(40000, 46000):.4f}",
        f"{y}年{m}月{d}日 {hh}时{mm}分",
        "٢٠٢٤/٠٣/٠٥",
        f"{y}-{m:02d}-{d:02d} 14:02:03.2489",
        "",
        "  ",
        "N/A",
        "99/99/2024",
        f"{d:02d}/{m:02d}/{y} 25:61",
        "0001-01-01",
        "9999-12-31",
        None,
    ]
    return forms[int(rng.integers(len(forms)))]


def _date_case(rng: np.random.Generator) -> tuple[pd.Series, dates.DateOrder, dict]:
    n = int(rng.integers(1, 40))
    pool = [_date_text(rng) for _ in range(int(rng.integers(1, 12)))]  # ties: values repeat
    values = pd.Series(
        [pool[int(i)] for i in rng.integers(0, len(pool), n)],
        dtype="string",
        name=str(rng.choice(["Order Date", "Created (UTC)", "Date (PST)"])),
    )
    order = dates.DateOrder(bool(rng.integers(2)), "assumed")
    zone = [
        {},
        {"timezone": "Europe/Berlin"},
        {"business_zone": "America/New_York"},
        {"timezone": "UTC", "business_zone": "Asia/Shanghai"},
    ][int(rng.integers(4))]
    return values, order, zone


def _orders_frame(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
    """A small orders export with repeated lines: exact copies (an export appended twice), a
    repeat with another amount, blank and missing ids, tills' second scans, sometimes a feed
    doubled from a day."""
    n = int(rng.integers(1, 60))
    orders = [f"O{i}" for i in rng.integers(0, max(n // 2, 1), n)]
    orders = sorted(orders, key=lambda o: int(o[1:])) if rng.random() < 0.5 else orders
    frame = pd.DataFrame(
        {
            "Order ID": orders,
            "Customer": [f"C{i}" for i in rng.integers(0, 5, n)],
            "Order Date": [f"2024-01-{d:02d}" for d in rng.integers(1, 29, n)],
            "Total": [str(v) for v in rng.choice([1.0, 2.5, 2.5, 9.99], n)],
        }
    )
    if rng.random() < 0.3:  # a feed doubled from a day: every order after it written twice
        base = pd.DataFrame(
            {
                "Order ID": [f"D{i}" for i in range(70)],
                "Customer": "C1",
                "Order Date": [f"2024-02-{1 + i // 5:02d}" for i in range(70)],
                "Total": "3.0",
            }
        )
        late = base.iloc[55:]
        frame = pd.concat([frame, base, late], ignore_index=True)
    k = int(rng.integers(0, len(frame) + 1))
    copies = frame.iloc[rng.integers(0, len(frame), k)].copy()
    other = rng.random(k) < 0.3
    copies.loc[other, "Total"] = "7.77"  # a repeat with another amount: no duplicate
    frame = pd.concat([frame, copies], ignore_index=True)
    if rng.random() < 0.5:
        frame = frame.sample(frac=1.0, random_state=int(rng.integers(1 << 30)), ignore_index=True)
    frame = frame.astype("string")
    for col in frame.columns:  # missing and blank cells
        frame.loc[rng.random(len(frame)) < 0.05, col] = pd.NA
        frame.loc[rng.random(len(frame)) < 0.03, col] = ""
    ids = frame["Order ID"].str.strip().replace("", pd.NA)
    times = pd.to_datetime(frame["Order Date"], errors="coerce").astype("datetime64[us]")
    return frame, ids, times if rng.random() < 0.8 else None


# --- the comparisons ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(CASES))
def test_parse_dates_as_before(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    values, order, zone = _date_case(np.random.default_rng(seed))
    new = dates.parse_dates(values, order, **zone)
    with monkeypatch.context() as old_code:
        for name, old in [
            ("_arrow", _old_arrow),
            ("_day_month", _old_day_month),
            ("_ints", _old_ints),
            ("_thai_calendar", _old_thai_calendar),
        ]:
            old_code.setattr(dates, name, old)
        before = dates.parse_dates(values, order, **zone)
    pd.testing.assert_series_equal(new[0], before[0])
    assert new[1] == before[1]


@pytest.mark.parametrize("seed", range(CASES))
def test_repeated_rows_as_before(seed: int) -> None:
    rng = np.random.default_rng(10_000 + seed)
    frame, ids, times = _orders_frame(rng)
    table = TRANSACTIONS if rng.random() < 0.7 else EVENTS
    with_orders = ids if rng.random() < 0.8 else None
    refused = rng.random(len(frame)) < 0.05  # some rows refused before
    got = []
    for run in (repeated_rows.repeated_rows, _old_repeated_rows):
        check, report = Validator(len(frame)), TableReport(table=table, source_file="x.csv")
        check.flag(refused, "missing amount")
        run(frame, with_orders, check, report, times)
        got.append((check.reason.tolist(), report.warnings))
    assert got[0] == got[1]


def test_doubled_feed_found_as_before() -> None:
    """A feed doubled from a day (60 orders of a line, then 15 written whole twice, one of two
    lines) is found, and its second copies quarantined, as before."""
    lines = []
    for i in range(75):
        day = f"2024-02-{1 + i // 5:02d}"
        order = [(f"D{i}", "C1", day, "3.0")] + ([(f"D{i}", "C1", day, "1.5")] if i == 70 else [])
        lines += order * (2 if i >= 60 else 1)
    frame = pd.DataFrame(lines, columns=["Order ID", "Customer", "Order Date", "Total"])
    frame = frame.astype("string")
    ids = frame["Order ID"]
    times = pd.to_datetime(frame["Order Date"]).astype("datetime64[us]")
    got = []
    for run in (repeated_rows.repeated_rows, _old_repeated_rows):
        check, report = Validator(len(frame)), TableReport(table=TRANSACTIONS, source_file="x")
        run(frame, ids, check, report, times)
        got.append((check.reason.tolist(), report.warnings))
    assert got[0] == got[1]
    assert "the export holds every order twice" in got[0][1][0]
    assert got[0][0].count("duplicate row (same as an earlier line)") == 16


@pytest.mark.parametrize("seed", range(CASES))
def test_unread_orders_as_before(seed: int) -> None:
    rng = np.random.default_rng(20_000 + seed)
    pool = ["A", "B", "b", " A", "A ", "1", "01", "", "ünï", "O-7"]
    held_ids = pd.Series(list(rng.choice(pool, int(rng.integers(0, 8)))), dtype="string")
    reasons = pd.Series(
        rng.choice(["missing amount", "duplicate row", "unparsable ordered_at"], len(held_ids)),
        dtype="object",
    )
    held = reasons.groupby(held_ids).first()
    accepted = pd.Series(
        [None if rng.random() < 0.1 else str(rng.choice(pool)) for _ in rng.integers(0, 9, 12)],
        dtype="string",
    )
    assert file_tables._unread(held, accepted) == _old_unread(held, accepted)


def test_lines_number_identical_rows_alike() -> None:
    """Missing cells equal each other, a blank is no missing cell, and the cells of a row are
    compared whole (``1|23`` is not ``12|3``)."""
    frame = pd.DataFrame(
        {"a": ["1", "12", "1", None, None, "", "1"], "b": ["23", "3", "23", "x", "x", "x", "23"]},
        dtype="string",
    )
    lines = repeated_rows._lines(frame)
    assert (lines >= 0).tolist() == [True, False, True, True, True, False, True]
    assert lines[0] == lines[2] == lines[6] != lines[3] == lines[4]
    assert (repeated_rows._lines(frame.iloc[:0]) == []).all()
    assert (repeated_rows._lines(pd.DataFrame(index=range(3))) == -1).all()  # no columns
