"""The feature catalogue: every model input column declared once.

Each entry gives a feature's name, dtype, family, window, bounds, whether it may be null, and
what it means. A windowed entry names its windows by the ``FeatureConfig`` field they come from
(``{W}`` in its name) and may also stand for every counted event type (``{event}``); consecutive
entries with the same windows are expanded window by window, so ``orders_30d, revenue_30d,
orders_90d, ...``. Everything else follows from this table: the column lists of
``features.definitions`` (the order of the feature table), the BTYD and calendar columns of
training, the service's request model (``serving.schemas.CustomerFeatures``) and the feature
table of ``docs/schema.md`` section 3 (``python -m features.catalog docs/schema.md`` rewrites it;
a test checks it). The expressions that compute the families stay in ``features.definitions``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from features.config import DEFAULT_CONFIG, Family, FeatureConfig
from features.contract import EVENT_TYPES

Dtype = Literal["string", "int8", "int64", "float64"]
#: The ``FeatureConfig`` field that gives a windowed entry its windows.
WindowSource = Literal["windows_days", "event_windows_days"]
#: Event types counted per window: the contract list plus ``other`` for any other type.
COUNTED_EVENT_TYPES = (*EVENT_TYPES, "other")

DAYS = (0, 36_500)  # at most 100 years
COUNT = (0, 10_000_000)
MONEY = (-1e13, 1e13)  # ten trillion: a lifetime in rupiah or dong fits
POSITIVE_MONEY = (0, 1e13)
SHARE = (0, 1)
RATIO = (0, 1e7)
TREND = (-1e7, 1e7)
SATISFACTION = (-1000, 1000)  # the survey's value scale
FLAG = (0, 1)
#: A year ago, in days: the year-ago features compare the customer's silence now with theirs at
#: this date a year before (a beach bar closed in winter, a donor who gives in December).
YEAR_AGO_DAYS = 365


@dataclass(frozen=True)
class Feature:
    """One model input column (``window``: its look-back in days; None: all history or none)."""

    name: str
    dtype: Dtype
    family: Family
    description: str
    window: int | None = None
    bounds: tuple[float, float] | None = None
    nullable: bool = False

    @property
    def ge(self) -> float | None:
        return None if self.bounds is None else self.bounds[0]

    @property
    def le(self) -> float | None:
        return None if self.bounds is None else self.bounds[1]


@dataclass(frozen=True)
class Entry:
    """A catalogue row: one feature, or one per window (``{W}``) and event type (``{event}``)."""

    name: str
    dtype: Dtype
    family: Family
    description: str
    window: int | WindowSource | None = None
    bounds: tuple[float, float] | None = None
    nullable: bool = False

    @property
    def windowed(self) -> bool:
        return isinstance(self.window, str)

    def expand(self, window: int | None = None) -> list[Feature]:
        """The features of this entry for one window (all counted event types for ``{event}``)."""
        events = COUNTED_EVENT_TYPES if "{event}" in self.name else (None,)
        days = window if isinstance(self.window, str) else self.window  # windowed or fixed
        return [
            Feature(
                self.name.format(W=window, event=event),
                self.dtype,
                self.family,
                self.description,
                days,
                self.bounds,
                self.nullable,
            )
            for event in events
        ]


def _entry(name, dtype, family, description, window=None, bounds=None, nullable=False) -> Entry:
    return Entry(name, dtype, family, description, window, bounds, nullable)


#: The catalogue, in the order of the feature table (families: static, rfm, engagement), then
#: the columns training adds (calendar, btyd), in the order of the models' inputs.
CATALOG: tuple[Entry, ...] = (
    _entry(
        "region",
        "string",
        "static",
        "static attribute of the customer (null when unknown)",
        nullable=True,
    ),
    _entry(
        "channel",
        "string",
        "static",
        "static attribute of the customer (null when unknown)",
        nullable=True,
    ),
    _entry(
        "segment",
        "string",
        "static",
        "static attribute of the customer (null when unknown)",
        nullable=True,
    ),
    _entry("is_prospect", "int8", "rfm", "1 if no purchase day before `T`", bounds=FLAG),
    _entry(
        "tenure_days",
        "float64",
        "rfm",
        "days from `min(signup_at, first transaction)` to `T`, counting only those before `T`",
        bounds=DAYS,
    ),
    _entry("orders_all", "int64", "rfm", "purchase days before `T`", bounds=COUNT),
    _entry(
        "revenue_all",
        "float64",
        "rfm",
        "sum of `amount` before `T` (returns included)",
        bounds=MONEY,
    ),
    _entry(
        "frequency",
        "int64",
        "rfm",
        "repeat purchase days = `orders_all - 1` (BTYD `x`; 0 for prospects)",
        bounds=COUNT,
    ),
    _entry(
        "recency_days",
        "float64",
        "rfm",
        "days from last purchase day to `T` (null for prospects)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "age_days",
        "float64",
        "rfm",
        "days from first purchase day to `T` (BTYD `T`, measured "
        "to the cutoff midnight; null for prospects)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "btyd_recency_days",
        "float64",
        "rfm",
        "days from first to last purchase day (BTYD `t_x`; null for prospects)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry("orders_{W}d", "int64", "rfm", "purchase days in the window", "windows_days", COUNT),
    _entry(
        "revenue_{W}d", "float64", "rfm", "sum of `amount` in the window", "windows_days", MONEY
    ),
    _entry(
        "avg_order_value",
        "float64",
        "rfm",
        "mean over purchase days of that day's purchase (its positive amount, net of its discount "
        "lines when the day sums above 0; null for prospects)",
        bounds=POSITIVE_MONEY,
        nullable=True,
    ),
    _entry(
        "first_order_value",
        "float64",
        "rfm",
        "the first purchase day's purchase, net of its discount lines (null for prospects)",
        bounds=POSITIVE_MONEY,
        nullable=True,
    ),
    _entry(
        "mean_gap_days",
        "float64",
        "rfm",
        "mean days between consecutive purchase days (null if < 2 purchase days)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "std_gap_days",
        "float64",
        "rfm",
        "population std of those gaps (null if < 2 purchase days; 0 if exactly 2)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "first_gap_days",
        "float64",
        "rfm",
        "days from the first purchase day to the second: how soon the customer first came back "
        "(null with one purchase day); read by the lifecycle-stage fit, not a model input",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "recency_ratio",
        "float64",
        "rfm",
        "`recency_days / mean_gap_days` (null if no gap)",
        bounds=(0, 1e6),
        nullable=True,
    ),
    _entry(
        "orders_trend_90d",
        "float64",
        "rfm",
        "`orders_90d - orders in [T-180, T-90)` (fixed windows, whatever the config)",
        90,
        TREND,
    ),
    _entry(
        "revenue_trend_90d", "float64", "rfm", "`revenue_90d - revenue in [T-180, T-90)`", 90, MONEY
    ),
    _entry(
        "returns_share",
        "float64",
        "rfm",
        "returns over purchases before `T`: `-sum(amount<0)` of days that do not sum above 0 (a "
        "negative row of a day that does is a discount line of its purchase) over the purchase "
        "days' value (0 if "
        "no returns; null if returns but no positive amount; above 1 when the export holds "
        "returns of purchases made before its first date)",
        bounds=RATIO,
        nullable=True,
    ),
    _entry(
        "category_breadth",
        "int64",
        "rfm",
        "distinct non-null categories of rows with `amount "
        "> 0` before `T` (0 without a `category` column)",
        bounds=COUNT,
    ),
    _entry(
        "year_ago_recency_days",
        "float64",
        "rfm",
        "days from the last purchase day before `T - 365 d` to `T - 365 d`: how long the "
        "customer had been silent at this date a year ago (null without a purchase before it)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "year_ago_return_days",
        "float64",
        "rfm",
        "days from `T - 365 d` to the first purchase day in `[T - 365 d, T)`: how soon after "
        "this date a year ago the customer bought (null without one)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "paid_ahead_days",
        "float64",
        "rfm",
        "days from `T` to the end of the latest period a payment before `T` covers "
        "(`covers_until`; 0 once it has passed; null without one): a contract paid ahead",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "{event}_{W}d",
        "int64",
        "engagement",
        "events of that type in the window, for "
        "`{event}` in the contract list plus `other` (any other type)",
        "event_windows_days",
        COUNT,
    ),
    _entry("events_all", "int64", "engagement", "all events before `T`", bounds=COUNT),
    _entry(
        "days_since_last_event",
        "float64",
        "engagement",
        "days from the last event to `T` (null if none)",
        bounds=DAYS,
        nullable=True,
    ),
    _entry(
        "satisfaction_mean_180d",
        "float64",
        "engagement",
        "mean non-null `value` of `survey` events in `[T-180, T)` (null if none)",
        180,
        SATISFACTION,
        True,
    ),
    _entry(
        "satisfaction_trend_90d",
        "float64",
        "engagement",
        "mean survey value in `[T-90,T)` minus mean in `[T-180,T-90)` (null if either has none)",
        90,
        SATISFACTION,
        True,
    ),
    _entry(
        "engagement_trend_30d",
        "float64",
        "engagement",
        "events in `[T-30,T)` minus events in `[T-60,T-30)`",
        30,
        TREND,
    ),
    _entry(
        "cutoff_month",
        "float64",
        "calendar",
        "month of `T` (1-12), added by training",
        bounds=(1, 12),
    ),
    _entry(
        "btyd_expected_purchases",
        "float64",
        "btyd",
        "BG/NBD expected purchase days in the churn horizon, fitted at `T` (null for prospects)",
        bounds=(0, 1e6),
        nullable=True,
    ),
    _entry(
        "btyd_p_alive",
        "float64",
        "btyd",
        "BG/NBD probability that the customer is alive at `T` (null for prospects)",
        bounds=SHARE,
        nullable=True,
    ),
    _entry(
        "btyd_expected_value",
        "float64",
        "btyd",
        "BG/NBD x Gamma-Gamma expected value in the value horizon (null for prospects)",
        bounds=POSITIVE_MONEY,
        nullable=True,
    ),
    _entry(
        "btyd_p_no_purchase",
        "float64",
        "btyd",
        "BG/NBD probability of no purchase in the churn horizon (null for prospects)",
        bounds=SHARE,
        nullable=True,
    ),
)


def features(
    config: FeatureConfig = DEFAULT_CONFIG, families: tuple[Family, ...] | None = None
) -> list[Feature]:
    """The features of ``config`` (its windows; families: ``families`` or the config's), in
    catalogue order."""
    wanted = config.families if families is None else families
    out: list[Feature] = []
    i = 0
    while i < len(CATALOG):
        entry = CATALOG[i]
        if not entry.windowed:
            out += entry.expand()
            i += 1
            continue
        group = [entry]
        while i + len(group) < len(CATALOG) and CATALOG[i + len(group)].window == entry.window:
            group.append(CATALOG[i + len(group)])
        for window in getattr(config, str(entry.window)):
            for member in group:
                out += member.expand(window)
        i += len(group)
    return [f for f in out if f.family in wanted]


def columns(
    config: FeatureConfig = DEFAULT_CONFIG, families: tuple[Family, ...] | None = None
) -> list[str]:
    """Names of :func:`features`."""
    return [f.name for f in features(config, families)]


#: Columns of the feature table that are no model input: the first gap is read by the stage
#: rules' fit of the time to come back (``serving.stages.fit_default_gap_days``); as an input it
#: moved the CDNOW backtest by noise, the wrong way (AUC 0.7599 -> 0.7592, ECE 0.0318 -> 0.0333).
NOT_MODEL_INPUTS = frozenset({"first_gap_days"})


def model_columns(config: FeatureConfig = DEFAULT_CONFIG) -> list[str]:
    """The model inputs of ``config``: :func:`columns` less :data:`NOT_MODEL_INPUTS`."""
    return [c for c in columns(config) if c not in NOT_MODEL_INPUTS]


def family_columns(family: Family, config: FeatureConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """Names of one family's columns, in catalogue order."""
    return tuple(columns(config, (family,)))


# --- docs/schema.md -----------------------------------------------------------------------------

DOC_BEGIN = "<!-- feature catalogue: generated by `python -m features.catalog docs/schema.md` -->"
DOC_END = "<!-- end of feature catalogue -->"


def _bounds_text(entry: Entry) -> str:
    if entry.bounds is None:
        return ""
    return f"{entry.bounds[0]:g} to {entry.bounds[1]:g}"


def markdown_table() -> str:
    """The catalogue as the Markdown table of ``docs/schema.md`` section 3 (one row per entry)."""
    rows = [
        "| column | type | family | window (days) | bounds | null | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in CATALOG:
        window = {
            "windows_days": "`W` in `windows_days`",
            "event_windows_days": "`W` in `event_windows_days`",
        }.get(str(e.window), e.window)
        if window is None:
            window = "" if e.family in ("static", "calendar") else "all"
        rows.append(
            f"| {e.name} | {e.dtype} | {e.family} | {window} | {_bounds_text(e)} "
            f"| {'yes' if e.nullable else 'no'} | {e.description} |"
        )
    return "\n".join(rows)


def documented_table(text: str) -> str:
    """The generated part of a schema document (between the markers)."""
    if DOC_BEGIN not in text or DOC_END not in text:
        raise ValueError(
            f"the document has no feature catalogue markers ({DOC_BEGIN!r} ... {DOC_END!r})"
        )
    return text.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0].strip()


def write_doc(path: str | Path) -> bool:
    """Rewrite the generated table in ``path``; True when it changed."""
    path = Path(path)
    text = path.read_text()
    old = documented_table(text)
    new = markdown_table()
    if old == new:
        return False
    head, rest = text.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    path.write_text(f"{head}{DOC_BEGIN}\n{new}\n{DOC_END}{tail}")
    return True


if __name__ == "__main__":
    for doc in sys.argv[1:] or ["docs/schema.md"]:
        print(f"{doc}: {'rewritten' if write_doc(doc) else 'up to date'}")
