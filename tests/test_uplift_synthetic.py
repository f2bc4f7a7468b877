"""Synthetic randomized campaigns: the realised data agree with the true effects in the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.campaigns import campaign_outcomes
from features.synthetic import generate
from features.synthetic_campaigns import CampaignSpec, true_effects

SPEC = CampaignSpec(sent_at="2025-06-01", horizon_days=90, seed=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("campaigns")
    summary = generate(
        out, 12_000, seed=5, start="2023-01-01", end="2026-01-01", progress=False, campaigns=SPEC
    )
    assert summary.rows["campaigns"] > 4000
    return out


def test_campaign_is_randomized_with_known_shares_and_costs(data):
    camp = pd.read_parquet(data / "campaigns.parquet")
    share = camp["arm"].eq("control").mean()
    assert abs(share - SPEC.control_share) < 0.03
    assert set(camp["action"]) == {"none", *SPEC.actions}
    for action, cost in SPEC.costs.items():
        assert (camp.loc[camp["action"] == action, "cost"] == cost).all()
    tx = pd.read_parquet(data / "transactions.parquet")
    recent = tx[
        (tx["ordered_at"] < pd.Timestamp(SPEC.sent_at))
        & (tx["amount"] > 0)
        & (tx["ordered_at"] >= pd.Timestamp(SPEC.sent_at) - pd.Timedelta(days=SPEC.eligible_days))
    ]
    assert set(camp["customer_id"]) == set(
        recent["customer_id"]
    )  # eligible = bought in the last year


def test_effects_differ_by_customer_as_designed(data):
    truth = pd.read_parquet(data / "campaign_truth.parquet")
    sent = pd.Timestamp(SPEC.sent_at)
    declining = (truth["dropout_at_before"] < sent + pd.Timedelta(days=SPEC.horizon_days)) & (
        truth["dropout_at_before"] >= sent - pd.Timedelta(days=SPEC.winback_days)
    )
    # a retention action only keeps customers who would leave; nobody else gains
    assert (truth.loc[~declining, [f"tau_retained_{a}" for a in SPEC.actions]] <= 1e-12).all().all()
    # a discount keeps price-sensitive decliners (high keep probability) far more than others
    ps = truth["keep_prob_discount"] > 0.3
    assert truth.loc[declining & ps, "tau_retained_discount"].mean() > 2 * max(
        truth.loc[declining & ~ps, "tau_retained_discount"].mean(), 1e-9
    )
    # some customers buy less when contacted: negative true effects exist for every action
    for action in SPEC.actions:
        assert (truth[f"tau_value_{action}"] < 0).mean() > 0.05
    # a call keeps mostly high-value complainers: its best customers gain more than a discount's
    top = truth.nlargest(200, "tau_value_call")
    assert top["tau_value_call"].mean() > top["tau_value_discount"].mean()


def test_realised_outcomes_match_the_true_effects(data):
    outcomes = campaign_outcomes(data, SPEC.horizon_days)
    truth = pd.read_parquet(data / "campaign_truth.parquet")
    m = outcomes.merge(truth, on=["customer_id", "campaign_id"], suffixes=("", "_truth"))
    control = m[m["arm"] == "control"]
    assert abs(control["retained"].mean() - control["base_retained"].mean()) < 0.04
    for action in SPEC.actions:
        arm = m[m["action"] == action]
        expected = (arm["base_retained"] + arm[f"tau_retained_{action}"]).mean()
        assert abs(arm["retained"].mean() - expected) < 0.04, action
    # annoyed customers buy nothing after annoy_days; kept ones buy after their old dropout
    tx = pd.read_parquet(data / "transactions.parquet")
    annoyed = m.loc[m["annoyed"], "customer_id"]
    after = pd.Timestamp(SPEC.sent_at) + pd.Timedelta(days=SPEC.annoy_days)
    assert not (
        (tx["customer_id"].isin(annoyed)) & (tx["ordered_at"] >= after) & (tx["amount"] > 0)
    ).any()
    kept = m[m["kept"] & (m["dropout_at_after"] > m["dropout_at_before"])]
    assert len(kept) > 50
    late = tx.merge(kept[["customer_id", "dropout_at_before"]], on="customer_id")
    assert (late["ordered_at"] >= late["dropout_at_before"]).any()
    # truth.parquet's dropout_at is the realised one
    latent = pd.read_parquet(data / "truth.parquet").set_index("customer_id")["dropout_at"]
    realised = kept.set_index("customer_id")["dropout_at_after"]
    assert (latent.loc[realised.index] == realised).all()


def test_closed_form_effect_is_zero_for_nobody_at_risk():
    truth = pd.DataFrame(
        {
            "customer_id": ["a"],
            "purchase_rate_per_day": [0.05],
            "seasonal_amplitude": [0.0],
            "mean_spend": [50.0],
            "dropout_at": [pd.Timestamp("2030-01-01")],
            "bad_experience_at": [pd.NaT],
            "engagement": [1.0],
        }
    )
    effects = true_effects(truth, SPEC)
    for action in SPEC.actions:
        assert effects[f"tau_value_{action}"].iat[0] == 0.0
    # a steady buyer: P(no purchase in 90 days) = exp(-0.05 * 90)
    assert effects["base_retained"].iat[0] == pytest.approx(1 - np.exp(-4.5))
    assert effects["base_value"].iat[0] == pytest.approx(50 * 0.05 * 90)
    with pytest.raises(ValueError, match="unknown"):
        CampaignSpec(actions=("sms",))
