"""Churn reasons from per-feature contributions: hand-made frames with known phrases, and a real
tiny churn model (``training.models.ChurnModel``) whose contributions, as batch scoring and the
service take them (``predict_with_contributions``), go through the same code."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from serving.reasons import (
    behaviour_phrase,
    concept_of,
    is_behaviour,
    phrase_for,
    reasons_from_contributions,
)
from training.config import LightGBMParams
from training.models import ChurnModel, logit

CUSTOMER = {
    "recency_days": 120.0,
    "recency_ratio": 4.0,
    "mean_gap_days": 30.0,
    "complaint_30d": 2,
    "orders_90d": 1,
    "orders_trend_90d": -3.0,
    "tenure_days": 800.0,
    "region": "north",
}


def reasons(contrib: dict[str, float], top_k: int = 3, **customer: object) -> list[str]:
    features = pd.DataFrame([{**CUSTOMER, **customer}])
    return reasons_from_contributions(pd.DataFrame([contrib]), features, top_k)[0]


def test_top_drivers_in_words_strongest_first() -> None:
    contrib = {
        "recency_days": 0.6,
        "recency_ratio": 0.3,
        "complaint_30d": 0.4,
        "orders_trend_90d": 0.2,
        "tenure_days": -0.5,
        "bias": 1.0,
    }
    assert reasons(contrib) == [
        "no purchase for 120 days, usually every 30",
        "2 complaints in the last 30 days",
        "fewer days with an order in the last 90 days than the 90 before (1 vs 4)",
    ]
    assert reasons(contrib, top_k=1) == ["no purchase for 120 days, usually every 30"]


def test_only_concepts_pushing_churn_up() -> None:
    # nothing pushes churn up: one reason, the behaviour holding it down the most
    assert reasons({"recency_days": -0.2, "complaint_30d": -0.1, "bias": 2.0}) == [
        "no purchase for 120 days, usually every 30"
    ]
    assert reasons({"recency_days": -0.05, "complaint_30d": -0.1, "bias": 2.0}) == [
        "2 complaints in the last 30 days"
    ]
    # recency_days and recency_ratio are one concept: its weight is their sum
    assert reasons({"recency_days": 0.2, "recency_ratio": -0.5, "complaint_30d": 0.1}) == [
        "2 complaints in the last 30 days"
    ]
    assert reasons({"recency_days": 0.2, "recency_ratio": 0.2}) == [
        "no purchase for 120 days, usually every 30"
    ]


def test_a_low_risk_customer_is_explained_by_what_holds_the_risk_down() -> None:
    """A customer at 2% got "11 orders in the last 180 days" as a churn reason (the trees' small
    upward correction beside a recency holding the risk far down): under ``low_risk_below``, and
    safer than the model's average, the reasons are what keeps the risk low, strongest first."""
    features = pd.DataFrame([{**CUSTOMER, "visit_30d": 3}] * 3)
    contrib = pd.DataFrame(
        {
            "recency_days": [-2.0, -2.0, -2.0],
            "complaint_30d": [0.3, 0.3, 0.3],
            "visit_30d": [-0.5, -0.5, -0.5],
            "tenure_days": [0.1, 0.1, 2.5],
        }
    )
    low, mid, above_average = reasons_from_contributions(
        contrib, features, probability=np.array([0.02, 0.35, 0.1]), low_risk_below=0.2
    )
    assert low == ["no purchase for 120 days, usually every 30", "3 visits in the last 30 days"]
    assert mid == ["2 complaints in the last 30 days", "customer for 800 days"]  # risk drivers
    # at 10% but its contributions add up above the model's average: what raises it
    assert above_average == ["customer for 800 days", "2 complaints in the last 30 days"]


def test_strongest_feature_of_a_concept_picks_the_window() -> None:
    got = reasons({"complaint_30d": 0.1, "complaint_90d": 0.5}, complaint_90d=3)
    assert got == ["3 complaints in the last 90 days"]


def test_calendar_static_and_unknown_features_are_never_reasons() -> None:
    contrib = {
        "cutoff_month": 0.9,
        "segment": 0.8,
        "region": 0.7,
        "cohort": 0.6,
        "is_prospect": 0.5,
        "complaint_30d": 0.1,
    }
    got = reasons(contrib, cutoff_month=9, segment="consumer")
    assert got == ["2 complaints in the last 30 days"]
    # only non-behaviour drivers: the customer still gets a reason, from their purchases
    got = reasons({"cutoff_month": 0.9, "segment": 0.8}, cutoff_month=9, segment="consumer")
    assert got == ["no purchase for 120 days, usually every 30"]
    for feature in ("cutoff_month", "segment", "region", "channel", "is_prospect", "cohort"):
        assert not is_behaviour(feature), feature


def test_one_fact_is_said_once() -> None:
    # a one-time buyer: rhythm and recency both say "only one purchase"
    got = reasons(
        {"mean_gap_days": 0.5, "recency_days": 0.4, "complaint_30d": 0.1},
        mean_gap_days=math.nan,
        recency_days=24.0,
    )
    # the stronger phrase takes the weaker one's rank
    assert got == ["only one purchase, 24 days ago", "2 complaints in the last 30 days"]


def test_a_reason_implied_by_another_is_left_out_in_any_order_and_language() -> None:
    lapsed = {"recency_days": 368.0, "mean_gap_days": 140.0, "revenue_365d": 0.0, "orders_365d": 0}
    contrib = {"recency_days": 0.5, "mean_gap_days": 0.4, "revenue_365d": 0.3, "complaint_30d": 0.1}
    assert reasons(contrib, **lapsed) == [
        "no purchase for 368 days, usually every 140",
        "2 complaints in the last 30 days",
    ]
    # weaker phrases first: the recency phrase takes the first one's place, drops the second
    weaker_first = {
        "revenue_365d": 0.6,
        "mean_gap_days": 0.5,
        "recency_days": 0.4,
        "orders_365d": 0.3,
    }
    assert reasons(weaker_first, 4, **lapsed) == ["no purchase for 368 days, usually every 140"]
    zh = reasons_from_contributions(
        pd.DataFrame([weaker_first]), pd.DataFrame([{**CUSTOMER, **lapsed}]), 4, language="zh"
    )[0]
    assert len(zh) == 1 and "368" in zh[0]
    # not implied: money spent, a spread of gaps
    recent = {**lapsed, "recency_days": 200.0, "revenue_365d": 80.0}
    assert len(reasons({"recency_days": 0.5, "revenue_365d": 0.3}, **recent)) == 2
    steady = {"recency_days": 0.5, "std_gap_days": 0.4}
    assert len(reasons(steady, **lapsed, std_gap_days=20.0, frequency=5)) == 2


def test_btyd_features_read_as_recency_against_rhythm() -> None:
    got = reasons({"btyd_p_alive": 0.4, "btyd_expected_purchases": 0.2}, btyd_p_alive=0.1234)
    assert got == ["no purchase for 120 days, usually every 30"]
    assert concept_of("btyd_p_no_purchase") == "recency"


def test_every_scored_row_has_a_reason_and_no_phrase_reads_like_code() -> None:
    rng = np.random.default_rng(3)
    columns = [
        "recency_days",
        "complaint_30d",
        "orders_trend_90d",
        "cutoff_month",
        "segment",
        "visit_30d",
        "revenue_90d",
        "satisfaction_mean_180d",
    ]
    contrib = pd.DataFrame(rng.normal(0, 0.3, (400, len(columns))), columns=columns)
    contrib.iloc[:20] = 0.0  # contributions that say nothing
    features = pd.DataFrame(
        [{**CUSTOMER, "cutoff_month": 9, "segment": "consumer", "revenue_90d": 1234.5678}] * 400
    )
    got = reasons_from_contributions(contrib, features, 3, min_contribution=0.2)
    assert all(1 <= len(r) <= 3 for r in got)
    text = " | ".join(" | ".join(r) for r in got)
    assert "=" not in text and "cutoff_month" not in text and "consumer" not in text
    assert "1,234.57" in text and "1234.5678" not in text


@pytest.mark.parametrize(
    ("feature", "row", "phrase"),
    [
        ("recency_ratio", {"recency_days": 75.0}, "only one purchase, 75 days ago"),
        ("mean_gap_days", {"mean_gap_days": 120.0}, "buys every 120 days on average"),
        ("orders_90d", {"orders_90d": 0}, "no orders in the last 90 days"),
        ("orders_all", {"orders_all": 1}, "purchases on 1 day in total"),
        ("frequency", {"frequency": 3}, "purchases on 4 days in total"),
        (
            "revenue_trend_90d",
            {"revenue_trend_90d": -80.0, "revenue_90d": 40.0},
            "revenue in the last 90 days fell from 120.00 to 40.00",
        ),
        ("revenue_365d", {"revenue_365d": 35.5}, "spent 35.50 in the last 365 days"),
        ("revenue_180d", {"revenue_180d": 0.0}, "nothing spent in the last 180 days"),
        (
            "revenue_trend_90d",
            {"revenue_trend_90d": 0.0, "revenue_90d": 0.0},
            "no revenue in the last 180 days",
        ),
        (
            "orders_trend_90d",
            {"orders_trend_90d": 0.0, "orders_90d": 0},
            "no orders in the last 180 days",
        ),
        ("returns_share", {"returns_share": 0.35}, "returned 35% of purchases by value"),
        (
            "std_gap_days",
            {"std_gap_days": 0.0, "mean_gap_days": 344.0},  # one gap: never "vary by 0 days"
            "buys regularly: every 344 days, give or take 0",
        ),
        (
            "std_gap_days",
            {"std_gap_days": 53.0, "mean_gap_days": 69.0},
            "irregular buying: gaps vary by about 53 days",
        ),
        (  # three gifts in two months (a major donor): two close gaps are no habit
            "std_gap_days",
            {"std_gap_days": 2.0, "mean_gap_days": 32.0, "orders_all": 3},
            "std_gap_days = 2",
        ),
        (  # two purchases, one gap: no spread to speak of
            "std_gap_days",
            {"std_gap_days": 0.0, "mean_gap_days": 344.0, "orders_all": 2},
            "std_gap_days = 0",
        ),
        (
            "returns_share",
            {"returns_share": 0.0},
            "returns_share = 0",
        ),  # no reason: "0%" says nothing
        (
            "recency_days",
            {"recency_days": 46.0, "mean_gap_days": 480.0},  # not overdue: no "no purchase for"
            "last purchase 46 days ago, usual gap 480 days",
        ),
        ("category_breadth", {"category_breadth": 1}, "bought from 1 category"),
        ("support_ticket_30d", {"support_ticket_30d": 1}, "1 support ticket in the last 30 days"),
        ("visit_30d", {"visit_30d": 0}, "no visits in the last 30 days"),
        ("email_open_90d", {"email_open_90d": 1}, "1 email opened in the last 90 days"),
        ("events_30d", {"events_30d": 2}, "2 interactions in the last 30 days"),
        ("events_all", {"events_all": 1}, "1 interaction on record"),
        (
            "days_since_last_event",
            {"days_since_last_event": 45.0},
            "last interaction besides purchases 45 days ago",
        ),
        (  # an app opened on the scoring day: no "no interaction for 0 days"
            "days_since_last_event",
            {"days_since_last_event": 0.0},
            "an interaction besides purchases in the last day",
        ),
        (
            "days_since_last_event",
            {"days_since_last_event": math.nan},
            "no interaction besides purchases on record (visits, logins, e-mails, tickets)",
        ),
        (
            "engagement_trend_30d",
            {"engagement_trend_30d": -5.0},
            "5 fewer interactions in the last 30 days than in the 30 before",
        ),
        (
            "satisfaction_mean_180d",
            {"satisfaction_mean_180d": 2.1, "satisfaction_trend_90d": -1.2},
            "survey score down 1.2 points in the last 90 days (average 2.1 over 180 days)",
        ),
        (
            "satisfaction_trend_90d",
            {"satisfaction_mean_180d": 4.0},
            "average survey score 4.0 over the last 180 days",
        ),
        ("satisfaction_mean_180d", {}, "no satisfaction survey in the last 180 days"),
        ("age_days", {"age_days": 40.0}, "first purchase 40 days ago"),
        ("tenure_days", {"tenure_days": 40.0}, "customer for 40 days"),
        (  # a three-year contract paid ahead (covers_until, term_months)
            "paid_ahead_days",
            {"paid_ahead_days": 740.0, "cutoff": "2023-01-01"},
            "paid ahead for 740 more days (until 2025-01-10)",
        ),
        ("paid_ahead_days", {"paid_ahead_days": 0.0}, "the period paid for has ended"),
        ("orders_trend_90d", {}, "orders_trend_90d = missing"),  # template without its data
    ],
)
def test_phrases(feature: str, row: dict, phrase: str) -> None:
    assert phrase_for(feature, row) == phrase
    if "=" not in phrase:
        assert behaviour_phrase(feature, row) == phrase
        # the same fact from the Chinese phrasebook: every parameter filled, in Chinese words
        chinese = behaviour_phrase(feature, row, "zh")
        assert chinese and "{" not in chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    else:
        assert behaviour_phrase(feature, row) is None  # a reason is skipped, never "x = missing"


def test_a_phrasebook_must_hold_every_phrase(tmp_path, monkeypatch) -> None:
    import serving.reasons as reasons
    from serving.labels import LabelError

    english = reasons.reasons_path("en").read_text(encoding="utf-8")
    broken = tmp_path / "reasons.xx.yaml"
    broken.write_text(
        english.replace("language: en", "language: xx").replace("  spend.total:", "  spend.totl:"),
        encoding="utf-8",
    )
    shipped = reasons.reasons_path
    monkeypatch.setattr(
        reasons, "reasons_path", lambda lang: broken if lang == "xx" else shipped(lang)
    )
    reasons.phrasebook.cache_clear()
    try:
        with pytest.raises(
            LabelError, match=r"missing \['spend.total'\], unknown \['spend.totl'\]"
        ):
            reasons.phrasebook("xx")
    finally:
        reasons.phrasebook.cache_clear()


def test_concepts_group_features_that_say_the_same_thing() -> None:
    assert concept_of("recency_days") == concept_of("recency_ratio") == "recency"
    assert concept_of("visit_30d") == concept_of("days_since_last_event") == "engagement"
    assert concept_of("events_90d") == concept_of("other_30d") == "engagement"
    assert concept_of("complaint_30d") == concept_of("complaint_365d") == "complaints"
    assert concept_of("support_ticket_30d") == "support"
    assert concept_of("region") == "region"


def test_rows_without_a_score_ties_and_thresholds() -> None:
    features = pd.DataFrame([CUSTOMER, CUSTOMER])
    contrib = pd.DataFrame({"complaint_30d": [math.nan, 0.3], "tenure_days": [math.nan, 0.3]})
    got = reasons_from_contributions(contrib, features)
    assert got == [[], ["2 complaints in the last 30 days", "customer for 800 days"]]  # by name
    small = reasons_from_contributions(contrib, features, min_contribution=0.5)
    assert small == [[], ["2 complaints in the last 30 days"]]  # below the threshold: the strongest
    with pytest.raises(ValueError, match="contributions has 2 rows but features has 1"):
        reasons_from_contributions(contrib, features.iloc[:1])


# --- a real LightGBM -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def churn_model() -> tuple[ChurnModel, pd.DataFrame]:
    """500 synthetic buyers: churn rises with overdue rhythm and complaints, falls with visits."""
    rng = np.random.default_rng(7)
    n = 500
    gap = rng.gamma(2.0, 20.0, n) + 5
    recency = rng.gamma(1.5, gap)
    X = pd.DataFrame(
        {
            "recency_days": recency,
            "mean_gap_days": gap,
            "recency_ratio": recency / gap,
            "complaint_30d": rng.poisson(0.3, n),
            "visit_30d": rng.poisson(2.0, n),
            "tenure_days": rng.uniform(100, 1000, n),
        }
    )
    score = -2 + 1.2 * X["recency_ratio"] + 1.5 * X["complaint_30d"] - 0.5 * X["visit_30d"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-score))).astype(int)
    params = LightGBMParams(
        n_estimators=30,
        num_leaves=7,
        min_child_samples=10,
        feature_fraction=1.0,
        bagging_fraction=1.0,
        bagging_freq=0,
        lambda_l2=0.0,
        early_stopping_rounds=0,
        n_jobs=1,
    )
    model = ChurnModel(list(X.columns), params, calibration="none").fit(X, y, X, y)
    return model, X


def test_contributions_of_a_real_model_become_reasons(churn_model) -> None:
    model, X = churn_model
    probability, contrib = model.predict_with_contributions(X)
    assert list(contrib.columns) == list(X.columns)
    np.testing.assert_allclose(probability, model.predict_proba(X), rtol=1e-9)
    # the contributions add up to the raw log-odds, up to the model's one bias for every row
    bias = logit(model.raw_probability(X)) - contrib.sum(axis=1).to_numpy()
    np.testing.assert_allclose(bias, bias[0], atol=1e-6)

    customers = pd.DataFrame(
        {
            "recency_days": [200.0, 5.0],
            "mean_gap_days": [30.0, 30.0],
            "recency_ratio": [200 / 30, 5 / 30],
            "complaint_30d": [3, 0],
            "visit_30d": [0, 4],
            "tenure_days": [500.0, 500.0],
        }
    )
    lapsing, loyal = reasons_from_contributions(model.contributions(customers), customers)
    safe = reasons_from_contributions(
        model.contributions(customers),
        customers,
        probability=model.predict_proba(customers),
        low_risk_below=0.5,
    )[1]
    assert safe[0] == "last purchase 5 days ago, usual gap 30 days", safe
    assert lapsing[:2] == [
        "no purchase for 200 days, usually every 30",
        "3 complaints in the last 30 days",
    ]
    assert sum("no purchase" in r for r in lapsing) == 1  # recency_days + recency_ratio: one phrase
    assert not any("no purchase" in r or "complaint" in r for r in loyal)

    # every phrase comes from a concept pushing churn up; a row where none does gets one phrase,
    # from the concept holding churn down the most
    all_reasons = reasons_from_contributions(contrib, X, top_k=6)
    by_concept = contrib.T.groupby(concept_of).sum().T
    phrase_concept = {
        "no purchase": "recency",
        "last purchase": "recency",
        "complaint": "complaints",
        "visit": "engagement",
        "customer for": "tenure",
        "every": "rhythm",
    }
    for i, row_reasons in enumerate(all_reasons):
        assert 1 <= len(row_reasons) == len(set(row_reasons))
        weights = by_concept.iloc[i]
        for text in row_reasons:
            concept = next(c for key, c in phrase_concept.items() if key in text)
            if (weights > 0).any():
                assert weights[concept] > 0
            else:
                assert len(row_reasons) == 1 and weights[concept] == weights.min()


def test_uplift_reasons_in_both_languages() -> None:
    from serving.reasons import uplift_reason

    english = uplift_reason("discount", 41.2, 5.0, 90, pays=True, retained_change=0.12)
    assert english == (
        "A discount is expected to keep 41.20 of value over the next 90 days (cost 5.00, net "
        "36.20) and to change the chance of a purchase by +12 points"
    )
    assert uplift_reason("call", 3.0, 9.0, 90, pays=False).startswith(
        "No contact pays: the best action, a call,"
    )
    assert "the sms blast action" in uplift_reason("sms_blast", -2.0, 1.0, 30, pays=False)
    chinese = uplift_reason("discount", 41.2, 5.0, 90, pays=True, language="zh")
    assert chinese == "折扣预计在未来 90 天可挽回价值 41.20（成本 5.00，净收益 36.20）"


def test_one_purchase_is_said_once() -> None:
    features = pd.DataFrame({"recency_days": [9.0], "age_days": [9.0], "mean_gap_days": [math.nan]})
    contributions = pd.DataFrame({"recency_days": [0.4], "age_days": [0.3]})
    assert reasons_from_contributions(contributions, features) == [
        ["only one purchase, 9 days ago"]
    ]


def test_a_customer_at_risk_also_hears_what_holds_the_risk_down_when_it_weighs() -> None:
    """A long-quiet customer scored declining, not churned, after one visit: the reasons listed
    only what raised the risk. The behaviour holding it down most comes last, after "but", when it
    weighs half the strongest push; never a fact worded as an absence, never at offset 0."""
    features = pd.DataFrame([{**CUSTOMER, "visit_30d": 2}] * 4)
    contrib = pd.DataFrame(
        {
            "recency_days": [1.0, 1.0, 1.0, 1.0],
            "complaint_30d": [0.4, 0.4, 0.4, 0.4],
            "visit_30d": [-0.6, -0.3, -0.6, 0.0],
            "orders_trend_90d": [0.0, 0.0, 0.0, -0.9],  # holds the risk down, but "fewer orders"
        }
    )
    weighs, light, off, absence = (
        reasons_from_contributions(contrib.iloc[[i]], features.iloc[[i]], 3, offset_share=share)[0]
        for i, share in enumerate((0.5, 0.5, 0.0, 0.5))
    )
    pushed = ["no purchase for 120 days, usually every 30", "2 complaints in the last 30 days"]
    assert weighs == [*pushed, "but 2 visits in the last 30 days"]
    assert light == pushed  # 0.3 < half of 1.0
    assert off == pushed
    assert absence == pushed  # "but fewer days with an order ..." would read as a risk
    zh = reasons_from_contributions(
        contrib.iloc[[0]], features.iloc[[0]], 3, language="zh", offset_share=0.5
    )[0]
    assert zh[-1].startswith("但") and "访问" in zh[-1]


def test_a_prospect_reads_when_they_signed_up_and_last_came_by():
    """An app's non-buyers all read alike (no churn score, no reasons): the active one and the
    one gone for a year are told apart in words, in both languages."""
    from serving.reasons import prospect_reasons

    active = {"tenure_days": 40.2, "days_since_last_event": 0.3}
    gone = {"tenure_days": 400.0, "days_since_last_event": 365.0}
    assert prospect_reasons(active) == [
        "signed up 40 days ago, no purchase yet",
        "an interaction besides purchases in the last day",
    ]
    assert prospect_reasons(gone, "zh") == [
        "注册 400 天，尚未购买",
        "除购买外最近一次互动在 365 天前",
    ]
    assert prospect_reasons({"tenure_days": 3.0}) == ["signed up 3 days ago, no purchase yet"]


def test_one_day_is_said_in_the_singular():
    from serving.reasons import prospect_reasons

    assert prospect_reasons({"tenure_days": 1.2})[0] == "signed up 1 day ago, no purchase yet"
    assert prospect_reasons({"tenure_days": 21.0})[0] == "signed up 21 days ago, no purchase yet"
    assert prospect_reasons({"tenure_days": 1.0}, "zh")[0] == "注册 1 天，尚未购买"
