"""One SparkSession for the whole test run (``local[2]``, UI off, 4 shuffle partitions) and the
contract directories the Spark tests share. Import the fixtures into a test module; the tests
using them are marked ``spark`` (skip locally with ``-m "not spark"``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from cdnow_data import cdnow_file

SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",  # one JVM for the whole run: 1g ran out once (CDNOW, 12 cutoffs)
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
}


@pytest.fixture(scope="session")
def spark_engine():
    """The Spark engine of the test run (stopped at the end of the session)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from features.engine import open_engine

    engine = open_engine(
        "spark", master="local[2]", conf=SPARK_TEST_CONF, app_name="lifecycle-tests"
    )
    yield engine
    engine.spark.stop()


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A small synthetic contract directory with events, static attributes and margins."""
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("spark-synthetic") / "data"
    generate(out, 500, 11)
    return out


@pytest.fixture(scope="session")
def cdnow_dir(tmp_path_factory) -> Path:
    """CDNOW (23,570 customers) ingested by ``lifecycle ingest``'s code, as ``make
    ingest-cdnow``."""
    from features.ingest import ingest
    from features.mapping import load_mapping

    source = cdnow_file("CDNOW_master.txt")
    out = tmp_path_factory.mktemp("spark-cdnow") / "cdnow"
    mapping = load_mapping(
        "customer_id=customer_id,ordered_at=date,amount=dollar_value,quantity=number_of_cds"
    )
    ingest(out, source, mapping, log=lambda _: None)
    return out
