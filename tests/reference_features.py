"""A slow, obvious per-customer loop computing the feature and label schema (docs/schema.md).

Written straight from the definitions, with plain pandas and Python and no shared code with
``features.definitions``, so that the fast Ibis version can be checked against it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

from features.config import DEFAULT_CONFIG, FeatureConfig
from features.contract import EVENT_TYPES

DAY = pd.Timedelta(days=1)
NAN = float("nan")


def _days(delta: pd.Timedelta) -> float:
    return delta / DAY


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else NAN


def reference_features(
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    events: pd.DataFrame | None,
    cutoffs: Sequence,
    config: FeatureConfig = DEFAULT_CONFIG,
) -> pd.DataFrame:
    """One row per existing customer and cutoff, every column of the schema, in a plain loop."""
    tx_by_customer = _records_by_customer(
        transactions, ["ordered_at", "amount", "category", "covers_until"]
    )
    ev_by_customer = _records_by_customer(
        events, ["occurred_at", "event_type", "value", "event_count"]
    )
    rows = []
    for cutoff in cutoffs:
        cutoff = pd.Timestamp(cutoff)
        for customer in customers.to_dict("records"):
            cid = customer["customer_id"]
            tx = [r for r in tx_by_customer.get(cid, []) if r["ordered_at"] < cutoff]
            if not (customer["signup_at"] < cutoff or tx):
                continue
            row = {"customer_id": cid, "cutoff": cutoff}
            if "static" in config.families:
                row |= {c: customer.get(c) for c in ("region", "channel", "segment")}
            if "rfm" in config.families:
                row |= _rfm(tx, customer["signup_at"], cutoff, config)
            if "engagement" in config.families:
                ev = [r for r in ev_by_customer.get(cid, []) if r["occurred_at"] < cutoff]
                row |= _engagement(ev, cutoff, config)
            rows.append(row)
    return pd.DataFrame(rows)


def _records_by_customer(frame: pd.DataFrame | None, columns: list[str]) -> dict[str, list[dict]]:
    """Rows as plain dicts (missing columns as None, NaN as None), grouped by customer."""
    grouped: dict[str, list[dict]] = {}
    if frame is None:
        return grouped
    for record in frame.to_dict("records"):
        row = {c: record.get(c) for c in columns}
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        grouped.setdefault(record["customer_id"], []).append(row)
    return grouped


def _purchase_days(tx: list[dict]) -> dict[pd.Timestamp, float]:
    """Calendar day -> that day's purchase value, for days with a positive amount: the day's
    net when above 0 (its negative rows are discounts), else its positive amounts (they are
    returns)."""
    values: dict[pd.Timestamp, float] = {}
    for r in tx:
        if r["amount"] > 0:
            day = r["ordered_at"].normalize()
            values[day] = values.get(day, 0.0) + r["amount"]
    for day in values:
        net = sum(r["amount"] for r in tx if r["ordered_at"].normalize() == day)
        values[day] = net if net > 0 else values[day]
    return dict(sorted(values.items()))


def _rfm(
    tx: list[dict], signup_at: pd.Timestamp, cutoff: pd.Timestamp, config: FeatureConfig
) -> dict:
    days = _purchase_days(tx)
    day_list = list(days)
    orders = len(day_list)
    seen = [t for t in [signup_at, *(r["ordered_at"] for r in tx)] if t < cutoff]
    out = {
        "is_prospect": int(orders == 0),
        "tenure_days": _days(cutoff - min(seen)),
        "orders_all": orders,
        "revenue_all": sum(r["amount"] for r in tx),
        "frequency": max(orders - 1, 0),
        "recency_days": _days(cutoff - day_list[-1]) if orders else NAN,
        "age_days": _days(cutoff - day_list[0]) if orders else NAN,
        "btyd_recency_days": _days(day_list[-1] - day_list[0]) if orders else NAN,
    }

    def orders_between(start_days: int, end_days: int = 0) -> int:
        start, end = cutoff - start_days * DAY, cutoff - end_days * DAY
        return sum(1 for d in day_list if start <= d < end)

    def revenue_between(start_days: int, end_days: int = 0) -> float:
        start, end = cutoff - start_days * DAY, cutoff - end_days * DAY
        return sum(r["amount"] for r in tx if start <= r["ordered_at"] < end)

    for w in config.windows_days:
        out[f"orders_{w}d"] = orders_between(w)
        out[f"revenue_{w}d"] = revenue_between(w)
    gaps = [_days(b - a) for a, b in pairwise(day_list)]
    net = {d: sum(r["amount"] for r in tx if r["ordered_at"].normalize() == d) for d in days}
    discount_days = {d for d, v in net.items() if v > 0}
    positive = sum(days.values())  # net of a purchase day's discounts
    negative = sum(  # returns: negative rows of days that are no purchase above 0
        r["amount"]
        for r in tx
        if r["amount"] < 0 and r["ordered_at"].normalize() not in discount_days
    )
    mean_gap = _mean(gaps)
    categories = {r["category"] for r in tx if r["amount"] > 0 and r["category"] is not None}
    out |= {
        "avg_order_value": _mean(list(days.values())),
        "first_order_value": days[day_list[0]] if orders else NAN,
        "mean_gap_days": mean_gap,
        "std_gap_days": float(np.std(gaps)) if gaps else NAN,
        "first_gap_days": gaps[0] if gaps else NAN,
        "recency_ratio": out["recency_days"] / mean_gap if gaps else NAN,
        "orders_trend_90d": float(orders_between(90) - orders_between(180, 90)),
        "revenue_trend_90d": revenue_between(90) - revenue_between(180, 90),
        "returns_share": 0.0 if negative == 0 else (-negative / positive if positive else NAN),
        "category_breadth": len(categories),
    }
    year_ago = cutoff - 365 * DAY
    before = [d for d in day_list if d < year_ago]
    since = [d for d in day_list if d >= year_ago]
    out["year_ago_recency_days"] = _days(year_ago - before[-1]) if before else NAN
    out["year_ago_return_days"] = _days(since[0] - year_ago) if since else NAN
    covers = [r["covers_until"] for r in tx if pd.notna(r["covers_until"]) and r["amount"] > 0]
    out["paid_ahead_days"] = max(_days(max(covers) - cutoff), 0.0) if covers else NAN
    return out


def _engagement(ev: list[dict], cutoff: pd.Timestamp, config: FeatureConfig) -> dict:
    """A row stands for ``event_count`` events (1 when blank); rows of 0 are no events."""
    ev = [r | {"n": 1.0 if r["event_count"] is None else r["event_count"]} for r in ev]
    ev = [r for r in ev if r["n"] > 0]
    out: dict = {}

    def between(start_days: int, end_days: int = 0) -> list[dict]:
        start, end = cutoff - start_days * DAY, cutoff - end_days * DAY
        return [r for r in ev if start <= r["occurred_at"] < end]

    def n(rows: list[dict]) -> float:
        return sum(r["n"] for r in rows)

    for w in config.event_windows_days:
        window = between(w)
        for e in EVENT_TYPES:
            out[f"{e}_{w}d"] = n([r for r in window if r["event_type"] == e])
        out[f"other_{w}d"] = n([r for r in window if r["event_type"] not in EVENT_TYPES])

    def satisfaction(start_days: int, end_days: int = 0) -> float:
        rated = [
            r
            for r in between(start_days, end_days)
            if r["event_type"] == "survey" and r["value"] is not None
        ]
        return sum(r["value"] * r["n"] for r in rated) / n(rated) if rated else NAN

    last = max((r["occurred_at"] for r in ev), default=None)
    out |= {
        "events_all": n(ev),
        "days_since_last_event": _days(cutoff - last) if last is not None else NAN,
        "satisfaction_mean_180d": satisfaction(180),
        "satisfaction_trend_90d": satisfaction(90) - satisfaction(180, 90),
        "engagement_trend_30d": float(n(between(30)) - n(between(60, 30))),
    }
    return out


def _discount(annual_rate: float, delay: pd.Timedelta) -> float:
    return math.exp(-annual_rate * _days(delay) / 365)


def reference_labels(
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    cutoffs: Sequence,
    horizon_days: int,
    value_column: str = "amount",
    annual_discount_rate: float = 0.0,
) -> pd.DataFrame:
    """``churned`` (no purchase in the window and not paid ahead through it), ``future_orders``,
    ``future_value`` per existing customer and cutoff."""
    by_customer = _records_by_customer(
        transactions, ["ordered_at", "amount", value_column, "covers_until"]
    )
    rows = []
    for cutoff in cutoffs:
        cutoff = pd.Timestamp(cutoff)
        end = cutoff + horizon_days * DAY
        for customer in customers.to_dict("records"):
            mine = by_customer.get(customer["customer_id"], [])
            past = [r for r in mine if r["ordered_at"] < cutoff]
            if not (customer["signup_at"] < cutoff or past):
                continue
            future = [r for r in mine if cutoff <= r["ordered_at"] < end]
            future_orders = len(_purchase_days(future))
            value = sum(
                r[value_column] * _discount(annual_discount_rate, r["ordered_at"] - cutoff)
                for r in future
                if r[value_column] is not None
            )
            bought_before = len(_purchase_days(past)) > 0
            # paid ahead through the window's end by a sale before it: not gone
            covered = any(
                pd.notna(r["covers_until"]) and r["covers_until"] >= end and r["amount"] > 0
                for r in mine
                if r["ordered_at"] < end
            )
            rows.append(
                {
                    "customer_id": customer["customer_id"],
                    "cutoff": cutoff,
                    "churned": float(future_orders == 0 and not covered) if bought_before else NAN,
                    "future_orders": future_orders,
                    "future_value": value,
                }
            )
    return pd.DataFrame(rows)
