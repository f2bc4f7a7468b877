"""Several export files of one table, read as one: monthly files, overlapping "last 30 days"
exports, a corrected re-export.

Each file is validated on its own (its own encoding, separator, number and date formats); then
the files are put together in the order given, later files being newer exports:

- an order (``order_id``) found in a later file is that file's lines only: a re-export corrects
  an order, and overlapping exports repeat it (invoice lines share an order id, so lines are
  never matched one by one);
- a row without an order id (and every event) that repeats a row of an earlier file, value for
  value, is the same row exported twice: a later file keeps only the copies beyond the most any
  earlier file had (a file's own repeats can be real second purchases, as ingest keeps them);
- a customer found in a later file is that file's record (the newest export of the customer).

Rows a later file replaces are quarantined with the reason, never dropped unseen.
"""

from __future__ import annotations

import glob
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import CUSTOMERS, TRANSACTIONS, contract_columns
from features.mapping import IngestError
from features.values import REFUNDED_ORDER

ORDER_IN_LATER_FILE = "order_id in a later file (its lines there replace these)"
ROW_IN_EARLIER_FILE = "same row in an earlier file (overlapping exports)"
CUSTOMER_IN_LATER_FILE = "customer_id in a later file (its record there replaces this one)"
VOIDED_IN_EARLIER_FILE = (
    "order an earlier file refunded or cancelled (this file has no status column to undo it)"
)
ORDER_OF_ANOTHER_FILE = "order of another file, which this row names (the same sale)"
#: The reasons of this module: rows a later file replaces are not errors of the export, so they
#: do not count against ``--min-accepted-share``.
REASONS = (
    ORDER_IN_LATER_FILE,
    ROW_IN_EARLIER_FILE,
    CUSTOMER_IN_LATER_FILE,
    VOIDED_IN_EARLIER_FILE,
    ORDER_OF_ANOTHER_FILE,
)
_GLOB = set("*?[")


def expand_files(values: Sequence[str | Path], option: str) -> list[Path]:
    """The files an option names, in the order given; a quoted pattern (``'orders_*.csv'``) is
    its files in name order. A pattern that matches nothing is an :class:`IngestError`."""
    files: list[Path] = []
    for value in values:
        text = str(value)
        if _GLOB & set(text) and not Path(text).exists():
            found = sorted(glob.glob(text), key=_natural)
            if not found:
                raise IngestError(f"{option} {text}: the pattern matches no file")
            files += [Path(f) for f in found]
        else:
            files.append(Path(text))
    return files


def _natural(name: str) -> list:
    """A file name's sort key with its numbers as numbers: ``orders_2025-9`` before ``-10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def order_warnings(
    table: str,
    parts: Sequence[pd.DataFrame],
    names: Sequence[str],
    cancelled: Sequence[frozenset[str]] | None = None,
    unread: Sequence[Mapping[str, str]] | None = None,
) -> list[str]:
    """What the files' contents say against the rules: a file whose rows end before an earlier
    file's (given newest first? a later file's orders replace an earlier one's), files that
    disagree on having order ids (rows with and without one are never matched, so the overlap of
    such files would count twice), and orders an overlapping later file no longer lists, or lists
    only in rows it quarantined (``unread``: per file, order id -> the reason of its rows there,
    for orders none of whose rows there was accepted)."""
    said = []
    time = {"customers": None, "transactions": "ordered_at", "events": "occurred_at"}[table]
    ends = [p[time].max() if time and len(p) else pd.NaT for p in parts]
    for before, after, name, earlier in zip(ends, ends[1:], names[1:], names, strict=False):
        if pd.notna(before) and pd.notna(after) and after < before:
            said.append(
                f"{name} ends {after:%Y-%m-%d}, before {earlier} ({before:%Y-%m-%d}) given ahead "
                "of it: files are read oldest first, a later file's rows replacing an earlier "
                "one's; give them in the order they were exported"
            )
    if table == TRANSACTIONS:
        has = ["order_id" in p and bool(p["order_id"].notna().any()) for p in parts if len(p)]
        if any(has) and not all(has):
            said.append(
                "some files have order ids and some do not: rows are matched across files by "
                "order id, or value for value without one, so an order in a file of each kind "
                "counts twice; export every period with the order id column"
            )
        elif all(has) and (missing := _missing_from_later(parts, cancelled, unread)):
            (orders, amount), (held, held_amount, reasons) = missing
            if orders:
                said.append(
                    f"{orders:,} orders of earlier files (amount {amount:,.2f}) are dated within "
                    "the days a later file covers but are not in it: deleted or voided in the CRM "
                    "since? they are kept; export with a status column (cancelled orders are "
                    "quarantined) or remove them"
                )
            if held:
                why = ", ".join(f"{r}: {n:,}" for r, n in reasons.most_common())
                said.append(
                    f"{held:,} orders of earlier files (amount {held_amount:,.2f}) are in a later "
                    f"file only in rows it quarantined ({why}): the earlier file's rows are kept; "
                    "the later file's are in the quarantine with their line"
                )
    return said


#: Share of the earlier files' orders dated within a later file's days that it lists, under which
#: the later file is an export of changes (Rezdy's or a report's "created or modified this
#: month": a booking whose balance was paid this month, made months ago), whose absences say
#: nothing, rather than an overlapping export of all orders of its days.
LISTED_SHARE = 0.5


def _missing_from_later(
    parts: Sequence[pd.DataFrame],
    cancelled: Sequence[frozenset[str]] | None = None,
    unread: Sequence[Mapping[str, str]] | None = None,
) -> tuple[tuple[int, float], tuple[int, float, Counter[str]]] | None:
    """Orders whose kept lines (those of the last file listing them) are dated between a later
    file's first and last order: an overlapping export that no longer lists them (orders,
    amount), and of those the ones a later file lists only in quarantined rows (orders, amount,
    their reasons there). A later file listing under ``LISTED_SHARE`` of the earlier files'
    orders of its days is an export of changes, and names none. An order a later file cancels
    (``cancelled``: per file, the ids it quarantined as no sale) is listed there. One pass per
    file over the orders dated within its days (52 weekly files of 1M rows: seconds, not the
    hours comparing every pair of files with ``isin`` took)."""
    frames = [
        p.loc[p["order_id"].notna(), ["order_id", "ordered_at", "amount"]].assign(_part=i)
        for i, p in enumerate(parts)
        if len(p)
    ]
    if len(frames) < 2:
        return None
    frame = pd.concat(frames, ignore_index=True)
    codes, uniques = pd.factorize(frame["order_id"])
    part = frame["_part"].to_numpy()
    last = np.full(len(uniques), -1)
    np.maximum.at(last, codes, part)
    index = pd.Index(uniques)
    for i, ids in enumerate(cancelled or ()):
        found = index.get_indexer(list(ids)) if ids else np.array([], dtype=int)
        found = found[found >= 0]
        last[found] = np.maximum(last[found], i)
    first = np.full(len(uniques), len(parts))
    np.minimum.at(first, codes, part)
    kept = np.flatnonzero(part == last[codes])  # the lines that stay revenue
    when = frame["ordered_at"].to_numpy()[kept]
    order = np.argsort(when, kind="stable")
    when, kept = when[order], kept[order]
    row_last = last[codes[kept]]
    gone = np.zeros(len(kept), dtype=bool)
    for i, p in enumerate(parts):
        if not len(p) or i == 0:
            continue
        lo, hi = p["ordered_at"].min(), p["ordered_at"].max()
        if pd.isna(lo):
            continue
        a = np.searchsorted(when, lo.to_datetime64(), "left")
        b = np.searchsorted(when, hi.to_datetime64(), "right")
        window = codes[kept[a:b]]
        earlier = np.unique(window[first[window] < i])
        here = np.zeros(len(uniques), dtype=bool)
        here[codes[part == i]] = True
        if cancelled and i < len(cancelled) and cancelled[i]:
            found = index.get_indexer(list(cancelled[i]))
            here[found[found >= 0]] = True
        if len(earlier) and here[earlier].mean() < LISTED_SHARE:
            continue  # an export of the orders created or changed in its period, not all of them
        gone[a:b] |= row_last[a:b] < i
    if not gone.any():
        return None
    flagged = np.zeros(len(uniques), dtype=bool)
    flagged[codes[kept[gone]]] = True
    held = np.zeros(len(uniques), dtype=bool)  # listed later, in quarantined rows only
    reasons: Counter[str] = Counter()
    for i, listed in enumerate(unread or ()):
        if not listed:
            continue
        at = index.get_indexer(list(listed))
        for order_id, position in zip(listed, at, strict=True):
            if position >= 0 and flagged[position] and last[position] < i and not held[position]:
                held[position] = True
                reasons[listed[order_id]] += 1
    amounts = frame["amount"].to_numpy()
    missing = flagged & ~held
    sums = [float(amounts[kept[m[codes[kept]]]].sum()) for m in (missing, held)]
    return (int(missing.sum()), sums[0]), (int(held.sum()), sums[1], reasons)


def voided_before(
    parts: Sequence[pd.DataFrame], voided: Sequence[frozenset[str] | None]
) -> list[frozenset[str]]:
    """Per file without a status column (``voided`` None: an analytics feed's orders), the order
    ids whose last word among the earlier files with one (``voided``: the ids each quarantined
    as cancelled or refunded whole) is refunded or cancelled; empty for a file with a status
    column, whose word stands (a re-export may reinstate an order)."""
    said: set[str] = set()
    found = []
    for part, ids in zip(parts, voided, strict=True):
        if ids is None:
            found.append(frozenset(said))
            continue
        found.append(frozenset())
        if "order_id" in part:
            said -= set(part["order_id"].dropna())
        said |= ids
    return found


#: Files of one ``files:`` section (one tool's exports) share at least this many order ids before
#: they are told to number orders each on its own: a re-export corrects a customer now and then.
NUMBERING_MIN_SHARED = 10


def order_numberings(
    parts: Sequence[pd.DataFrame], names: Sequence[str], sections: Sequence[str | None]
) -> tuple[list[str] | None, str | None]:
    """Per file, the numbering its order ids belong to, and a warning saying why; (None, None)
    when all files share one. Two files whose shared order ids mostly name other customers on
    other days number their orders each their own way: a web shop's order numbers and eBay's
    sales record numbers, both from 1001 (two ``files:`` sections), a dealer group's repair
    orders exported per store (one section; from :data:`NUMBERING_MIN_SHARED` shared ids).
    Files that share agreeing ids are one numbering, and so are the other files of a section
    unless that would join two numberings told apart."""
    firsts = [
        p.loc[p["order_id"].notna(), ["order_id", "customer_id", "ordered_at"]]
        .drop_duplicates("order_id")
        .assign(_part=i, _day=lambda f: f["ordered_at"].dt.floor("D"))
        for i, p in enumerate(parts)
        if "order_id" in p and len(p)
    ]
    if len(firsts) < 2:
        return None, None
    listed = pd.concat(firsts, ignore_index=True)
    both = listed.merge(listed, on="order_id", suffixes=("_a", "_b"))
    both = both[both["_part_a"] < both["_part_b"]]
    both = both.assign(
        other=(both["customer_id_a"] != both["customer_id_b"]) & (both["_day_a"] != both["_day_b"])
    )
    apart, agree = [], []
    for (a, b), pair in both.groupby(["_part_a", "_part_b"], sort=True):
        n, other = len(pair), int(pair["other"].sum())
        least = 1 if sections[a] != sections[b] else NUMBERING_MIN_SHARED
        if n >= least and 2 * other > n:
            apart.append((int(a), int(b), n, pair.loc[pair["other"]].iloc[0]))
        else:
            agree.append((int(a), int(b)))
    if not apart:
        return None, None
    group = list(range(len(parts)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    def join(a: int, b: int) -> None:
        one, two = root(a), root(b)
        if one != two and not any({root(x), root(y)} == {one, two} for x, y, *_ in apart):
            group[two] = one

    same_section = [
        (a, b) for b in range(len(parts)) for a in range(b) if sections[a] == sections[b]
    ]
    for a, b in agree + same_section:
        join(a, b)
    a, b, n, example = max(apart, key=lambda p: p[2])
    where = "a file of another files: section" if sections[a] != sections[b] else "another file"
    said = (
        f"{n:,} order ids of {names[a]} are in {names[b]} too, {where}, but name other customers "
        f"on other days (e.g. {example['order_id']!r}: {example['customer_id_a']!r} on "
        f"{example['ordered_at_a']:%Y-%m-%d} in {names[a]}, {example['customer_id_b']!r} on "
        f"{example['ordered_at_b']:%Y-%m-%d} in {names[b]}): each numbers its own orders (two "
        "tools, or one export per store or company), so they are kept as different orders"
    )
    if len(apart) > 1:
        said += f"; so are {len(apart) - 1:,} other pairs of files"
    return [str(root(i)) for i in range(len(parts))], said


def _numbered(
    numberings: Sequence[str],
    parts: Sequence[pd.DataFrame],
    *ids: Sequence[frozenset[str] | None] | None,
) -> tuple:
    """``parts`` and the per-file order id sets ``ids`` with each order id keyed by its file's
    numbering (:func:`order_numberings`): ids of different numberings are different orders."""

    def key(order_ids, numbering):
        if order_ids is None:
            return None
        if isinstance(order_ids, pd.Series):
            return f"{numbering}\x1f" + order_ids.astype("string")
        return frozenset(f"{numbering}\x1f{i}" for i in order_ids)

    keyed = [
        p.assign(order_id=key(p["order_id"], n)) if "order_id" in p else p
        for p, n in zip(parts, numberings, strict=True)
    ]
    return keyed, *(
        [key(i, n) for i, n in zip(sets, numberings, strict=True)] if sets else sets for sets in ids
    )


def replaced_by_later_files(
    table: str,
    parts: Sequence[pd.DataFrame],
    cancelled: Sequence[frozenset[str]] | None = None,
    refunds: Sequence[frozenset[str]] | None = None,
    voided: Sequence[frozenset[str] | None] | None = None,
    numberings: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """For each file's accepted contract rows (in the order given), the reason each row is replaced
    by another file (None for a row kept). ``cancelled``: per file, the order ids it quarantined
    as cancelled; an earlier file's lines of such an order are replaced too (a re-export that
    cancels an order must not leave its earlier lines as revenue). ``refunds``: per file, the
    order ids it holds only refund rows of; where an earlier file has such an order, its lines
    there are replaced as usual and the refund rows go too (the sale was refunded: neither
    counts; the refund alone would leave the order at minus its amount). ``voided``: per file,
    the order ids it quarantined as cancelled or refunded whole, None for a file without a status
    column; such a file's lines of an order an earlier file voided do not bring it back
    (:func:`voided_before`). ``numberings``: per file, its order ids' numbering
    (:func:`order_numberings`); ids of different numberings are different orders."""
    if numberings is not None and table == TRANSACTIONS:
        parts, cancelled, refunds, voided = _numbered(numberings, parts, cancelled, refunds, voided)
    frame = pd.concat(
        [p.assign(_part=i, _row=np.arange(len(p))) for i, p in enumerate(parts)],
        ignore_index=True,
    )
    reason = np.full(len(frame), None, dtype=object)
    if table == CUSTOMERS:
        later = frame.groupby("customer_id")["_part"].transform("max")
        reason[(frame["_part"] < later).to_numpy()] = CUSTOMER_IN_LATER_FILE
    else:
        identified = np.zeros(len(frame), dtype=bool)
        if table == TRANSACTIONS and "order_id" in frame:
            identified = frame["order_id"].notna().to_numpy()
            ordered = frame.loc[identified]
            later = ordered.groupby("order_id")["_part"].transform("max")
            for i, ids in enumerate(cancelled or ()):
                if ids:
                    later = later.where(~ordered["order_id"].isin(ids), np.maximum(later, i))
            replaced = np.flatnonzero(identified)[(ordered["_part"] < later).to_numpy()]
            reason[replaced] = ORDER_IN_LATER_FILE
            for i, ids in enumerate(refunds or ()):
                earlier = set(ordered.loc[ordered["_part"] < i, "order_id"])
                refunding = ordered["order_id"].isin(ids & earlier) & (ordered["_part"] == i)
                reason[np.flatnonzero(identified)[refunding.to_numpy()]] = REFUNDED_ORDER
            for i, ids in enumerate(voided_before(parts, voided) if voided else ()):
                gone = ordered["order_id"].isin(ids) & (ordered["_part"] == i)
                at = np.flatnonzero(identified)[gone.to_numpy()]
                reason[at[pd.isna(reason[at])]] = VOIDED_IN_EARLIER_FILE
        reason[np.flatnonzero(~identified)[_repeats(frame.loc[~identified], table)]] = (
            ROW_IN_EARLIER_FILE
        )
    return [reason[(frame["_part"] == i).to_numpy()] for i in range(len(parts))]


def _repeats(frame: pd.DataFrame, table: str) -> np.ndarray:
    """Rows repeating an earlier file's row value for value, beyond that file's own count."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    values = [c for c in contract_columns(table) if c in frame]
    key = pd.util.hash_pandas_object(frame[values], index=False).to_numpy()
    rows = pd.DataFrame({"key": key, "part": frame["_part"].to_numpy()})
    rows["copy"] = rows.groupby(["key", "part"]).cumcount()
    per_file = rows.groupby(["key", "part"]).size().rename("n").reset_index()
    per_file = per_file.sort_values(["key", "part"])
    per_file["before"] = (
        per_file.groupby("key")["n"].cummax().groupby(per_file["key"]).shift(1).fillna(0)
    )
    rows = rows.merge(per_file[["key", "part", "before"]], on=["key", "part"], how="left")
    return (rows["copy"] < rows["before"]).to_numpy()


def orders_of_two_tools(
    parts: Sequence[pd.DataFrame],
    names: Sequence[str],
    sections: Sequence[str | None],
    voided: Sequence[frozenset[str] | None],
    numberings: Sequence[str] | None = None,
) -> str | None:
    """A warning when files of different ``files:`` sections (exports of different tools: a
    shop's orders, an analytics feed's purchases) share order ids: a later file's lines of an
    order replace an earlier file's, so each such order is the later tool's (its amount, its
    lines); orders an earlier file voided stay out of a later file without a status column.
    Ids of different ``numberings`` (:func:`order_numberings`) are not shared."""
    if numberings is not None:
        parts, voided = _numbered(numberings, parts, voided)
    ids = [frozenset(p["order_id"].dropna()) if "order_id" in p else frozenset() for p in parts]
    ids = [i | (v or frozenset()) for i, v in zip(ids, voided, strict=True)]
    pairs = [
        (a, b, len(ids[a] & ids[b]))
        for b in range(len(parts))
        for a in range(b)
        if sections[a] != sections[b]
    ]
    pairs = [p for p in pairs if p[2]]
    if not pairs:
        return None
    a, b, n = max(pairs, key=lambda p: p[2])
    kept_out = sum(len(ids[i] & v) for i, v in enumerate(voided_before(parts, voided)))
    out = (
        f"; {kept_out:,} orders an earlier file refunded or cancelled stay out (quarantined in "
        "the later file, which has no status column)"
        if kept_out
        else ""
    )
    return (
        f"{n:,} order ids of {names[a]} are in {names[b]} too, a file of another files: section "
        f"(another tool's export?): a later file's lines of an order replace an earlier file's, "
        f"so these orders are {names[b]}'s (its amounts and lines){out}; if both files list the "
        "same orders, give only one of them (the shop's or CRM's, with its status and lines)"
    )


#: A column (bare name) naming another tool's order the row also is: a subscription app's charge
#: naming the shop order it wrote (Recharge's ``shopify_order_id``, ``Shopify Order Number``).
ORDER_REFERENCE = re.compile(r"[a-z]+order(?:id|number|no|name)")
#: ... unless it names an order the row is not (a refund's or a return's original order).
NOT_THE_SAME_ORDER = ("parent", "original", "refund", "return", "related", "previous")


def order_references(frame: pd.DataFrame, used: set[str]) -> dict[str, pd.Series]:
    """The unread columns of a transactions file naming another tool's order (by name), as order
    ids are compared across files (:func:`orders_named_elsewhere`)."""
    return {
        str(c): _order_key(frame[c])
        for c in frame.columns
        if str(c) not in used
        and ORDER_REFERENCE.fullmatch(b := re.sub(r"[\s_\-]+", "", str(c).casefold()))
        and not any(w in b for w in NOT_THE_SAME_ORDER)
    }


def _order_key(ids: pd.Series) -> pd.Series:
    """Order ids as another tool writes them: ``#1001`` (Shopify's Name) is ``1001``, and ``1001.0``
    (a number column) too."""
    key = ids.astype("string").str.strip().str.lstrip("#").str.replace(r"\.0$", "", regex=True)
    return key.replace("", pd.NA).reset_index(drop=True)


def orders_named_elsewhere(
    parts: Sequence[pd.DataFrame],
    refs: Sequence[Mapping[str, pd.Series]],
    names: Sequence[str],
    kept: Sequence[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], str | None]:
    """Per file, its sales (positive amounts) whose column of another tool's order
    (:func:`order_references`) names an order of another file on the same day (a day apart at
    most), of its customer or its amount: Recharge writes a Shopify order for each charge it
    takes, so its charges export beside the shop's orders holds each sale twice under different
    order ids. The other file's order is kept (its status, refunds and lines); the note says how
    many, and whose. Only an order that stays is named: of the rows ``kept`` (per file; all by
    default), not named itself (two files naming each other's orders keep each sale once)."""
    named = [np.zeros(len(p), dtype=bool) for p in parts]
    if not any(refs):  # no file names another tool's orders
        return named, None
    kept = [
        np.ones(len(p), dtype=bool) if kept is None else np.asarray(kept[i], dtype=bool)
        for i, p in enumerate(parts)
    ]
    keys = [_order_key(p["order_id"]) if "order_id" in p else None for p in parts]
    listed = [set() if k is None else set(k.dropna()) for k in keys]
    said = []
    for b, columns in enumerate(refs):
        for column, ref in columns.items():
            best = (0, -1, np.zeros(len(parts[b]), dtype=bool))
            values = set(ref.dropna())
            for a, (other, key) in enumerate(zip(parts, keys, strict=True)):
                if a == b or key is None or "ordered_at" not in other:
                    continue
                live = kept[a] & ~named[a]
                if values.isdisjoint(listed[a]):  # none of its orders named
                    continue
                if (orders := _orders(other.loc[live], key[live])).empty:  # none left
                    continue
                mine = parts[b]
                gap = (mine["ordered_at"].dt.normalize() - ref.map(orders["day"])).abs()
                same = (gap <= pd.Timedelta(days=1)) & (mine["amount"] > 0)
                # its customer's order, or of its amount (a cent apart at most): a charge and
                # the shop order it wrote are one sale; a buyer's purchase order number that is
                # the number of a shop order of that day (Sage's Customer Order No) is not
                buyer = mine["customer_id"].astype("string").eq(ref.map(orders["buyer"]))
                total = (mine["amount"] - ref.map(orders["total"])).abs().le(0.005)
                same &= buyer.fillna(False) | total.fillna(False)
                same = same.fillna(False).to_numpy(dtype=bool) & ~named[b] & kept[b]
                if same.sum() > best[0]:
                    best = (int(same.sum()), a, same)
            n, a, same = best
            if n:
                named[b] |= same
                amount = float(parts[b]["amount"][same].sum())
                said.append(
                    f"{n:,} rows of {names[b]} name in {column!r} an order of {names[a]} of the "
                    f"same day (a subscription app's charges beside the shop's orders: each "
                    f"charge is a shop order too): set aside as '{ORDER_OF_ANOTHER_FILE}' "
                    f"({amount:,.2f}), each sale counted once, as {names[a]}'s"
                )
    return named, "; ".join(said) or None


def _orders(rows: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """Per order (``key``: :func:`_order_key` of the rows' order ids) its day, customer and
    total."""
    return (
        pd.DataFrame(
            {
                "day": rows["ordered_at"].dt.normalize().to_numpy(),
                "buyer": rows["customer_id"].astype("string").array,
                "total": rows["amount"].to_numpy(),
            }
        )
        .groupby(key.reset_index(drop=True))
        .agg(day=("day", "first"), buyer=("buyer", "first"), total=("total", "sum"))
    )
