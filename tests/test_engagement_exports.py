"""Engagement exports of tools a user brings beside a shop's orders (Klaviyo's metric export,
Freshdesk's and Zendesk's tickets, an NPS tool's responses), ingested as a new user would: the
counts per contract event type are the exports' own."""

from pathlib import Path

import pandas as pd

from features.contract import table_path
from features.ingest import ingest
from features.ingest_tables import TableReport
from features.mapping import load_mapping
from features.snapshots import connect, feature_table

CUSTOMERS = (
    "Customer ID,Email,Created At\n1,ana@example.com,2023-01-02\n2,ben@example.com,2023-02-03\n"
)
ORDERS = "customer_id,ordered_at,amount\n1,2024-01-05,100\n2,2024-02-05,90\n"
BY_EMAIL = "customers.customer_email=Email"


def _quiet(*_args, **_kwargs) -> None:
    pass


def _ingest(tmp_path: Path, events: str, extra_map: str = "") -> tuple[pd.DataFrame, TableReport]:
    """The events table and the events report of ``events`` beside two customers by e-mail
    (``extra_map`` maps the events file's e-mail column; else it is ``Email``)."""
    tmp_path.mkdir(exist_ok=True)
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    source = tmp_path / "events.csv"
    source.write_text(events)
    mapping = load_mapping(",".join([BY_EMAIL, extra_map or "events.customer_email=Email"]))
    reports = ingest(
        tmp_path / "out", orders, mapping, customers=customers, events=source, log=_quiet
    )
    return pd.read_parquet(table_path(tmp_path / "out", "events")), reports["events"]


def test_a_klaviyo_metric_export_is_read_by_its_timestamp_column(tmp_path):
    """Klaviyo's (and Mailchimp's, Segment's) event time is ``Timestamp``: read as occurred_at
    without a map, offsets to UTC."""
    events, _ = _ingest(
        tmp_path,
        "Email,Metric Name,Timestamp\n"
        "ana@example.com,Opened Email,2024-03-05 09:22:10-05:00\n"
        "ben@example.com,Clicked Email,2024-03-06 14:00:00+00:00\n",
        "events.customer_email=Email,event_type=Metric Name",
    )
    assert events["occurred_at"].tolist() == [
        pd.Timestamp("2024-03-05 14:22:10"),
        pd.Timestamp("2024-03-06 14:00:00"),
    ]


def test_a_freshdesk_tickets_export_is_read_by_its_created_time_column(tmp_path):
    """Freshdesk names a ticket's time ``Created time``: read as occurred_at without a map."""
    events, _ = _ingest(
        tmp_path,
        "Ticket ID,Type,Created time,Due by Time,Requester Email\n"
        "1,Question,2024-03-05 10:00:00,2024-03-07 10:00:00,ana@example.com\n",
        "events.customer_email=Requester Email,event_type=Type",
    )
    assert events["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 10:00:00")]


def test_an_intercom_conversations_export_is_read_by_its_start_time(tmp_path):
    """Intercom names a conversation's time ``Conversation started at (UTC)`` (beside its
    ``Last updated at``): read as occurred_at without a map."""
    events, _ = _ingest(
        tmp_path,
        "Conversation ID,User email,Conversation started at (UTC),Last updated at (UTC)\n"
        "c1,ana@example.com,2024-03-05 10:00:00,2024-03-09 08:00:00\n",
        "events.customer_email=User email,event_type==support_ticket",
    )
    assert events["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 10:00:00")]


def test_freshdesk_ticket_types_and_klaviyo_site_activity_map_without_a_map(tmp_path):
    """Freshdesk's default ticket type ``Feature Request`` is a support ticket and Klaviyo's
    ``Active on Site`` a visit, not ``other``."""
    events, report = _ingest(
        tmp_path,
        "Email,Event,Timestamp\n"
        "ana@example.com,Feature Request,2024-03-05 10:00:00\n"
        "ben@example.com,Active on Site,2024-03-06 10:00:00\n",
        "events.customer_email=Email,event_type=Event",
    )
    assert events["event_type"].tolist() == ["support_ticket", "visit"]
    assert report.unmapped == []


def test_a_help_desk_refund_ticket_is_a_ticket_but_an_analytics_refund_is_set_aside(tmp_path):
    """In a tickets export (its other types are tickets: Freshdesk's Question, Incident,
    Problem), ``Refund`` is a ticket asking for one, kept as support_ticket; beside an analytics
    feed's visits it is the refund the transactions file holds, set aside."""
    tickets = (
        "Email,Type,Created time\n"
        "ana@example.com,Question,2024-03-05 10:00:00\n"
        "ben@example.com,Refund,2024-03-06 10:00:00\n"
        "ben@example.com,Incident,2024-03-07 10:00:00\n"
    )
    events, _ = _ingest(tmp_path / "desk", tickets, "events.customer_email=Email,event_type=Type")
    assert events["event_type"].tolist() == ["support_ticket"] * 3
    feed = tickets.replace("Question", "Page View").replace("Incident", "Session Start")
    events, report = _ingest(tmp_path / "feed", feed, "events.customer_email=Email,event_type=Type")
    assert events["event_type"].tolist() == ["visit", "visit"]
    assert report.reasons == {"a purchase or refund (the transactions file holds the orders)": 1}


def test_a_ticket_without_a_type_in_a_tickets_export_is_a_support_ticket(tmp_path):
    """Zendesk's and Freshdesk's ``Type`` is optional: a ticket left without one is still a
    ticket where the column's other values are tickets, said in the report; in another events
    file a blank type stays a row without a type (quarantined)."""
    tickets = (
        "Email,Type,Created time\n"
        "ana@example.com,question,2024-03-05 10:00:00\n"
        "ben@example.com,,2024-03-06 10:00:00\n"
        "ben@example.com,complaint,2024-03-07 10:00:00\n"
    )
    events, report = _ingest(
        tmp_path / "desk", tickets, "events.customer_email=Email,event_type=Type"
    )
    assert events["event_type"].tolist() == ["support_ticket", "support_ticket", "complaint"]
    assert "1 ticket" in report.formats["ticket types"]
    feed = tickets.replace("question", "Page View").replace("complaint", "Login")
    events, report = _ingest(tmp_path / "feed", feed, "events.customer_email=Email,event_type=Type")
    assert events["event_type"].tolist() == ["visit", "login"]
    assert report.reasons == {"missing event_type": 1}


NPS = (
    "Response ID,Email,Score,Comment,Created At\n"
    "1,ana@example.com,9,great,2024-03-05 10:00:00\n"
    "2,ben@example.com,3,slow delivery,2024-03-06 10:00:00\n"
    "3,ben@example.com,,,2024-03-07 10:00:00\n"
)


def test_an_nps_export_s_score_is_the_survey_value(tmp_path):
    """An NPS tool's ``Score`` (Delighted, Wootric) is the survey's value without a map, its
    scale said in the report; unread, every customer's satisfaction_mean_180d was empty. Its
    0-10 is put on the contract's 1-5 (9 -> 4.6, 3 -> 2.2; before, stored as given)."""
    events, report = _ingest(tmp_path, NPS, "events.customer_email=Email,event_type==survey")
    assert events["value"].tolist()[:2] == [4.6, 2.2]
    assert pd.isna(events["value"].iloc[2])
    assert "'Score'" in report.formats["survey scores"]
    assert "0-10" in report.formats["survey scores"]
    features = feature_table(connect(tmp_path / "out"), "2024-04-01").to_pandas()
    mean = features.set_index("customer_id")["satisfaction_mean_180d"]
    assert mean.to_dict() == {"1": 4.6, "2": 2.2}


def test_a_score_column_beside_other_events_is_named_not_read(tmp_path):
    """A ``Rating`` on rows that are not surveys is no survey's score: not read, and the survey
    rows' warning names the column and the map to give."""
    rated = NPS.replace("Score", "Rating").replace("Response ID", "Type")
    rated = rated.replace("\n1,", "\nSurvey,").replace("\n2,", "\nVisit,").replace("\n3,", "\nNPS,")
    events, report = _ingest(tmp_path, rated, "events.customer_email=Email,event_type=Type")
    assert "value" not in events or events["value"].isna().all()
    assert any('--map "events.value=Rating"' in w for w in report.warnings)


def test_a_zendesk_ticket_tagged_complaint_is_a_complaint(tmp_path):
    """Zendesk's types hold no complaint, so teams tag them (``Tags``: space-separated): such a
    ticket is a complaint, counted in the report with the column; elsewhere tags change nothing.
    Before: every tagged complaint counted as a support ticket."""
    tickets = (
        "Requester email,Type,Tags,Created at\n"
        "ana@example.com,incident,billing complaint urgent,2024-03-05 10:00:00\n"
        "ben@example.com,question,web vip,2024-03-06 10:00:00\n"
        "ben@example.com,,customer_complaint,2024-03-07 10:00:00\n"
    )
    events, report = _ingest(
        tmp_path / "desk", tickets, "events.customer_email=Requester email,event_type=Type"
    )
    assert events["event_type"].tolist() == ["complaint", "support_ticket", "complaint"]
    assert report.formats["complaint tags"].startswith("2 tickets tagged as complaints in 'Tags'")
    feed = tickets.replace("incident", "Page View").replace("question", "Login")
    events, _ = _ingest(
        tmp_path / "feed", feed, "events.customer_email=Requester email,event_type=Type"
    )
    assert events["event_type"].tolist() == ["visit", "login"]


def test_an_events_file_with_created_at_and_timestamp_reads_created_at_as_before(tmp_path):
    """``Timestamp`` is an event's time only where no ``Created At`` is (a file with both was read
    by ``Created At`` before the engagement tools' names, and still is: not refused as two)."""
    events, _ = _ingest(
        tmp_path,
        "Email,Event,Created At,Timestamp\n"
        "ana@example.com,Opened Email,2024-03-05 10:00:00,1709632800\n",
        "events.customer_email=Email,event_type=Event",
    )
    assert events["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 10:00:00")]


def test_a_typeform_export_is_read_by_its_submit_date(tmp_path):
    """Typeform's responses export names its time ``Submit Date (UTC)`` beside ``Start Date
    (UTC)``: the submission is the survey's time."""
    events, _ = _ingest(
        tmp_path,
        "#,How likely are you to recommend us?,Email,Start Date (UTC),Submit Date (UTC)\n"
        "r1,9,ana@example.com,2024-03-05 09:58:00,2024-03-05 10:00:00\n",
        "events.customer_email=Email,event_type==survey",
    )
    assert events["occurred_at"].tolist() == [pd.Timestamp("2024-03-05 10:00:00")]


def test_a_comma_separated_tag_is_read_whole(tmp_path):
    """Freshdesk's and Intercom's tags are separated by commas and may hold spaces: the tag
    ``not a complaint`` is no complaint tag (split on spaces, its word ``complaint`` made the
    ticket one); Zendesk's space-separated tags are still read word by word."""
    tickets = (
        "Requester email,Type,Tags,Created at\n"
        '"ana@example.com",Question,"not a complaint, billing",2024-03-05 10:00:00\n'
        '"ben@example.com",Incident,"Complaint, late delivery",2024-03-06 10:00:00\n'
    )
    events, _ = _ingest(tmp_path, tickets, "events.customer_email=Requester email,event_type=Type")
    assert events["event_type"].tolist() == ["support_ticket", "complaint"]


def test_a_refund_beside_a_feed_s_unmatched_events_is_set_aside(tmp_path):
    """A ``Refund`` is a help desk's ticket only where every other type of the column is a ticket
    or complaint: beside a feed's own events that match no contract type (and land in other), it
    is the refund the transactions file holds, set aside."""
    events, report = _ingest(
        tmp_path,
        "Email,Event,Timestamp\n"
        "ana@example.com,Support Ticket,2024-03-01 10:00\n"
        "ben@example.com,Refund,2024-03-02 10:00\n"
        "ana@example.com,Level Up,2024-03-03 10:00\n"
        "ben@example.com,Level Up,2024-03-04 10:00\n",
        "events.customer_email=Email,event_type=Event",
    )
    assert events["event_type"].tolist() == ["support_ticket", "other", "other"]
    assert report.reasons == {"a purchase or refund (the transactions file holds the orders)": 1}


def test_a_refund_among_tickets_only_is_still_a_ticket(tmp_path):
    events, report = _ingest(
        tmp_path,
        "Email,Event,Timestamp\n"
        "ana@example.com,Support Ticket,2024-03-01 10:00\n"
        "ben@example.com,Refund,2024-03-02 10:00\n",
        "events.customer_email=Email,event_type=Event",
    )
    assert events["event_type"].tolist() == ["support_ticket", "support_ticket"]
    assert report.reasons == {}


def test_an_unsubscribe_is_set_aside_and_a_spam_mark_is_a_complaint(tmp_path):
    """A newsletter tool's unsubscribes and spam marks (Klaviyo's ``Unsubscribed`` and ``Marked
    Email as Spam``) are no engagement of an unnamed kind: an unsubscribe is an opt-out of e-mail,
    set aside and warned of; a spam mark is the customer's complaint."""
    events, report = _ingest(
        tmp_path,
        "Email,Metric Name,Timestamp\n"
        "ana@example.com,Opened Email,2024-03-05 10:00:00\n"
        "ana@example.com,Unsubscribed,2024-03-06 10:00:00\n"
        "ben@example.com,Marked Email as Spam,2024-03-07 10:00:00\n"
        "ben@example.com,Clicked Email,2024-03-08 10:00:00\n",
        "events.customer_email=Email,event_type=Metric Name",
    )
    assert events["event_type"].tolist() == ["email_open", "complaint", "email_click"]
    assert report.unmapped == []
    assert sum(n for why, n in report.reasons.items() if "unsubscribe" in why) == 1
    assert any("'Unsubscribed'" in w and "do_not_email" in w for w in report.warnings)
    assert report.accepted == 3
