"""A B2B account that keeps ordering but buys less of the range before it leaves (a restaurant
still ordering every week, its basket down by a third on the year's) was `mature`, its reasons
"last purchase 2 days ago": the basket rule makes it `declining`, first reason the basket."""

from __future__ import annotations

import pandas as pd

from serving.config import StageRules
from serving.reasons import basket_reason
from serving.stages import assign_stages

#: Orders weekly: 12 purchase days in each of the last two quarters, 50 in the year, 2 days ago.
WEEKLY = {
    "customer_id": "C10116",
    "is_prospect": 0,
    "recency_days": 2.0,
    "mean_gap_days": 7.3,
    "age_days": 900.0,
    "orders_all": 120,
    "orders_90d": 12,
    "orders_trend_90d": 0.0,
    "revenue_90d": 12 * 200.0,
    "revenue_trend_90d": 12 * -40.0,  # 240 an order in the 90 days before: a 17% drop, noise
    "orders_365d": 50,
    "revenue_365d": 50 * 300.0,
    "complaint_30d": 0,
}


RULES = StageRules()


def _stage(rules: StageRules = RULES, **changes: object) -> str:
    return assign_stages(pd.DataFrame([{**WEEKLY, **changes}]), [0.05], rules).iloc[0]


def test_still_ordering_with_a_basket_a_third_below_the_years_is_declining() -> None:
    assert _stage() == "declining"
    assert _stage(revenue_90d=12 * 240.0) == "mature"  # 80% of the year's basket: noise
    assert _stage(revenue_90d=12 * 240.0, rules=StageRules(declining_basket_share=0.85)) == (
        "declining"
    )


def test_the_basket_rule_needs_a_year_of_history_and_orders_to_judge() -> None:
    assert _stage(age_days=200.0) != "declining"
    assert _stage(orders_90d=2, revenue_90d=400.0, revenue_trend_90d=-80.0) != "declining"
    without_year = {k: v for k, v in WEEKLY.items() if k not in ("orders_365d", "revenue_365d")}
    assert assign_stages(pd.DataFrame([without_year]), [0.05], StageRules()).iloc[0] == "mature"


def test_the_reason_says_how_much_less_per_order() -> None:
    said = basket_reason(WEEKLY)
    assert said == (
        "still ordering but buying less: 200.00 per order in the last 90 days, "
        "down 33% on the year's 300.00"
    )
    assert "33%" in basket_reason(WEEKLY, "zh")
