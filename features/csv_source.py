"""Reading one source export: CSV/TSV/whitespace text, Parquet or a workbook, packed or not.

A text export is decoded strictly (``features.encodings``), its separator sniffed
(``features.separators``) and its records read with their physical line numbers and structural
problems (``features.csv_text``, ``features.csv_records``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.csv_text import parse_text
from features.encodings import (
    central_european_as_western,
    check_encoding,
    cyrillic_as_western,
    decode,
)
from features.header_names import clean_header
from features.mapping import IngestError
from features.separators import normalise_sep
from features.source_file import EmptyExport, SourceFile, positional_text

PARQUET_SUFFIXES = {".parquet", ".pq"}


def read_source(
    path: Path, encoding: str | None = None, sep: str | None = None, sheet: str | None = None
) -> SourceFile:
    """Read a CSV/TSV/whitespace, Parquet or workbook export (``sheet``: which one) with every
    column as text."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: file does not exist")
    if path.is_dir():
        raise IngestError(
            f"{path}: is a directory; expected an export file (CSV, Parquet or a workbook)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not raw.strip():
        raise EmptyExport(f"{path}: file is empty; expected a header and at least one row")
    from features.packed_files import unpack
    from features.workbook_source import is_workbook, read_workbook

    unpacked = unpack(path, raw)
    del raw
    packed, name = unpacked.packed, Path(unpacked.name)
    if not unpacked.raw.strip():
        raise EmptyExport(f"{path}: the file packed in it is empty; expected a header and rows")
    content = unpacked.raw if packed else None  # else Parquet and workbooks read the path
    if name.suffix.lower() in PARQUET_SUFFIXES or unpacked.raw[:4] == b"PAR1":
        source = _read_parquet(path, content)
    elif is_workbook(unpacked.raw[:8]):
        source = read_workbook(path, sheet, content)
    else:
        _refuse_binary(path, unpacked.raw)
        text, used = decode(path, unpacked.raw, check_encoding(encoding))
        del unpacked, content  # as large as the text: not kept while the text is parsed
        misread = central_european_as_western(text, used) or cyrillic_as_western(path, text, used)
        source = _parse_text_or_json(path, name, text, normalise_sep(sep))
        source.encoding = used
        if misread:  # in the progress line, before a column of the map is not found
            source.notes.append(misread)
    if packed:
        source.notes.insert(0, f"packed {packed}")
    return source


def _parse_text_or_json(path: Path, name: Path, text: str, sep: str | None) -> SourceFile:
    from features.json_source import is_json_export, parse_json_export

    if sep is None and is_json_export(name.name, text):
        return parse_json_export(path, text)
    return parse_text(path, text, sep)


def _read_parquet(path: Path, content: bytes | None = None) -> SourceFile:
    import io

    try:
        frame = pd.read_parquet(path if content is None else io.BytesIO(content))
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    for col in frame.columns[[pd.api.types.is_float_dtype(t) for t in frame.dtypes]]:
        # as text without exponents, which the number parser (like a CSV export) does not read:
        # 1e-05 -> 0.00001, 1e+16 -> 10000000000000000
        frame[col] = frame[col].map(positional_text, na_action="ignore").astype("object")
    frame = frame.astype("string")
    frame.columns = [clean_header(str(c)) for c in frame.columns]
    if frame.empty:
        raise EmptyExport(f"{path}: file has a header but no rows; expected at least one row")
    n = len(frame)
    return SourceFile(
        path, frame, np.full(n, None, dtype=object), np.zeros(n, dtype="int64"), kind="parquet"
    )


def _refuse_binary(path: Path, raw: bytes) -> None:
    head = raw[:8]
    kinds = (
        (b"\x1f\x8b", "gzip-compressed twice", "decompress it first (gunzip)"),
        (b"BZh", "bzip2-compressed", "decompress it first"),
        (b"\xfd7zXZ", "xz-compressed", "decompress it first"),
    )
    for magic, what, fix in kinds:
        if head.startswith(magic):
            raise IngestError(
                f"{path}: is {what}, not a CSV text file or Parquet; {fix} and ingest that"
            )
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return  # UTF-16 with a byte-order mark: decoded below
    if b"\x00" in raw[:65536]:
        raise IngestError(
            f"{path}: contains binary data (NUL bytes), not CSV text; if it is UTF-16 "
            "text without a byte-order mark, pass --encoding utf-16-le"
        )
