"""The service's compact score columns give the records ``score_records`` gives, row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from service_fixtures import batch_scores, trained_store  # noqa: F401 (fixtures)

from serving.score_table import ScoreTable
from serving.scoring import score_records


def test_every_row_is_the_record_score_records_gives(batch_scores):  # noqa: F811
    scores = batch_scores.copy()
    scores.loc[scores.index[:3], "reasons"] = pd.Series([[], ["one"], ["a; b", "c"]]).values
    table, records = ScoreTable(scores), score_records(scores)
    assert len(table) == len(records) > 100
    assert list(table) == records  # iteration, in blocks
    assert table[-1] == records[-1] and table[2:5] == records[2:5]
    rows = [5, 0, 5, len(records) - 1]
    assert table.records(rows) == [records[i] for i in rows]
    assert [r["reasons"] for r in table.records([0, 1, 2])] == [[], ["one"], ["a; b", "c"]]
    with pytest.raises(IndexError):
        table[len(records)]
    churn = pd.to_numeric(pd.Series(table.column("churn_probability"))).to_numpy(float)
    np.testing.assert_array_equal(churn, scores["churn_probability"].to_numpy(float))


def test_columns_as_the_service_scores_them_a_date_for_every_row():
    columns = {
        "customer_id": ["a", "b"],
        "as_of": pd.Timestamp("2025-12-31"),  # one value for all, as score_columns gives it
        "stage": np.array(["new", "mature"], dtype=object),
        "churn_probability": np.array([np.nan, 0.25]),
        "reasons": [["first purchase 3 days ago"], []],
        "saved_value_by_action": [None, '{"call": 12.5}'],
        "uplift_model_version": [None, None],
    }
    assert ScoreTable(columns).records([0, 1]) == score_records(
        {**columns, "as_of": [columns["as_of"]] * 2}
    )


def test_reasons_a_joined_string_would_not_give_back_are_kept_as_they_are():
    """An empty reason read back as no reason ([""] -> []), a reason holding the separator as
    two; both are the records score_records gives."""
    columns = {
        "customer_id": ["a", "b", "c", "d"],
        "reasons": [[""], ["one\x1ftwo"], ["x", ""], ["plain", "two"]],
    }
    assert ScoreTable(columns).records([0, 1, 2, 3]) == score_records(columns)


def test_an_id_twice_in_one_request_gets_its_score_twice_in_order(trained_store, batch_scores):  # noqa: F811
    """``score_ids`` builds the records of the known ids at once and hands them out in order:
    a repeated id and an unknown one between must not shift them."""
    from service_fixtures import PROJECT

    from serving.scorer import Scorer, Settings

    scorer = Scorer.from_settings(
        Settings(trained_store.snapshot, trained_store.tracking_uri, PROJECT)
    )
    a, b = batch_scores["customer_id"].iloc[:2]
    results = scorer.score_ids([a, "nobody", a, b, a])
    assert [r.score.customer_id if r.score else None for r in results] == [a, None, a, b, a]
    assert results[0].score == results[2].score == results[4].score
    assert results[1].error and "unknown customer_id" in results[1].error


def test_an_id_ingest_quarantined_is_named_so_not_only_unknown(trained_store, batch_scores):  # noqa: F811
    """A CRM contact whose record ingest set aside (a blank created date) is not in the snapshot;
    the service says why, from the quarantine of the data the scores came from."""
    from service_fixtures import PROJECT

    from serving.scorer import Scorer, Settings

    scorer = Scorer.from_settings(
        Settings(trained_store.snapshot, trained_store.tracking_uri, PROJECT)
    )
    scorer.quarantined = {"z-9": "missing signup_at (contacts.csv line 12)"}
    quarantined, unknown = scorer.score_ids(["z-9", "nobody"])
    assert quarantined.error and quarantined.error.endswith(
        "; ingest quarantined its record: missing signup_at (contacts.csv line 12)"
    )
    assert unknown.error and "quarantined" not in unknown.error


def test_a_salesforce_id_in_its_other_form_finds_its_customer(trained_store):  # noqa: F811
    """A Flow or Apex sends 18-character ids, a report 15: the service finds the record stored
    in either form (the 18 encode the case of the 15), not a case-different one."""
    import pandas as pd
    from service_fixtures import PROJECT

    from serving.batch import load_champions
    from serving.scorer import Scorer

    snapshot = pd.read_parquet(trained_store.snapshot)
    ids = snapshot["customer_id"].astype(str).tolist()
    ids[0], ids[1] = "001A0000006Vm9rIAC", "0015g00000OhbVr"
    scorer = Scorer(
        load_champions(trained_store.tracking_uri, PROJECT),
        snapshot=snapshot.assign(customer_id=ids),
    )
    short, long, other = scorer.score_ids(
        ["001A0000006Vm9r", "0015g00000OhbVrAAJ", "001a0000006Vm9r"]
    )
    assert short.score is not None and short.score.customer_id == "001A0000006Vm9rIAC"
    assert long.score is not None and long.score.customer_id == "0015g00000OhbVr"
    assert other.score is None and other.error and "unknown customer_id" in other.error
