"""A billing base (subscriptions, invoices) on cycles longer than the churn horizon is told that
'churned' (no purchase in H days) is true of its customers while they stay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.cadence import billing_cycle_note, rhythm_note, slow_rhythm_note


def customers(n: int, mean_gap: float, spread: float, orders: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "orders_all": np.full(n, orders),
            "mean_gap_days": np.full(n, mean_gap),
            "std_gap_days": np.full(n, spread * mean_gap),
        }
    )


def test_annual_invoices_beside_monthly_ones_are_noted_with_the_horizon_to_use():
    base = pd.concat([customers(300, 30.4, 0.05), customers(40, 365.0, 0.01)])
    note = billing_cycle_note(base, 90)
    assert note is not None
    assert "340 of the 340 customers" in note
    assert "40 of them on a cycle longer than 90 days" in note
    assert "median every 365 days" in note and "--churn-horizon-days 365" in note
    assert billing_cycle_note(base, 400) is None  # the horizon covers the longest cycle


def test_an_annual_cycle_a_day_longer_than_the_advised_365_day_horizon_says_nothing():
    """Renewals 365 or 366 days apart (a leap year): at H = 365, the horizon docs/scoring.md
    advises, a customer who stays is labelled churned at a cutoff in 366 at most; the note said
    'every 365 days or more' and advised 366 (B2B walkthrough: it came back after following it)."""
    base = pd.concat([customers(300, 30.4, 0.05), customers(23, 365.5, 0.01)])
    base = pd.concat([base, customers(10, 365.0, 0.0)])
    assert billing_cycle_note(base, 90) is not None
    assert billing_cycle_note(base, 365) is None
    assert billing_cycle_note(base, 366) is None
    assert billing_cycle_note(pd.concat([base, customers(30, 730.0, 0.01)]), 365) is not None


def test_shoppers_with_irregular_gaps_are_not_a_billing_base():
    """Many shoppers buy less often than the horizon; their gaps vary, and a long gap is not a
    renewal that is due: no note (CDNOW and synthetic: 6 to 17% regular)."""
    rng = np.random.default_rng(0)
    gaps = rng.gamma(1.5, 80.0, 2_000)
    shoppers = pd.DataFrame(
        {
            "orders_all": 4,
            "mean_gap_days": gaps,
            "std_gap_days": gaps * rng.uniform(0.3, 1.2, 2_000),
        }
    )
    regular = customers(150, 120.0, 0.1)
    assert billing_cycle_note(pd.concat([shoppers, regular]), 90) is None


def test_too_few_long_cycles_or_missing_columns_say_nothing():
    assert (
        billing_cycle_note(pd.concat([customers(300, 30, 0.05), customers(5, 365, 0)]), 90) is None
    )
    assert billing_cycle_note(customers(100, 365, 0.0, orders=2), 90) is None  # one gap: no cycle
    assert billing_cycle_note(pd.DataFrame({"orders_all": [4]}), 90) is None
    assert billing_cycle_note(customers(0, 30, 0), 90) is None


def test_a_backtest_is_told_its_own_option_not_trains():
    """backtest takes --horizon-days, not --churn-horizon-days (refused as no such option)."""
    base = pd.concat([customers(300, 30.4, 0.05), customers(40, 365.0, 0.01)])
    note = billing_cycle_note(base, 90, backtest=True)
    assert note is not None and "--horizon-days 365" in note
    assert "--churn-horizon-days" not in note and "scoring:" not in note


def test_a_membership_base_without_end_dates_is_told_to_give_them():
    """Monthly dues: every member is on rhythm to the last payment; without customers.ended_at
    the note says where cancellations go; with it (the ended_days column), nothing."""
    from features.endings import ENDED_DAYS
    from training.cadence import cancellation_note

    base = customers(300, 30.4, 0.05)
    note = cancellation_note(base)
    assert note is not None and "300 of the 300 customers" in note
    assert "median every 30 days" in note and "customers.ended_at" in note
    assert cancellation_note(base.assign(**{ENDED_DAYS: np.nan})) is None
    rng = np.random.default_rng(0)
    gaps = rng.gamma(1.5, 80.0, 500)
    shoppers = pd.DataFrame(
        {"orders_all": 4, "mean_gap_days": gaps, "std_gap_days": gaps * rng.uniform(0.3, 1.2, 500)}
    )
    assert cancellation_note(shoppers) is None


def test_customers_slower_than_the_horizon_are_told_the_horizon_to_train_at():
    """A dealer group's service visits every 4 to 14 months, trained at 90 days: 76% of its
    customers had no visit within 90 days while they stayed, and nothing said so."""
    rng = np.random.default_rng(1)
    gaps = rng.uniform(120.0, 420.0, 500)
    visits = pd.DataFrame(
        {"orders_all": 5, "mean_gap_days": gaps, "std_gap_days": gaps * rng.uniform(0.4, 0.9, 500)}
    )
    note = slow_rhythm_note(visits, 90)
    assert note is not None and "usually buy every 2" in note
    assert "--churn-horizon-days 270 --value-horizon-days 270" in note
    assert slow_rhythm_note(visits, 365) is None  # the horizon covers their rhythm
    monthly = visits.assign(mean_gap_days=30.0, std_gap_days=20.0)
    assert slow_rhythm_note(monthly, 90) is None
    # a billing base with cycles longer than the horizon gets the billing note, not this one
    annual = customers(300, 365.0, 0.01)
    assert rhythm_note(annual, 90) == billing_cycle_note(annual, 90) is not None


@pytest.mark.slow
def test_lifecycle_score_repeats_the_billing_note_of_a_champion_trained_at_a_short_horizon(
    tmp_path,
):
    """A subscription base trained at the default 90 days: train said its annual subscribers
    read as leaving, but score, whose P1 list was all mid-term annual subscribers in a tester's
    base, said nothing."""
    import yaml
    from cli_runs import cli_ok
    from service_fixtures import REPO, SMALL_LIGHTGBM

    rng = np.random.default_rng(3)
    rows = []
    for i in range(500):
        annual = i % 3 == 0
        step = 365 if annual else 30
        start = pd.Timestamp("2021-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
        for k in range(60):
            day = start + pd.Timedelta(days=k * step + int(rng.integers(0, 2)))
            if day > pd.Timestamp("2024-06-30"):
                break
            rows.append((f"S{i}", day.date().isoformat(), 990.0 if annual else 99.0))
    pd.DataFrame(rows, columns=["customer", "day", "amount"]).to_csv(tmp_path / "invoices.csv")
    data, uri = tmp_path / "data", f"sqlite:///{tmp_path / 'mlflow.db'}"
    cli_ok(["ingest", "--transactions", str(tmp_path / "invoices.csv"), "--out", str(data),
            "--map", "customer_id=customer,ordered_at=day,amount=amount"])  # fmt: skip
    experiment = yaml.safe_load((REPO / "experiments" / "btyd-features.yaml").read_text())
    for model in ("churn", "clv"):  # the default experiment with small trees: a note is tested
        experiment[model]["params"] = SMALL_LIGHTGBM
    experiment["snapshots"] = {"n_train": 3}
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(experiment))
    trained = cli_ok(["train", "--data", str(data), "--tracking-uri", uri, "--project", "subs",
                      "--force", "--config", str(small)])  # fmt: skip
    assert "buy on a regular cycle" in trained
    scored = cli_ok(["score", "--data", str(data), "--tracking-uri", uri, "--project", "subs",
                     "--out", str(tmp_path / "scores.parquet")])  # fmt: skip
    said = [line for line in scored.splitlines() if "churn horizon is 90 days" in line]
    assert said and said[0].startswith("warning:") and "--churn-horizon-days 36" in said[0]
