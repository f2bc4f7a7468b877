"""Regime changes injected into a synthetic data set after a date, to prove the monitor sees them.

``inject_drift(src, out, kind, after)`` copies the contract tables of ``src`` into ``out`` and
changes what happens on or after ``after``:

- ``engagement_drop``: each visit, login, email open and click is kept with probability
  ``1 - strength`` (default: 70% of them vanish);
- ``price_rise``: order amounts and margins are multiplied by ``1 + strength`` (default +60%);
- ``new_channel``: customers who sign up from ``after`` on come through a channel the data never
  had (``marketplace``); with ``strength`` the share of earlier customers who move to it;
- ``churn_mechanism``: churn stops following the old signals: a share ``strength`` (default 70%) of
  the customers who bought in the 60 days before ``after`` (whom any model deems safe) make no
  purchase and have no activity from ``after`` on, and the rest keep buying as before.

``truth.parquet`` is copied unchanged (it describes the old regime); ``drift.json`` records the
change. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import MANIFEST

KINDS = ("engagement_drop", "price_rise", "new_channel", "churn_mechanism")
DEFAULT_STRENGTH = {
    "engagement_drop": 0.7,
    "price_rise": 0.6,
    "new_channel": 0.0,
    "churn_mechanism": 0.7,
}
NEW_CHANNEL = "marketplace"
ENGAGEMENT_TYPES = ("visit", "login", "email_open", "email_click")
RECENT_BUYER_DAYS = 60


def inject_drift(
    src: str | Path,
    out: str | Path,
    kind: str,
    after: date | str,
    *,
    seed: int = 0,
    strength: float | None = None,
) -> dict:
    """Write ``src`` with the regime change ``kind`` from ``after`` on into ``out``; return what
    changed."""
    if kind not in KINDS:
        raise ValueError(f"drift kind {kind!r}: expected one of {', '.join(KINDS)}")
    strength = DEFAULT_STRENGTH[kind] if strength is None else float(strength)
    if not 0 <= strength <= 10:
        raise ValueError(f"drift strength {strength}: expected a number between 0 and 10")
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise ValueError(f"--out {out}: must differ from the source data set")
    at = pd.Timestamp(after)
    rng = np.random.default_rng(seed)
    customers = pd.read_parquet(src / "customers.parquet")
    transactions = pd.read_parquet(src / "transactions.parquet")
    events = pd.read_parquet(src / "events.parquet") if (src / "events.parquet").exists() else None
    changed: dict[str, int] = {}
    if kind == "engagement_drop":
        if events is None:
            raise ValueError(f"data set {src}: engagement_drop needs events.parquet")
        hit = (events["occurred_at"] >= at) & events["event_type"].isin(ENGAGEMENT_TYPES)
        drop = hit & (rng.random(len(events)) < strength)
        events = events[~drop].reset_index(drop=True)
        changed["events_removed"] = int(drop.sum())
    elif kind == "price_rise":
        hit = transactions["ordered_at"] >= at
        for column in ("amount", "margin"):
            if column in transactions.columns:
                transactions.loc[hit, column] = transactions.loc[hit, column] * (1 + strength)
        changed["transactions_repriced"] = int(hit.sum())
    elif kind == "new_channel":
        if "channel" not in customers.columns:
            raise ValueError(
                f"data set {src}: new_channel needs a channel column in customers.parquet"
            )
        moved = (customers["signup_at"] >= at) | (rng.random(len(customers)) < strength)
        customers["channel"] = customers["channel"].astype(object)
        customers.loc[moved, "channel"] = NEW_CHANNEL
        changed["customers_moved"] = int(moved.sum())
    else:  # churn_mechanism
        before = transactions[
            (transactions["ordered_at"] < at)
            & (transactions["ordered_at"] >= at - pd.Timedelta(days=RECENT_BUYER_DAYS))
        ]
        recent = np.sort(before["customer_id"].unique())
        leaving = set(recent[rng.random(len(recent)) < strength])
        gone = transactions["customer_id"].isin(leaving) & (transactions["ordered_at"] >= at)
        transactions = transactions[~gone].reset_index(drop=True)
        if events is not None:
            quiet = events["customer_id"].isin(leaving) & (events["occurred_at"] >= at)
            events = events[~quiet].reset_index(drop=True)
        changed.update(customers_leaving=len(leaving), transactions_removed=int(gone.sum()))
    out.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(out / "customers.parquet", index=False)
    transactions.to_parquet(out / "transactions.parquet", index=False)
    if events is not None:
        events.to_parquet(out / "events.parquet", index=False)
    for extra in ("truth.parquet", MANIFEST):
        if (src / extra).exists():
            shutil.copyfile(src / extra, out / extra)
    record = {
        "kind": kind,
        "after": str(at.date()),
        "strength": strength,
        "seed": seed,
        "source": str(src),
        "changed": changed,
    }
    (out / "drift.json").write_text(json.dumps(record, indent=1))
    return record
