"""Customers who ended the relationship (``customers.ended_at``): ingest, features, labels,
training rows and scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import table_path
from features.endings import (
    ENDED_DAYS,
    ENDS_IN_DAYS,
    SETTLEMENT_SLACK_DAYS,
    ended_days,
    ends,
    ends_within,
    settlement_days,
)
from features.ingest import ingest
from features.mapping import load_mapping
from features.values import ANOTHER_SUBSCRIPTION
from serving.config import ScoringConfig
from serving.scoring import score_frame, summarise

#: The map of the members (id, joined, end) and payments (id, day, amount) files below.
MEMBERS_MAP = "customer_id=id,signup_at=joined,ended_at=end,ordered_at=day,amount=amount"


def _ingested(tmp_path: Path, members: str, pay: str, **options) -> Path:
    """A contract directory of a members file and a payments file (``MEMBERS_MAP``)."""
    (tmp_path / "members.csv").write_text(members)
    (tmp_path / "pay.csv").write_text(pay)
    data = tmp_path / "data"
    ingest(
        data,
        customers=tmp_path / "members.csv",
        transactions=tmp_path / "pay.csv",
        mapping=load_mapping(MEMBERS_MAP),
        log=lambda _: None,
        **options,
    )
    return data


def _frame(data: Path, cutoff: str, with_labels: bool) -> pd.DataFrame:
    """``training.dataset.build_frame`` at one cutoff, 60-day horizons."""
    from training.config import ExperimentConfig
    from training.dataset import build_frame

    return build_frame(
        data,
        [pd.Timestamp(cutoff).date()],
        ExperimentConfig(name="ends"),
        churn_horizon_days=60,
        value_horizon_days=60,
        with_labels=with_labels,
        progress=False,
    )


def _rows(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_ended_by_the_cutoff_unless_they_came_back() -> None:
    ended_at = ends(
        _rows(
            customer_id=["gone", "back", "later", "active", "same_day"],
            ended_at=pd.to_datetime(
                [
                    "2025-03-01 00:00",
                    "2025-01-01 00:00",
                    "2025-05-01 00:00",
                    None,
                    "2025-03-20 18:00",
                ]
            ),
        )
    )
    frame = _rows(
        customer_id=["gone", "back", "later", "active", "same_day", "unknown", "gone"],
        cutoff=pd.to_datetime(["2025-04-01"] * 6 + ["2025-03-20"]),
        # last purchase: gone 2025-02-15, back 2025-03-02 (after its end), same_day on the end's
        # day; gone again at 03-20 with a failed debit retried 2025-03-10, 9 days after its end
        recency_days=[45.0, 30.0, 10.0, 5.0, 12.0, 3.0, 10.0],
        # two purchase days each: no cycle before the end, the window is SETTLEMENT_DAYS
        age_days=[100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 90.0],
        orders_all=[2, 2, 2, 2, 2, 2, 2],
    )
    days = ended_days(frame, ended_at)
    assert days[0] == 31.0
    assert np.isnan(days[1:4]).all()  # came back; ends after the cutoff; no end
    assert days[4] == pytest.approx(11.25)  # a last payment on the end's day is before the end
    assert np.isnan(days[5])
    assert days[6] == 19.0  # a payment within SETTLEMENT_DAYS settles the last bill
    # labels: an end within [cutoff, cutoff + H) is churn, even with purchases in the window
    assert ends_within(frame, ended_at, 30).tolist() == [False] * 7
    assert ends_within(frame, ended_at, 31).tolist() == [False, False, True] + [False] * 4


def _after_the_end(cycle: int, purchases: int, last_after: int) -> pd.DataFrame:
    """One row at 2025-06-01 of a customer who bought every ``cycle`` days (``purchases`` purchase
    days), ended on 2025-01-01, the day after the last of them, and bought ``last_after`` days
    after the end."""
    end = pd.Timestamp("2025-01-01")
    first = end - pd.Timedelta(days=1 + cycle * (purchases - 1))
    last = end + pd.Timedelta(days=last_after)
    cutoff = pd.Timestamp("2025-06-01")
    return _rows(
        customer_id=["c"],
        cutoff=[cutoff],
        recency_days=[float((cutoff - last).days)],
        age_days=[float((cutoff - first).days)],
        orders_all=[purchases + 1],
    )


@pytest.mark.parametrize(
    ("cycle", "purchases", "last_after", "ended"),
    [
        (30, 12, 25, True),  # a monthly account's final bill, billed in arrears: no return
        (30, 12, 36, True),  # a cycle and the slack after the end: still the final bill
        (30, 12, 90, False),  # a gym member rejoining three months later is back
        (30, 12, 46, False),  # beyond MAX_SETTLEMENT_DAYS whatever the cycle
        (91, 4, 50, False),  # a quarterly customer's window is capped too
        (7, 20, 20, False),  # a weekly buyer 20 days after the end: three of their cycles
        (7, 20, 10, True),  # within SETTLEMENT_DAYS: a failed debit retried
        (30, 1, 25, False),  # one purchase before the end: no cycle known, 14 days
    ],
)
def test_the_settlement_window_is_the_customers_own_cycle(
    cycle: int, purchases: int, last_after: int, ended: bool
) -> None:
    ended_at = ends(_rows(customer_id=["c"], ended_at=pd.to_datetime(["2025-01-01"])))
    days = ended_days(_after_the_end(cycle, purchases, last_after), ended_at)
    assert (days[0] == 151.0) if ended else np.isnan(days[0])


def test_the_purchase_judged_does_not_set_its_own_window() -> None:
    """A shop customer who bought twice a week apart, whose account closed, and who bought
    again 40 days later is back: the cycle is read up to the end (8 days from the first purchase
    day to the end's), not over the last purchase (whose 40 days would make a 45-day window)."""
    ended_at = ends(_rows(customer_id=["c"], ended_at=pd.to_datetime(["2025-01-01"])))
    frame = _after_the_end(cycle=7, purchases=2, last_after=40)
    assert settlement_days(frame, ended_at)[0] == 8 + SETTLEMENT_SLACK_DAYS
    assert np.isnan(ended_days(frame, ended_at)[0])


def test_without_the_column_nobody_has_ended() -> None:
    frame = _rows(customer_id=["a"], cutoff=pd.to_datetime(["2025-04-01"]), recency_days=[3.0])
    assert ends(_rows(customer_id=["a"])).empty
    assert np.isnan(ended_days(frame, ends(_rows(customer_id=["a"])))).all()


def test_ingest_reads_an_end_date_and_keeps_blank_and_placeholder_ends(tmp_path: Path) -> None:
    members = tmp_path / "members.csv"
    members.write_text(
        "Member ID,Join Date,Cancellation Date\n"
        "M1,2024-01-05,\n"
        "M2,2024-02-01,2025-03-31\n"
        "M3,2024-03-01,9999-12-31\n"
        "M4,2024-04-01,soon\n"
        "M5,2024-05-01,2024-01-01\n"
        "M6,2024-06-01,2099-12-31\n"
    )
    pay = tmp_path / "pay.csv"
    pay.write_text("Member ID,Date,Amount\nM1,2024-01-05,40\nM2,2024-02-01,40\n")
    out = tmp_path / "out"
    lines: list[str] = []
    ingest(
        out,
        customers=members,
        transactions=pay,
        mapping=load_mapping(
            "customer_id=Member ID,signup_at=Join Date,ended_at=Cancellation Date,"
            "ordered_at=Date,amount=Amount"
        ),
        log=lines.append,
    )
    customers = pd.read_parquet(out / "customers.parquet").set_index("customer_id")
    assert customers.loc["M2", "ended_at"] == pd.Timestamp("2025-03-31")
    assert pd.isna(customers.loc["M1", "ended_at"]) and pd.isna(customers.loc["M3", "ended_at"])
    assert customers.loc["M6", "ended_at"] == pd.Timestamp("2099-12-31")  # notice: end ahead
    # a word and an end before the signup (an earlier membership's) are no end: the member and
    # their payments stay (quarantined, they took every payment with them)
    assert customers.index.tolist() == ["M1", "M2", "M3", "M4", "M5", "M6"]
    assert customers.loc[["M4", "M5"], "ended_at"].isna().all()
    text = "\n".join(lines)
    assert (
        "ended_at: 2 rows with an end date; read as no end (still a customer): 1 placeholder "
        "date(s) such as 9999-12-31; 1 value(s) that are no date ('soon' x 1); 1 end(s) before "
        "the customer's signup" in text
    )


def test_an_ended_customer_is_scored_churned_with_nothing_at_risk() -> None:
    from test_value import feature_rows  # the scoring tests' steady customer

    base = {**feature_rows().iloc[0].to_dict(), "cutoff": pd.Timestamp("2025-04-01")}
    rows = pd.DataFrame(
        [
            {**base, "customer_id": "active", ENDED_DAYS: math.nan},
            {**base, "customer_id": "cancelled", ENDED_DAYS: 20.0},
        ]
    )
    scores = score_frame(
        rows, [0.1, 0.1], [200.0, 200.0], None, ScoringConfig(), "2025-04-01", "c:1", "v:1"
    )
    active, cancelled = scores.to_dict("records")
    assert active["stage"] == "mature" and active["priority_score"] > 0
    assert cancelled["stage"] == "churned"
    assert cancelled["churn_probability"] == 1.0 and cancelled["predicted_value"] == 0.0
    assert cancelled["value_at_risk"] == 0.0 and cancelled["priority_tier"] == "P4"
    assert cancelled["recommended_action"].startswith("win_back.")
    assert cancelled["reasons"] == [
        "ended 20 days ago (on 2025-03-12); no value expected unless they come back"
    ]
    summary = summarise(scores)
    assert summary["customers_ended"] == 1
    assert summary["churn_probability"]["scored"] == 1  # the model's probabilities only


def test_a_trial_that_ended_unpaid_is_a_prospect_worth_nothing() -> None:
    """Training leaves ended prospects out, so their value is known: 0, not the live trials'."""
    from test_value import feature_rows  # the scoring tests' prospect

    base = {
        **feature_rows().iloc[2].to_dict(),
        "age_days": 700.0,
        "cutoff": pd.Timestamp("2025-04-01"),
    }
    rows = pd.DataFrame(
        [
            {**base, "customer_id": "in trial", "age_days": 5.0, ENDED_DAYS: math.nan},
            {**base, "customer_id": "lost trial", ENDED_DAYS: 680.0},
        ]
    )
    scores = score_frame(
        rows,
        [math.nan, math.nan],
        [1500.0, 1500.0],
        None,
        ScoringConfig(),
        "2025-04-01",
        "c:1",
        "v:1",
        value_range=(np.array([0.0, 0.0]), np.array([4000.0, 4000.0])),
    )
    trial, lost = scores.to_dict("records")
    assert trial["stage"] == lost["stage"] == "prospect"
    assert trial["predicted_value"] == 1500.0
    assert lost["predicted_value"] == lost["predicted_value_high"] == 0.0
    assert math.isnan(lost["churn_probability"])
    assert lost["reasons"][0].startswith("ended 680 days ago")


def test_training_rows_leave_out_the_ended_and_count_an_end_within_the_horizon_as_churn(
    tmp_path: Path,
) -> None:
    """Monthly payers: one cancelled before the cutoff (out of the rows), one gives notice and
    pays the notice month inside the horizon (churned by its end), one stays (retained)."""
    from training.dataset import ENDED_ROWS

    months = pd.date_range("2024-01-05", "2025-06-05", freq="MS") + pd.Timedelta(days=4)
    pays = {"stays": months, "notice": months[months < "2025-04-10"], "gone": months[:10]}
    tx = "\n".join(f"{c},{d.date()},40" for c, days in pays.items() for d in days)
    data = _ingested(
        tmp_path,
        "id,joined,end\nstays,2024-01-01,\nnotice,2024-01-01,2025-04-20\ngone,2024-01-01,2024-12-31\n",
        "id,day,amount\n" + tx + "\n",
    )
    frame = _frame(data, "2025-03-01", with_labels=True)
    assert frame.attrs[ENDED_ROWS] == 1
    labels = frame.set_index("customer_id")["churned"].to_dict()
    assert labels == {"stays": 0, "notice": 1}  # notice bought in the window, and ended in it
    assert frame[ENDED_DAYS].isna().all()
    scoring = _frame(data, "2025-03-01", with_labels=False).set_index("customer_id")
    assert scoring.loc["gone", ENDED_DAYS] == 60.0 and np.isnan(scoring.loc["stays", ENDED_DAYS])
    # `lifecycle features` labels count purchases only: said, as training counts ends (spark49)
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args = ["features", "--data", str(data), "--cutoff", "2025-03-01", "--out"]
    labelled = CliRunner().invoke(app, [*args, str(tmp_path / "f.parquet"), "--horizon-days", "60"])
    assert labelled.exit_code == 0, labelled.output
    assert "warning: 2 customers have an end (customers.ended_at); these labels" in labelled.stderr
    unlabelled = CliRunner().invoke(app, [*args, str(tmp_path / "g.parquet")])
    assert unlabelled.exit_code == 0 and "customers have an end" not in unlabelled.stderr


def test_a_final_bill_in_arrears_is_no_return_and_a_rejoin_is(tmp_path: Path) -> None:
    """Monthly accounts billed in arrears: a final bill 25 days after the closure settles the
    account (it stays ended, out of the training rows), a member who rejoins three months after
    the end is a customer again (a utility's 104 of 192 closed accounts were scored live, 12 of
    its 26 P1 customers, when a bill more than 14 days after the end was a return)."""
    from training.dataset import ENDED_ROWS

    months = pd.date_range("2024-01-05", periods=12, freq="MS") + pd.Timedelta(days=4)
    pays = {
        "final_bill": [*months, pd.Timestamp("2025-01-12")],  # closed 2024-12-18
        "rejoined": [*months, pd.Timestamp("2025-03-20")],  # ended 2024-12-18, back in March
        "stays": list(pd.date_range("2024-01-09", periods=16, freq="MS") + pd.Timedelta(days=8)),
    }
    tx = "\n".join(f"{c},{d.date()},40" for c, days in pays.items() for d in days)
    data = _ingested(
        tmp_path,
        "id,joined,end\nfinal_bill,2024-01-01,2024-12-18\nrejoined,2024-01-01,2024-12-18\n"
        "stays,2024-01-01,\n",
        "id,day,amount\n" + tx + "\n",
    )
    scoring = _frame(data, "2025-04-01", with_labels=False).set_index("customer_id")
    assert scoring.loc["final_bill", ENDED_DAYS] == 104.0
    assert scoring[ENDED_DAYS].drop("final_bill").isna().all()
    training = _frame(data, "2025-04-01", with_labels=True)
    assert training.attrs[ENDED_ROWS] == 1 and "final_bill" not in set(training["customer_id"])


def test_a_cancellation_date_column_left_unmapped_is_pointed_at(tmp_path: Path) -> None:
    members = tmp_path / "members.csv"
    members.write_text(
        "Member ID,Join Date,Late Cancels,Status,Cancellation Reason,Cancellation Date\n"
        "M1,2024-01-05,0,Active,,\nM2,2024-02-01,2,Cancelled,Moved away,2025-03-31\n"
    )
    pay = tmp_path / "pay.csv"
    pay.write_text("Member ID,Date,Amount\nM1,2024-01-05,40\nM2,2024-02-01,40\n")
    mapping = "customer_id=Member ID,signup_at=Join Date,ordered_at=Date,amount=Amount"
    report = ingest(
        tmp_path / "out",
        customers=members,
        transactions=pay,
        mapping=load_mapping(mapping),
        log=lambda _: None,
    )
    (said,) = [w for w in report["customers"].warnings if "ended" in w]
    assert said.startswith("'Cancellation Date' looks like the date customers ended")
    assert '--map "customers.ended_at=Cancellation Date"' in said
    mapped = ingest(
        tmp_path / "out",
        customers=members,
        transactions=pay,
        mapping=load_mapping(mapping + ",ended_at=Cancellation Date"),
        log=lambda _: None,
    )
    assert not [w for w in mapped["customers"].warnings if "looks like the date" in w]


def test_an_end_on_the_signup_day_is_no_end_before_the_signup(tmp_path: Path) -> None:
    """A date-only end on the day of a timed signup (joined 10:00, cancelled that day) is not
    before it: the member and their payment stay."""
    data = _ingested(
        tmp_path,
        "id,joined,end\nM1,2024-03-01 10:00,2024-03-01\nM2,2024-03-02,2024-03-01\n",
        "id,day,amount\nM1,2024-03-01,40\nM2,2024-03-02,40\n",
    )
    customers = pd.read_parquet(data / "customers.parquet")
    assert customers["customer_id"].tolist() == ["M1", "M2"]
    assert customers["ended_at"].iloc[0] == pd.Timestamp("2024-03-01")
    assert pd.isna(customers["ended_at"].iloc[1])  # the day before the signup: no end
    assert pd.read_parquet(data / "transactions.parquet")["customer_id"].tolist() == ["M1", "M2"]


def test_training_rows_get_the_btyd_features_scoring_gives_them(tmp_path: Path) -> None:
    """BG/NBD + Gamma-Gamma is fitted at a cutoff on the buyers who have not ended, in training
    as in scoring (which keeps the ended rows, scored by rule): a customer's BTYD inputs do not
    depend on whether the frame has labels (they differed by 64.8 in expected value on a gym)."""
    from training.dataset import BTYD_COLUMNS

    rng = np.random.default_rng(3)
    pay, members = ["id,day,amount"], ["id,joined,end"]
    for i in range(40):
        months = int(rng.integers(3, 17))
        days = pd.date_range("2024-01-05", periods=months, freq="30D")
        pay += [f"m{i},{d.date()},40" for d in days]
        gone = months < 12  # paid until their end
        members.append(
            f"m{i},2024-01-01,{(days[-1] + pd.Timedelta(days=30)).date() if gone else ''}"
        )
    data = _ingested(tmp_path, "\n".join(members) + "\n", "\n".join(pay) + "\n")
    built = {
        labels: _frame(data, "2025-01-01", with_labels=labels).set_index("customer_id")
        for labels in (True, False)
    }
    train, score = built[True], built[False]
    assert 0 < len(train) < len(score)  # the ended are out of the training rows only
    columns = [c for c in BTYD_COLUMNS if c in train.columns]
    pd.testing.assert_frame_equal(train[columns], score.loc[train.index, columns])


def test_monitoring_judges_the_models_on_the_customers_they_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ended (probability 1 by rule) are no model's score: drift and realized performance
    leave them out as the reference does (a gym's monitor raised a score-drift ALERT, psi 3.7,
    on the day of training, and read realized AUC 0.986 against 0.642)."""
    import serving.monitor as monitor
    from serving.scoring import scored_by_model

    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b", "gone", "prospect"],
            "churn_probability": [0.2, 0.7, 1.0, math.nan],
            "predicted_value": [10.0, 5.0, 0.0, 3.0],
        }
    )
    assert scored_by_model(scores).tolist() == [True, True, False, False]
    seen: dict[str, list] = {}

    def features_seen(reference, rows, cfg, as_of):
        seen["features"] = rows.index.tolist()
        return []

    def scores_seen(reference, rows, cfg):
        seen["scores"] = rows["customer_id"].tolist()
        return []

    monkeypatch.setattr(monitor, "input_drift", features_seen)
    monkeypatch.setattr(monitor, "score_drift", scores_seen)
    monitor.drift_report({}, scores[["customer_id"]], scores, None)  # type: ignore[arg-type]
    assert seen == {"features": ["a", "b"], "scores": ["a", "b"]}


def test_a_second_customers_file_without_end_dates_keeps_the_first_files_ends(
    tmp_path: Path,
) -> None:
    """The membership export with its cancellation dates, then a contact list without them: the
    list's records replace the members' and blanked every end, with nothing said."""
    members = tmp_path / "members.csv"
    members.write_text(
        "id,joined,end\nA1,2024-01-01,2024-06-30\nA2,2024-01-01,\nA3,2024-01-01,2024-08-31\n"
    )
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,joined\nA1,2024-01-01\nA3,2024-01-01\nB1,2024-02-01\n")
    pay = tmp_path / "pay.csv"
    pay.write_text("id,day,amount\nA1,2024-01-05,40\nA2,2024-01-05,40\nB1,2024-02-05,40\n")
    (tmp_path / "map.yaml").write_text(
        "columns: {customer_id: id, signup_at: joined, ordered_at: day, amount: amount}\n"
        "files:\n  members.csv: {columns: {customers.ended_at: end}}\n"
    )
    lines: list[str] = []
    ingest(
        tmp_path / "out",
        customers=[members, contacts],
        transactions=pay,
        mapping=load_mapping(map_file=tmp_path / "map.yaml"),
        log=lines.append,
    )
    ends = pd.read_parquet(tmp_path / "out" / "customers.parquet").set_index("customer_id")
    assert ends.loc["A1", "ended_at"] == pd.Timestamp("2024-06-30")
    assert ends.loc["A3", "ended_at"] == pd.Timestamp("2024-08-31")
    assert ends[["ended_at"]].loc[["A2", "B1"]].isna().all().all()
    assert any("end dates taken from the customers file that has the column" in x for x in lines), (
        lines
    )


def test_one_row_per_subscription_is_read_into_one_end_per_customer(tmp_path: Path) -> None:
    """A Stripe subscriptions export as the customers file: a customer who came back has an old
    cancelled subscription and a live one. The first row was kept with its end (before: unsaid,
    then a warning to reshape the file); now the customer's end is the one before their return and
    ``returned_at`` the return (blank for a customer never ended), the other row set aside (not
    judged by --min-accepted-share), said in the report."""
    data_members = "id,joined,end\nC1,2024-01-01,2024-06-30\nC1,2024-09-01,\nC2,2024-01-01,\n"
    (tmp_path / "members.csv").write_text(data_members)
    (tmp_path / "pay.csv").write_text("id,day,amount\nC1,2024-01-05,40\nC2,2024-01-05,40\n")
    report = ingest(
        tmp_path / "data",
        customers=tmp_path / "members.csv",
        transactions=tmp_path / "pay.csv",
        mapping=load_mapping(MEMBERS_MAP),
        log=lambda _: None,
    )
    said = report["customers"].formats["subscriptions"]
    assert said.startswith("1 customers on several rows") and "latest end" in said, said
    assert report["customers"].reasons == {ANOTHER_SUBSCRIPTION: 1}
    assert "1 came back after all theirs had ended" in said, said
    customers = pd.read_parquet(table_path(tmp_path / "data", "customers"))
    ends = customers.set_index("customer_id")["ended_at"]
    assert ends["C1"] == pd.Timestamp("2024-06-30") and pd.isna(ends["C2"])  # C1 came back
    returned = customers.set_index("customer_id")["returned_at"]
    assert returned["C1"] == pd.Timestamp("2024-09-01") and pd.isna(returned["C2"])
    assert customers.set_index("customer_id")["signup_at"]["C1"] == pd.Timestamp("2024-01-01")


def _monthly_members(tmp_path: Path, members: str) -> Path:
    """Members (``id,joined,end`` rows) who each pay 40 on the 5th of every month from February
    2024 to March 2025 (the data ends 2025-03-06), ingested."""
    months = pd.date_range("2024-01-05", "2025-03-05", freq="MS") + pd.Timedelta(days=4)
    ids = [line.split(",")[0] for line in members.splitlines() if line]
    tx = "\n".join(f"{c},{d.date()},40" for c in ids for d in months)
    return _ingested(tmp_path, "id,joined,end\n" + members, "id,day,amount\n" + tx + "\n")


def test_a_notice_given_is_read_when_scoring_at_the_datas_end(tmp_path: Path) -> None:
    """A member whose end is still ahead (a notice given, the export holds the date) is
    declining with the reason first when scoring at the data's end (a gym: 17 members under
    notice were P1 loyalty-referral calls); at an earlier date the notice is not read (it may
    not have been given yet), and training never reads it."""
    from serving.scoring import score_frame
    from training.dataset import data_bounds

    data = _monthly_members(tmp_path, "stays,2024-01-01,2099-12-31\nleaves,2024-01-01,2025-04-30\n")
    _, end = data_bounds(data)
    assert str(end) == "2025-03-06"
    now = _frame(data, str(end), with_labels=False).set_index("customer_id")
    assert now.loc["leaves", ENDS_IN_DAYS] == 55.0
    assert np.isnan(now.loc["stays", ENDS_IN_DAYS])  # 2099-12-31: an "open" date, no notice
    earlier = _frame(data, "2025-02-01", with_labels=False)
    assert earlier[ENDS_IN_DAYS].isna().all()
    rows = now.reset_index()
    scores = score_frame(
        rows, [0.1, 0.1], [200.0, 200.0], None, ScoringConfig(), str(end), "c:1", "v:1"
    ).set_index("customer_id")
    assert scores.loc["leaves", "stage"] == "declining" and scores.loc["stays", "stage"] != (
        "declining"
    )
    assert scores.loc["leaves", "reasons"][0] == "ends in 55 days (on 2025-04-30): notice given"


def test_a_notice_within_the_horizon_is_certain_churn_and_its_value_after_the_end_at_risk(
    tmp_path: Path,
) -> None:
    """Two members alike but one gave notice: the model's 0.1 for both put the leaver in P4
    beside the stayer (the save desk called last). Now the leaver's churn is the ended one, the
    value is what is paid until the end, and what would be paid after it is at risk; the model
    still scores the stayer, and the summary counts the notice apart from the ended."""
    from serving.scoring import score_frame, scored_by_model, summarise
    from training.priority import value_if_retained

    data = _monthly_members(tmp_path, "stays,2024-01-01,\nleaves,2024-01-01,2025-04-30\n")
    rows = _frame(data, "2025-03-06", with_labels=False)
    config = ScoringConfig.model_validate({"stages": {"churn_horizon_days": 90}})
    scores = score_frame(
        rows,
        [0.1, 0.1],
        [480.0, 480.0],
        None,
        config,
        "2025-03-06",
        "c:1",
        "v:1",
        value_range=([400.0, 400.0], [560.0, 560.0]),
        value_horizon_days=365,
    )
    scores = scores.set_index(rows["customer_id"].to_numpy())
    retained = value_if_retained([0.1], [480.0])[0]
    leaves, stays = scores.loc["leaves"], scores.loc["stays"]
    assert leaves["churn_probability"] == 1.0 and stays["churn_probability"] == 0.1
    assert leaves["predicted_value"] == pytest.approx(retained * 55 / 365)
    assert leaves["predicted_value_low"] == pytest.approx(400.0 * retained * 55 / 365 / 480.0)
    assert leaves["value_at_risk"] == pytest.approx(retained * 310 / 365)
    assert stays["value_at_risk"] == pytest.approx(0.1 * retained)
    assert leaves["priority_tier"] < stays["priority_tier"]  # P1 < P4: called first
    assert scored_by_model(scores.reset_index()).tolist() == [c == "stays" for c in scores.index]
    summary = summarise(scores.reset_index())
    assert summary["customers_under_notice"] == 1 and "customers_ended" not in summary


def test_a_notice_ending_after_the_churn_horizon_keeps_the_models_probability(
    tmp_path: Path,
) -> None:
    """An annual member ending in 200 days pays through a 90-day churn horizon: the model's
    probability stands, but the end within the value horizon still puts the rest at risk."""
    from serving.scoring import score_frame

    data = _monthly_members(tmp_path, "leaves,2024-01-01,2025-09-22\n")
    rows = _frame(data, "2025-03-06", with_labels=False)
    config = ScoringConfig.model_validate({"stages": {"churn_horizon_days": 90}})
    (score,) = score_frame(
        rows, [0.1], [480.0], None, config, "2025-03-06", "c:1", "v:1", value_horizon_days=365
    ).to_dict("records")
    assert score["churn_probability"] == 0.1 and score["stage"] == "declining"
    retained = 480.0 / 0.9
    assert score["predicted_value"] == pytest.approx(retained * 200 / 365)
    assert score["value_at_risk"] == pytest.approx(retained * 165 / 365)


def test_an_end_date_column_in_a_format_not_read_is_refused(tmp_path: Path) -> None:
    """Every end written '1st of March 2024': read as no end, each cancelled member was a
    customer (exit 0, an info line); words ('Active') beside the dates stay no end."""
    from features.mapping import IngestError

    pay = "id,day,amount\nA1,2024-01-05,40\nA2,2024-01-05,40\n"
    with pytest.raises(IngestError, match="'end' is not a usable date column"):
        _ingested(tmp_path, "id,joined,end\nA1,2024-01-01,1st of March 2024\nA2,2024-01-01,\n", pay)
    data = _ingested(
        tmp_path, "id,joined,end\nA1,2024-01-01,2024-03-01\nA2,2024-01-01,Active\n", pay
    )
    ends = pd.read_parquet(data / "customers.parquet").set_index("customer_id")["ended_at"]
    assert ends["A1"] == pd.Timestamp("2024-03-01") and pd.isna(ends["A2"])


def test_an_end_told_by_an_events_export_ends_the_customer_in_training_and_scoring(
    tmp_path: Path,
) -> None:
    """A Stripe account's charges and its events export, no customers file: the customer whose
    customer.subscription.deleted came on 2024-06-12 paid to the end and was scored as live
    (nothing ends a customer but a customers file); now their end is read from the event,
    while a customer who cancelled and subscribed again two months later is back."""
    from training.dataset import ENDED_ROWS

    months = pd.date_range("2024-01-12", periods=6, freq="MS") + pd.Timedelta(days=11)
    pays = {"gone": list(months), "back": [*months[:3], *months[5:]], "stays": list(months)}
    pays["back"] += list(pd.date_range("2024-07-12", periods=3, freq="MS") + pd.Timedelta(days=11))
    pays["stays"] += list(pd.date_range("2024-07-12", periods=3, freq="MS") + pd.Timedelta(days=11))
    (tmp_path / "charges.csv").write_text(
        "Customer ID,Created (UTC),Amount\n"
        + "".join(f"{c},{d.date()} 08:00,19.00\n" for c, days in pays.items() for d in days)
    )
    (tmp_path / "events.csv").write_text(
        "id,type,Created (UTC),Customer\n"
        "evt_3,customer.subscription.deleted,2024-06-12 09:00:00,gone\n"
        "evt_2,customer.subscription.deleted,2024-04-12 09:00:00,back\n"
        "evt_1,invoice.paid,2024-01-12 08:00:05,stays\n"
    )
    data = tmp_path / "data"
    ingest(
        data,
        transactions=tmp_path / "charges.csv",
        events=tmp_path / "events.csv",
        mapping=load_mapping(
            "customer_id=Customer ID,ordered_at=Created (UTC),amount=Amount,"
            "events.customer_id=Customer,events.event_type=type,events.occurred_at=Created (UTC)"
        ),
        log=lambda _: None,
    )
    scoring = _frame(data, "2024-10-01", with_labels=False).set_index("customer_id")
    assert scoring.loc["gone", ENDED_DAYS] > 100
    assert scoring[ENDED_DAYS].drop("gone").isna().all()
    training = _frame(data, "2024-10-01", with_labels=True)
    assert training.attrs[ENDED_ROWS] == 1 and "gone" not in set(training["customer_id"])
