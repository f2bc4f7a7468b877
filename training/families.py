"""Which feature families a contract directory can feed.

A model records the families whose source data it was trained on; scoring data that lacks one
(no ``events.parquet`` for an engagement model, no ``region`` column for a model that uses it)
is refused unless the caller accepts imputation (``lifecycle score --allow-missing``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from features.contract import CUSTOMERS, EVENTS, table_path
from features.definitions import STATIC_COLUMNS

#: What each family is computed from; families not listed come from transactions alone.
IMPUTED_AS = {
    "engagement": "no recorded activity (event counts 0; days since the last event, satisfaction "
                  "and trends missing)",
    "static": "missing (LightGBM's missing-value branch)",
}


def missing_sources(data_dir: str | Path, families: Iterable[str],
                    columns: Iterable[str] = ()) -> dict[str, str]:
    """Family -> what is missing in ``data_dir`` for it, for the ``families`` asked about.
    ``columns`` are the model's input columns (the static attributes it uses must exist)."""
    families, columns = set(families), set(columns)
    missing = {}
    if "engagement" in families:
        events = table_path(data_dir, EVENTS)
        if not events.exists():
            missing["engagement"] = f"no {events.name}"
        elif pq.read_metadata(events).num_rows == 0:
            missing["engagement"] = f"{events.name} has 0 rows"
    if "static" in families:
        customers = table_path(data_dir, CUSTOMERS)
        used = [c for c in STATIC_COLUMNS if c in columns]
        present = set(pq.read_schema(customers).names) if customers.exists() else set()
        table = pq.read_table(customers, columns=[c for c in used if c in present]) if present else None
        absent = [c for c in used if c not in present or table[c].null_count == table.num_rows]
        if absent:
            missing["static"] = f"{customers.name} has no {', '.join(absent)} values"
    return missing


def fed_families(data_dir: str | Path, families: Iterable[str], columns: Iterable[str] = ()) -> list[str]:
    """The ``families`` whose source data ``data_dir`` holds (what a model trained on it needs)."""
    families = list(families)
    missing = missing_sources(data_dir, families, columns)
    return [f for f in families if f not in missing]
