"""Days are the business's days: with ``--timezone`` (the business's zone) times are stored as
that zone's wall clock, so an order's day is the day the shop saw it. Times written without an
offset are kept as written; times with an offset, Unix epochs and columns whose name says their
zone are converted into it. Without ``--timezone`` times stay UTC, as before."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import table_path
from features.dates import DateOrder, parse_dates
from features.ingest import ingest
from features.mapping import load_mapping
from features.snapshots import build_snapshots

ORDER = DateOrder(day_first=False, how="not needed")
CUTOFF = pd.Timestamp("2024-06-01")


def test_times_without_an_offset_are_kept_as_the_business_wrote_them():
    values = pd.Series(
        ["2024-05-31 23:30", "2024-03-10 02:30", "2024-11-03 01:30", "2024-06-01"], dtype="string"
    )
    stamps, described = parse_dates(values, ORDER, timezone="America/New_York")
    assert stamps.tolist() == [pd.Timestamp(v) for v in values]
    assert "America/New_York" in described, described


def test_times_with_an_offset_or_as_unix_time_are_converted_into_the_business_zone():
    values = pd.Series(
        [
            "2024-03-05 06:10:00 +0800",  # a Shanghai morning: the 5th, not the 4th in UTC
            "2024-03-05 10:00 +01:00",
            "2024-03-04T22:10:00Z",
            "1709632800",  # 2024-03-05 10:00 UTC
            "2024-03-05 10:00",
        ],
        dtype="string",
    )
    stamps, described = parse_dates(values, ORDER, timezone="Asia/Shanghai")
    assert stamps.tolist() == [
        pd.Timestamp("2024-03-05 06:10"),
        pd.Timestamp("2024-03-05 17:00"),
        pd.Timestamp("2024-03-05 06:10"),
        pd.Timestamp("2024-03-05 18:00"),
        pd.Timestamp("2024-03-05 10:00"),
    ]
    assert "converted to Asia/Shanghai" in described, described


def test_without_a_timezone_offsets_are_converted_to_utc_as_before():
    values = pd.Series(["2024-03-05 06:10:00 +0800", "2024-03-05 10:00"], dtype="string")
    stamps, _ = parse_dates(values, ORDER)
    assert stamps.tolist() == [pd.Timestamp("2024-03-04 22:10"), pd.Timestamp("2024-03-05 10:00")]


def test_a_column_named_in_utc_is_converted_into_the_business_zone():
    values = pd.Series(["2024-03-01 23:30", "2024-07-04 02:15", "2024-03-02"], dtype="string")
    values.name = "Created (UTC)"
    stamps, described = parse_dates(values, ORDER, timezone="America/New_York")
    assert stamps.tolist() == [
        pd.Timestamp("2024-03-01 18:30"),  # EST
        pd.Timestamp("2024-07-03 22:15"),  # EDT
        pd.Timestamp("2024-03-02"),  # a date alone is its day
    ]
    assert "'Created (UTC)'" in described and "America/New_York" in described, described


def _shop(seed: int) -> pd.DataFrame:
    """Orders at local times (evenings and early mornings), 20 on the eve of the cutoff and 20
    on its first morning."""
    rng = np.random.default_rng(seed)
    n = 600
    local = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 150, n) * 1440 + rng.choice([30, 330, 1170, 1410], n), unit="min"
    )
    edge = [CUTOFF - pd.Timedelta(minutes=30)] * 20 + [CUTOFF + pd.Timedelta(hours=6)] * 20
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n + 40)],
            "customer_id": [f"c{i % 90:02d}" for i in range(n + 40)],
            "local": [*local, *edge],
            "amount": 10.0,
        }
    )


@pytest.mark.parametrize(
    ("zone", "form"),
    [("America/New_York", "%Y-%m-%d %H:%M"), ("Asia/Shanghai", "%Y-%m-%d %H:%M:%S +0800")],
)
def test_every_order_is_on_its_local_day_and_recency_is_the_local_truth(tmp_path: Path, zone, form):
    """Before, New York's evening orders were stored on the next (UTC) day: 266 of 1,260
    seeded, the 20 at 23:30 on the eve of a cutoff after it, recency_days wrong for 67 of 292
    customers; a Shanghai export's +0800 times were UTC days whatever --timezone said: 637 of
    1,246 on the day before, the cutoff's first-morning orders before it (151 of 293 wrong)."""
    shop = _shop(7)
    shop.assign(ordered_at=shop["local"].dt.strftime(form)).drop(columns="local").to_csv(
        tmp_path / "orders.csv", index=False
    )
    out = tmp_path / "out"
    reports = ingest(out, tmp_path / "orders.csv", load_mapping(timezone=zone), log=lambda _: None)
    stored = pd.read_parquet(table_path(out, "transactions")).set_index("order_id")["ordered_at"]
    days = stored.reindex(shop["order_id"]).dt.normalize().to_numpy()
    assert (days == shop["local"].dt.normalize().to_numpy()).all()
    assert zone in reports["transactions"].date_format
    before = shop[shop["local"] < CUTOFF]
    truth = (CUTOFF - before.groupby("customer_id")["local"].max().dt.normalize()).dt.days
    features = build_snapshots(out, [CUTOFF], progress=False).set_index("customer_id")
    assert features["recency_days"].reindex(truth.index).tolist() == truth.tolist()


def test_a_file_read_in_its_own_zone_is_converted_into_the_business_zone(tmp_path: Path):
    """A Berlin till's export (its files: section says Europe/Berlin) beside a New York shop's
    (--timezone America/New_York): the till's 10:00 is 04:00 in New York. Before, both were
    stored in UTC (08:00, and the shop's 23:30 as 03:30 the next day); a campaigns export's own
    zone is converted the same way."""
    from features.campaigns import campaigns_sources, load_campaigns

    (tmp_path / "shop.csv").write_text(
        "order_id,customer_id,ordered_at,amount\n1,A,2024-03-05 23:30,5\n"
    )
    (tmp_path / "till.csv").write_text(
        "order_id,customer_id,ordered_at,amount\n2,B,2024-03-05 10:00,5\n"
    )
    (tmp_path / "sends.csv").write_text(
        "customer_id,sent_at,campaign_id,action,arm\nA,2024-03-06 01:30,c1,email,treated\n"
        "B,2024-03-06 01:30,c1,,control\n"
    )
    zones = "{timezone: Europe/Berlin}"
    (tmp_path / "map.yaml").write_text(f"files:\n  till.csv: {zones}\n  sends.csv: {zones}\n")
    mapping = load_mapping(map_file=tmp_path / "map.yaml", timezone="America/New_York")
    out = tmp_path / "out"
    ingest(
        out,
        [tmp_path / "shop.csv", tmp_path / "till.csv"],
        mapping,
        log=lambda _: None,
        campaigns=campaigns_sources([tmp_path / "sends.csv"], mapping),
    )
    stored = pd.read_parquet(table_path(out, "transactions")).set_index("order_id")["ordered_at"]
    assert stored.to_dict() == {
        "1": pd.Timestamp("2024-03-05 23:30"),
        "2": pd.Timestamp("2024-03-05 04:00"),
    }
    assert (load_campaigns(out)["sent_at"] == pd.Timestamp("2024-03-05 19:30")).all()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_future_is_after_tomorrow_in_the_business_zone(tmp_path: Path, zone):
    """Bookings dated the business's tomorrow are kept, the day after it quarantined. Before,
    "tomorrow" was UTC's: at any hour one of UTC+14 and UTC-11 has another date than UTC, so a
    Kiritimati shop's booking of its tomorrow was quarantined, or a Pago Pago shop's of the day
    after its tomorrow kept."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from lifecycle_cli.options import latest_possible_time

    today = datetime.now(ZoneInfo(zone)).date()
    days = [today + timedelta(days=d) for d in (-3, 1, 2)]
    (tmp_path / "b.csv").write_text(
        "id,date,amount\n" + "".join(f"A,{d.isoformat()},10\n" for d in days)
    )
    mapping = load_mapping("customer_id=id,ordered_at=date", timezone=zone)
    latest = latest_possible_time(mapping.timezone)
    report = ingest(
        tmp_path / "out", tmp_path / "b.csv", mapping, log=lambda _: None, latest=latest
    )
    tx = report["transactions"]
    assert (tx.accepted, tx.reasons) == (2, {"ordered_at in the future": 1})


@pytest.mark.parametrize("kind", ["parquet", "jsonl"])
def test_typed_exports_with_zoned_times_are_the_business_days(tmp_path: Path, kind):
    """A Parquet export's timezone-aware column (Asia/Shanghai) and a JSON export's ISO times
    with an offset: a Shanghai morning is the business's day, not UTC's day before."""
    local = pd.DatetimeIndex(["2024-03-05 06:10", "2024-05-31 23:30", "2024-06-01 07:00"])
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "ordered_at": local.tz_localize("Asia/Shanghai"),
            "amount": [5.0, 6.0, 7.0],
        }
    )
    path = tmp_path / f"orders.{kind}"
    if kind == "parquet":
        frame.to_parquet(path)
    else:
        frame.assign(ordered_at=frame["ordered_at"].map(pd.Timestamp.isoformat)).to_json(
            path, orient="records", lines=True
        )
    for zone, truth in (("Asia/Shanghai", local), (None, local - pd.Timedelta(hours=8))):
        out = tmp_path / f"out-{zone is None}"
        ingest(out, path, load_mapping(timezone=zone), log=lambda _: None)
        stored = pd.read_parquet(table_path(out, "transactions"))["ordered_at"]
        assert stored.tolist() == truth.tolist(), zone


def test_times_all_at_one_offset_without_a_timezone_say_how_to_keep_their_days():
    """A Shanghai shop's export (+0800 on every time) ingested without --timezone is stored
    in UTC days: its mornings fall on the day before (637 of 1,246 seeded orders), and the
    dates line said nothing of it. It now names the offset (a zone's winter and summer ones,
    Berlin's) and --timezone; times in UTC (Z) or of zones hours apart say nothing."""
    shop = pd.Series(["2024-03-05 06:10:00 +0800", "2024-03-06 20:00:00 +0800"], dtype="string")
    _, described = parse_dates(shop, ORDER)
    assert "+08:00" in described and "--timezone" in described, described
    berlin = pd.Series(["2024-03-05 23:10 +0100", "2024-07-05 23:10 +02:00"], dtype="string")
    _, described = parse_dates(berlin, ORDER)
    assert "+01:00 and +02:00" in described and "--timezone" in described, described
    for quiet in (["2024-03-05T06:10:00Z"], ["2024-03-05 06:10 +0100", "2024-07-05 06:10 -0500"]):
        _, described = parse_dates(pd.Series(quiet, dtype="string"), ORDER)
        assert "--timezone" not in described, described
    _, described = parse_dates(shop, ORDER, timezone="Asia/Shanghai")
    assert "--timezone" not in described, described


def test_a_placeholder_with_an_offset_is_not_moved_before_year_one():
    """``0001-01-01T00:00:00Z`` (a missing date) converted to New York was 0000-12-31 19:03:58,
    a year no Parquet reader expects; placeholders stay as written (still placeholders)."""
    values = pd.Series(["0001-01-01T00:00:00Z", "2024-03-05T12:00:00Z"], dtype="string")
    stamps, _ = parse_dates(values, ORDER, timezone="America/New_York")
    assert stamps.tolist() == [pd.Timestamp("0001-01-01"), pd.Timestamp("2024-03-05 07:00")]
