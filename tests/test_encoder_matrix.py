"""Scoring from the encoder's matrix predicts exactly what LightGBM predicts from the frame."""

import numpy as np
import pandas as pd
import pytest

from training.config import LightGBMParams
from training.models import SMALL_FRAME_ROWS, ChurnModel, ClvModel, FeatureEncoder, load_booster

COLUMNS = ["recency", "orders", "channel", "region", "member"]


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "recency": rng.exponential(60, n),
            "orders": pd.array(rng.poisson(3, n), dtype="Int64"),
            "channel": rng.choice(["web", "store", "phone"], n),
            "region": rng.choice(["north", "south", "east", "west", "centre"], n),
            "member": rng.random(n) < 0.3,
        }
    )
    frame.loc[frame.sample(frac=0.1, random_state=seed).index, "recency"] = np.nan
    return frame


def _scored(seed: int) -> pd.DataFrame:
    """Rows to score with what online requests bring: unseen and missing categories, text
    numbers."""
    frame = _customers(300, seed).astype({"channel": object, "region": object})
    frame.loc[:20, "channel"] = "fax"  # never seen in training
    frame.loc[21:40, "region"] = None
    frame["orders"] = frame["orders"].astype(object)
    frame.loc[41:50, "orders"] = "7"
    return frame.sample(frac=1.0, random_state=seed)  # a shuffled index, as a batch may have


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, ClvModel, ClvModel]:
    frame = _customers(1500, 0)
    rng = np.random.default_rng(1)
    churn = (rng.random(len(frame)) < np.where(frame["channel"] == "web", 0.7, 0.3)).astype(int)
    value = np.where(
        rng.random(len(frame)) < 0.5,
        0.0,
        rng.gamma(2.0, 20.0, len(frame)) * (frame["region"] == "north").add(1),
    )
    params = LightGBMParams(
        n_estimators=40, min_child_samples=20, early_stopping_rounds=0, n_jobs=1
    )
    train, valid = slice(0, 1000), slice(1000, None)
    models = (
        ChurnModel(COLUMNS, params).fit(frame[train], churn[train], frame[valid], churn[valid]),
        ClvModel(COLUMNS, params, kind="tweedie").fit(
            frame[train], value[train], frame[valid], value[valid]
        ),
        ClvModel(COLUMNS, params, kind="two_part").fit(
            frame[train], value[train], frame[valid], value[valid]
        ),
    )
    assert models[0].booster_.dump_model()["pandas_categorical"], (
        "the test needs categorical splits"
    )
    return models


def test_the_matrix_holds_numbers_and_category_codes_with_nan_for_unseen() -> None:
    encoder = FeatureEncoder(COLUMNS).fit(_customers(200, 0))
    scored = pd.DataFrame(
        {
            "recency": [1.5, None],
            "orders": ["2", "x"],
            "channel": ["web", "fax"],
            "region": [None, "west"],
            "member": [True, False],
            "extra": [0, 0],
        }
    )
    x = encoder.matrix(scored)
    assert x.shape == (2, len(COLUMNS)) and x.dtype == np.float64
    assert x[0, 0] == 1.5 and np.isnan(x[1, 0]) and x[0, 1] == 2.0 and np.isnan(x[1, 1])
    assert x[0, 2] == encoder.categories_["channel"].index("web") and np.isnan(x[1, 2])
    assert np.isnan(x[0, 3]) and x[1, 3] == encoder.categories_["region"].index("west")
    assert x[:, 4].tolist() == [1.0, 0.0]
    with pytest.raises(KeyError, match="region"):
        encoder.matrix(scored.drop(columns="region"))
    many = pd.concat([scored] * (SMALL_FRAME_ROWS // 2 + 1), ignore_index=True)  # the frame path
    np.testing.assert_array_equal(
        encoder.matrix(many), np.vstack([x] * (SMALL_FRAME_ROWS // 2 + 1))
    )


@pytest.mark.parametrize(
    "rows", [slice(None), slice(0, 1), slice(15, 60)]
)  # the large and small paths
@pytest.mark.parametrize("seed", [2, 3])
def test_boosters_predict_the_same_from_the_matrix_as_from_the_frame(fitted, seed, rows) -> None:
    scored = _scored(seed).iloc[rows]
    assert (len(scored) <= SMALL_FRAME_ROWS) == (rows != slice(None))
    for model in fitted:
        frame = model.encoder_.transform(scored)
        matrix = model.encoder_.matrix(scored)
        for booster in model.boosters():
            np.testing.assert_array_equal(booster.predict(matrix), booster.predict(frame))
            np.testing.assert_array_equal(
                booster.predict(matrix, pred_contrib=True),
                booster.predict(frame, pred_contrib=True),
            )
            reloaded = load_booster(booster.model_to_string())  # as the service loads it
            np.testing.assert_array_equal(reloaded.predict(matrix), booster.predict(frame))
