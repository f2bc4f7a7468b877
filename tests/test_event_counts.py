"""Events that stand for several: a product analytics export's daily aggregate (``event_count``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract import quarantine_path, table_path
from features.ingest import ingest
from features.mapping import load_mapping
from features.snapshots import build_snapshots

ORDERS = "customer,date,amount\na,2024-01-05,100\nb,2024-02-05,90\nc,2024-02-07,50\n"
MAPPING = (
    "transactions.customer_id=customer,ordered_at=date,amount=amount,"
    "events.customer_id=account,occurred_at=day,event_type=event"
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _quiet(_msg: str) -> None:
    pass


def daily_usage(tmp_path: Path) -> Path:
    """Mixpanel-like daily totals: a's 12 + 30 sessions, b's 3, a day of 0, a duration mapped
    by mistake on one row (2.5), a negative count, a blank (one event)."""
    return _write(
        tmp_path / "usage.csv",
        "account,day,event,Total Events\n"
        "a,2024-03-01,session,12\n"
        "a,2024-03-02,session,30\n"
        "b,2024-03-02,session,3\n"
        "b,2024-03-03,session,0\n"
        "c,2024-03-03,session,2.5\n"
        "c,2024-03-04,session,-1\n"
        "c,2024-03-05,session,\n",
    )


def test_a_count_column_left_unread_is_named_with_the_mapping_to_give(tmp_path):
    orders = _write(tmp_path / "o.csv", ORDERS)
    rows = "".join(
        f"{c},2024-03-0{d},session,{n}\n" for c, d, n in zip("aabbc", "12234", "91730", strict=True)
    )
    usage = _write(tmp_path / "usage.csv", "account,day,event,Total Events\n" + rows)
    reports = ingest(tmp_path / "out", orders, load_mapping(MAPPING), events=usage, log=_quiet)
    events = reports["events"]
    assert events.accepted == 5  # each row one event, as before; but said
    said = [w for w in events.warnings if "Total Events" in w]
    assert said and 'map it with --map "events.event_count=Total Events"' in said[0]
    assert "each row counts as one event" in said[0]


def test_mapped_counts_are_counted_and_rows_that_are_no_count_are_quarantined(tmp_path):
    orders = _write(tmp_path / "o.csv", ORDERS)
    mapping = load_mapping(MAPPING + ",event_count=Total Events")
    events = ingest(tmp_path / "out", orders, mapping, events=daily_usage(tmp_path), log=_quiet)
    report = events["events"]
    assert report.reasons == {
        "no event in the row (event_count 0)": 1,
        "event_count below 0 or not a whole number": 2,
    }
    assert report.accepted == 4 and report.judged_rows == 6  # a day of 0 is read right
    assert not [w for w in report.warnings if "Total Events" in w]
    kept = pd.read_parquet(table_path(tmp_path / "out", "events"))
    assert kept["event_count"].tolist()[:3] == [12.0, 30.0, 3.0]
    assert pd.isna(kept["event_count"].iloc[3])  # blank: one event
    rows = pd.read_parquet(quarantine_path(tmp_path / "out", "events"))
    assert sorted(rows["Total Events"].astype(str)) == ["-1", "0", "2.5"]
    frame = build_snapshots(tmp_path / "out", ["2024-04-01"], progress=False).set_index(
        "customer_id"
    )
    assert frame.loc["a", "visit_90d"] == 42 and frame.loc["a", "visit_30d"] == 30  # 03-01 out
    assert frame.loc["b", "visit_30d"] == 3
    assert frame.loc["c", "events_all"] == 1
    assert frame.loc["b", "days_since_last_event"] == 30  # its day of 0 is no event


def test_a_file_of_mostly_idle_days_is_not_refused(tmp_path):
    """A daily aggregate written for every account and day: most rows are 0; they are set aside
    as read right, so --min-accepted-share does not refuse the file."""
    orders = _write(tmp_path / "o.csv", ORDERS)
    rows = "".join(f"a,2024-03-{d:02d},login,{1 if d % 10 == 0 else 0}\n" for d in range(1, 31))
    usage = _write(tmp_path / "u.csv", "account,day,event,count\n" + rows)
    mapping = load_mapping(MAPPING + ",event_count=count")
    report = ingest(tmp_path / "out", orders, mapping, events=usage, log=_quiet)["events"]
    assert report.accepted == 3 and report.reasons == {"no event in the row (event_count 0)": 27}
    assert report.accepted_share == 1.0


def test_a_count_written_as_nan_is_one_event_as_a_blank(tmp_path):
    """A contract written by other means (pandas to Parquet with NaN kept, not null): NaN is a
    missing count, as unusable_rows reads it, so one event; it crashed the feature build (a NaN
    sum cast to an integer count) and would be a NaN count on another engine."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    orders = _write(tmp_path / "o.csv", ORDERS)
    usage = _write(
        tmp_path / "u.csv",
        "account,day,event,n\na,2024-03-01,session,12\na,2024-03-25,session,\n",
    )
    mapping = load_mapping(MAPPING + ",event_count=n")
    ingest(tmp_path / "out", orders, mapping, events=usage, log=_quiet)
    path = table_path(tmp_path / "out", "events")
    table = pq.read_table(path)
    counts = table.column("event_count").to_numpy(zero_copy_only=False)
    nan_kept = pa.array(np.asarray(counts, dtype="float64"), from_pandas=False)
    assert nan_kept.null_count == 0 and np.isnan(nan_kept.to_numpy()).sum() == 1
    index = table.schema.get_field_index("event_count")
    pq.write_table(table.set_column(index, "event_count", nan_kept), path)
    frame = build_snapshots(tmp_path / "out", ["2024-04-01"], progress=False).set_index(
        "customer_id"
    )
    assert frame.loc["a", "visit_30d"] == 1 and frame.loc["a", "events_all"] == 13
