"""The ``campaigns`` table's contract (columns, arms) and the table itself: its path, its
column types, reading and writing it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import BUSINESS_ZONE, MANIFEST, Column, quarantine_path, table_path

CAMPAIGNS = "campaigns"
TREATED, CONTROL = "treated", "control"
ARMS = (TREATED, CONTROL)
NO_ACTION = "none"

COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "string"),
    Column("sent_at", "timestamp"),
    Column("campaign_id", "string"),
    Column("action", "string", required=False),  # required on treated rows
    Column("arm", "string"),
    Column("cost", "float", required=False),
    Column("retained", "float", required=False),  # outcome given directly (0/1)
    Column("value", "float", required=False),  # outcome given directly
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)


def campaigns_path(data_dir: str | Path) -> Path:
    """``DIR/campaigns.parquet``."""
    return table_path(data_dir, CAMPAIGNS)


def typed_campaigns(frame: pd.DataFrame) -> pd.DataFrame:
    """Campaign rows with the contract's column types (absent optional columns as nulls), sorted by
    ``sent_at``, ``campaign_id``, ``customer_id``."""
    out = {}
    for col in COLUMNS:
        if col.name in frame:
            values = frame[col.name]
        else:
            values = pd.Series(np.nan if col.dtype == "float" else pd.NA, index=frame.index)
        kind = {"string": "string", "timestamp": "datetime64[us]", "float": "float64"}[col.dtype]
        out[col.name] = values.astype(kind)
    return (
        pd.DataFrame(out)
        .sort_values(["sent_at", "campaign_id", "customer_id"], kind="stable")
        .reset_index(drop=True)
    )


def load_campaigns(data_dir: str | Path) -> pd.DataFrame:
    """The accepted campaigns table of a contract directory (a clear error when absent)."""
    path = campaigns_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no campaigns table; ingest one with "
            "`lifecycle ingest ... --campaigns FILE` or generate with --campaigns"
        )
    return pd.read_parquet(path)


def write_campaigns(
    data_dir: str | Path, accepted: pd.DataFrame, quarantined: pd.DataFrame, report
) -> None:
    """Write the accepted and quarantined rows and add the counts to ``manifest.json``; each file
    is replaced whole (a kill leaves the old or the new one, never half of one)."""
    from features.atomic_file import replaced_file, write_text_atomic

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with replaced_file(quarantine_path(data_dir, CAMPAIGNS)) as tmp:
        quarantined.to_parquet(tmp, index=False)
    with replaced_file(campaigns_path(data_dir)) as tmp:
        accepted.to_parquet(tmp, index=False)
    manifest_file = data_dir / MANIFEST
    # a new data set (Hillstrom's) is in UTC; an existing one keeps the zone it records
    manifest: dict = (
        json.loads(manifest_file.read_text()) if manifest_file.exists() else {BUSINESS_ZONE: "UTC"}
    )
    manifest.setdefault("tables", {})[CAMPAIGNS] = asdict(report)
    write_text_atomic(manifest_file, json.dumps(manifest, indent=2, default=str))
