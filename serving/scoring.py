"""Assemble what the CRM receives per customer from features and model outputs (a pure function).

Every rule is row-wise with thresholds from the config, so scoring one customer alone gives the
same row as scoring them in a batch. Prospects (never bought) have no churn score: the caller
passes ``churn_probability`` NaN for them; they get stage ``prospect``, priority 0, tier P4,
the first-purchase action and, as reasons, when they signed up and their last interaction.

Precision: the score frame (and the Parquet scores file, the service and the CRM write-back,
which re-rank and re-format it) keeps churn_probability, predicted_value and priority_score at
full precision, so rankings do not tie on rounding. What a person reads is rounded:
``people_rows`` (the CSV: probabilities to 3 decimals, money to cents), ``summarise`` (money to
cents) and the reasons (days whole, money to cents). ``recommended_action`` is a code for
automations; ``recommended_action_label`` says it in plain words, in the language of the scoring
config's ``language``, else of ``LIFECYCLE_LANG``, else English (``serving/labels``).
``predicted_value_low``/``predicted_value_high`` bound the actual value over the value horizon
with the pair's nominal coverage (80% by default; split-conformal, ``training.clv_intervals``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from features.contact_flags import row_flags
from serving.channels import action_bars, barred_channels, channel_of, reachable_actions
from serving.columns import float_columns
from serving.config import (
    DO_NOT_CONTACT_ACTION,
    NO_OPEN_CHANNEL_ACTION,
    STAGES,
    TIERS,
    ScoringConfig,
    StageRules,
    scoring_set_over,
)
from serving.labels import labels_path, load_labels
from serving.notices import ends_in, notice_terms
from serving.reasons import (
    basket_reason,
    channel_reason,
    do_not_contact_reason,
    ended_reason,
    fallback_reason,
    notice_reason,
    pause_reason,
    prospect_reasons,
    reasons_from_contributions,
    visiting_reason,
)
from serving.stages import (
    STAGE_COLUMNS,
    assign_stages,
    check_columns,
    fit_default_gap_days,
    gave_notice,
    has_ended,
    lapsed_visitors,
    on_seasonal_pause,
    shrinking_basket,
)
from serving.value import (
    VALUE_SEGMENTS,
    churn_within_value_horizon,
    fit_priority_tiers,
    fit_value_matrix,
    priority_scores,
    priority_tiers,
    value_segments,
)
from training.priority import TIER_SHARES, value_if_retained

if TYPE_CHECKING:
    from serving.uplift_scoring import UpliftEffects

ArrayLike: TypeAlias = Sequence[float] | np.ndarray | pd.Series

#: Environment variable choosing the language of the action labels when the config has none.
LANGUAGE_ENV = "LIFECYCLE_LANG"
#: Decimals of the numbers a person reads (``people_rows``): probabilities 3, money to cents.
PEOPLE_DECIMALS: dict[str, int] = {
    "churn_probability": 3,
    "predicted_value": 2,
    "predicted_value_low": 2,
    "predicted_value_high": 2,
    "value_at_risk": 2,
    "priority_score": 2,
    "expected_saved_value": 2,
}

#: Key of ``DataFrame.attrs`` naming the project whose champion pair scored the frame (kept in
#: the Parquet file's metadata by ``to_parquet``; ``lifecycle export`` checks it).
PROJECT_ATTR = "lifecycle_project"
#: Key of ``DataFrame.attrs`` naming the contract directory (absolute) the scores were computed
#: from: ``lifecycle export --customers-from`` reads which export file each customer came from.
DATA_ATTR = "lifecycle_data"
#: The same record in a score directory written by Spark (which keeps no pandas metadata): a JSON
#: file ``{"project": ...}`` that Parquet readers skip (leading underscore).
PROJECT_MARKER = "_lifecycle_project.json"

#: Columns of a score frame, in order.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of",
    "stage",
    "churn_probability",
    "predicted_value",
    "predicted_value_low",
    "predicted_value_high",
    "value_segment",
    "value_at_risk",
    "priority_score",
    "priority_tier",
    "recommended_action",
    "recommended_action_label",
    "reasons",
    "churn_model_version",
    "clv_model_version",
    "expected_saved_value",
    "saved_value_by_action",
    "uplift_model_version",
)

#: Feature columns ``score_frame`` reads (contributions may name any others).
SCORING_COLUMNS: tuple[str, ...] = ("customer_id", *STAGE_COLUMNS, "revenue_365d")


def _aligned(values: ArrayLike, n: int, name: str) -> np.ndarray:
    """Model outputs as floats, aligned by position with the feature rows."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} feature rows")
    return array


def _check_probabilities(p: np.ndarray, customer_id: pd.Series) -> None:
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if bad.any():
        examples = dict(zip(customer_id[bad][:5], p[bad][:5], strict=True))
        raise ValueError(f"churn_probability must be in [0, 1] or NaN, got {examples}")


def label_language(config: ScoringConfig) -> str:
    """The language of ``recommended_action_label``: the config's, else ``LIFECYCLE_LANG``, else
    en."""
    if config.language is not None:
        return config.language
    from training.config import ConfigError  # a user error: one `error:` line, exit code 2

    given = os.environ.get(LANGUAGE_ENV, "").strip() or "en"
    language = _language_tag(given)
    if not labels_path(language).exists():
        raise ConfigError(
            f"{LANGUAGE_ENV}={given!r}: no labels file {labels_path(language)} (languages: en, zh)"
        )
    return language


#: Region and script variants read as the shipped language (a locale such as zh_CN.UTF-8 as
#: LANG spells it); Traditional Chinese (zh-TW, zh-HK, zh-Hant) is not Simplified: no fallback.
_LANGUAGE_VARIANTS = {"zh-cn": "zh", "zh-sg": "zh", "zh-hans": "zh", "zh-hans-cn": "zh"}


def _language_tag(given: str) -> str:
    """``LIFECYCLE_LANG`` as a labels language: ``zh``, ``zh-CN``, ``zh_CN.UTF-8`` and
    ``zh-Hans`` are ``zh``; ``en_US`` is ``en``; anything else as given."""
    if labels_path(given).exists():
        return given
    tag = given.split(".", 1)[0].split("@", 1)[0].replace("_", "-").lower()
    if tag in _LANGUAGE_VARIANTS:
        return _LANGUAGE_VARIANTS[tag]
    if tag.startswith("en-") or tag == "en":
        return "en"
    return given


def _said_of(
    rows: pd.DataFrame, where: np.ndarray, say: Callable[[dict[str, Any]], list[str]]
) -> dict[int, list[str]]:
    """``say`` of each row where ``where`` holds, by position: only those rows are made dicts
    (a batch of a million rows with a few prospects converts the few)."""
    at = np.flatnonzero(where)
    return dict(zip(at.tolist(), map(say, rows.iloc[at].to_dict("records")), strict=True))


def _churn_at_risk(rows: pd.DataFrame, p: np.ndarray, config: ScoringConfig) -> np.ndarray:
    """The churn probability value at risk takes: over the value horizon, unless the config
    keeps the churn model's own (``priority.value_horizon_churn``: pairs stored before it)."""
    return churn_within_value_horizon(rows, p) if config.priority.value_horizon_churn else p


def seasonal_terms(
    rows: pd.DataFrame,
    paused: np.ndarray,
    p_at_risk: np.ndarray,
    value: np.ndarray,
    retained: np.ndarray,
    value_horizon_days: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The churn over the value horizon and value if retained of buyers on a seasonal pause
    (``serving.stages.seasonal_pause``). The churn model's risk over its horizon is the season's
    (a beach bar in January buys nothing for 90 days, p 0.998, and value if retained blew up to
    ten times a season's); what is at risk is what they bought over the last value horizon (the
    year's revenue, pro rata) that the value model does not expect again: the value if retained
    is that revenue, and P(leaving) = 1 - predicted value / it, within [0, 1]."""
    days = 365.0 if value_horizon_days is None else float(value_horizon_days)
    revenue = np.nan_to_num(float_columns(rows, ["revenue_365d"])["revenue_365d"])
    expected = np.clip(revenue * min(days, 365.0) / 365.0, 0.0, None)
    share = np.divide(np.nan_to_num(value), expected, out=np.ones(len(rows)), where=expected > 0)
    return (
        np.where(paused, np.clip(1.0 - share, 0.0, 1.0), p_at_risk),
        np.where(paused, expected, retained),
    )


def score_columns(
    features: pd.DataFrame,
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    contributions: pd.DataFrame | None,
    config: ScoringConfig,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    churn_model_version: str,
    clv_model_version: str,
    *,
    retained_value: ArrayLike | None = None,
    uplift: UpliftEffects | None = None,
    value_range: tuple[ArrayLike, ArrayLike] | None = None,
    value_horizon_days: float | None = None,
) -> dict[str, Any]:
    """The score columns (``SCORE_COLUMNS``, in order) of the feature rows: arrays or lists with
    one value per row, or one value for every row (``as_of``, the model versions). The rules
    live here; ``score_frame`` and ``score_records`` only present the columns.

    Model outputs and ``contributions`` (churn model, ``pred_contrib`` columns) are aligned with
    ``features`` by position; ``contributions=None`` gives empty reasons. ``retained_value``
    optionally replaces the derived value-if-retained (see ``serving.value.priority_scores``).
    ``value_range`` (low, high) is the conformal range of ``predicted_value``
    (``training.clv_intervals``); without it ``predicted_value_low``/``_high`` are NaN.
    ``uplift`` (the uplift champion's effects, aligned by position) makes priority, tier and
    action of every buyer follow the value an action saves net of its cost
    (``serving.uplift_scoring``); without it those follow today's rules and the uplift columns
    are null. ``value_horizon_days`` (the CLV model's) cuts the predicted value of a customer
    under notice at the end (``serving.notices``). A customer the CRM says not to contact (the
    row's ``do_not_contact``, ``features.contact_flags``) keeps every score and the tier, with
    action ``do_not_contact`` and a first reason saying so.
    """
    check_columns(features, SCORING_COLUMNS, "score_frame")
    rows = features  # everything below is by position: the index is not read
    n = len(rows)
    p = _aligned(churn_probability, n, "churn_probability")
    value = _aligned(predicted_value, n, "predicted_value")
    _check_probabilities(p, rows["customer_id"])
    retained = None if retained_value is None else _aligned(retained_value, n, "retained_value")
    low, high = (
        (np.full(n, np.nan), np.full(n, np.nan))
        if value_range is None
        else (
            _aligned(value_range[0], n, "predicted_value_low"),
            _aligned(value_range[1], n, "predicted_value_high"),
        )
    )
    x = float_columns(rows, ["is_prospect", "revenue_365d"])
    prospect = np.nan_to_num(x["is_prospect"]) == 1
    gone = has_ended(rows)  # by the customers table: nothing expected
    ended = ~prospect & gone  # known churn
    lost = prospect & gone  # a trial that ended unpaid: still a prospect, no churn score
    if gone.any():
        p = np.where(ended, ENDED_PROBABILITY, p)
        value, low, high = (np.where(gone, 0.0, a) for a in (value, low, high))
    p_at_risk = _churn_at_risk(rows, p, config)
    days_to_end = np.where(prospect | gone, np.nan, ends_in(rows))
    paused = ~prospect & ~gone & on_seasonal_pause(rows, config.stages)
    if retained is None and (paused.any() or np.isfinite(days_to_end).any()):
        retained = value_if_retained(p_at_risk, value, config.priority.retained_share_floor)
    if np.isfinite(days_to_end).any():  # under notice: what the end takes (serving.notices)
        assert retained is not None
        terms = notice_terms(
            days_to_end,
            p,
            (value, low, high),
            p_at_risk,
            retained,
            ENDED_PROBABILITY,
            (config.stages.churn_horizon_days, value_horizon_days),
        )
        p, (value, low, high) = terms.churn_probability, terms.value
        p_at_risk, retained = terms.churn_at_risk, terms.retained_value

    if paused.any():  # at risk: what they bought in the last year that the model does not expect
        assert retained is not None
        p_at_risk, retained = seasonal_terms(
            rows, paused, p_at_risk, value, retained, value_horizon_days
        )

    stage = assign_stages(rows, p, config.stages).to_numpy()
    score = priority_scores(
        p_at_risk,
        value,
        config.priority,
        is_prospect=prospect,
        retained_value=retained,
    )
    at_risk = score  # stays churn x value when an uplift champion re-ranks by saved value
    tier = priority_tiers(score, config.priority)
    bars = barred_channels(rows)  # opted out of email, not to be called
    reached = reachable_actions(stage, tier, config.actions, bars)
    actions, moved = reached.actions, reached.barred
    language = label_language(config)
    labels = load_labels(language)
    if contributions is None:
        reasons: list[list[str]] = [[] for _ in range(n)]
    else:
        reasons = reasons_from_contributions(
            contributions,
            rows,
            config.reasons.top_k,
            min_contribution=config.reasons.min_contribution,
            language=language,
            probability=p,
            low_risk_below=config.reasons.low_risk_below,
            offset_share=config.reasons.offset_share,
        )
    scored = ~prospect & ~np.isnan(p)
    unexplained = scored & ~np.array([bool(r) for r in reasons], dtype=bool)
    said = _said_of(rows, unexplained, lambda row: [fallback_reason(row, language)])  # recency
    # prospects have no churn drivers: when they signed up and last came by, in words
    said |= _said_of(rows, prospect, lambda row: prospect_reasons(row, language))
    said |= _said_of(rows, ended | lost, lambda row: [ended_reason(row, language)])
    reasons = [said.get(i, r) for i, r in enumerate(reasons)]
    noticed = gave_notice(rows)
    notice = _said_of(rows, ~gone & noticed, lambda row: [notice_reason(row, language)])
    reasons = [[*notice[i], *r] if i in notice else r for i, r in enumerate(reasons)]
    # still ordering, buying less: the first reason, as the stage says declining for it, in
    # place of the model's last driver (the top_k first; an offset "but ..." after them stays)
    less = (stage == "declining") & ~gone & ~noticed
    less &= shrinking_basket(rows, config.stages)
    fewer = _said_of(rows, less, lambda row: [basket_reason(row, language)])
    # a seasonal pause: why a customer this silent is neither declining nor churned, first
    paused &= ~noticed & ~less
    fewer |= _said_of(rows, paused, lambda row: [pause_reason(row, language)])
    # lapsed by their purchases but still coming by: why they are declining, not churned, first
    visiting = (stage == "declining") & ~prospect & ~gone & ~noticed & ~less & ~paused
    visiting &= lapsed_visitors(rows, config.stages)
    fewer |= _said_of(rows, visiting, lambda row: [visiting_reason(row, language)])
    k = config.reasons.top_k
    reasons = [
        [*fewer[i], *(r[: k - 1] + r[k:] if len(r) >= k else r)] if i in fewer else r
        for i, r in enumerate(reasons)
    ]
    saved = np.full(n, np.nan)
    by_action: list[str | None] = [None] * n
    uplift_version: list[str | None] = [None] * n
    if uplift is not None:
        from serving.uplift_scoring import uplift_columns

        on = ~prospect & ~ended
        names = uplift.policy.actions
        decided = uplift_columns(
            uplift, on, language, p, action_bars(names, bars, n, config.actions)
        )
        from_action = [
            a and channel_of(a, config.actions.channels) for a in decided["barred_action"]
        ]
        moved = np.where(on, np.array(from_action, dtype=object), moved)
        score = np.where(on, decided["priority_score"], score)
        tier = np.where(on, decided["priority_tier"], tier).astype(object)
        actions = np.where(on, decided["recommended_action"], actions).astype(object)
        saved = decided["expected_saved_value"]
        by_action, uplift_version = (
            decided["saved_value_by_action"],
            decided["uplift_model_version"],
        )
        reasons = [
            [why, *r] if why else r for why, r in zip(decided["reason"], reasons, strict=True)
        ]
    # the CRM says not to contact them (opted out, deceased, blocked): scores and tier as
    # scored, for reporting; no contact, whatever the stage, tier or uplift champion says
    flagged = row_flags(rows)
    # barred from the channel of their contact: another channel, or none open (first reason)
    for i in np.flatnonzero(pd.notna(moved) & ~flagged):
        closed = actions[i] == NO_OPEN_CHANNEL_ACTION
        reasons[i] = [channel_reason(str(moved[i]), closed, language), *reasons[i]]
    if flagged.any():
        actions = np.where(flagged, DO_NOT_CONTACT_ACTION, actions).astype(object)
        first = do_not_contact_reason(language)
        reasons = [[first, *r] if f else r for f, r in zip(flagged, reasons, strict=True)]

    return {
        "customer_id": rows["customer_id"].astype(str).to_numpy(dtype=object),
        "as_of": pd.Timestamp(as_of),
        "stage": stage,
        "churn_probability": p,
        "predicted_value": value,
        "predicted_value_low": low,
        "predicted_value_high": high,
        "value_segment": value_segments(x["revenue_365d"], value, config.value_matrix),
        "value_at_risk": at_risk,
        "priority_score": score,
        "priority_tier": tier,
        "recommended_action": actions,
        "recommended_action_label": np.array([labels.action(a) for a in actions], dtype=object),
        "reasons": reasons,
        "churn_model_version": str(churn_model_version),
        "clv_model_version": str(clv_model_version),
        "expected_saved_value": saved,
        "saved_value_by_action": by_action,
        "uplift_model_version": uplift_version,
    }


def score_frame(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """One score row per feature row, with exactly the columns ``SCORE_COLUMNS`` (the arguments
    of ``score_columns``)."""
    return scores_as_frame(score_columns(*args, **kwargs))


def scores_as_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """The score columns as a frame: lists (reasons, saved value by action, uplift version) stay
    Python objects, single values are repeated on every row."""
    n = len(columns["customer_id"])
    index = pd.RangeIndex(n)
    return pd.DataFrame(
        {
            name: pd.Series(values, index=index, dtype=object)
            if isinstance(values, list)
            else values
            for name, values in columns.items()
        },
        index=index,
        columns=list(SCORE_COLUMNS),
    )


def score_records(scores: pd.DataFrame | dict[str, Any]) -> list[dict[str, Any]]:
    """Score rows as plain records of the service's ``CustomerScore``: ``as_of`` a date, NaN
    (a prospect's churn probability, a missing range or saved value) as None, reasons as lists,
    ``saved_value_by_action`` JSON text as an object.

    Built column by column from Python lists, from a score frame or straight from
    ``score_columns``: for the one-row batches of online scoring this is several times cheaper
    than building a frame and calling ``DataFrame.to_dict``, which pays pandas' per-column costs.
    """
    n = len(scores["customer_id"])

    def as_list(values: Any) -> list:
        if isinstance(values, (pd.Series, np.ndarray)):
            return values.tolist()
        return values if isinstance(values, list) else [values] * n

    def nan_as_none(values: list) -> list:
        return [None if isinstance(v, float) and math.isnan(v) else v for v in values]

    converters = {
        "as_of": lambda values: [t.date() for t in values],
        "churn_probability": nan_as_none,
        "expected_saved_value": nan_as_none,
        "predicted_value_low": nan_as_none,
        "predicted_value_high": nan_as_none,
        "reasons": lambda values: [list(r) for r in values],
        "saved_value_by_action": lambda values: [
            json.loads(text) if isinstance(text, str) else None for text in values
        ],
    }
    names = list(scores.columns) if isinstance(scores, pd.DataFrame) else list(scores)
    columns = [converters.get(name, list)(as_list(scores[name])) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def people_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores as a person reads them (the CSV): probabilities to 3 decimals, money to cents,
    reasons joined with `` | ``. A probability strictly between 0 and 1 never reads as 0 or 1
    (0.9996 reads 0.999, not 1.0)."""
    out = scores.copy()
    for column, decimals in PEOPLE_DECIMALS.items():
        if column in out.columns:
            out[column] = out[column].astype(float).round(decimals) + 0.0  # + 0.0: no "-0.0"
    if "churn_probability" in out.columns:
        p, step = (
            scores["churn_probability"].astype(float),
            10.0 ** -PEOPLE_DECIMALS["churn_probability"],
        )
        inside = (p > 0) & (p < 1)
        out.loc[inside, "churn_probability"] = out.loc[inside, "churn_probability"].clip(
            step, 1 - step
        )
    if "reasons" in out.columns:
        out["reasons"] = out["reasons"].map(lambda r: " | ".join(r) if r is not None else "")
    if "saved_value_by_action" in out.columns:  # money to cents inside the JSON text too
        out["saved_value_by_action"] = out["saved_value_by_action"].map(
            lambda text: (
                json.dumps({a: round(v, 2) + 0.0 for a, v in json.loads(text).items()})
                if isinstance(text, str)
                else text
            )
        )
    return out


#: The churn probability of a buyer who has ended (``features.endings``): known, not a model's
#: (the models' probabilities stay below 1, ``training.models.PROBABILITY_BOUNDS``).
ENDED_PROBABILITY = 1.0


def scored_by_model(scores: pd.DataFrame) -> np.ndarray:
    """The score rows whose churn probability a model gave: buyers who have not ended and
    whose notice does not end within the churn horizon (``serving.notices``)."""
    p = pd.to_numeric(scores["churn_probability"], errors="coerce")
    return (p.notna() & (p != ENDED_PROBABILITY)).to_numpy()


def churn_probability_summary(p: ArrayLike) -> dict[str, object]:
    """How churn probabilities spread: the most shared value (a spike) and the customers at the
    calibration bounds (clipped), over the customers with a score."""
    values = np.asarray(p, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {"scored": 0}
    unique, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    from training.models import PROBABILITY_BOUNDS  # the calibration's clip bounds (lazy: LightGBM)

    low, high = PROBABILITY_BOUNDS
    return {
        "scored": len(values),
        "distinct": len(unique),
        "most_shared_value": round(float(unique[top]), 6),
        "most_shared_customers": int(counts[top]),
        "most_shared_share": round(float(counts[top]) / len(values), 4),
        "clip_bounds": [low, high],
        "at_lower_bound": int((values <= low).sum()),
        "at_upper_bound": int((values >= high).sum()),
    }


def summarise(scores: pd.DataFrame) -> dict[str, object]:
    """Counts per stage, tier and value segment, value at risk per tier (to cents) and the spread
    of churn probabilities (``churn_probability_summary``), as plain JSON types."""
    check_columns(
        scores, ("stage", "priority_tier", "value_segment", "priority_score"), "summarise"
    )
    # value at risk is priority_score unless an uplift champion ranks by saved value (and in
    # score files written before value_at_risk was a column)
    risk = "value_at_risk" if "value_at_risk" in scores.columns else "priority_score"
    at_risk = scores.groupby("priority_tier")[risk].sum()
    summary: dict[str, object] = {
        "customers": len(scores),
        "customers_per_stage": {s: int((scores["stage"] == s).sum()) for s in STAGES},
        "customers_per_tier": {t: int((scores["priority_tier"] == t).sum()) for t in TIERS},
        "value_at_risk_per_tier": {t: round(float(at_risk.get(t, 0.0)), 2) for t in TIERS},
        "value_at_risk": round(float(scores[risk].sum()), 2),
        "customers_per_value_segment": {
            v: int((scores["value_segment"] == v).sum()) for v in VALUE_SEGMENTS.values()
        },
    }
    if "churn_probability" in scores.columns:
        p = pd.to_numeric(scores["churn_probability"], errors="coerce")
        known = (p == ENDED_PROBABILITY).to_numpy()
        ended = known & (scores["stage"] == "churned").to_numpy()
        if ended.any():
            summary["customers_ended"] = int(ended.sum())
        if (known & ~ended).any():  # an end within the churn horizon, still ahead
            summary["customers_under_notice"] = int((known & ~ended).sum())
        summary["churn_probability"] = churn_probability_summary(p[~known])
    if "recommended_action" in scores.columns:
        barred = int((scores["recommended_action"] == DO_NOT_CONTACT_ACTION).sum())
        if barred:  # the CRM says not to contact them: their value at risk is counted above
            summary["customers_not_to_contact"] = barred
        closed = int((scores["recommended_action"] == NO_OPEN_CHANNEL_ACTION).sum())
        if closed:  # opted out of their tier's channels (serving.channels)
            summary["customers_without_open_channel"] = closed
    if "uplift_model_version" in scores.columns and scores["uplift_model_version"].notna().any():
        decided = scores[scores["uplift_model_version"].notna()]
        summary["uplift"] = {  # priority_score is the net saved value of these customers
            "uplift_model_version": str(decided["uplift_model_version"].iloc[0]),
            "customers": len(decided),
            "customers_per_action": {
                str(a): int(n)
                for a, n in decided["recommended_action"].value_counts().sort_index().items()
            },
            "expected_saved_value": round(float(decided["expected_saved_value"].sum()), 2),
            "net_saved_value": round(float(decided["priority_score"].sum()), 2),
        }
    return summary


def calibrate_config(
    config: ScoringConfig,
    features: pd.DataFrame,
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    *,
    value_quantiles: tuple[float, float] = (0.5, 0.8),
    tier_shares: tuple[float, float, float] = TIER_SHARES,
) -> ScoringConfig:
    """A copy of ``config`` with the data-dependent numbers fitted on a reference batch of buyers.

    Fits the usual gap of one-purchase customers (``fit_default_gap_days``), the value-matrix
    boundaries (quantiles of revenue_365d and predicted_value) and the tier thresholds (shares of
    value at risk). The rule thresholds (ratios, probabilities, days) are kept. Store the result;
    score with it.
    """
    check_columns(features, SCORING_COLUMNS, "calibrate_config")
    rows = features.reset_index(drop=True)
    p = _aligned(churn_probability, len(rows), "churn_probability")
    value = _aligned(predicted_value, len(rows), "predicted_value")
    buyers = pd.to_numeric(rows["is_prospect"], errors="coerce").fillna(0).to_numpy() != 1
    score = priority_scores(
        _churn_at_risk(rows[buyers], p[buyers], config), value[buyers], config.priority
    )
    gap = fit_default_gap_days(rows[buyers], config.stages)
    return ScoringConfig(
        stages=StageRules(**{**config.stages.model_dump(), "default_gap_days": gap}),
        value_matrix=fit_value_matrix(
            rows.loc[buyers, "revenue_365d"], value[buyers], value_quantiles
        ),
        priority=fit_priority_tiers(
            score, tier_shares, config.priority.retained_share_floor
        ).model_copy(update={"value_horizon_churn": config.priority.value_horizon_churn}),
        actions=config.actions,
        reasons=config.reasons,
        hold=config.hold,
        language=config.language,
    )


def range_groups(
    features: pd.DataFrame, churn_probability: ArrayLike, predicted_value: ArrayLike
) -> dict[str, np.ndarray]:
    """Stage and value segment per row, with the thresholds fitted on this batch's forecasts
    (``calibrate_config``; no outcomes), for reporting range coverage per group (a backtest)."""
    check_columns(features, SCORING_COLUMNS, "range_groups")
    rows = features.reset_index(drop=True)
    config = calibrate_config(ScoringConfig(), rows, churn_probability, predicted_value)
    p = _aligned(churn_probability, len(rows), "churn_probability")
    value = _aligned(predicted_value, len(rows), "predicted_value")
    return {
        "stage": assign_stages(rows, p, config.stages).to_numpy(dtype=object),
        "value_segment": value_segments(rows["revenue_365d"], value, config.value_matrix),
    }


def fit_scoring_thresholds(
    features: pd.DataFrame,
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    churn_horizon_days: float | None = None,
    overrides: dict | None = None,
) -> dict:
    """The scoring config of a new model pair as plain JSON: the defaults with the data-dependent
    thresholds fitted on its reference batch (``calibrate_config``) and the churn model's
    horizon. Training stores it with the pair (``training.train.train(scoring_thresholds=...)``),
    so batch and online scoring agree. ``overrides`` (the experiment config's ``scoring:``) are
    set over the defaults before fitting, so the fit follows its rules, and over the fitted
    config after, so a number it names (``stages.default_gap_days``, ``priority.p1``) is kept
    as given rather than fitted."""
    where = "the experiment config's scoring"
    start = scoring_set_over(ScoringConfig(), overrides, where) if overrides else ScoringConfig()
    config = calibrate_config(start, features, churn_probability, predicted_value)
    if overrides:
        config = scoring_set_over(config, overrides, f"{where}, set over the fitted thresholds")
    if churn_horizon_days is not None:  # the model's own, whatever the overrides say
        stages = config.stages.model_dump()
        config = config.model_copy(
            update={"stages": StageRules(**{**stages, "churn_horizon_days": churn_horizon_days})}
        )
    return config.model_dump(mode="json")
