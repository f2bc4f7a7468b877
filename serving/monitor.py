"""Is the champion still right? Input drift, score drift and realized performance against the
reference kept with the pair (``training.reference``), and a verdict from
``serving.monitor_config``.

- input drift: per monitored feature of the buyers scored on the date, PSI and KS distance over the
  reference bins, the missing share change (against the reference's buyers of the same ages)
  and the share of categories the reference never saw;
- score drift: PSI of churn probability and predicted value, PSI of the stage and tier mix;
- realized performance: every kept scoring date (``serving.score_history``) whose horizon has passed
  by the monitored date, its scores joined with the outcomes in the data: AUC, Brier, ECE, CLV Gini,
  MAE and total ratio, against the test metrics recorded at training.

Each check has a level (ok, warn, alert); the verdict is the worst, with the checks that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from serving.monitor_config import MonitorConfig
from serving.scoring import scored_by_model
from training.group_gaps import GROUP_COLUMNS, group_gaps
from training.reference import (
    AGE_COLUMN,
    age_bands,
    compare,
    compare_numeric,
    missing_against_age,
    psi,
    seen_variation,
)

if TYPE_CHECKING:
    from features.snapshots import ValueColumn

LEVELS = ("ok", "warn", "alert")
#: Exit code of ``lifecycle monitor`` on an alert (ok and warn exit 0; user errors exit 2).
ALERT_EXIT_CODE = 3
#: Causes named in the one-line summary (monitor.json and monitor.html hold them all).
SUMMARY_CAUSES = 8


def _level(value: float, warn: float, alert: float) -> str:
    if not np.isfinite(value):
        return "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def _worst(levels) -> str:
    return max(levels, key=LEVELS.index, default="ok")


def reference_mix(
    features: pd.DataFrame, churn_probability, predicted_value, scoring: dict
) -> dict:
    """Stage and tier shares of the reference buyers under the pair's scoring thresholds (given to
    ``training.train.train(reference_mix=...)``)."""
    from serving.config import ScoringConfig
    from serving.scoring import score_frame

    scored = score_frame(
        features,
        churn_probability,
        predicted_value,
        None,
        ScoringConfig.model_validate(scoring or {}),
        features["cutoff"].iloc[0],
        "-",
        "-",
    )
    return mix_of(scored)


def mix_of(scores: pd.DataFrame) -> dict:
    from serving.config import STAGES, TIERS

    return {
        "stage": {s: float((scores["stage"] == s).mean()) for s in STAGES},
        "tier": {t: float((scores["priority_tier"] == t).mean()) for t in TIERS},
    }


# --------------------------------------------------------------------------- drift


def input_drift(
    reference: dict, features: pd.DataFrame, cfg: MonitorConfig, as_of: date | None = None
) -> list[dict]:
    """One row per monitored feature: PSI, KS, missing and new-category rates and their level.
    The missing share is judged against that of the reference's buyers of the same ages
    (``training.reference.missing_against_age``), when the reference kept it.
    The warn lines of PSI, KS and median shift never sit below how far the trained-on data already
    moved (``training.reference.seen_variation``: the same season a year before ``as_of``, and as
    long before the reference), times ``1 + variation_slack``."""
    t = cfg.input
    seen_of = seen_variation(reference, as_of) if as_of is not None else {}
    ages = age_bands(features[AGE_COLUMN]) if AGE_COLUMN in features.columns else np.array([])
    slack = t.variation_slack
    rows = []
    for name, ref in reference["features"].items():
        values = (
            features[name] if name in features.columns else pd.Series(np.nan, index=features.index)
        )
        stats = compare(ref, values)
        # against the reference's buyers of the same ages: a base that ages fills in year-ago
        # features (a stable year: year_ago_recency_days 50% -> 34% missing) with no change
        if (by_age := missing_against_age(ref, values, ages)) is not None:
            stats["missing_of_known_ages"], stats["missing_expected"] = by_age
            stats["missing_change"] = by_age[0] - by_age[1]
        seen = dict(seen_of.get(name, {}))
        # the same months a year earlier moved the median this way by as much (signed: a price
        # rise against a seasonal fall is no less a change)
        along = seen.pop(
            "median_shift_up" if stats["median_direction"] > 0 else "median_shift_down", 0.0
        )
        seen.pop("median_shift_up", None), seen.pop("median_shift_down", None)
        seen["median_shift"] = max(seen.get("median_shift", 0.0), along)
        real = stats["p_value"] <= t.p_value_max  # not a small sample's chance wobble
        causes = {
            "psi": _beyond(stats, seen, "psi", t.psi_warn, t.psi_alert, slack) if real else "ok",
            "ks": _beyond(stats, seen, "ks", t.ks_warn, t.ks_alert, slack) if real else "ok",
            "median_shift": _beyond(
                stats, seen, "median_shift", t.median_shift_warn, t.median_shift_alert, slack
            )
            if stats["median_p_value"] <= t.p_value_max
            else "ok",
            "missing": _level(abs(stats["missing_change"]), t.missing_warn, t.missing_alert),
            "new_category": _level(
                stats["new_category_rate"], t.new_category_warn, t.new_category_alert
            ),
        }
        rows.append(
            {
                "feature": name,
                **stats,
                "seen_before_training": seen,
                "level": _worst(causes.values()),
                "because": [
                    k for k, v in causes.items() if v != "ok" and v == _worst(causes.values())
                ],
            }
        )
    rows.sort(key=lambda r: -np.nan_to_num(r["psi"], nan=9.0))
    alerts = [r for r in rows if r["level"] == "alert"]
    structural = [r for r in alerts if {"missing", "new_category"} & set(r["because"])]
    if alerts and len(alerts) < t.min_features_alert and not structural:
        for r in alerts:
            r["level"] = "warn"
    return rows


def _beyond(stats: dict, seen: dict, stat: str, warn: float, alert: float, slack: float) -> str:
    """The level of ``stats[stat]`` with a warn line never below ``seen[stat]`` (how far the data
    the pair was trained on already moved) times ``1 + slack``; the alert line keeps its distance
    above the warn line."""
    lifted = max(warn, seen.get(stat, 0.0) * (1.0 + slack))
    return _level(stats[stat], lifted, alert + lifted - warn)


def score_drift(reference: dict, scores: pd.DataFrame, cfg: MonitorConfig) -> list[dict]:
    """PSI of churn probability and predicted value over the reference bins, and of the stage and
    tier mix (when the reference has it), with the share changes."""
    t = cfg.scores
    rows = []
    for name in ("churn_probability", "predicted_value"):
        stats = compare_numeric(reference["scores"][name], scores[name])
        rows.append(
            {
                "score": name,
                "psi": stats["psi"],
                "ks": stats["ks"],
                "current_shares": stats["current_shares"],
                "level": _level(stats["psi"], t.psi_warn, t.psi_alert),
            }
        )
    current = mix_of(scores)
    for name, ref in reference.get("mix", {}).items():
        keys = list(ref)
        value = psi([ref[k] for k in keys], [current[name].get(k, 0.0) for k in keys])
        rows.append(
            {
                "score": f"{name}_mix",
                "psi": value,
                "reference": ref,
                "current": current[name],
                "level": _level(value, t.mix_psi_warn, t.mix_psi_alert),
            }
        )
    return rows


# --------------------------------------------------------------------------- realized performance


def outcomes(
    data_dir: str | Path,
    days: Sequence[tuple[date, int, int]],
    value: ValueColumn = "revenue",
    annual_discount_rate: float = 0.0,
) -> dict[date, pd.DataFrame]:
    """Per ``(day, churn horizon, value horizon)``: ``churned`` (within the churn horizon) and
    ``future_value`` (within the value horizon) of every customer known at ``day``, from the
    data's transactions. Days of the same horizons are labelled in one query each (one per day,
    each reading the export again, cost 0.46 s a date over a year of weekly scorings). An end
    (``customers.ended_at``) within the churn horizon is churn, as in training, whatever was
    bought or paid ahead (``training.dataset``)."""
    from features.endings import customer_ends, ends_within
    from features.snapshots import connect, label_table

    if not days:
        return {}
    tables = connect(data_dir)
    ended_at = customer_ends(tables.customers)
    by_horizons: dict[tuple[int, int], list[date]] = {}
    for day, churn_days, value_days in days:
        by_horizons.setdefault((churn_days, value_days), []).append(day)
    found: dict[date, pd.DataFrame] = {}
    for (churn_days, value_days), group in by_horizons.items():
        key = ["customer_id", "cutoff"]
        churn = label_table(tables, group, churn_days).to_pandas()[[*key, "churned"]]
        churn.loc[ends_within(churn, ended_at, churn_days), "churned"] = 1
        worth = label_table(
            tables, group, value_days, value=value, annual_discount_rate=annual_discount_rate
        ).to_pandas()[[*key, "future_value"]]
        both = churn.merge(worth, on=key, how="outer")
        for cutoff, part in both.groupby("cutoff"):
            found[pd.Timestamp(cutoff).date()] = part.drop(columns="cutoff")
    return found


def realized_performance(
    reference: dict,
    history: dict[date, pd.DataFrame],
    data_dir: str | Path,
    as_of: date,
    data_end: date,
    cfg: MonitorConfig,
    labels: dict,
    references: Mapping[date, dict] | None = None,
) -> list[dict]:
    """Metrics of every kept scoring date whose churn horizon has passed by ``as_of`` (and lies
    within the data), compared with the test metrics of the pair that scored the date:
    ``references[day]``, else ``reference``."""
    from training.metrics import calibration_bins, churn_metrics, clv_metrics

    t = cfg.performance
    rows: list[dict[str, Any]] = []
    due = []
    for day in sorted(history):
        h = (references or {}).get(day, reference)["horizons"]
        if day + timedelta(days=h["churn"]) <= min(as_of, data_end):
            due.append((day, h["churn"], h["value"]))
    truths = outcomes(
        data_dir, due, labels.get("value", "revenue"), labels.get("annual_discount_rate", 0.0)
    )
    for day, _, h_value in due:
        scores = history[day]
        scored_by = (references or {}).get(day, reference)
        ref = scored_by["metrics"]
        truth = truths.get(day, pd.DataFrame(columns=["customer_id", "churned", "future_value"]))
        joined = scores.merge(truth, on="customer_id", how="inner")
        # the ended are known churn, scored by rule: the models' performance is on the others
        buyers = joined[scored_by_model(joined) & joined["churned"].notna().to_numpy()]
        if len(buyers) < t.min_customers:
            rows.append(
                {
                    "as_of": str(day),
                    "model_version": scored_by_version(scores),
                    "customers": len(buyers),
                    "level": "ok",
                    "skipped": f"fewer than {t.min_customers} scored buyers",
                }
            )
            continue
        y, p = (
            buyers["churned"].astype(int).to_numpy(),
            buyers["churn_probability"].to_numpy(dtype=float),
        )
        metrics = churn_metrics(y, p)
        value_matured = day + timedelta(days=h_value) <= min(as_of, data_end)
        if value_matured:
            metrics.update(
                clv_metrics(
                    buyers["future_value"].fillna(0.0).to_numpy(dtype=float),
                    buyers["predicted_value"].to_numpy(dtype=float),
                )
            )
        causes = {
            "churn_auc": _level(
                ref.get("churn_auc", np.nan) - metrics["churn_auc"],
                t.auc_drop_warn,
                t.auc_drop_alert,
            ),
            "churn_brier": _level(
                metrics["churn_brier"] - ref.get("churn_brier", np.nan),
                t.brier_rise_warn,
                t.brier_rise_alert,
            ),
            "churn_ece": _level(metrics["churn_ece"], t.ece_warn, t.ece_alert),
        }
        if value_matured:
            causes["clv_gini"] = _level(
                ref.get("clv_gini", np.nan) - metrics["clv_gini"],
                t.gini_drop_warn,
                t.gini_drop_alert,
            )
            causes["clv_mae"] = _level(
                metrics["clv_mae"] / ref["clv_mae"] if ref.get("clv_mae") else np.nan,
                t.mae_ratio_warn,
                t.mae_ratio_alert,
            )
            ratio = (
                metrics["clv_total_ratio"] / ref["clv_total_ratio"]
                if ref.get("clv_total_ratio")
                else np.nan
            )
            causes["clv_total_ratio"] = _level(
                abs(ratio - 1.0), t.total_ratio_off_warn, t.total_ratio_off_alert
            )
        groups = group_calibration(buyers, cfg, scored_by.get("held_out_groups"))
        if groups:
            causes["groups"] = _worst(g["level"] for g in groups)
        calibration = calibration_bins(y, p, n_bins=10)
        rows.append(
            {
                "as_of": str(day),
                "model_version": scored_by_version(scores),
                "customers": len(buyers),
                "value_matured": value_matured,
                "metrics": {k: float(v) for k, v in metrics.items()},
                "reference": {k: ref.get(k) for k in causes},
                "level": _worst(causes.values()),
                "because": [k for k, v in causes.items() if v != "ok"],
                "groups": groups,
                "calibration": calibration.to_dict("list"),
            }
        )
    return rows


def group_calibration(
    buyers: pd.DataFrame, cfg: MonitorConfig, held_out: list[dict] | None = None
) -> list[dict]:
    """Calibration in the large of each group of ``buyers`` (matured: ``churned``,
    ``churn_probability``) with at least ``group_min_customers``: mean predicted and observed churn
    and how far the group's gap (observed - predicted) is off that of all buyers
    (``training.group_gaps``), judged by its change from the same on the pair's held-out buyers
    (``held_out``: the reference's ``held_out_groups``; a group it does not hold, or a reference
    kept before it held any, is judged on its gap alone). A model stably off for a segment (0.10
    above its predictions at training and all year) named it on every matured date; a group
    that changed is named as before. The level counts only when a normal test under the predicted
    probabilities (the variance of the group's and the rest's observed rates, now and at
    training) finds the change unlikely by chance. ECE stayed under its warn line while a quarter
    of the customers (one segment) churned 8-11 points above their predictions."""
    from scipy.stats import norm

    t = cfg.performance
    trained = {(g["column"], g["group"]): g for g in held_out or []}
    rows = []
    for gap in group_gaps(
        buyers, buyers["churned"], buyers["churn_probability"], t.group_min_customers
    ):
        before = trained.get((gap["column"], gap["group"]))
        change = gap["off_all"] - (before["off_all"] if before else 0.0)
        spread = float(np.hypot(gap["spread"], before["spread"] if before else 0.0))
        p_value = float(2 * norm.sf(abs(change) / spread)) if spread > 0 else 1.0
        rows.append(
            {
                **gap,
                "held_out": before,
                "change": float(change),
                "p_value": p_value,
                "level": _level(abs(change), t.group_gap_warn, t.group_gap_alert)
                if p_value <= t.group_p_value_max
                else "ok",
            }
        )
    return rows


def scored_by_version(scores: pd.DataFrame) -> str | None:
    """The churn model version that scored a date (None: several, or not recorded)."""
    if "churn_model_version" not in scores:
        return None
    versions = set(scores["churn_model_version"].dropna().astype(str))
    return versions.pop() if len(versions) == 1 else None


# --------------------------------------------------------------------------- the verdict


@dataclass
class MonitorResult:
    """What ``monitor`` found; ``report`` is plain JSON."""

    report: dict

    @property
    def verdict(self) -> str:
        return self.report["verdict"]

    @property
    def exit_code(self) -> int:
        return ALERT_EXIT_CODE if self.verdict == "alert" else 0

    def summary(self) -> str:
        """One line: the verdict, how many checks are at each level, and the worst few."""
        r = self.report
        head = f"monitor {r['project']} v{r['model_version']} as of {r['as_of']}: "
        head += r["verdict"].upper()
        causes = r["causes"]
        if not causes:
            return head
        counts = ", ".join(
            f"{n} at {level}"
            for level in ("alert", "warn")
            if (n := sum(c["level"] == level for c in causes))
        )
        mixed = len({c["level"] for c in causes}) > 1
        shown = "; ".join(
            (f"{c['level']}: " if mixed else "") + f"{c['check']} {c['name']} ({c['why']})"
            for c in causes[:SUMMARY_CAUSES]
        )
        more = len(causes) - SUMMARY_CAUSES
        return f"{head} ({counts}): {shown}" + (f"; and {more} more" if more > 0 else "")


def verdict(
    inputs: list[dict], scores: list[dict], performance: list[dict]
) -> tuple[str, list[dict]]:
    """The worst level of all checks, and the checks at warn or alert (worst first). Dates scored
    by a version the champion replaced are not causes: what they measured led to the retraining,
    and alerting on them after it would never end."""
    causes = []
    for r in inputs:
        if r["level"] != "ok":
            causes.append(
                {
                    "check": "input",
                    "name": r["feature"],
                    "level": r["level"],
                    "why": ", ".join(f"{k} {_stat(r, k):.3f}" for k in r["because"]),
                }
            )
    for r in scores:
        if r["level"] != "ok":
            causes.append(
                {
                    "check": "score",
                    "name": r["score"],
                    "level": r["level"],
                    "why": f"psi {r['psi']:.3f}",
                }
            )
    for r in performance:
        if r["level"] != "ok" and not r.get("replaced"):
            causes.append(
                {
                    "check": "performance",
                    "name": r["as_of"],
                    "level": r["level"],
                    "why": ", ".join(
                        _groups_said(r["groups"])
                        if k == "groups"
                        else f"{k} {r['metrics'][k]:.3f} vs {r['reference'][k]:.3f}"
                        if r["reference"].get(k) is not None
                        else k
                        for k in r["because"]
                    ),
                }
            )
    causes.sort(key=lambda c: -LEVELS.index(c["level"]))
    return _worst(c["level"] for c in causes), causes


def _groups_said(groups: list[dict]) -> str:
    """The groups whose gap changed, most first: ``segment wholesale: predicted 0.61, observed
    0.78 (n=419), gap +0.17; at training predicted 0.60, observed 0.69 (n=402), gap +0.09`` (no
    gaps nor training part when the reference kept no held-out gap of the group)."""
    said = []
    for g in sorted((g for g in groups if g["level"] != "ok"), key=lambda g: -abs(g["change"])):
        now = f"{g['column']} {g['group']}: {_rates_said(g)}"
        if held := g.get("held_out"):
            now += f", {_gap_said(g)}; at training {_rates_said(held)}, {_gap_said(held)}"
        said.append(now)
    return ", ".join(said)


def _rates_said(g: Mapping) -> str:
    return f"predicted {g['predicted']:.2f}, observed {g['observed']:.2f} (n={g['customers']})"


def _gap_said(g: Mapping) -> str:
    return f"gap {g['observed'] - g['predicted']:+.2f}"


def _stat(row: dict, key: str) -> float:
    return {
        "psi": row["psi"],
        "ks": row["ks"],
        "median_shift": row["median_shift"],
        "missing": row["missing_change"],
        "new_category": row["new_category_rate"],
    }[key]


def drift_report(
    reference: dict,
    features: pd.DataFrame,
    scores: pd.DataFrame,
    cfg: MonitorConfig,
    as_of: date | None = None,
) -> tuple[list[dict], list[dict]]:
    """Input and score drift of one scoring date's buyers (prospects have no churn score and were
    not in the reference, nor were the ended, scored by rule)."""
    buyers = scored_by_model(scores)
    feature_buyers = features.set_index("customer_id").reindex(scores.loc[buyers, "customer_id"])
    inputs = input_drift(reference, feature_buyers, cfg, as_of)
    return inputs, score_drift(reference, scores[buyers], cfg)


def _with_groups(scores: pd.DataFrame, features: pd.DataFrame | None) -> pd.DataFrame:
    """``scores`` with the :data:`GROUP_COLUMNS` its features hold (:func:`group_calibration`)."""
    if features is None or "customer_id" not in features.columns:
        return scores
    kept = [c for c in GROUP_COLUMNS if c in features.columns and c not in scores.columns]
    if not kept:
        return scores
    return scores.merge(features[["customer_id", *kept]], on="customer_id", how="left")


def monitor(
    *,
    project: str,
    model_version: str,
    reference: dict,
    as_of: date,
    history: dict[date, tuple[pd.DataFrame, pd.DataFrame]],
    data_dir: str | Path,
    data_end: date,
    cfg: MonitorConfig,
    labels: dict | None = None,
    references: Mapping[date, dict] | None = None,
) -> MonitorResult:
    """The whole check for ``as_of`` (whose scores and features must be in ``history``);
    ``references``: per kept date, the reference of the pair that scored it (``reference``
    otherwise)."""
    scores, features = history[as_of]
    inputs, score_rows = drift_report(reference, features, scores, cfg, as_of)
    performance = realized_performance(
        reference,
        {d: _with_groups(s, f) for d, (s, f) in history.items() if d <= as_of},
        data_dir,
        as_of,
        data_end,
        cfg,
        labels or {},
        references,
    )
    for row in performance:  # judged and shown; the verdict is about the champion
        row["replaced"] = row["model_version"] not in (None, str(model_version))
    level, causes = verdict(inputs, score_rows, performance)
    return MonitorResult(
        {
            "project": project,
            "model_version": str(model_version),
            "as_of": str(as_of),
            "reference_cutoff": reference["cutoff"],
            "reference_customers": reference["customers"],
            "customers": len(scores),
            "scored_buyers": int(scored_by_model(scores).sum()),
            "verdict": level,
            "causes": causes,
            "thresholds": cfg.model_dump(),
            "input_drift": inputs,
            "score_drift": score_rows,
            "performance": performance,
            "reference": {
                "features": reference["features"],
                "scores": reference["scores"],
                "metrics": reference["metrics"],
            },
        }
    )
