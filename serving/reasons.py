"""Churn reasons in words, from LightGBM's own per-feature contributions (``pred_contrib=True``).

Features are grouped into concepts (``recency_days`` and ``recency_ratio`` are one concept), a
concept's weight is the sum of its features' contributions (log-odds), and the concepts pushing
churn up are reported, strongest first; a low-risk customer (churn probability under
``ReasonsConfig.low_risk_below``, safer than the model's average) gets those holding it down: a 2%
risk is explained by "last purchase 5 days ago, usual gap 15 days", not by the small upward
corrections around it. The concept's strongest feature picks the phrase (e.g. the window of a
count).

Only behaviour a CRM user can act on or check is a reason: purchases, gaps, spend, returns,
complaints, tickets, visits and other interactions, surveys, tenure (``BEHAVIOUR_CONCEPTS``). The
calendar (``cutoff_month``), static attributes (``region``, ``channel``, ``segment``) and any other
feature without a template still count in the model but never become a reason. A customer with a
score always gets at least one reason: when no behaviour moves the score that way, the behaviour
that moves it most, and when the contributions say nothing, the customer's purchase recency.
Numbers are rounded for people: days whole, money to cents.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from features.catalog import YEAR_AGO_DAYS
from features.endings import ENDED_DAYS, ENDS_IN_DAYS
from serving.stages import VISIT_COLUMNS

#: Names of the bias column of a contribution frame (dropped before ranking).
BIAS_COLUMNS = ("bias", "expected_value", "BiasTerm")

Row = Mapping[str, Any]
Phrase = Callable[[re.Match[str], Row], "Said | None"]


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


@dataclass(frozen=True)
class Count:
    """``n`` of a noun (``order``, ``complaint`` ...), said with the phrasebook's plural forms."""

    n: float
    noun: str


#: A phrase before it is put into words: its key in the phrasebook and its parameters.
Said = tuple[str, dict[str, Any]]


def _say(key: str, **params: Any) -> Said:
    return key, params


class Phrasebook(BaseModel):
    """The words of the reasons in one language (``serving/labels/reasons.<language>.yaml``):
    ``phrases`` (key -> text with ``{parameters}``) and ``nouns`` (noun -> ``zero``/``one``/
    ``other`` forms with ``{n}``) and ``actions`` (campaign action -> noun phrase). Every key of
    the English book must be there, and no other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str
    phrases: dict[str, str]
    nouns: dict[str, dict[Literal["zero", "one", "other"], str]]
    actions: dict[str, str]  # campaign actions as noun phrases, for the uplift reasons
    #: a number's unit in the plural -> its singular, said of 1 ("1 days" -> "1 day")
    singulars: dict[str, str] = {}

    def count(self, c: Count) -> str:
        n = round(c.n)
        forms = self.nouns[c.noun]
        form = forms.get("zero") if n == 0 else forms.get("one") if n == 1 else None
        return (form or forms["other"]).format(n=n)

    def words(self, said: Said) -> str:
        key, params = said
        values = {k: self.count(v) if isinstance(v, Count) else v for k, v in params.items()}
        text = self.phrases[key].format(**values)
        for plural, singular in self.singulars.items():
            text = re.sub(rf"(?<![\d.,]){re.escape(plural)}\b", singular, text)
        return text


def reasons_path(language: str) -> Path:
    return Path(__file__).with_name("labels") / f"reasons.{language}.yaml"


@functools.lru_cache(maxsize=8)
def phrasebook(language: str = "en") -> Phrasebook:
    """The reasons' words in ``language``, checked against the English book's keys."""
    from serving.labels import LabelError, validated_yaml

    path = reasons_path(language)
    if not path.exists():
        raise LabelError(f"no reasons phrasebook {path} for language {language!r}")
    book = validated_yaml(path, Phrasebook, LabelError)
    if language != "en":
        english = phrasebook("en")
        for section in ("phrases", "nouns", "actions"):
            want, have = set(getattr(english, section)), set(getattr(book, section))
            if want != have:
                raise LabelError(
                    f"{path}: {section}: missing {sorted(want - have)}, unknown "
                    f"{sorted(have - want)}"
                )
    return book


# --- phrases per concept -------------------------------------------------------------------------


def _recency(m: re.Match[str], row: Row) -> Said | None:
    recency, gap = _number(row, "recency_days"), _number(row, "mean_gap_days")
    if recency is None:
        return None
    if gap is None:
        return _say("recency.one_purchase", days=_days(recency))
    if recency < gap:  # not overdue: a fact either way ("no purchase for" would read as a risk)
        return _say("recency.on_rhythm", days=_days(recency), gap=_days(gap))
    return _say("recency.overdue", days=_days(recency), gap=_days(gap))


#: Gaps whose spread (standard deviation) is under this share of their mean read as regular.
IRREGULAR_SPREAD = 0.5
#: Gaps needed before close ones read as "buys regularly" (a donor's £5k, £50k and £10k within
#: two months read "buys regularly: every 32 days"); fewer close gaps are not said either way.
STEADY_MIN_GAPS = 3


def _rhythm(m: re.Match[str], row: Row) -> Said | None:
    value = _number(row, m[0])
    if m[0] == "mean_gap_days":
        if value is None:
            return _say("rhythm.one_purchase")
        return _say("rhythm.mean_gap", days=_days(value))
    gaps = _number(row, "frequency")  # repeat purchase days: the number of gaps
    if gaps is None and (orders := _number(row, "orders_all")) is not None:
        gaps = orders - 1
    if value is None or gaps == 1:  # one gap: its spread says nothing
        return None
    mean = _number(row, "mean_gap_days")
    if mean is not None and value < IRREGULAR_SPREAD * mean:  # "irregular: vary by 0 days" no
        if gaps is not None and gaps < STEADY_MIN_GAPS:  # three gifts in two months: no habit
            return None
        return _say("rhythm.steady", days=_days(value), gap=_days(mean))
    return _say("rhythm.irregular", days=_days(value))


def _orders_trend(m: re.Match[str], row: Row) -> Said | None:
    trend, recent = _number(row, "orders_trend_90d"), _number(row, "orders_90d")
    if trend is None:
        return None
    if recent is None:
        return _say("orders_trend.change", trend=f"{trend:+.0f}")
    before = recent - trend
    if recent == before == 0:
        return _say("orders_trend.none")
    key = "orders_trend.fewer" if trend < 0 else "orders_trend.compare"
    return _say(key, recent=f"{recent:.0f}", before=f"{before:.0f}")


def _orders(m: re.Match[str], row: Row) -> Said | None:
    if m["window"]:
        n = _number(row, m[0])
        return None if n is None else _say("orders.window", orders=Count(n, "order"),
                                           window=m["window"])  # fmt: skip
    n = _number(row, "orders_all")
    if n is None and (x := _number(row, "frequency")) is not None:
        n = x + 1
    return None if n is None else _say("orders.total", purchases=Count(n, "purchase"))


def _revenue_trend(m: re.Match[str], row: Row) -> Said | None:
    trend, recent = _number(row, "revenue_trend_90d"), _number(row, "revenue_90d")
    if trend is None:
        return None
    if recent is None:
        key = "revenue_trend.down" if trend < 0 else "revenue_trend.up"
        return _say(key, amount=_money(abs(trend)))
    before = recent - trend
    if recent == before == 0:
        return _say("revenue_trend.none")
    key = "revenue_trend.fell" if trend < 0 else "revenue_trend.compare"
    return _say(key, recent=_money(recent), before=_money(before))


def _spend(m: re.Match[str], row: Row) -> Said | None:
    value = _number(row, m[0])
    if value is None:
        return None
    if m["window"]:
        if value == 0:
            return _say("spend.nothing", window=m["window"])
        return _say("spend.window", amount=_money(value), window=m["window"])
    key = {
        "revenue_all": "spend.total",
        "avg_order_value": "spend.average_order",
        "first_order_value": "spend.first_order",
    }[m[0]]
    return _say(key, amount=_money(value))


def _returns(m: re.Match[str], row: Row) -> Said | None:
    share = _number(row, m[0])
    if share is None or share <= 0:  # "returned 0%" explains nothing to a reader
        return None
    return _say("returns.share", share=f"{share:.0%}")


def _breadth(m: re.Match[str], row: Row) -> Said | None:
    n = _number(row, m[0])
    if n is None:
        return None
    if n == 0:
        return _say("breadth.none")
    return _say("breadth.categories", categories=Count(n, "category"))


#: Engagement event types with a noun of their own in the phrasebook.
_EVENT_TYPES = (
    "complaint",
    "support_ticket",
    "visit",
    "login",
    "email_open",
    "email_click",
    "survey",
    "other",
)


def _event_count(m: re.Match[str], row: Row) -> Said | None:
    n = _number(row, m[0])
    if n is None:
        return None
    return _say("events.window", events=Count(n, m["event"]), window=m["window"])


def _inactivity(m: re.Match[str], row: Row) -> Said | None:
    return _last_interaction(row)


def _last_interaction(row: Row) -> Said:
    days = _number(row, "days_since_last_event")
    if days is None:
        return _say("inactivity.never")
    if days < 1:  # not "no interaction for 0 days"
        return _say("inactivity.recent")
    return _say("inactivity.days", days=_days(days))


def _engagement_trend(m: re.Match[str], row: Row) -> Said | None:
    trend = _number(row, m[0])
    if trend is None:
        return None
    if trend < 0:
        return _say("engagement_trend.fewer", n=f"{abs(trend):.0f}")
    return _say("engagement_trend.change", trend=f"{trend:+.0f}")


def _events(m: re.Match[str], row: Row) -> Said | None:
    n = _number(row, m[0])
    if n is None:
        return None
    if m["window"]:
        return _say("events.window", events=Count(n, "interaction"), window=m["window"])
    return _say("events.total", events=Count(n, "interaction"))


def _satisfaction(m: re.Match[str], row: Row) -> Said | None:
    mean, trend = _number(row, "satisfaction_mean_180d"), _number(row, "satisfaction_trend_90d")
    if mean is None:
        return _say("satisfaction.none")
    if trend is not None and trend < 0:
        return _say("satisfaction.down", drop=f"{abs(trend):.1f}", mean=f"{mean:.1f}")
    return _say("satisfaction.mean", mean=f"{mean:.1f}")


def _tenure(m: re.Match[str], row: Row) -> Said | None:
    days = _number(row, m[0])
    if days is None:
        return None
    if m[0] == "age_days":
        return _say("tenure.first_purchase", days=_days(days))
    return _say("tenure.customer_for", days=_days(days))


def _paid_ahead(m: re.Match[str], row: Row) -> Said | None:
    days = _number(row, m[0])
    if days is None:
        return None
    if days <= 0:
        return _say("contract.ended")
    end = pd.Timestamp(row["cutoff"]) + pd.Timedelta(days=days) if "cutoff" in row else None
    day = "" if end is None or pd.isna(end) else end.date().isoformat()
    return _say("contract.paid_ahead", days=_days(days), date=day)


@dataclass(frozen=True)
class Template:
    """Features matching ``pattern`` belong to ``concept`` and are described by ``phrase``."""

    concept: str
    pattern: re.Pattern[str]
    phrase: Phrase


def _t(concept: str, pattern: str, phrase: Phrase) -> Template:
    return Template(concept, re.compile(pattern), phrase)


_EVENTS = "|".join(e for e in _EVENT_TYPES if e not in ("complaint", "support_ticket"))

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
    _t("contract", r"^paid_ahead_days$", _paid_ahead),
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


def _said(feature: str, row: Row) -> tuple[bool, Said | None]:
    """Whether a template fits ``feature``, and what it says of this row (None: no data)."""
    for template in TEMPLATES:
        if match := template.pattern.match(feature):
            try:
                return True, template.phrase(match, row)
            except (KeyError, TypeError, ValueError):
                return True, None
    return False, None


def phrase_for(feature: str, row: Row, language: str = "en") -> str:
    """The phrase describing ``feature`` for one customer (generic when no template fits)."""
    _, said = _said(feature, row)
    return generic_phrase(feature, row) if said is None else phrasebook(language).words(said)


def behaviour_phrase(feature: str, row: Row, language: str = "en") -> str | None:
    """The template phrase of a behaviour feature for one customer; None when the feature is not
    behaviour or the customer lacks the data the phrase needs."""
    _, said = _said(feature, row)
    return None if said is None else phrasebook(language).words(said)


def prospect_reasons(row: Row, language: str = "en") -> list[str]:
    """What a CRM user can read of a prospect (no purchase yet, no churn score): how long ago
    they signed up and, where the data set has events, their last interaction; an app's active
    non-buyer and one gone for a year read alike without it."""
    book = phrasebook(language)
    said = []
    if (days := _number(row, "tenure_days")) is not None:
        said.append(book.words(_say("tenure.signed_up", days=_days(days))))
    if "days_since_last_event" in row:
        said.append(book.words(_last_interaction(row)))
    return said


def ended_reason(row: Row, language: str = "en") -> str:
    """The reason of a customer who ended the relationship (``features.endings``): when."""
    return _end_said(row, language, "tenure.ended", -float(row[ENDED_DAYS]))


def notice_reason(row: Row, language: str = "en") -> str:
    """The reason of a customer whose end is still ahead (a notice given): when."""
    return _end_said(row, language, "tenure.ends_in", float(row[ENDS_IN_DAYS]))


def do_not_contact_reason(language: str = "en") -> str:
    """The first reason of a customer the CRM says not to contact (``customers.do_not_contact``)."""
    return phrasebook(language).words(_say("contact.do_not_contact"))


def channel_reason(channel: str, closed: bool, language: str = "en") -> str:
    """The first reason of a customer the CRM bars from the channel of the contact their tier
    would get (``serving.channels``): another channel instead, or none open (``closed``)."""
    return phrasebook(language).words(_say(f"contact.{channel}_{'closed' if closed else 'barred'}"))


def basket_reason(row: Row, language: str = "en") -> str:
    """The reason of a buyer whose basket shrank (``serving.stages.shrinking_basket``): their
    revenue per order in the last 90 days against the year's."""
    now = float(row["revenue_90d"]) / float(row["orders_90d"])
    year = float(row["revenue_365d"]) / float(row["orders_365d"])
    drop = f"{100 * (1 - now / year):.0f}"
    return phrasebook(language).words(
        _say("basket.shrinking", now=_money(now), year=_money(year), drop=drop)
    )


def visiting_reason(row: Row, language: str = "en") -> str:
    """The reason of a buyer lapsed by their rhythm who still comes by
    (``serving.stages.lapsed_visitors``): how long without a purchase, how many visits and logins
    in the last 90 days."""
    visits = sum(float(row.get(c) or 0) for c in VISIT_COLUMNS if pd.notna(row.get(c)))
    return phrasebook(language).words(
        _say(
            "engagement.still_visiting",
            days=_days(float(row["recency_days"])),
            n=f"{visits:.0f}",
        )
    )


def pause_reason(row: Row, language: str = "en") -> str:
    """The reason of a buyer on a seasonal pause (``serving.stages.seasonal_pause``): as quiet
    at this date a year ago, and when they bought again then."""
    cutoff = pd.Timestamp(row["cutoff"])
    back = cutoff - pd.Timedelta(days=YEAR_AGO_DAYS - float(row["year_ago_return_days"]))
    return phrasebook(language).words(
        _say(
            "rhythm.seasonal_pause",
            days=f"{float(row['year_ago_recency_days']):.0f}",
            date=back.date().isoformat(),
        )
    )


def _end_said(row: Row, language: str, key: str, offset: float) -> str:
    """``key`` said of an end ``offset`` days from the row's cutoff (before it: negative)."""
    end = pd.Timestamp(row["cutoff"]) + pd.Timedelta(days=offset) if "cutoff" in row else None
    day = "" if end is None or pd.isna(end) else end.date().isoformat()
    return phrasebook(language).words(_say(key, days=_days(abs(offset)), date=day))


def fallback_reason(row: Row, language: str = "en") -> str:
    """The reason of a customer whose contributions name no behaviour: their purchase recency
    (or purchase count), which every buyer has."""
    for feature in ("recency_days", "orders_all", "frequency"):
        if phrase := behaviour_phrase(feature, row, language):
            return phrase
    return phrasebook(language).words(_say("fallback.too_short"))


def reasons_from_contributions(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    top_k: int = 3,
    *,
    min_contribution: float = 0.0,
    language: str = "en",
    probability: np.ndarray | None = None,
    low_risk_below: float = 0.0,
    offset_share: float = 0.0,
) -> list[list[str]]:
    """Up to ``top_k`` phrases per row, strongest first: the concepts pushing churn up the most;
    for a low-risk customer (``probability`` under ``low_risk_below``, and contributions adding up
    below 0: safer than the model's average), those holding it down the most. A customer
    explained by what pushes the risk up also gets, last, the concept holding it down most
    ("but 2 visits in the last 30 days") when it weighs at least ``offset_share`` of the
    strongest push (0: never): why a long-quiet customer is declining, not churned.

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
    # A low-risk customer is explained by what holds the risk down: "11 orders in the last 180
    # days" read as a churn reason for a customer at 2% whose recency held the risk down most.
    low = np.zeros(len(raw), dtype=bool)
    if probability is not None and features_only:
        p = np.asarray(probability, dtype=float)
        low = (p < low_risk_below) & (np.nansum(raw[:, features_only], axis=1) <= 0)
    book = phrasebook(language)
    records = _records(features) if scored.any() else []
    reasons: list[list[str]] = []
    for i in range(len(values)):
        if not scored[i]:
            reasons.append([])
            continue
        row = records[i]
        sign = -1.0 if low[i] else 1.0
        picked = holder if low[i] else leader
        chosen: list[Said] = []
        for k in np.argsort(-sign * weight[i], kind="stable"):
            if sign * weight[i, k] <= threshold or len(chosen) == top_k:
                break
            _, said = _said(columns[picked[i, k]], row)
            if said:
                _add_fact(chosen, said)
        if not chosen:  # nothing moves it that way: the behaviour that moves it most
            for k in np.argsort(np.abs(weight[i]) * -1, kind="stable"):
                if weight[i, k] == 0:
                    break
                _, said = _said(columns[(leader if weight[i, k] > 0 else holder)[i, k]], row)
                if said:
                    chosen.append(said)
                    break
        words = [book.words(c) for c in chosen] if chosen else [fallback_reason(row, language)]
        if offset_share > 0 and not low[i] and chosen and len(concepts):
            k = int(np.argmin(weight[i]))
            if weight[i, k] < 0 and -weight[i, k] >= offset_share * max(weight[i].max(), 0.0):
                _, said = _said(columns[holder[i, k]], row)
                if said and said not in chosen and _reads_as_offset(said):
                    words.append(book.words(_say("offset.but", fact=book.words(said))))
        reasons.append(words)
    return reasons


#: Phrases whose only content is "no purchase in the last N days".
_QUIET_ONLY = frozenset(
    {"spend.nothing", "orders.window", "orders_trend.none", "revenue_trend.none"}
)
#: Recency phrases that state the usual gap between purchases.
_RECENCY_WITH_GAP = frozenset({"recency.on_rhythm", "recency.overdue"})
#: What "only one purchase, N days ago" already says.
_ONE_PURCHASE_SAID = frozenset({"rhythm.one_purchase", "tenure.first_purchase", "orders.total"})


#: Phrases that read as what holds a risk down ("but 7 visits in the last 90 days"); a
#: holding-down fact worded as an absence ("no purchase for 27 days, usually every 19": short of
#: the customer's own gaps) would read as one more risk after a "but".
_OFFSET_PHRASES = frozenset(
    {
        "recency.on_rhythm",
        "rhythm.steady",
        "rhythm.mean_gap",
        "orders.window",
        "orders.total",
        "revenue_trend.up",
        "spend.window",
        "spend.total",
        "breadth.categories",
        "events.window",
        "events.total",
        "satisfaction.mean",
        "tenure.customer_for",
    }
)


def _reads_as_offset(said: Said) -> bool:
    """Whether a phrase, put after "but", reads as holding the risk down: one of
    :data:`_OFFSET_PHRASES`, its counts above 0."""
    key, params = said
    return key in _OFFSET_PHRASES and all(v.n > 0 for v in params.values() if isinstance(v, Count))


def _quiet_days(said: Said) -> float | None:
    """How many days without a purchase the phrase states (None: it states no such thing)."""
    key, params = said
    if key.startswith("recency."):
        return float(params["days"])
    if key in ("orders_trend.none", "revenue_trend.none"):
        return 180.0  # "no orders / no revenue in the last 180 days"
    if key == "spend.nothing" or (key == "orders.window" and round(params["orders"].n) == 0):
        return float(params["window"])
    return None


def _implies(a: Said, b: Said) -> bool:
    """Whether phrase ``a`` already says everything phrase ``b`` says, whatever the language:
    "no purchase for 368 days" says "nothing spent in the last 365 days", "no purchase for 522
    days, usually every 485" says "buys every 485 days on average", "only one purchase, 9 days
    ago" says "first purchase 9 days ago" and "only one purchase so far"."""
    (ka, pa), (kb, pb) = a, b
    if kb in _QUIET_ONLY and (quiet := _quiet_days(b)) is not None:
        said_quiet = _quiet_days(a)
        return said_quiet is not None and said_quiet >= quiet
    if ka in _RECENCY_WITH_GAP and kb == "rhythm.mean_gap":
        return pb["days"] == pa["gap"]
    if ka == "recency.one_purchase" and kb in _ONE_PURCHASE_SAID:
        if kb == "orders.total":
            return round(pb["purchases"].n) == 1
        return kb == "rhythm.one_purchase" or pb == pa
    return False


def _add_fact(chosen: list[Said], said: Said) -> None:
    """Add ``said`` to the reasons unless one of them already says it; a reason it says in full
    is replaced by it in place (the stronger reason keeps the weaker one's rank)."""
    if any(_implies(c, said) for c in chosen):
        return
    weaker = [j for j, c in enumerate(chosen) if _implies(said, c)]
    if not weaker:
        chosen.append(said)
        return
    chosen[weaker[0]] = said
    for j in reversed(weaker[1:]):
        del chosen[j]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts (as ``to_dict("records")``, without its per-value boxing cost)."""
    columns = [str(c) for c in frame.columns.tolist()]
    return [dict(zip(columns, row, strict=True)) for row in frame.to_numpy(dtype=object)]


# --- uplift: why an action (or none) is recommended ----------------------------------------------


def action_noun(action: str, language: str = "en") -> str:
    """A campaign action as a noun phrase ("a discount"; the phrasebook's ``actions``, else its
    ``uplift.other_action`` with the code in words)."""
    book = phrasebook(language)
    if action in book.actions:
        return book.actions[action]
    return book.words(_say("uplift.other_action", action=action.replace("_", " ")))


def uplift_reason(
    action: str,
    saved: float,
    cost: float,
    horizon_days: int,
    *,
    pays: bool,
    retained_change: float | None = None,
    language: str = "en",
) -> str:
    """Why ``action`` (the best by net value) is recommended, or why no contact is, in words:
    "a discount is expected to keep 41.20 of value over the next 90 days (cost 5.00, net 36.20)".
    Money to cents, like the other reasons; ``retained_change`` (change in the probability of a
    purchase in the window) is added in percentage points when known."""
    book = phrasebook(language)
    noun, days = action_noun(action, language), horizon_days
    if pays:
        text = book.words(
            _say(
                "uplift.pays",
                action=noun,
                saved=_money(saved),
                days=days,
                cost=_money(cost),
                net=_money(saved - cost),
            )  # fmt: skip
        )
        if (
            retained_change is not None
            and math.isfinite(retained_change)
            and round(100 * retained_change) != 0
        ):
            text += book.words(_say("uplift.retained", points=f"{100 * retained_change:+.0f}"))
        return text[0].upper() + text[1:]
    if saved > 0:
        said = _say("uplift.no_pay", action=noun, saved=_money(saved), days=days, cost=_money(cost))
    else:
        change = f"{'-' if saved < 0 else ''}{_money(abs(saved))}"
        said = _say("uplift.loses", action=noun, change=change, days=days)
    return book.words(said)


def hold_reason(
    tier: str,
    previous: date,
    score: float,
    line: float,
    limit: float,
    up: bool,
    language: str = "en",
    once: bool = True,
) -> str:
    """Why a customer keeps the previous scoring's tier (``serving.action_hold``): "P2 kept from
    2025-12-04: priority 60.10 is just under the tier line 71.86 (over 57.49), for one scoring"
    (money to cents, like the other reasons; short, without the "; " a CRM field's reasons are
    joined with: a Text(255) field keeps another reason beside it; ``once``:
    ``HoldConfig.once``)."""
    said = _say(
        "hold.kept_up" if up else "hold.kept_down",
        tier=tier,
        date=previous.isoformat(),
        score=_money(score),
        line=_money(line),
        limit=_money(limit),
    )
    book = phrasebook(language)
    return book.words(said) + book.words(_say("hold.once" if once else "hold.band"))
