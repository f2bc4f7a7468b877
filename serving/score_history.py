"""Dated score history: each scoring run's scores and features, kept by ``as_of``.

Layout (Hive-style partitions, readable by DuckDB/Spark/pyarrow as one data set)::

    <root>/<project>/as_of=YYYY-MM-DD/scores.parquet     what the CRM received
    <root>/<project>/as_of=YYYY-MM-DD/features.parquet   the feature snapshot they came from

A partition is written into a hidden sibling directory and renamed into place, so a reader sees the
previous complete partition or the new one, never a part (a re-run of the same date replaces it).
Once a date's horizon has passed, ``lifecycle monitor`` joins its scores with the outcomes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

#: Score columns kept (reasons and action labels are for people, not for monitoring).
KEPT_COLUMNS = ("customer_id", "stage", "churn_probability", "predicted_value", "value_segment",
                "priority_score", "priority_tier", "churn_model_version", "clv_model_version")


def partition(root: str | Path, project: str, as_of: date) -> Path:
    return Path(root) / project / f"as_of={as_of.isoformat()}"


def write_partition(root: str | Path, project: str, as_of: date, scores: pd.DataFrame,
                    features: pd.DataFrame) -> Path:
    """Write one date's scores and features atomically; return the partition directory."""
    target = partition(root, project, as_of)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        scores[[c for c in KEPT_COLUMNS if c in scores.columns]].to_parquet(staging / "scores.parquet", index=False)
        features.to_parquet(staging / "features.parquet", index=False)
        for name in ("scores.parquet", "features.parquet"):
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def dates(root: str | Path, project: str) -> list[date]:
    """The scoring dates kept for ``project`` (complete partitions only), oldest first."""
    base = Path(root) / project
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        if child.name.startswith("as_of=") and (child / "scores.parquet").exists():
            found.append(date.fromisoformat(child.name.removeprefix("as_of=")))
    return sorted(found)


def read_partition(root: str | Path, project: str, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and features of one date; FileNotFoundError naming the partition when absent."""
    where = partition(root, project, as_of)
    if not (where / "scores.parquet").exists():
        raise FileNotFoundError(f"no score history for project {project!r} as of {as_of} ({where}); "
                                f"run `lifecycle score --as-of {as_of} --project {project}` first")
    return pd.read_parquet(where / "scores.parquet"), pd.read_parquet(where / "features.parquet")
