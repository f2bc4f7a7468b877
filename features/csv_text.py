"""A decoded CSV/TSV/whitespace export parsed into a :class:`~features.source_file.SourceFile`:
separator, title and footer lines skipped, header names, records with their structural problems,
and cells written as Excel text formulas unwrapped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.csv_records import (
    TRUNCATED,
    UNCLOSED_QUOTE,
    Lines,
    cut_at_end,
    field_count_problems,
    read_again_after_misquotes,
    read_records,
)
from features.header_names import REPEATED, clean_header, unique_names
from features.mapping import IngestError
from features.separators import separator_name, sniff_separator
from features.source_file import EmptyExport, SourceFile
from features.title_footer import footer_rows, title_rows


def parse_text(path: Path, text: str, sep: str | None) -> SourceFile:
    lines = Lines(text)
    chosen = sep or sniff_separator(lines)
    if chosen is None:
        raise IngestError(
            f"{path}: cannot tell the column separator (tried comma, semicolon, tab, pipe "
            "and whitespace); pass --sep"
        )
    records, unclosed = read_again_after_misquotes(
        path, lines, read_records(path, lines, chosen, 0), chosen
    )
    if not len(records):
        raise EmptyExport(f"{path}: file is empty; expected a header and at least one row")
    notes = [f"separator {separator_name(chosen)}" + ("" if sep else " (detected)")]
    title = title_rows(records)
    if title:
        notes.append(
            f"title skipped ({title} single-value lines before the header, such as "
            f"{next(f for f in records[0] if f.strip()).strip()!r})"
        )
        records = records[title:]
    names = [clean_header(h) for h in records[0]]
    header = unique_names(names)
    body = records[1:]
    footer = footer_rows(body, len(header)) if text.endswith(("\n", "\r")) else 0
    if footer:
        notes.append(
            f"footer skipped ({footer} line{'s' if footer != 1 else ''} after the last row: a "
            "report footer or totals line such as "
            f"{(chosen if len(chosen) == 1 else ' ').join(body[-footer])[:60]!r})"
        )
        body = body[: len(body) - footer]
    if not len(body):
        raise EmptyExport(f"{path}: file has a header but no rows; expected at least one row")
    spans = body.spans
    problems = field_count_problems(body, len(header))
    problems[np.isin(spans[:, 0], list(unclosed))] = UNCLOSED_QUOTE
    if cut_at_end(text, lines, tuple(spans[-1]), chosen):
        problems[-1] = TRUNCATED
    frame = pd.DataFrame(
        {name: pd.arrays.ArrowStringArray(body.column(j)) for j, name in enumerate(header)},
        index=pd.RangeIndex(len(body)),
    )
    del body, records
    for col in frame.columns:
        frame[col] = frame[col].str.strip().replace("", pd.NA)
    notes.extend(_unwrap_text_formulas(frame))
    # a name the header holds more than once (read as name, name.1, ...): no column is taken by it
    frame.attrs[REPEATED] = sorted({n for n in names if n and names.count(n) > 1})
    return SourceFile(
        path,
        frame,
        problems,
        spans[:, 0] + 1,
        sep=chosen,
        notes=notes,
        _raw_lines=lines,
        _record_spans=spans,
    )


#: A cell written as an Excel text formula, ``="2320583330808160736"`` (Taobao's and other
#: exports' way of keeping long digit ids and leading zeros from Excel).
TEXT_FORMULA = r'^="(.*)"$'


def _unwrap_text_formulas(frame: pd.DataFrame) -> list[str]:
    """The cells written ``="..."`` unwrapped in place (the id a plain re-export writes bare),
    and a note naming the columns."""
    wrapped = []
    for col in frame.columns:
        cells = frame[col]
        if cells.str.startswith('="', na=False).any():
            frame[col] = cells.str.replace(TEXT_FORMULA, r"\1", regex=True).replace("", pd.NA)
            wrapped.append(col)
    if not wrapped:
        return []
    return [f'Excel text formulas (="...") read as their text in {", ".join(map(repr, wrapped))}']
