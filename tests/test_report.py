"""The experiment comparison and its HTML report, from tiny runs logged straight into a tmp MLflow
store.

The runs follow the layout of training and backtest runs (tags, ``test_*`` metrics,
``data_fingerprint.json``, ``feature_importance.json``, ``predictions/test.parquet``) without
training anything, so the tests stay fast and do not depend on the feature code.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from experiments.compare import (
    best_per_column,
    build_comparison,
    compare_experiments,
    consistency_warnings,
    format_table,
    metric_table,
)
from experiments.narrative import what_this_says
from experiments.noise import paired_frame
from experiments.report import SECTIONS, render_report, write_report
from experiments.runs import RunFilter, RunRecord, load_runs
from training.metrics import churn_metrics, clv_metrics

PNG = b"\x89PNG\r\n\x1a\n"
N = 240
TEST_CUTOFF = "2025-06-01"


def _outcomes(seed: int = 0, cutoff: str = TEST_CUTOFF) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.05, 0.95, N)
    churned = (rng.random(N) < true_p).astype(int)
    value = np.where(churned == 1, 0.0, rng.gamma(2.0, 50.0, N) * (1.2 - true_p))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(N)],
            "cutoff": pd.Timestamp(cutoff),
            "churned": churned,
            "future_value": value,
            "true_p": true_p,
        }
    )


def _predictions(outcomes: pd.DataFrame, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = np.clip(outcomes["true_p"] + rng.normal(0, noise, N), 0.01, 0.99)
    value = np.maximum(outcomes["future_value"] * 0.6 + rng.gamma(2.0, 20.0, N) * (1 - p), 0.0)
    return outcomes.drop(columns="true_p").assign(
        churn_probability=p,
        predicted_value=value,
        btyd_p_no_purchase=np.clip(outcomes["true_p"] + rng.normal(0, 0.35, N), 0.01, 0.99),
        btyd_expected_value=np.full(N, outcomes["future_value"].mean()) + rng.normal(0, 5, N),
    )


def _log_run(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    kind: str,
    predictions: pd.DataFrame | None,
    tmp: Path,
    start_ms: int,
    importance: dict | None = None,
    status: str = "FINISHED",
    seconds: float = 30.0,
    churn_horizon_days: int = 90,
) -> str:
    run = client.create_run(
        experiment_id,
        start_time=start_ms,
        run_name=f"{name}-{kind}",
        tags={"experiment": name, "kind": kind, "data": "synthetic"},
    )
    run_id = run.info.run_id
    if predictions is not None:
        metrics = {
            **{
                f"test_{k}": v
                for k, v in churn_metrics(
                    predictions["churned"], predictions["churn_probability"]
                ).items()
            },
            **{
                f"test_{k}": v
                for k, v in clv_metrics(
                    predictions["future_value"], predictions["predicted_value"]
                ).items()
            },
            **{
                f"test_btyd_{k}": v
                for k, v in churn_metrics(
                    predictions["churned"], predictions["btyd_p_no_purchase"]
                ).items()
            },
            **{
                f"test_btyd_{k}": v
                for k, v in clv_metrics(
                    predictions["future_value"], predictions["btyd_expected_value"]
                ).items()
            },
            "train_job_seconds": seconds,
            "fit_seconds": seconds / 2,
        }
        client.log_batch(
            run_id, metrics=[Metric(k, float(v), start_ms, 0) for k, v in metrics.items()]
        )
        folder = tmp / run_id / "predictions"
        folder.mkdir(parents=True)
        predictions.to_parquet(folder / "test.parquet", index=False)
        client.log_artifact(run_id, str(folder / "test.parquet"), artifact_path="predictions")
        cutoff = str(pd.Timestamp(predictions["cutoff"].iloc[0]).date())
        client.log_dict(
            run_id,
            {
                "cutoffs": {
                    "train": ["2024-09-01", "2024-10-01", "2024-11-01", "2024-12-01"],
                    "valid": ["2025-03-01"],
                    "test": [cutoff],
                },
                "rows": {"train": 4 * N, "valid": N, "test": N},
                "customers": N,
            },
            "data_fingerprint.json",
        )
        client.log_dict(
            run_id,
            importance
            or {
                "churn": {"recency_days": 50.0, "frequency_365d": 30.0},
                "clv": {"monetary_365d": 40.0, "frequency_365d": 20.0},
            },
            "feature_importance.json",
        )
        client.log_param(run_id, "labels.churn_horizon_days", str(churn_horizon_days))
        client.log_param(run_id, "features.families", "['rfm', 'engagement']")
    client.set_terminated(run_id, status=status, end_time=start_ms + 1000)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """baseline (an older run too, and a newer tune run and failed run to skip), engagement
    (better), btyd-features (same predictions quality as baseline) and horizon-180 (another
    cutoff)."""
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    outcomes = _outcomes()
    ids: dict[str, str] = {}
    t0 = 1_750_000_000_000
    for name in ("baseline", "engagement", "btyd-features", "horizon-180"):
        client.create_experiment(name, artifact_location=(tmp / "mlruns" / name).as_uri())
    exp = {e.name: e.experiment_id for e in client.search_experiments()}
    _log_run(client, exp["baseline"], "baseline", "train", _predictions(outcomes, 0.45, 9), tmp, t0)
    ids["baseline"] = _log_run(
        client,
        exp["baseline"],
        "baseline",
        "train",
        _predictions(outcomes, 0.30, 1),
        tmp,
        t0 + 10_000,
        seconds=20.0,
    )
    ids["baseline-backtest"] = _log_run(
        client,
        exp["baseline"],
        "baseline",
        "backtest",
        _predictions(outcomes, 0.30, 5),
        tmp,
        t0 + 5_000,
    )
    _log_run(client, exp["baseline"], "baseline", "tune", None, tmp, t0 + 20_000)
    _log_run(
        client,
        exp["baseline"],
        "baseline",
        "train",
        _predictions(outcomes, 0.9, 3),
        tmp,
        t0 + 30_000,
        status="FAILED",
    )
    ids["engagement"] = _log_run(
        client,
        exp["engagement"],
        "engagement",
        "train",
        _predictions(outcomes, 0.05, 2),
        tmp,
        t0 + 40_000,
        importance={
            "churn": {"recency_days": 30.0, "frequency_365d": 10.0, "complaints_90d": 40.0},
            "clv": {"monetary_365d": 35.0, "visits_30d": 15.0},
        },
        seconds=45.0,
    )
    ids["btyd-features"] = _log_run(
        client,
        exp["btyd-features"],
        "btyd-features",
        "train",
        _predictions(outcomes, 0.30, 4),
        tmp,
        t0 + 50_000,
        seconds=50.0,
    )
    ids["horizon-180"] = _log_run(
        client,
        exp["horizon-180"],
        "horizon-180",
        "train",
        _predictions(_outcomes(seed=7, cutoff="2025-03-01"), 0.30, 6),
        tmp,
        t0 + 60_000,
        seconds=25.0,
        churn_horizon_days=180,
    )
    return {"uri": uri, "ids": ids, "tmp": tmp}


@pytest.fixture(scope="module")
def comparison(store):
    return compare_experiments(
        ["baseline", "engagement", "btyd-features", "horizon-180"],
        store["uri"],
        kind="train",
        n_boot=60,
    )


def test_latest_finished_run_of_each_kind(store, comparison):
    ids = store["ids"]
    assert {n: r.run_id for n, r in comparison.runs.items()} == {
        n: ids[n] for n in ("baseline", "engagement", "btyd-features", "horizon-180")
    }
    assert list(comparison.table.index) == [
        "baseline",
        "engagement",
        "btyd-features",
        "horizon-180",
    ]
    backtests = compare_experiments(["baseline"], store["uri"], kind="backtest", n_boot=20)
    assert backtests.runs["baseline"].run_id == ids["baseline-backtest"]
    # Without a kind: the newest train or backtest run; the tune run and the failed run are skipped.
    assert (
        compare_experiments(["baseline"], store["uri"], n_boot=20).runs["baseline"].run_id
        == ids["baseline"]
    )
    with pytest.raises(LookupError, match="data=cdnow"):
        compare_experiments(["baseline"], store["uri"], data="cdnow")
    every = compare_experiments(None, store["uri"], n_boot=20)
    assert set(every.runs) == {"baseline", "engagement", "btyd-features", "horizon-180"}


def test_missing_experiment_is_reported(store):
    partial = compare_experiments(["engagement", "nope"], store["uri"], n_boot=20)
    assert partial.missing == ["nope"] and any("nope" in w for w in partial.warnings)
    with pytest.raises(LookupError, match="lifecycle experiment run"):
        compare_experiments(["nope"], store["uri"])


def test_comparison_on_logged_runs(comparison):
    assert comparison.best["churn_auc"] == "engagement"
    assert "train_seconds" not in comparison.best  # wall time: shown, not ranked
    # baseline and btyd-features scored the same customers: paired; horizon-180 another cutoff
    # and horizon: ranked on its own, never against engagement.
    assert comparison.noise_flags[("baseline", "churn_auc")].method == "paired"
    assert not [key for key in comparison.noise_flags if key[0] == "horizon-180"]
    assert comparison.groups == [["baseline", "engagement", "btyd-features"], ["horizon-180"]]
    assert any("different cutoffs" in w for w in comparison.warnings)
    assert any(
        "different horizons" in w and "horizon-180 over churn 180 d" in w
        for w in comparison.warnings
    )
    text = format_table(comparison)
    assert (
        "engagement" in text and "churn AUC" in text and "total ratio" in text and "train s" in text
    )


def test_report_has_every_section_and_image(comparison, tmp_path):
    out = write_report(comparison, tmp_path / "reports" / "compare.html")
    page = out.read_text(encoding="utf-8")
    for section_id, heading in SECTIONS:
        assert f'<section id="{section_id}">' in page, section_id
        assert heading in page
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, flags=re.DOTALL))
    images = {
        sid: re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', body)
        for sid, body in sections.items()
    }
    assert len(images["gains"]) == 4  # churners and value per target: horizon-180 on its own
    assert len(images["calibration"]) == 1
    assert [alt for alt, _ in images["deciles"]] == [
        f"Decile chart of {n}" for n in comparison.runs
    ]
    assert len(images["importance"]) == 2
    for _, data in (image for found in images.values() for image in found):
        assert base64.b64decode(data).startswith(PNG)
    # Self-contained: nothing is fetched from the network.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "<script" not in page
    # The table marks the best and flags noise; the data section shows cutoffs and row counts.
    assert 'class="best"' in sections["table"] and "engagement" in sections["table"]
    assert "2025-06-01" in sections["data"] and "2025-03-01" in sections["data"]
    assert (
        "2024-09-01 ..<br>2024-12-01<br>(4 cutoffs)" in sections["data"]
        and f"{4 * N:,}" in sections["data"]
    )
    assert "engagement vs baseline" in sections["summary"]
    assert "baseline does not have: complaints_90d" in sections["importance"]  # engagement only
    # Each figure's caption and notes say which model they are about (the two looked alike).
    for label in ("churn model", "customer-value model"):
        assert f"<figcaption>The {label}: each experiment" in sections["importance"]
    assert "<li>churn model: baseline does not have: complaints_90d" in sections["importance"]


# --------------------------------------------------------------------------- hand-made numbers


def _record(name: str, **metrics: float) -> RunRecord:
    logged = {f"test_{k}": v for k, v in metrics.items() if k != "train_job_seconds"}
    if "train_job_seconds" in metrics:
        logged["train_job_seconds"] = metrics["train_job_seconds"]
    return RunRecord(name, run_id=f"{name}-run", metrics=logged, kind="train")


def test_the_data_section_lists_the_settings_that_differ():
    from experiments.report import PARAM_TEXT, settings_that_differ

    a, b = _record("a"), _record("b")
    a.params = {"lightgbm.num_leaves": "31", "horizon_days": "90", "features": "x" * 200}
    b.params = {"lightgbm.num_leaves": "15", "horizon_days": "90", "seed": "1"}
    names, rows = settings_that_differ({"a": a, "b": b})
    assert names == ["a", "b"]
    assert [r["param"] for r in rows] == ["features", "lightgbm.num_leaves", "seed"]
    assert rows[0]["values"][1] == "-" and len(rows[0]["values"][0]) == PARAM_TEXT
    assert rows[1]["values"] == ["31", "15"] and rows[2]["values"] == ["-", "1"]
    assert settings_that_differ({"a": a}) == (["a"], [])


def test_best_value_marking_on_hand_made_numbers():
    runs = {
        "a": _record(
            "a",
            churn_auc=0.80,
            churn_pr_auc=0.60,
            churn_brier=0.150,
            clv_mae=40.0,
            clv_spearman=0.50,
            clv_gini=0.40,
            clv_total_ratio=1.30,
            train_job_seconds=100.0,
        ),
        "b": _record(
            "b",
            churn_auc=0.85,
            churn_pr_auc=0.55,
            churn_brier=0.140,
            clv_mae=45.0,
            clv_spearman=0.55,
            clv_gini=0.45,
            clv_total_ratio=0.95,
            train_job_seconds=120.0,
        ),
        "c": _record(
            "c",
            churn_auc=0.70,
            churn_pr_auc=0.65,
            churn_brier=0.160,
            clv_mae=38.0,
            clv_spearman=float("nan"),
            clv_gini=0.30,
            clv_total_ratio=1.10,
            train_job_seconds=90.0,
        ),
    }
    table = metric_table(runs)
    assert best_per_column(table) == {
        "churn_auc": "b",  # higher is better
        "churn_pr_auc": "c",
        "churn_brier": "b",  # lower is better
        "clv_mae": "c",
        "clv_spearman": "b",  # NaN never wins
        "clv_gini": "b",
        "clv_total_ratio": "b",  # |0.95 - 1| = 0.05 < |1.10 - 1| = 0.10 < |1.30 - 1| = 0.30
    }  # no train_seconds: wall time on a shared machine, shown but never marked best
    alone = metric_table({"a": runs["a"]})
    assert best_per_column(alone) == {}, "one run is not a comparison: nothing is marked best"
    assert (
        best_per_column(table.assign(clv_spearman=[float("nan"), 0.5, float("nan")])).get(
            "clv_spearman"
        )
        is None
    )
    comparison = build_comparison(runs)
    # No predictions: nothing is flagged as noise, but the gaps are reported as unchecked.
    assert not any(check.within_noise for check in comparison.noise_flags.values())
    assert comparison.noise_flags[("a", "churn_auc")].method == "unavailable"
    lines = format_table(comparison).splitlines()
    row_b = next(line for line in lines if line.startswith("b "))
    assert "0.850*" in row_b and "0.1400*" in row_b and "0.950*" in row_b and "120.0 " in row_b
    row_c = next(line for line in lines if line.startswith("c "))
    assert "90.0 " in row_c and "38.00*" in row_c and " - " in row_c + " "


def test_a_backtest_total_scaled_to_btyd_is_shown_not_ranked_and_partial_windows_are_said():
    """A backtest's LightGBM total is BTYD's by construction (``anchor_total``): ranking runs by
    it would crown whichever happened to come first; a run on a partly observed window says so."""
    from dataclasses import replace

    from training import BTYD_ANCHOR

    runs = {
        "a": _record("a", clv_total_ratio=0.81, churn_auc=0.76),
        "b": _record("b", clv_total_ratio=0.81, churn_auc=0.75),
        "c": _record("c", clv_total_ratio=0.95, churn_auc=0.70),
    }
    assert build_comparison(runs).best["clv_total_ratio"] == "c"
    anchored = {n: replace(r, params={"clv_total": BTYD_ANCHOR}) for n, r in runs.items()}
    anchored["c"] = replace(
        runs["c"], params={"clv_total": "model", "partial_window": "the data ends 1997-12-01"}
    )
    comparison = build_comparison(anchored)
    assert "clv_total_ratio" not in comparison.best  # only c is ranked: one run is no comparison
    both = {**anchored, "d": replace(runs["c"], experiment="d", params={"clv_total": "model"})}
    ranked = build_comparison(both)
    assert ranked.best["clv_total_ratio"] == "c"  # of the two unanchored totals, tied: the first
    assert not any(k == ("a", "clv_total_ratio") for k in ranked.noise_flags)  # never "near best"
    assert comparison.best["churn_auc"] == "a"
    assert comparison.table.at["a", "clv_total_ratio"] == pytest.approx(0.81)  # still shown
    said = " ".join(comparison.warnings)
    assert "total ratio of a and b" in said and "not ranked" in said
    assert "c: backtest run with --allow-partial-window: the data ends 1997-12-01" in said


def _hand_predictions(churn_probability: list[float], cutoff: str = TEST_CUTOFF) -> pd.DataFrame:
    """Eight customers repeated 25 times: churners are customers 0-3."""
    base = np.array(churn_probability * 25, dtype=float)
    n = len(base)
    churned = np.array([1, 1, 1, 1, 0, 0, 0, 0] * 25)
    value = np.array([0, 0, 0, 0, 10, 20, 30, 40] * 25, dtype=float)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "cutoff": pd.Timestamp(cutoff),
            "churned": churned,
            "future_value": value,
            "churn_probability": base,
            "predicted_value": (1 - base) * 40,
            "btyd_p_no_purchase": np.full(n, 0.5),
            "btyd_expected_value": np.full(n, 25.0),
        }
    )


def _from_predictions(name: str, predictions: pd.DataFrame) -> RunRecord:
    metrics = {
        **churn_metrics(predictions["churned"], predictions["churn_probability"]),
        **clv_metrics(predictions["future_value"], predictions["predicted_value"]),
    }
    return RunRecord(
        name,
        f"{name}-run",
        {f"test_{k}": v for k, v in metrics.items()},
        kind="train",
        predictions=predictions,
    )


def test_noise_flags_on_hand_made_predictions():
    perfect = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]  # AUC 1
    one_swap = [
        0.9,
        0.8,
        0.7,
        0.4,
        0.6,
        0.3,
        0.2,
        0.1,
    ]  # one churner/stayer pair swapped: AUC 15/16
    inverted = perfect[::-1]  # AUC 0
    runs = {
        "best": _from_predictions("best", _hand_predictions(perfect)),
        "close": _from_predictions("close", _hand_predictions(one_swap)),
        "worse": _from_predictions("worse", _hand_predictions(inverted)),
        "elsewhere": _from_predictions(  # other customers at the same cutoff: not paired
            "elsewhere",
            _hand_predictions(one_swap).assign(customer_id=lambda f: "x" + f.index.astype(str)),
        ),
    }
    assert runs["close"].metrics["test_churn_auc"] == pytest.approx(1 - 1 / 16, abs=2e-3)
    comparison = build_comparison(runs, n_boot=200, seed=0)
    assert comparison.best["churn_auc"] == "best"
    close = comparison.noise_flags[("close", "churn_auc")]
    assert (
        close.method == "paired" and close.low < 0 and close.within_noise is False
    )  # every resample loses
    worse = comparison.noise_flags[("worse", "churn_auc")]
    assert worse.method == "paired" and worse.high < 0 and worse.within_noise is False
    # other customers at the same cutoff and horizon are another target: not ranked against the
    # best (no flag), but an explicit check between them uses separate intervals
    assert ("elsewhere", "churn_auc") not in comparison.noise_flags
    elsewhere = comparison.check("elsewhere", "best", "churn_auc")
    assert elsewhere.method == "intervals"
    # Separate intervals of 1.0 (no spread) and ~0.94 do not overlap here either.
    assert elsewhere.within_noise is False
    # Equal scores on the same customers: a tie (within noise), sharing the best mark.
    runs["twin"] = _from_predictions("twin", _hand_predictions(perfect))
    comparison = build_comparison(runs, n_boot=50)
    twin = comparison.noise_flags[("twin", "churn_auc")]
    assert twin.method == "tie" and twin.within_noise is True
    row = next(line for line in format_table(comparison).splitlines() if line.startswith("twin "))
    assert "1.000*" in row


def test_small_gap_is_within_noise_but_large_gap_is_not():
    rng = np.random.default_rng(0)
    n = 400
    churned = rng.integers(0, 2, n)
    signal = churned + rng.normal(0, 1.0, n)
    p_best = 1 / (1 + np.exp(-signal))
    p_close = 1 / (1 + np.exp(-(churned + rng.normal(0, 1.0, n))))  # equally skilled, other errors
    p_noise = rng.random(n)  # no skill
    value = np.where(churned == 1, 0.0, rng.gamma(2.0, 30.0, n))

    def frame(p):
        return pd.DataFrame(
            {
                "customer_id": np.arange(n).astype(str),
                "cutoff": pd.Timestamp(TEST_CUTOFF),
                "churned": churned,
                "future_value": value,
                "churn_probability": p,
                "predicted_value": (1 - p) * 60,
                "btyd_p_no_purchase": np.full(n, 0.5),
                "btyd_expected_value": np.full(n, value.mean()),
            }
        )

    runs = {
        name: _from_predictions(name, frame(p))
        for name, p in (("best", p_best), ("close", p_close), ("random", p_noise))
    }
    comparison = build_comparison(runs, n_boot=200)
    winner = comparison.best["churn_auc"]
    assert winner in {"best", "close"}
    other = "close" if winner == "best" else "best"
    assert comparison.noise_flags[(other, "churn_auc")].within_noise is True
    assert comparison.noise_flags[("random", "churn_auc")].within_noise is False
    assert paired_frame(runs["best"].predictions, runs["random"].predictions) is not None


def test_paired_frame_requires_same_customers_cutoff_and_outcomes():
    a = _hand_predictions([0.5] * 8)
    assert paired_frame(a, a.sample(frac=1, random_state=0)) is not None  # order does not matter
    assert paired_frame(a, a.iloc[1:]) is None
    assert paired_frame(a, a.assign(cutoff=pd.Timestamp("2025-01-01"))) is None
    assert paired_frame(a, a.assign(future_value=a["future_value"] + 1)) is None


def test_runs_tested_on_changed_data_are_said_not_comparable():
    """Same cutoff and horizon, but other customers or outcomes: the data set changed between the
    runs (regenerated in place, or another folder of the same name)."""
    same = _hand_predictions([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    runs = {
        "a": _from_predictions("a", same),
        "b": _from_predictions("b", same.assign(churn_probability=same["churn_probability"] / 2)),
        "c": _from_predictions("c", same.assign(future_value=same["future_value"] * 2)),
    }
    (warning,) = [w for w in consistency_warnings(runs) if "different customers" in w]
    assert "a and b: test data" in warning and "c: test data" in warning
    assert "not comparable" in warning
    runs.pop("c")
    assert not [w for w in consistency_warnings(runs) if "different customers" in w]


def test_runs_tested_on_changed_data_are_not_ranked_against_each_other():
    """The warning says their metrics are not comparable, so the table and the sentences do not
    compare them either: a run on another folder of the same name (or regenerated data) at the
    same cutoff and horizon is ranked in a group of its own, like a run on another horizon."""
    same = _hand_predictions([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    runs = {
        "baseline": _from_predictions("baseline", same.assign(churn_probability=0.5)),
        "engagement": _from_predictions("engagement", same),
        "elsewhere": _from_predictions(
            "elsewhere", same.assign(future_value=same["future_value"] * 2)
        ),
    }
    for run in runs.values():
        run.data = "synthetic"
    comparison = build_comparison(runs, n_boot=50)
    assert comparison.groups == [["baseline", "engagement"], ["elsewhere"]]
    assert not [key for key in comparison.noise_flags if "elsewhere" in key]
    row = next(line for line in format_table(comparison).splitlines() if line.startswith("else"))
    assert "*" not in row and "~" not in row
    said = what_this_says(comparison)
    assert not [s for s in said if s.startswith("elsewhere vs")]
    (other,) = [s for s in said if s.startswith("Measured on another target")]
    assert (
        "elsewhere: data set synthetic, test cutoff 2025-06-01, but other test customers" in other
    )


# --------------------------------------------------------------------------- projects


def _tagged_run(client, experiment: str, start_ms: int, auc: float, **tags: str) -> str:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, start_time=start_ms, tags={"kind": "train", **tags})
    client.log_metric(run.info.run_id, "test_churn_auc", auc, timestamp=start_ms)
    client.set_terminated(run.info.run_id, end_time=start_ms + 1000)
    return run.info.run_id


@pytest.fixture(scope="module")
def projects_store(tmp_path_factory) -> dict:
    """``baseline`` in two projects (``shop/baseline``, ``crm/baseline``) and an untagged legacy
    ``baseline`` experiment whose run saw ``data=shop``; ``crm`` is the newest."""
    tmp = tmp_path_factory.mktemp("projects")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    t0 = 1_760_000_000_000
    ids = {
        "legacy": _tagged_run(client, "baseline", t0, 0.70, data="shop"),
        "shop": _tagged_run(client, "shop/baseline", t0 + 1_000, 0.71, data="shop", project="shop"),
        "crm": _tagged_run(client, "crm/baseline", t0 + 2_000, 0.90, data="export", project="crm"),
        "crm-engagement": _tagged_run(
            client, "crm/engagement", t0 + 3_000, 0.91, data="export", project="crm"
        ),
    }
    return {"uri": uri, "ids": ids}


def test_compare_takes_the_project(projects_store):
    uri, ids = projects_store["uri"], projects_store["ids"]
    shop = compare_experiments(["baseline"], uri, project="shop", n_boot=20)
    assert shop.runs["baseline"].run_id == ids["shop"] and shop.runs["baseline"].project == "shop"
    crm = compare_experiments(None, uri, project="crm", n_boot=20)
    assert {n: r.run_id for n, r in crm.runs.items()} == {
        "baseline": ids["crm"],
        "engagement": ids["crm-engagement"],
    }
    # Without a project: the newest run of any project; an exact MLflow name picks that experiment.
    assert compare_experiments(["baseline"], uri, n_boot=20).runs["baseline"].run_id == ids["crm"]
    exact = compare_experiments(["shop/baseline"], uri, n_boot=20)
    assert exact.runs["shop/baseline"].run_id == ids["shop"]
    with pytest.raises(LookupError, match="project=nowhere"):
        compare_experiments(["baseline"], uri, project="nowhere")


def test_a_run_without_a_project_tag_belongs_to_its_data_sets_project(projects_store):
    uri, ids = projects_store["uri"], projects_store["ids"]
    client = MlflowClient(tracking_uri=uri)
    legacy = client.get_run(ids["legacy"])
    assert "project" not in legacy.data.tags
    # the legacy run is the only baseline run of project "shop" once shop/baseline is excluded
    runs, missing, _ = load_runs(["baseline"], uri, RunFilter(project="shop", data="shop"))
    assert runs["baseline"].run_id == ids["shop"] and not missing
    assert RunFilter(project="shop").matches({"kind": "train", "data": "shop"})
    assert not RunFilter(project="crm").matches({"kind": "train", "data": "shop"})
    assert RunFilter(project="crm").matches({"kind": "train", "data": "shop", "project": "crm"})
    assert not RunFilter().matches({"kind": "tune", "data": "shop"})


def test_compare_command_with_project(projects_store, tmp_path):
    from typer.testing import CliRunner

    from lifecycle_cli import app

    out = tmp_path / "crm.html"
    args = [
        "compare",
        "--project",
        "crm",
        "--tracking-uri",
        projects_store["uri"],
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "engagement" in result.output and "- Best churn AUC: engagement (0.910)" in result.output
    assert out.is_file()
    missing = CliRunner().invoke(app, [*args[:2], "nowhere", *args[3:]])
    assert missing.exit_code == 2 and "project=nowhere" in missing.output
    # without --project the store's runs of several projects are not ranked together
    mixed = CliRunner().invoke(app, [args[0], *args[3:]])
    assert mixed.exit_code == 2 and "pass --project NAME" in mixed.output, mixed.output
    assert not (tmp_path / "c.html").exists()


def test_compare_refuses_to_rank_a_training_run_with_a_backtest(tmp_path):
    """A training run's test window and a backtest's are different targets: without --kind the
    latest runs of both kinds are refused, naming them; with --kind each is ranked alone."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    t0 = 1_760_000_000_000
    _tagged_run(client, "shop/baseline", t0, 0.80, data="shop", project="shop")
    _tagged_run(client, "shop/tuned", t0 + 1_000, 0.95, data="shop", project="shop",
                kind="backtest")  # fmt: skip
    args = [
        "compare",
        "--project",
        "shop",
        "--tracking-uri",
        uri,
        "--out",
        str(tmp_path / "c.html"),
    ]
    mixed = CliRunner().invoke(app, args)
    assert (
        mixed.exit_code == 2 and "several kinds (backtest: tuned; train: baseline)" in mixed.output
    )
    assert "pass --kind backtest or --kind train" in mixed.output
    alone = CliRunner().invoke(app, [*args, "--kind", "train"])
    assert alone.exit_code == 0 and "tuned" not in alone.output, alone.output
    # a name with no run (a typo) is an error, not a warning under a one-run "comparison"
    typo = CliRunner().invoke(app, [args[0], "baseline", "basline", *args[1:], "--kind", "train"])
    assert typo.exit_code == 2 and "no finished run for basline" in typo.output, typo.output


# --------------------------------------------------------------------------- the template


def test_report_escapes_names_and_warnings():
    """Experiment names, warnings and sentences reach the page escaped (Jinja2 autoescape)."""
    runs = {
        "<b>x</b>": _record("<b>x</b>", churn_auc=0.8, clv_gini=0.5, train_job_seconds=1.0),
        'y"&': _record('y"&', churn_auc=0.7, clv_gini=0.6, train_job_seconds=2.0),
    }
    comparison = build_comparison(runs, warnings=["<script>alert(1)</script>"])
    page = render_report(comparison, title="A & B")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>A &amp; B</title>" in page and "y&#34;&amp;" in page
    # no predictions: every plot section says why instead of drawing
    assert "No run has test predictions, so no gains curves can be drawn." in page
    assert page.count("<section id=") == len(SECTIONS)


def test_what_this_says_on_hand_made_numbers():
    runs = {
        "baseline": _record("baseline", churn_auc=0.80, clv_gini=0.50, churn_brier=0.2,
                            clv_total_ratio=0.9),
        "better": _record("better", churn_auc=0.85, clv_gini=0.40, churn_brier=0.1,
                          clv_total_ratio=1.05),
    }  # fmt: skip
    sentences = what_this_says(build_comparison(runs))
    assert sentences[0] == (
        "Best churn AUC: better (0.850); the gap to baseline could not be checked against noise."
    )
    assert sentences[1].startswith("Best Gini: baseline (0.500)")
    assert sentences[2] == (
        "better vs baseline: churn AUC +0.050, not checked against noise; "
        "Gini -0.100, not checked against noise."
    )
    assert sentences[3] == (
        "Best calibrated churn probabilities (Brier): better; total predicted value closest to the "
        "actual total: better (ratio 1.050)."
    )
    assert sentences[-1].startswith("Read with care: no predictions/test.parquet for baseline and")


def test_a_truncated_artifact_is_a_warning_not_a_crash(tmp_path):
    """A predictions file cut mid-write (e.g. a killed upload) and invalid JSON: the run is still
    compared, without noise checks, and the warning names the run and the artifact."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    ids = {}
    for name in ("good", "cut"):
        experiment_id = client.create_experiment(
            name, artifact_location=(tmp_path / "mlruns" / name).as_uri()
        )
        predictions = _predictions(_outcomes(), 0.3, 1)
        ids[name] = _log_run(
            client, experiment_id, name, "train", predictions, tmp_path, 1_750_000_000_000
        )
    artifacts = tmp_path / "mlruns" / "cut" / ids["cut"] / "artifacts"
    parquet = artifacts / "predictions" / "test.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    (artifacts / "feature_importance.json").write_text('{"churn": {"recency_days": ')
    comparison = compare_experiments(None, uri, n_boot=20)
    cut = comparison.runs["cut"]
    assert cut.predictions is None and cut.importance is None and cut.fingerprint is not None
    assert comparison.runs["good"].predictions is not None
    warnings = " | ".join(comparison.warnings)
    assert "cut: unreadable artifact predictions/test.parquet" in warnings
    assert "cut: unreadable artifact feature_importance.json (JSONDecodeError" in warnings
    assert comparison.noise_flags[("cut", "churn_pr_auc")].method in ("unavailable", "tie")
    out = write_report(comparison, tmp_path / "report.html")
    assert "unreadable artifact predictions/test.parquet" in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_past_eight_runs_every_plot_draws_the_same_runs_in_the_same_colours(tmp_path, monkeypatch):
    """Thirty curves in one plot cannot be told apart: every plot keeps the same runs, the
    reference run (baseline, here the least accurate) and the best on churn AUC, each in one
    colour everywhere; the captions name the runs left out and the table keeps all. Before, each
    plot kept its own set (baseline in none), colours moved, importance bars had no cap."""
    import matplotlib.colors as mcolors

    import experiments.report as report
    from experiments.report import MAX_PLOTTED

    rng = np.random.default_rng(0)
    base = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    runs = {}
    for i in range(MAX_PLOTTED + 3):  # run-00 is the most accurate, run-10 the least
        noisy = np.clip(base + rng.normal(0, 0.05 * i, 8), 0.01, 0.99)
        runs[f"run-{i:02d}"] = _from_predictions(f"run-{i:02d}", _hand_predictions(list(noisy)))
    runs["baseline"] = _from_predictions("baseline", _hand_predictions(list(base[::-1])))
    for i, run in enumerate(runs.values()):
        run.importance = {"churn": {f"f{i}": 1.0, "recency_days": 2.0}, "clv": {"x": 1.0}}
    comparison = build_comparison(runs, n_boot=20)
    figures = []
    original = report._image
    monkeypatch.setattr(
        report, "_image", lambda fig, *a: (figures.append(fig), original(fig, *a))[1]
    )
    page = write_report(comparison, tmp_path / "compare.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, flags=re.DOTALL))
    charts = re.findall(r'<img alt="Decile chart of ([^"]+)"', sections["deciles"])
    plotted = report.plotted_runs(comparison)
    assert charts == plotted.names and len(charts) == MAX_PLOTTED and "baseline" in charts
    left = sorted(set(runs) - set(charts))
    assert len(left) == 4 and "run-10" in left  # the least accurate after baseline
    for section in ("gains", "calibration", "deciles", "importance"):
        assert "Drawn: the reference run baseline" in sections[section], section
        assert f"left out: {', '.join(sorted(left, key=list(runs).index))}." in sections[section]
    assert "run-10" in sections["table"]  # the table keeps every run
    drawn: dict[str, set[str]] = {}
    for fig in figures:
        ax = fig.axes[0]
        items = [*ax.get_lines(), *(c.patches[0] for c in ax.containers)]
        for item in items:
            name = str(item.get_label()).split(" (")[0]
            if name in runs:
                color = item.get_color() if hasattr(item, "get_xdata") else item.get_facecolor()
                drawn.setdefault(name, set()).add(mcolors.to_hex(color))
    assert set(drawn) == set(plotted.names)
    assert all(len(colours) == 1 for colours in drawn.values()), drawn
    assert len({next(iter(c)) for c in drawn.values()}) == MAX_PLOTTED


def _on_target(record: RunRecord, horizon: int, cutoff: str = TEST_CUTOFF) -> RunRecord:
    record.data = "synthetic"
    record.fingerprint = {"cutoffs": {"test": [cutoff]}}
    record.params = {"labels.churn_horizon_days": str(horizon)}
    return record


def test_runs_over_another_horizon_are_not_ranked_against_the_reference():
    """A 180-day churn AUC is higher because the question is easier, not because the model is
    better: horizon-180 is neither marked best over baseline/engagement nor in their sentences."""
    runs = {
        "baseline": _on_target(_record("baseline", churn_auc=0.70, clv_gini=0.50), 90),
        "engagement": _on_target(_record("engagement", churn_auc=0.75, clv_gini=0.40), 90),
        "horizon-180": _on_target(
            _record("horizon-180", churn_auc=0.90, clv_gini=0.70), 180, "2025-03-01"
        ),
    }
    comparison = build_comparison(runs)
    assert comparison.groups == [["baseline", "engagement"], ["horizon-180"]]
    assert comparison.best == {"churn_auc": "engagement", "clv_gini": "baseline"}
    assert not comparison.is_best("horizon-180", "churn_auc")
    assert not [key for key in comparison.noise_flags if "horizon-180" in key]
    row = next(line for line in format_table(comparison).splitlines() if line.startswith("hori"))
    assert "*" not in row and "~" not in row
    assert "ranked separately: baseline and engagement | horizon-180" in format_table(comparison)
    said = what_this_says(comparison)
    assert said[0].startswith("Best churn AUC: engagement (0.750)")
    assert not [s for s in said if s.startswith("horizon-180 vs")]
    (other,) = [s for s in said if s.startswith("Measured on another target")]
    assert "than baseline (data set synthetic, test cutoff 2025-06-01, over churn 90 d)" in other
    assert "against it: horizon-180: data set synthetic, test cutoff 2025-03-01" in other
    # two runs of the other horizon are ranked against each other
    runs["h180-b"] = _on_target(_record("h180-b", churn_auc=0.95, clv_gini=0.6), 180, "2025-03-01")
    both = build_comparison(runs)
    assert both.is_best("h180-b", "churn_auc") and both.is_best("horizon-180", "clv_gini")
    assert both.best["churn_auc"] == "engagement"
    page = render_report(comparison)
    assert "ranked separately: baseline and engagement | horizon-180" in page

    # a reference without tags joined by a cdnow run is a cdnow group: a synthetic run on
    # another test cutoff is not ranked against them (it was: an unknown part matched anything)
    plain = _record("baseline", churn_auc=0.70, clv_gini=0.50)
    cdnow = _on_target(_record("a", churn_auc=0.72, clv_gini=0.5), 90, "1998-01-01")
    cdnow.data = "cdnow"
    other = _on_target(_record("b", churn_auc=0.90, clv_gini=0.5), 90)
    mixed = build_comparison({"baseline": plain, "a": cdnow, "b": other})
    assert mixed.groups == [["baseline", "a"], ["b"]]


def test_a_newest_run_that_did_not_finish_is_said_with_the_run_shown_instead(store, tmp_path):
    """baseline's newest train run FAILED: the older finished run is shown under its name, and
    the text and HTML reports say so; an experiment whose only run was killed (left RUNNING) is
    named instead of vanishing."""
    comparison = compare_experiments(["baseline", "engagement"], store["uri"], kind="train")
    (said,) = [w for w in comparison.warnings if w.startswith("baseline: its newest run")]
    assert "did not finish (FAILED)" in said
    assert f"shown instead: the older run {store['ids']['baseline'][:8]}" in said
    assert f"warning: {said}" in format_table(comparison)
    assert f"Warning: {said}" in render_report(comparison)

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    _tagged_run(client, "baseline", 1_760_000_000_000, 0.8, data="shop")
    killed = client.create_experiment("engagement")
    client.create_run(killed, start_time=1_760_000_100_000, tags={"kind": "train", "data": "shop"})
    every = compare_experiments(None, uri, n_boot=20)
    assert list(every.runs) == ["baseline"]
    (gone,) = [w for w in every.warnings if w.startswith("engagement:")]
    assert "(RUNNING: still running, or killed" in gone and "it is not compared" in gone
    with pytest.raises(LookupError, match="engagement: its newest run .* not compared"):
        compare_experiments(["engagement"], uri)


def test_compare_without_a_store_says_so_and_creates_none(tmp_path, monkeypatch):
    """In a folder without mlflow.db, compare used to create an empty 954 KB store (and the
    missing folder of --tracking-uri) and then say "no finished run"; a folder URI (MLflow's file
    backend) ended in a traceback."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    here = CliRunner().invoke(app, ["compare"])
    assert here.exit_code == 2 and "no MLflow store at mlflow.db" in here.output, here.output
    assert "train first" in here.output
    elsewhere = CliRunner().invoke(
        app, ["compare", "baseline", "--tracking-uri", f"sqlite:///{tmp_path}/nonexist/x.db"]
    )
    assert elsewhere.exit_code == 2 and f"no MLflow store at {tmp_path}/nonexist/x.db" in (
        elsewhere.output
    )
    folder = CliRunner().invoke(app, ["compare", "--tracking-uri", "mlruns"])
    assert folder.exit_code == 2 and "is a folder (MLflow's file backend)" in folder.output
    assert list(tmp_path.iterdir()) == []


def test_decile_charts_share_one_y_range_and_name_the_value_horizon(monkeypatch):
    """Side by side on their own y-scales, a run whose values are ten times smaller looked as
    tall as the other; the axis did not say over how many days the value is summed, nor in what
    unit (the data's currency, or the run's when it logs one). Runs on
    different targets (another horizon, another data set) keep ranges of their own."""
    import experiments.report as report

    small = _hand_predictions([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    # same customers and outcomes (one target), predictions ten times larger
    large = small.assign(predicted_value=small["predicted_value"] * 10)
    runs = {"small": _from_predictions("small", small), "large": _from_predictions("large", large)}
    for run in runs.values():
        run.params = {"labels.value_horizon_days": "180"}
    figures = []
    monkeypatch.setattr(report, "_image", lambda fig, *a: figures.append(fig))

    def axes(runs):
        figures.clear()
        comparison = build_comparison(runs, n_boot=20)
        report._deciles(comparison, report.plotted_runs(comparison))
        return [fig.axes[0] for fig in figures]

    def said(ax):  # the label as read: a long one is wrapped onto two lines
        return " ".join(ax.get_ylabel().split())

    small_ax, large_ax = axes(runs)
    assert small_ax.get_ylim() == large_ax.get_ylim()
    assert large_ax.get_ylim()[1] >= 360  # the large run's top decile fits
    assert said(small_ax) == "Mean value per customer (data's currency), next 180 days"
    # a backtest's one horizon (another target), not its config's value horizon it logs too
    runs["large"].params = {"horizon_days": "365", "labels.value_horizon_days": "180"}
    small_ax, large_ax = axes(runs)
    assert said(large_ax) == "Mean value per customer (data's currency), next 365 days"
    runs["large"].params = {"labels.value": "margin", "currency": "EUR"}
    assert said(axes(runs)[1]) == "Mean margin per customer (EUR)"
    assert small_ax.get_ylim()[1] < 100 <= large_ax.get_ylim()[1]


def test_legends_say_how_every_column_ranks_and_which_gaps_were_not_checked():
    """The range columns had no direction in the legend; a run without test predictions showed
    no mark, as if beyond noise; a one-run report explained */~ marks it did not have and
    showed an empty "What this says"."""
    runs = {
        "a": _record("a", churn_auc=0.80, clv_interval_coverage_error=0.05, clv_interval_width=9),
        "b": _record("b", churn_auc=0.85, clv_interval_coverage_error=0.02, clv_interval_width=7),
    }
    comparison = build_comparison(runs)
    text = format_table(comparison)
    assert "lower Brier, CLV MAE, range coverage error (distance of" in text
    assert "and range width; total ratio" in text
    assert "train s (wall time of the training job, which on a shared machine" in text
    assert "not checked against noise" in text and "and time are not checked" not in text
    row_a = next(line for line in text.splitlines() if line.startswith("a "))
    assert "0.800?" in row_a  # no predictions/test.parquet: the gap is not checked
    assert "? noise not checked (no test predictions)" in text
    page = render_report(comparison)
    assert 'class="unchecked"' in page and "range coverage error (distance of" in page

    alone = build_comparison({"a": runs["a"]})
    lone_text = format_table(alone)
    assert "best per column" not in lone_text and "within run-to-run noise" not in lone_text
    assert "runs: a train" in lone_text
    lone_page = render_report(alone)
    assert "best per column" not in lone_page
    summary = re.search(r'<section id="summary">(.*?)</section>', lone_page, re.DOTALL)
    assert summary and "<li>" in summary.group(1)  # the missing-predictions warning at least
    bare = RunRecord("a", "a-run", {"test_churn_auc": 0.8}, kind="train")
    bare.predictions = _hand_predictions([0.5] * 8).drop(
        columns=["btyd_p_no_purchase", "btyd_expected_value"]
    )
    assert what_this_says(build_comparison({"a": bare})) == []
    summary = re.search(
        r'<section id="summary">(.*?)</section>',
        render_report(build_comparison({"a": bare})),
        re.DOTALL,
    )
    assert summary and "One run and nothing to rank it against" in summary.group(1)


def test_a_run_on_another_folder_of_the_same_name_is_warned_about():
    """``data`` is only the folder's base name: a run on other/syn beside runs on data/syn had no
    warning. Runs with the same cutoffs, features and labels that built different training tables
    (``sha256_of_row_hashes``) read changed data; other feature sets build other tables by
    design, so they are not compared."""

    def run(name: str, path: str, digest: str, families: str = "rfm", days: int = 90) -> RunRecord:
        record = _on_target(_record(name, churn_auc=0.8), days)
        record.data_path, record.params["features.families"] = path, families
        record.fingerprint = {"cutoffs": {"test": [TEST_CUTOFF]}, "sha256_of_row_hashes": digest}
        return record

    runs = {"baseline": run("baseline", "/w/data/synthetic", "aaa"),
            "wide": run("wide", "/w/data/synthetic", "bbb", "rfm, engagement"),
            "h180": run("h180", "/w/other/synthetic", "ccc", "rfm, engagement", 180)}  # fmt: skip
    (said,) = [w for w in consistency_warnings(runs) if "different folders" in w]
    assert said == (
        "runs on data set synthetic read different folders (baseline and wide from "
        "/w/data/synthetic; h180 from /w/other/synthetic): synthetic is only the folder's name, "
        "so they may not have seen the same data"
    )
    assert not [w for w in consistency_warnings(runs) if "training tables" in w]
    runs["again"] = run("again", "/w/data/synthetic", "ddd")  # baseline's settings, other table
    (table,) = [w for w in consistency_warnings(runs) if "training tables" in w]
    assert "same cutoffs, features and labels built different training tables" in table
    assert "(baseline: aaa; again: ddd)" in table
    same = {n: run(n, "/w/data/synthetic", "aaa") for n in ("a", "b")}
    assert not [w for w in consistency_warnings(same) if "folders" in w or "tables" in w]


def test_the_plotted_runs_are_chosen_on_the_references_target_first():
    """Past eight runs the plots kept the best on churn AUC across horizons, which the table
    refuses to rank: eight 180-day runs (an easier question, higher AUC) pushed out the 90-day
    runs baseline is compared with."""
    from experiments.report import MAX_PLOTTED, plotted_runs

    runs = {"baseline": _on_target(_record("baseline", churn_auc=0.70), 90)}
    runs |= {f"h{i}": _on_target(_record(f"h{i}", churn_auc=0.9), 180, "2025-03-01")
             for i in range(MAX_PLOTTED)}  # fmt: skip
    runs |= {n: _on_target(_record(n, churn_auc=0.75), 90) for n in ("engagement", "tuned")}
    plotted = plotted_runs(build_comparison(runs))
    assert plotted.names[:1] == ["baseline"] and len(plotted.names) == MAX_PLOTTED
    assert {"engagement", "tuned"} <= set(plotted.names)
    assert plotted.left_out.endswith("left out: h5, h6, h7.")


def test_gains_plots_keep_each_target_apart_and_show_the_perfect_ranking(monkeypatch):
    """One gains plot held 90-day and 180-day runs: the 180-day run looked best only because
    fewer of its customers churned, and with 50% churners every legend read "top 10%: 20%" (the
    most a ranking can capture there). Now one plot per target, a perfect-ranking curve, and
    the share captured in the top (churn rate)% when the churn rate is above 10%."""
    import experiments.report as report

    figures = []
    monkeypatch.setattr(report, "_image", lambda fig, *a: figures.append((fig, a)))
    good, worse = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1], [0.9, 0.8, 0.4, 0.6, 0.7, 0.3, 0.2, 0.1]
    later = _hand_predictions(good, "2025-03-01")
    later["churned"] = np.array([1, 1, 0, 0, 0, 0, 0, 0] * 25)  # 25% churned over 180 days
    runs = {
        "baseline": _on_target(_from_predictions("baseline", _hand_predictions(worse)), 90),
        "engagement": _on_target(_from_predictions("engagement", _hand_predictions(good)), 90),
        "horizon-180": _on_target(_from_predictions("horizon-180", later), 180, "2025-03-01"),
    }
    comparison = build_comparison(runs, n_boot=20)
    gains = report._gains(comparison, report.plotted_runs(comparison))
    assert len(figures) == 4 and "One plot per target" in gains["parts"][-1]
    legends = [[t.get_text() for t in fig.axes[0].get_legend().get_texts()] for fig, _ in figures]
    churn_90, value_90, churn_180, _ = legends
    assert [t.split(" (")[0] for t in churn_90] == [
        "baseline", "engagement", "BG/NBD baseline", "random", "perfect ranking"]  # fmt: skip
    assert "engagement (50% churned; top 50%: 100%)" in churn_90
    assert "perfect ranking (50% churned)" in churn_90
    assert [t.split(" (")[0] for t in churn_180][0] == "horizon-180"
    assert "horizon-180 (25% churned; top 25%: 100%)" in churn_180
    assert "perfect ranking" in value_90 and any("top 10%" in t for t in value_90)
    title = figures[2][0].axes[0].get_title()
    assert "over churn 180 d" in title and "test cutoff 2025-03-01" in title
    assert "the legend gives the share captured in the top 50% instead" in figures[0][1][1]


def test_a_run_with_the_same_predictions_is_dashed_and_named_not_hidden(monkeypatch):
    """A rerun with the same seed predicts the same: its gains and calibration lines lay exactly
    over the first run's, whose colour was in the legend but nowhere in the picture. It is
    drawn dashed and labelled as the same predictions as that run; the gains legend of such long
    labels goes under the plot (inside, it ran off the picture's left edge)."""
    import experiments.report as report

    figures = []
    monkeypatch.setattr(report, "_image", lambda fig, *a: figures.append(fig))
    good, worse = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1], [0.9, 0.8, 0.4, 0.6, 0.7, 0.3, 0.2, 0.1]
    runs = {
        "baseline": _from_predictions("baseline", _hand_predictions(good)),
        "baseline-again": _from_predictions("baseline-again", _hand_predictions(good)),
        "engagement": _from_predictions("engagement", _hand_predictions(worse)),
    }
    comparison = build_comparison(runs, n_boot=20)
    plotted = report.plotted_runs(comparison)
    assert plotted.twins == {"baseline-again": "baseline"}
    report._gains(comparison, plotted)
    report._calibration(comparison, plotted)
    assert len(figures) == 3  # churn gains, value gains, calibration
    for fig in figures:
        lines = {str(line.get_label()): line for line in fig.axes[0].get_lines()}
        again = [label for label in lines if label.startswith("baseline-again")]
        assert len(again) == 1 and "same predictions as baseline" in again[0], list(lines)
        assert lines[again[0]].get_linestyle() == "--"
        engagement = next(line for label, line in lines.items() if label.startswith("engagement"))
        assert engagement.get_linestyle() == "-"
        fig.draw_without_rendering()  # the legend of long labels fits in the picture
        box = fig.axes[0].get_legend().get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width and 0 <= box.y0, (box, fig.bbox)


def test_an_interval_bound_near_zero_is_not_shown_as_zero():
    """The sentence "churn AUC -0.003 (95% interval -0.006 to -0.000), worse beyond noise" read
    as touching 0: a bound that rounds to 0 gets more digits, in the sentence and the noise-check
    table."""
    from experiments.noise import NoiseCheck
    from experiments.report import _check_row

    runs = {"baseline": _record("baseline", churn_auc=0.800),
            "other": _record("other", churn_auc=0.797)}  # fmt: skip
    comparison = build_comparison(runs)
    check = NoiseCheck("other", "churn_auc", "baseline", "paired", -0.003, -0.0061, -0.00021, False)
    comparison.noise._checks[("other", "baseline", "churn_auc")] = check
    (said,) = [s for s in what_this_says(comparison) if s.startswith("other vs baseline")]
    assert "churn AUC -0.003 (95% interval -0.0061 to -0.0002), worse beyond noise" in said
    near = NoiseCheck("other", "churn_auc", "baseline", "paired", -0.003, -0.0061, -0.00002, False)
    row = _check_row("other", "churn_auc", near)
    assert (row["low"], row["high"]) == ("-0.00610", "-0.00002")
    assert "[-0.00610, -0.00002]" in near.describe()  # the table cell's title


def test_an_exact_tie_shares_the_best_mark_and_is_not_said_within_noise():
    """A range coverage error equal to the best's was marked ``~`` (within noise) although the
    legend says the range columns are not checked against noise; the sentence said a run tied
    on churn AUC was "within noise" of the best."""
    runs = {
        n: _record(n, churn_auc=0.80, clv_interval_coverage_error=e, clv_interval_width=9)
        for n, e in (("a", 0.04), ("b", 0.04), ("c", 0.05))
    }
    comparison = build_comparison(runs)
    text = format_table(comparison)
    row_b = next(line for line in text.splitlines() if line.startswith("b "))
    assert "0.040*" in row_b and "~" not in row_b and "0.800*" in row_b
    assert "an exact tie shares it" in text
    assert what_this_says(comparison)[0] == "Best churn AUC: a (0.800), tied with b and c."
    page = render_report(comparison)
    assert 'title="b ties a"' in page and "an exact tie shares it" in page
    # nor in the table of noise checks, which said "within noise" of a range column's tie
    checks = page[page.index("Noise checks against the best") :]
    checks = checks[: checks.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", checks, flags=re.DOTALL)
    (tie,) = [r for r in rows if "range coverage error" in r and ">b<" in r]
    assert "within noise" not in tie and "the same value" in tie


def test_importance_captions_say_the_offset_carries_the_btyd_part():
    """btyd-features' bars leave out its BTYD offset, so recency looked unimportant beside
    baseline's; the caption did not say the offset carries that part."""
    import experiments.report as report

    runs = {n: _from_predictions(n, _hand_predictions([0.5] * 8)) for n in ("baseline", "btyd")}
    for run in runs.values():
        run.importance = {"churn": {"recency_days": 1.0, "x": 1.0}, "clv": {"x": 1.0}}
    runs["btyd"].params = {"churn.offset": "btyd", "clv.offset": "btyd"}
    comparison = build_comparison(runs, n_boot=20)
    churn, clv = report._importance(comparison, report.plotted_runs(comparison))
    assert "btyd starts from the BG/NBD forecast (offset): the bars show only the correction" in (
        churn["figure"].caption
    )
    assert "carries the BTYD part (recency and frequency)" in churn["figure"].caption
    assert "from the BG/NBD + Gamma-Gamma forecast" in clv["figure"].caption
    assert "baseline" not in churn["figure"].caption.split("(offset)")[0]
    runs["btyd"].params = {}
    plain = build_comparison(runs, n_boot=20)
    (plain_churn, _) = report._importance(plain, report.plotted_runs(plain))
    assert "offset" not in plain_churn["figure"].caption


def test_a_value_label_of_another_definition_is_another_target_not_changed_data():
    """A run whose value label is discounted (``labels.annual_discount_rate``) or margin has
    other outcomes on the same customers: a target of its own, said as such, not "the data
    changed between them (regenerated, re-ingested ...)", which sent the analyst to the data."""
    same = _hand_predictions([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    runs = {
        "baseline": _from_predictions("baseline", same),
        "discounted": _from_predictions(
            "discounted", same.assign(future_value=same["future_value"] * 0.95)
        ),
    }
    labels = {"labels.churn_horizon_days": "90", "labels.value_horizon_days": "180"}
    runs["baseline"].params = {**labels, "labels.value": "revenue"}
    runs["discounted"].params = {
        **labels, "labels.value": "revenue", "labels.annual_discount_rate": "0.2",
    }  # fmt: skip
    for run in runs.values():
        run.data = "synthetic"
    comparison = build_comparison(runs, n_boot=20)
    assert comparison.groups == [["baseline"], ["discounted"]]
    assert not [w for w in comparison.warnings if "the data changed" in w]
    (said,) = [w for w in comparison.warnings if "value labels" in w]
    assert "discounted over churn 90 d, value 180 d discounted 20% a year" in said
    assert "baseline over churn 90 d, value 180 d;" in said


def test_a_newest_run_left_running_says_whether_its_process_is_gone(tmp_path):
    """A run killed with -9 stays RUNNING in the store; compare said "still running, or killed"
    although the run names its process (host, pid, start): the analyst could not tell whether to
    wait for it or run it again."""
    import os
    import socket
    import subprocess
    import sys

    import psutil

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone_started = psutil.Process(gone.pid).create_time()
    gone.wait()
    me = psutil.Process(os.getpid())
    for name, pid, started, at in (
        ("killed", gone.pid, gone_started, 1_760_000_100_000),
        ("running", me.pid, me.create_time(), 1_760_000_200_000),
    ):
        _tagged_run(client, name, 1_760_000_000_000, 0.8, data="shop")
        experiment = client.get_experiment_by_name(name).experiment_id
        owner = {"lifecycle.host": socket.gethostname(), "lifecycle.pid": str(pid),
                 "lifecycle.pid_started": f"{started:.3f}"}  # fmt: skip
        client.create_run(
            experiment, start_time=at, tags={"kind": "train", "data": "shop", **owner}
        )
    warnings = compare_experiments(None, uri, n_boot=20).warnings
    (killed,) = [w for w in warnings if w.startswith("killed:")]
    assert f"(RUNNING, but its process {gone.pid} is gone: killed)" in killed
    (running,) = [w for w in warnings if w.startswith("running:")]
    assert f"(RUNNING: still running, process {me.pid})" in running
