"""Survey scores of several tools (an NPS 0-10, a CSAT 1-5, a percentage, Zendesk's good/bad) are
put on the contract's 1-5 before they are stored, so that satisfaction_mean_180d averages one
scale: before, a customer answering only the CSAT looked half as satisfied as one answering the
NPS."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.ingest_tables import TableReport
from features.mapping import IngestError, load_mapping
from features.snapshots import connect, feature_table
from features.synthetic import generate

CUSTOMERS = (
    "Customer ID,Email,Created At\n1,ana@example.com,2023-01-02\n2,ben@example.com,2023-02-03\n"
)
ORDERS = "customer_id,ordered_at,amount\n1,2024-01-05,100\n2,2024-02-05,90\n"
MAP = "columns: {customers.customer_email: Email, events.customer_email: Email}\n"
NPS = (
    "Email,Score,Created At\n"
    "ana@example.com,10,2024-03-05 10:00:00\n"
    "ben@example.com,0,2024-03-06 11:00:00\n"
)
CSAT = (
    "Email,Rating,Created At\n"
    "ana@example.com,5,2024-03-07 10:00:00\n"
    "ben@example.com,1,2024-03-08 11:00:00\n"
)


def _quiet(*_args, **_kwargs) -> None:
    pass


def _ingest(
    tmp_path: Path, files: dict[str, str], sections: str = "", map_file: str = MAP
) -> tuple[pd.DataFrame, TableReport]:
    """The events table and report of ``files`` (name -> text), each read as surveys unless
    ``sections`` (the map file's ``files:`` entries) says otherwise."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    given = sections or "".join(
        f"  {name}: {{columns: {{event_type: '=survey'}}}}\n" for name in files
    )
    (tmp_path / "map.yaml").write_text(f"{map_file}files:\n{given}")
    reports = ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        load_mapping(None, tmp_path / "map.yaml"),
        customers=tmp_path / "customers.csv",
        events=[tmp_path / name for name in files],
        log=_quiet,
    )
    return pd.read_parquet(table_path(tmp_path / "out", "events")), reports["events"]


def _satisfaction(tmp_path: Path) -> dict[str, float]:
    features = feature_table(connect(tmp_path / "out"), "2024-04-01").to_pandas()
    return features.set_index("customer_id")["satisfaction_mean_180d"].to_dict()


def test_an_nps_and_a_csat_file_are_averaged_on_one_scale(tmp_path):
    """The happiest customer scores 10 and 5, the unhappiest 0 and 1: both files' ends are the
    contract's 5 and 1 (before: means 7.5 and 0.5, below the scale's bottom)."""
    events, report = _ingest(tmp_path, {"nps.csv": NPS, "csat.csv": CSAT})
    assert sorted(events["value"]) == [1.0, 1.0, 5.0, 5.0]
    assert _satisfaction(tmp_path) == {"1": 5.0, "2": 1.0}
    said = report.formats["survey scores"]
    assert "'Score'" in said and "0-10 scale" in said and "1 + 4 x score / 10" in said
    assert "'Rating'" in said and "kept as given" in said


def test_a_declared_scale_wins_and_scores_outside_it_are_quarantined(tmp_path):
    """``survey_scale: 1-5`` for a file: its 7 is outside, quarantined with a reason (not clipped
    to 5); a 0-100 score (declared) is a percentage."""
    csat = CSAT.replace(",1,", ",7,")
    percent = "Email,Score,Created At\nana@example.com,75,2024-03-09 10:00:00\n"
    sections = (
        "  csat.csv: {columns: {event_type: '=survey'}, survey_scale: 1-5}\n"
        "  percent.csv: {columns: {event_type: '=survey'}, survey_scale: 0-100}\n"
    )
    events, report = _ingest(tmp_path, {"csat.csv": csat, "percent.csv": percent}, sections)
    assert report.reasons == {"survey score outside the file's 1-5 scale": 1}
    assert sorted(events["value"]) == [4.0, 5.0]
    assert "declared by the map file" in report.formats["survey scores"]


def test_an_unknown_scale_is_refused_naming_the_key(tmp_path):
    (tmp_path / "map.yaml").write_text("survey_scale: 0-7\n")
    with pytest.raises(IngestError, match="survey_scale: unknown scale '0-7'"):
        load_mapping(None, tmp_path / "map.yaml")


def test_an_nps_column_of_1_to_5_scores_is_read_as_nps_and_warned(tmp_path):
    """A column named ``NPS`` is 0-10 by its name; all its scores 1-5 may be a 1-5 rating: a
    warning says so and how to declare it."""
    nps = CSAT.replace("Rating", "NPS")
    events, report = _ingest(tmp_path, {"nps.csv": nps})
    assert sorted(events["value"]) == [1.4, 3.0]
    assert any("'NPS' are 1 to 5" in w and "survey_scale: 1-5" in w for w in report.warnings)


def test_zendesk_satisfaction_words_are_scores_and_offered_is_none(tmp_path):
    """Zendesk's ``Satisfaction`` good/bad are the scale's ends; ``offered``/``unoffered`` (no
    answer) are no score, the rows kept."""
    zendesk = (
        "Email,Satisfaction,Created At\nana@example.com,Good,2024-03-05 10:00:00\n"
        "ben@example.com,bad,2024-03-06 10:00:00\nben@example.com,Offered,2024-03-07 10:00:00\n"
        "ana@example.com,Unoffered,2024-03-08 10:00:00\n"
    )
    events, report = _ingest(tmp_path, {"zendesk.csv": zendesk})
    assert events["value"].tolist()[:2] == [5.0, 1.0]
    assert events["value"].iloc[2:].isna().all() and report.accepted == 4
    assert _satisfaction(tmp_path) == {"1": 5.0, "2": 1.0}


def test_a_conversation_rating_is_a_1_to_5_score(tmp_path):
    """Intercom's ``Conversation rating`` read as a survey's 1-5 score; on conversations (tickets)
    each rating is a survey event besides its ticket (features.ticket_ratings)."""
    rated = CSAT.replace("Rating", "Conversation rating").replace(",1,", ",3,")
    events, _ = _ingest(tmp_path / "surveys", {"ratings.csv": rated})
    assert sorted(events["value"]) == [3.0, 5.0]
    tickets = "  ratings.csv: {columns: {event_type: '=support_ticket'}}\n"
    events, report = _ingest(tmp_path / "tickets", {"ratings.csv": rated}, tickets)
    assert sorted(events.loc[events["event_type"] == "survey", "value"]) == [3.0, 5.0]
    assert report.derived_events == {"survey": 2}


def test_synthetic_surveys_on_the_contract_scale_are_stored_unchanged(tmp_path):
    """The generator's 1-5 scores written to a CSV and ingested are stored as they were."""
    generate(tmp_path / "syn", 300, seed=5, chunk_size=300, progress=False)
    stored = pd.read_parquet(table_path(tmp_path / "syn", "events"))
    surveys = stored[stored["event_type"] == "survey"].head(400)
    ids = surveys["customer_id"].drop_duplicates()
    (tmp_path / "customers.csv").write_text(
        "customer_id,signup_at\n" + "".join(f"{i},2015-01-01\n" for i in ids)
    )
    (tmp_path / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n" + "".join(f"{i},2016-01-05,10\n" for i in ids)
    )
    surveys[["customer_id", "occurred_at", "event_type", "value"]].to_csv(
        tmp_path / "events.csv", index=False
    )
    reports = ingest(
        tmp_path / "out",
        tmp_path / "orders.csv",
        load_mapping(None),
        customers=tmp_path / "customers.csv",
        events=tmp_path / "events.csv",
        log=_quiet,
    )
    read = pd.read_parquet(table_path(tmp_path / "out", "events"))
    assert reports["events"].accepted == len(surveys)
    assert np.array_equal(
        read.sort_values(["customer_id", "occurred_at"])["value"].to_numpy(),
        surveys.sort_values(["customer_id", "occurred_at"])["value"].to_numpy(),
    )
    assert "kept as given" in reports["events"].formats["survey scores"]


def test_a_survey_file_without_scores_is_read_without_a_scale(tmp_path):
    """Empty input: a survey file whose score column is blank stores its rows, no scale said."""
    events, report = _ingest(tmp_path, {"nps.csv": NPS.replace(",10,", ",,").replace(",0,", ",,")})
    assert len(events) == 2 and "survey scores" not in report.formats


def test_nps_and_csat_surveys_of_one_crm_file_each_take_their_scale(tmp_path):
    """A CRM's activities typed ``NPS`` and ``CSAT`` share one ``Score``: the NPS rows' 0-10 and
    the CSAT rows' 1-5 are each put on 1-5 (before: one file, one scale, averaged as given)."""
    activities = (
        "Email,Type,Score,Created At\n"
        "ana@example.com,NPS,9,2024-03-05 10:00:00\n"
        "ana@example.com,CSAT,4,2024-03-06 10:00:00\n"
        "ben@example.com,Web Visit,,2024-03-07 10:00:00\n"
    )
    sections = "  crm.csv: {columns: {event_type: Type, value: Score}}\n"
    events, report = _ingest(tmp_path, {"crm.csv": activities}, sections)
    assert events["value"].tolist()[:2] == [4.6, 4.0]
    said = report.formats["survey scores"]
    assert "on NPS surveys" in said and "on CSAT surveys" in said


def test_a_tickets_export_s_satisfaction_counts_the_rated_tickets(tmp_path):
    """Zendesk's tickets export: ``Satisfaction Score`` on tickets is no survey row; the rated
    tickets, not those only ``Offered``, each add a survey event (features.ticket_ratings)."""
    tickets = (
        "Email,Satisfaction Score,Created At\nana@example.com,Good,2024-03-05 10:00:00\n"
        "ben@example.com,Offered,2024-03-06 10:00:00\nben@example.com,Bad,2024-03-07 10:00:00\n"
    )
    sections = "  tickets.csv: {columns: {event_type: '=support_ticket'}}\n"
    events, report = _ingest(tmp_path, {"tickets.csv": tickets}, sections)
    assert (events["event_type"] == "support_ticket").sum() == 3 and report.rows_read == 3
    assert (
        "2 survey events from the ratings in 'Satisfaction Score'"
        in (report.formats["ticket ratings"])
    )


def test_a_ces_column_of_1_to_7_scores_is_a_7_point_scale(tmp_path):
    """A Customer Effort Score is 1-7 (CES 2.0: 7 is 'strongly agree it was easy') or 1-5: a
    column named CES whose scores reach 6 or 7 is on the 1-7 scale, its 7 the contract's 5 and
    its 4 the middle (before: read as 0-10 by the range, 7 stored as 3.8, 1 as 1.4)."""
    ces = (
        "Email,Customer Effort Score,Created At\nana@example.com,7,2024-03-05 10:00:00\n"
        "ben@example.com,1,2024-03-06 11:00:00\nben@example.com,4,2024-03-07 11:00:00\n"
    )
    events, report = _ingest(tmp_path / "seven", {"ces.csv": ces})
    assert sorted(events["value"]) == [1.0, 3.0, 5.0]
    assert "a 1-7 scale (CES" in report.formats["survey scores"]
    five = ces.replace("Customer Effort Score", "CES").replace(",7,", ",5,")
    events, report = _ingest(tmp_path / "five", {"ces.csv": five})
    assert sorted(events["value"]) == [1.0, 4.0, 5.0]
    assert "a 1-5 scale (CES" in report.formats["survey scores"]


def test_a_column_of_rating_words_only_says_no_empty_range(tmp_path):
    """Zendesk's good/bad in a column named CSAT (a 1-5 scale by its name): the report says the
    words read, not '0 scores from nan to nan'."""
    zendesk = (
        "Email,CSAT,Created At\nana@example.com,good,2024-03-05 10:00:00\n"
        "ben@example.com,bad,2024-03-06 10:00:00\n"
    )
    events, report = _ingest(tmp_path, {"zendesk.csv": zendesk})
    assert sorted(events["value"]) == [1.0, 5.0]
    assert report.formats["survey scores"] == "2 rating words in 'CSAT' read as 1-5"
