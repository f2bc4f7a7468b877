"""The registered uplift models of a project, ``<project>.uplift``, behind a Qini promotion gate.

A version holds, per campaign action and outcome, the registered fitted model (the one selected
by inner cross-validation, ``training.uplift_select``) as plain files: LightGBM model text per
booster and JSON (columns, categories, learner(s) averaged, value scale, constants); no pickles.
``policy.json`` beside them says what scoring needs to turn effects into a decision: the cost per
contact of each action (mean ``cost`` of its treated rows), the campaign window the value effect is
measured over, the feature configuration the models read (None when they read the data set's own
``campaign_features.parquet``, e.g. Hillstrom) and priority-tier thresholds on the net saved value
(quantiles of the training customers' best net value, like ``serving.value.fit_priority_tiers``). It
is an MLflow pyfunc (loader: this module) whose ``predict`` returns one column
``uplift_<outcome>_<action>`` per model. A new version takes the ``champion`` alias only on evidence
(``--force`` overrides, saying FORCED):

- **trusted actions**: at least one action whose model of the outcome scoring decides with
  (``value``; ``retained`` for a version without value models) has a Qini coefficient on this
  run's held-out customers whose bootstrap interval (``GATE_BOOT`` resamples within each arm,
  seed ``GATE_SEED``, 95%) lies above 0, i.e. it ranks the effect better than random. The
  trusted actions are kept in ``policy.json`` (``trusted_actions``, with the intervals under
  ``gate``); scoring recommends only those (``serving.uplift_scoring``);
- **not worse**: its Qini coefficient is not worse, for every action and outcome, than the
  champion's re-scored on the same customers -- decided under the project registry's gate lock
  (``training.registry.gate_lock``), with ``training.registry.is_not_worse``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.campaigns import action_costs, measuring_rows
from training.model_tags import CHAMPION
from training.models import FeatureEncoder
from training.priority import TIER_SHARES
from training.registry import gate_lock, is_not_worse, quiet_model_logging
from training.uplift import member_effect
from training.uplift_metrics import bootstrap, design_weights, qini_coefficient

if TYPE_CHECKING:
    from training.uplift import UpliftModel

SUFFIX = ".uplift"


def model_name(project: str) -> str:
    """The registered model holding ``project``'s uplift models."""
    return f"{project}{SUFFIX}"


def _key(action: str, outcome: str) -> str:
    return f"uplift_{outcome}_{action}"


POLICY_FILE = "policy.json"


def save_models(
    models: dict[tuple[str, str], UpliftModel], path: Path, policy: dict | None = None
) -> Path:
    """Write ``{(action, outcome): UpliftModel}`` as LightGBM text + JSON into ``path`` (and the
    scoring ``policy`` as ``policy.json`` when given)."""
    path.mkdir(parents=True, exist_ok=True)
    if policy is not None:
        (path / POLICY_FILE).write_text(json.dumps(policy, indent=1))
    index = {}
    for (action, outcome), model in sorted(models.items()):
        key = _key(action, outcome)

        def saved(part, name: str, key: str = key) -> dict:
            if part.constant_ is not None:
                return {"constant": part.constant_}
            file = f"{key}.{name}.txt"
            part.model_.booster_.save_model(str(path / file))
            digest = hashlib.sha256((path / file).read_text().encode()).hexdigest()
            return {"booster": file, "binary": part.binary, "sha256": digest}

        members = {
            learner: {
                attr: saved(part, f"{learner}.{attr.rstrip('_')}") for attr, part in parts.items()
            }
            for learner, parts in model.members_.items()
        }
        index[key] = {
            "action": action,
            "outcome": outcome,
            "learner": model.config.learner,
            "transform": model.config.transform,
            "columns": model.columns,
            "categories": model.encoder_.categories_,
            "share": model.share_,
            "clip": model.config.propensity_clip,
            "members": members,
            "scale": None if model.scale_ is None else saved(model.scale_, "scale"),
        }
    (path / "uplift.json").write_text(json.dumps(index, indent=1))
    return path


class UpliftSet:
    """Loaded uplift models: ``predict(frame)`` -> one ``uplift_<outcome>_<action>`` column each."""

    def __init__(self, path: str | Path):
        from training.bundle import BundleError, read_booster, read_json

        path = Path(path)
        self.index = read_json(path / "uplift.json")
        policy_file = path / POLICY_FILE
        self.policy: dict | None = read_json(policy_file) if policy_file.exists() else None
        self.boosters = {}
        for spec in self.index.values():
            # versions written before ensembles and two-part values: one learner's "parts"
            spec.setdefault("members", {spec["learner"]: spec.get("parts", {})})
            spec.setdefault("scale", None)
            parts = [p for member in spec["members"].values() for p in member.values()]
            for part in [*parts, spec["scale"]]:
                if part is not None and "booster" in part:
                    file = path / part["booster"]
                    text = read_booster(file, part.get("sha256"))  # a damaged one aborts LightGBM
                    try:
                        self.boosters[part["booster"]] = lgb.Booster(model_str=text)
                    except lgb.basic.LightGBMError as exc:
                        raise BundleError(f"{file}: not a LightGBM model ({exc})") from exc

    def _part(self, part: dict | None, x: pd.DataFrame) -> np.ndarray | None:
        if part is None:
            return None
        if "constant" in part:
            return np.full(len(x), part["constant"])
        return np.asarray(self.boosters[part["booster"]].predict(x))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for key, spec in self.index.items():
            encoder = FeatureEncoder(spec["columns"])
            encoder.categories_ = spec["categories"]
            x = encoder.transform(frame)
            effects = [
                member_effect(
                    learner,
                    lambda name, parts=parts, x=x: self._part(parts.get(name), x),
                    spec["share"],
                    spec["clip"],
                )
                for learner, parts in spec["members"].items()
            ]
            effect = np.mean(effects, axis=0)
            scale = self._part(spec["scale"], x)
            if scale is not None:
                effect = effect * np.clip(scale, 0, None)
            out[key] = effect
        return pd.DataFrame(out, index=frame.index)


class _Pyfunc:
    def __init__(self, models: UpliftSet):
        self.models = models

    def predict(self, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.models.predict(model_input)


def _load_pyfunc(data_path: str) -> _Pyfunc:
    """MLflow pyfunc loader entry point."""
    return _Pyfunc(UpliftSet(data_path))


def held_out_qini(models: UpliftSet, frame: pd.DataFrame) -> dict[str, float]:
    """Qini coefficient of each model on the held-out rows of its action and the controls."""
    test = frame[frame["held_out"]]
    scores = models.predict(test)
    out = {}
    for key, spec in models.index.items():
        rows = measuring_rows(test, spec["action"])
        treated = (test.loc[rows, "arm"] == "treated").to_numpy()
        out[f"qini_{key}"] = qini_coefficient(
            test.loc[rows, spec["outcome"]],
            treated,
            scores.loc[rows, key],
            design_weights(test.loc[rows, "campaign_id"].to_numpy(), treated),
        )
    return out


#: Evidence gate: bootstrap resamples, seed and level of the held-out Qini intervals.
GATE_BOOT, GATE_SEED, GATE_LEVEL = 200, 0, 0.95


def held_out_qini_intervals(
    models: UpliftSet, frame: pd.DataFrame, *, n_boot: int = GATE_BOOT, seed: int = GATE_SEED
) -> dict[str, tuple[float, float, float]]:
    """``{uplift_<outcome>_<action>: (qini, low, high)}`` on the held-out rows of each action and
    the controls: percentile bootstrap resampled within each arm (``uplift_metrics.bootstrap``),
    campaigns of different holdout shares weighted to one design (``design_weights``)."""
    test = frame[frame["held_out"]]
    scores = models.predict(test)
    out = {}
    for key, spec in models.index.items():
        rows = measuring_rows(test, spec["action"])
        y = test.loc[rows, spec["outcome"]].to_numpy(float)
        treated = (test.loc[rows, "arm"] == "treated").to_numpy()
        score = scores.loc[rows, key].to_numpy(float)
        w = design_weights(test.loc[rows, "campaign_id"].to_numpy(), treated)

        def qini(idx, y=y, treated=treated, score=score, w=w):
            return {"qini": qini_coefficient(y[idx], treated[idx], score[idx], w[idx])}

        boot = bootstrap(qini, treated, n_boot=n_boot, seed=seed, level=GATE_LEVEL)
        out[key] = boot["qini"]
    return out


def gate_outcome(models: UpliftSet) -> str:
    """The outcome scoring decides with: ``value`` when the version has value models."""
    return (
        "value" if any(spec["outcome"] == "value" for spec in models.index.values()) else "retained"
    )


def trusted_actions(
    models: UpliftSet,
    intervals: dict[str, tuple[float, float, float]],
    untrusted: Collection[str] = (),
) -> list[str]:
    """Actions whose model of the gate outcome has a Qini interval entirely above 0 (sorted),
    but for ``untrusted`` ones (whose assignment was not random: the Qini of a targeted campaign
    measures who was picked as much as what the action did)."""
    outcome = gate_outcome(models)
    return sorted(
        spec["action"]
        for key, spec in models.index.items()
        if spec["outcome"] == outcome and intervals[key][1] > 0 and spec["action"] not in untrusted
    )


def _evidence(
    models: UpliftSet, intervals: dict[str, tuple[float, float, float]], trusted: list[str]
) -> str:
    outcome = gate_outcome(models)
    shown = ", ".join(
        f"{spec['action']} {intervals[key][0]:.4g} [{intervals[key][1]:.4g}, "
        f"{intervals[key][2]:.4g}]"
        for key, spec in sorted(models.index.items())
        if spec["outcome"] == outcome
    )
    said = (
        f"trusted actions: {', '.join(trusted) or 'none'} ({outcome} Qini on held-out customers "
        f"[{GATE_LEVEL:.0%} interval]: {shown})"
    )
    clear = [  # an effect on purchases the value ranking did not carry: worth knowing
        f"{spec['action']} {intervals[key][0]:.4g} [{intervals[key][1]:.4g}, "
        f"{intervals[key][2]:.4g}]"
        for key, spec in sorted(models.index.items())
        if spec["outcome"] == "retained"
        and outcome == "value"
        and spec["action"] not in trusted
        and intervals[key][1] > 0
    ]
    if clear:
        said += (
            f"; the retention ranking is better than random for {', '.join(clear)}, but the "
            "value ranking, which scoring uses, is not (yet): more campaign customers would tell"
        )
    return said


def net_value_tiers(
    net: np.ndarray, shares: tuple[float, float, float] = TIER_SHARES
) -> dict[str, float]:
    """``p1_from``, ``p2_from``, ``p3_from`` so that among customers with a positive net saved
    value the top ``shares[0]`` are P1, the next ``shares[1]`` P2 and the next ``shares[2]`` P3.
    No positive value: every threshold is infinite (everyone P4)."""
    positive = np.asarray(net, float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    if positive.size == 0:
        return {"p1_from": float("inf"), "p2_from": float("inf"), "p3_from": float("inf")}
    p3, p2, p1 = (float(q) for q in np.quantile(positive, sorted(1 - np.cumsum(shares))))
    return {"p1_from": p1, "p2_from": p2, "p3_from": p3}


def scoring_policy(
    models: UpliftSet,
    frame: pd.DataFrame,
    *,
    horizon_days: int,
    features: dict | None,
    trusted: list[str] | None = None,
) -> dict:
    """What scoring needs besides the models (see the module docstring), from the training rows.
    The tiers are cut on the net value of the actions scoring may recommend (``trusted``; None:
    all): cut on every action's, a version trusting a cheaper action put everyone in P4."""
    costs = action_costs(frame)
    train = frame[~frame["held_out"]] if "held_out" in frame else frame
    value = {
        spec["action"]: key
        for key, spec in models.index.items()
        if spec["outcome"] == "value" and (trusted is None or spec["action"] in trusted)
    }
    tiers = net_value_tiers(np.array([]))
    if value and len(train):
        scores = models.predict(train.drop_duplicates("customer_id"))
        net = np.column_stack(
            [scores[key].to_numpy(float) - costs.get(a, 0.0) for a, key in value.items()]
        )
        tiers = net_value_tiers(net.max(axis=1))
    return {"costs": costs, "horizon_days": int(horizon_days), "features": features, "tiers": tiers}


def register(
    tracking_uri: str,
    project: str,
    models: dict[tuple[str, str], UpliftModel],
    frame: pd.DataFrame,
    columns: list[str],
    *,
    force: bool = False,
    log=print,
    horizon_days: int = 90,
    features: dict | None = None,
    untrusted: dict[str, str] | None = None,
) -> dict:
    """Log the models (and their scoring policy) in the active MLflow run, register them, and
    apply the Qini gate. ``features``: the feature configuration the models read (None: the
    data set's own campaign features); ``untrusted``: action -> why it is never trusted (its
    assignment check)."""
    untrusted = untrusted or {}
    client = MlflowClient(tracking_uri=tracking_uri)
    name = model_name(project)
    example = frame[columns].head(5)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = save_models(models, Path(tmp) / "uplift")
        fitted = UpliftSet(data_path)
        intervals = held_out_qini_intervals(fitted, frame)
        trusted = trusted_actions(fitted, intervals, untrusted)
        policy = scoring_policy(
            fitted, frame, horizon_days=horizon_days, features=features, trusted=trusted or None
        )
        evidence = _evidence(fitted, intervals, trusted)
        if untrusted:
            evidence += "; not trusted whatever their Qini: " + "; ".join(
                f"{action} ({why})" for action, why in sorted(untrusted.items())
            )
        policy["trusted_actions"] = trusted
        policy["untrusted_actions"] = untrusted
        policy["gate"] = {
            "outcome": gate_outcome(fitted),
            "n_boot": GATE_BOOT,
            "seed": GATE_SEED,
            "level": GATE_LEVEL,
            "qini": {k: list(v) for k, v in intervals.items()},
        }
        (data_path / POLICY_FILE).write_text(json.dumps(policy, indent=1))
        challenger_set = UpliftSet(data_path)
        with quiet_model_logging():
            info = mlflow.pyfunc.log_model(
                name="uplift",
                loader_module="training.uplift_registry",
                data_path=str(data_path),
                input_example=example,
                registered_model_name=name,
                code_paths=None,
                pip_requirements=["lightgbm", "pandas", "numpy"],
            )
        challenger = held_out_qini(challenger_set, frame)
    version = str(info.registered_model_version)
    with gate_lock(tracking_uri, log=log):
        try:
            current = str(client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            current = None
        if current is None:
            promoted, reason, champion = True, "no champion yet", {}
        else:
            root = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=client.get_model_version_download_uri(name, current),
                    tracking_uri=tracking_uri,
                )
            )
            data_dir = next(root.rglob("uplift.json")).parent
            unreadable: str | None = None
            try:
                champion = held_out_qini(UpliftSet(data_dir), frame)
            except KeyError as exc:
                if "feature columns missing" not in str(exc):
                    raise  # a bug, not another data set's champion
                champion, unreadable = {}, str(exc).strip("'\"")[:200]
            shared = sorted(set(challenger) & set(champion))
            if unreadable is not None:
                promoted, reason = (
                    False,
                    f"champion v{current} cannot be re-scored on this run's customers "
                    f"({unreadable}: another data set's features), so the two are not compared; "
                    "--force replaces it",
                )
            elif not shared:
                promoted, reason = (
                    False,
                    f"champion v{current} has no model for these actions/outcomes",
                )
            else:
                promoted, reason = is_not_worse(
                    {k: challenger[k] for k in shared},
                    {k: champion[k] for k in shared},
                    dict.fromkeys(shared, True),
                )
                reason = (
                    f"{reason} (champion v{current} re-scored on this run's held-out customers)"
                )
        if not trusted:
            promoted, reason = (
                False,
                f"no trusted action, no evidence the models rank better than random; {reason}",
            )
        if gate_outcome(fitted) != "value":  # scores rank by saved value: never a champion
            promoted, reason = (
                False,
                "no value model (outcomes without value): scoring ranks by the value an action "
                "saves, so this version cannot be champion, even forced; fit with outcomes "
                f"[retained, value]; {reason}",
            )
        elif force and not promoted:
            promoted, reason = True, f"FORCED: promoted although {reason}"
        reason = f"{reason}; {evidence}"
        client.set_model_version_tag(name, version, "promotion", reason)
        client.set_model_version_tag(name, version, "trusted_actions", ",".join(trusted) or "none")
        if promoted:
            client.set_registered_model_alias(name, CHAMPION, version)
    decision = {
        "model": name,
        "version": version,
        "promoted": promoted,
        "reason": reason,
        "challenger": challenger,
        "champion": champion,
        "champion_version": current,
        "policy": policy,
        "trusted_actions": trusted,
    }
    verdict = "PROMOTED" if promoted else f"kept champion v{current}" if current else "not promoted"
    log(f"promotion {name} v{version}: {verdict}: {reason}")
    return decision
