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
- **ensemble**: the mean of the T-, X- and DR-learners' effects.

Value outcomes can be modelled in two parts (``transform``): the uplift of a 0/1 driver
(``positive_part``: value > 0, e.g. a purchase; ``retained``: the retained outcome) times a
regressor of the value among the rows where the driver is 1 (both arms pooled), or
(``retained_mean``) times their mean value, one number. This assumes the action moves whether a
customer buys, not how much a buyer spends; a rare driver (1% conversions) then gets a
classifier instead of a regressor of a mostly-zero, heavy-tailed value. ``retained_mean`` ranks
customers by the retention uplift alone: a per-customer value regressor multiplies the driver
effect's noise by the largest values, so customers with a noise-level effect and a high value
crowd the top of the ranking.
Which learner, transform and regularisation to use is chosen on training customers only by
``training.uplift_select``.

Cross-fitting: nuisance predictions for a customer come from models that did not see them.
Propensity: ``known`` (randomized data: the treated share, or the per-row design probability
passed in), or ``estimated`` by a cross-fitted classifier. Either way the propensity is checked:
the cross-fitted classifier's AUC for treated vs control (0.5 = no confounding visible) and the
share of customers outside the clip range are returned as :class:`PropensityCheck`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from lightgbm.basic import _data_from_pandas
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import StratifiedKFold

from training.metrics import roc_auc
from training.models import FeatureEncoder

Learner = Literal["t", "x", "dr", "ensemble"]
Transform = Literal["direct", "positive_part", "retained", "retained_mean"]
BASE_LEARNERS = ("t", "x", "dr")


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
    transform: Transform = Field(
        "direct",
        description="value outcomes: direct (model the value), positive_part (uplift of "
        "P(value > 0) x E[value | value > 0]) or retained (uplift of P(retained) x "
        "E[value | retained]) or retained_mean (uplift of P(retained) x the mean value of the "
        "retained, one number); 0/1 outcomes: direct only",
    )
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
        description="LightGBM threads per fit: one, since many small fits gain nothing from "
        "threads on a shared machine",
    )


#: An assignment looks randomized while the check's AUC stays under this, or within
#: ``CHECK_SIGMAS`` standard errors of 0.5 (the Mann-Whitney null: a few hundred customers give
#: AUCs of 0.55 by chance).
RANDOM_AUC_BELOW = 0.55
CHECK_SIGMAS = 3.0
#: With an estimated propensity, more customers than this share outside the clip range means
#: the arms barely overlap: the effect would be extrapolated, not measured.
OVERLAP_CLIPPED_MAX = 0.10


@dataclass(frozen=True)
class PropensityCheck:
    """How treatment assignment looks: AUC of a cross-fitted classifier, and overlap."""

    treated_share: float
    auc: float
    clipped_share: float  # share of customers whose propensity was clipped
    source: str  # "known" | "estimated"
    customers: int = 0  # checked (treated and control)
    #: the AUC the known design propensity itself reaches (campaigns of one action pooled with
    #: different treated shares: who was in which campaign tells the arm apart that much)
    design_auc: float = 0.5

    @property
    def null_se(self) -> float:
        """Standard error of the AUC when assignment is random (Mann-Whitney)."""
        n1 = self.treated_share * self.customers
        n0 = self.customers - n1
        return float(np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))) if n0 >= 1 and n1 >= 1 else 0.0

    @property
    def looks_randomized(self) -> bool:
        base = max(0.5, self.design_auc)
        return not (
            self.auc >= base + RANDOM_AUC_BELOW - 0.5
            and self.auc > base + CHECK_SIGMAS * self.null_se
        )

    def untrusted_because(self) -> str | None:
        """Why effects measured on this assignment cannot be trusted, in words (None: they can):
        a known propensity needs a randomized look, an estimated one overlap of the arms."""
        if self.source == "known" and not self.looks_randomized:
            return (
                f"the contacted and the control customers differ: a classifier tells them apart "
                f"with AUC {self.auc:.3f} (random assignment: about 0.5), so the difference in "
                "outcomes is partly who was picked, not the action; if contacts were targeted, "
                "fit with uplift: {propensity: estimated}"
            )
        if (  # a lopsided but random design (a 5% holdout) clips many: confounding must show
            self.source == "estimated"
            and not self.looks_randomized
            and self.clipped_share > OVERLAP_CLIPPED_MAX
        ):
            return (
                f"{self.clipped_share:.0%} of the customers had (almost) no chance of being in "
                "the other arm (estimated propensity outside the clip range): the effect would "
                "be extrapolated, not measured"
            )
        return None


def _lgb(config: UpliftConfig, kind: str, seed_offset: int = 0):
    kwargs: dict[str, Any] = {
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


@dataclass(frozen=True)
class EncodedRows:
    """Encoded feature rows as LightGBM reads them, converted from pandas once.

    Every fit and prediction of a learner would otherwise convert the frame again (category
    codes, one float matrix): most of the time of a small run. ``values`` is exactly what
    LightGBM makes of the frame (its own conversion), so models and predictions are unchanged;
    rows are selected with ``rows[mask]`` or ``rows.iloc[index]`` like a frame.
    """

    values: np.ndarray
    columns: list[str]
    categorical: list[str] | list[int]  # names here (LightGBM takes either)
    pandas_categorical: list[list]

    @classmethod
    def of(cls, x: pd.DataFrame | EncodedRows) -> EncodedRows:
        if isinstance(x, EncodedRows):
            return x
        values, names, categorical, pandas_categorical = _data_from_pandas(x, "auto", "auto", None)
        return cls(values, list(names), categorical, pandas_categorical)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows) -> EncodedRows:
        return replace(self, values=self.values[rows])

    @property
    def iloc(self) -> EncodedRows:
        return self


class _Outcome:
    """E[y | x] for one arm: a classifier for 0/1 outcomes, a regressor otherwise."""

    constant_: float | None  # the mean of a one-class outcome, else None (model_ fitted)

    def __init__(self, binary: bool, config: UpliftConfig, seed_offset: int):
        self.binary, self.config, self.seed_offset = binary, config, seed_offset

    def fit(self, x: pd.DataFrame | EncodedRows, y: np.ndarray) -> _Outcome:
        if self.binary and len(np.unique(y)) < 2:
            self.constant_ = float(np.mean(y)) if len(y) else 0.0
            return self
        self.constant_ = None
        self.model_ = _lgb(
            self.config, "classifier" if self.binary else "regressor", self.seed_offset
        )
        rows = EncodedRows.of(x)
        self.model_.fit(
            rows.values,
            y.astype(int) if self.binary else y,
            feature_name=rows.columns,
            categorical_feature=rows.categorical,
        )
        # as when fit on the frame: a saved booster maps a frame's categories to these codes
        self.model_.booster_.pandas_categorical = rows.pandas_categorical
        return self

    def predict(self, x: pd.DataFrame | EncodedRows) -> np.ndarray:
        if self.constant_ is not None:
            return np.full(len(x), self.constant_)
        if isinstance(x, EncodedRows):  # the booster's output: P(1) for a 0/1 outcome
            threads = self.model_._process_n_jobs(self.model_.n_jobs)  # as the wrapper would
            return self.model_.booster_.predict(x.values, num_threads=threads)
        return self.model_.predict_proba(x)[:, 1] if self.binary else self.model_.predict(x)


def stratified_folds(
    treated: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(treated)), treated.astype(int)))


def _crossfit(x, treated, y, binary, config, folds, with_propensity: bool):
    """Out-of-fold mu0, mu1 (and e) for every row."""
    x = EncodedRows.of(x)
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
    """Cross-fitted P(treated | x), its AUC, and the propensity used (known or estimated,
    clipped)."""
    folds = folds or stratified_folds(treated, config.folds, config.seed)
    x = EncodedRows.of(x)
    est, seen = np.zeros(len(x)), np.zeros(len(x))
    for k, (train, test) in enumerate(folds):
        clf = _Outcome(True, config, 10 * k + 3).fit(x.iloc[train], treated[train].astype(float))
        est[test] = clf.predict(x.iloc[test])
        # the check's own classifier, with leaves small enough to split a campaign of a few
        # hundred (with the outcome models' 100 per leaf, a fit on under 200 rows is a
        # constant: AUC 0.5); the learners keep ``est``
        leaf = min(config.min_child_samples, max(5, len(train) // 20))
        if leaf == config.min_child_samples:
            seen[test] = est[test]
        else:
            small = config.model_copy(update={"min_child_samples": leaf})
            fit = _Outcome(True, small, 10 * k + 4).fit(x.iloc[train], treated[train].astype(float))
            seen[test] = fit.predict(x.iloc[test])
    auc = roc_auc(treated, seen)  # nan with one arm
    design = 0.5
    if known is not None and np.ndim(known) and np.ptp(np.asarray(known, float)) > 0:
        design = roc_auc(treated, np.asarray(known, float))
    used = est if known is None else np.broadcast_to(np.asarray(known, float), est.shape).copy()
    lo, hi = config.propensity_clip, 1 - config.propensity_clip
    clipped = float(np.mean((used < lo) | (used > hi)))
    check = PropensityCheck(
        float(treated.mean()),
        auc,
        clipped,
        "estimated" if known is None else "known",
        len(treated),
        design,
    )
    return np.clip(used, lo, hi), check


def member_effect(learner: str, part, share: float, clip: float) -> np.ndarray:
    """One meta-learner's effect from its fitted parts; ``part(name)`` predicts a part (or None).

    Shared by the fitted :class:`UpliftModel` and the registered files
    (``training.uplift_registry.UpliftSet``), so both predict the same.
    """
    if learner == "t":
        return part("mu1_") - part("mu0_")
    if learner == "x":
        tau0, tau1, e = part("tau0_"), part("tau1_"), part("blend_")
        e = np.full(len(tau0), share) if e is None else e
        e = np.clip(e, clip, 1 - clip)
        return e * tau0 + (1 - e) * tau1
    if learner == "dr":
        return part("tau_")
    raise ValueError(f"unknown meta-learner {learner!r} (expected t, x or dr)")


def members_of(learner: str) -> tuple[str, ...]:
    """The meta-learners a learner setting averages: itself, or T, X and DR for ``ensemble``."""
    return BASE_LEARNERS if learner == "ensemble" else (learner,)


class UpliftModel:
    """A fitted meta-learner: ``predict(frame)`` gives the estimated effect per row.

    ``members_`` maps each meta-learner averaged (one, or T, X and DR for ``ensemble``) to its
    fitted parts; ``scale_`` (two-part value transforms) is the model of the value given the
    driver outcome, which multiplies the averaged driver effect.
    """

    encoder_: FeatureEncoder
    members_: dict[str, dict[str, _Outcome]]
    scale_: _Outcome | None
    share_: float
    propensity_check_: PropensityCheck | None

    def __init__(self, columns: list[str], config: UpliftConfig, binary: bool):
        self.columns, self.config, self.binary = list(columns), config, binary

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_encoded(self.encoder_.transform(frame))

    def predict_encoded(self, x: pd.DataFrame) -> np.ndarray:
        """The effect for rows already encoded by ``encoder_``."""
        return self.effect_of(self.members_, x)

    def effect_of(self, members, x: pd.DataFrame, scaled: bool = True) -> np.ndarray:
        """The mean effect of ``members`` (times the value scale when ``scaled``)."""
        scale = self.scale_ if scaled else None
        return _combined(members, scale, x, self.share_, self.config.propensity_clip)


def _combined(members, scale, x, share: float, clip: float) -> np.ndarray:
    effects = [
        member_effect(
            learner,
            lambda name, parts=parts: parts[name].predict(x) if name in parts else None,
            share,
            clip,
        )
        for learner, parts in members.items()
    ]
    effect = np.mean(effects, axis=0)
    return effect if scale is None else effect * np.clip(scale.predict(x), 0, None)


def _fit_members(
    x: pd.DataFrame,
    treated: np.ndarray,
    y: np.ndarray,
    binary: bool,
    config: UpliftConfig,
    folds,
    e: np.ndarray,
    learners: tuple[str, ...],
) -> dict[str, dict[str, _Outcome]]:
    """Fit the meta-learners ``learners``; X and DR share one cross-fitted nuisance."""
    x = EncodedRows.of(x)
    members: dict[str, dict[str, _Outcome]] = {}
    if "t" in learners:
        members["t"] = {
            "mu0_": _Outcome(binary, config, 1).fit(x[~treated], y[~treated]),
            "mu1_": _Outcome(binary, config, 2).fit(x[treated], y[treated]),
        }
    if not {"x", "dr"} & set(learners):
        return members
    mu0, mu1, _ = _crossfit(x, treated, y, binary, config, folds, with_propensity=False)
    if "x" in learners:
        d1, d0 = y[treated] - mu0[treated], mu1[~treated] - y[~treated]
        members["x"] = {
            "tau1_": _Outcome(False, config, 4).fit(x[treated], d1),
            "tau0_": _Outcome(False, config, 5).fit(x[~treated], d0),
        }
        if config.propensity == "estimated":
            members["x"]["blend_"] = _Outcome(True, config, 6).fit(x, treated.astype(float))
    if "dr" in learners:
        t = treated.astype(float)
        pseudo = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
        members["dr"] = {"tau_": _Outcome(False, config, 7).fit(x, pseudo)}
    return members


def driver_outcome(
    transform: Transform, y: np.ndarray, retained: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(driver, scaled_rows)``: the outcome the meta-learner models and the rows the value
    scale is fit on (None for ``direct``: no scale)."""
    if transform == "direct":
        return y, None
    if transform == "positive_part":
        positive = y > 0
        return positive.astype(float), positive
    if retained is None:
        raise ValueError(f"the {transform!r} value transform needs the retained outcome")
    retained = np.asarray(retained, dtype=float)
    if not np.isin(retained, (0.0, 1.0)).all():
        raise ValueError(f"the {transform!r} value transform needs a 0/1 retained outcome")
    return retained, retained == 1


def fit_encoded(
    model: UpliftModel,
    x: pd.DataFrame,
    treated: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    folds,
    retained: np.ndarray | None = None,
    learners: tuple[str, ...] | None = None,
) -> UpliftModel:
    """Fit ``model`` (config, binary set) on rows already encoded; ``e`` the clipped propensity.
    ``learners``: the meta-learners to fit (default: those of ``config.learner``)."""
    config = model.config
    if model.binary and config.transform != "direct":
        raise ValueError(
            f"the {config.transform!r} transform is for value outcomes; this outcome is 0/1"
        )
    driver, scaled = driver_outcome(config.transform, y, retained)
    x = EncodedRows.of(x)
    binary = model.binary or config.transform != "direct"
    learners = members_of(config.learner) if learners is None else learners
    model.members_ = _fit_members(x, treated, driver, binary, config, folds, e, learners)
    model.scale_ = None
    if scaled is not None and config.transform == "retained_mean":
        model.scale_ = _mean_scale(config, y, scaled)
    elif scaled is not None:
        model.scale_ = _Outcome(False, config, 9).fit(x[scaled], y[scaled])
        if not scaled.any():
            model.scale_.constant_ = 0.0
    model.share_ = float(treated.mean())
    return model


def _mean_scale(config: UpliftConfig, y: np.ndarray, scaled: np.ndarray) -> _Outcome:
    """The ``retained_mean`` scale: one number, the mean value of the ``scaled`` rows (0: none)."""
    scale = _Outcome(False, config, 9)
    scale.constant_ = float(y[scaled].mean()) if scaled.any() else 0.0
    return scale


def with_mean_value(retention: UpliftModel, y, retained) -> UpliftModel:
    """The ``retained_mean`` value model of a fitted retention model: the same driver models
    (what ``fit_uplift`` with ``transform="retained_mean"`` fits on these rows), their effect times
    the mean of ``y`` over the rows with ``retained`` = 1; no model is fitted again."""
    if not retention.binary or retention.config.transform != "direct":
        raise ValueError("with_mean_value needs a model of the 0/1 retained outcome")
    y = np.asarray(y, dtype=float)
    _, scaled = driver_outcome("retained_mean", y, retained)  # checks the 0/1 outcome
    assert scaled is not None  # every two-part transform has scaled rows
    model = copy.copy(retention)
    model.config = retention.config.model_copy(update={"transform": "retained_mean"})
    model.binary = False
    model.scale_ = _mean_scale(model.config, y, scaled)
    return model


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
    retained=None,
) -> UpliftModel:
    """Fit one action-vs-control uplift model; ``binary`` defaults to "y is 0/1".

    ``propensity`` is the known design probability of treatment (scalar or per row); with
    ``config.propensity == "known"`` and none given, the treated share is used. With a known
    propensity, ``check_assignment=False`` skips the assignment check (done once per action by
    the caller); ``propensity_check_`` is then None. ``retained`` (0/1 per row) is needed by
    the ``retained`` value transform only.
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
    x = EncodedRows.of(model.encoder_.transform(frame))
    folds = stratified_folds(treated, config.folds, config.seed)
    e, model.propensity_check_ = assignment_propensity(
        x, treated, config, folds, propensity, check_assignment
    )
    return fit_encoded(model, x, treated, y, e, folds, retained)


def assignment_propensity(x, treated, config: UpliftConfig, folds, propensity, check: bool):
    """The clipped propensity the learners use and the assignment check (None when skipped)."""
    known = None
    if config.propensity == "known":
        known = treated.mean() if propensity is None else propensity
    if known is not None and not check:
        lo, hi = config.propensity_clip, 1 - config.propensity_clip
        return np.clip(np.broadcast_to(np.asarray(known, float), (len(x),)), lo, hi), None
    return check_propensity(x, treated, config, folds, known)


def fit_response(
    frame: pd.DataFrame, treated, y, columns: list[str], config: UpliftConfig | None = None
):
    """The response model baseline: P(outcome | x) among the treated only (no control group)."""
    config = config or UpliftConfig()
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    encoder = FeatureEncoder(columns).fit(frame)
    x = EncodedRows.of(encoder.transform(frame))
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    model = _Outcome(binary, config, 8).fit(x[treated], y[treated])
    return lambda new: model.predict(encoder.transform(new))
