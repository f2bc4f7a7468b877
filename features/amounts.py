"""Transaction amounts: read directly or as quantity x unit price, from cents, net of a refund
column; and the notes on what the accepted amounts say (zero and negative amounts, a unit price
or an order total repeated on each line read as the line's amount, orders on several days or of
several customers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import TRANSACTIONS
from features.currencies import check_currency, currency_column, kept_currency, yen_code
from features.header_names import fold_name
from features.ingest_tables import TableReport, Validator
from features.mapping import FileMapping, IngestError
from features.numbers import CURRENCIES, ZERO_DECIMAL_CURRENCIES, NumberFormat, parse_numbers
from features.order_status import order_field
from features.refunds import NO_REFUND, REFUNDED_AMOUNT, net_of_refunds
from features.source_columns import bare_name
from features.values import (
    MONEY_IN,
    REFUNDED_ORDER,
    STATUS_SYNONYMS,
    ValueMapping,
    map_values,
)

#: Share of accepted lines with a quantity other than 1 past which an ``amount`` column named
#: like a price (and not like a total) is probably a unit price.
PRICE_LIKE_QUANTITY_SHARE = 0.05
#: Words of a column name that holds no money although it has a money word ('Due Date'): whole
#: words ('id' is in 'Amount Paid').
NOT_MONEY_WORDS = ("date", "time", "quantity", "qty", "count", "id", "currency")
#: Zero amounts are worth a note from this share of the accepted rows.
ZERO_AMOUNT_SHARE = 0.005
LINE_TOTAL_WORDS = ("total", "line", "sum", "extended", "amount", "gross", "net")
#: A price column that holds the line's total by its platform's documentation, with a column
#: only that platform's reports have: Amazon's order reports' ``item-price`` is price x quantity.
LINE_TOTAL_PRICES = {"item-price": "amazon-order-id"}
#: Share of the accepted rows negative past which the amounts look like a statement's (a bank's
#: or card's: spend negative), worth naming ``amount_sign: negative_is_sale``.
STATEMENT_NEGATIVE_SHARE = 0.8
#: Share of the orders with a paid row past which orders paid on several days (a booking's
#: deposit and balance, instalments) are worth a note: each day counts as a purchase.
SEVERAL_DAYS_SHARE = 0.02


#: Share of the orders of several accepted lines past which an amount the same on each line of
#: an order whose lines differ otherwise is an order total repeated on its item lines.
REPEATED_TOTAL_SHARE = 0.5


def repeated_totals(
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    ok: np.ndarray,
    frame: pd.DataFrame,
    numbers: NumberFormat | None = None,
) -> str | None:
    """A note when ``amount`` looks like an order total written on each of its item lines
    (Shopee's ``Grand Total``, one row per item): most orders of several lines hold one amount
    on all their lines though another money or quantity column of the lines differs (the
    items' prices; a ticket export whose tickets all cost 25.00 differs in names alone), or
    adds up over the lines to that amount (a booking's ``Order Total`` on each passenger's row
    beside the passengers' fares, alike), all on one day (a payment plan's instalments fall on
    several). Every line counts, so such an order's revenue would be its total times its
    lines."""
    source = inputs.get("amount")
    if source is None or "order_id" not in out:
        return None
    orders = out["order_id"][ok]
    several = orders.notna() & orders.duplicated(keep=False)
    if not several.any():
        return None
    orders = orders[several]
    amounts = out["amount"][ok][several]
    same = amounts.groupby(orders).transform("nunique").eq(1)
    if "ordered_at" in out:  # lines on several days are instalments of a plan, not items
        days = out["ordered_at"][ok][several].dt.floor("D")
        same &= days.groupby(orders).transform("nunique").eq(1)
    money = [
        c
        for c in frame.columns
        if c != source.name and any(w in fold_name(str(c)) for w in (*MONEY_WORDS, *COUNT_WORDS))
    ]
    if not money:
        return None
    lines = frame.loc[ok][several.to_numpy()][money][same.to_numpy()]
    keys = orders[same].to_numpy()
    varying = lines.groupby(keys).nunique().gt(1).sum(axis=1)
    repeated = varying.index[varying >= 1]
    total = amounts[same].groupby(keys).first().abs()
    for column in money:  # the lines' own money adds up to the amount each line holds
        value = parse_numbers(lines[column].astype("string"), numbers)[0].abs()
        value.index = keys
        summed = value.groupby(level=0).sum(min_count=1)
        biggest = value.groupby(level=0).max()
        adds_up = np.isclose(summed, total.reindex(summed.index)) & (biggest < summed)
        repeated = repeated.union(summed.index[adds_up])
    n_orders = orders.nunique()
    if len(repeated) <= REPEATED_TOTAL_SHARE * n_orders:
        return None
    example = str(repeated[0])
    return (
        f"{len(repeated):,} of the {n_orders:,} orders of several lines hold the same amount on "
        f"every line though their lines differ (e.g. order {example!r}): {source.name!r} looks "
        "like the order's total repeated on each item line, and every line counts, so each "
        "such order's revenue is its total times its lines; map the line's own amount (amount= "
        "a line total, or quantity= and unit_price=) instead"
    )


#: Words of a column name that holds a count of items (a line's quantity).
COUNT_WORDS = (
    *("qty", "quantity", "menge", "quantité", "số lượng", "จำนวน", "jumlah"),
    *("数量", "數量", "수량"),  # Chinese (simplified, traditional) and Japanese; Korean
)
#: Words of a column name that holds money (another amount column a zero amount may be in).
MONEY_WORDS = (
    *("amount", "total", "due", "price", "value", "revenue", "betrag", "montant"),
    # Chinese (simplified, traditional: Shopline Taiwan's 商品價格, 訂單合計), Japanese, Korean
    *("金额", "金額", "价格", "價格", "価格", "合计", "合計", "금액", "가격", "합계"),
)


def amount_notes(
    inputs: dict[str, pd.Series], out: pd.DataFrame, ok: np.ndarray, columns: list
) -> list[str]:
    """What the accepted amounts say that a user should know: returns or cancellations kept as
    negative amounts, rows of amount 0 (no purchase: an unpaid invoice's 'amount paid'), and an
    ``amount`` that looks like a unit price beside quantities."""
    notes = []
    zero = ok & (out["amount"] == 0).fillna(False).to_numpy(bool)
    paid_day = _on_a_purchase_day(out, ok)  # of the negative rows below too
    if n := int((zero & paid_day).sum()):  # a sample or a free item on a paid order
        notes.append(
            f"{n:,} accepted rows of amount 0 are on days their customer paid for other rows "
            "(free samples, free-of-charge items, a bundle's lines): part of that day's purchase"
        )
    zero &= ~paid_day
    if (n := int(zero.sum())) and n >= ZERO_AMOUNT_SHARE * ok.sum():
        statuses = ""
        if "status" in inputs:
            top = pd.Series(inputs["status"].to_numpy()[zero], dtype="string").value_counts()
            top = top.head(3)
            statuses = " (status " + ", ".join(f"{s!r}: {c:,}" for s, c in top.items()) + ")"
        used = str(inputs["amount"].name) if "amount" in inputs else None
        others = [
            str(c)
            for c in columns
            if str(c) != used
            and any(w in fold_name(str(c)) for w in MONEY_WORDS)
            and not set(re.split(r"[\W_]+", fold_name(str(c)))) & set(NOT_MONEY_WORDS)
        ]
        where = f" (this file's other money columns: {others})" if others else ""
        notes.append(
            f"{n:,} accepted rows have an amount of 0{statuses}: a purchase counts only with an "
            "amount above 0, so they are no activity of their customers (right for a free "
            "trial's or a 100%-off coupon's $0 invoice: no money yet); if they are orders "
            "(an invoice issued and not paid yet), map the amount column that holds their "
            f"value{where}; if they are visits the customer did not pay for (a warranty repair, a "
            "free check-up), give the file as --events too (event_type: '=visit' in its files: "
            "section) so that they count as the customer's visits"
        )
    negative = ok & (out["amount"] < 0).to_numpy()
    discounts = negative & paid_day
    if n := int((negative & ~discounts).sum()):
        returns = negative & ~discounts
        example = f", e.g. order {out['order_id'][returns].iloc[0]!r}" if "order_id" in out else ""
        notes.append(
            f"{n:,} accepted rows have a negative amount (returns or cancellations{example}): "
            "kept as returns, they lower the customer's spend"
            + ("" if "status" in inputs else "; map a status column to quarantine cancelled orders")
            + (
                f"; {negative.sum() / ok.sum():.0%} of the accepted rows are negative: a bank's "
                "or card's statement (spend negative, money in positive)? set amount_sign: "
                "negative_is_sale in the map file to read the negative rows as sales and set the "
                "positive ones (deposits, transfers in) aside"
                if negative.sum() > STATEMENT_NEGATIVE_SHARE * ok.sum()
                else ""
            )
        )
    if n := int(discounts.sum()):
        notes.append(
            f"{n:,} accepted rows with a negative amount are on a day whose rows of the same "
            "customer sum above 0: read as part of that day's purchase (a discount line or a "
            "same-day cancellation: the day's value is net of them), not as returns"
        )
    source = inputs.get("amount")
    name = fold_name(str(source.name)) if source is not None else ""
    if (
        source is not None
        and "quantity" in inputs
        and "price" in name
        and not any(word in name for word in LINE_TOTAL_WORDS)
        and LINE_TOTAL_PRICES.get(str(source.name).strip().lower()) not in columns
    ):
        other = ok & (out["quantity"].notna() & (out["quantity"] != 1)).to_numpy()
        if ok.any() and other.sum() > PRICE_LIKE_QUANTITY_SHARE * ok.sum():
            notes.append(
                f"amount comes from {source.name!r} while {other.sum() / ok.sum():.0%} of the "
                f"rows have a quantity other than 1 ({inputs['quantity'].name!r}): if "
                f"{source.name!r} is a unit price, map unit_price={source.name} instead "
                "(amount = quantity x unit_price)"
            )
    if "order_id" in out:
        orders = _Orders.of(out["order_id"])
        if several_days := _orders_on_several_days(out, ok, orders):
            notes.append(several_days)
        if shared := _orders_of_several_customers(out, ok, orders):
            notes.append(shared)
    return notes


#: Values (bare) of a till's line that is a tip: the staff's money, no sale of the shop's.
TIP_VALUES = frozenset(
    {"tip", "tips", "gratuity", "gratuities", "trinkgeld", "pourboire", "小费", "小費", "チップ"}
)
#: Values (bare) of a gift card: a line selling one, or the tender a sale was paid with.
GIFT_CARD_VALUES = frozenset(
    {
        *("giftcard", "giftcards", "giftcertificate", "giftvoucher", "squaregiftcard"),
        *(
            "gutschein",
            "geschenkkarte",
            "cartecadeau",
            "礼品卡",
            "禮品卡",
            "储值卡",
            "ギフトカード",
        ),
    }
)
#: The most distinct values a column may hold to be read for tips and gift cards (a line's
#: type, item or tender); more is no category (ids, amounts, dates), and is not folded.
TILL_MAX_VALUES = 20_000
#: Column names (bare) of how a sale was paid (its tender).
TENDER_NAMES = frozenset(
    {"paymenttype", "paymentmethod", "tender", "tendertype", "paidby", "支付方式", "付款方式"}
)


def till_lines(
    inputs: dict[str, pd.Series], out: pd.DataFrame, ok: np.ndarray, frame: pd.DataFrame
) -> list[str]:
    """Notes on a till's lines an unread column tells apart, counted as sales: tips (the staff's
    money, a ``Tip`` line) and sales paid by gift card (the card's money was counted when it was
    sold: a ``Gift Card`` tender counts it again), each with the ``exclude:`` to give."""
    used = {s.name for s in inputs.values()}
    paid = ok & (out["amount"] > 0).fillna(False).to_numpy(bool)
    found: dict[str, tuple[str, np.ndarray]] = {}  # what -> (column, rows)
    for column in frame.columns:
        if column in used:
            continue
        cells = frame[column].astype("string")
        uniques = cells.dropna().unique()
        if not 0 < len(uniques) <= TILL_MAX_VALUES:  # blank, or no category (ids, amounts)
            continue
        bare = {str(v): bare_name(str(v)) for v in uniques}
        tender = bare_name(str(column)) in TENDER_NAMES
        for what, words in (("tip", TIP_VALUES), ("card", GIFT_CARD_VALUES)):
            key = f"{what} paid" if tender and what == "card" else what
            if not (hits := [v for v, b in bare.items() if b in words]):
                continue
            rows = paid & cells.isin(hits).fillna(False).to_numpy(bool)
            if rows.any() and key not in found:
                found[key] = (str(column), rows)
    notes = []
    if "tip" in found:
        column, rows = found["tip"]
        value = frame[column][rows].iloc[0]
        notes.append(
            f"{int(rows.sum()):,} accepted rows ({out['amount'][rows].sum():,.2f}) are tips "
            f"({value!r} in column {column!r}, not read): counted as their customers' spend, "
            "though a tip is the staff's, not a sale; set them aside in the map file: "
            f"exclude: {{{column}: [{value}]}}"
        )
    if "card paid" in found:
        column, rows = found["card paid"]
        value = frame[column][rows].iloc[0]
        sold = ""
        if "card" in found:
            sold_in, sold_rows = found["card"]
            card = frame[sold_in][sold_rows].iloc[0]
            sold = (
                f" ({int(sold_rows.sum()):,} rows of this file sell cards, "
                f"{out['amount'][sold_rows].sum():,.2f}: {card!r} in {sold_in!r}; to count the "
                f"money when a card is spent instead, exclude: {{{sold_in}: [{card}]}}, the "
                "buyer's purchase of a card then lost)"
            )
        notes.append(
            f"{int(rows.sum()):,} accepted rows ({out['amount'][rows].sum():,.2f}) were paid by "
            f"gift card ({value!r} in column {column!r}, not read): the card's money was counted "
            f"when the card was sold{sold}, and counts again as these sales; to count it once, "
            f"set the redemptions aside: exclude: {{{column}: [{value}]}} (the recipients' "
            "visits paid by card are then no purchases)"
        )
    return notes


@dataclass(frozen=True)
class _Orders:
    """Each row's order as a number (-1: no order id) and the order id of each number: group
    counts on numbers, not on Arrow strings (a group-by of a million string ids costs ~0.3 s
    each time it factorizes them; the notes' four did, and their cost grew faster than the rows)."""

    codes: np.ndarray
    ids: pd.Index

    @classmethod
    def of(cls, order_ids: pd.Series) -> _Orders:
        codes, ids = pd.factorize(order_ids)
        return cls(codes, pd.Index(ids))


def _group_numbers(values: pd.Series) -> np.ndarray:
    """Each row's value as a number, equal for equal values (-1: missing)."""
    return pd.factorize(values)[0]


def _distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs of two arrays of numbers from 0, sorted by ``first``, then ``second``
    (one sort of an int64 key)."""
    if not len(first):
        return first, second
    low = int(second.min())
    width = int(second.max()) - low + 1
    key = np.sort(first.astype("int64") * width + (second - low))
    key = key[np.r_[True, key[1:] != key[:-1]]]  # np.unique hashes: seconds on 1M rows
    return key // width, key % width + low


def _orders_spread(
    values: np.ndarray, orders: _Orders, rows: np.ndarray
) -> tuple[pd.Series, int] | None:
    """Of the ``rows`` (with an order id), the orders holding several distinct ``values``
    (:func:`_group_numbers`; -1 is no value) by order id, with their count of values, and the
    number of orders; None when fewer than 3 orders, or ``SEVERAL_DAYS_SHARE`` of them, do."""
    if not rows.any():
        return None
    order, value = orders.codes[rows], values[rows]
    n_orders = int(np.count_nonzero(np.bincount(order, minlength=len(orders.ids))))
    pairs = _distinct_pairs(order[value >= 0], value[value >= 0])
    counts = np.bincount(pairs[0], minlength=len(orders.ids))
    several = np.flatnonzero(counts > 1)
    if len(several) < max(3, SEVERAL_DAYS_SHARE * n_orders):
        return None
    by_id = pd.Series(counts[several], index=orders.ids[several]).sort_index()
    return by_id, n_orders


def _orders_of_several_customers(out: pd.DataFrame, ok: np.ndarray, orders: _Orders) -> str | None:
    """Orders whose accepted rows name several customers: an event export keyed by attendee (a
    friend's ticket credited to the friend, paid by the buyer)."""
    rows = ok & (orders.codes >= 0)
    customers = _group_numbers(out["customer_id"])
    if (spread := _orders_spread(customers, orders, rows)) is None:
        return None
    several, n_orders = spread
    example = str(several.index[0])
    named = rows & (orders.codes == orders.ids.get_loc(example))  # NA ids: no crash
    names = out["customer_id"][named].unique()[:3]
    return (
        f"{len(several):,} of the {n_orders:,} orders name several customers (e.g. order "
        f"{example!r}: {', '.join(repr(str(n)) for n in names)}): each is credited with its "
        "rows, as an event export keyed by attendee credits the buyer's payment to each guest; "
        "key the file by who paid (the buyer's e-mail or id) if one customer paid the order"
    )


def _orders_on_several_days(out: pd.DataFrame, ok: np.ndarray, orders: _Orders) -> str | None:
    """Orders whose accepted rows of a positive amount are on several days: a payments ledger's
    deposit and balance of one booking, or instalments, each read as a purchase day."""
    paid = ok & (out["amount"] > 0).fillna(False).to_numpy(bool) & (orders.codes >= 0)
    days = out["ordered_at"].dt.floor("D")
    renewed = _renewals(days, orders.codes, paid)
    if (spread := _orders_spread(_group_numbers(days), orders, paid & ~renewed)) is None:
        return None
    several, n_orders = spread
    example = str(several.index[0])
    renewals = int(np.count_nonzero(np.bincount(orders.codes[renewed], minlength=1)))
    apart = (
        f" (not counted: {renewals:,} orders paid on days a year apart, renewals under one "
        "order id, each term rightly a purchase)"
        if renewals
        else ""
    )
    return (
        f"{len(several):,} of the {n_orders:,} orders have paid rows on several days (e.g. "
        f"order {example!r} on {int(several.iloc[0])} days){apart}: each day counts as a "
        "purchase, so a booking paid as a deposit and a balance, or an order paid in "
        "instalments, is read as several purchases; if these rows are payments of one sale, give "
        "the export of the sales (one row per booking or order, dated when it was made) instead, "
        "or set order_day: first in the map file (each order's rows dated at its first: an "
        "insurer's payment of a visit's claim, a layaway's balance)"
    )


def first_day_of_orders(out: pd.DataFrame, ok: np.ndarray) -> str:
    """Dates every accepted row of an order at the order's first (``order_day: first``: the
    payments of one sale on later days are that sale, not purchases of their own), and returns
    the note for the manifest's formats. Rows without an order id keep their date; an order is
    its customer's (a number restarting each year or reused by another customer is another
    sale), and one paid about a year apart each time is renewed, each term a purchase."""
    orders = out["order_id"].where(ok)
    when = out["ordered_at"].where(ok)
    keys = [orders, out["customer_id"]] if "customer_id" in out else [orders]
    first = when.groupby(keys, dropna=True).transform("min")
    codes = _group_numbers(orders)
    renewed = _renewals(when.dt.floor("D"), codes, ok & (codes >= 0))
    moved = ok & ~renewed & orders.notna().to_numpy(bool)
    moved &= (first.notna() & (first.dt.normalize() != when.dt.normalize())).to_numpy(bool)
    out.loc[moved, "ordered_at"] = first[moved]
    return (
        f"{int(moved.sum()):,} rows of {orders[moved].nunique():,} orders dated at their order's "
        "first row (order_day: first)"
    )


#: Days from a whole number of years within which an order's paid days are its renewals.
RENEWAL_SLACK_DAYS = 35


def _renewals(days: pd.Series, orders: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """The ``paid`` rows of orders (:class:`_Orders` numbers) paid on several days each about a
    whole number of years after the one before (a policy number or a contract id kept across its
    yearly renewals: an insurer's bordereau, an annual licence): each term is a purchase, no
    instalment of one."""
    found = np.zeros(len(days), dtype=bool)
    dated = paid & days.notna().to_numpy(bool)
    if not dated.any():
        return found
    day = days.to_numpy(dtype="datetime64[D]")[dated].astype("int64")
    order, day = _distinct_pairs(orders[dated], day)  # by order, then day
    same = order[1:] == order[:-1]
    gap = (day[1:] - day[:-1])[same].astype("float64")
    years = np.round(gap / 365.25)
    yearly = (years >= 1) & (np.abs(gap - years * 365.25) <= RENEWAL_SLACK_DAYS)
    order = order[1:][same]
    renewed = np.zeros(int(orders.max()) + 1, dtype=bool)
    renewed[order] = True
    renewed[order[~yearly]] = False  # every gap of a renewed order is yearly
    found[paid] = renewed[orders[paid]]
    return found


def _on_a_purchase_day(out: pd.DataFrame, ok: np.ndarray) -> np.ndarray:
    """Rows on a day whose ``ok`` rows of the same customer sum above 0 (as the features read a
    negative row there: a discount line of that day's purchase, ``features.definitions``)."""
    if not {"customer_id", "ordered_at"} <= set(out.columns):
        return np.zeros(len(out), dtype=bool)
    customer = _group_numbers(out["customer_id"]).astype("int64") + 1  # 0: none
    day = _group_numbers(out["ordered_at"].dt.floor("D")) + 1
    amount = out["amount"].where(ok, 0.0)
    net = amount.groupby(customer * (int(day.max(initial=0)) + 1) + day).transform("sum")
    return (net > 0).fillna(False).to_numpy(dtype=bool)


#: Words of a column name of a loyalty programme's points (Smile.io's ``Points``, LoyaltyLion's
#: ``points``, a 会员积分 export's 积分变动): no money, refused as the amount.
POINTS_WORDS = ("points", "point", "pts", "punkte", "积分", "積分", "ポイント", "포인트")


def _points_column(name: str) -> bool:
    """A column named as points and not as money (``Points Value`` and 积分抵扣金额 are money)."""
    folded = fold_name(name)
    words = set(re.split(r"[\W_]+", folded))
    points = any(w in words if w.isascii() else w in folded for w in POINTS_WORDS)
    return points and not any(w in folded for w in MONEY_WORDS)


def parse_amount(
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    check: Validator,
    numbers: NumberFormat,
    mapping: FileMapping,
    report: TableReport,
) -> tuple[pd.Series, pd.Series]:
    """``amount`` directly, or ``quantity x unit_price`` when the mapping gives those instead; and
    the factor each row's amount was multiplied by, which its refund is too: the rate of
    ``currency_rates`` times 0.01 for a column in cents (1 where neither)."""
    texts = [inputs[c] for c in ("unit_price", "amount", "currency") if c in inputs]
    yen = yen_code(mapping, texts, report)
    if "unit_price" in inputs:
        unit = inputs["unit_price"]
        price, currency = parse_numbers(unit, numbers, yen)
        check.flag(unit.isna(), "missing unit_price")
        check.flag(unit.notna() & price.isna(), "unit_price is not a number")
        check.flag(out["quantity"].isna(), "missing quantity")
        amount = (out["quantity"] * price).round(6)
    else:
        source = inputs["amount"]
        if _points_column(str(source.name)):
            raise IngestError(
                f"{report.source_file}: amount is mapped to {source.name!r}, a loyalty "
                "programme's points, not money (points earned, redeemed and expired would be "
                "read as purchases and returns): give the orders with their amounts as "
                "--transactions, and the points export as --events (event_type=<its type "
                "column>: points earned on a purchase are set aside, redemptions and check-ins "
                "kept as the member's activity)"
            )
        amount, currency = parse_numbers(source, numbers, yen)
        check.flag(source.isna(), "missing amount")
        check.flag(source.notna() & amount.isna(), "amount is not a number")
    priced = inputs.get("unit_price", inputs.get("amount"))
    name = str(priced.name) if priced is not None else ""
    named = named_currency(name)
    if "currency" in inputs and named and mapping.source_for(TRANSACTIONS, "currency") is None:
        report.formats["currency"] = (
            f"{named} by the name of {name!r}; {str(inputs['currency'].name)!r} "
            "not read (another amount's currency: the local price beside a converted one; map "
            "currency=<column> with that amount instead)"
        )
        currency = currency.fillna(named)
    elif "currency" in inputs:
        column = order_field(inputs["currency"], out, blank_is_missing=True)
        currency = currency_column(column, currency, check, yen)
    told = kept_currency(mapping, {})  # the map file's currency: of the amounts unmarked
    amount, cents = _from_cents(
        inputs.get("unit_price", inputs.get("amount")),
        amount,
        currency if told is None else currency.fillna(told),
        report,
    )
    amount, rate = check_currency(currency, amount, check, mapping, report)
    if mapping.amount_sign == "negative_is_sale":
        amount = _spend_negative(amount, inputs, out, check, mapping, report)
    return amount, cents * rate.fillna(1.0)


def _spend_negative(
    amount: pd.Series,
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    check: Validator,
    mapping: FileMapping,
    report: TableReport,
) -> pd.Series:
    """A statement's amounts (``amount_sign: negative_is_sale``: a bank's or card's, spend
    negative, money in positive) read with a sale positive: negated. A row positive as written
    is money the customer received (a salary, a top-up, a transfer in): set aside as
    :data:`MONEY_IN`, unless its status reads as refunded or a credit note (a merchant's refund,
    then a return of that spend)."""
    money_in = (amount > 0).fillna(False).to_numpy(dtype=bool)
    refunds = np.zeros(len(amount), dtype=bool)
    if "status" in inputs:
        values = ValueMapping(
            mapping.values_for(TRANSACTIONS, "status"), builtin=True, synonyms=STATUS_SYNONYMS
        )
        mapped, _ = map_values(order_field(inputs["status"], out), values)
        refunds = mapped.isin(["refunded", "credit_note"]).fillna(False).to_numpy(dtype=bool)
        refunds = refunds & money_in
    kept_in = money_in & ~refunds  # said as written in the quarantine's amounts
    check.flag(kept_in, MONEY_IN)
    spend = int((amount < 0).sum())
    note = (
        f"amount_sign negative_is_sale: {spend:,} negative rows read as sales (spend), "
        f"{int(kept_in.sum()):,} positive ones set aside as money in"
    )
    if refunds.any():
        note += f", {int(refunds.sum()):,} positive refunds kept as returns"
    report.formats["amount"] = "; ".join(filter(None, [report.formats.get("amount"), note]))
    return amount.where(kept_in, -amount)


def named_currency(name: str) -> str | None:
    """The currency an amount column's name gives (``revenue_usd``, AppsFlyer's ``Event Revenue
    USD``, Firebase's ``event_value_in_usd``, ``Amount (EUR)``), if one."""
    words = re.split(r"[\W_]+", fold_name(name))
    codes = [w.upper() for w in words if len(w) == 3 and w.upper() in CURRENCIES.values()]
    return codes[0] if len(set(codes)) == 1 else None


def _from_cents(
    source: pd.Series | None, amount: pd.Series, currency: pd.Series, report: TableReport
) -> tuple[pd.Series, pd.Series]:
    """Amounts of a column named in cents (Recurly's ``total_in_cents``, an ``amount_cents``) in
    the currency's units: divided by 100, but for currencies without cents; said in the report.
    Also the factor each row was multiplied by (0.01 or 1: its refund is in the same unit)."""
    name = str(source.name) if source is not None else ""
    factor = pd.Series(1.0, index=amount.index)
    if "cents" not in re.split(r"[\W_]+", fold_name(name)):
        return amount, factor
    whole = currency.isin(ZERO_DECIMAL_CURRENCIES).fillna(False).to_numpy(bool)
    report.formats["amount"] = f"{name!r} read in cents: divided by 100" + (
        f" (not the {int(whole.sum()):,} rows in a currency without cents)" if whole.any() else ""
    )
    return amount.where(whole, (amount / 100).round(6)), factor.where(whole, 0.01)


def net_of_mapped_refunds(
    source: pd.Series,
    out: pd.DataFrame,
    check: Validator,
    numbers: NumberFormat,
    factor: pd.Series,
    report: TableReport,
) -> None:
    """The amounts less the mapped refunds (:mod:`features.refunds`); a sale refunded whole is no
    sale, a refund that is not a number quarantines its row. A refund is in its row's currency:
    converted at the rate its amount was (``currency_rates``), in cents where it was."""
    source = source.mask(source.str.strip().isin(NO_REFUND))  # a dash: nothing refunded
    refunded, _ = parse_numbers(source, numbers)
    check.flag(source.notna() & refunded.isna(), f"{REFUNDED_AMOUNT} is not a number")
    refunded = refunded.where(factor == 1.0, (refunded * factor).round(6))
    refunds = net_of_refunds(out["amount"], refunded, out.get("order_id"), check.ok)
    out["amount"] = refunds.amount
    check.no_sale(refunds.whole, REFUNDED_ORDER)
    if refunds.note:
        report.formats[REFUNDED_AMOUNT] = refunds.note


def lines_of_totals(amount: pd.Series, orders: pd.Series, check: Validator) -> np.ndarray:
    """Rows without an amount, quarantined only for a missing value, of an order whose total is
    on another row of the file: WooCommerce's line items (the order id alone), eBay's items of
    a multi-item order. The total is the one row of the order with an amount: an order with
    amounts on several rows has line amounts, and its row without one is missing its amount.
    (A group count, not ``isin`` of Arrow strings: 7.6 s on a million rows.)"""
    blank = amount.isna().to_numpy()
    if not blank.any():
        return blank
    priced = amount.notna().groupby(orders).transform("sum")  # NaN for a row without an order
    lines = blank & priced.eq(1).to_numpy()
    reasons = pd.Series(check.reason[lines], dtype="object").fillna("")
    lines[lines] = reasons.str.startswith("missing ").to_numpy()
    return lines
