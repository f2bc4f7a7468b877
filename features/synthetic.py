"""Synthetic CRM data with ground truth, for checking that models are calibrated and early.

``generate(out_dir, n_customers, seed)`` writes the contract tables (``customers``,
``transactions``, ``events``; see ``docs/schema.md``), ``truth.parquet`` and ``manifest.json``.
All contract timestamps lie in ``[start, end)``: ``end`` is the first instant *without* data.

The model, per customer (parameters in ``features.synthetic_params.SyntheticParams``):

- sign-ups spread over the period at an exponentially growing rate; customer ids follow sign-up
  order. Region, channel and segment scale the purchase rate, spend, dropout hazard, seasonality
  and the chance of being a *prospect* (about 20%), who never buys but visits and opens emails.
- a buyer's first purchase comes on the sign-up day or after an exponential delay; further
  purchases follow a Poisson process with rate ``purchase_rate_per_day * s(t)`` (gamma across
  customers; ``s`` a yearly cosine peaking mid-December with mean 1) until ``dropout_at``.
  Order values are Gamma-Gamma around the customer's ``mean_spend``; margin = amount times the
  category's margin rate; a few percent of orders are returned later (negative rows whose
  ``order_id`` is ``R`` + the order's number; they may fall after ``dropout_at``).
- ``dropout_at`` = first purchase + exponential lifetime, or shortly after a bad experience
  (a complaint) for some of the customers who have one. Engagement (visits, logins, email opens
  and clicks, proportional to the purchase rate) fades linearly from ``fade_start_at`` (60-90
  days before a natural dropout, or the bad experience) to 10% at dropout, while tickets and
  complaints rise and survey satisfaction drops. After dropout: only a trickle of email opens.

``truth.parquet`` has one row per customer: ``customer_id, signup_at, is_prospect,
first_purchase_at, purchase_rate_per_day, seasonal_amplitude, mean_spend,
dropout_hazard_per_day, dropout_at, dropout_cause ('natural' | 'bad_experience'),
bad_experience_at, fade_start_at, engagement, satisfaction``. Latent times are those of the model:
they may lie after ``end`` (capped 100 years later); they are null for prospects
(``bad_experience_at`` also when there is none before dropout).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from features.atomic_file import replaced_file
from features.contract import BUSINESS_ZONE, MANIFEST
from features.synthetic_activity import draw_events, draw_transactions
from features.synthetic_arrow import (
    SCHEMAS,
    customers_table,
    events_table,
    id_strings,
    transactions_table,
    truth_table,
)
from features.synthetic_params import (
    SEASONAL_PEAK_DAY,
    YEAR_DAYS,
    Period,
    SyntheticParams,
    epoch_days,
    seasonal_integral,
)
from features.synthetic_population import draw_population

TABLES = ("customers", "transactions", "events", "truth")


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote: rows per table, wall time and file paths."""

    out_dir: Path
    n_customers: int
    seed: int
    rows: dict[str, int]
    seconds: float
    paths: dict[str, Path]

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return {
            "out_dir": str(self.out_dir),
            "n_customers": self.n_customers,
            "seed": self.seed,
            "rows": dict(self.rows),
            "seconds": round(self.seconds, 3),
            "paths": {name: str(path) for name, path in self.paths.items()},
        }


def generate(
    out_dir: str | Path,
    n_customers: int,
    seed: int = 0,
    *,
    start: str = "2023-01-01",
    end: str = "2025-12-31",
    chunk_size: int = 100_000,
    progress: bool = True,
    params: SyntheticParams | None = None,
    campaigns=None,
) -> GenerationSummary:
    """Write a synthetic CRM data set with ground truth into ``out_dir``, chunk by chunk.

    Deterministic for a given ``seed`` and ``chunk_size``. Memory is bounded by the chunk size.
    ``campaigns`` (a ``features.synthetic_campaigns.CampaignSpec``) adds a randomized retention
    campaign with its true effects (``campaigns.parquet``, ``campaign_truth.parquet``).
    """
    period = _check_arguments(n_customers, seed, start, end, chunk_size)
    params = params or SyntheticParams()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {table: out / f"{table}.parquet" for table in TABLES}
    rows = dict.fromkeys(TABLES, 0)
    id_digits = max(7, len(str(n_customers)))
    next_order_number = 1
    began = time.perf_counter()
    with ExitStack() as stack:
        # written aside, renamed over the tables at the end: an interrupted run leaves the
        # previous data set (or none), never empty tables that read as a data set
        aside = {t: stack.enter_context(replaced_file(paths[t])) for t in TABLES}
        writers = {t: stack.enter_context(pq.ParquetWriter(aside[t], SCHEMAS[t])) for t in TABLES}
        chunks = range(0, n_customers, chunk_size)
        for k, first in enumerate(
            tqdm(chunks, desc="generating", unit="chunk", file=sys.stderr, disable=not progress)
        ):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
            pop = draw_population(
                rng, first, min(chunk_size, n_customers - first), n_customers, period, params
            )
            tx = draw_transactions(rng, pop, period, params, next_order_number)
            ev = draw_events(rng, pop, period, params)
            next_order_number += tx.n_orders
            ids = id_strings("C", pop.number, id_digits)
            tables = {
                "customers": customers_table(pop, ids, period, params),
                "transactions": transactions_table(tx, ids, period, params),
                "events": events_table(ev, ids, period),
                "truth": truth_table(pop, ids, period),
            }
            for table, data in tables.items():
                writers[table].write_table(data)
                rows[table] += data.num_rows
    seconds = time.perf_counter() - began
    _write_manifest(out, n_customers, seed, period, chunk_size, params, rows, seconds)
    paths["manifest"] = out / MANIFEST
    if campaigns is not None:
        from features.synthetic_campaigns import run_campaigns

        realised = run_campaigns(out, campaigns, order_value_shape=params.order_value_shape)
        rows = {
            **rows,
            "transactions": realised["transactions"],
            "campaigns": realised["campaigns"],
        }
        paths |= {
            "campaigns": out / "campaigns.parquet",
            "campaign_truth": out / "campaign_truth.parquet",
        }
    return GenerationSummary(
        out_dir=out, n_customers=n_customers, seed=seed, rows=rows, seconds=seconds, paths=paths
    )


def true_churn_probability(truth: pd.DataFrame, cutoff, horizon_days: int) -> pd.Series:
    """The oracle probability of no purchase in ``[cutoff, cutoff + horizon_days)``, per customer.

    Given the customer's true rate and their realised ``dropout_at``: ``exp(-rate * integral of
    s(t) over [cutoff, min(cutoff + H, dropout_at)))``, so 1.0 when already dropped out. NaN for
    customers who are not buyers at the cutoff (prospects, and customers whose first purchase is
    not before the cutoff), matching the platform's churn label, which is null for them.
    Windows reaching past the generated period are answered from the model, beyond the data.
    """
    begin = epoch_days(pd.Timestamp(cutoff))
    stop = np.minimum(begin + float(horizon_days), epoch_days(truth["dropout_at"]))
    amplitude = truth["seasonal_amplitude"].to_numpy(float)
    exposure = seasonal_integral(begin, np.maximum(stop, begin), amplitude)
    p = np.exp(-truth["purchase_rate_per_day"].to_numpy(float) * exposure)
    bought = epoch_days(truth["first_purchase_at"]) < begin
    is_buyer = bought & ~truth["is_prospect"].to_numpy(bool)
    return pd.Series(
        np.where(is_buyer, p, np.nan),
        index=pd.Index(truth["customer_id"], name="customer_id"),
        name="true_churn_probability",
    )


def true_alive(truth: pd.DataFrame, at) -> pd.Series:
    """Whether each customer is alive at ``at``: signed up, not a prospect, and ``at < dropout_at``.

    A buyer between sign-up and first purchase counts as alive (they will buy); prospects never are.
    """
    at = pd.Timestamp(at)
    alive = (truth["signup_at"] <= at) & (truth["dropout_at"] > at) & ~truth["is_prospect"]
    return pd.Series(
        alive.fillna(False).to_numpy(bool),
        index=pd.Index(truth["customer_id"], name="customer_id"),
        name="alive",
    )


def _check_arguments(n_customers: int, seed: int, start: str, end: str, chunk_size: int) -> Period:
    """Validate the arguments of ``generate``; return the period."""
    if not isinstance(n_customers, (int, np.integer)) or n_customers < 1:
        raise ValueError(f"n_customers must be an integer >= 1, got {n_customers!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    try:
        period = Period(pd.Timestamp(start), pd.Timestamp(end))
    except ValueError as exc:
        raise ValueError(f"start and end must be dates, got start={start!r}, end={end!r}") from exc
    if period.start.tz is not None or period.end.tz is not None:
        raise ValueError(
            f"start and end must be naive (UTC) dates, got start={start!r}, end={end!r}"
        )
    if period.days < 1:
        raise ValueError(
            f"end must be at least one day after start, got start={start!r}, end={end!r}"
        )
    return period


def _write_manifest(
    out: Path,
    n_customers: int,
    seed: int,
    period: Period,
    chunk_size: int,
    params: SyntheticParams,
    rows: dict[str, int],
    seconds: float,
) -> None:
    manifest = {
        "generator": "features.synthetic",
        "seed": seed,
        "n_customers": n_customers,
        "start": str(period.start),
        "end": str(period.end),
        "end_is_exclusive": True,
        BUSINESS_ZONE: "UTC",  # the generator's times are naive UTC
        "chunk_size": chunk_size,
        "rows": rows,
        "tables": {
            t: {"rows_read": n, "accepted": n, "quarantined": 0}
            for t, n in rows.items()
            if t != "truth"
        },
        "seconds": round(seconds, 3),
        "seasonality": {"peak_day_of_year": SEASONAL_PEAK_DAY, "period_days": YEAR_DAYS},
        "parameters": asdict(params),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
