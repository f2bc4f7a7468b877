"""Only what changed: per customer, the exported fields that count, compared with the last export.

The state kept per customer (its "fingerprint") is the canonical JSON of the record's
``in_delta`` fields as ``material`` sees them, so the score date alone does not make every
customer resend, nor does a week of ageing: reasons count without their numbers ("no purchase
for 622 days" and "... 652 days" say the same), a churn risk counts once it moved by 2 points and
an amount once it moved by 10% of itself and at least 1.00 (the mapping's ``resend`` rule) since
the last export -- not since last week, so a slow drift is sent once it adds up. A
customer is sent when a field changed so, or when it was never sent. The CRM keeps the values of
the last export, dated by its scored-on field.

The state also keeps a hash of how the columns are written (``column_formats``: source, kind,
decimals, date format, label language, list separator): a change of it resends everyone, as a
new column does, so the CRM column is never left half in the old format (99.9 beside 0.9990). A
state from before this was kept compares without it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from typing import Any

from serving.writeback.fields import PROBABILITIES, FieldSpec, Mapping, ResendRule

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _is_probability(field: FieldSpec) -> bool:
    return field.kind == "percent" or (field.kind == "number" and field.source in PROBABILITIES)


def material(field: FieldSpec, value: Any) -> Any:
    """What of an exported value is compared: reasons without numbers, probabilities in points."""
    if value is None:
        return None
    if field.kind == "list":
        return [_NUMBER.sub("#", str(v)) for v in value]
    if _is_probability(field):
        return float(value) * (1.0 if field.kind == "percent" else 100.0)
    if field.kind == "number":
        return float(value)
    return value


#: The state's key for ``column_formats`` (a column name never starts with a space).
FORMATS = " formats"


def column_formats(mapping: Mapping) -> str:
    """A short hash of how every column is written (in the delta or not), in field order."""
    by_kind = {
        "date": mapping.date_format,
        "label": mapping.language,
        "list": mapping.list_separator,
    }
    how = [
        [f.column, f.source, f.kind, str(f.decimals), by_kind.get(f.kind, "")]
        for f in mapping.fields
    ]
    return hashlib.sha256(json.dumps(how).encode("utf-8")).hexdigest()[:12]


def fingerprint(record: MappingType[str, Any], mapping: Mapping, formats: str | None = None) -> str:
    """The canonical JSON of the record's delta fields as ``material`` sees them, the mapping's
    name and its ``column_formats`` (``formats``, if already computed): what the next export
    compares with."""
    payload = {
        "mapping": mapping.name,
        FORMATS: formats if formats is not None else column_formats(mapping),
        **{f.column: material(f, record[f.column]) for f in mapping.fields if f.in_delta},
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _moved(field: FieldSpec, old: Any, new: Any, rule: ResendRule) -> bool:
    if old is None or new is None or field.kind not in ("number", "percent"):
        return old != new
    if _is_probability(field):
        return abs(new - old) >= rule.probability_points - 1e-9
    return abs(new - old) >= max(rule.amount_share * max(abs(old), abs(new)), rule.amount_floor)


def differs(previous: str | None, current: str, mapping: Mapping) -> bool:
    """Whether a customer's state ``current`` changed enough since ``previous`` (None: never
    sent; a state of another format, e.g. an older version's hash: changed; a column added or
    written otherwise: changed)."""
    if previous is None:
        return True
    try:
        old = json.loads(previous)
    except ValueError:
        return True
    new = json.loads(current)
    if not isinstance(old, dict):
        return True
    old_formats, new_formats = old.pop(FORMATS, None), new.pop(FORMATS)
    if old.keys() != new.keys() or old_formats not in (None, new_formats):
        return True  # a new column, or one written otherwise: everyone has it to resend
    fields = {f.column: f for f in mapping.fields if f.in_delta}
    return old["mapping"] != new["mapping"] or any(
        _moved(field, old[column], new[column], mapping.resend) for column, field in fields.items()
    )


def emptied(previous: str | None, current: str) -> list[str]:
    """The columns that held a value in the state ``previous`` and hold none in ``current``
    (a next action gone, reasons gone): what the import has to clear."""
    if previous is None:
        return []
    try:
        old, new = json.loads(previous), json.loads(current)
    except ValueError:
        return []
    if not isinstance(old, dict):
        return []
    return [
        column
        for column, value in new.items()
        if column not in (FORMATS, "mapping") and _blank(value) and not _blank(old.get(column))
    ]


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def changed(
    records: Iterable[dict[str, Any]],
    mapping: Mapping,
    previous: MappingType[str, str],
    *,
    full: bool = False,
) -> list[tuple[dict[str, Any], str]]:
    """``(record, state)`` of the customers to send: all with ``full``, else those whose fields
    changed enough since ``previous`` (customer id -> state of the last export, ``differs``)."""
    key = mapping.key
    formats = column_formats(mapping)
    out = []
    for record in records:
        fp = fingerprint(record, mapping, formats)
        if full or differs(previous.get(str(record[key])), fp, mapping):
            out.append((record, fp))
    return out
