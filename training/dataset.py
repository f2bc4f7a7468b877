"""Snapshot datasets: features at rolling cutoffs, labels over the horizons, BTYD columns, splits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from features.contract import table_path
from training.config import ExperimentConfig
from training.splits import CutoffPlan

LABEL_COLUMNS = ("churned", "future_orders", "future_value")
CALENDAR_COLUMNS = ("cutoff_month",)
BTYD_COLUMNS = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_value", "btyd_p_no_purchase")
ID_COLUMNS = ("customer_id", "cutoff", "split")


@dataclass
class TrainingData:
    """The stacked snapshot table with a ``split`` column, and the model's feature columns."""

    frame: pd.DataFrame
    feature_columns: list[str]
    plan: CutoffPlan

    def split(self, name: str, buyers_only: bool = False) -> pd.DataFrame:
        part = self.frame[self.frame["split"] == name]
        return part[part["is_prospect"] == 0] if buyers_only else part


def data_bounds(data_dir: str | Path) -> tuple[date, date]:
    """First transaction day and the day after the last one (exclusive end)."""
    path = table_path(data_dir, "transactions")
    with duckdb.connect() as con:
        lo, hi = con.execute("select min(ordered_at), max(ordered_at) from read_parquet(?)", [str(path)]).fetchone()
    return lo.date(), hi.date() + timedelta(days=1)


def feature_config(cfg: ExperimentConfig):
    from features.config import FeatureConfig

    families = tuple(f for f in cfg.features.families if f not in ("btyd", "calendar"))
    return FeatureConfig(windows_days=cfg.features.windows_days,
                         event_windows_days=cfg.features.event_windows_days, families=families)


def build_frame(data_dir: str | Path, cutoffs: list[date], cfg: ExperimentConfig, *,
                churn_horizon_days: int, value_horizon_days: int, with_labels: bool = True,
                progress: bool = True) -> pd.DataFrame:
    """Features at the cutoffs, labels for both horizons (when asked) and BTYD columns."""
    from features.snapshots import build_snapshots, connect, label_table

    frame = build_snapshots(data_dir, cutoffs, config=feature_config(cfg), progress=progress)
    if with_labels:
        tables = connect(data_dir)
        churn = label_table(tables, cutoffs, churn_horizon_days).to_pandas()[["customer_id", "cutoff", "churned"]]
        value = label_table(tables, cutoffs, value_horizon_days, value=cfg.labels.value,
                            annual_discount_rate=cfg.labels.annual_discount_rate).to_pandas()
        value = value[["customer_id", "cutoff", "future_orders", "future_value"]]
        for labels in (churn, value):
            labels["cutoff"] = pd.to_datetime(labels["cutoff"]).astype(frame["cutoff"].dtype)
            frame = frame.merge(labels, on=["customer_id", "cutoff"], how="left", validate="one_to_one")
    frame = add_calendar_columns(frame)
    return add_btyd_columns(frame, churn_horizon_days, value_horizon_days)


def add_calendar_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Month of the cutoff: with a year of training cutoffs, the models learn how much of the
    label window falls in high season (known at T, so no look-ahead)."""
    frame["cutoff_month"] = pd.to_datetime(frame["cutoff"]).dt.month.astype("float64")
    return frame


def repeat_monetary_value(frame: pd.DataFrame) -> pd.Series:
    """Mean value of repeat purchase days (first purchase excluded), as Gamma-Gamma expects."""
    repeat = frame["orders_all"] - 1
    total = frame["avg_order_value"] * frame["orders_all"] - frame["first_order_value"]
    return (total / repeat).where(repeat > 0)


def add_btyd_columns(frame: pd.DataFrame, churn_horizon_days: int, value_horizon_days: int) -> pd.DataFrame:
    """Fit BG/NBD + Gamma-Gamma at each cutoff (on that cutoff's history only) and add its outputs."""
    from training.btyd import BTYDModel

    frame = frame.copy()
    for col in BTYD_COLUMNS:
        frame[col] = np.nan
    for cutoff, part in frame[frame["is_prospect"] == 0].groupby("cutoff", sort=True):
        summary = part[["frequency", "btyd_recency_days", "age_days"]].astype(float).copy()
        summary["monetary_value"] = repeat_monetary_value(part).fillna(0.0).clip(lower=0.0)
        model = BTYDModel().fit(summary)
        churn_pred = model.predict(summary, churn_horizon_days)
        value_pred = model.predict(summary, value_horizon_days)
        frame.loc[part.index, "btyd_expected_purchases"] = np.asarray(churn_pred["expected_purchases"])
        frame.loc[part.index, "btyd_p_alive"] = np.asarray(churn_pred["p_alive"])
        frame.loc[part.index, "btyd_p_no_purchase"] = np.asarray(churn_pred["p_no_purchase"])
        frame.loc[part.index, "btyd_expected_value"] = np.asarray(value_pred["expected_value"])
    return frame


def model_columns(frame: pd.DataFrame, cfg: ExperimentConfig) -> list[str]:
    """The model's input columns: the feature families of the config, in a stable order."""
    from features.snapshots import FEATURE_COLUMNS

    columns = [c for c in FEATURE_COLUMNS(feature_config(cfg)) if c in frame.columns]
    if "calendar" in cfg.features.families:
        columns += list(CALENDAR_COLUMNS)
    if "btyd" in cfg.features.families:
        columns += list(BTYD_COLUMNS)
    return columns


def build_training_data(data_dir: str | Path, plan: CutoffPlan, cfg: ExperimentConfig,
                        progress: bool = True) -> TrainingData:
    """The stacked training table for a cutoff plan."""
    frame = build_frame(data_dir, plan.all(), cfg, churn_horizon_days=cfg.labels.churn_horizon_days,
                        value_horizon_days=cfg.labels.value_horizon_days, progress=progress)
    splits = {c: plan.split_of(pd.Timestamp(c).date()) for c in frame["cutoff"].unique()}
    frame["split"] = frame["cutoff"].map(splits)
    return TrainingData(frame=frame, feature_columns=model_columns(frame, cfg), plan=plan)
