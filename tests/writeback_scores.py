"""Realistic scores for the write-back tests, from the real pipeline minus model training.

Synthetic CRM data (``features.synthetic.generate``) -> point-in-time features at a cutoff
(``build_snapshots``) -> ``serving.scoring.score_frame`` with the generator's *true* churn
probability as the churn model output (NaN for prospects, as the model gives), a value
prediction derived from the customer's revenue, and seeded per-feature contributions, so stages,
tiers, actions and reasons come from the real rules and phrases. About 3 s for 400 customers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CUTOFF = "2025-10-01"
REASON_FEATURES = ("recency_days", "orders_90d", "revenue_365d", "tenure_days")


def make_scores(root: Path, n_customers: int = 400, seed: int = 3) -> pd.DataFrame:
    from features.snapshots import build_snapshots
    from features.synthetic import generate, true_churn_probability
    from serving.config import ScoringConfig
    from serving.scoring import SCORE_COLUMNS, score_frame

    data = root / "data"
    generate(data, n_customers, seed, progress=False)
    features = build_snapshots(data, [CUTOFF], progress=False)
    truth = pd.read_parquet(data / "truth.parquet")
    p = true_churn_probability(truth, CUTOFF, 90).reindex(features["customer_id"]).to_numpy()
    rng = np.random.default_rng(seed)
    value = (
        features["revenue_365d"].to_numpy(float)
        * (1 - np.nan_to_num(p))
        * rng.uniform(0.3, 0.6, len(p))
    )
    columns = [c for c in REASON_FEATURES if c in features.columns]
    contributions = pd.DataFrame(rng.normal(0, 0.6, (len(p), len(columns))), columns=columns)
    scores = score_frame(features, p, value, contributions, ScoringConfig(), CUTOFF, "3", "2")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    return scores
