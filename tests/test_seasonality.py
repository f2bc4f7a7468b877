"""Purchase seasonality: the monthly counts by hand, a known peak found, none invented, no
look-ahead, and the backtest's churn extension counting the window in seasonal days."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from features.dates import YEAR_DAYS
from features.definitions import monthly_purchase_days
from training.seasonality import MIN_MONTHS, NO_SEASONALITY, fit_seasonality, seasonality_of

PEAK = date(2001, 12, 14).timetuple().tm_yday


def _months(
    n_months: int, amplitude: float, seed: int, start: str = "2022-01-01", cohort: bool = False
) -> pd.DataFrame:
    """Monthly repeat purchase days of a base growing by ~150 customers a month (``cohort``: 1,000
    customers who all arrive in the first month) whose per-day rate decays as it ages (``cohort``:
    stays), times ``1 + amplitude * cos(day of year - 14 Dec)``."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(start, periods=n_months, freq="MS")
    new = np.r_[1_000, np.zeros(n_months - 1, int)] if cohort else rng.poisson(150, n_months)
    base = np.concatenate([[0], np.cumsum(new)[:-1]])
    days = np.array([m.days_in_month for m in months])
    mid = np.array([(m + pd.Timedelta(days=15)).day_of_year for m in months])
    season = 1 + amplitude * np.cos(2 * np.pi * (mid - PEAK) / YEAR_DAYS)
    rate = 0.01 * np.exp((0.0 if cohort else -0.02) * np.arange(n_months))
    repeat = rng.poisson(base * days * rate * season)
    return pd.DataFrame({"month": months, "repeat_days": repeat, "new_buyers": new})


def test_monthly_purchase_days_by_hand():
    rows = [  # customer, ordered_at, amount
        ("a", "2024-01-05 10:00", 20.0),  # a's first purchase: a new buyer of January
        (
            "a",
            "2024-01-20 10:00",
            5.0,
        ),  # same month as the first: not a repeat of an established one
        ("a", "2024-02-03 09:00", 7.0),  # one purchase day, two rows
        ("a", "2024-02-03 18:00", 8.0),
        ("a", "2024-02-10 12:00", -7.0),  # a return: no purchase
        ("b", "2024-02-15 12:00", 30.0),  # b's first purchase
        ("b", "2024-03-02 12:00", 30.0),  # on the cutoff's day or later: not seen
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"])
    table = monthly_purchase_days(ibis.memtable(frame), datetime(2024, 3, 2)).to_pandas()
    # one row per month and acquisition cohort: January's (a), February's (b)
    assert table["month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-02"]
    assert table["first_month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-01", "2024-02"]
    assert table["repeat_days"].tolist() == [0, 1, 0]
    assert table["new_buyers"].tolist() == [1, 0, 1]


def test_a_known_seasonal_peak_is_found():
    season = fit_seasonality(_months(30, 0.3, seed=1), date(2024, 7, 1))
    assert season.found, season.reason
    assert season.p_value < 1e-4
    peaks = season.factor([date(2023, 12, 14).toordinal(), date(2024, 6, 14).toordinal()])
    assert peaks[0] / peaks[1] == pytest.approx(1.3 / 0.7, rel=0.15)
    # a window holding December counts more days of the average rate than one holding June
    assert (
        season.effective_days(date(2024, 10, 1), 91)
        > 91
        > season.effective_days(date(2024, 4, 1), 91)
    )
    assert "around" in season.describe() and "p=" in season.describe()


@pytest.mark.parametrize(
    ("failing_columns", "found", "reason"),
    [
        (None, True, ""),  # every harmonic significant (patched F-test): two kept
        (7, True, ""),  # the second harmonic (3 trend + 4) fails: the first is kept
        (5, False, "the seasonal fit did not converge"),  # the first harmonic
        (4, False, "whose fit on a half did not converge"),  # the halves check (2 + 2)
    ],
)
def test_a_fit_that_does_not_converge(monkeypatch, failing_columns, found, reason):
    """A higher harmonic whose fit fails leaves the lower ones, even when it would be
    significant; a failing first harmonic or halves check finds none and says so."""
    from training import seasonality

    real = seasonality._poisson

    def failing(design, y, offset):
        fit = real(design, y, offset)
        return replace(fit, converged=fit.converged and design.shape[1] != failing_columns)

    monkeypatch.setattr(seasonality, "_poisson", failing)
    monkeypatch.setattr(seasonality, "_f_test", lambda *_: 0.0)  # every harmonic significant
    season = fit_seasonality(_months(30, 0.3, seed=1), date(2024, 7, 1))
    assert season.found is found and reason in season.reason, season
    if found:  # cos and sin per harmonic kept
        assert len(season.coefficients) == (4 if failing_columns is None else 2)


def test_the_seasonal_clock_counts_a_year_as_a_year():
    """Seasonal days are days of the year's mean rate: any year-long window counts 365 of them,
    a quarter over the peak more than one over the trough."""
    season = fit_seasonality(_months(30, 0.3, seed=2, cohort=True), date(2024, 7, 1))
    assert season.found
    for start in (date(2024, 1, 1), date(2024, 5, 17), date(2024, 10, 3), date(1997, 3, 5)):
        assert season.effective_days(start, 365) == pytest.approx(365, abs=0.5)
        assert season.effective_days(start, 10 * YEAR_DAYS) == pytest.approx(10 * YEAR_DAYS)
    day = date(2025, 1, 1).toordinal()  # one clock, whatever else is asked with it
    assert season.clock([day])[0] == pytest.approx(season.clock([day - 1000, day])[1])
    assert (
        season.effective_days(date(2024, 11, 1), 91)
        > 100
        > 80
        > season.effective_days(date(2024, 5, 1), 91)
    )


def test_a_btyd_summary_on_the_seasonal_clock():
    """Age and recency are measured on the clock; a life spent in the peak counts more days;
    the number of repeat purchases is untouched; no seasonality leaves the summary as it is."""
    season = fit_seasonality(_months(30, 0.3, seed=2, cohort=True), date(2024, 7, 1))
    summary = pd.DataFrame(
        {"frequency": [2.0, 0.0], "btyd_recency_days": [40.0, 0.0], "age_days": [61.0, 61.0]}
    )
    winter = season.warp(summary, date(2025, 1, 1))  # first purchase 1 Nov 2024
    summer = season.warp(summary, date(2024, 7, 1))  # first purchase 1 May 2024
    assert winter["age_days"].iloc[0] > 61 > summer["age_days"].iloc[0]
    assert winter["btyd_recency_days"].iloc[0] > 40 > summer["btyd_recency_days"].iloc[0]
    assert winter["btyd_recency_days"].iloc[1] == 0 and winter["frequency"].tolist() == [2, 0]
    plain = NO_SEASONALITY.warp(summary, date(2025, 1, 1))
    pd.testing.assert_frame_equal(plain, summary)


@pytest.mark.parametrize("seed", range(10))
def test_no_seasonality_is_invented_in_a_base_without_one(seed):
    season = fit_seasonality(_months(30, 0.0, seed=seed), date(2024, 7, 1))
    assert not season.found
    assert "no seasonal pattern beyond noise" in season.reason
    assert season.effective_days(date(2024, 7, 1), 180) == 180


def _festivals(seed: int, n_months: int = 30, lift: float = 0.8) -> pd.DataFrame:
    """``_months`` without a season whose June and November buy ``1 + lift`` times the rest (a
    Chinese shop's 618 and Double 11: peaks five months apart cancel the first harmonic)."""
    months = _months(n_months, 0.0, seed)
    festival = months["month"].dt.month.isin([6, 11]).to_numpy()
    rng = np.random.default_rng(seed + 100)
    return months.assign(repeat_days=rng.poisson(months["repeat_days"] * (1 + lift * festival)))


def test_two_festival_peaks_half_a_year_apart_are_a_season():
    """618 and Double 11: the first harmonic alone was not significant (p=0.55 on a helper's
    shop), so the second was never tried and no season was used; the two together are, and the
    factor puts June and November above the months between."""
    cut = date(2024, 7, 1)
    found = [fit_seasonality(_festivals(s), cut) for s in range(20)]
    assert np.mean([s.found for s in found]) >= 0.8, [s.reason for s in found]  # 0.87 of 100
    season = next(s for s in found if s.found)
    assert len(season.coefficients) in (4, 6) and season.p_value < 0.005
    june, nov, aug, feb = (date(2023, m, 15).toordinal() for m in (6, 11, 8, 2))
    factor = season.factor([june, nov, aug, feb])
    assert min(factor[:2]) > max(factor[2:]), factor


def test_too_little_history_finds_none_and_says_why():
    season = fit_seasonality(_months(12, 0.5, seed=0), date(2023, 1, 1))
    assert not season.found
    assert f"needs {MIN_MONTHS}" in season.reason and "11 complete months" in season.reason
    assert season.effective_days(date(2023, 1, 1), 90) == 90
    assert season.describe().startswith("no purchase seasonality used")


def test_an_incomplete_last_month_is_not_used():
    months = _months(20, 0.3, seed=4)
    cut = date(2023, 8, 15)  # mid-August 2023: months up to July are complete
    season = fit_seasonality(months, cut)
    assert season.months == 18  # January 2022 has no established customers yet


def test_a_month_without_purchases_counts_as_none_not_as_missing():
    months = _months(30, 0.3, seed=6)
    closed = months[months["month"] != pd.Timestamp("2023-08-01")]  # the shop closed in August
    season = fit_seasonality(closed, date(2024, 7, 1))
    full = fit_seasonality(months, date(2024, 7, 1))
    assert season.months == full.months == 29
    august = date(2023, 8, 15).toordinal()
    assert season.factor(august) < full.factor(august)  # its customer-days count, with none


def test_a_base_that_never_buys_again_has_no_seasonality():
    months = _months(30, 0.3, seed=7).assign(repeat_days=0)
    season = fit_seasonality(months, date(2024, 7, 1))
    assert not season.found and season.effective_days(date(2024, 7, 1), 90) == 90
    assert not fit_seasonality(months.iloc[:0], date(2024, 7, 1)).found  # no purchases at all


def test_months_without_purchases_before_the_cutoff_count_too():
    months = _months(30, 0.3, seed=8)
    quiet = months[months["month"] < pd.Timestamp("2024-04-01")]  # nothing in April-June 2024
    assert fit_seasonality(quiet, date(2024, 7, 1)).months == 29


def _cohorts(n_months: int, amplitude: float, seed: int, acquisition: float) -> pd.DataFrame:
    """Cohort rows (as ``monthly_purchase_days``) of a base acquiring ~150 customers a month times
    ``1 + acquisition * cos(day of year - 14 Dec)``, each cohort buying at a rate that falls with
    its age (fresh customers are active, then some drop out: 0.01 x (0.3 + 0.7 exp(-age / 4))),
    times ``1 + amplitude * cos(...)`` in calendar time (the purchase season)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2022-01-01", periods=n_months, freq="MS")
    mid = np.array([(m + pd.Timedelta(days=15)).day_of_year for m in months])
    wave = np.cos(2 * np.pi * (mid - PEAK) / YEAR_DAYS)
    sizes = rng.poisson(150 * (1 + acquisition * wave))
    rows = []
    for c in range(n_months):
        rows.append((months[c], months[c], 0, sizes[c]))
        for m in range(c + 1, n_months):
            rate = 0.01 * (0.3 + 0.7 * np.exp(-(m - c) / 4))
            mean = sizes[c] * months[m].days_in_month * rate * (1 + amplitude * wave[m])
            rows.append((months[m], months[c], rng.poisson(mean), 0))
    return pd.DataFrame(rows, columns=["month", "first_month", "repeat_days", "new_buyers"])


def test_customers_acquired_in_a_season_are_not_a_purchase_season():
    """A base that acquires its customers in winter holds more fresh, active customers after
    each winter: month by month it looks seasonal (the monthly fit alone finds a season in 90% of
    these bases) though nobody buys by the season. Fitting each cohort's rate by its age finds
    none; a real purchase season of amplitude 0.15 is still found in every base, whether or not
    its customers are acquired in a season."""
    cut = date(2024, 7, 1)
    acquired = [_cohorts(30, 0.0, seed=s, acquisition=0.8) for s in range(40)]
    monthly_only = np.mean(
        [fit_seasonality(m.drop(columns="first_month"), cut).found for m in acquired]
    )
    assert monthly_only >= 0.8, monthly_only  # the false season the cohort check is for
    found = [fit_seasonality(m, cut) for m in acquired]
    assert not any(s.found for s in found)
    assert any(
        "the age of the customers acquired in each month explains" in s.reason for s in found
    )
    for acquisition in (0.8, 0.0):
        real = [fit_seasonality(_cohorts(30, 0.15, s, acquisition), cut) for s in range(20)]
        assert all(s.found for s in real), acquisition
    # and the monthly totals of cohort rows are the months the fit has always used
    one = _cohorts(30, 0.15, seed=0, acquisition=0.0)
    assert fit_seasonality(one, cut) == fit_seasonality(one.drop(columns="first_month"), cut)


def test_a_cohort_check_that_does_not_converge_finds_none(monkeypatch):
    from training import seasonality

    real = seasonality._poisson
    n_base = seasonality.TREND_DEGREE + 1 + seasonality.AGE_TERMS  # the cohort fit's design

    def failing(design, y, offset):
        fit = real(design, y, offset)
        return replace(fit, converged=fit.converged and design.shape[1] != n_base + 2)

    monkeypatch.setattr(seasonality, "_poisson", failing)
    season = fit_seasonality(_cohorts(30, 0.3, seed=1, acquisition=0.0), date(2024, 7, 1))
    assert not season.found and "explains (p=nan" in season.reason, season.reason


def _drifting(seed: int, n: int = 30, step: int | None = None) -> pd.DataFrame:
    """A base without seasonality whose monthly rate wanders (AR(1), 0.7, sd 0.1) or, with
    ``step``, drops by 30% from that month on."""
    rng = np.random.default_rng(seed)
    months = _months(n, 0.0, seed)
    wander = np.zeros(n)
    for i in range(1, n):
        wander[i] = 0.7 * wander[i - 1] + 0.1 * rng.standard_normal()
    level = np.where(np.arange(n) >= step, 0.7, 1.0) if step else np.exp(wander)
    return months.assign(repeat_days=rng.poisson(months["repeat_days"] * level))


def test_a_wandering_or_shifting_rate_is_seldom_taken_for_a_season():
    """The F-test alone takes a wandering rate for a season in 20% of these bases and a one-off
    30% drop in 32%; with the two halves of the history agreeing on the peak, 12% and 15%. A real
    season of half the generator's amplitude is still found every time."""
    cut = date(2024, 7, 1)
    wander = np.mean([fit_seasonality(_drifting(s), cut).found for s in range(60)])
    drop = np.mean([fit_seasonality(_drifting(s, step=18), cut).found for s in range(60)])
    real = np.mean([fit_seasonality(_months(30, 0.15, seed=s), cut).found for s in range(60)])
    assert wander <= 0.15 and drop <= 0.2 and real >= 0.95, (wander, drop, real)
    reasons = [fit_seasonality(_drifting(s, step=18), cut).reason for s in range(20)]
    assert any("the two halves of the history do not repeat" in r for r in reasons)


@pytest.fixture(scope="module")
def two_years(tmp_path_factory) -> Path:
    from features.synthetic import generate

    out = tmp_path_factory.mktemp("two_years")
    generate(out, 600, seed=5, start="2023-01-01", end="2024-12-31", progress=False)
    return out


def test_seasonality_sees_nothing_from_the_cutoff_on(two_years, tmp_path):
    cutoff = date(2024, 10, 1)
    altered = tmp_path / "altered"
    altered.mkdir()
    for path in two_years.glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.name == "transactions.parquet":  # drop every other purchase from the cutoff on
            late = frame["ordered_at"] >= pd.Timestamp(cutoff)
            frame = frame[~(late & (np.arange(len(frame)) % 2 == 0))]
        frame.to_parquet(altered / path.name, index=False)
    first, second = seasonality_of(two_years, cutoff), seasonality_of(altered, cutoff)
    assert first.found, first.reason  # the generator's December peak
    assert first == second


def test_backtest_counts_its_window_in_seasonal_days(two_years):
    """A window over the December peak counts more than its calendar days: BG/NBD on the seasonal
    clock expects more purchases in it, so the churn probabilities come down (for nearly every
    customer: the clock also changes each customer's history)."""
    from tests.test_backtest import _config
    from training.backtest import backtest

    quiet = {"dataset": "two-years", "log": lambda *_: None, "calibrate": "none"}
    seasonal = backtest(two_years, date(2024, 10, 1), 91, _config(), **quiet)
    calendar = backtest(two_years, date(2024, 10, 1), 91, _config(), seasonal=False, **quiet)
    assert seasonal.seasonality["coefficients"] and seasonal.seasonality["effective_days"] > 91
    assert calendar.seasonality["effective_days"] == 91
    assert calendar.seasonality["reason"] == "switched off"
    a = seasonal.predictions["churn_probability"].to_numpy()
    b = calendar.predictions["churn_probability"].to_numpy()
    assert a.mean() < b.mean() and np.mean(a < b) > 0.9, (a.mean(), b.mean(), np.mean(a < b))
    # the value forecast and the BTYD baseline (the classic one, on calendar days) are untouched
    pd.testing.assert_series_equal(
        seasonal.predictions["predicted_value"], calendar.predictions["predicted_value"]
    )
    # the BTYD metrics are the same but for its ranges, calibrated in another window (below)
    ranges = "clv_interval_"
    assert {k: v for k, v in seasonal.btyd.items() if not k.startswith(ranges)} == {
        k: v for k, v in calendar.btyd.items() if not k.startswith(ranges)
    }
    # the ranges are calibrated in the same season a year earlier, on calendar days in the latest
    # window before the cutoff; both windows end by the cutoff
    assert seasonal.ranges["calibration"]["pseudo_cutoff"] == "2023-10-03"  # 52 weeks earlier
    assert seasonal.ranges["calibration"]["pseudo_window"] == "same_season"
    assert calendar.ranges["calibration"]["pseudo_cutoff"] == "2024-07-02"  # 91 days earlier
    assert calendar.ranges["calibration"]["pseudo_window"] == "latest"


def test_the_backtest_command_can_switch_the_seasonality_off(two_years, tmp_path):
    """``lifecycle backtest --no-seasonality`` runs on calendar days and says so in its JSON."""
    import json

    import yaml
    from typer.testing import CliRunner

    from lifecycle_cli import app
    from tests.test_backtest import _config

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(_config().model_dump(mode="json", exclude_defaults=True)))
    args = ["backtest", "--data", str(two_years), "--cutoff", "2024-10-01", "--horizon-days", "91"]
    args += ["--config", str(config)]
    for flag, name in (("--no-seasonality", "off.json"), ("--seasonality", "on.json")):
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / name), flag])
        assert result.exit_code == 0, result.output
    results = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("off", "on")}
    off, on = results["off"]["seasonality"], results["on"]["seasonality"]
    assert off["reason"] == "switched off" and off["effective_days"] == 91
    assert on["coefficients"] and on["effective_days"] > 91
    # the recalibration and the ranges use one pseudo-backtest: a year earlier with the seasonality
    for name, window, cutoff in (
        ("on", "same_season", "2023-10-03"),
        ("off", "latest", "2024-07-02"),
    ):
        result = results[name]
        assert result["calibration"]["pseudo_window"] == window
        assert result["calibration"]["pseudo_cutoff"] == cutoff
        assert result["ranges"]["calibration"]["pseudo_window"] == window
        assert result["ranges"]["calibration"]["pseudo_cutoff"] == cutoff


def test_ranges_refuse_a_pseudo_backtest_from_another_window(two_years):
    """The ranges of a seasonal backtest are calibrated on the same-season pseudo-backtest; one
    fitted in another window (here the latest) is refused, not used under the wrong name."""
    from tests.test_backtest import _config
    from training.backtest_forecast import Forecast
    from training.backtest_plan import plan_backtest, pseudo_backtest_plan
    from training.clv_intervals import ranges_for_backtest
    from training.dataset import data_bounds

    start, cutoff, cfg = data_bounds(two_years)[0], date(2024, 10, 1), _config()
    season = seasonality_of(two_years, cutoff)
    latest = pseudo_backtest_plan(start, cutoff, 91, cfg)
    assert season.found and latest != pseudo_backtest_plan(start, cutoff, 91, cfg, season)
    other = Forecast(pd.DataFrame(), np.array([]), np.array([]), None, None, None, [], latest)
    plan = plan_backtest(start, cutoff, 91, cfg)
    with pytest.raises(ValueError, match="not the one the ranges"):
        ranges_for_backtest(
            two_years, plan, cfg, pd.DataFrame(), [], [], pseudo=other, anchored=True, season=season
        )
