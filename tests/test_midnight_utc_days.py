"""A column of dates written as midnight UTC (a HubSpot date property, a Parquet date column
stored time-zone aware) holds days, not instants: under ``--timezone`` of a zone behind UTC
converting them put every date on the day before."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dates import DateOrder, parse_dates
from features.ingest import ingest
from features.mapping import load_mapping

ORDER = DateOrder(day_first=False, how="not needed")


@pytest.mark.parametrize("zone", ["America/New_York", "America/St_Johns", "Asia/Kolkata"])
def test_dates_at_midnight_utc_stay_their_day_in_the_business_zone(zone):
    values = pd.Series(
        ["2024-02-10T00:00:00.000Z", "2023-11-05T00:00:00Z", "2024-03-10 00:00:00+00:00"],
        dtype="string",
    )
    stamps, described = parse_dates(values, ORDER, timezone=zone)
    assert stamps.tolist() == [pd.Timestamp(v[:10]) for v in values]
    assert "midnight UTC" in described, described


def test_an_instant_at_midnight_beside_other_times_is_still_converted():
    values = pd.Series(["2024-02-10T00:00:00Z", "2024-02-10T13:45:00Z"], dtype="string")
    stamps, _ = parse_dates(values, ORDER, timezone="America/New_York")
    assert stamps.tolist() == [pd.Timestamp("2024-02-09 19:00"), pd.Timestamp("2024-02-10 08:45")]


def test_a_time_zone_aware_parquet_date_column_keeps_its_days(tmp_path: Path):
    rng = np.random.default_rng(5)
    days = pd.Series(pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500, 60), "D"))
    ids = [f"c{i:02d}" for i in range(60)]
    pd.DataFrame({"customer_id": ids, "signup_at": days.dt.tz_localize("UTC")}).to_parquet(
        tmp_path / "customers.parquet"
    )
    pd.DataFrame(
        {
            "order_id": ids,
            "customer_id": ids,
            "ordered_at": (days + pd.Timedelta(days=30, hours=12)).dt.strftime("%Y-%m-%d %H:%M"),
            "amount": 5.0,
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    out = tmp_path / "out"
    mapping = load_mapping(timezone="America/New_York")
    ingest(
        out,
        tmp_path / "orders.csv",
        mapping,
        customers=tmp_path / "customers.parquet",
        log=lambda _: None,
    )
    stored = pd.read_parquet(out / "customers.parquet").set_index("customer_id")["signup_at"]
    assert stored.reindex(ids).tolist() == days.tolist()
