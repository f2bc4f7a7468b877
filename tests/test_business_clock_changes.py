"""Times stored as the business zone's wall clock can fall in the hour its clock change repeats
(two passes of one wall time: converted instants lose their order there) or at a time it skips
(kept as written): the dates line counts them, as it did before 7f5c75b for local times."""

import pandas as pd

from features.dates import DateOrder, parse_dates

ORDER = DateOrder(day_first=False, how="not needed")


def test_times_in_the_business_zones_clock_changes_are_counted():
    values = pd.Series(
        [
            "2024-11-03 05:30Z",  # 01:30 EDT
            "2024-11-03 06:10Z",  # 01:10 EST: stored before the 01:30 it followed
            "2024-11-03 01:20",  # a local time of the repeated hour
            "2024-03-10 02:30",  # a local time the spring change skips
            "2024-06-01 12:00",
        ],
        dtype="string",
    )
    stamps, described = parse_dates(values, ORDER, timezone="America/New_York")
    assert stamps[:4].tolist() == [
        pd.Timestamp("2024-11-03 01:30"),
        pd.Timestamp("2024-11-03 01:10"),
        pd.Timestamp("2024-11-03 01:20"),
        pd.Timestamp("2024-03-10 02:30"),
    ]
    assert "3 rows in the hour America/New_York's clock change repeats" in described, described
    assert "1 row at a time America/New_York's clock change skips" in described, described


def test_no_clock_change_said_for_times_outside_it_or_for_dates():
    values = pd.Series(["2024-11-03", "2024-11-03 12:00", "2024-03-10 04:00Z"], dtype="string")
    _, described = parse_dates(values, ORDER, timezone="America/New_York")
    assert "clock change" not in described, described
