"""Randomized retention campaigns on a synthetic data set, with the true per-customer effects.

Run after :func:`features.synthetic.generate` (``generate(..., campaigns=CampaignSpec())`` or
``lifecycle generate --campaigns``). At ``sent_at`` every *eligible* customer (a purchase in the
``eligible_days`` before) is randomly assigned to control or to one action with the known shares.
An action works on the customer's latent dropout time ``D`` (see ``features.synthetic``):

- **keep** (probability ``keep_prob``): a customer who is declining -- dropping out before the end
  of the window, or lapsed less than ``winback_days`` ago -- stays ``keep_days`` longer: new
  purchases follow the customer's own seasonal Poisson process on ``[max(D, sent_at), D')``.
  ``discount`` keeps price-sensitive customers (low order values), and complainers much less;
  ``call`` keeps high-value customers who had a complaint (a bad experience before ``sent_at``);
  ``email`` keeps a few of anyone.
- **annoy** (probability ``annoy_prob``): a *sleeping dog* (low engagement: rarely opens, visits or
  logs in) who is contacted drops out ``annoy_days`` after ``sent_at``: purchases after that are
  removed. A call annoys most, a discount least.

Exactly one of keep / annoy / nothing happens per treated customer. ``campaign_truth.parquet``
holds, per eligible customer and action, the keep and annoy probabilities and the *true effects*
on the window ``[sent_at, sent_at + horizon_days)`` -- ``tau_retained_<action>`` (change in the
probability of at least one purchase) and ``tau_value_<action>`` (change in expected revenue) --
computed in closed form from the customer's latent rate, spend and dropout time, plus what was
realised. ``truth.parquet``'s ``dropout_at`` becomes the realised dropout time. Engagement events
after ``sent_at`` are left as generated (models fit at later cutoffs see the old fade).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.campaigns import CAMPAIGNS, CONTROL, NO_ACTION, TREATED, typed_campaigns
from features.contract import MANIFEST
from features.synthetic_activity import poisson_points
from features.synthetic_params import epoch_days, seasonal_factor, seasonal_integral

ACTIONS = ("email", "discount", "call")


@dataclass(frozen=True)
class CampaignSpec:
    """One randomized retention campaign over several actions (costs per contact)."""

    sent_at: str = "2025-06-01"
    horizon_days: int = 90
    campaign_id: str = "retention-2025-06"
    actions: tuple[str, ...] = ACTIONS
    control_share: float = 0.25
    eligible_days: int = 365
    costs: dict[str, float] = field(
        default_factory=lambda: {"email": 0.1, "discount": 5.0, "call": 12.0}
    )
    keep_days: float = 365.0
    winback_days: float = 90.0
    annoy_days: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.actions) - set(ACTIONS))
        if unknown or not self.actions:
            raise ValueError(f"CampaignSpec.actions: unknown {unknown}; expected some of {ACTIONS}")
        if not 0.0 < self.control_share < 1.0:
            raise ValueError(
                f"CampaignSpec.control_share must be in (0, 1), got {self.control_share}"
            )
        if self.horizon_days < 1 or self.eligible_days < 1:
            raise ValueError("CampaignSpec.horizon_days and eligible_days must be >= 1")
        missing = sorted(set(self.actions) - set(self.costs))
        if missing:
            raise ValueError(f"CampaignSpec.costs: no cost for {missing}")


def effect_probabilities(
    truth: pd.DataFrame, sent_at: pd.Timestamp, spec: CampaignSpec
) -> pd.DataFrame:
    """Per customer and action: ``keep_prob_<a>`` and ``annoy_prob_<a>`` (rows aligned with
    truth)."""
    spend = truth["mean_spend"].to_numpy(float)
    value_rate = spend * truth["purchase_rate_per_day"].to_numpy(float)
    ok = np.isfinite(spend) & (value_rate > 0)
    spend_mid = np.nanmedian(spend[ok]) if ok.any() else 1.0
    value_mid = np.nanmedian(value_rate[ok]) if ok.any() else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        price_sensitive = 1.0 / (1.0 + (spend / spend_mid) ** 3)  # 0.5 at the median order value
        high_value = 1.0 / (1.0 + (value_rate / value_mid) ** -2)  # 0.5 at the median value rate
    price_sensitive, high_value = np.nan_to_num(price_sensitive), np.nan_to_num(high_value)
    complained = (truth["bad_experience_at"] < sent_at).fillna(False).to_numpy(bool)
    sleeping_dog = truth["engagement"].to_numpy(float) < 0.5
    keep = {
        "email": np.full(len(truth), 0.06),
        "discount": 0.6 * price_sensitive * np.where(complained, 0.2, 1.0),
        "call": 0.05 + 0.75 * high_value * complained,
    }
    annoy_scale = {"email": 0.6, "discount": 0.25, "call": 1.0}
    out = {}
    for a in spec.actions:
        annoy = 0.45 * annoy_scale[a] * sleeping_dog
        out[f"keep_prob_{a}"] = np.clip(keep[a], 0.0, 1.0 - annoy)
        out[f"annoy_prob_{a}"] = annoy
    return pd.DataFrame(out, index=truth.index)


def _window_exposure(
    rate, amplitude, begin: float, window_end: float, dropout: np.ndarray
) -> np.ndarray:
    stop = np.clip(dropout, begin, window_end)
    return rate * seasonal_integral(np.full_like(stop, begin), stop, amplitude)


def true_effects(truth: pd.DataFrame, spec: CampaignSpec) -> pd.DataFrame:
    """Closed-form expected window outcomes under control and each action, and their differences.

    Columns: ``customer_id``, ``base_retained``, ``base_value`` and per action ``keep_prob_<a>``,
    ``annoy_prob_<a>``, ``tau_retained_<a>``, ``tau_value_<a>`` (value = revenue).
    """
    sent = pd.Timestamp(spec.sent_at)
    begin = float(epoch_days(sent))
    end = begin + spec.horizon_days
    rate = truth["purchase_rate_per_day"].to_numpy(float)
    amp = truth["seasonal_amplitude"].to_numpy(float)
    spend = np.nan_to_num(truth["mean_spend"].to_numpy(float))
    dropout = np.nan_to_num(epoch_days(truth["dropout_at"]), nan=-np.inf)
    kept_d, annoyed_d = (
        _kept_dropout(dropout, begin, end, spec),
        np.minimum(dropout, begin + spec.annoy_days),
    )

    def outcomes(d):
        m = _window_exposure(rate, amp, begin, end, d)
        return 1.0 - np.exp(-m), spend * m

    base_r, base_v = outcomes(dropout)
    keep_r, keep_v = outcomes(kept_d)
    annoy_r, annoy_v = outcomes(annoyed_d)
    probs = effect_probabilities(truth, sent, spec)
    out = {
        "customer_id": truth["customer_id"].to_numpy(),
        "base_retained": base_r,
        "base_value": base_v,
    }
    for a in spec.actions:
        k, n = probs[f"keep_prob_{a}"].to_numpy(), probs[f"annoy_prob_{a}"].to_numpy()
        out[f"keep_prob_{a}"], out[f"annoy_prob_{a}"] = k, n
        out[f"tau_retained_{a}"] = k * (keep_r - base_r) + n * (annoy_r - base_r)
        out[f"tau_value_{a}"] = k * (keep_v - base_v) + n * (annoy_v - base_v)
    return pd.DataFrame(out)


def _kept_dropout(dropout: np.ndarray, begin: float, end: float, spec: CampaignSpec) -> np.ndarray:
    """Dropout after a successful retention action: declining or recently lapsed customers stay."""
    declining = (dropout < end) & (dropout >= begin - spec.winback_days)
    return np.where(declining, np.maximum(dropout, begin) + spec.keep_days, dropout)


def run_campaigns(
    data_dir: str | Path, spec: CampaignSpec | None = None, *, order_value_shape: float = 3.0
) -> dict:
    """Assign, realise and write one campaign into a generated data set; return row counts."""
    spec = spec or CampaignSpec()
    data_dir = Path(data_dir)
    manifest_file = data_dir / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    data_end = pd.Timestamp(manifest["end"])
    sent = pd.Timestamp(spec.sent_at)
    if sent + pd.Timedelta(days=spec.horizon_days) > data_end or sent < pd.Timestamp(
        manifest["start"]
    ):
        raise ValueError(
            f"campaign window {sent:%Y-%m-%d} + {spec.horizon_days} days must lie in the "
            f"generated period [{manifest['start']}, {manifest['end']})"
        )
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 16]))
    truth = pd.read_parquet(data_dir / "truth.parquet")
    tx = pd.read_parquet(data_dir / "transactions.parquet")

    recent = tx[
        (tx["amount"] > 0)
        & (tx["ordered_at"] < sent)
        & (tx["ordered_at"] >= sent - pd.Timedelta(days=spec.eligible_days))
    ]
    eligible = truth[truth["customer_id"].isin(set(recent["customer_id"]))].reset_index(drop=True)
    effects = true_effects(eligible, spec)
    n = len(eligible)
    shares = np.array(
        [spec.control_share] + [(1 - spec.control_share) / len(spec.actions)] * len(spec.actions)
    )
    arm_code = rng.choice(len(shares), size=n, p=shares)  # 0 = control, i = actions[i - 1]
    u = rng.random(n)
    begin = float(epoch_days(sent))
    end = begin + spec.horizon_days
    dropout = np.asarray(epoch_days(eligible["dropout_at"]))
    new_dropout = dropout.copy()
    kept, annoyed = np.zeros(n, bool), np.zeros(n, bool)
    for i, a in enumerate(spec.actions, start=1):
        on = arm_code == i
        k, m = effects[f"keep_prob_{a}"].to_numpy(), effects[f"annoy_prob_{a}"].to_numpy()
        kept |= on & (u < k)
        annoyed |= on & (u >= k) & (u < k + m)
    new_dropout = np.where(kept, _kept_dropout(dropout, begin, end, spec), new_dropout)
    new_dropout = np.where(annoyed, np.minimum(dropout, begin + spec.annoy_days), new_dropout)

    tx = _realise(
        tx,
        eligible,
        dropout,
        new_dropout,
        begin,
        float(epoch_days(data_end)),
        rng,
        order_value_shape,
    )
    _write_outputs(
        data_dir, spec, eligible, effects, arm_code, kept, annoyed, dropout, new_dropout, truth, tx
    )
    counts = {
        "campaigns": n,
        "treated": int((arm_code > 0).sum()),
        "kept": int(kept.sum()),
        "annoyed": int(annoyed.sum()),
        "transactions": len(tx),
    }
    manifest["rows"]["transactions"] = len(tx)
    manifest["rows"][CAMPAIGNS] = n
    manifest.setdefault("tables", {})["transactions"] = {
        "rows_read": len(tx),
        "accepted": len(tx),
        "quarantined": 0,
    }
    manifest["tables"][CAMPAIGNS] = {"rows_read": n, "accepted": n, "quarantined": 0}
    manifest["campaigns"] = {**asdict(spec), "realised": counts}
    manifest_file.write_text(json.dumps(manifest, indent=2, default=str))
    return counts


def _realise(
    tx: pd.DataFrame,
    customers: pd.DataFrame,
    dropout: np.ndarray,
    new_dropout: np.ndarray,
    begin: float,
    data_end: float,
    rng: np.random.Generator,
    shape: float,
) -> pd.DataFrame:
    """Remove the purchases an annoyed customer no longer makes; add those a kept customer makes."""
    ids = customers["customer_id"].to_numpy()
    earlier = new_dropout < dropout
    if earlier.any():
        cut = pd.Series(_to_timestamps(new_dropout[earlier]), index=ids[earlier])
        limit = tx["customer_id"].map(cut)
        tx = tx[~(limit.notna() & (tx["ordered_at"] >= limit) & (tx["amount"] > 0))]
    later = np.flatnonzero(new_dropout > dropout)
    if later.size == 0:
        return tx.reset_index(drop=True)
    start = np.maximum(dropout[later], begin)
    stop = np.minimum(new_dropout[later], data_end)
    rate = customers["purchase_rate_per_day"].to_numpy(float)[later]
    amp = customers["seasonal_amplitude"].to_numpy(float)[later]
    owner, time = poisson_points(rng, start, stop, rate * (1 + amp))
    keep = rng.random(owner.size) * (1 + amp[owner]) < seasonal_factor(time, amp[owner])
    owner, time = owner[keep], time[keep]
    spend = customers["mean_spend"].to_numpy(float)[later][owner]
    amount = np.maximum(np.round(rng.gamma(shape, spend / shape), 2), 0.01)
    who = ids[later][owner]
    past = tx[tx["customer_id"].isin(set(who)) & (tx["amount"] > 0)]
    margin_share = (
        past.groupby("customer_id")["margin"].sum() / past.groupby("customer_id")["amount"].sum()
    )
    category = past.groupby("customer_id")["category"].agg(lambda s: s.mode().iat[0])
    added = pd.DataFrame(
        {
            "customer_id": who,
            "ordered_at": _to_timestamps(time),
            "amount": amount,
            "order_id": [f"S{k + 1}" for k in range(owner.size)],
            "quantity": 1.0,
            "margin": np.round(amount * pd.Series(who).map(margin_share).fillna(0.3).to_numpy(), 2),
            "category": pd.Series(who).map(category).to_numpy(),
        }
    )
    out = pd.concat([tx, added.astype(tx.dtypes.to_dict())], ignore_index=True)
    return out.sort_values(["customer_id", "ordered_at"], kind="stable").reset_index(drop=True)


def _to_timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    return (
        pd.Timestamp("1970-01-01") + pd.to_timedelta(np.asarray(days) * 86_400e6, unit="us")
    ).as_unit("us")


def _write_outputs(
    data_dir, spec, eligible, effects, arm_code, kept, annoyed, dropout, new_dropout, truth, tx
) -> None:
    arms = np.array([NO_ACTION, *spec.actions], dtype=object)[arm_code]
    costs = np.array([0.0] + [spec.costs[a] for a in spec.actions])[arm_code]
    campaigns = pd.DataFrame(
        {
            "customer_id": eligible["customer_id"].to_numpy(),
            "sent_at": pd.Timestamp(spec.sent_at),
            "campaign_id": spec.campaign_id,
            "action": arms,
            "arm": np.where(arm_code > 0, TREATED, CONTROL),
            "cost": costs,
        }
    )
    typed_campaigns(campaigns).to_parquet(data_dir / f"{CAMPAIGNS}.parquet", index=False)
    camp_truth = effects.assign(
        campaign_id=spec.campaign_id,
        action=arms,
        kept=kept,
        annoyed=annoyed,
        dropout_at_before=_to_timestamps(np.nan_to_num(dropout, nan=0.0)),
        dropout_at_after=_to_timestamps(np.nan_to_num(new_dropout, nan=0.0)),
    )
    camp_truth.to_parquet(data_dir / "campaign_truth.parquet", index=False)
    realised = pd.Series(_to_timestamps(new_dropout), index=eligible["customer_id"].to_numpy())
    changed = truth["customer_id"].map(realised)
    truth = truth.assign(
        dropout_at=changed.where(changed.notna(), truth["dropout_at"]).astype(
            truth["dropout_at"].dtype
        )
    )
    truth.to_parquet(data_dir / "truth.parquet", index=False)
    tx.to_parquet(data_dir / "transactions.parquet", index=False)
