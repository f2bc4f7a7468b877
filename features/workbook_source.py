"""Reading an Excel or OpenDocument workbook export (.xlsx, .xlsm, .xlsb, .xls, .ods) as text.

Several CRMs export to Excel by default (Fxiaoke, Zoho CN, Salesforce reports), and a CSV saved
again from Excel is where many exports go wrong; so a workbook is read as it is, with
``python-calamine``. Its cells are typed, and each becomes the text a CSV export of it would
hold, so that the same mapping, parsers and quarantine apply:

- a number: ``1001`` for a whole one (Excel keeps every number as a float: an id typed as a
  number must not become ``1001.0``), else its shortest exact decimal (``12.3``, ``0.00001``);
- a date cell: ``2025-03-04``, a date-time cell ``2025-03-04 13:05:07`` (no day/month order to
  guess); a time-only cell ``13:05:07``;
- a true/false cell: ``true`` / ``false``; text as it is; an empty cell is missing, and so is
  a formula's error (``#N/A``, ``#DIV/0!``: python-calamine gives no error text);
- a whole number of more than 15 digits is warned of: Excel rounded it (an id typed as a number).

The header is the first non-empty row; a record's ``line`` is its row number in the sheet (as
Excel shows it), so a quarantined row can be found there. Wholly empty rows are skipped; a
value in a column without a header is a structural problem (quarantined, like a CSV line with
more fields than the header). The sheet read is the one named by the mapping's ``sheet:``, else
the first sheet that holds anything; the others are named in a note.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from features.header_names import REPEATED, clean_header, unique_names
from features.mapping import IngestError
from features.source_file import EmptyExport, SourceFile, positional_text
from features.title_footer import footer_rows, title_rows

#: File name endings read as workbooks.
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
NO_HEADER = "a value in a column without a header"
ZIP_SIGNATURE, OLE_SIGNATURE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"


def is_workbook(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a workbook, by its content: an .xls's signature,
    or a ZIP archive (``features.packed_files.unpack`` passes on only those named or made as
    workbooks). A text file with a workbook ending (the tab-separated or HTML ``.xls`` of many
    "Export to Excel" buttons) is not one: it is read as text."""
    return head.startswith((OLE_SIGNATURE, ZIP_SIGNATURE))


def read_workbook(path: Path, sheet: str | None = None, content: bytes | None = None) -> SourceFile:
    """One sheet of a workbook with every column as text (module docstring); ``content``: its
    bytes when they are not ``path``'s own (unpacked from an archive)."""
    import io

    from python_calamine import CalamineError, CalamineWorkbook

    try:
        # by content: an .xlsx saved as .xls is read too
        if content is not None:
            book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        else:
            with open(path, "rb") as handle:
                book = CalamineWorkbook.from_filelike(handle)
    except (CalamineError, OSError, ValueError) as exc:
        raise IngestError(f"{path}: not a readable workbook ({exc})") from exc
    names = list(book.sheet_names)
    hidden = _hidden_sheets(book)
    if sheet is not None and sheet not in names:
        raise IngestError(
            f"{path}: no sheet {sheet!r} (sheets: {', '.join(map(repr, names))}); "
            "fix the mapping's sheet:"
        )
    chosen, rows, start = None, [], (0, 0)
    # by default a visible sheet first: a hidden one is a lookup list or a macro's scratch
    order = [n for n in names if n not in hidden] + [n for n in names if n in hidden]
    for name in [sheet] if sheet is not None else order:
        found = book.get_sheet_by_name(name)
        cells = found.to_python()
        if any(any(v != "" for v in row) for row in cells):
            top, left = found.start or (0, 0)
            chosen, rows, start = name, cells, (int(top), int(left))
            break
    if chosen is None:
        where = f"sheet {sheet!r}" if sheet is not None else "every sheet"
        raise EmptyExport(f"{path}: {where} is empty; expected a header and at least one row")
    return _source(path, chosen, names, rows, start, hidden)


def _hidden_sheets(book) -> set[str]:
    """The names of the workbook's hidden sheets (none when it does not say)."""
    try:
        from python_calamine import SheetVisibleEnum

        return {m.name for m in book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
    except (AttributeError, ImportError):  # pragma: no cover - a calamine without metadata
        return set()


def _source(
    path: Path,
    sheet: str,
    names: list[str],
    rows: list[list],
    start: tuple[int, int],
    hidden: set[str] = frozenset(),  # type: ignore[assignment]
) -> SourceFile:
    """The header row, the data rows as text, their sheet row numbers and problems (``start``:
    the 0-based row and column of the sheet's first used cell, where ``rows`` begin). Rows of
    one value each above a header of several (a title such as 客户列表 merged across the top,
    an "exported at" line) are skipped, as in a CSV export, and said in a note."""
    top, left = start
    filled = [i for i, row in enumerate(rows) if any(v != "" for v in row)]
    title = title_rows([[_cell_text(v) or "" for v in rows[i]] for i in filled[:8]])
    first = filled[title]
    header = [_cell_text(v) or "" for v in rows[first]]
    body = [(top + i + 1, row) for i, row in enumerate(rows) if i > first]
    body = [(n, row) for n, row in body if any(v != "" for v in row)]
    # a totals row below the data ("Summe" and a =SUM(...)), as a CSV export's footer is skipped
    footer = footer_rows([[_cell_text(v) or "" for v in row] for _, row in body[-5:]], len(header))
    footer_note = None
    if footer:
        cells = [_cell_text(v) or "" for v in body[-footer][1]]
        footer_note = (
            f"footer skipped ({footer} row(s) from row {body[-footer][0]}: a totals row such as "
            f"{' | '.join(c for c in cells if c)[:60]!r})"
        )
        body = body[: len(body) - footer]
    if not body:
        raise EmptyExport(f"{path}: sheet {sheet!r} has a header but no rows")
    named = [i for i, h in enumerate(header) if h.strip()]
    unnamed = [i for i, h in enumerate(header) if not h.strip()]
    names_read = [clean_header(header[i]) for i in named]
    frame = pd.DataFrame(
        {  # as a CSV export is read: a repeated name as name, name.1; texts stripped
            name: [_cell_text(row[i]) for _, row in body]
            for name, i in zip(unique_names(names_read), named, strict=True)
        },
        dtype="string",
    )
    for column in frame.columns:
        frame[column] = frame[column].str.strip().replace("", pd.NA)
    frame.attrs[REPEATED] = sorted({n for n in names_read if names_read.count(n) > 1})
    problems = np.full(len(body), None, dtype=object)
    for k, (_, row) in enumerate(body):
        stray = [i for i in unnamed if row[i] != ""]
        if stray:
            problems[k] = f"{NO_HEADER} ({_column_letter(left + stray[0])})"
    lines = np.array([n for n, _ in body], dtype="int64")
    note = f"sheet {sheet!r}" + (" (hidden)" if sheet in hidden else "")
    if len(names) > 1:
        others = ", ".join(
            repr(n) + (" (hidden)" if n in hidden else "") for n in names if n != sheet
        )
        note += f" (not read: {others}; --sheet or the mapping's sheet: picks another)"
    notes = [note]
    if footer_note:
        notes.append(footer_note)
    if title:
        shown = next(t for v in rows[filled[0]] if (t := _cell_text(v)))
        notes.append(
            f"title skipped ({title} single-value rows above the header in row "
            f"{top + first + 1}, such as {shown.strip()!r})"
        )
    said = [_rounded_numbers(header[i].strip(), [row[i] for _, row in body]) for i in named]
    warnings = [w for w in said if w]
    return SourceFile(path, frame, problems, lines, notes=notes, kind="workbook", warnings=warnings)


#: Excel keeps 15 significant digits: a longer number typed into a cell lost the rest.
_EXACT_DIGITS = 15


def _rounded_numbers(column: str, cells: list) -> str | None:
    """A warning when number cells of ``column`` have more digits than Excel keeps (an id typed
    as a number, 123456789012345678, is stored as 123456789012345700): the file holds the
    rounded number, and ids that differed only past the 15th digit became one."""
    long = [
        v
        for v in cells
        if isinstance(v, float | int)
        and not isinstance(v, bool)
        and abs(v) >= 10**_EXACT_DIGITS
        and float(v).is_integer()
    ]
    if not long:
        return None
    return (
        f"column {column!r}: {len(long):,} numbers of more than {_EXACT_DIGITS} digits (e.g. "
        f"{_cell_text(long[0])}), which Excel stores rounded to {_EXACT_DIGITS} digits: if these "
        "are ids, their last digits are lost; export the column as text"
    )


def _cell_text(value: object) -> str | None:
    """A typed cell as the text a CSV export of it holds (module docstring); None if empty."""
    if value == "" or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return positional_text(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    return str(value)


def _column_letter(index: int) -> str:
    """Excel's name of the 0-based column ``index`` (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"column {letters}"
