"""Meta-learners recover a known heterogeneous effect; the propensity check sees confounding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from training.uplift import UpliftConfig, check_propensity, fit_response, fit_uplift
from training.uplift_metrics import pehe, qini_coefficient

SMALL = {"n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1}


def _randomized(n: int, seed: int, confounded: bool = False):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {"a": rng.random(n), "b": rng.random(n), "group": rng.choice(["north", "south"], n)}
    )
    tau = np.where(x["a"] > 0.5, 0.35, -0.15) * np.where(x["group"] == "north", 1.0, 0.5)
    base = 0.2 + 0.3 * x["b"].to_numpy()
    p = 0.2 + 0.6 * x["b"].to_numpy() if confounded else np.full(n, 0.5)
    t = rng.random(n) < p
    y = (rng.random(n) < np.clip(base + t * tau, 0, 1)).astype(float)
    return x, t, y, tau, p


@pytest.mark.parametrize("learner", ["t", "x", "dr"])
def test_learners_rank_customers_by_their_true_effect(learner):
    x, t, y, _, _ = _randomized(6000, 0)
    config = UpliftConfig(learner=learner, **SMALL)
    model = fit_uplift(x, t, y, ["a", "b", "group"], config)
    assert model.propensity_check_.looks_randomized
    new_x, new_t, new_y, new_tau, _ = _randomized(3000, 1)
    est = model.predict(new_x)
    assert spearmanr(est, new_tau).statistic > 0.5
    assert pehe(est, new_tau) < pehe(np.zeros_like(new_tau), new_tau)
    assert qini_coefficient(new_y, new_t, est) > 0.01


def test_response_model_is_not_an_uplift_model():
    x, t, y, _, _ = _randomized(6000, 0)
    response = fit_response(x, t, y, ["a", "b", "group"], UpliftConfig(**SMALL))
    uplift = fit_uplift(x, t, y, ["a", "b", "group"], UpliftConfig(learner="t", **SMALL))
    new_x, _, _, new_tau, _ = _randomized(3000, 1)
    treated_rate = 0.2 + 0.3 * new_x["b"] + new_tau
    # it models P(y | treated), which mixes the baseline with the effect; uplift ranks by effect
    assert spearmanr(response(new_x), treated_rate).statistic > 0.7
    assert (
        spearmanr(response(new_x), new_tau).statistic
        < spearmanr(uplift.predict(new_x), new_tau).statistic
    )


def test_propensity_check_flags_confounded_assignment_and_estimated_mode_fits():
    x, t, y, tau, _ = _randomized(6000, 2, confounded=True)
    from training.models import FeatureEncoder

    enc = FeatureEncoder(["a", "b", "group"]).fit(x)
    _, check = check_propensity(enc.transform(x), t, UpliftConfig(**SMALL), known=0.5)
    assert check.auc > 0.6 and not check.looks_randomized
    model = fit_uplift(x, t, y, ["a", "b", "group"], UpliftConfig(propensity="estimated", **SMALL))
    assert model.propensity_check_.source == "estimated"
    assert spearmanr(model.predict(x), tau).statistic > 0.5


def test_the_assignment_check_sees_a_targeted_campaign_of_a_few_hundred():
    """With the outcome models' 100 customers per leaf the check could not split a campaign of
    250 (each fold fit on 166: AUC exactly 0.5, "looks randomized") though its contacts were
    picked by ``b``; a random assignment of the same size is not flagged."""
    from training.models import FeatureEncoder

    flagged = []
    for seed in range(4):
        x, _, _, _, _ = _randomized(250, 10 + seed)
        enc = FeatureEncoder(["a", "b", "group"]).fit(x)
        rng = np.random.default_rng(seed)
        targeted = (x["b"] + 0.15 * rng.random(250) > 0.55).to_numpy()
        _, check = check_propensity(enc.transform(x), targeted, UpliftConfig(), known=0.5)
        assert check.auc > 0.8 and not check.looks_randomized
        assert "classifier tells them apart" in (check.untrusted_because() or "")
        random = rng.random(250) < 0.5
        _, fair = check_propensity(enc.transform(x), random, UpliftConfig(), known=0.5)
        flagged.append(not fair.looks_randomized)
        assert 0.0 < fair.null_se < 0.06
    assert not any(flagged)


def test_random_designs_that_are_lopsided_or_pooled_are_not_flagged():
    """A 10% holdout drawn at random with an estimated propensity clips many customers (a model
    of 200 trees puts them past 0.98) but shows no confounding: trusted. Two randomized campaigns
    of one action with different treated shares, told apart by a feature: the known design
    propensity explains the classifier's AUC, so the pool is not called targeted."""
    from training.models import FeatureEncoder

    for seed in (0, 1):  # 600 customers: a propensity fit with small leaves clipped 20%
        rng = np.random.default_rng(seed)
        x, _, _, _, _ = _randomized(600, 20 + seed)
        lopsided = rng.random(600) < 0.9
        enc = FeatureEncoder(["a", "b", "group"]).fit(x)
        _, est = check_propensity(enc.transform(x), lopsided, UpliftConfig(propensity="estimated"))
        assert est.source == "estimated" and est.untrusted_because() is None, est
    rng = np.random.default_rng(5)
    x, _, _, _, _ = _randomized(1500, 20)
    enc = FeatureEncoder(["a", "b", "group"]).fit(x)
    north = (x["group"] == "north").to_numpy()
    share = np.where(north, 0.5, 0.9)  # campaign A 50/50, campaign B 90/10
    pooled = rng.random(1500) < share
    _, known = check_propensity(enc.transform(x), pooled, UpliftConfig(), known=share)
    assert known.design_auc > 0.6 and known.looks_randomized, known
    _, blind = check_propensity(enc.transform(x), pooled, UpliftConfig(), known=0.7)
    assert not blind.looks_randomized  # without the design, the campaigns look targeted


def test_bad_inputs_are_refused():
    x, t, y, _, _ = _randomized(200, 3)
    with pytest.raises(ValueError, match="both treated and control"):
        fit_uplift(x, np.ones(200, bool), y, ["a"], UpliftConfig(**SMALL))
    with pytest.raises(ValueError, match="missing values"):
        fit_uplift(x, t, np.where(np.arange(200) == 0, np.nan, y), ["a"], UpliftConfig(**SMALL))
    with pytest.raises(ValueError, match="extra"):
        UpliftConfig(learnr="t")


def test_features_are_converted_for_lightgbm_once_and_the_models_are_unchanged(monkeypatch):
    """An ensemble fit converts the encoded frame to LightGBM's matrix once (not once per
    learner fit and prediction), and each learner is the model LightGBM fits on the frame
    itself: same trees, same categories in the saved booster, same predictions."""
    import lightgbm as lgb
    import lightgbm.basic

    import training.uplift as uplift

    x, t, y, _, _ = _randomized(1500, 3)
    config = UpliftConfig(learner="ensemble", **SMALL)
    real = lightgbm.basic._data_from_pandas
    calls = []

    def counted(*args, **kwargs):
        calls.append(len(args[0] if args else kwargs["data"]))
        return real(*args, **kwargs)

    for module in (lightgbm.basic, uplift):
        monkeypatch.setattr(module, "_data_from_pandas", counted, raising=False)
    model = fit_uplift(x, t, y, ["a", "b", "group"], config, propensity=0.5)
    assert calls == [len(x)]
    monkeypatch.undo()

    encoded = model.encoder_.transform(x)
    mu0 = model.members_["t"]["mu0_"]
    reference = uplift._lgb(config, "classifier", mu0.seed_offset)
    reference.fit(encoded[~t], y[~t].astype(int))  # the frame, as LightGBM converts it itself
    assert mu0.model_.booster_.model_to_string() == reference.booster_.model_to_string()
    assert mu0.model_.booster_.pandas_categorical == [["north", "south"]]
    np.testing.assert_array_equal(mu0.predict(encoded), reference.predict_proba(encoded)[:, 1])
    saved = lgb.Booster(model_str=mu0.model_.booster_.model_to_string())
    np.testing.assert_array_equal(saved.predict(encoded), mu0.predict(encoded))
