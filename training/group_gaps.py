"""How far each group of customers (segment, region, channel) churns off its predictions, against
all customers: kept with the pair from the held-out (test) buyers (``training.reference``), and
measured again on each matured scoring date by the monitor (``serving.monitor``), which judges the
change between the two: a group the model is off for by the same amount at training and now has
not changed. Numpy and pandas only; nothing here reads files."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Customer attributes whose groups get their own calibration, where the data has them.
GROUP_COLUMNS = ("segment", "region", "channel")
#: Groups with fewer held-out buyers are not kept with the pair (a few customers say little).
HELD_OUT_MIN_CUSTOMERS = 30


def group_gaps(
    groups: pd.DataFrame, churned, probability, min_customers: int = HELD_OUT_MIN_CUSTOMERS
) -> list[dict]:
    """Calibration in the large of each group of :data:`GROUP_COLUMNS` in ``groups`` (one row per
    customer, ``churned`` and ``probability`` in the same order) with at least ``min_customers``:
    mean predicted and observed churn, and ``off_all``, how far the group's gap (observed -
    predicted) is off that of all customers, with ``spread``, its standard deviation under the
    predicted probabilities (the variance of the group's and the rest's observed rates). Off the
    whole, because a change in one segment shows, diluted, in every region and channel it spans,
    and a miscalibration of all is the ECE's to report."""
    p_all = np.asarray(probability, dtype=float)
    y_all = np.asarray(churned, dtype=float)
    overall = y_all.mean() - p_all.mean() if len(p_all) else 0.0
    rows = []
    for column in GROUP_COLUMNS:
        if column not in groups.columns or groups[column].nunique() < 2:
            continue
        labels = groups[column].astype(str).where(groups[column].notna())
        for name in sorted(labels.dropna().unique()):
            inside = (labels == name).to_numpy()
            n, rest = int(inside.sum()), int((~inside).sum())
            if n < min_customers or not rest:
                continue
            p, y, p_rest = p_all[inside], y_all[inside], p_all[~inside]
            # off = (1 - n/N) * (group's gap - rest's gap): its spread under the predictions
            spread = (rest / len(p_all)) * np.sqrt(
                np.sum(p * (1 - p)) / n**2 + np.sum(p_rest * (1 - p_rest)) / rest**2
            )
            rows.append(
                {
                    "column": column,
                    "group": str(name),
                    "customers": n,
                    "predicted": float(p.mean()),
                    "observed": float(y.mean()),
                    "off_all": float((y.mean() - p.mean()) - overall),
                    "spread": float(spread),
                }
            )
    return rows
