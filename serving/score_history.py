"""Dated score history: each scoring run's scores and features, kept by ``as_of``.

Layout (Hive-style partitions, readable by DuckDB/Spark/pyarrow as one data set)::

    <root>/<project>/as_of=YYYY-MM-DD/scores.parquet     what the CRM received
    <root>/<project>/as_of=YYYY-MM-DD/features.parquet   the feature snapshot they came from

A partition is written into a hidden sibling directory and swapped into place
(``features.atomic_dir``), so a reader sees the previous complete partition or the new one, never
a part (a re-run of the same date replaces it).
Once a date's horizon has passed, ``lifecycle monitor`` joins its scores with the outcomes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic_dir import replaced_directory

#: Score columns kept (reasons and action labels are for people, not for monitoring).
KEPT_COLUMNS = (
    "customer_id",
    "stage",
    "churn_probability",
    "predicted_value",
    "value_segment",
    "priority_score",
    "priority_tier",
    "churn_model_version",
    "clv_model_version",
)
#: The files of a partition: what the CRM received, and the feature snapshot it came from.
FILES = ("scores.parquet", "features.parquet")
#: A partition's mark that its scores went out (the scores file export and the service read was
#: written from them); monitor's own scoring of a date is not marked. The tier hold compares with
#: the last marked scoring only: what the CRM holds.
SENT = "sent"


def partition(root: str | Path, project: str, as_of: date) -> Path:
    return Path(root) / project / f"as_of={as_of.isoformat()}"


class ScoreHistoryError(OSError):
    """A partition that cannot be written; names it and the cause (the previous one is kept)."""


def write_partition(
    root: str | Path, project: str, as_of: date, scores: pd.DataFrame, features: pd.DataFrame
) -> Path:
    """Write one date's scores and features atomically (``features.atomic_dir``); return the
    partition directory. A date already sent stays marked (a monitor rescoring it after the data
    were corrected): the CRM holds that date's tiers, and the tier hold must not fall back to an
    older scoring it has since replaced."""
    target = partition(root, project, as_of)
    sent = (target / SENT).exists()
    with replaced_directory(
        target, {*FILES, SENT}, writer="history", label="score history", error=ScoreHistoryError
    ) as staging:
        scores[[c for c in KEPT_COLUMNS if c in scores.columns]].to_parquet(
            staging / FILES[0], index=False
        )
        features.to_parquet(staging / FILES[1], index=False)
        if sent:
            (staging / SENT).touch()
    return target


def mark_sent(root: str | Path, project: str, as_of: date) -> str | None:
    """Mark a written partition as sent, once the scores file made from it is in place (a run
    killed between the two leaves the date unmarked: the CRM never got it). A mark that cannot be
    written (no inode left, the partition replaced meanwhile) is a warning, returned: the scores
    are in place, only the next tier hold compares with an older date."""
    try:
        (partition(root, project, as_of) / SENT).touch()
    except OSError as exc:
        return (
            f"warning: the scores are written, but {partition(root, project, as_of)} could not be "
            f"marked sent ({exc.strerror or exc}): the next scoring's tier hold compares with an "
            "older date"
        )
    return None


def sent_dates(root: str | Path, project: str) -> list[date]:
    """The dates of :func:`dates` whose scores went out (:func:`mark_sent`), oldest first."""
    return [d for d in dates(root, project) if (partition(root, project, d) / SENT).exists()]


def prune(root: str | Path, project: str, before: date) -> list[date]:
    """Remove ``project``'s partitions dated before ``before``; return their dates. Each is
    renamed out of the history first (one atomic step), then deleted: a kill leaves a hidden
    folder, never a partition half gone."""
    import secrets
    import shutil

    removed = []
    for day in dates(root, project):
        if day >= before:
            break
        target = partition(root, project, day)
        trash = target.with_name(f".pruned-{target.name}-{secrets.token_hex(4)}")
        target.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        removed.append(day)
    return removed


def dates(root: str | Path, project: str) -> list[date]:
    """The scoring dates kept for ``project`` (complete partitions only), oldest first."""
    base = Path(root) / project
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        if child.name.startswith("as_of=") and (child / "scores.parquet").exists():
            try:
                found.append(date.fromisoformat(child.name.removeprefix("as_of=")))
            except ValueError:
                raise ScoreHistoryError(
                    f"score history {child}: not a partition this tool wrote (as_of=YYYY-MM-DD); "
                    "move it out of the history"
                ) from None
    return sorted(found)


def read_partition(
    root: str | Path, project: str, as_of: date, feature_columns: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and features of one date (``feature_columns``: only those of them that exist),
    their ids as ingest stores them now (a date kept before UUIDs were lower-cased still finds its
    customers); FileNotFoundError naming the partition when absent."""
    where = partition(root, project, as_of)
    if not (where / "scores.parquet").exists():
        raise FileNotFoundError(
            f"no score history for project {project!r} as of {as_of} ({where}); "
            f"run `lifecycle score --as-of {as_of} --project {project} --history {root} --out "
            "<a scratch file>` first (its default --out is the scores file the CRM reads)"
        )
    try:
        return (
            _plain_ids(pd.read_parquet(where / "scores.parquet")),
            _plain_ids(_read_features(where / "features.parquet", feature_columns)),
        )
    except (OSError, pa.ArrowException) as exc:
        raise ScoreHistoryError(
            f"score history {where}: not readable ({exc}); remove it and score that date again "
            f"(`lifecycle score --as-of {as_of} --project {project} --history {root} --out "
            "<a scratch file>`)"
        ) from exc


def _plain_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its customer ids as ingest stores them (``features.customer_ids``)."""
    if "customer_id" not in frame.columns:
        return frame
    from features.customer_ids import normalise_ids

    ids = frame["customer_id"].astype("string")
    return frame.assign(customer_id=normalise_ids(ids).astype(frame["customer_id"].dtype))


def _read_features(path: Path, columns: list[str] | None) -> pd.DataFrame:
    if columns is None:
        return pd.read_parquet(path)
    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in columns if c in present])
