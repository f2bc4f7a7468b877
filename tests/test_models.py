"""The LightGBM wrappers: consistent encoding, and one-call probability + contributions."""

import numpy as np
import pandas as pd
import pytest

from training.config import LightGBMParams
from training.models import ChurnModel, FeatureEncoder


def test_encoder_turns_every_numeric_kind_into_float_and_keeps_fit_time_categories() -> None:
    train = pd.DataFrame(
        {
            "count": pd.array([1, None, 3], dtype="Int64"),
            "flag": [True, False, True],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "amount": [1.5, np.nan, 2.0],
            "text_number": pd.Series(["1.5", "x", None], dtype="object"),
            "region": ["north", "south", None],
        }
    )
    encoder = FeatureEncoder(["region", "count", "flag", "maybe", "amount"]).fit(train)
    scored = pd.DataFrame(
        {
            "region": ["west", "north"],
            "count": [2, 5],
            "flag": [False, True],
            "maybe": [None, True],
            "amount": ["3.25", "oops"],
            "extra": [0, 0],
        }
    )
    out = encoder.transform(scored)
    assert list(out.columns) == ["region", "count", "flag", "maybe", "amount"]
    assert list(out["region"].cat.categories) == ["north", "south"]
    assert out["region"].isna().tolist() == [True, False]  # unseen category -> missing
    assert out["count"].tolist() == [2.0, 5.0] and out["flag"].tolist() == [0.0, 1.0]
    assert np.isnan(out["maybe"].iloc[0]) and out["maybe"].iloc[1] == 1.0
    assert out["amount"].iloc[0] == 3.25 and np.isnan(out["amount"].iloc[1])  # unparsable -> NaN
    with pytest.raises(KeyError, match="amount"):
        encoder.transform(scored.drop(columns="amount"))


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_probability_with_contributions_matches_the_separate_calls(calibration: str) -> None:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "recency": rng.exponential(60, n),
            "frequency": rng.poisson(3, n),
            "channel": rng.choice(["web", "store"], n),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(frame["recency"] - 60) / 30))).astype(int)
    params = LightGBMParams(
        n_estimators=30, min_child_samples=20, early_stopping_rounds=0, n_jobs=1
    )
    model = ChurnModel(["recency", "frequency", "channel"], params, calibration=calibration)
    model.fit(frame[:400], y[:400], frame[400:], y[400:])
    probability, contributions = model.predict_with_contributions(frame[400:])
    np.testing.assert_allclose(probability, model.predict_proba(frame[400:]), atol=1e-12)
    pd.testing.assert_frame_equal(contributions, model.contributions(frame[400:]))
    assert contributions.index.equals(frame[400:].index)


@pytest.mark.parametrize(
    ("calibration", "kind"), [("isotonic", "tweedie"), ("sigmoid", "two_part"), ("none", "tweedie")]
)
def test_a_pair_saved_as_plain_files_predicts_exactly_as_in_memory(
    tmp_path, calibration, kind
) -> None:
    from registry_fixtures import customers, tiny_pair

    from training.bundle import load_pair, save_pair

    pair = tiny_pair(calibration=calibration, kind=kind)
    save_pair(pair, tmp_path / "pair")
    files = sorted(
        p.relative_to(tmp_path / "pair").as_posix()
        for p in (tmp_path / "pair").rglob("*")
        if p.is_file()
    )
    assert all(f.endswith((".json", ".txt")) for f in files), files
    loaded = load_pair(tmp_path / "pair")
    rows = customers(200, seed=5).assign(
        channel=lambda f: f["channel"].where(f.index % 7 > 0, "fax")
    )
    assert np.array_equal(loaded.churn.predict_proba(rows), pair.churn.predict_proba(rows))
    assert np.array_equal(loaded.clv.predict(rows), pair.clv.predict(rows))
    p_new, contributions_new = loaded.churn.predict_with_contributions(rows)
    p_old, contributions_old = pair.churn.predict_with_contributions(rows)
    assert np.array_equal(p_new, p_old)
    pd.testing.assert_frame_equal(contributions_new, contributions_old, check_exact=True)
    assert loaded.meta["project"] == "tiny" and loaded.scoring == pair.scoring


def test_a_damaged_model_file_is_one_error_naming_it_not_a_crash(tmp_path) -> None:
    """A truncated LightGBM file made LightGBM's C++ loader abort the process (exit 134, no
    Python error): it is refused before LightGBM reads it, by its digest, and for a pair saved
    before digests by its sections; a cut JSON file or one with a missing key names the file."""
    import json

    from registry_fixtures import tiny_pair

    from training.bundle import BundleError, load_pair, save_pair

    save_pair(tiny_pair(), tmp_path / "pair")
    booster = tmp_path / "pair" / "churn" / "booster.txt"
    whole = booster.read_text()
    booster.write_text(whole[: whole.index("\nTree=1\n")] + "\n")  # cut at a tree boundary
    with pytest.raises(BundleError, match=r"booster.txt: the LightGBM model is damaged \(its"):
        load_pair(tmp_path / "pair")
    state_file = tmp_path / "pair" / "churn" / "model.json"
    state = json.loads(state_file.read_text())
    state.pop("sha256")  # as a pair saved before digests
    state_file.write_text(json.dumps(state))
    with pytest.raises(BundleError, match=r"damaged or truncated \(1 trees, its header"):
        load_pair(tmp_path / "pair")
    booster.write_text(whole)
    assert load_pair(tmp_path / "pair").churn is not None  # whole again: loads
    del state["columns"]
    state_file.write_text(json.dumps(state))
    with pytest.raises(BundleError, match=r"model.json: not a model this code wrote"):
        load_pair(tmp_path / "pair")
    state_file.write_text(json.dumps(state)[:40])
    with pytest.raises(BundleError, match=r"model.json: "):
        load_pair(tmp_path / "pair")


def test_old_lightgbm_files_that_lightgbm_reads_are_not_refused(tmp_path) -> None:
    """A model written before LightGBM 2.1 (no tree_sizes line) or saved without its
    parameters section loads in LightGBM: the sections check lets it through."""
    import lightgbm as lgb
    from registry_fixtures import tiny_pair

    from training.bundle import check_booster_text

    text = tiny_pair().churn.booster_.model_to_string()
    old = "\n".join(line for line in text.splitlines() if not line.startswith("tree_sizes="))
    bare = text[: text.index("\nparameters:")] + "\n"
    for variant in (old, bare):
        check_booster_text(tmp_path / "b.txt", variant, None)
        assert lgb.Booster(model_str=variant).num_trees() == text.count("\nTree=")


def test_plain_calibrators_match_scikit_learn() -> None:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    from training.models import Calibrator, logit

    rng = np.random.default_rng(1)
    raw = rng.random(500)
    y = (rng.random(500) < raw**2).astype(int)
    probe = np.concatenate([rng.random(200), [-0.5, 0.0, 1.0, 1.5]])
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(raw, y)
    stored = Calibrator("isotonic", tuple(isotonic.X_thresholds_), tuple(isotonic.y_thresholds_))
    np.testing.assert_allclose(stored.apply(probe), isotonic.predict(probe), rtol=0, atol=1e-12)
    platt = LogisticRegression().fit(logit(raw).reshape(-1, 1), y)
    np.testing.assert_allclose(
        Calibrator.fit("sigmoid", raw, y).apply(probe),
        platt.predict_proba(logit(probe).reshape(-1, 1))[:, 1],
        rtol=0,
        atol=1e-12,
    )
    assert (
        Calibrator.fit("none", raw, y) is None
        and Calibrator.fit("isotonic", raw, np.ones(500)) is None
    )


def test_isotonic_calibration_has_no_plateaus() -> None:
    """Isotonic calibration interpolated in log-odds: strictly increasing in the raw score (no
    value shared by customers whose raw scores differ), a block's knot at its churn rate, inside
    the bounds, calibrated, and the same after a JSON round trip."""
    import json

    from sklearn.isotonic import IsotonicRegression

    from training.models import PROBABILITY_BOUNDS, Calibrator, logit

    rng = np.random.default_rng(2)
    raw = rng.random(4000) ** 0.3  # a quarter of the rows above 0.93: the old y_max plateau
    y = (rng.random(4000) < raw**3).astype(int)
    calibrator = Calibrator.fit("isotonic", raw, y)
    assert calibrator.kind == "isotonic_logit"
    probe = np.sort(np.r_[rng.random(3000), 0.0, 1e-9, 1 - 1e-9, 1.0])
    p = calibrator.apply(probe)
    inside = (probe > 1e-6) & (probe < 1 - 1e-6)
    assert np.all(np.diff(p[inside]) > 0)
    assert PROBABILITY_BOUNDS[0] <= p.min() and p.max() <= PROBABILITY_BOUNDS[1]
    fitted = calibrator.apply(raw)
    assert pd.Series(fitted).value_counts().iloc[0] == 1
    steps = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4).fit(raw, y).predict(raw)
    assert pd.Series(steps).value_counts().iloc[0] > 0.05 * len(raw)  # what it replaces
    for low, high in [(0.0, 0.5), (0.5, 0.9), (0.9, 1.0)]:
        band = (fitted >= low) & (fitted < high)
        assert abs(fitted[band].mean() - y[band].mean()) < 0.03, (low, high)
    assert np.all(np.diff(calibrator.x) > 0) and np.all(np.diff(calibrator.y) > 0)
    assert calibrator.x[0] >= logit(raw).min() and calibrator.x[-1] <= logit(raw).max()
    again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert np.array_equal(again.apply(probe), p)


@pytest.mark.parametrize(("kind", "calibration"), [("tweedie", "isotonic"), ("two_part", "none")])
def test_a_refit_keeps_the_selected_trees_and_calibrates_on_out_of_fold_scores(
    kind: str, calibration: str
) -> None:
    from registry_fixtures import customers, tiny_pair

    from training.models import Calibrator, ChurnModel, ClvModel

    pair = tiny_pair(kind=kind, calibration=calibration)
    later = customers(900, seed=9)
    churn = pair.churn.refitted(later, later["churned"])
    clv = pair.clv.refitted(later, later["future_value"])
    selected = pair.churn.booster_.best_iteration or pair.churn.booster_.current_iteration()
    assert churn.booster_.current_iteration() == selected
    for name, booster in clv.boosters_.items():
        old = pair.clv.boosters_[name]
        assert booster.current_iteration() == (old.best_iteration or old.current_iteration())
    # fitted on the later rows: other predictions
    assert not np.allclose(churn.raw_probability(later), pair.churn.raw_probability(later))
    assert not np.allclose(clv.predict(later), pair.clv.predict(later))
    if calibration == "none":
        assert churn.calibrator_ is None
    else:
        # calibrated on scores of customers each fold model did not see, not on its own fit
        in_sample = Calibrator.fit(calibration, churn.raw_probability(later), later["churned"])
        assert churn.calibrator_.to_dict() != in_sample.to_dict()
        assert churn.calibrator_.to_dict() != pair.churn.calibrator_.to_dict()
        p = churn.predict_proba(later)
        assert abs(p.mean() - later["churned"].mean()) < 0.02  # calibrated in the large
    state, boosters = churn.to_state()
    np.testing.assert_array_equal(
        ChurnModel.from_state(state, boosters).predict_proba(later), churn.predict_proba(later)
    )
    state, boosters = clv.to_state()
    np.testing.assert_array_equal(
        ClvModel.from_state(state, boosters).predict(later), clv.predict(later)
    )
    # a model loaded from text (best_iteration -1) refits with all its trees
    loaded = ChurnModel.from_state(*pair.churn.to_state())
    assert loaded.refitted(later, later["churned"]).booster_.current_iteration() == (
        pair.churn.booster_.current_iteration()
    )


def test_a_refit_whose_fold_saw_one_class_is_left_uncalibrated() -> None:
    """Churners all in one customer group: the model fitted without that group has never seen a
    churner, its scores rank nothing, and a calibration on them would be wrong (a sigmoid fitted
    on such scores came out with a negative slope, reversing the ranking)."""
    from registry_fixtures import customers, tiny_pair

    from training.models import REFIT_CALIBRATION_FOLDS, Calibrator

    pair = tiny_pair()
    rows = customers(60, seed=2)
    fold = pd.util.hash_array(rows["customer_id"].to_numpy(object)) % REFIT_CALIBRATION_FOLDS
    rows["churned"] = (fold == 0).astype(int)
    assert pair.churn.refitted(rows, rows["churned"]).calibrator_ is None
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.5
    reversed_scores = np.where(y, 0.2, 0.8) + rng.normal(0, 0.05, 500)
    assert Calibrator.fit("sigmoid", np.clip(reversed_scores, 0.01, 0.99), y) is None


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        ({}, "1000"),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, None),  # the user's choice stands
        ({"GOMP_SPINCOUNT": "50"}, "50"),
    ],
)
def test_lightgbm_threads_spin_briefly_before_they_sleep_unless_the_user_chose(
    chosen, expected
) -> None:
    """libgomp's default spinning made a fit beside another fit 16 times slower
    (bench_contention); the setting must be in the environment before LightGBM loads libgomp."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = (
        "import sys, training.models, os; "
        "assert 'lightgbm' in sys.modules; print(os.environ.get('GOMP_SPINCOUNT'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **chosen},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(expected)
