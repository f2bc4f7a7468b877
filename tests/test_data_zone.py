"""A data set records the business zone its times are the wall clock of (``manifest.json``'s
``business_zone``), a pair the zone of its training data, and scoring refuses data of another
zone: a New York folder read by a UTC-trained pair is hours off with nothing else to show it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.contract import BUSINESS_ZONE, MANIFEST, recorded_zone
from lifecycle_cli import app
from training.data_zones import ZoneMismatch, check_zone

REPO = Path(__file__).resolve().parents[1]
PROJECT = "zones"
NEW_YORK = "America/New_York"
SMALL = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def _orders_csv(path: Path) -> Path:
    """Orders at known UTC instants (Z): 03:30Z on 1 December is 30 November in New York."""
    pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "ordered_at": [
                "2024-07-01T06:00:00Z",
                "2024-07-20T15:00:00Z",
                "2024-12-01T03:30:00Z",
                "2024-12-24T12:00:00Z",
            ],
            "amount": [10.0, 20.0, 30.0, 40.0],
        }
    ).to_csv(path, index=False)
    return path


def _ingest(csv: Path, out: Path, *zone: str):
    return CliRunner().invoke(app, ["ingest", "--transactions", str(csv), "--out", str(out), *zone])


def _manifest(data: Path) -> dict:
    return json.loads((data / MANIFEST).read_text("utf-8"))


def test_ingest_records_its_zone_and_utc_without_one(tmp_path):
    csv = _orders_csv(tmp_path / "orders.csv")
    utc, local = tmp_path / "utc", tmp_path / "ny"
    assert _ingest(csv, utc).exit_code == 0
    assert _ingest(csv, local, "--timezone", NEW_YORK).exit_code == 0
    assert _manifest(utc)[BUSINESS_ZONE] == "UTC" and recorded_zone(utc) == "UTC"
    assert _manifest(local)[BUSINESS_ZONE] == NEW_YORK and recorded_zone(local) == NEW_YORK
    # what the record is for: the same orders are stored 4-5 hours apart, one on another day
    a = pd.read_parquet(utc / "transactions.parquet")["ordered_at"]
    b = pd.read_parquet(local / "transactions.parquet")["ordered_at"]
    assert sorted((a - b).dt.total_seconds() / 3600) == [4.0, 4.0, 5.0, 5.0]
    assert int((a.dt.date != b.dt.date).sum()) == 1


def test_a_folder_without_the_record_is_utc_not_recorded_and_a_broken_one_is_warned(tmp_path):
    assert recorded_zone(tmp_path) is None  # no manifest: written by other means
    (tmp_path / MANIFEST).write_text('{"tables": {}}')
    assert recorded_zone(tmp_path) is None  # an older ingest
    for broken in ("{not json", '{"business_zone": "Mars/Olympus"}', '["UTC"]'):
        (tmp_path / MANIFEST).write_text(broken)
        with pytest.warns(UserWarning, match="read as UTC"):
            assert recorded_zone(tmp_path) is None


def test_generated_and_hillstrom_folders_record_utc(tmp_path):
    from features.campaign_table import write_campaigns
    from features.synthetic import generate

    generate(tmp_path / "gen", 50, 1, progress=False)
    assert recorded_zone(tmp_path / "gen") == "UTC"
    write_campaigns(tmp_path / "camp", pd.DataFrame(), pd.DataFrame(), _Report())
    assert recorded_zone(tmp_path / "camp") == "UTC"
    (tmp_path / "ny").mkdir()
    (tmp_path / "ny" / MANIFEST).write_text(json.dumps({BUSINESS_ZONE: NEW_YORK}))
    write_campaigns(tmp_path / "ny", pd.DataFrame(), pd.DataFrame(), _Report())
    assert recorded_zone(tmp_path / "ny") == NEW_YORK  # campaigns added keep the folder's zone


@dataclass
class _Report:
    rows_read: int = 0


# --------------------------------------------------------------------------- future and faults


def _contract(root: Path, last) -> Path:
    root.mkdir()
    ids = pd.Series(["a", "b"], dtype=str)
    pd.DataFrame(
        {"customer_id": ids, "signup_at": pd.to_datetime(["2023-01-01"] * 2).astype("M8[us]")}
    ).to_parquet(root / "customers.parquet", index=False)
    pd.DataFrame(
        {
            "customer_id": ids,
            "ordered_at": pd.Series([pd.Timestamp("2024-01-01"), last]).astype("M8[us]"),
            "amount": [1.0, 2.0],
        }
    ).to_parquet(root / "transactions.parquet", index=False)
    return root


def test_the_future_check_uses_the_recorded_zone(tmp_path, capsys):
    from lifecycle_cli.options import data_set, latest_possible_time

    west = "Etc/GMT+12"  # UTC-12: its tomorrow ends a day or more before UTC+14's
    last = latest_possible_time(west) + timedelta(hours=1)
    unrecorded = _contract(tmp_path / "old", last)
    assert data_set(unrecorded) == unrecorded  # any zone's tomorrow: not after it
    recorded = _contract(tmp_path / "west", last)
    (recorded / MANIFEST).write_text(json.dumps({BUSINESS_ZONE: west}))
    with pytest.raises(typer.Exit):
        data_set(recorded)
    assert "after today" in capsys.readouterr().err


def test_concurrent_ingests_leave_one_zone_with_its_own_times(tmp_path):
    csv = _orders_csv(tmp_path / "orders.csv")
    out = tmp_path / "out"
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-B",
                "-m",
                "lifecycle_cli",
                "ingest",
                "--transactions",
                str(csv),
                "--out",
                str(out),
                *zone,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for zone in ((), ("--timezone", NEW_YORK))
    ]
    codes = [r.wait(timeout=120) for r in runs]
    assert 0 in codes, [r.stderr.read() for r in runs if r.stderr]
    zone = recorded_zone(out)
    stored = pd.read_parquet(out / "transactions.parquet")["ordered_at"].min()
    assert (zone, stored) in {
        ("UTC", pd.Timestamp("2024-07-01 06:00")),
        (NEW_YORK, pd.Timestamp("2024-07-01 02:00")),
    }


# --------------------------------------------------------------------------- the zones compared


def _zoned(data: Path, zone: str | None) -> Path:
    with_zone = {k: v for k, v in _manifest(data).items() if k != BUSINESS_ZONE}
    if zone is not None:
        with_zone[BUSINESS_ZONE] = zone
    (data / MANIFEST).write_text(json.dumps(with_zone))
    return data


def test_one_side_not_recorded_warns_only_against_a_zone_other_than_utc(tmp_path):
    (tmp_path / MANIFEST).write_text("{}")
    assert check_zone(tmp_path, None, "pair") is None
    assert check_zone(tmp_path, "UTC", "pair") is None
    said = check_zone(tmp_path, NEW_YORK, "the shop pair v2")
    assert said and "does not record" in said and NEW_YORK in said and "--timezone" in said
    _zoned(tmp_path, NEW_YORK)
    said = check_zone(tmp_path, None, "the shop pair v2")
    assert said and "the shop pair v2 does not record" in said and "lifecycle train" in said
    assert check_zone(tmp_path, NEW_YORK, "pair") is None
    with pytest.raises(ZoneMismatch, match="without --timezone"):
        check_zone(tmp_path, "UTC", "pair")
    _zoned(tmp_path, "UTC")
    with pytest.raises(ZoneMismatch, match=f"--timezone {NEW_YORK}"):
        check_zone(tmp_path, NEW_YORK, "pair")


def test_no_warning_for_a_utc_folder_and_an_unrecorded_pair(tmp_path):
    _contract(tmp_path / "d", pd.Timestamp("2024-02-01"))
    (tmp_path / "d" / MANIFEST).write_text(json.dumps({BUSINESS_ZONE: "UTC"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_zone(tmp_path / "d", None, "pair") is None


# --------------------------------------------------------------------------- with a trained pair


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real pair trained on a generated (UTC) folder, registered as the champion."""
    import mlflow

    from features.synthetic import generate
    from serving.scoring import fit_scoring_thresholds
    from training.config import load_config
    from training.train import train

    root = tmp_path_factory.mktemp("zones")
    data = root / "data"
    generate(data, 1500, 5, progress=False)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cfg = load_config(
        REPO / "experiments" / "baseline.yaml",
        data=None,
        seed=5,
        tracking={"tracking_uri": uri, "artifact_root": str(root / "mlruns")},
        churn={"params": SMALL},
        clv={"params": SMALL},
        snapshots={"n_train": 2},
    )
    try:
        train(cfg, data, project=PROJECT, scoring_thresholds=fit_scoring_thresholds, log=print)
    finally:
        mlflow.set_tracking_uri(None)
    return root, data, uri


def test_training_records_the_data_zone_with_the_pair(trained):
    from mlflow.tracking import MlflowClient

    from serving.batch import load_champions
    from training.model_tags import DATA_ZONE
    from training.registry import pair_model_name

    _, _, uri = trained
    champions = load_champions(uri, PROJECT)
    assert champions.meta[DATA_ZONE] == "UTC"
    version = MlflowClient(tracking_uri=uri).get_model_version(
        pair_model_name(PROJECT), champions.version
    )
    assert version.tags[DATA_ZONE] == "UTC"


def _score(data: Path, uri: str, out: Path):
    import mlflow

    try:
        return CliRunner().invoke(
            app,
            [
                "score",
                "--data",
                str(data),
                "--project",
                PROJECT,
                "--tracking-uri",
                uri,
                "--out",
                str(out),
                "--no-history",
            ],
        )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def test_a_new_york_folder_is_refused_by_a_utc_pair(trained, tmp_path):
    _, data, uri = trained
    local = _zoned(shutil.copytree(data, tmp_path / "ny"), NEW_YORK)
    result = _score(local, uri, tmp_path / "scores.parquet")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    for needle in (str(local), NEW_YORK, "trained on data in UTC", "without --timezone"):
        assert needle in said, said
    assert "lifecycle train --data" in said, said
    assert not (tmp_path / "scores.parquet").exists()


def test_utc_folders_score_the_same_with_or_without_the_record(trained, tmp_path):
    _, data, uri = trained
    recorded = _score(data, uri, tmp_path / "recorded.parquet")
    assert recorded.exit_code == 0, recorded.output
    older = _zoned(shutil.copytree(data, tmp_path / "older"), None)
    unrecorded = _score(older, uri, tmp_path / "older.parquet")
    assert unrecorded.exit_code == 0, unrecorded.output
    assert "warning" not in unrecorded.output.replace("warnings", "")
    (older / MANIFEST).write_text("{broken")  # corrupt: read as UTC, said once
    broken = _score(older, uri, tmp_path / "broken.parquet")
    assert broken.exit_code == 0, broken.output
    assert broken.output.count("cannot be read") == 1, broken.output
    columns = ["customer_id", "churn_probability", "predicted_value", "stage"]
    first = pd.read_parquet(tmp_path / "recorded.parquet")[columns]
    for other in ("older.parquet", "broken.parquet"):
        pd.testing.assert_frame_equal(first, pd.read_parquet(tmp_path / other)[columns])


def test_the_gate_does_not_compare_a_champion_of_another_zone(trained, tmp_path):
    from training.config import ExperimentConfig
    from training.registry import NotComparable, load_champion_pair
    from training.train import champion_evaluator

    _, data, uri = trained
    local = _zoned(shutil.copytree(data, tmp_path / "ny"), NEW_YORK)
    champion, _ = load_champion_pair(uri, PROJECT)
    cfg = ExperimentConfig.model_validate(champion.meta["experiment"])
    evaluate = champion_evaluator(local, _NoTest(), cfg, None, None)
    with pytest.raises(NotComparable, match=f"trained on data in UTC.*is in {NEW_YORK}"):
        evaluate(champion)


class _NoTest:
    def split(self, *_, **__):
        return pd.DataFrame()


def test_one_zone_under_two_names_is_the_same_zone(tmp_path):
    """US/Eastern is a link to America/New_York (and Etc/UCT, Universal are UTC): a folder
    ingested with one name is no other zone than a pair trained on data named the other way."""
    (tmp_path / MANIFEST).write_text("{}")
    for data_zone, model_zone in [
        (NEW_YORK, "US/Eastern"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Etc/UCT", "UTC"),
        ("Universal", "UTC"),
    ]:
        _zoned(tmp_path, data_zone)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert check_zone(tmp_path, model_zone, "pair") is None, (data_zone, model_zone)
    _zoned(tmp_path, "Etc/UCT")  # a UTC folder and a pair that records none: nothing to say
    assert check_zone(tmp_path, None, "pair") is None
    _zoned(tmp_path, "America/Toronto")  # New York's clock every hour since 1974
    assert check_zone(tmp_path, NEW_YORK, "pair") is None
    _zoned(tmp_path, "US/Pacific")
    with pytest.raises(ZoneMismatch):
        check_zone(tmp_path, "US/Eastern", "pair")


def test_the_refusal_says_a_pair_of_this_zone_must_be_forced_past_the_gate(tmp_path):
    """The gate cannot compare a champion of another zone (it stays unless --force): the
    refusal's 'lifecycle train --data DIR' alone registers a pair that is not served, and the
    next scoring is refused again. It says --force."""
    (tmp_path / MANIFEST).write_text("{}")
    _zoned(tmp_path, NEW_YORK)
    with pytest.raises(ZoneMismatch) as refused:
        check_zone(tmp_path, "UTC", "the shop champion pair v3")
    said = " ".join(str(refused.value).split())
    assert f"lifecycle train --data {tmp_path} --force" in said, said


def test_a_file_uri_is_read_as_its_folder(tmp_path):
    """``score --engine spark --data file:///...`` (a local folder as Spark's URI): its manifest
    is read, so a New York folder is refused by a UTC pair there too (before: no zone read, the
    folder scored as UTC without a word)."""
    (tmp_path / MANIFEST).write_text("{}")
    _zoned(tmp_path, NEW_YORK)
    assert recorded_zone(f"file://{tmp_path}") == NEW_YORK
    assert recorded_zone(tmp_path.as_uri()) == NEW_YORK
    with pytest.raises(ZoneMismatch):
        check_zone(f"file://{tmp_path}", "UTC", "pair")
    said = check_zone("s3a://crm/contract", NEW_YORK, "pair")  # not readable here: not "none"
    assert said and "cannot be read from" in said and "has no" not in said, said


def test_the_refusal_says_how_far_apart_over_a_year_not_today(tmp_path):
    """London and UTC share the clock in winter and are an hour apart in summer: refused (times
    an hour off half the year), the message says 'up to 1 hour', never '0 hours off'."""
    (tmp_path / MANIFEST).write_text("{}")
    _zoned(tmp_path, "Europe/London")
    with pytest.raises(ZoneMismatch) as refused:
        check_zone(tmp_path, "UTC", "pair")
    said = " ".join(str(refused.value).split())
    assert "would be up to 1 hour off" in said, said
    _zoned(tmp_path, NEW_YORK)
    with pytest.raises(ZoneMismatch, match="would be 4 to 5 hours off"):
        check_zone(tmp_path, "UTC", "pair")
    _zoned(tmp_path, "Asia/Shanghai")
    with pytest.raises(ZoneMismatch, match="would be 8 hours off"):
        check_zone(tmp_path, "UTC", "pair")


def test_a_remote_data_set_s_zone_is_read_through_the_engine(tmp_path):
    """``--engine spark --data s3a://...``: the manifest is read through Spark's file systems
    (``read_text``), so such a folder records its zone as a local one does (before: none read,
    a New York folder scored by a UTC pair without a word, its pair 'UTC (not recorded)')."""
    texts = {"s3a://crm/contract/manifest.json": json.dumps({BUSINESS_ZONE: NEW_YORK})}
    read = texts.get
    assert recorded_zone("s3a://crm/contract/", read) == NEW_YORK
    assert recorded_zone("s3a://crm/other", read) is None  # no manifest there
    with pytest.raises(ZoneMismatch):
        check_zone("s3a://crm/contract", "UTC", "pair", read)
    assert check_zone("s3a://crm/contract", NEW_YORK, "pair", read) is None


def test_the_spark_engine_reads_a_manifest_s_text(tmp_path):
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    from spark_fixtures import SPARK_TEST_CONF

    from features.engine import open_engine

    (tmp_path / MANIFEST).write_text(json.dumps({BUSINESS_ZONE: NEW_YORK}))
    engine = open_engine("spark", master="local[1]", conf=SPARK_TEST_CONF)
    try:
        assert recorded_zone(tmp_path.as_uri() + "/", engine.read_text) == NEW_YORK
        assert engine.read_text((tmp_path / "none.json").as_uri()) is None
    finally:
        engine.spark.stop()
