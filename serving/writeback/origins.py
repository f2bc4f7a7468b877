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
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import (
    CUSTOMER_FILES,
    CUSTOMERS,
    EXPORT_FILE,
    MANIFEST,
    export_files,
    table_path,
)
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
    """The export files listing each customer (a list, indexed by customer id) and each file's
    ``files:`` section (None: the map file's top level), from an ingested contract directory."""
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
        manifest = json.loads((data_dir / MANIFEST).read_text("utf-8"))
        sections = dict(manifest.get(CUSTOMER_FILES) or {})
    except (OSError, ValueError):
        sections = {}
    listed = export_files(frame[EXPORT_FILE])  # NA: no file recorded
    files = pd.Series(listed.to_numpy(), index=frame["customer_id"].astype(str).to_numpy())
    return files, sections


def matches(pattern: str, file: str) -> bool:
    """Whether ``pattern`` names ``file`` (an absolute path): its name, its whole path, or its
    last folders and name (``hubspot/*.csv``), as a pattern, in any letter case."""
    path = Path(file)
    tails = ["/".join(path.parts[-k:]) for k in range(1, len(path.parts) + 1)]
    return names_file(pattern, path) or any(names_file(pattern, Path(t)) for t in tails)


def _pattern_for(file: str, among: Collection[str]) -> str:
    """The shortest tail of ``file`` (its name, else its last folders and name) that
    :func:`matches` none of the other files ``among``: two CRMs' ``contacts.csv`` are told apart
    by their folders."""
    parts = Path(file).parts
    others = [f for f in among if f != file]
    for k in range(1, len(parts) + 1):
        tail = "/".join(parts[-k:]).replace("//", "/")
        if not any(matches(tail, f) for f in others):
            return tail
    return file


def _counts(files: pd.Series, among: Collection[str] = ()) -> str:
    """Customers per file (a customer listed in two files counts in both), by file name, or by
    path where two of these files or of ``among`` share a name."""
    counts = files.explode().dropna().value_counts()
    names = [Path(str(f)).name for f in {*counts.index, *among}]
    return ", ".join(
        f"{name if names.count(name) == 1 else file}: {n:,}"
        for name, file, n in zip(
            [Path(str(f)).name for f in counts.index], counts.index, counts.to_numpy(), strict=True
        )
    )


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
    of_scores = files.reindex(ids.to_numpy())
    known = of_scores.dropna()
    every = sorted({f for listed in known for f in listed})
    matched = {p: {f for f in every if matches(p, f)} for p in patterns}
    if unmatched := [p for p, found in matched.items() if not found]:
        raise MappingError(
            f"--customers-from {unmatched[0]!r}: matches none of the export files the scored "
            f"customers came from ({_counts(known)}; in {data_dir})"
        )
    chosen = set().union(*matched.values())
    keep = np.array(
        [isinstance(listed, list) and not chosen.isdisjoint(listed) for listed in of_scores]
    )
    kept = scores.loc[keep]
    said = (
        f"--customers-from: {int(keep.sum()):,} of {len(scores):,} scored customers, from "
        f"{_counts(of_scores[keep].map(lambda listed: [f for f in listed if f in chosen]), every)}"
    )
    if missing := int(of_scores.isna().sum()):
        said += f"; {missing:,} scored customers have no export file in {data_dir} (left out)"
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
    of_scores = files.reindex(scores["customer_id"].astype(str).to_numpy()).dropna()
    used = {f for listed in of_scores for f in listed}
    if len({sections.get(f) for f in used}) < 2:
        return None
    first = _pattern_for(str(of_scores.explode().value_counts().index[0]), used)
    return (
        f"warning: the scored customers come from exports of different tools "
        f"({_counts(of_scores)}); all are written for {crm}, where an import that creates "
        f"records would add the others as new ones. --customers-from {first!r} keeps one "
        "file's customers"
    )
