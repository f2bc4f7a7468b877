"""Choose an uplift model by cross-validation on training customers only.

``select_uplift(frame, treated, y, columns, base, selection)`` splits the rows it is given (the
training customers of one action vs control; held-out customers are never passed in) into
``inner_folds`` stratified folds. Every candidate -- meta-learner (T, X, DR, or their
``ensemble``) x regularisation preset x value transform (``direct``, ``positive_part``,
``retained``; 0/1 outcomes: ``direct`` only) -- is fit on the other folds and scored on each
fold by the Qini coefficient of the *observed* outcome (the quantity reported on held-out
customers), averaged over folds. The best candidate then has its number of cross-fitting
folds chosen the same way (``crossfit_folds``, when it cross-fits), and is refit on all rows.

Ties go to the earlier candidate in the grid order (simpler first). The selection reads only
the rows passed in, so the result is a function of the training rows: ``evaluate`` passes
``~held_out`` rows only, which a test checks by changing held-out outcomes.

Value outcomes with a retained outcome beside them (``value_from_retention``, the default) are
not selected on their own Qini: the model chosen for *retention* becomes the value
model with the ``retained_mean`` transform (retention uplift x the mean value of the retained). On
heavy-tailed revenue the inner folds' value Qini varies as much as it differs between
candidates (docs/results.md: standard deviations of the order of the means), so selecting on it
picks by noise, and a per-customer value scale lets noise-level effects of high-value customers
lead the ranking; the retention Qini of a 0/1 outcome is far steadier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from training.models import FeatureEncoder
from training.uplift import (
    EncodedRows,
    Learner,
    Transform,
    UpliftConfig,
    UpliftModel,
    assignment_propensity,
    fit_encoded,
    members_of,
    stratified_folds,
    with_mean_value,
)
from training.uplift_metrics import qini_coefficient


class Regularisation(BaseModel):
    """A named set of LightGBM settings for every model of a candidate."""

    model_config = ConfigDict(extra="forbid")

    name: str
    n_estimators: int = Field(ge=10, le=5000)
    learning_rate: float = Field(gt=0.0, le=1.0)
    num_leaves: int = Field(ge=2, le=1024)
    min_child_samples: int = Field(ge=1)
    lambda_l2: float = Field(1.0, ge=0.0)


#: From today's default (light) to nearly additive stumps on large leaves (strong).
DEFAULT_REGULARISATION = [
    Regularisation(
        name="light", n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=100
    ),
    Regularisation(
        name="medium", n_estimators=150, learning_rate=0.03, num_leaves=7, min_child_samples=300
    ),
    Regularisation(
        name="strong",
        n_estimators=100,
        learning_rate=0.03,
        num_leaves=3,
        min_child_samples=1000,
        lambda_l2=10.0,
    ),
]


class SelectionConfig(BaseModel):
    """The candidate grid and the inner cross-validation; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")

    inner_folds: int = Field(3, ge=2, le=10)
    learners: list[Learner] = ["t", "x", "dr", "ensemble"]
    regularisation: list[Regularisation] = DEFAULT_REGULARISATION
    transforms: list[Transform] = ["direct", "positive_part", "retained", "retained_mean"]
    value_from_retention: bool = Field(
        True,
        description="value outcomes with a retained outcome: the model selected for retention, "
        "with the retained_mean transform (false: select among transforms on the value's "
        "own inner Qini)",
    )
    crossfit_folds: list[int] = Field(
        [2, 3, 5], description="cross-fitting folds tried for the best candidate (X, DR, ensemble)"
    )
    seed: int = 0


@dataclass(frozen=True)
class Candidate:
    learner: str
    regularisation: str
    transform: str
    folds: int

    @property
    def label(self) -> str:
        return f"{self.learner}/{self.regularisation}/{self.transform}/{self.folds}f"


@dataclass
class Selection:
    """The chosen candidate, its refit model and every candidate's inner-fold Qini."""

    chosen: Candidate
    model: UpliftModel
    table: pd.DataFrame  # one row per candidate: learner, regularisation, transform, folds, qini


def candidate_config(
    base: UpliftConfig, regularisation: Regularisation, learner: str, transform: str, folds: int
) -> UpliftConfig:
    settings = regularisation.model_dump(exclude={"name"})
    return base.model_copy(
        update={**settings, "learner": learner, "transform": transform, "folds": folds}
    )


def _inner_qini(
    x: EncodedRows,
    treated: np.ndarray,
    y: np.ndarray,
    retained: np.ndarray | None,
    e: np.ndarray,
    binary: bool,
    config: UpliftConfig,
    inner,
    learners: Sequence[str],
) -> dict[str, list[float]]:
    """Per learner, the Qini of ``y`` on each inner fold; one fit of T, X and DR serves them all
    (the ensemble is their mean)."""
    needed = tuple(m for m in ("t", "x", "dr") if any(m in members_of(lr) for lr in learners))
    out: dict[str, list[float]] = {learner: [] for learner in learners}
    for train, valid in inner:
        model = UpliftModel(list(x.columns), config, binary)
        folds = stratified_folds(treated[train], config.folds, config.seed)
        fit_encoded(
            model,
            x.iloc[train],
            treated[train],
            y[train],
            e[train],
            folds,
            None if retained is None else retained[train],
            needed,
        )
        xv = x.iloc[valid]
        effects = {
            m: model.effect_of({m: parts}, xv, scaled=False) for m, parts in model.members_.items()
        }
        scale = 1.0 if model.scale_ is None else np.clip(model.scale_.predict(xv), 0, None)
        for learner in learners:
            score = np.mean([effects[m] for m in members_of(learner)], axis=0) * scale
            out[learner].append(qini_coefficient(y[valid], treated[valid], score))
    return out


def select_uplift(
    frame: pd.DataFrame,
    treated,
    y,
    columns: list[str],
    base: UpliftConfig | None = None,
    selection: SelectionConfig | None = None,
    *,
    propensity: np.ndarray | float | None = None,
    retained=None,
    retention: Selection | None = None,
    log=lambda message: None,
) -> Selection:
    """Choose and refit the uplift model for these (training) rows; see the module docstring.

    ``retention``: the selection already made for ``retained`` on the same rows (reused by a
    value outcome under ``value_from_retention`` instead of selecting it again)."""
    base = base or UpliftConfig()
    selection = selection or SelectionConfig()
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    retained = None if retained is None else np.asarray(retained, dtype=float)
    if len(treated) != len(frame) or len(y) != len(frame):
        raise ValueError(
            f"select_uplift: {len(frame)} rows but {len(treated)} arms and {len(y)} outcomes"
        )
    if treated.all() or not treated.any():
        raise ValueError("select_uplift: needs both treated and control customers")
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    if not binary and retained is not None and selection.value_from_retention:
        return _value_from_retention(
            frame, treated, y, retained, columns, base, selection, propensity, retention, log
        )
    transforms = ["direct"] if binary else list(selection.transforms)
    if retained is None:
        transforms = [t for t in transforms if t not in ("retained", "retained_mean")]
    if not transforms:
        raise ValueError("select_uplift: no value transform left to try")
    encoder = FeatureEncoder(columns).fit(frame)
    x = EncodedRows.of(encoder.transform(frame))  # converted for LightGBM once, not per fit
    e, _ = assignment_propensity(
        x, treated, base, stratified_folds(treated, base.folds, base.seed), propensity, check=False
    )
    inner = stratified_folds(treated, selection.inner_folds, selection.seed + 1000)
    rows = []
    for reg in selection.regularisation:
        for transform in transforms:
            cfg = candidate_config(base, reg, "ensemble", transform, base.folds)
            scores = _inner_qini(x, treated, y, retained, e, binary, cfg, inner, selection.learners)
            for learner in selection.learners:
                rows.append(
                    _row(Candidate(learner, reg.name, transform, base.folds), scores[learner])
                )
            log(
                f"uplift selection: {reg.name}/{transform}: "
                + ", ".join(f"{k} {np.mean(v):.4g}" for k, v in scores.items())
            )
    best = _best(rows)
    if set(members_of(best.learner)) - {"t"}:
        reg = _preset(selection, best.regularisation)
        for folds in selection.crossfit_folds:
            if folds == best.folds:
                continue
            cfg = candidate_config(base, reg, best.learner, best.transform, folds)
            scores = _inner_qini(x, treated, y, retained, e, binary, cfg, inner, [best.learner])
            rows.append(
                _row(Candidate(best.learner, reg.name, best.transform, folds), scores[best.learner])
            )
        best = _best(rows)
    config = candidate_config(
        base, _preset(selection, best.regularisation), best.learner, best.transform, best.folds
    )
    model = UpliftModel(columns, config, binary)
    model.encoder_ = encoder
    model.propensity_check_ = None
    fit_encoded(
        model, x, treated, y, e, stratified_folds(treated, config.folds, config.seed), retained
    )
    table = pd.DataFrame(rows)
    table["chosen"] = [r["candidate"] == best for r in rows]
    table["qini_of"] = "outcome"
    return Selection(best, model, table.drop(columns="candidate"))


def _value_from_retention(
    frame, treated, y, retained, columns, base, selection, propensity, retention, log
) -> Selection:
    """The value model of ``value_from_retention``: the retention choice's model x the mean
    value of the retained. The table is the retention selection's (``qini_of`` = ``retained``)."""
    if retention is None:
        retention = select_uplift(
            frame, treated, retained, columns, base, selection, propensity=propensity, log=log
        )
    picked = retention.chosen
    chosen = Candidate(picked.learner, picked.regularisation, "retained_mean", picked.folds)
    log(f"uplift selection: value from the retention choice, {chosen.label}")
    model = with_mean_value(retention.model, y, retained)
    table = retention.table.assign(qini_of="retained")
    table["transform"] = np.where(table["chosen"], chosen.transform, table["transform"])
    return Selection(chosen, model, table)


def _row(candidate: Candidate, qinis: list[float]) -> dict:
    return {
        "candidate": candidate,
        "learner": candidate.learner,
        "regularisation": candidate.regularisation,
        "transform": candidate.transform,
        "folds": candidate.folds,
        "inner_qini": float(np.mean(qinis)),
        "inner_qini_sd": float(np.std(qinis)),
    }


def _best(rows: list[dict]) -> Candidate:
    """The candidate with the greatest mean inner Qini (the first one on ties)."""
    return max(rows, key=lambda r: r["inner_qini"])["candidate"]


def _preset(selection: SelectionConfig, name: str) -> Regularisation:
    return next(r for r in selection.regularisation if r.name == name)
