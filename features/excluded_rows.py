"""Rows the map file's ``exclude:`` sets aside (a test account, a guest sale without a customer),
compared without case and counted per column; a value no row holds is named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.customer_ids import FLOAT_ID
from features.ingest_tables import TableReport, Validator
from features.mapping import FileMapping, IngestError
from features.source_columns import did_you_mean, find_column
from features.values import EXCLUDED


def exclude_rows(
    table: str,
    frame: pd.DataFrame,
    path: Path,
    mapping: FileMapping,
    check: Validator,
    report: TableReport,
) -> None:
    """Set aside the rows the map file's ``exclude:`` names (whatever else is wrong with them),
    saying per column how many; a column a table-qualified key names must be in the file."""
    said = []
    for name, (values, named) in mapping.excluded_in(table).items():
        column = find_column(frame, name)
        if column is None:
            if named:
                raise IngestError(
                    f"{path}: exclude: column {name!r} not found{did_you_mean(frame, name)}; "
                    f"columns: {list(frame.columns)}"
                )
            continue
        cells = _excluded_text(frame[column].astype("string").fillna(""))  # "" names a blank
        wanted = _excluded_text(pd.Series(values, dtype="string"))
        hit = cells.isin(wanted).fillna(False).to_numpy(bool)
        check.set_aside(hit, EXCLUDED)
        unmatched = [v for v, w in zip(values, wanted, strict=True) if not cells.eq(w).any()]
        said.append(f"{int(hit.sum()):,} rows with {column!r} in {values}")
        said[-1] += _unmatched_note(unmatched, cells)
    if said:
        report.formats["exclude"] = "; ".join(said)


def _unmatched_note(unmatched: list[str], cells: pd.Series) -> str:
    """Names ``exclude:`` values no row holds; a number there, beside cells with leading zeros,
    was likely unquoted in YAML (``000142`` is read as octal ``98``)."""
    if not unmatched:
        return ""
    note = f" (no row holds {', '.join(repr(v) for v in unmatched)}"
    if any(v.isdigit() for v in unmatched) and cells.str.match(r"0\d").fillna(False).any():
        note += "; quote values with leading zeros in the map file, '000142': unquoted, YAML "
        note += "reads them as other numbers"
    return note + ")"


def _excluded_text(values: pd.Series) -> pd.Series:
    """Cells or ``exclude:`` values as compared: case and outer spaces ignored, a whole number
    with or without a float column's ``.0`` (``3`` in a map file is a CSV's ``3.0``)."""
    return values.str.strip().str.casefold().str.replace(FLOAT_ID, r"\1", regex=True)
