"""Customers the CRM bars from one channel (``customers.do_not_email``, ``do_not_call``): ingest
reads the flags in the CRMs' spellings, and scoring recommends a contact by an open channel, or
none, keeping their scores and tier (``serving.channels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_do_not_contact import _ingest, _rows, _scores

from serving.channels import channel_of, reachable_actions
from serving.config import Actions, ScoringConfig

SALESFORCE = "id,joined,HasOptedOutOfEmail,DoNotCall\n" + "".join(
    f"C{i},2024-01-0{i},{e},{c}\n"
    for i, (e, c) in enumerate(
        [("true", "false"), ("false", "true"), ("true", "true"), ("false", "false")], start=1
    )
)


def test_ingest_reads_the_email_and_call_flags_of_a_salesforce_export(tmp_path: Path) -> None:
    lines = _ingest(tmp_path, [SALESFORCE], "do_not_email=HasOptedOutOfEmail,do_not_call=DoNotCall")
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet").set_index("customer_id")
    assert customers["do_not_email"].dtype == bool and customers["do_not_call"].dtype == bool
    assert customers["do_not_email"].to_dict() == {"C1": True, "C2": False, "C3": True, "C4": False}
    assert customers["do_not_call"].to_dict() == {"C1": False, "C2": True, "C3": True, "C4": False}
    assert not customers["do_not_contact"].fillna(False).any()  # no flag bars every channel
    assert any("do_not_email: 2 customers not to be emailed" in x for x in lines)
    assert any("do_not_call: 2 customers not to be called" in x for x in lines)


def test_headers_named_after_the_flags_need_no_map_and_odd_values_are_named(
    tmp_path: Path,
) -> None:
    marks = [("yes", ""), ("maybe", "x"), ("", ""), ("", "")] + [("no", "no")] * 3
    text = "id,joined,Do Not Email,Do Not Call\n" + "".join(
        f"C{i},2024-01-0{i},{e},{c}\n" for i, (e, c) in enumerate(marks, start=1)
    )
    lines = _ingest(tmp_path, [text])
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet").set_index("customer_id")
    assert customers["do_not_email"][["C1", "C2", "C3"]].tolist() == [True, False, False]
    assert customers["do_not_call"][["C1", "C2", "C3"]].tolist() == [False, True, False]
    said = [x for x in lines if "neither yes nor no" in x]
    assert len(said) == 1 and "'Do Not Email' (customers.do_not_email)" in said[0]


def test_a_column_of_dates_mapped_as_a_channel_flag_is_refused_naming_it(tmp_path: Path) -> None:
    from features.mapping import IngestError

    text = "id,joined,Opt Out Date\n" + "".join(f"C{i},2024-01-0{i},2024-02-0{i}\n" for i in (1, 2))
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, [text], "do_not_email=Opt Out Date")
    message = str(err.value)
    assert "c0.csv" in message and "'Opt Out Date'" in message and "do_not_email" in message


@pytest.mark.parametrize(
    ("tier", "closed", "reach_up", "expected"),
    [
        ("P1", {"phone"}, 1, "win_back.personal_email"),  # the next, less urgent contact
        ("P2", {"email"}, 1, "win_back.account_manager_call"),  # all below email: one up
        ("P2", {"email"}, 0, "no_open_channel"),  # never a costlier contact
        ("P3", {"email"}, 1, "no_open_channel"),  # one up is email too
        ("P4", {"email"}, 3, "win_back.account_manager_call"),
        ("P1", {"email"}, 1, "win_back.account_manager_call"),  # its own channel is open
        ("P2", {"email", "phone"}, 3, "no_open_channel"),
    ],
)
def test_a_barred_channel_moves_the_contact_to_the_nearest_open_tier(
    tier: str, closed: set[str], reach_up: int, expected: str
) -> None:
    actions = Actions(reach_up=reach_up)
    bars = {c: np.array([c in closed]) for c in ("email", "phone")}
    reached = reachable_actions(["churned"], [tier], actions, bars)
    assert reached.actions.tolist() == [expected]
    moved = expected != actions.action("churned", tier)
    assert reached.barred.tolist() == [actions.channels[actions.contact[tier]] if moved else None]


def test_channels_come_from_the_config_then_the_words_of_the_code() -> None:
    actions = Actions(contact={"P3": "sms_blast"}, channels={"targeted_campaign": None})
    assert channel_of("account_manager_call", actions.channels) == "phone"
    assert channel_of("targeted_campaign", actions.channels) is None  # a config says: no flag
    assert channel_of("winback-Email", actions.channels) == "email"
    assert channel_of("courtesy_call", actions.channels) == "phone"
    assert channel_of("sms_blast", actions.channels) is None
    assert channel_of("recall", actions.channels) is None  # a word, not a part of one
    bars = {"email": np.array([True, True])}
    reached = reachable_actions(["mature", "mature"], ["P3", "P2"], actions, bars)
    assert reached.actions.tolist() == ["loyalty_referral.sms_blast", "loyalty_referral.sms_blast"]
    custom = Actions(overrides={"churned": {"P4": "no_action"}})
    kept = reachable_actions(["churned"], ["P4"], custom, {"email": np.array([True])})
    assert kept.actions.tolist() == ["no_action"] and kept.barred.tolist() == [None]


def test_an_unknown_channel_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        ScoringConfig.model_validate({"actions": {"channels": {"personal_email": "fax"}}})


def test_scores_keep_tier_and_value_and_say_why_the_contact_moved() -> None:
    plain = _scores(_rows([False, False, False]))
    rows = _rows([False, False, False]).assign(
        do_not_email=[True, False, True], do_not_call=[False, True, False]
    )
    barred = _scores(rows)
    kept = [c for c in plain.columns if c not in ("recommended_action", "recommended_action_label")]
    kept.remove("reasons")
    pd.testing.assert_frame_equal(barred[kept], plain[kept])
    assert list(plain["priority_tier"]) == ["P3", "P1", "P4"]
    assert list(barred["recommended_action"]) == [
        "no_open_channel",  # P3's campaign and P2's email are both email
        "win_back.personal_email",  # P1's call barred: the personal email
        "no_open_channel",  # a prospect's automated campaign: email
    ]
    assert barred.loc[1, "recommended_action_label"] == plain.loc[
        1, "recommended_action_label"
    ].replace("Account manager calls with", "Personal email with") or barred.loc[
        1, "recommended_action_label"
    ].startswith("Personal")
    assert barred.loc[0, "reasons"][0].startswith("opted out of email")
    assert "no other channel is open" in barred.loc[0, "reasons"][0]
    assert barred.loc[1, "reasons"][0].startswith("not to be called")
    assert "another channel" in barred.loc[1, "reasons"][0]
    for i in range(3):
        assert barred.loc[i, "reasons"][1:] == plain.loc[i, "reasons"]
    zh = _scores(rows, ScoringConfig(language="zh"))
    assert zh.loc[1, "reasons"][0].startswith("不接受电话")
    assert zh.loc[0, "reasons"][0].startswith("已退订邮件")


def test_do_not_contact_still_wins_over_a_channel_flag() -> None:
    rows = _rows([False, True, False]).assign(do_not_call=[False, True, False])
    scores = _scores(rows)
    assert scores.loc[1, "recommended_action"] == "do_not_contact"
    assert scores.loc[1, "reasons"][0].startswith("do not contact: the CRM marks")
    assert not any(r.startswith("not to be called") for r in scores.loc[1, "reasons"])


def _uplift(saved: list[list[float]]):
    from serving.uplift_scoring import UpliftEffects, UpliftPolicy

    policy = UpliftPolicy(
        "3",
        ("call", "email"),
        {"call": 10.0, "email": 1.0},
        90,
        {"p1_from": 100.0, "p2_from": 20.0, "p3_from": 1.0},
    )
    return UpliftEffects(np.array(saved), None, policy)


def test_an_uplift_champion_picks_the_best_action_of_an_open_channel() -> None:
    effects = _uplift([[30.0, 50.0], [5.0, 50.0], [0.0, 0.0]])  # email best on both buyers
    plain = _scores(_rows([False, False, False]), uplift=effects)
    assert list(plain["recommended_action"][:2]) == ["email", "email"]
    rows = _rows([False, False, False]).assign(do_not_email=[True, True, False])
    barred = _scores(rows, uplift=effects)
    # the first: the call pays (30 - 10): its numbers; the second: no open action pays
    assert list(barred["recommended_action"][:2]) == ["call", "no_open_channel"]
    assert barred.loc[0, "priority_score"] == pytest.approx(20.0)
    assert barred.loc[0, "expected_saved_value"] == pytest.approx(30.0)
    assert barred.loc[0, "priority_tier"] == "P2"
    for column in ("priority_score", "priority_tier", "expected_saved_value"):
        assert barred.loc[1, column] == plain.loc[1, column], column  # kept for reporting
    assert barred.loc[0, "reasons"][0].startswith("opted out of email")
    assert "another channel" in barred.loc[0, "reasons"][0]
    assert "call" in barred.loc[0, "reasons"][1] and "net 20" in barred.loc[0, "reasons"][1]
    assert "no other channel is open" in barred.loc[1, "reasons"][0]
    assert barred.loc[1, "reasons"][1:] == plain.loc[1, "reasons"]


def test_the_tier_hold_moves_the_kept_tiers_contact_off_a_barred_channel() -> None:
    from test_action_hold import CONFIG, features, previous, scores

    from serving.action_hold import hold_tiers

    before = previous([("c", "declining", 35.0), ("d", "declining", 35.0)])
    now = scores([("c", "declining", 45.0), ("d", "declining", 45.0)])
    plain, n = hold_tiers(now, features(["c", "d"]), before, CONFIG)
    assert n == 2 and set(plain["recommended_action"]) == {
        "survey_service_recovery.targeted_campaign"
    }
    flagged = features(["c", "d"]).assign(do_not_email=[True, False])
    out, n = hold_tiers(now, flagged, before, CONFIG)
    assert n == 2
    assert list(out["recommended_action"]) == [
        "no_open_channel",  # P3 kept: its campaign and the P2 email are both email
        "survey_service_recovery.targeted_campaign",
    ]
    assert out.loc[0, "reasons"][1].startswith("opted out of email")


def test_the_tier_hold_keeps_a_tier_whose_new_one_leaves_no_open_channel() -> None:
    from test_action_hold import CONFIG, features, previous, scores

    from serving.action_hold import hold_tiers

    # opted out of email: last week P2, reached by the P1 call; now P3 by a hair, whose
    # campaign, the P4 one and the P2 email are all email: scoring said no_open_channel
    before = previous([("c", "declining", 45.0)])
    now = scores([("c", "declining", 35.0)]).assign(recommended_action=["no_open_channel"])
    out, n = hold_tiers(now, features(["c"]).assign(do_not_email=[True]), before, CONFIG)
    assert n == 1
    assert out.loc[0, "priority_tier"] == "P2"
    assert out.loc[0, "recommended_action"] == "survey_service_recovery.account_manager_call"
    assert out.loc[0, "reasons"][1].startswith("opted out of email")
    # the CRM says not to contact them at all: never held
    flagged = features(["c"]).assign(do_not_email=[True], do_not_contact=[True])
    barred = now.assign(recommended_action=["do_not_contact"])  # as scoring gives it
    out, n = hold_tiers(barred, flagged, before, CONFIG)
    assert n == 0 and out.loc[0, "recommended_action"] == "do_not_contact"


@pytest.mark.parametrize(
    "header",
    [
        "Email Opt Out",
        "HasOptedOutOfEmail",
        "Unsubscribed from all email",
    ],  # SF report, API; HubSpot
)
def test_a_crms_email_opt_out_column_left_unmapped_is_named(tmp_path: Path, header: str) -> None:
    text = f"id,joined,{header},Marketing contact status\n" + "".join(
        f"C{i},2024-01-0{i},{e},Marketing contact\n" for i, e in enumerate("TF" * 3, start=1)
    )
    lines = _ingest(tmp_path, [text])
    said = [x for x in lines if "do_not_email" in x]
    assert len(said) == 1 and f'--map "customers.do_not_email={header}"' in said[0], lines
    assert "Marketing contact status" not in said[0]


def test_a_fallback_tier_follows_its_override_and_a_nullable_flag_column_is_read() -> None:
    """Review of the change: the tier a contact moves to takes that tier's cell as the config's
    overrides give it (mature P2: no action), and the tier hold reads a nullable boolean flag
    column with missing values as scoring does (it raised TypeError)."""
    actions = Actions(overrides={"mature": {"P2": "no_action"}})
    reached = reachable_actions(["mature"], ["P1"], actions, {"phone": np.array([True])})
    assert reached.actions.tolist() == ["no_action"]
    from test_action_hold import CONFIG, features, previous, scores

    from serving.action_hold import hold_tiers

    before = previous([("c", "declining", 35.0), ("d", "declining", 35.0)])
    now = scores([("c", "declining", 45.0), ("d", "declining", 45.0)])
    flags = pd.array([True, None], dtype="boolean")
    out, n = hold_tiers(now, features(["c", "d"]).assign(do_not_email=flags), before, CONFIG)
    assert n == 2 and out.loc[0, "recommended_action"] == "no_open_channel"


def test_the_summary_counts_customers_without_an_open_channel_apart() -> None:
    from serving.scoring import summarise

    rows = _rows([True, False, False]).assign(do_not_email=[False, False, True])
    summary = summarise(_scores(rows))
    assert summary["customers_not_to_contact"] == 1
    assert summary["customers_without_open_channel"] == 1


def test_a_flag_column_mapped_by_map_may_be_missing_from_one_of_several_files(
    tmp_path: Path,
) -> None:
    """A Salesforce contact report split in two, the flag in one part only: ``--map
    customers.do_not_email=Email Opt Out`` stopped the run at the other part (the README says a
    second customers file without the column keeps the first's flags); a name in none of them
    still stops it."""
    from features.mapping import IngestError

    flagged = "id,joined,Email Opt Out\nC1,2024-01-01,1\nC2,2024-01-02,0\nC3,2024-01-03,0\n"
    plain = "id,joined\nC1,2024-01-01\nC4,2024-01-04\nC5,2024-01-05\nC6,2024-01-06\nC7,2024-01-07\n"
    _ingest(tmp_path, [flagged, plain], "customers.do_not_email=Email Opt Out")
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet").set_index("customer_id")
    assert customers["do_not_email"].fillna(False).to_dict() == {
        "C1": True, "C2": False, "C3": False, "C4": False, "C5": False, "C6": False, "C7": False
    }  # fmt: skip
    with pytest.raises(IngestError, match=r"'Unsubscribed' \(mapped to customers.do_not_email\)"):
        _ingest(tmp_path, [flagged, plain], "customers.do_not_email=Unsubscribed")


def test_no_rows_score_with_channel_flags_to_no_rows() -> None:
    """An empty batch (a CRM's webhook with nothing to score) with the flag columns."""
    bars = {"email": np.zeros(0, dtype=bool)}
    reached = reachable_actions([], [], Actions(), bars)
    assert reached.actions.tolist() == [] and reached.barred.tolist() == []
    empty = _rows([False, False, False]).iloc[:0].assign(do_not_email=pd.Series(dtype=bool))
    assert _scores_of(empty).empty


def _scores_of(rows: pd.DataFrame) -> pd.DataFrame:
    from serving.scoring import score_frame

    n = len(rows)
    return score_frame(rows, [0.1] * n, [1.0] * n, None, ScoringConfig(), "2025-04-01", "c", "v")
