"""What followed each campaign row (``retained``, ``value`` over a window, as of a cutoff), the
cost of each action and the rows that measure it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from features.campaign_table import CONTROL, TREATED, load_campaigns
from features.contract import table_path


def campaign_outcomes(data_dir: str | Path, horizon_days: int, as_of=None) -> pd.DataFrame:
    """Campaign rows with ``retained`` and ``value`` over ``[sent_at, sent_at + horizon_days)``.

    Rows whose outcomes were given directly keep them, but for windows not over by an ``as_of``
    given (a cutoff: their outcomes are the future of it). Otherwise outcomes come from
    ``transactions`` strictly before ``as_of`` (default: the day after the last transaction;
    a later one says the export covers up to it); rows whose window is not over by then are
    dropped (callers name them). Adds ``window_end``.
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days!r}")
    camp = load_campaigns(data_dir)
    camp["window_end"] = camp["sent_at"] + pd.Timedelta(days=horizon_days)
    given = camp["retained"].notna() & camp["value"].notna()
    if as_of is not None:
        future = given & (camp["window_end"] > pd.Timestamp(as_of))
        camp, given = camp.loc[~future], given.loc[~future]
    if given.all():
        return camp.reset_index(drop=True)
    tx_path = table_path(data_dir, "transactions")
    if not tx_path.exists():
        raise FileNotFoundError(
            f"{tx_path}: campaign outcomes are measured from transactions, "
            "and some campaigns rows carry no retained/value of their own"
        )
    con = duckdb.connect()
    if as_of is None:
        last = con.execute(
            "select max(ordered_at) from read_parquet(?)", [str(tx_path)]
        ).fetchall()[0][0]
        as_of = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of)
    todo = camp.loc[
        ~given & (camp["window_end"] <= as_of),
        ["customer_id", "campaign_id", "sent_at", "window_end"],
    ]
    con.register("todo", todo)
    measured = con.execute(
        """
        select t.customer_id, t.campaign_id,
               coalesce(max(case when x.amount > 0 then 1 else 0 end), 0)::double as m_retained,
               coalesce(sum(x.amount), 0)::double as m_value
        from todo t left join read_parquet(?) x
          on x.customer_id = t.customer_id and x.ordered_at >= t.sent_at
         and x.ordered_at < t.window_end and x.ordered_at < ?
        group by t.customer_id, t.campaign_id
        """,
        [str(tx_path), as_of.to_pydatetime()],
    ).df()
    con.close()
    out = camp.merge(measured, on=["customer_id", "campaign_id"], how="left")
    out["retained"] = out["retained"].where(given, out["m_retained"])
    out["value"] = out["value"].where(given, out["m_value"])
    out = out.drop(columns=["m_retained", "m_value"])
    return out.loc[out["retained"].notna()].reset_index(drop=True)


def action_costs(frame: pd.DataFrame) -> dict[str, float]:
    """Cost per contact of each action: the mean ``cost`` of its treated rows that give one (0
    when none does; a missing cost is not a free contact)."""
    treated = frame[frame["arm"] == TREATED]
    cost = treated["cost"] if "cost" in treated else pd.Series(np.nan, index=treated.index)
    means = cost.astype(float).groupby(treated["action"]).mean().fillna(0.0)
    return {str(a): float(c) for a, c in means.items()}


def measuring_rows(frame: pd.DataFrame, action: str) -> np.ndarray:
    """Which campaign rows measure ``action``: its treated customers and the control customers of
    the same campaigns (another campaign's controls were sent at another time, to another
    audience, so they are no counterfactual for this one)."""
    campaigns = frame.loc[
        (frame["action"] == action) & (frame["arm"] == TREATED), "campaign_id"
    ].unique()
    same = frame["campaign_id"].isin(campaigns)
    return (same & ((frame["action"] == action) | (frame["arm"] == CONTROL))).to_numpy()
