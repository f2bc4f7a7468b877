"""Churn reasons in words, from LightGBM's own per-feature contributions (``pred_contrib=True``).

Features are grouped into concepts (``recency_days`` and ``recency_ratio`` are one concept), a
concept's weight is the sum of its features' contributions (log-odds), and the concepts pushing
churn up are reported, strongest first. The concept's strongest feature picks the phrase (e.g. the
window of a count).

Only behaviour a CRM user can act on or check is a reason: purchases, gaps, spend, returns,
complaints, tickets, visits and other interactions, surveys, tenure (``BEHAVIOUR_CONCEPTS``). The
calendar (``cutoff_month``), static attributes (``region``, ``channel``, ``segment``) and any
other feature without a template still count in the model but never become a reason. A customer
with a score always gets at least one reason: when no behaviour pushes churn up, the behaviour that
holds it down the most (a low risk explained), and when the contributions say nothing, the
customer's purchase recency. Numbers are rounded for people: days whole, money to cents.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Names of the bias column of a contribution frame (dropped before ranking).
BIAS_COLUMNS = ("bias", "expected_value", "BiasTerm")

Row = Mapping[str, Any]
Phrase = Callable[[re.Match[str], Row], "str | None"]


def _number(row: Row, column: str) -> float | None:
    """The row's value as a float, None when absent, null or not numeric."""
    value: Any = row.get(column)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _days(x: float) -> str:
    return f"{x:.0f}"


def _money(x: float) -> str:
    """Money to cents, with thousands separators."""
    return f"{x:,.2f}"


def _count(n: float, singular: str, plural: str | None = None) -> str:
    n = round(n)
    plural = plural or f"{singular}s"
    return f"no {plural}" if n == 0 else f"{n} {singular if n == 1 else plural}"


def _value(value: Any) -> str:
    """Generic rendering of a feature value: integers plainly, floats with 2 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
    return str(value)


def generic_phrase(feature: str, row: Row) -> str:
    """Fallback for features without a template: ``<feature> = <value>``."""
    return f"{feature} = {_value(row.get(feature))}"


# --- phrases per concept -------------------------------------------------------------------------


def _recency(m: re.Match[str], row: Row) -> str | None:
    recency, gap = _number(row, "recency_days"), _number(row, "mean_gap_days")
    if recency is None:
        return None
    if gap is None:
        return f"only one purchase, {_days(recency)} days ago"
    if recency < gap:  # not overdue: a fact either way ("no purchase for" would read as a risk)
        return f"last purchase {_days(recency)} days ago, usual gap {_days(gap)} days"
    return f"no purchase for {_days(recency)} days, usually every {_days(gap)}"


def _rhythm(m: re.Match[str], row: Row) -> str | None:
    value = _number(row, m[0])
    if m[0] == "mean_gap_days":
        if value is None:
            return "only one purchase so far"
        return f"buys every {_days(value)} days on average"
    if value is None:
        return None
    return f"irregular buying: gaps vary by about {_days(value)} days"


def _orders_trend(m: re.Match[str], row: Row) -> str | None:
    trend, recent = _number(row, "orders_trend_90d"), _number(row, "orders_90d")
    if trend is None:
        return None
    if recent is None:
        return f"orders in the last 90 days {trend:+.0f} vs the 90 before"
    before = recent - trend
    if recent == before == 0:
        return "no orders in the last 180 days"
    if trend < 0:
        return f"fewer orders in the last 90 days than the 90 before ({recent:.0f} vs {before:.0f})"
    return f"orders in the last 90 days vs the 90 before: {recent:.0f} vs {before:.0f}"


def _orders(m: re.Match[str], row: Row) -> str | None:
    if m["window"]:
        n = _number(row, m[0])
        return None if n is None else f"{_count(n, 'order')} in the last {m['window']} days"
    n = _number(row, "orders_all")
    if n is None and (x := _number(row, "frequency")) is not None:
        n = x + 1
    return None if n is None else f"{_count(n, 'purchase')} in total"


def _revenue_trend(m: re.Match[str], row: Row) -> str | None:
    trend, recent = _number(row, "revenue_trend_90d"), _number(row, "revenue_90d")
    if trend is None:
        return None
    if recent is None:
        return f"revenue {'down' if trend < 0 else 'up'} {_money(abs(trend))} vs the 90 days before"
    before = recent - trend
    if recent == before == 0:
        return "no revenue in the last 180 days"
    if trend < 0:
        return f"revenue in the last 90 days fell from {_money(before)} to {_money(recent)}"
    return f"revenue in the last 90 days vs the 90 before: {_money(recent)} vs {_money(before)}"


def _spend(m: re.Match[str], row: Row) -> str | None:
    value = _number(row, m[0])
    if value is None:
        return None
    if m["window"]:
        if value == 0:
            return f"nothing spent in the last {m['window']} days"
        return f"spent {_money(value)} in the last {m['window']} days"
    return {
        "revenue_all": f"spent {_money(value)} in total",
        "avg_order_value": f"average order value {_money(value)}",
        "first_order_value": f"first order worth {_money(value)}",
    }[m[0]]


def _returns(m: re.Match[str], row: Row) -> str | None:
    share = _number(row, m[0])
    if share is None or share <= 0:  # "returned 0%" explains nothing to a reader
        return None
    return f"returned {share:.0%} of purchases by value"


def _breadth(m: re.Match[str], row: Row) -> str | None:
    n = _number(row, m[0])
    if n is None:
        return None
    if n == 0:
        return "no product category on record"
    return f"bought from {_count(n, 'category', 'categories')}"


_EVENT_NOUNS = {
    "complaint": ("complaint", "complaints"),
    "support_ticket": ("support ticket", "support tickets"),
    "visit": ("visit", "visits"),
    "login": ("login", "logins"),
    "email_open": ("email opened", "emails opened"),
    "email_click": ("email click", "email clicks"),
    "survey": ("survey answered", "surveys answered"),
    "other": ("other interaction", "other interactions"),
}


def _event_count(m: re.Match[str], row: Row) -> str | None:
    n = _number(row, m[0])
    if n is None:
        return None
    return f"{_count(n, *_EVENT_NOUNS[m['event']])} in the last {m['window']} days"


def _inactivity(m: re.Match[str], row: Row) -> str | None:
    days = _number(row, m[0])
    if days is None:
        return "no visit, login or other interaction on record"
    return f"no visit, login or other interaction for {_days(days)} days"


def _engagement_trend(m: re.Match[str], row: Row) -> str | None:
    trend = _number(row, m[0])
    if trend is None:
        return None
    if trend < 0:
        return f"{abs(trend):.0f} fewer interactions in the last 30 days than in the 30 before"
    return f"interactions in the last 30 days vs the 30 before: {trend:+.0f}"


def _events(m: re.Match[str], row: Row) -> str | None:
    n = _number(row, m[0])
    if n is None:
        return None
    if m["window"]:
        return f"{_count(n, 'interaction')} in the last {m['window']} days"
    return f"{_count(n, 'interaction')} on record"


def _satisfaction(m: re.Match[str], row: Row) -> str | None:
    mean, trend = _number(row, "satisfaction_mean_180d"), _number(row, "satisfaction_trend_90d")
    if mean is None:
        return "no satisfaction survey in the last 180 days"
    if trend is not None and trend < 0:
        return (
            f"satisfaction down {abs(trend):.1f} points in the last 90 days ({mean:.1f}/5 over 180 "
            "days)"
        )
    return f"satisfaction {mean:.1f}/5 over the last 180 days"


def _tenure(m: re.Match[str], row: Row) -> str | None:
    days = _number(row, m[0])
    if days is None:
        return None
    if m[0] == "age_days":
        return f"first purchase {_days(days)} days ago"
    return f"customer for {_days(days)} days"


@dataclass(frozen=True)
class Template:
    """Features matching ``pattern`` belong to ``concept`` and are described by ``phrase``."""

    concept: str
    pattern: re.Pattern[str]
    phrase: Phrase


def _t(concept: str, pattern: str, phrase: Phrase) -> Template:
    return Template(concept, re.compile(pattern), phrase)


_EVENTS = "|".join(e for e in _EVENT_NOUNS if e not in ("complaint", "support_ticket"))

#: First matching template wins. Concepts group features that say the same thing to a CRM user.
TEMPLATES: tuple[Template, ...] = (
    # The BG/NBD + Gamma-Gamma features are functions of purchase count, recency and age: in words,
    # the customer's recency against their usual rhythm.
    _t(
        "recency",
        r"^(recency_days|recency_ratio|btyd_(recency_days|expected_purchases|p_alive|"
        r"expected_value|p_no_purchase))$",
        _recency,
    ),
    _t("rhythm", r"^(mean_gap_days|std_gap_days)$", _rhythm),
    _t("orders_trend", r"^orders_trend_90d$", _orders_trend),
    _t("orders", r"^(orders_(?P<window>\d+)d|orders_all|frequency)$", _orders),
    _t("revenue_trend", r"^revenue_trend_90d$", _revenue_trend),
    _t(
        "spend",
        r"^(revenue_(?P<window>\d+)d|revenue_all|avg_order_value|first_order_value)$",
        _spend,
    ),
    _t("returns", r"^returns_share$", _returns),
    _t("breadth", r"^category_breadth$", _breadth),
    _t("complaints", r"^(?P<event>complaint)_(?P<window>\d+)d$", _event_count),
    _t("support", r"^(?P<event>support_ticket)_(?P<window>\d+)d$", _event_count),
    _t("satisfaction", r"^satisfaction_(mean_180d|trend_90d)$", _satisfaction),
    _t("engagement", r"^days_since_last_event$", _inactivity),
    _t("engagement", rf"^(?P<event>{_EVENTS})_(?P<window>\d+)d$", _event_count),
    _t("engagement", r"^engagement_trend_30d$", _engagement_trend),
    _t("engagement", r"^events_((?P<window>\d+)d|all)$", _events),
    _t("tenure", r"^(tenure_days|age_days)$", _tenure),
)


#: Concepts that may be given as reasons: every concept with a template (customer behaviour).
BEHAVIOUR_CONCEPTS: frozenset[str] = frozenset(t.concept for t in TEMPLATES)


def is_behaviour(feature: str) -> bool:
    """Whether a feature describes behaviour a CRM user can act on or check (has a template)."""
    return concept_of(feature) in BEHAVIOUR_CONCEPTS


@functools.lru_cache(maxsize=4096)
def concept_of(feature: str) -> str:
    """The concept a feature belongs to; a feature without a template is its own concept."""
    for template in TEMPLATES:
        if template.pattern.match(feature):
            return template.concept
    return feature


def phrase_for(feature: str, row: Row) -> str:
    """The phrase describing ``feature`` for one customer (generic when no template fits)."""
    for template in TEMPLATES:
        if match := template.pattern.match(feature):
            try:
                phrase = template.phrase(match, row)
            except (KeyError, TypeError, ValueError):
                phrase = None
            return phrase or generic_phrase(feature, row)
    return generic_phrase(feature, row)


def behaviour_phrase(feature: str, row: Row) -> str | None:
    """The template phrase of a behaviour feature for one customer; None when the feature is not
    behaviour or the customer lacks the data the phrase needs."""
    for template in TEMPLATES:
        if match := template.pattern.match(feature):
            try:
                return template.phrase(match, row)
            except (KeyError, TypeError, ValueError):
                return None
    return None


def fallback_reason(row: Row) -> str:
    """The reason of a customer whose contributions name no behaviour: their purchase recency
    (or purchase count), which every buyer has."""
    for feature in ("recency_days", "orders_all", "frequency"):
        if phrase := behaviour_phrase(feature, row):
            return phrase
    return "purchase history too short to explain the score"


def reasons_from_contributions(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    top_k: int = 3,
    *,
    min_contribution: float = 0.0,
) -> list[list[str]]:
    """Up to ``top_k`` phrases per row: the concepts pushing churn up the most, strongest first.

    ``contributions`` holds one column per model feature (a bias column named in ``BIAS_COLUMNS``
    is ignored) and is aligned by position with ``features``. A row of NaN (no churn score, e.g.
    a prospect) has no reasons; every other row has at least one (see the module docstring), so
    ``min_contribution`` only trims the list. Only behaviour features are reasons. Ties break by
    concept name, so the result is deterministic.
    """
    if len(contributions) != len(features):
        raise ValueError(
            f"contributions has {len(contributions)} rows but features has {len(features)}"
        )
    columns = [str(c) for c in contributions.columns.tolist()]
    features_only = [j for j, c in enumerate(columns) if c not in BIAS_COLUMNS]
    raw = contributions.to_numpy(dtype=float)
    scored = (
        ~np.isnan(raw[:, features_only]).all(axis=1)
        if features_only
        else np.zeros(len(raw), dtype=bool)
    )
    if top_k == 0:
        return [[] for _ in range(len(raw))]
    keep = [j for j in features_only if is_behaviour(columns[j])]
    columns = [columns[j] for j in keep]
    values = np.nan_to_num(raw[:, keep], nan=0.0)
    column_concepts = [concept_of(c) for c in columns]
    concepts = sorted(set(column_concepts))
    members = [np.array([j for j, c in enumerate(column_concepts) if c == k]) for k in concepts]
    if members:
        weight = np.column_stack([values[:, m].sum(axis=1) for m in members])
        leader = np.column_stack([m[values[:, m].argmax(axis=1)] for m in members])
        # the strongest member of a concept holding churn down is its most negative one
        holder = np.column_stack([m[values[:, m].argmin(axis=1)] for m in members])
    else:
        weight = leader = holder = np.zeros((len(values), 0))

    threshold = max(min_contribution, 0.0)
    records = _records(features) if scored.any() else []
    reasons: list[list[str]] = []
    for i in range(len(values)):
        if not scored[i]:
            reasons.append([])
            continue
        row = records[i]
        order = np.argsort(-weight[i], kind="stable")
        chosen: list[str] = []
        for k in order:
            if weight[i, k] <= threshold or len(chosen) == top_k:
                break
            phrase = behaviour_phrase(columns[leader[i, k]], row)
            if phrase and not any(_same_fact(phrase, c) for c in chosen):
                chosen.append(phrase)
        if not chosen:  # nothing pushes churn up: what holds it down the most
            for k in np.argsort(np.abs(weight[i]) * -1, kind="stable"):
                if weight[i, k] == 0:
                    break
                feature = columns[(leader if weight[i, k] > 0 else holder)[i, k]]
                if phrase := behaviour_phrase(feature, row):
                    chosen.append(phrase)
                    break
        reasons.append(chosen or [fallback_reason(row)])
    return reasons


def _same_fact(a: str, b: str) -> bool:
    """Two phrases opening with the same three words say one thing ("only one purchase so far",
    "only one purchase, 24 days ago"): the second is left out."""
    return a.replace(",", " ").split()[:3] == b.replace(",", " ").split()[:3]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts (as ``to_dict("records")``, without its per-value boxing cost)."""
    columns = [str(c) for c in frame.columns.tolist()]
    return [dict(zip(columns, row, strict=True)) for row in frame.to_numpy(dtype=object)]


# --- uplift: why an action (or none) is recommended ----------------------------------------------

#: Campaign actions as a noun phrase in a reason; others read "the <action> action".
ACTION_NOUNS = {
    "discount": "a discount",
    "call": "a call",
    "email": "an email",
    "mens_email": "the men's e-mail",
    "womens_email": "the women's e-mail",
}


def action_noun(action: str) -> str:
    """A campaign action as a noun phrase ("a discount")."""
    return ACTION_NOUNS.get(action, f"the {action.replace('_', ' ')} action")


def uplift_reason(
    action: str,
    saved: float,
    cost: float,
    horizon_days: int,
    *,
    pays: bool,
    retained_change: float | None = None,
) -> str:
    """Why ``action`` (the best by net value) is recommended, or why no contact is, in words:
    "a discount is expected to keep 41.20 of value over the next 90 days (cost 5.00, net 36.20)".
    Money to cents, like the other reasons; ``retained_change`` (change in the probability of a
    purchase in the window) is added in percentage points when known."""
    noun = action_noun(action)
    window = f"over the next {horizon_days} days"
    if pays:
        text = (
            f"{noun} is expected to keep {_money(saved)} of value {window} (cost {_money(cost)}, "
            f"net {_money(saved - cost)})"
        )
        if (
            retained_change is not None
            and math.isfinite(retained_change)
            and round(100 * retained_change) != 0
        ):
            text += (
                f" and to change the chance of a purchase by {100 * retained_change:+.0f} points"
            )
        return text[0].upper() + text[1:]
    if saved > 0:
        return (
            f"No contact pays: the best action, {noun}, is expected to keep {_money(saved)} of "
            f"value {window}, not more than its cost of {_money(cost)}"
        )
    return (
        f"No contact: every action is expected to lose value; the least harmful, {noun}, changes "
        f"it by {'-' if saved < 0 else ''}{_money(abs(saved))} {window}"
    )
