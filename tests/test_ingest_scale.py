"""Ingest's hot paths at scale read as before: the Arrow reading of an unquoted CSV gives the
records Python's ``csv`` gives, and the amount notes group by numbers, not by string ids."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features.amounts as amounts
from features.csv_records import Lines, read_records, read_with_csv

UNQUOTED = {
    "plain": "a,b,c\n1,2,3\n4,5,6\n",
    "crlf": "a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n",
    "no last line end": "a,b\n1,2\n3,4",
    "blank lines": "\n\na,b\n\n1,2\n   \n,,\n3,4\n\n",
    "trailing blanks": "a,b,c\n1,2,\n3,,\n4, ,\xa0\n5,6,\u3000\n7,\u2028,x\n",
    "ragged": "a,b,c\n1\n1,2,3,4\n1,2,3,,\n",
    "semicolon": "a;b\n1,5;2\n",
    "tab": "a\tb\n1\t2\n \t \n",
    "odd spaces": "a,b\n x ,\x1c\n\x0b,\x85\n",
}
QUOTED = {
    "quoted": 'a,b\n"1,5",2\n"multi\nline",3\n',
    "lone cr": "a,b\r1,2\r3,4\r",
}


def _records(got) -> tuple:
    return [got[i] for i in range(len(got))], got.counts.tolist(), got.filled.tolist()


@pytest.mark.parametrize("name", [*UNQUOTED, *QUOTED])
def test_records_are_those_of_csv(name: str) -> None:
    text = {**UNQUOTED, **QUOTED}[name]
    sep = ";" if name == "semicolon" else "\t" if name == "tab" else ","
    lines = Lines(text)
    got = read_records(Path("x.csv"), lines, sep, 3)
    want = read_with_csv(Path("x.csv"), lines, sep, 3)
    assert _records(got) == _records(want)
    assert got.spans.tolist() == want.spans.tolist()


def test_an_unquoted_export_is_read_without_python_csv(monkeypatch) -> None:
    calls = []
    real = csv.reader

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(csv, "reader", counted)
    text = "id,amount\n" + "".join(f"C{i},{i}.5\n" for i in range(1000))
    got = read_records(Path("x.csv"), Lines(text), ",", 0)
    assert len(got) == 1001 and got[1000] == ["C999", "999.5"]
    assert calls == []


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of orders over several days, a year apart (renewals) and of several customers, with
    missing customers, dates and order ids."""
    rng = np.random.default_rng(seed)
    order = rng.integers(0, n // 3, n)
    start = pd.Timestamp("2022-01-01")
    day = start + pd.to_timedelta(rng.integers(0, 3, n), unit="D")
    term = start + pd.to_timedelta(rng.integers(0, 3, n) * 365, unit="D")  # renewed yearly
    day = day.where(order % 7 != 0, term)
    out = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{c}" for c in rng.integers(0, n // 4, n)], dtype="string"),
            "order_id": pd.Series([f"O{o}" for o in order], dtype="string"),
            "ordered_at": day + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "amount": rng.choice([-5.0, 0.0, 10.1, -10.1, 20.0], n),
        }
    )
    out.loc[rng.random(n) < 0.05, "customer_id"] = pd.NA
    out.loc[rng.random(n) < 0.05, "ordered_at"] = pd.NaT
    out.loc[rng.random(n) < 0.05, "order_id"] = pd.NA
    return out, rng.random(n) < 0.9


def _reference(out: pd.DataFrame, ok: np.ndarray) -> list:
    """The notes' figures by string group-bys (the code before)."""
    day = out["ordered_at"].dt.floor("D")
    net = out["amount"].where(ok, 0.0).groupby([out["customer_id"], day], dropna=False)
    on_day = (net.transform("sum") > 0).to_numpy(bool)
    paid = ok & (out["amount"] > 0).to_numpy(bool) & out["order_id"].notna().to_numpy(bool)
    rows = pd.DataFrame({"order": out["order_id"][paid], "day": day[paid]}).drop_duplicates()
    rows = rows.sort_values(["order", "day"])
    gap = rows.groupby("order")["day"].diff().dt.days.dropna()
    years = (gap / 365.25).round()
    yearly = years.ge(1) & (gap - years * 365.25).abs().le(amounts.RENEWAL_SLACK_DAYS)
    by_order = yearly.groupby(rows.loc[gap.index, "order"]).all()
    renewed = paid & out["order_id"].isin(by_order.index[by_order.to_numpy(bool)]).to_numpy(bool)
    days = day[paid & ~renewed].groupby(out["order_id"][paid & ~renewed]).nunique()
    named = ok & out["order_id"].notna().to_numpy(bool)
    names = out["customer_id"][named].groupby(out["order_id"][named]).nunique()
    return [on_day.tolist(), renewed.tolist(), days[days > 1].to_dict(), names[names > 1].to_dict()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_order_notes_by_numbers_are_those_by_strings(seed: int) -> None:
    out, ok = _frame(3000, seed)
    orders = amounts._Orders.of(out["order_id"])
    paid = ok & (out["amount"] > 0).to_numpy(bool) & (orders.codes >= 0)
    renewed = amounts._renewals(out["ordered_at"].dt.floor("D"), orders.codes, paid)
    days = amounts._group_numbers(out["ordered_at"].dt.floor("D"))
    several_days = amounts._orders_spread(days, orders, paid & ~renewed)
    customers = amounts._group_numbers(out["customer_id"])
    named = ok & (orders.codes >= 0)
    several = amounts._orders_spread(customers, orders, named)
    assert several_days is not None and several is not None
    assert renewed.any()
    got = [
        amounts._on_a_purchase_day(out, ok).tolist(),
        renewed.tolist(),
        several_days[0].to_dict(),
        several[0].to_dict(),
    ]
    assert got == _reference(out, ok)
    assert list(several_days[0].index) == sorted(several_days[0].index)  # the example: the first


def test_the_amount_notes_group_no_string_column(monkeypatch) -> None:
    """Also: orders of several customers beside rows without an order id are noted (the note's
    example crashed on a missing id: 'boolean value of NA is ambiguous')."""
    out, ok = _frame(3000, 0)
    keyed = []
    real = pd.Series.groupby

    def grouped(self, by=None, *args, **kwargs):
        keys = by if isinstance(by, list) else [by]
        keyed.extend(str(getattr(k, "dtype", "")) for k in keys)
        return real(self, by, *args, **kwargs)

    monkeypatch.setattr(pd.Series, "groupby", grouped)
    inputs = {"amount": out["amount"].astype("string")}
    notes = amounts.amount_notes(inputs, out, ok, list(out.columns))
    assert any("name several customers" in n for n in notes)
    assert keyed and not [k for k in keyed if k.startswith(("string", "object"))]
