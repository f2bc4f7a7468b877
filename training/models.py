"""LightGBM churn classifier (calibrated) and CLV regressor (Tweedie or two-part).

Both models take a feature frame and handle categoricals themselves: string columns become
pandas ``category`` with the categories seen at fit time, so scoring one row or a million rows
encodes them the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.config import LightGBMParams, Offset

#: Frames of at most this many rows take ``FeatureEncoder.matrix``'s numpy path (online requests).
SMALL_FRAME_ROWS = 64


class FeatureEncoder:
    """Selects the model columns in a fixed order and encodes categoricals consistently."""

    def __init__(self, columns: list[str]):
        self.columns = list(columns)

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        present = set(frame.columns.tolist())
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise KeyError(f"feature columns missing from the frame: {missing}")
        self.categories_ = {
            c: sorted(frame[c].dropna().astype(str).unique().tolist())
            for c in self.columns
            if not pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
        }
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        self._check_columns(frame)
        numeric = [c for c in self.columns if c not in self.categories_]
        out = pd.DataFrame(self._numeric_block(frame, numeric), columns=numeric, index=frame.index)
        if not self.categories_:
            return out
        for c, categories in self.categories_.items():
            raw = frame[c]
            text = raw.astype(str).astype("object")  # categories were learnt as strings
            known = raw.notna() & text.isin(categories)  # unseen or missing -> missing
            out[c] = pd.Categorical(text.where(known, None), categories=categories)
        return out[self.columns]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model columns as one float64 matrix for ``Booster.predict``: numbers as they are,
        categoricals as their code in the learnt categories (NaN when missing or unseen).

        What LightGBM does itself with the frame of ``transform`` (it stores the training
        categories and maps a frame's categories to them), without building the frame: that
        costs most of the time of scoring one customer online. ``tests/test_encoder_matrix.py``
        checks both give the same predictions.
        """
        self._check_columns(frame)
        if len(frame) <= SMALL_FRAME_ROWS:
            return self._small_matrix(frame)
        out = np.empty((len(frame), len(self.columns)), dtype="float64")
        numeric = [i for i, c in enumerate(self.columns) if c not in self.categories_]
        out[:, numeric] = self._numeric_block(frame, [self.columns[i] for i in numeric])
        for c in self.categories_:
            raw = frame[c]
            codes = self._category_index(c).get_indexer(raw.astype(str).astype("object"))
            codes = np.where(raw.notna().to_numpy() & (codes >= 0), codes, np.nan)
            out[:, self.columns.index(c)] = codes
        return out

    def _check_columns(self, frame: pd.DataFrame) -> None:
        present = set(frame.columns.tolist())
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise KeyError(f"feature columns missing: {missing}")

    @staticmethod
    def _numeric_block(frame: pd.DataFrame, numeric: list[str]) -> np.ndarray:
        """``numeric`` columns as one float64 array, text parsed as numbers (else NaN). In one
        block: a column at a time costs milliseconds per call, most of scoring one customer."""
        block = frame[numeric]
        loose = [
            c
            for c, dtype in block.dtypes.items()
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        ]
        if loose:
            block = block.assign(**{c: pd.to_numeric(block[c], errors="coerce") for c in loose})
        return block.to_numpy(dtype="float64", na_value=np.nan)

    def _small_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """``matrix`` of a few rows (online scoring) from one object array, in numpy: pandas'
        per-column operations cost more than the rows themselves here."""
        position = {c: i for i, c in enumerate(frame.columns.tolist())}
        values = frame.to_numpy(dtype=object)
        absent = pd.isna(values)  # once for the whole array: per column it costs more than the rows
        out = np.empty((len(frame), len(self.columns)), dtype="float64")
        numeric = [j for j, c in enumerate(self.columns) if c not in self.categories_]
        source = [position[self.columns[j]] for j in numeric]
        try:  # every number column in one conversion
            block, missing = values[:, source], absent[:, source]
            out[:, numeric] = np.where(missing, np.nan, np.where(missing, 0.0, block).astype(float))
        except (TypeError, ValueError):  # text that may hold numbers, as the frame path does
            for j, k in zip(numeric, source, strict=True):
                out[:, j] = pd.to_numeric(pd.Series(values[:, k]), errors="coerce").to_numpy(
                    dtype="float64", na_value=np.nan
                )
        for c in self.categories_:
            j, k = self.columns.index(c), position[c]
            codes = self._category_codes(c)
            out[:, j] = [
                np.nan if gone else codes.get(str(v), np.nan)
                for v, gone in zip(values[:, k], absent[:, k], strict=True)
            ]
        return out

    def _category_codes(self, column: str) -> dict[str, int]:
        """Learnt category -> code of ``column`` (built once)."""
        cache = self.__dict__.setdefault("_category_codes_cache", {})
        if column not in cache:
            cache[column] = {v: i for i, v in enumerate(self.categories_[column])}
        return cache[column]

    def _category_index(self, column: str) -> pd.Index:
        """The learnt categories of ``column`` as an index (built once: look-ups per call)."""
        cache = self.__dict__.setdefault("_category_indexes", {})
        if column not in cache:
            cache[column] = pd.Index(self.categories_[column], dtype=object)
        return cache[column]

    def to_dict(self) -> dict:
        return {"columns": self.columns, "categories": self.categories_}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureEncoder:
        encoder = cls(data["columns"])
        encoder.categories_ = {c: list(v) for c, v in data["categories"].items()}
        return encoder


def lgb_kwargs(params: LightGBMParams, seed: int) -> dict:
    """Keyword arguments of LightGBM's sklearn estimators for our tuned parameters and a seed."""
    kwargs = params.model_dump(exclude={"early_stopping_rounds"})
    kwargs["subsample_freq"] = kwargs.pop("bagging_freq")
    kwargs["subsample"] = kwargs.pop("bagging_fraction")
    kwargs["colsample_bytree"] = kwargs.pop("feature_fraction")
    kwargs["reg_lambda"] = kwargs.pop("lambda_l2")
    # Reproducible fits: LightGBM otherwise picks row- or column-wise histograms by timing them,
    # so a busy machine could change the model.
    return {
        **kwargs,
        "random_state": seed,
        "verbose": -1,
        "deterministic": True,
        "force_col_wise": True,
    }


def lgb_callbacks(params: LightGBMParams, extra: list | None = None) -> list:
    """``extra`` callbacks plus early stopping when the parameters ask for it."""
    callbacks = list(extra or [])
    if params.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
    return callbacks


def logit(p) -> np.ndarray:
    """Log-odds of probabilities (clipped to [1e-6, 1 - 1e-6])."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(z) -> np.ndarray:
    """The logistic function, inverse of ``logit``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


#: The BTYD forecast a model may start from (``offset: btyd``), by model kind.
OFFSET_COLUMNS = {"churn": "btyd_p_no_purchase", "value": "btyd_expected_value"}
#: Smallest BTYD expected value used as an offset (log scale).
OFFSET_FLOOR = 1e-3


def btyd_offset(frame: pd.DataFrame, kind: Literal["churn", "value"]) -> np.ndarray:
    """BTYD's forecast of each row on the model's link scale: log-odds of P(no purchase)
    (``churn``) or log of the expected value (``value``); NaN where BTYD has none (prospects) or
    where the column holds no usable number (text, infinite, a probability outside [0, 1])."""
    values = pd.to_numeric(frame[OFFSET_COLUMNS[kind]], errors="coerce").to_numpy(dtype=float)
    if kind == "churn":
        values = np.where((values >= 0) & (values <= 1), values, np.nan)
        return logit(values)
    values = np.where(np.isfinite(values), values, np.nan)
    return np.log(np.maximum(values, OFFSET_FLOOR))


@dataclass(frozen=True)
class BtydOffset:
    """Where a model with ``offset: btyd`` starts: BTYD's forecast (:func:`btyd_offset`), the
    trees learn the correction. Rows without a forecast start at ``fill`` (the link of the mean
    outcome of such rows when fitted); ``mean`` (over the rows fitted) is the part of the offset
    that contributions count as bias, the rest is the BTYD column's contribution."""

    kind: Literal["churn", "value"]
    fill: float
    mean: float

    @classmethod
    def fit(cls, kind: Literal["churn", "value"], frame: pd.DataFrame, y) -> BtydOffset:
        raw, y = btyd_offset(frame, kind), np.asarray(y, dtype=float)
        missing = np.isnan(raw)
        rate = float(np.mean(y[missing] if missing.any() else y)) if len(y) else 0.0
        fill = float(logit(rate)) if kind == "churn" else float(np.log(max(rate, OFFSET_FLOOR)))
        values = np.where(missing, fill, raw)
        return cls(kind, fill, float(values.mean()) if len(values) else fill)

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        raw = btyd_offset(frame, self.kind)
        return np.where(np.isnan(raw), self.fill, raw)

    def add_to_contributions(self, values: np.ndarray, frame: pd.DataFrame, columns: list[str]):
        """Count the offset in ``pred_contrib`` output ``values`` (last column: bias), in place."""
        offset = self.values(frame)
        column = OFFSET_COLUMNS[self.kind]
        if column in columns:
            values[:, columns.index(column)] += offset - self.mean
            values[:, -1] += self.mean
        else:
            values[:, -1] += offset

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> BtydOffset | None:
        return None if data is None else cls(data["kind"], float(data["fill"]), float(data["mean"]))


#: Calibrated churn probabilities stay inside these bounds (a validation split cannot make a
#: churn certain); serving reports how many customers sit at them.
PROBABILITY_BOUNDS = (1e-6, 1 - 1e-6)


def _pool_knots(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent knots (weighted means of x and y) until y is strictly increasing."""
    xs, ys, ws = [], [], []
    for xi, yi, wi in zip(x, y, w, strict=True):
        xs.append(xi)
        ys.append(yi)
        ws.append(wi)
        while len(ys) > 1 and ys[-1] <= ys[-2]:
            w2 = ws[-2] + ws[-1]
            xs[-2] = (xs[-2] * ws[-2] + xs[-1] * ws[-1]) / w2
            ys[-2] = (ys[-2] * ws[-2] + ys[-1] * ws[-1]) / w2
            ws[-2] = w2
            del xs[-1], ys[-1], ws[-1]
    return np.asarray(xs), np.asarray(ys)


def _smooth_isotonic(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Knots of an isotonic calibration without flat steps, and the slope of its tails.

    Isotonic regression (PAV) pools the validation rows into blocks of increasing churn rate; each
    block becomes one knot at its centroid (mean log-odds of the raw score, block rate). A block
    of all churners (or none) gets the rate ``(k + 1/2) / (n + 1)`` rather than 1 (or 0), and knots
    that then break the order are pooled again. Between knots the calibration is linear in
    log-odds, beyond them it continues with the slope of Platt scaling (at least 0.1): strictly
    increasing in the raw score, so customers tie only when their raw scores do.
    """
    order = np.argsort(z, kind="stable")
    z, target = z[order], y[order].astype(float)
    fitted = IsotonicRegression(out_of_bounds="clip").fit_transform(z, target)
    starts = np.r_[0, np.flatnonzero(np.diff(fitted) != 0) + 1]
    counts = np.diff(np.r_[starts, len(z)]).astype(float)
    centroid = np.add.reduceat(z, starts) / counts
    events = np.add.reduceat(target, starts)
    rate = events / counts
    degenerate = (events == 0) | (events == counts)
    rate[degenerate] = (events[degenerate] + 0.5) / (counts[degenerate] + 1)
    knots_x, knots_y = _pool_knots(centroid, rate, counts)
    platt = LogisticRegression().fit(z.reshape(-1, 1), y[order])
    return knots_x, knots_y, max(float(platt.coef_[0, 0]), 0.1)


@dataclass(frozen=True)
class Calibrator:
    """A fitted probability calibration as plain numbers (stored as JSON, applied with numpy).

    ``isotonic_logit`` (what ``calibration: isotonic`` fits): knots ``x`` (log-odds of the raw
    score) and ``y`` (churn rate), linear in log-odds between them and with slope ``coef`` beyond,
    clipped to ``PROBABILITY_BOUNDS`` (see ``_smooth_isotonic``); ``isotonic``: the step function of
    pairs stored before, knots ``x``/``y`` on the raw score, linear in between and clipped at the
    ends (scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``); ``sigmoid``:
    ``sigmoid(coef * logit(raw) + intercept)`` (Platt scaling on the log-odds).
    """

    kind: Literal["isotonic_logit", "isotonic", "sigmoid"]
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    coef: float = 1.0
    intercept: float = 0.0

    @classmethod
    def fit(cls, kind: str, raw: np.ndarray, y: np.ndarray) -> Calibrator | None:
        """Fit on validation scores ``raw`` and outcomes ``y``; None for ``none`` or one class."""
        return cls.fit_logit(kind, logit(raw), y)

    @classmethod
    def fit_logit(cls, kind: str, z: np.ndarray, y: np.ndarray) -> Calibrator | None:
        """``fit`` on the log-odds ``z`` of the scores (unclipped: a model with an offset may
        score beyond what a probability in float64 can tell apart)."""
        if kind == "none" or len(np.unique(y)) < 2:
            return None
        z, y = np.asarray(z, dtype=float), np.asarray(y)
        if kind == "isotonic":
            knots_x, knots_y, slope = _smooth_isotonic(z, y)
            return cls(
                "isotonic_logit",
                x=tuple(map(float, knots_x)),
                y=tuple(map(float, knots_y)),
                coef=slope,
            )
        platt = LogisticRegression().fit(z.reshape(-1, 1), y)
        if platt.coef_[0, 0] <= 0:  # scores that do not rank: a map would reverse or flatten them
            return None
        return cls("sigmoid", coef=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "isotonic":
            return np.interp(np.asarray(raw, dtype=float), self.x, self.y)
        return self.apply_logit(logit(raw))

    def apply_logit(self, z: np.ndarray) -> np.ndarray:
        """``apply`` to scores given as log-odds (unclipped)."""
        z = np.asarray(z, dtype=float)
        if self.kind == "isotonic":
            return self.apply(sigmoid(z))
        if self.kind == "isotonic_logit":
            x = np.asarray(self.x)
            y = logit(np.asarray(self.y))
            out = np.interp(z, x, y)
            out = np.where(z < x[0], y[0] + self.coef * (z - x[0]), out)
            out = np.where(z > x[-1], y[-1] + self.coef * (z - x[-1]), out)
            return np.clip(sigmoid(out), *PROBABILITY_BOUNDS)
        return sigmoid(self.coef * z + self.intercept)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(
            data["kind"],
            tuple(data["x"]),
            tuple(data["y"]),
            float(data["coef"]),
            float(data["intercept"]),
        )


#: Customer groups of the out-of-fold scores a refitted churn model is calibrated on.
REFIT_CALIBRATION_FOLDS = 3


def _no_early_stopping(params: LightGBMParams, booster: lgb.Booster) -> LightGBMParams:
    """``params`` with the number of trees ``booster`` kept (its best iteration under early
    stopping) and no early stopping: a refit has no validation split to stop on."""
    best = booster.best_iteration  # 0 without early stopping, -1 once loaded from text
    trees = best if best > 0 else booster.current_iteration()
    return params.model_copy(update={"n_estimators": int(trees), "early_stopping_rounds": 0})


def load_booster(text: str) -> lgb.Booster:
    """A booster from LightGBM's own text format (``Booster.model_to_string``); no pickle."""
    return lgb.Booster(model_str=text)


def _offset_for(kind: Literal["churn", "value"], offset: Offset, frame: pd.DataFrame, y):
    return BtydOffset.fit(kind, frame, y) if offset == "btyd" else None


def _init_score(offset: BtydOffset | None, frame: pd.DataFrame) -> np.ndarray | None:
    return None if offset is None else offset.values(frame)


def check_rows(model: str, train: pd.DataFrame, valid: pd.DataFrame) -> None:
    """A fit without training or validation rows is a plan that does not fit the data (cutoffs
    before any purchase), said as such; LightGBM's own error names neither."""
    from training.splits import PlanError

    for name, rows in (("training", train), ("validation", valid)):
        if len(rows) == 0:
            cutoffs = ""
            if "cutoff" in train and len(train):
                cutoffs = f" (training cutoffs from {pd.Timestamp(train['cutoff'].min()).date()})"
            raise PlanError(
                f"the {model} model has no {name} rows: no customer with a purchase before its "
                f"cutoffs{cutoffs}; use a later date or more history, and check that the amounts "
                "were read (orders of amount 0 are no purchase)"
            )


class ChurnModel:
    """P(no purchase within the horizon) from LightGBM, calibrated on the validation split (a
    refit: on out-of-fold scores). With ``offset="btyd"`` the trees learn a correction to
    BG/NBD's log-odds (:class:`BtydOffset`).

    Predictions go through ``booster_`` (a plain ``lightgbm.Booster``), so a model rebuilt from
    its booster text and JSON state (``to_state`` / ``from_state``) predicts exactly the same.
    """

    def __init__(
        self,
        columns: list[str],
        params: LightGBMParams | None = None,
        *,
        calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic",
        offset: Offset = "none",
        seed: int = 0,
    ):
        self.columns = list(columns)
        self.params = params or LightGBMParams()
        self.calibration = calibration
        self.offset = offset
        self.seed = seed

    def fit(
        self,
        train: pd.DataFrame,
        y_train,
        valid: pd.DataFrame,
        y_valid,
        callbacks: list | None = None,
    ) -> ChurnModel:
        check_rows("churn", train, valid)
        self.encoder_ = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = self.encoder_.transform(train), self.encoder_.transform(valid)
        self.offset_ = _offset_for("churn", self.offset, train, y_train)
        self.classifier_ = lgb.LGBMClassifier(
            objective="binary", **lgb_kwargs(self.params, self.seed)
        )
        self.classifier_.fit(
            x_train,
            np.asarray(y_train),
            init_score=_init_score(self.offset_, train),
            eval_X=x_valid,
            eval_y=np.asarray(y_valid),
            eval_init_score=None if self.offset_ is None else [self.offset_.values(valid)],
            eval_metric="binary_logloss",
            callbacks=lgb_callbacks(self.params, callbacks),
        )
        self.booster_ = self.classifier_.booster_
        self.calibrator_ = self._fit_calibrator(self._scores(valid), np.asarray(y_valid))
        return self

    def refitted(self, frame: pd.DataFrame, y, folds: int = REFIT_CALIBRATION_FOLDS) -> ChurnModel:
        """The same model fitted again on ``frame`` (later snapshots) with the number of trees
        this one selected. Its calibration is fitted anew, on out-of-fold scores: ``folds``
        models, each fitted without one group of customers, score that group. (This model's
        calibrator also corrected the drift from its training to its validation windows, which
        the refit has learnt: applied to the refit, it counted that drift twice.)"""
        y = np.asarray(y).astype(int)
        model = self._refit_booster(frame, y)
        model.calibrator_ = None
        fold = pd.util.hash_array(frame["customer_id"].astype(str).to_numpy(object)) % folds
        # a fold model that saw one class scores nothing: no calibration beats a wrong one
        if self.calibration != "none" and all(
            len(np.unique(y[fold != k])) == 2 for k in range(folds)
        ):
            out_of_fold = np.empty(len(frame))
            for k in range(folds):
                held = fold == k
                part = self._refit_booster(frame[~held], y[~held])
                out_of_fold[held] = part._scores(frame[held])
            model.calibrator_ = model._fit_calibrator(out_of_fold, y)
        return model

    def _refit_booster(self, frame: pd.DataFrame, y: np.ndarray) -> ChurnModel:
        model = ChurnModel(self.columns, _no_early_stopping(self.params, self.booster_))
        model.calibration, model.offset, model.seed = self.calibration, self.offset, self.seed
        model.encoder_ = FeatureEncoder(self.columns).fit(frame)
        model.offset_ = _offset_for("churn", self.offset, frame, y)
        classifier = lgb.LGBMClassifier(objective="binary", **lgb_kwargs(model.params, self.seed))
        classifier.fit(
            model.encoder_.transform(frame), y, init_score=_init_score(model.offset_, frame)
        )
        model.classifier_, model.booster_ = classifier, classifier.booster_
        return model

    def raw_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's probability before calibration (offset included)."""
        if self.offset_ is None:
            return np.asarray(self.booster_.predict(self.encoder_.matrix(frame)))
        return sigmoid(self.raw_margin(frame))

    def raw_margin(self, frame: pd.DataFrame) -> np.ndarray:
        """The log-odds before calibration: the trees' raw score plus the offset, unclipped."""
        margin = np.asarray(self.booster_.predict(self.encoder_.matrix(frame), raw_score=True))
        return margin if self.offset_ is None else margin + self.offset_.values(frame)

    def _scores(self, frame: pd.DataFrame) -> np.ndarray:
        """What the calibration maps: the probability, or with an offset the log-odds (an offset
        can take buyers BTYD calls gone beyond the log-odds a probability keeps apart, 13.8)."""
        return self.raw_probability(frame) if self.offset_ is None else self.raw_margin(frame)

    def _fit_calibrator(self, scores: np.ndarray, y: np.ndarray) -> Calibrator | None:
        if self.offset_ is None:
            return Calibrator.fit(self.calibration, scores, y)
        return Calibrator.fit_logit(self.calibration, scores, y)

    def _calibrated(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability from the log-odds of :meth:`raw_margin`."""
        if self.offset_ is None:  # as pairs without an offset always were: through the probability
            raw = sigmoid(margin)
            return raw if self.calibrator_ is None else self.calibrator_.apply(raw)
        return sigmoid(margin) if self.calibrator_ is None else self.calibrator_.apply_logit(margin)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row."""
        if self.offset_ is not None:
            return self._calibrated(self.raw_margin(frame))
        raw = self.raw_probability(frame)
        return raw if self.calibrator_ is None else self.calibrator_.apply(raw)

    def _contributions_with_bias(self, frame: pd.DataFrame) -> np.ndarray:
        values = np.asarray(self.booster_.predict(self.encoder_.matrix(frame), pred_contrib=True))
        if self.offset_ is not None:
            self.offset_.add_to_contributions(values, frame, self.columns)
        return values

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's per-feature contributions to the raw churn score (log-odds), bias excluded
        (with a BTYD offset: its deviation from the mean counts for the BTYD column)."""
        values = self._contributions_with_bias(frame)
        return pd.DataFrame(values[:, :-1], columns=self.columns, index=frame.index)

    def predict_with_contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Calibrated probability and contributions from one encoding and one booster call (the
        contributions plus the bias add up to the raw log-odds)."""
        probability, values = self.predict_with_contribution_array(frame)
        return probability, pd.DataFrame(values, columns=self.columns, index=frame.index)

    def predict_with_contribution_array(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``predict_with_contributions`` with the contributions as an array (columns in the
        order of ``columns``): no frame to build, for the few rows of online scoring."""
        values = self._contributions_with_bias(frame)
        return self._calibrated(values.sum(axis=1)), values[:, :-1]

    def feature_importance(self) -> pd.Series:
        return _gain(self.booster_)

    def boosters(self) -> list[lgb.Booster]:
        return [self.booster_]

    def to_state(self) -> tuple[dict, dict[str, str]]:
        """Plain JSON state and booster texts by name: everything ``from_state`` needs."""
        state = {
            "model": "churn",
            "columns": self.columns,
            "params": self.params.model_dump(),
            "calibration": self.calibration,
            "seed": self.seed,
            "encoder": self.encoder_.to_dict(),
            "calibrator": None if self.calibrator_ is None else self.calibrator_.to_dict(),
            "offset": None if self.offset_ is None else self.offset_.to_dict(),
        }
        return state, {"booster": self.booster_.model_to_string()}

    @classmethod
    def from_state(cls, state: dict, boosters: dict[str, str]) -> ChurnModel:
        model = cls(
            state["columns"],
            LightGBMParams.model_validate(state["params"]),
            calibration=state["calibration"],
            offset="none" if state.get("offset") is None else "btyd",
            seed=state["seed"],
        )
        model.encoder_ = FeatureEncoder.from_dict(state["encoder"])
        model.offset_ = BtydOffset.from_dict(state.get("offset"))  # pairs before it: none
        model.booster_ = load_booster(boosters["booster"])
        model.calibrator_ = (
            None if state["calibrator"] is None else Calibrator.from_dict(state["calibrator"])
        )
        return model


def _gain(booster: lgb.Booster) -> pd.Series:
    gain = booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=booster.feature_name(), name="gain").sort_values(ascending=False)


class ClvModel:
    """Expected value within the horizon: one Tweedie regressor, or P(buy) x E[value | buy]. With
    ``offset="btyd"`` (Tweedie only) the trees learn a correction to the log of BG/NBD x
    Gamma-Gamma's expected value (:class:`BtydOffset`).

    Targets below zero (net returns) are clipped to zero: a customer cannot be worth less than
    nothing to a retention budget.
    """

    def __init__(
        self,
        columns: list[str],
        params: LightGBMParams | None = None,
        *,
        kind: Literal["tweedie", "two_part"] = "tweedie",
        tweedie_variance_power: float = 1.5,
        offset: Offset = "none",
        seed: int = 0,
    ):
        if offset != "none" and kind != "tweedie":
            raise ValueError(f"a {offset} offset needs the tweedie CLV model, not {kind}")
        self.columns = list(columns)
        self.params = params or LightGBMParams()
        self.kind = kind
        self.tweedie_variance_power = tweedie_variance_power
        self.offset = offset
        self.seed = seed

    def fit(
        self,
        train: pd.DataFrame,
        y_train,
        valid: pd.DataFrame,
        y_valid,
        callbacks: list | None = None,
    ) -> ClvModel:
        check_rows("CLV", train, valid)
        self.encoder_ = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = self.encoder_.transform(train), self.encoder_.transform(valid)
        y_train = np.clip(np.asarray(y_train, dtype=float), 0, None)
        y_valid = np.clip(np.asarray(y_valid, dtype=float), 0, None)
        kwargs = lgb_kwargs(self.params, self.seed)
        self.offset_ = _offset_for("value", self.offset, train, y_train)
        if self.kind == "tweedie":
            self.regressor_ = lgb.LGBMRegressor(
                objective="tweedie", tweedie_variance_power=self.tweedie_variance_power, **kwargs
            )
            self.regressor_.fit(
                x_train,
                y_train,
                init_score=_init_score(self.offset_, train),
                eval_X=x_valid,
                eval_y=y_valid,
                eval_init_score=None if self.offset_ is None else [self.offset_.values(valid)],
                eval_metric="tweedie",
                callbacks=lgb_callbacks(self.params, callbacks),
            )
            self.boosters_ = {"value": self.regressor_.booster_}
            return self
        self.buyer_ = lgb.LGBMClassifier(objective="binary", **kwargs)
        self.buyer_.fit(
            x_train,
            y_train > 0,
            eval_X=x_valid,
            eval_y=y_valid > 0,
            callbacks=lgb_callbacks(self.params, callbacks),
        )
        pos_train, pos_valid = y_train > 0, y_valid > 0
        self.spend_ = lgb.LGBMRegressor(objective="gamma", **kwargs)
        self.spend_.fit(
            x_train[pos_train],
            y_train[pos_train],
            eval_X=x_valid[pos_valid],
            eval_y=y_valid[pos_valid],
            callbacks=lgb_callbacks(self.params),
        )
        self.boosters_ = {"buyer": self.buyer_.booster_, "spend": self.spend_.booster_}
        return self

    def refitted(self, frame: pd.DataFrame, y) -> ClvModel:
        """The same model fitted again on ``frame`` (later snapshots), each booster with the
        number of trees this one selected."""
        params = {name: _no_early_stopping(self.params, b) for name, b in self.boosters_.items()}
        model = ClvModel(
            self.columns,
            params["value" if self.kind == "tweedie" else "buyer"],
            kind=self.kind,
            tweedie_variance_power=self.tweedie_variance_power,
            offset=self.offset,
            seed=self.seed,
        )
        model.encoder_ = FeatureEncoder(self.columns).fit(frame)
        x = model.encoder_.transform(frame)
        y = np.clip(np.asarray(y, dtype=float), 0, None)
        model.offset_ = _offset_for("value", self.offset, frame, y)
        if self.kind == "tweedie":
            regressor = lgb.LGBMRegressor(
                objective="tweedie",
                tweedie_variance_power=self.tweedie_variance_power,
                **lgb_kwargs(params["value"], self.seed),
            )
            init_score = _init_score(model.offset_, frame)
            model.boosters_ = {"value": regressor.fit(x, y, init_score=init_score).booster_}
            return model
        buyer = lgb.LGBMClassifier(objective="binary", **lgb_kwargs(params["buyer"], self.seed))
        spend = lgb.LGBMRegressor(objective="gamma", **lgb_kwargs(params["spend"], self.seed))
        model.boosters_ = {
            "buyer": buyer.fit(x, y > 0).booster_,
            "spend": spend.fit(x[y > 0], y[y > 0]).booster_,
        }
        return model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected value per row over the horizon the model was trained on."""
        x = self.encoder_.matrix(frame)
        if self.offset_ is not None:
            margin = self.boosters_["value"].predict(x, raw_score=True) + self.offset_.values(frame)
            return np.exp(margin)
        if self.kind == "tweedie":
            return np.asarray(self.boosters_["value"].predict(x))
        buyer, spend = self.boosters_["buyer"].predict(x), self.boosters_["spend"].predict(x)
        return np.asarray(buyer) * np.asarray(spend)

    def feature_importance(self) -> pd.Series:
        return _gain(self.boosters_["value" if self.kind == "tweedie" else "spend"])

    def boosters(self) -> list[lgb.Booster]:
        return list(self.boosters_.values())

    def to_state(self) -> tuple[dict, dict[str, str]]:
        """Plain JSON state and booster texts by name: everything ``from_state`` needs."""
        state = {
            "model": "clv",
            "columns": self.columns,
            "params": self.params.model_dump(),
            "kind": self.kind,
            "tweedie_variance_power": self.tweedie_variance_power,
            "seed": self.seed,
            "encoder": self.encoder_.to_dict(),
            "offset": None if self.offset_ is None else self.offset_.to_dict(),
        }
        return state, {name: b.model_to_string() for name, b in self.boosters_.items()}

    @classmethod
    def from_state(cls, state: dict, boosters: dict[str, str]) -> ClvModel:
        model = cls(
            state["columns"],
            LightGBMParams.model_validate(state["params"]),
            kind=state["kind"],
            tweedie_variance_power=state["tweedie_variance_power"],
            offset="none" if state.get("offset") is None else "btyd",
            seed=state["seed"],
        )
        model.encoder_ = FeatureEncoder.from_dict(state["encoder"])
        model.offset_ = BtydOffset.from_dict(state.get("offset"))  # pairs before it: none
        model.boosters_ = {name: load_booster(text) for name, text in boosters.items()}
        return model
