"""Snapshot datasets: features at rolling cutoffs, labels over the horizons, BTYD columns,
splits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from features import catalog
from features.contract import ENDED_AT, table_path
from training.config import ExperimentConfig
from training.splits import CutoffPlan, PlanError

CALENDAR_COLUMNS = catalog.family_columns("calendar")
BTYD_COLUMNS = catalog.family_columns("btyd")
#: BG/NBD P(no purchase) over the value horizon: not a model input (the catalogue's is over the
#: churn horizon); scoring carries the churn probability to the value horizon with it, for the
#: value at risk (``serving.value.churn_within_value_horizon``).
VALUE_HORIZON_P0 = "btyd_p_no_purchase_value_horizon"
#: ``attrs`` key of a labelled frame: rows left out because the customer had ended by the cutoff.
ENDED_ROWS = "ended_rows"
BTYD_INPUTS = (
    "cutoff",
    "is_prospect",
    "frequency",
    "btyd_recency_days",
    "age_days",
    "orders_all",
    "avg_order_value",
    "first_order_value",
)

if TYPE_CHECKING:
    from features.engine import Engine


@dataclass(frozen=True)
class BuildSettings:
    """Where training tables are built and which share of customers reaches the driver.

    ``engine`` None is embedded DuckDB. ``sample_fraction`` keeps the customers whose
    ``customer_id`` hash falls in that share of the hash range (all their rows, every cutoff):
    stable across runs and engines; the BTYD fits see the same sample.
    """

    engine: Engine | None = None
    sample_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.sample_fraction <= 1.0:
            raise ValueError(f"sample fraction must be in (0, 1], got {self.sample_fraction!r}")

    @property
    def engine_name(self) -> str:
        return "duckdb" if self.engine is None else self.engine.name


_SETTINGS: ContextVar[BuildSettings | None] = ContextVar("training_build_settings", default=None)


@contextmanager
def building_on(settings: BuildSettings) -> Iterator[BuildSettings]:
    """Build every training/scoring table inside the block with ``settings`` (engine, sample):
    how ``lifecycle train|backtest --engine spark`` reaches the builders below."""
    token = _SETTINGS.set(settings)
    try:
        yield settings
    finally:
        _SETTINGS.reset(token)


def build_settings() -> BuildSettings:
    """The settings in force (see :func:`building_on`)."""
    return _SETTINGS.get() or BuildSettings()


def log_build_settings(
    run_id: str, settings: BuildSettings | None = None, *, tracking_uri: str | None = None
) -> None:
    """Record the engine and the customer sampling fraction on an MLflow run of the store at
    ``tracking_uri`` (default: MLflow's current tracking URI)."""
    from mlflow.tracking import MlflowClient

    settings = settings or build_settings()
    client = MlflowClient(tracking_uri=tracking_uri)
    client.log_param(run_id, "data_engine", settings.engine_name)
    client.log_param(run_id, "data_sample_fraction", settings.sample_fraction)


def _on_engine(settings: BuildSettings, what: str):
    return settings.engine.job(what) if settings.engine is not None else nullcontext()


@contextmanager
def _contract_tables(settings: BuildSettings, data_dir: str | Path, what: str):
    """The data directory's contract tables on the engine of ``settings``, inside its job
    ``what`` (DuckDB without one)."""
    from features.snapshots import connect

    with _on_engine(settings, what):
        yield connect(data_dir, settings.engine.backend if settings.engine is not None else None)


@dataclass
class TrainingData:
    """The stacked snapshot table with a ``split`` column, and the model's feature columns."""

    frame: pd.DataFrame
    feature_columns: list[str]
    plan: CutoffPlan

    def split(self, name: str, buyers_only: bool = False) -> pd.DataFrame:
        return self._rows(self.frame["split"] == name, buyers_only)

    def final_fit(self, buyers_only: bool = False) -> pd.DataFrame:
        """The rows the final models are fitted on: the plan's refit cutoffs, else ``train``."""
        if not self.plan.refit:
            return self.split("train", buyers_only)
        refit = self.frame["cutoff"].isin(pd.to_datetime(list(self.plan.refit)))
        return self._rows(refit, buyers_only)

    def _rows(self, selected: pd.Series, buyers_only: bool) -> pd.DataFrame:
        if buyers_only:
            selected = selected & (self.frame["is_prospect"] == 0)
        return self.frame[selected]


def data_bounds(data_dir: str | Path) -> tuple[date, date]:
    """First transaction day and the day after the last one (exclusive end)."""
    settings = build_settings()
    if settings.engine is not None and settings.engine.is_spark:
        with _contract_tables(settings, data_dir, f"reading {data_dir}") as tables:
            times = tables.transactions.ordered_at
            bounds = times.min().name("lo"), times.max().name("hi")
            row = times.as_table().aggregate([*bounds]).to_pandas().iloc[0]
        lo, hi = pd.Timestamp(row["lo"]), pd.Timestamp(row["hi"])
    else:
        path = table_path(data_dir, "transactions")
        with duckdb.connect() as con:
            ((lo, hi),) = con.execute(
                "select min(ordered_at), max(ordered_at) from read_parquet(?)", [str(path)]
            ).fetchall()
    return lo.date(), hi.date() + timedelta(days=1)


def first_repeat_cutoff(data_dir: str | Path) -> date | None:
    """The first cutoff at which a customer has bought on two days before it (the day after the
    earliest second purchase day, a purchase being an amount above 0): BG/NBD + Gamma-Gamma
    (:func:`fit_btyd`) learn nothing at an earlier cutoff. None when nobody bought twice. Read
    from the transactions alone, before any feature: the ends are not read (a cutoff whose only
    repeat buyers have all ended is still refused by :func:`fit_btyd`)."""
    import ibis

    with _contract_tables(build_settings(), data_dir, f"repeat buyers of {data_dir}") as tables:
        rows = tables.transactions
        rows = rows.filter(rows.amount > 0)
        days = rows.select("customer_id", day=rows.ordered_at.date()).distinct()
        order = ibis.window(group_by=days.customer_id, order_by=days.day)
        days = days.mutate(n=ibis.row_number().over(order))
        second = days.filter(days.n == 1).day.min().to_pandas()
    if second is None or pd.isna(second):
        return None
    return pd.Timestamp(second).date() + timedelta(days=1)


def customers_from(data_dir: str | Path, day: date) -> int:
    """How many customers of the customers table first appear on or after ``day`` (a customers
    export pulled after the transactions): a scoring date before them leaves them out. A
    customer with a transaction before ``day`` is seen by then, whatever its signup_at (a CRM's
    record date, after the purchases: ``features.definitions.population``)."""
    with _contract_tables(build_settings(), data_dir, f"customers of {data_dir}") as tables:
        customers, rows = tables.customers, tables.transactions
        stamp = datetime.combine(day, datetime.min.time())
        seen = rows.filter(rows.ordered_at < stamp).select("customer_id").distinct()
        later = customers.filter(customers.signup_at >= stamp).anti_join(seen, "customer_id")
        return int(later.count().to_pandas())


#: Events this long past the last order: the orders export looks cut short, not the business quiet.
ORDERS_LAG_DAYS = 14


def orders_lag(data_dir: str | Path, end: date) -> str | None:
    """A warning when the events run :data:`ORDERS_LAG_DAYS` or more past ``end`` (the day after
    the last transaction): an orders export missing its latest weeks, while scoring and
    monitoring take the data's end from the orders; a note when they run past it by less (an
    app's events of the last days after its sparse purchases): how many are left out."""
    with _contract_tables(build_settings(), data_dir, f"events of {data_dir}") as tables:
        if tables.events is None:
            return None
        when = tables.events.occurred_at
        stamp = datetime.combine(end, datetime.min.time())
        row = (
            tables.events.aggregate(last=when.max(), after=(when >= stamp).sum())
            .to_pandas()
            .iloc[0]
        )
    last, after = row["last"], row["after"]
    if pd.isna(last) or pd.isna(after) or not int(after):
        return None
    last_day = pd.Timestamp(last).date()
    if (last_day - end).days < ORDERS_LAG_DAYS:
        return (
            f"note: {int(after):,} events dated {end} .. {last_day} are on or after the date "
            f"scored, {end} (the day after the last transaction), and are not used; --as-of "
            f"{last_day + timedelta(days=1)} uses them"
        )
    return (
        f"warning: the transactions end {end} (the day after the last one) but the events run "
        f"to {last_day}: is the orders export missing its latest weeks? The "
        "date scored and monitored is the transactions' end unless --as-of says otherwise"
    )


#: Features look back this far (the longest default window): a shorter history is named.
SHORT_HISTORY_DAYS = 365
#: Customers signed up this long before the first transaction hint at an export cut at its start.
EARLY_SIGNUP_DAYS = 30


def short_history(data_dir: str | Path, day: date) -> str | None:
    """A warning when the transactions begin less than :data:`SHORT_HISTORY_DAYS` before ``day``
    while customers signed up well before them: an export of the latest period ingested alone
    (ingest replaces ``--out`` whole), so every customer's history starts at the export's start.
    A young business (no customer older than its orders) is not warned of."""
    start = data_bounds(data_dir)[0]
    span = (day - start).days
    if span >= SHORT_HISTORY_DAYS or span < 0:
        return None
    stamp = datetime.combine(start - timedelta(days=EARLY_SIGNUP_DAYS), datetime.min.time())
    with _contract_tables(build_settings(), data_dir, f"customers of {data_dir}") as tables:
        earlier = int(
            tables.customers.filter(tables.customers.signup_at < stamp).count().to_pandas()
        )
    if not earlier:
        return None
    return (
        f"warning: the transactions begin {start}, only {span} days before {day}, while "
        f"{earlier:,} customers signed up more than {EARLY_SIGNUP_DAYS} days before the first "
        f"transaction: is this an export of the latest period only? recency, frequency and spend "
        f"count from {start} only (the features look back up to {SHORT_HISTORY_DAYS} days); "
        "`lifecycle ingest` replaces --out whole, so give it every period's file "
        "(--transactions older.csv --transactions newer.csv)"
    )


def export_warnings(data_dir: str | Path, day: date, data_end: date) -> list[str]:
    """What the data say about their own export before ``day``, the date scored or monitored:
    weeks with almost no orders, or no events (``features.gaps.week_gaps``; not for a date more
    than 30 days past the data's end, which :func:`check_window` names) and, when the date is the
    data's end, events running past the orders (:func:`orders_lag`)."""
    from features.gaps import RECENT_WEEKS, thin_tail, week_gaps

    said = [orders_lag(data_dir, day)] if day == data_end else []
    said.append(short_history(data_dir, day))
    if (day - data_end).days > 30:
        return [s for s in said if s]
    stamp = datetime.combine(day, datetime.min.time())
    with _contract_tables(build_settings(), data_dir, f"orders of {data_dir}") as tables:
        when = tables.transactions.ordered_at
        recent = when >= stamp - timedelta(days=7 * RECENT_WEEKS)
        days = tables.transactions.filter(recent & (when < stamp)).select("ordered_at")
        orders = days.to_pandas()["ordered_at"]
        weeks = week_gaps(orders, pd.Timestamp(stamp))
        if weeks and day == data_end and (tail := thin_tail(orders, pd.Timestamp(stamp))):
            weeks = f"{weeks}; {tail}"  # the default date: a few rows past the export's day
        said.append(weeks)
        if tables.events is not None:  # a tracking feed that stopped while the orders went on
            seen = tables.events.occurred_at
            recent = (seen >= stamp - timedelta(days=7 * RECENT_WEEKS)) & (seen < stamp)
            per_day = (  # counted on the engine: a feed holds millions of events
                tables.events.filter(recent)
                .group_by(day=seen.truncate("D"))
                .aggregate(events=seen.count())
                .to_pandas()
            )
            said.append(
                week_gaps(
                    per_day["day"], pd.Timestamp(stamp), rows="events", counts=per_day["events"]
                )
            )
    return [s for s in said if s]


def monthly_purchases(data_dir: str | Path, before: date) -> pd.DataFrame:
    """``features.definitions.monthly_purchase_days`` of the data directory before ``before``
    (every customer, on the engine of :func:`build_settings`)."""
    from features.definitions import monthly_purchase_days

    settings = build_settings()
    with _contract_tables(settings, data_dir, f"monthly purchases of {data_dir}") as tables:
        stamp = datetime.combine(before, datetime.min.time())
        return monthly_purchase_days(tables.transactions, stamp).to_pandas()


def check_window(
    bounds: tuple[date, date], day: date, horizon_days: int | None, what: str
) -> str | None:
    """A warning for a date the data only partly covers, or ``PlanError`` for one it cannot.

    With ``horizon_days`` (labels, a backtest) the window ``[day, day + H)`` must start before
    the data ends (else every customer would look churned); one that runs past the end gets a
    warning. Without it (scoring), a date more than 30 days after the data gets a warning: the
    customers' recency then counts days the data does not cover."""
    end = bounds[1]
    if horizon_days is not None:
        if day >= end:
            raise PlanError(
                f"{what} {day} is not before the end of the data ({end}, the day after the last "
                f"transaction): its {horizon_days}-day outcome window holds no data; use a date "
                f"up to {end - timedelta(days=horizon_days)}"
            )
        if day + timedelta(days=horizon_days) > end:
            return (
                f"warning: the data ends {end}; the window [{day}, +{horizon_days}d) is not fully "
                "observed: its labels count customers as churned for the days after the data"
            )
        return None
    if (day - end).days > 30:
        return (
            f"warning: the data ends {end}, {(day - end).days} days before {what} {day}: every "
            "customer looks inactive for the days the data does not cover"
        )
    return None


def with_model_columns(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``frame`` with every model column in ``columns``: one the data cannot produce (e.g. an
    attribute the customers table lacks) is a missing value for every row, as batch scoring,
    Spark scoring and the monitoring reference all give it to the models."""
    absent = [c for c in columns if c not in frame.columns]
    return frame.assign(**{c: pd.Series(None, index=frame.index, dtype=object) for c in absent})


def build_frame(
    data_dir: str | Path,
    cutoffs: list[date],
    cfg: ExperimentConfig,
    *,
    churn_horizon_days: int,
    value_horizon_days: int,
    with_labels: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Features at the cutoffs, labels for both horizons (when asked) and BTYD columns.

    Built on the engine of :func:`build_settings` (DuckDB unless inside :func:`building_on`) and
    only for the customers in its sample."""
    from features.snapshots import FLOAT_DECIMALS, build_snapshots, label_table, sample_customers

    settings = build_settings()
    fraction = settings.sample_fraction
    frame = build_snapshots(
        data_dir,
        cutoffs,
        config=cfg.features,
        progress=progress,
        engine=settings.engine,
        sample_fraction=fraction,
    )
    if with_labels:
        with _contract_tables(settings, data_dir, f"labels from {data_dir}") as tables:
            churn = sample_customers(label_table(tables, cutoffs, churn_horizon_days), fraction)
            churn = churn.to_pandas()[["customer_id", "cutoff", "churned"]]
            value = label_table(
                tables,
                cutoffs,
                value_horizon_days,
                value=cfg.labels.value,
                annual_discount_rate=cfg.labels.annual_discount_rate,
            )
            value = sample_customers(value, fraction).to_pandas()
        value = value[["customer_id", "cutoff", "future_orders", "future_value"]]
        # rounded as the features are: a week more of data changes DuckDB's order of adding up
        # the window's amounts, and the last bit of 24 of 18,059 values with it, so the table's
        # hash (the repeat skip, training.same_training) never matched
        value["future_value"] = value["future_value"].round(FLOAT_DECIMALS)
        for labels in (churn, value):
            labels["cutoff"] = pd.to_datetime(labels["cutoff"]).astype(frame["cutoff"].dtype)
            frame = frame.merge(
                labels, on=["customer_id", "cutoff"], how="left", validate="one_to_one"
            )
    frame = with_ends(frame, settings, data_dir, churn_horizon_days if with_labels else None)
    frame = add_calendar_columns(frame)
    return add_btyd_columns(frame, churn_horizon_days, value_horizon_days)


def with_ends(
    frame: pd.DataFrame, settings: BuildSettings, data_dir: str | Path, horizon_days: int | None
) -> pd.DataFrame:
    """``frame`` with ``ENDED_DAYS`` from the customers' ends (``features.endings``; unchanged when
    the customers table has no ``ended_at``). With labels
    (``horizon_days``), an end within the horizon is churn, and the rows of customers who had
    ended before their cutoff are left out (not at risk: scoring calls them churned by rule);
    how many is in ``attrs[ENDED_ROWS]``. Without labels (scoring), a cutoff at or after the
    data's end also gets ``ENDS_IN_DAYS``: the notices the export holds, and the contact flags
    (``features.contact_flags``: never a model input, so never in training rows)."""
    from features.contact_flags import flag_columns, flags_by_customer, row_flags
    from features.endings import (
        ENDED_DAYS,
        ENDS_IN_DAYS,
        customer_ends,
        customer_returns,
        ended_days,
        ends_in_days,
        ends_within,
        reads_notices,
    )

    with _contract_tables(settings, data_dir, f"customers' ends from {data_dir}") as tables:
        customers = tables.customers
        for field in flag_columns(customers.columns) if horizon_days is None else []:
            flagged = customers.filter(customers[field])  # few: only they are read
            flags = flags_by_customer(flagged.select("customer_id", field).to_pandas(), field)
            frame[field] = row_flags(frame, flags)
        if ENDED_AT not in customers.columns:
            return frame
        ended_at = customer_ends(customers)
        returned_at = customer_returns(customers)
    frame[ENDED_DAYS] = ended_days(frame, ended_at, returned_at)
    if horizon_days is None:
        _, data_end = data_bounds(data_dir)
        cutoffs = pd.to_datetime(frame["cutoff"])
        now = cutoffs.map({c: reads_notices(c.date(), data_end) for c in cutoffs.unique()})
        frame[ENDS_IN_DAYS] = np.where(now.to_numpy(bool), ends_in_days(frame, ended_at), np.nan)
        return frame
    frame.loc[ends_within(frame, ended_at, horizon_days), "churned"] = 1
    gone = frame[ENDED_DAYS].notna()
    frame = frame[~gone].reset_index(drop=True)
    frame.attrs[ENDED_ROWS] = int(gone.sum())
    return frame


def ended_customers(data_dir: str | Path) -> int:
    """How many customers have an end (``customers.ended_at``, ``features.endings``), on the
    engine of :func:`build_settings`."""
    from features.endings import customer_ends

    with _contract_tables(build_settings(), data_dir, f"customers' ends from {data_dir}") as tables:
        return int(customer_ends(tables.customers).notna().sum())


def calendar_columns(cutoff: pd.Series) -> dict[str, np.ndarray]:
    """Month of the cutoff: with a year of training cutoffs, the models learn how much of the
    label window falls in high season (known at T, so no look-ahead)."""
    if isinstance(cutoff.dtype, np.dtype) and cutoff.dtype.kind == "M":  # naive datetimes
        values = cutoff.to_numpy()
        months = values.astype("datetime64[M]").astype("int64") % 12 + 1
        return {"cutoff_month": np.where(np.isnat(values), np.nan, months.astype("float64"))}
    return {"cutoff_month": pd.to_datetime(cutoff).dt.month.to_numpy(dtype="float64")}


def ended_note(rows: int, where: str) -> str | None:
    """What a run says of the rows :func:`with_ends` left out (None when there were none)."""
    if not rows:
        return None
    return (
        f"{rows:,} customer rows are left out of {where}: those customers had ended "
        "(customers.ended_at) before the cutoff, so they are not at risk and their churn is known "
        "(scores call them churned); an end within the horizon counts as churn"
    )


def add_calendar_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``calendar_columns`` (added in place)."""
    for name, values in calendar_columns(frame["cutoff"]).items():
        frame[name] = values
    return frame


def repeat_monetary_value(frame: pd.DataFrame) -> pd.Series:
    """Mean value of repeat purchase days (first purchase excluded), as Gamma-Gamma expects."""
    repeat = frame["orders_all"] - 1
    total = frame["avg_order_value"] * frame["orders_all"] - frame["first_order_value"]
    return (total / repeat).where(repeat > 0)


def add_btyd_columns(
    frame: pd.DataFrame, churn_horizon_days: int, value_horizon_days: int
) -> pd.DataFrame:
    """Fit BG/NBD + Gamma-Gamma at each cutoff (on that cutoff's history only) and add its
    outputs."""
    return apply_btyd(frame, fit_btyd(frame), churn_horizon_days, value_horizon_days)


def btyd_summary(part: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD + Gamma-Gamma inputs of buyers' feature rows (days)."""
    summary = part[["frequency", "btyd_recency_days", "age_days"]].astype(float).copy()
    summary["monetary_value"] = repeat_monetary_value(part).fillna(0.0).clip(lower=0.0)
    return summary


def buyers_at_risk(frame: pd.DataFrame) -> pd.DataFrame:
    """Buyers who have not ended (``features.endings``): the rows models and BTYD are fitted on
    and score (training leaves the ended out, so scoring's BTYD fits and the monitoring reference
    leave them out too, and the models' inputs agree)."""
    from features.endings import ENDED_DAYS

    keep = frame["is_prospect"] == 0
    if ENDED_DAYS in frame.columns:
        keep &= frame[ENDED_DAYS].isna()
    return frame[keep]


def fit_btyd(frame: pd.DataFrame) -> dict:
    """One fitted BTYD model per cutoff, on the buyers of ``frame`` (needs ``BTYD_INPUTS``)."""
    from training.btyd import BTYDModel

    buyers = buyers_at_risk(frame)
    if buyers.empty and len(frame):  # nothing bought yet, or every amount 0
        cutoffs = pd.to_datetime(frame["cutoff"])
        raise PlanError(
            f"cutoffs {cutoffs.min().date()}..{cutoffs.max().date()}: none of their "
            f"{frame['customer_id'].nunique():,} customers has a purchase (an order with an "
            "amount above 0) before them; BG/NBD + Gamma-Gamma (the baseline and the models' "
            "offset) and the models learn from buyers: use a later date or more history, and "
            "check that the amounts were read"
        )
    models = {}
    for cutoff, part in buyers.groupby("cutoff", sort=True):
        summary = btyd_summary(part)
        if not (summary["frequency"] > 0).any():
            raise PlanError(
                f"cutoff {pd.Timestamp(cutoff).date()}: none of its {len(part):,} buyers has "
                "bought twice before it; BG/NBD + Gamma-Gamma (the baseline and the models' "
                "offset) learn from repeat purchases: use a later date or more history"
            )
        models[pd.Timestamp(cutoff)] = BTYDModel().fit(summary)
    return models


def apply_btyd(
    frame: pd.DataFrame, models: dict, churn_horizon_days: int, value_horizon_days: int
) -> pd.DataFrame:
    """The BTYD columns of ``frame``'s buyers (and :data:`VALUE_HORIZON_P0`) from models fitted
    by :func:`fit_btyd` (row by row: a batch of rows gets what the whole table would)."""
    frame = frame.copy()
    for col in (*BTYD_COLUMNS, VALUE_HORIZON_P0):
        frame[col] = np.nan
    for cutoff, part in frame[frame["is_prospect"] == 0].groupby("cutoff", sort=True):
        model = models.get(pd.Timestamp(cutoff))
        if model is None:
            raise ValueError(f"no BTYD model was fitted for cutoff {cutoff}")
        summary = btyd_summary(part)
        churn_pred = model.predict(summary, churn_horizon_days)
        value_pred = model.predict(summary, value_horizon_days)
        frame.loc[part.index, "btyd_expected_purchases"] = np.asarray(
            churn_pred["expected_purchases"]
        )
        frame.loc[part.index, "btyd_p_alive"] = np.asarray(churn_pred["p_alive"])
        frame.loc[part.index, "btyd_p_no_purchase"] = np.asarray(churn_pred["p_no_purchase"])
        frame.loc[part.index, "btyd_expected_value"] = np.asarray(value_pred["expected_value"])
        frame.loc[part.index, VALUE_HORIZON_P0] = np.asarray(value_pred["p_no_purchase"])
    return frame


def model_columns(frame: pd.DataFrame, cfg: ExperimentConfig) -> list[str]:
    """The model's input columns: the feature families of the config, in a stable order."""
    return [c for c in catalog.model_columns(cfg.features) if c in frame.columns]


def build_training_data(
    data_dir: str | Path, plan: CutoffPlan, cfg: ExperimentConfig, progress: bool = True
) -> TrainingData:
    """The stacked training table for a cutoff plan (on the engine and sample of
    :func:`build_settings`)."""
    frame = build_frame(
        data_dir,
        plan.all(),
        cfg,
        churn_horizon_days=cfg.labels.churn_horizon_days,
        value_horizon_days=cfg.labels.value_horizon_days,
        progress=progress,
    )
    splits = {c: plan.split_of(pd.Timestamp(c).date()) for c in frame["cutoff"].unique()}
    frame["split"] = frame["cutoff"].map(splits)
    return TrainingData(frame=frame, feature_columns=model_columns(frame, cfg), plan=plan)
