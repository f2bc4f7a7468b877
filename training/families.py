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
from features.engine import ParquetFacts, is_uri

#: What each family is computed from; families not listed come from transactions alone.
IMPUTED_AS = {
    "engagement": "no recorded activity (event counts 0; days since the last event, satisfaction "
    "and trends missing)",
    "static": "missing (LightGBM's missing-value branch)",
}


def missing_sources(
    data_dir: str | Path, families: Iterable[str], columns: Iterable[str] = ()
) -> dict[str, str]:
    """Family -> what is missing in ``data_dir`` for it, for the ``families`` asked about.
    ``columns`` are the model's input columns (the static attributes it uses must exist).
    A URI (``s3a://...``) is read by the Spark engine in force
    (``training.dataset.building_on``)."""
    families, columns = set(families), set(columns)
    missing = {}
    if "engagement" in families:
        name, events = _facts(data_dir, EVENTS)
        if events is None:
            missing["engagement"] = f"no {name}"
        elif events.rows == 0:
            missing["engagement"] = f"{name} has 0 rows"
    if "static" in families:
        used = [c for c in STATIC_COLUMNS if c in columns]
        name, customers = _facts(data_dir, CUSTOMERS, used)
        non_null = customers.non_null if customers is not None else {}
        absent = [c for c in used if not non_null.get(c)]
        if absent:
            missing["static"] = f"{name} has no {', '.join(absent)} values"
    return missing


def _facts(
    data_dir: str | Path, table: str, columns: Iterable[str] = ()
) -> tuple[str, ParquetFacts | None]:
    """A contract table's file name and facts (None when absent): from the Parquet file of a
    local folder, or on the Spark engine in force for a URI."""
    name = f"{table}.parquet"
    if is_uri(data_dir):
        from training.dataset import build_settings

        engine = build_settings().engine
        if engine is None or not engine.is_spark:
            raise ValueError(f"data set {data_dir}: a URI is read with --engine spark only")
        return name, engine.parquet_facts(f"{str(data_dir).rstrip('/')}/{name}", tuple(columns))
    path = table_path(data_dir, table)
    if not path.exists():
        return name, None
    names = pq.read_schema(path).names
    present = [c for c in columns if c in names]
    values = pq.read_table(path, columns=present) if present else None
    non_null = (
        {c: values.num_rows - values[c].null_count for c in present} if values is not None else {}
    )
    return name, ParquetFacts(tuple(names), pq.read_metadata(path).num_rows, non_null)


def fed_families(
    data_dir: str | Path, families: Iterable[str], columns: Iterable[str] = ()
) -> list[str]:
    """The ``families`` whose source data ``data_dir`` holds (what a model trained on it needs)."""
    families = list(families)
    missing = missing_sources(data_dir, families, columns)
    return [f for f in families if f not in missing]
