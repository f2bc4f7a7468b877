"""Synthetic invoice-lines export shaped like the public "Online Retail II" data set.

    .venv/bin/python bench/retail_export.py --out bench/data/retail.csv [--variant drift]
    .venv/bin/lifecycle ingest --transactions bench/data/retail.csv --out bench/data/retail \\
      --map "$(.venv/bin/python bench/retail_export.py --print-map)"

A new user's first export as it comes out of a shop system (guest lines, cancellations, unit
prices): what docs/results.md measures the default configuration on next to BG/NBD + Gamma-Gamma
(whose own generative model it follows, so the baseline is at home here).

Columns (as in the UCI / Kaggle file):
    Invoice, StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country
One row per invoice line, Price is the UNIT price, line revenue = Quantity x Price.

Generative model (per customer, BG/NBD + Gamma-Gamma shaped):
  * first purchase t0 over 2023-01-01 .. 2024-12-31 (--years 2), density ~ exp(-day / 400);
  * repeat purchases: Poisson with rate lambda ~ Gamma(shape 0.8, scale 1/25 per day)
    (mean one purchase every ~31 days, median every ~2 months);
  * after each repeat purchase the customer drops out with probability p ~ Beta(1.2, 4);
  * spend per invoice z ~ Gamma(6, scale 1/nu), nu ~ Gamma(3.5, scale 1/100) per customer
    (customer mean spend 6/nu), split over 2-6 lines as Quantity (1-24) x catalogue unit price;
  * ~2% of purchase invoices are followed (0-~2 weeks later) by a cancellation "C<number>" that
    returns some of its lines with negative Quantity;
  * ~3% of lines are guest invoices with an empty Customer ID;
  * no trading on Saturdays (as in the real data: such purchases move to Friday or Sunday).
--variant drift: 40% of customers (flag drawn independently) halve their purchase rate from
2024-01-01 on. Every customer has its own random streams, so year 2023 is identical in both
variants for the same seed.
--variant seasonal: the purchase rate follows a gift shop's year (:func:`season`): a sharp peak in
mid-November (x1.8 of the year's mean), x0.8 from January to August; purchases are thinned from
the peak rate, so the customers' own parameters are those of the plain variant.
--variant seasonal-acquisition: purchases as in the plain variant (no season), but customers are
acquired in a season: each simulated customer is kept with probability season(first purchase) /
peak (about half are), so first purchases peak in mid-November at x1.8. A base that looks
seasonal month by month (more freshly acquired, still active customers after each November)
without any season in when its customers buy: the false season ``training.seasonality`` must
not find.

Also writes <out stem>_truth.csv: per customer lambda, p, mean spend, drift flag, death time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

#: ``lifecycle ingest --map`` for these columns (Price is a unit price: amount = Quantity x Price).
INGEST_MAP = (
    "customer_id=Customer ID,ordered_at=InvoiceDate,order_id=Invoice,quantity=Quantity,"
    "unit_price=Price"
)
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2025-01-01")  # exclusive: last purchase on 2024-12-31
YEAR2 = (pd.Timestamp("2024-01-01") - START).days  # 365
FIRST_INVOICE = 489434

COUNTRIES = {
    "United Kingdom": 0.885,
    "EIRE": 0.018,
    "Germany": 0.020,
    "France": 0.017,
    "Netherlands": 0.008,
    "Spain": 0.007,
    "Belgium": 0.006,
    "Switzerland": 0.006,
    "Portugal": 0.006,
    "Australia": 0.004,
    "Sweden": 0.004,
    "Channel Islands": 0.004,
    "Italy": 0.004,
    "Norway": 0.003,
    "Denmark": 0.003,
    "Finland": 0.003,
    "Austria": 0.002,
}

# (item noun, typical unit price) -- the kind of giftware the real shop sells
ITEMS = [
    ("T-LIGHT HOLDER", 2.55),
    ("CAKESTAND 3 TIER", 12.75),
    ("LANTERN", 4.95),
    ("JUMBO BAG", 2.08),
    ("LUNCH BAG", 1.65),
    ("MUG", 1.25),
    ("TEACUP AND SAUCER", 2.95),
    ("PAPER CHAIN KIT", 2.95),
    ("BUNTING", 4.95),
    ("CHILDRENS APRON", 1.95),
    ("HOT WATER BOTTLE", 4.25),
    ("DOORMAT", 7.95),
    ("CUSHION COVER", 3.75),
    ("NIGHT LIGHT", 1.25),
    ("PARTY BUNTING", 4.95),
    ("CAKE CASES", 0.55),
    ("NAPKINS", 0.85),
    ("WRAP", 0.42),
    ("GREETING CARD", 0.42),
    ("PHOTO FRAME", 2.95),
    ("CLOCK", 8.50),
    ("WALL ART", 5.95),
    ("STORAGE TIN", 3.25),
    ("JAM MAKING SET", 4.25),
    ("HEART DECORATION", 0.85),
    ("BAKING SET", 7.45),
    ("WATER BOTTLE", 3.75),
    ("SHOPPER BAG", 1.25),
    ("NOTEBOOK", 1.65),
    ("PENCILS SET", 0.65),
    ("GLASS CANDLEHOLDER", 2.10),
    ("VINTAGE SIGN", 2.10),
    ("KEY FOB", 0.65),
    ("SPOTTY BOWL", 1.25),
    ("PLATE", 1.65),
    ("HANGING HEART", 2.95),
    ("DOLLY GIRL BEAKER", 1.25),
    ("REGENCY TEAPOT", 14.95),
    ("WICKER BASKET", 9.95),
    ("CHEST OF DRAWERS", 24.95),
    ("ZINC PLANTER", 6.75),
    ("PICNIC BASKET", 19.95),
    ("BIRDHOUSE", 3.75),
    ("RETROSPOT UMBRELLA", 5.95),
    ("CERAMIC DRAWER KNOB", 1.25),
    ("CHRISTMAS BAUBLE", 0.29),
    ("WOODEN STAR", 0.85),
    ("SCANDINAVIAN REINDEER", 1.65),
    ("TRAVEL CARD WALLET", 0.42),
    ("SEWING KIT", 1.95),
]
MOTIFS = [
    "WHITE",
    "RED RETROSPOT",
    "PINK",
    "BLUE POLKADOT",
    "VINTAGE",
    "SET OF 3",
    "SET OF 6",
    "REGENCY",
    "PAISLEY PARK",
    "SPACEBOY",
    "WOODLAND",
    "SKULLS",
    "STRAWBERRY",
    "GREEN",
    "IVORY",
    "HEART OF WICKER",
    "ROSE",
    "ASSORTED COLOUR",
    "FRENCH",
    "ENGLISH ROSE",
    "ANTIQUE SILVER",
    "JUMBO",
    "MINI",
    "PANTRY",
    "DOTCOM",
    "CHARLOTTE",
]
PRICE_GRID = np.array(
    [
        0.19,
        0.29,
        0.39,
        0.42,
        0.55,
        0.65,
        0.72,
        0.79,
        0.85,
        0.95,
        1.06,
        1.25,
        1.45,
        1.65,
        1.85,
        1.95,
        2.08,
        2.10,
        2.46,
        2.55,
        2.95,
        3.25,
        3.39,
        3.75,
        4.25,
        4.65,
        4.95,
        5.45,
        5.95,
        6.75,
        7.45,
        7.95,
        8.50,
        9.95,
        10.95,
        12.75,
        14.95,
        16.95,
        19.95,
        24.95,
        29.95,
        39.95,
    ]
)


def make_catalogue(rng: np.random.Generator, n: int = 600) -> pd.DataFrame:
    """Products: StockCode, Description, unit price, popularity; sorted by price."""
    codes: set[str] = set()
    rows = []
    used_desc: set[str] = set()
    while len(rows) < n:
        item, base = ITEMS[rng.integers(len(ITEMS))]
        motif = MOTIFS[rng.integers(len(MOTIFS))]
        desc = f"{motif} {item}"
        if desc in used_desc:
            continue
        used_desc.add(desc)
        code = str(rng.integers(20600, 90300))
        if rng.random() < 0.25:
            code += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.integers(0, 7)]
        if code in codes:
            continue
        codes.add(code)
        target = base * float(np.exp(rng.normal(0.0, 0.25)))
        price = float(PRICE_GRID[np.abs(PRICE_GRID - target).argmin()])
        rows.append((code, desc, price))
    cat = pd.DataFrame(rows, columns=["StockCode", "Description", "Price"])
    pop = rng.pareto(1.2, n) + 0.05  # a few best sellers, a long tail
    cat["weight"] = pop / pop.sum()
    return cat.sort_values("Price", kind="stable").reset_index(drop=True)


class LineMaker:
    """Splits an invoice's spend into 2-6 lines of Quantity x unit Price."""

    N_LINES = np.array([2, 3, 4, 5, 6])
    P_LINES = np.array([0.24, 0.25, 0.21, 0.16, 0.14])

    def __init__(self, cat: pd.DataFrame) -> None:
        self.cat = cat
        self.price = cat["Price"].to_numpy()
        self.cum = np.concatenate([[0.0], np.cumsum(cat["weight"].to_numpy())])

    def lines(self, rng: np.random.Generator, spend: float) -> list[tuple[int, int]]:
        """[(catalogue row, quantity), ...] with distinct products, total close to spend."""
        k = int(rng.choice(self.N_LINES, p=self.P_LINES))
        shares = rng.dirichlet(np.full(k, 2.0))
        out: list[tuple[int, int]] = []
        used: set[int] = set()
        for part in spend * shares:
            # products a quantity of 1..24 can turn into this part of the spend
            lo = int(np.searchsorted(self.price, part / 24.0, side="left"))
            hi = int(np.searchsorted(self.price, part, side="right"))
            if hi <= lo:  # part above 24 x dearest or below cheapest price
                lo, hi = (
                    (max(len(self.price) - 40, 0), len(self.price))
                    if lo >= len(self.price)
                    else (0, 40)
                )
            for _ in range(20):
                u = rng.uniform(self.cum[lo], self.cum[hi])
                j = min(int(np.searchsorted(self.cum, u, side="right")) - 1, hi - 1)
                if j not in used:
                    break
            else:
                free = [i for i in range(lo, hi) if i not in used] or [
                    i for i in range(len(self.price)) if i not in used
                ]
                j = int(rng.choice(free))
            used.add(j)
            q = int(np.clip(round(part / self.price[j]), 1, 24))
            out.append((j, q))
        return out


def shop_time(rng: np.random.Generator, day_float: float, end: pd.Timestamp) -> pd.Timestamp:
    """A trading timestamp on the day of day_float: no Saturdays, 07:00-20:00, minute precision."""
    day = int(np.floor(day_float))
    date = START + pd.Timedelta(days=day)
    if date.day_of_week == 5:  # Saturday -> Friday or Sunday
        step = -1 if rng.random() < 0.5 else 1
        if not START <= date + pd.Timedelta(days=step) < end:
            step = -step
        date = date + pd.Timedelta(days=step)
    minutes = int(np.clip(rng.normal(12.6, 2.3), 7.0, 19.98) * 60)
    return date + pd.Timedelta(minutes=minutes)


#: --variant seasonal: day of the year of the peak, its width (sd, days), the floor and the bump.
PEAK_DAY, PEAK_WIDTH, FLOOR, BUMP = 320.0, 30.0, 0.75, 1.0
#: The year's mean of the unnormalised multiplier, and the normalised multiplier at the peak.
SEASON_MEAN = FLOOR + BUMP * np.sqrt(2 * np.pi) * PEAK_WIDTH / 365.0
SEASON_PEAK = (FLOOR + BUMP) / SEASON_MEAN


def season(day: float) -> float:
    """The seasonal multiplier of the purchase rate on ``day`` (days since START), mean 1."""
    doy = (START + pd.Timedelta(days=float(day))).day_of_year - 1 + (day % 1)
    distance = min(abs(doy - PEAK_DAY), 365.0 - abs(doy - PEAK_DAY))
    return float((FLOOR + BUMP * np.exp(-0.5 * (distance / PEAK_WIDTH) ** 2)) / SEASON_MEAN)


def simulate(
    seed: int,
    n_customers: int,
    drift: bool,
    seasonal: bool = False,
    years: int = 2,
    seasonal_acquisition: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Invoice lines and per-customer truth over ``years`` from START (2: to END)."""
    end = START + pd.DateOffset(years=years)
    days = (end - START).days
    root = np.random.SeedSequence(seed)
    g = np.random.default_rng(root.spawn(1)[0])  # population-level draws
    cat = make_catalogue(np.random.default_rng(np.random.SeedSequence([seed, 1])))
    maker = LineMaker(cat)

    ids = np.sort(g.choice(np.arange(12346, 18288), n_customers, replace=False))
    countries = g.choice(
        list(COUNTRIES), n_customers, p=np.array(list(COUNTRIES.values())) / sum(COUNTRIES.values())
    )
    # acquisition day: truncated exponential (scale 400 days) over the years simulated
    u = g.random(n_customers)
    scale = 400.0
    t0 = -scale * np.log(1 - u * (1 - np.exp(-days / scale)))
    lam = g.gamma(0.8, 1 / 25.0, n_customers)
    p_drop = g.beta(1.2, 4.0, n_customers)
    nu = g.gamma(3.5, 1 / 100.0, n_customers)
    gg_p = 6.0
    drift_flag = np.random.default_rng(np.random.SeedSequence([seed, 2])).random(n_customers) < 0.40
    drift_flag &= drift

    invoices = []  # (time, customer id or "", country, [(row, qty)], cancel_of or None)
    truth = []
    p_guest = 0.03 / 0.97
    peak = SEASON_PEAK if seasonal else 1.0
    acquired = np.ones(n_customers, dtype=bool)
    if seasonal_acquisition:  # its own stream: the customers kept are those of the plain variant
        keep = np.random.default_rng(np.random.SeedSequence([seed, 4])).random(n_customers)
        acquired = keep * SEASON_PEAK < np.array([season(t) for t in t0])
    for i in np.flatnonzero(acquired):
        r_time, r_spend, r_cancel, r_guest = (
            np.random.default_rng(s) for s in np.random.SeedSequence([seed, 3, i]).spawn(4)
        )
        times = [t0[i]]
        t, alive, death = t0[i], True, np.nan
        while True:
            rate = lam[i] / (2.0 if drift_flag[i] and t >= YEAR2 else 1.0)
            gap = r_time.exponential(1 / (rate * peak))
            if drift_flag[i] and t < YEAR2 <= t + gap:
                t = float(YEAR2)  # memoryless: restart at the switch with the halved rate
                continue
            t += gap
            if t >= days:
                break
            if seasonal and r_time.random() * peak >= season(t):
                continue  # thinned: no purchase at this point of the year
            times.append(t)
            if r_time.random() < p_drop[i]:
                alive, death = False, t
                break
        cid = str(ids[i])
        for t in times:
            ts = shop_time(r_spend, t, end)
            spend = r_spend.gamma(gg_p, 1 / nu[i])
            lines = maker.lines(r_spend, spend)
            inv = (ts, cid, countries[i], lines, None)
            invoices.append(inv)
            if r_cancel.random() < 0.02:
                back = r_cancel.exponential(3.0)
                if t + back < days:
                    cts = shop_time(r_cancel, t + back, end)
                    if cts <= ts:
                        cts = ts + pd.Timedelta(minutes=int(r_cancel.integers(5, 240)))
                    if cts < end:
                        k = int(r_cancel.integers(1, len(lines) + 1))
                        pick = r_cancel.choice(len(lines), k, replace=False)
                        ret = []
                        for j in sorted(pick):
                            row, q = lines[j]
                            qq = q if r_cancel.random() < 0.7 else int(r_cancel.integers(1, q + 1))
                            ret.append((row, -qq))
                        invoices.append((cts, cid, countries[i], ret, len(invoices) - 1))
            if r_guest.random() < p_guest:  # a guest order around the same time
                # stay on the purchase's side of 2024-01-01 (the drift's switch)
                lo_day = float(YEAR2) if t >= YEAR2 else 0.0
                hi_day = float(YEAR2) - 1e-6 if t < YEAR2 else days - 1e-6
                gt = min(max(t + r_guest.normal(0, 10), lo_day), hi_day)
                gts = shop_time(r_guest, gt, end)
                gspend = r_guest.gamma(gg_p, 1 / r_guest.gamma(3.5, 1 / 100.0))
                gc = (
                    "United Kingdom"
                    if r_guest.random() < 0.9
                    else str(r_guest.choice(list(COUNTRIES)[1:]))
                )
                invoices.append((gts, "", gc, maker.lines(r_guest, gspend), None))
        truth.append(
            dict(
                customer_id=cid,
                country=countries[i],
                first_purchase=START + pd.Timedelta(days=t0[i]),
                lam_per_day=lam[i],
                p_drop=p_drop[i],
                mean_spend=gg_p / nu[i],
                drift=bool(drift_flag[i]),
                alive_at_end=alive,
                death_at=(START + pd.Timedelta(days=death)) if not alive else pd.NaT,
                n_purchases=len(times),
            )
        )

    # invoice numbers: one sequence over time, cancellations "C" + number
    order = sorted(range(len(invoices)), key=lambda k: (invoices[k][0], invoices[k][1], k))
    number = {k: FIRST_INVOICE + n for n, k in enumerate(order)}
    rows = []
    for k in order:
        ts, cid, country, lines, cancel_of = invoices[k]
        inv = ("C" if cancel_of is not None else "") + str(number[k])
        stamp = ts.strftime("%Y-%m-%d %H:%M:00")
        for row, q in lines:
            rows.append(
                (
                    inv,
                    cat.at[row, "StockCode"],
                    cat.at[row, "Description"],
                    q,
                    stamp,
                    cat.at[row, "Price"],
                    cid,
                    country,
                )
            )
    df = pd.DataFrame(
        rows,
        columns=[
            "Invoice",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "Price",
            "Customer ID",
            "Country",
        ],
    )
    return df, pd.DataFrame(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument(
        "--variant",
        choices=["plain", "drift", "seasonal", "seasonal-acquisition"],
        default="plain",
    )
    ap.add_argument("--years", type=int, default=2, help="years of trading from 2023-01-01")
    ap.add_argument("--out", type=Path, help="the CSV to write")
    ap.add_argument("--print-map", action="store_true", help="print ingest's --map and stop")
    a = ap.parse_args()
    if a.print_map:
        print(INGEST_MAP)
        return
    if a.out is None:
        ap.error("--out is required")
    out = a.out
    df, truth = simulate(
        a.seed,
        a.customers,
        a.variant == "drift",
        a.variant == "seasonal",
        a.years,
        seasonal_acquisition=a.variant == "seasonal-acquisition",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, float_format="%.2f")
    truth.to_csv(out.with_name(out.stem + "_truth.csv"), index=False)
    inv = df["Invoice"].drop_duplicates()
    guest = df["Customer ID"].eq("")
    print(
        f"{out}: {len(df):,} lines, {inv.size:,} invoices "
        f"({inv.str.startswith('C').sum():,} cancellations), "
        f"{df.loc[~guest, 'Customer ID'].nunique():,} customers, guest lines {guest.sum():,} "
        f"({guest.mean():.1%}), revenue {(df['Quantity'] * df['Price']).sum():,.0f}"
    )


if __name__ == "__main__":
    main()
