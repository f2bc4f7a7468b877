"""Models that start from the BG/NBD + Gamma-Gamma forecast (``offset: btyd``) and learn the
correction: where they start, what they learn, how they explain and store it."""

import json

import numpy as np
import pandas as pd
import pytest
from service_fixtures import trained_store  # noqa: F401 (session fixture, shared with service tests)

from training.config import ConfigError, LightGBMParams, load_config
from training.models import OFFSET_FLOOR, BtydOffset, ChurnModel, ClvModel, logit, sigmoid

COLUMNS = ["recency_days", "complaints", "btyd_p_no_purchase", "btyd_expected_value"]


def _customers(n: int, seed: int) -> pd.DataFrame:
    """Buyers whose BTYD forecast is right except that complaints double the odds of leaving
    and halve the value; one in ten is a prospect (no BTYD forecast)."""
    rng = np.random.default_rng(seed)
    p_btyd = rng.uniform(0.05, 0.95, n)
    value_btyd = rng.gamma(2.0, 50.0, n)
    complaints = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "recency_days": rng.exponential(60, n),
            "complaints": complaints,
            "btyd_p_no_purchase": p_btyd,
            "btyd_expected_value": value_btyd,
        }
    )
    prospect = np.arange(n) % 10 == 0
    frame.loc[prospect, ["btyd_p_no_purchase", "btyd_expected_value"]] = np.nan
    p_true = np.where(prospect, 0.9, sigmoid(logit(p_btyd) + np.log(2.0) * complaints))
    frame["churned"] = (rng.random(n) < p_true).astype(int)
    mean_value = np.where(prospect, 5.0, value_btyd * np.where(complaints == 1, 0.5, 1.0))
    frame["future_value"] = rng.gamma(1.0, mean_value)
    return frame


def _params(trees: int, rate: float = 0.1) -> LightGBMParams:
    return LightGBMParams(
        n_estimators=trees,
        learning_rate=rate,
        num_leaves=4,
        min_child_samples=20,
        early_stopping_rounds=0,
        n_jobs=1,
    )


def _fit(trees: int, rate: float = 0.1, offset: str = "btyd", seed: int = 0):
    frame = _customers(4000, seed)
    train, valid = frame.iloc[:3000], frame.iloc[3000:]
    churn = ChurnModel(COLUMNS, _params(trees, rate), calibration="none", offset=offset)
    churn.fit(train, train["churned"], valid, valid["churned"])
    clv = ClvModel(COLUMNS, _params(trees, rate), offset=offset)
    clv.fit(train, train["future_value"], valid, valid["future_value"])
    return churn, clv, train


def test_a_model_on_the_btyd_offset_starts_from_btyd_and_prospects_from_their_mean() -> None:
    churn, clv, train = _fit(trees=1, rate=0.001)  # one tiny step: the start itself
    buyer = train["btyd_p_no_purchase"].notna().to_numpy()
    p = churn.raw_probability(train)
    np.testing.assert_allclose(p[buyer], train["btyd_p_no_purchase"][buyer], atol=0.002)
    assert abs(p[~buyer].mean() - train["churned"][~buyer].mean()) < 0.002
    value = clv.predict(train)
    np.testing.assert_allclose(value[buyer], train["btyd_expected_value"][buyer], rtol=0.01)
    assert value[~buyer].mean() == pytest.approx(train["future_value"][~buyer].mean(), rel=0.01)
    # without the offset the same tiny model says the same thing of everyone
    flat, _, _ = _fit(trees=1, rate=0.001, offset="none")
    assert np.ptp(flat.raw_probability(train)) < 0.01


def test_the_trees_learn_what_btyd_misses_and_reasons_count_the_offset() -> None:
    churn, clv, _ = _fit(trees=150)
    test = _customers(3000, seed=1)
    buyer = test["btyd_p_no_purchase"].notna()
    complained = buyer & (test["complaints"] == 1)
    # complaints double the odds: the learnt correction is about log 2 on the log-odds
    lift = logit(churn.raw_probability(test[complained])) - logit(
        test.loc[complained, "btyd_p_no_purchase"]
    )
    assert np.median(lift) == pytest.approx(np.log(2.0), abs=0.2)
    ratio = clv.predict(test[complained]) / test.loc[complained, "btyd_expected_value"]
    assert np.median(ratio) == pytest.approx(0.5, abs=0.1)
    # contributions (offset included) add up to the log-odds; the BTYD column carries the offset
    probability, values = churn.predict_with_contribution_array(test)
    contributions = churn.contributions(test)
    bias = logit(churn.raw_probability(test)) - contributions.sum(axis=1).to_numpy()
    assert np.ptp(bias) < 1e-6  # one bias: the offset's mean and the trees' own
    np.testing.assert_allclose(probability, churn.predict_proba(test), atol=1e-12)
    np.testing.assert_allclose(values, contributions.to_numpy(), atol=1e-12)
    share = contributions["btyd_p_no_purchase"].abs() / contributions.abs().sum(axis=1)
    assert share[buyer].median() > 0.5  # BTYD's forecast is most of what the model says


def test_an_offset_model_is_stored_refitted_and_read_back_exactly() -> None:
    churn, clv, train = _fit(trees=40)
    later = _customers(3000, seed=2)
    for model in (churn, clv, churn.refitted(later, later["churned"])):
        state, boosters = model.to_state()
        state = json.loads(json.dumps(state))  # plain JSON, as a pair is saved
        loaded = type(model).from_state(state, boosters)
        assert loaded.offset == "btyd" and loaded.offset_ == model.offset_
        predict = "predict" if isinstance(model, ClvModel) else "predict_proba"
        np.testing.assert_array_equal(
            getattr(loaded, predict)(later), getattr(model, predict)(later)
        )
    refitted = clv.refitted(later, later["future_value"])
    assert refitted.offset_ == BtydOffset.fit("value", later, later["future_value"])
    # a state saved before offsets existed loads as a model without one
    state, boosters = (
        ChurnModel(COLUMNS, _params(5), offset="none")
        .fit(train, train["churned"], train, train["churned"])
        .to_state()
    )
    del state["offset"]
    assert ChurnModel.from_state(state, boosters).offset_ is None


def test_a_pair_with_an_offset_is_written_in_a_format_older_readers_refuse(tmp_path) -> None:
    """Code that reads format 1 ignores the offset and predicts the correction alone (a buyers'
    mean value of 0.37 for 236.7): a pair with an offset is format 2, which it refuses."""
    import json

    from training.bundle import BundleError, ModelPair, load_pair, save_pair

    churn, clv, train = _fit(trees=20)
    save_pair(ModelPair(churn, clv, {"project": "x"}), tmp_path / "offset")
    meta = json.loads((tmp_path / "offset" / "meta.json").read_text())
    assert meta["format"] == 2
    loaded = load_pair(tmp_path / "offset")
    np.testing.assert_array_equal(loaded.clv.predict(train), clv.predict(train))
    plain_churn, plain_clv, _ = _fit(trees=20, offset="none")
    save_pair(ModelPair(plain_churn, plain_clv, {"project": "x"}), tmp_path / "plain")
    assert json.loads((tmp_path / "plain" / "meta.json").read_text())["format"] == 1
    assert load_pair(tmp_path / "plain").churn.offset_ is None
    (tmp_path / "plain" / "meta.json").write_text(json.dumps({**meta, "format": 3}))
    with pytest.raises(BundleError, match="format 3, this code reads 1 and 2"):
        load_pair(tmp_path / "plain")


def test_a_btyd_value_that_is_no_number_starts_at_the_fill_not_at_infinity() -> None:
    """A posted or corrupted BTYD column (text, infinite, a probability above 1) must not become
    an infinite prediction: such rows start where prospects do."""
    churn, clv, train = _fit(trees=20)
    rows = train.iloc[:5].astype({c: object for c in COLUMNS[2:]})
    rows["btyd_p_no_purchase"] = ["abc", np.inf, 1.5, -0.2, None]
    rows["btyd_expected_value"] = ["abc", np.inf, -np.inf, -3.0, None]
    fill = rows.assign(btyd_p_no_purchase=np.nan, btyd_expected_value=np.nan)
    # the start is the fill's (the trees still read the column as they read any feature)
    np.testing.assert_array_equal(churn.offset_.values(rows), churn.offset_.values(fill))
    assert np.isfinite(churn.raw_probability(rows)).all()
    value_start, fill_start = clv.offset_.values(rows), clv.offset_.values(fill)
    np.testing.assert_array_equal(value_start[[0, 1, 2, 4]], fill_start[[0, 1, 2, 4]])
    value = clv.predict(rows)
    assert np.isfinite(value).all() and (value >= 0).all()
    assert value_start[3] == np.log(OFFSET_FLOOR)  # a negative forecast: nothing, not unknown


@pytest.mark.parametrize("calibration", ["sigmoid", "none"])  # isotonic: its reported clip
def test_buyers_btyd_calls_all_but_gone_keep_their_order_after_calibration(calibration) -> None:
    """BG/NBD puts long-dormant buyers at P(no purchase) = 1 - 1e-9 and beyond: their offset is at
    the log-odds a probability keeps apart (13.8), and the trees add more. Calibrated through the
    probability they all tied; through the log-odds each keeps its own score."""
    frame = _customers(4000, 0)
    rng = np.random.default_rng(3)
    dormant = frame.index[frame["btyd_p_no_purchase"].notna()][:600]
    frame.loc[dormant, "btyd_p_no_purchase"] = 1 - 10.0 ** -rng.uniform(7, 14, len(dormant))
    frame.loc[dormant, "churned"] = 1
    train, valid = frame.iloc[:3000], frame.iloc[3000:]
    churn = ChurnModel(COLUMNS, _params(40), calibration=calibration, offset="btyd")
    churn.fit(train, train["churned"], valid, valid["churned"])
    margin = churn.raw_margin(frame.loc[dormant])
    beyond = margin > logit(1 - 1e-6)
    rows, margin = frame.loc[dormant][beyond], margin[beyond]
    assert len(rows) > 200 and pd.Series(margin).nunique() > 50
    p = churn.predict_proba(rows)
    assert pd.Series(p).nunique() > 0.9 * pd.Series(margin).nunique()  # no tie at the clip
    assert (np.diff(p[np.argsort(margin)]) >= 0).all()  # in the order of the log-odds
    probability, _ = churn.predict_with_contribution_array(rows)
    np.testing.assert_allclose(probability, p, rtol=0, atol=1e-12)


def test_an_offset_needs_the_btyd_features_and_a_log_link(tmp_path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("features: {families: [rfm, engagement]}\nchurn: {offset: btyd}\n")
    with pytest.raises(ConfigError, match=r"x.yaml: .*churn.offset: btyd .*'btyd'"):
        load_config(path)
    path.write_text("features: {families: [rfm, btyd]}\nclv: {offset: btyd, kind: two_part}\n")
    with pytest.raises(ConfigError, match="clv.offset: btyd needs clv.kind tweedie"):
        load_config(path)
    with pytest.raises(ValueError, match="tweedie"):
        ClvModel(COLUMNS, kind="two_part", offset="btyd")


def test_the_served_default_pair_starts_from_btyd(trained_store) -> None:  # noqa: F811
    """``btyd-features.yaml`` (offsets) trained and registered by the service fixture: the pair read
    back from the registry starts from BTYD, and its predictions (offset included) are the scores.
    Spikes and reasons of that pair: ``test_value``."""
    from service_fixtures import PROJECT

    from serving.scorer import load_champion_pair

    pair = load_champion_pair(trained_store.tracking_uri, PROJECT)
    assert pair.churn.offset_ is not None and pair.clv.offset_ is not None
    scores = pd.read_parquet(trained_store.scores)
    snapshot = pd.read_parquet(trained_store.snapshot)
    buyer = (snapshot["is_prospect"] == 0).to_numpy()
    assert (scores["customer_id"].to_numpy() == snapshot["customer_id"].to_numpy()).all()
    np.testing.assert_allclose(
        scores["churn_probability"][buyer], pair.churn.predict_proba(snapshot[buyer]), atol=1e-9
    )
    without = ChurnModel.from_state(*pair.churn.to_state())
    without.offset_ = None  # the same trees without their start: another forecast
    assert not np.allclose(
        without.raw_probability(snapshot[buyer]), pair.churn.raw_probability(snapshot[buyer])
    )
