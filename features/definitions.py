"""Point-in-time features and labels as engine-neutral Ibis expressions (``docs/schema.md`` 2-4).

How a feature table is put together (``features.snapshots.feature_table`` does the wiring):

1. ``cutoffs``: one row per cutoff ``T`` (a midnight) with the start of every window,
   ``start_{W}d = T - W days`` (:func:`cutoffs_table`).
2. What does not depend on the cutoff: each transaction's place in the sequence of purchase
   days (:func:`purchase_rows`: does it open a purchase day, the gap to the previous one).
3. Transactions: rows are joined to every cutoff after them (``time < cutoff``, :func:`stack`)
   and aggregated per ``(customer_id, cutoff)`` (:func:`transaction_aggregates`); a row is in
   window ``W`` when ``time >= start_{W}d``. One cutoff or twelve is the same query.
4. Events (several times as many rows): summed once per customer and interval between
   consecutive cutoffs and window starts (:func:`event_intervals`); every window of every cutoff
   is a union of whole intervals, so only those few rows are joined to the cutoffs
   (:func:`engagement_aggregates`).
5. The population (customers existing at ``T``, :func:`population`, using the first transaction
   and first purchase before ``T`` from step 3) is left-joined to the aggregates, and the
   features are derived from them (``*_features``); absent aggregates mean "nothing before T"
   and become 0 or null as the schema says.

Nothing here reads a clock: every result is a function of the data and the cutoffs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from features import catalog
from features.config import TABLE_FAMILIES, FeatureConfig
from features.contract import COVERS_UNTIL, EVENT_COUNT, EVENT_TYPES

KEY = ["customer_id", "cutoff"]
STATIC_COLUMNS = catalog.family_columns("static")
TREND_DAYS = 90  # orders/revenue/satisfaction trends compare the last 90 days with the 90 before
SATISFACTION_DAYS = 180
ENGAGEMENT_TREND_DAYS = 30
_MICROSECONDS_PER_DAY = 86_400_000_000


# --- column names (declared in ``features.catalog``) ---------------------------------------------


def rfm_columns(config: FeatureConfig) -> list[str]:
    """Names of the RFM family's columns, in output order."""
    return catalog.columns(config, ("rfm",))


def engagement_columns(config: FeatureConfig) -> list[str]:
    """Names of the engagement family's columns, in output order."""
    return catalog.columns(config, ("engagement",))


def feature_columns(config: FeatureConfig) -> list[str]:
    """Columns of the feature table in a stable order (no ``customer_id``, ``cutoff``, labels, or
    the families training adds)."""
    families = tuple(f for f in TABLE_FAMILIES if f in config.families)
    return catalog.columns(config, families)


def rfm_windows(config: FeatureConfig) -> list[int]:
    """Transaction windows to aggregate: the configured ones and the two halves of the trend."""
    return sorted({*config.windows_days, TREND_DAYS, 2 * TREND_DAYS})


def event_windows(config: FeatureConfig) -> list[int]:
    """Event-count windows to aggregate: the configured ones and those of the engagement trend."""
    return sorted({*config.event_windows_days, ENGAGEMENT_TREND_DAYS, 2 * ENGAGEMENT_TREND_DAYS})


def survey_windows() -> list[int]:
    """Windows over which survey scores are summed (satisfaction level and trend)."""
    return sorted({SATISFACTION_DAYS, TREND_DAYS, 2 * TREND_DAYS})


# --- small expression helpers -------------------------------------------------------------------
# Conditional counts are ``COUNT(CASE WHEN ... THEN 1 END)``: as fast as ``SUM(CASE ... 1 ELSE 0)``
# on DuckDB but typed ``BIGINT`` (a sum of integers is a 128-bit ``HUGEINT``, slower to aggregate
# and cast back to int64 afterwards), and faster than ``COUNT(*) FILTER (WHERE ...)``.


def count_if(condition: ir.BooleanValue) -> ir.IntegerValue:
    """Number of rows where ``condition`` holds."""
    return ibis.ifelse(condition, 1, ibis.null("int8")).count()


def sum_if(value: ir.NumericValue, condition: ir.BooleanValue) -> ir.NumericValue:
    """Sum of ``value`` over the rows where ``condition`` holds (0 when there are none)."""
    return ibis.ifelse(condition, value, 0).sum()


def when(condition: ir.BooleanValue, value: ir.Value) -> ir.Value:
    """``value`` where ``condition`` holds, else null (to feed ``min`` / ``max``)."""
    return ibis.ifelse(condition, value, ibis.null(value.type()))


def days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Exact (fractional) number of days from ``earlier`` to ``later``."""
    return later.delta(earlier, unit="microsecond") / _MICROSECONDS_PER_DAY


def whole_days(cutoff: ir.TimestampValue, day: ir.DateValue) -> ir.FloatingValue:
    """Calendar days from ``day`` to the cutoff (a midnight), as a float."""
    return cutoff.date().delta(day, unit="day").cast("float64")


# --- cutoffs and stacking -----------------------------------------------------------------------


def cutoffs_table(cutoffs: ir.Table, window_days: Iterable[int]) -> ir.Table:
    """Add ``start_{W}d = cutoff - W days`` to a table with a ``cutoff`` column (midnights)."""
    starts = {f"start_{w}d": cutoffs.cutoff - ibis.interval(days=w) for w in sorted(window_days)}
    return cutoffs.mutate(**starts)


def stack(rows: ir.Table, cutoffs: ir.Table, time_column: str) -> ir.Table:
    """Pair every row with every cutoff after it: the point-in-time filter ``time < cutoff``."""
    return rows.join(cutoffs, rows[time_column] < cutoffs.cutoff)


def within(stacked: ir.Table, time_column: str, window_days: int) -> ir.BooleanValue:
    """Stacked rows in the window ``[T - window_days, T)`` (all stacked rows are before T)."""
    return stacked[time_column] >= stacked[f"start_{window_days}d"]


# --- population ---------------------------------------------------------------------------------


def first_times(transactions: ir.Table) -> dict[str, ir.Value]:
    """Aggregates: first transaction time and first purchase (``amount > 0``) time."""
    return {
        "first_transaction_at": transactions.ordered_at.min(),
        "first_purchase_at": when(transactions.amount > 0, transactions.ordered_at).min(),
    }


def customer_firsts(transactions: ir.Table) -> ir.Table:
    """Per customer: :func:`first_times` over all their transactions."""
    return transactions.group_by("customer_id").aggregate(**first_times(transactions))


def left_join(left: ir.Table, right: ir.Table, on: str | Sequence[str] = KEY) -> ir.Table:
    """Left join on key columns, keeping one copy of each key."""
    keys = [on] if isinstance(on, str) else list(on)
    return left.left_join(right, keys).drop(*[f"{k}_right" for k in keys])


def population(
    customers: ir.Table,
    firsts: ir.Table,
    cutoffs: ir.Table,
    keep: Sequence[str] = (),
) -> ir.Table:
    """One row per customer existing at each cutoff: ``signup_at < T`` or a transaction before T.

    ``firsts`` holds ``first_transaction_at`` and ``first_purchase_at`` per ``customer_id`` (any
    time: only what is before T counts) or per ``customer_id, cutoff`` (already before T, as
    :func:`transaction_aggregates` gives them). Columns: ``customer_id``, ``cutoff``,
    ``first_seen_at`` (the earlier of signup and first transaction, counting only what is before
    T), ``first_purchase_day`` (null unless the first purchase is before T, i.e. null for
    prospects), the ``keep`` columns of ``customers`` and the other columns of ``firsts``.
    """
    people = customers.select("customer_id", "signup_at", *keep)
    rows = people.cross_join(cutoffs.select("cutoff"))
    keys = [k for k in KEY if k in firsts.columns]
    rows = left_join(rows, firsts, keys)
    firsts_columns = ("first_transaction_at", "first_purchase_at")
    carried = [c for c in firsts.columns if c not in (*keys, *firsts_columns)]

    def before_cutoff(value: ir.TimestampValue) -> ir.TimestampValue:
        return when(value < rows.cutoff, value)

    return rows.select(
        customer_id=rows.customer_id,
        cutoff=rows.cutoff,
        first_seen_at=ibis.least(
            before_cutoff(rows.signup_at), before_cutoff(rows.first_transaction_at)
        ),
        first_purchase_day=before_cutoff(rows.first_purchase_at).date(),
        **{c: rows[c] for c in (*keep, *carried)},
    ).filter(ibis._.first_seen_at.notnull())


# --- transactions: RFM --------------------------------------------------------------------------


def purchase_rows(transactions: ir.Table) -> ir.Table:
    """Transactions annotated with their place in the customer's sequence of purchase days.

    Adds ``day`` (date), ``is_purchase`` (``amount > 0``), ``is_discount`` (a negative row on a
    day whose rows sum above 0: a till's discount line, part of that day's purchase, not a
    return), ``opens_purchase_day`` (the first purchase row of its calendar day, so counting these
    counts purchase days), ``gap_days`` (on those rows: days since the previous purchase day, null
    for the first one) and ``on_first_purchase_day`` (its purchase and discount rows). All of it
    depends only on rows of the same day or earlier, so it holds at any cutoff on a day's start.
    """
    rows = transactions.mutate(
        day=transactions.ordered_at.date(), is_purchase=transactions.amount > 0
    )
    by_time = ibis.window(group_by=[rows.customer_id, rows.is_purchase], order_by=rows.ordered_at)
    by_day = ibis.window(group_by=[rows.customer_id, rows.day])
    # the window values as columns first: used inline, each use compiles to its own window function
    rows = rows.mutate(
        previous_day=rows.day.lag().over(by_time),
        first_day=rows.day.first().over(by_time),
        day_net=rows.amount.sum().over(by_day),
    )
    opens = rows.is_purchase & (rows.previous_day.isnull() | (rows.previous_day < rows.day))
    discount = (rows.amount < 0) & (rows.day_net > 0)
    by_customer = ibis.window(group_by=rows.customer_id)
    first_purchase_day = when(rows.is_purchase, rows.day).min().over(by_customer)
    return rows.mutate(
        is_discount=discount,
        opens_purchase_day=opens,
        gap_days=when(opens, rows.day.delta(rows.previous_day, unit="day")),
        on_first_purchase_day=(rows.is_purchase & (rows.day == rows.first_day))
        | (discount & (rows.day == first_purchase_day)),
    ).drop("previous_day", "first_day", "day_net")


def transaction_aggregates(stacked: ir.Table, windows: Sequence[int] | None) -> ir.Table:
    """Per ``(customer_id, cutoff)`` over the stacked :func:`purchase_rows`: the first
    transaction and first purchase (for :func:`population`) and, unless ``windows`` is None, the
    RFM counts and sums (windows ``W`` in ``windows``)."""
    firsts = first_times(stacked)
    if windows is None:
        return stacked.group_by(KEY).aggregate(**firsts)
    amount, purchase, opens = stacked.amount, stacked.is_purchase, stacked.opens_purchase_day
    after_year_ago = stacked.ordered_at >= stacked.cutoff - ibis.interval(
        days=catalog.YEAR_AGO_DAYS
    )
    per_window = {}
    for w in windows:
        in_window = within(stacked, "ordered_at", w)
        per_window[f"orders_{w}d"] = count_if(opens & in_window)
        per_window[f"revenue_{w}d"] = sum_if(amount, in_window)
    return stacked.group_by(KEY).aggregate(
        **firsts,
        orders_all=count_if(opens),
        positive_all=sum_if(amount, purchase | stacked.is_discount),  # net of discounts
        negative_all=sum_if(amount, ~purchase & ~stacked.is_discount),  # returns
        last_purchase_day=when(purchase, stacked.day).max(),
        # the first purchase day after the first: when the customer first came back
        second_purchase_day=when(opens & ~stacked.on_first_purchase_day, stacked.day).min(),
        # this date a year ago: the last purchase day before it, the first one from it on
        last_purchase_day_year_ago=when(purchase & ~after_year_ago, stacked.day).max(),
        first_purchase_day_since_year_ago=when(purchase & after_year_ago, stacked.day).min(),
        first_order_value=sum_if(amount, stacked.on_first_purchase_day),
        std_gap_days=stacked.gap_days.std(how="pop"),
        # the end of the latest period paid for by a sale (null without the column or a term;
        # a refund or credit note carrying its contract's term pays for nothing)
        covered_until=(
            when(purchase, stacked[COVERS_UNTIL]).max()
            if COVERS_UNTIL in stacked.columns
            else ibis.null("timestamp")
        ),
        **per_window,
    )


def category_firsts(transactions: ir.Table, before: ir.TimestampValue) -> ir.Table:
    """Per customer and non-null category: the first purchase (amount > 0) before ``before``."""
    rows = transactions.filter(
        (transactions.ordered_at < before)
        & (transactions.amount > 0)
        & transactions.category.notnull()
    )
    return rows.group_by(["customer_id", "category"]).aggregate(first_at=rows.ordered_at.min())


def category_breadth(firsts: ir.Table, cutoffs: ir.Table) -> ir.Table:
    """Per ``(customer_id, cutoff)``: distinct categories first purchased before the cutoff."""
    stacked = stack(firsts, cutoffs.select("cutoff"), "first_at")
    return stacked.group_by(KEY).aggregate(category_breadth=stacked.count())


def trend(base: ir.Table, name: str, days: int, zero: float) -> ir.NumericValue:
    """``name`` over the last ``days`` minus over the ``days`` before (from nested windows)."""
    recent = base[f"{name}_{days}d"].fill_null(zero)
    return 2 * recent - base[f"{name}_{2 * days}d"].fill_null(zero)


def rfm_features(base: ir.Table, config: FeatureConfig) -> dict[str, ir.Value]:
    """The RFM family from the population joined with :func:`transaction_aggregates` and breadth."""
    orders = base.orders_all.fill_null(0)
    positive = base.positive_all.fill_null(0.0)
    negative = base.negative_all.fill_null(0.0)
    age = whole_days(base.cutoff, base.first_purchase_day)
    recency = whole_days(base.cutoff, base.last_purchase_day)
    btyd_recency = age - recency
    mean_gap = when(orders >= 2, btyd_recency / (orders - 1))
    year_ago = (base.cutoff - ibis.interval(days=catalog.YEAR_AGO_DAYS)).date()
    windows = {}
    for w in config.windows_days:
        windows[f"orders_{w}d"] = base[f"orders_{w}d"].fill_null(0)
        windows[f"revenue_{w}d"] = base[f"revenue_{w}d"].fill_null(0.0)
    return {
        "is_prospect": base.first_purchase_day.isnull().cast("int8"),
        "tenure_days": days_between(base.cutoff, base.first_seen_at),
        "orders_all": orders,
        "revenue_all": positive + negative,
        "frequency": ibis.greatest(orders - 1, 0),
        "recency_days": recency,
        "age_days": age,
        "btyd_recency_days": btyd_recency,
        **windows,
        "avg_order_value": positive / orders.nullif(0),
        "first_order_value": when(base.first_purchase_day.notnull(), base.first_order_value),
        "mean_gap_days": mean_gap,
        "std_gap_days": base.std_gap_days,
        "first_gap_days": base.second_purchase_day.delta(base.first_purchase_day, unit="day").cast(
            "float64"
        ),
        "recency_ratio": recency / mean_gap,
        "orders_trend_90d": trend(base, "orders", TREND_DAYS, 0).cast("float64"),
        "revenue_trend_90d": trend(base, "revenue", TREND_DAYS, 0.0),
        "returns_share": ibis.ifelse(negative < 0, -negative / positive.nullif(0), 0.0),
        "category_breadth": base.category_breadth.fill_null(0),
        "year_ago_recency_days": year_ago.delta(base.last_purchase_day_year_ago, unit="day").cast(
            "float64"
        ),
        "year_ago_return_days": base.first_purchase_day_since_year_ago.delta(
            year_ago, unit="day"
        ).cast("float64"),
        "paid_ahead_days": when(  # GREATEST skips a null: the null of no term kept
            base.covered_until.notnull(),
            ibis.greatest(days_between(base.covered_until, base.cutoff), 0.0),
        ),
    }


# --- events: engagement -------------------------------------------------------------------------


def interval_end(time: ir.TimestampValue, ends: Sequence[datetime]) -> ir.TimestampValue:
    """The first of the sorted ``ends`` after ``time`` (for times before the last of them).

    A binary search written as nested ``CASE`` expressions: about log2(len(ends)) comparisons
    per row, where a flat ``CASE`` would test the ends one after the other.
    """
    if len(ends) == 1:
        return ibis.literal(ends[0], type="timestamp")
    middle = len(ends) // 2
    return ibis.ifelse(
        time < ibis.literal(ends[middle - 1], type="timestamp"),
        interval_end(time, ends[:middle]),
        interval_end(time, ends[middle:]),
    )


def event_intervals(events: ir.Table, ends: Sequence[datetime]) -> ir.Table:
    """Events summed per customer and interval between consecutive ``ends`` (sorted points); a
    row with an ``event_count`` counts that many events (a survey row as that many ratings).

    An interval ``[previous end, end)`` is labelled by its ``interval_end`` (the first interval
    starts at -infinity); events at or after the last end are dropped. When the ends include every
    cutoff ``T`` and every window start ``T - W``, each window is a union of whole intervals, so
    the windows of every cutoff add up these few rows (:func:`engagement_aggregates`) instead of
    stacking every event on every cutoff. Counts are float64 so that their sums stay float64
    (exact below 2**53; DuckDB sums integers as slow 128-bit integers).
    """
    rows = events.filter(events.occurred_at < ibis.literal(ends[-1], type="timestamp"))
    if EVENT_COUNT in rows.columns:  # a daily aggregate's row stands for its count of events
        count = rows[EVENT_COUNT].cast("float64")  # blank or NaN (a contract written by
        # others: NaN is missing, as unusable_rows reads it) is one event, not a NaN sum
        # isnull first: Spark's isnan(NULL) is false where DuckDB's is NULL
        rows = rows.mutate(times=ibis.ifelse(count.isnull() | count.isnan(), 1.0, count))
        rows = rows.filter(rows.times > 0)
    else:
        rows = rows.mutate(times=ibis.literal(1.0))
    rows = rows.mutate(interval_end=interval_end(rows.occurred_at, ends))
    kind, times = rows.event_type, rows.times
    rated = (kind == "survey") & rows.value.notnull()
    counts = {f"n_{e}": sum_if(times, kind == e) for e in EVENT_TYPES}
    return (
        rows.group_by(["customer_id", "interval_end"])
        .aggregate(
            n_events=times.sum(),
            last_event_at=rows.occurred_at.max(),
            **counts,
            n_rated=sum_if(times, rated),
            rated_sum=sum_if(rows.value * times, rated),
        )
        .mutate(**{c: ibis._[c].cast("float64") for c in ("n_events", *counts, "n_rated")})
    )


def engagement_ends(cutoffs: Sequence[datetime], config: FeatureConfig) -> list[datetime]:
    """Every cutoff and every engagement window start: the ends of :func:`event_intervals`."""
    windows = {*event_windows(config), *survey_windows()}
    starts = {c - timedelta(days=w) for c in cutoffs for w in windows}
    return sorted({*cutoffs, *starts})


def engagement_aggregates(
    intervals: ir.Table, cutoffs: ir.Table, config: FeatureConfig
) -> ir.Table:
    """Per ``(customer_id, cutoff)``: event counts per type and window, all events, the last
    event, survey scores; from :func:`event_intervals` on :func:`engagement_ends`.

    An interval is before ``T`` when it ends at or before ``T``, and in the window ``W`` when it
    also ends after ``T - W`` (it then starts at or after ``T - W``, which is one of the ends).
    The ``other`` counts are derived in :func:`engagement_features` from the window totals.
    """
    stacked = intervals.join(cutoffs, intervals.interval_end <= cutoffs.cutoff)
    kind_counts = {e: stacked[f"n_{e}"] for e in EVENT_TYPES}

    def in_window(w: int) -> ir.BooleanValue:
        return stacked.interval_end > stacked[f"start_{w}d"]

    sums = {}
    for w in event_windows(config):
        sums[f"events_{w}d"] = sum_if(stacked.n_events, in_window(w))
    for w in config.event_windows_days:
        for e in EVENT_TYPES:
            sums[f"{e}_{w}d"] = sum_if(kind_counts[e], in_window(w))
    for w in survey_windows():
        sums[f"survey_sum_{w}d"] = sum_if(stacked.rated_sum, in_window(w))
        sums[f"survey_count_{w}d"] = sum_if(stacked.n_rated, in_window(w))
    return stacked.group_by(KEY).aggregate(
        events_all=stacked.n_events.sum(), last_event_at=stacked.last_event_at.max(), **sums
    )


def engagement_features(base: ir.Table, config: FeatureConfig) -> dict[str, ir.Value]:
    """The engagement family from the population joined with :func:`engagement_aggregates`."""

    def count(name: str) -> ir.IntegerValue:
        return base[name].fill_null(0).cast("int64")

    def survey_mean(window: int, minus: int | None = None) -> ir.FloatingValue:
        total, n = base[f"survey_sum_{window}d"], base[f"survey_count_{window}d"]
        if minus is not None:
            total, n = total - base[f"survey_sum_{minus}d"], n - base[f"survey_count_{minus}d"]
        return total / n.nullif(0)

    counts: dict[str, ir.Value] = {}
    for w in config.event_windows_days:
        known = [count(f"{e}_{w}d") for e in EVENT_TYPES]
        counts |= {f"{e}_{w}d": c for e, c in zip(EVENT_TYPES, known, strict=True)}
        counts[f"other_{w}d"] = count(f"events_{w}d") - sum(known[1:], known[0])
    n = ENGAGEMENT_TREND_DAYS
    return {
        **counts,
        "events_all": count("events_all"),
        "days_since_last_event": days_between(base.cutoff, base.last_event_at),
        "satisfaction_mean_180d": survey_mean(SATISFACTION_DAYS),
        "satisfaction_trend_90d": survey_mean(TREND_DAYS) - survey_mean(2 * TREND_DAYS, TREND_DAYS),
        "engagement_trend_30d": trend(base, "events", n, 0).cast("float64"),
    }


def static_features(base: ir.Table, customers: ir.Table) -> dict[str, ir.Value]:
    """Static attributes as strings (null when the customers table has no such column)."""
    return {
        c: base[c].cast("string") if c in customers.columns else ibis.null("string")
        for c in STATIC_COLUMNS
    }


# --- labels -------------------------------------------------------------------------------------


def future_aggregates(
    transactions: ir.Table,
    cutoffs: ir.Table,
    horizon_days: int,
    value_column: str,
    annual_discount_rate: float,
) -> ir.Table:
    """Per ``(customer_id, cutoff)``: purchase days and (discounted) value in ``[T, T + H)``."""
    horizon = cutoffs.select("cutoff", end=cutoffs.cutoff + ibis.interval(days=horizon_days))
    rows = transactions.join(
        horizon,
        (transactions.ordered_at >= horizon.cutoff) & (transactions.ordered_at < horizon.end),
    )
    value = rows[value_column]
    if annual_discount_rate:
        years = days_between(rows.ordered_at, rows.cutoff) / 365.0
        value = value * (-annual_discount_rate * years).exp()
    return rows.group_by(KEY).aggregate(
        future_orders=when(rows.amount > 0, rows.ordered_at.date()).nunique(),
        future_value=value.sum(),
    )


def coverage_at_end(transactions: ir.Table, cutoffs: ir.Table, horizon_days: int) -> ir.Table:
    """Per ``(customer_id, cutoff)``: ``covered_to_end``, the sales before ``T + H`` that cover
    the window's end (``covers_until >= T + H``: paid ahead, not gone), of the customers with
    such a sale."""
    paid = transactions.filter(transactions[COVERS_UNTIL].notnull() & (transactions.amount > 0))
    horizon = cutoffs.select("cutoff", end=cutoffs.cutoff + ibis.interval(days=horizon_days))
    # only the covered pairs are joined (an inequality join), not every payment with every cutoff
    rows = paid.join(horizon, (paid.ordered_at < horizon.end) & (paid[COVERS_UNTIL] >= horizon.end))
    return rows.group_by(KEY).aggregate(covered_to_end=rows.count())


def label_columns(base: ir.Table) -> dict[str, ir.Value]:
    """``churned`` (no purchase in the window, unless paid ahead through it: ``covered_to_end``
    of :func:`coverage_at_end`), ``future_orders``, ``future_value`` from the population and
    future sums."""
    orders = base.future_orders.fill_null(0).cast("int64")
    covered = base.covered_to_end.fill_null(0) > 0 if "covered_to_end" in base.columns else False
    churned = when(base.first_purchase_day.notnull(), ((orders == 0) & ~covered).cast("int8"))
    return {
        "churned": churned,
        "future_orders": orders,
        "future_value": base.future_value.fill_null(0.0).cast("float64"),
    }


def monthly_purchase_days(transactions: ir.Table, before: datetime) -> ir.Table:
    """Per calendar month before ``before`` and acquisition cohort (``first_month``, the month of
    the customers' first purchase): ``repeat_days``, the cohort's purchase days in that month
    when it is a later one, and ``new_buyers``, the cohort's size in its own month (0 in later
    ones). Summed over cohorts: a month's repeat purchase days of established customers and its
    new buyers (the purchase seasonality of a base, ``training.seasonality``)."""
    rows = purchase_rows(transactions.filter(transactions.ordered_at < before))
    days = rows.filter(rows.opens_purchase_day).select("customer_id", "day")
    days = days.mutate(month=days.day.truncate("M"))
    days = days.mutate(first_month=days.month.min().over(group_by="customer_id"))
    return (
        days.group_by(["month", "first_month"])
        .aggregate(
            repeat_days=count_if(days.first_month < days.month),
            new_buyers=days.customer_id.nunique(where=days.first_month == days.month),
        )
        .order_by(["month", "first_month"])
    )
