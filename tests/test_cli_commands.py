"""Through Typer's runner, the real work of the quick commands: generate, features and export.

``test_cli.py`` gives every command its one-line error on a bad data set or option; these check
that a good invocation does what its help says, on a few hundred synthetic customers (seconds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lifecycle_cli import app

CUSTOMERS = 300


def invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "synthetic"
    invoke("generate", "--customers", CUSTOMERS, "--seed", 7, "--end", "2024-07-01", "--out", out)
    return out


def test_generate_writes_the_contract_tables_and_the_truth(generated: Path):
    customers = pd.read_parquet(generated / "customers.parquet")
    transactions = pd.read_parquet(generated / "transactions.parquet")
    truth = pd.read_parquet(generated / "truth.parquet")
    assert len(customers) == CUSTOMERS and customers["customer_id"].is_unique
    assert set(transactions["customer_id"]) <= set(customers["customer_id"])
    assert transactions["ordered_at"].max() < pd.Timestamp("2024-07-01")
    assert set(truth["customer_id"]) == set(customers["customer_id"])


def test_generate_is_reproducible_from_its_seed(generated: Path, tmp_path: Path):
    again = tmp_path / "again"
    invoke("generate", "--customers", CUSTOMERS, "--seed", 7, "--end", "2024-07-01", "--out", again)
    for table in ("customers", "transactions"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(generated / f"{table}.parquet"),
            pd.read_parquet(again / f"{table}.parquet"),
        )


def test_features_writes_one_labelled_row_per_customer_and_cutoff(generated: Path, tmp_path):
    out = tmp_path / "features.parquet"
    cutoffs = ["2024-03-01", "2024-04-01"]
    result = invoke(
        "features", "--data", generated, "--cutoff", cutoffs[0], "--cutoff", cutoffs[1],
        "--horizon-days", 60, "--out", out,
    )  # fmt: skip
    frame = pd.read_parquet(out)
    assert f"wrote {len(frame):,} rows" in result.output
    assert sorted(pd.to_datetime(frame["cutoff"]).dt.strftime("%Y-%m-%d").unique()) == cutoffs
    assert not frame.duplicated(["customer_id", "cutoff"]).any()
    assert {"churned", "future_value", "recency_days", "orders_all"} <= set(frame.columns)
    labelled = frame["churned"].dropna()  # null for prospects: nothing to lose yet
    assert len(labelled) > CUSTOMERS / 2 and labelled.isin([0, 1]).all()


def test_features_with_an_unknown_value_label_is_one_line(generated: Path, tmp_path: Path):
    result = CliRunner().invoke(
        app,
        [
            "features", "--data", str(generated), "--cutoff", "2024-03-01",
            "--horizon-days", "60", "--value", "profit", "--out", str(tmp_path / "f.parquet"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "profit" in result.stderr and "revenue" in result.stderr
    assert not (tmp_path / "f.parquet").exists()


def test_export_csv_writes_the_scores_then_only_what_changed(
    writeback_scores: pd.DataFrame, tmp_path: Path
):
    scores = tmp_path / "scores.parquet"
    writeback_scores.to_parquet(scores, index=False)
    common = ["export", "--to", "csv", "--crm", "generic", "--scores", scores, "--project", "p"]
    common += ["--exports-dir", tmp_path / "exports"]
    first = invoke(*common)
    written = sorted((tmp_path / "exports").rglob("*.csv"))
    assert len(written) == 1
    assert f"wrote {len(writeback_scores):,} customers to {written[0]}" in first.output
    assert len(pd.read_csv(written[0])) == len(writeback_scores)

    second = invoke(*common)
    assert "no customer changed since the last export" in second.output
    assert sorted((tmp_path / "exports").rglob("*.csv")) == written


def test_export_refuses_another_projects_scores(writeback_scores: pd.DataFrame, tmp_path: Path):
    """The scores file records whose models scored it (``attrs``, in the Parquet metadata):
    ``export --project shop`` of synthetic's scores would fill shop's export state with them."""
    scores = tmp_path / "scores.parquet"
    frame = writeback_scores.copy()
    frame.attrs["lifecycle_project"] = "synthetic"  # as serving.batch.score_snapshot records it
    frame.to_parquet(scores, index=False)
    exports = tmp_path / "exports"
    common = ["export", "--to", "csv", "--scores", scores, "--exports-dir", exports]
    refused = CliRunner().invoke(app, [str(a) for a in [*common, "--project", "shop"]])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    (line,) = refused.stderr.strip().splitlines()
    assert "'synthetic'" in line and "'shop'" in line and "--project synthetic" in line
    assert not exports.exists()
    own = invoke(*common)  # without --project: the project that scored the file
    assert f"synthetic/generic: wrote {len(frame):,} customers" in own.output
    assert [d.name for d in exports.iterdir()] == ["synthetic"]
    invoke(*common, "--project", "synthetic", "--full")
