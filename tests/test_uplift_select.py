"""Choosing the uplift model by inner cross-validation on training customers only; ensembles and
two-part value models predict the same after registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from features.hillstrom import ingest_hillstrom
from training.uplift import UpliftConfig, fit_uplift, with_mean_value
from training.uplift_registry import UpliftSet, save_models
from training.uplift_run import SELECTED, UpliftRunConfig, evaluate, load_campaign_data
from training.uplift_select import SelectionConfig, select_uplift

SAMPLE = Path(__file__).parent / "data" / "hillstrom_sample.csv"  # first 3,000 rows, real file
SMALL = {"n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1, "folds": 2}
COLUMNS = ["a", "b", "group"]
#: a useful preset and one that cannot split (every leaf needs more rows than there are)
TINY_GRID = {
    "inner_folds": 2,
    "learners": ["t", "ensemble"],
    "regularisation": [
        {"name": "flat", "n_estimators": 10, "learning_rate": 0.1, "num_leaves": 2,
         "min_child_samples": 100_000},
        {"name": "fits", "n_estimators": 40, "learning_rate": 0.1, "num_leaves": 4,
         "min_child_samples": 40},
    ],
    "crossfit_folds": [2, 3],
}  # fmt: skip


def _spend(n: int, seed: int):
    """A purchase (rare) whose probability the action raises for group north only; spend given a
    purchase does not depend on the action. True value effect = purchase effect x mean spend."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {"a": rng.random(n), "b": rng.random(n), "group": rng.choice(["north", "south"], n)}
    )
    lift = np.where(x["group"] == "north", 0.08, 0.0) * (x["a"].to_numpy() > 0.5)
    base = 0.04 + 0.04 * x["b"].to_numpy()
    t = rng.random(n) < 0.5
    bought = rng.random(n) < base + t * lift
    mean_spend = 50 + 100 * x["b"].to_numpy()
    y = bought * rng.gamma(2.0, mean_spend / 2.0)
    visited = (bought | (rng.random(n) < 0.2)).astype(float)
    return x, t, y, lift * mean_spend, visited


def test_selection_prefers_a_model_that_ranks_over_one_that_cannot():
    x, t, y, _, visited = _spend(6000, 0)
    grid = SelectionConfig(**TINY_GRID, value_from_retention=False)  # the value's own Qini
    chosen = select_uplift(x, t, y, COLUMNS, UpliftConfig(**SMALL), grid, retained=visited)
    table = chosen.table
    assert set(table["transform"]) == {"direct", "positive_part", "retained", "retained_mean"}
    assert set(table["qini_of"]) == {"outcome"}
    assert table["chosen"].sum() == 1 and chosen.chosen.regularisation == "fits"
    flat = table[table["regularisation"] == "flat"]
    assert (flat["inner_qini"].abs() < 1e-9).all()  # constant effect = the random line
    assert table.loc[table["chosen"], "inner_qini"].item() == table["inner_qini"].max()
    new_x, _, _, new_tau, _ = _spend(3000, 1)
    assert spearmanr(chosen.model.predict(new_x), new_tau).statistic > 0.5


def test_two_part_value_and_ensemble_recover_the_effect_and_register_as_plain_files(tmp_path):
    x, t, y, _, visited = _spend(8000, 2)
    new_x, _, _, new_tau, _ = _spend(3000, 3)
    models, rho = {}, {}
    for transform in ("direct", "positive_part", "retained", "retained_mean"):
        cfg = UpliftConfig(learner="ensemble", transform=transform, **SMALL)
        model = fit_uplift(x, t, y, COLUMNS, cfg, retained=visited)
        assert set(model.members_) == {"t", "x", "dr"}
        assert (model.scale_ is None) == (transform == "direct")
        rho[transform] = spearmanr(model.predict(new_x), new_tau).statistic
        models[(transform, "value")] = model
    # the action moves purchases only: modelling the purchase ranks better than the raw spend
    assert rho["positive_part"] > rho["direct"] + 0.05 and rho["retained"] > 0.15
    # retained_mean: the retention uplift times one number, the mean value of the retained rows
    mean = models[("retained_mean", "value")]
    assert mean.scale_.constant_ == pytest.approx(y[visited == 1].mean())
    retention = fit_uplift(
        x, t, visited, COLUMNS, UpliftConfig(learner="ensemble", **SMALL), retained=visited
    )
    np.testing.assert_allclose(
        mean.predict(new_x), retention.predict(new_x) * y[visited == 1].mean()
    )
    # ... and built from the fitted retention model without a refit, it predicts the same
    reused = with_mean_value(retention, y, visited)
    np.testing.assert_allclose(reused.predict(new_x), mean.predict(new_x))
    assert reused.config.transform == "retained_mean" and retention.scale_ is None
    with pytest.raises(ValueError, match="0/1 retained outcome"):
        with_mean_value(mean, y, visited)
    assert rho["retained_mean"] > 0.15
    loaded = UpliftSet(save_models(models, tmp_path / "saved"))
    predicted = loaded.predict(new_x)
    for (action, _), model in models.items():
        np.testing.assert_allclose(predicted[f"uplift_value_{action}"], model.predict(new_x))
    # a file damaged inside a tree (its sections whole) made LightGBM abort the process: the
    # digest saved with it refuses it first, naming it
    from training.bundle import BundleError

    damaged = next((tmp_path / "saved").glob("*.txt"))
    damaged.write_text(damaged.read_text().replace("leaf_value=", "leaf_valu=", 1))
    with pytest.raises(BundleError, match=rf"{damaged.name}: the LightGBM model is damaged"):
        UpliftSet(tmp_path / "saved")
    with pytest.raises(ValueError, match="value outcomes"):
        fit_uplift(x, t, visited, COLUMNS, UpliftConfig(transform="positive_part", **SMALL))
    for transform in ("retained", "retained_mean"):
        with pytest.raises(ValueError, match=f"'{transform}' value transform needs the retained"):
            fit_uplift(x, t, y, COLUMNS, UpliftConfig(transform=transform, **SMALL))


def test_value_reuses_the_retention_choice_with_the_mean_value_of_the_retained():
    x, t, y, tau, visited = _spend(6000, 4)
    base, grid = UpliftConfig(**SMALL), SelectionConfig(**TINY_GRID)
    retention = select_uplift(x, t, visited, COLUMNS, base, grid)
    value = select_uplift(x, t, y, COLUMNS, base, grid, retained=visited)
    picked = retention.chosen
    assert value.chosen.transform == "retained_mean"
    assert (value.chosen.learner, value.chosen.regularisation, value.chosen.folds) == (
        picked.learner,
        picked.regularisation,
        picked.folds,
    )
    table = value.table
    assert set(table["qini_of"]) == {"retained"} and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "transform"].item() == "retained_mean"
    np.testing.assert_array_equal(
        table["inner_qini"].to_numpy(), retention.table["inner_qini"].to_numpy()
    )
    # the value effect is the retention model's effect times the mean value of the retained
    new_x, _, _, new_tau, _ = _spend(3000, 5)
    np.testing.assert_allclose(
        value.model.predict(new_x), retention.model.predict(new_x) * y[visited == 1].mean()
    )
    # a retention selection passed in is reused as is (no second selection)
    again = select_uplift(x, t, y, COLUMNS, base, grid, retained=visited, retention=retention)
    np.testing.assert_array_equal(again.model.predict(new_x), value.model.predict(new_x))
    assert spearmanr(value.model.predict(new_x), new_tau).statistic > 0.3


@pytest.fixture(scope="module")
def hillstrom(tmp_path_factory):
    out = tmp_path_factory.mktemp("hill_select")
    ingest_hillstrom(out, SAMPLE, log=lambda m: None)
    return out


@pytest.mark.parametrize("from_retention", [True, False])
def test_selection_reads_training_customers_only(hillstrom, from_retention):
    """Change every held-out outcome: what is selected, and the selected model, stay the same."""
    grid = {
        **TINY_GRID,
        "learners": ["t", "dr"],
        "regularisation": TINY_GRID["regularisation"][1:],
        "transforms": ["direct", "retained"],  # the retained transform reads both outcomes
        "value_from_retention": from_retention,
        "crossfit_folds": [2],
    }
    cfg = UpliftRunConfig(
        horizon_days=14, n_boot=20, learners=[], outcomes=["value"], uplift=SMALL, selection=grid
    )
    data = load_campaign_data(hillstrom, cfg, log=lambda m: None)
    first = evaluate(data, cfg, log=lambda m: None)
    frame = data.frame.copy()
    held = frame["held_out"].to_numpy()
    rng = np.random.default_rng(7)
    frame.loc[held, "retained"] = rng.integers(0, 2, held.sum()).astype(float)
    frame.loc[held, "value"] = rng.gamma(1.0, 200.0, held.sum()) * (rng.random(held.sum()) < 0.3)
    second = evaluate(type(data)(frame, data.columns, False, False), cfg, log=lambda m: None)
    pd.testing.assert_frame_equal(first.selection, second.selection)
    expected = {"direct", "retained_mean"} if from_retention else {"direct", "retained"}
    assert set(first.selection["transform"]) == expected
    for key, model in first.models.items():
        if key[2] == SELECTED:
            rows = data.frame.head(200)
            np.testing.assert_array_equal(model.predict(rows), second.models[key].predict(rows))
    # the held-out measurements did change: the test would see a selection that read them
    a = first.metrics.set_index(["action", "outcome", "model"])["qini"]
    b = second.metrics.set_index(["action", "outcome", "model"])["qini"]
    assert not np.allclose(a.to_numpy(), b.to_numpy())
    assert SELECTED in set(first.metrics["model"])
