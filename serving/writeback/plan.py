"""What an export sends: read the scores, render the mapping's records, keep what changed.

Rows that cannot be exported are appended to ``<state>/rejected.jsonl`` with the reason and
counted in the summary, never dropped silently.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Collection
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.customer_ids import plain_id
from serving.scoring import DATA_ATTR, PROJECT_ATTR, PROJECT_MARKER
from serving.writeback import delta
from serving.writeback.fields import Mapping, MappingError, Reject, records
from serving.writeback.journal import Journal, explain, json_line, now


@dataclass(frozen=True)
class Selection:
    """The records to send with their fingerprints, and what was left out (``unchanged``: the
    customers neither selected nor sent or dead-lettered earlier in the same export; ``gone``:
    the customers exported to this target before who are not in the scores)."""

    run_id: str
    to_send: list[tuple[dict[str, Any], str]]
    scored: int
    unchanged: int
    rejects: list[Reject]
    gone: list[str]
    #: column -> ids of the customers sent whose value there went empty (``delta.emptied``)
    emptied: dict[str, list[str]] = field(default_factory=dict)


def load_scores(path: str | Path) -> pd.DataFrame:
    """The scores Parquet of ``lifecycle score`` (a clear error when it is missing)."""
    path = Path(path)
    if not path.exists():
        raise MappingError(f"--scores {path}: no such file; run `lifecycle score` first")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise MappingError(f"--scores {path}: not a readable Parquet file ({exc})") from None
    marker = path / PROJECT_MARKER  # a score directory written by Spark
    if path.is_dir() and not (path / "_SUCCESS").exists():
        raise MappingError(
            f"--scores {path}: an incomplete Spark score directory (no _SUCCESS: the scoring "
            "run did not finish); score again"
        )
    if path.is_dir() and marker.is_file():
        try:
            recorded = json.loads(marker.read_text("utf-8"))
            frame.attrs[PROJECT_ATTR] = str(recorded["project"])
            if recorded.get("data"):  # written since the data directory was recorded
                frame.attrs[DATA_ATTR] = str(recorded["data"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MappingError(f"--scores {path}: unreadable {marker.name} ({exc!r})") from None
    return with_value_at_risk(frame)


def with_value_at_risk(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores written before ``value_at_risk`` was a column: it was ``priority_score`` unless an
    uplift champion re-ranked the rows (then it is left absent:
    such a file must be scored again)."""
    if "value_at_risk" in scores or "priority_score" not in scores:
        return scores
    decided = scores.get("uplift_model_version")
    if decided is not None and decided.notna().any():
        return scores
    return scores.assign(value_at_risk=scores["priority_score"])  # attrs (the project) kept


def scores_as_of(scores: pd.DataFrame) -> str | None:
    """The scoring date of a scores table (YYYY-MM-DD; the latest when it holds several)."""
    if "as_of" not in scores or scores["as_of"].isna().all():
        return None
    return str(pd.to_datetime(scores["as_of"]).max().date())


def scores_project(scores: pd.DataFrame) -> str | None:
    """The project whose models scored ``scores`` (None for a file that does not record it:
    written before it was recorded)."""
    project = scores.attrs.get(PROJECT_ATTR)
    return str(project) if project else None


def keys_sent_before(scores: pd.DataFrame, previous: Collection[str]) -> pd.DataFrame:
    """``scores`` with each customer this target was sent before under another form of its id
    (an upper-case UUID or e-mail address, which ingest now stores lower-cased) named as it was
    sent: the CRM's records are keyed by that form, so a new one would make every customer a new
    record and leave the old ones stale. Said once per export."""
    ids = scores["customer_id"].astype("string")
    now = set(ids.dropna())
    before = {
        plain: old
        for old in previous
        if old not in now and (plain := plain_id(old)) != old and plain in now
    }
    if not before:
        return scores
    example = next(iter(before.items()))
    warnings.warn(
        f"{len(before):,} customers are sent under the id this target was sent before (e.g. "
        f"{example[1]!r}), not as ingest now stores it ({example[0]!r}: UUIDs and e-mail "
        "addresses are lower-cased): the CRM's records stay keyed as they were",
        stacklevel=3,
    )
    return scores.assign(customer_id=ids.map(lambda i: before.get(i, i)).astype(object))


def select(
    scores: pd.DataFrame,
    mapping: Mapping,
    journal: Journal,
    *,
    full: bool,
    state: Path,
    spreadsheet: bool = False,
    done: MappingType[str, str] | None = None,
    resend: Collection[str] = (),
    note_gone: bool = True,
) -> Selection:
    """Render and select against what ``journal`` recorded as exported (``spreadsheet``: for an
    import file, ``fields.records``); rejected rows go to ``state/rejected.jsonl``, the customers
    exported before who are not in the scores to the journal. ``done``: customer id -> ``"sent"``
    or ``"dead"`` earlier in this export (a resumed run); a dead-lettered customer waits for the
    next export. ``resend``: customer ids sent whether they changed or not. ``note_gone=False``
    leaves the journal untouched: the caller records ``gone`` itself (with the export's file)."""
    run_id = uuid.uuid4().hex[:16]
    done = done or {}
    previous = journal.fingerprints()
    scores = keys_sent_before(scores, previous)
    gone = sorted(set(previous) - set(scores["customer_id"].dropna().astype(str)))
    if note_gone:
        journal.note_not_in_scores(run_id, gone)
    rendered, rejects = records(scores, mapping, spreadsheet=spreadsheet)
    if resend:
        resend = set(resend)
        previous = {k: v for k, v in previous.items() if k not in resend}
    changed = delta.changed(rendered, mapping, previous, full=full)
    to_send = [(r, fp) for r, fp in changed if done.get(str(r[mapping.key])) != "dead"]
    chosen = {str(r[mapping.key]) for r, _ in changed} | set(done)
    unchanged = sum(1 for r in rendered if str(r[mapping.key]) not in chosen)
    if rejects:
        path = state / "rejected.jsonl"
        try:
            with open(path, "a", encoding="utf-8") as out:
                for r in rejects:
                    line = {
                        "at": now(),
                        "run_id": run_id,
                        "row": r.row,
                        "customer_id": r.customer_id,
                        "reason": r.reason,
                    }
                    out.write(json_line(line))
        except OSError as exc:
            raise explain(path, exc) from None
    emptied: dict[str, list[str]] = {}
    for record, fp in to_send:
        key = str(record[mapping.key])
        for column in delta.emptied(previous.get(key), fp):
            emptied.setdefault(column, []).append(key)
    return Selection(run_id, to_send, len(rendered), unchanged, rejects, gone, emptied)
