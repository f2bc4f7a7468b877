"""Orders, returns and engagement events of a population, fully vectorised.

Every stream is a Poisson process per customer on an interval, drawn at once for the whole chunk
(counts, then uniform positions), and thinned where its intensity varies in time (seasonality,
the fade before dropout). Times are float days since the period start, all in ``[0, period)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic_params import (
    COMPLAINT,
    EMAIL_CLICK,
    EMAIL_OPEN,
    LOGIN,
    SUPPORT_TICKET,
    SURVEY,
    VISIT,
    Period,
    SyntheticParams,
    seasonal_factor,
)
from features.synthetic_population import Population


@dataclass(frozen=True)
class Transactions:
    """Order and return rows, sorted by customer then time."""

    owner: np.ndarray  # position of the customer in the population
    time: np.ndarray
    amount: np.ndarray  # negative for returns
    quantity: np.ndarray
    margin: np.ndarray
    category: np.ndarray  # codes into params.categories
    order_number: np.ndarray  # a return carries the number of the order it returns
    is_return: np.ndarray
    n_orders: int


@dataclass(frozen=True)
class Events:
    """Engagement events, sorted by customer then time."""

    owner: np.ndarray
    time: np.ndarray
    event_type: np.ndarray  # codes into EVENT_TYPES
    value: np.ndarray  # satisfaction 1-5 on surveys, NaN otherwise


def poisson_points(
    rng: np.random.Generator, begin: np.ndarray, stop: np.ndarray, rate: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Points of one homogeneous Poisson process per customer on ``[begin, stop)``.

    Returns the owner (customer position) and time of each point; empty intervals give none.
    """
    length = np.maximum(stop - begin, 0.0)
    counts = rng.poisson(rate * length)
    owner = np.repeat(np.arange(begin.size), counts)
    time = begin[owner] + rng.random(owner.size) * length[owner]
    return owner, time


def customer_time_order(owner: np.ndarray, time: np.ndarray) -> np.ndarray:
    """The permutation that sorts rows by customer, then time (to the microsecond written)."""
    micros = np.floor(time * 86_400e6).astype(np.uint64)
    time_bits = int(micros.max(initial=0)).bit_length()
    if time_bits + int(owner.max(initial=0)).bit_length() > 64:
        return np.lexsort((time, owner))
    return np.argsort((owner.astype(np.uint64) << np.uint64(time_bits)) | micros)


def draw_transactions(
    rng: np.random.Generator,
    pop: Population,
    period: Period,
    params: SyntheticParams,
    first_order_number: int,
) -> Transactions:
    """Orders (first purchase, then seasonal Poisson purchases until dropout) and their returns."""
    owner, time = _order_times(rng, pop, period)
    order = customer_time_order(owner, time)
    owner, time = owner[order], time[order]
    category = _order_categories(rng, pop.favourite_category[owner], params)
    shape = params.order_value_shape
    amount = np.maximum(np.round(rng.gamma(shape, pop.mean_spend[owner] / shape), 2), 0.01)
    unit_price = np.array([c.unit_price for c in params.categories])[category]
    quantity = 1.0 + rng.poisson(np.maximum(amount / unit_price - 1.0, 0.0)).astype(float)
    number = first_order_number + np.arange(owner.size, dtype=np.int64)
    n_orders = owner.size
    orders = (owner, time, amount, quantity, category, number)
    returns = _returns(rng, *orders, period=period, params=params)
    owner, time, amount, quantity, category, number = map(
        np.concatenate, zip(orders, returns, strict=True)
    )
    is_return = np.arange(owner.size) >= n_orders
    margin_rate = np.array([c.margin_rate for c in params.categories])[category]
    order = customer_time_order(owner, time)
    return Transactions(
        owner=owner[order],
        time=time[order],
        amount=amount[order],
        quantity=quantity[order],
        margin=np.round(amount * margin_rate, 2)[order],
        category=category[order],
        order_number=number[order],
        is_return=is_return[order],
        n_orders=n_orders,
    )


def _order_times(
    rng: np.random.Generator, pop: Population, period: Period
) -> tuple[np.ndarray, np.ndarray]:
    """The first purchase, then a Poisson process with rate ``lambda * s(t)`` until dropout.

    Drawn at the peak rate ``lambda * (1 + a)`` and thinned with probability ``s(t) / (1 + a)``.
    """
    horizon = period.days
    buyers = np.flatnonzero(pop.first_purchase < horizon)
    begin = np.minimum(pop.first_purchase, horizon)
    stop = np.minimum(pop.dropout, horizon)
    peak = 1.0 + pop.seasonal_amplitude
    owner, time = poisson_points(rng, begin, stop, pop.purchase_rate * peak)
    season = seasonal_factor(period.start_epoch_days + time, pop.seasonal_amplitude[owner])
    keep = rng.random(owner.size) * peak[owner] < season
    return (
        np.concatenate([buyers, owner[keep]]),
        np.concatenate([pop.first_purchase[buyers], time[keep]]),
    )


def _order_categories(
    rng: np.random.Generator, favourite: np.ndarray, params: SyntheticParams
) -> np.ndarray:
    """The customer's favourite category for most orders, any category for the others."""
    share = np.array([c.share for c in params.categories])
    other = rng.choice(share.size, size=favourite.size, p=share / share.sum()).astype(np.int8)
    return np.where(rng.random(favourite.size) < params.favourite_category_share, favourite, other)


def _returns(
    rng: np.random.Generator,
    owner: np.ndarray,
    time: np.ndarray,
    amount: np.ndarray,
    quantity: np.ndarray,
    category: np.ndarray,
    number: np.ndarray,
    *,
    period: Period,
    params: SyntheticParams,
) -> tuple[np.ndarray, ...]:
    """Return rows for some orders: later, negative, whole or partial; none after the period."""
    return_rate = np.array([c.return_rate for c in params.categories])[category]
    returned = np.flatnonzero(rng.random(owner.size) < return_rate)
    when = time[returned] + 1.0 + rng.random(returned.size) * (params.return_delay_max_days - 1.0)
    partial = rng.random(returned.size) < params.partial_return_share
    fraction = np.where(partial, rng.uniform(0.2, 0.8, returned.size), 1.0)
    kept = when < period.days
    returned, when, fraction = returned[kept], when[kept], fraction[kept]
    return (
        owner[returned],
        when,
        -np.round(amount[returned] * fraction, 2),
        -np.maximum(np.round(quantity[returned] * fraction), 1.0),
        category[returned],
        number[returned],
    )


def draw_events(
    rng: np.random.Generator, pop: Population, period: Period, params: SyntheticParams
) -> Events:
    """All engagement events of the population."""
    parts = [
        *_buyer_engagement(rng, pop, period, params),
        *_buyer_service(rng, pop, period, params),
        *_outside_buying(rng, pop, period, params),
        *_prospect_events(rng, pop, period, params),
    ]
    owner = np.concatenate([p[0] for p in parts])
    time = np.concatenate([p[1] for p in parts])
    event_type = np.concatenate([np.full(p[0].size, p[2], dtype=np.int8) for p in parts])
    value = np.concatenate(
        [p[3] if p[3] is not None else np.full(p[0].size, np.nan) for p in parts]
    )
    order = customer_time_order(owner, time)
    return Events(
        owner=owner[order], time=time[order], event_type=event_type[order], value=value[order]
    )


_Part = tuple[np.ndarray, np.ndarray, int, np.ndarray | None]


def _alive_interval(pop: Population, period: Period) -> tuple[np.ndarray, np.ndarray]:
    """``[first purchase, dropout)`` clipped to the period (empty for prospects)."""
    return np.minimum(pop.first_purchase, period.days), np.minimum(pop.dropout, period.days)


def _fade_progress(pop: Population, owner: np.ndarray, time: np.ndarray) -> np.ndarray:
    """0 before the fade starts, rising linearly to 1 at dropout."""
    start = pop.fade_start[owner]
    length = np.maximum(pop.dropout[owner] - start, 1e-9)
    return np.clip((time - start) / length, 0.0, 1.0)


def _buyer_engagement(
    rng: np.random.Generator, pop: Population, period: Period, params: SyntheticParams
) -> list[_Part]:
    """Visits, logins and email activity while alive: proportional to the purchase rate, fading
    linearly to ``fade_floor`` over the fade before dropout."""
    begin, stop = _alive_interval(pop, period)
    drive = pop.purchase_rate * pop.engagement
    rates = {
        VISIT: params.visits_per_purchase * drive,
        LOGIN: params.logins_per_purchase * drive,
        EMAIL_OPEN: params.email_opens_per_purchase * drive
        + params.email_open_base_per_day * pop.engagement,
        EMAIL_CLICK: params.email_clicks_per_purchase * drive,
    }
    parts: list[_Part] = []
    for event_type, rate in rates.items():
        owner, time = poisson_points(rng, begin, stop, rate)
        level = 1.0 - (1.0 - params.fade_floor) * _fade_progress(pop, owner, time)
        keep = rng.random(owner.size) < level
        parts.append((owner[keep], time[keep], event_type, None))
    return parts


def _buyer_service(
    rng: np.random.Generator, pop: Population, period: Period, params: SyntheticParams
) -> list[_Part]:
    """Support tickets and complaints (rising over the fade), the bad experience, and surveys
    whose satisfaction drops over the fade."""
    begin, stop = _alive_interval(pop, period)
    parts: list[_Part] = []
    for event_type, base, peak in (
        (SUPPORT_TICKET, params.support_tickets_per_day, params.fade_ticket_multiplier),
        (COMPLAINT, params.complaints_per_day, params.fade_complaint_multiplier),
    ):
        owner, time = poisson_points(rng, begin, stop, base * peak)
        level = 1.0 + (peak - 1.0) * _fade_progress(pop, owner, time)
        keep = rng.random(owner.size) * peak < level
        parts.append((owner[keep], time[keep], event_type, None))

    bad = np.flatnonzero(pop.bad_experience < period.days)
    parts.append((bad, pop.bad_experience[bad], COMPLAINT, None))
    ticket_time = pop.bad_experience[bad] + 2.0 * rng.random(bad.size)
    in_period = ticket_time < np.minimum(pop.dropout[bad], period.days)
    parts.append((bad[in_period], ticket_time[in_period], SUPPORT_TICKET, None))

    owner, time = poisson_points(rng, begin, stop, params.surveys_per_day)
    score = (
        pop.satisfaction[owner]
        - params.satisfaction_drop * _fade_progress(pop, owner, time)
        + params.survey_noise_sd * rng.standard_normal(owner.size)
    )
    parts.append((owner, time, SURVEY, np.clip(np.round(score), 1.0, 5.0)))
    return parts


def _outside_buying(
    rng: np.random.Generator, pop: Population, period: Period, params: SyntheticParams
) -> list[_Part]:
    """Buyers' browsing and email opens before their first purchase, and a trickle of email
    opens after dropout."""
    horizon = period.days
    buyer = np.where(pop.is_prospect, 0.0, 1.0)
    first = np.minimum(pop.first_purchase, horizon)
    gone = np.minimum(pop.dropout, horizon)
    streams = (
        (VISIT, pop.signup, first, params.browse_visits_per_day * buyer),
        (EMAIL_OPEN, pop.signup, first, params.email_open_base_per_day * pop.engagement * buyer),
        (EMAIL_OPEN, gone, np.full(pop.size, horizon), params.dropped_email_opens_per_day),
    )
    return [
        (*poisson_points(rng, begin, stop, rate), kind, None) for kind, begin, stop, rate in streams
    ]


def _prospect_events(
    rng: np.random.Generator, pop: Population, period: Period, params: SyntheticParams
) -> list[_Part]:
    """Prospects: a few visits in a short spell of interest after sign-up, occasional email
    opens."""
    horizon = period.days
    rate = np.where(pop.is_prospect, pop.engagement, 0.0)
    interest = rng.exponential(params.prospect_interest_mean_days, pop.size)
    visits = poisson_points(
        rng,
        pop.signup,
        np.minimum(pop.signup + interest, horizon),
        params.prospect_visits_per_day * rate,
    )
    opens = poisson_points(
        rng, pop.signup, np.full(pop.size, horizon), params.prospect_email_opens_per_day * rate
    )
    return [(*visits, VISIT, None), (*opens, EMAIL_OPEN, None)]
