"""Column mapping from a CRM export to the data contract.

A mapping says which source column feeds which contract column, e.g.
``customer_id=Customer ID,ordered_at=InvoiceDate,quantity=Quantity,unit_price=UnitPrice``.
A key may be qualified with the table (``events.occurred_at=Timestamp``); an unqualified key applies
to every table that has that contract column. Contract columns that are not mapped are looked up
under their own name.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.contract import CONTRACT, TABLES, TRANSACTIONS

#: Source columns the mapping may name besides contract columns (derived into contract columns).
DERIVED_INPUTS = {TRANSACTIONS: ("unit_price",)}


class IngestError(ValueError):
    """A source file cannot be used at all; the message names the file, column and expectation."""


class ColumnMapping(BaseModel):
    """Typed mapping config (from ``--map`` or a YAML file); unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(default_factory=dict)
    date_format: str | None = None

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, columns: dict[str, str]) -> dict[str, str]:
        for key in columns:
            table, _, column = key.rpartition(".")
            tables = [table] if table else list(TABLES)
            if table and table not in TABLES:
                raise ValueError(f"mapping key {key!r}: unknown table {table!r}; expected one of {TABLES}")
            known = {c for t in tables for c in _targets(t)}
            if column not in known:
                raise ValueError(
                    f"mapping key {key!r}: {column!r} is not a contract column; "
                    f"expected one of {sorted(known)}"
                )
        return columns

    def source_for(self, table: str, column: str) -> str | None:
        """The source column mapped to a contract column of a table, if any."""
        return self.columns.get(f"{table}.{column}", self.columns.get(column))


def _targets(table: str) -> list[str]:
    return [c.name for c in CONTRACT[table]] + list(DERIVED_INPUTS.get(table, ()))


def parse_map_option(text: str) -> dict[str, str]:
    """Parse ``"a=Source A,b=Source B"`` (source names may contain spaces)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise IngestError(
                f"--map: {item!r} is not of the form contract_column=Source Column"
            )
        pairs[key.strip()] = value.strip()
    return pairs


def load_mapping(map_option: str | None = None, map_file: Path | None = None,
                 date_format: str | None = None) -> ColumnMapping:
    """Build the mapping from a YAML file and/or a ``--map`` string (the string wins per key)."""
    raw: dict = {}
    if map_file is not None:
        try:
            raw = yaml.safe_load(Path(map_file).read_text()) or {}
        except FileNotFoundError as exc:
            raise IngestError(f"mapping file {map_file} does not exist") from exc
        if not isinstance(raw, dict):
            raise IngestError(f"mapping file {map_file}: expected a mapping with 'columns:'")
    columns = dict(raw.get("columns") or {})
    if map_option:
        columns.update(parse_map_option(map_option))
    raw = {**raw, "columns": columns}
    if date_format:
        raw["date_format"] = date_format
    try:
        return ColumnMapping.model_validate(raw)
    except ValueError as exc:
        where = f"mapping file {map_file}" if map_file else "--map"
        raise IngestError(f"{where}: {exc}") from exc
