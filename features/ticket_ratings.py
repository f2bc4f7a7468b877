"""A help desk's satisfaction rating on its tickets or conversations read as survey events.

A tickets or conversations export (Zendesk's ``Satisfaction Score`` good/bad/offered/unoffered,
Intercom's ``Conversation rating`` 1-5, Freshdesk's ``Satisfaction Rating``) holds one row per
ticket: the ticket is a ``support_ticket`` event, and where it was rated the row is also a
satisfaction response, what ``satisfaction_mean_180d`` averages. Each rated accepted ticket row
yields, besides its ticket, one derived ``survey`` event of the same customer with the rating on
the contract's 1-5 (good 5, bad 1 as :data:`features.values.RATING_WORDS` says; numbers 1-5 as
given; ``offered``/``unoffered``/blank: none), dated at the rating's own time where the export
has a column of it (one before the ticket, a placeholder such as 1970-01-01, or in the future
is none), else at the ticket's.

The derived events are no rows read: the file's ``rows read = accepted + quarantined`` counts its
source rows only, and the derived ones are counted apart (``TableReport.derived_events``, the
report's ``ticket ratings`` line). A row the file repeats whole rates its ticket once (the
repeated ticket row is kept, as an events file's repeats are); a ticket another file of the
export rates again (overlapping exports) keeps the latest file's rating only
(:func:`ratings_across_files`). The map file names
the column (``events.ticket_rating=<column>``, ``events.ticket_rated_at=<column>``) or, in a
map file, turns the ratings off (``columns: {events.ticket_rating: ''}``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import EVENTS
from features.dates import DateOrder, parse_dates
from features.ingest_tables import TableReport, Validator
from features.mapping import FileMapping, IngestError
from features.source_columns import bare_name, did_you_mean, find_column
from features.survey_scores import RATING_NAMES, on_one_to_five, rating_words
from features.values import CONTRACT_SCALE, SURVEY_SCALES

#: The map file's inputs: the rating column and the column of its time.
TICKET_RATING = "ticket_rating"
TICKET_RATED_AT = "ticket_rated_at"
#: The report's key (``TableReport.formats``) of the ratings read.
TICKET_RATINGS = "ticket ratings"
#: The event types of the rows whose rating is read: a ticket, or a ticket read as a complaint.
RATED_TYPES = ("support_ticket", "complaint")
#: Column names (bare) of a rating's own time: Zendesk's ``Satisfaction Rated At``, Intercom's
#: ``Conversation rating updated at``/``created at``, Freshdesk's ``Survey Results Date``.
RATED_AT_NAMES = frozenset(
    {
        "satisfactionratedat",
        "satisfactionratingdate",
        "satisfactionratingcreatedat",
        "satisfactionratingupdatedat",
        "satisfactionscoreupdatedat",
        "conversationratingcreatedat",
        "conversationratingupdatedat",
        "conversationratedat",
        "ratedat",
        "ratingdate",
        "ratingcreatedat",
        "ratingupdatedat",
        "surveyresultsdate",
        "surveyrespondedat",
        "csatdate",
        "csatratedat",
    }
)
#: The column of a derived event's ticket time, for :func:`ratings_across_files`; not written.
TICKET_AT = "_ticket_at"


def _named(
    frame: pd.DataFrame, mapping: FileMapping, used: set, key: str, names, path: str
) -> str | None:
    """The column the map file names for ``key`` (``""``: none; a name the file lacks is an
    error), else the one unread column whose bare name is among ``names``."""
    mapped = mapping.source_for(EVENTS, key)
    if mapped is not None and not mapped.strip():
        return None
    if mapped is not None:
        if (found := find_column(frame, mapped)) is None:
            raise IngestError(
                f"{path}: events.{key} is mapped to {mapped!r}, which is not a column of the "
                f"file{did_you_mean(frame, mapped)}; columns in the file: {list(frame.columns)}"
            )
        return found
    named = [c for c in frame.columns if c not in used and bare_name(str(c)) in names]
    return str(named[0]) if len(named) == 1 else None


def _scores(cells: pd.Series, scale: str = CONTRACT_SCALE) -> tuple[pd.Series, np.ndarray]:
    """(each cell's rating on 1-5, NaN where none; whether a filled cell is no rating at all:
    not a rating word, a no-rating word or a number on ``scale``, put on 1-5 as
    :mod:`features.survey_scores` puts a survey's)."""
    text = cells.astype("string").str.strip().replace("", pd.NA)
    words, no_rating = rating_words(text)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    low, high = SURVEY_SCALES[scale]
    numbers = on_one_to_five(numbers.where((numbers >= low) & (numbers <= high)), scale)
    scores = words.fillna(numbers).astype("float64")
    odd = (text.notna() & scores.isna() & ~no_rating).to_numpy(dtype=bool)
    return scores, odd


def ticket_ratings(
    frame: pd.DataFrame,
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    mapping: FileMapping,
    order: DateOrder,
    check: Validator,
    report: TableReport,
    latest: pd.Timestamp | None = None,
) -> pd.DataFrame | None:
    """The derived survey events (``customer_id``, ``occurred_at``, ``event_type``, ``value``
    and :data:`TICKET_AT`) of the accepted ticket rows rated in the file's rating column, with
    the report's line; None where the file has no such column or no rated ticket. Call after
    the event types are mapped and every row is judged."""
    if "event_type" not in out or "occurred_at" not in out:
        return None
    used = {str(s.name) for s in inputs.values()}
    path = report.source_file
    column = _named(frame, mapping, used, TICKET_RATING, RATING_NAMES, path)
    if column is None:
        return None
    tickets = check.ok & out["event_type"].isin(RATED_TYPES).fillna(False).to_numpy(dtype=bool)
    scale = mapping.survey_scale or CONTRACT_SCALE
    scores, odd = _scores(frame[column], scale)
    rated = tickets & scores.notna().to_numpy(dtype=bool)
    rated[np.flatnonzero(rated)[frame[rated].duplicated().to_numpy()]] = False  # a row repeated
    if n_odd := int((tickets & odd).sum()):
        example = frame[column][tickets & odd].iloc[0]
        report.warnings.append(
            f"{n_odd:,} ratings in {column!r} are neither a rating word nor a number {scale} (e.g. "
            f"{str(example)!r}): no survey event is derived from them; their tickets are kept"
        )
    if mapping.source_for(EVENTS, TICKET_RATING) and (aside := _rated_others(out, check, scores)):
        report.warnings.append(
            f"events.ticket_rating is mapped to {column!r}, but {aside}: no survey event is "
            "derived from them; map their event_type to support_ticket to read their ratings"
        )
    if not rated.any():
        return None
    unread = f" rows rated in {column!r} are not surveys"  # survey_scores' warning: read now
    report.warnings[:] = [w for w in report.warnings if unread not in w]
    when = out["occurred_at"]
    dated_at = "the ticket's time"
    timed = _named(frame, mapping, used | {column}, TICKET_RATED_AT, RATED_AT_NAMES, path)
    own = pd.Series(pd.NaT, index=out.index, dtype=when.dtype)
    if timed is not None:
        own, _ = parse_dates(
            frame[timed], order, mapping.date_format, mapping.timezone, mapping.business_zone
        )
        own = own.astype(when.dtype)
        own = own.mask(own < when)  # a placeholder (1970-01-01) or a clock's slip: no rating time
        if latest is not None:
            own = own.mask(own > latest)
        dated_at = f"the rating's time in {timed!r}"
    kept, occurred = rated, own.fillna(when)
    derived = pd.DataFrame(
        {
            "customer_id": out.loc[kept, "customer_id"].to_numpy(),
            "occurred_at": occurred[kept].to_numpy(),
            "event_type": "survey",
            "value": scores[kept].to_numpy(),
            TICKET_AT: when[kept].to_numpy(),
        }
    )
    derived["customer_id"] = derived["customer_id"].astype("string")
    report.derived_events = {"survey": len(derived)}
    untimed = int((own[kept].isna()).sum()) if timed is not None else 0
    worded = bool(rating_words(frame[column].astype("string").str.strip())[0][kept].notna().any())
    unrated = int(tickets.sum()) - len(derived)
    report.formats[TICKET_RATINGS] = (
        f"{len(derived):,} survey events from the ratings in {column!r} of {len(derived):,} "
        f"tickets ({_counts(derived['value'], worded)})"
        + (f", a {scale} scale (declared by the map file)" if mapping.survey_scale else "")
        + f", dated at {dated_at}"
        + (
            f" ({untimed:,} blank, unreadable, before the ticket or in the future: the ticket's)"
            if untimed
            else ""
        )
        + f"; {unrated:,} accepted tickets without a rating; not rows read"
    )
    return derived


def _rated_others(out: pd.DataFrame, check: Validator, scores: pd.Series) -> str | None:
    """ "N rated rows are other types (other: n, ...)" of the accepted rows rated but no ticket."""
    others = check.ok & scores.notna().to_numpy(dtype=bool)
    others &= ~out["event_type"].isin(RATED_TYPES).fillna(False).to_numpy(dtype=bool)
    if not others.any():
        return None
    kinds = out.loc[others, "event_type"].value_counts()
    listed = ", ".join(f"{k}: {n:,}" for k, n in kinds.items())
    return f"its {int(others.sum()):,} rated rows are no {' or '.join(RATED_TYPES)} ({listed})"


def _counts(values: pd.Series, worded: bool) -> str:
    """The ratings' counts by score: "5: 40, 1: 12", or of words "good 5: 40, bad 1: 12"."""
    counts = values.value_counts().sort_index(ascending=False)
    names = {5.0: "good 5", 1.0: "bad 1"} if worded else {}
    return ", ".join(f"{names.get(k, f'{k:g}')}: {int(n):,}" for k, n in counts.items())


def ratings_across_files(parts: list[pd.DataFrame | None]) -> tuple[pd.DataFrame | None, int]:
    """The derived survey events of several files of one table: a ticket (customer and ticket
    time) rated in several files keeps the latest file's rating only (an overlapping export, or
    a rating changed since). (The events, how many earlier ones were dropped.)"""
    frames = [p.assign(_part=i) for i, p in enumerate(parts) if p is not None and len(p)]
    if not frames:
        return None, 0
    every = pd.concat(frames, ignore_index=True)
    last = every.groupby(["customer_id", TICKET_AT], dropna=False)["_part"].transform("max")
    later = (every["_part"] < last).to_numpy(dtype=bool)
    return every.loc[~later].drop(columns="_part").reset_index(drop=True), int(later.sum())
