"""Reading one source export: file type, text encoding, separator, and row structure.

A CSV export is decoded strictly (a wrong encoding is a one-line error naming the file and
``--encoding``, never replacement characters), its separator is sniffed with quotes respected, and
every data record keeps its physical line number. Records whose field count differs from the
header, a line whose quote does not close its field (the lines after it are read on their own,
not swallowed into one field), and a last record cut off by a truncated file, carry a
*structural problem* that ingest turns into a quarantine reason.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.mapping import IngestError

#: Separators the sniffer tries (a whitespace-aligned file is the fallback).
SEPARATORS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
#: Names accepted by ``--sep`` besides the characters themselves.
SEP_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    "whitespace": WHITESPACE,
    "space": WHITESPACE,
}
ENCODING_HINT = (
    "pass --encoding (e.g. --encoding cp1252 for Western European Windows/Excel exports, "
    "--encoding latin-1, or --encoding gbk for Chinese exports)"
)
FIELD_COUNT = "field count differs from header"
TRUNCATED = "truncated last line"
UNCLOSED_QUOTE = 'a quote (") in this line does not close its field'  # later lines read again
SNIFF_LINES = 200
#: ``frame.attrs`` key: the header names that occur more than once.
REPEATED = "repeated_header_names"
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class SourceFile:
    """The text columns of one export plus where each record came from."""

    path: Path
    frame: pd.DataFrame  # every column string dtype, one row per data record
    problems: np.ndarray  # per record: None or a structural quarantine reason
    lines: np.ndarray  # per record: 1-based physical line where it starts (0 for Parquet)
    encoding: str | None = None
    sep: str | None = None
    notes: list[str] = field(default_factory=list)
    _raw_lines: list[str] = field(default_factory=list, repr=False)
    _record_spans: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def raw_record(self, index: int) -> str:
        """The source text of data record ``index`` (0-based), as it stands in the file."""
        if not self._record_spans:
            return ", ".join(f"{k}={v}" for k, v in self.frame.iloc[index].items())
        start, end = self._record_spans[index]
        return "".join(self._raw_lines[start:end]).rstrip("\r\n")


def normalise_sep(sep: str | None) -> str | None:
    """``--sep`` value to a separator character (or ``whitespace``); ``None`` means sniff."""
    if sep is None or sep == "" or sep == "auto":
        return None
    sep = SEP_NAMES.get(sep.lower(), sep)
    if sep != WHITESPACE and len(sep) != 1:
        raise IngestError(f"--sep {sep!r}: expected one character or one of {sorted(SEP_NAMES)}")
    return sep


def check_encoding(encoding: str | None) -> str | None:
    """Validate an ``--encoding`` name (``None``/``auto`` means detect)."""
    if encoding is None or encoding.lower() == "auto":
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise IngestError(
            f"--encoding {encoding!r}: unknown encoding; use utf-8, utf-8-sig, gbk, "
            "gb18030, latin-1 or cp1252"
        ) from exc
    return encoding


def read_source(path: Path, encoding: str | None = None, sep: str | None = None) -> SourceFile:
    """Read a CSV/TSV/whitespace or Parquet export with every column as text."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: file does not exist")
    if path.is_dir():
        raise IngestError(f"{path}: is a directory; expected an export file (CSV or Parquet)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not raw.strip():
        raise IngestError(f"{path}: file is empty; expected a header and at least one row")
    if path.suffix.lower() in PARQUET_SUFFIXES or raw[:4] == b"PAR1":
        return _read_parquet(path)
    _refuse_binary(path, raw)
    text, used = _decode(path, raw, check_encoding(encoding))
    source = _parse_text(path, text, normalise_sep(sep))
    source.encoding = used
    return source


def _read_parquet(path: Path) -> SourceFile:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    for col in frame.columns[[pd.api.types.is_float_dtype(t) for t in frame.dtypes]]:
        # as text without exponents, which the number parser (like a CSV export) does not read:
        # 1e-05 -> 0.00001, 1e+16 -> 10000000000000000
        frame[col] = frame[col].map(_positional, na_action="ignore").astype("object")
    frame = frame.astype("string")
    frame.columns = [_clean_header(str(c)) for c in frame.columns]
    if frame.empty:
        raise IngestError(f"{path}: file has a header but no rows; expected at least one row")
    n = len(frame)
    return SourceFile(path, frame, np.full(n, None, dtype=object), np.zeros(n, dtype="int64"))


def _positional(value: float) -> str:
    return np.format_float_positional(value, trim="-") if np.isfinite(value) else str(value)


def _refuse_binary(path: Path, raw: bytes) -> None:
    head = raw[:8]
    kinds = (
        (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
        (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)", "save the sheet as CSV (UTF-8)"),
        (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save the sheet as CSV (UTF-8)"),
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


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode strictly; detect UTF-8 (with or without BOM), UTF-16 with BOM and GBK when
    unambiguous."""
    if encoding is None:
        if raw.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16"
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise IngestError(
                f"{path}: not valid {encoding} text ({_where(raw, exc)}); {ENCODING_HINT}"
            ) from exc
        return text.lstrip("\ufeff"), encoding
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        gbk = _looks_like_gbk(raw)
        if gbk is not None:
            return gbk, "gb18030 (detected)"
        raise IngestError(f"{path}: not UTF-8 text ({_where(raw, exc)}); {ENCODING_HINT}") from exc


def _where(raw: bytes, exc: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, exc.start) + 1
    return f"line {line}: byte 0x{raw[exc.start]:02x}"


def _looks_like_gbk(raw: bytes) -> str | None:
    """Text decoded as GB18030 when (nearly) all its non-ASCII characters are common GB2312 Chinese.

    Western single-byte text (latin-1/cp1252) decoded as GBK yields rare characters outside GB2312,
    or Chinese characters inside Latin words, so it is not mistaken for Chinese; such a file
    needs ``--encoding``.
    """
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    if not wide:
        return None
    common = 0
    for i in wide:
        try:
            text[i].encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    # Latin letters read as GBK pair up into Chinese characters inside Latin words ("Conceição"
    # reads "Concei玢o"); Chinese text puts them next to each other or to punctuation.
    inside_words = sum(
        0 < i < len(text) - 1 and _latin(text[i - 1]) and _latin(text[i + 1]) for i in wide
    )
    if inside_words > MAX_INSIDE_WORDS * len(wide):
        return None
    return text if common >= 0.98 * len(wide) else None


#: Share of "Chinese" characters between two Latin letters above which GBK is not taken: Western
#: text decoded as GBK.
MAX_INSIDE_WORDS = 0.25


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _clean_header(name: str) -> str:
    return name.replace("\ufeff", "").replace("\u00a0", " ").strip()


def fold_name(name: str) -> str:
    """Loose form of a column name: width, case and spacing folded (for map-file lookups)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip().casefold()


def _split(sep: str, lines: list[str]):
    if sep == WHITESPACE:
        return ([*line.split()] for line in lines)
    return csv.reader(lines, delimiter=sep, quotechar='"', doublequote=True)


def sniff_separator(lines: list[str]) -> str | None:
    """The separator whose quoted-aware split gives the header's field count on most sample rows."""
    sample = [line for line in lines[:SNIFF_LINES] if line.strip()]
    if not sample:
        return None
    best, best_score = None, (0.0, 0)
    for sep in (*SEPARATORS, WHITESPACE):
        try:
            rows = [r for r in _split(sep, sample) if r]
        except csv.Error:
            continue
        rows = rows[_preamble(rows) :]
        if not rows or len(rows[0]) < 2:
            continue
        header, data = len(rows[0]), rows[1:-1] if len(rows) > 2 else rows[1:]
        share = float(np.mean([len(r) == header for r in data])) if data else 1.0
        score = (round(share, 2), header)
        if score > best_score:
            best, best_score = sep, score
    return best if best_score[0] >= 0.5 else None


def _lines(text: str) -> list[str]:
    """Physical lines, broken only at ``\n`` (or a lone ``\r``), as CSV readers do.

    ``str.splitlines`` would also break at U+2028, U+0085 and form feeds, which occur inside
    text fields copied from the web or Word.
    """
    end = "\n" if "\n" in text or "\r" not in text else "\r"
    parts = text.split(end)
    return [part + end for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _parse_text(path: Path, text: str, sep: str | None) -> SourceFile:
    lines = _lines(text)
    chosen = sep or sniff_separator(lines)
    if chosen is None:
        raise IngestError(
            f"{path}: cannot tell the column separator (tried comma, semicolon, tab, pipe "
            "and whitespace); pass --sep"
        )
    records, spans = _records(path, lines, chosen, 0)
    unclosed = set()  # span starts of records whose quote does not close their field
    i = 0
    while i < len(records):
        start, end = spans[i]
        if end - start > 1 and _misquoted(lines, spans[i], chosen):
            # A quote opened in this line does not close its field: csv read the next lines (up
            # to a later stray quote, or the end) into it. The line is one bad record; the lines
            # after it are read again.
            records[i] = next(csv.reader([lines[start]], delimiter=chosen))
            spans[i] = (start, start + 1)
            unclosed.add(start)
            records[i + 1 :], spans[i + 1 :] = _records(path, lines[start + 1 :], chosen, start + 1)
        i += 1
    if not records:
        raise IngestError(f"{path}: file is empty; expected a header and at least one row")
    notes = [f"separator {_sep_name(chosen)}" + ("" if sep else " (detected)")]
    title = _preamble(records)
    if title:
        notes.append(
            f"title skipped ({title} single-value lines before the header, such as "
            f"{next(f for f in records[0] if f.strip()).strip()!r})"
        )
        records, spans = records[title:], spans[title:]
    names = [_clean_header(h) for h in records[0]]
    header = _unique(names)
    body, body_spans = records[1:], spans[1:]
    footer = _footer(body, len(header)) if text.endswith(("\n", "\r")) else 0
    if footer:
        notes.append(
            f"footer skipped ({footer} lines after the last row: a report footer or totals "
            f"line such as {','.join(body[-footer])[:60]!r})"
        )
        body, body_spans = body[:-footer], body_spans[:-footer]
    if not body:
        raise IngestError(f"{path}: file has a header but no rows; expected at least one row")
    width = len(header)
    problems = np.full(len(body), None, dtype=object)
    rows = []
    for i, fields in enumerate(body):
        if len(fields) > width and not any(f.strip() for f in fields[width:]):
            fields = fields[:width]  # trailing empty fields (a spreadsheet artefact)
        row: list[str | None] = list(fields)
        if len(row) != width:
            problems[i] = FIELD_COUNT
            row = (row + [None] * width)[:width]
        if body_spans[i][0] in unclosed:
            problems[i] = UNCLOSED_QUOTE
        rows.append(row)
    if _cut_at_end(text, lines, body_spans[-1], chosen):
        problems[-1] = TRUNCATED
    frame = pd.DataFrame(rows, columns=header, dtype="string")
    for col in frame.columns:
        frame[col] = frame[col].str.strip().replace("", pd.NA)
    # a name the header holds more than once (read as name, name.1, ...): no column is taken by it
    frame.attrs[REPEATED] = sorted({n for n in names if n and names.count(n) > 1})
    starts = np.array([s + 1 for s, _ in body_spans], dtype="int64")
    return SourceFile(
        path,
        frame,
        problems,
        starts,
        sep=chosen,
        notes=notes,
        _raw_lines=lines,
        _record_spans=body_spans,
    )


def _records(
    path: Path, lines: list[str], sep: str, offset: int
) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """The non-blank records of ``lines`` and the span of physical lines of each (from
    ``offset``)."""
    records, spans = [], []
    reader = (
        _split(sep, lines)
        if sep == WHITESPACE
        else csv.reader(iter(lines), delimiter=sep, quotechar='"', doublequote=True)
    )
    csv.field_size_limit(1 << 30)
    consumed = 0
    try:
        for fields in reader:
            start = consumed
            consumed = consumed + 1 if sep == WHITESPACE else reader.line_num
            if fields and any(f.strip() for f in fields):
                records.append(fields)
                spans.append((offset + start, offset + consumed))
    except csv.Error as exc:
        raise IngestError(
            f"{path}: line {offset + consumed + 1}: not readable as CSV ({exc}); check --sep"
        ) from exc
    return records, spans


def _strict_error(lines: list[str], span: tuple[int, int], sep: str) -> str | None:
    """The error of a strict CSV reading of the record on ``lines[span]``, None when it reads
    cleanly (its quotes open and close fields as CSV says)."""
    if sep == WHITESPACE:
        return None
    try:
        for _ in csv.reader(iter(lines[span[0] : span[1]]), delimiter=sep, strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _misquoted(lines: list[str], span: tuple[int, int], sep: str) -> bool:
    """A record whose quote does not close its field: it never closes, or text follows it."""
    return _strict_error(lines, span, sep) is not None


def _unclosed(lines: list[str], span: tuple[int, int], sep: str) -> bool:
    """A record that ends inside a quoted field."""
    return "unexpected end of data" in (_strict_error(lines, span, sep) or "")


def _preamble(records: list[list[str]]) -> int:
    """Leading lines of one value each before a header of several (a sheet title saved with the
    data)."""
    n = 0
    while n < min(len(records) - 2, 5) and sum(1 for f in records[n] if f.strip()) == 1:
        n += 1
    header = records[n] if n < len(records) else []
    return n if n and sum(1 for f in header if f.strip()) >= 3 else 0


#: First cells of a report's totals line ("Total,,,1359123,,8471629.46"), lower case.
TOTALS_WORDS = frozenset(
    {"total", "totals", "grand total", "sum", "summe", "gesamt", "totaal", "合计", "总计"}
)


def _footer(body: list[list[str]], width: int) -> int:
    """Trailing lines of one value each (a report's totals/copyright footer, as Salesforce
    writes), or whose first cell is a totals word (a spreadsheet's totals row)."""
    if width < 3:
        return 0

    def is_footer(fields: list[str]) -> bool:
        if len(fields) < width and sum(1 for f in fields if f.strip()) == 1:
            return True
        return bool(fields) and fields[0].strip().rstrip(":").lower() in TOTALS_WORDS

    n = 0
    while n < len(body) - 1 and is_footer(body[-1 - n]):
        n += 1
    return n


def _cut_at_end(text: str, lines: list[str], span: tuple[int, int], sep: str) -> bool:
    """A file that stops without a line end, or inside a quoted field, lost the end of its last
    row (a literal ``"`` inside an unquoted field, ``27" monitor``, is no open quote)."""
    return not text.endswith(("\n", "\r")) or _unclosed(lines, span, sep)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _sep_name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", WHITESPACE: "whitespace"}.get(
        sep, repr(sep)
    )
