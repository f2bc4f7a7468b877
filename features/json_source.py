"""Reading a newline-delimited JSON export (Segment, Mixpanel, Amplitude, a warehouse unload).

Product-analytics tools export one JSON object per line (``.jsonl``, ``.ndjson``, often
``.json``), nested: ``{"event": ..., "userId": ..., "properties": {"revenue": 9.5}}``. Each
object is one row, its nested keys joined with dots (``properties.revenue``,
``properties.$user_id``), so a map file names them as columns; each value becomes the text a CSV
export would hold (``null`` is missing, ``true``/``false``, numbers without exponents, a list as
its JSON text). Columns are the keys in the order first met. A line that is not a JSON object is
a structural problem (quarantined, its line named); a JSON array of objects (a whole file that is
one ``[...]``) is read the same way, its records without line numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.csv_records import TRUNCATED
from features.mapping import IngestError
from features.source_file import EmptyExport, SourceFile, positional_text

#: File name endings read as JSON (besides a text whose first line is a JSON object).
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
NOT_AN_OBJECT = "not a JSON object"


def is_json_export(name: str, text: str) -> bool:
    """Whether a decoded export is JSON: by its name, or its first line being one JSON object."""
    if Path(name).suffix.lower() in JSON_SUFFIXES:
        return True
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def flatten(record: dict, prefix: str = "") -> dict[str, str | None]:
    """A nested object as ``{dotted key: text}`` (module docstring)."""
    out: dict[str, str | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):  # an empty one adds no column
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = as_text(value)
    return out


def as_text(value: object) -> str | None:
    """A JSON value as a CSV export's cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return positional_text(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False) if value else None
    text = str(value).strip()
    return text or None


def parse_json_export(path: Path, text: str) -> SourceFile:
    """The rows of a JSON-lines export (or a JSON array of objects), every column as text."""
    body = text.lstrip()
    if body.startswith("["):
        return _from_records(path, _array(path, body), kind="json")
    rows: list[dict[str, str | None]] = []
    problems: list[str | None] = []
    lines: list[int] = []
    physical = text.split("\n")
    for number, line in enumerate(physical, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            rows.append(flatten(record))
            problems.append(None)
        else:
            last = number == len(physical) and not text.endswith("\n")
            rows.append({})
            problems.append(TRUNCATED if last and record is None else NOT_AN_OBJECT)
        lines.append(number)
    if rows and all(problems):
        raise IngestError(
            f"{path}: no line is a JSON object; expected one object per line (JSON lines) or one "
            'array of objects ([...]); a document that wraps the records ({"data": [...]}) is '
            "not read: save the list of records itself"
        )
    source = _from_records(path, rows, kind="json lines")
    source.problems = np.array(problems, dtype=object)
    source.lines = np.array(lines, dtype="int64")
    return source


def _array(path: Path, body: str) -> list[dict[str, str | None]]:
    try:
        records = json.loads(body)
    except ValueError as exc:
        raise IngestError(f"{path}: not valid JSON ({exc}); expected one object per line") from exc
    if records and not any(isinstance(r, dict) for r in records):
        raise IngestError(f"{path}: no record is a JSON object; expected an array of objects")
    return [flatten(r) if isinstance(r, dict) else {} for r in records]


def _from_records(path: Path, rows: list[dict[str, str | None]], kind: str) -> SourceFile:
    if not rows:
        raise EmptyExport(f"{path}: file is empty; expected one JSON object per line")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    frame = pd.DataFrame.from_records(rows, columns=columns).astype("string")
    n = len(frame)
    return SourceFile(
        path,
        frame,
        np.full(n, None, dtype=object),
        np.zeros(n, dtype="int64"),
        notes=[kind],
        kind="json",
    )
