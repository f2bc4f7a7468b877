"""A survey tool's score column read as the survey event's ``value``, on the contract's scale.

An NPS or CSAT export (Delighted's and Wootric's ``Score``, Typeform's and SurveyMonkey's question
"How likely are you to recommend ...", a CSAT tool's ``Rating`` or ``Satisfaction rating``,
Intercom's ``Conversation rating``, Zendesk's ``good``/``bad``) holds one response per row: its
score is what ``satisfaction_mean_180d`` averages. Unread, every customer's satisfaction is empty.
The column is read where every row it scores is a survey and every score is a number or a rating
word (:data:`features.values.RATING_WORDS`; ``offered``/``unoffered`` is no score).

Files of several tools score on different scales (NPS 0-10, CSAT 1-5, a percentage): averaged as
given, a customer answering only the CSAT looked less satisfied than one answering the NPS. Each
file's scores are put on the contract's 1-5 (:data:`features.values.CONTRACT_SCALE`) by the
file's scale: the map file's ``survey_scale``, else the column's (or the survey type's) name (NPS
0-10, CSAT 1-5), else the scores' range. Scores outside the file's scale are quarantined, never
clipped; the report's line says the scale, how it was told and the conversion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import EVENTS
from features.ingest_tables import TableReport, Validator
from features.mapping import FileMapping
from features.source_columns import bare_name
from features.values import (
    CONTRACT_SCALE,
    NO_RATING,
    RATING_WORDS,
    SURVEY_SCALES,
    ValueMapping,
    fold,
)

#: Column names (bare) of an NPS score: a 0-10 scale.
NPS_NAMES = frozenset({"nps", "npsscore", "netpromoterscore", "npsrating"})
#: Column names (bare) of a CSAT rating: a 1-5 scale (Intercom's and Zendesk's conversation
#: and ticket ratings are 1-5).
CSAT_NAMES = frozenset(
    {"csat", "csatscore", "csatrating", "satisfactionrating", "conversationrating", "ticketrating"}
)
#: Column names (bare) of a help desk's rating of a conversation or ticket (Zendesk's
#: ``Satisfaction Score``: good, bad, offered, unoffered).
RATING_NAMES = CSAT_NAMES | {"satisfaction", "satisfactionscore"}
#: Column names (bare) of a Customer Effort Score: 1-7 (CES 2.0) or 1-5, told by the scores.
CES_NAMES = frozenset({"ces", "cesscore", "customereffortscore", "effortscore"})
#: Column names (bare) of a survey response's score.
SCORE_NAMES = frozenset(
    {
        *NPS_NAMES,
        *CSAT_NAMES,
        *("score", "surveyscore", "responsescore", "rating", "satisfactionscore", "satisfaction"),
        *CES_NAMES,
        *("评分", "满意度评分"),
    }
)
#: A word of an NPS question written as the column's name (Typeform, SurveyMonkey, Google Forms).
RECOMMEND = "recommend"
#: The report's key (``TableReport.formats``) of the score column read.
SURVEY_SCORES = "survey scores"
SURVEY = "survey"
#: Why a score outside its file's scale is quarantined (``{}``: the scale).
OUTSIDE_SCALE = "survey score outside the file's {} scale"


def _score_named(column: str) -> bool:
    name = bare_name(column)
    return name in SCORE_NAMES or RECOMMEND in name


def _word(cell: object) -> str:
    """A rating cell as :data:`RATING_WORDS` and :data:`NO_RATING` name it (an emoji as itself)."""
    text = str(cell).strip()
    return fold(text).replace("_", " ") or text


def rating_words(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the score of each rating word, NaN elsewhere; whether a cell is a word of no score:
    ``offered``). A word is read folded, ``good_with_comment`` as ``good with comment``."""
    words = text.map(_word, na_action="ignore").astype("string")
    no_rating = words.isin([_word(w) for w in NO_RATING]).fillna(False)
    return words.map(RATING_WORDS).astype("float64"), no_rating.astype(bool)


def _survey_rows(inputs: dict[str, pd.Series], mapping: FileMapping) -> np.ndarray:
    """Whether each row's event type reads as a survey (map file's ``values:``, then built-in)."""
    types = inputs["event_type"].astype("string").str.strip()
    lookup = ValueMapping(mapping.values_for(EVENTS, "event_type"), builtin=True)
    kinds = {v: lookup.lookup(str(v))[0] for v in types.dropna().unique()}
    return types.map(kinds, na_action="ignore").eq(SURVEY).fillna(False).to_numpy(dtype=bool)


def _as_scores(column: pd.Series, surveys: np.ndarray) -> pd.Series:
    """The column with its survey rows' rating words as scores on the contract's scale and
    their words of no score blank."""
    text = column.astype("string").str.strip()
    scores, no_rating = rating_words(text)
    worded = (scores.notna() & surveys).to_numpy(dtype=bool)
    blank = (no_rating & surveys).to_numpy(dtype=bool)
    if not worded.any() and not blank.any():
        return column
    read = text.mask(worded, scores.map("{:g}".format, na_action="ignore"))
    return read.mask(blank, pd.NA).rename(column.name)


def survey_scores(
    frame: pd.DataFrame, inputs: dict[str, pd.Series], mapping: FileMapping
) -> tuple[pd.Series | None, str | None]:
    """(the score column to read as ``value``, the report's line) where ``value`` is unmapped and
    one unread column named like a score (:data:`SCORE_NAMES`) holds numbers or rating words on
    survey rows only; else (None, a warning naming such a column and the map to give, or None)."""
    if "value" in inputs or mapping.source_for(EVENTS, "value") or "event_type" not in inputs:
        return None, None
    used = {s.name for s in inputs.values()}
    named = [c for c in frame.columns if c not in used and _score_named(str(c))]
    surveys = _survey_rows(inputs, mapping)
    if not named:
        return None, None
    if not surveys.any():
        return None, _ratings_of_other_rows(frame, named)
    for column in named:
        text = frame[column].astype("string").str.strip()
        words, no_rating = rating_words(text)
        filled = (text.notna() & text.ne("") & ~no_rating).fillna(False).to_numpy(dtype=bool)
        scores = pd.to_numeric(text.where(filled), errors="coerce").fillna(words)
        numbers = scores.notna().to_numpy(dtype=bool)
        if filled.any() and (numbers == filled).all() and not (filled & ~surveys).any():
            said = f"{int(filled.sum()):,} scores in {column!r} read as the surveys' value"
            return _as_scores(frame[column], surveys), said
    column = named[0]
    return None, (
        f"survey rows whose score may be in {column!r}, which is not read (values that are not "
        "numbers, or scores on rows of other types): satisfaction_mean_180d stays empty; map it "
        f'with --map "events.value={column}" (numbers) if it is'
    )


def _ratings_of_other_rows(frame: pd.DataFrame, named: list[str]) -> str | None:
    """A warning where a file without survey rows has a rating column with values (Intercom's
    ``Conversation rating`` beside its conversations): its ratings are no survey events."""
    rated = [c for c in named if bare_name(str(c)) in RATING_NAMES]
    if not rated:
        return None
    column = rated[0]
    text = frame[column].astype("string").str.strip().replace("", pd.NA)
    filled = text.notna() & ~rating_words(text)[1]  # Zendesk's 'offered' is no rating
    if not filled.any():
        return None
    return (
        f"{int(filled.sum()):,} rows rated in {column!r} are not surveys: their ratings are "
        "not read into satisfaction_mean_180d (a rating is read as a survey on support_ticket "
        "and complaint rows only: map the rows' type as one, e.g. event_type "
        '"=support_ticket" in the file\'s files: section, unless the map file turns ratings off)'
    )


def survey_values(
    frame: pd.DataFrame, inputs: dict[str, pd.Series], mapping: FileMapping, report: TableReport
) -> None:
    """``inputs``' ``value``: an unmapped score column (:func:`survey_scores`) read, and rating
    words on survey rows read as scores; the report's line or warning."""
    scores, said = survey_scores(frame, inputs, mapping)
    if scores is not None:
        inputs["value"], report.formats[SURVEY_SCORES] = scores, str(said)
    elif said:
        report.warnings.append(said)
    elif "value" in inputs and "event_type" in inputs:
        inputs["value"] = _as_scores(inputs["value"], _survey_rows(inputs, mapping))


def _told_by_name(column: str) -> tuple[str, str] | None:
    """(the scale, how it was told) by the score column's name."""
    name = bare_name(column)
    if name in NPS_NAMES or RECOMMEND in name:
        return "0-10", f"NPS, by the column's name {column!r}"
    if name in CSAT_NAMES:
        return CONTRACT_SCALE, f"CSAT, by the column's name {column!r}"
    return None


#: A survey type's word -> the scale it tells (a CRM's activities typed ``NPS`` or ``CSAT``).
TYPE_SCALES = {"nps": ("0-10", "NPS"), "csat": (CONTRACT_SCALE, "CSAT")}


def _groups(
    column: str, types: pd.Series, numeric: np.ndarray, told: tuple[str, str] | None
) -> list[tuple[str, np.ndarray, tuple[str, str] | None]]:
    """(what the report names, the rows, their scale or None: by their range) of the file's
    scores: one group, or where the column's name tells no scale, one per survey type naming
    NPS or CSAT (a CRM's activities holding both in one ``Score``) and one of the rest."""
    name = repr(column)
    if not numeric.any():  # rating words only
        return []
    if told is not None:
        return [(name, numeric, told)]
    kinds = types.astype("string").fillna("").map(fold).to_numpy(dtype=object)
    groups: list[tuple[str, np.ndarray, tuple[str, str] | None]] = []
    rest = numeric.copy()
    for word, (scale, tool) in TYPE_SCALES.items():
        rows = rest & np.array([word in k for k in kinds], dtype=bool)
        if rows.any():
            groups.append((f"{name} on {tool} surveys", rows, (scale, f"{tool}, by the type")))
            rest &= ~rows
    if rest.any():
        groups.append((f"{name} on other surveys" if groups else name, rest, None))
    return groups


def _told_by_range(low: float, high: float, column: str) -> tuple[str, str] | None:
    """The smallest of 1-5, 0-10 and 0-100 the scores fit (of 1-5 and 1-7 for a CES column:
    :data:`CES_NAMES`), else None."""
    if bare_name(column) in CES_NAMES and low >= 1 and high <= 7:
        scale = CONTRACT_SCALE if high <= 5 else "1-7"
        return (
            scale,
            f"CES, by the column's name {column!r} and the scores' range {low:g} to {high:g}",
        )
    for scale in (CONTRACT_SCALE, "0-10", "0-100"):
        bottom, top = SURVEY_SCALES[scale]
        if low >= bottom and high <= top:
            return scale, f"by the scores' range {low:g} to {high:g}"
    return None


def on_one_to_five(scores: pd.Series, scale: str) -> pd.Series:
    """``scores`` on ``scale`` (:data:`SURVEY_SCALES`) put on the contract's 1-5:
    ``1 + 4 x (score - low) / (high - low)``, a 1-5 scale as given."""
    if scale == CONTRACT_SCALE:
        return scores
    low, high = SURVEY_SCALES[scale]
    return (1.0 + 4.0 * (scores - low) / (high - low)).round(6)


def _conversion(scale: str) -> str:
    low, high = SURVEY_SCALES[scale]
    if scale == CONTRACT_SCALE:
        return "the contract's scale, kept as given"
    shift = f"(score - {low:g})" if low else "score"
    return f"put on the contract's 1-5 as 1 + 4 x {shift} / {high - low:g}"


def on_contract_scale(
    frame: pd.DataFrame,
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    mapping: FileMapping,
    check: Validator,
    report: TableReport,
) -> None:
    """The survey rows' parsed ``value`` put on the contract's 1-5 by the file's scale; scores
    outside it quarantined; the report's line says the scale, how it was told and the
    conversion, and a warning an NPS-named column whose scores are all 5 or less."""
    if "value" not in out or "event_type" not in inputs:
        return
    surveys = _survey_rows(inputs, mapping) & check.ok
    column = str(inputs["value"].name)
    raw = frame[column] if column in frame.columns else inputs["value"]
    worded = rating_words(raw.astype("string").str.strip())[0].notna().to_numpy(dtype=bool)
    scored = surveys & out["value"].notna().to_numpy(dtype=bool)
    if not scored.any():
        return
    declared = (mapping.survey_scale, "declared by the map file") if mapping.survey_scale else None
    lines = []
    for name, rows, told in _groups(
        column, inputs["event_type"], scored & ~worded, declared or _told_by_name(column)
    ):
        line, warning = _on_scale(out, rows, (column, name), told, check)
        lines.append(line)
        report.warnings.extend([warning] if warning and declared is None else [])
    if worded.any():
        lines.append(f"{int((scored & worded).sum()):,} rating words in {column!r} read as 1-5")
    report.formats[SURVEY_SCORES] = "; ".join(lines)


def _on_scale(
    out: pd.DataFrame,
    rows: np.ndarray,
    names: tuple[str, str],
    told: tuple[str, str] | None,
    check: Validator,
) -> tuple[str, str | None]:
    """``out``'s ``value`` on ``rows`` put on the contract's 1-5 by ``told`` (None: by the
    scores' range); those outside the scale quarantined. ``names``: the score column's, and
    what the report calls the rows. (The report's line, a warning.)"""
    column, name = names
    value = out["value"]
    low, high = float(value[rows].min()), float(value[rows].max())
    told = told or _told_by_range(low, high, column)
    n = int(rows.sum())
    head = f"{n:,} scores from {low:g} to {high:g} in {name} read as the surveys' value"
    if told is None:
        return f"{head}: no known scale, kept as given", (
            f"{n:,} survey scores in {name} run from {low:g} to {high:g}, on none of the "
            f"scales {', '.join(SURVEY_SCALES)}: kept as given and averaged with other files' "
            "1-5 scores; declare the file's survey_scale in the map file"
        )
    scale, how = told
    bottom, top = SURVEY_SCALES[scale]
    outside = rows & ((value < bottom) | (value > top)).to_numpy(dtype=bool)
    check.flag(outside, OUTSIDE_SCALE.format(scale))
    inside = rows & ~outside
    if scale != CONTRACT_SCALE:
        out["value"] = value.mask(inside, on_one_to_five(value, scale))
    quarantined = f"; {int(outside.sum()):,} outside it quarantined" if outside.any() else ""
    line = f"{head}: a {scale} scale ({how}), {_conversion(scale)}{quarantined}"
    kept = value[inside]
    if scale != "0-10" or not len(kept) or kept.max() > 5:
        return line, None
    return line, (
        f"all {len(kept):,} scores in {name} are {kept.min():g} to {kept.max():g}, read on a "
        f"0-10 scale ({how}): if they are a 1-5 rating, declare survey_scale: 1-5 for the file "
        "in the map file"
    )
