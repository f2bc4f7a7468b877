"""Mapping from a CRM export to the data contract: columns, values and the file's formats.

A mapping says which source column feeds which contract column, e.g.
``customer_id=Customer ID,ordered_at=InvoiceDate,quantity=Quantity,unit_price=UnitPrice``
(a source name holding a comma is quoted: ``amount="Umsatz (EUR, netto)"``).
A key may be qualified with the table (``events.occurred_at=Timestamp``); an unqualified key applies
to every table that has that contract column; a campaigns export's are qualified (``campaigns.arm:
Group``, most often in that export's ``files:`` section). Contract columns that are not mapped are
looked up under their own name. A map file (YAML) may also hold ``values:`` (source value ->
contract value per column, e.g. ``event_type: {"Support Ticket": support_ticket}``) and the file
formats (``encoding``, ``sep``, ``sheet``, ``decimal``, ``thousands``, ``date_format``,
``date_order``, ``timezone``, ``currency``, ``amount_sign``; ``survey_scale``, the scale of its
survey scores), ``currency_rates:`` (other currencies converted at a fixed rate) and ``exclude:``
(rows set aside by a source column's value); command-line options win over the file.

A map file's ``files:`` section holds the mapping of particular files (a name or a pattern of
names), for a table fed by several tools whose exports name their columns differently (a
newsletter's opens and a help desk's tickets as events): what a file's section says of a column,
its values or a format wins over the rest of the map file and the options for that file.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from features.campaign_table import CAMPAIGNS, COLUMN_NAMES
from features.contract import CONTRACT, CUSTOMERS, EVENT_TYPES, EVENTS, TABLES, TRANSACTIONS
from features.customer_emails import CUSTOMER_EMAIL
from features.customer_ids import CUSTOMER_ALIAS, MERGED_INTO
from features.customer_status import CUSTOMER_STATUS, CUSTOMER_STATUSES
from features.refunds import REFUNDED_AMOUNT, REFUNDED_AT
from features.terms import TERM_DAYS, TERM_MONTHS
from features.values import ENDED, IGNORE, ORDER_STATUSES, SURVEY_SCALES, UNSUBSCRIBE
from features.yaml_files import load_yaml

#: Source columns the mapping may name besides contract columns (derived into contract columns).
#: ``status``: an order status; rows whose status means cancelled are quarantined, never revenue.
#: ``currency``: the currency of each row's amount (a code or sign, e.g. Shopify's ``Currency``).
#: ``refunded_amount``: money given back of each sale (:mod:`features.refunds`).
#: ``refunded_at``: the date a sale was refunded whole, blank if not (:mod:`features.refunds`).
#: ``customer_email``: an e-mail address customers are matched by (:mod:`features.customer_emails`).
#: ``term_months``: the months a payment covers, read as ``covers_until`` (:mod:`features.terms`).
#: ``customer_status``: a customer's status, which says whether ``ended_at`` is an end
#: (:mod:`features.customer_status`).
#: ``ticket_rating``, ``ticket_rated_at``: a help desk's rating of a ticket and its time, read as
#: a survey event besides the ticket (empty: not read; :mod:`features.ticket_ratings`).
DERIVED_INPUTS = {
    CUSTOMERS: (CUSTOMER_EMAIL, CUSTOMER_ALIAS, MERGED_INTO, CUSTOMER_STATUS),
    TRANSACTIONS: (
        "unit_price",
        "status",
        "currency",
        REFUNDED_AMOUNT,
        REFUNDED_AT,
        CUSTOMER_EMAIL,
        TERM_MONTHS,
        TERM_DAYS,
    ),
    EVENTS: (CUSTOMER_EMAIL, "ticket_rating", "ticket_rated_at"),
}
#: Text columns whose values a map file may translate (``event_type`` and ``status`` have
#: built-ins).
VALUE_COLUMNS = {
    "event_type",
    "status",
    CUSTOMER_STATUS,
    "region",
    "channel",
    "segment",
    "category",
    "arm",  # campaigns: a tool's names of its arms (Braze's EnrollInControl)
}
#: Format keys a map file may hold; the CLI options of the same name override them.
FORMAT_KEYS = (
    "date_format",
    "date_order",
    "timezone",
    "decimal",
    "thousands",
    "encoding",
    "sep",
    "sheet",
    "currency",
    "amount_sign",
    "order_day",
    "survey_scale",
)


def _as_text(value: object) -> object:
    """A YAML scalar as the text a cell holds (``True`` -> ``'true'``, ``3`` -> ``'3'``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


class IngestError(ValueError):
    """A source file cannot be used at all; the message names the file, column and expectation."""


class FileMapping(BaseModel):
    """Typed mapping config (from ``--map`` or a YAML file's top level or one of its ``files:``
    sections); unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    date_format: str | None = None
    date_order: Literal["dmy", "mdy"] | None = None
    timezone: str | None = None
    decimal: Literal[".", ","] | None = None
    thousands: str | None = None
    encoding: str | None = None
    sep: str | None = None
    sheet: str | None = None  # a workbook's sheet to read (default: the first with anything)
    currency: str | None = None
    #: Which sign of ``amount`` is a sale. ``positive_is_sale`` (the default): a negative amount
    #: is a return. ``negative_is_sale``: a bank's or card's statement, spend negative and money in
    #: positive: amounts are negated, the rows positive as written (deposits, incoming transfers)
    #: set aside as :data:`features.values.MONEY_IN`, unless a status marks them refunds (kept
    #: as returns, :mod:`features.amounts`).
    amount_sign: Literal["positive_is_sale", "negative_is_sale"] | None = None
    #: The day of an order's rows. ``each_row`` (the default): each row's own date, so an order
    #: paid on several days is several purchases. ``first``: every accepted row of an order is
    #: dated at its first (a dental claim's insurer payment weeks after the visit's copay, a
    #: layaway's balance after its deposit: one purchase, on the day of the sale;
    #: :func:`features.amounts.first_day_of_orders`).
    order_day: Literal["each_row", "first"] | None = None
    #: The scale of the file's survey scores (``0-10`` an NPS, ``1-5`` a CSAT, ``0-100``: one of
    #: :data:`features.values.SURVEY_SCALES`), put on the contract's 1-5; unset, told by the
    #: score column's name and the scores' range (:mod:`features.survey_scores`).
    survey_scale: str | None = None
    #: Rows to set aside by a source column's value (``Environment: [Sandbox]``, an app store's
    #: test purchases; ``transactions.Item: [Tip]``): quarantined as :data:`EXCLUDED`, counted,
    #: not judged by ``--min-accepted-share``; values match ignoring case, outer spaces and a
    #: float column's ``.0``.
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    #: The value of one unit of another currency in ``currency`` (``{EUR: 1.08}`` with
    #: ``currency: USD``): rows in it are converted at that fixed rate instead of quarantined.
    currency_rates: dict[str, float] = Field(default_factory=dict)
    #: For a file's mapping (:meth:`overridden_by`): its ``files:`` section's key, and the
    #: ``columns:`` keys it took from the rest of the map file (an error about one says so).
    _section: str | None = PrivateAttr(default=None)
    _inherited: frozenset[str] = PrivateAttr(default=frozenset())
    #: For a file's mapping whose section sets its own ``timezone``: the map's top-level one
    #: (the business's; "UTC" when none), which its times are converted into.
    _business_zone: str | None = PrivateAttr(default=None)

    @property
    def business_zone(self) -> str | None:
        """The zone whose days the data is in: ``--timezone`` (or the map file's top-level
        ``timezone``), whatever zone a ``files:`` section reads its file's times in."""
        return self._business_zone or self.timezone

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}; use an IANA name such as Asia/Shanghai, "
                "Europe/Berlin or UTC"
            ) from None
        return zone

    @field_validator("survey_scale", mode="before")
    @classmethod
    def _known_scale(cls, scale: object) -> object:
        if scale is None:
            return None
        if str(scale).replace(" ", "") not in SURVEY_SCALES:
            raise ValueError(f"unknown scale {scale!r}; one of {', '.join(SURVEY_SCALES)}")
        return str(scale).replace(" ", "")

    @field_validator("exclude", mode="before")
    @classmethod
    def _excluded_as_text(cls, exclude: object) -> object:
        """YAML's ``[true]`` and ``[3]`` (a flag column, a store number) are the values as text,
        ``'true'`` and ``'3'``; a single value is a list of one."""
        if not isinstance(exclude, dict):
            return exclude
        return {
            key: [_as_text(v) for v in (values if isinstance(values, list) else [values])]
            for key, values in exclude.items()
        }

    @field_validator("currency_rates")
    @classmethod
    def _positive_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        wrong = {k: v for k, v in rates.items() if not v > 0}
        if wrong:
            raise ValueError(f"currency_rates: {wrong} -- a rate is a number above 0")
        return rates

    @field_validator("values")
    @classmethod
    def _known_values(cls, values: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for key, table in values.items():
            t, _, column = key.rpartition(".")
            known_table = t in TABLES or (t == "campaigns" and column == "arm")
            if column not in VALUE_COLUMNS or (t and not known_table):
                raise ValueError(
                    f"values: {key!r}: values can be mapped for {sorted(VALUE_COLUMNS)}"
                )
            if column == "event_type":
                allowed = (*EVENT_TYPES, "other", IGNORE, ENDED, UNSUBSCRIBE)
                wrong = {k: v for k, v in table.items() if v not in allowed}
                if wrong:
                    raise ValueError(
                        f"values: {key}: {wrong} -- event types must be one of {list(allowed)}"
                    )
            if column == "status":
                wrong = {k: v for k, v in table.items() if v not in ORDER_STATUSES}
                if wrong:
                    raise ValueError(
                        f"values: {key}: {wrong} -- statuses must be one of {ORDER_STATUSES}"
                    )
            if column == "arm":
                wrong = {k: v for k, v in table.items() if v not in ("treated", "control")}
                if wrong:
                    raise ValueError(f"values: {key}: {wrong} -- arms must be treated or control")
            if column == CUSTOMER_STATUS:
                wrong = {k: v for k, v in table.items() if v not in CUSTOMER_STATUSES}
                if wrong:
                    raise ValueError(
                        f"values: {key}: {wrong} -- a customer's status is one of "
                        f"{CUSTOMER_STATUSES}"
                    )
        return values

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, columns: dict[str, str]) -> dict[str, str]:
        for key in columns:
            table, _, column = key.rpartition(".")
            tables = [table] if table else list(TABLES)
            if table and table not in (*TABLES, CAMPAIGNS):
                raise ValueError(
                    f"mapping key {key!r}: unknown table {table!r}; expected one of "
                    f"{(*TABLES, CAMPAIGNS)}"
                )
            known = (
                {*COLUMN_NAMES, CUSTOMER_EMAIL}  # a campaigns file's own columns (files:)
                if table == CAMPAIGNS
                else {c for t in tables for c in _targets(t)}
            )
            if column not in known:
                raise ValueError(
                    f"mapping key {key!r}: {column!r} is not a contract column; "
                    f"expected one of {sorted(known)}"
                )
        return columns

    def overridden_by(self, section: FileMapping) -> FileMapping:
        """This mapping with a file's section on top: a column (qualified or not) or a value
        column the section names, and each format it sets, is the section's; a section naming
        ``customer_email`` and no ``customer_id`` leaves the id column unmapped (looked up by its
        own name only)."""

        def column(key: str) -> str:
            return key.rpartition(".")[2]

        named = {column(k) for k in section.columns}
        if CUSTOMER_EMAIL in named:  # a file naming customers by e-mail has no id column
            named.add("customer_id")
        valued = {column(k) for k in section.values}
        formats = {k: getattr(section, k) for k in FORMAT_KEYS if getattr(section, k) is not None}
        merged = FileMapping.model_validate(
            {
                **self.model_dump(include=set(FileMapping.model_fields)),
                **formats,
                "columns": {k: v for k, v in self.columns.items() if column(k) not in named}
                | section.columns,
                "values": {k: v for k, v in self.values.items() if column(k) not in valued}
                | section.values,
                "exclude": self.exclude | section.exclude,
                "currency_rates": self.currency_rates | section.currency_rates,
            }
        )
        merged._inherited = frozenset(k for k in self.columns if column(k) not in named)
        return merged

    def inherited_from_top(self, table: str, column: str) -> str | None:
        """The ``files:`` section whose file takes ``table.column``'s source name from the map
        file's top level (the section does not name it), else None."""
        if self._section is None:
            return None
        key = f"{table}.{column}" if f"{table}.{column}" in self.columns else column
        return self._section if key in self._inherited else None

    def source_for(self, table: str, column: str) -> str | None:
        """The source column mapped to a contract column of a table, if any."""
        return self.columns.get(f"{table}.{column}", self.columns.get(column))

    def excluded_in(self, table: str) -> dict[str, tuple[list[str], bool]]:
        """The ``exclude:`` entries of a table: source column -> (values, named for this table:
        a column a table-qualified key names must exist; an unqualified one is looked for)."""
        found: dict[str, tuple[list[str], bool]] = {}
        for key, values in self.exclude.items():
            t, dot, column = key.partition(".")
            if dot and t in TABLES:
                if t == table:
                    found[column] = ([str(v) for v in values], True)
            elif key not in found:
                found[key] = ([str(v) for v in values], False)
        return found

    def values_for(self, table: str, column: str) -> dict[str, str]:
        """The ``values:`` section of a contract column (table-qualified key wins)."""
        return {
            str(k): str(v)
            for k, v in self.values.get(f"{table}.{column}", self.values.get(column, {})).items()
        }


class ColumnMapping(FileMapping):
    """The mapping of an ingest: :class:`FileMapping` plus the ``files:`` sections."""

    files: dict[str, FileMapping] = Field(default_factory=dict)

    def section_for(self, path: Path) -> str | None:
        """The ``files:`` section of a file (matched on its name, or its path, exactly or as a
        pattern), if any; an error when two match."""
        sections = [key for key in self.files if names_file(key, path)]
        if len(sections) > 1:
            raise IngestError(
                f"{path}: the map file's files: sections {sections} all match it; keep one per file"
            )
        return sections[0] if sections else None

    def for_file(self, path: Path) -> FileMapping:
        """The mapping one file is read with: its ``files:`` section on top of the rest."""
        base = FileMapping.model_validate(self.model_dump(exclude={"files"}))
        section = self.section_for(path)
        if section is None:
            return base
        mapping = base.overridden_by(self.files[section])
        mapping._section = section
        mapping._business_zone = self.timezone or "UTC"
        return mapping

    def check_sections_used(self, paths: list[Path]) -> None:
        """IngestError for a ``files:`` section that matches none of the files given (a typo
        would leave its file mapped as the others are)."""
        for key in self.files:
            if not any(names_file(key, p) for p in paths):
                names = ", ".join(p.name for p in paths)
                raise IngestError(
                    f"map file files: {key!r} matches none of the files given ({names}); "
                    "a section is a file's name or a pattern such as 'tickets_*.csv'"
                )


def names_file(key: str, path: Path) -> bool:
    """Whether a section key names a file: its name or path, as a pattern, in any letter case
    (``tickets_*.csv`` finds ``Tickets_1.CSV``, as Windows would)."""
    return any(
        fnmatch.fnmatchcase(text.casefold(), key.casefold()) for text in (path.name, str(path))
    )


def _targets(table: str) -> list[str]:
    return [c.name for c in CONTRACT[table]] + list(DERIVED_INPUTS.get(table, ()))


def _split_items(text: str) -> list[str]:
    """Split on commas outside double quotes; quotes are removed (``a="x, y"`` -> ``a=x, y``)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise IngestError(f"--map: unbalanced double quote in {text!r}")
    items.append("".join(current))
    return items


def parse_map_option(text: str) -> dict[str, str]:
    """Parse ``'a=Source A,b="Source, with comma"'`` (source names may contain spaces)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in _split_items(text))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise IngestError(f"--map: {item!r} is not of the form contract_column=Source Column")
        key, value = key.strip(), value.strip()
        if key in pairs and pairs[key] != value:
            raise IngestError(f"--map: {key} is mapped twice ({pairs[key]!r} and {value!r})")
        pairs[key] = value
    return pairs


def load_mapping(
    map_option: str | None = None,
    map_file: Path | None = None,
    date_format: str | None = None,
    **formats: str | None,
) -> ColumnMapping:
    """Build the mapping from a YAML file and/or a ``--map`` string (the string wins per key).

    ``formats`` are command-line format options (``decimal=","`` ...); given ones override the file.
    """
    raw: dict = {}
    if map_file is not None:
        try:
            raw = load_yaml(Path(map_file).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise IngestError(f"mapping file {map_file} does not exist") from exc
        except UnicodeDecodeError as exc:
            raise IngestError(f"mapping file {map_file}: not UTF-8 text ({exc})") from exc
        except yaml.YAMLError as exc:
            raise IngestError(
                f"mapping file {map_file}: not valid YAML ({' '.join(str(exc).split())})"
            ) from exc
        if not isinstance(raw, dict):
            raise IngestError(f"mapping file {map_file}: expected a mapping with 'columns:'")
    columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
    if map_option:
        columns.update(parse_map_option(map_option))
    raw = {**raw, "columns": columns}
    if date_format:
        raw["date_format"] = date_format
    unknown = set(formats) - set(FORMAT_KEYS)
    if unknown:
        raise TypeError(f"unknown format options {sorted(unknown)}")
    given = {k: v for k, v in formats.items() if v is not None}
    raw.update(given)
    try:
        return ColumnMapping.model_validate(raw)
    except ValidationError as exc:
        raise IngestError(_mapping_problems(exc, given, map_file)) from exc


def _mapping_problems(exc: ValidationError, options: dict, map_file: Path | None) -> str:
    """One line per problem, each named by where it came from: ``--decimal``, the map file's key,
    or ``--map``."""
    problems = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        if key == "files":  # a section's key: files: 'tickets.csv': columns
            key = ": ".join(str(part) for part in error["loc"][:3])
        if key in options:
            where = f"--{key.replace('_', '-')} {options[key]!r}"
        elif key == "columns" and map_file is None:
            where = "--map"
        else:
            where = f"mapping file {map_file}: {key}" if map_file else key
        if error["type"] == "extra_forbidden":
            known = ", ".join(ColumnMapping.model_fields)
            problems.append(f"{where}: unknown key (a map file holds {known})")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
    return "; ".join(problems)
