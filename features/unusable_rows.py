"""Rows of a contract table that no feature can use, found before any command reads them.

``lifecycle ingest`` quarantines such rows; a contract written by other means (a Spark job of the
user's, a hand-made Parquet file) reaches the commands unchecked. Without this check a row with no
date or no known customer would be left out of every feature unseen, and an infinite amount would
stop scoring deep inside the value model. Each rule is one Ibis predicate, so DuckDB and Spark
count with the same code: one aggregate per table, and an anti-join for unknown customers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd

from features.contract import (
    CONTRACT,
    CUSTOMERS,
    EVENT_COUNT,
    EVENTS,
    TIME_COLUMN,
    TRANSACTIONS,
)


@dataclass(frozen=True)
class Unusable:
    """Rows of one table broken the same way: how many, why, and the first one found."""

    table: str
    reason: str
    rows: int
    example: str

    def described(self) -> str:
        return (
            f"{self.table}.parquet: {self.rows:,} row(s) with {self.reason} (e.g. {self.example})"
        )


def unusable_rows(
    customers: ir.Table, transactions: ir.Table, events: ir.Table | None
) -> list[Unusable]:
    """Every kind of unusable row in the contract tables, in table order; empty when all are usable.

    Rules: a missing ``customer_id``; a transaction or event whose customer is not in the customers
    table; a missing order or event time; a missing or not finite ``amount``; a missing
    ``event_type``; an infinite optional number (``quantity``, ``margin``, ``value``,
    ``event_count``; NaN there counts as missing, as ingest reads an empty cell); an
    ``event_count`` below 0 or with a fraction."""
    tables = {CUSTOMERS: customers, TRANSACTIONS: transactions}
    if events is not None:
        tables[EVENTS] = events
    found: list[Unusable] = []
    for name, table in tables.items():
        rules = _rules(name, table)
        if rules:
            counts = table.aggregate(
                **{f"r{i}": bad.cast("int64").sum() for i, (_, bad) in enumerate(rules)}
            ).to_pandas()
            for i, (reason, bad) in enumerate(rules):
                n = counts.iloc[0][f"r{i}"]
                if pd.notna(n) and int(n):
                    found.append(Unusable(name, reason, int(n), _example(table.filter(bad))))
        if name != CUSTOMERS:
            orphans = table.filter(table.customer_id.notnull()).anti_join(customers, "customer_id")
            n = int(orphans.count().to_pandas())
            if n:
                found.append(
                    Unusable(name, "a customer_id not in customers.parquet", n, _example(orphans))
                )
    return found


def _rules(name: str, table: ir.Table) -> list[tuple[str, ir.BooleanValue]]:
    """(reason, predicate of a bad row) for each rule that applies to the table's columns."""
    rules = [("no customer_id", table.customer_id.isnull())]
    if name != CUSTOMERS:
        time = TIME_COLUMN[name]
        rules.append((f"no {time}", table[time].isnull()))
    if name == EVENTS:
        rules.append(("no event_type", table.event_type.isnull()))
    for column in CONTRACT[name]:
        if column.dtype != "float" or column.name not in table.columns:
            continue
        value = table[column.name]
        if column.name == "amount":
            rules.append(("an amount that is missing or not a finite number", _not_finite(value)))
        elif value.type().is_floating():
            rules.append((f"an infinite {column.name}", _infinite(value)))
        if column.name == EVENT_COUNT:
            rules.append((f"an {EVENT_COUNT} below 0 or not a whole number", _not_a_count(value)))
    return rules


def _not_a_count(value: ir.NumericValue) -> ir.BooleanValue:
    """Below 0 or with a fraction (a duration or a mean mapped as a count); missing is 1."""
    if not value.type().is_floating():
        return (value < 0).fill_null(False)
    bad = (value < 0) | (value.floor() != value)
    return (bad & ~value.isnan() & ~_infinite(value)).fill_null(False)


def _not_finite(value: ir.NumericValue) -> ir.BooleanValue:
    """Missing, NaN or infinite (an integer or decimal column can only be missing)."""
    if not value.type().is_floating():
        return value.isnull()
    return value.isnull() | value.isnan().fill_null(True) | _infinite(value)


def _infinite(value: ir.NumericValue) -> ir.BooleanValue:
    """+-inf, by comparison with the largest double: Ibis 12 compiles ``isinf`` to FALSE on Spark,
    and DuckDB orders NaN above every number, so NaN is excluded."""
    beyond = value.abs() > sys.float_info.max
    return (beyond & ~value.isnan()).fill_null(False)


def _example(rows: ir.Table) -> str:
    """The first such row in words: its contract columns, as a user would look it up."""
    first = rows.limit(1).to_pandas()
    if first.empty:
        return "none left to show"
    floats = {c for c, t in rows.schema().items() if t.is_floating()}
    return ", ".join(f"{k}={_shown(v, k in floats)}" for k, v in first.iloc[0].items())


def _shown(value: object, number: bool) -> str:
    """A cell as written in an error line: strings quoted, a number as it is (nan for a missing
    one, inf), any other missing value (pandas' NaN for a null string, NaT) as null."""
    if number and isinstance(value, float):
        return str(value)
    if value is None or pd.isna(value):
        return "null"
    return repr(value) if isinstance(value, str) else str(value)
