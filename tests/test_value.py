"""Value matrix, priority (value at risk), tiers, actions, and the assembled score frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from service_fixtures import trained_store  # noqa: F401 (fixture)

from serving.config import STAGES, TIERS, Actions, PriorityTiers, ScoringConfig, ValueMatrix
from serving.labels import load_labels
from serving.scoring import (
    LANGUAGE_ENV,
    SCORE_COLUMNS,
    calibrate_config,
    people_rows,
    score_frame,
    summarise,
)
from serving.value import (
    VALUE_SEGMENTS,
    fit_priority_tiers,
    fit_value_matrix,
    priority_scores,
    priority_tiers,
    recommended_actions,
    value_if_retained,
    value_level,
    value_segments,
)

TIERS_CONFIG = PriorityTiers()  # P1 >= 100, P2 >= 40, P3 >= 10, floor 0.1
DEFAULT = ScoringConfig()


def test_value_levels_at_their_boundaries() -> None:
    levels = value_level([49.99, 50.0, 199.99, 200.0, 0.0, -5.0, math.nan], 50.0, 200.0)
    assert levels.tolist() == ["low", "mid", "mid", "high", "low", "low", "low"]


def test_value_matrix_names_every_cell() -> None:
    matrix = ValueMatrix()  # current 50 / 200, potential 25 / 100
    current = [300.0, 300.0, 300.0, 100.0, 100.0, 100.0, 0.0, 0.0, 0.0]
    potential = [150.0, 50.0, 0.0] * 3
    assert value_segments(current, potential, matrix).tolist() == [
        "champions", "retain", "recover",
        "grow", "core", "maintain",
        "invest", "nurture", "low_touch",
    ]  # fmt: skip
    assert len(set(VALUE_SEGMENTS.values())) == 9


def test_value_if_retained_conditions_on_staying() -> None:
    # E[V] = (1 - p) E[V | stays]: 100 expected at p = 0.5 means 200 if the customer stays
    assert value_if_retained([0.5], [100.0], 0.1).tolist() == [200.0]
    # the floor bounds the blow-up as p -> 1: 10 / max(0.05, 0.1)
    assert value_if_retained([0.95], [10.0], 0.1).tolist() == pytest.approx([100.0])
    assert value_if_retained([0.2, math.nan], [-30.0, math.nan], 0.1).tolist() == [0.0, 0.0]


def test_priority_is_expected_value_at_risk() -> None:
    p = [0.5, 0.95, 0.0, math.nan, 0.5]
    value = [100.0, 10.0, 500.0, 80.0, 100.0]
    prospect = [0, 0, 0, 0, 1]
    scores = priority_scores(p, value, TIERS_CONFIG, is_prospect=prospect)
    assert scores.tolist() == pytest.approx([100.0, 95.0, 0.0, 0.0, 0.0])
    # a caller with E[value | stays] (e.g. a two-part CLV model) passes it directly
    given = priority_scores([0.5], [100.0], TIERS_CONFIG, retained_value=[150.0])
    assert given.tolist() == [75.0]


def test_value_at_risk_carries_churn_to_the_value_horizon() -> None:
    """With BG/NBD's P(no purchase) at both horizons, value at risk takes the churn probability
    over the value horizon (the model's log-odds shift kept); the churn probability itself when
    the horizons are one or a row lacks either forecast."""
    from serving.value import churn_within_value_horizon
    from training.dataset import VALUE_HORIZON_P0

    p = np.array([0.8, 0.5, 0.5, 0.3, math.nan])
    rows = pd.DataFrame(
        {
            "btyd_p_no_purchase": [0.8, 0.6, 0.4, math.nan, 0.5],
            VALUE_HORIZON_P0: [0.5, 0.6, 0.2, 0.2, 0.3],
        }
    )
    carried = churn_within_value_horizon(rows, p)
    # row 0: the model agrees with BG/NBD at 90 days, so it takes BG/NBD's 0.5 over 180 days
    # row 2: log-odds 0 - logit(0.4) + logit(0.2) -> 0.2 x 0.6 / (0.2 x 0.6 + 0.8 x 0.4) = 0.2727
    assert carried[:4] == pytest.approx([0.5, 0.5, 0.12 / 0.44, 0.3])
    assert math.isnan(carried[4])
    assert np.array_equal(
        churn_within_value_horizon(rows.drop(columns=[VALUE_HORIZON_P0]), p), p, equal_nan=True
    )
    scores = score(feature_rows(), [0.8, 0.8, math.nan], [100.0] * 3, None)
    at_90_only = scores["value_at_risk"].iloc[0]
    assert at_90_only == pytest.approx(0.8 * 100 / 0.2)  # no BTYD columns: the churn horizon
    rows = feature_rows().assign(btyd_p_no_purchase=0.8, **{VALUE_HORIZON_P0: 0.5})
    scores = score(rows, [0.8, 0.8, math.nan], [100.0] * 3, None)
    assert scores["value_at_risk"].iloc[0] == pytest.approx(0.5 * 100 / 0.5)
    assert scores["churn_probability"].iloc[0] == 0.8  # what is shown stays the churn horizon's


def test_tiers_at_their_boundaries() -> None:
    scores = [100.0, 99.99, 40.0, 39.99, 10.0, 9.99, 0.0, math.nan]
    assert priority_tiers(scores, TIERS_CONFIG).tolist() == [
        "P1", "P2", "P2", "P3", "P3", "P4", "P4", "P4"
    ]  # fmt: skip


def test_actions_cover_stage_by_tier() -> None:
    actions = Actions()
    cells = {(s, t): actions.action(s, t) for s in STAGES for t in TIERS}
    assert len(set(cells.values())) == len(STAGES) * len(TIERS)
    assert cells["churned", "P1"] == "win_back.account_manager_call"
    assert cells["new", "P4"] == "onboarding_offer.automated_campaign"
    assert cells["declining", "P2"] == "survey_service_recovery.personal_email"
    assert cells["growing", "P3"] == "cross_sell.targeted_campaign"
    assert cells["mature", "P1"] == "loyalty_referral.account_manager_call"
    assert cells["prospect", "P4"] == "first_purchase_incentive.automated_campaign"

    custom = Actions(strategy={"churned": "reactivation"}, overrides={"mature": {"P4": "none"}})
    assert custom.action("churned", "P2") == "reactivation.personal_email"
    assert custom.action("new", "P2") == "onboarding_offer.personal_email"  # merged defaults
    assert recommended_actions(["mature", "mature"], ["P4", "P3"], custom).tolist() == [
        "none",
        "loyalty_referral.targeted_campaign",
    ]


def test_fitted_thresholds_come_from_positive_values() -> None:
    values = np.r_[np.zeros(100), np.arange(1.0, 101.0)]  # zero-heavy, like CLV predictions
    matrix = fit_value_matrix(values, values * 2, quantiles=(0.5, 0.8))
    assert (matrix.current_mid_from, matrix.current_high_from) == pytest.approx((50.5, 80.2))
    assert (matrix.potential_mid_from, matrix.potential_high_from) == pytest.approx((101, 160.4))

    scores = np.arange(1.0, 1001.0)
    tiers = fit_priority_tiers(scores, shares=(0.05, 0.15, 0.30))
    counts = pd.Series(priority_tiers(scores, tiers)).value_counts()
    assert counts.to_dict() == pytest.approx({"P1": 50, "P2": 150, "P3": 300, "P4": 500}, abs=1)

    with pytest.raises(ValueError, match="no positive value"):
        fit_priority_tiers(np.zeros(10))
    # one value shared by every customer (a tiny export, one price): the cuts still increase,
    # the tied customers are mid, nobody is high; the tiers of a constant score likewise
    tied = fit_value_matrix(np.ones(10), np.arange(1.0, 11.0))
    assert tied.current_mid_from == 1.0 < tied.current_high_from < 1.0 + 1e-12
    constant = fit_priority_tiers(np.full(10, 5.0))
    assert constant.p3_from == 5.0 < constant.p2_from < constant.p1_from < 5.0 + 1e-12
    assert set(priority_tiers(np.full(10, 5.0), constant)) == {"P3"}


# --- the assembled score frame -------------------------------------------------------------------


def feature_rows() -> pd.DataFrame:
    base = {
        "is_prospect": 0,
        "recency_days": 20.0,
        "mean_gap_days": 30.0,
        "age_days": 400.0,
        "orders_all": 12,
        "orders_90d": 3,
        "orders_trend_90d": 0.0,
        "revenue_90d": 150.0,
        "revenue_trend_90d": 0.0,
        "complaint_30d": 0,
        "revenue_365d": 600.0,
    }
    return pd.DataFrame(
        [
            {**base, "customer_id": "steady"},
            {**base, "customer_id": "lapsing", "recency_days": 130.0, "complaint_30d": 2},
            {
                **base,
                "customer_id": "prospect",
                "is_prospect": 1,
                "recency_days": math.nan,
                "mean_gap_days": math.nan,
                "age_days": math.nan,
                "orders_all": 0,
                "orders_90d": 0,
                "revenue_90d": 0.0,
                "revenue_365d": 0.0,
            },
        ],
        index=[10, 11, 12],  # scoring must not depend on the caller's index
    )


def contributions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recency_days": [-0.4, 0.9, math.nan],
            "complaint_30d": [-0.1, 0.5, math.nan],
            "bias": [-1.0, -1.0, math.nan],
        }
    )


def score(rows: pd.DataFrame, p, value, contrib, config: ScoringConfig = DEFAULT) -> pd.DataFrame:
    return score_frame(rows, p, value, contrib, config, "2024-01-01", "churn:7", "clv:3")


def test_score_frame_rows() -> None:
    scores = score(feature_rows(), [0.1, 0.85, math.nan], [200.0, 20.0, 60.0], contributions())
    assert tuple(scores.columns) == SCORE_COLUMNS
    steady, lapsing, prospect = scores.to_dict("records")

    assert steady["stage"] == "mature" and steady["value_segment"] == "champions"
    assert steady["priority_score"] == pytest.approx(0.1 * 200 / 0.9)  # 22.2 -> P3
    assert steady["value_at_risk"] == steady["priority_score"]  # no campaign data: the same
    assert steady["priority_tier"] == "P3"
    assert steady["recommended_action"] == "loyalty_referral.targeted_campaign"
    assert steady["recommended_action_label"] == (
        "Targeted loyalty campaign with a referral request"
    )
    # a low-risk customer (0.1): what holds its churn down, strongest first
    assert steady["reasons"] == [
        "last purchase 20 days ago, usual gap 30 days",
        "no complaints in the last 30 days",
    ]

    assert lapsing["stage"] == "churned" and lapsing["value_segment"] == "recover"
    assert lapsing["priority_score"] == pytest.approx(0.85 * 20 / 0.15)  # 113 -> P1
    assert lapsing["recommended_action"] == "win_back.account_manager_call"
    assert lapsing["reasons"] == [
        "no purchase for 130 days, usually every 30",
        "2 complaints in the last 30 days",
    ]

    assert prospect["stage"] == "prospect" and math.isnan(prospect["churn_probability"])
    assert prospect["priority_score"] == 0.0 and prospect["priority_tier"] == "P4"
    assert prospect["recommended_action"] == "first_purchase_incentive.automated_campaign"
    assert prospect["value_segment"] == "nurture" and prospect["reasons"] == []

    assert scores["as_of"].eq(pd.Timestamp("2024-01-01")).all()
    assert set(scores["churn_model_version"]) == {"churn:7"}
    assert set(scores["clv_model_version"]) == {"clv:3"}


def test_scoring_one_customer_alone_gives_the_batch_row() -> None:
    rows, contrib = feature_rows(), contributions()
    p, value = np.array([0.1, 0.85, math.nan]), np.array([200.0, 20.0, 60.0])
    batch = score(rows, p, value, contrib)
    for i in range(len(rows)):
        alone = score(rows.iloc[[i]], p[[i]], value[[i]], contrib.iloc[[i]])
        pd.testing.assert_frame_equal(alone, batch.iloc[[i]].reset_index(drop=True))


def test_score_frame_without_contributions_and_bad_inputs() -> None:
    rows = feature_rows()
    scores = score(rows, [0.1, 0.85, math.nan], [200.0, 20.0, 60.0], None)
    assert scores["reasons"].tolist() == [  # every scored customer has a reason, prospects none
        ["last purchase 20 days ago, usual gap 30 days"],
        ["no purchase for 130 days, usually every 30"],
        [],
    ]
    with pytest.raises(ValueError, match=r"churn_probability must be in \[0, 1\].*lapsing"):
        score(rows, [0.1, 1.5, math.nan], [1.0, 1.0, 1.0], None)
    with pytest.raises(ValueError, match="predicted_value has 2 values for 3"):
        score(rows, [0.1, 0.2, 0.3], [1.0, 1.0], None)
    with pytest.raises(ValueError, match="revenue_365d"):
        score(rows.drop(columns="revenue_365d"), [0.1, 0.2, 0.3], [1.0, 1.0, 1.0], None)


def test_summary_counts_stages_and_value_at_risk() -> None:
    scores = score(feature_rows(), [0.1, 0.85, math.nan], [200.0, 20.0, 60.0], None)
    summary = summarise(scores)
    assert summary["customers"] == 3
    assert summary["customers_per_stage"] == {
        "prospect": 1, "new": 0, "growing": 0, "mature": 1, "declining": 0, "churned": 1
    }  # fmt: skip
    assert summary["customers_per_tier"] == {"P1": 1, "P2": 0, "P3": 1, "P4": 1}
    assert summary["value_at_risk_per_tier"]["P1"] == round(0.85 * 20 / 0.15, 2)  # to cents
    assert summary["value_at_risk"] == round(0.85 * 20 / 0.15 + 200 / 9, 2)


def reference_batch(n: int = 2000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Buyers with spread gaps, revenue, churn probabilities and predicted values."""
    rng = np.random.default_rng(0)
    rows = pd.concat([feature_rows().iloc[[0]]] * n, ignore_index=True)
    rows["customer_id"] = [f"c{i}" for i in range(n)]
    rows["mean_gap_days"] = rng.gamma(2.0, 25.0, n)
    rows["revenue_365d"] = rng.gamma(1.0, 100.0, n)
    return rows, rng.uniform(0, 1, n), rng.gamma(1.0, 50.0, n)


def test_the_experiment_configs_scoring_section_is_kept_as_given_over_the_fit() -> None:
    """An experiment YAML's ``scoring:`` is stored with the pair: a number it names is kept, not
    fitted (a billing base's one-invoice customers pay yearly: default_gap_days 365, not the
    fitted time to come back), rules it sets are fitted with, and the rest is still fitted. The docs
    said to set the hold there, but the experiment config rejected the key."""
    from serving.config import StageRules
    from serving.scoring import fit_scoring_thresholds
    from serving.stages import fit_default_gap_days
    from training.config import ConfigError

    rows, p, value = reference_batch()

    fitted = fit_scoring_thresholds(rows, p, value, 90)
    given = fit_scoring_thresholds(
        rows, p, value, 90, {"stages": {"default_gap_days": 365}, "hold": {"margin": 0.0}}
    )
    assert fitted["stages"]["default_gap_days"] == pytest.approx(
        fit_default_gap_days(rows, StageRules())
    )
    assert given["stages"]["default_gap_days"] == 365 and given["hold"]["margin"] == 0.0
    assert given["stages"]["churn_horizon_days"] == 90
    assert given["priority"] == fitted["priority"]  # still fitted
    with pytest.raises(ConfigError, match=r"scoring:.*stages\.default_gap"):
        fit_scoring_thresholds(rows, p, value, 90, {"stages": {"default_gap": 365}})


def test_the_scoring_section_cannot_move_the_churn_models_horizon() -> None:
    """``scoring: {stages: {churn_horizon_days: 30}}`` over a 90-day churn model was stored as the
    pair's horizon (set over the fitted config after the horizon): the stage rules then read the
    model's 90-day probabilities as 30-day ones. The check says to set labels.churn_horizon_days;
    the fit keeps the model's horizon whatever it is given."""
    from serving.config import check_scoring_section
    from serving.scoring import fit_scoring_thresholds
    from training.config import ConfigError

    rng = np.random.default_rng(0)
    n = 500
    rows = pd.concat([feature_rows().iloc[[0]]] * n, ignore_index=True)
    rows["customer_id"] = [f"c{i}" for i in range(n)]
    rows["mean_gap_days"] = rng.gamma(2.0, 25.0, n)
    rows["revenue_365d"] = rng.gamma(1.0, 100.0, n)
    p, value = rng.uniform(0, 1, n), rng.gamma(1.0, 50.0, n)
    moved = {"stages": {"churn_horizon_days": 30}}
    assert fit_scoring_thresholds(rows, p, value, 90, moved)["stages"]["churn_horizon_days"] == 90
    with pytest.raises(ConfigError, match=r"mine.yaml: scoring: stages.churn_horizon_days .*"
                       r"labels.churn_horizon_days"):  # fmt: skip
        check_scoring_section(moved, "mine.yaml")
    check_scoring_section({"stages": {"churn_horizon_days": None}}, "mine.yaml")  # the docs' block


def test_calibrated_config_scores_the_reference_batch_in_the_intended_shares() -> None:
    rows, p, value = reference_batch()

    config = calibrate_config(ScoringConfig(), rows, p, value)
    # all came back (no one-purchase customer): 90% of them were back by the 90th percentile
    back_by = np.quantile(rows["mean_gap_days"], 0.9)
    assert config.stages.default_gap_days == pytest.approx(back_by / 4, rel=0.01)
    assert config.stages.churned_ratio == ScoringConfig().stages.churned_ratio
    tiers = score(rows, p, value, None, config)["priority_tier"].value_counts(normalize=True)
    assert tiers.to_dict() == pytest.approx(
        {"P1": 0.05, "P2": 0.15, "P3": 0.30, "P4": 0.5}, abs=0.01
    )


def test_action_labels_in_the_language_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, p, value = feature_rows(), [0.1, 0.85, math.nan], [200.0, 20.0, 60.0]
    monkeypatch.delenv(LANGUAGE_ENV, raising=False)
    english = score(rows, p, value, None)
    assert english["recommended_action"].tolist() == [
        "loyalty_referral.targeted_campaign",
        "win_back.account_manager_call",
        "first_purchase_incentive.automated_campaign",
    ]
    assert english["recommended_action_label"].tolist() == [
        load_labels("en").actions[a] for a in english["recommended_action"]
    ]
    monkeypatch.setenv(LANGUAGE_ENV, "zh")
    chinese = score(rows, p, value, None)
    assert chinese["recommended_action"].equals(english["recommended_action"])
    assert chinese["recommended_action_label"].tolist() == [
        load_labels("zh").actions[a] for a in english["recommended_action"]
    ]
    assert all(not label.isascii() for label in chinese["recommended_action_label"])
    # the reasons too, from the Chinese phrasebook, the same facts as in English
    assert english["reasons"][1] == ["no purchase for 130 days, usually every 30"]
    assert chinese["reasons"][1] == ["已 130 天未购买，平时每 30 天购买一次"]
    assert [len(r) for r in chinese["reasons"]] == [len(r) for r in english["reasons"]]
    # the scoring config's language wins over the environment
    config = ScoringConfig.model_validate({"language": "en"})
    assert score(rows, p, value, None, config)["recommended_action_label"].equals(
        english["recommended_action_label"]
    )
    # an override's code is labelled from its parts, or shown as is
    config = ScoringConfig.model_validate(
        {"language": "en", "actions": {"overrides": {"churned": {"P1": "no_action"}}}}
    )
    assert score(rows, p, value, None, config)["recommended_action_label"][1] == "no_action"
    monkeypatch.setenv(LANGUAGE_ENV, "fr")
    with pytest.raises(ValueError, match="LIFECYCLE_LANG='fr': no labels file"):
        score(rows, p, value, None)
    # a locale as LANG spells it is its language; Traditional Chinese is not Simplified, and
    # an unknown language is a user error (one `error:` line from the CLI, not a traceback)
    from training.config import ConfigError

    for locale in ("zh_CN.UTF-8", "zh-CN", "zh-Hans"):
        monkeypatch.setenv(LANGUAGE_ENV, locale)
        assert score(rows, p, value, None)["recommended_action_label"].equals(
            chinese["recommended_action_label"]
        )
    monkeypatch.setenv(LANGUAGE_ENV, "en_US.UTF-8")
    assert score(rows, p, value, None)["recommended_action_label"].equals(
        english["recommended_action_label"]
    )
    monkeypatch.setenv(LANGUAGE_ENV, "zh-TW")
    with pytest.raises(ConfigError, match="LIFECYCLE_LANG='zh-TW': no labels file"):
        score(rows, p, value, None)
    with pytest.raises(ValueError, match="language"):
        ScoringConfig.model_validate({"language": "fr"})


def test_people_read_rounded_numbers_the_scores_keep_full_precision() -> None:
    rows = feature_rows()
    p, value = [0.014571245093847314, 0.99964, math.nan], [1234.56789, 20.004999, 60.0]
    scores = score(rows, p, value, contributions())
    assert scores["churn_probability"][0] == 0.014571245093847314  # the Parquet keeps it all
    people = people_rows(scores)
    assert people["churn_probability"].tolist()[:2] == [0.015, 0.999]  # never reads as certain
    assert math.isnan(people["churn_probability"][2])
    assert people["predicted_value"].tolist() == [1234.57, 20.0, 60.0]
    assert people["priority_score"].tolist() == [round(s, 2) for s in scores["priority_score"]]
    assert people["reasons"][1] == (
        "no purchase for 130 days, usually every 30 | 2 complaints in the last 30 days"
    )
    assert people["recommended_action_label"].equals(scores["recommended_action_label"])
    text = people.to_csv(index=False)
    assert "0.014571" not in text and "1234.56789" not in text


def test_summary_reports_spikes_and_clipping() -> None:
    n = 200
    rows = pd.concat([feature_rows().iloc[[0]]] * n, ignore_index=True)
    rows["customer_id"] = [f"c{i}" for i in range(n)]
    p = np.linspace(0.01, 0.9, n)
    p[:30] = 1 - 1e-6  # at the upper clip bound
    p[30:35] = 1e-6
    summary = summarise(score(rows, p, np.full(n, 10.0), None))["churn_probability"]
    assert summary == {
        "scored": n,
        "distinct": n - 30 + 1 - 5 + 1,
        "most_shared_value": round(1 - 1e-6, 6),
        "most_shared_customers": 30,
        "most_shared_share": 0.15,
        "clip_bounds": [1e-6, 1 - 1e-6],
        "at_lower_bound": 5,
        "at_upper_bound": 30,
    }
    assert summarise(score(feature_rows(), [0.1, 0.2, math.nan], [1.0] * 3, None))[
        "value_at_risk"
    ] == round(0.1 * 1 / 0.9 + 0.2 * 1 / 0.8, 2)


def test_a_trained_pair_scores_without_spikes_and_with_behaviour_reasons(trained_store) -> None:  # noqa: F811
    """A real pair trained on synthetic data (isotonic calibration) and batch scoring: no churn
    probability shared by more than 5% of scored customers unless their features are identical,
    a reason for every scored customer, none from the calendar or static attributes."""
    from serving.batch import load_champions

    scores = pd.read_parquet(trained_store.scores)
    snapshot = pd.read_parquet(trained_store.snapshot)
    columns = load_champions(trained_store.tracking_uri, trained_store.project).churn.columns
    p = scores["churn_probability"]
    scored = p.notna().to_numpy()
    counts = p[scored].value_counts()
    for value, n in counts[counts > 0.05 * scored.sum()].items():
        same = snapshot.loc[(p == value).to_numpy(), columns]
        assert (same.nunique(dropna=False) <= 1).all(), (value, n)
    summary = summarise(scores)["churn_probability"]
    assert summary["scored"] == scored.sum() and summary["distinct"] == p.nunique()
    assert summary["at_upper_bound"] == int((p >= 1 - 1e-6).sum())
    reasons = scores["reasons"].map(list)
    drivers = reasons.map(lambda r: [x for x in r if not x.startswith("but ")])
    assert drivers[scored].map(len).between(1, 3).all()  # top_k, and at most one "but ..." after
    assert reasons.map(lambda r: sum(x.startswith("but ") for x in r) <= 1).all()
    assert reasons.map(lambda r: all(not x.startswith("but ") for x in r[:-1])).all()
    # prospects: when they signed up, and their last interaction (the data set has events)
    assert reasons[~scored].map(len).eq(2).all()
    assert reasons[~scored].map(lambda r: r[0].startswith("signed up ")).all()
    text = " | ".join(" | ".join(r) for r in reasons)
    for word in ("cutoff_month", "segment", "region", "channel", " = ", "btyd"):
        assert word not in text, word


def test_churn_over_the_value_horizon_matches_who_buys_nothing_in_it(trained_store) -> None:  # noqa: F811
    """Value at risk = p x value / (1 - p) needs p over the value horizon (180 days) while the
    churn model's is over 90: scored at a date whose next 180 days no model saw, the carried
    probability's mean is the share of buyers who bought nothing in those days, the churn
    model's own is well above it."""
    from datetime import timedelta

    from serving.batch import feature_snapshot, load_champions, predict
    from serving.value import churn_within_value_horizon

    champions = load_champions(trained_store.tracking_uri, trained_store.project)
    horizon = champions.clv_config.labels.value_horizon_days
    assert champions.churn_config.labels.churn_horizon_days < horizon
    as_of = trained_store.as_of - timedelta(days=horizon)  # after the test cutoff: unseen
    snapshot = feature_snapshot(trained_store.data_dir, as_of, champions, progress=False)
    p, _, _ = predict(snapshot, champions)
    buyers = snapshot["is_prospect"].to_numpy() == 0
    orders = pd.read_parquet(trained_store.data_dir / "transactions.parquet")
    start = pd.Timestamp(as_of)
    window = orders[
        (orders["ordered_at"] >= start)
        & (orders["ordered_at"] < start + pd.Timedelta(days=horizon))
        & (orders["amount"] > 0)
    ]
    silent = ~snapshot["customer_id"].astype(str).isin(set(window["customer_id"].astype(str)))
    actual = float(silent[buyers].mean())
    carried = float(churn_within_value_horizon(snapshot, p)[buyers].mean())
    own = float(p[buyers].mean())
    assert abs(carried - actual) < 0.03, (carried, actual, own)
    assert own - actual > 2 * abs(carried - actual), (carried, actual, own)


def test_every_path_gives_one_value_at_risk_and_older_pairs_keep_theirs(trained_store) -> None:  # noqa: F811
    """/score/ids from a snapshot written before the value-horizon column (or by Spark without
    BTYD columns), /score/features and batch scoring give a customer one value at risk; a pair
    whose stored scoring config predates the column keeps value at risk at the churn horizon,
    as its tier thresholds were fitted."""
    from serving.batch import load_champions, predict
    from serving.config import stored_scoring_config
    from serving.scorer import Scorer
    from training.dataset import VALUE_HORIZON_P0

    champions = load_champions(trained_store.tracking_uri, trained_store.project)
    batch = pd.read_parquet(trained_store.scores).set_index("customer_id")
    snapshot = pd.read_parquet(trained_store.snapshot)
    assert VALUE_HORIZON_P0 in snapshot
    buyers = snapshot.loc[snapshot["is_prospect"] == 0, "customer_id"].head(300).tolist()
    for old in (snapshot.drop(columns=[VALUE_HORIZON_P0]),):  # written before the column
        by_id = Scorer(champions, None, old).score_ids(buyers)
        got = [r.score.value_at_risk for r in by_id]
        assert got == pytest.approx(batch.loc[buyers, "value_at_risk"].tolist(), rel=1e-9)
        tiers = [r.score.priority_tier for r in by_id]
        assert tiers == batch.loc[buyers, "priority_tier"].tolist()

    stored = dict(champions.scoring)
    assert stored["priority"]["value_horizon_churn"] is True  # a pair trained now
    before = {
        **stored,
        "priority": {k: v for k, v in stored["priority"].items() if k != "value_horizon_churn"},
    }
    assert stored_scoring_config(before).priority.value_horizon_churn is False
    assert stored_scoring_config(stored).priority.value_horizon_churn is True
    p, value, contributions = predict(snapshot, champions)
    older = score_frame(
        snapshot, p, value, contributions, stored_scoring_config(before), "2024-01-01", "-", "-"
    )
    # buyers not on a seasonal pause (theirs is last year's revenue the value model does not
    # expect again, whatever the pair's horizons)
    from serving.stages import on_seasonal_pause

    paused = on_seasonal_pause(snapshot, stored_scoring_config(before).stages)
    rows = (snapshot["is_prospect"] == 0).to_numpy() & ~paused
    assert older["value_at_risk"].to_numpy()[rows] == pytest.approx(
        priority_scores(p[rows], value[rows], stored_scoring_config(before).priority)
    )
    assert not np.allclose(
        older["value_at_risk"].to_numpy()[rows], batch["value_at_risk"].to_numpy()[rows]
    )


def test_with_one_horizon_a_posted_row_scores_alike_alone_or_in_a_batch(trained_store) -> None:  # noqa: F811
    """Churn and value over one horizon: a row that sends its own BTYD columns keeps its churn
    probability for value at risk whatever rows come with it (another row that leaves a BTYD
    field out made the service carry it between two numbers that should be one)."""
    from dataclasses import replace

    from serving.batch import load_champions
    from serving.schemas import CustomerFeatures
    from serving.scorer import Scorer

    champions = load_champions(trained_store.tracking_uri, trained_store.project)
    horizon = champions.churn_config.labels.churn_horizon_days
    labels = champions.clv_config.labels.model_copy(update={"value_horizon_days": horizon})
    one = replace(champions, clv_config=champions.clv_config.model_copy(update={"labels": labels}))
    snapshot = pd.read_parquet(trained_store.snapshot)
    scorer = Scorer(one, None, snapshot)
    fields = [c for c in CustomerFeatures.model_fields if c in snapshot.columns]
    rows = snapshot[snapshot["is_prospect"] == 0].head(2)[fields]
    posted = rows.astype(object).where(rows.notna(), None).to_dict("records")
    own = {**posted[0], "btyd_p_no_purchase": round(posted[0]["btyd_p_no_purchase"], 2)}
    other = {**posted[1], "btyd_p_alive": None}  # derived by the service
    alone = scorer.score_features([CustomerFeatures(**own)])[0].score
    together = scorer.score_features([CustomerFeatures(**own), CustomerFeatures(**other)])[0].score
    assert together.value_at_risk == pytest.approx(alone.value_at_risk, rel=1e-12)
    p = alone.churn_probability
    assert alone.value_at_risk == pytest.approx(
        p * max(alone.predicted_value, 0) / max(1 - p, 0.1), rel=1e-9
    )


def test_score_records_are_the_frame_rows_as_the_service_answers_them() -> None:
    """Records built straight from the score columns (online scoring) equal the score frame's rows
    converted one by one: dates, NaN as None, reasons as lists, at every row and column."""
    import json

    from serving.scoring import score_columns, score_records, scores_as_frame

    args = (feature_rows(), [0.1, 0.85, math.nan], [200.0, 20.0, 60.0], contributions(), DEFAULT)
    columns = score_columns(
        *args, "2024-01-01", "churn:7", "clv:3", value_range=([1, 2, 3], [9, 8, math.nan])
    )
    frame = scores_as_frame(columns)
    expected = []
    for row in frame.to_dict("records"):
        row["as_of"] = row["as_of"].date()
        for name in (
            "churn_probability",
            "predicted_value_low",
            "predicted_value_high",
            "expected_saved_value",
        ):
            row[name] = None if pd.isna(row[name]) else row[name]
        row["reasons"] = list(row["reasons"])
        text = row["saved_value_by_action"]
        row["saved_value_by_action"] = json.loads(text) if isinstance(text, str) else None
        expected.append(row)

    assert score_records(columns) == expected
    assert score_records(frame) == expected
    assert expected[2]["churn_probability"] is None and expected[2]["predicted_value_high"] is None
    assert expected[0]["as_of"].isoformat() == "2024-01-01" and expected[1]["reasons"]
    assert list(expected[0]) == list(SCORE_COLUMNS)
