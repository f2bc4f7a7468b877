"""Field mappings: which score columns a CRM receives, under which names, in which format.

A mapping is a YAML file (``serving/writeback/mappings/<crm>.yaml``). ``records`` turns a score
frame into one JSON-typed dict per customer (numbers as floats, missing as None, labels in the
mapping's language); the CSV writer and the webhook both send these records, so a CRM gets the
same fields either way. Rows that cannot be exported (no or duplicate customer id, a customer id
the mapping cannot carry unchanged, an infinite number, an unknown stage) are returned as rejects
with the reason, never dropped silently. The customer id, the record key, is never rewritten.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from serving.labels import Labels, load_labels, validated_yaml
from serving.scoring import PEOPLE_DECIMALS, SCORE_COLUMNS

MAPPINGS_DIR = Path(__file__).with_name("mappings")

Kind = Literal["text", "number", "percent", "date", "label", "list"]

#: ``source`` may name any of ``serving.scoring.SCORE_COLUMNS`` (a column added there is exported
#: as it is added). Numbers are the columns people read rounded (``PEOPLE_DECIMALS``): kind
#: number or percent; words (ids, codes, labels, dates, lists) never take kind number.
_NUMERIC = set(PEOPLE_DECIMALS)
_LABELLED = {"stage", "priority_tier", "value_segment", "recommended_action"}
_WORDS = _LABELLED | {
    "customer_id",
    "as_of",
    "reasons",
    "recommended_action_label",
    "churn_model_version",
    "clv_model_version",
}
#: Probabilities: rounded, one strictly between 0 and 1 never reads 0 or 1 (nor 0 % or 100 %).
PROBABILITIES = {"churn_probability"}
_ALLOWED: dict[str, set[str]] = {
    "percent": {"churn_probability"},
    "date": {"as_of"},
    "label": _LABELLED,
    "list": {"reasons"},
}


class MappingError(ValueError):
    """A mapping file that cannot be used (names the file and the field)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileFormat(_Model):
    """How the CSV import file is written."""

    encoding: Literal["utf-8", "gb18030"] = "utf-8"
    bom: bool = False
    delimiter: Literal[",", ";", "\t", "|"] = ","
    line_terminator: Literal["\r\n", "\n"] = "\r\n"


class FieldSpec(_Model):
    """One exported field: CRM column/key ``column`` from score column ``source``."""

    column: str = Field(min_length=1)
    source: str
    kind: Kind = "text"
    decimals: int | None = Field(None, ge=0, le=9)
    in_delta: bool = Field(True, description="a change of this field makes the customer resend")
    max_length: int | None = Field(
        None,
        ge=2,
        description="characters the CRM field holds (Salesforce and Zoho text: 255): a longer "
        "key rejects the row, a longer text or list is shortened (a list by its last items)",
    )

    @field_validator("column")
    @classmethod
    def _one_line_name(cls, column: str) -> str:
        """A CRM field name: one line, no surrounding spaces (a header cell, a JSON key)."""
        if _CONTROL.search(column) or column != column.strip():
            raise ValueError(
                f"column {column!r}: a field name holds no line break, control character or "
                "surrounding space"
            )
        return column

    @field_validator("source")
    @classmethod
    def _score_column(cls, source: str, info: ValidationInfo) -> str:
        """Any column of ``serving.scoring.SCORE_COLUMNS`` (new score columns included)."""
        if source not in SCORE_COLUMNS:
            raise ValueError(
                f"field {info.data.get('column')!r}: source {source!r} is not a score column; "
                f"allowed: {', '.join(SCORE_COLUMNS)}"
            )
        return source

    @model_validator(mode="after")
    def _fits(self) -> FieldSpec:
        allowed = _ALLOWED.get(self.kind)
        if allowed is not None and self.source not in allowed:
            raise ValueError(
                f"field {self.column!r}: kind {self.kind!r} applies to {sorted(allowed)}, "
                f"not {self.source!r}"
            )
        if self.kind == "number" and self.source in _WORDS:
            raise ValueError(
                f"field {self.column!r}: kind 'number' does not apply to {self.source!r}"
            )
        if self.kind == "text" and self.source in _NUMERIC | {"reasons", "as_of"}:
            raise ValueError(f"field {self.column!r}: {self.source!r} needs a kind other than text")
        if (self.decimals is None) == (self.kind in {"number", "percent"}):
            raise ValueError(
                f"field {self.column!r}: decimals is required for number/percent and only for them"
            )
        return self


class ResendRule(_Model):
    """How far a number must move since the last export before a customer is sent again
    (``serving.writeback.delta``); labels and reasons (without their numbers) count on any
    change."""

    probability_points: float = Field(
        2.0, ge=0, description="churn risk: percentage points moved since the last export"
    )
    amount_share: float = Field(
        0.10, ge=0, description="an amount: share of itself moved since the last export"
    )
    amount_floor: float = Field(
        1.0, ge=0, description="an amount: at least this much moved (in the scores' currency)"
    )


class Mapping(_Model):
    """A CRM's import conventions and the fields it receives."""

    name: str
    crm: str
    module: str
    sources: list[str] = Field(min_length=1, description="documentation the conventions follow")
    language: Literal["en", "zh"] = "en"
    file: FileFormat = Field(default_factory=FileFormat)
    date_format: str = "%Y-%m-%d"
    list_separator: str = "; "
    forbidden_characters: str = ""
    null_cell: str = Field(
        "",
        description="the CSV cell that clears a field on update (a missing value, an empty "
        "list): '#N/A' for Salesforce, where an empty cell leaves the old value in place",
    )
    empty_cell_clears: bool | None = Field(
        None,
        description="whether the CRM's import clears a field from null_cell on update, as its "
        "documentation says (sources); unset: not verified, and an export whose fields went "
        "empty for some customers says to check one of them in the CRM",
    )
    fields: list[FieldSpec] = Field(min_length=2)
    resend: ResendRule = Field(default_factory=ResendRule)
    opened_in_spreadsheet: bool = Field(
        False,
        description="the import workflow opens the CSV in Excel/WPS (Fxiaoke, Zoho CN): customer "
        "ids Excel would change (00012345, more than 15 digits, 2025-01-02, 1E5) are warned of",
    )
    max_rows_per_file: int | None = Field(
        None,
        ge=1,
        description="customers the CRM's importer takes per file: more are written to "
        "name.part-001.csv, name.part-002.csv, ... (unset: one file)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        columns = [f.column for f in self.fields]
        if dupes := sorted({c for c in columns if columns.count(c) > 1}):
            raise ValueError(f"fields: more than one field writes the column(s) {dupes}")
        keys = [f for f in self.fields if f.source == "customer_id"]
        if len(keys) != 1:
            raise ValueError("exactly one field must have source customer_id (the record key)")
        if not any(f.in_delta for f in self.fields if f.source != "customer_id"):
            raise ValueError("at least one field besides the key must be in_delta")
        bad = set(self.forbidden_characters) & set(self.list_separator)
        if bad:
            raise ValueError(f"list_separator uses forbidden characters {sorted(bad)}")
        if set(self.null_cell) & {self.file.delimiter, '"', "\r", "\n"} or (
            self.null_cell != self.null_cell.strip()
        ):
            raise ValueError(
                f"null_cell {self.null_cell!r} may not hold the delimiter, quotes, line breaks "
                "or outer spaces"
            )
        return self

    @property
    def key(self) -> str:
        """The column holding the customer id."""
        return next(f.column for f in self.fields if f.source == "customer_id")

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    @property
    def delta_columns(self) -> list[str]:
        return [f.column for f in self.fields if f.in_delta]


def mapping_names() -> list[str]:
    """The shipped mappings."""
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A shipped mapping by name (``zoho``, ``salesforce``, ...) or a mapping YAML by path."""
    text = str(name_or_path)
    path = Path(text) if text.endswith((".yaml", ".yml")) else MAPPINGS_DIR / f"{text}.yaml"
    if not path.exists():
        raise MappingError(f"{path}: no such mapping (shipped: {', '.join(mapping_names())})")
    return validated_yaml(path, Mapping, MappingError)


@dataclass(frozen=True)
class Reject:
    """A score row that was not exported, and why."""

    row: int
    customer_id: str | None
    reason: str


def records(
    scores: pd.DataFrame,
    mapping: Mapping,
    labels: Labels | None = None,
    *,
    spreadsheet: bool = False,
) -> tuple[list[dict[str, Any]], list[Reject]]:
    """One JSON-typed record per exportable customer (in score order), and the rejected rows;
    ``spreadsheet``: for a file Excel/WPS may open, where a key read as a formula is rejected."""
    needed = sorted({f.source for f in mapping.fields})
    if missing := [c for c in needed if c not in scores.columns]:
        raise MappingError(
            f"mapping {mapping.name!r}: the scores have no column {missing} "
            f"(columns: {list(scores.columns)})"
        )
    labels = labels or load_labels(mapping.language)
    out: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    rows = scores[needed].to_dict("records")
    for i, row in enumerate(rows):
        cid = row["customer_id"]
        if cid is None or (isinstance(cid, float) and math.isnan(cid)) or str(cid).strip() == "":
            rejects.append(Reject(i, None, "customer_id is empty"))
            continue
        cid = str(cid)
        if cid in seen:
            rejects.append(Reject(i, cid, "customer_id appears more than once in the scores"))
            continue
        try:
            _check_key(cid, mapping, spreadsheet)
            record = {f.column: _value(f, row[f.source], mapping, labels) for f in mapping.fields}
        except ValueError as exc:
            rejects.append(Reject(i, cid, str(exc)))
            continue
        seen.add(cid)
        out.append(record)
    _warn_if_reasons_in_another_language(rows, mapping)
    _warn_of_keys_differing_in_case(seen)
    return out, rejects


def _warn_of_keys_differing_in_case(keys: set[str]) -> None:
    """Customer ids that differ only in capitals (``c1``, ``C1``) are two customers here, but one
    record in a CRM whose unique field ignores case (a Salesforce External ID unless "case
    sensitive" is set): one's scores would overwrite the other's."""
    folded: dict[str, str] = {}
    clashes = []
    for key in sorted(keys):
        if (other := folded.setdefault(key.lower(), key)) != key:  # not casefold: ß is not ss
            clashes.append((other, key))
    if clashes:
        warnings.warn(
            f"{len(clashes):,} customer ids differ from another only in capitals (e.g. "
            f"{clashes[0][0]!r} and {clashes[0][1]!r}): a CRM whose unique key field ignores "
            "case would update one record with both customers' scores; make the field case "
            "sensitive (Salesforce: External ID, Unique, case sensitive)",
            stacklevel=3,
        )


def _warn_if_reasons_in_another_language(rows: list[dict[str, Any]], mapping: Mapping) -> None:
    """Reasons in another language than the mapping's labels are warned of: a Chinese mapping fed
    English reasons (scored without ``LIFECYCLE_LANG=zh``), or an English one fed Chinese reasons
    (the scores of a Fxiaoke export sent to HubSpot too): the labels follow the mapping, the
    reasons were worded at scoring time."""
    if "reasons" not in (rows[0] if rows else {}):
        return
    sample = [r["reasons"] for r in rows[:200] if not _missing(r["reasons"])]
    # a list, or the numpy array a Parquet list column reads back as
    texts = [str(t) for v in sample for t in ([v] if isinstance(v, str) else list(v))]
    if not texts:
        return
    if mapping.language == "zh" and all(t.isascii() for t in texts):
        warnings.warn(
            f"mapping {mapping.name!r} is Chinese but the scores' reasons are English: score "
            "with LIFECYCLE_LANG=zh (or language: zh) for Chinese reasons",
            stacklevel=2,
        )
    elif mapping.language == "en" and any(_CJK.search(t) for t in texts):
        warnings.warn(
            f"mapping {mapping.name!r} is English but the scores' reasons are Chinese (scored "
            "with LIFECYCLE_LANG=zh or language: zh): its labels are English, its reasons "
            "Chinese; for English reasons, score with LIFECYCLE_LANG=en into another --out, with "
            "the same --history (the tier hold reads it), and export that file (--scores)",
            stacklevel=2,
        )


#: Chinese characters (CJK unified ideographs and their punctuation), as Chinese reasons hold.
_CJK = re.compile("[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _value(field: FieldSpec, value: Any, mapping: Mapping, labels: Labels) -> Any:
    if field.source == "customer_id":
        key = str(value)  # the key as it is (``_check_key``): a rewritten key hits another record
        if field.max_length and len(key) > field.max_length:
            raise ValueError(
                f"customer_id is {len(key)} characters; {mapping.name}'s key field "
                f"{field.column} holds {field.max_length} and the key is never shortened"
            )
        return key
    return _fitted(field, _plain_value(field, value, mapping, labels), mapping)


def _fitted(field: FieldSpec, value: Any, mapping: Mapping) -> Any:
    """``value`` within the field's ``max_length``: a list loses its last items (a first item
    too long is cut), a text is cut; a cut ends in an ellipsis."""
    limit = field.max_length
    if not limit or value is None:
        return value
    if isinstance(value, list):
        kept = list(value)
        while len(kept) > 1 and len(mapping.list_separator.join(kept)) > limit:
            kept.pop()
        return [_cut(kept[0], limit)] if kept and len(kept[0]) > limit else kept
    return _cut(value, limit) if isinstance(value, str) else value


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plain_value(field: FieldSpec, value: Any, mapping: Mapping, labels: Labels) -> Any:
    if _missing(value):
        return None
    kind = field.kind
    if kind in {"number", "percent"}:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{field.source} is {number} (not a finite number)")
        if field.source in PROBABILITIES:
            return _probability(number, field)
        return round(number, field.decimals) + 0.0  # + 0.0: no "-0.0"
    if kind == "date":
        return pd.Timestamp(value).strftime(mapping.date_format)
    if kind == "list":
        items = [str(v) for v in value] if not isinstance(value, str) else [value]
        return [_clean(v, mapping) for v in items if str(v).strip()]
    text = str(value)
    if kind == "label":
        text = _label(field.source, text, labels)
    return _clean(text, mapping)


def _probability(p: float, field: FieldSpec) -> float:
    """A probability rounded to the field (x 100 for a percent); strictly between 0 and 1 it
    never reads 0 or 1 (docs/scoring.md): 0.99984 is 99.9 %, not 100.0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{field.source} is {p}, outside [0, 1]")
    scale = 100.0 if field.kind == "percent" else 1.0
    rounded = round(p * scale, field.decimals) + 0.0  # + 0.0: no "-0.0"
    step = 10.0 ** -(field.decimals or 0)
    if 0.0 < p < 1.0 and 2 * step < scale:  # whole numbers of a fraction cannot stay inside
        rounded = round(min(max(rounded, step), scale - step), field.decimals)
    return rounded


def _label(source: str, code: str, labels: Labels) -> str:
    if source == "stage":
        if code not in labels.stages:
            raise ValueError(f"stage {code!r} is not a lifecycle stage {sorted(labels.stages)}")
        return labels.stage(code)
    if source == "priority_tier":
        if code not in labels.tiers:
            raise ValueError(f"priority_tier {code!r} is not one of {sorted(labels.tiers)}")
        return labels.tier(code)
    if source == "value_segment":
        return labels.value_segment(code)
    return labels.action(code)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not hasattr(value, "__len__") else False
    except (TypeError, ValueError):
        return False


_SPACES = re.compile(r"\s+")
#: Control characters and line breaks: C0, DEL, C1 (U+0085 NEL among them) and the Unicode line
#: and paragraph separators, which some CRMs and spreadsheets break lines at.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_key(key: str, mapping: Mapping, spreadsheet: bool) -> None:
    """A key the mapping cannot carry as it is raises (the row is rejected): the key is never
    rewritten, since a changed key updates another record (or two ids collapse into one)."""
    if spreadsheet and formula_like(key):
        raise ValueError(
            f"customer_id {key!r} starts with {key[0]!r}, which Excel/WPS read as a formula; "
            "the key is never rewritten, so it is not written to an import file (the webhook "
            "sends it as it is)"
        )
    if bad := sorted(set(key) & set(mapping.forbidden_characters)):
        raise ValueError(
            f"customer_id {key!r} holds {''.join(bad)!r}, which mapping {mapping.name!r} forbids "
            "in values; the key is never rewritten"
        )
    if _CONTROL.search(key):
        raise ValueError(
            f"customer_id {key!r} holds a line break or control character, which a single-line "
            "key field cannot hold; the key is never rewritten"
        )
    if key != key.strip():
        raise ValueError(
            f"customer_id {key!r} starts or ends with a space, which CRM imports trim (the key "
            "would name another record); the key is never rewritten"
        )
    if spreadsheet and key == mapping.null_cell:
        raise ValueError(
            f"customer_id {key!r} is mapping {mapping.name!r}'s null_cell, which the import reads "
            "as no value: the row would have no key; the key is never rewritten"
        )


def _clean(text: str, mapping: Mapping) -> str:
    """Forbidden characters become spaces; runs of whitespace (new lines too) one space."""
    for ch in mapping.forbidden_characters:
        text = text.replace(ch, " ")
    return _SPACES.sub(" ", text).strip()


#: A spreadsheet (Excel, WPS, LibreOffice) reads a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    """Whether a spreadsheet opening the CSV would evaluate ``text`` (CSV/formula injection)."""
    return text.startswith(FORMULA_STARTS)


#: Ids Excel/WPS change when they open a CSV: leading zeros dropped, more than 15 digits
#: rounded, dates, times and fractions converted, ``1E5`` read as a number.
_DAY = r"(0?[1-9]|[12]\d|3[01])"
_MONTH_NAME = (
    r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?"
    r"|oct(ober)?|nov(ember)?|dec(ember)?)"
)
_EXCEL_CHANGES = re.compile(
    r"0\d+"  # leading zeros
    r"|\d{12,}"  # shown as 1.23457E+11 (and past 15 digits rounded); saved so from a re-save
    r"|\d+(\.\d+)?[eE][+-]?\d+"  # scientific notation
    rf"|{_DAY}[-/]{_DAY}([-/]\d{{1,4}})?"  # day and month either way (3/4, 12-31-2024), fractions
    r"|\d{4}[-/](0?[1-9]|1[0-2])([-/]\d{1,2})?"  # 2025-01, 2025-01-02
    r"|(0?[1-9]|1[0-2])[-/]\d{4}"  # 12-2024
    rf"|{_DAY}[-/ ]?{_MONTH_NAME}([-/ ]?\d{{1,4}})?|{_MONTH_NAME}[-/ ]?\d{{1,4}}"  # 3-Mar, Jan-25
    r"|\d{1,2}:\d{2}(:\d{2})?",  # times
    re.IGNORECASE,
)


def excel_changes(key: str) -> bool:
    """Whether Excel/WPS opening the CSV would show (and save) ``key`` as another value."""
    return _EXCEL_CHANGES.fullmatch(key.strip()) is not None


def csv_cell(value: Any, field: FieldSpec, mapping: Mapping) -> str:
    """A record value as the CSV cell text: fixed decimals, lists joined; a missing value (or an
    empty list or text) is the mapping's ``null_cell``, so the CRM clears the field on update
    instead of keeping a stale value (e.g. the saved value once the uplift champion is gone).
    Text a spreadsheet would run as a formula gets a leading ``'`` (numbers stay numbers); a
    key like that is rejected by ``records(spreadsheet=True)``, never altered."""
    if value is None:
        return mapping.null_cell
    if isinstance(value, float):
        return f"{value:.{field.decimals}f}"
    text = mapping.list_separator.join(value) if isinstance(value, list) else str(value)
    if not formula_like(text):
        return text if text else mapping.null_cell
    if field.source == "customer_id":
        raise ValueError(f"customer_id {text!r} reads as a formula: reject the row, not the key")
    return "'" + text


def now_stamp() -> str:
    """A UTC timestamp for file names and journal rows."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
