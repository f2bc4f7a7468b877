"""Fit and measure uplift models on a contract directory with a ``campaigns`` table.

Per campaign action against the control arm, for ``retained`` and ``value`` over the campaign
window: T-, X- and DR-learners are fit on training customers and measured on held-out customers
(a fixed hash of ``customer_id``, never seen in fitting) against three baselines: treat everyone
(no ranking), a response model (P(outcome | contacted) alone) and -- when the data has
transactions -- today's ``priority_score`` (churn probability x value if retained, from LightGBM
churn and CLV models fit on snapshots *before* the campaign). On synthetic data the true effects
give PEHE and the policy value from truth.

Features: ``campaign_features.parquet`` when the data carries them (Hillstrom), otherwise the
platform's point-in-time features at each campaign's ``sent_at`` (only data before it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.atomic_file import write_text_atomic
from features.campaigns import (
    CONTROL,
    NO_ACTION,
    TREATED,
    action_costs,
    campaign_outcomes,
    load_campaigns,
    measuring_rows,
)
from features.contract import table_path
from features.yaml_files import load_yaml
from training.models import FeatureEncoder
from training.priority import value_if_retained
from training.uplift import (
    Learner,
    UpliftConfig,
    UpliftModel,
    check_propensity,
    fit_response,
    fit_uplift,
)
from training.uplift_metrics import (
    POLICY_METRICS,
    bootstrap,
    design_weights,
    pehe,
    policy_value_estimated,
    policy_value_true,
    qini_coefficient,
    top_k,
    uplift_at_top,
)
from training.uplift_select import Selection, SelectionConfig, select_uplift

Outcome = Literal["retained", "value"]
TOP_SHARES = (0.1, 0.2, 0.3)
FEATURES_FILE = "campaign_features.parquet"
TRUTH_FILE = "campaign_truth.parquet"
#: The ranking by the true effect (synthetic data); a name MLflow keeps as it is in metric names.
ORACLE = "true-effect oracle"
#: The baseline that contacts everyone (its Qini is 0 by definition).
TREAT_EVERYONE = "treat everyone"


class UpliftRunConfig(BaseModel):
    """What ``lifecycle uplift`` fits and measures; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(
        90, ge=1, description="campaign window when measured from transactions"
    )
    test_share: float = Field(0.3, gt=0.0, lt=1.0)
    budget_share: float = Field(
        0.2, gt=0.0, le=1.0, description="contacts, as a share of held-out customers"
    )
    n_boot: int = Field(200, ge=20)
    learners: list[Learner] = ["t", "x", "dr"]
    outcomes: list[Outcome] = ["retained", "value"]
    uplift: UpliftConfig = UpliftConfig()
    selection: SelectionConfig | None = Field(
        SelectionConfig(),
        description="choose learner, regularisation, value transform and cross-fitting folds by "
        "inner cross-validation on the training customers (the 'selected' model, registered); "
        "null: register uplift.learner",
    )
    priority_cutoffs: int = Field(
        4, ge=2, description="snapshots before the campaign for today's priority"
    )


@dataclass
class CampaignData:
    """One row per customer and campaign: features, arm, action, cost, outcomes, held-out flag."""

    frame: pd.DataFrame
    columns: list[str]
    has_truth: bool
    has_priority: bool
    feature_config: dict | None = (
        None  # the platform features read (None: campaign_features.parquet)
    )


@dataclass
class UpliftResult:
    """Measured tables (one row per action, outcome and model) and the fitted models."""

    metrics: pd.DataFrame
    policy: pd.DataFrame
    propensity: pd.DataFrame
    models: dict[tuple[str, str, str], UpliftModel] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    #: (action, outcome) -> held-out rows: ``y``, ``treated`` and one score column per ranking.
    held_out_scores: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    #: every candidate's inner-fold Qini per action and outcome (training customers only)
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: action -> why its effects cannot be trusted (``PropensityCheck.untrusted_because``)
    untrusted: dict[str, str] = field(default_factory=dict)


def held_out(customer_id: pd.Series, share: float) -> np.ndarray:
    """True for held-out customers: a fixed hash of the id, the same in every run."""

    def unit(text: str) -> float:
        return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) / 0x1_0000_0000

    return np.array([unit(str(c)) < share for c in customer_id], dtype=bool)


def load_campaign_data(
    data_dir: str | Path, config: UpliftRunConfig, as_of=None, log=print
) -> CampaignData:
    """Campaign rows with outcomes (mature windows only), features at send time, truth if any."""
    data_dir = Path(data_dir)
    rows = campaign_outcomes(data_dir, config.horizon_days, as_of)
    _say_immature(load_campaigns(data_dir), rows, config.horizon_days, log, as_of)
    if rows.empty:
        raise ValueError(
            f"{data_dir}: no campaign row has a mature outcome window of {config.horizon_days} days"
        )
    # features as of the start of the send day (a send time would not be a snapshot cutoff; the
    # outcome window above starts at the send time itself)
    rows["sent_at"] = pd.to_datetime(rows["sent_at"]).dt.normalize()
    keys = ["customer_id", "campaign_id"]
    if (data_dir / FEATURES_FILE).exists():
        feats = pd.read_parquet(data_dir / FEATURES_FILE)
        columns = [c for c in feats.columns if c not in (*keys, "conversion")]
        feature_config = None
        frame = rows.merge(feats, on=keys, how="left", validate="one_to_one")
    else:
        from features.config import DEFAULT_CONFIG
        from features.snapshots import build_snapshots, model_inputs

        columns = model_inputs()
        feature_config = DEFAULT_CONFIG.model_dump(mode="json")
        if not table_path(data_dir, "events").exists():
            log(
                f"warning: {data_dir} has no events: the uplift models see purchases only, so an "
                "effect that depends on engagement (a call that keeps customers who stopped "
                "visiting or opening e-mails) may not show; ingest the events export with "
                "--events if there is one"
            )
        parts = []
        for sent_at, group in rows.groupby("sent_at"):
            snap = build_snapshots(data_dir, [sent_at], progress=False)
            parts.append(group.merge(snap.drop(columns="cutoff"), on="customer_id", how="left"))
        frame = pd.concat(parts, ignore_index=True)
    has_truth = (data_dir / TRUTH_FILE).exists()
    if has_truth:
        truth = pd.read_parquet(data_dir / TRUTH_FILE)
        tau = [c for c in truth.columns if c.startswith(("tau_", "base_"))]
        frame = frame.merge(truth[keys + tau], on=keys, how="left")
    has_priority = (data_dir / "transactions.parquet").exists() and not (
        data_dir / FEATURES_FILE
    ).exists()
    if has_priority:
        frame = frame.merge(todays_priority(data_dir, frame, config, log), on=keys, how="left")
    frame["held_out"] = held_out(frame["customer_id"], config.test_share)
    return CampaignData(frame, columns, has_truth, has_priority, feature_config)


def _say_immature(
    campaigns: pd.DataFrame, kept: pd.DataFrame, horizon_days: int, log, as_of=None
) -> None:
    """Name the campaigns, wholly or in part, whose outcome windows are not over (left out)."""
    end = "the data's end" if as_of is None else f"{pd.Timestamp(as_of):%Y-%m-%d} (--as-of)"
    counts = kept.groupby("campaign_id").size()
    for campaign, sent in campaigns.groupby("campaign_id"):
        measured = int(counts.get(campaign, 0))
        if measured == len(sent):
            continue
        over = (sent["sent_at"].max() + pd.Timedelta(days=horizon_days)).date()
        if measured == 0:
            log(
                f"campaign {campaign}: its {horizon_days}-day outcome window is not over by "
                f"{end}: left out (its outcomes are known once the data reaches {over})"
            )
            continue
        done = set(kept.loc[kept["campaign_id"] == campaign, "customer_id"])
        late = sent[~sent["customer_id"].isin(done)]
        arms = ", ".join(f"{a} {n:,}" for a, n in late["arm"].value_counts().sort_index().items())
        log(
            f"warning: campaign {campaign}: {len(late):,} of its {len(sent):,} customers (sent "
            f"{late['sent_at'].min():%Y-%m-%d}..{late['sent_at'].max():%Y-%m-%d}; {arms}) have "
            f"an outcome window not over by {end}: measured on the other {measured:,} "
            f"only (all of them once the data reaches {over})"
        )


def todays_priority(
    data_dir: Path, rows: pd.DataFrame, config: UpliftRunConfig, log=print
) -> pd.DataFrame:
    """``priority_score`` as the platform computes it today, for each campaign row at ``sent_at``.

    Churn (calibrated) and CLV (Tweedie) LightGBM models are fit on snapshots every
    ``horizon_days`` before the campaign (labels end at ``sent_at``: nothing after it is read);
    priority = p x ``training.priority.value_if_retained``, the expected value at risk, as
    scoring computes it (with the default floor).
    """
    from features.snapshots import build_snapshots, model_inputs
    from training.config import LightGBMParams
    from training.dataset import data_bounds
    from training.models import ChurnModel, ClvModel

    columns = model_inputs()
    first_day = pd.Timestamp(data_bounds(data_dir)[0])
    out = []
    for campaign, group in rows.groupby("campaign_id"):
        # models trained before the campaign's first send day (one pair per campaign, however
        # many days it was sent over), applied to each row's features at its own send day;
        # cutoffs before the data's first order hold nobody and are left out
        sent_at = group["sent_at"].min()
        step = pd.Timedelta(days=config.horizon_days)
        cutoffs = [sent_at - step * k for k in range(config.priority_cutoffs, 0, -1)]
        cutoffs = [c for c in cutoffs if c > first_day] or cutoffs[-1:]
        log(
            f"uplift: today's priority for {campaign}: churn and CLV models on cutoffs "
            f"{cutoffs[0]:%Y-%m-%d}..{cutoffs[-1]:%Y-%m-%d}"
        )
        g = group.reset_index(drop=True)
        p = value = np.full(len(g), np.nan)
        try:
            snaps = build_snapshots(
                data_dir, cutoffs, horizon_days=config.horizon_days, progress=False
            )
            snaps = snaps[snaps["churned"].notna()]
            last = snaps["cutoff"] == cutoffs[-1]
            train, valid = snaps[snaps["cutoff"] < cutoffs[-1]], snaps[last]
            params = LightGBMParams(n_jobs=config.uplift.n_jobs)
            churn = ChurnModel(columns, params, seed=config.uplift.seed).fit(
                train, train["churned"].astype(int), valid, valid["churned"].astype(int)
            )
            clv = ClvModel(columns, params, seed=config.uplift.seed).fit(
                train, train["future_value"], valid, valid["future_value"]
            )
            p, value = churn.predict_proba(g), np.clip(clv.predict(g), 0, None)
        except ValueError as exc:  # PlanError included: too little history before the campaign
            log(
                f"uplift: campaign {campaign} (first sent {sent_at:%Y-%m-%d}): today's priority "
                f"cannot be computed ({str(exc).split(';')[0].strip()[:200]}); its actions are "
                "measured without the priority_score baseline"
            )
        out.append(
            pd.DataFrame(
                {
                    "customer_id": g["customer_id"],
                    "campaign_id": campaign,
                    "churn_probability": p,
                    "priority_score": p * value_if_retained(p, value),
                }
            )
        )
    return pd.concat(out, ignore_index=True)


#: Fewer control customers than this in an action's campaigns: said, the effects will be noisy.
MIN_CONTROL = 200
#: Fewer held-out control customers than this: the action is never trusted. A percentile
#: bootstrap of a Qini on a handful of controls is too narrow: with no true effect, 9 held-out
#: controls put the interval above 0 in 6.5% of 400 null runs, 400 controls in 2.75% (2.5% aimed).
MIN_HELD_OUT_CONTROL = 50
#: Fewer training customers of an arm than this: the action is left out, said (its learners
#: cross-fit on folds of each arm; a handful of customers cannot be split, nor tell an effect).
MIN_ARM_TRAINING = 10


def action_rows(frame: pd.DataFrame, action: str, log=print) -> pd.DataFrame | None:
    """The rows that measure ``action`` (``features.campaigns.measuring_rows``); None, said,
    when its campaigns have no control group or too few customers of an arm to fit and measure."""
    rows = frame[measuring_rows(frame, action)].reset_index(drop=True)
    control = int((rows["arm"] == CONTROL).sum())
    names = ", ".join(sorted(map(str, rows["campaign_id"].unique())))
    if control == 0:
        log(
            f"action {action}: campaign(s) {names} have no control group, so its effect cannot be "
            f"measured: left out ({_holdout_hint(frame)})"
        )
        return None
    counts = {
        arm: (
            int(((rows["arm"] == arm) & ~rows["held_out"]).sum()),
            int(((rows["arm"] == arm) & rows["held_out"]).sum()),
        )
        for arm in (TREATED, CONTROL)
    }
    if any(fit < MIN_ARM_TRAINING or held < 1 for fit, held in counts.values()):
        shown = "; ".join(f"{arm} {fit} + {held}" for arm, (fit, held) in counts.items())
        log(
            f"action {action}: too few customers to fit or measure its effect in campaign(s) "
            f"{names} (training + held-out: {shown}; each arm needs {MIN_ARM_TRAINING} + 1): "
            "left out"
        )
        return None
    if control < MIN_CONTROL:
        log(
            f"warning: action {action}: only {control} control customers in campaign(s) {names} "
            f"({control / len(rows):.1%}); its effect estimates will be noisy"
        )
    treated = rows[rows["arm"] == TREATED]
    if "cost" in rows and treated["cost"].notna().any() and treated["cost"].isna().any():
        log(
            f"warning: action {action}: {int(treated['cost'].isna().sum()):,} of {len(treated):,} "
            f"contacts give no cost; its cost per contact is the mean of the others "
            f"({action_costs(rows)[action]:,.2f})"
        )
    return rows


def _holdout_hint(frame: pd.DataFrame) -> str:
    """What to do about an action without a holdout: use the campaigns of control customers only
    (an e-mail tool's global control group, exported as a campaign of its own), if any."""
    treated = frame.groupby("campaign_id")["arm"].agg(lambda a: (a == TREATED).any())
    alone = sorted(map(str, treated.index[~treated]))
    if not alone:
        return "send a random holdout next time"
    return (
        f"campaign(s) {', '.join(map(repr, alone))} hold control customers only: if they were "
        "held out of this send (a global control group), give their rows and its rows one "
        'campaign id, e.g. --campaigns-map "campaign_id==<one name>" when the export holds '
        "this send and that group only"
    )


def _known_propensity(rows: pd.DataFrame) -> np.ndarray:
    """Design probability of the action among action + control rows, per campaign."""
    share = rows.groupby("campaign_id")["arm"].transform(lambda a: (a == TREATED).mean())
    return share.to_numpy(float)


def evaluate(data: CampaignData, config: UpliftRunConfig, log=print) -> UpliftResult:
    """Fit every learner per action and outcome on training customers; measure on held-out ones."""
    frame = data.frame
    actions = sorted(
        a for a in frame.loc[frame["arm"] == TREATED, "action"].unique() if a != NO_ACTION
    )
    metric_rows, policy_rows, prop_rows, selection_tables = [], [], [], []
    untrusted: dict[str, str] = {}
    models: dict[tuple[str, str, str], UpliftModel] = {}
    held: dict[tuple[str, str], pd.DataFrame] = {}
    for action in actions:
        rows = action_rows(frame, action, log)
        if rows is None:
            continue
        treated = (rows["arm"] == TREATED).to_numpy()
        train, test = ~rows["held_out"].to_numpy(), rows["held_out"].to_numpy()
        cost = action_costs(rows).get(action, 0.0)
        # campaigns of different holdout shares measured as one design (uplift_metrics)
        weights = design_weights(rows.loc[test, "campaign_id"].to_numpy(), treated[test])
        _say_pooled_shares(action, rows, log)
        known = _known_propensity(rows)[train]
        known_mode = config.uplift.propensity == "known"
        x_train = FeatureEncoder(data.columns).fit(rows[train]).transform(rows[train])
        _, check = check_propensity(
            x_train, treated[train], config.uplift, known=known if known_mode else None
        )
        prop_rows.append(_check_row(action, check))
        why = check.untrusted_because()
        if why is None and (held_controls := int((test & ~treated).sum())) < MIN_HELD_OUT_CONTROL:
            why = (
                f"only {held_controls} control customers are among the held-out ones its "
                f"effects are measured on (at least {MIN_HELD_OUT_CONTROL} are needed for an "
                "interval to be trusted); send a larger holdout"
            )
        if why is not None:
            untrusted[action] = why
            log(f"warning: action {action}: {why}; its effects will not be trusted for scoring")
        chosen_for: dict[str, Selection] = {}  # outcome -> its selection (value reuses retention's)
        for outcome in config.outcomes:
            y = rows[outcome].to_numpy(float)
            scores: dict[str, np.ndarray] = {TREAT_EVERYONE: np.zeros(int(test.sum()))}
            response = fit_response(
                rows[train], treated[train], y[train], data.columns, config.uplift
            )
            scores["response model"] = response(rows[test])
            if data.has_priority and rows["priority_score"].notna().all():
                scores["priority_score"] = rows.loc[test, "priority_score"].to_numpy(float)
            for learner in config.learners:
                cfg = config.uplift.model_copy(update={"learner": learner})
                log(
                    f"uplift: {action} vs control, {outcome}: {learner}-learner on "
                    f"{int(train.sum()):,} customers"
                )
                model = fit_uplift(
                    rows[train],
                    treated[train],
                    y[train],
                    data.columns,
                    cfg,
                    propensity=known if known_mode else None,
                    check_assignment=not known_mode,
                )
                models[(action, outcome, learner)] = model
                scores[f"{learner}-learner"] = model.predict(rows[test])
            if config.selection is not None:
                retained = rows["retained"].to_numpy(float) if "retained" in rows else None
                chosen = select_uplift(
                    rows[train],
                    treated[train],
                    y[train],
                    data.columns,
                    config.uplift,
                    config.selection,
                    propensity=known if known_mode else None,
                    retained=None if retained is None else retained[train],
                    retention=chosen_for.get("retained"),
                    log=log,
                )
                chosen_for[outcome] = chosen
                log(f"uplift: {action} vs control, {outcome}: selected {chosen.chosen.label}")
                models[(action, outcome, SELECTED)] = chosen.model
                scores[SELECTED] = chosen.model.predict(rows[test])
                if len(same := np.unique(scores[SELECTED])) == 1:
                    log(
                        f"uplift: {action} vs control, {outcome}: the selected model gives every "
                        f"customer the same estimate ({same[0]:.4g}): no difference between "
                        "customers was learnt, so it ranks no better than random contact"
                    )
                selection_tables.append(chosen.table.assign(action=action, outcome=outcome))
            truth_col = f"tau_{outcome}_{action}"
            truth = (
                rows.loc[test, truth_col].to_numpy(float)
                if data.has_truth and truth_col in rows
                else None
            )
            if truth is not None:
                scores[ORACLE] = truth
            held[(action, outcome)] = pd.DataFrame(
                {"y": y[test], "treated": treated[test], **scores}
            )
            metric_rows += _measure(
                action, outcome, y[test], treated[test], scores, truth, config, weights
            )
            policy_rows += _policy(
                action,
                outcome,
                cost,
                y[test],
                treated[test],
                scores,
                truth,
                data,
                rows,
                test,
                config,
                weights,
            )
    if not models:
        from training.splits import PlanError

        raise PlanError(
            "no action can be measured: every campaign lacks a control group (customers picked "
            "at random and not contacted); uplift needs one per campaign"
        )
    counts = {
        "rows": len(frame),
        "held_out": int(frame["held_out"].sum()),
        "treated": int((frame["arm"] == TREATED).sum()),
        "control": int((frame["arm"] == CONTROL).sum()),
    }
    selection = pd.concat(selection_tables, ignore_index=True) if selection_tables else None
    if selection is not None:
        selection = selection[["action", "outcome", *selection.columns[:-2]]]
    return UpliftResult(
        pd.DataFrame(metric_rows),
        pd.DataFrame(policy_rows),
        pd.DataFrame(prop_rows),
        models,
        counts,
        held,
        pd.DataFrame() if selection is None else selection,
        untrusted,
    )


#: The model chosen by inner cross-validation (``training.uplift_select``), as named in tables.
SELECTED = "selected"


def registered_key(config: UpliftRunConfig) -> str:
    """Which fitted models are registered: the selected ones, else ``uplift.learner`` (or the
    first learner fitted, when that one was not)."""
    if config.selection is not None:
        return SELECTED
    return config.uplift.learner if config.uplift.learner in config.learners else config.learners[0]


def score_label(key: str) -> str:
    """The table and plot name of a registered key."""
    return key if key == SELECTED else f"{key}-learner"


def _check_row(action: str, check) -> dict:
    """The assignment check of an action, a row of ``propensity_check.csv`` (``outcome`` and
    ``learner`` stay in the table, empty: the check is the action's, whatever is fitted)."""
    return {
        "action": action,
        "outcome": "",
        "learner": "",
        "source": check.source,
        "treated_share": check.treated_share,
        "propensity_auc": check.auc,
        "clipped_share": check.clipped_share,
        "customers": check.customers,
        "looks_randomized": check.looks_randomized,
    }


def _say_pooled_shares(action: str, rows: pd.DataFrame, log) -> None:
    """Say when an action's campaigns held out different shares (a 50/50 test beside a 90/10
    rollout): compared as they are, the arms would hold different customers."""
    shares = rows.groupby("campaign_id")["arm"].agg(lambda a: (a == TREATED).mean())
    if len(shares) > 1 and shares.max() - shares.min() > 0.05:
        said = ", ".join(f"{c} {s:.0%}" for c, s in shares.sort_index().items())
        log(
            f"action {action}: its campaigns contacted different shares ({said}): each "
            "campaign's customers are weighted by its own share in the held-out measures, so "
            "that both arms stand for the same customers"
        )


def _measure(action, outcome, y, treated, scores, truth, config, weights=None) -> list[dict]:
    names = list(scores)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float)

    def metrics(idx: np.ndarray) -> dict[str, float]:
        out = {}
        for name in names:
            s = scores[name][idx]
            out[f"{name}|qini"] = qini_coefficient(y[idx], treated[idx], s, w[idx])
            for share in TOP_SHARES:
                out[f"{name}|uplift@{int(share * 100)}"] = uplift_at_top(
                    y[idx], treated[idx], s, share, w[idx]
                )
            if name != "response model":
                out[f"{name}|qini - response"] = out[f"{name}|qini"] - qini_coefficient(
                    y[idx], treated[idx], scores["response model"][idx], w[idx]
                )
        return out

    boot = bootstrap(metrics, treated, n_boot=config.n_boot, seed=config.uplift.seed)
    rows = []
    for name in names:
        row = {"action": action, "outcome": outcome, "model": name, "n_held_out": len(y)}
        for metric in ["qini", "qini - response", *[f"uplift@{int(s * 100)}" for s in TOP_SHARES]]:
            key = f"{name}|{metric}"
            if key in boot:
                row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = boot[key]
        if truth is not None and name != ORACLE:
            est = scores[name]
            row["pehe"] = pehe(est, truth) if _is_effect(name) or name == TREAT_EVERYONE else np.nan
        rows.append(row)
    return rows


def _policy(
    action, outcome, cost, y, treated, scores, truth, data, rows, test, config, weights=None
) -> list[dict]:
    """Outcome gained at a budget of ``budget_share`` of the held-out customers, per ranking.

    Every ranking contacts its top ``k``. A ranking by estimated effect (a learner, the selected
    model, the oracle) is also measured with the budget as a cap (``<name> - paying only``):
    only the customers whose estimated effect is above the cost of a contact (value; above 0
    for retention) are contacted, at most ``k``, which is what scoring recommends.
    """
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    k = max(1, round(config.budget_share * n))
    rng = np.random.default_rng(config.uplift.seed)
    random_score = rng.random(n)
    ranked = {**{m: s for m, s in scores.items() if m != TREAT_EVERYONE}, "random": random_score}
    floor = cost if outcome == "value" else 0.0
    # (name, scores, floor): every ranking's top k, then the effect rankings' paying top k
    policies: list[tuple[str, np.ndarray, float | None]] = [(m, s, None) for m, s in ranked.items()]
    policies += [(f"{m}{PAYING_ONLY}", s, floor) for m, s in ranked.items() if _is_effect(m)]

    def metrics(idx: np.ndarray) -> dict[str, float]:
        kk = max(1, round(config.budget_share * len(idx)))
        out = {}
        for name, s, cap in policies:
            out[f"{name}|estimated"] = policy_value_estimated(
                y[idx], treated[idx], s[idx], kk, cap, w[idx]
            )
            if truth is not None:
                out[f"{name}|true"] = policy_value_true(truth[idx], s[idx], kk, cap)
        return out

    boot = bootstrap(metrics, treated, n_boot=config.n_boot, seed=config.uplift.seed + 1)
    out = []
    for name, s, cap in policies:
        contacts = k if cap is None else len(top_k(s, k, cap))
        row = {
            "action": action,
            "outcome": outcome,
            "model": name,
            "contacts": contacts,
            "cost": cost * contacts,
        }
        for kind in ("true", "estimated"):
            key = f"{name}|{kind}"
            if key in boot:
                row[kind], row[f"{kind}_lo"], row[f"{kind}_hi"] = boot[key]
        out.append(row)
    return out


#: Suffix of a policy row whose budget is a cap: only customers whose effect pays are contacted.
PAYING_ONLY = " - paying only"


def _is_effect(name: str) -> bool:
    """Whether a ranking's scores are estimated effects (so a cost can be set against them)."""
    return name.endswith("-learner") or name in (SELECTED, ORACLE)


def run_project(project: str | None, data_dir: str | Path) -> str:
    """The project an uplift run is filed under (for compare), even when nothing is registered:
    ``project``, else the data directory's name, as training names it."""
    return project or Path(data_dir).resolve().name


def log_to_mlflow(
    result: UpliftResult,
    config: UpliftRunConfig,
    data_dir: Path,
    tracking_uri: str,
    experiment: str,
    artifact_root: Path | None = None,
    *,
    data: CampaignData | None = None,
    project: str | None = None,
    force: bool = False,
    log=print,
) -> tuple[str, dict | None]:
    """One MLflow run: the config, every measured number (point and interval) and the tables.

    A new experiment keeps its artifacts in ``artifact_root``, by default ``mlruns`` next to a
    SQLite tracking store. The run is filed under ``project``, else the data directory's name.
    With ``project`` (and ``data``), the models of ``uplift.learner`` (or
    of the first learner fitted, when that one was not) are registered as ``<project>.uplift``
    behind the Qini gate (``training.uplift_registry``); returns the run id and the promotion
    decision (None when nothing was registered).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from training.config import TrackingConfig, artifacts_beside, tracked_experiment_name
    from training.registry import fail_stale_runs, open_experiment, owner_tags, tracked_run

    if artifact_root is None:
        artifact_root = artifacts_beside(tracking_uri)
    tracked = run_project(project, data_dir)
    experiment = tracked_experiment_name(tracked, experiment)  # <project>/uplift, like training
    tracking = TrackingConfig(tracking_uri=tracking_uri, artifact_root=artifact_root)
    experiment_id = open_experiment(tracking, experiment)
    # a killed uplift run stayed RUNNING for good: marked FAILED, as training does
    fail_stale_runs(MlflowClient(tracking_uri=tracking_uri), log=log)
    with tracked_run(
        tracking_uri, experiment_id, run_name=f"uplift {data_dir.name}", tags=owner_tags()
    ) as run:
        mlflow.set_tags({"kind": "uplift", "data": data_dir.name, "project": tracked})
        mlflow.log_params(
            {
                "horizon_days": config.horizon_days,
                "test_share": config.test_share,
                "budget_share": config.budget_share,
                "n_boot": config.n_boot,
                "learners": ",".join(config.learners),
                **{f"uplift.{k}": v for k, v in config.uplift.model_dump().items()},
            }
        )
        metrics = {}
        for table, value_cols in (
            (result.metrics, ("qini", "qini_lo", "qini_hi", "uplift@20", "pehe")),
            (result.policy, POLICY_METRICS),
        ):
            prefix = "policy." if table is result.policy else ""
            for _, r in table.iterrows():
                for col in value_cols:
                    if col in r and pd.notna(r[col]):
                        name = f"{prefix}{r['action']}.{r['outcome']}.{r['model']}.{col}"
                        metrics[_metric_name(name)] = float(r[col])
        mlflow.log_metrics(metrics)
        mlflow.log_text(result.metrics.to_csv(index=False), "uplift_metrics.csv")
        mlflow.log_text(result.policy.to_csv(index=False), "policy_value.csv")
        mlflow.log_text(result.propensity.to_csv(index=False), "propensity_check.csv")
        mlflow.log_text(json.dumps(result.counts), "counts.json")
        if not result.selection.empty:
            mlflow.log_text(result.selection.to_csv(index=False), "uplift_selection.csv")
        _log_plots(result, config)
        decision = None
        if project is not None and data is not None:
            from training.uplift_registry import register

            registered = registered_key(config)
            chosen = {
                (a, o): m for (a, o, learner), m in result.models.items() if learner == registered
            }
            if chosen:
                decision = register(
                    tracking_uri,
                    project,
                    chosen,
                    data.frame,
                    data.columns,
                    force=force,
                    log=log,
                    horizon_days=config.horizon_days,
                    features=data.feature_config,
                    untrusted=result.untrusted,
                )
                mlflow.log_dict(decision, "promotion.json")
        return run.info.run_id, decision


def _log_plots(result: UpliftResult, config: UpliftRunConfig) -> None:
    """Qini curves and uplift by decile per action and outcome, as PNGs under ``uplift_plots/``
    of the active run (``training.uplift_plots.plot_files``)."""
    import tempfile

    import mlflow

    from training.uplift_plots import PLOTS_DIR, write_plot_files

    with tempfile.TemporaryDirectory() as tmp:
        if write_plot_files(result.held_out_scores, Path(tmp), score_label(registered_key(config))):
            mlflow.log_artifacts(tmp, PLOTS_DIR)


def _metric_name(name: str) -> str:
    """MLflow metric names: letters, digits, ``_ - . / `` and spaces only."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in name)


def load_run_config(path: str | Path | None, **overrides) -> UpliftRunConfig:
    """``UpliftRunConfig`` from a YAML file (optional) with command-line overrides that are not
    None."""
    raw: Any = {}
    if path is not None:
        raw = load_yaml(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of uplift settings")
    raw |= {k: v for k, v in overrides.items() if v is not None}
    try:
        return UpliftRunConfig.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"{path or 'uplift options'}: {exc}") from exc


def write_tables(result: UpliftResult, out_dir: str | Path) -> list[Path]:
    """The measured tables as CSV (and the counts as JSON) in ``out_dir``, each file replaced
    atomically (a failed write leaves that file's previous complete version)."""
    out = Path(out_dir)
    paths = [out / "uplift_metrics.csv", out / "policy_value.csv", out / "propensity_check.csv"]
    tables = [result.metrics, result.policy, result.propensity]
    if not result.selection.empty:
        paths.append(out / "uplift_selection.csv")
        tables.append(result.selection)
    for table, path in zip(tables, paths, strict=True):
        write_text_atomic(path, table.to_csv(index=False))
    write_text_atomic(out / "counts.json", json.dumps(result.counts, indent=2))
    return paths


def format_tables(result: UpliftResult) -> str:
    """Qini (with 95% intervals) and policy value at the budget, as plain-text tables."""

    def iv(row, name, digits):
        if name not in row or pd.isna(row[name]):
            return ""
        low, high = row[name + "_lo"], row[name + "_hi"]
        return f"{row[name]:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    names = [*result.metrics["model"], *result.policy["model"], "model"]
    w = max(len(str(n)) for n in names) + 2  # "true-effect oracle" and "selected (...)" fit
    header = (
        f"{'action':<14}{'outcome':<10}{'model':<{w}}{'qini [95% CI]':<30}{'qini - response':<30}"
        f"{'uplift@20%':<28}{'pehe':>10}"
    )
    lines = [header]
    for _, r in result.metrics.iterrows():
        digits = 4 if r["outcome"] == "retained" else 3
        pe = f"{r['pehe']:.3f}" if "pehe" in r and pd.notna(r.get("pehe")) else ""
        lines.append(
            f"{r['action']:<14}{r['outcome']:<10}{r['model']:<{w}}{iv(r, 'qini', digits):<30}"
            f"{iv(r, 'qini - response', digits):<30}{iv(r, 'uplift@20', digits):<28}{pe:>10}"
        )
    truth = "true" in result.policy and result.policy["true"].notna().any()
    header = (
        f"{'action':<14}{'outcome':<10}{'model':<{w}}{'contacts':>9}  "
        + (f"{'true gain [95% CI]':<32}" if truth else "")  # real data: no truth to show
        + f"{'estimated gain [95% CI]':<32}"
    )
    lines += ["", header]
    for _, r in result.policy.iterrows():
        lines.append(
            f"{r['action']:<14}{r['outcome']:<10}{r['model']:<{w}}{int(r['contacts']):>9}  "
            + (f"{iv(r, 'true', 1):<32}" if truth else "")
            + f"{iv(r, 'estimated', 1):<32}"
        )
    if not result.selection.empty:
        lines += ["", "selected by inner cross-validation on training customers (mean inner Qini):"]
        for _, r in result.selection[result.selection["chosen"]].iterrows():
            lines.append(
                f"{r['action']:<14}{r['outcome']:<10}{r['learner']}/{r['regularisation']}/"
                f"{r['transform']}/{r['folds']} folds  {r['inner_qini']:.4g} "
                f"(sd {r['inner_qini_sd']:.2g} over folds)"
                + (" of retained" if r.get("qini_of") == "retained" else "")
            )
    return "\n".join(lines)
