"""Days and times read in a zone: a column of dates written with a midnight time (a SQL
DATETIME holding a day, a CRM's date field exported as ``2024-01-05 00:00:00``) is a column of
days and keeps them, as a date without a time does; real times written in another zone than the
business's (a map file's ``files:`` section's) are converted."""

import pandas as pd
import pytest

from features.dates import DateOrder, parse_dates

ORDER = DateOrder(day_first=False, how="not needed")
DAYS = pd.date_range("2024-01-01", periods=40, freq="3D")


@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "America/Los_Angeles", "Pacific/Auckland"])
@pytest.mark.parametrize("form", ["%Y-%m-%d 00:00:00", "%Y-%m-%d 00:00", "%m/%d/%Y 00:00"])
def test_days_written_with_a_midnight_time_keep_their_day(timezone, form):
    """Before, each of 40 such days moved to the day before (Shanghai, Auckland: 16:00 or
    11:00 UTC the day before) or stayed only by luck of the sign (Los Angeles: 08:00 UTC)."""
    values = pd.Series(DAYS.strftime(form), name="Order Date", dtype="string")
    stamps, described = parse_dates(values, ORDER, timezone=timezone)  # the business's zone
    assert stamps.tolist() == DAYS.tolist()
    stamps, described = parse_dates(values, ORDER, timezone=timezone, business_zone="UTC")
    assert stamps.tolist() == DAYS.tolist()
    assert "midnight" in described, described


def test_a_column_with_times_of_day_converts_its_midnights_too():
    values = pd.Series(["2024-03-05 00:00:00", "2024-03-05 14:30:00"], dtype="string")
    stamps, _ = parse_dates(values, ORDER, timezone="Asia/Shanghai", business_zone="UTC")
    assert stamps.tolist() == [pd.Timestamp("2024-03-04 16:00"), pd.Timestamp("2024-03-05 06:30")]


def test_times_a_clock_change_skips_or_repeats_are_counted():
    """New York's clocks skip 02:00-03:00 on 2024-03-10 and pass 01:00-02:00 twice on
    2024-11-03: such a local time is moved forward or read as standard time (the day never
    moves), and the dates line says how many rows were, which it did not."""
    values = pd.Series(
        ["2024-03-10 02:30", "2024-03-10 02:30", "2024-11-03 01:30", "2024-11-03 03:30"],
        dtype="string",
    )
    stamps, described = parse_dates(values, ORDER, timezone="America/New_York", business_zone="UTC")
    assert stamps.tolist() == [
        pd.Timestamp("2024-03-10 07:00"),  # 03:00 EDT, the first time after the gap
        pd.Timestamp("2024-03-10 07:00"),
        pd.Timestamp("2024-11-03 06:30"),  # 01:30 EST
        pd.Timestamp("2024-11-03 08:30"),
    ]
    assert "2 rows in the hour a clock change skips" in described, described
    assert "1 row in the hour a clock change repeats" in described, described
