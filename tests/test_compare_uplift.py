"""`lifecycle compare --kind uplift`: the Qini and policy-value table of uplift runs, not the empty
churn/CLV table (runs logged by the real ``training.uplift_run.log_to_mlflow``)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from experiments.compare import build_comparison, format_table
from experiments.narrative import what_this_says
from experiments.runs import RunRecord
from experiments.uplift_table import uplift_rows
from lifecycle_cli import app
from training.uplift_run import UpliftResult, UpliftRunConfig, log_to_mlflow


def _result(learner_qini: float, low: float, high: float) -> UpliftResult:
    metrics = pd.DataFrame(
        [
            {"action": "email", "outcome": "retained", "model": "treat everyone", "qini": 0.0,
             "qini_lo": 0.0, "qini_hi": 0.0, "uplift@20": 0.01},
            {"action": "email", "outcome": "retained", "model": "t-learner", "qini": learner_qini,
             "qini_lo": low, "qini_hi": high, "uplift@20": 0.05},
            {"action": "email", "outcome": "value", "model": "t-learner", "qini": 1.5,
             "qini_lo": -0.5, "qini_hi": 3.0, "uplift@20": 2.0},
        ]
    )  # fmt: skip
    policy = pd.DataFrame(
        [
            {"action": "email", "outcome": "retained", "model": "t-learner", "contacts": 100,
             "estimated": 12.5, "estimated_lo": 3.0, "estimated_hi": 20.0},
        ]
    )  # fmt: skip
    return UpliftResult(metrics=metrics, policy=policy, propensity=pd.DataFrame())


def test_compare_kind_uplift_prints_qini_and_policy_value(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = UpliftRunConfig()
    for experiment, result in (
        ("uplift-a", _result(0.0040, 0.0010, 0.0070)),
        ("uplift-b", _result(0.0020, -0.0010, 0.0050)),
    ):
        log_to_mlflow(result, config, tmp_path / "campaigns", uri, experiment, log=lambda m: None)

    out = CliRunner().invoke(
        app,
        ["compare", "--kind", "uplift", "--tracking-uri", uri, "--out", str(tmp_path / "c.html")],
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split()[:5] == ["experiment", "action", "outcome", "model", "qini"]
    assert "churn AUC" not in out.output  # no empty train table
    assert "no predictions/test.parquet" not in out.output  # uplift runs have intervals instead
    rows = {tuple(line.split()[:4]): line for line in lines if line.startswith("uplift-")}
    best = rows[("uplift-a", "email", "retained", "t-learner")]
    assert "0.0040 [0.0010, 0.0070]*" in best and "12.5 [3.0, 20.0]" in best
    assert "contacts" in lines[0] and " 100 " in best  # the budget the gain is for
    assert "0.0020 [-0.0010, 0.0050] " in rows[("uplift-b", "email", "retained", "t-learner")]
    assert "1.500 [-0.500, 3.000]*" in rows[("uplift-a", "email", "value", "t-learner")]

    # named without --kind: the default (train and backtest runs) left them out, and said only
    # "no finished run ... run `lifecycle experiment run NAME`"
    named = CliRunner().invoke(app, ["compare", "uplift-a", "--tracking-uri", uri])
    assert named.exit_code == 2
    assert "uplift-a finished as uplift runs" in named.output, named.output
    assert "pass --kind uplift" in named.output
    assert (
        "- email, retained: best Qini 0.0040 [0.0010, 0.0070] by t-learner (uplift-a), which "
        "ranks better than random (the interval is above 0)." in lines  # its only ranking
    )
    assert any("email, value: best Qini 1.500" in s and "contains 0" in s for s in lines)
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    # uplift runs only: no empty churn / value sections ("no decile charts can be drawn")
    assert 'id="uplift"' in page and 'id="table"' in page
    assert not any(f'id="{s}"' in page for s in ("gains", "calibration", "deciles", "importance"))
    assert 'href="#deciles"' not in page
    table = page.split('<section id="table">')[1].split("</section>")[0]
    assert "churn AUC" not in table and '<td class="" title="">-' not in table  # no empty rows
    assert table.count('<tr><td class="name">uplift-') == 6  # 2 runs x 3 rankings
    assert '0.0040 [0.0010, 0.0070]<span class="mark">*</span>' in table
    assert "12.5 [3.0, 20.0]" in table and "<th>contacts</th>" in table and "<td>100</td>" in table


def test_a_mixed_comparison_keeps_the_metric_table_and_adds_the_uplift_table():
    runs = {
        "baseline": RunRecord("baseline", "a" * 32, {"test_churn_auc": 0.8}, kind="train"),
        "uplift": RunRecord(
            "uplift", "b" * 32, {"email.retained.t-learner.qini": 0.01, "test_x": 1.0},
            kind="uplift",
        ),
    }  # fmt: skip
    text = format_table(build_comparison(runs, n_boot=20))
    assert text.index("churn AUC") < text.index("qini [95% CI]")
    assert "uplift " not in text.split("qini [95% CI]")[0].split("runs:")[0]
    assert uplift_rows(runs)[["experiment", "model", "qini"]].values.tolist() == [
        ["uplift", "t-learner", 0.01]
    ]
    # an uplift run that logged nothing of its tables says so rather than printing an empty table
    empty = {"u": RunRecord("u", "c" * 32, {}, kind="uplift")}
    assert format_table(build_comparison(empty, n_boot=20)).startswith("no Qini or policy value")
    assert what_this_says(build_comparison(empty, n_boot=20)) == []


def test_the_html_metric_table_shows_only_metrics_some_compared_run_has():
    """A mixed comparison: the churn/CLV table has the training run's row and only the metrics
    it logged; the uplift run is in the Qini table, not an empty metric row."""
    from experiments.report import render_report

    runs = {
        "baseline": RunRecord("baseline", "a" * 32, {"test_churn_auc": 0.8}, kind="train"),
        "uplift": RunRecord(
            "uplift", "b" * 32,
            {"email.retained.t-learner.qini": 0.01, "email.retained.t-learner.qini_lo": 0.002,
             "email.retained.t-learner.qini_hi": 0.02}, kind="uplift",
        ),
    }  # fmt: skip
    page = render_report(build_comparison(runs, n_boot=20))
    table = page.split('<section id="table">')[1].split("</section>")[0]
    metric, qini = table.split("Qini [95% CI]")
    assert "<th>churn AUC</th>" in metric
    assert "<th>CLV MAE</th>" not in metric and "<th>Brier</th>" not in metric
    assert '<td class="name">baseline</td>' in metric and "uplift</td>" not in metric
    assert '<td class="name">uplift</td>' in qini and "0.0100 [0.0020, 0.0200]" in qini


def test_the_oracle_ranking_is_never_the_best_one():
    import pandas as pd

    from experiments.uplift_table import best_qini
    from training.uplift_run import ORACLE

    rows = pd.DataFrame(
        {"action": ["call"] * 2, "outcome": ["value"] * 2, "model": [ORACLE, "selected"],
         "qini": [14.6, 2.1]}
    )  # fmt: skip
    assert best_qini(rows)["model"].tolist() == ["selected"]


def test_treating_everyone_is_never_the_best_ranking():
    """Its Qini is 0 by definition: when every learner's point estimate was below 0, the
    comparison named "best Qini 0.0000 [0.0000, 0.0000] by treat everyone" and starred it."""
    import pandas as pd

    from experiments.uplift_table import best_qini
    from training.uplift_run import TREAT_EVERYONE

    rows = pd.DataFrame(
        {"action": ["call"] * 3, "outcome": ["retained"] * 3,
         "model": [TREAT_EVERYONE, "t-learner", "selected"], "qini": [0.0, -0.002, -0.001]}
    )  # fmt: skip
    assert best_qini(rows)["model"].tolist() == ["selected"]


def test_the_sentence_names_the_deployed_ranking_when_another_scored_higher():
    """A no-effect campaign: of six rankings one has an interval above 0 by luck; the sentence
    says it was picked among six, and what the deployed (selected) ranking, which the gate
    judged, says (walkthrough: "sms ranks better than random" while the gate trusted none)."""
    from experiments.uplift_table import uplift_sentences

    metrics = {}
    for model, (q, lo, hi) in {
        "t-learner": (5.0, -2.0, 11.0),
        "x-learner": (3.0, -4.0, 9.0),
        "dr-learner": (14.3, 0.3, 33.5),
        "selected": (11.7, -0.4, 26.2),
        "response model": (2.0, -5.0, 8.0),
        "treat everyone": (0.0, 0.0, 0.0),
    }.items():
        for column, value in (("qini", q), ("qini_lo", lo), ("qini_hi", hi)):
            metrics[f"sms.value.{model}.{column}"] = value
    run = RunRecord("uplift", "a" * 32, metrics, kind="uplift")
    (said,) = uplift_sentences({"uplift": run})
    assert said.startswith("sms, value: best Qini 14.300 [0.300, 33.500] by dr-learner")
    assert "the best of 4 rankings measured on the same customers, which flatters it" in said
    assert said.endswith(
        "The ranking the run deploys (selected, the one its evidence gate judged): Qini 11.700 "
        "[-0.400, 26.200], which cannot be told apart from random targeting (the interval "
        "contains 0)."
    )
