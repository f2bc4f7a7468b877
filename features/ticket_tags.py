"""Help-desk tickets marked as complaints only by a tag (Zendesk's ``Tags``: ``billing complaint
urgent``; Freshdesk's and Intercom's comma-separated ``Tags``) read as ``complaint``.

A help desk's ``Type`` has no complaint (Zendesk's are question, incident, problem, task), so
teams tag them: unread, every complaint counts as a support ticket and ``complaint_*`` features
stay empty. In a tickets export (every type a ticket or complaint), a ticket with a tag that is
a complaint word (:data:`features.values.SYNONYMS` ``complaint``: ``complaint``,
``customer_complaint``, ``投诉`` ...) is a complaint, counted in the report naming the column.
"""

from __future__ import annotations

import functools
import re

import pandas as pd

from features.source_columns import bare_name
from features.values import SYNONYMS, fold, ticket_types

#: Column names (bare) of a ticket's tags or labels.
TAG_COLUMNS = frozenset(
    {"tags", "tag", "labels", "label", "tickettags", "conversationtags", "标签"}
)
#: The report's key (``TableReport.formats``) of the tickets read as complaints by their tags.
COMPLAINT_TAGS = "complaint tags"
COMPLAINT = "complaint"
#: What separates a cell's tags: Freshdesk's and Intercom's commas (a tag may hold spaces:
#: ``not a complaint``), else Zendesk's spaces (its tags have none).
_LIST_SEPARATORS = re.compile(r"[,;|]+")
_SPACES = re.compile(r"\s+")


@functools.cache
def _complaint_words() -> frozenset[str]:
    return frozenset(fold(w) for w in (COMPLAINT, *SYNONYMS[COMPLAINT]))


def _tagged(cell: str) -> bool:
    split = _LIST_SEPARATORS if _LIST_SEPARATORS.search(cell) else _SPACES
    tags = [fold(t) for t in split.split(cell) if t.strip()]
    return any(tag in _complaint_words() for tag in tags) or fold(cell) in _complaint_words()


def complaint_tags(
    frame: pd.DataFrame, types: pd.Series, used: set, explicit: dict[str, str]
) -> tuple[pd.Series, str | None]:
    """The event types with the tickets tagged as complaints (an unread tags column) typed
    ``complaint``, and the report's line; unchanged and None outside a tickets export."""
    columns = [c for c in frame.columns if c not in used and bare_name(str(c)) in TAG_COLUMNS]
    if len(columns) != 1 or not ticket_types(types, explicit):
        return types, None
    cells = frame[columns[0]].astype("string").fillna("")
    tagged = cells.map(_tagged).astype(bool)
    already = types.astype("string").str.strip().map(fold).isin(_complaint_words())
    moved = tagged & ~already.fillna(False).astype(bool)
    if not moved.any():
        return types, None
    said = (
        f"{int(moved.sum()):,} tickets tagged as complaints in {columns[0]!r} read as complaint "
        f"(a tag such as {COMPLAINT!r}; their type read as a ticket)"
    )
    return types.mask(moved, COMPLAINT), said
