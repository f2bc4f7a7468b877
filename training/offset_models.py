"""LightGBM corrections of the BTYD forecast: BG/NBD + Gamma-Gamma give each row its offset
(``init_score``), shifted per snapshot to its observed level (:func:`_level_shift`), and each
model is fitted with :data:`N_SEEDS` seeds (:class:`OffsetModel`, :func:`fit_offset_models`).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.backtest_plan import BacktestPlan
from training.config import ExperimentConfig, LightGBMParams
from training.models import (
    FeatureEncoder,
    btyd_offset,
    check_rows,
    lgb_callbacks,
    lgb_kwargs,
    sigmoid,
)

#: LightGBM fits per model, with seeds ``cfg.seed + i``, whose forecasts are averaged (bagging:
#: one fit's row and feature subsampling moves the backtest by noise; docs/results.md).
N_SEEDS = 5


def _level_shift(base: np.ndarray, groups: np.ndarray, target: np.ndarray, kind: str) -> np.ndarray:
    """Per group (snapshot cutoff), add the constant that makes the offset reproduce the observed
    churn rate (``kind="churn"``, log-odds) or total value (``kind="value"``, log)."""
    from scipy.optimize import brentq

    out = base.copy()
    for group in np.unique(groups):
        idx = groups == group
        if kind == "churn":
            part, rate = base[idx], float(np.clip(target[idx].mean(), 1e-4, 1 - 1e-4))

            def gap(k, part=part, rate=rate):
                return sigmoid(part + k).mean() - rate

            shift = brentq(gap, -30.0, 30.0) if gap(-30.0) < 0 < gap(30.0) else 0.0
        else:
            actual, expected = target[idx].sum(), np.exp(base[idx]).sum()
            shift = float(np.log(actual / expected)) if actual > 0 and expected > 0 else 0.0
        out[idx] += shift
    return out


class OffsetModel:
    """LightGBM on top of a BTYD offset: ``kind="churn"`` (binary, log-odds of P(no purchase))
    or ``kind="value"`` (Tweedie, log of the expected value), one fit per seed.
    ``predict_raw`` returns each seed's correction without the offset (seeds x rows)."""

    def __init__(
        self,
        columns: list[str],
        kind: str,
        params: LightGBMParams,
        *,
        seeds: tuple[int, ...] = (0,),
        tweedie_variance_power: float = 1.5,
    ):
        self.columns, self.kind, self.params, self.seeds = list(columns), kind, params, tuple(seeds)
        self.tweedie_variance_power = tweedie_variance_power

    def _estimator(self, seed: int, n_estimators: int | None = None):
        kwargs = lgb_kwargs(self.params, seed)
        if n_estimators is not None:
            kwargs["n_estimators"] = n_estimators
        if self.kind == "churn":
            return lgb.LGBMClassifier(objective="binary", **kwargs)
        return lgb.LGBMRegressor(
            objective="tweedie", tweedie_variance_power=self.tweedie_variance_power, **kwargs
        )

    def select(
        self, train: pd.DataFrame, y_train, offset_train, valid: pd.DataFrame, y_valid, offset_valid
    ) -> list[int]:
        """Early-stop each seed on the validation snapshot; returns the numbers of trees."""
        check_rows(self.kind, train, valid)
        encoder = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = encoder.transform(train), encoder.transform(valid)
        self.n_trees_ = []
        for seed in self.seeds:
            model = self._estimator(seed)
            model.fit(
                x_train,
                np.asarray(y_train),
                init_score=offset_train,
                eval_X=x_valid,
                eval_y=np.asarray(y_valid),
                eval_init_score=[offset_valid],
                callbacks=lgb_callbacks(self.params),
            )
            self.n_trees_.append(int(model.best_iteration_ or model.n_estimators))
        return self.n_trees_

    def fit(self, frame: pd.DataFrame, y, offset, n_trees: list[int]) -> OffsetModel:
        self.encoder_ = FeatureEncoder(self.columns).fit(frame)
        x = self.encoder_.transform(frame)
        self.models_ = [
            self._estimator(seed, n).fit(x, np.asarray(y), init_score=offset)
            for seed, n in zip(self.seeds, n_trees, strict=True)
        ]
        return self

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.encoder_.transform(frame)
        return np.vstack([model.predict(x, raw_score=True) for model in self.models_])

    def feature_importance(self) -> pd.Series:
        boosters = [model.booster_ for model in self.models_]
        gain = sum(b.feature_importance(importance_type="gain") for b in boosters)
        return pd.Series(gain, index=boosters[0].feature_name(), name="gain").sort_values(
            ascending=False
        )


def _offsets(frame: pd.DataFrame, kind: str) -> np.ndarray:
    """The BTYD offset of each row, shifted per snapshot to its observed level (so the trees learn
    who BTYD over- or under-rates, not how busy the weeks after that cutoff were)."""
    base = btyd_offset(frame, "churn" if kind == "churn" else "value")
    target = _target(frame, "churned" if kind == "churn" else "future_value").astype(float)
    return _level_shift(base, frame["cutoff"].to_numpy(), target, kind)


def _target(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label == "churned":
        return frame[label].astype(int).to_numpy()
    return np.clip(frame[label].to_numpy(dtype=float), 0, None)  # net returns count as zero


def fit_offset_models(
    fit_frame: pd.DataFrame, plan: BacktestPlan, columns: list[str], cfg: ExperimentConfig
) -> tuple[OffsetModel, OffsetModel]:
    """Select the number of trees on train -> valid, then refit on every refit snapshot."""
    cut = pd.to_datetime(fit_frame["cutoff"])
    train = fit_frame[cut.isin(pd.to_datetime(list(plan.select.train)))]
    valid = fit_frame[cut == pd.Timestamp(plan.select.valid)]
    refit = fit_frame[cut.isin(pd.to_datetime(list(plan.refit)))]
    models = []
    for kind, params, label in (
        ("churn", cfg.churn.params, "churned"),
        ("value", cfg.clv.params, "future_value"),
    ):
        model = OffsetModel(
            columns,
            kind,
            params,
            seeds=tuple(cfg.seed + i for i in range(N_SEEDS)),
            tweedie_variance_power=cfg.clv.tweedie_variance_power,
        )
        n = model.select(
            train,
            _target(train, label),
            _offsets(train, kind),
            valid,
            _target(valid, label),
            _offsets(valid, kind),
        )
        models.append(model.fit(refit, _target(refit, label), _offsets(refit, kind), n))
    return models[0], models[1]
