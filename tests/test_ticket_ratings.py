"""A help desk's rating of its tickets or conversations (Zendesk's ``Satisfaction Score``,
Intercom's ``Conversation rating``) is a derived survey event besides the ticket: before, the
ratings were only counted in a warning and satisfaction_mean_180d stayed empty."""

import json
from pathlib import Path

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.ingest_tables import TableReport
from features.mapping import IngestError, load_mapping
from features.snapshots import connect, feature_table

CUSTOMERS = (
    "Customer ID,Email,Created At\n1,ana@example.com,2023-01-02\n2,ben@example.com,2023-02-03\n"
)
ORDERS = "customer_id,ordered_at,amount\n1,2024-01-05,100\n2,2024-02-05,90\n"
MAP = "columns: {customers.customer_email: Email, events.customer_email: Email}\n"
ZENDESK = (
    "Id,Email,Satisfaction Score,Satisfaction Rated At,Created at\n"
    "11,ana@example.com,Good,2024-03-06 09:00:00,2024-03-05 10:00:00\n"
    "12,ben@example.com,Offered,,2024-03-06 10:00:00\n"
    "13,ben@example.com,bad_with_comment,2024-03-09 12:00:00,2024-03-07 10:00:00\n"
    "14,ben@example.com,Unoffered,,2024-03-07 11:00:00\n"
)
INTERCOM = (
    "Conversation ID,Email,Conversation rating,Conversation started at\n"
    "21,ana@example.com,4,2024-03-05 10:00:00\n"
    "22,ben@example.com,,2024-03-06 10:00:00\n"
    "23,ben@example.com,2,2024-03-07 10:00:00\n"
    "24,ben@example.com,7,2024-03-08 10:00:00\n"
)


def _quiet(*_args, **_kwargs) -> None:
    pass


def _ingest(
    tmp_path: Path,
    files: dict[str, str],
    more: str = "",
    kind: str = "support_ticket",
    section: str = "",
) -> tuple[pd.DataFrame, TableReport]:
    """The events table and report of ``files`` (name -> text), each read as tickets."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    sections = "".join(
        f"  {name}: {{columns: {{event_type: '={kind}'{more}}}{section}}}\n" for name in files
    )
    (tmp_path / "map.yaml").write_text(f"{MAP}files:\n{sections}")
    reports = ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        load_mapping(None, tmp_path / "map.yaml"),
        customers=tmp_path / "customers.csv",
        events=[tmp_path / name for name in files],
        log=_quiet,
    )
    events = pd.read_parquet(table_path(tmp_path / "out", "events"))
    return events.sort_values(["occurred_at", "event_type"], ignore_index=True), reports["events"]


def _satisfaction(tmp_path: Path) -> dict[str, float]:
    features = feature_table(connect(tmp_path / "out"), "2024-04-01").to_pandas()
    return features.set_index("customer_id")["satisfaction_mean_180d"].dropna().to_dict()


def _surveys(events: pd.DataFrame) -> list[tuple[str, str, float]]:
    rows = events[events["event_type"] == "survey"]
    return [
        (c, f"{t:%m-%d %H}", v) for c, t, v in rows[["customer_id", "occurred_at", "value"]].values
    ]


def test_zendesk_ratings_are_survey_events_at_their_own_time(tmp_path):
    """Good 5, bad 1, dated when rated; offered/unoffered none; the tickets as they were, and the
    derived events counted apart from the rows read (manifest too)."""
    events, report = _ingest(tmp_path, {"tickets.csv": ZENDESK})
    assert _surveys(events) == [("1", "03-06 09", 5.0), ("2", "03-09 12", 1.0)]
    assert (events["event_type"] == "support_ticket").sum() == 4
    assert (report.rows_read, report.accepted, report.quarantined) == (4, 4, 0)
    assert report.derived_events == {"survey": 2}
    said = report.formats["ticket ratings"]
    assert said.startswith("2 survey events from the ratings in 'Satisfaction Score' of 2 tickets")
    assert "good 5: 1, bad 1: 1" in said and "'Satisfaction Rated At'" in said
    assert not any("are not surveys" in w for w in report.warnings)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())["tables"]["events"]
    assert manifest["rows_read"] == 4 and manifest["derived_events"] == {"survey": 2}
    assert _satisfaction(tmp_path) == {"1": 5.0, "2": 1.0}


def test_intercom_ratings_1_to_5_at_the_conversation_s_time(tmp_path):
    """Numbers 1-5 as given; without a rating time the conversation's; a 7 is no rating (warned,
    its conversation kept)."""
    events, report = _ingest(tmp_path, {"conversations.csv": INTERCOM})
    assert _surveys(events) == [("1", "03-05 10", 4.0), ("2", "03-07 10", 2.0)]
    assert (events["event_type"] == "support_ticket").sum() == 4
    assert any("1 ratings in 'Conversation rating'" in w and "'7'" in w for w in report.warnings)
    assert _satisfaction(tmp_path) == {"1": 4.0, "2": 2.0}


def test_overlapping_exports_and_repeated_rows_rate_a_ticket_once(tmp_path):
    """A ticket in two exports, offered in the first and rated in the second, and one rated in
    both, are each one survey event; a row a file repeats whole is one too."""
    first = ZENDESK.replace("bad_with_comment,2024-03-09 12:00:00", "Offered,")
    second = ZENDESK + ZENDESK.splitlines()[1] + "\n"
    events, report = _ingest(tmp_path, {"week1.csv": first, "week2.csv": second})
    assert _surveys(events) == [("1", "03-06 09", 5.0), ("2", "03-09 12", 1.0)]
    # as before: a row an events file repeats is kept (and warned of), its rating counted once
    assert (events["event_type"] == "support_ticket").sum() == 5
    assert report.derived_events == {"survey": 2}
    assert report.accepted + report.quarantined == report.rows_read == 9


def test_the_map_file_turns_the_ratings_off_or_names_the_column(tmp_path):
    events, report = _ingest(tmp_path / "off", {"t.csv": ZENDESK}, ", ticket_rating: ''")
    assert _surveys(events) == [] and not report.derived_events
    named = ZENDESK.replace("Satisfaction Score", "How did we do")
    events, _ = _ingest(tmp_path / "named", {"t.csv": named}, ", ticket_rating: How did we do")
    assert [v for *_, v in _surveys(events)] == [5.0, 1.0]
    with pytest.raises(IngestError, match="events.ticket_rating is mapped to 'How we did'"):
        _ingest(tmp_path / "missing", {"t.csv": named}, ", ticket_rating: How we did")


def test_a_survey_file_s_scores_are_not_read_twice(tmp_path):
    """Rows that are surveys keep their score as their value; nothing is derived from them."""
    events, report = _ingest(tmp_path, {"csat.csv": INTERCOM.replace(",7,", ",5,")}, kind="survey")
    assert sorted(events["value"].dropna()) == [2.0, 4.0, 5.0]
    assert len(events) == 4 and not report.derived_events


def test_a_declared_survey_scale_puts_the_ratings_on_1_to_5(tmp_path):
    """A help desk rating on 1-10 (the map file's survey_scale for the file): 8 is 1 + 4 x 7/9,
    4 is 1 + 4 x 3/9; before, 4 was read as 4 of 5 and 8 warned as no rating."""
    tens = INTERCOM.replace(",4,", ",8,").replace(",2,", ",4,").replace(",7,", ",10,")
    events, report = _ingest(tmp_path, {"c.csv": tens}, section=", survey_scale: '1-10'")
    values = [round(v, 4) for *_, v in _surveys(events)]
    assert values == [round(1 + 4 * 7 / 9, 4), round(1 + 4 * 3 / 9, 4), 5.0]
    assert not any("neither a rating word" in w for w in report.warnings)
    assert "a 1-10 scale (declared by the map file)" in report.formats["ticket ratings"]


def test_a_rating_time_before_its_ticket_is_the_ticket_s(tmp_path):
    """A tool's placeholder for a missing rating time (1970-01-01, 0001-01-01) or a time before
    the ticket was opened dates the survey at the ticket, as a blank does; before, surveys of
    1970 and of year 1 were written."""
    placeholders = ZENDESK.replace("2024-03-06 09:00:00", "1970-01-01 00:00:00").replace(
        "2024-03-09 12:00:00", "0001-01-01 00:00:00"
    )
    events, report = _ingest(tmp_path, {"tickets.csv": placeholders})
    assert _surveys(events) == [("1", "03-05 10", 5.0), ("2", "03-07 10", 1.0)]
    assert (
        "(2 blank, unreadable, before the ticket or in the future"
        in (report.formats["ticket ratings"])
    )


def test_a_mapped_rating_column_on_rows_that_are_no_tickets_is_warned_of(tmp_path):
    """events.ticket_rating names the column, but the rows are read as another type (an Intercom
    export typed 'conversation': other): no survey event, and a warning naming the column and the
    types; before, nothing was said (the column's name is no known rating name)."""
    named = INTERCOM.replace("Conversation rating", "How did we do")
    events, report = _ingest(
        tmp_path, {"c.csv": named}, ", ticket_rating: How did we do", kind="conversation"
    )
    assert _surveys(events) == []
    said = [w for w in report.warnings if "'How did we do'" in w]
    assert said and "2 rated rows" in said[0] and "other" in said[0]
    assert "support_ticket" in said[0]


def test_the_ingest_summary_counts_the_derived_events(tmp_path):
    """events.parquet holds the accepted rows and the derived surveys: the summary line says
    how many of its rows are derived, not rows read; before, 2 rows were unaccounted for."""
    from cli_runs import cli_ok

    _ingest(tmp_path, {"tickets.csv": ZENDESK})
    said = cli_ok(
        [
            "ingest",
            *("--transactions", str(tmp_path / "orders.csv")),
            *("--customers", str(tmp_path / "customers.csv")),
            *("--events", str(tmp_path / "tickets.csv")),
            *("--map-file", str(tmp_path / "map.yaml")),
            *("--out", str(tmp_path / "cli")),
        ]
    )
    last = [line for line in said.splitlines() if line.startswith("ingested into")][0]
    assert last.endswith("8 accepted, 0 quarantined; 2 survey events derived from ticket ratings")
