"""Retention priority by the value an action saves, from a project's uplift champion (issue 16).

With a registered ``<project>.uplift`` champion (``lifecycle uplift --project P``), every buyer
gets, for each campaign action with a value model, the *expected saved value*: the estimated
change in revenue over the campaign window that contacting them with that action causes
(``uplift_value_<action>``; negative for customers a contact puts off). The decision is a pure
rule (:func:`decide`):

- net value of an action = saved value - cost per contact (``policy.json`` of the version);
- only *trusted* actions can be recommended: those whose value model ranked the effect better
  than random on the training run's held-out customers (``trusted_actions`` in ``policy.json``,
  set by the evidence gate of ``training.uplift_registry``; a version without the key trusts
  every action). An untrusted action counts as not paying; its saved value is still reported;
- ``recommended_action`` = the trusted action with the greatest net value, or ``none`` when no
  trusted action's net value is positive (ties: the first action in alphabetical order);
- ``expected_saved_value`` = the recommended action's saved value (0 for ``none``);
- ``priority_score`` = its net value (0 for ``none``); ``priority_tier`` from the thresholds
  stored with the version (shares of the training customers' positive net values);
- ``saved_value_by_action``: every action's saved value as JSON text ``{"call": 12.5, ...}``:
  one column whose type does not depend on the project's actions, so score files, the Spark
  schema, the CSV export and the service keep one fixed schema (the service returns it as an
  object);
- the first reason says why in words (``serving.reasons.uplift_reason``);
- a customer the CRM bars from an action's channel (``serving.channels``) gets the best action
  of an open channel that pays, else ``no_open_channel``.

Prospects (no purchase yet) keep today's rules: the uplift models learnt from customers who had
bought before the campaign. Without an uplift champion nothing here runs and the score columns
it fills are null; the same when the champion trusts no action (forced past the gate).
``serving.scoring.score_frame`` applies the rule, so batch scoring, the
service and Spark scoring share it; this module also loads the champion and predicts.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.config import NO_OPEN_CHANNEL_ACTION

logger = logging.getLogger(__name__)

#: ``recommended_action`` when no action pays for itself.
NO_ACTION = "none"
#: Score columns this module fills (null without an uplift champion).
UPLIFT_COLUMNS = ("expected_saved_value", "saved_value_by_action", "uplift_model_version")


@dataclass(frozen=True)
class UpliftPolicy:
    """What a registered uplift version says about its actions (``policy.json``)."""

    version: str
    actions: tuple[str, ...]  # actions with a value model, sorted
    costs: Mapping[str, float]
    horizon_days: int
    tiers: Mapping[str, float]  # p1_from, p2_from, p3_from on the net saved value
    features: dict | None = None  # feature configuration the models read (None: campaign features)
    trusted: tuple[str, ...] | None = None  # actions that may be recommended (None: all)

    def cost_array(self) -> np.ndarray:
        return np.array([float(self.costs.get(a, 0.0)) for a in self.actions])

    def trusted_mask(self) -> np.ndarray:
        """True per action (in ``actions`` order) that may be recommended."""
        return np.array(
            [self.trusted is None or a in self.trusted for a in self.actions], dtype=bool
        )


@dataclass(frozen=True)
class UpliftEffects:
    """Estimated effects per customer, aligned by position with the scored feature rows."""

    saved_value: np.ndarray  # (customers, actions): change in expected value over the window
    retained: (
        np.ndarray | None
    )  # (customers, actions): change in P(purchase in the window), NaN if no model
    policy: UpliftPolicy


@dataclass(frozen=True)
class Decisions:
    """The rule's output per customer (see the module docstring)."""

    recommended_action: np.ndarray  # object: an action or NO_ACTION
    expected_saved_value: np.ndarray
    priority_score: np.ndarray
    best: np.ndarray  # index of the action with the greatest net value (paying or not)


def decide(
    saved_value: np.ndarray,
    costs: np.ndarray,
    actions: tuple[str, ...],
    trusted: np.ndarray | None = None,
    barred: np.ndarray | None = None,
) -> Decisions:
    """The trusted action with the greatest saved value net of cost, or ``none`` when nothing
    pays (``trusted``: a mask per action, default all; ``barred``: rows x actions, True where the
    CRM bars the row from the action's channel, ``serving.channels``)."""
    saved = np.asarray(saved_value, dtype=float)
    if saved.ndim != 2 or saved.shape[1] != len(actions) or len(costs) != len(actions):
        raise ValueError(
            f"saved_value has shape {saved.shape} for {len(actions)} actions and {len(costs)} costs"
        )
    trusted = np.ones(len(actions), bool) if trusted is None else np.asarray(trusted, bool)
    if trusted.shape != (len(actions),):
        raise ValueError(f"trusted mask has shape {trusted.shape} for {len(actions)} actions")
    if not trusted.any():
        raise ValueError("no (trusted) action to decide between")
    net = np.nan_to_num(saved, nan=-np.inf) - np.asarray(costs, float)
    net[:, ~trusted] = -np.inf  # an untrusted action never pays and is never the best
    if barred is not None:
        net[np.asarray(barred, bool)] = -np.inf
    best = np.argmax(net, axis=1)  # first on a tie
    rows = np.arange(len(saved))
    pays = net[rows, best] > 0
    names = np.asarray(actions, dtype=object)
    return Decisions(
        recommended_action=np.where(pays, names[best], NO_ACTION).astype(object),
        expected_saved_value=np.where(pays, saved[rows, best], 0.0),
        priority_score=np.where(pays, net[rows, best], 0.0),
        best=best,
    )


def net_value_tiers(priority: np.ndarray, tiers: Mapping[str, float]) -> np.ndarray:
    """P1 from ``p1_from``, P2 from ``p2_from``, P3 from ``p3_from`` (and above 0), else P4."""
    s = np.asarray(priority, float)
    paying = s > 0
    conditions = [
        paying & (s >= tiers["p1_from"]),
        paying & (s >= tiers["p2_from"]),
        paying & (s >= tiers["p3_from"]),
    ]
    return np.select(conditions, ["P1", "P2", "P3"], default="P4").astype(object)


def saved_value_json(saved_value: np.ndarray, actions: tuple[str, ...]) -> list[str]:
    """Per customer ``{"action": saved value, ...}`` as JSON text (full precision, actions
    sorted)."""
    return [
        json.dumps(dict(zip(actions, (float(v) for v in row), strict=True)), allow_nan=False)
        for row in np.nan_to_num(np.asarray(saved_value, float))
    ]


def uplift_columns(
    effects: UpliftEffects,
    eligible: np.ndarray,
    language: str = "en",
    churn_probability: np.ndarray | None = None,
    barred: np.ndarray | None = None,
) -> dict[str, Any]:
    """The score columns the uplift rule decides, for every row (None/NaN where not ``eligible``):
    ``priority_score``, ``priority_tier``, ``recommended_action``, ``expected_saved_value``,
    ``saved_value_by_action``, ``uplift_model_version`` and ``reason`` (one sentence, in
    ``language``). The change in the chance of a purchase a reason states is kept within what
    the customer's ``churn_probability`` leaves (up by at most p, down by at most 1 - p): a
    learner's effect is a difference of noisy fits and reached +82 points for p = 0.05.

    ``barred`` (rows x actions, ``serving.channels.action_bars``) keeps each row to the actions
    of open channels: the best open one that pays, with its numbers; where the best action
    pays but no open one does, ``no_open_channel`` with the best's numbers (for reporting).
    ``barred_action`` names the best action a bar moved the row from (None elsewhere)."""
    from serving.reasons import uplift_reason

    policy = effects.policy
    eligible = np.asarray(eligible, bool)
    n = len(eligible)
    if effects.saved_value.shape[0] != n:
        raise ValueError(
            f"uplift effects have {effects.saved_value.shape[0]} rows for {n} feature rows"
        )
    costs = policy.cost_array()
    trusted = policy.trusted_mask()
    decision = decide(effects.saved_value, costs, policy.actions, trusted, barred)
    moved_from = np.full(n, None, dtype=object)
    if barred is not None:
        free = decide(effects.saved_value, costs, policy.actions, trusted)
        changed = free.recommended_action != decision.recommended_action
        changed &= free.recommended_action != NO_ACTION
        closed = changed & (decision.recommended_action == NO_ACTION)
        decision = Decisions(
            recommended_action=np.where(
                closed, NO_OPEN_CHANNEL_ACTION, decision.recommended_action
            ).astype(object),
            expected_saved_value=np.where(
                closed, free.expected_saved_value, decision.expected_saved_value
            ),
            priority_score=np.where(closed, free.priority_score, decision.priority_score),
            best=np.where(closed, free.best, decision.best),
        )
        moved_from[changed] = free.recommended_action[changed]
    texts = saved_value_json(effects.saved_value, policy.actions)
    reasons: list[str | None] = [None] * n
    for i in np.flatnonzero(eligible):
        b = decision.best[i]
        retained = None if effects.retained is None else float(effects.retained[i, b])
        if retained is not None and churn_probability is not None:
            room = float(churn_probability[i])
            if math.isfinite(room):
                retained = min(max(retained, room - 1.0), room)
        reasons[i] = uplift_reason(
            policy.actions[b],
            float(effects.saved_value[i, b]),
            float(costs[b]),
            policy.horizon_days,
            pays=decision.recommended_action[i] != NO_ACTION,
            retained_change=retained,
            language=language,
        )

    def only(values, empty):
        return np.where(eligible, values, empty)

    return {
        "priority_score": only(decision.priority_score, np.nan),
        "priority_tier": only(net_value_tiers(decision.priority_score, policy.tiers), None),
        "recommended_action": only(decision.recommended_action, None),
        "expected_saved_value": only(decision.expected_saved_value, np.nan),
        "saved_value_by_action": [t if e else None for t, e in zip(texts, eligible, strict=True)],
        "uplift_model_version": [policy.version if e else None for e in eligible],
        "reason": reasons,
        "barred_action": only(moved_from, None),
    }


# --------------------------------------------------------------------------- the champion


class UpliftChampion:
    """A loaded ``<project>.uplift`` champion: its models and policy; ``effects`` predicts."""

    def __init__(self, models, version: str):
        policy = models.policy or {}
        value_actions = sorted(
            spec["action"] for spec in models.index.values() if spec["outcome"] == "value"
        )
        if not value_actions:
            raise ValueError(
                f"uplift champion v{version} has no value model: nothing to decide saved "
                "value with (train `lifecycle uplift` with the value outcome)"
            )
        self.models = models
        self.policy = UpliftPolicy(
            version=str(version),
            actions=tuple(value_actions),
            costs={a: float(c) for a, c in (policy.get("costs") or {}).items()},
            horizon_days=int(policy.get("horizon_days", 90)),
            tiers=policy.get("tiers") or {"p1_from": np.inf, "p2_from": np.inf, "p3_from": np.inf},
            features=policy.get("features"),
            trusted=(
                None
                if "trusted_actions" not in policy  # before the evidence gate: all
                else tuple(a for a in value_actions if a in policy["trusted_actions"])
            ),
        )

    @property
    def columns(self) -> list[str]:
        """Feature columns the uplift models read."""
        return list(
            dict.fromkeys(c for spec in self.models.index.values() for c in spec["columns"])
        )

    def effects(self, features: pd.DataFrame) -> UpliftEffects:
        """Estimated saved value (and retention change) per row and action."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ValueError(
                f"uplift champion v{self.policy.version} reads feature columns {missing} "
                "that the scored features lack"
                + (
                    "; its models read a data set's own campaign_features.parquet (e.g. "
                    "Hillstrom), not the platform's features"
                    if self.policy.features is None
                    else ""
                )
            )
        rows = features.reset_index(drop=True)
        predicted = self.models.predict(rows)
        saved = np.column_stack(
            [predicted[f"uplift_value_{a}"].to_numpy(float) for a in self.policy.actions]
        )
        retained = np.column_stack(  # a change of a probability: within [-1, 1]
            [
                np.clip(predicted[f"uplift_retained_{a}"].to_numpy(float), -1.0, 1.0)
                if f"uplift_retained_{a}" in predicted
                else np.full(len(rows), np.nan)
                for a in self.policy.actions
            ]
        )
        return UpliftEffects(saved, retained, self.policy)


def load_uplift_champion(tracking_uri: str, project: str | None) -> UpliftChampion | None:
    """``models:/<project>.uplift@champion``, or None when the project has no uplift champion
    (no campaign data: today's rules apply)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from training.model_tags import CHAMPION
    from training.uplift_registry import UpliftSet, model_name

    if project is None:
        return None
    client = MlflowClient(tracking_uri=tracking_uri)
    name = model_name(project)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION).version
    except MlflowException:
        return None
    root = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(name, version),
            tracking_uri=tracking_uri,
        )
    )
    champion = UpliftChampion(UpliftSet(next(root.rglob("uplift.json")).parent), str(version))
    if champion.policy.trusted == ():
        logger.warning(
            "uplift champion %s v%s trusts no action (its value models did not rank better than "
            "random on held-out customers): today's rules apply",
            name,
            version,
        )
        return None
    logger.info(
        "uplift champion %s v%s: actions %s", name, version, ", ".join(champion.policy.actions)
    )
    return champion
