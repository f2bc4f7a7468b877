"""Uplift (conditional treatment effect) meta-learners on LightGBM, one action against control.

``fit_uplift(frame, treated, y, columns, config)`` returns an :class:`UpliftModel` whose
``predict(frame)`` is the estimated effect of the action on the outcome per customer:
the change in P(retained) for a 0/1 outcome, the change in expected value for a value outcome.

- **T-learner**: ``mu1(x) - mu0(x)``, one outcome model per arm.
- **X-learner**: cross-fitted outcome models impute each customer's effect (``y - mu0(x)`` for
  the treated, ``mu1(x) - y`` for the controls); two effect models are fit on these and blended
  with the propensity: ``e(x) tau0(x) + (1 - e(x)) tau1(x)``.
- **DR-learner**: cross-fitted ``mu0``, ``mu1`` (and ``e`` when estimated) give the doubly robust
  pseudo-outcome ``mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e)``, regressed on x.

Cross-fitting: nuisance predictions for a customer come from models that did not see them.
Propensity: ``known`` (randomized data: the treated share, or the per-row design probability
passed in), or ``estimated`` by a cross-fitted classifier. Either way the propensity is checked:
the cross-fitted classifier's AUC for treated vs control (0.5 = no confounding visible) and the
share of customers outside the clip range are returned as :class:`PropensityCheck`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import StratifiedKFold

from training.metrics import roc_auc
from training.models import FeatureEncoder

Learner = Literal["t", "x", "dr"]


class UpliftConfig(BaseModel):
    """Meta-learner settings (defaults are generic, not tuned to any data set).

    ``learner`` is the one registered for scoring (``lifecycle uplift --project``). Default X: on
    heavy-tailed revenue the DR pseudo-outcome (residuals divided by the propensity) is the
    noisiest target; measured on the synthetic campaign (docs/results.md) the X-learner's value
    policy beat the DR-learner's for the discount and the call (for the email every ranking lost
    value).
    """

    model_config = ConfigDict(extra="forbid")

    learner: Learner = "x"
    folds: int = Field(3, ge=2, le=10)
    propensity: Literal["known", "estimated"] = "known"
    propensity_clip: float = Field(0.02, gt=0.0, lt=0.5)
    n_estimators: int = Field(200, ge=10, le=5000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    num_leaves: int = Field(15, ge=2, le=1024)
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0.0, le=1.0)
    lambda_l2: float = Field(1.0, ge=0.0)
    seed: int = 0
    n_jobs: int = Field(
        1,
        ge=-1,
        description="LightGBM threads per fit: one, since many small fits gain nothing from threads on a shared machine",
    )


@dataclass(frozen=True)
class PropensityCheck:
    """How treatment assignment looks: AUC of a cross-fitted classifier, and overlap."""

    treated_share: float
    auc: float
    clipped_share: float  # share of customers whose propensity was clipped
    source: str  # "known" | "estimated"

    @property
    def looks_randomized(self) -> bool:
        return self.auc < 0.55


def _lgb(config: UpliftConfig, kind: str, seed_offset: int = 0):
    kwargs = {
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "colsample_bytree": config.feature_fraction,
        "reg_lambda": config.lambda_l2,
        "random_state": config.seed + seed_offset,
        "n_jobs": config.n_jobs,
        "verbose": -1,
        "deterministic": True,
        "force_col_wise": True,
    }
    return lgb.LGBMClassifier(**kwargs) if kind == "classifier" else lgb.LGBMRegressor(**kwargs)


class _Outcome:
    """E[y | x] for one arm: a classifier for 0/1 outcomes, a regressor otherwise."""

    def __init__(self, binary: bool, config: UpliftConfig, seed_offset: int):
        self.binary, self.config, self.seed_offset = binary, config, seed_offset

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> _Outcome:
        if self.binary and len(np.unique(y)) < 2:
            self.constant_ = float(np.mean(y)) if len(y) else 0.0
            return self
        self.constant_ = None
        self.model_ = _lgb(
            self.config, "classifier" if self.binary else "regressor", self.seed_offset
        )
        self.model_.fit(x, y.astype(int) if self.binary else y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        if self.constant_ is not None:
            return np.full(len(x), self.constant_)
        return self.model_.predict_proba(x)[:, 1] if self.binary else self.model_.predict(x)


def _folds(treated: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(treated)), treated.astype(int)))


def _crossfit(x, treated, y, binary, config, folds, with_propensity: bool):
    """Out-of-fold mu0, mu1 (and e) for every row."""
    n = len(x)
    mu0, mu1, e = np.zeros(n), np.zeros(n), np.full(n, np.nan)
    for k, (train, test) in enumerate(folds):
        t_train = treated[train]
        xt = x.iloc[train]
        m0 = _Outcome(binary, config, 10 * k + 1).fit(xt[~t_train], y[train][~t_train])
        m1 = _Outcome(binary, config, 10 * k + 2).fit(xt[t_train], y[train][t_train])
        mu0[test], mu1[test] = m0.predict(x.iloc[test]), m1.predict(x.iloc[test])
        if with_propensity:
            clf = _Outcome(True, config, 10 * k + 3).fit(xt, t_train.astype(float))
            e[test] = clf.predict(x.iloc[test])
    return mu0, mu1, e


def check_propensity(
    x: pd.DataFrame,
    treated: np.ndarray,
    config: UpliftConfig,
    folds=None,
    known: np.ndarray | None = None,
) -> tuple[np.ndarray, PropensityCheck]:
    """Cross-fitted P(treated | x), its AUC, and the propensity used (known or estimated, clipped)."""
    folds = folds or _folds(treated, config.folds, config.seed)
    est = np.zeros(len(x))
    for k, (train, test) in enumerate(folds):
        clf = _Outcome(True, config, 10 * k + 3).fit(x.iloc[train], treated[train].astype(float))
        est[test] = clf.predict(x.iloc[test])
    auc = roc_auc(treated, est)  # nan with one arm
    used = est if known is None else np.broadcast_to(np.asarray(known, float), est.shape).copy()
    lo, hi = config.propensity_clip, 1 - config.propensity_clip
    clipped = float(np.mean((used < lo) | (used > hi)))
    check = PropensityCheck(
        float(treated.mean()), auc, clipped, "estimated" if known is None else "known"
    )
    return np.clip(used, lo, hi), check


class UpliftModel:
    """A fitted meta-learner: ``predict(frame)`` gives the estimated effect per row."""

    def __init__(self, columns: list[str], config: UpliftConfig, binary: bool):
        self.columns, self.config, self.binary = list(columns), config, binary

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.encoder_.transform(frame)
        if self.config.learner == "t":
            return self.mu1_.predict(x) - self.mu0_.predict(x)
        if self.config.learner == "x":
            e = self.blend_.predict(x) if self.blend_ is not None else np.full(len(x), self.share_)
            e = np.clip(e, self.config.propensity_clip, 1 - self.config.propensity_clip)
            return e * self.tau0_.predict(x) + (1 - e) * self.tau1_.predict(x)
        return self.tau_.predict(x)


def fit_uplift(
    frame: pd.DataFrame,
    treated,
    y,
    columns: list[str],
    config: UpliftConfig | None = None,
    *,
    binary: bool | None = None,
    propensity: np.ndarray | float | None = None,
    check_assignment: bool = True,
) -> UpliftModel:
    """Fit one action-vs-control uplift model; ``binary`` defaults to "y is 0/1".

    ``propensity`` is the known design probability of treatment (scalar or per row); with
    ``config.propensity == "known"`` and none given, the treated share is used. With a known
    propensity, ``check_assignment=False`` skips the assignment check (done once per action by
    the caller); ``propensity_check_`` is then None.
    """
    config = config or UpliftConfig()
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    if len(treated) != len(frame) or len(y) != len(frame):
        raise ValueError(
            f"fit_uplift: {len(frame)} rows but {len(treated)} arms and {len(y)} outcomes"
        )
    if np.isnan(y).any():
        raise ValueError("fit_uplift: the outcome has missing values")
    if treated.all() or not treated.any():
        raise ValueError("fit_uplift: needs both treated and control customers")
    binary = bool(np.isin(y, (0.0, 1.0)).all()) if binary is None else binary
    model = UpliftModel(columns, config, binary)
    model.encoder_ = FeatureEncoder(columns).fit(frame)
    x = model.encoder_.transform(frame)
    folds = _folds(treated, config.folds, config.seed)
    known = None
    if config.propensity == "known":
        known = treated.mean() if propensity is None else propensity
    if known is not None and not check_assignment:
        lo, hi = config.propensity_clip, 1 - config.propensity_clip
        e = np.clip(np.broadcast_to(np.asarray(known, float), (len(x),)), lo, hi)
        model.propensity_check_ = None
    else:
        e, model.propensity_check_ = check_propensity(x, treated, config, folds, known)
    model.share_ = float(treated.mean())
    if config.learner == "t":
        model.mu0_ = _Outcome(binary, config, 1).fit(x[~treated], y[~treated])
        model.mu1_ = _Outcome(binary, config, 2).fit(x[treated], y[treated])
        return model
    mu0, mu1, _ = _crossfit(x, treated, y, binary, config, folds, with_propensity=False)
    if config.learner == "x":
        d1, d0 = y[treated] - mu0[treated], mu1[~treated] - y[~treated]
        model.tau1_ = _Outcome(False, config, 4).fit(x[treated], d1)
        model.tau0_ = _Outcome(False, config, 5).fit(x[~treated], d0)
        model.blend_ = None
        if config.propensity == "estimated":
            model.blend_ = _Outcome(True, config, 6).fit(x, treated.astype(float))
        return model
    t = treated.astype(float)
    pseudo = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
    model.tau_ = _Outcome(False, config, 7).fit(x, pseudo)
    return model


def fit_response(
    frame: pd.DataFrame, treated, y, columns: list[str], config: UpliftConfig | None = None
):
    """The response model baseline: P(outcome | x) among the treated only (no control group)."""
    config = config or UpliftConfig()
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    encoder = FeatureEncoder(columns).fit(frame)
    x = encoder.transform(frame)
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    model = _Outcome(binary, config, 8).fit(x[treated], y[treated])
    return lambda new: model.predict(encoder.transform(new))
