"""A data set records the business zone its times are the wall clock of (``manifest.json``'s
``business_zone``), a pair the zone of its training data, and scoring refuses data of another
zone: a New York folder read by a UTC-trained pair is hours off with nothing else to show it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.contract import BUSINESS_ZONE, MANIFEST, recorded_zone
from lifecycle_cli import app

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
