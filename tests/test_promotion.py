"""The promotion gate on a real SQLite-backed MLflow registry: one registered pair per project,
promoted by one alias move, loaded without pickles."""

import pickle
import sys

import cloudpickle
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from registry_fixtures import COLUMNS, customers, register, tiny_pair, tracking

from serving.batch import load_champions
from training.registry import (
    CHAMPION,
    NotComparable,
    champion_version,
    is_not_worse,
    pair_model_name,
    promote,
)

METRICS = {"churn_auc": 0.80, "churn_brier": 0.10, "clv_gini": 0.50, "clv_mae": 20.0}


@pytest.fixture()
def store(tmp_path):
    return tracking(tmp_path)


def test_rule():
    gate = {"churn_auc": True, "churn_brier": False}
    assert is_not_worse(
        {"churn_auc": 0.8, "churn_brier": 0.1}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate
    )[0]
    ok, why = is_not_worse(
        {"churn_auc": 0.79, "churn_brier": 0.09}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate
    )
    assert not ok and "churn_auc 0.7900 vs champion 0.8000" in why
    assert not is_not_worse(
        {"churn_auc": 0.9, "churn_brier": 0.2}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate
    )[0]


def test_with_paired_intervals_only_a_difference_beyond_noise_is_worse():
    """A newer pair 0.00003 under on AUC (well inside the noise of its test customers) was kept
    out; with the paired interval it is worse only when the whole interval is on the worse side."""
    gate = {"churn_auc": True, "clv_mae": False}
    champion = {"churn_auc": 0.931040, "clv_mae": 166.0}
    challenger = {"churn_auc": 0.931015, "clv_mae": 155.0}
    strict, why = is_not_worse(challenger, champion, gate)
    assert not strict and "churn_auc 0.9310 vs champion 0.9310" in why
    noisy = {"churn_auc": (-0.004, 0.004), "clv_mae": (-15.0, -7.0)}
    ok, why = is_not_worse(challenger, champion, gate, differences=noisy)
    assert ok and why.endswith("(lower on churn_auc within the resampling noise)")
    clear = {"churn_auc": (-0.012, -0.002), "clv_mae": (-15.0, -7.0)}
    ok, why = is_not_worse(challenger, champion, gate, differences=clear)
    assert not ok and "churn_auc 0.9310 vs champion 0.9310 (beyond noise" in why
    mae_up = {"churn_auc": (-0.004, 0.004), "clv_mae": (2.0, 9.0)}  # lower is better: up is worse
    assert not is_not_worse(challenger, champion, gate, differences=mae_up)[0]


def test_gate_promotes_first_keeps_better_champion_and_force_overrides(store):
    uri = store.tracking_uri
    client = MlflowClient(tracking_uri=uri)
    first = register(tiny_pair(0, project="shop"), "shop", store)
    d1 = promote(
        uri, "shop", first, METRICS, lambda champion: pytest.fail("no champion to re-score")
    )
    assert (
        d1.promoted and d1.reason == "no champion yet" and champion_version(client, "shop") == first
    )

    worse = register(tiny_pair(1, project="shop"), "shop", store)
    rescored = []

    def champion_scores(champion):
        rescored.append(champion.meta["project"])
        return METRICS

    d2 = promote(uri, "shop", worse, {**METRICS, "clv_mae": 25.0}, champion_scores)
    assert (
        not d2.promoted
        and "worse on clv_mae" in d2.reason
        and f"champion v{first} re-scored" in d2.reason
    )
    assert rescored == ["shop"] and champion_version(client, "shop") == first

    def not_comparable(champion):
        raise NotComparable("other labels")

    d3 = promote(uri, "shop", worse, METRICS, not_comparable)
    assert not d3.promoted and "not comparable: other labels" in d3.reason
    # a horizon changed on purpose (billing data): the user is told how to serve the new pair
    assert "train it again with --force" in d3.reason
    # forced, the new pair is served: the reason (printed, and the version's tag) names why the
    # gate could not judge, and neither says the champion stays nor to train with --force again
    moved = promote(uri, "shop", worse, METRICS, not_comparable, force=True)
    assert moved.promoted and moved.reason == (
        f"FORCED: promoted although champion v{first} is not comparable: other labels"
    )
    client.set_registered_model_alias(pair_model_name("shop"), CHAMPION, first)
    forced = promote(uri, "shop", worse, {**METRICS, "clv_mae": 25.0}, champion_scores, force=True)
    assert forced.promoted and forced.forced and forced.reason.startswith("FORCED")
    assert champion_version(client, "shop") == worse
    tags = client.get_model_version(pair_model_name("shop"), worse).tags
    assert tags["promotion"] == forced.reason and float(tags["test_clv_mae"]) == 25.0


def test_a_pair_identical_to_the_champion_is_not_promoted_unless_forced(store):
    """Weekly retrains inside one month's cutoffs trained the same pair again; the gate called
    it not worse and moved the alias each week (3 of 4 retrains): every service said stale and
    the monitoring reference moved to data the models never learnt from."""
    uri = store.tracking_uri
    client = MlflowClient(tracking_uri=uri)
    first = register(tiny_pair(0, project="shop"), "shop", store)
    promote(uri, "shop", first, METRICS, lambda c: pytest.fail("no champion to re-score"))
    again = register(tiny_pair(0, project="shop"), "shop", store)  # the same windows and rows
    kept = promote(uri, "shop", again, METRICS, lambda c: pytest.fail("nothing to re-score"))
    assert not kept.promoted and kept.reason.startswith(f"identical to the champion v{first}")
    assert champion_version(client, "shop") == first
    other = register(tiny_pair(1, project="shop"), "shop", store)  # other rows: the gate judges
    assert promote(uri, "shop", other, METRICS, lambda c: METRICS).promoted
    forced = promote(uri, "shop", again, METRICS, lambda c: METRICS, force=True)
    assert forced.promoted and champion_version(client, "shop") == again


@pytest.mark.parametrize(
    ("metrics", "named"),
    [
        ({**METRICS, "churn_auc": 0.5}, "churn_auc 0.5000 (must exceed 0.5)"),
        ({**METRICS, "clv_gini": -0.18}, "clv_gini -0.1800 (must exceed 0)"),
        ({**METRICS, "churn_auc": float("nan")}, "churn_auc nan"),  # one class among test rows
    ],
)
def test_a_pair_no_better_than_chance_is_never_champion_unless_forced(store, metrics, named):
    uri = store.tracking_uri
    client = MlflowClient(tracking_uri=uri)
    version = register(tiny_pair(0, project="shop"), "shop", store)
    refused = promote(uri, "shop", version, metrics, lambda c: pytest.fail("nothing to re-score"))
    assert not refused.promoted and champion_version(client, "shop") is None
    assert "no better than chance" in refused.reason and named in refused.reason
    forced = promote(uri, "shop", version, metrics, lambda c: METRICS, force=True)
    assert forced.promoted and forced.reason.startswith("FORCED") and named in forced.reason
    assert champion_version(client, "shop") == version


def test_champions_load_as_one_pair_without_unpickling(store, monkeypatch):
    pair = tiny_pair(0, project="shop")
    version = register(pair, "shop", store)
    promote(store.tracking_uri, "shop", version, METRICS, lambda champion: METRICS)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)  # for mlflow.pyfunc.load_model

    unpickled = []
    hook_active = [True]

    def audit(event, args):
        if hook_active[0] and event == "pickle.find_class":
            unpickled.append(args)

    sys.addaudithook(audit)  # cannot be removed: it only records while hook_active

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    for module in (pickle, cloudpickle):
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)
    try:
        champions = load_champions(store.tracking_uri, "shop")
        pyfunc = mlflow.pyfunc.load_model(f"models:/{pair_model_name('shop')}@{CHAMPION}")
    finally:
        hook_active[0] = False
    assert unpickled == []
    assert (
        champions.project,
        champions.version,
        champions.churn_version,
        champions.clv_version,
    ) == ("shop", version, version, version)
    rows = customers(50, seed=9)
    assert np.array_equal(champions.churn.predict_proba(rows), pair.churn.predict_proba(rows))
    assert np.array_equal(champions.clv.predict(rows), pair.clv.predict(rows))
    assert champions.scoring == pair.scoring
    out = pyfunc.predict(rows[COLUMNS].astype({"orders_all": "float64"}))
    assert np.array_equal(out["churn_probability"].to_numpy(), pair.churn.predict_proba(rows))
