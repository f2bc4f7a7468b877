"""Which CRM a customer came from: the export file ingest recorded for each customer.

A project fed by two CRMs (Fxiaoke customers beside HubSpot contacts) scores them together; each
CRM's import must get its own customers only, or an import that creates records makes the other
CRM's customers its junk contacts. ``lifecycle export --customers-from PATTERN`` keeps the
customers whose export file matches (a name or a path, as a pattern, in any letter case, as a
map file's ``files:`` section); without it, scores from files read by different ``files:``
sections (different tools) are warned of.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from features.contract import CUSTOMER_FILES, CUSTOMERS, EXPORT_FILE, table_path
from features.mapping import names_file
from serving.scoring import DATA_ATTR
from serving.writeback.fields import MappingError


def scored_data(scores: pd.DataFrame, data: Path | None) -> Path | None:
    """The contract directory of the scores: ``data`` when given, else the one the scoring
    recorded (None for scores written before it was recorded, or by Spark)."""
    if data is not None:
        return data
    recorded = scores.attrs.get(DATA_ATTR)
    return Path(recorded) if recorded else None


def customer_files(data_dir: Path) -> tuple[pd.Series, dict[str, str | None]]:
    """Each customer's export file (indexed by customer id) and each file's ``files:`` section
    (None: the map file's top level), from an ingested contract directory."""
    path = table_path(data_dir, CUSTOMERS)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: cannot read the customers' export files ({exc})") from None
    if EXPORT_FILE not in frame:
        raise MappingError(
            f"{path}: no {EXPORT_FILE!r} column (generated data, or ingested before ingest "
            "recorded each customer's export file): ingest the exports again"
        )
    try:
        manifest = json.loads((data_dir / "manifest.json").read_text("utf-8"))
        sections = dict(manifest.get(CUSTOMER_FILES) or {})
    except (OSError, ValueError):
        sections = {}
    files = frame.set_index(frame["customer_id"].astype(str))[EXPORT_FILE].astype("string")
    return files, sections


def _counts(files: pd.Series) -> str:
    counts = files.value_counts()
    return ", ".join(f"{name}: {n:,}" for name, n in counts.items())


def keep_from(
    scores: pd.DataFrame, patterns: Sequence[str], data_dir: Path | None
) -> tuple[pd.DataFrame, str]:
    """The scores of the customers whose export file matches one of ``patterns``, and a line
    saying how many were kept of how many, from which files."""
    if data_dir is None:
        raise MappingError(
            "--customers-from: these scores do not record the data directory they were "
            "computed from (scored before it was recorded): give --data DIR"
        )
    files, _ = customer_files(data_dir)
    ids = scores["customer_id"].astype(str)
    of_scores = files.reindex(ids)
    known = of_scores.dropna()
    matched = {p: [f for f in known.unique() if names_file(p, Path(f))] for p in patterns}
    if unmatched := [p for p, found in matched.items() if not found]:
        raise MappingError(
            f"--customers-from {unmatched[0]!r}: matches none of the export files the scored "
            f"customers came from ({_counts(known)}; in {data_dir})"
        )
    chosen = {f for found in matched.values() for f in found}
    keep = of_scores.isin(chosen).to_numpy()
    kept = scores.loc[keep]
    said = (
        f"--customers-from: {int(keep.sum()):,} of {len(scores):,} scored customers, from "
        f"{_counts(of_scores[keep])}"
    )
    if missing := int(of_scores.isna().sum()):
        said += f"; {missing:,} scored customers are not in {data_dir} (left out)"
    return kept, said


def mixed_tools_note(scores: pd.DataFrame, data_dir: Path | None, crm: str) -> str | None:
    """A warning when the scored customers come from files of different ``files:`` sections
    (different tools) and all of them go to ``crm``; None otherwise or when unknown."""
    if data_dir is None or not table_path(data_dir, CUSTOMERS).exists():
        return None
    try:
        files, sections = customer_files(data_dir)
    except MappingError:
        return None
    of_scores = files.reindex(scores["customer_id"].astype(str)).dropna()
    used = of_scores.unique()
    if len({sections.get(f) for f in used}) < 2:
        return None
    first = Path(str(of_scores.value_counts().index[0])).name
    return (
        f"warning: the scored customers come from exports of different tools "
        f"({_counts(of_scores)}); all are written for {crm}, where an import that creates "
        f"records would add the others as new ones. --customers-from {first!r} keeps one "
        "file's customers"
    )
