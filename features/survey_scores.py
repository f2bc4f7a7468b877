"""A survey tool's score column read as the survey event's ``value`` without a map.

An NPS or CSAT export (Delighted's and Wootric's ``Score``, Typeform's and SurveyMonkey's question
"How likely are you to recommend ...", a CSAT tool's ``Rating`` or ``Satisfaction rating``,
Intercom's ``Conversation rating``) holds one response per row: its score is what
``satisfaction_mean_180d`` averages. Unread, every customer's satisfaction is empty. The column
is read where every row it scores is a survey and every score is a number; the report's line says
the column and the scale, which the features keep as the file gives it (0-10 for NPS, 1-5 for
CSAT): the events of several survey tools on different scales are averaged together, so the
report names the scale of each file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import EVENTS
from features.mapping import FileMapping
from features.source_columns import bare_name
from features.values import ValueMapping

#: Column names (bare) of a survey response's score.
SCORE_NAMES = frozenset(
    {
        *("score", "nps", "npsscore", "netpromoterscore", "surveyscore", "responsescore"),
        *("rating", "csat", "csatscore", "satisfactionrating", "satisfactionscore"),
        *("conversationrating", "ticketrating", "ces", "cesscore", "评分", "满意度评分"),
    }
)
#: A word of an NPS question written as the column's name (Typeform, SurveyMonkey, Google Forms).
RECOMMEND = "recommend"
#: The report's key (``TableReport.formats``) of the score column read.
SURVEY_SCORES = "survey scores"
SURVEY = "survey"


def _score_named(column: str) -> bool:
    name = bare_name(column)
    return name in SCORE_NAMES or RECOMMEND in name


def _survey_rows(inputs: dict[str, pd.Series], mapping: FileMapping) -> np.ndarray:
    """Whether each row's event type reads as a survey (map file's ``values:``, then built-in)."""
    types = inputs["event_type"].astype("string").str.strip()
    lookup = ValueMapping(mapping.values_for(EVENTS, "event_type"), builtin=True)
    kinds = {v: lookup.lookup(str(v))[0] for v in types.dropna().unique()}
    return types.map(kinds, na_action="ignore").eq(SURVEY).fillna(False).to_numpy(dtype=bool)


def survey_scores(
    frame: pd.DataFrame, inputs: dict[str, pd.Series], mapping: FileMapping
) -> tuple[pd.Series | None, str | None]:
    """(the score column to read as ``value``, the report's line) where ``value`` is unmapped and
    one unread column named like a score (:data:`SCORE_NAMES`) holds numbers on survey rows only;
    else (None, a warning naming such a column and the map to give, or None)."""
    if "value" in inputs or mapping.source_for(EVENTS, "value") or "event_type" not in inputs:
        return None, None
    used = {s.name for s in inputs.values()}
    named = [c for c in frame.columns if c not in used and _score_named(str(c))]
    surveys = _survey_rows(inputs, mapping)
    if not named or not surveys.any():
        return None, None
    for column in named:
        text = frame[column].astype("string").str.strip()
        filled = (text.notna() & text.ne("")).fillna(False).to_numpy(dtype=bool)
        scores = pd.to_numeric(text.where(filled), errors="coerce")
        numbers = scores.notna().to_numpy(dtype=bool)
        if filled.any() and (numbers == filled).all() and not (filled & ~surveys).any():
            low, high = float(scores.min()), float(scores.max())
            said = (
                f"{int(filled.sum()):,} scores from {low:g} to {high:g} in {column!r} read as "
                f"the surveys' value ({_scale(high)}), averaged as given in "
                "satisfaction_mean_180d"
            )
            return frame[column], said
    column = named[0]
    return None, (
        f"survey rows whose score may be in {column!r}, which is not read (values that are not "
        "numbers, or scores on rows of other types): satisfaction_mean_180d stays empty; map it "
        f'with --map "events.value={column}" (numbers) if it is'
    )


def _scale(high: float) -> str:
    """The scale the highest score suggests."""
    if high <= 5:
        return "a 1-5 scale, the contract's"
    if high <= 10:
        return "a 0-10 scale (NPS): a file of 1-5 scores beside it would be averaged with these"
    return "a scale above 10"
