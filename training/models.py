"""LightGBM churn classifier (calibrated) and CLV regressor (Tweedie or two-part).

Both models take a feature frame and handle categoricals themselves: string columns become
pandas ``category`` with the categories seen at fit time, so scoring one row or a million rows
encodes them the same way.
"""

from __future__ import annotations

from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.config import LightGBMParams


class FeatureEncoder:
    """Selects the model columns in a fixed order and encodes categoricals consistently."""

    def __init__(self, columns: list[str]):
        self.columns = list(columns)

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"feature columns missing from the frame: {missing}")
        self.categories_ = {
            c: sorted(frame[c].dropna().astype(str).unique().tolist())
            for c in self.columns
            if not pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        }
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"feature columns missing: {missing}")
        # Numeric columns go to float64 in one block (a column at a time costs milliseconds per
        # call, which is most of the latency of scoring one customer online).
        numeric = [c for c in self.columns if c not in self.categories_]
        block = frame[numeric]
        loose = [c for c, dtype in block.dtypes.items()
                 if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))]
        if loose:
            block = block.assign(**{c: pd.to_numeric(block[c], errors="coerce") for c in loose})
        out = pd.DataFrame(block.to_numpy(dtype="float64", na_value=np.nan), columns=numeric,
                           index=frame.index)
        if not self.categories_:
            return out
        for c, categories in self.categories_.items():
            raw = frame[c]
            text = raw.astype(str).astype("object")  # categories were learnt as strings
            known = raw.notna() & text.isin(categories)  # unseen or missing -> missing
            out[c] = pd.Categorical(text.where(known, None), categories=categories)
        return out[self.columns]


def _lgb_kwargs(params: LightGBMParams, seed: int) -> dict:
    kwargs = params.model_dump(exclude={"early_stopping_rounds"})
    kwargs["subsample_freq"] = kwargs.pop("bagging_freq")
    kwargs["subsample"] = kwargs.pop("bagging_fraction")
    kwargs["colsample_bytree"] = kwargs.pop("feature_fraction")
    kwargs["reg_lambda"] = kwargs.pop("lambda_l2")
    # Reproducible fits: LightGBM otherwise picks row- or column-wise histograms by timing them,
    # so a busy machine could change the model.
    return {**kwargs, "random_state": seed, "verbose": -1, "deterministic": True,
            "force_col_wise": True}


def _callbacks(params: LightGBMParams, extra: list | None = None) -> list:
    callbacks = list(extra or [])
    if params.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
    return callbacks


class ChurnModel:
    """P(no purchase within the horizon) from LightGBM, calibrated on the validation split."""

    def __init__(self, columns: list[str], params: LightGBMParams | None = None, *,
                 calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic", seed: int = 0):
        self.columns = list(columns)
        self.params = params or LightGBMParams()
        self.calibration = calibration
        self.seed = seed

    def fit(self, train: pd.DataFrame, y_train, valid: pd.DataFrame, y_valid,
            callbacks: list | None = None) -> ChurnModel:
        self.encoder_ = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = self.encoder_.transform(train), self.encoder_.transform(valid)
        self.classifier_ = lgb.LGBMClassifier(objective="binary", **_lgb_kwargs(self.params, self.seed))
        self.classifier_.fit(x_train, np.asarray(y_train), eval_X=x_valid, eval_y=np.asarray(y_valid),
                             eval_metric="binary_logloss", callbacks=_callbacks(self.params, callbacks))
        raw = self.classifier_.predict_proba(x_valid)[:, 1]
        self.calibrator_ = _fit_calibrator(self.calibration, raw, np.asarray(y_valid))
        return self

    def raw_probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier_.predict_proba(self.encoder_.transform(frame))[:, 1]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row."""
        raw = self.raw_probability(frame)
        return raw if self.calibrator_ is None else _apply_calibrator(self.calibrator_, raw)

    def _contributions_with_bias(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier_.booster_.predict(self.encoder_.transform(frame), pred_contrib=True)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's per-feature contributions to the raw churn score (log-odds), bias excluded."""
        values = self._contributions_with_bias(frame)
        return pd.DataFrame(values[:, :-1], columns=self.columns, index=frame.index)

    def predict_with_contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Calibrated probability and contributions from one encoding and one booster call (the
        contributions plus the bias add up to the raw log-odds)."""
        values = self._contributions_with_bias(frame)
        raw = _sigmoid(values.sum(axis=1))
        probability = raw if self.calibrator_ is None else _apply_calibrator(self.calibrator_, raw)
        return probability, pd.DataFrame(values[:, :-1], columns=self.columns, index=frame.index)

    def feature_importance(self) -> pd.Series:
        booster = self.classifier_.booster_
        gain = booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=booster.feature_name(), name="gain").sort_values(ascending=False)


def _fit_calibrator(kind: str, raw: np.ndarray, y: np.ndarray):
    if kind == "none" or len(np.unique(y)) < 2:
        return None
    if kind == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(raw, y)
    return LogisticRegression().fit(_logit(raw).reshape(-1, 1), y)


def _apply_calibrator(calibrator, raw: np.ndarray) -> np.ndarray:
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(raw)
    return calibrator.predict_proba(_logit(raw).reshape(-1, 1))[:, 1]


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


class ClvModel:
    """Expected value within the horizon: one Tweedie regressor, or P(buy) x E[value | buy].

    Targets below zero (net returns) are clipped to zero: a customer cannot be worth less than
    nothing to a retention budget.
    """

    def __init__(self, columns: list[str], params: LightGBMParams | None = None, *,
                 kind: Literal["tweedie", "two_part"] = "tweedie", tweedie_variance_power: float = 1.5,
                 seed: int = 0):
        self.columns = list(columns)
        self.params = params or LightGBMParams()
        self.kind = kind
        self.tweedie_variance_power = tweedie_variance_power
        self.seed = seed

    def fit(self, train: pd.DataFrame, y_train, valid: pd.DataFrame, y_valid,
            callbacks: list | None = None) -> ClvModel:
        self.encoder_ = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = self.encoder_.transform(train), self.encoder_.transform(valid)
        y_train = np.clip(np.asarray(y_train, dtype=float), 0, None)
        y_valid = np.clip(np.asarray(y_valid, dtype=float), 0, None)
        kwargs = _lgb_kwargs(self.params, self.seed)
        if self.kind == "tweedie":
            self.regressor_ = lgb.LGBMRegressor(
                objective="tweedie", tweedie_variance_power=self.tweedie_variance_power, **kwargs)
            self.regressor_.fit(x_train, y_train, eval_X=x_valid, eval_y=y_valid,
                                eval_metric="tweedie", callbacks=_callbacks(self.params, callbacks))
            return self
        self.buyer_ = lgb.LGBMClassifier(objective="binary", **kwargs)
        self.buyer_.fit(x_train, y_train > 0, eval_X=x_valid, eval_y=y_valid > 0,
                        callbacks=_callbacks(self.params, callbacks))
        pos_train, pos_valid = y_train > 0, y_valid > 0
        self.spend_ = lgb.LGBMRegressor(objective="gamma", **kwargs)
        self.spend_.fit(x_train[pos_train], y_train[pos_train],
                        eval_X=x_valid[pos_valid], eval_y=y_valid[pos_valid],
                        callbacks=_callbacks(self.params))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected value per row over the horizon the model was trained on."""
        x = self.encoder_.transform(frame)
        if self.kind == "tweedie":
            return self.regressor_.predict(x)
        return self.buyer_.predict_proba(x)[:, 1] * self.spend_.predict(x)

    def feature_importance(self) -> pd.Series:
        model = self.regressor_ if self.kind == "tweedie" else self.spend_
        booster = model.booster_
        gain = booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=booster.feature_name(), name="gain").sort_values(ascending=False)
