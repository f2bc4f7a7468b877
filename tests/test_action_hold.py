"""Tier hysteresis of batch scoring (serving.action_hold): a priority grazing a tier line keeps
last scoring's tier and action; real changes are never held."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from serving.action_hold import Previous, held_scores, hold_tiers, previous_scoring
from serving.config import HoldConfig, PriorityTiers, ScoringConfig
from serving.score_history import mark_sent, write_partition
from serving.value import priority_tiers

# lines: P1 from 100, P2 from 40, P3 from 10; margin 0.5: up past 40 needs 60, down needs < 26.67
CONFIG = ScoringConfig(
    priority=PriorityTiers(p1_from=100.0, p2_from=40.0, p3_from=10.0),
    hold=HoldConfig(margin=0.5, escalations=True),
)
DAY, LAST = date(2025, 12, 11), date(2025, 12, 4)


def scores(rows: list[tuple], version: str = "3", config: ScoringConfig = CONFIG) -> pd.DataFrame:
    """Score rows (customer_id, stage, priority) as score_frame makes them (the rules' tier)."""
    ids, stages, priority = zip(*rows, strict=True)
    tiers = priority_tiers(list(priority), config.priority)
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "stage": list(stages),
            "priority_score": list(priority),
            "priority_tier": tiers,
            "recommended_action": [
                config.actions.action(s, t) for s, t in zip(stages, tiers, strict=True)
            ],
            "recommended_action_label": ["label"] * len(ids),
            "reasons": [["no purchase for 80 days, usually every 30"] for _ in ids],
            "churn_model_version": version,
            "clv_model_version": version,
            "uplift_model_version": [None] * len(ids),
        }
    )


def features(ids: list[str], complaints: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "complaint_30d": complaints or [0] * len(ids)})


def previous(rows: list[tuple], complaints: list[int] | None = None, **kw) -> Previous:
    before = scores(rows, **kw)
    return Previous(LAST, before, features(list(before["customer_id"]), complaints))


def test_a_priority_grazing_a_line_keeps_last_tier_action_and_says_so() -> None:
    before = previous([("up", "declining", 35.0), ("down", "mature", 45.0)])
    now = scores([("up", "declining", 50.0), ("down", "mature", 30.0)])
    out, n = hold_tiers(now, features(["up", "down"]), before, CONFIG)
    assert n == 2
    assert list(out["priority_tier"]) == ["P3", "P2"]  # the rules say P2, P3
    assert list(out["recommended_action"]) == [
        "survey_service_recovery.targeted_campaign",
        "loyalty_referral.personal_email",
    ]
    assert list(out["priority_score"]) == [50.0, 30.0]  # the score is the new one
    assert out.loc[0, "recommended_action_label"] != "label"  # relabelled for the kept action
    first = out.loc[0, "reasons"][0]
    assert first == (
        "P3 kept from 2025-12-04: priority 50.00 is just over the tier line 40.00 (under 60.00), "
        "for one scoring"
    )
    assert out.loc[1, "reasons"][0] == (
        "P2 kept from 2025-12-04: priority 30.00 is just under the tier line 40.00 (over 26.67), "
        "for one scoring"
    )
    assert "; " not in first and len(first) < 120  # fits a Text(255) field beside a reason
    assert out.loc[0, "reasons"][1:] == ["no purchase for 80 days, usually every 30"]
    assert list(now["priority_tier"]) == ["P2", "P3"]  # the input is not changed


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        (("c", "declining", 35.0), ("c", "declining", 61.0), "past the margin upwards"),
        (("c", "declining", 45.0), ("c", "declining", 26.0), "past the margin downwards"),
        (("c", "mature", 35.0), ("c", "declining", 45.0), "a stage change"),
        (("c", "declining", 95.0), ("c", "declining", 9.0), "a jump over a whole tier"),
        (("c", "declining", 35.0), ("c", "declining", 38.0), "no tier change at all"),
    ],
)
def test_real_changes_are_never_held(before: tuple, after: tuple, why: str) -> None:
    now = scores([after])
    out, n = hold_tiers(now, features(["c"]), previous([before]), CONFIG)
    assert n == 0, why
    pd.testing.assert_frame_equal(out, now)


def test_a_new_complaint_changes_the_tier_at_once() -> None:
    now = scores([("c", "declining", 45.0), ("d", "declining", 45.0)])
    before = previous([("c", "declining", 35.0), ("d", "declining", 35.0)], complaints=[0, 1])
    out, n = hold_tiers(now, features(["c", "d"], complaints=[1, 1]), before, CONFIG)
    assert n == 1  # c complained since; d's complaint is the one already known
    assert list(out["priority_tier"]) == ["P2", "P3"]


def test_a_customer_under_notice_changes_the_tier_at_once() -> None:
    """A member declining last week gives notice: the rules raise the tier (the value after
    the end is at risk) and the save desk must see it now, not a week late."""
    now = scores([("c", "declining", 45.0), ("d", "declining", 45.0)])
    before = previous([("c", "declining", 35.0), ("d", "declining", 35.0)])
    rows = features(["c", "d"]).assign(ends_in_days=[20.0, float("nan")])
    out, n = hold_tiers(now, rows, before, CONFIG)
    assert n == 1  # d is held as before; c's notice is not
    assert list(out["priority_tier"]) == ["P2", "P3"]


def test_a_lasting_move_is_late_by_one_scoring_at_most() -> None:
    # the previous scoring's own priority (38) was already in P3, the tier it sent was P2 (held)
    before = previous([("c", "mature", 38.0)])
    before.scores.loc[0, "priority_tier"] = "P2"
    out, n = hold_tiers(scores([("c", "mature", 37.0)]), features(["c"]), before, CONFIG)
    assert n == 0 and out.loc[0, "priority_tier"] == "P3"
    # without `once` it is a plain hysteresis band: held while inside it
    sticky = CONFIG.model_copy(
        update={"hold": HoldConfig(margin=0.5, once=False, escalations=True)}
    )
    out, n = hold_tiers(scores([("c", "mature", 37.0)]), features(["c"]), before, sticky)
    assert n == 1 and out.loc[0, "priority_tier"] == "P2"
    assert out.loc[0, "reasons"][0].endswith(", while it stays there")


def test_by_default_an_escalation_is_sent_at_once_and_only_a_calming_down_waits() -> None:
    """The default holds only a move to a less urgent tier: a customer turning more urgent gets
    the more urgent contact that week (on CDNOW, a cohort ageing one way, most lasting moves were
    real; delaying escalations would delay the calls that keep customers)."""
    default = CONFIG.model_copy(update={"hold": HoldConfig()})
    before = previous([("up", "declining", 35.0), ("down", "mature", 45.0)])
    now = scores([("up", "declining", 45.0), ("down", "mature", 35.0)])
    out, n = hold_tiers(now, features(["up", "down"]), before, default)
    assert n == 1 and list(out["priority_tier"]) == ["P2", "P2"]  # up: P3 -> P2 at once
    assert HoldConfig().margin == 0.25 and not HoldConfig().escalations


def test_no_history_another_model_or_margin_zero_hold_nothing() -> None:
    now = scores([("c", "declining", 45.0)])
    assert hold_tiers(now, features(["c"]), None, CONFIG)[1] == 0
    other = previous([("c", "declining", 35.0)], version="2")
    assert hold_tiers(now, features(["c"]), other, CONFIG)[1] == 0
    off = CONFIG.model_copy(update={"hold": HoldConfig(margin=0)})
    assert hold_tiers(now, features(["c"]), previous([("c", "declining", 35.0)]), off)[1] == 0
    # a customer new since the last scoring, a prospect, an uplift-decided row
    now = scores([("new", "declining", 45.0), ("p", "prospect", 0.0), ("u", "declining", 45.0)])
    now["uplift_model_version"] = [None, None, "4"]
    before = previous([("p", "prospect", 0.0), ("u", "declining", 35.0)])
    assert hold_tiers(now, features(["new", "p", "u"]), before, CONFIG)[1] == 0


def test_the_hold_is_deterministic_and_in_the_scoring_language() -> None:
    before = previous([("c", "declining", 35.0)])
    now = scores([("c", "declining", 45.0)])
    a, _ = hold_tiers(now, features(["c"]), before, CONFIG)
    b, _ = hold_tiers(now.copy(), features(["c"]), before, CONFIG)
    pd.testing.assert_frame_equal(a, b)
    zh = CONFIG.model_copy(update={"language": "zh"})
    out, _ = hold_tiers(now, features(["c"]), before, zh)
    assert out.loc[0, "reasons"][0].startswith("沿用 2025-12-04 的 P3：")


def test_previous_scoring_comes_from_the_history(tmp_path) -> None:
    root = tmp_path / "history"
    assert previous_scoring(root, "shop", DAY, 14) is None  # first run: no history
    first = scores([("c", "declining", 35.0)])
    write_partition(root, "shop", LAST, first, features(["c"]))
    assert previous_scoring(root, "shop", DAY, 14) is None  # written, never sent (killed before)
    said = mark_sent(root, "shop", date(2020, 1, 1))  # no such partition: a warning, no crash
    assert said is not None and said.startswith("warning: the scores are written, but")
    mark_sent(root, "shop", LAST)
    write_partition(root, "shop", DAY, scores([("c", "declining", 99.0)]), features(["c"]))
    mark_sent(root, "shop", DAY)
    # a monitor's own scoring of a mid-week date, never exported, is not what the CRM holds
    monday = date(2025, 12, 8)
    write_partition(root, "shop", monday, scores([("c", "declining", 5.0)]), features(["c"]))
    assert previous_scoring(root, "shop", date(2025, 12, 9), 14).as_of == LAST
    found = previous_scoring(root, "shop", DAY, 14)  # strictly before: a re-run ignores itself
    assert found is not None and found.as_of == LAST
    assert list(found.scores["priority_tier"]) == ["P3"]
    assert previous_scoring(root, "shop", date(2026, 1, 1), 14) is None  # too old
    out, said = held_scores(
        scores([("c", "declining", 45.0)]), features(["c"]), CONFIG, root, "shop", DAY
    )
    assert out.loc[0, "priority_tier"] == "P3" and "1 customers keep their tier" in said
    write_partition(root, "shop", LAST, scores([("c", "declining", 35.0)], "2"), features(["c"]))
    mark_sent(root, "shop", LAST)
    out, said = held_scores(
        scores([("c", "declining", 45.0)]), features(["c"]), CONFIG, root, "shop", DAY
    )
    assert out.loc[0, "priority_tier"] == "P2" and "another model version" in said


def test_an_unreadable_history_scores_every_tier_as_the_rules_say(tmp_path) -> None:
    root = tmp_path / "history"
    write_partition(root, "shop", LAST, scores([("c", "declining", 35.0)]), features(["c"]))
    mark_sent(root, "shop", LAST)
    (root / "shop" / f"as_of={LAST}" / "scores.parquet").write_bytes(b"not parquet")
    now = scores([("c", "declining", 45.0)])
    out, said = held_scores(now, features(["c"]), CONFIG, root, "shop", DAY)
    pd.testing.assert_frame_equal(out, now)
    assert said.startswith("warning: tier hold off, the score history cannot be read")


def test_a_sent_date_rescored_by_the_monitor_stays_the_one_compared_with(tmp_path) -> None:
    """The CRM got P3 on LAST; a monitor rescoring LAST (corrected data) dropped the mark, and the
    next week held P2 "kept from" the week before, an escalation the CRM was never sent."""
    root, week_before = tmp_path / "history", date(2025, 11, 27)
    write_partition(root, "shop", week_before, scores([("c", "declining", 45.0)]), features(["c"]))
    mark_sent(root, "shop", week_before)
    write_partition(root, "shop", LAST, scores([("c", "declining", 20.0)]), features(["c"]))
    mark_sent(root, "shop", LAST)
    write_partition(root, "shop", LAST, scores([("c", "declining", 21.0)]), features(["c"]))
    found = previous_scoring(root, "shop", DAY, 14)
    assert found is not None and found.as_of == LAST


def test_a_first_scoring_says_so_briefly_an_unsent_history_says_why(tmp_path) -> None:
    """Walkthrough: every first scoring (make run's too) printed the long 'no scoring marked sent'
    line about monitor dates and releases."""
    root = tmp_path / "history"
    now = scores([("c", "declining", 45.0)])
    _, said = held_scores(now, features(["c"]), CONFIG, root, "shop", DAY)
    assert said == "tier hold: no earlier scoring of shop: every tier as scored"
    write_partition(root, "shop", LAST, scores([("c", "declining", 35.0)]), features(["c"]))
    _, said = held_scores(now, features(["c"]), CONFIG, root, "shop", DAY)  # not marked sent
    assert said.startswith("tier hold: no scoring of shop marked sent")


def test_a_history_kept_before_uuids_were_lower_cased_still_holds_their_tiers(tmp_path) -> None:
    """A scoring kept under an iOS app's upper-case UUIDs (ingested before ingest lower-cased
    them) is the same customers' previous scoring: the hold and the monitor find them."""
    root, upper = tmp_path / "history", "6310FDE6-0C2B-4B7A-9E1D-3F5A2B8C9D01"
    write_partition(root, "shop", LAST, scores([(upper, "declining", 35.0)]), features([upper]))
    mark_sent(root, "shop", LAST)
    lower = upper.lower()
    found = previous_scoring(root, "shop", DAY, 14)
    assert found is not None and list(found.scores["customer_id"]) == [lower]
    assert list(found.features["customer_id"]) == [lower]
    out, said = held_scores(
        scores([(lower, "declining", 45.0)]), features([lower]), CONFIG, root, "shop", DAY
    )
    assert out.loc[0, "priority_tier"] == "P3" and "1 customers keep their tier" in said
