"""Newline-delimited JSON exports of analytics tools (Segment, Mixpanel, GA4 unloads) read as
rows with dotted columns, and ingested like a CSV."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from features.contract import quarantine_path, table_path
from features.csv_source import read_source
from features.ingest import ingest
from features.json_source import NOT_AN_OBJECT
from features.mapping import IngestError, load_mapping

SEGMENT = [
    {"type": "track", "event": "Signed In", "userId": "u1", "timestamp": "2024-03-01T10:00:00.250Z",
     "properties": {}},
    {"type": "track", "event": "Order Completed", "userId": "u2", "anonymousId": "a9",
     "timestamp": "2024-03-02T23:30:00Z",
     "properties": {"order_id": "#1001", "revenue": 19.5, "currency": "EUR", "coupon": None}},
    {"type": "track", "event": "Page Viewed", "userId": None, "anonymousId": "a7",
     "timestamp": "2024-03-03T08:00:00Z", "properties": {"path": "/", "tags": ["a", "b"]}},
]  # fmt: skip


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _lines(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_json_lines_are_rows_with_nested_keys_as_dotted_columns(tmp_path):
    source = read_source(_write(tmp_path / "events.jsonl", _lines(SEGMENT)))
    frame = source.frame
    assert list(frame.columns[:5]) == ["type", "event", "userId", "timestamp", "anonymousId"]
    assert frame["properties.revenue"].tolist()[1] == "19.5"
    assert frame["userId"].isna().tolist() == [False, False, True]
    assert frame["properties.tags"].iloc[2] == '["a", "b"]'
    assert source.lines.tolist() == [1, 2, 3] and "json lines" in source.notes


def test_a_gzipped_ndjson_without_its_name_is_read_by_content_and_bad_lines_are_problems(tmp_path):
    text = _lines(SEGMENT[:1]) + "not json\n" + _lines(SEGMENT[1:2]) + '{"event": "cut'
    source = read_source(_write(tmp_path / "export.gz", gzip.compress(text.encode())))
    assert source.problems.tolist() == [None, NOT_AN_OBJECT, None, "truncated last line"]
    assert source.lines.tolist() == [1, 2, 3, 4]
    assert source.notes[0] == "packed gzip"


def test_a_segment_export_ingests_its_users_and_sets_its_anonymous_events_aside(tmp_path):
    customers = _write(tmp_path / "c.csv", "id,created\nu1,2024-01-01\nu2,2024-01-02\n")
    orders = _write(tmp_path / "o.csv", "id,date,total\nu1,2024-02-01,5\n")
    events = _write(tmp_path / "segment.jsonl", _lines(SEGMENT))
    keep = _write(tmp_path / "map.yaml", "values: {event_type: {Order Completed: other}}\n")
    mapping = load_mapping(
        "customers.customer_id=id,signup_at=created,transactions.customer_id=id,ordered_at=date,"
        "amount=total,events.customer_id=userId,occurred_at=timestamp,event_type=event",
        keep,
    )
    reports = ingest(tmp_path / "out", orders, mapping, customers=customers, events=events,
                     log=lambda _: None, min_accepted_share=0)  # fmt: skip
    assert reports["events"].accepted == 2
    got = pd.read_parquet(table_path(tmp_path / "out", "events"))
    assert got["occurred_at"].tolist() == [
        pd.Timestamp("2024-03-01 10:00:00.250"), pd.Timestamp("2024-03-02 23:30")]  # fmt: skip
    assert pd.read_parquet(quarantine_path(tmp_path / "out", "events"))["reason"].tolist() == [
        "missing customer_id"
    ]


def test_an_analytics_feed_mostly_of_anonymous_visitors_is_told_how_to_set_them_aside(tmp_path):
    customers = _write(tmp_path / "c.csv", "id,created\nu1,2024-01-01\n")
    orders = _write(tmp_path / "o.csv", "id,date,total\nu1,2024-02-01,5\n")
    anonymous = {**SEGMENT[2], "userId": None}
    events = _write(tmp_path / "e.jsonl", _lines([SEGMENT[0], anonymous, anonymous]))
    mapping = load_mapping(
        "customers.customer_id=id,signup_at=created,transactions.customer_id=id,ordered_at=date,"
        "amount=total,events.customer_id=userId,occurred_at=timestamp,event_type=event"
    )
    with pytest.raises(IngestError, match=r"not logged in have no user id.*exclude: \{events\."):
        ingest(tmp_path / "out", orders, mapping, customers=customers, events=events,
               log=lambda _: None)  # fmt: skip


def test_a_json_file_with_no_object_per_line_is_refused_with_what_to_save_instead(tmp_path):
    """A pretty-printed API dump that wraps the records (``{"data": [...]}``) has no line that is
    an object: refused by name, not a numpy broadcast error from ingest."""
    wrapped = _write(tmp_path / "events.json", json.dumps({"data": SEGMENT}, indent=2))
    with pytest.raises(IngestError, match=r"events\.json: no line is a JSON object.*\[\.\.\.\]"):
        read_source(wrapped)
    with pytest.raises(IngestError, match=r"no record is a JSON object"):
        read_source(_write(tmp_path / "numbers.json", "[1, 2]"))
