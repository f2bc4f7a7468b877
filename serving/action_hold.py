"""Keep last scoring's contact tier when the priority only grazes a tier line (hysteresis).

Tiers cut a continuous priority at fixed lines, so a customer whose priority wobbles around a
line from one week to the next gets a call task one week and an email the next with nothing
real behind it. Batch scoring therefore reads the previous scoring of the same model pair from
the score history (``serving.score_history``) and keeps that scoring's tier, and so its action,
when all of these hold for the customer:

- the previous scoring is of the same churn and CLV model versions and at most
  ``hold.within_days`` days before this one (another model's tiers are another ranking);
- the stage is the same (a stage change always changes the action at once);
- the new tier is next to the kept one (a jump over a whole tier is never held);
- the priority crossed the line between them by less than the margin: moving up past line ``b``
  needs ``priority >= b x (1 + hold.margin)``, moving down needs ``priority < b / (1 + margin)``;
- no new complaint: ``complaint_30d`` is not above the previous scoring's;
- the tier was decided by the rules (an uplift champion's action is not held), the
  customer is a buyer, and the CRM does not say not to contact them (their action stays
  ``do_not_contact``: a kept tier would put a contact back; a customer barred from one channel
  is held, and the kept tier's contact moves off it as scoring's does).

``priority_score`` stays the new one; ``priority_tier``, ``recommended_action`` and its label are
the kept ones, and the reasons start with one sentence saying so. A pure function of the two
scorings and the config: the same inputs give the same rows. With no history, no earlier date,
another model version or ``hold.margin: 0`` nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import CONTACT_FLAGS
from features.endings import ENDS_IN_DAYS
from serving.config import DO_NOT_CONTACT_ACTION, NO_OPEN_CHANNEL_ACTION, TIERS, ScoringConfig

#: Feature whose increase since the previous scoring is a new complaint (never held over).
COMPLAINT_COLUMN = "complaint_30d"


@dataclass(frozen=True)
class Previous:
    """The previous scoring kept in the history: its date, scores and feature snapshot."""

    as_of: date
    scores: pd.DataFrame
    features: pd.DataFrame


def previous_scoring(
    history_root: str | Path, project: str, as_of: date, within_days: int
) -> Previous | None:
    """The latest scoring of ``project`` that went out (``score_history.mark_sent``: not a
    monitor's own scoring of a mid-week date) strictly before ``as_of`` and at most
    ``within_days`` before it; None when there is none."""
    from serving.score_history import read_partition, sent_dates

    earlier = [d for d in sent_dates(history_root, project) if d < as_of]
    if not earlier or (as_of - earlier[-1]).days > within_days:
        return None
    scores, features = read_partition(
        history_root, project, earlier[-1], ["customer_id", COMPLAINT_COLUMN]
    )
    return Previous(earlier[-1], scores, features)


def _tier_line(low_tier: int, config: ScoringConfig) -> float:
    """The priority from which tier index ``low_tier`` (0 = P1) starts: P1 p1_from, ..."""
    p = config.priority
    return (p.p1_from, p.p2_from, p.p3_from)[low_tier]


def hold_mask(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    previous: Previous | None,
    config: ScoringConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which rows keep the previous tier: (held, kept tier, tier line, the priority past which
    the tier would change) per row of ``scores`` (``features`` aligned with ``scores`` by
    ``customer_id``)."""
    n = len(scores)
    held = np.zeros(n, dtype=bool)
    kept = scores["priority_tier"].to_numpy(dtype=object).copy()
    line, limit = np.full(n, np.nan), np.full(n, np.nan)
    margin = config.hold.margin
    if previous is None or margin <= 0 or n == 0:
        return held, kept, line, limit
    before = previous.scores
    if not _same_versions(before, scores):
        return held, kept, line, limit  # another model pair: its tiers are another ranking
    ids = scores["customer_id"].astype(str)
    prev = before.assign(customer_id=before["customer_id"].astype(str)).set_index("customer_id")
    prev = prev[~prev.index.duplicated()].reindex(ids)
    prev_tier = prev["priority_tier"].to_numpy(dtype=object)
    new_tier = scores["priority_tier"].to_numpy(dtype=object)
    order = {t: i for i, t in enumerate(TIERS)}
    a = np.array([order.get(t, -9) for t in prev_tier])
    b = np.array([order.get(t, -9) for t in new_tier])
    candidate = (
        (prev["stage"].to_numpy(dtype=object) == scores["stage"].to_numpy(dtype=object))
        & (scores["stage"].to_numpy(dtype=object) != "prospect")
        & (a >= 0)
        & (b >= 0)
        & (np.abs(a - b) == 1)
    )
    if "uplift_model_version" in scores.columns:
        candidate &= scores["uplift_model_version"].isna().to_numpy()
    # no contact because the CRM says so: never held (no_open_channel, only the new tier's
    # channels barred, is held: the kept tier's contact moves as scoring's)
    candidate &= scores["recommended_action"].to_numpy(dtype=object) != DO_NOT_CONTACT_ACTION
    complaints_now = _feature(features, ids, COMPLAINT_COLUMN)
    complaints_before = _feature(previous.features, ids, COMPLAINT_COLUMN)
    candidate &= ~(complaints_now > complaints_before)
    candidate &= ~np.isfinite(_feature(features, ids, ENDS_IN_DAYS, missing=np.nan))  # a notice
    score = pd.to_numeric(scores["priority_score"], errors="coerce").to_numpy(float)
    if config.hold.once:  # the previous scoring's own priority already on the new side: changes
        from serving.value import priority_tiers

        before_score = pd.to_numeric(prev["priority_score"], errors="coerce").to_numpy(float)
        candidate &= priority_tiers(before_score, config.priority) != new_tier
    for i in np.flatnonzero(candidate):
        upper = min(a[i], b[i])  # the higher tier of the two (P1 = 0): its line separates them
        boundary = _tier_line(upper, config)
        up = b[i] < a[i]
        if up and not config.hold.escalations:
            continue  # a customer turning more urgent gets the more urgent contact at once
        band = boundary * (1 + margin) if up else boundary / (1 + margin)
        if score[i] < band if up else score[i] >= band:
            held[i], kept[i], line[i], limit[i] = True, prev_tier[i], boundary, band
    return held, kept, line, limit


def _feature(
    features: pd.DataFrame, ids: pd.Series, column: str, missing: float = 0.0
) -> np.ndarray:
    """``column`` of ``features`` per id (``missing`` where absent: no events table, a new
    customer, no notice)."""
    if column not in features.columns:
        return np.full(len(ids), missing)
    series = _per_id(features, ids, column)
    return pd.to_numeric(series, errors="coerce").fillna(missing).to_numpy(float)


def _flag(features: pd.DataFrame, ids: pd.Series, field: str) -> np.ndarray:
    """The contact flag ``field`` of each id (False where absent or missing), read as scoring
    reads it (``features.contact_flags``)."""
    from features.contact_flags import as_flags

    if field not in features.columns:
        return np.zeros(len(ids), dtype=bool)
    return as_flags(_per_id(features, ids, field))


def _per_id(features: pd.DataFrame, ids: pd.Series, column: str) -> pd.Series:
    """``column`` of ``features`` (its first row per customer) in the order of ``ids``."""
    values = features.assign(customer_id=features["customer_id"].astype(str)).drop_duplicates(
        "customer_id"
    )
    return values.set_index("customer_id")[column].reindex(ids)


def hold_tiers(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    previous: Previous | None,
    config: ScoringConfig,
) -> tuple[pd.DataFrame, int]:
    """``scores`` with the tier, action, label and a first reason of the held rows replaced
    (``hold_mask``); and how many were held."""
    held, kept, line, limit = hold_mask(scores, features, previous, config)
    if not held.any():
        return scores, 0
    from serving.channels import CHANNEL_WORDS, reachable_actions
    from serving.labels import load_labels
    from serving.reasons import channel_reason, hold_reason
    from serving.scoring import label_language

    language = label_language(config)
    labels = load_labels(language)
    out = scores.copy()
    rows = np.flatnonzero(held)
    stage = out["stage"].to_numpy(dtype=object)
    actions = out["recommended_action"].to_numpy(dtype=object).copy()
    action_labels = out["recommended_action_label"].to_numpy(dtype=object).copy()
    reasons = list(out["reasons"])
    tiers = out["priority_tier"].to_numpy(dtype=object).copy()
    score = out["priority_score"].to_numpy(dtype=float)
    assert previous is not None  # held rows need a previous scoring
    ids = out["customer_id"].astype(str).iloc[rows]
    bars = {  # the channels the CRM bars them from: the kept tier's contact moves as scoring's
        channel: _flag(features, ids, field)
        for field, channel in CONTACT_FLAGS.items()
        if channel is not None and field in features.columns
    }
    reached = reachable_actions(stage[rows], kept[rows], config.actions, bars)
    channel_said = {channel_reason(c, x, language) for c in CHANNEL_WORDS for x in (True, False)}
    for j, i in enumerate(rows):
        tiers[i] = kept[i]
        actions[i] = reached.actions[j]
        action_labels[i] = labels.action(actions[i])
        why = hold_reason(
            kept[i],
            previous.as_of,
            score[i],
            line[i],
            limit[i],
            limit[i] > line[i],  # held below a band above the line: the priority rose past it
            language,
            config.hold.once,
        )
        said = [r for r in reasons[i] if r not in channel_said]  # the new tier's contact's
        if reached.barred[j] is not None:  # the kept tier's channel is barred: why the contact
            closed = actions[i] == NO_OPEN_CHANNEL_ACTION
            said = [channel_reason(reached.barred[j], closed, language), *said]
        reasons[i] = [why, *said]
    out["priority_tier"] = tiers
    out["recommended_action"] = actions
    out["recommended_action_label"] = action_labels
    out["reasons"] = pd.Series(reasons, index=out.index, dtype=object)
    return out, int(held.sum())


def held_scores(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    config: ScoringConfig,
    history_root: str | Path | None,
    project: str | None,
    as_of: date,
) -> tuple[pd.DataFrame, str]:
    """``hold_tiers`` against the previous scoring in ``history_root`` (none without a history);
    and one line saying what was done, for the log."""
    if history_root is None or project is None or config.hold.margin <= 0:
        return scores, "tier hold: off"
    from serving.score_history import ScoreHistoryError

    try:
        previous = previous_scoring(history_root, project, as_of, config.hold.within_days)
    except ScoreHistoryError as exc:  # scoring goes on; the history's own error says what to do
        return scores, f"warning: tier hold off, the score history cannot be read: {exc}"
    if previous is None:
        from serving.score_history import dates

        if not [d for d in dates(history_root, project) if d < as_of]:  # a first scoring
            return scores, f"tier hold: no earlier scoring of {project}: every tier as scored"
        return scores, (
            f"tier hold: no scoring of {project} marked sent in the {config.hold.within_days} "
            f"days before {as_of} in {history_root} (a date scored only by monitor, or by a "
            "release before 2026-12-05, is not): every tier as scored"
        )
    out, n = hold_tiers(scores, features, previous, config)
    if n == 0 and not _same_versions(previous.scores, scores):
        return out, other_versions_line(previous.as_of)
    return out, held_line(n, previous.as_of, config)


def held_line(n: int, previous: date, config: ScoringConfig) -> str:
    """The log line of a hold that compared with the scoring of ``previous``."""
    return (
        f"tier hold: {n:,} customers keep their tier of {previous} (priority within "
        f"{config.hold.margin:.0%} of a tier line, "
        f"{'either way' if config.hold.escalations else 'towards a less urgent tier'}, same "
        "stage, no new complaint)"
    )


def other_versions_line(previous: date) -> str:
    """The log line when the previous scoring is of another model pair (nothing held)."""
    return f"tier hold: the scoring of {previous} is of another model version: every tier as scored"


def _same_versions(before: pd.DataFrame, now: pd.DataFrame) -> bool:
    """Whether both scorings are of one churn and one CLV model version, the same."""
    return all(
        c in before.columns
        and set(map(str, pd.unique(before[c].to_numpy(dtype=object))))
        == set(map(str, pd.unique(now[c].to_numpy(dtype=object))))
        for c in ("churn_model_version", "clv_model_version")
        if c in now.columns
    )
