"""Dates whose column name says their zone (Stripe's ``Created (UTC)``, a report's ``Time
(UTC+8)`` or ``Date (PST)``) are read in that zone, whatever ``--timezone`` says for the file's
other times, and converted into the business's zone (``--timezone``); the report says so."""

from pathlib import Path

import pandas as pd
import pytest

from features.contract import table_path
from features.ingest import ingest
from features.mapping import load_mapping

CUSTOMERS = "id,Email,Created (UTC)\ncus_A,a@x.com,2024-03-01 23:30\ncus_B,b@x.com,2024-03-02\n"


def _payments(column: str, times: list[str]) -> str:
    rows = "".join(f"ch_{i},{t},10.00,cus_A\n" for i, t in enumerate(times))
    return f"id,{column},Amount,Customer ID\n" + rows


def _ingest(tmp_path: Path, payments: str, timezone: str | None):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "payments.csv").write_text(payments)
    out = tmp_path / "out"
    reports = ingest(
        out,
        tmp_path / "payments.csv",
        load_mapping(timezone=timezone),
        customers=tmp_path / "customers.csv",
        log=lambda _: None,
    )
    tables = {t: pd.read_parquet(table_path(out, t)) for t in ("customers", "transactions")}
    return reports, tables


TIMES = ["2024-03-01 23:30", "2024-07-04 02:15"]


@pytest.mark.parametrize("timezone", ["America/New_York", "Asia/Shanghai", None])
def test_a_utc_column_is_read_in_utc_whatever_the_timezone(tmp_path, timezone):
    """Before, ``--timezone America/New_York`` moved every Stripe time 4-5 hours later (an
    order at 23:30 UTC on the eve of a cutoff landed after it), Asia/Shanghai 8 hours earlier:
    of 607 seeded payments 113 and 181 on another day."""
    reports, tables = _ingest(tmp_path, _payments("Created (UTC)", TIMES), timezone)
    utc = pd.DatetimeIndex(TIMES).tz_localize("UTC")
    truth = utc.tz_convert(timezone).tz_localize(None) if timezone else utc.tz_localize(None)
    assert tables["transactions"]["ordered_at"].tolist() == truth.tolist()
    signup = tables["customers"].set_index("customer_id")["signup_at"]
    assert signup["cus_A"] == truth[0]
    assert signup["cus_B"] == pd.Timestamp("2024-03-02")  # a date alone stays its day
    if timezone:
        said = reports["transactions"].date_format
        assert "'Created (UTC)'" in said and f"converted to {timezone}" in said, said


@pytest.mark.parametrize(
    ("column", "hours"),
    [
        ("Created (UTC+8)", 8),
        ("Created (GMT-05:00)", -5),
        ("Created (PST)", -8),
        ("Created (CET)", 1),
    ],
)
def test_a_column_named_with_an_offset_is_read_at_it(tmp_path, column, hours):
    reports, tables = _ingest(
        tmp_path,
        _payments(column, TIMES),
        "Asia/Tokyo",
    )
    # in Tokyo's days (UTC+9, no summer time), the business's
    truth = [pd.Timestamp(t) - pd.Timedelta(hours=hours - 9) for t in TIMES]
    assert tables["transactions"]["ordered_at"].tolist() == truth
    assert f"{column!r}" in reports["transactions"].date_format


def test_a_zone_named_column_of_dates_only_says_it_keeps_the_days(tmp_path):
    """``Date (UTC)`` holding days only: each is its calendar day, and the dates line says so
    (it spoke of 'times without an offset read as UTC ... converted to Asia/Tokyo')."""
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "payments.csv").write_text(_payments("Date (UTC)", ["2024-03-01", "2024-07-04"]))
    reports = ingest(
        tmp_path / "out",
        tmp_path / "payments.csv",
        load_mapping("ordered_at=Date (UTC)", timezone="Asia/Tokyo"),
        customers=tmp_path / "customers.csv",
        log=lambda _: None,
    )
    tables = {"transactions": pd.read_parquet(table_path(tmp_path / "out", "transactions"))}
    assert tables["transactions"]["ordered_at"].tolist() == [
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-07-04"),
    ]
    said = reports["transactions"].date_format
    assert "times without an offset" not in said and "converted to" not in said, said
    assert "'Date (UTC)'" in said and "dates without a time" in said, said
